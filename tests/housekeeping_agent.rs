//! Agent housekeeping on the machine's real Docker engine (reference §4.1, §4.5), through a
//! real master: the FLAPPING throttle and its end, IMAGE_MISSING as the CLI shows it, and the
//! reaper of containers in the agent's namespace that no task owns. (The state-dir lock is
//! covered by `crates/agent/tests/docker.rs`, `second_agent_on_a_locked_state_dir_exits`.)

use std::process::Command;
use std::time::Duration;

use helios_testkit::agents::Agent;
use helios_testkit::api::{call, create_job, deploy, task, wait_hosts_up, wait_task};
use helios_testkit::docker::{docker, ensure_busybox_image, inspect, remove_containers};
use helios_testkit::{Cluster, bin, eventually, exclusive};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(120);

fn start_agent(cluster: &Cluster, name: &str, range: &str) -> Agent {
    let mut a = Agent::new(name, cluster.dir.path(), cluster.cluster_addrs(), range);
    a.start();
    a
}

/// Runs the real CLI against `url`; returns stdout, asserting success.
fn helios(url: &str, args: &[&str]) -> String {
    let out = Command::new(bin("helios"))
        .args(["-z", url, "--retry-timeout", "60", "--http-timeout", "10"])
        .args(args)
        .output()
        .expect("run helios");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "helios {args:?} failed ({:?}): stdout {stdout:?} stderr {:?}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A job whose container exits at once is FLAPPING after 10 quick exits (Helios: 10 runs
/// totalling under 60 s), with the 30 s restart delay; once fixed, its next container runs
/// and the throttle returns to NO when the 60 s window is covered. The host status and the
/// history show the throttle too. Takes about two minutes, by Helios's constants.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashing_job_flaps_and_recovers_once_fixed() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    let cluster = Cluster::start(1).await;
    let host = "hk-flap";
    let _agent = start_agent(&cluster, host, "34300:34400");
    let c = reqwest::Client::new();
    let url = cluster.masters[0].url();
    wait_hosts_up(&c, &url, &[host]).await;
    let fix = cluster.dir.path().join("fix");
    std::fs::create_dir_all(&fix).unwrap();
    let job = create_job(
        &c,
        &url,
        json!({"id": "hk-flap:1", "image": image,
               "command": ["sh", "-c", "test -f /fix/ok || exit 1; exec sleep 100000"],
               "volumes": {"/fix": fix.to_str().unwrap()},
               "secondsToWaitBeforeKill": 1}),
    )
    .await;
    deploy(&c, &url, &job, host).await;
    let flapping = wait_task(&c, &url, &job, host, WAIT, "FLAPPING", |t| {
        t["throttled"] == "FLAPPING"
    })
    .await;
    let crashed = flapping["containerId"].clone();
    let (s, v) = call(c.get(format!("{url}/hosts/{host}/status"))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["statuses"][&job]["throttled"], "FLAPPING", "{v}");

    std::fs::write(fix.join("ok"), "").unwrap();
    // The next container starts after the 30 s delay and runs, still FLAPPING (the window
    // is not covered yet) …
    let t = wait_task(&c, &url, &job, host, WAIT, "RUNNING", |t| {
        t["state"] == "RUNNING" && t["containerId"] != crashed
    })
    .await;
    let id = t["containerId"].as_str().unwrap().to_string();
    // … and the throttle goes back to NO about a minute later, same container.
    let t = wait_task(&c, &url, &job, host, WAIT, "throttle NO", |t| {
        t["throttled"] == "NO"
    })
    .await;
    assert_eq!(t["state"], "RUNNING", "{t}");
    assert_eq!(t["containerId"].as_str(), Some(id.as_str()), "{t}");
    assert_eq!(inspect(&id, "{{.State.Running}}").as_deref(), Some("true"));

    let (_, history) = call(c.get(format!("{url}/history/jobs/{job}"))).await;
    let throttles: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"]["throttled"].as_str().unwrap_or("?"))
        .collect();
    let first_flap = throttles.iter().position(|t| *t == "FLAPPING");
    let last_flap = throttles.iter().rposition(|t| *t == "FLAPPING");
    assert!(first_flap.is_some(), "{throttles:?}");
    assert_eq!(throttles.last(), Some(&"NO"), "{throttles:?}");
    assert!(last_flap < Some(throttles.len() - 1), "{throttles:?}");
}

