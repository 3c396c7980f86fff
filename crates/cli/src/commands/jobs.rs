//! `helios jobs [PATTERN]`: lists jobs whose id contains PATTERN, with the
//! number of hosts each is deployed on (from `POST /jobs/statuses`).
//!
//! `-f` prints full ids, `-q` ids only, `-y` only jobs deployed somewhere.
//! A pattern that matches nothing prints `job pattern <p> matched no jobs`
//! (`{ }` with `--json`, nothing with `-q`) and exits 1.

use std::collections::BTreeMap;

use helios_api::{Job, JobId};

use super::Context;
use super::job_ref::jobs_by_id;
use crate::args::JobsArgs;
use crate::client::HeliosClient;
use crate::output::{job, json};

/// Runs the command.
pub async fn run(
    args: &JobsArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let pattern = args.pattern.as_deref();
    let jobs = client.jobs(pattern).await?;
    if pattern.is_some_and(|p| !p.is_empty()) && jobs.is_empty() {
        if ctx.json {
            writeln!(ctx.out, "{}", json::pretty(&serde_json::json!({})))?;
        } else if !args.quiet {
            writeln!(
                ctx.out,
                "job pattern {} matched no jobs",
                pattern.unwrap_or_default()
            )?;
        }
        return Ok(1);
    }
    let keys: Vec<String> = jobs.keys().cloned().collect();
    let counts = if keys.is_empty() {
        BTreeMap::new()
    } else {
        client.deployment_counts(&keys).await?
    };
    let rows = select(jobs, &counts, args.deployed);
    write!(ctx.out, "{}", render(&rows, args, ctx.json))?;
    Ok(0)
}

/// The listed jobs in Helios's id order, with their deployment counts (a job
/// the statuses answer does not mention has none); `deployed_only` keeps jobs
/// deployed somewhere.
pub fn select(
    jobs: BTreeMap<String, Job>,
    counts: &BTreeMap<String, usize>,
    deployed_only: bool,
) -> Vec<(JobId, Job, usize)> {
    jobs_by_id(jobs)
        .into_iter()
        .map(|(id, job)| {
            let count = counts.get(&id.to_string()).copied().unwrap_or(0);
            (id, job, count)
        })
        .filter(|(_, _, count)| !deployed_only || *count > 0)
        .collect()
}

/// The command's whole output for `rows`.
pub fn render(rows: &[(JobId, Job, usize)], args: &JobsArgs, as_json: bool) -> String {
    match (as_json, args.quiet) {
        (true, true) => {
            let ids: Vec<String> = rows.iter().map(|(id, _, _)| id.to_string()).collect();
            format!("{}\n", json::pretty(&json::to_value(&ids)))
        }
        (true, false) => {
            let map: serde_json::Map<String, serde_json::Value> = rows
                .iter()
                .map(|(id, job, _)| (id.to_string(), json::to_value(job)))
                .collect();
            format!("{}\n", json::pretty(&serde_json::Value::Object(map)))
        }
        (false, true) => rows.iter().map(|(id, _, _)| format!("{id}\n")).collect(),
        (false, false) => {
            let table: Vec<(JobId, &Job, usize)> = rows
                .iter()
                .map(|(id, job, count)| (id.clone(), job, *count))
                .collect();
            job::jobs_table(&table, args.full)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const HASH_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn jobs() -> BTreeMap<String, Job> {
        let a = JobId::full("web", "2", HASH_A);
        let b = JobId::full("web", "10", HASH_B);
        let mut job_a = Job::new(a.clone(), "nginx");
        job_a.env.insert("K".into(), "V".into());
        let job_b = Job::new(b.clone(), "nginx");
        [(a.to_string(), job_a), (b.to_string(), job_b)].into()
    }

    fn args(quiet: bool, deployed: bool) -> JobsArgs {
        JobsArgs {
            pattern: None,
            full: false,
            quiet,
            deployed,
        }
    }

    #[test]
    fn missing_statuses_count_as_zero_and_y_filters() {
        let counts: BTreeMap<String, usize> = [(format!("web:2:{HASH_A}"), 3)].into();
        let rows = select(jobs(), &counts, false);
        let summary: Vec<(String, usize)> =
            rows.iter().map(|(id, _, n)| (id.to_string(), *n)).collect();
        assert_eq!(
            summary,
            [
                (format!("web:10:{HASH_B}"), 0),
                (format!("web:2:{HASH_A}"), 3)
            ]
        );
        let deployed = select(jobs(), &counts, true);
        assert_eq!(deployed.len(), 1);
        assert_eq!(deployed[0].0.version.as_deref(), Some("2"));
    }

    #[test]
    fn table_and_quiet_forms() {
        let rows = select(jobs(), &BTreeMap::new(), false);
        let table = render(&rows, &args(false, false), false);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].starts_with(
                "JOB ID            NAME    VERSION    HOSTS    COMMAND    ENVIRONMENT"
            )
        );
        assert!(
            lines[2].starts_with("web:2:aaaaaaa     web     2          0                   K=V")
        );
        let quiet = render(&rows, &args(true, false), false);
        assert_eq!(quiet, format!("web:10:{HASH_B}\nweb:2:{HASH_A}\n"));
    }

    #[test]
    fn json_forms() {
        let rows = select(jobs(), &BTreeMap::new(), false);
        let ids = render(&rows, &args(true, false), true);
        assert_eq!(
            ids,
            format!("[ \"web:10:{HASH_B}\", \"web:2:{HASH_A}\" ]\n")
        );
        let map: serde_json::Value =
            serde_json::from_str(&render(&rows, &args(false, false), true)).expect("json");
        assert_eq!(map[format!("web:2:{HASH_A}")]["env"]["K"], "V");
        assert!(map[format!("web:2:{HASH_A}")]["hostname"].is_null());
    }
}
