//! `helios-bench scale`: a simulated fleet against the 3 masters, and a leader failover under
//! it.
//!
//! 1. Fleet up: `--agents` simulated hosts (see `fleet.rs`: real agents with the in-memory
//!    runtime, many per process, `--agent-processes` processes) connect to the masters with
//!    the default heartbeat period (5 s, from the masters' Welcome); the time until every
//!    host is UP in the leader's state.
//! 2. Jobs: `--jobs` distinct jobs created with `POST /jobs` by `--clients` closed-loop
//!    writers on keep-alive connections to the leader (each request with an
//!    `Idempotency-Key`, retried with it on failure).
//! 3. Deployments: job `i` deployed to host `i % agents` with `PUT /hosts/{host}/jobs/{job}`
//!    by the same writers. Per deployment: the request's send time, its acknowledgement, the
//!    time its assignment reached the agent (the task's first status appears there) and the
//!    time its task was RUNNING at the agent (the status is then queued on the agent's stream
//!    to the leader). Placements/s is deployments over first request sent → last RUNNING; the
//!    benchmark then polls the leader until it holds every task RUNNING (its state, as the
//!    agents reported it) and prints that time too.
//! 4. Steady state: `--steady` seconds of heartbeats only; the leader's CPU over that window
//!    and every master's resident memory (`/proc`).
//! 5. Flaps: every `hosts DOWN` line the masters logged (the only way a host goes DOWN is the
//!    leader's liveness check writing it, which logs the hosts).
//! 6. Failover (unless `--skip-failover`): the fleet notes its last assignment index, the
//!    leader is killed with `kill -9`, and the benchmark times each agent's first session
//!    with the new leader (its COMPLETE set carries an index above the mark), then polls the
//!    new leader until every host is UP with exactly its deployments, all RUNNING; finally
//!    every agent checks its executions, containers and statuses (none lost, none doubled).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use helios_testkit::Cluster;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::json;

use crate::deploy::{Api, percentile};
use crate::fleet::{FleetArgs, FleetProcess, Observed, host_name};
use crate::fleet_protocol::{Command, epoch_us, job_number, jobs_of_host};
use crate::probe::{Probe, pid_cpu_seconds, pid_memory, pid_nofile_limit};
use crate::requests::{Accept, Call, closed_loop, create_jobs};

/// Knobs of the scale benchmark.
#[derive(Clone, Debug)]
pub struct ScaleOptions {
    /// Simulated hosts.
    pub agents: usize,
    /// Jobs, one deployment each.
    pub jobs: usize,
    /// Fleet processes the hosts are spread over.
    pub agent_processes: usize,
    /// Fleet processes' tokio worker threads.
    pub fleet_threads: usize,
    /// Agents each fleet process starts per second.
    pub start_per_s: u64,
    /// Concurrent API writers.
    pub clients: usize,
    /// Size of each job's JSON, bytes.
    pub value_size: usize,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Length of the steady-state window.
    pub steady: Duration,
    /// Do not kill the leader.
    pub skip_failover: bool,
    /// Makes host and job names unique to the run.
    pub run_tag: String,
}

/// A host as `POST /hosts/statuses` shows it (only what is checked).
#[derive(Deserialize)]
struct HostView {
    status: String,
    #[serde(default)]
    jobs: BTreeMap<String, IgnoredAny>,
    #[serde(default)]
    statuses: BTreeMap<String, StatusView>,
}

#[derive(Deserialize)]
struct StatusView {
    state: String,
}

/// The fleet as one master's state shows it.
#[derive(Debug, Default)]
struct FleetCheck {
    up: usize,
    /// Deployments expected and absent.
    lost: usize,
    /// Deployments present and not expected (another host's, or unknown).
    extra: usize,
    /// Expected deployments whose task is RUNNING.
    running: usize,
    /// The first few problems, for the log.
    samples: Vec<String>,
}

