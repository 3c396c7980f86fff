//! The HTTP port over TLS (`--tls-cert`, `--tls-key`, `--tls-ca`; issue 13): the listener that
//! accepts TLS connections with the settings current at each handshake (the files are read
//! again when they change, see [`helios_pki::api_tls`]), and how this master reaches the
//! leader's HTTP port with forwarded requests (https, showing its own certificate when
//! `--tls-ca` makes the port require client certificates).

use std::net::SocketAddr;

use anyhow::Context;
use helios_api::http_client::{TlsOptions, TlsOptionsFiles};
use helios_pki::api_tls::TlsFiles;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

/// TLS connections of the HTTP port, for `axum::serve`.
pub struct TlsListener {
    incoming: ReceiverStream<std::io::Result<TlsStream<TcpStream>>>,
    local: SocketAddr,
}

impl TlsListener {
    /// Serves TLS with `files` on `listener` (inside a tokio runtime); fails when the files
    /// cannot be used now.
    pub fn new(listener: TcpListener, files: TlsFiles) -> anyhow::Result<Self> {
        let local = listener.local_addr()?;
        let config = files
            .watch()
            .context("the HTTP API's TLS files (--tls-cert, --tls-key, --tls-ca)")?;
        Ok(TlsListener {
            incoming: helios_pki::serving::incoming(listener, config, "HTTP API"),
            local,
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.incoming.next().await {
                Some(Ok(tls)) => {
                    let peer = tls.get_ref().0.peer_addr().unwrap_or(self.local);
                    return (tls, peer);
                }
                Some(Err(_)) => continue,
                // The acceptor ended (shutdown): no more connections.
                None => std::future::pending().await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// How forwarded requests reach the leader's HTTP port: plain, or https trusting `--tls-ca`
/// (else the system's roots) and showing this master's certificate when there is a CA.
#[derive(Clone, Debug, Default)]
pub struct LeaderTls(Option<TlsFiles>);

impl LeaderTls {
    /// Forwarding as the HTTP port is served: over TLS when `files` are given.
    pub fn new(files: Option<TlsFiles>) -> Self {
        LeaderTls(files)
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        if self.0.is_some() { "https" } else { "http" }
    }

    /// What a reqwest client needs to reach the leader, read now: `--tls-ca` to trust
    /// besides the system's roots, and this master's certificate to show.
    pub fn reqwest(&self) -> anyhow::Result<TlsOptions> {
        let Some(files) = &self.0 else {
            return Ok(TlsOptions::default());
        };
        TlsOptions::load(
            false,
            TlsOptionsFiles {
                ca: files.ca.as_deref(),
                cert: Some(&files.cert),
                key: Some(&files.key),
            },
        )
        .map_err(anyhow::Error::msg)
    }

    /// `endpoint` set up to reach the leader.
    pub fn tonic(
        &self,
        endpoint: tonic::transport::Endpoint,
    ) -> anyhow::Result<tonic::transport::Endpoint> {
        use tonic::transport::{Certificate, ClientTlsConfig, Identity};
        let Some(files) = &self.0 else {
            return Ok(endpoint);
        };
        let read = |p: &std::path::Path| {
            std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
        };
        let tls = match files.ca.as_deref().map(read).transpose()? {
            Some(ca) => {
                let cert = read(&files.cert)?;
                let key = read(&files.key)?;
                ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(ca))
                    .with_native_roots()
                    .identity(Identity::from_pem(cert, key))
            }
            None => ClientTlsConfig::new().with_native_roots(),
        };
        Ok(endpoint.tls_config(tls)?)
    }
}
