//! `helios masters`: the live masters, one per line (host names relative to
//! the DNS search path unless `-f`); `--json` prints a sorted list.
//!
//! `--all` (not in Helios) lists every member of the cluster, also those that
//! are down, as a table `NAME  ID  ROLE  STATE  TERM  MATCH  LAG  HTTP  CLUSTER`
//! (`GET /masters?all=true`); with `--json`, the members as the master
//! answers them.
//!
//! `helios masters add NAME --cluster ADDR --http ADDR` (`POST /masters`) and
//! `helios masters remove NAME` (`DELETE /masters/NAME`) change the membership,
//! one change at a time; the masters refuse a change that would lose the quorum.

use std::collections::BTreeSet;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Context, confirmed};
use crate::args::{MastersArgs, MembershipCommand};
use crate::client::{HeliosClient, Request, decode};
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
    /// The leader's term.
    #[serde(default)]
    pub term: u64,
    /// The last log index the leader knows it holds.
    #[serde(default)]
    pub match_index: Option<u64>,
    /// How many entries it is behind the leader.
    #[serde(default)]
    pub lag: Option<u64>,
}

/// Runs the command.
pub async fn run(
    args: &MastersArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    if let Some(change) = &args.change {
        return change_membership(change, client, ctx).await;
    }
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

/// `masters add` or `masters remove`: prints the master's answer (the voters after the
/// change), or why it refused; exit code 1 when refused.
async fn change_membership(
    change: &MembershipCommand,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let (request, name) = match change {
        MembershipCommand::Add {
            name,
            cluster,
            http,
        } => {
            let body = json!({"name": name, "clusterAddress": cluster, "httpAddress": http});
            (Request::new(Method::POST, &["masters"]).json(&body), name)
        }
        MembershipCommand::Remove { name, yes } => {
            if !yes {
                writeln!(
                    ctx.out,
                    "This will remove the master {name} from the cluster; it may not come back \
                     with its data"
                )?;
                if !confirmed(ctx)? {
                    return Ok(1);
                }
            }
            (Request::new(Method::DELETE, &["masters", name]), name)
        }
    };
    let reply = client.send(&request).await?;
    let body: Value = decode(&request, &reply).unwrap_or_default();
    if ctx.json {
        writeln!(ctx.out, "{}", json::compact(&body))?;
        return Ok(if reply.status == 200 { 0 } else { 1 });
    }
    if reply.status != 200 {
        let word = body["status"].as_str().unwrap_or("FAILED");
        let why = body["message"].as_str().unwrap_or("no message");
        writeln!(ctx.out, "{name}: {word} ({}): {why}", reply.status)?;
        return Ok(1);
    }
    let status = body["status"].as_str().unwrap_or_default();
    let voters: Vec<&str> = body["voters"]
        .as_array()
        .map(|v| v.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    writeln!(ctx.out, "{name}: {status}; voters: {}", voters.join(", "))?;
    Ok(0)
}

/// The `--all` table, one row per member in the master's order (by name).
fn members_table(members: &[Member], full: bool, search: &[String]) -> String {
    let header = [
        "NAME", "ID", "ROLE", "STATE", "TERM", "MATCH", "LAG", "HTTP", "CLUSTER",
    ];
    let or_dash = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    let mut rows = vec![header.iter().map(|h| h.to_string()).collect()];
    rows.extend(members.iter().map(|m| {
        vec![
            hostname::format_hostname(full, &m.name, search),
            m.id.to_string(),
            m.role.clone(),
            m.state.clone(),
            m.term.to_string(),
            or_dash(m.match_index),
            or_dash(m.lag),
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
        {"name":"m1","id":1,"role":"leader","state":"up","httpAddress":"m1:5801","clusterAddress":"m1:5802","term":3,"matchIndex":120,"lag":0},
        {"name":"m2","id":2,"role":"follower","state":"down","httpAddress":"m2:5801","clusterAddress":"m2:5802","millisSinceAck":30000,"term":3,"matchIndex":100,"lag":20}
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
            "NAME    ID    ROLE        STATE    TERM    MATCH    LAG    HTTP       CLUSTER    \n\
             m1      1     leader      up       3       120      0      m1:5801    m1:5802    \n\
             m2      2     follower    down     3       100      20     m2:5801    m2:5802    \n"
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

    /// `masters add` posts the new member and prints the voters after; a refusal prints the
    /// master's word and reason and exits 1; `masters remove --yes` deletes without asking.
    #[tokio::test]
    async fn add_and_remove_change_the_membership() {
        let added = r#"{"status":"ADDED","name":"m4","id":4,"voters":["m1","m2","m3","m4"]}"#;
        let (code, out, _, seen) = helios(
            &[
                "masters",
                "add",
                "m4",
                "--cluster",
                "h4:5802",
                "--http",
                "h4:5801",
            ],
            vec![(200, added.into())],
            "",
        )
        .await;
        assert_eq!(
            (code, out.as_str()),
            (0, "m4: ADDED; voters: m1, m2, m3, m4\n")
        );
        assert!(
            seen[0].line.starts_with("POST /masters?user=tester"),
            "{}",
            seen[0].line
        );
        let refused = r#"{"status":"QUORUM_AT_RISK","message":"refused: after this change 1 of 2 voting members would be up"}"#;
        let (code, out, _, seen) = helios(
            &["masters", "remove", "m2", "--yes"],
            vec![(409, refused.into())],
            "",
        )
        .await;
        assert_eq!(code, 1);
        assert_eq!(
            out,
            "m2: QUORUM_AT_RISK (409): refused: after this change 1 of 2 voting members would be up\n"
        );
        assert!(
            seen[0].line.starts_with("DELETE /masters/m2?user=tester"),
            "{}",
            seen[0].line
        );
    }
}
