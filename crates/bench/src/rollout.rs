//! `helios-bench rollout`: how long a rolling update of one deployment group takes, from the
//! `POST /deployment-group/{name}/rolling-update` request to the group's status `ACTIVE`,
//! over simulated hosts (agents with `--docker fake:`, whose containers run in memory, so the
//! time is the masters' and the agents' protocol alone) and over real agents on this
//! machine's Docker engine.
//!
//! Each pass rolls every group to a new job version, one host at a time (parallelism 1); the
//! rows are interleaved pass by pass. Helios's masters run one step per 1 s tick and a host
//! needs three steps (`UNDEPLOY_OLD_JOBS`, `DEPLOY_NEW_JOB`, `AWAIT_RUNNING`), so Helios needs
//! at least `3 s × hosts` for the same rollout: the table prints that bound and our speed-up
//! over it.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use crate::agent::LocalAgent;
use crate::deploy::Api;

/// Seconds of Helios's rollout tick.
const HELIOS_TICK_S: f64 = 1.0;
/// Steps per host of a rollout without overlap.
const STEPS_PER_HOST: f64 = 3.0;

/// One group to roll: its hosts are the agents started for it.
pub struct Group {
    /// Group name (also the label value its agents carry: `bench-group=<name>`).
    pub name: String,
    /// What its hosts run on (`simulated` or `docker`).
    pub runtime: &'static str,
    /// Number of hosts.
    pub hosts: usize,
    /// Image of its job.
    pub image: String,
}

/// The rollout durations of one group, one per pass.
pub struct GroupResult {
    /// The group.
    pub group: Group,
    /// Request to ACTIVE, per pass.
    pub durations: Vec<Duration>,
}

/// The agent flags of a host of group `group`.
pub fn agent_args(group: &str, simulated: bool) -> Vec<String> {
    let mut args = vec!["--labels".to_string(), format!("bench-group={group}")];
    if simulated {
        args.extend(["--docker".to_string(), "fake:".to_string()]);
    }
    args
}

/// Creates the groups, then runs `passes` rolling updates of each, interleaved.
pub async fn run(
    api: &Api,
    agents: &mut [LocalAgent],
    groups: Vec<Group>,
    passes: usize,
    poll: Duration,
    run_id: &str,
) -> anyhow::Result<Vec<GroupResult>> {
    for agent in agents.iter_mut() {
        api.wait_host_up(agent, Duration::from_secs(120)).await?;
    }
    for g in &groups {
        let body = json!({"name": g.name, "hostSelectors": [
            {"label": "bench-group", "operator": "EQUALS", "operand": g.name}]});
        let (s, v) = api.post("/deployment-group", &body).await?;
        if s != 200 || v["status"] != "CREATED" {
            bail!("create group {}: {s} {v}", g.name);
        }
    }
    let mut results: Vec<GroupResult> = groups
        .into_iter()
        .map(|group| GroupResult {
            group,
            durations: Vec::new(),
        })
        .collect();
    for pass in 0..passes {
        for r in results.iter_mut() {
            let job = api
                .create(
                    &format!("{run_id}-{}-p{pass}", r.group.name),
                    &r.group.image,
                )
                .await?;
            let took = roll(api, &r.group, &job, poll).await?;
            eprintln!(
                "pass {pass}: {} ({} {} hosts) ACTIVE in {:.3} s",
                r.group.name,
                r.group.hosts,
                r.group.runtime,
                took.as_secs_f64()
            );
            r.durations.push(took);
        }
    }
    Ok(results)
}

/// One rolling update of `group` to `job`: request to ACTIVE with every host RUNNING `job`.
async fn roll(api: &Api, group: &Group, job: &str, poll: Duration) -> anyhow::Result<Duration> {
    let path = format!("/deployment-group/{}", group.name);
    let body = json!({"job": job, "rolloutOptions": {"parallelism": 1, "timeout": 120}});
    let t0 = Instant::now();
    let (s, v) = api.post(&format!("{path}/rolling-update"), &body).await?;
    if s != 200 || v["status"] != "OK" {
        bail!("rolling-update {}: {s} {v}", group.name);
    }
    let deadline = t0 + Duration::from_secs(600);
    loop {
        let (s, v) = api.get(&format!("{path}/status")).await?;
        if s == 200 && v["status"] == "ACTIVE" {
            let took = t0.elapsed();
            let hosts = v["hostStatuses"].as_array().context("no hostStatuses")?;
            let running = hosts
                .iter()
                .filter(|h| h["jobId"] == job && h["state"] == "RUNNING")
                .count();
            if running != group.hosts {
                bail!(
                    "{}: ACTIVE with {running} of {} hosts running {job}: {v}",
                    group.name,
                    group.hosts
                );
            }
            return Ok(took);
        }
        if v["status"] == "FAILED" {
            bail!("{}: rollout failed: {}", group.name, v["error"]);
        }
        if Instant::now() > deadline {
            bail!("{}: not ACTIVE after 600 s: {v}", group.name);
        }
        tokio::time::sleep(poll).await;
    }
}

/// Prints one row per group: median, min and max over the passes, Helios's lower bound and
/// the speed-up over it.
pub fn print_table(results: &[GroupResult]) {
    println!(
        "{:<12} {:>5} {:>4} {:>6} {:>9} {:>8} {:>8} {:>10} {:>9}",
        "hosts on",
        "hosts",
        "par",
        "passes",
        "median s",
        "min s",
        "max s",
        "Helios ≥ s",
        "speed-up"
    );
    for r in results {
        let mut secs: Vec<f64> = r.durations.iter().map(Duration::as_secs_f64).collect();
        secs.sort_by(f64::total_cmp);
        if secs.is_empty() {
            continue;
        }
        let median = secs[secs.len() / 2];
        let helios = STEPS_PER_HOST * HELIOS_TICK_S * r.group.hosts as f64;
        println!(
            "{:<12} {:>5} {:>4} {:>6} {:>9.3} {:>8.3} {:>8.3} {:>10.1} {:>8.1}×",
            r.group.runtime,
            r.group.hosts,
            1,
            secs.len(),
            median,
            secs[0],
            secs[secs.len() - 1],
            helios,
            helios / median
        );
    }
}
