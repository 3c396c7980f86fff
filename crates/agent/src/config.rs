//! Command-line flags of `helios-agent` (each also settable as `HELIOS_<FLAG>`) and their
//! checks, worded as Helios's `AgentParser`. A bad flag stops the agent at once with a
//! one-line error; this module does no I/O beyond reading the host name (and resolving a
//! `--dns-server` given as a host name).
//!
//! Masters are found either from `--master` addresses or, with `--domain`, from DNS SRV
//! records `_<srv-name>._tcp.<domain>` ([`MasterDiscovery`]); explicit `--master` addresses
//! win when both are given, as explicit settings do in Helios. Without either the agent uses
//! `127.0.0.1:5802`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Parser;

/// The Docker endpoint used when neither `--docker` nor `$DOCKER_HOST` is set.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// The master address used when neither `--master` nor `--domain` is given.
pub const DEFAULT_MASTER: &str = "127.0.0.1:5802";

/// The SRV service name `--domain` looks up by default: `_helios-cluster._tcp.<domain>`.
pub const DEFAULT_SRV_NAME: &str = "helios-cluster";

/// The flags of the `helios-agent` binary.
#[derive(Debug, Clone, Parser)]
#[command(name = "helios-agent", version, about)]
pub struct Args {
    /// The host name this agent registers as (default: the machine's host name).
    #[arg(long, env = "HELIOS_NAME")]
    pub name: Option<String>,

    /// The agent id (default: 40 random upper-case hex chars, persisted in the state dir).
    #[arg(long, env = "HELIOS_ID")]
    pub id: Option<String>,

    /// Directory of the agent's state (lock, id, executions, task statuses).
    #[arg(long, env = "HELIOS_STATE_DIR", default_value = "helios-agent-state")]
    pub state_dir: PathBuf,

    /// A master's cluster address HOST:PORT (repeatable; the env var takes a comma list).
    /// Wins over --domain [default: 127.0.0.1:5802 when --domain is not given either].
    #[arg(long = "master", env = "HELIOS_AGENT_MASTER", value_delimiter = ',')]
    pub masters: Vec<String>,

    /// Find the masters' cluster addresses through the DNS SRV records
    /// _<srv-name>._tcp.<DOMAIN>, looked up again before each round of connection attempts.
    /// Ignored when --master is given.
    #[arg(long, env = "HELIOS_DOMAIN", value_name = "DOMAIN")]
    pub domain: Option<String>,

    /// SRV service name for --domain.
    #[arg(long, env = "HELIOS_SRV_NAME", value_name = "NAME", default_value = DEFAULT_SRV_NAME)]
    pub srv_name: String,

