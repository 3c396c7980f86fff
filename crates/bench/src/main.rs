//! `helios-bench`: a closed-loop `POST /jobs` benchmark of a replicated `helios-master` cluster.
//!
//! It starts a 3-master cluster on loopback itself with `helios-testkit` (fresh temporary sled
//! directories, free ports; the `helios-master` binary next to its own executable, or
//! `--master-bin`; the masters' own default timings; the kernel kills the masters if the
//! benchmark dies), waits for
//! a leader, and for each `--clients` row runs a closed loop: N tokio tasks, each with its own
//! HTTP/1.1 keep-alive connection and one request in flight, each request creating a job with a
//! unique name and a 300-byte body (the anchors load generator's default job template). A 2 s
//! warm-up is discarded; the measured window then lasts `--duration` seconds. Per row it prints
//! `target | clients | creates/s | p50 ms | p99 ms | errors`, then the CPU of each master over
//! the window (from `/proc/PID/stat`, percent of one core, `*` marks the leader), the CPU of the
//! benchmark itself, the leader's group-commit batching (`helios_master_log_synced_appends_total`
//! / `helios_master_log_syncs_total` over the window), syncs per second, and the leader's mean
//! server-side write latency (`helios_master_write_latency_seconds`). The masters are killed
//! at the end.
//!
//! Usage:
//!
//! ```text
//! cargo build --release -p helios-master-raft -p helios-bench
//! target/release/helios-bench                                  # leader, 1/16/256 clients, 10 s
//! target/release/helios-bench --target follower --clients 16   # through a non-leader member
//! target/release/helios-bench --target leader,follower --json-out rows.jsonl
//!
//! cargo build --release -p helios-master-raft -p helios-agent -p helios-bench
//! target/release/helios-bench deploy      # assignment latency; 50 containers vs docker run, Swarm
//! ```
//!
//! `deploy` (see `deploy.rs` and `containers.rs`) also starts one `helios-agent` on this
//! machine's Docker engine and imports a local busybox image; it removes every container it
//! made, and makes the engine a one-node Swarm for the run unless `--no-swarm`.
//!
//! `rollout` (see `rollout.rs`) times rolling updates of a deployment group over simulated
//! hosts (`helios-agent --docker fake:`) and over real agents, against Helios's 1 s step tick:
//!
//! ```text
//! target/release/helios-bench rollout --simulated 20 --real 3 --passes 3
//! ```
//!
//! `failover` (see `failover.rs`) kills the leader with `kill -9` under load, 5 times, and
//! prints how long writes stopped each time, measured as the anchors load generator does:
//!
//! ```text
//! target/release/helios-bench failover --repetitions 5
//! target/release/helios-bench failover --master-arg=--election-timeout-ms=300
//! ```
//!
//! `scale` (see `scale.rs`) runs a simulated fleet against the masters: `--agents` hosts
//! (real agents with the in-memory runtime, many per process: the hidden `scale-agents`
//! subcommand, see `fleet.rs`) with the default 5 s heartbeats, `--jobs` jobs created and
//! deployed through the REST API (one deployment each, round-robin over the hosts), then
//! kills the leader; it prints placements/s, assignment and placement latencies, the leader's
//! CPU and resident memory at steady state, flapping hosts, and the failover's reconnection
//! time with a check that no deployment was lost or doubled:
//!
//! ```text
//! target/release/helios-bench scale --agents 200 --jobs 2000          # a minute
//! target/release/helios-bench scale                                   # 10,000 hosts, 100,000 jobs
//! ```
//!
//! `footprint` (see `footprint.rs`) creates `--jobs` jobs, waits for a snapshot covering
//! them, and prints each master's resident memory and data directory size, then times
//! `helios jobs` (and `--json`) listing them, with the CLI's peak memory:
//!
//! ```text
//! target/release/helios-bench footprint                     # 100,000 jobs
//! ```
//!
//! `compare` (see `compare.rs`) runs our masters beside ZooKeeper 3.8 and etcd 3.4 (Debian's
//! packages, installed when missing) with the same load loop: every row on every system,
//! interleaved, over several passes, with the ratio to ZooKeeper per row and the leader-kill
//! recovery of each system:
//!
//! ```text
//! target/release/helios-bench compare                       # 3 passes, 5 kills each
//! target/release/helios-bench compare --passes 1 --repetitions 1 --duration 3
//! ```
//!
//! The load generator shares the machine with the three masters: its own CPU is reported so
//! that a saturated client is not mistaken for a slow server.

