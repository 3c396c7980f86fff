//! Starts a master: opens the store, starts Raft, serves the cluster port and the HTTP API,
//! forms or joins the cluster, and shuts down cleanly on SIGTERM or Ctrl-C.

use openraft::async_runtime::WatchReceiver;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use helios_store::KvBackend;
use openraft::{Config, SnapshotPolicy};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tracing::{debug, error, info, warn};

use crate::certificates;
use crate::clock::SystemClock;
use crate::config::MasterConfig;
use crate::dispatcher::enrollment::EnrollmentService;
use crate::dispatcher::peer;
use crate::dispatcher::{Dispatcher, liveness, statuses};
use crate::gateway;
use crate::housekeeping;
use crate::metrics::Metrics;
use crate::node::{Node, NodeSettings};
use crate::raft::bootstrap;
use crate::raft::network::{MAX_MESSAGE, Network};
use crate::raft::pb::raft_service_server::RaftServiceServer;
use crate::raft::service::{RaftRpc, leader_node};
use crate::raft::tls::ClusterTls;
use crate::raft::types::{LogStore, MasterNode, Raft, StateMachine, TypeConfig};
use crate::state::{Command, CommandResult};
use helios_api::pb::dispatcher_server::DispatcherServer;
use helios_api::pb::enrollment_server::EnrollmentServer;
use tonic::service::interceptor::InterceptedService;

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

/// The two sockets a master serves: the cluster port (Raft, agents) and the HTTP port (REST,
/// gRPC). Bound before the master starts, so that tests can bind port 0 and read the port.
pub struct Listeners {
    /// The cluster port.
    pub cluster: TcpListener,
    /// The HTTP port.
    pub http: TcpListener,
}

impl Listeners {
    /// Binds the addresses of `cfg`.
    pub async fn bind(cfg: &MasterConfig) -> anyhow::Result<Self> {
        let cluster = TcpListener::bind(cfg.cluster)
            .await
            .with_context(|| format!("cannot listen on cluster address {}", cfg.cluster))?;
        let http = TcpListener::bind(cfg.http)
            .await
            .with_context(|| format!("cannot listen on HTTP address {}", cfg.http))?;
        Ok(Self { cluster, http })
    }
}

/// How long shutdown waits for open connections and tasks before it cancels them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The exit status of a master that stopped because the cluster removed it: a supervisor
/// should not restart it (the systemd unit in `deploy/` says so), since it would stop again.
pub const REMOVED_EXIT_STATUS: i32 = 78;

/// Why [`serve`] returned on its own.
enum Stop {
    /// The Raft core stopped with a fatal error.
    Fatal(String),
    /// The cluster removed this member.
    Removed(String),
}

/// The error of a master that stopped because the cluster removed it (`helios masters
/// remove`): its data may not be used again in this cluster.
#[derive(Debug)]
pub struct RemovedFromCluster(pub String);

impl std::fmt::Display for RemovedFromCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RemovedFromCluster {}

/// Resolves with the reason once this member learns that the cluster removed it: from its own
/// applied state (it applied its removal, or had before it restarted), or from a peer that
/// refused its Raft call or its `Join` (it was down when it was removed).
async fn removed_from_cluster(
    app: &Node,
    mut refused: tokio::sync::watch::Receiver<Option<String>>,
) -> String {
    let mut metrics = app.raft.metrics();
    loop {
        let (member, leading) = {
            let m = metrics.borrow_and_update();
            let member = m.membership_config.membership().get_node(&app.id).is_some();
            (member, m.state == openraft::ServerState::Leader)
        };
        // Recorded before the membership change: it counts once the change took this member
        // out, and once a leader removed this way handed over.
        let removed = app.read_local(|s| s.removal_of(app.id)).ok().flatten();
        if let Some(why) = removed.filter(|_| !member && !leading) {
            return format!("stopping: {why}");
        }
        if let Some(why) = refused.borrow_and_update().clone() {
            let why = why
                .strip_prefix(crate::raft::service::REMOVED_MEMBER)
                .unwrap_or(&why)
                .trim();
            return format!("stopping: a member refused this one: {why}");
        }
        tokio::select! {
            changed = metrics.changed() => if changed.is_err() { std::future::pending::<()>().await },
            changed = refused.changed() => if changed.is_err() { std::future::pending::<()>().await },
        }
    }
}

