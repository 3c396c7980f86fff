//! `helios version`: the client's and the master's versions. A master that
//! cannot be reached is not an error: its version reads
//! `Unable to connect to master` (or `Master replied with error code <n>`).

use serde_json::json;

use super::Context;
use crate::client::{CLIENT_VERSION, HeliosClient};
use crate::output::json;

/// Runs the command; always exit code 0, as in Helios.
pub async fn run(client: &HeliosClient, ctx: &mut Context<'_>) -> anyhow::Result<i32> {
    let master = client.master_version().await;
    if ctx.json {
        let body = json!({"clientVersion": CLIENT_VERSION, "masterVersion": master});
        writeln!(ctx.out, "{}", json::pretty(&body))?;
    } else {
        writeln!(ctx.out, "Client Version: {CLIENT_VERSION}")?;
        writeln!(ctx.out, "Master Version: {master}")?;
    }
    Ok(0)
}
