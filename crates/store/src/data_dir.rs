//! The databases of a master's data directory: the main one (the vote, the purge point and
//! the commit hint; the log's segments sit beside it in [`crate::LOG_DIRECTORY`]) and the
//! snapshots' own, in [`SNAPSHOT_DIRECTORY`].
//!
//! They are two sled databases because a sync is per database: sled's flush writes whatever
//! any writer left in its buffers, and [`crate::SledBackend::sync`] then syncs the blob files
//! it finds new. With the snapshots in the main database, a vote saved while a snapshot was
//! written waited for that snapshot's megabytes (elections of `helios-bench failover` that
//! met a snapshot took 0.2-0.75 s longer).

use std::io;
use std::path::Path;

use openraft::RaftTypeConfig;
use openraft::type_config::alias::SnapshotMetaOf;
use serde::de::DeserializeOwned;

use crate::sled_backend::SledBackend;
use crate::state_machine::move_snapshot;

/// The directory, inside a master's data directory, of the sled database that holds its
/// snapshots.
pub const SNAPSHOT_DIRECTORY: &str = "snapshots";

/// sled's page cache for the snapshots' database: it holds a pointer and one large value,
/// read once at start-up and when a member is sent a snapshot.
const SNAPSHOT_CACHE_BYTES: u64 = 2 << 20;

/// Opens the main database in `dir` and the snapshots' in `dir/`[`SNAPSHOT_DIRECTORY`],
/// moving a snapshot an earlier version left in the main one into the snapshots' (see
/// [`move_snapshot`]). Blocking.
pub fn open_data_dir<C>(dir: &Path) -> io::Result<(SledBackend, SledBackend)>
where
    C: RaftTypeConfig,
    SnapshotMetaOf<C>: DeserializeOwned,
{
    let main = SledBackend::open(dir)?;
    let snapshots =
        SledBackend::open_with_cache(&dir.join(SNAPSHOT_DIRECTORY), SNAPSHOT_CACHE_BYTES)?;
    move_snapshot::<C>(&main, &snapshots)?;
    Ok((main, snapshots))
}
