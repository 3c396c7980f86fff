//! The log after `kill -9`: a child process appends entries as fast as the writer syncs them
//! and prints each index it was told is durable; the parent kills it at a random moment,
//! reopens the directory, and checks that the log is one run without a hole, that it holds
//! every entry the child heard was durable, and that appends resume after its end.
//!
//! A hole is the dangerous failure: a member whose log has entry `n + 1` but lost `n`
//! passes Raft's consistency check at `n + 1` and then applies the log without `n`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::testing::log_id;
use openraft::type_config::TypeConfigExt;

mod common;

use common::{Store, TestConfig, open, read};

/// Set in the child: the database directory it appends to.
const CHILD_DIR: &str = "HELIOS_STORE_CRASH_DIR";

/// The payload of entry `index`: its index, then padding of a size that varies with it, so
/// that frames and batches end at different bytes.
fn payload(index: u64) -> String {
    let pad = (index.wrapping_mul(2_654_435_761) % 1500) as usize;
    format!("{index}:{}", "p".repeat(pad))
}

/// The child: appends batches of 1 to 40 entries from the end of the log, never waiting for
/// a sync before queuing the next batch (as openraft does), and prints `durable N` once the
/// callback of the append ending at `N` completes. Runs until killed; only when started by
/// [`a_killed_writer_leaves_a_log_without_holes`].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of the crash test"]
async fn crash_child_appends_until_killed() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let mut store =
        Store::open(open(std::path::Path::new(&dir)), std::path::Path::new(&dir)).unwrap();
    let last = store.get_log_state().await.unwrap().last_log_id;
    let mut next = last.map_or(0, |id| id.index + 1);
    let (durable_tx, mut durable_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        use std::io::Write;
        while let Some((end, rx)) = durable_rx.recv().await {
            let rx: openraft::type_config::alias::OneshotReceiverOf<
                TestConfig,
                std::io::Result<()>,
            > = rx;
            if let Ok(Ok(())) = rx.await {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "durable {end}");
                let _ = out.flush();
            }
        }
    });
    let mut batch = 1u64;
    loop {
        batch = batch * 7 % 41 + 1;
        let entries = (next..next + batch)
            .map(|i| RaftEntry::new_normal(log_id::<TestConfig>(1, 0, i), payload(i)));
        let (tx, rx) = TestConfig::oneshot();
        store.append(entries, IOFlushed::signal(tx)).await.unwrap();
        next += batch;
        durable_tx.send((next - 1, rx)).unwrap();
        tokio::task::yield_now().await;
    }
}

/// Kills the appending child again and again, each time after a different while, and checks
/// the log it leaves (see the module documentation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_writer_leaves_a_log_without_holes() {
    let dir = tempfile::tempdir().unwrap();
    let rounds = if std::env::var_os("HELIOS_LONG_FAULTS").is_some() {
        60
    } else {
        12
    };
    let mut durable_before = None::<u64>;
    for round in 0..rounds {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "crash_child_appends_until_killed",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("durable ") {
                    let _ = lines_tx.send(n.parse::<u64>().unwrap());
                }
            }
        });
        // Killed between 20 and 470 ms after its first durable append.
        let first = lines_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the child made an append durable");
        let mut durable = Some(first);
        let until = Instant::now() + Duration::from_millis(20 + (round as u64 * 97) % 450);
        while Instant::now() < until {
            if let Ok(n) = lines_rx.recv_timeout(Duration::from_millis(5)) {
                durable = Some(n);
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        while let Ok(n) = lines_rx.try_recv() {
            durable = durable.max(Some(n));
        }
        durable_before = durable_before.max(durable);

        let mut store = Store::open(open(dir.path()), dir.path()).unwrap();
        let last = store
            .get_log_state()
            .await
            .unwrap()
            .last_log_id
            .map(|id| id.index)
            .expect("a log");
        let durable = durable_before.unwrap();
        assert!(
            last >= durable,
            "round {round}: the log ends at {last}, but {durable} was durable"
        );
        let entries = read(&mut store, 0..last + 1).await;
        let holes: Vec<u64> = (0..=last)
            .filter(|i| entries.get(*i as usize).is_none_or(|p| *p != payload(*i)))
            .take(5)
            .collect();
        assert!(
            holes.is_empty() && entries.len() as u64 == last + 1,
            "round {round}: {} entries read for indexes 0..={last}; first wrong or missing: \
             {holes:?}",
            entries.len()
        );
        store.close().await.unwrap();
    }
}