/// A job whose image exists nowhere is `FAILED (IMAGE_MISSING)` in `helios status`, and
/// `helios history` shows the throttle.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_image_shows_as_image_missing_in_the_cli() {
    let _serial = exclusive().await;
    ensure_busybox_image();
    let cluster = Cluster::start(1).await;
    let host = "hk-missing";
    let _agent = start_agent(&cluster, host, "34400:34500");
    let c = reqwest::Client::new();
    let url = cluster.masters[0].url();
    wait_hosts_up(&c, &url, &[host]).await;
    let job = create_job(
        &c,
        &url,
        json!({"id": "hk-missing:1", "image": "helios-no-such-image:42",
               "command": ["sleep", "100000"]}),
    )
    .await;
    deploy(&c, &url, &job, host).await;
    wait_task(&c, &url, &job, host, WAIT, "FAILED", |t| {
        t["state"] == "FAILED"
    })
    .await;
    let status = helios(&url, &["status", "-j", "hk-missing:1"]);
    let row = status
        .lines()
        .find(|l| l.contains(host))
        .unwrap_or_else(|| panic!("no row for {host}: {status}"));
    assert!(row.contains("FAILED (IMAGE_MISSING)"), "{status}");
    assert!(row.contains("START"), "{status}");
    let history = helios(&url, &["history", &job]);
    assert!(
        history
            .lines()
            .any(|l| l.contains(host) && l.contains("FAILED") && l.contains("IMAGE_MISSING")),
        "{history}"
    );
}

/// Running containers named in the agent's namespace that no task owns are killed, whether
/// they were started before the agent or while it runs; the deployed job's container and
/// containers outside the namespace keep running.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_reaper_kills_intruders_in_the_agent_namespace() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    let cluster = Cluster::start(1).await;
    let host = "hk-reap";
    let mut agent = Agent::new(
        host,
        cluster.dir.path(),
        cluster.cluster_addrs(),
        "34500:34600",
    );
    // A known agent id (and container prefix) before the agent ever starts.
    let agent_id = format!("REAPTEST{:08X}", std::process::id());
    std::fs::create_dir_all(&agent.state_dir).unwrap();
    std::fs::write(agent.state_dir.join("id"), &agent_id).unwrap();
    let prefix = format!("helios-{agent_id}-");
    let stranger = format!("hk-reap-stranger-{agent_id}");
    let run = |name: &str| {
        docker(&["run", "-d", "--name", name, image, "sleep", "100000"])
            .unwrap_or_else(|| panic!("docker run {name}"))
    };
    let running = |id: &str| inspect(id, "{{.State.Running}}").as_deref() == Some("true");
    let before = run(&format!("{prefix}intruder_1"));
    let outsider = run(&stranger);
    assert!(running(&before));

    agent.start();
    let c = reqwest::Client::new();
    let url = cluster.masters[0].url();
    wait_hosts_up(&c, &url, &[host]).await;
    assert_eq!(agent.agent_id().as_deref(), Some(agent_id.as_str()));
    eventually(
        WAIT,
        "the intruder started before the agent killed",
        || async { (!running(&before)).then_some(()) },
    )
    .await;
    let job = create_job(
        &c,
        &url,
        json!({"id": "hk-reap:1", "image": image, "command": ["sleep", "100000"],
               "secondsToWaitBeforeKill": 1}),
    )
    .await;
    deploy(&c, &url, &job, host).await;
    let t = wait_task(&c, &url, &job, host, WAIT, "RUNNING", |t| {
        t["state"] == "RUNNING"
    })
    .await;
    let owned = t["containerId"].as_str().unwrap().to_string();

    let after = run(&format!("{prefix}intruder_2"));
    eventually(
        WAIT,
        "the intruder started after the agent killed",
        || async { (!running(&after)).then_some(()) },
    )
    .await;
    assert!(running(&owned), "the job's container was killed");
    assert!(
        running(&outsider),
        "a container outside the namespace was killed"
    );
    let t = task(&c, &url, &job, host).await.unwrap();
    assert_eq!(t["state"], "RUNNING", "{t}");
    assert_eq!(t["containerId"].as_str(), Some(owned.as_str()), "{t}");
    remove_containers(&stranger);
}
