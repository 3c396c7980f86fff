//! A master's lifecycle, in-process (`helios-testkit`'s `in_process`): it serves on listeners
//! bound before its configuration (port 0, no free-port guessing), and once `serve` returns
//! after shutdown nothing it started is left: its data directory opens again at once (no
//! polling: the store's threads are joined and the sled database is closed), and no thread it
//! started is still running. Also the bound on agent sessions.

use std::time::Duration;

use helios_api::pb;
use helios_api::pb::dispatcher_client::DispatcherClient;
use helios_master_raft::raft::types::TypeConfig;
use helios_testkit::in_process::InProcessMaster;

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
    let mut m = InProcessMaster::single_in(&data, &[]).await;
    let http = m.http.clone();
    m.wait_ready().await;
    // A write, so the log writer has work that must be durable before shutdown ends.
    let created = reqwest::Client::new()
        .post(format!("http://{http}/jobs"))
        .json(&serde_json::json!({"id": "life:1", "image": "busybox"}))
        .send()
        .await
        .expect("create");
    assert!(created.status().is_success(), "{created:?}");
    m.stop().expect("master running");
    tokio::time::timeout(Duration::from_secs(30), m.join())
        .await
        .expect("serve returns after shutdown")
        .expect("serve returns Ok");

    // No polling: the directory is free the moment `serve` has returned.
    let reopened = helios_store::open_data_dir::<TypeConfig>(&data);
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

    // Started again on its data, the lone member elects itself (a restarted leader never
    // resumes its term: it stands for election) and has its job.
    let mut again = InProcessMaster::single_in(&data, &[]).await;
    again.wait_ready().await;
    let jobs: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{}/jobs", again.http))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("JSON");
    assert!(
        jobs.as_object()
            .is_some_and(|j| j.keys().any(|k| k.starts_with("life:1:"))),
        "{jobs}"
    );
    again.stop().expect("master running");
    again.join().await.expect("serve returns Ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_sessions_beyond_the_limit_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut m =
        InProcessMaster::single_in(&dir.path().join("data"), &["--max-agent-sessions=1"]).await;
    let cluster = m.cluster.clone();
    m.wait_ready().await;
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
    m.stop().expect("master running");
    m.join().await.expect("serve returns Ok");
}
