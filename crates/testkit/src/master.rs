//! One `helios-master` process and how to (re)start it: the same executable, flags, ports and
//! data directory every time, its stderr appended to one log file across restarts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bin;

/// How a master process is launched, beyond its identity and addresses (from
/// [`crate::ClusterOptions`]).
#[derive(Clone, Debug)]
pub(crate) struct Launch {
    /// The executable; `None`: `helios-master` built by cargo ([`crate::bin`]).
    pub(crate) program: Option<PathBuf>,
    /// `--name` is this followed by the id.
    pub(crate) name_prefix: String,
    /// Flags before [`Master::extra_args`] (the kit's fast Raft timings by default).
    pub(crate) base_args: Vec<String>,
    /// `HELIOS_LOG`; `None` leaves the environment's (or the master's default).
    pub(crate) log_filter: Option<String>,
    /// Whether the kernel kills the master when the thread that started it exits.
    pub(crate) die_with_parent: bool,
}

/// One master process and how to (re)start it.
pub struct Master {
    /// Raft id.
    pub id: u64,
    /// The address it binds: 127.0.0.1, or its host's (see [`crate::Cluster::on_hosts`]).
    pub ip: String,
    /// HTTP port on `ip`.
    pub http_port: u16,
    /// Cluster port on `ip`.
    pub cluster_port: u16,
    /// sled directory.
    pub data_dir: PathBuf,
    /// Value of `--peers` (none when empty).
    pub peers: String,
    /// Extra flags for `helios-master`, after the cluster's own.
    pub extra_args: Vec<String>,
    /// A command the master runs under (e.g. `strace …`), empty for none.
    pub wrapper: Vec<String>,
    pub(crate) launch: Launch,
    child: Option<Child>,
    log: PathBuf,
}

impl Master {
    pub(crate) fn new(
        id: u64,
        (http_port, cluster_port): (u16, u16),
        dir: &Path,
        peers: String,
        wrapper: Vec<String>,
        launch: Launch,
    ) -> Master {
        Master {
            id,
            ip: "127.0.0.1".into(),
            http_port,
            cluster_port,
            data_dir: dir.join(format!("m{id}")),
            peers,
            extra_args: Vec::new(),
            wrapper,
            launch,
            child: None,
            log: dir.join(format!("m{id}.log")),
        }
    }

    /// `http://<ip>:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.ip, self.http_port)
    }

    /// `<ip>:<cluster port>`, as agents' `--master` and `--peers` name it.
    pub fn cluster_addr(&self) -> String {
        format!("{}:{}", self.ip, self.cluster_port)
    }

    /// The executable it runs.
    pub fn program(&self) -> PathBuf {
        self.launch
            .program
            .clone()
            .unwrap_or_else(|| bin("helios-master"))
    }

    /// Starts the process (again) with the same flags; panics when it cannot.
    pub fn start(&mut self) {
        if let Err(e) = self.try_start() {
            panic!("{e:#}");
        }
    }

    /// Starts the process (again) with the same flags.
    pub fn try_start(&mut self) -> anyhow::Result<()> {
        use anyhow::Context;
        anyhow::ensure!(self.child.is_none(), "master {} already running", self.id);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let program = self.program();
        let mut cmd = match self.wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        cmd.args(["--id", &self.id.to_string()])
            .args(["--name", &format!("{}{}", self.launch.name_prefix, self.id)])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--http", &format!("{}:{}", self.ip, self.http_port)])
            .args(["--cluster", &self.cluster_addr()]);
        if !self.peers.is_empty() {
            cmd.args(["--peers", self.peers.as_str()]);
        }
        cmd.args(&self.launch.base_args)
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(filter) = &self.launch.log_filter {
            cmd.env("HELIOS_LOG", filter);
        }
        if self.launch.die_with_parent {
            die_with_parent(&mut cmd);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Whether the process was started and not stopped or killed by the kit since (it may
    /// have exited on its own: see [`Master::has_exited`]).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Whether the process the kit started has exited on its own (without reaping it, so
    /// that [`Master::kill9`] and [`Master::stop`] still work as usual).
    pub fn has_exited(&self) -> bool {
        let Some(pid) = self.pid() else {
            return false;
        };
        // SAFETY: waitid(2) on our own child's pid, writing only into `info`, which it owns;
        // WNOWAIT leaves the child to be reaped by `Child::wait`.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let r = libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            );
            r == 0 && info.si_pid() != 0
        }
    }

    /// Reaps a process that exited on its own (see [`Master::has_exited`]) and returns its
    /// exit status; `None` when it was not started or a signal ended it.
    pub fn wait_exit_status(&mut self) -> Option<i32> {
        self.child.take()?.wait().ok()?.code()
    }

    /// SIGKILL, then reap: its ports refuse connections at once.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP: the process stays, frozen (a paused VM, a long GC pause).
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// SIGCONT after [`Master::pause`].
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: i32) {
        if let Some(pid) = self.pid() {
            // SAFETY: kill(2) on our own child's pid; no memory is involved.
            unsafe { libc::kill(pid as i32, signal) };
        }
    }

    /// SIGTERM, then wait for a clean exit (SIGKILL after 20 s).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: as in `signal`.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The file the master's stderr goes to (appended across restarts).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last 30 lines of the master's log (for failure messages).
    pub fn log_tail(&self) -> String {
        self.log_tail_lines(30)
    }

    /// The last `n` lines of the master's log.
    pub fn log_tail_lines(&self, n: usize) -> String {
        crate::tail(&self.log, n)
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        self.kill9();
        if !self.wrapper.is_empty() {
            // Killing a wrapper such as strace leaves the master itself running.
            let _ = Command::new("pkill")
                .args(["-9", "-f"])
                .arg(self.data_dir.as_os_str())
                .status();
        }
    }
}

/// Makes the kernel SIGKILL the process `cmd` starts when the thread that starts it exits, so
/// that an interrupted benchmark leaves nothing behind. Start it from the main thread (a
/// tokio worker thread may exit before the process should).
pub fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}
