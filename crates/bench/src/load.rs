//! The closed loop: N tokio tasks, each with its own connection (a keep-alive HTTP/1.1
//! connection through hyper's connection-level client, light on CPU, or a ZooKeeper session)
//! and one write in flight, each write with a unique id and a fixed-size record. Completions
//! are counted and their latency recorded in an HDR histogram only inside the measured window,
//! which follows a discarded warm-up.
//!
//! The same loop drives our masters (`POST /jobs`) and the reference systems of
//! `helios-bench compare` (etcd's `POST /v3/kv/put`, ZooKeeper's `create`), as the anchors
//! load generator (`../shared/bench/loadgen`) does: a transport error or a timeout drops the
//! connection and moves the client to the next endpoint; an error answer is retried after a
//! pause. With a [`Fault`] it also keeps every success's time and measures the recovery.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use zookeeper_client as zk;

use crate::failover::recovery_ms;
use crate::probe::{Delta, Probe};

/// What each write is, and which system it goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// `POST /jobs` of a Helios job to our masters; success is 200 with `"OK"`.
    HeliosJobs,
    /// `POST /v3/kv/put` to etcd's JSON gateway (base64 key and value); success is 2xx.
    EtcdPut,
    /// ZooKeeper `create` of a persistent znode holding the record.
    ZooKeeperCreate,
}

/// How one row is run.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// What is written.
    pub workload: Workload,
    /// `host:port` of the members to write to: every client starts at the first and moves to
    /// the next after a transport error or a timeout.
    pub endpoints: Vec<String>,
    /// Number of concurrent clients.
    pub clients: usize,
    /// Discarded warm-up before the window.
    pub warmup: Duration,
    /// Length of the measured window.
    pub duration: Duration,
    /// Size of each record (request body) in bytes.
    pub value_size: usize,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Pause after an error before the next request.
    pub error_backoff: Duration,
    /// Prefix making write ids unique across runs and rows.
    pub run_id: String,
}

/// A fault injected into the measured window, and measured: `inject` runs `at` into it.
pub struct Fault<'a> {
    /// When, from the start of the window.
    pub at: Duration,
    /// What to do (e.g. `kill -9` of the leader).
    pub inject: Box<dyn FnOnce() + 'a>,
}

/// How writes came back after a [`Fault`].
#[derive(Clone, Copy, Debug)]
pub struct Recovery {
    /// Fault to the end of the longest gap between successes after it, ms (None: no write
    /// succeeded after the fault).
    pub recovery_ms: Option<f64>,
    /// Successful writes after the fault.
    pub successes_after: usize,
}

/// What one row measured.
pub struct LoadResult {
    /// Latency of successful writes in the window, microseconds.
    pub latency: Histogram<u64>,
    /// Successful writes completed in the window.
    pub ok: u64,
    /// Failed requests (error answers, transport errors, timeouts) completed in the window.
    pub errors: u64,
    /// The last error seen, if any (also outside the window).
    pub last_error: Option<String>,
    /// Length of the window, seconds.
    pub window_s: f64,
    /// CPU and metric changes over the window.
    pub probe: Delta,
    /// With a fault: how writes recovered.
    pub recovery: Option<Recovery>,
}

/// The body of one create: a Helios job without a hash, padded with an env value so that the
/// whole body is `size` bytes (the shape of the anchors load generator's default template).
/// The reference systems store the same bytes as their value.
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

/// The znode every ZooKeeper write of a run goes under.
fn zk_parent(run_id: &str) -> String {
    format!("/helios-bench/{run_id}")
}

/// Shared by the controller and the clients.
struct Control {
    start: Instant,
    /// Window bounds in µs since `start`; u64::MAX until set.
    from_us: AtomicU64,
    until_us: AtomicU64,
    stop: AtomicBool,
    /// Keep the time of every success (for a fault's recovery).
    keep_successes: bool,
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
    /// Completion times of successes, µs since the start (only with a fault).
    successes: Vec<u64>,
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs to 120 s at 3 significant digits, as the anchors load generator.
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

/// One keep-alive HTTP/1.1 connection to the target, as hyper's connection-level client.
type HttpConnection = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect_http(authority: &str) -> Result<HttpConnection, Failure> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| Failure::Connection(format!("connect {authority}: {e}")))?;
    stream
        .set_nodelay(true)
        .map_err(|e| Failure::Connection(e.to_string()))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Failure::Connection(format!("handshake: {e}")))?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn connect_zk(endpoints: &[String]) -> Result<zk::Client, Failure> {
    let cluster = endpoints.join(",");
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .connect(&cluster)
        .await
        .map_err(|e| Failure::Connection(format!("zookeeper connect {cluster}: {e}")))
}

