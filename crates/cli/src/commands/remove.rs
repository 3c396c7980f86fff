//! `helios remove JOB`: deletes a job (and its history) after a confirmation
//! prompt, unless `--yes`. The master refuses with `STILL_IN_USE` while the
//! job is deployed, and with `FORBIDDEN` when `--token` does not match.

use helios_api::{JobDeleteResponse, JobDeleteStatus};

use super::job_ref::{self, JobMatch};
use super::{Context, confirmed};
use crate::args::RemoveArgs;
use crate::client::HeliosClient;
use crate::output::json;

/// Runs the command; exit code 1 when the job is not removed.
pub async fn run(
    args: &RemoveArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let found = job_ref::find(client, &args.job).await?;
    let JobMatch::Found(id, _) = found else {
        job_ref::print_unresolved(ctx, &args.job, &found)?;
        return Ok(1);
    };
    if !args.yes && !args.force {
        writeln!(ctx.out, "This will remove the job {id}")?;
        if !confirmed(ctx)? {
            return Ok(1);
        }
    }
    if !ctx.json {
        writeln!(ctx.out, "Removing job {id}")?;
    }
    let response = client.delete_job(&id.to_string(), &args.token).await?;
    if ctx.json {
        writeln!(ctx.out, "{}", json::compact(&json::to_value(&response)))?;
    } else if response.status == JobDeleteStatus::Ok {
        writeln!(ctx.out, "{id}: done")?;
    } else {
        writeln!(ctx.out, "{id}: failed: {}", describe(&response))?;
    }
    Ok(if response.status == JobDeleteStatus::Ok {
        0
    } else {
        1
    })
}

/// Java's `JobDeleteResponse.toString()`: `JobDeleteResponse{status=STILL_IN_USE}`.
pub fn describe(response: &JobDeleteResponse) -> String {
    format!(
        "JobDeleteResponse{{status={}}}",
        status_name(&response.status)
    )
}

/// The enum constant's name as it appears in JSON (`STILL_IN_USE`).
fn status_name<T: serde::Serialize>(status: &T) -> String {
    match json::to_value(status) {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_reads_like_javas_to_string() {
        let response = JobDeleteResponse {
            status: JobDeleteStatus::StillInUse,
        };
        assert_eq!(
            describe(&response),
            "JobDeleteResponse{status=STILL_IN_USE}"
        );
        let response = JobDeleteResponse {
            status: JobDeleteStatus::Forbidden,
        };
        assert_eq!(describe(&response), "JobDeleteResponse{status=FORBIDDEN}");
    }
}
