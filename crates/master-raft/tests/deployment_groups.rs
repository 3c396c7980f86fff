//! Deployment groups over REST (reference §3, §5.2) on an in-process master: create (CREATED,
//! NOT_MODIFIED, CONFLICT), list, inspect, status before any rolling update, remove, and bad
//! input named in a JSON error without disturbing other groups.

use helios_testkit::in_process::InProcessMaster;
use serde_json::{Value, json};

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client.request(method, url);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("the master answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

fn group(name: &str, label: &str, value: &str) -> Value {
    json!({"name": name, "hostSelectors": [{"label": label, "operator": "EQUALS", "operand": value}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_created_listed_inspected_and_removed_as_in_helios() {
    let mut m = InProcessMaster::single(&[]).await;
    m.wait_ready().await;
    let url = m.url();
    let c = reqwest::Client::new();
    let post = |body: Value| {
        call(
            &c,
            reqwest::Method::POST,
            format!("{url}/deployment-group"),
            Some(body),
        )
    };

    assert_eq!(
        post(group("web", "role", "web")).await,
        (200, json!({"status": "CREATED"}))
    );
    assert_eq!(
        post(group("web", "role", "web")).await,
        (200, json!({"status": "NOT_MODIFIED"}))
    );
    assert_eq!(
        post(group("web", "role", "db")).await,
        (200, json!({"status": "CONFLICT"}))
    );
    assert_eq!(
        post(group("db", "role", "db")).await,
        (200, json!({"status": "CREATED"}))
    );

    let get = |path: &str| call(&c, reqwest::Method::GET, format!("{url}{path}"), None);
    assert_eq!(get("/deployment-group").await, (200, json!(["db", "web"])));
    assert_eq!(
        get("/deployment-group/web").await,
        (200, group("web", "role", "web"))
    );

    // A registered host that matches, but is not UP: the group is IDLE and lists no host.
    let (code, _) = call(
        &c,
        reqwest::Method::PUT,
        format!("{url}/hosts/h1?id=a1"),
        None,
    )
    .await;
    assert_eq!(code, 200);
    let (code, status) = get("/deployment-group/web/status").await;
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["status"], "IDLE");
    assert_eq!(status["error"], "");
    assert_eq!(status["hostStatuses"], json!([]));
    assert_eq!(status["deploymentGroup"], group("web", "role", "web"));

    let delete = |name: &str| {
        call(
            &c,
            reqwest::Method::DELETE,
            format!("{url}/deployment-group/{name}"),
            None,
        )
    };
    assert_eq!(delete("web").await, (200, json!({"status": "REMOVED"})));
    assert_eq!(
        delete("web").await,
        (200, json!({"status": "DEPLOYMENT_GROUP_NOT_FOUND"}))
    );
    assert_eq!(get("/deployment-group").await, (200, json!(["db"])));
    let (code, body) = get("/deployment-group/web").await;
    assert_eq!(
        (code, &body["status"]),
        (404, &json!("DEPLOYMENT_GROUP_NOT_FOUND"))
    );
    let (code, body) = get("/deployment-group/web/status").await;
    assert_eq!(
        (code, &body["status"]),
        (404, &json!("DEPLOYMENT_GROUP_NOT_FOUND"))
    );

    // Bad input is named, and changes nothing.
    let (code, body) = post(json!({"name": "", "hostSelectors": []})).await;
    assert_eq!(
        (code, &body["status"]),
        (400, &json!("INVALID_DEPLOYMENT_GROUP")),
        "{body}"
    );
    let (code, body) = post(json!({"name": "a/b", "hostSelectors": []})).await;
    assert_eq!(code, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("'/'"), "{body}");
    let (code, body) = post(json!({"name": "x", "hostSelectors": [{"label": "a"}]})).await;
    assert_eq!(
        (code, &body["status"]),
        (400, &json!("INVALID_DEPLOYMENT_GROUP")),
        "{body}"
    );
    for (operator, operand) in [("EQUALS", json!(["a", "b"])), ("IN", json!("a"))] {
        let selector = json!({"label": "role", "operator": operator, "operand": operand});
        let (code, body) = post(json!({"name": "x", "hostSelectors": [selector]})).await;
        assert_eq!(code, 400, "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("host selector 1 (role)"),
            "{body}"
        );
    }
    assert_eq!(get("/deployment-group").await, (200, json!(["db"])));
    m.shutdown().await;
}

/// `POST /deployment-group/{name}/rolling-update` and `/stop` as Helios answers them: an
/// unknown group or job is a 200 with Helios's status word, options a rollout cannot run with
/// are a 400 naming the option, and none of them disturbs the group; a group without hosts
/// is ACTIVE at once with the job and options stored; stop is 204, or 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_updates_and_stops_answer_as_helios() {
    let mut m = InProcessMaster::single(&[]).await;
    m.wait_ready().await;
    let url = m.url();
    let c = reqwest::Client::new();
    let post = |path: &str, body: Option<Value>| {
        call(&c, reqwest::Method::POST, format!("{url}{path}"), body)
    };
    let get = |path: &str| call(&c, reqwest::Method::GET, format!("{url}{path}"), None);
    assert_eq!(
        post("/deployment-group", Some(group("web", "role", "web"))).await,
        (200, json!({"status": "CREATED"}))
    );
    let job = json!({"id": "sleeper:1", "image": "busybox:latest",
        "rolloutOptions": {"parallelism": 3, "token": ""}});
    let (code, created) = post("/jobs", Some(job)).await;
    assert_eq!(code, 200, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let update = |group: &str, job: &str, options: Value| {
        post(
            &format!("/deployment-group/{group}/rolling-update"),
            Some(json!({"job": job, "rolloutOptions": options})),
        )
    };

    assert_eq!(
        update("nope", &id, json!({})).await,
        (200, json!({"status": "DEPLOYMENT_GROUP_NOT_FOUND"}))
    );
    let unknown = format!("other:1:{}", "0".repeat(40));
    assert_eq!(
        update("web", &unknown, json!({})).await,
        (200, json!({"status": "JOB_NOT_FOUND"}))
    );
    for (options, named) in [
        (json!({"parallelism": 0}), "parallelism"),
        (json!({"timeout": 0}), "timeout"),
    ] {
        let (code, body) = update("web", &id, options).await;
        assert_eq!(
            (code, &body["status"]),
            (400, &json!("INVALID_ROLLOUT_OPTIONS")),
            "{body}"
        );
        assert!(body["message"].as_str().unwrap().contains(named), "{body}");
    }
    let (code, body) = post(
        "/deployment-group/web/rolling-update",
        Some(json!({"job": 5})),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    let (_, status) = get("/deployment-group/web/status").await;
    assert_eq!(status["status"], "IDLE", "{status}");

    // No host matches: the plan is empty and the group is ACTIVE at once, with the job and
    // the options resolved request → job → defaults.
    assert_eq!(
        update("web", &id, json!({"timeout": 42})).await,
        (200, json!({"status": "OK"}))
    );
    let (_, status) = get("/deployment-group/web/status").await;
    assert_eq!(status["status"], "ACTIVE", "{status}");
    assert_eq!(status["deploymentGroupStatus"]["state"], "DONE", "{status}");
    let (_, g) = get("/deployment-group/web").await;
    assert_eq!(g["jobId"], json!(id), "{g}");
    assert_eq!(g["rollingUpdateReason"], "MANUAL", "{g}");
    assert_eq!(
        g["rolloutOptions"],
        json!({"ignoreFailures": false, "migrate": false, "overlap": false,
               "parallelism": 3, "timeout": 42, "token": ""}),
        "{g}"
    );

    let (code, _) = post("/deployment-group/web/stop", None).await;
    assert_eq!(code, 204);
    let (_, status) = get("/deployment-group/web/status").await;
    assert_eq!(
        (&status["status"], &status["error"]),
        (&json!("FAILED"), &json!("Stopped by user")),
        "{status}"
    );
    let (code, _) = post("/deployment-group/nope/stop", None).await;
    assert_eq!(code, 404);
    m.shutdown().await;
}