impl FleetCheck {
    fn exact(&self, agents: usize, jobs: usize) -> bool {
        self.up == agents && self.lost == 0 && self.extra == 0 && self.running == jobs
    }
}

/// Reads every host from `api` (500 per request) and compares its deployments and task
/// statuses with the ones it must have.
async fn check_fleet(api: &Api, opts: &ScaleOptions, jobs: usize) -> anyhow::Result<FleetCheck> {
    let prefix = host_prefix(opts);
    let job_prefix = job_prefix(opts);
    let mut check = FleetCheck::default();
    let hosts: Vec<usize> = (0..opts.agents).collect();
    for chunk in hosts.chunks(500) {
        let names: Vec<String> = chunk.iter().map(|&h| host_name(&prefix, h)).collect();
        let views: BTreeMap<String, HostView> = api.post_as("/hosts/statuses", &names).await?;
        for (&h, name) in chunk.iter().zip(&names) {
            let Some(view) = views.get(name) else {
                check.samples.push(format!("{name} unknown"));
                continue;
            };
            if view.status == "UP" {
                check.up += 1;
            }
            let expected: BTreeSet<usize> = jobs_of_host(h, opts.agents, jobs).collect();
            let number = |id: &str| job_number(id.split(':').next().unwrap_or(id), &job_prefix);
            let present: BTreeSet<usize> = view.jobs.keys().filter_map(|id| number(id)).collect();
            let extra = view.jobs.len() - present.intersection(&expected).count();
            let lost = expected.difference(&present).count();
            check.extra += extra;
            check.lost += lost;
            check.running += view
                .statuses
                .iter()
                .filter(|(id, s)| {
                    s.state == "RUNNING" && number(id).is_some_and(|i| expected.contains(&i))
                })
                .count();
            if (lost > 0 || extra > 0) && check.samples.len() < 5 {
                check
                    .samples
                    .push(format!("{name}: {lost} lost, {extra} unexpected"));
            }
        }
    }
    Ok(check)
}

/// [`check_fleet`] on whichever member leads now.
async fn check_on_leader(
    cluster: &Cluster,
    opts: &ScaleOptions,
    jobs: usize,
) -> anyhow::Result<FleetCheck> {
    let i = cluster.try_wait_leader(Duration::from_secs(30)).await?;
    check_fleet(&Api::new(cluster.masters[i].url())?, opts, jobs).await
}

