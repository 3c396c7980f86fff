//! Table-driven tests of the replicated state machine's pure function, `State::apply`.
//!
//! Each case applies a sequence of commands to a fresh `State` at log indexes 1, 2, 3…,
//! checks the result of every step, then checks the final tables with small declarative
//! expectations (or a function, for anything else). Every case runs through the three ways a
//! command reaches the state: `State::apply` (borrowed), `State::apply_owned`, and `Logic`
//! with a normal Raft entry; the three must give the same results and the same tables.
//!
//! The table covers every `Command` variant and every `CommandResult` each one can produce
//! (a test checks that against a list of the pairs); `CommandResult::None`, which only
//! entries that are not commands get, has its own test. The bounds of the idempotency table
//! are checked here through `apply`; their finer points are unit-tested beside the table.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{self, AssertUnwindSafe};

use helios_api::{
    AgentInfo, Deployment, Goal, HostInfo, Job, JobId, PortMapping, State as TaskState, TaskStatus,
    ThrottleState,
};
use helios_master_raft::raft::types::{Logic, TypeConfig};
use helios_master_raft::state::idempotency::{MAX_AGE_MS, MAX_KEYS, Seen};
use helios_master_raft::state::{
    ApiRole, ApiToken, ClusterPki, Command, CommandResult as R, HISTORY_LIMIT, Host, Secret, State,
    StatusUpdate, StoredStatus, Versioned,
};
use helios_store::StateMachineLogic;
use openraft::alias::EntryOf;
use openraft::entry::RaftEntry;
use openraft::testing::{blank_ent, log_id, membership_ent};

#[path = "apply_table/rollout_cases.rs"]
mod rollout_cases;

// ---------------------------------------------------------------------------------------------
// Fixtures: jobs by key, commands, results.
// ---------------------------------------------------------------------------------------------

/// The job a case names by `key`, hashed as the leader would before proposing it.
///
/// `web` and `api` both want static port 8080 (a conflict on one host); `web-rebuilt` has
/// `web`'s name and version with another hash; `secret` has a token; `dyn` only a dynamic port;
/// `multi` wants 7001 and 7002, `half` only 7002.
fn job(key: &str) -> Job {
    type Ports = Vec<(&'static str, i32, Option<i32>)>;
    let (name, version, image, ports, token): (&str, &str, &str, Ports, &str) = match key {
        "web" => ("web", "1", "nginx:1", vec![("http", 80, Some(8080))], ""),
        "web-rebuilt" => ("web", "1", "nginx:2", vec![("http", 80, Some(8080))], ""),
        "web-v2" => ("web", "2", "nginx:2", vec![("http", 80, Some(8081))], ""),
        "api" => ("api", "1", "api:1", vec![("http", 80, Some(8080))], ""),
        "dyn" => ("dyn", "1", "dyn:1", vec![("http", 80, None)], ""),
        "multi" => (
            "multi",
            "1",
            "multi:1",
            vec![("a", 80, Some(7001)), ("b", 81, Some(7002))],
            "",
        ),
        "half" => ("half", "1", "half:1", vec![("b", 81, Some(7002))], ""),
        "secret" => (
            "secret",
            "1",
            "secret:1",
            vec![("http", 80, Some(9090))],
            "s3cret",
        ),
        other => panic!("no fixture job {other}"),
    };
    let mut job = Job::new(JobId::new(name, version), image);
    job.ports = ports
        .into_iter()
        .map(|(port_name, internal, external)| {
            let mapping = match external {
                Some(external) => PortMapping::with_external(internal, external),
                None => PortMapping::of(internal),
            };
            (port_name.to_string(), mapping)
        })
        .collect();
    job.token = token.to_string();
    job.created = Some(1_700_000_000_000);
    job.with_hash()
}

/// The full id (`name:version:hash`) of fixture job `key`.
fn id(key: &str) -> String {
    job(key).id.expect("fixture jobs have ids").to_string()
}

/// The `name:version` of fixture job `key`.
fn name_version(key: &str) -> String {
    let id = job(key).id.expect("fixture jobs have ids");
    format!("{}:{}", id.name, id.version.unwrap_or_default())
}

fn init(cluster_id: &str) -> Command {
    Command::InitCluster {
        cluster_id: cluster_id.into(),
    }
}

fn create(key: &str) -> Command {
    Command::CreateJob {
        job: job(key).into(),
    }
}

fn remove(key: &str, token: &str) -> Command {
    Command::RemoveJob {
        id: id(key),
        token: token.into(),
    }
}

fn register(host: &str, agent: &str, now_ms: i64) -> Command {
    Command::RegisterHost {
        name: host.into(),
        id: agent.into(),
        now_ms,
    }
}

/// Agent `agent` opens a session for `host`, with no labels, env or facts.
fn up(host: &str, agent: &str, now_ms: i64) -> Command {
    up_with(host, agent, &[], &[], None, None, now_ms)
}

fn up_with(
    host: &str,
    agent: &str,
    labels: &[(&str, &str)],
    env: &[(&str, &str)],
    host_info: Option<HostInfo>,
    agent_info: Option<AgentInfo>,
    now_ms: i64,
) -> Command {
    Command::AgentUp {
        name: host.into(),
        id: agent.into(),
        labels: map(labels),
        env: map(env),
        host_info,
        agent_info,
        now_ms,
        cert_serial: None,
        address: Some(format!("10.0.0.{}", host.len())),
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn host_info(hostname: &str) -> HostInfo {
    HostInfo {
        hostname: hostname.into(),
        cpus: 2,
        ..HostInfo::default()
    }
}

fn agent_info(version: &str) -> AgentInfo {
    AgentInfo {
        version: version.into(),
        ..AgentInfo::default()
    }
}

fn info(host: &str, host_info: Option<HostInfo>, agent_info: Option<AgentInfo>) -> Command {
    Command::UpdateHostInfo {
        name: host.into(),
        host_info,
        agent_info,
    }
}

fn down(hosts: &[&str], now_ms: i64) -> Command {
    Command::HostsDown {
        names: hosts.iter().map(|h| h.to_string()).collect(),
        now_ms,
    }
}

fn deregister(host: &str) -> Command {
    Command::DeregisterHost {
        name: host.into(),
        now_ms: 0,
    }
}

fn reap(host: &str, down_since_ms: i64) -> Command {
    Command::DeregisterDeadHost {
        name: host.into(),
        down_since_ms,
        now_ms: 0,
    }
}

fn deploy(key: &str, host: &str, goal: Goal, token: &str) -> Command {
    let mut deployment = Deployment::new(job(key).id.expect("fixture id"), goal);
    deployment.deployer_master = Some("m1".into());
    deployment.deployer_user = Some("alice".into());
    Command::Deploy {
        host: host.into(),
        deployment,
        token: token.into(),
    }
}

fn set_goal(key: &str, host: &str, goal: Goal, token: &str) -> Command {
    Command::SetGoal {
        host: host.into(),
        job: id(key),
        goal,
        token: token.into(),
    }
}

fn undeploy(key: &str, host: &str, token: &str) -> Command {
    Command::Undeploy {
        host: host.into(),
        job: id(key),
        token: token.into(),
    }
}

fn report(updates: Vec<StatusUpdate>) -> Command {
    Command::ReportStatuses { updates }
}

/// The agent of `host` reports job `key` in `state` at `timestamp`, without a container.
fn update(host: &str, key: &str, state: TaskState, timestamp: i64) -> StatusUpdate {
    update_with(host, key, state, None, ThrottleState::No, timestamp)
}

fn update_with(
    host: &str,
    key: &str,
    state: TaskState,
    container: Option<&str>,
    throttled: ThrottleState,
    timestamp: i64,
) -> StatusUpdate {
    let mut status = TaskStatus::new(job(key), Goal::Start, state);
    status.container_id = container.map(str::to_string);
    status.throttled = throttled;
    StatusUpdate {
        host: host.into(),
        job: id(key),
        status: Some(status.into()),
        timestamp,
    }
}

/// The agent of `host` no longer has job `key`.
fn gone(host: &str, key: &str, timestamp: i64) -> StatusUpdate {
    StatusUpdate {
        host: host.into(),
        job: id(key),
        status: None,
        timestamp,
    }
}

/// `n` reports of job `key` on `host`, alternating RUNNING and EXITED so that each is an
/// event, stamped `0..n`.
fn flapping(host: &str, key: &str, n: usize) -> Vec<Step> {
    (0..n)
        .map(|i| {
            let state = if i % 2 == 0 {
                TaskState::Running
            } else {
                TaskState::Exited
            };
            (report(vec![update(host, key, state, i as i64)]), R::Ok)
        })
        .collect()
}

fn keyed(key: &str, fingerprint: &str, now_ms: i64, command: Command) -> Command {
    Command::Idempotent {
        key: key.into(),
        fingerprint: fingerprint.into(),
        now_ms,
        command: Box::new(command),
    }
}

fn created(key: &str) -> R {
    R::JobCreated { id: id(key) }
}

fn exists(key: &str) -> R {
    R::JobAlreadyExists { id: id(key) }
}

fn cluster(id: &str) -> R {
    R::ClusterId(id.into())
}

/// Job `key` created, agent `<host>-id` UP on `host` at time 10, the job deployed there with
/// goal START (indexes 1 to 3).
fn deployed(key: &str, host: &str) -> Vec<Step> {
    vec![
        (create(key), created(key)),
        (up(host, &format!("{host}-id"), 10), R::Ok),
        (deploy(key, host, Goal::Start, &job(key).token), R::Ok),
    ]
}

// ---------------------------------------------------------------------------------------------
// The table's shape and its runner.
// ---------------------------------------------------------------------------------------------

/// A command and the result `apply` must give.
type Step = (Command, R);

/// A case of the table.
struct Case {
    /// What the case checks.
    name: &'static str,
    /// Applied in order at indexes 1, 2, 3….
    steps: Vec<Step>,
    /// What the final state must satisfy.
    expect: Vec<Expect>,
}

fn case(name: &'static str, steps: Vec<Step>, expect: Vec<Expect>) -> Case {
    Case {
        name,
        steps,
        expect,
    }
}

/// A declarative expectation on the final state; jobs are fixture keys.
enum Expect {
    /// The cluster id.
    ClusterId(Option<&'static str>),
    /// The job exists, and its `name:version` refers to it.
    Job(&'static str),
    /// The job does not exist.
    NoJob(&'static str),
    /// How many jobs (and `name:version` references) exist.
    Jobs(usize),
    /// Host, its agent id, whether it is UP.
    Host(&'static str, &'static str, bool),
    /// The host is not registered.
    NoHost(&'static str),
    /// Host, job, goal of its deployment there.
    Deployed(&'static str, &'static str, Goal),
    /// Host, job: not deployed there.
    NotDeployed(&'static str, &'static str),
    /// Host, static port, the job that reserves it there.
    Port(&'static str, i32, &'static str),
    /// Host, port: reserved by nobody there.
    PortFree(&'static str, i32),
    /// Host, job, the stored task state.
    Status(&'static str, &'static str, TaskState),
    /// Host, job: no task status stored.
    NoStatus(&'static str, &'static str),
    /// Job, host, number of history events.
    History(&'static str, &'static str, usize),
    /// Number of idempotency keys remembered.
    Keys(usize),
    /// Anything else; panics when the state is wrong.
    Check(fn(&State)),
}

impl Expect {
    fn check(&self, s: &State) {
        match *self {
            Expect::ClusterId(want) => assert_eq!(s.cluster_id.as_deref(), want, "cluster id"),
            Expect::Job(key) => {
                let id = id(key);
                assert!(s.jobs.contains_key(&id), "job {key} ({id}) missing");
                assert_eq!(
                    s.jobs[&id].value.job(),
                    job(key),
                    "job {key} stored as proposed"
                );
                let nv = name_version(key);
                assert_eq!(s.job_refs.get(&nv), Some(&id), "reference {nv}");
            }
            Expect::NoJob(key) => assert!(!s.jobs.contains_key(&id(key)), "job {key} present"),
            Expect::Jobs(n) => {
                assert_eq!(s.jobs.len(), n, "number of jobs");
                assert_eq!(s.job_refs.len(), n, "number of name:version references");
            }
            Expect::Host(name, agent, is_up) => {
                let h = host(s, name);
                assert_eq!(
                    (h.id.as_str(), h.up),
                    (agent, is_up),
                    "host {name}: (id, up)"
                );
            }
            Expect::NoHost(name) => assert!(!s.hosts.contains_key(name), "host {name} present"),
            Expect::Deployed(host, key, goal) => {
                let d = deployment(s, host, key);
                assert_eq!(d.value.goal, goal, "goal of {key} on {host}");
                assert_eq!(
                    d.value.job_id.to_string(),
                    id(key),
                    "job id of the deployment"
                );
            }
            Expect::NotDeployed(host, key) => assert!(
                !s.deployments
                    .get(host)
                    .is_some_and(|d| d.contains_key(&id(key))),
                "{key} deployed on {host}"
            ),
            Expect::Port(host, port, key) => assert_eq!(
                s.ports.get(host).and_then(|p| p.get(&port)),
                Some(&id(key)),
                "owner of port {port} on {host}"
            ),
            Expect::PortFree(host, port) => assert_eq!(
                s.ports.get(host).and_then(|p| p.get(&port)),
                None,
                "owner of port {port} on {host}"
            ),
            Expect::Status(host, key, state) => {
                let status = s
                    .task_statuses
                    .get(host)
                    .and_then(|t| t.get(&id(key)))
                    .unwrap_or_else(|| panic!("no status of {key} on {host}"));
                assert_eq!(status.value.state, state, "state of {key} on {host}");
            }
            Expect::NoStatus(host, key) => assert!(
                !s.task_statuses
                    .get(host)
                    .is_some_and(|t| t.contains_key(&id(key))),
                "status of {key} on {host} present"
            ),
            Expect::History(key, host, n) => {
                assert_eq!(events(s, key, host).len(), n, "history of {key} on {host}")
            }
            Expect::Keys(n) => assert_eq!(s.idempotency.len(), n, "idempotency keys"),
            Expect::Check(f) => f(s),
        }
    }
}

fn host<'a>(s: &'a State, name: &str) -> &'a Host {
    s.hosts
        .get(name)
        .unwrap_or_else(|| panic!("host {name} missing"))
}

fn deployment<'a>(s: &'a State, host: &str, key: &str) -> &'a Versioned<Deployment> {
    s.deployments
        .get(host)
        .and_then(|d| d.get(&id(key)))
        .unwrap_or_else(|| panic!("{key} not deployed on {host}"))
}

fn status<'a>(s: &'a State, host: &str, key: &str) -> &'a Versioned<StoredStatus> {
    s.task_statuses
        .get(host)
        .and_then(|t| t.get(&id(key)))
        .unwrap_or_else(|| panic!("no status of {key} on {host}"))
}

/// The history of job `key` on `host` as (state, timestamp), oldest first.
fn events(s: &State, key: &str, host: &str) -> Vec<(TaskState, i64)> {
    s.history
        .get(&id(key))
        .and_then(|h| h.get(host))
        .map(|e| e.iter().map(|e| (e.status.state, e.timestamp)).collect())
        .unwrap_or_default()
}

/// The ways a committed command reaches the state.
#[derive(Debug, Clone, Copy)]
enum Route {
    /// `State::apply(&Command)`.
    Borrowed,
    /// `State::apply_owned(Command)`.
    Owned,
    /// `Logic::apply` with a normal Raft entry at the index.
    Entry,
}

fn apply(state: &mut State, route: Route, index: u64, command: &Command) -> R {
    match route {
        Route::Borrowed => state.apply(index, command),
        Route::Owned => state.apply_owned(index, command.clone()),
        Route::Entry => {
            let entry = EntryOf::<TypeConfig>::new_normal(
                log_id::<TypeConfig>(1, 0, index),
                command.clone(),
            );
            <Logic as StateMachineLogic<TypeConfig>>::apply(state, entry)
        }
    }
}

/// Applies the steps of `case` to a fresh state through `route`, checking every result.
fn run(case: &Case, route: Route) -> State {
    let mut state = State::default();
    for (i, (command, want)) in case.steps.iter().enumerate() {
        let index = i as u64 + 1;
        let got = apply(&mut state, route, index, command);
        assert_eq!(&got, want, "step {index} `{command}` ({route:?})");
    }
    state
}

/// Runs every case through every route; returns the names of the cases that failed (each
/// failure's panic message, printed by the panic hook, says what went wrong).
fn failures(cases: &[Case]) -> Vec<&'static str> {
    let mut failed = Vec::new();
    for case in cases {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut tables = Vec::new();
            for route in [Route::Borrowed, Route::Owned, Route::Entry] {
                let state = run(case, route);
                for expect in &case.expect {
                    expect.check(&state);
                }
                tables.push(serde_json::to_value(&state).expect("state as JSON"));
            }
            assert!(
                tables.windows(2).all(|w| w[0] == w[1]),
                "the routes left different tables"
            );
        }));
        if outcome.is_err() {
            eprintln!("^^^ case failed: {}", case.name);
            failed.push(case.name);
        }
    }
    failed
}

