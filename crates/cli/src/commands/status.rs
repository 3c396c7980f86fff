//! `helios status [-j JOB] [--host PATTERN] [-f]`: the status of jobs on the
//! hosts they are deployed on.
//!
//! Jobs come from `GET /jobs?q=<job>&hostPattern=<pattern>` (the master keeps
//! jobs deployed on a host the pattern finds), their statuses from
//! `POST /jobs/statuses`. The pattern is a regex *find*, applied again here
//! to each job's hosts. A row is a (job, host) pair with a deployment or a
//! reported task status; a deployment without a status has an empty STATE.
//!
//! Like Helios: without `-j` and `--host` a WARNING precedes the table on the
//! same line; a job filter matching nothing prints
//! `job id matcher "<j>" matched no jobs` (`{ }` with `--json`); when no host
//! matched at all (including an empty cluster) it prints the "no jobs
//! deployed to hosts with the host pattern" hint; both exit 1.

use std::collections::{BTreeMap, BTreeSet};

use helios_api::{JobId, JobStatus};
use regex::Regex;

use super::Context;
use super::job_ref::jobs_by_id;
use crate::args::StatusArgs;
use crate::client::HeliosClient;
use crate::output::tasks::{self, StatusRow};
use crate::output::{hostname, json};

/// Printed (without a newline) when neither `--job` nor `--host` is given.
pub const SLOW_WARNING: &str = "WARNING: listing status of all hosts in the cluster is a slow operation. Consider adding the --job and/or --host flag(s)!";

/// A job and those of its hosts that the host pattern finds.
#[derive(Debug)]
pub struct Matched<'a> {
    /// The job.
    pub job: &'a JobId,
    /// Its status.
    pub status: &'a JobStatus,
    /// Hosts with a deployment or a task status, sorted, that the pattern
    /// finds.
    pub hosts: Vec<&'a str>,
}

/// Runs the command.
pub async fn run(
    args: &StatusArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let job = args.job.as_deref().unwrap_or_default();
    let host = args.host.as_str();
    if job.is_empty() && host.is_empty() && !ctx.json {
        write!(ctx.out, "{SLOW_WARNING}")?;
    }
    let pattern = if host.is_empty() {
        None
    } else {
        Some(Regex::new(host).map_err(|e| anyhow::anyhow!("Invalid host pattern '{host}': {e}"))?)
    };
    let ids: Vec<JobId> = jobs_by_id(client.jobs_on_hosts(job, host).await?)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    if !job.is_empty() && ids.is_empty() {
        if ctx.json {
            writeln!(ctx.out, "{}", json::pretty(&serde_json::json!({})))?;
        } else {
            writeln!(ctx.out, "job id matcher \"{job}\" matched no jobs")?;
        }
        return Ok(1);
    }
    let statuses = by_job_id(client.job_statuses(&ids).await?);
    let (matched, no_host_matched) = select(&statuses, &ids, pattern.as_ref());
    if ctx.json {
        let shown = if pattern.is_none() {
            statuses
        } else {
            filtered(&matched)
        };
        let map: serde_json::Map<String, serde_json::Value> = shown
            .iter()
            .map(|(id, status)| (id.to_string(), json::to_value(status)))
            .collect();
        writeln!(ctx.out, "{}", json::pretty(&serde_json::Value::Object(map)))?;
        return Ok(0);
    }
    if no_host_matched {
        writeln!(
            ctx.out,
            "There are no jobs deployed to hosts with the host pattern '{host}'"
        )?;
        // Helios puts `-d <domains>` between the two spaces when given.
        writeln!(
            ctx.out,
            "Run 'helios  hosts {host}' to check your host exists and is up."
        )?;
        return Ok(1);
    }
    let search = hostname::search_domains_unless_full(args.full);
    write!(ctx.out, "{}", render(&matched, args.full, &search))?;
    Ok(0)
}

/// Re-keys a statuses answer by job id, skipping keys that are not ids.
pub fn by_job_id(statuses: BTreeMap<String, JobStatus>) -> BTreeMap<JobId, JobStatus> {
    statuses
        .into_iter()
        .filter_map(|(key, status)| {
            let id = JobId::parse_json_form(&key)
                .ok()
                .or_else(|| status.job.id.clone())?;
            Some((id, status))
        })
        .collect()
}

/// For each of `ids` (in id order) that has a status: its hosts that
/// `pattern` finds (all without a pattern). The flag is Helios's
/// `noHostMatchedEver`: true when no job had a status, or, with a pattern,
/// when no host of any job matched.
pub fn select<'a>(
    statuses: &'a BTreeMap<JobId, JobStatus>,
    ids: &[JobId],
    pattern: Option<&Regex>,
) -> (Vec<Matched<'a>>, bool) {
    let mut sorted: Vec<&JobId> = ids.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut no_host_matched = true;
    let mut matched = Vec::new();
    for id in sorted {
        let Some((job, status)) = statuses.get_key_value(id) else {
            continue;
        };
        let all: BTreeSet<&str> = status
            .task_statuses
            .keys()
            .chain(status.deployments.keys())
            .map(String::as_str)
            .collect();
        let hosts: Vec<&str> = all
            .into_iter()
            .filter(|h| pattern.is_none_or(|p| p.is_match(h)))
            .collect();
        if pattern.is_none() || !hosts.is_empty() {
            no_host_matched = false;
        }
        matched.push(Matched { job, status, hosts });
    }
    (matched, no_host_matched)
}

