//! Cases of the table for rolling updates and host tracking of deployment groups
//! (`RollingUpdate`, `AdvanceRollout`, `StopDeploymentGroup`, and the rollouts that host
//! changes start).

use helios_api::{DeploymentGroupState, RollingUpdateReason, RolloutOptions};
use helios_master_raft::state::GroupProgress;

use super::*;

/// Hosts `h1`..`hn` come UP labelled `role=web` at time 10.
fn web_hosts(n: usize) -> Vec<Step> {
    (1..=n)
        .map(|i| {
            let host = format!("h{i}");
            let up = up_with(
                &host,
                &format!("{host}-id"),
                &[("role", "web")],
                &[],
                None,
                None,
                10,
            );
            (up, R::Ok)
        })
        .collect()
}

fn options(f: impl FnOnce(&mut RolloutOptions)) -> Option<RolloutOptions> {
    let mut o = RolloutOptions::default();
    f(&mut o);
    Some(o)
}

fn rolling_update(group: &str, key: &str, options: Option<RolloutOptions>) -> Command {
    rolling_update_at(group, key, options, 1_000)
}

fn rolling_update_at(
    group: &str,
    key: &str,
    options: Option<RolloutOptions>,
    now_ms: i64,
) -> Command {
    Command::RollingUpdate {
        name: group.into(),
        job: id(key),
        options,
        master: "m1".into(),
        now_ms,
    }
}

fn advance(group: &str, run: u64, task_index: usize, now_ms: i64) -> Command {
    Command::AdvanceRollout {
        name: group.into(),
        run,
        task_index,
        master: "m2".into(),
        now_ms,
    }
}

fn stop(group: &str) -> Command {
    Command::StopDeploymentGroup { name: group.into() }
}

/// The agent of `host` reports `key` FAILED, throttled because its image is missing.
fn image_missing(host: &str, key: &str, timestamp: i64) -> Step {
    let update = update_with(
        host,
        key,
        TaskState::Failed,
        None,
        ThrottleState::ImageMissing,
        timestamp,
    );
    (report(vec![update]), R::Ok)
}

fn running(host: &str, key: &str, timestamp: i64) -> Step {
    (
        report(vec![update(host, key, TaskState::Running, timestamp)]),
        R::Ok,
    )
}

/// The job `dyn` (no static port) and a group `g` of `role=web` over `n` web hosts; the
/// rolling update that follows is at index `n + 3`.
fn group_of(n: usize) -> Vec<Step> {
    let mut steps = vec![(create("dyn"), created("dyn"))];
    steps.extend(web_hosts(n));
    steps.push((create_group("g", &["role=web"]), R::DeploymentGroupCreated));
    steps
}

fn progress<'a>(s: &'a State, group: &str) -> &'a GroupProgress {
    s.group_progress(group).expect("group progress")
}

fn state_of(s: &State, group: &str) -> Option<DeploymentGroupState> {
    progress(s, group).status.as_ref().map(|st| st.state)
}

fn error_of(s: &State, group: &str) -> String {
    progress(s, group)
        .status
        .as_ref()
        .and_then(|st| st.error.clone())
        .unwrap_or_default()
}

/// The group that deployed `key` on `host`, `Some("")` for a deployment made by hand, `None`
/// when it is not deployed there.
fn owner(s: &State, host: &str, key: &str) -> Option<String> {
    s.deployments
        .get(host)
        .and_then(|d| d.get(&id(key)))
        .map(|d| d.value.deployment_group_name.clone().unwrap_or_default())
}

fn task_index(s: &State, group: &str) -> Option<usize> {
    progress(s, group).run.as_ref().map(|r| r.task_index)
}

