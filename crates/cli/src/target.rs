//! Which masters a command talks to: the sources the user may configure and Helios's
//! precedence among them (reference §2.1, §2.3, §6).
//!
//! A [`Target`] is one Helios cluster: a name (what headers and messages print) and the
//! endpoints of its masters. Any master of a cluster can answer any request (followers
//! forward to the leader), so the client may pick any endpoint of a target; commands run once
//! per target.
//!
//! Sources, highest precedence first (Helios's `CliParser.computeTargets`):
//! 1. `-z/--master URL` flags: one cluster made of all of them;
//! 2. `-d/--domains DOMAIN` flags (repeatable, comma lists, duplicates dropped): one cluster
//!    per domain, found through DNS SRV (see `lookup`);
//! 3. `masterEndpoints` of the configuration: one cluster made of all of them;
//! 4. `domains` of the configuration: one cluster per domain.
//!
//! The configuration is `~/.helios/config` (a JSON object with `masterEndpoints`, `domains`
//! and `srvName`; `$HOME` is read from the environment), replaced by the `HELIOS_MASTER`
//! environment variable when that is set: `http://…`/`https://…` becomes the endpoints,
//! `domain://NAME` the domains, and only the file's `srvName` is kept. The SRV service name
//! is `--srv-name`, else the file's `srvName`, else `helios`.
//!
//! A configuration file that cannot be read or parsed, or a bad `HELIOS_MASTER`, is an error
//! only when it could change the outcome ([`MasterSources::file_needed`],
//! [`MasterSources::env_needed`]): with `-z`, or with `-d` and `--srv-name`, the caller only
//! warns. Helios fails in every case; we let an operator who is fixing a broken setup still
//! reach a cluster with explicit flags. An empty `HELIOS_MASTER` counts as unset.
//!
//! This module reads the configuration file but does no network I/O: endpoints keep their
//! host names, and domains are resolved later (`lookup`).

use std::net::SocketAddr;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use reqwest::Url;
use serde_json::Value;

/// The argparse-style message printed when no master is configured.
pub const NO_MASTERS_MESSAGE: &str = "no masters specified.  Use the -z or -d option to specify which helios cluster/master to connect to";

/// The SRV service name used when neither `--srv-name` nor the configuration names one.
pub const DEFAULT_SRV_NAME: &str = "helios";

/// The environment variable that overrides the configuration file.
pub const HELIOS_MASTER_ENV: &str = "HELIOS_MASTER";

/// Where the configuration file lives, relative to `$HOME`.
pub const CONFIG_PATH: &str = ".helios/config";

/// One master endpoint: its URL and, once looked up, the one address to connect to.
///
/// The URL keeps the host name (for the `Host` header, TLS verification and messages);
/// `addr` pins the connection to one of the host's addresses, so that a name with several
/// addresses becomes several endpoints the client can fail over between. It dereferences to
/// its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The endpoint as configured, e.g. `http://master1.example.com:5801/`.
    pub url: Url,
    /// The address to connect to instead of resolving the URL's host, if known.
    pub addr: Option<SocketAddr>,
}

impl Endpoint {
    /// An endpoint whose host is resolved when connecting.
    pub fn new(url: Url) -> Endpoint {
        Endpoint { url, addr: None }
    }

    /// The same endpoint, connecting to `addr`.
    pub fn pinned(&self, addr: SocketAddr) -> Endpoint {
        Endpoint {
            url: self.url.clone(),
            addr: Some(addr),
        }
    }
}

impl Deref for Endpoint {
    type Target = Url;

    fn deref(&self) -> &Url {
        &self.url
    }
}

/// One cluster and the endpoints of its masters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// How headers and messages name the cluster.
    pub name: String,
    /// The cluster's masters; never empty.
    pub endpoints: Vec<Endpoint>,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// A cluster as configured, before any DNS lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// Explicit endpoints (`-z`, `masterEndpoints`, `HELIOS_MASTER=http…`).
    Endpoints(Target),
    /// A domain whose masters are published as SRV records.
    Domain {
        /// The domain, e.g. `example.com`.
        domain: String,
        /// The SRV service name, e.g. `helios`.
        srv_name: String,
    },
}

