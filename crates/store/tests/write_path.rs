//! Tests of the write-path helpers: range deletes without value copies, and the committed-id
//! hint that is written only now and then but always a lower bound, never past the log's end.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use helios_store::{KvBackend, LogStore, Op, SledBackend, Tree};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::type_config::TypeConfigExt;

openraft::declare_raft_types!(
    /// A small type config for these tests.
    pub TestConfig: D = String, R = String
);

fn key(i: u64) -> Vec<u8> {
    i.to_be_bytes().to_vec()
}

/// Opens a sled directory again: every handle on it must be gone (no retry).
fn reopen(dir: &Path) -> SledBackend {
    SledBackend::open(dir).unwrap_or_else(|e| panic!("cannot reopen {}: {e}", dir.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_range_removes_exactly_the_range_durably() {
    let dir = tempfile::tempdir().unwrap();
    {
        let b = SledBackend::open(dir.path()).unwrap();
        let batch = (1..=20)
            .map(|i| Op::Put(key(i), vec![i as u8; 100]))
            .collect();
        b.write(Tree::Log, batch).unwrap();
        b.write(Tree::Meta, vec![Op::Put(key(5), b"meta".to_vec())])
            .unwrap();
        // Purge-like: up to and including 5; truncate-like: after 15.
        b.remove_range(Tree::Log, Bound::Unbounded, Bound::Included(key(5)))
            .unwrap();
        b.remove_range(Tree::Log, Bound::Excluded(key(15)), Bound::Unbounded)
            .unwrap();
        // An empty range is fine.
        b.remove_range(Tree::Log, Bound::Excluded(key(100)), Bound::Unbounded)
            .unwrap();
        b.sync().unwrap();
    }
    let b = reopen(dir.path());
    let keys: Vec<Vec<u8>> = b
        .range(Tree::Log, Bound::Unbounded, Bound::Unbounded)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, (6..=15).map(key).collect::<Vec<_>>());
    // Other trees are untouched.
    assert_eq!(b.get(Tree::Meta, &key(5)).unwrap(), Some(b"meta".to_vec()));
}

fn log_id(index: u64) -> openraft::alias::LogIdOf<TestConfig> {
    use openraft::vote::RaftLeaderId;
    openraft::alias::LogIdOf::<TestConfig>::new(
        openraft::alias::LeaderIdOf::<TestConfig>::new(1, 1).to_committed(),
        index,
    )
}

/// Appends entries `from..=to` and waits until they are synced.
async fn append_synced(log: &mut LogStore<TestConfig>, from: u64, to: u64) {
    let (tx, rx) = TestConfig::oneshot();
    let entries = (from..=to).map(|i| RaftEntry::new_normal(log_id(i), i.to_string()));
    log.append(entries, IOFlushed::signal(tx)).await.unwrap();
    rx.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_hint_is_exact_in_memory_and_a_recent_lower_bound_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let last = 5000;
    {
        let backend: Arc<dyn KvBackend> = Arc::new(SledBackend::open(dir.path()).unwrap());
        let mut log = LogStore::<TestConfig>::open(backend.clone(), dir.path()).unwrap();
        assert_eq!(log.read_committed().await.unwrap(), None);
        append_synced(&mut log, 1, last).await;
        for i in 1..=last {
            log.save_committed(Some(log_id(i))).await.unwrap();
        }
        assert_eq!(log.read_committed().await.unwrap(), Some(log_id(last)));
        // A clone (openraft's log reader) sees the same value.
        let mut reader = log.get_log_reader().await;
        assert_eq!(reader.read_committed().await.unwrap(), Some(log_id(last)));
        backend.sync().unwrap();
        drop(reader);
        log.close().await.unwrap();
    }
    let backend: Arc<dyn KvBackend> = Arc::new(reopen(dir.path()));
    let mut log = LogStore::<TestConfig>::open(backend, dir.path()).unwrap();
    let on_disk = log
        .read_committed()
        .await
        .unwrap()
        .expect("a committed id was persisted");
    assert!(
        on_disk.index <= last,
        "{on_disk:?} is beyond the last commit"
    );
    assert!(on_disk.index + 1024 > last, "{on_disk:?} is too old");
}

/// A hint stored ahead of the entries it covers (a crash took them) reads as the log's last
/// entry: openraft re-applies the log up to the hint at start-up, and a hint past the end
/// would keep the member from starting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_hint_past_the_end_of_the_log_reads_as_its_last_entry() {
    let dir = tempfile::tempdir().unwrap();
    {
        let backend: Arc<dyn KvBackend> = Arc::new(SledBackend::open(dir.path()).unwrap());
        let mut log = LogStore::<TestConfig>::open(backend.clone(), dir.path()).unwrap();
        append_synced(&mut log, 1, 100).await;
        for i in 1..=3000 {
            log.save_committed(Some(log_id(i))).await.unwrap();
        }
        backend.sync().unwrap();
        log.close().await.unwrap();
    }
    let backend: Arc<dyn KvBackend> = Arc::new(reopen(dir.path()));
    let mut log = LogStore::<TestConfig>::open(backend, dir.path()).unwrap();
    assert_eq!(log.read_committed().await.unwrap(), Some(log_id(100)));
}
