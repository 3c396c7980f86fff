//! Jobs: create (hash, stamps, validation), remove, get, list, statuses and history.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use helios_api::{
    CreateJobResponse, CreateJobStatus, Deployment, Job, JobDeleteStatus, JobId, JobStatus,
    JobValidator, TaskStatus, TaskStatusEvents, TaskStatusEventsStatus,
};
use imbl::OrdMap;
use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::{Error, Freshness, Outcome, pattern, read};
use crate::exactly_once::WriteKey;
use crate::node::Node;
use crate::state::{Command, CommandResult, State, StatusJson, StoredJob, StoredStatus, Versioned};

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
    created(
        node.write_keyed(key, Command::CreateJob { job: Arc::new(job) })
            .await?,
    )
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
) -> Result<(String, Versioned<StoredJob>), Error> {
    let id = full_id(id)?.to_string();
    let found = read(node, freshness, |s| s.jobs.get(&id).cloned()).await?;
    let job = found.ok_or_else(|| Error::not_found("JOB_NOT_FOUND", format!("no job {id}")))?;
    Ok((id, job))
}

/// The jobs whose full id contains `query` and, with a non-empty `host_pattern` (a regular
/// expression), that are deployed on a host whose name matches it; in id order, from the first
/// id after `after` when one is given (the next page of a paged listing).
///
/// The iterator reads an O(1) copy of the state taken at the read (later writes do not show)
/// and copies each job only when it is reached, so a listing of every job never holds them
/// all twice, nor the state's lock while it is sent.
pub async fn jobs(
    node: &Node,
    query: &str,
    host_pattern: &str,
    after: Option<String>,
    freshness: Freshness,
) -> Result<impl Iterator<Item = (String, Versioned<StoredJob>)> + Send + 'static, Error> {
    let host_pattern = pattern(host_pattern, "INVALID_HOST_PATTERN", "hostPattern")?;
    let (all, on_hosts) = read(node, freshness, |s| {
        let on_hosts = host_pattern.map(|re| jobs_on_hosts(s, &re));
        (s.jobs.clone(), on_hosts)
    })
    .await?;
    let query = query.to_string();
    Ok(OrdMapCursor::new(all, after, move |id: &String| {
        id.contains(&query) && on_hosts.as_ref().is_none_or(|ids| ids.contains(id))
    }))
}

/// The ids of the jobs deployed on a host whose name `host_pattern` finds.
fn jobs_on_hosts(s: &State, host_pattern: &regex::Regex) -> HashSet<String> {
    s.deployments
        .iter()
        .filter(|(host, _)| host_pattern.is_match(host))
        .flat_map(|(_, jobs)| jobs.keys().cloned())
        .collect()
}

/// Walks an owned persistent map in key order from after a key (or from the start), yielding a
/// copy of each entry whose key `keep` accepts (entries left out are never copied).
struct OrdMapCursor<V, F> {
    map: OrdMap<String, V>,
    after: Option<String>,
    keep: F,
}

impl<V, F> OrdMapCursor<V, F> {
    fn new(map: OrdMap<String, V>, after: Option<String>, keep: F) -> Self {
        Self { map, after, keep }
    }
}

impl<V: Clone, F: Fn(&String) -> bool> Iterator for OrdMapCursor<V, F> {
    type Item = (String, V);

    fn next(&mut self) -> Option<(String, V)> {
        let from = match self.after.take() {
            None => Bound::Unbounded,
            Some(k) => Bound::Excluded(k),
        };
        let (k, v) = self
            .map
            .range((from, Bound::Unbounded))
            .find(|(k, _)| (self.keep)(k))?;
        let found = (k.clone(), v.clone());
        self.after = Some(found.0.clone());
        Some(found)
    }
}

/// The status of one job in `s`: its deployments and the task statuses agents reported.
pub fn status_of(s: &State, id: &str) -> Option<JobStatus> {
    let job = s.jobs.get(id)?.value.job();
    let (deployments, task_statuses) = placements(s, &BTreeSet::from([id.to_string()]), true)
        .remove(id)
        .unwrap_or_default();
    Some(JobStatus {
        deployments,
        task_statuses: with_job(task_statuses, &job),
        job,
    })
}

/// The status of one job; `JOB_NOT_FOUND` when there is none.
pub async fn job_status(node: &Node, id: &str) -> Result<(String, JobStatus), Error> {
    let id = full_id(id)?.to_string();
    let found = node.read(|s| status_of(s, &id)).await?;
    let status = found.ok_or_else(|| Error::not_found("JOB_NOT_FOUND", format!("no job {id}")))?;
    Ok((id, status))
}

