//! The REST gateway: Helios's HTTP API (reference §3) on every master.
//!
//! API routes run on the leader: a follower forwards them ([`forward`]). Writes go through
//! Raft; reads are linearizable (read-index through the leader). `/healthz`, `/readyz` and
//! `/metrics` are answered by each master about itself.

mod cluster;
mod error;
mod forward;
mod history;
pub mod hosts;
pub mod jobs;
pub mod version;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post, put};
use openraft::ReadPolicy;
use openraft::error::{ClientWriteError, RaftError};

pub use error::{ApiError, UNKNOWN_OUTCOME};

use crate::exactly_once::WriteKey;
use crate::metrics::Metrics;
use crate::raft::types::{Raft, StateMachine};
use crate::state::{Command, CommandResult, State};

/// How long forwarding waits to connect to the leader (REST and gRPC).
pub const FORWARD_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The largest request body accepted (1 MiB).
pub const MAX_BODY: usize = 1 << 20;

/// What every handler needs: a cheap handle (axum clones it for every request) on the
/// member's [`AppContext`].
#[derive(Clone)]
pub struct AppState(Arc<AppContext>);

impl std::ops::Deref for AppState {
    type Target = AppContext;

    fn deref(&self) -> &AppContext {
        &self.0
    }
}

/// The member's handles and settings shared by every handler.
pub struct AppContext {
    /// This member's Raft handle.
    pub raft: Raft,
    /// This member's id.
    pub id: u64,
    /// This member's name (recorded as `deployerMaster`).
    pub name: String,
    /// The applied state.
    pub shared: helios_store::SharedState<crate::raft::types::TypeConfig, State>,
    /// Metrics of this member.
    pub metrics: Arc<Metrics>,
    /// HTTP client used to forward requests to the leader.
    pub http: reqwest::Client,
    /// Index of the last applied entry, for sessions that wait for changes.
    pub applied: tokio::sync::watch::Receiver<u64>,
    /// This member's view of the leader's id; changes only when the leader does.
    pub leader: tokio::sync::watch::Receiver<Option<u64>>,
    /// Capabilities jobs may add (`--whitelisted-capability`).
    pub whitelisted_capabilities: Arc<std::collections::BTreeSet<String>>,
}

impl AppState {
    /// Builds the handler state of a master (inside a tokio runtime: it starts the task that
    /// follows the leader); fails only if no HTTP client can be built.
    pub fn new(
        raft: Raft,
        id: u64,
        name: String,
        sm: &StateMachine,
        metrics: Arc<Metrics>,
        whitelisted_capabilities: std::collections::BTreeSet<String>,
    ) -> anyhow::Result<Self> {
        let (http, roots) = helios_api::http_client::build(|| {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                // A leader that cannot be reached (down, partitioned) is a quick, certain
                // "not sent", not an attempt that may have arrived.
                .connect_timeout(FORWARD_CONNECT_TIMEOUT)
                .no_proxy()
        })
        .context("building the HTTP client that forwards requests to the leader")?;
        if let Some(note) = roots.note() {
            tracing::info!("{note}");
        }
        let leader = crate::raft::leader::watch_leader(&raft);
        Ok(Self(Arc::new(AppContext {
            raft,
            id,
            name,
            shared: sm.shared(),
            applied: sm.subscribe_applied(),
            leader,
            metrics,
            http,
            whitelisted_capabilities: Arc::new(whitelisted_capabilities),
        })))
    }

    /// Proposes a command and waits for it to be committed and applied.
    ///
    /// Errors tell whether the command may have been written: 503 `NO_LEADER` when it surely
    /// was not (this member did not lead when it was proposed), 504 `UNKNOWN_OUTCOME` when it
    /// may have been (its entry was discarded on a leader change, or Raft stopped).
    pub async fn write(&self, command: Command) -> Result<CommandResult, ApiError> {
        self.propose(command, None).await
    }

    /// [`Self::write`] for a client's write: the command is applied once per idempotency key,
    /// and a repeated key gets the first result (see [`crate::exactly_once`]).
    pub async fn write_keyed(
        &self,
        key: &WriteKey,
        command: Command,
    ) -> Result<CommandResult, ApiError> {
        let keyed = Command::Idempotent {
            key: key.key.clone(),
            fingerprint: key.fingerprint.clone(),
            now_ms: chrono::Utc::now().timestamp_millis(),
            command: Box::new(command),
        };
        match self.propose(keyed, Some(&key.key)).await? {
            CommandResult::IdempotencyKeyReused => Err(ApiError::key_reused(&key.key)),
            result => Ok(result),
        }
    }

