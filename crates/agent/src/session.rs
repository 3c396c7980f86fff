//! The agent's session with the leading master: one bidirectional gRPC stream
//! (`proto/agent.proto`), reconnected for as long as the agent runs.
//!
//! The agent opens with Hello, then expects Welcome (the cluster id is checked: an agent that
//! knows another non-empty id refuses the session), Redirect (reconnect to the leader at
//! once) or Refused (log, retry later). In a session it applies Assignments through the
//! [`Worker`], asks for a resync on a gap, and sends heartbeats, host info every minute and
//! task-status changes as soon as there is no backlog (a few jobs per report, jobs taken in
//! turn from the [`StatusHub`](crate::reporter::StatusHub)). Masters are tried in turn with
//! capped, jittered backoff (200 ms → 5 s), which starts again from 200 ms only after a session
//! that lasted [`STABLE_SESSION`], so a master that welcomes and drops the agent at once is
//! not hammered. Each failure is one log line; identical ones (same master, same error) are
//! collapsed to one line per interval with a count by `helios-logging`. HTTP/2 keepalive
//! pings detect a dead connection. Nothing here touches containers: without a session the
//! worker keeps running them.
//!
//! With `--domain` the masters' addresses come from DNS SRV ([`MasterList`]): looked up
//! before each round over the masters and after a lost session, so a changed record is
//! picked up without a restart; a failed lookup keeps the last known addresses.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use helios_api::pb::dispatcher_client::DispatcherClient;
use helios_api::pb::{self, agent_message, master_message};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::task::AbortOnDropHandle;
use tonic::transport::Endpoint;

use crate::backoff::Backoff;
use crate::certificate::AgentCertificate;
use crate::config::MasterDiscovery;
use crate::reporter::{self, PendingUpdate};
use crate::worker::{ApplyOutcome, Worker};

/// Host info and agent info are re-sent this often.
pub const HOST_INFO_PERIOD: Duration = Duration::from_secs(60);
/// How long a master may take to accept the connection and answer Hello.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 keepalive ping period and ack timeout: a dead connection is noticed within both.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);
/// Outgoing messages buffered on the stream; beyond this statuses coalesce in the hub.
const OUTBOX: usize = 64;
/// Jobs whose changes one status report carries. A report of a few jobs is usually a few KB
/// (the statuses go without their jobs; a job with a backlog adds up to 30 changes), and the
/// leader's buffers for an agent's stream grow to the largest message it sent and keep that
/// size: many small reports keep the leader's memory per agent small where one report of
/// every job would not.
const JOBS_PER_REPORT: usize = 4;
/// Largest message accepted from a master (a COMPLETE set of a big host).
const MAX_MESSAGE: usize = 64 * 1024 * 1024;
/// Redirects followed in a row without pause (guards against redirect loops).
const MAX_REDIRECTS: u32 = 5;
/// A lost session that lasted this long reconnects after the shortest delay; a shorter one
/// keeps the backoff growing.
pub const STABLE_SESSION: Duration = Duration::from_secs(10);

/// The agent's identity and settings as the session needs them.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// `--name`.
    pub name: String,
    /// The agent id.
    pub agent_id: String,
    /// `--labels`.
    pub labels: BTreeMap<String, String>,
    /// `--env`.
    pub env: BTreeMap<String, String>,
    /// Masters' cluster addresses, tried in turn.
    pub masters: Vec<String>,
    /// Find the masters in DNS instead (when `masters` is empty).
    pub discovery: Option<MasterDiscovery>,
    /// Heartbeat period unless Welcome names one.
    pub heartbeat: Duration,
    /// The Docker endpoint, for HostInfo.
    pub docker_host: String,
    /// Command-line arguments, for AgentInfo.
    pub input_arguments: Vec<String>,
    /// When the agent started (for uptime).
    pub started: Instant,
    /// When the agent started, epoch ms.
    pub start_time_ms: i64,
    /// The join token of a secured cluster: the agent gets its certificate with it.
    pub join_token: Option<helios_pki::JoinToken>,
    /// Where the agent keeps its certificate (`<state-dir>/tls/`); `None` in memory.
    pub tls_dir: Option<std::path::PathBuf>,
}

