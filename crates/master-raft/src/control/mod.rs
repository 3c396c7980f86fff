//! Use cases shared by the REST gateway ([`crate::gateway`]) and the public gRPC API
//! ([`crate::grpc`]), so both answer alike: creating a job (hash, stamps, validation), the
//! job and host list filters, a job's history and the members of the cluster.
//!
//! Refusals are returned as values (a `CreateJobResponse` status, an empty history); errors
//! are [`ApiError`]s, which each front end renders its own way.

use helios_api::{
    CreateJobResponse, CreateJobStatus, HostSelector, Job, JobId, JobValidator, TaskStatusEvents,
    TaskStatusEventsStatus,
};

use crate::exactly_once::WriteKey;
use crate::gateway::{ApiError, AppState};
use crate::state::{Command, CommandResult, Host, State, Versioned};

/// Creates a job: fills in the hash when the id has a version but no hash, stamps
/// `creatingUser` and `created`, validates, and replicates it. The answer's status is `OK`,
/// `INVALID_JOB_DEFINITION` (with every error) or `JOB_ALREADY_EXISTS`; a retry with the same
/// `key` gets the first attempt's answer.
pub async fn create_job(
    app: &AppState,
    key: &WriteKey,
    mut job: Job,
    user: Option<String>,
) -> Result<CreateJobResponse, ApiError> {
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
    job.creating_user = user.filter(|u| !u.is_empty());
    job.created = Some(chrono::Utc::now().timestamp_millis());
    let full = job.id.as_ref().map(|i| i.to_string());
    let validator = JobValidator {
        // A hash computed a moment ago matches by construction; checking it would hash again.
        validate_hash: !hash_computed_here,
        validate_add_capabilities: true,
        whitelisted_capabilities: (*app.whitelisted_capabilities).clone(),
    };
    let errors = validator.validate(&job, chrono::Utc::now());
    if !errors.is_empty() {
        // A retry of a create already applied gets its first answer, even if the job does not
        // validate any more (it expired meanwhile). Checked only here, off the hot path: the
        // replicated table answers every other retry when the command is applied.
        if let Some(first) = app.replayed(key)? {
            return created(first);
        }
        return Ok(CreateJobResponse {
            errors,
            id: full,
            status: CreateJobStatus::InvalidJobDefinition,
        });
    }
    created(app.write_keyed(key, Command::CreateJob { job }).await?)
}

/// The answer to a create from the result of its command.
fn created(result: CommandResult) -> Result<CreateJobResponse, ApiError> {
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
        other => Err(crate::gateway::jobs::unexpected(other)),
    }
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

/// The registered hosts (UP or DOWN) whose name matches `pattern` and whose labels match every
/// selector; in name order.
pub fn hosts_matching<'a>(
    s: &'a State,
    pattern: Option<&'a regex::Regex>,
    selectors: &'a [HostSelector],
) -> impl Iterator<Item = (&'a String, &'a Host)> + 'a {
    s.hosts
        .iter()
        .filter(move |(name, _)| pattern.is_none_or(|p| p.is_match(name)))
        .filter(move |(_, h)| selectors.iter().all(|sel| sel.matches(&h.labels)))
}

/// A job's task events on every host, sorted by timestamp; `JOB_ID_NOT_FOUND` for an unknown
/// job.
pub fn job_history(s: &State, id: &str) -> TaskStatusEvents {
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

/// Members with their role and whether they are up (`GET /masters`).
pub mod members;
pub use members::{MemberRole, MemberState, MemberStatus, member_statuses};
