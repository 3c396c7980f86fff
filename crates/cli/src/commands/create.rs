//! `helios create`: builds a job from a file (`-f`), a template job (`-t`) or
//! `ID IMAGE [-- ARGS]`, merges the command-line flags over it (flags win),
//! validates it client-side, and posts it to `POST /jobs`.
//!
//! The job is sent without a hash: the master computes it, so clients and
//! masters with different field sets still agree on ids. Only a hash the user
//! typed in a three-part id is sent (and checked by the master).
//!
//! [`build_job`] is the pure merge; [`run`] does the I/O around it.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use helios_api::{
    CreateJobResponse, CreateJobStatus, HealthCheck, Job, JobId, JobValidator, PortMapping,
    RolloutOptions, ServiceEndpoint, ServicePorts,
};
use serde_json::json;

use super::Context;
use super::job_ref::{self, JobMatch};
use crate::args::CreateArgs;
use crate::client::HeliosClient;
use crate::output::json;
use crate::spec::{self, HealthCheckSpec};

/// Environment variables copied into the job's metadata when set
/// (`GIT_COMMIT` is what Jenkins' Git plugin exports).
pub const DEFAULT_METADATA_ENV_VARS: [&str; 1] = ["GIT_COMMIT"];

/// Runs the command.
pub async fn run(
    args: &CreateArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    if args.file.is_some() && args.template.is_some() {
        anyhow::bail!("Please use only one of -t/--template and -f/--file");
    }
    let base = if let Some(file) = &args.file {
        Some(read_job_file(file, ctx)?)
    } else if let Some(template) = &args.template {
        let found = job_ref::find(client, template).await?;
        let JobMatch::Found(_, job) = found else {
            print_template_unresolved(ctx, template, &found)?;
            return Ok(1);
        };
        if args.id.is_none() {
            anyhow::bail!("Please specify new job name and version");
        }
        Some(*job)
    } else {
        if args.id.is_none() || args.image.is_none() {
            anyhow::bail!(
                "Please specify a file, or a template, or a job name, version and container image"
            );
        }
        None
    };

    let metadata_env: BTreeMap<String, String> = DEFAULT_METADATA_ENV_VARS
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    let job = build_job(args, base, &metadata_env).map_err(anyhow::Error::msg)?;

    let errors = JobValidator::cli().validate(&job, Utc::now());
    if !errors.is_empty() {
        if ctx.json {
            let id = job.id.as_ref().map(ToString::to_string);
            let body = json!({"errors": errors, "id": id, "status": "INVALID_JOB_DEFINITION"});
            writeln!(ctx.out, "{}", json::compact(&body))?;
        } else {
            for error in &errors {
                writeln!(ctx.out, "{error}")?;
            }
        }
        return Ok(1);
    }

    if !args.quiet && !ctx.json {
        // Terminals end up in logs: secret env values are not printed.
        let mut shown = job.clone();
        shown.redact_secrets();
        writeln!(
            ctx.out,
            "Creating job: {}",
            json::compact(&json::to_value(&shown))
        )?;
        ctx.out.flush()?;
    }
    let response = client.create_job(&job).await?;
    if response.status == CreateJobStatus::Ok {
        if ctx.json {
            writeln!(ctx.out, "{}", json::compact(&json::to_value(&response)))?;
        } else {
            if !args.quiet {
                writeln!(ctx.out, "Done.")?;
            }
            let id = response
                .id
                .clone()
                .or_else(|| job.id.as_ref().map(ToString::to_string))
                .unwrap_or_default();
            writeln!(ctx.out, "{id}")?;
        }
        Ok(0)
    } else {
        if ctx.json {
            writeln!(ctx.out, "{}", json::compact(&json::to_value(&response)))?;
        } else if !args.quiet {
            writeln!(ctx.out, "Failed: {}", describe(&response))?;
        }
        Ok(1)
    }
}

/// Java's `CreateJobResponse.toString()`:
/// `CreateJobResponse{status=JOB_ALREADY_EXISTS, errors=[], id='foo:1:…'}`.
pub fn describe(response: &CreateJobResponse) -> String {
    let status = match json::to_value(&response.status) {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    };
    format!(
        "CreateJobResponse{{status={status}, errors=[{}], id='{}'}}",
        response.errors.join(", "),
        response.id.as_deref().unwrap_or("null")
    )
}

