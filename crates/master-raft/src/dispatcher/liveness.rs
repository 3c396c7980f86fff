//! Marks hosts DOWN when their agents stop sending heartbeats: after 3 missed periods. A new
//! leader has no heartbeats yet, so it gives every host twice that grace before judging, and
//! a leader change never flaps a healthy fleet.

use std::time::{Duration, Instant};

use tracing::info;

use super::Dispatcher;
use crate::raft::tenure::Tenure;
use crate::state::Command;

/// How long without a heartbeat before a host is DOWN: 3 periods of `heartbeat_ms`.
pub fn down_after(heartbeat_ms: u32) -> Duration {
    Duration::from_millis(heartbeat_ms as u64) * 3
}

/// How long a new leader waits before it judges a host it has not heard from: twice
/// [`down_after`], so agents have time to find it.
pub fn leader_grace(heartbeat_ms: u32) -> Duration {
    down_after(heartbeat_ms) * 2
}

/// Runs until `stop` flips.
pub async fn run(dispatcher: Dispatcher, mut stop: tokio::sync::watch::Receiver<bool>) {
    let app = dispatcher.app().clone();
    let period = Duration::from_millis(dispatcher.heartbeat_ms() as u64);
    let timeout = down_after(dispatcher.heartbeat_ms());
    let grace = leader_grace(dispatcher.heartbeat_ms());
    let mut tenure = Tenure::default();
    let tick = (period / 2).clamp(Duration::from_millis(50), Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.changed() => return,
        }
        // A new term (even one lost and regained between two ticks) starts a new grace.
        let Some(since) = tenure.leading_since(&app.raft, app.id, Instant::now()) else {
            continue;
        };
        let live = dispatcher.live();
        let now = Instant::now();
        let up_hosts: Vec<String> = match app.read_local(|s| {
            s.hosts
                .iter()
                .filter(|(_, h)| h.up)
                .map(|(n, _)| n.clone())
                .collect::<Vec<_>>()
        }) {
            Ok(h) => h,
            Err(_) => continue,
        };
        let down: Vec<String> = up_hosts
            .into_iter()
            .filter(|name| match live.get(name) {
                Some(l) if l.last_seen >= since => now.duration_since(l.last_seen) > timeout,
                _ => now.duration_since(since) > grace,
            })
            .collect();
        if !down.is_empty() {
            info!(?down, "agents missed their heartbeats: hosts DOWN");
            let now_ms = app.clock.now_ms();
            let _ = app
                .write(Command::HostsDown {
                    names: down,
                    now_ms,
                })
                .await;
        }
    }
}
