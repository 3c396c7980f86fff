//! `helios undeploy JOB [HOST...]`: removes a job's deployment from hosts via
//! `DELETE /hosts/{host}/jobs/{job}`.
//!
//! `-a/--all` undeploys from every host the job is deployed on (from
//! `GET /jobs/{id}/status`), after a prompt unless `--yes`. Host arguments go
//! through the [`HostResolver`]. As in Helios, a failure on any host makes
//! the exit code 255 (Java's -1), not 1.

use helios_api::JobUndeployStatus;

use super::host_resolver::HostResolver;
use super::job_ref::{self, JobMatch};
use super::{Context, confirmed};
use crate::args::UndeployArgs;
use crate::client::HeliosClient;
use crate::output::responses;

/// Exit code when undeploying failed on some host (Helios returns -1).
pub const UNDEPLOY_FAILED: i32 = 255;

/// Runs the command.
pub async fn run(
    args: &UndeployArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let found = job_ref::find(client, &args.job).await?;
    let JobMatch::Found(id, _) = found else {
        job_ref::print_unresolved(ctx, &args.job, &found)?;
        return Ok(1);
    };
    let hosts: Vec<String> = if args.all {
        let status = client.job_status(&id).await?;
        let hosts: Vec<String> = status
            .map(|s| s.deployments.into_keys().collect())
            .unwrap_or_default();
        if hosts.is_empty() {
            writeln!(ctx.out, "{id} is not currently deployed on any hosts.")?;
            return Ok(0);
        }
        if !args.yes && !args.force {
            writeln!(
                ctx.out,
                "This will undeploy {id} from {}",
                responses::java_list(&hosts)
            )?;
            if !confirmed(ctx)? {
                return Ok(1);
            }
        }
        hosts
    } else {
        if args.hosts.is_empty() {
            writeln!(
                ctx.out,
                "Please either specify a list of hosts or use the -a/--all flag."
            )?;
            return Ok(1);
        }
        args.hosts.clone()
    };
    if !ctx.json {
        writeln!(
            ctx.out,
            "Undeploying {id} from {}",
            responses::java_list(&hosts)
        )?;
    }
    let resolver = HostResolver::fetch(client).await?;
    let mut code = 0;
    for candidate in &hosts {
        let host = resolver.resolve(candidate);
        let response = client.undeploy(&id, &host, &args.token).await?;
        let ok = response.status == JobUndeployStatus::Ok;
        let failure = (!ok).then(|| responses::undeploy_response(&response));
        ctx.host_result(&host, &response, failure)?;
        if !ok {
            code = UNDEPLOY_FAILED;
        }
    }
    Ok(code)
}