/// Why a write failed.
enum Failure {
    /// The connection broke or could not be used; it is dropped and the client moves to the
    /// next endpoint.
    Connection(String),
    /// The server answered, with an error.
    Answer(String),
}

/// One client's connection: HTTP to one endpoint, or a ZooKeeper session (which moves between
/// the endpoints by itself).
enum Conn {
    Http(HttpConnection),
    Zk(zk::Client),
}

/// One client: where it writes, and its connection while it has one.
struct Client {
    spec: Arc<LoadSpec>,
    endpoint: usize,
    conn: Option<Conn>,
}

impl Client {
    /// Drops the connection and moves on to the next endpoint.
    fn abandon(&mut self) {
        self.conn = None;
        self.endpoint = (self.endpoint + 1) % self.spec.endpoints.len();
    }

    async fn connection(&mut self) -> Result<&mut Conn, Failure> {
        if self.conn.is_none() {
            let conn = match self.spec.workload {
                Workload::HeliosJobs | Workload::EtcdPut => {
                    Conn::Http(connect_http(&self.spec.endpoints[self.endpoint]).await?)
                }
                Workload::ZooKeeperCreate => {
                    Conn::Zk(connect_zk(&self.spec.endpoints[self.endpoint..]).await?)
                }
            };
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("just connected"))
    }

    /// Writes the record of `id`.
    async fn write(&mut self, id: &str) -> Result<(), Failure> {
        // The spec outlives the borrow of `self` that the connection takes.
        let spec = self.spec.clone();
        let record = job_body(id, spec.value_size);
        let workload = spec.workload;
        let authority = &spec.endpoints[self.endpoint];
        match self.connection().await? {
            Conn::Http(sender) => {
                let (path, body) = match workload {
                    Workload::EtcdPut => (
                        "/v3/kv/put",
                        serde_json::json!({
                            "key": BASE64.encode(format!("/helios-bench/{id}")),
                            "value": BASE64.encode(&record),
                        })
                        .to_string(),
                    ),
                    _ => ("/jobs", record),
                };
                let (status, reply) =
                    request(sender, authority, hyper::Method::POST, path, body, None).await?;
                let ok = status.is_success()
                    && match workload {
                        Workload::HeliosJobs => reply.windows(4).any(|w| w == b"\"OK\""),
                        _ => reply.windows(8).any(|w| w == b"\"header\""),
                    };
                if ok {
                    Ok(())
                } else {
                    Err(Failure::Answer(format!(
                        "{status}: {}",
                        String::from_utf8_lossy(&reply[..reply.len().min(200)])
                    )))
                }
            }
            Conn::Zk(client) => {
                let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
                let path = format!("{}/{id}", zk_parent(&spec.run_id));
                client
                    .create(&path, record.as_bytes(), &options)
                    .await
                    .map(|_| ())
                    .map_err(|e| match e {
                        // The session is over for good: drop it and open a new one.
                        zk::Error::SessionExpired
                        | zk::Error::ClientClosed
                        | zk::Error::NoHosts => Failure::Connection(format!("create {path}: {e}")),
                        // The session reconnects by itself: "retry later".
                        e => Failure::Answer(format!("create {path}: {e}")),
                    })
            }
        }
    }
}

/// One request with a JSON body (and an `Idempotency-Key` when given) on `sender`: the status
/// and the whole reply body. Any answer is `Ok`; only transport failures are errors.
async fn request(
    sender: &mut HttpConnection,
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
    sender.ready().await.map_err(transport)?;
    let resp = sender.send_request(request).await.map_err(transport)?;
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| Failure::Connection(format!("reading reply: {e}")))?
        .to_bytes();
    Ok((status, bytes))
}

/// The `host:port` and path of a URL.
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

