//! openraft's `RaftLogStorage`: entries in [`SegmentLog`] files, the vote and the purge point
//! in a [`KvBackend`], with an in-memory tail and group commit.
//!
//! The Raft core never waits for the disk. `append` puts the entries in the *tail* (the
//! newest entries, held in memory) and queues them for the *writer*; `truncate_after` and
//! `purge` change the tail at once and queue their disk change behind the appends. The
//! writer thread (`helios-log-writer`) takes everything that is queued, applies it to the
//! segments in order (encoding entries there, off the async workers), runs one `sync`
//! (`fdatasync`) for all the appends of the batch, and only then completes their `IOFlushed`
//! callbacks, in order. Under load one sync serves many appends, and every acknowledged entry
//! is on disk. A purge's point is recorded and synced in the backend in order with the rest;
//! the purger thread then deletes the segments below it, since that would hold up the appends
//! queued behind (readers never see purged entries either way).
//!
//! A data directory from before the segments kept the log in the backend's [`Tree::Log`];
//! opening it moves those entries into segments once (see [`crate::log_records`]).
//!
//! Reads (replication, the state machine) come from the tail when they can, so recent entries
//! are neither read back from the backend nor decoded. The tail is authoritative for every
//! index from its `floor` up: an index at or above the floor that is not in the tail does not
//! exist, whatever the segments still hold while the writer catches up. Entries below the floor
//! were written to the segments before they left the tail. The tail keeps at most
//! [`TAIL_CAPACITY`] entries that the writer has written. Votes are written and synced before
//! `save_vote` returns.
//!
//! Both queues are bounded. The writer's holds `WRITER_QUEUE` changes: `append`,
//! `truncate_after` and `purge` wait for room (asynchronously, before they take the tail lock),
//! which holds openraft back while the disk is behind. The purger's holds one wake-up beside
//! the newest purge point, so the writer never waits for the purger.
//!
//! [`LogStore::close`] stops both threads once they have done everything queued, and joins
//! them, so that the backend is released as soon as the store's handles are dropped. Dropping
//! every handle without `close` is safe too: the threads still finish the queued work and then
//! end on their own, only nobody waits for them.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::io;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::type_config::alias::{LogIdOf, VoteOf};
use openraft::{OptionalSend, RaftTypeConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{KvBackend, Op, Tree};
use crate::codec::{decode, encode};
use crate::log_records;
use crate::segments::SegmentLog;

/// The directory of the log's segment files, inside a master's data directory.
pub const LOG_DIRECTORY: &str = "raft-log";

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
/// How long saving the vote may take before it is logged as slow (it is a few milliseconds on
/// a healthy disk).
const SLOW_VOTE: std::time::Duration = std::time::Duration::from_millis(200);
const LAST_PURGED: &[u8] = b"last_purged";

/// The committed id is written to the backend when it has advanced this many entries since
/// the last write (it is only a lower-bound hint for restarts).
const COMMITTED_PERSIST_EVERY: u64 = 1024;

/// Entries the writer has already written that the tail keeps for readers.
///
/// Why 2,048: readers want the entries just written (the state machine applies them, and
/// replication sends them to followers that keep up), which is the few hundred entries a write
/// burst keeps in flight; a follower further behind reads the segments. The tail is a count of
/// entries, not bytes, and an entry can be large (a batch of thousands of task statuses), so at
/// 8,192 it held 66-140 MB of each master at 10,000 hosts (`helios-bench scale`).
pub const TAIL_CAPACITY: usize = 2048;

/// Changes (appends, truncations, purges) the writer's queue holds.
///
/// Why 256: the writer takes everything queued as one batch with one sync, so the queue only
/// has to hold what arrives during one sync, and openraft already gathers many client writes
/// into one append; 256 appends per sync (25,600 a second at a 10 ms `fdatasync`) leave the
/// group commit room to work. The bound is how far accepted appends may run ahead of `fsync`,
/// and so also how large the unwritten part of the tail (never evicted) can grow. A full queue
/// makes `append` wait: back-pressure on openraft's core instead of growing memory.
///
/// The wait cannot deadlock: room is reserved before the tail lock is taken (the writer takes
/// that lock after a sync), and the writer never waits for the Raft core nor for a handle of
/// the store (completing a callback is a non-blocking watch or oneshot send).
const WRITER_QUEUE: usize = 256;

/// Wake-ups the purger's queue holds.
///
/// Why one: purge points only grow, and the purger removes everything up to the newest point,
/// which it reads (from [`Purger::target`]) after taking a wake-up. A full queue therefore
/// already means the purger will look again, a second wake-up would add nothing, and the writer
/// hands over a point with `try_send`, never waiting while a snapshot's worth of records is
/// being removed (which is why purges left the writer in the first place).
const PURGER_QUEUE: usize = 1;

/// The last committed id openraft saved, and the index last written to the backend.
struct CommittedHint<C: RaftTypeConfig> {
    latest: Option<Option<LogIdOf<C>>>,
    persisted: Option<u64>,
}

fn lock_poisoned() -> io::Error {
    io::Error::other("log store lock poisoned")
}

/// Counters of the group commit, for metrics.
#[derive(Debug, Default)]
pub struct FlushStats {
    /// Number of syncs run for appends.
    pub syncs: AtomicU64,
    /// Number of appends those syncs made durable.
    pub appends: AtomicU64,
}

/// A backend change queued for the writer, in the order the Raft core made it.
enum Pending<C: RaftTypeConfig> {
    /// Write these entries; complete the callback once they are synced.
    Append {
        entries: Vec<C::Entry>,
        callback: IOFlushed<C>,
        /// The tail sequence number of this append (see [`Tail::written_seq`]).
        seq: u64,
    },
    /// Remove every entry from this index on.
    TruncateFrom(u64),
    /// Record the purge point, then remove every entry up to and including it.
    Purge(LogIdOf<C>),
    /// Take no further changes: finish those queued (or with room reserved), then stop.
    Close,
}

/// The newest entries, in memory; see the module documentation.
struct Tail<C: RaftTypeConfig> {
    /// The tail holds every existing entry from this index on.
    floor: u64,
    /// Entries `floor, floor + 1, …`, each with the sequence number of its append.
    entries: VecDeque<(u64, C::Entry)>,
    /// The last log id (in the tail, or below the floor).
    last: Option<LogIdOf<C>>,
    /// The last purged log id.
    last_purged: Option<LogIdOf<C>>,
    /// Sequence number of the next append.
    next_seq: u64,
    /// Every append with a lower sequence number is written to the segments.
    written_seq: u64,
}

impl<C: RaftTypeConfig> Tail<C> {
    /// Drops written entries from the front while the tail is over capacity.
    fn evict(&mut self) {
        while self.entries.len() > TAIL_CAPACITY {
            match self.entries.front() {
                Some((seq, _)) if *seq < self.written_seq => {
                    self.entries.pop_front();
                    self.floor += 1;
                }
                _ => break,
            }
        }
    }
}

/// The writer thread, shared by every handle of a store: [`LogStore::close`] joins it.
struct WriterThread(Mutex<Option<std::thread::JoinHandle<()>>>);

impl Drop for WriterThread {
    /// The last handle is gone without `close`. The writer still applies what is queued (its
    /// queue disconnects only once drained), stops the purger and ends, but is not joined
    /// here: that would block an async worker for a sync.
    fn drop(&mut self) {
        if self.0.get_mut().is_ok_and(|thread| thread.is_some()) {
            tracing::debug!("log store dropped without close; its threads finish on their own");
        }
    }
}

/// The Raft log, vote and committed id of one master.
///
/// Handles are cheap clones sharing one tail and one writer (openraft keeps some as log
/// readers). Stop it with [`LogStore::close`]; see the module documentation for dropping it
/// without.
pub struct LogStore<C: RaftTypeConfig> {
    backend: Arc<dyn KvBackend>,
    segments: Arc<SegmentLog>,
    tail: Arc<Mutex<Tail<C>>>,
    /// Backend changes waiting for the writer thread (at most [`WRITER_QUEUE`]).
    writer: tokio::sync::mpsc::Sender<Pending<C>>,
    thread: Arc<WriterThread>,
    stats: Arc<FlushStats>,
    committed: Arc<Mutex<CommittedHint<C>>>,
    _config: PhantomData<C>,
}

impl<C: RaftTypeConfig> Clone for LogStore<C> {
    fn clone(&self) -> Self {
        Self {
            backend: self.backend.clone(),
            segments: self.segments.clone(),
            tail: self.tail.clone(),
            writer: self.writer.clone(),
            thread: self.thread.clone(),
            stats: self.stats.clone(),
            committed: self.committed.clone(),
            _config: PhantomData,
        }
    }
}

impl<C> LogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
    LogIdOf<C>: Serialize + DeserializeOwned,
{
    /// Opens the store of the data directory `data_dir`: the segments in its
    /// [`LOG_DIRECTORY`] (checked frame by frame), the vote and purge point in `backend`; moves
    /// a log an earlier version kept in the backend into segments; starts the writer thread
    /// (`helios-log-writer`). Fails on a damaged log, or when the operating system refuses a
    /// thread (process or memory limits).
    pub fn open(backend: Arc<dyn KvBackend>, data_dir: &std::path::Path) -> io::Result<Self> {
        let segments = Arc::new(SegmentLog::open(&data_dir.join(LOG_DIRECTORY))?);
        Self::start(backend, segments)
    }

    /// The store on segments already open.
    fn start(backend: Arc<dyn KvBackend>, segments: Arc<SegmentLog>) -> io::Result<Self> {
        let last_purged: Option<LogIdOf<C>> = read_meta(backend.as_ref(), LAST_PURGED)?;
        let purged_through = last_purged.as_ref().map(|id| id.index());
        log_records::move_into_segments::<C>(backend.as_ref(), &segments, purged_through)?;
        if let Some(through) = purged_through {
            // Segments a purge left behind (a crash, a file that could not be deleted).
            segments.purge_through(through)?;
        }
        let last = match segments.last()? {
            Some((_, bytes)) => Some(decode::<C::Entry>(&bytes, "log entry")?.log_id()),
            None => None,
        };
        // A purge past the end of the log (a snapshot installed) may have left no entry at or
        // after its point.
        let last = match (last, &last_purged) {
            (Some(last), Some(purged)) if purged.index() > last.index() => Some(purged.clone()),
            (last, purged) => last.or_else(|| purged.clone()),
        };
        let (tx, rx) = tokio::sync::mpsc::channel(WRITER_QUEUE);
        let stats = Arc::new(FlushStats::default());
        let tail = Arc::new(Mutex::new(Tail {
            floor: last.as_ref().map_or(0, |id| id.index() + 1),
            entries: VecDeque::new(),
            last,
            last_purged,
            next_seq: 0,
            written_seq: 0,
        }));
        let thread = {
            let (backend, segments, tail, stats) = (
                backend.clone(),
                segments.clone(),
                tail.clone(),
                stats.clone(),
            );
            std::thread::Builder::new()
                .name("helios-log-writer".into())
                .spawn(move || run_writer::<C>(backend, segments, rx, tail, stats))
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot start the log writer thread: {e}"))
                })?
        };
        Ok(Self {
            backend,
            segments,
            tail,
            writer: tx,
            thread: Arc::new(WriterThread(Mutex::new(Some(thread)))),
            stats,
            committed: Arc::new(Mutex::new(CommittedHint {
                latest: None,
                persisted: None,
            })),
            _config: PhantomData,
        })
    }

    /// Group-commit counters (syncs run, appends made durable).
    pub fn flush_stats(&self) -> Arc<FlushStats> {
        self.stats.clone()
    }

    /// Stops the store's threads and waits for them.
    ///
    /// The writer first applies every change queued before, from any handle: appends are
    /// written and synced and their callbacks completed. The purger then deletes the segments
    /// below the last purge point, and both threads end, dropping their references to the
    /// backend. The backend itself is released when the last handle (and whatever else holds
    /// it, such as the state machine) is dropped: with this handle the only one left, the
    /// database directory can be opened again as soon as `close` returns. Meant for after
    /// `Raft::shutdown`, with a clone kept before the store was handed to openraft.
    ///
    /// Afterwards every handle still reads, but its `append`, `truncate_after` and `purge`
    /// fail ("log store closed: its writer has stopped"). Only the first `close` waits; a later one returns at once.
    /// Fails only when the writer thread panicked.
    pub async fn close(self) -> io::Result<()> {
        // Behind everything queued so far. An error means an earlier `close` got there first.
        let _ = self.writer.send(Pending::Close).await;
        let thread = self.thread.0.lock().map_err(|_| lock_poisoned())?.take();
        let backend = self.backend.clone();
        drop(self);
        // Off the async workers: the join waits for the last sync, and dropping what may be
        // the last reference to the backend closes the database (a flush and an fsync).
        tokio::task::spawn_blocking(move || {
            let joined = thread.map_or(Ok(()), |thread| thread.join());
            drop(backend);
            joined.map_err(|_| io::Error::other("the log writer thread panicked"))
        })
        .await
        .map_err(io::Error::other)?
    }

    /// The tail (set up from the disk when the store opened).
    fn tail(&self) -> io::Result<MutexGuard<'_, Tail<C>>> {
        self.tail.lock().map_err(|_| lock_poisoned())
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &[u8]) -> io::Result<Option<T>> {
        read_meta(self.backend.as_ref(), key)
    }

    fn put_meta<T: Serialize>(&self, key: &[u8], value: &T) -> io::Result<()> {
        self.backend
            .write(Tree::Meta, vec![Op::Put(key.to_vec(), encode(value)?)])
    }

    /// Room in the writer's queue, waited for when it is full (see [`WRITER_QUEUE`]). Taken
    /// before the tail lock, and sent under it, so the writer sees changes in tail order.
    async fn reserve(&self) -> io::Result<tokio::sync::mpsc::Permit<'_, Pending<C>>> {
        self.writer
            .reserve()
            .await
            .map_err(|_| io::Error::other("log store closed: its writer has stopped"))
    }

    async fn sync(&self) -> io::Result<()> {
        let backend = self.backend.clone();
        tokio::task::spawn_blocking(move || backend.sync())
            .await
            .map_err(io::Error::other)?
    }
}