impl TargetSpec {
    /// How headers name the cluster: the endpoints' name, or the domain.
    pub fn name(&self) -> &str {
        match self {
            TargetSpec::Endpoints(target) => &target.name,
            TargetSpec::Domain { domain, .. } => domain,
        }
    }

    /// How messages name the cluster (Helios's `Target.toString`): the endpoints' name, or
    /// `<domain> (srv: <srvName>)`.
    pub fn label(&self) -> String {
        match self {
            TargetSpec::Endpoints(target) => target.name.clone(),
            TargetSpec::Domain { domain, srv_name } => format!("{domain} (srv: {srv_name})"),
        }
    }
}

/// What the configuration file and `HELIOS_MASTER` say (Helios's `CliConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CliConfig {
    /// `masterEndpoints`.
    pub master_endpoints: Vec<String>,
    /// `domains`.
    pub domains: Vec<String>,
    /// `srvName`, when set.
    pub srv_name: Option<String>,
    /// `apiToken` (ours): the API token to send, when set.
    pub api_token: Option<String>,
    /// `apiTokenFile` (ours): a file holding the API token, when set.
    pub api_token_file: Option<PathBuf>,
    /// `tlsCa`, `tlsCert`, `tlsKey` (ours): the TLS files of https masters, when set.
    pub tls: TlsFilesConfig,
}

/// The TLS files the configuration file names (`tlsCa`, `tlsCert`, `tlsKey`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFilesConfig {
    /// `tlsCa`: a CA to trust.
    pub ca: Option<PathBuf>,
    /// `tlsCert`: the client certificate.
    pub cert: Option<PathBuf>,
    /// `tlsKey`: its key.
    pub key: Option<PathBuf>,
}

/// A configuration source that could not be used. Its `Display` form is the one-line message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigProblem {
    /// The file exists but cannot be read or parsed.
    #[error("Invalid configuration file {path}: {detail}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// `HELIOS_MASTER` has no scheme (Helios's message).
    #[error("Your environment variable HELIOS_MASTER={0} is not a valid URI with a scheme.")]
    EnvNoScheme(String),
    /// `HELIOS_MASTER` has a scheme other than http, https or domain (Helios's message).
    #[error("Your environment variable HELIOS_MASTER={0} does not have a valid scheme.")]
    EnvBadScheme(String),
    /// `HELIOS_MASTER=domain://` without a domain.
    #[error("Your environment variable HELIOS_MASTER={0} does not name a domain.")]
    EnvNoDomain(String),
}

