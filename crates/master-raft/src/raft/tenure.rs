//! This member's leadership as the leader-only loops see it (liveness, housekeeping): the
//! term it leads in and since when, so that every new term starts a new grace period.

use std::time::Instant;

use openraft::async_runtime::WatchReceiver;

use crate::raft::types::Raft;

/// This member's current leadership: the term it leads in and since when.
#[derive(Debug, Default)]
pub struct Tenure {
    /// `(term, since)` while this member leads.
    current: Option<(u64, Instant)>,
}

impl Tenure {
    /// When this member's leadership began (as first noticed), or `None` when it does not
    /// lead. Leading in a new term, even after a loss unnoticed between two calls, starts a
    /// new tenure.
    pub fn leading_since(&mut self, raft: &Raft, id: u64, now: Instant) -> Option<Instant> {
        let m = raft.metrics().borrow_watched().clone();
        if m.current_leader != Some(id) {
            self.current = None;
            return None;
        }
        match self.current {
            Some((term, since)) if term == m.current_term => Some(since),
            _ => {
                self.current = Some((m.current_term, now));
                Some(now)
            }
        }
    }
}
