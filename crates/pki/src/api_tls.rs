//! TLS of the HTTP API (REST and gRPC) from the operator's files (issue 13): `--tls-cert`
//! (the chain, PEM), `--tls-key` and, optionally, `--tls-ca`, which makes the port require
//! client certificates signed by it. The files are read again when they change (a renewed
//! certificate, a rotated CA), without a restart: [`watch`] hands the new settings to
//! [`crate::serving::incoming`], and a change that cannot be read keeps the settings in use.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::watch;

use crate::PkiError;

/// How often the files are looked at (a change is used once it stayed for one look).
const POLL: Duration = Duration::from_secs(2);

/// The operator's TLS files of the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain, PEM.
    pub cert: PathBuf,
    /// Its private key, PEM.
    pub key: PathBuf,
    /// The CA that signs client certificates; when set, clients must show one.
    pub ca: Option<PathBuf>,
}

fn read(path: &Path) -> Result<Vec<u8>, PkiError> {
    std::fs::read(path).map_err(|e| PkiError::Files(format!("cannot read {}: {e}", path.display())))
}

/// The certificates in a PEM file, at least one.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs = CertificateDer::pem_slice_iter(&read(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::Files(format!("{}: not PEM certificates: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(PkiError::Files(format!(
            "{} holds no certificate",
            path.display()
        )));
    }
    Ok(certs)
}

impl TlsFiles {
    /// The server settings the files make now: HTTP/2 (gRPC) and HTTP/1.1 offered.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, PkiError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let chain = certificates(&self.cert)?;
        let key = PrivateKeyDer::from_pem_slice(&read(&self.key)?).map_err(|e| {
            PkiError::Files(format!(
                "{}: not a PEM private key: {e}",
                self.key.display()
            ))
        })?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| PkiError::Certificate(e.to_string()))?;
        let builder = match &self.ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in certificates(ca)? {
                    roots.add(cert).map_err(|e| {
                        PkiError::Files(format!("{}: not a CA certificate: {e}", ca.display()))
                    })?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| PkiError::Certificate(format!("{}: {e}", ca.display())))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|e| {
            PkiError::Files(format!(
                "{} and {} do not make a certificate and its key: {e}",
                self.cert.display(),
                self.key.display()
            ))
        })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// When each file last changed (and its size), to notice a replacement.
    fn stamp(&self) -> Vec<Option<(SystemTime, u64)>> {
        [Some(&self.cert), Some(&self.key), self.ca.as_ref()]
            .into_iter()
            .flatten()
            .map(|p| {
                std::fs::metadata(p)
                    .ok()
                    .and_then(|m| Some((m.modified().ok()?, m.len())))
            })
            .collect()
    }

    /// The settings the files make now, then again each time they change (looked at every
    /// two seconds), until the receiver is dropped. Fails when the files cannot be used now.
    pub fn watch(self) -> Result<watch::Receiver<Arc<ServerConfig>>, PkiError> {
        let (tx, rx) = watch::channel(self.server_config()?);
        tokio::spawn(async move {
            let mut seen = self.stamp();
            let mut last = seen.clone();
            loop {
                tokio::select! {
                    () = tokio::time::sleep(POLL) => {}
                    () = tx.closed() => return,
                }
                // Read again once a change has settled (the same for a whole poll), so that a
                // file caught half written is not served.
                let now = self.stamp();
                let settled = now == last;
                last = now.clone();
                if now == seen || !settled {
                    continue;
                }
                seen = now;
                match self.server_config() {
                    Ok(config) => {
                        tracing::info!(cert = %self.cert.display(), "the HTTP API's TLS files changed; new connections use them");
                        let _ = tx.send(config);
                    }
                    Err(e) => tracing::warn!(
                        "the HTTP API's TLS files changed but cannot be used ({e}); keeping the ones in use"
                    ),
                }
            }
        });
        Ok(rx)
    }
}
