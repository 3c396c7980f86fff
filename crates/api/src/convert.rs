//! Conversions between the helios-api model ([`crate::model`]) and the typed messages of the
//! public gRPC API ([`crate::v1`]): `From<model>` (and `From<&model>`) for the message, and
//! `TryFrom<message>` for the model, for jobs and their parts, deployments, task statuses and
//! their history, job statuses, host statuses, deployment groups (their host selectors, stored
//! rollout status, and the status view of `GET /deployment-group/{name}/status`), and the host
//! records a watch reports ([`HostRecord`], which has no Helios JSON form).
//!
//! A model value converted to its message and back is the same value, so its Helios JSON is
//! unchanged (the tests check this on every fixture under `tests/fixtures/`). The exceptions:
//! a port mapping whose `protocol` is `""` comes back as `tcp`, as a missing protocol does in
//! Helios's JSON; and a host selector whose JSON `operand` has the other shape than its
//! operator takes (a list for `EQUALS`/`NOT_EQUALS`, a string for `IN`/`NOT_IN`, which no
//! selector string parses to) comes back in its operator's shape, or is refused when an
//! `EQUALS`/`NOT_EQUALS` list does not hold exactly one value.
//!
//! The model-to-message direction cannot fail. The other direction refuses what Helios's JSON
//! could not say, with a [`ConvertError`] naming the field by its path in the message (such as
//! `host_status.jobs["foo:1"].goal`): an enum value out of range or UNSPECIFIED where Helios
//! requires a value (or where an `optional` enum is present), a malformed job id, a required
//! message left out, an `ip` that is not an IP literal, an `expires_ms` out of range, a health
//! check of no kind, two map keys that name the same job id or service endpoint, an `EQUALS`
//! or `NOT_EQUALS` selector without exactly one operand.
//!
//! Every conversion destructures its structs completely, so a field added to a model type or
//! to a message does not compile until it is converted here. What this module does not do:
//! check a job the way [`crate::validate`] does, or compute its hash ([`crate::hash`]).
//!
//! The enum conversions from the model to the messages (`Goal`, `State`, `ThrottleState`,
//! `Status`) and `TryFrom<v1::Goal> for Goal` live in [`crate::client`]; this module uses
//! them. Those of the history status and of deployment groups are here.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use crate::model::date;
use crate::model::host_selector::Operand;
use crate::model::service::ServiceEndpoint;
use crate::v1;
use crate::{
    AgentInfo, CreateDeploymentGroupStatus, Deployment, DeploymentGroup, DeploymentGroupHostStatus,
    DeploymentGroupState, DeploymentGroupStatus, DeploymentGroupStatusResponse,
    DeploymentGroupStatusResponseStatus, DockerVersion, Goal, HealthCheck, HostInfo, HostSelector,
    HostStatus, Job, JobId, JobStatus, Operator, PortMapping, Resources, RollingUpdateReason,
    RolloutOptions, ServicePortParameters, ServicePorts, State, Status, TaskStatus,
    TaskStatusEvent, TaskStatusEvents, TaskStatusEventsStatus, ThrottleState,
};

/// A message that does not describe a model value: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConvertError {
    /// The field's path in the message, from the converted message's name (snake_case)
    /// through field names, map keys (`["key"]`) and list indexes (`[3]`).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A registered host as a watch reports it (`v1::HostRecord`): the agent id registered under
/// the host's name, whether the agent is connected, and what it reported about itself. The
/// host's deployments and task statuses are objects of their own in a watch.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRecord {
    /// The agent id registered under the name.
    pub agent_id: String,
    /// UP while the agent holds a session and sends heartbeats.
    pub status: Status,
    /// When `status` last changed (epoch ms, the leader's clock).
    pub status_changed_ms: i64,
    /// The agent's `--labels`.
    pub labels: BTreeMap<String, String>,
    /// The agent's `--env`.
    pub environment: BTreeMap<String, String>,
    /// Host facts, once reported.
    pub host_info: Option<HostInfo>,
    /// Agent facts, once reported.
    pub agent_info: Option<AgentInfo>,
}

