//! The sled 0.34 backend.
//!
//! sled's `flush` writes its buffers with `sync_file_range` but never calls `fsync`, so a
//! flushed write survives `kill -9` but not a power loss. [`SledBackend::sync`] therefore
//! flushes and then `fdatasync`s sled's data file itself (`<dir>/db`). A value over about
//! 128 KiB (a snapshot) sled writes to a file of its own under `<dir>/blobs`, which it never
//! syncs either: after a large write, `sync` also syncs the blob files it has not synced yet
//! and the directory that names them.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::{KvBackend, Op, Tree};

/// A [`KvBackend`] on one sled database directory.
pub struct SledBackend {
    /// Kept so that `sync` flushes the whole database, whatever tree was written.
    db: sled::Db,
    log: sled::Tree,
    meta: sled::Tree,
    snapshot: sled::Tree,
    /// sled's log-structured data file, fsynced by [`SledBackend::sync`].
    data_file: PathBuf,
    /// Where sled keeps values too large for its log, one file each.
    blobs_dir: PathBuf,
    /// Counts writes large enough to have become blob files (starts at 1: files left by an
    /// earlier run are synced once too).
    large_writes: AtomicU64,
    /// The count of large writes whose blob files are synced, and the blob files synced.
    synced_blobs: Mutex<(u64, HashSet<OsString>)>,
    /// Whether `sync` also fsyncs; off only for throwaway test databases.
    fsync: bool,
}

/// Writes of a value at least this large may become blob files (sled's threshold is about
/// 128 KiB with its default 512 KiB segments).
const MAY_BE_BLOB: usize = 64 << 10;

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
        std::fs::create_dir_all(dir)?;
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::LowSpace)
            .cache_capacity(64 << 20)
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
            large_writes: AtomicU64::new(1),
            synced_blobs: Mutex::new((0, HashSet::new())),
            fsync,
        })
    }

    /// Syncs the blob files not synced yet, and the blob directory when it names new ones.
    fn sync_blobs(&self) -> io::Result<()> {
        let wanted = self.large_writes.load(Ordering::Acquire);
        // Held while syncing, so a concurrent `sync` returns only once the files are synced.
        let mut synced = self
            .synced_blobs
            .lock()
            .map_err(|_| io::Error::other("blob sync lock poisoned"))?;
        if synced.0 >= wanted {
            return Ok(());
        }
        let mut present = HashSet::new();
        let mut new_files = false;
        match std::fs::read_dir(&self.blobs_dir) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry?;
                    let name = entry.file_name();
                    if !synced.1.contains(&name) {
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
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if new_files {
            File::open(&self.blobs_dir)?.sync_all()?;
        }
        *synced = (wanted, present);
        Ok(())
    }

    fn tree(&self, tree: Tree) -> &sled::Tree {
        match tree {
            Tree::Log => &self.log,
            Tree::Meta => &self.meta,
            Tree::Snapshot => &self.snapshot,
        }
    }
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
        let large = batch
            .iter()
            .any(|op| matches!(op, Op::Put(_, v) if v.len() >= MAY_BE_BLOB));
        let result = self.write_ops(tree, &mut batch);
        if large {
            // Counted once the blob file exists, so the next `sync` finds it.
            self.large_writes.fetch_add(1, Ordering::AcqRel);
        }
        result
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

impl SledBackend {
    fn write_ops(&self, tree: Tree, batch: &mut Vec<Op>) -> io::Result<()> {
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
        for op in batch.drain(..) {
            match op {
                Op::Put(k, v) => b.insert(k, v),
                Op::Delete(k) => b.remove(k),
            }
        }
        t.apply_batch(b).map_err(to_io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_after_a_large_write_syncs_its_blob_file() {
        let dir = tempfile::tempdir().unwrap();
        let backend = SledBackend::open(dir.path()).unwrap();
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
        let synced = backend.synced_blobs.lock().unwrap();
        assert!(
            blobs.is_subset(&synced.1),
            "{blobs:?} not in {:?}",
            synced.1
        );
        assert_eq!(synced.0, backend.large_writes.load(Ordering::Acquire));
        drop(synced);
        assert_eq!(
            backend
                .get(Tree::Snapshot, b"big")
                .unwrap()
                .map(|v| v.len()),
            Some(512 << 10)
        );
    }
}
