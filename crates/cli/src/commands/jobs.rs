//! `helios jobs [PATTERN]`: lists jobs whose id contains PATTERN, with the
//! number of hosts each is deployed on (from `POST /jobs/statuses`).
//!
//! `-f` prints full ids, `-q` ids only, `-y` only jobs deployed somewhere.
//! A pattern that matches nothing prints `job pattern <p> matched no jobs`
//! (`{ }` with `--json`, nothing with `-q`) and exits 1.
//!
//! A listing of many jobs is decoded as it arrives and keeps only what the output needs of
//! each job (see [`crate::streamed`]); the deployment counts are asked for the ids as they are
//! decoded, so the statuses come while the listing still arrives; the table is written
//! through one buffer. Only the table and `-y` need counts: `-q` and `--json` alone ask no
//! statuses, and keep no id text to look counts up.

use std::collections::HashMap;

use helios_api::{Job, JobId};
use tokio_util::task::AbortOnDropHandle;

use super::Context;
use super::job_ref::listed_id;
use crate::args::JobsArgs;
use crate::client::HeliosClient;
use crate::output::job::{self, JobColumns, JobSummary};
use crate::output::json;

/// What the command keeps of each listed job.
#[derive(Debug, Clone, PartialEq)]
pub enum Listed {
    /// `-q`: the id only.
    Id,
    /// The table's columns.
    Columns(JobColumns),
    /// `--json`: the whole job.
    Whole(Box<Job>),
}

