//! What the log store's integration tests share: a type config whose entries carry text, the
//! store type, reading payloads back, and opening a sled directory.

#![allow(dead_code)] // Each test binary uses part of it.

use std::sync::Arc;

use helios_store::{KvBackend, LogStore, SledBackend};
use openraft::storage::RaftLogReader;

openraft::declare_raft_types!(
    /// Entries carry text that names them, so every read can be checked.
    pub TestConfig: D = String, R = String
);

/// The log store under test.
pub type Store = LogStore<TestConfig>;

/// The payloads of the entries in `range`.
pub async fn read(store: &mut Store, range: std::ops::Range<u64>) -> Vec<String> {
    store
        .try_get_log_entries(range)
        .await
        .unwrap()
        .into_iter()
        .map(|e| match e.payload {
            openraft::EntryPayload::Normal(s) => s,
            _ => panic!("unexpected payload"),
        })
        .collect()
}

/// The sled backend in `dir`.
pub fn open(dir: &std::path::Path) -> Arc<dyn KvBackend> {
    Arc::new(SledBackend::open(dir).expect("open sled"))
}