/// Runs a master on the addresses of `cfg` until `shutdown` resolves (see [`serve`]).
pub async fn run(
    cfg: MasterConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listeners = Listeners::bind(&cfg).await?;
    serve(cfg, listeners, shutdown).await
}

/// Runs a master on `listeners` until `shutdown` resolves, or until its Raft core stops with a
/// fatal error (then it returns that error, and the process exits).
///
/// Returns once everything it started has ended: the servers, every task it spawned, the Raft
/// core, and the store's threads, so that the data directory can be opened again at once.
/// Each step waits at most [`SHUTDOWN_GRACE`]: a server is then cancelled; tasks, the Raft
/// core or a store that have not ended are named in a warning and left behind, so that a
/// stuck disk or client never keeps the process from exiting.
pub async fn serve(
    cfg: MasterConfig,
    listeners: Listeners,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    check_writable(&cfg.data_dir)?;
    if cfg.security {
        crate::config::restrict_to_owner(&cfg.data_dir)?;
        crate::config::mark_secured(&cfg.data_dir)?;
    }
    if cfg.unsecured_legacy_data {
        warn!(
            data_dir = %cfg.data_dir.display(),
            "security is off: this data directory predates it, and other machines can reach this \
             master; anyone who reaches its ports may do anything (see the README, Security)"
        );
    }
    let (backend, snapshots) = helios_store::open_data_dir::<TypeConfig>(&cfg.data_dir)
        .with_context(|| format!("cannot open store in {}", cfg.data_dir.display()))?;
    let backend: Arc<dyn KvBackend> = Arc::new(backend);
    let raft_config = Config {
        cluster_name: "helios".into(),
        heartbeat_interval: cfg.heartbeat_ms,
        election_timeout_min: cfg.election_timeout_ms,
        election_timeout_max: cfg.election_timeout_ms * 2,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_every),
        max_in_snapshot_log_to_keep: cfg.log_keep,
        purge_batch_size: 256,
        max_payload_entries: 1000,
        // A follower asks whether it would win before it bumps its term, so one that cannot
        // win (isolated, behind, or too early while its peer still holds the leader's lease)
        // neither disturbs a live leader nor splits the vote of the next election.
        enable_pre_vote: Some(true),
        // A leader that restarts stands for election again instead of resuming its term.
        // Resuming, it numbers new entries from the end of its own log, which lost what it
        // had not yet synced when it died; a follower may already hold those entries, and
        // would then keep a different entry under the same log id for good (seen in the
        // exactly-once fault test: one member's state lacked a committed job).
        enable_leader_restore: Some(false),
        ..Default::default()
    }
    .validate()
    .context("invalid Raft configuration")?;

    let material = certificates::cluster_material(&cfg).await?;
    let (material_tx, material_rx) = tokio::sync::watch::channel(material);
    let cluster_tls = if cfg.security {
        ClusterTls::with(material_rx.clone())
    } else {
        ClusterTls::default()
    };

    let log_store =
        LogStore::open(backend.clone(), &cfg.data_dir).context("cannot open the Raft log")?;
    let flush_stats = log_store.flush_stats();
    // Kept to join the store's threads at shutdown (openraft owns the other handle).
    let log_closer = log_store.clone();
    let snapshots: Arc<dyn KvBackend> = Arc::new(snapshots);
    // Kept to close the snapshots' database off the async threads at shutdown.
    let snapshots_closer = snapshots.clone();
    let sm = StateMachine::new(snapshots);
    let network = Network::new(cluster_tls.clone());
    let append_bytes = network.append_bytes();
    let refused_as_removed = network.removal();
    let removal_reporter = network.removal_reporter();
    let raft = Raft::new(
        cfg.id,
        Arc::new(raft_config),
        network,
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

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let metrics = Arc::new(Metrics::new(crate::metrics::Sources {
        flush_stats,
        snapshot_bytes: sm.snapshot_bytes(),
        append_bytes,
    }));
    let settings = NodeSettings {
        id: cfg.id,
        name: cfg.name.clone(),
        clock: Arc::new(SystemClock),
        whitelisted_capabilities: cfg.whitelisted_capabilities.clone(),
        leader_tls: crate::http_tls::LeaderTls::new(cfg.api_tls.clone()),
        cluster_tls: cluster_tls.clone(),
    };
    let app = Node::new(raft.clone(), &sm, settings, metrics, stop_rx.clone());
    let tasks = app.tasks.clone();

    let (mut dispatcher, status_rx) = Dispatcher::with_session_limit(
        app.clone(),
        cfg.agent_heartbeat_ms,
        stop_rx.clone(),
        cfg.max_agent_sessions,
    );
    if cfg.security {
        dispatcher = dispatcher.requiring_certificates();
    }
    let batcher = tasks.spawn(statuses::run_batcher(app.clone(), status_rx));
    let liveness_task = tasks.spawn(liveness::run(dispatcher.clone(), stop_rx.clone()));
    let housekeeping_tasks = housekeeping::spawn(
        &dispatcher,
        housekeeping::Settings {
            agent_reaping_timeout: cfg.agent_reaping_timeout,
            job_retention: cfg.job_retention,
            history_limit: cfg.history_limit,
        },
        stop_rx.clone(),
    );
    let rollouts = tasks.spawn(crate::rollout_engine::run(app.clone()));
    // Ends by itself once `stop` flips.
    if let Some(addr) = cfg.dns_addr {
        let sockets = crate::dns::bind(addr).await?;
        tasks.spawn(crate::dns::serve(
            app.clone(),
            sockets,
            cfg.dns_domain.clone(),
            stop_rx.clone(),
        ));
    }
    let rpc = RaftServiceServer::new(RaftRpc::new(
        raft.clone(),
        cfg.id,
        node.clone(),
        sm.shared(),
    ))
    .max_decoding_message_size(MAX_MESSAGE)
    .max_encoding_message_size(MAX_MESSAGE);
    let cluster_server = {
        let (stop_rx, mut material_rx) = (stop_rx.clone(), material_rx.clone());
        let enrollment = EnrollmentService::new(app.clone(), cfg.cert_validity);
        let security = cfg.security;
        let dispatcher = dispatcher.clone();
        let listener = listeners.cluster;
        tasks.spawn(async move {
            let mut builder = tonic::transport::Server::builder()
                .http2_keepalive_interval(Some(Duration::from_secs(5)));
            if !security {
                // `Server::tcp_nodelay` only reaches listeners tonic binds itself.
                let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                return builder
                    .add_service(rpc)
                    .add_service(DispatcherServer::new(dispatcher))
                    .serve_with_incoming_shutdown(incoming, stopped(stop_rx))
                    .await
                    .map_err(anyhow::Error::from);
            }
            // Mutual TLS once this member has its certificate (a first master creates the CA
            // first); only masters may call Raft, only agents open sessions. A renewed
            // certificate serves new connections; open ones go on.
            let config = tokio::select! {
                m = material_rx.wait_for(Option::is_some) => match m {
                    Ok(m) => m.as_ref().context("no certificate")?.server_config()?,
                    Err(_) => return Ok(()),
                },
                () = stopped(stop_rx.clone()) => return Ok(()),
            };
            let (config_tx, config_rx) = tokio::sync::watch::channel(config);
            let follow = tokio::spawn(async move {
                while material_rx.changed().await.is_ok() {
                    let renewed = material_rx.borrow_and_update().clone();
                    match renewed.map(|m| m.server_config()).transpose() {
                        Ok(Some(config)) => {
                            let _ = config_tx.send(config);
                        }
                        Ok(None) => {}
                        Err(e) => warn!("cannot serve the renewed certificate: {e}"),
                    }
                }
            });
            let incoming = helios_pki::serving::incoming(listener, config_rx, "cluster port");
            let served = builder
                .add_service(InterceptedService::new(rpc, peer::require_master))
                .add_service(DispatcherServer::new(dispatcher))
                .add_service(EnrollmentServer::new(enrollment))
                .serve_with_incoming_shutdown(incoming, stopped(stop_rx))
                .await
                .map_err(anyhow::Error::from);
            follow.abort();
            served
        })
    };
    let mut router =
        gateway::router(app.clone())?.merge(crate::grpc::router(app.clone(), stop_rx.clone()));
    if cfg.security {
        router = router.layer(axum::middleware::from_fn_with_state(
            app.clone(),
            gateway::access::check,
        ));
    }
    let http_server = match cfg.api_tls.clone() {
        Some(files) => {
            let listener = crate::http_tls::TlsListener::new(listeners.http, files)?;
            tasks.spawn(
                axum::serve(listener, router)
                    .with_graceful_shutdown(stopped(stop_rx.clone()))
                    .into_future(),
            )
        }
        None => tasks.spawn(
            axum::serve(
                listeners.http.tap_io(|tcp| {
                    // Small answers go out at once instead of waiting for the client's ACK.
                    if let Err(error) = tcp.set_nodelay(true) {
                        tracing::debug!(%error, "could not set TCP_NODELAY");
                    }
                }),
                router,
            )
            .with_graceful_shutdown(stopped(stop_rx.clone()))
            .into_future(),
        ),
    };

    let formation = {
        let (raft, cfg, node, tls) = (raft.clone(), cfg.clone(), node.clone(), cluster_tls.clone());
        let removed = removal_reporter;
        tasks.spawn(async move {
            let r = match &cfg.join {
                _ if cfg.await_add => {
                    if !crate::raft::service::has_state(&raft) {
                        info!("waiting for `helios masters add` to add this master");
                    }
                    Ok(())
                }
                Some(addr) => bootstrap::join(&raft, cfg.id, &node, addr, &tls, &removed).await,
                None => bootstrap::form_cluster(&raft, cfg.id, &node, &cfg.peers, &tls).await,
            };
            if let Err(e) = r {
                warn!("cluster formation failed: {e:#}");
            }
        })
    };
    let cluster_id = tasks.spawn(ensure_cluster_id(app.clone(), stop_rx.clone()));
    let own_certificate = (cfg.security && material_tx.borrow().is_none()).then(|| {
        tasks.spawn(certificates::ensure_own_certificate(
            app.clone(),
            cfg.clone(),
            material_tx.clone(),
            stop_rx.clone(),
        ))
    });
    let renewal = cfg.security.then(|| {
        tasks.spawn(certificates::renew_own_certificate(
            app.clone(),
            cfg.clone(),
            material_tx,
            stop_rx.clone(),
        ))
    });
    let admin_token = cfg.security.then(|| {
        tasks.spawn(ensure_admin_token(
            app.clone(),
            cfg.data_dir.clone(),
            stop_rx.clone(),
        ))
    });

    let fatal = tokio::select! {
        () = shutdown => None,
        reason = app.stopped() => Some(Stop::Fatal(reason)),
        reason = removed_from_cluster(&app, refused_as_removed) => {
            error!("{reason}");
            Some(Stop::Removed(reason))
        }
    };
    info!("shutting down");
    let _ = stop_tx.send(true);
    // Loops that only end with the process (formation retries, the batcher that drains the
    // statuses of sessions) are cancelled; the others see `stop`.
    formation.abort();
    batcher.abort();
    liveness_task.abort();
    for task in housekeeping_tasks {
        task.abort();
    }
    rollouts.abort();
    cluster_id.abort();
    for task in [own_certificate, renewal].into_iter().flatten() {
        task.abort();
    }
    if let Some(task) = admin_token {
        task.abort();
    }
    // Give open connections a moment to finish, but never hang on a stuck client.
    stop_within_grace("HTTP", http_server).await;
    stop_within_grace("cluster", cluster_server).await;
    debug!("servers stopped");
    // Bounded: a core stuck on a storage call that never returns (a hung fsync) must not
    // keep the process from exiting.
    match tokio::time::timeout(SHUTDOWN_GRACE, raft.shutdown()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!("Raft shutdown: {e}"),
        Err(_) => warn!("the Raft core did not stop within {SHUTDOWN_GRACE:?}; leaving it"),
    }
    debug!("Raft stopped");
    tasks.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tasks.wait())
        .await
        .is_err()
    {
        warn!(
            running = tasks.len(),
            "tasks still running {SHUTDOWN_GRACE:?} after shutdown"
        );
    }
    debug!("tasks ended");
    drop((app, raft, sm));
    // Bounded: a store that cannot flush (a full disk) must not keep the process from exiting.
    match tokio::time::timeout(SHUTDOWN_GRACE, log_closer.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!("closing the Raft log: {e}"),
        Err(_) => warn!("the store did not close within {SHUTDOWN_GRACE:?}; leaving it open"),
    }
    // Closing a sled database joins its flusher and waits for its file lock: blocking, and
    // bounded like the log's close. A snapshot build still running holds another handle.
    if Arc::strong_count(&snapshots_closer) > 1 {
        warn!("a snapshot is still being written; its database closes when it is done");
    }
    let closing = tokio::task::spawn_blocking(move || drop(snapshots_closer));
    if tokio::time::timeout(SHUTDOWN_GRACE, closing).await.is_err() {
        warn!("the snapshots' database did not close within {SHUTDOWN_GRACE:?}; leaving it open");
    }
    info!("stopped");
    match fatal {
        Some(Stop::Fatal(reason)) => anyhow::bail!("the Raft core stopped: {reason}"),
        Some(Stop::Removed(reason)) => Err(RemovedFromCluster(reason).into()),
        None => Ok(()),
    }
}

