//! `helios hosts [PATTERN]`: registered hosts whose name the pattern finds
//! (`GET /hosts?namePattern=…&selector=…`), then their statuses
//! (`POST /hosts/statuses[?status=UP|DOWN]`) as Helios's table.
//!
//! `-s/--selector` expressions are checked here with Helios's grammar and
//! sent as typed; `-q` prints only the sorted names; `--json` prints the map
//! host → HostStatus (`-q --json`: the sorted names). No host at all exits 1,
//! with `host pattern <p> matched no hosts` when a pattern was given (and no
//! `-q`), or `{ }` with `--json`.

use super::Context;
use crate::args::HostsArgs;
use crate::client::HeliosClient;
use crate::output::{hostname, hosts, json};
use crate::selector::HostSelector;

/// Runs the command.
pub async fn run(
    args: &HostsArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let mut selectors: Vec<String> = Vec::new();
    for expression in &args.selectors {
        HostSelector::parse(expression)?;
        if !selectors.contains(expression) {
            selectors.push(expression.clone());
        }
    }
    let mut names = client.hosts(Some(&args.pattern), &selectors).await?;
    if names.is_empty() {
        if ctx.json {
            writeln!(ctx.out, "{}", json::pretty(&serde_json::json!({})))?;
        } else if !args.quiet && !args.pattern.is_empty() {
            writeln!(ctx.out, "host pattern {} matched no hosts", args.pattern)?;
        }
        return Ok(1);
    }
    let search = hostname::search_domains_unless_full(args.full);
    if args.quiet {
        match args.status.as_deref() {
            // The master applies the status filter, so `-q --status` needs the statuses too;
            // their map comes back sorted by name.
            Some(status) => {
                names = client
                    .host_statuses(&names, Some(status))
                    .await?
                    .into_keys()
                    .collect();
            }
            None => names.sort(),
        }
        if ctx.json {
            writeln!(ctx.out, "{}", json::pretty(&json::to_value(&names)))?;
        } else {
            for name in &names {
                writeln!(
                    ctx.out,
                    "{}",
                    hostname::format_hostname(args.full, name, &search)
                )?;
            }
        }
        return Ok(0);
    }
    let statuses = client.host_statuses(&names, args.status.as_deref()).await?;
    if ctx.json {
        writeln!(ctx.out, "{}", json::pretty(&json::to_value(&statuses)))?;
    } else {
        let now = chrono::Utc::now().timestamp_millis();
        write!(
            ctx.out,
            "{}",
            hosts::hosts_table(&statuses, args.full, &search, now)
        )?;
    }
    Ok(0)
}
