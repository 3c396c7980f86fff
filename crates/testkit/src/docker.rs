//! Docker helpers for the workspace tests: a local busybox image (no registry here, so it is
//! imported from Debian's static busybox), and `docker` CLI queries used to check what the
//! agents did on the real engine.

use std::process::Command;
use std::sync::OnceLock;

/// The test image: a `FROM scratch`-like rootfs with a static busybox and its applets.
pub const BUSYBOX_IMAGE: &str = "helios-systest-busybox:latest";

/// Runs `docker` and returns trimmed stdout, or `None` when it fails.
pub fn docker(args: &[&str]) -> Option<String> {
    let out = Command::new("docker").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Imports [`BUSYBOX_IMAGE`] once per test process (idempotent across processes).
pub fn ensure_busybox_image() -> &'static str {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if docker(&["image", "inspect", BUSYBOX_IMAGE]).is_some() {
            return;
        }
        let busybox = std::path::Path::new("/bin/busybox");
        assert!(
            busybox.exists(),
            "/bin/busybox is missing: install Debian's busybox-static (./test.sh does)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        std::fs::copy(busybox, bin.join("busybox")).unwrap();
        for applet in [
            "sh", "sleep", "httpd", "nc", "wget", "env", "cat", "echo", "true", "false", "ls",
            "kill", "ps",
        ] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        let script = format!(
            "tar -C {} -c . | docker import --change 'CMD [\"/bin/sh\"]' - {BUSYBOX_IMAGE}",
            dir.path().display()
        );
        let status = Command::new("sh").args(["-c", &script]).status().unwrap();
        assert!(
            status.success(),
            "docker import of the busybox image failed"
        );
    });
    BUSYBOX_IMAGE
}

/// Ids of the containers (running or not) whose name starts with `prefix`.
pub fn containers_named(prefix: &str, all: bool) -> Vec<String> {
    let filter = format!("name=^/{prefix}");
    let mut args = vec!["ps", "-q", "--no-trunc", "--filter", filter.as_str()];
    if all {
        args.push("-a");
    }
    docker(&args)
        .map(|s| s.lines().map(String::from).collect())
        .unwrap_or_default()
}

/// Removes every container whose name starts with `prefix`.
pub fn remove_containers(prefix: &str) {
    for id in containers_named(prefix, true) {
        let _ = docker(&["rm", "-f", &id]);
    }
}

/// `docker inspect -f <format> <id>`.
pub fn inspect(id: &str, format: &str) -> Option<String> {
    docker(&["inspect", "-f", format, id])
}
