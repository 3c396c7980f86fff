//! A master's lifecycle, in-process: it serves on listeners the caller bound (port 0, no
//! free-port guessing), and once `serve` returns after shutdown nothing it started is left:
//! its data directory opens again at once (no polling: the store's threads are joined and the
//! sled database is closed), and no thread it started is still running. Also the bound on
//! agent sessions.

use std::time::Duration;

use clap::Parser;
use helios_api::pb;
use helios_api::pb::dispatcher_client::DispatcherClient;
use helios_master_raft::config::Args;
use helios_master_raft::server::{self, Listeners};
use helios_store::SledBackend;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A master serving on port-0 listeners, with `extra` flags.
async fn start(
    dir: &std::path::Path,
    extra: &[&str],
) -> (
    String,
    String,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let http = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
    let cluster = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind cluster");
    let http_addr = http.local_addr().expect("addr").to_string();
    let cluster_addr = cluster.local_addr().expect("addr").to_string();
    let mut flags = vec![
        "helios-master".to_string(),
        "--id=1".into(),
        "--name=m1".into(),
        format!("--data-dir={}", dir.display()),
        format!("--http={http_addr}"),
        format!("--cluster={cluster_addr}"),
        "--heartbeat-ms=50".into(),
        "--election-timeout-ms=300".into(),
    ];
    flags.extend(extra.iter().map(|f| f.to_string()));
    let cfg = Args::parse_from(flags).into_config().expect("config");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server::serve(
        cfg,
        Listeners { cluster, http },
        async move {
            let _ = rx.await;
        },
    ));
    (http_addr, cluster_addr, tx, task)
}

/// Waits until `/readyz` answers 200 (a leader is known).
async fn wait_ready(http: &str) {
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(r) = client.get(format!("http://{http}/readyz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("master at {http} never became ready");
}

/// Threads of this process whose name is not the test harness's or the runtime's.
fn threads() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|e| {
            let path = e.ok()?.path().join("comm");
            Some(std::fs::read_to_string(path).ok()?.trim().to_string())
        })
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_shutdown_nothing_is_left_and_the_store_reopens_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let before = threads();
    let (http, _, stop, task) = start(&data, &[]).await;
    wait_ready(&http).await;
    // A write, so the log writer has work that must be durable before shutdown ends.
    let created = reqwest::Client::new()
        .post(format!("http://{http}/jobs"))
        .json(&serde_json::json!({"id": "life:1", "image": "busybox"}))
        .send()
        .await
        .expect("create");
    assert!(created.status().is_success(), "{created:?}");
    stop.send(()).expect("master running");
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("serve returns after shutdown")
        .expect("serve task")
        .expect("serve returns Ok");

    // No polling: the directory is free the moment `serve` has returned.
    let reopened = SledBackend::open(&data);
    assert!(reopened.is_ok(), "store still held: {:?}", reopened.err());
    drop(reopened);

    // Threads the master started (the store's writer and purger, the backend's release
    // thread, sled's per-database flusher) are gone. Process-wide pools that outlive any one
    // master are not counted: the test runtime's threads and sled's global IO pool, whose
    // idle threads end on their own.
    let shared_pool = |n: &String| n.starts_with("tokio-") || n.starts_with("sled-io-");
    let left: Vec<String> = threads()
        .into_iter()
        .filter(|n| !shared_pool(n) && !before.contains(n))
        .collect();
    assert!(left.is_empty(), "threads still running: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_sessions_beyond_the_limit_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (http, cluster, stop, task) =
        start(&dir.path().join("data"), &["--max-agent-sessions=1"]).await;
    wait_ready(&http).await;
    let mut client = DispatcherClient::connect(format!("http://{cluster}"))
        .await
        .expect("connect");
    let (first_tx, first_rx) = tokio::sync::mpsc::channel::<pb::AgentMessage>(4);
    let first = client
        .session(tokio_stream::wrappers::ReceiverStream::new(first_rx))
        .await;
    assert!(first.is_ok(), "the first session is accepted: {first:?}");
    let (_second_tx, second_rx) = tokio::sync::mpsc::channel::<pb::AgentMessage>(4);
    let second = client
        .session(tokio_stream::wrappers::ReceiverStream::new(second_rx))
        .await
        .expect_err("the second session is refused");
    assert_eq!(second.code(), tonic::Code::ResourceExhausted, "{second:?}");
    assert!(second.message().contains("limit of 1"), "{second:?}");
    drop(first_tx);
    drop(first);
    stop.send(()).expect("master running");
    task.await.expect("serve task").expect("serve returns Ok");
}
