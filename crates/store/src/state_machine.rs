//! openraft's `RaftStateMachine` for an in-memory application state with persistent snapshots.
//!
//! This is the pattern ZooKeeper and etcd use: the state lives in memory, the Raft log is the
//! durable record of every change, and snapshots (written and synced to the backend) bound how
//! much log must be replayed. On restart openraft installs the last snapshot and re-applies
//! the committed log after it (`save_committed` in [`crate::LogStore`] makes that immediate).
//! The log is only purged after a snapshot that covers it is durable.
//!
//! The application plugs in through [`StateMachineLogic`]: a deterministic function from a
//! committed entry to a new state and a response.

use std::io;
use std::marker::PhantomData;
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use futures::{Stream, TryStreamExt};
use openraft::entry::RaftEntry;
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine, Snapshot};
use openraft::type_config::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::{OptionalSend, RaftTypeConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::backend::{KvBackend, Op, Tree};
use crate::codec::{decode, decode_snapshot, encode, encode_snapshot};

/// The snapshot in use: JSON of (data key, meta).
const SNAPSHOT_CURRENT: &[u8] = b"current";
/// Prefix of the keys that hold snapshot data.
const SNAPSHOT_DATA_PREFIX: &[u8] = b"data/";
/// The meta and the data of the one snapshot the first layout kept.
const LEGACY_META: &[u8] = b"meta";
const LEGACY_DATA: &[u8] = b"data";

/// The application side of the state machine.
pub trait StateMachineLogic<C: RaftTypeConfig>: Send + Sync + 'static {
    /// Everything the application replicates. Serialized whole into snapshots.
    /// `Clone` lets a snapshot copy the state under the lock and encode it off the lock.
    type State: Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static;

    /// Applies one committed entry (normal, blank or membership) and returns its response.
    /// Must be deterministic: no clock, no randomness, no I/O.
    fn apply(state: &mut Self::State, entry: C::Entry) -> C::R;
}

/// The applied state with the log position it reflects.
pub struct StateView<C: RaftTypeConfig, S> {
    /// The application state.
    pub state: S,
    /// The last log id applied to `state`.
    pub last_applied: Option<LogIdOf<C>>,
    /// The last membership applied.
    pub membership: StoredMembershipOf<C>,
}

/// The state shared between the state machine and the readers of the API.
pub type SharedState<C, S> = Arc<RwLock<StateView<C, S>>>;

/// The state machine of one master.
pub struct StateMachineStore<C: RaftTypeConfig, L: StateMachineLogic<C>> {
    /// Where the snapshots are kept (their [`Tree::Snapshot`]; in a master, the database in
    /// [`SNAPSHOT_DIRECTORY`]).
    backend: Arc<dyn KvBackend>,
    view: SharedState<C, L::State>,
    /// Index of the last applied entry, for waiters.
    applied_tx: Arc<watch::Sender<u64>>,
    /// Size of the last snapshot built or installed, in bytes (encoded).
    snapshot_bytes: Arc<std::sync::atomic::AtomicU64>,
    _logic: PhantomData<L>,
}

impl<C: RaftTypeConfig, L: StateMachineLogic<C>> Clone for StateMachineStore<C, L> {
    fn clone(&self) -> Self {
        Self {
            backend: self.backend.clone(),
            view: self.view.clone(),
            applied_tx: self.applied_tx.clone(),
            snapshot_bytes: self.snapshot_bytes.clone(),
            _logic: PhantomData,
        }
    }
}

fn poisoned() -> io::Error {
    io::Error::other("state machine lock poisoned")
}