impl CliConfig {
    /// Parses the configuration file's text: a JSON object whose `masterEndpoints` and
    /// `domains` are lists of strings and `srvName`, `apiToken`, `apiTokenFile`, `tlsCa`,
    /// `tlsCert` and `tlsKey` strings;
    /// other keys are ignored.
    pub fn parse(text: &str) -> Result<CliConfig, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(map) = value else {
            return Err("expected a JSON object".to_string());
        };
        let list = |key: &str| -> Result<Vec<String>, String> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| format!("{key} must be a list of strings"))
                    })
                    .collect(),
                Some(_) => Err(format!("{key} must be a list of strings")),
            }
        };
        let string = |key: &str| -> Result<Option<String>, String> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(format!("{key} must be a string")),
            }
        };
        Ok(CliConfig {
            master_endpoints: list("masterEndpoints")?,
            domains: list("domains")?,
            srv_name: string("srvName")?,
            api_token: string("apiToken")?,
            api_token_file: string("apiTokenFile")?.map(PathBuf::from),
            tls: TlsFilesConfig {
                ca: string("tlsCa")?.map(PathBuf::from),
                cert: string("tlsCert")?.map(PathBuf::from),
                key: string("tlsKey")?.map(PathBuf::from),
            },
        })
    }

    /// Reads `<home>/.helios/config`; a missing file is an empty configuration.
    pub fn load(home: Option<&Path>) -> Result<CliConfig, ConfigProblem> {
        let Some(home) = home else {
            return Ok(CliConfig::default());
        };
        let path = home.join(CONFIG_PATH);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(CliConfig::default());
            }
            Err(e) => {
                return Err(ConfigProblem::File {
                    path,
                    detail: e.to_string(),
                });
            }
        };
        CliConfig::parse(&text).map_err(|detail| ConfigProblem::File { path, detail })
    }

    /// Applies `HELIOS_MASTER` (Helios's `CliConfig.fromEnvVar`): the result has the
    /// variable's endpoint or domain and only the file's `srvName` (and its API token: the
    /// variable names masters, not credentials).
    pub fn with_helios_master(&self, value: &str) -> Result<CliConfig, ConfigProblem> {
        let srv_name = self.srv_name.clone();
        let (api_token, api_token_file) = (self.api_token.clone(), self.api_token_file.clone());
        let tls = self.tls.clone();
        let Some(scheme) = uri_scheme(value) else {
            return Err(ConfigProblem::EnvNoScheme(value.to_string()));
        };
        match scheme {
            "http" | "https" => Ok(CliConfig {
                master_endpoints: vec![value.to_string()],
                domains: Vec::new(),
                srv_name,
                api_token,
                api_token_file,
                tls,
            }),
            "domain" => {
                let host = Url::parse(value)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .filter(|h| !h.is_empty())
                    .ok_or_else(|| ConfigProblem::EnvNoDomain(value.to_string()))?;
                Ok(CliConfig {
                    master_endpoints: Vec::new(),
                    domains: vec![host],
                    srv_name,
                    api_token,
                    api_token_file,
                    tls,
                })
            }
            _ => Err(ConfigProblem::EnvBadScheme(value.to_string())),
        }
    }
}

/// The scheme of a URI as `java.net.URI` reads it: letters, digits, `+`, `-`, `.` starting
/// with a letter, before the first `:`.
fn uri_scheme(value: &str) -> Option<&str> {
    let (scheme, _) = value.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// Everything the user may have told us about where the masters are.
#[derive(Debug, Clone, Default)]
pub struct MasterSources {
    /// `-z/--master` values, in command-line order.
    pub explicit_endpoints: Vec<String>,
    /// `-d/--domains` values as typed (each may be a comma list).
    pub domains: Vec<String>,
    /// `--srv-name`.
    pub srv_name: Option<String>,
    /// The configuration file with `HELIOS_MASTER` applied.
    pub config: CliConfig,
}

impl MasterSources {
    /// Whether `HELIOS_MASTER` can change the targets: only when no `-z` or `-d` is given.
    pub fn env_needed(&self) -> bool {
        self.explicit_endpoints.is_empty() && split_domains(&self.domains).is_empty()
    }

    /// Whether the configuration file can change the targets or the SRV name. `env_applied`
    /// says that [`MasterSources::config`] came from a valid `HELIOS_MASTER`, which replaces
    /// everything of the file but its `srvName`.
    pub fn file_needed(&self, env_applied: bool) -> bool {
        if !self.explicit_endpoints.is_empty() {
            false
        } else if !split_domains(&self.domains).is_empty() || env_applied {
            // Domains from -d or HELIOS_MASTER=domain:// use the file's srvName unless
            // --srv-name is given; HELIOS_MASTER=http… needs nothing from the file.
            self.srv_name.is_none()
                && (!split_domains(&self.domains).is_empty()
                    || self.config.master_endpoints.is_empty())
        } else {
            true
        }
    }
}

/// Why no target could be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    /// Nothing configured: the caller prints the argparse-style error.
    #[error("{NO_MASTERS_MESSAGE}")]
    NoMasters,
    /// An endpoint that is not an http:// or https:// URL.
    #[error("Invalid master endpoint: {0}")]
    InvalidEndpoint(String),
}