mod agent;
mod compare;
mod containers;
mod deploy;
mod failover;
mod fleet;
mod fleet_protocol;
mod footprint;
mod load;
mod probe;
mod reference;
mod report;
mod requests;
mod rollout;
mod scale;
mod system;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use helios_testkit::{Cluster, ClusterOptions, bins};

use crate::load::{LoadSpec, Workload};
use crate::probe::Probe;
use crate::report::{Row, RowMeta};
use crate::system::System;

/// jemalloc instead of glibc's malloc, whose per-thread arenas made the simulated fleet of
/// `scale` spend most of its CPU faulting and zeroing pages; see `Cargo.toml`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Which member the clients send their requests to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Target {
    /// The Raft leader.
    Leader,
    /// The lowest-id member that does not lead (it forwards to the leader).
    Follower,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Leader => "leader",
            Target::Follower => "follower",
        }
    }
}

/// The benchmarks.
#[derive(Subcommand, Debug, Clone)]
enum Mode {
    /// Closed-loop POST /jobs (the default; its flags are the top-level ones).
    Create,
    /// Deploys through 3 masters and one `helios-agent` on this machine's Docker engine:
    /// assignment latency of one-at-a-time deploys, and N containers at once versus
    /// `docker run -d` (several in parallel) and a Swarm service, interleaved over passes.
    Deploy(DeployArgs),
    /// Rolling updates of one group of simulated hosts and one of real agents on this
    /// machine's Docker engine: request to ACTIVE, against Helios's 1 s step tick.
    Rollout(RolloutArgs),
    /// Kills the leader with `kill -9` under load, several times: time until writes flow
    /// again.
    Failover(FailoverArgs),
    /// Our masters beside ZooKeeper 3.8 and etcd 3.4 (Debian's packages, installed if
    /// missing) in one run: the 1/16/256-client rows interleaved over several passes, the
    /// ratio to ZooKeeper per row, and the leader-kill recovery of each.
    Compare(CompareArgs),
    /// A simulated fleet (default 10,000 hosts, 100,000 deployments) through the REST API:
    /// placements/s, latencies, leader CPU and memory, flaps, then a leader failover.
    Scale(ScaleArgs),
    /// What N jobs cost: each master's resident memory and data directory after a snapshot
    /// covering them, and the time and memory of `helios jobs` listing them.
    Footprint(FootprintArgs),
    /// Internal to `scale`: runs simulated hosts in this process (see `fleet.rs`).
    #[command(hide = true)]
    ScaleAgents(fleet::FleetArgs),
}

/// The systems `compare` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SystemName {
    /// Our 3 masters.
    Helios,
    /// ZooKeeper 3.8.
    Zookeeper,
    /// etcd 3.4 (its JSON gateway).
    Etcd,
}

/// Flags of `helios-bench compare` (rows: the top-level `--clients`, `--duration`,
/// `--warmup`, `--value-size`).
#[derive(clap::Args, Debug, Clone)]
struct CompareArgs {
    /// Systems to run, comma-separated (ratios need `zookeeper`).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "helios,zookeeper,etcd"
    )]
    systems: Vec<SystemName>,
    /// Passes over every row and system, interleaved.
    #[arg(long, default_value_t = 3)]
    passes: usize,
    /// Unrecorded load on each system before the first pass, seconds.
    #[arg(long, default_value_t = 10.0)]
    system_warmup: f64,
    /// Leader kills per system (0 for none).
    #[arg(long, default_value_t = 5)]
    repetitions: usize,
}

