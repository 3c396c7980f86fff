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
    HostRegisterStatus, HostSelector, HostStatus, JobDeployResponse, JobDeployStatus, JobId,
    JobUndeployResponse, JobUndeployStatus, SetGoalResponse, SetGoalStatus, Status,
};

use super::jobs::{Params, body, full_id, params};
use super::{ApiError, AppState};
use crate::exactly_once::WriteKey;
use crate::state::{Command, CommandResult, State as ClusterState};

type Pairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

fn status_filter(
    q: &std::collections::HashMap<String, String>,
) -> Result<Option<Status>, ApiError> {
    match q.get("status").map(String::as_str) {
        None | Some("") => Ok(None),
        Some("UP") => Ok(Some(Status::Up)),
        Some("DOWN") => Ok(Some(Status::Down)),
        Some(other) => Err(ApiError::bad_request(
            "INVALID_STATUS",
            format!("status must be UP or DOWN, not {other:?}"),
        )),
    }
}

/// The status of one host as Helios shows it, if registered and matching `filter`.
pub fn host_status(s: &ClusterState, name: &str, filter: Option<Status>) -> Option<HostStatus> {
    let host = s.hosts.get(name)?;
    let status = if host.up { Status::Up } else { Status::Down };
    if filter.is_some_and(|f| f != status) {
        return None;
    }
    let parse = |id: &str| id.parse::<JobId>().ok();
    let jobs = s
        .deployments
        .get(name)
        .map(|d| {
            d.iter()
                .filter_map(|(id, v)| Some((parse(id)?, v.value.clone())))
                .collect()
        })
        .unwrap_or_default();
    let statuses = s
        .task_statuses
        .get(name)
        .map(|d| {
            d.iter()
                .filter_map(|(id, v)| Some((parse(id)?, v.value.clone())))
                .collect()
        })
        .unwrap_or_default();
    Some(HostStatus {
        agent_info: host.agent_info.clone(),
        environment: host.env.clone(),
        host_info: host.host_info.clone(),
        jobs,
        labels: host.labels.clone(),
        status,
        statuses,
    })
}

/// `GET /hosts?namePattern=&selector=…`: registered host names, UP or DOWN.
pub async fn list(State(app): State<AppState>, q: Pairs) -> Result<Json<Vec<String>>, ApiError> {
    let Query(pairs) =
        q.map_err(|e| ApiError::bad_request("BAD_QUERY", format!("malformed query string: {e}")))?;
    let mut pattern = None;
    let mut selectors = Vec::new();
    for (k, v) in &pairs {
        match k.as_str() {
            "namePattern" if !v.is_empty() => {
                pattern = Some(regex::Regex::new(v).map_err(|e| {
                    ApiError::bad_request("INVALID_PATTERN", format!("bad namePattern {v:?}: {e}"))
                })?)
            }
            "selector" => selectors.push(
                v.parse::<HostSelector>()
                    .map_err(|e| ApiError::bad_request("INVALID_HOST_SELECTOR", e.to_string()))?,
            ),
            _ => {}
        }
    }
    app.read(|s| {
        crate::control::hosts_matching(s, pattern.as_ref(), &selectors)
            .map(|(name, _)| name.clone())
            .collect()
    })
    .await
    .map(Json)
}

