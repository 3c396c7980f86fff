//! Rolling updates and host tracking of deployment groups (reference §5.2, §5.3), decided in
//! `apply` so that every member runs the same rollout and a new leader goes on where the old
//! one stopped.
//!
//! * **Host tracking**: whenever a host registers, comes UP, changes labels or is removed,
//!   each group's matching hosts are recomputed (in Helios's natural order). A group with a
//!   job whose hosts changed starts a rollout with reason `HOSTS_CHANGED`, which deploys the
//!   job on new hosts and undeploys it from hosts that left (`removed`). A group that is
//!   rolling out is re-tracked when its rollout ends.
//! * **Rollouts**: a rolling update stores the job and options on the group and a plan
//!   ([`super::rollout_plan`]) as a [`RolloutRun`]. Steps that change deployments
//!   (`UNDEPLOY_OLD_JOBS`, `DEPLOY_NEW_JOB`, `FORCE_UNDEPLOY_JOBS`, `MARK_UNDEPLOYED`) run at
//!   once; steps that wait (`AWAIT_RUNNING`, `AWAIT_UNDEPLOYED`) stop the run until a later
//!   [`Command::AdvanceRollout`](super::Command::AdvanceRollout) finds what they wait for, or
//!   finds them timed out. That command names the run and the step it saw, so a step is
//!   applied exactly once whoever proposes it, however often.
//! * **Time**: a step's deadline counts from `step_since_ms`, the leader clock stamped in the
//!   command that made it current (Helios: the tasks node's modification time).

use std::cmp::Ordering;

use helios_api::model::deployment_group::STOPPED_BY_USER;
use helios_api::model::rolling_update_error::{
    DEPLOYMENT_NOT_FOUND_MESSAGE, JOB_ALREADY_DEPLOYED_MESSAGE,
    JOB_UNEXPECTEDLY_UNDEPLOYED_MESSAGE, TIMED_OUT_RETRIEVING_JOB_STATUS_MESSAGE,
    TIMED_OUT_WAITING_FOR_UNDEPLOY_MESSAGE, deploy_failure_message, step_error,
    timed_out_waiting_for_running,
};
use helios_api::{
    Deployment, DeploymentGroup, DeploymentGroupState, DeploymentGroupStatus, Goal,
    ResolvedRolloutOptions, RollingUpdateError, RollingUpdateReason, RolloutAction, RolloutOptions,
    RolloutTask, State as TaskState, ThrottleState,
};
use serde::{Deserialize, Serialize};

use super::rollout_plan::{PlanInput, plan};
use super::{CommandResult, State};

/// Previous task states a timed-out `AWAIT_RUNNING` error lists (Helios lists 10).
const PREVIOUS_STATES: usize = 10;

/// What the masters keep about a deployment group besides its definition: Helios's status
/// node, its `hosts` and `removed` lists and its tasks node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupProgress {
    /// The rollout status; `None` before the first rollout (`IDLE`).
    pub status: Option<DeploymentGroupStatus>,
    /// Registered hosts matching the group's selectors, in natural order.
    pub hosts: Vec<String>,
    /// Hosts that left the group and may still run its job, in natural order.
    pub removed: Vec<String>,
    /// The rollout under way, if any.
    pub run: Option<RolloutRun>,
    /// The master that asked for the last rolling update: the `deployerMaster` of the
    /// deployments made by rollouts that host tracking starts.
    pub master: String,
    /// A host joined, left or came UP while the group rolled out: tracked when the rollout
    /// ends.
    #[serde(default)]
    pub hosts_changed: bool,
    /// Log index of the last change.
    pub modify_index: u64,
}

/// A rollout under way (Helios's `DeploymentGroupTasks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutRun {
    /// Log index of the command that started it: names this run among the group's runs.
    pub id: u64,
    /// The plan.
    pub tasks: Vec<RolloutTask>,
    /// Index in `tasks` of the step to run next.
    pub task_index: usize,
    /// Leader clock (epoch ms) when the current step became current; its timeout counts
    /// from here.
    pub step_since_ms: i64,
    /// Log index at which the current step became current: a task status changed before it
    /// (say, from an earlier rollout) says nothing about this step.
    #[serde(default)]
    pub step_since_index: u64,
    /// The master that runs the steps, the `deployerMaster` of its deployments.
    pub master: String,
}

