//! openraft's `RaftLogStorage` on a [`KvBackend`], with group commit.
//!
//! `append` writes the entries and hands openraft's `IOFlushed` callback to a flusher task.
//! The flusher takes every callback that is waiting, runs one backend `sync` (flush and
//! `fdatasync`) for all of them, then completes them in order. Under load, one sync serves
//! many appends, so throughput grows with concurrency while every acknowledged entry is on
//! disk. Votes are synced before `save_vote` returns.

use std::fmt::Debug;
use std::io;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::type_config::alias::{LogIdOf, VoteOf};
use openraft::{OptionalSend, RaftTypeConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use crate::backend::{KvBackend, Op, Tree};
use crate::codec::{decode, encode, index_key};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";

/// The committed id is written to the backend when it has advanced this many entries since
/// the last write (it is only a lower-bound hint for restarts).
const COMMITTED_PERSIST_EVERY: u64 = 1024;

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

/// The Raft log, vote and committed id of one master.
pub struct LogStore<C: RaftTypeConfig> {
    backend: Arc<dyn KvBackend>,
    /// Callbacks of appends waiting for the next sync.
    flusher: mpsc::UnboundedSender<IOFlushed<C>>,
    stats: Arc<FlushStats>,
    committed: Arc<Mutex<CommittedHint<C>>>,
    _config: PhantomData<C>,
}

impl<C: RaftTypeConfig> Clone for LogStore<C> {
    fn clone(&self) -> Self {
        Self {
            backend: self.backend.clone(),
            flusher: self.flusher.clone(),
            stats: self.stats.clone(),
            committed: self.committed.clone(),
            _config: PhantomData,
        }
    }
}

impl<C> LogStore<C>
where
    C: RaftTypeConfig,
{
    /// Creates the store and starts its flusher task on the current tokio runtime.
    pub fn new(backend: Arc<dyn KvBackend>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(FlushStats::default());
        tokio::spawn(run_flusher::<C>(backend.clone(), rx, stats.clone()));
        Self {
            backend,
            flusher: tx,
            stats,
            committed: Arc::new(Mutex::new(CommittedHint {
                latest: None,
                persisted: None,
            })),
            _config: PhantomData,
        }
    }

    /// Group-commit counters (syncs run, appends made durable).
    pub fn flush_stats(&self) -> Arc<FlushStats> {
        self.stats.clone()
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &[u8]) -> io::Result<Option<T>> {
        match self.backend.get(Tree::Meta, key)? {
            Some(bytes) => Ok(Some(decode(
                &bytes,
                std::str::from_utf8(key).unwrap_or("meta"),
            )?)),
            None => Ok(None),
        }
    }

    fn put_meta<T: Serialize>(&self, key: &[u8], value: &T) -> io::Result<()> {
        self.backend
            .write(Tree::Meta, vec![Op::Put(key.to_vec(), encode(value)?)])
    }

    async fn sync(&self) -> io::Result<()> {
        let backend = self.backend.clone();
        tokio::task::spawn_blocking(move || backend.sync())
            .await
            .map_err(io::Error::other)?
    }
}

/// Completes append callbacks after a shared sync; see the module documentation.
async fn run_flusher<C: RaftTypeConfig>(
    backend: Arc<dyn KvBackend>,
    mut rx: mpsc::UnboundedReceiver<IOFlushed<C>>,
    stats: Arc<FlushStats>,
) {
    let mut waiting = Vec::new();
    while rx.recv_many(&mut waiting, 65536).await > 0 {
        let b = backend.clone();
        let result = tokio::task::spawn_blocking(move || b.sync())
            .await
            .map_err(io::Error::other)
            .and_then(|r| r);
        stats.syncs.fetch_add(1, Ordering::Relaxed);
        stats
            .appends
            .fetch_add(waiting.len() as u64, Ordering::Relaxed);
        for callback in waiting.drain(..) {
            let r = match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            };
            callback.io_completed(r);
        }
    }
}

fn bounds_to_keys<RB: RangeBounds<u64>>(range: &RB) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let start = match range.start_bound() {
        Bound::Included(i) => Bound::Included(index_key(*i)),
        Bound::Excluded(i) => Bound::Excluded(index_key(*i)),
        Bound::Unbounded => Bound::Unbounded,
    };
    let end = match range.end_bound() {
        Bound::Included(i) => Bound::Included(index_key(*i)),
        Bound::Excluded(i) => Bound::Excluded(index_key(*i)),
        Bound::Unbounded => Bound::Unbounded,
    };
    (start, end)
}

impl<C> RaftLogReader<C> for LogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
    LogIdOf<C>: Serialize + DeserializeOwned,
    VoteOf<C>: Serialize + DeserializeOwned,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<C::Entry>> {
        let (start, end) = bounds_to_keys(&range);
        self.backend
            .range(Tree::Log, start, end)?
            .into_iter()
            .map(|(_, v)| decode(&v, "log entry"))
            .collect()
    }

    async fn read_vote(&mut self) -> io::Result<Option<VoteOf<C>>> {
        self.get_meta(VOTE)
    }
}

impl<C> RaftLogStorage<C> for LogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
    LogIdOf<C>: Serialize + DeserializeOwned,
    VoteOf<C>: Serialize + DeserializeOwned,
{
    type LogReader = Self;

    async fn get_log_state(&mut self) -> io::Result<LogState<C>> {
        let last_purged_log_id: Option<LogIdOf<C>> = self.get_meta(LAST_PURGED)?;
        let last = match self.backend.last(Tree::Log)? {
            Some((_, v)) => Some(decode::<C::Entry>(&v, "log entry")?.log_id()),
            None => None,
        };
        Ok(LogState {
            last_log_id: last.or_else(|| last_purged_log_id.clone()),
            last_purged_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<C>) -> io::Result<()> {
        self.put_meta(VOTE, vote)?;
        self.sync().await
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
        match latest {
            Some(committed) => Ok(committed),
            None => Ok(self.get_meta::<Option<LogIdOf<C>>>(COMMITTED)?.flatten()),
        }
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> io::Result<()>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = Vec::new();
        for entry in entries {
            batch.push(Op::Put(index_key(entry.index()), encode(&entry)?));
        }
        self.backend.write(Tree::Log, batch)?;
        self.flusher
            .send(callback)
            .map_err(|_| io::Error::other("log flusher stopped"))?;
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<C>>) -> io::Result<()> {
        let start = match &last_log_id {
            Some(id) => Bound::Excluded(index_key(id.index())),
            None => Bound::Unbounded,
        };
        self.backend
            .remove_range(Tree::Log, start, Bound::Unbounded)
    }

    async fn purge(&mut self, log_id: LogIdOf<C>) -> io::Result<()> {
        // Record the purge point first: a crash after it leaves extra entries, never a gap.
        self.put_meta(LAST_PURGED, &log_id)?;
        self.backend.remove_range(
            Tree::Log,
            Bound::Unbounded,
            Bound::Included(index_key(log_id.index())),
        )
    }
}
