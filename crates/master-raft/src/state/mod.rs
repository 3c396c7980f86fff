//! The replicated state of the masters and the deterministic function that changes it.
//!
//! `apply` reads no clock, draws no random number and does no I/O: the leader stamps times
//! and ids into a [`Command`] before proposing it, so every member computes the same state.
//! A refusal (the job exists, a wrong token) is a [`CommandResult`], replicated like any
//! other outcome, never a storage error.

mod api_tokens;
mod command;
mod deployment_groups;
mod deployments;
mod hosts;
pub mod idempotency;
mod jobs;
mod masters;
mod pki;
mod rollout_plan;
mod rollouts;
mod stored_job;
mod stored_status;

use std::collections::{BTreeMap, VecDeque};

use helios_api::{AgentInfo, Deployment, DeploymentGroup, HostInfo, Job};
use imbl::{OrdMap, OrdSet};
use serde::{Deserialize, Serialize};

pub use api_tokens::{ApiRole, ApiToken};
pub use command::{Command, CommandResult, StatusUpdate};
pub use idempotency::IdempotencyTable;
pub use masters::RemovedMaster;
pub use pki::{ClusterPki, Secret};
pub use rollouts::{GroupProgress, RolloutRun, RolloutWakeup, natural_order};
pub use stored_job::{AsJson, StoredJob};
pub use stored_status::{StatusJson, StoredEvent, StoredStatus};

/// Task history events kept per job per host unless the leader's `--history-limit` says
/// otherwise (Helios keeps 30).
pub const HISTORY_LIMIT: usize = 30;

/// A stored object with the Raft indexes that created and last changed it, so watchers and
/// clients can resume from an index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versioned<T> {
    /// Log index of the command that created the object.
    pub create_index: u64,
    /// Log index of the command that last changed the object.
    pub modify_index: u64,
    /// The object.
    pub value: T,
}

impl<T> Versioned<T> {
    /// A new object created at `index`.
    pub fn new(index: u64, value: T) -> Self {
        Self {
            create_index: index,
            modify_index: index,
            value,
        }
    }
}

/// A registered host (agent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// The agent id registered under the name.
    pub id: String,
    /// Host labels (`--labels`).
    pub labels: BTreeMap<String, String>,
    /// Agent environment (`--env`).
    pub env: BTreeMap<String, String>,
    /// Host facts.
    pub host_info: Option<HostInfo>,
    /// Agent facts.
    pub agent_info: Option<AgentInfo>,
    /// Whether the agent is UP (holds a session and sends heartbeats).
    pub up: bool,
    /// When `up` last changed (leader clock, epoch ms).
    pub status_changed_ms: i64,
    /// Log index of the registration.
    pub create_index: u64,
    /// Log index of the last change.
    pub modify_index: u64,
    /// The IP address its agent's last session came from (the host's A record in the
    /// masters' DNS); absent from snapshots of earlier versions.
    #[serde(default)]
    pub address: Option<String>,
}

impl Host {
    /// A host registered under agent `id` at log `index`, DOWN, with nothing reported yet.
    pub fn registered(id: &str, index: u64, now_ms: i64) -> Host {
        Host {
            id: id.to_string(),
            labels: BTreeMap::new(),
            env: BTreeMap::new(),
            host_info: None,
            agent_info: None,
            up: false,
            status_changed_ms: now_ms,
            create_index: index,
            modify_index: index,
            address: None,
        }
    }
}

