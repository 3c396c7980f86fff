//! The Java `toString()` forms Helios prints after `failed: `, and the
//! deployment it announces before deploying, e.g.
//! `JobDeployResponse{status=JOB_ALREADY_DEPLOYED, job=foo:1:abc, host='h1'}`.
//! Absent values print as `null`, as Java's string concatenation does.

use helios_api::{
    CreateDeploymentGroupResponse, Goal, HostDeregisterResponse, JobDeployResponse, JobId,
    JobUndeployResponse, RollingUpdateResponse, SetGoalResponse,
};
use serde::Serialize;

use super::json;

/// The enum constant's name as it appears in JSON (`STILL_IN_USE`).
pub fn enum_name<T: Serialize>(value: &T) -> String {
    match json::to_value(value) {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

fn or_null(value: Option<&str>) -> &str {
    value.unwrap_or("null")
}

/// `Deployment{jobId=…, goal=START, deployerUser='null', deployerMaster='null', deploymentGroupName='null'}`
/// for the deployment the CLI sends (no user, master or group).
pub fn deployment(id: &JobId, goal: Goal) -> String {
    format!(
        "Deployment{{jobId={id}, goal={}, deployerUser='null', deployerMaster='null', deploymentGroupName='null'}}",
        enum_name(&goal)
    )
}

/// `JobDeployResponse{status=…, job=…, host='…'}`.
pub fn deploy_response(r: &JobDeployResponse) -> String {
    format!(
        "JobDeployResponse{{status={}, job={}, host='{}'}}",
        enum_name(&r.status),
        or_null(r.job.as_deref()),
        or_null(r.host.as_deref())
    )
}

/// `JobUndeployResponse{status=…, job=…, host='…'}`.
pub fn undeploy_response(r: &JobUndeployResponse) -> String {
    format!(
        "JobUndeployResponse{{status={}, job={}, host='{}'}}",
        enum_name(&r.status),
        or_null(r.job.as_deref()),
        or_null(r.host.as_deref())
    )
}

/// `SetGoalResponse{status=…, host=…, job=…}` (Guava's `toStringHelper`).
pub fn set_goal_response(r: &SetGoalResponse) -> String {
    format!(
        "SetGoalResponse{{status={}, host={}, job={}}}",
        enum_name(&r.status),
        or_null(r.host.as_deref()),
        or_null(r.job.as_deref())
    )
}

/// `HostDeregisterResponse{status=…, host='…'}`.
pub fn deregister_response(r: &HostDeregisterResponse) -> String {
    format!(
        "HostDeregisterResponse{{status={}, host='{}'}}",
        enum_name(&r.status),
        r.host
    )
}

/// `CreateDeploymentGroupResponse{status=…}`.
pub fn create_deployment_group_response(r: &CreateDeploymentGroupResponse) -> String {
    format!(
        "CreateDeploymentGroupResponse{{status={}}}",
        enum_name(&r.status)
    )
}

/// `RollingUpdateResponse{status=…}`.
pub fn rolling_update_response(r: &RollingUpdateResponse) -> String {
    format!("RollingUpdateResponse{{status={}}}", enum_name(&r.status))
}

/// Java's `List.toString()`: `[a, b]`.
pub fn java_list<T: AsRef<str>>(items: &[T]) -> String {
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use helios_api::{
        HostDeregisterStatus, HostJobResponse, JobDeployStatus, JobUndeployStatus,
        RollingUpdateStatus, SetGoalStatus,
    };

    #[test]
    fn responses_read_like_javas_to_string() {
        let id = JobId::full("foo", "1", "abc");
        assert_eq!(
            deployment(&id, Goal::Start),
            "Deployment{jobId=foo:1:abc, goal=START, deployerUser='null', deployerMaster='null', deploymentGroupName='null'}"
        );
        let deploy = HostJobResponse::new(JobDeployStatus::JobAlreadyDeployed, "h1", "foo:1:abc");
        assert_eq!(
            deploy_response(&deploy),
            "JobDeployResponse{status=JOB_ALREADY_DEPLOYED, job=foo:1:abc, host='h1'}"
        );
        let undeploy = HostJobResponse {
            host: None,
            job: None,
            status: JobUndeployStatus::HostNotFound,
        };
        assert_eq!(
            undeploy_response(&undeploy),
            "JobUndeployResponse{status=HOST_NOT_FOUND, job=null, host='null'}"
        );
        let goal = HostJobResponse::new(SetGoalStatus::JobNotDeployed, "h1", "foo:1:abc");
        assert_eq!(
            set_goal_response(&goal),
            "SetGoalResponse{status=JOB_NOT_DEPLOYED, host=h1, job=foo:1:abc}"
        );
        let dereg = HostDeregisterResponse {
            host: "h".into(),
            status: HostDeregisterStatus::NotFound,
        };
        assert_eq!(
            deregister_response(&dereg),
            "HostDeregisterResponse{status=NOT_FOUND, host='h'}"
        );
        let rolling = RollingUpdateResponse {
            status: RollingUpdateStatus::DeploymentGroupNotFound,
        };
        assert_eq!(
            rolling_update_response(&rolling),
            "RollingUpdateResponse{status=DEPLOYMENT_GROUP_NOT_FOUND}"
        );
        assert_eq!(java_list(&["a", "b"]), "[a, b]");
        assert_eq!(java_list::<String>(&[]), "[]");
    }
}
