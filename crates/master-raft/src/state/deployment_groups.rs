//! Deployment groups (reference §5.2): created once with their selectors, removed without
//! touching the deployments they made.

use helios_api::DeploymentGroup;

use super::{CommandResult, State, Versioned};

impl State {
    /// Creates `group` unless its name is taken: the same selectors again are
    /// `DeploymentGroupNotModified`, other selectors `DeploymentGroupConflict` (selectors
    /// cannot be edited; remove and recreate the group).
    pub(super) fn create_deployment_group(
        &mut self,
        index: u64,
        group: DeploymentGroup,
    ) -> CommandResult {
        if let Some(existing) = self.deployment_groups.get(&group.name) {
            return if existing.value.host_selectors == group.host_selectors {
                CommandResult::DeploymentGroupNotModified
            } else {
                CommandResult::DeploymentGroupConflict
            };
        }
        let name = group.name.clone();
        self.deployment_groups.insert(
            name.clone(),
            Versioned {
                create_index: index,
                modify_index: index,
                value: group,
            },
        );
        self.track_new_group(index, &name);
        CommandResult::DeploymentGroupCreated
    }

    /// Removes the group `name`; its deployments stay, as in Helios.
    pub(super) fn remove_deployment_group(&mut self, name: &str) -> CommandResult {
        self.group_progress.remove(name);
        self.rolling_groups.remove(name);
        match self.deployment_groups.remove(name) {
            Some(_) => CommandResult::Ok,
            None => CommandResult::DeploymentGroupNotFound,
        }
    }
}