/// A small record of [`Tree::Meta`], decoded; `None` when it was never written.
fn read_meta<T: DeserializeOwned>(backend: &dyn KvBackend, key: &[u8]) -> io::Result<Option<T>> {
    match backend.get(Tree::Meta, key)? {
        Some(bytes) => Ok(Some(decode(
            &bytes,
            std::str::from_utf8(key).unwrap_or("meta"),
        )?)),
        None => Ok(None),
    }
}

/// Applies a batch of queued changes in order: the entries of consecutive appends are
/// encoded and written to the segments together. Returns the sequence number of the batch's
/// last append, if it has one.
///
/// A purge only records its point here; the purger removes the segments below it afterwards,
/// so that deleting a snapshot's worth of entries never holds up appends.
fn write_batch<C>(
    backend: &dyn KvBackend,
    segments: &SegmentLog,
    batch: &[Pending<C>],
    purge: &dyn Fn(u64),
) -> io::Result<Option<u64>>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
    LogIdOf<C>: Serialize,
{
    let mut last_seq = None;
    let mut run: Vec<(u64, Vec<u8>)> = Vec::new();
    let write_run = |run: &mut Vec<(u64, Vec<u8>)>| -> io::Result<()> {
        if !run.is_empty() {
            segments.append(run)?;
            run.clear();
        }
        Ok(())
    };
    for pending in batch {
        match pending {
            Pending::Append { entries, seq, .. } => {
                for entry in entries {
                    run.push((entry.index(), encode(entry)?));
                }
                last_seq = Some(*seq);
            }
            Pending::TruncateFrom(index) => {
                write_run(&mut run)?;
                segments.truncate_from(*index)?;
            }
            Pending::Purge(log_id) => {
                write_run(&mut run)?;
                // The purge point is durable before anything is deleted, and before any later
                // entry is acknowledged (one that resumes the log after a snapshot must not
                // follow older segments that a crash kept): a crash leaves extra entries below
                // the point, never a gap above it. Purges are rare (one per snapshot).
                backend.write(
                    Tree::Meta,
                    vec![Op::Put(LAST_PURGED.to_vec(), encode(log_id)?)],
                )?;
                backend.sync()?;
                purge(log_id.index());
            }
            Pending::Close => {}
        }
    }
    write_run(&mut run)?;
    Ok(last_seq)
}

