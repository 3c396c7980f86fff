//! The agent against the real Docker engine of this machine (no registry: the test image is
//! built locally from busybox-static, `apt-get install busybox-static`).
//!
//! Each test runs its own agent (own id, state dir and port block) without a master unless
//! it starts a fake one, and removes every container labelled with its agent id at the end.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures::StreamExt;
use helios_agent::persist::{StateDir, StateDirError};
use helios_agent::reporter::StatusHub;
use helios_agent::worker::DeployMeta;
use helios_agent::{Agent, AgentConfig, PortRange};
use helios_api::pb::dispatcher_server::{Dispatcher, DispatcherServer};
use helios_api::pb::{self, agent_message, master_message};
use helios_api::{Goal, HealthCheck, Job, JobId, PortMapping, State, TaskStatus, ThrottleState};
use tokio::sync::{OnceCell, mpsc};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};

const IMAGE: &str = "helios-test-busybox:latest";
const APPLETS: &[&str] = &[
    "sh", "sleep", "httpd", "nc", "wget", "true", "false", "env", "cat",
];

static IMAGE_BUILT: OnceCell<()> = OnceCell::const_new();

async fn docker() -> Docker {
    Docker::connect_with_local_defaults()
        .unwrap()
        .negotiate_version()
        .await
        .unwrap()
}

/// Imports a `FROM scratch` image holding busybox-static and its applet links, once.
async fn ensure_image() {
    IMAGE_BUILT
        .get_or_init(|| async {
            let docker = docker().await;
            if docker.inspect_image(IMAGE).await.is_ok() {
                return;
            }
            let busybox = std::fs::read("/bin/busybox")
                .expect("/bin/busybox missing: apt-get install -y busybox-static");
            let mut tar = tar::Builder::new(Vec::new());
            let mut header = tar::Header::new_gnu();
            header.set_size(busybox.len() as u64);
            header.set_mode(0o755);
            header.set_cksum();
            tar.append_data(&mut header, "bin/busybox", busybox.as_slice())
                .unwrap();
            for applet in APPLETS {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                h.set_mode(0o777);
                tar.append_link(&mut h, format!("bin/{applet}"), "busybox")
                    .unwrap();
            }
            let bytes = tar.into_inner().unwrap();
            let opts = CreateImageOptionsBuilder::default()
                .from_src("-")
                .repo("helios-test-busybox")
                .tag("latest")
                .changes(vec!["CMD [\"/bin/sh\"]".to_string()])
                .build();
            let mut stream =
                docker.create_image(Some(opts), Some(bollard::body_full(bytes.into())), None);
            while let Some(item) = stream.next().await {
                item.expect("importing the test image");
            }
        })
        .await;
}

fn random_id() -> String {
    let bytes: [u8; 20] = rand::random();
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Removes every container of an agent.
fn remove_containers(agent_id: &str) {
    let out = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=helios.agent={agent_id}"),
        ])
        .output()
        .expect("docker CLI");
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    if !ids.is_empty() {
        let _ = Command::new("docker")
            .arg("rm")
            .arg("-f")
            .args(&ids)
            .output();
    }
}

/// An agent under test; its containers are removed on drop.
struct Fixture {
    config: AgentConfig,
    agent: Option<Agent>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// An agent with its own id and a block of 200 ports starting at `port_base`.
    async fn start(port_base: u16) -> Fixture {
        ensure_image().await;
        let dir = tempfile::tempdir().unwrap();
        let mut config = AgentConfig::new("test-host", dir.path().join("state"));
        config.id = Some(random_id());
        config.masters = Vec::new();
        config.port_range = PortRange {
            start: port_base,
            end: port_base + 200,
        };
        config.env.insert("AGENT_ENV".into(), "a".into());
        let agent = Agent::start(config.clone()).await.unwrap();
        tokio::time::timeout(Duration::from_secs(20), agent.worker().wait_ready())
            .await
            .expect("docker ready");
        Fixture {
            config,
            agent: Some(agent),
            _dir: dir,
        }
    }

    fn agent(&self) -> &Agent {
        self.agent.as_ref().unwrap()
    }

    fn hub(&self) -> Arc<StatusHub> {
        self.agent().statuses().clone()
    }

    fn id(&self) -> String {
        self.config.id.clone().unwrap()
    }

