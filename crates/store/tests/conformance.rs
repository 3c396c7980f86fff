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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installing_the_snapshot_the_store_holds_does_not_write_it_again() {
    use openraft::storage::RaftStateMachine;
    let backend: Arc<dyn KvBackend> = Arc::new(SledBackend::temporary().unwrap());
    let meta = |index| openraft::alias::SnapshotMetaOf::<TestConfig> {
        last_log_id: Some(openraft::testing::log_id::<TestConfig>(1, 0, index)),
        ..Default::default()
    };
    let data = helios_store::encode_snapshot(&vec!["a".to_string()]).unwrap();
    let mut sm = Sm::new(backend.clone());
    sm.install_snapshot(&meta(5), data.clone()).await.unwrap();
    let written = snapshot_keys(backend.as_ref());

    // A restart: a new state machine on the same store is given the snapshot it holds.
    let mut restarted = Sm::new(backend.clone());
    restarted
        .install_snapshot(&meta(5), data.clone())
        .await
        .unwrap();
    assert_eq!(snapshot_keys(backend.as_ref()), written);
    let (applied, _) = restarted.applied_state().await.unwrap();
    assert_eq!(applied, meta(5).last_log_id);
    let state = restarted.shared();
    assert_eq!(state.read().unwrap().state, vec!["a".to_string()]);

    // A newer snapshot (from the leader) is written under a key of its own.
    restarted.install_snapshot(&meta(9), data).await.unwrap();
    let keys = snapshot_keys(backend.as_ref());
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys[1].starts_with("data/00000000000000000009-"),
        "{keys:?}"
    );
}

/// A snapshot at `index` holding `["a"]`, installed into `backend` as a state machine does.
async fn snapshot_at(backend: &Arc<dyn KvBackend>, index: u64) {
    use openraft::storage::RaftStateMachine;
    let meta = openraft::alias::SnapshotMetaOf::<TestConfig> {
        last_log_id: Some(openraft::testing::log_id::<TestConfig>(1, 0, index)),
        ..Default::default()
    };
    let data = helios_store::encode_snapshot(&vec!["a".to_string()]).unwrap();
    Sm::new(backend.clone())
        .install_snapshot(&meta, data)
        .await
        .unwrap();
}

/// Moves `main`'s snapshot into `snapshots`, checks `main` kept none, and returns the last log
/// index of the snapshot `snapshots` then holds.
async fn moved(main: &Arc<dyn KvBackend>, snapshots: &Arc<dyn KvBackend>) -> Option<u64> {
    helios_store::move_snapshot::<TestConfig>(main.as_ref(), snapshots.as_ref()).unwrap();
    assert!(snapshot_keys(main.as_ref()).is_empty());
    held_index(snapshots).await
}

