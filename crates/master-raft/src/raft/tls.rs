//! How this master reaches other members' cluster ports: plain HTTP/2 without security, or
//! mutual TLS with its certificate from the cluster's CA once it has one (issue 13).

use std::time::Duration;

use helios_pki::Material;
use helios_pki::material::host_of;
use tokio::sync::watch;
use tonic::transport::Endpoint;

/// This member's TLS material for outgoing cluster-port connections, as it becomes known: a
/// first master gets its certificate only after it created the CA. Plain connections when
/// security is off.
#[derive(Clone, Debug, Default)]
pub struct ClusterTls(Option<watch::Receiver<Option<Material>>>);

impl ClusterTls {
    /// Mutual TLS with the material `material` holds (or will hold).
    pub fn with(material: watch::Receiver<Option<Material>>) -> Self {
        ClusterTls(Some(material))
    }

    /// Whether this member's certificate changed since the last call (or since this handle
    /// was cloned): connections made before use the old one.
    pub fn take_change(&mut self) -> bool {
        match &mut self.0 {
            Some(material) => {
                let changed = material.has_changed().unwrap_or(false);
                if changed {
                    material.mark_unchanged();
                }
                changed
            }
            None => false,
        }
    }

    /// Whether connections use TLS (security is on).
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// An endpoint of the cluster port at `cluster_addr` (`host:port`): `https` with this
    /// member's certificate when security is on, checked against the CA for the address's
    /// host; fails while this member has no certificate yet.
    pub fn endpoint(&self, cluster_addr: &str) -> anyhow::Result<Endpoint> {
        use anyhow::Context;
        let Some(material) = &self.0 else {
            return Endpoint::from_shared(format!("http://{cluster_addr}"))
                .with_context(|| format!("bad cluster address {cluster_addr:?}"));
        };
        let material = material
            .borrow()
            .clone()
            .context("this master has no certificate for the cluster port yet (security is on)")?;
        Endpoint::from_shared(format!("https://{cluster_addr}"))
            .with_context(|| format!("bad cluster address {cluster_addr:?}"))?
            .tls_config(material.client_tls(host_of(cluster_addr)))
            .context("TLS settings of the cluster port")
    }
}

/// How long a TLS handshake with a member may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
