//! Parsers for the small specs `helios create` takes on the command line:
//! job ids, port mappings, service registrations, `K=V` pairs, volumes,
//! health checks, expiry dates and rollout options.
//!
//! Each parser is pure and returns Helios's exact error message on bad input,
//! so `create` can print it as is. Nothing here knows about files, templates
//! or masters.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use regex::Regex;

/// Protocol of a port mapping without `/proto`.
pub const DEFAULT_PORT_PROTOCOL: &str = "tcp";
/// Protocol of a registration without `/proto` (Helios's code says `http`,
/// although its help text says tcp).
pub const DEFAULT_REGISTRATION_PROTOCOL: &str = "http";

/// `name=[ip:]internal[:external][/proto]`, Helios's regex with ASCII classes
/// (Java's `\w` and `\d` are ASCII-only). The unescaped `.` is Helios's too.
static PORT_PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?<n>[_\-0-9A-Za-z]+)=((?<ip>([0-9]{1,3}.){3}[0-9]{1,3}):)?(?<i>[0-9]+)(:(?<e>[0-9]+))?(/(?<p>[0-9A-Za-z_]+))?$",
    )
    // A literal pattern, compiled by every port test: it cannot fail at run time.
    .expect("valid port regex")
});

/// `service[/proto][=port]`.
static REGISTRATION_PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?<srv>[a-zA-Z][_\-0-9A-Za-z]+)(?:/(?<prot>[0-9A-Za-z_]+))?(?:=(?<port>[_\-0-9A-Za-z]+))?$",
    )
    // A literal pattern, compiled by every registration test: it cannot fail at run time.
    .expect("valid registration regex")
});

/// The parts of a `name:version[:hash]` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobIdParts {
    /// Job name.
    pub name: String,
    /// Job version, absent for a bare name.
    pub version: Option<String>,
    /// Explicit hash, when three parts were given.
    pub hash: Option<String>,
}

/// Splits a job id the way Java's `String.split(":")` does (trailing empty
/// parts dropped); more than three parts is `Invalid Job id: <id>`.
pub fn parse_job_id(id: &str) -> Result<JobIdParts, String> {
    let parts = java_split(id, ':');
    match parts.as_slice() {
        [name] => Ok(JobIdParts {
            name: name.to_string(),
            version: None,
            hash: None,
        }),
        [name, version] => Ok(JobIdParts {
            name: name.to_string(),
            version: Some(version.to_string()),
            hash: None,
        }),
        [name, version, hash] => Ok(JobIdParts {
            name: name.to_string(),
            version: Some(version.to_string()),
            hash: Some(hash.to_string()),
        }),
        _ => Err(format!("Invalid Job id: {id}")),
    }
}

/// Java's `String.split` on a single character: trailing empty strings are
/// removed, but an empty input yields one empty string.
pub fn java_split(s: &str, sep: char) -> Vec<&str> {
    let mut parts: Vec<&str> = s.split(sep).collect();
    while parts.len() > 1 && parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    if parts.len() == 1 && parts[0].is_empty() && !s.is_empty() {
        // e.g. ":" splits to nothing in Java.
        parts.clear();
    }
    parts
}

/// One `-p` mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// Host IP to bind, when given.
    pub ip: Option<String>,
    /// Container port.
    pub internal_port: i64,
    /// Static host port, when given (else allocated by the agent).
    pub external_port: Option<i64>,
    /// `tcp` unless `/proto` was given.
    pub protocol: String,
}

/// Parses one `-p` spec into its name and mapping.
pub fn parse_port(spec: &str) -> Result<(String, PortSpec), String> {
    let bad = || format!("Bad port mapping: {spec}");
    let caps = PORT_PATTERN.captures(spec).ok_or_else(bad)?;
    // Java parses with Integer.parseInt: more than an int holds is an error.
    let int = |s: &str| s.parse::<i32>().map(i64::from).map_err(|_| bad());
    let name = caps["n"].to_string();
    let internal_port = int(&caps["i"])?;
    let external_port = caps.name("e").map(|m| int(m.as_str())).transpose()?;
    Ok((
        name,
        PortSpec {
            ip: caps.name("ip").map(|m| m.as_str().to_string()),
            internal_port,
            external_port,
            protocol: caps
                .name("p")
                .map_or(DEFAULT_PORT_PROTOCOL, |m| m.as_str())
                .to_string(),
        },
    ))
}

