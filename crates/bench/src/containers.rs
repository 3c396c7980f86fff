//! `helios-bench deploy`, second part: N containers of one image brought to running on this
//! machine's Docker engine three ways, interleaved over several passes with their order
//! rotated per pass:
//!
//! - **helios**: N jobs deployed at once to one `helios-agent`; the time from the first
//!   `PUT /hosts/{host}/jobs/{job}` to every task RUNNING in `POST /jobs/statuses` (what a
//!   client polling the masters sees), with the agent's own RUNNING timestamps beside it;
//! - **docker run**: `docker run -d` of the same image and command, N of them with a fixed
//!   number in flight (what an operator's script does), until the last one returned;
//! - **swarm**: `docker service create --replicas N` on a one-node Swarm (initialised for the
//!   run and left afterwards when the engine was not in one), until N of its containers run.
//!
//! Each system's containers are removed before the next one starts; the removal is not timed.
//! Ratios are taken within each pass, so a slow pass slows all three.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::agent::{LocalAgent, containers_matching, containers_named, docker, remove_containers};
use crate::deploy::{Api, epoch_ms, undeploy_all};
use crate::probe::host_busy_cpu_seconds;
use crate::report::{median_spread, median_spread_text};

/// Knobs of the comparison.
#[derive(Clone, Debug)]
pub struct ContainerOptions {
    /// Containers (jobs, `docker run`s, replicas) per system and pass.
    pub n: usize,
    /// `docker run -d` commands in flight at once.
    pub docker_parallel: usize,
    /// Passes over the systems.
    pub passes: usize,
    /// Whether Swarm takes part.
    pub swarm: bool,
    /// How often the job statuses are polled.
    pub poll: Duration,
    /// Image of every container (local: `docker run` is told never to pull it).
    pub image: String,
    /// Makes job, container and service names unique.
    pub run_id: String,
}

/// One system's run: its time and the CPU this machine spent meanwhile, seconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timed {
    /// Wall time.
    pub seconds: f64,
    /// Busy CPU of the whole machine (engine, runc, our processes, the kernel) meanwhile.
    pub host_cpu: f64,
}

/// A clock started with the machine's busy-CPU counter beside it.
struct Stopwatch(Instant, f64);

impl Stopwatch {
    fn start() -> Stopwatch {
        Stopwatch(Instant::now(), host_busy_cpu_seconds().unwrap_or(f64::NAN))
    }

    fn read(&self) -> Timed {
        Timed {
            seconds: self.0.elapsed().as_secs_f64(),
            host_cpu: host_busy_cpu_seconds().unwrap_or(f64::NAN) - self.1,
        }
    }
}

/// One pass's times, seconds.
#[derive(Clone, Debug, Default)]
pub struct Pass {
    /// Helios: first deploy request to every task RUNNING in the statuses (client polling).
    pub helios: Timed,
    /// Helios: first deploy request to the latest agent-side RUNNING timestamp.
    pub helios_agent: f64,
    /// Helios: first deploy request to the last deploy acknowledged.
    pub helios_acked: f64,
    /// `docker run -d` × N, `docker_parallel` at once, until the last returned.
    pub docker: Timed,
    /// Swarm service of N replicas, until N of its containers run (None without Swarm).
    pub swarm: Option<Timed>,
}

/// The systems, in the order of the first pass.
#[derive(Clone, Copy, Debug)]
enum System {
    Helios,
    DockerRun,
    Swarm,
}

/// Runs every pass and returns their times.
pub async fn compare(
    api: &Api,
    agent: &mut LocalAgent,
    opts: &ContainerOptions,
) -> anyhow::Result<Vec<Pass>> {
    let swarm = if opts.swarm {
        SwarmMembership::join()?
    } else {
        None
    };
    let mut systems = vec![System::Helios, System::DockerRun];
    if swarm.is_some() {
        systems.push(System::Swarm);
    }
    let mut passes = Vec::with_capacity(opts.passes);
    for p in 0..opts.passes {
        let mut pass = Pass::default();
        for k in 0..systems.len() {
            let system = systems[(p + k) % systems.len()];
            let tag = format!("{}-{p}", opts.run_id);
            match system {
                System::Helios => helios(api, agent, opts, &tag, &mut pass).await?,
                System::DockerRun => pass.docker = docker_run(opts, &tag).await?,
                System::Swarm => pass.swarm = Some(swarm_service(opts, &tag).await?),
            }
        }
        eprintln!(
            "pass {}: helios {:.2} s, docker run {:.2} s, swarm {}",
            p + 1,
            pass.helios.seconds,
            pass.docker.seconds,
            pass.swarm
                .map_or("-".into(), |s| format!("{:.2} s", s.seconds))
        );
        passes.push(pass);
    }
    drop(swarm);
    Ok(passes)
}

