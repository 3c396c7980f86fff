//! A typed client of the public gRPC API (`helios.v1`, DESIGN §8) that speaks helios-api types.
//!
//! The client knows one or more masters (their HTTP `host:port`, where the gRPC API is
//! served) and may be pointed at any of them: a follower forwards to the leader. When a master
//! answers `UNAVAILABLE` (no leader, leader unreachable), the client retries, within its retry
//! budget, at the leader the answer names in `x-helios-leader`, else at the next master.
//! Writes carry an idempotency key (metadata `idempotency-key`, one per call, kept on every
//! attempt), so a write whose answer was lost (a timeout, `DEADLINE_EXCEEDED` with
//! `x-helios-status: UNKNOWN_OUTCOME`) is retried too: the masters apply it once.
//! Refusals come back as [`ClientError::Status`] with Helios's status word; a lookup of
//! something that does not exist returns `Ok(None)`.
//!
//! Helios's objects travel as the API's typed messages; the client converts them to and from
//! the helios-api model with [`crate::convert`], so its methods take and return model types.
//! An answer that does not convert (a field the model requires is missing, an enum value
//! unknown to this client) is a [`ClientError::Decode`] naming the field.
//!
//! ```no_run
//! # async fn demo(job: helios_api::Job) -> Result<(), helios_api::client::ClientError> {
//! let client = helios_api::client::Client::new(["127.0.0.1:5801", "10.0.0.2:5801"])?;
//! let id = client.create_job(&job, Some("alice")).await?;
//! let job = client.get_job(&id).await?;
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status, Streaming};

use crate::convert::ConvertError;
pub use crate::convert::HostRecord;
use crate::v1;
use crate::v1::helios_client::HeliosClient;
use crate::{
    CreateDeploymentGroupStatus, Deployment, DeploymentGroup, DeploymentGroupStatusResponse, Goal,
    HostStatus, Job, JobId, JobStatus, RolloutOptions, State, Status as HostState, TaskStatus,
    TaskStatusEvent, ThrottleState,
};

/// Metadata of an `UNAVAILABLE` answer: the leader's HTTP `host:port`, when one is known.
pub const LEADER_METADATA: &str = "x-helios-leader";
/// Metadata of a refusal: Helios's status word (`JOB_NOT_FOUND`, `FORBIDDEN`, …).
pub const STATUS_METADATA: &str = "x-helios-status";
/// Binary metadata of an `INVALID_JOB_DEFINITION` refusal: the JSON list of every error.
pub const ERRORS_METADATA: &str = "x-helios-errors-bin";
/// Metadata a follower adds when it forwards a request to the leader (never forwarded twice).
pub const FORWARDED_METADATA: &str = "x-helios-forwarded";
/// Metadata of a write's idempotency key: every attempt of one write carries the same key, so
/// the masters apply it once and answer a retry with the first answer.
pub const IDEMPOTENCY_METADATA: &str = crate::idempotency::IDEMPOTENCY_KEY;

/// Largest message the client accepts (a large job list or host status).
const MAX_MESSAGE: usize = 64 << 20;

/// What went wrong with a call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// An endpoint that is not a usable URI.
    #[error("bad master endpoint {endpoint:?}: {reason}")]
    Endpoint {
        /// The endpoint as given.
        endpoint: String,
        /// Why it is unusable.
        reason: String,
    },
    /// The master answered with an error (after retries, for `UNAVAILABLE`).
    #[error("{}", describe(*code, helios_status.as_deref(), message, errors))]
    Status {
        /// The gRPC code.
        code: Code,
        /// Helios's status word, when the master gave one (`JOB_NOT_FOUND`, `FORBIDDEN`, …).
        helios_status: Option<String>,
        /// The master's message.
        message: String,
        /// Every validation error of an `INVALID_JOB_DEFINITION`.
        errors: Vec<String>,
    },
    /// The master's answer could not be decoded.
    #[error("undecodable answer: {0}")]
    Decode(String),
}

/// `attempt`, or `DEADLINE_EXCEEDED` when it has no answer within `limit`.
async fn within<T>(
    limit: Duration,
    attempt: impl Future<Output = Result<tonic::Response<T>, Status>>,
) -> Result<tonic::Response<T>, Status> {
    tokio::time::timeout(limit, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(Status::deadline_exceeded(format!(
                "no answer within {limit:?}"
            )))
        })
}

/// A request carrying a write's idempotency key.
fn with_key<T>(message: T, key: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    // Keys made by [`Client::write`] are ASCII, so they always parse as metadata.
    if let Ok(value) = key.parse() {
        req.metadata_mut().insert(IDEMPOTENCY_METADATA, value);
    }
    req
}

