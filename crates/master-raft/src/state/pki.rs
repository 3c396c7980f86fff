//! The cluster's certificate authority and join-token secrets (issue 13), replicated so that
//! every master can issue certificates and check join tokens, and a new leader goes on where
//! the old one stopped. A snapshot therefore holds the CA's key: a data directory, and any
//! copy of it, is as secret as the key itself (see ARCHITECTURE.md, "Security").

use serde::{Deserialize, Serialize};

use super::{CommandResult, State};

/// A secret in the replicated state or a command: serialized as the string it holds, shown by
/// `Debug` as `<secret>` (entries and states may be logged at debug level).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// The CA and the current join secret of each role.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterPki {
    /// The CA certificate, PEM.
    pub ca_cert_pem: String,
    /// The CA's private key, PEM.
    pub ca_key_pem: String,
    /// The secret of agent join tokens.
    pub agent_secret: String,
    /// The secret of master join tokens.
    pub master_secret: String,
}

impl std::fmt::Debug for ClusterPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterPki")
            .field("ca_cert_pem", &self.ca_cert_pem)
            .finish_non_exhaustive()
    }
}

impl State {
    /// Sets the CA and secrets unless the cluster has them (the first leader's stay).
    pub(super) fn init_pki(&mut self, pki: &ClusterPki) -> CommandResult {
        if self.pki.is_none() {
            self.pki = Some(pki.clone());
        }
        CommandResult::Ok
    }

    /// Remembers the serial of the certificate host `name`'s agent opened its session with.
    /// The first session with a renewed certificate retires the one it replaces.
    pub(super) fn record_certificate(&mut self, name: &str, serial: Option<&str>) {
        let Some(serial) = serial else {
            self.forget_host_certificates(name);
            return;
        };
        let previous = self
            .host_certificates
            .insert(name.to_string(), serial.to_string());
        if self.renewed_certificates.get(name).map(String::as_str) == Some(serial) {
            self.renewed_certificates.remove(name);
            if let Some(old) = previous.filter(|old| old != serial) {
                self.revoked_certificates.insert(old);
            }
        }
    }

    /// Host `name`'s agent renewed the certificate of serial `presented` and got the one of
    /// `serial`. Renewing with the previous renewal shows the agent holds it: it becomes the
    /// host's certificate (the one it replaced is revoked). Renewing with the host's
    /// certificate again means the previous renewal never reached the agent: it is revoked.
    /// So at most two serials open sessions for a host, and none the agent lost.
    pub(super) fn certificate_renewed(&mut self, name: &str, presented: &str, serial: &str) {
        match self.renewed_certificates.get(name).cloned() {
            Some(renewed) if renewed == presented => {
                if let Some(old) = self
                    .host_certificates
                    .insert(name.to_string(), renewed)
                    .filter(|old| old != presented)
                {
                    self.revoked_certificates.insert(old);
                }
            }
            Some(lost) => {
                self.revoked_certificates.insert(lost);
            }
            None => {}
        }
        self.renewed_certificates
            .insert(name.to_string(), serial.to_string());
    }

    /// Whether host `name`'s agent may open a session with the certificate of `serial`: the
    /// one in force, a renewed one, or any while the host has none.
    pub fn certificate_in_force(&self, name: &str, serial: &str) -> bool {
        match self.host_certificates.get(name) {
            None => true,
            Some(bound) => {
                bound == serial
                    || self.renewed_certificates.get(name).map(String::as_str) == Some(serial)
            }
        }
    }

    /// Revokes the certificates of host `name`'s agent (it was deregistered).
    pub(super) fn revoke_host_certificate(&mut self, name: &str) {
        let serials = [
            self.host_certificates.remove(name),
            self.renewed_certificates.remove(name),
        ];
        self.revoked_certificates
            .extend(serials.into_iter().flatten());
    }

    /// Forgets host `name`'s certificates without revoking them (the host was reaped).
    pub(super) fn forget_host_certificates(&mut self, name: &str) {
        self.host_certificates.remove(name);
        self.renewed_certificates.remove(name);
    }

    /// Replaces the join secret of `role` (`agent` or `master`): tokens with the old one no
    /// longer join.
    pub(super) fn rotate_join_secret(&mut self, role: &str, secret: &Secret) -> CommandResult {
        let secret = secret.0.as_str();
        let Some(pki) = self.pki.as_mut() else {
            return CommandResult::PkiMissing;
        };
        match role {
            "agent" => pki.agent_secret = secret.to_string(),
            "master" => pki.master_secret = secret.to_string(),
            _ => return CommandResult::PkiMissing,
        }
        CommandResult::Ok
    }
}
