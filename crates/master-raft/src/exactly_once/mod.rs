//! Exactly-once client writes: idempotency keys, and the retry loop that routes a write to the
//! leader until it has an answer.
//!
//! Every client write carries a [`WriteKey`]: the client's idempotency key (REST
//! `Idempotency-Key`, gRPC metadata `idempotency-key`) or one the first master it reaches makes
//! up, plus the fingerprint of the request. The leader proposes it as `Command::Idempotent`,
//! so a repeated key gets the first attempt's answer from the replicated table
//! (`state::idempotency`), whichever leader it reaches.
//!
//! That makes retrying safe, and [`retry::run`] retries: the master a client talks to runs the
//! write here when it leads, or forwards it to the leader, and tells the outcomes apart:
//!
//! * an answer (success or refusal) is returned as it is;
//! * *not proposed* (no leader known, connection refused, the leader no longer leads, leadership
//!   lost before the entry was appended): retried; when the budget runs out the client gets
//!   503 / `UNAVAILABLE`, which promises that nothing was written;
//! * *unknown* (the request reached a leader and its answer was lost, the entry was discarded on
//!   a leader change, no answer in time): retried with the same key, to whichever master leads
//!   now; when the budget runs out the client gets 504 `UNKNOWN_OUTCOME` (gRPC
//!   `DEADLINE_EXCEEDED`), naming the key to retry with.
//!
//! The REST gateway (`gateway::forward`) and the gRPC service (`grpc::service`) each supply one
//! [`retry::Transport`]: how to run an attempt here or at the leader, and how to classify what
//! came back. The loop itself is written once.

pub mod key;
pub mod retry;

pub use key::{IDEMPOTENCY_KEY, WriteKey};
