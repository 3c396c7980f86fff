//! Master housekeeping (reference §7.4), run by the Raft leader only: expired jobs are
//! undeployed and removed ([`expired_jobs`]), and hosts whose agent has been DOWN longer than
//! `--agent-reaping-timeout` are deregistered ([`dead_agents`]).
//!
//! Every change goes through the same Raft commands as the REST API (`Undeploy`, `RemoveJob`,
//! `DeregisterHost`), so it is replicated and idempotent: a new leader re-derives what is left
//! to do from the replicated state and finishes it, and a command whose work is already done
//! is answered `JobNotFound`/`HostNotFound` and changes nothing. Decisions are pure functions
//! of the state and a clock (unit-tested); the loops only read, decide and write.

pub mod dead_agents;
pub mod expired_jobs;

use std::time::{Duration, Instant};

use openraft::async_runtime::WatchReceiver;
use tokio::task::JoinHandle;

use crate::dispatcher::Dispatcher;
use crate::raft::types::Raft;

/// This member's current leadership: the term it leads in and since when.
#[derive(Debug, Default)]
struct Tenure {
    /// `(term, since)` while this member leads.
    current: Option<(u64, Instant)>,
}

impl Tenure {
    /// When this member's leadership began (as first noticed), or `None` when it does not
    /// lead. Leading in a new term, even after a loss unnoticed between two calls, starts a
    /// new tenure.
    fn leading_since(&mut self, raft: &Raft, id: u64, now: Instant) -> Option<Instant> {
        let m = raft.metrics().borrow_watched().clone();
        if m.current_leader != Some(id) {
            self.current = None;
            return None;
        }
        match self.current {
            Some((term, since)) if term == m.current_term => Some(since),
            _ => {
                self.current = Some((m.current_term, now));
                Some(now)
            }
        }
    }
}

/// Sleeps for `wait`; `false` when `stop` flipped (or its sender is gone) first.
async fn pause(wait: Duration, stop: &mut tokio::sync::watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        changed = stop.changed() => changed.is_ok() && !*stop.borrow(),
    }
}

/// Starts the housekeeping loops of this master; each acts only while it leads and ends when
/// `stop` flips. `agent_reaping_timeout` `None` disables the dead-agent reaper.
pub fn spawn(
    dispatcher: &Dispatcher,
    agent_reaping_timeout: Option<Duration>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let mut tasks = vec![tokio::spawn(expired_jobs::run(
        dispatcher.app().clone(),
        stop.clone(),
    ))];
    if let Some(timeout) = agent_reaping_timeout {
        tasks.push(tokio::spawn(dead_agents::run(
            dispatcher.clone(),
            timeout,
            stop,
        )));
    }
    tasks
}