/// How one connection attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// No connection or no answer to Hello.
    Unreachable(String),
    /// The master does not lead; the leader's cluster address (`""` if unknown).
    Redirect(String),
    /// The master refused the session.
    Refused(String),
    /// The master belongs to another cluster than the one this agent knows.
    ClusterMismatch {
        /// The id the agent knows.
        known: String,
        /// The id the master sent.
        offered: String,
    },
    /// A welcomed session ended (stream closed or broken).
    Lost(String),
    /// The agent is shutting down.
    Shutdown,
}

/// Runs sessions until `shutdown` resolves.
pub async fn run(cfg: SessionConfig, worker: Arc<Worker>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let certificate = AgentCertificate::load(cfg.tls_dir.clone());
    // The master of the current session, where the certificate is renewed.
    let (master_tx, master_rx) = watch::channel(None::<String>);
    let renewal = tokio::spawn(certificate.clone().renew_forever(master_rx));
    // The session loop's helper ends with it.
    let _stop_renewal = AbortOnDropHandle::new(renewal);
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    let mut masters = MasterList::new(cfg.masters.clone(), cfg.discovery.clone());
    let mut redirect: Option<String> = None;
    let mut redirects = 0u32;
    loop {
        let addr = match redirect.take() {
            Some(a) => Some(a),
            None => tokio::select! {
                a = masters.next() => a,
                _ = &mut shutdown => return,
            },
        };
        let Some(addr) = addr else {
            // No address known yet (DNS had none): wait and look up again.
            let delay = backoff.next_delay();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = &mut shutdown => return,
            }
            continue;
        };
        if certificate.current().is_none()
            && let Some(token) = &cfg.join_token
        {
            let got = tokio::select! {
                got = helios_pki::enroll::enroll(&addr, token, &cfg.name, &[]) => got,
                _ = &mut shutdown => return,
            };
            match got {
                Ok(m) => match certificate.replace(m) {
                    Ok(()) => {
                        tracing::info!(master = %addr, "got the agent's cluster-port certificate");
                    }
                    Err(e) => {
                        tracing::error!("cannot keep the agent's certificate: {e}");
                        let delay = backoff.next_delay();
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = &mut shutdown => return,
                        }
                        continue;
                    }
                },
                Err(e) => {
                    tracing::warn!(master = %addr, "cannot get a certificate with the join token: {e:#}");
                    let delay = backoff.next_delay();
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = &mut shutdown => return,
                    }
                    continue;
                }
            }
        }
        let attempt_started = Instant::now();
        let material = certificate.current();
        if let Some(expired) = material
            .as_ref()
            .and_then(|m| m.validity().ok())
            .map(|(_, until)| until)
            .filter(|until| *until < std::time::SystemTime::now())
        {
            // Masters refuse it at the handshake; say what to do instead of "unreachable".
            tracing::error!(
                expired = %humantime::format_rfc3339_seconds(expired),
                "the agent's cluster-port certificate expired (the agent was down past its \
                 renewal): run `helios deregister {}` and remove the state dir's tls/ to join \
                 again with a join token",
                cfg.name
            );
        }
        master_tx.send_replace(Some(addr.clone()));
        let end = tokio::select! {
            end = session(&cfg, &worker, &addr, material.as_ref()) => end,
            _ = &mut shutdown => return,
        };
        match &end {
            SessionEnd::Redirect(leader) if !leader.is_empty() && redirects < MAX_REDIRECTS => {
                tracing::info!(master = %addr, leader = %leader, "redirected to the leader");
                redirects += 1;
                redirect = Some(leader.clone());
                continue;
            }
            SessionEnd::Redirect(_) => {
                tracing::info!(master = %addr, "master knows no leader yet; retrying");
            }
            SessionEnd::Unreachable(e)
                if material.is_none() && !e.contains("onnection refused") =>
            {
                // A master with security on closes a connection without TLS at once.
                tracing::warn!(master = %addr, error = %e,
                    "cannot reach master (if the masters run with security on, the agent needs --join-token)");
            }
            SessionEnd::Unreachable(e) => {
                tracing::warn!(master = %addr, error = %e, "cannot reach master");
            }
            SessionEnd::Refused(reason) => {
                tracing::warn!(master = %addr, reason = %reason, "master refused the session");
            }
            SessionEnd::ClusterMismatch { known, offered } => {
                tracing::error!(master = %addr, known = %known, offered = %offered,
                    "master belongs to another cluster; session refused");
            }
            SessionEnd::Lost(e) => {
                tracing::warn!(master = %addr, error = %e, "session lost");
                if attempt_started.elapsed() >= STABLE_SESSION {
                    backoff.reset();
                }
                masters.refresh();
            }
            SessionEnd::Shutdown => return,
        }
        redirects = 0;
        let delay = backoff.next_delay();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = &mut shutdown => return,
        }
    }
}

