//! The log store's threads: `close` finishes the queued work, joins them and releases the
//! database at once; a closed store refuses writes; dropping a store without `close` still
//! writes what it accepted.

use std::sync::Arc;

use helios_store::{KvBackend, SledBackend};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::testing::log_id;
use openraft::type_config::TypeConfigExt;
use openraft::type_config::alias::OneshotReceiverOf;

mod common;

use common::{Store, TestConfig, open, read};
type Flushed = OneshotReceiverOf<TestConfig, std::io::Result<()>>;

/// Appends entries `from..to` as one append and returns without waiting for the sync.
async fn queue(store: &mut Store, from: u64, to: u64) -> Flushed {
    let (tx, rx) = TestConfig::oneshot();
    let entries =
        (from..to).map(|i| RaftEntry::new_normal(log_id::<TestConfig>(1, 0, i), i.to_string()));
    store.append(entries, IOFlushed::signal(tx)).await.unwrap();
    rx
}

fn texts(range: std::ops::Range<u64>) -> Vec<String> {
    range.map(|i| i.to_string()).collect()
}

/// Appends left in the queue are written by `close`, whose return leaves the directory free:
/// it opens again at once (no retry, no sleep) and holds every entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_writes_the_queue_and_releases_the_directory_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let total = 3000;
    {
        let backend = open(dir.path());
        let mut store = Store::open(backend, dir.path()).unwrap();
        let mut flushed = Vec::new();
        for from in (0..total).step_by(10) {
            flushed.push(queue(&mut store, from, from + 10).await);
        }
        // openraft's reader clones are gone by the time it shuts down.
        drop(store.get_log_reader().await);
        store.close().await.unwrap();
        for mut rx in flushed {
            let completed = rx
                .try_recv()
                .expect("callback completed before close returned");
            completed.unwrap();
        }
    }
    let backend: Arc<dyn KvBackend> =
        Arc::new(SledBackend::open(dir.path()).expect("the directory is free after close"));
    let mut store = Store::open(backend, dir.path()).unwrap();
    assert_eq!(
        store.get_log_state().await.unwrap().last_log_id,
        Some(log_id::<TestConfig>(1, 0, total - 1))
    );
    assert_eq!(read(&mut store, 0..total).await, texts(0..total));
    store.close().await.unwrap();
}

/// After `close`, every handle (here openraft's log reader) still reads but refuses writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_store_reads_but_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let backend: Arc<dyn KvBackend> = Arc::new(SledBackend::temporary().unwrap());
    let mut store = Store::open(backend, dir.path()).unwrap();
    queue(&mut store, 0, 5).await.await.unwrap().unwrap();
    let mut reader = store.get_log_reader().await;
    store.close().await.unwrap();
    assert_eq!(read(&mut reader, 0..5).await, texts(0..5));
    let (tx, _rx) = TestConfig::oneshot();
    let refused = reader
        .append(
            [RaftEntry::new_normal(
                log_id::<TestConfig>(1, 0, 5),
                "5".into(),
            )],
            IOFlushed::signal(tx),
        )
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "log store closed: its writer has stopped"
    );
    assert!(reader.purge(log_id::<TestConfig>(1, 0, 2)).await.is_err());
    assert!(reader.truncate_after(None).await.is_err());
    // A second close returns at once.
    reader.close().await.unwrap();
}

/// Dropping every handle without `close` loses nothing that was accepted: the writer still
/// writes and syncs the queue and completes the callbacks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_dropped_without_close_still_writes_its_queue() {
    let dir = tempfile::tempdir().unwrap();
    let backend: Arc<dyn KvBackend> = Arc::new(SledBackend::temporary().unwrap());
    let mut store = Store::open(backend.clone(), dir.path()).unwrap();
    let mut flushed = Vec::new();
    for from in (0..1000).step_by(10) {
        flushed.push(queue(&mut store, from, from + 10).await);
    }
    drop(store);
    for rx in flushed {
        rx.await.unwrap().unwrap();
    }
    let mut store = Store::open(backend, dir.path()).unwrap();
    assert_eq!(read(&mut store, 0..1000).await, texts(0..1000));
}
