//! What the agent tells the masters: task statuses, host info and agent info.
//!
//! [`StatusHub`] is the single owner of task statuses. Supervisors write into it; it keeps
//! the current status per job (persisted in `task-status.json` on every change so a restarted
//! agent knows its container ids), a short in-memory history per job, and the coalesced set
//! of changes not yet sent (only the newest per job), which the session drains. Statuses
//! survive sessions: when a new session starts every current status is queued again.
//!
//! [`host_info`] and [`agent_info`] gather the machine and process facts of reference §3 from
//! `/proc` and `uname`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use helios_api::{AgentInfo, DockerVersion, HostInfo, JobId, TaskStatus};
use tokio::sync::{Notify, watch};

use crate::file_writer::FileWriter;
use crate::persist::StateDir;

/// Statuses kept per job in the in-memory history (as Helios's task history).
pub const HISTORY_PER_JOB: usize = 30;
/// Unsent changes kept per job (as many as the masters' history keeps).
pub const PENDING_PER_JOB: usize = HISTORY_PER_JOB;
/// Removals re-sent to every new session (a removal may have been lost with a session).
pub const REMOVALS_KEPT: usize = 256;

/// A change to send: the newest status of a job, or its removal.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingUpdate {
    /// The job.
    pub job_id: JobId,
    /// The status, or `None` when the task was removed.
    pub status: Option<TaskStatus>,
    /// When it changed, epoch ms.
    pub timestamp_ms: i64,
}

#[derive(Default)]
struct HubInner {
    /// Current status per job.
    statuses: BTreeMap<JobId, TaskStatus>,
    /// Changes not yet handed to a session, per job in order (at most
    /// [`PENDING_PER_JOB`], the oldest dropped first), so that the masters' task history
    /// sees every transition even when several happen before the session drains them.
    pending: BTreeMap<JobId, VecDeque<PendingUpdate>>,
    /// Recent statuses per job, oldest first, bounded by [`HISTORY_PER_JOB`].
    history: BTreeMap<JobId, VecDeque<TaskStatus>>,
    /// Recently removed jobs, oldest first, bounded by [`REMOVALS_KEPT`].
    removed: VecDeque<JobId>,
    /// The last job whose changes [`StatusHub::take_pending_of`] took: the next take starts
    /// after it, so a job that keeps changing cannot hold the others back.
    last_taken: Option<JobId>,
}

