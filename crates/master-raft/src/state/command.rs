//! Replicated commands and their results.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use helios_api::{AgentInfo, Deployment, DeploymentGroup, Goal, HostInfo, Job, RolloutOptions};
use serde::{Deserialize, Serialize};

/// A change to the replicated state, proposed by the leader. Times are stamped by the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    /// Sets the cluster id if it is not set yet.
    InitCluster {
        /// A random id chosen by the leader.
        cluster_id: String,
    },
    /// Creates a job. `created` and the hash are filled in by the leader.
    CreateJob {
        /// The validated job with its full id. Shared: `apply` takes the command from a copy
        /// of the log entry the store's tail keeps, which then copies no job; and small
        /// inline, so that every log entry is.
        job: Arc<Job>,
    },
    /// Removes a job that is deployed nowhere, if the token matches; also its history.
    RemoveJob {
        /// Full job id.
        id: String,
        /// The token the caller gave (`""` when none).
        token: String,
    },
    /// Registers a host name with an agent id (`PUT /hosts/{host}?id=`); an existing host
    /// keeps its deployments.
    RegisterHost {
        /// Host name.
        name: String,
        /// Agent id.
        id: String,
        /// Leader clock (epoch ms).
        now_ms: i64,
    },
    /// An agent opened a session: registers or updates the host and marks it UP. A different
    /// agent id takes the name over (the dispatcher checked the old one is not alive): its
    /// task statuses are dropped, its deployments kept.
    AgentUp {
        /// Host name.
        name: String,
        /// Agent id.
        id: String,
        /// Host labels.
        labels: BTreeMap<String, String>,
        /// Agent environment.
        env: BTreeMap<String, String>,
        /// Host facts.
        host_info: Option<HostInfo>,
        /// Agent facts.
        agent_info: Option<AgentInfo>,
        /// Leader clock (epoch ms).
        now_ms: i64,
        /// The serial of the agent's certificate, with security on (absent from entries of
        /// earlier versions): `helios deregister` revokes it.
        #[serde(default)]
        cert_serial: Option<String>,
        /// The IP address the agent's session came from (absent from entries of earlier
        /// versions): the A record of the host in the masters' DNS.
        #[serde(default)]
        address: Option<String>,
    },
    /// Fresh host and agent facts (sent every minute by agents).
    UpdateHostInfo {
        /// Host name.
        name: String,
        /// Host facts.
        host_info: Option<HostInfo>,
        /// Agent facts.
        agent_info: Option<AgentInfo>,
    },
    /// Hosts whose agents missed their heartbeats.
    HostsDown {
        /// Host names.
        names: Vec<String>,
        /// Leader clock (epoch ms).
        now_ms: i64,
    },
    /// Removes a host with its deployments, port reservations, statuses and history.
    DeregisterHost {
        /// Host name.
        name: String,
        /// Leader clock (epoch ms), for the rollouts the host's departure starts (absent
        /// from entries of earlier versions).
        #[serde(default)]
        now_ms: i64,
    },
    /// [`Command::DeregisterHost`] for the dead-agent reaper: only if the host is still DOWN
    /// since the time the reaper judged it by, so an agent that came back meanwhile keeps its
    /// host.
    DeregisterDeadHost {
        /// Host name.
        name: String,
        /// The host's `status_changed_ms` when the reaper found it DOWN.
        down_since_ms: i64,
        /// Leader clock (epoch ms), for the rollouts the host's departure starts (absent
        /// from entries of earlier versions).
        #[serde(default)]
        now_ms: i64,
    },
    /// Deploys a job to a host.
    Deploy {
        /// Host name.
        host: String,
        /// The deployment (job id, goal, deployer).
        deployment: Deployment,
        /// The caller's token.
        token: String,
    },
    /// Changes the goal of a deployment.
    SetGoal {
        /// Host name.
        host: String,
        /// Full job id.
        job: String,
        /// The new goal.
        goal: Goal,
        /// The caller's token.
        token: String,
    },
    /// Removes a deployment (the agent stops the container).
    Undeploy {
        /// Host name.
        host: String,
        /// Full job id.
        job: String,
        /// The caller's token.
        token: String,
    },
    /// Task status changes reported by agents, batched by the leader.
    ReportStatuses {
        /// The changes, in the order they were received.
        updates: Vec<StatusUpdate>,
    },
    /// Creates a deployment group, unless one with this name exists.
    CreateDeploymentGroup {
        /// The group: a name and host selectors.
        group: DeploymentGroup,
    },
    /// Removes a deployment group; the deployments it made stay (as in Helios).
    RemoveDeploymentGroup {
        /// The group's name.
        name: String,
    },
    /// Starts a rolling update of a group to a job: stores the job and options on the group
    /// and plans a rollout over its UP hosts (see [`super::rollouts`]).
    RollingUpdate {
        /// The group's name.
        name: String,
        /// Full job id.
        job: String,
        /// The request's options (resolved when applied: request → job → defaults).
        options: Option<RolloutOptions>,
        /// The master asked (the `deployerMaster` of the rollout's deployments).
        master: String,
        /// Leader clock (epoch ms).
        now_ms: i64,
    },
    /// Runs a group's rollout on from step `task_index` of run `run`, if it still stands
    /// there: proposed by the leader's rollout engine when what the step waits for is applied
    /// or the step timed out.
    AdvanceRollout {
        /// The group's name.
        name: String,
        /// The run's id (log index of the command that started it).
        run: u64,
        /// The step the proposer saw waiting.
        task_index: usize,
        /// The proposing master.
        master: String,
        /// Leader clock (epoch ms).
        now_ms: i64,
    },
    /// Stops a group's rollout: FAILED with `Stopped by user`.
    StopDeploymentGroup {
        /// The group's name.
        name: String,
    },
    /// Creates an API token (its hash; the token itself is never replicated).
    CreateApiToken {
        /// The token, stamped by the leader.
        token: super::ApiToken,
    },
    /// Creates the cluster's first admin token, unless one was created before.
    BootstrapApiTokens {
        /// The token, stamped by the leader that runs with security on.
        token: super::ApiToken,
    },
    /// Revokes an API token (not the last admin token).
    RevokeApiToken {
        /// The token's id, or else its name.
        id_or_name: String,
    },
    /// Sets the cluster's CA and join secrets, unless it has them.
    InitPki {
        /// Made by the leader.
        pki: super::ClusterPki,
    },
    /// Replaces the join secret of a role (`agent` or `master`).
    RotateJoinSecret {
        /// `agent` or `master`.
        role: String,
        /// The new secret.
        secret: super::Secret,
    },
    /// A client's write with its idempotency key: applied only if the key is new, else
    /// answered with the key's first result (see [`super::idempotency`]).
    Idempotent {
        /// The idempotency key.
        key: String,
        /// The fingerprint of the request the key came with.
        fingerprint: String,
        /// Leader clock (epoch ms), for the table's age bound.
        now_ms: i64,
        /// The write itself.
        command: Box<Command>,
    },
    /// Host `host`'s agent renewed its certificate: a session may open with the certificate
    /// of serial `serial` besides the one in force, and doing so retires the old one.
    CertificateRenewed {
        /// The host.
        host: String,
        /// The serial of the certificate the agent renewed with.
        presented: String,
        /// The new certificate's serial, hex.
        serial: String,
    },
    /// The master with Raft id `id` is being removed from the cluster (`helios masters
    /// remove`): it may not take part again, and its id is not given to a new member.
    MasterRemoved {
        /// Its Raft id.
        id: u64,
        /// Its name and when it was removed.
        master: super::RemovedMaster,
    },
    /// Keep this many task history events per job and host (the leader's `--history-limit`).
    SetHistoryLimit {
        /// Events kept; at least one.
        limit: u32,
    },
}