/// N jobs created, then deployed at once to the agent; times until every task is RUNNING.
async fn helios(
    api: &Api,
    agent: &mut LocalAgent,
    opts: &ContainerOptions,
    tag: &str,
    pass: &mut Pass,
) -> anyhow::Result<()> {
    let host = agent.name.clone();
    let mut jobs = Vec::with_capacity(opts.n);
    for i in 0..opts.n {
        jobs.push(api.create(&format!("{tag}-par{i}"), &opts.image).await?);
    }
    let api = Arc::new(api.clone());
    let t0_epoch = epoch_ms();
    let clock = Stopwatch::start();
    let mut set = tokio::task::JoinSet::new();
    for job in jobs.clone() {
        let api = api.clone();
        let host = host.clone();
        set.spawn(async move { api.deploy(&job, &host).await });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    pass.helios_acked = clock.read().seconds;
    let deadline = Instant::now() + Duration::from_secs(300);
    while api.running_count(&jobs, &host).await? < opts.n {
        if Instant::now() > deadline {
            agent.check_alive()?;
            bail!(
                "not every one of {} tasks RUNNING 300 s after the deploys",
                opts.n
            );
        }
        tokio::time::sleep(opts.poll).await;
    }
    pass.helios = clock.read();
    let mut last_running = 0i64;
    for job in &jobs {
        let events = api.history(job, &host).await?;
        let t = events
            .iter()
            .filter(|(s, _)| s == "RUNNING")
            .map(|(_, t)| *t)
            .min()
            .with_context(|| format!("{job} is RUNNING but its history has no RUNNING event"))?;
        last_running = last_running.max(t);
    }
    pass.helios_agent = (last_running as f64 - t0_epoch) / 1000.0;
    undeploy_all(&api, &jobs, agent, Duration::from_secs(300)).await?;
    Ok(())
}

/// Removes the containers whose name starts with the prefix when dropped.
struct PlainContainers(String);

impl Drop for PlainContainers {
    fn drop(&mut self) {
        remove_containers(&self.0);
    }
}

/// `docker run -d` × N, `docker_parallel` at a time; the time until the last one returned.
async fn docker_run(opts: &ContainerOptions, tag: &str) -> anyhow::Result<Timed> {
    let prefix = format!("helios-bench-plain-{tag}-");
    let _guard = PlainContainers(prefix.clone());
    let next = Arc::new(AtomicUsize::new(0));
    // Set by the first failure: the other workers start nothing more.
    let failed = Arc::new(AtomicBool::new(false));
    let clock = Stopwatch::start();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..opts.docker_parallel.max(1) {
        let (next, failed) = (next.clone(), failed.clone());
        let (prefix, image, n) = (prefix.clone(), opts.image.clone(), opts.n);
        workers.spawn_blocking(move || -> anyhow::Result<()> {
            while !failed.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let name = format!("{prefix}{i}");
                let run = ["run", "-d", "--pull=never", "--name", &name, &image];
                let result = docker(&[&run[..], &["sleep", "100000"]].concat());
                if result.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                result?;
            }
            Ok(())
        });
    }
    // Every worker is waited for, so none starts a container after the guard removed them.
    let mut first_error = None;
    while let Some(r) = workers.join_next().await {
        if let Err(e) = r.map_err(anyhow::Error::from).and_then(|r| r) {
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let elapsed = clock.read();
    let running = containers_named(&prefix, false).len();
    if running != opts.n {
        bail!(
            "only {running} of {} plain containers run after `docker run -d`",
            opts.n
        );
    }
    Ok(elapsed)
}

/// This engine as a one-node Swarm for the run: joined (initialised) only when it was not in
/// one, and left again when dropped, with the bridge network Swarm creates on this host.
struct SwarmMembership {
    /// Whether `docker_gwbridge` was created by our `swarm init`.
    remove_gwbridge: bool,
}

impl SwarmMembership {
    /// `None` (and a note on stderr) when the engine already is in a Swarm we did not make,
    /// or cannot become a manager; the comparison then runs without Swarm.
    fn join() -> anyhow::Result<Option<SwarmMembership>> {
        let state = docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"])?;
        if state != "inactive" {
            eprintln!(
                "this engine's Swarm state is {state:?}, not inactive: Swarm left out (if an \
                 interrupted run of this benchmark left it, `docker swarm leave --force`)"
            );
            return Ok(None);
        }
        let had_gwbridge =
            !docker(&["network", "ls", "-q", "--filter", "name=^docker_gwbridge$"])?.is_empty();
        if let Err(e) = docker(&["swarm", "init", "--advertise-addr", "127.0.0.1"]) {
            eprintln!("cannot make this engine a Swarm manager, Swarm left out: {e:#}");
            return Ok(None);
        }
        Ok(Some(SwarmMembership {
            remove_gwbridge: !had_gwbridge,
        }))
    }
}

impl Drop for SwarmMembership {
    fn drop(&mut self) {
        if let Err(e) = docker(&["swarm", "leave", "--force"]) {
            eprintln!("leaving the Swarm: {e:#}");
        }
        if self.remove_gwbridge
            && let Err(e) = docker(&["network", "rm", "docker_gwbridge"])
        {
            eprintln!("removing the docker_gwbridge network Swarm made: {e:#}");
        }
    }
}

/// Removes the Swarm service when dropped, and waits until its containers are gone.
struct SwarmService(String);

impl SwarmService {
    fn label(&self) -> String {
        format!("label=com.docker.swarm.service.name={}", self.0)
    }

    fn containers(&self, all: bool) -> usize {
        containers_matching(&self.label(), all).len()
    }
}

impl Drop for SwarmService {
    fn drop(&mut self) {
        let _ = docker(&["service", "rm", &self.0]);
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.containers(true) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// One service of N replicas; the time from `docker service create` until N run.
async fn swarm_service(opts: &ContainerOptions, tag: &str) -> anyhow::Result<Timed> {
    let (n, image, name, poll) = (
        opts.n,
        opts.image.clone(),
        format!("helios-bench-swarm-{tag}"),
        opts.poll,
    );
    tokio::task::spawn_blocking(move || -> anyhow::Result<Timed> {
        let clock = Stopwatch::start();
        let replicas = n.to_string();
        docker(&[
            "service",
            "create",
            "--detach",
            "--no-resolve-image",
            "--replicas",
            &replicas,
            "--name",
            &name,
            &image,
            "sleep",
            "100000",
        ])?;
        let service = SwarmService(name);
        let deadline = Instant::now() + Duration::from_secs(300);
        while service.containers(false) < n {
            if Instant::now() > deadline {
                bail!(
                    "{} of {n} Swarm replicas run after 300 s",
                    service.containers(false)
                );
            }
            std::thread::sleep(poll);
        }
        Ok(clock.read())
    })
    .await?
}

/// Prints the table: per way the median time with its spread, the machine's busy CPU
/// meanwhile (median), the time over `docker run`'s and Swarm's time over this one, each ratio
/// taken within a pass.
pub fn print_table(opts: &ContainerOptions, passes: &[Pass]) {
    println!(
        "{} containers of one image to running on this engine: median of {} passes (min-max); \
         ratios within each pass, median (min-max); host CPU: busy CPU-seconds of the machine, \
         median",
        opts.n,
        passes.len()
    );
    println!(
        "{:<48} | {:>20} | {:>10} | {:>20} | {:>20}",
        "how", "seconds", "host CPU", "/ docker run", "swarm / this"
    );
    println!("{}", "-".repeat(131));
    let has_swarm = passes.iter().all(|p| p.swarm.is_some());
    // `ratios`: only for the measures that end with the containers running.
    let row = |what: String,
               time: &dyn Fn(&Pass) -> f64,
               cpu: Option<&dyn Fn(&Pass) -> f64>,
               ratios: bool| {
        let (vs_docker, vs_swarm) = if !ratios {
            ("-".to_string(), "-".to_string())
        } else {
            (
                median_spread_text(
                    passes.iter().map(|p| time(p) / p.docker.seconds).collect(),
                    2,
                    "×",
                ),
                median_spread_text(
                    passes
                        .iter()
                        .filter_map(|p| Some(p.swarm?.seconds / time(p)))
                        .collect(),
                    2,
                    "×",
                ),
            )
        };
        let cpu = cpu.map_or("-".into(), |cpu| {
            median_spread(passes.iter().map(cpu).collect())
                .map_or("-".into(), |(m, _, _)| format!("{m:.1}"))
        });
        println!(
            "{what:<48} | {:>20} | {cpu:>10} | {vs_docker:>20} | {vs_swarm:>20}",
            median_spread_text(passes.iter().map(time).collect(), 2, "")
        );
    };
    row(
        "helios: deploys -> all RUNNING (status poll)".into(),
        &|p| p.helios.seconds,
        Some(&|p| p.helios.host_cpu),
        true,
    );
    row(
        "helios: deploys -> last agent RUNNING event".into(),
        &|p| p.helios_agent,
        None,
        true,
    );
    row(
        "helios: deploys -> last deploy acked".into(),
        &|p| p.helios_acked,
        None,
        false,
    );
    row(
        format!(
            "docker run -d x{}, {} in parallel",
            opts.n,
            opts.docker_parallel.max(1)
        ),
        &|p| p.docker.seconds,
        Some(&|p| p.docker.host_cpu),
        true,
    );
    if has_swarm {
        row(
            format!("swarm: service create --replicas {}", opts.n),
            &|p| p.swarm.map_or(f64::NAN, |s| s.seconds),
            Some(&|p| p.swarm.map_or(f64::NAN, |s| s.host_cpu)),
            true,
        );
    }
    println!("targets: helios (status poll) <= 1.1x docker run, swarm / helios >= 2x");
}
