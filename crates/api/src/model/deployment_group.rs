//! Deployment groups and the state of their rolling updates (Helios's `DeploymentGroup`,
//! `DeploymentGroupStatus`, `DeploymentGroupTasks` and `RolloutTask`), reference §5.
//!
//! A deployment group names a set of hosts by [`HostSelector`]s and, once rolled out, the job
//! they run. The master keeps, per group, its [`DeploymentGroup`] (config), a
//! [`DeploymentGroupStatus`] (absent until the first rollout) and, only while rolling out,
//! the [`DeploymentGroupTasks`] plan that it executes one [`RolloutTask`] at a time. Failure
//! kinds and messages are in [`super::rolling_update_error`], REST bodies in
//! [`super::deployment_group_responses`].
//!
//! JSON follows Helios: keys in Jackson's alphabetical order, unknown keys ignored.
//! [`DeploymentGroup`] alone omits its `null` fields (`@JsonInclude(NON_NULL)`); the others
//! write them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::host_selector::HostSelector;
use super::job_id::JobId;
use super::null_as_default;
use super::rollout::RolloutOptions;

/// Why the last rolling update of a group started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RollingUpdateReason {
    /// `POST /deployment-group/{name}/rolling-update` (the `rolling-update` command).
    Manual,
    /// The set of matching hosts changed and the master rolled the job out to it.
    HostsChanged,
}

/// A deployment group: `{"hostSelectors":[…],"jobId":…,"name":…,"rollingUpdateReason":…,
/// "rolloutOptions":{…}}`, `null` fields omitted.
///
/// As with [`Deployment`](super::deployment::Deployment), the job is written as `jobId` and
/// read from `jobId` or `job` (Helios's constructor names it `job`). A missing or `null`
/// `name` reads as `""` and `hostSelectors` as `[]` (the defaults of Helios's builder); Helios
/// would keep them `null` and omit them, an input no Helios master could store anyway.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeploymentGroup {
    /// Selects the group's hosts; a host must match all of them, and no selectors select
    /// nothing.
    #[serde(default, deserialize_with = "null_as_default")]
    pub host_selectors: Vec<HostSelector>,
    /// The job of the last rolling update; `None` before the first one.
    #[serde(default, alias = "job", skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
    /// The group's name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// Why the last rolling update started; `None` before the first one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update_reason: Option<RollingUpdateReason>,
    /// The options of the last rolling update, resolved and stored by the master (every field
    /// set); `None` before the first one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_options: Option<RolloutOptions>,
}

impl DeploymentGroup {
    /// A group as `create-deployment-group` sends it: a name and selectors, no job yet.
    pub fn new(name: impl Into<String>, host_selectors: Vec<HostSelector>) -> DeploymentGroup {
        DeploymentGroup {
            host_selectors,
            name: name.into(),
            ..DeploymentGroup::default()
        }
    }

    /// Whether a host with these labels belongs to the group (Helios's `HostMatcher`): every
    /// selector matches, and a group without selectors matches no host.
    pub fn matches_host(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.host_selectors.is_empty() && self.host_selectors.iter().all(|s| s.matches(labels))
    }
}

/// The state of a group's rollout as the master stores it.
///
/// The REST status maps these to `ROLLING_OUT`, `FAILED` and `ACTIVE` (for `DONE`), and a
/// missing status to `IDLE`; see
/// [`DeploymentGroupStatusResponseStatus`](super::deployment_group_responses::DeploymentGroupStatusResponseStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentGroupState {
    /// A plan is being executed.
    RollingOut,
    /// A step failed (or the group was stopped); see the error.
    Failed,
    /// The last plan completed.
    Done,
}

/// The error of a group stopped with `stop-deployment-group`.
pub const STOPPED_BY_USER: &str = "Stopped by user";

/// A group's rollout status: `{"error":…|null,"state":…}`. `state` is required.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeploymentGroupStatus {
    /// Why the rollout failed (`<host>: <message>`, or [`STOPPED_BY_USER`]); `None` otherwise.
    #[serde(default)]
    pub error: Option<String>,
    /// The state.
    pub state: DeploymentGroupState,
}

impl DeploymentGroupStatus {
    /// A rollout in progress.
    pub fn rolling_out() -> DeploymentGroupStatus {
        DeploymentGroupStatus {
            error: None,
            state: DeploymentGroupState::RollingOut,
        }
    }

    /// A completed rollout.
    pub fn done() -> DeploymentGroupStatus {
        DeploymentGroupStatus {
            error: None,
            state: DeploymentGroupState::Done,
        }
    }

    /// A failed rollout.
    pub fn failed(error: impl Into<String>) -> DeploymentGroupStatus {
        DeploymentGroupStatus {
            error: Some(error.into()),
            state: DeploymentGroupState::Failed,
        }
    }
}

