//! One supervisor per job on this agent: a task that drives the job's container towards its
//! goal and reports every state change (reference §4.1, §4.2).
//!
//! The loop asks [`step::step`] what to do and does it:
//! * a container life: adopt the recorded container if it still runs, else `PULLING_IMAGE`,
//!   `CREATING`, `STARTING`; then, if the job has a health check, `HEALTHCHECKING` until a
//!   probe passes (backoff 1 s → 30 s, no overall timeout), then `RUNNING`. Unlike Helios
//!   (issue #1090), an adopted container is health-checked again before it counts as
//!   healthy. A container that dies during the checks is reported `EXITED`, then `FAILED`,
//!   and restarted after the restart delay;
//! * waiting for the running container to exit (`docker wait`, not polling), then `EXITED`;
//! * the restart delay of [`policy`] (throttles `FLAPPING`, `IMAGE_MISSING`,
//!   `IMAGE_PULL_FAILED`);
//! * a stop for STOP or UNDEPLOY: `STOPPING`; if the container reached `RUNNING` and the job
//!   has a `gracePeriod`, that many seconds of waiting (load balancers drain; a goal back to
//!   START meanwhile cancels the stop and the task is `RUNNING` again); then `docker stop -t
//!   secondsToWaitBeforeKill`, `docker kill` while it still runs, `STOPPED`.
//!
//! A goal change interrupts waits, pulls and health checks. Docker failures become `FAILED`
//! statuses, never errors, and so does a failed write of the job's allocated ports: no
//! container is created before they are on disk (the container error names the file and the
//! I/O error, and the next life waits for the writer's retry). Supervisors never remove the container they run; old exited ones
//! of the same job are removed whenever a newer one is created, keeping the newest
//! `keep_exited`.

pub mod policy;
pub mod step;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use helios_api::{Goal, Job, JobId, PortMapping, State, TaskStatus, ThrottleState};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::backoff::Backoff;
use crate::file_writer::Persisted;
use crate::health;
use crate::reporter::StatusHub;
use crate::runtime::spec::{self, ContainerDefaults, LABEL_AGENT, LABEL_JOB};
use crate::runtime::{ContainerRuntime, RuntimeError};
use policy::{FlapController, restart_delay};
use step::{Action, Observed, step};

/// How often a watched container is inspected in case `docker wait` missed its exit.
const WATCH_INSPECT_PERIOD: Duration = Duration::from_secs(30);

/// Job ids the `released` channel (supervisors to the worker) holds.
///
/// Why 64: each supervisor sends one id, as its last act, so the channel never holds more ids
/// than there are supervisors ending at once; 64 lets a COMPLETE set that removes many jobs
/// finish without any supervisor waiting, while the worker forgets each in microseconds. A
/// supervisor that finds it full waits in its own task, holding nothing (its container is
/// stopped and its status reported). That wait cannot deadlock: the only receiver is the
/// worker's loop, which never sends on the channel and never waits for a supervisor, and at
/// shutdown the worker aborts every supervisor, a waiting one included.
pub const RELEASED_QUEUE: usize = 64;

/// What every supervisor of an agent shares.
pub struct Context {
    /// The container runtime.
    pub runtime: Arc<dyn ContainerRuntime>,
    /// Where statuses go.
    pub hub: Arc<StatusHub>,
    /// Agent-wide container settings.
    pub defaults: ContainerDefaults,
    /// The Docker endpoint (health checks probe its address).
    pub docker_host: String,
    /// Exited containers kept per job.
    pub keep_exited: usize,
    /// The agent's metrics.
    pub metrics: Arc<crate::metrics::AgentMetrics>,
}

/// The worker's handle on a running supervisor.
pub struct SupervisorHandle {
    /// The goal the supervisor works towards.
    goal: watch::Sender<Goal>,
    /// The supervisor task.
    task: JoinHandle<()>,
}

impl SupervisorHandle {
    /// Changes the goal (no-op if unchanged).
    pub fn set_goal(&self, goal: Goal) {
        self.goal.send_if_modified(|g| {
            let changed = *g != goal;
            *g = goal;
            changed
        });
    }

    /// The current goal.
    pub fn goal(&self) -> Goal {
        *self.goal.borrow()
    }

    /// Whether the supervisor task has ended.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Ends the supervisor at once, leaving its container as it is (agent shutdown).
    pub fn abort(&self) {
        self.task.abort();
    }
}

impl Drop for SupervisorHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a supervisor starts from.
pub struct Task {
    /// The job's id.
    pub job_id: JobId,
    /// The job.
    pub job: Job,
    /// The job's ports with their external ports allocated.
    pub ports: BTreeMap<String, PortMapping>,
    /// The goal to work towards.
    pub goal: Goal,
    /// The job's last known status (its container is adopted if it still runs).
    pub previous: Option<TaskStatus>,
    /// Reached once the execution with these ports is on disk: no container is created before.
    pub ports_saved: Persisted,
}

