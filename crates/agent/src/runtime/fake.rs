//! An in-memory [`ContainerRuntime`] for fast, deterministic tests and scale simulations:
//! containers are records, "running" is a flag, and time is tokio's (so paused-time tests
//! can run hours of restarts in milliseconds). It never touches Docker.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use helios_api::DockerVersion;
use tokio::sync::watch;

use super::{ContainerInfo, ContainerRuntime, ContainerSpec, ContainerSummary, RuntimeError};

/// One fake container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeContainer {
    /// What it was created from.
    pub spec: ContainerSpec,
    /// Whether it runs.
    pub running: bool,
    /// Exit code once exited.
    pub exit_code: Option<i64>,
    /// Creation order (stands in for the creation time).
    pub created: i64,
    /// How often it was started.
    pub starts: u32,
    /// The timeout of every `docker stop` it received, in order.
    pub stops: Vec<u32>,
}

#[derive(Default)]
struct FakeState {
    images: BTreeSet<String>,
    containers: BTreeMap<String, FakeContainer>,
    next_id: u64,
    /// Every image counts as present (a simulated host, see [`FakeRuntime::simulation`]).
    any_image: bool,
    /// Started containers exit (code 1) after this long; `None` runs them until stopped.
    run_for: Option<Duration>,
    /// What `exec` in a running container returns (`None`: 0).
    exec_code: Option<i64>,
}

/// The fake runtime.
pub struct FakeRuntime {
    state: Mutex<FakeState>,
    /// Bumped on every container change (wakes `wait_exit`).
    version: watch::Sender<u64>,
    /// Itself, for the timers that end containers.
    me: Weak<FakeRuntime>,
}

impl FakeRuntime {
    /// An empty runtime with no images.
    pub fn new() -> Arc<FakeRuntime> {
        Arc::new_cyclic(|me| FakeRuntime {
            state: Mutex::new(FakeState::default()),
            version: watch::Sender::new(0),
            me: me.clone(),
        })
    }

    /// The runtime of a simulated host (`helios-agent --docker fake:`): every image is
    /// present and containers run until stopped.
    pub fn simulation() -> Arc<FakeRuntime> {
        let runtime = FakeRuntime::new();
        runtime.state.lock().unwrap().any_image = true;
        runtime
    }

    /// Makes an image present locally.
    pub fn add_image(&self, image: &str) {
        self.state.lock().unwrap().images.insert(image.to_string());
    }

    /// Started containers exit after `d` (`None`: they run until stopped).
    pub fn set_run_for(&self, d: Option<Duration>) {
        self.state.lock().unwrap().run_for = d;
    }

    /// `exec` in a running container returns `code` from now on (`None`: 0, the default),
    /// e.g. to keep an exec health check failing.
    pub fn set_exec_code(&self, code: Option<i64>) {
        self.state.lock().unwrap().exec_code = code;
    }

    /// Ends a running container with `code`, as a crash would.
    pub fn exit(&self, id: &str, code: i64) {
        let mut state = self.state.lock().unwrap();
        if let Some(c) = state.containers.get_mut(id)
            && c.running
        {
            c.running = false;
            c.exit_code = Some(code);
            self.version.send_modify(|v| *v += 1);
        }
    }

    /// Every container, by id.
    pub fn containers(&self) -> BTreeMap<String, FakeContainer> {
        self.state.lock().unwrap().containers.clone()
    }

    fn with_container<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut FakeContainer) -> T,
    ) -> Result<T, RuntimeError> {
        let mut state = self.state.lock().unwrap();
        let c = state
            .containers
            .get_mut(id)
            .ok_or_else(|| RuntimeError::NoSuchContainer(id.to_string()))?;
        let out = f(c);
        self.version.send_modify(|v| *v += 1);
        Ok(out)
    }
}

#[async_trait]
impl ContainerRuntime for FakeRuntime {
    async fn ready(&self) {}

    async fn version(&self) -> Result<DockerVersion, RuntimeError> {
        Ok(DockerVersion {
            api_version: "1.41".into(),
            version: "fake".into(),
            ..DockerVersion::default()
        })
    }