/// Everything the masters replicate.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Created once, when the cluster is initialised; agents refuse a cluster with another id.
    pub cluster_id: Option<String>,
    /// Jobs by full id (`name:version:hash`), as their JSON (see [`StoredJob`]): shared, so
    /// a persistent map's node copy or a reader's copy of a job costs a reference count.
    pub jobs: OrdMap<String, Versioned<StoredJob>>,
    /// `name:version` → full id, so that a name and version are unique as in Helios.
    pub job_refs: OrdMap<String, String>,
    /// Hosts by name.
    pub hosts: OrdMap<String, Host>,
    /// Deployments: host → full job id → deployment.
    pub deployments: OrdMap<String, BTreeMap<String, Versioned<Deployment>>>,
    /// Static external ports reserved per host: host → port → full job id.
    pub ports: OrdMap<String, BTreeMap<i32, String>>,
    /// Task statuses reported by agents: host → full job id → status (without the job,
    /// which is `jobs[full job id]`, see [`StoredStatus`]).
    pub task_statuses: OrdMap<String, BTreeMap<String, Versioned<StoredStatus>>>,
    /// Task history: full job id → host → the last [`State::history_limit`] events, oldest
    /// first.
    pub history: OrdMap<String, BTreeMap<String, VecDeque<StoredEvent>>>,
    /// Recent idempotency keys of client writes and their results (absent from snapshots of
    /// earlier versions, hence the default).
    #[serde(default)]
    pub idempotency: IdempotencyTable,
    /// Deployment groups by name (absent from snapshots of earlier versions).
    #[serde(default)]
    pub deployment_groups: OrdMap<String, Versioned<DeploymentGroup>>,
    /// Each deployment group's hosts, rollout status and rollout under way (absent from
    /// snapshots of earlier versions).
    #[serde(default)]
    pub group_progress: OrdMap<String, GroupProgress>,
    /// The groups whose rollout is under way (an index of `group_progress` for the rollout
    /// engine, which looks at it after every applied entry).
    #[serde(default)]
    pub rolling_groups: OrdSet<String>,
    /// Valid API tokens by the SHA-256 of the token (see [`api_tokens`]; absent from
    /// snapshots of earlier versions).
    #[serde(default)]
    pub api_tokens: OrdMap<String, ApiToken>,
    /// Whether the first admin token was created (once per cluster, by the first leader that
    /// runs with security on).
    #[serde(default)]
    pub api_tokens_bootstrapped: bool,
    /// The cluster's CA and join secrets, once a master with security on set them.
    #[serde(default)]
    pub pki: Option<ClusterPki>,
    /// The serial of each host's agent certificate, as its last session showed it.
    #[serde(default)]
    pub host_certificates: OrdMap<String, String>,
    /// Serials of agent certificates revoked by `helios deregister`: no session opens with
    /// them again (the agent rejoins with a join token).
    #[serde(default)]
    pub revoked_certificates: OrdSet<String>,
    /// Whether a job ever marked env values secret (`secretEnv`): until one does, answers to
    /// tokens that may only read need no rewriting. Never set back, so that an answer made
    /// from an earlier state is never let through unread.
    #[serde(default)]
    pub secret_env_seen: bool,
    /// The serial of each host's renewed agent certificate that no session showed yet: its
    /// first session retires the one in [`Self::host_certificates`].
    #[serde(default)]
    pub renewed_certificates: OrdMap<String, String>,
    /// Masters removed with `helios masters remove`, by Raft id: they may not take part again
    /// (see [`masters`]).
    #[serde(default)]
    pub removed_masters: OrdMap<u64, RemovedMaster>,
    /// Task history events kept per job and host, as the leader's `--history-limit` set it;
    /// `None`: [`HISTORY_LIMIT`].
    #[serde(default)]
    pub history_limit: Option<u32>,
}

impl State {
    /// Task history events kept per job and host.
    pub fn history_limit(&self) -> usize {
        self.history_limit.map_or(HISTORY_LIMIT, |l| l as usize)
    }

    /// Sets how many task history events are kept per job and host (at least one), and
    /// drops the oldest events beyond it at once.
    fn set_history_limit(&mut self, limit: u32) -> CommandResult {
        let limit = limit.max(1);
        self.history_limit = Some(limit);
        let over: Vec<String> = self
            .history
            .iter()
            .filter(|(_, hosts)| hosts.values().any(|e| e.len() > limit as usize))
            .map(|(job, _)| job.clone())
            .collect();
        for job in over {
            if let Some(hosts) = self.history.get_mut(&job) {
                for events in hosts.values_mut() {
                    while events.len() > limit as usize {
                        events.pop_front();
                    }
                }
            }
        }
        CommandResult::Ok
    }

    /// Whether the job is deployed on any host.
    pub fn is_deployed(&self, job_id: &str) -> bool {
        self.deployments
            .values()
            .any(|jobs| jobs.contains_key(job_id))
    }

    /// Applies one command at log index `index`, taking it by value so that a new job moves
    /// into the state instead of being copied.
    pub fn apply_owned(&mut self, index: u64, command: Command) -> CommandResult {
        match command {
            Command::CreateJob { job } => self.create_job(index, &job),
            Command::Idempotent {
                key,
                fingerprint,
                now_ms,
                command,
            } => self.apply_once(index, &key, &fingerprint, now_ms, *command),
            command => self.apply(index, &command),
        }
    }

