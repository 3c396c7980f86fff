//! `helios-bench compare`: our masters beside ZooKeeper 3.8 and etcd 3.4 in one run, on the
//! same machine, in the same topology (3 members on loopback, fsync before every
//! acknowledgement), with the same load loop, as `../shared/bench/run-anchors.sh` measures
//! the references.
//!
//! Every system gets an unrecorded warm-up first (ZooKeeper's JVM compiles its hot paths).
//! Then each pass runs every row (1, 16, 256 clients at the leader) on every system, the
//! systems interleaved and their order rotated from pass to pass, so that a slow moment of
//! the machine falls on all of them. A row's ratio to ZooKeeper is taken within each pass and
//! the table gives the median of those ratios with their spread. Last, each system's leader is
//! killed under 16 clients several times (see `failover.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::failover::{self, FailoverSpec, Recovery};
use crate::load::{self, LoadSpec};
use crate::probe::{Probe, RAFT_TERM};
use crate::report::{median_spread, median_spread_text};
use crate::system::System;

/// What `compare` runs.
#[derive(Clone, Debug)]
pub struct CompareSpec {
    /// Rows: concurrent clients.
    pub clients: Vec<usize>,
    /// Passes over every row and system.
    pub passes: usize,
    /// Measured window of a row.
    pub duration: Duration,
    /// Discarded warm-up before each row's window.
    pub warmup: Duration,
    /// Unrecorded load on each system before the first pass.
    pub system_warmup: Duration,
    /// Record size, bytes.
    pub value_size: usize,
    /// Per-request timeout of the rows.
    pub request_timeout: Duration,
    /// Leader kills per system (0: none).
    pub failover_repetitions: usize,
    /// How each kill is run.
    pub failover: FailoverSpec,
    /// Unique prefix of this run's write ids.
    pub run_id: String,
}

/// One row on one system in one pass.
#[derive(Clone, Debug)]
struct Measured {
    creates_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    /// Elections during the row (our masters: the growth of the highest Raft term), which
    /// should be none.
    elections: Option<f64>,
}

/// Everything measured, by (clients, system name), in pass order.
#[derive(Default)]
pub struct Results {
    rows: BTreeMap<(usize, String), Vec<Measured>>,
    failovers: Vec<(String, Vec<Recovery>)>,
}

/// The system everything is compared with.
const REFERENCE: &str = "zookeeper";

/// Runs the warm-ups, the passes and the failovers on `systems`, printing progress to stderr.
pub async fn run(systems: &mut [System], spec: &CompareSpec) -> anyhow::Result<Results> {
    let mut results = Results::default();
    for system in systems.iter() {
        eprintln!("warming up {} for {:?}", system.name(), spec.system_warmup);
        one_row(
            system,
            16,
            spec.system_warmup,
            &format!("{}-w", spec.run_id),
            spec,
        )
        .await?;
    }
    for pass in 0..spec.passes {
        for &clients in &spec.clients {
            for k in 0..systems.len() {
                let system = &systems[(k + pass) % systems.len()];
                let run_id = format!("{}-p{pass}", spec.run_id);
                let m = one_row(system, clients, spec.duration, &run_id, spec).await?;
                eprintln!(
                    "pass {} {:>9} n={clients:<3}: {:>8.0} writes/s, p50 {:.2} ms, p99 {:.2} ms, {} errors{}",
                    pass + 1,
                    system.name(),
                    m.creates_per_s,
                    m.p50_ms,
                    m.p99_ms,
                    m.errors,
                    m.elections
                        .map_or(String::new(), |e| format!(", {e:.0} elections"))
                );
                results
                    .rows
                    .entry((clients, system.name().to_string()))
                    .or_default()
                    .push(m);
            }
        }
    }
    if spec.failover_repetitions > 0 {
        for system in systems.iter_mut() {
            let mut recoveries = Vec::new();
            for rep in 0..spec.failover_repetitions {
                let run_id = format!("{}-f{rep}", spec.run_id);
                let r = failover::repetition(system, &spec.failover, &run_id).await?;
                eprintln!(
                    "{} failover {}: killed m{}, writes again after {:?} ms",
                    system.name(),
                    rep + 1,
                    r.killed,
                    r.recovery_ms
                );
                recoveries.push(r);
            }
            results
                .failovers
                .push((system.name().to_string(), recoveries));
        }
    }
    Ok(results)
}

/// One closed-loop row at the current leader.
async fn one_row(
    system: &System,
    clients: usize,
    duration: Duration,
    run_id: &str,
    spec: &CompareSpec,
) -> anyhow::Result<Measured> {
    let leader = system.wait_healthy(Duration::from_secs(60)).await?;
    let load = LoadSpec {
        workload: system.workload(),
        endpoints: vec![system.endpoints()[leader].clone()],
        clients,
        warmup: spec.warmup,
        duration,
        value_size: spec.value_size,
        request_timeout: spec.request_timeout,
        error_backoff: Duration::from_millis(10),
        run_id: format!("{run_id}-{}", system.name()),
    };
    let metric_urls = system.metric_urls();
    let probe = Probe::new(system.pids(), &metric_urls)?;
    let r = load::run(load, &probe, None).await?;
    let ms = |q: f64| r.latency.value_at_quantile(q) as f64 / 1000.0;
    let elections = (0..metric_urls.len())
        .filter_map(|i| r.probe.counter(i, RAFT_TERM))
        .reduce(f64::max);
    Ok(Measured {
        creates_per_s: r.ok as f64 / r.window_s.max(1e-9),
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        errors: r.errors,
        elections,
    })
}

