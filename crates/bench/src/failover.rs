//! Leader `kill -9` under load: how long writes stop, measured as the anchors load generator
//! does (`../shared/bench/loadgen`, `failover.rs`) so that our figure compares with
//! ZooKeeper's and etcd's. `helios-bench failover` runs it on our masters, `helios-bench
//! compare` on every system.
//!
//! The recovery time is from the kill to the end of the longest gap between successful
//! completions that ends after it: when writes flowed again.

use std::time::Duration;

use crate::load::{self, Fault, LoadSpec};
use crate::probe::Probe;
use crate::system::System;

/// Knobs of one repetition.
#[derive(Clone, Debug)]
pub struct FailoverSpec {
    /// Concurrent clients.
    pub clients: usize,
    /// Time from the start of the window to the kill.
    pub fault_at: Duration,
    /// Time the load goes on after the kill.
    pub observe: Duration,
    /// Per-request timeout (the anchors use 250 ms: a client gives up on a dead member fast).
    pub request_timeout: Duration,
    /// Request body size.
    pub value_size: usize,
}

/// What one repetition measured.
#[derive(Clone, Debug)]
pub struct Recovery {
    /// The member killed (1-based).
    pub killed: usize,
    /// The leader after the kill (1-based).
    pub new_leader: usize,
    /// Kill to writes flowing again, ms (`None`: no write succeeded after the kill).
    pub recovery_ms: Option<f64>,
    /// Successful writes after the kill.
    pub successes_after: usize,
}

/// Kill to the end of the longest gap between successes that ends after the kill, ms.
/// `successes` are completion times in µs since the load began.
pub fn recovery_ms(successes: &mut [u64], fault_us: u64) -> Option<f64> {
    successes.sort_unstable();
    let split = successes.partition_point(|&t| t <= fault_us);
    let (before, after) = successes.split_at(split);
    let mut prev = before.last().copied().unwrap_or(fault_us);
    let mut best: Option<(u64, u64)> = None;
    for &t in after {
        let gap = t - prev;
        if best.is_none_or(|(g, _)| gap > g) {
            best = Some((gap, t));
        }
        prev = t;
    }
    best.map(|(_, end)| (end - fault_us) as f64 / 1000.0)
}

/// One repetition on `system`, as `../shared/bench/run-anchors.sh failover` runs it: the
/// clients write to the leader first and fail over to the other members, the leader is
/// killed `fault_at` into the window, the load goes on for `observe`; then the killed member
/// is restarted and the system settles before the next repetition.
pub async fn repetition(
    system: &mut System,
    spec: &FailoverSpec,
    run_id: &str,
) -> anyhow::Result<Recovery> {
    let leader = system.wait_healthy(Duration::from_secs(60)).await?;
    let load = LoadSpec {
        workload: system.workload(),
        endpoints: system.endpoints_leader_first(leader),
        clients: spec.clients,
        warmup: Duration::from_secs(2),
        duration: spec.fault_at + spec.observe,
        value_size: spec.value_size,
        request_timeout: spec.request_timeout,
        error_backoff: Duration::from_millis(10),
        run_id: run_id.to_string(),
    };
    let probe = Probe::new(system.pids(), &[])?;
    let result = {
        let system = &mut *system;
        let fault = Fault {
            at: spec.fault_at,
            inject: Box::new(move || system.kill9(leader)),
        };
        load::run(load, &probe, Some(fault)).await?
    };
    let recovery = result.recovery.expect("a fault was injected");
    let new_leader = system.leader(Duration::from_secs(30)).await?;
    system.restart(leader)?;
    // Settle: every member back and agreeing on a leader before the next kill.
    system.wait_healthy(Duration::from_secs(60)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(Recovery {
        killed: leader + 1,
        new_leader: new_leader + 1,
        recovery_ms: recovery.recovery_ms,
        successes_after: recovery.successes_after,
    })
}

/// Median, minimum and maximum of the recoveries that recovered, ms.
pub fn spread(recoveries: &[Recovery]) -> Option<(f64, f64, f64)> {
    crate::report::median_spread(recoveries.iter().filter_map(|r| r.recovery_ms).collect())
}

/// Prints each repetition and the median.
pub fn print_table(recoveries: &[Recovery]) {
    println!("rep | killed | new leader | writes again after ms | writes after kill");
    for (i, r) in recoveries.iter().enumerate() {
        let ms = r
            .recovery_ms
            .map_or_else(|| "never".to_string(), |m| format!("{m:.0}"));
        println!(
            "{:>3} | m{:<5} | m{:<9} | {ms:>21} | {}",
            i + 1,
            r.killed,
            r.new_leader,
            r.successes_after
        );
    }
    if let Some((median, min, max)) = spread(recoveries) {
        let recovered = recoveries
            .iter()
            .filter(|r| r.recovery_ms.is_some())
            .count();
        println!(
            "median {median:.0} ms, min {min:.0} ms, max {max:.0} ms over {recovered} repetitions"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_ends_the_longest_gap_after_the_fault() {
        // Steady, the fault at 1000, a straggler at 1100, then a stall until 2500.
        let mut t = vec![500, 800, 1100, 2500, 2600, 2700];
        assert_eq!(recovery_ms(&mut t, 1000), Some(1.5));
        let mut none = vec![100, 200];
        assert_eq!(recovery_ms(&mut none, 1000), None);
    }
}
