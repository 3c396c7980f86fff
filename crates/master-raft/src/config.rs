//! Command-line flags of `helios-master` (each also settable as `HELIOS_<FLAG>`), and their
//! checks: a bad flag stops the master at once with a one-line error.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;

/// Most agent sessions one master holds at once. Each costs a task, two channels and a
/// snapshot of its host's deployments; the bound keeps a flood of connections (a misconfigured
/// fleet, a reconnect storm through a proxy) from exhausting the leader's memory. Far above the
/// 10,000 hosts a cluster is sized for, so a real fleet never meets it.
pub const MAX_AGENT_SESSIONS: usize = 20_000;

/// A member of the replicated Helios master.
#[derive(Debug, Clone, Parser)]
#[command(name = "helios-master", version, about)]
pub struct Args {
    /// This member's id in the Raft group: unique, never reused for a wiped member.
    #[arg(long, env = "HELIOS_ID", default_value_t = 1, global = true)]
    pub id: u64,

    /// The master's name (default: `<hostname>-<id>`).
    #[arg(long, env = "HELIOS_NAME", global = true)]
    pub name: Option<String>,

    /// Directory of this member's sled store.
    #[arg(
        long,
        env = "HELIOS_DATA_DIR",
        default_value = "helios-data/master",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Listen address of the HTTP API.
    #[arg(
        long,
        env = "HELIOS_HTTP",
        default_value = "0.0.0.0:5801",
        global = true
    )]
    pub http: SocketAddr,

    /// Listen address of the cluster port (Raft, agents).
    #[arg(
        long,
        env = "HELIOS_CLUSTER",
        default_value = "0.0.0.0:5802",
        global = true
    )]
    pub cluster: SocketAddr,

    /// HTTP address other masters use to reach this one (default: the cluster host with the
    /// `--http` port).
    #[arg(long, env = "HELIOS_ADVERTISE_HTTP", global = true)]
    pub advertise_http: Option<String>,

    /// Cluster address other masters use to reach this one (default: this member's entry in
    /// `--peers`, else `--cluster`).
    #[arg(long, env = "HELIOS_ADVERTISE_CLUSTER", global = true)]
    pub advertise_cluster: Option<String>,

    /// The initial members: `1=host:port,2=host:port,…` (cluster addresses). The lowest id
    /// initialises the cluster when no member has state. Without it and without `--join`,
    /// the master forms a one-member cluster.
    #[arg(long, env = "HELIOS_PEERS")]
    pub peers: Option<String>,

    /// Join a running cluster through the cluster address of any member. With --await-add,
    /// only the member a join token is presented to (security on).
    #[arg(long, env = "HELIOS_JOIN", conflicts_with = "peers")]
    pub join: Option<String>,

    /// Start without forming or joining a cluster, and wait for `helios masters add NAME
    /// --cluster ADDR --http ADDR` to add this master (as a learner until it caught up, then
    /// as a voter). Needs an empty data directory the first time.
    #[arg(long, env = "HELIOS_AWAIT_ADD", conflicts_with = "peers")]
    pub await_add: bool,

    /// A Linux capability jobs may add (repeatable); none by default, as in Helios.
    #[arg(
        long = "whitelisted-capability",
        env = "HELIOS_WHITELISTED_CAPABILITIES",
        value_delimiter = ','
    )]
    pub whitelisted_capabilities: Vec<String>,

    /// Raft heartbeat interval in milliseconds (less than half the election timeout); also
    /// the deadline of each heartbeat RPC.
    #[arg(long, env = "HELIOS_HEARTBEAT_MS", default_value_t = 60)]
    pub heartbeat_ms: u64,

    /// Raft minimum election timeout in milliseconds (the maximum is twice this). A follower
    /// that hears nothing from the leader for the leader's lease (the maximum) plus a random
    /// timeout in [this, twice this) asks for votes: 3 to 4 times this value. With 200, a
    /// leader killed under load was replaced and writes flowed again after about 0.65 s
    /// (1.8 s with 500); a longer timeout tolerates slower hosts and networks.
    #[arg(long, env = "HELIOS_ELECTION_TIMEOUT_MS", default_value_t = 200)]
    pub election_timeout_ms: u64,

    /// How often agents send heartbeats, in milliseconds; a host is DOWN after 3 missed.
    #[arg(long, env = "HELIOS_AGENT_HEARTBEAT_MS", default_value_t = 5000)]
    pub agent_heartbeat_ms: u32,

    /// Most agent sessions this master holds at once; more are refused (RESOURCE_EXHAUSTED).
    #[arg(long, env = "HELIOS_MAX_AGENT_SESSIONS", default_value_t = MAX_AGENT_SESSIONS)]
    pub max_agent_sessions: usize,

    /// Build a snapshot after this many log entries since the last one (ZooKeeper's
    /// `snapCount` default; a snapshot writes the whole state, the log replays fast).
    #[arg(long, env = "HELIOS_SNAPSHOT_EVERY", default_value_t = 100_000)]
    pub snapshot_every: u64,

    /// Log entries kept behind a snapshot (so a briefly lagging member catches up from the
    /// log instead of a snapshot).
    #[arg(long, env = "HELIOS_LOG_KEEP", default_value_t = 1000)]
    pub log_keep: u64,

    /// Deregister hosts whose agent has been DOWN this long: hours as in Helios (`336`, 14
    /// days), or a duration such as `30s`, `10m`, `2h 30m`; `0` disables.
    #[arg(
        long,
        env = "HELIOS_AGENT_REAPING_TIMEOUT",
        default_value = "336",
        value_name = "HOURS|DURATION"
    )]
    pub agent_reaping_timeout: String,

    /// Remove jobs deployed nowhere (and not a deployment group's job) that have been idle
    /// this long (no task event, or created before): days as in Helios, or a duration such
    /// as `12h`; `-1` or `0` (the default) keeps them.
    #[arg(
        long,
        env = "HELIOS_JOB_RETENTION",
        default_value = "-1",
        allow_hyphen_values = true,
        value_name = "DAYS|DURATION"
    )]
    pub job_retention: String,

    /// Answer DNS queries (UDP and TCP) on this address: SRV and A records of the registered
    /// services of running tasks, and `_helios._http.<--dns-domain>` for the masters; off
    /// unless given.
    #[arg(long, env = "HELIOS_DNS_ADDR", value_name = "ADDR")]
    pub dns_addr: Option<SocketAddr>,

    /// The DNS domain of jobs without a `registrationDomain`, and of the masters.
    #[arg(long, env = "HELIOS_DNS_DOMAIN", default_value = "helios")]
    pub dns_domain: String,

    /// Accepted for Helios's command lines: Helios's JobHistoryReaper removes the task history
    /// of removed jobs; here removing a job always removes its history.
    #[arg(long, env = "HELIOS_REAP_HISTORY")]
    pub reap_history: bool,

    /// Task history events kept per job and host (the leader's number holds for the
    /// cluster).
    #[arg(long, env = "HELIOS_HISTORY_LIMIT", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub history_limit: u32,

    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "HELIOS_LOG_JSON")]
    pub log_json: bool,

    /// `on`: every API call (REST and gRPC) needs an API token with a role, and the cluster
    /// port is mutual TLS with certificates of the cluster's own CA (join tokens); the first
    /// master writes the first admin token to `<data-dir>/admin-token`. `off`: anyone who
    /// reaches the ports may do anything (Helios's behaviour). Default: off when every address
    /// this master listens on and advertises is loopback, or when its data directory predates
    /// security; else on.
    #[arg(long, env = "HELIOS_SECURITY", value_enum)]
    pub security: Option<Security>,

    /// A master join token (`helios-master join-token master` on a member): with `--join` and
    /// security on, this member gets its cluster-port certificate from the cluster with it.
    #[arg(
        long,
        env = "HELIOS_JOIN_TOKEN",
        requires = "join",
        hide_env_values = true
    )]
    pub join_token: Option<String>,

    /// How long the cluster-port certificates this master issues are valid: hours, or a
    /// duration such as `30m` (90 days by default, as Swarm). Agents and masters renew theirs
    /// between half and three quarters of that, without dropping their connections.
    #[arg(long, env = "HELIOS_CERT_VALIDITY", default_value = "2160")]
    pub cert_validity: String,

    /// Allow `--security off` on addresses that are not loopback.
    #[arg(long, env = "HELIOS_INSECURE_I_KNOW")]
    pub insecure_i_know: bool,

    /// Serve the HTTP API (REST and gRPC) over TLS with this certificate chain (PEM), read
    /// again when the file changes; needs --tls-key. Requests forwarded to the leader go over
    /// https too.
    #[arg(
        long,
        env = "HELIOS_MASTER_TLS_CERT",
        requires = "tls_key",
        global = true
    )]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(
        long,
        env = "HELIOS_MASTER_TLS_KEY",
        requires = "tls_cert",
        global = true
    )]
    pub tls_key: Option<PathBuf>,

    /// With --tls-cert: require client certificates signed by this CA (PEM) on the HTTP API,
    /// and trust it for the masters' own certificates when forwarding; without --tls-cert (as
    /// for `join-token`): trust it for the master's certificate.
    #[arg(long, env = "HELIOS_MASTER_TLS_CA", global = true)]
    pub tls_ca: Option<PathBuf>,

    /// Instead of running a master, a command for one.
    #[command(subcommand)]
    pub command: Option<MasterCommand>,
}

