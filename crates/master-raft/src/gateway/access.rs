//! Who may call what: API tokens on the HTTP port, for REST and gRPC alike (issue 13).
//!
//! With security on, [`check`] wraps every route of the HTTP port. It names the role a call
//! needs ([`needed_role`]: `read` for reads and `Watch`, `deploy` for jobs, deployments and
//! deployment groups, `admin` for hosts, masters and tokens; health, readiness, metrics,
//! version and gRPC health and reflection need none), reads the token from
//! `Authorization: Bearer …` (gRPC metadata is the same header) and asks
//! [`control::tokens::authorize`]. Refusals are 401 (no token, unknown or revoked) and 403
//! (role too weak), as JSON for REST and as `UNAUTHENTICATED` / `PERMISSION_DENIED` for gRPC.
//!
//! A token that may only read sees the env values jobs mark secret (`secretEnv`) as
//! `"<secret>"`: [`check`] rewrites its JSON answers and marks its gRPC calls [`ReadOnly`].
//!
//! Every master judges every call it receives against its own applied state, and a follower
//! forwards the call with the token to the leader, which judges it again: a revoke is in force
//! on the leader once acknowledged, so no forwarded call passes a revoked token. A token that
//! a follower does not know yet (created a moment ago) makes the follower wait, at most
//! [`CATCH_UP`], for its state to catch up before it refuses.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::control::tokens::{self, ReadOnly, Refusal};
use crate::node::Node;
use crate::state::ApiRole;

/// How long a follower waits for a token it does not know to be applied before refusing it.
pub const CATCH_UP: Duration = Duration::from_secs(1);

/// The role a call needs; `None` for calls open to all (probes, metrics, version, gRPC health
/// and reflection).
pub fn needed_role(method: &Method, path: &str) -> Option<ApiRole> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["healthz" | "readyz" | "metrics" | "version" | "openapi.json"] => None,
        [service, _] if service.starts_with("grpc.health.") => None,
        [service, _] if service.starts_with("grpc.reflection.") => None,
        ["helios.v1.Helios", rpc] => Some(grpc_role(rpc)),
        // A backup holds the CA's key and the join secrets.
        ["tokens" | "join-tokens" | "backup", ..] => Some(ApiRole::Admin),
        _ if matches!(*method, Method::GET | Method::HEAD) => Some(ApiRole::Read),
        [.., "statuses"] if *method == Method::POST => Some(ApiRole::Read),
        ["hosts", _] | ["masters", ..] => Some(ApiRole::Admin),
        _ => Some(ApiRole::Deploy),
    }
}

/// The role a method of `helios.v1.Helios` needs.
fn grpc_role(rpc: &str) -> ApiRole {
    match rpc {
        "RegisterHost" | "DeregisterHost" | "AddMaster" | "RemoveMaster" | "CreateApiToken"
        | "ListApiTokens" | "RevokeApiToken" => ApiRole::Admin,
        "CreateJob"
        | "RemoveJob"
        | "Deploy"
        | "SetGoal"
        | "Undeploy"
        | "CreateDeploymentGroup"
        | "RemoveDeploymentGroup"
        | "RollingUpdate"
        | "StopDeploymentGroup" => ApiRole::Deploy,
        // Every other method reads; one added later that writes fails the test below until
        // it is named here.
        _ => ApiRole::Read,
    }
}

