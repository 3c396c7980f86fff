//! A throwaway 3-master `helios-master` cluster on loopback: fresh data directories in a
//! temporary directory, free ports, one log file per master, and SIGKILL of every master when
//! the cluster is dropped (or when the benchmark process itself dies).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

/// One running master.
pub struct Master {
    /// Raft id (1-based).
    pub id: u64,
    /// HTTP port on 127.0.0.1.
    pub http_port: u16,
    /// Cluster (Raft) port on 127.0.0.1.
    pub cluster_port: u16,
    /// Where its stderr goes.
    pub log: PathBuf,
    child: Child,
}

impl Master {
    /// `http://127.0.0.1:<http port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last `n` lines of the master's log.
    pub fn log_tail(&self, n: usize) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Options for starting the masters.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// The `helios-master` executable.
    pub master_bin: PathBuf,
    /// Parent of the temporary directory holding the sled data directories and logs.
    pub data_root: Option<PathBuf>,
    /// Number of masters.
    pub size: usize,
    /// `HELIOS_LOG` for the masters (None: inherit / the master's default).
    pub log_filter: Option<String>,
    /// Extra flags passed to every master.
    pub extra_args: Vec<String>,
}

/// Masters on loopback forming one cluster; dropping it kills them and removes their data.
pub struct LocalCluster {
    /// The members; index i has id i + 1.
    pub masters: Vec<Master>,
    /// Keeps the data directories alive until the cluster is dropped.
    pub dir: tempfile::TempDir,
}

/// A free TCP port on 127.0.0.1 (the listener is closed again at once).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Finds `helios-master` next to this executable (`target/<profile>/`).
pub fn default_master_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find this executable's path")?;
    let dir = exe.parent().context("executable has no parent directory")?;
    let candidate = dir.join("helios-master");
    if candidate.is_file() {
        return Ok(candidate);
    }
    bail!(
        "no helios-master next to {} (build it with `cargo build --release -p helios-master-raft`, \
         or pass --master-bin)",
        exe.display()
    )
}

fn spawn_master(
    opts: &ClusterOptions,
    dir: &Path,
    id: u64,
    http_port: u16,
    cluster_port: u16,
    peers: &str,
) -> anyhow::Result<Master> {
    let log = dir.join(format!("m{id}.log"));
    let log_file =
        std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut cmd = Command::new(&opts.master_bin);
    cmd.args(["--id", &id.to_string()])
        .args(["--name", &format!("bench-master{id}")])
        .arg("--data-dir")
        .arg(dir.join(format!("m{id}")))
        .args(["--http", &format!("127.0.0.1:{http_port}")])
        .args(["--cluster", &format!("127.0.0.1:{cluster_port}")])
        .args(["--peers", peers])
        .args(&opts.extra_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    if let Some(filter) = &opts.log_filter {
        cmd.env("HELIOS_LOG", filter);
    }
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent. It makes the
    // kernel SIGKILL the master when the thread that spawned it (the main thread) exits, so
    // an interrupted benchmark leaves no masters behind.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", opts.master_bin.display()))?;
    Ok(Master {
        id,
        http_port,
        cluster_port,
        log,
        child,
    })
}

impl LocalCluster {
    /// Starts the masters with fresh data directories. Call it from the main thread (see
    /// the parent-death signal in `spawn_master`), then [`LocalCluster::wait_leader`].
    pub fn start(opts: &ClusterOptions) -> anyhow::Result<LocalCluster> {
        let dir = match &opts.data_root {
            Some(root) => {
                std::fs::create_dir_all(root)?;
                tempfile::Builder::new()
                    .prefix("helios-bench-")
                    .tempdir_in(root)?
            }
            None => tempfile::Builder::new().prefix("helios-bench-").tempdir()?,
        };
        let mut ports = Vec::new();
        while ports.len() < opts.size * 2 {
            let p = free_port()?;
            if !ports.contains(&p) {
                ports.push(p);
            }
        }
        let peers = (0..opts.size)
            .map(|i| format!("{}=127.0.0.1:{}", i + 1, ports[2 * i + 1]))
            .collect::<Vec<_>>()
            .join(",");
        let mut masters = Vec::new();
        for i in 0..opts.size {
            masters.push(spawn_master(
                opts,
                dir.path(),
                i as u64 + 1,
                ports[2 * i],
                ports[2 * i + 1],
                &peers,
            )?);
        }
        Ok(LocalCluster { masters, dir })
    }

    /// Waits until every master answers `GET /readyz` with the same leader; returns its id.
    pub async fn wait_leader(&mut self, timeout: Duration) -> anyhow::Result<u64> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()?;
        let deadline = Instant::now() + timeout;
        loop {
            for m in &mut self.masters {
                if let Some(status) = m.child.try_wait()? {
                    bail!(
                        "master {} exited ({status}); its log:\n{}",
                        m.id,
                        m.log_tail(30)
                    );
                }
            }
            let mut seen = Vec::new();
            for m in &self.masters {
                let leader = match client.get(format!("{}/readyz", m.url())).send().await {
                    Ok(r) if r.status().is_success() => r
                        .json::<Value>()
                        .await
                        .ok()
                        .and_then(|v| v["leader"].as_u64()),
                    _ => None,
                };
                seen.push(leader);
            }
            if let Some(Some(l)) = seen.first()
                && seen.iter().all(|s| *s == Some(*l))
                && self.masters.iter().any(|m| m.id == *l)
            {
                return Ok(*l);
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = self
                    .masters
                    .iter()
                    .map(|m| format!("--- master {} ---\n{}", m.id, m.log_tail(20)))
                    .collect();
                bail!(
                    "the masters did not agree on a leader within {timeout:?} (saw {seen:?})\n{}",
                    logs.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The member with this id.
    pub fn member(&self, id: u64) -> Option<&Master> {
        self.masters.iter().find(|m| m.id == id)
    }

    /// The process ids of the members, in id order.
    pub fn pids(&self) -> Vec<u32> {
        self.masters.iter().map(Master::pid).collect()
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for m in &mut self.masters {
            let _ = m.child.kill();
            let _ = m.child.wait();
        }
    }
}
