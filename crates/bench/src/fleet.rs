//! Simulated hosts for `helios-bench scale`: many `helios_agent::Agent`s in one process.
//!
//! The benchmark starts several fleet processes, each `helios-bench scale-agents` (a hidden
//! subcommand, not an operator's tool). Each runs its share of the hosts in one tokio
//! runtime: every agent is a real agent (its own gRPC dispatcher stream to the leader,
//! heartbeats at the period the masters' Welcome names, status reports, reconnection) with
//! the in-memory container runtime (`FakeRuntime::simulation`: every image present,
//! containers run until stopped) and its state in memory (`Agent::start_in_memory`: no state
//! dir, no writer threads, no fsync), so ten thousand fit on a laptop. The process raises
//! its open-file limit to the hard limit (one socket per agent).
//!
//! It speaks `fleet_protocol` with the benchmark: a watcher per agent reports when each task
//! first appears (the assignment arrived) and when it is RUNNING; `mark` and `verify`
//! commands drive the failover part. [`FleetProcess`] is the benchmark's side: it starts one
//! fleet process and feeds its events into [`Observed`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use helios_agent::runtime::ContainerRuntime;
use helios_agent::runtime::fake::FakeRuntime;
use helios_agent::runtime::spec::LABEL_JOB;
use helios_agent::{Agent, AgentConfig, config::FAKE_DOCKER};
use helios_api::{Goal, State as TaskState};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::mpsc;

use crate::fleet_protocol::{Command, Event, epoch_us, job_number, jobs_of_host};

/// Flags of the hidden `helios-bench scale-agents` (set by `helios-bench scale`).
#[derive(clap::Args, Debug, Clone)]
pub struct FleetArgs {
    /// A master's cluster address HOST:PORT (repeatable).
    #[arg(long = "master", required = true)]
    pub masters: Vec<String>,
    /// Number of the first host of this process.
    #[arg(long)]
    pub first: usize,
    /// Hosts in this process.
    #[arg(long)]
    pub count: usize,
    /// Hosts in all processes (deployments go round-robin over them).
    #[arg(long)]
    pub total_agents: usize,
    /// Deployments in all (job `i` on host `i % total_agents`).
    #[arg(long)]
    pub jobs: usize,
    /// Host `h` is named `<host-prefix><h>`.
    #[arg(long)]
    pub host_prefix: String,
    /// Job `i` is named `<job-prefix><i>`.
    #[arg(long)]
    pub job_prefix: String,
    /// Agents started per second (a fleet does not boot in one instant).
    #[arg(long, default_value_t = 1000)]
    pub start_per_s: u64,
    /// Tokio worker threads of this process.
    #[arg(long, default_value_t = 1)]
    pub worker_threads: usize,
}

/// The name of host `h`.
pub fn host_name(prefix: &str, h: usize) -> String {
    format!("{prefix}{h:05}")
}

/// Raises this process's soft open-file limit to its hard limit; returns the new soft limit.
pub fn raise_nofile_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct they are given.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur as u64;
            }
        }
        lim.rlim_cur as u64
    }
}

/// One simulated host.
struct Sim {
    host: usize,
    agent: Agent,
    runtime: Arc<FakeRuntime>,
}

/// The fleet process: starts the agents, reports, obeys commands until stdin ends.
pub fn run_fleet(args: FleetArgs) -> anyhow::Result<()> {
    if args.count == 0 || args.first + args.count > args.total_agents {
        bail!(
            "--first {} --count {} does not fit in --total-agents {}",
            args.first,
            args.count,
            args.total_agents
        );
    }
    raise_nofile_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.worker_threads.max(1))
        .enable_all()
        .build()?;
    rt.block_on(fleet(args))
}

