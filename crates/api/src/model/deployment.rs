//! A job's deployment on a host and its goal (Helios's `Deployment` and `Goal`).

use serde::{Deserialize, Serialize};

use super::job_id::JobId;

/// What the master wants the agent to do with a deployed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Goal {
    /// Run the container.
    Start,
    /// Keep the deployment but stop the container.
    Stop,
    /// Stop the container and remove the deployment.
    Undeploy,
}

impl Goal {
    /// Helios's word for the goal (`START`, `STOP`, `UNDEPLOY`), as in its JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Goal::Start => "START",
            Goal::Stop => "STOP",
            Goal::Undeploy => "UNDEPLOY",
        }
    }

    /// The goal named by Helios's word, if any.
    pub fn from_word(word: &str) -> Option<Goal> {
        [Goal::Start, Goal::Stop, Goal::Undeploy]
            .into_iter()
            .find(|g| g.as_str() == word)
    }
}

/// `(host, jobId) -> goal` as stored by the master.
///
/// Serialized with the key `jobId`; read from `jobId` or `job` (the CLI sends `job`).
/// `deployerMaster` and `deploymentGroupName` are omitted when absent, as in Helios.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Master that accepted the deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployer_master: Option<String>,
    /// User that deployed (`?user=`).
    #[serde(default)]
    pub deployer_user: Option<String>,
    /// Deployment group that owns this deployment, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_group_name: Option<String>,
    /// The desired state.
    pub goal: Goal,
    /// The deployed job.
    #[serde(alias = "job")]
    pub job_id: JobId,
}

impl Deployment {
    /// A deployment with no user, master or group.
    pub fn new(job_id: JobId, goal: Goal) -> Deployment {
        Deployment {
            deployer_master: None,
            deployer_user: None,
            deployment_group_name: None,
            goal,
            job_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goal_words_match_the_json() {
        for g in [Goal::Start, Goal::Stop, Goal::Undeploy] {
            assert_eq!(
                serde_json::to_string(&g).unwrap(),
                format!("\"{}\"", g.as_str())
            );
            assert_eq!(Goal::from_word(g.as_str()), Some(g));
        }
        assert_eq!(Goal::from_word("start"), None);
    }

    #[test]
    fn written_as_job_id_and_read_from_either_key() {
        let d = Deployment::new(JobId::new("foo", "1"), Goal::Start);
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"deployerUser":null,"goal":"START","jobId":"foo:1"}"#
        );
        let from_job: Deployment =
            serde_json::from_str(r#"{"job":"foo:1","goal":"START"}"#).unwrap();
        assert_eq!(from_job, d);
        let full: Deployment = serde_json::from_str(
            r#"{"jobId":"foo:1","goal":"UNDEPLOY","deployerMaster":"m","deploymentGroupName":"g"}"#,
        )
        .unwrap();
        assert_eq!(full.goal, Goal::Undeploy);
        assert_eq!(
            serde_json::to_string(&full).unwrap(),
            r#"{"deployerMaster":"m","deployerUser":null,"deploymentGroupName":"g","goal":"UNDEPLOY","jobId":"foo:1"}"#
        );
    }
}
