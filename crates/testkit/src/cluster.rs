//! Several master processes forming one cluster: laid out (ports, data directories, flags),
//! started, waited on until they agree on a leader, and hit by faults ([`Cluster::inject`]).
//!
//! The tests' defaults ([`ClusterOptions::default`]) are fast Raft timings and masters built by
//! cargo; the benchmark names a release build, keeps the master's own timings, and chooses
//! where the data directories live.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::master::{Launch, Master};
use crate::netns::Hosts;
use crate::ports::free_ports;

/// How to lay out and launch a cluster's masters.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Number of members (ids 1 to `size`).
    pub size: usize,
    /// The `helios-master` executable; `None`: built by cargo for this test's profile
    /// ([`crate::bin`]). See [`crate::bins`] for a release build or one found on disk.
    pub master_bin: Option<PathBuf>,
    /// Parent of the temporary directory holding the data directories and logs (default:
    /// the system's temporary directory).
    pub data_root: Option<PathBuf>,
    /// Name prefix of that temporary directory.
    pub dir_prefix: String,
    /// `--name` of member `id` is this followed by the id.
    pub name_prefix: String,
    /// Flags every member gets first: by default fast Raft timings (`--heartbeat-ms 100
    /// --election-timeout-ms 600`) and `--agent-heartbeat-ms 1000`; empty for the master's
    /// own defaults.
    pub base_args: Vec<String>,
    /// Flags every member gets after `base_args` (each member's [`Master::extra_args`]).
    pub extra_args: Vec<String>,
    /// `HELIOS_LOG` of the masters; `None` leaves the environment's (or the master's default).
    pub log_filter: Option<String>,
    /// Have the kernel kill every master when the thread that started it exits (see
    /// [`crate::master::die_with_parent`]); for a benchmark that may be interrupted.
    pub die_with_parent: bool,
}

impl Default for ClusterOptions {
    /// Three members as the tests run them.
    fn default() -> Self {
        ClusterOptions {
            size: 3,
            master_bin: None,
            data_root: None,
            dir_prefix: ".tmp".into(),
            name_prefix: "master".into(),
            base_args: [
                "--heartbeat-ms",
                "100",
                "--election-timeout-ms",
                "600",
                "--agent-heartbeat-ms",
                "1000",
            ]
            .map(String::from)
            .to_vec(),
            extra_args: Vec::new(),
            // `HELIOS_TEST_LOG` (a tracing filter) makes the masters of a test say more.
            log_filter: Some(
                std::env::var("HELIOS_TEST_LOG").unwrap_or_else(|_| "info,openraft=warn".into()),
            ),
            die_with_parent: false,
        }
    }
}

/// Several masters forming one cluster; dropping it kills them (and removes their data).
pub struct Cluster {
    /// The members, index i has id i+1.
    pub masters: Vec<Master>,
    /// Keeps the data directories alive.
    pub dir: tempfile::TempDir,
    /// The hosts the members run on, one each, when they have their own.
    hosts: Option<Hosts>,
}

impl Cluster {
    /// Starts `n` masters with fresh data directories and waits for a leader.
    pub async fn start(n: usize) -> Cluster {
        Self::start_wrapped(n, |_| Vec::new()).await
    }

    /// Like [`Cluster::start`], each master running under the command `wrapper(id)` returns.
    pub async fn start_wrapped(n: usize, wrapper: impl Fn(u64) -> Vec<String>) -> Cluster {
        let mut cluster = Self::prepare(n, wrapper);
        cluster.start_all().await;
        cluster
    }

    /// Like [`Cluster::start`], with extra `helios-master` flags for every member.
    pub async fn start_with_args(n: usize, args: &[&str]) -> Cluster {
        let opts = ClusterOptions {
            size: n,
            extra_args: args.iter().map(|a| a.to_string()).collect(),
            ..ClusterOptions::default()
        };
        let mut cluster = Self::prepare_with(&opts, |_| Vec::new()).expect("lay out the cluster");
        cluster.start_all().await;
        cluster
    }

    /// Lays out `n` members (ports, directories, flags) without starting them.
    pub fn prepare(n: usize, wrapper: impl Fn(u64) -> Vec<String>) -> Cluster {
        let opts = ClusterOptions {
            size: n,
            ..ClusterOptions::default()
        };
        Self::prepare_with(&opts, wrapper).expect("lay out the cluster")
    }

