//! [`ContainerRuntime`] over a real Docker engine with bollard 0.21 (the only module of the
//! workspace that uses bollard).
//!
//! The engine may be down when the agent starts: [`DockerRuntime::spawn`] returns at once and
//! a background task connects with backoff, negotiating the API version (Debian's engine
//! speaks 1.41, bollard defaults to 1.53). Until then every call fails with
//! [`RuntimeError::Unreachable`]. Container exits are awaited with `docker wait`, falling back
//! to `inspect` when the wait stream breaks (engine restart).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, KillContainerOptionsBuilder,
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use futures::StreamExt;
use helios_api::DockerVersion;
use tokio::sync::watch;

use super::{ContainerInfo, ContainerRuntime, ContainerSpec, ContainerSummary, RuntimeError};
use crate::backoff::Backoff;

/// Seconds bollard waits for response headers on ordinary calls.
const CLIENT_TIMEOUT_SECS: u64 = 120;
/// How long a pull may take before it counts as `IMAGE_PULL_FAILED`.
const PULL_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a version negotiation may take when connecting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A Docker engine reached through bollard.
pub struct DockerRuntime {
    /// The endpoint, as given (`unix:///…` or `tcp://…`).
    host: String,
    /// The negotiated client once the engine answered; `None` before.
    client: watch::Sender<Option<Docker>>,
}

impl DockerRuntime {
    /// Starts connecting to `host` in the background and returns at once.
    pub fn spawn(host: &str) -> Arc<DockerRuntime> {
        let rt = Arc::new(DockerRuntime {
            host: host.to_string(),
            client: watch::Sender::new(None),
        });
        let weak = Arc::downgrade(&rt);
        let host = host.to_string();
        tokio::spawn(async move {
            let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
            loop {
                match tokio::time::timeout(CONNECT_TIMEOUT, connect(&host)).await {
                    Ok(Ok(docker)) => {
                        if let Some(rt) = weak.upgrade() {
                            let version = docker.client_version();
                            tracing::info!(docker = %host, api = %version, "connected to Docker");
                            rt.client.send_replace(Some(docker));
                        }
                        return;
                    }
                    Ok(Err(e)) => {
                        let delay = backoff.next_delay();
                        tracing::error!(docker = %host, error = %e, retry_in = ?delay,
                            "Docker engine unreachable; retrying");
                        tokio::time::sleep(delay).await;
                    }
                    Err(_) => {
                        let delay = backoff.next_delay();
                        tracing::error!(docker = %host, retry_in = ?delay,
                            "Docker engine did not answer in time; retrying");
                        tokio::time::sleep(delay).await;
                    }
                }
                if weak.strong_count() == 0 {
                    return;
                }
            }
        });
        rt
    }

    /// Connects to `host` now, failing if the engine does not answer.
    pub async fn connect_now(host: &str) -> Result<Arc<DockerRuntime>, RuntimeError> {
        let docker = connect(host).await.map_err(map_err)?;
        Ok(Arc::new(DockerRuntime {
            host: host.to_string(),
            client: watch::Sender::new(Some(docker)),
        }))
    }

    /// The endpoint, as given.
    pub fn host(&self) -> &str {
        &self.host
    }

    fn client(&self) -> Result<Docker, RuntimeError> {
        self.client
            .borrow()
            .clone()
            .ok_or_else(|| RuntimeError::Unreachable(format!("not connected to {} yet", self.host)))
    }
}

/// Builds a client for `host` and negotiates the API version.
async fn connect(host: &str) -> Result<Docker, BollardError> {
    let docker = if host.starts_with("tcp://") || host.starts_with("http://") {
        Docker::connect_with_http(host, CLIENT_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)?
    } else {
        Docker::connect_with_unix(host, CLIENT_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)?
    };
    docker.negotiate_version().await
}

/// Maps a bollard error onto what the agent does about it.
fn map_err(e: BollardError) -> RuntimeError {
    match e {
        BollardError::DockerResponseServerError {
            status_code: 404,
            message,
        } => RuntimeError::NoSuchContainer(message),
        BollardError::DockerResponseServerError { message, .. } => RuntimeError::Engine(message),
        e @ (BollardError::HyperResponseError { .. }
        | BollardError::IOError { .. }
        | BollardError::SocketNotFoundError(_)
        | BollardError::RequestTimeoutError
        | BollardError::HyperLegacyError { .. }) => RuntimeError::Unreachable(e.to_string()),
        e => RuntimeError::Engine(e.to_string()),
    }
}

/// Splits `repo[:tag]` (a registry port is not a tag); a digest stays in the repo part.
fn split_image(image: &str) -> (&str, &str) {
    if image.contains('@') {
        return (image, "");
    }
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) => (&image[..slash + i], &image[slash + i + 1..]),
        None => (image, "latest"),
    }
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    if v.is_empty() { None } else { Some(v) }
}

