//! The replicated table of recent idempotency keys and the result each one produced.
//!
//! A client write may carry an idempotency key (REST `Idempotency-Key`, gRPC metadata
//! `idempotency-key`); the masters give one to every write that has none. The leader proposes
//! such a write as [`Command::Idempotent`](super::Command::Idempotent), and `apply` consults
//! this table first: a key seen before with the same request fingerprint returns the result
//! the first attempt produced, without applying the command again; the same key with another
//! fingerprint is refused. Because the table is part of the state (and of snapshots) and
//! changes only in `apply`, every member answers a retried key alike, whichever leader the
//! retry reaches and whenever it arrives, as long as the key is still remembered.
//!
//! The table is bounded twice, deterministically: by count ([`MAX_KEYS`], oldest first) and by
//! age ([`MAX_AGE_MS`], measured on the leader-stamped clock of the commands themselves, never
//! on a member's own clock).
//!
//! At 100,000 keys the table is a large part of a master's memory, so an entry is kept small:
//! the key is one shared string for both maps, and a fingerprint is its 20 bytes
//! ([`Fingerprint`]) instead of 40 hex characters on the heap.

use std::sync::Arc;

use imbl::OrdMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::CommandResult;

/// Most keys remembered; the oldest is forgotten first.
pub const MAX_KEYS: usize = 100_000;

/// How long a key is remembered (leader clock): one hour, far longer than any client's retry
/// budget (the CLI's is four minutes).
pub const MAX_AGE_MS: i64 = 60 * 60 * 1000;

/// A write's idempotency key and the fingerprint of its request: the same key with another
/// fingerprint is refused (`IDEMPOTENCY_KEY_REUSED`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteKey {
    /// The key, as the client sent it or as a master made it up.
    pub key: String,
    /// Hex SHA-1 of what identifies the request (method, path, query and body for REST; the
    /// method and the encoded message for gRPC).
    pub fingerprint: String,
}

/// A request fingerprint as the table keeps it: the 20 bytes of a lowercase hex SHA-1 (what
/// the masters make, see [`WriteKey::fingerprint`]), any other text as it is. Snapshots hold
/// the text, so it reads back the same on a member of any version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fingerprint {
    /// A lowercase hex SHA-1, as its bytes.
    Sha1([u8; 20]),
    /// Any other text.
    Text(Box<str>),
}

impl Fingerprint {
    /// The fingerprint `text` stands for.
    pub fn of(text: &str) -> Fingerprint {
        Self::sha1_of(text).map_or_else(|| Fingerprint::Text(text.into()), Fingerprint::Sha1)
    }

    /// Whether `text` is this fingerprint.
    pub fn is(&self, text: &str) -> bool {
        match (self, Self::sha1_of(text)) {
            (Fingerprint::Sha1(bytes), Some(other)) => *bytes == other,
            (Fingerprint::Text(own), None) => **own == *text,
            _ => false,
        }
    }

    /// The bytes of `text` when it is a lowercase hex SHA-1 (40 digits).
    fn sha1_of(text: &str) -> Option<[u8; 20]> {
        let canonical = text.len() == 40
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let mut bytes = [0u8; 20];
        (canonical && hex::decode_to_slice(text, &mut bytes).is_ok()).then_some(bytes)
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Fingerprint::Sha1(bytes) => s.serialize_str(&hex::encode(bytes)),
            Fingerprint::Text(text) => s.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Fingerprint::of(&String::deserialize(d)?))
    }
}

/// What the table remembers of one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    /// The fingerprint of the request the key first came with.
    pub fingerprint: Fingerprint,
    /// The result its command produced.
    pub result: CommandResult,
    /// Leader clock (epoch ms) of the first attempt's command.
    pub stamped_ms: i64,
    /// Log index at which the first attempt was applied.
    pub index: u64,
}

/// What [`IdempotencyTable::check`] found for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Never seen (or forgotten): apply the command.
    New,
    /// Seen with the same fingerprint: this is its first result.
    Replay(CommandResult),
    /// Seen with another fingerprint.
    Reused,
}

/// Recent idempotency keys, bounded by [`MAX_KEYS`] and [`MAX_AGE_MS`].
///
/// Snapshots hold the keys only; the order in which they are forgotten is rebuilt from the
/// indexes they hold when a snapshot is installed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Stored", into = "Stored")]
pub struct IdempotencyTable {
    /// Key → what it produced.
    keys: OrdMap<Arc<str>, Remembered>,
    /// Log index of the first attempt → its key (the same string): the order in which keys are
    /// forgotten.
    by_index: OrdMap<u64, Arc<str>>,
}

