//! The idempotency key of a write and the fingerprint of the request it came with.

use sha1::{Digest, Sha1};

pub use crate::state::idempotency::WriteKey;
pub use helios_api::idempotency::IDEMPOTENCY_KEY;

/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

impl WriteKey {
    /// The key a client sent, or a new one when it sent none; `Err` names what is wrong with a
    /// malformed key. `parts` identify the request; they are hashed in order, each with its
    /// length, so that no two different requests share a fingerprint by concatenation.
    pub fn for_request(sent: Option<&[u8]>, parts: &[&[u8]]) -> Result<WriteKey, String> {
        let key = match sent {
            Some(raw) => parse(raw)?,
            None => generate(),
        };
        let mut hash = Sha1::new();
        for part in parts {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        Ok(WriteKey {
            key,
            fingerprint: helios_pki::hex(&hash.finalize()),
        })
    }
}

/// A key made up by a master for a write that came without one: unique, and recognisable in
/// logs.
fn generate() -> String {
    format!("helios-{}", uuid::Uuid::new_v4())
}

/// Checks a key sent by a client: 1 to [`MAX_KEY_LEN`] visible ASCII characters. (The IETF
/// draft sends keys as quoted strings; the quotes are part of the key, as they are opaque.)
fn parse(raw: &[u8]) -> Result<String, String> {
    if raw.is_empty() || raw.len() > MAX_KEY_LEN {
        return Err(format!(
            "the idempotency key must have 1 to {MAX_KEY_LEN} characters, not {}",
            raw.len()
        ));
    }
    if let Some(bad) = raw.iter().find(|b| !b.is_ascii_graphic()) {
        return Err(format!(
            "the idempotency key may only hold visible ASCII characters, not byte {bad:#04x}"
        ));
    }
    Ok(String::from_utf8_lossy(raw).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_key_is_kept_and_a_missing_one_made_up() {
        let sent = WriteKey::for_request(Some(b"abc-1"), &[b"POST", b"/jobs"]).unwrap();
        assert_eq!(sent.key, "abc-1");
        let a = WriteKey::for_request(None, &[b"POST", b"/jobs"]).unwrap();
        let b = WriteKey::for_request(None, &[b"POST", b"/jobs"]).unwrap();
        assert_ne!(a.key, b.key);
        assert!(a.key.starts_with("helios-"));
        assert_eq!(a.fingerprint, sent.fingerprint);
    }

    #[test]
    fn fingerprints_differ_by_any_part_and_by_where_parts_split() {
        let fp = |parts: &[&[u8]]| {
            WriteKey::for_request(Some(b"k"), parts)
                .unwrap()
                .fingerprint
        };
        assert_ne!(
            fp(&[b"POST", b"/jobs", b"{}"]),
            fp(&[b"POST", b"/jobs", b"{ }"])
        );
        assert_ne!(fp(&[b"ab", b"c"]), fp(&[b"a", b"bc"]));
        assert_eq!(fp(&[b"ab", b"c"]), fp(&[b"ab", b"c"]));
    }

    #[test]
    fn malformed_keys_are_named() {
        let err = |raw: &[u8]| WriteKey::for_request(Some(raw), &[]).unwrap_err();
        assert!(err(b"").contains("1 to 255"));
        assert!(err(&[b'a'; 256]).contains("not 256"));
        assert!(err(b"a b").contains("0x20"));
    }
}