/// Flags of `helios-bench scale`.
#[derive(clap::Args, Debug, Clone)]
struct ScaleArgs {
    /// Simulated hosts (agents with in-memory containers).
    #[arg(long, default_value_t = 10_000)]
    agents: usize,
    /// Jobs created, each deployed to one host (job i on host i % agents).
    #[arg(long, default_value_t = 100_000)]
    jobs: usize,
    /// Processes the simulated hosts are spread over.
    #[arg(long, default_value_t = 4)]
    agent_processes: usize,
    /// Tokio worker threads of each of those processes.
    #[arg(long, default_value_t = 1)]
    agent_threads: usize,
    /// Agents each of those processes starts per second.
    #[arg(long, default_value_t = 1000)]
    agent_start_rate: u64,
    /// Concurrent API writers (each one keep-alive connection to the leader, one request in
    /// flight).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds of steady state (heartbeats only) over which the leader's CPU is measured.
    #[arg(long, default_value_t = 15.0)]
    steady: f64,
    /// Do not kill the leader at the end.
    #[arg(long)]
    skip_failover: bool,
}

/// Flags of `helios-bench footprint`.
#[derive(clap::Args, Debug, Clone)]
struct FootprintArgs {
    /// Jobs created.
    #[arg(long, default_value_t = 100_000)]
    jobs: usize,
    /// Concurrent API writers (each one keep-alive connection to the leader).
    #[arg(long, default_value_t = 64)]
    writers: usize,
    /// Runs of each `helios jobs` listing.
    #[arg(long, default_value_t = 3)]
    listings: usize,
    /// Keep the cluster up this many seconds after the measures, to look at it by hand.
    #[arg(long, default_value_t = 0)]
    hold_s: u64,
}

/// Flags of `helios-bench failover`.
#[derive(clap::Args, Debug, Clone)]
struct FailoverArgs {
    /// Leader kills, each on a settled cluster.
    #[arg(long, default_value_t = 5)]
    repetitions: usize,
    /// Concurrent writers (through the members that do not lead).
    #[arg(long = "writers", default_value_t = 16)]
    writers: usize,
    /// Seconds of load before the kill.
    #[arg(long, default_value_t = 3.0)]
    fault_at: f64,
    /// Seconds of load after the kill.
    #[arg(long, default_value_t = 8.0)]
    observe: f64,
}

/// Flags of `helios-bench rollout`.
#[derive(clap::Args, Debug, Clone)]
struct RolloutArgs {
    /// Simulated hosts (agents whose containers run in memory); 0 for none.
    #[arg(long, default_value_t = 20)]
    simulated: usize,
    /// Real agents on this machine's Docker engine; 0 for none.
    #[arg(long, default_value_t = 3)]
    real: usize,
    /// Rolling updates of each group, interleaved.
    #[arg(long, default_value_t = 3)]
    passes: usize,
    /// The agents' `--heartbeat-ms` (also the masters' `--agent-heartbeat-ms`).
    #[arg(long, default_value_t = 1000)]
    agent_heartbeat_ms: u64,
    /// Poll period of the group status, milliseconds.
    #[arg(long, default_value_t = 5)]
    poll_ms: u64,
}

/// Flags of `helios-bench deploy`.
#[derive(clap::Args, Debug, Clone)]
struct DeployArgs {
    /// Jobs deployed one at a time for the assignment latency (0 skips it).
    #[arg(long, default_value_t = 200)]
    sequential: usize,
    /// Containers brought up at once by each system (0 skips the comparison).
    #[arg(long, default_value_t = 50)]
    batch: usize,
    /// `docker run -d` commands in flight at once in the comparison.
    #[arg(long, default_value_t = 8)]
    docker_parallel: usize,
    /// Passes of the comparison, the systems interleaved.
    #[arg(long, default_value_t = 3)]
    passes: usize,
    /// Leaves Swarm out of the comparison (otherwise this engine becomes a one-node Swarm
    /// for the run, when it is not in one).
    #[arg(long)]
    no_swarm: bool,
    /// The agent's `--heartbeat-ms` (also the masters' `--agent-heartbeat-ms`, which the
    /// Welcome hands to the agent).
    #[arg(long, default_value_t = 1000)]
    agent_heartbeat_ms: u64,
    /// Poll period of a deploy's history (assignment latency), milliseconds.
    #[arg(long, default_value_t = 5)]
    poll_ms: u64,
    /// Poll period of the job statuses while N containers come up, milliseconds: each poll
    /// costs the masters CPU that the engine is short of then, so not too often.
    #[arg(long, default_value_t = 50)]
    batch_poll_ms: u64,
    /// `HELIOS_LOG` filter for the agent.
    #[arg(long, default_value = "info")]
    agent_log: String,
}

