//! The rollout engine: on the leader, proposes the next step of each rolling update as soon
//! as the step can run (reference §5.3).
//!
//! Steps are decided in `apply` (`state::rollouts`); steps that change deployments run in
//! the same command that made them current, so the engine only wakes rollouts that wait on
//! `AWAIT_RUNNING` or `AWAIT_UNDEPLOYED`. It is event-driven: after every applied change
//! (a task status reported, a host registered) it asks the state which waiting steps could
//! advance now and proposes [`Command::AdvanceRollout`] for those; a timer is kept only for
//! the earliest step timeout. Helios instead polled every group every second on every master
//! and let ZooKeeper versions pick a winner; here a step names its run and index, so a step
//! proposed twice (by a leader that lost its lease and its successor) applies once.

use std::time::Duration;

use tracing::debug;

use crate::node::{Node, NodeError};
use crate::state::{Command, CommandResult, RolloutWakeup};

/// Pause after a failed proposal before looking again (the leader may be changing).
const RETRY_AFTER_ERROR: Duration = Duration::from_millis(200);

/// Runs until the master stops: while this member leads, proposes every rollout step that
/// can advance, then waits for the next applied change, leader change or step timeout.
pub async fn run(node: Node) {
    let mut applied = node.applied.clone();
    let mut leader = node.leader.clone();
    let mut stop = node.stop.clone();
    loop {
        if *stop.borrow() || node.fatal().is_some() {
            return;
        }
        let mut wait = None;
        if node.leads() {
            match advance_due(&node).await {
                Ok(next_deadline) => wait = next_deadline,
                Err(e) => {
                    debug!(error = %e, "rollout step not proposed; retrying");
                    wait = Some(RETRY_AFTER_ERROR);
                }
            }
        }
        let timeout = async {
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = applied.changed() => if changed.is_err() { return },
            changed = leader.changed() => if changed.is_err() { return },
            changed = stop.changed() => if changed.is_err() { return },
            () = timeout => {}
        }
    }
}

/// Proposes the due steps; returns how long until the earliest step timeout among the
/// rollouts that still wait.
async fn advance_due(node: &Node) -> Result<Option<Duration>, NodeError> {
    let now_ms = node.clock.now_ms();
    let wakeups = node.read_local(|s| s.rollout_wakeups(now_ms))?;
    for wakeup in wakeups.iter().filter(|w| w.due) {
        let command = advance(node, wakeup, now_ms);
        match node.write(command).await? {
            CommandResult::Ok => {
                node.metrics.rollout_steps.inc();
            }
            // Someone else's proposal ran the step first: nothing to do.
            CommandResult::RolloutStale => {}
            other => debug!(group = %wakeup.group, ?other, "unexpected rollout step result"),
        }
    }
    let earliest = wakeups
        .iter()
        .filter(|w| !w.due)
        .map(|w| w.deadline_ms)
        .min();
    Ok(earliest.map(|deadline| {
        let ms = deadline.saturating_sub(node.clock.now_ms()).max(0);
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }))
}

fn advance(node: &Node, wakeup: &RolloutWakeup, now_ms: i64) -> Command {
    Command::AdvanceRollout {
        name: wakeup.group.clone(),
        run: wakeup.run,
        task_index: wakeup.task_index,
        master: node.name.clone(),
        now_ms,
    }
}
