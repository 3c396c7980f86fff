//! The master's core: one member's Raft handle and applied state, and the only way the layers
//! above ([`crate::control`], the dispatcher, housekeeping) write and read them.
//!
//! * [`Node::write`] proposes a command and waits until it is applied; [`Node::write_keyed`]
//!   does it once per idempotency key.
//! * [`Node::read`] reads after confirming leadership with a quorum (linearizable);
//!   [`Node::read_local`] reads this member's applied state as it is.
//! * [`Node::leader`] and [`Node::leads`] tell who leads; `applied` and `leader` are channels
//!   that change when an entry is applied and when the leader changes.
//!
//! Errors are a [`NodeError`], split as openraft splits them: a request error (this member
//! does not lead, no quorum, the entry was discarded) says whether the command can have been
//! written; a fatal error means the Raft core stopped for good (a storage error, or a panic).
//! A fatal error is never answered as "try again": the node remembers it, `/readyz` fails and
//! the process exits with the reason ([`Node::stopped`]). A write under way when the core
//! stopped has an unknown outcome (its entry may have been replicated), a read a final error.

use std::sync::Arc;
use std::time::Instant;

use openraft::ReadPolicy;
use openraft::async_runtime::WatchReceiver;
use openraft::error::{ClientWriteError, LinearizableReadError, RaftError};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::raft::service::leader_node;
use crate::raft::types::{MasterNode, Raft, StateMachine, TypeConfig};
use crate::state::idempotency::{Seen, WriteKey};
use crate::state::{Command, CommandResult, State};

/// Why the node could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// This member does not lead, so nothing was proposed; `leader` is the one it knows.
    #[error("this master does not lead ({why})")]
    NotLeader {
        /// The leader this member knows of, if any.
        leader: Option<u64>,
        /// Why the request could not run here.
        why: String,
    },
    /// Nothing was written and nothing can be answered now (no quorum to confirm leadership).
    #[error("{0}")]
    Unavailable(String),
    /// The write may or may not have been applied; retrying with the same key tells which.
    #[error("the write may or may not have been applied ({detail})")]
    UnknownOutcome {
        /// The idempotency key to retry with (`None` for the masters' own writes).
        key: Option<String>,
        /// What happened.
        detail: String,
    },
    /// The idempotency key was first used with a different request.
    #[error("the idempotency key {key} was already used for a different request")]
    KeyReused {
        /// The key.
        key: String,
    },
    /// The Raft core stopped for good (a storage error or a panic); the process exits.
    #[error("this master's Raft core stopped: {0}")]
    Fatal(String),
}

/// Who the member is and the settings its use cases read.
pub struct NodeSettings {
    /// This member's Raft id.
    pub id: u64,
    /// This member's name (recorded as `deployerMaster`).
    pub name: String,
    /// The clock every time stamp written into the state comes from.
    pub clock: Arc<dyn Clock>,
    /// Capabilities jobs may add (`--whitelisted-capability`).
    pub whitelisted_capabilities: std::collections::BTreeSet<String>,
    /// How forwarded calls reach the leader's HTTP port (https with `--tls-cert`).
    pub leader_tls: crate::http_tls::LeaderTls,
    /// How this member reaches other masters' cluster ports (mutual TLS with security on).
    pub cluster_tls: crate::raft::tls::ClusterTls,
}

/// A cheap handle (cloned for every request) on one member's [`NodeContext`].
#[derive(Clone)]
pub struct Node(Arc<NodeContext>);

impl std::ops::Deref for Node {
    type Target = NodeContext;

    fn deref(&self) -> &NodeContext {
        &self.0
    }
}

