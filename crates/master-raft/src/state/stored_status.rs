//! A task status as the state keeps it: Helios's `TaskStatus` without its job.
//!
//! Helios's status carries the whole job it runs, and the state keeps one status per task
//! plus up to [`super::HISTORY_LIMIT`] history events per task and host: as `Job` structs,
//! about four copies of a 2 KB job per deployment, and every status entry in the Raft log
//! carried the job again. A status is only kept while its job is deployed on the host and
//! history only while the job exists (see `report_statuses` and `remove_job`), so the job of
//! a stored status is always `State::jobs[job id]`: readers attach it from there
//! ([`StoredStatus::with_job`]).
//!
//! The serde form is `TaskStatus`'s without the `job` field, so a status entry or a snapshot
//! of an earlier version (which holds the job) still reads: the job is skipped.

use std::collections::BTreeMap;
use std::sync::Arc;

use helios_api::model::null_as_default;
use helios_api::{
    Goal, Job, PortMapping, State as TaskState, TaskStatus, TaskStatusEvent, ThrottleState,
};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use super::State;

/// A task status without its job (see the module's documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredStatus {
    /// Last container error, `""` when none.
    #[serde(default, deserialize_with = "null_as_default")]
    pub container_error: String,
    /// Docker container id, once created.
    #[serde(default)]
    pub container_id: Option<String>,
    /// The environment the container was given: the same for every report of a task, so
    /// one copy is shared by its status and its history events (see [`Self::share_env`]).
    #[serde(default, deserialize_with = "null_as_default")]
    pub env: Arc<BTreeMap<String, String>>,
    /// The goal the agent is working towards.
    pub goal: Goal,
    /// The job's ports with the external ports actually allocated.
    #[serde(default, deserialize_with = "null_as_default")]
    pub ports: BTreeMap<String, PortMapping>,
    /// The observed state.
    pub state: TaskState,
    /// Restart throttling.
    #[serde(default, deserialize_with = "null_as_default")]
    pub throttled: ThrottleState,
}

impl StoredStatus {
    /// Helios's `TaskStatus`: this status with `job`, the job it was reported for.
    pub fn with_job(&self, job: Job) -> TaskStatus {
        TaskStatus {
            container_error: self.container_error.clone(),
            container_id: self.container_id.clone(),
            env: (*self.env).clone(),
            goal: self.goal,
            job,
            ports: self.ports.clone(),
            state: self.state,
            throttled: self.throttled,
        }
    }

    /// Shares the environment of `earlier`, an earlier report of the same task, when it is
    /// the same (it always is unless the container was recreated with another one): a
    /// task's status and events then hold one copy of it instead of one each.
    pub fn share_env(&mut self, earlier: Option<&StoredStatus>) {
        if let Some(earlier) = earlier
            && !Arc::ptr_eq(&self.env, &earlier.env)
            && self.env == earlier.env
        {
            self.env = earlier.env.clone();
        }
    }
}

impl From<TaskStatus> for StoredStatus {
    /// Drops the job (the state has it under the status's job id).
    fn from(s: TaskStatus) -> Self {
        StoredStatus {
            container_error: s.container_error,
            container_id: s.container_id,
            env: Arc::new(s.env),
            goal: s.goal,
            ports: s.ports,
            state: s.state,
            throttled: s.throttled,
        }
    }
}

/// A stored status with its stored job: serializes to the same JSON as Helios's
/// `TaskStatus`, writing the job's JSON as it is (for REST bodies only: the job is a
/// `serde_json` raw value).
pub struct StatusJson<'a> {
    /// The status.
    pub status: &'a StoredStatus,
    /// Its job's JSON (see [`super::StoredJob::raw_json`]; made once for all the statuses of a job).
    pub job: &'a RawValue,
}