/// The masters' addresses in the order they are tried: the `--master` list, or the answer
/// of an SRV lookup, looked up again at the start of every round over it.
#[derive(Debug)]
pub struct MasterList {
    /// The addresses of this round.
    addrs: Vec<String>,
    /// Index of the next address to try.
    next: usize,
    /// Where to look the addresses up, with the resolver (or why none could be built).
    discovery: Option<(
        MasterDiscovery,
        Result<helios_discovery::SrvResolver, String>,
    )>,
    /// Look up again before the next address, even in the middle of a round.
    stale: bool,
}

impl MasterList {
    /// A list over `masters`, or over what `discovery` finds.
    pub fn new(masters: Vec<String>, discovery: Option<MasterDiscovery>) -> MasterList {
        let discovery = discovery.map(|d| {
            let resolver =
                helios_discovery::SrvResolver::new(d.dns_server).map_err(|e| e.to_string());
            (d, resolver)
        });
        MasterList {
            addrs: masters,
            next: 0,
            discovery,
            stale: false,
        }
    }

    /// Makes the next call look the masters up again (after a lost session).
    pub fn refresh(&mut self) {
        self.stale = true;
    }

    /// The next address to try; `None` when DNS has not named any master yet.
    pub async fn next(&mut self) -> Option<String> {
        if self.discovery.is_some() && (self.next == 0 || self.stale) {
            self.stale = false;
            self.next = 0;
            self.lookup().await;
        }
        if self.addrs.is_empty() {
            return None;
        }
        let addr = self.addrs[self.next % self.addrs.len()].clone();
        self.next = (self.next + 1) % self.addrs.len();
        Some(addr)
    }

    /// Replaces the addresses by the SRV answer; keeps them when the lookup fails or finds
    /// nothing, so a DNS outage does not cut the agent off known masters.
    async fn lookup(&mut self) {
        let Some((discovery, resolver)) = &self.discovery else {
            return;
        };
        let name = discovery.record_name();
        let resolver = match resolver {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(record = %name, error = %e, "cannot look up masters");
                return;
            }
        };
        let found = match resolver.srv(&name).await {
            Ok(targets) => {
                let mut addrs = Vec::new();
                for target in targets {
                    // Each address of a target, so a name with several is failed over
                    // like several masters; the name itself when it has none here.
                    let ips = resolver.ips(&target.host).await.unwrap_or_default();
                    if ips.is_empty() {
                        addrs.push(format!("{}:{}", target.host, target.port));
                    }
                    for ip in ips {
                        addrs.push(SocketAddr::new(ip, target.port).to_string());
                    }
                }
                addrs
            }
            Err(e) => {
                tracing::warn!(record = %name, error = %e, "master lookup failed; keeping the last known masters");
                return;
            }
        };
        if found.is_empty() {
            tracing::warn!(record = %name, "no SRV records for the masters; keeping the last known masters");
            return;
        }
        // The order changes from lookup to lookup (weighted random); only log new sets.
        let sorted = |list: &[String]| {
            let mut list = list.to_vec();
            list.sort();
            list
        };
        if sorted(&found) != sorted(&self.addrs) {
            tracing::info!(record = %name, masters = ?found, "masters found in DNS");
        }
        self.addrs = found;
    }
}

fn msg(m: agent_message::Msg) -> pb::AgentMessage {
    pb::AgentMessage { msg: Some(m) }
}

