//! Security on a three-master cluster formed only from join tokens (issue 13).
//!
//! API tokens with roles: REST and gRPC refuse calls without a token (401 / UNAUTHENTICATED)
//! and with a token whose role is too weak (403 / PERMISSION_DENIED), at every master; tokens
//! created at one master work at once at every other, and revoked ones stop at once; the CLI
//! sends a token from a file or the environment; no master writes a token in its log.
//!
//! Mutual TLS on the cluster port: agents join with a join token and run containers; a
//! connection without a certificate, with another cluster's certificate or with a rotated
//! token gets nothing; an agent certificate opens no session for another host and sends no
//! Raft RPC. Env values a job marks secret reach its containers but no `read` token and no
//! log; certificates renew before they expire without dropping a session, and an expired one
//! opens nothing.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use helios_api::pb::dispatcher_client::DispatcherClient;
use helios_api::pb::{AgentMessage, Hello, agent_message, master_message};
use helios_api::v1::helios_client::HeliosClient;
use helios_api::v1::{
    CreateApiTokenRequest, CreateJobRequest, DeregisterHostRequest, ListApiTokensRequest,
    ListJobsRequest, RevokeApiTokenRequest,
};
use helios_master_raft::raft::pb::NodeInfoRequest;
use helios_master_raft::raft::pb::raft_service_client::RaftServiceClient;
use helios_pki::JoinToken;
use helios_testkit::agents::Agent;
use helios_testkit::api::{create_job, deploy_with_token, wait_hosts_up, wait_task};
use helios_testkit::docker::{ensure_busybox_image, inspect};
use helios_testkit::{Cluster, bin, eventually, exclusive, job_json};
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
    let _serial = exclusive().await;
    let (cluster, admin) = Cluster::start_secured(3, &[]).await;
    let leader = cluster.wait_leader(Duration::from_secs(20)).await;
    let urls = cluster.urls();
    let follower = urls[(leader + 1) % 3].clone();
    let http = reqwest::Client::new();

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
    // Token management over gRPC: admin only; a token made there works, and once revoked
    // there is refused.
    let make = || CreateApiTokenRequest {
        name: "grpc-made".into(),
        role: "read".into(),
    };
    let e = grpc
        .create_api_token(grpc_request(make(), Some(&deployer)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let made = grpc
        .create_api_token(grpc_request(make(), Some(&admin)))
        .await
        .expect("create a token over gRPC")
        .into_inner();
    assert!(made.token.starts_with("hlt_"), "{made:?}");
    let listed = grpc
        .list_api_tokens(grpc_request(ListApiTokensRequest::default(), Some(&admin)))
        .await
        .expect("list tokens over gRPC")
        .into_inner();
    assert!(
        listed
            .api_tokens
            .iter()
            .any(|t| t.name == "grpc-made" && t.role == "read"),
        "{listed:?}"
    );
    grpc.list_jobs(grpc_request(list(), Some(&made.token)))
        .await
        .expect("the token made over gRPC reads");
    let revoke = RevokeApiTokenRequest {
        id_or_name: "grpc-made".into(),
    };
    grpc.revoke_api_token(grpc_request(revoke, Some(&admin)))
        .await
        .expect("revoke over gRPC");
    let e = grpc
        .list_jobs(grpc_request(list(), Some(&made.token)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    // The typed client of helios-api sends its token with every call.
    let typed = helios_api::client::Client::new([follower.as_str()])
        .unwrap()
        .with_timeouts(Duration::from_secs(5), Duration::from_secs(10));
    let e = typed.list_jobs("", None).await.unwrap_err();
    assert_eq!(e.code(), Some(Code::Unauthenticated), "{e}");
    let as_deployer = typed.with_api_token(&deployer).unwrap();
    let job: helios_api::Job = serde_json::from_value(job_json("typed-token", "1")).unwrap();
    let id = as_deployer
        .create_job(&job, None)
        .await
        .expect("create with a deploy token");
    assert_eq!(id.name, "typed-token");
    let e = as_deployer.deregister_host("h1").await.unwrap_err();
    assert_eq!(e.code(), Some(Code::PermissionDenied), "{e}");

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

    // Token management from the CLI, with the admin token.
    let as_admin = [("HELIOS_API_TOKEN", admin.as_str())];
    let out = helios_cli(
        &follower,
        &["tokens", "create", "cli-made", "--role", "read"],
        &as_admin,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(made.starts_with("hlt_"), "{made}");
    let out = helios_cli(&follower, &["tokens", "list"], &as_admin);
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        listed.contains("cli-made") && !listed.contains(&made),
        "{listed}"
    );
    let out = helios_cli(&follower, &["jobs", "-q"], &[("HELIOS_API_TOKEN", &made)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = helios_cli(&follower, &["tokens", "revoke", "cli-made"], &as_admin);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = helios_cli(
        &follower,
        &["tokens", "list"],
        &[("HELIOS_API_TOKEN", &made)],
    );
    assert!(!out.status.success(), "a revoked token listed tokens");

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

/// The value of a job's env marked secret (`secretEnv`).
const SECRET_VALUE: &str = "s3cr3t-hunter2";

/// `job` (deployed, its `DB_PASSWORD` secret) as tokens of each role see it: a `read` token
/// never gets the secret value (`helios inspect`, REST job, job and host statuses, gRPC, at
/// a follower too), a `deploy` token does.
async fn secret_env_is_hidden_from_read_tokens(cluster: &Cluster, admin: &str, job: &str) {
    let http = reqwest::Client::new();
    let leader = cluster.wait_leader(Duration::from_secs(10)).await;
    let follower = cluster.masters[(leader + 1) % cluster.masters.len()].url();
    let reader = create_token(&http, &follower, admin, "secret-reader", "read").await;
    let deployer = create_token(&http, &follower, admin, "secret-deployer", "deploy").await;
    for url in [cluster.masters[leader].url(), follower] {
        let inspect = |token: &str| {
            helios_cli(
                &url,
                &["inspect", job, "--json"],
                &[("HELIOS_API_TOKEN", token)],
            )
        };
        let out = inspect(&reader);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !text.contains(SECRET_VALUE),
            "helios inspect, read token: {text}"
        );
        assert!(text.contains("<secret>") && text.contains("prod"), "{text}");
        let out = inspect(&deployer);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            text.contains(SECRET_VALUE),
            "helios inspect, deploy token: {text}"
        );
        for (method, path, body) in [
            (Method::GET, format!("/jobs/{job}"), None),
            (Method::GET, "/jobs?q=secured".to_string(), None),
            (Method::GET, format!("/jobs/{job}/status"), None),
            (
                Method::POST,
                "/jobs/statuses".to_string(),
                Some(json!([job])),
            ),
            (Method::GET, "/hosts/sec-a/status".to_string(), None),
            (Method::GET, format!("/history/jobs/{job}"), None),
        ] {
            let (status, v) =
                call(&http, method, &format!("{url}{path}"), Some(&reader), body).await;
            assert_eq!(status, 200, "{path}: {v}");
            assert!(!v.to_string().contains(SECRET_VALUE), "{path}: {v}");
        }
        let mut grpc = HeliosClient::connect(url.clone()).await.expect("gRPC");
        let got = grpc
            .get_job(grpc_request(
                helios_api::v1::GetJobRequest {
                    job_id: job.to_string(),
                    stale: false,
                },
                Some(&reader),
            ))
            .await
            .expect("GetJob with a read token")
            .into_inner();
        let env = &got.job.expect("a job").env;
        assert_eq!(env["DB_PASSWORD"], "<secret>");
        assert_eq!(env["MODE"], "prod");
        let host = grpc
            .host_status(grpc_request(
                helios_api::v1::HostStatusRequest {
                    host: "sec-a".into(),
                    ..Default::default()
                },
                Some(&reader),
            ))
            .await
            .expect("HostStatus with a read token")
            .into_inner();
        assert!(!format!("{host:?}").contains(SECRET_VALUE), "{host:?}");
    }
}

/// A join token of `role`, printed by `helios-master join-token` run against `url` with the
/// admin token in the environment (`--rotate` first, with `rotate`).
fn join_token(url: &str, admin: &str, role: &str, rotate: bool) -> String {
    let mut cmd = Command::new(bin("helios-master"));
    cmd.args(["join-token", role, "--master", url])
        .env("HELIOS_API_TOKEN", admin);
    if rotate {
        cmd.arg("--rotate");
    }
    let out = cmd.output().expect("run helios-master join-token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(token.starts_with(&format!("HLJT-1-{role}-")), "{token}");
    token
}

/// A dispatcher session opened with `material` (or without TLS) as host `name`: the master's
/// first answer (Welcome, Refused, …) or the error.
async fn open_session(
    addr: &str,
    material: Option<&helios_pki::Material>,
    name: &str,
) -> Result<master_message::Msg, String> {
    let endpoint = match material {
        Some(m) => tonic::transport::Endpoint::from_shared(format!("https://{addr}"))
            .unwrap()
            .tls_config(m.client_tls("127.0.0.1"))
            .unwrap(),
        None => tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap(),
    };
    let channel = endpoint
        .connect_timeout(Duration::from_secs(3))
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    let hello = AgentMessage {
        msg: Some(agent_message::Msg::Hello(Hello {
            name: name.into(),
            agent_id: format!("{name}-id"),
            ..Hello::default()
        })),
    };
    let mut stream = DispatcherClient::new(channel)
        .session(tokio_stream::iter([hello]).chain(tokio_stream::pending()))
        .await
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?
        .into_inner();
    match tokio::time::timeout(Duration::from_secs(10), stream.message()).await {
        Ok(Ok(Some(m))) => m.msg.ok_or_else(|| "an empty message".to_string()),
        Ok(Ok(None)) => Err("the stream ended".into()),
        Ok(Err(s)) => Err(format!("{:?}: {}", s.code(), s.message())),
        Err(_) => Err("no answer in 10 s".into()),
    }
}

use tokio_stream::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agents_join_with_tokens_and_the_cluster_port_checks_certificates() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    let (cluster, admin) = Cluster::start_secured(3, &[]).await;
    let url = cluster.masters[0].url();
    let addr = cluster.masters[0].cluster_addr();
    let agent_token = join_token(&url, &admin, "agent", false);

    // Two agents join with the token alone and run a job.
    let names = ["sec-a", "sec-b"];
    let mut agents: Vec<Agent> = names
        .iter()
        .map(|n| {
            let mut a = Agent::new(
                n,
                cluster.dir.path(),
                cluster.cluster_addrs(),
                "33000:33100",
            );
            a.extra_args = vec!["--join-token".into(), agent_token.clone()];
            a.start();
            a
        })
        .collect();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {admin}").parse().unwrap(),
    );
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    wait_hosts_up(&http, &url, &names).await;
    let job = create_job(
        &http,
        &url,
        json!({"id": "secured:1", "image": image, "command": ["sleep", "100000"],
               "secondsToWaitBeforeKill": 1,
               "env": {"DB_PASSWORD": SECRET_VALUE, "MODE": "prod"},
               "secretEnv": ["DB_PASSWORD"]}),
    )
    .await;
    for h in names {
        let (s, v) = deploy_with_token(&http, &url, &job, h, "").await;
        assert_eq!(s, 200, "{v}");
    }
    for h in names {
        let t = wait_task(
            &http,
            &url,
            &job,
            h,
            Duration::from_secs(90),
            "RUNNING",
            |t| t["state"] == "RUNNING",
        )
        .await;
        let id = t["containerId"].as_str().unwrap();
        assert_eq!(inspect(id, "{{.State.Running}}").as_deref(), Some("true"));
        let env = inspect(id, "{{json .Config.Env}}").unwrap_or_default();
        assert!(
            env.contains(SECRET_VALUE),
            "the container got its secret: {env}"
        );
    }
    secret_env_is_hidden_from_read_tokens(&cluster, &admin, &job).await;
    for a in &agents {
        assert!(
            a.state_dir.join("tls/cert.pem").exists(),
            "{} kept its certificate",
            a.name
        );
    }

    // Without a certificate: no session.
    let plain = open_session(&addr, None, "intruder").await;
    assert!(plain.is_err(), "a session without TLS: {plain:?}");

    // An agent certificate of host ghost-a: a session as ghost-a, none as ghost-b, no Raft.
    let token: JoinToken = agent_token.parse().unwrap();
    let ghost = helios_pki::enroll::enroll(&addr, &token, "ghost-a", &[])
        .await
        .expect("an agent certificate");
    let as_b = open_session(&addr, Some(&ghost), "ghost-b").await;
    match &as_b {
        Ok(master_message::Msg::Refused(r)) => {
            assert!(r.reason.contains("ghost-a"), "{}", r.reason)
        }
        Ok(master_message::Msg::Redirect(_)) => {}
        other => panic!("a session as another host: {other:?}"),
    }
    let leader = cluster.wait_leader(Duration::from_secs(10)).await;
    let leader_addr = cluster.masters[leader].cluster_addr();
    let as_b = open_session(&leader_addr, Some(&ghost), "ghost-b").await;
    assert!(
        matches!(&as_b, Ok(master_message::Msg::Refused(r)) if r.reason.contains("ghost-a")),
        "a session as another host at the leader: {as_b:?}"
    );
    let as_a = open_session(&leader_addr, Some(&ghost), "ghost-a").await;
    assert!(
        matches!(as_a, Ok(master_message::Msg::Welcome(_))),
        "{as_a:?}"
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("https://{leader_addr}"))
        .unwrap()
        .tls_config(ghost.client_tls("127.0.0.1"))
        .unwrap()
        .connect()
        .await
        .expect("TLS with an agent certificate");
    let raft = RaftServiceClient::new(channel)
        .node_info(NodeInfoRequest {})
        .await;
    assert_eq!(
        raft.expect_err("Raft with an agent certificate").code(),
        Code::PermissionDenied
    );

    // `helios deregister` revokes the host's certificate: no session opens with it again.
    let out = helios_cli(
        &url,
        &["deregister", "ghost-a", "--yes"],
        &[("HELIOS_API_TOKEN", &admin)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = open_session(&leader_addr, Some(&ghost), "ghost-a").await;
    assert!(
        matches!(&again, Ok(master_message::Msg::Refused(r)) if r.reason.contains("revoked")),
        "a session with a revoked certificate: {again:?}"
    );

    // A rotated token no longer joins; the new one does.
    let rotated = join_token(&url, &admin, "agent", true);
    assert_ne!(rotated, agent_token);
    let old = helios_pki::enroll::enroll(&addr, &token, "late", &[]).await;
    let err = format!("{:#}", old.expect_err("the rotated token joined"));
    assert!(err.contains("no longer"), "{err}");
    let new: JoinToken = rotated.parse().unwrap();
    helios_pki::enroll::enroll(&addr, &new, "late", &[])
        .await
        .expect("the new token joins");
    // A join token does not take over a host whose agent has a certificate in force.
    let takeover = helios_pki::enroll::enroll(&addr, &new, "sec-a", &[]).await;
    let err = format!(
        "{:#}",
        takeover.expect_err("a second certificate for sec-a")
    );
    assert!(err.contains("already has an agent certificate"), "{err}");
    let master_token = join_token(&url, &admin, "master", false);
    assert!(
        helios_pki::enroll::enroll(&addr, &master_token.parse().unwrap(), "x", &[])
            .await
            .is_ok(),
        "the master token was not changed by rotating the agent's"
    );

    // A certificate of another cluster is refused by the TLS handshake.
    let (other, other_admin) = Cluster::start_secured(1, &[]).await;
    let other_token: JoinToken = join_token(&other.masters[0].url(), &other_admin, "agent", false)
        .parse()
        .unwrap();
    let foreign =
        helios_pki::enroll::enroll(&other.masters[0].cluster_addr(), &other_token, "sec-a", &[])
            .await
            .expect("a certificate of the other cluster");
    let crossed = open_session(&leader_addr, Some(&foreign), "sec-a").await;
    assert!(
        crossed.is_err(),
        "another cluster's certificate: {crossed:?}"
    );
    let wrong_cluster = helios_pki::enroll::enroll(&addr, &other_token, "sec-c", &[]).await;
    assert!(
        wrong_cluster.is_err(),
        "another cluster's join token joined"
    );

    // No log holds a token, a key or a secret env value.
    let secrets = [
        SECRET_VALUE,
        agent_token.as_str(),
        rotated.as_str(),
        master_token.as_str(),
        admin.as_str(),
    ];
    let mut logs: Vec<std::path::PathBuf> = cluster
        .masters
        .iter()
        .map(|m| m.log_path().to_path_buf())
        .collect();
    logs.extend(
        names
            .iter()
            .map(|n| cluster.dir.path().join(format!("{n}.log"))),
    );
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        for secret in secrets {
            let (_, tail) = secret.rsplit_once('-').unwrap_or(("", secret));
            assert!(!text.contains(tail), "{} holds a secret", log.display());
        }
        assert!(
            !text.contains("PRIVATE KEY"),
            "{} holds a key",
            log.display()
        );
    }
    for a in &mut agents {
        a.kill9();
    }
}

/// How many sessions host `name`'s agent opened, as the masters' logs tell.
fn sessions_opened(cluster: &Cluster, name: &str) -> usize {
    cluster
        .masters
        .iter()
        .map(|m| std::fs::read_to_string(m.log_path()).unwrap_or_default())
        .flat_map(|log| {
            log.lines()
                .filter(|l| l.contains("agent connected") && l.contains(name))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .count()
}

/// The serial of the certificate kept in `dir`.
fn serial_in(dir: &Path) -> String {
    helios_pki::Material::load(dir)
        .expect("readable TLS material")
        .expect("TLS material")
        .identity()
        .unwrap()
        .serial
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn certificates_renew_before_expiry_without_a_session_drop() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    // Certificates of 40 s: renewed between 20 s and 30 s after they are issued.
    let (mut cluster, admin) = Cluster::start_secured(3, &["--cert-validity", "40s"]).await;
    let url = cluster.masters[0].url();
    let agent_token = join_token(&url, &admin, "agent", false);
    let name = "renew-a";
    let mut agent = Agent::new(
        name,
        cluster.dir.path(),
        cluster.cluster_addrs(),
        "33200:33300",
    );
    agent.extra_args = vec!["--join-token".into(), agent_token];
    agent.start();
    let http = reqwest::Client::builder()
        .default_headers(
            [(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {admin}").parse().unwrap(),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();
    wait_hosts_up(&http, &url, &[name]).await;
    let first = helios_pki::Material::load(&agent.state_dir)
        .unwrap()
        .expect("the agent's first certificate");
    let (_, first_expiry) = first.validity().unwrap();
    let first_serial = first.identity().unwrap().serial;
    let master_serials: Vec<String> = cluster
        .masters
        .iter()
        .map(|m| serial_in(&m.data_dir))
        .collect();
    let job = create_job(
        &http,
        &url,
        json!({"id": "renewed:1", "image": image, "command": ["sleep", "100000"],
               "secondsToWaitBeforeKill": 1}),
    )
    .await;
    let (s, v) = deploy_with_token(&http, &url, &job, name, "").await;
    assert_eq!(s, 200, "{v}");
    // The container of the job's task once RUNNING, as the master at `url` reports it.
    let running_container = |url: String, wait: Duration| {
        let (http, job) = (http.clone(), job.clone());
        async move {
            let running = |t: &Value| t["state"] == "RUNNING";
            let task = wait_task(&http, &url, &job, name, wait, "RUNNING", running).await;
            task["containerId"].as_str().unwrap().to_string()
        }
    };
    let container = running_container(url.clone(), Duration::from_secs(90)).await;

    // Past the first certificates' expiry: every holder has renewed, and the agent's session
    // is the one it opened at the start.
    let now = std::time::SystemTime::now();
    tokio::time::sleep(
        first_expiry.duration_since(now).unwrap_or_default() + Duration::from_secs(2),
    )
    .await;
    assert_ne!(
        serial_in(&agent.state_dir),
        first_serial,
        "the agent renewed"
    );
    for (m, before) in cluster.masters.iter().zip(&master_serials) {
        assert_ne!(&serial_in(&m.data_dir), before, "{} renewed", m.id);
    }
    assert_eq!(
        sessions_opened(&cluster, name),
        1,
        "the session was not dropped"
    );
    wait_hosts_up(&http, &url, &[name]).await;
    assert_eq!(
        running_container(url.clone(), Duration::from_secs(10)).await,
        container
    );

    // The expired certificate opens nothing; the leader says why in its log.
    let leader = cluster.wait_leader(Duration::from_secs(10)).await;
    let leader_addr = cluster.masters[leader].cluster_addr();
    let expired = open_session(&leader_addr, Some(&first), name).await;
    assert!(
        expired.is_err(),
        "a session with an expired certificate: {expired:?}"
    );
    let refusal = helios_testkit::eventually(Duration::from_secs(10), "the refusal logged", || {
        let log = std::fs::read_to_string(cluster.masters[leader].log_path()).unwrap_or_default();
        async move {
            log.lines()
                .find(|l| l.contains("refused a TLS connection") && l.contains("xpired"))
                .map(str::to_string)
        }
    })
    .await;
    assert!(refusal.contains("127.0.0.1"), "{refusal}");

    // The renewed certificates make new connections: with the leader gone, the others elect
    // one over fresh Raft connections and the agent opens its next session there.
    cluster.masters[leader].kill9();
    helios_testkit::eventually(Duration::from_secs(60), "a second session", || {
        let n = sessions_opened(&cluster, name);
        async move { (n >= 2).then_some(()) }
    })
    .await;
    let other = (leader + 1) % cluster.masters.len();
    let url = cluster.masters[other].url();
    wait_hosts_up(&http, &url, &[name]).await;
    assert_eq!(
        running_container(url.clone(), Duration::from_secs(30)).await,
        container
    );
    // That session retired the first certificate for good.
    let retired = open_session(&cluster.masters[other].cluster_addr(), Some(&first), name).await;
    assert!(retired.is_err(), "{retired:?}");
    agent.kill9();
}

/// A certificate of `role` named `name` (valid for 127.0.0.1 when a master's) from `ca`,
/// written as `<dir>/<file>.pem` (the chain) and `<dir>/<file>-key.pem`; answers its serial.
fn issue_files(
    ca: &helios_pki::Authority,
    role: helios_pki::Role,
    name: &str,
    dir: &Path,
    file: &str,
) -> String {
    let (key, csr) = helios_pki::authority::key_and_request(name).unwrap();
    let cert = ca
        .issue(
            &csr,
            role,
            name,
            &["127.0.0.1".to_string()],
            "files",
            Duration::from_secs(3600),
        )
        .unwrap();
    let chain = format!("{cert}{}", ca.cert_pem);
    helios_pki::write_private(&dir.join(format!("{file}.pem")), chain.as_bytes()).unwrap();
    helios_pki::write_private(&dir.join(format!("{file}-key.pem")), key.as_bytes()).unwrap();
    helios_pki::Material {
        key_pem: key,
        chain_pem: chain,
        ca_pem: ca.cert_pem.clone(),
    }
    .identity()
    .unwrap()
    .serial
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_http_api_serves_tls_from_files_and_reloads_them() {
    let _serial = exclusive().await;
    // An operator's CA, a certificate per master (for 127.0.0.1) and one for the CLI.
    let mut cluster = Cluster::prepare_with(
        &helios_testkit::ClusterOptions {
            size: 3,
            ..Default::default()
        },
        |_| Vec::new(),
    )
    .unwrap();
    let dir = cluster.dir.path().to_path_buf();
    let ca = helios_pki::Authority::create("operator").unwrap();
    std::fs::write(dir.join("ca.pem"), &ca.cert_pem).unwrap();
    let client_serial = issue_files(&ca, helios_pki::Role::Agent, "operator", &dir, "client");
    let mut first_serial = String::new();
    for m in &mut cluster.masters {
        let file = format!("m{}", m.id);
        let serial = issue_files(&ca, helios_pki::Role::Master, &file, &dir, &file);
        if m.id == 1 {
            first_serial = serial;
        }
        let path = |suffix: &str| dir.join(format!("{file}{suffix}")).display().to_string();
        m.extra_args.extend([
            "--tls-cert".to_string(),
            path(".pem"),
            "--tls-key".to_string(),
            path("-key.pem"),
            "--tls-ca".to_string(),
            dir.join("ca.pem").display().to_string(),
        ]);
        m.start();
    }
    assert_ne!(client_serial, first_serial);
    let https = |m: &helios_testkit::Master| format!("https://127.0.0.1:{}", m.http_port);
    let tls_args: Vec<String> = [
        "--tls-ca",
        "ca.pem",
        "--tls-cert",
        "client.pem",
        "--tls-key",
        "client-key.pem",
    ]
    .iter()
    .enumerate()
    .map(|(i, a)| {
        if i % 2 == 1 {
            dir.join(a).display().to_string()
        } else {
            a.to_string()
        }
    })
    .collect();
    let cli = |url: &str, args: &[&str], tls: bool| {
        let mut all: Vec<&str> = Vec::new();
        if tls {
            all.extend(tls_args.iter().map(String::as_str));
        }
        all.extend(args);
        helios_cli(url, &all, &[])
    };
    let first = https(&cluster.masters[0]);
    helios_testkit::eventually(Duration::from_secs(60), "a leader over https", || {
        let out = cli(&first, &["masters", "--json"], true);
        async move { out.status.success().then_some(()) }
    })
    .await;

    // Writes at every member, forwarded to the leader over https with the member's own
    // certificate, and reads back.
    for (i, m) in cluster.masters.iter().enumerate() {
        let name = format!("tls-job-{i}");
        let out = cli(
            &https(m),
            &["create", &format!("{name}:1"), "busybox", "--json"],
            true,
        );
        assert!(
            out.status.success(),
            "create at member {}: {}",
            m.id,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = cli(&first, &["jobs", "tls-job", "--json"], true);
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        (0..3).all(|i| listed.contains(&format!("tls-job-{i}:1"))),
        "{listed}"
    );

    // gRPC over the same TLS port, at a follower (forwarded).
    let leader = helios_testkit::eventually(Duration::from_secs(10), "the leader's id", || {
        let out = cli(&first, &["masters", "--all", "--json"], true);
        async move {
            let v: Value = serde_json::from_slice(&out.stdout).ok()?;
            v.as_array()?
                .iter()
                .find(|m| m["role"] == "leader")
                .and_then(|m| m["id"].as_u64())
        }
    })
    .await;
    let follower = cluster.masters.iter().find(|m| m.id != leader).unwrap();
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let channel = tonic::transport::Endpoint::from_shared(https(follower))
        .unwrap()
        .tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(read("ca.pem")))
                .identity(tonic::transport::Identity::from_pem(
                    read("client.pem"),
                    read("client-key.pem"),
                )),
        )
        .unwrap()
        .connect()
        .await
        .expect("gRPC over TLS");
    let jobs = HeliosClient::new(channel)
        .list_jobs(ListJobsRequest::default())
        .await
        .expect("ListJobs over TLS at a follower")
        .into_inner();
    assert_eq!(jobs.jobs.len(), 3, "{jobs:?}");

    // Refused: plain HTTP, and TLS without a client certificate.
    let once = |url: String, extra: &[String]| {
        Command::new(bin("helios"))
            .args(["-z", &url, "--retry-timeout", "2"])
            .args(extra)
            .args(["jobs", "--json"])
            .env("HOME", "/nonexistent")
            .output()
            .expect("run helios")
    };
    let plain = once(
        format!("http://127.0.0.1:{}", cluster.masters[0].http_port),
        &[],
    );
    assert!(!plain.status.success(), "plain HTTP answered");
    let anonymous = once(first.clone(), &tls_args[..2]);
    assert!(
        !anonymous.status.success(),
        "no client certificate: {}",
        String::from_utf8_lossy(&anonymous.stdout)
    );
    let with_certificate = once(first.clone(), &tls_args);
    assert!(
        with_certificate.status.success(),
        "{}",
        String::from_utf8_lossy(&with_certificate.stderr)
    );

    // New files in place: new connections get the new certificate, without a restart.
    let served_serial = || async {
        let identity =
            reqwest::Identity::from_pem(&[read("client.pem"), read("client-key.pem")].concat())
                .unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&read("ca.pem")).unwrap()])
            .identity(identity)
            .tls_info(true)
            .build()
            .unwrap();
        let resp = client.get(format!("{first}/healthz")).send().await.ok()?;
        let info = resp.extensions().get::<reqwest::tls::TlsInfo>()?;
        let der = info.peer_certificate()?.to_vec();
        helios_pki::Identity::of(&der).ok().map(|i| i.serial)
    };
    assert_eq!(
        served_serial().await.as_deref(),
        Some(first_serial.as_str())
    );
    let renewed = issue_files(&ca, helios_pki::Role::Master, "m1", &dir, "m1");
    helios_testkit::eventually(
        Duration::from_secs(20),
        "the new certificate served",
        || {
            let renewed = renewed.clone();
            async move { (served_serial().await? == renewed).then_some(()) }
        },
    )
    .await;
    let out = cli(&first, &["jobs", "--json"], true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No log mentions a private key.
    for m in &cluster.masters {
        let log = std::fs::read_to_string(m.log_path()).unwrap_or_default();
        assert!(!log.contains("PRIVATE KEY"), "member {} logged a key", m.id);
    }
}

/// With security on, a master started with `--await-add` and a master join token is added
/// with `POST /masters` (admin only) and serves writes; once removed it stops, and restarted
/// with its data and certificate it is refused by the others and stops again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_master_is_added_and_removed_with_security_on() {
    let (mut cluster, admin) = Cluster::start_secured(3, &[]).await;
    let url = cluster.masters[0].url();
    let first_cluster = cluster.masters[0].cluster_addr();
    let token = join_token(&url, &admin, "master", false);
    let spare = cluster.add_spare();
    cluster.masters[spare].extra_args.extend(
        [
            "--await-add",
            "--join",
            &first_cluster,
            "--join-token",
            &token,
        ]
        .map(String::from),
    );
    cluster.masters[spare].start();
    let name = format!("master{}", cluster.masters[spare].id);
    let body = json!({"name": name, "clusterAddress": cluster.masters[spare].cluster_addr(),
        "httpAddress": format!("127.0.0.1:{}", cluster.masters[spare].http_port)});
    let http = reqwest::Client::new();
    let follower_url = cluster.masters[1].url();
    let (status, _) = call(
        &http,
        Method::POST,
        &format!("{follower_url}/masters"),
        None,
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 401, "adding a master without a token");
    // The new master may still be enrolling: adding it is retried until it answers.
    let added = eventually(Duration::from_secs(60), "the master added", || async {
        let (status, v) = call(
            &http,
            Method::POST,
            &format!("{follower_url}/masters"),
            Some(&admin),
            Some(body.clone()),
        )
        .await;
        (status == 200).then_some(v)
    })
    .await;
    assert_eq!(added["status"], "ADDED", "{added}");
    assert_eq!(added["voters"].as_array().map(Vec::len), Some(4), "{added}");
    let new_url = cluster.masters[spare].url();
    let job = job_json("via-new-master", "1");
    let (status, v) = call(
        &http,
        Method::POST,
        &format!("{new_url}/jobs"),
        Some(&admin),
        Some(job.clone()),
    )
    .await;
    assert_eq!(status, 200, "a write through the added master: {v}");

    let (status, v) = call(
        &http,
        Method::DELETE,
        &format!("{url}/masters/{name}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    eventually(
        Duration::from_secs(30),
        "the removed master stops",
        || async { cluster.masters[spare].has_exited().then_some(()) },
    )
    .await;
    assert_eq!(cluster.masters[spare].wait_exit_status(), Some(78));
    cluster.masters[spare].start();
    eventually(
        Duration::from_secs(30),
        "the removed master stops again",
        || async { cluster.masters[spare].has_exited().then_some(()) },
    )
    .await;
    assert_eq!(cluster.masters[spare].wait_exit_status(), Some(78));
    let log = cluster.masters[spare].log_tail();
    assert!(log.contains(&format!("{name} (id 4) was removed")), "{log}");
}
