//! Jobs: create (hash, stamps, validation), remove, get, list, statuses and history.

use std::collections::BTreeMap;

use helios_api::{
    CreateJobResponse, CreateJobStatus, Job, JobDeleteStatus, JobId, JobStatus, JobValidator,
    TaskStatusEvents, TaskStatusEventsStatus,
};

use super::{Error, Freshness, Outcome, pattern, read};
use crate::exactly_once::WriteKey;
use crate::node::Node;
use crate::state::{Command, CommandResult, State, Versioned};

/// Parses a job id that must be fully qualified (`name:version:hash`); `INVALID_ID` otherwise.
pub fn full_id(raw: &str) -> Result<JobId, Error> {
    let id: JobId = raw
        .parse()
        .map_err(|e: helios_api::JobIdParseError| Error::invalid("INVALID_ID", e.to_string()))?;
    if !id.is_fully_qualified() {
        return Err(Error::invalid(
            "INVALID_ID",
            format!("Invalid id: {raw} (expected name:version:hash with a 40-character hash)"),
        ));
    }
    Ok(id)
}

/// Creates a job: fills in the hash when the id has a version but no hash, stamps
/// `creatingUser` and `created` (the leader's clock), validates, and replicates it. The
/// answer's status is `OK`, `INVALID_JOB_DEFINITION` (with every error) or
/// `JOB_ALREADY_EXISTS`; a retry with the same `key` gets the first attempt's answer.
pub async fn create_job(
    node: &Node,
    key: &WriteKey,
    mut job: Job,
    user: Option<String>,
) -> Result<CreateJobResponse, Error> {
    let Some(id) = job.id.clone() else {
        return Ok(CreateJobResponse {
            errors: vec!["Job id was not specified.".into()],
            id: None,
            status: CreateJobStatus::InvalidJobDefinition,
        });
    };
    let hash_computed_here = id.hash.is_none() && id.version.is_some();
    if hash_computed_here {
        let hash = job.compute_hash();
        job.id = Some(JobId {
            hash: Some(hash),
            ..id
        });
    }
    let now = node.clock.now();
    job.creating_user = user.filter(|u| !u.is_empty());
    job.created = Some(now.timestamp_millis());
    let full = job.id.as_ref().map(|i| i.to_string());
    let validator = JobValidator {
        // A hash computed a moment ago matches by construction; checking it would hash again.
        validate_hash: !hash_computed_here,
        validate_add_capabilities: true,
        whitelisted_capabilities: (*node.whitelisted_capabilities).clone(),
    };
    let errors = validator.validate(&job, now);
    if !errors.is_empty() {
        // A retry of a create already applied gets its first answer, even if the job does not
        // validate any more (it expired meanwhile). Checked only here, off the hot path: the
        // replicated table answers every other retry when the command is applied.
        if let Some(first) = node.replayed(key)? {
            return created(first);
        }
        return Ok(CreateJobResponse {
            errors,
            id: full,
            status: CreateJobStatus::InvalidJobDefinition,
        });
    }
    created(node.write_keyed(key, Command::CreateJob { job }).await?)
}

/// The answer to a create from the result of its command.
fn created(result: CommandResult) -> Result<CreateJobResponse, Error> {
    match result {
        CommandResult::JobCreated { id } => Ok(CreateJobResponse {
            errors: vec![],
            id: Some(id),
            status: CreateJobStatus::Ok,
        }),
        CommandResult::JobAlreadyExists { id } => Ok(CreateJobResponse {
            errors: vec![],
            id: Some(id),
            status: CreateJobStatus::JobAlreadyExists,
        }),
        other => Err(Error::Unexpected(other)),
    }
}

/// Removes a job that is deployed nowhere; `token` must match the job's.
pub async fn remove_job(
    node: &Node,
    key: &WriteKey,
    id: &str,
    token: String,
) -> Result<Outcome<JobDeleteStatus>, Error> {
    let id = full_id(id)?.to_string();
    let command = Command::RemoveJob {
        id: id.clone(),
        token,
    };
    Ok(match node.write_keyed(key, command).await? {
        CommandResult::Ok => Outcome::new(JobDeleteStatus::Ok, format!("removed job {id}")),
        CommandResult::JobNotFound => {
            Outcome::new(JobDeleteStatus::JobNotFound, format!("no job {id}"))
        }
        CommandResult::Forbidden => Outcome::new(
            JobDeleteStatus::Forbidden,
            format!("the token does not match that of job {id}"),
        ),
        CommandResult::StillInUse => Outcome::new(
            JobDeleteStatus::StillInUse,
            format!("job {id} is still deployed on some host"),
        ),
        other => return Err(Error::Unexpected(other)),
    })
}