/// What the rollout engine needs to know about a rollout under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutWakeup {
    /// The group.
    pub group: String,
    /// The run ([`RolloutRun::id`]).
    pub run: u64,
    /// The step the run waits on.
    pub task_index: usize,
    /// Whether proposing [`Command::AdvanceRollout`](super::Command::AdvanceRollout) now
    /// would change something (the awaited state is there, or the step timed out).
    pub due: bool,
    /// When the step times out (leader clock, epoch ms).
    pub deadline_ms: i64,
}

/// What running one step decided.
enum Step {
    /// The step waits: nothing changes.
    Wait,
    /// The step is done: go to the next one.
    Next,
    /// The step failed: the group's error is `<host>: <message>`.
    Fail(RollingUpdateError, String),
}

/// What a step needs to know of its run.
struct Cursor {
    since_ms: i64,
    since_index: u64,
    master: String,
}

impl Cursor {
    fn of(run: &RolloutRun) -> Cursor {
        Cursor {
            since_ms: run.step_since_ms,
            since_index: run.step_since_index,
            master: run.master.clone(),
        }
    }
}

/// Helios's natural host order (numeric runs compared as numbers), then plain order so that
/// two distinct names never compare equal.
pub fn natural_order(a: &str, b: &str) -> Ordering {
    alphanumeric_sort::compare_str(a, b).then_with(|| a.cmp(b))
}

impl State {
    /// The progress of group `name`, or `None` when it has none (not tracked yet).
    pub fn group_progress(&self, name: &str) -> Option<&GroupProgress> {
        self.group_progress.get(name)
    }

    /// Starts a rolling update of group `name` to job `job` with the request's `options`
    /// (resolved here: request → job → defaults), asked of `master` at `now_ms`.
    pub(super) fn rolling_update(
        &mut self,
        index: u64,
        name: &str,
        job: &str,
        options: Option<&RolloutOptions>,
        master: &str,
        now_ms: i64,
    ) -> CommandResult {
        let Some(group) = self.deployment_groups.get(name) else {
            return CommandResult::DeploymentGroupNotFound;
        };
        let Some(job) = self.jobs.get(job) else {
            return CommandResult::JobNotFound;
        };
        let job = job.value.job();
        let options = RolloutOptions::resolve(options, job.rollout_options.as_ref());
        let mut group = group.clone();
        group.value.job_id = job.id.clone();
        group.value.rollout_options = Some(options.into());
        group.value.rolling_update_reason = Some(RollingUpdateReason::Manual);
        group.modify_index = index;
        self.deployment_groups.insert(name.to_string(), group);
        let mut progress = self.group_progress.get(name).cloned().unwrap_or_default();
        progress.master = master.to_string();
        self.group_progress.insert(name.to_string(), progress);
        self.retrack_hosts(index, name);
        self.start_run(index, name, now_ms);
        CommandResult::Ok
    }

    /// Runs the steps of group `name`'s rollout from `task_index` of run `run`, if that is
    /// still where it stands; `RolloutStale` otherwise (another proposal got there first).
    pub(super) fn advance_rollout(
        &mut self,
        index: u64,
        name: &str,
        run: u64,
        task_index: usize,
        master: &str,
        now_ms: i64,
    ) -> CommandResult {
        let current = self
            .group_progress
            .get(name)
            .and_then(|p| p.run.as_ref())
            .is_some_and(|r| r.id == run && r.task_index == task_index);
        if !current {
            return CommandResult::RolloutStale;
        }
        if let Some(r) = self
            .group_progress
            .get_mut(name)
            .and_then(|p| p.run.as_mut())
        {
            r.master = master.to_string();
        }
        self.run_steps(index, name, now_ms);
        CommandResult::Ok
    }

    /// Stops group `name`'s rollout: status FAILED with [`STOPPED_BY_USER`], the plan
    /// dropped. Deployments made so far stay.
    pub(super) fn stop_deployment_group(&mut self, index: u64, name: &str) -> CommandResult {
        if !self.deployment_groups.contains_key(name) {
            return CommandResult::DeploymentGroupNotFound;
        }
        self.rolling_groups.remove(name);
        let progress = self.group_progress.entry(name.to_string()).or_default();
        progress.run = None;
        progress.status = Some(DeploymentGroupStatus::failed(STOPPED_BY_USER));
        progress.modify_index = index;
        CommandResult::Ok
    }