fn describe(code: Code, word: Option<&str>, message: &str, errors: &[String]) -> String {
    let mut s = match word {
        Some(w) => format!("{w}: {message}"),
        None => format!("{code:?}: {message}"),
    };
    if !errors.is_empty() {
        s.push_str(" (");
        s.push_str(&errors.join("; "));
        s.push(')');
    }
    s
}

impl ClientError {
    /// The error of a gRPC status, with the Helios metadata it carries.
    pub fn from_status(s: Status) -> Self {
        let helios_status = s
            .metadata()
            .get(STATUS_METADATA)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let errors = s
            .metadata()
            .get_bin(ERRORS_METADATA)
            .and_then(|v| v.to_bytes().ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        ClientError::Status {
            code: s.code(),
            helios_status,
            message: s.message().to_string(),
            errors,
        }
    }

    /// The gRPC code of a [`ClientError::Status`].
    pub fn code(&self) -> Option<Code> {
        match self {
            ClientError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Helios's status word of a refusal.
    pub fn helios_status(&self) -> Option<&str> {
        match self {
            ClientError::Status { helios_status, .. } => helios_status.as_deref(),
            _ => None,
        }
    }
}

/// The model value of a message field of an answer, which the model requires.
fn typed<P, M>(message: Option<P>, field: &str) -> Result<M, ClientError>
where
    M: TryFrom<P, Error = ConvertError>,
{
    let message =
        message.ok_or_else(|| ClientError::Decode(format!("{field}: missing (required)")))?;
    M::try_from(message).map_err(|e| ClientError::Decode(e.to_string()))
}

/// `host:port` or `http://host:port` → `http://host:port`.
fn normalize(endpoint: &str) -> String {
    let e = endpoint.trim().trim_end_matches('/');
    if e.contains("://") {
        e.to_string()
    } else {
        format!("http://{e}")
    }
}

struct Targets {
    endpoints: Vec<String>,
    current: usize,
    channels: HashMap<String, Channel>,
}

struct Inner {
    targets: Mutex<Targets>,
    retry_for: Duration,
    request_timeout: Duration,
    connect_timeout: Duration,
    /// `Bearer <API token>`, sent with every call when set (masters with security on).
    token: Option<MetadataValue<Ascii>>,
}

/// Adds the client's API token, when it has one, to every call (`authorization: Bearer …`).
#[derive(Clone)]
pub struct WithToken(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for WithToken {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(value) = &self.0 {
            req.metadata_mut().insert("authorization", value.clone());
        }
        Ok(req)
    }
}

/// What a call goes through: the channel to one master, adding the API token.
pub type Transport = tonic::service::interceptor::InterceptedService<Channel, WithToken>;

/// A client of the masters' gRPC API. Cheap to clone; clones share their connections.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.inner.targets.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("Client")
            .field("endpoints", &t.endpoints)
            .field("current", &t.current)
            .finish()
    }
}

impl Client {
    /// A client of the masters at `endpoints` (`host:port` or `http://host:port` of their HTTP
    /// API). Connections are opened on first use. Retries `UNAVAILABLE` for up to 15 s; each
    /// attempt of a unary call times out after 30 s.
    pub fn new<I, S>(endpoints: I) -> Result<Self, ClientError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list: Vec<String> = Vec::new();
        for e in endpoints {
            let uri = normalize(e.as_ref());
            Endpoint::from_shared(uri.clone()).map_err(|err| ClientError::Endpoint {
                endpoint: e.as_ref().to_string(),
                reason: err.to_string(),
            })?;
            if !list.contains(&uri) {
                list.push(uri);
            }
        }
        if list.is_empty() {
            return Err(ClientError::Endpoint {
                endpoint: String::new(),
                reason: "no master endpoint given".into(),
            });
        }
        Ok(Self {
            inner: Arc::new(Inner {
                targets: Mutex::new(Targets {
                    endpoints: list,
                    current: 0,
                    channels: HashMap::new(),
                }),
                retry_for: Duration::from_secs(15),
                request_timeout: Duration::from_secs(30),
                connect_timeout: Duration::from_secs(3),
                token: None,
            }),
        })
    }

    /// A client of the same masters that retries `UNAVAILABLE` answers for `retry_for` (zero:
    /// never) and gives each unary call `request_timeout` per attempt.
    pub fn with_timeouts(&self, retry_for: Duration, request_timeout: Duration) -> Self {
        self.derived(retry_for, request_timeout, self.inner.token.clone())
    }