/// Closed-loop POST /jobs benchmark of a 3-master helios-master cluster it starts on loopback.
#[derive(Parser, Debug)]
#[command(
    name = "helios-bench",
    version,
    after_help = "Example:\n  cargo build --release -p helios-master-raft -p helios-bench\n  \
                  target/release/helios-bench --clients 1,16,256 --duration 10 --json-out rows.jsonl\n  \
                  target/release/helios-bench --target follower --clients 16\n\n\
                  Columns: creates/s, client-side p50/p99 latency, errors in the window; masters' CPU \
                  (% of one core, * = leader); the benchmark's own CPU; the leader's log appends per \
                  group-commit sync and syncs/s; the leader's mean server-side write latency (srv ms)."
)]
struct Args {
    /// What to measure (default: `create`, the POST /jobs benchmark).
    #[command(subcommand)]
    command: Option<Mode>,
    /// Directory holding the release `helios-master` and `helios-agent` (default: the
    /// directory of this executable).
    #[arg(long, global = true)]
    bin_dir: Option<PathBuf>,
    /// Rows to run: numbers of concurrent clients (each its own connection, one request in
    /// flight).
    #[arg(long, global = true, value_delimiter = ',', default_value = "1,16,256")]
    clients: Vec<usize>,
    /// Member(s) to send requests to, comma-separated; every target runs every row.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "leader")]
    target: Vec<Target>,
    /// Length of each measured window, seconds.
    #[arg(long, global = true, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up before each window, seconds (discarded).
    #[arg(long, global = true, default_value_t = 2.0)]
    warmup: f64,
    /// Size of each request body (a job JSON padded with an env value), bytes.
    #[arg(long, global = true, default_value_t = 300)]
    value_size: usize,
    /// Per-request timeout, milliseconds (a timed-out request counts as an error).
    #[arg(long, global = true, default_value_t = 10_000)]
    request_timeout_ms: u64,
    /// Pause after a failed request (e.g. 503 while a leader is elected), milliseconds.
    #[arg(long, default_value_t = 10)]
    error_backoff_ms: u64,
    /// The helios-master executable (default: in --bin-dir / next to this executable).
    #[arg(long, global = true)]
    master_bin: Option<PathBuf>,
    /// Directory under which the masters' temporary data directories are created (default:
    /// the system temporary directory). Use a directory on the disk you want to measure.
    #[arg(long, global = true)]
    data_root: Option<PathBuf>,
    /// `HELIOS_LOG` filter for the masters (default: the master's own default).
    #[arg(long, global = true)]
    master_log: Option<String>,
    /// Extra flag passed to every master (repeatable), e.g. `--master-arg=--heartbeat-ms=100`.
    #[arg(long = "master-arg", allow_hyphen_values = true, global = true)]
    master_args: Vec<String>,
    /// Start a fresh cluster for every row (otherwise the jobs of earlier rows stay in the
    /// state, as they would in a long-running cluster).
    #[arg(long)]
    fresh_cluster_per_row: bool,
    /// Append one JSON line per row to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Tokio worker threads of the load generator (default: one per core).
    #[arg(long)]
    worker_threads: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(Mode::ScaleAgents(f)) = args.command.clone() {
        return fleet::run_fleet(f);
    }
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.worker_threads {
        rt.worker_threads(n);
    }
    // `block_on` runs `run` on the main thread, which spawns the masters: their parent-death
    // signal then fires only when this process exits.
    let rt = rt.enable_all().build()?;
    match args.command.clone() {
        Some(Mode::Deploy(d)) => rt.block_on(run_deploy(args, d)),
        Some(Mode::Rollout(r)) => rt.block_on(run_rollout(args, r)),
        Some(Mode::Failover(f)) => rt.block_on(run_failover(args, f)),
        Some(Mode::Compare(c)) => rt.block_on(run_compare(args, c)),
        Some(Mode::Scale(sc)) => rt.block_on(run_scale(args, sc)),
        Some(Mode::Footprint(f)) => rt.block_on(run_footprint(args, f)),
        Some(Mode::ScaleAgents(_)) => unreachable!("handled above"),
        Some(Mode::Create) | None => rt.block_on(run(args)),
    }
}

