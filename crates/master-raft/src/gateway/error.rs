//! Error answers of the REST gateway: every one is JSON and names the problem.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use helios_api::idempotency::IDEMPOTENCY_KEY_REUSED;

use crate::control;
use crate::node::NodeError;
pub use helios_api::idempotency::UNKNOWN_OUTCOME;

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

    /// 504 `UNKNOWN_OUTCOME`: the write may or may not have been applied; retrying with the
    /// same idempotency key is safe and tells which.
    /// `key` is `None` for the masters' own writes, which have no key to retry with.
    pub fn unknown_outcome(key: Option<&str>, detail: &str) -> Self {
        let message = match key {
            Some(key) => format!(
                "the write may or may not have been applied ({detail}); retry it with the same \
                 Idempotency-Key {key}"
            ),
            None => format!("the write may or may not have been applied ({detail})"),
        };
        Self::new(StatusCode::GATEWAY_TIMEOUT, UNKNOWN_OUTCOME, message)
    }

    /// 409 `IDEMPOTENCY_KEY_REUSED`: the key was first used with a different request.
    pub fn key_reused(key: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            IDEMPOTENCY_KEY_REUSED,
            format!(
                "the idempotency key {key} was already used for a different request; use a new \
                 key for a new request"
            ),
        )
    }
}

/// The one mapping of the core's errors to HTTP: 503 only when nothing was written and the
/// client may retry; 504 when a write may have been applied; 500 `RAFT_STOPPED` when this
/// master's Raft core stopped (it is exiting; the CLI goes on to another master).
impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::NotLeader { why, .. } => Self::no_leader(why),
            NodeError::Unavailable(why) => Self::no_leader(why),
            NodeError::UnknownOutcome { key, detail } => {
                Self::unknown_outcome(key.as_deref(), &detail)
            }
            NodeError::KeyReused { key } => Self::key_reused(&key),
            e @ NodeError::Fatal(_) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                RAFT_STOPPED,
                e.to_string(),
            ),
        }
    }
}

/// The status word of an answer from a master whose Raft core stopped.
pub const RAFT_STOPPED: &str = "RAFT_STOPPED";

impl From<control::Error> for ApiError {
    fn from(e: control::Error) -> Self {
        match e {
            control::Error::Node(e) => e.into(),
            control::Error::Invalid { word, message } => Self::bad_request(word, message),
            control::Error::NotFound { word, message } => {
                Self::new(StatusCode::NOT_FOUND, word, message)
            }
            control::Error::Conflict { word, message } => {
                Self::new(StatusCode::CONFLICT, word, message)
            }
            control::Error::Denied { word, message } => {
                Self::new(StatusCode::FORBIDDEN, word, message)
            }
            e @ control::Error::Unexpected(_) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
