//! Host endpoints: listing, registration, statuses, and the deployments of a host.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use helios_api::{
    Deployment, HostDeregisterResponse, HostDeregisterStatus, HostRegisterResponse,
    HostRegisterStatus, HostStatus, JobDeployResponse, JobDeployStatus, JobUndeployResponse,
    JobUndeployStatus, SetGoalResponse, SetGoalStatus, Status,
};

use super::ApiError;
use super::jobs::{Params, json_body, params};
use crate::control::deployments::{self, DeployRequest};
use crate::control::{hosts, jobs};
use crate::exactly_once::WriteKey;
use crate::node::Node;

type Pairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

fn status_filter(
    q: &std::collections::HashMap<String, String>,
) -> Result<Option<Status>, ApiError> {
    Ok(hosts::status_filter(
        q.get("status").map_or("", String::as_str),
    )?)
}

/// `GET /hosts?namePattern=&selector=…`: registered host names, UP or DOWN.
#[utoipa::path(
    get, path = "/hosts", tag = "hosts",
    params(("namePattern" = Option<String>, Query, description = "A substring of the host name"),
        ("selector" = Option<String>, Query, description = "A host selector such as `role=web` (repeatable)")),
    responses((status = 200, description = "Host names", body = Vec<String>), super::openapi::Refusals)
)]
pub async fn list(State(node): State<Node>, q: Pairs) -> Result<Json<Vec<String>>, ApiError> {
    let Query(pairs) =
        q.map_err(|e| ApiError::bad_request("BAD_QUERY", format!("malformed query string: {e}")))?;
    let mut pattern = "";
    let mut selectors = Vec::new();
    for (k, v) in &pairs {
        match k.as_str() {
            "namePattern" if !v.is_empty() => pattern = v,
            "selector" => selectors.push(v.clone()),
            _ => {}
        }
    }
    Ok(Json(hosts::hosts(&node, pattern, &selectors).await?))
}

/// `PUT /hosts/{host}?id=`: registers a host name with an agent id.
#[utoipa::path(
    put, path = "/hosts/{host}", tag = "hosts",
    params(("host" = String, Path, description = "Host name"), ("id" = Option<String>, Query, description = "The agent id")),
    responses((status = 200, description = "Registered", body = helios_api::HostRegisterResponse), super::openapi::Refusals)
)]
pub async fn register(
    State(node): State<Node>,
    Extension(key): Extension<WriteKey>,
    Path(host): Path<String>,
    q: Params,
) -> Result<Response, ApiError> {
    let id = params(q)?.remove("id").unwrap_or_default();
    let status = hosts::register(&node, &key, &host, &id).await?.status;
    let code = match status {
        HostRegisterStatus::Ok => StatusCode::OK,
        HostRegisterStatus::InvalidId => StatusCode::BAD_REQUEST,
    };
    Ok((code, Json(HostRegisterResponse { host, status })).into_response())
}

/// `DELETE /hosts/{host}`: removes the host with its deployments and history.
#[utoipa::path(
    delete, path = "/hosts/{host}", tag = "hosts",
    params(("host" = String, Path, description = "Host name")),
    responses((status = 200, description = "Deregistered", body = helios_api::HostDeregisterResponse), super::openapi::Refusals)
)]
pub async fn deregister(
    State(node): State<Node>,
    Extension(key): Extension<WriteKey>,
    Path(host): Path<String>,
) -> Result<Response, ApiError> {
    let status = hosts::deregister(&node, &key, &host).await?.status;
    let code = match status {
        HostDeregisterStatus::Ok => StatusCode::OK,
        HostDeregisterStatus::NotFound => StatusCode::NOT_FOUND,
        HostDeregisterStatus::JobsStillDeployed => StatusCode::BAD_REQUEST,
    };
    Ok((code, Json(HostDeregisterResponse { host, status })).into_response())
}

/// `GET /hosts/{host}/status?status=`.
#[utoipa::path(
    get, path = "/hosts/{host}/status", tag = "hosts",
    params(("host" = String, Path, description = "Host name"), ("status" = Option<String>, Query, description = "UP or DOWN: only a host in that state")),
    responses((status = 200, description = "The host's status", body = helios_api::HostStatus), super::openapi::Refusals)
)]
pub async fn status(
    State(node): State<Node>,
    Path(host): Path<String>,
    q: Params,
) -> Result<Json<HostStatus>, ApiError> {
    let filter = status_filter(&params(q)?)?;
    Ok(Json(hosts::host_status(&node, &host, filter).await?))
}