/// The task statuses of this agent.
pub struct StatusHub {
    /// Everything, under one lock so the file and the queue see changes in one order.
    /// `lock().unwrap()` stays: the lock is poisoned only if a holder panicked, and no code
    /// that holds it can (plain map and queue operations, no I/O).
    inner: Mutex<HubInner>,
    /// Wakes the session when `pending` gains an entry.
    notify: Notify,
    /// Bumped on every change, for waiters (tests, embedding).
    version: watch::Sender<u64>,
    /// Writes status snapshots off the hot path (a burst of changes costs one write of the
    /// newest, and nobody waits for the disk while holding the hub's lock); `None` keeps them
    /// in memory only.
    writer: Option<FileWriter>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl StatusHub {
    /// A hub starting from the persisted `initial` statuses.
    pub fn new(
        state_dir: Option<Arc<StateDir>>,
        initial: BTreeMap<JobId, TaskStatus>,
    ) -> StatusHub {
        StatusHub {
            inner: Mutex::new(HubInner {
                statuses: initial,
                ..HubInner::default()
            }),
            notify: Notify::new(),
            version: watch::Sender::new(0),
            writer: state_dir.map(|dir| FileWriter::spawn(dir.statuses_file(), "task-status")),
        }
    }

    fn changed(&self, inner: &HubInner) {
        if let Some(writer) = &self.writer {
            match serde_json::to_vec(&inner.statuses) {
                Ok(bytes) => {
                    writer.save(bytes);
                }
                Err(e) => tracing::error!(error = %e, "cannot encode task statuses"),
            }
        }
        self.notify.notify_one();
        self.version.send_modify(|v| *v += 1);
    }

    /// Records a job's status. It always enters the job's history (an adopted container
    /// reports RUNNING again), but an unchanged status is neither persisted nor sent.
    pub fn set(&self, job_id: &JobId, status: TaskStatus) {
        let mut inner = self.inner.lock().unwrap();
        if inner.statuses.get(job_id) == Some(&status) {
            push_history(&mut inner, job_id, status);
            self.version.send_modify(|v| *v += 1);
            return;
        }
        tracing::info!(job = %job_id, state = ?status.state, throttled = ?status.throttled,
            container = status.container_id.as_deref().unwrap_or(""),
            error = %status.container_error, "task status");
        inner.statuses.insert(job_id.clone(), status.clone());
        inner.removed.retain(|r| r != job_id);
        push_history(&mut inner, job_id, status.clone());
        queue(
            &mut inner,
            PendingUpdate {
                job_id: job_id.clone(),
                status: Some(status),
                timestamp_ms: now_ms(),
            },
        );
        self.changed(&inner);
    }

    /// Forgets a job's status and queues its removal for the master.
    pub fn remove(&self, job_id: &JobId) {
        let mut inner = self.inner.lock().unwrap();
        inner.statuses.remove(job_id);
        inner.history.remove(job_id);
        if !inner.removed.contains(job_id) {
            if inner.removed.len() == REMOVALS_KEPT {
                inner.removed.pop_front();
            }
            inner.removed.push_back(job_id.clone());
        }
        // The statuses queued before it go first, in the same report.
        queue(
            &mut inner,
            PendingUpdate {
                job_id: job_id.clone(),
                status: None,
                timestamp_ms: now_ms(),
            },
        );
        self.changed(&inner);
    }

    /// Waits until every status change made so far is on disk.
    pub fn flush(&self) {
        if let Some(writer) = &self.writer {
            writer.flush();
        }
    }

    /// The current status of a job.
    pub fn get(&self, job_id: &JobId) -> Option<TaskStatus> {
        self.inner.lock().unwrap().statuses.get(job_id).cloned()
    }

    /// Every current status.
    pub fn all(&self) -> BTreeMap<JobId, TaskStatus> {
        self.inner.lock().unwrap().statuses.clone()
    }

    /// The recent statuses of a job, oldest first.
    pub fn history(&self, job_id: &JobId) -> Vec<TaskStatus> {
        self.inner
            .lock()
            .unwrap()
            .history
            .get(job_id)
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The container ids named by current statuses.
    pub fn container_ids(&self) -> BTreeSet<String> {
        self.inner
            .lock()
            .unwrap()
            .statuses
            .values()
            .filter_map(|s| s.container_id.clone())
            .collect()
    }

    /// Queues every current status and recent removal again (a new session's master may
    /// know stale ones, and a removal may have been lost with the previous session).
    pub fn requeue_all(&self) {
        let mut inner = self.inner.lock().unwrap();
        let now = now_ms();
        let removed: Vec<JobId> = inner.removed.iter().cloned().collect();
        for job_id in removed {
            if !inner.pending.contains_key(&job_id) {
                queue(
                    &mut inner,
                    PendingUpdate {
                        job_id,
                        status: None,
                        timestamp_ms: now,
                    },
                );
            }
        }
        let all: Vec<(JobId, TaskStatus)> = inner
            .statuses
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (job_id, status) in all {
            if !inner.pending.contains_key(&job_id) {
                queue(
                    &mut inner,
                    PendingUpdate {
                        job_id,
                        status: Some(status),
                        timestamp_ms: now,
                    },
                );
            }
        }
        if !inner.pending.is_empty() {
            self.notify.notify_one();
        }
    }

    /// Takes every queued change (each job's in the order they happened).
    pub fn take_pending(&self) -> Vec<PendingUpdate> {
        self.take_pending_of(usize::MAX).0
    }

    /// Takes the queued changes of at most `jobs` jobs (each job's in the order they
    /// happened), and tells whether changes of other jobs are still queued. Jobs are taken
    /// round-robin: after the last job taken, wrapping around.
    pub fn take_pending_of(&self, jobs: usize) -> (Vec<PendingUpdate>, bool) {
        let mut inner = self.inner.lock().unwrap();
        let mut order: Vec<JobId> = match &inner.last_taken {
            Some(last) => inner
                .pending
                .range((Bound::Excluded(last), Bound::Unbounded))
                .map(|(id, _)| id.clone())
                .take(jobs)
                .collect(),
            None => Vec::new(),
        };
        let wrapped = match &inner.last_taken {
            Some(last) => inner.pending.range(..=last),
            None => inner.pending.range(..),
        };
        let room = jobs - order.len();
        order.extend(wrapped.map(|(id, _)| id.clone()).take(room));
        let mut taken = Vec::new();
        for id in &order {
            taken.extend(inner.pending.remove(id).unwrap_or_default());
        }
        if let Some(last) = order.pop() {
            inner.last_taken = Some(last);
        }
        (taken, !inner.pending.is_empty())
    }

    /// Resolves when changes may be queued (at once if some were queued since the last
    /// call). One consumer only: the session.
    pub async fn pending_changed(&self) {
        self.notify.notified().await;
    }

    /// A receiver that sees a new value on every status change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }
}

/// Queues a change for the session, keeping at most [`PENDING_PER_JOB`] per job.
fn queue(inner: &mut HubInner, update: PendingUpdate) {
    let queued = inner.pending.entry(update.job_id.clone()).or_default();
    if queued.len() == PENDING_PER_JOB {
        queued.pop_front();
    }
    queued.push_back(update);
}

fn push_history(inner: &mut HubInner, job_id: &JobId, status: TaskStatus) {
    let history = inner.history.entry(job_id.clone()).or_default();
    if history.len() == HISTORY_PER_JOB {
        history.pop_front();
    }
    history.push_back(status);
}

/// Reads `/proc/meminfo` fields (in bytes).
fn meminfo() -> BTreeMap<String, i64> {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let (key, rest) = line.split_once(':')?;
            let kb: i64 = rest.split_whitespace().next()?.parse().ok()?;
            Some((key.to_string(), kb * 1024))
        })
        .collect()
}

