//! The Helios job-id hash (reference §1.6), reproduced byte for byte.
//!
//! 1. Take every job field plus `name` and `version` as separate keys, minus `id`, `created`
//!    and `creatingUser`.
//! 2. Drop properties that are `null`, `""`, `[]` or `{}` (Jackson `NON_EMPTY`), at every
//!    object level, but keep map entries whatever their value (`"volumes":{"/tmp":""}`),
//!    and keep `false` and `0`. Objects that are present (resources, rollout options, port
//!    mappings…) stay even when all their fields were dropped (`{}`).
//! 3. Write compact JSON with keys sorted at every level (Java `String` order, i.e. UTF-16),
//!    raw UTF-8, `/` unescaped, control characters escaped as Jackson does, and dates as
//!    `yyyy-MM-dd'T'HH:mm:ss.SSS+0000`.
//! 4. `configHash = hex(sha1(json))`, `hash = hex(sha1("<name>:<version>:<configHash>"))`.
//!
//! Sets are written sorted; Java writes them in iteration order, which can differ for sets of
//! several elements (reference §1.6 "Gotchas").

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{Map, Value};
use sha1::{Digest, Sha1};

use crate::model::date::format_jackson;
use crate::model::health_check::HealthCheck;
use crate::model::job::Job;
use crate::model::job_id::JobId;
use crate::model::port_mapping::PortMapping;
use crate::model::resources::Resources;
use crate::model::rollout::RolloutOptions;
use crate::model::service::ServicePorts;

impl Job {
    /// The normalized JSON that Helios hashes (step 3 above).
    pub fn canonical_json(&self) -> String {
        let mut out = String::new();
        write_value(&Value::Object(canonical_job(self)), &mut out);
        out
    }

    /// `hex(sha1(canonical_json))`.
    pub fn config_hash(&self) -> String {
        sha1_hex(self.canonical_json().as_bytes())
    }

    /// The job hash `hex(sha1("<name>:<version>:<configHash>"))`.
    ///
    /// A missing id part is written `null`, as Java's `String.format` would; Helios itself
    /// computes no hash when the version is missing (see [`Job::recomputed_id`]).
    pub fn compute_hash(&self) -> String {
        let (name, version) = match &self.id {
            Some(id) => (id.name.as_str(), id.version.as_deref().unwrap_or("null")),
            None => ("null", "null"),
        };
        let input = format!("{name}:{version}:{}", self.config_hash());
        sha1_hex(input.as_bytes())
    }

    /// The id Helios's `job.toBuilder().build()` gives: name and version kept, hash
    /// recomputed (absent when the version is); `None` without an id.
    pub fn recomputed_id(&self) -> Option<JobId> {
        let id = self.id.as_ref()?;
        Some(JobId {
            name: id.name.clone(),
            version: id.version.clone(),
            hash: id.version.as_ref().map(|_| self.compute_hash()),
        })
    }

    /// Fills in the id's hash when it is missing or empty (an explicit hash is kept, as
    /// Helios keeps one given to its builder). Nothing changes without an id or a version.
    pub fn with_hash(mut self) -> Job {
        let needs_hash = self
            .id
            .as_ref()
            .is_some_and(|id| id.version.is_some() && id.hash.as_deref().unwrap_or("").is_empty());
        if needs_hash {
            let hash = self.compute_hash();
            if let Some(id) = self.id.as_mut() {
                id.hash = Some(hash);
            }
        }
        self
    }
}

fn sha1_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha1::digest(bytes))
}

/// Adds a string property unless it is absent or empty.
fn put_str(m: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        m.insert(key.to_string(), Value::from(v));
    }
}

/// Adds a list property unless it is empty.
fn put_list<'a, I>(m: &mut Map<String, Value>, key: &str, items: I)
where
    I: IntoIterator<Item = &'a String>,
{
    let list: Vec<Value> = items.into_iter().map(|s| Value::from(s.as_str())).collect();
    if !list.is_empty() {
        m.insert(key.to_string(), Value::Array(list));
    }
}

/// Adds a string map unless it is empty; its entries are all kept, even `""` values.
fn put_str_map(m: &mut Map<String, Value>, key: &str, map: &BTreeMap<String, String>) {
    if !map.is_empty() {
        let obj = map
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        m.insert(key.to_string(), Value::Object(obj));
    }
}

