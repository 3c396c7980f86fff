//! The closed loop: N tokio tasks, each with its own keep-alive HTTP/1.1 connection (hyper's
//! connection-level client, light on CPU) and one `POST /jobs` in flight, each request
//! creating a job with a unique name and a fixed-size body. Completions are counted and their
//! latency recorded in an HDR histogram only inside the measured window, which follows a
//! discarded warm-up. [`KeepAlive`], one such connection, is also the writers' connection of
//! `helios-bench scale`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use crate::probe::{Delta, Probe};

/// How one row is run.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// `http://127.0.0.1:<port>/jobs` of the member the clients talk to.
    pub url: String,
    /// Number of concurrent clients.
    pub clients: usize,
    /// Discarded warm-up before the window.
    pub warmup: Duration,
    /// Length of the measured window.
    pub duration: Duration,
    /// Size of each request body in bytes.
    pub value_size: usize,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Pause after an error before the next request.
    pub error_backoff: Duration,
    /// Prefix making job names unique across runs and rows.
    pub run_id: String,
}

/// What one row measured.
pub struct LoadResult {
    /// Latency of successful creates in the window, microseconds.
    pub latency: Histogram<u64>,
    /// Successful creates completed in the window.
    pub ok: u64,
    /// Failed requests (non-2xx, transport errors, timeouts) completed in the window.
    pub errors: u64,
    /// The last error seen, if any (also outside the window).
    pub last_error: Option<String>,
    /// Length of the window, seconds.
    pub window_s: f64,
    /// CPU and metric changes over the window.
    pub probe: Delta,
}

/// The body of one create: a Helios job without a hash, padded with an env value so that the
/// whole body is `size` bytes (the shape of the anchors load generator's default template).
pub fn job_body(id: &str, size: usize) -> String {
    let head = format!(
        r#"{{"id":"hb{id}:1","image":"busybox:latest","command":["sleep","3600"],"env":{{"PAD":""#
    );
    let tail = r#""}}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    let mut s = String::with_capacity(head.len() + pad + tail.len());
    s.push_str(&head);
    s.extend(std::iter::repeat_n('x', pad));
    s.push_str(tail);
    s
}

/// Shared by the controller and the clients.
struct Control {
    start: Instant,
    /// Window bounds in µs since `start`; u64::MAX until set.
    from_us: AtomicU64,
    until_us: AtomicU64,
    stop: AtomicBool,
}

impl Control {
    fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn in_window(&self, t: u64) -> bool {
        t >= self.from_us.load(Ordering::Relaxed) && t <= self.until_us.load(Ordering::Relaxed)
    }
}

/// One client's numbers.
struct ClientStats {
    latency: Histogram<u64>,
    ok: u64,
    errors: u64,
    last_error: Option<String>,
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs to 120 s at 3 significant digits, as the anchors load generator.
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

/// One keep-alive HTTP/1.1 connection to the target, as hyper's connection-level client.
type Connection = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// The target's `host:port` and path.
pub fn split_url(url: &str) -> anyhow::Result<(String, String)> {
    let uri: hyper::Uri = url
        .parse()
        .with_context(|| format!("bad target URL {url}"))?;
    let authority = uri
        .authority()
        .with_context(|| format!("no host in {url}"))?
        .to_string();
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    Ok((authority, path))
}

/// Opens a connection to `authority` (`host:port`).
async fn connect(authority: &str) -> Result<Connection, String> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| format!("connect {authority}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Why a request failed.
enum Failure {
    /// The connection broke or could not be used; it is dropped and the next request connects
    /// again.
    Connection(String),
    /// The server answered, with something other than what was asked for.
    Answer(String),
}

/// One request with a JSON body (and an `Idempotency-Key` when given) on `connection`: the
/// status and the whole reply body. Any answer is `Ok`; only transport failures are errors.
async fn request(
    connection: &mut Connection,
    authority: &str,
    method: hyper::Method,
    path: &str,
    body: String,
    idempotency_key: Option<&str>,
) -> Result<(hyper::StatusCode, Bytes), Failure> {
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json");
    if let Some(key) = idempotency_key {
        builder = builder.header("Idempotency-Key", key);
    }
    let request = builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| Failure::Answer(format!("building the request: {e}")))?;
    let transport = |e: hyper::Error| Failure::Connection(format!("transport: {e}"));
    connection.ready().await.map_err(transport)?;
    let resp = connection.send_request(request).await.map_err(transport)?;
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| Failure::Connection(format!("reading reply: {e}")))?
        .to_bytes();
    Ok((status, bytes))
}

/// A keep-alive connection to one member, opened on first use and opened again on the next
/// request after a transport failure or a timeout.
pub struct KeepAlive {
    authority: String,
    connection: Option<Connection>,
    timeout: Duration,
}

