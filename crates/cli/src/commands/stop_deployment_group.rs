//! `helios stop-deployment-group NAME`: stops a deployment group's rolling update
//! (`POST /deployment-group/{name}/stop`); the master marks the group FAILED with the error
//! `Stopped by user` and drops the steps left.
//!
//! Prints `Deployment-group <n> stopped` (204, exit 0), `Deployment-group <n> not found`
//! (404) or `Failed to stop deployment-group <n>. Status: <code>`, both exit 1. Like Helios,
//! it has no JSON form: `--json` prints the same lines.

use super::Context;
use crate::args::DeploymentGroupNameArgs;
use crate::client::HeliosClient;

/// Runs the command; exit code 1 unless the group was stopped.
pub async fn run(
    args: &DeploymentGroupNameArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let name = &args.name;
    match client.stop_deployment_group(name).await? {
        204 => {
            writeln!(ctx.out, "Deployment-group {name} stopped")?;
            Ok(0)
        }
        404 => {
            writeln!(ctx.out, "Deployment-group {name} not found")?;
            Ok(1)
        }
        status => {
            writeln!(
                ctx.out,
                "Failed to stop deployment-group {name}. Status: {status}"
            )?;
            Ok(1)
        }
    }
}
