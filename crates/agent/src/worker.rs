//! Assignments → executions → supervisors.
//!
//! The worker owns the agent's executions (job, goal, allocated ports, persisted in
//! `executions.json`) and one supervisor per execution. It applies the master's assignment
//! sets (COMPLETE replaces everything, INCREMENTAL needs an unbroken index chain), allocates
//! ports, forgets a task once its UNDEPLOY is done, and reaps containers in the agent's
//! namespace that no execution owns. It works the same with or without a master session: a
//! restarted agent re-creates its supervisors from the state dir and adopts their containers
//! (health-checked again when the job has a check).
//! Supervisors start only once the Docker engine answers, after a first reaping.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use helios_api::pb::{self, assignments::Kind};
use helios_api::{Goal, Job, JobId};
use tokio::sync::{mpsc, watch};

use crate::config::PortRange;
use crate::file_writer::{FileWriter, Persisted};
use crate::persist::{ClusterState, Execution, StateDir};
use crate::ports::PortAllocator;
use crate::runtime::spec::{LABEL_AGENT, namespace};
use crate::supervisor::{self, Context, SupervisorHandle};

/// How often the worker reaps intruders and retries pending port allocations.
pub const REAP_PERIOD: Duration = Duration::from_secs(10);

/// What applying an assignment set led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The set was applied; the last index moved to it.
    Applied,
    /// An INCREMENTAL set did not follow the last applied index: ask for a COMPLETE set.
    NeedResync,
    /// An INCREMENTAL set arrived while a resync is pending: ignored.
    Ignored,
}

/// Deployment metadata kept with an execution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeployMeta {
    /// Who deployed.
    pub deployer_user: Option<String>,
    /// Which master accepted it.
    pub deployer_master: Option<String>,
    /// The owning deployment group.
    pub deployment_group_name: Option<String>,
}

struct Inner {
    /// Every job this agent is told about, UNDEPLOYs in progress included.
    executions: BTreeMap<JobId, Execution>,
    /// One supervisor per execution with allocated ports, once Docker is ready.
    supervisors: BTreeMap<JobId, SupervisorHandle>,
    allocator: PortAllocator,
    /// Cluster id and last applied index.
    cluster: ClusterState,
    /// A ResyncRequest was sent and no COMPLETE set came yet.
    resync_pending: bool,
    /// The Docker engine answered and the first reaping is done.
    ready: bool,
}

/// The agent's executions and their supervisors.
pub struct Worker {
    ctx: Arc<Context>,
    state_dir: Option<Arc<StateDir>>,
    /// Writes `executions.json` off the assignment path; `None` keeps executions in memory.
    executions_writer: Option<FileWriter>,
    /// When the last saved executions are on disk: a new supervisor creates no container
    /// before its allocated ports are persisted.
    ///
    /// This and the other locks here are taken with `lock().unwrap()`: a lock is poisoned
    /// only if a holder panicked, and their holders do map updates and clones, no I/O and
    /// nothing that can panic.
    executions_saved: Mutex<Persisted>,
    /// Executions, the cluster id and pending allocations.
    inner: Mutex<Inner>,
    /// Supervisors report finished UNDEPLOYs here (bounded: see
    /// [`supervisor::RELEASED_QUEUE`]).
    released_tx: mpsc::Sender<JobId>,
    released_rx: Mutex<Option<mpsc::Receiver<JobId>>>,
    /// Becomes true once supervisors may run.
    ready_tx: watch::Sender<bool>,
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

impl Worker {
    /// A worker starting from persisted executions and cluster state. `state_dir` `None`
    /// keeps everything in memory.
    pub fn new(
        ctx: Arc<Context>,
        state_dir: Option<Arc<StateDir>>,
        port_range: PortRange,
        executions: BTreeMap<JobId, Execution>,
        cluster: ClusterState,
    ) -> Arc<Worker> {
        let (released_tx, released_rx) = mpsc::channel(supervisor::RELEASED_QUEUE);
        let executions_writer = state_dir
            .as_ref()
            .map(|dir| FileWriter::spawn(dir.executions_file(), "executions"));
        Arc::new(Worker {
            ctx,
            state_dir,
            executions_writer,
            executions_saved: Mutex::new(Persisted::reached()),
            inner: Mutex::new(Inner {
                executions,
                supervisors: BTreeMap::new(),
                allocator: PortAllocator::new(port_range),
                cluster,
                resync_pending: false,
                ready: false,
            }),
            released_tx,
            released_rx: Mutex::new(Some(released_rx)),
            ready_tx: watch::Sender::new(false),
        })
    }

