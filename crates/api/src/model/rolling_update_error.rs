//! Why a rollout step failed (Helios's `rollingupdate/RollingUpdateError`) and the messages
//! Helios's master writes into the group's status error, reference §5.3.
//!
//! A failing step sets the group's status to FAILED with error `<host>: <message>`
//! ([`step_error`]); the kind travels in the `errorCode` of Helios's
//! `rollingUpdateTaskResult` event.

use serde::{Deserialize, Serialize};

use super::job_id::JobId;
use super::task_status::{State, ThrottleState};

/// The kind of a failed rollout step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RollingUpdateError {
    /// `DEPLOY_NEW_JOB`: a static external port is taken on the host.
    PortConflict,
    /// `AWAIT_RUNNING`: the group's deployment disappeared.
    JobUnexpectedlyUndeployed,
    /// `AWAIT_RUNNING`: the job runs but was deployed manually or by another group.
    JobAlreadyDeployed,
    /// `AWAIT_RUNNING`: the step timed out before the job reached RUNNING.
    TimedOutWaitingForJobToReachRunning,
    /// `AWAIT_UNDEPLOYED`: the step timed out before the task status went away.
    TimedOutWaitingForJobToUndeploy,
    /// `MARK_UNDEPLOYED`: the list of removed hosts could not be updated.
    UnableToMarkHostUndeployed,
    /// Deploy or undeploy: the rollout's token is not the job's.
    TokenVerificationError,
    /// `DEPLOY_NEW_JOB`: the job no longer exists.
    JobNotFound,
    /// Deploy or undeploy: the host is not registered.
    HostNotFound,
    /// `AWAIT_RUNNING`: the step timed out and the host never reported a status.
    TimedOutRetrievingJobStatus,
    /// `AWAIT_RUNNING` timed out with the task throttled `IMAGE_MISSING`.
    ImageMissing,
    /// `AWAIT_RUNNING` timed out with the task throttled `IMAGE_PULL_FAILED`.
    ImagePullFailed,
    /// Anything else.
    Unknown,
}

/// Appended to the deploy error of a [`RollingUpdateError::PortConflict`].
pub const PORT_CONFLICT_SUFFIX: &str =
    " (the conflicting job was deployed manually or by a different deployment group)";
/// [`RollingUpdateError::JobUnexpectedlyUndeployed`] when the host has no task status.
pub const JOB_UNEXPECTEDLY_UNDEPLOYED_MESSAGE: &str =
    "Job unexpectedly undeployed. Perhaps it was manually undeployed?";
/// [`RollingUpdateError::JobUnexpectedlyUndeployed`] when the job runs but its deployment is
/// gone.
pub const DEPLOYMENT_NOT_FOUND_MESSAGE: &str =
    "deployment for this job not found in zookeeper. Perhaps it was manually undeployed?";
/// [`RollingUpdateError::JobAlreadyDeployed`].
pub const JOB_ALREADY_DEPLOYED_MESSAGE: &str =
    "job was already deployed, either manually or by a different deployment group";
/// [`RollingUpdateError::TimedOutRetrievingJobStatus`].
pub const TIMED_OUT_RETRIEVING_JOB_STATUS_MESSAGE: &str = "timed out while retrieving job status";
/// [`RollingUpdateError::TimedOutWaitingForJobToUndeploy`].
pub const TIMED_OUT_WAITING_FOR_UNDEPLOY_MESSAGE: &str =
    "timed out while waiting for job undeployment";
/// [`RollingUpdateError::UnableToMarkHostUndeployed`].
pub const UNABLE_TO_MARK_HOST_UNDEPLOYED_MESSAGE: &str =
    "unable to mark host undeployed after removal from deployment group";

/// The group status error of a failed step: `<host>: <message>`, or the message alone when
/// the host is empty (Helios's `RollingUpdateOpFactory.error`).
pub fn step_error(host: &str, message: &str) -> String {
    if host.is_empty() {
        message.to_string()
    } else {
        format!("{host}: {message}")
    }
}

/// The message of a deploy failure `message` of kind `kind`: [`PORT_CONFLICT_SUFFIX`] is
/// appended for a port conflict, other messages are kept.
pub fn deploy_failure_message(kind: RollingUpdateError, message: &str) -> String {
    if kind == RollingUpdateError::PortConflict {
        format!("{message}{PORT_CONFLICT_SUFFIX}")
    } else {
        message.to_string()
    }
}

/// The kind and message of an `AWAIT_RUNNING` step that timed out with the task in `state`
/// (Helios's `rollingUpdateTimedoutError`): `timed out waiting for job <id> to reach state
/// RUNNING [due to …]` `(terminal job state <S>, previous states: A->B->…)`, plus ` container
/// error: …` when the task has one and is not image-throttled. `previous` is the task's last
/// states from its history, oldest first (Helios takes up to 10).
pub fn timed_out_waiting_for_running(
    job_id: &JobId,
    state: State,
    previous: &[State],
    throttled: ThrottleState,
    container_error: &str,
) -> (RollingUpdateError, String) {
    let base = format!("timed out waiting for job {job_id} to reach state RUNNING ");
    let previous: Vec<&str> = previous.iter().map(|s| state_word(*s)).collect();
    let info = format!(
        "(terminal job state {}, previous states: {})",
        state_word(state),
        previous.join("->")
    );
    match throttled {
        ThrottleState::ImageMissing => (
            RollingUpdateError::ImageMissing,
            format!("{base}due to missing Docker image {info}"),
        ),
        ThrottleState::ImagePullFailed => (
            RollingUpdateError::ImagePullFailed,
            format!("{base}due to failure pulling Docker image {info}"),
        ),
        _ if !container_error.is_empty() => (
            RollingUpdateError::TimedOutWaitingForJobToReachRunning,
            format!("{base}{info} container error: {container_error}"),
        ),
        _ => (
            RollingUpdateError::TimedOutWaitingForJobToReachRunning,
            format!("{base}{info}"),
        ),
    }
}

