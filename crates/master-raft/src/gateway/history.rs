//! `GET /history/jobs/{id}`: a job's task history on every host, oldest first.

use axum::Json;
use axum::extract::{Path, State};
use helios_api::TaskStatusEvents;

use super::jobs::full_id;
use super::{ApiError, AppState};

/// The events of a job, sorted by timestamp; `JOB_ID_NOT_FOUND` (200) for an unknown job.
pub async fn job_history(
    State(app): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<TaskStatusEvents>, ApiError> {
    let id = full_id(&raw)?.to_string();
    app.read(|s| crate::control::job_history(s, &id))
        .await
        .map(Json)
}
