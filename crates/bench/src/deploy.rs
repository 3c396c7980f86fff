//! `helios-bench deploy`: what an operator sees of deploys through a 3-master cluster and one
//! `helios-agent` on this machine's Docker engine.
//!
//! 1. Assignment latency: jobs are deployed one at a time; for each, the client's wall clock
//!    when `PUT /hosts/{host}/jobs/{job}` was acknowledged (HTTP 200) is compared with the
//!    agent-side timestamp of the job's first history event on that host (PULLING_IMAGE, set
//!    right after the agent received the assignment). The agent runs on this machine, so both
//!    clocks are the same clock. The next deploy is sent once that first event is visible.
//! 2. Many containers at once, against `docker run` and Swarm: see `containers.rs`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::agent::{LocalAgent, containers_named, remove_containers};

/// Knobs of the deploy benchmark.
#[derive(Clone, Debug)]
pub struct DeployOptions {
    /// Jobs deployed one at a time (assignment latency).
    pub sequential_jobs: usize,
    /// How often a deploy's history is polled, milliseconds.
    pub poll_ms: u64,
    /// Image of every container.
    pub image: String,
    /// Makes job and container names unique.
    pub run_id: String,
}

/// Assignment-latency results.
pub struct AssignResult {
    /// (first event − ack), ms, clamped at 0, sorted.
    pub latencies_ms: Vec<f64>,
    /// How many differences were negative before clamping.
    pub negatives: usize,
    /// The most negative raw difference, ms (0 when none).
    pub min_raw_ms: f64,
    /// Client round trip of the deploys (request to 200), ms, sorted.
    pub ack_rtt_ms: Vec<f64>,
}