/// `PUT /hosts/{host}?id=`: registers a host name with an agent id.
pub async fn register(
    State(app): State<AppState>,
    Extension(key): Extension<WriteKey>,
    Path(host): Path<String>,
    q: Params,
) -> Result<Response, ApiError> {
    let q = params(q)?;
    let id = q.get("id").cloned().unwrap_or_default();
    if id.is_empty() || host.is_empty() {
        let r = HostRegisterResponse {
            host,
            status: HostRegisterStatus::InvalidId,
        };
        return Ok((StatusCode::BAD_REQUEST, Json(r)).into_response());
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    app.write_keyed(
        &key,
        Command::RegisterHost {
            name: host.clone(),
            id,
            now_ms,
        },
    )
    .await?;
    let r = HostRegisterResponse {
        host,
        status: HostRegisterStatus::Ok,
    };
    Ok(Json(r).into_response())
}

/// `DELETE /hosts/{host}`: removes the host with its deployments and history.
pub async fn deregister(
    State(app): State<AppState>,
    Extension(key): Extension<WriteKey>,
    Path(host): Path<String>,
) -> Result<Response, ApiError> {
    let result = app
        .write_keyed(&key, Command::DeregisterHost { name: host.clone() })
        .await?;
    let (code, status) = match result {
        CommandResult::Ok => (StatusCode::OK, HostDeregisterStatus::Ok),
        _ => (StatusCode::NOT_FOUND, HostDeregisterStatus::NotFound),
    };
    Ok((code, Json(HostDeregisterResponse { host, status })).into_response())
}

/// `GET /hosts/{host}/status?status=`.
pub async fn status(
    State(app): State<AppState>,
    Path(host): Path<String>,
    q: Params,
) -> Result<Json<HostStatus>, ApiError> {
    let q = params(q)?;
    let filter = status_filter(&q)?;
    app.read(|s| host_status(s, &host, filter))
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "HOST_NOT_FOUND",
                format!("no host {host}"),
            )
        })
}

/// `POST /hosts/statuses?status=`: body `["host", …]`; unknown or filtered hosts left out.
pub async fn statuses(
    State(app): State<AppState>,
    q: Params,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<BTreeMap<String, HostStatus>>, ApiError> {
    let q = params(q)?;
    let filter = status_filter(&q)?;
    let names: Vec<String> = serde_json::from_slice(&body(raw)?).map_err(|e| {
        ApiError::bad_request(
            "BAD_BODY",
            format!("expected a JSON list of host names: {e}"),
        )
    })?;
    app.read(|s| {
        names
            .iter()
            .filter_map(|n| Some((n.clone(), host_status(s, n, filter)?)))
            .collect()
    })
    .await
    .map(Json)
}

fn parse_deployment(raw: &[u8]) -> Result<Deployment, ApiError> {
    serde_json::from_slice(raw).map_err(|e| {
        ApiError::bad_request(
            "INVALID_DEPLOYMENT",
            format!("expected a deployment {{\"jobId\":…,\"goal\":…}}: {e}"),
        )
    })
}

/// `PUT /hosts/{host}/jobs/{job}?token=&user=`: deploys the body's job to the host.
pub async fn deploy(
    State(app): State<AppState>,
    Extension(key): Extension<WriteKey>,
    Path((host, job)): Path<(String, String)>,
    q: Params,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let q = params(q)?;
    let answer = |code: StatusCode, status: JobDeployStatus| {
        (
            code,
            Json(JobDeployResponse::new(status, host.clone(), job.clone())),
        )
            .into_response()
    };
    if full_id(&job).is_err() {
        return Ok(answer(StatusCode::BAD_REQUEST, JobDeployStatus::InvalidId));
    }
    let mut deployment = parse_deployment(&body(raw)?)?;
    if !deployment.job_id.is_fully_qualified() {
        return Ok(answer(StatusCode::BAD_REQUEST, JobDeployStatus::InvalidId));
    }
    deployment.deployer_user = q.get("user").cloned().filter(|u| !u.is_empty());
    deployment.deployer_master = Some(app.name.clone());
    let token = q.get("token").cloned().unwrap_or_default();
    let result = app
        .write_keyed(
            &key,
            Command::Deploy {
                host: host.clone(),
                deployment,
                token,
            },
        )
        .await?;
    Ok(match result {
        CommandResult::Ok => answer(StatusCode::OK, JobDeployStatus::Ok),
        CommandResult::JobNotFound => answer(StatusCode::BAD_REQUEST, JobDeployStatus::JobNotFound),
        CommandResult::HostNotFound => {
            answer(StatusCode::BAD_REQUEST, JobDeployStatus::HostNotFound)
        }
        CommandResult::JobAlreadyDeployed => {
            answer(StatusCode::BAD_REQUEST, JobDeployStatus::JobAlreadyDeployed)
        }
        CommandResult::PortConflict { .. } => {
            answer(StatusCode::BAD_REQUEST, JobDeployStatus::PortConflict)
        }
        CommandResult::Forbidden => answer(StatusCode::FORBIDDEN, JobDeployStatus::Forbidden),
        other => return Err(super::jobs::unexpected(other)),
    })
}

/// `GET /hosts/{host}/jobs/{job}`: the deployment, or 404.
pub async fn get_deployment(
    State(app): State<AppState>,
    Path((host, job)): Path<(String, String)>,
) -> Result<Json<Deployment>, ApiError> {
    let id = full_id(&job)?.to_string();
    app.read(|s| {
        s.deployments
            .get(&host)
            .and_then(|d| d.get(&id))
            .map(|v| v.value.clone())
    })
    .await?
    .map(Json)
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "JOB_NOT_DEPLOYED",
            format!("{id} is not deployed on {host}"),
        )
    })
}

