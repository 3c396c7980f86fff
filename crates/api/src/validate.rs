//! Job validation with Helios's `JobValidator` rules and messages (reference §1.5).
//!
//! [`JobValidator::validate`] returns every problem at once, sorted and deduplicated, so a
//! user fixes a job file in one round. The clock is an argument: this module never reads it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use regex::Regex;

use crate::model::date::format_java_to_string;
use crate::model::health_check::HealthCheck;
use crate::model::job::Job;
use crate::model::job_id::{JobId, java_split};
use crate::model::port_mapping::PortMapping;

/// Hostnames Docker accepts: `[a-z0-9][a-z0-9-]{0,62}`.
static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z0-9][a-z0-9-]{0,62}$"));
/// A registry host name (labels of letters, digits and inner dashes, optional final dot).
static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])",
        r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))*\.?$"
    ))
});
/// A dotted-quad IPv4 address (octet values are not checked, as in Helios).
static IPV4: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$"));
/// Only digits and dots: not a valid domain name.
static DIGIT_PERIOD: LazyLock<Regex> = LazyLock::new(|| re(r"^[0-9.]+$"));
/// Docker tags, from docker/distribution's `reference/regexp.go`.
static TAG: LazyLock<Regex> = LazyLock::new(|| re(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$"));
/// One slash-separated component of an image name.
static NAME_COMPONENT: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z0-9._\-]+$"));

/// The patterns as Helios prints them in its messages.
const TAG_PATTERN_TEXT: &str = r"[\w][\w.-]{0,127}";
const NAME_COMPONENT_PATTERN_TEXT: &str = "^([a-z0-9._-]+)$";
const REPO_NAME_MAX_LENGTH: usize = 255;
const INVALID_REPO_NAME: &str = "Invalid repository name (ex: \"registry.domain.tld/myrepos\")";
const VALID_NETWORK_MODES: [&str; 2] = ["bridge", "host"];

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("validator patterns are valid regular expressions")
}

/// Checks jobs the way Helios's `JobValidator` does.
///
/// The master uses [`JobValidator::master`]; the CLI uses [`JobValidator::cli`], which
/// checks neither the hash (the master computes it) nor capabilities (a master setting).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobValidator {
    /// Require a hash in the id and check that it matches the job.
    pub validate_hash: bool,
    /// Reject `addCapabilities` outside `whitelisted_capabilities`.
    pub validate_add_capabilities: bool,
    /// Capabilities a job may add (the master's `--whitelisted-capability` flags).
    pub whitelisted_capabilities: BTreeSet<String>,
}

impl JobValidator {
    /// The master's validator: hash and capabilities checked against `whitelist`.
    pub fn master(whitelist: impl IntoIterator<Item = String>) -> JobValidator {
        JobValidator {
            validate_hash: true,
            validate_add_capabilities: true,
            whitelisted_capabilities: whitelist.into_iter().collect(),
        }
    }

    /// The CLI's validator: no hash or capability checks.
    pub fn cli() -> JobValidator {
        JobValidator::default()
    }

    /// Every problem with `job`, sorted and deduplicated; empty when the job is valid.
    /// `now` decides whether `expires` is in the past.
    pub fn validate(&self, job: &Job, now: DateTime<Utc>) -> Vec<String> {
        let mut errors = BTreeSet::new();
        self.check_id(job, &mut errors);
        match &job.image {
            None => push(&mut errors, "Image was not specified."),
            Some(image) => check_image(image, &mut errors),
        }
        check_hostname(job.hostname.as_deref(), &mut errors);
        check_ports(&job.ports, &mut errors);
        check_registration(job, &mut errors);
        check_volumes(&job.volumes, &mut errors);
        if let Some(expires) = &job.expires
            && *expires < now
        {
            errors.insert(format!(
                "Job expires in the past - {} is before {}",
                format_java_to_string(expires),
                format_java_to_string(&now)
            ));
        }
        check_health_check(job, &mut errors);
        check_network_mode(job.network_mode.as_deref(), &mut errors);
        if self.validate_add_capabilities {
            self.check_add_capabilities(&job.add_capabilities, &mut errors);
        }
        check_ramdisks(job, &mut errors);
        check_grace_period_and_static_ports(job, &mut errors);
        for key in job.secret_env.iter().filter(|k| !job.env.contains_key(*k)) {
            errors.insert(format!(
                "secretEnv names {key:?}, which is not a key of env."
            ));
        }
        errors.into_iter().collect()
    }

