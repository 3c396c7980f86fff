//! Who leads, as a channel of its own.
//!
//! openraft's metrics change on every appended, committed and applied entry, so a task waiting
//! on them for a change of leader wakes thousands of times a second under load; with hundreds
//! of requests in flight each waiting so, that cost dominated the write path. [`watch_leader`]
//! turns them into a channel that changes only when the leader does.

use openraft::async_runtime::WatchReceiver;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use super::types::Raft;

/// A channel of this member's view of the leader's id, updated by a task (on `tasks`) that
/// ends with the Raft core (or when every receiver is gone). Must be called inside a tokio
/// runtime.
pub fn watch_leader(raft: &Raft, tasks: &TaskTracker) -> watch::Receiver<Option<u64>> {
    let mut metrics = raft.metrics();
    let (tx, rx) = watch::channel(metrics.borrow_watched().current_leader);
    tasks.spawn(async move {
        loop {
            let leader = metrics.borrow_watched().current_leader;
            tx.send_if_modified(|known| {
                let changed = *known != leader;
                *known = leader;
                changed
            });
            tokio::select! {
                changed = metrics.changed() => if changed.is_err() { break },
                () = tx.closed() => break,
            }
        }
    });
    rx
}
