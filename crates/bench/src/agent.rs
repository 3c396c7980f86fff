//! One `helios-agent` process on this machine's Docker engine, and the `docker` CLI helpers
//! the deploy benchmark needs: a local busybox image (there is no registry, so it is imported
//! from Debian's static busybox) and removal of containers by name prefix.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};

/// The image every deploy-benchmark container runs.
pub const BENCH_IMAGE: &str = "helios-bench-busybox:latest";

/// A running agent; dropping it SIGKILLs it and removes every container it named.
pub struct LocalAgent {
    /// Host name it registers as.
    pub name: String,
    /// Its `--state-dir`.
    pub state_dir: PathBuf,
    /// Where its stderr goes.
    pub log: PathBuf,
    child: Child,
}

impl LocalAgent {
    /// Starts `agent_bin` as host `name`, state and log under `dir`, connected to every
    /// cluster address in `masters`, with `extra_args` (labels, `--docker fake:`…). Call it
    /// from the main thread (parent-death signal).
    pub fn start(
        agent_bin: &Path,
        name: &str,
        dir: &Path,
        masters: &[String],
        heartbeat_ms: u64,
        log_filter: Option<&str>,
        extra_args: &[String],
    ) -> anyhow::Result<LocalAgent> {
        let state_dir = dir.join(format!("{name}-state"));
        let log = dir.join(format!("{name}.log"));
        let log_file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut cmd = Command::new(agent_bin);
        cmd.args(["--name", name])
            .arg("--state-dir")
            .arg(&state_dir)
            .args(["--port-range", "38000:38500"])
            .args(["--heartbeat-ms", &heartbeat_ms.to_string()]);
        for m in masters {
            cmd.args(["--master", m]);
        }
        cmd.args(extra_args);
        cmd.env("HELIOS_LOG", log_filter.unwrap_or("info"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        // Killed with the benchmark, as the masters are.
        helios_testkit::master::die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", agent_bin.display()))?;
        Ok(LocalAgent {
            name: name.to_string(),
            state_dir,
            log,
            child,
        })
    }

    /// The agent id it persisted (None until it has started).
    pub fn agent_id(&self) -> Option<String> {
        std::fs::read_to_string(self.state_dir.join("id"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// `helios-<agent id>-`: the prefix of every container this agent names.
    pub fn container_prefix(&self) -> Option<String> {
        self.agent_id().map(|id| format!("helios-{id}-"))
    }

    /// Fails when the process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "helios-agent exited ({status}); its log:\n{}",
                self.log_tail(30)
            );
        }
        Ok(())
    }

    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for LocalAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(prefix) = self.container_prefix() {
            remove_containers(&prefix);
        }
    }
}

/// Runs `docker` and returns trimmed stdout, or the error with stderr.
pub fn docker(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run docker")?;
    if !out.status.success() {
        bail!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Imports [`BENCH_IMAGE`] from `/bin/busybox` unless the engine already has it.
pub fn ensure_image() -> anyhow::Result<&'static str> {
    if docker(&["image", "inspect", BENCH_IMAGE]).is_ok() {
        return Ok(BENCH_IMAGE);
    }
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        bail!("/bin/busybox is missing: install Debian's busybox-static");
    }
    let dir = tempfile::tempdir()?;
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin)?;
    std::fs::create_dir_all(dir.path().join("tmp"))?;
    std::fs::copy(busybox, bin.join("busybox"))?;
    for applet in [
        "sh", "sleep", "true", "false", "ls", "cat", "echo", "kill", "ps",
    ] {
        std::os::unix::fs::symlink("busybox", bin.join(applet))?;
    }
    let script = format!(
        "tar -C {} -c . | docker import --change 'CMD [\"/bin/sh\"]' - {BENCH_IMAGE} >/dev/null",
        dir.path().display()
    );
    let status = Command::new("sh").args(["-c", &script]).status()?;
    if !status.success() {
        bail!("docker import of {BENCH_IMAGE} failed");
    }
    Ok(BENCH_IMAGE)
}

/// Ids of the containers whose name starts with `prefix` (running only unless `all`).
pub fn containers_named(prefix: &str, all: bool) -> Vec<String> {
    containers_matching(&format!("name=^/{prefix}"), all)
}

/// Ids of the containers that pass `docker ps --filter <filter>` (running only unless `all`).
pub fn containers_matching(filter: &str, all: bool) -> Vec<String> {
    let mut args = vec!["ps", "-q", "--no-trunc", "--filter", filter];
    if all {
        args.push("-a");
    }
    docker(&args)
        .map(|s| s.lines().map(String::from).collect())
        .unwrap_or_default()
}

/// Removes (`rm -f`) every container whose name starts with `prefix`.
pub fn remove_containers(prefix: &str) {
    let ids = containers_named(prefix, true);
    for chunk in ids.chunks(50) {
        let mut args = vec!["rm", "-f"];
        args.extend(chunk.iter().map(String::as_str));
        let _ = docker(&args);
    }
}
