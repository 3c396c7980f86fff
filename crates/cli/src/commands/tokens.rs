//! `helios tokens create|list|revoke`: the masters' API tokens (`POST /tokens`,
//! `GET /tokens`, `DELETE /tokens/{name-or-id}`), for an admin token. A created token is
//! printed once: the masters keep only its hash.

use reqwest::Method;
use serde_json::{Value, json};

use super::Context;
use crate::args::TokensCommand;
use crate::client::{HeliosClient, Request, decode};
use crate::output::json;

/// Runs the command; exit code 1 when the masters refuse it.
pub async fn run(
    command: &TokensCommand,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    match command {
        TokensCommand::Create { name, role } => {
            let request =
                Request::new(Method::POST, &["tokens"]).json(&json!({"name": name, "role": role}));
            let created: Value = client.get_ok(&request).await?;
            if ctx.json {
                writeln!(ctx.out, "{}", json::compact(&created))?;
            } else {
                let token = created["token"].as_str().unwrap_or_default();
                writeln!(ctx.out, "{token}")?;
            }
            Ok(0)
        }
        TokensCommand::List => {
            let listed: Vec<Value> = client
                .get_ok(&Request::new(Method::GET, &["tokens"]))
                .await?;
            if ctx.json {
                writeln!(ctx.out, "{}", json::compact(&Value::from(listed)))?;
                return Ok(0);
            }
            let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
            let width = listed
                .iter()
                .map(|t| text(t, "name").len())
                .max()
                .unwrap_or(0)
                .max(4);
            writeln!(ctx.out, "{:width$}    {:6}    ID", "NAME", "ROLE")?;
            for t in &listed {
                writeln!(
                    ctx.out,
                    "{:width$}    {:6}    {}",
                    text(t, "name"),
                    text(t, "role"),
                    text(t, "id")
                )?;
            }
            Ok(0)
        }
        TokensCommand::Revoke { name } => {
            let request = Request::new(Method::DELETE, &["tokens", name]);
            let reply = client.send(&request).await?;
            if reply.status != 200 {
                let body: Value = decode(&request, &reply).unwrap_or_default();
                let why = body["message"].as_str().unwrap_or("no message");
                writeln!(ctx.out, "{name}: not revoked ({}): {why}", reply.status)?;
                return Ok(1);
            }
            writeln!(ctx.out, "{name}: revoked")?;
            Ok(0)
        }
    }
}
