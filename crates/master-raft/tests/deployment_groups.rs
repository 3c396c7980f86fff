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
    assert_eq!(get("/deployment-group").await, (200, json!(["db"])));
    m.shutdown().await;
}
