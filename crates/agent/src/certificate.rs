//! The agent's cluster-port certificate in a secured cluster (issue 13): loaded from
//! `<state-dir>/tls/`, obtained with the join token when there is none, and renewed before it
//! expires over a connection that shows the current one. A renewal does not touch the open
//! session: the TLS connection it runs on stays, and the next connection uses the new
//! certificate.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use helios_pki::Material;
use tokio::sync::watch;

use crate::backoff::Backoff;

/// The agent's certificate as it changes, and where it is kept.
#[derive(Clone, Debug)]
pub struct AgentCertificate {
    current: watch::Sender<Option<Material>>,
    /// `<state-dir>`; `None` when the agent keeps no state on disk.
    dir: Option<PathBuf>,
}

impl AgentCertificate {
    /// The certificate kept in `dir`, if any (an unreadable one is logged and ignored: the
    /// agent enrolls again when it has a join token).
    pub fn load(dir: Option<PathBuf>) -> AgentCertificate {
        let material = match dir.as_deref().map(Material::load) {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                tracing::error!("cannot use the certificate in the state dir: {e}");
                None
            }
            None => None,
        };
        AgentCertificate {
            current: watch::Sender::new(material),
            dir,
        }
    }

    /// The certificate to connect with now.
    pub fn current(&self) -> Option<Material> {
        self.current.borrow().clone()
    }

    /// Keeps `material` on disk (when the agent has a state dir), then connects with it from
    /// now. A certificate that cannot be kept is not used: the agent's next session would
    /// retire the one on disk, and a restart would find only that.
    pub fn replace(&self, material: Material) -> Result<(), helios_pki::PkiError> {
        if let Some(dir) = &self.dir {
            material.save(dir)?;
        }
        self.current.send_replace(Some(material));
        Ok(())
    }

    /// Renews the certificate at its renewal time, at the master `master` holds (the one of
    /// the current session), until the process ends. Failures are logged and tried again
    /// with a growing delay; the certificate in use stays until a renewal succeeds.
    pub async fn renew_forever(self, mut master: watch::Receiver<Option<String>>) {
        let mut current = self.current.subscribe();
        let mut retry = Backoff::new(Duration::from_secs(2), Duration::from_secs(60));
        loop {
            let Ok(material) = current.wait_for(Option::is_some).await.map(|m| m.clone()) else {
                return;
            };
            let Some(material) = material else { continue };
            let wait = match material.renewal_due() {
                Ok(at) => at.duration_since(SystemTime::now()).unwrap_or_default(),
                Err(e) => {
                    tracing::error!("cannot read the agent's certificate to renew it: {e}");
                    return;
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                // Enrolled again: schedule from the new certificate.
                changed = current.changed() => if changed.is_err() { return } else { continue },
            }
            let addr = match master.wait_for(Option::is_some).await {
                Ok(addr) => addr.clone().unwrap_or_default(),
                Err(_) => return,
            };
            match helios_pki::enroll::renew(&addr, &material).await {
                Ok(renewed) => {
                    let identity = renewed
                        .identity()
                        .map(|i| i.to_string())
                        .unwrap_or_default();
                    match self.replace(renewed) {
                        Ok(()) => {
                            tracing::info!(master = %addr, %identity, "renewed the agent's cluster-port certificate");
                            retry.reset();
                            current.mark_unchanged();
                        }
                        Err(e) => {
                            let delay = retry.next_delay();
                            tracing::error!(
                                "cannot keep the renewed certificate (trying again in {delay:?}): {e}"
                            );
                            tokio::time::sleep(delay).await;
                        }
                    }
                }
                Err(e) => {
                    let delay = retry.next_delay();
                    tracing::warn!(master = %addr, "cannot renew the agent's certificate (trying again in {delay:?}): {e:#}");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        changed = current.changed() => if changed.is_err() { return },
                    }
                }
            }
        }
    }
}