    /// Applies a keyed write unless its key was seen: a repeat gets the first result, a key
    /// reused for another request is refused, and neither changes anything else.
    fn apply_once(
        &mut self,
        index: u64,
        key: &str,
        fingerprint: &str,
        now_ms: i64,
        command: Command,
    ) -> CommandResult {
        match self.idempotency.check(key, fingerprint) {
            idempotency::Seen::Replay(first) => first,
            idempotency::Seen::Reused => CommandResult::IdempotencyKeyReused,
            idempotency::Seen::New => {
                let result = self.apply_owned(index, command);
                self.idempotency
                    .remember(key, fingerprint, result.clone(), now_ms, index);
                result
            }
        }
    }

    /// Applies one command at log index `index`.
    pub fn apply(&mut self, index: u64, command: &Command) -> CommandResult {
        match command {
            Command::Idempotent { .. } => self.apply_owned(index, command.clone()),
            Command::InitCluster { cluster_id } => {
                if self.cluster_id.is_none() {
                    self.cluster_id = Some(cluster_id.clone());
                }
                CommandResult::ClusterId(self.cluster_id.clone().unwrap_or_default())
            }
            Command::CreateJob { job } => self.create_job(index, job),
            Command::RemoveJob { id, token } => self.remove_job(id, token),
            Command::RegisterHost { name, id, now_ms } => {
                let result = self.register_host(index, name, id, *now_ms);
                self.track_host(index, name, false, *now_ms);
                result
            }
            Command::AgentUp {
                name,
                id,
                labels,
                env,
                host_info,
                agent_info,
                now_ms,
                cert_serial,
                address,
            } => {
                let was_up = self.hosts.get(name).is_some_and(|h| h.up);
                self.record_certificate(name, cert_serial.as_deref());
                let result = self.agent_up(
                    index,
                    name,
                    id,
                    labels,
                    env,
                    host_info.clone(),
                    agent_info.clone(),
                    *now_ms,
                );
                if let Some(host) = self.hosts.get_mut(name) {
                    host.address = address.clone();
                }
                self.track_host(index, name, !was_up, *now_ms);
                result
            }
            Command::UpdateHostInfo {
                name,
                host_info,
                agent_info,
            } => self.update_host_info(index, name, host_info.clone(), agent_info.clone()),
            Command::HostsDown { names, now_ms } => self.hosts_down(index, names, *now_ms),
            Command::DeregisterHost { name, now_ms } => {
                let result = self.deregister_host(name);
                if result == CommandResult::Ok {
                    self.revoke_host_certificate(name);
                    self.track_host(index, name, false, *now_ms);
                }
                result
            }
            Command::DeregisterDeadHost {
                name,
                down_since_ms,
                now_ms,
            } => {
                let result = self.deregister_dead_host(name, *down_since_ms);
                if result == CommandResult::Ok {
                    // Reaped, not banned: the agent may come back with its certificate.
                    self.forget_host_certificates(name);
                    self.track_host(index, name, false, *now_ms);
                }
                result
            }
            Command::Deploy {
                host,
                deployment,
                token,
            } => self.deploy(index, host, deployment, token),
            Command::SetGoal {
                host,
                job,
                goal,
                token,
            } => self.set_goal(index, host, job, *goal, token),
            Command::Undeploy { host, job, token } => self.undeploy(host, job, token),
            Command::ReportStatuses { updates } => self.report_statuses(index, updates),
            Command::CreateDeploymentGroup { group } => {
                self.create_deployment_group(index, group.clone())
            }
            Command::RemoveDeploymentGroup { name } => self.remove_deployment_group(name),
            Command::RollingUpdate {
                name,
                job,
                options,
                master,
                now_ms,
            } => self.rolling_update(index, name, job, options.as_ref(), master, *now_ms),
            Command::AdvanceRollout {
                name,
                run,
                task_index,
                master,
                now_ms,
            } => self.advance_rollout(index, name, *run, *task_index, master, *now_ms),
            Command::StopDeploymentGroup { name } => self.stop_deployment_group(index, name),
            Command::CreateApiToken { token } => self.create_api_token(token),
            Command::BootstrapApiTokens { token } => self.bootstrap_api_tokens(token),
            Command::RevokeApiToken { id_or_name } => self.revoke_api_token(id_or_name),
            Command::InitPki { pki } => self.init_pki(pki),
            Command::RotateJoinSecret { role, secret } => self.rotate_join_secret(role, secret),
            Command::CertificateRenewed {
                host,
                presented,
                serial,
            } => {
                self.certificate_renewed(host, presented, serial);
                CommandResult::Ok
            }
            Command::MasterRemoved { id, master } => self.master_removed(*id, master),
            Command::SetHistoryLimit { limit } => self.set_history_limit(*limit),
        }
    }
}

