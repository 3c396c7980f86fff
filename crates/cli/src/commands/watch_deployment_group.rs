//! `helios watch-deployment-group NAME [-f] [--interval N]`: polls a deployment group's
//! status (`GET /deployment-group/{name}/status`) every interval and prints its hosts.
//!
//! The output follows Helios's header: `Control-C to stop` and
//! `STATUS               HOST                           STATE`, then every round a dashed
//! separator stamped with the UTC time and a `%-20s %-30s %s` line per host of the group (the
//! group's status, the host, the state of the group's job there). `-f` prints full host
//! names. With `--json` each round is the status as pretty JSON, without header or
//! separators. (Helios's own command prints the whole `deployment-group-status` text under
//! that header each round.)
//!
//! It runs until stdout closes (exit 0), like `watch`. An unknown group prints
//! `Unknown deployment group: <n>` and ends it with exit 1.

use std::time::Duration;

use chrono::Utc;

use super::Context;
use super::inspect_deployment_group::print_unknown;
use super::watch::print;
use crate::args::WatchDeploymentGroupArgs;
use crate::client::HeliosClient;
use crate::output::{deployment_group, hostname, json};

/// Runs the command: 0 once stdout closes, 1 when the group is unknown.
pub async fn run(
    args: &WatchDeploymentGroupArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let search = hostname::search_domains_unless_full(args.full);
    if !ctx.json && print(ctx, deployment_group::WATCH_HEADER).is_err() {
        return Ok(0);
    }
    let interval = Duration::from_secs(args.interval);
    loop {
        if !ctx.json && print(ctx, &deployment_group::watch_separator(Utc::now())).is_err() {
            return Ok(0);
        }
        let Some(response) = client.deployment_group_status(&args.name).await? else {
            print_unknown(ctx, &args.name)?;
            return Ok(1);
        };
        let report = if ctx.json {
            format!("{}\n", json::pretty(&json::to_value(&response)))
        } else {
            deployment_group::watch_report(&response, args.full, &search)
        };
        if print(ctx, &report).is_err() {
            return Ok(0);
        }
        tokio::time::sleep(interval).await;
    }
}