/// `uname` fields: sysname, nodename, release, version, machine.
fn uname() -> [String; 5] {
    // SAFETY: `utsname` is plain old data; `uname` fills it and returns 0 on success.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return Default::default();
    }
    let field = |f: &[libc::c_char]| {
        // SAFETY: the kernel NUL-terminates every field within its array.
        unsafe { std::ffi::CStr::from_ptr(f.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    [
        field(&u.sysname),
        field(&u.nodename),
        field(&u.release),
        field(&u.version),
        field(&u.machine),
    ]
}

/// The machine facts reported in Hello and every minute.
pub fn host_info(docker_host: &str, docker_version: Option<DockerVersion>) -> HostInfo {
    let [sysname, nodename, release, version, machine] = uname();
    let mem = meminfo();
    let load_avg = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    HostInfo {
        architecture: machine.clone(),
        cpus: std::thread::available_parallelism()
            .map(|n| n.get() as i32)
            .unwrap_or(1),
        docker_cert_path: std::env::var("DOCKER_CERT_PATH").ok(),
        docker_host: docker_host.to_string(),
        docker_version,
        hostname: nodename.clone(),
        load_avg,
        memory_free_bytes: mem.get("MemFree").copied().unwrap_or(0),
        memory_total_bytes: mem.get("MemTotal").copied().unwrap_or(0),
        os_name: sysname.clone(),
        os_version: release.clone(),
        swap_free_bytes: mem.get("SwapFree").copied().unwrap_or(0),
        swap_total_bytes: mem.get("SwapTotal").copied().unwrap_or(0),
        uname: format!("{sysname} {nodename} {release} {version} {machine}"),
    }
}

/// The process facts reported in Hello and every minute: Helios's `AgentInfo` plus
/// `clusterId` and `lastIndex` (extra keys a Helios reader ignores).
pub fn agent_info(
    started: Instant,
    start_time_ms: i64,
    input_arguments: &[String],
    cluster_id: &str,
    last_index: u64,
) -> serde_json::Value {
    let info = AgentInfo {
        input_arguments: input_arguments.to_vec(),
        name: format!("{}@{}", std::process::id(), crate::config::host_name()),
        spec_name: "Helios Agent".into(),
        spec_vendor: "helios-rs".into(),
        spec_version: env!("CARGO_PKG_VERSION").into(),
        start_time: start_time_ms,
        uptime: started.elapsed().as_millis() as i64,
        version: env!("CARGO_PKG_VERSION").into(),
        vm_name: "helios-agent (Rust)".into(),
        vm_vendor: "helios-rs".into(),
        vm_version: env!("CARGO_PKG_VERSION").into(),
    };
    let mut value = serde_json::to_value(info).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("clusterId".into(), cluster_id.into());
        map.insert("lastIndex".into(), last_index.into());
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use helios_api::{Goal, Job, State};

    fn status(state: State) -> TaskStatus {
        TaskStatus::new(Job::new(JobId::new("a", "1"), "i"), Goal::Start, state)
    }

    #[test]
    fn pending_keeps_every_change_in_order_and_removals() {
        let hub = StatusHub::new(None, BTreeMap::new());
        let a = JobId::new("a", "1");
        let b = JobId::new("b", "1");
        hub.set(&a, status(State::PullingImage));
        hub.set(&a, status(State::Creating));
        hub.set(&a, status(State::Creating));
        hub.set(&b, status(State::Running));
        hub.set(&b, status(State::Stopped));
        hub.remove(&b);
        assert_eq!(
            seen(&hub.take_pending()),
            vec![
                (a.clone(), Some(State::PullingImage)),
                (a.clone(), Some(State::Creating)),
                (b.clone(), Some(State::Running)),
                (b.clone(), Some(State::Stopped)),
                (b.clone(), None),
            ]
        );
        assert!(hub.take_pending().is_empty());
        assert_eq!(hub.history(&a).len(), 3);
        hub.requeue_all();
        let again = hub.take_pending();
        assert_eq!(again.len(), 2);
        assert_eq!(again[0].job_id, a);
        assert_eq!(
            (again[1].job_id.clone(), again[1].status.clone()),
            (b, None)
        );
    }

    /// Each change's job and state (`None` for a removal).
    fn seen(pending: &[PendingUpdate]) -> Vec<(JobId, Option<State>)> {
        pending
            .iter()
            .map(|p| (p.job_id.clone(), p.status.as_ref().map(|s| s.state)))
            .collect()
    }

    /// A hub with a CREATING change queued for each of jobs a, b and c.
    fn hub_with_three_jobs_creating() -> (StatusHub, Vec<JobId>) {
        let hub = StatusHub::new(None, BTreeMap::new());
        let jobs: Vec<JobId> = ["a", "b", "c"]
            .iter()
            .map(|n| JobId::new(*n, "1"))
            .collect();
        for job in &jobs {
            hub.set(job, status(State::Creating));
        }
        (hub, jobs)
    }

    #[test]
    fn pending_changes_are_taken_a_few_jobs_at_a_time() {
        let (hub, jobs) = hub_with_three_jobs_creating();
        for job in &jobs {
            hub.set(job, status(State::Running));
        }
        let (first, more) = hub.take_pending_of(2);
        assert!(more);
        assert_eq!(
            seen(&first),
            vec![
                (jobs[0].clone(), Some(State::Creating)),
                (jobs[0].clone(), Some(State::Running)),
                (jobs[1].clone(), Some(State::Creating)),
                (jobs[1].clone(), Some(State::Running)),
            ]
        );
        let (rest, more) = hub.take_pending_of(2);
        assert!(!more);
        assert_eq!(rest.len(), 2);
        assert!(rest.iter().all(|p| p.job_id == jobs[2]));
    }

    #[test]
    fn a_job_that_keeps_changing_does_not_hold_the_others_back() {
        let (hub, jobs) = hub_with_three_jobs_creating();
        let mut sent = Vec::new();
        for _ in 0..4 {
            let (taken, _) = hub.take_pending_of(1);
            sent.extend(taken.into_iter().map(|p| p.job_id));
            // Job a changes again after every report.
            hub.set(&jobs[0], status(State::Running));
        }
        assert_eq!(
            sent,
            vec![
                jobs[0].clone(),
                jobs[1].clone(),
                jobs[2].clone(),
                jobs[0].clone()
            ]
        );
    }

    #[test]
    fn a_long_backlog_keeps_the_newest_changes() {
        let hub = StatusHub::new(None, BTreeMap::new());
        let a = JobId::new("a", "1");
        for i in 0..(PENDING_PER_JOB + 5) {
            let state = if i % 2 == 0 {
                State::Running
            } else {
                State::Exited
            };
            hub.set(&a, status(state));
        }
        let pending = hub.take_pending();
        assert_eq!(pending.len(), PENDING_PER_JOB);
        let last = pending.last().unwrap().status.as_ref().unwrap().state;
        assert_eq!(last, hub.get(&a).unwrap().state);
    }

    #[test]
    fn host_and_agent_info_are_filled() {
        let info = host_info("unix:///var/run/docker.sock", None);
        assert!(!info.hostname.is_empty());
        assert!(info.cpus >= 1);
        assert!(info.memory_total_bytes > 0);
        assert!(info.uname.contains(&info.os_version));
        let agent = agent_info(Instant::now(), 5, &[], "c1", 9);
        assert_eq!(agent["startTime"], 5);
        assert_eq!(agent["clusterId"], "c1");
        assert_eq!(agent["lastIndex"], 9);
        let back: AgentInfo = serde_json::from_value(agent).unwrap();
        assert_eq!(back.start_time, 5);
    }
}
