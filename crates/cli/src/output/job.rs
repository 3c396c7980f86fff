//! Human renderings of jobs: `helios inspect`'s lines and `helios jobs`'s
//! table rows, as Helios prints them (Java `toString` quirks included, such
//! as `null` for absent values and `[a, b]` for lists).

use std::collections::BTreeMap;
use std::fmt::Display;
use std::io::{self, Write};

use chrono::{TimeZone, Utc};
use helios_api::{HealthCheck, Job, JobId, PortMapping, RolloutOptions, ServicePorts};

use serde::Deserialize;

use super::table;

/// Header of the `helios jobs` table.
pub const JOBS_HEADER: [&str; 6] = [
    "JOB ID",
    "NAME",
    "VERSION",
    "HOSTS",
    "COMMAND",
    "ENVIRONMENT",
];

/// Quotes an argument containing whitespace, as Helios does in listings.
pub fn quote(s: &str) -> String {
    if s.chars().any(char::is_whitespace) {
        format!("\"{s}\"")
    } else {
        s.to_string()
    }
}

/// What the `helios jobs` table reads of a job besides its id (a listing decodes only this
/// of each job, then keeps its [`JobColumns`]).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct JobSummary {
    /// The job's own id (used when a listing's key is not one).
    #[serde(default)]
    pub id: Option<JobId>,
    /// Container CMD.
    #[serde(default)]
    command: Option<Vec<String>>,
    /// Container environment.
    #[serde(default)]
    env: Option<BTreeMap<String, String>>,
}

impl From<&Job> for JobSummary {
    fn from(job: &Job) -> Self {
        JobSummary {
            id: job.id.clone(),
            command: Some(job.command.clone()),
            env: Some(job.env.clone()),
        }
    }
}

impl JobSummary {
    /// The job's COMMAND and ENVIRONMENT cells.
    pub fn columns(&self) -> JobColumns {
        let command: Vec<String> = self.command.iter().flatten().map(|a| quote(a)).collect();
        let env: Vec<String> = self
            .env
            .iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        JobColumns {
            command: command.join(" "),
            env: env.join(" "),
        }
    }
}

/// The cells of a `helios jobs` row that come from the job itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobColumns {
    /// The command, arguments quoted as Helios quotes them.
    pub command: String,
    /// `K=V` pairs separated by spaces.
    pub env: String,
}

/// One row of the `helios jobs` table.
pub fn jobs_row(id: &JobId, job: JobColumns, hosts: usize, full: bool) -> Vec<String> {
    vec![
        if full {
            id.to_string()
        } else {
            id.to_short_string()
        },
        id.name.clone(),
        id.version.clone().unwrap_or_else(|| "null".to_string()),
        hosts.to_string(),
        job.command,
        job.env,
    ]
}

/// Writes the `helios jobs` table of `(id, job, deployment count)` rows, in order; each row
/// is dropped once its cells are made.
pub fn write_jobs_table(
    out: &mut dyn Write,
    rows: Vec<(JobId, JobColumns, usize)>,
    full: bool,
) -> io::Result<()> {
    let mut cells = Vec::with_capacity(rows.len() + 1);
    cells.push(JOBS_HEADER.iter().map(|s| s.to_string()).collect());
    cells.extend(
        rows.into_iter()
            .map(|(id, job, hosts)| jobs_row(&id, job, hosts, full)),
    );
    table::write(out, &cells)
}

/// `helios inspect` without `--json`; dates are shown in `tz`.
pub fn inspect<Tz>(job: &Job, tz: &Tz) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    let date = |millis: i64| {
        Utc.timestamp_millis_opt(millis)
            .single()
            .map(|d| {
                d.with_timezone(tz)
                    .format("%a, %-d %b %Y %H:%M:%S %z")
                    .to_string()
            })
            .unwrap_or_default()
    };
    line(format!("Id: {}", display_opt(job.id.as_ref())));
    line(format!("Image: {}", display_opt(job.image.as_ref())));
    line(format!(
        "Created: {}",
        job.created.map(date).unwrap_or_default()
    ));
    line(format!(
        "Expires: {}",
        job.expires
            .map_or_else(|| "never".to_string(), |e| date(e.timestamp_millis()))
    ));
    line(format!("Hostname: {}", display_opt(job.hostname.as_ref())));
    let command: Vec<String> = job.command.iter().map(|a| quote(a)).collect();
    line(format!("Command: {}", java_list(&command)));
    out.push_str(&print_map("Env:   ", &job.env, |v| quote(v)));
    out.push_str(&format!(
        "Health check: {}\n",
        job.health_check
            .as_ref()
            .map(health_check)
            .unwrap_or_default()
    ));
    out.push_str(&format!(
        "Grace period (seconds): {}\n",
        display_opt(job.grace_period.as_ref())
    ));
    out.push_str(&format!(
        "Time to wait before kill (seconds): {}\n",
        display_opt(job.seconds_to_wait_before_kill.as_ref())
    ));
    out.push_str(&print_map("Metadata: ", &job.metadata, |v| quote(v)));
    out.push_str(&print_map("Ports: ", &job.ports, port_mapping));
    let registration: BTreeMap<String, &ServicePorts> = job
        .registration
        .iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    out.push_str(&print_map("Reg: ", &registration, |p| service_ports(p)));
    out.push_str(&format!(
        "Security options: {}\n",
        java_list(&job.security_opt)
    ));
    out.push_str(&format!(
        "Network mode: {}\n",
        display_opt(job.network_mode.as_ref())
    ));
    out.push_str(&format!("Token: {}\n", job.token));
    out.push_str(&volumes(&job.volumes));
    out.push_str(&format!(
        "Add capabilities: {}\n",
        join(job.add_capabilities.iter(), ", ")
    ));
    out.push_str(&format!(
        "Drop capabilities: {}\n",
        join(job.drop_capabilities.iter(), ", ")
    ));
    out.push_str(&format!("Runtime: {}\n", display_opt(job.runtime.as_ref())));
    if let Some(options) = &job.rollout_options {
        out.push_str(&format!(
            "Rollout options (null options will fallback to defaults at rolling-update time): {}\n",
            rollout_options(options)
        ));
    }
    out
}