async fn fleet(args: FleetArgs) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    // One writer: events leave in batches, flushed whenever the queue runs dry.
    let writer = tokio::spawn(async move {
        let mut out = BufWriter::new(tokio::io::stdout());
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, 1024).await > 0 {
            for e in batch.drain(..) {
                out.write_all(format!("{e}\n").as_bytes()).await?;
            }
            out.flush().await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let sims = Arc::new(start_agents(&args, &tx).await?);
    tokio::spawn(report_connected(sims.clone(), tx.clone()));
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = stdin.next_line().await? {
        match line.parse::<Command>() {
            Ok(Command::Mark) => {
                let mark = sims
                    .iter()
                    .map(|s| s.agent.worker().cluster().last_index)
                    .max()
                    .unwrap_or(0);
                let _ = tx.send(Event::Marked(mark));
                tokio::spawn(report_reconnected(sims.clone(), mark, tx.clone()));
            }
            Ok(Command::Verify) => {
                for s in sims.iter() {
                    let problem = verify(s, &args).await;
                    let _ = tx.send(Event::Verified(s.host, problem));
                }
                let _ = tx.send(Event::VerifyDone);
            }
            Err(e) => eprintln!("{e}"),
        }
    }
    // The benchmark is gone or done: stop without waiting for anything.
    drop(tx);
    writer.abort();
    std::process::exit(0);
}

/// Starts `args.count` agents at `args.start_per_s`, each with a task watcher.
async fn start_agents(
    args: &FleetArgs,
    tx: &mpsc::UnboundedSender<Event>,
) -> anyhow::Result<Vec<Sim>> {
    let started = Instant::now();
    let mut sims = Vec::with_capacity(args.count);
    for k in 0..args.count {
        let host = args.first + k;
        let mut config = AgentConfig::new(host_name(&args.host_prefix, host), "");
        config.masters = args.masters.clone();
        config.docker_host = FAKE_DOCKER.to_string();
        let runtime = FakeRuntime::simulation();
        let agent = Agent::start_in_memory(config, runtime.clone())
            .with_context(|| format!("cannot start simulated host {host}"))?;
        tokio::spawn(watch_tasks(
            agent.statuses().clone(),
            args.job_prefix.clone(),
            tx.clone(),
        ));
        sims.push(Sim {
            host,
            agent,
            runtime,
        });
        let due = Duration::from_secs_f64((k + 1) as f64 / args.start_per_s.max(1) as f64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    Ok(sims)
}

/// Reports each task of one agent when it first appears and when it first runs.
async fn watch_tasks(
    hub: Arc<helios_agent::reporter::StatusHub>,
    job_prefix: String,
    tx: mpsc::UnboundedSender<Event>,
) {
    let mut changes = hub.subscribe();
    // Job number → whether RUNNING was reported.
    let mut seen: BTreeMap<usize, bool> = BTreeMap::new();
    loop {
        let now = epoch_us();
        for (id, status) in hub.all() {
            let Some(i) = job_number(&id.name, &job_prefix) else {
                continue;
            };
            let running = seen.entry(i).or_insert_with(|| {
                let _ = tx.send(Event::Assigned(i, now));
                false
            });
            if !*running && status.state == TaskState::Running {
                *running = true;
                let _ = tx.send(Event::Running(i, now));
            }
        }
        if changes.changed().await.is_err() {
            return;
        }
    }
}

/// Reports each agent once it has been welcomed (it knows the cluster id).
async fn report_connected(sims: Arc<Vec<Sim>>, tx: mpsc::UnboundedSender<Event>) {
    let mut pending: Vec<&Sim> = sims.iter().collect();
    while !pending.is_empty() {
        pending.retain(|s| {
            let welcomed = !s.agent.worker().cluster().cluster_id.is_empty();
            if welcomed {
                let _ = tx.send(Event::Connected(s.host));
            }
            !welcomed
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reports each agent once it applies assignments above `mark`. Every session starts with
/// a COMPLETE set carrying the leader's applied index, which on a new leader is above
/// anything the old one sent (the new leader's registration of the agent is applied before
/// its Welcome), so this is the agent's first session with a new leader.
async fn report_reconnected(sims: Arc<Vec<Sim>>, mark: u64, tx: mpsc::UnboundedSender<Event>) {
    let mut pending: Vec<&Sim> = sims.iter().collect();
    while !pending.is_empty() {
        let now = epoch_us();
        pending.retain(|s| {
            let back = s.agent.worker().cluster().last_index > mark;
            if back {
                let _ = tx.send(Event::Reconnected(s.host, now));
            }
            !back
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What is wrong with one host, if anything: each of its deployments must be an execution
/// with goal START, run in exactly one container and be RUNNING; nothing else may be there.
async fn verify(s: &Sim, args: &FleetArgs) -> Option<String> {
    let expected: BTreeSet<usize> = jobs_of_host(s.host, args.total_agents, args.jobs).collect();
    let mut problems = Vec::new();
    let executions = s.agent.worker().executions();
    let mut executed = BTreeSet::new();
    for (id, exec) in &executions {
        match job_number(&id.name, &args.job_prefix) {
            Some(i) if expected.contains(&i) && exec.goal == Goal::Start => {
                executed.insert(i);
            }
            _ => problems.push(format!("unexpected execution {id} ({:?})", exec.goal)),
        }
    }
    let missing: Vec<_> = expected.difference(&executed).collect();
    if !missing.is_empty() {
        problems.push(format!("no execution of jobs {missing:?}"));
    }
    match s.runtime.list(false, &[]).await {
        Ok(containers) => {
            let mut per_job: BTreeMap<String, usize> = BTreeMap::new();
            for c in containers.iter().filter(|c| c.running) {
                let job = c.labels.get(LABEL_JOB).cloned().unwrap_or_default();
                *per_job.entry(job).or_default() += 1;
            }
            let doubled: Vec<_> = per_job.iter().filter(|(_, n)| **n > 1).collect();
            if !doubled.is_empty() {
                problems.push(format!("jobs running twice {doubled:?}"));
            }
            if per_job.len() != expected.len() {
                problems.push(format!(
                    "{} jobs with running containers, {} expected",
                    per_job.len(),
                    expected.len()
                ));
            }
        }
        Err(e) => problems.push(format!("cannot list containers: {e}")),
    }
    let statuses = s.agent.statuses().all();
    let not_running = statuses
        .values()
        .filter(|st| st.state != TaskState::Running)
        .count();
    if not_running > 0 || statuses.len() != expected.len() {
        problems.push(format!(
            "{} task statuses, {not_running} not RUNNING, {} expected",
            statuses.len(),
            expected.len()
        ));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// What the benchmark has heard from all its fleet processes.
#[derive(Debug, Default)]
pub struct Observed {
    /// Hosts welcomed at least once.
    pub connected: usize,
    /// Per job: when its assignment arrived at the agent (epoch µs; 0 = not yet).
    pub assigned_us: Vec<u64>,
    /// Per job: when its task was RUNNING at the agent (epoch µs; 0 = not yet).
    pub running_us: Vec<u64>,
    /// Jobs running so far.
    pub running: usize,
    /// Events about a job reported twice, or about an unknown job or host.
    pub odd_events: usize,
    /// `Marked` answers received.
    pub marked: usize,
    /// Per host: when it had a session with a new leader after the mark (0 = not yet).
    pub reconnected_us: Vec<u64>,
    /// Hosts reconnected after the mark.
    pub reconnected: usize,
    /// Hosts checked by `verify`, and the problems found.
    pub verified: usize,
    /// `host: problem` of each host that failed the check.
    pub problems: Vec<String>,
    /// `VerifyDone` answers received.
    pub verify_done: usize,
}

impl Observed {
    /// An empty record for `agents` hosts and `jobs` jobs.
    pub fn new(agents: usize, jobs: usize) -> Observed {
        Observed {
            assigned_us: vec![0; jobs],
            running_us: vec![0; jobs],
            reconnected_us: vec![0; agents],
            ..Observed::default()
        }
    }

    /// Records one event.
    pub fn record(&mut self, e: Event) {
        let first = |slot: Option<&mut u64>, t: u64| match slot {
            Some(s) if *s == 0 => {
                *s = t.max(1);
                true
            }
            _ => false,
        };
        match e {
            Event::Connected(_) => self.connected += 1,
            Event::Assigned(i, t) => {
                if !first(self.assigned_us.get_mut(i), t) {
                    self.odd_events += 1;
                }
            }
            Event::Running(i, t) => {
                if first(self.running_us.get_mut(i), t) {
                    self.running += 1;
                } else {
                    self.odd_events += 1;
                }
            }
            Event::Marked(_) => self.marked += 1,
            Event::Reconnected(h, t) => {
                if first(self.reconnected_us.get_mut(h), t) {
                    self.reconnected += 1;
                } else {
                    self.odd_events += 1;
                }
            }
            Event::Verified(h, problem) => {
                self.verified += 1;
                if let Some(p) = problem {
                    self.problems.push(format!("host {h}: {p}"));
                }
            }
            Event::VerifyDone => self.verify_done += 1,
        }
    }
}

/// A running fleet process, seen from the benchmark. Dropping it kills the process.
pub struct FleetProcess {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    /// Its process id (for its CPU time).
    pub pid: u32,
}

impl FleetProcess {
    /// Starts `exe scale-agents …` for hosts `first..first + count`, its stderr appended to
    /// `log`, its events recorded into `observed`. Call it from the main thread
    /// (parent-death signal).
    pub fn start(
        exe: &Path,
        args: &FleetArgs,
        log: &Path,
        observed: Arc<Mutex<Observed>>,
    ) -> anyhow::Result<FleetProcess> {
        let mut cmd = std::process::Command::new(exe);
        cmd.arg("scale-agents")
            .args(["--first", &args.first.to_string()])
            .args(["--count", &args.count.to_string()])
            .args(["--total-agents", &args.total_agents.to_string()])
            .args(["--jobs", &args.jobs.to_string()])
            .args(["--host-prefix", &args.host_prefix])
            .args(["--job-prefix", &args.job_prefix])
            .args(["--start-per-s", &args.start_per_s.to_string()])
            .args(["--worker-threads", &args.worker_threads.to_string()]);
        for m in &args.masters {
            cmd.args(["--master", m]);
        }
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file);
        helios_testkit::master::die_with_parent(&mut cmd);
        let mut child = tokio::process::Command::from(cmd)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {} scale-agents", exe.display()))?;
        let pid = child.id().context("fleet process has no pid")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let stdin = child.stdin.take().context("no stdin")?;
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match line.parse::<Event>() {
                    Ok(e) => observed.lock().expect("observed").record(e),
                    Err(e) => eprintln!("fleet process {pid}: {e}"),
                }
            }
        });
        Ok(FleetProcess { child, stdin, pid })
    }

    /// Sends one command.
    pub async fn send(&mut self, command: Command) -> anyhow::Result<()> {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .context("fleet process gone")?;
        self.stdin.flush().await?;
        Ok(())
    }

    /// Fails when the process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("fleet process {} exited ({status})", self.pid);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_counts_each_task_once_and_flags_repeats() {
        let mut o = Observed::new(2, 3);
        o.record(Event::Assigned(1, 10));
        o.record(Event::Running(1, 20));
        o.record(Event::Running(1, 30));
        o.record(Event::Running(7, 30));
        o.record(Event::Reconnected(0, 40));
        o.record(Event::Verified(1, Some("no execution of jobs [1]".into())));
        assert_eq!(o.running, 1);
        assert_eq!(o.running_us[1], 20);
        assert_eq!(o.odd_events, 2);
        assert_eq!(o.reconnected, 1);
        assert_eq!(o.problems, ["host 1: no execution of jobs [1]"]);
    }
}
