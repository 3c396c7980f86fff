//! A fixed set of requests sent through N closed-loop writers, each one request in flight on
//! its own keep-alive connection, retried with the same idempotency key on failure (the
//! benchmarks that fill the masters: `scale`, `footprint`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;

use crate::fleet_protocol::epoch_us;
use crate::load::{KeepAlive, job_body, split_url};

/// One request of a writer.
pub struct Call {
    /// The method.
    pub method: hyper::Method,
    /// Path and query.
    pub path: String,
    /// The body (JSON).
    pub body: String,
    /// Its `Idempotency-Key`, the same on every attempt.
    pub key: String,
}

/// When a request was first sent and when it was acknowledged, epoch µs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timed {
    /// First attempt sent.
    pub sent_us: u64,
    /// Acknowledged.
    pub acked_us: u64,
}

/// What a writer makes of an answer: the value kept, or why it is not accepted.
pub type Accept<T> = dyn Fn(hyper::StatusCode, &Bytes) -> Result<T, String> + Send + Sync;

/// Sends `make(0..n)` through `clients` writers, each one request in flight on its own
/// keep-alive connection to `url`; a failed request is retried (same idempotency key) up to
/// 10 times. Returns each request's value and times, in order.
pub async fn closed_loop<T: Send + 'static>(
    url: &str,
    n: usize,
    clients: usize,
    timeout: Duration,
    make: Arc<dyn Fn(usize) -> Call + Send + Sync>,
    accept: Arc<Accept<T>>,
) -> anyhow::Result<Vec<(T, Timed)>> {
    let (authority, _) = split_url(url)?;
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients.min(n) {
        let (next, make, accept) = (next.clone(), make.clone(), accept.clone());
        let mut conn = KeepAlive::new(authority.clone(), timeout);
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(done);
                }
                let call = make(i);
                let sent_us = epoch_us();
                let mut attempt = 0;
                let value = loop {
                    attempt += 1;
                    let answer = conn
                        .send(
                            call.method.clone(),
                            &call.path,
                            call.body.clone(),
                            Some(&call.key),
                        )
                        .await
                        .and_then(|(status, body)| accept(status, &body));
                    match answer {
                        Ok(v) => break v,
                        Err(e) if attempt >= 10 => {
                            bail!("{} {} failed {attempt} times: {e}", call.method, call.path)
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                };
                let acked_us = epoch_us();
                done.push((i, value, Timed { sent_us, acked_us }));
            }
        }));
    }
    let mut all: Vec<Option<(T, Timed)>> = (0..n).map(|_| None).collect();
    for t in tasks {
        for (i, v, timed) in t.await.context("writer panicked")?? {
            all[i] = Some((v, timed));
        }
    }
    all.into_iter()
        .map(|v| v.context("a request was never made"))
        .collect()
}

/// Makes request `i` of a run that creates jobs: `POST /jobs` of job `<name>{i}` (a
/// `size`-byte body, see [`job_body`]) with the idempotency key `<key>-{i}`.
pub fn create_jobs(
    name: String,
    key: String,
    size: usize,
) -> Arc<dyn Fn(usize) -> Call + Send + Sync> {
    Arc::new(move |i| Call {
        method: hyper::Method::POST,
        path: "/jobs".into(),
        body: job_body(&format!("{name}{i}"), size),
        key: format!("{key}-{i}"),
    })
}