    /// Stops the agent (containers keep running) and starts a new one on the same state.
    async fn restart(&mut self) {
        self.agent.take().unwrap().shutdown().await;
        self.restart_from_stopped().await;
    }

    /// Starts a new agent on the same state after the previous one was shut down.
    async fn restart_from_stopped(&mut self) {
        let agent = Agent::start(self.config.clone()).await.unwrap();
        tokio::time::timeout(Duration::from_secs(20), agent.worker().wait_ready())
            .await
            .expect("docker ready");
        self.agent = Some(agent);
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Stop the agent first so that it creates no container after the cleanup.
        drop(self.agent.take());
        if let Some(id) = &self.config.id {
            remove_containers(id);
        }
    }
}

fn job(name: &str, command: &[&str]) -> (JobId, Job) {
    let mut job = Job::new(JobId::new(name, "1"), IMAGE);
    job.command = command.iter().map(|s| s.to_string()).collect();
    job.ports.insert("http".into(), PortMapping::of(8080));
    job.env.insert("JOB_ENV".into(), "j".into());
    job.seconds_to_wait_before_kill = Some(1);
    let job = job.with_hash();
    (job.id.clone().unwrap(), job)
}

async fn wait_status(
    hub: &StatusHub,
    job_id: &JobId,
    what: &str,
    secs: u64,
    pred: impl Fn(&TaskStatus) -> bool,
) -> TaskStatus {
    let mut rx = hub.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(s) = hub.get(job_id)
            && pred(&s)
        {
            return s;
        }
        if tokio::time::timeout_at(deadline, rx.changed())
            .await
            .is_err()
        {
            panic!(
                "timed out waiting for {what}; last status: {:?}",
                hub.get(job_id)
                    .map(|s| (s.state, s.throttled, s.container_error))
            );
        }
    }
}

async fn running(hub: &StatusHub, job_id: &JobId) -> TaskStatus {
    wait_status(hub, job_id, "RUNNING", 30, |s| s.state == State::Running).await
}

async fn inspect(id: &str) -> bollard::models::ContainerInspectResponse {
    docker().await.inspect_container(id, None).await.unwrap()
}

async fn job_containers(agent_id: &str, job_id: &JobId) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &format!("label=helios.agent={agent_id}"),
            "--filter",
            &format!("label=helios.job={job_id}"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// START reaches RUNNING through PULLING_IMAGE, CREATING and STARTING; the container gets
/// its name, labels, env with HELIOS_PORT_ and a dynamic port from the range.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_runs_the_container_with_ports_env_and_labels() {
    let fx = Fixture::start(21000).await;
    let hub = fx.hub();
    let (job_id, job) = job("start", &["sleep", "600"]);
    fx.agent()
        .worker()
        .deploy(job_id.clone(), job, Goal::Start, DeployMeta::default());
    let status = running(&hub, &job_id).await;

    let port = status.ports["http"].external_port.unwrap();
    assert!((21000..21200).contains(&port), "port {port}");
    assert_eq!(status.env["HELIOS_PORT_http"], format!("test-host:{port}"));
    assert_eq!(status.env["AGENT_ENV"], "a");
    assert_eq!(status.env["JOB_ENV"], "j");

    let states: Vec<(State, bool)> = hub
        .history(&job_id)
        .iter()
        .map(|s| (s.state, s.container_id.is_some()))
        .collect();
    assert_eq!(
        states,
        vec![
            (State::PullingImage, false),
            (State::Creating, false),
            (State::Starting, true),
            (State::Running, true),
        ]
    );

    let info = inspect(status.container_id.as_deref().unwrap()).await;
    let env = info.config.as_ref().unwrap().env.clone().unwrap();
    assert!(
        env.contains(&format!("HELIOS_PORT_http=test-host:{port}")),
        "{env:?}"
    );
    assert!(env.contains(&"AGENT_ENV=a".to_string()));
    let labels = info.config.as_ref().unwrap().labels.clone().unwrap();
    assert_eq!(labels["helios.agent"], fx.id());
    assert_eq!(labels["helios.job"], job_id.to_string());
    let name = info.name.unwrap();
    assert!(
        name.starts_with(&format!("/helios-{}-start_1_", fx.id())),
        "{name}"
    );
    let bindings = info
        .host_config
        .unwrap()
        .port_bindings
        .unwrap()
        .remove("8080/tcp")
        .unwrap()
        .unwrap();
    assert_eq!(
        bindings[0].host_port.as_deref(),
        Some(port.to_string().as_str())
    );
    assert!(info.state.unwrap().running.unwrap());
}

