//! `helios deployment-group-status NAME [-f]`: a deployment group's job, status
//! (`IDLE`, `ROLLING_OUT`, `ACTIVE`, `FAILED`), selectors and error, then a table of its
//! hosts that are up (`GET /deployment-group/{name}/status`); `--json` prints the master's
//! answer as Helios's pretty JSON. `-f` shows full host names and job ids.
//!
//! An unknown group prints `Unknown deployment group: <n>` (with `--json`
//! `{"status":"DEPLOYMENT_GROUP_NOT_FOUND"}`) and exits 1.

use super::Context;
use super::inspect_deployment_group::print_unknown;
use crate::args::DeploymentGroupStatusArgs;
use crate::client::HeliosClient;
use crate::output::{deployment_group, hostname, json};

/// Runs the command; exit code 1 when the group is unknown.
pub async fn run(
    args: &DeploymentGroupStatusArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let Some(response) = client.deployment_group_status(&args.name).await? else {
        print_unknown(ctx, &args.name)?;
        return Ok(1);
    };
    if ctx.json {
        writeln!(ctx.out, "{}", json::pretty(&json::to_value(&response)))?;
        return Ok(0);
    }
    let search = hostname::search_domains_unless_full(args.full);
    let text = deployment_group::status(&args.name, &response, args.full, &search);
    write!(ctx.out, "{text}")?;
    Ok(0)
}
