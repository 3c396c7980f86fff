//! One supervisor per job on this agent: a task that drives the job's container towards its
//! goal and reports every state change (reference §4.1).
//!
//! The loop asks [`step::step`] what to do and does it: a container life (adopt the recorded
//! container if it still runs; else `PULLING_IMAGE`, `CREATING`, `STARTING`, optionally
//! `HEALTHCHECKING`, `RUNNING`), waiting for the container to exit (`docker wait`, not
//! polling), the restart delay of [`policy`], or a stop (`STOPPING`, `docker stop -t
//! secondsToWaitBeforeKill`, kill while it still runs, `STOPPED`). A goal change interrupts
//! waits, pulls and health checks. Docker failures become `FAILED` statuses, never errors.
//! Supervisors never remove the container they run; old exited ones of the same job are
//! removed whenever a newer one is created, keeping the newest `keep_exited`.

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
use crate::health;
use crate::reporter::StatusHub;
use crate::runtime::spec::{self, ContainerDefaults, LABEL_AGENT, LABEL_JOB};
use crate::runtime::{ContainerRuntime, RuntimeError};
use policy::{FlapController, restart_delay};
use step::{Action, Observed, step};

/// How often a watched container is inspected in case `docker wait` missed its exit.
const WATCH_INSPECT_PERIOD: Duration = Duration::from_secs(30);

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

/// Starts a supervisor for `job` with its allocated `ports`. `previous` is the job's last
/// known status (its container is adopted if it still runs). When an UNDEPLOY is done the
/// supervisor sends the job id on `released` and ends.
pub fn spawn(
    ctx: Arc<Context>,
    job_id: JobId,
    job: Job,
    ports: BTreeMap<String, PortMapping>,
    goal: Goal,
    previous: Option<TaskStatus>,
    released: mpsc::UnboundedSender<JobId>,
) -> SupervisorHandle {
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
        released,
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
    released: mpsc::UnboundedSender<JobId>,
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
                    let _ = self.released.send(self.job_id.clone());
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
        tracing::warn!(job = %self.job_id, error = %error, "task failed");
        self.container_error = error.to_string();
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
                    self.running = Some(id);
                    self.flap.started(now());
                    self.emit(State::Running);
                    return;
                }
                Ok(_) => {}
                Err(e) => return self.fail(e),
            }
        }
        self.container_id = None;
        self.container_error.clear();
        self.emit(State::PullingImage);
        let image = self.job.image.clone().unwrap_or_default();
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
            Some(Ok(())) => {}
        }
        self.emit(State::Creating);
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
        if let Some(check) = self.job.health_check.clone() {
            self.emit(State::Healthchecking);
            match self.health_check(&id, &check).await {
                None => return,
                Some(Err(e)) => return self.fail(e),
                Some(Ok(())) => {}
            }
        }
        self.running = Some(id.clone());
        self.flap.started(now());
        self.emit(State::Running);
    }

    /// Probes until healthy; `None` when the goal changed meanwhile, an error when the
    /// container stopped first.
    async fn health_check(
        &mut self,
        id: &str,
        check: &helios_api::HealthCheck,
    ) -> Option<Result<(), RuntimeError>> {
        let ctx = self.ctx.clone();
        let ports = self.ports.clone();
        let (id, check, job_id) = (id.to_string(), check.clone(), self.job_id.clone());
        let probing = async move {
            let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
            loop {
                match health::probe(ctx.runtime.as_ref(), &check, &id, &ports, &ctx.docker_host)
                    .await
                {
                    Ok(()) => return Ok(()),
                    Err(why) => tracing::debug!(job = %job_id, why, "health check failed"),
                }
                match ctx.runtime.inspect(&id).await {
                    Ok(Some(info)) if info.running => {}
                    Ok(_) => {
                        return Err(RuntimeError::Engine(
                            "container exited during health check".into(),
                        ));
                    }
                    Err(e) => return Err(e),
                }
                tokio::time::sleep(backoff.next_delay()).await;
            }
        };
        let result = unless_goal_leaves_start(&mut self.goal_rx, probing).await;
        if let Some(Err(_)) = &result {
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

    /// STOPPING, `docker stop`, kill while it still runs, STOPPED.
    async fn stop(&mut self, id: Option<String>) {
        self.emit(State::Stopping);
        let rt = self.ctx.runtime.clone();
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
        released: mpsc::UnboundedReceiver<JobId>,
        hub: Arc<StatusHub>,
        job_id: JobId,
    }

    fn start(ctx: &Arc<Context>, goal: Goal, previous: Option<TaskStatus>) -> Running {
        let (job_id, job, ports) = job();
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = spawn(ctx.clone(), job_id.clone(), job, ports, goal, previous, tx);
        Running {
            handle,
            released: rx,
            hub: ctx.hub.clone(),
            job_id,
        }
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