    /// A client of the same masters that sends the API token `token` with every call (masters
    /// with `--security on` refuse calls without one: `UNAUTHENTICATED`).
    pub fn with_api_token(&self, token: &str) -> Result<Self, ClientError> {
        let value =
            format!("Bearer {}", token.trim())
                .parse()
                .map_err(|_| ClientError::Endpoint {
                    endpoint: self.current_endpoint(),
                    reason: "the API token holds characters a header cannot carry".into(),
                })?;
        Ok(self.derived(
            self.inner.retry_for,
            self.inner.request_timeout,
            Some(value),
        ))
    }

    /// A client sharing this one's connections, with other settings.
    fn derived(
        &self,
        retry_for: Duration,
        request_timeout: Duration,
        token: Option<MetadataValue<Ascii>>,
    ) -> Self {
        let targets = {
            let t = self.targets();
            Targets {
                endpoints: t.endpoints.clone(),
                current: t.current,
                channels: t.channels.clone(),
            }
        };
        Self {
            inner: Arc::new(Inner {
                targets: Mutex::new(targets),
                retry_for,
                request_timeout,
                connect_timeout: self.inner.connect_timeout,
                token,
            }),
        }
    }

    /// The endpoint the next call goes to (the last one that answered, or the leader named by
    /// a follower).
    pub fn current_endpoint(&self) -> String {
        let t = self.targets();
        t.endpoints[t.current].clone()
    }

    fn targets(&self) -> std::sync::MutexGuard<'_, Targets> {
        self.inner.targets.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn channel(&self) -> Result<(String, Channel), ClientError> {
        let mut t = self.targets();
        let uri = t.endpoints[t.current].clone();
        if let Some(c) = t.channels.get(&uri) {
            return Ok((uri, c.clone()));
        }
        let channel = Endpoint::from_shared(uri.clone())
            .map_err(|e| ClientError::Endpoint {
                endpoint: uri.clone(),
                reason: e.to_string(),
            })?
            .connect_timeout(self.inner.connect_timeout)
            .tcp_nodelay(true)
            .connect_lazy();
        t.channels.insert(uri.clone(), channel.clone());
        Ok((uri, channel))
    }

    /// After `UNAVAILABLE` from `failed`: go to the leader it named, else to the next master.
    fn move_on(&self, failed: &str, hint: Option<String>) {
        let mut t = self.targets();
        match hint.filter(|h| h != failed) {
            Some(h) => {
                let i = match t.endpoints.iter().position(|e| *e == h) {
                    Some(i) => i,
                    None => {
                        t.endpoints.push(h);
                        t.endpoints.len() - 1
                    }
                };
                t.current = i;
            }
            None => {
                if t.endpoints[t.current] == failed {
                    t.current = (t.current + 1) % t.endpoints.len();
                }
            }
        }
    }

    /// Runs one RPC with the generated client, retrying `UNAVAILABLE` at the leader or the next
    /// master until the retry budget is spent. `f` builds the request anew for each attempt.
    pub async fn call<T, F, Fut>(&self, f: F) -> Result<T, ClientError>
    where
        F: FnMut(HeliosClient<Transport>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.call_retrying(f, |_| false).await
    }

    /// [`Client::call`], also retrying the answers `retry_also` accepts.
    async fn call_retrying<T, F, Fut>(
        &self,
        mut f: F,
        retry_also: impl Fn(&Status) -> bool,
    ) -> Result<T, ClientError>
    where
        F: FnMut(HeliosClient<Transport>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let deadline = Instant::now() + self.inner.retry_for;
        let mut attempt: u32 = 0;
        loop {
            let (uri, channel) = self.channel()?;
            let client =
                HeliosClient::with_interceptor(channel, WithToken(self.inner.token.clone()))
                    .max_decoding_message_size(MAX_MESSAGE)
                    .max_encoding_message_size(MAX_MESSAGE);
            let status = match f(client).await {
                Ok(r) => return Ok(r.into_inner()),
                Err(s) => s,
            };
            let retry = status.code() == Code::Unavailable || retry_also(&status);
            if !retry || Instant::now() >= deadline {
                return Err(ClientError::from_status(status));
            }
            let hint = status
                .metadata()
                .get(LEADER_METADATA)
                .and_then(|v| v.to_str().ok())
                .filter(|h| !h.is_empty())
                .map(normalize);
            self.move_on(&uri, hint);
            attempt += 1;
            let backoff = Duration::from_millis((50u64 << attempt.min(5)).min(1000));
            tokio::time::sleep(backoff.min(deadline.saturating_duration_since(Instant::now())))
                .await;
        }
    }

    /// [`Client::call`] with the request timeout on each attempt (`DEADLINE_EXCEEDED`, not
    /// retried: use [`Client::write`] for writes, which can be retried safely).
    async fn unary<T, F, Fut>(&self, mut f: F) -> Result<T, ClientError>
    where
        F: FnMut(HeliosClient<Transport>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let limit = self.inner.request_timeout;
        self.call(|c| within(limit, f(c))).await
    }

