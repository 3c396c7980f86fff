//! Metrics (issue 14) with real master processes, a real agent and real containers: the
//! agent's `/metrics` on `--metrics-addr` and the masters' new series move when their events
//! happen (a container started, restarted, health-checked; a session reconnected after the
//! leader died; assignments sent, statuses applied, Raft appends and snapshots).

use std::time::Duration;

use helios_testkit::agents::Agent;
use helios_testkit::api::{create_job, deploy, wait_hosts_up, wait_task};
use helios_testkit::docker::{docker, ensure_busybox_image};
use helios_testkit::{Cluster, eventually, exclusive, free_port};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(120);

/// The value of series `series` (name with its labels, as printed) in the metrics at `url`.
async fn metric(url: &str, series: &str) -> Option<f64> {
    let text = reqwest::get(url).await.ok()?.text().await.ok()?;
    text.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok()).flatten()
    })
}

/// Waits until series `series` at `url` satisfies `ok`; returns its value.
async fn wait_metric(url: &str, series: &str, ok: impl Fn(f64) -> bool) -> f64 {
    eventually(WAIT, &format!("{series} at {url}"), || async {
        metric(url, series).await.filter(|v| ok(*v))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agent_and_master_metrics_move_with_their_events() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    let mut cluster = Cluster::start_with_args(3, &["--snapshot-every", "20"]).await;
    let port = free_port();
    let agent_url = format!("http://127.0.0.1:{port}/metrics");
    let mut agent = Agent::new(
        "met-a",
        cluster.dir.path(),
        cluster.cluster_addrs(),
        "33600:33700",
    );
    agent.extra_args = vec!["--metrics-addr".into(), format!("127.0.0.1:{port}")];
    agent.start();
    let http = reqwest::Client::new();
    let url = cluster.masters[0].url();
    wait_hosts_up(&http, &url, &["met-a"]).await;
    wait_metric(&agent_url, "helios_agent_sessions_total", |v| v >= 1.0).await;
    assert_eq!(
        metric(&agent_url, "helios_agent_containers_started_total").await,
        Some(0.0)
    );
    let leader = cluster.wait_leader(Duration::from_secs(30)).await;
    let leader_url = format!("{}/metrics", cluster.masters[leader].url());
    wait_metric(&leader_url, "helios_master_agents_connected", |v| v == 1.0).await;

    // A job whose health check fails until the container made /tmp/ready.
    let job = create_job(
        &http,
        &url,
        json!({"id": "metered:1", "image": image, "secondsToWaitBeforeKill": 1,
               "command": ["sh", "-c", "sleep 3; echo ok > /tmp/ready; sleep 100000"],
               "healthCheck": {"type": "exec", "command": ["sh", "-c", "test -s /tmp/ready"]}}),
    )
    .await;
    deploy(&http, &url, &job, "met-a").await;
    let running = |t: &serde_json::Value| t["state"] == "RUNNING";
    let task = wait_task(&http, &url, &job, "met-a", WAIT, "RUNNING", running).await;
    let first = task["containerId"].as_str().unwrap().to_string();
    let series = |s: &str| format!("helios_agent_{s}");
    assert_eq!(
        metric(&agent_url, &series("containers_started_total")).await,
        Some(1.0)
    );
    let failed_checks = metric(
        &agent_url,
        &series("health_checks_total{result=\"failed\"}"),
    )
    .await
    .unwrap_or(0.0);
    assert!(failed_checks >= 1.0, "no failed health check counted");
    assert_eq!(
        metric(
            &agent_url,
            &series("health_checks_total{result=\"passed\"}")
        )
        .await,
        Some(1.0)
    );
    assert_eq!(
        metric(&agent_url, &series("image_pull_seconds_count")).await,
        Some(1.0)
    );
    wait_metric(&leader_url, "helios_master_assignments_sent_total", |v| {
        v >= 2.0
    })
    .await;
    wait_metric(
        &leader_url,
        "helios_master_status_reports_applied_total",
        |v| v >= 3.0,
    )
    .await;
    wait_metric(&leader_url, "helios_master_raft_append_bytes_count", |v| {
        v >= 1.0
    })
    .await;

    // The container dies: the agent starts another one, a restart.
    docker(&["kill", &first]).expect("docker kill");
    wait_task(&http, &url, &job, "met-a", WAIT, "a new container", |t| {
        running(t) && t["containerId"].as_str() != Some(first.as_str())
    })
    .await;
    assert_eq!(
        metric(&agent_url, &series("container_restarts_total")).await,
        Some(1.0)
    );
    assert_eq!(
        metric(&agent_url, &series("containers_started_total")).await,
        Some(2.0)
    );

    // Enough writes for a snapshot (every 20 entries here): its size is shown.
    for n in 0..25 {
        create_job(
            &http,
            &url,
            json!({"id": format!("filler{n}:1"), "image": image}),
        )
        .await;
    }
    wait_metric(&leader_url, "helios_master_raft_snapshot_bytes", |v| {
        v > 0.0
    })
    .await;

    // The leader dies: the agent reconnects to the new one.
    cluster.masters[leader].kill9();
    wait_metric(&agent_url, &series("session_reconnects_total"), |v| {
        v >= 1.0
    })
    .await;
    let new_leader = cluster.wait_leader(Duration::from_secs(30)).await;
    let new_url = format!("{}/metrics", cluster.masters[new_leader].url());
    wait_metric(&new_url, "helios_master_agents_connected", |v| v == 1.0).await;
    agent.kill9();
}
