//! Cluster formation: `--peers` (the lowest id initialises a pristine cluster) and `--join`.
//!
//! Restarting any member with the same flags is safe: a member that has Raft state never
//! initialises, and the lowest id initialises only when every peer reports no state, so a
//! wiped or replaced lowest member can never start a second cluster beside the first.

use openraft::async_runtime::WatchReceiver;
use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use tracing::{info, warn};

use crate::raft::network::client;
use crate::raft::pb;
use crate::raft::service::has_state;
use crate::raft::tls::ClusterTls;
use crate::raft::types::{MasterNode, Raft};

const RETRY: Duration = Duration::from_millis(300);

/// Initialises the cluster from `--peers` if this member has the lowest id and nobody has
/// state yet. Returns once the cluster is initialised or known to exist.
pub async fn form_cluster(
    raft: &Raft,
    id: u64,
    node: &MasterNode,
    peers: &BTreeMap<u64, String>,
    tls: &ClusterTls,
) -> anyhow::Result<()> {
    if has_state(raft) {
        info!("member has Raft state; rejoining the existing cluster");
        return Ok(());
    }
    let lowest = *peers.keys().next().context("empty --peers")?;
    if lowest != id {
        info!(
            lowest,
            "waiting for member {lowest} to initialise the cluster"
        );
        return Ok(());
    }
    let mut members = BTreeMap::from([(id, node.clone())]);
    for (&peer, addr) in peers.iter().filter(|(p, _)| **p != id) {
        let (peer_node, peer_has_state) = loop {
            match node_info(addr, tls).await {
                Ok((pid, n, s)) if pid == peer => break (n, s),
                Ok((pid, ..)) => bail!(
                    "--peers names member {peer} at {addr}, but the master there has id {pid}"
                ),
                Err(e) => {
                    warn!(peer, addr, "waiting for peer: {e}");
                    if has_state(raft) {
                        return Ok(());
                    }
                    tokio::time::sleep(RETRY).await;
                }
            }
        };
        if peer_has_state {
            info!(peer, "peer has state: the cluster exists, not initialising");
            return Ok(());
        }
        members.insert(peer, peer_node);
    }
    info!(?members, "initialising the cluster");
    match raft.initialize(members).await {
        Ok(()) => Ok(()),
        Err(e) if has_state(raft) => {
            info!("cluster already initialised: {e}");
            Ok(())
        }
        Err(e) => Err(e).context("initialising the cluster"),
    }
}

/// Asks the master at cluster address `addr` for its id, member record, and whether it has
/// Raft state.
pub async fn node_info(addr: &str, tls: &ClusterTls) -> anyhow::Result<(u64, MasterNode, bool)> {
    let mut c = client(addr, tls)?;
    let mut req = tonic::Request::new(pb::NodeInfoRequest {});
    req.set_timeout(Duration::from_secs(1));
    let reply = c.node_info(req).await?.into_inner();
    Ok((
        reply.id,
        serde_json::from_slice(&reply.node)?,
        reply.has_state,
    ))
}

/// Asks the cluster reachable at `addr` to add this member, following the leader's address,
/// until it is a voter. A refusal because the cluster removed this member is reported to
/// `removed` (the master then stops) and ends the attempts.
pub async fn join(
    raft: &Raft,
    id: u64,
    node: &MasterNode,
    addr: &str,
    tls: &ClusterTls,
    removed: &crate::raft::network::RemovalReporter,
) -> anyhow::Result<()> {
    let is_voter = || {
        raft.metrics()
            .borrow_watched()
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == id)
    };
    let mut target = addr.to_string();
    loop {
        if is_voter() {
            return Ok(());
        }
        let attempt = async {
            let mut c = client(&target, tls)?;
            let reply = c
                .join(pb::JoinRequest {
                    id,
                    node: serde_json::to_vec(node)?,
                })
                .await?
                .into_inner();
            anyhow::Ok(reply)
        }
        .await;
        match attempt {
            Ok(r) if r.ok => {
                info!("joined the cluster");
                return Ok(());
            }
            Ok(r) if !r.leader_cluster_addr.is_empty() => target = r.leader_cluster_addr,
            Ok(r) if r.error.starts_with(crate::raft::service::REMOVED_MEMBER) => {
                removed.report(&r.error);
                bail!("join refused: {}", r.error)
            }
            Ok(r) => warn!(target, "join refused: {}", r.error),
            Err(e) => {
                warn!(target, "join failed: {e}");
                target = addr.to_string();
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}