/// The wall clock in epoch milliseconds (fractional).
pub(crate) fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Talks to one master's REST API.
#[derive(Clone)]
pub struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    /// A client of `base` (`http://127.0.0.1:<port>`).
    pub fn new(base: String) -> anyhow::Result<Api> {
        Ok(Api {
            base,
            client: reqwest::Client::builder()
                .tcp_nodelay(true)
                .timeout(Duration::from_secs(30))
                .build()?,
        })
    }

    async fn json(req: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
        let r = req.send().await?;
        let s = r.status().as_u16();
        let v = r.json().await.unwrap_or(Value::Null);
        Ok((s, v))
    }

    /// `GET {path}`: the status and JSON body.
    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        Self::json(self.client.get(format!("{}{path}", self.base))).await
    }

    /// `POST {path}` with a JSON body: the status and JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        Self::json(self.client.post(format!("{}{path}", self.base)).json(body)).await
    }

    /// `POST {path}` with a JSON body, expecting 200 and a body of type `T`.
    pub async fn post_as<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> anyhow::Result<T> {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await?;
        let s = r.status();
        if !s.is_success() {
            bail!("POST {path}: {s} {}", r.text().await.unwrap_or_default());
        }
        r.json()
            .await
            .with_context(|| format!("POST {path}: unexpected body"))
    }

    /// Waits until `host` is UP.
    pub async fn wait_host_up(
        &self,
        agent: &mut LocalAgent,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let host = agent.name.clone();
        let host = host.as_str();
        let deadline = Instant::now() + timeout;
        loop {
            agent.check_alive()?;
            let req = self
                .client
                .post(format!("{}/hosts/statuses", self.base))
                .json(&[host]);
            if let Ok((200, v)) = Self::json(req).await
                && v[host]["status"] == "UP"
                && agent.agent_id().is_some()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "host {host} not UP within {timeout:?}; agent log:\n{}",
                    agent.log_tail(20)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates a `sleep 100000` job; returns its full id.
    pub async fn create(&self, name: &str, image: &str) -> anyhow::Result<String> {
        let body = json!({
            "id": format!("{name}:1"),
            "image": image,
            "command": ["sleep", "100000"],
            "secondsToWaitBeforeKill": 1,
        });
        let (s, v) =
            Self::json(self.client.post(format!("{}/jobs", self.base)).json(&body)).await?;
        match v["id"].as_str() {
            Some(id) if s == 200 && v["status"] == "OK" => Ok(id.to_string()),
            _ => bail!("create {name}: {s} {v}"),
        }
    }

    /// `PUT /hosts/{host}/jobs/{job}` with goal START; returns the wall clock (epoch ms) when
    /// the 200 arrived and the round trip.
    pub async fn deploy(&self, job: &str, host: &str) -> anyhow::Result<(f64, Duration)> {
        let t0 = Instant::now();
        let r = self
            .client
            .put(format!("{}/hosts/{host}/jobs/{job}", self.base))
            .json(&json!({"jobId": job, "goal": "START"}))
            .send()
            .await?;
        let ack = epoch_ms();
        let rtt = t0.elapsed();
        let s = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if s != 200 || v["status"] != "OK" {
            bail!("deploy {job} to {host}: {s} {v}");
        }
        Ok((ack, rtt))
    }

    /// `DELETE /hosts/{host}/jobs/{job}`.
    pub async fn undeploy(&self, job: &str, host: &str) -> anyhow::Result<()> {
        let (s, v) = Self::json(
            self.client
                .delete(format!("{}/hosts/{host}/jobs/{job}", self.base)),
        )
        .await?;
        if s != 200 {
            bail!("undeploy {job} from {host}: {s} {v}");
        }
        Ok(())
    }

    /// The job's history events on `host`: (state, agent timestamp in epoch ms).
    pub async fn history(&self, job: &str, host: &str) -> anyhow::Result<Vec<(String, i64)>> {
        let (s, v) =
            Self::json(self.client.get(format!("{}/history/jobs/{job}", self.base))).await?;
        if s != 200 {
            bail!("history of {job}: {s} {v}");
        }
        Ok(v["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| e["host"] == host)
                    .filter_map(|e| {
                        Some((
                            e["status"]["state"].as_str()?.to_string(),
                            e["timestamp"].as_i64()?,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// How many of `jobs` have a RUNNING task on `host`.
    pub async fn running_count(&self, jobs: &[String], host: &str) -> anyhow::Result<usize> {
        let (s, v) = Self::json(
            self.client
                .post(format!("{}/jobs/statuses", self.base))
                .json(jobs),
        )
        .await?;
        if s != 200 {
            bail!("job statuses: {s} {v}");
        }
        Ok(jobs
            .iter()
            .filter(|j| v[j.as_str()]["taskStatuses"][host]["state"] == "RUNNING")
            .count())
    }
}

/// Undeploys `jobs`, waits until none of the agent's containers runs, then removes them all.
pub(crate) async fn undeploy_all(
    api: &Api,
    jobs: &[String],
    agent: &mut LocalAgent,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    for j in jobs {
        api.undeploy(j, &agent.name).await?;
    }
    let prefix = agent.container_prefix().context("agent has no id")?;
    let deadline = Instant::now() + timeout;
    loop {
        agent.check_alive()?;
        let running = containers_named(&prefix, false).len();
        if running == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("{running} containers of the agent still run {timeout:?} after undeploying");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stopped = t0.elapsed();
    remove_containers(&prefix);
    Ok(stopped)
}

/// Scenario 1: deploy `sequential_jobs` jobs one at a time and compare each deploy's ack
/// with the agent's first event.
pub async fn assignment_latency(
    api: &Api,
    agent: &mut LocalAgent,
    opts: &DeployOptions,
) -> anyhow::Result<AssignResult> {
    let host = agent.name.clone();
    let mut jobs = Vec::with_capacity(opts.sequential_jobs);
    for i in 0..opts.sequential_jobs {
        jobs.push(
            api.create(&format!("{}-seq{i}", opts.run_id), &opts.image)
                .await?,
        );
    }
    eprintln!("created {} jobs; deploying one at a time", jobs.len());
    let mut raw = Vec::with_capacity(jobs.len());
    let mut rtts = Vec::with_capacity(jobs.len());
    let poll = Duration::from_millis(opts.poll_ms);
    for (i, job) in jobs.iter().enumerate() {
        let (ack, rtt) = api.deploy(job, &host).await?;
        rtts.push(rtt.as_secs_f64() * 1000.0);
        let deadline = Instant::now() + Duration::from_secs(60);
        let first = loop {
            let events = api.history(job, &host).await?;
            if let Some(first) = events.iter().map(|(_, t)| *t).min() {
                break first;
            }
            if Instant::now() > deadline {
                agent.check_alive()?;
                bail!("no history event of {job} on {host} 60 s after its deploy");
            }
            tokio::time::sleep(poll).await;
        };
        raw.push(first as f64 - ack);
        if (i + 1) % 50 == 0 {
            eprintln!("  {} deployed", i + 1);
        }
    }
    let stopped = undeploy_all(api, &jobs, agent, Duration::from_secs(600)).await?;
    eprintln!(
        "undeployed {} jobs; every container stopped after {:.1} s",
        jobs.len(),
        stopped.as_secs_f64()
    );
    let negatives = raw.iter().filter(|d| **d < 0.0).count();
    let min_raw_ms = raw.iter().copied().fold(0.0, f64::min);
    let mut latencies_ms: Vec<f64> = raw.iter().map(|d| d.max(0.0)).collect();
    latencies_ms.sort_by(f64::total_cmp);
    rtts.sort_by(f64::total_cmp);
    Ok(AssignResult {
        latencies_ms,
        negatives,
        min_raw_ms,
        ack_rtt_ms: rtts,
    })
}

/// Prints the assignment-latency table.
pub fn print_table(a: &AssignResult) {
    let l = &a.latencies_ms;
    println!(
        "{:<58} | {:>9} | {:>9} | {:>9} | {:<12}",
        "metric", "p50", "p99", "max", "target"
    );
    println!("{}", "-".repeat(108));
    println!(
        "{:<58} | {:>6.1} ms | {:>6.1} ms | {:>6.1} ms | {:<12}",
        format!("assignment: first agent event - deploy ack (n={})", l.len()),
        percentile(l, 0.50),
        percentile(l, 0.99),
        l.last().copied().unwrap_or(f64::NAN),
        "p99 < 20 ms"
    );
    let r = &a.ack_rtt_ms;
    println!(
        "{:<58} | {:>6.1} ms | {:>6.1} ms | {:>6.1} ms | {:<12}",
        "  (deploy request round trip, for reference)",
        percentile(r, 0.50),
        percentile(r, 0.99),
        r.last().copied().unwrap_or(f64::NAN),
        ""
    );
    println!(
        "  {} of {} differences were negative (agent event before the client saw the 200; \
         most negative {:.1} ms) and count as 0",
        a.negatives,
        l.len(),
        a.min_raw_ms
    );
}
