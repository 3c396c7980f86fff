//! Every REST error is JSON: axum's own rejections (a path that does not decode, a wrong
//! method, an unsupported body) answer `text/plain` or nothing; this middleware turns them
//! into Helios's error body `{"status": WORD, "message": …}`, keeping their status code and
//! headers (`Allow` on a 405).

use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Longest rejection text kept in the message.
const MAX_TEXT: usize = 4096;

/// Middleware: answers a non-JSON error as a JSON error naming the problem.
pub async fn as_json(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = to_bytes(body, MAX_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = match status {
        // axum adds `Allow` outside the route's layers, so it is not visible here yet.
        StatusCode::METHOD_NOT_ALLOWED => {
            format!(
                "method {method} is not allowed on {path}; the Allow header lists those that are"
            )
        }
        _ if text.is_empty() => format!(
            "{} {path}",
            status.canonical_reason().unwrap_or("error").to_lowercase()
        ),
        _ => text,
    };
    let body = ApiError::new(status, word(status), message).into_response();
    let (body_parts, body) = body.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        body_parts
            .headers
            .get(header::CONTENT_TYPE)
            .cloned()
            .unwrap_or(HeaderValue::from_static("application/json")),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, body)
}

/// Helios-style status word of an HTTP status: `METHOD_NOT_ALLOWED`, `BAD_REQUEST`, ….
fn word(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "BAD_REQUEST",
        StatusCode::NOT_FOUND => "NOT_FOUND",
        StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
        StatusCode::PAYLOAD_TOO_LARGE => "BODY_TOO_LARGE",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        StatusCode::UNPROCESSABLE_ENTITY => "BAD_BODY",
        s if s.is_server_error() => "INTERNAL",
        _ => "BAD_REQUEST",
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::extract::Path;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    async fn call(method: &str, uri: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let app = Router::new()
            .route("/jobs/{id}", get(|Path(id): Path<String>| async { id }))
            .layer(axum::middleware::from_fn(as_json));
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let body = to_bytes(body, 1 << 16).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&body).into(),
        )
    }

    #[tokio::test]
    async fn a_path_that_does_not_decode_is_a_json_400() {
        let (status, headers, body) = call("GET", "/jobs/%FF").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "BAD_REQUEST");
        assert!(v["message"].as_str().unwrap().contains("UTF-8"), "{body}");
    }

    #[tokio::test]
    async fn a_wrong_method_is_a_json_405_with_allow() {
        let (status, headers, body) = call("POST", "/jobs/x").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(headers[header::ALLOW].to_str().unwrap().contains("GET"));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "METHOD_NOT_ALLOWED");
        assert!(v["message"].as_str().unwrap().contains("POST"), "{body}");
    }

    #[tokio::test]
    async fn answers_that_are_not_errors_pass_unchanged() {
        let (status, _, body) = call("GET", "/jobs/abc").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "abc");
    }
}
