//! The reference clusters `helios-bench compare` measures our masters against: a 3-member
//! ZooKeeper 3.8 ensemble and a 3-member etcd 3.4 cluster, on loopback, with their default
//! durability (both fsync their log before acknowledging a write), started the way
//! `../shared/bench/zk-cluster.sh` and `etcd-cluster.sh` start them, but on free ports under a
//! temporary directory and killed with the benchmark.
//!
//! Both come from Debian's packages (`zookeeper`, `etcd-server`); [`ensure_installed`] installs
//! them when they are missing and this process may (root), and otherwise says what to run.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use helios_testkit::master::die_with_parent;
use helios_testkit::ports::free_ports;

/// ZooKeeper's jar and the logging jars it needs, as Debian installs them.
const ZK_CLASSPATH: &[&str] = &[
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/slf4j-log4j12.jar",
    "/usr/share/java/log4j-1.2.jar",
];
/// Debian's log4j configuration for ZooKeeper.
const ZK_LOG4J: &str = "/etc/zookeeper/conf/log4j.properties";
/// The Debian packages the reference clusters need.
const PACKAGES: &[&str] = &["zookeeper", "etcd-server", "etcd-client"];

/// Which reference system a cluster runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// ZooKeeper 3.8 (`QuorumPeerMain` on the JVM).
    ZooKeeper,
    /// etcd 3.4.
    Etcd,
}

impl Kind {
    /// Short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::ZooKeeper => "zookeeper",
            Kind::Etcd => "etcd",
        }
    }
}

/// True when the ZooKeeper jars, `java` and `etcd` are all present.
fn installed() -> bool {
    ZK_CLASSPATH.iter().all(|p| Path::new(p).exists())
        && Path::new(ZK_LOG4J).exists()
        && which("java")
        && which("etcd")
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Installs ZooKeeper and etcd from Debian's packages when they are missing.
pub fn ensure_installed() -> anyhow::Result<()> {
    if installed() {
        return Ok(());
    }
    let command = format!(
        "apt-get update && apt-get install -y {}",
        PACKAGES.join(" ")
    );
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("ZooKeeper and etcd are not installed; run as root: {command}");
    }
    eprintln!("installing the reference systems: {command}");
    let status = Command::new("sh")
        .args(["-c", &command])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .context("cannot run apt-get")?;
    if !status.success() || !installed() {
        bail!("installing {} failed ({status})", PACKAGES.join(" "));
    }
    Ok(())
}

/// One member of a reference cluster.
struct Member {
    /// The port clients write to.
    client_port: u16,
    /// Its process while it runs.
    child: Option<Child>,
    /// Its configuration (ZooKeeper) or data (etcd) directory.
    dir: PathBuf,
    /// Where its output goes.
    log: PathBuf,
}

/// A 3-member reference cluster on loopback; dropping it kills every member.
pub struct RefCluster {
    /// What it runs.
    pub kind: Kind,
    members: Vec<Member>,
    /// `--initial-cluster` (etcd) or the `server.N` lines (ZooKeeper).
    peers: String,
    /// Holds every member's data; removed on drop.
    _dir: tempfile::TempDir,
}