// ---------------------------------------------------------------------------------------------
// The table.
// ---------------------------------------------------------------------------------------------

fn cases() -> Vec<Case> {
    use Expect::*;
    let mut cases = vec![
        // --- InitCluster -------------------------------------------------------------------
        case(
            "a fresh state has no cluster id and empty tables",
            vec![],
            vec![
                ClusterId(None),
                Jobs(0),
                Keys(0),
                Check(|s| {
                    assert!(s.hosts.is_empty() && s.deployments.is_empty());
                    assert!(s.ports.is_empty() && s.task_statuses.is_empty());
                    assert!(s.history.is_empty());
                }),
            ],
        ),
        case(
            "init cluster: with no id yet, sets the id and answers it",
            vec![(init("c-1"), cluster("c-1"))],
            vec![ClusterId(Some("c-1"))],
        ),
        case(
            "init cluster: once set, a second init keeps the first id and answers it",
            vec![(init("c-1"), cluster("c-1")), (init("c-2"), cluster("c-1"))],
            vec![ClusterId(Some("c-1"))],
        ),
        // --- CreateJob ---------------------------------------------------------------------
        case(
            "create job: a new job is stored at its index with its name:version reference",
            vec![
                (init("c-1"), cluster("c-1")),
                (create("web"), created("web")),
            ],
            vec![
                Job("web"),
                Jobs(1),
                Check(|s| {
                    let j = &s.jobs[&id("web")];
                    assert_eq!((j.create_index, j.modify_index), (2, 2));
                }),
            ],
        ),
        case(
            "create job: the same full id again is JobAlreadyExists and keeps the first",
            vec![
                (create("web"), created("web")),
                (create("web"), exists("web")),
            ],
            vec![
                Job("web"),
                Jobs(1),
                Check(|s| assert_eq!(s.jobs[&id("web")].create_index, 1)),
            ],
        ),
        case(
            "create job: the same name:version with another hash is JobAlreadyExists (jobrefs)",
            vec![
                (create("web"), created("web")),
                (create("web-rebuilt"), exists("web-rebuilt")),
            ],
            vec![Job("web"), NoJob("web-rebuilt"), Jobs(1)],
        ),
        case(
            "create job: another version of the same name is another job",
            vec![
                (create("web"), created("web")),
                (create("web-v2"), created("web-v2")),
            ],
            vec![Job("web"), Job("web-v2"), Jobs(2)],
        ),
        // --- RemoveJob ---------------------------------------------------------------------
        case(
            "remove job: an undeployed job goes with its history and name:version (reusable)",
            [
                deployed("web", "h1"),
                vec![
                    (
                        report(vec![update("h1", "web", TaskState::Running, 100)]),
                        R::Ok,
                    ),
                    (undeploy("web", "h1", ""), R::Ok),
                    (remove("web", ""), R::Ok),
                ],
            ]
            .concat(),
            vec![
                NoJob("web"),
                Jobs(0),
                History("web", "h1", 0),
                Check(|s| {
                    assert!(!s.history.contains_key(&id("web")), "history of web kept");
                    assert!(!s.job_refs.contains_key("web:1"), "web:1 still referenced");
                }),
            ],
        ),
        case(
            "remove job: after removal, the same name:version with another hash can be created",
            vec![
                (create("web"), created("web")),
                (remove("web", ""), R::Ok),
                (create("web-rebuilt"), created("web-rebuilt")),
            ],
            vec![Job("web-rebuilt"), NoJob("web"), Jobs(1)],
        ),
        case(
            "remove job: an unknown id is JobNotFound",
            vec![
                (create("web"), created("web")),
                (remove("api", ""), R::JobNotFound),
            ],
            vec![Job("web"), Jobs(1)],
        ),
        case(
            "remove job: a removed job is JobNotFound the second time",
            vec![
                (create("web"), created("web")),
                (remove("web", ""), R::Ok),
                (remove("web", ""), R::JobNotFound),
            ],
            vec![Jobs(0)],
        ),
        case(
            "remove job: a wrong or missing token is Forbidden and keeps the job",
            vec![
                (create("secret"), created("secret")),
                (remove("secret", "wrong"), R::Forbidden),
                (remove("secret", ""), R::Forbidden),
            ],
            vec![Job("secret")],
        ),
        case(
            "remove job: a token given for a job without one is Forbidden",
            vec![
                (create("web"), created("web")),
                (remove("web", "s3cret"), R::Forbidden),
            ],
            vec![Job("web")],
        ),
        case(
            "remove job: the right token removes a job that has one",
            vec![
                (create("secret"), created("secret")),
                (remove("secret", "s3cret"), R::Ok),
            ],
            vec![NoJob("secret"), Jobs(0)],
        ),
        case(
            "remove job: a job deployed somewhere is StillInUse, even with goal STOP",
            [
                deployed("web", "h1"),
                vec![
                    (set_goal("web", "h1", Goal::Stop, ""), R::Ok),
                    (remove("web", ""), R::StillInUse),
                ],
            ]
            .concat(),
            vec![Job("web"), Deployed("h1", "web", Goal::Stop)],
        ),
        case(
            "remove job: the token is checked before the deployments (Forbidden, not in use)",
            [
                deployed("secret", "h1"),
                vec![(remove("secret", "wrong"), R::Forbidden)],
            ]
            .concat(),
            vec![Job("secret"), Deployed("h1", "secret", Goal::Start)],
        ),
        // --- RegisterHost ------------------------------------------------------------------
        case(
            "register host: a new name is a DOWN host with the agent id, at its index and time",
            vec![
                (init("c-1"), cluster("c-1")),
                (register("h1", "id-1", 5), R::Ok),
            ],
            vec![
                Host("h1", "id-1", false),
                Check(|s| {
                    let h = host(s, "h1");
                    assert_eq!((h.create_index, h.modify_index), (2, 2));
                    assert_eq!(h.status_changed_ms, 5);
                    assert!(h.labels.is_empty() && h.env.is_empty());
                    assert!(h.host_info.is_none() && h.agent_info.is_none());
                }),
            ],
        ),
        case(
            "register host: the same name and id again is Ok and changes nothing",
            vec![
                (register("h1", "id-1", 5), R::Ok),
                (register("h1", "id-1", 9), R::Ok),
            ],
            vec![
                Host("h1", "id-1", false),
                Check(|s| {
                    let h = host(s, "h1");
                    assert_eq!((h.create_index, h.modify_index), (1, 1));
                    assert_eq!(h.status_changed_ms, 5);
                }),
            ],
        ),
        case(
            "register host: another id replaces the id and keeps deployments and ports",
            [
                deployed("web", "h1"),
                vec![(register("h1", "new-id", 20), R::Ok)],
            ]
            .concat(),
            vec![
                Host("h1", "new-id", true),
                Deployed("h1", "web", Goal::Start),
                Port("h1", 8080, "web"),
                Check(|s| {
                    let h = host(s, "h1");
                    assert_eq!((h.create_index, h.modify_index), (2, 4));
                    assert_eq!(h.status_changed_ms, 10);
                }),
            ],
        ),
        // --- AgentUp -----------------------------------------------------------------------
        case(
            "agent up: an unknown name is registered UP with its labels, env and facts",
            vec![(
                up_with(
                    "h1",
                    "id-1",
                    &[("role", "web")],
                    &[("POD", "a")],
                    Some(host_info("h1.example")),
                    Some(agent_info("1.0")),
                    7,
                ),
                R::Ok,
            )],
            vec![
                Host("h1", "id-1", true),
                Check(|s| {
                    let h = host(s, "h1");
                    assert_eq!(h.labels, map(&[("role", "web")]));
                    assert_eq!(h.env, map(&[("POD", "a")]));
                    assert_eq!(h.host_info, Some(host_info("h1.example")));
                    assert_eq!(h.agent_info, Some(agent_info("1.0")));
                    assert_eq!(h.status_changed_ms, 7);
                    assert_eq!((h.create_index, h.modify_index), (1, 1));
                }),
            ],
        ),
        case(
            "agent up: a DOWN host goes UP at the leader's time; UP again keeps that time",
            vec![
                (register("h1", "id-1", 1), R::Ok),
                (up("h1", "id-1", 10), R::Ok),
                (up("h1", "id-1", 20), R::Ok),
            ],
            vec![
                Host("h1", "id-1", true),
                Check(|s| {
                    let h = host(s, "h1");
                    assert_eq!(h.status_changed_ms, 10);
                    assert_eq!((h.create_index, h.modify_index), (1, 3));
                }),
            ],
        ),
        case(
            "agent up: labels, env and facts are replaced, not merged",
            vec![
                (
                    up_with(
                        "h1",
                        "id-1",
                        &[("a", "1"), ("b", "2")],
                        &[("E", "1")],
                        Some(host_info("h1.example")),
                        Some(agent_info("1.0")),
                        7,
                    ),
                    R::Ok,
                ),
                (
                    up_with("h1", "id-1", &[("c", "3")], &[], None, None, 8),
                    R::Ok,
                ),
            ],
            vec![Check(|s| {
                let h = host(s, "h1");
                assert_eq!(h.labels, map(&[("c", "3")]));
                assert!(h.env.is_empty());
                assert_eq!((&h.host_info, &h.agent_info), (&None, &None));
            })],
        ),
        case(
            "agent up: another agent id takes the name over: statuses dropped, the rest kept",
            [
                deployed("web", "h1"),
                vec![
                    (
                        report(vec![update("h1", "web", TaskState::Running, 100)]),
                        R::Ok,
                    ),
                    (up("h1", "other-id", 30), R::Ok),
                ],
            ]
            .concat(),
            vec![
                Host("h1", "other-id", true),
                NoStatus("h1", "web"),
                Deployed("h1", "web", Goal::Start),
                Port("h1", 8080, "web"),
                History("web", "h1", 1),
            ],
        ),
        case(
            "agent up: the same agent id again keeps the task statuses",
            [
                deployed("web", "h1"),
                vec![
                    (
                        report(vec![update("h1", "web", TaskState::Running, 100)]),
                        R::Ok,
                    ),
                    (down(&["h1"], 20), R::Ok),
                    (up("h1", "h1-id", 30), R::Ok),
                ],
            ]
            .concat(),
            vec![
                Host("h1", "h1-id", true),
                Status("h1", "web", TaskState::Running),
            ],
        ),
        // --- UpdateHostInfo ----------------------------------------------------------------
        case(
            "host info: an unknown host is HostNotFound and registers nothing",
            vec![(
                info("h1", Some(host_info("h1")), Some(agent_info("1"))),
                R::HostNotFound,
            )],
            vec![NoHost("h1")],
        ),
        case(
            "host info: given facts replace the old ones, absent facts are kept",
            vec![
                (
                    up_with(
                        "h1",
                        "id-1",
                        &[],
                        &[],
                        Some(host_info("old")),
                        Some(agent_info("1")),
                        7,
                    ),
                    R::Ok,
                ),
                (info("h1", Some(host_info("new")), None), R::Ok),
                (info("h1", None, Some(agent_info("2"))), R::Ok),
            ],
            vec![
                Host("h1", "id-1", true),
                Check(|s| {
                    let h = host(s, "h1");
                    assert_eq!(h.host_info, Some(host_info("new")));
                    assert_eq!(h.agent_info, Some(agent_info("2")));
                    assert_eq!(h.modify_index, 3);
                    assert_eq!(h.status_changed_ms, 7);
                }),
            ],
        ),
        // --- HostsDown ---------------------------------------------------------------------
        case(
            "hosts down: UP hosts go DOWN at the leader's time; DOWN and unknown names are ignored",
            vec![
                (up("h1", "id-1", 10), R::Ok),
                (up("h2", "id-2", 10), R::Ok),
                (register("h3", "id-3", 5), R::Ok),
                (down(&["h1", "h3", "nope"], 50), R::Ok),
            ],
            vec![
                Host("h1", "id-1", false),
                Host("h2", "id-2", true),
                Host("h3", "id-3", false),
                NoHost("nope"),
                Check(|s| {
                    let (h1, h3) = (host(s, "h1"), host(s, "h3"));
                    assert_eq!((h1.status_changed_ms, h1.modify_index), (50, 4));
                    assert_eq!((h3.status_changed_ms, h3.modify_index), (5, 3));
                }),
            ],
        ),
        case(
            "hosts down: a host already DOWN keeps the time it went down",
            vec![
                (up("h1", "id-1", 10), R::Ok),
                (down(&["h1"], 50), R::Ok),
                (down(&["h1"], 60), R::Ok),
            ],
            vec![
                Host("h1", "id-1", false),
                Check(|s| {
                    let h = host(s, "h1");
                    assert_eq!((h.status_changed_ms, h.modify_index), (50, 2));
                }),
            ],
        ),
        case(
            "hosts down: a DOWN host keeps its deployments, ports and statuses",
            [
                deployed("web", "h1"),
                vec![
                    (
                        report(vec![update("h1", "web", TaskState::Running, 100)]),
                        R::Ok,
                    ),
                    (down(&["h1"], 50), R::Ok),
                ],
            ]
            .concat(),
            vec![
                Host("h1", "h1-id", false),
                Deployed("h1", "web", Goal::Start),
                Port("h1", 8080, "web"),
                Status("h1", "web", TaskState::Running),
            ],
        ),
        // --- DeregisterHost ----------------------------------------------------------------
        case(
            "deregister host: an unknown host is HostNotFound",
            vec![(deregister("h1"), R::HostNotFound)],
            vec![NoHost("h1")],
        ),
        case(
            "deregister host: removes the host's deployments, ports, statuses and history only",
            [
                deployed("web", "h1"),
                vec![
                    (up("h2", "h2-id", 10), R::Ok),
                    (deploy("web", "h2", Goal::Start, ""), R::Ok),
                    (
                        report(vec![
                            update("h1", "web", TaskState::Running, 100),
                            update("h2", "web", TaskState::Running, 100),
                        ]),
                        R::Ok,
                    ),
                    (deregister("h1"), R::Ok),
                ],
            ]
            .concat(),
            vec![
                NoHost("h1"),
                NotDeployed("h1", "web"),
                PortFree("h1", 8080),
                NoStatus("h1", "web"),
                History("web", "h1", 0),
                Host("h2", "h2-id", true),
                Deployed("h2", "web", Goal::Start),
                Port("h2", 8080, "web"),
                Status("h2", "web", TaskState::Running),
                History("web", "h2", 1),
                Job("web"),
                Check(|s| {
                    assert!(!s.deployments.contains_key("h1"));
                    assert!(!s.ports.contains_key("h1"));
                    assert!(!s.task_statuses.contains_key("h1"));
                }),
            ],
        ),
        case(
            "deregister host: its jobs are no longer in use and can be removed",
            [
                deployed("web", "h1"),
                vec![(deregister("h1"), R::Ok), (remove("web", ""), R::Ok)],
            ]
            .concat(),
            vec![NoJob("web"), Jobs(0)],
        ),
        case(
            "deregister host: the name registered again has no deployments nor reserved ports",
            [
                deployed("web", "h1"),
                vec![
                    (deregister("h1"), R::Ok),
                    (up("h1", "h1-id", 40), R::Ok),
                    (create("api"), created("api")),
                    (deploy("api", "h1", Goal::Start, ""), R::Ok),
                ],
            ]
            .concat(),
            vec![
                NotDeployed("h1", "web"),
                Deployed("h1", "api", Goal::Start),
                Port("h1", 8080, "api"),
                Check(|s| assert_eq!(host(s, "h1").create_index, 5)),
            ],
        ),
        // --- DeregisterDeadHost ------------------------------------------------------------
        case(
            "reap dead host: an unknown host is HostNotFound",
            vec![(reap("h1", 10), R::HostNotFound)],
            vec![NoHost("h1")],
        ),
        case(
            "reap dead host: an UP host is HostNotDown and kept",
            vec![
                (up("h1", "id-1", 10), R::Ok),
                (reap("h1", 10), R::HostNotDown),
            ],
            vec![Host("h1", "id-1", true)],
        ),
        case(
            "reap dead host: a host DOWN since another time is HostNotDown and kept",
            vec![
                (up("h1", "id-1", 10), R::Ok),
                (down(&["h1"], 20), R::Ok),
                (reap("h1", 15), R::HostNotDown),
            ],
            vec![Host("h1", "id-1", false)],
        ),
        case(
            "reap dead host: DOWN since the judged time, it goes with its deployments and ports",
            [
                deployed("web", "h1"),
                vec![(down(&["h1"], 20), R::Ok), (reap("h1", 20), R::Ok)],
            ]
            .concat(),
            vec![
                NoHost("h1"),
                NotDeployed("h1", "web"),
                PortFree("h1", 8080),
                Check(|s| assert!(s.deployments.is_empty() && s.ports.is_empty())),
            ],
        ),
        case(
            "reap dead host: a pre-registered host never UP is judged by its registration time",
            vec![(register("h1", "id-1", 5), R::Ok), (reap("h1", 5), R::Ok)],
            vec![NoHost("h1")],
        ),
        // --- Deploy ------------------------------------------------------------------------
        case(
            "deploy: stores the deployment at its index and reserves every static port",
            vec![
                (create("multi"), created("multi")),
                (up("h1", "h1-id", 10), R::Ok),
                (deploy("multi", "h1", Goal::Start, ""), R::Ok),
            ],
            vec![
                Deployed("h1", "multi", Goal::Start),
                Port("h1", 7001, "multi"),
                Port("h1", 7002, "multi"),
                Check(|s| {
                    let d = deployment(s, "h1", "multi");
                    assert_eq!((d.create_index, d.modify_index), (3, 3));
                    assert_eq!(d.value.deployer_master.as_deref(), Some("m1"));
                    assert_eq!(d.value.deployer_user.as_deref(), Some("alice"));
                    assert_eq!(s.ports["h1"].len(), 2);
                }),
            ],
        ),
        case(
            "deploy: a job with only dynamic ports reserves no port",
            vec![
                (create("dyn"), created("dyn")),
                (up("h1", "h1-id", 10), R::Ok),
                (deploy("dyn", "h1", Goal::Start, ""), R::Ok),
            ],
            vec![
                Deployed("h1", "dyn", Goal::Start),
                Check(|s| assert!(s.ports.get("h1").is_none_or(|p| p.is_empty()))),
            ],
        ),
        case(
            "deploy: with goal STOP stores goal STOP and still reserves the ports",
            vec![
                (create("web"), created("web")),
                (up("h1", "h1-id", 10), R::Ok),
                (deploy("web", "h1", Goal::Stop, ""), R::Ok),
            ],
            vec![Deployed("h1", "web", Goal::Stop), Port("h1", 8080, "web")],
        ),
        case(
            "deploy: an unknown job is JobNotFound",
            vec![
                (up("h1", "h1-id", 10), R::Ok),
                (deploy("web", "h1", Goal::Start, ""), R::JobNotFound),
            ],
            vec![
                NotDeployed("h1", "web"),
                PortFree("h1", 8080),
                Check(|s| assert!(s.deployments.is_empty())),
            ],
        ),
        case(
            "deploy: an unknown host is HostNotFound and reserves nothing",
            vec![
                (create("web"), created("web")),
                (deploy("web", "h1", Goal::Start, ""), R::HostNotFound),
            ],
            vec![
                NoHost("h1"),
                Check(|s| assert!(s.deployments.is_empty() && s.ports.is_empty())),
            ],
        ),
        case(
            "deploy: a registered host that is DOWN accepts deployments (pre-registration)",
            vec![
                (create("web"), created("web")),
                (register("h1", "id-1", 5), R::Ok),
                (deploy("web", "h1", Goal::Start, ""), R::Ok),
            ],
            vec![
                Host("h1", "id-1", false),
                Deployed("h1", "web", Goal::Start),
                Port("h1", 8080, "web"),
            ],
        ),
        case(
            "deploy: the job again on the same host is JobAlreadyDeployed, first goal kept",
            [
                deployed("web", "h1"),
                vec![(deploy("web", "h1", Goal::Stop, ""), R::JobAlreadyDeployed)],
            ]
            .concat(),
            vec![
                Deployed("h1", "web", Goal::Start),
                Port("h1", 8080, "web"),
                Check(|s| assert_eq!(deployment(s, "h1", "web").modify_index, 3)),
            ],
        ),
        case(
            "deploy: a static port held by another job on the host is PortConflict",
            [
                deployed("web", "h1"),
                vec![
                    (create("api"), created("api")),
                    (
                        deploy("api", "h1", Goal::Start, ""),
                        R::PortConflict { port: 8080 },
                    ),
                ],
            ]
            .concat(),
            vec![NotDeployed("h1", "api"), Port("h1", 8080, "web")],
        ),
        case(
            "deploy: a port held by a deployment with goal STOP is still a PortConflict",
            [
                deployed("web", "h1"),
                vec![
                    (set_goal("web", "h1", Goal::Stop, ""), R::Ok),
                    (create("api"), created("api")),
                    (
                        deploy("api", "h1", Goal::Start, ""),
                        R::PortConflict { port: 8080 },
                    ),
                ],
            ]
            .concat(),
            vec![NotDeployed("h1", "api"), Port("h1", 8080, "web")],
        ),
        case(
            "deploy: a conflict on one port reserves none of the job's other ports",
            [
                deployed("half", "h1"),
                vec![
                    (create("multi"), created("multi")),
                    (
                        deploy("multi", "h1", Goal::Start, ""),
                        R::PortConflict { port: 7002 },
                    ),
                ],
            ]
            .concat(),
            vec![
                NotDeployed("h1", "multi"),
                PortFree("h1", 7001),
                Port("h1", 7002, "half"),
            ],
        ),
        case(
            "deploy: the same static port on another host is no conflict",
            [
                deployed("web", "h1"),
                vec![
                    (create("api"), created("api")),
                    (up("h2", "h2-id", 10), R::Ok),
                    (deploy("api", "h2", Goal::Start, ""), R::Ok),
                ],
            ]
            .concat(),
            vec![
                Port("h1", 8080, "web"),
                Port("h2", 8080, "api"),
                Deployed("h2", "api", Goal::Start),
            ],
        ),
        case(
            "deploy: a wrong or missing token is Forbidden and reserves nothing",
            vec![
                (create("secret"), created("secret")),
                (up("h1", "h1-id", 10), R::Ok),
                (deploy("secret", "h1", Goal::Start, ""), R::Forbidden),
                (deploy("secret", "h1", Goal::Start, "wrong"), R::Forbidden),
            ],
            vec![NotDeployed("h1", "secret"), PortFree("h1", 9090)],
        ),
        case(
            "deploy: a token given for a job without one is Forbidden",
            vec![
                (create("web"), created("web")),
                (up("h1", "h1-id", 10), R::Ok),
                (deploy("web", "h1", Goal::Start, "s3cret"), R::Forbidden),
            ],
            vec![NotDeployed("h1", "web")],
        ),
        case(
            "deploy: the right token deploys a job that has one",
            deployed("secret", "h1"),
            vec![
                Deployed("h1", "secret", Goal::Start),
                Port("h1", 9090, "secret"),
            ],
        ),
        // --- SetGoal -----------------------------------------------------------------------
        case(
            "set goal: START to STOP changes the goal and the deployment's modify index",
            [
                deployed("web", "h1"),
                vec![(set_goal("web", "h1", Goal::Stop, ""), R::Ok)],
            ]
            .concat(),
            vec![
                Deployed("h1", "web", Goal::Stop),
                Check(|s| {
                    let d = deployment(s, "h1", "web");
                    assert_eq!((d.create_index, d.modify_index), (3, 4));
                }),
            ],
        ),
        case(
            "set goal: the goal it already has is Ok and keeps the modify index",
            [
                deployed("web", "h1"),
                vec![(set_goal("web", "h1", Goal::Start, ""), R::Ok)],
            ]
            .concat(),
            vec![
                Deployed("h1", "web", Goal::Start),
                Check(|s| assert_eq!(deployment(s, "h1", "web").modify_index, 3)),
            ],
        ),
        case(
            "set goal: STOP then START again ends with START",
            [
                deployed("web", "h1"),
                vec![
                    (set_goal("web", "h1", Goal::Stop, ""), R::Ok),
                    (set_goal("web", "h1", Goal::Start, ""), R::Ok),
                ],
            ]
            .concat(),
            vec![
                Deployed("h1", "web", Goal::Start),
                Check(|s| assert_eq!(deployment(s, "h1", "web").modify_index, 5)),
            ],
        ),
        case(
            "set goal: UNDEPLOY keeps the deployment and its port until an undeploy",
            [
                deployed("web", "h1"),
                vec![(set_goal("web", "h1", Goal::Undeploy, ""), R::Ok)],
            ]
            .concat(),
            vec![
                Deployed("h1", "web", Goal::Undeploy),
                Port("h1", 8080, "web"),
            ],
        ),
        case(
            "set goal: an unknown host is HostNotFound",
            vec![
                (create("web"), created("web")),
                (set_goal("web", "h1", Goal::Stop, ""), R::HostNotFound),
            ],
            vec![NoHost("h1")],
        ),
        case(
            "set goal: a job not deployed on the host is JobNotDeployed",
            vec![
                (create("web"), created("web")),
                (up("h1", "h1-id", 10), R::Ok),
                (set_goal("web", "h1", Goal::Stop, ""), R::JobNotDeployed),
            ],
            vec![NotDeployed("h1", "web")],
        ),
        case(
            "set goal: an unknown job is JobNotDeployed, as in Helios",
            vec![
                (up("h1", "h1-id", 10), R::Ok),
                (set_goal("web", "h1", Goal::Stop, ""), R::JobNotDeployed),
            ],
            vec![NotDeployed("h1", "web")],
        ),
        case(
            "set goal: a job deployed on another host only is JobNotDeployed here",
            [
                deployed("web", "h1"),
                vec![
                    (up("h2", "h2-id", 10), R::Ok),
                    (set_goal("web", "h2", Goal::Stop, ""), R::JobNotDeployed),
                ],
            ]
            .concat(),
            vec![Deployed("h1", "web", Goal::Start), NotDeployed("h2", "web")],
        ),
        case(
            "set goal: a wrong or missing token is Forbidden and keeps the goal",
            [
                deployed("secret", "h1"),
                vec![
                    (set_goal("secret", "h1", Goal::Stop, "wrong"), R::Forbidden),
                    (set_goal("secret", "h1", Goal::Stop, ""), R::Forbidden),
                ],
            ]
            .concat(),
            vec![
                Deployed("h1", "secret", Goal::Start),
                Check(|s| assert_eq!(deployment(s, "h1", "secret").modify_index, 3)),
            ],
        ),
        case(
            "set goal: the right token changes the goal of a job that has one",
            [
                deployed("secret", "h1"),
                vec![(set_goal("secret", "h1", Goal::Stop, "s3cret"), R::Ok)],
            ]
            .concat(),
            vec![Deployed("h1", "secret", Goal::Stop)],
        ),
        // --- Undeploy ----------------------------------------------------------------------
        case(
            "undeploy: removes the deployment and frees its static port for another job",
            [
                deployed("web", "h1"),
                vec![
                    (undeploy("web", "h1", ""), R::Ok),
                    (create("api"), created("api")),
                    (deploy("api", "h1", Goal::Start, ""), R::Ok),
                ],
            ]
            .concat(),
            vec![
                NotDeployed("h1", "web"),
                Deployed("h1", "api", Goal::Start),
                Port("h1", 8080, "api"),
                Job("web"),
            ],
        ),
        case(
            "undeploy: the host's last deployment leaves no empty per-host tables",
            [
                deployed("web", "h1"),
                vec![(undeploy("web", "h1", ""), R::Ok)],
            ]
            .concat(),
            vec![
                Host("h1", "h1-id", true),
                Check(|s| {
                    assert!(!s.deployments.contains_key("h1"), "empty deployments kept");
                    assert!(!s.ports.contains_key("h1"), "empty port table kept");
                }),
            ],
        ),
        case(
            "undeploy: frees only its own ports; other jobs on the host keep theirs",
            [
                deployed("web", "h1"),
                vec![
                    (create("multi"), created("multi")),
                    (deploy("multi", "h1", Goal::Start, ""), R::Ok),
                    (undeploy("web", "h1", ""), R::Ok),
                ],
            ]
            .concat(),
            vec![
                NotDeployed("h1", "web"),
                PortFree("h1", 8080),
                Deployed("h1", "multi", Goal::Start),
                Port("h1", 7001, "multi"),
                Port("h1", 7002, "multi"),
            ],
        ),
        case(
            "undeploy: from one host leaves the deployment and port on another",
            [
                deployed("web", "h1"),
                vec![
                    (up("h2", "h2-id", 10), R::Ok),
                    (deploy("web", "h2", Goal::Start, ""), R::Ok),
                    (undeploy("web", "h1", ""), R::Ok),
                ],
            ]
            .concat(),
            vec![
                NotDeployed("h1", "web"),
                PortFree("h1", 8080),
                Deployed("h2", "web", Goal::Start),
                Port("h2", 8080, "web"),
            ],
        ),
        case(
            "undeploy: an unknown host is HostNotFound",
            vec![
                (create("web"), created("web")),
                (undeploy("web", "h1", ""), R::HostNotFound),
            ],
            vec![NoHost("h1")],
        ),
        case(
            "undeploy: a job not deployed on the host is JobNotFound (Helios's JOB_NOT_FOUND)",
            vec![
                (create("web"), created("web")),
                (up("h1", "h1-id", 10), R::Ok),
                (undeploy("web", "h1", ""), R::JobNotFound),
            ],
            vec![Job("web")],
        ),
        case(
            "undeploy: an unknown job is JobNotFound",
            vec![
                (up("h1", "h1-id", 10), R::Ok),
                (undeploy("web", "h1", ""), R::JobNotFound),
            ],
            vec![Jobs(0)],
        ),
        case(
            "undeploy: a second undeploy is JobNotFound",
            [
                deployed("web", "h1"),
                vec![
                    (undeploy("web", "h1", ""), R::Ok),
                    (undeploy("web", "h1", ""), R::JobNotFound),
                ],
            ]
            .concat(),
            vec![NotDeployed("h1", "web")],
        ),
        case(
            "undeploy: a wrong or missing token is Forbidden, deployment and port kept",
            [
                deployed("secret", "h1"),
                vec![
                    (undeploy("secret", "h1", "wrong"), R::Forbidden),
                    (undeploy("secret", "h1", ""), R::Forbidden),
                ],
            ]
            .concat(),
            vec![
                Deployed("h1", "secret", Goal::Start),
                Port("h1", 9090, "secret"),
            ],
        ),
        case(
            "undeploy: the right token undeploys a job that has one",
            [
                deployed("secret", "h1"),
                vec![(undeploy("secret", "h1", "s3cret"), R::Ok)],
            ]
            .concat(),
            vec![NotDeployed("h1", "secret"), PortFree("h1", 9090)],
        ),
        case(
            "undeploy: the last task status stays until the agent reports the task",
            [
                deployed("web", "h1"),
                vec![
                    (
                        report(vec![update("h1", "web", TaskState::Running, 100)]),
                        R::Ok,
                    ),
                    (undeploy("web", "h1", ""), R::Ok),
                ],
            ]
            .concat(),
            vec![
                NotDeployed("h1", "web"),
                Status("h1", "web", TaskState::Running),
                History("web", "h1", 1),
            ],
        ),
        // --- ReportStatuses ----------------------------------------------------------------
        case(
            "statuses: a deployed task's status is stored at its index and starts its history",
            [
                deployed("web", "h1"),
                vec![(
                    report(vec![update("h1", "web", TaskState::Running, 100)]),
                    R::Ok,
                )],
            ]
            .concat(),
            vec![
                Status("h1", "web", TaskState::Running),
                History("web", "h1", 1),
                Check(|s| {
                    let st = status(s, "h1", "web");
                    assert_eq!((st.create_index, st.modify_index), (4, 4));
                    let event = &s.history[&id("web")]["h1"][0];
                    assert_eq!(event.timestamp, 100);
                    assert_eq!(event.status, st.value);
                }),
            ],
        ),
        case(
            "statuses: a new state replaces the status and appends an event",
            [
                deployed("web", "h1"),
                vec![
                    (
                        report(vec![update("h1", "web", TaskState::PullingImage, 100)]),
                        R::Ok,
                    ),
                    (
                        report(vec![update("h1", "web", TaskState::Running, 200)]),
                        R::Ok,
                    ),
                ],
            ]
            .concat(),
            vec![
                Status("h1", "web", TaskState::Running),
                Check(|s| {
                    let st = status(s, "h1", "web");
                    assert_eq!((st.create_index, st.modify_index), (4, 5));
                    assert_eq!(
                        events(s, "web", "h1"),
                        [(TaskState::PullingImage, 100), (TaskState::Running, 200)]
                    );
                    // The task's reports share one copy of its environment.
                    let history = &s.history[&id("web")]["h1"];
                    assert!(
                        history
                            .iter()
                            .all(|e| std::sync::Arc::ptr_eq(&e.status.env, &st.value.env)),
                        "each report keeps its own environment"
                    );
                }),
            ],
        ),
        case(
            "statuses: a batch is applied in order and its last state wins",
            [
                deployed("web", "h1"),
                vec![(
                    report(vec![
                        update("h1", "web", TaskState::Creating, 1),
                        update("h1", "web", TaskState::Starting, 2),
                        update("h1", "web", TaskState::Running, 3),
                    ]),
                    R::Ok,
                )],
            ]
            .concat(),
            vec![
                Status("h1", "web", TaskState::Running),
                Check(|s| {
                    assert_eq!(
                        events(s, "web", "h1"),
                        [
                            (TaskState::Creating, 1),
                            (TaskState::Starting, 2),
                            (TaskState::Running, 3)
                        ]
                    );
                }),
            ],
        ),
        case(
            "statuses: the same state, container and throttle again adds no history event",
            [
                deployed("web", "h1"),
                vec![
                    (
                        report(vec![update("h1", "web", TaskState::Running, 100)]),
                        R::Ok,
                    ),
                    (
                        report(vec![update("h1", "web", TaskState::Running, 200)]),
                        R::Ok,
                    ),
                ],
            ]
            .concat(),
            vec![
                Status("h1", "web", TaskState::Running),
                Check(|s| assert_eq!(events(s, "web", "h1"), [(TaskState::Running, 100)])),
            ],
        ),
        case(
            "statuses: another container id or throttle state is an event in the same state",
            [
                deployed("web", "h1"),
                vec![(
                    report(vec![
                        update_with(
                            "h1",
                            "web",
                            TaskState::Running,
                            Some("c1"),
                            ThrottleState::No,
                            1,
                        ),
                        update_with(
                            "h1",
                            "web",
                            TaskState::Running,
                            Some("c2"),
                            ThrottleState::No,
                            2,
                        ),
                        update_with(
                            "h1",
                            "web",
                            TaskState::Running,
                            Some("c2"),
                            ThrottleState::Flapping,
                            3,
                        ),
                    ]),
                    R::Ok,
                )],
            ]
            .concat(),
            vec![History("web", "h1", 3)],
        ),
        case(
            "statuses: history keeps the last HISTORY_LIMIT events per job and host",
            [
                deployed("web", "h1"),
                flapping("h1", "web", HISTORY_LIMIT + 5),
            ]
            .concat(),
            vec![
                History("web", "h1", HISTORY_LIMIT),
                Check(|s| {
                    let events = events(s, "web", "h1");
                    assert_eq!(events.first().map(|e| e.1), Some(5), "oldest kept");
                    assert_eq!(
                        events.last().map(|e| e.1),
                        Some(HISTORY_LIMIT as i64 + 4),
                        "newest kept"
                    );
                }),
            ],
        ),
        case(
            "statuses: the history limit also holds within one batch",
            [
                deployed("web", "h1"),
                vec![(
                    report(
                        flapping("h1", "web", HISTORY_LIMIT + 3)
                            .into_iter()
                            .flat_map(|(command, _)| match command {
                                Command::ReportStatuses { updates } => updates,
                                _ => unreachable!(),
                            })
                            .collect(),
                    ),
                    R::Ok,
                )],
            ]
            .concat(),
            vec![
                History("web", "h1", HISTORY_LIMIT),
                Check(|s| assert_eq!(events(s, "web", "h1")[0].1, 3)),
            ],
        ),
        case(
            "statuses: the history limit counts each job on each host apart",
            [
                deployed("web", "h1"),
                vec![
                    (up("h2", "h2-id", 10), R::Ok),
                    (deploy("web", "h2", Goal::Start, ""), R::Ok),
                    (create("dyn"), created("dyn")),
                    (deploy("dyn", "h1", Goal::Start, ""), R::Ok),
                ],
                flapping("h1", "web", HISTORY_LIMIT + 2),
                flapping("h2", "web", 2),
                flapping("h1", "dyn", 3),
            ]
            .concat(),
            vec![
                History("web", "h1", HISTORY_LIMIT),
                History("web", "h2", 2),
                History("dyn", "h1", 3),
            ],
        ),
        case(
            "statuses: a lower history limit trims every history at once and bounds new events",
            [
                deployed("web", "h1"),
                flapping("h1", "web", 10),
                vec![(Command::SetHistoryLimit { limit: 4 }, R::Ok)],
                flapping("h1", "web", 3),
                vec![(
                    keyed("k", "f", 0, Command::SetHistoryLimit { limit: 0 }),
                    R::Ok,
                )],
            ]
            .concat(),
            vec![
                History("web", "h1", 1),
                Check(|s| assert_eq!(s.history_limit(), 1)),
            ],
        ),
        case(
            "statuses: a higher history limit keeps more events",
            [
                deployed("web", "h1"),
                vec![(Command::SetHistoryLimit { limit: 40 }, R::Ok)],
                flapping("h1", "web", HISTORY_LIMIT + 5),
            ]
            .concat(),
            vec![History("web", "h1", HISTORY_LIMIT + 5)],
        ),
        case(
            "statuses: an update from an unknown host is ignored",
            vec![
                (create("web"), created("web")),
                (
                    report(vec![update("h9", "web", TaskState::Running, 100)]),
                    R::Ok,
                ),
            ],
            vec![
                NoHost("h9"),
                NoStatus("h9", "web"),
                Check(|s| assert!(s.task_statuses.is_empty() && s.history.is_empty())),
            ],
        ),
        case(
            "statuses: a task gone from the agent loses its status and keeps its history",
            [
                deployed("web", "h1"),
                vec![
                    (
                        report(vec![update("h1", "web", TaskState::Running, 100)]),
                        R::Ok,
                    ),
                    (report(vec![gone("h1", "web", 200)]), R::Ok),
                ],
            ]
            .concat(),
            vec![
                NoStatus("h1", "web"),
                History("web", "h1", 1),
                Deployed("h1", "web", Goal::Start),
            ],
        ),
        case(
            "statuses: an undeployed task winding down goes to history, not to the statuses",
            [
                deployed("web", "h1"),
                vec![
                    (
                        report(vec![update("h1", "web", TaskState::Running, 100)]),
                        R::Ok,
                    ),
                    (undeploy("web", "h1", ""), R::Ok),
                    (
                        report(vec![update("h1", "web", TaskState::Stopping, 200)]),
                        R::Ok,
                    ),
                    (
                        report(vec![update("h1", "web", TaskState::Stopped, 300)]),
                        R::Ok,
                    ),
                ],
            ]
            .concat(),
            vec![NoStatus("h1", "web"), History("web", "h1", 3)],
        ),
        case(
            "statuses: a task of an unknown job stores no status and no history",
            vec![
                (up("h1", "h1-id", 10), R::Ok),
                (
                    report(vec![update("h1", "web", TaskState::Running, 100)]),
                    R::Ok,
                ),
            ],
            vec![
                NoStatus("h1", "web"),
                Check(|s| assert!(s.history.is_empty())),
            ],
        ),
        case(
            "statuses: an empty batch is Ok and changes nothing",
            [deployed("web", "h1"), vec![(report(vec![]), R::Ok)]].concat(),
            vec![
                NoStatus("h1", "web"),
                Check(|s| assert!(s.task_statuses.is_empty() && s.history.is_empty())),
            ],
        ),
        // --- Idempotent --------------------------------------------------------------------
        case(
            "idempotent: a new key applies its command and remembers the result",
            vec![(keyed("k", "f", 10, create("web")), created("web"))],
            vec![
                Job("web"),
                Keys(1),
                Check(|s| assert_eq!(s.idempotency.check("k", "f"), Seen::Replay(created("web")))),
            ],
        ),
        case(
            "idempotent: the same key and fingerprint replay the first result, applying nothing",
            vec![
                (keyed("k", "f", 10, create("web")), created("web")),
                (remove("web", ""), R::Ok),
                (keyed("k", "f", 20, create("web")), created("web")),
            ],
            vec![NoJob("web"), Jobs(0), Keys(1)],
        ),
        case(
            "idempotent: the same key with another fingerprint is IdempotencyKeyReused",
            vec![
                (keyed("k", "f", 10, create("web")), created("web")),
                (keyed("k", "g", 11, create("api")), R::IdempotencyKeyReused),
            ],
            vec![Job("web"), NoJob("api"), Jobs(1), Keys(1)],
        ),
        case(
            "idempotent: a refusal is replayed too, even once the command would succeed",
            vec![
                (create("web"), created("web")),
                (
                    keyed("k", "f", 10, deploy("web", "h1", Goal::Start, "")),
                    R::HostNotFound,
                ),
                (up("h1", "h1-id", 10), R::Ok),
                (
                    keyed("k", "f", 11, deploy("web", "h1", Goal::Start, "")),
                    R::HostNotFound,
                ),
            ],
            vec![NotDeployed("h1", "web"), PortFree("h1", 8080), Keys(1)],
        ),
        case(
            "idempotent: different keys for the same request each apply it",
            vec![
                (keyed("k1", "f", 10, create("web")), created("web")),
                (keyed("k2", "f", 11, create("web")), exists("web")),
            ],
            vec![Job("web"), Jobs(1), Keys(2)],
        ),
        case(
            "idempotent: any command wrapped in a new key gives the command's own result",
            vec![
                (keyed("k1", "f", 1, init("c-1")), cluster("c-1")),
                (keyed("k2", "f", 1, create("secret")), created("secret")),
                (keyed("k3", "f", 1, register("h1", "h1-id", 1)), R::Ok),
                (keyed("k4", "f", 1, up("h1", "h1-id", 2)), R::Ok),
                (
                    keyed("k5", "f", 1, info("h1", Some(host_info("h1")), None)),
                    R::Ok,
                ),
                (
                    keyed("k6", "f", 1, deploy("secret", "h1", Goal::Start, "s3cret")),
                    R::Ok,
                ),
                (
                    keyed("k7", "f", 1, set_goal("secret", "h1", Goal::Stop, "x")),
                    R::Forbidden,
                ),
                (
                    keyed(
                        "k8",
                        "f",
                        1,
                        report(vec![update("h1", "secret", TaskState::Running, 5)]),
                    ),
                    R::Ok,
                ),
                (
                    keyed("k9", "f", 1, remove("secret", "s3cret")),
                    R::StillInUse,
                ),
                (
                    keyed("k10", "f", 1, undeploy("secret", "h1", "s3cret")),
                    R::Ok,
                ),
                (keyed("k11", "f", 1, down(&["h1"], 3)), R::Ok),
                (keyed("k12", "f", 1, reap("h1", 2)), R::HostNotDown),
                (keyed("k13", "f", 1, deregister("h1")), R::Ok),
                (keyed("k14", "f", 1, remove("secret", "s3cret")), R::Ok),
            ],
            vec![
                ClusterId(Some("c-1")),
                NoHost("h1"),
                NoJob("secret"),
                Keys(14),
            ],
        ),
        case(
            "idempotent: a key MAX_AGE_MS old is remembered, an older one forgotten and reapplied",
            vec![
                (keyed("a", "f", 0, create("web")), created("web")),
                (remove("web", ""), R::Ok),
                // Exactly MAX_AGE_MS later: "a" is still remembered, so replayed.
                (keyed("b", "f", MAX_AGE_MS, down(&[], 0)), R::Ok),
                (keyed("a", "f", MAX_AGE_MS, create("web")), created("web")),
                // One millisecond more: "a" is forgotten, and applied again as new.
                (keyed("c", "f", MAX_AGE_MS + 1, down(&[], 0)), R::Ok),
                (
                    keyed("a", "f", MAX_AGE_MS + 2, create("web")),
                    created("web"),
                ),
            ],
            vec![
                Job("web"),
                Keys(3),
                Check(|s| {
                    assert_eq!(s.idempotency.check("b", "f"), Seen::Replay(R::Ok));
                    assert_eq!(s.idempotency.check("a", "g"), Seen::Reused);
                }),
            ],
        ),
    ];
    cases.push(keys_beyond_the_count_bound());
    cases.extend(deployment_group_cases());
    cases.extend(api_token_cases());
    cases.extend(pki_cases());
    cases.extend(rollout_cases::rollout_cases());
    cases
}

