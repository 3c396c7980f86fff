//! `helios history JOB`: every task status a job went through on every host
//! (`GET /history/jobs/{id}`), oldest first, as a `HOST TIMESTAMP STATE
//! THROTTLED CONTAINERID` table in local time, or `--json` as Helios's
//! `TaskStatusEvents`.
//!
//! The job is looked up like other wildcard commands, but an ambiguous
//! reference reads `Ambiguous job id: <ref>`, and both messages are plain
//! text even with `--json` (as in Helios).

use chrono::Local;

use super::Context;
use super::job_ref::{self, JobMatch};
use crate::args::HistoryArgs;
use crate::client::HeliosClient;
use crate::output::{json, tasks};

/// Runs the command.
pub async fn run(
    args: &HistoryArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let id = match job_ref::find(client, &args.job).await? {
        JobMatch::Found(id, _) => id,
        JobMatch::Unknown => {
            writeln!(ctx.out, "Unknown job: {}", args.job)?;
            return Ok(1);
        }
        JobMatch::Ambiguous => {
            writeln!(ctx.out, "Ambiguous job id: {}", args.job)?;
            return Ok(1);
        }
    };
    let history = client.job_history(&id).await?;
    if ctx.json {
        writeln!(ctx.out, "{}", json::pretty(&json::to_value(&history)))?;
    } else {
        write!(ctx.out, "{}", tasks::history_table(&history.events, &Local))?;
    }
    Ok(0)
}