impl RefCluster {
    /// Writes the members' configuration under a new temporary directory in `root` (or the
    /// system's) and starts them. Call it from the main thread (parent-death signal).
    pub fn start(kind: Kind, root: Option<&Path>) -> anyhow::Result<RefCluster> {
        let prefix = format!("helios-bench-{}-", kind.name());
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix);
        let dir = match root {
            Some(r) => builder.tempdir_in(r),
            None => builder.tempdir(),
        }
        .context("cannot create the reference cluster's directory")?;
        // Client, peer and (ZooKeeper) election port of each member.
        let ports = free_ports(9);
        let members: Vec<Member> = (0..3)
            .map(|i| Member {
                client_port: ports[i],
                child: None,
                dir: dir.path().join(format!("m{}", i + 1)),
                log: dir.path().join(format!("m{}.log", i + 1)),
            })
            .collect();
        let peers = match kind {
            Kind::ZooKeeper => (0..3)
                .map(|i| {
                    format!(
                        "server.{}=127.0.0.1:{}:{}\n",
                        i + 1,
                        ports[3 + i],
                        ports[6 + i]
                    )
                })
                .collect(),
            Kind::Etcd => (0..3)
                .map(|i| format!("m{}=http://127.0.0.1:{}", i + 1, ports[3 + i]))
                .collect::<Vec<_>>()
                .join(","),
        };
        let mut cluster = RefCluster {
            kind,
            members,
            peers,
            _dir: dir,
        };
        for i in 0..3 {
            if kind == Kind::ZooKeeper {
                cluster.write_zk_config(i)?;
            }
            cluster.restart(i)?;
        }
        Ok(cluster)
    }

    fn write_zk_config(&self, i: usize) -> anyhow::Result<()> {
        let m = &self.members[i];
        let data = m.dir.join("data");
        std::fs::create_dir_all(&data)?;
        std::fs::write(data.join("myid"), format!("{}\n", i + 1))?;
        std::fs::copy(ZK_LOG4J, m.dir.join("log4j.properties"))
            .with_context(|| format!("cannot copy {ZK_LOG4J}"))?;
        // Default durability (forceSync=yes); 256 sessions come from one address, beyond the
        // default limit of 60 per address.
        let config = format!(
            "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\n\
             clientPortAddress=127.0.0.1\nmaxClientCnxns=0\nadmin.enableServer=false\n\
             4lw.commands.whitelist=srvr,stat,mntr,conf,ruok\n{}",
            data.display(),
            m.client_port,
            self.peers
        );
        std::fs::write(m.dir.join("zoo.cfg"), config)?;
        Ok(())
    }

    /// Starts member `i` (0-based) again after [`RefCluster::kill9`], with its data.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        let kind = self.kind;
        let m = &mut self.members[i];
        if m.child.is_some() {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)
            .with_context(|| format!("cannot open {}", m.log.display()))?;
        let mut cmd = match kind {
            Kind::ZooKeeper => {
                let mut classpath = vec![m.dir.display().to_string()];
                classpath.extend(ZK_CLASSPATH.iter().map(|s| s.to_string()));
                let mut c = Command::new("java");
                // The heap zkServer.sh gives it (ZK_SERVER_HEAP=1000).
                c.arg("-Xmx1000m")
                    .arg(format!("-Dzookeeper.log.dir={}", m.dir.display()))
                    .arg("-Dzookeeper.root.logger=INFO,CONSOLE")
                    .arg("-cp")
                    .arg(classpath.join(":"))
                    .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
                    .arg(m.dir.join("zoo.cfg"));
                c
            }
            Kind::Etcd => {
                let n = i + 1;
                let peer_url = self
                    .peers
                    .split(',')
                    .nth(i)
                    .and_then(|p| p.split_once('='))
                    .map(|(_, url)| url.to_string())
                    .context("no peer URL")?;
                let client_url = format!("http://127.0.0.1:{}", m.client_port);
                let mut c = Command::new("etcd");
                // The same flags on a restart: with a data dir, etcd ignores --initial-*.
                c.args(["--name", &format!("m{n}")])
                    .arg("--data-dir")
                    .arg(&m.dir)
                    .args(["--listen-client-urls", &client_url])
                    .args(["--advertise-client-urls", &client_url])
                    .args(["--listen-peer-urls", &peer_url])
                    .args(["--initial-advertise-peer-urls", &peer_url])
                    .args(["--initial-cluster", &self.peers])
                    .args(["--initial-cluster-token", "helios-bench"])
                    .args(["--initial-cluster-state", "new"])
                    .args(["--logger", "zap", "--log-outputs", "stderr"]);
                c
            }
        };
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        die_with_parent(&mut cmd);
        m.child = Some(
            cmd.spawn()
                .with_context(|| format!("cannot start {} member {}", kind.name(), i + 1))?,
        );
        Ok(())
    }

    /// `kill -9` of member `i`.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Pids of the members (0 for a member that is down).
    pub fn pids(&self) -> Vec<u32> {
        self.members
            .iter()
            .map(|m| m.child.as_ref().map_or(0, Child::id))
            .collect()
    }

    /// `127.0.0.1:<client port>` of each member.
    pub fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client_port))
            .collect()
    }

    /// Index of the member that leads now, if one does.
    pub async fn leader(&self) -> Option<usize> {
        for (i, m) in self.members.iter().enumerate() {
            if m.child.is_some() && self.role(m.client_port).await == Some(Role::Leader) {
                return Some(i);
            }
        }
        None
    }

    /// Waits until every running member answers and one of them leads; returns the leader.
    pub async fn wait_healthy(&self, timeout: Duration) -> anyhow::Result<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut leader = None;
            let mut healthy = true;
            for (i, m) in self.members.iter().enumerate() {
                match self.role(m.client_port).await {
                    Some(Role::Leader) => leader = Some(i),
                    Some(Role::Follower) => {}
                    None => healthy = false,
                }
            }
            if let (true, Some(l)) = (healthy, leader) {
                return Ok(l);
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = self
                    .members
                    .iter()
                    .map(|m| format!("{}:\n{}", m.log.display(), helios_testkit::tail(&m.log, 8)))
                    .collect();
                bail!(
                    "the {} cluster was not healthy within {timeout:?}\n{}",
                    self.kind.name(),
                    logs.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// What the member on `port` says it is; None when it does not answer or has no leader.
    async fn role(&self, port: u16) -> Option<Role> {
        match self.kind {
            Kind::ZooKeeper => {
                let reply = tokio::task::spawn_blocking(move || four_letter_word(port, "srvr"))
                    .await
                    .ok()??;
                zk_role(&reply)
            }
            Kind::Etcd => {
                let reply = reqwest::Client::new()
                    .post(format!("http://127.0.0.1:{port}/v3/maintenance/status"))
                    .body("{}")
                    .timeout(Duration::from_secs(1))
                    .send()
                    .await
                    .ok()?;
                etcd_role(&reply.text().await.ok()?)
            }
        }
    }
}

impl Drop for RefCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill9(i);
        }
    }
}

