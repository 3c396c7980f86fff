//! The systems a benchmark writes to, behind one interface: our 3 masters (a `helios-testkit`
//! cluster of release `helios-master` processes) or a reference cluster (ZooKeeper, etcd).
//! The load loop, the failover measure and `compare` see only this.

use std::time::Duration;

use anyhow::Context;
use helios_testkit::Cluster;

use crate::load::Workload;
use crate::probe::{APPLIED_INDEX, COMMIT_INDEX, Probe};
use crate::reference::RefCluster;

/// A 3-member system under test.
pub enum System {
    /// Our masters.
    Helios(Cluster),
    /// ZooKeeper or etcd.
    Reference(RefCluster),
}

impl System {
    /// Short name for tables.
    pub fn name(&self) -> &'static str {
        match self {
            System::Helios(_) => "helios",
            System::Reference(r) => r.kind.name(),
        }
    }

    /// What a write to it is.
    pub fn workload(&self) -> Workload {
        match self {
            System::Helios(_) => Workload::HeliosJobs,
            System::Reference(r) => match r.kind {
                crate::reference::Kind::ZooKeeper => Workload::ZooKeeperCreate,
                crate::reference::Kind::Etcd => Workload::EtcdPut,
            },
        }
    }

    /// `host:port` clients write to, one per member, in member order.
    pub fn endpoints(&self) -> Vec<String> {
        match self {
            System::Helios(c) => c
                .masters
                .iter()
                .map(|m| format!("127.0.0.1:{}", m.http_port))
                .collect(),
            System::Reference(r) => r.endpoints(),
        }
    }

    /// The endpoints with the leader's first, then the others: where a client that knows
    /// every member writes, and where it fails over to.
    pub fn endpoints_leader_first(&self, leader: usize) -> Vec<String> {
        let all = self.endpoints();
        let mut ordered = vec![all[leader].clone()];
        ordered.extend(
            all.iter()
                .enumerate()
                .filter(|(i, _)| *i != leader)
                .map(|(_, e)| e.clone()),
        );
        ordered
    }

    /// Pids of the members (0 for one that is down), in member order.
    pub fn pids(&self) -> Vec<u32> {
        match self {
            System::Helios(c) => c.masters.iter().map(|m| m.pid().unwrap_or(0)).collect(),
            System::Reference(r) => r.pids(),
        }
    }

    /// Base URLs of members with Prometheus metrics (ours only).
    pub fn metric_urls(&self) -> Vec<String> {
        match self {
            System::Helios(c) => c.urls(),
            System::Reference(_) => Vec::new(),
        }
    }

    /// Waits until every member is up, they agree on a leader, and every member holds what the
    /// leader had committed when they agreed; returns the leader's index.
    ///
    /// A ZooKeeper member answers as a follower only once it has synced with its leader; ours
    /// are READY as soon as they know the leader, so for them the wait goes on until each has
    /// applied the leader's commit index. Otherwise a member restarted by the last failover
    /// could still be installing a snapshot when the next one kills the leader, and that
    /// failover would measure its catch-up as well.
    pub async fn wait_healthy(&self, timeout: Duration) -> anyhow::Result<usize> {
        let deadline = std::time::Instant::now() + timeout;
        match self {
            System::Helios(c) => {
                let leader = c.try_wait_leader(timeout).await?;
                let probe = Probe::new(self.pids(), &c.urls())?;
                let mut committed = None;
                loop {
                    let sample = probe.sample().await;
                    committed = committed.or(sample.gauge(leader, COMMIT_INDEX));
                    // Each member's applied index, None while its metrics are unreadable.
                    let applied: Vec<Option<f64>> = (0..c.masters.len())
                        .map(|i| sample.gauge(i, APPLIED_INDEX))
                        .collect();
                    if let Some(committed) = committed
                        && applied.iter().all(|a| a.is_some_and(|a| a >= committed))
                    {
                        return Ok(leader);
                    }
                    anyhow::ensure!(
                        std::time::Instant::now() < deadline,
                        "members not caught up within {timeout:?}: applied {applied:?}, \
                         the leader had committed {committed:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            System::Reference(r) => r.wait_healthy(timeout).await,
        }
    }

    /// Index of the member that leads now, waiting for one up to `timeout`.
    pub async fn leader(&self, timeout: Duration) -> anyhow::Result<usize> {
        match self {
            System::Helios(c) => c.try_wait_leader(timeout).await,
            System::Reference(r) => {
                let deadline = std::time::Instant::now() + timeout;
                loop {
                    if let Some(l) = r.leader().await {
                        return Ok(l);
                    }
                    anyhow::ensure!(
                        std::time::Instant::now() < deadline,
                        "no {} leader within {timeout:?}",
                        r.kind.name()
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// `kill -9` of member `i` (0-based).
    pub fn kill9(&mut self, i: usize) {
        match self {
            System::Helios(c) => c.masters[i].kill9(),
            System::Reference(r) => r.kill9(i),
        }
    }

    /// Starts member `i` again with its data. Call it from the main thread.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        match self {
            System::Helios(c) => c.masters[i]
                .try_start()
                .with_context(|| format!("restart m{}", i + 1)),
            System::Reference(r) => r.restart(i),
        }
    }
}
