//! `helios deploy JOB HOST...`: deploys a job on hosts with goal START (or
//! STOP with `--no-start`), via `PUT /hosts/{host}/jobs/{job}`.
//!
//! Host arguments go through the [`HostResolver`] (exact name, else unique
//! prefix). Each host prints `<host>: done` or `<host>: failed: <response>`;
//! `--json` prints one `JobDeployResponse` per host instead. Any failure
//! makes the exit code 1. `--watch` then follows the job on those hosts, like
//! `watch --exact`, until it runs on all of them (exit 0) or fails on one
//! (exit 1).

use std::time::Duration;

use helios_api::{Goal, JobDeployStatus};

use super::Context;
use super::host_resolver::HostResolver;
use super::job_ref::{self, JobMatch};
use super::watch;
use crate::args::DeployArgs;
use crate::client::HeliosClient;
use crate::output::responses;

/// Runs the command.
pub async fn run(
    args: &DeployArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let found = job_ref::find(client, &args.job).await?;
    let JobMatch::Found(id, _) = found else {
        job_ref::print_unresolved(ctx, &args.job, &found)?;
        return Ok(1);
    };
    let goal = if args.no_start {
        Goal::Stop
    } else {
        Goal::Start
    };
    if !ctx.json {
        writeln!(
            ctx.out,
            "Deploying {} on {}",
            responses::deployment(&id, goal),
            responses::java_list(&args.hosts)
        )?;
    }
    let resolver = HostResolver::fetch(client).await?;
    let mut code = 0;
    let mut resolved = Vec::with_capacity(args.hosts.len());
    for candidate in &args.hosts {
        let host = resolver.resolve(candidate);
        let response = client.deploy(&id, goal, &host, &args.token).await?;
        let ok = response.status == JobDeployStatus::Ok;
        let failure = (!ok).then(|| responses::deploy_response(&response));
        ctx.host_result(&host, &response, failure)?;
        if !ok {
            code = 1;
        }
        resolved.push(host);
    }
    if code == 0 && args.watch {
        let interval = Duration::from_secs(args.interval);
        return watch::until_deployed(client, ctx, &id, goal, &resolved, interval).await;
    }
    Ok(code)
}
