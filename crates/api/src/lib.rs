//! `helios-api`: the Helios data model shared by every crate of the workspace.
//!
//! * [`model`]: the JSON wire types (job, job id, deployment, task/host status, REST
//!   responses), byte-compatible with Helios 0.9.
//! * [`hash`]: the job-id hash, computed exactly as Helios does, so a job file gets the same
//!   id here and in Helios.
//! * [`validate`]: the job validator, reporting every problem with Helios's messages.
//! * [`secrets`]: hiding the env values a job marks secret from callers that may only read.
//!
//! Invariant: this crate does no I/O and has no async code (except, behind the `grpc` feature,
//! the typed client of the public API in [`client`]); it must stay fast to compile.

#![warn(missing_docs)]

pub mod backup_file;
pub mod error_text;
pub mod hash;
#[cfg(feature = "http")]
pub mod http_client;
pub mod idempotency;
pub mod model;
pub mod secrets;
pub mod validate;

pub use model::date::{format_jackson as format_jackson_date, parse_lenient as parse_date};
pub use model::deployment::{Deployment, Goal};
pub use model::deployment_group::{
    DeploymentGroup, DeploymentGroupState, DeploymentGroupStatus, DeploymentGroupTasks,
    RollingUpdateReason, RolloutAction, RolloutTask, RolloutTaskStatus,
};
pub use model::deployment_group_responses::{
    CreateDeploymentGroupResponse, CreateDeploymentGroupStatus, DeploymentGroupHostStatus,
    DeploymentGroupStatusResponse, DeploymentGroupStatusResponseStatus,
    RemoveDeploymentGroupResponse, RemoveDeploymentGroupStatus, RollingUpdateCliOutput,
    RollingUpdateCliStatus, RollingUpdateRequest, RollingUpdateResponse, RollingUpdateStatus,
};
pub use model::health_check::HealthCheck;
pub use model::host::{AgentInfo, DockerVersion, HostInfo, HostStatus, Status};
pub use model::host_selector::{HostSelector, Operator};
pub use model::job::{DEFAULT_SECONDS_TO_WAIT_BEFORE_KILL, Job};
pub use model::job_id::{JobId, JobIdParseError};
pub use model::port_mapping::{InvalidIpError, PortMapping};
pub use model::resources::Resources;
pub use model::responses::{
    CreateJobResponse, CreateJobStatus, ErrorBody, HostDeregisterResponse, HostDeregisterStatus,
    HostJobResponse, HostRegisterResponse, HostRegisterStatus, JobDeleteResponse, JobDeleteStatus,
    JobDeployResponse, JobDeployStatus, JobStatus, JobUndeployResponse, JobUndeployStatus,
    SetGoalResponse, SetGoalStatus, VersionResponse,
};
pub use model::rolling_update_error::RollingUpdateError;
pub use model::rollout::{ResolvedRolloutOptions, RolloutOptions};
pub use model::service::{ServiceEndpoint, ServicePortParameters, ServicePorts};
pub use model::task_status::{
    ReportedTaskStatus, State, TaskStatus, TaskStatusEvent, TaskStatusEvents,
    TaskStatusEventsStatus, ThrottleState,
};
pub use validate::JobValidator;

/// Generated code of `proto/agent.proto`: the dispatcher protocol between agents and the
/// leading master (messages, the `Dispatcher` client and server).
#[cfg(feature = "grpc")]
pub mod pb {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("helios.agent.v1");
}

/// Generated code of `proto/helios.proto`: the public gRPC API `helios.v1` (messages, the
/// `Helios` client and server), whose messages carry Helios's objects typed; [`convert`]
/// converts them to and from the model, and [`client`] wraps the client with the model types.
#[cfg(feature = "grpc")]
pub mod v1 {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("helios.v1");

    /// The encoded `FileDescriptorSet` of `helios.proto`, for the gRPC reflection service.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("helios_v1_descriptor");
}

/// The same module under the name the dispatcher's `pb` suggests.
#[cfg(feature = "grpc")]
pub use v1 as pb_public;

#[cfg(feature = "grpc")]
pub mod client;

#[cfg(feature = "grpc")]
pub mod session_codec;

#[cfg(feature = "grpc")]
pub mod convert;