impl<C, L> StateMachineStore<C, L>
where
    C: RaftTypeConfig,
    L: StateMachineLogic<C>,
    LogIdOf<C>: Serialize + DeserializeOwned,
    SnapshotMetaOf<C>: Serialize + DeserializeOwned,
{
    /// Creates an empty state machine whose snapshots are kept in `backend`; openraft restores
    /// the last snapshot.
    pub fn new(backend: Arc<dyn KvBackend>) -> Self {
        Self {
            backend,
            view: Arc::new(RwLock::new(StateView {
                state: L::State::default(),
                last_applied: None,
                membership: Default::default(),
            })),
            applied_tx: Arc::new(watch::channel(0).0),
            snapshot_bytes: Arc::default(),
            _logic: PhantomData,
        }
    }

    /// The size in bytes of the last snapshot this store built or installed (0 before).
    pub fn snapshot_bytes(&self) -> Arc<std::sync::atomic::AtomicU64> {
        self.snapshot_bytes.clone()
    }

    /// The applied state, for readers.
    pub fn shared(&self) -> SharedState<C, L::State> {
        self.view.clone()
    }

    /// Watches the index of the last applied entry.
    pub fn subscribe_applied(&self) -> watch::Receiver<u64> {
        self.applied_tx.subscribe()
    }

    /// Writes an installed snapshot, unless the store holds it already: at start-up openraft
    /// installs the snapshot the store holds, and writing it again would only cost a restart
    /// its size in writes and syncs.
    async fn persist_snapshot(&self, meta: &SnapshotMetaOf<C>, data: Vec<u8>) -> io::Result<()> {
        let backend = self.backend.clone();
        let meta = meta.clone();
        tokio::task::spawn_blocking(move || {
            if let Some((held, _)) = snapshot_pointer::<C>(backend.as_ref())?
                && held.last_log_id == meta.last_log_id
            {
                return Ok(());
            }
            write_snapshot::<C>(backend.as_ref(), &meta, data)
        })
        .await
        .map_err(io::Error::other)?
    }
}

/// The key of a snapshot's data: after [`SNAPSHOT_DATA_PREFIX`], the last included index and
/// the time of writing, so that a new snapshot never overwrites the one in use.
fn snapshot_data_key<C: RaftTypeConfig>(meta: &SnapshotMetaOf<C>) -> String {
    let index = meta.last_log_id.as_ref().map_or(0, |id| id.index());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("data/{index:020}-{nanos:x}")
}

/// Hands the memory a snapshot freed back to the system. glibc keeps what its arenas free for
/// later use: after the megabytes of a large state's encoding (or a decoded snapshot's input)
/// a program on glibc's malloc would stay that much larger for good. (The `helios-master`
/// binary allocates with jemalloc, which returns freed pages on its own after a few seconds;
/// there this only trims what glibc itself holds.)
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Where `backend`'s snapshot is: its meta and the key of its data (from
/// [`SNAPSHOT_CURRENT`], or the first layout's [`LEGACY_META`] and [`LEGACY_DATA`]); `None`
/// when it holds none. Blocking (one small read).
fn snapshot_pointer<C>(backend: &dyn KvBackend) -> io::Result<Option<(SnapshotMetaOf<C>, Vec<u8>)>>
where
    C: RaftTypeConfig,
    SnapshotMetaOf<C>: DeserializeOwned,
{
    if let Some(current) = backend.get(Tree::Snapshot, SNAPSHOT_CURRENT)? {
        let (data_key, meta): (String, SnapshotMetaOf<C>) = decode(&current, "snapshot pointer")?;
        return Ok(Some((meta, data_key.into_bytes())));
    }
    match backend.get(Tree::Snapshot, LEGACY_META)? {
        Some(meta) => Ok(Some((
            decode(&meta, "snapshot meta")?,
            LEGACY_DATA.to_vec(),
        ))),
        None => Ok(None),
    }
}

/// Moves the snapshot that `from` (the main database, where earlier versions kept it) holds
/// into `to` (the snapshots' own database), unless `to` already holds the same or a later
/// one, whole; then empties `from`'s snapshot tree. Blocking; run at start-up, before the
/// state machine reads.
///
/// Every key is copied as it is, the data synced before the pointer is written, and `to` is
/// synced again before `from` is emptied: a move cut short leaves `to` without a pointer (or
/// without its data), or `from` still full, and the next start moves it again. The move is
/// one way: an earlier version started on the directory afterwards finds no snapshot, and
/// refuses to start once its log was purged past it.
pub fn move_snapshot<C>(from: &dyn KvBackend, to: &dyn KvBackend) -> io::Result<()>
where
    C: RaftTypeConfig,
    SnapshotMetaOf<C>: DeserializeOwned,
{
    let Some((moving, _)) = snapshot_pointer::<C>(from)? else {
        if from.last(Tree::Snapshot)?.is_some() {
            // Data without a pointer: a snapshot write cut short; nothing uses it.
            from.remove_range(Tree::Snapshot, Bound::Unbounded, Bound::Unbounded)?;
            from.sync()?;
        }
        return Ok(());
    };
    // A pointer without its data (a file lost with the power) is no copy.
    let newer = match snapshot_pointer::<C>(to)? {
        Some((held, data_key)) if to.get(Tree::Snapshot, &data_key)?.is_some() => {
            moving.last_log_id > held.last_log_id
        }
        _ => true,
    };
    if newer {
        to.remove_range(Tree::Snapshot, Bound::Unbounded, Bound::Unbounded)?;
        let keys = from.range(Tree::Snapshot, Bound::Unbounded, Bound::Unbounded)?;
        let is_pointer = |key: &[u8]| key == SNAPSHOT_CURRENT || key == LEGACY_META;
        let (pointers, data): (Vec<_>, Vec<_>) = keys.into_iter().partition(|(k, _)| is_pointer(k));
        // The data durable before the pointer is written (as in `write_snapshot`): sled does
        // not order its large values' files with the rest of its log.
        for (key, value) in data {
            to.write(Tree::Snapshot, vec![Op::Put(key, value)])?;
        }
        to.sync()?;
        for (key, value) in pointers {
            to.write(Tree::Snapshot, vec![Op::Put(key, value)])?;
        }
        to.sync()?;
    }
    from.remove_range(Tree::Snapshot, Bound::Unbounded, Bound::Unbounded)?;
    from.sync()
}