/// One task status change of one host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// Host name.
    pub host: String,
    /// Full job id.
    pub job: String,
    /// The new status, without its job (see [`super::StoredStatus`]); `None` when the
    /// task is gone from the agent.
    pub status: Option<super::StoredStatus>,
    /// When the change happened on the agent (epoch ms).
    pub timestamp: i64,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::InitCluster { cluster_id } => write!(f, "init-cluster {cluster_id}"),
            Command::CreateJob { job } => match &job.id {
                Some(id) => write!(f, "create-job {id}"),
                None => write!(f, "create-job (no id)"),
            },
            Command::RemoveJob { id, .. } => write!(f, "remove-job {id}"),
            Command::RegisterHost { name, id, .. } => write!(f, "register-host {name} {id}"),
            Command::AgentUp { name, id, .. } => write!(f, "agent-up {name} {id}"),
            Command::UpdateHostInfo { name, .. } => write!(f, "host-info {name}"),
            Command::HostsDown { names, .. } => write!(f, "hosts-down {names:?}"),
            Command::DeregisterHost { name, .. } => write!(f, "deregister-host {name}"),
            Command::DeregisterDeadHost {
                name,
                down_since_ms,
                ..
            } => write!(
                f,
                "deregister-dead-host {name} (down since {down_since_ms})"
            ),
            Command::Deploy {
                host, deployment, ..
            } => {
                write!(f, "deploy {} on {host}", deployment.job_id)
            }
            Command::SetGoal {
                host, job, goal, ..
            } => write!(f, "set-goal {job} on {host} {goal:?}"),
            Command::Undeploy { host, job, .. } => write!(f, "undeploy {job} from {host}"),
            Command::ReportStatuses { updates } => write!(f, "statuses ({})", updates.len()),
            Command::CreateDeploymentGroup { group } => {
                write!(f, "create-deployment-group {}", group.name)
            }
            Command::RemoveDeploymentGroup { name } => write!(f, "remove-deployment-group {name}"),
            Command::RollingUpdate { name, job, .. } => write!(f, "rolling-update {name} to {job}"),
            Command::AdvanceRollout {
                name,
                run,
                task_index,
                ..
            } => write!(f, "advance-rollout {name} run {run} step {task_index}"),
            Command::StopDeploymentGroup { name } => write!(f, "stop-deployment-group {name}"),
            Command::CreateApiToken { token } => {
                write!(f, "create-api-token {} ({})", token.name, token.role)
            }
            Command::BootstrapApiTokens { token } => {
                write!(f, "bootstrap-api-tokens {}", token.name)
            }
            Command::RevokeApiToken { id_or_name } => write!(f, "revoke-api-token {id_or_name}"),
            Command::InitPki { .. } => write!(f, "init-pki"),
            Command::RotateJoinSecret { role, .. } => write!(f, "rotate-join-secret {role}"),
            Command::Idempotent { key, command, .. } => write!(f, "{command} (key {key})"),
            Command::CertificateRenewed { host, serial, .. } => {
                write!(f, "certificate-renewed {host} {serial}")
            }
            Command::MasterRemoved { id, master } => {
                write!(f, "master-removed {} (id {id})", master.name)
            }
            Command::SetHistoryLimit { limit } => write!(f, "set-history-limit {limit}"),
        }
    }
}

