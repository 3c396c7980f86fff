//! Runs openraft's storage conformance suite against the log store (segment files) and the
//! sled-backed state machine, on real directories, and checks that a reopened store keeps what was synced.

use std::sync::Arc;

use helios_store::{KvBackend, LogStore, SledBackend, StateMachineLogic, StateMachineStore};
use openraft::storage::RaftLogStorage;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::{EntryPayload, StorageError};

openraft::declare_raft_types!(
    /// A small type config for the suite: string commands echo back as responses.
    pub TestConfig: D = String, R = String
);

/// Echoes normal entries and counts them.
struct Echo;

impl StateMachineLogic<TestConfig> for Echo {
    type State = Vec<String>;

    fn apply(state: &mut Vec<String>, entry: openraft::alias::EntryOf<TestConfig>) -> String {
        match entry.payload {
            EntryPayload::Normal(s) => {
                state.push(s.clone());
                s
            }
            _ => String::new(),
        }
    }
}

type Sm = StateMachineStore<TestConfig, Echo>;

struct SledStoreBuilder;

impl StoreBuilder<TestConfig, LogStore<TestConfig>, Sm, tempfile::TempDir> for SledStoreBuilder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore<TestConfig>, Sm), StorageError<TestConfig>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend: Arc<dyn KvBackend> =
            Arc::new(SledBackend::open(dir.path()).expect("open sled"));
        let log = LogStore::open(backend.clone(), dir.path()).expect("start the log store");
        Ok((dir, log, StateMachineStore::new(backend)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_storage_conformance_suite() {
    Suite::test_all(SledStoreBuilder).await.expect("suite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vote_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let vote = openraft::impls::Vote::new(7, 3);
    {
        let backend: Arc<dyn KvBackend> = Arc::new(SledBackend::open(dir.path()).unwrap());
        let mut log = LogStore::<TestConfig>::open(backend, dir.path()).unwrap();
        log.save_vote(&vote).await.unwrap();
        // The writer thread lets the database go before `close` returns.
        log.close().await.unwrap();
    }
    let backend: Arc<dyn KvBackend> = Arc::new(SledBackend::open(dir.path()).expect("reopen"));
    let mut log = LogStore::<TestConfig>::open(backend, dir.path()).unwrap();
    use openraft::storage::RaftLogReader;
    assert_eq!(log.read_vote().await.unwrap(), Some(vote));
}

/// Every key of the snapshot tree, in order.
fn snapshot_keys(backend: &dyn KvBackend) -> Vec<String> {
    use std::ops::Bound::Unbounded;
    backend
        .range(helios_store::Tree::Snapshot, Unbounded, Unbounded)
        .unwrap()
        .into_iter()
        .map(|(k, _)| String::from_utf8(k).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_snapshot_replaces_the_old_one_whole() {
    use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot};
    let backend: Arc<dyn KvBackend> = Arc::new(SledBackend::temporary().unwrap());
    // The first layout's two keys, as an earlier version left them.
    let legacy = openraft::alias::SnapshotMetaOf::<TestConfig>::default();
    backend
        .write(
            helios_store::Tree::Snapshot,
            vec![
                helios_store::Op::Put(b"meta".to_vec(), serde_json::to_vec(&legacy).unwrap()),
                helios_store::Op::Put(b"data".to_vec(), b"[\"old\"]".to_vec()),
            ],
        )
        .unwrap();
    let mut sm = Sm::new(backend.clone());
    let found = sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(found.snapshot, b"[\"old\"]".to_vec());

    let meta = |index| openraft::alias::SnapshotMetaOf::<TestConfig> {
        last_log_id: Some(openraft::testing::log_id::<TestConfig>(1, 0, index)),
        ..Default::default()
    };
    let first = helios_store::encode_snapshot(&vec!["a".to_string()]).unwrap();
    sm.install_snapshot(&meta(5), first).await.unwrap();
    let built = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    let keys = snapshot_keys(backend.as_ref());
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0], "current");
    assert!(
        keys[1].starts_with("data/00000000000000000005-"),
        "{keys:?}"
    );
    let Snapshot {
        meta: got,
        snapshot,
    } = sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(got, built.meta);
    assert_eq!(got.last_log_id, meta(5).last_log_id);
    let state: Vec<String> = helios_store::decode_snapshot(&snapshot).unwrap();
    assert_eq!(state, vec!["a".to_string()]);
}
