//! What goes into a job's container (reference §4.4–§4.6), decided without I/O: the name in
//! the agent's namespace, the Docker labels, the environment with its precedence, port
//! bindings, mounts and the host-config options. `docker.rs` only translates a
//! [`ContainerSpec`] into the engine's request body.

use std::collections::BTreeMap;

use helios_api::{Job, JobId, PortMapping, Resources};

/// Docker label naming the agent that owns a container.
pub const LABEL_AGENT: &str = "helios.agent";
/// Docker label naming the full job id a container runs.
pub const LABEL_JOB: &str = "helios.job";

/// The agent-wide settings every container gets (from the agent's flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerDefaults {
    /// The agent id: the namespace of its container names and the `helios.agent` label.
    pub agent_id: String,
    /// The agent's `--name`: the host part of `HELIOS_PORT_*`.
    pub agent_name: String,
    /// `--env`.
    pub env: BTreeMap<String, String>,
    /// `--bind`.
    pub binds: Vec<String>,
    /// `--dns`.
    pub dns: Vec<String>,
    /// `--add-host`.
    pub extra_hosts: Vec<String>,
}

/// A runtime-neutral description of one container to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    /// Container name (unique per container life).
    pub name: String,
    /// Image reference.
    pub image: String,
    /// CMD.
    pub cmd: Vec<String>,
    /// The final environment.
    pub env: BTreeMap<String, String>,
    /// Docker labels: the job's plus the agent's and job's ownership labels.
    pub labels: BTreeMap<String, String>,
    /// Container hostname.
    pub hostname: Option<String>,
    /// Port mappings with the external ports allocated.
    pub ports: BTreeMap<String, PortMapping>,
    /// Anonymous volumes (container paths).
    pub volumes: Vec<String>,
    /// Binds `source:target[:mode]`, the job's then the agent's.
    pub binds: Vec<String>,
    /// DNS servers.
    pub dns: Vec<String>,
    /// Extra `/etc/hosts` entries.
    pub extra_hosts: Vec<String>,
    /// `--security-opt` values.
    pub security_opt: Vec<String>,
    /// Network mode.
    pub network_mode: Option<String>,
    /// OCI runtime.
    pub runtime: Option<String>,
    /// tmpfs mounts: path to options.
    pub tmpfs: BTreeMap<String, String>,
    /// Resource limits.
    pub resources: Option<Resources>,
    /// Capabilities to add.
    pub cap_add: Vec<String>,
    /// Capabilities to drop.
    pub cap_drop: Vec<String>,
}

/// The agent's container-name prefix (without Docker's leading `/`).
pub fn namespace(agent_id: &str) -> String {
    format!("helios-{agent_id}")
}

/// `helios-<agentId>-<short job id, chars outside [a-zA-Z0-9_-] as '_'>_<suffix hex>`.
pub fn container_name(agent_id: &str, job_id: &JobId, suffix: u32) -> String {
    let short: String = job_id
        .to_short_string()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{}-{short}_{suffix:x}", namespace(agent_id))
}

