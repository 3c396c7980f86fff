//! What a host must run: its deployments with their jobs, and the difference between two
//! such sets, as the dispatcher sends them. Pure functions of the replicated state.

use std::collections::BTreeMap;

use helios_api::pb;
use helios_api::{Deployment, Goal};

use crate::state::{State, StoredJob};

/// One deployment of a host with its job and the index that last changed it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTask {
    /// The deployment.
    pub deployment: Deployment,
    /// Log index of its last change.
    pub modify_index: u64,
    /// The job (shared with the state).
    pub job: StoredJob,
}

/// The deployments of `host`, by full job id.
pub fn host_tasks(state: &State, host: &str) -> BTreeMap<String, HostTask> {
    let Some(deployments) = state.deployments.get(host) else {
        return BTreeMap::new();
    };
    deployments
        .iter()
        .filter_map(|(id, d)| {
            let job = state.jobs.get(id)?;
            Some((
                id.clone(),
                HostTask {
                    deployment: d.value.clone(),
                    modify_index: d.modify_index,
                    job: job.value.clone(),
                },
            ))
        })
        .collect()
}

fn assignment(id: &str, task: &HostTask) -> pb::Assignment {
    pb::Assignment {
        job_id: id.to_string(),
        job_json: task.job.json_text().into_bytes(),
        goal: task.deployment.goal.as_str().to_string(),
        removed: false,
        deployer_user: task.deployment.deployer_user.clone().unwrap_or_default(),
        deployer_master: task.deployment.deployer_master.clone().unwrap_or_default(),
        deployment_group_name: task
            .deployment
            .deployment_group_name
            .clone()
            .unwrap_or_default(),
    }
}

/// Every deployment of a host, as a COMPLETE set.
pub fn complete(tasks: &BTreeMap<String, HostTask>) -> Vec<pb::Assignment> {
    tasks.iter().map(|(id, t)| assignment(id, t)).collect()
}

/// What a session remembers of the deployments it sent: each one's modify index, by full job
/// id (all [`changes`] needs, and far smaller than the tasks, held by every session).
pub type SentIndexes = BTreeMap<String, u64>;

/// The [`SentIndexes`] of `tasks`, once they are sent.
pub fn sent_indexes(tasks: &BTreeMap<String, HostTask>) -> SentIndexes {
    tasks
        .iter()
        .map(|(id, t)| (id.clone(), t.modify_index))
        .collect()
}

/// What changed from `before` (as sent) to `after`: new or changed deployments, and removed
/// ones.
pub fn changes(before: &SentIndexes, after: &BTreeMap<String, HostTask>) -> Vec<pb::Assignment> {
    let mut out = Vec::new();
    for (id, t) in after {
        if before.get(id).is_none_or(|&sent| sent != t.modify_index) {
            out.push(assignment(id, t));
        }
    }
    for id in before.keys().filter(|id| !after.contains_key(*id)) {
        out.push(pb::Assignment {
            job_id: id.clone(),
            goal: Goal::Undeploy.as_str().into(),
            removed: true,
            ..Default::default()
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use helios_api::JobId;

    fn task(goal: Goal, index: u64) -> HostTask {
        let id = JobId::full("j", "1", "a".repeat(40));
        HostTask {
            deployment: Deployment::new(id.clone(), goal),
            modify_index: index,
            job: StoredJob::new(&helios_api::Job::new(id, "busybox")),
        }
    }

    #[test]
    fn changes_report_new_changed_and_removed() {
        let before = BTreeMap::from([
            ("a".to_string(), task(Goal::Start, 1)),
            ("b".into(), task(Goal::Start, 2)),
        ]);
        let after = BTreeMap::from([
            ("a".to_string(), task(Goal::Stop, 5)),
            ("c".into(), task(Goal::Start, 6)),
        ]);
        let c = changes(&sent_indexes(&before), &after);
        let summary: Vec<(String, String, bool)> = c
            .iter()
            .map(|a| (a.job_id.clone(), a.goal.clone(), a.removed))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("a".into(), "STOP".into(), false),
                ("c".into(), "START".into(), false),
                ("b".into(), "UNDEPLOY".into(), true)
            ]
        );
        assert!(changes(&sent_indexes(&after), &after).is_empty());
    }
}
