//! The workspace's test kit: one harness for every test and benchmark that needs masters.
//!
//! * [`Cluster`] / [`Master`] ([`cluster`], [`master`]): real `helios-master` processes with
//!   their own data directories and log files, started, stopped (SIGTERM), killed (SIGKILL),
//!   paused (SIGSTOP) and restarted with the same flags and ports; on loopback, or each on a
//!   host of its own ([`netns`], [`Cluster::on_hosts`]). [`ClusterOptions`] chooses the
//!   binary (built by cargo, or an installed release build), the flags, the data directory and
//!   the log filter, which the benchmark uses.
//! * [`Fault`] ([`fault`]): the one hook for faults, [`Cluster::inject`]: kill, restart, pause,
//!   resume, and with network-namespace hosts, isolation and packet loss.
//! * [`bins`]: the project's binaries, built once per test process or found on disk.
//! * [`ports`]: free-port allocation for master *processes* (the one place that does it).
//! * [`agents`], [`api`], [`docker`]: `helios-agent` processes, the REST calls tests make,
//!   and the Docker engine's side of what agents do.
//! * `in_process` (feature `in-process`): masters inside the test process on listeners bound
//!   to port 0 before their configuration is built, for the master's own integration tests.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod agents;
pub mod api;
pub mod bins;
pub mod cluster;
pub mod docker;
pub mod fault;
#[cfg(feature = "in-process")]
pub mod in_process;
pub mod master;
pub mod netns;
pub mod ports;

pub use bins::{bin, bin_dir};
pub use cluster::{Cluster, ClusterOptions};
pub use fault::Fault;
pub use master::Master;
pub use ports::free_port;

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

/// The last `n` lines of a log file (empty when it cannot be read).
pub fn tail(path: &std::path::Path, n: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
