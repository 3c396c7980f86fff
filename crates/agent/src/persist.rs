//! The agent's state directory: the process lock, the agent id, and the files that let a
//! restarted agent adopt its containers and keep its ports (reference §4.5).
//!
//! Files: `lock` (flock held for the process lifetime), `id`, `executions.json` (job, goal,
//! allocated ports, deployment metadata per job), `task-status.json` (the last status per
//! job, container ids included) and `cluster.json` (the cluster id last seen and the last
//! applied assignment index). Every write is atomic: temp file, fsync, rename, fsync of the
//! directory. This module knows nothing of Docker or the masters.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use fs2::FileExt;
use helios_api::{Goal, Job, JobId, PortMapping, TaskStatus};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Errors opening the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    /// Another agent holds the lock: two agents must never share a state dir.
    #[error("State lock file already locked: {}", .0.display())]
    Locked(PathBuf),
    /// The directory or a file in it cannot be created or read.
    #[error("state dir {}: {source}", path.display())]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// One job this agent is told to run, as persisted in `executions.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    /// The job.
    pub job: Job,
    /// What the master wants.
    pub goal: Goal,
    /// The job's ports with their external ports allocated; `None` while allocation fails
    /// (the job is then pending and retried).
    #[serde(default)]
    pub ports: Option<BTreeMap<String, PortMapping>>,
    /// Who deployed it.
    #[serde(default)]
    pub deployer_user: Option<String>,
    /// Which master accepted the deployment.
    #[serde(default)]
    pub deployer_master: Option<String>,
    /// Deployment group owning the deployment.
    #[serde(default)]
    pub deployment_group_name: Option<String>,
}

/// The cluster the agent last belonged to, as persisted in `cluster.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterState {
    /// The cluster id from the last Welcome; `""` for a new agent.
    #[serde(default)]
    pub cluster_id: String,
    /// The Raft index of the last assignments applied; 0 if none.
    #[serde(default)]
    pub last_index: u64,
}

/// An opened, locked state directory. Dropping it releases the lock.
#[derive(Debug)]
pub struct StateDir {
    /// The directory.
    path: PathBuf,
    /// The locked `lock` file; the flock lives as long as this handle.
    _lock: File,
}

/// A new agent id: 20 random bytes in upper-case hex, as Helios's.
pub fn random_agent_id() -> String {
    let bytes: [u8; 20] = rand::random();
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

const LOCK: &str = "lock";
const ID: &str = "id";
const EXECUTIONS: &str = "executions.json";
const STATUSES: &str = "task-status.json";
const CLUSTER: &str = "cluster.json";

impl StateDir {
    /// Creates the directory if needed and takes its lock without waiting.
    pub fn open(path: impl AsRef<Path>) -> Result<StateDir, StateDirError> {
        let path = path.as_ref().to_path_buf();
        let io_err = |p: &Path, source| StateDirError::Io {
            path: p.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(&path).map_err(|e| io_err(&path, e))?;
        let lock_path = path.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_err(&lock_path, e))?;
        if lock.try_lock_exclusive().is_err() {
            return Err(StateDirError::Locked(lock_path));
        }
        Ok(StateDir { path, _lock: lock })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The agent id: `given` if set, else the persisted one, else 20 random bytes in
    /// upper-case hex, persisted for the next start.
    pub fn agent_id(&self, given: Option<&str>) -> io::Result<String> {
        if let Some(id) = given {
            return Ok(id.to_string());
        }
        let file = self.path.join(ID);
        match std::fs::read_to_string(&file) {
            Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_string()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let id = random_agent_id();
        write_atomic(&file, id.as_bytes())?;
        Ok(id)
    }

    /// The persisted executions (empty when none or unreadable).
    pub fn load_executions(&self) -> BTreeMap<JobId, Execution> {
        self.load(EXECUTIONS)
    }

    /// Persists the executions.
    pub fn save_executions(&self, executions: &BTreeMap<JobId, Execution>) -> io::Result<()> {
        self.save(EXECUTIONS, executions)
    }

    /// The persisted task statuses (empty when none or unreadable).
    pub fn load_statuses(&self) -> BTreeMap<JobId, TaskStatus> {
        self.load(STATUSES)
    }

    /// Persists the task statuses.
    pub fn save_statuses(&self, statuses: &BTreeMap<JobId, TaskStatus>) -> io::Result<()> {
        self.save(STATUSES, statuses)
    }

    /// The persisted cluster id and last applied index.
    pub fn load_cluster(&self) -> ClusterState {
        self.load(CLUSTER)
    }

    /// The executions file, for a writer that must not hold the state dir (and its lock).
    pub fn executions_file(&self) -> PathBuf {
        self.path.join(EXECUTIONS)
    }

    /// The task statuses file, for a writer that must not hold the state dir (and its lock).
    pub fn statuses_file(&self) -> PathBuf {
        self.path.join(STATUSES)
    }

    /// Persists the cluster id and last applied index.
    pub fn save_cluster(&self, cluster: &ClusterState) -> io::Result<()> {
        self.save(CLUSTER, cluster)
    }

    /// Reads a JSON file; a missing file is the default, and an unreadable one is moved
    /// aside (`<name>.corrupt`) with a warning, since the masters resend the assignments.
    fn load<T: DeserializeOwned + Default>(&self, name: &str) -> T {
        let file = self.path.join(name);
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return T::default(),
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "cannot read state file");
                return T::default();
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                let aside = self.path.join(format!("{name}.corrupt"));
                tracing::warn!(file = %file.display(), error = %e, aside = %aside.display(),
                    "state file unreadable; moved aside");
                let _ = std::fs::rename(&file, &aside);
                T::default()
            }
        }
    }

    fn save<T: Serialize>(&self, name: &str, value: &T) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
        write_atomic(&self.path.join(name), &bytes)
    }
}

