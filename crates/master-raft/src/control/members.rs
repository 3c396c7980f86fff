//! The cluster's members as the leader sees them: each one's role (leader, follower, learner)
//! and whether it is up, judged from when it last acknowledged the leader (openraft's
//! heartbeat metrics). `GET /masters` lists the live members' names, as Helios lists the
//! masters whose up-node exists; `GET /masters?all=true` lists every member with its role and
//! state.
//!
//! Only the leader knows when followers last answered, so these are answered at the leader
//! (the gateway forwards `/masters` there) after a read-index check.
//!
//! Membership changes at runtime (issue 14): [`add_member`] makes a master started with
//! `--await-add` a learner, waits until it caught up, then makes it a voter; [`remove_member`]
//! removes a member, up or down, the leader included. One change at a time, and none that
//! would leave fewer members up than the new membership's quorum. A removed master is
//! recorded ([`crate::state::RemovedMaster`]) before it is taken out, so that it stops, and
//! is refused if it comes back with its old data, instead of disturbing the cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::ChangeMembers;
use openraft::async_runtime::WatchReceiver;
use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
use serde::Serialize;

use super::Error;
use crate::node::{Node, NodeError};
use crate::raft::types::{MasterNode, TypeConfig};
use crate::state::{Command, CommandResult, RemovedMaster};

/// How long [`add_member`] waits for the new member to catch up with the leader's log as a
/// learner before it gives up (the learner stays; adding it again goes on from there): short
/// enough that the answer comes back through a follower's forwarding (30 s) and the CLI.
pub const CATCH_UP_LIMIT: Duration = Duration::from_secs(20);

/// How long the leader waits for a new member's answer to its first call.
const NODE_INFO_TIMEOUT: Duration = Duration::from_secs(3);

/// One membership change at a time on this leader (openraft refuses a second one only while
/// the first is in its joint phase, not while a learner catches up).
static ONE_CHANGE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A member that has not acknowledged the leader for this many (maximum) election timeouts
/// is down: long enough that a loaded but live follower is not, short enough that a killed
/// one is within a few seconds.
pub const DOWN_AFTER_ELECTION_TIMEOUTS: u32 = 2;

/// A member's part in the Raft group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemberState {
    /// It acknowledged the leader recently (the leader itself is always up).
    Up,
    /// It has not acknowledged the leader for a while, or never has.
    Down,
}

/// One member of the cluster, as `GET /masters?all=true` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
    /// The leader's term.
    pub term: u64,
    /// The index of the last log entry the leader knows it holds (the leader: its last
    /// entry); `None` when it holds none the leader knows of.
    pub match_index: Option<u64>,
    /// How many entries it is behind the leader's log; `None` when not known.
    pub lag: Option<u64>,
}

/// The members with their role and state, sorted by name (then id): every member with `all`,
/// else the live (up) ones, as Helios lists its running masters. Answered after confirming
/// leadership with a quorum so that the membership and the acknowledgements are current.
pub async fn member_statuses(app: &Node, all: bool) -> Result<Vec<MemberStatus>, Error> {
    app.read(|_| ()).await?;
    let mut members = current_members(app);
    members.retain(|m| all || m.state == MemberState::Up);
    Ok(members)
}

/// Every member as this member's metrics show them, which are complete at the leader.
fn current_members(app: &Node) -> Vec<MemberStatus> {
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
    let matched: BTreeMap<u64, Option<u64>> = metrics
        .replication
        .iter()
        .flatten()
        .map(|(id, log_id)| (*id, log_id.map(|l| l.index)))
        .collect();
    for m in &mut members {
        m.term = metrics.current_term;
        m.match_index = if m.id == app.id {
            metrics.last_log_index
        } else {
            matched.get(&m.id).copied().flatten()
        };
        m.lag = metrics
            .last_log_index
            .map(|last| last.saturating_sub(m.match_index.unwrap_or(0)));
    }
    members
}

/// What `helios masters add` adds: a master started with `--await-add`.
#[derive(Debug, Clone)]
pub struct NewMember {
    /// Its `--name`.
    pub name: String,
    /// `host:port` of its cluster port, as the other masters reach it.
    pub cluster_address: String,
    /// `host:port` of its HTTP API, as the other masters reach it.
    pub http_address: String,
}

/// The outcome of a membership change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MembershipChange {
    /// `ADDED`, `ALREADY_A_MEMBER` or `REMOVED`.
    pub status: &'static str,
    /// The member's name.
    pub name: String,
    /// Its Raft id.
    pub id: u64,
    /// The voters after the change, by name.
    pub voters: Vec<String>,
}