    fn check_id(&self, job: &Job, errors: &mut BTreeSet<String>) {
        let Some(id) = &job.id else {
            push(errors, "Job id was not specified.");
            return;
        };
        // The hash (two SHA-1s over the canonical job) is only worth computing to check it.
        let recomputed = JobId {
            name: id.name.clone(),
            version: id.version.clone(),
            hash: match &id.version {
                Some(_) if self.validate_hash => Some(job.compute_hash()),
                _ => None,
            },
        };
        self.check_id_against(id, &recomputed, errors);
    }

    /// The id checks, given the id Helios's builder recomputes from the job.
    fn check_id_against(&self, id: &JobId, recomputed: &JobId, errors: &mut BTreeSet<String>) {
        if id.name.is_empty() {
            push(errors, "Job name was not specified.");
        } else {
            if !is_name_or_version(&id.name) {
                errors.insert(format!(
                    "Job name may only contain [0-9a-zA-Z-_.] in job name [{}].",
                    recomputed.name
                ));
            }
            if recomputed.name != id.name {
                errors.insert(format!(
                    "Id name mismatch: {} != {}",
                    id.name, recomputed.name
                ));
            }
        }

        match id.version.as_deref().filter(|v| !v.is_empty()) {
            None => {
                errors.insert(format!(
                    "Job version was not specified in job id [{recomputed}]."
                ));
            }
            Some(version) => {
                let recomputed_version = recomputed.version.as_deref().unwrap_or("null");
                if !is_name_or_version(version) {
                    errors.insert(format!(
                        "Job version may only contain [0-9a-zA-Z-_.] in job version [{recomputed_version}]."
                    ));
                }
                if recomputed_version != version {
                    errors.insert(format!(
                        "Id version mismatch: {version} != {recomputed_version}"
                    ));
                }
            }
        }

        if !self.validate_hash {
            return;
        }
        match id.hash.as_deref().filter(|h| !h.is_empty()) {
            None => {
                errors.insert(format!(
                    "Job hash was not specified in job id [{recomputed}]."
                ));
            }
            Some(hash) => {
                if hash.contains(':') {
                    errors.insert(format!("Job hash contains colon in job id [{recomputed}]."));
                }
                // Without a version Helios computes no hash; the version error says why.
                if let Some(expected) = recomputed.hash.as_deref()
                    && expected != hash
                {
                    errors.insert(format!("Id hash mismatch: {hash} != {expected}"));
                }
            }
        }
    }

    fn check_add_capabilities(&self, caps: &BTreeSet<String>, errors: &mut BTreeSet<String>) {
        let disallowed: Vec<&str> = caps
            .difference(&self.whitelisted_capabilities)
            .map(String::as_str)
            .collect();
        if !disallowed.is_empty() {
            let allowed: Vec<&str> = self
                .whitelisted_capabilities
                .iter()
                .map(String::as_str)
                .collect();
            errors.insert(format!(
                "The following Linux capabilities aren't allowed by the Helios master: '{}'. \
                 The allowed capabilities are: '{}'.",
                disallowed.join(", "),
                allowed.join(", ")
            ));
        }
    }
}

fn push(errors: &mut BTreeSet<String>, message: &str) {
    errors.insert(message.to_string());
}

/// `[0-9a-zA-Z-_.]+`.
fn is_name_or_version(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Java's `\w` (ASCII word characters).
fn is_java_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Java's `\s`: space, tab, newline, vertical tab, form feed, carriage return.
fn is_java_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r')
}

/// Docker image reference: `[registry[:port]/]name[/name…][:tag][@digest]`.
fn check_image(image: &str, errors: &mut BTreeSet<String>) {
    let rest = match image.rfind('@') {
        Some(at) => {
            check_digest(&image[at + 1..], errors);
            &image[..at]
        }
        None => image,
    };
    let repo = match rest.rfind(':') {
        Some(colon) if !rest[colon + 1..].contains('/') => {
            check_tag(&rest[colon + 1..], errors);
            &rest[..colon]
        }
        _ => rest,
    };

    if repo.contains("://") {
        push(errors, INVALID_REPO_NAME);
        return;
    }
    let mut parts = repo.splitn(2, '/');
    let first = parts.next().unwrap_or("");
    let remainder = parts.next();
    if !first.contains('.') && !first.contains(':') && first != "localhost" {
        // A Docker Hub repository such as `ubuntu` or `samalba/hipache`.
        check_repository_name(image, repo, errors);
        return;
    }
    let Some(name) = remainder else {
        // A registry address without a repository name.
        push(errors, INVALID_REPO_NAME);
        return;
    };
    check_endpoint(first, errors);
    check_repository_name(image, name, errors);
}

