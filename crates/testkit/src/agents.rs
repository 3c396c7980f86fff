//! `helios-agent` processes for the workspace tests, on the machine's real Docker engine.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::bin;
use crate::docker::remove_containers;

/// One agent process and how to (re)start it.
pub struct Agent {
    /// Host name (`--name`).
    pub name: String,
    /// State directory (`--state-dir`).
    pub state_dir: PathBuf,
    /// Masters' cluster addresses.
    pub masters: Vec<String>,
    /// Dynamic port range.
    pub port_range: String,
    /// Extra flags.
    pub extra_args: Vec<String>,
    child: Option<Child>,
    log: PathBuf,
}

impl Agent {
    /// Lays out an agent; `dir` holds its state and log.
    pub fn new(name: &str, dir: &std::path::Path, masters: Vec<String>, port_range: &str) -> Agent {
        Agent {
            name: name.to_string(),
            state_dir: dir.join(format!("{name}-state")),
            masters,
            port_range: port_range.to_string(),
            extra_args: Vec::new(),
            child: None,
            log: dir.join(format!("{name}.log")),
        }
    }

    /// Starts the process (again) with the same flags.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "agent {} already running", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open log");
        let mut cmd = Command::new(bin("helios-agent"));
        cmd.args(["--name", &self.name])
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(["--port-range", &self.port_range])
            .args(["--heartbeat-ms", "500"]);
        for m in &self.masters {
            cmd.args(["--master", m]);
        }
        cmd.args(&self.extra_args)
            .env("HELIOS_LOG", "info")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log);
        self.child = Some(cmd.spawn().expect("spawn helios-agent"));
    }

    /// The agent id it persisted, once started.
    pub fn agent_id(&self) -> Option<String> {
        std::fs::read_to_string(self.state_dir.join("id"))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// The prefix of every container this agent names.
    pub fn container_prefix(&self) -> Option<String> {
        self.agent_id().map(|id| format!("helios-{id}-"))
    }

    /// SIGKILL, then reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The agent's log so far.
    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill9();
        if let Some(prefix) = self.container_prefix() {
            remove_containers(&prefix);
        }
    }
}