/// Applies Helios's precedence to the configured sources (see the module doc).
pub fn resolve_targets(sources: &MasterSources) -> Result<Vec<TargetSpec>, TargetError> {
    let srv_name = sources
        .srv_name
        .clone()
        .or_else(|| sources.config.srv_name.clone())
        .unwrap_or_else(|| DEFAULT_SRV_NAME.to_string());
    let domain_specs = |domains: Vec<String>| {
        domains
            .into_iter()
            .map(|domain| TargetSpec::Domain {
                domain,
                srv_name: srv_name.clone(),
            })
            .collect::<Vec<_>>()
    };
    if !sources.explicit_endpoints.is_empty() {
        return Ok(vec![endpoints_target(&sources.explicit_endpoints)?]);
    }
    let flag_domains = split_domains(&sources.domains);
    if !flag_domains.is_empty() {
        return Ok(domain_specs(flag_domains));
    }
    if !sources.config.master_endpoints.is_empty() {
        return Ok(vec![endpoints_target(&sources.config.master_endpoints)?]);
    }
    let config_domains = split_domains(&sources.config.domains);
    if !config_domains.is_empty() {
        return Ok(domain_specs(config_domains));
    }
    Err(TargetError::NoMasters)
}

/// All endpoints as one cluster named by their spelling.
fn endpoints_target(raw: &[String]) -> Result<TargetSpec, TargetError> {
    let endpoints = raw
        .iter()
        .map(|s| parse_endpoint(s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TargetSpec::Endpoints(Target {
        name: raw.join(","),
        endpoints,
    }))
}

/// Domains from repeated values and comma lists, without empty entries or duplicates, in
/// the order given (Helios's `parseDomains`).
pub fn split_domains(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        for domain in value.split(',').map(str::trim) {
            if !domain.is_empty() && !out.iter().any(|d| d == domain) {
                out.push(domain.to_string());
            }
        }
    }
    out
}

