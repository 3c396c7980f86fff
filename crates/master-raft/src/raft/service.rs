//! The receiving side of Raft traffic, plus the member-information and join RPCs.
//!
//! A Raft call from a master the cluster removed (`helios masters remove`) is refused with
//! `PERMISSION_DENIED` and the reason, which makes that master stop (see
//! [`crate::raft::network`]), and so is its `Join`; with security on, a call whose
//! certificate names another member than the id it speaks for is refused too.
//!
//! A snapshot from the leader arrives in chunks and is held in memory whole before openraft
//! installs it; one larger than the member's limit ([`DEFAULT_MAX_SNAPSHOT_BYTES`] unless set
//! with [`RaftRpc::with_max_snapshot_bytes`]) is refused with `RESOURCE_EXHAUSTED`.

use openraft::async_runtime::WatchReceiver;
use std::collections::BTreeSet;

use std::pin::Pin;

use futures::{Stream, StreamExt};
use openraft::ChangeMembers;
use openraft::raft::{AppendEntriesRequest, VoteRequest};
use openraft::storage::Snapshot;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::{Request, Response, Status, Streaming};
use tracing::{debug, info, warn};

use crate::raft::pb;
use crate::raft::pb::raft_service_server::RaftService;
use crate::raft::types::{MasterNode, Raft, TypeConfig};
use crate::state::State;

/// The member state this service reads: the masters removed from the cluster.
pub type SharedState = helios_store::SharedState<TypeConfig, State>;

/// The start of the message of a refusal to a removed master, which it recognises.
pub const REMOVED_MEMBER: &str = "removed from the cluster:";

/// The largest snapshot a member accepts by default: 1 GiB of (LZ4-compressed) snapshot data.
///
/// Why 1 GiB: the received bytes are held in memory whole, and installing them holds the
/// decompressed encoding and the decoded state besides, so a snapshot this size already means
/// several GiB on top of the member's own copy of the state, which every master keeps in
/// memory; a real cluster's state is far smaller. Without a bound, a faulty or hostile peer
/// on the cluster port could stream chunks until the member runs out of memory.
pub const DEFAULT_MAX_SNAPSHOT_BYTES: u64 = 1 << 30;

/// Serves the cluster port's Raft service for one master.
pub struct RaftRpc {
    raft: Raft,
    id: u64,
    node: MasterNode,
    /// This member's applied state, for the removed masters.
    state: SharedState,
    /// Snapshots with more data than this are refused.
    max_snapshot_bytes: u64,
}

impl RaftRpc {
    /// A service for the member `id` described by `node`, accepting snapshots up to
    /// [`DEFAULT_MAX_SNAPSHOT_BYTES`].
    pub fn new(raft: Raft, id: u64, node: MasterNode, state: SharedState) -> Self {
        Self {
            raft,
            id,
            node,
            state,
            max_snapshot_bytes: DEFAULT_MAX_SNAPSHOT_BYTES,
        }
    }

    /// Accepts snapshots of up to `bytes` bytes of data instead of the default.
    pub fn with_max_snapshot_bytes(mut self, bytes: u64) -> Self {
        self.max_snapshot_bytes = bytes;
        self
    }

    /// Refuses a Raft call that speaks for member `sender` when the cluster removed it
    /// (`PERMISSION_DENIED` starting with [`REMOVED_MEMBER`], which makes the sender stop),
    /// or, with a client certificate of name `certified`, when the certificate belongs to
    /// another member than `sender` (a plain `PERMISSION_DENIED`).
    fn admit(&self, sender: u64, certified: Option<&str>) -> Result<(), Status> {
        let owner = {
            let metrics = self.raft.metrics();
            let m = metrics.borrow_watched();
            m.membership_config
                .membership()
                .get_node(&sender)
                .map(|n| n.name.clone())
        };
        match (owner, certified) {
            (Some(owner), Some(name)) if owner != name => {
                let why = format!(
                    "a certificate of master {name} may not speak for member {sender} ({owner})"
                );
                warn!(sender, "refusing a Raft call: {why}");
                Err(Status::permission_denied(why))
            }
            // A member as far as this one knows (the state's lock is not needed).
            (Some(_), _) => Ok(()),
            (None, _) => {
                let Ok(view) = self.state.read() else {
                    return Err(Status::unavailable("the applied state's lock is poisoned"));
                };
                match view.state.removal_of(sender) {
                    None => Ok(()),
                    Some(why) => {
                        debug!(sender, "refusing a Raft call: {why}");
                        Err(Status::permission_denied(format!("{REMOVED_MEMBER} {why}")))
                    }
                }
            }
        }
    }
}