/// Prints Helios's answer for a `-t` reference that matched no or several jobs.
fn print_template_unresolved(
    ctx: &mut Context<'_>,
    template: &str,
    found: &JobMatch,
) -> std::io::Result<()> {
    let (text, status) = match found {
        JobMatch::Ambiguous => ("Ambiguous job reference", "AMBIGUOUS_JOB_REFERENCE"),
        _ => ("Unknown job", "UNKNOWN_JOB"),
    };
    if ctx.json {
        let body = json!({"errors": null, "id": null, "status": status});
        writeln!(ctx.out, "{}", json::compact(&body))
    } else {
        writeln!(ctx.out, "{text}: {template}")
    }
}

/// Reads a job file in `inspect --json` format; `-` reads stdin.
fn read_job_file(file: &str, ctx: &mut Context<'_>) -> anyhow::Result<Job> {
    let text = if file == "-" {
        let mut text = String::new();
        ctx.stdin
            .read_to_string(&mut text)
            .map_err(|_| anyhow::anyhow!("Cannot read file {file}"))?;
        text
    } else {
        let path = std::path::Path::new(file);
        if !path.is_file() {
            anyhow::bail!("Cannot read file {file}");
        }
        std::fs::read_to_string(path).map_err(|_| anyhow::anyhow!("Cannot read file {file}"))?
    };
    parse_job_file(&text).map_err(|e| anyhow::anyhow!("Invalid job file {file}: {e}"))
}

/// Parses the contents of a job file.
pub fn parse_job_file(text: &str) -> Result<Job, serde_json::Error> {
    serde_json::from_str(text)
}