/// A container killed behind the agent's back is restarted (about 1 s later) as a new
/// container with the same external port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_container_restarts_with_the_same_port() {
    let fx = Fixture::start(21200).await;
    let hub = fx.hub();
    let (job_id, job) = job("restart", &["sleep", "600"]);
    fx.agent()
        .worker()
        .deploy(job_id.clone(), job, Goal::Start, DeployMeta::default());
    let first = running(&hub, &job_id).await;
    let first_id = first.container_id.clone().unwrap();
    let killed_at = Instant::now();
    let out = Command::new("docker")
        .args(["kill", &first_id])
        .output()
        .unwrap();
    assert!(out.status.success());
    wait_status(&hub, &job_id, "EXITED", 10, |s| s.state == State::Exited).await;
    let second = wait_status(&hub, &job_id, "RUNNING again", 30, |s| {
        s.state == State::Running && s.container_id.as_deref() != Some(first_id.as_str())
    })
    .await;
    assert!(killed_at.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        second.ports["http"].external_port,
        first.ports["http"].external_port
    );
    let info = inspect(second.container_id.as_deref().unwrap()).await;
    let port = first.ports["http"].external_port.unwrap().to_string();
    let bindings = info.host_config.unwrap().port_bindings.unwrap()["8080/tcp"]
        .clone()
        .unwrap();
    assert_eq!(bindings[0].host_port.as_deref(), Some(port.as_str()));
    assert_eq!(second.throttled, ThrottleState::No);
}

/// STOP stops the container (STOPPING, STOPPED) and START brings a new one up; UNDEPLOY
/// stops it and forgets the task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_start_and_undeploy() {
    let fx = Fixture::start(21400).await;
    let hub = fx.hub();
    let worker = fx.agent().worker().clone();
    let (job_id, job) = job("stop", &["sleep", "600"]);
    worker.deploy(job_id.clone(), job, Goal::Start, DeployMeta::default());
    let status = running(&hub, &job_id).await;
    let id = status.container_id.clone().unwrap();

    assert!(worker.set_goal(&job_id, Goal::Stop));
    let stopped = wait_status(&hub, &job_id, "STOPPED", 20, |s| s.state == State::Stopped).await;
    assert_eq!(stopped.goal, Goal::Stop);
    assert_eq!(stopped.container_id.as_deref(), Some(id.as_str()));
    assert!(!inspect(&id).await.state.unwrap().running.unwrap());
    let states: Vec<State> = hub.history(&job_id).iter().map(|s| s.state).collect();
    assert_eq!(
        &states[states.len() - 2..],
        &[State::Stopping, State::Stopped]
    );

    worker.set_goal(&job_id, Goal::Start);
    let again = running(&hub, &job_id).await;
    assert_ne!(again.container_id, Some(id));

    worker.set_goal(&job_id, Goal::Undeploy);
    let deadline = Instant::now() + Duration::from_secs(20);
    while hub.get(&job_id).is_some() || worker.executions().contains_key(&job_id) {
        assert!(Instant::now() < deadline, "task not removed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let last = inspect(again.container_id.as_deref().unwrap()).await;
    assert!(!last.state.unwrap().running.unwrap());
}

/// A restarted agent adopts its running container: same container id, not restarted, one
/// container for the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_agent_adopts_its_container() {
    let mut fx = Fixture::start(21600).await;
    let (job_id, job) = job("adopt", &["sleep", "600"]);
    fx.agent()
        .worker()
        .deploy(job_id.clone(), job, Goal::Start, DeployMeta::default());
    let before = running(&fx.hub(), &job_id).await;
    let id = before.container_id.clone().unwrap();
    let started_at = inspect(&id).await.state.unwrap().started_at;

    fx.restart().await;
    let hub = fx.hub();
    // The persisted status already says RUNNING: wait for the new supervisor's report.
    let after = wait_status(&hub, &job_id, "adoption", 30, |_| {
        !hub.history(&job_id).is_empty()
    })
    .await;
    assert_eq!(after.container_id.as_deref(), Some(id.as_str()));
    assert_eq!(after.ports, before.ports);
    assert_eq!(inspect(&id).await.state.unwrap().started_at, started_at);
    assert_eq!(job_containers(&fx.id(), &job_id).await, vec![id]);
    // Adoption goes straight to RUNNING.
    let states: Vec<State> = hub.history(&job_id).iter().map(|s| s.state).collect();
    assert_eq!(states, vec![State::Running]);
}