/// Translates a spec into the engine's create body.
fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
    let mut exposed = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for mapping in spec.ports.values() {
        let key = format!("{}/{}", mapping.internal_port, mapping.protocol);
        if !exposed.contains(&key) {
            exposed.push(key.clone());
        }
        let binding = PortBinding {
            host_ip: mapping.ip.clone(),
            host_port: mapping.external_port.map(|p| p.to_string()),
        };
        bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(binding);
    }
    let resources = spec.resources.clone().unwrap_or_default();
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: non_empty(spec.cmd.clone()),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(spec.labels.clone().into_iter().collect()),
        hostname: spec.hostname.clone(),
        exposed_ports: non_empty(exposed),
        volumes: non_empty(spec.volumes.clone()),
        host_config: Some(HostConfig {
            binds: non_empty(spec.binds.clone()),
            port_bindings: if bindings.is_empty() {
                None
            } else {
                Some(bindings)
            },
            dns: non_empty(spec.dns.clone()),
            extra_hosts: non_empty(spec.extra_hosts.clone()),
            security_opt: non_empty(spec.security_opt.clone()),
            network_mode: spec.network_mode.clone(),
            runtime: spec.runtime.clone(),
            tmpfs: if spec.tmpfs.is_empty() {
                None
            } else {
                Some(spec.tmpfs.clone().into_iter().collect())
            },
            memory: resources.memory,
            memory_swap: resources.memory_swap,
            cpuset_cpus: resources.cpuset,
            cpu_shares: resources.cpu_shares,
            cap_add: non_empty(spec.cap_add.clone()),
            cap_drop: non_empty(spec.cap_drop.clone()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[async_trait]
impl ContainerRuntime for DockerRuntime {
    async fn ready(&self) {
        let mut rx = self.client.subscribe();
        let _ = rx.wait_for(Option::is_some).await;
    }

    async fn version(&self) -> Result<DockerVersion, RuntimeError> {
        let v = self.client()?.version().await.map_err(map_err)?;
        Ok(DockerVersion {
            api_version: v.api_version.unwrap_or_default(),
            arch: v.arch.unwrap_or_default(),
            git_commit: v.git_commit.unwrap_or_default(),
            go_version: v.go_version.unwrap_or_default(),
            kernel_version: v.kernel_version.unwrap_or_default(),
            os: v.os.unwrap_or_default(),
            version: v.version.unwrap_or_default(),
        })
    }

    async fn image_present(&self, image: &str) -> Result<bool, RuntimeError> {
        match self.client()?.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn pull_image(&self, image: &str) -> Result<(), RuntimeError> {
        let docker = self.client()?;
        let (repo, tag) = split_image(image);
        let mut opts = CreateImageOptionsBuilder::default().from_image(repo);
        if !tag.is_empty() {
            opts = opts.tag(tag);
        }
        let pull = async {
            let mut stream = docker.create_image(Some(opts.build()), None, None);
            while let Some(item) = stream.next().await {
                match item {
                    Ok(_) => {}
                    Err(BollardError::DockerResponseServerError {
                        status_code: 404,
                        message,
                    }) => return Err(RuntimeError::ImageNotFound(message)),
                    Err(e) => return Err(map_err(e)),
                }
            }
            Ok(())
        };
        match tokio::time::timeout(PULL_TIMEOUT, pull).await {
            Ok(r) => r,
            Err(_) => Err(RuntimeError::PullTimedOut(image.to_string())),
        }
    }

    async fn create(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        let opts = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        let resp = self
            .client()?
            .create_container(Some(opts), create_body(spec))
            .await
            .map_err(|e| match e {
                BollardError::DockerResponseServerError {
                    status_code: 404,
                    message,
                } => RuntimeError::ImageNotFound(message),
                e => map_err(e),
            })?;
        Ok(resp.id)
    }

    async fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.client()?
            .start_container(id, None)
            .await
            .map_err(map_err)
    }

    async fn inspect(&self, id: &str) -> Result<Option<ContainerInfo>, RuntimeError> {
        let resp = match self.client()?.inspect_container(id, None).await {
            Ok(r) => r,
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(e) => return Err(map_err(e)),
        };
        let state = resp.state.unwrap_or_default();
        let running = state.running.unwrap_or(false);
        let gateway = resp
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|nets| {
                nets.into_values()
                    .filter_map(|e| e.gateway)
                    .find(|g| !g.is_empty())
            });
        Ok(Some(ContainerInfo {
            id: resp.id.unwrap_or_else(|| id.to_string()),
            name: resp.name.unwrap_or_default(),
            running,
            exit_code: if running { None } else { state.exit_code },
            error: state.error.unwrap_or_default(),
            labels: resp
                .config
                .and_then(|c| c.labels)
                .map(|l| l.into_iter().collect())
                .unwrap_or_default(),
            gateway,
        }))
    }

    async fn wait_exit(&self, id: &str) -> Result<i64, RuntimeError> {
        loop {
            if let Ok(docker) = self.client() {
                let opts = WaitContainerOptionsBuilder::default()
                    .condition("not-running")
                    .build();
                let mut stream = docker.wait_container(id, Some(opts));
                match stream.next().await {
                    Some(Ok(r)) => return Ok(r.status_code),
                    Some(Err(BollardError::DockerContainerWaitError { code, .. })) => {
                        return Ok(code);
                    }
                    Some(Err(BollardError::DockerResponseServerError {
                        status_code: 404,
                        message,
                    })) => return Err(RuntimeError::NoSuchContainer(message)),
                    Some(Err(e)) => {
                        tracing::debug!(container = id, error = %e, "docker wait broke");
                    }
                    None => {}
                }
            }
            // The wait stream broke (engine restart?): look before waiting again.
            tokio::time::sleep(Duration::from_secs(1)).await;
            match self.inspect(id).await {
                Ok(Some(info)) if !info.running => return Ok(info.exit_code.unwrap_or(-1)),
                Ok(None) => return Err(RuntimeError::NoSuchContainer(id.to_string())),
                _ => {}
            }
        }
    }

    async fn stop(&self, id: &str, timeout_secs: u32) -> Result<(), RuntimeError> {
        // bollard's per-request timeout would cut a long `docker stop -t` short.
        let docker = self
            .client()?
            .with_timeout(Duration::from_secs(u64::from(timeout_secs) + 60));
        let t = i32::try_from(timeout_secs).unwrap_or(i32::MAX);
        let opts = StopContainerOptionsBuilder::default().t(t).build();
        docker.stop_container(id, Some(opts)).await.map_err(map_err)
    }

    async fn kill(&self, id: &str) -> Result<(), RuntimeError> {
        let opts = KillContainerOptionsBuilder::default()
            .signal("SIGKILL")
            .build();
        match self.client()?.kill_container(id, Some(opts)).await {
            Ok(()) => Ok(()),
            // 409: not running, which is what a kill wants.
            Err(BollardError::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        let opts = RemoveContainerOptionsBuilder::default().v(true).build();
        self.client()?
            .remove_container(id, Some(opts))
            .await
            .map_err(map_err)
    }

    async fn list(
        &self,
        all: bool,
        labels: &[String],
    ) -> Result<Vec<ContainerSummary>, RuntimeError> {
        let mut builder = ListContainersOptionsBuilder::default().all(all);
        if !labels.is_empty() {
            let filters = HashMap::from([("label", labels.to_vec())]);
            builder = builder.filters(&filters);
        }
        let list = self
            .client()?
            .list_containers(Some(builder.build()))
            .await
            .map_err(map_err)?;
        Ok(list
            .into_iter()
            .map(|c| ContainerSummary {
                id: c.id.unwrap_or_default(),
                names: c.names.unwrap_or_default(),
                running: c.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING),
                labels: c
                    .labels
                    .map(|l| l.into_iter().collect::<BTreeMap<_, _>>())
                    .unwrap_or_default(),
                created: c.created.unwrap_or(0),
            })
            .collect())
    }

    async fn exec(&self, id: &str, cmd: &[String]) -> Result<i64, RuntimeError> {
        let docker = self.client()?;
        let exec = docker
            .create_exec(
                id,
                CreateExecOptions {
                    cmd: Some(cmd.to_vec()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(map_err)?;
        if let StartExecResults::Attached { mut output, .. } =
            docker.start_exec(&exec.id, None).await.map_err(map_err)?
        {
            while let Some(chunk) = output.next().await {
                chunk.map_err(map_err)?;
            }
        }
        let inspect = docker.inspect_exec(&exec.id).await.map_err(map_err)?;
        Ok(inspect.exit_code.unwrap_or(-1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use helios_api::PortMapping;

    #[test]
    fn image_references_split_into_repo_and_tag() {
        assert_eq!(split_image("busybox"), ("busybox", "latest"));
        assert_eq!(split_image("busybox:1.36"), ("busybox", "1.36"));
        assert_eq!(
            split_image("reg:5000/team/app"),
            ("reg:5000/team/app", "latest")
        );
        assert_eq!(split_image("reg:5000/app:v2"), ("reg:5000/app", "v2"));
        assert_eq!(split_image("app@sha256:abc"), ("app@sha256:abc", ""));
    }

    #[test]
    fn create_body_maps_ports_and_options() {
        let spec = ContainerSpec {
            name: "n".into(),
            image: "img".into(),
            ports: BTreeMap::from([
                ("a".into(), PortMapping::with_external(80, 20001)),
                ("b".into(), PortMapping::with_external(80, 20002)),
            ]),
            tmpfs: BTreeMap::from([("/tmp".into(), "rw".into())]),
            ..Default::default()
        };
        let body = create_body(&spec);
        assert_eq!(body.exposed_ports, Some(vec!["80/tcp".to_string()]));
        let hc = body.host_config.unwrap();
        let b = hc.port_bindings.unwrap()["80/tcp"].clone().unwrap();
        let ports: Vec<_> = b.iter().map(|p| p.host_port.clone().unwrap()).collect();
        assert_eq!(ports, vec!["20001", "20002"]);
        assert_eq!(hc.tmpfs.unwrap()["/tmp"], "rw");
        assert!(hc.binds.is_none());
    }
}