fn check_tag(tag: &str, errors: &mut BTreeSet<String>) {
    if tag.is_empty() {
        push(errors, "Tag cannot be empty");
    } else if !TAG.is_match(tag) {
        errors.insert(format!(
            "Illegal tag: \"{tag}\", must match {TAG_PATTERN_TEXT}"
        ));
    }
}

fn check_digest(digest: &str, errors: &mut BTreeSet<String>) {
    if digest.is_empty() {
        push(errors, "Digest cannot be empty");
        return;
    }
    let first = digest.find(':');
    let last = digest.rfind(':');
    let ok = match (first, last) {
        (Some(f), Some(l)) => f > 0 && f == l && f != digest.len() - 1,
        _ => false,
    };
    if !ok {
        errors.insert(format!("Illegal digest: \"{digest}\""));
    }
}

/// `host[:port]` of a registry.
fn check_endpoint(endpoint: &str, errors: &mut BTreeSet<String>) {
    let (address, port) = match endpoint.split_once(':') {
        Some((a, p)) => (a, Some(p)),
        None => (endpoint, None),
    };
    if !IPV4.is_match(address) && (!DOMAIN.is_match(address) || DIGIT_PERIOD.is_match(address)) {
        errors.insert(format!("Invalid domain name: \"{address}\""));
        return;
    }
    if let Some(port) = port {
        // Java's Integer.valueOf: optional sign, decimal digits, 32-bit range.
        let valid = port.parse::<i32>().is_ok_and(|p| (0..=65535).contains(&p));
        if !valid {
            errors.insert(format!("Invalid port in endpoint: \"{endpoint}\""));
        }
    }
}

/// Each slash-separated component lowercase `[a-z0-9._-]+`, total length at most 255.
fn check_repository_name(image: &str, name: &str, errors: &mut BTreeSet<String>) {
    for component in java_split(name, '/') {
        if !NAME_COMPONENT.is_match(component) {
            errors.insert(format!(
                "Invalid image name ({image}), only {NAME_COMPONENT_PATTERN_TEXT} is allowed for \
                 each slash-separated name component (failed on \"{component}\")"
            ));
            return;
        }
    }
    if name.len() > REPO_NAME_MAX_LENGTH {
        errors.insert(format!(
            "Invalid image name ({image}), repository name cannot be larger than \
             {REPO_NAME_MAX_LENGTH} characters"
        ));
    }
}

fn check_hostname(hostname: Option<&str>, errors: &mut BTreeSet<String>) {
    if let Some(h) = hostname.filter(|h| !h.is_empty())
        && !HOSTNAME.is_match(h)
    {
        errors.insert(format!(
            "Invalid hostname ({h}), only [a-z0-9][a-z0-9-] are allowed, size between 1 and 63"
        ));
    }
}

fn legal_port(port: i32) -> bool {
    (0..=65535).contains(&port)
}

fn check_ports(ports: &BTreeMap<String, PortMapping>, errors: &mut BTreeSet<String>) {
    let mut external = BTreeSet::new();
    for mapping in ports.values() {
        if let Some(port) = mapping.external_port
            && !external.insert((mapping.protocol.as_str(), port))
        {
            errors.insert(format!(
                "Duplicate external port mapping: {}:{port}",
                mapping.protocol
            ));
        }
    }
    for (name, mapping) in ports {
        if mapping.protocol != "tcp" && mapping.protocol != "udp" {
            errors.insert(format!(
                "Invalid port mapping protocol: {}",
                mapping.protocol
            ));
        }
        if !legal_port(mapping.internal_port) {
            errors.insert(format!("Invalid internal port: {}", mapping.internal_port));
        }
        if let Some(port) = mapping.external_port
            && !legal_port(port)
        {
            errors.insert(format!("Invalid external port: {port}"));
        }
        if name.is_empty() || name.chars().any(is_java_whitespace) {
            errors.insert(format!("Invalid port mapping endpoint name: {name}"));
        }
    }
}