/// Merges the command-line flags over `base` (the file's or template's job,
/// or nothing) and returns the job to create, without a hash unless the id
/// argument had one. `metadata_env` holds the `GIT_COMMIT`-style variables
/// found in the environment.
///
/// Maps from the file (env, metadata, ports, registration, volumes, labels)
/// are merged with the flags' entries winning; lists and single values given
/// on the command line replace the file's. Errors are Helios's messages.
pub fn build_job(
    args: &CreateArgs,
    base: Option<Job>,
    metadata_env: &BTreeMap<String, String>,
) -> Result<Job, String> {
    let mut job = base.unwrap_or_default();
    // The master stamps these; a file or template copy must not carry them.
    job.created = None;
    job.creating_user = None;

    let existing = job.id.take();
    job.id = match (&args.id, existing) {
        (Some(raw), existing) => {
            let parts = spec::parse_job_id(raw)?;
            Some(JobId {
                name: parts.name,
                version: parts.version.or(existing.and_then(|e| e.version)),
                hash: parts.hash,
            })
        }
        (None, Some(existing)) => Some(JobId {
            hash: None,
            ..existing
        }),
        (None, None) => None,
    };

    if let Some(image) = &args.image {
        job.image = Some(image.clone());
    }
    if let Some(hostname) = args.hostname.as_ref().filter(|h| !h.is_empty()) {
        job.hostname = Some(hostname.clone());
    }
    if !args.args.is_empty() {
        job.command = args.args.clone();
    }
    if !args.env.is_empty() {
        job.env
            .extend(spec::parse_pairs(&args.env, "environment variable")?);
    }
    for (key, value) in spec::parse_pairs(&args.secret_env, "secret environment variable")? {
        job.secret_env.insert(key.clone());
        job.env.insert(key, value);
    }
    job.metadata.extend(metadata_env.clone());
    job.metadata
        .extend(spec::parse_pairs(&args.metadata, "metadata")?);

    for (name, port) in spec::parse_ports(&args.ports)? {
        job.ports.insert(
            name,
            PortMapping {
                // Both were parsed as Java ints, so they fit.
                external_port: port.external_port.map(|p| p as i32),
                internal_port: port.internal_port as i32,
                ip: port.ip,
                protocol: port.protocol,
            },
        );
    }
    let port_names: Vec<String> = job.ports.keys().cloned().collect();
    for raw in &args.register {
        let registration = spec::parse_registration(raw, &port_names)?;
        job.registration.insert(
            ServiceEndpoint::new(registration.service, registration.protocol),
            ServicePorts::of([registration.port]),
        );
    }
    if let Some(domain) = args.registration_domain.as_ref().filter(|d| !d.is_empty()) {
        job.registration_domain = domain.clone();
    }
    if let Some(grace) = args.grace_period {
        job.grace_period = Some(grace);
    }
    for raw in &args.volumes {
        let (path, source) = spec::parse_volume(raw);
        job.volumes.insert(path, source);
    }
    if let Some(expires) = &args.expires {
        let at = spec::parse_expires(expires)?;
        // Java dates hold milliseconds; keep hashes identical to Helios's.
        job.expires = Utc.timestamp_millis_opt(at.timestamp_millis()).single();
    }
    match spec::parse_health_check(
        args.exec_check.as_deref(),
        args.http_check.as_deref(),
        args.tcp_check.as_deref(),
    )? {
        Some(HealthCheckSpec::Exec { command }) => {
            job.health_check = Some(HealthCheck::Exec { command });
        }
        Some(HealthCheckSpec::Http { port, path }) => {
            job.health_check = Some(HealthCheck::Http { path, port });
        }
        Some(HealthCheckSpec::Tcp { port }) => {
            job.health_check = Some(HealthCheck::Tcp { port });
        }
        None => {}
    }
    if !args.security_opt.is_empty() {
        job.security_opt = args.security_opt.clone();
    }
    if let Some(mode) = args.network_mode.as_ref().filter(|m| !m.is_empty()) {
        job.network_mode = Some(mode.clone());
    }
    if let Some(token) = args.token.as_ref().filter(|t| !t.is_empty()) {
        job.token = token.clone();
    }
    if !args.add_capabilities.is_empty() {
        job.add_capabilities = args.add_capabilities.iter().cloned().collect();
    }
    if !args.drop_capabilities.is_empty() {
        job.drop_capabilities = args.drop_capabilities.iter().cloned().collect();
    }
    if !args.labels.is_empty() {
        job.labels
            .extend(spec::parse_pairs(&args.labels, "labels")?);
    }
    if !args.rollout_options.is_empty() {
        let given = spec::parse_rollout_options(&args.rollout_options)?;
        let given = RolloutOptions {
            ignore_failures: given.ignore_failures,
            migrate: given.migrate,
            overlap: given.overlap,
            parallelism: given.parallelism,
            timeout: given.timeout,
            token: given.token,
        };
        let inherited = job.rollout_options.take().unwrap_or_default();
        job.rollout_options = Some(given.with_fallback(&inherited));
    }
    if let Some(runtime) = args.runtime.as_ref().filter(|r| !r.is_empty()) {
        job.runtime = Some(runtime.clone());
    }
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(id: &str, image: &str) -> CreateArgs {
        CreateArgs {
            id: Some(id.to_string()),
            image: Some(image.to_string()),
            ..CreateArgs::default()
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn no_env() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    const FILE: &str = r#"{
      "id" : "fromfile:7:0123456789012345678901234567890123456789",
      "image" : "busybox:1",
      "created" : 1700000000000,
      "creatingUser" : "someone",
      "command" : [ "foo", "bar" ],
      "env" : { "A" : "file", "B" : "file" },
      "metadata" : { "M" : "file" },
      "labels" : { "L" : "file" },
      "ports" : {
        "http" : { "externalPort" : 8080, "internalPort" : 8080, "protocol" : "tcp" },
        "http-admin" : { "externalPort" : 8081, "internalPort" : 8081, "protocol" : "tcp" }
      },
      "registration" : { "fooservice/http" : { "ports" : { "http" : { } } } },
      "registrationDomain" : "",
      "token" : "filetoken",
      "securityOpt" : [ "a" ],
      "rolloutOptions" : { "parallelism" : 3, "timeout" : 100 },
      "volumes" : { "/etc/foo/moar-config.yaml:ro" : "/etc/bar/moar-config.yaml" }
    }"#;

    fn file_job() -> Job {
        parse_job_file(FILE).expect("file parses")
    }

    #[test]
    fn minimal_job_from_arguments() {
        let job = build_job(&args("foo:v1", "nginx"), None, &no_env()).expect("job");
        assert_eq!(job.id, Some(JobId::new("foo", "v1")));
        assert_eq!(job.image.as_deref(), Some("nginx"));
        assert!(job.command.is_empty());
        assert!(JobValidator::cli().validate(&job, Utc::now()).is_empty());
        assert_eq!(job.token, "");
    }

    #[test]
    fn file_alone_keeps_everything_but_hash_and_master_fields() {
        let base = CreateArgs::default();
        let job = build_job(&base, Some(file_job()), &no_env()).expect("job");
        assert_eq!(job.id, Some(JobId::new("fromfile", "7")));
        assert_eq!(job.created, None);
        assert_eq!(job.creating_user, None);
        assert_eq!(job.command, strings(&["foo", "bar"]));
        assert_eq!(job.token, "filetoken");
        assert_eq!(job.ports.len(), 2);
        assert_eq!(
            job.volumes["/etc/foo/moar-config.yaml:ro"],
            "/etc/bar/moar-config.yaml"
        );
    }

    #[test]
    fn flags_take_precedence_over_the_file() {
        let mut a = args("newname:8", "nginx:2");
        a.args = strings(&["sh", "-c", "true"]);
        a.env = strings(&["B=cli", "C=cli"]);
        a.secret_env = strings(&["S=hidden"]);
        a.metadata = strings(&["M=cli"]);
        a.labels = strings(&["L2=cli"]);
        a.ports = strings(&["http=9090:9091", "extra=1/udp"]);
        a.register = strings(&["other/tcp=extra"]);
        a.volumes = strings(&["/data"]);
        a.token = Some("clitoken".into());
        a.security_opt = strings(&["b"]);
        a.rollout_options = strings(&["parallelism=5"]);
        a.http_check = Some("http:/health".into());
        let mut env = BTreeMap::new();
        env.insert("GIT_COMMIT".to_string(), "abc123".to_string());
        let job = build_job(&a, Some(file_job()), &env).expect("job");

        assert_eq!(job.id, Some(JobId::new("newname", "8")));
        assert_eq!(job.image.as_deref(), Some("nginx:2"));
        assert_eq!(job.command, strings(&["sh", "-c", "true"]));
        assert_eq!(job.env["A"], "file");
        assert_eq!(job.env["B"], "cli");
        assert_eq!(job.env["C"], "cli");
        assert_eq!(job.env["S"], "hidden");
        assert!(job.secret_env.contains("S") && !job.secret_env.contains("C"));
        assert_eq!(job.metadata["M"], "cli");
        assert_eq!(job.metadata["GIT_COMMIT"], "abc123");
        assert_eq!(job.labels["L"], "file");
        assert_eq!(job.labels["L2"], "cli");
        assert_eq!(job.ports["http"], PortMapping::with_external(9090, 9091));
        assert_eq!(
            job.ports["http-admin"],
            PortMapping::with_external(8081, 8081)
        );
        assert_eq!(job.ports["extra"].protocol, "udp");
        assert_eq!(job.registration.len(), 2);
        assert_eq!(
            job.registration[&ServiceEndpoint::new("other", "tcp")],
            ServicePorts::of(["extra"])
        );
        assert_eq!(job.volumes["/data"], "");
        assert_eq!(job.volumes.len(), 2);
        assert_eq!(job.token, "clitoken");
        assert_eq!(job.security_opt, strings(&["b"]));
        let rollout = job.rollout_options.clone().expect("rollout");
        assert_eq!(rollout.parallelism, Some(5));
        assert_eq!(rollout.timeout, Some(100));
        assert_eq!(
            job.health_check,
            Some(HealthCheck::Http {
                path: "/health".into(),
                port: "http".into()
            })
        );
    }

    #[test]
    fn env_from_file_untouched_without_env_flags() {
        let job = build_job(&CreateArgs::default(), Some(file_job()), &no_env()).expect("job");
        assert_eq!(job.env.len(), 2);
        assert_eq!(job.metadata["M"], "file");
    }

    #[test]
    fn one_part_id_keeps_the_base_version_and_three_parts_keep_the_hash() {
        let mut a = CreateArgs {
            id: Some("renamed".into()),
            ..CreateArgs::default()
        };
        let job = build_job(&a, Some(file_job()), &no_env()).expect("job");
        assert_eq!(job.id, Some(JobId::new("renamed", "7")));
        a.id = Some("x:1:abc".into());
        let job = build_job(&a, Some(file_job()), &no_env()).expect("job");
        assert_eq!(job.id, Some(JobId::full("x", "1", "abc")));
    }

    #[test]
    fn implicit_registration_uses_the_only_port() {
        let mut a = args("foo:1", "nginx");
        a.ports = strings(&["hm=4229"]);
        a.register = strings(&["foo"]);
        a.tcp_check = Some("hm".into());
        let job = build_job(&a, None, &no_env()).expect("job");
        assert_eq!(
            job.registration[&ServiceEndpoint::new("foo", "http")],
            ServicePorts::of(["hm"])
        );
        assert_eq!(
            job.health_check,
            Some(HealthCheck::Tcp { port: "hm".into() })
        );
        assert!(JobValidator::cli().validate(&job, Utc::now()).is_empty());
    }

    #[test]
    fn errors_are_helios_messages() {
        type Change = fn(&mut CreateArgs);
        let cases: Vec<(Change, &str)> = vec![
            (|a| a.id = Some("a:b:c:d".into()), "Invalid Job id: a:b:c:d"),
            (|a| a.ports = vec!["bad".into()], "Bad port mapping: bad"),
            (
                |a| a.ports = vec!["a=1".into(), "a=2".into()],
                "Duplicate port mapping name: a",
            ),
            (|a| a.register = vec!["x".into()], "Bad registration: x"),
            (
                |a| a.register = vec!["svc".into()],
                "Need port mappings for service registration.",
            ),
            (
                |a| {
                    a.ports = vec!["a=1".into(), "b=2".into()];
                    a.register = vec!["svc".into()];
                },
                "Need exactly one port mapping for implicit service registration",
            ),
            (
                |a| {
                    a.tcp_check = Some("p".into());
                    a.exec_check = Some("true".into());
                },
                "Only one health check may be specified.",
            ),
            (
                |a| a.http_check = Some("p".into()),
                "Invalid HTTP health check: p",
            ),
            (
                |a| a.env = vec!["X".into()],
                "Bad format for environment variable: 'X', expecting =-delimited pairs",
            ),
            (
                |a| a.metadata = vec!["X".into()],
                "Bad format for metadata: 'X', expecting =-delimited pairs",
            ),
            (
                |a| a.labels = vec!["X".into()],
                "Bad format for labels: 'X', expecting =-delimited pairs",
            ),
        ];
        for (change, message) in cases {
            let mut a = args("foo:1", "nginx");
            change(&mut a);
            assert_eq!(build_job(&a, None, &no_env()).unwrap_err(), message);
        }
    }

    #[test]
    fn client_side_validation_reports_invalid_definitions() {
        let mut a = args("foo:1", "DOES_NOT_LIKE_AT_ALL-CAPITALS");
        a.volumes = strings(&["relative"]);
        let job = build_job(&a, None, &no_env()).expect("job");
        let errors = JobValidator::cli().validate(&job, Utc::now());
        assert!(
            errors.iter().any(|e| e.starts_with("Invalid image name")),
            "{errors:?}"
        );
        assert!(
            errors.contains(&"Volume path is not absolute: relative".to_string()),
            "{errors:?}"
        );
    }

    #[test]
    fn failure_reads_like_javas_to_string() {
        let response = CreateJobResponse {
            errors: vec![],
            id: Some("foo:1:abc".into()),
            status: CreateJobStatus::JobAlreadyExists,
        };
        assert_eq!(
            describe(&response),
            "CreateJobResponse{status=JOB_ALREADY_EXISTS, errors=[], id='foo:1:abc'}"
        );
    }
}
