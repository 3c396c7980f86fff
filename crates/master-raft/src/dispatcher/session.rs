//! One agent session: Hello, registration, Welcome, assignments, and the agent's reports.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use helios_api::pb::agent_message::Msg as In;
use helios_api::pb::assignments::Kind;
use helios_api::pb::master_message::Msg as Out;
use helios_api::{AgentInfo, HostInfo, pb};
use tokio::sync::mpsc;
use tonic::{Status, Streaming};
use tracing::{debug, info, warn};

use super::assignments::{SentIndexes, changes, complete, host_tasks, sent_indexes};
use super::{Dispatcher, Liveness, Outgoing};
use crate::node::Node;
use crate::raft::service::leader_node;
use crate::state::{Command, StatusUpdate, StoredStatus};

type Tx = mpsc::Sender<Outgoing>;

async fn send(tx: &Tx, msg: Out) -> bool {
    tx.send(Box::new(Ok(pb::MasterMessage { msg: Some(msg) })))
        .await
        .is_ok()
}

fn json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    if bytes.is_empty() {
        return None;
    }
    serde_json::from_slice(bytes).ok()
}

/// A session past its handshake: the agent was admitted, registered and welcomed.
struct Opened {
    /// The host the session is for.
    name: String,
    /// The agent's id, as its Hello named it.
    agent_id: String,
    /// This session's number (see [`Liveness::session`]).
    session: u64,
}

/// Runs one session until the agent goes away or this master stops leading. With security on,
/// `certified` is what the agent's certificate says: the only host it may open, and the
/// serial that `helios deregister` revokes.
///
/// A leader holds one of these tasks per agent for the agent's whole life, so the task stays
/// small: the handshake and the rarer steps (complete sets, status forwarding) run as boxed
/// futures, not inline in this one (inline, the Raft write of the handshake made every
/// session's task about 16 KB).
pub async fn run(
    d: Dispatcher,
    mut inbound: Streaming<pb::AgentMessage>,
    tx: Tx,
    certified: Option<helios_pki::Identity>,
    peer: Option<std::net::SocketAddr>,
) {
    let Some(Opened {
        name,
        agent_id,
        session,
    }) = Box::pin(open(&d, &mut inbound, &tx, certified.as_ref(), peer)).await
    else {
        return;
    };
    let app = d.app().clone();
    let _connected = Connected::count(&app.metrics.agents_connected);

    let mut stop = d.inner.stop.clone();
    // Subscribed before the complete set is read, so no change falls in between.
    let mut host_changed = d.inner.changes.subscribe(&name);
    let mut leader = app.leader.clone();
    let (mut sent, mut sent_index) = match Box::pin(send_complete(&d, &tx, &name)).await {
        Some(v) => v,
        None => {
            d.inner.changes.unsubscribe(&name);
            return;
        }
    };
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            changed = host_changed.changed() => {
                if changed.is_err() { break; }
                host_changed.borrow_and_update();
                if let Some(reason) = certified.as_ref().and_then(|id| certificate_refusal(&app, id, &name)) {
                    info!(host = %name, "ending agent session: {reason}");
                    send(&tx, Out::Refused(pb::Refused { reason })).await;
                    break;
                }
                let Ok((index, now)) = app.read_local(|s| {
                    (*app.applied.borrow(), host_tasks(s, &name))
                }) else { break };
                let delta = changes(&sent, &now);
                if delta.is_empty() { continue; }
                let msg = pb::Assignments {
                    kind: Kind::Incremental as i32,
                    index,
                    prev_index: sent_index,
                    assignments: delta,
                };
                if !send(&tx, Out::Assignments(msg)).await { break; }
                app.metrics.assignments_sent.inc();
                sent = sent_indexes(&now);
                sent_index = index;
            }
            msg = inbound.message() => {
                let msg = match msg {
                    Ok(Some(pb::AgentMessage { msg: Some(m) })) => m,
                    Ok(Some(_)) => continue,
                    Ok(None) | Err(_) => break,
                };
                touch(&d, &name, &agent_id, session);
                match msg {
                    In::Heartbeat(_) | In::Hello(_) => {}
                    In::Statuses(report) => Box::pin(forward_statuses(&d, &name, report)).await,
                    In::HostInfo(info) => {
                        let cmd = Command::UpdateHostInfo {
                            name: name.clone(),
                            host_info: json(&info.host_info_json),
                            agent_info: json(&info.agent_info_json),
                        };
                        let app = app.clone();
                        app.tasks.clone().spawn(async move { let _ = app.write(cmd).await; });
                    }
                    In::Resync(_) => {
                        match Box::pin(send_complete(&d, &tx, &name)).await {
                            Some(v) => (sent, sent_index) = v,
                            None => break,
                        }
                    }
                }
            }
            changed = leader.changed() => {
                if changed.is_err() { break; }
                leader.borrow_and_update();
                if !app.leads() {
                    let addr = app.leader().map(|(_, n)| n.cluster_addr).unwrap_or_default();
                    send(&tx, Out::Redirect(pb::Redirect { leader_cluster_addr: addr })).await;
                    break;
                }
            }
        }
    }
    d.inner.changes.unsubscribe(&name);
    debug!(host = %name, session, "agent session ended");
}

