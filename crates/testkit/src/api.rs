//! The REST calls the system tests make against a master: each returns what the test needs
//! and asserts only what every caller expects (a create or deploy that must succeed).

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::eventually;

/// How long `wait_hosts_up` waits.
const HOSTS_UP_WAIT: Duration = Duration::from_secs(120);

/// Sends a request and returns (status, JSON body or Null); status 0 when unreachable.
pub async fn call(req: reqwest::RequestBuilder) -> (u16, Value) {
    match req.timeout(Duration::from_secs(10)).send().await {
        Ok(r) => {
            let s = r.status().as_u16();
            (s, r.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

/// Creates `job` (must succeed) and returns its id.
pub async fn create_job(c: &reqwest::Client, url: &str, job: Value) -> String {
    let (s, v) = call(c.post(format!("{url}/jobs")).json(&job)).await;
    assert_eq!(s, 200, "create {job}: {v}");
    v["id"].as_str().unwrap().to_string()
}

/// Deploys `job` to `host` with goal START (must succeed).
pub async fn deploy(c: &reqwest::Client, url: &str, job: &str, host: &str) {
    let (s, v) = deploy_with_token(c, url, job, host, "").await;
    assert_eq!(
        (s, v["status"].as_str()),
        (200, Some("OK")),
        "deploy {job}: {v}"
    );
}

/// Deploys `job` to `host` with goal START and `token`; returns Helios's answer as it is.
pub async fn deploy_with_token(
    c: &reqwest::Client,
    url: &str,
    job: &str,
    host: &str,
    token: &str,
) -> (u16, Value) {
    call(
        c.put(format!("{url}/hosts/{host}/jobs/{job}?token={token}"))
            .json(&json!({"jobId": job, "goal": "START"})),
    )
    .await
}

/// The task status of `job` on `host`, if the master has one.
pub async fn task(c: &reqwest::Client, url: &str, job: &str, host: &str) -> Option<Value> {
    let (s, v) = call(c.get(format!("{url}/jobs/{job}/status"))).await;
    if s != 200 {
        return None;
    }
    let t = v["taskStatuses"][host].clone();
    (!t.is_null()).then_some(t)
}

/// Waits up to `timeout` for a task status of `job` on `host` matching `pred`; `what` names
/// it in the failure message.
pub async fn wait_task(
    c: &reqwest::Client,
    url: &str,
    job: &str,
    host: &str,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    eventually(timeout, &format!("{job} on {host}: {what}"), || async {
        let t = task(c, url, job, host).await?;
        pred(&t).then_some(t)
    })
    .await
}

/// Waits until every host in `names` is UP.
pub async fn wait_hosts_up(c: &reqwest::Client, url: &str, names: &[&str]) {
    eventually(HOSTS_UP_WAIT, &format!("hosts {names:?} UP"), || async {
        let (s, v) = call(c.post(format!("{url}/hosts/statuses")).json(&names)).await;
        (s == 200 && names.iter().all(|n| v[*n]["status"] == "UP")).then_some(())
    })
    .await;
}

/// Creates one job through `url`, retrying transport errors and 503s; returns the full id
/// once the create is acknowledged (200, or JOB_ALREADY_EXISTS for a retry whose first
/// attempt committed but whose answer was lost).
pub async fn create_acknowledged(
    client: &reqwest::Client,
    url: &str,
    name: &str,
) -> Option<String> {
    let body = crate::job_json(name, "1");
    for _ in 0..200 {
        let r = client
            .post(format!("{url}/jobs"))
            .json(&body)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        match r {
            Ok(r) if r.status().is_success() => {
                let v: Value = r.json().await.ok()?;
                assert_eq!(v["status"], "OK", "{v}");
                return v["id"].as_str().map(String::from);
            }
            Ok(r) if r.status() == 400 => {
                let v: Value = r.json().await.ok()?;
                assert_eq!(v["status"], "JOB_ALREADY_EXISTS", "{v}");
                return v["id"].as_str().map(String::from);
            }
            Ok(r) => assert_eq!(r.status(), 503, "unexpected answer"),
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// The ids of the jobs a member holds in its own applied state (no forwarding).
pub async fn jobs_on(client: &reqwest::Client, url: &str) -> Option<BTreeSet<String>> {
    let r = client
        .get(format!("{url}/jobs?stale=true"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    let v: Value = r.json().await.ok()?;
    Some(v.as_object()?.keys().cloned().collect())
}

/// Waits (60 s) until the member at `url` holds every job of `want` in its own state.
pub async fn wait_for_all(client: &reqwest::Client, url: &str, want: &BTreeSet<String>, who: &str) {
    eventually(Duration::from_secs(60), who, || async {
        let have = jobs_on(client, url).await?;
        want.is_subset(&have).then_some(())
    })
    .await;
}
