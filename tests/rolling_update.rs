//! Deployment groups and rolling updates (reference §5) on three real masters and real agents
//! on the machine's Docker engine: host order, parallelism and overlap read from the task
//! history, migrate, token and image failures, host tracking, stop and recovery, and a leader
//! killed in the middle of a rollout.

use std::collections::BTreeMap;
use std::time::Duration;

use helios_testkit::agents::Agent;
use helios_testkit::api::{call, create_job, deploy, wait_hosts_up, wait_task};
use helios_testkit::docker::{containers_named, ensure_busybox_image};
use helios_testkit::{Cluster, eventually, exclusive};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);

/// A job that reaches RUNNING about `delay` seconds after its container starts (its health
/// check passes once the command wrote `/tmp/ready`), so that the history shows whether the
/// next host started before or after it.
fn slow_job(name: &str, version: &str, image: &str, delay: u32) -> Value {
    json!({
        "id": format!("{name}:{version}"),
        "image": image,
        "command": ["sh", "-c", format!("sleep {delay}; echo ok > /tmp/ready; exec sleep 100000")],
        "healthCheck": {"type": "exec", "command": ["sh", "-c", "test -s /tmp/ready"]},
        "secondsToWaitBeforeKill": 1,
    })
}

/// Runs the `helios` CLI against the master at `url`.
async fn helios(url: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(helios_testkit::bin("helios"));
    cmd.args(["-z", url]).args(args);
    cmd.output().await.expect("run helios")
}

/// An agent on the real engine labelled `labels` (`k=v,…`).
fn agent(cluster: &Cluster, name: &str, range: &str, labels: &str) -> Agent {
    let mut a = Agent::new(name, cluster.dir.path(), cluster.cluster_addrs(), range);
    a.extra_args = vec!["--labels".into(), labels.into()];
    a.start();
    a
}

async fn create_group(c: &reqwest::Client, url: &str, name: &str, selectors: Value) {
    let group = json!({"name": name, "hostSelectors": selectors});
    let (s, v) = call(c.post(format!("{url}/deployment-group")).json(&group)).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("CREATED")), "{v}");
}

fn role(value: &str) -> Value {
    json!([{"label": "role", "operator": "EQUALS", "operand": value}])
}

