//! Replicated commands and their results.

use std::fmt;

use helios_api::Job;
use serde::{Deserialize, Serialize};

/// A change to the replicated state, proposed by the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    /// Sets the cluster id if it is not set yet.
    InitCluster {
        /// A random id chosen by the leader.
        cluster_id: String,
    },
    /// Creates a job. `created` and the hash are filled in by the leader.
    CreateJob {
        /// The validated job with its full id.
        job: Job,
    },
    /// Removes a job that is deployed nowhere, if the token matches.
    RemoveJob {
        /// Full job id.
        id: String,
        /// The token the caller gave (`""` when none).
        token: String,
    },
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::InitCluster { cluster_id } => write!(f, "init-cluster {cluster_id}"),
            Command::CreateJob { job } => match &job.id {
                Some(id) => write!(f, "create-job {id}"),
                None => write!(f, "create-job (no id)"),
            },
            Command::RemoveJob { id, .. } => write!(f, "remove-job {id}"),
        }
    }
}

/// The outcome of a command, the same on every member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    /// Entries that are not commands (blank, membership).
    #[default]
    None,
    /// The cluster id in force after the command.
    ClusterId(String),
    /// The job was created.
    JobCreated {
        /// Its full id.
        id: String,
    },
    /// A job with this id, or this name and version, exists.
    JobAlreadyExists {
        /// The id that was asked for.
        id: String,
    },
    /// The job was removed.
    JobRemoved,
    /// No job has this id.
    JobNotFound,
    /// The token does not match the job's.
    Forbidden,
    /// The job is deployed somewhere.
    StillInUse,
}
