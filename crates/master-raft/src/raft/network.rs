//! The sending side of Raft traffic: one lazily connected HTTP/2 channel per peer, openraft
//! requests as JSON, log replication pipelined on one bidirectional stream per follower,
//! snapshots streamed in 1 MiB chunks.
//!
//! A peer that cannot be reached costs little: every failure to reach it is an openraft
//! `Unreachable` error, after which openraft waits out [`ReplicationBackoff`] (capped,
//! jittered, exponential) before the next replication attempt; and [`Reachability`] logs one
//! line when a peer is lost, one per [`UNREACHABLE_REPORT_INTERVAL`] while it stays lost
//! (with the number of failed attempts), and one when it answers again.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use openraft::base::{BoxFuture, BoxStream};
use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{Backoff, RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendResult, VoteRequest,
    VoteResponse,
};
use openraft::type_config::alias::{SnapshotOf, VoteOf};
use rand::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::transport::Channel;

use crate::raft::pb;
use crate::raft::pb::raft_service_client::RaftServiceClient;
use crate::raft::service::REMOVED_MEMBER;
use crate::raft::tls::ClusterTls;
use crate::raft::types::{MasterNode, TypeConfig};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

/// Size of one snapshot chunk.
const SNAPSHOT_CHUNK: usize = 1 << 20;
/// Largest gRPC message accepted (a batch of log entries).
pub const MAX_MESSAGE: usize = 64 << 20;

/// First wait before retrying replication to a peer that could not be reached.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
/// Longest wait between replication attempts to an unreachable peer; also bounds how long
/// a peer that comes back waits for its log (heartbeats reach it sooner).
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How often a peer that stays unreachable is reported again.
pub const UNREACHABLE_REPORT_INTERVAL: Duration = Duration::from_secs(30);

/// Creates channels to peers; its clients share what is known of each peer's reachability.
#[derive(Clone)]
pub struct Network {
    /// Outages of peers, shared by every client (replication, heartbeats, votes).
    reachability: Arc<Reachability>,
    /// Plain or mutual TLS.
    tls: ClusterTls,
    /// Set when a peer refused this member because the cluster removed it.
    removed: RemovalReporter,
    /// Bytes of each append-entries request sent (the replication traffic).
    append_bytes: Histogram,
}

/// Where a refusal because the cluster removed this member is reported (by the Raft client,
/// and by a refused `Join`); the first report is kept.
#[derive(Clone)]
pub struct RemovalReporter(Arc<tokio::sync::watch::Sender<Option<String>>>);

impl RemovalReporter {
    /// Reports `why` (a refusal starting with [`REMOVED_MEMBER`]) unless a report came first.
    pub fn report(&self, why: &str) {
        self.0.send_if_modified(|removed| {
            let first = removed.is_none();
            if first {
                *removed = Some(why.to_string());
            }
            first
        });
    }
}

/// The buckets of [`Network::append_bytes`]: 64 bytes to 64 MiB.
fn append_bytes_histogram() -> Histogram {
    Histogram::new(exponential_buckets(64.0, 4.0, 11))
}

impl Network {
    /// A network whose connections use `tls`.
    pub fn new(tls: ClusterTls) -> Self {
        Network {
            reachability: Arc::default(),
            tls,
            removed: RemovalReporter(Arc::new(tokio::sync::watch::Sender::new(None))),
            append_bytes: append_bytes_histogram(),
        }
    }

    /// The sizes of the append-entries requests this member sends (for `/metrics`).
    pub fn append_bytes(&self) -> Histogram {
        self.append_bytes.clone()
    }

    /// Gets the reason once a peer refused this member because the cluster removed it
    /// (`helios masters remove`): it may not take part any more.
    pub fn removal(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.removed.0.subscribe()
    }

    /// Where else such a refusal is reported (a refused `Join`).
    pub fn removal_reporter(&self) -> RemovalReporter {
        self.removed.clone()
    }
}

/// Opens a lazily connected channel to a cluster address (`host:port`).
pub fn channel(cluster_addr: &str, tls: &ClusterTls) -> anyhow::Result<Channel> {
    Ok(tls
        .endpoint(cluster_addr)?
        .connect_timeout(Duration::from_millis(500))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(5))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true)
        .connect_lazy())
}