/// Adds a number property when present (`0` included).
fn put_num<N: Into<Value>>(m: &mut Map<String, Value>, key: &str, value: Option<N>) {
    if let Some(v) = value {
        m.insert(key.to_string(), v.into());
    }
}

fn canonical_job(job: &Job) -> Map<String, Value> {
    let mut m = Map::new();
    put_list(&mut m, "addCapabilities", &job.add_capabilities);
    put_list(&mut m, "command", &job.command);
    put_list(&mut m, "dropCapabilities", &job.drop_capabilities);
    put_str_map(&mut m, "env", &job.env);
    if let Some(expires) = &job.expires {
        m.insert("expires".into(), Value::from(format_jackson(expires)));
    }
    put_num(&mut m, "gracePeriod", job.grace_period);
    if let Some(hc) = &job.health_check {
        m.insert(
            "healthCheck".into(),
            Value::Object(canonical_health_check(hc)),
        );
    }
    put_str(&mut m, "hostname", job.hostname.as_deref());
    put_str(&mut m, "image", job.image.as_deref());
    put_str_map(&mut m, "labels", &job.labels);
    put_str_map(&mut m, "metadata", &job.metadata);
    if let Some(id) = &job.id {
        put_str(&mut m, "name", Some(&id.name));
        put_str(&mut m, "version", id.version.as_deref());
    }
    put_str(&mut m, "networkMode", job.network_mode.as_deref());
    if !job.ports.is_empty() {
        let ports = job
            .ports
            .iter()
            .map(|(k, p)| (k.clone(), Value::Object(canonical_port(p))))
            .collect();
        m.insert("ports".into(), Value::Object(ports));
    }
    put_str_map(&mut m, "ramdisks", &job.ramdisks);
    if !job.registration.is_empty() {
        let registration = job
            .registration
            .iter()
            .map(|(k, sp)| (k.to_string(), Value::Object(canonical_service_ports(sp))))
            .collect();
        m.insert("registration".into(), Value::Object(registration));
    }
    put_str(&mut m, "registrationDomain", Some(&job.registration_domain));
    if let Some(r) = &job.resources {
        m.insert("resources".into(), Value::Object(canonical_resources(r)));
    }
    if let Some(r) = &job.rollout_options {
        m.insert("rolloutOptions".into(), Value::Object(canonical_rollout(r)));
    }
    put_str(&mut m, "runtime", job.runtime.as_deref());
    put_num(
        &mut m,
        "secondsToWaitBeforeKill",
        job.seconds_to_wait_before_kill,
    );
    put_list(&mut m, "secretEnv", &job.secret_env);
    put_list(&mut m, "securityOpt", &job.security_opt);
    put_str(&mut m, "token", Some(&job.token));
    put_str_map(&mut m, "volumes", &job.volumes);
    m
}

fn canonical_health_check(hc: &HealthCheck) -> Map<String, Value> {
    let mut m = Map::new();
    match hc {
        HealthCheck::Http { path, port } => {
            put_str(&mut m, "path", Some(path));
            put_str(&mut m, "port", Some(port));
        }
        HealthCheck::Tcp { port } => put_str(&mut m, "port", Some(port)),
        HealthCheck::Exec { command } => put_list(&mut m, "command", command),
    }
    m.insert("type".into(), Value::from(hc.kind()));
    m
}

fn canonical_port(p: &PortMapping) -> Map<String, Value> {
    let mut m = Map::new();
    put_num(&mut m, "externalPort", p.external_port);
    m.insert("internalPort".into(), Value::from(p.internal_port));
    put_str(&mut m, "ip", p.ip.as_deref());
    put_str(&mut m, "protocol", Some(&p.protocol));
    m
}

fn canonical_service_ports(sp: &ServicePorts) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(ports) = sp.ports.as_ref().filter(|p| !p.is_empty()) {
        let obj = ports
            .iter()
            .map(|(name, params)| {
                let mut pm = Map::new();
                // ServicePortParameters is NON_NULL in Helios: an empty tag list stays.
                if let Some(tags) = &params.tags {
                    let tags = tags.iter().map(|t| Value::from(t.as_str())).collect();
                    pm.insert("tags".into(), Value::Array(tags));
                }
                (name.clone(), Value::Object(pm))
            })
            .collect();
        m.insert("ports".into(), Value::Object(obj));
    }
    m
}

