//! Batches task-status changes from every agent into few Raft writes: the batcher takes all
//! queued changes, writes them as one command, and while that write is in flight the next
//! batch accumulates (group commit), so a single change goes out at once and a burst from a
//! large fleet costs a handful of writes.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::node::{Node, NodeError};
use crate::state::{Command, StatusUpdate};

/// Most changes written in one command.
const MAX_BATCH: usize = 4096;

/// How long a batch is retried while this master still leads (or no other master does).
const RETRY_FOR: Duration = Duration::from_secs(30);

/// Pause between two attempts at one batch.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Runs until the channel closes.
pub async fn run_batcher(app: Node, mut rx: mpsc::Receiver<StatusUpdate>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let updates = std::mem::take(&mut batch);
        write_batch(&app, updates).await;
    }
}

/// Writes one batch. A leader under heavy load may refuse writes for a moment while its
/// quorum lease has run out; its agents' sessions go on and will not report these statuses
/// again, so the batch is retried as long as this master leads or no other master does.
/// Once another master leads, the batch is dropped: every session here then ends with a
/// Redirect, and the agents report their current statuses again to the new leader.
async fn write_batch(app: &Node, updates: Vec<StatusUpdate>) {
    let n = updates.len();
    let deadline = Instant::now() + RETRY_FOR;
    let mut retries = 0u32;
    loop {
        let error = match app
            .write(Command::ReportStatuses {
                updates: updates.clone(),
            })
            .await
        {
            Ok(_) => {
                app.metrics.status_reports_applied.inc_by(n as u64);
                if retries > 0 {
                    info!(n, retries, "task statuses written after retries");
                }
                return;
            }
            Err(e) => e,
        };
        // Only a write that surely was not proposed is tried again (a retried status would
        // otherwise add its history event twice).
        let not_proposed = matches!(error, NodeError::NotLeader { .. });
        let elsewhere = app.leader().is_some_and(|(id, _)| id != app.id);
        if !not_proposed || elsewhere || Instant::now() >= deadline {
            warn!(n, retries, "dropping task statuses: {error}");
            return;
        }
        retries += 1;
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}
