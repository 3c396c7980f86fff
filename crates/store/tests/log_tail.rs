//! The log store's in-memory tail: reads that span the backend and the tail, truncation and
//! purge below and inside the tail, and a reopened store that finds exactly what was written.

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::testing::log_id;
use openraft::type_config::TypeConfigExt;

mod common;

use common::{Store, TestConfig, open, read};

fn entry(term: u64, index: u64) -> openraft::alias::EntryOf<TestConfig> {
    RaftEntry::new_normal(
        log_id::<TestConfig>(term, 0, index),
        format!("{term}/{index}"),
    )
}

/// Appends `term` entries `from..to` in batches of 100 and waits until each batch is synced.
async fn append(store: &mut Store, term: u64, from: u64, to: u64) {
    let mut i = from;
    while i < to {
        let end = (i + 100).min(to);
        let (tx, rx) = TestConfig::oneshot();
        store
            .append((i..end).map(|j| entry(term, j)), IOFlushed::signal(tx))
            .await
            .unwrap();
        rx.await.unwrap().unwrap();
        i = end;
    }
}

fn expected(term: u64, range: std::ops::Range<u64>) -> Vec<String> {
    range.map(|i| format!("{term}/{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_span_backend_and_tail_through_truncate_purge_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let total = 3 * helios_store::TAIL_CAPACITY as u64;
    {
        let mut store = Store::open(open(dir.path()), dir.path()).unwrap();
        append(&mut store, 1, 0, total).await;
        // Most entries have left the tail by now: reads mix the backend and the tail.
        assert_eq!(read(&mut store, 0..total).await, expected(1, 0..total));
        assert_eq!(
            read(&mut store, 100..total - 100).await,
            expected(1, 100..total - 100)
        );
        assert_eq!(
            read(&mut store, total..total + 10).await,
            Vec::<String>::new()
        );

        // Truncating inside the tail, then appending a new term over it.
        let cut = total - 50;
        store
            .truncate_after(Some(log_id::<TestConfig>(1, 0, cut - 1)))
            .await
            .unwrap();
        assert_eq!(
            store.get_log_state().await.unwrap().last_log_id,
            Some(log_id::<TestConfig>(1, 0, cut - 1))
        );
        assert_eq!(
            read(&mut store, cut - 5..total).await,
            expected(1, cut - 5..cut)
        );
        append(&mut store, 2, cut, cut + 30).await;
        let mut want = expected(1, cut - 5..cut);
        want.extend(expected(2, cut..cut + 30));
        assert_eq!(read(&mut store, cut - 5..total + 100).await, want);

        // Truncating below the tail's floor: the backend's later entries must not reappear.
        let low = 1000;
        store
            .truncate_after(Some(log_id::<TestConfig>(1, 0, low - 1)))
            .await
            .unwrap();
        assert_eq!(
            read(&mut store, low - 3..total).await,
            expected(1, low - 3..low)
        );
        append(&mut store, 3, low, low + 10).await;
        let mut want = expected(1, low - 3..low);
        want.extend(expected(3, low..low + 10));
        assert_eq!(read(&mut store, low - 3..total).await, want);

        // Purging: the state names the purge point and reads start after it.
        store.purge(log_id::<TestConfig>(1, 0, 500)).await.unwrap();
        let state = store.get_log_state().await.unwrap();
        assert_eq!(
            state.last_purged_log_id,
            Some(log_id::<TestConfig>(1, 0, 500))
        );
        assert_eq!(state.last_log_id, Some(log_id::<TestConfig>(3, 0, low + 9)));
        assert_eq!(read(&mut store, 501..504).await, expected(1, 501..504));
        store.close().await.unwrap();
    }

    // Reopened: exactly the log as it was left.
    let mut store = Store::open(open(dir.path()), dir.path()).unwrap();
    let state = store.get_log_state().await.unwrap();
    assert_eq!(
        state.last_purged_log_id,
        Some(log_id::<TestConfig>(1, 0, 500))
    );
    assert_eq!(state.last_log_id, Some(log_id::<TestConfig>(3, 0, 1009)));
    let mut want = expected(1, 501..1000);
    want.extend(expected(3, 1000..1010));
    assert_eq!(read(&mut store, 0..total + 100).await, want);
    // And it goes on from there.
    append(&mut store, 4, 1010, 1020).await;
    assert_eq!(read(&mut store, 1008..1012).await, {
        let mut w = expected(3, 1008..1010);
        w.extend(expected(4, 1010..1012));
        w
    });
}

/// Many one-entry appends queued without waiting are written in few batches; truncating in
/// the middle of a segment and reopening gives exactly the entries before the cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_written_together_truncate_and_reopen_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let total = 2 * helios_store::TAIL_CAPACITY as u64 + 500;
    {
        let mut store = Store::open(open(dir.path()), dir.path()).unwrap();
        let mut waits = Vec::new();
        for i in 0..total {
            let (tx, rx) = TestConfig::oneshot();
            store
                .append([entry(1, i)], IOFlushed::signal(tx))
                .await
                .unwrap();
            waits.push(rx);
        }
        for rx in waits {
            rx.await.unwrap().unwrap();
        }
        assert_eq!(read(&mut store, 0..total).await, expected(1, 0..total));
        // Below the tail's floor, inside the segment that holds index 777.
        store
            .truncate_after(Some(log_id::<TestConfig>(1, 0, 776)))
            .await
            .unwrap();
        append(&mut store, 2, 777, 800).await;
        store.close().await.unwrap();
    }
    let mut store = Store::open(open(dir.path()), dir.path()).unwrap();
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id, Some(log_id::<TestConfig>(2, 0, 799)));
    let mut want = expected(1, 770..777);
    want.extend(expected(2, 777..800));
    assert_eq!(read(&mut store, 770..total).await, want);
}

/// A purge is answered at once; the purger thread then deletes the segment files below its
/// point, at the latest before `close` returns, and their disk space is returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purged_segments_leave_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join(helios_store::LOG_DIRECTORY);
    let disk = || -> (usize, u64) {
        let files: Vec<_> = std::fs::read_dir(&log_dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .collect();
        (files.len(), files.iter().sum())
    };
    let mut store = Store::open(open(dir.path()), dir.path()).unwrap();
    // About 3.5 segments of 8 MiB.
    let count = 4 * helios_store::SEGMENT_BYTES / 1100;
    let big = |i: u64| {
        RaftEntry::new_normal(
            log_id::<TestConfig>(1, 0, i),
            format!("{i}:{}", "b".repeat(1000)),
        )
    };
    let mut i = 0;
    while i < count {
        let end = (i + 500).min(count);
        let (tx, rx) = TestConfig::oneshot();
        store
            .append((i..end).map(big), IOFlushed::signal(tx))
            .await
            .unwrap();
        rx.await.unwrap().unwrap();
        i = end;
    }
    let (files_before, bytes_before) = disk();
    assert!(files_before >= 4, "{files_before} segments");
    store
        .purge(log_id::<TestConfig>(1, 0, count - 2))
        .await
        .unwrap();
    assert_eq!(read(&mut store, 0..count).await.len(), 1);
    store.close().await.unwrap();
    let (files_after, bytes_after) = disk();
    assert_eq!(
        files_after, 1,
        "only the segment holding the last entry stays"
    );
    assert!(
        bytes_after < bytes_before / 3,
        "{bytes_after} bytes on disk after the purge, {bytes_before} before"
    );
    let mut store = Store::open(open(dir.path()), dir.path()).unwrap();
    assert_eq!(
        read(&mut store, 0..count).await,
        vec![format!("{}:{}", count - 1, "b".repeat(1000))]
    );
}