/// Adds the master `new` describes: asks it for its id, makes it a learner, waits until it
/// caught up ([`CATCH_UP_LIMIT`]), then makes it a voter. Refused while another change is
/// under way, for a name or id in use or removed before, for a master with data, and when
/// the members up would not make a quorum of the new membership.
pub async fn add_member(app: &Node, new: NewMember) -> Result<MembershipChange, Error> {
    check_name(&new.name)?;
    check_address("cluster address", &new.cluster_address)?;
    check_address("HTTP address", &new.http_address)?;
    let _one = one_change()?;
    app.read(|_| ()).await?;
    let members = current_members(app);
    finish_joint_change(app).await?;
    if let Some(m) = members.iter().find(|m| m.name == new.name) {
        if m.role != MemberRole::Learner
            && m.cluster_address == new.cluster_address
            && m.http_address == new.http_address
        {
            return Ok(change(app, "ALREADY_A_MEMBER", &m.name, m.id));
        }
        if m.role != MemberRole::Learner {
            return Err(Error::conflict(
                "MASTER_EXISTS",
                format!(
                    "a member is named {} already (id {}, cluster {}, http {}); remove it                      first, or choose another name",
                    m.name, m.id, m.cluster_address, m.http_address
                ),
            ));
        }
    }
    let tls = app.cluster_tls.clone();
    let asked = tokio::time::timeout(
        NODE_INFO_TIMEOUT,
        crate::raft::bootstrap::node_info(&new.cluster_address, &tls),
    )
    .await;
    let (id, found, has_state) = match asked {
        Ok(Ok(info)) => info,
        Ok(Err(e)) => return Err(unreachable(&new, &format!("{e:#}"))),
        Err(_) => return Err(unreachable(&new, "no answer within 3 s")),
    };
    if found.name != new.name {
        return Err(Error::invalid(
            "MASTER_NAME_MISMATCH",
            format!(
                "the master at {} is named {}, not {}",
                new.cluster_address, found.name, new.name
            ),
        ));
    }
    if let Some(why) = app.read_local(|s| s.removal_of(id))? {
        return Err(Error::conflict("MASTER_ID_REMOVED", why));
    }
    let learner = members.iter().find(|m| m.id == id);
    match learner {
        Some(m) if m.name != new.name => {
            return Err(Error::conflict(
                "MASTER_ID_IN_USE",
                format!(
                    "member {} has the id {id} of the master at {}; start that master with                      another --id",
                    m.name, new.cluster_address
                ),
            ));
        }
        None if has_state => {
            return Err(Error::conflict(
                "MASTER_HAS_DATA",
                format!(
                    "the master at {} has Raft data (of this or another cluster); start it                      with an empty data directory and --await-add",
                    new.cluster_address
                ),
            ));
        }
        _ => {}
    }
    let node = MasterNode {
        name: new.name.clone(),
        cluster_addr: new.cluster_address.clone(),
        http_addr: new.http_address.clone(),
    };
    tracing::info!(id, %node, "adding a member: as a learner until it caught up");
    match tokio::time::timeout(CATCH_UP_LIMIT, app.raft.add_learner(id, node, true)).await {
        Ok(result) => {
            result.map_err(membership_error)?;
        }
        Err(_) => {
            return Err(Error::conflict(
                "LEARNER_BEHIND",
                format!(
                    "{} is a learner but did not catch up with the leader within {} s; run                      the command again to wait longer, or remove it",
                    new.name,
                    CATCH_UP_LIMIT.as_secs()
                ),
            ));
        }
    }
    // The quorum of the new membership, judged now that the learner caught up (so it is up),
    // by a member that still leads (else its view of who is up is not current).
    app.read(|_| ()).await?;
    let members = current_members(app);
    check_quorum_after(&members, Some(id), None)?;
    app.raft
        .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
        .await
        .map_err(membership_error)?;
    tracing::info!(id, name = new.name, "member added as a voter");
    Ok(change(app, "ADDED", &new.name, id))
}

/// Removes the member named `name`, up or down, the leader included: records it as removed
/// (it stops, and is refused if it comes back with its data), then takes it out of the
/// membership. Refused while another change is under way, for the last voter, and when the
/// members up would not make a quorum of the new membership.
pub async fn remove_member(app: &Node, name: &str) -> Result<MembershipChange, Error> {
    let _one = one_change()?;
    app.read(|_| ()).await?;
    let members = current_members(app);
    finish_joint_change(app).await?;
    let Some(target) = members.iter().find(|m| m.name == name).cloned() else {
        let known: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        return Err(Error::not_found(
            "MASTER_NOT_FOUND",
            format!("no member is named {name} (members: {})", known.join(", ")),
        ));
    };
    let is_voter = target.role != MemberRole::Learner;
    if is_voter {
        if members
            .iter()
            .filter(|m| m.role != MemberRole::Learner)
            .count()
            == 1
        {
            return Err(Error::conflict(
                "LAST_MASTER",
                format!("{name} is the only voting member; a cluster cannot remove its last"),
            ));
        }
        check_quorum_after(&members, None, Some(target.id))?;
    }
    let removed = RemovedMaster {
        name: target.name.clone(),
        removed_at_ms: app.clock.now_ms(),
    };
    match app
        .write(Command::MasterRemoved {
            id: target.id,
            master: removed,
        })
        .await?
    {
        CommandResult::Ok => {}
        other => return Err(Error::Unexpected(other)),
    }
    let ids = BTreeSet::from([target.id]);
    let removal = if is_voter {
        ChangeMembers::RemoveVoters(ids)
    } else {
        ChangeMembers::RemoveNodes(ids)
    };
    tracing::info!(id = target.id, name, "removing a member");
    app.raft
        .change_membership(removal, false)
        .await
        .map_err(membership_error)?;
    Ok(change(app, "REMOVED", name, target.id))
}