    /// DNS server HOST:PORT for --domain lookups [default: the system's, from /etc/resolv.conf].
    #[arg(
        long,
        env = helios_discovery::DNS_SERVER_ENV,
        value_name = "HOST:PORT",
        value_parser = helios_discovery::parse_dns_server
    )]
    pub dns_server: Option<SocketAddr>,

    /// The Docker endpoint: `unix:///path`, a socket path or `tcp://host:port`
    /// (default: `$DOCKER_HOST`, else the local socket). `fake:` simulates a host: containers
    /// run in memory and every image is present (for scale benchmarks, never production).
    #[arg(long, env = "HELIOS_DOCKER")]
    pub docker: Option<String>,

    /// Dynamic host ports are taken from START:END (END exclusive).
    #[arg(long, env = "HELIOS_PORT_RANGE", default_value = "20000:32768")]
    pub port_range: String,

    /// K=V given to every container (repeatable).
    #[arg(long = "env", env = "HELIOS_ENV", num_args = 1..)]
    pub env: Vec<String>,

    /// Host label k=v (repeatable; the env var takes a comma list).
    #[arg(long, env = "HELIOS_LABELS", num_args = 1.., value_delimiter = ',')]
    pub labels: Vec<String>,

    /// A bind mount added to every container, in `docker -v` syntax (repeatable).
    #[arg(long = "bind", env = "HELIOS_BIND")]
    pub binds: Vec<String>,

    /// A DNS server IP for containers (repeatable; the env var takes a comma list).
    #[arg(long, env = "HELIOS_DNS", value_delimiter = ',')]
    pub dns: Vec<String>,

    /// An extra `/etc/hosts` entry host:ip for containers (repeatable; comma list in env).
    #[arg(long = "add-host", env = "HELIOS_ADD_HOST", value_delimiter = ',')]
    pub add_hosts: Vec<String>,

    /// Heartbeat period in milliseconds (a master's Welcome may override it).
    #[arg(long, env = "HELIOS_HEARTBEAT_MS", default_value_t = 5000)]
    pub heartbeat_ms: u64,

    /// Exited containers kept per job; older ones are removed once a newer one runs.
    #[arg(long, env = "HELIOS_KEEP_EXITED", default_value_t = 2)]
    pub keep_exited: usize,

    /// Serve Prometheus metrics at `http://ADDR/metrics` (e.g. `127.0.0.1:5803`); off
    /// unless given.
    #[arg(long, env = "HELIOS_AGENT_METRICS_ADDR", value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "HELIOS_LOG_JSON")]
    pub log_json: bool,

    /// An agent join token of a secured cluster (`helios-master join-token agent`): the agent
    /// gets its certificate for the cluster port with it, once, and keeps it in
    /// `<state-dir>/tls/`.
    #[arg(long, env = "HELIOS_JOIN_TOKEN", hide_env_values = true)]
    pub join_token: Option<String>,
}

/// A range of host ports, `start` inclusive, `end` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port of the range.
    pub start: u16,
    /// One past the last port of the range.
    pub end: u16,
}

impl PortRange {
    /// Parses `START:END` with `1 <= START < END <= 65535`; anything else is
    /// `Bad port range: <s>`.
    pub fn parse(s: &str) -> anyhow::Result<PortRange> {
        let bad = || anyhow::anyhow!("Bad port range: {s}");
        let (a, b) = s.split_once(':').ok_or_else(bad)?;
        let start: u32 = a.trim().parse().map_err(|_| bad())?;
        let end: u32 = b.trim().parse().map_err(|_| bad())?;
        if start < 1 || end > 65535 || start >= end {
            return Err(bad());
        }
        Ok(PortRange {
            start: start as u16,
            end: end as u16,
        })
    }
}

/// Where the masters are published in DNS (`--domain`, `--srv-name`, `--dns-server`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterDiscovery {
    /// The domain, e.g. `example.com`.
    pub domain: String,
    /// The SRV service name, e.g. `helios-cluster`.
    pub srv_name: String,
    /// The DNS server to ask instead of the system's.
    pub dns_server: Option<SocketAddr>,
}

impl MasterDiscovery {
    /// The SRV record name: `_<srv-name>._tcp.<domain>`.
    pub fn record_name(&self) -> String {
        helios_discovery::srv_name("_%s._tcp.%s", &self.srv_name, &self.domain)
    }
}

/// The checked configuration an agent runs with (see [`crate::run`]).
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Host name the agent registers as; also the host part of `HELIOS_PORT_*`.
    pub name: String,
    /// Agent id; `None` means the one persisted in the state dir (created if absent).
    pub id: Option<String>,
    /// The state directory.
    pub state_dir: PathBuf,
    /// Masters' cluster addresses (`host:port`), tried in turn. Empty with `discovery`.
    pub masters: Vec<String>,
    /// Masters found through DNS instead of `masters` (`--domain`).
    pub discovery: Option<MasterDiscovery>,
    /// Docker endpoint (`unix:///…` or `tcp://host:port`).
    pub docker_host: String,
    /// Where dynamic ports come from.
    pub port_range: PortRange,
    /// Agent environment given to every container.
    pub env: BTreeMap<String, String>,
    /// Host labels.
    pub labels: BTreeMap<String, String>,
    /// Extra binds (`docker -v` syntax) for every container.
    pub binds: Vec<String>,
    /// DNS servers for every container.
    pub dns: Vec<IpAddr>,
    /// Extra hosts (`host:ip`) for every container.
    pub add_hosts: Vec<String>,
    /// Heartbeat period unless the master's Welcome names one.
    pub heartbeat: Duration,
    /// Exited containers kept per job.
    pub keep_exited: usize,
    /// Where `/metrics` is served (`--metrics-addr`), if anywhere.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The command-line arguments, reported in `AgentInfo.inputArguments`.
    pub input_arguments: Vec<String>,
    /// The join token of a secured cluster (`--join-token`).
    pub join_token: Option<helios_pki::JoinToken>,
}

