//! One result row: built from a [`LoadResult`], printed as a line of the table, and appended
//! as one JSON line to `--json-out`.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::load::LoadResult;
use crate::probe::{
    COMMIT_INDEX, LOG_SYNCED_APPENDS, LOG_SYNCS, WRITE_LATENCY_COUNT, WRITE_LATENCY_SUM,
};

/// Bytes as whole MiB, for tables.
pub fn mib(bytes: u64) -> String {
    format!("{:.0}", bytes as f64 / (1 << 20) as f64)
}

/// Median of `values` (the upper one for an even count), and the minimum and maximum; None
/// for no values.
pub fn median_spread(mut values: Vec<f64>) -> Option<(f64, f64, f64)> {
    values.sort_by(f64::total_cmp);
    Some((
        *values.get(values.len() / 2)?,
        values[0],
        values[values.len() - 1],
    ))
}

/// `median (min-max)` of `values` with `digits` decimals, each number followed by `unit`
/// only after the median; `-` for no values.
pub fn median_spread_text(values: Vec<f64>, digits: usize, unit: &str) -> String {
    median_spread(values).map_or_else(
        || "-".to_string(),
        |(m, lo, hi)| format!("{m:.digits$}{unit} ({lo:.digits$}-{hi:.digits$})"),
    )
}

/// What a row was: where the clients sent their requests, and how many there were.
#[derive(Debug, Clone)]
pub struct RowMeta {
    /// `leader` or `follower`.
    pub target: String,
    /// Id of the member the clients talked to.
    pub target_member: u64,
    /// Id of the leader during the row.
    pub leader: u64,
    /// Whether the leader was different after the row.
    pub leader_changed: bool,
    /// Concurrent clients.
    pub clients: usize,
    /// Request body size, bytes.
    pub value_size: usize,
}

/// The measurements of one (target, clients) row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `leader` or `follower`.
    pub target: String,
    /// Id of the member the clients talked to.
    pub target_member: u64,
    /// Id of the leader during the row.
    pub leader: u64,
    /// Whether the leader was different after the row.
    pub leader_changed: bool,
    /// Concurrent clients.
    pub clients: usize,
    /// Request body size, bytes.
    pub value_size: usize,
    /// Length of the measured window, seconds.
    pub window_s: f64,
    /// Successful creates in the window.
    pub creates: u64,
    /// Successful creates per second.
    pub creates_per_s: f64,
    /// Latency percentiles and maximum, milliseconds.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms.
    pub p999_ms: f64,
    /// Maximum, ms.
    pub max_ms: f64,
    /// Failed requests in the window.
    pub errors: u64,
    /// The last error message seen.
    pub last_error: Option<String>,
    /// CPU of each master (id order), percent of one core.
    pub master_cpu_pct: Vec<Option<f64>>,
    /// CPU of the benchmark (load generator) process, percent of one core.
    pub bench_cpu_pct: f64,
    /// Cores of this machine (a 2-core machine has 200 %).
    pub machine_cores: usize,
    /// Group-commit syncs on the leader during the window.
    pub leader_log_syncs: Option<f64>,
    /// Appends made durable by those syncs.
    pub leader_log_synced_appends: Option<f64>,
    /// Appends per sync on the leader (the group-commit batching factor).
    pub leader_appends_per_sync: Option<f64>,
    /// Appends per sync on each follower (id order; None for the leader).
    pub follower_appends_per_sync: Vec<Option<f64>>,
    /// Log entries committed during the window (leader's commit index delta).
    pub leader_committed_entries: Option<f64>,
    /// Mean server-side write latency on the leader (proposal to commit and apply), ms.
    pub leader_write_mean_ms: Option<f64>,
    /// Seconds since the Unix epoch when the row finished.
    pub unix_time: u64,
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

impl Row {
    /// Builds a row from a load result; `members` are the member ids in probe order.
    pub fn new(meta: RowMeta, members: &[u64], r: &LoadResult) -> Row {
        let RowMeta {
            target,
            target_member,
            leader,
            leader_changed,
            clients,
            value_size,
        } = meta;
        let q = |p: f64| r.latency.value_at_quantile(p) as f64 / 1000.0;
        let li = members.iter().position(|&m| m == leader).unwrap_or(0);
        let c = |i: usize, name: &str| r.probe.counter(i, name);
        let syncs = c(li, LOG_SYNCS);
        let appends = c(li, LOG_SYNCED_APPENDS);
        Row {
            target,
            target_member,
            leader,
            leader_changed,
            clients,
            value_size,
            window_s: r.window_s,
            creates: r.ok,
            creates_per_s: r.ok as f64 / r.window_s.max(1e-9),
            p50_ms: q(0.50),
            p90_ms: q(0.90),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            max_ms: r.latency.max() as f64 / 1000.0,
            errors: r.errors,
            last_error: r.last_error.clone(),
            master_cpu_pct: r.probe.master_cpu_pct.clone(),
            bench_cpu_pct: r.probe.bench_cpu_pct,
            machine_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            leader_log_syncs: syncs,
            leader_log_synced_appends: appends,
            leader_appends_per_sync: ratio(appends, syncs),
            follower_appends_per_sync: (0..members.len())
                .map(|i| {
                    if i == li {
                        None
                    } else {
                        ratio(c(i, LOG_SYNCED_APPENDS), c(i, LOG_SYNCS))
                    }
                })
                .collect(),
            leader_committed_entries: c(li, COMMIT_INDEX),
            leader_write_mean_ms: ratio(c(li, WRITE_LATENCY_SUM), c(li, WRITE_LATENCY_COUNT))
                .map(|s| s * 1000.0),
            unix_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }

    /// The table header matching [`Row::table_line`].
    pub fn table_header() -> String {
        format!(
            "{:<8} | {:>7} | {:>9} | {:>7} | {:>7} | {:>6} | {:<26} | {:>9} | {:>12} | {:>8} | {:>8}",
            "target",
            "clients",
            "creates/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "masters CPU % (*=leader)",
            "bench CPU",
            "appends/sync",
            "syncs/s",
            "srv ms"
        )
    }

    /// One line of the table.
    pub fn table_line(&self, members: &[u64]) -> String {
        let cpu: Vec<String> = self
            .master_cpu_pct
            .iter()
            .zip(members)
            .map(|(c, id)| {
                let star = if *id == self.leader { "*" } else { "" };
                match c {
                    Some(c) => format!("m{id}{star} {c:.0}"),
                    None => format!("m{id}{star} gone"),
                }
            })
            .collect();
        let opt =
            |v: Option<f64>, prec: usize| v.map_or("-".to_string(), |v| format!("{v:.prec$}"));
        format!(
            "{:<8} | {:>7} | {:>9.0} | {:>7.2} | {:>7.2} | {:>6} | {:<26} | {:>8.0}% | {:>12} | {:>8} | {:>8}",
            self.target,
            self.clients,
            self.creates_per_s,
            self.p50_ms,
            self.p99_ms,
            self.errors,
            cpu.join(" / "),
            self.bench_cpu_pct,
            opt(self.leader_appends_per_sync, 2),
            opt(
                self.leader_log_syncs.map(|s| s / self.window_s.max(1e-9)),
                0
            ),
            opt(self.leader_write_mean_ms, 2),
        )
    }

    /// Appends the row as one JSON line to `path`.
    pub fn append_json(&self, path: &Path) -> anyhow::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(f, "{}", serde_json::to_string(self)?)?;
        Ok(())
    }
}