/// Host info and agent info JSON, and whether the Docker version was known.
async fn host_and_agent_info(cfg: &SessionConfig, worker: &Worker) -> (Vec<u8>, Vec<u8>, bool) {
    let version = tokio::time::timeout(Duration::from_secs(2), worker.context().runtime.version())
        .await
        .ok()
        .and_then(Result::ok);
    let docker_known = version.is_some();
    let host = reporter::host_info(&cfg.docker_host, version);
    let cluster = worker.cluster();
    let agent = reporter::agent_info(
        cfg.started,
        cfg.start_time_ms,
        &cfg.input_arguments,
        &cluster.cluster_id,
        cluster.last_index,
    );
    (
        serde_json::to_vec(&host).unwrap_or_default(),
        serde_json::to_vec(&agent).unwrap_or_default(),
        docker_known,
    )
}

fn status_report(updates: Vec<PendingUpdate>) -> pb::AgentMessage {
    let updates = updates
        .into_iter()
        .map(|u| pb::TaskStatusUpdate {
            job_id: u.job_id.to_string(),
            removed: u.status.is_none(),
            task_status_json: u
                .status
                .map(|s| serde_json::to_vec(&s.reported()).unwrap_or_default())
                .unwrap_or_default(),
            timestamp_ms: u.timestamp_ms,
        })
        .collect();
    msg(agent_message::Msg::Statuses(pb::StatusReport { updates }))
}

