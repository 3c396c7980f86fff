//! Deployment groups (reference §5): create, remove, list, inspect, status, rolling update
//! and stop. Host tracking and the steps of a rollout are decided in the replicated state
//! ([`crate::state`]'s `rollouts`); the leader's [`crate::rollout_engine`] proposes the steps
//! that wait.

use helios_api::model::host_selector::Operand;
use helios_api::{
    CreateDeploymentGroupStatus, DeploymentGroup, DeploymentGroupHostStatus,
    DeploymentGroupStatusResponse, HostSelector, JobId, Operator, RemoveDeploymentGroupStatus,
    RollingUpdateStatus, RolloutOptions,
};

use super::{Error, Outcome};
use crate::exactly_once::WriteKey;
use crate::node::Node;
use crate::state::{Command, CommandResult, State};

/// Most deployment groups a cluster holds: each is re-matched against every host when hosts
/// change, so the bound keeps that work and the state's size in check.
pub const MAX_GROUPS: usize = 10_000;

/// Most selectors one group has (a host must match them all; real groups use a few).
pub const MAX_SELECTORS: usize = 64;

/// Longest group name.
pub const MAX_NAME_LEN: usize = 255;

/// Longest step timeout a rolling update accepts (30 days).
pub const MAX_ROLLOUT_TIMEOUT_S: i64 = 30 * 24 * 3600;

/// Most hosts one rolling update plans (three steps each): the plan is replicated state.
pub const MAX_ROLLOUT_HOSTS: usize = 10_000;

/// Creates a group from its name and selectors: `CREATED`, `NOT_MODIFIED` (it exists with
/// the same selectors) or `CONFLICT` (it exists with others). A job, options or reason in
/// the request are ignored: they come from rolling updates.
pub async fn create(
    node: &Node,
    key: &WriteKey,
    group: DeploymentGroup,
) -> Result<Outcome<CreateDeploymentGroupStatus>, Error> {
    let name = group.name.clone();
    check_name(&name)?;
    if group.host_selectors.len() > MAX_SELECTORS {
        return Err(Error::invalid(
            "INVALID_DEPLOYMENT_GROUP",
            format!(
                "deployment group {name} has {} host selectors; at most {MAX_SELECTORS} are allowed",
                group.host_selectors.len()
            ),
        ));
    }
    check_selectors(&group.host_selectors)?;
    let (count, exists) = node.read_local(|s| {
        let groups = &s.deployment_groups;
        (groups.len(), groups.contains_key(&name))
    })?;
    // A group that exists is answered NOT_MODIFIED or CONFLICT, even at the bound.
    if count >= MAX_GROUPS && !exists {
        return Err(Error::invalid(
            "TOO_MANY_DEPLOYMENT_GROUPS",
            format!("the cluster already has {count} deployment groups (at most {MAX_GROUPS})"),
        ));
    }
    let group = DeploymentGroup::new(name.clone(), group.host_selectors);
    let command = Command::CreateDeploymentGroup { group };
    Ok(match node.write_keyed(key, command).await? {
        CommandResult::DeploymentGroupCreated => Outcome::new(
            CreateDeploymentGroupStatus::Created,
            format!("created deployment group {name}"),
        ),
        CommandResult::DeploymentGroupNotModified => Outcome::new(
            CreateDeploymentGroupStatus::NotModified,
            format!("deployment group {name} exists with the same host selectors"),
        ),
        CommandResult::DeploymentGroupConflict => Outcome::new(
            CreateDeploymentGroupStatus::Conflict,
            format!("deployment group {name} exists with other host selectors; remove it first"),
        ),
        other => return Err(Error::Unexpected(other)),
    })
}

/// A group name: 1 to [`MAX_NAME_LEN`] characters, none of them `/` or a control character
/// (it is a path segment of the REST API).
fn check_name(name: &str) -> Result<(), Error> {
    let problem = if name.is_empty() {
        Some("a deployment group needs a name".to_string())
    } else if name.len() > MAX_NAME_LEN {
        Some(format!(
            "the deployment group name has {} characters; at most {MAX_NAME_LEN} are allowed",
            name.len()
        ))
    } else if name.chars().any(|c| c == '/' || c.is_control()) {
        Some(format!(
            "the deployment group name {name:?} may not contain '/' or control characters"
        ))
    } else {
        None
    };
    match problem {
        Some(message) => Err(Error::invalid("INVALID_DEPLOYMENT_GROUP", message)),
        None => Ok(()),
    }
}

/// Selectors a host can be matched against: a label, and one value for `EQUALS` and
/// `NOT_EQUALS` or a list for `IN` and `NOT_IN` (the CLI's parser always makes these shapes;
/// a hand-written JSON body may not).
fn check_selectors(selectors: &[HostSelector]) -> Result<(), Error> {
    for (i, selector) in selectors.iter().enumerate() {
        let problem = match (&selector.operator, &selector.operand) {
            _ if selector.label.is_empty() => Some("has an empty label".to_string()),
            (Operator::Equals | Operator::NotEquals, Operand::Many(_)) => Some(format!(
                "({}) compares with {:?}, which takes one value, not a list",
                selector.label, selector.operator
            )),
            (Operator::In | Operator::NotIn, Operand::One(_)) => Some(format!(
                "({}) compares with {:?}, which takes a list of values",
                selector.label, selector.operator
            )),
            _ => None,
        };
        if let Some(problem) = problem {
            return Err(Error::invalid(
                "INVALID_DEPLOYMENT_GROUP",
                format!("host selector {} {problem}", i + 1),
            ));
        }
    }
    Ok(())
}

