//! `helios inspect JOB`: prints a job's configuration, as `Key: value` lines
//! or, with `--json`, as Helios's pretty job JSON (every field, nulls too).

use chrono::Local;

use super::Context;
use super::job_ref::{self, JobMatch};
use crate::args::InspectArgs;
use crate::client::HeliosClient;
use crate::output::{job, json};

/// Runs the command; exit code 1 when the reference is unknown or ambiguous.
pub async fn run(
    args: &InspectArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let found = job_ref::find(client, &args.job).await?;
    let JobMatch::Found(_, found) = found else {
        job_ref::print_unresolved(ctx, &args.job, &found)?;
        return Ok(1);
    };
    if ctx.json {
        writeln!(ctx.out, "{}", json::pretty(&json::to_value(&found)))?;
    } else {
        write!(ctx.out, "{}", job::inspect(&found, &Local))?;
    }
    Ok(0)
}
