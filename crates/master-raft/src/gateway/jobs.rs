//! Job endpoints: create, list, get, remove, statuses.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use helios_api::{
    CreateJobResponse, CreateJobStatus, Job, JobDeleteResponse, JobDeleteStatus, JobId, JobStatus,
};

use super::{ApiError, AppState};
use crate::exactly_once::WriteKey;
use crate::state::{Command, CommandResult, State as ClusterState};

pub type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

pub fn params(q: Params) -> Result<HashMap<String, String>, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request("BAD_QUERY", format!("malformed query string: {e}")))
}

pub fn body(b: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    b.map_err(|e| ApiError::new(e.status(), "BAD_BODY", e.body_text()))
}

/// Parses a path job id; it must be fully qualified (`name:version:hash`).
pub fn full_id(raw: &str) -> Result<JobId, ApiError> {
    let id: JobId = raw.parse().map_err(|e: helios_api::JobIdParseError| {
        ApiError::bad_request("INVALID_ID", e.to_string())
    })?;
    if !id.is_fully_qualified() {
        return Err(ApiError::bad_request(
            "INVALID_ID",
            format!("Invalid id: {raw} (expected name:version:hash with a 40-character hash)"),
        ));
    }
    Ok(id)
}

fn create_answer(status: StatusCode, resp: CreateJobResponse) -> Response {
    (status, Json(resp)).into_response()
}

/// `POST /jobs?user=`: validates, hashes, stamps and replicates a new job.
pub async fn create(
    State(app): State<AppState>,
    Extension(key): Extension<WriteKey>,
    q: Params,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let q = params(q)?;
    let raw = body(raw)?;
    let job: Job = serde_json::from_slice(&raw).map_err(|e| {
        ApiError::bad_request("INVALID_JOB_DEFINITION", format!("malformed job JSON: {e}"))
    })?;
    let resp = crate::control::create_job(&app, &key, job, q.get("user").cloned()).await?;
    let code = match resp.status {
        CreateJobStatus::Ok => StatusCode::OK,
        _ => StatusCode::BAD_REQUEST,
    };
    Ok(create_answer(code, resp))
}

pub fn unexpected(r: CommandResult) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL",
        format!("unexpected command result {r:?}"),
    )
}

/// `GET /jobs?q=&hostPattern=`: jobs whose full id contains `q`, optionally only those
/// deployed on a host whose name matches the `hostPattern` regex.
pub async fn list(
    State(app): State<AppState>,
    q: Params,
) -> Result<Json<BTreeMap<String, Job>>, ApiError> {
    let q = params(q)?;
    let needle = q.get("q").cloned().unwrap_or_default();
    let host_pattern = match q.get("hostPattern").filter(|p| !p.is_empty()) {
        Some(p) => Some(regex::Regex::new(p).map_err(|e| {
            ApiError::bad_request(
                "INVALID_HOST_PATTERN",
                format!("bad hostPattern {p:?}: {e}"),
            )
        })?),
        None => None,
    };
    let stale = q.get("stale").is_some_and(|v| v.is_empty() || v == "true");
    let select = |s: &ClusterState| -> BTreeMap<String, Job> {
        crate::control::jobs_matching(s, &needle, host_pattern.as_ref())
            .map(|(id, j)| (id.clone(), j.value.clone()))
            .collect()
    };
    if stale {
        app.read_local(select).map(Json)
    } else {
        app.read(select).await.map(Json)
    }
}

/// `GET /jobs/{id}`.
pub async fn get_one(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    q: Params,
) -> Result<Json<Job>, ApiError> {
    let q = params(q)?;
    let id = full_id(&raw)?.to_string();
    let select = |s: &ClusterState| s.jobs.get(&id).map(|j| j.value.clone());
    let found = if q.contains_key("stale") {
        app.read_local(select)?
    } else {
        app.read(select).await?
    };
    found.map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "JOB_NOT_FOUND",
            format!("no job {id}"),
        )
    })
}

/// `DELETE /jobs/{id}?token=`.
pub async fn remove(
    State(app): State<AppState>,
    Extension(key): Extension<WriteKey>,
    Path(raw): Path<String>,
    q: Params,
) -> Result<Response, ApiError> {
    let q = params(q)?;
    let id = full_id(&raw)?.to_string();
    let token = q.get("token").cloned().unwrap_or_default();
    let (code, status) = match app
        .write_keyed(&key, Command::RemoveJob { id, token })
        .await?
    {
        CommandResult::Ok => (StatusCode::OK, JobDeleteStatus::Ok),
        CommandResult::JobNotFound => (StatusCode::NOT_FOUND, JobDeleteStatus::JobNotFound),
        CommandResult::Forbidden => (StatusCode::FORBIDDEN, JobDeleteStatus::Forbidden),
        CommandResult::StillInUse => (StatusCode::BAD_REQUEST, JobDeleteStatus::StillInUse),
        other => return Err(unexpected(other)),
    };
    Ok((code, Json(JobDeleteResponse { status })).into_response())
}

/// The status of one job: its deployments and the task statuses agents reported.
pub fn job_status(s: &ClusterState, id: &str) -> Option<JobStatus> {
    let job = s.jobs.get(id)?;
    let mut deployments = BTreeMap::new();
    for (host, jobs) in &s.deployments {
        if let Some(d) = jobs.get(id) {
            deployments.insert(host.clone(), d.value.clone());
        }
    }
    let mut task_statuses = BTreeMap::new();
    for (host, statuses) in &s.task_statuses {
        if let Some(t) = statuses.get(id) {
            task_statuses.insert(host.clone(), t.value.clone());
        }
    }
    Some(JobStatus {
        deployments,
        job: job.value.clone(),
        task_statuses,
    })
}

/// `GET /jobs/{id}/status`.
pub async fn status(
    State(app): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<JobStatus>, ApiError> {
    let id = full_id(&raw)?.to_string();
    app.read(|s| job_status(s, &id))
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "JOB_NOT_FOUND",
                format!("no job {id}"),
            )
        })
}

/// `POST /jobs/statuses`: body `["<job id>", …]`; unknown ids are left out.
pub async fn statuses(
    State(app): State<AppState>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<BTreeMap<String, JobStatus>>, ApiError> {
    let raw = body(raw)?;
    let ids: Vec<String> = serde_json::from_slice(&raw).map_err(|e| {
        ApiError::bad_request("BAD_BODY", format!("expected a JSON list of job ids: {e}"))
    })?;
    let mut wanted = Vec::with_capacity(ids.len());
    for raw in &ids {
        wanted.push(
            full_id(raw)
                .map_err(|_| ApiError::bad_request("INVALID_ID", format!("Invalid id {raw}")))?
                .to_string(),
        );
    }
    app.read(|s| {
        wanted
            .iter()
            .filter_map(|id| Some((id.clone(), job_status(s, id)?)))
            .collect()
    })
    .await
    .map(Json)
}