/// One job by its full id (as parsed), with the index that created it; `JOB_NOT_FOUND` when
/// there is none.
pub async fn job(
    node: &Node,
    id: &str,
    freshness: Freshness,
) -> Result<(String, Versioned<Job>), Error> {
    let id = full_id(id)?.to_string();
    let found = read(node, freshness, |s| s.jobs.get(&id).cloned()).await?;
    let job = found.ok_or_else(|| Error::not_found("JOB_NOT_FOUND", format!("no job {id}")))?;
    Ok((id, job))
}

/// The jobs whose full id contains `query` and, with a non-empty `host_pattern` (a regular
/// expression), that are deployed on a host whose name matches it; in id order.
pub async fn jobs(
    node: &Node,
    query: &str,
    host_pattern: &str,
    freshness: Freshness,
) -> Result<Vec<(String, Versioned<Job>)>, Error> {
    let host_pattern = pattern(host_pattern, "INVALID_HOST_PATTERN", "hostPattern")?;
    read(node, freshness, |s| {
        jobs_matching(s, query, host_pattern.as_ref())
            .map(|(id, j)| (id.clone(), j.clone()))
            .collect()
    })
    .await
}

/// The jobs whose full id contains `needle`, and, with a `host_pattern`, that are deployed on
/// a host whose name matches it; in id order.
pub fn jobs_matching<'a>(
    s: &'a State,
    needle: &'a str,
    host_pattern: Option<&'a regex::Regex>,
) -> impl Iterator<Item = (&'a String, &'a Versioned<Job>)> + 'a {
    s.jobs
        .iter()
        .filter(move |(id, _)| id.contains(needle))
        .filter(move |(id, _)| match host_pattern {
            None => true,
            Some(re) => s
                .deployments
                .iter()
                .any(|(host, jobs)| re.is_match(host) && jobs.contains_key(*id)),
        })
}

/// The status of one job in `s`: its deployments and the task statuses agents reported.
pub fn status_of(s: &State, id: &str) -> Option<JobStatus> {
    let job = s.jobs.get(id)?;
    let mut deployments = BTreeMap::new();
    for (host, jobs) in &s.deployments {
        if let Some(d) = jobs.get(id) {
            deployments.insert(host.clone(), d.value.clone());
        }
    }
    let mut task_statuses = BTreeMap::new();
    for (host, statuses) in &s.task_statuses {
        if let Some(t) = statuses.get(id) {
            task_statuses.insert(host.clone(), t.value.clone());
        }
    }
    Some(JobStatus {
        deployments,
        job: job.value.clone(),
        task_statuses,
    })
}

/// The status of one job; `JOB_NOT_FOUND` when there is none.
pub async fn job_status(node: &Node, id: &str) -> Result<(String, JobStatus), Error> {
    let id = full_id(id)?.to_string();
    let found = node.read(|s| status_of(s, &id)).await?;
    let status = found.ok_or_else(|| Error::not_found("JOB_NOT_FOUND", format!("no job {id}")))?;
    Ok((id, status))
}

/// The statuses of the jobs named (full ids); unknown ones are left out.
pub async fn job_statuses(
    node: &Node,
    ids: &[String],
) -> Result<BTreeMap<String, JobStatus>, Error> {
    let wanted = ids
        .iter()
        .map(|raw| {
            full_id(raw)
                .map(|id| id.to_string())
                .map_err(|_| Error::invalid("INVALID_ID", format!("Invalid id {raw}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(node
        .read(|s| {
            wanted
                .iter()
                .filter_map(|id| Some((id.clone(), status_of(s, id)?)))
                .collect()
        })
        .await?)
}

/// A job's task events on every host, sorted by timestamp; status `JOB_ID_NOT_FOUND` (an
/// answer, as Helios gives it) for an unknown job.
pub async fn job_history(node: &Node, id: &str) -> Result<TaskStatusEvents, Error> {
    let id = full_id(id)?.to_string();
    Ok(node.read(|s| history_of(s, &id)).await?)
}

/// A job's task events in `s` (see [`job_history`]).
pub fn history_of(s: &State, id: &str) -> TaskStatusEvents {
    if !s.jobs.contains_key(id) {
        return TaskStatusEvents {
            events: vec![],
            status: TaskStatusEventsStatus::JobIdNotFound,
        };
    }
    let mut events: Vec<_> = s
        .history
        .get(id)
        .map(|hosts| hosts.values().flatten().cloned().collect())
        .unwrap_or_default();
    events.sort_by_key(|e| e.timestamp);
    TaskStatusEvents {
        events,
        status: TaskStatusEventsStatus::Ok,
    }
}
