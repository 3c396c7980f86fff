//! Helios's OldJobReaper (`--job-retention`): a job deployed nowhere is removed once it has
//! been idle for the retention period: its last task event (history) is older than that, or,
//! without history, it was created longer ago (or its creation time is unknown). The job of a
//! deployment group is kept. Off by default, as in Helios.
//!
//! The removal is the same `RemoveJob` a user sends, with the job's token, so it is refused
//! (`StillInUse`) if the job was deployed meanwhile; the next scan looks again.

use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::pause;
use crate::node::Node;
use crate::raft::tenure::Tenure;
use crate::state::{Command, CommandResult, State};

/// How often the leader looks for old jobs: a tenth of the retention, within a second and an
/// hour (Helios looks once a day).
pub fn scan_period(retention: Duration) -> Duration {
    (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// The jobs to remove at `now_ms` with `retention`: deployed nowhere, not a deployment
/// group's job, idle (last history event, else creation) for longer than `retention`; with
/// their tokens, in id order.
pub fn old_jobs(state: &State, now_ms: i64, retention: Duration) -> Vec<(String, String)> {
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let cutoff = now_ms.saturating_sub(retention_ms);
    let group_jobs: std::collections::BTreeSet<String> = state
        .deployment_groups
        .values()
        .filter_map(|g| g.value.job_id.as_ref().map(|j| j.to_string()))
        .collect();
    state
        .jobs
        .iter()
        .filter(|(id, _)| !state.is_deployed(id) && !group_jobs.contains(*id))
        .filter(|(id, job)| {
            let last_event = state.history.get(*id).and_then(|hosts| {
                hosts
                    .values()
                    .filter_map(|events| events.back().map(|e| e.timestamp))
                    .max()
            });
            match last_event {
                Some(at) => at < cutoff,
                None => job
                    .value
                    .job()
                    .created
                    .is_none_or(|created| created < cutoff),
            }
        })
        .map(|(id, job)| (id.clone(), job.value.token().to_string()))
        .collect()
}

/// Runs until `stop` flips: on the leader, removes the old jobs every [`scan_period`].
pub async fn run(app: Node, retention: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tenure = Tenure::default();
    while pause(scan_period(retention), &mut stop).await {
        if tenure
            .leading_since(&app.raft, app.id, Instant::now())
            .is_none()
        {
            continue;
        }
        // Scanned on an O(1) copy: the scan decodes the jobs that never ran, and `apply` must
        // not wait for it.
        let Ok(state) = app.read_local(State::clone) else {
            continue;
        };
        let old = old_jobs(&state, app.clock.now_ms(), retention);
        for (id, token) in old {
            if *stop.borrow() {
                return;
            }
            let command = Command::RemoveJob {
                id: id.clone(),
                token,
            };
            match app.write(command).await {
                Ok(CommandResult::Ok) => info!(job = %id, "removed a job idle for --job-retention"),
                Ok(CommandResult::JobNotFound) => debug!(job = %id, "old job already removed"),
                Ok(CommandResult::StillInUse) => debug!(job = %id, "old job deployed again"),
                Ok(other) => warn!(job = %id, "old job not removed: {other:?}"),
                Err(e) => {
                    warn!(job = %id, "old job not removed: {e}");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use helios_api::{Goal, Job, JobId, State as TaskState, TaskStatus};

    use super::*;
    use crate::state::StoredEvent;

    const DAY: i64 = 86_400_000;

    fn create(name: &str, created: Option<i64>) -> Command {
        let job = Job {
            id: Some(JobId::new(name, "1")),
            image: Some("busybox".into()),
            created,
            ..Default::default()
        };
        Command::CreateJob { job: job.into() }
    }

    /// `ancient` (created long ago) and `unknown` (no creation time) are idle; `fresh` was
    /// created within the retention and `busy` had a task event within it.
    #[test]
    fn idle_undeployed_jobs_older_than_the_retention_are_chosen() {
        let mut s = State::default();
        for (index, c) in [
            create("ancient", Some(0)),
            create("unknown", None),
            create("fresh", Some(9 * DAY)),
            create("busy", Some(0)),
        ]
        .into_iter()
        .enumerate()
        {
            s.apply_owned(index as u64 + 1, c);
        }
        let full = |s: &State, name: &str| {
            s.jobs
                .keys()
                .find(|k| k.starts_with(&format!("{name}:")))
                .cloned()
                .unwrap()
        };
        let busy = full(&s, "busy");
        let status = TaskStatus::new(Job::default(), Goal::Start, TaskState::Exited);
        s.history
            .entry(busy)
            .or_default()
            .entry("h1".into())
            .or_default()
            .push_back(StoredEvent {
                status: status.into(),
                timestamp: 9 * DAY,
            });
        let week = Duration::from_secs(7 * 86_400);
        let chosen: Vec<String> = old_jobs(&s, 10 * DAY, week)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(chosen, [full(&s, "ancient"), full(&s, "unknown")]);
        assert_eq!(scan_period(week), Duration::from_secs(3600));
        assert_eq!(scan_period(Duration::from_secs(5)), Duration::from_secs(1));
    }
}
