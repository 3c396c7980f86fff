//! Error answers of the REST gateway: every one is JSON and names the problem.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error answer: an HTTP status and a JSON body.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Value,
}

impl ApiError {
    /// An error with Helios's `status` word and a human message.
    pub fn new(status: StatusCode, word: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "status": word, "message": message.into() }),
        }
    }

    /// 400 with a message.
    pub fn bad_request(word: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, word, message)
    }

    /// 503: no leader is known, or the leader changed under the request; the client retries.
    pub fn no_leader(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "NO_LEADER", message)
    }

    /// An error with a body of Helios's own shape.
    pub fn with_body(status: StatusCode, body: Value) -> Self {
        Self { status, body }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
