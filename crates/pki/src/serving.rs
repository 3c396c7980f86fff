//! Serving TLS whose certificate can change while the server runs: each connection is
//! accepted with the settings current at its handshake, so a renewed certificate (or, on the
//! HTTP port, files replaced on disk) takes effect for new connections while the open ones,
//! agent sessions among them, go on undisturbed.
//!
//! [`incoming`] turns a TCP listener into the stream of finished TLS connections that
//! `tonic::transport::Server::serve_with_incoming` takes; tonic then still sees each peer's
//! certificates (`Request::peer_certs`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the same refusal of the same address is logged only once.
const REFUSAL_LOG_PERIOD: Duration = Duration::from_secs(600);

/// Handshakes that may be under way at once; more connections wait to be accepted.
const MAX_HANDSHAKES: usize = 1024;

/// Accepts connections on `listener` with the TLS settings `config` holds at each handshake
/// (`TCP_NODELAY` set); answers the finished connections. Failed handshakes are dropped and
/// logged once per address and reason (a refused peer that retries does not flood the log).
/// The stream ends when `config`'s sender is dropped.
pub fn incoming(
    listener: TcpListener,
    config: watch::Receiver<Arc<ServerConfig>>,
    what: &'static str,
) -> ReceiverStream<std::io::Result<TlsStream<TcpStream>>> {
    let (tx, rx) = mpsc::channel(64);
    let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    let refusals = Arc::new(RefusalLog::default());
    tokio::spawn(async move {
        let mut config = config;
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = tx.closed() => return,
                changed = config.changed() => match changed {
                    Ok(()) => continue,
                    Err(_) => return,
                },
            };
            let (tcp, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!("{what}: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let permit = tokio::select! {
                permit = handshakes.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
                () = tx.closed() => return,
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = tokio_rustls::TlsAcceptor::from(config.borrow().clone());
            let (tx, refusals) = (tx.clone(), refusals.clone());
            tokio::spawn(async move {
                let result = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await;
                drop(permit);
                match result {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    Ok(Err(e)) => refusals.note(what, peer, &e.to_string()),
                    Err(_) => refusals.note(what, peer, "the TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// Remembers which refusals were logged lately, so that each is logged once per
/// [`REFUSAL_LOG_PERIOD`] for each address.
#[derive(Default)]
struct RefusalLog(Mutex<HashMap<(IpAddr, String), Instant>>);

impl RefusalLog {
    fn note(&self, what: &str, peer: SocketAddr, reason: &str) {
        let now = Instant::now();
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 10_000 {
            seen.retain(|_, at| now.duration_since(*at) < REFUSAL_LOG_PERIOD);
            if seen.len() > 10_000 {
                seen.clear();
            }
        }
        // The kind of refusal, without the times and counts some messages carry (an expired
        // certificate's says how long ago), so that a peer retrying is one key.
        let kind: String = reason
            .split(|c: char| c.is_ascii_digit())
            .next()
            .unwrap_or(reason)
            .to_string();
        let key = (peer.ip(), kind);
        match seen.get(&key) {
            Some(at) if now.duration_since(*at) < REFUSAL_LOG_PERIOD => {
                tracing::debug!(%peer, "{what}: refused a TLS connection: {reason}");
            }
            _ => {
                seen.insert(key, now);
                tracing::warn!(%peer, "{what}: refused a TLS connection: {reason} (logged once per address and reason every 10 minutes)");
            }
        }
    }
}
