//! Durable storage for the Helios masters.
//!
//! Everything a master keeps on disk goes through this crate: the Raft log, the vote, the
//! committed index, snapshots of the state machine. The log's entries are in append-only
//! segment files ([`SegmentLog`]); everything else sits behind the small [`KvBackend`] trait,
//! whose production backend is [`SledBackend`]. [`LogStore`] implements openraft's
//! `RaftLogStorage` on both (with group commit: concurrent appends share one `fdatasync`), and
//! [`StateMachineStore`] implements `RaftStateMachine` for any application state described by
//! a [`StateMachineLogic`].
//!
//! Invariant: nothing is reported durable to openraft (an append's `IOFlushed` callback, a
//! `save_vote`, a snapshot install) before the segments' or the backend's `sync` has
//! returned.

mod backend;
mod codec;
mod data_dir;
mod log_records;
mod log_store;
mod segments;
mod sled_backend;
mod state_machine;

pub use backend::{KvBackend, Op, Tree};
pub use codec::{decode_snapshot, encode_snapshot};
pub use data_dir::{SNAPSHOT_DIRECTORY, open_data_dir};
pub use log_store::FlushStats;
pub use log_store::{LOG_DIRECTORY, LogStore, TAIL_CAPACITY};
pub use segments::{SEGMENT_BYTES, SegmentLog};
pub use sled_backend::SledBackend;
pub use state_machine::{
    SharedState, StateMachineLogic, StateMachineStore, StateView, move_snapshot, seed_snapshot,
};
