//! `helios watch JOB [HOSTPREFIX...]` and `deploy --watch`: poll job
//! statuses every interval and print one line per job and host.
//!
//! The output is Helios's: `Control-C to stop`, a header, then every round a
//! dashed separator stamped with the UTC time and `%-20s %-30s %-8s %s`
//! lines (job short id, host, state, throttle state). Without `--exact` the
//! hosts with a status whose name starts with one of the prefixes are shown
//! (all without prefixes); with `--exact` exactly the given hosts, `UNKNOWN`
//! when they have no status. With several clusters, each round shows each
//! cluster after a `--- <name> (<endpoints>)` line.
//!
//! `watch` runs until stdout closes (exit 0). `deploy --watch` stops once
//! every host reports the goal's state (RUNNING, or STOPPED for
//! `--no-start`; exit 0) or one reports FAILED (exit 1).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::Utc;
use helios_api::{Goal, JobId, JobStatus, State};

use super::Context;
use super::status::by_job_id;
use crate::args::WatchArgs;
use crate::client::HeliosClient;
use crate::output::responses::java_list;
use crate::output::tasks;
use crate::target::Target;

/// A cluster to watch and the line that introduces it (only with several).
pub struct Watched<'a> {
    /// The cluster's client.
    pub client: &'a HeliosClient,
    /// `--- <name> (<endpoints>)` without the dashes, when there are several
    /// clusters.
    pub header: Option<String>,
}

/// What to show each round.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The jobs, in id order.
    pub jobs: Vec<JobId>,
    /// Host prefixes (or exact names with `exact`).
    pub hosts: Vec<String>,
    /// Show exactly `hosts`.
    pub exact: bool,
}

/// `helios watch`: watches every job whose id contains JOB on every target.
pub async fn run(
    args: &WatchArgs,
    targets: &[(Target, HeliosClient)],
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let mut jobs = BTreeSet::new();
    for (_, client) in targets {
        for (key, job) in client.jobs(Some(&args.job)).await? {
            if let Some(id) = JobId::parse_json_form(&key).ok().or(job.id) {
                jobs.insert(id);
            }
        }
    }
    let watched: Vec<Watched<'_>> = targets
        .iter()
        .map(|(target, client)| Watched {
            client,
            header: (targets.len() > 1).then(|| {
                let endpoints: Vec<&str> = target.endpoints.iter().map(|u| u.as_str()).collect();
                format!("{} ({})", target.name, java_list(&endpoints))
            }),
        })
        .collect();
    let selection = Selection {
        jobs: jobs.into_iter().collect(),
        hosts: args.hosts.clone(),
        exact: args.exact,
    };
    let interval = Duration::from_secs(args.interval);
    watch(ctx, &watched, &selection, interval, |_| None).await
}

/// `deploy --watch`: watches `job` on exactly `hosts` until
/// [`deploy_outcome`] decides.
pub async fn until_deployed(
    client: &HeliosClient,
    ctx: &mut Context<'_>,
    job: &JobId,
    goal: Goal,
    hosts: &[String],
    interval: Duration,
) -> anyhow::Result<i32> {
    let watched = [Watched {
        client,
        header: None,
    }];
    let selection = Selection {
        jobs: vec![job.clone()],
        hosts: hosts.to_vec(),
        exact: true,
    };
    watch(ctx, &watched, &selection, interval, |rounds| {
        deploy_outcome(rounds.first().and_then(|s| s.get(job)), hosts, goal)
    })
    .await
}