/// `POST /hosts/statuses?status=`: body `["host", …]`; unknown or filtered hosts left out.
#[utoipa::path(
    post, path = "/hosts/statuses", tag = "hosts",
    params(("status" = Option<String>, Query, description = "UP or DOWN: only hosts in that state")),
    request_body(content = Vec<String>, description = "Host names"),
    responses((status = 200, description = "Statuses by host name", body = std::collections::BTreeMap<String, helios_api::HostStatus>), super::openapi::Refusals)
)]
pub async fn statuses(
    State(node): State<Node>,
    q: Params,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<BTreeMap<String, HostStatus>>, ApiError> {
    let filter = status_filter(&params(q)?)?;
    let names: Vec<String> = json_body(raw, "BAD_BODY", "a JSON list of host names")?;
    Ok(Json(hosts::host_statuses(&node, &names, filter).await?))
}

/// The body of a deploy or a goal change.
fn deployment_body(raw: Result<Bytes, BytesRejection>) -> Result<Deployment, ApiError> {
    json_body(
        raw,
        "INVALID_DEPLOYMENT",
        "a deployment {\"jobId\":…,\"goal\":…}",
    )
}

/// `PUT /hosts/{host}/jobs/{job}?token=&user=`: deploys the body's job to the host.
#[utoipa::path(
    put, path = "/hosts/{host}/jobs/{job}", tag = "deployments",
    params(("host" = String, Path, description = "Host name"), ("job" = String, Path, description = "Job id"),
        ("token" = Option<String>, Query, description = "The job's token"), ("user" = Option<String>, Query, description = "Who deploys")),
    request_body = helios_api::Deployment,
    responses((status = 200, description = "Deployed", body = helios_api::HostJobResponse<helios_api::JobDeployStatus>), super::openapi::Refusals)
)]
pub async fn deploy(
    State(node): State<Node>,
    Extension(key): Extension<WriteKey>,
    Path((host, job)): Path<(String, String)>,
    q: Params,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let mut q = params(q)?;
    let answer = |status: JobDeployStatus| {
        let code = match status {
            JobDeployStatus::Ok => StatusCode::OK,
            JobDeployStatus::Forbidden => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = JobDeployResponse::new(status, host.clone(), job.clone());
        Ok((code, Json(body)).into_response())
    };
    if jobs::full_id(&job).is_err() {
        return answer(JobDeployStatus::InvalidId);
    }
    let deployment = deployment_body(raw)?;
    let req = DeployRequest {
        host: host.clone(),
        job_id: deployment.job_id,
        goal: deployment.goal,
        user: q.remove("user"),
        token: q.remove("token").unwrap_or_default(),
        deployment_group_name: deployment.deployment_group_name,
    };
    answer(deployments::deploy(&node, &key, req).await?.status)
}

/// `GET /hosts/{host}/jobs/{job}`: the deployment, or 404.
#[utoipa::path(
    get, path = "/hosts/{host}/jobs/{job}", tag = "deployments",
    params(("host" = String, Path, description = "Host name"), ("job" = String, Path, description = "Job id")),
    responses((status = 200, description = "The deployment", body = helios_api::Deployment), super::openapi::Refusals)
)]
pub async fn get_deployment(
    State(node): State<Node>,
    Path((host, job)): Path<(String, String)>,
) -> Result<Json<Deployment>, ApiError> {
    Ok(Json(deployments::deployment(&node, &host, &job).await?))
}

/// `PATCH /hosts/{host}/jobs/{job}?token=`: sets the goal (START, STOP, UNDEPLOY).
#[utoipa::path(
    patch, path = "/hosts/{host}/jobs/{job}", tag = "deployments",
    params(("host" = String, Path, description = "Host name"), ("job" = String, Path, description = "Job id"),
        ("token" = Option<String>, Query, description = "The job's token")),
    request_body = helios_api::Deployment,
    responses((status = 200, description = "Goal set", body = helios_api::SetGoalResponse), super::openapi::Refusals)
)]
pub async fn set_goal(
    State(node): State<Node>,
    Extension(key): Extension<WriteKey>,
    Path((host, job)): Path<(String, String)>,
    q: Params,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let token = params(q)?.remove("token").unwrap_or_default();
    let answer = |status: SetGoalStatus| {
        let code = match status {
            SetGoalStatus::Ok => StatusCode::OK,
            SetGoalStatus::HostNotFound | SetGoalStatus::JobNotDeployed => StatusCode::NOT_FOUND,
            SetGoalStatus::Forbidden => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = SetGoalResponse::new(status, host.clone(), job.clone());
        Ok((code, Json(body)).into_response())
    };
    let Ok(path_id) = jobs::full_id(&job) else {
        return answer(SetGoalStatus::InvalidId);
    };
    let deployment = deployment_body(raw)?;
    if deployment.job_id != path_id {
        return answer(SetGoalStatus::IdMismatch);
    }
    let outcome = deployments::set_goal(&node, &key, &host, &job, deployment.goal, token).await?;
    answer(outcome.status)
}

/// `DELETE /hosts/{host}/jobs/{job}?token=`: undeploys.
#[utoipa::path(
    delete, path = "/hosts/{host}/jobs/{job}", tag = "deployments",
    params(("host" = String, Path, description = "Host name"), ("job" = String, Path, description = "Job id"),
        ("token" = Option<String>, Query, description = "The job's token")),
    responses((status = 200, description = "Undeployed", body = helios_api::JobUndeployResponse), super::openapi::Refusals)
)]
pub async fn undeploy(
    State(node): State<Node>,
    Extension(key): Extension<WriteKey>,
    Path((host, job)): Path<(String, String)>,
    q: Params,
) -> Result<Response, ApiError> {
    let token = params(q)?.remove("token").unwrap_or_default();
    let status = deployments::undeploy(&node, &key, &host, &job, token)
        .await?
        .status;
    let code = match status {
        JobUndeployStatus::Ok => StatusCode::OK,
        JobUndeployStatus::HostNotFound | JobUndeployStatus::JobNotFound => StatusCode::NOT_FOUND,
        JobUndeployStatus::Forbidden => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    };
    Ok((code, Json(JobUndeployResponse::new(status, host, job))).into_response())
}