fn master_bin(args: &Args) -> anyhow::Result<PathBuf> {
    match &args.master_bin {
        Some(p) => Ok(p.clone()),
        None => bins::installed(args.bin_dir.as_deref(), "helios-master")
            .context("pass --master-bin or --bin-dir"),
    }
}

/// The benchmark's cluster: 3 masters of the release build with the master's own timings
/// and `extra_args`, data under `--data-root`, killed with the benchmark.
fn cluster_options(args: &Args, extra_args: Vec<String>) -> anyhow::Result<ClusterOptions> {
    Ok(ClusterOptions {
        size: 3,
        master_bin: Some(master_bin(args)?),
        data_root: args.data_root.clone(),
        dir_prefix: "helios-bench-".into(),
        name_prefix: "bench-master".into(),
        base_args: Vec::new(),
        extra_args,
        log_filter: args.master_log.clone(),
        die_with_parent: true,
    })
}

/// Waits until the masters agree on a leader; returns its Raft id.
async fn leader_id(cluster: &Cluster, timeout: Duration) -> anyhow::Result<u64> {
    let i = cluster.try_wait_leader(timeout).await?;
    Ok(cluster.masters[i].id)
}

async fn run_deploy(args: Args, d: DeployArgs) -> anyhow::Result<()> {
    if d.sequential == 0 && (d.batch == 0 || d.passes == 0) {
        bail!("nothing to run: --sequential is 0, and --batch or --passes is 0");
    }
    let agent_bin = bins::installed(args.bin_dir.as_deref(), "helios-agent")?;
    let image = agent::ensure_image()?;
    let mut extra_args = vec![format!("--agent-heartbeat-ms={}", d.agent_heartbeat_ms)];
    extra_args.extend(args.master_args.iter().cloned());
    let opts = cluster_options(&args, extra_args)?;
    let unix = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let run_id = format!("d{unix}p{}", std::process::id());
    let (cluster, _) = start_cluster(&opts).await?;
    let masters = cluster.cluster_addrs();
    let mut agent = agent::LocalAgent::start(
        &agent_bin,
        "bench-agent",
        cluster.dir.path(),
        &masters,
        d.agent_heartbeat_ms,
        Some(&d.agent_log),
        &[],
    )?;
    let leader = leader_id(&cluster, Duration::from_secs(30)).await?;
    let api = deploy::Api::new(cluster.member(leader).context("no leader")?.url())?;
    api.wait_host_up(&mut agent, Duration::from_secs(60))
        .await?;
    eprintln!(
        "agent {} up (id {}, log {})",
        agent.name,
        agent.agent_id().unwrap_or_default(),
        agent.log.display()
    );
    let assign = if d.sequential > 0 {
        let dopts = deploy::DeployOptions {
            sequential_jobs: d.sequential,
            poll_ms: d.poll_ms.max(1),
            image: image.to_string(),
            run_id: run_id.clone(),
        };
        Some(deploy::assignment_latency(&api, &mut agent, &dopts).await?)
    } else {
        None
    };
    let copts = containers::ContainerOptions {
        n: d.batch,
        docker_parallel: d.docker_parallel,
        passes: d.passes,
        swarm: !d.no_swarm,
        poll: Duration::from_millis(d.batch_poll_ms.max(1)),
        image: image.to_string(),
        run_id,
    };
    let passes = if d.batch > 0 && d.passes > 0 {
        // Interrupted, the comparison is dropped, and with it the Swarm it made and the
        // containers of the way running then.
        tokio::select! {
            r = containers::compare(&api, &mut agent, &copts) => r?,
            _ = tokio::signal::ctrl_c() => bail!("interrupted"),
        }
    } else {
        Vec::new()
    };
    let after = leader_id(&cluster, Duration::from_secs(30)).await?;
    if let Some(assign) = &assign {
        deploy::print_table(assign);
        println!();
    }
    if !passes.is_empty() {
        containers::print_table(&copts, &passes);
    }
    if after != leader {
        println!("note: the leader changed from m{leader} to m{after} during the run");
    }
    drop(agent);
    drop(cluster);
    Ok(())
}

