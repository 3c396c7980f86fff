//! The cluster's members as the leader sees them: each one's role (leader, follower, learner)
//! and whether it is up, judged from when it last acknowledged the leader (openraft's
//! heartbeat metrics). `GET /masters` lists the live members' names, as Helios lists the
//! masters whose up-node exists; `GET /masters?all=true` lists every member with its role and
//! state.
//!
//! Only the leader knows when followers last answered, so these are answered at the leader
//! (the gateway forwards `/masters` there) after a read-index check.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use serde::Serialize;

use super::Error;
use crate::node::Node;
use crate::raft::types::MasterNode;

/// A member that has not acknowledged the leader for this many (maximum) election timeouts
/// is down: long enough that a loaded but live follower is not, short enough that a killed
/// one is within a few seconds.
pub const DOWN_AFTER_ELECTION_TIMEOUTS: u32 = 2;

/// A member's part in the Raft group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    /// The member answering: it leads.
    Leader,
    /// A voter that follows.
    Follower,
    /// A non-voting member (joining, or added as a learner).
    Learner,
}

/// Whether a member answers the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberState {
    /// It acknowledged the leader recently (the leader itself is always up).
    Up,
    /// It has not acknowledged the leader for a while, or never has.
    Down,
}

/// One member of the cluster, as `GET /masters?all=true` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatus {
    /// The member's name (`--name`), as `helios masters` lists it.
    pub name: String,
    /// Raft id.
    pub id: u64,
    /// Leader, follower or learner.
    pub role: MemberRole,
    /// Up or down.
    pub state: MemberState,
    /// `host:port` of its HTTP API.
    pub http_address: String,
    /// `host:port` of its cluster port.
    pub cluster_address: String,
    /// Milliseconds since it last acknowledged the leader; `None` for the leader itself and
    /// for a member that has not acknowledged this leader yet.
    pub millis_since_ack: Option<u64>,
}

/// The members with their role and state, sorted by name (then id): every member with `all`,
/// else the live (up) ones, as Helios lists its running masters. Answered after confirming
/// leadership with a quorum so that the membership and the acknowledgements are current.
pub async fn member_statuses(app: &Node, all: bool) -> Result<Vec<MemberStatus>, Error> {
    app.read(|_| ()).await?;
    let metrics = app.raft.metrics().borrow_watched().clone();
    let leader = metrics.current_leader.unwrap_or(app.id);
    let membership = metrics.membership_config.membership();
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    // `heartbeat` is filled in only on the leader, which this member is after `read`.
    let since_ack: BTreeMap<u64, Duration> = metrics
        .heartbeat
        .iter()
        .flatten()
        .filter_map(|(id, at)| at.map(|at| (*id, openraft::Instant::elapsed(&at.into_inner()))))
        .collect();
    let down_after = Duration::from_millis(app.raft.config().election_timeout_max)
        * DOWN_AFTER_ELECTION_TIMEOUTS;
    let mut members = judge(
        membership.nodes().map(|(id, n)| (*id, n)),
        &voters,
        leader,
        &since_ack,
        down_after,
    );
    members.retain(|m| all || m.state == MemberState::Up);
    Ok(members)
}

/// The pure part of [`member_statuses`]: each node's role from the voter set and the
/// leader's id, its state from the time since it last acknowledged the leader.
pub fn judge<'a>(
    nodes: impl Iterator<Item = (u64, &'a MasterNode)>,
    voters: &BTreeSet<u64>,
    leader: u64,
    since_ack: &BTreeMap<u64, Duration>,
    down_after: Duration,
) -> Vec<MemberStatus> {
    let mut out: Vec<MemberStatus> = nodes
        .map(|(id, node)| {
            let role = if id == leader {
                MemberRole::Leader
            } else if voters.contains(&id) {
                MemberRole::Follower
            } else {
                MemberRole::Learner
            };
            let since = (id != leader).then(|| since_ack.get(&id)).flatten();
            let up = id == leader || since.is_some_and(|d| *d <= down_after);
            MemberStatus {
                name: node.name.clone(),
                id,
                role,
                state: if up {
                    MemberState::Up
                } else {
                    MemberState::Down
                },
                http_address: node.http_addr.clone(),
                cluster_address: node.cluster_addr.clone(),
                millis_since_ack: since.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> MasterNode {
        MasterNode {
            name: name.into(),
            cluster_addr: format!("{name}:5802"),
            http_addr: format!("{name}:5801"),
        }
    }

    #[test]
    fn roles_and_states_from_voters_leader_and_acks() {
        let nodes = [
            (3, node("master3")),
            (1, node("master1")),
            (2, node("master2")),
            (4, node("master4")),
            (5, node("master5")),
        ];
        let voters = BTreeSet::from([1, 2, 3]);
        let since_ack = BTreeMap::from([
            (2, Duration::from_millis(50)),
            (3, Duration::from_secs(30)),
            (4, Duration::from_millis(2000)),
        ]);
        let out = judge(
            nodes.iter().map(|(id, n)| (*id, n)),
            &voters,
            1,
            &since_ack,
            Duration::from_secs(2),
        );
        let seen: Vec<(&str, MemberRole, MemberState, Option<u64>)> = out
            .iter()
            .map(|m| (m.name.as_str(), m.role, m.state, m.millis_since_ack))
            .collect();
        use MemberRole::*;
        use MemberState::*;
        assert_eq!(
            seen,
            [
                ("master1", Leader, Up, None),
                ("master2", Follower, Up, Some(50)),
                ("master3", Follower, Down, Some(30_000)),
                ("master4", Learner, Up, Some(2000)),
                ("master5", Learner, Down, None),
            ]
        );
        assert_eq!(
            serde_json::to_value(&out[2]).unwrap(),
            serde_json::json!({"name": "master3", "id": 3, "role": "follower", "state": "down",
                "httpAddress": "master3:5801", "clusterAddress": "master3:5802",
                "millisSinceAck": 30000})
        );
    }
}
