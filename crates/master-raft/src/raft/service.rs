//! The receiving side of Raft traffic, plus the member-information and join RPCs.

use openraft::async_runtime::WatchReceiver;
use std::collections::BTreeSet;

use std::pin::Pin;

use futures::{Stream, StreamExt};
use openraft::ChangeMembers;
use openraft::raft::AppendEntriesRequest;
use openraft::storage::Snapshot;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::{Request, Response, Status, Streaming};
use tracing::{info, warn};

use crate::raft::pb;
use crate::raft::pb::raft_service_server::RaftService;
use crate::raft::types::{MasterNode, Raft, TypeConfig};

/// Serves the cluster port's Raft service for one master.
pub struct RaftRpc {
    raft: Raft,
    id: u64,
    node: MasterNode,
}

impl RaftRpc {
    /// A service for the member `id` described by `node`.
    pub fn new(raft: Raft, id: u64, node: MasterNode) -> Self {
        Self { raft, id, node }
    }
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

/// Whether member `id` is the leader as far as this member knows (every API request asks).
pub fn is_leader(raft: &Raft, id: u64) -> bool {
    raft.metrics().borrow_watched().current_leader == Some(id)
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
        // A request that cannot be read ends the input: openraft answers what came before it,
        // and the leader opens a new stream from the last acknowledged entry.
        let requests = tokio_stream::StreamExt::map_while(request.into_inner(), |message| {
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
        let req = decode(&request.into_inner().payload, "append-entries request")?;
        let resp = self.raft.append_entries(req).await.map_err(unavailable)?;
        Ok(Response::new(pb::RaftReply {
            payload: encode(&resp)?,
        }))
    }

    async fn vote(
        &self,
        request: Request<pb::RaftRequest>,
    ) -> Result<Response<pb::RaftReply>, Status> {
        let req = decode(&request.into_inner().payload, "vote request")?;
        let resp = self.raft.vote(req).await.map_err(unavailable)?;
        Ok(Response::new(pb::RaftReply {
            payload: encode(&resp)?,
        }))
    }

    async fn install_snapshot(
        &self,
        request: Request<Streaming<pb::SnapshotChunk>>,
    ) -> Result<Response<pb::RaftReply>, Status> {
        let mut stream = request.into_inner();
        let first = stream
            .next()
            .await
            .ok_or_else(|| Status::invalid_argument("empty snapshot stream"))??;
        let vote = decode(&first.vote, "snapshot vote")?;
        let meta = decode(&first.meta, "snapshot meta")?;
        let mut data = first.data;
        let mut chunks = 1;
        while let Some(chunk) = stream.next().await {
            data.extend_from_slice(&chunk?.data);
            chunks += 1;
        }
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