    /// After host `host` registered, came UP, changed labels or was removed: updates every
    /// group it joins or leaves, and starts `HOSTS_CHANGED` rollouts where Helios would.
    /// `came_up` also counts a group host that came UP without the group's job (it was DOWN
    /// when the group rolled out) as a change.
    pub(super) fn track_host(&mut self, index: u64, host: &str, came_up: bool, now_ms: i64) {
        let labels = self.hosts.get(host).map(|h| h.labels.clone());
        let mut changed = Vec::new();
        for (name, group) in self.deployment_groups.iter() {
            let group = &group.value;
            let matches = labels.as_ref().is_some_and(|l| group.matches_host(l));
            let progress = self.group_progress.get(name);
            let listed = progress.is_some_and(|p| p.hosts.iter().any(|h| h == host));
            let removed = progress.is_some_and(|p| p.removed.iter().any(|h| h == host));
            let lacks_job = came_up && matches && self.lacks_group_job(name, group, host);
            if matches != listed || (removed && !matches) || lacks_job {
                changed.push(name.clone());
            }
        }
        for name in changed {
            if self.is_rolling_out(&name) {
                // Re-tracked when the rollout ends.
                if let Some(progress) = self.group_progress.get_mut(&name) {
                    progress.hosts_changed = true;
                    progress.modify_index = index;
                }
                continue;
            }
            self.retrack_hosts(index, &name);
            if self.should_follow_hosts(&name) {
                self.start_hosts_changed_run(index, &name, now_ms);
            }
        }
    }

    /// Computes the hosts of a group that was just created (it has no job to roll out).
    pub(super) fn track_new_group(&mut self, index: u64, name: &str) {
        self.retrack_hosts(index, name);
    }

    /// The rollouts under way, for the leader's rollout engine: which step each waits on,
    /// whether it can advance at `now_ms`, and when it times out.
    pub fn rollout_wakeups(&self, now_ms: i64) -> Vec<RolloutWakeup> {
        let mut wakeups = Vec::new();
        for name in self.rolling_groups.iter() {
            let Some(run) = self.group_progress.get(name).and_then(|p| p.run.as_ref()) else {
                continue;
            };
            let Some(group) = self.deployment_groups.get(name) else {
                continue;
            };
            let options = options_of(&group.value);
            let deadline_ms = run
                .step_since_ms
                .saturating_add(options.timeout.saturating_mul(1000))
                .saturating_add(1);
            let due = match run.tasks.get(run.task_index) {
                Some(task) => !matches!(
                    self.check_step(name, &group.value, task, &Cursor::of(run), now_ms),
                    Step::Wait
                ),
                None => true,
            };
            wakeups.push(RolloutWakeup {
                group: name.clone(),
                run: run.id,
                task_index: run.task_index,
                due,
                deadline_ms,
            });
        }
        wakeups
    }

    fn is_rolling_out(&self, name: &str) -> bool {
        self.rolling_groups.contains(name)
    }

    /// Whether a change of hosts rolls group `name` out again (Helios's "should update"): it
    /// has a job, and it never rolled out, is done, or failed in a rollout that host
    /// tracking started.
    fn should_follow_hosts(&self, name: &str) -> bool {
        let Some(group) = self.deployment_groups.get(name) else {
            return false;
        };
        if group.value.job_id.is_none() {
            return false;
        }
        match self
            .group_progress
            .get(name)
            .and_then(|p| p.status.as_ref())
        {
            None => true,
            Some(s) => match s.state {
                DeploymentGroupState::Done => true,
                DeploymentGroupState::RollingOut => false,
                DeploymentGroupState::Failed => {
                    group.value.rolling_update_reason == Some(RollingUpdateReason::HostsChanged)
                }
            },
        }
    }

    /// Whether `host` has no deployment of the group's job made by the group.
    fn lacks_group_job(&self, name: &str, group: &DeploymentGroup, host: &str) -> bool {
        let Some(job) = &group.job_id else {
            return false;
        };
        self.deployments
            .get(host)
            .and_then(|d| d.get(&job.to_string()))
            .is_none_or(|d| d.value.deployment_group_name.as_deref() != Some(name))
    }

