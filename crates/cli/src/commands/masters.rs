//! `helios masters`: the live masters, one per line (host names relative to
//! the DNS search path unless `-f`); `--json` prints a sorted list.
//!
//! `--all` (not in Helios) lists every member of the cluster, also those that
//! are down, as a table `NAME  ID  ROLE  STATE  HTTP  CLUSTER`
//! (`GET /masters?all=true`); with `--json`, the members as the master
//! answers them.

use std::collections::BTreeSet;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::Context;
use crate::args::MastersArgs;
use crate::client::{HeliosClient, Request};
use crate::output::{hostname, json, table};

/// One member as `GET /masters?all=true` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// The master's name.
    pub name: String,
    /// Raft id.
    pub id: u64,
    /// `leader`, `follower` or `learner`.
    pub role: String,
    /// `up` or `down`.
    pub state: String,
    /// `host:port` of its HTTP API.
    pub http_address: String,
    /// `host:port` of its cluster port.
    pub cluster_address: String,
    /// Milliseconds since it last acknowledged the leader, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub millis_since_ack: Option<u64>,
}

/// Runs the command.
pub async fn run(
    args: &MastersArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let search = hostname::search_domains_unless_full(args.full);
    if args.all {
        let request = Request::new(Method::GET, &["masters"]).query("all", "true");
        let members: Vec<Member> = client.get_ok(&request).await?;
        if ctx.json {
            writeln!(ctx.out, "{}", json::pretty(&json::to_value(&members)))?;
        } else {
            write!(ctx.out, "{}", members_table(&members, args.full, &search))?;
        }
        return Ok(0);
    }
    let masters = client.masters().await?;
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

/// The `--all` table, one row per member in the master's order (by name).
fn members_table(members: &[Member], full: bool, search: &[String]) -> String {
    let header = ["NAME", "ID", "ROLE", "STATE", "HTTP", "CLUSTER"];
    let mut rows = vec![header.iter().map(|h| h.to_string()).collect()];
    rows.extend(members.iter().map(|m| {
        vec![
            hostname::format_hostname(full, &m.name, search),
            m.id.to_string(),
            m.role.clone(),
            m.state.clone(),
            m.http_address.clone(),
            m.cluster_address.clone(),
        ]
    }));
    table::render(&rows)
}

#[cfg(test)]
mod tests {
    use crate::commands::tests::helios;

    const MEMBERS: &str = r#"[
        {"name":"m1","id":1,"role":"leader","state":"up","httpAddress":"m1:5801","clusterAddress":"m1:5802"},
        {"name":"m2","id":2,"role":"follower","state":"down","httpAddress":"m2:5801","clusterAddress":"m2:5802","millisSinceAck":30000}
    ]"#;

    /// `--all` asks for every member and shows its role and state; plain `masters` prints
    /// what the master lists (the live ones).
    #[tokio::test]
    async fn all_lists_every_member_with_role_and_state() {
        let (code, out, _, seen) =
            helios(&["masters", "-f", "--all"], vec![(200, MEMBERS.into())], "").await;
        assert_eq!(code, 0);
        assert_eq!(seen[0].line, "GET /masters?user=tester&all=true");
        assert_eq!(
            out,
            "NAME    ID    ROLE        STATE    HTTP       CLUSTER    \n\
             m1      1     leader      up       m1:5801    m1:5802    \n\
             m2      2     follower    down     m2:5801    m2:5802    \n"
        );
        let (code, out, _, _) = helios(
            &["masters", "--all", "--json"],
            vec![(200, MEMBERS.into())],
            "",
        )
        .await;
        assert_eq!(code, 0);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v[1]["state"], "down");
        assert_eq!(v[1]["millisSinceAck"], 30000);
        let (code, out, _, seen) =
            helios(&["masters", "-f"], vec![(200, r#"["m1"]"#.into())], "").await;
        assert_eq!((code, out.as_str()), (0, "m1\n"));
        assert_eq!(seen[0].line, "GET /masters?user=tester");
    }
}
