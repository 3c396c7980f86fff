//! `helios masters`: the running masters, one per line (host names relative
//! to the DNS search path unless `-f`); `--json` prints a sorted list.

use std::collections::BTreeSet;

use super::Context;
use crate::args::MastersArgs;
use crate::client::HeliosClient;
use crate::output::{hostname, json};

/// Runs the command.
pub async fn run(
    args: &MastersArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let masters = client.masters().await?;
    let search = if args.full {
        Vec::new()
    } else {
        hostname::search_domains()
    };
    let names = masters
        .iter()
        .map(|m| hostname::format_hostname(args.full, m, &search));
    if ctx.json {
        let sorted: BTreeSet<String> = names.collect();
        writeln!(ctx.out, "{}", json::pretty(&json::to_value(&sorted)))?;
    } else {
        for name in names {
            writeln!(ctx.out, "{name}")?;
        }
    }
    Ok(0)
}
