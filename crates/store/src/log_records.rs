//! The Raft log as versions before the segment files kept it, and moving it into segments.
//!
//! Earlier versions stored the log in the backend's [`Tree::Log`] as *records*: runs of
//! consecutive entries written together, each under the big-endian index of its first entry,
//! as a JSON array (or, older still, a single entry as a JSON object). Records never overlap;
//! a purge kept the record that straddled the purge point.
//!
//! [`move_into_segments`] runs when a store opens. It copies the unpurged entries of such a
//! log into the segments, syncs them, marks the move done in [`Tree::Meta`], removes the
//! records, and then the mark. A crash before the mark leaves the records whole, and the next
//! open starts the copy again on empty segments; a crash after it leaves records that the next
//! open removes. With the mark gone, records found later (an earlier version ran on the
//! directory again) are the log, and are copied again over the segments.

use std::io;
use std::ops::Bound;

use openraft::RaftTypeConfig;
use openraft::entry::RaftEntry;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{KvBackend, Op, Tree};
use crate::codec::{decode, encode, index_key};
use crate::segments::SegmentLog;

/// Set in [`Tree::Meta`] once the records have been copied into segments.
const MOVED: &[u8] = b"log_in_segments";

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

/// The stored entries with an index in `start..`, in order.
fn read_from<C>(backend: &dyn KvBackend, start: u64) -> io::Result<Vec<C::Entry>>
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
            .range(Tree::Log, Bound::Included(start_key), Bound::Unbounded)?
            .into_iter()
            .map(|(_, value)| value),
    );
    let mut entries = Vec::new();
    for value in values {
        entries.extend(
            decode_record::<C>(&value)?
                .into_iter()
                .filter(|e| e.index() >= start),
        );
    }
    Ok(entries)
}

/// Moves a log kept in the backend's records into `segments` (see the module documentation);
/// entries at or below `purged_through` are not part of the log and are left out.
pub fn move_into_segments<C>(
    backend: &dyn KvBackend,
    segments: &SegmentLog,
    purged_through: Option<u64>,
) -> io::Result<()>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
{
    if backend.last(Tree::Log)?.is_none() {
        return Ok(());
    }
    if backend.get(Tree::Meta, MOVED)?.is_none() {
        // A copy a crash interrupted may have left part of the log in segments.
        segments.truncate_from(0)?;
        let start = purged_through.map_or(0, |p| p + 1);
        let entries = read_from::<C>(backend, start)?;
        let count = entries.len();
        let mut encoded = Vec::with_capacity(count);
        for entry in &entries {
            encoded.push((entry.index(), encode(entry)?));
        }
        segments.append(&encoded)?;
        segments.sync()?;
        backend.write(Tree::Meta, vec![Op::Put(MOVED.to_vec(), b"true".to_vec())])?;
        backend.sync()?;
        tracing::info!(
            entries = count,
            "moved the Raft log from sled into segment files"
        );
    }
    backend.remove_range(Tree::Log, Bound::Unbounded, Bound::Unbounded)?;
    backend.sync()?;
    backend.write(Tree::Meta, vec![Op::Delete(MOVED.to_vec())])?;
    backend.sync()
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

    /// A record as earlier versions wrote it: the entries `indexes` as one JSON array.
    fn put_record(backend: &dyn KvBackend, indexes: std::ops::Range<u64>) {
        let entries: Vec<Entry> = indexes.clone().map(entry).collect();
        let op = Op::Put(index_key(indexes.start), encode(&entries).unwrap());
        backend.write(Tree::Log, vec![op]).unwrap();
    }

    fn segment_indexes(segments: &SegmentLog) -> Vec<u64> {
        segments
            .read(0, u64::MAX)
            .unwrap()
            .into_iter()
            .map(|(i, bytes)| {
                let e: Entry = decode(&bytes, "entry").unwrap();
                assert_eq!(e.index(), i);
                i
            })
            .collect()
    }

    #[test]
    fn records_and_single_entries_move_without_their_purged_part() {
        let dir = tempfile::tempdir().unwrap();
        let b = SledBackend::temporary().unwrap();
        // One entry per key, as the oldest versions wrote, then records.
        b.write(
            Tree::Log,
            vec![Op::Put(index_key(3), encode(&entry(3)).unwrap())],
        )
        .unwrap();
        put_record(&b, 4..10);
        put_record(&b, 10..20);
        let segments = SegmentLog::open(dir.path()).unwrap();
        move_into_segments::<TestConfig>(&b, &segments, Some(5)).unwrap();
        assert_eq!(segment_indexes(&segments), (6..20).collect::<Vec<_>>());
        assert!(b.last(Tree::Log).unwrap().is_none(), "records removed");
        // Nothing to do the second time.
        move_into_segments::<TestConfig>(&b, &segments, Some(5)).unwrap();
        assert_eq!(segment_indexes(&segments), (6..20).collect::<Vec<_>>());
    }

    /// A copy interrupted before its mark starts again from the records; one interrupted
    /// after it only removes them; records found with no mark (an earlier version ran on the
    /// directory again) are the log and replace the segments.
    #[test]
    fn an_interrupted_move_is_redone_or_finished() {
        let dir = tempfile::tempdir().unwrap();
        let b = SledBackend::temporary().unwrap();
        put_record(&b, 0..10);
        let segments = SegmentLog::open(dir.path()).unwrap();
        // Part of a copy, no mark.
        segments.append(&[(0, encode(&entry(0)).unwrap())]).unwrap();
        move_into_segments::<TestConfig>(&b, &segments, None).unwrap();
        assert_eq!(segment_indexes(&segments), (0..10).collect::<Vec<_>>());
        assert!(b.get(Tree::Meta, MOVED).unwrap().is_none(), "mark removed");
        // Marked, records still there: they go, the segments stay.
        b.write(Tree::Meta, vec![Op::Put(MOVED.to_vec(), b"true".to_vec())])
            .unwrap();
        put_record(&b, 0..5);
        move_into_segments::<TestConfig>(&b, &segments, None).unwrap();
        assert!(b.last(Tree::Log).unwrap().is_none());
        assert_eq!(segment_indexes(&segments), (0..10).collect::<Vec<_>>());
        // No mark: the records are the log.
        put_record(&b, 0..5);
        move_into_segments::<TestConfig>(&b, &segments, None).unwrap();
        assert_eq!(segment_indexes(&segments), (0..5).collect::<Vec<_>>());
    }
}