/// Commands of `helios-master` other than running one.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum MasterCommand {
    /// Print the join token of a role (`agent` or `master`) of a secured cluster, asking a
    /// running master with an admin API token (the member's own `<data-dir>/admin-token`
    /// unless --api-token-file or HELIOS_API_TOKEN says otherwise).
    JoinToken {
        /// `agent` or `master`.
        role: String,
        /// Replace the role's secret first: tokens printed before no longer join.
        #[arg(long)]
        rotate: bool,
        /// The master's HTTP API.
        #[arg(long, default_value = "http://127.0.0.1:5801")]
        master: String,
        /// File holding an admin API token.
        #[arg(long)]
        api_token_file: Option<PathBuf>,
    },
    /// Seed a new cluster from a backup (`helios backup FILE`): writes it into an empty
    /// --data-dir as the state of a one-member cluster whose only member is this master
    /// (--id, --name, --cluster, --http as it will run with). Start the master with the same
    /// flags, then add the others (`--join`, or `--await-add` and `helios masters add`). The
    /// cluster id is the backup's, so agents reconnect and keep their containers.
    Restore {
        /// The backup file.
        #[arg(long = "from")]
        from: PathBuf,
    },
}

/// The file a member with security on keeps in its data directory: without it, a directory
/// with state was made before security existed, and `--security` left to its default stays
/// off for it.
pub const SECURED_MARKER: &str = "security-on";

