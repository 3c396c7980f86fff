//! Helios's version headers (reference §3): every answer carries `Helios-Server-Version`, and
//! a request's `Helios-Version` is compared with ours: `INVALID` is refused with 400, a
//! different major version with 426.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// This master's version.
pub const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How a client's version compares with ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionStatus {
    /// No `Helios-Version` header.
    Missing,
    /// Not `n.n.n`.
    Invalid,
    /// The same version.
    Equal,
    /// Same major, client minor not newer.
    Compatible,
    /// Same major, client minor newer: it may use what we lack.
    Maybe,
    /// Another major version.
    Incompatible,
}

impl VersionStatus {
    /// Helios's word for the status.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Missing => "MISSING",
            VersionStatus::Invalid => "INVALID",
            VersionStatus::Equal => "EQUAL",
            VersionStatus::Compatible => "COMPATIBLE",
            VersionStatus::Maybe => "MAYBE",
            VersionStatus::Incompatible => "INCOMPATIBLE",
        }
    }
}

/// Parses `major.minor.patch`, allowing a `-SNAPSHOT`-style suffix on the patch.
pub fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let mut parts = v.trim().splitn(3, '.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch_part = parts.next()?;
    let digits: String = patch_part
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let patch = digits.parse().ok()?;
    Some((major, minor, patch))
}

/// Compares a client's version string with ours.
pub fn check(client: Option<&str>) -> VersionStatus {
    let Some(client) = client else {
        return VersionStatus::Missing;
    };
    let (Some(c), Some(s)) = (parse_version(client), parse_version(SERVER_VERSION)) else {
        return VersionStatus::Invalid;
    };
    if c == s {
        VersionStatus::Equal
    } else if c.0 != s.0 {
        VersionStatus::Incompatible
    } else if c.1 <= s.1 {
        VersionStatus::Compatible
    } else {
        VersionStatus::Maybe
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_rules() {
        let (ma, mi, pa) = parse_version(SERVER_VERSION).unwrap();
        assert_eq!(check(None), VersionStatus::Missing);
        assert_eq!(check(Some("bogus")), VersionStatus::Invalid);
        assert_eq!(check(Some(SERVER_VERSION)), VersionStatus::Equal);
        assert_eq!(
            check(Some(&format!("{ma}.{mi}.{}", pa + 1))),
            VersionStatus::Compatible
        );
        assert_eq!(
            check(Some(&format!("{ma}.{}.0", mi + 1))),
            VersionStatus::Maybe
        );
        assert_eq!(
            check(Some(&format!("{}.0.0", ma + 1))),
            VersionStatus::Incompatible
        );
        assert_eq!(parse_version("0.9.283-SNAPSHOT"), Some((0, 9, 283)));
    }
}