/// A client for the Raft service of one address.
pub fn client(cluster_addr: &str, tls: &ClusterTls) -> anyhow::Result<RaftServiceClient<Channel>> {
    Ok(RaftServiceClient::new(channel(cluster_addr, tls)?)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE))
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &MasterNode) -> PeerClient {
        PeerClient {
            target,
            addr: node.cluster_addr.clone(),
            client: client(&node.cluster_addr, &self.tls).map_err(|e| format!("{e:#}")),
            tls: self.tls.clone(),
            reachability: self.reachability.clone(),
            removed: self.removed.clone(),
            append_bytes: self.append_bytes.clone(),
        }
    }
}

/// The connection to one peer.
pub struct PeerClient {
    /// The peer's member id.
    target: u64,
    /// The peer's cluster address, for log lines.
    addr: String,
    /// The client, or why the peer's address is unusable.
    client: Result<RaftServiceClient<Channel>, String>,
    /// This member's TLS material: a new certificate (renewed, or a first master's) makes a
    /// new channel, since a channel reconnects with the certificate it was made with.
    tls: ClusterTls,
    /// Where failures and successes to reach the peer are recorded and reported.
    reachability: Arc<Reachability>,
    /// Where a refusal because this member was removed is reported.
    removed: RemovalReporter,
    /// Where the size of each append-entries request is recorded.
    append_bytes: Histogram,
}

/// A capped, jittered exponential sequence of waits: the n-th is uniformly drawn between half
/// and all of `min(BACKOFF_FIRST * 2^n, BACKOFF_MAX)`, so replication tasks of several
/// leaders or peers do not retry in step.
#[derive(Debug, Clone)]
pub struct ReplicationBackoff {
    /// The ceiling of the next wait before jitter.
    ceiling: Duration,
}

impl Default for ReplicationBackoff {
    fn default() -> Self {
        ReplicationBackoff {
            ceiling: BACKOFF_FIRST,
        }
    }
}

impl Iterator for ReplicationBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let ceiling = self.ceiling;
        self.ceiling = (ceiling * 2).min(BACKOFF_MAX);
        Some(ceiling.mul_f64(rand::rng().random_range(0.5..=1.0)))
    }
}

/// A change in a peer's reachability worth a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ReachabilityReport {
    /// The peer was reachable and is not.
    Lost,
    /// The peer is still unreachable.
    StillDown {
        /// Since the first failure of this outage.
        down_for: Duration,
        /// Failures since the last report.
        failed_attempts: u64,
    },
    /// The peer answers again.
    Back {
        /// How long the outage lasted.
        down_for: Duration,
        /// Failures in the whole outage.
        failed_attempts: u64,
    },
}

/// One peer's current outage.
#[derive(Debug)]
struct Outage {
    /// The first failure.
    since: Instant,
    /// The last report (the first failure, or the last "still down").
    reported: Instant,
    /// Failures since the last report.
    since_report: u64,
    /// Failures in the whole outage.
    total: u64,
}

/// Which peers cannot be reached, since when and how often that was tried; decides which
/// failures and successes deserve a log line.
#[derive(Debug, Default)]
pub struct Reachability {
    /// Outages by member id; a reachable peer has none.
    outages: Mutex<HashMap<u64, Outage>>,
}

