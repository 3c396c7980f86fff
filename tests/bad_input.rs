//! Bad input gets a 4xx with a JSON body naming the problem, never a 500, a panic or lost
//! data; a master with bad flags exits at once with a one-line error.

use std::process::Command;
use std::time::{Duration, Instant};

use helios_testkit::{Cluster, bin, job_json};
use serde_json::{Value, json};

async fn post_raw(
    client: &reqwest::Client,
    url: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let r = client
        .post(format!("{url}/jobs"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("non-JSON body {text:?}: {e}"));
    (status, v)
}

/// Every kind of bad job request is refused with a JSON body that names the problem, on a
/// follower (forwarded) and on the leader alike, and the jobs created before are intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_requests_get_json_4xx_and_lose_nothing() {
    let cluster = Cluster::start(3).await;
    let client = reqwest::Client::new();
    let leader = cluster.wait_leader(Duration::from_secs(30)).await;
    let follower = cluster.masters[(leader + 1) % 3].url();
    let keep = client
        .post(format!("{follower}/jobs"))
        .json(&job_json("keep", "1"))
        .send()
        .await
        .unwrap();
    assert_eq!(keep.status(), 200);
    let kept: Value = keep.json().await.unwrap();

    for url in [follower.clone(), cluster.masters[leader].url()] {
        // Malformed JSON.
        let (s, v) = post_raw(&client, &url, "{\"id\": \"x:1\", ").await;
        assert_eq!(s, 400, "{v}");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("malformed job JSON"),
            "{v}"
        );

        // A body over 1 MiB.
        let big = format!(
            "{{\"id\":\"big:1\",\"image\":\"busybox\",\"env\":{{\"PAD\":\"{}\"}}}}",
            "x".repeat(1 << 21)
        );
        let (s, v) = post_raw(&client, &url, big).await;
        assert_eq!(s, 413, "{v}");

        // An invalid job id.
        let (s, v) = post_raw(
            &client,
            &url,
            json!({"id": "a:b:c:d", "image": "busybox"}).to_string(),
        )
        .await;
        assert_eq!(s, 400, "{v}");
        assert!(v.to_string().contains("Invalid Job id"), "{v}");

        // A hash that does not match the job.
        let bad_hash = json!({"id": format!("h:1:{}", "0".repeat(40)), "image": "busybox"});
        let (s, v) = post_raw(&client, &url, bad_hash.to_string()).await;
        assert_eq!(s, 400, "{v}");
        assert_eq!(v["status"], "INVALID_JOB_DEFINITION");
        assert!(
            v["errors"][0]
                .as_str()
                .unwrap()
                .starts_with("Id hash mismatch"),
            "{v}"
        );

        // An image with capitals, and several problems at once: all are reported.
        let bad = json!({"id": "caps:1", "image": "DOES_NOT_LIKE_AT_ALL-CAPITALS",
                         "hostname": "Not_A_Hostname", "volumes": {"relative": ""}});
        let (s, v) = post_raw(&client, &url, bad.to_string()).await;
        assert_eq!(s, 400, "{v}");
        assert_eq!(v["status"], "INVALID_JOB_DEFINITION");
        let errors = v["errors"].as_array().unwrap();
        assert!(errors.len() >= 3, "{v}");
        assert!(v.to_string().contains("Invalid image name"), "{v}");

        // An invalid id in a path.
        let r = client
            .get(format!("{url}/jobs/nothash:1"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["status"], "INVALID_ID");
        let r = client
            .delete(format!("{url}/jobs/a:b:c:d"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);

        // A bogus client version is refused, an incompatible one asks for an upgrade.
        let r = client
            .get(format!("{url}/jobs"))
            .header("Helios-Version", "bogus")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let r = client
            .get(format!("{url}/jobs"))
            .header("Helios-Version", "99.0.0")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 426);
    }

    // Unknown fields are ignored, as Helios does.
    let (s, v) = post_raw(
        &client,
        &follower,
        json!({"id": "extra:1", "image": "busybox", "shinyNewField": 3}).to_string(),
    )
    .await;
    assert_eq!(s, 200, "{v}");

    // Nothing was lost.
    let jobs: Value = client
        .get(format!("{follower}/jobs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(jobs.get(kept["id"].as_str().unwrap()).is_some(), "{jobs}");
    assert_eq!(jobs.as_object().unwrap().len(), 2, "{jobs}");
}

fn run_master_expect_quick_failure(args: &[&str]) -> String {
    // Built (if need be) before the clock starts.
    let master = bin("helios-master");
    let start = Instant::now();
    let out = Command::new(master)
        .args(args)
        .output()
        .expect("run master");
    assert!(!out.status.success(), "master accepted {args:?}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "master took too long to refuse"
    );
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
    stderr
}

/// A data directory that cannot be written, and `--peers` without the member's own id, stop
/// the master at once with a one-line error.
#[test]
fn bad_flags_exit_at_once_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a dir").unwrap();
    let data_dir = file.join("data");
    let port = |p: u16| format!("127.0.0.1:{p}");
    let h = port(helios_testkit::free_port());
    let c = port(helios_testkit::free_port());
    let err = run_master_expect_quick_failure(&[
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--http",
        &h,
        "--cluster",
        &c,
    ]);
    assert!(err.contains("data dir"), "{err}");
    let err = run_master_expect_quick_failure(&[
        "--id",
        "4",
        "--peers",
        "1=127.0.0.1:1,2=127.0.0.1:2",
        "--data-dir",
        dir.path().join("d").to_str().unwrap(),
        "--http",
        &h,
        "--cluster",
        &c,
    ]);
    assert!(err.contains("own id 4"), "{err}");
}
