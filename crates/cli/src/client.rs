//! REST client for the masters of one cluster (reference §3).
//!
//! Every request carries `?user=<username>` and the `Helios-Version` header.
//! The endpoints of a [`Target`] are tried in random order; a connection error,
//! a timeout, a 502, a 503 (a master without a leader) or a 500 `RAFT_STOPPED` (a
//! master whose Raft core died, exiting) moves on to the next
//! endpoint, with a short growing pause after each full round, until the retry
//! budget (`--retry-timeout`) is spent. Any other HTTP status is an answer and
//! is returned to the caller, which decides what it means.
//!
//! An endpoint pinned to an address (see `target::Endpoint`) is reached at that
//! address while its URL keeps the host name, for the `Host` header and TLS
//! verification; each endpoint has its own connection pool for that reason.
//! `https://` endpoints use rustls with the system's trust store; `-k` turns
//! certificate verification off, like `curl -k`.
//!
//! Writes are exactly once: each write request of a client gets its own idempotency key
//! (`Idempotency-Key`, one per request, made from a random id of the invocation) and keeps it
//! on every retry, so a retry after a lost answer, a timeout or a 504 `UNKNOWN_OUTCOME` (the
//! master could not tell whether the write was applied) gets the first attempt's answer.
//!
//! This module knows URLs, statuses and JSON bodies; it prints nothing but, with `-v`, a note
//! when the system has no CA certificates.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rand::seq::SliceRandom;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::Instant;

use helios_api::{
    CreateDeploymentGroupResponse, CreateJobResponse, DeploymentGroup,
    DeploymentGroupStatusResponse, Goal, HostDeregisterResponse, HostDeregisterStatus,
    HostJobResponse, HostStatus, Job, JobDeleteResponse, JobDeleteStatus, JobDeployResponse, JobId,
    JobStatus, JobUndeployResponse, RemoveDeploymentGroupResponse, RemoveDeploymentGroupStatus,
    RollingUpdateRequest, RollingUpdateResponse, SetGoalResponse, TaskStatusEvents,
};

use crate::streamed::{self, Decoder, StreamError};
use crate::target::{Endpoint, Target};

/// Version of this client, sent as `Helios-Version` and printed by `version`.
pub const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// First pause after every endpoint of the target failed once.
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
/// Longest pause between two rounds over the endpoints.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// How the client behaves; built from the global options.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Sent as `?user=` on every request.
    pub user: String,
    /// Limit for one HTTP exchange (`--http-timeout`).
    pub http_timeout: Duration,
    /// Total budget for retrying unavailable masters (`--retry-timeout`).
    pub retry_timeout: Duration,
    /// `-v` count: 2 or more logs every exchange on stderr.
    pub verbose: u8,
    /// Sent as `Authorization: Bearer …` when set (see `credentials`).
    pub api_token: Option<String>,
}

/// A status and body received from a master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Raw response body.
    pub body: Vec<u8>,
}

impl Reply {
    /// Decodes the body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The body as text, for error messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_string()
    }

    /// A 504 whose body says the master could not tell whether the write was applied: the
    /// write is retried with the same key.
    fn is_unknown_outcome(&self) -> bool {
        self.status == 504
            && self
                .json::<Value>()
                .is_ok_and(|body| body["status"] == UNKNOWN_OUTCOME)
    }

    /// A 500 from a master whose Raft core stopped (it is exiting): nothing was written
    /// there, and another master may answer.
    fn is_master_stopped(&self) -> bool {
        self.status == 500
            && self
                .json::<Value>()
                .is_ok_and(|body| body["status"] == RAFT_STOPPED)
    }
}

/// The status word of a master whose Raft core stopped.
const RAFT_STOPPED: &str = "RAFT_STOPPED";

/// Why a request produced no usable answer. The `Display` form is the
/// one-line message the CLI prints on stderr.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The last attempt timed out and the retry budget is spent.
    #[error("Request timed out to master in {target}")]
    Timeout {
        /// The cluster's name.
        target: String,
    },
    /// No master could be reached within the retry budget.
    #[error("Unable to connect to master in {target}: {detail}")]
    Connect {
        /// The cluster's name.
        target: String,
        /// The innermost cause, e.g. `Connection refused (os error 111)`.
        detail: String,
    },
    /// The masters could not tell whether the write was applied, until the budget was spent.
    #[error(
        "Outcome unknown in {target}: the write may or may not have been applied ({detail}); \
         check with a read, or retry it with the header Idempotency-Key: {key}"
    )]
    UnknownOutcome {
        /// The cluster's name.
        target: String,
        /// The write's idempotency key: a retry with it is applied at most once.
        key: String,
        /// The master's explanation.
        detail: String,
    },
    /// Masters answered 502/503 (e.g. no leader) until the budget was spent.
    #[error("Master unavailable in {target}: {detail}")]
    Unavailable {
        /// The cluster's name.
        target: String,
        /// Status and the master's explanation, e.g. `503 NO_LEADER: …`.
        detail: String,
    },
    /// The master answered with a status the command does not handle.
    #[error("Request failed: {method} {path} answered {status}{detail}")]
    Status {
        /// HTTP method of the request.
        method: String,
        /// Path of the request.
        path: String,
        /// HTTP status code.
        status: u16,
        /// `: <body>` when the body says something, else empty.
        detail: String,
    },
    /// The master answered something that is not the expected JSON.
    #[error("Invalid response from master to {method} {path}: {detail}")]
    Decode {
        /// HTTP method of the request.
        method: String,
        /// Path of the request.
        path: String,
        /// What did not parse.
        detail: String,
    },
}

/// One failed attempt, before the retry budget decides what to report.
#[derive(Debug)]
enum Failure {
    Timeout,
    /// No connection could be made: the request never left.
    Connect(String),
    /// The connection broke after the request may have been sent.
    Lost(String),
    Unavailable(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout => f.write_str("no answer in time"),
            Failure::Connect(d) | Failure::Lost(d) | Failure::Unavailable(d) => f.write_str(d),
        }
    }
}

/// Bytes of job ids per `POST /jobs/statuses` request of [`HeliosClient::deployment_counts`]
/// (about 2,000 ids of Helios's usual length).
pub const STATUS_BATCH_BYTES: usize = 128 << 10;

/// Cuts ids, as they come, into batches of at most [`STATUS_BATCH_BYTES`] (as JSON, about),
/// each at least one id.
#[derive(Default)]
struct StatusBatcher {
    batch: Vec<String>,
    bytes: usize,
}