    /// The shared supervisor context (status hub, runtime).
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// The cluster id and last applied index.
    pub fn cluster(&self) -> ClusterState {
        self.inner.lock().unwrap().cluster.clone()
    }

    /// A new session starts: its master sends a COMPLETE set first, so a resync asked on
    /// an earlier session is no longer awaited.
    pub fn session_started(&self) {
        self.inner.lock().unwrap().resync_pending = false;
    }

    /// Records the cluster id of a first Welcome.
    pub fn set_cluster_id(&self, cluster_id: &str) {
        let mut inner = self.inner.lock().unwrap();
        inner.cluster.cluster_id = cluster_id.to_string();
        self.persist_cluster(&inner);
    }

    /// A copy of the executions.
    pub fn executions(&self) -> BTreeMap<JobId, Execution> {
        self.inner.lock().unwrap().executions.clone()
    }

    /// Resolves once supervisors run (Docker answered, first reaping done).
    pub async fn wait_ready(&self) {
        let _ = self.ready_tx.subscribe().wait_for(|r| *r).await;
    }

    /// Adds or updates a deployment of `job` with `goal` (the local equivalent of an
    /// assignment).
    pub fn deploy(&self, job_id: JobId, job: Job, goal: Goal, meta: DeployMeta) {
        let mut inner = self.inner.lock().unwrap();
        self.upsert(&mut inner, job_id.clone(), job, goal, meta);
        self.persist_executions(&inner);
        self.sync(&mut inner, &job_id);
    }

    /// Changes the goal of a known job; returns false if the job is unknown.
    pub fn set_goal(&self, job_id: &JobId, goal: Goal) -> bool {
        let mut inner = self.inner.lock().unwrap();
        let Some(exec) = inner.executions.get_mut(job_id) else {
            return false;
        };
        exec.goal = goal;
        self.persist_executions(&inner);
        self.sync(&mut inner, job_id);
        true
    }

    fn upsert(&self, inner: &mut Inner, job_id: JobId, job: Job, goal: Goal, meta: DeployMeta) {
        match inner.executions.get_mut(&job_id) {
            Some(exec) => {
                exec.goal = goal;
                exec.deployer_user = meta.deployer_user;
                exec.deployer_master = meta.deployer_master;
                exec.deployment_group_name = meta.deployment_group_name;
            }
            None => {
                inner.executions.insert(
                    job_id,
                    Execution {
                        job,
                        goal,
                        ports: None,
                        deployer_user: meta.deployer_user,
                        deployer_master: meta.deployer_master,
                        deployment_group_name: meta.deployment_group_name,
                    },
                );
            }
        }
    }

    /// Applies an assignment set from the master.
    pub fn apply(&self, set: &pb::Assignments) -> ApplyOutcome {
        let mut inner = self.inner.lock().unwrap();
        let complete = set.kind() == Kind::Complete;
        if !complete {
            if inner.resync_pending {
                return ApplyOutcome::Ignored;
            }
            if set.prev_index != inner.cluster.last_index {
                tracing::info!(
                    prev = set.prev_index,
                    last = inner.cluster.last_index,
                    "gap in assignment indexes; asking for a complete set"
                );
                inner.resync_pending = true;
                return ApplyOutcome::NeedResync;
            }
        }
        let mut listed = BTreeSet::new();
        for a in &set.assignments {
            let job_id = match JobId::parse_json_form(&a.job_id) {
                Ok(id) => id,
                Err(e) => {
                    tracing::error!(job = %a.job_id, error = %e, "assignment with a bad job id");
                    continue;
                }
            };
            listed.insert(job_id.clone());
            let goal = if a.removed {
                Goal::Undeploy
            } else {
                match Goal::from_word(&a.goal) {
                    Some(g) => g,
                    None => {
                        tracing::error!(job = %job_id, goal = %a.goal, "assignment with a bad goal");
                        continue;
                    }
                }
            };
            if goal == Goal::Undeploy && !inner.executions.contains_key(&job_id) {
                // Nothing to stop; make sure the master forgets any status it has.
                self.ctx.hub.remove(&job_id);
                continue;
            }
            let job = if inner.executions.contains_key(&job_id) {
                Job::default()
            } else {
                match serde_json::from_slice::<Job>(&a.job_json) {
                    Ok(job) if job.image.is_some() => job,
                    Ok(_) => {
                        tracing::error!(job = %job_id, "assigned job has no image");
                        continue;
                    }
                    Err(e) => {
                        tracing::error!(job = %job_id, error = %e, "assigned job is not valid JSON");
                        continue;
                    }
                }
            };
            let meta = DeployMeta {
                deployer_user: non_empty(&a.deployer_user),
                deployer_master: non_empty(&a.deployer_master),
                deployment_group_name: non_empty(&a.deployment_group_name),
            };
            self.upsert(&mut inner, job_id, job, goal, meta);
        }
        if complete {
            inner.resync_pending = false;
            for (job_id, exec) in inner.executions.iter_mut() {
                if !listed.contains(job_id) {
                    exec.goal = Goal::Undeploy;
                }
            }
        }
        // The index is kept in memory only: every session starts with a COMPLETE set, so a
        // stale index on disk costs nothing, and not syncing it keeps an fsync pair off the
        // path from an assignment to its container.
        inner.cluster.last_index = set.index;
        self.persist_executions(&inner);
        let ids: Vec<JobId> = inner.executions.keys().cloned().collect();
        for job_id in ids {
            self.sync(&mut inner, &job_id);
        }
        ApplyOutcome::Applied
    }