/// Parses one master endpoint. A bare `host:port` is taken as `http://host:port`.
pub fn parse_endpoint(raw: &str) -> Result<Endpoint, TargetError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(TargetError::InvalidEndpoint(raw.to_string()));
    }
    let candidate = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("http://{trimmed}")
    };
    let url = Url::parse(&candidate).map_err(|_| TargetError::InvalidEndpoint(raw.to_string()))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(Endpoint::new(url)),
        _ => Err(TargetError::InvalidEndpoint(raw.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|s| s.to_string()).collect()
    }

    fn sources(endpoints: &[&str]) -> MasterSources {
        MasterSources {
            explicit_endpoints: strings(endpoints),
            ..MasterSources::default()
        }
    }

    fn domain(d: &str, srv: &str) -> TargetSpec {
        TargetSpec::Domain {
            domain: d.to_string(),
            srv_name: srv.to_string(),
        }
    }

    fn names(specs: &[TargetSpec]) -> Vec<String> {
        specs.iter().map(TargetSpec::label).collect()
    }

    #[test]
    fn nothing_configured_is_the_argparse_error() {
        let err = resolve_targets(&MasterSources::default()).unwrap_err();
        assert_eq!(err, TargetError::NoMasters);
        assert_eq!(
            err.to_string(),
            "no masters specified.  Use the -z or -d option to specify which helios cluster/master to connect to"
        );
    }

    #[test]
    fn several_endpoints_are_one_cluster() {
        let specs =
            resolve_targets(&sources(&["http://a:5801", "https://b:5801/"])).expect("targets");
        let [TargetSpec::Endpoints(target)] = specs.as_slice() else {
            panic!("{specs:?}")
        };
        assert_eq!(target.name, "http://a:5801,https://b:5801/");
        assert_eq!(target.endpoints.len(), 2);
        assert_eq!(target.endpoints[0].as_str(), "http://a:5801/");
        assert_eq!(target.endpoints[1].scheme(), "https");
        assert_eq!(target.endpoints[0].addr, None);
    }

    #[test]
    fn bare_host_port_means_http() {
        let endpoint = parse_endpoint("localhost:5801").expect("url");
        assert_eq!(endpoint.as_str(), "http://localhost:5801/");
        let pinned = endpoint.pinned("127.0.0.1:5801".parse().unwrap());
        assert_eq!(pinned.url, endpoint.url);
        assert_eq!(pinned.addr, Some("127.0.0.1:5801".parse().unwrap()));
    }

    #[test]
    fn bad_endpoints_are_rejected() {
        assert_eq!(
            parse_endpoint("ftp://x").unwrap_err(),
            TargetError::InvalidEndpoint("ftp://x".into())
        );
        assert!(parse_endpoint("https://x").is_ok());
        assert!(parse_endpoint("").is_err());
        assert!(parse_endpoint("http://").is_err());
    }

    #[test]
    fn domains_split_on_commas_without_duplicates() {
        assert_eq!(
            split_domains(&strings(&["a.com,b.com", "", "b.com", " c.com ,", ",,"])),
            ["a.com", "b.com", "c.com"]
        );
    }

    #[test]
    fn precedence_is_helios_s() {
        let config = CliConfig {
            master_endpoints: strings(&["http://conf:5801"]),
            domains: strings(&["conf.example"]),
            srv_name: Some("confsrv".into()),
            ..CliConfig::default()
        };
        let all = MasterSources {
            explicit_endpoints: strings(&["http://flag:5801"]),
            domains: strings(&["flag.example,other.example"]),
            srv_name: None,
            config: config.clone(),
        };
        // 1. -z wins over everything.
        assert_eq!(names(&resolve_targets(&all).unwrap()), ["http://flag:5801"]);
        // 2. -d, one target per domain, with the config's srvName.
        let no_z = MasterSources {
            explicit_endpoints: vec![],
            ..all.clone()
        };
        assert_eq!(
            resolve_targets(&no_z).unwrap(),
            [
                domain("flag.example", "confsrv"),
                domain("other.example", "confsrv")
            ]
        );
        // --srv-name wins over the config's.
        let named = MasterSources {
            srv_name: Some("flagsrv".into()),
            ..no_z.clone()
        };
        assert_eq!(
            names(&resolve_targets(&named).unwrap()),
            [
                "flag.example (srv: flagsrv)",
                "other.example (srv: flagsrv)"
            ]
        );
        // 3. The config's endpoints.
        let config_only = MasterSources {
            config: config.clone(),
            ..MasterSources::default()
        };
        assert_eq!(
            names(&resolve_targets(&config_only).unwrap()),
            ["http://conf:5801"]
        );
        // 4. The config's domains.
        let domains_only = MasterSources {
            config: CliConfig {
                master_endpoints: vec![],
                ..config
            },
            ..MasterSources::default()
        };
        assert_eq!(
            resolve_targets(&domains_only).unwrap(),
            [domain("conf.example", "confsrv")]
        );
        // Without any srvName, "helios".
        let plain = MasterSources {
            domains: strings(&["x.test"]),
            ..MasterSources::default()
        };
        assert_eq!(
            names(&resolve_targets(&plain).unwrap()),
            ["x.test (srv: helios)"]
        );
    }

    #[test]
    fn broken_sources_matter_only_when_they_could_change_the_targets() {
        let z = sources(&["http://a"]);
        assert!(!z.env_needed() && !z.file_needed(false) && !z.file_needed(true));
        let d = MasterSources {
            domains: strings(&["x.test"]),
            ..MasterSources::default()
        };
        assert!(!d.env_needed());
        assert!(d.file_needed(false), "the srvName may come from the file");
        let named = MasterSources {
            srv_name: Some("s".into()),
            ..d
        };
        assert!(!named.file_needed(false));
        let nothing = MasterSources::default();
        assert!(nothing.env_needed() && nothing.file_needed(false));
        // HELIOS_MASTER=http://… needs nothing from the file; domain://… its srvName.
        let env_endpoint = MasterSources {
            config: CliConfig {
                master_endpoints: strings(&["http://env"]),
                ..CliConfig::default()
            },
            ..MasterSources::default()
        };
        assert!(!env_endpoint.file_needed(true));
        let env_domain = MasterSources {
            config: CliConfig {
                domains: strings(&["env.test"]),
                ..CliConfig::default()
            },
            ..MasterSources::default()
        };
        assert!(env_domain.file_needed(true));
        assert!(
            !MasterSources {
                srv_name: Some("s".into()),
                ..env_domain
            }
            .file_needed(true)
        );
    }

    #[test]
    fn config_file_parsing() {
        let config = CliConfig::parse(
            r#"{"masterEndpoints":["http://a:5801"],"domains":["x.test"],"srvName":"s","other":1}"#,
        )
        .unwrap();
        assert_eq!(
            config,
            CliConfig {
                master_endpoints: strings(&["http://a:5801"]),
                domains: strings(&["x.test"]),
                srv_name: Some("s".into()),
                ..CliConfig::default()
            }
        );
        assert_eq!(CliConfig::parse("{}").unwrap(), CliConfig::default());
        for (text, problem) in [
            ("[]", "expected a JSON object"),
            (
                r#"{"masterEndpoints":"http://a"}"#,
                "masterEndpoints must be a list of strings",
            ),
            (r#"{"domains":[1]}"#, "domains must be a list of strings"),
            (r#"{"srvName":["a"]}"#, "srvName must be a string"),
        ] {
            assert_eq!(CliConfig::parse(text).unwrap_err(), problem, "{text}");
        }
        assert!(
            CliConfig::parse("{ masterEndpoints = [a] }")
                .unwrap_err()
                .starts_with("not JSON: ")
        );
    }

    #[test]
    fn config_file_loading() {
        let home = tempfile_dir();
        assert_eq!(
            CliConfig::load(Some(&home)).unwrap(),
            CliConfig::default(),
            "no file"
        );
        assert_eq!(CliConfig::load(None).unwrap(), CliConfig::default());
        std::fs::create_dir_all(home.join(".helios")).unwrap();
        std::fs::write(home.join(CONFIG_PATH), r#"{"domains":["d.test"]}"#).unwrap();
        assert_eq!(CliConfig::load(Some(&home)).unwrap().domains, ["d.test"]);
        std::fs::write(home.join(CONFIG_PATH), "{oops").unwrap();
        let err = CliConfig::load(Some(&home)).unwrap_err().to_string();
        let prefix = format!(
            "Invalid configuration file {}: not JSON: ",
            home.join(CONFIG_PATH).display()
        );
        assert!(err.starts_with(&prefix), "{err}");
        std::fs::remove_dir_all(&home).unwrap();
    }

    /// A fresh directory under the system's temp dir.
    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "helios-cli-target-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn helios_master_overrides_the_file_but_keeps_srv_name() {
        let file = CliConfig {
            master_endpoints: strings(&["http://file:5801"]),
            domains: strings(&["file.test"]),
            srv_name: Some("filesrv".into()),
            ..CliConfig::default()
        };
        assert_eq!(
            file.with_helios_master("http://env:5801").unwrap(),
            CliConfig {
                master_endpoints: strings(&["http://env:5801"]),
                domains: vec![],
                srv_name: Some("filesrv".into()),
                ..CliConfig::default()
            }
        );
        assert_eq!(
            file.with_helios_master("https://env:443")
                .unwrap()
                .master_endpoints,
            ["https://env:443"]
        );
        assert_eq!(
            file.with_helios_master("domain://env.test").unwrap(),
            CliConfig {
                master_endpoints: vec![],
                domains: strings(&["env.test"]),
                srv_name: Some("filesrv".into()),
                ..CliConfig::default()
            }
        );
    }

    #[test]
    fn bad_helios_master_values_give_helios_s_messages() {
        let none = CliConfig::default();
        for value in ["localhost", "", "127.0.0.1:5801", "/path"] {
            assert_eq!(
                none.with_helios_master(value).unwrap_err().to_string(),
                format!(
                    "Your environment variable HELIOS_MASTER={value} is not a valid URI with a scheme."
                )
            );
        }
        for value in ["ftp://x", "localhost:5801", "HTTP://x", "site://x"] {
            assert_eq!(
                none.with_helios_master(value).unwrap_err().to_string(),
                format!(
                    "Your environment variable HELIOS_MASTER={value} does not have a valid scheme."
                )
            );
        }
        assert_eq!(
            none.with_helios_master("domain://").unwrap_err(),
            ConfigProblem::EnvNoDomain("domain://".into())
        );
    }
}