    /// Recomputes group `name`'s hosts from every registered host; hosts that left join
    /// `removed` until a rollout undeploys them (or they are deregistered).
    fn retrack_hosts(&mut self, index: u64, name: &str) {
        let Some(group) = self.deployment_groups.get(name) else {
            return;
        };
        let mut hosts: Vec<String> = self
            .hosts
            .iter()
            .filter(|(_, h)| group.value.matches_host(&h.labels))
            .map(|(n, _)| n.clone())
            .collect();
        hosts.sort_by(|a, b| natural_order(a, b));
        let progress = self.group_progress.get(name).cloned().unwrap_or_default();
        let members: std::collections::BTreeSet<&String> = hosts.iter().collect();
        let mut removed: Vec<String> = progress
            .hosts
            .iter()
            .chain(progress.removed.iter())
            .filter(|h| !members.contains(h) && self.hosts.contains_key(*h))
            .cloned()
            .collect();
        removed.sort_by(|a, b| natural_order(a, b));
        removed.dedup();
        if hosts != progress.hosts || removed != progress.removed {
            let progress = self.group_progress.entry(name.to_string()).or_default();
            progress.hosts = hosts;
            progress.removed = removed;
            progress.modify_index = index;
        }
    }

    fn start_hosts_changed_run(&mut self, index: u64, name: &str, now_ms: i64) {
        if let Some(group) = self.deployment_groups.get_mut(name) {
            group.value.rolling_update_reason = Some(RollingUpdateReason::HostsChanged);
            group.modify_index = index;
        }
        self.start_run(index, name, now_ms);
    }

    /// Plans a rollout of group `name` over its UP hosts and runs its first steps.
    fn start_run(&mut self, index: u64, name: &str, now_ms: i64) {
        let Some(group) = self.deployment_groups.get(name) else {
            return;
        };
        let options = options_of(&group.value);
        let progress = self.group_progress.get(name).cloned().unwrap_or_default();
        let tasks = plan(
            PlanInput {
                hosts: &progress.hosts,
                removed: &progress.removed,
                parallelism: usize::try_from(options.parallelism).unwrap_or(1),
                overlap: options.overlap,
            },
            |h| self.hosts.get(h).is_some_and(|h| h.up),
        );
        self.rolling_groups.insert(name.to_string());
        let progress = self.group_progress.entry(name.to_string()).or_default();
        progress.status = Some(DeploymentGroupStatus::rolling_out());
        progress.run = Some(RolloutRun {
            id: index,
            tasks,
            task_index: 0,
            step_since_ms: now_ms,
            step_since_index: index,
            master: progress.master.clone(),
        });
        progress.modify_index = index;
        self.run_steps(index, name, now_ms);
    }

    /// Runs group `name`'s steps until one waits, one fails, or the plan is complete; then
    /// re-tracks the hosts of a finished group (they may have changed during the rollout).
    fn run_steps(&mut self, index: u64, name: &str, now_ms: i64) {
        loop {
            let Some(group) = self.deployment_groups.get(name).map(|g| g.value.clone()) else {
                return;
            };
            let Some(run) = self.group_progress.get(name).and_then(|p| p.run.as_ref()) else {
                return;
            };
            let cursor = Cursor::of(run);
            let Some(task) = run.tasks.get(run.task_index).cloned() else {
                self.finish_run(index, name, DeploymentGroupStatus::done(), now_ms);
                return;
            };
            let task = &task;
            let step = match task.action {
                // A host deregistered since the plan was made has left the group (with its
                // deployments): there is nothing to do there, unlike Helios, which failed
                // the rollout with HOST_NOT_FOUND.
                _ if !self.hosts.contains_key(&task.target) => Step::Next,
                RolloutAction::AwaitRunning | RolloutAction::AwaitUndeployed => {
                    self.check_step(name, &group, task, &cursor, now_ms)
                }
                _ => self.change_step(index, name, &group, task, &cursor.master),
            };
            let options = options_of(&group);
            match step {
                Step::Wait => return,
                Step::Fail(kind, message) if !options.ignore_failures => {
                    let error = step_error(&task.target, &message);
                    tracing::debug!(group = name, ?kind, %error, "rollout step failed");
                    self.finish_run(index, name, DeploymentGroupStatus::failed(error), now_ms);
                    return;
                }
                Step::Fail(kind, message) => {
                    let error = step_error(&task.target, &message);
                    tracing::debug!(group = name, ?kind, %error, "rollout step failed; ignored");
                    self.next_step(index, name, now_ms);
                }
                Step::Next => self.next_step(index, name, now_ms),
            }
        }
    }

    fn next_step(&mut self, index: u64, name: &str, now_ms: i64) {
        if let Some(progress) = self.group_progress.get_mut(name)
            && let Some(run) = progress.run.as_mut()
        {
            run.task_index += 1;
            run.step_since_ms = now_ms;
            run.step_since_index = index;
            progress.modify_index = index;
        }
    }

