//! Health checks on the machine's real Docker engine (reference §4.2), through a real master
//! and agent: each kind of check holds a task in HEALTHCHECKING until the container answers,
//! a container killed during the checks is FAILED and replaced, and a container adopted by a
//! restarted agent is checked again before it counts as RUNNING.
//!
//! Readiness is in the test's hands, not a timer's: each container answers only once the test
//! writes `/tmp/ready` in it (`docker exec`), so "still HEALTHCHECKING" is certain, never a
//! race.

use std::time::Duration;

use helios_testkit::agents::Agent;
use helios_testkit::api::{call, create_job, deploy, task, wait_hosts_up, wait_task};
use helios_testkit::docker::{containers_named, docker, ensure_busybox_image, inspect};
use helios_testkit::{Cluster, eventually, exclusive};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(120);

/// How long the tests watch a task that must not leave HEALTHCHECKING.
const HOLD: Duration = Duration::from_secs(5);

/// The states of the job's history events on `host`, oldest first.
async fn history_states(c: &reqwest::Client, url: &str, job: &str, host: &str) -> Vec<String> {
    let (s, v) = call(c.get(format!("{url}/history/jobs/{job}"))).await;
    assert_eq!(s, 200, "history of {job}: {v}");
    v["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter(|e| e["host"] == host)
                .map(|e| e["status"]["state"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn state_is(state: &'static str) -> impl Fn(&Value) -> bool {
    move |t| t["state"] == state
}

/// Makes a container ready: its check passes from now on.
fn make_ready(container: &str) {
    docker(&["exec", container, "sh", "-c", "echo ok > /tmp/ready"]).expect("docker exec");
}

/// Makes a container unready: `/tmp/ready` is emptied.
fn make_unready(container: &str) {
    docker(&["exec", container, "sh", "-c", ": > /tmp/ready"]).expect("docker exec");
}

/// Waits (in the container) until `/tmp/ready` is non-empty, then runs `then`.
fn command_when_ready(then: &str) -> Value {
    json!([
        "sh",
        "-c",
        format!("until test -s /tmp/ready; do sleep 1; done; {then}")
    ])
}

/// An exec check that passes once `/tmp/ready` is non-empty.
fn exec_check() -> Value {
    json!({"type": "exec", "command": ["sh", "-c", "test -s /tmp/ready"]})
}

fn start_agent(cluster: &Cluster, name: &str, range: &str) -> Agent {
    let mut a = Agent::new(name, cluster.dir.path(), cluster.cluster_addrs(), range);
    a.start();
    a
}

/// http, tcp and exec checks each keep their task HEALTHCHECKING while the container does
/// not answer, then RUNNING once it does; at that moment the service answers for real. The
/// history has HEALTHCHECKING before RUNNING, and no RUNNING before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_check_kind_holds_healthchecking_until_the_container_answers() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    let cluster = Cluster::start(1).await;
    let host = "hc-kinds";
    let _agent = start_agent(&cluster, host, "34000:34100");
    let c = reqwest::Client::new();
    let url = cluster.masters[0].url();
    wait_hosts_up(&c, &url, &[host]).await;

    let http = create_job(
        &c,
        &url,
        json!({"id": "hc-http:1", "image": image,
               "command": command_when_ready(
                   "echo ok > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"),
               "ports": {"http": {"internalPort": 8080}},
               "healthCheck": {"type": "http", "path": "/", "port": "http"},
               "secondsToWaitBeforeKill": 1}),
    )
    .await;
    let tcp = create_job(
        &c,
        &url,
        json!({"id": "hc-tcp:1", "image": image,
               "command": command_when_ready("exec nc -ll -p 8080 -e cat"),
               "ports": {"tcp": {"internalPort": 8080}},
               "healthCheck": {"type": "tcp", "port": "tcp"},
               "secondsToWaitBeforeKill": 1}),
    )
    .await;
    let exec = create_job(
        &c,
        &url,
        json!({"id": "hc-exec:1", "image": image,
               "command": ["sh", "-c", "exec sleep 100000"],
               "healthCheck": exec_check(),
               "secondsToWaitBeforeKill": 1}),
    )
    .await;
    let jobs = [&http, &tcp, &exec];
    for job in jobs {
        deploy(&c, &url, job, host).await;
    }
    let mut containers = Vec::new();
    for job in jobs {
        let t = wait_task(&c, &url, job, host, WAIT, "HEALTHCHECKING", |t| {
            t["state"] == "HEALTHCHECKING" && t["containerId"].is_string()
        })
        .await;
        containers.push(t["containerId"].as_str().unwrap().to_string());
    }
    // Nothing answers yet: every probe fails, so nothing may move on.
    tokio::time::sleep(HOLD).await;
    for (job, id) in jobs.iter().zip(&containers) {
        let t = task(&c, &url, job, host).await.unwrap();
        assert_eq!(t["state"], "HEALTHCHECKING", "{job}: {t}");
        assert_eq!(t["containerId"].as_str(), Some(id.as_str()), "{job}: {t}");
        assert_eq!(
            inspect(id, "{{.State.Running}}").as_deref(),
            Some("true"),
            "{job}"
        );
    }
    for id in &containers {
        make_ready(id);
    }
    for (job, id) in jobs.iter().zip(&containers) {
        let t = wait_task(&c, &url, job, host, WAIT, "RUNNING", state_is("RUNNING")).await;
        assert_eq!(t["containerId"].as_str(), Some(id.as_str()), "{job}: {t}");
        let states = history_states(&c, &url, job, host).await;
        let checking = states.iter().position(|s| s == "HEALTHCHECKING");
        let running = states.iter().position(|s| s == "RUNNING");
        assert!(
            matches!((checking, running), (Some(h), Some(r)) if h < r),
            "{job}: {states:?}"
        );
    }
    // RUNNING means the service answers.
    let port = async |job: &str, name: &str| {
        let t = task(&c, &url, job, host).await.unwrap();
        t["ports"][name]["externalPort"].as_u64().unwrap() as u16
    };
    let http_port = port(&http, "http").await;
    let r = c
        .get(format!("http://127.0.0.1:{http_port}/"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("GET the http job");
    assert!(r.status().is_success(), "{}", r.status());
    assert!((34000..34100).contains(&http_port));
    let tcp_port = port(&tcp, "tcp").await;
    tokio::net::TcpStream::connect(("127.0.0.1", tcp_port))
        .await
        .expect("connect to the tcp job");
    assert!(
        docker(&["exec", &containers[2], "sh", "-c", "test -s /tmp/ready"]).is_some(),
        "the exec check does not pass"
    );
}

/// A container killed during the checks: EXITED then FAILED in the job's history (after
/// HEALTHCHECKING, never RUNNING), and a new container is started, checked (HEALTHCHECKING) and, once
/// ready, RUNNING.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_container_killed_during_checks_fails_and_is_replaced() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    let cluster = Cluster::start(1).await;
    let host = "hc-kill";
    let _agent = start_agent(&cluster, host, "34100:34200");
    let c = reqwest::Client::new();
    let url = cluster.masters[0].url();
    wait_hosts_up(&c, &url, &[host]).await;
    let job = create_job(
        &c,
        &url,
        json!({"id": "hc-kill:1", "image": image,
               "command": ["sh", "-c", "exec sleep 100000"],
               "healthCheck": exec_check(),
               "secondsToWaitBeforeKill": 1}),
    )
    .await;
    deploy(&c, &url, &job, host).await;
    let t = wait_task(&c, &url, &job, host, WAIT, "HEALTHCHECKING", |t| {
        t["state"] == "HEALTHCHECKING" && t["containerId"].is_string()
    })
    .await;
    let first = t["containerId"].as_str().unwrap().to_string();
    docker(&["kill", &first]).expect("docker kill");

    let t = wait_task(&c, &url, &job, host, WAIT, "a new container checked", |t| {
        t["state"] == "HEALTHCHECKING"
            && t["containerId"].is_string()
            && t["containerId"] != first.as_str()
    })
    .await;
    let second = t["containerId"].as_str().unwrap().to_string();
    let states = history_states(&c, &url, &job, host).await;
    let failed = states
        .iter()
        .position(|s| s == "FAILED")
        .unwrap_or_else(|| panic!("no FAILED in {states:?}"));
    // The agent reports EXITED then FAILED at once; every transition reaches the history.
    assert!(failed > 0, "{states:?}");
    assert_eq!(states[failed - 1], "EXITED", "{states:?}");
    assert!(
        states[..failed].iter().any(|s| s == "HEALTHCHECKING"),
        "{states:?}"
    );
    assert!(
        !states[..failed].iter().any(|s| s == "RUNNING"),
        "{states:?}"
    );
    make_ready(&second);
    let t = wait_task(&c, &url, &job, host, WAIT, "RUNNING", state_is("RUNNING")).await;
    assert_eq!(t["containerId"].as_str(), Some(second.as_str()));
}

/// An agent restarted while its health-checked container runs adopts the container and
/// checks it again: HEALTHCHECKING (held while the check fails), then RUNNING, with the same
/// container id and no new container.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adopted_container_is_checked_again_after_agent_restart() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    let cluster = Cluster::start(1).await;
    let host = "hc-adopt";
    let mut agent = start_agent(&cluster, host, "34200:34300");
    let c = reqwest::Client::new();
    let url = cluster.masters[0].url();
    wait_hosts_up(&c, &url, &[host]).await;
    let job = create_job(
        &c,
        &url,
        json!({"id": "hc-adopt:1", "image": image,
               "command": ["sh", "-c", "exec sleep 100000"],
               "healthCheck": exec_check(),
               "secondsToWaitBeforeKill": 1}),
    )
    .await;
    deploy(&c, &url, &job, host).await;
    let t = wait_task(&c, &url, &job, host, WAIT, "HEALTHCHECKING", |t| {
        t["state"] == "HEALTHCHECKING" && t["containerId"].is_string()
    })
    .await;
    let id = t["containerId"].as_str().unwrap().to_string();
    make_ready(&id);
    wait_task(&c, &url, &job, host, WAIT, "RUNNING", state_is("RUNNING")).await;
    // The agent has persisted RUNNING for its container before it is killed.
    let statuses = agent.state_dir.join("task-status.json");
    eventually(WAIT, "RUNNING persisted", || async {
        let s = std::fs::read_to_string(&statuses).ok()?;
        (s.contains(&id) && s.contains("\"RUNNING\"")).then_some(())
    })
    .await;

    agent.kill9();
    make_unready(&id);
    agent.start();
    let t = wait_task(&c, &url, &job, host, WAIT, "HEALTHCHECKING again", |t| {
        t["state"] == "HEALTHCHECKING"
    })
    .await;
    assert_eq!(
        t["containerId"].as_str(),
        Some(id.as_str()),
        "not adopted: {t}"
    );
    tokio::time::sleep(HOLD).await;
    let t = task(&c, &url, &job, host).await.unwrap();
    assert_eq!(t["state"], "HEALTHCHECKING", "{t}");
    make_ready(&id);
    let t = wait_task(&c, &url, &job, host, WAIT, "RUNNING", state_is("RUNNING")).await;
    assert_eq!(
        t["containerId"].as_str(),
        Some(id.as_str()),
        "not adopted: {t}"
    );
    let prefix = agent.container_prefix().unwrap();
    assert_eq!(
        containers_named(&prefix, true),
        vec![id.clone()],
        "exactly one container, the adopted one"
    );
}