/// A deployment group named `name` selecting hosts with each `label=value`.
fn group(name: &str, selectors: &[&str]) -> helios_api::DeploymentGroup {
    helios_api::DeploymentGroup::new(
        name,
        selectors
            .iter()
            .map(|s| s.parse().expect("selector"))
            .collect(),
    )
}

fn create_group(name: &str, selectors: &[&str]) -> Command {
    Command::CreateDeploymentGroup {
        group: group(name, selectors),
    }
}

fn remove_group(name: &str) -> Command {
    Command::RemoveDeploymentGroup { name: name.into() }
}

/// Deployment groups: create (new, same selectors, other selectors), remove.
fn deployment_group_cases() -> Vec<Case> {
    use Expect::*;
    vec![
        case(
            "create deployment group: a new group is stored at its index with its selectors",
            vec![(create_group("g", &["role=web"]), R::DeploymentGroupCreated)],
            vec![Check(|s| {
                let g = &s.deployment_groups["g"];
                assert_eq!((g.create_index, g.modify_index), (1, 1));
                assert_eq!(g.value, group("g", &["role=web"]));
            })],
        ),
        case(
            "create deployment group: the same name and selectors again is not modified",
            vec![
                (
                    create_group("g", &["role=web", "dc=a"]),
                    R::DeploymentGroupCreated,
                ),
                (
                    create_group("g", &["role=web", "dc=a"]),
                    R::DeploymentGroupNotModified,
                ),
            ],
            vec![Check(|s| {
                assert_eq!(s.deployment_groups.len(), 1);
                assert_eq!(s.deployment_groups["g"].modify_index, 1);
            })],
        ),
        case(
            "create deployment group: the same name with other selectors conflicts and keeps the first",
            vec![
                (create_group("g", &["role=web"]), R::DeploymentGroupCreated),
                (create_group("g", &["role=db"]), R::DeploymentGroupConflict),
            ],
            vec![Check(|s| {
                assert_eq!(s.deployment_groups["g"].value, group("g", &["role=web"]));
            })],
        ),
        case(
            "remove deployment group: removes it and leaves its deployments and other groups",
            {
                let mut steps = deployed("web", "h1");
                steps.push((create_group("g", &["role=web"]), R::DeploymentGroupCreated));
                steps.push((
                    create_group("other", &["role=db"]),
                    R::DeploymentGroupCreated,
                ));
                steps.push((remove_group("g"), R::Ok));
                steps
            },
            vec![
                Deployed("h1", "web", Goal::Start),
                Check(|s| {
                    assert!(!s.deployment_groups.contains_key("g"));
                    assert!(s.deployment_groups.contains_key("other"));
                }),
            ],
        ),
        case(
            "remove deployment group: an unknown group is not found, also a second remove",
            vec![
                (remove_group("nope"), R::DeploymentGroupNotFound),
                (create_group("g", &["role=web"]), R::DeploymentGroupCreated),
                (remove_group("g"), R::Ok),
                (remove_group("g"), R::DeploymentGroupNotFound),
            ],
            vec![Check(|s| assert!(s.deployment_groups.is_empty()))],
        ),
        case(
            "deployment groups through a key: a retry replays, another request is refused",
            vec![
                (
                    keyed("k", "f", 0, create_group("g", &["role=web"])),
                    R::DeploymentGroupCreated,
                ),
                (
                    keyed("k", "f", 0, create_group("g", &["role=web"])),
                    R::DeploymentGroupCreated,
                ),
                (keyed("r", "f", 0, remove_group("g")), R::Ok),
            ],
            vec![Check(|s| assert!(s.deployment_groups.is_empty()))],
        ),
    ]
}