impl KeepAlive {
    /// A connection to `authority` (`host:port`), each request bounded by `timeout`.
    pub fn new(authority: String, timeout: Duration) -> KeepAlive {
        KeepAlive {
            authority,
            connection: None,
            timeout,
        }
    }

    /// One request (see [`request`]): the status and body of any answer, or why there was
    /// none.
    pub async fn send(
        &mut self,
        method: hyper::Method,
        path: &str,
        body: String,
        idempotency_key: Option<&str>,
    ) -> Result<(hyper::StatusCode, Bytes), String> {
        let conn = match &mut self.connection {
            Some(conn) => conn,
            None => self.connection.insert(connect(&self.authority).await?),
        };
        let sent = request(conn, &self.authority, method, path, body, idempotency_key);
        match tokio::time::timeout(self.timeout, sent).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(Failure::Answer(e))) => Err(e),
            Ok(Err(Failure::Connection(e))) => {
                self.connection = None;
                Err(e)
            }
            Err(_) => {
                self.connection = None;
                Err(format!("timed out after {:?}", self.timeout))
            }
        }
    }
}

/// Whether a `POST /jobs` answer says the job was created (200 with status OK).
fn created(status: hyper::StatusCode, body: &[u8]) -> Result<(), String> {
    if status.is_success() && body.windows(4).any(|w| w == b"\"OK\"") {
        Ok(())
    } else {
        Err(format!(
            "{status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ))
    }
}

async fn client_loop(
    index: usize,
    spec: Arc<LoadSpec>,
    ctl: Arc<Control>,
) -> anyhow::Result<ClientStats> {
    // Each task keeps its own keep-alive connection, with one request in flight; a transport
    // error or timeout drops it and the next request connects again.
    let (authority, path) = split_url(&spec.url)?;
    let mut connection = KeepAlive::new(authority, spec.request_timeout);
    let mut st = ClientStats {
        latency: new_histogram(),
        ok: 0,
        errors: 0,
        last_error: None,
    };
    let mut seq = 0u64;
    while !ctl.stop.load(Ordering::Relaxed) {
        seq += 1;
        let id = format!("{}-n{}-c{index}-{seq}", spec.run_id, spec.clients);
        let body = job_body(&id, spec.value_size);
        let t0 = Instant::now();
        let res = connection
            .send(hyper::Method::POST, &path, body, None)
            .await
            .and_then(|(status, bytes)| created(status, &bytes));
        let elapsed = t0.elapsed();
        let in_window = ctl.in_window(ctl.now_us());
        match res {
            Ok(()) => {
                if in_window {
                    st.latency.saturating_record(elapsed.as_micros() as u64);
                    st.ok += 1;
                }
            }
            Err(e) => {
                if in_window {
                    st.errors += 1;
                }
                st.last_error = Some(e);
                tokio::time::sleep(spec.error_backoff).await;
            }
        }
    }
    Ok(st)
}

/// Runs one row: starts the clients, discards the warm-up, samples `probe` around the
/// measured window, then stops the clients and merges their numbers.
pub async fn run(spec: LoadSpec, probe: &Probe) -> anyhow::Result<LoadResult> {
    let spec = Arc::new(spec);
    let ctl = Arc::new(Control {
        start: Instant::now(),
        from_us: AtomicU64::new(u64::MAX),
        until_us: AtomicU64::new(u64::MAX),
        stop: AtomicBool::new(false),
    });
    let tasks: Vec<_> = (0..spec.clients)
        .map(|i| tokio::spawn(client_loop(i, spec.clone(), ctl.clone())))
        .collect();

    tokio::time::sleep(spec.warmup).await;
    let before = probe.sample().await;
    let from = ctl.now_us();
    ctl.from_us.store(from, Ordering::Relaxed);
    tokio::time::sleep(spec.duration).await;
    let until = ctl.now_us();
    ctl.until_us.store(until, Ordering::Relaxed);
    let after = probe.sample().await;
    ctl.stop.store(true, Ordering::Relaxed);

    let mut latency = new_histogram();
    let (mut ok, mut errors, mut last_error) = (0, 0, None);
    for task in tasks {
        let st = task.await.context("client task panicked")??;
        latency.add(&st.latency).expect("same histogram bounds");
        ok += st.ok;
        errors += st.errors;
        if st.last_error.is_some() {
            last_error = st.last_error;
        }
    }
    Ok(LoadResult {
        latency,
        ok,
        errors,
        last_error,
        window_s: (until - from) as f64 / 1e6,
        probe: after.since(&before),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_requested_size_and_is_a_job() {
        let b = job_body("r1-n16-c3-42", 300);
        assert_eq!(b.len(), 300);
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["id"], "hbr1-n16-c3-42:1");
        assert_eq!(v["image"], "busybox:latest");
    }
}