    /// [`Client::unary`] for a write: one new idempotency key for the call, sent with every
    /// attempt, so an attempt that timed out or was answered `UNKNOWN_OUTCOME` is retried
    /// safely; the masters answer a repeated key with its first answer.
    async fn write<T, F, Fut>(&self, mut f: F) -> Result<T, ClientError>
    where
        F: FnMut(HeliosClient<Transport>, String) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let key = format!("grpc-{}", uuid::Uuid::new_v4());
        let limit = self.inner.request_timeout;
        self.call_retrying(
            |c| within(limit, f(c, key.clone())),
            |s| s.code() == Code::DeadlineExceeded,
        )
        .await
    }

    /// Like [`Client::unary`], mapping `NOT_FOUND` to `None`.
    async fn lookup<T, F, Fut>(&self, f: F) -> Result<Option<T>, ClientError>
    where
        F: FnMut(HeliosClient<Transport>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        match self.unary(f).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.code() == Some(Code::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a job (its id may omit the hash); returns its full id.
    pub async fn create_job(&self, job: &Job, user: Option<&str>) -> Result<JobId, ClientError> {
        let req = v1::CreateJobRequest {
            job: Some(job.into()),
            user: user.unwrap_or_default().to_string(),
        };
        let resp = self
            .write(|mut c, key| {
                let req = req.clone();
                async move { c.create_job(with_key(req, &key)).await }
            })
            .await?;
        resp.job_id
            .parse()
            .map_err(|e| ClientError::Decode(format!("job id {:?}: {e}", resp.job_id)))
    }

    /// A job, or `None` if there is none with this id.
    pub async fn get_job(&self, id: &JobId) -> Result<Option<Job>, ClientError> {
        let req = v1::GetJobRequest {
            job_id: id.to_string(),
            stale: false,
        };
        let found = self
            .lookup(|mut c| {
                let req = req.clone();
                async move { c.get_job(req).await }
            })
            .await?;
        found.map(|e| typed(e.job, "job")).transpose()
    }

    /// Jobs whose full id contains `query`, optionally only those deployed on a host whose
    /// name matches the regex `host_pattern`; every page of the listing, taken in turn.
    pub async fn list_jobs(
        &self,
        query: &str,
        host_pattern: Option<&str>,
    ) -> Result<BTreeMap<String, Job>, ClientError> {
        let mut req = v1::ListJobsRequest {
            query: query.to_string(),
            host_pattern: host_pattern.unwrap_or_default().to_string(),
            ..Default::default()
        };
        let mut jobs = BTreeMap::new();
        loop {
            let page = self
                .unary(|mut c| {
                    let req = req.clone();
                    async move { c.list_jobs(req).await }
                })
                .await?;
            for entry in page.jobs {
                jobs.insert(entry.job_id, typed(entry.job, "job")?);
            }
            if page.next_page_token.is_empty() {
                return Ok(jobs);
            }
            // Pages go forward in id order; a token that does not would never end.
            if page.next_page_token <= req.page_token {
                return Err(ClientError::Decode(format!(
                    "ListJobs answered page token {:?} after {:?}: pages must go forward",
                    page.next_page_token, req.page_token
                )));
            }
            req.page_token = page.next_page_token;
        }
    }

    /// Removes a job deployed nowhere; `token` must be the job's (`""` when it has none).
    pub async fn remove_job(&self, id: &JobId, token: &str) -> Result<(), ClientError> {
        let req = v1::RemoveJobRequest {
            job_id: id.to_string(),
            token: token.to_string(),
        };
        self.write(|mut c, key| {
            let req = req.clone();
            async move { c.remove_job(with_key(req, &key)).await }
        })
        .await
        .map(drop)
    }

    /// A job's deployments and task statuses, or `None` for an unknown job.
    pub async fn job_status(&self, id: &JobId) -> Result<Option<JobStatus>, ClientError> {
        let req = v1::JobStatusRequest {
            job_id: id.to_string(),
        };
        let found = self
            .lookup(|mut c| {
                let req = req.clone();
                async move { c.job_status(req).await }
            })
            .await?;
        found.map(|r| typed(r.job_status, "job_status")).transpose()
    }

    /// The statuses of several jobs; unknown ones are left out.
    pub async fn job_statuses(
        &self,
        ids: &[JobId],
    ) -> Result<BTreeMap<String, JobStatus>, ClientError> {
        let req = v1::JobStatusesRequest {
            job_ids: ids.iter().map(JobId::to_string).collect(),
        };
        let resp = self
            .unary(|mut c| {
                let req = req.clone();
                async move { c.job_statuses(req).await }
            })
            .await?;
        resp.statuses
            .into_iter()
            .map(|s| Ok((s.job_id, typed(s.job_status, "job_status")?)))
            .collect()
    }

    /// A job's task history on every host, oldest first (`NOT_FOUND` for an unknown job).
    pub async fn job_history(&self, id: &JobId) -> Result<Vec<TaskStatusEvent>, ClientError> {
        let req = v1::JobHistoryRequest {
            job_id: id.to_string(),
        };
        let resp = self
            .unary(|mut c| {
                let req = req.clone();
                async move { c.job_history(req).await }
            })
            .await?;
        resp.events
            .into_iter()
            .map(|e| TaskStatusEvent::try_from(e).map_err(|e| ClientError::Decode(e.to_string())))
            .collect()
    }

    /// Registered host names, optionally matching a name regex and host selectors.
    pub async fn list_hosts(
        &self,
        name_pattern: Option<&str>,
        selectors: &[String],
    ) -> Result<Vec<String>, ClientError> {
        let req = v1::ListHostsRequest {
            name_pattern: name_pattern.unwrap_or_default().to_string(),
            selectors: selectors.to_vec(),
        };
        self.unary(|mut c| {
            let req = req.clone();
            async move { c.list_hosts(req).await }
        })
        .await
        .map(|r| r.hosts)
    }

    /// Registers a host name with an agent id.
    pub async fn register_host(&self, host: &str, agent_id: &str) -> Result<(), ClientError> {
        let req = v1::RegisterHostRequest {
            host: host.to_string(),
            agent_id: agent_id.to_string(),
        };
        self.write(|mut c, key| {
            let req = req.clone();
            async move { c.register_host(with_key(req, &key)).await }
        })
        .await
        .map(drop)
    }

    /// Removes a host with its deployments and history.
    pub async fn deregister_host(&self, host: &str) -> Result<(), ClientError> {
        let req = v1::DeregisterHostRequest {
            host: host.to_string(),
        };
        self.write(|mut c, key| {
            let req = req.clone();
            async move { c.deregister_host(with_key(req, &key)).await }
        })
        .await
        .map(drop)
    }

    /// A host's status, or `None` for an unknown host.
    pub async fn host_status(&self, host: &str) -> Result<Option<HostStatus>, ClientError> {
        let req = v1::HostStatusRequest {
            host: host.to_string(),
            status_filter: v1::HostState::Unspecified as i32,
        };
        let found = self
            .lookup(|mut c| {
                let req = req.clone();
                async move { c.host_status(req).await }
            })
            .await?;
        found
            .map(|r| typed(r.host_status, "host_status"))
            .transpose()
    }

    /// The statuses of several hosts; unknown ones are left out.
    pub async fn host_statuses(
        &self,
        hosts: &[String],
    ) -> Result<BTreeMap<String, HostStatus>, ClientError> {
        let req = v1::HostStatusesRequest {
            hosts: hosts.to_vec(),
            status_filter: v1::HostState::Unspecified as i32,
        };
        let resp = self
            .unary(|mut c| {
                let req = req.clone();
                async move { c.host_statuses(req).await }
            })
            .await?;
        resp.statuses
            .into_iter()
            .map(|s| Ok((s.host, typed(s.host_status, "host_status")?)))
            .collect()
    }

    /// Deploys a job to a host with a goal (START or STOP).
    pub async fn deploy(
        &self,
        host: &str,
        job: &JobId,
        goal: Goal,
        token: &str,
        user: Option<&str>,
    ) -> Result<(), ClientError> {
        let req = v1::DeployRequest {
            host: host.to_string(),
            job_id: job.to_string(),
            goal: v1::Goal::from(goal) as i32,
            token: token.to_string(),
            user: user.unwrap_or_default().to_string(),
        };
        self.write(|mut c, key| {
            let req = req.clone();
            async move { c.deploy(with_key(req, &key)).await }
        })
        .await
        .map(drop)
    }

    /// The deployment of a job on a host, or `None`.
    pub async fn deployment(
        &self,
        host: &str,
        job: &JobId,
    ) -> Result<Option<Deployment>, ClientError> {
        let req = v1::GetDeploymentRequest {
            host: host.to_string(),
            job_id: job.to_string(),
        };
        let found = self
            .lookup(|mut c| {
                let req = req.clone();
                async move { c.get_deployment(req).await }
            })
            .await?;
        found.map(|r| typed(r.deployment, "deployment")).transpose()
    }

    /// Sets the goal of a deployment.
    pub async fn set_goal(
        &self,
        host: &str,
        job: &JobId,
        goal: Goal,
        token: &str,
    ) -> Result<(), ClientError> {
        let req = v1::SetGoalRequest {
            host: host.to_string(),
            job_id: job.to_string(),
            goal: v1::Goal::from(goal) as i32,
            token: token.to_string(),
        };
        self.write(|mut c, key| {
            let req = req.clone();
            async move { c.set_goal(with_key(req, &key)).await }
        })
        .await
        .map(drop)
    }

    /// Undeploys a job from a host.
    pub async fn undeploy(&self, host: &str, job: &JobId, token: &str) -> Result<(), ClientError> {
        let req = v1::UndeployRequest {
            host: host.to_string(),
            job_id: job.to_string(),
            token: token.to_string(),
        };
        self.write(|mut c, key| {
            let req = req.clone();
            async move { c.undeploy(with_key(req, &key)).await }
        })
        .await
        .map(drop)
    }

    /// Creates a deployment group from its name and host selectors: `CREATED`, or
    /// `NOT_MODIFIED` when it exists with the same selectors. One that exists with other
    /// selectors is refused with `ALREADY_EXISTS` (`CONFLICT`).
    pub async fn create_deployment_group(
        &self,
        group: &DeploymentGroup,
    ) -> Result<CreateDeploymentGroupStatus, ClientError> {
        let req = v1::CreateDeploymentGroupRequest {
            deployment_group: Some(group.into()),
        };
        let resp = self
            .write(|mut c, key| {
                let req = req.clone();
                async move { c.create_deployment_group(with_key(req, &key)).await }
            })
            .await?;
        CreateDeploymentGroupStatus::try_from(resp.status())
            .map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Removes a deployment group (`NOT_FOUND` for an unknown one); its deployments stay.
    pub async fn remove_deployment_group(&self, name: &str) -> Result<(), ClientError> {
        let req = v1::RemoveDeploymentGroupRequest {
            name: name.to_string(),
        };
        self.write(|mut c, key| {
            let req = req.clone();
            async move { c.remove_deployment_group(with_key(req, &key)).await }
        })
        .await
        .map(drop)
    }

    /// Every deployment group's name, sorted.
    pub async fn list_deployment_groups(&self) -> Result<Vec<String>, ClientError> {
        self.unary(|mut c| async move {
            c.list_deployment_groups(v1::ListDeploymentGroupsRequest {})
                .await
        })
        .await
        .map(|r| r.names)
    }

    /// A deployment group, or `None` if there is none of this name.
    pub async fn deployment_group(
        &self,
        name: &str,
    ) -> Result<Option<DeploymentGroup>, ClientError> {
        let req = v1::GetDeploymentGroupRequest {
            name: name.to_string(),
        };
        let found = self
            .lookup(|mut c| {
                let req = req.clone();
                async move { c.get_deployment_group(req).await }
            })
            .await?;
        found
            .map(|r| typed(r.deployment_group, "deployment_group"))
            .transpose()
    }

    /// A deployment group with its rollout status and hosts, or `None` for an unknown group.
    pub async fn deployment_group_status(
        &self,
        name: &str,
    ) -> Result<Option<DeploymentGroupStatusResponse>, ClientError> {
        let req = v1::DeploymentGroupStatusRequest {
            name: name.to_string(),
        };
        let found = self
            .lookup(|mut c| {
                let req = req.clone();
                async move { c.deployment_group_status(req).await }
            })
            .await?;
        found
            .map(|r| {
                DeploymentGroupStatusResponse::try_from(r)
                    .map_err(|e| ClientError::Decode(e.to_string()))
            })
            .transpose()
    }

    /// Starts a rolling update of a deployment group to a job (full id). `options` win over
    /// the job's own rollout options, which win over Helios's defaults. Refused with
    /// `NOT_FOUND` (`JOB_NOT_FOUND`, `DEPLOYMENT_GROUP_NOT_FOUND`) or `INVALID_ARGUMENT`
    /// (`INVALID_ROLLOUT_OPTIONS`).
    pub async fn rolling_update(
        &self,
        name: &str,
        job: &JobId,
        options: Option<&RolloutOptions>,
    ) -> Result<(), ClientError> {
        let req = v1::RollingUpdateRequest {
            name: name.to_string(),
            job_id: job.to_string(),
            rollout_options: options.map(Into::into),
        };
        self.write(|mut c, key| {
            let req = req.clone();
            async move { c.rolling_update(with_key(req, &key)).await }
        })
        .await
        .map(drop)
    }

    /// Stops a deployment group's rollout (FAILED, `Stopped by user`); `NOT_FOUND` for an
    /// unknown group.
    pub async fn stop_deployment_group(&self, name: &str) -> Result<(), ClientError> {
        let req = v1::StopDeploymentGroupRequest {
            name: name.to_string(),
        };
        self.write(|mut c, key| {
            let req = req.clone();
            async move { c.stop_deployment_group(with_key(req, &key)).await }
        })
        .await
        .map(drop)
    }

    /// The live masters (those that acknowledged the leader recently), sorted by name, with the
    /// leader marked.
    pub async fn masters(&self) -> Result<Vec<v1::Master>, ClientError> {
        self.list_masters(false).await
    }

    /// Every member, down ones too, with its role and state.
    pub async fn all_masters(&self) -> Result<Vec<v1::Master>, ClientError> {
        self.list_masters(true).await
    }

    async fn list_masters(&self, all: bool) -> Result<Vec<v1::Master>, ClientError> {
        self.unary(|mut c| async move { c.list_masters(v1::ListMastersRequest { all }).await })
            .await
            .map(|r| r.masters)
    }

    /// The master's version and how `client_version` compares with it.
    pub async fn version(
        &self,
        client_version: Option<&str>,
    ) -> Result<v1::VersionResponse, ClientError> {
        let req = v1::VersionRequest {
            client_version: client_version.unwrap_or_default().to_string(),
        };
        self.unary(|mut c| {
            let req = req.clone();
            async move { c.version(req).await }
        })
        .await
    }

    /// Opens a watch: first the objects changed after `request.from_index`, then every change
    /// as it is applied. To resume after an error, watch again from the last response's index.
    pub async fn watch(&self, request: v1::WatchRequest) -> Result<WatchStream, ClientError> {
        let stream = self
            .call(|mut c| {
                let req = request.clone();
                async move { c.watch(req).await }
            })
            .await?;
        Ok(WatchStream {
            stream,
            index: request.from_index,
        })
    }
}

/// The responses of a watch.
pub struct WatchStream {
    stream: Streaming<v1::WatchResponse>,
    index: u64,
}

impl WatchStream {
    /// The next batch of changes; `None` when the master ended the stream (it shuts down).
    pub async fn next(&mut self) -> Result<Option<v1::WatchResponse>, ClientError> {
        let msg = self
            .stream
            .message()
            .await
            .map_err(ClientError::from_status)?;
        if let Some(m) = &msg {
            self.index = m.index;
        }
        Ok(msg)
    }

    /// The index to resume from: that of the last response received (or the starting one).
    pub fn index(&self) -> u64 {
        self.index
    }
}

/// The object a watch event carries, as a model value.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchObject {
    /// A job.
    Job(Box<Job>),
    /// A registered host.
    Host(Box<HostRecord>),
    /// A deployment.
    Deployment(Deployment),
    /// A task status.
    TaskStatus(Box<TaskStatus>),
    /// A deployment group with its rollout status and hosts.
    DeploymentGroup(Box<DeploymentGroupStatusResponse>),
}

impl WatchObject {
    /// The object of a PUT event; `None` for a DELETE. A PUT whose object is missing or is
    /// not of the event's kind, or does not convert, is an error.
    pub fn decode(event: &v1::WatchEvent) -> Result<Option<Self>, ClientError> {
        use v1::watch_event::Object;
        if event.r#type() != v1::EventType::Put {
            return Ok(None);
        }
        let convert = |e: ConvertError| ClientError::Decode(e.to_string());
        Ok(Some(match (event.kind(), event.object.clone()) {
            (v1::ObjectKind::Job, Some(Object::Job(j))) => {
                WatchObject::Job(Box::new(j.try_into().map_err(convert)?))
            }
            (v1::ObjectKind::Host, Some(Object::HostRecord(h))) => {
                WatchObject::Host(Box::new(h.try_into().map_err(convert)?))
            }
            (v1::ObjectKind::Deployment, Some(Object::Deployment(d))) => {
                WatchObject::Deployment(d.try_into().map_err(convert)?)
            }
            (v1::ObjectKind::TaskStatus, Some(Object::TaskStatus(t))) => {
                WatchObject::TaskStatus(Box::new(t.try_into().map_err(convert)?))
            }
            (v1::ObjectKind::DeploymentGroup, Some(Object::DeploymentGroupStatus(g))) => {
                WatchObject::DeploymentGroup(Box::new(g.try_into().map_err(convert)?))
            }
            (kind, object) => {
                return Err(ClientError::Decode(format!(
                    "a PUT of kind {} carries {}",
                    kind.as_str_name(),
                    match object {
                        None => "no object",
                        Some(Object::Job(_)) => "a job",
                        Some(Object::HostRecord(_)) => "a host record",
                        Some(Object::Deployment(_)) => "a deployment",
                        Some(Object::TaskStatus(_)) => "a task status",
                        Some(Object::DeploymentGroupStatus(_)) => "a deployment group status",
                    }
                )));
            }
        }))
    }
}

