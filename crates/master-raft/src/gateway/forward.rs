//! Forwarding: a master that does not lead passes API requests to the leader and returns its
//! answer, so a client may talk to any master.
//!
//! A forwarded request carries `X-Helios-Forwarded`; a master that receives one and does not
//! lead answers 503 instead of forwarding again, so two members with different views of the
//! leader can never bounce a request between them.
//!
//! Writes go through [`crate::exactly_once`]: each gets an idempotency key (the client's
//! `Idempotency-Key`, or a new one, echoed in the answer) and is retried with it, here or at
//! whichever master leads, until it has an answer; 503 only when nothing was written, 504
//! `UNKNOWN_OUTCOME` when it may have been.

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::MAX_BODY;
use super::error::{ApiError, UNKNOWN_OUTCOME};
use crate::exactly_once::retry::{self, Attempt, FORWARD_CONNECT_TIMEOUT, Route, Transport};
use crate::exactly_once::{IDEMPOTENCY_KEY, WriteKey};
use crate::node::{Node, NodeError};

// reqwest's own message only names the URL; the innermost cause says what went wrong.
use helios_api::error_text::innermost;

const FORWARDED: &str = "x-helios-forwarded";

/// Headers passed through in both directions.
const PASSED_HEADERS: &[&str] = &[
    // The API token: the leader judges the call again (see `access`).
    "authorization",
    "www-authenticate",
    "content-type",
    "accept",
    "helios-version",
    "helios-server-version",
    "helios-version-status",
    IDEMPOTENCY_KEY,
];

/// What forwarding needs: this member's node and the HTTP clients that reach the leader.
#[derive(Clone)]
pub struct Forwarder {
    node: Node,
    /// For answers read whole (writes): 30 s for the whole exchange.
    http: reqwest::Client,
    /// For answers passed on as they arrive (reads): the client reading them sets the pace,
    /// so only a leader silent for 30 s, not a long answer, ends the exchange.
    http_streamed: reqwest::Client,
}

impl Forwarder {
    /// The forwarder of `node`; fails only if no HTTP client can be built.
    pub fn new(node: Node) -> anyhow::Result<Self> {
        use anyhow::Context;
        const SILENCE: std::time::Duration = std::time::Duration::from_secs(30);
        let tls = node
            .leader_tls
            .reqwest()
            .context("TLS settings for forwarding to the leader")?;
        let builder = move || {
            let builder = reqwest::Client::builder()
                // A leader that cannot be reached (down, partitioned) is a quick, certain
                // "not sent", not an attempt that may have arrived.
                .connect_timeout(FORWARD_CONNECT_TIMEOUT)
                .no_proxy();
            tls.apply(builder)
        };
        let (http, roots) = helios_api::http_client::build(|| builder().timeout(SILENCE))
            .context("building the HTTP client that forwards requests to the leader")?;
        let (http_streamed, _) = helios_api::http_client::build(|| builder().read_timeout(SILENCE))
            .context("building the HTTP client that forwards reads to the leader")?;
        if let Some(note) = roots.note() {
            tracing::info!("{note}");
        }
        Ok(Self {
            node,
            http,
            http_streamed,
        })
    }
}

/// Middleware: run the request here if this member leads, else forward it to the leader;
/// writes are retried exactly once (see the module's documentation).
pub async fn forward_to_leader(State(app): State<Forwarder>, req: Request, next: Next) -> Response {
    if is_write(&req) {
        return write(app, req, next).await;
    }
    if is_stale_read(&req) || app.node.leads() {
        return next.run(req).await;
    }
    match app.node.leader() {
        Some((id, _)) if id == app.node.id => next.run(req).await,
        _ if req.headers().contains_key(FORWARDED) => {
            ApiError::no_leader("this master was sent a forwarded request but does not lead")
                .into_response()
        }
        Some((_, node)) => {
            let (parts, body) = req.into_parts();
            let body = match buffered(body).await {
                Ok(body) => body,
                Err(e) => return e.into_response(),
            };
            match proxy(&app, &node.http_addr, &parts, body, Answer::Streamed).await {
                Ok(resp) => resp,
                Err(e) => ApiError::no_leader(e.to_string()).into_response(),
            }
        }
        None => ApiError::no_leader("no leader is known; the masters may be electing one")
            .into_response(),
    }
}