/// An API token named `name` with `role`, its id and hash derived from the name.
fn api_token(name: &str, role: ApiRole) -> ApiToken {
    ApiToken {
        id: format!("id-{name}"),
        name: name.into(),
        role,
        hash: format!("hash-{name}"),
        created_ms: 7,
    }
}

fn create_token(name: &str, role: ApiRole) -> Command {
    Command::CreateApiToken {
        token: api_token(name, role),
    }
}

fn bootstrap_token(name: &str) -> Command {
    Command::BootstrapApiTokens {
        token: api_token(name, ApiRole::Admin),
    }
}

fn revoke_token(id_or_name: &str) -> Command {
    Command::RevokeApiToken {
        id_or_name: id_or_name.into(),
    }
}

fn token_created(name: &str) -> R {
    R::ApiTokenCreated {
        id: format!("id-{name}"),
    }
}

/// API tokens: bootstrap once, create (unique names), revoke (by id or name, never the last
/// admin token).
fn api_token_cases() -> Vec<Case> {
    use Expect::*;
    vec![
        case(
            "api tokens: the first admin token is created once; a second bootstrap changes nothing",
            vec![
                (bootstrap_token("admin"), token_created("admin")),
                (bootstrap_token("other"), R::ApiTokensAlreadyBootstrapped),
            ],
            vec![Check(|s| {
                assert!(s.api_tokens_bootstrapped);
                assert_eq!(s.api_tokens.len(), 1);
                assert_eq!(
                    s.api_token_by_hash("hash-admin"),
                    Some(&api_token("admin", ApiRole::Admin))
                );
            })],
        ),
        case(
            "api tokens: created by hash, names unique, revoked by id or name, gone at once",
            vec![
                (bootstrap_token("admin"), token_created("admin")),
                (create_token("ci", ApiRole::Deploy), token_created("ci")),
                (create_token("ci", ApiRole::Read), R::ApiTokenNameTaken),
                (create_token("ro", ApiRole::Read), token_created("ro")),
                (
                    revoke_token("ci"),
                    R::ApiTokenRevoked { id: "id-ci".into() },
                ),
                (
                    revoke_token("id-ro"),
                    R::ApiTokenRevoked { id: "id-ro".into() },
                ),
                (revoke_token("ci"), R::ApiTokenNotFound),
            ],
            vec![Check(|s| {
                assert_eq!(s.api_tokens.len(), 1);
                assert!(s.api_token_by_hash("hash-ci").is_none());
                assert!(s.api_token_by_hash("hash-ro").is_none());
            })],
        ),
        case(
            "api tokens: the last admin token cannot be revoked, one of two can",
            vec![
                (bootstrap_token("admin"), token_created("admin")),
                (revoke_token("admin"), R::LastAdminToken),
                (
                    create_token("admin-2", ApiRole::Admin),
                    token_created("admin-2"),
                ),
                (
                    revoke_token("admin"),
                    R::ApiTokenRevoked {
                        id: "id-admin".into(),
                    },
                ),
            ],
            vec![Check(|s| {
                assert_eq!(s.api_tokens.len(), 1);
                assert!(s.api_token_by_hash("hash-admin-2").is_some());
            })],
        ),
        case(
            "api tokens: keyed creates and revokes apply once",
            vec![
                (
                    keyed("k", "f", 0, bootstrap_token("admin")),
                    token_created("admin"),
                ),
                (
                    keyed("c", "f", 0, create_token("ci", ApiRole::Read)),
                    token_created("ci"),
                ),
                (
                    keyed("c", "f", 0, create_token("ci", ApiRole::Read)),
                    token_created("ci"),
                ),
                (
                    keyed("r", "f", 0, revoke_token("ci")),
                    R::ApiTokenRevoked { id: "id-ci".into() },
                ),
            ],
            vec![Check(|s| assert_eq!(s.api_tokens.len(), 1))],
        ),
    ]
}