impl Serialize for StatusJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The fields and their order of `TaskStatus`.
        let t = self.status;
        let mut out = s.serialize_struct("TaskStatus", 8)?;
        out.serialize_field("containerError", &t.container_error)?;
        out.serialize_field("containerId", &t.container_id)?;
        out.serialize_field("env", &t.env)?;
        out.serialize_field("goal", &t.goal)?;
        out.serialize_field("job", self.job)?;
        out.serialize_field("ports", &t.ports)?;
        out.serialize_field("state", &t.state)?;
        out.serialize_field("throttled", &t.throttled)?;
        out.end()
    }
}

/// One entry of a job's task history on one host, without the job (its key) or the host
/// (its map key in `State::history`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The reported status.
    pub status: StoredStatus,
    /// When it was reported, epoch milliseconds.
    pub timestamp: i64,
}

impl StoredEvent {
    /// Helios's `TaskStatusEvent`: this event on `host`, for `job`.
    pub fn with_job(&self, host: &str, job: Job) -> TaskStatusEvent {
        TaskStatusEvent {
            host: host.to_string(),
            status: self.status.with_job(job),
            timestamp: self.timestamp,
        }
    }
}

impl State {
    /// The job of a stored task status or event of `job_id`: the stored job (see the module's
    /// documentation). Were it ever missing, a job with only its id, rather than no answer.
    pub fn job_of_task(&self, job_id: &str) -> Job {
        match self.jobs.get(job_id) {
            Some(stored) => stored.value.job(),
            None => {
                tracing::error!(
                    job = job_id,
                    "a task status of a job the state does not hold"
                );
                Job {
                    id: job_id.parse().ok(),
                    ..Job::default()
                }
            }
        }
    }

    /// Helios's `TaskStatus` from `status`, the stored status of a task of `job_id`.
    pub fn task_status(&self, job_id: &str, status: &StoredStatus) -> TaskStatus {
        status.with_job(self.job_of_task(job_id))
    }
}

#[cfg(test)]
mod tests {
    use helios_api::JobId;

    use super::*;
    use crate::state::StoredJob;

    fn status() -> TaskStatus {
        let job = Job::new(JobId::full("web", "1", "a".repeat(40)), "nginx");
        let mut s = TaskStatus::new(job, Goal::Start, TaskState::Running);
        s.container_id = Some("c1".into());
        s.env.insert("K".into(), "V".into());
        s.ports
            .insert("http".into(), PortMapping::with_external(80, 8080));
        s.throttled = ThrottleState::Flapping;
        s
    }

    #[test]
    fn a_stored_status_with_its_job_is_the_reported_status() {
        let reported = status();
        let stored = StoredStatus::from(reported.clone());
        assert_eq!(stored.with_job(reported.job.clone()), reported);
    }

    #[test]
    fn a_stored_status_with_its_stored_job_writes_the_reported_status() {
        let reported = status();
        let stored = StoredStatus::from(reported.clone());
        let job = StoredJob::new(&reported.job);
        let written = serde_json::to_string(&StatusJson {
            status: &stored,
            job: &job.raw_json(),
        })
        .unwrap();
        assert_eq!(written, serde_json::to_string(&reported).unwrap());
    }

    #[test]
    fn the_serde_form_is_task_statuses_without_the_job_and_reads_one_with_it() {
        let reported = status();
        let stored = StoredStatus::from(reported.clone());
        let mut expected = serde_json::to_value(&reported).unwrap();
        expected.as_object_mut().unwrap().remove("job");
        assert_eq!(serde_json::to_value(&stored).unwrap(), expected);
        // A status entry of an earlier version holds the job.
        let old = serde_json::to_vec(&reported).unwrap();
        assert_eq!(
            serde_json::from_slice::<StoredStatus>(&old).unwrap(),
            stored
        );
        // So does an earlier snapshot (named MessagePack), and its events a host.
        let old_event = TaskStatusEvent {
            host: "h1".into(),
            status: reported,
            timestamp: 7,
        };
        let packed = rmp_serde::to_vec_named(&old_event).unwrap();
        let back: StoredEvent = rmp_serde::from_slice(&packed).unwrap();
        assert_eq!(
            back,
            StoredEvent {
                status: stored,
                timestamp: 7
            }
        );
    }
}
