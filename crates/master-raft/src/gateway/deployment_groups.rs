//! Deployment-group endpoints (reference §3): create, remove, list, inspect, status,
//! rolling update, stop.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use helios_api::{
    CreateDeploymentGroupResponse, DeploymentGroup, DeploymentGroupStatusResponse,
    RemoveDeploymentGroupResponse, RollingUpdateRequest, RollingUpdateResponse,
};

use super::ApiError;
use super::jobs::json_body;
use crate::control::deployment_groups;
use crate::exactly_once::WriteKey;
use crate::node::Node;

/// `GET /deployment-group`: every group's name, sorted.
#[utoipa::path(
    get, path = "/deployment-group", tag = "deployment groups",
    responses((status = 200, description = "Group names", body = Vec<String>), super::openapi::Refusals)
)]
pub async fn list(State(node): State<Node>) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(deployment_groups::list(&node).await?))
}

/// `GET /deployment-group/{name}`: the group, or 404.
#[utoipa::path(
    get, path = "/deployment-group/{name}", tag = "deployment groups",
    params(("name" = String, Path, description = "Group name")),
    responses((status = 200, description = "The group", body = helios_api::DeploymentGroup), super::openapi::Refusals)
)]
pub async fn get_one(
    State(node): State<Node>,
    Path(name): Path<String>,
) -> Result<Json<DeploymentGroup>, ApiError> {
    Ok(Json(deployment_groups::get(&node, &name).await?))
}

/// `POST /deployment-group`: creates a group; 200 with `CREATED`, `NOT_MODIFIED` or
/// `CONFLICT`, as Helios answers all three.
#[utoipa::path(
    post, path = "/deployment-group", tag = "deployment groups",
    request_body = helios_api::DeploymentGroup,
    responses((status = 200, description = "CREATED, NOT_MODIFIED or CONFLICT", body = helios_api::CreateDeploymentGroupResponse), super::openapi::Refusals)
)]
pub async fn create(
    State(node): State<Node>,
    Extension(key): Extension<WriteKey>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<CreateDeploymentGroupResponse>, ApiError> {
    let group: DeploymentGroup = json_body(
        raw,
        "INVALID_DEPLOYMENT_GROUP",
        "a deployment group {\"name\":…,\"hostSelectors\":[…]}",
    )?;
    let status = deployment_groups::create(&node, &key, group).await?.status;
    Ok(Json(CreateDeploymentGroupResponse { status }))
}

/// `DELETE /deployment-group/{name}`: 200 with `REMOVED` or `DEPLOYMENT_GROUP_NOT_FOUND`.
#[utoipa::path(
    delete, path = "/deployment-group/{name}", tag = "deployment groups",
    params(("name" = String, Path, description = "Group name")),
    responses((status = 200, description = "REMOVED or DEPLOYMENT_GROUP_NOT_FOUND", body = helios_api::RemoveDeploymentGroupResponse), super::openapi::Refusals)
)]
pub async fn remove(
    State(node): State<Node>,
    Extension(key): Extension<WriteKey>,
    Path(name): Path<String>,
) -> Result<Json<RemoveDeploymentGroupResponse>, ApiError> {
    let status = deployment_groups::remove(&node, &key, &name).await?.status;
    Ok(Json(RemoveDeploymentGroupResponse { status }))
}

/// `GET /deployment-group/{name}/status`: the group's status, or 404.
#[utoipa::path(
    get, path = "/deployment-group/{name}/status", tag = "deployment groups",
    params(("name" = String, Path, description = "Group name")),
    responses((status = 200, description = "The group's rollout and hosts", body = helios_api::DeploymentGroupStatusResponse), super::openapi::Refusals)
)]
pub async fn status(
    State(node): State<Node>,
    Path(name): Path<String>,
) -> Result<Json<DeploymentGroupStatusResponse>, ApiError> {
    Ok(Json(deployment_groups::status(&node, &name).await?))
}

/// `POST /deployment-group/{name}/rolling-update` with `{"job":…,"rolloutOptions":…}`: 200
/// with `OK`, `JOB_NOT_FOUND` or `DEPLOYMENT_GROUP_NOT_FOUND`; 400 for options a rollout
/// cannot run with (parallelism or timeout below 1).
#[utoipa::path(
    post, path = "/deployment-group/{name}/rolling-update", tag = "deployment groups",
    params(("name" = String, Path, description = "Group name")),
    request_body = helios_api::RollingUpdateRequest,
    responses((status = 200, description = "The rollout's start", body = helios_api::RollingUpdateResponse), super::openapi::Refusals)
)]
pub async fn rolling_update(
    State(node): State<Node>,
    Extension(key): Extension<WriteKey>,
    Path(name): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<RollingUpdateResponse>, ApiError> {
    let request: RollingUpdateRequest = json_body(
        raw,
        "INVALID_ROLLING_UPDATE",
        "a rolling update {\"job\":\"name:version:hash\",\"rolloutOptions\":{…}}",
    )?;
    let status = deployment_groups::rolling_update(
        &node,
        &key,
        &name,
        &request.job,
        request.rollout_options,
    )
    .await?
    .status;
    Ok(Json(RollingUpdateResponse { status }))
}

/// `POST /deployment-group/{name}/stop`: 204, or 404 for an unknown group.
#[utoipa::path(
    post, path = "/deployment-group/{name}/stop", tag = "deployment groups",
    params(("name" = String, Path, description = "Group name")),
    responses((status = 204, description = "Stopped"), super::openapi::Refusals)
)]
pub async fn stop(
    State(node): State<Node>,
    Extension(key): Extension<WriteKey>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    deployment_groups::stop(&node, &key, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