/// Starts a supervisor for `task`. When an UNDEPLOY is done the supervisor sends the job id
/// on `released` (a channel of [`RELEASED_QUEUE`] ids) and ends.
pub fn spawn(ctx: Arc<Context>, task: Task, released: mpsc::Sender<JobId>) -> SupervisorHandle {
    let Task {
        job_id,
        job,
        ports,
        goal,
        previous,
        ports_saved,
    } = task;
    let (goal_tx, goal_rx) = watch::channel(goal);
    let env = spec::container_env(&ctx.defaults, &job, &ports);
    let container_id = previous.as_ref().and_then(|s| s.container_id.clone());
    let stopped = previous
        .as_ref()
        .is_some_and(|s| s.state == State::Stopped && goal != Goal::Start);
    let throttle = previous.as_ref().map(|s| s.throttled).unwrap_or_default();
    let sup = Supervisor {
        ctx,
        job_id,
        job,
        ports,
        env,
        goal,
        goal_rx,
        container_id,
        running: None,
        not_before: None,
        stopped,
        throttle,
        container_error: String::new(),
        flap: FlapController::default(),
        ports_saved,
        released,
        lives: 0,
    };
    SupervisorHandle {
        goal: goal_tx,
        task: tokio::spawn(sup.run()),
    }
}

/// The current instant on tokio's clock (which paused-time tests control).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Resolves `fut` unless the goal leaves START first (then `None`).
async fn unless_goal_leaves_start<T>(
    goal_rx: &mut watch::Receiver<Goal>,
    fut: impl Future<Output = T>,
) -> Option<T> {
    tokio::pin!(fut);
    loop {
        if *goal_rx.borrow_and_update() != Goal::Start {
            return None;
        }
        tokio::select! {
            r = &mut fut => return Some(r),
            changed = goal_rx.changed() => {
                if changed.is_err() {
                    return Some(fut.await);
                }
            }
        }
    }
}

struct Supervisor {
    ctx: Arc<Context>,
    job_id: JobId,
    job: Job,
    /// The job's ports with external ports allocated (fixed for the execution).
    ports: BTreeMap<String, PortMapping>,
    /// The container environment (fixed for the execution).
    env: BTreeMap<String, String>,
    /// The goal being worked on.
    goal: Goal,
    goal_rx: watch::Receiver<Goal>,
    /// The job's last container.
    container_id: Option<String>,
    /// The container, when known to be running.
    running: Option<String>,
    /// Restart delay deadline.
    not_before: Option<Instant>,
    /// The stop for the current STOP/UNDEPLOY goal is done.
    stopped: bool,
    throttle: ThrottleState,
    container_error: String,
    flap: FlapController,
    /// Reached once the execution with `ports` is on disk.
    ports_saved: Persisted,
    released: mpsc::Sender<JobId>,
    /// Containers this supervisor started (the ones after the first are restarts).
    lives: u32,
}

