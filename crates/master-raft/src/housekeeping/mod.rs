//! Master housekeeping (reference §7.4), run by the Raft leader only: expired jobs are
//! undeployed and removed ([`expired_jobs`]), hosts whose agent has been DOWN longer than
//! `--agent-reaping-timeout` are deregistered ([`dead_agents`]), jobs deployed nowhere and idle
//! longer than `--job-retention` are removed ([`old_jobs`]), and the task history kept per job
//! and host follows `--history-limit` ([`history_limit`]). Helios's JobHistoryReaper has no
//! counterpart: removing a job removes its history here.
//!
//! Every change goes through the same Raft commands as the REST API (`Undeploy`, `RemoveJob`,
//! `DeregisterHost`), so it is replicated and idempotent: a new leader re-derives what is left
//! to do from the replicated state and finishes it, and a command whose work is already done
//! is answered `JobNotFound`/`HostNotFound` and changes nothing. Decisions are pure functions
//! of the state and a clock (unit-tested); the loops only read, decide and write.

pub mod dead_agents;
pub mod expired_jobs;
pub mod history_limit;
pub mod old_jobs;

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

/// What the housekeeping loops are told by the master's flags.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// `--agent-reaping-timeout`; `None` disables the dead-agent reaper.
    pub agent_reaping_timeout: Option<Duration>,
    /// `--job-retention`; `None` disables the old-job reaper.
    pub job_retention: Option<Duration>,
    /// `--history-limit`.
    pub history_limit: u32,
}

/// Starts the housekeeping loops of this master; each acts only while it leads and ends when
/// `stop` flips.
pub fn spawn(
    dispatcher: &Dispatcher,
    settings: Settings,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let app = dispatcher.app();
    let mut tasks = vec![
        app.tasks
            .spawn(expired_jobs::run(dispatcher.app().clone(), stop.clone())),
        app.tasks.spawn(history_limit::run(
            app.clone(),
            settings.history_limit,
            stop.clone(),
        )),
    ];
    if let Some(retention) = settings.job_retention {
        tasks.push(
            app.tasks
                .spawn(old_jobs::run(app.clone(), retention, stop.clone())),
        );
    }
    if let Some(timeout) = settings.agent_reaping_timeout {
        tasks.push(
            app.tasks
                .spawn(dead_agents::run(dispatcher.clone(), timeout, stop)),
        );
    }
    tasks
}