/// A restarted agent whose container died meanwhile starts a new one on the same port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_agent_recreates_a_dead_container_on_the_same_port() {
    let mut fx = Fixture::start(21800).await;
    let (job_id, job) = job("recreate", &["sleep", "600"]);
    fx.agent()
        .worker()
        .deploy(job_id.clone(), job, Goal::Start, DeployMeta::default());
    let before = running(&fx.hub(), &job_id).await;
    let id = before.container_id.clone().unwrap();
    fx.agent.take().unwrap().shutdown().await;
    Command::new("docker").args(["kill", &id]).output().unwrap();
    fx.restart_from_stopped().await;
    let after = wait_status(&fx.hub(), &job_id, "a new container", 30, |s| {
        s.state == State::Running && s.container_id.as_deref() != Some(id.as_str())
    })
    .await;
    assert_ne!(after.container_id.as_deref(), Some(id.as_str()));
    assert_eq!(after.ports, before.ports);
}

/// An image that is neither local nor pullable: FAILED with IMAGE_MISSING, no container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_image_fails_with_image_missing() {
    let fx = Fixture::start(22000).await;
    let hub = fx.hub();
    let mut job = Job::new(
        JobId::new("missing", "1"),
        "helios-test-no-such-image:latest",
    );
    job.command = vec!["true".into()];
    let job = job.with_hash();
    let job_id = job.id.clone().unwrap();
    fx.agent()
        .worker()
        .deploy(job_id.clone(), job, Goal::Start, DeployMeta::default());
    let failed = wait_status(&hub, &job_id, "FAILED", 60, |s| s.state == State::Failed).await;
    assert_eq!(failed.throttled, ThrottleState::ImageMissing);
    assert_eq!(failed.container_id, None);
    assert!(!failed.container_error.is_empty());
    assert!(job_containers(&fx.id(), &job_id).await.is_empty());
}

/// A health check delays RUNNING until it passes (HEALTHCHECKING first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_health_check_passes_before_running() {
    let fx = Fixture::start(22200).await;
    let hub = fx.hub();
    let mut job = Job::new(JobId::new("health", "1"), IMAGE);
    job.command = ["httpd", "-f", "-p", "8080", "-h", "/"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    job.ports.insert("http".into(), PortMapping::of(8080));
    job.health_check = Some(HealthCheck::Http {
        path: "/bin/busybox".into(),
        port: "http".into(),
    });
    job.seconds_to_wait_before_kill = Some(1);
    let job = job.with_hash();
    let job_id = job.id.clone().unwrap();
    fx.agent()
        .worker()
        .deploy(job_id.clone(), job, Goal::Start, DeployMeta::default());
    running(&hub, &job_id).await;
    let states: Vec<State> = hub.history(&job_id).iter().map(|s| s.state).collect();
    assert_eq!(
        states,
        vec![
            State::PullingImage,
            State::Creating,
            State::Starting,
            State::Healthchecking,
            State::Running
        ]
    );
}