/// Holds the one membership change of this leader, or says another is under way.
fn one_change() -> Result<tokio::sync::MutexGuard<'static, ()>, Error> {
    ONE_CHANGE.try_lock().map_err(|_| {
        Error::conflict(
            "MEMBERSHIP_CHANGE_IN_PROGRESS",
            "another membership change is under way; wait for it to finish",
        )
    })
}

/// Finishes a membership change left in its joint phase (a leader lost between the joint
/// and the final entry leaves it so, and openraft does not finish it by itself), as openraft
/// finishes its own: a change of nothing, which leaves the joint phase. While the joint entry
/// is not committed yet, another change is under way: refused.
async fn finish_joint_change(app: &Node) -> Result<(), Error> {
    let joint = app
        .raft
        .metrics()
        .borrow_watched()
        .membership_config
        .membership()
        .get_joint_config()
        .len()
        > 1;
    if joint {
        tracing::info!("finishing a membership change left in its joint phase");
        app.raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::new()), false)
            .await
            .map_err(membership_error)?;
    }
    Ok(())
}

/// Refuses a change after which the voters up would not make a quorum: `added` becomes a
/// voter (it is up), `removed` leaves.
fn check_quorum_after(
    members: &[MemberStatus],
    added: Option<u64>,
    removed: Option<u64>,
) -> Result<(), Error> {
    let voters: Vec<&MemberStatus> = members
        .iter()
        .filter(|m| Some(m.id) != removed)
        .filter(|m| m.role != MemberRole::Learner || Some(m.id) == added)
        .collect();
    let up = voters.iter().filter(|m| m.state == MemberState::Up).count();
    let quorum = voters.len() / 2 + 1;
    if up >= quorum {
        return Ok(());
    }
    let down: Vec<&str> = voters
        .iter()
        .filter(|m| m.state == MemberState::Down)
        .map(|m| m.name.as_str())
        .collect();
    Err(Error::conflict(
        "QUORUM_AT_RISK",
        format!(
            "refused: after this change {up} of {} voting members would be up ({} down),              fewer than the {quorum} a quorum needs; bring a member back up, or remove one              that is down, first",
            voters.len(),
            down.join(", ")
        ),
    ))
}

/// The answer of a membership change, with the voters after it.
fn change(app: &Node, status: &'static str, name: &str, id: u64) -> MembershipChange {
    let mut voters: Vec<String> = current_members(app)
        .into_iter()
        .filter(|m| m.role != MemberRole::Learner)
        .map(|m| m.name)
        .collect();
    voters.sort();
    MembershipChange {
        status,
        name: name.to_string(),
        id,
        voters,
    }
}

/// A new member's name: not empty, no whitespace or control characters.
fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(
            "INVALID_MASTER_NAME",
            format!("a master's name must be non-empty, without spaces: {name:?}"),
        ));
    }
    Ok(())
}

/// `host:port` with a port number.
fn check_address(what: &str, addr: &str) -> Result<(), Error> {
    let ok = addr
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "INVALID_ADDRESS",
            format!("the {what} must be host:port, not {addr:?}"),
        ))
    }
}

/// The new master could not be asked for its id.
fn unreachable(new: &NewMember, why: &str) -> Error {
    Error::invalid(
        "MASTER_UNREACHABLE",
        format!(
            "cannot reach a master at {}: {why}; start it first with --await-add (and, with \
             security on, a master join token)",
            new.cluster_address
        ),
    )
}

/// openraft's refusal of a membership change, as a use-case error.
fn membership_error(e: RaftError<TypeConfig, ClientWriteError<TypeConfig>>) -> Error {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            Error::Node(NodeError::NotLeader {
                leader: f.leader_id,
                why: "leadership moved during the membership change".into(),
            })
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(
            ChangeMembershipError::InProgress(p),
        )) => Error::conflict(
            "MEMBERSHIP_CHANGE_IN_PROGRESS",
            format!("a membership change is being committed: {p}"),
        ),
        RaftError::APIError(e) => Error::conflict("MEMBERSHIP_CHANGE_REFUSED", e.to_string()),
        RaftError::Fatal(f) => Error::Node(NodeError::Fatal(f.to_string())),
    }
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
                term: 0,
                match_index: None,
                lag: None,
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
                "millisSinceAck": 30000, "term": 0, "matchIndex": null, "lag": null})
        );
    }
}
