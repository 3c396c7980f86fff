//! The plan of a rolling update (reference §5.3), a pure function of the group's hosts,
//! stored in the replicated state and run step by step by [`super::rollouts`].
//!
//! Only hosts that are UP are planned, in the group's host order, split into consecutive
//! partitions of `parallelism` hosts. Hosts that left the group come first (Helios's
//! `RollingUndeployPlanner`): per partition, `FORCE_UNDEPLOY_JOBS` on each host, then
//! `AWAIT_UNDEPLOYED` and `MARK_UNDEPLOYED` for each. Then the group's hosts (Helios's
//! `RollingUpdatePlanner`): per partition, `UNDEPLOY_OLD_JOBS` and `DEPLOY_NEW_JOB` for each
//! host, then `AWAIT_RUNNING` for each; with `overlap`, the new job first: `DEPLOY_NEW_JOB`
//! for each, `AWAIT_RUNNING` for each, then `UNDEPLOY_OLD_JOBS` for each.

use helios_api::{RolloutAction, RolloutTask};

/// What a plan is made from.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The group's hosts, in the group's order.
    pub hosts: &'a [String],
    /// Hosts that left the group and still have its job, in order.
    pub removed: &'a [String],
    /// Hosts per partition; at least 1 (0 is read as 1).
    pub parallelism: usize,
    /// Deploy the new job before undeploying the old one.
    pub overlap: bool,
}

/// The tasks of a rolling update; `is_up` tells which hosts are UP (only they are planned).
/// An empty plan means the group is done at once.
pub fn plan(input: PlanInput<'_>, is_up: impl Fn(&str) -> bool) -> Vec<RolloutTask> {
    let parallelism = input.parallelism.max(1);
    let up =
        |hosts: &[String]| -> Vec<String> { hosts.iter().filter(|h| is_up(h)).cloned().collect() };
    let mut tasks = Vec::new();
    for partition in up(input.removed).chunks(parallelism) {
        each(&mut tasks, partition, &[RolloutAction::ForceUndeployJobs]);
        each(
            &mut tasks,
            partition,
            &[
                RolloutAction::AwaitUndeployed,
                RolloutAction::MarkUndeployed,
            ],
        );
    }
    for partition in up(input.hosts).chunks(parallelism) {
        if input.overlap {
            each(&mut tasks, partition, &[RolloutAction::DeployNewJob]);
            each(&mut tasks, partition, &[RolloutAction::AwaitRunning]);
            each(&mut tasks, partition, &[RolloutAction::UndeployOldJobs]);
        } else {
            each(
                &mut tasks,
                partition,
                &[RolloutAction::UndeployOldJobs, RolloutAction::DeployNewJob],
            );
            each(&mut tasks, partition, &[RolloutAction::AwaitRunning]);
        }
    }
    tasks
}

/// For each host of `partition` in turn, `actions` on that host.
fn each(tasks: &mut Vec<RolloutTask>, partition: &[String], actions: &[RolloutAction]) {
    for host in partition {
        for action in actions {
            tasks.push(RolloutTask::new(*action, host.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(names: &[&str]) -> Vec<String> {
        names.iter().map(|h| h.to_string()).collect()
    }

    /// The plan as `ACTION host` lines, for readable comparisons.
    fn lines(
        hosts: &[String],
        removed: &[String],
        parallelism: usize,
        overlap: bool,
        down: &[&str],
    ) -> Vec<String> {
        let input = PlanInput {
            hosts,
            removed,
            parallelism,
            overlap,
        };
        plan(input, |h| !down.contains(&h))
            .into_iter()
            .map(|t| {
                let action = serde_json::to_value(t.action).unwrap();
                format!("{} {}", action.as_str().unwrap(), t.target)
            })
            .collect()
    }

    #[test]
    fn one_host_at_a_time_undeploys_deploys_and_awaits_each_in_order() {
        let plan = lines(&hosts(&["h1", "h2"]), &[], 1, false, &[]);
        assert_eq!(
            plan,
            [
                "UNDEPLOY_OLD_JOBS h1",
                "DEPLOY_NEW_JOB h1",
                "AWAIT_RUNNING h1",
                "UNDEPLOY_OLD_JOBS h2",
                "DEPLOY_NEW_JOB h2",
                "AWAIT_RUNNING h2",
            ]
        );
    }

    #[test]
    fn a_partition_changes_all_its_hosts_before_awaiting_them() {
        let plan = lines(&hosts(&["a", "b", "c"]), &[], 2, false, &[]);
        assert_eq!(
            plan,
            [
                "UNDEPLOY_OLD_JOBS a",
                "DEPLOY_NEW_JOB a",
                "UNDEPLOY_OLD_JOBS b",
                "DEPLOY_NEW_JOB b",
                "AWAIT_RUNNING a",
                "AWAIT_RUNNING b",
                "UNDEPLOY_OLD_JOBS c",
                "DEPLOY_NEW_JOB c",
                "AWAIT_RUNNING c",
            ]
        );
    }

    #[test]
    fn overlap_runs_the_new_job_before_undeploying_the_old() {
        let plan = lines(&hosts(&["a", "b"]), &[], 2, true, &[]);
        assert_eq!(
            plan,
            [
                "DEPLOY_NEW_JOB a",
                "DEPLOY_NEW_JOB b",
                "AWAIT_RUNNING a",
                "AWAIT_RUNNING b",
                "UNDEPLOY_OLD_JOBS a",
                "UNDEPLOY_OLD_JOBS b",
            ]
        );
    }

    #[test]
    fn removed_hosts_come_first_by_partition() {
        let plan = lines(&hosts(&["a"]), &hosts(&["x", "y", "z"]), 2, false, &[]);
        assert_eq!(
            plan,
            [
                "FORCE_UNDEPLOY_JOBS x",
                "FORCE_UNDEPLOY_JOBS y",
                "AWAIT_UNDEPLOYED x",
                "MARK_UNDEPLOYED x",
                "AWAIT_UNDEPLOYED y",
                "MARK_UNDEPLOYED y",
                "FORCE_UNDEPLOY_JOBS z",
                "AWAIT_UNDEPLOYED z",
                "MARK_UNDEPLOYED z",
                "UNDEPLOY_OLD_JOBS a",
                "DEPLOY_NEW_JOB a",
                "AWAIT_RUNNING a",
            ]
        );
    }

    #[test]
    fn hosts_that_are_down_are_left_out_and_partitions_close_up() {
        let plan = lines(
            &hosts(&["a", "b", "c"]),
            &hosts(&["x"]),
            2,
            false,
            &["b", "x"],
        );
        assert_eq!(
            plan,
            [
                "UNDEPLOY_OLD_JOBS a",
                "DEPLOY_NEW_JOB a",
                "UNDEPLOY_OLD_JOBS c",
                "DEPLOY_NEW_JOB c",
                "AWAIT_RUNNING a",
                "AWAIT_RUNNING c",
            ]
        );
    }

    #[test]
    fn no_host_up_is_an_empty_plan_and_parallelism_zero_reads_as_one() {
        assert!(lines(&hosts(&["a"]), &[], 1, false, &["a"]).is_empty());
        assert!(lines(&[], &[], 3, true, &[]).is_empty());
        assert_eq!(
            lines(&hosts(&["a", "b"]), &[], 0, false, &[]),
            lines(&hosts(&["a", "b"]), &[], 1, false, &[])
        );
    }
}