fn pki(tag: &str) -> ClusterPki {
    ClusterPki {
        ca_cert_pem: format!("cert-{tag}"),
        ca_key_pem: format!("key-{tag}"),
        agent_secret: format!("agent-{tag}"),
        master_secret: format!("master-{tag}"),
    }
}

fn rotate(role: &str, secret: &str) -> Command {
    Command::RotateJoinSecret {
        role: role.into(),
        secret: Secret(secret.into()),
    }
}

/// [`up`] of an agent whose session came with a certificate of serial `serial`.
fn up_certified(host: &str, serial: &str) -> Command {
    let mut command = up(host, &format!("{host}-id"), 5);
    if let Command::AgentUp { cert_serial, .. } = &mut command {
        *cert_serial = Some(serial.into());
    }
    command
}

/// Host `host`'s agent renewed its certificate `presented`; the new one has serial `serial`.
fn renewed_from(host: &str, presented: &str, serial: &str) -> Command {
    Command::CertificateRenewed {
        host: host.into(),
        presented: presented.into(),
        serial: serial.into(),
    }
}

/// Master `name`, Raft id `id`, removed at `at_ms`.
fn removed_master(id: u64, name: &str, at_ms: i64) -> Command {
    Command::MasterRemoved {
        id,
        master: helios_master_raft::state::RemovedMaster {
            name: name.into(),
            removed_at_ms: at_ms,
        },
    }
}