/// The table as snapshots hold it.
#[derive(Serialize, Deserialize)]
struct Stored {
    keys: OrdMap<Arc<str>, Remembered>,
}

impl From<Stored> for IdempotencyTable {
    fn from(stored: Stored) -> Self {
        let by_index = stored
            .keys
            .iter()
            .map(|(key, r)| (r.index, key.clone()))
            .collect();
        IdempotencyTable {
            keys: stored.keys,
            by_index,
        }
    }
}

impl From<IdempotencyTable> for Stored {
    fn from(table: IdempotencyTable) -> Self {
        Stored { keys: table.keys }
    }
}

impl IdempotencyTable {
    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// What is known of `key` for a request with `fingerprint`.
    pub fn check(&self, key: &str, fingerprint: &str) -> Seen {
        match self.keys.get(key) {
            None => Seen::New,
            Some(r) if r.fingerprint.is(fingerprint) => Seen::Replay(r.result.clone()),
            Some(_) => Seen::Reused,
        }
    }

    /// Remembers the result of `key`'s first attempt, applied at `index` with the leader clock
    /// `now_ms`, then forgets what the bounds no longer allow.
    pub fn remember(
        &mut self,
        key: &str,
        fingerprint: &str,
        result: CommandResult,
        now_ms: i64,
        index: u64,
    ) {
        let remembered = Remembered {
            fingerprint: Fingerprint::of(fingerprint),
            result,
            stamped_ms: now_ms,
            index,
        };
        let key: Arc<str> = key.into();
        if let Some(old) = self.keys.insert(key.clone(), remembered) {
            // Only a forgotten key is applied again; a stale index entry must not outlive it.
            self.by_index.remove(&old.index);
        }
        self.by_index.insert(index, key);
        self.forget(now_ms);
    }

