//! Starts a master: opens the store, starts Raft, serves the cluster port and the HTTP API,
//! forms or joins the cluster, and shuts down cleanly on SIGTERM or Ctrl-C.

use openraft::async_runtime::WatchReceiver;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use helios_store::{KvBackend, SledBackend};
use openraft::{Config, SnapshotPolicy};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tracing::{info, warn};

use crate::config::MasterConfig;
use crate::dispatcher::{Dispatcher, liveness, statuses};
use crate::gateway::{self, AppState};
use crate::housekeeping;
use crate::metrics::Metrics;
use crate::raft::bootstrap;
use crate::raft::network::{MAX_MESSAGE, Network};
use crate::raft::pb::raft_service_server::RaftServiceServer;
use crate::raft::service::{RaftRpc, leader_node};
use crate::raft::types::{LogStore, MasterNode, Raft, StateMachine};
use crate::state::{Command, CommandResult};
use helios_api::pb::dispatcher_server::DispatcherServer;

/// Checks that `dir` can be created and written, so a bad `--data-dir` fails at once.
fn check_writable(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data dir {}", dir.display()))?;
    let probe = dir.join(".write-probe");
    std::fs::write(&probe, b"ok")
        .with_context(|| format!("cannot write in data dir {}", dir.display()))?;
    std::fs::remove_file(&probe).ok();
    Ok(())
}

/// Runs a master until `shutdown` resolves.
pub async fn run(
    cfg: MasterConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    check_writable(&cfg.data_dir)?;
    let backend: Arc<dyn KvBackend> = Arc::new(
        SledBackend::open(&cfg.data_dir)
            .with_context(|| format!("cannot open store in {}", cfg.data_dir.display()))?,
    );
    let cluster_listener = TcpListener::bind(cfg.cluster)
        .await
        .with_context(|| format!("cannot listen on cluster address {}", cfg.cluster))?;
    let http_listener = TcpListener::bind(cfg.http)
        .await
        .with_context(|| format!("cannot listen on HTTP address {}", cfg.http))?;

    let raft_config = Config {
        cluster_name: "helios".into(),
        heartbeat_interval: cfg.heartbeat_ms,
        election_timeout_min: cfg.election_timeout_ms,
        election_timeout_max: cfg.election_timeout_ms * 2,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_every),
        max_in_snapshot_log_to_keep: cfg.log_keep,
        purge_batch_size: 256,
        max_payload_entries: 1000,
        ..Default::default()
    }
    .validate()
    .context("invalid Raft configuration")?;

    let log_store = LogStore::new(backend.clone()).context("cannot open the Raft log")?;
    let flush_stats = log_store.flush_stats();
    let sm = StateMachine::new(backend);
    let raft = Raft::new(
        cfg.id,
        Arc::new(raft_config),
        Network::default(),
        log_store,
        sm.clone(),
    )
    .await
    .context("starting Raft")?;
    let node = MasterNode {
        name: cfg.name.clone(),
        cluster_addr: cfg.advertise_cluster.clone(),
        http_addr: cfg.advertise_http.clone(),
    };
    info!(id = cfg.id, %node, data_dir = %cfg.data_dir.display(), "master starting");

    let metrics = Arc::new(Metrics::new(flush_stats));
    let app = AppState::new(
        raft.clone(),
        cfg.id,
        cfg.name.clone(),
        &sm,
        metrics,
        cfg.whitelisted_capabilities.clone(),
    )?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let (dispatcher, status_rx) =
        Dispatcher::new(app.clone(), cfg.agent_heartbeat_ms, stop_rx.clone());
    let batcher = tokio::spawn(statuses::run_batcher(app.clone(), status_rx));
    let liveness_task = tokio::spawn(liveness::run(dispatcher.clone(), stop_rx.clone()));
    let housekeeping_tasks =
        housekeeping::spawn(&dispatcher, cfg.agent_reaping_timeout, stop_rx.clone());
    let rpc = RaftServiceServer::new(RaftRpc::new(raft.clone(), cfg.id, node.clone()))
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let cluster_server = tokio::spawn(
        tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(5)))
            .add_service(rpc)
            .add_service(DispatcherServer::new(dispatcher))
            // `Server::tcp_nodelay` only reaches listeners tonic binds itself.
            .serve_with_incoming_shutdown(
                TcpIncoming::from(cluster_listener).with_nodelay(Some(true)),
                stopped(stop_rx.clone()),
            ),
    );
    let http_server = tokio::spawn(
        axum::serve(
            http_listener.tap_io(|tcp| {
                // Small answers go out at once instead of waiting for the client's ACK.
                if let Err(error) = tcp.set_nodelay(true) {
                    tracing::debug!(%error, "could not set TCP_NODELAY");
                }
            }),
            gateway::router(app.clone()).merge(crate::grpc::router(app.clone(), stop_rx.clone())),
        )
        .with_graceful_shutdown(stopped(stop_rx.clone()))
        .into_future(),
    );

    let formation = {
        let (raft, cfg, node) = (raft.clone(), cfg.clone(), node.clone());
        tokio::spawn(async move {
            let r = match &cfg.join {
                Some(addr) => bootstrap::join(&raft, cfg.id, &node, addr).await,
                None => bootstrap::form_cluster(&raft, cfg.id, &node, &cfg.peers).await,
            };
            if let Err(e) = r {
                warn!("cluster formation failed: {e:#}");
            }
        })
    };
    let cluster_id = tokio::spawn(ensure_cluster_id(app.clone(), stop_rx.clone()));

    shutdown.await;
    info!("shutting down");
    let _ = stop_tx.send(true);
    formation.abort();
    batcher.abort();
    liveness_task.abort();
    for task in housekeeping_tasks {
        task.abort();
    }
    cluster_id.abort();
    // Give open connections a moment to finish, but never hang on a stuck client.
    let grace = Duration::from_secs(5);
    let _ = tokio::time::timeout(grace, http_server).await;
    let _ = tokio::time::timeout(grace, cluster_server).await;
    if let Err(e) = raft.shutdown().await {
        warn!("Raft shutdown: {e}");
    }
    Ok(())
}

/// Whenever this member leads a cluster that has no cluster id yet, proposes one.
async fn ensure_cluster_id(app: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut metrics = app.raft.metrics();
    loop {
        let leads = leader_node(&app.raft).map(|(id, _)| id) == Some(app.id);
        let has_id = app
            .shared
            .read()
            .map(|v| v.state.cluster_id.is_some())
            .unwrap_or(true);
        if leads && !has_id {
            let cluster_id = uuid::Uuid::new_v4().to_string();
            match app.write(Command::InitCluster { cluster_id }).await {
                Ok(CommandResult::ClusterId(id)) => info!(cluster_id = %id, "cluster id set"),
                Ok(other) => warn!("unexpected result {other:?}"),
                Err(e) => {
                    warn!("setting the cluster id: {}", e.body);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            continue;
        }
        tokio::select! {
            changed = metrics.changed() => if changed.is_err() { return },
            _ = stop.changed() => return,
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}
