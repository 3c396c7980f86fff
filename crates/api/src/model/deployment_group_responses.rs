//! REST bodies of the `/deployment-group` endpoints (Helios's `common/protocol` classes
//! `CreateDeploymentGroupResponse`, `RemoveDeploymentGroupResponse`, `RollingUpdateRequest`,
//! `RollingUpdateResponse`, `DeploymentGroupStatusResponse`), reference §3, and the JSON the
//! CLI's `rolling-update --json` prints, reference §2.
//!
//! All these write their `null` fields and read unknown keys without complaint, as Helios's
//! default Jackson settings do. Every REST answer here is HTTP 200 whatever its status,
//! except `GET …/status`, which is 404 with an empty body for an unknown group.

use serde::{Deserialize, Serialize};

use super::deployment_group::{DeploymentGroup, DeploymentGroupState, DeploymentGroupStatus};
use super::job_id::JobId;
use super::null_as_default;
use super::rollout::RolloutOptions;
use super::task_status::State;

/// Outcome of `POST /deployment-group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CreateDeploymentGroupStatus {
    /// Created.
    Created,
    /// A group with this name and the same selectors exists.
    NotModified,
    /// A group with this name and other selectors exists.
    Conflict,
}

/// `POST /deployment-group` response: `{"status":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateDeploymentGroupResponse {
    /// The outcome.
    pub status: CreateDeploymentGroupStatus,
}

/// Outcome of `DELETE /deployment-group/{name}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RemoveDeploymentGroupStatus {
    /// Removed (its deployments stay).
    Removed,
    /// No such group.
    DeploymentGroupNotFound,
}

/// `DELETE /deployment-group/{name}` response: `{"status":…}`.
///
/// The CLI's `inspect-deployment-group` and `deployment-group-status` print the same JSON,
/// `{"status":"DEPLOYMENT_GROUP_NOT_FOUND"}`, for an unknown group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemoveDeploymentGroupResponse {
    /// The outcome.
    pub status: RemoveDeploymentGroupStatus,
}

/// `POST /deployment-group/{name}/rolling-update` body: `{"job":"<id>","rolloutOptions":…}`.
///
/// `job` is required. The options are resolved against the job's and the defaults with
/// [`RolloutOptions::resolve`]; `null` options are written as `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdateRequest {
    /// The job to roll out.
    pub job: JobId,
    /// Options set by the caller; unset fields come from the job, then the defaults.
    #[serde(default)]
    pub rollout_options: Option<RolloutOptions>,
}

/// Outcome of `POST /deployment-group/{name}/rolling-update`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RollingUpdateStatus {
    /// The rollout started.
    Ok,
    /// No such job.
    JobNotFound,
    /// No such group.
    DeploymentGroupNotFound,
}

/// `POST /deployment-group/{name}/rolling-update` response: `{"status":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RollingUpdateResponse {
    /// The outcome.
    pub status: RollingUpdateStatus,
}

/// A group's status as `GET /deployment-group/{name}/status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentGroupStatusResponseStatus {
    /// A rollout is in progress.
    RollingOut,
    /// The last rollout completed (stored state `DONE`).
    Active,
    /// The last rollout failed or was stopped.
    Failed,
    /// The group has never been rolled out (no stored status).
    Idle,
}

impl DeploymentGroupStatusResponseStatus {
    /// The reported status of a group whose stored status is `status`.
    pub fn of(status: Option<&DeploymentGroupStatus>) -> DeploymentGroupStatusResponseStatus {
        match status.map(|s| s.state) {
            None => DeploymentGroupStatusResponseStatus::Idle,
            Some(DeploymentGroupState::Failed) => DeploymentGroupStatusResponseStatus::Failed,
            Some(DeploymentGroupState::RollingOut) => {
                DeploymentGroupStatusResponseStatus::RollingOut
            }
            Some(DeploymentGroupState::Done) => DeploymentGroupStatusResponseStatus::Active,
        }
    }
}

/// One host of a group in its status: `{"host":…,"jobId":…|null,"state":…|null}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeploymentGroupHostStatus {
    /// The host.
    pub host: String,
    /// The job deployed on the host by this group, if any.
    #[serde(default)]
    pub job_id: Option<JobId>,
    /// That job's task state on the host, if reported.
    #[serde(default)]
    pub state: Option<State>,
}