/// Helios's name of a task state, as Java's `enum.toString()` prints it.
fn state_word(state: State) -> &'static str {
    match state {
        State::PullingImage => "PULLING_IMAGE",
        State::Creating => "CREATING",
        State::Starting => "STARTING",
        State::Healthchecking => "HEALTHCHECKING",
        State::Running => "RUNNING",
        State::Exited => "EXITED",
        State::Stopping => "STOPPING",
        State::Stopped => "STOPPED",
        State::Failed => "FAILED",
        State::Unknown => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ALL: [RollingUpdateError; 13] = [
        RollingUpdateError::PortConflict,
        RollingUpdateError::JobUnexpectedlyUndeployed,
        RollingUpdateError::JobAlreadyDeployed,
        RollingUpdateError::TimedOutWaitingForJobToReachRunning,
        RollingUpdateError::TimedOutWaitingForJobToUndeploy,
        RollingUpdateError::UnableToMarkHostUndeployed,
        RollingUpdateError::TokenVerificationError,
        RollingUpdateError::JobNotFound,
        RollingUpdateError::HostNotFound,
        RollingUpdateError::TimedOutRetrievingJobStatus,
        RollingUpdateError::ImageMissing,
        RollingUpdateError::ImagePullFailed,
        RollingUpdateError::Unknown,
    ];

    #[test]
    fn error_kinds_use_helios_names() {
        let names = [
            "PORT_CONFLICT",
            "JOB_UNEXPECTEDLY_UNDEPLOYED",
            "JOB_ALREADY_DEPLOYED",
            "TIMED_OUT_WAITING_FOR_JOB_TO_REACH_RUNNING",
            "TIMED_OUT_WAITING_FOR_JOB_TO_UNDEPLOY",
            "UNABLE_TO_MARK_HOST_UNDEPLOYED",
            "TOKEN_VERIFICATION_ERROR",
            "JOB_NOT_FOUND",
            "HOST_NOT_FOUND",
            "TIMED_OUT_RETRIEVING_JOB_STATUS",
            "IMAGE_MISSING",
            "IMAGE_PULL_FAILED",
            "UNKNOWN",
        ];
        assert_eq!(serde_json::to_value(ALL).unwrap(), json!(names));
        for (kind, name) in ALL.iter().zip(names) {
            assert_eq!(
                &serde_json::from_value::<RollingUpdateError>(json!(name)).unwrap(),
                kind
            );
        }
    }

    #[test]
    fn state_words_match_the_json() {
        for s in [
            State::PullingImage,
            State::Creating,
            State::Starting,
            State::Healthchecking,
            State::Running,
            State::Exited,
            State::Stopping,
            State::Stopped,
            State::Failed,
            State::Unknown,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), json!(state_word(s)));
        }
    }

    #[test]
    fn step_errors_name_the_host() {
        assert_eq!(
            step_error("host1", TIMED_OUT_RETRIEVING_JOB_STATUS_MESSAGE),
            "host1: timed out while retrieving job status"
        );
        assert_eq!(step_error("", "boom"), "boom");
        assert_eq!(
            deploy_failure_message(RollingUpdateError::PortConflict, "port 80 taken"),
            "port 80 taken (the conflicting job was deployed manually or by a different \
             deployment group)"
        );
        assert_eq!(
            deploy_failure_message(RollingUpdateError::HostNotFound, "no host"),
            "no host"
        );
    }

    #[test]
    fn timed_out_messages_follow_helios() {
        let id = JobId::full("foo", "1", "abc");
        let prev = [State::PullingImage, State::Creating, State::Exited];
        let (kind, msg) =
            timed_out_waiting_for_running(&id, State::Exited, &prev, ThrottleState::No, "");
        assert_eq!(
            kind,
            RollingUpdateError::TimedOutWaitingForJobToReachRunning
        );
        assert_eq!(
            msg,
            "timed out waiting for job foo:1:abc to reach state RUNNING (terminal job state \
             EXITED, previous states: PULLING_IMAGE->CREATING->EXITED)"
        );
        let (kind, msg) =
            timed_out_waiting_for_running(&id, State::Failed, &[], ThrottleState::Flapping, "oom");
        assert_eq!(
            kind,
            RollingUpdateError::TimedOutWaitingForJobToReachRunning
        );
        assert_eq!(
            msg,
            "timed out waiting for job foo:1:abc to reach state RUNNING (terminal job state \
             FAILED, previous states: ) container error: oom"
        );
        let (kind, msg) = timed_out_waiting_for_running(
            &id,
            State::PullingImage,
            &[State::PullingImage],
            ThrottleState::ImageMissing,
            "ignored",
        );
        assert_eq!(kind, RollingUpdateError::ImageMissing);
        assert_eq!(
            msg,
            "timed out waiting for job foo:1:abc to reach state RUNNING due to missing Docker \
             image (terminal job state PULLING_IMAGE, previous states: PULLING_IMAGE)"
        );
        let (kind, msg) = timed_out_waiting_for_running(
            &id,
            State::PullingImage,
            &[],
            ThrottleState::ImagePullFailed,
            "",
        );
        assert_eq!(kind, RollingUpdateError::ImagePullFailed);
        assert!(
            msg.contains("RUNNING due to failure pulling Docker image (terminal"),
            "{msg}"
        );
    }
}