/// The keys of a job in the tables: its full id and its `name:version`.
///
/// The leader only proposes jobs with a full id, so a missing part is never stored.
pub fn job_keys(job: &Job) -> (String, String) {
    match &job.id {
        Some(id) => (
            id.to_string(),
            format!("{}:{}", id.name, id.version.as_deref().unwrap_or_default()),
        ),
        None => (String::new(), String::new()),
    }
}

#[cfg(test)]
mod snapshot_tests {
    use helios_api::{Deployment, Goal};

    use super::*;

    /// A state with every table filled, through the same commands the leader proposes.
    fn filled_state() -> State {
        let mut state = State::default();
        let job: Job = serde_json::from_value(serde_json::json!({
            "id": "web:1",
            "image": "busybox:latest",
            "command": ["sleep", "1000"],
            "env": {"A": "é ☃", "EMPTY": ""},
            "ports": {"http": {"internalPort": 80, "externalPort": 8080, "protocol": "tcp"}},
            "expires": "2030-01-01T12:00:00.000+0000",
            "created": 1700000000123i64,
            "token": "t"
        }))
        .unwrap();
        let job = job.with_hash();
        let id = job.id.clone().unwrap();
        let commands = [
            Command::InitCluster {
                cluster_id: "c-1".into(),
            },
            Command::CreateJob { job: job.into() },
            Command::RegisterHost {
                name: "h1".into(),
                id: "h1-id".into(),
                now_ms: 5,
            },
            Command::Deploy {
                host: "h1".into(),
                deployment: Deployment {
                    deployer_master: Some("m1".into()),
                    deployer_user: None,
                    deployment_group_name: None,
                    goal: Goal::Start,
                    job_id: id,
                },
                token: "t".into(),
            },
        ];
        for (index, command) in commands.iter().enumerate() {
            let result = state.apply(index as u64 + 1, command);
            assert!(
                matches!(
                    result,
                    CommandResult::ClusterId(_)
                        | CommandResult::JobCreated { .. }
                        | CommandResult::Ok
                ),
                "{command:?}: {result:?}"
            );
        }
        assert_eq!(state.ports.get("h1").map(|p| p.len()), Some(1));
        state
    }

    /// `State` has no `PartialEq`; its JSON form compares every table.
    fn assert_same_tables(back: &State, state: &State) {
        assert_eq!(
            serde_json::to_value(back).unwrap(),
            serde_json::to_value(state).unwrap()
        );
    }

    #[test]
    fn a_snapshot_round_trips_every_table() {
        let state = filled_state();
        let bytes = helios_store::encode_snapshot(&state).unwrap();
        let back: State = helios_store::decode_snapshot(&bytes).unwrap();
        assert_same_tables(&back, &state);
    }

    #[test]
    fn a_snapshot_from_before_deployment_groups_installs_with_none() {
        let mut state = filled_state();
        state.create_deployment_group(7, helios_api::DeploymentGroup::new("g", vec![]));
        let mut older = serde_json::to_value(&state).unwrap();
        older.as_object_mut().unwrap().remove("deployment_groups");
        // A JSON snapshot (earlier versions wrote JSON) without the table.
        let bytes = serde_json::to_vec(&older).unwrap();
        let back: State = helios_store::decode_snapshot(&bytes).unwrap();
        assert!(back.deployment_groups.is_empty());
        assert_eq!(back.jobs.len(), state.jobs.len());
    }

    #[test]
    fn a_json_snapshot_of_an_earlier_version_still_installs() {
        let state = filled_state();
        let json = serde_json::to_vec(&state).unwrap();
        let back: State = helios_store::decode_snapshot(&json).unwrap();
        assert_same_tables(&back, &state);
        assert!(helios_store::decode_snapshot::<State>(b"\xc1 not a snapshot").is_err());
    }
}

#[cfg(test)]
mod dead_host_tests {
    use super::*;

    fn agent_up(name: &str, now_ms: i64) -> Command {
        Command::AgentUp {
            name: name.into(),
            id: format!("{name}-id"),
            labels: BTreeMap::new(),
            env: BTreeMap::new(),
            host_info: None,
            agent_info: None,
            now_ms,
            cert_serial: None,
            address: None,
        }
    }

    fn down(name: &str, now_ms: i64) -> Command {
        Command::HostsDown {
            names: vec![name.into()],
            now_ms,
        }
    }

