//! The leader's housekeeping with real masters, agents and the real Docker engine: a job whose
//! `expires` passes is undeployed (its container stopped with SIGTERM) and removed, and a
//! host whose agent stays DOWN longer than `--agent-reaping-timeout` is deregistered while a
//! live agent's host stays.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use helios_testkit::agents::Agent;
use helios_testkit::api::{call, create_job, deploy, wait_hosts_up};
use helios_testkit::docker::{docker, ensure_busybox_image, inspect};
use helios_testkit::{Cluster, eventually, exclusive};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);

async fn wait_running(c: &reqwest::Client, url: &str, job: &str, host: &str) -> String {
    eventually(WAIT, &format!("{job} RUNNING on {host}"), || async {
        let (s, v) = call(c.get(format!("{url}/jobs/{job}/status"))).await;
        let t = &v["taskStatuses"][host];
        (s == 200 && t["state"] == "RUNNING").then(|| t["containerId"].as_str().unwrap().into())
    })
    .await
}

async fn host_status(c: &reqwest::Client, url: &str, host: &str) -> (u16, Value) {
    call(c.get(format!("{url}/hosts/{host}/status"))).await
}

async fn host_names(c: &reqwest::Client, url: &str) -> Option<Vec<String>> {
    let (s, v) = call(c.get(format!("{url}/hosts"))).await;
    (s == 200).then(|| {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h.as_str().map(String::from))
            .collect()
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn start_agent(cluster: &Cluster, name: &str, range: &str) -> Agent {
    let mut a = Agent::new(name, cluster.dir.path(), cluster.cluster_addrs(), range);
    a.start();
    a
}

/// A RUNNING job created with `expires` 20 s ahead is undeployed and removed after that
/// instant, never before; its container got SIGTERM (its trap ran and it exited 0, not 137).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_job_is_undeployed_and_removed() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    let cluster = Cluster::start(3).await;
    let _agent = start_agent(&cluster, "exp-a", "33000:33100");
    let c = reqwest::Client::new();
    let url = cluster.masters[1].url();
    wait_hosts_up(&c, &url, &["exp-a"]).await;

    let expires = now_ms() + 20_000;
    let job = create_job(
        &c,
        &url,
        json!({
            "id": "expiring:1",
            "image": image,
            "command": ["sh", "-c", "trap 'echo got-term; exit 0' TERM; while true; do sleep 1; done"],
            "secondsToWaitBeforeKill": 60,
            "expires": expires,
        }),
    )
    .await;
    let (_, v) = call(c.get(format!("{url}/jobs/{job}"))).await;
    assert!(v["expires"].is_string(), "expires stored: {v}");
    deploy(&c, &url, &job, "exp-a").await;
    let container = wait_running(&c, &url, &job, "exp-a").await;

    eventually(WAIT, "the expired job to be removed", || async {
        let (s, _) = call(c.get(format!("{url}/jobs/{job}"))).await;
        (s == 404).then_some(())
    })
    .await;
    assert!(now_ms() >= expires, "the job was removed before it expired");
    let (s, v) = host_status(&c, &url, "exp-a").await;
    assert_eq!(s, 200, "{v}");
    assert!(v["jobs"].get(&job).is_none(), "still deployed: {v}");
    let (s, v) = call(c.get(format!("{url}/jobs"))).await;
    assert!(s == 200 && v.get(&job).is_none(), "still listed: {v}");

    eventually(WAIT, "the container to stop", || async {
        (inspect(&container, "{{.State.Running}}").as_deref() == Some("false")).then_some(())
    })
    .await;
    let logs = docker(&["logs", &container]).unwrap_or_default();
    let exit = inspect(&container, "{{.State.ExitCode}}");
    assert!(
        logs.contains("got-term") && exit.as_deref() == Some("0"),
        "not stopped with SIGTERM: exit code {exit:?}, logs {logs:?}"
    );
}

/// With `--agent-reaping-timeout 3s`, an agent killed with SIGKILL goes DOWN and its host is
/// then deregistered with its deployment (the job can be removed); a live agent's host stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dead_agent_host_is_deregistered() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    let cluster = Cluster::start_with_args(3, &["--agent-reaping-timeout", "3s"]).await;
    let mut dead = start_agent(&cluster, "reap-dead", "33100:33200");
    let _live = start_agent(&cluster, "reap-live", "33200:33300");
    let c = reqwest::Client::new();
    let url = cluster.masters[0].url();
    wait_hosts_up(&c, &url, &["reap-dead", "reap-live"]).await;
    let job = create_job(
        &c,
        &url,
        json!({"id": "on-dead:1", "image": image, "command": ["sleep", "100000"],
               "secondsToWaitBeforeKill": 1}),
    )
    .await;
    deploy(&c, &url, &job, "reap-dead").await;
    wait_running(&c, &url, &job, "reap-dead").await;

    dead.kill9();
    eventually(WAIT, "reap-dead DOWN", || async {
        let (s, v) = host_status(&c, &url, "reap-dead").await;
        assert_ne!(s, 404, "reap-dead deregistered before it was seen DOWN");
        (s == 200 && v["status"] == "DOWN").then_some(())
    })
    .await;
    eventually(WAIT, "reap-dead deregistered", || async {
        let names = host_names(&c, &url).await?;
        (!names.iter().any(|n| n == "reap-dead")).then_some(())
    })
    .await;
    let (s, v) = host_status(&c, &url, "reap-dead").await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = call(c.get(format!("{url}/jobs/{job}/status"))).await;
    assert_eq!(s, 200, "{v}");
    assert!(
        v["deployments"].get("reap-dead").is_none(),
        "deployment kept: {v}"
    );
    let (s, v) = call(c.delete(format!("{url}/jobs/{job}"))).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("OK")), "{v}");

    // Longer than the timeout, a check period and the spacing: the live host stays UP.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let names = host_names(&c, &url).await.expect("GET /hosts");
    assert!(names.iter().any(|n| n == "reap-live"), "{names:?}");
    let (s, v) = host_status(&c, &url, "reap-live").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("UP")), "{v}");
}

/// With `--job-retention 3s`, a job deployed nowhere is removed once idle that long; a job
/// deployed on a (registered) host stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_undeployed_jobs_are_removed_after_the_job_retention() {
    let cluster = Cluster::start_with_args(3, &["--job-retention", "3s"]).await;
    let c = reqwest::Client::new();
    let url = cluster.masters[1].url();
    let created = now_ms();
    let idle = create_job(&c, &url, json!({"id": "idle:1", "image": "busybox"})).await;
    let used = create_job(&c, &url, json!({"id": "used:1", "image": "busybox"})).await;
    let (s, v) = call(c.put(format!("{url}/hosts/ret-h?id=ret-h-id"))).await;
    assert_eq!(s, 200, "{v}");
    deploy(&c, &url, &used, "ret-h").await;
    eventually(WAIT, "the idle job to be removed", || async {
        let (s, _) = call(c.get(format!("{url}/jobs/{idle}"))).await;
        (s == 404).then_some(())
    })
    .await;
    assert!(
        now_ms() - created >= 3_000,
        "removed before it was idle for 3 s"
    );
    let (s, v) = call(c.get(format!("{url}/jobs/{used}"))).await;
    assert_eq!(s, 200, "the deployed job was removed: {v}");
}
