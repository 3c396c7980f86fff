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

/// Whether a REST request changes the state, and so carries an idempotency key. `POST
/// /jobs/statuses` and `POST /hosts/statuses` are reads that carry their list of names in a
/// body, as in Helios. The masters and the CLI both decide by this.
pub fn is_write(method: &str, path: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS") && !path.ends_with("/statuses")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_with_a_body_are_not_writes() {
        assert!(is_write("POST", "/jobs"));
        assert!(is_write("DELETE", "/jobs/a:1:abc"));
        assert!(is_write("PATCH", "/hosts/h/jobs/a:1:abc"));
        assert!(!is_write("POST", "/jobs/statuses"));
        assert!(!is_write("POST", "/hosts/statuses"));
        assert!(!is_write("GET", "/jobs"));
    }
}
