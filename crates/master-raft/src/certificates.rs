//! This master's own cluster-port certificate (issue 13): loaded from the data directory,
//! obtained with a join token from the member `--join` names, or, on a first master, issued
//! from the CA it created; then renewed from the replicated CA before it expires, without a
//! restart (the cluster port serves the renewed one to new connections).

use std::time::{Duration, SystemTime};

use anyhow::Context;
use helios_pki::Material;
use helios_pki::enroll::enroll;
use helios_pki::material::host_of;
use openraft::async_runtime::WatchReceiver;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::MasterConfig;
use crate::node::Node;
use crate::raft::service::leader_node;

/// The names a master's certificate holds besides its name: the hosts of its advertised
/// addresses, which other masters and agents connect to, its specific listen addresses and
/// the machine's host name.
fn master_sans(cfg: &MasterConfig) -> Vec<String> {
    let mut sans: Vec<String> = [&cfg.advertise_cluster, &cfg.advertise_http]
        .into_iter()
        .map(|a| host_of(a).to_string())
        .collect();
    // Also the addresses it listens on, when they are specific, and the machine's name.
    for ip in [cfg.cluster.ip(), cfg.http.ip()] {
        if !ip.is_unspecified() {
            sans.push(ip.to_string());
        }
    }
    sans.push(crate::config::host_name());
    sans.sort();
    sans.dedup();
    sans
}

/// This member's cluster-port certificate with security on: the one in its data directory,
/// else one obtained with `--join-token` from the member `--join` names; `None` for a first
/// master, which makes its own once it created the CA ([`ensure_own_certificate`]).
pub async fn cluster_material(cfg: &MasterConfig) -> anyhow::Result<Option<Material>> {
    if !cfg.security {
        return Ok(None);
    }
    if let Some(material) = Material::load(&cfg.data_dir)? {
        return Ok(Some(material));
    }
    let Some(token) = &cfg.join_token else {
        if cfg.join.is_some() || cfg.await_add {
            anyhow::bail!(
                "with security on, a master joins with a certificate: add --join-token (run \
                 `helios-master join-token master` against a member, and name it with --join)"
            );
        }
        if cfg.peers.keys().any(|id| *id != cfg.id) {
            anyhow::bail!(
                "with security on, a cluster grows from its first master: start one master \
                 without --peers, then add each other with --join ADDR --join-token TOKEN \
                 (`helios-master join-token master`)"
            );
        }
        return Ok(None);
    };
    let addr = cfg.join.as_deref().context("--join-token needs --join")?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match enroll(addr, token, &cfg.name, &master_sans(cfg)).await {
            Ok(material) => {
                material.save(&cfg.data_dir)?;
                info!(via = addr, "got this master's cluster-port certificate");
                return Ok(Some(material));
            }
            Err(e) if tokio::time::Instant::now() < deadline => {
                warn!(via = addr, "getting a cluster-port certificate: {e:#}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e.context(format!("cannot get a certificate from {addr}"))),
        }
    }
}

/// On a first master with security on: once this member leads, creates the cluster's CA
/// (unless its state has one already), then issues this member's own certificate from it,
/// keeps it in the data directory and hands it to the cluster port.
pub async fn ensure_own_certificate(
    app: Node,
    cfg: MasterConfig,
    material: watch::Sender<Option<Material>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut metrics = app.raft.metrics();
    loop {
        let leads = leader_node(&app.raft).map(|(id, _)| id) == Some(app.id);
        let (has_cluster_id, has_pki) = app
            .read_local(|s| (s.cluster_id.is_some(), s.pki.is_some()))
            .unwrap_or((false, false));
        // A member whose state holds the CA issues its own certificate without leading (a
        // first master that lost its tls/ directory could not lead without one).
        if has_pki || (leads && has_cluster_id) {
            let made = async {
                if !has_pki {
                    crate::control::enrollment::ensure_pki(&app).await?;
                }
                crate::control::enrollment::own_material(
                    &app,
                    &cfg.name,
                    &master_sans(&cfg),
                    cfg.cert_validity,
                )
            };
            match made.await {
                Ok(Some(m)) => match m.save(&cfg.data_dir) {
                    Ok(()) => {
                        info!("created this master's cluster-port certificate");
                        let _ = material.send(Some(m));
                        return;
                    }
                    Err(e) => warn!("keeping this master's certificate: {e}"),
                },
                Ok(None) => {}
                Err(e) => warn!("creating the cluster's CA: {e:#}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        tokio::select! {
            changed = metrics.changed() => if changed.is_err() { return },
            _ = stop.changed() => return,
        }
    }
}

/// How long to wait before trying a failed renewal again.
const RENEWAL_RETRY: Duration = Duration::from_secs(10);

/// Renews this master's certificate from the replicated CA at its renewal time (between half
/// and three quarters of its lifetime), keeps it in the data directory and hands it to the
/// cluster port and to this member's outgoing connections; forever, until `stop`.
pub async fn renew_own_certificate(
    app: Node,
    cfg: MasterConfig,
    material: watch::Sender<Option<Material>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut current = material.subscribe();
    loop {
        let due = match current.wait_for(Option::is_some).await {
            Ok(m) => m.as_ref().map(Material::renewal_due),
            Err(_) => return,
        };
        let wait = match due {
            Some(Ok(at)) => at.duration_since(SystemTime::now()).unwrap_or_default(),
            Some(Err(e)) => {
                warn!("cannot read this master's certificate to renew it: {e}");
                RENEWAL_RETRY
            }
            None => RENEWAL_RETRY,
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            // Another task replaced the certificate: schedule from the new one.
            changed = current.changed() => if changed.is_err() { return } else { continue },
            _ = stop.changed() => return,
        }
        let renewed = crate::control::enrollment::own_material(
            &app,
            &cfg.name,
            &master_sans(&cfg),
            cfg.cert_validity,
        )
        .and_then(|m| m.context("the cluster has no CA"))
        .and_then(|m| m.save(&cfg.data_dir).map(|()| m).map_err(Into::into));
        match renewed {
            Ok(m) => {
                info!(
                    identity = %m.identity().map(|i| i.to_string()).unwrap_or_default(),
                    "renewed this master's cluster-port certificate"
                );
                current.mark_unchanged();
                let _ = material.send(Some(m));
                current.mark_unchanged();
            }
            Err(e) => {
                warn!("renewing this master's cluster-port certificate: {e:#}");
                tokio::select! {
                    () = tokio::time::sleep(RENEWAL_RETRY) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}
