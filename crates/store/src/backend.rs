//! The storage backend trait: a few ordered key-value trees and an explicit durability barrier.
//!
//! openraft's storage traits are written against this trait, not against sled, so a backend
//! with different durability properties can be swapped in and tested with the same
//! conformance suite.

use std::io;
use std::ops::Bound;

/// The trees (key spaces) the masters use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tree {
    /// Where earlier versions kept the Raft log (now in segment files; opening a store moves
    /// an old log out, see `log_records`): runs of consecutive entries, keyed by the big-endian index of
    /// their first entry.
    Log,
    /// Small records: vote, committed log id, last purged log id.
    Meta,
    /// The current state-machine snapshot.
    Snapshot,
}

impl Tree {
    /// The tree's on-disk name.
    pub fn name(self) -> &'static str {
        match self {
            Tree::Log => "raft_log",
            Tree::Meta => "raft_meta",
            Tree::Snapshot => "sm_snapshot",
        }
    }
}

/// One write in a batch.
#[derive(Debug, Clone)]
pub enum Op {
    /// Set `key` to `value`.
    Put(Vec<u8>, Vec<u8>),
    /// Remove `key` (no error when it is absent).
    Delete(Vec<u8>),
}

/// An ordered key-value store with atomic per-tree batches and an explicit `sync`.
///
/// Writes become visible to readers at once, but are durable only after [`KvBackend::sync`]
/// returns.
pub trait KvBackend: Send + Sync + 'static {
    /// Reads one key.
    fn get(&self, tree: Tree, key: &[u8]) -> io::Result<Option<Vec<u8>>>;

    /// Reads the keys in a range, in key order.
    fn range(
        &self,
        tree: Tree,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
    ) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>>;

    /// The greatest key of a tree with its value.
    fn last(&self, tree: Tree) -> io::Result<Option<(Vec<u8>, Vec<u8>)>>;

    /// The greatest key that is less than or equal to `key`, with its value.
    fn at_or_below(&self, tree: Tree, key: &[u8]) -> io::Result<Option<(Vec<u8>, Vec<u8>)>>;

    /// Removes every key in a range, without copying the values. Not atomic: keys go from the
    /// greatest down, so an interrupted removal leaves a prefix of the range.
    fn remove_range(
        &self,
        tree: Tree,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
    ) -> io::Result<()>;

    /// Applies a batch to one tree atomically.
    fn write(&self, tree: Tree, batch: Vec<Op>) -> io::Result<()>;

    /// Blocks until every write made before the call is on stable storage
    /// (written and fsynced). Never call it on an async runtime worker thread.
    fn sync(&self) -> io::Result<()>;
}
