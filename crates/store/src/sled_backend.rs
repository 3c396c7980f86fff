//! The sled 0.34 backend.
//!
//! sled's `flush` writes its buffers with `sync_file_range` but never calls `fsync`, so a
//! flushed write survives `kill -9` but not a power loss. [`SledBackend::sync`] therefore
//! flushes and then `fdatasync`s sled's data file itself (`<dir>/db`; large values live under
//! `<dir>/blobs`, which sled writes and syncs one file per value).

use std::fs::File;
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};

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
    /// Whether `sync` also fsyncs; off only for throwaway test databases.
    fsync: bool,
}

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
        Self::from_db(db, dir.join("db"), true)
    }

    /// Opens a temporary database that disappears when dropped (tests only).
    pub fn temporary() -> io::Result<Self> {
        let db = sled::Config::new().temporary(true).open().map_err(to_io)?;
        Self::from_db(db, PathBuf::new(), false)
    }

    fn from_db(db: sled::Db, data_file: PathBuf, fsync: bool) -> io::Result<Self> {
        Ok(Self {
            log: db.open_tree(Tree::Log.name()).map_err(to_io)?,
            meta: db.open_tree(Tree::Meta.name()).map_err(to_io)?,
            snapshot: db.open_tree(Tree::Snapshot.name()).map_err(to_io)?,
            db,
            data_file,
            fsync,
        })
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
        }
        Ok(())
    }
}