/// The name in the caller's client certificate, when it showed one (security on).
fn certified_name<T>(request: &Request<T>) -> Option<String> {
    let certs = request.peer_certs()?;
    let leaf = certs.first()?;
    helios_pki::Identity::of(leaf.as_ref()).ok().map(|i| i.name)
}

/// The member a request's vote speaks for: the candidate of a vote, the leader of an append.
fn speaker(vote: &openraft::alias::VoteOf<TypeConfig>) -> u64 {
    use openraft::vote::RaftLeaderId;
    *vote.leader_id().node_id()
}

/// A snapshot as the leader streamed it.
#[derive(Debug)]
struct ReceivedSnapshot {
    /// The first chunk's vote and meta, still encoded.
    vote: Vec<u8>,
    meta: Vec<u8>,
    /// Every chunk's data, in order.
    data: Vec<u8>,
    chunks: usize,
}

/// Reads a snapshot stream whole; refuses it, without reading on, as soon as its data would
/// exceed `max` bytes.
async fn receive_snapshot<S>(mut stream: S, max: u64) -> Result<ReceivedSnapshot, Status>
where
    S: Stream<Item = Result<pb::SnapshotChunk, Status>> + Unpin,
{
    let first = stream
        .next()
        .await
        .ok_or_else(|| Status::invalid_argument("empty snapshot stream"))??;
    let mut received = ReceivedSnapshot {
        vote: first.vote,
        meta: first.meta,
        data: Vec::new(),
        chunks: 0,
    };
    let mut next = Some(first.data);
    while let Some(data) = next {
        received.chunks += 1;
        let size = received.data.len() as u64 + data.len() as u64;
        if size > max {
            warn!(
                bytes = size,
                max,
                chunks = received.chunks,
                "snapshot from the leader refused: too large"
            );
            return Err(Status::resource_exhausted(format!(
                "snapshot refused: {size} bytes by chunk {} exceed this member's limit of {max} bytes",
                received.chunks
            )));
        }
        if received.data.is_empty() {
            received.data = data;
        } else {
            received.data.extend_from_slice(&data);
        }
        next = match stream.next().await {
            Some(chunk) => Some(chunk?.data),
            None => None,
        };
    }
    Ok(received)
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Status> {
    serde_json::from_slice(bytes)
        .map_err(|e| Status::invalid_argument(format!("undecodable {what}: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Status> {
    serde_json::to_vec(value).map_err(|e| Status::internal(e.to_string()))
}

fn unavailable(e: impl std::fmt::Display) -> Status {
    Status::unavailable(e.to_string())
}

// These read the metrics in place: the guard is dropped before returning (never held across
// an await), and nothing but what is asked for is copied.

/// Whether a member holds any Raft state (a vote or a log entry).
pub fn has_state(raft: &Raft) -> bool {
    let metrics = raft.metrics();
    let m = metrics.borrow_watched();
    m.current_term > 0 || m.last_log_index.is_some()
}

/// The leader's node record, if a leader is known.
pub fn leader_node(raft: &Raft) -> Option<(u64, MasterNode)> {
    let metrics = raft.metrics();
    let m = metrics.borrow_watched();
    let leader = m.current_leader?;
    let node = m.membership_config.membership().get_node(&leader)?.clone();
    Some((leader, node))
}

/// The answers of [`RaftService::stream_append`], in request order.
pub type StreamAppendReplies = Pin<Box<dyn Stream<Item = Result<pb::RaftReply, Status>> + Send>>;

#[tonic::async_trait]
impl RaftService for RaftRpc {
    type StreamAppendStream = StreamAppendReplies;

    async fn stream_append(
        &self,
        request: Request<Streaming<pb::RaftRequest>>,
    ) -> Result<Response<Self::StreamAppendStream>, Status> {
        let certified = certified_name(&request);
        let mut stream = request.into_inner();
        // The first request tells who the leader is; the stream is refused from a removed one.
        let first = match stream.message().await? {
            Some(m) => {
                decode::<AppendEntriesRequest<TypeConfig>>(&m.payload, "append-entries request")?
            }
            None => return Err(Status::invalid_argument("an empty replication stream")),
        };
        self.admit(speaker(&first.vote), certified.as_deref())?;
        // A request that cannot be read ends the input: openraft answers what came before it,
        // and the leader opens a new stream from the last acknowledged entry.
        let rest = tokio_stream::StreamExt::map_while(stream, |message| {
            let decoded = message.and_then(|m| {
                decode::<AppendEntriesRequest<TypeConfig>>(&m.payload, "append-entries request")
            });
            match decoded {
                Ok(request) => Some(request),
                Err(status) => {
                    warn!(
                        error = status.message(),
                        "replication stream from the leader ended"
                    );
                    None
                }
            }
        });
        let requests = futures::stream::once(std::future::ready(first)).chain(rest);
        let replies = self
            .raft
            .stream_append(requests)
            .map(|result| match result {
                Ok(answer) => Ok(pb::RaftReply {
                    payload: encode(&answer)?,
                }),
                Err(fatal) => Err(unavailable(fatal)),
            });
        Ok(Response::new(Box::pin(replies)))
    }

    async fn append_entries(
        &self,
        request: Request<pb::RaftRequest>,
    ) -> Result<Response<pb::RaftReply>, Status> {
        let certified = certified_name(&request);
        let req: AppendEntriesRequest<TypeConfig> =
            decode(&request.into_inner().payload, "append-entries request")?;
        self.admit(speaker(&req.vote), certified.as_deref())?;
        let resp = self.raft.append_entries(req).await.map_err(unavailable)?;
        Ok(Response::new(pb::RaftReply {
            payload: encode(&resp)?,
        }))
    }

    async fn vote(
        &self,
        request: Request<pb::RaftRequest>,
    ) -> Result<Response<pb::RaftReply>, Status> {
        let certified = certified_name(&request);
        let req: VoteRequest<TypeConfig> = decode(&request.into_inner().payload, "vote request")?;
        self.admit(speaker(&req.vote), certified.as_deref())?;
        let resp = self.raft.vote(req).await.map_err(unavailable)?;
        Ok(Response::new(pb::RaftReply {
            payload: encode(&resp)?,
        }))
    }

    async fn pre_vote(
        &self,
        request: Request<pb::RaftRequest>,
    ) -> Result<Response<pb::RaftReply>, Status> {
        let certified = certified_name(&request);
        let req: VoteRequest<TypeConfig> =
            decode(&request.into_inner().payload, "pre-vote request")?;
        self.admit(speaker(&req.vote), certified.as_deref())?;
        let resp = self.raft.pre_vote(req).await.map_err(unavailable)?;
        Ok(Response::new(pb::RaftReply {
            payload: encode(&resp)?,
        }))
    }

    async fn install_snapshot(
        &self,
        request: Request<Streaming<pb::SnapshotChunk>>,
    ) -> Result<Response<pb::RaftReply>, Status> {
        let ReceivedSnapshot {
            vote,
            meta,
            data,
            chunks,
        } = receive_snapshot(request.into_inner(), self.max_snapshot_bytes).await?;
        let vote = decode(&vote, "snapshot vote")?;
        let meta = decode(&meta, "snapshot meta")?;
        info!(
            bytes = data.len(),
            chunks, "installing snapshot from the leader"
        );
        let resp = self
            .raft
            .install_full_snapshot(
                vote,
                Snapshot {
                    meta,
                    snapshot: data,
                },
            )
            .await
            .map_err(unavailable)?;
        Ok(Response::new(pb::RaftReply {
            payload: encode(&resp)?,
        }))
    }

    async fn node_info(
        &self,
        _request: Request<pb::NodeInfoRequest>,
    ) -> Result<Response<pb::NodeInfoReply>, Status> {
        Ok(Response::new(pb::NodeInfoReply {
            id: self.id,
            node: encode(&self.node)?,
            has_state: has_state(&self.raft),
        }))
    }

    async fn join(
        &self,
        request: Request<pb::JoinRequest>,
    ) -> Result<Response<pb::JoinReply>, Status> {
        let req = request.into_inner();
        let node: MasterNode = decode(&req.node, "node record")?;
        let metrics = self.raft.metrics().borrow_watched().clone();
        if metrics.current_leader != Some(self.id) {
            let leader = leader_node(&self.raft)
                .map(|(_, n)| n.cluster_addr)
                .unwrap_or_default();
            return Ok(Response::new(pb::JoinReply {
                ok: false,
                leader_cluster_addr: leader,
                error: "not the leader".into(),
            }));
        }
        if metrics
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == req.id)
        {
            return Ok(Response::new(pb::JoinReply {
                ok: true,
                ..Default::default()
            }));
        }
        let removed = self
            .state
            .read()
            .ok()
            .and_then(|view| view.state.removal_of(req.id));
        if let Some(why) = removed {
            warn!(id = req.id, %node, "refusing to add a removed master: {why}");
            return Ok(Response::new(pb::JoinReply {
                ok: false,
                leader_cluster_addr: String::new(),
                error: format!("{REMOVED_MEMBER} {why}"),
            }));
        }
        info!(id = req.id, %node, "adding member");
        let result = async {
            self.raft.add_learner(req.id, node, true).await?;
            self.raft
                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([req.id])), false)
                .await?;
            Ok::<_, openraft::error::RaftError<_, _>>(())
        }
        .await;
        Ok(Response::new(match result {
            Ok(()) => pb::JoinReply {
                ok: true,
                ..Default::default()
            },
            Err(e) => pb::JoinReply {
                ok: false,
                leader_cluster_addr: String::new(),
                error: e.to_string(),
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(first: bool, data: &[u8]) -> Result<pb::SnapshotChunk, Status> {
        Ok(pb::SnapshotChunk {
            vote: if first { b"vote".to_vec() } else { Vec::new() },
            meta: if first { b"meta".to_vec() } else { Vec::new() },
            data: data.to_vec(),
        })
    }

    #[tokio::test]
    async fn a_snapshot_up_to_the_limit_is_received_whole() {
        let stream = futures::stream::iter(vec![
            chunk(true, b"0123"),
            chunk(false, b"4567"),
            chunk(false, b"89"),
        ]);
        let got = receive_snapshot(stream, 10).await.unwrap();
        assert_eq!(got.vote, b"vote");
        assert_eq!(got.meta, b"meta");
        assert_eq!(got.data, b"0123456789");
        assert_eq!(got.chunks, 3);
    }

    #[tokio::test]
    async fn a_snapshot_over_the_limit_is_refused_naming_the_sizes() {
        // The chunk after the one that crosses the limit is never read.
        let stream = futures::stream::iter(vec![
            chunk(true, b"0123"),
            chunk(false, b"4567"),
            chunk(false, b"89a"),
            Err(Status::internal("read past the limit")),
        ]);
        let refused = receive_snapshot(stream, 10).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert_eq!(
            refused.message(),
            "snapshot refused: 11 bytes by chunk 3 exceed this member's limit of 10 bytes"
        );
        // The first chunk alone can be too large.
        let stream = futures::stream::iter(vec![chunk(true, &[0; 11])]);
        let refused = receive_snapshot(stream, 10).await.unwrap_err();
        assert_eq!(
            refused.message(),
            "snapshot refused: 11 bytes by chunk 1 exceed this member's limit of 10 bytes"
        );
        let empty = receive_snapshot(futures::stream::iter(Vec::new()), 10).await;
        assert_eq!(empty.unwrap_err().code(), tonic::Code::InvalidArgument);
    }
}