/// What one step of a rollout plan does to its target host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RolloutAction {
    /// Undeploy the host's deployments owned by the group (or, with `migrate`, of the
    /// group's job), except one that already is the group's job with goal START.
    UndeployOldJobs,
    /// Deploy the group's job with goal START, owned by the group.
    DeployNewJob,
    /// Wait until the group's job is RUNNING on the host (bounded by the step timeout).
    AwaitRunning,
    /// Undeploy the host's deployments owned by the group, with no exception (host left the
    /// group).
    ForceUndeployJobs,
    /// Wait until the host's task status of the group's job is gone.
    AwaitUndeployed,
    /// Remove the host from the group's list of removed hosts.
    MarkUndeployed,
}

/// Outcome of a rollout step, as Helios's `RolloutTask.Status` (used in its events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RolloutTaskStatus {
    /// The step succeeded.
    Ok,
    /// The step failed.
    Failed,
}

/// One step of a rollout plan: `{"action":…,"target":"<host>"}`, both required.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RolloutTask {
    /// What to do.
    pub action: RolloutAction,
    /// The host to do it on.
    pub target: String,
}

impl RolloutTask {
    /// A step doing `action` on host `target`.
    pub fn new(action: RolloutAction, target: impl Into<String>) -> RolloutTask {
        RolloutTask {
            action,
            target: target.into(),
        }
    }
}

/// A rollout plan being executed: `{"deploymentGroup":{…},"rolloutTasks":[…],"taskIndex":n}`.
///
/// `rolloutTasks` and `deploymentGroup` are required (Helios's master always writes both);
/// `taskIndex` (the next step to run) reads a missing or `null` value as 0, as Jackson does
/// for Helios's `int`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeploymentGroupTasks {
    /// The group as it was when the rollout started (its job and options drive every step).
    pub deployment_group: DeploymentGroup,
    /// The plan.
    pub rollout_tasks: Vec<RolloutTask>,
    /// Index in `rollout_tasks` of the next step to run.
    #[serde(default, deserialize_with = "null_as_default")]
    pub task_index: i32,
}

impl DeploymentGroupTasks {
    /// A plan for `deployment_group`, starting at its first step.
    pub fn new(
        deployment_group: DeploymentGroup,
        rollout_tasks: Vec<RolloutTask>,
    ) -> DeploymentGroupTasks {
        DeploymentGroupTasks {
            deployment_group,
            rollout_tasks,
            task_index: 0,
        }
    }