// Conversions between the helios-api enums and the protobuf ones.

impl From<Goal> for v1::Goal {
    fn from(g: Goal) -> Self {
        match g {
            Goal::Start => v1::Goal::Start,
            Goal::Stop => v1::Goal::Stop,
            Goal::Undeploy => v1::Goal::Undeploy,
        }
    }
}

impl TryFrom<v1::Goal> for Goal {
    type Error = &'static str;

    fn try_from(g: v1::Goal) -> Result<Self, Self::Error> {
        match g {
            v1::Goal::Start => Ok(Goal::Start),
            v1::Goal::Stop => Ok(Goal::Stop),
            v1::Goal::Undeploy => Ok(Goal::Undeploy),
            v1::Goal::Unspecified => Err("no goal given (START, STOP or UNDEPLOY)"),
        }
    }
}

impl From<State> for v1::TaskState {
    fn from(s: State) -> Self {
        match s {
            State::PullingImage => v1::TaskState::PullingImage,
            State::Creating => v1::TaskState::Creating,
            State::Starting => v1::TaskState::Starting,
            State::Healthchecking => v1::TaskState::Healthchecking,
            State::Running => v1::TaskState::Running,
            State::Exited => v1::TaskState::Exited,
            State::Stopping => v1::TaskState::Stopping,
            State::Stopped => v1::TaskState::Stopped,
            State::Failed => v1::TaskState::Failed,
            State::Unknown => v1::TaskState::Unknown,
        }
    }
}

