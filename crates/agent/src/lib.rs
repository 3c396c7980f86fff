//! `helios-agent`: runs the Helios jobs the masters assign to this host on the local Docker
//! engine, and reports their task statuses (reference §4, DESIGN §6).
//!
//! Code map:
//! * [`config`]: flags and their checks.
//! * [`persist`]: the locked state dir (id, executions, task statuses, cluster state).
//! * [`file_writer`]: state-dir files rewritten by a thread of their own, off the hot path.
//! * [`session`]: the gRPC stream to the leading master, reconnects, redirects.
//! * [`certificate`]: the cluster-port certificate of a secured cluster, and its renewal.
//! * [`worker`]: assignments → executions → supervisors; reaping.
//! * [`supervisor`]: one task per job driving its container (pure `step`, restart policy).
//! * [`runtime`]: the [`runtime::ContainerRuntime`] trait, container specs, and Docker.
//! * [`ports`], [`health`], [`reporter`], [`backoff`]: port allocation, health checks,
//!   statuses and host info, retry delays.
//! * [`metrics`]: what containers and sessions did, at `/metrics` on `--metrics-addr`.
//!
//! Invariants: only `runtime::docker` uses bollard; the masters are reached only through
//! `session`; a container is never created for a job while its recorded container runs, nor
//! before the execution holding its allocated ports is on disk.
//!
//! Entry points: [`run`] (what the binary calls) and [`Agent`] (to embed an agent, e.g. in
//! `helios-solo` or tests; [`Agent::start_in_memory`] runs one without a state dir, for the
//! simulated hosts of `helios-bench scale`, where "on disk" above means "in memory").

#![warn(missing_docs)]

pub mod backoff;
pub mod certificate;
pub mod config;
pub mod file_writer;
pub mod health;
pub mod metrics;
pub mod persist;
pub mod ports;
pub mod reporter;
pub mod runtime;
pub mod session;
pub mod supervisor;
pub mod worker;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{AgentConfig, Args, PortRange};

use persist::StateDir;
use reporter::StatusHub;
use runtime::ContainerRuntime;
use runtime::docker::DockerRuntime;
use runtime::spec::ContainerDefaults;
use supervisor::Context;
use worker::Worker;

/// A running agent: its state dir lock, worker, session and status hub.
pub struct Agent {
    /// The agent id in use.
    agent_id: String,
    /// Executions and supervisors.
    worker: Arc<Worker>,
    /// Tells the worker and the session to stop.
    stop: watch::Sender<bool>,
    /// The worker and session tasks.
    tasks: Vec<JoinHandle<()>>,
    /// Held for the agent's lifetime: the lock on the state dir (`None` in memory).
    _state_dir: Option<Arc<StateDir>>,
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

impl Agent {
    /// Starts an agent with the Docker engine of `config.docker_host` (or, for
    /// [`config::FAKE_DOCKER`], the in-memory runtime of a simulated host). Fails at once if the
    /// state dir is locked by another agent or unusable; an unreachable Docker engine is
    /// retried in the background.
    pub async fn start(config: AgentConfig) -> anyhow::Result<Agent> {
        let state_dir = Arc::new(StateDir::open(&config.state_dir)?);
        let runtime: Arc<dyn ContainerRuntime> = if config.docker_host == config::FAKE_DOCKER {
            tracing::warn!("simulated host: containers run in memory, not on Docker");
            runtime::fake::FakeRuntime::simulation()
        } else {
            DockerRuntime::spawn(&config.docker_host)
        };
        Agent::start_with_runtime(config, state_dir, runtime)
    }

    /// Starts an agent on an already opened state dir with any container runtime.
    pub fn start_with_runtime(
        config: AgentConfig,
        state_dir: Arc<StateDir>,
        runtime: Arc<dyn ContainerRuntime>,
    ) -> anyhow::Result<Agent> {
        let agent_id = state_dir.agent_id(config.id.as_deref()).with_context(|| {
            format!(
                "cannot read or create the agent id in {}",
                state_dir.path().display()
            )
        })?;
        Agent::start_inner(config, agent_id, Some(state_dir), runtime)
    }

    /// Starts an agent whose state lives in memory only (no state dir, no lock, no files,
    /// no writer threads), with any container runtime: for simulating many hosts in one
    /// process (`helios-bench scale`), never for a real host, whose containers could not be
    /// adopted after a restart. `config.state_dir` is ignored; the agent id is `config.id`,
    /// else a new random one.
    pub fn start_in_memory(
        config: AgentConfig,
        runtime: Arc<dyn ContainerRuntime>,
    ) -> anyhow::Result<Agent> {
        let agent_id = config.id.clone().unwrap_or_else(persist::random_agent_id);
        Agent::start_inner(config, agent_id, None, runtime)
    }

