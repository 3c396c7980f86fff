//! `helios remove-deployment-group NAME`: deletes a deployment group
//! (`DELETE /deployment-group/{name}`). The jobs it deployed stay deployed.
//!
//! Prints `Deployment-group <n> removed`, or
//! `Failed to remove deployment-group <n>, status: DEPLOYMENT_GROUP_NOT_FOUND` and exit 1;
//! `--json` prints the master's answer either way.

use helios_api::RemoveDeploymentGroupStatus;

use super::Context;
use crate::args::DeploymentGroupNameArgs;
use crate::client::HeliosClient;
use crate::output::json;
use crate::output::responses::enum_name;

/// Runs the command; exit code 1 unless the group was removed.
pub async fn run(
    args: &DeploymentGroupNameArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let name = &args.name;
    let response = client.remove_deployment_group(name).await?;
    let removed = response.status == RemoveDeploymentGroupStatus::Removed;
    if ctx.json {
        writeln!(ctx.out, "{}", json::compact(&json::to_value(&response)))?;
    } else if removed {
        writeln!(ctx.out, "Deployment-group {name} removed")?;
    } else {
        writeln!(
            ctx.out,
            "Failed to remove deployment-group {name}, status: {}",
            enum_name(&response.status)
        )?;
    }
    Ok(if removed { 0 } else { 1 })
}
