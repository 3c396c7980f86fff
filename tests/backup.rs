//! Backup and restore (issue 14), with real master processes, a real agent and real
//! containers: `helios backup FILE`, every master's data destroyed, `helios-master restore
//! --from FILE` into a new first member, two more joining it; the jobs and deployments are
//! back, the agent reconnects, keeps the container that should run (same id, not restarted)
//! and stops the one deployed after the backup.

use std::process::Command;
use std::time::Duration;

use helios_testkit::agents::Agent;
use helios_testkit::api::{call, create_job, deploy, wait_hosts_up, wait_task};
use helios_testkit::docker::{ensure_busybox_image, inspect};
use helios_testkit::{Cluster, bin, eventually, exclusive};
use serde_json::{Value, json};

/// A job that runs until stopped.
fn sleeper(id: &str, image: &str) -> Value {
    json!({"id": id, "image": image, "command": ["sleep", "100000"],
           "secondsToWaitBeforeKill": 1})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_restored_from_a_backup_keeps_its_jobs_deployments_and_containers() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    let mut cluster = Cluster::start(3).await;
    // A second leader, so that the backup is taken in a term above 1, which a restored
    // cluster must not depend on.
    let first = cluster.wait_leader(Duration::from_secs(30)).await;
    cluster.masters[first].kill9();
    cluster.masters[first].start();
    cluster.wait_leader(Duration::from_secs(60)).await;
    let url = cluster.masters[0].url();
    let follower = cluster.masters[1].url();
    let mut agent = Agent::new(
        "bk-a",
        cluster.dir.path(),
        cluster.cluster_addrs(),
        "33400:33500",
    );
    agent.start();
    let http = reqwest::Client::new();
    wait_hosts_up(&http, &url, &["bk-a"]).await;
    let kept = create_job(&http, &url, sleeper("kept:1", image)).await;
    let idle = create_job(&http, &url, sleeper("idle:1", image)).await;
    deploy(&http, &url, &kept, "bk-a").await;
    let running = |t: &Value| t["state"] == "RUNNING";
    let wait = Duration::from_secs(90);
    let task = wait_task(&http, &url, &kept, "bk-a", wait, "RUNNING", running).await;
    let container = task["containerId"].as_str().unwrap().to_string();
    let started = inspect(&container, "{{.State.StartedAt}}");

    // The backup, through a follower.
    let file = cluster.dir.path().join("cluster.hbk");
    let out = Command::new(bin("helios"))
        .args(["-z", &follower, "backup"])
        .arg(&file)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{out:?}");
    assert!(printed.starts_with("backup of cluster "), "{printed}");
    let header = std::fs::read(&file).unwrap();
    let header: Value =
        serde_json::from_slice(header.split(|b| *b == b'\n').nth(1).unwrap()).unwrap();
    assert!(header["term"].as_u64() > Some(1), "{header}");

    // After the backup: a deployment the restored cluster will not have.
    let late = create_job(&http, &url, sleeper("late:1", image)).await;
    deploy(&http, &url, &late, "bk-a").await;
    let late_task = wait_task(&http, &url, &late, "bk-a", wait, "RUNNING", running).await;
    let late_container = late_task["containerId"].as_str().unwrap().to_string();

    // Every master and its data gone.
    for m in &mut cluster.masters {
        m.kill9();
        std::fs::remove_dir_all(&m.data_dir).unwrap();
    }
    // Restored into master 1's (empty) directory, with its flags; masters 2 and 3 join it.
    let first = &cluster.masters[0];
    let out = Command::new(first.program())
        .args(["--id", "1", "--name", "master1", "--data-dir"])
        .arg(&first.data_dir)
        .args(["--http", &format!("127.0.0.1:{}", first.http_port)])
        .args(["--cluster", &first.cluster_addr()])
        .args(["restore", "--from"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("restored cluster "), "{said}");
    // Restoring again into a directory with data is refused.
    let again = Command::new(first.program())
        .args(["--id", "1", "--data-dir"])
        .arg(&first.data_dir)
        .args(["restore", "--from"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds a master's data"),
        "{again:?}"
    );
    let first_cluster = cluster.masters[0].cluster_addr();
    for m in &mut cluster.masters[1..] {
        m.peers = String::new();
        m.extra_args = vec!["--join".into(), first_cluster.clone()];
    }
    cluster.start_all().await;

    // The jobs and the deployment are back, through any member.
    for m in &cluster.masters {
        let (s, jobs) = call(http.get(format!("{}/jobs", m.url()))).await;
        assert_eq!(s, 200, "{jobs}");
        assert!(
            jobs.get(&kept).is_some() && jobs.get(&idle).is_some(),
            "{jobs}"
        );
        assert!(jobs.get(&late).is_none(), "{jobs}");
    }
    let (s, deployment) = call(http.get(format!("{url}/hosts/bk-a/jobs/{kept}"))).await;
    assert_eq!(s, 200, "{deployment}");
    assert_eq!(deployment["goal"], "START", "{deployment}");

    // The agent converges on the restored cluster: the job deployed after the backup stops,
    // a new deployment runs, and the kept container was never restarted.
    eventually(
        wait,
        "the container deployed after the backup gone",
        || async {
            let running = inspect(&late_container, "{{.State.Running}}");
            (running.as_deref() != Some("true")).then_some(())
        },
    )
    .await;
    deploy(&http, &url, &idle, "bk-a").await;
    wait_task(&http, &url, &idle, "bk-a", wait, "RUNNING", running).await;
    let task = wait_task(&http, &url, &kept, "bk-a", wait, "RUNNING", running).await;
    assert_eq!(task["containerId"].as_str(), Some(container.as_str()));
    assert_eq!(inspect(&container, "{{.State.StartedAt}}"), started);
    assert_eq!(
        inspect(&container, "{{.State.Running}}").as_deref(),
        Some("true")
    );
    agent.kill9();
}