fn check_registration(job: &Job, errors: &mut BTreeSet<String>) {
    for (endpoint, service_ports) in &job.registration {
        let Some(ports) = &service_ports.ports else {
            errors.insert(format!(
                "registration for '{}' is malformed: does not have a port mapping",
                endpoint.name
            ));
            continue;
        };
        for port_name in ports.keys() {
            if !job.ports.contains_key(port_name) {
                errors.insert(format!(
                    "Service registration refers to missing port mapping: {endpoint}={port_name}"
                ));
            }
            let name_ok = !endpoint.name.is_empty()
                && endpoint
                    .name
                    .chars()
                    .all(|c| is_java_word_char(c) || c == '-');
            if !name_ok {
                errors.insert(format!(
                    "Invalid service registration name: {}",
                    endpoint.name
                ));
            }
        }
    }
}

fn check_volumes(volumes: &BTreeMap<String, String>, errors: &mut BTreeSet<String>) {
    for (path, source) in volumes {
        if !path.starts_with('/') {
            errors.insert(format!("Volume path is not absolute: {path}"));
            continue;
        }
        // Sources without `/` are named volumes; `""` is an anonymous one.
        if source.contains('/') && !source.starts_with('/') {
            errors.insert(format!("Volume source is not absolute: {source}"));
            continue;
        }
        let parts: Vec<&str> = path.splitn(3, ':').collect();
        if path == "/" || parts.len() > 2 || (parts.len() > 1 && parts[1].is_empty()) {
            errors.insert(format!("Invalid volume path: {path}"));
        }
    }
}

fn check_health_check(job: &Job, errors: &mut BTreeSet<String>) {
    let Some(health_check) = &job.health_check else {
        return;
    };
    match health_check {
        HealthCheck::Exec { command } => {
            if command.is_empty() {
                push(
                    errors,
                    "A command must be defined for `docker exec`-based health checks.",
                );
            }
        }
        HealthCheck::Http { port, .. } | HealthCheck::Tcp { port } => {
            if port.is_empty() {
                push(
                    errors,
                    "A port must be defined for HTTP and TCP health checks.",
                );
            } else if !job.ports.contains_key(port) {
                let known: Vec<&str> = job.ports.keys().map(String::as_str).collect();
                errors.insert(format!(
                    "Health check port '{port}' not defined in the job. Known ports are '{}'",
                    known.join(", ")
                ));
            }
        }
    }
}

fn check_network_mode(mode: Option<&str>, errors: &mut BTreeSet<String>) {
    if let Some(mode) = mode
        && !VALID_NETWORK_MODES.contains(&mode)
        && !mode.starts_with("container:")
    {
        push(
            errors,
            "A Docker container's network mode must be bridge, host, or container:<name|id>.",
        );
    }
}

fn check_ramdisks(job: &Job, errors: &mut BTreeSet<String>) {
    for mount_point in job.ramdisks.keys() {
        if !mount_point.starts_with('/') {
            errors.insert(format!(
                "Ramdisk mount point is not absolute: {mount_point}"
            ));
        }
    }
    // Catches the exact-same-path conflict only; nested mounts still fail in Docker.
    let volume_mount_points: BTreeSet<&str> = job
        .volumes
        .keys()
        .map(|v| v.split(':').next().unwrap_or(v))
        .collect();
    for mount_point in job.ramdisks.keys() {
        if volume_mount_points.contains(mount_point.as_str()) {
            errors.insert(format!("Ramdisk mount point used by volume: {mount_point}"));
        }
    }
}