impl StatusBatcher {
    /// Adds `id`; returns the batch it closed, if it did not fit in the open one.
    fn push(&mut self, id: String) -> Option<Vec<String>> {
        // The id, its quotes and its comma.
        let size = id.len() + 3;
        let full = (!self.batch.is_empty() && self.bytes + size > STATUS_BATCH_BYTES)
            .then(|| std::mem::take(&mut self.batch));
        if full.is_some() {
            self.bytes = 0;
        }
        self.bytes += size;
        self.batch.push(id);
        full
    }

    /// The last batch, unless it is empty.
    fn finish(self) -> Option<Vec<String>> {
        (!self.batch.is_empty()).then_some(self.batch)
    }
}

/// Those requests in flight at once: the masters answer one while the client decodes another.
const STATUS_REQUESTS_IN_FLIGHT: usize = 3;

/// What one attempt got: an answer as it is, or what a decoder kept of a 200 body.
enum Answer<T> {
    Reply(Reply),
    Decoded(Vec<T>),
}

/// Why one attempt got no answer: a failure another attempt may overcome, or a body that
/// does not decode (another attempt would get the same).
enum AttemptError {
    Failed(Failure),
    Decode(String),
}

impl From<Failure> for AttemptError {
    fn from(f: Failure) -> Self {
        AttemptError::Failed(f)
    }
}

impl Failure {
    /// Whether the request may have reached a master (and so a write may have been applied).
    fn may_have_arrived(&self) -> bool {
        matches!(self, Failure::Timeout | Failure::Lost(_))
    }

    fn into_error(self, target: String) -> ClientError {
        match self {
            Failure::Timeout => ClientError::Timeout { target },
            Failure::Connect(detail) | Failure::Lost(detail) => {
                ClientError::Connect { target, detail }
            }
            Failure::Unavailable(detail) => ClientError::Unavailable { target, detail },
        }
    }
}

/// A request to send: method, path segments (each percent-encoded on its own),
/// extra query parameters and an optional JSON body.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    segments: Vec<String>,
    query: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl Request {
    /// A request without query parameters or body.
    pub fn new(method: Method, segments: &[&str]) -> Self {
        Request {
            method,
            segments: segments.iter().map(|s| s.to_string()).collect(),
            query: Vec::new(),
            body: None,
        }
    }

    /// Adds a query parameter.
    pub fn query(mut self, key: &str, value: &str) -> Self {
        self.query.push((key.to_string(), value.to_string()));
        self
    }

    /// Sets a JSON body.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        // Serializing our own descriptors to a Vec cannot fail: they hold only
        // strings, numbers, maps with string keys and lists.
        self.body = Some(serde_json::to_vec(body).unwrap_or_default());
        self
    }

    /// `/a/b` form of the path, for messages.
    pub fn path(&self) -> String {
        format!("/{}", self.segments.join("/"))
    }

    /// Whether the request changes the state (and so carries an idempotency key), decided
    /// as the masters decide it.
    fn is_write(&self) -> bool {
        helios_api::idempotency::is_write(self.method.as_str(), &self.path())
    }
}

/// How a client reaches its endpoints, beyond [`ClientConfig`].
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// How error messages name the cluster (`Request timed out to master in <label>`);
    /// the target's name when `None`.
    pub label: Option<String>,
    /// How https masters are trusted, and the client certificate shown to them.
    pub tls: TlsOptions,
}

pub use helios_api::http_client::{TlsOptions, TlsOptionsFiles};

/// A client for one cluster.
#[derive(Debug, Clone)]
pub struct HeliosClient {
    /// One HTTP client per endpoint of `target`, same index.
    http: Vec<reqwest::Client>,
    /// Idempotency keys of this client's writes: a random id of the invocation and a count.
    keys: std::sync::Arc<WriteKeys>,
    target: Target,
    config: ClientConfig,
    /// The cluster's name in error messages.
    label: String,
}

impl HeliosClient {
    /// Builds a client for `target` with default options (tests).
    #[cfg(test)]
    pub fn new(target: Target, config: ClientConfig) -> anyhow::Result<Self> {
        Self::with_options(target, config, ConnectOptions::default())
    }