    /// Forgets the oldest keys beyond [`MAX_KEYS`] and every key older than [`MAX_AGE_MS`]
    /// at the leader clock `now_ms`.
    fn forget(&mut self, now_ms: i64) {
        let cutoff = now_ms.saturating_sub(MAX_AGE_MS);
        while let Some((index, key)) = self.by_index.get_min() {
            let too_many = self.keys.len() > MAX_KEYS;
            let too_old = self.keys.get(&**key).is_none_or(|r| r.stamped_ms < cutoff);
            if !too_many && !too_old {
                break;
            }
            let (index, key) = (*index, key.clone());
            self.by_index.remove(&index);
            self.keys.remove(&*key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = MAX_AGE_MS;

    fn created(id: &str) -> CommandResult {
        CommandResult::JobCreated { id: id.into() }
    }

    #[test]
    fn a_repeated_key_replays_its_first_result() {
        let mut t = IdempotencyTable::default();
        assert_eq!(t.check("k", "f1"), Seen::New);
        t.remember("k", "f1", created("a:1:x"), 1_000, 7);
        assert_eq!(t.check("k", "f1"), Seen::Replay(created("a:1:x")));
        assert_eq!(t.check("other", "f1"), Seen::New);
    }

    #[test]
    fn the_same_key_with_another_body_is_refused() {
        let mut t = IdempotencyTable::default();
        t.remember("k", "f1", CommandResult::Ok, 1_000, 7);
        assert_eq!(t.check("k", "f2"), Seen::Reused);
    }

    #[test]
    fn keys_are_forgotten_by_leader_stamped_age() {
        let mut t = IdempotencyTable::default();
        t.remember("old", "f", CommandResult::Ok, 0, 1);
        t.remember("mid", "f", CommandResult::Ok, HOUR / 2, 2);
        // Exactly one hour after "old": still remembered (older than, not as old as).
        t.remember("new", "f", CommandResult::Ok, HOUR, 3);
        assert_eq!(t.len(), 3);
        t.remember("newer", "f", CommandResult::Ok, HOUR + 1, 4);
        assert_eq!(t.check("old", "f"), Seen::New);
        assert_eq!(t.check("mid", "f"), Seen::Replay(CommandResult::Ok));
        assert_eq!(t.len(), 3);
        // A clock that went back (a new leader's) forgets nothing it should keep.
        t.remember("back", "f", CommandResult::Ok, HOUR / 4, 5);
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn keys_are_forgotten_by_count_oldest_first() {
        let mut t = IdempotencyTable::default();
        for i in 0..(MAX_KEYS as u64 + 10) {
            t.remember(&format!("k{i}"), "f", CommandResult::Ok, 5, i + 1);
        }
        assert_eq!(t.len(), MAX_KEYS);
        assert_eq!(t.by_index.len(), MAX_KEYS);
        for i in 0..10 {
            assert_eq!(t.check(&format!("k{i}"), "f"), Seen::New, "k{i} kept");
        }
        assert_eq!(t.check("k10", "f"), Seen::Replay(CommandResult::Ok));
        let last = format!("k{}", MAX_KEYS + 9);
        assert_eq!(t.check(&last, "f"), Seen::Replay(CommandResult::Ok));
    }

    #[test]
    fn a_forgotten_key_applied_again_leaves_one_index_entry() {
        let mut t = IdempotencyTable::default();
        t.remember("k", "f", CommandResult::Ok, 0, 1);
        t.remember("k", "f", CommandResult::Ok, 10, 2);
        assert_eq!(t.len(), 1);
        assert_eq!(t.by_index.len(), 1);
    }

    #[test]
    fn a_lowercase_hex_sha1_is_kept_as_its_bytes_and_any_other_text_as_it_is() {
        let sha1 = "0123456789abcdef0123456789abcdef01234567";
        let upper = sha1.to_uppercase();
        assert!(matches!(Fingerprint::of(sha1), Fingerprint::Sha1(_)));
        for other in [upper.as_str(), &sha1[1..], "f1", ""] {
            assert_eq!(Fingerprint::of(other), Fingerprint::Text(other.into()));
        }
        let mut t = IdempotencyTable::default();
        t.remember("k", sha1, CommandResult::Ok, 0, 1);
        t.remember("u", &upper, CommandResult::Ok, 0, 2);
        assert_eq!(t.check("k", sha1), Seen::Replay(CommandResult::Ok));
        assert_eq!(t.check("k", &upper), Seen::Reused);
        assert_eq!(
            t.check("k", "0123456789abcdef0123456789abcdef01234568"),
            Seen::Reused
        );
        assert_eq!(t.check("u", &upper), Seen::Replay(CommandResult::Ok));
        assert_eq!(t.check("u", sha1), Seen::Reused);
        // Snapshots hold every fingerprint as the text it came as.
        for text in [sha1, upper.as_str(), "f1"] {
            let written = serde_json::to_string(&Fingerprint::of(text)).unwrap();
            assert_eq!(written, format!("\"{text}\""));
        }
    }

    #[test]
    fn a_snapshot_of_the_earlier_form_still_reads() {
        // Before, a key was a string and its fingerprint text, whatever it held.
        #[derive(Serialize, Deserialize)]
        struct EarlierRemembered {
            fingerprint: String,
            result: CommandResult,
            stamped_ms: i64,
            index: u64,
        }
        #[derive(Serialize, Deserialize)]
        struct EarlierStored {
            keys: std::collections::BTreeMap<String, EarlierRemembered>,
        }
        let earlier = EarlierStored {
            keys: [(
                "k1".to_string(),
                EarlierRemembered {
                    fingerprint: "f1".into(),
                    result: created("a:1:x"),
                    stamped_ms: 1_000,
                    index: 3,
                },
            )]
            .into(),
        };
        let bytes = helios_store::encode_snapshot(&earlier).unwrap();
        let back: IdempotencyTable = helios_store::decode_snapshot(&bytes).unwrap();
        assert_eq!(back.check("k1", "f1"), Seen::Replay(created("a:1:x")));
        assert_eq!(back.check("k1", "f2"), Seen::Reused);
        assert_eq!(back.by_index.len(), 1);
        // And the earlier version reads this one's snapshot as it wrote it.
        let again: EarlierStored =
            helios_store::decode_snapshot(&helios_store::encode_snapshot(&back).unwrap()).unwrap();
        assert_eq!(again.keys["k1"].fingerprint, "f1");
        assert_eq!(again.keys["k1"].index, 3);
    }

    #[test]
    fn the_table_round_trips_through_a_snapshot() {
        let mut t = IdempotencyTable::default();
        t.remember("k1", "f1", created("a:1:x"), 1_000, 3);
        t.remember("k2", "f2", CommandResult::Forbidden, 2_000, 4);
        let bytes = helios_store::encode_snapshot(&t).unwrap();
        let back: IdempotencyTable = helios_store::decode_snapshot(&bytes).unwrap();
        // Equal as a whole: the forgetting order is rebuilt too.
        assert_eq!(back, t);
        assert_eq!(back.check("k1", "f1"), Seen::Replay(created("a:1:x")));
    }
}
