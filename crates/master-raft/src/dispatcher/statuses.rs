//! Batches task-status changes from every agent into few Raft writes: the batcher takes all
//! queued changes, writes them as one command, and while that write is in flight the next
//! batch accumulates (group commit), so a single change goes out at once and a burst from a
//! large fleet costs a handful of writes.

use tokio::sync::mpsc;
use tracing::warn;

use crate::node::Node;
use crate::state::{Command, StatusUpdate};

/// Most changes written in one command.
const MAX_BATCH: usize = 4096;

/// Runs until the channel closes.
pub async fn run_batcher(app: Node, mut rx: mpsc::Receiver<StatusUpdate>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let updates = std::mem::take(&mut batch);
        let n = updates.len();
        if let Err(e) = app.write(Command::ReportStatuses { updates }).await {
            // Leadership moved: the agents reconnect to the new leader and report their
            // current statuses again at the start of the new session.
            warn!(n, "dropping task statuses: {}", e);
        }
    }
}