/// Runs the command.
pub async fn run(
    args: &JobsArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let pattern = args.pattern.as_deref();
    let needs_counts = args.deployed || !(args.quiet || ctx.json);
    let (ids_tx, ids_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let counting = needs_counts.then(|| {
        let client = client.clone();
        // Aborted when dropped: the counts are not wanted once the listing failed.
        AbortOnDropHandle::new(tokio::spawn(async move {
            client.deployment_counts(ids_rx).await
        }))
    });
    // Hands each kept id to the counting task (when there is one) as the listing is decoded;
    // the id's text is kept with the row to look its count up.
    let counted = move |id: JobId| {
        let listed = ListedId::new(id, needs_counts);
        if let Some(text) = &listed.text {
            // The counting task only stops early on an error, which `counting` reports.
            let _ = ids_tx.send(text.clone());
        }
        listed
    };
    let jobs: Vec<(ListedId, Listed)> = match (args.quiet, ctx.json) {
        (true, _) => {
            client
                .jobs_streamed(pattern, move |key, own: OwnId| {
                    Some((counted(listed_id(&key, own.id.as_ref())?), Listed::Id))
                })
                .await?
        }
        (false, false) => {
            client
                .jobs_streamed(pattern, move |key, summary: JobSummary| {
                    let id = counted(listed_id(&key, summary.id.as_ref())?);
                    Some((id, Listed::Columns(summary.columns())))
                })
                .await?
        }
        (false, true) => {
            client
                .jobs_streamed(pattern, move |key, job: Job| {
                    Some((
                        counted(listed_id(&key, job.id.as_ref())?),
                        Listed::Whole(Box::new(job)),
                    ))
                })
                .await?
        }
    };
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
    let counts = match counting {
        Some(task) => task
            .await
            .map_err(|e| anyhow::anyhow!("counting the jobs' deployments failed: {e}"))??,
        None => HashMap::new(),
    };
    let rows = select(jobs, &counts, args.deployed);
    write(ctx.out, rows, args, ctx.json)?;
    Ok(0)
}

/// What `-q` reads of a listed job: its own id, for a key that is not one.
#[derive(serde::Deserialize)]
struct OwnId {
    #[serde(default)]
    id: Option<JobId>,
}

/// A listed job's id, with its text as the statuses are keyed by it when counts are asked.
#[derive(Debug, Clone)]
pub struct ListedId {
    /// The id.
    pub id: JobId,
    /// `id.to_string()`, when the command counts deployments.
    pub text: Option<String>,
}

impl ListedId {
    /// `id`, with its text when `counted` (the command counts deployments).
    pub fn new(id: JobId, counted: bool) -> Self {
        let text = counted.then(|| id.to_string());
        ListedId { id, text }
    }
}

/// The listed jobs in Helios's id order, with their deployment counts (a job
/// the statuses answer does not mention has none); `deployed_only` keeps jobs
/// deployed somewhere.
pub fn select(
    mut jobs: Vec<(ListedId, Listed)>,
    counts: &HashMap<String, usize>,
    deployed_only: bool,
) -> Vec<(JobId, Listed, usize)> {
    jobs.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    jobs.into_iter()
        .map(|(listed, job)| {
            let count = listed.text.and_then(|t| counts.get(&t).copied());
            let count = count.unwrap_or(0);
            (listed.id, job, count)
        })
        .filter(|(_, _, count)| !deployed_only || *count > 0)
        .collect()
}

/// Writes the command's whole output for `rows`.
pub fn write(
    out: &mut dyn std::io::Write,
    rows: Vec<(JobId, Listed, usize)>,
    args: &JobsArgs,
    as_json: bool,
) -> std::io::Result<()> {
    match (as_json, args.quiet) {
        (true, true) => {
            let ids: Vec<String> = rows.iter().map(|(id, _, _)| id.to_string()).collect();
            writeln!(out, "{}", json::pretty(&json::to_value(&ids)))
        }
        (true, false) => {
            // `pretty` orders the keys as strings, whatever the id order.
            let mut entries: Vec<(String, Listed)> = rows
                .into_iter()
                .map(|(id, job, _)| (id.to_string(), job))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let values = entries.into_iter().map(|(id, job)| {
                let value = match job {
                    Listed::Whole(job) => json::to_value(&job),
                    _ => serde_json::Value::Null,
                };
                (id, value)
            });
            json::write_pretty_object(out, values)?;
            writeln!(out)
        }
        (false, true) => rows.iter().try_for_each(|(id, _, _)| writeln!(out, "{id}")),
        (false, false) => {
            let rows = rows
                .into_iter()
                .map(|(id, job, count)| {
                    let columns = match job {
                        Listed::Columns(c) => c,
                        Listed::Whole(job) => JobSummary::from(job.as_ref()).columns(),
                        Listed::Id => JobColumns::default(),
                    };
                    (id, columns, count)
                })
                .collect();
            job::write_jobs_table(out, rows, args.full)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const HASH_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    /// The jobs as a listing gives them (string order), whole.
    fn jobs() -> Vec<(ListedId, Listed)> {
        let a = JobId::full("web", "2", HASH_A);
        let b = JobId::full("web", "10", HASH_B);
        let mut job_a = Job::new(a.clone(), "nginx");
        job_a.env.insert("K".into(), "V".into());
        let job_b = Job::new(b.clone(), "nginx");
        vec![
            (ListedId::new(b, true), Listed::Whole(Box::new(job_b))),
            (ListedId::new(a, true), Listed::Whole(Box::new(job_a))),
        ]
    }

    /// The same jobs as the table form keeps them.
    fn summaries() -> Vec<(ListedId, Listed)> {
        jobs()
            .into_iter()
            .map(|(id, job)| match job {
                Listed::Whole(j) => (id, Listed::Columns(JobSummary::from(j.as_ref()).columns())),
                other => (id, other),
            })
            .collect()
    }

    fn render(rows: &[(JobId, Listed, usize)], args: &JobsArgs, as_json: bool) -> String {
        let mut out = Vec::new();
        write(&mut out, rows.to_vec(), args, as_json).unwrap();
        String::from_utf8(out).unwrap()
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
        let counts: HashMap<String, usize> = [(format!("web:2:{HASH_A}"), 3)].into();
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
    fn a_listed_key_that_is_no_id_falls_back_to_the_jobs_own() {
        let own = JobId::full("web", "2", HASH_A);
        assert_eq!(
            listed_id(&format!("web:2:{HASH_A}"), None),
            Some(own.clone())
        );
        assert_eq!(listed_id("not an id:::", Some(&own)), Some(own));
        assert_eq!(listed_id("not an id:::", None), None);
    }

    #[test]
    fn table_and_quiet_forms() {
        let rows = select(summaries(), &HashMap::new(), false);
        let whole = select(jobs(), &HashMap::new(), false);
        assert_eq!(
            render(&rows, &args(false, false), false),
            render(&whole, &args(false, false), false)
        );
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
        let rows = select(jobs(), &HashMap::new(), false);
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