    fn finish_run(&mut self, index: u64, name: &str, status: DeploymentGroupStatus, now_ms: i64) {
        self.rolling_groups.remove(name);
        let Some(progress) = self.group_progress.get_mut(name) else {
            return;
        };
        progress.run = None;
        progress.status = Some(status);
        progress.modify_index = index;
        // Hosts that changed while the group rolled out are tracked now; a finished rollout
        // that changed nothing does not start another one.
        let pending = std::mem::take(&mut progress.hosts_changed);
        let before = (progress.hosts.clone(), progress.removed.clone());
        self.retrack_hosts(index, name);
        let after = self
            .group_progress
            .get(name)
            .map(|p| (p.hosts.clone(), p.removed.clone()));
        if (pending || after.as_ref() != Some(&before)) && self.should_follow_hosts(name) {
            self.start_hosts_changed_run(index, name, now_ms);
        }
    }

    /// A waiting step: does what it waits for hold, or did it time out?
    fn check_step(
        &self,
        name: &str,
        group: &DeploymentGroup,
        task: &RolloutTask,
        cursor: &Cursor,
        now_ms: i64,
    ) -> Step {
        let Some(job_id) = &group.job_id else {
            return Step::Next;
        };
        let job = job_id.to_string();
        let host = task.target.as_str();
        let options = options_of(group);
        let timed_out =
            now_ms.saturating_sub(cursor.since_ms) > options.timeout.saturating_mul(1000);
        let versioned = self.task_statuses.get(host).and_then(|s| s.get(&job));
        // Reported during this step, not left over from an earlier rollout.
        let fresh = versioned.is_some_and(|s| s.modify_index >= cursor.since_index);
        let status = versioned.map(|s| &s.value);
        match task.action {
            RolloutAction::AwaitRunning => {
                let deployment = self.deployments.get(host).and_then(|d| d.get(&job));
                let owned = deployment
                    .is_some_and(|d| d.value.deployment_group_name.as_deref() == Some(name));
                match status {
                    Some(s) if s.state == TaskState::Running => match deployment {
                        None => Step::Fail(
                            RollingUpdateError::JobUnexpectedlyUndeployed,
                            DEPLOYMENT_NOT_FOUND_MESSAGE.to_string(),
                        ),
                        Some(_) if owned => Step::Next,
                        Some(_) => Step::Fail(
                            RollingUpdateError::JobAlreadyDeployed,
                            JOB_ALREADY_DEPLOYED_MESSAGE.to_string(),
                        ),
                    },
                    _ if deployment.is_none() => Step::Fail(
                        RollingUpdateError::JobUnexpectedlyUndeployed,
                        JOB_UNEXPECTEDLY_UNDEPLOYED_MESSAGE.to_string(),
                    ),
                    // Beyond Helios: an image the agent cannot find will not appear by
                    // waiting, so the step fails at once instead of at its timeout.
                    Some(s)
                        if timed_out || (fresh && s.throttled == ThrottleState::ImageMissing) =>
                    {
                        let previous = self.previous_states(&job, host);
                        let (kind, message) = timed_out_waiting_for_running(
                            job_id,
                            s.state,
                            &previous,
                            s.throttled,
                            &s.container_error,
                        );
                        Step::Fail(kind, message)
                    }
                    None if timed_out => Step::Fail(
                        RollingUpdateError::TimedOutRetrievingJobStatus,
                        TIMED_OUT_RETRIEVING_JOB_STATUS_MESSAGE.to_string(),
                    ),
                    _ => Step::Wait,
                }
            }
            RolloutAction::AwaitUndeployed => match status {
                None => Step::Next,
                Some(_) if timed_out => Step::Fail(
                    RollingUpdateError::TimedOutWaitingForJobToUndeploy,
                    TIMED_OUT_WAITING_FOR_UNDEPLOY_MESSAGE.to_string(),
                ),
                Some(_) => Step::Wait,
            },
            _ => Step::Next,
        }
    }

    /// The last states of `job` on `host`, oldest first, from its history.
    fn previous_states(&self, job: &str, host: &str) -> Vec<TaskState> {
        let events = self.history.get(job).and_then(|h| h.get(host));
        let mut states: Vec<TaskState> = events
            .map(|e| e.iter().rev().take(PREVIOUS_STATES).map(|e| e.status.state))
            .into_iter()
            .flatten()
            .collect();
        states.reverse();
        states
    }