/// Parses all `-p` specs; a name given twice is an error.
pub fn parse_ports(specs: &[String]) -> Result<BTreeMap<String, PortSpec>, String> {
    let mut ports = BTreeMap::new();
    for spec in specs {
        let (name, port) = parse_port(spec)?;
        if ports.contains_key(&name) {
            return Err(format!("Duplicate port mapping name: {name}"));
        }
        ports.insert(name, port);
    }
    Ok(ports)
}

/// One `-r` registration: `service/protocol` and the port name it registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationSpec {
    /// Service name.
    pub service: String,
    /// Protocol (`http` by default).
    pub protocol: String,
    /// Name of the job port to register.
    pub port: String,
}

/// Parses one `-r` spec against the names of the job's (merged) ports; the
/// port may be omitted only when the job has exactly one.
pub fn parse_registration(spec: &str, port_names: &[String]) -> Result<RegistrationSpec, String> {
    let caps = REGISTRATION_PATTERN
        .captures(spec)
        .ok_or_else(|| format!("Bad registration: {spec}"))?;
    if port_names.is_empty() {
        return Err("Need port mappings for service registration.".to_string());
    }
    let port = match caps.name("port") {
        Some(port) => port.as_str().to_string(),
        None if port_names.len() == 1 => port_names[0].clone(),
        None => {
            return Err(
                "Need exactly one port mapping for implicit service registration".to_string(),
            );
        }
    };
    Ok(RegistrationSpec {
        service: caps["srv"].to_string(),
        protocol: caps
            .name("prot")
            .map_or(DEFAULT_REGISTRATION_PROTOCOL, |m| m.as_str())
            .to_string(),
        port,
    })
}

/// Parses `K=V` items (split on the first `=`); a later key wins.
pub fn parse_pairs(items: &[String], field: &str) -> Result<BTreeMap<String, String>, String> {
    let mut pairs = BTreeMap::new();
    for item in items {
        let (key, value) = item.split_once('=').ok_or_else(|| {
            format!("Bad format for {field}: '{item}', expecting =-delimited pairs")
        })?;
        pairs.insert(key.to_string(), value.to_string());
    }
    Ok(pairs)
}

/// Parses `--volume [host-path:]container-path[:ro|rw]` into the job's
/// `volumes` entry `(container-path[:mode], source)`; a lone path is an
/// anonymous data volume with source `""`. Validation of the parts is the
/// job validator's business.
pub fn parse_volume(spec: &str) -> (String, String) {
    match spec.split_once(':') {
        Some((source, path)) => (path.to_string(), source.to_string()),
        None => (spec.to_string(), String::new()),
    }
}

/// A health check given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheckSpec {
    /// `--exec-check "cmd args"`.
    Exec {
        /// The command, split on single spaces.
        command: Vec<String>,
    },
    /// `--http-check port:/path`.
    Http {
        /// Port name.
        port: String,
        /// Request path.
        path: String,
    },
    /// `--tcp-check port`.
    Tcp {
        /// Port name.
        port: String,
    },
}

/// Builds the health check from the three flags; at most one may be given.
pub fn parse_health_check(
    exec: Option<&str>,
    http: Option<&str>,
    tcp: Option<&str>,
) -> Result<Option<HealthCheckSpec>, String> {
    let exec: Option<Vec<String>> = exec
        .map(|s| {
            java_split(s, ' ')
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|c| !c.is_empty());
    let http = http.filter(|s| !s.is_empty());
    let tcp = tcp.filter(|s| !s.is_empty());
    let given =
        usize::from(exec.is_some()) + usize::from(http.is_some()) + usize::from(tcp.is_some());
    if given > 1 {
        return Err("Only one health check may be specified.".to_string());
    }
    if let Some(command) = exec {
        return Ok(Some(HealthCheckSpec::Exec { command }));
    }
    if let Some(http) = http {
        let (port, path) = http
            .split_once(':')
            .ok_or_else(|| format!("Invalid HTTP health check: {http}"))?;
        return Ok(Some(HealthCheckSpec::Http {
            port: port.to_string(),
            path: path.to_string(),
        }));
    }
    Ok(tcp.map(|port| HealthCheckSpec::Tcp {
        port: port.to_string(),
    }))
}

/// Parses an ISO-8601 date or date-time as Joda's `new DateTime(String)`
/// does: an offset or `Z` is honoured, otherwise local time is assumed;
/// a bare date means its midnight.
pub fn parse_expires(s: &str) -> Result<DateTime<Utc>, String> {
    let text = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    let local = |naive: NaiveDateTime| {
        Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    };
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Some(t) = NaiveDateTime::parse_from_str(text, format)
            .ok()
            .and_then(local)
        {
            return Ok(t);
        }
    }
    if let Some(t) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(local)
    {
        return Ok(t);
    }
    Err(format!("Invalid format: \"{s}\""))
}