    /// The first result of a key this member has already applied (a retry whose answer was
    /// lost), so that a use case can answer it before validating again against a clock or
    /// settings that may have changed since; 409 for a key first used with another request.
    /// `None` when the key is not applied here (yet): the write goes through Raft, where the
    /// replicated table decides. Applied state is committed, so the answer is final.
    pub fn replayed(&self, key: &WriteKey) -> Result<Option<CommandResult>, ApiError> {
        use crate::state::idempotency::Seen;
        match self.read_local(|s| s.idempotency.check(&key.key, &key.fingerprint))? {
            Seen::New => Ok(None),
            Seen::Replay(first) => Ok(Some(first)),
            Seen::Reused => Err(ApiError::key_reused(&key.key)),
        }
    }

    async fn propose(
        &self,
        command: Command,
        key: Option<&str>,
    ) -> Result<CommandResult, ApiError> {
        let start = Instant::now();
        match self.raft.client_write(command).await {
            Ok(resp) => {
                self.metrics
                    .write_latency
                    .observe(start.elapsed().as_secs_f64());
                Ok(resp.data)
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => Err(
                ApiError::no_leader("this master stopped leading before the write was proposed"),
            ),
            Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(_))) => Err(
                ApiError::unknown_outcome(key, "the leader changed while the write was in flight"),
            ),
            Err(e) => Err(ApiError::unknown_outcome(key, &e.to_string())),
        }
    }

    /// Reads the applied state after confirming leadership with a quorum (read-index), so the
    /// answer reflects every write acknowledged before the read began.
    pub async fn read<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T, ApiError> {
        self.raft
            .ensure_linearizable(ReadPolicy::ReadIndex)
            .await
            .map_err(|e| ApiError::no_leader(format!("cannot confirm leadership: {e}")))?;
        self.read_local(f)
    }

    /// Reads this member's applied state as it is, without a leadership check.
    pub fn read_local<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T, ApiError> {
        let view = self.shared.read().map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "state lock poisoned",
            )
        })?;
        Ok(f(&view.state))
    }
}

/// Bodies larger than this are not even drained: the connection is closed.
const DRAIN_LIMIT: usize = 64 << 20;

/// Middleware: buffers the request body up to [`MAX_BODY`]. A larger body is read to its end
/// (up to [`DRAIN_LIMIT`]) and refused with 413 and a JSON body, so that the client, still
/// sending, reliably reads the answer instead of a reset connection.
async fn limit_body(
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use futures::StreamExt;
    let (parts, body) = req.into_parts();
    let mut stream = body.into_data_stream();
    let mut buf = bytes::BytesMut::new();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                return ApiError::bad_request("BAD_BODY", format!("cannot read body: {e}"))
                    .into_response();
            }
        };
        total += chunk.len();
        if total <= MAX_BODY {
            buf.extend_from_slice(&chunk);
        } else if total > DRAIN_LIMIT {
            break;
        }
    }
    if total > MAX_BODY {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BODY_TOO_LARGE",
            format!("request body is larger than {MAX_BODY} bytes"),
        )
        .into_response();
    }
    let req = axum::extract::Request::from_parts(parts, axum::body::Body::from(buf.freeze()));
    next.run(req).await
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such path")
}

/// The gateway's router.
pub fn router(app: AppState) -> Router {
    let api = Router::new()
        .route("/jobs", get(jobs::list).post(jobs::create))
        .route("/jobs/statuses", post(jobs::statuses))
        .route("/jobs/{id}", get(jobs::get_one).delete(jobs::remove))
        .route("/jobs/{id}/status", get(jobs::status))
        .route("/history/jobs/{id}", get(history::job_history))
        .route("/hosts", get(hosts::list))
        .route("/hosts/statuses", post(hosts::statuses))
        .route(
            "/hosts/{host}",
            put(hosts::register).delete(hosts::deregister),
        )
        .route("/hosts/{host}/status", get(hosts::status))
        .route(
            "/hosts/{host}/jobs/{job}",
            get(hosts::get_deployment)
                .put(hosts::deploy)
                .patch(hosts::set_goal)
                .delete(hosts::undeploy),
        )
        .route("/masters", get(cluster::masters))
        .route("/version/check", get(cluster::version_check))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            forward::forward_to_leader,
        ));
    Router::new()
        .merge(api)
        .route("/version", get(cluster::version))
        .route("/healthz", get(cluster::healthz))
        .route("/readyz", get(cluster::readyz))
        .route("/metrics", get(cluster::metrics))
        .fallback(not_found)
        .layer(middleware::from_fn(version::version_headers))
        .layer(middleware::from_fn(limit_body))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}