/// Starts a rolling update; returns Helios's status word.
async fn rolling_update(
    c: &reqwest::Client,
    url: &str,
    group: &str,
    job: &str,
    options: Value,
) -> String {
    let body = json!({"job": job, "rolloutOptions": options});
    let (s, v) = call(
        c.post(format!("{url}/deployment-group/{group}/rolling-update"))
            .json(&body),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["status"].as_str().unwrap_or_default().to_string()
}

async fn group_status(c: &reqwest::Client, url: &str, group: &str) -> Value {
    let (s, v) = call(c.get(format!("{url}/deployment-group/{group}/status"))).await;
    assert_eq!(s, 200, "{v}");
    v
}

/// Waits for the group's status to be `want` (`ACTIVE`, `FAILED`…) and returns the response;
/// on a timeout, fails with the last status seen.
async fn wait_group(urls: &[String], group: &str, want: &str) -> Value {
    let c = reqwest::Client::new();
    let deadline = std::time::Instant::now() + WAIT;
    let mut last = Value::Null;
    loop {
        for url in urls {
            let (s, v) = call(c.get(format!("{url}/deployment-group/{group}/status"))).await;
            if s == 200 && v["status"] == want {
                return v;
            }
            if s == 200 {
                last = v;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "group {group} not {want} within {WAIT:?}; last status: {last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each host's events of `job`, oldest first: (timestamp, state, container id).
async fn history(c: &reqwest::Client, url: &str, job: &str) -> BTreeMap<String, Vec<Value>> {
    let (s, v) = call(c.get(format!("{url}/history/jobs/{job}"))).await;
    assert_eq!(s, 200, "{v}");
    let mut by_host: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in v["events"].as_array().cloned().unwrap_or_default() {
        let host = e["host"].as_str().unwrap_or_default().to_string();
        by_host.entry(host).or_default().push(e);
    }
    by_host
}

/// When `job` first appeared on `host`, and when it first reported RUNNING there.
fn started_and_running(history: &BTreeMap<String, Vec<Value>>, host: &str) -> (i64, i64) {
    let events = &history[host];
    let first = events[0]["timestamp"].as_i64().unwrap();
    let running = events
        .iter()
        .find(|e| e["status"]["state"] == "RUNNING")
        .and_then(|e| e["timestamp"].as_i64())
        .unwrap_or_else(|| panic!("{host} never RUNNING: {events:?}"));
    (first, running)
}

/// The group's host table as `host → (jobId, state)`.
fn hosts_of(status: &Value) -> BTreeMap<String, (String, String)> {
    status["hostStatuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["host"].as_str().unwrap().to_string(),
                (
                    h["jobId"].as_str().unwrap_or_default().to_string(),
                    h["state"].as_str().unwrap_or_default().to_string(),
                ),
            )
        })
        .collect()
}

fn all_running(status: &Value, hosts: &[&str], job: &str) {
    let table = hosts_of(status);
    for h in hosts {
        assert_eq!(
            table.get(*h),
            Some(&(job.to_string(), "RUNNING".to_string())),
            "{h}: {status}"
        );
    }
}

/// Version after version over three agents: one host at a time, `parallelism` 2, then
/// `overlap`; each time the history shows the order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_moves_host_by_host_in_partitions_and_with_overlap() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    let cluster = Cluster::start(3).await;
    let names = ["ru-1", "ru-2", "ru-10"];
    let _agents: Vec<Agent> = names
        .iter()
        .map(|n| agent(&cluster, n, "31200:31300", "role=web"))
        .collect();
    let c = reqwest::Client::new();
    let url = cluster.masters[0].url();
    let urls = cluster.urls();
    wait_hosts_up(&c, &url, &names).await;
    create_group(&c, &url, "web", role("web")).await;

    // Version 1 everywhere, through the CLI, which follows the hosts until the group is
    // ACTIVE.
    let v1 = create_job(&c, &url, slow_job("ru", "1", image, 1)).await;
    let out = helios(&url, &["rolling-update", &v1, "web"]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let short = &v1[..v1.len() - 33];
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..6],
        [
            format!(
                "Rolling update started: web -> {short} (parallelism=1, timeout=300, \
                 overlap=false, token=, ignoreFailures=false, migrate=false)"
            )
            .as_str(),
            "",
            "ru-1 -> RUNNING (1/3)",
            "ru-2 -> RUNNING (2/3)",
            "ru-10 -> RUNNING (3/3)",
            "",
        ],
        "{text}"
    );
    assert_eq!(lines[6], "Done.", "{text}");
    assert!(lines[7].starts_with("Duration: "), "{text}");
    let done = wait_group(&urls, "web", "ACTIVE").await;
    all_running(&done, &names, &v1);
    // Hosts in natural order: ru-10 after ru-2.
    let order: Vec<&str> = done["hostStatuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["ru-1", "ru-2", "ru-10"]);

    // Version 2, one host at a time: each host starts after the previous one runs.
    let v2 = create_job(&c, &url, slow_job("ru", "2", image, 2)).await;
    assert_eq!(rolling_update(&c, &url, "web", &v2, json!({})).await, "OK");
    let done = wait_group(&urls, "web", "ACTIVE").await;
    all_running(&done, &names, &v2);
    let h = history(&c, &url, &v2).await;
    for pair in names.windows(2) {
        let (_, prev_running) = started_and_running(&h, pair[0]);
        let (next_started, _) = started_and_running(&h, pair[1]);
        assert!(
            next_started >= prev_running,
            "{} started at {next_started}, before {} ran at {prev_running}",
            pair[1],
            pair[0]
        );
    }
    // Version 1 is gone from every host.
    for n in names {
        let (_, status) = call(c.get(format!("{url}/hosts/{n}/status"))).await;
        assert!(status["jobs"].get(&v1).is_none(), "{n}: {status}");
    }

    // Version 3 two at a time: the first two start together, the third after both run.
    let v3 = create_job(&c, &url, slow_job("ru", "3", image, 3)).await;
    let options = json!({"parallelism": 2});
    assert_eq!(rolling_update(&c, &url, "web", &v3, options).await, "OK");
    let done = wait_group(&urls, "web", "ACTIVE").await;
    all_running(&done, &names, &v3);
    let h = history(&c, &url, &v3).await;
    let (a_started, a_running) = started_and_running(&h, "ru-1");
    let (b_started, b_running) = started_and_running(&h, "ru-2");
    let (c_started, _) = started_and_running(&h, "ru-10");
    assert!(
        b_started < a_running && a_started < b_running,
        "ru-1 and ru-2 did not overlap: {a_started}-{a_running} / {b_started}-{b_running}"
    );
    assert!(c_started >= a_running.max(b_running), "ru-10 started early");
    assert_eq!(
        done["deploymentGroup"]["rolloutOptions"]["parallelism"], 2,
        "{done}"
    );

    // Version 4 with overlap: on each host v4 runs before v3 stops.
    let v4 = create_job(&c, &url, slow_job("ru", "4", image, 1)).await;
    let options = json!({"overlap": true});
    assert_eq!(rolling_update(&c, &url, "web", &v4, options).await, "OK");
    let done = wait_group(&urls, "web", "ACTIVE").await;
    all_running(&done, &names, &v4);
    let new = history(&c, &url, &v4).await;
    let old = history(&c, &url, &v3).await;
    for n in names {
        let (_, running) = started_and_running(&new, n);
        let stopped = old[n]
            .iter()
            .find(|e| matches!(e["status"]["state"].as_str(), Some("STOPPING" | "STOPPED")))
            .and_then(|e| e["timestamp"].as_i64())
            .unwrap_or_else(|| panic!("{n}: v3 never stopped: {:?}", old[n]));
        assert!(
            stopped >= running,
            "{n}: v3 stopped at {stopped}, v4 ran at {running}"
        );
    }
}

/// Migrate adopts a hand-made deployment without restarting it; a wrong token and a missing
/// image fail the rollout with the host and the reason; ignore-failures goes on; a new agent
/// with the labels gets the job, an agent restarted without them loses it; stop halts a
/// rollout and the same rolling update recovers the group.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_follows_its_hosts_and_fails_clearly() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    let cluster = Cluster::start(3).await;
    let c = reqwest::Client::new();
    let url = cluster.masters[0].url();
    let urls = cluster.urls();
    let mut a = agent(&cluster, "fl-a", "31400:31450", "role=api");
    let _b = agent(&cluster, "fl-b", "31450:31500", "role=api");
    wait_hosts_up(&c, &url, &["fl-a", "fl-b"]).await;
    create_group(&c, &url, "api", role("api")).await;

    // --migrate: a container deployed by hand is adopted, not restarted.
    let job = create_job(&c, &url, slow_job("fl", "1", image, 0)).await;
    deploy(&c, &url, &job, "fl-a").await;
    let before = wait_task(&c, &url, &job, "fl-a", WAIT, "RUNNING", |t| {
        t["state"] == "RUNNING"
    })
    .await;
    let options = json!({"migrate": true});
    assert_eq!(rolling_update(&c, &url, "api", &job, options).await, "OK");
    let done = wait_group(&urls, "api", "ACTIVE").await;
    all_running(&done, &["fl-a", "fl-b"], &job);
    let (_, d) = call(c.get(format!("{url}/hosts/fl-a/jobs/{job}"))).await;
    assert_eq!(d["deploymentGroupName"], "api", "{d}");
    let (_, after) = call(c.get(format!("{url}/jobs/{job}/status"))).await;
    assert_eq!(
        after["taskStatuses"]["fl-a"]["containerId"], before["containerId"],
        "the adopted container was restarted"
    );

    // A token that is not the job's.
    let mut secret = slow_job("fl-secret", "1", image, 0);
    secret["token"] = json!("s3cret");
    let secret = create_job(&c, &url, secret).await;
    assert_eq!(
        rolling_update(&c, &url, "api", &secret, json!({})).await,
        "OK"
    );
    let failed = wait_group(&urls, "api", "FAILED").await;
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.starts_with("fl-a: token verification failed for job fl-secret:1:"),
        "{error}"
    );

    // A missing image: the host and the reason; ignore-failures goes on to the end.
    let missing = create_job(
        &c,
        &url,
        json!({"id": "fl-missing:1", "image": "helios-test-no-such-image:1"}),
    )
    .await;
    assert_eq!(
        rolling_update(&c, &url, "api", &missing, json!({"timeout": 30})).await,
        "OK"
    );
    // (The step timeout in case this engine's pull of a missing image hangs instead of
    // failing: the step then times out naming the pull failure.)
    let failed = wait_group(&urls, "api", "FAILED").await;
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.starts_with("fl-a: timed out waiting for job fl-missing:1:"),
        "{error}"
    );
    assert!(
        error.contains("due to missing Docker image")
            || error.contains("due to failure pulling Docker image"),
        "{error}"
    );
    // Another missing image with ignore-failures: each host fails, the rollout goes on to
    // the end. (Re-running the same one would wait for a fresh report from fl-a: its old
    // status says nothing about the new attempt.)
    let missing = create_job(
        &c,
        &url,
        json!({"id": "fl-missing:2", "image": "helios-test-no-such-image:2"}),
    )
    .await;
    let options = json!({"ignoreFailures": true, "timeout": 30});
    assert_eq!(
        rolling_update(&c, &url, "api", &missing, options).await,
        "OK"
    );
    wait_group(&urls, "api", "ACTIVE").await;

    // Back to the good job; a new agent with the labels gets it by itself.
    assert_eq!(rolling_update(&c, &url, "api", &job, json!({})).await, "OK");
    wait_group(&urls, "api", "ACTIVE").await;
    let _late = agent(&cluster, "fl-c", "31500:31550", "role=api");
    wait_task(
        &c,
        &url,
        &job,
        "fl-c",
        WAIT,
        "RUNNING on the late host",
        |t| t["state"] == "RUNNING",
    )
    .await;
    let (_, g) = call(c.get(format!("{url}/deployment-group/api"))).await;
    assert_eq!(g["rollingUpdateReason"], "HOSTS_CHANGED", "{g}");

    // fl-a restarts with labels that no longer match: it loses the job and its container.
    let prefix = a.container_prefix().unwrap();
    a.kill9();
    a.extra_args = vec!["--labels".into(), "role=db".into()];
    a.start();
    eventually(WAIT, "job undeployed from fl-a", || async {
        let (_, s) = call(c.get(format!("{url}/hosts/fl-a/status"))).await;
        (s["status"] == "UP" && s["jobs"].get(&job).is_none()).then_some(())
    })
    .await;
    eventually(WAIT, "fl-a's container stopped", || async {
        containers_named(&prefix, false).is_empty().then_some(())
    })
    .await;
    let active = wait_group(&urls, "api", "ACTIVE").await;
    let hosts: Vec<String> = hosts_of(&active).into_keys().collect();
    assert_eq!(hosts, ["fl-b", "fl-c"]);

    // Stop halfway: the first host waits for a slow job, the second is never touched.
    let slow = create_job(&c, &url, slow_job("fl", "2", image, 4)).await;
    assert_eq!(
        rolling_update(&c, &url, "api", &slow, json!({})).await,
        "OK"
    );
    let (s, _) = call(c.post(format!("{url}/deployment-group/api/stop"))).await;
    assert_eq!(s, 204);
    let stopped = group_status(&c, &url, "api").await;
    assert_eq!(stopped["status"], "FAILED", "{stopped}");
    assert_eq!(stopped["error"], "Stopped by user");
    let (_, on_c) = call(c.get(format!("{url}/hosts/fl-c/status"))).await;
    assert!(on_c["jobs"].get(&slow).is_none(), "{on_c}");
    let (s, _) = call(c.post(format!("{url}/deployment-group/nope/stop"))).await;
    assert_eq!(s, 404);
    // The same rolling update again recovers the FAILED group.
    assert_eq!(
        rolling_update(&c, &url, "api", &slow, json!({})).await,
        "OK"
    );
    let done = wait_group(&urls, "api", "ACTIVE").await;
    all_running(&done, &["fl-b", "fl-c"], &slow);
}