/// Waits for a server to finish its open connections, and cancels it after [`SHUTDOWN_GRACE`]
/// (a stuck client never holds up shutdown).
async fn stop_within_grace<T>(name: &str, server: tokio::task::JoinHandle<T>) {
    let abort = server.abort_handle();
    if tokio::time::timeout(SHUTDOWN_GRACE, server).await.is_err() {
        warn!("the {name} server did not stop within {SHUTDOWN_GRACE:?}; cancelling it");
        abort.abort();
    }
}

/// Whenever this member leads a cluster that has no cluster id yet, proposes one.
async fn ensure_cluster_id(app: Node, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut metrics = app.raft.metrics();
    loop {
        let leads = leader_node(&app.raft).map(|(id, _)| id) == Some(app.id);
        let has_id = app.read_local(|s| s.cluster_id.is_some()).unwrap_or(true);
        if leads && !has_id {
            let cluster_id = uuid::Uuid::new_v4().to_string();
            match app.write(Command::InitCluster { cluster_id }).await {
                Ok(CommandResult::ClusterId(id)) => info!(cluster_id = %id, "cluster id set"),
                Ok(other) => warn!("unexpected result {other:?}"),
                Err(e) => {
                    warn!("setting the cluster id: {e}");
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

/// The file in the data directory where the member that created the first admin token keeps
/// it (mode 0600).
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Where that token waits while it is proposed: it is written down before it can be in force,
/// and becomes [`ADMIN_TOKEN_FILE`] once it is (also after a crash in between).
const PENDING_ADMIN_TOKEN_FILE: &str = "admin-token.pending";

/// With security on: whenever this member leads a cluster that never had an admin token,
/// creates one; a token of this member's that is in force moves to `<data-dir>/admin-token`
/// and is printed once on stdout when that is a terminal, never in the log.
async fn ensure_admin_token(
    app: Node,
    data_dir: std::path::PathBuf,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let pending = data_dir.join(PENDING_ADMIN_TOKEN_FILE);
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    let mut metrics = app.raft.metrics();
    loop {
        if let Err(e) = settle_pending_token(&app, &pending, &path) {
            warn!("keeping the first admin API token: {e:#}");
        }
        let leads = leader_node(&app.raft).map(|(id, _)| id) == Some(app.id);
        let needed = !app
            .read_local(|s| s.api_tokens_bootstrapped)
            .unwrap_or(true);
        if leads && needed {
            let kept = std::fs::read_to_string(&pending)
                .ok()
                .map(|t| t.trim().to_string());
            let keep = |token: &str| {
                helios_pki::write_private(&pending, format!("{token}\n").as_bytes())
                    .map_err(anyhow::Error::from)
            };
            if let Err(e) = crate::control::tokens::bootstrap(&app, kept, keep).await {
                warn!("creating the first admin API token: {e:#}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            continue;
        }
        tokio::select! {
            changed = metrics.changed() => if changed.is_err() { return },
            _ = stop.changed() => return,
        }
    }
}

/// Moves a pending admin token that is in force to `path` and prints it; removes one that
/// never will be (another member's token came first).
fn settle_pending_token(
    app: &Node,
    pending: &std::path::Path,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let token = match std::fs::read_to_string(pending) {
        Ok(token) => token.trim().to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", pending.display())),
    };
    let digest = crate::control::tokens::hash(&token);
    let (in_force, settled) = app.read_local(|s| {
        (
            s.api_token_by_hash(&digest).is_some(),
            s.api_tokens_bootstrapped,
        )
    })?;
    if in_force {
        std::fs::rename(pending, path).with_context(|| {
            format!("cannot rename {} to {}", pending.display(), path.display())
        })?;
        info!(file = %path.display(), "the first admin API token is in this file (mode 0600)");
        // On a terminal only: a service manager or container engine keeps stdout as a log,
        // and no log holds a token.
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            println!(
                "helios-master: the first admin API token (shown once; also in {}):\n{token}",
                path.display()
            );
        }
    } else if settled {
        std::fs::remove_file(pending)
            .with_context(|| format!("cannot remove {}", pending.display()))?;
    }
    Ok(())
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
