//! Cluster-level endpoints: masters (live ones, or every member with `all=true`; adding and
//! removing members), version, health, readiness and metrics.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::ApiError;
use super::error::RAFT_STOPPED;
use super::jobs::json_body;
use super::version::{SERVER_VERSION, check, parse_version};
use crate::control::members::{self, NewMember};
use crate::node::Node;

/// `GET /masters[?all=true]`: the names of the live members, sorted, as Helios lists its
/// running masters; with `all=true`, every member with its id, role, state and addresses
/// ([`crate::control::MemberStatus`]).
#[utoipa::path(
    get, path = "/masters", tag = "cluster",
    params(("all" = Option<bool>, Query, description = "Every member with its role and state, not only the live names")),
    responses((status = 200, description = "Live master names, or with all=true every member", body = super::openapi::Masters), super::openapi::Refusals)
)]
pub async fn masters(
    State(app): State<Node>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let all = match q.get("all").map(String::as_str) {
        None | Some("false") => false,
        Some("" | "true") => true,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_QUERY",
                format!("all must be true or false, not {other:?}"),
            ));
        }
    };
    let members = crate::control::member_statuses(&app, all).await?;
    if all {
        return Ok(Json(members).into_response());
    }
    let names: Vec<String> = members.into_iter().map(|m| m.name).collect();
    Ok(Json(names).into_response())
}

/// The body of `POST /masters`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddMaster {
    name: String,
    cluster_address: String,
    http_address: String,
}

/// `POST /masters` with `{"name", "clusterAddress", "httpAddress"}`: adds a master started
/// with `--await-add` (a learner until it caught up, then a voter); answers
/// [`members::MembershipChange`] once it votes.
#[utoipa::path(
    post, path = "/masters", tag = "cluster",
    request_body = AddMaster,
    responses((status = 200, description = "Added (a voter)", body = crate::control::members::MembershipChange), super::openapi::Refusals)
)]
pub async fn add_master(
    State(app): State<Node>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: AddMaster = json_body(
        raw,
        "INVALID_MASTER_REQUEST",
        "a JSON object {\"name\": NAME, \"clusterAddress\": HOST:PORT, \"httpAddress\": HOST:PORT}",
    )?;
    let added = members::add_member(
        &app,
        NewMember {
            name: body.name,
            cluster_address: body.cluster_address,
            http_address: body.http_address,
        },
    )
    .await?;
    Ok(Json(added).into_response())
}

/// `DELETE /masters/{name}`: removes the member, up or down (the leader too); answers
/// [`members::MembershipChange`] once the membership without it is committed.
#[utoipa::path(
    delete, path = "/masters/{name}", tag = "cluster",
    params(("name" = String, Path, description = "The member's name")),
    responses((status = 200, description = "Removed", body = crate::control::members::MembershipChange), super::openapi::Refusals)
)]
pub async fn remove_master(
    State(app): State<Node>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let removed = members::remove_member(&app, &name).await?;
    Ok(Json(removed).into_response())
}

/// `GET /backup` (admin): a consistent copy of the replicated state, as a backup file
/// ([`helios_api::backup_file`]) for `helios-master restore`.
#[utoipa::path(
    get, path = "/backup", tag = "cluster",
    responses((status = 200, description = "A backup file for `helios-master restore`", content_type = "application/octet-stream", body = Vec<u8>), super::openapi::Refusals)
)]
pub async fn backup(State(app): State<Node>) -> Result<Response, ApiError> {
    let file = crate::control::backup::take(&app).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], file).into_response())
}

/// `GET /version`: the version as a quoted string, as Helios answers it.
#[utoipa::path(
    get, path = "/version", tag = "cluster",
    responses((status = 200, description = "The version, as a quoted string", content_type = "text/plain", body = String))
)]
pub async fn version() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain")],
        format!("\"{SERVER_VERSION}\""),
    )
        .into_response()
}

/// `GET /version/check?client=`: how a client version compares with ours.
#[utoipa::path(
    get, path = "/version/check", tag = "cluster",
    params(("client" = Option<String>, Query, description = "The client's version")),
    responses((status = 200, description = "How the client's version compares", body = super::openapi::VersionCheck))
)]
pub async fn version_check(Query(q): Query<HashMap<String, String>>) -> Json<serde_json::Value> {
    let status = check(q.get("client").map(String::as_str));
    let (major, minor, patch) = parse_version(SERVER_VERSION).unwrap_or_default();
    let v = json!({"major": major, "minor": minor, "patch": patch, "snapshot": false});
    Json(json!({"status": status.as_str(), "serverVersion": v, "recommendedVersion": v}))
}

/// `GET /healthz`: the process is up and serving.
#[utoipa::path(
    get, path = "/healthz", tag = "cluster",
    responses((status = 200, description = "The process serves", body = super::openapi::Health))
)]
pub async fn healthz(State(app): State<Node>) -> Json<serde_json::Value> {
    Json(json!({"status": "OK", "id": app.id}))
}

/// `GET /readyz`: 200 when a leader is known, 503 otherwise; 500 once this master's Raft
/// core has stopped for good (the process is exiting).
#[utoipa::path(
    get, path = "/readyz", tag = "cluster",
    responses((status = 200, description = "A leader is known", body = super::openapi::Ready), super::openapi::Refusals)
)]
pub async fn readyz(State(app): State<Node>) -> Response {
    if let Some(reason) = app.fatal() {
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            RAFT_STOPPED,
            format!("this master's Raft core stopped: {reason}"),
        )
        .into_response();
    }
    match app.leader() {
        Some((id, node)) => {
            Json(json!({"status": "READY", "leader": id, "leaderName": node.name})).into_response()
        }
        None => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "NO_LEADER",
            "no leader is known",
        )
        .into_response(),
    }
}

/// `GET /metrics`: Prometheus text.
#[utoipa::path(
    get, path = "/metrics", tag = "cluster",
    responses((status = 200, description = "Prometheus text", content_type = "application/openmetrics-text", body = String))
)]
pub async fn metrics(State(app): State<Node>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(&app.raft),
    )
        .into_response()
}
