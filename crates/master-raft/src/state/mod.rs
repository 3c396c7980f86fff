//! The replicated state of the masters and the deterministic function that changes it.
//!
//! `apply` reads no clock, draws no random number and does no I/O: the leader stamps times
//! and ids into a [`Command`] before proposing it, so every member computes the same state.
//! A refusal (the job exists, a wrong token) is a [`CommandResult`], replicated like any
//! other outcome, never a storage error.

mod command;

use std::collections::BTreeMap;

use helios_api::Job;
use openraft::EntryPayload;
use openraft::alias::EntryOf;
use serde::{Deserialize, Serialize};

pub use command::{Command, CommandResult};

use crate::raft::types::TypeConfig;

/// A stored object with the Raft indexes that created and last changed it, so watchers and
/// clients can resume from an index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versioned<T> {
    /// Log index of the command that created the object.
    pub create_index: u64,
    /// Log index of the command that last changed the object.
    pub modify_index: u64,
    /// The object.
    pub value: T,
}

/// Everything the masters replicate.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// Created once, when the cluster is initialised; agents refuse a cluster with another id.
    pub cluster_id: Option<String>,
    /// Jobs by full id (`name:version:hash`).
    pub jobs: BTreeMap<String, Versioned<Job>>,
    /// `name:version` → full id, so that a name and version are unique as in Helios.
    pub job_refs: BTreeMap<String, String>,
    /// Deployments: host → full job id → goal. Jobs deployed anywhere cannot be removed.
    pub deployments: BTreeMap<String, BTreeMap<String, Versioned<String>>>,
}

impl State {
    /// Whether the job is deployed on any host.
    pub fn is_deployed(&self, job_id: &str) -> bool {
        self.deployments
            .values()
            .any(|jobs| jobs.contains_key(job_id))
    }

    /// Applies one command at log index `index`.
    pub fn apply(&mut self, index: u64, command: &Command) -> CommandResult {
        match command {
            Command::InitCluster { cluster_id } => {
                if self.cluster_id.is_none() {
                    self.cluster_id = Some(cluster_id.clone());
                }
                CommandResult::ClusterId(self.cluster_id.clone().unwrap_or_default())
            }
            Command::CreateJob { job } => self.create_job(index, job),
            Command::RemoveJob { id, token } => self.remove_job(id, token),
        }
    }

    fn create_job(&mut self, index: u64, job: &Job) -> CommandResult {
        let (id, name_version) = job_keys(job);
        if self.jobs.contains_key(&id) || self.job_refs.contains_key(&name_version) {
            return CommandResult::JobAlreadyExists { id };
        }
        self.job_refs.insert(name_version, id.clone());
        self.jobs.insert(
            id.clone(),
            Versioned {
                create_index: index,
                modify_index: index,
                value: job.clone(),
            },
        );
        CommandResult::JobCreated { id }
    }

    fn remove_job(&mut self, id: &str, token: &str) -> CommandResult {
        let Some(job) = self.jobs.get(id) else {
            return CommandResult::JobNotFound;
        };
        if job.value.token != token {
            return CommandResult::Forbidden;
        }
        if self.is_deployed(id) {
            return CommandResult::StillInUse;
        }
        let (_, name_version) = job_keys(&job.value);
        self.jobs.remove(id);
        self.job_refs.remove(&name_version);
        CommandResult::JobRemoved
    }
}

/// The keys of a job in the tables: its full id and its `name:version`.
///
/// The leader only proposes jobs with a full id, so a missing part is never stored.
pub fn job_keys(job: &Job) -> (String, String) {
    match &job.id {
        Some(id) => (
            id.to_string(),
            format!("{}:{}", id.name, id.version.as_deref().unwrap_or_default()),
        ),
        None => (String::new(), String::new()),
    }
}

/// Plugs [`State::apply`] into the store's state machine.
pub struct Logic;

impl helios_store::StateMachineLogic<TypeConfig> for Logic {
    type State = State;

    fn apply(state: &mut State, entry: &EntryOf<TypeConfig>) -> CommandResult {
        match &entry.payload {
            EntryPayload::Normal(command) => state.apply(entry.log_id.index, command),
            _ => CommandResult::None,
        }
    }
}
