//! The `helios` CLI against a real three-master cluster: the job commands work whichever
//! master `-z` names, and keep working after the leader is killed; the deployment-group
//! commands (without rolling updates) answer as Helios does.

use std::process::{Command, Output};
use std::time::Duration;

use helios_testkit::{Cluster, bin, eventually};
use serde_json::Value;

fn helios(masters: &[&str], args: &[&str]) -> Output {
    let mut cmd = Command::new(bin("helios"));
    for m in masters {
        cmd.args(["-z", m]);
    }
    cmd.args(["--retry-timeout", "60", "--http-timeout", "10"]);
    cmd.args(args).output().expect("run helios")
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "helios failed ({:?}): stdout {stdout:?} stderr {:?}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// create, jobs, inspect --json and remove through each master, then again after the leader
/// is killed, through each survivor.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn job_commands_through_any_master_and_after_leader_kill() {
    let mut cluster = Cluster::start(3).await;
    let urls = cluster.urls();
    for round in 0..2 {
        let live: Vec<usize> = (0..3)
            .filter(|i| cluster.masters[*i].is_running())
            .collect();
        for &i in &live {
            let url = urls[i].as_str();
            let name = format!("foo{round}{i}:1");
            let out = ok(&helios(
                &[url],
                &["create", &name, "busybox", "--", "sleep", "1000"],
            ));
            assert!(out.contains("Creating job: "), "{out}");
            assert!(out.contains("Done."), "{out}");
            let id = out.lines().last().unwrap().trim().to_string();
            assert!(
                id.starts_with(&format!("{name}:")) && id.len() == name.len() + 41,
                "{id}"
            );

            let jobs = ok(&helios(&[url], &["jobs"]));
            assert!(jobs.starts_with("JOB ID"), "{jobs}");
            assert!(jobs.contains(&format!("foo{round}{i}")), "{jobs}");
            let q = ok(&helios(&[url], &["jobs", "-q", "-f"]));
            assert!(q.lines().any(|l| l == id), "{q}");

            let json: Value =
                serde_json::from_str(&ok(&helios(&[url], &["inspect", &name, "--json"]))).unwrap();
            assert_eq!(json["id"], id.as_str());
            assert_eq!(json["image"], "busybox");
            assert_eq!(json["command"], serde_json::json!(["sleep", "1000"]));

            let out = ok(&helios(&[url], &["remove", &name, "--yes"]));
            assert!(out.contains(&format!("{id}: done")), "{out}");
            let out = helios(&[url], &["inspect", &name]);
            assert!(!out.status.success());
            assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("Unknown job: {name}")));
        }
        if round == 0 {
            let leader = cluster.wait_leader(Duration::from_secs(30)).await;
            cluster.masters[leader].kill9();
            // The CLI names the dead master first: it must move on to a live one.
            let all: Vec<&str> = std::iter::once(urls[leader].as_str())
                .chain(
                    urls.iter()
                        .map(String::as_str)
                        .filter(|u| *u != urls[leader]),
                )
                .collect();
            let out = ok(&helios(&all, &["create", "after-kill:1", "busybox"]));
            assert!(out.contains("Done."), "{out}");
        }
    }
    // masters lists the live members only (one was killed); --all lists every member with
    // its role and state; version shows both versions.
    let live = cluster
        .masters
        .iter()
        .find(|m| m.is_running())
        .unwrap()
        .url();
    let dead: Vec<String> = cluster
        .masters
        .iter()
        .filter(|m| !m.is_running())
        .map(|m| format!("master{}", m.id))
        .collect();
    assert_eq!(dead.len(), 1, "{dead:?}");
    let masters = eventually(
        Duration::from_secs(30),
        "killed master unlisted",
        || async {
            let out = ok(&helios(&[&live], &["masters", "-f"]));
            (out.lines().count() == 2).then_some(out)
        },
    )
    .await;
    assert!(!masters.lines().any(|l| l == dead[0]), "{masters}");
    let all = ok(&helios(&[&live], &["masters", "-f", "--all"]));
    let rows: Vec<Vec<&str>> = all
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "NAME", "ID", "ROLE", "STATE", "TERM", "MATCH", "LAG", "HTTP", "CLUSTER"
        ],
        "{all}"
    );
    assert_eq!(rows.len(), 4, "{all}");
    for row in &rows[1..] {
        let down = row[0] == dead[0];
        assert_eq!(row[3], if down { "down" } else { "up" }, "{all}");
        // Every member shows the leader's term; a live one its match index.
        assert!(row[4].parse::<u64>().is_ok_and(|t| t > 0), "{all}");
        assert!(down || row[5].parse::<u64>().is_ok(), "{all}");
    }
    let roles: Vec<&str> = rows[1..].iter().map(|r| r[2]).collect();
    assert_eq!(roles.iter().filter(|r| **r == "leader").count(), 1, "{all}");
    assert_eq!(
        roles.iter().filter(|r| **r == "follower").count(),
        2,
        "{all}"
    );
    let version = ok(&helios(&[&live], &["version"]));
    assert!(
        version.contains("Client Version:") && version.contains("Master Version:"),
        "{version}"
    );
}

