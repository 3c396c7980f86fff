//! The sled 0.34 backend.
//!
//! sled's `flush` writes its buffers with `sync_file_range` but never calls `fsync`, so a
//! flushed write survives `kill -9` but not a power loss. [`SledBackend::sync`] therefore
//! flushes and then `fdatasync`s sled's data file itself (`<dir>/db`). A message over about
//! 128 KiB (a snapshot, or a tree node holding large values) sled writes to a file of its own
//! under `<dir>/blobs`, which it never syncs either: when the blob directory has changed since
//! it last looked, `sync` also syncs the blob files it has not synced yet and the directory.
//!
//! sled locks its data file for as long as a handle on it is open, and its own background
//! threads (log writes, file truncation) can still hold one for a moment after the database is
//! dropped. Dropping a [`SledBackend`] waits for those (at most [`RELEASE_WAIT`]), so that the
//! directory can be opened again as soon as the drop returns.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use crate::backend::{KvBackend, Op, Tree};

/// A [`KvBackend`] on one sled database directory.
///
/// Dropping it releases the directory: see the module documentation.
pub struct SledBackend {
    /// Kept so that `sync` flushes the whole database, whatever tree was written.
    db: sled::Db,
    log: sled::Tree,
    meta: sled::Tree,
    snapshot: sled::Tree,
    /// sled's log-structured data file, fsynced by [`SledBackend::sync`].
    data_file: PathBuf,
    /// Where sled keeps messages too large for its log, one file each.
    blobs_dir: PathBuf,
    /// What the last look at the blob directory found.
    blobs: Mutex<BlobsSeen>,
    /// Whether `sync` also fsyncs; off only for throwaway test databases.
    fsync: bool,
    /// Last, so that it is dropped after every sled handle above.
    _released: WaitReleased,
}

/// How long dropping a [`SledBackend`] waits for sled's background threads to close the data
/// file: far longer than the file truncation or log write (and its `fsync`) they may be
/// finishing, yet a bound, for when another process has taken the lock meanwhile.
const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// On drop, waits until no open file holds the lock on sled's data file.
struct WaitReleased {
    /// The data file; `None` for a temporary database (no directory to open again).
    data_file: Option<PathBuf>,
}

impl Drop for WaitReleased {
    fn drop(&mut self) {
        let Some(path) = self.data_file.take() else {
            return;
        };
        // Usually sled closed the file with the database: the lock is free at once.
        match File::open(&path).map(|file| file.try_lock()) {
            Ok(Err(std::fs::TryLockError::WouldBlock)) => {}
            _ => return,
        }
        // Still held: a blocking lock returns exactly when the holder closes the file. It is
        // taken on a thread of its own, so that a holder that never lets go (another process)
        // costs at most the bound here.
        let (done, wait) = mpsc::channel();
        let waiter = std::thread::Builder::new()
            .name("helios-sled-release".into())
            .spawn(move || {
                if let Ok(file) = File::open(&path)
                    && file.lock().is_ok()
                {
                    // Unlocked before answering: the directory is free when the drop returns.
                    let _ = file.unlock();
                }
                let _ = done.send(());
            });
        if waiter.is_ok() && wait.recv_timeout(RELEASE_WAIT).is_err() {
            tracing::warn!(
                wait = ?RELEASE_WAIT,
                "the sled database is still locked after it was closed"
            );
        }
    }
}

/// A blob directory modified longer ago than this cannot change without a new time (the
/// kernel's coarse clock ticks every few milliseconds).
const BLOB_DIR_SETTLED: Duration = Duration::from_millis(50);

