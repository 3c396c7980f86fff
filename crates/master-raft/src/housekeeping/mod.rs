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

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::dispatcher::Dispatcher;

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
    let app = dispatcher.app();
    let mut tasks = vec![
        app.tasks
            .spawn(expired_jobs::run(dispatcher.app().clone(), stop.clone())),
    ];
    if let Some(timeout) = agent_reaping_timeout {
        tasks.push(
            app.tasks
                .spawn(dead_agents::run(dispatcher.clone(), timeout, stop)),
        );
    }
    tasks
}