impl Supervisor {
    async fn run(mut self) {
        loop {
            self.refresh_goal();
            let observed = Observed {
                running: self.running.clone(),
                container_id: self.container_id.clone(),
                not_before: self.not_before,
                stopped: self.stopped,
            };
            match step(self.goal, &observed, now()) {
                Action::Run => self.life().await,
                Action::Watch(id) => self.watch(&id).await,
                Action::Delay(t) => {
                    let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(t));
                    let _ = unless_goal_leaves_start(&mut self.goal_rx, sleep).await;
                }
                Action::Stop(id) => self.stop(id).await,
                Action::Idle => {
                    if self.goal_rx.changed().await.is_err() {
                        return;
                    }
                }
                Action::Release => {
                    // May wait for room: see RELEASED_QUEUE.
                    let _ = self.released.send(self.job_id.clone()).await;
                    return;
                }
            }
        }
    }

    /// Takes in a goal change: entering or leaving START resets the stop and the restart
    /// delay (an explicit start is not throttled by the previous exit).
    fn refresh_goal(&mut self) {
        let goal = *self.goal_rx.borrow_and_update();
        if goal == self.goal {
            return;
        }
        let was_start = self.goal == Goal::Start;
        self.goal = goal;
        if was_start != (goal == Goal::Start) {
            self.stopped = false;
            self.not_before = None;
        }
    }

    fn emit(&self, state: State) {
        let status = TaskStatus {
            container_error: self.container_error.clone(),
            container_id: self.container_id.clone(),
            env: self.env.clone(),
            goal: self.goal,
            job: self.job.clone(),
            ports: self.ports.clone(),
            state,
            throttled: self.throttle,
        };
        self.ctx.hub.set(&self.job_id, status);
    }

    fn fail(&mut self, error: RuntimeError) {
        match error {
            RuntimeError::ImageNotFound(_) => self.throttle = ThrottleState::ImageMissing,
            RuntimeError::PullTimedOut(_) => self.throttle = ThrottleState::ImagePullFailed,
            _ => {}
        }
        self.failed(error.to_string());
    }

    /// `FAILED` with `error` as the container error; the next life comes after the delay.
    fn failed(&mut self, error: String) {
        tracing::warn!(job = %self.job_id, error = %error, "task failed");
        self.ctx.metrics.containers_failed.inc();
        if self.throttle != ThrottleState::No {
            self.ctx.metrics.throttles.inc();
        }
        self.container_error = error;
        self.running = None;
        self.emit(State::Failed);
        self.not_before = Some(now() + restart_delay(self.throttle));
    }

    /// One container life, up to RUNNING (or a failure, or a goal change).
    async fn life(&mut self) {
        let rt = self.ctx.runtime.clone();
        if let Some(id) = self.container_id.clone() {
            match rt.inspect(&id).await {
                Ok(Some(info)) if info.running => {
                    tracing::info!(job = %self.job_id, container = %id, "adopting running container");
                    // A fresh flap record, and a container exists: no throttle applies.
                    self.throttle = ThrottleState::No;
                    return self.healthy_then_running(id).await;
                }
                Ok(_) => {}
                Err(e) => return self.fail(e),
            }
        }
        self.container_id = None;
        self.container_error.clear();
        self.emit(State::PullingImage);
        let image = self.job.image.clone().unwrap_or_default();
        let pull_started = std::time::Instant::now();
        let pulled = {
            let rt = rt.clone();
            let image = image.clone();
            unless_goal_leaves_start(&mut self.goal_rx, async move {
                ensure_image(rt.as_ref(), &image).await
            })
            .await
        };
        match pulled {
            None => return,
            Some(Err(e)) => return self.fail(e),
            Some(Ok(())) => self.ctx.metrics.image_ready_after(pull_started.elapsed()),
        }
        self.emit(State::Creating);
        // A container must never use ports that a restarted agent would not know of.
        if let Err(e) = self.ports_saved.wait().await {
            return self.failed(format!("the job's ports are not persisted: {e}"));
        }
        let spec = spec::build(
            &self.ctx.defaults,
            &self.job_id,
            &self.job,
            &self.ports,
            rand::random(),
        );
        let id = match rt.create(&spec).await {
            Ok(id) => id,
            Err(e) => return self.fail(e),
        };
        self.container_id = Some(id.clone());
        // Bounds the job's dead containers even when every start fails.
        self.remove_old_containers(id.clone());
        self.throttle = if self.flap.is_flapping(now()) {
            ThrottleState::Flapping
        } else {
            ThrottleState::No
        };
        self.emit(State::Starting);
        if let Err(e) = rt.start(&id).await {
            return self.fail(e);
        }
        self.ctx.metrics.containers_started.inc();
        if self.lives > 0 {
            self.ctx.metrics.restarts.inc();
        }
        self.lives += 1;
        self.healthy_then_running(id).await;
    }

    /// A started or adopted container: `HEALTHCHECKING` until a probe passes (if the job
    /// has a health check), then `RUNNING`. A container that dies first is `EXITED` then
    /// `FAILED` (and restarted after the delay); a goal leaving START ends the checks.
    async fn healthy_then_running(&mut self, id: String) {
        if let Some(check) = self.job.health_check.clone() {
            self.emit(State::Healthchecking);
            match self.health_check(&id, &check).await {
                None => return,
                Some(Err(e)) => return self.fail(e),
                Some(Ok(())) => {}
            }
        }
        self.running = Some(id);
        self.flap.started(now());
        self.emit(State::Running);
    }

    /// Probes until healthy; `None` when the goal left START meanwhile, an error (after
    /// reporting `EXITED`) when the container stopped first. The container's exit is
    /// watched during the backoff, so a death is seen at once, not at the next probe.
    async fn health_check(
        &mut self,
        id: &str,
        check: &helios_api::HealthCheck,
    ) -> Option<Result<(), RuntimeError>> {
        let ctx = self.ctx.clone();
        let ports = self.ports.clone();
        let (id, check, job_id) = (id.to_string(), check.clone(), self.job_id.clone());
        let probing = async move {
            let rt = ctx.runtime.as_ref();
            let probes = async {
                let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
                loop {
                    match health::probe(rt, &check, &id, &ports, &ctx.docker_host).await {
                        Ok(()) => {
                            ctx.metrics.health_check(true);
                            return Ok(());
                        }
                        Err(why) => {
                            ctx.metrics.health_check(false);
                            tracing::debug!(job = %job_id, why, "health check failed");
                        }
                    }
                    match rt.inspect(&id).await {
                        Ok(Some(info)) if info.running => {}
                        Ok(Some(info)) => {
                            return Err(exited_during_check(info.exit_code.unwrap_or(-1)));
                        }
                        Ok(None) => return Err(RuntimeError::NoSuchContainer(id.clone())),
                        Err(e) => return Err(e),
                    }
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            };
            tokio::select! {
                r = probes => r,
                r = rt.wait_exit(&id) => Err(match r {
                    Ok(code) => exited_during_check(code),
                    Err(e) => e,
                }),
            }
        };
        let result = unless_goal_leaves_start(&mut self.goal_rx, probing).await;
        if let Some(Err(e)) = &result {
            tracing::info!(job = %self.job_id, error = %e, "container died during health checks");
            self.emit(State::Exited);
        }
        result
    }

    /// Waits for the running container to exit (or the goal to change).
    async fn watch(&mut self, id: &str) {
        let rt = self.ctx.runtime.clone();
        let exit = {
            let rt = rt.clone();
            let id = id.to_string();
            async move {
                let mut wait = std::pin::pin!(rt.wait_exit(&id));
                let mut tick = tokio::time::interval(WATCH_INSPECT_PERIOD);
                tick.tick().await;
                loop {
                    tokio::select! {
                        r = &mut wait => return r,
                        _ = tick.tick() => match rt.inspect(&id).await {
                            Ok(Some(info)) if !info.running => {
                                return Ok(info.exit_code.unwrap_or(-1));
                            }
                            Ok(None) => return Err(RuntimeError::NoSuchContainer(id.clone())),
                            _ => {}
                        },
                    }
                }
            }
        };
        tokio::pin!(exit);
        loop {
            let unflap = self
                .flap
                .time_to_unflap(now())
                .filter(|_| self.throttle == ThrottleState::Flapping);
            let unflap_timer = async move {
                match unflap {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = unless_goal_leaves_start(&mut self.goal_rx, &mut exit) => {
                    match r {
                        None => return,
                        Some(r) => {
                            let now = now();
                            self.running = None;
                            self.flap.exited(now);
                            self.throttle = if self.flap.is_flapping(now) {
                                ThrottleState::Flapping
                            } else {
                                ThrottleState::No
                            };
                            match r {
                                Ok(code) => {
                                    tracing::info!(job = %self.job_id, container = %id, code,
                                        "container exited");
                                }
                                Err(e) => {
                                    tracing::warn!(job = %self.job_id, container = %id,
                                        error = %e, "container vanished");
                                }
                            }
                            self.emit(State::Exited);
                            if self.throttle != ThrottleState::No {
                                self.ctx.metrics.throttles.inc();
                            }
                            self.not_before = Some(now + restart_delay(self.throttle));
                            return;
                        }
                    }
                }
                _ = unflap_timer => {
                    if !self.flap.is_flapping(now()) {
                        self.throttle = ThrottleState::No;
                        self.emit(State::Running);
                    }
                }
            }
        }
    }

    /// STOPPING, the grace period, `docker stop`, kill while it still runs, STOPPED.
    async fn stop(&mut self, id: Option<String>) {
        self.emit(State::Stopping);
        let rt = self.ctx.runtime.clone();
        let grace = self.job.grace_period.unwrap_or(0);
        // Helios waits only for a task that was registered, i.e. reached RUNNING.
        if let Some(running) = self.running.clone()
            && grace > 0
        {
            tracing::info!(job = %self.job_id, container = %running, grace, "grace period before stopping");
            if !self.grace_period(Duration::from_secs(grace as u64)).await {
                tracing::info!(job = %self.job_id, container = %running, "stop cancelled: goal is START again");
                self.refresh_goal();
                match rt.inspect(&running).await {
                    Ok(Some(info)) if info.running => self.emit(State::Running),
                    // It died meanwhile: the loop runs a new life.
                    _ => self.running = None,
                }
                return;
            }
        }
        if let Some(id) = &id {
            let secs = self.job.effective_seconds_to_wait_before_kill().max(0) as u32;
            match rt.stop(id, secs).await {
                Ok(()) | Err(RuntimeError::NoSuchContainer(_)) => {}
                Err(e) => {
                    tracing::warn!(job = %self.job_id, container = %id, error = %e, "docker stop failed");
                    self.container_error = e.to_string();
                }
            }
            let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
            loop {
                match rt.inspect(id).await {
                    Ok(Some(info)) if info.running => {
                        if let Err(e) = rt.kill(id).await {
                            self.container_error = e.to_string();
                        }
                    }
                    Ok(_) => break,
                    Err(e) => self.container_error = e.to_string(),
                }
                let delay = backoff.next_delay();
                let changed = tokio::select! {
                    _ = tokio::time::sleep(delay) => false,
                    r = self.goal_rx.changed() => r.is_ok() && *self.goal_rx.borrow() == Goal::Start,
                };
                if changed {
                    // Started again while the stop was stuck: let the loop decide.
                    self.running = None;
                    return;
                }
            }
        }
        self.running = None;
        self.flap.stopped();
        self.stopped = true;
        self.emit(State::Stopped);
    }

    /// Waits `grace` unless the goal goes back to START first; true when the wait is over.
    async fn grace_period(&mut self, grace: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return true,
                changed = self.goal_rx.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep_until(deadline).await;
                        return true;
                    }
                    if *self.goal_rx.borrow() == Goal::Start {
                        return false;
                    }
                }
            }
        }
    }

    /// Removes the job's older exited containers, keeping the newest `keep_exited`.
    fn remove_old_containers(&self, current: String) {
        let rt = self.ctx.runtime.clone();
        let keep = self.ctx.keep_exited;
        let labels = vec![
            format!("{LABEL_AGENT}={}", self.ctx.defaults.agent_id),
            format!("{LABEL_JOB}={}", self.job_id),
        ];
        tokio::spawn(async move {
            let Ok(mut list) = rt.list(true, &labels).await else {
                return;
            };
            list.retain(|c| !c.running && c.id != current);
            list.sort_by_key(|c| std::cmp::Reverse(c.created));
            for old in list.into_iter().skip(keep) {
                if let Err(e) = rt.remove(&old.id).await {
                    tracing::debug!(container = %old.id, error = %e, "cannot remove old container");
                }
            }
        });
    }
}

