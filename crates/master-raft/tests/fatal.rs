//! A fatal Raft error is never "try again" at the same master: when a master's disk fills up,
//! the write under way is answered 504 `UNKNOWN_OUTCOME` (its entry may have been replicated)
//! and any later one 500 `RAFT_STOPPED`, never 503 (which clients retry at the same master);
//! `/readyz` fails and the process exits non-zero naming the cause, instead of staying up and
//! refusing everything.
//!
//! The data directory is a 6 MiB tmpfs, filled by creating jobs with large bodies. Mounting
//! needs root (or passwordless sudo), as the network-namespace tests do.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use helios_testkit::free_port;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        let as_root: &[&str] = if is_root() { &[] } else { &["sudo", "-n"] };
        let mut cmd = Command::new(as_root.first().copied().unwrap_or("mount"));
        cmd.args(as_root.iter().skip(1));
        if !as_root.is_empty() {
            cmd.arg("mount");
        }
        let status = cmd
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "this test mounts a small tmpfs to fill a master's disk: run it as root or with \
             passwordless sudo (mount exited {status})"
        );
        Self(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = Command::new("sudo")
            .args(["-n", "umount", "-l"])
            .arg(&self.0)
            .stderr(Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn a_full_disk_stops_the_master_with_a_500_and_an_exit_not_a_503() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _disk = Tmpfs::mount(dir.path(), "6m");
    let http = format!("127.0.0.1:{}", free_port());
    let log = dir.path().join("..").join(format!(
        "fatal-{}.log",
        dir.path().file_name().unwrap().to_string_lossy()
    ));
    let mut master = Command::new(env!("CARGO_BIN_EXE_helios-master"))
        .args(["--id=1", "--name=m1"])
        .arg(format!("--data-dir={}", dir.path().join("data").display()))
        .arg(format!("--http={http}"))
        .arg(format!("--cluster=127.0.0.1:{}", free_port()))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start helios-master");

    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client
        .get(format!("http://{http}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "the master never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Fill the disk until a write fails.
    let big = "x".repeat(200_000);
    let mut refused = None;
    for i in 0..200 {
        let job = serde_json::json!({"id": format!("fill{i}:1"), "image": "busybox", "env": {"BIG": big}});
        let resp = client
            .post(format!("http://{http}/jobs"))
            .json(&job)
            .send()
            .await
            .expect("the master answers the write that fails");
        if !resp.status().is_success() {
            let status = resp.status();
            let body: serde_json::Value = resp.json().await.expect("JSON error body");
            refused = Some((status, body));
            break;
        }
    }
    let (status, body) = refused.expect("a 6 MiB disk fills up within 200 writes of 200 kB");
    assert!(
        (status.as_u16() == 504 && body["status"] == "UNKNOWN_OUTCOME")
            || (status.as_u16() == 500 && body["status"] == "RAFT_STOPPED"),
        "the failed write is an unknown outcome or a stopped master, never a 503: {status} {body}"
    );
    // Until it exits, the master says it stopped: readiness fails, writes are refused for good.
    if let Ok(r) = client.get(format!("http://{http}/readyz")).send().await {
        assert_eq!(r.status().as_u16(), 500, "/readyz of a stopped master");
    }

    // The process exits on its own, non-zero, and says why.
    let exit = loop {
        if let Some(exit) = master.try_wait().expect("wait") {
            break exit;
        }
        if Instant::now() > deadline {
            let _ = master.kill();
            panic!("the master did not exit after its Raft core stopped");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    assert_eq!(exit.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("helios-master: the Raft core stopped") && last.contains("No space left"),
        "the last line names the cause: {last}"
    );
}