/// [`renewed_from`] the host's first certificate, `s1`.
fn renewed(host: &str, serial: &str) -> Command {
    renewed_from(host, "s1", serial)
}

/// The CA and join secrets: set once, secrets rotated per role.
fn pki_cases() -> Vec<Case> {
    use Expect::*;
    vec![
        case(
            "pki: a renewed certificate opens sessions beside the old, and its first retires it",
            vec![
                (up_certified("h1", "s1"), R::Ok),
                (renewed("h1", "s2"), R::Ok),
            ],
            vec![Check(|s| {
                assert!(s.certificate_in_force("h1", "s1"));
                assert!(s.certificate_in_force("h1", "s2"));
                assert!(!s.certificate_in_force("h1", "s3"));
                assert!(s.certificate_in_force("h9", "any"), "a host without one");
                assert!(s.revoked_certificates.is_empty());
            })],
        ),
        case(
            "pki: the renewed certificate's session revokes the old; deregistering revokes both",
            vec![
                (up_certified("h1", "s1"), R::Ok),
                (renewed("h1", "s2"), R::Ok),
                (up_certified("h1", "s2"), R::Ok),
                (keyed("k", "f", 0, renewed("h1", "s3")), R::Ok),
            ],
            vec![Check(|s| {
                assert!(!s.certificate_in_force("h1", "s1"));
                let revoked: Vec<&String> = s.revoked_certificates.iter().collect();
                assert_eq!(revoked, ["s1"]);
                assert_eq!(
                    s.host_certificates.get("h1").map(String::as_str),
                    Some("s2")
                );
            })],
        ),
        case(
            "pki: renewing with the renewed certificate makes it the host's; a lost one is revoked",
            vec![
                (up_certified("h1", "s1"), R::Ok),
                (renewed_from("h1", "s1", "s2"), R::Ok),
                (renewed_from("h1", "s2", "s3"), R::Ok),
                (renewed_from("h1", "s3", "s4"), R::Ok),
                (renewed_from("h1", "s3", "s5"), R::Ok),
            ],
            vec![Check(|s| {
                // s4's answer was lost: the agent renewed with s3 again.
                assert_eq!(
                    s.host_certificates.get("h1").map(String::as_str),
                    Some("s3")
                );
                assert!(s.certificate_in_force("h1", "s3"));
                assert!(s.certificate_in_force("h1", "s5"));
                let revoked: Vec<&String> = s.revoked_certificates.iter().collect();
                assert_eq!(revoked, ["s1", "s2", "s4"]);
            })],
        ),
        case(
            "masters: a removed master is remembered by id with its first record, and told why",
            vec![
                (removed_master(3, "m3", 10), R::Ok),
                (keyed("k", "f", 0, removed_master(3, "other", 20)), R::Ok),
            ],
            vec![Check(|s| {
                assert_eq!(s.removed_masters.len(), 1);
                assert_eq!(s.removed_masters[&3].name, "m3");
                assert_eq!(s.removed_masters[&3].removed_at_ms, 10);
                let why = s.removal_of(3).expect("removed");
                assert!(why.contains("master m3 (id 3) was removed"), "{why}");
                assert!(s.removal_of(2).is_none());
            })],
        ),
        case(
            "pki: deregistering a host revokes its certificate and the renewed one",
            vec![
                (up_certified("h1", "s1"), R::Ok),
                (renewed("h1", "s2"), R::Ok),
                (deregister("h1"), R::Ok),
            ],
            vec![Check(|s| {
                let revoked: Vec<&String> = s.revoked_certificates.iter().collect();
                assert_eq!(revoked, ["s1", "s2"]);
                assert!(s.renewed_certificates.is_empty());
            })],
        ),
        case(
            "pki: deregistering a host revokes its agent's certificate; reaping only forgets it",
            vec![
                (up_certified("h1", "s1"), R::Ok),
                (up_certified("h2", "s2"), R::Ok),
                (up_certified("h1", "s1b"), R::Ok),
                (deregister("h1"), R::Ok),
                (down(&["h2"], 9), R::Ok),
                (reap("h2", 9), R::Ok),
            ],
            vec![Check(|s| {
                assert!(s.host_certificates.is_empty());
                let revoked: Vec<&String> = s.revoked_certificates.iter().collect();
                assert_eq!(revoked, ["s1b"]);
            })],
        ),
        case(
            "pki: the first CA stays; secrets rotate per role; no CA or an unknown role refuses",
            vec![
                (rotate("agent", "x"), R::PkiMissing),
                (Command::InitPki { pki: pki("1") }, R::Ok),
                (Command::InitPki { pki: pki("2") }, R::Ok),
                (rotate("agent", "a2"), R::Ok),
                (rotate("root", "r"), R::PkiMissing),
            ],
            vec![Check(|s| {
                let p = s.pki.as_ref().expect("a CA");
                assert_eq!(p.ca_cert_pem, "cert-1");
                assert_eq!(p.agent_secret, "a2");
                assert_eq!(p.master_secret, "master-1");
            })],
        ),
        case(
            "pki: keyed inits and rotations apply once",
            vec![
                (
                    keyed("i", "f", 0, Command::InitPki { pki: pki("1") }),
                    R::Ok,
                ),
                (keyed("r", "f", 0, rotate("master", "m2")), R::Ok),
                (keyed("r", "f", 0, rotate("master", "m2")), R::Ok),
            ],
            vec![Check(|s| {
                assert_eq!(s.pki.as_ref().unwrap().master_secret, "m2");
            })],
        ),
    ]
}