/// The member's handles and settings.
pub struct NodeContext {
    /// This member's Raft handle.
    pub raft: Raft,
    /// This member's id.
    pub id: u64,
    /// This member's name (recorded as `deployerMaster`).
    pub name: String,
    /// The applied state.
    pub shared: helios_store::SharedState<TypeConfig, State>,
    /// Metrics of this member.
    pub metrics: Arc<Metrics>,
    /// Index of the last applied entry, for sessions that wait for changes.
    pub applied: watch::Receiver<u64>,
    /// This member's view of the leader's id; changes only when the leader does.
    pub leader: watch::Receiver<Option<u64>>,
    /// The clock every time stamp written into the state comes from.
    pub clock: Arc<dyn Clock>,
    /// Capabilities jobs may add (`--whitelisted-capability`).
    pub whitelisted_capabilities: Arc<std::collections::BTreeSet<String>>,
    /// How forwarded calls reach the leader's HTTP port (https with `--tls-cert`).
    pub leader_tls: crate::http_tls::LeaderTls,
    /// How this member reaches other masters' cluster ports (mutual TLS with security on).
    pub cluster_tls: crate::raft::tls::ClusterTls,
    /// Every task the master spawns, so that shutdown can wait for them all.
    pub tasks: TaskTracker,
    /// Flips to true when the master shuts down: loops and streams end.
    pub stop: watch::Receiver<bool>,
    /// Set once the Raft core stopped with a fatal error.
    fatal: watch::Receiver<Option<String>>,
}

impl Node {
    /// The node of a member (inside a tokio runtime: it starts, on `tasks`, the tasks that
    /// follow the leader and the Raft core's health; both end with the Raft core). `stop`
    /// flips to true when the master shuts down.
    pub fn new(
        raft: Raft,
        sm: &StateMachine,
        settings: NodeSettings,
        metrics: Arc<Metrics>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        let NodeSettings {
            id,
            name,
            clock,
            whitelisted_capabilities,
            leader_tls,
            cluster_tls,
        } = settings;
        let tasks = TaskTracker::new();
        let leader = crate::raft::leader::watch_leader(&raft, &tasks);
        let fatal = watch_fatal(&raft, &tasks, stop.clone());
        Self(Arc::new(NodeContext {
            raft,
            id,
            name,
            shared: sm.shared(),
            applied: sm.subscribe_applied(),
            leader,
            metrics,
            clock,
            whitelisted_capabilities: Arc::new(whitelisted_capabilities),
            leader_tls,
            cluster_tls,
            tasks,
            stop,
            fatal,
        }))
    }

    /// The leader's id and member record, as this member knows them.
    pub fn leader(&self) -> Option<(u64, MasterNode)> {
        leader_node(&self.raft)
    }

    /// Whether this member leads now.
    pub fn leads(&self) -> bool {
        *self.leader.borrow() == Some(self.id)
    }

    /// Why the Raft core stopped, once it has stopped with a fatal error.
    pub fn fatal(&self) -> Option<String> {
        self.fatal.borrow().clone()
    }

    /// Resolves with the reason when the Raft core stops with a fatal error (never, if it
    /// does not).
    pub async fn stopped(&self) -> String {
        let mut fatal = self.fatal.clone();
        let reason = fatal
            .wait_for(Option::is_some)
            .await
            .map(|reason| reason.clone().unwrap_or_default());
        match reason {
            Ok(reason) => reason,
            Err(_) => std::future::pending().await,
        }
    }

    /// Proposes one of the masters' own commands and waits for it to be committed and
    /// applied. Errors tell whether it may have been written ([`NodeError::NotLeader`]: surely
    /// not; [`NodeError::UnknownOutcome`]: perhaps).
    pub async fn write(&self, command: Command) -> Result<CommandResult, NodeError> {
        self.propose(command, None).await
    }

    /// [`Self::write`] for a client's write: the command is applied once per idempotency key,
    /// stamped with the leader's clock, and a repeated key gets the first result.
    pub async fn write_keyed(
        &self,
        key: &WriteKey,
        command: Command,
    ) -> Result<CommandResult, NodeError> {
        let keyed = Command::Idempotent {
            key: key.key.clone(),
            fingerprint: key.fingerprint.clone(),
            now_ms: self.clock.now_ms(),
            command: Box::new(command),
        };
        match self.propose(keyed, Some(&key.key)).await? {
            CommandResult::IdempotencyKeyReused => Err(NodeError::KeyReused {
                key: key.key.clone(),
            }),
            result => Ok(result),
        }
    }