/// The purger thread (`helios-log-purger`) and what the writer hands it.
struct Purger {
    /// One more than the newest purge point (0: none yet). Purge points only grow.
    target: Arc<AtomicU64>,
    /// Wakes the purger; holds at most [`PURGER_QUEUE`] wake-ups.
    wake: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Purger {
    /// Starts the thread; `None` when the operating system refuses one, and the writer then
    /// purges inline.
    fn start(segments: Arc<SegmentLog>) -> Option<Purger> {
        let target = Arc::new(AtomicU64::new(0));
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(PURGER_QUEUE);
        let started = {
            let target = target.clone();
            std::thread::Builder::new()
                .name("helios-log-purger".into())
                .spawn(move || {
                    // After the writer lets go, a pending wake-up is still taken: the last
                    // purge point is always acted on.
                    while woken.recv().is_ok() {
                        if let Some(through) = target.load(Ordering::SeqCst).checked_sub(1) {
                            run_purge(&segments, through);
                        }
                    }
                })
        };
        match started {
            Ok(thread) => Some(Purger {
                target,
                wake,
                thread,
            }),
            Err(error) => {
                tracing::warn!(%error, "no purger thread; the log writer purges inline");
                None
            }
        }
    }

    /// Asks for the records through `through` to be removed; never waits.
    fn request(&self, through: u64) {
        self.target
            .fetch_max(through.saturating_add(1), Ordering::SeqCst);
        // Full: a wake-up is pending, and the purger reads the target after taking it.
        // Disconnected: the purger died (a panic), and the next start purges the rest.
        let _ = self.wake.try_send(());
    }

    /// Lets the purger act on the last point, then waits for it to end.
    fn stop(self) {
        drop(self.wake);
        if self.thread.join().is_err() {
            tracing::error!("the log purger thread panicked");
        }
    }
}

/// Deletes the segments wholly at or below `through` (the writer made that purge point
/// durable first). A failure only leaves extra entries below the recorded purge point (readers
/// skip them); the next start removes them.
fn run_purge(segments: &SegmentLog, through: u64) {
    if let Err(error) = segments.purge_through(through) {
        tracing::warn!(%error, through, "removing purged log segments failed; retried at the next start");
    }
}

/// Writes queued changes in order, syncs once per batch, then completes the append callbacks;
/// see the module documentation. Runs on its own thread until a [`Pending::Close`] or until
/// every handle is dropped, and in both cases first applies everything queued; then stops the
/// purger and waits for it.
fn run_writer<C>(
    backend: Arc<dyn KvBackend>,
    segments: Arc<SegmentLog>,
    mut rx: tokio::sync::mpsc::Receiver<Pending<C>>,
    tail: Arc<Mutex<Tail<C>>>,
    stats: Arc<FlushStats>,
) where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
    LogIdOf<C>: Serialize,
{
    let purger = Purger::start(segments.clone());
    let purge = |index: u64| match &purger {
        Some(purger) => purger.request(index),
        None => run_purge(&segments, index),
    };
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < WRITER_QUEUE
            && let Ok(more) = rx.try_recv()
        {
            batch.push(more);
        }
        if batch.iter().any(|p| matches!(p, Pending::Close)) {
            // No new changes; those queued, or with room reserved, are still received.
            rx.close();
        }
        let (mut result, last_seq) = match write_batch(backend.as_ref(), &segments, &batch, &purge)
        {
            Ok(last_seq) => (Ok(()), last_seq),
            Err(e) => (Err(e), None),
        };
        if result.is_ok() && last_seq.is_some() {
            result = segments.sync();
        }
        if result.is_ok()
            && let Some(seq) = last_seq
            && let Ok(mut t) = tail.lock()
        {
            t.written_seq = t.written_seq.max(seq + 1);
        }
        let mut appends = 0u64;
        for pending in batch {
            if let Pending::Append { callback, .. } = pending {
                appends += 1;
                let r = match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
                };
                callback.io_completed(r);
            }
        }
        if appends > 0 {
            stats.syncs.fetch_add(1, Ordering::Relaxed);
            stats.appends.fetch_add(appends, Ordering::Relaxed);
        }
    }
    if let Some(purger) = purger {
        purger.stop();
    }
}