    /// The step to run next, `None` once the plan is complete (or the index is out of range).
    pub fn current_task(&self) -> Option<&RolloutTask> {
        usize::try_from(self.task_index)
            .ok()
            .and_then(|i| self.rollout_tasks.get(i))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use serde::de::DeserializeOwned;
    use serde_json::{Value, json};

    use super::*;

    /// Parses `json` as `T`, writes it back, and checks it equals `json` (as a value) with
    /// its object keys in alphabetical order at every level, as Jackson writes them.
    pub(crate) fn assert_round_trip<T: Serialize + DeserializeOwned>(json: &Value) -> T {
        let parsed: T = serde_json::from_value(json.clone()).unwrap();
        let out = serde_json::to_value(&parsed).unwrap();
        assert_eq!(&out, json);
        assert_keys_sorted(&out);
        parsed
    }

    /// Checks that every object in `v` lists its keys in alphabetical order (serde_json keeps
    /// insertion order here: the workspace enables `preserve_order`).
    pub(crate) fn assert_keys_sorted(v: &Value) {
        match v {
            Value::Object(map) => {
                let keys: Vec<&String> = map.keys().collect();
                let mut sorted = keys.clone();
                sorted.sort();
                assert_eq!(keys, sorted, "keys out of Jackson's order in {v}");
                map.values().for_each(assert_keys_sorted);
            }
            Value::Array(items) => items.iter().for_each(assert_keys_sorted),
            _ => {}
        }
    }

    /// The sample of `DeploymentGroup.java`'s javadoc, with the resolved options the master
    /// stores.
    fn sample_group() -> Value {
        json!({
            "hostSelectors": [
                {"label": "foo", "operand": "bar", "operator": "EQUALS"},
                {"label": "baz", "operand": "qux", "operator": "EQUALS"}
            ],
            "jobId": "foo:0.1.0",
            "name": "foo-group",
            "rollingUpdateReason": "MANUAL",
            "rolloutOptions": {"ignoreFailures": false, "migrate": false, "overlap": true,
                               "parallelism": 2, "timeout": 1000,
                               "token": "insecure-access-token"}
        })
    }

    #[test]
    fn deployment_group_round_trips() {
        let group: DeploymentGroup = assert_round_trip(&sample_group());
        assert_eq!(group.name, "foo-group");
        assert_eq!(group.job_id, Some(JobId::new("foo", "0.1.0")));
        assert_eq!(
            group.rolling_update_reason,
            Some(RollingUpdateReason::Manual)
        );
        assert_eq!(group.rollout_options.unwrap().parallelism, Some(2));
        let in_sel: Value = json!({"hostSelectors":[
            {"label":"dc","operand":["a","b"],"operator":"IN"}],"name":"g"});
        assert_round_trip::<DeploymentGroup>(&in_sel);
    }

    #[test]
    fn deployment_group_omits_nulls_like_helios_non_null() {
        // What create-deployment-group sends and prints (DeploymentGroupCreateCommandTest).
        let group = DeploymentGroup::new(
            "foo-group",
            vec!["foo=bar".parse().unwrap(), "baz=qux".parse().unwrap()],
        );
        assert_eq!(
            serde_json::to_string(&group).unwrap(),
            concat!(
                r#"{"hostSelectors":[{"label":"foo","operand":"bar","operator":"EQUALS"},"#,
                r#"{"label":"baz","operand":"qux","operator":"EQUALS"}],"name":"foo-group"}"#
            )
        );
        // Explicit nulls read as absent and stay omitted.
        let with_nulls = json!({"hostSelectors":[],"jobId":null,"name":"g",
            "rollingUpdateReason":null,"rolloutOptions":null});
        let parsed: DeploymentGroup = serde_json::from_value(with_nulls).unwrap();
        assert_eq!(parsed, DeploymentGroup::new("g", vec![]));
        assert_eq!(
            serde_json::to_value(&parsed).unwrap(),
            json!({"hostSelectors":[],"name":"g"})
        );
    }

    #[test]
    fn deployment_group_reads_job_key_and_tolerates_unknown_keys() {
        let from_job: DeploymentGroup = serde_json::from_value(
            json!({"name":"g","hostSelectors":[],"job":"foo:1","someNewField":{"x":[1]}}),
        )
        .unwrap();
        assert_eq!(from_job.job_id, Some(JobId::new("foo", "1")));
        assert_eq!(
            serde_json::to_value(&from_job).unwrap(),
            json!({"hostSelectors":[],"jobId":"foo:1","name":"g"})
        );
        // Missing or null name and selectors take the builder's defaults.
        for json in [json!({}), json!({"name":null,"hostSelectors":null})] {
            let empty: DeploymentGroup = serde_json::from_value(json).unwrap();
            assert_eq!(empty, DeploymentGroup::default());
        }
        assert!(serde_json::from_value::<DeploymentGroup>(json!({"jobId":"foo"})).is_err());
    }

    #[test]
    fn deployment_group_matches_hosts_like_host_matcher() {
        let labels: BTreeMap<String, String> = [("role", "web"), ("dc", "a")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let sel = |s: &str| s.parse::<HostSelector>().unwrap();
        assert!(DeploymentGroup::new("g", vec![sel("role=web")]).matches_host(&labels));
        assert!(
            DeploymentGroup::new("g", vec![sel("role=web"), sel("dc in (a, b)")])
                .matches_host(&labels)
        );
        assert!(
            !DeploymentGroup::new("g", vec![sel("role=web"), sel("dc=b")]).matches_host(&labels)
        );
        assert!(!DeploymentGroup::new("g", vec![sel("zone!=x")]).matches_host(&labels));
        assert!(!DeploymentGroup::new("g", vec![]).matches_host(&labels));
    }

    #[test]
    fn enums_use_helios_names() {
        let words = |v: Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            words(
                serde_json::to_value([
                    RollingUpdateReason::Manual,
                    RollingUpdateReason::HostsChanged
                ])
                .unwrap()
            ),
            ["MANUAL", "HOSTS_CHANGED"]
        );
        assert_eq!(
            words(
                serde_json::to_value([
                    DeploymentGroupState::RollingOut,
                    DeploymentGroupState::Failed,
                    DeploymentGroupState::Done
                ])
                .unwrap()
            ),
            ["ROLLING_OUT", "FAILED", "DONE"]
        );
        let actions = [
            RolloutAction::UndeployOldJobs,
            RolloutAction::DeployNewJob,
            RolloutAction::AwaitRunning,
            RolloutAction::ForceUndeployJobs,
            RolloutAction::AwaitUndeployed,
            RolloutAction::MarkUndeployed,
        ];
        let names = [
            "UNDEPLOY_OLD_JOBS",
            "DEPLOY_NEW_JOB",
            "AWAIT_RUNNING",
            "FORCE_UNDEPLOY_JOBS",
            "AWAIT_UNDEPLOYED",
            "MARK_UNDEPLOYED",
        ];
        assert_eq!(words(serde_json::to_value(actions).unwrap()), names);
        for (action, name) in actions.iter().zip(names) {
            let back: RolloutAction = serde_json::from_value(json!(name)).unwrap();
            assert_eq!(&back, action);
        }
        assert_eq!(
            words(
                serde_json::to_value([RolloutTaskStatus::Ok, RolloutTaskStatus::Failed]).unwrap()
            ),
            ["OK", "FAILED"]
        );
        assert!(serde_json::from_value::<RolloutAction>(json!("deploy_new_job")).is_err());
    }

    #[test]
    fn deployment_group_status_round_trips_and_requires_state() {
        let failed = json!({"error": "host1: timed out while retrieving job status",
                            "state": "FAILED"});
        let status: DeploymentGroupStatus = assert_round_trip(&failed);
        assert_eq!(
            status,
            DeploymentGroupStatus::failed("host1: timed out while retrieving job status")
        );
        // The error is written even when null, as Helios's default inclusion does.
        assert_eq!(
            serde_json::to_string(&DeploymentGroupStatus::rolling_out()).unwrap(),
            r#"{"error":null,"state":"ROLLING_OUT"}"#
        );
        let done: DeploymentGroupStatus =
            serde_json::from_value(json!({"state":"DONE","unknown":1})).unwrap();
        assert_eq!(done, DeploymentGroupStatus::done());
        assert_eq!(
            DeploymentGroupStatus::failed(STOPPED_BY_USER)
                .error
                .as_deref(),
            Some("Stopped by user")
        );
        assert!(serde_json::from_value::<DeploymentGroupStatus>(json!({"error":"x"})).is_err());
        assert!(serde_json::from_value::<DeploymentGroupStatus>(json!({"state":null})).is_err());
    }

    #[test]
    fn deployment_group_tasks_round_trip() {
        let json = json!({
            "deploymentGroup": sample_group(),
            "rolloutTasks": [
                {"action": "UNDEPLOY_OLD_JOBS", "target": "host1"},
                {"action": "DEPLOY_NEW_JOB", "target": "host1"},
                {"action": "AWAIT_RUNNING", "target": "host1"},
                {"action": "FORCE_UNDEPLOY_JOBS", "target": "host2"},
                {"action": "AWAIT_UNDEPLOYED", "target": "host2"},
                {"action": "MARK_UNDEPLOYED", "target": "host2"}
            ],
            "taskIndex": 2
        });
        let tasks: DeploymentGroupTasks = assert_round_trip(&json);
        assert_eq!(
            tasks.current_task(),
            Some(&RolloutTask::new(RolloutAction::AwaitRunning, "host1"))
        );
        assert_eq!(tasks.deployment_group.name, "foo-group");
    }

    #[test]
    fn deployment_group_tasks_defaults_and_requirements() {
        let group = json!({"hostSelectors":[],"name":"g"});
        for json in [
            json!({"deploymentGroup": group, "rolloutTasks": [], "extra": true}),
            json!({"deploymentGroup": group, "rolloutTasks": [], "taskIndex": null}),
        ] {
            let tasks: DeploymentGroupTasks = serde_json::from_value(json).unwrap();
            assert_eq!(
                tasks,
                DeploymentGroupTasks::new(DeploymentGroup::new("g", vec![]), vec![])
            );
            assert_eq!(tasks.current_task(), None);
        }
        assert_eq!(
            serde_json::to_string(&DeploymentGroupTasks::new(
                DeploymentGroup::new("g", vec![]),
                vec![RolloutTask::new(RolloutAction::DeployNewJob, "h")]
            ))
            .unwrap(),
            concat!(
                r#"{"deploymentGroup":{"hostSelectors":[],"name":"g"},"#,
                r#""rolloutTasks":[{"action":"DEPLOY_NEW_JOB","target":"h"}],"taskIndex":0}"#
            )
        );
        // Helios's checkNotNull: no plan, no action or no target is an error.
        for bad in [
            json!({"deploymentGroup": group}),
            json!({"deploymentGroup": group, "rolloutTasks": null}),
            json!({"rolloutTasks": []}),
            json!({"deploymentGroup": group, "rolloutTasks": [{"target": "h"}]}),
            json!({"deploymentGroup": group, "rolloutTasks": [{"action": "AWAIT_RUNNING"}]}),
            json!({"deploymentGroup": group,
                   "rolloutTasks": [{"action": "AWAIT_RUNNING", "target": null}]}),
        ] {
            assert!(
                serde_json::from_value::<DeploymentGroupTasks>(bad.clone()).is_err(),
                "{bad}"
            );
        }
        let past_end = DeploymentGroupTasks {
            task_index: 1,
            ..DeploymentGroupTasks::new(
                DeploymentGroup::default(),
                vec![RolloutTask::new(RolloutAction::AwaitRunning, "h")],
            )
        };
        assert_eq!(past_end.current_task(), None);
    }
}