/// Writes `bytes` to `path` so that a crash leaves either the old or the new content:
/// write a temp file beside it, fsync it, rename it over, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    File::open(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    })?
    .sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use helios_api::State;

    #[test]
    fn lock_is_exclusive_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateDir::open(dir.path()).unwrap();
        let err = StateDir::open(dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "State lock file already locked: {}",
                dir.path().join("lock").display()
            )
        );
        drop(first);
        StateDir::open(dir.path()).unwrap();
    }

    #[test]
    fn id_is_generated_once_and_given_id_wins() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::open(dir.path()).unwrap();
        let id = sd.agent_id(None).unwrap();
        assert_eq!(id.len(), 40);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))
        );
        assert_eq!(sd.agent_id(None).unwrap(), id);
        assert_eq!(sd.agent_id(Some("X")).unwrap(), "X");
        assert_eq!(sd.agent_id(None).unwrap(), id);
    }

    #[test]
    fn files_round_trip_and_corrupt_files_are_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::open(dir.path()).unwrap();
        assert!(sd.load_executions().is_empty());
        let id = JobId::full("a", "1", "0".repeat(40));
        let job = Job::new(id.clone(), "img");
        let exec = Execution {
            job: job.clone(),
            goal: Goal::Start,
            ports: Some(BTreeMap::from([(
                "http".into(),
                PortMapping::with_external(80, 20001),
            )])),
            deployer_user: Some("me".into()),
            deployer_master: None,
            deployment_group_name: None,
        };
        let execs = BTreeMap::from([(id.clone(), exec)]);
        sd.save_executions(&execs).unwrap();
        assert_eq!(sd.load_executions(), execs);
        let statuses = BTreeMap::from([(id, TaskStatus::new(job, Goal::Start, State::Running))]);
        sd.save_statuses(&statuses).unwrap();
        assert_eq!(sd.load_statuses(), statuses);
        let cluster = ClusterState {
            cluster_id: "c".into(),
            last_index: 7,
        };
        sd.save_cluster(&cluster).unwrap();
        assert_eq!(sd.load_cluster(), cluster);
        std::fs::write(dir.path().join(CLUSTER), b"{not json").unwrap();
        assert_eq!(sd.load_cluster(), ClusterState::default());
        assert!(dir.path().join("cluster.json.corrupt").exists());
    }
}
