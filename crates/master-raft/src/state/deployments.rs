//! Deployment commands (deploy, goal, undeploy) and the task statuses agents report.

use helios_api::{Deployment, Goal};

use super::{CommandResult, State, StatusUpdate, StoredEvent, Versioned};

impl State {
    /// `Forbidden` when `token` is not the job's (an unknown job is not refused here).
    pub(super) fn check_token(&self, job: &str, token: &str) -> Option<CommandResult> {
        match self.jobs.get(job) {
            Some(j) if j.value.token() != token => Some(CommandResult::Forbidden),
            _ => None,
        }
    }

    pub(super) fn deploy(
        &mut self,
        index: u64,
        host: &str,
        deployment: &Deployment,
        token: &str,
    ) -> CommandResult {
        let job_id = deployment.job_id.to_string();
        let Some(job) = self.jobs.get(&job_id) else {
            return CommandResult::JobNotFound;
        };
        if job.value.token() != token {
            return CommandResult::Forbidden;
        }
        if !self.hosts.contains_key(host) {
            return CommandResult::HostNotFound;
        }
        if self
            .deployments
            .get(host)
            .is_some_and(|d| d.contains_key(&job_id))
        {
            return CommandResult::JobAlreadyDeployed;
        }
        let static_ports: Vec<i32> = job.value.static_ports().to_vec();
        let reserved = self.ports.get(host);
        if let Some(port) = static_ports
            .iter()
            .find(|p| reserved.is_some_and(|r| r.contains_key(p)))
        {
            return CommandResult::PortConflict { port: *port };
        }
        let reserved = self.ports.entry(host.to_string()).or_default();
        for port in static_ports {
            reserved.insert(port, job_id.clone());
        }
        self.deployments
            .entry(host.to_string())
            .or_default()
            .insert(job_id, Versioned::new(index, deployment.clone()));
        CommandResult::Ok
    }

    pub(super) fn set_goal(
        &mut self,
        index: u64,
        host: &str,
        job: &str,
        goal: Goal,
        token: &str,
    ) -> CommandResult {
        if !self.hosts.contains_key(host) {
            return CommandResult::HostNotFound;
        }
        if let Some(refusal) = self.check_token(job, token) {
            return refusal;
        }
        let Some(d) = self.deployments.get_mut(host).and_then(|d| d.get_mut(job)) else {
            return CommandResult::JobNotDeployed;
        };
        if d.value.goal != goal {
            d.value.goal = goal;
            d.modify_index = index;
        }
        CommandResult::Ok
    }

    pub(super) fn undeploy(&mut self, host: &str, job: &str, token: &str) -> CommandResult {
        if !self.hosts.contains_key(host) {
            return CommandResult::HostNotFound;
        }
        let deployed = self
            .deployments
            .get(host)
            .is_some_and(|d| d.contains_key(job));
        if !deployed {
            return CommandResult::JobNotFound;
        }
        if let Some(refusal) = self.check_token(job, token) {
            return refusal;
        }
        if let Some(d) = self.deployments.get_mut(host) {
            d.remove(job);
            if d.is_empty() {
                self.deployments.remove(host);
            }
        }
        if let Some(p) = self.ports.get_mut(host) {
            p.retain(|_, owner| owner != job);
            if p.is_empty() {
                self.ports.remove(host);
            }
        }
        CommandResult::Ok
    }

    pub(super) fn report_statuses(
        &mut self,
        index: u64,
        updates: &[StatusUpdate],
    ) -> CommandResult {
        let limit = self.history_limit();
        for u in updates {
            if !self.hosts.contains_key(&u.host) {
                continue;
            }
            match &u.status {
                None => {
                    if let Some(s) = self.task_statuses.get_mut(&u.host) {
                        s.remove(&u.job);
                    }
                }
                Some(reported) => {
                    let mut status = reported.clone();
                    let earlier = self
                        .task_statuses
                        .get(&u.host)
                        .and_then(|s| s.get(&u.job))
                        .map(|v| &v.value)
                        .or_else(|| {
                            let events = self.history.get(&u.job)?.get(&u.host)?;
                            events.back().map(|e| &e.status)
                        });
                    status.share_env(earlier);
                    let deployed = self
                        .deployments
                        .get(&u.host)
                        .is_some_and(|d| d.contains_key(&u.job));
                    if deployed {
                        let statuses = self.task_statuses.entry(u.host.clone()).or_default();
                        match statuses.get_mut(&u.job) {
                            Some(v) => {
                                v.value = status.clone();
                                v.modify_index = index;
                            }
                            None => {
                                statuses
                                    .insert(u.job.clone(), Versioned::new(index, status.clone()));
                            }
                        }
                    } else if let Some(s) = self.task_statuses.get_mut(&u.host) {
                        // An undeployed task winding down: keep history, not a status.
                        s.remove(&u.job);
                    }
                    if self.jobs.contains_key(&u.job) {
                        let events = self
                            .history
                            .entry(u.job.clone())
                            .or_default()
                            .entry(u.host.clone())
                            .or_default();
                        let changed = events.back().is_none_or(|last| {
                            last.status.state != status.state
                                || last.status.container_id != status.container_id
                                || last.status.throttled != status.throttled
                        });
                        if changed {
                            events.push_back(StoredEvent {
                                status: status.clone(),
                                timestamp: u.timestamp,
                            });
                            while events.len() > limit {
                                events.pop_front();
                            }
                        }
                    }
                }
            }
        }
        CommandResult::Ok
    }
}
