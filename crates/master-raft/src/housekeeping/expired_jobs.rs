//! Helios's ExpiredJobReaper: a job whose `expires` is at or before now is undeployed from
//! every host (with the job's own token) and then removed, as a user would with
//! `DELETE /hosts/{host}/jobs/{job}` and `DELETE /jobs/{job}`. Agents see the deployment go
//! and stop the container with `docker stop` (SIGTERM, then SIGKILL after
//! `secondsToWaitBeforeKill`).
//!
//! The leader scans every [`SCAN_PERIOD`] (Helios: every 30 s), so a job is gone well within
//! 30 s of its expiry. What is left to do is derived from the replicated state at each scan,
//! so a new leader finishes a reaping its predecessor began, and a step already done is a
//! no-op (`JobNotFound`).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tracing::{debug, info, warn};

use super::pause;
use crate::node::Node;
use crate::raft::tenure::Tenure;
use crate::state::{Command, CommandResult, State};

/// How often the leader looks for expired jobs.
pub const SCAN_PERIOD: Duration = Duration::from_secs(5);

/// A job past its `expires`, with what is left to reap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// Full job id.
    pub id: String,
    /// The job's token, which its undeploy and removal need.
    pub token: String,
    /// When it expired.
    pub expires: DateTime<Utc>,
    /// The hosts it is still deployed on, in name order.
    pub hosts: Vec<String>,
}

impl Expired {
    /// The commands that reap the job: one `Undeploy` per host, then `RemoveJob`.
    pub fn commands(&self) -> Vec<Command> {
        let undeploys = self.hosts.iter().map(|host| Command::Undeploy {
            host: host.clone(),
            job: self.id.clone(),
            token: self.token.clone(),
        });
        undeploys
            .chain(std::iter::once(Command::RemoveJob {
                id: self.id.clone(),
                token: self.token.clone(),
            }))
            .collect()
    }
}

/// The jobs whose `expires` is at or before `now`, in id order.
pub fn expired_at(state: &State, now: DateTime<Utc>) -> Vec<Expired> {
    state
        .jobs
        .iter()
        .filter_map(|(id, job)| {
            let expires = job.value.expires().filter(|e| *e <= now)?;
            let hosts = state
                .deployments
                .iter()
                .filter(|(_, jobs)| jobs.contains_key(id))
                .map(|(host, _)| host.clone())
                .collect();
            Some(Expired {
                id: id.clone(),
                token: job.value.token().to_string(),
                expires,
                hosts,
            })
        })
        .collect()
}

/// Proposes the commands of one expired job in order; stops at the first write error (not
/// leading any more, no quorum): the next scan, here or on the new leader, resumes.
async fn reap(app: &Node, job: &Expired) {
    info!(job = %job.id, expires = %job.expires, hosts = ?job.hosts, "reaping expired job");
    for command in job.commands() {
        let what = command.to_string();
        match app.write(command).await {
            Ok(CommandResult::Ok) => info!("expired job: {what} done"),
            // Done already (by a previous leader, or a user): nothing to do.
            Ok(CommandResult::JobNotFound | CommandResult::HostNotFound) => {
                debug!(job = %job.id, "expired job: {what} was already done")
            }
            // Deployed again meanwhile: the next scan undeploys it again.
            Ok(CommandResult::StillInUse) => {
                info!(job = %job.id, "expired job is deployed again; retrying at the next scan")
            }
            Ok(other) => warn!(job = %job.id, "expired job: {what} refused: {other:?}"),
            Err(e) => {
                warn!(job = %job.id, "expired job: {what} not committed: {}", e);
                return;
            }
        }
    }
}

