//! The openraft type configuration of the masters and the member record.

use std::fmt;

use serde::{Deserialize, Serialize};

use openraft::EntryPayload;
use openraft::alias::EntryOf;

use crate::state::{Command, CommandResult, State};

/// What every member knows about every other: its name and where to reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterNode {
    /// The master's name, as `helios masters` lists it.
    pub name: String,
    /// `host:port` of the cluster port (Raft RPCs, agent dispatcher).
    pub cluster_addr: String,
    /// `host:port` of the HTTP API (REST gateway), where followers forward requests.
    pub http_addr: String,
}

impl fmt::Display for MasterNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (cluster {}, http {})",
            self.name, self.cluster_addr, self.http_addr
        )
    }
}

openraft::declare_raft_types!(
    /// The masters' Raft types: replicated [`Command`]s answered by [`CommandResult`]s.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = u64,
        Node = MasterNode,
);

/// The state machine store of a master.
pub type StateMachine = helios_store::StateMachineStore<TypeConfig, Logic>;
/// The log store of a master.
pub type LogStore = helios_store::LogStore<TypeConfig>;
/// The Raft handle of a master.
pub type Raft = openraft::Raft<TypeConfig, StateMachine>;

/// Plugs [`State::apply_owned`] into the store's state machine.
pub struct Logic;

impl helios_store::StateMachineLogic<TypeConfig> for Logic {
    type State = State;

    fn apply(state: &mut State, entry: EntryOf<TypeConfig>) -> CommandResult {
        match entry.payload {
            EntryPayload::Normal(command) => state.apply_owned(entry.log_id.index, command),
            _ => CommandResult::None,
        }
    }
}