/// The outcome of a command, the same on every member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    /// Entries that are not commands (blank, membership), and commands that cannot fail.
    #[default]
    None,
    /// The cluster id in force after the command.
    ClusterId(String),
    /// The job was created.
    JobCreated {
        /// Its full id.
        id: String,
    },
    /// A job with this id, or this name and version, exists.
    JobAlreadyExists {
        /// The id that was asked for.
        id: String,
    },
    /// Done.
    Ok,
    /// No job has this id.
    JobNotFound,
    /// No host has this name.
    HostNotFound,
    /// The token does not match the job's.
    Forbidden,
    /// The job is deployed somewhere.
    StillInUse,
    /// The job is already deployed on the host.
    JobAlreadyDeployed,
    /// The job is not deployed on the host.
    JobNotDeployed,
    /// A static external port of the job is reserved on the host by another job.
    PortConflict {
        /// The port.
        port: i32,
    },
    /// The host is UP, or went UP and DOWN again, since the caller judged it DOWN.
    HostNotDown,
    /// The idempotency key was first used with a different request.
    IdempotencyKeyReused,
    /// The deployment group was created.
    DeploymentGroupCreated,
    /// A deployment group with this name and the same selectors exists.
    DeploymentGroupNotModified,
    /// A deployment group with this name and other selectors exists.
    DeploymentGroupConflict,
    /// No deployment group has this name.
    DeploymentGroupNotFound,
    /// The rollout step was run already (or the rollout ended, or another one started).
    RolloutStale,
    /// The API token was created.
    ApiTokenCreated {
        /// Its id.
        id: String,
    },
    /// An API token with this name exists.
    ApiTokenNameTaken,
    /// The first admin token was created before.
    ApiTokensAlreadyBootstrapped,
    /// No API token has this id or name.
    ApiTokenNotFound,
    /// The API token is the only admin token left, so it stays.
    LastAdminToken,
    /// The API token was revoked.
    ApiTokenRevoked {
        /// Its id.
        id: String,
    },
    /// The cluster has no CA (security was never on), or the role is unknown.
    PkiMissing,
}