/// The statuses of the jobs named (full ids); unknown ones are left out. In id order, from
/// an O(1) copy of the state: the deployments and task statuses of every job named are
/// gathered in one pass, each job is copied only when it is reached.
pub async fn job_statuses(
    node: &Node,
    ids: &[String],
    fields: StatusFields,
) -> Result<impl Iterator<Item = (String, StoredJobStatus)> + Send + 'static, Error> {
    let wanted = ids
        .iter()
        .map(|raw| {
            full_id(raw)
                .map(|id| id.to_string())
                .map_err(|_| Error::invalid("INVALID_ID", format!("Invalid id {raw}")))
        })
        .collect::<Result<BTreeSet<_>, _>>()?;
    let state = node.read(State::clone).await?;
    let whole = fields == StatusFields::All;
    let mut placed = placements(&state, &wanted, whole);
    let jobs = state.jobs;
    Ok(wanted.into_iter().filter_map(move |id| {
        let job = jobs.get(&id)?.value.clone();
        let (deployments, task_statuses) = placed.remove(&id).unwrap_or_default();
        Some((
            id,
            StoredJobStatus {
                deployments,
                tasks: whole.then_some(StoredTasks {
                    job,
                    statuses: task_statuses,
                }),
            },
        ))
    }))
}

/// What a job status holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFields {
    /// Helios's `JobStatus`: deployments, the job and task statuses.
    All,
    /// Only the deployments (what `helios jobs` counts): a small fraction of the bytes, since
    /// a job is most of its status.
    Deployments,
}

/// A [`JobStatus`] with the job and task statuses as the state stores them, or only its
/// deployments. Whole, it serializes to the same bytes as the `JobStatus`, writing the job's
/// JSON as it is (once for the job, once in each task status) instead of decoding and
/// encoding it again (most of the work of a listing's statuses).
pub struct StoredJobStatus {
    deployments: BTreeMap<String, Deployment>,
    /// The job and its task statuses; `None` for [`StatusFields::Deployments`].
    tasks: Option<StoredTasks>,
}

/// A job and its task statuses by host, as the state stores them.
struct StoredTasks {
    job: StoredJob,
    statuses: BTreeMap<String, StoredStatus>,
}

impl Serialize for StoredJobStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // `JobStatus`'s fields, in its order.
        let mut out = s.serialize_struct("JobStatus", 3)?;
        out.serialize_field("deployments", &self.deployments)?;
        if let Some(StoredTasks { job, statuses }) = &self.tasks {
            let job = job.raw_json();
            out.serialize_field("job", &job)?;
            let with_job: BTreeMap<&str, StatusJson<'_>> = statuses
                .iter()
                .map(|(host, status)| (host.as_str(), StatusJson { status, job: &job }))
                .collect();
            out.serialize_field("taskStatuses", &with_job)?;
        }
        out.end()
    }
}

impl StoredJobStatus {
    /// The whole status, its job decoded (a status of [`StatusFields::Deployments`] gets an
    /// empty job).
    pub fn decoded(self) -> JobStatus {
        let (job, task_statuses) = match self.tasks {
            Some(StoredTasks { job, statuses }) => {
                let job = job.job();
                let statuses = with_job(statuses, &job);
                (job, statuses)
            }
            None => Default::default(),
        };
        JobStatus {
            deployments: self.deployments,
            job,
            task_statuses,
        }
    }
}

/// Helios's task statuses by host: the stored ones with their job.
fn with_job(statuses: BTreeMap<String, StoredStatus>, job: &Job) -> BTreeMap<String, TaskStatus> {
    statuses
        .into_iter()
        .map(|(host, status)| (host, status.with_job(job.clone())))
        .collect()
}

/// The deployments and the task statuses by host of wanted jobs (those that have any).
type Placements = BTreeMap<String, (BTreeMap<String, Deployment>, BTreeMap<String, StoredStatus>)>;

/// Calls `each(job, host, value)` for every entry of a host → job table whose job is wanted:
/// looking each wanted job up on every host (`per_job`), or going over every entry.
fn for_wanted<V>(
    table: &OrdMap<String, BTreeMap<String, Versioned<V>>>,
    wanted: &BTreeSet<String>,
    per_job: bool,
    mut each: impl FnMut(&String, &String, &V),
) {
    for (host, jobs) in table {
        if per_job {
            for (id, v) in wanted.iter().filter_map(|id| Some((id, jobs.get(id)?))) {
                each(id, host, &v.value);
            }
        } else {
            for (id, v) in jobs.iter().filter(|(id, _)| wanted.contains(*id)) {
                each(id, host, &v.value);
            }
        }
    }
}