/// The handshake: the agent's Hello, a Redirect when this master does not lead, a Refused
/// when the agent may not open the session, else the host's registration (a Raft write) and
/// the Welcome. `None` when the session ends here.
async fn open(
    d: &Dispatcher,
    inbound: &mut Streaming<pb::AgentMessage>,
    tx: &Tx,
    certified: Option<&helios_pki::Identity>,
    peer: Option<std::net::SocketAddr>,
) -> Option<Opened> {
    let hello = match tokio::time::timeout(Duration::from_secs(10), inbound.message()).await {
        Ok(Ok(Some(pb::AgentMessage {
            msg: Some(In::Hello(h)),
        }))) => h,
        _ => {
            let _ = tx
                .send(Box::new(Err(Status::invalid_argument(
                    "a session starts with Hello",
                ))))
                .await;
            return None;
        }
    };
    let app = d.app();
    let name = hello.name.clone();
    if let Some(reason) = certified.and_then(|id| certificate_refusal(app, id, &name)) {
        warn!(host = %name, "refusing agent session: {reason}");
        send(tx, Out::Refused(pb::Refused { reason })).await;
        return None;
    }
    match leader_node(&app.raft) {
        Some((id, _)) if id == app.id => {}
        other => {
            let addr = other.map(|(_, n)| n.cluster_addr).unwrap_or_default();
            send(
                tx,
                Out::Redirect(pb::Redirect {
                    leader_cluster_addr: addr,
                }),
            )
            .await;
            return None;
        }
    }
    if let Err(reason) = admit(d, &hello) {
        info!(host = %name, "refusing agent session: {reason}");
        send(tx, Out::Refused(pb::Refused { reason })).await;
        return None;
    }
    let cluster_id = app
        .read_local(|s| s.cluster_id.clone())
        .ok()
        .flatten()
        .unwrap_or_default();
    let up = Command::AgentUp {
        name: name.clone(),
        id: hello.agent_id.clone(),
        labels: hello.labels.into_iter().collect(),
        env: hello.env.into_iter().collect(),
        host_info: json::<HostInfo>(&hello.host_info_json),
        agent_info: json::<AgentInfo>(&hello.agent_info_json),
        now_ms: app.clock.now_ms(),
        cert_serial: certified.map(|id| id.serial.clone()),
        address: peer.map(|a| a.ip().to_canonical().to_string()),
    };
    if let Err(e) = app.write(up).await {
        send(
            tx,
            Out::Refused(pb::Refused {
                reason: format!("registration failed: {}", e),
            }),
        )
        .await;
        return None;
    }
    let session = d.inner.next_session.fetch_add(1, Ordering::Relaxed);
    touch(d, &name, &hello.agent_id, session);
    info!(host = %name, agent = %hello.agent_id, session, "agent connected");
    let welcome = pb::Welcome {
        cluster_id,
        heartbeat_interval_ms: d.heartbeat_ms(),
    };
    send(tx, Out::Welcome(welcome)).await.then_some(Opened {
        name,
        agent_id: hello.agent_id,
        session,
    })
}