/// `type: http, port: p, path: /x` and friends.
pub fn health_check(check: &HealthCheck) -> String {
    match check {
        HealthCheck::Http { path, port } => format!("type: http, port: {port}, path: {path}"),
        HealthCheck::Tcp { port } => format!("type: tcp, port: {port}"),
        HealthCheck::Exec { command } => format!("type: exec, command: {}", command.join(" ")),
    }
}

/// `[ip:]internal[:external]/proto`.
pub fn port_mapping(port: &PortMapping) -> String {
    let mut s = String::new();
    if let Some(ip) = &port.ip {
        s.push_str(ip);
        s.push(':');
    }
    s.push_str(&port.internal_port.to_string());
    if let Some(external) = port.external_port {
        s.push(':');
        s.push_str(&external.to_string());
    }
    s.push('/');
    s.push_str(&port.protocol);
    s
}

/// The registered port names, sorted, joined by `, `.
pub fn service_ports(ports: &ServicePorts) -> String {
    let mut names: Vec<&str> = ports.port_names().collect();
    names.sort_unstable();
    names.join(", ")
}

/// `timeout: …, parallelism: …, migrate: …, overlap: …, token: …, ignoreFailures: …`.
pub fn rollout_options(o: &RolloutOptions) -> String {
    format!(
        "timeout: {}, parallelism: {}, migrate: {}, overlap: {}, token: {}, ignoreFailures: {}",
        display_opt(o.timeout.as_ref()),
        display_opt(o.parallelism.as_ref()),
        display_opt(o.migrate.as_ref()),
        display_opt(o.overlap.as_ref()),
        display_opt(o.token.as_ref()),
        display_opt(o.ignore_failures.as_ref()),
    )
}

/// Helios's `printMap`: `name` then `key=value` lines sorted by key, later
/// lines indented by the width of `name`; an empty map prints `name` alone.
fn print_map<K: Display, V>(
    name: &str,
    map: &BTreeMap<K, V>,
    value: impl Fn(&V) -> String,
) -> String {
    let mut out = String::from(name);
    if map.is_empty() {
        out.push('\n');
        return out;
    }
    let indent = " ".repeat(name.chars().count());
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push_str(&indent);
        }
        out.push_str(&format!("{k}={}\n", value(v)));
    }
    out
}

/// `Volumes: source:path` lines (Docker's host:container order).
fn volumes(volumes: &BTreeMap<String, String>) -> String {
    let prefix = "Volumes: ";
    let mut out = String::from(prefix);
    if volumes.is_empty() {
        out.push('\n');
        return out;
    }
    let indent = " ".repeat(prefix.len());
    for (i, (path, source)) in volumes.iter().enumerate() {
        if i > 0 {
            out.push_str(&indent);
        }
        out.push_str(&format!("{source}:{path}\n"));
    }
    out
}

/// Java's `String.valueOf`: `null` for an absent value.
fn display_opt<T: Display>(value: Option<&T>) -> String {
    value.map_or_else(|| "null".to_string(), ToString::to_string)
}

/// Java's `List.toString`: `[a, b]`.
fn java_list<T: Display>(items: &[T]) -> String {
    format!("[{}]", join(items.iter(), ", "))
}

