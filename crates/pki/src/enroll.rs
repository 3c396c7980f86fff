//! Getting a certificate with a join token: the client side of the masters' `Enrollment`
//! service (`proto/agent.proto`).
//!
//! The joiner has no certificate and does not know the CA yet, so its connection trusts a
//! server whose certificate chain holds a CA with the token's fingerprint and whose
//! certificate that CA signed (see [`PinnedCa`]); over it, it asks for the CA and for a
//! certificate of a key it made itself.

use std::sync::Arc;
use std::time::Duration;

use helios_api::pb::enrollment_client::EnrollmentClient;
use helios_api::pb::{GetCaRequest, IssueRequest, RenewRequest};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use tonic::transport::Endpoint;

use crate::authority::{fingerprint, hex, key_and_request};
use crate::join_token::JoinToken;
use crate::material::{Material, host_of};

/// Trusts a server whose chain holds the CA with this fingerprint, and whose certificate that
/// CA signed for the name connected to.
#[derive(Debug)]
struct PinnedCa {
    fingerprint: String,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| hex(&Sha256::digest(c.as_ref())) == self.fingerprint)
            .ok_or_else(|| {
                rustls::Error::General(
                    "the master's certificate chain holds no CA with the join token's \
                     fingerprint (a token of another cluster?)"
                        .into(),
                )
            })?;
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.clone().into_owned())
            .map_err(|e| rustls::Error::General(format!("bad CA certificate: {e}")))?;
        rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            self.provider.clone(),
        )
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?
        .verify_server_cert(end_entity, &[], server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Asks the master at `addr` (its cluster address) for a certificate named `name`, valid also
/// for `sans`, with `token`; answers the new material (the key made here).
pub async fn enroll(
    addr: &str,
    token: &JoinToken,
    name: &str,
    sans: &[String],
) -> anyhow::Result<Material> {
    use anyhow::Context;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS settings")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCa {
            fingerprint: token.ca_fingerprint.clone(),
            provider,
        }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let server_name = ServerName::try_from(host_of(addr).to_string())
        .with_context(|| format!("{addr:?} is not a host name or address"))?;
    let target = addr.to_string();
    let connect = tower::service_fn(move |_: tonic::transport::Uri| {
        let (connector, server_name, target) =
            (connector.clone(), server_name.clone(), target.clone());
        async move {
            let tcp = tokio::net::TcpStream::connect(&target).await?;
            let tls = connector.connect(server_name, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .context("bad master address")?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect_with_connector(connect)
        .await
        .with_context(|| format!("cannot reach the master at {addr} over TLS"))?;
    let mut client = EnrollmentClient::new(channel);
    let ca_pem = client
        .get_ca(GetCaRequest {})
        .await
        .with_context(|| format!("asking {addr} for the cluster's CA"))?
        .into_inner()
        .ca_pem;
    anyhow::ensure!(
        fingerprint(&ca_pem)? == token.ca_fingerprint,
        "the CA of the master at {addr} does not have the join token's fingerprint"
    );
    let (key_pem, csr_pem) = key_and_request(name)?;
    let reply = client
        .issue(IssueRequest {
            join_token: token.to_string(),
            name: name.to_string(),
            sans: sans.to_vec(),
            csr_pem,
        })
        .await
        .map_err(|s| {
            anyhow::anyhow!(
                "the master at {addr} refused a certificate: {}",
                s.message()
            )
        })?
        .into_inner();
    anyhow::ensure!(
        fingerprint(&reply.ca_pem)? == token.ca_fingerprint,
        "the master at {addr} answered a CA without the join token's fingerprint"
    );
    let material = Material {
        key_pem,
        chain_pem: reply.chain_pem,
        ca_pem: reply.ca_pem,
    };
    let id = material.identity()?;
    anyhow::ensure!(
        id.role == token.role && id.name == name,
        "the master issued a certificate for {id}, not for {} {name:?}",
        token.role
    );
    Ok(material)
}

/// Asks the master at `addr` (its cluster address) for a new certificate, with the same role
/// and name, of a key made here, showing the certificate of `current` (still valid); answers
/// the new material. The cluster port's mutual TLS is the proof: no join token is needed.
pub async fn renew(addr: &str, current: &Material) -> anyhow::Result<Material> {
    use anyhow::Context;
    let before = current.identity()?;
    let channel = Endpoint::from_shared(format!("https://{addr}"))
        .context("bad master address")?
        .tls_config(current.client_tls(host_of(addr)))
        .context("TLS settings")?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .with_context(|| format!("cannot reach the master at {addr} over TLS"))?;
    let (key_pem, csr_pem) = key_and_request(&before.name)?;
    let reply = EnrollmentClient::new(channel)
        .renew(RenewRequest { csr_pem })
        .await
        .map_err(|s| {
            anyhow::anyhow!(
                "the master at {addr} refused to renew the certificate: {}",
                s.message()
            )
        })?
        .into_inner();
    anyhow::ensure!(
        reply.ca_pem == current.ca_pem,
        "the master at {addr} answered another CA"
    );
    let material = Material {
        key_pem,
        chain_pem: reply.chain_pem,
        ca_pem: reply.ca_pem,
    };
    let after = material.identity()?;
    anyhow::ensure!(
        after.role == before.role && after.name == before.name,
        "the master renewed {before} as {after}"
    );
    Ok(material)
}
