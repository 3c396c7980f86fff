//! A harness for the workspace tests: builds the project's binaries once, then starts real
//! `helios-master` processes on loopback ports with their own sled directories, and can stop
//! them with SIGTERM, kill them with SIGKILL, and restart them with the same flags.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod agents;
pub mod api;
pub mod docker;
pub mod netns;

/// Builds `helios-master`, `helios` and `helios-agent` once per test process (so a test file
/// run alone never uses a missing or stale binary) and returns the directory that holds them.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "helios-master-raft",
                "-p",
                "helios-cli",
                "-p",
                "helios-agent",
                "--bins",
            ])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the binaries failed");
        // The test binary lives in target/<profile>/deps.
        let exe = std::env::current_exe().expect("test exe path");
        exe.parent()
            .and_then(Path::parent)
            .expect("target dir")
            .to_path_buf()
    })
}

/// The path of one of the project's binaries.
pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// One master process and how to (re)start it.
pub struct Master {
    /// Raft id.
    pub id: u64,
    /// The address it binds: 127.0.0.1, or its host's (see [`Cluster::on_hosts`]).
    pub ip: String,
    /// HTTP port on `ip`.
    pub http_port: u16,
    /// Cluster port on `ip`.
    pub cluster_port: u16,
    /// sled directory.
    pub data_dir: PathBuf,
    /// Value of `--peers`.
    pub peers: String,
    /// Extra flags for `helios-master`.
    pub extra_args: Vec<String>,
    /// A command the master runs under (e.g. `strace …`), empty for none.
    pub wrapper: Vec<String>,
    child: Option<Child>,
    log: PathBuf,
}

impl Master {
    /// `http://<ip>:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.ip, self.http_port)
    }

    /// Starts the process (again) with the same flags.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "master {} already running", self.id);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open log");
        let mut cmd = match self.wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin("helios-master"));
                c
            }
            None => Command::new(bin("helios-master")),
        };
        let child = cmd
            .args(["--id", &self.id.to_string()])
            .args(["--name", &format!("master{}", self.id)])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--http", &format!("{}:{}", self.ip, self.http_port)])
            .args(["--cluster", &format!("{}:{}", self.ip, self.cluster_port)])
            .args(if self.peers.is_empty() {
                vec![]
            } else {
                vec!["--peers", self.peers.as_str()]
            })
            .args(["--heartbeat-ms", "100", "--election-timeout-ms", "600"])
            .args(["--agent-heartbeat-ms", "1000"])
            .args(&self.extra_args)
            .env("HELIOS_LOG", "info,openraft=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn helios-master");
        self.child = Some(child);
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Whether the process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL, then reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP: the process stays, frozen (a paused VM, a long GC pause).
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// SIGCONT after [`Master::pause`].
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: i32) {
        if let Some(pid) = self.pid() {
            // SAFETY: kill(2) on our own child's pid; no memory is involved.
            unsafe { libc::kill(pid as i32, signal) };
        }
    }

    /// SIGTERM, then wait for a clean exit (SIGKILL after 20 s).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The file the master's stderr goes to (appended across restarts).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The master's log so far (for failure messages).
    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        self.kill9();
        if !self.wrapper.is_empty() {
            // Killing a wrapper such as strace leaves the master itself running.
            let _ = Command::new("pkill")
                .args(["-9", "-f"])
                .arg(self.data_dir.as_os_str())
                .status();
        }
    }
}

/// Several masters on loopback forming one cluster.
pub struct Cluster {
    /// The members, index i has id i+1.
    pub masters: Vec<Master>,
    /// Keeps the data directories alive.
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `n` masters with fresh data directories and waits for a leader.
    pub async fn start(n: usize) -> Cluster {
        Self::start_wrapped(n, |_| Vec::new()).await
    }

    /// Like [`Cluster::start`], each master running under the command `wrapper(id)` returns.
    pub async fn start_wrapped(n: usize, wrapper: impl Fn(u64) -> Vec<String>) -> Cluster {
        let mut cluster = Self::prepare(n, wrapper);
        cluster.start_all().await;
        cluster
    }

