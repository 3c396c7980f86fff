//! API tokens with roles on a three-master cluster run with `--security on` (issue 13): REST
//! and gRPC refuse calls without a token (401 / UNAUTHENTICATED) and with a token whose role is
//! too weak (403 / PERMISSION_DENIED), at every master; tokens created at one master work at
//! once at every other, and revoked ones stop at once; the CLI sends a token from a file or
//! the environment; no master writes a token in its log.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use helios_api::v1::helios_client::HeliosClient;
use helios_api::v1::{CreateJobRequest, DeregisterHostRequest, ListJobsRequest};
use helios_testkit::{Cluster, bin, eventually, job_json};
use reqwest::Method;
use serde_json::{Value, json};
use tonic::Code;

/// One REST call with `token` (if any): the status and the JSON body (`null` if none).
async fn call(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, url).timeout(Duration::from_secs(10));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The first admin token, from the data directory of the member that created it.
async fn admin_token(cluster: &Cluster) -> String {
    eventually(Duration::from_secs(20), "the first admin token", || async {
        cluster.masters.iter().find_map(|m| {
            let text = std::fs::read_to_string(m.data_dir.join("admin-token")).ok()?;
            Some(text.trim().to_string())
        })
    })
    .await
}

/// Creates a token named `name` with `role` through `url`; answers the token.
async fn create_token(
    http: &reqwest::Client,
    url: &str,
    admin: &str,
    name: &str,
    role: &str,
) -> String {
    let (status, body) = call(
        http,
        Method::POST,
        &format!("{url}/tokens"),
        Some(admin),
        Some(json!({"name": name, "role": role})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], name);
    assert_eq!(body["role"], role);
    let token = body["token"].as_str().expect("token").to_string();
    assert!(token.starts_with("hlt_"), "{token}");
    token
}

fn grpc_request<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    if let Some(t) = token {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    req
}