/// The leader-kill repetitions of `failover` and `compare`: 16 writers by default, the 250 ms
/// request timeout of the anchors' failover runs (a client leaves a dead member fast).
fn failover_spec(args: &Args, f: &FailoverArgs) -> failover::FailoverSpec {
    failover::FailoverSpec {
        clients: f.writers,
        fault_at: Duration::from_secs_f64(f.fault_at),
        observe: Duration::from_secs_f64(f.observe),
        request_timeout: Duration::from_millis(args.request_timeout_ms.min(250)),
        value_size: args.value_size,
    }
}

async fn run_failover(args: Args, f: FailoverArgs) -> anyhow::Result<()> {
    if f.repetitions == 0 || f.writers == 0 || f.fault_at <= 0.0 || f.observe <= 0.0 {
        bail!("--repetitions, --writers, --fault-at and --observe must be positive");
    }
    let opts = cluster_options(&args, args.master_args.clone())?;
    let unix = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut system = System::Helios(start_cluster(&opts).await?.0);
    let spec = failover_spec(&args, &f);
    let mut recoveries = Vec::new();
    for rep in 0..f.repetitions {
        let run_id = format!("f{unix}p{}r{rep}", std::process::id());
        let r = failover::repetition(&mut system, &spec, &run_id).await?;
        eprintln!(
            "repetition {}: killed m{}, writes again after {:?} ms",
            rep + 1,
            r.killed,
            r.recovery_ms
        );
        recoveries.push(r);
    }
    failover::print_table(&recoveries);
    Ok(())
}

async fn run_compare(args: Args, c: CompareArgs) -> anyhow::Result<()> {
    if c.passes == 0 || c.systems.is_empty() || args.clients.is_empty() || args.clients.contains(&0)
    {
        bail!("--passes, --systems and --clients must not be empty or zero");
    }
    if args.duration <= 0.0 || args.warmup < 0.0 || c.system_warmup < 0.0 {
        bail!("--duration must be positive, --warmup and --system-warmup not negative");
    }
    if c.systems.iter().any(|s| *s != SystemName::Helios) {
        reference::ensure_installed()?;
    }
    let mut systems = Vec::new();
    for name in &c.systems {
        // Started from the main thread (parent-death signal), one after another.
        systems.push(match name {
            SystemName::Helios => {
                let opts = cluster_options(&args, args.master_args.clone())?;
                System::Helios(start_cluster(&opts).await?.0)
            }
            SystemName::Zookeeper => System::Reference(reference::RefCluster::start(
                reference::Kind::ZooKeeper,
                args.data_root.as_deref(),
            )?),
            SystemName::Etcd => System::Reference(reference::RefCluster::start(
                reference::Kind::Etcd,
                args.data_root.as_deref(),
            )?),
        });
    }
    for system in &systems {
        let leader = system.wait_healthy(Duration::from_secs(60)).await?;
        eprintln!(
            "{} up: members {} (pids {:?}), leader m{}",
            system.name(),
            system.endpoints().join(" "),
            system.pids(),
            leader + 1
        );
    }
    let unix = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let spec = compare::CompareSpec {
        clients: args.clients.clone(),
        passes: c.passes,
        duration: Duration::from_secs_f64(args.duration),
        warmup: Duration::from_secs_f64(args.warmup),
        system_warmup: Duration::from_secs_f64(c.system_warmup),
        value_size: args.value_size,
        request_timeout: Duration::from_millis(args.request_timeout_ms),
        failover_repetitions: c.repetitions,
        failover: failover_spec(
            &args,
            &FailoverArgs {
                repetitions: c.repetitions,
                writers: 16,
                fault_at: 3.0,
                observe: 8.0,
            },
        ),
        run_id: format!("c{unix}p{}", std::process::id()),
    };
    let results = compare::run(&mut systems, &spec).await?;
    results.print(&spec);
    Ok(())
}