/// Runs until `stop` flips: on the leader, reaps the expired jobs every [`SCAN_PERIOD`].
pub async fn run(app: Node, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tenure = Tenure::default();
    while pause(SCAN_PERIOD, &mut stop).await {
        if tenure
            .leading_since(&app.raft, app.id, Instant::now())
            .is_none()
        {
            continue;
        }
        let Ok(expired) = app.read_local(|s| expired_at(s, app.clock.now())) else {
            continue;
        };
        for job in &expired {
            if *stop.borrow() {
                return;
            }
            reap(&app, job).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use helios_api::{Deployment, Goal, Job, JobId, PortMapping};

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn job(name: &str, expires: Option<&str>, token: &str) -> Job {
        // Only `old` reserves a static port, so the others can share its hosts.
        let mut ports = BTreeMap::new();
        if name == "old" {
            ports.insert(
                "p".to_string(),
                serde_json::from_value::<PortMapping>(
                    serde_json::json!({"internalPort": 80, "externalPort": 8000}),
                )
                .unwrap(),
            );
        }
        Job {
            id: Some(JobId::new(name, "1")),
            image: Some("busybox".into()),
            token: token.into(),
            expires: expires.map(at),
            ports,
            ..Default::default()
        }
    }

    /// Two hosts; `old` (expired at noon, token `t`) deployed on both, `new` (expires at one)
    /// and `forever` (no `expires`) deployed on `h1`.
    fn state() -> State {
        let mut s = State::default();
        let mut index = 0;
        let mut apply = |s: &mut State, c: Command| {
            index += 1;
            s.apply(index, &c)
        };
        for j in [
            job("old", Some("2030-01-01T12:00:00Z"), "t"),
            job("new", Some("2030-01-01T13:00:00Z"), ""),
            job("forever", None, ""),
        ] {
            apply(&mut s, Command::CreateJob { job: j.into() });
        }
        for host in ["h1", "h2"] {
            apply(
                &mut s,
                Command::RegisterHost {
                    name: host.into(),
                    id: format!("{host}-id"),
                    now_ms: 0,
                },
            );
        }
        for (job, host, token) in [("old", "h1", "t"), ("old", "h2", "t"), ("new", "h1", "")] {
            let r = apply(
                &mut s,
                Command::Deploy {
                    host: host.into(),
                    deployment: Deployment {
                        deployer_master: None,
                        deployer_user: None,
                        deployment_group_name: None,
                        goal: Goal::Start,
                        job_id: JobId::new(job, "1"),
                    },
                    token: token.into(),
                },
            );
            assert_eq!(r, CommandResult::Ok, "deploy {job} on {host}");
        }
        s
    }

    #[test]
    fn expired_at_an_instant() {
        let s = state();
        assert!(expired_at(&s, at("2030-01-01T11:59:59.999Z")).is_empty());
        let noon = expired_at(&s, at("2030-01-01T12:00:00Z"));
        assert_eq!(
            noon,
            vec![Expired {
                id: "old:1".into(),
                token: "t".into(),
                expires: at("2030-01-01T12:00:00Z"),
                hosts: vec!["h1".into(), "h2".into()],
            }]
        );
        let later: Vec<String> = expired_at(&s, at("2031-01-01T00:00:00Z"))
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(
            later,
            ["new:1", "old:1"],
            "a job without expires never expires"
        );
    }

    #[test]
    fn reaping_undeploys_everywhere_then_removes_and_is_idempotent() {
        let mut s = state();
        let now = at("2030-01-01T12:00:30Z");
        let plan = expired_at(&s, now).remove(0).commands();
        assert_eq!(plan.len(), 3, "{plan:?}");
        let results: Vec<CommandResult> = plan.iter().map(|c| s.apply(100, c)).collect();
        assert_eq!(results, vec![CommandResult::Ok; 3]);
        assert!(!s.jobs.contains_key("old:1"));
        assert!(!s.is_deployed("old:1"));
        assert!(!s.job_refs.contains_key("old:1"));
        assert!(!s.ports.contains_key("h2"), "static port released");
        assert!(s.is_deployed("new:1"), "other jobs untouched");
        assert!(expired_at(&s, now).is_empty());
        // Proposed again (say by a leader that read the state before): changes nothing.
        let jobs = s.jobs.len();
        let again: Vec<CommandResult> = plan.iter().map(|c| s.apply(101, c)).collect();
        assert_eq!(again, vec![CommandResult::JobNotFound; 3]);
        assert_eq!(s.jobs.len(), jobs);
    }

    #[test]
    fn a_new_leader_finishes_a_reaping_begun_by_the_old_one() {
        let mut s = state();
        let now = at("2030-01-01T12:00:30Z");
        let first = expired_at(&s, now).remove(0).commands();
        // The old leader undeployed from h1, then lost leadership.
        assert_eq!(s.apply(100, &first[0]), CommandResult::Ok);
        let rest = expired_at(&s, now);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].hosts, ["h2"], "only what is left");
        for c in rest[0].commands() {
            assert_eq!(s.apply(101, &c), CommandResult::Ok, "{c}");
        }
        assert!(!s.jobs.contains_key("old:1"));
        assert!(expired_at(&s, now).is_empty());
    }
}