    /// Brings one execution's supervisor in line with the execution.
    fn sync(&self, inner: &mut Inner, job_id: &JobId) {
        let Some(exec) = inner.executions.get(job_id).cloned() else {
            return;
        };
        if exec.ports.is_none() {
            if exec.goal == Goal::Undeploy {
                // Never ran here: nothing to stop.
                self.forget(inner, job_id);
                return;
            }
            let used: BTreeSet<u16> = inner
                .executions
                .iter()
                .filter(|(id, _)| *id != job_id)
                .filter_map(|(_, e)| e.ports.as_ref())
                .flat_map(|p| p.values())
                .filter_map(|m| m.external_port.and_then(|p| u16::try_from(p).ok()))
                .collect();
            match inner.allocator.allocate(&exec.job.ports, &used) {
                Some(ports) => {
                    if let Some(e) = inner.executions.get_mut(job_id) {
                        e.ports = Some(ports);
                    }
                    self.persist_executions(inner);
                }
                None => {
                    tracing::warn!(job = %job_id, "cannot allocate the job's ports; will retry");
                    return;
                }
            }
        }
        if !inner.ready {
            return;
        }
        let exec = inner.executions[job_id].clone();
        if let Some(sup) = inner.supervisors.get(job_id)
            && !sup.is_finished()
        {
            sup.set_goal(exec.goal);
            return;
        }
        let task = supervisor::Task {
            job_id: job_id.clone(),
            job: exec.job.clone(),
            ports: exec.ports.clone().unwrap_or_default(),
            goal: exec.goal,
            previous: self.ctx.hub.get(job_id),
            ports_saved: self.executions_saved.lock().unwrap().clone(),
        };
        let handle = supervisor::spawn(self.ctx.clone(), task, self.released_tx.clone());
        inner.supervisors.insert(job_id.clone(), handle);
    }

    /// Drops an execution whose UNDEPLOY is done, and its status.
    fn forget(&self, inner: &mut Inner, job_id: &JobId) {
        inner.supervisors.remove(job_id);
        if inner.executions.remove(job_id).is_some() {
            tracing::info!(job = %job_id, "task removed");
        }
        self.ctx.hub.remove(job_id);
        self.persist_executions(inner);
    }

    /// Queues the executions for the writer (no disk wait here: an assignment reaches its
    /// supervisor at once, and the supervisor waits for the write before creating anything).
    fn persist_executions(&self, inner: &Inner) {
        let Some(writer) = &self.executions_writer else {
            return;
        };
        match serde_json::to_vec_pretty(&inner.executions) {
            Ok(bytes) => *self.executions_saved.lock().unwrap() = writer.save(bytes),
            Err(e) => tracing::error!(error = %e, "cannot encode executions"),
        }
    }

    /// Blocks until the executions saved so far are on disk (agent shutdown).
    pub fn flush_executions(&self) {
        if let Some(writer) = &self.executions_writer {
            writer.flush();
        }
    }

    fn persist_cluster(&self, inner: &Inner) {
        if let Some(dir) = &self.state_dir
            && let Err(e) = dir.save_cluster(&inner.cluster)
        {
            tracing::error!(error = %e, "cannot persist cluster state");
        }
    }