fn join<T: Display>(items: impl Iterator<Item = T>, sep: &str) -> String {
    items.map(|i| i.to_string()).collect::<Vec<_>>().join(sep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use helios_api::ServiceEndpoint;

    const HASH: &str = "4f7125bff35d3cecaac237da3ab17efca8a765f9";

    fn sample() -> Job {
        let mut job = Job::new(JobId::full("foo", "2-bbb", HASH), "busybox:latest");
        job.created = Some(0);
        job.expires = Utc.timestamp_millis_opt(0).single();
        job.seconds_to_wait_before_kill = Some(10);
        job.add_capabilities = ["cap1".to_string(), "cap2".to_string()].into();
        job.drop_capabilities = ["cap3".to_string(), "cap4".to_string()].into();
        job.ports.insert(
            "foo".into(),
            PortMapping {
                external_port: Some(8080),
                internal_port: 80,
                ip: Some("127.0.0.1".into()),
                protocol: "udp".into(),
            },
        );
        job.ports.insert(
            "bar".into(),
            PortMapping {
                external_port: Some(456),
                internal_port: 123,
                ip: Some("0.0.0.0".into()),
                protocol: "tcp".into(),
            },
        );
        job.registration.insert(
            ServiceEndpoint::new("svc", "http"),
            ServicePorts::of(["foo", "bar"]),
        );
        job.command = vec!["/bin/sh".into(), "-c".into(), "sleep 60".into()];
        job.env.insert("FOO".into(), "bar baz".into());
        job.env.insert("A".into(), "1".into());
        job.volumes.insert("/data".into(), String::new());
        job.volumes.insert("/etc/x:ro".into(), "/srv/x".into());
        job.runtime = Some("nvidia".into());
        job.rollout_options = Some(RolloutOptions {
            ignore_failures: Some(true),
            migrate: Some(true),
            overlap: Some(true),
            parallelism: Some(2),
            timeout: Some(250),
            token: Some("foobar".into()),
        });
        job.health_check = Some(HealthCheck::Http {
            path: "/health".into(),
            port: "foo".into(),
        });
        job
    }

    #[test]
    fn inspect_prints_every_field_like_helios() {
        let text = inspect(&sample(), &Utc);
        let expected = format!(
            "Id: foo:2-bbb:{HASH}
Image: busybox:latest
Created: Thu, 1 Jan 1970 00:00:00 +0000
Expires: Thu, 1 Jan 1970 00:00:00 +0000
Hostname: null
Command: [/bin/sh, -c, \"sleep 60\"]
Env:   A=1
       FOO=\"bar baz\"
Health check: type: http, port: foo, path: /health
Grace period (seconds): null
Time to wait before kill (seconds): 10
Metadata: 
Ports: bar=0.0.0.0:123:456/tcp
       foo=127.0.0.1:80:8080/udp
Reg: svc/http=bar, foo
Security options: []
Network mode: null
Token: 
Volumes: :/data
         /srv/x:/etc/x:ro
Add capabilities: cap1, cap2
Drop capabilities: cap3, cap4
Runtime: nvidia
Rollout options (null options will fallback to defaults at rolling-update time): timeout: 250, parallelism: 2, migrate: true, overlap: true, token: foobar, ignoreFailures: true
"
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn inspect_without_optional_values() {
        let job = Job::new(JobId::new("foo", "1"), "nginx");
        let text = inspect(&job, &Utc);
        assert!(text.contains("Created: \n"));
        assert!(text.contains("Expires: never\n"));
        assert!(text.contains("Env:   \n"));
        assert!(text.contains("Health check: \n"));
        assert!(!text.contains("Rollout options"));
    }

    #[test]
    fn health_check_forms() {
        assert_eq!(
            health_check(&HealthCheck::Tcp { port: "p".into() }),
            "type: tcp, port: p"
        );
        assert_eq!(
            health_check(&HealthCheck::Exec {
                command: vec!["ping".into(), "-c".into(), "1".into()]
            }),
            "type: exec, command: ping -c 1"
        );
    }

    #[test]
    fn port_mapping_forms() {
        assert_eq!(port_mapping(&PortMapping::of(80)), "80/tcp");
        assert_eq!(
            port_mapping(&PortMapping::with_external(80, 8080)),
            "80:8080/tcp"
        );
    }

    #[test]
    fn jobs_table_matches_the_manual() {
        let mut job = Job::new(JobId::full("testjob", "1", HASH), "ubuntu:12.04");
        job.command = vec![
            "/bin/sh".into(),
            "-c".into(),
            "while true; do date; sleep 60; done".into(),
        ];
        job.env.insert("FOO".into(), "bar".into());
        let id = job.id.clone().expect("id");
        let table = |hosts, full| {
            let mut out = Vec::new();
            let row = (id.clone(), JobSummary::from(&job).columns(), hosts);
            write_jobs_table(&mut out, vec![row], full).unwrap();
            String::from_utf8(out).unwrap()
        };
        let text = table(1, false);
        let expected = "JOB ID               NAME       VERSION    HOSTS    COMMAND                                             ENVIRONMENT    \n\
                        testjob:1:4f7125b    testjob    1          1        /bin/sh -c \"while true; do date; sleep 60; done\"    FOO=bar        \n";
        assert_eq!(text, expected);
        let full = table(0, true);
        assert!(full.contains(&format!("testjob:1:{HASH}    ")));
    }
}
