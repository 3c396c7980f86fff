//! `helios-bench footprint`: what N jobs cost the masters and the CLI.
//!
//! 1. `--jobs` distinct jobs are created with `POST /jobs` at the leader by `--clients`
//!    closed-loop writers (the body of `compare`'s writes: a 300-byte job by default).
//! 2. The benchmark waits until every member has applied them and has taken a snapshot that
//!    covers 90 % of them (the masters run with `--snapshot-every` at 45 % of the job count
//!    unless the caller sets it, so the log is compacted as the jobs come in), then 5 s more.
//! 3. Per member: resident memory now and at its peak (`/proc/PID/status`), and the size of
//!    its data directory (every file under it, as `du` counts allocated blocks).
//! 4. `helios jobs` (the release CLI next to this executable), and `helios jobs --json`,
//!    `--listings` times each against a member that does not lead (it reads its own state
//!    with a read-index round to the leader, as any CLI pointed at a follower does): the wall
//!    time of each run and the CLI's peak resident memory (`wait4`'s `ru_maxrss`).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use helios_testkit::Cluster;

use crate::probe::{APPLIED_INDEX, Probe, SNAPSHOT_INDEX, pid_memory};
use crate::report::{median_spread, mib};
use crate::requests::{Accept, closed_loop, create_jobs};

/// Knobs of the footprint benchmark.
#[derive(Clone, Debug)]
pub struct FootprintOptions {
    /// Jobs created.
    pub jobs: usize,
    /// Concurrent writers.
    pub clients: usize,
    /// Size of each job's JSON, bytes.
    pub value_size: usize,
    /// Runs of each CLI listing.
    pub listings: usize,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// The snapshot index every member must reach before the measures (see
    /// [`covered_index`]).
    pub covered_index: u64,
    /// The `helios` CLI executable.
    pub cli: PathBuf,
    /// Makes job names unique to the run.
    pub run_tag: String,
}

/// One member's footprint.
#[derive(Clone, Debug)]
pub struct MemberFootprint {
    /// Raft id.
    pub id: u64,
    /// Whether it led.
    pub leader: bool,
    /// Resident memory now and at its peak, bytes.
    pub rss: u64,
    /// Peak resident memory, bytes.
    pub peak_rss: u64,
    /// Allocated size of its data directory, bytes.
    pub disk: u64,
    /// Its last snapshot's log index.
    pub snapshot_index: u64,
}

/// One CLI listing's runs.
#[derive(Clone, Debug)]
pub struct Listing {
    /// The command line after `helios -z URL`.
    pub args: Vec<String>,
    /// Wall time of each run, seconds.
    pub wall_s: Vec<f64>,
    /// Peak resident memory of each run, bytes.
    pub peak_rss: Vec<u64>,
    /// Bytes the last run printed.
    pub output_bytes: usize,
}

/// What the benchmark measured.
#[derive(Clone, Debug)]
pub struct FootprintReport {
    /// Jobs created.
    pub jobs: usize,
    /// Size of each job's JSON.
    pub value_size: usize,
    /// Seconds the creates took.
    pub create_s: f64,
    /// Every member, in id order.
    pub members: Vec<MemberFootprint>,
    /// The CLI runs.
    pub listings: Vec<Listing>,
}

/// The `--snapshot-every` that makes the masters compact their log once the jobs are in: two
/// snapshots while they are created, the second covering at least [`covered_index`].
pub fn snapshot_every_for(jobs: usize) -> usize {
    (jobs * 9 / 20).max(1)
}

/// The snapshot index every member reaches with [`snapshot_every_for`] (90 % of the jobs).
pub fn covered_index(jobs: usize) -> u64 {
    (2 * snapshot_every_for(jobs)).min(jobs * 9 / 10) as u64
}

/// Runs the benchmark on a started cluster.
pub async fn run(cluster: &Cluster, opts: &FootprintOptions) -> anyhow::Result<FootprintReport> {
    let leader_index = cluster.try_wait_leader(Duration::from_secs(30)).await?;
    let leader_url = cluster.masters[leader_index].url();

    let tag = opts.run_tag.clone();
    let size = opts.value_size;
    let make = create_jobs(format!("{tag}f"), format!("footprint-{tag}"), size);
    let accept: Arc<Accept<()>> = Arc::new(|status, body| {
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("{status} {}", String::from_utf8_lossy(body)))
        }
    });
    let t = Instant::now();
    let created = closed_loop(
        &leader_url,
        opts.jobs,
        opts.clients,
        opts.request_timeout,
        make,
        accept,
    )
    .await?;
    let create_s = t.elapsed().as_secs_f64();
    eprintln!(
        "{} jobs created in {create_s:.1} s ({:.0}/s)",
        created.len(),
        created.len() as f64 / create_s
    );

    let probe = Probe::new(cluster.pids(), &cluster.urls())?;
    let snapshots = wait_compacted(
        cluster,
        &probe,
        opts.covered_index,
        Duration::from_secs(120),
    )
    .await?;
    // Let the snapshot's buffers go and the log purge run.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let mut members = Vec::new();
    for (i, m) in cluster.masters.iter().enumerate() {
        let (rss, peak_rss) = m.pid().and_then(pid_memory).unwrap_or((0, 0));
        members.push(MemberFootprint {
            id: m.id,
            leader: i == leader_index,
            rss,
            peak_rss,
            disk: allocated_bytes(&m.data_dir),
            snapshot_index: snapshots[i],
        });
    }

    let follower = cluster
        .masters
        .iter()
        .enumerate()
        .find(|(i, _)| *i != leader_index)
        .map_or(leader_url.clone(), |(_, m)| m.url());
    let mut listings = Vec::new();
    for args in [vec!["jobs"], vec!["jobs", "--json"]] {
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        let mut listing = Listing {
            args: args.clone(),
            wall_s: Vec::new(),
            peak_rss: Vec::new(),
            output_bytes: 0,
        };
        for _ in 0..opts.listings {
            let (wall, rss, bytes) = run_cli(&opts.cli, &follower, &args)?;
            listing.wall_s.push(wall);
            listing.peak_rss.push(rss);
            listing.output_bytes = bytes;
        }
        listings.push(listing);
    }
    Ok(FootprintReport {
        jobs: opts.jobs,
        value_size: opts.value_size,
        create_s,
        members,
        listings,
    })
}