pub(super) fn rollout_cases() -> Vec<Case> {
    use Expect::*;
    vec![
        case(
            "rolling update: the first host is changed, the others wait for it to run",
            {
                let mut steps = group_of(3);
                steps.push((rolling_update("g", "dyn", None), R::Ok));
                steps
            },
            vec![Check(|s| {
                assert_eq!(owner(s, "h1", "dyn").as_deref(), Some("g"));
                assert_eq!(owner(s, "h2", "dyn"), None);
                assert_eq!(owner(s, "h3", "dyn"), None);
                assert_eq!(state_of(s, "g"), Some(DeploymentGroupState::RollingOut));
                assert!(s.rolling_groups.contains("g"));
                // UNDEPLOY_OLD_JOBS h1, DEPLOY_NEW_JOB h1 ran: AWAIT_RUNNING h1 waits.
                assert_eq!(task_index(s, "g"), Some(2));
                let d = &s.deployments["h1"][&id("dyn")].value;
                assert_eq!(d.deployer_master.as_deref(), Some("m1"));
                assert_eq!(d.goal, Goal::Start);
                let g = &s.deployment_groups["g"].value;
                assert_eq!(g.job_id.as_ref().map(|j| j.to_string()), Some(id("dyn")));
                assert_eq!(g.rolling_update_reason, Some(RollingUpdateReason::Manual));
                // Options are stored resolved: request → job → defaults.
                let o = g.rollout_options.clone().expect("options");
                assert_eq!((o.parallelism, o.timeout), (Some(1), Some(300)));
                assert_eq!(progress(s, "g").hosts, ["h1", "h2", "h3"]);
            })],
        ),
        case(
            "rolling update: each host follows once the previous one runs; a step applies once",
            {
                let mut steps = group_of(3);
                steps.push((rolling_update("g", "dyn", None), R::Ok)); // run 6
                steps.push(running("h1", "dyn", 2_000));
                steps.push((advance("g", 6, 2, 2_001), R::Ok));
                // The same step proposed again (a second proposer): stale, changes nothing.
                steps.push((advance("g", 6, 2, 2_002), R::RolloutStale));
                steps.push(running("h2", "dyn", 3_000));
                steps.push((keyed("a", "f", 0, advance("g", 6, 5, 3_001)), R::Ok));
                steps.push(running("h3", "dyn", 4_000));
                steps.push((advance("g", 6, 8, 4_001), R::Ok));
                steps.push((advance("g", 6, 8, 4_002), R::RolloutStale));
                steps
            },
            vec![Check(|s| {
                for h in ["h1", "h2", "h3"] {
                    assert_eq!(owner(s, h, "dyn").as_deref(), Some("g"), "{h}");
                }
                // The engine's master deployed the later hosts.
                let d = &s.deployments["h2"][&id("dyn")].value;
                assert_eq!(d.deployer_master.as_deref(), Some("m2"));
                assert_eq!(state_of(s, "g"), Some(DeploymentGroupState::Done));
                assert!(progress(s, "g").run.is_none());
                assert!(s.rolling_groups.is_empty());
                assert!(s.rollout_wakeups(10_000).is_empty());
            })],
        ),
        case(
            "rolling update: --par 2 changes two hosts at once",
            {
                let mut steps = group_of(3);
                steps.push((
                    rolling_update("g", "dyn", options(|o| o.parallelism = Some(2))),
                    R::Ok,
                ));
                steps
            },
            vec![Check(|s| {
                assert_eq!(owner(s, "h1", "dyn").as_deref(), Some("g"));
                assert_eq!(owner(s, "h2", "dyn").as_deref(), Some("g"));
                assert_eq!(owner(s, "h3", "dyn"), None);
                assert_eq!(task_index(s, "g"), Some(4));
            })],
        ),
        case(
            "rolling update: a new version replaces the old; with overlap the new runs first",
            {
                let mut steps = vec![(create("web"), created("web"))];
                steps.push((create("web-v2"), created("web-v2")));
                steps.push((create("dyn"), created("dyn")));
                steps.extend(web_hosts(2));
                steps.push((create_group("g", &["role=web"]), R::DeploymentGroupCreated));
                steps.push((rolling_update("g", "web", None), R::Ok)); // run 7
                steps.push(running("h1", "web", 2_000));
                steps.push((advance("g", 7, 2, 2_001), R::Ok));
                steps.push(running("h2", "web", 2_100));
                steps.push((advance("g", 7, 5, 2_101), R::Ok));
                // Without overlap: web leaves h1 as web-v2 arrives.
                steps.push((rolling_update("g", "web-v2", None), R::Ok)); // run 12
                steps.push(running("h1", "web-v2", 3_000));
                steps.push((advance("g", 12, 2, 3_001), R::Ok));
                steps.push(running("h2", "web-v2", 3_100));
                steps.push((advance("g", 12, 5, 3_101), R::Ok));
                // With overlap, back to dyn: dyn runs beside web-v2 until it is RUNNING.
                steps.push((
                    rolling_update("g", "dyn", options(|o| o.overlap = Some(true))),
                    R::Ok,
                ));
                steps
            },
            vec![Check(|s| {
                assert_eq!(owner(s, "h1", "web"), None);
                assert_eq!(owner(s, "h2", "web"), None);
                assert_eq!(owner(s, "h1", "web-v2").as_deref(), Some("g"));
                assert_eq!(owner(s, "h1", "dyn").as_deref(), Some("g"));
                assert_eq!(owner(s, "h2", "dyn"), None);
                // The old job's port is still reserved while it overlaps.
                assert_eq!(s.ports["h1"].get(&8081), Some(&id("web-v2")));
                assert!(!s.ports["h1"].contains_key(&8080));
            })],
        ),
        case(
            "rolling update: --migrate adopts a deployment made by hand",
            {
                let mut steps = group_of(1);
                steps.push((deploy("dyn", "h1", Goal::Stop, ""), R::Ok));
                steps.push((
                    rolling_update("g", "dyn", options(|o| o.migrate = Some(true))),
                    R::Ok,
                ));
                steps
            },
            vec![Check(|s| {
                assert_eq!(owner(s, "h1", "dyn").as_deref(), Some("g"));
                let d = &s.deployments["h1"][&id("dyn")].value;
                assert_eq!(d.goal, Goal::Start);
            })],
        ),
        case(
            "rolling update: without --migrate a running hand-made deployment fails the rollout",
            {
                let mut steps = group_of(1);
                steps.push((deploy("dyn", "h1", Goal::Start, ""), R::Ok));
                steps.push((rolling_update("g", "dyn", None), R::Ok)); // run 5
                steps.push(running("h1", "dyn", 2_000));
                steps.push((advance("g", 5, 2, 2_001), R::Ok));
                steps
            },
            vec![Check(|s| {
                assert_eq!(owner(s, "h1", "dyn").as_deref(), Some(""));
                assert_eq!(state_of(s, "g"), Some(DeploymentGroupState::Failed));
                assert_eq!(
                    error_of(s, "g"),
                    "h1: job was already deployed, either manually or by a different deployment group"
                );
            })],
        ),
        case(
            "rolling update: a token that is not the job's fails the rollout and deploys nothing",
            {
                let mut steps = vec![(create("secret"), created("secret"))];
                steps.extend(web_hosts(2));
                steps.push((create_group("g", &["role=web"]), R::DeploymentGroupCreated));
                steps.push((create_group("t", &["role=web"]), R::DeploymentGroupCreated));
                steps.push((rolling_update("g", "secret", None), R::Ok));
                steps.push((
                    rolling_update("t", "secret", options(|o| o.token = Some("s3cret".into()))),
                    R::Ok,
                ));
                steps
            },
            vec![Check(|s| {
                assert_eq!(state_of(s, "g"), Some(DeploymentGroupState::Failed));
                let error = error_of(s, "g");
                assert!(
                    error.starts_with("h1: token verification failed for job secret:1:"),
                    "{error}"
                );
                // The other group's rollout with the right token deployed.
                assert_eq!(owner(s, "h1", "secret").as_deref(), Some("t"));
                assert_eq!(state_of(s, "t"), Some(DeploymentGroupState::RollingOut));
            })],
        ),
        case(
            "rolling update: a port taken by a job deployed by hand fails the rollout",
            {
                let mut steps = vec![(create("web"), created("web"))];
                steps.push((create("api"), created("api")));
                steps.extend(web_hosts(1));
                steps.push((deploy("api", "h1", Goal::Start, ""), R::Ok));
                steps.push((create_group("g", &["role=web"]), R::DeploymentGroupCreated));
                steps.push((rolling_update("g", "web", None), R::Ok));
                steps
            },
            vec![Check(|s| {
                assert_eq!(state_of(s, "g"), Some(DeploymentGroupState::Failed));
                let want = format!(
                    "h1: port 8080 of job {} is taken on host h1 by job {} (the conflicting \
                     job was deployed manually or by a different deployment group)",
                    id("web"),
                    id("api")
                );
                assert_eq!(error_of(s, "g"), want);
                assert_eq!(owner(s, "h1", "web"), None);
                assert_eq!(owner(s, "h1", "api").as_deref(), Some(""));
            })],
        ),
        case(
            "rolling update: a token refused for one old job leaves the host's other old jobs",
            {
                let mut steps = vec![(create("api"), created("api"))];
                steps.push((create("secret"), created("secret")));
                steps.push((create("dyn"), created("dyn")));
                steps.extend(web_hosts(1));
                steps.push((create_group("g", &["role=web"]), R::DeploymentGroupCreated));
                steps.push((rolling_update("g", "api", None), R::Ok)); // run 6
                steps.push(running("h1", "api", 2_000));
                steps.push((advance("g", 6, 2, 2_001), R::Ok));
                // With overlap and secret's token: secret is deployed, api's undeploy is
                // refused: the group owns both on h1.
                let secret = options(|o| {
                    o.overlap = Some(true);
                    o.token = Some("s3cret".into());
                });
                steps.push((rolling_update("g", "secret", secret), R::Ok)); // run 9
                steps.push(running("h1", "secret", 3_000));
                steps.push((advance("g", 9, 1, 3_001), R::Ok));
                // dyn with no token: secret's undeploy is refused, so api stays too.
                steps.push((rolling_update("g", "dyn", None), R::Ok));
                steps
            },
            vec![Check(|s| {
                assert_eq!(state_of(s, "g"), Some(DeploymentGroupState::Failed));
                let error = error_of(s, "g");
                assert!(
                    error.starts_with("h1: token verification failed for job secret:1:"),
                    "{error}"
                );
                assert_eq!(owner(s, "h1", "api").as_deref(), Some("g"));
                assert_eq!(owner(s, "h1", "secret").as_deref(), Some("g"));
                assert_eq!(owner(s, "h1", "dyn"), None);
            })],
        ),
        case(
            "rolling update: a missing image fails at once, naming the host and the reason",
            {
                let mut steps = group_of(2);
                steps.push((rolling_update("g", "dyn", None), R::Ok)); // run 5
                steps.push(image_missing("h1", "dyn", 2_000));
                steps.push((advance("g", 5, 2, 2_001), R::Ok));
                steps
            },
            vec![Check(|s| {
                assert_eq!(state_of(s, "g"), Some(DeploymentGroupState::Failed));
                let error = error_of(s, "g");
                assert!(
                    error.starts_with("h1: timed out waiting for job dyn:1:"),
                    "{error}"
                );
                assert!(error.contains("due to missing Docker image"), "{error}");
                assert_eq!(owner(s, "h2", "dyn"), None);
                // The image arrives and the same rolling update runs again: the old status
                // does not fail the new step, which waits for a fresh report.
                let mut again = s.clone();
                assert_eq!(again.apply(8, &rolling_update("g", "dyn", None)), R::Ok);
                assert_eq!(again.apply(9, &advance("g", 8, 2, 2_500)), R::Ok);
                assert_eq!(
                    state_of(&again, "g"),
                    Some(DeploymentGroupState::RollingOut)
                );
                assert!(!again.rollout_wakeups(2_600)[0].due);
            })],
        ),
        case(
            "rolling update: --ignore-failures goes on past a failed host",
            {
                let mut steps = group_of(2);
                steps.push((
                    rolling_update("g", "dyn", options(|o| o.ignore_failures = Some(true))),
                    R::Ok,
                ));
                steps.push(image_missing("h1", "dyn", 2_000));
                steps.push((advance("g", 5, 2, 2_001), R::Ok));
                steps
            },
            vec![Check(|s| {
                assert_eq!(state_of(s, "g"), Some(DeploymentGroupState::RollingOut));
                assert_eq!(owner(s, "h2", "dyn").as_deref(), Some("g"));
                assert_eq!(task_index(s, "g"), Some(5));
            })],
        ),
        case(
            "rolling update: a step times out after the rollout's timeout, not before",
            {
                let mut steps = group_of(1);
                steps.push((
                    rolling_update_at("g", "dyn", options(|o| o.timeout = Some(5)), 1_000),
                    R::Ok,
                ));
                steps
            },
            vec![Check(|s| {
                let waiting = s.rollout_wakeups(6_000);
                assert_eq!(waiting.len(), 1);
                assert!(!waiting[0].due);
                assert_eq!((waiting[0].run, waiting[0].task_index), (4, 2));
                assert_eq!(waiting[0].deadline_ms, 6_001);
                assert!(s.rollout_wakeups(6_001)[0].due);
                let mut later = s.clone();
                assert_eq!(later.apply(5, &advance("g", 4, 2, 6_000)), R::Ok);
                assert_eq!(
                    state_of(&later, "g"),
                    Some(DeploymentGroupState::RollingOut)
                );
                assert_eq!(later.apply(6, &advance("g", 4, 2, 6_001)), R::Ok);
                assert_eq!(
                    error_of(&later, "g"),
                    "h1: timed out while retrieving job status"
                );
            })],
        ),
        case(
            "host tracking: a new matching host gets the job, a host that stops matching loses it",
            {
                let mut steps = group_of(1);
                steps.push((rolling_update("g", "dyn", None), R::Ok)); // run 4
                steps.push(running("h1", "dyn", 2_000));
                steps.push((advance("g", 4, 2, 2_001), R::Ok));
                // h2 comes up with the label: a HOSTS_CHANGED rollout deploys it.
                steps.push((
                    up_with("h2", "h2-id", &[("role", "web")], &[], None, None, 3_000),
                    R::Ok,
                )); // run 7
                steps.push(running("h2", "dyn", 3_100));
                steps.push((advance("g", 7, 5, 3_101), R::Ok));
                // h1 restarts with another label: removed, its job undeployed.
                steps.push((
                    up_with("h1", "h1-id", &[("role", "db")], &[], None, None, 4_000),
                    R::Ok,
                )); // run 10
                steps
            },
            vec![Check(|s| {
                let g = &s.deployment_groups["g"].value;
                assert_eq!(
                    g.rolling_update_reason,
                    Some(RollingUpdateReason::HostsChanged)
                );
                assert_eq!(owner(s, "h2", "dyn").as_deref(), Some("g"));
                assert_eq!(owner(s, "h1", "dyn"), None);
                let p = progress(s, "g");
                assert_eq!(p.hosts, ["h2"]);
                assert_eq!(p.removed, ["h1"]);
                // FORCE_UNDEPLOY_JOBS h1 ran; AWAIT_UNDEPLOYED h1 waits for the task to go.
                assert_eq!(task_index(s, "g"), Some(1));
                let mut later = s.clone();
                later.apply(11, &report(vec![gone("h1", "dyn", 5_000)]));
                assert_eq!(later.apply(12, &advance("g", 10, 1, 5_001)), R::Ok);
                assert_eq!(state_of(&later, "g"), Some(DeploymentGroupState::Done));
                assert!(progress(&later, "g").removed.is_empty());
            })],
        ),
        case(
            "host tracking: a host that comes UP during a rollout gets the job when it ends",
            {
                let mut steps = group_of(2);
                steps.push((down(&["h2"], 20), R::Ok));
                steps.push((rolling_update("g", "dyn", None), R::Ok)); // run 6, h1 only
                steps.push((
                    up_with("h2", "h2-id", &[("role", "web")], &[], None, None, 1_500),
                    R::Ok,
                ));
                steps.push(running("h1", "dyn", 2_000));
                steps.push((advance("g", 6, 2, 2_001), R::Ok)); // run 10 for h2
                steps
            },
            vec![Check(|s| {
                assert_eq!(owner(s, "h1", "dyn").as_deref(), Some("g"));
                assert_eq!(owner(s, "h2", "dyn").as_deref(), Some("g"));
                assert_eq!(state_of(s, "g"), Some(DeploymentGroupState::RollingOut));
                let g = &s.deployment_groups["g"].value;
                assert_eq!(
                    g.rolling_update_reason,
                    Some(RollingUpdateReason::HostsChanged)
                );
                assert!(!progress(s, "g").hosts_changed);
            })],
        ),
        case(
            "host tracking: hosts are in natural order and a deregistered host leaves the group",
            {
                let mut steps = vec![(create_group("g", &["role=web"]), R::DeploymentGroupCreated)];
                for h in ["h10", "h9", "h2"] {
                    steps.push((
                        up_with(h, h, &[("role", "web")], &[], None, None, 10),
                        R::Ok,
                    ));
                }
                steps.push((
                    Command::DeregisterHost {
                        name: "h9".into(),
                        now_ms: 20,
                    },
                    R::Ok,
                ));
                steps
            },
            vec![Check(|s| {
                let p = progress(s, "g");
                assert_eq!(p.hosts, ["h2", "h10"]);
                assert!(p.removed.is_empty());
                // No job yet: nothing rolls out.
                assert_eq!(p.status, None);
            })],
        ),
        case(
            "rolling update: a host deregistered mid-rollout is passed, and leaves the group",
            {
                let mut steps = group_of(2);
                steps.push((rolling_update("g", "dyn", None), R::Ok)); // run 5
                steps.push((
                    Command::DeregisterHost {
                        name: "h1".into(),
                        now_ms: 1_500,
                    },
                    R::Ok,
                ));
                steps.push((advance("g", 5, 2, 2_000), R::Ok));
                steps.push(running("h2", "dyn", 2_100));
                steps.push((advance("g", 5, 5, 2_101), R::Ok));
                steps
            },
            vec![Check(|s| {
                assert_eq!(state_of(s, "g"), Some(DeploymentGroupState::Done));
                assert_eq!(owner(s, "h2", "dyn").as_deref(), Some("g"));
                assert_eq!(progress(s, "g").hosts, ["h2"]);
            })],
        ),
        case(
            "stop deployment group: a rollout stops halfway; the same rolling update recovers it",
            {
                let mut steps = group_of(2);
                steps.push((rolling_update("g", "dyn", None), R::Ok)); // run 5
                steps.push((stop("g"), R::Ok));
                steps.push((keyed("s", "f", 0, stop("g")), R::Ok));
                steps.push(running("h1", "dyn", 2_000));
                steps.push((advance("g", 5, 2, 2_001), R::RolloutStale));
                steps.push((stop("nope"), R::DeploymentGroupNotFound));
                steps
            },
            vec![Check(|s| {
                assert_eq!(state_of(s, "g"), Some(DeploymentGroupState::Failed));
                assert_eq!(error_of(s, "g"), "Stopped by user");
                assert!(s.rolling_groups.is_empty());
                assert_eq!(owner(s, "h1", "dyn").as_deref(), Some("g"));
                assert_eq!(owner(s, "h2", "dyn"), None);
                let mut later = s.clone();
                // h1 runs the job already: the new plan passes it and changes h2.
                assert_eq!(later.apply(11, &rolling_update("g", "dyn", None)), R::Ok);
                assert_eq!(owner(&later, "h2", "dyn").as_deref(), Some("g"));
                assert_eq!(task_index(&later, "g"), Some(5));
            })],
        ),
        case(
            "rolling update: an unknown group or job is refused and changes nothing",
            {
                let mut steps = group_of(1);
                steps.push((
                    rolling_update("nope", "dyn", None),
                    R::DeploymentGroupNotFound,
                ));
                steps.push((rolling_update("g", "api", None), R::JobNotFound));
                steps.push((
                    keyed("r", "f", 0, rolling_update("g", "web", None)),
                    R::JobNotFound,
                ));
                steps
            },
            vec![Check(|s| {
                assert_eq!(progress(s, "g").status, None);
                assert!(s.deployment_groups["g"].value.job_id.is_none());
                assert!(s.deployments.is_empty());
            })],
        ),
    ]
}