/// `PATCH /hosts/{host}/jobs/{job}?token=`: sets the goal (START, STOP, UNDEPLOY).
pub async fn set_goal(
    State(app): State<AppState>,
    Extension(key): Extension<WriteKey>,
    Path((host, job)): Path<(String, String)>,
    q: Params,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let q = params(q)?;
    let answer = |code: StatusCode, status: SetGoalStatus| {
        (
            code,
            Json(SetGoalResponse::new(status, host.clone(), job.clone())),
        )
            .into_response()
    };
    let Ok(path_id) = full_id(&job) else {
        return Ok(answer(StatusCode::BAD_REQUEST, SetGoalStatus::InvalidId));
    };
    let deployment = parse_deployment(&body(raw)?)?;
    if deployment.job_id != path_id {
        return Ok(answer(StatusCode::BAD_REQUEST, SetGoalStatus::IdMismatch));
    }
    let token = q.get("token").cloned().unwrap_or_default();
    let result = app
        .write_keyed(
            &key,
            Command::SetGoal {
                host: host.clone(),
                job: path_id.to_string(),
                goal: deployment.goal,
                token,
            },
        )
        .await?;
    Ok(match result {
        CommandResult::Ok => answer(StatusCode::OK, SetGoalStatus::Ok),
        CommandResult::HostNotFound => answer(StatusCode::NOT_FOUND, SetGoalStatus::HostNotFound),
        CommandResult::JobNotDeployed => {
            answer(StatusCode::NOT_FOUND, SetGoalStatus::JobNotDeployed)
        }
        CommandResult::Forbidden => answer(StatusCode::FORBIDDEN, SetGoalStatus::Forbidden),
        other => return Err(super::jobs::unexpected(other)),
    })
}

/// `DELETE /hosts/{host}/jobs/{job}?token=`: undeploys.
pub async fn undeploy(
    State(app): State<AppState>,
    Extension(key): Extension<WriteKey>,
    Path((host, job)): Path<(String, String)>,
    q: Params,
) -> Result<Response, ApiError> {
    let q = params(q)?;
    let answer = |code: StatusCode, status: JobUndeployStatus| {
        (
            code,
            Json(JobUndeployResponse::new(status, host.clone(), job.clone())),
        )
            .into_response()
    };
    let Ok(id) = full_id(&job) else {
        return Ok(answer(
            StatusCode::BAD_REQUEST,
            JobUndeployStatus::InvalidId,
        ));
    };
    let token = q.get("token").cloned().unwrap_or_default();
    let result = app
        .write_keyed(
            &key,
            Command::Undeploy {
                host: host.clone(),
                job: id.to_string(),
                token,
            },
        )
        .await?;
    Ok(match result {
        CommandResult::Ok => answer(StatusCode::OK, JobUndeployStatus::Ok),
        CommandResult::HostNotFound => {
            answer(StatusCode::NOT_FOUND, JobUndeployStatus::HostNotFound)
        }
        CommandResult::JobNotFound => answer(StatusCode::NOT_FOUND, JobUndeployStatus::JobNotFound),
        CommandResult::Forbidden => answer(StatusCode::FORBIDDEN, JobUndeployStatus::Forbidden),
        other => return Err(super::jobs::unexpected(other)),
    })
}