/// The first index of `range` and the index after its last (`u64::MAX` when unbounded).
fn index_bounds<RB: RangeBounds<u64>>(range: &RB) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(i) => *i,
        Bound::Excluded(i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(i) => i.saturating_add(1),
        Bound::Excluded(i) => *i,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

impl<C> RaftLogReader<C> for LogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Clone + Serialize + DeserializeOwned,
    LogIdOf<C>: Serialize + DeserializeOwned,
    VoteOf<C>: Serialize + DeserializeOwned,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<C::Entry>> {
        let (start, end) = index_bounds(&range);
        if start >= end {
            return Ok(Vec::new());
        }
        let (floor, purged_through, mut from_tail) = {
            let tail = self.tail()?;
            let first = start.max(tail.floor);
            let from_tail: Vec<C::Entry> = if first < end {
                let skip = (first - tail.floor) as usize;
                let take = usize::try_from(end - first).unwrap_or(usize::MAX);
                tail.entries
                    .iter()
                    .skip(skip)
                    .take(take)
                    .map(|(_, e)| e.clone())
                    .collect()
            } else {
                Vec::new()
            };
            let purged_through = tail.last_purged.as_ref().map(|id| id.index());
            (tail.floor, purged_through, from_tail)
        };
        if start >= floor {
            return Ok(from_tail);
        }
        // The part below the floor was written before it left the tail. A segment may still
        // hold purged entries: they are not part of the log any more.
        let start = purged_through.map_or(start, |p| start.max(p + 1));
        let below_end = end.min(floor);
        let mut entries = Vec::new();
        for (_, bytes) in self.segments.read(start, below_end)? {
            entries.push(decode::<C::Entry>(&bytes, "log entry")?);
        }
        entries.append(&mut from_tail);
        Ok(entries)
    }

    async fn read_vote(&mut self) -> io::Result<Option<VoteOf<C>>> {
        self.get_meta(VOTE)
    }
}