    /// Lays out `n` members (ports, directories, flags) without starting them.
    pub fn prepare(n: usize, wrapper: impl Fn(u64) -> Vec<String>) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let peers = ports
            .iter()
            .enumerate()
            .map(|(i, (_, c))| format!("{}=127.0.0.1:{c}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let masters = ports
            .iter()
            .enumerate()
            .map(|(i, (h, c))| Master {
                id: i as u64 + 1,
                ip: "127.0.0.1".into(),
                http_port: *h,
                cluster_port: *c,
                data_dir: dir.path().join(format!("m{}", i + 1)),
                peers: peers.clone(),
                wrapper: wrapper(i as u64 + 1),
                extra_args: Vec::new(),
                child: None,
                log: dir.path().join(format!("m{}.log", i + 1)),
            })
            .collect();
        Cluster { masters, dir }
    }

    /// Starts member `i` (0-based) on host `i + 1` of `hosts`, each in its own network
    /// namespace, and waits for a leader.
    pub async fn on_hosts(hosts: &netns::Hosts, n: usize) -> Cluster {
        let mut cluster = Self::prepare(n, |id| hosts.wrapper(id as usize));
        for m in &mut cluster.masters {
            m.ip = hosts.ip(m.id as usize);
        }
        let peers = cluster
            .cluster_addrs()
            .iter()
            .enumerate()
            .map(|(i, addr)| format!("{}={addr}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        for m in &mut cluster.masters {
            m.peers = peers.clone();
        }
        cluster.start_all().await;
        cluster
    }

    /// Like [`Cluster::start`], with extra `helios-master` flags for every member.
    pub async fn start_with_args(n: usize, args: &[&str]) -> Cluster {
        let mut cluster = Self::prepare(n, |_| Vec::new());
        for m in &mut cluster.masters {
            m.extra_args = args.iter().map(|a| a.to_string()).collect();
        }
        cluster.start_all().await;
        cluster
    }

    async fn start_all(&mut self) {
        for m in &mut self.masters {
            m.start();
        }
        self.wait_leader(Duration::from_secs(60)).await;
    }

    /// Waits until every running master reports the same leader; returns its index.
    pub async fn wait_leader(&self, timeout: Duration) -> usize {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + timeout;
        loop {
            let mut leaders = Vec::new();
            for m in self.masters.iter().filter(|m| m.is_running()) {
                let r = client
                    .get(format!("{}/readyz", m.url()))
                    .timeout(Duration::from_secs(1))
                    .send()
                    .await;
                if let Ok(r) = r
                    && r.status().is_success()
                    && let Ok(v) = r.json::<Value>().await
                {
                    leaders.push(v["leader"].as_u64());
                } else {
                    leaders.push(None);
                }
            }
            if let Some(Some(l)) = leaders.first()
                && leaders.iter().all(|x| *x == Some(*l))
                && self.masters[*l as usize - 1].is_running()
            {
                return *l as usize - 1;
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = self.masters.iter().map(|m| m.log_tail()).collect();
                panic!("no agreed leader: {leaders:?}\n{}", logs.join("\n----\n"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The cluster addresses of every member (for agents' `--master`).
    pub fn cluster_addrs(&self) -> Vec<String> {
        self.masters
            .iter()
            .map(|m| format!("{}:{}", m.ip, m.cluster_port))
            .collect()
    }

    /// Comma-free list of every master URL.
    pub fn urls(&self) -> Vec<String> {
        self.masters.iter().map(Master::url).collect()
    }
}

/// Serialises the heaviest tests (several masters, agents and containers each) inside one
/// test binary, so that a 2-core machine runs one such scenario at a time.
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::Mutex::new(()))
        .lock()
        .await
}

/// A minimal job without a hash, as the CLI sends it.
pub fn job_json(name: &str, version: &str) -> Value {
    serde_json::json!({
        "id": format!("{name}:{version}"),
        "image": "busybox:latest",
        "command": ["sleep", "1000"],
    })
}

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