impl Reachability {
    fn outages(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Outage>> {
        self.outages.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a failure to reach `target` at `now`.
    fn failed(&self, target: u64, now: Instant) -> Option<ReachabilityReport> {
        let mut outages = self.outages();
        let Some(outage) = outages.get_mut(&target) else {
            outages.insert(
                target,
                Outage {
                    since: now,
                    reported: now,
                    since_report: 0,
                    total: 1,
                },
            );
            return Some(ReachabilityReport::Lost);
        };
        outage.total += 1;
        outage.since_report += 1;
        if now.saturating_duration_since(outage.reported) < UNREACHABLE_REPORT_INTERVAL {
            return None;
        }
        outage.reported = now;
        Some(ReachabilityReport::StillDown {
            down_for: now.saturating_duration_since(outage.since),
            failed_attempts: std::mem::take(&mut outage.since_report),
        })
    }

    /// Records that `target` answered at `now`.
    fn reached(&self, target: u64, now: Instant) -> Option<ReachabilityReport> {
        let outage = self.outages().remove(&target)?;
        Some(ReachabilityReport::Back {
            down_for: now.saturating_duration_since(outage.since),
            failed_attempts: outage.total,
        })
    }
}

/// A tonic status and its causes on one line, without the repetitions tonic's own
/// `Display` carries.
fn describe(status: &tonic::Status) -> String {
    helios_api::error_text::with_causes(
        status.message().to_string(),
        std::error::Error::source(status),
    )
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
    fn client(&mut self) -> Result<RaftServiceClient<Channel>, RPCError<TypeConfig>> {
        if self.tls.take_change() {
            self.client = client(&self.addr, &self.tls).map_err(|e| format!("{e:#}"));
        }
        self.client.clone().map_err(|e| {
            let error = format!("bad address of member {}: {e}", self.target);
            self.report(
                self.reachability.failed(self.target, Instant::now()),
                &error,
            );
            RPCError::Unreachable(Unreachable::new(&std::io::Error::other(error)))
        })
    }

    /// Records the outcome of one call to the peer, logs what changed, and converts a failure
    /// into openraft's error (`Unreachable` when the peer could not be reached, which makes
    /// openraft back off).
    fn observe<T>(&self, result: Result<T, tonic::Status>) -> Result<T, RPCError<TypeConfig>> {
        match result {
            Ok(value) => {
                self.report(self.reachability.reached(self.target, Instant::now()), "");
                Ok(value)
            }
            Err(status) => {
                let description = describe(&status);
                if status.code() == tonic::Code::PermissionDenied
                    && status.message().starts_with(REMOVED_MEMBER)
                {
                    self.removed.report(status.message());
                }
                let error = status_to_rpc(status);
                if let RPCError::Unreachable(_) = &error {
                    let report = self.reachability.failed(self.target, Instant::now());
                    self.report(report, &description);
                }
                Err(error)
            }
        }
    }

    /// Writes the log line of a reachability change; `error` is the latest failure.
    fn report(&self, report: Option<ReachabilityReport>, error: &str) {
        let (member, addr) = (self.target, self.addr.as_str());
        match report {
            None => {}
            Some(ReachabilityReport::Lost) => {
                tracing::warn!(
                    member,
                    addr,
                    error,
                    "cannot reach member; retrying with backoff"
                );
            }
            Some(ReachabilityReport::StillDown {
                down_for,
                failed_attempts,
            }) => {
                tracing::warn!(
                    member,
                    addr,
                    down_for_secs = down_for.as_secs(),
                    failed_attempts,
                    error,
                    "member still unreachable"
                );
            }
            Some(ReachabilityReport::Back {
                down_for,
                failed_attempts,
            }) => {
                tracing::info!(
                    member,
                    addr,
                    down_for_secs = down_for.as_secs(),
                    failed_attempts,
                    "member reachable again"
                );
            }
        }
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
        let payload = encode(&rpc);
        self.append_bytes.observe(payload.len() as f64);
        let req = with_deadline(pb::RaftRequest { payload }, &option);
        let mut client = self.client()?;
        let reply = self.observe(client.append_entries(req).await)?;
        Ok(decode(&reply.into_inner().payload)?)
    }

    /// Replication without stop-and-wait: openraft pushes a request as soon as entries are
    /// submitted to the leader's log, and the follower answers each in order once its entries
    /// are durable, so several requests are in flight and the follower syncs them together.
    /// A broken stream (follower gone, HTTP/2 keep-alive timeout) ends the session with an
    /// `Unreachable` error; openraft then backs off and opens a new one.
    ///
    /// openraft waits out its backoff inside the request stream, before yielding a request,
    /// so the first request is taken before connecting: a peer that refuses connections would
    /// otherwise fail the call before the stream is ever polled, and replication would retry
    /// at once, thousands of times a second.
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
            let mut input = input;
            let Some(first) = input.next().await else {
                // Nothing to send (the leader stepped down or the payload was replaced).
                return Ok(Box::pin(futures::stream::empty()) as BoxStream<'s, _>);
            };
            let mut client = self.client()?;
            let sizes = self.append_bytes.clone();
            let requests = futures::stream::once(std::future::ready(first))
                .chain(input)
                .map(move |rpc| {
                    let payload = encode(&rpc);
                    sizes.observe(payload.len() as f64);
                    pb::RaftRequest { payload }
                });
            // No deadline: the stream lives as long as this leader replicates to the peer.
            let replies = self
                .observe(client.stream_append(tonic::Request::new(requests)).await)?
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
        let mut client = self.client()?;
        let reply = self.observe(client.vote(req).await)?;
        Ok(decode(&reply.into_inner().payload)?)
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let vote = rpc.vote;
        let req = with_deadline(
            pb::RaftRequest {
                payload: encode(&rpc),
            },
            &option,
        );
        match self.client()?.pre_vote(req).await {
            // A peer of a version without Pre-Vote: count it as granting, as openraft does for
            // a network without it, so that a cluster being upgraded can still elect.
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                Ok(VoteResponse::new(vote, None, true))
            }
            reply => Ok(decode(&self.observe(reply)?.into_inner().payload)?),
        }
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
                let reply = self.observe(reply).map_err(|e| match e {
                    RPCError::Unreachable(u) => StreamingError::Unreachable(u),
                    other => StreamingError::Network(NetworkError::new(&other)),
                })?;
                decode(&reply.into_inner().payload).map_err(StreamingError::Network)
            }
        }
    }

    /// Waits growing, jittered delays between attempts to reach a peer that could not be
    /// reached, instead of openraft's default (200 ms doubling to 1 s, in step everywhere).
    fn backoff(&self) -> Option<Backoff> {
        Some(Backoff::new(ReplicationBackoff::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_backoff_grows_to_its_cap_with_jitter() {
        let delays: Vec<Duration> = ReplicationBackoff::default().take(20).collect();
        let mut ceiling = BACKOFF_FIRST;
        for delay in &delays {
            assert!(
                *delay >= ceiling / 2 && *delay <= ceiling,
                "{delay:?} not within half of {ceiling:?}"
            );
            ceiling = (ceiling * 2).min(BACKOFF_MAX);
        }
        assert!(delays[10..].iter().all(|d| *d >= BACKOFF_MAX / 2));
        // Jitter: the capped delays are not all the same.
        assert!(delays[10..].iter().any(|d| *d != delays[10]));
    }

    #[test]
    fn a_lost_peer_is_reported_once_per_interval_and_when_back() {
        let book = Reachability::default();
        let t0 = Instant::now();
        assert_eq!(book.reached(3, t0), None, "a reachable peer is not news");
        assert_eq!(book.failed(3, t0), Some(ReachabilityReport::Lost));
        for i in 1..=500 {
            assert_eq!(book.failed(3, t0 + Duration::from_millis(i * 10)), None);
        }
        assert_eq!(
            book.failed(2, t0),
            Some(ReachabilityReport::Lost),
            "per peer"
        );
        let later = t0 + UNREACHABLE_REPORT_INTERVAL + Duration::from_secs(1);
        assert_eq!(
            book.failed(3, later),
            Some(ReachabilityReport::StillDown {
                down_for: UNREACHABLE_REPORT_INTERVAL + Duration::from_secs(1),
                failed_attempts: 501,
            })
        );
        assert_eq!(book.failed(3, later + Duration::from_secs(1)), None);
        assert_eq!(
            book.reached(3, later + Duration::from_secs(2)),
            Some(ReachabilityReport::Back {
                down_for: UNREACHABLE_REPORT_INTERVAL + Duration::from_secs(3),
                failed_attempts: 503,
            })
        );
        assert_eq!(book.reached(3, later + Duration::from_secs(3)), None);
        assert_eq!(book.failed(3, later), Some(ReachabilityReport::Lost));
    }
}