async fn run_rollout(args: Args, r: RolloutArgs) -> anyhow::Result<()> {
    if r.passes == 0 || r.simulated + r.real == 0 {
        bail!("--passes and --simulated + --real must be positive");
    }
    let agent_bin = bins::installed(args.bin_dir.as_deref(), "helios-agent")?;
    let mut extra_args = vec![format!("--agent-heartbeat-ms={}", r.agent_heartbeat_ms)];
    extra_args.extend(args.master_args.iter().cloned());
    let opts = cluster_options(&args, extra_args)?;
    let unix = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let run_id = format!("ru{unix}p{}", std::process::id());
    let (cluster, _) = start_cluster(&opts).await?;
    let masters = cluster.cluster_addrs();
    let mut agents = Vec::new();
    let mut groups = Vec::new();
    for (simulated, count, name, runtime) in [
        (true, r.simulated, "sim", "simulated"),
        (false, r.real, "real", "docker"),
    ] {
        if count == 0 {
            continue;
        }
        let image = if simulated {
            "bench-simulated:1".to_string()
        } else {
            agent::ensure_image()?.to_string()
        };
        for i in 0..count {
            agents.push(agent::LocalAgent::start(
                &agent_bin,
                &format!("{name}-{i:03}"),
                cluster.dir.path(),
                &masters,
                r.agent_heartbeat_ms,
                Some("warn"),
                &rollout::agent_args(name, simulated),
            )?);
        }
        groups.push(rollout::Group {
            name: name.to_string(),
            runtime,
            hosts: count,
            image,
        });
    }
    let leader = leader_id(&cluster, Duration::from_secs(30)).await?;
    let api = deploy::Api::new(cluster.member(leader).context("no leader")?.url())?;
    let poll = Duration::from_millis(r.poll_ms.max(1));
    let results = rollout::run(&api, &mut agents, groups, r.passes, poll, &run_id).await?;
    rollout::print_table(&results);
    let after = leader_id(&cluster, Duration::from_secs(30)).await?;
    if after != leader {
        println!("note: the leader changed from m{leader} to m{after} during the run");
    }
    drop(agents);
    drop(cluster);
    Ok(())
}

async fn run_scale(args: Args, sc: ScaleArgs) -> anyhow::Result<()> {
    if sc.agents == 0 || sc.jobs == 0 || sc.clients == 0 || sc.agent_processes == 0 {
        bail!("--agents, --jobs, --clients and --agent-processes must be positive");
    }
    if sc.agent_processes > sc.agents {
        bail!(
            "--agent-processes {} is more than --agents {}",
            sc.agent_processes,
            sc.agents
        );
    }
    if sc.agent_threads == 0 || sc.agent_start_rate == 0 || sc.steady <= 0.0 {
        bail!("--agent-threads, --agent-start-rate and --steady must be positive");
    }
    // One socket per agent on the leader: the masters and the fleet processes inherit this
    // process's limit.
    let nofile = fleet::raise_nofile_limit();
    eprintln!("open-file limit of the masters and fleet processes: {nofile}");
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let opts = cluster_options(&args, args.master_args.clone())?;
    let unix = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let (mut cluster, _) = start_cluster(&opts).await?;
    let sopts = scale::ScaleOptions {
        agents: sc.agents,
        jobs: sc.jobs,
        agent_processes: sc.agent_processes,
        fleet_threads: sc.agent_threads,
        start_per_s: sc.agent_start_rate,
        clients: sc.clients,
        value_size: args.value_size,
        request_timeout: Duration::from_millis(args.request_timeout_ms),
        steady: Duration::from_secs_f64(sc.steady),
        skip_failover: sc.skip_failover,
        run_tag: format!("{}", unix % 100_000),
    };
    let report = scale::run(&mut cluster, &exe, &sopts).await?;
    scale::print_table(&report);
    drop(cluster);
    Ok(())
}

async fn run_footprint(args: Args, f: FootprintArgs) -> anyhow::Result<()> {
    if f.jobs == 0 || f.writers == 0 || f.listings == 0 {
        bail!("--jobs, --writers and --listings must be positive");
    }
    let cli = bins::installed(args.bin_dir.as_deref(), "helios")?;
    let mut extra = Vec::new();
    let own_period = args
        .master_args
        .iter()
        .any(|a| a.starts_with("--snapshot-every"));
    if !own_period {
        extra.push(format!(
            "--snapshot-every={}",
            footprint::snapshot_every_for(f.jobs)
        ));
    }
    extra.extend(args.master_args.iter().cloned());
    let opts = cluster_options(&args, extra)?;
    let unix = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let (cluster, _) = start_cluster(&opts).await?;
    let fopts = footprint::FootprintOptions {
        jobs: f.jobs,
        clients: f.writers,
        value_size: args.value_size,
        listings: f.listings,
        // With the caller's own period, any snapshot will do.
        covered_index: if own_period {
            1
        } else {
            footprint::covered_index(f.jobs)
        },
        request_timeout: Duration::from_millis(args.request_timeout_ms),
        cli,
        run_tag: format!("{}", unix % 100_000),
    };
    let report = footprint::run(&cluster, &fopts).await?;
    footprint::print_table(&report);
    if f.hold_s > 0 {
        eprintln!("holding the cluster {} s: {:?}", f.hold_s, cluster.urls());
        tokio::time::sleep(Duration::from_secs(f.hold_s)).await;
    }
    drop(cluster);
    Ok(())
}