/// The leader is killed while a rollout waits on its second host: the new leader finishes
/// it, every host runs the new job in exactly one container, none skipped or done twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rollout_survives_its_leader() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    let mut cluster = Cluster::start(3).await;
    let names = ["lk-1", "lk-2", "lk-3"];
    let agents: Vec<Agent> = names
        .iter()
        .map(|n| agent(&cluster, n, "31600:31700", "role=lk"))
        .collect();
    let c = reqwest::Client::new();
    let urls = cluster.urls();
    let url = urls[0].clone();
    wait_hosts_up(&c, &url, &names).await;
    create_group(&c, &url, "lk", role("lk")).await;
    let job = create_job(&c, &url, slow_job("lk", "1", image, 2)).await;
    assert_eq!(rolling_update(&c, &url, "lk", &job, json!({})).await, "OK");
    // Wait until the first host runs and the second is under way, then kill the leader.
    eventually(WAIT, "second host under way", || async {
        let s = group_status(&c, &url, "lk").await;
        let table = hosts_of(&s);
        (table.get("lk-2").is_some_and(|(j, _)| j == &job)).then_some(())
    })
    .await;
    let leader = cluster.wait_leader(Duration::from_secs(30)).await;
    cluster.masters[leader].kill9();
    let survivors: Vec<String> = urls
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != leader)
        .map(|(_, u)| u.clone())
        .collect();
    let done = wait_group(&survivors, "lk", "ACTIVE").await;
    all_running(&done, &names, &job);
    let h = history(&c, &survivors[0], &job).await;
    for (n, a) in names.iter().zip(&agents) {
        // One container per host: started once, never redone.
        let ids: std::collections::BTreeSet<&str> = h[*n]
            .iter()
            .filter_map(|e| e["status"]["containerId"].as_str())
            .collect();
        assert_eq!(ids.len(), 1, "{n}: {:?}", h[*n]);
        let prefix = a.container_prefix().unwrap();
        assert_eq!(containers_named(&prefix, true).len(), 1, "{n}");
    }
    for pair in names.windows(2) {
        let (_, prev_running) = started_and_running(&h, pair[0]);
        let (next_started, _) = started_and_running(&h, pair[1]);
        assert!(next_started >= prev_running, "{} started early", pair[1]);
    }
}
