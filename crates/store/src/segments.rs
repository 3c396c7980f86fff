//! The Raft log on disk: append-only segment files beside sled, not inside it.
//!
//! A segment is a file `<first index, 20 digits>.log` in the log directory holding consecutive
//! entries as *frames*: a 16-byte header (payload length `u32`, CRC-32 `u32` of the index and
//! the payload, index `u64`, all little-endian) followed by the payload (the entry as the log
//! store encoded it). Appends go to the end of the newest segment with one positional write per
//! run; a new segment starts when the newest one has passed [`SEGMENT_BYTES`] or the next
//! index does not follow its last one (a log that resumes after a snapshot). A segment is
//! synced whole before the next one is created, so only the newest segment can ever hold a
//! write that is not on disk. [`SegmentLog::sync`] `fdatasync`s the newest segment, and the
//! directory when a segment was created, so one sync makes a whole batch durable (the log
//! store's group commit). After any failed write or sync the log refuses every further change:
//! what reached the disk is no longer known, and reopening the directory finds out.
//!
//! Why not sled: a log is written once at its end and dropped from its start. In sled every
//! entry was a key with tree nodes, page updates and flushed frames, and sled never shrank its
//! file after the purged keys were removed. Here an append is one `write` and the sync one
//! `fdatasync` per file, and a purge deletes whole segments, returning their space at once.
//!
//! Each segment keeps the offset of every frame in memory (4 bytes per entry), so a read is a
//! positional read of the frames asked for. Opening the directory checks every frame. A frame
//! that is cut short or fails its checksum in the newest segment is a write a crash
//! interrupted before its sync: the log is cut there. Damage in any older segment (synced
//! whole before the next began) is not a torn write but lost data, and opening fails naming
//! the file and offset. Segments may be separated by a gap only below the log store's purge
//! point (a log that resumed after a snapshot); the log store checks that.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A segment is closed once it holds this many bytes (a single larger entry still fits in a
/// fresh one). Small enough that a purge returns space soon after a snapshot, large enough that
/// new files (each one a directory sync) are rare: at 1 KiB per entry, one per 8,000 entries.
pub const SEGMENT_BYTES: u64 = 8 << 20;

/// Length, checksum and index before each payload.
const HEADER: usize = 16;

/// No entry is this large; a header that says so is damage, not a reason to allocate.
const MAX_PAYLOAD: usize = 1 << 30;

/// The file name suffix of segments.
const SUFFIX: &str = ".log";

/// One segment file and where its frames are.
struct Segment {
    file: Arc<File>,
    path: PathBuf,
    /// The index of its first frame.
    first: u64,
    /// The offset of each frame, in index order from `first`.
    offsets: Vec<u32>,
    /// Bytes of whole frames (where the next frame goes).
    len: u64,
}

impl Segment {
    fn next_index(&self) -> u64 {
        self.first + self.offsets.len() as u64
    }

    /// The byte range of the frames `from..to` (indexes within this segment).
    fn byte_range(&self, from: u64, to: u64) -> (u64, u64) {
        let start = u64::from(self.offsets[(from - self.first) as usize]);
        let end = self
            .offsets
            .get((to - self.first) as usize)
            .map_or(self.len, |&o| u64::from(o));
        (start, end)
    }
}

/// What the segments look like, under the lock.
struct Segments {
    /// By first index.
    by_first: BTreeMap<u64, Segment>,
    /// A segment was created since the last sync: the directory needs one.
    directory_unsynced: bool,
    /// Why the log refuses changes: a write or sync failed (see the module documentation).
    failed: Option<String>,
}

impl Segments {
    /// Fails when an earlier write or sync did.
    fn check(&self) -> io::Result<()> {
        match &self.failed {
            Some(why) => Err(io::Error::other(format!(
                "the Raft log refuses changes after an earlier failure ({why}); restart the master"
            ))),
            None => Ok(()),
        }
    }

    /// Records `result`'s error, if any, so that every later change is refused.
    fn remember<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result
            && self.failed.is_none()
        {
            self.failed = Some(e.to_string());
        }
        result
    }
}

