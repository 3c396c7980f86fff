//! Response bodies of the master's REST API (Helios's `common/protocol` classes), plus our
//! JSON error body.
//!
//! Status enums carry every value Helios defines, including ones only the CLI produces
//! (such as `AMBIGUOUS_JOB_REFERENCE`), so a client can decode anything a master sends.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::deployment::Deployment;
use super::job::Job;
use super::null_as_default;
use super::task_status::TaskStatus;

/// Outcome of `POST /jobs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CreateJobStatus {
    /// Created.
    Ok,
    /// The id does not match the job (CLI side).
    IdMismatch,
    /// A job with this id exists.
    JobAlreadyExists,
    /// Validation failed; see `errors`.
    InvalidJobDefinition,
    /// No job matches the reference (CLI only).
    UnknownJob,
    /// Several jobs match the reference (CLI only).
    AmbiguousJobReference,
}

/// `POST /jobs` response: `{"errors":[…],"id":"…","status":"OK"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreateJobResponse {
    /// Validation errors, sorted.
    #[serde(default, deserialize_with = "null_as_default")]
    pub errors: Vec<String>,
    /// The full job id (with hash).
    #[serde(default)]
    pub id: Option<String>,
    /// The outcome.
    pub status: CreateJobStatus,
}

/// Outcome of `DELETE /jobs/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobDeleteStatus {
    /// Removed.
    Ok,
    /// Still deployed on some host.
    StillInUse,
    /// No such job.
    JobNotFound,
    /// Wrong token.
    Forbidden,
}

/// `DELETE /jobs/{id}` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobDeleteResponse {
    /// The outcome.
    pub status: JobDeleteStatus,
}

/// Outcome of `PUT /hosts/{host}/jobs/{job}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobDeployStatus {
    /// Deployed.
    Ok,
    /// No such job.
    JobNotFound,
    /// A static external port is taken on the host.
    PortConflict,
    /// No such host.
    HostNotFound,
    /// The job is already deployed on the host.
    JobAlreadyDeployed,
    /// Body and path disagree.
    IdMismatch,
    /// The job id is not fully qualified.
    InvalidId,
    /// Several jobs match the reference (CLI only).
    AmbiguousJobReference,
    /// Wrong token.
    Forbidden,
}

/// Outcome of `DELETE /hosts/{host}/jobs/{job}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobUndeployStatus {
    /// Undeployed.
    Ok,
    /// The job is not deployed on the host.
    JobNotFound,
    /// No such host.
    HostNotFound,
    /// The job id is not fully qualified.
    InvalidId,
    /// Several jobs match the reference (CLI only).
    AmbiguousJobReference,
    /// Wrong token.
    Forbidden,
}

/// Outcome of `PATCH /hosts/{host}/jobs/{job}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SetGoalStatus {
    /// Goal changed.
    Ok,
    /// No such job.
    JobNotFound,
    /// No such host.
    HostNotFound,
    /// The job is not deployed on the host.
    JobNotDeployed,
    /// Body and path disagree.
    IdMismatch,
    /// The job id is not fully qualified.
    InvalidId,
    /// Several jobs match the reference (CLI only).
    AmbiguousJobReference,
    /// Wrong token.
    Forbidden,
}

/// A `{host, job, status}` response; see [`JobDeployResponse`], [`JobUndeployResponse`] and
/// [`SetGoalResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostJobResponse<S> {
    /// The host named in the request.
    #[serde(default)]
    pub host: Option<String>,
    /// The job id named in the request (as given).
    #[serde(default)]
    pub job: Option<String>,
    /// The outcome.
    pub status: S,
}

/// `PUT /hosts/{host}/jobs/{job}` response.
pub type JobDeployResponse = HostJobResponse<JobDeployStatus>;
/// `DELETE /hosts/{host}/jobs/{job}` response.
pub type JobUndeployResponse = HostJobResponse<JobUndeployStatus>;
/// `PATCH /hosts/{host}/jobs/{job}` response.
pub type SetGoalResponse = HostJobResponse<SetGoalStatus>;

impl<S> HostJobResponse<S> {
    /// A response naming the host and job of the request.
    pub fn new(status: S, host: impl Into<String>, job: impl Into<String>) -> Self {
        HostJobResponse {
            host: Some(host.into()),
            job: Some(job.into()),
            status,
        }
    }
}

/// Outcome of `PUT /hosts/{host}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HostRegisterStatus {
    /// Registered.
    Ok,
    /// The `id` query parameter was empty.
    InvalidId,
}

/// `PUT /hosts/{host}` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostRegisterResponse {
    /// The host.
    pub host: String,
    /// The outcome.
    pub status: HostRegisterStatus,
}

/// Outcome of `DELETE /hosts/{host}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HostDeregisterStatus {
    /// Deregistered (deployments are removed too).
    Ok,
    /// No such host.
    NotFound,
    /// Defined by Helios but never produced.
    JobsStillDeployed,
}

/// `DELETE /hosts/{host}` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostDeregisterResponse {
    /// The host.
    pub host: String,
    /// The outcome.
    pub status: HostDeregisterStatus,
}

/// `GET /jobs/{id}/status`: the job, its deployments and task statuses by host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// Deployments by host.
    #[serde(default, deserialize_with = "null_as_default")]
    pub deployments: BTreeMap<String, Deployment>,
    /// The job.
    pub job: Job,
    /// Task statuses by host.
    #[serde(default, deserialize_with = "null_as_default")]
    pub task_statuses: BTreeMap<String, TaskStatus>,
}

/// The CLI's `version` output: client and master versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VersionResponse {
    /// The CLI's version.
    pub client_version: String,
    /// The master's version, or an explanation when it could not be reached.
    pub master_version: String,
}

/// Our JSON error body: `{"message":"…","status":"…"}` (DESIGN §5: every error is JSON and
/// names the problem).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Human-readable explanation.
    pub message: String,
    /// Machine-readable code, such as `NO_LEADER` or `INVALID_ID`.
    pub status: String,
}

impl ErrorBody {
    /// An error body from a code and a message.
    pub fn new(status: impl Into<String>, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            message: message.into(),
            status: status.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_helios() {
        let create = CreateJobResponse {
            errors: vec![],
            id: Some("a:1:h".into()),
            status: CreateJobStatus::Ok,
        };
        assert_eq!(
            serde_json::to_string(&create).unwrap(),
            r#"{"errors":[],"id":"a:1:h","status":"OK"}"#
        );
        let deploy = JobDeployResponse::new(JobDeployStatus::PortConflict, "h1", "a:1:h");
        assert_eq!(
            serde_json::to_string(&deploy).unwrap(),
            r#"{"host":"h1","job":"a:1:h","status":"PORT_CONFLICT"}"#
        );
        let delete = JobDeleteResponse {
            status: JobDeleteStatus::StillInUse,
        };
        assert_eq!(
            serde_json::to_string(&delete).unwrap(),
            r#"{"status":"STILL_IN_USE"}"#
        );
        let dereg: HostDeregisterResponse =
            serde_json::from_str(r#"{"host":"h","status":"NOT_FOUND"}"#).unwrap();
        assert_eq!(dereg.status, HostDeregisterStatus::NotFound);
        let err = ErrorBody::new("NO_LEADER", "no leader elected");
        assert_eq!(
            serde_json::to_string(&err).unwrap(),
            r#"{"message":"no leader elected","status":"NO_LEADER"}"#
        );
    }
}