/// Seeds an empty store with a snapshot (a restored backup): on start, openraft installs it
/// and purges the (empty) log up to it, so the member begins at the snapshot's log id with its
/// membership. `store` is the main database (vote, purge point), `snapshots` the snapshots'
/// own. Refused when either already holds a snapshot, a vote or log. Blocking.
pub fn seed_snapshot<C>(
    store: &dyn KvBackend,
    snapshots: &dyn KvBackend,
    meta: &SnapshotMetaOf<C>,
    data: Vec<u8>,
) -> io::Result<()>
where
    C: RaftTypeConfig,
    SnapshotMetaOf<C>: Serialize,
{
    let used = [Tree::Snapshot, Tree::Log, Tree::Meta]
        .into_iter()
        .map(|tree| store.last(tree).map(|last| last.is_some()))
        .chain([snapshots.last(Tree::Snapshot).map(|last| last.is_some())])
        .collect::<io::Result<Vec<bool>>>()?;
    if used.into_iter().any(|u| u) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the store already holds Raft data",
        ));
    }
    write_snapshot::<C>(snapshots, meta, data)
}

/// Writes a snapshot and syncs it. Blocking.
///
/// The data goes under a fresh key and is synced, then [`SNAPSHOT_CURRENT`] (the meta and the
/// data key) is switched to it and synced, then every other data key is removed: a crash at any
/// point leaves either the old snapshot or the new one, whole. Each step writes one key, because
/// a sled batch holds sled's process-wide write lock for as long as it runs, and writing a
/// snapshot's megabytes under it would stall the log.
fn write_snapshot<C>(
    backend: &dyn KvBackend,
    meta: &SnapshotMetaOf<C>,
    data: Vec<u8>,
) -> io::Result<()>
where
    C: RaftTypeConfig,
    SnapshotMetaOf<C>: Serialize,
{
    let data_key = snapshot_data_key::<C>(meta);
    backend.write(
        Tree::Snapshot,
        vec![Op::Put(data_key.as_bytes().to_vec(), data)],
    )?;
    backend.sync()?;
    let current = encode(&(&data_key, meta))?;
    backend.write(
        Tree::Snapshot,
        vec![Op::Put(SNAPSHOT_CURRENT.to_vec(), current)],
    )?;
    backend.sync()?;
    // Earlier snapshots: other data keys, and the two keys of the first layout.
    let prefix = SNAPSHOT_DATA_PREFIX.to_vec();
    let mut after_prefix = prefix.clone();
    if let Some(last) = after_prefix.last_mut() {
        *last += 1;
    }
    let data_key = data_key.into_bytes();
    backend.remove_range(
        Tree::Snapshot,
        Bound::Included(prefix),
        Bound::Excluded(data_key.clone()),
    )?;
    backend.remove_range(
        Tree::Snapshot,
        Bound::Excluded(data_key),
        Bound::Excluded(after_prefix),
    )?;
    backend.write(Tree::Snapshot, vec![Op::Delete(LEGACY_META.to_vec())])?;
    backend.write(Tree::Snapshot, vec![Op::Delete(LEGACY_DATA.to_vec())])
}

