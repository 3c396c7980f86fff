//! Host commands: registration, agent sessions, UP/DOWN, deregistration.

use std::collections::BTreeMap;

use helios_api::{AgentInfo, HostInfo};

use super::{CommandResult, Host, State};

impl State {
    pub(super) fn register_host(
        &mut self,
        index: u64,
        name: &str,
        id: &str,
        now_ms: i64,
    ) -> CommandResult {
        match self.hosts.get_mut(name) {
            Some(host) => {
                if host.id != id {
                    host.id = id.to_string();
                    host.modify_index = index;
                }
            }
            None => {
                self.hosts
                    .insert(name.to_string(), Host::registered(id, index, now_ms));
            }
        }
        CommandResult::Ok
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn agent_up(
        &mut self,
        index: u64,
        name: &str,
        id: &str,
        labels: &BTreeMap<String, String>,
        env: &BTreeMap<String, String>,
        host_info: Option<HostInfo>,
        agent_info: Option<AgentInfo>,
        now_ms: i64,
    ) -> CommandResult {
        let taken_over = self.hosts.get(name).is_some_and(|h| h.id != id);
        if taken_over {
            // A new agent owns the name: its predecessor's statuses no longer describe
            // anything; the deployments stay, as in Helios.
            self.task_statuses.remove(name);
        }
        let host = self
            .hosts
            .entry(name.to_string())
            .or_insert_with(|| Host::registered(id, index, now_ms));
        host.id = id.to_string();
        host.labels = labels.clone();
        host.env = env.clone();
        host.host_info = host_info;
        host.agent_info = agent_info;
        if !host.up {
            host.up = true;
            host.status_changed_ms = now_ms;
        }
        host.modify_index = index;
        CommandResult::Ok
    }

    pub(super) fn update_host_info(
        &mut self,
        index: u64,
        name: &str,
        host_info: Option<HostInfo>,
        agent_info: Option<AgentInfo>,
    ) -> CommandResult {
        let Some(host) = self.hosts.get_mut(name) else {
            return CommandResult::HostNotFound;
        };
        if host_info.is_some() {
            host.host_info = host_info;
        }
        if agent_info.is_some() {
            host.agent_info = agent_info;
        }
        host.modify_index = index;
        CommandResult::Ok
    }

    pub(super) fn hosts_down(
        &mut self,
        index: u64,
        names: &[String],
        now_ms: i64,
    ) -> CommandResult {
        for name in names {
            if let Some(host) = self.hosts.get_mut(name)
                && host.up
            {
                host.up = false;
                host.status_changed_ms = now_ms;
                host.modify_index = index;
            }
        }
        CommandResult::Ok
    }

    /// [`State::deregister_host`] only if the host is still DOWN since `down_since_ms`.
    pub(super) fn deregister_dead_host(&mut self, name: &str, down_since_ms: i64) -> CommandResult {
        match self.hosts.get(name) {
            None => CommandResult::HostNotFound,
            Some(host) if host.up || host.status_changed_ms != down_since_ms => {
                CommandResult::HostNotDown
            }
            Some(_) => self.deregister_host(name),
        }
    }

    pub(super) fn deregister_host(&mut self, name: &str) -> CommandResult {
        if self.hosts.remove(name).is_none() {
            return CommandResult::HostNotFound;
        }
        let jobs: Vec<String> = self
            .deployments
            .remove(name)
            .map(|d| d.into_keys().collect())
            .unwrap_or_default();
        self.ports.remove(name);
        self.task_statuses.remove(name);
        for job in jobs {
            if let Some(per_host) = self.history.get_mut(&job) {
                per_host.remove(name);
            }
        }
        CommandResult::Ok
    }
}
