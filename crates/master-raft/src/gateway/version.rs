//! Helios's version headers (reference §3): every answer carries `Helios-Server-Version`, and
//! a request's `Helios-Version` is compared with ours: `INVALID` is refused with 400, a
//! different major version with 426.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
pub use crate::control::version::{SERVER_VERSION, VersionStatus, check, parse_version};

/// Middleware applying the version rules to every request.
pub async fn version_headers(req: Request, next: Next) -> Response {
    let client = req
        .headers()
        .get("helios-version")
        .map(|v| v.to_str().unwrap_or("?").to_string());
    let status = check(client.as_deref());
    let mut resp = match status {
        VersionStatus::Invalid => ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_VERSION",
            "Helios client version format is bogus - expect n.n.n",
        )
        .into_response(),
        VersionStatus::Incompatible => ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "INCOMPATIBLE_VERSION",
            format!("Your client version is incompatible with the server version {SERVER_VERSION}"),
        )
        .into_response(),
        _ => next.run(req).await,
    };
    let h = resp.headers_mut();
    h.insert(
        "helios-server-version",
        HeaderValue::from_static(SERVER_VERSION),
    );
    h.insert(
        "helios-version-status",
        HeaderValue::from_static(status.as_str()),
    );
    resp
}
