//! What the master knows about an agent host (Helios's `HostStatus`, `HostInfo`,
//! `AgentInfo`, `DockerVersion`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::deployment::Deployment;
use super::job_id::JobId;
use super::null_as_default;
use super::task_status::TaskStatus;

/// Whether an agent is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// The agent's session is alive.
    Up,
    /// The agent is registered but not connected.
    Down,
}

/// The Docker engine an agent talks to (`docker version`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct DockerVersion {
    /// Docker API version.
    pub api_version: String,
    /// CPU architecture.
    pub arch: String,
    /// Git commit of the engine build.
    pub git_commit: String,
    /// Go version of the engine build.
    pub go_version: String,
    /// Kernel version of the host.
    pub kernel_version: String,
    /// Operating system.
    pub os: String,
    /// Engine version.
    pub version: String,
}

/// Facts about an agent's machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct HostInfo {
    /// CPU architecture.
    pub architecture: String,
    /// Number of CPUs.
    pub cpus: i32,
    /// `DOCKER_CERT_PATH`, if any.
    pub docker_cert_path: Option<String>,
    /// `unix://…` or `tcp://host:port`.
    pub docker_host: String,
    /// The Docker engine, when reachable.
    pub docker_version: Option<DockerVersion>,
    /// `uname -n`.
    pub hostname: String,
    /// One-minute load average.
    pub load_avg: f64,
    /// Free memory in bytes.
    pub memory_free_bytes: i64,
    /// Total memory in bytes.
    pub memory_total_bytes: i64,
    /// Operating system name.
    pub os_name: String,
    /// Operating system version.
    pub os_version: String,
    /// Free swap in bytes.
    pub swap_free_bytes: i64,
    /// Total swap in bytes.
    pub swap_total_bytes: i64,
    /// `uname -a`.
    pub uname: String,
}

/// Facts about the agent process (Helios reports JVM runtime data here).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct AgentInfo {
    /// Command-line arguments of the agent.
    pub input_arguments: Vec<String>,
    /// Process name, such as `pid@host`.
    pub name: String,
    /// Runtime specification name.
    pub spec_name: String,
    /// Runtime specification vendor.
    pub spec_vendor: String,
    /// Runtime specification version.
    pub spec_version: String,
    /// Agent start time, epoch milliseconds.
    pub start_time: i64,
    /// Agent uptime in milliseconds.
    pub uptime: i64,
    /// Agent (Helios) version.
    pub version: String,
    /// Runtime name.
    pub vm_name: String,
    /// Runtime vendor.
    pub vm_vendor: String,
    /// Runtime version.
    pub vm_version: String,
}

/// `GET /hosts/{host}/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HostStatus {
    /// Agent process facts, once reported.
    #[serde(default)]
    pub agent_info: Option<AgentInfo>,
    /// The agent's `--env`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub environment: BTreeMap<String, String>,
    /// Machine facts, once reported.
    #[serde(default)]
    pub host_info: Option<HostInfo>,
    /// Deployments on this host.
    #[serde(default, deserialize_with = "null_as_default")]
    pub jobs: BTreeMap<JobId, Deployment>,
    /// The agent's `--labels`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// Whether the agent is connected.
    pub status: Status,
    /// Task statuses reported by the agent.
    #[serde(default, deserialize_with = "null_as_default")]
    pub statuses: BTreeMap<JobId, TaskStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_status_round_trips() {
        let json = r#"{"agentInfo":null,"environment":{},"hostInfo":{"hostname":"h","cpus":2,"loadAvg":0.5,"dockerVersion":{"version":"27.0"}},"jobs":{"a:1":{"goal":"START","jobId":"a:1"}},"labels":{"role":"web"},"status":"UP","statuses":{}}"#;
        let status: HostStatus = serde_json::from_str(json).unwrap();
        assert_eq!(status.status, Status::Up);
        let info = status.host_info.as_ref().unwrap();
        assert_eq!(info.cpus, 2);
        assert_eq!(info.docker_version.as_ref().unwrap().version, "27.0");
        let again: HostStatus =
            serde_json::from_str(&serde_json::to_string(&status).unwrap()).unwrap();
        assert_eq!(again, status);
    }
}