    fn start_inner(
        config: AgentConfig,
        agent_id: String,
        state_dir: Option<Arc<StateDir>>,
        runtime: Arc<dyn ContainerRuntime>,
    ) -> anyhow::Result<Agent> {
        let started = Instant::now();
        let start_time_ms = chrono::Utc::now().timestamp_millis();
        let executions = state_dir
            .as_ref()
            .map(|d| d.load_executions())
            .unwrap_or_default();
        let mut statuses = state_dir
            .as_ref()
            .map(|d| d.load_statuses())
            .unwrap_or_default();
        // A status without an execution is left over from an interrupted undeploy.
        let stale: Vec<_> = statuses
            .keys()
            .filter(|id| !executions.contains_key(*id))
            .cloned()
            .collect();
        for id in &stale {
            statuses.remove(id);
        }
        let cluster = state_dir
            .as_ref()
            .map(|d| d.load_cluster())
            .unwrap_or_default();
        let state_path = state_dir
            .as_ref()
            .map_or_else(|| "(in memory)".into(), |d| d.path().display().to_string());
        tracing::info!(agent = %agent_id, name = %config.name, state_dir = %state_path,
            executions = executions.len(), cluster = %cluster.cluster_id, last_index = cluster.last_index,
            "agent starting");
        let hub = Arc::new(StatusHub::new(state_dir.clone(), statuses));
        let metrics = Arc::new(metrics::AgentMetrics::new());
        // Bound before anything runs, so that a port in use fails the start.
        let metrics_listener = match config.metrics_addr {
            Some(addr) => Some(metrics::bind(addr)?),
            None => None,
        };
        for id in &stale {
            hub.remove(id);
        }
        let ctx = Arc::new(Context {
            runtime,
            hub,
            defaults: ContainerDefaults {
                agent_id: agent_id.clone(),
                agent_name: config.name.clone(),
                env: config.env.clone(),
                binds: config.binds.clone(),
                dns: config.dns.iter().map(|d| d.to_string()).collect(),
                extra_hosts: config.add_hosts.clone(),
            },
            docker_host: config.docker_host.clone(),
            keep_exited: config.keep_exited,
            metrics: metrics.clone(),
        });
        let worker = Worker::new(
            ctx,
            state_dir.clone(),
            config.port_range,
            executions,
            cluster,
        );
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(worker.clone().run(stopped(stop_rx.clone())))];
        if let Some(listener) = metrics_listener {
            let served = metrics::serve(listener, metrics, stopped(stop_rx.clone()));
            tasks.push(tokio::spawn(async move {
                if let Err(e) = served.await {
                    tracing::warn!("the metrics server stopped: {e}");
                }
            }));
        }
        if !config.masters.is_empty() || config.discovery.is_some() {
            let session_cfg = session::SessionConfig {
                name: config.name.clone(),
                agent_id: agent_id.clone(),
                labels: config.labels.clone(),
                env: config.env.clone(),
                masters: config.masters.clone(),
                discovery: config.discovery.clone(),
                heartbeat: config.heartbeat,
                docker_host: config.docker_host.clone(),
                input_arguments: config.input_arguments.clone(),
                started,
                start_time_ms,
                join_token: config.join_token.clone(),
                tls_dir: state_dir.as_ref().map(|d| d.path().to_path_buf()),
            };
            tasks.push(tokio::spawn(session::run(
                session_cfg,
                worker.clone(),
                stopped(stop_rx),
            )));
        }
        Ok(Agent {
            agent_id,
            worker,
            stop,
            tasks,
            _state_dir: state_dir,
        })
    }

    /// The agent id in use.
    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    /// The worker (executions, local deploys).
    pub fn worker(&self) -> &Arc<Worker> {
        &self.worker
    }

    /// The task statuses.
    pub fn statuses(&self) -> &Arc<StatusHub> {
        &self.worker.context().hub
    }

    /// Stops the session and the supervisors (containers keep running) and releases the
    /// state dir lock.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
        let worker = self.worker.clone();
        let _ = tokio::task::spawn_blocking(move || {
            worker.flush_executions();
            worker.context().hub.flush();
        })
        .await;
        tracing::info!(agent = %self.agent_id, "agent stopped");
    }
}

impl Drop for Agent {
    /// An agent dropped without [`Agent::shutdown`] stops its tasks at their next await.
    fn drop(&mut self) {
        self.stop.send_replace(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Runs an agent until `shutdown` resolves. Returns an error only for problems at start
/// (state dir locked or unusable).
pub async fn run(
    config: AgentConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let agent = Agent::start(config).await?;
    shutdown.await;
    agent.shutdown().await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}