/// MAX_KEYS + 1 keyed writes: the oldest key is forgotten, the next oldest is not.
fn keys_beyond_the_count_bound() -> Case {
    let write = |key: String, fingerprint: &str| keyed(&key, fingerprint, 0, down(&[], 0));
    let mut steps: Vec<Step> = (0..=MAX_KEYS)
        .map(|i| (write(format!("k{i}"), "f"), R::Ok))
        .collect();
    steps.push((write("k1".into(), "other"), R::IdempotencyKeyReused));
    // "k0" was forgotten: another request under it is new. Remembering it forgets "k1".
    steps.push((write("k0".into(), "other"), R::Ok));
    case(
        "idempotent: beyond MAX_KEYS keys the oldest is forgotten first",
        steps,
        vec![
            Expect::Keys(MAX_KEYS),
            Expect::Check(|s| {
                assert_eq!(s.idempotency.check("k0", "other"), Seen::Replay(R::Ok));
                assert_eq!(s.idempotency.check("k1", "other"), Seen::New);
                assert_eq!(s.idempotency.check("k2", "f"), Seen::Replay(R::Ok));
            }),
        ],
    )
}

// ---------------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------------

#[test]
fn every_case_of_the_table_holds_through_every_route() {
    let cases = cases();
    let failed = failures(&cases);
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n  {}",
        failed.len(),
        cases.len(),
        failed.join("\n  ")
    );
}

