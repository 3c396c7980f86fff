//! `--history-limit`: how many task history events the cluster keeps per job and host. The
//! number is replicated (every member trims the same events), so the leader proposes its own
//! flag whenever the state holds another number: the limit is that of the latest leader.

use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::pause;
use crate::node::Node;
use crate::raft::tenure::Tenure;
use crate::state::Command;

/// How often the leader compares the state's limit with its flag.
const CHECK_PERIOD: Duration = Duration::from_secs(2);

/// Runs until `stop` flips: on the leader, sets the state's history limit to `limit`.
pub async fn run(app: Node, limit: u32, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tenure = Tenure::default();
    while pause(CHECK_PERIOD, &mut stop).await {
        if tenure
            .leading_since(&app.raft, app.id, Instant::now())
            .is_none()
        {
            continue;
        }
        let Ok(current) = app.read_local(|s| s.history_limit()) else {
            continue;
        };
        if current == limit as usize {
            continue;
        }
        match app.write(Command::SetHistoryLimit { limit }).await {
            Ok(_) => info!(from = current, to = limit, "task history limit set"),
            Err(e) => warn!("task history limit not set: {e}"),
        }
    }
}