/// Per-job rolling-update defaults given with `--rollout-options`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolloutSpec {
    /// Seconds to wait for each host.
    pub timeout: Option<i64>,
    /// Hosts updated at once.
    pub parallelism: Option<i32>,
    /// Keep the old job on hosts leaving the group.
    pub migrate: Option<bool>,
    /// Deploy the new job before undeploying the old one.
    pub overlap: Option<bool>,
    /// Token for the rollout's deploys.
    pub token: Option<String>,
    /// Continue when hosts fail.
    pub ignore_failures: Option<bool>,
}

/// Parses `--rollout-options key=value` items.
pub fn parse_rollout_options(items: &[String]) -> Result<RolloutSpec, String> {
    let mut spec = RolloutSpec::default();
    for item in items {
        let pairs = parse_pairs(std::slice::from_ref(item), "rollout options")?;
        for (key, value) in pairs {
            let invalid = || format!("Invalid value for rollout option {key}: '{value}'");
            let long = || value.trim().parse::<i64>().map_err(|_| invalid());
            let int = || value.trim().parse::<i32>().map_err(|_| invalid());
            let boolean = || match value.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(invalid()),
            };
            match key.as_str() {
                "timeout" => spec.timeout = Some(long()?),
                "parallelism" => spec.parallelism = Some(int()?),
                "migrate" => spec.migrate = Some(boolean()?),
                "overlap" => spec.overlap = Some(boolean()?),
                "ignoreFailures" => spec.ignore_failures = Some(boolean()?),
                "token" => spec.token = Some(value.clone()),
                _ => {
                    return Err(format!(
                        "Unknown rollout option: {key} (expected one of migrate, parallelism, timeout, overlap, token, ignoreFailures)"
                    ));
                }
            }
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn job_ids() {
        let parts = parse_job_id("foo:1:abc").expect("id");
        assert_eq!(parts.name, "foo");
        assert_eq!(parts.version.as_deref(), Some("1"));
        assert_eq!(parts.hash.as_deref(), Some("abc"));
        assert_eq!(parse_job_id("foo:1").expect("id").hash, None);
        assert_eq!(parse_job_id("foo").expect("id").version, None);
        assert_eq!(parse_job_id("foo:").expect("id").version, None);
        assert_eq!(
            parse_job_id("a:b:c:d").unwrap_err(),
            "Invalid Job id: a:b:c:d"
        );
    }

    #[test]
    fn ports_dynamic_static_ip_and_protocol() {
        let (name, port) = parse_port("http=8080").expect("port");
        assert_eq!(name, "http");
        assert_eq!(
            port,
            PortSpec {
                ip: None,
                internal_port: 8080,
                external_port: None,
                protocol: "tcp".into()
            }
        );
        let (_, port) = parse_port("dns=53:53/udp").expect("port");
        assert_eq!(port.external_port, Some(53));
        assert_eq!(port.protocol, "udp");
        let (name, port) = parse_port("foo_bar-1=127.0.0.1:4711:80").expect("port");
        assert_eq!(name, "foo_bar-1");
        assert_eq!(port.ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(port.internal_port, 4711);
        assert_eq!(port.external_port, Some(80));
    }

    #[test]
    fn bad_port_specs() {
        for spec in [
            "http",
            "http=",
            "=80",
            "http=abc",
            "http=80:",
            "http=80/",
            "h p=80",
            "http=1.2.3:80",
            "http=99999999999",
        ] {
            assert_eq!(
                parse_port(spec).unwrap_err(),
                format!("Bad port mapping: {spec}"),
                "{spec}"
            );
        }
        assert_eq!(
            parse_ports(&strings(&["a=1", "a=2"])).unwrap_err(),
            "Duplicate port mapping name: a"
        );
        assert_eq!(
            parse_ports(&strings(&["a=1", "b=2"])).expect("ports").len(),
            2
        );
    }

    #[test]
    fn registrations() {
        let one = strings(&["http"]);
        let r = parse_registration("website", &one).expect("reg");
        assert_eq!(
            (r.service.as_str(), r.protocol.as_str()),
            ("website", "http")
        );
        assert_eq!(r.port, "http");
        let two = strings(&["http", "admin"]);
        let r = parse_registration("website/tcp=admin", &two).expect("reg");
        assert_eq!(
            (r.service.as_str(), r.protocol.as_str()),
            ("website", "tcp")
        );
        assert_eq!(r.port, "admin");
    }

    #[test]
    fn registration_errors() {
        let one = strings(&["http"]);
        assert_eq!(
            parse_registration("w", &one).unwrap_err(),
            "Bad registration: w"
        );
        assert_eq!(
            parse_registration("1abc", &one).unwrap_err(),
            "Bad registration: 1abc"
        );
        assert_eq!(
            parse_registration("svc=a=b", &one).unwrap_err(),
            "Bad registration: svc=a=b"
        );
        assert_eq!(
            parse_registration("svc", &[]).unwrap_err(),
            "Need port mappings for service registration."
        );
        assert_eq!(
            parse_registration("svc", &strings(&["a", "b"])).unwrap_err(),
            "Need exactly one port mapping for implicit service registration"
        );
    }

    #[test]
    fn pairs() {
        let env = parse_pairs(
            &strings(&["A=1", "B=x=y", "A=2", "C="]),
            "environment variable",
        )
        .expect("pairs");
        assert_eq!(env["A"], "2");
        assert_eq!(env["B"], "x=y");
        assert_eq!(env["C"], "");
        assert_eq!(
            parse_pairs(&strings(&["NOPE"]), "environment variable").unwrap_err(),
            "Bad format for environment variable: 'NOPE', expecting =-delimited pairs"
        );
        assert_eq!(
            parse_pairs(&strings(&["x"]), "metadata").unwrap_err(),
            "Bad format for metadata: 'x', expecting =-delimited pairs"
        );
        assert_eq!(
            parse_pairs(&strings(&["x"]), "labels").unwrap_err(),
            "Bad format for labels: 'x', expecting =-delimited pairs"
        );
    }

    #[test]
    fn volumes() {
        assert_eq!(parse_volume("/data"), ("/data".into(), String::new()));
        assert_eq!(
            parse_volume("/host:/container:ro"),
            ("/container:ro".into(), "/host".into())
        );
        assert_eq!(parse_volume("named:/c"), ("/c".into(), "named".into()));
    }

    #[test]
    fn health_checks() {
        assert_eq!(parse_health_check(None, None, None).expect("none"), None);
        assert_eq!(
            parse_health_check(Some("ping  -c 1"), None, None).expect("exec"),
            Some(HealthCheckSpec::Exec {
                command: strings(&["ping", "", "-c", "1"])
            })
        );
        assert_eq!(
            parse_health_check(None, Some("http:/health"), None).expect("http"),
            Some(HealthCheckSpec::Http {
                port: "http".into(),
                path: "/health".into()
            })
        );
        assert_eq!(
            parse_health_check(None, None, Some("hm")).expect("tcp"),
            Some(HealthCheckSpec::Tcp { port: "hm".into() })
        );
        assert_eq!(
            parse_health_check(Some("true"), None, Some("hm")).unwrap_err(),
            "Only one health check may be specified."
        );
        assert_eq!(
            parse_health_check(None, Some("http"), None).unwrap_err(),
            "Invalid HTTP health check: http"
        );
    }

    #[test]
    fn expiry_dates() {
        let t = parse_expires("2014-06-01T12:00:00Z").expect("date");
        assert_eq!(t.to_rfc3339(), "2014-06-01T12:00:00+00:00");
        let t = parse_expires("2014-06-01T12:00:00.500+02:00").expect("date");
        assert_eq!(t.timestamp_millis(), 1_401_616_800_500);
        assert!(parse_expires("2014-06-01").is_ok());
        assert!(parse_expires("2014-06-01T12:00").is_ok());
        assert_eq!(
            parse_expires("tomorrow").unwrap_err(),
            "Invalid format: \"tomorrow\""
        );
    }

    #[test]
    fn rollout_options() {
        let spec = parse_rollout_options(&strings(&[
            "timeout=250",
            "parallelism=2",
            "migrate=true",
            "overlap=false",
            "token=abc",
            "ignoreFailures=TRUE",
        ]))
        .expect("options");
        assert_eq!(
            spec,
            RolloutSpec {
                timeout: Some(250),
                parallelism: Some(2),
                migrate: Some(true),
                overlap: Some(false),
                token: Some("abc".into()),
                ignore_failures: Some(true),
            }
        );
        assert_eq!(
            parse_rollout_options(&strings(&["timeout"])).unwrap_err(),
            "Bad format for rollout options: 'timeout', expecting =-delimited pairs"
        );
        assert_eq!(
            parse_rollout_options(&strings(&["timeout=x"])).unwrap_err(),
            "Invalid value for rollout option timeout: 'x'"
        );
        assert!(
            parse_rollout_options(&strings(&["speed=1"]))
                .unwrap_err()
                .starts_with("Unknown rollout option: speed")
        );
    }
}