/// The [`Placements`] of `wanted` in `s` (their task statuses only `with_statuses`): each
/// wanted job looked up on every host when they are few, one pass over every deployment and
/// status when they are many.
fn placements(s: &State, wanted: &BTreeSet<String>, with_statuses: bool) -> Placements {
    let mut out = Placements::new();
    let hosts = s.deployments.len() + s.task_statuses.len();
    let entries: usize = s.deployments.values().map(BTreeMap::len).sum::<usize>()
        + s.task_statuses.values().map(BTreeMap::len).sum::<usize>();
    let per_job = wanted.len().saturating_mul(hosts) <= entries;
    for_wanted(
        &s.deployments,
        wanted,
        per_job,
        |id, host, d: &Deployment| {
            let entry = out.entry(id.clone()).or_default();
            entry.0.insert(host.clone(), d.clone());
        },
    );
    if with_statuses {
        for_wanted(
            &s.task_statuses,
            wanted,
            per_job,
            |id, host, t: &StoredStatus| {
                let entry = out.entry(id.clone()).or_default();
                entry.1.insert(host.clone(), t.clone());
            },
        );
    }
    out
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
    let job = s.job_of_task(id);
    let mut events: Vec<_> = s
        .history
        .get(id)
        .map(|hosts| {
            hosts
                .iter()
                .flat_map(|(host, events)| events.iter().map(|e| e.with_job(host, job.clone())))
                .collect()
        })
        .unwrap_or_default();
    events.sort_by_key(|e| e.timestamp);
    TaskStatusEvents {
        events,
        status: TaskStatusEventsStatus::Ok,
    }
}

#[cfg(test)]
mod tests {
    use helios_api::{Goal, State as TaskState};

    use super::*;

    /// Statuses are written from the stored job: the same bytes as Helios's `JobStatus`.
    #[test]
    fn a_stored_status_serializes_as_the_job_status() {
        let mut job = Job::new(JobId::full("web", "1", "a".repeat(40)), "nginx");
        job.env.insert("K".into(), "V \"q\"".into());
        let deployments = BTreeMap::from([(
            "host1".to_string(),
            serde_json::from_value::<Deployment>(serde_json::json!({
                "jobId": "web:1:aaaa", "goal": "START"
            }))
            .unwrap(),
        )]);
        let mut running = TaskStatus::new(job.clone(), Goal::Start, TaskState::Running);
        running.container_id = Some("c1".into());
        let stored = StoredJobStatus {
            deployments: deployments.clone(),
            tasks: Some(StoredTasks {
                job: StoredJob::new(&job),
                statuses: BTreeMap::from([("host1".to_string(), running.clone().into())]),
            }),
        };
        let written = serde_json::to_string(&stored).unwrap();
        let status = stored.decoded();
        assert_eq!(status.job, job);
        assert_eq!(status.task_statuses["host1"], running);
        assert_eq!(written, serde_json::to_string(&status).unwrap());
        // Deployments only: just that field.
        let counted = StoredJobStatus {
            deployments,
            tasks: None,
        };
        let written = serde_json::to_value(&counted).unwrap();
        assert_eq!(written.as_object().unwrap().len(), 1, "{written}");
        assert_eq!(written["deployments"]["host1"]["goal"], "START");
    }

    /// Listings walk the map with the cursor: every kept entry once, in key order, also from
    /// maps built by inserts and removes that share nodes with earlier copies.
    #[test]
    fn the_cursor_yields_every_kept_entry_once_in_order() {
        let mut map: OrdMap<String, usize> = OrdMap::new();
        let mut copies = Vec::new();
        let mut seed = 7u64;
        for step in 0..20_000usize {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = format!("x{}n{}", (seed >> 33) % 16, (seed >> 40) % 3000);
            if (seed >> 20).is_multiple_of(3) {
                map.remove(&key);
            } else {
                map.insert(key, step);
            }
            if step % 97 == 0 {
                copies.push(map.clone());
            }
        }
        copies.push(map);
        let keep = |k: &String| k.contains("n1");
        for copy in copies {
            let walked: Vec<(String, usize)> =
                OrdMapCursor::new(copy.clone(), None, keep).collect();
            let expected: Vec<(String, usize)> = copy
                .iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            assert_eq!(walked, expected);
            // Resumed after any key, present or not: the rest of the same walk.
            for after in ["x3n1", "x3n1500", "x9"] {
                let rest: Vec<(String, usize)> =
                    OrdMapCursor::new(copy.clone(), Some(after.to_string()), keep).collect();
                let expected_rest: Vec<(String, usize)> = expected
                    .iter()
                    .filter(|(k, _)| k.as_str() > after)
                    .cloned()
                    .collect();
                assert_eq!(rest, expected_rest, "after {after}");
            }
        }
    }
}