    /// The first result of a key this member has already applied (a retry whose answer was
    /// lost), so that a use case can answer it before validating again against a clock or
    /// settings that may have changed since. `None` when the key is not applied here (yet):
    /// the write goes through Raft, where the replicated table decides. Applied state is
    /// committed, so the answer is final.
    pub fn replayed(&self, key: &WriteKey) -> Result<Option<CommandResult>, NodeError> {
        match self.read_local(|s| s.idempotency.check(&key.key, &key.fingerprint))? {
            Seen::New => Ok(None),
            Seen::Replay(first) => Ok(Some(first)),
            Seen::Reused => Err(NodeError::KeyReused {
                key: key.key.clone(),
            }),
        }
    }

    async fn propose(
        &self,
        command: Command,
        key: Option<&str>,
    ) -> Result<CommandResult, NodeError> {
        let start = Instant::now();
        match self.raft.client_write(command).await {
            Ok(resp) => {
                self.metrics
                    .write_latency
                    .observe(start.elapsed().as_secs_f64());
                Ok(resp.data)
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(NodeError::NotLeader {
                    leader: f.leader_id,
                    why: "this master stopped leading before the write was proposed".into(),
                })
            }
            Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(_))) => {
                Err(NodeError::UnknownOutcome {
                    key: key.map(str::to_string),
                    detail: "the leader changed while the write was in flight".into(),
                })
            }
            Err(RaftError::APIError(e)) => Err(NodeError::UnknownOutcome {
                key: key.map(str::to_string),
                detail: e.to_string(),
            }),
            // The entry may have been replicated before the core stopped, and be committed by
            // the next leader: not a refusal, an unknown outcome.
            Err(RaftError::Fatal(fatal)) => Err(NodeError::UnknownOutcome {
                key: key.map(str::to_string),
                detail: format!("this master's Raft core stopped: {fatal}"),
            }),
        }
    }

    /// Reads the applied state after confirming leadership with a quorum (read-index), so the
    /// answer reflects every write acknowledged before the read began.
    pub async fn read<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T, NodeError> {
        match self.raft.ensure_linearizable(ReadPolicy::ReadIndex).await {
            Ok(_) => self.read_local(f),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(fwd))) => {
                Err(NodeError::NotLeader {
                    leader: fwd.leader_id,
                    why: "cannot confirm leadership: this master does not lead".into(),
                })
            }
            Err(RaftError::APIError(e)) => Err(NodeError::Unavailable(format!(
                "cannot confirm leadership: {e}"
            ))),
            Err(RaftError::Fatal(fatal)) => Err(NodeError::Fatal(fatal.to_string())),
        }
    }

    /// Reads this member's applied state as it is, without a leadership check.
    pub fn read_local<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T, NodeError> {
        let view = self
            .shared
            .read()
            .map_err(|_| NodeError::Unavailable("the applied state's lock is poisoned".into()))?;
        Ok(f(&view.state))
    }
}

/// A channel of the fatal error that stopped the Raft core, if one did. A normal stop
/// (`Fatal::Stopped`, or the core ending once `stop` is set) is not one. A panicking core does
/// not report itself in its metrics (openraft drops their sender), so a core that ends while
/// the master is not stopping counts as having panicked.
fn watch_fatal(
    raft: &Raft,
    tasks: &TaskTracker,
    stop: watch::Receiver<bool>,
) -> watch::Receiver<Option<String>> {
    let mut metrics = raft.metrics();
    let (tx, rx) = watch::channel(None);
    tasks.spawn(async move {
        let reason = loop {
            let fatal = match &metrics.borrow_watched().running_state {
                Err(openraft::error::Fatal::Stopped) | Ok(()) => None,
                Err(fatal) => Some(fatal.to_string()),
            };
            if fatal.is_some() {
                break fatal;
            }
            tokio::select! {
                changed = metrics.changed() => if changed.is_err() {
                    break (!*stop.borrow())
                        .then(|| "the Raft core ended unexpectedly (it panicked)".to_string());
                },
                () = tx.closed() => return,
            }
        };
        if let Some(reason) = reason {
            tracing::error!("the Raft core stopped: {reason}");
            let _ = tx.send(Some(reason));
        }
    });
    rx
}