/// A member's part in its cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Leader,
    Follower,
}

/// ZooKeeper's four-letter-word admin command on the client port.
fn four_letter_word(port: u16, word: &str) -> Option<String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    s.write_all(word.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// The role in a `srvr` reply (`Mode: leader|follower`); None while it has no quorum.
fn zk_role(srvr: &str) -> Option<Role> {
    let mode = srvr.lines().find_map(|l| l.strip_prefix("Mode: "))?.trim();
    match mode {
        "leader" => Some(Role::Leader),
        "follower" => Some(Role::Follower),
        _ => None,
    }
}

/// The role in etcd's `/v3/maintenance/status` reply: leader when its member id is the
/// leader's; None without a leader. The JSON gateway renders uint64 as strings.
fn etcd_role(status: &str) -> Option<Role> {
    let v: serde_json::Value = serde_json::from_str(status).ok()?;
    let me = v["header"]["member_id"].as_str()?;
    let leader = v["leader"].as_str().filter(|l| *l != "0")?;
    Some(if me == leader {
        Role::Leader
    } else {
        Role::Follower
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_zookeeper_modes() {
        let srvr =
            "Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nMode: leader\nNode count: 5\n";
        assert_eq!(zk_role(srvr), Some(Role::Leader));
        assert_eq!(zk_role("Mode: follower\n"), Some(Role::Follower));
        assert_eq!(
            zk_role("This ZooKeeper instance is not currently serving requests\n"),
            None
        );
    }

    #[test]
    fn reads_etcd_leadership() {
        let leader = r#"{"header":{"member_id":"42","raft_term":"2"},"leader":"42"}"#;
        let follower = r#"{"header":{"member_id":"7"},"leader":"42"}"#;
        let none = r#"{"header":{"member_id":"7"},"leader":"0"}"#;
        assert_eq!(etcd_role(leader), Some(Role::Leader));
        assert_eq!(etcd_role(follower), Some(Role::Follower));
        assert_eq!(etcd_role(none), None);
    }
}
