//! How the Raft log is laid out in the backend's [`Tree::Log`]: *records*.
//!
//! A record is a run of consecutive entries that the log writer wrote together (up to
//! [`RECORD_TARGET_BYTES`]), stored under one key (the big-endian index of its first entry) as
//! a JSON array. sled's cost is mostly per
//! key (tree nodes, page updates, flushed frames), so one key per write batch instead of one
//! per entry makes storing the log several times cheaper under load.
//!
//! Records never overlap: a record holding index `i` is the one with the greatest key at or
//! below `i`, if its last entry reaches `i`. Truncation removes the later records and trims the
//! one it cuts; a purge removes the records that lie wholly at or below the purge point and
//! keeps the one that straddles it (its purged entries are skipped on read). A value that is a
//! single JSON object (one entry per key, as earlier versions wrote) reads as a one-entry record.

use std::io;
use std::ops::Bound;

use openraft::RaftTypeConfig;
use openraft::entry::RaftEntry;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{KvBackend, Op, Tree};
use crate::codec::{decode, encode, index_key};

/// Decodes a record (or a single entry written by an earlier version).
fn decode_record<C>(bytes: &[u8]) -> io::Result<Vec<C::Entry>>
where
    C: RaftTypeConfig,
    C::Entry: DeserializeOwned,
{
    if bytes.first() == Some(&b'[') {
        decode(bytes, "log record")
    } else {
        Ok(vec![decode(bytes, "log entry")?])
    }
}

/// The size a record is closed at. sled (0.34, 512 KiB segments) writes a tree node whose
/// message exceeds about 128 KiB to a file of its own under `blobs/` (slower, and one more file
/// to sync), and a leaf holds up to 17 keys before it splits: 17 records of 6 KiB stay inline.
pub const RECORD_TARGET_BYTES: usize = 6 << 10;

/// The record operations that store `entries` (in index order): one record per run of
/// consecutive indexes, closed at [`RECORD_TARGET_BYTES`] (only an entry that is larger on its
/// own makes a larger record).
pub fn put_ops<C>(entries: &[&C::Entry]) -> io::Result<Vec<Op>>
where
    C: RaftTypeConfig,
    C::Entry: Serialize,
{
    let mut ops = Vec::new();
    // The open record: its first index, the index it expects next, its JSON array so far.
    let mut open: Option<(u64, u64, Vec<u8>)> = None;
    for entry in entries {
        let index = entry.index();
        let encoded = encode(entry)?;
        match &mut open {
            Some((_, next, buf))
                if *next == index && buf.len() + encoded.len() < RECORD_TARGET_BYTES =>
            {
                buf.push(b',');
                buf.extend_from_slice(&encoded);
                *next += 1;
            }
            _ => {
                if let Some((first, _, mut buf)) = open.take() {
                    buf.push(b']');
                    ops.push(Op::Put(index_key(first), buf));
                }
                let mut buf = Vec::with_capacity(RECORD_TARGET_BYTES);
                buf.push(b'[');
                buf.extend_from_slice(&encoded);
                open = Some((index, index + 1, buf));
            }
        }
    }
    if let Some((first, _, mut buf)) = open {
        buf.push(b']');
        ops.push(Op::Put(index_key(first), buf));
    }
    Ok(ops)
}

/// The stored entries with an index in `start..end`, in order.
pub fn read<C>(backend: &dyn KvBackend, start: u64, end: u64) -> io::Result<Vec<C::Entry>>
where
    C: RaftTypeConfig,
    C::Entry: DeserializeOwned,
{
    let mut values = Vec::new();
    let start_key = index_key(start);
    // The record that holds `start` may begin before it.
    if let Some((key, value)) = backend.at_or_below(Tree::Log, &start_key)?
        && key < start_key
    {
        values.push(value);
    }
    values.extend(
        backend
            .range(
                Tree::Log,
                Bound::Included(start_key),
                Bound::Excluded(index_key(end)),
            )?
            .into_iter()
            .map(|(_, value)| value),
    );
    let mut entries = Vec::new();
    for value in values {
        entries.extend(
            decode_record::<C>(&value)?
                .into_iter()
                .filter(|e| (start..end).contains(&e.index())),
        );
    }
    Ok(entries)
}

