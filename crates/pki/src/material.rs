//! A holder's TLS material for the cluster port: its private key, its certificate chain (its
//! certificate, then the CA's) and the CA certificate, kept in `<dir>/tls/` (mode 0700, files
//! 0600), and the TLS settings made from them. `material.json` holds all three and is
//! replaced in one rename, so a crash leaves the old material or the new, never a key of one
//! and a certificate of the other; `key.pem`, `cert.pem` and `ca.pem` beside it are copies
//! for the operator's tools (read only when there is no `material.json`, as written by
//! earlier versions).

use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::PkiError;
use crate::authority::BACKDATE;
use crate::identity::Identity;

/// The subdirectory of a data or state directory that holds the material.
pub const TLS_DIR: &str = "tls";

/// The file in [`TLS_DIR`] that holds the whole material.
const BUNDLE: &str = "material.json";

/// A key, its certificate chain and the CA, PEM.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Material {
    /// The private key (secret).
    pub key_pem: String,
    /// The certificate, then the CA's.
    pub chain_pem: String,
    /// The CA certificate.
    pub ca_pem: String,
}

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Material")
            .field("chain_pem", &self.chain_pem)
            .field("key_pem", &"<secret>")
            .finish()
    }
}

fn files(dir: &Path) -> [PathBuf; 3] {
    let tls = dir.join(TLS_DIR);
    [
        tls.join("key.pem"),
        tls.join("cert.pem"),
        tls.join("ca.pem"),
    ]
}

impl Material {
    /// The material kept in `dir`, `None` when there is none yet.
    pub fn load(dir: &Path) -> Result<Option<Material>, PkiError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .map_err(|e| PkiError::Files(format!("cannot read {}: {e}", p.display())))
        };
        let bundle = dir.join(TLS_DIR).join(BUNDLE);
        let [key, chain, ca] = files(dir);
        let material = if bundle.exists() {
            serde_json::from_str(&read(&bundle)?)
                .map_err(|e| PkiError::Files(format!("{} is damaged: {e}", bundle.display())))?
        } else if key.exists() {
            Material {
                key_pem: read(&key)?,
                chain_pem: read(&chain)?,
                ca_pem: read(&ca)?,
            }
        } else {
            return Ok(None);
        };
        material.identity()?;
        // Also a key that matches the certificate (rustls checks), or an error now.
        material.server_config()?;
        Ok(Some(material))
    }

    /// Writes the material to `dir`: `material.json` whole, then renamed into place and
    /// synced, after the PEM copies (the key only its owner can read).
    pub fn save(&self, dir: &Path) -> Result<(), PkiError> {
        let tls = dir.join(TLS_DIR);
        let failed = |p: &Path, e: std::io::Error| {
            PkiError::Files(format!("cannot write {}: {e}", p.display()))
        };
        std::fs::create_dir_all(&tls).map_err(|e| failed(&tls, e))?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tls, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| failed(&tls, e))?;
        }
        let [key, chain, ca] = files(dir);
        for (path, text) in [
            (&ca, &self.ca_pem),
            (&chain, &self.chain_pem),
            (&key, &self.key_pem),
        ] {
            write_private(path, text.as_bytes())?;
        }
        let json = serde_json::to_vec(self)
            .map_err(|e| PkiError::Files(format!("cannot encode the material: {e}")))?;
        write_private(&tls.join(BUNDLE), &json)?;
        std::fs::File::open(&tls)
            .and_then(|d| d.sync_all())
            .map_err(|e| failed(&tls, e))
    }

    /// The holder's certificate, DER.
    pub fn leaf(&self) -> Result<CertificateDer<'static>, PkiError> {
        CertificateDer::from_pem_slice(self.chain_pem.as_bytes())
            .map_err(|e| PkiError::Certificate(format!("cannot read the certificate: {e}")))
    }

    /// Who the certificate names.
    pub fn identity(&self) -> Result<Identity, PkiError> {
        Identity::of(self.leaf()?.as_ref())
    }

    /// The cluster port's server settings: this certificate, and client certificates checked
    /// against the CA (signature and expiry) when sent. Enrollment comes without one; every
    /// other service requires one, see the master's checks.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, PkiError> {
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            PkiError::Certificate(format!("TLS settings of the cluster port: {what}: {e}"))
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            let ca = ca.map_err(|e| bad("the CA certificate", &e))?;
            roots.add(ca).map_err(|e| bad("the CA certificate", &e))?;
        }
        let clients = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .allow_unauthenticated()
        .build()
        .map_err(|e| bad("client verifier", &e))?;
        let chain = CertificateDer::pem_slice_iter(self.chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("the certificate chain", &e))?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| bad("the private key", &e))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("protocol versions", &e))?
            .with_client_cert_verifier(clients)
            .with_single_cert(chain, key)
            .map_err(|e| bad("the certificate and key", &e))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }

    /// When the certificate is valid from (when it was issued) and until.
    pub fn validity(&self) -> Result<(SystemTime, SystemTime), PkiError> {
        let leaf = self.leaf()?;
        let (_, cert) = X509Certificate::from_der(leaf.as_ref())
            .map_err(|e| PkiError::Certificate(format!("cannot read the certificate: {e}")))?;
        let at = |t: x509_parser::time::ASN1Time| {
            UNIX_EPOCH + Duration::from_secs(u64::try_from(t.timestamp()).unwrap_or(0))
        };
        let validity = cert.validity();
        Ok((at(validity.not_before) + BACKDATE, at(validity.not_after)))
    }

    /// When to renew the certificate: at a random point between half and three quarters of
    /// its lifetime (as Swarm does), so that a fleet enrolled together does not renew at once.
    pub fn renewal_due(&self) -> Result<SystemTime, PkiError> {
        let (issued, expires) = self.validity()?;
        let lifetime = expires.duration_since(issued).unwrap_or_default();
        let share = rand::random_range(0.5..0.75);
        Ok(issued + lifetime.mul_f64(share))
    }

    /// Settings of a connection to the cluster port of `host` (a name or IP address the
    /// master's certificate holds), with this certificate.
    pub fn client_tls(&self, host: &str) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .identity(tonic::transport::Identity::from_pem(
                &self.chain_pem,
                &self.key_pem,
            ))
            .domain_name(host.trim_start_matches('[').trim_end_matches(']'))
    }
}