/// Restricts a data directory to its owner: the replicated state in it holds the cluster's CA
/// key and join secrets.
pub fn restrict_to_owner(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict {} to its owner", dir.display()))
}

/// Writes [`SECURED_MARKER`] in a data directory whose member runs with security on.
pub fn mark_secured(dir: &std::path::Path) -> anyhow::Result<()> {
    let marker = dir.join(SECURED_MARKER);
    std::fs::write(&marker, b"this member runs with --security on\n")
        .with_context(|| format!("cannot write {}", marker.display()))
}

/// Whether the master asks callers for credentials (`--security`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Security {
    /// API tokens required.
    On,
    /// Open to whoever reaches the ports.
    Off,
}

/// Whether `addr` (`host:port`, or a bare host) can only be reached from this machine.
fn is_loopback(addr: &str) -> bool {
    let host = match addr.parse::<SocketAddr>() {
        Ok(a) => return a.ip().is_loopback(),
        Err(_) => addr.rsplit_once(':').map_or(addr, |(h, _)| h),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// The checked configuration a master runs with.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    /// Raft id.
    pub id: u64,
    /// Name shown by `helios masters`.
    pub name: String,
    /// sled directory.
    pub data_dir: PathBuf,
    /// HTTP listen address.
    pub http: SocketAddr,
    /// Cluster listen address.
    pub cluster: SocketAddr,
    /// Advertised HTTP `host:port`.
    pub advertise_http: String,
    /// Advertised cluster `host:port`.
    pub advertise_cluster: String,
    /// Initial members (id → cluster address), including this one.
    pub peers: BTreeMap<u64, String>,
    /// Cluster address to join through, instead of `peers`.
    pub join: Option<String>,
    /// Wait to be added by `helios masters add` instead of forming or joining a cluster.
    pub await_add: bool,
    /// Capabilities jobs may add.
    pub whitelisted_capabilities: BTreeSet<String>,
    /// Raft heartbeat interval (ms).
    pub heartbeat_ms: u64,
    /// Raft minimum election timeout (ms).
    pub election_timeout_ms: u64,
    /// Entries between snapshots.
    pub snapshot_every: u64,
    /// Agents' heartbeat period (ms).
    pub agent_heartbeat_ms: u32,
    /// Most agent sessions at once.
    pub max_agent_sessions: usize,
    /// Entries kept behind a snapshot.
    pub log_keep: u64,
    /// How long a host may stay DOWN before it is deregistered; `None` when disabled.
    pub agent_reaping_timeout: Option<Duration>,
    /// How long a job deployed nowhere may stay idle before it is removed; `None`: kept.
    pub job_retention: Option<Duration>,
    /// Task history events kept per job and host.
    pub history_limit: u32,
    /// Where DNS is answered, if anywhere.
    pub dns_addr: Option<SocketAddr>,
    /// The DNS domain of jobs without a `registrationDomain`, and of the masters.
    pub dns_domain: String,
    /// Whether API calls need tokens and the cluster port mutual TLS (`--security`).
    pub security: bool,
    /// Security was left off because the data directory predates it (see [`SECURED_MARKER`]).
    pub unsecured_legacy_data: bool,
    /// The join token to get this member's certificate with.
    pub join_token: Option<helios_pki::JoinToken>,
    /// Validity of the certificates this master issues.
    pub cert_validity: Duration,
    /// TLS of the HTTP API (`--tls-cert`, `--tls-key`, `--tls-ca`), when asked for.
    pub api_tls: Option<helios_pki::api_tls::TlsFiles>,
}

/// Parses `--agent-reaping-timeout`: a bare number is hours, as in Helios; anything else is a
/// duration such as `30s`, `10m` or `1h 30m`. Zero disables reaping (`None`).
pub fn parse_reaping_timeout(s: &str) -> anyhow::Result<Option<Duration>> {
    parse_units_or_duration("--agent-reaping-timeout", s, 3600, "hours")
}

/// Parses a flag that is a number of units (`unit_secs` seconds each, called `units`) when a
/// bare number, else a duration such as `30s` or `1h 30m`; zero is `None`. Errors name `flag`.
fn parse_units_or_duration(
    flag: &str,
    s: &str,
    unit_secs: u64,
    units: &str,
) -> anyhow::Result<Option<Duration>> {
    let s = s.trim();
    let timeout = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let count: u64 = s
            .parse()
            .with_context(|| format!("{flag} {s:?} is too large"))?;
        count
            .checked_mul(unit_secs)
            .map(Duration::from_secs)
            .with_context(|| format!("{flag} {s:?} is too large"))?
    } else {
        humantime::parse_duration(s).map_err(|e| {
            anyhow::anyhow!(
                "{flag} {s:?} is neither {units} nor a duration such as 30s or 10m: {e}"
            )
        })?
    };
    Ok((!timeout.is_zero()).then_some(timeout))
}

