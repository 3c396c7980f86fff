//! `helios-bench failover`: how long writes stop when the leader is killed with `kill -9`
//! under load, measured as the anchors load generator does (`../shared/bench/loadgen`,
//! `failover.rs`) so that the figure compares with ZooKeeper's and etcd's.
//!
//! Each repetition: N clients (one `POST /jobs` in flight each) write through the members that
//! do not lead (they forward to the leader, as a client that knows several masters would
//! fail over), the leader is killed `fault_at` into the window, the window lasts `observe`
//! more, then the killed master is restarted and the cluster settles before the next one.
//! The recovery time is from the kill to the end of the longest gap between successful
//! completions that ends after it: when writes flowed again.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use helios_testkit::Cluster;

use crate::load::job_body;

/// Knobs of one repetition.
#[derive(Clone, Debug)]
pub struct FailoverSpec {
    /// Concurrent clients.
    pub clients: usize,
    /// Time from the start of the load to the kill.
    pub fault_at: Duration,
    /// Time the load goes on after the kill.
    pub observe: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Request body size.
    pub value_size: usize,
}

/// What one repetition measured.
#[derive(Clone, Debug)]
pub struct Recovery {
    /// The member killed.
    pub killed: u64,
    /// The leader after the kill.
    pub new_leader: u64,
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

/// One repetition on `cluster`: load through the followers, kill the leader, measure,
/// restart it and wait until it is back.
pub async fn repetition(
    cluster: &mut Cluster,
    spec: &FailoverSpec,
    run_id: &str,
) -> anyhow::Result<Recovery> {
    let leader = cluster.try_wait_leader(Duration::from_secs(30)).await?;
    let killed = cluster.masters[leader].id;
    let urls: Vec<String> = cluster
        .masters
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != leader)
        .map(|(_, m)| format!("{}/jobs", m.url()))
        .collect();
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let successes = Arc::new(Mutex::new(Vec::new()));
    let counter = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..spec.clients {
        let url = urls[i % urls.len()].clone();
        let (stop, successes, counter) = (stop.clone(), successes.clone(), counter.clone());
        let spec = spec.clone();
        let run_id = run_id.to_string();
        let client = reqwest::Client::builder()
            .timeout(spec.request_timeout)
            .tcp_nodelay(true)
            .build()?;
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let body = job_body(&format!("{run_id}-{n}"), spec.value_size);
                let ok = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    let at = start.elapsed().as_micros() as u64;
                    successes.lock().expect("successes").push(at);
                } else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }));
    }
    tokio::time::sleep(spec.fault_at).await;
    cluster.masters[leader].kill9();
    let fault_us = start.elapsed().as_micros() as u64;
    tokio::time::sleep(spec.observe).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let mut times = std::mem::take(&mut *successes.lock().expect("successes"));
    let successes_after = times.iter().filter(|&&t| t > fault_us).count();
    let recovery_ms = recovery_ms(&mut times, fault_us);
    let new_leader = cluster.try_wait_leader(Duration::from_secs(30)).await?;
    let new_leader = cluster.masters[new_leader].id;
    cluster.masters[leader]
        .try_start()
        .with_context(|| format!("restart m{killed}"))?;
    // Settle: every member back and agreeing on a leader before the next kill.
    cluster.try_wait_leader(Duration::from_secs(60)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(Recovery {
        killed,
        new_leader,
        recovery_ms,
        successes_after,
    })
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
    let mut ms: Vec<f64> = recoveries.iter().filter_map(|r| r.recovery_ms).collect();
    ms.sort_by(f64::total_cmp);
    if !ms.is_empty() {
        println!(
            "median {:.0} ms, min {:.0} ms, max {:.0} ms over {} repetitions",
            ms[ms.len() / 2],
            ms[0],
            ms[ms.len() - 1],
            ms.len()
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