/// A `GET` with `stale=true` is answered from this member's own applied state, without
/// forwarding or a leadership check (useful to inspect one member, or to read without a leader).
pub fn is_stale_read(req: &Request) -> bool {
    req.method() == Method::GET
        && req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|kv| kv == "stale=true" || kv == "stale"))
}

/// Whether the request changes the state (see [`helios_api::idempotency::is_write`]).
fn is_write(req: &Request) -> bool {
    helios_api::idempotency::is_write(req.method().as_str(), req.uri().path())
}

/// Runs a write exactly once: gives it its key, then retries it until it has an answer.
async fn write(app: Forwarder, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let body = match buffered(body).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    // Decoded, so that a leader that receives the URL re-encoded by forwarding computes the
    // same fingerprint as the member the client sent it to.
    let path: Vec<u8> = percent_encoding::percent_decode_str(path).collect();
    let sent = parts
        .headers
        .get(IDEMPOTENCY_KEY)
        .map(HeaderValue::as_bytes);
    let key = match WriteKey::for_request(sent, &[parts.method.as_str().as_bytes(), &path, &body]) {
        Ok(key) => key,
        Err(problem) => {
            return ApiError::bad_request("INVALID_IDEMPOTENCY_KEY", problem).into_response();
        }
    };
    // A key is visible ASCII (checked above), so it is always a valid header value.
    let key_header = HeaderValue::from_str(&key.key).ok();
    if let Some(value) = &key_header {
        parts.headers.insert(IDEMPOTENCY_KEY, value.clone());
    }
    parts.extensions.insert(key.clone());
    let forwarded = parts.headers.contains_key(FORWARDED);
    let transport = RestWrite {
        app: app.clone(),
        parts,
        body,
        next,
        key: key.key,
    };
    let mut resp = retry::run(&app.node, forwarded, transport).await;
    if let Some(value) = key_header {
        resp.headers_mut().insert(IDEMPOTENCY_KEY, value);
    }
    resp
}

/// One REST write, run here or at the leader as often as [`retry::run`] asks.
struct RestWrite {
    app: Forwarder,
    parts: Parts,
    body: Bytes,
    next: Next,
    key: String,
}

impl Transport for RestWrite {
    type Answer = Response;

    async fn attempt(&mut self, route: Route) -> Attempt<Response> {
        match route {
            Route::Here => {
                let req = Request::from_parts(self.parts.clone(), Body::from(self.body.clone()));
                classify(self.next.clone().run(req).await).await
            }
            Route::Leader(addr) => {
                match proxy(
                    &self.app,
                    &addr,
                    &self.parts,
                    self.body.clone(),
                    Answer::Buffered,
                )
                .await
                {
                    Ok(resp) => classify(resp).await,
                    Err(e @ ProxyError::NotSent { .. }) => {
                        Attempt::NotProposed(ApiError::no_leader(e.to_string()).into_response())
                    }
                    Err(e @ ProxyError::Lost { .. }) => Attempt::Unknown(e.to_string()),
                }
            }
            Route::Nowhere(why) => Attempt::NotProposed(ApiError::no_leader(why).into_response()),
        }
    }

    fn unknown_outcome(&self, detail: &str) -> Response {
        ApiError::unknown_outcome(Some(&self.key), detail).into_response()
    }

    fn stopped(&self, reason: &str) -> Response {
        ApiError::from(NodeError::Fatal(reason.to_string())).into_response()
    }
}

