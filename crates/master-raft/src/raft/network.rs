//! The sending side of Raft traffic: one lazily connected HTTP/2 channel per peer, openraft
//! requests as JSON, log replication pipelined on one bidirectional stream per follower,
//! snapshots streamed in 1 MiB chunks.

use std::future::Future;
use std::time::Duration;

use futures::{Stream, StreamExt};
use openraft::base::{BoxFuture, BoxStream};
use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendResult, VoteRequest,
    VoteResponse,
};
use openraft::type_config::alias::{SnapshotOf, VoteOf};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::transport::{Channel, Endpoint};

use crate::raft::pb;
use crate::raft::pb::raft_service_client::RaftServiceClient;
use crate::raft::types::{MasterNode, TypeConfig};

/// Size of one snapshot chunk.
const SNAPSHOT_CHUNK: usize = 1 << 20;
/// Largest gRPC message accepted (a batch of log entries).
pub const MAX_MESSAGE: usize = 64 << 20;

/// Creates channels to peers.
#[derive(Clone, Default)]
pub struct Network;

/// Opens a lazily connected channel to a cluster address (`host:port`).
pub fn channel(cluster_addr: &str) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(format!("http://{cluster_addr}"))?
        .connect_timeout(Duration::from_millis(500))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(5))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true)
        .connect_lazy())
}

/// A client for the Raft service of one address.
pub fn client(cluster_addr: &str) -> Result<RaftServiceClient<Channel>, tonic::transport::Error> {
    Ok(RaftServiceClient::new(channel(cluster_addr)?)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE))
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &MasterNode) -> PeerClient {
        PeerClient {
            target,
            client: client(&node.cluster_addr).map_err(|e| e.to_string()),
        }
    }
}

/// The connection to one peer.
pub struct PeerClient {
    target: u64,
    /// The client, or why the peer's address is unusable.
    client: Result<RaftServiceClient<Channel>, String>,
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // openraft's request types always serialize.
    serde_json::to_vec(value).expect("openraft request serializes")
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, NetworkError<TypeConfig>> {
    serde_json::from_slice(bytes).map_err(|e| NetworkError::new(&e))
}

fn status_to_rpc(status: tonic::Status) -> RPCError<TypeConfig> {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
            RPCError::Unreachable(Unreachable::new(&status))
        }
        _ => RPCError::Network(NetworkError::new(&status)),
    }
}

impl PeerClient {
    fn client(&self) -> Result<RaftServiceClient<Channel>, RPCError<TypeConfig>> {
        self.client.clone().map_err(|e| {
            RPCError::Unreachable(Unreachable::new(&std::io::Error::other(format!(
                "bad address of member {}: {e}",
                self.target
            ))))
        })
    }
}

fn with_deadline<T>(msg: T, option: &RPCOption) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.set_timeout(option.hard_ttl());
    req
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = Vec<u8>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let req = with_deadline(
            pb::RaftRequest {
                payload: encode(&rpc),
            },
            &option,
        );
        let reply = self
            .client()?
            .append_entries(req)
            .await
            .map_err(status_to_rpc)?;
        Ok(decode(&reply.into_inner().payload)?)
    }

    /// Replication without stop-and-wait: openraft pushes a request as soon as entries are
    /// submitted to the leader's log, and the follower answers each in order once its entries
    /// are durable, so several requests are in flight and the follower syncs them together.
    /// A broken stream (follower gone, HTTP/2 keep-alive timeout) ends the session with an
    /// `Unreachable` error; openraft then backs off and opens a new one.
    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        _option: RPCOption,
    ) -> BoxFuture<
        's,
        Result<
            BoxStream<'s, Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>>,
            RPCError<TypeConfig>,
        >,
    >
    where
        S: Stream<Item = AppendEntriesRequest<TypeConfig>> + Send + Unpin + 'static,
    {
        Box::pin(async move {
            let mut client = self.client()?;
            let requests = input.map(|rpc| pb::RaftRequest {
                payload: encode(&rpc),
            });
            // No deadline: the stream lives as long as this leader replicates to the peer.
            let replies = client
                .stream_append(tonic::Request::new(requests))
                .await
                .map_err(status_to_rpc)?
                .into_inner();
            let results = replies.map(|reply| match reply {
                Ok(reply) => Ok(decode::<StreamAppendResult<TypeConfig>>(&reply.payload)?),
                Err(status) => Err(status_to_rpc(status)),
            });
            Ok(Box::pin(results) as BoxStream<'s, _>)
        })
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let req = with_deadline(
            pb::RaftRequest {
                payload: encode(&rpc),
            },
            &option,
        );
        let reply = self.client()?.vote(req).await.map_err(status_to_rpc)?;
        Ok(decode(&reply.into_inner().payload)?)
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, Vec<u8>>,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let mut client = self.client().map_err(|e| match e {
            RPCError::Unreachable(u) => StreamingError::Unreachable(u),
            other => StreamingError::Network(NetworkError::new(&other)),
        })?;
        let first = pb::SnapshotChunk {
            vote: encode(&vote),
            meta: encode(&snapshot.meta),
            data: Vec::new(),
        };
        let data = snapshot.snapshot;
        let chunks: Vec<pb::SnapshotChunk> = std::iter::once(first)
            .chain(data.chunks(SNAPSHOT_CHUNK).map(|c| pb::SnapshotChunk {
                vote: Vec::new(),
                meta: Vec::new(),
                data: c.to_vec(),
            }))
            .collect();
        let mut req = tonic::Request::new(tokio_stream::iter(chunks));
        // A snapshot may be large: allow a generous time per chunk.
        let n = (data.len() / SNAPSHOT_CHUNK + 1) as u32;
        req.set_timeout(option.hard_ttl().max(Duration::from_secs(5)) * n);
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            reply = client.install_snapshot(req) => {
                let reply = reply.map_err(|s| match status_to_rpc(s) {
                    RPCError::Unreachable(u) => StreamingError::Unreachable(u),
                    other => StreamingError::Network(NetworkError::new(&other)),
                })?;
                decode(&reply.into_inner().payload).map_err(StreamingError::Network)
            }
        }
    }
}
