//! Prometheus metrics of a master, served at `/metrics`.
//!
//! Raft gauges are read from openraft's metrics at scrape time; write latency, the group
//! commit counters, the agents' sessions, assignments and status reports, rollout steps and
//! the size of Raft appends are recorded as they happen; the snapshot size is the store's. Each master has its own registry, so several
//! masters in one process never mix their figures.

use openraft::async_runtime::WatchReceiver;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use helios_store::FlushStats;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::raft::types::Raft;

/// The metrics of one master.
pub struct Metrics {
    registry: Registry,
    term: Gauge,
    leader: Gauge,
    is_leader: Gauge,
    commit_index: Gauge,
    applied_index: Gauge,
    last_log_index: Gauge,
    snapshot_index: Gauge,
    purged_index: Gauge,
    log_syncs: Counter,
    log_synced_appends: Counter,
    /// Time from receiving a write to its commit and apply, in seconds.
    pub write_latency: Histogram,
    /// Requests this member forwarded to the leader.
    pub forwarded: Counter,
    /// Rollout steps this member proposed as the leader's rollout engine.
    pub rollout_steps: Counter,
    /// Agent sessions this member serves (welcomed, not yet ended).
    pub agents_connected: Gauge,
    /// Assignment messages sent to agents (complete and incremental).
    pub assignments_sent: Counter,
    /// Task status updates from agents written to the state.
    pub status_reports_applied: Counter,
    snapshot_bytes: Gauge,
    flush_stats: Arc<FlushStats>,
    snapshot_stats: Arc<std::sync::atomic::AtomicU64>,
}

/// What the metrics read from the store and the Raft network.
pub struct Sources {
    /// The log store's sync counters.
    pub flush_stats: Arc<FlushStats>,
    /// The size of the last snapshot built or installed.
    pub snapshot_bytes: Arc<std::sync::atomic::AtomicU64>,
    /// The sizes of the append-entries requests sent.
    pub append_bytes: Histogram,
}

impl Metrics {
    /// Registers every metric.
    pub fn new(sources: Sources) -> Self {
        let Sources {
            flush_stats,
            snapshot_bytes,
            append_bytes,
        } = sources;
        let mut registry = Registry::with_prefix("helios_master");
        let m = Self {
            term: Gauge::default(),
            leader: Gauge::default(),
            is_leader: Gauge::default(),
            commit_index: Gauge::default(),
            applied_index: Gauge::default(),
            last_log_index: Gauge::default(),
            snapshot_index: Gauge::default(),
            purged_index: Gauge::default(),
            log_syncs: Counter::default(),
            log_synced_appends: Counter::default(),
            write_latency: Histogram::new(exponential_buckets(0.0001, 2.0, 18)),
            forwarded: Counter::default(),
            rollout_steps: Counter::default(),
            agents_connected: Gauge::default(),
            assignments_sent: Counter::default(),
            status_reports_applied: Counter::default(),
            snapshot_bytes: Gauge::default(),
            flush_stats,
            snapshot_stats: snapshot_bytes,
            registry: Registry::default(),
        };
        registry.register("raft_term", "Current Raft term", m.term.clone());
        registry.register(
            "raft_leader_id",
            "Id of the known leader (0 if none)",
            m.leader.clone(),
        );
        registry.register(
            "raft_is_leader",
            "1 when this member leads",
            m.is_leader.clone(),
        );
        registry.register(
            "raft_commit_index",
            "Committed log index",
            m.commit_index.clone(),
        );
        registry.register(
            "raft_applied_index",
            "Applied log index",
            m.applied_index.clone(),
        );
        registry.register(
            "raft_last_log_index",
            "Last log index",
            m.last_log_index.clone(),
        );
        registry.register(
            "raft_snapshot_index",
            "Log index of the last snapshot (0 before the first)",
            m.snapshot_index.clone(),
        );
        registry.register(
            "raft_purged_index",
            "Last log index removed from the log after a snapshot (0 before the first purge)",
            m.purged_index.clone(),
        );
        registry.register(
            "log_syncs",
            "Syncs (flush + fdatasync) of appended log entries",
            m.log_syncs.clone(),
        );
        registry.register(
            "log_synced_appends",
            "Appends made durable by those syncs (appends per sync = write batching)",
            m.log_synced_appends.clone(),
        );
        registry.register(
            "write_latency_seconds",
            "Time from a write request to its commit and apply",
            m.write_latency.clone(),
        );
        registry.register(
            "rollout_steps",
            "Rollout steps proposed by this member's rollout engine",
            m.rollout_steps.clone(),
        );
        registry.register(
            "forwarded_requests",
            "Requests forwarded to the leader",
            m.forwarded.clone(),
        );
        registry.register(
            "agents_connected",
            "Agent sessions this member serves",
            m.agents_connected.clone(),
        );
        registry.register(
            "assignments_sent",
            "Assignment messages sent to agents",
            m.assignments_sent.clone(),
        );
        registry.register(
            "status_reports_applied",
            "Task status updates from agents written to the state",
            m.status_reports_applied.clone(),
        );
        registry.register(
            "raft_append_bytes",
            "Size of each append-entries request sent to a follower",
            append_bytes,
        );
        registry.register(
            "raft_snapshot_bytes",
            "Size of the last snapshot built or installed (0 before the first)",
            m.snapshot_bytes.clone(),
        );
        Self { registry, ..m }
    }

    /// Renders the Prometheus text format, refreshing the Raft gauges first.
    pub fn render(&self, raft: &Raft) -> String {
        let r = raft.metrics().borrow_watched().clone();
        self.term.set(r.current_term as i64);
        self.leader.set(r.current_leader.unwrap_or(0) as i64);
        self.is_leader.set((r.current_leader == Some(r.id)) as i64);
        self.commit_index
            .set(r.local_committed.map(|l| l.index).unwrap_or(0) as i64);
        self.applied_index
            .set(r.last_applied.map(|l| l.index).unwrap_or(0) as i64);
        self.last_log_index
            .set(r.last_log_index.unwrap_or(0) as i64);
        self.snapshot_index
            .set(r.snapshot.map(|l| l.index).unwrap_or(0) as i64);
        self.purged_index
            .set(r.purged.map(|l| l.index).unwrap_or(0) as i64);
        let snapshot = self.snapshot_stats.load(Ordering::Relaxed);
        self.snapshot_bytes
            .set(i64::try_from(snapshot).unwrap_or(i64::MAX));
        let syncs = self.flush_stats.syncs.load(Ordering::Relaxed);
        let appends = self.flush_stats.appends.load(Ordering::Relaxed);
        self.log_syncs
            .inc_by(syncs.saturating_sub(self.log_syncs.get()));
        self.log_synced_appends
            .inc_by(appends.saturating_sub(self.log_synced_appends.get()));
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