/// What an answer says about its write: 503 promises nothing was proposed, 504
/// `UNKNOWN_OUTCOME` that it may have been; anything else is the answer.
async fn classify(resp: Response) -> Attempt<Response> {
    match resp.status() {
        StatusCode::SERVICE_UNAVAILABLE => Attempt::NotProposed(resp),
        StatusCode::GATEWAY_TIMEOUT => {
            let (parts, body) = resp.into_parts();
            let bytes = to_bytes(body, MAX_BODY).await.unwrap_or_default();
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            if body["status"] == UNKNOWN_OUTCOME {
                let message = body["message"].as_str().unwrap_or("no detail");
                Attempt::Unknown(format!("the leader answered: {message}"))
            } else {
                Attempt::Answer(Response::from_parts(parts, Body::from(bytes)))
            }
        }
        _ => Attempt::Answer(resp),
    }
}

/// Reads a request body that the body-limit layer has already buffered.
async fn buffered(body: Body) -> Result<Bytes, ApiError> {
    to_bytes(body, MAX_BODY).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BODY_TOO_LARGE",
            format!("request body is larger than {MAX_BODY} bytes"),
        )
    })
}

/// Why the leader gave no answer to a forwarded request.
#[derive(Debug, thiserror::Error)]
enum ProxyError {
    /// The request never left: nothing can have been proposed.
    #[error("cannot reach the leader at {addr}: {detail}")]
    NotSent { addr: String, detail: String },
    /// The request may have reached the leader; its answer did not come back.
    #[error("the leader at {addr} did not answer: {detail}")]
    Lost { addr: String, detail: String },
}

/// How the leader's answer is passed on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// Read whole first: a write's answer is classified before it is returned.
    Buffered,
    /// Passed on as it arrives: a read may answer a listing of every job.
    Streamed,
}

/// Sends a request to the leader, marked as forwarded, and returns its answer.
async fn proxy(
    app: &Forwarder,
    leader_http: &str,
    parts: &Parts,
    body: Bytes,
    answer_form: Answer,
) -> Result<Response, ProxyError> {
    app.node.metrics.forwarded.inc();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let http = match answer_form {
        Answer::Buffered => &app.http,
        Answer::Streamed => &app.http_streamed,
    };
    let mut out = http
        .request(
            parts.method.clone(),
            format!("{}://{leader_http}{path}", app.node.leader_tls.scheme()),
        )
        .header(FORWARDED, "1")
        .body(body);
    for name in PASSED_HEADERS {
        if let Some(v) = parts.headers.get(*name) {
            out = out.header(*name, v.clone());
        }
    }
    let lost = |e: reqwest::Error| ProxyError::Lost {
        addr: leader_http.to_string(),
        detail: innermost(&e),
    };
    let answer = out.send().await.map_err(|e| {
        if e.is_connect() || e.is_builder() {
            ProxyError::NotSent {
                addr: leader_http.to_string(),
                detail: innermost(&e),
            }
        } else {
            lost(e)
        }
    })?;
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = match answer_form {
        Answer::Buffered => Body::from(answer.bytes().await.map_err(lost)?),
        // A leader that fails mid-answer ends the body short: the client sees a broken
        // connection, never a truncated answer that parses.
        Answer::Streamed => {
            Body::from_stream(futures::stream::unfold(Some(answer), |answer| async move {
                let mut answer = answer?;
                match answer.chunk().await {
                    Ok(Some(chunk)) => Some((Ok(chunk), Some(answer))),
                    Ok(None) => None,
                    Err(e) => Some((Err(e), None)),
                }
            }))
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    for name in PASSED_HEADERS {
        if let Some(v) = headers.get(*name) {
            resp.headers_mut().insert(
                HeaderName::from_static(name),
                HeaderValue::from_bytes(v.as_bytes()).unwrap_or(HeaderValue::from_static("")),
            );
        }
    }
    Ok(resp)
}