/// Where a field is, built on the stack as the conversion descends, printed only on error.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root(&'static str),
    Field(&'a Path<'a>, &'static str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    fn field(&'a self, name: &'static str) -> Path<'a> {
        Path::Field(self, name)
    }

    fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }

    fn index(&'a self, index: usize) -> Path<'a> {
        Path::Index(self, index)
    }

    fn error(&self, reason: impl Into<String>) -> ConvertError {
        ConvertError {
            field: self.to_string(),
            reason: reason.into(),
        }
    }

    /// The error for a message field left out that the model requires.
    fn missing(&self) -> ConvertError {
        self.error("missing (required)")
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root(name) => f.write_str(name),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
            Path::Key(parent, key) => write!(f, "{parent}[{key:?}]"),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// The message-to-model direction, with the path of the message for errors.
trait FromProto<P>: Sized {
    fn from_proto(p: P, at: Path<'_>) -> Result<Self, ConvertError>;
}

/// Converts an optional message field.
fn opt<P, M: FromProto<P>>(p: Option<P>, at: Path<'_>) -> Result<Option<M>, ConvertError> {
    p.map(|p| M::from_proto(p, at)).transpose()
}

/// Converts a message field the model requires.
fn required<P, M: FromProto<P>>(p: Option<P>, at: Path<'_>) -> Result<M, ConvertError> {
    M::from_proto(p.ok_or_else(|| at.missing())?, at)
}

/// Converts a map whose keys are kept as strings.
fn map_of<P, M: FromProto<P>>(
    p: HashMap<String, P>,
    at: Path<'_>,
) -> Result<BTreeMap<String, M>, ConvertError> {
    p.into_iter()
        .map(|(k, v)| {
            let m = M::from_proto(v, at.key(&k))?;
            Ok((k, m))
        })
        .collect()
}

/// Converts a map whose string keys parse to `K`, refusing two keys that parse to the same
/// `K` (which a `HashMap`'s order would otherwise settle at random).
fn map_parsed<K: Ord + fmt::Display, P, M: FromProto<P>>(
    p: HashMap<String, P>,
    at: Path<'_>,
    parse: impl Fn(&str) -> Result<K, String>,
) -> Result<BTreeMap<K, M>, ConvertError> {
    let mut out = BTreeMap::new();
    for (k, v) in p {
        let key_at = at.key(&k);
        let key = parse(&k).map_err(|reason| key_at.error(reason))?;
        let value = M::from_proto(v, key_at)?;
        if out.contains_key(&key) {
            return Err(key_at.error(format!("names {key}, as another key does")));
        }
        out.insert(key, value);
    }
    Ok(out)
}

/// Converts a `BTreeMap` to a message map, converting the values.
fn to_map<K: ToString, M, P: From<M>>(m: BTreeMap<K, M>) -> HashMap<String, P> {
    m.into_iter()
        .map(|(k, v)| (k.to_string(), P::from(v)))
        .collect()
}

/// Implements `From<&Model>` for a message by cloning.
macro_rules! from_ref {
    ($($model:ty => $proto:ty),* $(,)?) => {$(
        impl From<&$model> for $proto {
            fn from(m: &$model) -> Self {
                <$proto>::from(m.clone())
            }
        }
    )*};
}

/// Implements `TryFrom<Message>` for a model type, with the message's name as the path root.
macro_rules! try_from_proto {
    ($($proto:ty => $model:ty as $root:literal),* $(,)?) => {$(
        impl TryFrom<$proto> for $model {
            type Error = ConvertError;

            fn try_from(p: $proto) -> Result<Self, ConvertError> {
                <$model>::from_proto(p, Path::Root($root))
            }
        }
    )*};
}

from_ref! {
    JobId => v1::JobId,
    PortMapping => v1::PortMapping,
    HealthCheck => v1::HealthCheck,
    ServicePortParameters => v1::ServicePortParameters,
    ServicePorts => v1::ServicePorts,
    Resources => v1::Resources,
    RolloutOptions => v1::RolloutOptions,
    Job => v1::Job,
    Deployment => v1::Deployment,
    TaskStatus => v1::TaskStatus,
    TaskStatusEvent => v1::TaskStatusEvent,
    TaskStatusEvents => v1::TaskStatusEvents,
    JobStatus => v1::JobStatus,
    DockerVersion => v1::DockerVersion,
    HostInfo => v1::HostInfo,
    AgentInfo => v1::AgentInfo,
    HostStatus => v1::HostStatus,
    HostRecord => v1::HostRecord,
    HostSelector => v1::HostSelector,
    DeploymentGroup => v1::DeploymentGroup,
    DeploymentGroupStatus => v1::DeploymentGroupStatus,
    DeploymentGroupHostStatus => v1::DeploymentGroupHostStatus,
    DeploymentGroupStatusResponse => v1::DeploymentGroupStatusResponse,
}

try_from_proto! {
    v1::JobId => JobId as "job_id",
    v1::PortMapping => PortMapping as "port_mapping",
    v1::HealthCheck => HealthCheck as "health_check",
    v1::ServicePortParameters => ServicePortParameters as "service_port_parameters",
    v1::ServicePorts => ServicePorts as "service_ports",
    v1::Resources => Resources as "resources",
    v1::RolloutOptions => RolloutOptions as "rollout_options",
    v1::Job => Job as "job",
    v1::Deployment => Deployment as "deployment",
    v1::TaskStatus => TaskStatus as "task_status",
    v1::TaskStatusEvent => TaskStatusEvent as "task_status_event",
    v1::TaskStatusEvents => TaskStatusEvents as "task_status_events",
    v1::JobStatus => JobStatus as "job_status",
    v1::DockerVersion => DockerVersion as "docker_version",
    v1::HostInfo => HostInfo as "host_info",
    v1::AgentInfo => AgentInfo as "agent_info",
    v1::HostStatus => HostStatus as "host_status",
    v1::HostRecord => HostRecord as "host_record",
    v1::HostSelector => HostSelector as "host_selector",
    v1::DeploymentGroup => DeploymentGroup as "deployment_group",
    v1::DeploymentGroupStatus => DeploymentGroupStatus as "deployment_group_status",
    v1::DeploymentGroupHostStatus => DeploymentGroupHostStatus as "deployment_group_host_status",
    v1::DeploymentGroupStatusResponse => DeploymentGroupStatusResponse
        as "deployment_group_status_response",
}

// Enums. The model-to-message ones (except the history status) are in `crate::client`.

/// The error for an enum value the message's enum does not define.
fn unknown_enum(at: Path<'_>, value: i32) -> ConvertError {
    at.error(format!("unknown enum value {value}"))
}

fn goal(value: i32, at: Path<'_>) -> Result<Goal, ConvertError> {
    let g = v1::Goal::try_from(value).map_err(|_| unknown_enum(at, value))?;
    Goal::try_from(g).map_err(|reason| at.error(reason))
}

fn task_state(value: i32, at: Path<'_>) -> Result<State, ConvertError> {
    use v1::TaskState as P;
    Ok(
        match P::try_from(value).map_err(|_| unknown_enum(at, value))? {
            P::PullingImage => State::PullingImage,
            P::Creating => State::Creating,
            P::Starting => State::Starting,
            P::Healthchecking => State::Healthchecking,
            P::Running => State::Running,
            P::Exited => State::Exited,
            P::Stopping => State::Stopping,
            P::Stopped => State::Stopped,
            P::Failed => State::Failed,
            P::Unknown => State::Unknown,
            P::Unspecified => return Err(at.error("no state given")),
        },
    )
}

/// UNSPECIFIED is `NO`, as a missing `throttled` in Helios's JSON.
fn throttle_state(value: i32, at: Path<'_>) -> Result<ThrottleState, ConvertError> {
    use v1::ThrottleState as P;
    Ok(
        match P::try_from(value).map_err(|_| unknown_enum(at, value))? {
            P::Unspecified | P::No => ThrottleState::No,
            P::Flapping => ThrottleState::Flapping,
            P::ImageMissing => ThrottleState::ImageMissing,
            P::ImagePullFailed => ThrottleState::ImagePullFailed,
        },
    )
}

fn host_state(value: i32, at: Path<'_>) -> Result<Status, ConvertError> {
    match v1::HostState::try_from(value).map_err(|_| unknown_enum(at, value))? {
        v1::HostState::Up => Ok(Status::Up),
        v1::HostState::Down => Ok(Status::Down),
        v1::HostState::Unspecified => Err(at.error("no host state given (UP or DOWN)")),
    }
}

impl From<TaskStatusEventsStatus> for v1::TaskStatusEventsStatus {
    fn from(s: TaskStatusEventsStatus) -> Self {
        match s {
            TaskStatusEventsStatus::Ok => v1::TaskStatusEventsStatus::Ok,
            TaskStatusEventsStatus::JobIdNotFound => v1::TaskStatusEventsStatus::JobIdNotFound,
        }
    }
}

fn events_status(value: i32, at: Path<'_>) -> Result<TaskStatusEventsStatus, ConvertError> {
    use v1::TaskStatusEventsStatus as P;
    match P::try_from(value).map_err(|_| unknown_enum(at, value))? {
        P::Ok => Ok(TaskStatusEventsStatus::Ok),
        P::JobIdNotFound => Ok(TaskStatusEventsStatus::JobIdNotFound),
        P::Unspecified => Err(at.error("no status given (OK or JOB_ID_NOT_FOUND)")),
    }
}

// Job ids.

impl From<JobId> for v1::JobId {
    fn from(id: JobId) -> Self {
        let canonical = id.to_string();
        let JobId {
            name,
            version,
            hash,
        } = id;
        v1::JobId {
            name,
            version,
            hash,
            canonical,
        }
    }
}

impl FromProto<v1::JobId> for JobId {
    /// From the parts when any is set (`canonical` must agree), else from `canonical`.
    fn from_proto(p: v1::JobId, at: Path<'_>) -> Result<JobId, ConvertError> {
        let v1::JobId {
            name,
            version,
            hash,
            canonical,
        } = p;
        if name.is_empty() && version.is_none() && hash.is_none() {
            if canonical.is_empty() {
                return Err(at.error("empty job id (neither parts nor canonical)"));
            }
            return JobId::parse_json_form(&canonical)
                .map_err(|e| at.field("canonical").error(e.to_string()));
        }
        for (part, field) in [
            (Some(&name), "name"),
            (version.as_ref(), "version"),
            (hash.as_ref(), "hash"),
        ] {
            if part.is_some_and(|p| p.contains(':')) {
                return Err(at.field(field).error(format!(
                    "malformed job id: {:?} contains ':'",
                    part.unwrap()
                )));
            }
        }
        let id = JobId {
            name,
            version,
            hash,
        };
        if !canonical.is_empty() && canonical != id.to_string() {
            return Err(at.field("canonical").error(format!(
                "{canonical:?} disagrees with name, version and hash ({id})"
            )));
        }
        Ok(id)
    }
}

/// Parses a job id map key as Helios's JSON does.
fn job_id_key(key: &str) -> Result<JobId, String> {
    JobId::parse_json_form(key).map_err(|e| e.to_string())
}

// Jobs and their parts.

impl From<PortMapping> for v1::PortMapping {
    fn from(p: PortMapping) -> Self {
        let PortMapping {
            external_port,
            internal_port,
            ip,
            protocol,
        } = p;
        v1::PortMapping {
            external_port,
            internal_port,
            ip,
            protocol,
        }
    }
}

impl FromProto<v1::PortMapping> for PortMapping {
    fn from_proto(p: v1::PortMapping, at: Path<'_>) -> Result<PortMapping, ConvertError> {
        let v1::PortMapping {
            external_port,
            internal_port,
            ip,
            protocol,
        } = p;
        if let Some(ip) = &ip
            && ip.parse::<IpAddr>().is_err()
        {
            let e = crate::InvalidIpError(ip.clone());
            return Err(at.field("ip").error(e.to_string()));
        }
        let protocol = if protocol.is_empty() {
            crate::model::port_mapping::TCP.to_string()
        } else {
            protocol
        };
        Ok(PortMapping {
            external_port,
            internal_port,
            ip,
            protocol,
        })
    }
}

impl From<HealthCheck> for v1::HealthCheck {
    fn from(h: HealthCheck) -> Self {
        use v1::health_check::Kind;
        let kind = match h {
            HealthCheck::Http { path, port } => Kind::Http(v1::HttpHealthCheck { path, port }),
            HealthCheck::Tcp { port } => Kind::Tcp(v1::TcpHealthCheck { port }),
            HealthCheck::Exec { command } => Kind::Exec(v1::ExecHealthCheck { command }),
        };
        v1::HealthCheck { kind: Some(kind) }
    }
}

impl FromProto<v1::HealthCheck> for HealthCheck {
    fn from_proto(p: v1::HealthCheck, at: Path<'_>) -> Result<HealthCheck, ConvertError> {
        use v1::health_check::Kind;
        let v1::HealthCheck { kind } = p;
        Ok(match kind {
            Some(Kind::Http(v1::HttpHealthCheck { path, port })) => {
                HealthCheck::Http { path, port }
            }
            Some(Kind::Tcp(v1::TcpHealthCheck { port })) => HealthCheck::Tcp { port },
            Some(Kind::Exec(v1::ExecHealthCheck { command })) => HealthCheck::Exec { command },
            None => {
                return Err(at
                    .field("kind")
                    .error("no health check kind given (http, tcp or exec)"));
            }
        })
    }
}

impl From<ServicePortParameters> for v1::ServicePortParameters {
    fn from(p: ServicePortParameters) -> Self {
        let ServicePortParameters { tags } = p;
        v1::ServicePortParameters {
            tags: tags.map(|values| v1::ServiceTags { values }),
        }
    }
}

impl FromProto<v1::ServicePortParameters> for ServicePortParameters {
    fn from_proto(p: v1::ServicePortParameters, _: Path<'_>) -> Result<Self, ConvertError> {
        let v1::ServicePortParameters { tags } = p;
        Ok(ServicePortParameters {
            tags: tags.map(|v1::ServiceTags { values }| values),
        })
    }
}

impl From<ServicePorts> for v1::ServicePorts {
    fn from(p: ServicePorts) -> Self {
        let ServicePorts { ports } = p;
        v1::ServicePorts {
            malformed: ports.is_none(),
            ports: ports.map(to_map).unwrap_or_default(),
        }
    }
}

impl FromProto<v1::ServicePorts> for ServicePorts {
    fn from_proto(p: v1::ServicePorts, at: Path<'_>) -> Result<ServicePorts, ConvertError> {
        let v1::ServicePorts { ports, malformed } = p;
        if malformed && !ports.is_empty() {
            return Err(at
                .field("malformed")
                .error("set on an entry that has ports"));
        }
        Ok(ServicePorts {
            ports: if malformed {
                None
            } else {
                Some(map_of(ports, at.field("ports"))?)
            },
        })
    }
}

impl From<Resources> for v1::Resources {
    fn from(r: Resources) -> Self {
        let Resources {
            cpu_shares,
            cpuset,
            memory,
            memory_swap,
        } = r;
        v1::Resources {
            cpu_shares,
            cpuset,
            memory,
            memory_swap,
        }
    }
}

impl FromProto<v1::Resources> for Resources {
    fn from_proto(p: v1::Resources, _: Path<'_>) -> Result<Resources, ConvertError> {
        let v1::Resources {
            cpu_shares,
            cpuset,
            memory,
            memory_swap,
        } = p;
        Ok(Resources {
            cpu_shares,
            cpuset,
            memory,
            memory_swap,
        })
    }
}

impl From<RolloutOptions> for v1::RolloutOptions {
    fn from(r: RolloutOptions) -> Self {
        let RolloutOptions {
            ignore_failures,
            migrate,
            overlap,
            parallelism,
            timeout,
            token,
        } = r;
        v1::RolloutOptions {
            ignore_failures,
            migrate,
            overlap,
            parallelism,
            timeout,
            token,
        }
    }
}

impl FromProto<v1::RolloutOptions> for RolloutOptions {
    fn from_proto(p: v1::RolloutOptions, _: Path<'_>) -> Result<RolloutOptions, ConvertError> {
        let v1::RolloutOptions {
            ignore_failures,
            migrate,
            overlap,
            parallelism,
            timeout,
            token,
        } = p;
        Ok(RolloutOptions {
            ignore_failures,
            migrate,
            overlap,
            parallelism,
            timeout,
            token,
        })
    }
}

impl From<Job> for v1::Job {
    fn from(job: Job) -> Self {
        let Job {
            add_capabilities,
            command,
            created,
            creating_user,
            drop_capabilities,
            env,
            expires,
            grace_period,
            health_check,
            hostname,
            id,
            image,
            labels,
            metadata,
            network_mode,
            ports,
            ramdisks,
            registration,
            registration_domain,
            resources,
            rollout_options,
            runtime,
            secret_env,
            seconds_to_wait_before_kill,
            security_opt,
            token,
            volumes,
        } = job;
        v1::Job {
            add_capabilities: add_capabilities.into_iter().collect(),
            command,
            created,
            creating_user,
            drop_capabilities: drop_capabilities.into_iter().collect(),
            env: env.into_iter().collect(),
            expires_ms: expires.map(|d| d.timestamp_millis()),
            grace_period,
            health_check: health_check.map(Into::into),
            hostname,
            id: id.map(Into::into),
            image,
            labels: labels.into_iter().collect(),
            metadata: metadata.into_iter().collect(),
            network_mode,
            ports: to_map(ports),
            ramdisks: ramdisks.into_iter().collect(),
            registration: to_map(registration),
            registration_domain,
            resources: resources.map(Into::into),
            rollout_options: rollout_options.map(Into::into),
            runtime,
            seconds_to_wait_before_kill,
            security_opt,
            token,
            volumes: volumes.into_iter().collect(),
            secret_env: secret_env.into_iter().collect(),
        }
    }
}

impl FromProto<v1::Job> for Job {
    fn from_proto(p: v1::Job, at: Path<'_>) -> Result<Job, ConvertError> {
        let v1::Job {
            add_capabilities,
            command,
            created,
            creating_user,
            drop_capabilities,
            env,
            expires_ms,
            grace_period,
            health_check,
            hostname,
            id,
            image,
            labels,
            metadata,
            network_mode,
            ports,
            ramdisks,
            registration,
            registration_domain,
            resources,
            rollout_options,
            runtime,
            seconds_to_wait_before_kill,
            security_opt,
            token,
            volumes,
            secret_env,
        } = p;
        let expires = expires_ms
            .map(|ms| {
                date::from_epoch_millis(ms).ok_or_else(|| {
                    at.field("expires_ms")
                        .error(format!("{ms} is out of range"))
                })
            })
            .transpose()?;
        Ok(Job {
            add_capabilities: add_capabilities.into_iter().collect(),
            command,
            created,
            creating_user,
            drop_capabilities: drop_capabilities.into_iter().collect(),
            env: env.into_iter().collect(),
            expires,
            grace_period,
            health_check: opt(health_check, at.field("health_check"))?,
            hostname,
            id: opt(id, at.field("id"))?,
            image,
            labels: labels.into_iter().collect(),
            metadata: metadata.into_iter().collect(),
            network_mode,
            ports: map_of(ports, at.field("ports"))?,
            ramdisks: ramdisks.into_iter().collect(),
            registration: map_parsed(registration, at.field("registration"), |k| {
                Ok(ServiceEndpoint::from(k))
            })?,
            registration_domain,
            resources: opt(resources, at.field("resources"))?,
            rollout_options: opt(rollout_options, at.field("rollout_options"))?,
            runtime,
            secret_env: secret_env.into_iter().collect(),
            seconds_to_wait_before_kill,
            security_opt,
            token,
            volumes: volumes.into_iter().collect(),
        })
    }
}

// Deployments and task statuses.

impl From<Deployment> for v1::Deployment {
    fn from(d: Deployment) -> Self {
        let Deployment {
            deployer_master,
            deployer_user,
            deployment_group_name,
            goal,
            job_id,
        } = d;
        v1::Deployment {
            deployer_master,
            deployer_user,
            deployment_group_name,
            goal: v1::Goal::from(goal).into(),
            job_id: Some(job_id.into()),
        }
    }
}

impl FromProto<v1::Deployment> for Deployment {
    fn from_proto(p: v1::Deployment, at: Path<'_>) -> Result<Deployment, ConvertError> {
        let v1::Deployment {
            deployer_master,
            deployer_user,
            deployment_group_name,
            goal: g,
            job_id,
        } = p;
        Ok(Deployment {
            deployer_master,
            deployer_user,
            deployment_group_name,
            goal: goal(g, at.field("goal"))?,
            job_id: required(job_id, at.field("job_id"))?,
        })
    }
}

impl From<TaskStatus> for v1::TaskStatus {
    fn from(s: TaskStatus) -> Self {
        let TaskStatus {
            container_error,
            container_id,
            env,
            goal,
            job,
            ports,
            state,
            throttled,
        } = s;
        v1::TaskStatus {
            container_error,
            container_id,
            env: env.into_iter().collect(),
            goal: v1::Goal::from(goal).into(),
            job: Some(job.into()),
            ports: to_map(ports),
            state: v1::TaskState::from(state).into(),
            throttled: v1::ThrottleState::from(throttled).into(),
        }
    }
}

impl FromProto<v1::TaskStatus> for TaskStatus {
    fn from_proto(p: v1::TaskStatus, at: Path<'_>) -> Result<TaskStatus, ConvertError> {
        let v1::TaskStatus {
            container_error,
            container_id,
            env,
            goal: g,
            job,
            ports,
            state,
            throttled,
        } = p;
        Ok(TaskStatus {
            container_error,
            container_id,
            env: env.into_iter().collect(),
            goal: goal(g, at.field("goal"))?,
            job: required(job, at.field("job"))?,
            ports: map_of(ports, at.field("ports"))?,
            state: task_state(state, at.field("state"))?,
            throttled: throttle_state(throttled, at.field("throttled"))?,
        })
    }
}

impl From<TaskStatusEvent> for v1::TaskStatusEvent {
    fn from(e: TaskStatusEvent) -> Self {
        let TaskStatusEvent {
            host,
            status,
            timestamp,
        } = e;
        v1::TaskStatusEvent {
            host,
            status: Some(status.into()),
            timestamp,
        }
    }
}

impl FromProto<v1::TaskStatusEvent> for TaskStatusEvent {
    fn from_proto(p: v1::TaskStatusEvent, at: Path<'_>) -> Result<TaskStatusEvent, ConvertError> {
        let v1::TaskStatusEvent {
            host,
            status,
            timestamp,
        } = p;
        Ok(TaskStatusEvent {
            host,
            status: required(status, at.field("status"))?,
            timestamp,
        })
    }
}

impl From<TaskStatusEvents> for v1::TaskStatusEvents {
    fn from(e: TaskStatusEvents) -> Self {
        let TaskStatusEvents { events, status } = e;
        v1::TaskStatusEvents {
            events: events.into_iter().map(Into::into).collect(),
            status: v1::TaskStatusEventsStatus::from(status).into(),
        }
    }
}

impl FromProto<v1::TaskStatusEvents> for TaskStatusEvents {
    fn from_proto(p: v1::TaskStatusEvents, at: Path<'_>) -> Result<Self, ConvertError> {
        let v1::TaskStatusEvents { events, status } = p;
        let events_at = at.field("events");
        Ok(TaskStatusEvents {
            events: events
                .into_iter()
                .enumerate()
                .map(|(i, e)| TaskStatusEvent::from_proto(e, events_at.index(i)))
                .collect::<Result<_, _>>()?,
            status: events_status(status, at.field("status"))?,
        })
    }
}

impl From<JobStatus> for v1::JobStatus {
    fn from(s: JobStatus) -> Self {
        let JobStatus {
            deployments,
            job,
            task_statuses,
        } = s;
        v1::JobStatus {
            deployments: to_map(deployments),
            job: Some(job.into()),
            task_statuses: to_map(task_statuses),
        }
    }
}

impl FromProto<v1::JobStatus> for JobStatus {
    fn from_proto(p: v1::JobStatus, at: Path<'_>) -> Result<JobStatus, ConvertError> {
        let v1::JobStatus {
            deployments,
            job,
            task_statuses,
        } = p;
        Ok(JobStatus {
            deployments: map_of(deployments, at.field("deployments"))?,
            job: required(job, at.field("job"))?,
            task_statuses: map_of(task_statuses, at.field("task_statuses"))?,
        })
    }
}

// Hosts.

impl From<DockerVersion> for v1::DockerVersion {
    fn from(d: DockerVersion) -> Self {
        let DockerVersion {
            api_version,
            arch,
            git_commit,
            go_version,
            kernel_version,
            os,
            version,
        } = d;
        v1::DockerVersion {
            api_version,
            arch,
            git_commit,
            go_version,
            kernel_version,
            os,
            version,
        }
    }
}

impl FromProto<v1::DockerVersion> for DockerVersion {
    fn from_proto(p: v1::DockerVersion, _: Path<'_>) -> Result<DockerVersion, ConvertError> {
        let v1::DockerVersion {
            api_version,
            arch,
            git_commit,
            go_version,
            kernel_version,
            os,
            version,
        } = p;
        Ok(DockerVersion {
            api_version,
            arch,
            git_commit,
            go_version,
            kernel_version,
            os,
            version,
        })
    }
}

impl From<HostInfo> for v1::HostInfo {
    fn from(h: HostInfo) -> Self {
        let HostInfo {
            architecture,
            cpus,
            docker_cert_path,
            docker_host,
            docker_version,
            hostname,
            load_avg,
            memory_free_bytes,
            memory_total_bytes,
            os_name,
            os_version,
            swap_free_bytes,
            swap_total_bytes,
            uname,
        } = h;
        v1::HostInfo {
            architecture,
            cpus,
            docker_cert_path,
            docker_host,
            docker_version: docker_version.map(Into::into),
            hostname,
            load_avg,
            memory_free_bytes,
            memory_total_bytes,
            os_name,
            os_version,
            swap_free_bytes,
            swap_total_bytes,
            uname,
        }
    }
}

impl FromProto<v1::HostInfo> for HostInfo {
    fn from_proto(p: v1::HostInfo, at: Path<'_>) -> Result<HostInfo, ConvertError> {
        let v1::HostInfo {
            architecture,
            cpus,
            docker_cert_path,
            docker_host,
            docker_version,
            hostname,
            load_avg,
            memory_free_bytes,
            memory_total_bytes,
            os_name,
            os_version,
            swap_free_bytes,
            swap_total_bytes,
            uname,
        } = p;
        Ok(HostInfo {
            architecture,
            cpus,
            docker_cert_path,
            docker_host,
            docker_version: opt(docker_version, at.field("docker_version"))?,
            hostname,
            load_avg,
            memory_free_bytes,
            memory_total_bytes,
            os_name,
            os_version,
            swap_free_bytes,
            swap_total_bytes,
            uname,
        })
    }
}

impl From<AgentInfo> for v1::AgentInfo {
    fn from(a: AgentInfo) -> Self {
        let AgentInfo {
            input_arguments,
            name,
            spec_name,
            spec_vendor,
            spec_version,
            start_time,
            uptime,
            version,
            vm_name,
            vm_vendor,
            vm_version,
        } = a;
        v1::AgentInfo {
            input_arguments,
            name,
            spec_name,
            spec_vendor,
            spec_version,
            start_time,
            uptime,
            version,
            vm_name,
            vm_vendor,
            vm_version,
        }
    }
}

impl FromProto<v1::AgentInfo> for AgentInfo {
    fn from_proto(p: v1::AgentInfo, _: Path<'_>) -> Result<AgentInfo, ConvertError> {
        let v1::AgentInfo {
            input_arguments,
            name,
            spec_name,
            spec_vendor,
            spec_version,
            start_time,
            uptime,
            version,
            vm_name,
            vm_vendor,
            vm_version,
        } = p;
        Ok(AgentInfo {
            input_arguments,
            name,
            spec_name,
            spec_vendor,
            spec_version,
            start_time,
            uptime,
            version,
            vm_name,
            vm_vendor,
            vm_version,
        })
    }
}

impl From<HostStatus> for v1::HostStatus {
    fn from(h: HostStatus) -> Self {
        let HostStatus {
            agent_info,
            environment,
            host_info,
            jobs,
            labels,
            status,
            statuses,
        } = h;
        v1::HostStatus {
            agent_info: agent_info.map(Into::into),
            environment: environment.into_iter().collect(),
            host_info: host_info.map(Into::into),
            jobs: to_map(jobs),
            labels: labels.into_iter().collect(),
            status: v1::HostState::from(status).into(),
            statuses: to_map(statuses),
        }
    }
}

impl FromProto<v1::HostStatus> for HostStatus {
    fn from_proto(p: v1::HostStatus, at: Path<'_>) -> Result<HostStatus, ConvertError> {
        let v1::HostStatus {
            agent_info,
            environment,
            host_info,
            jobs,
            labels,
            status,
            statuses,
        } = p;
        Ok(HostStatus {
            agent_info: opt(agent_info, at.field("agent_info"))?,
            environment: environment.into_iter().collect(),
            host_info: opt(host_info, at.field("host_info"))?,
            jobs: map_parsed(jobs, at.field("jobs"), job_id_key)?,
            labels: labels.into_iter().collect(),
            status: host_state(status, at.field("status"))?,
            statuses: map_parsed(statuses, at.field("statuses"), job_id_key)?,
        })
    }
}

impl From<HostRecord> for v1::HostRecord {
    fn from(h: HostRecord) -> Self {
        let HostRecord {
            agent_id,
            status,
            status_changed_ms,
            labels,
            environment,
            host_info,
            agent_info,
        } = h;
        v1::HostRecord {
            agent_id,
            status: v1::HostState::from(status).into(),
            status_changed_ms,
            labels: labels.into_iter().collect(),
            environment: environment.into_iter().collect(),
            host_info: host_info.map(Into::into),
            agent_info: agent_info.map(Into::into),
        }
    }
}

impl FromProto<v1::HostRecord> for HostRecord {
    fn from_proto(p: v1::HostRecord, at: Path<'_>) -> Result<HostRecord, ConvertError> {
        let v1::HostRecord {
            agent_id,
            status,
            status_changed_ms,
            labels,
            environment,
            host_info,
            agent_info,
        } = p;
        Ok(HostRecord {
            agent_id,
            status: host_state(status, at.field("status"))?,
            status_changed_ms,
            labels: labels.into_iter().collect(),
            environment: environment.into_iter().collect(),
            host_info: opt(host_info, at.field("host_info"))?,
            agent_info: opt(agent_info, at.field("agent_info"))?,
        })
    }
}

// Deployment groups.

impl From<Operator> for v1::HostSelectorOperator {
    fn from(o: Operator) -> Self {
        match o {
            Operator::Equals => v1::HostSelectorOperator::Equals,
            Operator::NotEquals => v1::HostSelectorOperator::NotEquals,
            Operator::In => v1::HostSelectorOperator::In,
            Operator::NotIn => v1::HostSelectorOperator::NotIn,
        }
    }
}

impl From<RollingUpdateReason> for v1::RollingUpdateReason {
    fn from(r: RollingUpdateReason) -> Self {
        match r {
            RollingUpdateReason::Manual => v1::RollingUpdateReason::Manual,
            RollingUpdateReason::HostsChanged => v1::RollingUpdateReason::HostsChanged,
        }
    }
}

fn rolling_update_reason(value: i32, at: Path<'_>) -> Result<RollingUpdateReason, ConvertError> {
    use v1::RollingUpdateReason as P;
    match P::try_from(value).map_err(|_| unknown_enum(at, value))? {
        P::Manual => Ok(RollingUpdateReason::Manual),
        P::HostsChanged => Ok(RollingUpdateReason::HostsChanged),
        P::Unspecified => {
            Err(at.error("no reason given (MANUAL or HOSTS_CHANGED); leave the field out for none"))
        }
    }
}

impl From<DeploymentGroupState> for v1::DeploymentGroupState {
    fn from(s: DeploymentGroupState) -> Self {
        match s {
            DeploymentGroupState::RollingOut => v1::DeploymentGroupState::RollingOut,
            DeploymentGroupState::Failed => v1::DeploymentGroupState::Failed,
            DeploymentGroupState::Done => v1::DeploymentGroupState::Done,
        }
    }
}

fn group_state(value: i32, at: Path<'_>) -> Result<DeploymentGroupState, ConvertError> {
    use v1::DeploymentGroupState as P;
    match P::try_from(value).map_err(|_| unknown_enum(at, value))? {
        P::RollingOut => Ok(DeploymentGroupState::RollingOut),
        P::Failed => Ok(DeploymentGroupState::Failed),
        P::Done => Ok(DeploymentGroupState::Done),
        P::Unspecified => Err(at.error("no state given (ROLLING_OUT, FAILED or DONE)")),
    }
}

impl From<DeploymentGroupStatusResponseStatus> for v1::DeploymentGroupStatusResponseStatus {
    fn from(s: DeploymentGroupStatusResponseStatus) -> Self {
        use DeploymentGroupStatusResponseStatus as M;
        match s {
            M::RollingOut => v1::DeploymentGroupStatusResponseStatus::RollingOut,
            M::Active => v1::DeploymentGroupStatusResponseStatus::Active,
            M::Failed => v1::DeploymentGroupStatusResponseStatus::Failed,
            M::Idle => v1::DeploymentGroupStatusResponseStatus::Idle,
        }
    }
}

fn group_summary(
    value: i32,
    at: Path<'_>,
) -> Result<DeploymentGroupStatusResponseStatus, ConvertError> {
    use DeploymentGroupStatusResponseStatus as M;
    use v1::DeploymentGroupStatusResponseStatus as P;
    match P::try_from(value).map_err(|_| unknown_enum(at, value))? {
        P::RollingOut => Ok(M::RollingOut),
        P::Active => Ok(M::Active),
        P::Failed => Ok(M::Failed),
        P::Idle => Ok(M::Idle),
        P::Unspecified => Err(at.error("no status given (ROLLING_OUT, ACTIVE, FAILED or IDLE)")),
    }
}

impl From<CreateDeploymentGroupStatus> for v1::CreateDeploymentGroupStatus {
    fn from(s: CreateDeploymentGroupStatus) -> Self {
        match s {
            CreateDeploymentGroupStatus::Created => v1::CreateDeploymentGroupStatus::Created,
            CreateDeploymentGroupStatus::NotModified => {
                v1::CreateDeploymentGroupStatus::NotModified
            }
            CreateDeploymentGroupStatus::Conflict => v1::CreateDeploymentGroupStatus::Conflict,
        }
    }
}

/// `UNSPECIFIED` has no model value.
impl TryFrom<v1::CreateDeploymentGroupStatus> for CreateDeploymentGroupStatus {
    type Error = ConvertError;

    fn try_from(s: v1::CreateDeploymentGroupStatus) -> Result<Self, ConvertError> {
        use v1::CreateDeploymentGroupStatus as P;
        match s {
            P::Created => Ok(CreateDeploymentGroupStatus::Created),
            P::NotModified => Ok(CreateDeploymentGroupStatus::NotModified),
            P::Conflict => Ok(CreateDeploymentGroupStatus::Conflict),
            P::Unspecified => Err(Path::Root("create_deployment_group_status")
                .error("no status given (CREATED, NOT_MODIFIED or CONFLICT)")),
        }
    }
}

/// Helios's JSON name of an operator (`EQUALS`, …).
fn operator_name(o: Operator) -> &'static str {
    match o {
        Operator::Equals => "EQUALS",
        Operator::NotEquals => "NOT_EQUALS",
        Operator::In => "IN",
        Operator::NotIn => "NOT_IN",
    }
}

impl From<HostSelector> for v1::HostSelector {
    fn from(h: HostSelector) -> Self {
        let HostSelector {
            label,
            operand,
            operator,
        } = h;
        v1::HostSelector {
            label,
            operands: match operand {
                Operand::One(value) => vec![value],
                Operand::Many(values) => values,
            },
            operator: v1::HostSelectorOperator::from(operator).into(),
        }
    }
}

impl FromProto<v1::HostSelector> for HostSelector {
    /// EQUALS and NOT_EQUALS take exactly one operand (a string in Helios's JSON), IN and
    /// NOT_IN a list of any length.
    fn from_proto(p: v1::HostSelector, at: Path<'_>) -> Result<HostSelector, ConvertError> {
        use v1::HostSelectorOperator as P;
        let v1::HostSelector {
            label,
            mut operands,
            operator: raw,
        } = p;
        let operator_at = at.field("operator");
        let operator = match P::try_from(raw).map_err(|_| unknown_enum(operator_at, raw))? {
            P::Equals => Operator::Equals,
            P::NotEquals => Operator::NotEquals,
            P::In => Operator::In,
            P::NotIn => Operator::NotIn,
            P::Unspecified => {
                return Err(
                    operator_at.error("no operator given (EQUALS, NOT_EQUALS, IN or NOT_IN)")
                );
            }
        };
        let operand = match operator {
            Operator::Equals | Operator::NotEquals => {
                if operands.len() != 1 {
                    return Err(at.field("operands").error(format!(
                        "{} takes exactly one operand, not {}",
                        operator_name(operator),
                        operands.len()
                    )));
                }
                Operand::One(operands.remove(0))
            }
            Operator::In | Operator::NotIn => Operand::Many(operands),
        };
        Ok(HostSelector {
            label,
            operand,
            operator,
        })
    }
}

impl From<DeploymentGroup> for v1::DeploymentGroup {
    fn from(g: DeploymentGroup) -> Self {
        let DeploymentGroup {
            host_selectors,
            job_id,
            name,
            rolling_update_reason,
            rollout_options,
        } = g;
        v1::DeploymentGroup {
            host_selectors: host_selectors.into_iter().map(Into::into).collect(),
            job_id: job_id.map(Into::into),
            name,
            rolling_update_reason: rolling_update_reason
                .map(|r| v1::RollingUpdateReason::from(r).into()),
            rollout_options: rollout_options.map(Into::into),
        }
    }
}

impl FromProto<v1::DeploymentGroup> for DeploymentGroup {
    fn from_proto(p: v1::DeploymentGroup, at: Path<'_>) -> Result<DeploymentGroup, ConvertError> {
        let v1::DeploymentGroup {
            host_selectors,
            job_id,
            name,
            rolling_update_reason: reason,
            rollout_options,
        } = p;
        let selectors_at = at.field("host_selectors");
        Ok(DeploymentGroup {
            host_selectors: host_selectors
                .into_iter()
                .enumerate()
                .map(|(i, s)| HostSelector::from_proto(s, selectors_at.index(i)))
                .collect::<Result<_, _>>()?,
            job_id: opt(job_id, at.field("job_id"))?,
            name,
            rolling_update_reason: reason
                .map(|r| rolling_update_reason(r, at.field("rolling_update_reason")))
                .transpose()?,
            rollout_options: opt(rollout_options, at.field("rollout_options"))?,
        })
    }
}

impl From<DeploymentGroupStatus> for v1::DeploymentGroupStatus {
    fn from(s: DeploymentGroupStatus) -> Self {
        let DeploymentGroupStatus { error, state } = s;
        v1::DeploymentGroupStatus {
            error,
            state: v1::DeploymentGroupState::from(state).into(),
        }
    }
}

impl FromProto<v1::DeploymentGroupStatus> for DeploymentGroupStatus {
    fn from_proto(p: v1::DeploymentGroupStatus, at: Path<'_>) -> Result<Self, ConvertError> {
        let v1::DeploymentGroupStatus { error, state } = p;
        Ok(DeploymentGroupStatus {
            error,
            state: group_state(state, at.field("state"))?,
        })
    }
}

impl From<DeploymentGroupHostStatus> for v1::DeploymentGroupHostStatus {
    fn from(h: DeploymentGroupHostStatus) -> Self {
        let DeploymentGroupHostStatus {
            host,
            job_id,
            state,
        } = h;
        v1::DeploymentGroupHostStatus {
            host,
            job_id: job_id.map(Into::into),
            state: state.map(|s| v1::TaskState::from(s).into()),
        }
    }
}

impl FromProto<v1::DeploymentGroupHostStatus> for DeploymentGroupHostStatus {
    fn from_proto(p: v1::DeploymentGroupHostStatus, at: Path<'_>) -> Result<Self, ConvertError> {
        let v1::DeploymentGroupHostStatus {
            host,
            job_id,
            state,
        } = p;
        Ok(DeploymentGroupHostStatus {
            host,
            job_id: opt(job_id, at.field("job_id"))?,
            state: state
                .map(|s| task_state(s, at.field("state")))
                .transpose()?,
        })
    }
}

impl From<DeploymentGroupStatusResponse> for v1::DeploymentGroupStatusResponse {
    fn from(r: DeploymentGroupStatusResponse) -> Self {
        let DeploymentGroupStatusResponse {
            deployment_group,
            deployment_group_status,
            error,
            host_statuses,
            status,
        } = r;
        v1::DeploymentGroupStatusResponse {
            deployment_group: Some(deployment_group.into()),
            deployment_group_status: deployment_group_status.map(Into::into),
            error,
            host_statuses: host_statuses.into_iter().map(Into::into).collect(),
            status: v1::DeploymentGroupStatusResponseStatus::from(status).into(),
        }
    }
}

impl FromProto<v1::DeploymentGroupStatusResponse> for DeploymentGroupStatusResponse {
    fn from_proto(
        p: v1::DeploymentGroupStatusResponse,
        at: Path<'_>,
    ) -> Result<Self, ConvertError> {
        let v1::DeploymentGroupStatusResponse {
            deployment_group,
            deployment_group_status,
            error,
            host_statuses,
            status,
        } = p;
        let hosts_at = at.field("host_statuses");
        Ok(DeploymentGroupStatusResponse {
            deployment_group: required(deployment_group, at.field("deployment_group"))?,
            deployment_group_status: opt(
                deployment_group_status,
                at.field("deployment_group_status"),
            )?,
            error,
            host_statuses: host_statuses
                .into_iter()
                .enumerate()
                .map(|(i, h)| DeploymentGroupHostStatus::from_proto(h, hosts_at.index(i)))
                .collect::<Result<_, _>>()?,
            status: group_summary(status, at.field("status"))?,
        })
    }
}

#[cfg(test)]
mod tests;