/// One connection to `addr`, from Hello to the end of the stream; mutual TLS with `material`
/// when the agent has a certificate (a secured cluster).
pub async fn session(
    cfg: &SessionConfig,
    worker: &Arc<Worker>,
    addr: &str,
    material: Option<&helios_pki::Material>,
) -> SessionEnd {
    let endpoint = match material {
        None => Endpoint::from_shared(format!("http://{addr}")),
        Some(m) => Endpoint::from_shared(format!("https://{addr}"))
            .and_then(|e| e.tls_config(m.client_tls(helios_pki::material::host_of(addr)))),
    };
    let endpoint = match endpoint {
        Ok(e) => e
            .connect_timeout(Duration::from_secs(3))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true),
        Err(e) => return SessionEnd::Unreachable(format!("bad address: {e}")),
    };
    let channel = match endpoint.connect().await {
        Ok(c) => c,
        Err(e) => return SessionEnd::Unreachable(helios_api::error_text::chain(&e)),
    };
    let mut client = DispatcherClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let (tx, rx) = mpsc::channel::<pb::AgentMessage>(OUTBOX);
    let (host_info_json, agent_info_json, mut docker_known) =
        host_and_agent_info(cfg, worker).await;
    let cluster = worker.cluster();
    let hello = pb::Hello {
        name: cfg.name.clone(),
        agent_id: cfg.agent_id.clone(),
        labels: cfg.labels.clone().into_iter().collect(),
        env: cfg.env.clone().into_iter().collect(),
        host_info_json,
        agent_info_json,
        cluster_id: cluster.cluster_id.clone(),
        last_index: cluster.last_index,
    };
    let _ = tx.try_send(msg(agent_message::Msg::Hello(hello)));
    let handshake = async {
        let response = client.session(ReceiverStream::new(rx)).await?;
        let mut inbound = response.into_inner();
        let first = inbound.message().await?;
        Ok::<_, tonic::Status>((inbound, first))
    };
    let (mut inbound, first) = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok((inbound, Some(first)))) => (inbound, first),
        Ok(Ok((_, None))) => return SessionEnd::Unreachable("stream closed before Welcome".into()),
        Ok(Err(status)) => return SessionEnd::Unreachable(status.to_string()),
        Err(_) => return SessionEnd::Unreachable("no answer to Hello".into()),
    };
    let welcome = match first.msg {
        Some(master_message::Msg::Welcome(w)) => w,
        Some(master_message::Msg::Redirect(r)) => {
            return SessionEnd::Redirect(r.leader_cluster_addr);
        }
        Some(master_message::Msg::Refused(r)) => return SessionEnd::Refused(r.reason),
        Some(master_message::Msg::Assignments(_)) | None => {
            return SessionEnd::Unreachable("master did not start with Welcome".into());
        }
    };
    if !cluster.cluster_id.is_empty() && cluster.cluster_id != welcome.cluster_id {
        return SessionEnd::ClusterMismatch {
            known: cluster.cluster_id,
            offered: welcome.cluster_id,
        };
    }
    if cluster.cluster_id.is_empty() && !welcome.cluster_id.is_empty() {
        worker.set_cluster_id(&welcome.cluster_id);
    }
    let heartbeat = if welcome.heartbeat_interval_ms > 0 {
        Duration::from_millis(u64::from(welcome.heartbeat_interval_ms))
    } else {
        cfg.heartbeat
    };
    tracing::info!(master = %addr, cluster = %welcome.cluster_id, ?heartbeat, "session started");
    worker.context().metrics.session_welcomed();
    worker.session_started();
    let hub = worker.context().hub.clone();
    hub.requeue_all();
    let mut have_pending = true;
    let mut hb = tokio::time::interval(heartbeat);
    hb.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut info = tokio::time::interval(HOST_INFO_PERIOD);
    info.tick().await;
    let runtime = worker.context().runtime.clone();
    loop {
        tokio::select! {
            m = inbound.message() => match m {
                Ok(Some(m)) => match m.msg {
                    Some(master_message::Msg::Assignments(set)) => {
                        if worker.apply(&set) == ApplyOutcome::NeedResync
                            && tx.send(msg(agent_message::Msg::Resync(pb::ResyncRequest {}))).await.is_err()
                        {
                            return SessionEnd::Lost("stream closed".into());
                        }
                    }
                    Some(master_message::Msg::Redirect(r)) => {
                        return SessionEnd::Redirect(r.leader_cluster_addr);
                    }
                    Some(master_message::Msg::Refused(r)) => return SessionEnd::Refused(r.reason),
                    Some(master_message::Msg::Welcome(_)) | None => {}
                },
                Ok(None) => return SessionEnd::Lost("master closed the stream".into()),
                Err(status) => return SessionEnd::Lost(status.to_string()),
            },
            _ = hb.tick() => {
                let beat = msg(agent_message::Msg::Heartbeat(pb::Heartbeat {
                    sent_ms: chrono::Utc::now().timestamp_millis(),
                }));
                match tx.try_send(beat) {
                    Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        return SessionEnd::Lost("stream closed".into());
                    }
                }
            }
            // Host info is resent every minute, and at once when Docker answers after Hello.
            _ = info.tick() => {
                let (host_info_json, agent_info_json, known) =
                    host_and_agent_info(cfg, worker).await;
                docker_known |= known;
                let update = msg(agent_message::Msg::HostInfo(pb::HostInfoUpdate {
                    host_info_json,
                    agent_info_json,
                }));
                if tx.send(update).await.is_err() {
                    return SessionEnd::Lost("stream closed".into());
                }
            }
            _ = runtime.ready(), if !docker_known => {
                docker_known = true;
                info.reset_immediately();
            }
            _ = hub.pending_changed(), if !have_pending => have_pending = true,
            permit = tx.reserve(), if have_pending => match permit {
                Ok(permit) => {
                    let (updates, more) = hub.take_pending_of(JOBS_PER_REPORT);
                    have_pending = more;
                    if !updates.is_empty() {
                        permit.send(status_report(updates));
                    }
                }
                Err(_) => return SessionEnd::Lost("stream closed".into()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_masters_are_tried_in_turn() {
        let mut list = MasterList::new(vec!["a:1".into(), "b:2".into()], None);
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.push(list.next().await.expect("address"));
        }
        assert_eq!(seen, ["a:1", "b:2", "a:1", "b:2", "a:1"]);
        list.refresh();
        assert_eq!(
            list.next().await.as_deref(),
            Some("b:2"),
            "no DNS to refresh"
        );
    }

    #[tokio::test]
    async fn a_silent_dns_server_gives_no_address_yet() {
        // A UDP socket that never answers: the lookup fails, no master is known.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
        let discovery = MasterDiscovery {
            domain: "example.test".into(),
            srv_name: "helios-cluster".into(),
            dns_server: Some(silent.local_addr().expect("addr")),
        };
        let mut list = MasterList::new(Vec::new(), Some(discovery));
        assert_eq!(list.next().await, None);
    }
}