    /// Lays out the members `opts` describes on loopback, each running under the command
    /// `wrapper(id)` returns (empty: none), without starting them. Every member's `--peers`
    /// names all of them; ports come from [`crate::ports`].
    pub fn prepare_with(
        opts: &ClusterOptions,
        wrapper: impl Fn(u64) -> Vec<String>,
    ) -> anyhow::Result<Cluster> {
        let mut builder = tempfile::Builder::new();
        builder.prefix(&opts.dir_prefix);
        // `HELIOS_KEEP_TEST_DATA=1` leaves the masters' data and logs behind for a post-mortem.
        let keep = std::env::var_os("HELIOS_KEEP_TEST_DATA").is_some();
        builder.disable_cleanup(keep);
        let dir = match &opts.data_root {
            Some(root) => {
                std::fs::create_dir_all(root)?;
                builder.tempdir_in(root)?
            }
            None => builder.tempdir()?,
        };
        if keep {
            eprintln!("keeping the masters' data in {}", dir.path().display());
        }
        let ports = free_ports(opts.size * 2);
        let launch = Launch {
            program: opts.master_bin.clone(),
            name_prefix: opts.name_prefix.clone(),
            base_args: opts.base_args.clone(),
            log_filter: opts.log_filter.clone(),
            die_with_parent: opts.die_with_parent,
        };
        let mut masters: Vec<Master> = (0..opts.size)
            .map(|i| {
                let id = i as u64 + 1;
                let mut m = Master::new(
                    id,
                    (ports[2 * i], ports[2 * i + 1]),
                    dir.path(),
                    String::new(),
                    wrapper(id),
                    launch.clone(),
                );
                m.extra_args = opts.extra_args.clone();
                m
            })
            .collect();
        set_peers(&mut masters);
        Ok(Cluster {
            masters,
            dir,
            hosts: None,
        })
    }

    /// Starts the members `opts` describes without waiting for a leader: the benchmark's
    /// start, which returns errors instead of panicking; then [`Cluster::try_wait_leader`].
    pub fn launch(opts: &ClusterOptions) -> anyhow::Result<Cluster> {
        let mut cluster = Self::prepare_with(opts, |_| Vec::new())?;
        for m in &mut cluster.masters {
            m.try_start()?;
        }
        Ok(cluster)
    }

    /// Starts member `i` (0-based) on host `i + 1` of `hosts`, each in its own network
    /// namespace, and waits for a leader. The cluster keeps a handle on the hosts, for the
    /// network faults of [`Cluster::inject`]. The hosts' addresses are not loopback, so the
    /// members are told `--security off --insecure-i-know`: these clusters test Raft under
    /// network faults, on a bridge of this machine's own (security has tests of its own).
    pub async fn on_hosts(hosts: &Hosts, n: usize) -> Cluster {
        let mut cluster = Self::prepare(n, |id| hosts.wrapper(id as usize));
        for m in &mut cluster.masters {
            m.ip = hosts.ip(m.id as usize);
            m.extra_args
                .extend(["--security", "off", "--insecure-i-know"].map(String::from));
        }
        set_peers(&mut cluster.masters);
        cluster.hosts = Some(hosts.clone());
        cluster.start_all().await;
        cluster
    }

    /// The hosts the members run on, when each has its own ([`Cluster::on_hosts`]).
    pub fn hosts(&self) -> Option<&Hosts> {
        self.hosts.as_ref()
    }

    /// `n` members with `--security on`, formed as an operator does: the first alone (it
    /// creates the CA and the first admin API token), then each other with `--join` and a
    /// master join token asked of the first through the API. Returns once every member is a
    /// live voter, with the admin token. Every member also gets `extra_args`.
    pub async fn start_secured(n: usize, extra_args: &[&str]) -> (Cluster, String) {
        let mut args = vec!["--security", "on"];
        args.extend_from_slice(extra_args);
        let opts = ClusterOptions {
            size: n,
            extra_args: args.into_iter().map(String::from).collect(),
            ..ClusterOptions::default()
        };
        let mut cluster = Self::prepare_with(&opts, |_| Vec::new()).expect("lay out the cluster");
        for m in &mut cluster.masters {
            m.peers.clear();
        }
        cluster.masters[0].start();
        let token_file = cluster.masters[0].data_dir.join("admin-token");
        let admin = crate::eventually(Duration::from_secs(30), "the first admin token", || {
            let text = std::fs::read_to_string(&token_file).ok();
            async move { text.map(|t| t.trim().to_string()) }
        })
        .await;
        let client = reqwest::Client::new();
        let first = cluster.masters[0].url();
        let join_token = crate::eventually(Duration::from_secs(30), "a master join token", || {
            let req = client
                .get(format!("{first}/join-tokens/master"))
                .bearer_auth(&admin);
            async move {
                let v: Value = req.send().await.ok()?.json().await.ok()?;
                v["token"].as_str().map(str::to_string)
            }
        })
        .await;
        let first_cluster = cluster.masters[0].cluster_addr();
        for m in &mut cluster.masters[1..] {
            m.extra_args
                .extend(["--join", &first_cluster, "--join-token", &join_token].map(String::from));
            m.start();
        }
        crate::eventually(Duration::from_secs(60), "every member a live voter", || {
            let req = client
                .get(format!("{first}/masters?all=true"))
                .bearer_auth(&admin);
            async move {
                let v: Value = req.send().await.ok()?.json().await.ok()?;
                let members = v.as_array()?;
                (members.len() == n && members.iter().all(|m| m["state"] == "up")).then_some(())
            }
        })
        .await;
        cluster.wait_leader(Duration::from_secs(30)).await;
        (cluster, admin)
    }

