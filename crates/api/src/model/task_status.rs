//! What an agent reports about a job it runs (Helios's `TaskStatus` and history events).
//!
//! The master writes goals; the agent writes these statuses. This module only describes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::deployment::Goal;
use super::job::Job;
use super::null_as_default;
use super::port_mapping::PortMapping;

/// Where a task is in its container's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    /// `docker pull` is running.
    PullingImage,
    /// `docker create` is running.
    Creating,
    /// `docker start` is running.
    Starting,
    /// Waiting for the health check to pass.
    Healthchecking,
    /// The container runs (and passed its health check).
    Running,
    /// The container exited.
    Exited,
    /// The container is being stopped.
    Stopping,
    /// The container was stopped on purpose.
    Stopped,
    /// Starting the container failed.
    Failed,
    /// No status known; never written by an agent.
    Unknown,
}

/// Why an agent is holding back restarts of a task.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ThrottleState {
    /// Not throttled.
    #[default]
    No,
    /// The container restarts too often.
    Flapping,
    /// The image does not exist.
    ImageMissing,
    /// Pulling the image failed (timed out).
    ImagePullFailed,
}

/// The status of one job on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    /// Last container error, `""` when none.
    #[serde(default, deserialize_with = "null_as_default")]
    pub container_error: String,
    /// Docker container id, once created.
    #[serde(default)]
    pub container_id: Option<String>,
    /// The environment the container was given.
    #[serde(default, deserialize_with = "null_as_default")]
    pub env: BTreeMap<String, String>,
    /// The goal the agent is working towards.
    pub goal: Goal,
    /// The job, as the agent knows it.
    pub job: Job,
    /// The job's ports with the external ports actually allocated.
    #[serde(default, deserialize_with = "null_as_default")]
    pub ports: BTreeMap<String, PortMapping>,
    /// The observed state.
    pub state: State,
    /// Restart throttling, `NO` by default.
    #[serde(default, deserialize_with = "null_as_default")]
    pub throttled: ThrottleState,
}

impl TaskStatus {
    /// A status with no container, no error, no ports and no throttling.
    pub fn new(job: Job, goal: Goal, state: State) -> TaskStatus {
        TaskStatus {
            container_error: String::new(),
            container_id: None,
            env: BTreeMap::new(),
            goal,
            job,
            ports: BTreeMap::new(),
            state,
            throttled: ThrottleState::No,
        }
    }
}

impl TaskStatus {
    /// This status as an agent reports it to the masters: every field but the job, which the
    /// masters hold under the job id (a job's JSON is most of a status's bytes). The masters
    /// decode it as their stored form of a status and attach the job when it is read.
    pub fn reported(&self) -> ReportedTaskStatus<'_> {
        ReportedTaskStatus {
            container_error: &self.container_error,
            container_id: &self.container_id,
            env: &self.env,
            goal: self.goal,
            ports: &self.ports,
            state: self.state,
            throttled: self.throttled,
        }
    }
}

/// A [`TaskStatus`] without its job, as [`TaskStatus::reported`] writes it: the same JSON with
/// the `job` field left out.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportedTaskStatus<'a> {
    container_error: &'a str,
    container_id: &'a Option<String>,
    env: &'a BTreeMap<String, String>,
    goal: Goal,
    ports: &'a BTreeMap<String, PortMapping>,
    state: State,
    throttled: ThrottleState,
}

/// One entry of a job's task history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TaskStatusEvent {
    /// The host that reported it.
    pub host: String,
    /// The reported status.
    pub status: TaskStatus,
    /// When it was reported, epoch milliseconds.
    pub timestamp: i64,
}

/// Outcome of a task-history query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatusEventsStatus {
    /// The job exists; `events` may still be empty.
    Ok,
    /// The job does not exist.
    JobIdNotFound,
}

/// `GET /history/jobs/{id}`: events sorted by timestamp, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TaskStatusEvents {
    /// The events.
    #[serde(default, deserialize_with = "null_as_default")]
    pub events: Vec<TaskStatusEvent>,
    /// Whether the job was found.
    pub status: TaskStatusEventsStatus,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::job_id::JobId;

    #[test]
    fn a_reported_status_is_the_status_without_its_job() {
        let id = JobId::full("web", "1", "a".repeat(40));
        let mut status = TaskStatus::new(Job::new(id, "busybox"), Goal::Start, State::Running);
        status.container_id = Some("c0ffee".into());
        status.container_error = "oops".into();
        status.env.insert("A".into(), "1".into());
        status
            .ports
            .insert("http".into(), PortMapping::with_external(8080, 20000));
        status.throttled = ThrottleState::Flapping;
        let mut whole = serde_json::to_value(&status).unwrap();
        whole.as_object_mut().unwrap().remove("job");
        let reported = serde_json::to_value(status.reported()).unwrap();
        assert_eq!(reported, whole);
    }

    #[test]
    fn enums_use_helios_names() {
        assert_eq!(
            serde_json::to_string(&State::PullingImage).unwrap(),
            "\"PULLING_IMAGE\""
        );
        assert_eq!(
            serde_json::to_string(&State::Healthchecking).unwrap(),
            "\"HEALTHCHECKING\""
        );
        assert_eq!(
            serde_json::to_string(&ThrottleState::ImagePullFailed).unwrap(),
            "\"IMAGE_PULL_FAILED\""
        );
        assert_eq!(
            serde_json::to_string(&TaskStatusEventsStatus::JobIdNotFound).unwrap(),
            "\"JOB_ID_NOT_FOUND\""
        );
    }

    #[test]
    fn defaults_apply_when_missing() {
        let json = r#"{"job":{"id":"a:1","image":"i"},"goal":"START","state":"RUNNING"}"#;
        let status: TaskStatus = serde_json::from_str(json).unwrap();
        let job = Job::new(JobId::new("a", "1"), "i");
        assert_eq!(status, TaskStatus::new(job, Goal::Start, State::Running));
        let out = serde_json::to_value(&status).unwrap();
        assert_eq!(out["throttled"], "NO");
        assert_eq!(out["containerError"], "");
        assert!(out["containerId"].is_null());
    }
}
