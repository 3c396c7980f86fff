//! Job endpoints: create, list, get, remove, statuses, history.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use helios_api::{
    CreateJobStatus, Job, JobDeleteResponse, JobDeleteStatus, JobStatus, TaskStatusEvents,
};

use super::{ApiError, json_stream};
use crate::control::jobs::StatusFields;
use crate::control::{Freshness, jobs};
use crate::exactly_once::WriteKey;
use crate::node::Node;
use crate::state::AsJson;

/// A query string, or why it did not parse.
pub type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

/// The query's parameters; 400 `BAD_QUERY` when it is malformed.
pub fn params(q: Params) -> Result<HashMap<String, String>, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request("BAD_QUERY", format!("malformed query string: {e}")))
}

/// The request body, or the JSON error for a body that could not be read.
pub fn body(b: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    b.map_err(|e| ApiError::new(e.status(), "BAD_BODY", e.body_text()))
}

/// A JSON body of type `T`, or 400 with `word` and what was expected.
pub fn json_body<T: serde::de::DeserializeOwned>(
    raw: Result<Bytes, BytesRejection>,
    word: &str,
    expected: &str,
) -> Result<T, ApiError> {
    serde_json::from_slice(&body(raw)?)
        .map_err(|e| ApiError::bad_request(word, format!("expected {expected}: {e}")))
}

/// Whether `?stale` asks for this member's own state (`stale`, `stale=`, `stale=true`).
pub(super) fn stale(q: &HashMap<String, String>) -> Freshness {
    match q.get("stale").map(String::as_str) {
        Some("" | "true") => Freshness::Local,
        _ => Freshness::Linearizable,
    }
}

/// `POST /jobs?user=`: validates, hashes, stamps and replicates a new job.
#[utoipa::path(
    post, path = "/jobs", tag = "jobs",
    params(("user" = Option<String>, Query, description = "Who creates the job")),
    request_body = helios_api::Job,
    responses((status = 200, description = "Created (or already created by an earlier attempt)", body = helios_api::CreateJobResponse), super::openapi::Refusals)
)]
pub async fn create(
    State(node): State<Node>,
    Extension(key): Extension<WriteKey>,
    q: Params,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let q = params(q)?;
    let job: Job = serde_json::from_slice(&body(raw)?).map_err(|e| {
        ApiError::bad_request("INVALID_JOB_DEFINITION", format!("malformed job JSON: {e}"))
    })?;
    let resp = jobs::create_job(&node, &key, job, q.get("user").cloned()).await?;
    let code = match resp.status {
        CreateJobStatus::Ok => StatusCode::OK,
        _ => StatusCode::BAD_REQUEST,
    };
    Ok((code, Json(resp)).into_response())
}

/// `GET /jobs?q=&hostPattern=`: jobs whose full id contains `q`, optionally only those
/// deployed on a host whose name matches the `hostPattern` regex.
///
/// The body is streamed (see [`json_stream`]).
#[utoipa::path(
    get, path = "/jobs", tag = "jobs",
    params(("q" = Option<String>, Query, description = "A substring of the job id"),
        ("hostPattern" = Option<String>, Query, description = "Only jobs deployed on a host whose name contains this")),
    responses((status = 200, description = "Jobs by id", body = std::collections::BTreeMap<String, helios_api::Job>), super::openapi::Refusals)
)]
pub async fn list(State(node): State<Node>, q: Params) -> Result<Response, ApiError> {
    let q = params(q)?;
    let get = |k: &str| q.get(k).map_or("", String::as_str);
    let found = jobs::jobs(&node, get("q"), get("hostPattern"), None, stale(&q)).await?;
    Ok(json_stream::object_response(
        found.map(|(id, j)| (id, AsJson(j.value))),
    ))
}