/// The bearer token of a request, if it sent one.
fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Middleware: refuses calls without a token allowed to make them (see the module's
/// documentation).
pub async fn check(State(node): State<Node>, req: Request, next: Next) -> Response {
    let Some(needed) = needed_role(req.method(), req.uri().path()) else {
        return next.run(req).await;
    };
    let presented = bearer(&req);
    let mut verdict = tokens::authorize(&node, presented, needed);
    if matches!(verdict, Ok(Err(Refusal::Unknown))) && !node.leads() {
        verdict = caught_up(&node, presented, needed).await;
    }
    match verdict {
        Ok(Ok(())) => {}
        Ok(Err(refusal)) => return refused(&req, &refusal),
        Err(e) => return ApiError::from(e).into_response(),
    }
    // A token that may read but not deploy sees no secret env value.
    let may_deploy = matches!(
        tokens::authorize(&node, presented, ApiRole::Deploy),
        Ok(Ok(()))
    );
    if may_deploy {
        return next.run(req).await;
    }
    let mut req = req;
    req.extensions_mut().insert(ReadOnly);
    let resp = next.run(req).await;
    // Asked after the answer was made from the state: no job ever had a secret, so the
    // answer is sent as it streams, unread.
    let secrets = node.read_local(|s| s.secret_env_seen).unwrap_or(true);
    if !secrets {
        return resp;
    }
    hide_secrets(resp).await
}

/// A JSON answer with every secret env value hidden ([`helios_api::secrets::redact_json`]);
/// other answers (gRPC, text) as they are. Answers without `secretEnv` pass unparsed. The
/// answer is read whole first, so only once some job had secrets (the cost of a read token
/// listing every job is then the size of that list).
async fn hide_secrets(resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                format!("reading the answer: {e}"),
            )
            .into_response();
        }
    };
    if !bytes.windows(11).any(|w| w == b"\"secretEnv\"") {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    // Fails closed: an answer that mentions secrets but cannot be rewritten is not sent.
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "cannot hide the secret values of this answer",
        )
        .into_response();
    };
    helios_api::secrets::redact_json(&mut value);
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = axum::body::Body::from(serde_json::to_vec(&value).unwrap_or_default());
    Response::from_parts(parts, body)
}

/// [`tokens::authorize`] again after each entry this member applies, until the token is known
/// or [`CATCH_UP`] passes.
async fn caught_up(
    node: &Node,
    presented: Option<&str>,
    needed: ApiRole,
) -> Result<Result<(), Refusal>, crate::control::Error> {
    let mut applied = node.applied.clone();
    let deadline = tokio::time::Instant::now() + CATCH_UP;
    loop {
        let verdict = tokens::authorize(node, presented, needed)?;
        if !matches!(verdict, Err(Refusal::Unknown)) {
            return Ok(verdict);
        }
        match tokio::time::timeout_at(deadline, applied.changed()).await {
            Ok(Ok(())) => continue,
            _ => return Ok(verdict),
        }
    }
}