/// Removes a group; the deployments it made stay.
pub async fn remove(
    node: &Node,
    key: &WriteKey,
    name: &str,
) -> Result<Outcome<RemoveDeploymentGroupStatus>, Error> {
    let command = Command::RemoveDeploymentGroup {
        name: name.to_string(),
    };
    Ok(match node.write_keyed(key, command).await? {
        CommandResult::Ok => Outcome::new(
            RemoveDeploymentGroupStatus::Removed,
            format!("removed deployment group {name}"),
        ),
        CommandResult::DeploymentGroupNotFound => Outcome::new(
            RemoveDeploymentGroupStatus::DeploymentGroupNotFound,
            format!("no deployment group {name}"),
        ),
        other => return Err(Error::Unexpected(other)),
    })
}

/// The names of every group, sorted.
pub async fn list(node: &Node) -> Result<Vec<String>, Error> {
    Ok(node
        .read(|s| s.deployment_groups.keys().cloned().collect())
        .await?)
}

/// One group; `DEPLOYMENT_GROUP_NOT_FOUND` when there is none.
pub async fn get(node: &Node, name: &str) -> Result<DeploymentGroup, Error> {
    node.read(|s| s.deployment_groups.get(name).map(|g| g.value.clone()))
        .await?
        .ok_or_else(|| not_found(name))
}

/// A group's status: `IDLE` before its first rolling update, and each matching host that is
/// UP, in name order, with the job the group deployed there and its task state.
pub async fn status(node: &Node, name: &str) -> Result<DeploymentGroupStatusResponse, Error> {
    node.read(|s| status_in(s, name))
        .await?
        .ok_or_else(|| not_found(name))
}

/// A group's status from the state: its rollout status and its hosts that are UP, in the
/// group's (natural) order.
pub fn status_in(s: &State, name: &str) -> Option<DeploymentGroupStatusResponse> {
    let group = s.deployment_groups.get(name)?.value.clone();
    let progress = s.group_progress(name);
    // A group created by an earlier version has no progress until a host changes: its
    // hosts are those its selectors match.
    let matching: Vec<String>;
    let hosts = match progress {
        Some(p) => p.hosts.as_slice(),
        None => {
            matching = s
                .hosts
                .iter()
                .filter(|(_, h)| group.matches_host(&h.labels))
                .map(|(n, _)| n.clone())
                .collect();
            matching.as_slice()
        }
    };
    let hosts = hosts
        .iter()
        .filter_map(|host| host_entry(s, name, host))
        .collect();
    let status = progress.and_then(|p| p.status.clone());
    Some(DeploymentGroupStatusResponse::new(group, status, hosts))
}

/// The entry of `host` in the status of group `group`, as Helios's `DeploymentGroupResource`
/// computes it: `None` unless the host is known and UP; otherwise the first deployment (in
/// job-id order) the group owns there, and its task state.
fn host_entry(s: &State, group: &str, host: &str) -> Option<DeploymentGroupHostStatus> {
    s.hosts.get(host).filter(|h| h.up)?;
    let owned = s
        .deployments
        .get(host)
        .into_iter()
        .flatten()
        .filter(|(_, d)| d.value.deployment_group_name.as_deref() == Some(group))
        .filter_map(|(key, _)| Some((key.parse::<JobId>().ok()?, key)))
        .min_by(|a, b| a.0.cmp(&b.0));
    let state = owned
        .as_ref()
        .and_then(|(_, key)| s.task_statuses.get(host)?.get(*key))
        .map(|t| t.value.state);
    Some(DeploymentGroupHostStatus {
        host: host.to_string(),
        job_id: owned.map(|(id, _)| id),
        state,
    })
}