impl AgentConfig {
    /// A configuration with every default, for embedding (e.g. `helios-solo`) and tests.
    pub fn new(name: impl Into<String>, state_dir: impl Into<PathBuf>) -> AgentConfig {
        AgentConfig {
            name: name.into(),
            id: None,
            state_dir: state_dir.into(),
            masters: vec![DEFAULT_MASTER.into()],
            discovery: None,
            docker_host: default_docker_host(),
            port_range: PortRange {
                start: 20000,
                end: 32768,
            },
            env: BTreeMap::new(),
            labels: BTreeMap::new(),
            binds: Vec::new(),
            dns: Vec::new(),
            add_hosts: Vec::new(),
            heartbeat: Duration::from_millis(5000),
            keep_exited: 2,
            metrics_addr: None,
            input_arguments: Vec::new(),
            join_token: None,
        }
    }
}

/// The command line as `AgentInfo.inputArguments` reports it (to every `read` token): a join
/// token's value is replaced by `<redacted>`.
fn redacted(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut secret_next = false;
    for arg in args {
        if secret_next {
            out.push("<redacted>".to_string());
            secret_next = false;
        } else if arg == "--join-token" {
            secret_next = true;
            out.push(arg);
        } else if arg.starts_with("--join-token=") {
            out.push("--join-token=<redacted>".to_string());
        } else {
            out.push(arg);
        }
    }
    out
}

/// The `--docker` value of a simulated host (the in-memory runtime).
pub const FAKE_DOCKER: &str = "fake:";

/// The Docker endpoint when `--docker` is not given: `$DOCKER_HOST`, else the local socket.
pub fn default_docker_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_string())
}

/// The machine's host name (`uname -n`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Parses `K=V` entries; `what` names the error (`Bad environment variable: …`).
fn parse_pairs(
    items: &[String],
    err: impl Fn(&str) -> String,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for item in items {
        match item.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                map.insert(k.to_string(), v.to_string());
            }
            _ => bail!("{}", err(item)),
        }
    }
    Ok(map)
}

/// Checks a bind in `docker -v` syntax: `src:dst[:opts]`, both paths non-empty and the
/// container path absolute.
fn check_bind(bind: &str) -> anyhow::Result<()> {
    let parts: Vec<&str> = bind.split(':').collect();
    let ok = match parts.as_slice() {
        [src, dst] | [src, dst, _] => !src.is_empty() && dst.starts_with('/'),
        _ => false,
    };
    if !ok {
        bail!("Invalid bind {bind}");
    }
    Ok(())
}

/// Checks `host:ip` (the IP may be IPv6, so split at the first colon).
fn check_extra_host(entry: &str) -> anyhow::Result<()> {
    match entry.split_once(':') {
        Some((host, ip)) if !host.is_empty() && ip.parse::<IpAddr>().is_ok() => Ok(()),
        _ => bail!("Invalid ExtraHost {entry}"),
    }
}

/// Checks a master address `host:port`.
fn check_master(addr: &str) -> anyhow::Result<()> {
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
            Ok(())
        }
        _ => bail!("Invalid master address {addr} (expected HOST:PORT)"),
    }
}

