//! The job descriptor, field for field as Helios's `Job` JSON (reference §1.3).
//!
//! Fields are declared in the alphabetical order Jackson writes them
//! (`SORT_PROPERTIES_ALPHABETICALLY`), so our JSON reads like Helios's. Unknown keys are
//! ignored; missing keys and explicit `null`s take Helios's defaults; `null` fields are
//! written out. Hashing is in [`crate::hash`], validation in [`crate::validate`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::date;
use super::health_check::HealthCheck;
use super::job_id::JobId;
use super::null_as_default;
use super::port_mapping::PortMapping;
use super::resources::Resources;
use super::rollout::RolloutOptions;
use super::service::{ServiceEndpoint, ServicePorts};

/// Seconds the agent gives `docker stop` when a job sets no `secondsToWaitBeforeKill`.
pub const DEFAULT_SECONDS_TO_WAIT_BEFORE_KILL: i32 = 120;

/// What a secret env value reads as for a caller that may not see it.
pub const SECRET_PLACEHOLDER: &str = "<secret>";

/// An immutable container specification, identified by its [`JobId`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Linux capabilities to add; the master allows only whitelisted ones.
    #[serde(default, deserialize_with = "null_as_default")]
    pub add_capabilities: BTreeSet<String>,
    /// Container CMD (arguments after the image entrypoint).
    #[serde(default, deserialize_with = "null_as_default")]
    pub command: Vec<String>,
    /// Creation time in epoch milliseconds, set by the master; not part of the hash.
    #[serde(default)]
    pub created: Option<i64>,
    /// User that created the job (`?user=`), set by the master; not part of the hash.
    #[serde(default)]
    pub creating_user: Option<String>,
    /// Linux capabilities to drop.
    #[serde(default, deserialize_with = "null_as_default")]
    pub drop_capabilities: BTreeSet<String>,
    /// Container environment; overrides the agent's `--env` and `HELIOS_PORT_*`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub env: BTreeMap<String, String>,
    /// When set, the job is undeployed everywhere and removed at this time.
    #[serde(default, with = "date::option_jackson")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub expires: Option<DateTime<Utc>>,
    /// Seconds between deregistering from service discovery and stopping the container.
    #[serde(default)]
    pub grace_period: Option<i32>,
    /// How the agent decides the container is healthy.
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    /// Container hostname.
    #[serde(default)]
    pub hostname: Option<String>,
    /// `name:version[:hash]`; required, `None` only for malformed input.
    #[serde(default)]
    pub id: Option<JobId>,
    /// Docker image reference; required, `None` only for malformed input.
    #[serde(default)]
    pub image: Option<String>,
    /// Docker container labels (not host labels).
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// Opaque metadata; the CLI adds `GIT_COMMIT`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: BTreeMap<String, String>,
    /// `bridge`, `host` or `container:<name|id>`; `None` is Docker's default.
    #[serde(default)]
    pub network_mode: Option<String>,
    /// Named port mappings.
    #[serde(default, deserialize_with = "null_as_default")]
    pub ports: BTreeMap<String, PortMapping>,
    /// tmpfs mounts: absolute mount point to mount options.
    #[serde(default, deserialize_with = "null_as_default")]
    pub ramdisks: BTreeMap<String, String>,
    /// Service-discovery registrations.
    #[serde(default, deserialize_with = "null_as_default")]
    pub registration: BTreeMap<ServiceEndpoint, ServicePorts>,
    /// Overrides the service-registration domain; `""` for none.
    #[serde(default, deserialize_with = "null_as_default")]
    pub registration_domain: String,
    /// Resource limits.
    #[serde(default)]
    pub resources: Option<Resources>,
    /// Per-job defaults for rolling updates.
    #[serde(default)]
    pub rollout_options: Option<RolloutOptions>,
    /// Docker runtime, such as `nvidia`.
    #[serde(default)]
    pub runtime: Option<String>,
    /// Keys of [`Self::env`] whose values are secret (ours, not Helios's): never logged, and
    /// shown only as [`SECRET_PLACEHOLDER`] to callers that may only read. Omitted from the
    /// JSON when empty, so jobs without secrets read and hash as Helios's.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeSet::is_empty"
    )]
    pub secret_env: BTreeSet<String>,
    /// `docker stop` timeout; the agent uses [`DEFAULT_SECONDS_TO_WAIT_BEFORE_KILL`] when
    /// absent.
    #[serde(default)]
    pub seconds_to_wait_before_kill: Option<i32>,
    /// `docker run --security-opt` values.
    #[serde(default, deserialize_with = "null_as_default")]
    pub security_opt: Vec<String>,
    /// Access token required to deploy, undeploy, start, stop or remove; `""` for none.
    #[serde(default, deserialize_with = "null_as_default")]
    pub token: String,
    /// Volumes: `containerPath[:ro|:rw]` to source (`""` anonymous, absolute path bind,
    /// otherwise a named volume).
    #[serde(default, deserialize_with = "null_as_default")]
    pub volumes: BTreeMap<String, String>,
}

