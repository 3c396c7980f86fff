//! Masters removed from the cluster (issue 14). openraft's membership says who is a member
//! now; this table remembers who was one and was removed, so that a removed master that comes
//! back with its old data is told why it may not take part (instead of being ignored, or
//! disturbing the cluster with elections), and so that its id is never given to a new member.

use serde::{Deserialize, Serialize};

use super::{CommandResult, State};

/// A master that was removed with `helios masters remove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemovedMaster {
    /// Its name (`--name`) when it was removed.
    pub name: String,
    /// When it was removed (the leader's clock, epoch ms).
    pub removed_at_ms: i64,
}

impl State {
    /// Records that the master with Raft id `id` was removed; the first record of an id stays.
    pub(super) fn master_removed(&mut self, id: u64, master: &RemovedMaster) -> CommandResult {
        if !self.removed_masters.contains_key(&id) {
            self.removed_masters.insert(id, master.clone());
        }
        CommandResult::Ok
    }

    /// Why the master with Raft id `id` may not take part in the cluster, if it was removed.
    pub fn removal_of(&self, id: u64) -> Option<String> {
        self.removed_masters.get(&id).map(|m| {
            format!(
                "master {} (id {id}) was removed from the cluster; it cannot rejoin with its \
                 old data: empty its data directory, start it with a new --id and --await-add, \
                 then run `helios masters add`",
                m.name
            )
        })
    }
}
