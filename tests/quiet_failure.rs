//! A dead master costs the others little. With one of three masters killed and no load, the
//! leader (which keeps trying to replicate to the dead member) and the other survivor write a
//! few lines per interval, not thousands a second, and use little CPU; the leader's log still
//! says the member is unreachable, and says when it is back.
//!
//! The outage lasts 15 s by default; `HELIOS_LONG_FAULTS=1` makes it the 60 s of the issue's
//! acceptance. The log bound is 100 KB per 60 s of outage, scaled to its length.

use std::path::Path;
use std::time::{Duration, Instant};

use helios_testkit::{Cluster, eventually};

/// Log growth allowed per survivor per minute of outage.
const LOG_BYTES_PER_MINUTE: u64 = 100 * 1024;
/// CPU allowed per survivor, as a share of one core. The goal is 5 % on a release build; a
/// debug build with the harness's 100 ms heartbeats idles near 5 % already, so the test
/// bounds what the failure adds with room for a busy CI machine (a retry storm burns a
/// whole core).
const CPU_SHARE_LIMIT: f64 = 0.20;

fn outage() -> Duration {
    match std::env::var("HELIOS_LONG_FAULTS").as_deref() {
        Ok("1") => Duration::from_secs(60),
        _ => Duration::from_secs(15),
    }
}

fn log_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// User plus system CPU time of a process so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after_name = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_does_not_flood_the_survivors_logs() {
    let mut cluster = Cluster::start(3).await;
    let leader = cluster.wait_leader(Duration::from_secs(30)).await;
    let victim = (leader + 1) % 3;
    let survivors: Vec<usize> = (0..3).filter(|i| *i != victim).collect();
    let dead_id = cluster.masters[victim].id;

    let before: Vec<(u64, Duration)> = survivors
        .iter()
        .map(|i| {
            let m = &cluster.masters[*i];
            (log_size(m.log_path()), cpu_time(m.pid().expect("running")))
        })
        .collect();
    let started = Instant::now();
    cluster.masters[victim].kill9();
    tokio::time::sleep(outage()).await;
    let elapsed = started.elapsed();

    let allowed = LOG_BYTES_PER_MINUTE * elapsed.as_millis() as u64 / 60_000;
    let mut report = Vec::new();
    for (i, (size_before, cpu_before)) in survivors.iter().zip(&before) {
        let m = &cluster.masters[*i];
        let grown = log_size(m.log_path()) - size_before;
        let cpu = cpu_time(m.pid().expect("running")) - *cpu_before;
        let share = cpu.as_secs_f64() / elapsed.as_secs_f64();
        let role = if *i == leader { "leader" } else { "follower" };
        report.push(format!(
            "master {} ({role}): log +{grown} bytes (limit {allowed}), CPU {:.1} % of a core \
             over {:.0} s",
            m.id,
            share * 100.0,
            elapsed.as_secs_f64()
        ));
        assert!(
            grown < allowed,
            "master {} wrote {grown} bytes in {elapsed:?} with member {dead_id} dead:\n{}",
            m.id,
            m.log_tail()
        );
        assert!(
            share < CPU_SHARE_LIMIT,
            "master {} used {:.1} % of a core with member {dead_id} dead",
            m.id,
            share * 100.0
        );
        let log = std::fs::read_to_string(m.log_path()).expect("read log");
        assert!(!log.contains('\u{1b}'), "colour codes in a log file");
    }
    eprintln!("{}", report.join("\n"));

    // The operator still learns that the member is gone, and when it is back.
    let leader_log = cluster.masters[leader].log_path().to_path_buf();
    let lost = format!("cannot reach member; retrying with backoff member={dead_id}");
    let text = std::fs::read_to_string(&leader_log).expect("read log");
    assert!(text.contains(&lost), "no '{lost}' in:\n{text}");
    cluster.masters[victim].start();
    let back = format!("member reachable again member={dead_id}");
    eventually(
        Duration::from_secs(30),
        "the leader to see the member back",
        || {
            let seen = std::fs::read_to_string(&leader_log)
                .unwrap_or_default()
                .contains(&back);
            async move { seen.then_some(()) }
        },
    )
    .await;
}