/// Writes `bytes` to `path` so that only its owner can read it (mode 0600): whole into a
/// temporary file beside it, synced, then renamed into place, so a crash leaves the old file
/// or the new one.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let failed =
        |p: &Path, e: std::io::Error| PkiError::Files(format!("cannot write {}: {e}", p.display()));
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| failed(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| failed(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| failed(path, e))
}

/// The host part of `host:port` (brackets of an IPv6 address removed).
pub fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    use super::*;
    use crate::authority::{Authority, key_and_request};
    use crate::identity::Role;

    #[test]
    fn material_round_trips_and_only_its_owner_reads_the_key() {
        let ca = Authority::create("c-1").unwrap();
        let (key_pem, csr) = key_and_request("m1").unwrap();
        let cert = ca
            .issue(
                &csr,
                Role::Master,
                "m1",
                &[],
                "c-1",
                Duration::from_secs(60),
            )
            .unwrap();
        let material = Material {
            key_pem,
            chain_pem: format!("{cert}{}", ca.cert_pem),
            ca_pem: ca.cert_pem.clone(),
        };
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Material::load(dir.path()).unwrap(), None);
        material.save(dir.path()).unwrap();
        assert_eq!(Material::load(dir.path()).unwrap(), Some(material.clone()));
        let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dir.path().join("tls")), 0o700);
        assert_eq!(mode(dir.path().join("tls/key.pem")), 0o600);
        assert_eq!(material.identity().unwrap().name, "m1");
        assert!(!format!("{material:?}").contains("PRIVATE KEY"));
        assert_eq!(host_of("[::1]:5802"), "::1");
        assert_eq!(host_of("m1.example:5802"), "m1.example");
    }
}
