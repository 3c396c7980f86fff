//! The container runtime seen by the agent: the [`ContainerRuntime`] trait, its
//! runtime-neutral types, and the one implementation over the Docker engine
//! ([`docker::DockerRuntime`]). Only `docker.rs` uses bollard; supervisors, the reaper and the
//! health checks see this trait only, so a fake can stand in for scale simulations.
//!
//! What goes into a container (name, labels, env, ports, mounts) is decided in [`spec`],
//! without I/O.

pub mod docker;
pub mod fake;
pub mod spec;

use std::collections::BTreeMap;

use async_trait::async_trait;
use helios_api::DockerVersion;

pub use spec::ContainerSpec;

/// Why a runtime call failed; supervisors turn these into `FAILED` statuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// The engine cannot be reached (not started, socket missing, restarting).
    #[error("Docker engine unreachable: {0}")]
    Unreachable(String),
    /// The image is neither local nor pullable.
    #[error("image not found: {0}")]
    ImageNotFound(String),
    /// Pulling the image did not finish in time.
    #[error("image pull timed out: {0}")]
    PullTimedOut(String),
    /// The container does not exist (any more).
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    /// Any other error reported by the engine.
    #[error("{0}")]
    Engine(String),
}

/// What the agent needs to know about one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Full container id.
    pub id: String,
    /// Name with Docker's leading `/`.
    pub name: String,
    /// Whether its process runs.
    pub running: bool,
    /// Exit code once it has exited.
    pub exit_code: Option<i64>,
    /// Docker's `State.Error` (why it failed to start), `""` if none.
    pub error: String,
    /// The container's labels.
    pub labels: BTreeMap<String, String>,
    /// The default bridge gateway of the container's network, if any.
    pub gateway: Option<String>,
}

/// One entry of a container listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSummary {
    /// Full container id.
    pub id: String,
    /// Names, each with Docker's leading `/`.
    pub names: Vec<String>,
    /// Whether it runs.
    pub running: bool,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Creation time, epoch seconds.
    pub created: i64,
}

/// The operations the agent performs on containers and images.
///
/// Every call is bounded in time by the implementation except [`wait_exit`], which lasts
/// as long as the container runs.
///
/// [`wait_exit`]: ContainerRuntime::wait_exit
#[async_trait]
pub trait ContainerRuntime: Send + Sync + 'static {
    /// Waits until the engine answers (it may be down when the agent starts).
    async fn ready(&self);

    /// The engine's version, for `HostInfo.dockerVersion`.
    async fn version(&self) -> Result<DockerVersion, RuntimeError>;

    /// Whether the image exists locally.
    async fn image_present(&self, image: &str) -> Result<bool, RuntimeError>;

    /// Pulls the image from its registry.
    async fn pull_image(&self, image: &str) -> Result<(), RuntimeError>;

    /// Creates (without starting) a container; returns its id.
    async fn create(&self, spec: &ContainerSpec) -> Result<String, RuntimeError>;

    /// Starts a created container.
    async fn start(&self, id: &str) -> Result<(), RuntimeError>;

    /// Inspects a container; `Ok(None)` when it does not exist.
    async fn inspect(&self, id: &str) -> Result<Option<ContainerInfo>, RuntimeError>;

    /// Resolves when the container is not running any more, with its exit code.
    async fn wait_exit(&self, id: &str) -> Result<i64, RuntimeError>;

    /// `docker stop -t <timeout_secs>`: SIGTERM, then SIGKILL after the timeout.
    async fn stop(&self, id: &str, timeout_secs: u32) -> Result<(), RuntimeError>;

    /// `docker kill`: SIGKILL.
    async fn kill(&self, id: &str) -> Result<(), RuntimeError>;

    /// Removes a stopped container.
    async fn remove(&self, id: &str) -> Result<(), RuntimeError>;

    /// Lists containers (`all` includes stopped ones) carrying every label in `labels`
    /// (`key=value` or just `key`).
    async fn list(
        &self,
        all: bool,
        labels: &[String],
    ) -> Result<Vec<ContainerSummary>, RuntimeError>;

    /// Runs `cmd` in a running container and returns its exit code.
    async fn exec(&self, id: &str, cmd: &[String]) -> Result<i64, RuntimeError>;
}