impl Args {
    /// Checks the flags and derives the defaults.
    pub fn into_config(self) -> anyhow::Result<AgentConfig> {
        let port_range = PortRange::parse(&self.port_range)?;
        let env = parse_pairs(&self.env, |s| format!("Bad environment variable: {s}"))?;
        let labels = parse_pairs(&self.labels, |_| {
            "Labels need to be in the format key=value.".to_string()
        })?;
        for bind in &self.binds {
            check_bind(bind)?;
        }
        let dns = self
            .dns
            .iter()
            .map(|d| {
                d.parse::<IpAddr>()
                    .map_err(|_| anyhow::anyhow!("Invalid IP address {d}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        for h in &self.add_hosts {
            check_extra_host(h)?;
        }
        let mut masters: Vec<String> = self
            .masters
            .iter()
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .collect();
        for m in &masters {
            check_master(m)?;
        }
        if self.srv_name.trim().is_empty() {
            bail!("--srv-name must not be empty");
        }
        let domain = self
            .domain
            .as_deref()
            .map(|d| d.trim().trim_end_matches('.'))
            .filter(|d| !d.is_empty());
        if let Some(d) = domain
            && d.contains(|c: char| c.is_whitespace() || c == '/' || c == ':')
        {
            bail!("Invalid domain {d}");
        }
        // Explicit addresses win over DNS; neither means the local master.
        let discovery = match domain {
            Some(domain) if masters.is_empty() => Some(MasterDiscovery {
                domain: domain.to_string(),
                srv_name: self.srv_name.trim().to_string(),
                dns_server: self.dns_server,
            }),
            _ => None,
        };
        if masters.is_empty() && discovery.is_none() {
            masters.push(DEFAULT_MASTER.to_string());
        }
        if let Some(id) = &self.id
            && id.trim().is_empty()
        {
            bail!("--id must not be empty");
        }
        if self.heartbeat_ms == 0 {
            bail!("--heartbeat-ms must be positive");
        }
        let name = self
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(host_name);
        let join_token = match self.join_token.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) => {
                let token: helios_pki::JoinToken = t
                    .parse()
                    .map_err(|e| anyhow::anyhow!("--join-token: {e}"))?;
                if token.role != helios_pki::Role::Agent {
                    bail!(
                        "--join-token is a {} token; an agent joins with an agent token",
                        token.role
                    );
                }
                Some(token)
            }
        };
        Ok(AgentConfig {
            name,
            id: self.id,
            state_dir: self.state_dir,
            masters,
            discovery,
            docker_host: self
                .docker
                .filter(|d| !d.is_empty())
                .unwrap_or_else(default_docker_host),
            port_range,
            env,
            labels,
            binds: self.binds,
            dns,
            add_hosts: self.add_hosts,
            heartbeat: Duration::from_millis(self.heartbeat_ms),
            keep_exited: self.keep_exited,
            metrics_addr: self.metrics_addr,
            input_arguments: redacted(std::env::args().skip(1)),
            join_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_tokens_are_not_reported_as_arguments() {
        let args = [
            "--name",
            "h",
            "--join-token",
            "HLJT-1-x",
            "--join-token=HLJT-1-y",
        ];
        assert_eq!(
            redacted(args.iter().map(|a| a.to_string())),
            [
                "--name",
                "h",
                "--join-token",
                "<redacted>",
                "--join-token=<redacted>"
            ]
        );
    }

    fn parse(args: &[&str]) -> anyhow::Result<AgentConfig> {
        let mut argv = vec!["helios-agent"];
        argv.extend_from_slice(args);
        Args::try_parse_from(argv)?.into_config()
    }

    fn err(args: &[&str]) -> String {
        parse(args).unwrap_err().to_string()
    }

    #[test]
    fn defaults() {
        let cfg = parse(&["--name", "h1"]).unwrap();
        assert_eq!(cfg.name, "h1");
        assert_eq!(cfg.masters, vec!["127.0.0.1:5802"]);
        assert_eq!(
            cfg.port_range,
            PortRange {
                start: 20000,
                end: 32768
            }
        );
        assert_eq!(cfg.heartbeat, Duration::from_millis(5000));
        assert_eq!(cfg.state_dir, PathBuf::from("helios-agent-state"));
    }

    #[test]
    fn port_range_checks() {
        assert_eq!(
            PortRange::parse("1:65535").unwrap(),
            PortRange {
                start: 1,
                end: 65535
            }
        );
        for bad in ["5:4", "0:10", "10:70000", "10", "a:b", "7:7", "-1:5"] {
            assert_eq!(
                PortRange::parse(bad).unwrap_err().to_string(),
                format!("Bad port range: {bad}")
            );
        }
        assert_eq!(err(&["--port-range", "9:3"]), "Bad port range: 9:3");
    }

    #[test]
    fn labels_env_and_repeats() {
        let cfg = parse(&[
            "--labels", "a=1", "b=2", "--labels", "c=", "--env", "X=1", "--env", "Y=a=b",
            "--master", "m1:1", "--master", "m2:2",
        ])
        .unwrap();
        assert_eq!(cfg.labels.len(), 3);
        assert_eq!(cfg.labels["c"], "");
        assert_eq!(cfg.env["Y"], "a=b");
        assert_eq!(cfg.masters, vec!["m1:1", "m2:2"]);
        assert_eq!(
            err(&["--labels", "nope"]),
            "Labels need to be in the format key=value."
        );
        assert_eq!(err(&["--env", "nope"]), "Bad environment variable: nope");
    }

    #[test]
    fn dns_binds_hosts_and_masters() {
        let cfg = parse(&[
            "--dns",
            "8.8.8.8",
            "--bind",
            "/a:/b:ro",
            "--add-host",
            "db:10.0.0.1",
        ])
        .unwrap();
        assert_eq!(cfg.dns, vec!["8.8.8.8".parse::<IpAddr>().unwrap()]);
        assert_eq!(err(&["--dns", "x.y"]), "Invalid IP address x.y");
        assert_eq!(err(&["--bind", "relative"]), "Invalid bind relative");
        assert_eq!(err(&["--add-host", "db"]), "Invalid ExtraHost db");
        assert!(err(&["--master", "nohost"]).contains("Invalid master address"));
    }

    #[test]
    fn domain_finds_masters_unless_master_is_given() {
        let cfg = parse(&["--domain", "example.com.", "--dns-server", "127.0.0.1:5353"]).unwrap();
        assert!(cfg.masters.is_empty());
        let discovery = cfg.discovery.expect("discovery");
        assert_eq!(
            discovery,
            MasterDiscovery {
                domain: "example.com".into(),
                srv_name: DEFAULT_SRV_NAME.into(),
                dns_server: Some("127.0.0.1:5353".parse().unwrap()),
            }
        );
        assert_eq!(discovery.record_name(), "_helios-cluster._tcp.example.com");
        let cfg = parse(&["--domain", "example.com", "--srv-name", "hc"]).unwrap();
        assert_eq!(cfg.discovery.unwrap().record_name(), "_hc._tcp.example.com");
        // An explicit --master wins.
        let cfg = parse(&["--domain", "example.com", "--master", "m1:5802"]).unwrap();
        assert_eq!((cfg.masters, cfg.discovery), (vec!["m1:5802".into()], None));
        // Neither: the local master.
        let cfg = parse(&[]).unwrap();
        assert_eq!(
            (cfg.masters, cfg.discovery),
            (vec![DEFAULT_MASTER.into()], None)
        );
        assert_eq!(err(&["--domain", "a b"]), "Invalid domain a b");
        assert_eq!(
            err(&["--domain", "x", "--srv-name", " "]),
            "--srv-name must not be empty"
        );
        assert!(
            Args::try_parse_from(["helios-agent", "--dns-server", "nope"]).is_err(),
            "a bad --dns-server is an argument error"
        );
    }
}