/// Starts a rolling update of group `name` to `job`: `OK`, `JOB_NOT_FOUND` or
/// `DEPLOYMENT_GROUP_NOT_FOUND`. `options` set in the request win over the job's own, which
/// win over Helios's defaults. A new plan starts even when the group runs this job already
/// (so it recovers a FAILED group).
pub async fn rolling_update(
    node: &Node,
    key: &WriteKey,
    name: &str,
    job: &JobId,
    options: Option<RolloutOptions>,
) -> Result<Outcome<RollingUpdateStatus>, Error> {
    if let Some(options) = &options {
        check_options(options)?;
    }
    if !job.is_fully_qualified() {
        return Ok(Outcome::new(
            RollingUpdateStatus::JobNotFound,
            format!("{job} is not a full job id (name:version:hash)"),
        ));
    }
    let hosts = node.read_local(|s| {
        s.group_progress(name)
            .map_or(0, |p| p.hosts.len() + p.removed.len())
    })?;
    if hosts > MAX_ROLLOUT_HOSTS {
        return Err(Error::invalid(
            "TOO_MANY_HOSTS",
            format!(
                "deployment group {name} has {hosts} hosts; a rolling update plans at most {MAX_ROLLOUT_HOSTS}"
            ),
        ));
    }
    let command = Command::RollingUpdate {
        name: name.to_string(),
        job: job.to_string(),
        options,
        master: node.name.clone(),
        now_ms: node.clock.now_ms(),
    };
    Ok(match node.write_keyed(key, command).await? {
        CommandResult::Ok => Outcome::new(
            RollingUpdateStatus::Ok,
            format!("rolling update of deployment group {name} to {job} started"),
        ),
        CommandResult::JobNotFound => {
            Outcome::new(RollingUpdateStatus::JobNotFound, format!("no job {job}"))
        }
        CommandResult::DeploymentGroupNotFound => Outcome::new(
            RollingUpdateStatus::DeploymentGroupNotFound,
            format!("no deployment group {name}"),
        ),
        other => return Err(Error::Unexpected(other)),
    })
}

/// Options a rollout can run with: a parallelism and a timeout of at least 1.
fn check_options(options: &RolloutOptions) -> Result<(), Error> {
    if let Some(p) = options.parallelism
        && p < 1
    {
        return Err(Error::invalid(
            "INVALID_ROLLOUT_OPTIONS",
            format!("parallelism must be at least 1, not {p}"),
        ));
    }
    if let Some(t) = options.timeout
        && !(1..=MAX_ROLLOUT_TIMEOUT_S).contains(&t)
    {
        return Err(Error::invalid(
            "INVALID_ROLLOUT_OPTIONS",
            format!("timeout must be 1 to {MAX_ROLLOUT_TIMEOUT_S} seconds, not {t}"),
        ));
    }
    Ok(())
}

/// Stops group `name`'s rollout (status FAILED, `Stopped by user`); its deployments stay.
pub async fn stop(node: &Node, key: &WriteKey, name: &str) -> Result<(), Error> {
    let command = Command::StopDeploymentGroup {
        name: name.to_string(),
    };
    match node.write_keyed(key, command).await? {
        CommandResult::Ok => Ok(()),
        CommandResult::DeploymentGroupNotFound => Err(not_found(name)),
        other => Err(Error::Unexpected(other)),
    }
}

fn not_found(name: &str) -> Error {
    Error::not_found(
        "DEPLOYMENT_GROUP_NOT_FOUND",
        format!("no deployment group {name}"),
    )
}

#[cfg(test)]
mod tests {
    use helios_api::{Deployment, Goal, Job, State as TaskState, TaskStatus};
    use serde_json::json;

    use super::*;
    use crate::state::{Host, Versioned};

    /// A state with host `h1` (UP or not) holding `deployments` (job, owning group) and a
    /// RUNNING task of each job in `running`.
    fn host(up: bool, deployments: &[(&JobId, Option<&str>)], running: &[&JobId]) -> State {
        let mut s = State::default();
        let mut h = Host::registered("h1-id", 1, 0);
        h.up = up;
        s.hosts.insert("h1".into(), h);
        for (id, group) in deployments {
            let mut d = Deployment::new((*id).clone(), Goal::Start);
            d.deployment_group_name = group.map(str::to_string);
            s.deployments
                .entry("h1".into())
                .or_default()
                .insert(id.to_string(), Versioned::new(1, d));
        }
        for id in running {
            let status = TaskStatus::new(
                Job::new((*id).clone(), "img"),
                Goal::Start,
                TaskState::Running,
            );
            s.task_statuses
                .entry("h1".into())
                .or_default()
                .insert(id.to_string(), Versioned::new(1, status.into()));
        }
        s
    }

    #[test]
    fn host_entries_follow_the_resource() {
        let manual = JobId::full("a", "1", "x");
        let mine = JobId::full("b", "1", "y");
        let up = host(true, &[(&manual, None), (&mine, Some("g"))], &[&mine]);
        assert_eq!(
            host_entry(&up, "g", "h1"),
            Some(DeploymentGroupHostStatus {
                host: "h1".into(),
                job_id: Some(mine.clone()),
                state: Some(TaskState::Running),
            })
        );
        // Deployed by the group but no task status yet.
        let pending = host(true, &[(&mine, Some("g"))], &[]);
        let entry = host_entry(&pending, "g", "h1").unwrap();
        assert_eq!((entry.job_id, entry.state), (Some(mine.clone()), None));
        // Nothing of this group on the host.
        let other = host(true, &[(&manual, Some("other"))], &[&manual]);
        assert_eq!(
            serde_json::to_value(host_entry(&other, "g", "h1")).unwrap(),
            json!({"host":"h1","jobId":null,"state":null})
        );
        // DOWN or unknown hosts are left out.
        let down = host(false, &[(&mine, Some("g"))], &[&mine]);
        assert_eq!(host_entry(&down, "g", "h1"), None);
        assert_eq!(host_entry(&down, "g", "h2"), None);
    }
}