impl<C, L> RaftSnapshotBuilder<C> for StateMachineStore<C, L>
where
    C: RaftTypeConfig,
    L: StateMachineLogic<C>,
    LogIdOf<C>: Serialize + DeserializeOwned,
    SnapshotMetaOf<C>: Serialize + DeserializeOwned,
{
    type SnapshotData = Vec<u8>;

    async fn build_snapshot(&mut self) -> io::Result<SnapshotOf<C, Vec<u8>>> {
        // Only the copy happens under the lock; `apply` goes on while the copy is encoded
        // and written on a blocking thread.
        let (meta, state) = {
            let view = self.view.read().map_err(|_| poisoned())?;
            let meta = SnapshotMetaOf::<C> {
                last_log_id: view.last_applied.clone(),
                last_membership: view.membership.clone(),
            };
            (meta, view.state.clone())
        };
        let backend = self.backend.clone();
        let written_meta = meta.clone();
        let data = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let data = encode_snapshot(&state)?;
            drop(state);
            let encoded = started.elapsed();
            write_snapshot::<C>(backend.as_ref(), &written_meta, data.clone())?;
            tracing::info!(
                bytes = data.len(),
                encode_ms = encoded.as_millis() as u64,
                write_ms = (started.elapsed() - encoded).as_millis() as u64,
                "snapshot built"
            );
            trim_heap();
            Ok::<_, io::Error>(data)
        })
        .await
        .map_err(io::Error::other)??;
        self.snapshot_bytes
            .store(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(Snapshot {
            meta,
            snapshot: data,
        })
    }
}

impl<C, L> RaftStateMachine<C> for StateMachineStore<C, L>
where
    C: RaftTypeConfig,
    L: StateMachineLogic<C>,
    LogIdOf<C>: Serialize + DeserializeOwned,
    SnapshotMetaOf<C>: Serialize + DeserializeOwned,
{
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> io::Result<(Option<LogIdOf<C>>, StoredMembershipOf<C>)> {
        let view = self.view.read().map_err(|_| poisoned())?;
        Ok((view.last_applied.clone(), view.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> io::Result<()>
    where
        Strm: Stream<Item = io::Result<EntryResponder<C>>> + Unpin + OptionalSend,
    {
        let mut last_index = None;
        while let Some((entry, responder)) = entries.try_next().await? {
            let response = {
                let mut view = self.view.write().map_err(|_| poisoned())?;
                let log_id = entry.log_id();
                last_index = Some(log_id.index());
                if let Some(membership) = entry.get_membership() {
                    view.membership =
                        StoredMembershipOf::<C>::new(Some(log_id.clone()), membership);
                }
                view.last_applied = Some(log_id);
                L::apply(&mut view.state, entry)
            };
            if let Some(responder) = responder {
                responder.send(response);
            }
        }
        if let Some(index) = last_index {
            self.applied_tx.send_replace(index);
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<C>,
        snapshot: Self::SnapshotData,
    ) -> io::Result<()> {
        let started = std::time::Instant::now();
        let (state, snapshot) = tokio::task::spawn_blocking(move || {
            let state: L::State = decode_snapshot(&snapshot)?;
            Ok::<_, io::Error>((state, snapshot))
        })
        .await
        .map_err(io::Error::other)??;
        let decoded = started.elapsed();
        let bytes = snapshot.len();
        self.snapshot_bytes
            .store(bytes as u64, std::sync::atomic::Ordering::Relaxed);
        self.persist_snapshot(meta, snapshot).await?;
        let replaced = {
            let mut view = self.view.write().map_err(|_| poisoned())?;
            view.last_applied = meta.last_log_id.clone();
            view.membership = meta.last_membership.clone();
            std::mem::replace(&mut view.state, state)
        };
        // The replaced state is freed, and the memory returned, away from the core.
        tokio::task::spawn_blocking(move || {
            drop(replaced);
            trim_heap();
        });
        if let Some(id) = &meta.last_log_id {
            self.applied_tx.send_replace(id.index());
        }
        tracing::info!(
            bytes,
            decode_ms = decoded.as_millis() as u64,
            write_ms = (started.elapsed() - decoded).as_millis() as u64,
            "snapshot installed"
        );
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<SnapshotOf<C, Vec<u8>>>> {
        let Some((meta, data_key)) = snapshot_pointer::<C>(self.backend.as_ref())? else {
            return Ok(None);
        };
        match self.backend.get(Tree::Snapshot, &data_key)? {
            Some(data) => Ok(Some(Snapshot {
                meta,
                snapshot: data,
            })),
            // The first layout wrote its two keys in one batch: one without the other is none.
            None if data_key == LEGACY_DATA => Ok(None),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "snapshot data {} is missing",
                    String::from_utf8_lossy(&data_key)
                ),
            )),
        }
    }
}