/// Parses `1=host:port,2=host:port`.
pub fn parse_peers(s: &str) -> anyhow::Result<BTreeMap<u64, String>> {
    let mut peers = BTreeMap::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (id, addr) = item
            .split_once('=')
            .with_context(|| format!("--peers entry {item:?} is not ID=HOST:PORT"))?;
        let id: u64 = id
            .trim()
            .parse()
            .with_context(|| format!("--peers entry {item:?}: {id:?} is not a numeric id"))?;
        let addr = addr.trim();
        match addr.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
            _ => bail!("--peers entry {item:?}: {addr:?} is not HOST:PORT"),
        }
        if peers.insert(id, addr.to_string()).is_some() {
            bail!("--peers names id {id} twice");
        }
    }
    if peers.is_empty() {
        bail!("--peers is empty");
    }
    Ok(peers)
}

/// The machine's host name (`localhost` when it has none).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Replaces an unspecified listen host (`0.0.0.0`, `::`) by a routable default.
fn advertised(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("{}:{}", host_name(), addr.port())
    } else {
        addr.to_string()
    }
}

impl Args {
    /// Checks the flags and derives the defaults.
    pub fn into_config(self) -> anyhow::Result<MasterConfig> {
        if self.id == 0 {
            bail!("--id must be a positive integer");
        }
        let peers = match &self.peers {
            Some(p) => {
                let peers = parse_peers(p)?;
                if !peers.contains_key(&self.id) {
                    bail!(
                        "--peers does not include this master's own id {} (it lists {:?})",
                        self.id,
                        peers.keys().collect::<Vec<_>>()
                    );
                }
                peers
            }
            None => BTreeMap::new(),
        };
        let advertise_cluster = self
            .advertise_cluster
            .clone()
            .or_else(|| peers.get(&self.id).cloned())
            .unwrap_or_else(|| advertised(self.cluster));
        let advertise_http = self.advertise_http.clone().unwrap_or_else(|| {
            if self.http.ip().is_unspecified() {
                let host = advertise_cluster
                    .rsplit_once(':')
                    .map(|(h, _)| h.to_string())
                    .unwrap_or_else(host_name);
                format!("{host}:{}", self.http.port())
            } else {
                self.http.to_string()
            }
        });
        let peers = if peers.is_empty() && self.join.is_none() && !self.await_add {
            BTreeMap::from([(self.id, advertise_cluster.clone())])
        } else {
            peers
        };
        if self.election_timeout_ms <= self.heartbeat_ms * 2 {
            bail!("--election-timeout-ms must be more than twice --heartbeat-ms");
        }
        let agent_reaping_timeout = parse_reaping_timeout(&self.agent_reaping_timeout)?;
        let job_retention = match self.job_retention.trim() {
            "-1" => None,
            days => parse_units_or_duration("--job-retention", days, 86_400, "days")?,
        };
        let exposed: Vec<String> = [
            self.http.to_string(),
            self.cluster.to_string(),
            advertise_http.clone(),
            advertise_cluster.clone(),
        ]
        .into_iter()
        .chain(peers.values().cloned())
        .chain(self.join.clone())
        .filter(|a| !is_loopback(a))
        .collect();
        // A data directory with state but without the marker of a secured member was made
        // before security existed (or with it off): `auto` keeps it as it was, so that an
        // upgrade does not lock out its peers, agents and clients.
        let legacy_data =
            self.data_dir.join("db").exists() && !self.data_dir.join(SECURED_MARKER).exists();
        let security = match self.security {
            Some(Security::On) => true,
            None if legacy_data && !exposed.is_empty() => false,
            None => !exposed.is_empty(),
            Some(Security::Off) if exposed.is_empty() || self.insecure_i_know => false,
            Some(Security::Off) => bail!(
                "--security off on addresses other machines can reach ({}): anyone who reaches \
                 them could create, deploy and remove anything; use --security on, bind \
                 loopback, or add --insecure-i-know",
                exposed.join(", ")
            ),
        };
        let join_token = self
            .join_token
            .as_deref()
            .map(str::parse::<helios_pki::JoinToken>)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--join-token: {e}"))?;
        if let Some(token) = &join_token {
            if token.role != helios_pki::Role::Master {
                bail!(
                    "--join-token is an {} token; a master joins with a master token",
                    token.role
                );
            }
            if !security {
                bail!("--join-token is for a cluster with security on; add --security on");
            }
        }
        let cert_validity =
            parse_units_or_duration("--cert-validity", &self.cert_validity, 3600, "hours")?
                .context("--cert-validity must be more than zero")?;
        let api_tls = match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => Some(helios_pki::api_tls::TlsFiles {
                cert,
                key,
                ca: self.tls_ca,
            }),
            (None, None) => None,
            _ => bail!("--tls-cert and --tls-key go together"),
        };
        if let Some(files) = &api_tls {
            files
                .server_config()
                .map_err(|e| anyhow::anyhow!("the HTTP API's TLS files: {e}"))?;
        }
        Ok(MasterConfig {
            id: self.id,
            name: self
                .name
                .clone()
                .unwrap_or_else(|| format!("{}-{}", host_name(), self.id)),
            data_dir: self.data_dir,
            http: self.http,
            cluster: self.cluster,
            advertise_http,
            advertise_cluster,
            peers,
            join: self.join,
            await_add: self.await_add,
            whitelisted_capabilities: self.whitelisted_capabilities.into_iter().collect(),
            heartbeat_ms: self.heartbeat_ms,
            election_timeout_ms: self.election_timeout_ms,
            snapshot_every: self.snapshot_every.max(1),
            log_keep: self.log_keep,
            agent_heartbeat_ms: self.agent_heartbeat_ms.max(100),
            max_agent_sessions: self.max_agent_sessions.max(1),
            agent_reaping_timeout,
            job_retention,
            history_limit: self.history_limit,
            dns_addr: self.dns_addr,
            dns_domain: self.dns_domain.trim_end_matches('.').to_ascii_lowercase(),
            security,
            unsecured_legacy_data: legacy_data && !exposed.is_empty() && self.security.is_none(),
            join_token,
            cert_validity,
            api_tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_and_reject() {
        let p = parse_peers("1=127.0.0.1:5802, 2=m2:5802,3=[::1]:5802").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[&2], "m2:5802");
        assert!(parse_peers("1=a:1,1=b:2").is_err());
        assert!(parse_peers("x=a:1").is_err());
        assert!(parse_peers("1=a").is_err());
        assert!(parse_peers("").is_err());
    }

    #[test]
    fn peers_must_include_own_id() {
        let args = Args::parse_from(["helios-master", "--id", "4", "--peers", "1=a:1,2=b:2"]);
        let err = args.into_config().unwrap_err().to_string();
        assert!(err.contains("own id 4"), "{err}");
    }

    #[test]
    fn reaping_timeout_hours_durations_and_off() {
        let h = |n: u64| Some(Duration::from_secs(n * 3600));
        assert_eq!(parse_reaping_timeout("336").unwrap(), h(336));
        assert_eq!(parse_reaping_timeout(" 1 ").unwrap(), h(1));
        assert_eq!(
            parse_reaping_timeout("30s").unwrap(),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_reaping_timeout("1h 30m").unwrap(),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(parse_reaping_timeout("0").unwrap(), None);
        assert_eq!(parse_reaping_timeout("0s").unwrap(), None);
        for bad in ["", "soon", "-1", "99999999999999999999"] {
            let err = parse_reaping_timeout(bad).unwrap_err().to_string();
            assert!(err.contains("--agent-reaping-timeout"), "{bad}: {err}");
        }
        let args = Args::parse_from(["helios-master"]);
        assert_eq!(args.into_config().unwrap().agent_reaping_timeout, h(336));
        let args = Args::parse_from(["helios-master", "--agent-reaping-timeout", "3s"]);
        assert_eq!(
            args.into_config().unwrap().agent_reaping_timeout,
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn job_retention_days_durations_and_off() {
        let retention = |args: &[&str]| {
            let mut all = vec!["helios-master"];
            all.extend_from_slice(args);
            Args::parse_from(all).into_config().map(|c| c.job_retention)
        };
        assert_eq!(retention(&[]).unwrap(), None);
        assert_eq!(retention(&["--job-retention", "-1"]).unwrap(), None);
        assert_eq!(retention(&["--job-retention", "0"]).unwrap(), None);
        assert_eq!(
            retention(&["--job-retention", "7"]).unwrap(),
            Some(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(
            retention(&["--job-retention", "90s"]).unwrap(),
            Some(Duration::from_secs(90))
        );
        let err = retention(&["--job-retention", "-2"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--job-retention") && err.contains("days"),
            "{err}"
        );
        let limit = Args::try_parse_from(["helios-master", "--history-limit", "0"]);
        assert!(limit.is_err());
        let cfg = Args::parse_from(["helios-master", "--history-limit", "5"]).into_config();
        assert_eq!(cfg.unwrap().history_limit, 5);
    }

    #[test]
    fn security_is_on_unless_every_address_is_loopback() {
        let config = |args: &[&str]| {
            let mut all = vec!["helios-master"];
            all.extend_from_slice(args);
            Args::parse_from(all).into_config()
        };
        let local = ["--http", "127.0.0.1:5801", "--cluster", "127.0.0.1:5802"];
        assert!(!config(&local).unwrap().security);
        assert!(
            config(&[&local[..], &["--security", "on"]].concat())
                .unwrap()
                .security
        );
        assert!(config(&[]).unwrap().security, "0.0.0.0 is reachable");
        let peers = [&local[..], &["--peers", "1=127.0.0.1:5802,2=10.0.0.2:5802"]].concat();
        assert!(config(&peers).unwrap().security);
        let err = config(&["--security", "off"]).unwrap_err().to_string();
        assert!(
            err.contains("--insecure-i-know") && err.contains("0.0.0.0:5801"),
            "{err}"
        );
        assert!(
            !config(&["--security", "off", "--insecure-i-know"])
                .unwrap()
                .security
        );
        assert!(is_loopback("localhost:1") && is_loopback("[::1]:2") && !is_loopback("m2:1"));
        // A data directory with state from before security keeps it off unless told.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db"), b"").unwrap();
        let data = ["--data-dir", dir.path().to_str().unwrap()];
        let legacy = config(&data).unwrap();
        assert!(!legacy.security && legacy.unsecured_legacy_data);
        assert!(
            config(&[&data[..], &["--security", "on"]].concat())
                .unwrap()
                .security
        );
        std::fs::write(dir.path().join(SECURED_MARKER), b"").unwrap();
        let secured = config(&data).unwrap();
        assert!(secured.security && !secured.unsecured_legacy_data);
    }

    #[test]
    fn single_member_by_default() {
        let args = Args::parse_from(["helios-master", "--cluster", "127.0.0.1:7000"]);
        let c = args.into_config().unwrap();
        assert_eq!(c.peers, BTreeMap::from([(1, "127.0.0.1:7000".to_string())]));
        assert_eq!(
            c.advertise_http,
            "0.0.0.0:5801".replace("0.0.0.0", "127.0.0.1")
        );
    }
}