/// Starts the masters (from the main thread: see `die_with_parent`) and waits for a leader.
async fn start_cluster(opts: &ClusterOptions) -> anyhow::Result<(Cluster, u64)> {
    let cluster = Cluster::launch(opts)?;
    let leader = leader_id(&cluster, Duration::from_secs(60)).await?;
    eprintln!(
        "cluster up in {}: masters {} (pids {:?}), leader m{leader}",
        cluster.dir.path().display(),
        cluster
            .masters
            .iter()
            .map(|m| format!("m{}=:{}/:{}", m.id, m.http_port, m.cluster_port))
            .collect::<Vec<_>>()
            .join(" "),
        cluster.pids(),
    );
    Ok((cluster, leader))
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.clients.is_empty() || args.clients.contains(&0) {
        bail!("--clients needs positive numbers");
    }
    if args.duration <= 0.0 || args.warmup < 0.0 {
        bail!("--duration must be positive and --warmup not negative");
    }
    let opts = cluster_options(&args, args.master_args.clone())?;
    let unix = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let run_id = format!("r{unix}p{}", std::process::id());

    let (mut cluster, _) = start_cluster(&opts).await?;
    println!("{}", Row::table_header());
    let mut first = true;
    for &target in &args.target {
        for &clients in &args.clients {
            if args.fresh_cluster_per_row && !first {
                drop(cluster);
                cluster = start_cluster(&opts).await?.0;
            }
            first = false;
            let leader = leader_id(&cluster, Duration::from_secs(30)).await?;
            let member = match target {
                Target::Leader => leader,
                Target::Follower => cluster
                    .masters
                    .iter()
                    .map(|m| m.id)
                    .find(|&id| id != leader)
                    .context("no follower")?,
            };
            let endpoint = format!(
                "127.0.0.1:{}",
                cluster.member(member).context("member vanished")?.http_port
            );
            let urls: Vec<String> = cluster.masters.iter().map(|m| m.url()).collect();
            let members: Vec<u64> = cluster.masters.iter().map(|m| m.id).collect();
            let probe = Probe::new(cluster.pids(), &urls)?;
            let spec = LoadSpec {
                workload: Workload::HeliosJobs,
                endpoints: vec![endpoint],
                clients,
                warmup: Duration::from_secs_f64(args.warmup),
                duration: Duration::from_secs_f64(args.duration),
                value_size: args.value_size,
                request_timeout: Duration::from_millis(args.request_timeout_ms),
                error_backoff: Duration::from_millis(args.error_backoff_ms),
                // Unique per row: every target and row creates jobs of its own.
                run_id: format!("{run_id}-{}", target.name()),
            };
            let result = load::run(spec, &probe, None).await?;
            let after = leader_id(&cluster, Duration::from_secs(30)).await?;
            let row = Row::new(
                RowMeta {
                    target: target.name().to_string(),
                    target_member: member,
                    leader,
                    leader_changed: after != leader,
                    clients,
                    value_size: args.value_size,
                },
                &members,
                &result,
            );
            println!("{}", row.table_line(&members));
            if row.errors > 0
                && let Some(e) = &row.last_error
            {
                println!("  last error: {e}");
            }
            if row.leader_changed {
                println!("  note: the leader changed from m{leader} to m{after} during this row");
            }
            if let Some(path) = &args.json_out {
                row.append_json(path)
                    .with_context(|| format!("cannot append to {}", path.display()))?;
            }
        }
    }
    drop(cluster);
    Ok(())
}
