//! The wire names of exactly-once writes, shared by the masters and their clients.
//!
//! A write may carry an idempotency key (REST header `Idempotency-Key`, gRPC metadata
//! `idempotency-key`): the masters apply it once, and answer a repeat of the key with the
//! first answer. A write whose outcome a master cannot tell is answered 504 (gRPC
//! `DEADLINE_EXCEEDED`) with the status word [`UNKNOWN_OUTCOME`]; retrying it with the same key
//! is safe and tells the outcome.

/// The REST header (HTTP header names are case-insensitive) and the gRPC metadata key of an
/// idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Helios-style status word of a write that may or may not have been applied.
pub const UNKNOWN_OUTCOME: &str = "UNKNOWN_OUTCOME";

/// Status word of a key first used with a different request (REST 409).
pub const IDEMPOTENCY_KEY_REUSED: &str = "IDEMPOTENCY_KEY_REUSED";