    /// A step that changes deployments, done at once.
    fn change_step(
        &mut self,
        index: u64,
        name: &str,
        group: &DeploymentGroup,
        task: &RolloutTask,
        master: &str,
    ) -> Step {
        let host = task.target.as_str();
        let options = options_of(group);
        match task.action {
            RolloutAction::UndeployOldJobs => self.undeploy_group_jobs(name, group, host, true),
            RolloutAction::ForceUndeployJobs => self.undeploy_group_jobs(name, group, host, false),
            RolloutAction::DeployNewJob => {
                let Some(job_id) = group.job_id.clone() else {
                    return Step::Next;
                };
                let deployment = Deployment {
                    job_id: job_id.clone(),
                    goal: Goal::Start,
                    deployer_user: None,
                    deployer_master: Some(master.to_string()),
                    deployment_group_name: Some(name.to_string()),
                };
                match self.deploy(index, host, &deployment, &options.token) {
                    CommandResult::Ok | CommandResult::JobAlreadyDeployed => Step::Next,
                    CommandResult::PortConflict { port } => {
                        let owner = self
                            .ports
                            .get(host)
                            .and_then(|p| p.get(&port))
                            .cloned()
                            .unwrap_or_default();
                        let message = format!(
                            "port {port} of job {job_id} is taken on host {host} by job {owner}"
                        );
                        Step::Fail(
                            RollingUpdateError::PortConflict,
                            deploy_failure_message(RollingUpdateError::PortConflict, &message),
                        )
                    }
                    other => refusal(other, &job_id.to_string(), host),
                }
            }
            RolloutAction::MarkUndeployed => {
                if let Some(progress) = self.group_progress.get_mut(name) {
                    progress.removed.retain(|h| h != host);
                    progress.modify_index = index;
                }
                Step::Next
            }
            RolloutAction::AwaitRunning | RolloutAction::AwaitUndeployed => Step::Next,
        }
    }

    /// Undeploys from `host` every deployment group `name` made (and, with `migrate`, every
    /// deployment of its job); `keep_current` spares the group's own START deployment of its
    /// job (Helios's "redundant" undeploy).
    fn undeploy_group_jobs(
        &mut self,
        name: &str,
        group: &DeploymentGroup,
        host: &str,
        keep_current: bool,
    ) -> Step {
        // `run_steps` passes hosts that are not registered before a step gets here.
        let options = options_of(group);
        let current = group.job_id.as_ref().map(|j| j.to_string());
        let doomed: Vec<String> = self
            .deployments
            .get(host)
            .map(|d| {
                d.iter()
                    .filter(|(job, d)| {
                        let owned = d.value.deployment_group_name.as_deref() == Some(name);
                        let same_job = current.as_deref() == Some(job.as_str());
                        let redundant = owned && same_job && d.value.goal == Goal::Start;
                        (owned || (options.migrate && same_job)) && !(keep_current && redundant)
                    })
                    .map(|(job, _)| job.clone())
                    .collect()
            })
            .unwrap_or_default();
        // All or nothing, as Helios's single transaction: a refused job leaves the others.
        if let Some((job, refused)) = doomed
            .iter()
            .find_map(|job| Some((job, self.check_token(job, &options.token)?)))
        {
            return refusal(refused, job, host);
        }
        for job in doomed {
            match self.undeploy(host, &job, &options.token) {
                CommandResult::Ok | CommandResult::JobNotFound => {}
                other => return refusal(other, &job, host),
            }
        }
        Step::Next
    }
}

/// A group's rollout options with Helios's defaults for what is unset.
fn options_of(group: &DeploymentGroup) -> ResolvedRolloutOptions {
    group
        .rollout_options
        .as_ref()
        .map(RolloutOptions::resolved)
        .unwrap_or_default()
}

/// The step failure of a deploy or undeploy refused with `result`.
fn refusal(result: CommandResult, job: &str, host: &str) -> Step {
    match result {
        CommandResult::Forbidden => Step::Fail(
            RollingUpdateError::TokenVerificationError,
            format!("token verification failed for job {job}"),
        ),
        CommandResult::JobNotFound => Step::Fail(
            RollingUpdateError::JobNotFound,
            format!("job {job} not found"),
        ),
        CommandResult::HostNotFound => Step::Fail(
            RollingUpdateError::HostNotFound,
            format!("host {host} is not registered"),
        ),
        other => Step::Fail(
            RollingUpdateError::Unknown,
            format!("unexpected result {other:?} for job {job}"),
        ),
    }
}