/// The watch loop. After each round `done` sees the statuses of every
/// cluster and may end the loop with an exit code. A write error on stdout
/// (closed pipe) ends it with 0, as in Helios; a failed request is an error.
pub async fn watch(
    ctx: &mut Context<'_>,
    clusters: &[Watched<'_>],
    selection: &Selection,
    interval: Duration,
    mut done: impl FnMut(&[BTreeMap<JobId, JobStatus>]) -> Option<i32>,
) -> anyhow::Result<i32> {
    if print(ctx, tasks::WATCH_HEADER).is_err() {
        return Ok(0);
    }
    loop {
        if print(ctx, &tasks::watch_separator(Utc::now())).is_err() {
            return Ok(0);
        }
        let mut rounds = Vec::with_capacity(clusters.len());
        for cluster in clusters {
            let statuses = by_job_id(cluster.client.job_statuses(&selection.jobs).await?);
            let mut text = String::new();
            if let Some(header) = &cluster.header {
                text.push_str(&format!("--- {header}\n"));
            }
            text.push_str(&report(&statuses, selection));
            if print(ctx, &text).is_err() {
                return Ok(0);
            }
            rounds.push(statuses);
        }
        if let Some(code) = done(&rounds) {
            return Ok(code);
        }
        tokio::time::sleep(interval).await;
    }
}

/// Writes `text` and flushes it; the watch loops end with exit 0 when this fails (stdout
/// closed).
pub fn print(ctx: &mut Context<'_>, text: &str) -> std::io::Result<()> {
    ctx.out.write_all(text.as_bytes())?;
    ctx.out.flush()
}

/// One cluster's lines for a round.
pub fn report(statuses: &BTreeMap<JobId, JobStatus>, selection: &Selection) -> String {
    let mut out = String::new();
    for job in &selection.jobs {
        let Some(status) = statuses.get(job) else {
            continue;
        };
        if selection.exact {
            for host in &selection.hosts {
                out.push_str(&tasks::watch_line(
                    job,
                    host,
                    status.task_statuses.get(host),
                ));
            }
        } else {
            for (host, task) in &status.task_statuses {
                let shown = selection.hosts.is_empty()
                    || selection.hosts.iter().any(|p| host.starts_with(p.as_str()));
                if shown {
                    out.push_str(&tasks::watch_line(job, host, Some(task)));
                }
            }
        }
    }
    out
}

/// Whether a deployment with `goal` on `hosts` is over: `Some(1)` once a host
/// reports FAILED, `Some(0)` once every host reports the goal's state
/// (RUNNING for START, STOPPED for STOP), else `None`.
pub fn deploy_outcome(status: Option<&JobStatus>, hosts: &[String], goal: Goal) -> Option<i32> {
    let status = status?;
    let states: Vec<Option<State>> = hosts
        .iter()
        .map(|h| status.task_statuses.get(h).map(|t| t.state))
        .collect();
    if states.contains(&Some(State::Failed)) {
        return Some(1);
    }
    let wanted = if goal == Goal::Stop {
        State::Stopped
    } else {
        State::Running
    };
    states.iter().all(|s| *s == Some(wanted)).then_some(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use helios_api::{Job, TaskStatus, ThrottleState};

    fn status(id: &JobId, reported: &[(&str, State)]) -> JobStatus {
        let job = Job::new(id.clone(), "busybox");
        JobStatus {
            deployments: BTreeMap::new(),
            task_statuses: reported
                .iter()
                .map(|(h, s)| (h.to_string(), TaskStatus::new(job.clone(), Goal::Start, *s)))
                .collect(),
            job,
        }
    }

    fn hosts(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn prefixes_and_exact_hosts() {
        let a = JobId::full("a", "1", "1234567890");
        let b = JobId::full("b", "1", "abcdefabcd");
        let statuses: BTreeMap<JobId, JobStatus> = [
            (
                a.clone(),
                status(&a, &[("web1", State::Running), ("db1", State::Starting)]),
            ),
            (b.clone(), status(&b, &[("web2", State::Exited)])),
        ]
        .into();
        let mut selection = Selection {
            jobs: vec![a.clone(), b.clone(), JobId::full("gone", "1", "x")],
            hosts: hosts(&["web"]),
            exact: false,
        };
        assert_eq!(
            report(&statuses, &selection),
            "a:1:1234567          web1                           RUNNING  NO\n\
             b:1:abcdefa          web2                           EXITED   NO\n"
        );
        selection.hosts.clear();
        assert_eq!(report(&statuses, &selection).lines().count(), 3);
        selection.hosts = hosts(&["web1", "web9"]);
        selection.exact = true;
        selection.jobs = vec![a];
        assert_eq!(
            report(&statuses, &selection),
            "a:1:1234567          web1                           RUNNING  NO\n\
             a:1:1234567          web9                           UNKNOWN  UNKNOWN\n"
        );
    }

    #[test]
    fn deploy_watch_ends_on_running_everywhere_or_any_failure() {
        let id = JobId::full("a", "1", "1234567890");
        let two = hosts(&["h1", "h2"]);
        assert_eq!(deploy_outcome(None, &two, Goal::Start), None);
        let partial = status(&id, &[("h1", State::Running), ("h2", State::PullingImage)]);
        assert_eq!(deploy_outcome(Some(&partial), &two, Goal::Start), None);
        let missing = status(&id, &[("h1", State::Running)]);
        assert_eq!(deploy_outcome(Some(&missing), &two, Goal::Start), None);
        let done = status(&id, &[("h1", State::Running), ("h2", State::Running)]);
        assert_eq!(deploy_outcome(Some(&done), &two, Goal::Start), Some(0));
        let mut failed = status(&id, &[("h1", State::Running), ("h2", State::Failed)]);
        assert_eq!(deploy_outcome(Some(&failed), &two, Goal::Start), Some(1));
        if let Some(t) = failed.task_statuses.get_mut("h2") {
            t.throttled = ThrottleState::ImageMissing;
        }
        assert_eq!(deploy_outcome(Some(&failed), &two, Goal::Start), Some(1));
        let stopped = status(&id, &[("h1", State::Stopped), ("h2", State::Stopped)]);
        assert_eq!(deploy_outcome(Some(&stopped), &two, Goal::Stop), Some(0));
        assert_eq!(deploy_outcome(Some(&stopped), &two, Goal::Start), None);
    }
}
