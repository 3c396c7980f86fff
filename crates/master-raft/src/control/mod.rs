//! The master's use cases, each written once: REST ([`crate::gateway`]) and gRPC
//! ([`crate::grpc`]) decode a request, call one function here and encode what it returns.
//!
//! * [`jobs`]: create, remove, get and list jobs, job statuses and history.
//! * [`hosts`]: register, deregister, list hosts and host statuses.
//! * [`deployments`]: deploy, set a goal, undeploy, get a deployment.
//! * [`deployment_groups`]: create, remove, list, inspect deployment groups, their status,
//!   rolling updates and stopping them.
//! * [`members`]: the masters and their state; adding and removing members.
//! * [`backup`]: a consistent copy of the replicated state.
//! * [`enrollment`]: the cluster's CA, join tokens and the certificates they get.
//! * [`tokens`]: API tokens: create, list, revoke, and who may call what.
//! * [`version`]: how a client's version compares with ours.
//!
//! A use case that Helios answers with a status word returns an [`Outcome`] of Helios's own
//! status enum (`JobDeployStatus`, …) with a message for the transports that show one; every
//! other failure is an [`Error`]. Time stamps come from the node's clock, the deployer master
//! from the node's name: never from a transport.

pub mod backup;
pub mod deployment_groups;
pub mod deployments;
pub mod enrollment;
pub mod hosts;
pub mod jobs;
pub mod members;
pub mod tokens;
pub mod version;

use crate::node::{Node, NodeError};
use crate::state::{CommandResult, State};

pub use members::{MemberRole, MemberState, MemberStatus, member_statuses};

/// Why a use case has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The node could not write or read (see [`NodeError`]).
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The request is malformed: Helios's status word and what is wrong.
    #[error("{message}")]
    Invalid {
        /// Helios's status word (`INVALID_ID`, …).
        word: &'static str,
        /// What is wrong, naming the bad value.
        message: String,
    },
    /// What the request names does not exist.
    #[error("{message}")]
    NotFound {
        /// Helios's status word (`JOB_NOT_FOUND`, …).
        word: &'static str,
        /// What was not found.
        message: String,
    },
    /// The request conflicts with the state (a name in use, the last admin token).
    #[error("{message}")]
    Conflict {
        /// The status word (`TOKEN_NAME_TAKEN`, …).
        word: &'static str,
        /// What conflicts.
        message: String,
    },
    /// The caller is not allowed to (a join token that is wrong or rotated away).
    #[error("{message}")]
    Denied {
        /// The status word (`JOIN_REFUSED`, …).
        word: &'static str,
        /// Why.
        message: String,
    },
    /// A command answered what its use case never expects: a bug.
    #[error("unexpected command result {0:?}")]
    Unexpected(CommandResult),
}

impl Error {
    /// A malformed request.
    pub fn invalid(word: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            word,
            message: message.into(),
        }
    }

    fn not_found(word: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound {
            word,
            message: message.into(),
        }
    }

    fn conflict(word: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            word,
            message: message.into(),
        }
    }
}

/// The answer of a use case Helios answers with a status word: `status` is Helios's enum
/// (its `OK` variant on success), `message` says in words what happened, for gRPC and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<S> {
    /// Helios's status.
    pub status: S,
    /// What happened, naming the host, job or port concerned.
    pub message: String,
}

impl<S> Outcome<S> {
    fn new(status: S, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// How fresh a read must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// After a read-index check with a quorum: reflects every acknowledged write.
    Linearizable,
    /// This member's applied state as it is (`?stale`).
    Local,
}

/// Reads the state with the freshness asked for.
async fn read<T>(
    node: &Node,
    freshness: Freshness,
    f: impl FnOnce(&State) -> T,
) -> Result<T, Error> {
    Ok(match freshness {
        Freshness::Linearizable => node.read(f).await?,
        Freshness::Local => node.read_local(f)?,
    })
}

/// A regular expression from a request, `None` when empty; `word` names the parameter's
/// error.
fn pattern(raw: &str, word: &'static str, what: &str) -> Result<Option<regex::Regex>, Error> {
    if raw.is_empty() {
        return Ok(None);
    }
    regex::Regex::new(raw)
        .map(Some)
        .map_err(|e| Error::invalid(word, format!("bad {what} {raw:?}: {e}")))
}
