//! Wildcard job references: the argument of `inspect`, `remove`, `deploy`,
//! `undeploy`, `start`, `stop`, `history` and `rolling-update` is
//! looked up with `GET /jobs?q=<arg>`, a substring match on full job ids.
//! Exactly one match
//! is the job; none is `Unknown job: <arg>`, several are
//! `Ambiguous job reference: <arg>` (so `foo:1` is ambiguous when `foo:10`
//! exists: give the full id).

use std::collections::BTreeMap;

use helios_api::{Job, JobId};
use serde_json::json;

use super::Context;
use crate::client::HeliosClient;
use crate::output::json;

/// Result of looking a reference up.
#[derive(Debug, Clone, PartialEq)]
pub enum JobMatch {
    /// Exactly one job matched.
    Found(JobId, Box<Job>),
    /// No job matched.
    Unknown,
    /// Several jobs matched.
    Ambiguous,
}

/// Parses the keys of a `GET /jobs` answer into job ids, sorted in Helios's
/// `JobId` order (name, version, hash). A key that is not an id falls back
/// to the job's own `id` field, and is skipped when that is absent too.
pub fn jobs_by_id(jobs: BTreeMap<String, Job>) -> Vec<(JobId, Job)> {
    let mut parsed: Vec<(JobId, Job)> = jobs
        .into_iter()
        .filter_map(|(key, job)| Some((listed_id(&key, job.id.as_ref())?, job)))
        .collect();
    parsed.sort_by(|a, b| a.0.cmp(&b.0));
    parsed
}

/// The id of a job in a `GET /jobs` answer: its key, or else the job's own `id` field; `None`
/// (the job is left out) when neither is an id.
pub fn listed_id(key: &str, own: Option<&JobId>) -> Option<JobId> {
    JobId::parse_json_form(key).ok().or_else(|| own.cloned())
}

/// Classifies the answer to `GET /jobs?q=<reference>`.
pub fn classify(jobs: BTreeMap<String, Job>) -> JobMatch {
    let mut jobs = jobs_by_id(jobs);
    match jobs.len() {
        0 => JobMatch::Unknown,
        1 => {
            let (id, job) = jobs.remove(0);
            JobMatch::Found(id, Box::new(job))
        }
        _ => JobMatch::Ambiguous,
    }
}

/// Looks `reference` up on the master.
pub async fn find(client: &HeliosClient, reference: &str) -> anyhow::Result<JobMatch> {
    Ok(classify(client.jobs(Some(reference)).await?))
}

/// Prints Helios's message for a reference that did not resolve to one job:
/// `Unknown job: <ref>` / `Ambiguous job reference: <ref>`, or with `--json`
/// the `JobDeployResponse`-shaped status object.
pub fn print_unresolved(
    ctx: &mut Context<'_>,
    reference: &str,
    m: &JobMatch,
) -> std::io::Result<()> {
    let (text, status) = match m {
        JobMatch::Ambiguous => ("Ambiguous job reference", "AMBIGUOUS_JOB_REFERENCE"),
        _ => ("Unknown job", "JOB_NOT_FOUND"),
    };
    if ctx.json {
        let body = json!({"host": null, "job": null, "status": status});
        writeln!(ctx.out, "{}", json::compact(&body))
    } else {
        writeln!(ctx.out, "{text}: {reference}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str) -> (String, Job) {
        let parsed = JobId::parse_json_form(id).expect("id");
        (id.to_string(), Job::new(parsed, "busybox"))
    }

    #[test]
    fn one_match_is_found() {
        let jobs: BTreeMap<String, Job> = [job("foo:1:abc")].into();
        let JobMatch::Found(id, found) = classify(jobs) else {
            panic!("not found")
        };
        assert_eq!(id, JobId::full("foo", "1", "abc"));
        assert_eq!(found.image.as_deref(), Some("busybox"));
    }

    #[test]
    fn no_match_is_unknown_and_several_are_ambiguous() {
        assert_eq!(classify(BTreeMap::new()), JobMatch::Unknown);
        let jobs: BTreeMap<String, Job> = [job("foo:1:abc"), job("foo:10:def")].into();
        assert_eq!(classify(jobs), JobMatch::Ambiguous);
    }

    #[test]
    fn ids_sort_by_name_then_version() {
        let jobs: BTreeMap<String, Job> =
            [job("foo-bar:1:a"), job("foo:2:b"), job("foo:1:c")].into();
        let ids: Vec<String> = jobs_by_id(jobs)
            .into_iter()
            .map(|(id, _)| id.to_string())
            .collect();
        assert_eq!(ids, ["foo:1:c", "foo:2:b", "foo-bar:1:a"]);
    }

    fn printed(json: bool, m: &JobMatch) -> String {
        let mut out = Vec::new();
        let mut stdin = &b""[..];
        let mut ctx = Context {
            out: &mut out,
            stdin: &mut stdin,
            json,
            terminal: false,
        };
        print_unresolved(&mut ctx, "foo:1", m).expect("print");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn unresolved_messages_and_json() {
        assert_eq!(printed(false, &JobMatch::Unknown), "Unknown job: foo:1\n");
        assert_eq!(
            printed(false, &JobMatch::Ambiguous),
            "Ambiguous job reference: foo:1\n"
        );
        assert_eq!(
            printed(true, &JobMatch::Unknown),
            "{\"host\":null,\"job\":null,\"status\":\"JOB_NOT_FOUND\"}\n"
        );
        assert_eq!(
            printed(true, &JobMatch::Ambiguous),
            "{\"host\":null,\"job\":null,\"status\":\"AMBIGUOUS_JOB_REFERENCE\"}\n"
        );
    }
}
