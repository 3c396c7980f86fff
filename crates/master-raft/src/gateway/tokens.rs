//! Credential endpoints (ours; admin only): API tokens (`POST /tokens`, `GET /tokens`,
//! `DELETE /tokens/{id or name}`) and join tokens (`GET /join-tokens/{agent|master}`,
//! `POST /join-tokens/{agent|master}/rotate`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use super::ApiError;
use super::jobs::{Params, json_body, params, stale};
use crate::control::{enrollment, tokens};
use crate::exactly_once::WriteKey;
use crate::node::Node;
use crate::state::ApiRole;

/// The body of `POST /tokens`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    name: String,
    role: String,
}

/// `POST /tokens` with `{"name": …, "role": "read"|"deploy"|"admin"}`: the new token, shown
/// this once: `{"id","name","role","token","created"}`.
#[utoipa::path(
    post, path = "/tokens", tag = "tokens",
    request_body = CreateToken,
    responses((status = 200, description = "The token, shown this once", body = crate::control::tokens::NewToken), super::openapi::Refusals)
)]
pub async fn create(
    State(node): State<Node>,
    Extension(key): Extension<WriteKey>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: CreateToken = json_body(
        raw,
        "INVALID_TOKEN_REQUEST",
        "a JSON object {\"name\": NAME, \"role\": \"read\"|\"deploy\"|\"admin\"}",
    )?;
    let role: ApiRole = body
        .role
        .parse()
        .map_err(|e: String| ApiError::bad_request("INVALID_ROLE", e))?;
    let created = tokens::create(&node, &key, &body.name, role).await?;
    Ok(Json(created).into_response())
}

/// `GET /tokens`: every token without its secret, by name.
#[utoipa::path(
    get, path = "/tokens", tag = "tokens",
    responses((status = 200, description = "Every token without its secret", body = Vec<super::openapi::TokenInfo>), super::openapi::Refusals)
)]
pub async fn list(State(node): State<Node>, q: Params) -> Result<Response, ApiError> {
    let q = params(q)?;
    let listed: Vec<_> = tokens::list(&node, stale(&q))
        .await?
        .into_iter()
        .map(|t| json!({"id": t.id, "name": t.name, "role": t.role, "created": t.created_ms}))
        .collect();
    Ok(Json(listed).into_response())
}

/// `DELETE /tokens/{id or name}`: revokes the token, on every master as soon as this answers.
#[utoipa::path(
    delete, path = "/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "The token's id or name")),
    responses((status = 200, description = "Revoked", body = super::openapi::Revoked), super::openapi::Refusals)
)]
pub async fn revoke(
    State(node): State<Node>,
    Extension(key): Extension<WriteKey>,
    Path(id_or_name): Path<String>,
) -> Result<Response, ApiError> {
    let id = tokens::revoke(&node, &key, &id_or_name).await?;
    Ok(Json(json!({"status": "REVOKED", "id": id})).into_response())
}

/// The role of a join-token path, or 400.
fn join_role(role: &str) -> Result<helios_pki::Role, ApiError> {
    role.parse()
        .map_err(|e: String| ApiError::bad_request("INVALID_ROLE", e))
}

/// `GET /join-tokens/{agent|master}`: the role's current join token.
#[utoipa::path(
    get, path = "/join-tokens/{role}", tag = "tokens",
    params(("role" = String, Path, description = "agent or master")),
    responses((status = 200, description = "The role's join token", body = super::openapi::JoinTokenBody), super::openapi::Refusals)
)]
pub async fn join_token(
    State(node): State<Node>,
    Path(role): Path<String>,
    q: Params,
) -> Result<Response, ApiError> {
    let q = params(q)?;
    let role = join_role(&role)?;
    let token = enrollment::join_token(&node, role, stale(&q)).await?;
    Ok(Json(json!({"role": role.as_str(), "token": token.to_string()})).into_response())
}

/// `POST /join-tokens/{agent|master}/rotate`: a new secret for the role; tokens with the old
/// one no longer join (certificates they got stay valid).
#[utoipa::path(
    post, path = "/join-tokens/{role}/rotate", tag = "tokens",
    params(("role" = String, Path, description = "agent or master")),
    responses((status = 200, description = "The new join token", body = super::openapi::JoinTokenBody), super::openapi::Refusals)
)]
pub async fn rotate_join_token(
    State(node): State<Node>,
    Extension(key): Extension<WriteKey>,
    Path(role): Path<String>,
) -> Result<Response, ApiError> {
    let role = join_role(&role)?;
    let token = enrollment::rotate(&node, &key, role).await?;
    Ok(Json(json!({"role": role.as_str(), "token": token.to_string()})).into_response())
}