/// Running containers in the agent's namespace that no task owns are killed at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intruders_in_the_namespace_are_reaped() {
    ensure_image().await;
    let agent_id = random_id();
    let name = format!("helios-{agent_id}-intruder_1");
    let out = Command::new("docker")
        .args([
            "run",
            "-d",
            "--name",
            &name,
            "--label",
            &format!("helios.agent={agent_id}"),
            IMAGE,
            "sleep",
            "600",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let dir = tempfile::tempdir().unwrap();
    let mut config = AgentConfig::new("test-host", dir.path().join("state"));
    config.id = Some(agent_id.clone());
    config.masters = Vec::new();
    let fx = Fixture {
        agent: Some(Agent::start(config.clone()).await.unwrap()),
        config,
        _dir: dir,
    };
    tokio::time::timeout(Duration::from_secs(20), fx.agent().worker().wait_ready())
        .await
        .unwrap();
    let state = inspect(&name).await.state.unwrap();
    assert!(!state.running.unwrap());
}

/// A second agent process on a locked state dir exits at once with one line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_agent_on_a_locked_state_dir_exits() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let bin = env!("CARGO_BIN_EXE_helios-agent");
    let args = [
        "--state-dir",
        state.to_str().unwrap(),
        "--master",
        "127.0.0.1:1",
        "--name",
        "lock-test",
    ];
    let mut first = std::process::Command::new(bin)
        .args(args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The agent writes its id file once it holds the lock.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !state.join("id").exists() {
        assert!(Instant::now() < deadline, "first agent never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(matches!(
        StateDir::open(&state),
        Err(StateDirError::Locked(_))
    ));
    let out = Command::new(bin).args(args).output().unwrap();
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "State lock file already locked: {}",
            Path::new(&state).join("lock").display()
        )
    );
    // Cleanup of the first agent's (empty) namespace is not needed: it deployed nothing.
}

/// Flag errors are one line on stderr and exit status 1.
#[test]
fn bad_flags_exit_with_one_line() {
    let bin = env!("CARGO_BIN_EXE_helios-agent");
    for (args, want) in [
        (vec!["--port-range", "5:4"], "Bad port range: 5:4"),
        (
            vec!["--labels", "nope"],
            "Labels need to be in the format key=value.",
        ),
    ] {
        let out = Command::new(bin).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr).trim_end(), want);
    }
    let out = Command::new(bin)
        .args(["--heartbeat-ms", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr)
            .trim_end()
            .lines()
            .count(),
        1
    );
}

// ---- A fake master: the dispatcher side of the session, driven by the test. ----

type ToAgent = mpsc::Sender<Result<pb::MasterMessage, tonic::Status>>;

/// Hands every new session (its inbound stream and outbound sender) to the test.
struct FakeMaster {
    sessions: mpsc::Sender<(tonic::Streaming<pb::AgentMessage>, ToAgent)>,
}

#[tonic::async_trait]
impl Dispatcher for FakeMaster {
    type SessionStream = ReceiverStream<Result<pb::MasterMessage, tonic::Status>>;

    async fn session(
        &self,
        request: tonic::Request<tonic::Streaming<pb::AgentMessage>>,
    ) -> Result<tonic::Response<Self::SessionStream>, tonic::Status> {
        let (tx, rx) = mpsc::channel(16);
        let _ = self.sessions.send((request.into_inner(), tx)).await;
        Ok(tonic::Response::new(ReceiverStream::new(rx)))
    }
}

async fn fake_master() -> (
    SocketAddr,
    mpsc::Receiver<(tonic::Streaming<pb::AgentMessage>, ToAgent)>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(DispatcherServer::new(FakeMaster { sessions: tx }))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    (addr, rx)
}

fn to_master(m: master_message::Msg) -> Result<pb::MasterMessage, tonic::Status> {
    Ok(pb::MasterMessage { msg: Some(m) })
}

fn assignment(job: &Job, goal: &str, removed: bool) -> pb::Assignment {
    pb::Assignment {
        job_id: job.id.as_ref().unwrap().to_string(),
        job_json: serde_json::to_vec(job).unwrap(),
        goal: goal.into(),
        removed,
        deployer_user: "tester".into(),
        ..Default::default()
    }
}

/// Reads agent messages until one of the wanted kind satisfies `pred`.
async fn next_matching(
    inbound: &mut tonic::Streaming<pb::AgentMessage>,
    secs: u64,
    mut pred: impl FnMut(&agent_message::Msg) -> bool,
) -> agent_message::Msg {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let m = tokio::time::timeout_at(deadline, inbound.message())
            .await
            .expect("timed out waiting for an agent message")
            .unwrap()
            .expect("stream ended");
        if let Some(msg) = m.msg
            && pred(&msg)
        {
            return msg;
        }
    }
}

/// The newest status of `job_id` in a report, as the agent sent it: a `TaskStatus` without
/// its job (the masters hold the job), decoded here as JSON.
fn status_of(
    msg: &agent_message::Msg,
    job_id: &JobId,
) -> Option<(Option<serde_json::Value>, bool)> {
    let agent_message::Msg::Statuses(report) = msg else {
        return None;
    };
    report
        .updates
        .iter()
        .rev()
        .find(|u| u.job_id == job_id.to_string())
        .map(|u| {
            let status = (!u.removed)
                .then(|| serde_json::from_slice::<serde_json::Value>(&u.task_status_json).unwrap());
            (status, u.removed)
        })
}

