//! The agent dispatcher (DESIGN §6), served by the leader on the cluster port.
//!
//! Each agent holds one bidirectional stream. After the agent's Hello, the leader registers
//! the host (a Raft write), answers Welcome, sends the COMPLETE set of the host's deployments,
//! then an INCREMENTAL set each time an applied Raft entry changes them: [`host_changes`] wakes
//! the sessions of the hosts an applied entry touched, so a deploy reaches its agent as soon as
//! it is applied, with no polling, and the other sessions do nothing. A follower answers
//! Redirect with the leader's address.
//!
//! Liveness lives in the leader's memory ([`liveness`]); only UP/DOWN transitions are written.
//! Task statuses from all agents are batched into few Raft writes ([`statuses`]).
//!
//! With security on, the cluster port is mutual TLS: a session needs an agent certificate
//! naming the host it opens ([`peer`]), and [`enrollment`] issues certificates for join
//! tokens.

pub mod assignments;
pub mod enrollment;
pub mod host_changes;
pub mod liveness;
pub mod peer;
mod session;
pub mod statuses;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use helios_api::pb;
use helios_api::pb::dispatcher_server::Dispatcher as DispatcherService;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::node::Node;
use crate::state::StatusUpdate;

pub use crate::config::MAX_AGENT_SESSIONS;

/// What the leader knows of one connected agent.
#[derive(Debug, Clone)]
pub struct Liveness {
    /// The agent's id.
    pub agent_id: String,
    /// When the last heartbeat (or any message) arrived.
    pub last_seen: Instant,
    /// The session that reported it, so an old session ending does not erase a new one.
    pub session: u64,
}

/// Shared by every session of this master.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    app: Node,
    /// How often agents send heartbeats (ms); a host is DOWN after 3 missed periods.
    heartbeat_ms: u32,
    /// Hosts with a live agent, by name.
    live: Mutex<HashMap<String, Liveness>>,
    /// Status changes on their way to the batcher.
    status_tx: mpsc::Sender<StatusUpdate>,
    /// Session ids.
    next_session: AtomicU64,
    /// Flips when the master shuts down: sessions end so the server can stop.
    stop: tokio::sync::watch::Receiver<bool>,
    /// One permit per open session, at most `max_sessions` (see [`MAX_AGENT_SESSIONS`]).
    sessions: Arc<tokio::sync::Semaphore>,
    max_sessions: usize,
    /// Wakes the session of a host whose deployments an applied entry changed.
    changes: Arc<host_changes::HostChanges>,
    /// Whether sessions need an agent certificate naming their host (security on).
    require_certificates: bool,
}

impl Dispatcher {
    /// A dispatcher for this master, plus the receiving end of its status queue (to be run by
    /// [`statuses::run_batcher`]).
    pub fn new(
        app: Node,
        heartbeat_ms: u32,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> (Self, mpsc::Receiver<StatusUpdate>) {
        Self::with_session_limit(app, heartbeat_ms, stop, MAX_AGENT_SESSIONS)
    }

    /// [`Self::new`] with at most `max_sessions` agent sessions at once.
    pub fn with_session_limit(
        app: Node,
        heartbeat_ms: u32,
        stop: tokio::sync::watch::Receiver<bool>,
        max_sessions: usize,
    ) -> (Self, mpsc::Receiver<StatusUpdate>) {
        let (status_tx, status_rx) = mpsc::channel(65536);
        let changes = Arc::new(host_changes::HostChanges::default());
        {
            let seen = host_changes::HostChanges::start_from(&app);
            let (changes, app, stop) = (changes.clone(), app.clone(), stop.clone());
            app.tasks
                .clone()
                .spawn(async move { changes.run(app, seen, stop).await });
        }
        let d = Dispatcher {
            inner: Arc::new(Inner {
                app,
                heartbeat_ms,
                live: Mutex::new(HashMap::new()),
                status_tx,
                next_session: AtomicU64::new(1),
                stop,
                sessions: Arc::new(tokio::sync::Semaphore::new(max_sessions)),
                max_sessions,
                changes,
                require_certificates: false,
            }),
        };
        (d, status_rx)
    }

    /// The same dispatcher, requiring that each session comes with an agent certificate of
    /// the host it opens (security on). Call before sharing it.
    pub fn requiring_certificates(mut self) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.require_certificates = true;
        }
        self
    }

    /// The handler state of this master.
    pub fn app(&self) -> &Node {
        &self.inner.app
    }

    /// The agents' heartbeat period in milliseconds.
    pub fn heartbeat_ms(&self) -> u32 {
        self.inner.heartbeat_ms
    }

    /// A copy of the liveness table.
    pub fn live(&self) -> HashMap<String, Liveness> {
        self.inner
            .live
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }
}

/// One message to an agent, boxed in the session's channel: a tokio channel allocates its
/// first block of 32 slots up front, and a leader holds one channel per agent, so small
/// slots (a pointer, not a 56-byte message) save about 1.5 KB per agent.
type Outgoing = Box<Result<pb::MasterMessage, Status>>;

#[tonic::async_trait]
impl DispatcherService for Dispatcher {
    type SessionStream = futures::stream::Map<
        ReceiverStream<Outgoing>,
        fn(Outgoing) -> Result<pb::MasterMessage, Status>,
    >;

    async fn session(
        &self,
        request: Request<Streaming<pb::AgentMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let Ok(permit) = self.inner.sessions.clone().try_acquire_owned() else {
            return Err(Status::resource_exhausted(format!(
                "this master already holds its limit of {} agent sessions",
                self.inner.max_sessions
            )));
        };
        let certified = if self.inner.require_certificates {
            Some(peer::require(&request, helios_pki::Role::Agent)?)
        } else {
            None
        };
        let peer = request.remote_addr();
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(256);
        let dispatcher = self.clone();
        self.inner.app.tasks.spawn(async move {
            session::run(dispatcher, inbound, tx, certified, peer).await;
            drop(permit);
        });
        let unbox: fn(Outgoing) -> Result<pb::MasterMessage, Status> = |message| *message;
        Ok(Response::new(ReceiverStream::new(rx).map(unbox)))
    }
}
