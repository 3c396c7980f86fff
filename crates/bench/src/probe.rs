//! What is sampled at the start and end of a measured window: the CPU time of every master
//! (from `/proc/PID/stat`) and of the benchmark itself (`getrusage`), and the counters of
//! each master's Prometheus `/metrics` (group commit, write latency, commit index).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Group-commit syncs run for log appends (`Counter` "log_syncs" + `_total`).
pub const LOG_SYNCS: &str = "helios_master_log_syncs_total";
/// Log appends made durable by those syncs.
pub const LOG_SYNCED_APPENDS: &str = "helios_master_log_synced_appends_total";
/// Sum of the server-side write latency (request to commit and apply), seconds.
pub const WRITE_LATENCY_SUM: &str = "helios_master_write_latency_seconds_sum";
/// Count of the server-side write latency observations.
pub const WRITE_LATENCY_COUNT: &str = "helios_master_write_latency_seconds_count";
/// The member's Raft term (its growth counts elections).
pub const RAFT_TERM: &str = "helios_master_raft_term";
/// The member's applied log index.
pub const APPLIED_INDEX: &str = "helios_master_raft_applied_index";
/// The log index of the member's last snapshot (0 before the first).
pub const SNAPSHOT_INDEX: &str = "helios_master_raft_snapshot_index";
/// The member's committed log index.
pub const COMMIT_INDEX: &str = "helios_master_raft_commit_index";

/// CPU time (user + system) of a process in seconds, from `/proc/PID/stat`; None if gone.
pub fn pid_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is parenthesised and may hold spaces: count fields after the last ')'.
    // There, utime and stime (fields 14 and 15 of the line) are the 12th and 13th.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks_per_second())
}

/// The unit of the CPU times in `/proc`.
fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a constant and has no memory effects.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

/// CPU time every process and the kernel spent on this machine so far (user, nice, system,
/// irq and softirq of `/proc/stat`'s first line; not idle, iowait, or steal, the time a
/// hypervisor gave other machines), in seconds; None if unreadable.
pub fn host_busy_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: f64 = fields.iter().take(7).sum::<f64>() - fields.get(3)? - fields.get(4)?;
    Some(busy / clock_ticks_per_second())
}

/// Resident memory of a process, bytes: now (`VmRSS`) and its peak (`VmHWM`), from
/// `/proc/PID/status`; None if gone.
pub fn pid_memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some((kib("VmRSS:")? * 1024, kib("VmHWM:")? * 1024))
}

/// The soft open-file limit of a process, from `/proc/PID/limits`; None if unknown.
pub fn pid_nofile_limit(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU time (user + system) of this process, in seconds.
pub fn self_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Parses the unlabelled samples of a Prometheus text exposition (`name value`).
pub fn parse_metrics(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.split_once(' ')?;
            if name.contains('{') {
                return None;
            }
            Some((name.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// One sample of everything watched.
#[derive(Clone, Debug)]
pub struct Sample {
    at: Instant,
    own_cpu: f64,
    master_cpu: Vec<Option<f64>>,
    metrics: Vec<HashMap<String, f64>>,
}

/// Differences between two samples.
#[derive(Clone, Debug)]
pub struct Delta {
    /// CPU of this benchmark process, percent of one core.
    pub bench_cpu_pct: f64,
    /// CPU of each master (id order), percent of one core; None when it died.
    pub master_cpu_pct: Vec<Option<f64>>,
    /// Increase of a counter on each master (id order); None when unreadable.
    counters: Vec<HashMap<String, f64>>,
}

impl Delta {
    /// How much `name` grew on the master at `index` (0-based) during the window.
    pub fn counter(&self, index: usize, name: &str) -> Option<f64> {
        self.counters.get(index)?.get(name).copied()
    }
}

/// Samples the masters and this process.
pub struct Probe {
    pids: Vec<u32>,
    metric_urls: Vec<String>,
    client: reqwest::Client,
}

impl Probe {
    /// Watches these masters (pids and base URLs in the same, id, order).
    pub fn new(pids: Vec<u32>, base_urls: &[String]) -> anyhow::Result<Self> {
        Ok(Self {
            pids,
            metric_urls: base_urls.iter().map(|u| format!("{u}/metrics")).collect(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
        })
    }

    async fn scrape(&self, url: &str) -> HashMap<String, f64> {
        match self.client.get(url).send().await {
            Ok(r) if r.status().is_success() => r
                .text()
                .await
                .map(|t| parse_metrics(&t))
                .unwrap_or_default(),
            _ => HashMap::new(),
        }
    }

    /// Samples now: CPU first (cheap and exact), then the metrics of every master.
    pub async fn sample(&self) -> Sample {
        let at = Instant::now();
        let own_cpu = self_cpu_seconds();
        let master_cpu = self.pids.iter().map(|&p| pid_cpu_seconds(p)).collect();
        let mut metrics = Vec::new();
        for url in &self.metric_urls {
            metrics.push(self.scrape(url).await);
        }
        Sample {
            at,
            own_cpu,
            master_cpu,
            metrics,
        }
    }
}

impl Sample {
    /// The value of the gauge `name` on the master at `index` (0-based); None when unread.
    pub fn gauge(&self, index: usize, name: &str) -> Option<f64> {
        self.metrics.get(index)?.get(name).copied()
    }

    /// What changed since `earlier`.
    pub fn since(&self, earlier: &Sample) -> Delta {
        let wall_s = self.at.duration_since(earlier.at).as_secs_f64().max(1e-9);
        let pct = |now: f64, then: f64| 100.0 * (now - then) / wall_s;
        let master_cpu_pct = self
            .master_cpu
            .iter()
            .zip(&earlier.master_cpu)
            .map(|(n, t)| Some(pct((*n)?, (*t)?)))
            .collect();
        let counters = self
            .metrics
            .iter()
            .zip(&earlier.metrics)
            .map(|(now, then)| {
                now.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v - then.get(k)?)))
                    .collect()
            })
            .collect();
        Delta {
            bench_cpu_pct: pct(self.own_cpu, earlier.own_cpu),
            master_cpu_pct,
            counters,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_text() {
        let m = parse_metrics(
            "# HELP x y\n# TYPE helios_master_log_syncs counter\nhelios_master_log_syncs_total 12\n\
             helios_master_write_latency_seconds_bucket{le=\"0.1\"} 3\nhelios_master_raft_term 2\n# EOF\n",
        );
        assert_eq!(m.get(LOG_SYNCS), Some(&12.0));
        assert_eq!(m.get("helios_master_raft_term"), Some(&2.0));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn reads_own_cpu_from_proc() {
        assert!(pid_cpu_seconds(std::process::id()).is_some());
        assert!(self_cpu_seconds() >= 0.0);
    }

    #[test]
    fn reads_own_memory_and_fd_limit_from_proc() {
        let (rss, hwm) = pid_memory(std::process::id()).unwrap();
        assert!(rss > 0 && hwm >= rss, "rss {rss} hwm {hwm}");
        assert!(pid_nofile_limit(std::process::id()).is_some_and(|n| n > 0));
    }
}
