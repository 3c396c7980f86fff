//! Forwarding: a master that does not lead passes API requests to the leader and returns its
//! answer, so a client may talk to any master.
//!
//! A forwarded request carries `X-Helios-Forwarded`; a master that receives one and does not
//! lead answers 503 instead of forwarding again, so two members with different views of the
//! leader can never bounce a request between them.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::{AppState, MAX_BODY};
use crate::raft::service::{is_leader, leader_node};

const FORWARDED: &str = "x-helios-forwarded";

/// Headers passed through in both directions.
const PASSED_HEADERS: &[&str] = &[
    "content-type",
    "accept",
    "helios-version",
    "helios-server-version",
    "helios-version-status",
];

/// Middleware: run the request here if this member leads, else forward it to the leader.
pub async fn forward_to_leader(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if is_stale_read(&req) || is_leader(&app.raft, app.id) {
        return next.run(req).await;
    }
    let leader = leader_node(&app.raft);
    match leader {
        Some((id, _)) if id == app.id => next.run(req).await,
        _ if req.headers().contains_key(FORWARDED) => {
            ApiError::no_leader("this master was sent a forwarded request but does not lead")
                .into_response()
        }
        Some((_, node)) => match proxy(&app, &node.http_addr, req).await {
            Ok(resp) => resp,
            Err(e) => e.into_response(),
        },
        None => ApiError::no_leader("no leader is known; the masters may be electing one")
            .into_response(),
    }
}

/// A `GET` with `stale=true` is answered from this member's own applied state, without
/// forwarding or a leadership check (useful to inspect one member, or to read without a leader).
pub fn is_stale_read(req: &Request) -> bool {
    req.method() == axum::http::Method::GET
        && req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|kv| kv == "stale=true" || kv == "stale"))
}

async fn proxy(app: &AppState, leader_http: &str, req: Request) -> Result<Response, ApiError> {
    app.metrics.forwarded.inc();
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let body = to_bytes(body, MAX_BODY).await.map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "BODY_TOO_LARGE",
            format!("request body is larger than {MAX_BODY} bytes"),
        )
    })?;
    let mut out = app
        .http
        .request(parts.method.clone(), format!("http://{leader_http}{path}"))
        .header(FORWARDED, "1")
        .body(body);
    for name in PASSED_HEADERS {
        if let Some(v) = parts.headers.get(*name) {
            out = out.header(*name, v.clone());
        }
    }
    let answer = out.send().await.map_err(|e| {
        ApiError::no_leader(format!("cannot reach the leader at {leader_http}: {e}"))
    })?;
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer
        .bytes()
        .await
        .map_err(|e| ApiError::no_leader(format!("the leader's answer was cut off: {e}")))?;
    let mut resp = Response::new(Body::from(bytes));
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