/// The refusal as the caller's protocol expects it.
fn refused(req: &Request, refusal: &Refusal) -> Response {
    let missing_or_unknown = matches!(refusal, Refusal::Missing | Refusal::Unknown);
    let is_grpc = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if is_grpc {
        let status = if missing_or_unknown {
            tonic::Status::unauthenticated(refusal.to_string())
        } else {
            tonic::Status::permission_denied(refusal.to_string())
        };
        return status.into_http::<axum::body::Body>();
    }
    if missing_or_unknown {
        let mut resp = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            refusal.to_string(),
        )
        .into_response();
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        resp
    } else {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            refusal.to_string(),
        )
        .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_needs_the_role_the_issue_names() {
        let role = |m: Method, p: &str| needed_role(&m, p);
        for open in ["/healthz", "/readyz", "/metrics", "/version"] {
            assert_eq!(role(Method::GET, open), None, "{open}");
        }
        assert_eq!(role(Method::POST, "/grpc.health.v1.Health/Check"), None);
        assert_eq!(
            role(
                Method::POST,
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
            ),
            None
        );
        assert_eq!(role(Method::GET, "/jobs"), Some(ApiRole::Read));
        assert_eq!(role(Method::GET, "/version/check"), Some(ApiRole::Read));
        assert_eq!(role(Method::POST, "/jobs/statuses"), Some(ApiRole::Read));
        assert_eq!(role(Method::POST, "/hosts/statuses"), Some(ApiRole::Read));
        assert_eq!(role(Method::POST, "/jobs"), Some(ApiRole::Deploy));
        assert_eq!(role(Method::DELETE, "/jobs/a:1:b"), Some(ApiRole::Deploy));
        assert_eq!(
            role(Method::PUT, "/hosts/h/jobs/a:1:b"),
            Some(ApiRole::Deploy)
        );
        assert_eq!(
            role(Method::PATCH, "/hosts/h/jobs/a:1:b"),
            Some(ApiRole::Deploy)
        );
        assert_eq!(
            role(Method::DELETE, "/hosts/h/jobs/a:1:b"),
            Some(ApiRole::Deploy)
        );
        assert_eq!(
            role(Method::POST, "/deployment-group/g/rolling-update"),
            Some(ApiRole::Deploy)
        );
        assert_eq!(role(Method::PUT, "/hosts/h"), Some(ApiRole::Admin));
        assert_eq!(role(Method::DELETE, "/hosts/h"), Some(ApiRole::Admin));
        assert_eq!(role(Method::GET, "/tokens"), Some(ApiRole::Admin));
        assert_eq!(role(Method::DELETE, "/tokens/x"), Some(ApiRole::Admin));
        assert_eq!(
            role(Method::GET, "/join-tokens/agent"),
            Some(ApiRole::Admin)
        );
        assert_eq!(role(Method::GET, "/no/such/path"), Some(ApiRole::Read));
        let rpc = |name: &str| role(Method::POST, &format!("/helios.v1.Helios/{name}"));
        assert_eq!(rpc("Watch"), Some(ApiRole::Read));
        assert_eq!(rpc("ListJobs"), Some(ApiRole::Read));
        assert_eq!(rpc("JobStatuses"), Some(ApiRole::Read));
        assert_eq!(rpc("Deploy"), Some(ApiRole::Deploy));
        assert_eq!(rpc("DeregisterHost"), Some(ApiRole::Admin));
        assert_eq!(rpc("RemoveMaster"), Some(ApiRole::Admin));
        assert_eq!(role(Method::POST, "/masters"), Some(ApiRole::Admin));
        assert_eq!(role(Method::DELETE, "/masters/m1"), Some(ApiRole::Admin));
        assert_eq!(role(Method::GET, "/masters"), Some(ApiRole::Read));
        assert_eq!(role(Method::GET, "/backup"), Some(ApiRole::Admin));
    }

    /// Every write RPC of `helios.v1` (one whose request has an idempotency fingerprint in
    /// `grpc/write.rs`, or a membership change, which has none) needs more than `read`, and
    /// every other RPC but the token listing needs `read`: a new write method fails here
    /// until [`grpc_role`] names it.
    #[test]
    fn every_write_rpc_needs_more_than_read() {
        let proto = include_str!("../../../../proto/helios.proto");
        let write_rs = include_str!("../grpc/write.rs");
        let rpcs: Vec<&str> = proto
            .lines()
            .filter_map(|l| l.trim().strip_prefix("rpc "))
            .filter_map(|l| l.split('(').next())
            .collect();
        assert!(rpcs.len() > 20, "{rpcs:?}");
        let mut writes = 0;
        for rpc in rpcs {
            let membership = ["AddMaster", "RemoveMaster"].contains(&rpc);
            let writes_state = membership || write_rs.contains(&format!("v1::{rpc}Request"));
            if rpc == "ListApiTokens" {
                // Reads, but only for admins: token names and roles are for them.
                assert_eq!(grpc_role(rpc), ApiRole::Admin);
                continue;
            }
            writes += usize::from(writes_state);
            assert_eq!(
                grpc_role(rpc) > ApiRole::Read,
                writes_state,
                "{rpc} needs {}",
                grpc_role(rpc)
            );
        }
        assert_eq!(writes, 15);
    }

    #[test]
    fn the_bearer_token_is_read_from_the_authorization_header() {
        let with = |v: &str| {
            Request::builder()
                .header(header::AUTHORIZATION, v)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        assert_eq!(bearer(&with("Bearer hlt_x")), Some("hlt_x"));
        assert_eq!(bearer(&with("bearer  hlt_x ")), Some("hlt_x"));
        assert_eq!(bearer(&with("Basic abc")), None);
        assert_eq!(bearer(&with("Bearer ")), None);
    }
}