    fn reap(name: &str, down_since_ms: i64) -> Command {
        Command::DeregisterDeadHost {
            name: name.into(),
            down_since_ms,
            now_ms: 0,
        }
    }

    #[test]
    fn a_host_is_reaped_only_if_still_down_since_it_was_judged() {
        let mut s = State::default();
        s.apply(1, &agent_up("h1", 10));
        s.apply(2, &down("h1", 20));
        // The agent came back after the reaper read the state: the host stays.
        s.apply(3, &agent_up("h1", 30));
        assert_eq!(s.apply(4, &reap("h1", 20)), CommandResult::HostNotDown);
        assert!(s.hosts.contains_key("h1"));
        // Down again, later: the reaper's older observation does not count.
        s.apply(5, &down("h1", 40));
        assert_eq!(s.apply(6, &reap("h1", 20)), CommandResult::HostNotDown);
        assert!(s.hosts.contains_key("h1"));
        // Judged on the current DOWN period: reaped.
        assert_eq!(s.apply(7, &reap("h1", 40)), CommandResult::Ok);
        assert!(!s.hosts.contains_key("h1"));
        assert_eq!(s.apply(8, &reap("h1", 40)), CommandResult::HostNotFound);
    }
}

#[cfg(test)]
mod idempotent_tests {
    use super::*;

    fn job(name: &str, created: i64) -> Job {
        let job: Job = serde_json::from_value(serde_json::json!({
            "id": format!("{name}:1"),
            "image": "busybox:latest",
            "created": created,
        }))
        .unwrap();
        job.with_hash()
    }

    /// Creates job `name:1`, stamped `created`.
    fn create(name: &str, created: i64) -> Command {
        Command::CreateJob {
            job: job(name, created).into(),
        }
    }

    fn keyed(key: &str, fingerprint: &str, now_ms: i64, command: Command) -> Command {
        Command::Idempotent {
            key: key.into(),
            fingerprint: fingerprint.into(),
            now_ms,
            command: Box::new(command),
        }
    }

    #[test]
    fn a_retried_create_gets_its_first_answer_and_changes_nothing() {
        let mut s = State::default();
        let first = s.apply_owned(1, keyed("k", "f", 10, create("a", 1)));
        let CommandResult::JobCreated { id } = first.clone() else {
            panic!("{first:?}")
        };
        // The retry was stamped anew by another leader: another `created`, another hash.
        let retry = keyed("k", "f", 20, create("a", 2));
        assert_eq!(s.apply_owned(2, retry), first);
        assert_eq!(s.jobs.len(), 1);
        assert!(s.jobs.contains_key(&id));
        // Without the key, the same job is refused as Helios refuses it.
        let again = s.apply_owned(3, create("a", 3));
        assert!(matches!(again, CommandResult::JobAlreadyExists { .. }));
    }

    #[test]
    fn a_key_reused_for_another_request_is_refused_and_changes_nothing() {
        let mut s = State::default();
        s.apply_owned(1, keyed("k", "f", 10, create("a", 1)));
        let other = keyed("k", "g", 11, create("b", 1));
        assert_eq!(s.apply_owned(2, other), CommandResult::IdempotencyKeyReused);
        assert_eq!(s.jobs.len(), 1);
        assert_eq!(s.idempotency.len(), 1);
    }

    #[test]
    fn a_retried_remove_gets_ok_not_job_not_found() {
        let mut s = State::default();
        let CommandResult::JobCreated { id } = s.apply_owned(1, create("a", 1)) else {
            panic!("not created")
        };
        let remove = || Command::RemoveJob {
            id: id.clone(),
            token: String::new(),
        };
        assert_eq!(
            s.apply_owned(2, keyed("r", "f", 10, remove())),
            CommandResult::Ok
        );
        assert_eq!(
            s.apply_owned(3, keyed("r", "f", 11, remove())),
            CommandResult::Ok
        );
        assert_eq!(s.apply_owned(4, remove()), CommandResult::JobNotFound);
    }

    #[test]
    fn a_snapshot_without_the_key_table_installs_with_an_empty_one() {
        let mut s = State::default();
        s.apply_owned(1, create("a", 1));
        let mut older = serde_json::to_value(&s).unwrap();
        older.as_object_mut().unwrap().remove("idempotency");
        for bytes in [
            serde_json::to_vec(&older).unwrap(),
            helios_store::encode_snapshot(&older).unwrap(),
        ] {
            let back: State = helios_store::decode_snapshot(&bytes).unwrap();
            assert_eq!(back.jobs.len(), 1);
            assert!(back.idempotency.is_empty());
        }
    }
}