#[test]
fn case_names_are_unique() {
    let cases = cases();
    let names: BTreeSet<&str> = cases.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), cases.len());
}

/// The variant name of a command; a new variant does not compile until it is named here,
/// added to [`PAIRS`] and to the table.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::InitCluster { .. } => "InitCluster",
        Command::CreateJob { .. } => "CreateJob",
        Command::RemoveJob { .. } => "RemoveJob",
        Command::RegisterHost { .. } => "RegisterHost",
        Command::AgentUp { .. } => "AgentUp",
        Command::UpdateHostInfo { .. } => "UpdateHostInfo",
        Command::HostsDown { .. } => "HostsDown",
        Command::DeregisterHost { .. } => "DeregisterHost",
        Command::DeregisterDeadHost { .. } => "DeregisterDeadHost",
        Command::Deploy { .. } => "Deploy",
        Command::SetGoal { .. } => "SetGoal",
        Command::Undeploy { .. } => "Undeploy",
        Command::ReportStatuses { .. } => "ReportStatuses",
        Command::Idempotent { .. } => "Idempotent",
        Command::CreateDeploymentGroup { .. } => "CreateDeploymentGroup",
        Command::RemoveDeploymentGroup { .. } => "RemoveDeploymentGroup",
        Command::RollingUpdate { .. } => "RollingUpdate",
        Command::AdvanceRollout { .. } => "AdvanceRollout",
        Command::StopDeploymentGroup { .. } => "StopDeploymentGroup",
        Command::CreateApiToken { .. } => "CreateApiToken",
        Command::BootstrapApiTokens { .. } => "BootstrapApiTokens",
        Command::RevokeApiToken { .. } => "RevokeApiToken",
        Command::InitPki { .. } => "InitPki",
        Command::RotateJoinSecret { .. } => "RotateJoinSecret",
        Command::CertificateRenewed { .. } => "CertificateRenewed",
        Command::MasterRemoved { .. } => "MasterRemoved",
        Command::SetHistoryLimit { .. } => "SetHistoryLimit",
    }
}

/// The variant name of a result; the same rule as [`command_name`].
fn result_name(result: &R) -> &'static str {
    match result {
        R::None => "None",
        R::ClusterId(_) => "ClusterId",
        R::JobCreated { .. } => "JobCreated",
        R::JobAlreadyExists { .. } => "JobAlreadyExists",
        R::Ok => "Ok",
        R::JobNotFound => "JobNotFound",
        R::HostNotFound => "HostNotFound",
        R::Forbidden => "Forbidden",
        R::StillInUse => "StillInUse",
        R::JobAlreadyDeployed => "JobAlreadyDeployed",
        R::JobNotDeployed => "JobNotDeployed",
        R::PortConflict { .. } => "PortConflict",
        R::HostNotDown => "HostNotDown",
        R::IdempotencyKeyReused => "IdempotencyKeyReused",
        R::DeploymentGroupCreated => "DeploymentGroupCreated",
        R::DeploymentGroupNotModified => "DeploymentGroupNotModified",
        R::DeploymentGroupConflict => "DeploymentGroupConflict",
        R::DeploymentGroupNotFound => "DeploymentGroupNotFound",
        R::RolloutStale => "RolloutStale",
        R::ApiTokenCreated { .. } => "ApiTokenCreated",
        R::ApiTokenNameTaken => "ApiTokenNameTaken",
        R::ApiTokensAlreadyBootstrapped => "ApiTokensAlreadyBootstrapped",
        R::ApiTokenNotFound => "ApiTokenNotFound",
        R::LastAdminToken => "LastAdminToken",
        R::ApiTokenRevoked { .. } => "ApiTokenRevoked",
        R::PkiMissing => "PkiMissing",
    }
}

/// Every (command, result) a command can produce, read from `state/`. A keyed command
/// (`Idempotent`) can produce any result of the command it wraps, and `IdempotencyKeyReused`.
const PAIRS: &[(&str, &str)] = &[
    ("InitCluster", "ClusterId"),
    ("CreateJob", "JobCreated"),
    ("CreateJob", "JobAlreadyExists"),
    ("RemoveJob", "Ok"),
    ("RemoveJob", "JobNotFound"),
    ("RemoveJob", "Forbidden"),
    ("RemoveJob", "StillInUse"),
    ("RegisterHost", "Ok"),
    ("AgentUp", "Ok"),
    ("UpdateHostInfo", "Ok"),
    ("UpdateHostInfo", "HostNotFound"),
    ("HostsDown", "Ok"),
    ("DeregisterHost", "Ok"),
    ("DeregisterHost", "HostNotFound"),
    ("DeregisterDeadHost", "Ok"),
    ("DeregisterDeadHost", "HostNotFound"),
    ("DeregisterDeadHost", "HostNotDown"),
    ("Deploy", "Ok"),
    ("Deploy", "JobNotFound"),
    ("Deploy", "HostNotFound"),
    ("Deploy", "Forbidden"),
    ("Deploy", "JobAlreadyDeployed"),
    ("Deploy", "PortConflict"),
    ("SetGoal", "Ok"),
    ("SetGoal", "HostNotFound"),
    ("SetGoal", "JobNotDeployed"),
    ("SetGoal", "Forbidden"),
    ("Undeploy", "Ok"),
    ("Undeploy", "HostNotFound"),
    ("Undeploy", "JobNotFound"),
    ("Undeploy", "Forbidden"),
    ("ReportStatuses", "Ok"),
    ("Idempotent", "IdempotencyKeyReused"),
    ("CreateDeploymentGroup", "DeploymentGroupCreated"),
    ("CreateDeploymentGroup", "DeploymentGroupNotModified"),
    ("CreateDeploymentGroup", "DeploymentGroupConflict"),
    ("RemoveDeploymentGroup", "Ok"),
    ("RemoveDeploymentGroup", "DeploymentGroupNotFound"),
    ("RollingUpdate", "Ok"),
    ("RollingUpdate", "JobNotFound"),
    ("RollingUpdate", "DeploymentGroupNotFound"),
    ("AdvanceRollout", "Ok"),
    ("AdvanceRollout", "RolloutStale"),
    ("StopDeploymentGroup", "Ok"),
    ("StopDeploymentGroup", "DeploymentGroupNotFound"),
    ("CreateApiToken", "ApiTokenCreated"),
    ("CreateApiToken", "ApiTokenNameTaken"),
    ("BootstrapApiTokens", "ApiTokenCreated"),
    ("BootstrapApiTokens", "ApiTokensAlreadyBootstrapped"),
    ("RevokeApiToken", "ApiTokenRevoked"),
    ("RevokeApiToken", "ApiTokenNotFound"),
    ("RevokeApiToken", "LastAdminToken"),
    ("InitPki", "Ok"),
    ("RotateJoinSecret", "Ok"),
    ("RotateJoinSecret", "PkiMissing"),
    ("CertificateRenewed", "Ok"),
    ("MasterRemoved", "Ok"),
    ("SetHistoryLimit", "Ok"),
];

#[test]
fn the_table_covers_every_command_and_every_result_it_can_produce() {
    let mut seen = BTreeSet::new();
    let mut wrapped = BTreeSet::new();
    for case in cases() {
        for (command, result) in &case.steps {
            if let Command::Idempotent { command: inner, .. } = command {
                wrapped.insert(command_name(inner));
            }
            seen.insert((command_name(command), result_name(result)));
        }
    }
    let missing: Vec<_> = PAIRS.iter().filter(|p| !seen.contains(*p)).collect();
    assert!(missing.is_empty(), "pairs the table lacks: {missing:?}");
    let unexpected: Vec<_> = seen
        .iter()
        .filter(|(command, result)| *command != "Idempotent" || *result == "None")
        .filter(|p| !PAIRS.contains(p))
        .collect();
    assert!(unexpected.is_empty(), "pairs not in PAIRS: {unexpected:?}");
    // Every command is also applied through a key at least once.
    let commands: BTreeSet<&str> = PAIRS.iter().map(|p| p.0).collect();
    let unwrapped: Vec<_> = commands
        .iter()
        .filter(|c| **c != "Idempotent" && !wrapped.contains(*c))
        .collect();
    assert!(unwrapped.is_empty(), "never keyed: {unwrapped:?}");
}

#[test]
fn entries_that_are_not_commands_answer_none_and_change_nothing() {
    let mut state = State::default();
    for (i, (command, want)) in deployed("web", "h1").iter().enumerate() {
        assert_eq!(&state.apply(i as u64 + 1, command), want);
    }
    let before = serde_json::to_value(&state).unwrap();
    let blank = blank_ent::<TypeConfig>(1, 0, 4);
    let membership = membership_ent::<TypeConfig>(1, 0, 5, vec![BTreeSet::from([1, 2, 3])]);
    for entry in [blank, membership] {
        assert_eq!(
            <Logic as StateMachineLogic<TypeConfig>>::apply(&mut state, entry),
            R::None
        );
    }
    assert_eq!(serde_json::to_value(&state).unwrap(), before);
}