/// `GET /deployment-group/{name}/status` response:
/// `{"deploymentGroup":{…},"deploymentGroupStatus":{…}|null,"error":…,"hostStatuses":[…],
/// "status":…}`.
///
/// `deploymentGroup` and `status` are required; `hostStatuses` reads `null` as `[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeploymentGroupStatusResponse {
    /// The group.
    pub deployment_group: DeploymentGroup,
    /// The stored status, `None` before the first rollout.
    #[serde(default)]
    pub deployment_group_status: Option<DeploymentGroupStatus>,
    /// The stored status's error; `""` when there is no stored status, and `None` when the
    /// stored status has no error.
    #[serde(default)]
    pub error: Option<String>,
    /// The group's hosts that are UP, in the group's (sorted) host order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub host_statuses: Vec<DeploymentGroupHostStatus>,
    /// The summary status.
    pub status: DeploymentGroupStatusResponseStatus,
}

impl DeploymentGroupStatusResponse {
    /// The response for `group` with stored status `status` and per-host entries
    /// `host_statuses`, with `status` and `error` derived as Helios does.
    pub fn new(
        deployment_group: DeploymentGroup,
        status: Option<DeploymentGroupStatus>,
        host_statuses: Vec<DeploymentGroupHostStatus>,
    ) -> DeploymentGroupStatusResponse {
        let summary = DeploymentGroupStatusResponseStatus::of(status.as_ref());
        let error = match &status {
            None => Some(String::new()),
            Some(s) => s.error.clone(),
        };
        DeploymentGroupStatusResponse {
            deployment_group,
            deployment_group_status: status,
            error,
            host_statuses,
            status: summary,
        }
    }
}

/// The final status the CLI's `rolling-update --json` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RollingUpdateCliStatus {
    /// `--async`: the rollout was started (the REST status).
    Ok,
    /// The group became ACTIVE.
    Done,
    /// The group became FAILED, or its job changed, or its status could not be read.
    Failed,
    /// `--rollout-timeout` passed while the group was still rolling out.
    Timeout,
}

/// What `rolling-update --json` prints once the rollout started (a request-level failure
/// prints the [`RollingUpdateResponse`] instead): `{"duration":…,"error":…,
/// "ignoreFailures":…,"migrate":…,"overlap":…,"parallelism":…,"status":…,"timeout":…,
/// "token":…}`.
///
/// The option values are [`RolloutOptions::cli_effective`]'s (`null` when unset). `duration`
/// (seconds) is absent with `--async`; `error` only accompanies `FAILED`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdateCliOutput {
    /// Seconds from the request to the end of waiting; absent with `--async`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// Why the rollout failed; present only with status `FAILED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Effective `ignoreFailures`.
    #[serde(default)]
    pub ignore_failures: Option<bool>,
    /// Effective `migrate`.
    #[serde(default)]
    pub migrate: Option<bool>,
    /// Effective `overlap`.
    #[serde(default)]
    pub overlap: Option<bool>,
    /// Effective `parallelism`.
    #[serde(default)]
    pub parallelism: Option<i32>,
    /// The outcome.
    pub status: RollingUpdateCliStatus,
    /// Effective `timeout` (seconds per step).
    #[serde(default)]
    pub timeout: Option<i64>,
    /// Effective `token`.
    #[serde(default)]
    pub token: Option<String>,
}