/// The failure of a container that exited before a health check passed.
fn exited_during_check(code: i64) -> RuntimeError {
    RuntimeError::Engine(format!(
        "container exited during health checks (exit code {code})"
    ))
}

/// Makes the image available: pull only when it is missing; a failed pull is fine if the
/// image turns out to be present; neither is `ImageNotFound` (or `PullTimedOut`).
async fn ensure_image(rt: &dyn ContainerRuntime, image: &str) -> Result<(), RuntimeError> {
    if image.is_empty() {
        return Err(RuntimeError::ImageNotFound("job has no image".into()));
    }
    if rt.image_present(image).await? {
        return Ok(());
    }
    match rt.pull_image(image).await {
        Ok(()) => Ok(()),
        Err(e @ RuntimeError::Unreachable(_)) => Err(e),
        Err(e) => {
            if rt.image_present(image).await? {
                return Ok(());
            }
            match e {
                RuntimeError::PullTimedOut(_) => Err(e),
                e => Err(RuntimeError::ImageNotFound(format!("{image}: {e}"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fake::FakeRuntime;
    use tokio::time::Instant as TokioInstant;

    const IMAGE: &str = "img:1";

    fn context(rt: Arc<FakeRuntime>) -> Arc<Context> {
        Arc::new(Context {
            runtime: rt,
            hub: Arc::new(StatusHub::new(None, BTreeMap::new())),
            defaults: ContainerDefaults {
                agent_id: "AGENT".into(),
                agent_name: "host".into(),
                ..ContainerDefaults::default()
            },
            docker_host: "unix:///var/run/docker.sock".into(),
            keep_exited: 100,
            metrics: Default::default(),
        })
    }

    fn job() -> (JobId, Job, BTreeMap<String, PortMapping>) {
        let id = JobId::full("j", "1", "0123456789");
        let mut job = Job::new(id.clone(), IMAGE);
        job.ports.insert("p".into(), PortMapping::of(80));
        let ports = BTreeMap::from([("p".into(), PortMapping::with_external(80, 20001))]);
        (id, job, ports)
    }

    struct Running {
        handle: SupervisorHandle,
        released: mpsc::Receiver<JobId>,
        hub: Arc<StatusHub>,
        job_id: JobId,
    }

    fn start(ctx: &Arc<Context>, goal: Goal, previous: Option<TaskStatus>) -> Running {
        let (_, job, _) = job();
        start_job(ctx, job, goal, previous)
    }

    /// Like [`start`] with a changed job (same id and ports).
    fn start_job(
        ctx: &Arc<Context>,
        job: Job,
        goal: Goal,
        previous: Option<TaskStatus>,
    ) -> Running {
        let (job_id, _, ports) = self::job();
        let (tx, rx) = mpsc::channel(RELEASED_QUEUE);
        let task = Task {
            job_id: job_id.clone(),
            job,
            ports,
            goal,
            previous,
            ports_saved: Persisted::reached(),
        };
        let handle = spawn(ctx.clone(), task, tx);
        Running {
            handle,
            released: rx,
            hub: ctx.hub.clone(),
            job_id,
        }
    }

    /// The job of [`job`] with an exec health check.
    fn checked_job() -> Job {
        let mut job = job().1;
        job.health_check = Some(helios_api::HealthCheck::Exec {
            command: vec!["test".into(), "-f".into(), "/ready".into()],
        });
        job
    }

    fn states(sup: &Running) -> Vec<State> {
        sup.hub
            .history(&sup.job_id)
            .iter()
            .map(|s| s.state)
            .collect()
    }

    impl Running {
        /// Waits (in virtual time) for a status matching `pred`.
        async fn wait(&self, what: &str, pred: impl Fn(&TaskStatus) -> bool) -> TaskStatus {
            let mut rx = self.hub.subscribe();
            let deadline = TokioInstant::now() + Duration::from_secs(3600);
            loop {
                if let Some(s) = self.hub.get(&self.job_id)
                    && pred(&s)
                {
                    return s;
                }
                if tokio::time::timeout_at(deadline, rx.changed())
                    .await
                    .is_err()
                {
                    panic!("no {what}; last: {:?}", self.hub.get(&self.job_id));
                }
            }
        }
    }

    /// Ten runs of 100 ms make the job flap: the tenth exit reports FLAPPING and the next
    /// container starts 30 s later instead of 1 s.
    #[tokio::test(start_paused = true)]
    async fn ten_quick_exits_flap_and_delay_the_restart_by_thirty_seconds() {
        let rt = FakeRuntime::new();
        rt.add_image(IMAGE);
        rt.set_run_for(Some(Duration::from_millis(100)));
        let ctx = context(rt.clone());
        let t0 = TokioInstant::now();
        let sup = start(&ctx, Goal::Start, None);
        let flapping = sup
            .wait("FLAPPING exit", |s| {
                s.state == State::Exited && s.throttled == ThrottleState::Flapping
            })
            .await;
        let t1 = TokioInstant::now();
        assert_eq!(rt.containers().len(), 10);
        // Ten runs of 100 ms with 1 s between them.
        assert!(t1 - t0 >= Duration::from_secs(9) && t1 - t0 < Duration::from_secs(12));
        assert!(flapping.container_id.is_some());
        sup.wait("next RUNNING", |s| s.state == State::Running)
            .await;
        let t2 = TokioInstant::now();
        assert!(t2 - t1 >= Duration::from_secs(30), "{:?}", t2 - t1);
        assert!(t2 - t1 < Duration::from_secs(31), "{:?}", t2 - t1);
        assert_eq!(rt.containers().len(), 11);
    }

    /// A flapping job that then runs long enough goes back to throttle NO while RUNNING.
    #[tokio::test(start_paused = true)]
    async fn a_long_run_clears_flapping() {
        let rt = FakeRuntime::new();
        rt.add_image(IMAGE);
        rt.set_run_for(Some(Duration::from_millis(100)));
        let ctx = context(rt.clone());
        let sup = start(&ctx, Goal::Start, None);
        sup.wait("FLAPPING", |s| s.throttled == ThrottleState::Flapping)
            .await;
        rt.set_run_for(None);
        sup.wait("RUNNING while flapping", |s| {
            s.state == State::Running && s.throttled == ThrottleState::Flapping
        })
        .await;
        let t1 = TokioInstant::now();
        sup.wait("RUNNING unthrottled", |s| {
            s.state == State::Running && s.throttled == ThrottleState::No
        })
        .await;
        // 10 × 100 ms recorded: 59 s more fill the 60 s window.
        assert_eq!(TokioInstant::now() - t1, Duration::from_secs(59));
    }

    /// A missing image fails with IMAGE_MISSING and is retried after 2 minutes; the
    /// throttle clears once a container is created.
    #[tokio::test(start_paused = true)]
    async fn missing_image_is_retried_after_two_minutes() {
        let rt = FakeRuntime::new();
        let ctx = context(rt.clone());
        let sup = start(&ctx, Goal::Start, None);
        let failed = sup.wait("FAILED", |s| s.state == State::Failed).await;
        assert_eq!(failed.throttled, ThrottleState::ImageMissing);
        assert_eq!(failed.container_id, None);
        let t1 = TokioInstant::now();
        rt.add_image(IMAGE);
        let running = sup.wait("RUNNING", |s| s.state == State::Running).await;
        assert!(TokioInstant::now() - t1 >= Duration::from_secs(120));
        assert_eq!(running.throttled, ThrottleState::No);
        assert_eq!(running.container_error, "");
    }

    /// STOP interrupts a restart delay at once; UNDEPLOY then releases the supervisor.
    #[tokio::test(start_paused = true)]
    async fn stop_interrupts_the_delay_and_undeploy_releases() {
        let rt = FakeRuntime::new();
        let ctx = context(rt.clone());
        let mut sup = start(&ctx, Goal::Start, None);
        sup.wait("FAILED", |s| s.state == State::Failed).await;
        let t1 = TokioInstant::now();
        sup.handle.set_goal(Goal::Stop);
        let stopped = sup.wait("STOPPED", |s| s.state == State::Stopped).await;
        assert_eq!(stopped.goal, Goal::Stop);
        assert!(TokioInstant::now() - t1 < Duration::from_secs(1));
        sup.handle.set_goal(Goal::Undeploy);
        assert_eq!(sup.released.recv().await, Some(sup.job_id.clone()));
    }

    /// STOP stops a running container; START then runs a new one.
    #[tokio::test(start_paused = true)]
    async fn stop_then_start_again() {
        let rt = FakeRuntime::new();
        rt.add_image(IMAGE);
        let ctx = context(rt.clone());
        let sup = start(&ctx, Goal::Start, None);
        let first = sup.wait("RUNNING", |s| s.state == State::Running).await;
        let id = first.container_id.unwrap();
        sup.handle.set_goal(Goal::Stop);
        sup.wait("STOPPED", |s| s.state == State::Stopped).await;
        assert!(!rt.containers()[&id].running);
        sup.handle.set_goal(Goal::Start);
        let second = sup
            .wait("RUNNING again", |s| {
                s.state == State::Running && s.container_id.as_deref() != Some(&id)
            })
            .await;
        assert_eq!(second.ports["p"].external_port, Some(20001));
        assert_eq!(second.env["HELIOS_PORT_p"], "host:20001");
    }

    /// A supervisor whose recorded container still runs adopts it: RUNNING, same id, no
    /// new container.
    #[tokio::test(start_paused = true)]
    async fn adopts_the_recorded_running_container() {
        let rt = FakeRuntime::new();
        rt.add_image(IMAGE);
        let (job_id, job, ports) = job();
        let spec = spec::build(&ContainerDefaults::default(), &job_id, &job, &ports, 1);
        let id = rt.create(&spec).await.unwrap();
        rt.start(&id).await.unwrap();
        let ctx = context(rt.clone());
        let mut previous = TaskStatus::new(job, Goal::Start, State::Running);
        previous.container_id = Some(id.clone());
        let sup = start(&ctx, Goal::Start, Some(previous));
        sup.wait("history", |_| !sup.hub.history(&sup.job_id).is_empty())
            .await;
        let states: Vec<State> = sup
            .hub
            .history(&sup.job_id)
            .iter()
            .map(|s| s.state)
            .collect();
        assert_eq!(states, vec![State::Running]);
        assert_eq!(
            sup.hub.get(&sup.job_id).unwrap().container_id.as_deref(),
            Some(id.as_str())
        );
        assert_eq!(rt.containers().len(), 1);
        // It is watched: a crash restarts the job.
        rt.exit(&id, 1);
        sup.wait("EXITED", |s| s.state == State::Exited).await;
        sup.wait("RUNNING", |s| s.state == State::Running).await;
        assert_eq!(rt.containers().len(), 2);
    }

    /// The task stays HEALTHCHECKING while the check fails (for minutes: there is no
    /// overall timeout), and is RUNNING within one backoff step (≤ 30 s) of a passing probe.
    #[tokio::test(start_paused = true)]
    async fn healthchecking_until_a_probe_passes() {
        let rt = FakeRuntime::new();
        rt.add_image(IMAGE);
        rt.set_exec_code(Some(1));
        let ctx = context(rt.clone());
        let sup = start_job(&ctx, checked_job(), Goal::Start, None);
        let checking = sup
            .wait("HEALTHCHECKING", |s| s.state == State::Healthchecking)
            .await;
        assert!(checking.container_id.is_some());
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert_eq!(
            sup.hub.get(&sup.job_id).unwrap().state,
            State::Healthchecking
        );
        let t1 = TokioInstant::now();
        rt.set_exec_code(None);
        let running = sup.wait("RUNNING", |s| s.state == State::Running).await;
        assert!(TokioInstant::now() - t1 <= Duration::from_secs(30));
        assert_eq!(running.container_id, checking.container_id);
        assert_eq!(rt.containers().len(), 1);
        assert_eq!(
            states(&sup),
            vec![
                State::PullingImage,
                State::Creating,
                State::Starting,
                State::Healthchecking,
                State::Running
            ]
        );
    }

    /// A container that dies during the checks is EXITED then FAILED, at once (not at the
    /// next probe), and a new container is started and checked.
    #[tokio::test(start_paused = true)]
    async fn death_during_health_checks_fails_and_restarts() {
        let rt = FakeRuntime::new();
        rt.add_image(IMAGE);
        rt.set_exec_code(Some(1));
        let ctx = context(rt.clone());
        let sup = start_job(&ctx, checked_job(), Goal::Start, None);
        let first = sup
            .wait("HEALTHCHECKING", |s| s.state == State::Healthchecking)
            .await;
        let first_id = first.container_id.clone().unwrap();
        // Let the backoff grow, so only the exit watch can see the death quickly.
        tokio::time::sleep(Duration::from_secs(100)).await;
        let t1 = TokioInstant::now();
        rt.exit(&first_id, 137);
        let failed = sup.wait("FAILED", |s| s.state == State::Failed).await;
        assert!(TokioInstant::now() - t1 < Duration::from_secs(1));
        assert!(failed.container_error.contains("exited"), "{failed:?}");
        let history = states(&sup);
        let n = history.len();
        assert_eq!(
            history[n - 3..],
            [State::Healthchecking, State::Exited, State::Failed]
        );
        let second = sup
            .wait("a new container checked", |s| {
                s.state == State::Healthchecking
                    && s.container_id.as_deref() != Some(first_id.as_str())
            })
            .await;
        rt.set_exec_code(None);
        let running = sup.wait("RUNNING", |s| s.state == State::Running).await;
        assert_eq!(running.container_id, second.container_id);
    }

    /// Unlike Helios, an adopted container is health-checked again: HEALTHCHECKING, then
    /// RUNNING, with the same container; it dies meanwhile: EXITED, FAILED, a new one.
    #[tokio::test(start_paused = true)]
    async fn adopted_containers_are_health_checked_again() {
        let rt = FakeRuntime::new();
        rt.add_image(IMAGE);
        rt.set_exec_code(Some(1));
        let (job_id, _, ports) = job();
        let job = checked_job();
        let spec = spec::build(&ContainerDefaults::default(), &job_id, &job, &ports, 1);
        let id = rt.create(&spec).await.unwrap();
        rt.start(&id).await.unwrap();
        let ctx = context(rt.clone());
        let mut previous = TaskStatus::new(job.clone(), Goal::Start, State::Running);
        previous.container_id = Some(id.clone());
        previous.throttled = ThrottleState::Flapping;
        let sup = start_job(&ctx, job.clone(), Goal::Start, Some(previous.clone()));
        let checking = sup
            .wait("HEALTHCHECKING", |s| s.state == State::Healthchecking)
            .await;
        assert_eq!(checking.container_id.as_deref(), Some(id.as_str()));
        assert_eq!(checking.throttled, ThrottleState::No);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(
            sup.hub.get(&sup.job_id).unwrap().state,
            State::Healthchecking
        );
        rt.set_exec_code(None);
        let running = sup.wait("RUNNING", |s| s.state == State::Running).await;
        assert_eq!(running.container_id.as_deref(), Some(id.as_str()));
        assert_eq!(states(&sup), vec![State::Healthchecking, State::Running]);
        assert_eq!(rt.containers().len(), 1);
        drop(sup);

        // Adopted again, and killed before a probe passes.
        rt.set_exec_code(Some(1));
        let ctx = context(rt.clone());
        let sup = start_job(&ctx, job, Goal::Start, Some(previous));
        sup.wait("HEALTHCHECKING", |s| s.state == State::Healthchecking)
            .await;
        rt.exit(&id, 137);
        sup.wait("FAILED", |s| s.state == State::Failed).await;
        assert_eq!(
            states(&sup),
            vec![State::Healthchecking, State::Exited, State::Failed]
        );
        let next = sup
            .wait("a new container", |s| {
                s.state == State::Healthchecking && s.container_id.as_deref() != Some(id.as_str())
            })
            .await;
        assert!(next.container_id.is_some());
        assert_eq!(rt.containers().len(), 2);
    }

    /// STOP of a RUNNING task with a grace period: STOPPING at once, the container runs on
    /// for `gracePeriod` seconds, then `docker stop -t secondsToWaitBeforeKill`, STOPPED.
    #[tokio::test(start_paused = true)]
    async fn grace_period_delays_the_stop() {
        let rt = FakeRuntime::new();
        rt.add_image(IMAGE);
        let ctx = context(rt.clone());
        let mut job = job().1;
        job.grace_period = Some(10);
        job.seconds_to_wait_before_kill = Some(7);
        let sup = start_job(&ctx, job, Goal::Start, None);
        let running = sup.wait("RUNNING", |s| s.state == State::Running).await;
        let id = running.container_id.unwrap();
        let t1 = TokioInstant::now();
        sup.handle.set_goal(Goal::Stop);
        sup.wait("STOPPING", |s| s.state == State::Stopping).await;
        assert!(TokioInstant::now() - t1 < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(9_900)).await;
        assert!(
            rt.containers()[&id].running,
            "stopped before the grace period"
        );
        assert_eq!(sup.hub.get(&sup.job_id).unwrap().state, State::Stopping);
        sup.wait("STOPPED", |s| s.state == State::Stopped).await;
        let waited = TokioInstant::now() - t1;
        assert!(waited >= Duration::from_secs(10) && waited < Duration::from_secs(11));
        let container = &rt.containers()[&id];
        assert!(!container.running);
        assert_eq!(container.stops, vec![7]);
    }

    /// START during the grace period cancels the stop: RUNNING again with the same
    /// container, never stopped; UNDEPLOY during the wait does not cancel it.
    #[tokio::test(start_paused = true)]
    async fn start_during_the_grace_period_cancels_the_stop() {
        let rt = FakeRuntime::new();
        rt.add_image(IMAGE);
        let ctx = context(rt.clone());
        let mut job = job().1;
        job.grace_period = Some(10);
        let mut sup = start_job(&ctx, job, Goal::Start, None);
        let running = sup.wait("RUNNING", |s| s.state == State::Running).await;
        let id = running.container_id.unwrap();
        sup.handle.set_goal(Goal::Stop);
        sup.wait("STOPPING", |s| s.state == State::Stopping).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        sup.handle.set_goal(Goal::Start);
        let again = sup
            .wait("RUNNING again", |s| {
                s.state == State::Running && s.goal == Goal::Start
            })
            .await;
        assert_eq!(again.container_id.as_deref(), Some(id.as_str()));
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(sup.hub.get(&sup.job_id).unwrap().state, State::Running);
        assert_eq!(rt.containers().len(), 1);
        assert!(rt.containers()[&id].running);
        assert!(rt.containers()[&id].stops.is_empty());
        // It is still watched.
        rt.exit(&id, 1);
        sup.wait("EXITED", |s| s.state == State::Exited).await;
        sup.wait("RUNNING", |s| s.state == State::Running).await;

        // STOP then UNDEPLOY during the wait: the grace period still runs out, then release.
        let t1 = TokioInstant::now();
        sup.handle.set_goal(Goal::Stop);
        sup.wait("STOPPING", |s| s.state == State::Stopping).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        sup.handle.set_goal(Goal::Undeploy);
        assert_eq!(sup.released.recv().await, Some(sup.job_id.clone()));
        let waited = TokioInstant::now() - t1;
        assert!(waited >= Duration::from_secs(10) && waited < Duration::from_secs(11));
        assert_eq!(rt.containers().values().filter(|c| c.running).count(), 0);
    }

    /// No grace period for a task that never reached RUNNING (it was never "registered").
    #[tokio::test(start_paused = true)]
    async fn no_grace_period_before_running() {
        let rt = FakeRuntime::new();
        rt.add_image(IMAGE);
        rt.set_exec_code(Some(1));
        let ctx = context(rt.clone());
        let mut job = checked_job();
        job.grace_period = Some(10);
        let sup = start_job(&ctx, job, Goal::Start, None);
        sup.wait("HEALTHCHECKING", |s| s.state == State::Healthchecking)
            .await;
        let t1 = TokioInstant::now();
        sup.handle.set_goal(Goal::Stop);
        sup.wait("STOPPED", |s| s.state == State::Stopped).await;
        assert!(TokioInstant::now() - t1 < Duration::from_secs(1));
    }

    /// Old exited containers of the job are removed once a newer one runs.
    #[tokio::test(start_paused = true)]
    async fn old_exited_containers_are_removed() {
        let rt = FakeRuntime::new();
        rt.add_image(IMAGE);
        rt.set_run_for(Some(Duration::from_secs(5)));
        let ctx = Arc::new(Context {
            keep_exited: 2,
            ..Arc::try_unwrap(context(rt.clone())).ok().unwrap()
        });
        let sup = start(&ctx, Goal::Start, None);
        for _ in 0..5 {
            sup.wait("EXITED", |s| s.state == State::Exited).await;
            sup.wait("RUNNING", |s| s.state == State::Running).await;
        }
        // The cleanup runs in its own task: poll for it with a deadline.
        let deadline = TokioInstant::now() + Duration::from_secs(1);
        while rt.containers().values().filter(|c| !c.running).count() != 2 {
            assert!(TokioInstant::now() < deadline, "{:?}", rt.containers());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let containers = rt.containers();
        assert_eq!(containers.values().filter(|c| c.running).count(), 1);
    }
}