/// Waits until every member has applied the leader's last index and holds a snapshot at
/// `covered` or above; returns each member's snapshot index.
async fn wait_compacted(
    cluster: &Cluster,
    probe: &Probe,
    covered: u64,
    timeout: Duration,
) -> anyhow::Result<Vec<u64>> {
    let deadline = Instant::now() + timeout;
    loop {
        let sample = probe.sample().await;
        let n = cluster.masters.len();
        let applied: Vec<u64> = (0..n)
            .map(|i| sample.gauge(i, APPLIED_INDEX).unwrap_or(0.0) as u64)
            .collect();
        let snapshots: Vec<u64> = (0..n)
            .map(|i| sample.gauge(i, SNAPSHOT_INDEX).unwrap_or(0.0) as u64)
            .collect();
        let top = applied.iter().copied().max().unwrap_or(0);
        if applied.iter().all(|&a| a == top) && snapshots.iter().all(|&s| s >= covered) {
            return Ok(snapshots);
        }
        if Instant::now() > deadline {
            bail!(
                "members not caught up and compacted: applied {applied:?}, snapshots {snapshots:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Bytes allocated to the files under `dir` (as `du` counts them).
fn allocated_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => allocated_bytes(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

/// Runs `cli -z url args…` with its output counted and thrown away: wall seconds, peak RSS
/// bytes, bytes printed.
fn run_cli(cli: &Path, url: &str, args: &[String]) -> anyhow::Result<(f64, u64, usize)> {
    let t = Instant::now();
    let mut child = Command::new(cli)
        .arg("-z")
        .arg(url)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", cli.display()))?;
    let mut stdout = child.stdout.take().context("no stdout")?;
    let counter = std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut stderr)?;
    }
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: wait4 writes only into the zeroed struct and the status it is given; the child
    // is ours and is reaped here (std's handle is not waited on afterwards).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = t.elapsed().as_secs_f64();
    let bytes = counter
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))??;
    if reaped != pid {
        bail!("wait4: {}", std::io::Error::last_os_error());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("helios {} failed ({status}): {stderr}", args.join(" "));
    }
    Ok((wall, usage.ru_maxrss as u64 * 1024, bytes as usize))
}

/// Prints the report's tables.
pub fn print_table(r: &FootprintReport) {
    println!(
        "{} jobs of {} bytes, created in {:.1} s; after a snapshot covering them:",
        r.jobs, r.value_size, r.create_s
    );
    println!(
        "{:>6} | {:>6} | {:>8} | {:>9} | {:>13} | {:>9}",
        "member", "leader", "RSS MiB", "peak MiB", "data dir MiB", "snapshot"
    );
    for m in &r.members {
        println!(
            "{:>6} | {:>6} | {:>8} | {:>9} | {:>13} | {:>9}",
            m.id,
            if m.leader { "yes" } else { "" },
            mib(m.rss),
            mib(m.peak_rss),
            mib(m.disk),
            m.snapshot_index
        );
    }
    println!();
    println!(
        "{:<22} | {:>5} | {:>18} | {:>20} | {:>10}",
        "helios (at a follower)",
        "runs",
        "wall s median (range)",
        "peak RSS MiB (range)",
        "output MiB"
    );
    for l in &r.listings {
        let wall = median_spread(l.wall_s.clone()).unwrap_or_default();
        let rss = median_spread(l.peak_rss.iter().map(|&b| b as f64).collect()).unwrap_or_default();
        println!(
            "{:<22} | {:>5} | {:>18} | {:>20} | {:>10}",
            l.args.join(" "),
            l.wall_s.len(),
            format!("{:.2} ({:.2}-{:.2})", wall.0, wall.1, wall.2),
            format!(
                "{} ({}-{})",
                mib(rss.0 as u64),
                mib(rss.1 as u64),
                mib(rss.2 as u64)
            ),
            mib(l.output_bytes as u64)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocated_bytes_counts_nested_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a"), vec![1u8; 10_000]).unwrap();
        std::fs::write(dir.path().join("sub/b"), vec![1u8; 20_000]).unwrap();
        let n = allocated_bytes(dir.path());
        assert!((30_000..=40_960).contains(&n), "{n}");
    }

    #[test]
    fn the_second_snapshot_covers_ninety_percent_of_the_jobs() {
        assert_eq!(snapshot_every_for(100_000), 45_000);
        assert_eq!(covered_index(100_000), 90_000);
        assert_eq!(snapshot_every_for(10), 4);
        assert_eq!(covered_index(10), 8);
    }
}