/// The container environment: the agent's `--env`, then `HELIOS_PORT_<name>` for every
/// port, then the job's env (later wins).
pub fn container_env(
    defaults: &ContainerDefaults,
    job: &Job,
    ports: &BTreeMap<String, PortMapping>,
) -> BTreeMap<String, String> {
    let mut env = defaults.env.clone();
    for (name, mapping) in ports {
        if let Some(ext) = mapping.external_port {
            env.insert(
                format!("HELIOS_PORT_{name}"),
                format!("{}:{ext}", defaults.agent_name),
            );
        }
    }
    env.extend(job.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// The full spec of a new container for `job` with its allocated `ports`; `suffix` makes
/// the name unique.
pub fn build(
    defaults: &ContainerDefaults,
    job_id: &JobId,
    job: &Job,
    ports: &BTreeMap<String, PortMapping>,
    suffix: u32,
) -> ContainerSpec {
    let mut labels = job.labels.clone();
    labels.insert(LABEL_AGENT.into(), defaults.agent_id.clone());
    labels.insert(LABEL_JOB.into(), job_id.to_string());
    let mut volumes = Vec::new();
    let mut binds = Vec::new();
    for (target, source) in &job.volumes {
        if source.is_empty() {
            let path = target
                .strip_suffix(":ro")
                .or_else(|| target.strip_suffix(":rw"))
                .unwrap_or(target);
            volumes.push(path.to_string());
        } else {
            binds.push(format!("{source}:{target}"));
        }
    }
    binds.extend(defaults.binds.iter().cloned());
    ContainerSpec {
        name: container_name(&defaults.agent_id, job_id, suffix),
        image: job.image.clone().unwrap_or_default(),
        cmd: job.command.clone(),
        env: container_env(defaults, job, ports),
        labels,
        hostname: job.hostname.clone(),
        ports: ports.clone(),
        volumes,
        binds,
        dns: defaults.dns.clone(),
        extra_hosts: defaults.extra_hosts.clone(),
        security_opt: job.security_opt.clone(),
        network_mode: job.network_mode.clone(),
        runtime: job.runtime.clone(),
        tmpfs: job.ramdisks.clone(),
        resources: job.resources.clone(),
        cap_add: job.add_capabilities.iter().cloned().collect(),
        cap_drop: job.drop_capabilities.iter().cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> ContainerDefaults {
        ContainerDefaults {
            agent_id: "AB12".into(),
            agent_name: "host1".into(),
            env: BTreeMap::from([("BAR".into(), "agent".into()), ("A".into(), "1".into())]),
            binds: vec!["/etc/x:/x:ro".into()],
            dns: vec!["8.8.8.8".into()],
            extra_hosts: vec!["db:10.0.0.1".into()],
        }
    }

    #[test]
    fn names_are_namespaced_and_sanitized() {
        let id = JobId::full("foo.bar", "v1", "2a89d5a0123456789");
        assert_eq!(
            container_name("ABC", &id, 0x3f2a9c1b),
            "helios-ABC-foo_bar_v1_2a89d5a_3f2a9c1b"
        );
    }

    #[test]
    fn env_precedence_agent_then_ports_then_job() {
        let mut job = Job::new(JobId::new("j", "1"), "img");
        job.env.insert("BAR".into(), "job".into());
        job.env
            .insert("HELIOS_PORT_http".into(), "overridden".into());
        let ports = BTreeMap::from([
            ("http".into(), PortMapping::with_external(80, 20001)),
            ("admin".into(), PortMapping::with_external(81, 20002)),
        ]);
        let env = container_env(&defaults(), &job, &ports);
        assert_eq!(env["BAR"], "job");
        assert_eq!(env["A"], "1");
        assert_eq!(env["HELIOS_PORT_admin"], "host1:20002");
        assert_eq!(env["HELIOS_PORT_http"], "overridden");
    }

    #[test]
    fn spec_carries_labels_mounts_and_options() {
        let id = JobId::full("j", "1", "abcdef0123");
        let mut job = Job::new(id.clone(), "img:1");
        job.labels.insert("team".into(), "x".into());
        job.labels.insert(LABEL_AGENT.into(), "spoof".into());
        job.volumes.insert("/data:ro".into(), "/srv".into());
        job.volumes.insert("/cache".into(), "".into());
        job.volumes.insert("/anon:rw".into(), "".into());
        job.ramdisks.insert("/tmp".into(), "rw,size=1m".into());
        job.add_capabilities.insert("NET_ADMIN".into());
        let spec = build(&defaults(), &id, &job, &BTreeMap::new(), 1);
        assert_eq!(spec.labels[LABEL_AGENT], "AB12");
        assert_eq!(spec.labels[LABEL_JOB], "j:1:abcdef0123");
        assert_eq!(spec.labels["team"], "x");
        assert_eq!(spec.binds, vec!["/srv:/data:ro", "/etc/x:/x:ro"]);
        assert_eq!(spec.volumes, vec!["/anon", "/cache"]);
        assert_eq!(spec.tmpfs["/tmp"], "rw,size=1m");
        assert_eq!(spec.cap_add, vec!["NET_ADMIN"]);
        assert_eq!(spec.dns, vec!["8.8.8.8"]);
        assert_eq!(spec.extra_hosts, vec!["db:10.0.0.1"]);
        assert_eq!(spec.name, "helios-AB12-j_1_abcdef0_1");
    }
}
