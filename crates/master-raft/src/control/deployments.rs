//! Deployments: deploy a job to a host, set its goal, undeploy it, read one deployment.
//!
//! Port reservations and job tokens are checked where the command is applied
//! (`state::deployments`), so that every member decides alike; this module stamps the
//! deployment (deployer user and master) and says in words what the answer means.

use helios_api::{Deployment, Goal, JobDeployStatus, JobUndeployStatus, SetGoalStatus};

use super::jobs::full_id;
use super::{Error, Outcome};
use crate::exactly_once::WriteKey;
use crate::node::Node;
use crate::state::{Command, CommandResult};

/// A request to deploy a job to a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployRequest {
    /// The host to deploy to.
    pub host: String,
    /// The job, by full id (`name:version:hash`).
    pub job_id: helios_api::JobId,
    /// START or STOP.
    pub goal: Goal,
    /// Who asks (`deployerUser`), if known.
    pub user: Option<String>,
    /// The job's token, if it has one.
    pub token: String,
    /// The deployment group the deployment belongs to, if the request names one.
    pub deployment_group_name: Option<String>,
}

/// Deploys a job to a host, recording who deployed it and through which master.
pub async fn deploy(
    node: &Node,
    key: &WriteKey,
    req: DeployRequest,
) -> Result<Outcome<JobDeployStatus>, Error> {
    let DeployRequest {
        host,
        job_id,
        goal,
        user,
        token,
        deployment_group_name,
    } = req;
    let job = job_id.to_string();
    if !job_id.is_fully_qualified() {
        return Ok(Outcome::new(
            JobDeployStatus::InvalidId,
            format!("Invalid id: {job} (expected name:version:hash)"),
        ));
    }
    let deployment = Deployment {
        deployer_master: Some(node.name.clone()),
        deployer_user: user.filter(|u| !u.is_empty()),
        deployment_group_name,
        goal,
        job_id,
    };
    let command = Command::Deploy {
        host: host.clone(),
        deployment,
        token,
    };
    Ok(match node.write_keyed(key, command).await? {
        CommandResult::Ok => {
            Outcome::new(JobDeployStatus::Ok, format!("deployed job {job} to {host}"))
        }
        CommandResult::JobNotFound => {
            Outcome::new(JobDeployStatus::JobNotFound, format!("no job {job}"))
        }
        CommandResult::HostNotFound => {
            Outcome::new(JobDeployStatus::HostNotFound, format!("no host {host}"))
        }
        CommandResult::JobAlreadyDeployed => Outcome::new(
            JobDeployStatus::JobAlreadyDeployed,
            format!("job {job} is already deployed on {host}"),
        ),
        CommandResult::PortConflict { port } => Outcome::new(
            JobDeployStatus::PortConflict,
            format!("port {port} of job {job} is already reserved on {host}"),
        ),
        CommandResult::Forbidden => Outcome::new(
            JobDeployStatus::Forbidden,
            format!("the token does not match that of job {job}"),
        ),
        other => return Err(Error::Unexpected(other)),
    })
}

/// Sets the goal (START, STOP, UNDEPLOY) of the job `job` (full id) on `host`.
pub async fn set_goal(
    node: &Node,
    key: &WriteKey,
    host: &str,
    job: &str,
    goal: Goal,
    token: String,
) -> Result<Outcome<SetGoalStatus>, Error> {
    let Ok(id) = full_id(job) else {
        return Ok(Outcome::new(
            SetGoalStatus::InvalidId,
            format!("Invalid id: {job}"),
        ));
    };
    let job = id.to_string();
    let command = Command::SetGoal {
        host: host.to_string(),
        job: job.clone(),
        goal,
        token,
    };
    Ok(match node.write_keyed(key, command).await? {
        CommandResult::Ok => Outcome::new(
            SetGoalStatus::Ok,
            format!("set the goal of {job} on {host} to {goal:?}"),
        ),
        CommandResult::HostNotFound => {
            Outcome::new(SetGoalStatus::HostNotFound, format!("no host {host}"))
        }
        CommandResult::JobNotDeployed => Outcome::new(
            SetGoalStatus::JobNotDeployed,
            format!("job {job} is not deployed on {host}"),
        ),
        CommandResult::Forbidden => Outcome::new(
            SetGoalStatus::Forbidden,
            format!("the token does not match that of job {job}"),
        ),
        other => return Err(Error::Unexpected(other)),
    })
}

/// Undeploys the job `job` (full id) from `host`, freeing its ports.
pub async fn undeploy(
    node: &Node,
    key: &WriteKey,
    host: &str,
    job: &str,
    token: String,
) -> Result<Outcome<JobUndeployStatus>, Error> {
    let Ok(id) = full_id(job) else {
        return Ok(Outcome::new(
            JobUndeployStatus::InvalidId,
            format!("Invalid id: {job}"),
        ));
    };
    let job = id.to_string();
    let command = Command::Undeploy {
        host: host.to_string(),
        job: job.clone(),
        token,
    };
    Ok(match node.write_keyed(key, command).await? {
        CommandResult::Ok => Outcome::new(
            JobUndeployStatus::Ok,
            format!("undeployed job {job} from {host}"),
        ),
        CommandResult::HostNotFound => {
            Outcome::new(JobUndeployStatus::HostNotFound, format!("no host {host}"))
        }
        CommandResult::JobNotFound => Outcome::new(
            JobUndeployStatus::JobNotFound,
            format!("no job {job} (deployed) on host {host}"),
        ),
        CommandResult::Forbidden => Outcome::new(
            JobUndeployStatus::Forbidden,
            format!("the token does not match that of job {job}"),
        ),
        other => return Err(Error::Unexpected(other)),
    })
}

/// The deployment of the job `job` (full id) on `host`; `JOB_NOT_DEPLOYED` when there is none.
pub async fn deployment(node: &Node, host: &str, job: &str) -> Result<Deployment, Error> {
    let id = full_id(job)?.to_string();
    node.read(|s| {
        s.deployments
            .get(host)
            .and_then(|d| d.get(&id))
            .map(|v| v.value.clone())
    })
    .await?
    .ok_or_else(|| {
        Error::not_found(
            "JOB_NOT_DEPLOYED",
            format!("{id} is not deployed on {host}"),
        )
    })
}
