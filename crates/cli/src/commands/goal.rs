//! `helios start JOB HOST...` and `helios stop JOB HOST...`: set the goal of
//! an existing deployment to START or STOP via `PATCH /hosts/{host}/jobs/{job}`
//! (a stopped job keeps its deployment). Host names are used as given.

use helios_api::{Goal, SetGoalStatus};

use super::Context;
use super::job_ref::{self, JobMatch};
use crate::args::GoalArgs;
use crate::client::HeliosClient;
use crate::output::responses;

/// Runs `start` (goal START) or `stop` (goal STOP); exit code 1 when any host
/// fails.
pub async fn run(
    args: &GoalArgs,
    goal: Goal,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let found = job_ref::find(client, &args.job).await?;
    let JobMatch::Found(id, _) = found else {
        job_ref::print_unresolved(ctx, &args.job, &found)?;
        return Ok(1);
    };
    if !ctx.json {
        let verb = if goal == Goal::Start {
            "Starting"
        } else {
            "Stopping"
        };
        writeln!(
            ctx.out,
            "{verb} {id} on {}",
            responses::java_list(&args.hosts)
        )?;
    }
    let mut code = 0;
    for host in &args.hosts {
        let response = client.set_goal(&id, goal, host, &args.token).await?;
        let ok = response.status == SetGoalStatus::Ok;
        let failure = (!ok).then(|| responses::set_goal_response(&response));
        ctx.host_result(host, &response, failure)?;
        if !ok {
            code = 1;
        }
    }
    Ok(code)
}