impl<C> RaftLogStorage<C> for LogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Clone + Serialize + DeserializeOwned,
    LogIdOf<C>: Serialize + DeserializeOwned,
    VoteOf<C>: Serialize + DeserializeOwned,
{
    type LogReader = Self;

    async fn get_log_state(&mut self) -> io::Result<LogState<C>> {
        let tail = self.tail()?;
        Ok(LogState {
            last_log_id: tail.last.clone().or_else(|| tail.last_purged.clone()),
            last_purged_log_id: tail.last_purged.clone(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<C>) -> io::Result<()> {
        let started = std::time::Instant::now();
        self.put_meta(VOTE, vote)?;
        self.sync().await?;
        // An election waits for this on both sides: a slow one shows in every failover.
        let took = started.elapsed();
        if took >= SLOW_VOTE {
            tracing::warn!(
                ms = took.as_millis() as u64,
                "saving the vote was slow: elections wait for it (is the data directory's disk busy?)"
            );
        }
        Ok(())
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<C>>) -> io::Result<()> {
        // A lower-bound hint for a faster restart only: losing it or reading an older value is
        // safe, so it is neither synced nor written on every commit (each write would add a
        // page to the next group-commit flush). The latest value is kept in memory.
        let index = committed.as_ref().map(|id| id.index());
        let persist = {
            let mut hint = self.committed.lock().map_err(|_| lock_poisoned())?;
            let persist = match (hint.persisted, index) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(p), Some(i)) => i < p || i - p >= COMMITTED_PERSIST_EVERY,
            };
            hint.latest = Some(committed.clone());
            if persist {
                hint.persisted = index;
            }
            persist
        };
        if persist {
            self.put_meta(COMMITTED, &committed)?;
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> io::Result<Option<LogIdOf<C>>> {
        let latest = self
            .committed
            .lock()
            .map_err(|_| lock_poisoned())?
            .latest
            .clone();
        if let Some(committed) = latest {
            return Ok(committed);
        }
        // Written ahead of the entries it covers (openraft commits entries the writer has
        // queued but not yet synced), the stored hint can pass the end of the log a crash
        // left: openraft would then fail to re-apply entries that are gone, and the member
        // could not start. The log a crash leaves is a prefix of the log as it was, so its
        // entries up to the hint are committed.
        let stored = self.get_meta::<Option<LogIdOf<C>>>(COMMITTED)?.flatten();
        let last = self.tail()?.last.clone();
        Ok(match (stored, last) {
            (Some(hint), Some(last)) if hint.index() > last.index() => Some(last),
            (Some(_), None) => None,
            (stored, _) => stored,
        })
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> io::Result<()>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<C::Entry> = entries.into_iter().collect();
        let room = self.reserve().await?;
        let mut tail = self.tail()?;
        let seq = tail.next_seq;
        tail.next_seq += 1;
        for entry in &entries {
            if tail.entries.is_empty() && entry.index() > tail.floor {
                // Nothing exists from the floor up: the log may resume further on.
                tail.floor = entry.index();
            }
            let expected = tail.floor + tail.entries.len() as u64;
            if entry.index() != expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "log entry {} appended where {expected} was expected",
                        entry.index()
                    ),
                ));
            }
            tail.last = Some(entry.log_id());
            tail.entries.push_back((seq, entry.clone()));
        }
        tail.evict();
        // Queued under the tail lock, so the writer sees changes in the order of the tail.
        room.send(Pending::Append {
            entries,
            callback,
            seq,
        });
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<C>>) -> io::Result<()> {
        let from = last_log_id.as_ref().map_or(0, |id| id.index() + 1);
        let room = self.reserve().await?;
        let mut tail = self.tail()?;
        if from < tail.floor {
            tail.entries.clear();
            tail.floor = from;
        } else {
            let keep = (from - tail.floor) as usize;
            tail.entries.truncate(keep);
        }
        if tail.last.as_ref().is_some_and(|last| last.index() >= from) {
            tail.last = last_log_id;
        }
        room.send(Pending::TruncateFrom(from));
        Ok(())
    }

    async fn purge(&mut self, log_id: LogIdOf<C>) -> io::Result<()> {
        let room = self.reserve().await?;
        let mut tail = self.tail()?;
        let upto = log_id.index();
        while tail.floor <= upto {
            if tail.entries.pop_front().is_none() {
                tail.floor = upto + 1;
                break;
            }
            tail.floor += 1;
        }
        if tail.last.as_ref().is_none_or(|last| last.index() < upto) {
            tail.last = Some(log_id.clone());
        }
        tail.last_purged = Some(log_id.clone());
        room.send(Pending::Purge(log_id));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Condvar;
    use std::time::Duration;

    use openraft::testing::log_id;
    use openraft::type_config::TypeConfigExt;
    use openraft::type_config::alias::OneshotReceiverOf;

    use super::*;
    use crate::SledBackend;

    openraft::declare_raft_types!(
        /// A small type config for the unit tests.
        pub TestConfig: D = String, R = String
    );

    /// A gate on the segments' `sync`: each sync announces itself, then waits until opened.
    struct Gate {
        open: Mutex<bool>,
        opened: Condvar,
        syncing: tokio::sync::Notify,
    }

    impl Gate {
        fn open_gate(&self) {
            *self.open.lock().unwrap() = true;
            self.opened.notify_all();
        }

        fn pass(&self) {
            self.syncing.notify_one();
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.opened.wait(open).unwrap();
            }
        }
    }

    /// Appends entry `index`; the receiver answers once it is synced.
    async fn append(
        store: &mut LogStore<TestConfig>,
        index: u64,
    ) -> OneshotReceiverOf<TestConfig, io::Result<()>> {
        let (tx, rx) = TestConfig::oneshot();
        let entry = RaftEntry::new_normal(log_id::<TestConfig>(1, 0, index), index.to_string());
        store.append([entry], IOFlushed::signal(tx)).await.unwrap();
        rx
    }

    /// While the writer is stuck in a sync, appends fill its queue and then wait for room
    /// (back-pressure), and all go through once the disk answers.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_writer_queue_holds_appends_back() {
        let dir = tempfile::tempdir().unwrap();
        let gated = Arc::new(Gate {
            open: Mutex::new(false),
            opened: Condvar::new(),
            syncing: tokio::sync::Notify::new(),
        });
        let segments = Arc::new(SegmentLog::open(dir.path()).unwrap());
        let gate = gated.clone();
        *segments.before_sync.lock().unwrap() = Some(Box::new(move || gate.pass()));
        let backend = Arc::new(SledBackend::temporary().unwrap());
        let mut store = LogStore::<TestConfig>::start(backend, segments).unwrap();
        let mut flushed = vec![append(&mut store, 0).await];
        // The writer took entry 0 alone and waits in its sync: the queue is empty.
        gated.syncing.notified().await;
        for index in 1..=WRITER_QUEUE as u64 {
            let queued = tokio::time::timeout(Duration::from_secs(10), append(&mut store, index));
            flushed.push(queued.await.expect("room in the queue"));
        }
        let next = WRITER_QUEUE as u64 + 1;
        let held = tokio::time::timeout(Duration::from_millis(300), append(&mut store, next)).await;
        assert!(held.is_err(), "append {next} was queued beyond the bound");
        // Cancelled while waiting for room: it left nothing behind, and may be made again.
        gated.open_gate();
        let queued = tokio::time::timeout(Duration::from_secs(10), append(&mut store, next));
        flushed.push(queued.await.expect("room once the sync is done"));
        for rx in flushed {
            rx.await.unwrap().unwrap();
        }
        let entries = store.try_get_log_entries(0..).await.unwrap();
        assert_eq!(entries.len() as u64, next + 1);
        store.close().await.unwrap();
    }
}