/// `f(ours) / f(reference)` in each pass of one row.
fn ratios(ours: &[Measured], reference: &[Measured], f: fn(&Measured) -> f64) -> Vec<f64> {
    ours.iter()
        .zip(reference)
        .filter(|(_, r)| f(r) > 0.0)
        .map(|(o, r)| f(o) / f(r))
        .collect()
}

impl Results {
    /// Prints the rows table and the failover table.
    pub fn print(&self, spec: &CompareSpec) {
        println!(
            "writes/s and latency at the leader: median of {} passes (min-max); ratio = ours / ZooKeeper's in the same pass, median (min-max)",
            spec.passes
        );
        println!(
            "{:>7} | {:<9} | {:>22} | {:>7} | {:>8} | {:>19} | {:>19} | {:>9}",
            "clients",
            "system",
            "writes/s",
            "p50 ms",
            "p99 ms",
            "writes/s vs ZK",
            "p50 ZK/ours",
            "elections"
        );
        for ((clients, name), measured) in &self.rows {
            let (rate, lo, hi) = median_spread(measured.iter().map(|m| m.creates_per_s).collect())
                .unwrap_or_default();
            let (p50, ..) =
                median_spread(measured.iter().map(|m| m.p50_ms).collect()).unwrap_or_default();
            let (p99, ..) =
                median_spread(measured.iter().map(|m| m.p99_ms).collect()).unwrap_or_default();
            let reference = self.rows.get(&(*clients, REFERENCE.to_string()));
            let ratio = |f: fn(&Measured) -> f64, inverse: bool| match reference {
                Some(r) if name != REFERENCE => {
                    let rs: Vec<f64> = ratios(measured, r, f)
                        .into_iter()
                        .map(|x| if inverse { 1.0 / x } else { x })
                        .collect();
                    median_spread_text(rs, 2, "×")
                }
                _ => "-".to_string(),
            };
            let elections: Option<f64> = measured
                .iter()
                .filter_map(|m| m.elections)
                .reduce(|a, b| a + b);
            println!(
                "{clients:>7} | {name:<9} | {:>22} | {p50:>7.2} | {p99:>8.2} | {:>19} | {:>19} | {:>9}",
                format!("{rate:.0} ({lo:.0}-{hi:.0})"),
                ratio(|m| m.creates_per_s, false),
                ratio(|m| m.p50_ms, true),
                elections.map_or("-".to_string(), |e| format!("{e:.0}")),
            );
        }
        if self.failovers.is_empty() {
            return;
        }
        let reference = self
            .failovers
            .iter()
            .find(|(n, _)| n == REFERENCE)
            .and_then(|(_, r)| failover::spread(r));
        println!();
        println!(
            "leader kill -9 under {} clients: kill to writes flowing again, ms",
            spec.failover.clients
        );
        println!(
            "{:<9} | {:>7} | {:>7} | {:>7} | {:>9} | {:>12} | each",
            "system", "median", "min", "max", "recovered", "ZK / ours"
        );
        for (name, recoveries) in &self.failovers {
            let recovered = recoveries
                .iter()
                .filter(|r| r.recovery_ms.is_some())
                .count();
            let each: Vec<String> = recoveries
                .iter()
                .map(|r| r.recovery_ms.map_or("never".into(), |m| format!("{m:.0}")))
                .collect();
            let (median, min, max) = failover::spread(recoveries).unwrap_or_default();
            let vs = match reference {
                Some((zk, ..)) if name != REFERENCE && median > 0.0 => {
                    format!("{:.2}×", zk / median)
                }
                _ => "-".to_string(),
            };
            println!(
                "{name:<9} | {median:>7.0} | {min:>7.0} | {max:>7.0} | {:>9} | {vs:>12} | {}",
                format!("{recovered}/{}", recoveries.len()),
                each.join(" ")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(rate: f64, p50: f64) -> Measured {
        Measured {
            creates_per_s: rate,
            p50_ms: p50,
            p99_ms: 0.0,
            errors: 0,
            elections: None,
        }
    }

    #[test]
    fn ratios_pair_the_same_pass() {
        let ours = [m(100.0, 1.0), m(300.0, 2.0)];
        let zk = [m(200.0, 0.5), m(100.0, 4.0)];
        assert_eq!(ratios(&ours, &zk, |m| m.creates_per_s), vec![0.5, 3.0]);
        assert_eq!(ratios(&ours, &zk, |m| m.p50_ms), vec![2.0, 0.5]);
    }

    #[test]
    fn median_and_spread() {
        assert_eq!(median_spread(vec![3.0, 1.0, 2.0]), Some((2.0, 1.0, 3.0)));
        assert_eq!(median_spread(vec![]), None);
        assert_eq!(
            median_spread_text(vec![1.5, 0.25, 2.0], 2, "×"),
            "1.50× (0.25-2.00)"
        );
        assert_eq!(median_spread_text(vec![], 1, ""), "-");
    }
}