/// `GET /jobs/{id}`.
#[utoipa::path(
    get, path = "/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id (a unique prefix works)")),
    responses((status = 200, description = "The job", body = helios_api::Job), super::openapi::Refusals)
)]
pub async fn get_one(
    State(node): State<Node>,
    Path(id): Path<String>,
    q: Params,
) -> Result<Json<AsJson>, ApiError> {
    let q = params(q)?;
    let freshness = if q.contains_key("stale") {
        Freshness::Local
    } else {
        Freshness::Linearizable
    };
    Ok(Json(AsJson(
        jobs::job(&node, &id, freshness).await?.1.value,
    )))
}

/// `DELETE /jobs/{id}?token=`.
#[utoipa::path(
    delete, path = "/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id"), ("token" = Option<String>, Query, description = "The job's token")),
    responses((status = 200, description = "Removed", body = helios_api::JobDeleteResponse), super::openapi::Refusals)
)]
pub async fn remove(
    State(node): State<Node>,
    Extension(key): Extension<WriteKey>,
    Path(id): Path<String>,
    q: Params,
) -> Result<Response, ApiError> {
    let token = params(q)?.remove("token").unwrap_or_default();
    let status = jobs::remove_job(&node, &key, &id, token).await?.status;
    let code = match status {
        JobDeleteStatus::Ok => StatusCode::OK,
        JobDeleteStatus::JobNotFound => StatusCode::NOT_FOUND,
        JobDeleteStatus::Forbidden => StatusCode::FORBIDDEN,
        JobDeleteStatus::StillInUse => StatusCode::BAD_REQUEST,
    };
    Ok((code, Json(JobDeleteResponse { status })).into_response())
}

/// `GET /jobs/{id}/status`.
#[utoipa::path(
    get, path = "/jobs/{id}/status", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "The job, its deployments and task statuses", body = helios_api::JobStatus), super::openapi::Refusals)
)]
pub async fn status(
    State(node): State<Node>,
    Path(id): Path<String>,
) -> Result<Json<JobStatus>, ApiError> {
    Ok(Json(jobs::job_status(&node, &id).await?.1))
}

/// `POST /jobs/statuses[?fields=deployments]`: body `["<job id>", …]`; unknown ids are left
/// out. `fields=deployments` (ours, not Helios's: a Helios master ignores it) leaves each
/// status only its deployments, which is what `helios jobs` counts. The body is streamed (see
/// [`json_stream`]).
#[utoipa::path(
    post, path = "/jobs/statuses", tag = "jobs",
    params(("fields" = Option<String>, Query, description = "`deployments`: only each job's deployments")),
    request_body(content = Vec<String>, description = "Job ids"),
    responses((status = 200, description = "Statuses by job id (unknown ids left out)", body = std::collections::BTreeMap<String, helios_api::JobStatus>), super::openapi::Refusals)
)]
pub async fn statuses(
    State(node): State<Node>,
    q: Params,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let q = params(q)?;
    let fields = match q.get("fields").map(String::as_str) {
        None => StatusFields::All,
        Some("deployments") => StatusFields::Deployments,
        Some(other) => {
            return Err(ApiError::bad_request(
                "INVALID_FIELDS",
                format!("fields={other}: the only value is deployments"),
            ));
        }
    };
    let ids: Vec<String> = json_body(raw, "BAD_BODY", "a JSON list of job ids")?;
    Ok(json_stream::object_response(
        jobs::job_statuses(&node, &ids, fields)
            .await?
            .map(|(id, status)| (id, json_stream::Serialized(status))),
    ))
}

/// `GET /history/jobs/{id}`: the events of a job, sorted by timestamp; `JOB_ID_NOT_FOUND`
/// (200) for an unknown job.
#[utoipa::path(
    get, path = "/history/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "Task events, oldest first", body = helios_api::TaskStatusEvents), super::openapi::Refusals)
)]
pub async fn history(
    State(node): State<Node>,
    Path(id): Path<String>,
) -> Result<Json<TaskStatusEvents>, ApiError> {
    Ok(Json(jobs::job_history(&node, &id).await?))
}
