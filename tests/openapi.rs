//! The REST API's contract (issue 14): schemathesis (PyPI; `./test.sh` installs it) reads
//! `/openapi.json` from a live follower of a three-master cluster holding a job with every
//! kind of field, a host, a deployment and a deployment group in a rollout, generates
//! requests for every operation, and checks that no answer is a server error, and that every
//! answer's body and content type match the document.

use std::process::Command;
use std::time::Duration;

use helios_testkit::Cluster;
use helios_testkit::api::{call, create_job, deploy};
use serde_json::{Value, json};

/// The schemathesis executable: on the PATH, or where `pip install --user` puts it.
fn schemathesis() -> std::path::PathBuf {
    let user_bin = std::env::var_os("HOME")
        .map(|h| std::path::PathBuf::from(h).join(".local/bin/schemathesis"));
    let on_path = Command::new("schemathesis").arg("--version").output();
    if on_path.is_ok_and(|o| o.status.success()) {
        return "schemathesis".into();
    }
    match user_bin.filter(|p| p.exists()) {
        Some(p) => p,
        None => {
            panic!("schemathesis is missing: run ./test.sh (python3 -m pip install schemathesis)")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let cluster = Cluster::start(3).await;
    let leader = cluster.wait_leader(Duration::from_secs(30)).await;
    let follower = cluster.masters[(leader + 1) % 3].url();
    let http = reqwest::Client::new();

    // Data for the listings to return: a job with every kind of field, a host with it
    // deployed, a deployment group rolling it out, an API token.
    let job = create_job(
        &http,
        &follower,
        json!({"id": "contract:1", "image": "busybox:1", "command": ["sleep", "1"],
               "env": {"A": "1", "S": "x"}, "secretEnv": ["S"],
               "ports": {"http": {"internalPort": 80, "protocol": "tcp"}},
               "registration": {"svc/http": {"ports": {"http": {}}}},
               "healthCheck": {"type": "http", "path": "/h", "port": "http"},
               "expires": "2099-01-01T00:00:00.000+0000", "gracePeriod": 3,
               "volumes": {"/d": "/srv"}, "labels": {"l": "v"}, "metadata": {"m": "1"},
               "resources": {"memory": 100000000, "cpuShares": 2},
               "rolloutOptions": {"parallelism": 2}}),
    )
    .await;
    let (s, v) = call(http.put(format!("{follower}/hosts/contract-host?id=abc"))).await;
    assert_eq!(s, 200, "{v}");
    deploy(&http, &follower, &job, "contract-host").await;
    let (s, v) = call(
        http.post(format!("{follower}/deployment-group"))
            .json(&json!({"name": "contract-group",
                "hostSelectors": [{"label": "role", "operator": "EQUALS", "operand": "web"}]})),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("CREATED")), "{v}");
    let (s, v) = call(
        http.post(format!(
            "{follower}/deployment-group/contract-group/rolling-update"
        ))
        .json(&json!({"job": job})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = call(
        http.post(format!("{follower}/tokens"))
            .json(&json!({"name": "contract", "role": "read"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, doc): (u16, Value) = call(http.get(format!("{follower}/openapi.json"))).await;
    assert_eq!(s, 200);
    assert!(doc["paths"]["/jobs"]["post"].is_object(), "{doc}");

    // Its cache of failures goes in the cluster's temporary directory, not the sources.
    let out = Command::new(schemathesis())
        .current_dir(cluster.dir.path())
        .args(["run", &format!("{follower}/openapi.json")])
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,content_type_conformance",
            "--max-examples",
            "25",
            "--request-timeout",
            "15",
            "--generation-deterministic",
        ])
        .env("NO_COLOR", "1")
        .output()
        .expect("run schemathesis");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis failed:\n{report}");
    assert!(report.contains("passed"), "{report}");
    // Every master still serves.
    for m in &cluster.masters {
        let (s, v) = call(http.get(format!("{}/readyz", m.url()))).await;
        assert_eq!(s, 200, "{v}");
    }
}
