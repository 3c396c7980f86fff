//! `helios inspect-deployment-group NAME`: a deployment group's name, selectors, job and
//! last rollout options (`GET /deployment-group/{name}`); `--json` prints the group as
//! Helios's pretty JSON (`null` fields left out).
//!
//! An unknown group prints `Unknown deployment group: <n>` (with `--json`
//! `{"status":"DEPLOYMENT_GROUP_NOT_FOUND"}`) and exits 1.

use super::Context;
use crate::args::DeploymentGroupNameArgs;
use crate::client::HeliosClient;
use crate::output::{deployment_group, json};

/// Runs the command; exit code 1 when the group is unknown.
pub async fn run(
    args: &DeploymentGroupNameArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let Some(group) = client.deployment_group(&args.name).await? else {
        print_unknown(ctx, &args.name)?;
        return Ok(1);
    };
    if ctx.json {
        writeln!(ctx.out, "{}", json::pretty(&json::to_value(&group)))?;
    } else {
        write!(ctx.out, "{}", deployment_group::inspect(&group))?;
    }
    Ok(0)
}

/// Helios's answer for a group the master does not know: `Unknown deployment group: <n>`,
/// or with `--json` `{"status":"DEPLOYMENT_GROUP_NOT_FOUND"}`. (Helios prints the JSON
/// without a line break; like the other commands' status objects, it gets one here.)
pub fn print_unknown(ctx: &mut Context<'_>, name: &str) -> std::io::Result<()> {
    if ctx.json {
        let body = serde_json::json!({"status": "DEPLOYMENT_GROUP_NOT_FOUND"});
        writeln!(ctx.out, "{}", json::compact(&body))
    } else {
        writeln!(ctx.out, "Unknown deployment group: {name}")
    }
}