/// The `--json --host` answer: jobs deployed on a matching host, with only
/// the matching hosts' deployments and task statuses.
pub fn filtered(matched: &[Matched<'_>]) -> BTreeMap<JobId, JobStatus> {
    matched
        .iter()
        .filter(|m| {
            m.hosts
                .iter()
                .any(|h| m.status.deployments.contains_key(*h))
        })
        .map(|m| {
            let keep = |host: &String| m.hosts.contains(&host.as_str());
            let status = JobStatus {
                deployments: m
                    .status
                    .deployments
                    .iter()
                    .filter(|(h, _)| keep(h))
                    .map(|(h, d)| (h.clone(), d.clone()))
                    .collect(),
                job: m.status.job.clone(),
                task_statuses: m
                    .status
                    .task_statuses
                    .iter()
                    .filter(|(h, _)| keep(h))
                    .map(|(h, t)| (h.clone(), t.clone()))
                    .collect(),
            };
            (m.job.clone(), status)
        })
        .collect()
}

/// The table for the matched rows; host names are shortened unless `full`.
pub fn render(matched: &[Matched<'_>], full: bool, search: &[String]) -> String {
    let names: Vec<Vec<String>> = matched
        .iter()
        .map(|m| {
            m.hosts
                .iter()
                .map(|h| hostname::format_hostname(full, h, search))
                .collect()
        })
        .collect();
    let rows: Vec<StatusRow<'_>> = matched
        .iter()
        .zip(&names)
        .flat_map(|(m, names)| {
            m.hosts.iter().zip(names).map(|(host, name)| StatusRow {
                job: m.job,
                host: name,
                deployment: m.status.deployments.get(*host),
                task: m.status.task_statuses.get(*host),
            })
        })
        .collect();
    tasks::status_table(&rows, full)
}

#[cfg(test)]
mod tests {
    use super::*;
    use helios_api::{Deployment, Goal, Job, State, TaskStatus};

    fn status(id: &JobId, deployed: &[&str], reported: &[(&str, State)]) -> JobStatus {
        let job = Job::new(id.clone(), "busybox");
        JobStatus {
            deployments: deployed
                .iter()
                .map(|h| (h.to_string(), Deployment::new(id.clone(), Goal::Start)))
                .collect(),
            task_statuses: reported
                .iter()
                .map(|(h, s)| (h.to_string(), TaskStatus::new(job.clone(), Goal::Start, *s)))
                .collect(),
            job,
        }
    }

    fn sample() -> (Vec<JobId>, BTreeMap<JobId, JobStatus>) {
        let a = JobId::full("a", "1", "1111111111");
        let b = JobId::full("b", "1", "2222222222");
        let mut statuses = BTreeMap::new();
        statuses.insert(
            a.clone(),
            status(
                &a,
                &["web1", "web2"],
                &[("web1", State::Running), ("db1", State::Exited)],
            ),
        );
        statuses.insert(b.clone(), status(&b, &["db1"], &[]));
        (vec![b, a], statuses)
    }

    #[test]
    fn rows_cover_deployments_and_statuses() {
        let (ids, statuses) = sample();
        let (matched, none) = select(&statuses, &ids, None);
        assert!(!none);
        let hosts: Vec<(String, Vec<&str>)> = matched
            .iter()
            .map(|m| (m.job.name.clone(), m.hosts.clone()))
            .collect();
        assert_eq!(
            hosts,
            [
                ("a".to_string(), vec!["db1", "web1", "web2"]),
                ("b".to_string(), vec!["db1"])
            ]
        );
        let expected = "\
JOB ID         HOST     GOAL     STATE      CONTAINER ID    PORTS    \n\
a:1:1111111    db1.              EXITED                              \n\
a:1:1111111    web1.    START    RUNNING                             \n\
a:1:1111111    web2.    START                                        \n\
b:1:2222222    db1.     START                                        \n";
        assert_eq!(render(&matched, false, &[]), expected);
    }

    #[test]
    fn host_pattern_is_a_find() {
        let (ids, statuses) = sample();
        let pattern = Regex::new("eb").expect("regex");
        let (matched, none) = select(&statuses, &ids, Some(&pattern));
        assert!(!none);
        assert_eq!(matched[0].hosts, ["web1", "web2"]);
        assert!(matched[1].hosts.is_empty());
        let json = filtered(&matched);
        assert_eq!(json.len(), 1);
        let a = json.values().next().expect("a");
        assert_eq!(a.deployments.keys().collect::<Vec<_>>(), ["web1", "web2"]);
        assert_eq!(a.task_statuses.keys().collect::<Vec<_>>(), ["web1"]);

        let nothing = Regex::new("^zzz").expect("regex");
        let (_, none) = select(&statuses, &ids, Some(&nothing));
        assert!(none);
    }

    #[test]
    fn no_status_at_all_means_no_host_matched() {
        let (ids, _) = sample();
        let empty = BTreeMap::new();
        let (matched, none) = select(&empty, &ids, None);
        assert!(matched.is_empty() && none);
        let (_, none) = select(&BTreeMap::new(), &[], None);
        assert!(none);
    }
}