impl Job {
    /// A job with an id and an image and Helios's defaults for everything else.
    pub fn new(id: JobId, image: impl Into<String>) -> Job {
        Job {
            id: Some(id),
            image: Some(image.into()),
            ..Job::default()
        }
    }

    /// The `docker stop` timeout the agent applies.
    pub fn effective_seconds_to_wait_before_kill(&self) -> i32 {
        self.seconds_to_wait_before_kill
            .unwrap_or(DEFAULT_SECONDS_TO_WAIT_BEFORE_KILL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_null_fields_take_helios_defaults() {
        for json in [
            r#"{"id":"foo:bar","image":"foo/bar:1","unknownField":{"x":1}}"#,
            r#"{"id":"foo:bar","image":"foo/bar:1","command":null,"env":null,"ports":null,
                "registration":null,"registrationDomain":null,"token":null,"securityOpt":null,
                "metadata":null,"addCapabilities":null,"dropCapabilities":null,"labels":null,
                "volumes":null,"ramdisks":null,"expires":null,"healthCheck":null}"#,
        ] {
            let job: Job = serde_json::from_str(json).unwrap();
            assert_eq!(job, Job::new(JobId::new("foo", "bar"), "foo/bar:1"));
        }
    }

    #[test]
    fn id_must_have_two_or_three_parts() {
        let err = serde_json::from_str::<Job>(r#"{"id":"foo","image":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("Invalid Job id: foo"), "{err}");
        let job: Job = serde_json::from_str(r#"{"image":"x"}"#).unwrap();
        assert_eq!(job.id, None);
    }

    #[test]
    fn serialization_includes_nulls_in_alphabetical_order() {
        let job = Job::new(JobId::new("foo", "bar"), "foo/bar:1");
        let json = serde_json::to_string(&job).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"addCapabilities":[],"command":[],"created":null,"creatingUser":null,"#,
                r#""dropCapabilities":[],"env":{},"expires":null,"gracePeriod":null,"#,
                r#""healthCheck":null,"hostname":null,"id":"foo:bar","image":"foo/bar:1","#,
                r#""labels":{},"metadata":{},"networkMode":null,"ports":{},"ramdisks":{},"#,
                r#""registration":{},"registrationDomain":"","resources":null,"#,
                r#""rolloutOptions":null,"runtime":null,"secondsToWaitBeforeKill":null,"#,
                r#""securityOpt":[],"token":"","volumes":{}}"#
            )
        );
    }

    #[test]
    fn expires_reads_any_form_and_writes_jackson_form() {
        for expires in [
            r#""2030-01-02T03:04:05.678Z""#,
            r#""2030-01-02T03:04:05.678+00:00""#,
            r#""2030-01-02T03:04:05.678+0000""#,
            "1893553445678",
        ] {
            let json = format!(r#"{{"id":"a:b","image":"i","expires":{expires}}}"#);
            let job: Job = serde_json::from_str(&json).unwrap();
            let out = serde_json::to_value(&job).unwrap();
            assert_eq!(out["expires"], "2030-01-02T03:04:05.678+0000", "{expires}");
        }
        let bad = r#"{"id":"a:b","image":"i","expires":"next tuesday"}"#;
        assert!(serde_json::from_str::<Job>(bad).is_err());
    }

    #[test]
    fn full_job_round_trips() {
        let json = r#"{"id":"a:1","image":"img","created":1700000000000,"creatingUser":"me",
            "hostname":"h","command":["x"],"env":{"K":"V"},
            "resources":{"memory":1,"memorySwap":2,"cpuShares":3,"cpuset":"0-1"},
            "ports":{"http":{"internalPort":80,"externalPort":8080,"protocol":"tcp","ip":"0.0.0.0"}},
            "registration":{"svc":{"ports":{"http":{}}}},"gracePeriod":5,
            "volumes":{"/data:ro":"/srv"},"registrationDomain":"d","token":"t",
            "healthCheck":{"type":"http","path":"/h","port":"http"},"securityOpt":["o"],
            "networkMode":"host","metadata":{"M":"1"},"addCapabilities":["NET_ADMIN"],
            "dropCapabilities":["MKNOD"],"labels":{"l":"v"},"secondsToWaitBeforeKill":7,
            "ramdisks":{"/tmp":"rw"},"rolloutOptions":{"parallelism":2},"runtime":"runc"}"#;
        let job: Job = serde_json::from_str(json).unwrap();
        assert_eq!(
            job.registration.keys().next(),
            Some(&ServiceEndpoint::new("svc", "http"))
        );
        let again: Job = serde_json::from_str(&serde_json::to_string(&job).unwrap()).unwrap();
        assert_eq!(again, job);
        assert_eq!(job.effective_seconds_to_wait_before_kill(), 7);
    }
}