    /// Lays out one more member without starting it: the next id, fresh ports, the flags of
    /// the last member up to any `--join` ([`Cluster::start_secured`] appends `--join` and
    /// its token last), no `--peers` (it is added at runtime). Returns its index.
    pub fn add_spare(&mut self) -> usize {
        let last = self.masters.last().expect("a cluster has members");
        let ports = free_ports(2);
        let mut spare = Master::new(
            last.id + 1,
            (ports[0], ports[1]),
            self.dir.path(),
            String::new(),
            Vec::new(),
            last.launch.clone(),
        );
        spare.extra_args = last
            .extra_args
            .iter()
            .take_while(|a| *a != "--join")
            .cloned()
            .collect();
        self.masters.push(spare);
        self.masters.len() - 1
    }

    /// Starts every member and waits for a leader.
    pub async fn start_all(&mut self) {
        for m in &mut self.masters {
            m.start();
        }
        self.wait_leader(Duration::from_secs(60)).await;
    }

    /// Waits until every running master reports the same leader; returns its index. Panics
    /// with the masters' logs after `timeout`, or as soon as a master exited on its own.
    pub async fn wait_leader(&self, timeout: Duration) -> usize {
        match self.try_wait_leader(timeout).await {
            Ok(leader) => leader,
            Err(e) => panic!("{e:#}"),
        }
    }

    /// Like [`Cluster::wait_leader`], with an error instead of a panic.
    pub async fn try_wait_leader(&self, timeout: Duration) -> anyhow::Result<usize> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.masters.iter().find(|m| m.has_exited()) {
                anyhow::bail!(
                    "master {} exited on its own; its log:\n{}",
                    m.id,
                    m.log_tail()
                );
            }
            let mut leaders = Vec::new();
            for m in self.masters.iter().filter(|m| m.is_running()) {
                let r = client
                    .get(format!("{}/readyz", m.url()))
                    .timeout(Duration::from_secs(1))
                    .send()
                    .await;
                if let Ok(r) = r
                    && r.status().is_success()
                    && let Ok(v) = r.json::<Value>().await
                {
                    leaders.push(v["leader"].as_u64());
                } else {
                    leaders.push(None);
                }
            }
            if let Some(Some(l)) = leaders.first()
                && leaders.iter().all(|x| *x == Some(*l))
                && let Some(i) = self.masters.iter().position(|m| m.id == *l)
                && self.masters[i].is_running()
            {
                return Ok(i);
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = self.masters.iter().map(|m| m.log_tail()).collect();
                anyhow::bail!("no agreed leader: {leaders:?}\n{}", logs.join("\n----\n"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The cluster addresses of every member (for agents' `--master`).
    pub fn cluster_addrs(&self) -> Vec<String> {
        self.masters.iter().map(Master::cluster_addr).collect()
    }

    /// Every master URL.
    pub fn urls(&self) -> Vec<String> {
        self.masters.iter().map(Master::url).collect()
    }

    /// The member with this Raft id.
    pub fn member(&self, id: u64) -> Option<&Master> {
        self.masters.iter().find(|m| m.id == id)
    }

    /// The process ids of the running members, in id order.
    pub fn pids(&self) -> Vec<u32> {
        self.masters.iter().filter_map(Master::pid).collect()
    }
}

/// Sets every member's `--peers` to the cluster addresses of all of them.
fn set_peers(masters: &mut [Master]) {
    let peers = masters
        .iter()
        .map(|m| format!("{}={}", m.id, m.cluster_addr()))
        .collect::<Vec<_>>()
        .join(",");
    for m in masters {
        m.peers = peers.clone();
    }
}