    /// Builds a client for `target` with connection options.
    pub fn with_options(
        target: Target,
        config: ClientConfig,
        options: ConnectOptions,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !target.endpoints.is_empty(),
            "No master endpoint in {}",
            target.name
        );
        let mut http = Vec::with_capacity(target.endpoints.len());
        for endpoint in &target.endpoints {
            let (client, roots) = http_client(endpoint, &options.tls)?;
            if let Some(note) = roots.note().filter(|_| config.verbose >= 1) {
                eprintln!("{note}");
            }
            http.push(client);
        }
        Ok(HeliosClient {
            http,
            keys: std::sync::Arc::new(WriteKeys::new()),
            label: options.label.unwrap_or_else(|| target.name.clone()),
            target,
            config,
        })
    }

    /// The cluster this client talks to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Sends `request`, retrying unavailable masters within the budget, and
    /// returns the first real answer (any status but 502, 503 and a 504 `UNKNOWN_OUTCOME`).
    /// A write keeps one idempotency key across all its attempts.
    pub async fn send(&self, request: &Request) -> Result<Reply, ClientError> {
        match self.exchange::<()>(request, None).await? {
            Answer::Reply(reply) => Ok(reply),
            Answer::Decoded(_) => unreachable!("no decoder was given"),
        }
    }

    /// Sends a read whose 200 answer, a JSON object, may be large, as [`HeliosClient::send`]
    /// does, and decodes that answer with `decode` as it arrives (see [`streamed`]); any other
    /// status is a [`ClientError::Status`]. A connection that breaks mid-answer is retried
    /// like one that broke before it.
    pub async fn read_streamed<T: Send + 'static>(
        &self,
        request: &Request,
        decode: Decoder<T>,
    ) -> Result<Vec<T>, ClientError> {
        match self.exchange(request, Some(&decode)).await? {
            Answer::Decoded(value) => Ok(value),
            Answer::Reply(reply) => Err(status_error(request, &reply)),
        }
    }

    /// The retry loop of [`HeliosClient::send`]; with a decoder, a 200 answer is decoded as
    /// it arrives instead of being buffered.
    async fn exchange<T: Send + 'static>(
        &self,
        request: &Request,
        decoder: Option<&Decoder<T>>,
    ) -> Result<Answer<T>, ClientError> {
        let key = request.is_write().then(|| self.keys.next());
        let endpoints = &self.target.endpoints;
        let mut order: Vec<usize> = (0..endpoints.len()).collect();
        order.shuffle(&mut rand::rng());
        let deadline = Instant::now() + self.config.retry_timeout;
        let mut backoff = INITIAL_BACKOFF;
        let mut attempt = 0usize;
        let mut last: Option<Failure> = None;
        // For a write: why an attempt may have been applied, once one may have been. The
        // final error then says the outcome is unknown, never that nothing happened.
        let mut maybe_applied: Option<String> = None;
        loop {
            let timeout = if attempt == 0 {
                self.config.http_timeout
            } else {
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    break;
                }
                remaining.min(self.config.http_timeout)
            };
            let index = order[attempt % order.len()];
            let url = self.url(&endpoints[index], request);
            match self
                .attempt(
                    index,
                    request,
                    key.as_deref(),
                    url.clone(),
                    timeout,
                    decoder,
                )
                .await
            {
                Ok(Answer::Decoded(value)) => {
                    self.log(request, &url, "200 (streamed)");
                    return Ok(Answer::Decoded(value));
                }
                Ok(Answer::Reply(reply))
                    if reply.status == 502 || reply.status == 503 || reply.is_master_stopped() =>
                {
                    self.log(request, &url, &format!("{} (retrying)", reply.status));
                    last = Some(Failure::Unavailable(unavailable_detail(&reply)));
                }
                Ok(Answer::Reply(reply)) if reply.is_unknown_outcome() => {
                    self.log(request, &url, "504 UNKNOWN_OUTCOME (retrying, same key)");
                    maybe_applied = Some(unavailable_detail(&reply));
                }
                Ok(Answer::Reply(reply)) => {
                    self.log(request, &url, &reply.status.to_string());
                    return Ok(Answer::Reply(reply));
                }
                Err(AttemptError::Decode(e)) => {
                    return Err(ClientError::Decode {
                        method: request.method.to_string(),
                        path: request.path(),
                        detail: e.to_string(),
                    });
                }
                Err(AttemptError::Failed(failure)) => {
                    self.log(request, &url, &format!("{failure:?} (retrying)"));
                    if key.is_some() && failure.may_have_arrived() {
                        maybe_applied = Some(failure.to_string());
                    }
                    last = Some(failure);
                }
            }
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            if attempt.is_multiple_of(order.len()) {
                tokio::time::sleep(backoff.min(remaining)).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        if let (Some(detail), Some(key)) = (maybe_applied, key) {
            return Err(ClientError::UnknownOutcome {
                target: self.label.clone(),
                key,
                detail,
            });
        }
        // The loop runs at least one attempt, so `last` is set.
        Err(last
            .unwrap_or(Failure::Timeout)
            .into_error(self.label.clone()))
    }

    /// Sends `request` and decodes a 200 answer as JSON; any other status is
    /// a [`ClientError::Status`].
    pub async fn get_ok<T: DeserializeOwned>(&self, request: &Request) -> Result<T, ClientError> {
        let reply = self.send(request).await?;
        if reply.status != 200 {
            return Err(status_error(request, &reply));
        }
        decode(request, &reply)
    }

    /// `GET /jobs[?q=<query>]`: jobs by full id (`q` is a substring of the id).
    pub async fn jobs(&self, query: Option<&str>) -> Result<BTreeMap<String, Job>, ClientError> {
        let mut request = Request::new(Method::GET, &["jobs"]);
        if let Some(q) = query {
            request = request.query("q", q);
        }
        self.get_ok(&request).await
    }

    /// `GET /jobs[?q=<query>]` for a listing of any size: each job, decoded as a `V`, is
    /// reduced by `keep` as it arrives (see [`streamed`]); the result is in the answer's order.
    pub async fn jobs_streamed<V, T, F>(
        &self,
        query: Option<&str>,
        keep: F,
    ) -> Result<Vec<T>, ClientError>
    where
        V: DeserializeOwned,
        T: Send + 'static,
        F: Fn(String, V) -> Option<T> + Send + Sync + 'static,
    {
        let mut request = Request::new(Method::GET, &["jobs"]);
        if let Some(q) = query {
            request = request.query("q", q);
        }
        let decode: Decoder<T> =
            std::sync::Arc::new(move |batch| streamed::object_entries(batch, &keep));
        self.read_streamed(&request, decode).await
    }

    /// `POST /jobs`: creates `job` (sent without a hash unless the user gave
    /// one). 200 and 400 carry a [`CreateJobResponse`]; other statuses are
    /// errors.
    pub async fn create_job(&self, job: &Job) -> Result<CreateJobResponse, ClientError> {
        let request = Request::new(Method::POST, &["jobs"]).json(job);
        let reply = self.send(&request).await?;
        match reply.status {
            200 | 400 => decode(&request, &reply),
            _ => Err(status_error(&request, &reply)),
        }
    }

    /// `DELETE /jobs/{id}?token=`: 200, 400, 403 and 404 carry a
    /// [`JobDeleteResponse`]; a 403/404 without one is read from its status.
    pub async fn delete_job(
        &self,
        id: &str,
        token: &str,
    ) -> Result<JobDeleteResponse, ClientError> {
        let request = Request::new(Method::DELETE, &["jobs", id]).query("token", token);
        let reply = self.send(&request).await?;
        match reply.status {
            200 | 400 | 403 | 404 => decode(&request, &reply).or_else(|e| match reply.status {
                403 => Ok(JobDeleteResponse {
                    status: JobDeleteStatus::Forbidden,
                }),
                404 => Ok(JobDeleteResponse {
                    status: JobDeleteStatus::JobNotFound,
                }),
                _ => Err(e),
            }),
            _ => Err(status_error(&request, &reply)),
        }
    }

    /// `POST /jobs/statuses`: number of deployments per job id, for ids as they arrive on
    /// `ids` (while a listing is still being read, say), asked in batches of at most
    /// [`STATUS_BATCH_BYTES`] of ids, a few requests at once (far below the masters' 1 MiB
    /// body limit, whatever the ids' length), and decoded as the answers arrive, keeping only
    /// the counts; a job deployed nowhere is left out (absent means 0). Answers once `ids` is
    /// closed and every batch is answered. A master that does not serve statuses (404) counts
    /// as "no deployments anywhere"; any other answer but 200, and unreachable masters, are
    /// errors.
    pub async fn deployment_counts(
        &self,
        mut ids: tokio::sync::mpsc::UnboundedReceiver<String>,
    ) -> Result<HashMap<String, usize>, ClientError> {
        /// What a count needs of a job status: the hosts of its deployments.
        #[derive(serde::Deserialize)]
        struct Deployments {
            #[serde(default)]
            deployments: Option<BTreeMap<String, serde::de::IgnoredAny>>,
        }
        let decode: Decoder<(String, usize)> = std::sync::Arc::new(|batch| {
            streamed::object_entries(batch, |id, status: Deployments| {
                let count = status.deployments.map_or(0, |d| d.len());
                (count > 0).then_some((id, count))
            })
        });
        let mut counts = HashMap::new();
        let mut in_flight = tokio::task::JoinSet::new();
        let mut ready: std::collections::VecDeque<Vec<String>> = Default::default();
        let mut batcher = Some(StatusBatcher::default());
        loop {
            while in_flight.len() < STATUS_REQUESTS_IN_FLIGHT
                && let Some(batch) = ready.pop_front()
            {
                let (client, decode) = (self.clone(), decode.clone());
                // Only the deployments (a Helios master ignores `fields` and sends whole
                // statuses, which decode the same).
                let request = Request::new(Method::POST, &["jobs", "statuses"])
                    .query("fields", "deployments")
                    .json(&batch);
                in_flight.spawn(async move { client.exchange(&request, Some(&decode)).await });
            }
            let done = tokio::select! {
                id = ids.recv(), if batcher.is_some() => {
                    match id {
                        Some(id) => ready.extend(batcher.as_mut().and_then(|b| b.push(id))),
                        None => ready.extend(batcher.take().and_then(StatusBatcher::finish)),
                    }
                    continue;
                }
                done = in_flight.join_next(), if !in_flight.is_empty() => done,
                else => return Ok(counts),
            };
            let Some(done) = done else { continue };
            match done.map_err(|e| ClientError::Decode {
                method: "POST".into(),
                path: "/jobs/statuses".into(),
                detail: format!("the request's task failed: {e}"),
            })?? {
                Answer::Decoded(found) => counts.extend(found),
                Answer::Reply(reply) if reply.status == 404 => return Ok(HashMap::new()),
                Answer::Reply(reply) => {
                    let request = Request::new(Method::POST, &["jobs", "statuses"]);
                    return Err(status_error(&request, &reply));
                }
            }
        }
    }

    /// `GET /jobs[?q=…][&hostPattern=…]`, each parameter only when non-empty:
    /// jobs whose id contains `query` and, with a pattern, that are deployed
    /// on a host whose name the pattern finds.
    pub async fn jobs_on_hosts(
        &self,
        query: &str,
        host_pattern: &str,
    ) -> Result<BTreeMap<String, Job>, ClientError> {
        let mut request = Request::new(Method::GET, &["jobs"]);
        if !query.is_empty() {
            request = request.query("q", query);
        }
        if !host_pattern.is_empty() {
            request = request.query("hostPattern", host_pattern);
        }
        self.get_ok(&request).await
    }

    /// `POST /jobs/statuses`: the status of each job; jobs the master does
    /// not know are absent. No request is sent for no ids.
    pub async fn job_statuses(
        &self,
        ids: &[JobId],
    ) -> Result<BTreeMap<String, JobStatus>, ClientError> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let request = Request::new(Method::POST, &["jobs", "statuses"]).json(&ids);
        self.get_ok(&request).await
    }

    /// `GET /jobs/{id}/status`; `None` when the master does not know the job.
    pub async fn job_status(&self, id: &JobId) -> Result<Option<JobStatus>, ClientError> {
        let request = Request::new(Method::GET, &["jobs", &id.to_string(), "status"]);
        let reply = self.send(&request).await?;
        match reply.status {
            200 => decode(&request, &reply).map(Some),
            404 => Ok(None),
            _ => Err(status_error(&request, &reply)),
        }
    }

    /// `GET /history/jobs/{id}`: the job's task-status events, oldest first.
    pub async fn job_history(&self, id: &JobId) -> Result<TaskStatusEvents, ClientError> {
        let request = Request::new(Method::GET, &["history", "jobs", &id.to_string()]);
        let reply = self.send(&request).await?;
        match reply.status {
            200 | 404 => decode(&request, &reply),
            _ => Err(status_error(&request, &reply)),
        }
    }

    /// `PUT /hosts/{host}/jobs/{job}?token=` with body `{"goal":…,"jobId":…}`.
    pub async fn deploy(
        &self,
        id: &JobId,
        goal: Goal,
        host: &str,
        token: &str,
    ) -> Result<JobDeployResponse, ClientError> {
        let request = Request::new(Method::PUT, &["hosts", host, "jobs", &id.to_string()])
            .query("token", token)
            .json(&deployment_body(id, goal));
        let reply = self.send(&request).await?;
        host_job_response(&request, &reply, &[200, 400, 403, 404, 405], host, id)
    }

    /// `PATCH /hosts/{host}/jobs/{job}?token=` with body `{"goal":…,"jobId":…}`.
    pub async fn set_goal(
        &self,
        id: &JobId,
        goal: Goal,
        host: &str,
        token: &str,
    ) -> Result<SetGoalResponse, ClientError> {
        let request = Request::new(Method::PATCH, &["hosts", host, "jobs", &id.to_string()])
            .query("token", token)
            .json(&deployment_body(id, goal));
        let reply = self.send(&request).await?;
        host_job_response(&request, &reply, &[200, 400, 403, 404], host, id)
    }

    /// `DELETE /hosts/{host}/jobs/{job}?token=`.
    pub async fn undeploy(
        &self,
        id: &JobId,
        host: &str,
        token: &str,
    ) -> Result<JobUndeployResponse, ClientError> {
        let request = Request::new(Method::DELETE, &["hosts", host, "jobs", &id.to_string()])
            .query("token", token);
        let reply = self.send(&request).await?;
        host_job_response(&request, &reply, &[200, 400, 403, 404], host, id)
    }

    /// `GET /hosts[?namePattern=…][&selector=…]`: registered host names (UP or
    /// DOWN) whose name the pattern finds and whose labels match every
    /// selector.
    pub async fn hosts(
        &self,
        name_pattern: Option<&str>,
        selectors: &[String],
    ) -> Result<Vec<String>, ClientError> {
        let mut request = Request::new(Method::GET, &["hosts"]);
        if let Some(pattern) = name_pattern.filter(|p| !p.is_empty()) {
            request = request.query("namePattern", pattern);
        }
        for selector in selectors {
            request = request.query("selector", selector);
        }
        self.get_ok(&request).await
    }

    /// `POST /hosts/statuses[?status=UP|DOWN]`: the status of each host;
    /// unknown hosts, and hosts filtered out by `status`, are absent.
    pub async fn host_statuses(
        &self,
        hosts: &[String],
        status: Option<&str>,
    ) -> Result<BTreeMap<String, HostStatus>, ClientError> {
        let mut request = Request::new(Method::POST, &["hosts", "statuses"]).json(hosts);
        if let Some(status) = status {
            request = request.query("status", status);
        }
        self.get_ok(&request).await
    }

    /// `PUT /hosts/{host}?id=`: the HTTP status of the answer (Helios prints it
    /// as is on failure).
    pub async fn register_host(&self, host: &str, id: &str) -> Result<u16, ClientError> {
        let request = Request::new(Method::PUT, &["hosts", host]).query("id", id);
        Ok(self.send(&request).await?.status)
    }

    /// `DELETE /hosts/{host}`: 200 and 404 carry a [`HostDeregisterResponse`];
    /// a 404 without one is `NOT_FOUND`.
    pub async fn deregister_host(&self, host: &str) -> Result<HostDeregisterResponse, ClientError> {
        let request = Request::new(Method::DELETE, &["hosts", host]);
        let reply = self.send(&request).await?;
        match reply.status {
            200 | 404 => decode(&request, &reply).or_else(|e| {
                if reply.status == 404 {
                    Ok(HostDeregisterResponse {
                        host: host.to_string(),
                        status: HostDeregisterStatus::NotFound,
                    })
                } else {
                    Err(e)
                }
            }),
            _ => Err(status_error(&request, &reply)),
        }
    }

    /// `GET /deployment-group`: the names of the deployment groups, as the master sorts
    /// them; `None` for a 404 (Helios's client reads it as no answer).
    pub async fn deployment_groups(&self) -> Result<Option<Vec<String>>, ClientError> {
        self.get_optional(&Request::new(Method::GET, &["deployment-group"]))
            .await
    }

    /// `GET /deployment-group/{name}`; `None` when the master does not know the group.
    pub async fn deployment_group(
        &self,
        name: &str,
    ) -> Result<Option<DeploymentGroup>, ClientError> {
        self.get_optional(&Request::new(Method::GET, &["deployment-group", name]))
            .await
    }

    /// `GET /deployment-group/{name}/status`; `None` when the master does not know the
    /// group.
    pub async fn deployment_group_status(
        &self,
        name: &str,
    ) -> Result<Option<DeploymentGroupStatusResponse>, ClientError> {
        let request = Request::new(Method::GET, &["deployment-group", name, "status"]);
        self.get_optional(&request).await
    }

    /// `POST /deployment-group` with the group: `CREATED`, `NOT_MODIFIED` or `CONFLICT`,
    /// all with 200 (400 is decoded too, as Helios's client does).
    pub async fn create_deployment_group(
        &self,
        group: &DeploymentGroup,
    ) -> Result<CreateDeploymentGroupResponse, ClientError> {
        let request = Request::new(Method::POST, &["deployment-group"]).json(group);
        let reply = self.send(&request).await?;
        match reply.status {
            200 | 400 => decode(&request, &reply),
            _ => Err(status_error(&request, &reply)),
        }
    }

    /// `DELETE /deployment-group/{name}`: `REMOVED` or `DEPLOYMENT_GROUP_NOT_FOUND`, both
    /// with 200 (400 is decoded too, as Helios's client does); a 404 that does not say
    /// otherwise is `DEPLOYMENT_GROUP_NOT_FOUND`.
    pub async fn remove_deployment_group(
        &self,
        name: &str,
    ) -> Result<RemoveDeploymentGroupResponse, ClientError> {
        let request = Request::new(Method::DELETE, &["deployment-group", name]);
        let reply = self.send(&request).await?;
        match reply.status {
            200 | 400 => decode(&request, &reply),
            404 => Ok(reply.json().unwrap_or(RemoveDeploymentGroupResponse {
                status: RemoveDeploymentGroupStatus::DeploymentGroupNotFound,
            })),
            _ => Err(status_error(&request, &reply)),
        }
    }

    /// `POST /deployment-group/{name}/rolling-update` with `{"job":…,"rolloutOptions":…}`:
    /// `OK`, `JOB_NOT_FOUND` or `DEPLOYMENT_GROUP_NOT_FOUND`, all with 200 (a 400 or 404 whose
    /// body is one of them is read the same, as Helios's client reads 400). Any other answer is
    /// an error, such as a 400 `{"status":"…","message":…}` for options the master refuses.
    pub async fn rolling_update(
        &self,
        name: &str,
        body: &RollingUpdateRequest,
    ) -> Result<RollingUpdateResponse, ClientError> {
        let request =
            Request::new(Method::POST, &["deployment-group", name, "rolling-update"]).json(body);
        let reply = self.send(&request).await?;
        match reply.status {
            200 => decode(&request, &reply),
            400 | 404 => reply.json().map_err(|_| status_error(&request, &reply)),
            _ => Err(status_error(&request, &reply)),
        }
    }

    /// `POST /deployment-group/{name}/stop`: the HTTP status of the answer, 204 when the
    /// rollout was stopped and 404 for an unknown group (Helios prints any other as is).
    pub async fn stop_deployment_group(&self, name: &str) -> Result<u16, ClientError> {
        let request = Request::new(Method::POST, &["deployment-group", name, "stop"]);
        Ok(self.send(&request).await?.status)
    }

    /// Sends a read and decodes a 200 answer; a 404 is `None`, any other status an error.
    async fn get_optional<T: DeserializeOwned>(
        &self,
        request: &Request,
    ) -> Result<Option<T>, ClientError> {
        let reply = self.send(request).await?;
        match reply.status {
            200 => decode(request, &reply).map(Some),
            404 => Ok(None),
            _ => Err(status_error(request, &reply)),
        }
    }

    /// `GET /masters`: names of the running masters.
    pub async fn masters(&self) -> Result<Vec<String>, ClientError> {
        self.get_ok(&Request::new(Method::GET, &["masters"])).await
    }

    /// `GET /version`: the master's version, or the text Helios prints in its
    /// place (`Unable to connect to master`, `Master replied with error code N`).
    pub async fn master_version(&self) -> String {
        let request = Request::new(Method::GET, &["version"]);
        match self.send(&request).await {
            Err(_) => "Unable to connect to master".to_string(),
            Ok(reply) if reply.status != 200 => {
                format!("Master replied with error code {}", reply.status)
            }
            Ok(reply) => reply.json::<String>().unwrap_or_else(|_| reply.text()),
        }
    }

    fn url(&self, endpoint: &Url, request: &Request) -> Url {
        let mut url = endpoint.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty();
            segments.extend(request.segments.iter());
        }
        url.set_query(None);
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("user", &self.config.user);
            for (k, v) in &request.query {
                pairs.append_pair(k, v);
            }
        }
        url
    }

    async fn attempt<T: Send + 'static>(
        &self,
        index: usize,
        request: &Request,
        key: Option<&str>,
        url: Url,
        timeout: Duration,
        decoder: Option<&Decoder<T>>,
    ) -> Result<Answer<T>, AttemptError> {
        let mut builder = self.http[index]
            .request(request.method.clone(), url)
            .timeout(timeout)
            .header("Helios-Version", HeaderValue::from_static(CLIENT_VERSION));
        if let Some(key) = key {
            builder = builder.header(IDEMPOTENCY_KEY, key);
        }
        if let Some(token) = &self.config.api_token {
            // A token that is not a header value is sent as nothing: the master answers 401.
            if let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {token}")) {
                value.set_sensitive(true);
                builder = builder.header(reqwest::header::AUTHORIZATION, value);
            }
        }
        if let Some(body) = &request.body {
            builder = builder
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.clone());
        }
        let response = builder.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        if let (Some(decode), 200) = (decoder, status) {
            return match streamed::decode_object_body(response, decode).await {
                Ok(value) => Ok(Answer::Decoded(value)),
                Err(StreamError::Transport(e)) => Err(classify(e).into()),
                Err(StreamError::Decode(e)) => Err(AttemptError::Decode(e)),
            };
        }
        let body = response.bytes().await.map_err(classify)?;
        Ok(Answer::Reply(Reply {
            status,
            body: body.to_vec(),
        }))
    }

    fn log(&self, request: &Request, url: &Url, outcome: &str) {
        if self.config.verbose >= 2 {
            eprintln!("{} {} -> {}", request.method, url, outcome);
        }
    }
}