impl RollingUpdateCliOutput {
    /// The output for effective `options` and `status`, with no duration or error.
    pub fn new(options: &RolloutOptions, status: RollingUpdateCliStatus) -> RollingUpdateCliOutput {
        RollingUpdateCliOutput {
            duration: None,
            error: None,
            ignore_failures: options.ignore_failures,
            migrate: options.migrate,
            overlap: options.overlap,
            parallelism: options.parallelism,
            status,
            timeout: options.timeout,
            token: options.token.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::model::deployment_group::tests::assert_round_trip;

    fn words<T: Serialize>(values: &[T]) -> Value {
        serde_json::to_value(values).unwrap()
    }

    #[test]
    fn status_enums_use_helios_names() {
        use CreateDeploymentGroupStatus as C;
        use DeploymentGroupStatusResponseStatus as D;
        use RemoveDeploymentGroupStatus as R;
        use RollingUpdateCliStatus as L;
        use RollingUpdateStatus as U;
        assert_eq!(
            words(&[C::Created, C::NotModified, C::Conflict]),
            json!(["CREATED", "NOT_MODIFIED", "CONFLICT"])
        );
        assert_eq!(
            words(&[R::Removed, R::DeploymentGroupNotFound]),
            json!(["REMOVED", "DEPLOYMENT_GROUP_NOT_FOUND"])
        );
        assert_eq!(
            words(&[U::Ok, U::JobNotFound, U::DeploymentGroupNotFound]),
            json!(["OK", "JOB_NOT_FOUND", "DEPLOYMENT_GROUP_NOT_FOUND"])
        );
        assert_eq!(
            words(&[D::RollingOut, D::Active, D::Failed, D::Idle]),
            json!(["ROLLING_OUT", "ACTIVE", "FAILED", "IDLE"])
        );
        assert_eq!(
            words(&[L::Ok, L::Done, L::Failed, L::Timeout]),
            json!(["OK", "DONE", "FAILED", "TIMEOUT"])
        );
    }

    #[test]
    fn status_only_responses_round_trip() {
        for s in ["CREATED", "NOT_MODIFIED", "CONFLICT"] {
            assert_round_trip::<CreateDeploymentGroupResponse>(&json!({"status": s}));
        }
        for s in ["REMOVED", "DEPLOYMENT_GROUP_NOT_FOUND"] {
            assert_round_trip::<RemoveDeploymentGroupResponse>(&json!({"status": s}));
        }
        for s in ["OK", "JOB_NOT_FOUND", "DEPLOYMENT_GROUP_NOT_FOUND"] {
            assert_round_trip::<RollingUpdateResponse>(&json!({"status": s}));
        }
        let r: RollingUpdateResponse =
            serde_json::from_value(json!({"status":"OK","extra":[1]})).unwrap();
        assert_eq!(r.status, RollingUpdateStatus::Ok);
        assert!(serde_json::from_value::<RollingUpdateResponse>(json!({})).is_err());
        assert!(
            serde_json::from_value::<CreateDeploymentGroupResponse>(json!({"status":"OK"}))
                .is_err()
        );
    }

    #[test]
    fn rolling_update_request_round_trips() {
        let full = json!({"job":"foo:1:abc","rolloutOptions":{"ignoreFailures":null,
            "migrate":true,"overlap":null,"parallelism":2,"timeout":null,"token":"t"}});
        let req: RollingUpdateRequest = assert_round_trip(&full);
        assert_eq!(req.job, JobId::full("foo", "1", "abc"));
        // Null options are written as null; missing ones read as null.
        assert_round_trip::<RollingUpdateRequest>(&json!({"job":"foo:1","rolloutOptions":null}));
        let bare: RollingUpdateRequest =
            serde_json::from_value(json!({"job":"foo:1","unknown":true})).unwrap();
        assert_eq!(bare.rollout_options, None);
        assert!(
            serde_json::from_value::<RollingUpdateRequest>(json!({"rolloutOptions":{}})).is_err()
        );
    }

    fn group_json() -> Value {
        json!({"hostSelectors":[{"label":"foo","operand":"bar","operator":"EQUALS"}],
               "jobId":"foo:1:abc","name":"my-group","rollingUpdateReason":"MANUAL",
               "rolloutOptions":{"ignoreFailures":false,"migrate":false,"overlap":false,
                                 "parallelism":1,"timeout":300,"token":""}})
    }

    #[test]
    fn status_response_round_trips() {
        // DeploymentGroupStatusCommandTest.testDeploymentGroupStatusJson's shape.
        let json = json!({
            "deploymentGroup": group_json(),
            "deploymentGroupStatus": null,
            "error": null,
            "hostStatuses": [
                {"host":"host1","jobId":"foo:1:abc","state":"RUNNING"},
                {"host":"host2","jobId":"foo:1:abc","state":"RUNNING"},
                {"host":"host3","jobId":"foo:1:abc","state":"PULLING_IMAGE"}
            ],
            "status": "ROLLING_OUT"
        });
        let resp: DeploymentGroupStatusResponse = assert_round_trip(&json);
        assert_eq!(resp.host_statuses[2].state, Some(State::PullingImage));
        // A failed group, a host without a job of the group.
        let failed = json!({
            "deploymentGroup": group_json(),
            "deploymentGroupStatus": {"error":"host2: boom","state":"FAILED"},
            "error": "host2: boom",
            "hostStatuses": [{"host":"host2","jobId":null,"state":null}],
            "status": "FAILED"
        });
        let resp: DeploymentGroupStatusResponse = assert_round_trip(&failed);
        assert_eq!(
            resp.deployment_group_status,
            Some(DeploymentGroupStatus::failed("host2: boom"))
        );
    }

    #[test]
    fn status_response_defaults_and_requirements() {
        let minimal = json!({"deploymentGroup":{"name":"g"},"status":"IDLE","hostStatuses":null,
                             "other":1});
        let resp: DeploymentGroupStatusResponse = serde_json::from_value(minimal).unwrap();
        assert_eq!(
            serde_json::to_value(&resp).unwrap(),
            json!({"deploymentGroup":{"hostSelectors":[],"name":"g"},
                   "deploymentGroupStatus":null,"error":null,"hostStatuses":[],"status":"IDLE"})
        );
        assert!(
            serde_json::from_value::<DeploymentGroupStatusResponse>(json!({"status":"IDLE"}))
                .is_err()
        );
        assert!(
            serde_json::from_value::<DeploymentGroupStatusResponse>(
                json!({"deploymentGroup":{"name":"g"}})
            )
            .is_err()
        );
        assert!(
            serde_json::from_value::<DeploymentGroupHostStatus>(json!({"jobId":null})).is_err()
        );
    }

    #[test]
    fn status_response_derives_status_and_error_like_helios() {
        let group: DeploymentGroup = serde_json::from_value(group_json()).unwrap();
        let cases = [
            (None, "IDLE", json!("")),
            (
                Some(DeploymentGroupStatus::rolling_out()),
                "ROLLING_OUT",
                Value::Null,
            ),
            (Some(DeploymentGroupStatus::done()), "ACTIVE", Value::Null),
            (
                Some(DeploymentGroupStatus::failed("Stopped by user")),
                "FAILED",
                json!("Stopped by user"),
            ),
        ];
        for (stored, status, error) in cases {
            let resp = DeploymentGroupStatusResponse::new(group.clone(), stored.clone(), vec![]);
            let out = serde_json::to_value(&resp).unwrap();
            assert_eq!(out["status"], status);
            assert_eq!(out["error"], error);
            assert_eq!(
                out["deploymentGroupStatus"],
                serde_json::to_value(&stored).unwrap()
            );
        }
    }

    #[test]
    fn cli_output_matches_rolling_update_command() {
        // RollingUpdateCommandTest.testRollingUpdateAsyncJson / testRollingUpdateJson /
        // testRollingUpdateFailedJson.
        let effective = RolloutOptions::cli_effective(
            &RolloutOptions {
                parallelism: Some(1),
                timeout: Some(300),
                token: Some("my_token".into()),
                ..RolloutOptions::default()
            },
            None,
        );
        let started = RollingUpdateCliOutput::new(&effective, RollingUpdateCliStatus::Ok);
        assert_eq!(
            serde_json::to_string(&started).unwrap(),
            concat!(
                r#"{"ignoreFailures":false,"migrate":false,"overlap":false,"parallelism":1,"#,
                r#""status":"OK","timeout":300,"token":"my_token"}"#
            )
        );
        let done = RollingUpdateCliOutput {
            duration: Some(0.0),
            ..RollingUpdateCliOutput::new(&effective, RollingUpdateCliStatus::Done)
        };
        assert_round_trip::<RollingUpdateCliOutput>(&serde_json::to_value(&done).unwrap());
        assert_eq!(serde_json::to_value(&done).unwrap()["duration"], json!(0.0));
        let failed = json!({"duration":1.5,"error":"host1: boom","ignoreFailures":null,
            "migrate":null,"overlap":true,"parallelism":2,"status":"FAILED","timeout":null,
            "token":null});
        let parsed: RollingUpdateCliOutput = assert_round_trip(&failed);
        assert_eq!(parsed.status, RollingUpdateCliStatus::Failed);
        assert_eq!(parsed.error.as_deref(), Some("host1: boom"));
    }
}