impl From<ThrottleState> for v1::ThrottleState {
    fn from(t: ThrottleState) -> Self {
        match t {
            ThrottleState::No => v1::ThrottleState::No,
            ThrottleState::Flapping => v1::ThrottleState::Flapping,
            ThrottleState::ImageMissing => v1::ThrottleState::ImageMissing,
            ThrottleState::ImagePullFailed => v1::ThrottleState::ImagePullFailed,
        }
    }
}

impl From<HostState> for v1::HostState {
    fn from(s: HostState) -> Self {
        match s {
            HostState::Up => v1::HostState::Up,
            HostState::Down => v1::HostState::Down,
        }
    }
}

/// The host state a filter asks for: `UNSPECIFIED` is "any state".
pub fn host_state_filter(s: v1::HostState) -> Option<HostState> {
    match s {
        v1::HostState::Up => Some(HostState::Up),
        v1::HostState::Down => Some(HostState::Down),
        v1::HostState::Unspecified => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_normalized_and_deduplicated() {
        let c = Client::new(["127.0.0.1:5801", "http://127.0.0.1:5801/", "m2:5801"]).unwrap();
        assert_eq!(c.current_endpoint(), "http://127.0.0.1:5801");
        assert_eq!(c.targets().endpoints.len(), 2);
        assert!(Client::new(Vec::<String>::new()).is_err());
    }

    #[test]
    fn unavailable_moves_to_the_hinted_leader_else_the_next_master() {
        let c = Client::new(["a:1", "b:2"]).unwrap();
        c.move_on("http://a:1", Some("http://c:3".into()));
        assert_eq!(c.current_endpoint(), "http://c:3");
        c.move_on("http://c:3", None);
        assert_eq!(c.current_endpoint(), "http://a:1");
        c.move_on("http://a:1", Some("http://b:2".into()));
        assert_eq!(c.current_endpoint(), "http://b:2");
    }

    #[test]
    fn refusals_keep_their_helios_metadata() {
        let mut s = Status::invalid_argument("bad job");
        s.metadata_mut()
            .insert(STATUS_METADATA, "INVALID_JOB_DEFINITION".parse().unwrap());
        s.metadata_mut().insert_bin(
            ERRORS_METADATA,
            tonic::metadata::MetadataValue::from_bytes(br#"["a","b"]"#),
        );
        let e = ClientError::from_status(s);
        assert_eq!(e.helios_status(), Some("INVALID_JOB_DEFINITION"));
        assert_eq!(e.code(), Some(Code::InvalidArgument));
        assert_eq!(e.to_string(), "INVALID_JOB_DEFINITION: bad job (a; b)");
    }

    #[test]
    fn goals_round_trip() {
        for g in [Goal::Start, Goal::Stop, Goal::Undeploy] {
            assert_eq!(Goal::try_from(v1::Goal::from(g)), Ok(g));
        }
        assert!(Goal::try_from(v1::Goal::Unspecified).is_err());
    }
}