/// The last stored entry.
pub fn last<C>(backend: &dyn KvBackend) -> io::Result<Option<C::Entry>>
where
    C: RaftTypeConfig,
    C::Entry: DeserializeOwned,
{
    match backend.last(Tree::Log)? {
        Some((_, value)) => Ok(decode_record::<C>(&value)?.pop()),
        None => Ok(None),
    }
}

/// Removes every entry from `index` on.
///
/// The later records go first and the record cut in two is trimmed after: a crash in between
/// leaves a shorter log that still ends in old entries, never a gap.
pub fn truncate_from<C>(backend: &dyn KvBackend, index: u64) -> io::Result<()>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
{
    let key = index_key(index);
    backend.remove_range(Tree::Log, Bound::Included(key.clone()), Bound::Unbounded)?;
    let Some((cut_key, value)) = backend.at_or_below(Tree::Log, &key)? else {
        return Ok(());
    };
    let entries = decode_record::<C>(&value)?;
    if entries.last().is_none_or(|e| e.index() < index) {
        return Ok(());
    }
    let kept: Vec<&C::Entry> = entries.iter().filter(|e| e.index() < index).collect();
    let op = if kept.is_empty() {
        Op::Delete(cut_key)
    } else {
        Op::Put(cut_key, encode(&kept)?)
    };
    backend.write(Tree::Log, vec![op])
}

