//! Masters inside the test process (feature `in-process`), for the master's own integration
//! tests: each runs `helios_master_raft::server::serve` on a task of the test's runtime.
//!
//! Every listener is bound to port 0 *before* the configurations are built, so `--http`,
//! `--cluster` and `--peers` name the ports the kernel chose and the master serves on the very
//! sockets that were bound: no port is guessed (unlike processes, see [`crate::ports`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use helios_master_raft::config::{Args, MasterConfig};
use helios_master_raft::server::{self, Listeners};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Raft timings of in-process masters: fast, for one machine.
const TIMING: [&str; 2] = ["--heartbeat-ms=50", "--election-timeout-ms=300"];

/// How long [`InProcessMaster::shutdown`] waits for `serve` to return.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(20);

/// A master serving in this process until it is shut down (or dropped: dropping it signals
/// shutdown, and `serve` finishes on the runtime).
pub struct InProcessMaster {
    /// Raft id.
    pub id: u64,
    /// HTTP address, `127.0.0.1:<port>` (REST and gRPC).
    pub http: String,
    /// Cluster address, `127.0.0.1:<port>` (Raft, agents).
    pub cluster: String,
    /// sled directory.
    pub data_dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

/// Both listeners of one master, bound to port 0 on loopback.
async fn bind() -> Listeners {
    let http = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
    let cluster = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind cluster");
    Listeners { cluster, http }
}

fn addr(l: &TcpListener) -> String {
    l.local_addr().expect("bound address").to_string()
}

/// The configuration of member `id` on `listeners`, as `helios-master` would parse its flags.
fn config(
    id: u64,
    data_dir: &Path,
    listeners: &Listeners,
    peers: Option<&str>,
    extra: &[&str],
) -> MasterConfig {
    let mut flags = vec![
        "helios-master".to_string(),
        format!("--id={id}"),
        format!("--name=master-{id}"),
        format!("--data-dir={}", data_dir.display()),
        format!("--http={}", addr(&listeners.http)),
        format!("--cluster={}", addr(&listeners.cluster)),
    ];
    flags.extend(TIMING.map(String::from));
    if let Some(p) = peers {
        flags.push(format!("--peers={p}"));
    }
    flags.extend(extra.iter().map(|f| f.to_string()));
    Args::parse_from(flags).into_config().expect("config")
}

impl InProcessMaster {
    /// Starts member `cfg.id` on `listeners` (bound already, named by `cfg`).
    fn spawn(cfg: MasterConfig, listeners: Listeners, dir: Option<tempfile::TempDir>) -> Self {
        let (id, data_dir) = (cfg.id, cfg.data_dir.clone());
        let (http, cluster) = (addr(&listeners.http), addr(&listeners.cluster));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(cfg, listeners, async move {
            let _ = rx.await;
        }));
        InProcessMaster {
            id,
            http,
            cluster,
            data_dir,
            stop: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    /// One master forming a cluster of its own, its store in a fresh temporary directory,
    /// with `extra` flags.
    pub async fn single(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let listeners = bind().await;
        let cfg = config(1, &dir.path().join("data"), &listeners, None, extra);
        Self::spawn(cfg, listeners, Some(dir))
    }

    /// Like [`InProcessMaster::single`], its store in `data_dir`, which the caller keeps (to
    /// open it again after shutdown, say).
    pub async fn single_in(data_dir: &Path, extra: &[&str]) -> Self {
        let listeners = bind().await;
        let cfg = config(1, data_dir, &listeners, None, extra);
        Self::spawn(cfg, listeners, None)
    }

    /// `http://<http address>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Waits until `/readyz` answers 200 (a leader is known); panics after 30 s.
    pub async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(r) = client.get(format!("{}/readyz", self.url())).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("master at {} never became ready", self.http);
    }

    /// Signals shutdown; `Err` when the master had stopped already (or was never running).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let sent = self.stop.take().map(|tx| tx.send(()));
        anyhow::ensure!(
            matches!(sent, Some(Ok(()))),
            "master {} is not running",
            self.id
        );
        Ok(())
    }

    /// Waits for `serve` to return and returns what it returned. Panics when its task
    /// panicked or was joined already.
    pub async fn join(&mut self) -> anyhow::Result<()> {
        let task = self.task.take().expect("a serve task to join");
        task.await.expect("serve task")
    }

    /// Signals shutdown and waits (at most 20 s) for `serve` to return `Ok`; panics
    /// otherwise. Does nothing when it was shut down already.
    pub async fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if self.task.is_some() {
            tokio::time::timeout(SHUTDOWN_WAIT, self.join())
                .await
                .expect("the master shuts down in time")
                .expect("run returns Ok");
        }
    }
}

/// Several in-process masters forming one cluster; `--peers` names the bound cluster ports.
pub struct InProcessCluster {
    /// The members; index i has id i + 1.
    pub masters: Vec<InProcessMaster>,
    /// Keeps the data directories alive.
    pub dir: tempfile::TempDir,
}

impl InProcessCluster {
    /// Starts `n` members with fresh data directories (not waiting for a leader).
    pub async fn start(n: usize) -> Self {
        Self::start_with(n, &[]).await
    }

    /// Like [`InProcessCluster::start`], with `extra` flags for every member.
    pub async fn start_with(n: usize, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut bound = Vec::with_capacity(n);
        for _ in 0..n {
            bound.push(bind().await);
        }
        let peers = bound
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{}={}", i + 1, addr(&l.cluster)))
            .collect::<Vec<_>>()
            .join(",");
        let masters = bound
            .into_iter()
            .enumerate()
            .map(|(i, listeners)| {
                let id = i as u64 + 1;
                let data = dir.path().join(format!("m{id}"));
                let cfg = config(id, &data, &listeners, Some(&peers), extra);
                InProcessMaster::spawn(cfg, listeners, None)
            })
            .collect();
        InProcessCluster { masters, dir }
    }

    /// Shuts every member down (see [`InProcessMaster::shutdown`]).
    pub async fn shutdown(&mut self) {
        for m in &mut self.masters {
            m.shutdown().await;
        }
    }
}