fn to_io(e: sled::Error) -> io::Error {
    match e {
        sled::Error::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

impl SledBackend {
    /// Opens (or creates) the database in `dir`.
    ///
    /// Fails when the directory cannot be created or written, or when another process holds it.
    pub fn open(dir: &Path) -> io::Result<Self> {
        Self::open_with_cache(dir, 16 << 20)
    }

    /// Like [`SledBackend::open`], with a page cache of `cache_bytes` (sled's default is
    /// 1 GiB; a database of a few large values, such as the snapshots', needs little).
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::LowSpace)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(to_io)?;
        Self::from_db(db, dir, true)
    }

    /// Opens a temporary database that disappears when dropped (tests only).
    pub fn temporary() -> io::Result<Self> {
        let db = sled::Config::new().temporary(true).open().map_err(to_io)?;
        Self::from_db(db, Path::new(""), false)
    }

    fn from_db(db: sled::Db, dir: &Path, fsync: bool) -> io::Result<Self> {
        Ok(Self {
            log: db.open_tree(Tree::Log.name()).map_err(to_io)?,
            meta: db.open_tree(Tree::Meta.name()).map_err(to_io)?,
            snapshot: db.open_tree(Tree::Snapshot.name()).map_err(to_io)?,
            db,
            data_file: dir.join("db"),
            blobs_dir: dir.join("blobs"),
            blobs: Mutex::new(BlobsSeen::default()),
            fsync,
            _released: WaitReleased {
                data_file: fsync.then(|| dir.join("db")),
            },
        })
    }

    fn tree(&self, tree: Tree) -> &sled::Tree {
        match tree {
            Tree::Log => &self.log,
            Tree::Meta => &self.meta,
            Tree::Snapshot => &self.snapshot,
        }
    }

    /// Syncs the blob files not synced yet, and the blob directory when it names new ones.
    ///
    /// Costs one `stat` when the directory has not changed. Its modification time comes from a
    /// coarse clock (a file created later in the same tick leaves it unchanged), so a listing
    /// taken while that time is recent is checked again at the next sync.
    fn sync_blobs(&self) -> io::Result<()> {
        // Held while syncing, so a concurrent `sync` returns only once the files are synced.
        let mut seen = self
            .blobs
            .lock()
            .map_err(|_| io::Error::other("blob sync lock poisoned"))?;
        let modified = match std::fs::metadata(&self.blobs_dir) {
            Ok(meta) => meta.modified()?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if seen.settled && seen.modified == Some(modified) {
            return Ok(());
        }
        let mut present = HashSet::new();
        let mut new_files = false;
        for entry in std::fs::read_dir(&self.blobs_dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if !seen.synced.contains(&name) {
                match File::open(entry.path()) {
                    Ok(file) => file.sync_data()?,
                    // Collected by sled meanwhile.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                new_files = true;
            }
            present.insert(name);
        }
        if new_files {
            File::open(&self.blobs_dir)?.sync_all()?;
        }
        seen.synced = present;
        seen.modified = Some(modified);
        seen.settled = SystemTime::now()
            .duration_since(modified)
            .is_ok_and(|age| age > BLOB_DIR_SETTLED);
        Ok(())
    }
}

/// The blob files synced, and the directory's modification time when they were listed.
#[derive(Default)]
struct BlobsSeen {
    synced: HashSet<OsString>,
    modified: Option<SystemTime>,
    /// Whether `modified` was old enough that no later change can share it.
    settled: bool,
}

impl KvBackend for SledBackend {
    fn get(&self, tree: Tree, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        Ok(self.tree(tree).get(key).map_err(to_io)?.map(|v| v.to_vec()))
    }

    fn range(
        &self,
        tree: Tree,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
    ) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.tree(tree)
            .range::<Vec<u8>, _>((start, end))
            .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(to_io))
            .collect()
    }

    fn last(&self, tree: Tree) -> io::Result<Option<(Vec<u8>, Vec<u8>)>> {
        Ok(self
            .tree(tree)
            .last()
            .map_err(to_io)?
            .map(|(k, v)| (k.to_vec(), v.to_vec())))
    }

    fn at_or_below(&self, tree: Tree, key: &[u8]) -> io::Result<Option<(Vec<u8>, Vec<u8>)>> {
        Ok(self
            .tree(tree)
            .range(..=key)
            .next_back()
            .transpose()
            .map_err(to_io)?
            .map(|(k, v)| (k.to_vec(), v.to_vec())))
    }

    fn remove_range(
        &self,
        tree: Tree,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
    ) -> io::Result<()> {
        let t = self.tree(tree);
        // Keys only (sled's iterator hands out reference-counted buffers, no value is copied),
        // greatest first, one by one: a sled batch would hold sled's process-wide write lock
        // and stall every other write for as long as it runs.
        for key in t.range::<Vec<u8>, _>((start, end)).keys().rev() {
            t.remove(key.map_err(to_io)?).map_err(to_io)?;
        }
        Ok(())
    }

    fn write(&self, tree: Tree, mut batch: Vec<Op>) -> io::Result<()> {
        let t = self.tree(tree);
        if batch.len() == 1 {
            // One key is atomic on its own; sled's batches take its process-wide write lock.
            return match batch.pop() {
                Some(Op::Put(k, v)) => t.insert(k, v).map(drop).map_err(to_io),
                Some(Op::Delete(k)) => t.remove(k).map(drop).map_err(to_io),
                None => Ok(()),
            };
        }
        let mut b = sled::Batch::default();
        for op in batch {
            match op {
                Op::Put(k, v) => b.insert(k, v),
                Op::Delete(k) => b.remove(k),
            }
        }
        t.apply_batch(b).map_err(to_io)
    }

    fn sync(&self) -> io::Result<()> {
        self.db.flush().map_err(to_io)?;
        if self.fsync {
            // fsync acts on the inode, so a fresh read-only descriptor is enough.
            File::open(&self.data_file)?.sync_data()?;
            self.sync_blobs()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dropping waits for whoever still holds the data file (one of sled's background threads
    /// after the database is dropped; here a stand-in) and returns once the file is free.
    #[test]
    fn dropping_waits_until_the_data_file_is_unlocked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let holder = File::create(&path).unwrap();
        holder.lock().unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(holder);
        });
        drop(WaitReleased {
            data_file: Some(path.clone()),
        });
        assert!(
            File::open(&path).unwrap().try_lock().is_ok(),
            "the drop returned while the data file was still locked"
        );
        releaser.join().unwrap();
        // And a whole backend: the directory opens again at once.
        drop(SledBackend::open(dir.path()).unwrap());
        drop(SledBackend::open(dir.path()).unwrap());
    }

    /// sled's background threads may still hold its data file after the database is dropped
    /// (about one drop in fifteen here, after removals); dropping the backend waits for them,
    /// so the directory opens again at once, every time.
    #[test]
    fn a_dropped_backend_leaves_the_directory_free() {
        let dir = tempfile::tempdir().unwrap();
        for round in 0..60u8 {
            let b = SledBackend::open(dir.path())
                .unwrap_or_else(|e| panic!("reopening, round {round}: {e}"));
            let batch = (0..200u64)
                .map(|i| Op::Put(i.to_be_bytes().to_vec(), vec![round; 100]))
                .collect();
            b.write(Tree::Log, batch).unwrap();
            b.remove_range(Tree::Log, Bound::Unbounded, Bound::Unbounded)
                .unwrap();
            b.sync().unwrap();
        }
    }

    #[test]
    fn a_sync_syncs_new_blob_files() {
        let dir = tempfile::tempdir().unwrap();
        let backend = SledBackend::open(dir.path()).unwrap();
        backend.sync().unwrap();
        backend
            .write(
                Tree::Snapshot,
                vec![Op::Put(b"big".to_vec(), vec![7; 512 << 10])],
            )
            .unwrap();
        let blobs: HashSet<OsString> = std::fs::read_dir(dir.path().join("blobs"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(!blobs.is_empty(), "sled wrote the value inline");
        backend.sync().unwrap();
        let seen = backend.blobs.lock().unwrap();
        assert!(
            blobs.is_subset(&seen.synced),
            "{blobs:?} not in {:?}",
            seen.synced
        );
        drop(seen);
        assert_eq!(
            backend
                .get(Tree::Snapshot, b"big")
                .unwrap()
                .map(|v| v.len()),
            Some(512 << 10)
        );
    }
}