    async fn image_present(&self, image: &str) -> Result<bool, RuntimeError> {
        let state = self.state.lock().unwrap();
        Ok(state.any_image || state.images.contains(image))
    }

    async fn pull_image(&self, image: &str) -> Result<(), RuntimeError> {
        Err(RuntimeError::Engine(format!("no registry for {image}")))
    }

    async fn create(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        let mut state = self.state.lock().unwrap();
        if !state.any_image && !state.images.contains(&spec.image) {
            return Err(RuntimeError::ImageNotFound(spec.image.clone()));
        }
        state.next_id += 1;
        let id = format!("fake{:060}", state.next_id);
        let created = state.next_id as i64;
        state.containers.insert(
            id.clone(),
            FakeContainer {
                spec: spec.clone(),
                running: false,
                exit_code: None,
                created,
                starts: 0,
                stops: Vec::new(),
            },
        );
        Ok(id)
    }

    async fn start(&self, id: &str) -> Result<(), RuntimeError> {
        let run_for = self.state.lock().unwrap().run_for;
        self.with_container(id, |c| {
            c.running = true;
            c.exit_code = None;
            c.starts += 1;
        })?;
        if let (Some(d), Some(me)) = (run_for, self.me.upgrade()) {
            let id = id.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(d).await;
                me.exit(&id, 1);
            });
        }
        Ok(())
    }

    async fn inspect(&self, id: &str) -> Result<Option<ContainerInfo>, RuntimeError> {
        let state = self.state.lock().unwrap();
        Ok(state.containers.get(id).map(|c| ContainerInfo {
            id: id.to_string(),
            name: format!("/{}", c.spec.name),
            running: c.running,
            exit_code: c.exit_code,
            error: String::new(),
            labels: c.spec.labels.clone(),
            gateway: Some("172.17.0.1".into()),
        }))
    }

    async fn wait_exit(&self, id: &str) -> Result<i64, RuntimeError> {
        let mut rx = self.version.subscribe();
        loop {
            {
                let state = self.state.lock().unwrap();
                match state.containers.get(id) {
                    None => return Err(RuntimeError::NoSuchContainer(id.to_string())),
                    Some(c) if !c.running => return Ok(c.exit_code.unwrap_or(-1)),
                    Some(_) => {}
                }
            }
            if rx.changed().await.is_err() {
                return Err(RuntimeError::Unreachable("fake runtime dropped".into()));
            }
        }
    }

    async fn stop(&self, id: &str, timeout_secs: u32) -> Result<(), RuntimeError> {
        self.exit(id, 143);
        self.with_container(id, |c| c.stops.push(timeout_secs))
    }

    async fn kill(&self, id: &str) -> Result<(), RuntimeError> {
        self.exit(id, 137);
        self.with_container(id, |_| ())
    }

    async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        let mut state = self.state.lock().unwrap();
        match state.containers.get(id) {
            Some(c) if c.running => Err(RuntimeError::Engine("container is running".into())),
            Some(_) => {
                state.containers.remove(id);
                Ok(())
            }
            None => Err(RuntimeError::NoSuchContainer(id.to_string())),
        }
    }

    async fn list(
        &self,
        all: bool,
        labels: &[String],
    ) -> Result<Vec<ContainerSummary>, RuntimeError> {
        let state = self.state.lock().unwrap();
        Ok(state
            .containers
            .iter()
            .filter(|(_, c)| all || c.running)
            .filter(|(_, c)| {
                labels.iter().all(|l| match l.split_once('=') {
                    Some((k, v)) => c.spec.labels.get(k).is_some_and(|x| x == v),
                    None => c.spec.labels.contains_key(l),
                })
            })
            .map(|(id, c)| ContainerSummary {
                id: id.clone(),
                names: vec![format!("/{}", c.spec.name)],
                running: c.running,
                labels: c.spec.labels.clone(),
                created: c.created,
            })
            .collect())
    }

    async fn exec(&self, id: &str, _cmd: &[String]) -> Result<i64, RuntimeError> {
        let code = self.state.lock().unwrap().exec_code.unwrap_or(0);
        self.with_container(id, |c| if c.running { code } else { 1 })
    }
}