/// Through a redirect to the leader, Hello/Welcome, a COMPLETE set that starts a job,
/// statuses up to RUNNING, heartbeats, a gap that triggers a resync, and a removal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_with_a_fake_master() {
    ensure_image().await;
    let (follower, mut follower_sessions) = fake_master().await;
    let (leader, mut leader_sessions) = fake_master().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = AgentConfig::new("session-host", dir.path().join("state"));
    config.id = Some(random_id());
    config.masters = vec![follower.to_string()];
    config.heartbeat = Duration::from_millis(200);
    config.port_range = PortRange {
        start: 22400,
        end: 22600,
    };
    config.labels.insert("role".into(), "test".into());
    let fx = Fixture {
        agent: Some(Agent::start(config.clone()).await.unwrap()),
        config,
        _dir: dir,
    };

    // The follower redirects.
    let (mut inbound, tx) = follower_sessions.recv().await.unwrap();
    let hello = next_matching(&mut inbound, 10, |_| true).await;
    assert!(matches!(hello, agent_message::Msg::Hello(_)));
    tx.send(to_master(master_message::Msg::Redirect(pb::Redirect {
        leader_cluster_addr: leader.to_string(),
    })))
    .await
    .unwrap();

    // The leader welcomes.
    let (mut inbound, tx) = tokio::time::timeout(Duration::from_secs(5), leader_sessions.recv())
        .await
        .expect("agent followed the redirect")
        .unwrap();
    let agent_message::Msg::Hello(hello) = next_matching(&mut inbound, 10, |_| true).await else {
        panic!("first message is not Hello");
    };
    assert_eq!(hello.name, "session-host");
    assert_eq!(hello.agent_id, fx.id());
    assert_eq!(hello.labels["role"], "test");
    assert_eq!(hello.cluster_id, "");
    let host: helios_api::HostInfo = serde_json::from_slice(&hello.host_info_json).unwrap();
    let mut docker_known = host.docker_version.is_some();
    let agent_info: serde_json::Value = serde_json::from_slice(&hello.agent_info_json).unwrap();
    assert!(agent_info["startTime"].as_i64().unwrap() > 0);

    let (job_id, job) = job("session", &["sleep", "600"]);
    tx.send(to_master(master_message::Msg::Welcome(pb::Welcome {
        cluster_id: "cluster-1".into(),
        heartbeat_interval_ms: 0,
    })))
    .await
    .unwrap();
    tx.send(to_master(master_message::Msg::Assignments(
        pb::Assignments {
            kind: pb::assignments::Kind::Complete as i32,
            index: 10,
            prev_index: 0,
            assignments: vec![assignment(&job, "START", false)],
        },
    )))
    .await
    .unwrap();
    // RUNNING is reported, and the Docker version too (in Hello, or in a HostInfoUpdate
    // as soon as Docker answers).
    let mut running = None;
    next_matching(&mut inbound, 30, |m| {
        if let agent_message::Msg::HostInfo(update) = m {
            let host: helios_api::HostInfo =
                serde_json::from_slice(&update.host_info_json).unwrap();
            docker_known |= host.docker_version.is_some();
        }
        if let Some((Some(s), _)) = status_of(m, &job_id)
            && s["state"] == "RUNNING"
        {
            assert!(
                s.get("job").is_none(),
                "a reported status carries no job: {s}"
            );
            running = Some(s);
        }
        docker_known && running.is_some()
    })
    .await;
    assert!(running.unwrap()["containerId"].is_string());
    next_matching(&mut inbound, 5, |m| {
        matches!(m, agent_message::Msg::Heartbeat(_))
    })
    .await;
    assert_eq!(fx.agent().worker().cluster().cluster_id, "cluster-1");
    assert_eq!(fx.agent().worker().cluster().last_index, 10);

    // A gap: the agent asks for a complete set and ignores the increment.
    tx.send(to_master(master_message::Msg::Assignments(
        pb::Assignments {
            kind: pb::assignments::Kind::Incremental as i32,
            index: 13,
            prev_index: 12,
            assignments: vec![assignment(&job, "STOP", false)],
        },
    )))
    .await
    .unwrap();
    next_matching(&mut inbound, 5, |m| {
        matches!(m, agent_message::Msg::Resync(_))
    })
    .await;
    assert_eq!(fx.agent().worker().cluster().last_index, 10);
    tx.send(to_master(master_message::Msg::Assignments(
        pb::Assignments {
            kind: pb::assignments::Kind::Complete as i32,
            index: 13,
            prev_index: 0,
            assignments: vec![assignment(&job, "START", false)],
        },
    )))
    .await
    .unwrap();

    // The deployment is removed: the container stops and the task is reported removed.
    tx.send(to_master(master_message::Msg::Assignments(
        pb::Assignments {
            kind: pb::assignments::Kind::Incremental as i32,
            index: 14,
            prev_index: 13,
            assignments: vec![assignment(&job, "START", true)],
        },
    )))
    .await
    .unwrap();
    next_matching(&mut inbound, 20, |m| {
        status_of(m, &job_id).is_some_and(|(_, removed)| removed)
    })
    .await;
    assert!(fx.agent().worker().executions().is_empty());
    let ids = job_containers(&fx.id(), &job_id).await;
    assert_eq!(ids.len(), 1);
    assert!(!inspect(&ids[0]).await.state.unwrap().running.unwrap());
}