fn helios_cli(url: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin("helios"));
    cmd.args(["-z", url, "--retry-timeout", "30"])
        .args(args)
        .env_remove("HELIOS_API_TOKEN")
        .env_remove("HELIOS_API_TOKEN_FILE")
        .env("HOME", "/nonexistent");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run helios")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_tokens_with_roles_on_every_master() {
    let cluster = Cluster::start_with_args(3, &["--security", "on"]).await;
    let leader = cluster.wait_leader(Duration::from_secs(20)).await;
    let urls = cluster.urls();
    let follower = urls[(leader + 1) % 3].clone();
    let http = reqwest::Client::new();
    let admin = admin_token(&cluster).await;

    // No token: 401 with a JSON body on every master, REST and gRPC; probes stay open.
    for url in &urls {
        let (status, body) = call(&http, Method::GET, &format!("{url}/jobs"), None, None).await;
        assert_eq!(status, 401, "{url}: {body}");
        assert_eq!(body["status"], "UNAUTHORIZED", "{body}");
        let (status, _) = call(
            &http,
            Method::POST,
            &format!("{url}/jobs"),
            Some("hlt_not-a-token"),
            Some(job_json("x", "1")),
        )
        .await;
        assert_eq!(status, 401, "{url}: an unknown token");
        for open in ["/healthz", "/version"] {
            let (status, _) = call(&http, Method::GET, &format!("{url}{open}"), None, None).await;
            assert_eq!(status, 200, "{url}{open}");
        }
    }

    // Tokens created through a follower work at once on every master.
    let reader = create_token(&http, &follower, &admin, "viewer", "read").await;
    let deployer = create_token(&http, &follower, &admin, "ci", "deploy").await;
    for url in &urls {
        let (status, body) = call(
            &http,
            Method::GET,
            &format!("{url}/jobs"),
            Some(&reader),
            None,
        )
        .await;
        assert_eq!(status, 200, "{url}: {body}");
        let (status, body) = call(
            &http,
            Method::POST,
            &format!("{url}/jobs"),
            Some(&reader),
            Some(job_json("x", "1")),
        )
        .await;
        assert_eq!(status, 403, "{url}: a read token creates a job: {body}");
        assert_eq!(body["status"], "PERMISSION_DENIED", "{body}");
    }
    let (status, listed) = call(
        &http,
        Method::GET,
        &format!("{follower}/tokens"),
        Some(&deployer),
        None,
    )
    .await;
    assert_eq!(status, 403, "a deploy token lists tokens: {listed}");
    let (status, listed) = call(
        &http,
        Method::GET,
        &format!("{follower}/tokens"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bootstrap-admin", "ci", "viewer"]);
    assert!(
        !listed.to_string().contains("hlt_"),
        "a listing shows no secret: {listed}"
    );

    // A deploy token deploys, but hosts are the admin's.
    let (status, body) = call(
        &http,
        Method::POST,
        &format!("{follower}/jobs"),
        Some(&deployer),
        Some(job_json("web", "1")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let job = body["id"].as_str().unwrap().to_string();
    let host = format!("{follower}/hosts/h1");
    let (status, _) = call(
        &http,
        Method::PUT,
        &format!("{host}?id=a1"),
        Some(&deployer),
        None,
    )
    .await;
    assert_eq!(status, 403, "a deploy token registers a host");
    let (status, body) = call(
        &http,
        Method::PUT,
        &format!("{host}?id=a1"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        &http,
        Method::PUT,
        &format!("{host}/jobs/{job}"),
        Some(&deployer),
        Some(json!({"job": job, "goal": "START"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = call(&http, Method::DELETE, &host, Some(&deployer), None).await;
    assert_eq!(status, 403, "a deploy token deregisters a host");

    // gRPC: the same roles.
    let mut grpc = HeliosClient::connect(follower.clone()).await.expect("gRPC");
    let list = || ListJobsRequest::default();
    let e = grpc
        .list_jobs(grpc_request(list(), None))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    let listed = grpc
        .list_jobs(grpc_request(list(), Some(&reader)))
        .await
        .expect("list with read");
    assert_eq!(listed.into_inner().jobs.len(), 1);
    let create = CreateJobRequest::default();
    let e = grpc
        .create_job(grpc_request(create, Some(&reader)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let deregister = DeregisterHostRequest { host: "h1".into() };
    let e = grpc
        .deregister_host(grpc_request(deregister, Some(&deployer)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");

    // The CLI sends a token from a file or the environment; without one it fails and says why.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{reader}\n")).unwrap();
    let file = file.to_str().unwrap();
    let out = helios_cli(&follower, &["jobs", "-q"], &[]);
    assert!(
        !out.status.success(),
        "helios jobs without a token succeeded"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("API token"), "{stderr}");
    for (args, env) in [
        (vec!["--api-token-file", file, "jobs", "-q"], vec![]),
        (
            vec!["jobs", "-q"],
            vec![("HELIOS_API_TOKEN", reader.as_str())],
        ),
    ] {
        let out = helios_cli(&follower, &args, &env);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?}: {:?}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("web:1:"), "{stdout}");
    }

    // Revoked at one master, refused at once by every master.
    let (status, body) = call(
        &http,
        Method::DELETE,
        &format!("{}/tokens/ci", urls[leader]),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for url in &urls {
        let (status, body) = call(
            &http,
            Method::GET,
            &format!("{url}/jobs"),
            Some(&deployer),
            None,
        )
        .await;
        assert_eq!(status, 401, "{url}: a revoked token: {body}");
    }
    let (status, body) = call(
        &http,
        Method::DELETE,
        &format!("{follower}/tokens/bootstrap-admin"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 409, "the last admin token was revoked: {body}");
    assert_eq!(body["status"], "LAST_ADMIN_TOKEN");

    // No master logged any token.
    for m in &cluster.masters {
        let log = std::fs::read_to_string(m.log_path()).unwrap_or_default();
        for (what, token) in [("admin", &admin), ("read", &reader), ("deploy", &deployer)] {
            assert!(
                !log.contains(token.as_str()),
                "master {} logged the {what} token",
                m.id
            );
        }
        assert!(!log.contains("hlt_"), "master {} logged a token", m.id);
    }
    assert!(Path::new(&cluster.masters[0].data_dir).exists());
}

/// A master on loopback runs without security unless asked, as today; one that is asked to
/// run without it on an address other machines reach refuses to start and says how to go on.
#[test]
fn security_off_on_a_reachable_address_needs_insecure_i_know() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin("helios-master"))
        .args([
            "--security",
            "off",
            "--http",
            "0.0.0.0:1",
            "--cluster",
            "127.0.0.1:2",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("run helios-master");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--insecure-i-know") && stderr.contains("0.0.0.0:1"),
        "{stderr}"
    );
}