/// Why an agent with certificate `id` may not hold a session as host `name`: another host's
/// certificate, or a revoked one. `None` when it may.
fn certificate_refusal(app: &Node, id: &helios_pki::Identity, name: &str) -> Option<String> {
    if id.name != name {
        return Some(format!(
            "the agent's certificate is for host {:?}; it cannot open a session as {name:?}",
            id.name
        ));
    }
    let (revoked, in_force) = app
        .read_local(|s| {
            (
                s.revoked_certificates.contains(&id.serial),
                s.certificate_in_force(name, &id.serial),
            )
        })
        .unwrap_or((false, true));
    if revoked {
        return Some(format!(
            "the certificate of host {name:?} was revoked (the host was deregistered, or the \
             agent renewed it): remove the agent's tls/ directory and rejoin with a join token"
        ));
    }
    (!in_force).then(|| {
        format!(
            "another certificate of host {name:?} is in force; deregister the host before \
             its agent joins with a new one"
        )
    })
}

/// Decides whether an agent may open a session; the reason when not.
fn admit(d: &Dispatcher, hello: &pb::Hello) -> Result<(), String> {
    if hello.name.is_empty() || hello.agent_id.is_empty() {
        return Err("Hello needs a host name and an agent id".into());
    }
    let app = d.app();
    let (cluster_id, registered) = app
        .read_local(|s| {
            (
                s.cluster_id.clone(),
                s.hosts.get(&hello.name).map(|h| h.id.clone()),
            )
        })
        .map_err(|e| e.to_string())?;
    if let Some(ours) = &cluster_id
        && !hello.cluster_id.is_empty()
        && *ours != hello.cluster_id
    {
        return Err(format!(
            "this agent belongs to cluster {} but these masters are cluster {ours}",
            hello.cluster_id
        ));
    }
    if cluster_id.is_none() {
        return Err("the cluster is not initialised yet".into());
    }
    if let Some(other) = registered.filter(|id| *id != hello.agent_id) {
        let timeout = Duration::from_millis(d.heartbeat_ms() as u64) * 3;
        let alive = d
            .live()
            .get(&hello.name)
            .is_some_and(|l| l.agent_id == other && l.last_seen.elapsed() < timeout);
        if alive {
            return Err(format!(
                "Another agent already registered as '{}' (local={} remote={other}); it is alive",
                hello.name, hello.agent_id
            ));
        }
    }
    Ok(())
}

fn touch(d: &Dispatcher, name: &str, agent_id: &str, session: u64) {
    if let Ok(mut live) = d.inner.live.lock() {
        live.insert(
            name.to_string(),
            Liveness {
                agent_id: agent_id.to_string(),
                last_seen: Instant::now(),
                session,
            },
        );
    }
}

async fn send_complete(d: &Dispatcher, tx: &Tx, name: &str) -> Option<(SentIndexes, u64)> {
    let app = d.app();
    let (index, tasks) = app
        .read_local(|s| (*app.applied.borrow(), host_tasks(s, name)))
        .ok()?;
    let msg = pb::Assignments {
        kind: Kind::Complete as i32,
        index,
        prev_index: 0,
        assignments: complete(&tasks),
    };
    let sent = send(tx, Out::Assignments(msg)).await;
    if sent {
        app.metrics.assignments_sent.inc();
    }
    sent.then(|| (sent_indexes(&tasks), index))
}

async fn forward_statuses(d: &Dispatcher, host: &str, report: pb::StatusReport) {
    for u in report.updates {
        let status = if u.task_status_json.is_empty() {
            None
        } else {
            // Agents report statuses without their job (an older agent's job is skipped): the
            // state has it under the job id.
            match serde_json::from_slice::<StoredStatus>(&u.task_status_json) {
                Ok(s) => Some(s),
                Err(e) => {
                    warn!(host, job = %u.job_id, "undecodable task status: {e}");
                    continue;
                }
            }
        };
        // A removal may carry the task's final status: record it (history) first.
        let mut updates = Vec::with_capacity(2);
        if status.is_some() {
            updates.push(StatusUpdate {
                host: host.to_string(),
                job: u.job_id.clone(),
                status,
                timestamp: u.timestamp_ms,
            });
        }
        if u.removed {
            updates.push(StatusUpdate {
                host: host.to_string(),
                job: u.job_id,
                status: None,
                timestamp: u.timestamp_ms,
            });
        }
        for update in updates {
            if d.inner.status_tx.send(update).await.is_err() {
                return;
            }
        }
    }
}

/// Counts a welcomed session in the `agents_connected` gauge for as long as it is held.
struct Connected(prometheus_client::metrics::gauge::Gauge);

impl Connected {
    fn count(gauge: &prometheus_client::metrics::gauge::Gauge) -> Connected {
        gauge.inc();
        Connected(gauge.clone())
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.0.dec();
    }
}