/// A keep-alive connection to one member, opened on first use and opened again on the next
/// request after a transport failure or a timeout: the writers' connection of
/// `helios-bench scale`.
pub struct KeepAlive {
    authority: String,
    connection: Option<HttpConnection>,
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
        let failure = |f: Failure| match f {
            Failure::Connection(e) | Failure::Answer(e) => e,
        };
        let conn = match &mut self.connection {
            Some(conn) => conn,
            None => self
                .connection
                .insert(connect_http(&self.authority).await.map_err(failure)?),
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

async fn client_loop(index: usize, spec: Arc<LoadSpec>, ctl: Arc<Control>) -> ClientStats {
    let mut client = Client {
        spec: spec.clone(),
        endpoint: 0,
        conn: None,
    };
    let mut st = ClientStats {
        latency: new_histogram(),
        ok: 0,
        errors: 0,
        last_error: None,
        successes: Vec::new(),
    };
    let mut seq = 0u64;
    while !ctl.stop.load(Ordering::Relaxed) {
        seq += 1;
        let id = format!("{}-n{}-c{index}-{seq}", spec.run_id, spec.clients);
        let t0 = Instant::now();
        let res = match tokio::time::timeout(spec.request_timeout, client.write(&id)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Failure::Answer(e))) => Err(e),
            Ok(Err(Failure::Connection(e))) => {
                client.abandon();
                Err(e)
            }
            Err(_) => {
                // A ZooKeeper session moves by itself; an HTTP client moves on.
                if !matches!(client.conn, Some(Conn::Zk(_))) {
                    client.abandon();
                }
                Err(format!("timed out after {:?}", spec.request_timeout))
            }
        };
        let elapsed = t0.elapsed();
        let now = ctl.now_us();
        let in_window = ctl.in_window(now);
        match res {
            Ok(()) => {
                if in_window {
                    st.latency.saturating_record(elapsed.as_micros() as u64);
                    st.ok += 1;
                }
                if ctl.keep_successes {
                    st.successes.push(now);
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
    st
}

/// Creates what every write of the run needs (ZooKeeper: the parent znode).
async fn prepare(spec: &LoadSpec) -> anyhow::Result<()> {
    if spec.workload == Workload::ZooKeeperCreate {
        let client = match connect_zk(&spec.endpoints).await {
            Ok(c) => c,
            Err(Failure::Connection(e) | Failure::Answer(e)) => anyhow::bail!(e),
        };
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        client
            .mkdir(&zk_parent(&spec.run_id), &options)
            .await
            .context("cannot create the parent znode")?;
    }
    Ok(())
}

/// Runs one row: starts the clients, discards the warm-up, samples `probe` around the
/// measured window (injecting `fault` into it, if given), then stops the clients and merges
/// their numbers.
pub async fn run(
    spec: LoadSpec,
    probe: &Probe,
    fault: Option<Fault<'_>>,
) -> anyhow::Result<LoadResult> {
    anyhow::ensure!(!spec.endpoints.is_empty(), "no endpoints to write to");
    prepare(&spec).await?;
    let spec = Arc::new(spec);
    let ctl = Arc::new(Control {
        start: Instant::now(),
        from_us: AtomicU64::new(u64::MAX),
        until_us: AtomicU64::new(u64::MAX),
        stop: AtomicBool::new(false),
        keep_successes: fault.is_some(),
    });
    let tasks: Vec<_> = (0..spec.clients)
        .map(|i| tokio::spawn(client_loop(i, spec.clone(), ctl.clone())))
        .collect();

    tokio::time::sleep(spec.warmup).await;
    let before = probe.sample().await;
    let from = ctl.now_us();
    ctl.from_us.store(from, Ordering::Relaxed);
    let mut fault_us = None;
    if let Some(fault) = fault {
        let at = fault.at.min(spec.duration);
        tokio::time::sleep(at).await;
        // The clock starts at the kill, not when the killed process has been reaped.
        fault_us = Some(ctl.now_us());
        (fault.inject)();
        tokio::time::sleep(spec.duration - at).await;
    } else {
        tokio::time::sleep(spec.duration).await;
    }
    let until = ctl.now_us();
    ctl.until_us.store(until, Ordering::Relaxed);
    let after = probe.sample().await;
    ctl.stop.store(true, Ordering::Relaxed);

    let mut latency = new_histogram();
    let (mut ok, mut errors, mut last_error) = (0, 0, None);
    let mut successes = Vec::new();
    for task in tasks {
        let st = task.await.context("client task panicked")?;
        latency.add(&st.latency).expect("same histogram bounds");
        ok += st.ok;
        errors += st.errors;
        if st.last_error.is_some() {
            last_error = st.last_error;
        }
        successes.extend(st.successes);
    }
    let recovery = fault_us.map(|at| Recovery {
        successes_after: successes.iter().filter(|&&t| t > at).count(),
        recovery_ms: recovery_ms(&mut successes, at),
    });
    Ok(LoadResult {
        latency,
        ok,
        errors,
        last_error,
        window_s: (until - from) as f64 / 1e6,
        probe: after.since(&before),
        recovery,
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