fn check_grace_period_and_static_ports(job: &Job, errors: &mut BTreeSet<String>) {
    let has_grace_period = job.grace_period.is_some_and(|g| g > 0);
    let has_static_port = job.ports.values().any(|p| p.external_port.is_some());
    if has_grace_period && has_static_port {
        push(
            errors,
            "Job has both grace period and static/external ports. External ports will prevent \
             new containers from deploying during the gracePeriod because of port conflicts. \
             Please choose one or the other.",
        );
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::model::resources::Resources;
    use crate::model::rollout::RolloutOptions;
    use crate::model::service::{ServiceEndpoint, ServicePorts};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).unwrap()
    }

    fn master() -> JobValidator {
        JobValidator::master(Vec::new())
    }

    /// A valid job (with hash) built from `edit` applied to `foo:1` with image `bar`.
    fn job(edit: impl FnOnce(&mut Job)) -> Job {
        let mut job = Job::new(JobId::new("foo", "1"), "bar");
        edit(&mut job);
        job.with_hash()
    }

    /// The errors of a job validated by the master's validator.
    fn errors(edit: impl FnOnce(&mut Job)) -> Vec<String> {
        master().validate(&job(edit), now())
    }

    /// Asserts the exact error list of a job.
    fn check(edit: impl FnOnce(&mut Job), expected: &[&str]) {
        assert_eq!(errors(edit), expected);
    }

    fn image_errors(image: &str) -> Vec<String> {
        errors(|j| j.image = Some(image.to_string()))
    }

    #[test]
    fn secret_env_names_only_keys_of_env() {
        check(
            |j| {
                j.env.insert("PASSWORD".into(), "x".into());
                j.secret_env.insert("PASSWORD".into());
            },
            &[],
        );
        check(
            |j| {
                j.secret_env.insert("TYPO".into());
            },
            &["secretEnv names \"TYPO\", which is not a key of env."],
        );
    }

    #[test]
    fn valid_full_job_has_no_errors() {
        let validator = JobValidator::master(vec!["NET_ADMIN".to_string()]);
        let full = job(|j| {
            j.image = Some("registry.example.com:5000/team/app:1.2.3".into());
            j.hostname = Some("app-1".into());
            j.command = vec!["serve".into()];
            j.env.insert("K".into(), "V".into());
            j.resources = Some(Resources {
                memory: Some(1 << 30),
                ..Resources::default()
            });
            j.ports.insert("http".into(), PortMapping::of(8080));
            j.ports
                .insert("admin".into(), PortMapping::with_external(8081, 18081));
            j.registration.insert(
                ServiceEndpoint::new("app", "http"),
                ServicePorts::of(["http"]),
            );
            j.volumes.insert("/data:ro".into(), "/srv/data".into());
            j.volumes.insert("/cache".into(), "cache-volume".into());
            j.volumes.insert("/anon".into(), String::new());
            j.expires = Some(now() + chrono::Duration::days(1));
            j.health_check = Some(HealthCheck::Http {
                path: "/health".into(),
                port: "http".into(),
            });
            j.network_mode = Some("container:other".into());
            j.add_capabilities.insert("NET_ADMIN".into());
            j.drop_capabilities.insert("MKNOD".into());
            j.ramdisks.insert("/tmpfs".into(), "rw,size=1m".into());
            j.rollout_options = Some(RolloutOptions::defaults());
            j.token = "secret".into();
        });
        assert_eq!(validator.validate(&full, now()), Vec::<String>::new());
    }

    #[test]
    fn helios_valid_images_pass() {
        let digest = "@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
        for image in [
            "repo".to_string(),
            "namespace/repo".into(),
            "namespace/repo:tag".into(),
            "reg.istry:4711/repo".into(),
            "reg.istry.:4711/namespace/repo".into(),
            "1.2.3.4:4711/namespace/repo".into(),
            "localhost/repo".into(),
            format!("namespace/foo{digest}"),
            "foo@tarsum.v1+sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"
                .into(),
            format!("baz.io:4711/foo/foo-bar:1.2.3-SNAPSHOT-20170830T143321-decafbad{digest}"),
            "b.gcr.io/cloudsql-docker/and/more/components/gce-proxy:1.05".into(),
        ] {
            assert_eq!(image_errors(&image), Vec::<String>::new(), "{image}");
        }
    }

    #[test]
    fn valid_names_versions_hostnames_network_modes_pass() {
        for (name, version) in [("17", "17"), ("foo17.bar-baz_quux", "v_1.0-x")] {
            let j = Job::new(JobId::new(name, version), "bar").with_hash();
            assert_eq!(master().validate(&j, now()), Vec::<String>::new(), "{name}");
        }
        let longest = format!("{}hostnam", "hostname".repeat(7));
        for hostname in ["a", "17", "foo17bar-baz-quux", longest.as_str()] {
            let found = errors(|j| j.hostname = Some(hostname.to_string()));
            assert_eq!(found, Vec::<String>::new(), "{hostname}");
        }
        for mode in ["bridge", "host", "container:foo"] {
            assert_eq!(
                errors(|j| j.network_mode = Some(mode.into())),
                Vec::<String>::new()
            );
        }
    }

    #[test]
    fn missing_id_and_image() {
        let j = Job {
            image: Some("bar".into()),
            ..Job::default()
        };
        assert_eq!(master().validate(&j, now()), ["Job id was not specified."]);
        check(|j| j.image = None, &["Image was not specified."]);
    }

    #[test]
    fn name_errors() {
        let j = Job::new(JobId::new("", "1"), "foo").with_hash();
        assert_eq!(
            master().validate(&j, now()),
            ["Job name was not specified."]
        );
        let j = Job::new(JobId::new("foo@bar", "1"), "foo").with_hash();
        assert_eq!(
            master().validate(&j, now()),
            ["Job name may only contain [0-9a-zA-Z-_.] in job name [foo@bar]."]
        );
    }

    #[test]
    fn version_errors() {
        let mut j = Job::new("foo".parse().unwrap(), "foo");
        assert_eq!(
            master().validate(&j, now()),
            [
                "Job hash was not specified in job id [foo:null].",
                "Job version was not specified in job id [foo:null].",
            ]
        );
        j.id = Some(JobId::new("foo", "17&bar"));
        let j = j.with_hash();
        assert_eq!(
            master().validate(&j, now()),
            ["Job version may only contain [0-9a-zA-Z-_.] in job version [17&bar]."]
        );
    }

    #[test]
    fn hash_errors() {
        let mut j = Job::new(JobId::new("foo", "bar"), "bar");
        let expected = j.compute_hash();
        assert_eq!(
            master().validate(&j, now()),
            [format!(
                "Job hash was not specified in job id [foo:bar:{expected}]."
            )]
        );
        assert_eq!(
            JobValidator::cli().validate(&j, now()),
            Vec::<String>::new()
        );

        j.id = Some(JobId::full("foo", "bar", "badf00d"));
        assert_eq!(
            master().validate(&j, now()),
            [format!("Id hash mismatch: badf00d != {expected}")]
        );

        j.id = Some(JobId::full("foo", "bar", "bad:f00d"));
        assert_eq!(
            master().validate(&j, now()),
            [
                format!("Id hash mismatch: bad:f00d != {expected}"),
                format!("Job hash contains colon in job id [foo:bar:{expected}]."),
            ]
        );
    }

    #[test]
    fn id_mismatch_messages() {
        // Unreachable through a Job (Helios's builder copies name and version), but kept.
        let mut errors = BTreeSet::new();
        let given = JobId::full("foo", "1", "h");
        let recomputed = JobId::full("bar", "2", "h");
        master().check_id_against(&given, &recomputed, &mut errors);
        let errors: Vec<String> = errors.into_iter().collect();
        assert_eq!(
            errors,
            [
                "Id name mismatch: foo != bar",
                "Id version mismatch: 1 != 2"
            ]
        );
    }

    #[test]
    fn image_tag_and_digest_errors() {
        let digest = "@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
        assert_eq!(image_errors("repo:"), ["Tag cannot be empty"]);
        assert_eq!(
            image_errors(&format!("repo:{digest}")),
            ["Tag cannot be empty"]
        );
        assert_eq!(
            image_errors("foo/bar:a b c"),
            [r#"Illegal tag: "a b c", must match [\w][\w.-]{0,127}"#]
        );
        assert_eq!(image_errors("foo@"), ["Digest cannot be empty"]);
        assert_eq!(image_errors("foo@:123"), [r#"Illegal digest: ":123""#]);
        assert_eq!(image_errors("foo:bar@:123"), [r#"Illegal digest: ":123""#]);
        assert_eq!(
            image_errors("foo@sha256:"),
            [r#"Illegal digest: "sha256:""#]
        );
        assert_eq!(
            image_errors("foo:4711/baz:bar@sha256:"),
            [r#"Illegal digest: "sha256:""#]
        );
        assert!(!image_errors("repo:/").is_empty());
    }

    #[test]
    fn image_registry_errors() {
        assert_eq!(
            image_errors("http://registry.example.com/repo"),
            [INVALID_REPO_NAME]
        );
        assert_eq!(image_errors("registry.example.com"), [INVALID_REPO_NAME]);
        assert_eq!(
            image_errors("1.2.3.4.:4711/namespace/repo"),
            [r#"Invalid domain name: "1.2.3.4.""#]
        );
        assert_eq!(
            image_errors("reg..istry/namespace/baz:foo"),
            [r#"Invalid domain name: "reg..istry""#]
        );
        assert_eq!(
            image_errors("foo-.ba|z/namespace/baz"),
            [r#"Invalid domain name: "foo-.ba|z""#]
        );
        assert_eq!(
            image_errors("reg.istry: 4711/repo"),
            [r#"Invalid port in endpoint: "reg.istry: 4711""#]
        );
        assert_eq!(
            image_errors("foo:345345345/namespace/baz:bar"),
            [r#"Invalid port in endpoint: "foo:345345345""#]
        );
        assert_eq!(
            image_errors("foo:-17/namespace/baz"),
            [r#"Invalid port in endpoint: "foo:-17""#]
        );
    }

    #[test]
    fn image_name_errors() {
        assert_eq!(
            image_errors("DOES_NOT_LIKE_AT_ALL-CAPITALS"),
            [concat!(
                "Invalid image name (DOES_NOT_LIKE_AT_ALL-CAPITALS), only ^([a-z0-9._-]+)$ is ",
                "allowed for each slash-separated name component ",
                "(failed on \"DOES_NOT_LIKE_AT_ALL-CAPITALS\")"
            )]
        );
        assert_eq!(
            image_errors("reg.istry:4711/namespace/ repo"),
            [concat!(
                "Invalid image name (reg.istry:4711/namespace/ repo), only ^([a-z0-9._-]+)$ is ",
                "allowed for each slash-separated name component (failed on \" repo\")"
            )]
        );
        let image = format!("{}/bar", "foo".repeat(100));
        assert_eq!(
            image_errors(&image),
            [format!(
                "Invalid image name ({image}), repository name cannot be larger than 255 characters"
            )]
        );
    }

    #[test]
    fn hostname_errors() {
        for hostname in [
            "hostname".repeat(8),
            "-".into(),
            "D34DB33F".into(),
            "foo17.bar".into(),
        ] {
            assert_eq!(
                errors(|j| j.hostname = Some(hostname.clone())),
                [format!(
                    "Invalid hostname ({hostname}), only [a-z0-9][a-z0-9-] are allowed, size \
                     between 1 and 63"
                )]
            );
        }
    }

    #[test]
    fn port_errors() {
        check(
            |j| {
                j.ports.insert("1".into(), PortMapping::with_external(1, 1));
                j.ports.insert("2".into(), PortMapping::with_external(2, 1));
            },
            &["Duplicate external port mapping: tcp:1"],
        );
        // The same external port on different protocols is fine.
        check(
            |j| {
                j.ports.insert("1".into(), PortMapping::with_external(1, 1));
                let mut udp = PortMapping::with_external(2, 1);
                udp.protocol = "udp".into();
                j.ports.insert("2".into(), udp);
            },
            &[],
        );
        check(
            |j| {
                let mut p = PortMapping::of(1);
                p.protocol = "sctp".into();
                j.ports.insert("p".into(), p);
            },
            &["Invalid port mapping protocol: sctp"],
        );
        check(
            |j| {
                j.ports
                    .insert("p".into(), PortMapping::with_external(70000, -1));
            },
            &["Invalid external port: -1", "Invalid internal port: 70000"],
        );
        check(
            |j| {
                j.ports.insert("bad name".into(), PortMapping::of(1));
            },
            &["Invalid port mapping endpoint name: bad name"],
        );
    }

    #[test]
    fn registration_errors() {
        check(
            |j| {
                j.registration
                    .insert(ServiceEndpoint::from("volumes"), ServicePorts::default());
            },
            &["registration for 'volumes' is malformed: does not have a port mapping"],
        );
        check(
            |j| {
                j.registration.insert(
                    ServiceEndpoint::new("svc", "tcp"),
                    ServicePorts::of(["nope"]),
                );
            },
            &["Service registration refers to missing port mapping: svc/tcp=nope"],
        );
        check(
            |j| {
                j.ports.insert("p".into(), PortMapping::of(1));
                j.registration.insert(
                    ServiceEndpoint::new("bad.name", "tcp"),
                    ServicePorts::of(["p"]),
                );
            },
            &["Invalid service registration name: bad.name"],
        );
    }

    #[test]
    fn malformed_registration_from_json() {
        let json = r#"{"id":"foo:1","image":"bar","registration":{"volumes":{"/a":"/b"}}}"#;
        let j: Job = serde_json::from_str(json).unwrap();
        assert_eq!(
            JobValidator::cli().validate(&j, now()),
            ["registration for 'volumes' is malformed: does not have a port mapping"]
        );
    }

    #[test]
    fn volume_errors() {
        let with_volume = |path: &str, source: &str| {
            let (path, source) = (path.to_string(), source.to_string());
            errors(move |j| {
                j.volumes.insert(path, source);
            })
        };
        assert_eq!(with_volume("/", ""), ["Invalid volume path: /"]);
        assert_eq!(with_volume("/foo:", "/bar"), ["Invalid volume path: /foo:"]);
        assert_eq!(with_volume("/a:ro:x", ""), ["Invalid volume path: /a:ro:x"]);
        assert_eq!(
            with_volume("foo", "/bar"),
            ["Volume path is not absolute: foo"]
        );
        assert_eq!(
            with_volume("/foo", "bar/baz"),
            ["Volume source is not absolute: bar/baz"]
        );
        for (path, source) in [
            ("/foo", "bar"),
            ("/foo", "/"),
            ("/foo:ro", "/bar"),
            ("/foo", ""),
        ] {
            assert_eq!(with_volume(path, source), Vec::<String>::new(), "{path}");
        }
    }

    #[test]
    fn expiry_in_the_past() {
        let past = now() - chrono::Duration::days(1);
        check(
            |j| j.expires = Some(past),
            &[
                "Job expires in the past - Fri May 31 12:00:00 UTC 2024 is before Sat Jun 01 12:00:00 UTC 2024",
            ],
        );
    }

    #[test]
    fn health_check_errors() {
        check(
            |j| j.health_check = Some(HealthCheck::Exec { command: vec![] }),
            &["A command must be defined for `docker exec`-based health checks."],
        );
        check(
            |j| {
                j.health_check = Some(HealthCheck::Tcp {
                    port: String::new(),
                })
            },
            &["A port must be defined for HTTP and TCP health checks."],
        );
        check(
            |j| {
                j.ports.insert("a".into(), PortMapping::of(1));
                j.ports.insert("b".into(), PortMapping::of(2));
                j.health_check = Some(HealthCheck::Http {
                    path: "/".into(),
                    port: "c".into(),
                });
            },
            &["Health check port 'c' not defined in the job. Known ports are 'a, b'"],
        );
    }

    #[test]
    fn network_mode_error() {
        check(
            |j| j.network_mode = Some("chocolate".into()),
            &["A Docker container's network mode must be bridge, host, or container:<name|id>."],
        );
    }

    #[test]
    fn capability_errors() {
        let j = job(|j| {
            j.add_capabilities = ["cap1".to_string(), "cap2".into(), "cap3".into()].into();
        });
        let validator = JobValidator::master(vec!["cap1".to_string(), "cap4".into()]);
        assert_eq!(
            validator.validate(&j, now()),
            [concat!(
                "The following Linux capabilities aren't allowed by the Helios master: ",
                "'cap2, cap3'. The allowed capabilities are: 'cap1, cap4'."
            )]
        );
        assert_eq!(
            master().validate(&j, now()),
            [concat!(
                "The following Linux capabilities aren't allowed by the Helios master: ",
                "'cap1, cap2, cap3'. The allowed capabilities are: ''."
            )]
        );
        assert_eq!(
            JobValidator::cli().validate(&j, now()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn ramdisk_errors() {
        check(
            |j| {
                j.ramdisks.insert("relative-path".into(), "derp".into());
            },
            &["Ramdisk mount point is not absolute: relative-path"],
        );
        check(
            |j| {
                for r in ["/herp", "/a", "/derp"] {
                    j.ramdisks.insert(r.into(), "rw,size=1".into());
                }
                j.volumes.insert("/herp".into(), String::new());
                j.volumes.insert("/a:ro".into(), "/tmp".into());
                j.volumes.insert("/derp:rw".into(), String::new());
            },
            &[
                "Ramdisk mount point used by volume: /a",
                "Ramdisk mount point used by volume: /derp",
                "Ramdisk mount point used by volume: /herp",
            ],
        );
    }

    #[test]
    fn grace_period_with_static_port() {
        let message = "Job has both grace period and static/external ports. External ports will \
                       prevent new containers from deploying during the gracePeriod because of \
                       port conflicts. Please choose one or the other.";
        check(
            |j| {
                j.grace_period = Some(10);
                j.ports
                    .insert("p".into(), PortMapping::with_external(80, 8080));
            },
            &[message],
        );
        check(
            |j| {
                j.grace_period = Some(10);
                j.ports.insert("p".into(), PortMapping::of(80));
            },
            &[],
        );
        check(
            |j| {
                j.grace_period = Some(0);
                j.ports
                    .insert("p".into(), PortMapping::with_external(80, 8080));
            },
            &[],
        );
    }

    #[test]
    fn every_problem_is_reported_sorted() {
        let found = errors(|j| {
            j.image = Some("BAD".into());
            j.hostname = Some("-".into());
            j.network_mode = Some("x".into());
            j.volumes.insert("rel".into(), String::new());
        });
        assert_eq!(found.len(), 4, "{found:?}");
        let mut sorted = found.clone();
        sorted.sort();
        assert_eq!(found, sorted);
    }
}