/// The last log index of the snapshot `backend` holds, read as a state machine does.
async fn held_index(backend: &Arc<dyn KvBackend>) -> Option<u64> {
    use openraft::storage::RaftStateMachine;
    let snapshot = Sm::new(backend.clone())
        .get_current_snapshot()
        .await
        .unwrap()?;
    snapshot.meta.last_log_id.map(|id| id.index)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_in_the_main_database_moves_to_the_snapshots_own() {
    let main: Arc<dyn KvBackend> = Arc::new(SledBackend::temporary().unwrap());
    let snapshots: Arc<dyn KvBackend> = Arc::new(SledBackend::temporary().unwrap());
    snapshot_at(&main, 5).await;
    let before = snapshot_keys(main.as_ref());

    assert_eq!(moved(&main, &snapshots).await, Some(5));
    assert_eq!(snapshot_keys(snapshots.as_ref()), before);

    // Again (a restart): nothing to move, nothing changes.
    assert_eq!(moved(&main, &snapshots).await, Some(5));
    assert_eq!(snapshot_keys(snapshots.as_ref()), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_cut_short_is_made_again_and_an_older_snapshot_never_wins() {
    let main: Arc<dyn KvBackend> = Arc::new(SledBackend::temporary().unwrap());
    let snapshots: Arc<dyn KvBackend> = Arc::new(SledBackend::temporary().unwrap());
    snapshot_at(&main, 5).await;
    // Cut short: the data arrived, the pointer did not.
    for (key, value) in main
        .range(
            helios_store::Tree::Snapshot,
            std::ops::Bound::Unbounded,
            std::ops::Bound::Unbounded,
        )
        .unwrap()
        .into_iter()
        .filter(|(k, _)| k.starts_with(b"data/"))
    {
        snapshots
            .write(
                helios_store::Tree::Snapshot,
                vec![helios_store::Op::Put(key, value)],
            )
            .unwrap();
    }
    assert_eq!(moved(&main, &snapshots).await, Some(5));

    // The snapshots' database holds a later one than the main database: it stays.
    snapshot_at(&snapshots, 9).await;
    snapshot_at(&main, 7).await;
    assert_eq!(moved(&main, &snapshots).await, Some(9));

    // An earlier version ran on this directory since (it writes to the main database; it
    // starts only while its log was not purged past the moved snapshot): its later snapshot
    // replaces the one left in the snapshots' database.
    snapshot_at(&main, 12).await;
    assert_eq!(moved(&main, &snapshots).await, Some(12));
    assert_eq!(snapshot_keys(snapshots.as_ref()).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_of_an_earlier_version_opens_with_its_snapshot_moved() {
    use openraft::storage::RaftStateMachine;
    let dir = tempfile::tempdir().unwrap();
    {
        // An earlier version: the snapshot in the main database.
        let main: Arc<dyn KvBackend> = Arc::new(SledBackend::open(dir.path()).unwrap());
        snapshot_at(&main, 5).await;
    }
    let (main, snapshots) = helios_store::open_data_dir::<TestConfig>(dir.path()).unwrap();
    assert!(snapshot_keys(&main).is_empty());
    let snapshots: Arc<dyn KvBackend> = Arc::new(snapshots);
    let found = Sm::new(snapshots.clone())
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("the snapshot moved");
    assert_eq!(found.meta.last_log_id.map(|id| id.index), Some(5));
    let state: Vec<String> = helios_store::decode_snapshot(&found.snapshot).unwrap();
    assert_eq!(state, vec!["a".to_string()]);
    drop((main, snapshots));

    // Opened again: the same snapshot, from the snapshots' database.
    let (main, snapshots) = helios_store::open_data_dir::<TestConfig>(dir.path()).unwrap();
    assert!(snapshot_keys(&main).is_empty());
    let snapshots: Arc<dyn KvBackend> = Arc::new(snapshots);
    assert_eq!(held_index(&snapshots).await, Some(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_layouts_snapshot_moves_and_a_whole_copy_is_never_replaced_by_its_equal() {
    let main: Arc<dyn KvBackend> = Arc::new(SledBackend::temporary().unwrap());
    let snapshots: Arc<dyn KvBackend> = Arc::new(SledBackend::temporary().unwrap());
    let meta = openraft::alias::SnapshotMetaOf::<TestConfig> {
        last_log_id: Some(openraft::testing::log_id::<TestConfig>(1, 0, 3)),
        ..Default::default()
    };
    let data = helios_store::encode_snapshot(&vec!["old".to_string()]).unwrap();
    main.write(
        helios_store::Tree::Snapshot,
        vec![
            helios_store::Op::Put(b"meta".to_vec(), serde_json::to_vec(&meta).unwrap()),
            helios_store::Op::Put(b"data".to_vec(), data),
        ],
    )
    .unwrap();
    assert_eq!(moved(&main, &snapshots).await, Some(3));

    // The same snapshot in both (a crash after the copy, before `from` was emptied): the
    // whole copy stays as it is.
    snapshot_at(&main, 8).await;
    snapshot_at(&snapshots, 8).await;
    let copied = snapshot_keys(snapshots.as_ref());
    assert_eq!(moved(&main, &snapshots).await, Some(8));
    assert_eq!(snapshot_keys(snapshots.as_ref()), copied);

    // A pointer whose data is missing (its file lost with the power) is not a copy.
    snapshot_at(&main, 8).await;
    let data_key = copied.iter().find(|k| k.starts_with("data/")).unwrap();
    snapshots
        .write(
            helios_store::Tree::Snapshot,
            vec![helios_store::Op::Delete(data_key.as_bytes().to_vec())],
        )
        .unwrap();
    assert_eq!(moved(&main, &snapshots).await, Some(8));
}
