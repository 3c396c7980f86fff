//! The REST gateway: Helios's HTTP API (reference §3) on every master.
//!
//! A thin codec over [`crate::control`]: each handler decodes the path, query and body, calls
//! one use case, and encodes its outcome with Helios's status code ([`error`] holds the one
//! mapping of errors). API routes run on the leader: a follower forwards them ([`forward`]).
//! `/healthz`, `/readyz` and `/metrics` are answered by each master about itself. Every error,
//! axum's own rejections included, is a JSON body naming the problem ([`rejections`]). With
//! security on, [`access`] (applied by `server` over REST and gRPC together) asks every call
//! for an API token with the role it needs; [`tokens`] serves API and join tokens.

pub mod access;
mod cluster;
mod deployment_groups;
mod error;
mod forward;
pub mod hosts;
pub mod jobs;
mod json_stream;
pub mod openapi;
mod rejections;
mod tokens;
pub mod version;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post, put};

pub use error::{ApiError, UNKNOWN_OUTCOME};

use crate::node::Node;

/// The largest request body accepted (1 MiB).
pub const MAX_BODY: usize = 1 << 20;

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

/// The gateway's router; fails only if the HTTP client that forwards to the leader cannot be
/// built.
pub fn router(node: Node) -> anyhow::Result<Router> {
    let forwarder = forward::Forwarder::new(node.clone())?;
    let api = Router::new()
        .route("/jobs", get(jobs::list).post(jobs::create))
        .route("/jobs/statuses", post(jobs::statuses))
        .route("/jobs/{id}", get(jobs::get_one).delete(jobs::remove))
        .route("/jobs/{id}/status", get(jobs::status))
        .route("/history/jobs/{id}", get(jobs::history))
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
        .route(
            "/deployment-group",
            get(deployment_groups::list).post(deployment_groups::create),
        )
        .route(
            "/deployment-group/{name}",
            get(deployment_groups::get_one).delete(deployment_groups::remove),
        )
        .route(
            "/deployment-group/{name}/status",
            get(deployment_groups::status),
        )
        .route(
            "/deployment-group/{name}/rolling-update",
            post(deployment_groups::rolling_update),
        )
        .route(
            "/deployment-group/{name}/stop",
            post(deployment_groups::stop),
        )
        .route("/masters", get(cluster::masters).post(cluster::add_master))
        .route(
            "/masters/{name}",
            axum::routing::delete(cluster::remove_master),
        )
        .route("/backup", get(cluster::backup))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/join-tokens/{role}", get(tokens::join_token))
        .route(
            "/join-tokens/{role}/rotate",
            post(tokens::rotate_join_token),
        )
        .route("/version/check", get(cluster::version_check))
        .layer(middleware::from_fn_with_state(
            forwarder,
            forward::forward_to_leader,
        ));
    Ok(Router::new()
        .merge(api)
        .route("/version", get(cluster::version))
        .route("/healthz", get(cluster::healthz))
        .route("/readyz", get(cluster::readyz))
        .route("/metrics", get(cluster::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .fallback(not_found)
        .layer(middleware::from_fn(rejections::as_json))
        .layer(middleware::from_fn(version::version_headers))
        .layer(middleware::from_fn(limit_body))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(node))
}