/// A job that already exists, and a job that fails validation, exit 1 with Helios's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_failures_exit_one() {
    let cluster = Cluster::start(3).await;
    let url = cluster.masters[0].url();
    ok(&helios(&[&url], &["create", "dup:1", "busybox"]));
    let out = helios(&[&url], &["create", "dup:1", "busybox", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("JOB_ALREADY_EXISTS"), "{stdout}");
    let out = helios(&[&url], &["create", "bad:1", "NOT_LOWERCASE"]);
    assert_eq!(out.status.code(), Some(1));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("Invalid image name"), "{all}");
    // No master at all: the argparse-style error, exit 1.
    let out = Command::new(bin("helios"))
        .arg("jobs")
        .env_remove("HELIOS_MASTER")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no masters specified"));
}

/// The deployment-group commands against a real cluster, through a follower and the leader:
/// create (created, not modified, conflict), list, inspect, status before any rolling update,
/// remove, with Helios's outputs and exit codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deployment_group_commands_against_a_cluster() {
    let cluster = Cluster::start(3).await;
    let urls = cluster.urls();
    let (a, b) = (urls[0].as_str(), urls[2].as_str());

    let out = ok(&helios(
        &[a],
        &["create-deployment-group", "web", "role=web", "dc in (x, y)"],
    ));
    assert!(out.starts_with("Creating deployment group: {"), "{out}");
    assert!(out.contains(r#"{"status":"CREATED"}"#), "{out}");
    let out = ok(&helios(
        &[b],
        &[
            "create-deployment-group",
            "-q",
            "web",
            "role=web",
            "dc in (y, x)",
        ],
    ));
    assert!(out.contains("NOT_MODIFIED"), "{out}");
    let conflict = helios(&[a], &["create-deployment-group", "web", "role=db"]);
    assert_eq!(conflict.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&conflict.stdout)
            .contains("Failed: CreateDeploymentGroupResponse{status=CONFLICT}"),
        "{conflict:?}"
    );
    ok(&helios(&[b], &["create-deployment-group", "db", "role=db"]));

    let list: Value =
        serde_json::from_str(&ok(&helios(&[b], &["list-deployment-groups", "--json"])))
            .expect("JSON list");
    assert_eq!(list, serde_json::json!(["db", "web"]));
    let inspect = ok(&helios(&[a], &["inspect-deployment-group", "web"]));
    assert!(inspect.contains("Name: web"), "{inspect}");
    assert!(inspect.contains("role = web"), "{inspect}");
    let status = ok(&helios(&[b], &["deployment-group-status", "web"]));
    assert!(status.contains("Status: IDLE"), "{status}");

    assert!(
        ok(&helios(&[a], &["remove-deployment-group", "web"]))
            .contains("Deployment-group web removed")
    );
    let again = helios(&[b], &["remove-deployment-group", "web"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("DEPLOYMENT_GROUP_NOT_FOUND"),
        "{again:?}"
    );
    let unknown = helios(&[a], &["inspect-deployment-group", "web"]);
    assert_eq!(unknown.status.code(), Some(1));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&unknown.stdout),
        String::from_utf8_lossy(&unknown.stderr)
    );
    assert!(said.contains("Unknown deployment group: web"), "{said}");
}

/// `helios jobs` counts the hosts each job is deployed on (HOSTS) and `-y` keeps the deployed
/// ones; the counts come from `POST /jobs/statuses?fields=deployments`, which answers only the
/// deployments (and refuses another `fields` with a JSON 400).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_counts_the_hosts_each_job_is_deployed_on() {
    let cluster = Cluster::start(1).await;
    cluster.wait_leader(Duration::from_secs(30)).await;
    let url = cluster.masters[0].url();
    let http = reqwest::Client::new();
    for host in ["h1", "h2"] {
        let r = http
            .put(format!("{url}/hosts/{host}?id=id-{host}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let id = |out: String| out.trim().to_string();
    let placed = id(ok(&helios(
        &[&url],
        &["create", "-q", "placed:1", "busybox"],
    )));
    let idle = id(ok(&helios(&[&url], &["create", "-q", "idle:1", "busybox"])));
    ok(&helios(&[&url], &["deploy", "placed:1", "h1", "h2"]));

    let table = ok(&helios(&[&url], &["jobs"]));
    let hosts_of = |name: &str| {
        table
            .lines()
            .find_map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                (cols.get(1) == Some(&name)).then(|| cols[3].to_string())
            })
            .unwrap_or_else(|| panic!("no line for {name}: {table}"))
    };
    assert_eq!(hosts_of("placed"), "2", "{table}");
    assert_eq!(hosts_of("idle"), "0", "{table}");
    let deployed = ok(&helios(&[&url], &["jobs", "-y", "-q", "-f"]));
    assert_eq!(deployed.trim(), placed, "{deployed}");

    let statuses = |fields: &str| {
        http.post(format!("{url}/jobs/statuses?fields={fields}"))
            .json(&[&placed, &idle])
            .send()
    };
    let r = statuses("deployments").await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body[&placed].as_object().unwrap().len(), 1, "{body}");
    let hosts: Vec<&String> = body[&placed]["deployments"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(hosts, ["h1", "h2"], "{body}");
    assert_eq!(
        body[&idle],
        serde_json::json!({"deployments": {}}),
        "{body}"
    );
    let r = statuses("everything").await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "INVALID_FIELDS", "{body}");
}