/// The segment files of one log directory. Every method takes `&self`; writes are expected
/// from one thread (the log writer), reads from any.
pub struct SegmentLog {
    directory: PathBuf,
    segments: Mutex<Segments>,
    /// Called at the start of each [`SegmentLog::sync`] (tests hold a sync back with it).
    #[cfg(test)]
    pub(crate) before_sync: Mutex<Option<Box<dyn Fn() + Send>>>,
}

fn lock_poisoned() -> io::Error {
    io::Error::other("segment log lock poisoned")
}

fn corrupt(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// The checksum of a frame: its index, then its payload.
fn checksum(index: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&index.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Appends the frame of `payload` at `index` to `out`.
fn put_frame(out: &mut Vec<u8>, index: u64, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&l| (l as usize) <= MAX_PAYLOAD)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "log entry {index} is {} bytes, over the limit",
                    payload.len()
                ),
            )
        })?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&checksum(index, payload).to_le_bytes());
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// One frame read from `bytes` at `at`: its index, payload and the offset after it. `None`
/// when the bytes there are not a whole frame with a valid checksum.
fn frame_at(bytes: &[u8], at: usize) -> Option<(u64, &[u8], usize)> {
    let header = bytes.get(at..at.checked_add(HEADER)?)?;
    let len = u32::from_le_bytes(header[0..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let index = u64::from_le_bytes(header[8..16].try_into().ok()?);
    if len > MAX_PAYLOAD {
        return None;
    }
    let end = at + HEADER + len;
    let payload = bytes.get(at + HEADER..end)?;
    (checksum(index, payload) == crc).then_some((index, payload, end))
}

fn segment_name(first: u64) -> String {
    format!("{first:020}{SUFFIX}")
}

/// `fsync` of a directory, so that files created or removed in it stay so after a crash.
fn sync_directory(directory: &Path) -> io::Result<()> {
    File::open(directory)
        .and_then(|d| d.sync_all())
        .map_err(|e| named(directory, e))
}

/// `e`, naming the file it happened to.
fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl SegmentLog {
    /// Opens (creating it if needed) the log in `directory`, checking every frame; see the
    /// module documentation for what a damaged frame does.
    pub fn open(directory: &Path) -> io::Result<Self> {
        if !directory.exists() {
            fs::create_dir_all(directory)?;
            if let Some(parent) = directory.parent() {
                sync_directory(parent)?;
            }
        }
        let mut firsts = Vec::new();
        for entry in fs::read_dir(directory)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(first) = name
                .strip_suffix(SUFFIX)
                .and_then(|stem| stem.parse::<u64>().ok())
            {
                firsts.push(first);
            }
        }
        firsts.sort_unstable();
        let mut by_first = BTreeMap::new();
        for (position, &first) in firsts.iter().enumerate() {
            let path = directory.join(segment_name(first));
            let newest = position + 1 == firsts.len();
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| named(&path, e))?;
            let bytes = fs::read(&path).map_err(|e| named(&path, e))?;
            let mut offsets = Vec::new();
            let mut at = 0;
            while let Some((index, _, end)) = frame_at(&bytes, at) {
                if index != first + offsets.len() as u64 {
                    break;
                }
                offsets.push(u32::try_from(at).map_err(|_| {
                    corrupt(format!("log segment {} is over 4 GiB", path.display()))
                })?);
                at = end;
            }
            if at < bytes.len() {
                if !newest {
                    let whole = match offsets.len() {
                        0 => "no whole entry".to_string(),
                        n => format!("entries {first} to {}", first + n as u64 - 1),
                    };
                    return Err(corrupt(format!(
                        "log segment {} is damaged at byte {at} of {} (after {whole}), and a \
                         newer segment follows it, so this is not a write a crash cut short: \
                         move this master's data directory aside and let it rejoin the cluster",
                        path.display(),
                        bytes.len(),
                    )));
                }
                tracing::warn!(
                    path = %path.display(),
                    at,
                    dropped_bytes = bytes.len() - at,
                    "cutting a torn write from the end of the Raft log"
                );
                file.set_len(at as u64).map_err(|e| named(&path, e))?;
                file.sync_all().map_err(|e| named(&path, e))?;
            }
            if offsets.is_empty() {
                if !newest {
                    return Err(corrupt(format!(
                        "log segment {} holds no entry, and a newer segment follows it: move \
                         this master's data directory aside and let it rejoin the cluster",
                        path.display()
                    )));
                }
                drop(file);
                fs::remove_file(&path).map_err(|e| named(&path, e))?;
                sync_directory(directory)?;
                continue;
            }
            by_first.insert(
                first,
                Segment {
                    file: Arc::new(file),
                    path,
                    first,
                    offsets,
                    len: at as u64,
                },
            );
        }
        Ok(Self {
            directory: directory.to_path_buf(),
            segments: Mutex::new(Segments {
                by_first,
                directory_unsynced: false,
                failed: None,
            }),
            #[cfg(test)]
            before_sync: Mutex::new(None),
        })
    }

    fn lock(&self) -> io::Result<MutexGuard<'_, Segments>> {
        self.segments.lock().map_err(|_| lock_poisoned())
    }

    /// Whether the log holds no entry.
    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.lock()?.by_first.is_empty())
    }

    /// Writes `(index, payload)` pairs, in index order, after the log's end (or, for a first
    /// index that does not follow it, in a new segment). Durable only after [`Self::sync`].
    pub fn append(&self, entries: &[(u64, Vec<u8>)]) -> io::Result<()> {
        let mut segments = self.lock()?;
        segments.check()?;
        let result = self.append_locked(&mut segments, entries);
        segments.remember(result)
    }

    fn append_locked(&self, segments: &mut Segments, entries: &[(u64, Vec<u8>)]) -> io::Result<()> {
        let mut pending = entries;
        while let Some(&(index, _)) = pending.first() {
            let active = segments.by_first.values().next_back();
            if let Some(active) = active
                && index < active.next_index()
            {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "log entry {index} written over the log, whose end is {}",
                        active.next_index()
                    ),
                ));
            }
            let start_new =
                active.is_none_or(|a| a.next_index() != index || a.len >= SEGMENT_BYTES);
            if start_new {
                self.start_segment(segments, index)?;
            }
            let Some(active) = segments.by_first.values_mut().next_back() else {
                return Err(io::Error::other("no active log segment"));
            };
            // The run that goes into this segment: consecutive indexes while it has room.
            let mut buf = Vec::new();
            let mut offsets = Vec::new();
            let mut taken = 0;
            for (i, payload) in pending {
                let at = active.len + buf.len() as u64;
                let room = taken == 0 || at < SEGMENT_BYTES;
                if *i != active.next_index() + taken as u64 || !room {
                    break;
                }
                offsets.push(u32::try_from(at).map_err(|_| {
                    io::Error::other(format!("log segment {} over 4 GiB", active.path.display()))
                })?);
                put_frame(&mut buf, *i, payload)?;
                taken += 1;
            }
            active
                .file
                .write_all_at(&buf, active.len)
                .map_err(|e| named(&active.path, e))?;
            active.len += buf.len() as u64;
            active.offsets.extend(offsets);
            pending = &pending[taken..];
        }
        Ok(())
    }

    /// Creates the segment starting at `first`, once the previous newest one is synced whole,
    /// with its directory entry if it is new (so that only the newest segment can ever hold
    /// an unsynced write, and no segment can outlive an older one in a crash).
    fn start_segment(&self, segments: &mut Segments, first: u64) -> io::Result<()> {
        if let Some(previous) = segments.by_first.values().next_back() {
            previous
                .file
                .sync_data()
                .map_err(|e| named(&previous.path, e))?;
            if segments.directory_unsynced {
                sync_directory(&self.directory)?;
                segments.directory_unsynced = false;
            }
        }
        let path = self.directory.join(segment_name(first));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| named(&path, e))?;
        segments.directory_unsynced = true;
        segments.by_first.insert(
            first,
            Segment {
                file: Arc::new(file),
                path,
                first,
                offsets: Vec::new(),
                len: 0,
            },
        );
        Ok(())
    }

    /// Blocks until everything appended before the call is on stable storage.
    pub fn sync(&self) -> io::Result<()> {
        #[cfg(test)]
        if let Some(hook) = self
            .before_sync
            .lock()
            .map_err(|_| lock_poisoned())?
            .as_ref()
        {
            hook();
        }
        let (active, directory) = {
            let segments = self.lock()?;
            segments.check()?;
            let active = segments
                .by_first
                .values()
                .next_back()
                .map(|s| (s.file.clone(), s.path.clone()));
            (active, segments.directory_unsynced)
        };
        // Outside the lock: readers go on while the disk works.
        let mut result = match &active {
            Some((file, path)) => file.sync_data().map_err(|e| named(path, e)),
            None => Ok(()),
        };
        if result.is_ok() && directory {
            result = sync_directory(&self.directory);
        }
        let mut segments = self.lock()?;
        if result.is_ok() && directory {
            segments.directory_unsynced = false;
        }
        segments.remember(result)
    }

    /// The payloads of the stored entries with an index in `start..end`, in order.
    pub fn read(&self, start: u64, end: u64) -> io::Result<Vec<(u64, Vec<u8>)>> {
        if start >= end {
            return Ok(Vec::new());
        }
        let spans: Vec<(Arc<File>, PathBuf, u64, u64, u64)> = {
            let segments = self.lock()?;
            let mut spans = Vec::new();
            // The segment holding `start` may begin before it.
            let from = segments
                .by_first
                .range(..=start)
                .next_back()
                .map_or(start, |(&first, _)| first);
            for segment in segments.by_first.range(from..end).map(|(_, s)| s) {
                let lo = start.max(segment.first);
                let hi = end.min(segment.next_index());
                if lo < hi {
                    let (a, b) = segment.byte_range(lo, hi);
                    spans.push((segment.file.clone(), segment.path.clone(), lo, a, b));
                }
            }
            spans
        };
        let mut out: Vec<(u64, Vec<u8>)> = Vec::new();
        for (file, path, first, from, to) in spans {
            if let Some((last, _)) = out.last()
                && *last + 1 != first
            {
                return Err(corrupt(format!(
                    "the Raft log has no entries {} to {} (between segments, at {})",
                    last + 1,
                    first - 1,
                    path.display()
                )));
            }
            let mut bytes = vec![0; (to - from) as usize];
            file.read_exact_at(&mut bytes, from)
                .map_err(|e| named(&path, e))?;
            let mut at = 0;
            let mut expected = first;
            while at < bytes.len() {
                let Some((index, payload, next)) = frame_at(&bytes, at) else {
                    return Err(corrupt(format!(
                        "log segment {} is damaged at byte {}",
                        path.display(),
                        from + at as u64
                    )));
                };
                if index != expected {
                    return Err(corrupt(format!(
                        "log segment {} holds entry {index} where {expected} belongs",
                        path.display()
                    )));
                }
                out.push((index, payload.to_vec()));
                expected += 1;
                at = next;
            }
        }
        Ok(out)
    }

    /// The payload of the last entry, with its index.
    pub fn last(&self) -> io::Result<Option<(u64, Vec<u8>)>> {
        let last = {
            let segments = self.lock()?;
            segments
                .by_first
                .values()
                .rev()
                .find(|s| !s.offsets.is_empty())
                .map(|s| s.next_index() - 1)
        };
        match last {
            Some(index) => Ok(self.read(index, index + 1)?.pop()),
            None => Ok(None),
        }
    }

    /// Removes every entry from `index` on, durably before it returns (truncations are rare:
    /// a new leader overwriting entries that were never committed).
    pub fn truncate_from(&self, index: u64) -> io::Result<()> {
        let mut segments = self.lock()?;
        segments.check()?;
        let result = self.truncate_locked(&mut segments, index);
        segments.remember(result)
    }

    fn truncate_locked(&self, segments: &mut Segments, index: u64) -> io::Result<()> {
        let doomed: Vec<u64> = segments
            .by_first
            .range(index..)
            .map(|(&first, _)| first)
            .collect();
        let removed = !doomed.is_empty();
        // The later segments go first (newest down): a crash in between leaves a shorter log
        // ending in old entries, never a gap.
        for first in doomed.into_iter().rev() {
            if let Some(segment) = segments.by_first.remove(&first) {
                fs::remove_file(&segment.path).map_err(|e| named(&segment.path, e))?;
            }
        }
        if removed {
            sync_directory(&self.directory)?;
        }
        if let Some(segment) = segments.by_first.values_mut().next_back()
            && segment.next_index() > index
        {
            let keep = (index - segment.first) as usize;
            let (cut, _) = segment.byte_range(index, index);
            segment.offsets.truncate(keep);
            segment.len = cut;
            segment
                .file
                .set_len(cut)
                .map_err(|e| named(&segment.path, e))?;
            segment
                .file
                .sync_all()
                .map_err(|e| named(&segment.path, e))?;
        }
        Ok(())
    }

    /// Removes the segments whose entries all lie at or below `index`; the one that straddles
    /// it stays (the log store skips its purged entries). A file that cannot be deleted stays
    /// on disk until the next start, which purges again below the recorded purge point.
    pub fn purge_through(&self, index: u64) -> io::Result<()> {
        let removed = {
            let mut segments = self.lock()?;
            let doomed: Vec<u64> = segments
                .by_first
                .values()
                .take_while(|s| s.next_index() <= index.saturating_add(1))
                .map(|s| s.first)
                .collect();
            let mut removed = Vec::new();
            for first in doomed {
                if let Some(segment) = segments.by_first.remove(&first) {
                    removed.push(segment.path);
                }
            }
            removed
        };
        // Outside the lock: deleting large files takes a while, and readers never ask for
        // purged entries.
        let mut failure = Ok(());
        for path in &removed {
            if let Err(e) = fs::remove_file(path) {
                failure = Err(named(path, e));
            }
        }
        if !removed.is_empty() {
            sync_directory(&self.directory)?;
        }
        failure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(index: u64) -> Vec<u8> {
        format!("entry {index} {}", "x".repeat((index % 50) as usize)).into_bytes()
    }

    fn append(log: &SegmentLog, range: std::ops::Range<u64>) {
        let entries: Vec<(u64, Vec<u8>)> = range.map(|i| (i, payload(i))).collect();
        log.append(&entries).unwrap();
        log.sync().unwrap();
    }

    fn indexes(log: &SegmentLog, start: u64, end: u64) -> Vec<u64> {
        let read = log.read(start, end).unwrap();
        for (i, p) in &read {
            assert_eq!(p, &payload(*i), "payload of {i}");
        }
        read.into_iter().map(|(i, _)| i).collect()
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn appends_read_back_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let log = SegmentLog::open(dir.path()).unwrap();
        assert!(log.is_empty().unwrap());
        append(&log, 0..100);
        append(&log, 100..150);
        assert_eq!(indexes(&log, 10, 20), (10..20).collect::<Vec<_>>());
        assert_eq!(log.last().unwrap().unwrap().0, 149);
        drop(log);
        let log = SegmentLog::open(dir.path()).unwrap();
        assert_eq!(indexes(&log, 0, 1000), (0..150).collect::<Vec<_>>());
        assert!(log.append(&[(120, payload(120))]).is_err(), "overwrite");
    }

    #[test]
    fn segments_roll_and_purge_deletes_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let log = SegmentLog::open(dir.path()).unwrap();
        let big = vec![b'y'; 1 << 20];
        let entries: Vec<(u64, Vec<u8>)> = (0..20).map(|i| (i, big.clone())).collect();
        log.append(&entries).unwrap();
        log.sync().unwrap();
        let names = files(dir.path());
        assert_eq!(names.len(), 3, "{names:?}");
        assert_eq!(names[0], segment_name(0));
        assert_eq!(names[1], segment_name(8));
        assert_eq!(log.read(7, 10).unwrap().len(), 3);
        log.purge_through(8).unwrap();
        assert_eq!(
            files(dir.path()),
            names[1..].to_vec(),
            "the straddling one stays"
        );
        log.purge_through(14).unwrap();
        assert_eq!(files(dir.path()), names[1..].to_vec());
        log.purge_through(15).unwrap();
        assert_eq!(files(dir.path()), names[2..].to_vec());
        log.purge_through(100).unwrap();
        assert!(files(dir.path()).is_empty());
        // The log resumes further on in a new segment.
        log.append(&[(500, payload(500))]).unwrap();
        log.sync().unwrap();
        assert_eq!(files(dir.path()), vec![segment_name(500)]);
    }

    #[test]
    fn truncation_cuts_inside_a_segment_and_drops_later_ones() {
        let dir = tempfile::tempdir().unwrap();
        let log = SegmentLog::open(dir.path()).unwrap();
        append(&log, 0..10);
        append(&log, 20..30);
        append(&log, 30..40);
        log.truncate_from(35).unwrap();
        assert_eq!(indexes(&log, 20, 100).last(), Some(&34));
        log.truncate_from(5).unwrap();
        assert_eq!(files(dir.path()), vec![segment_name(0)]);
        assert_eq!(indexes(&log, 0, 100), (0..5).collect::<Vec<_>>());
        append(&log, 5..8);
        drop(log);
        let log = SegmentLog::open(dir.path()).unwrap();
        assert_eq!(indexes(&log, 0, 100), (0..8).collect::<Vec<_>>());
        log.truncate_from(0).unwrap();
        assert!(log.last().unwrap().is_none());
    }

    /// Every way a crash can leave the newest segment: cut at any byte of its last frame, or
    /// that frame's bytes garbled. The log reopens as the entries before it and goes on.
    #[test]
    fn a_torn_last_frame_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(segment_name(0));
        {
            let log = SegmentLog::open(dir.path()).unwrap();
            append(&log, 0..10);
        }
        let whole = fs::read(&path).unwrap();
        let last_frame = {
            let log = SegmentLog::open(dir.path()).unwrap();
            let segments = log.lock().unwrap();
            segments.by_first[&0].offsets[9] as usize
        };
        for cut in last_frame..whole.len() {
            fs::write(&path, &whole[..cut]).unwrap();
            let log = SegmentLog::open(dir.path()).unwrap();
            assert_eq!(
                indexes(&log, 0, 100),
                (0..9).collect::<Vec<_>>(),
                "cut at {cut}"
            );
            assert_eq!(fs::metadata(&path).unwrap().len() as usize, last_frame);
        }
        let mut garbled = whole.clone();
        garbled[whole.len() - 1] ^= 0xff;
        fs::write(&path, &garbled).unwrap();
        let log = SegmentLog::open(dir.path()).unwrap();
        assert_eq!(indexes(&log, 0, 100), (0..9).collect::<Vec<_>>());
        append(&log, 9..12);
        assert_eq!(indexes(&log, 0, 100), (0..12).collect::<Vec<_>>());
    }

    /// A segment is whole on disk before the next one begins, so a short older segment is
    /// not a torn write: opening refuses, naming it, instead of leaving a hole.
    #[test]
    fn a_short_segment_before_a_newer_one_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let big = vec![b'z'; 3 << 20];
        {
            let log = SegmentLog::open(dir.path()).unwrap();
            let entries: Vec<(u64, Vec<u8>)> = (0..4).map(|i| (i, big.clone())).collect();
            log.append(&entries).unwrap();
            log.append(&[(4, payload(4))]).unwrap();
            log.sync().unwrap();
        }
        assert_eq!(files(dir.path()), vec![segment_name(0), segment_name(3)]);
        let first = dir.path().join(segment_name(0));
        let len = fs::metadata(&first).unwrap().len();
        let file = OpenOptions::new().write(true).open(&first).unwrap();
        file.set_len(len - 10).unwrap();
        let error = SegmentLog::open(dir.path()).err().expect("refused");
        assert!(
            error.to_string().contains("after entries 0 to 1"),
            "{error}"
        );
    }

    /// Reads never step over a gap between segments.
    #[test]
    fn a_read_across_a_gap_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let log = SegmentLog::open(dir.path()).unwrap();
        append(&log, 0..10);
        append(&log, 20..30);
        assert_eq!(indexes(&log, 2, 8), (2..8).collect::<Vec<_>>());
        assert_eq!(indexes(&log, 22, 28), (22..28).collect::<Vec<_>>());
        let error = log.read(5, 25).unwrap_err();
        assert!(error.to_string().contains("no entries 10 to 19"), "{error}");
    }

    /// Damage in an older segment is lost data, not a torn write: opening fails and says where.
    #[test]
    fn damage_before_the_newest_segments_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let big = vec![b'w'; 9 << 20];
        {
            let log = SegmentLog::open(dir.path()).unwrap();
            for i in 0..3 {
                log.append(&[(i, big.clone())]).unwrap();
            }
            log.sync().unwrap();
        }
        assert_eq!(files(dir.path()).len(), 3);
        let first = dir.path().join(segment_name(0));
        let mut bytes = fs::read(&first).unwrap();
        bytes[100] ^= 1;
        fs::write(&first, &bytes).unwrap();
        let error = SegmentLog::open(dir.path()).err().expect("refused");
        assert!(error.to_string().contains("damaged at byte 0"), "{error}");
    }
}
