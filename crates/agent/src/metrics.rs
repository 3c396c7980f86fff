//! Prometheus metrics of an agent, served at `/metrics` on `--metrics-addr` when given:
//! what its containers did (started, failed, restarted, throttled), how long images took to
//! be available, health-check results, and its sessions with the masters.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The label of a health-check result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HealthCheckResult {
    /// `passed` or `failed`.
    pub result: &'static str,
}

/// The metrics of one agent.
pub struct AgentMetrics {
    registry: Registry,
    /// Containers started (created and started, not adopted).
    pub containers_started: Counter,
    /// Task failures (a container that could not be pulled, created or started, or died
    /// before it was healthy).
    pub containers_failed: Counter,
    /// Containers started again after the previous one of the same job exited or failed.
    pub restarts: Counter,
    /// Restarts delayed by a throttle (flapping, missing image, failed pull).
    pub throttles: Counter,
    /// Seconds to make a job's image available (a pull when it is missing).
    pub image_pull_seconds: Histogram,
    /// Health-check probes, by result.
    pub health_checks: Family<HealthCheckResult, Counter>,
    /// Sessions the masters welcomed.
    pub sessions: Counter,
    /// Welcomed sessions after the first (the agent reconnected).
    pub session_reconnects: Counter,
    welcomed_once: AtomicBool,
}

impl Default for AgentMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl AgentMetrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("helios_agent");
        let m = AgentMetrics {
            registry: Registry::default(),
            containers_started: Counter::default(),
            containers_failed: Counter::default(),
            restarts: Counter::default(),
            throttles: Counter::default(),
            image_pull_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            health_checks: Family::default(),
            sessions: Counter::default(),
            session_reconnects: Counter::default(),
            welcomed_once: AtomicBool::new(false),
        };
        registry.register(
            "containers_started",
            "Containers created and started",
            m.containers_started.clone(),
        );
        registry.register(
            "containers_failed",
            "Task failures (pull, create, start, or death before healthy)",
            m.containers_failed.clone(),
        );
        registry.register(
            "container_restarts",
            "Containers started again after the job's previous one exited or failed",
            m.restarts.clone(),
        );
        registry.register(
            "restart_throttles",
            "Restarts delayed by a throttle (flapping, missing image, failed pull)",
            m.throttles.clone(),
        );
        registry.register(
            "image_pull_seconds",
            "Time to make a job's image available (a pull when it is missing)",
            m.image_pull_seconds.clone(),
        );
        registry.register(
            "health_checks",
            "Health-check probes by result",
            m.health_checks.clone(),
        );
        registry.register(
            "sessions",
            "Sessions the masters welcomed",
            m.sessions.clone(),
        );
        registry.register(
            "session_reconnects",
            "Welcomed sessions after the first",
            m.session_reconnects.clone(),
        );
        AgentMetrics { registry, ..m }
    }

    /// Records a welcomed session (a reconnect unless it is the first).
    pub fn session_welcomed(&self) {
        self.sessions.inc();
        if self.welcomed_once.swap(true, Ordering::Relaxed) {
            self.session_reconnects.inc();
        }
    }

    /// Records one health-check probe.
    pub fn health_check(&self, passed: bool) {
        let result = if passed { "passed" } else { "failed" };
        self.health_checks
            .get_or_create(&HealthCheckResult { result })
            .inc();
    }

    /// Records the time an image took to be available.
    pub fn image_ready_after(&self, took: Duration) {
        self.image_pull_seconds.observe(took.as_secs_f64());
    }

    /// The Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<AgentMetrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.render(),
                )
                    .into_response()
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `addr` for [`serve`] (inside a tokio runtime), naming it in the error.
pub fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    use anyhow::Context as _;
    let listener = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(tokio::net::TcpListener::from_std)
        .with_context(|| format!("cannot listen on --metrics-addr {addr}"))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_move_their_metrics() {
        let m = AgentMetrics::new();
        m.containers_started.inc();
        m.session_welcomed();
        m.session_welcomed();
        m.health_check(true);
        m.health_check(false);
        m.health_check(false);
        m.image_ready_after(Duration::from_millis(30));
        let text = m.render();
        assert!(
            text.contains("helios_agent_containers_started_total 1"),
            "{text}"
        );
        assert!(text.contains("helios_agent_sessions_total 2"), "{text}");
        assert!(
            text.contains("helios_agent_session_reconnects_total 1"),
            "{text}"
        );
        assert!(
            text.contains("helios_agent_health_checks_total{result=\"failed\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("helios_agent_image_pull_seconds_count 1"),
            "{text}"
        );
    }
}