/// An agent that knows cluster A refuses a master of cluster B and keeps its containers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_refuses_a_master_of_another_cluster() {
    ensure_image().await;
    let (master, mut sessions) = fake_master().await;
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("state");
    {
        let sd = StateDir::open(&state_path).unwrap();
        sd.save_cluster(&helios_agent::persist::ClusterState {
            cluster_id: "cluster-A".into(),
            last_index: 3,
        })
        .unwrap();
    }
    let mut config = AgentConfig::new("mismatch-host", state_path);
    config.id = Some(random_id());
    config.masters = vec![master.to_string()];
    let fx = Fixture {
        agent: Some(Agent::start(config.clone()).await.unwrap()),
        config,
        _dir: dir,
    };
    let (mut inbound, tx) = sessions.recv().await.unwrap();
    let agent_message::Msg::Hello(hello) = next_matching(&mut inbound, 10, |_| true).await else {
        panic!("first message is not Hello");
    };
    assert_eq!(
        (hello.cluster_id.as_str(), hello.last_index),
        ("cluster-A", 3)
    );
    tx.send(to_master(master_message::Msg::Welcome(pb::Welcome {
        cluster_id: "cluster-B".into(),
        heartbeat_interval_ms: 0,
    })))
    .await
    .unwrap();
    // The agent drops the stream and comes back later, still with cluster A.
    let end = tokio::time::timeout(Duration::from_secs(5), inbound.message()).await;
    assert!(matches!(end, Ok(Ok(None)) | Ok(Err(_))), "{end:?}");
    let (mut inbound, _tx) = tokio::time::timeout(Duration::from_secs(10), sessions.recv())
        .await
        .unwrap()
        .unwrap();
    let agent_message::Msg::Hello(hello) = next_matching(&mut inbound, 10, |_| true).await else {
        panic!("first message is not Hello");
    };
    assert_eq!(hello.cluster_id, "cluster-A");
    assert_eq!(fx.agent().worker().cluster().cluster_id, "cluster-A");
}

/// With no Docker engine the agent still starts, accepts deployments and keeps retrying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_starts_without_docker() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = AgentConfig::new("no-docker", dir.path().join("state"));
    config.masters = Vec::new();
    config.docker_host = format!("unix://{}", dir.path().join("no.sock").display());
    let agent = Agent::start(config).await.unwrap();
    let (job_id, job) = job("nodocker", &["true"]);
    agent
        .worker()
        .deploy(job_id.clone(), job, Goal::Start, DeployMeta::default());
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), agent.worker().wait_ready())
            .await
            .is_err()
    );
    // The deployment is kept (and persisted) with its ports; no status until Docker answers.
    let exec = agent.worker().executions()[&job_id].clone();
    assert!(exec.ports.unwrap()["http"].external_port.is_some());
    assert!(agent.statuses().get(&job_id).is_none());
    agent.shutdown().await;
}