/// Removes the records that lie wholly at or below `index`; a record that also holds later
/// entries stays (readers skip its purged entries).
pub fn purge_through<C>(backend: &dyn KvBackend, index: u64) -> io::Result<()>
where
    C: RaftTypeConfig,
    C::Entry: DeserializeOwned,
{
    let Some((key, value)) = backend.at_or_below(Tree::Log, &index_key(index))? else {
        return Ok(());
    };
    let ends_within = decode_record::<C>(&value)?
        .last()
        .is_none_or(|e| e.index() <= index);
    let end = if ends_within {
        Bound::Included(key)
    } else {
        Bound::Excluded(key)
    };
    backend.remove_range(Tree::Log, Bound::Unbounded, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SledBackend;
    use openraft::testing::log_id;

    openraft::declare_raft_types!(
        /// Entries carry their own index as text.
        TestConfig: D = String, R = String
    );

    type Entry = openraft::alias::EntryOf<TestConfig>;

    fn entry(index: u64) -> Entry {
        RaftEntry::new_normal(log_id::<TestConfig>(1, 0, index), format!("{index}"))
    }

    /// Stores `indexes` as the writer would: one batch, runs split at gaps.
    fn put(backend: &dyn KvBackend, indexes: impl IntoIterator<Item = u64>) {
        let entries: Vec<Entry> = indexes.into_iter().map(entry).collect();
        let refs: Vec<&Entry> = entries.iter().collect();
        backend
            .write(Tree::Log, put_ops::<TestConfig>(&refs).unwrap())
            .unwrap();
    }

    fn indexes(backend: &dyn KvBackend, start: u64, end: u64) -> Vec<u64> {
        read::<TestConfig>(backend, start, end)
            .unwrap()
            .iter()
            .map(|e| e.index())
            .collect()
    }

    fn record_keys(backend: &dyn KvBackend) -> Vec<u64> {
        backend
            .range(Tree::Log, Bound::Unbounded, Bound::Unbounded)
            .unwrap()
            .into_iter()
            .map(|(k, _)| u64::from_be_bytes(k.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn a_batch_is_one_record_per_run_of_consecutive_indexes() {
        let b = SledBackend::temporary().unwrap();
        put(&b, (0..10).chain(20..25));
        put(&b, 25..30);
        assert_eq!(record_keys(&b), vec![0, 20, 25]);
        assert_eq!(indexes(&b, 3, 7), vec![3, 4, 5, 6]);
        assert_eq!(indexes(&b, 8, 27), vec![8, 9, 20, 21, 22, 23, 24, 25, 26]);
        assert_eq!(indexes(&b, 12, 15), Vec::<u64>::new());
        assert_eq!(last::<TestConfig>(&b).unwrap().unwrap().index(), 29);
    }

    #[test]
    fn a_long_run_is_split_into_records_that_stay_inline_in_sled() {
        let b = SledBackend::temporary().unwrap();
        let big: Vec<Entry> = (0..100)
            .map(|i| RaftEntry::new_normal(log_id::<TestConfig>(1, 0, i), "x".repeat(1000)))
            .collect();
        let refs: Vec<&Entry> = big.iter().collect();
        let ops = put_ops::<TestConfig>(&refs).unwrap();
        assert!(
            ops.len() >= 100 * 1000 / RECORD_TARGET_BYTES,
            "{} records",
            ops.len()
        );
        for op in &ops {
            let Op::Put(_, value) = op else {
                panic!("a put")
            };
            assert!(value.len() <= RECORD_TARGET_BYTES, "{} bytes", value.len());
        }
        b.write(Tree::Log, ops).unwrap();
        assert_eq!(indexes(&b, 0, 100), (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn truncation_trims_the_record_it_cuts_and_drops_later_ones() {
        let b = SledBackend::temporary().unwrap();
        put(&b, 0..10);
        put(&b, 10..20);
        put(&b, 20..30);
        truncate_from::<TestConfig>(&b, 15).unwrap();
        assert_eq!(record_keys(&b), vec![0, 10]);
        assert_eq!(indexes(&b, 0, 100), (0..15).collect::<Vec<_>>());
        assert_eq!(last::<TestConfig>(&b).unwrap().unwrap().index(), 14);
        // At a record's first index the whole record goes.
        truncate_from::<TestConfig>(&b, 10).unwrap();
        assert_eq!(record_keys(&b), vec![0]);
        put(&b, 10..12);
        assert_eq!(indexes(&b, 8, 100), vec![8, 9, 10, 11]);
        truncate_from::<TestConfig>(&b, 0).unwrap();
        assert!(last::<TestConfig>(&b).unwrap().is_none());
    }

    #[test]
    fn purge_keeps_the_record_that_straddles_the_purge_point() {
        let b = SledBackend::temporary().unwrap();
        put(&b, 0..10);
        put(&b, 10..20);
        put(&b, 20..30);
        purge_through::<TestConfig>(&b, 14).unwrap();
        assert_eq!(record_keys(&b), vec![10, 20]);
        purge_through::<TestConfig>(&b, 19).unwrap();
        assert_eq!(record_keys(&b), vec![20]);
        assert_eq!(indexes(&b, 20, 23), vec![20, 21, 22]);
        purge_through::<TestConfig>(&b, 40).unwrap();
        assert!(record_keys(&b).is_empty());
    }

    #[test]
    fn entries_stored_one_per_key_by_earlier_versions_still_read() {
        let b = SledBackend::temporary().unwrap();
        let old: Vec<Op> = (0..3)
            .map(|i| Op::Put(index_key(i), encode(&entry(i)).unwrap()))
            .collect();
        b.write(Tree::Log, old).unwrap();
        put(&b, 3..6);
        assert_eq!(indexes(&b, 1, 5), vec![1, 2, 3, 4]);
        truncate_from::<TestConfig>(&b, 2).unwrap();
        assert_eq!(indexes(&b, 0, 10), vec![0, 1]);
        assert_eq!(last::<TestConfig>(&b).unwrap().unwrap().index(), 1);
    }
}