/// The HTTP client of one endpoint: connects to the endpoint's pinned address, if any. On a
/// machine without CA certificates it trusts the bundled roots instead (see
/// [`helios_api::http_client`]).
fn http_client(
    endpoint: &Endpoint,
    tls: &TlsOptions,
) -> reqwest::Result<(reqwest::Client, helios_api::http_client::Roots)> {
    helios_api::http_client::build(|| {
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .user_agent(format!("helios-cli/{CLIENT_VERSION}"));
        builder = tls.apply(builder);
        if let (Some(addr), Some(host)) = (endpoint.addr, endpoint.url.host_str()) {
            builder = builder.resolve(host, addr);
        }
        builder
    })
}

use helios_api::idempotency::{IDEMPOTENCY_KEY, UNKNOWN_OUTCOME};

/// The idempotency keys of one client's writes: `cli-<random>-<n>`, a new `n` per write.
#[derive(Debug)]
struct WriteKeys {
    invocation: String,
    count: std::sync::atomic::AtomicU64,
}

impl WriteKeys {
    fn new() -> Self {
        WriteKeys {
            invocation: format!("cli-{:032x}", rand::random::<u128>()),
            count: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn next(&self) -> String {
        let n = self
            .count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}-{n}", self.invocation)
    }
}

/// Decodes a reply body, naming the request when it does not parse.
pub fn decode<T: DeserializeOwned>(request: &Request, reply: &Reply) -> Result<T, ClientError> {
    reply.json().map_err(|e| ClientError::Decode {
        method: request.method.to_string(),
        path: request.path(),
        detail: e.to_string(),
    })
}

/// The error for an answer whose status the command does not handle.
pub fn status_error(request: &Request, reply: &Reply) -> ClientError {
    let text = reply.text();
    let detail = if text.is_empty() {
        String::new()
    } else {
        let mut short: String = text.chars().take(200).collect();
        short = short.replace(['\n', '\r'], " ");
        format!(": {short}")
    };
    ClientError::Status {
        method: request.method.to_string(),
        path: request.path(),
        status: reply.status,
        detail,
    }
}

/// The body of deploy and set-goal requests: a `Deployment` with only the
/// job and the goal (the master fills in the deployer).
fn deployment_body(id: &JobId, goal: Goal) -> Value {
    serde_json::json!({"goal": goal, "jobId": id.to_string()})
}

/// Reads a `{host, job, status}` answer whose HTTP status is one of `codes`.
/// A body that only names the status (`{"status":"HOST_NOT_FOUND",
/// "message":…}`), or a bare 403, still yields a response, naming the
/// request's host and job where the body does not.
fn host_job_response<S: DeserializeOwned>(
    request: &Request,
    reply: &Reply,
    codes: &[u16],
    host: &str,
    id: &JobId,
) -> Result<HostJobResponse<S>, ClientError> {
    if !codes.contains(&reply.status) {
        return Err(status_error(request, reply));
    }
    // Helios's master always names the host and job; a body that does not
    // (such as `{"status":…,"message":…}`) gets the request's.
    if let Ok(mut response) = reply.json::<HostJobResponse<S>>() {
        response.host.get_or_insert_with(|| host.to_string());
        response.job.get_or_insert_with(|| id.to_string());
        return Ok(response);
    }
    let named = reply
        .json::<Value>()
        .ok()
        .and_then(|body| body.get("status").cloned())
        .and_then(|status| serde_json::from_value::<S>(status).ok());
    let status = named.or_else(|| {
        (reply.status == 403)
            .then(|| serde_json::from_value::<S>(Value::from("FORBIDDEN")).ok())
            .flatten()
    });
    match status {
        Some(status) => Ok(HostJobResponse::new(status, host, id.to_string())),
        None => Err(decode::<HostJobResponse<S>>(request, reply)
            .err()
            .unwrap_or_else(|| status_error(request, reply))),
    }
}

fn classify(error: reqwest::Error) -> Failure {
    if error.is_timeout() {
        return Failure::Timeout;
    }
    // reqwest's own message names the URL; the innermost cause says what
    // actually went wrong ("Connection refused (os error 111)").
    let cause = helios_api::error_text::innermost(&error);
    if error.is_connect() {
        Failure::Connect(cause)
    } else {
        Failure::Lost(cause)
    }
}

/// `503 NO_LEADER: <message>` from a `{"status":…,"message":…}` body, else
/// the status and body text.
fn unavailable_detail(reply: &Reply) -> String {
    if let Ok(Value::Object(body)) = reply.json::<Value>() {
        let status = body.get("status").and_then(Value::as_str);
        let message = body.get("message").and_then(Value::as_str);
        match (status, message) {
            (Some(s), Some(m)) => return format!("{} {s}: {m}", reply.status),
            (Some(s), None) => return format!("{} {s}", reply.status),
            (None, Some(m)) => return format!("{}: {m}", reply.status),
            (None, None) => {}
        }
    }
    let text = reply.text();
    if text.is_empty() {
        reply.status.to_string()
    } else {
        format!(
            "{}: {}",
            reply.status,
            text.chars().take(200).collect::<String>()
        )
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A scripted HTTP/1.1 server for client and command tests.

    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// One request as the server saw it.
    #[derive(Debug, Clone)]
    pub struct Seen {
        /// `GET /jobs?user=x` — the request line without the HTTP version.
        pub line: String,
        /// Lower-cased header lines.
        pub headers: Vec<String>,
        /// Request body.
        pub body: String,
    }

    /// Serves `responses` in order (status, body), one per connection, and
    /// records what it received. After the script ends it answers 500.
    pub async fn serve(responses: Vec<(u16, String)>) -> (String, Arc<Mutex<Vec<Seen>>>) {
        serve_with(responses, None).await
    }

    /// Like [`serve`], over TLS with a self-signed certificate for `localhost`;
    /// the URL is `https://localhost:<port>`.
    pub async fn serve_tls(responses: Vec<(u16, String)>) -> (String, Arc<Mutex<Vec<Seen>>>) {
        use tokio_rustls::rustls::{
            ServerConfig,
            pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer},
        };
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .expect("tls config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let (url, seen) = serve_with(responses, Some(acceptor)).await;
        (url.replace("http://127.0.0.1", "https://localhost"), seen)
    }

    async fn serve_with(
        responses: Vec<(u16, String)>,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            let mut script = responses.into_iter();
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                match &tls {
                    None => answer(socket, &log, &mut script).await,
                    Some(acceptor) => {
                        // A client that rejects the certificate ends here.
                        if let Ok(stream) = acceptor.accept(socket).await {
                            answer(stream, &log, &mut script).await;
                        }
                    }
                }
            }
        });
        (format!("http://{addr}"), seen)
    }

    /// Reads one request from `socket`, records it, and answers the script's
    /// next response.
    async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
        mut socket: S,
        log: &Mutex<Vec<Seen>>,
        script: &mut impl Iterator<Item = (u16, String)>,
    ) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        // Read headers, then as much body as Content-Length says.
        let (head_end, content_length) = loop {
            let n = socket.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break (buf.len(), 0);
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..pos]).to_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                break (pos + 4, len);
            }
        };
        while buf.len() < head_end + content_length {
            let n = socket.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let head = String::from_utf8_lossy(&buf[..head_end.min(buf.len())]).to_string();
        let mut lines = head.lines();
        let request_line = lines.next().unwrap_or_default();
        let line = request_line
            .rsplit_once(' ')
            .map_or(request_line, |(l, _)| l)
            .to_string();
        let headers = lines
            .filter(|l| !l.is_empty())
            .map(|l| l.to_lowercase())
            .collect();
        let body = String::from_utf8_lossy(&buf[head_end.min(buf.len())..]).to_string();
        log.lock().expect("lock").push(Seen {
            line,
            headers,
            body,
        });
        let (status, body) = script
            .next()
            .unwrap_or((500, "\"script exhausted\"".to_string()));
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = socket.write_all(response.as_bytes()).await;
        let _ = socket.shutdown().await;
    }

    /// An address where nothing listens.
    pub async fn dead_endpoint() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        format!("http://{addr}")
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{dead_endpoint, serve, serve_tls};
    use super::*;
    use crate::target::parse_endpoint;

    fn config(retry: Duration) -> ClientConfig {
        ClientConfig {
            user: "alice".into(),
            http_timeout: Duration::from_secs(5),
            retry_timeout: retry,
            verbose: 0,
            api_token: None,
        }
    }

    fn target(endpoints: &[String]) -> Target {
        Target {
            name: endpoints.join(","),
            endpoints: endpoints
                .iter()
                .map(|e| parse_endpoint(e).expect("endpoint"))
                .collect(),
        }
    }

    fn client(endpoints: &[String], retry: Duration) -> HeliosClient {
        HeliosClient::new(target(endpoints), config(retry)).expect("client")
    }

    #[tokio::test]
    async fn pinned_endpoints_connect_to_their_address_and_keep_the_name() {
        let (url, seen) = serve(vec![(200, r#"["m1"]"#.into())]).await;
        let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
        // The name does not resolve anywhere: only the pinned address can answer.
        let endpoint = parse_endpoint(&format!("http://master.invalid:{}", addr.port()))
            .unwrap()
            .pinned(addr);
        let target = Target {
            name: "cluster".into(),
            endpoints: vec![endpoint],
        };
        let c = HeliosClient::new(target, config(Duration::from_secs(5))).unwrap();
        assert_eq!(c.masters().await.unwrap(), ["m1"]);
        let seen = seen.lock().unwrap();
        let host = format!("host: master.invalid:{}", addr.port());
        assert!(seen[0].headers.contains(&host), "{:?}", seen[0].headers);
    }

    #[tokio::test]
    async fn https_masters_are_verified_unless_insecure() {
        let (url, seen) = serve_tls(vec![(200, r#"["m1"]"#.into()); 3]).await;
        // The self-signed certificate is not trusted: no answer, a connect error.
        let err = client(std::slice::from_ref(&url), Duration::from_millis(300))
            .masters()
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Connect { .. }), "{err}");
        assert!(err.to_string().contains("certificate"), "{err}");
        assert!(seen.lock().unwrap().is_empty());
        // -k accepts it.
        let insecure = ConnectOptions {
            label: None,
            tls: TlsOptions {
                insecure: true,
                ..TlsOptions::default()
            },
        };
        let c = HeliosClient::with_options(
            target(std::slice::from_ref(&url)),
            config(Duration::from_secs(5)),
            insecure.clone(),
        )
        .unwrap();
        assert_eq!(c.masters().await.unwrap(), ["m1"]);
        // A pinned https endpoint keeps its name for the TLS handshake and Host header.
        let port = url.rsplit(':').next().unwrap();
        let endpoint = parse_endpoint(&format!("https://master.invalid:{port}"))
            .unwrap()
            .pinned(format!("127.0.0.1:{port}").parse().unwrap());
        let pinned = Target {
            name: "tls".into(),
            endpoints: vec![endpoint],
        };
        let c =
            HeliosClient::with_options(pinned, config(Duration::from_secs(5)), insecure).unwrap();
        assert_eq!(c.masters().await.unwrap(), ["m1"]);
        let seen = seen.lock().unwrap();
        assert!(
            seen[1]
                .headers
                .contains(&format!("host: master.invalid:{port}")),
            "{:?}",
            seen[1].headers
        );
    }

    #[tokio::test]
    async fn errors_name_the_cluster_by_its_label() {
        let dead = dead_endpoint().await;
        let options = ConnectOptions {
            label: Some("example.test (srv: helios)".into()),
            tls: TlsOptions::default(),
        };
        let c = HeliosClient::with_options(
            target(std::slice::from_ref(&dead)),
            config(Duration::from_millis(300)),
            options,
        )
        .unwrap();
        let err = c.masters().await.unwrap_err().to_string();
        assert!(
            err.starts_with("Unable to connect to master in example.test (srv: helios): "),
            "{err}"
        );
        let empty = Target {
            name: "none".into(),
            endpoints: vec![],
        };
        assert!(HeliosClient::new(empty, config(Duration::from_secs(1))).is_err());
    }

    #[tokio::test]
    async fn every_request_carries_user_and_version_header() {
        let (url, seen) = serve(vec![(200, r#"{}"#.into())]).await;
        let jobs = client(&[url], Duration::from_secs(5))
            .jobs(Some("foo:1"))
            .await
            .expect("jobs");
        assert!(jobs.is_empty());
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].line, "GET /jobs?user=alice&q=foo%3A1");
        assert!(
            seen[0]
                .headers
                .iter()
                .any(|h| h == &format!("helios-version: {CLIENT_VERSION}"))
        );
    }

    #[tokio::test]
    async fn no_leader_is_retried_until_an_answer() {
        let (url, seen) = serve(vec![
            (
                503,
                r#"{"status":"NO_LEADER","message":"no leader"}"#.into(),
            ),
            (502, String::new()),
            (200, r#"["m1","m2"]"#.into()),
        ])
        .await;
        let masters = client(&[url], Duration::from_secs(10))
            .masters()
            .await
            .expect("masters");
        assert_eq!(masters, vec!["m1", "m2"]);
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn other_statuses_are_answers() {
        let (url, seen) = serve(vec![(404, String::new())]).await;
        let reply = client(&[url], Duration::from_secs(10))
            .send(&Request::new(Method::GET, &["jobs", "x:1:abc"]))
            .await
            .expect("reply");
        assert_eq!(reply.status, 404);
        assert_eq!(seen.lock().unwrap()[0].line, "GET /jobs/x:1:abc?user=alice");
    }

    #[tokio::test]
    async fn dead_endpoint_moves_on_to_the_next() {
        let dead = dead_endpoint().await;
        let (url, _) = serve(vec![(200, r#""0.1.0""#.into())]).await;
        // Whatever the random order, the live endpoint answers.
        let version = client(&[dead, url], Duration::from_secs(10))
            .master_version()
            .await;
        assert_eq!(version, "0.1.0");
    }

    #[tokio::test]
    async fn unreachable_cluster_fails_after_the_budget() {
        let dead = dead_endpoint().await;
        let c = client(std::slice::from_ref(&dead), Duration::from_millis(500));
        let started = std::time::Instant::now();
        let err = c.masters().await.unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(400));
        assert!(matches!(err, ClientError::Connect { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("Unable to connect to master in {dead}: ")),
            "{err}"
        );
        assert_eq!(c.master_version().await, "Unable to connect to master");
    }

    #[tokio::test]
    async fn leaderless_cluster_reports_the_masters_message() {
        let body = r#"{"status":"NO_LEADER","message":"no leader elected"}"#.to_string();
        let (url, _) = serve(vec![(503, body.clone()); 50]).await;
        let err = client(std::slice::from_ref(&url), Duration::from_millis(300))
            .masters()
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("Master unavailable in {url}: 503 NO_LEADER: no leader elected")
        );
    }

    #[tokio::test]
    async fn a_master_whose_raft_core_stopped_is_passed_over() {
        let stopped = r#"{"status":"RAFT_STOPPED","message":"disk full"}"#.to_string();
        let (url, _) = serve(vec![(500, stopped), (200, r#"["m1"]"#.to_string())]).await;
        let masters = client(std::slice::from_ref(&url), Duration::from_secs(5))
            .masters()
            .await
            .expect("the next attempt answers");
        assert_eq!(masters, vec!["m1".to_string()]);
    }

    #[tokio::test]
    async fn version_error_code_and_statuses_fallback() {
        let (url, _) = serve(vec![(500, String::new()), (404, String::new())]).await;
        let c = client(&[url], Duration::from_secs(5));
        assert_eq!(
            c.master_version().await,
            "Master replied with error code 500"
        );
        let counts = c.deployment_counts(ids(&["a:1:x"])).await.expect("counts");
        assert!(counts.is_empty());
    }

    /// A closed channel holding `ids`.
    fn ids(ids: &[&str]) -> tokio::sync::mpsc::UnboundedReceiver<String> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        for id in ids {
            tx.send(id.to_string()).unwrap();
        }
        rx
    }

    /// `ids` cut as [`HeliosClient::deployment_counts`] cuts them.
    fn status_batches(ids: &[String]) -> Vec<Vec<String>> {
        let mut batcher = StatusBatcher::default();
        let mut batches: Vec<Vec<String>> = ids
            .iter()
            .filter_map(|id| batcher.push(id.clone()))
            .collect();
        batches.extend(batcher.finish());
        batches
    }

    #[test]
    fn status_batches_stay_under_their_byte_bound_whatever_the_ids() {
        let short: Vec<String> = (0..10_000)
            .map(|i| format!("j{i}:1:{}", "a".repeat(40)))
            .collect();
        let long: Vec<String> = (0..3_000)
            .map(|i| format!("{i}{}", "n".repeat(600)))
            .collect();
        let huge = ["x".repeat(STATUS_BATCH_BYTES * 2)];
        for ids in [&short[..], &long[..], &huge[..], &[]] {
            let batches = status_batches(ids);
            assert_eq!(batches.concat(), ids, "every id once, in order");
            for b in &batches {
                let bytes = serde_json::to_vec(b).unwrap().len();
                assert!(
                    b.len() == 1 || bytes <= STATUS_BATCH_BYTES + 2,
                    "{bytes} bytes"
                );
            }
        }
        assert!(status_batches(&short).len() > 1);
    }

    #[tokio::test]
    async fn statuses_refused_otherwise_than_with_404_are_an_error() {
        let (url, _) = serve(vec![(413, r#"{"status":"BODY_TOO_LARGE"}"#.into())]).await;
        let err = client(&[url], Duration::from_secs(5))
            .deployment_counts(ids(&["a:1:x"]))
            .await
            .expect_err("a 413 is not 'no deployments'");
        assert!(err.to_string().contains("413"), "{err}");
    }

    #[tokio::test]
    async fn deployment_counts_from_statuses() {
        let (url, seen) = serve(vec![(
            200,
            r#"{"a:1:x":{"deployments":{"h1":{},"h2":{}},"taskStatuses":{}},"b:1:y":{"deployments":{}}}"#
                .into(),
        )])
        .await;
        let counts = client(&[url], Duration::from_secs(5))
            .deployment_counts(ids(&["a:1:x", "b:1:y"]))
            .await
            .expect("counts");
        assert_eq!(counts.get("a:1:x"), Some(&2));
        assert_eq!(
            counts.get("b:1:y"),
            None,
            "a job deployed nowhere is left out"
        );
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen[0].line,
            "POST /jobs/statuses?user=alice&fields=deployments"
        );
        assert_eq!(seen[0].body, r#"["a:1:x","b:1:y"]"#);
        assert!(
            seen[0]
                .headers
                .iter()
                .any(|h| h == "content-type: application/json")
        );
    }
}