/// Polls [`check_on_leader`] until `done` holds or `timeout` passes (a failed read, e.g.
/// during a leader change, is retried); the last check and whether `done` held.
async fn poll_leader(
    cluster: &Cluster,
    opts: &ScaleOptions,
    jobs: usize,
    timeout: Duration,
    done: impl Fn(&FleetCheck) -> bool,
) -> (Option<FleetCheck>, bool) {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    loop {
        match check_on_leader(cluster, opts, jobs).await {
            Ok(c) if done(&c) => return (Some(c), true),
            Ok(c) => last = Some(c),
            Err(e) => eprintln!("  reading the fleet from the leader: {e:#}"),
        }
        if Instant::now() > deadline {
            return (last, false);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn host_prefix(opts: &ScaleOptions) -> String {
    format!("sim{}-", opts.run_tag)
}

/// Job `i` is `hb<tag>j<i>` (`job_body` puts `hb` in front).
fn job_prefix(opts: &ScaleOptions) -> String {
    format!("hb{}j", opts.run_tag)
}

/// Hosts written DOWN in a master's log text: the names in each line of the leader's
/// liveness check (`… hosts DOWN down=["h1", "h2"]`).
pub fn down_hosts_logged(log: &str) -> usize {
    log.lines()
        .filter_map(|l| {
            l.split_once("hosts DOWN")?
                .1
                .split_once('[')?
                .1
                .split_once(']')
        })
        .map(|(names, _)| names.matches('"').count() / 2)
        .sum()
}

/// Hosts written DOWN in the logs of `cluster`'s masters after the byte offsets `from` (one
/// per master, as [`log_offsets`] returned them).
fn down_since(cluster: &Cluster, from: &[u64]) -> usize {
    cluster
        .masters
        .iter()
        .zip(from)
        .map(|(m, &offset)| {
            let bytes = std::fs::read(m.log_path()).unwrap_or_default();
            let tail = bytes.get(offset as usize..).unwrap_or_default();
            down_hosts_logged(&String::from_utf8_lossy(tail))
        })
        .sum()
}

/// The current length of each master's log.
fn log_offsets(cluster: &Cluster) -> Vec<u64> {
    cluster
        .masters
        .iter()
        .map(|m| std::fs::metadata(m.log_path()).map_or(0, |md| md.len()))
        .collect()
}

/// Latency percentiles of a set of durations, ms.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spread {
    /// Values.
    pub n: usize,
    /// Median, ms.
    pub p50: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// Largest, ms.
    pub max: f64,
}

impl Spread {
    /// The spread of `ms` (in any order).
    pub fn of(mut ms: Vec<f64>) -> Spread {
        ms.sort_by(f64::total_cmp);
        Spread {
            n: ms.len(),
            p50: percentile(&ms, 0.50),
            p99: percentile(&ms, 0.99),
            max: ms.last().copied().unwrap_or(f64::NAN),
        }
    }

    fn line(&self) -> String {
        format!(
            "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.p50, self.p99, self.max
        )
    }
}

/// What the failover part measured.
#[derive(Debug, Default)]
pub struct FailoverResult {
    /// The member killed and the new leader.
    pub killed: u64,
    /// The new leader.
    pub new_leader: u64,
    /// Kill to each agent's first session with the new leader, ms.
    pub reconnect: Spread,
    /// Agents that never reconnected.
    pub not_reconnected: usize,
    /// Kill to the new leader holding every host UP with exactly its deployments RUNNING, s.
    pub fleet_ok_s: Option<f64>,
    /// Deployments absent / unexpected in the new leader's state at the end.
    pub lost: usize,
    /// Deployments unexpected in the new leader's state at the end.
    pub extra: usize,
    /// Hosts whose agent found a problem (missing, doubled, not RUNNING).
    pub agent_problems: Vec<String>,
    /// Hosts written DOWN from the kill on.
    pub down: usize,
    /// The new leader's CPU from the kill to the fleet being whole, % of one core.
    pub leader_cpu_pct: f64,
    /// The new leader's resident memory at the end, bytes.
    pub leader_rss: u64,
}

/// Everything `helios-bench scale` prints.
#[derive(Debug, Default)]
pub struct ScaleReport {
    /// The options.
    pub agents: usize,
    /// Jobs = deployments.
    pub jobs: usize,
    /// Fleet processes.
    pub processes: usize,
    /// Writers.
    pub clients: usize,
    /// The leader during the deployments.
    pub leader: u64,
    /// The leader at steady state (another one if leadership moved under the load).
    pub leader_at_steady_state: u64,
    /// Start of the fleet to every host UP, s.
    pub fleet_up_s: f64,
    /// Jobs created per second.
    pub creates_per_s: f64,
    /// Deploys acknowledged per second (first sent → last acknowledged).
    pub deploys_per_s: f64,
    /// Deployments over first deploy sent → last task RUNNING at its agent.
    pub placements_per_s: f64,
    /// First deploy sent → last task RUNNING at its agent, s.
    pub placement_window_s: f64,
    /// Deploy request sent → task RUNNING at the agent.
    pub placement: Spread,
    /// Deploy acknowledged → assignment at the agent (negative values clamped at 0).
    pub assignment: Spread,
    /// Assignments that reached the agent before the client had the acknowledgement.
    pub assigned_before_ack: usize,
    /// First deploy sent → the leader's state holding every task RUNNING (polled), s.
    pub leader_all_running_s: Option<f64>,
    /// The leader's CPU over the deployments, % of one core.
    pub leader_cpu_deploy_pct: f64,
    /// The fleet processes' CPU over the deployments, % of one core (all together).
    pub fleet_cpu_deploy_pct: f64,
    /// The benchmark's own CPU over the deployments, % of one core.
    pub bench_cpu_deploy_pct: f64,
    /// The leader's CPU at steady state, % of one core.
    pub leader_cpu_steady_pct: f64,
    /// Length of the steady window, s.
    pub steady_s: f64,
    /// Each master's (id, resident bytes, peak resident bytes, is leader) at steady state.
    pub memory: Vec<(u64, u64, u64, bool)>,
    /// The leader's soft open-file limit.
    pub leader_nofile: Option<u64>,
    /// Hosts written DOWN before the failover.
    pub down_before_failover: usize,
    /// Task events seen twice or about unknown jobs.
    pub odd_events: usize,
    /// The failover part.
    pub failover: Option<FailoverResult>,
}

/// Waits until `done` holds for the observations, failing after `timeout` or when a fleet
/// process dies; prints progress every 5 s with `what`.
async fn wait_observed(
    observed: &Mutex<Observed>,
    fleets: &mut [FleetProcess],
    timeout: Duration,
    what: &str,
    done: impl Fn(&Observed) -> (bool, String),
) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut last_print = Instant::now();
    loop {
        let (ok, progress) = done(&observed.lock().expect("observed"));
        if ok {
            return Ok(());
        }
        for f in fleets.iter_mut() {
            f.check_alive()?;
        }
        if start.elapsed() > timeout {
            bail!("{what}: not done after {timeout:?} ({progress})");
        }
        if last_print.elapsed() > Duration::from_secs(5) {
            eprintln!("  {what}: {progress}");
            last_print = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn cpu_total(pids: &[u32]) -> f64 {
    pids.iter().filter_map(|&p| pid_cpu_seconds(p)).sum()
}

/// Runs the benchmark on `cluster` (already up, with a leader), with fleet processes started
/// from `exe`. Call it from the main thread (the fleet processes' parent-death signal).
pub async fn run(
    cluster: &mut Cluster,
    exe: &Path,
    opts: &ScaleOptions,
) -> anyhow::Result<ScaleReport> {
    let leader_index = cluster.try_wait_leader(Duration::from_secs(30)).await?;
    let leader = &cluster.masters[leader_index];
    let leader_id = leader.id;
    let leader_pid = leader.pid().context("leader has no pid")?;
    let leader_url = leader.url();
    let logs_at_start = log_offsets(cluster);
    let mut report = ScaleReport {
        agents: opts.agents,
        jobs: opts.jobs,
        processes: opts.agent_processes,
        clients: opts.clients,
        leader: leader_id,
        leader_nofile: pid_nofile_limit(leader_pid),
        ..ScaleReport::default()
    };
    if let Some(limit) = report.leader_nofile
        && (limit as usize) < opts.agents + 512
    {
        bail!(
            "the masters may open {limit} files, too few for {} agent streams: raise the hard \
             limit (ulimit -Hn) of the shell that starts the benchmark",
            opts.agents
        );
    }

    // 1. The fleet.
    let observed = Arc::new(Mutex::new(Observed::new(opts.agents, opts.jobs)));
    let per = opts.agents.div_ceil(opts.agent_processes);
    let mut fleets = Vec::new();
    let fleet_start = Instant::now();
    for p in 0..opts.agent_processes {
        let first = p * per;
        if first >= opts.agents {
            break;
        }
        let args = FleetArgs {
            masters: cluster.cluster_addrs(),
            first,
            count: per.min(opts.agents - first),
            total_agents: opts.agents,
            jobs: opts.jobs,
            host_prefix: host_prefix(opts),
            job_prefix: job_prefix(opts),
            start_per_s: opts.start_per_s,
            worker_threads: opts.fleet_threads,
        };
        let log = cluster.dir.path().join(format!("fleet-{p}.log"));
        fleets.push(FleetProcess::start(exe, &args, &log, observed.clone())?);
    }
    report.processes = fleets.len();
    let fleet_pids: Vec<u32> = fleets.iter().map(|f| f.pid).collect();
    let up_timeout = Duration::from_secs(60 + opts.agents as u64 / 50);
    wait_observed(&observed, &mut fleets, up_timeout, "fleet", |o| {
        (
            o.connected >= opts.agents,
            format!("{} of {} agents welcomed", o.connected, opts.agents),
        )
    })
    .await?;
    let (check, up) = poll_leader(cluster, opts, 0, up_timeout, |c| c.up == opts.agents).await;
    if !up {
        bail!("not every host UP: {check:?}");
    }
    report.fleet_up_s = fleet_start.elapsed().as_secs_f64();
    eprintln!(
        "{} hosts UP after {:.1} s ({} fleet processes)",
        opts.agents,
        report.fleet_up_s,
        fleets.len()
    );

    // 2. The jobs.
    let tag = opts.run_tag.clone();
    let size = opts.value_size;
    let make_job = create_jobs(format!("{tag}j"), format!("scale-{tag}-create"), size);
    let job_id: Arc<Accept<String>> = Arc::new(|status, body| {
        let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        match v["id"].as_str() {
            Some(id) if status.is_success() && v["status"] == "OK" => Ok(id.to_string()),
            _ => Err(format!("{status} {v}")),
        }
    });
    let t = Instant::now();
    let created = closed_loop(
        &leader_url,
        opts.jobs,
        opts.clients,
        opts.request_timeout,
        make_job,
        job_id,
    )
    .await?;
    report.creates_per_s = opts.jobs as f64 / t.elapsed().as_secs_f64();
    eprintln!(
        "{} jobs created in {:.1} s",
        opts.jobs,
        t.elapsed().as_secs_f64()
    );
    let ids: Arc<Vec<String>> = Arc::new(created.into_iter().map(|(id, _)| id).collect());

    // 3. The deployments.
    let (agents, prefix, tag) = (opts.agents, host_prefix(opts), opts.run_tag.clone());
    let deploy_ids = ids.clone();
    let make_deploy: Arc<dyn Fn(usize) -> Call + Send + Sync> = Arc::new(move |i| {
        let job = &deploy_ids[i];
        Call {
            method: hyper::Method::PUT,
            path: format!("/hosts/{}/jobs/{job}", host_name(&prefix, i % agents)),
            body: json!({"jobId": job, "goal": "START"}).to_string(),
            key: format!("scale-{tag}-deploy-{i}"),
        }
    });
    let deployed: Arc<Accept<()>> = Arc::new(|status, body| {
        if status.is_success() && body.windows(4).any(|w| w == b"\"OK\"") {
            Ok(())
        } else {
            Err(format!("{status} {}", String::from_utf8_lossy(body)))
        }
    });
    let urls: Vec<String> = cluster.masters.iter().map(|m| m.url()).collect();
    let probe = Probe::new(cluster.pids(), &urls)?;
    let before = probe.sample().await;
    let fleet_cpu_before = cpu_total(&fleet_pids);
    let acks = closed_loop(
        &leader_url,
        opts.jobs,
        opts.clients,
        opts.request_timeout,
        make_deploy,
        deployed,
    )
    .await?;
    let first_sent = acks.iter().map(|(_, t)| t.sent_us).min().unwrap_or(0);
    let last_ack = acks.iter().map(|(_, t)| t.acked_us).max().unwrap_or(0);
    report.deploys_per_s = opts.jobs as f64 / ((last_ack - first_sent) as f64 / 1e6);
    eprintln!(
        "{} deployments acknowledged in {:.1} s",
        opts.jobs,
        (last_ack - first_sent) as f64 / 1e6
    );
    let run_timeout = Duration::from_secs(300 + opts.jobs as u64 / 200);
    wait_observed(&observed, &mut fleets, run_timeout, "placements", |o| {
        (
            o.running >= opts.jobs,
            format!(
                "{} of {} tasks RUNNING at their agents",
                o.running, opts.jobs
            ),
        )
    })
    .await?;
    let after = probe.sample().await;
    let delta = after.since(&before);
    report.leader_cpu_deploy_pct = delta.master_cpu_pct[leader_index].unwrap_or(f64::NAN);
    report.bench_cpu_deploy_pct = delta.bench_cpu_pct;
    {
        let o = observed.lock().expect("observed");
        let last_running = o.running_us.iter().copied().max().unwrap_or(0);
        report.placement_window_s = (last_running - first_sent) as f64 / 1e6;
        report.placements_per_s = opts.jobs as f64 / report.placement_window_s;
        report.fleet_cpu_deploy_pct = 100.0 * (cpu_total(&fleet_pids) - fleet_cpu_before)
            / ((epoch_us() - first_sent) as f64 / 1e6);
        let mut placement = Vec::with_capacity(opts.jobs);
        let mut assignment = Vec::with_capacity(opts.jobs);
        for (i, (_, t)) in acks.iter().enumerate() {
            placement.push(o.running_us[i].saturating_sub(t.sent_us) as f64 / 1000.0);
            let assigned = o.assigned_us[i];
            if assigned < t.acked_us {
                report.assigned_before_ack += 1;
            }
            assignment.push(assigned.saturating_sub(t.acked_us) as f64 / 1000.0);
        }
        report.placement = Spread::of(placement);
        report.assignment = Spread::of(assignment);
        report.odd_events = o.odd_events;
    }
    eprintln!(
        "every task RUNNING at its agent {:.1} s after the first deploy; polling the leader",
        report.placement_window_s
    );
    let (check, exact) = poll_leader(cluster, opts, opts.jobs, Duration::from_secs(300), |c| {
        c.exact(opts.agents, opts.jobs)
    })
    .await;
    if exact {
        report.leader_all_running_s = Some((epoch_us() - first_sent) as f64 / 1e6);
    } else {
        eprintln!("the leader never held every task RUNNING: {check:?}");
    }

    // 4. Steady state, measured on whichever member leads now.
    let leader_index = cluster.try_wait_leader(Duration::from_secs(30)).await?;
    let leader_id = cluster.masters[leader_index].id;
    report.leader_at_steady_state = leader_id;
    let before = probe.sample().await;
    tokio::time::sleep(opts.steady).await;
    let after = probe.sample().await;
    let delta = after.since(&before);
    report.steady_s = opts.steady.as_secs_f64();
    report.leader_cpu_steady_pct = delta.master_cpu_pct[leader_index].unwrap_or(f64::NAN);
    report.memory = cluster
        .masters
        .iter()
        .map(|m| {
            let (rss, peak) = m.pid().and_then(pid_memory).unwrap_or((0, 0));
            (m.id, rss, peak, m.id == leader_id)
        })
        .collect();
    report.down_before_failover = down_since(cluster, &logs_at_start);

    // 6. Failover.
    if !opts.skip_failover {
        report.failover =
            Some(failover(cluster, &mut fleets, &observed, opts, leader_index).await?);
    }
    drop(fleets);
    Ok(report)
}

async fn failover(
    cluster: &mut Cluster,
    fleets: &mut [FleetProcess],
    observed: &Mutex<Observed>,
    opts: &ScaleOptions,
    leader_index: usize,
) -> anyhow::Result<FailoverResult> {
    let processes = fleets.len();
    for f in fleets.iter_mut() {
        f.send(Command::Mark).await?;
    }
    wait_observed(observed, fleets, Duration::from_secs(30), "mark", |o| {
        (o.marked >= processes, format!("{} marked", o.marked))
    })
    .await?;
    let logs = log_offsets(cluster);
    let mut result = FailoverResult {
        killed: cluster.masters[leader_index].id,
        ..FailoverResult::default()
    };
    cluster.masters[leader_index].kill9();
    let killed_us = epoch_us();
    let killed_at = Instant::now();
    eprintln!("killed the leader m{}", result.killed);
    let new_index = cluster.try_wait_leader(Duration::from_secs(30)).await?;
    let new_leader = &cluster.masters[new_index];
    result.new_leader = new_leader.id;
    let new_pid = new_leader.pid().context("new leader has no pid")?;
    let cpu_before = pid_cpu_seconds(new_pid).unwrap_or(0.0);
    let reconnected = wait_observed(
        observed,
        fleets,
        Duration::from_secs(180),
        "reconnect",
        |o| {
            (
                o.reconnected >= opts.agents,
                format!("{} of {} agents reconnected", o.reconnected, opts.agents),
            )
        },
    )
    .await;
    if let Err(e) = reconnected {
        eprintln!("{e:#}");
    }
    {
        let o = observed.lock().expect("observed");
        let times: Vec<f64> = o
            .reconnected_us
            .iter()
            .filter(|&&t| t > 0)
            .map(|&t| t.saturating_sub(killed_us) as f64 / 1000.0)
            .collect();
        result.not_reconnected = opts.agents - times.len();
        result.reconnect = Spread::of(times);
    }
    let (check, exact) = poll_leader(cluster, opts, opts.jobs, Duration::from_secs(180), |c| {
        c.exact(opts.agents, opts.jobs)
    })
    .await;
    if exact {
        result.fleet_ok_s = Some(killed_at.elapsed().as_secs_f64());
    }
    let check = check.context("the new leader never answered")?;
    result.leader_cpu_pct = 100.0 * (pid_cpu_seconds(new_pid).unwrap_or(0.0) - cpu_before)
        / killed_at.elapsed().as_secs_f64();
    result.lost = check.lost;
    result.extra = check.extra;
    for s in &check.samples {
        eprintln!("  new leader: {s}");
    }
    for f in fleets.iter_mut() {
        f.send(Command::Verify).await?;
    }
    wait_observed(observed, fleets, Duration::from_secs(120), "verify", |o| {
        (
            o.verify_done >= processes,
            format!("{} of {} hosts checked", o.verified, opts.agents),
        )
    })
    .await?;
    result.agent_problems = observed.lock().expect("observed").problems.clone();
    result.down = down_since(cluster, &logs);
    result.leader_rss = pid_memory(new_pid).map_or(0, |(rss, _)| rss);
    Ok(result)
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", crate::report::mib(bytes))
}

/// Prints the report as a two-column table.
pub fn print_table(r: &ScaleReport) {
    let row = |metric: &str, value: String| println!("{metric:<58} | {value}");
    println!(
        "helios-bench scale: {} simulated hosts in {} processes, {} jobs, {} deployments, {} writers to the leader (m{})",
        r.agents, r.processes, r.jobs, r.jobs, r.clients, r.leader
    );
    row("metric", "value".into());
    println!("{}", "-".repeat(110));
    row(
        "fleet start → every host UP",
        format!("{:.1} s", r.fleet_up_s),
    );
    row(
        "job creates (POST /jobs)",
        format!("{:.0}/s", r.creates_per_s),
    );
    row(
        "deploys acknowledged (PUT /hosts/H/jobs/J)",
        format!("{:.0}/s", r.deploys_per_s),
    );
    row(
        "placements/s (first deploy sent → last RUNNING at agent)",
        format!(
            "{:.0}/s ({} in {:.1} s)",
            r.placements_per_s, r.jobs, r.placement_window_s
        ),
    );
    row(
        "placement: deploy sent → RUNNING at the agent",
        r.placement.line(),
    );
    row(
        "assignment: deploy acknowledged → assignment at the agent",
        format!(
            "{} ({} of {} arrived before the ack: 0)",
            r.assignment.line(),
            r.assigned_before_ack,
            r.assignment.n
        ),
    );
    row(
        "first deploy sent → leader holds every task RUNNING",
        r.leader_all_running_s
            .map_or("never (see log)".into(), |s| format!("{s:.1} s (polled)")),
    );
    row(
        "CPU during deploys (% of one core)",
        format!(
            "leader {:.0}%, fleet {:.0}%, bench {:.0}%",
            r.leader_cpu_deploy_pct, r.fleet_cpu_deploy_pct, r.bench_cpu_deploy_pct
        ),
    );
    row(
        &format!("leader CPU at steady state ({:.0} s)", r.steady_s),
        format!("{:.1}% of one core", r.leader_cpu_steady_pct),
    );
    for (id, rss, peak, leader) in &r.memory {
        row(
            &format!(
                "RSS of m{id}{} at steady state",
                if *leader { " (leader)" } else { "" }
            ),
            format!("{} (peak {})", mib(*rss), mib(*peak)),
        );
    }
    row(
        "hosts flapped DOWN (deploys + steady state)",
        r.down_before_failover.to_string(),
    );
    if r.leader_at_steady_state != r.leader {
        row(
            "note: leadership moved under the load",
            format!(
                "m{} → m{} (steady-state figures are m{}'s)",
                r.leader, r.leader_at_steady_state, r.leader_at_steady_state
            ),
        );
    }
    if r.odd_events > 0 {
        row("task events repeated", r.odd_events.to_string());
    }
    if let Some(f) = &r.failover {
        row(
            &format!(
                "failover: kill -9 m{}, new leader m{}",
                f.killed, f.new_leader
            ),
            String::new(),
        );
        row(
            "  kill → agent's first session with the new leader",
            format!(
                "{}{}",
                f.reconnect.line(),
                if f.not_reconnected > 0 {
                    format!(", {} never", f.not_reconnected)
                } else {
                    String::new()
                }
            ),
        );
        row(
            "  kill → every host UP, deployments exact, all RUNNING",
            f.fleet_ok_s
                .map_or("never (see log)".into(), |s| format!("{s:.1} s")),
        );
        row(
            "  deployments lost / unexpected (new leader's state)",
            format!("{} / {}", f.lost, f.extra),
        );
        row(
            "  hosts whose agent is wrong (missing/doubled/not RUNNING)",
            f.agent_problems.len().to_string(),
        );
        row("  hosts flapped DOWN", f.down.to_string());
        row(
            "  new leader CPU (kill → fleet whole) / RSS",
            format!("{:.0}% / {}", f.leader_cpu_pct, mib(f.leader_rss)),
        );
        for p in f.agent_problems.iter().take(5) {
            println!("    {p}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_hosts_of_each_down_line() {
        let log = "\
2026-01-01T00:00:00Z  INFO helios_master_raft::dispatcher::session: agent connected host=h1\n\
2026-01-01T00:00:01Z  INFO helios_master_raft::dispatcher::liveness: agents missed their heartbeats: hosts DOWN down=[\"sim-00001\", \"sim-00002\"]\n\
2026-01-01T00:00:02Z  INFO helios_master_raft::dispatcher::liveness: agents missed their heartbeats: hosts DOWN down=[\"sim-00003\"]\n";
        assert_eq!(down_hosts_logged(log), 3);
        assert_eq!(down_hosts_logged("hosts UP\n"), 0);
    }

    #[test]
    fn spread_takes_nearest_rank_percentiles() {
        let s = Spread::of((1..=100).rev().map(f64::from).collect());
        assert_eq!((s.n, s.p50, s.p99, s.max), (100, 50.0, 99.0, 100.0));
    }
}