    /// Kills running containers in the agent's namespace (by name or `helios.agent` label)
    /// that no execution owns.
    pub async fn reap(&self) {
        let rt = &self.ctx.runtime;
        let list = match rt.list(false, &[]).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "cannot list containers to reap");
                return;
            }
        };
        let agent_id = &self.ctx.defaults.agent_id;
        let prefix = format!("/{}-", namespace(agent_id));
        let exact = format!("/{}", namespace(agent_id));
        // Read the owned set after listing, so a container started meanwhile is known.
        let owned = self.ctx.hub.container_ids();
        for c in list {
            let ours = c.labels.get(LABEL_AGENT) == Some(agent_id)
                || c.names
                    .iter()
                    .any(|n| n.starts_with(&prefix) || *n == exact);
            if c.running && ours && !owned.contains(&c.id) {
                tracing::warn!(container = %c.id, names = ?c.names, "reaping container no task owns");
                if let Err(e) = rt.kill(&c.id).await {
                    tracing::warn!(container = %c.id, error = %e, "cannot kill container");
                }
            }
        }
    }

    /// Runs the worker until `shutdown` resolves: waits for Docker, reaps, starts the
    /// supervisors, then forgets released tasks, reaps and retries pending allocations
    /// every [`REAP_PERIOD`]. At shutdown the supervisors end and containers keep running.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let Some(mut released) = self.released_rx.lock().unwrap().take() else {
            return;
        };
        tokio::select! {
            _ = self.ctx.runtime.ready() => {}
            _ = &mut shutdown => return,
        }
        self.reap().await;
        {
            let mut inner = self.inner.lock().unwrap();
            inner.ready = true;
            let ids: Vec<JobId> = inner.executions.keys().cloned().collect();
            for job_id in ids {
                self.sync(&mut inner, &job_id);
            }
        }
        self.ready_tx.send_replace(true);
        let mut tick = tokio::time::interval(REAP_PERIOD);
        tick.tick().await;
        loop {
            tokio::select! {
                Some(job_id) = released.recv() => {
                    let mut inner = self.inner.lock().unwrap();
                    match inner.executions.get(&job_id) {
                        Some(e) if e.goal == Goal::Undeploy => self.forget(&mut inner, &job_id),
                        // Redeployed while stopping: a new supervisor runs it again.
                        Some(_) => self.sync(&mut inner, &job_id),
                        None => {}
                    }
                }
                _ = tick.tick() => {
                    self.reap().await;
                    let mut inner = self.inner.lock().unwrap();
                    let ids: Vec<JobId> = inner.executions.keys().cloned().collect();
                    for job_id in ids {
                        self.sync(&mut inner, &job_id);
                    }
                }
                _ = &mut shutdown => break,
            }
        }
        let mut inner = self.inner.lock().unwrap();
        for sup in inner.supervisors.values() {
            sup.abort();
        }
        inner.supervisors.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reporter::StatusHub;
    use crate::runtime::ContainerRuntime;
    use crate::runtime::fake::FakeRuntime;
    use crate::runtime::spec::ContainerDefaults;
    use helios_api::{PortMapping, State};
    use tokio::time::Instant as TokioInstant;

    const IMAGE: &str = "img:1";

    fn worker() -> (Arc<Worker>, Arc<FakeRuntime>, Arc<StatusHub>) {
        worker_in(None)
    }

    /// A worker persisting its executions in `state_dir`.
    fn worker_in(
        state_dir: Option<Arc<StateDir>>,
    ) -> (Arc<Worker>, Arc<FakeRuntime>, Arc<StatusHub>) {
        let rt = FakeRuntime::new();
        rt.add_image(IMAGE);
        let hub = Arc::new(StatusHub::new(None, BTreeMap::new()));
        let ctx = Arc::new(Context {
            runtime: rt.clone(),
            hub: hub.clone(),
            defaults: ContainerDefaults {
                agent_id: "AGENT".into(),
                agent_name: "host".into(),
                ..ContainerDefaults::default()
            },
            docker_host: "unix:///var/run/docker.sock".into(),
            keep_exited: 2,
            metrics: Default::default(),
        });
        let w = Worker::new(
            ctx,
            state_dir,
            PortRange {
                start: 30000,
                end: 30010,
            },
            BTreeMap::new(),
            ClusterState::default(),
        );
        tokio::spawn(w.clone().run(std::future::pending()));
        (w, rt, hub)
    }

    fn job(name: &str) -> Job {
        let mut job = Job::new(JobId::new(name, "1"), IMAGE);
        job.ports.insert("p".into(), PortMapping::of(80));
        job.with_hash()
    }

    fn assignment(job: &Job, goal: &str, removed: bool) -> pb::Assignment {
        pb::Assignment {
            job_id: job.id.as_ref().unwrap().to_string(),
            job_json: serde_json::to_vec(job).unwrap(),
            goal: goal.into(),
            removed,
            ..Default::default()
        }
    }

    fn set(kind: Kind, index: u64, prev: u64, list: Vec<pb::Assignment>) -> pb::Assignments {
        pb::Assignments {
            kind: kind as i32,
            index,
            prev_index: prev,
            assignments: list,
        }
    }

    async fn wait_until(what: &str, cond: impl Fn() -> bool) {
        let deadline = TokioInstant::now() + Duration::from_secs(60);
        while !cond() {
            assert!(
                TokioInstant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn state(hub: &StatusHub, job: &Job) -> Option<State> {
        hub.get(job.id.as_ref().unwrap()).map(|s| s.state)
    }

    /// COMPLETE starts jobs; an INCREMENTAL with a gap asks for a resync and later ones are
    /// ignored until the next COMPLETE; a COMPLETE without a job undeploys it.
    #[tokio::test(start_paused = true)]
    async fn assignment_sets_and_index_chain() {
        let (w, rt, hub) = worker();
        w.wait_ready().await;
        let (a, b) = (job("a"), job("b"));
        let complete = set(Kind::Complete, 5, 0, vec![assignment(&a, "START", false)]);
        assert_eq!(w.apply(&complete), ApplyOutcome::Applied);
        assert_eq!(w.cluster().last_index, 5);
        wait_until("a running", || state(&hub, &a) == Some(State::Running)).await;

        let gap = set(
            Kind::Incremental,
            8,
            7,
            vec![assignment(&b, "START", false)],
        );
        assert_eq!(w.apply(&gap), ApplyOutcome::NeedResync);
        let next = set(
            Kind::Incremental,
            9,
            8,
            vec![assignment(&b, "START", false)],
        );
        assert_eq!(w.apply(&next), ApplyOutcome::Ignored);
        assert_eq!(w.cluster().last_index, 5);
        assert!(!w.executions().contains_key(b.id.as_ref().unwrap()));

        let inc = set(
            Kind::Incremental,
            6,
            5,
            vec![assignment(&b, "START", false)],
        );
        assert_eq!(w.apply(&inc), ApplyOutcome::Ignored);
        let complete = set(Kind::Complete, 9, 0, vec![assignment(&b, "START", false)]);
        assert_eq!(w.apply(&complete), ApplyOutcome::Applied);
        wait_until("b running", || state(&hub, &b) == Some(State::Running)).await;
        // a was not in the complete set: stopped and forgotten.
        wait_until("a removed", || {
            !w.executions().contains_key(a.id.as_ref().unwrap())
        })
        .await;
        assert_eq!(state(&hub, &a), None);
        assert_eq!(rt.containers().values().filter(|c| c.running).count(), 1);
        let pending = hub.take_pending();
        assert!(
            pending
                .iter()
                .any(|u| &u.job_id == a.id.as_ref().unwrap() && u.status.is_none())
        );

        let removal = set(
            Kind::Incremental,
            10,
            9,
            vec![assignment(&b, "START", true)],
        );
        assert_eq!(w.apply(&removal), ApplyOutcome::Applied);
        wait_until("b removed", || w.executions().is_empty()).await;
        assert_eq!(rt.containers().values().filter(|c| c.running).count(), 0);
    }

    /// Dynamic ports are allocated once per execution, distinct across jobs; a job whose
    /// ports cannot be allocated stays pending without a supervisor.
    #[tokio::test(start_paused = true)]
    async fn ports_are_allocated_per_execution() {
        let (w, _rt, hub) = worker();
        w.wait_ready().await;
        let (a, b) = (job("a"), job("b"));
        let mut greedy = Job::new(JobId::new("greedy", "1"), IMAGE);
        for i in 0..20 {
            greedy
                .ports
                .insert(format!("p{i}"), PortMapping::of(1000 + i));
        }
        let greedy = greedy.with_hash();
        let complete = set(
            Kind::Complete,
            1,
            0,
            vec![
                assignment(&a, "START", false),
                assignment(&b, "STOP", false),
                assignment(&greedy, "START", false),
            ],
        );
        w.apply(&complete);
        let execs = w.executions();
        let port =
            |j: &Job| execs[j.id.as_ref().unwrap()].ports.as_ref().unwrap()["p"].external_port;
        assert_ne!(port(&a), port(&b));
        assert!(execs[greedy.id.as_ref().unwrap()].ports.is_none());
        wait_until("a running", || state(&hub, &a) == Some(State::Running)).await;
        wait_until("b stopped", || state(&hub, &b) == Some(State::Stopped)).await;
        assert_eq!(state(&hub, &greedy), None);
    }

    /// Running containers in the namespace that no task owns are killed.
    #[tokio::test(start_paused = true)]
    async fn reaper_kills_unowned_containers_only() {
        let (w, rt, hub) = worker();
        w.wait_ready().await;
        let a = job("a");
        w.deploy(
            a.id.clone().unwrap(),
            a.clone(),
            Goal::Start,
            DeployMeta::default(),
        );
        wait_until("a running", || state(&hub, &a) == Some(State::Running)).await;
        let intruder = crate::runtime::ContainerSpec {
            name: "helios-AGENT-intruder_1".into(),
            image: IMAGE.into(),
            ..Default::default()
        };
        let stranger = crate::runtime::ContainerSpec {
            name: "someone-else".into(),
            image: IMAGE.into(),
            ..Default::default()
        };
        let i = rt.create(&intruder).await.unwrap();
        rt.start(&i).await.unwrap();
        let s = rt.create(&stranger).await.unwrap();
        rt.start(&s).await.unwrap();
        w.reap().await;
        let containers = rt.containers();
        assert!(!containers[&i].running);
        assert!(containers[&s].running);
        assert_eq!(containers.values().filter(|c| c.running).count(), 2);
    }

    /// A failed write of `executions.json` fails the task with the file and the I/O error,
    /// and no container is created before the ports are on disk; once the file can be written
    /// the writer's retry persists them and the task runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_executions_write_fails_the_task_and_starts_no_container() {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = Arc::new(StateDir::open(dir.path()).unwrap());
        let file = state_dir.executions_file();
        // A directory where the file goes: every write of it fails, even as root.
        std::fs::create_dir_all(file.join("in-the-way")).unwrap();
        let (w, rt, hub) = worker_in(Some(state_dir));
        w.wait_ready().await;
        let a = job("a");
        w.deploy(
            a.id.clone().unwrap(),
            a.clone(),
            Goal::Start,
            DeployMeta::default(),
        );
        wait_until("a failed", || state(&hub, &a) == Some(State::Failed)).await;
        let failed = hub.get(a.id.as_ref().unwrap()).unwrap();
        let error = &failed.container_error;
        assert!(
            error.starts_with(&format!(
                "the job's ports are not persisted: cannot write {}: ",
                file.display()
            )),
            "{error}"
        );
        assert!(error.contains("Is a directory"), "{error}");
        assert_eq!(failed.container_id, None);
        assert!(rt.containers().is_empty(), "{:?}", rt.containers());

        std::fs::remove_dir_all(&file).unwrap();
        wait_until("a running", || state(&hub, &a) == Some(State::Running)).await;
        let on_disk: BTreeMap<JobId, Execution> =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(on_disk, w.executions());
        assert_eq!(rt.containers().len(), 1);
    }

    /// More supervisors than the `released` channel holds finish their UNDEPLOY at once: each
    /// waits for room, none is lost, and all are forgotten without the periodic pass.
    #[tokio::test(start_paused = true)]
    async fn a_burst_of_releases_beyond_the_channel_bound_is_forgotten() {
        let (w, _rt, hub) = worker();
        w.wait_ready().await;
        let jobs: Vec<Job> = (0..supervisor::RELEASED_QUEUE + 16)
            .map(|i| Job::new(JobId::new(format!("j{i}"), "1"), IMAGE).with_hash())
            .collect();
        let list = jobs.iter().map(|j| assignment(j, "START", false)).collect();
        assert_eq!(
            w.apply(&set(Kind::Complete, 1, 0, list)),
            ApplyOutcome::Applied
        );
        wait_until("all running", || {
            jobs.iter().all(|j| state(&hub, j) == Some(State::Running))
        })
        .await;
        let t1 = TokioInstant::now();
        assert_eq!(
            w.apply(&set(Kind::Complete, 2, 0, Vec::new())),
            ApplyOutcome::Applied
        );
        wait_until("all forgotten", || w.executions().is_empty()).await;
        assert!(TokioInstant::now() - t1 < REAP_PERIOD);
    }
}
