//! `helios list-deployment-groups`: the names of the deployment groups, one per line in the
//! master's (sorted) order; `--json` prints them as a list. A master that answers 404 gets
//! Helios's `Failed to list deployment groups` and exit 1.

use super::Context;
use crate::client::HeliosClient;
use crate::output::json;

/// Runs the command.
pub async fn run(client: &HeliosClient, ctx: &mut Context<'_>) -> anyhow::Result<i32> {
    let Some(names) = client.deployment_groups().await? else {
        writeln!(ctx.out, "Failed to list deployment groups")?;
        return Ok(1);
    };
    if ctx.json {
        writeln!(ctx.out, "{}", json::pretty(&json::to_value(&names)))?;
    } else {
        for name in &names {
            writeln!(ctx.out, "{name}")?;
        }
    }
    Ok(0)
}