fn canonical_resources(r: &Resources) -> Map<String, Value> {
    let mut m = Map::new();
    put_num(&mut m, "cpuShares", r.cpu_shares);
    put_str(&mut m, "cpuset", r.cpuset.as_deref());
    put_num(&mut m, "memory", r.memory);
    put_num(&mut m, "memorySwap", r.memory_swap);
    m
}

fn canonical_rollout(r: &RolloutOptions) -> Map<String, Value> {
    let mut m = Map::new();
    put_num(&mut m, "ignoreFailures", r.ignore_failures);
    put_num(&mut m, "migrate", r.migrate);
    put_num(&mut m, "overlap", r.overlap);
    put_num(&mut m, "parallelism", r.parallelism);
    put_num(&mut m, "timeout", r.timeout);
    put_str(&mut m, "token", r.token.as_deref());
    m
}

/// Writes compact JSON as Jackson does, with object keys sorted in Java `String` order.
fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_value(v, out);
            }
            out.push('}');
        }
    }
}

/// Jackson's escaping: `"` and `\`, short forms for `\b \t \n \f \r`, `\u00XX` (upper-case
/// hex) for other control characters; everything else raw, `/` included.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0C}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::model::date::from_epoch_millis;
    use crate::model::service::ServiceEndpoint;

    /// The hash of a canonical string, computed independently of [`Job`].
    fn expected_hash(name: &str, version: &str, canonical: &str) -> String {
        let config = sha1_hex(canonical.as_bytes());
        sha1_hex(format!("{name}:{version}:{config}").as_bytes())
    }

    fn minimal() -> Job {
        Job::new(JobId::new("foo", "bar"), "foo/bar:1")
    }

    /// The job of Helios's `JobIdHashIsStableTest`, field for field.
    fn full_job() -> Job {
        Job {
            id: Some(JobId::new("a-full-job", "1")),
            image: Some("image:1.2.3".into()),
            hostname: Some("hostname".into()),
            command: vec!["echo".into(), "hi".into()],
            env: BTreeMap::from([("ENV".into(), "VAR".into())]),
            resources: Some(Resources {
                memory: Some(1),
                memory_swap: Some(2),
                cpu_shares: Some(3),
                cpuset: Some("4".into()),
            }),
            ports: BTreeMap::from([("port1".into(), PortMapping::of(80))]),
            registration: BTreeMap::from([(
                ServiceEndpoint::new("svc", "tcp"),
                ServicePorts::of(["port1"]),
            )]),
            grace_period: Some(10),
            volumes: BTreeMap::from([("/tmp".into(), String::new())]),
            expires: from_epoch_millis(1_484_270_348),
            registration_domain: "domain".into(),
            token: "token".into(),
            health_check: Some(HealthCheck::Http {
                path: "/hello".into(),
                port: "port1".into(),
            }),
            security_opt: vec!["opt".into()],
            network_mode: Some("host".into()),
            metadata: BTreeMap::from([("META".into(), "DATA".into())]),
            add_capabilities: BTreeSet::from(["cap1".into(), "cap2".into()]),
            drop_capabilities: BTreeSet::from(["cap3".into()]),
            seconds_to_wait_before_kill: Some(99),
            ..Job::default()
        }
    }

    #[test]
    fn golden_minimal_job() {
        let job = minimal();
        assert_eq!(
            job.canonical_json(),
            r#"{"image":"foo/bar:1","name":"foo","version":"bar"}"#
        );
        assert_eq!(
            job.config_hash(),
            "00421d569db577bff83e6c3f0a98be7c6a63d450"
        );
        assert_eq!(
            job.compute_hash(),
            "3f5c6e4aef30e1ab68931dbd66a83226410b87e9"
        );
    }

    #[test]
    fn golden_full_job() {
        let job = full_job();
        assert_eq!(
            job.canonical_json(),
            concat!(
                r#"{"addCapabilities":["cap1","cap2"],"command":["echo","hi"],"#,
                r#""dropCapabilities":["cap3"],"env":{"ENV":"VAR"},"#,
                r#""expires":"1970-01-18T04:17:50.348+0000","gracePeriod":10,"#,
                r#""healthCheck":{"path":"/hello","port":"port1","type":"http"},"#,
                r#""hostname":"hostname","image":"image:1.2.3","metadata":{"META":"DATA"},"#,
                r#""name":"a-full-job","networkMode":"host","#,
                r#""ports":{"port1":{"internalPort":80,"protocol":"tcp"}},"#,
                r#""registration":{"svc/tcp":{"ports":{"port1":{}}}},"#,
                r#""registrationDomain":"domain","#,
                r#""resources":{"cpuShares":3,"cpuset":"4","memory":1,"memorySwap":2},"#,
                r#""secondsToWaitBeforeKill":99,"securityOpt":["opt"],"token":"token","#,
                r#""version":"1","volumes":{"/tmp":""}}"#
            )
        );
        assert_eq!(
            job.compute_hash(),
            "9693b4579ac48ed41f317ecf5edc5496b005b79d"
        );
    }

    #[test]
    fn golden_jobs_parsed_from_json_hash_the_same() {
        let json = serde_json::to_string(&full_job()).unwrap();
        let parsed: Job = serde_json::from_str(&json).unwrap();
        assert_eq!(
            parsed.compute_hash(),
            "9693b4579ac48ed41f317ecf5edc5496b005b79d"
        );
        let minimal: Job = serde_json::from_str(r#"{"id":"foo:bar","image":"foo/bar:1"}"#).unwrap();
        assert_eq!(
            minimal.compute_hash(),
            "3f5c6e4aef30e1ab68931dbd66a83226410b87e9"
        );
    }

    #[test]
    fn map_entries_with_empty_values_are_kept() {
        let mut job = minimal();
        job.env.insert("EMPTY".into(), String::new());
        job.labels.insert("l".into(), String::new());
        job.ramdisks.insert("/r".into(), String::new());
        job.registration.insert(
            ServiceEndpoint::new("svc", "http"),
            ServicePorts {
                ports: Some(BTreeMap::new()),
            },
        );
        let canonical = concat!(
            r#"{"env":{"EMPTY":""},"image":"foo/bar:1","labels":{"l":""},"name":"foo","#,
            r#""ramdisks":{"/r":""},"registration":{"svc/http":{}},"version":"bar"}"#
        );
        assert_eq!(job.canonical_json(), canonical);
        assert_eq!(job.compute_hash(), expected_hash("foo", "bar", canonical));
    }

    #[test]
    fn false_and_zero_are_kept_and_empty_objects_stay() {
        let mut job = minimal();
        job.rollout_options = Some(RolloutOptions {
            migrate: Some(false),
            parallelism: Some(0),
            token: Some(String::new()),
            ..RolloutOptions::default()
        });
        job.resources = Some(Resources::default());
        job.grace_period = Some(0);
        job.ports.insert(
            "p".into(),
            PortMapping {
                ip: Some("127.0.0.1".into()),
                ..PortMapping::with_external(0, 0)
            },
        );
        let canonical = concat!(
            r#"{"gracePeriod":0,"image":"foo/bar:1","name":"foo","#,
            r#""ports":{"p":{"externalPort":0,"internalPort":0,"ip":"127.0.0.1","protocol":"tcp"}},"#,
            r#""resources":{},"rolloutOptions":{"migrate":false,"parallelism":0},"version":"bar"}"#
        );
        assert_eq!(job.canonical_json(), canonical);
        assert_eq!(job.compute_hash(), expected_hash("foo", "bar", canonical));
    }

    #[test]
    fn unicode_is_raw_and_control_characters_are_escaped_like_jackson() {
        let mut job = minimal();
        job.env.insert("GREETING".into(), "héllo ☃ 😀 /path".into());
        job.env
            .insert("CTRL".into(), "a\"b\\c\n\t\u{1}\u{1f}".into());
        let canonical = concat!(
            r#"{"env":{"CTRL":"a\"b\\c\n\t\u0001\u001F","GREETING":"héllo ☃ 😀 /path"},"#,
            r#""image":"foo/bar:1","name":"foo","version":"bar"}"#
        );
        assert_eq!(job.canonical_json(), canonical);
        assert_eq!(job.compute_hash(), expected_hash("foo", "bar", canonical));
    }

    #[test]
    fn keys_sort_in_java_string_order() {
        let mut job = minimal();
        // U+FF5E sorts after U+1F600 in UTF-8 byte order but before it in UTF-16.
        job.metadata.insert("\u{1F600}".into(), "emoji".into());
        job.metadata.insert("\u{FF5E}".into(), "tilde".into());
        let canonical = job.canonical_json();
        let tilde = canonical.find('\u{FF5E}').unwrap();
        let emoji = canonical.find('\u{1F600}').unwrap();
        assert!(emoji < tilde, "{canonical}");
    }

    #[test]
    fn expires_is_written_with_plus_0000() {
        let mut job = minimal();
        job.expires = from_epoch_millis(1_893_553_445_678);
        let canonical = concat!(
            r#"{"expires":"2030-01-02T03:04:05.678+0000","image":"foo/bar:1","#,
            r#""name":"foo","version":"bar"}"#
        );
        assert_eq!(job.canonical_json(), canonical);
        assert_eq!(job.compute_hash(), expected_hash("foo", "bar", canonical));
    }

    #[test]
    fn health_checks_and_tags_in_canonical_form() {
        let mut job = minimal();
        job.health_check = Some(HealthCheck::Exec {
            command: vec!["true".into()],
        });
        let mut ports = BTreeMap::new();
        ports.insert(
            "p".into(),
            crate::model::service::ServicePortParameters { tags: Some(vec![]) },
        );
        job.registration.insert(
            ServiceEndpoint::new("s", "tcp"),
            ServicePorts { ports: Some(ports) },
        );
        assert_eq!(
            job.canonical_json(),
            concat!(
                r#"{"healthCheck":{"command":["true"],"type":"exec"},"image":"foo/bar:1","#,
                r#""name":"foo","registration":{"s/tcp":{"ports":{"p":{"tags":[]}}}},"#,
                r#""version":"bar"}"#
            )
        );
    }

    #[test]
    fn json_round_trip_keeps_the_hash() {
        let mut job = full_job();
        job.rollout_options = Some(RolloutOptions {
            overlap: Some(false),
            timeout: Some(60),
            ..RolloutOptions::default()
        });
        job.runtime = Some("runc".into());
        job.env.insert("U".into(), "ünïcödé".into());
        let job = job.with_hash();
        let json = serde_json::to_string(&job).unwrap();
        let back: Job = serde_json::from_str(&json).unwrap();
        assert_eq!(back, job);
        assert_eq!(back.compute_hash(), job.compute_hash());
        assert_eq!(back.id.unwrap().hash, Some(job.compute_hash()));
    }

    #[test]
    fn created_and_creating_user_do_not_change_the_hash() {
        let mut job = full_job();
        let before = job.compute_hash();
        job.created = Some(1_700_000_000_000);
        job.creating_user = Some("alice".into());
        assert_eq!(job.compute_hash(), before);
        assert!(!job.canonical_json().contains("alice"));
    }

    #[test]
    fn with_hash_fills_only_missing_hashes() {
        let hashed = minimal().with_hash();
        assert_eq!(
            hashed.id.as_ref().unwrap().to_string(),
            "foo:bar:3f5c6e4aef30e1ab68931dbd66a83226410b87e9"
        );
        let mut explicit = minimal();
        explicit.id = Some(JobId::full("foo", "bar", "deadbeef"));
        assert_eq!(
            explicit.with_hash().id.unwrap().hash.as_deref(),
            Some("deadbeef")
        );
        let mut empty = minimal();
        empty.id = Some(JobId::full("foo", "bar", ""));
        assert_eq!(
            empty.with_hash().id.unwrap().hash.as_deref(),
            Some("3f5c6e4aef30e1ab68931dbd66a83226410b87e9")
        );
    }

    #[test]
    fn recomputed_id_has_no_hash_without_version() {
        let mut job = minimal();
        job.id = Some("foo".parse().unwrap());
        assert_eq!(job.recomputed_id().unwrap().to_string(), "foo:null");
        assert_eq!(
            minimal().recomputed_id().unwrap().hash.as_deref(),
            Some("3f5c6e4aef30e1ab68931dbd66a83226410b87e9")
        );
    }
}
