//! Large answers decoded as they arrive, never held whole.
//!
//! `GET /jobs` on a cluster of 100,000 jobs answers some 80 MB of JSON: one object, an entry
//! per job. The client splits the body, as the connection delivers it, at the object's
//! top-level entries ([`ObjectSplitter`]: strings, escapes and nesting are followed, nothing
//! else is parsed), and hands each batch of whole entries to a decoder that keeps only what
//! the command needs of each ([`object_entries`]). Memory is one batch plus the command's own
//! rows, and each batch is parsed from a slice, serde_json's fast path.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, MapAccess, Visitor};

/// Decodes a JSON object holding some of an answer's entries (each batch the splitter
/// completes) into what the command keeps of them.
pub type Decoder<T> = Arc<dyn Fn(&[u8]) -> serde_json::Result<Vec<T>> + Send + Sync>;

/// Entries gathered before a batch is decoded, bytes.
const BATCH: usize = 256 << 10;

/// Why a streamed answer could not be decoded.
#[derive(Debug)]
pub enum StreamError {
    /// The connection failed while the body arrived.
    Transport(reqwest::Error),
    /// The body is not the JSON object the decoder expects.
    Decode(String),
}

/// Decodes `response`'s body, a JSON object, with `decode` as it arrives; the kept values in
/// the answer's order.
pub async fn decode_object_body<T>(
    mut response: reqwest::Response,
    decode: &Decoder<T>,
) -> Result<Vec<T>, StreamError> {
    let mut splitter = ObjectSplitter::default();
    let mut kept = Vec::new();
    let mut decode_ready = |splitter: &mut ObjectSplitter, all: bool| {
        if let Some(batch) = splitter.take_batch(if all { 0 } else { BATCH }) {
            kept.extend(decode(&batch).map_err(|e| StreamError::Decode(e.to_string()))?);
        }
        Ok::<_, StreamError>(())
    };
    while let Some(chunk) = response.chunk().await.map_err(StreamError::Transport)? {
        splitter.feed(&chunk).map_err(StreamError::Decode)?;
        decode_ready(&mut splitter, false)?;
    }
    if !splitter.is_complete() {
        return Err(StreamError::Decode(
            "the answer ends before its JSON object does".into(),
        ));
    }
    decode_ready(&mut splitter, true)?;
    Ok(kept)
}

/// Splits a JSON object arriving in pieces at its top-level entries.
#[derive(Debug, Default)]
pub struct ObjectSplitter {
    /// Bytes of entries not yet taken, without the object's braces; whole entries end at
    /// `complete` (the separating comma excluded).
    pending: Vec<u8>,
    complete: usize,
    /// Nesting depth: 1 inside the object itself.
    depth: u32,
    in_string: bool,
    escaped: bool,
    started: bool,
    ended: bool,
}

impl ObjectSplitter {
    /// Takes in the next piece of the body.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        let mut i = 0;
        if !self.started {
            match chunk.iter().position(|b| !b.is_ascii_whitespace()) {
                None => return Ok(()),
                Some(p) if chunk[p] == b'{' => {
                    self.started = true;
                    self.depth = 1;
                    i = p + 1;
                }
                Some(_) => return Err("the answer is not a JSON object".into()),
            }
        }
        if self.ended {
            return trailing(&chunk[i..]);
        }
        // Entries are copied as they are; only the bytes that can change the structure are
        // looked at one by one (inside a string, the scan jumps to the next quote or escape).
        let base = self.pending.len();
        self.pending.extend_from_slice(&chunk[i..]);
        let mut j = base;
        while j < self.pending.len() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    j += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &self.pending[j..]) {
                    None => break,
                    Some(k) => {
                        j += k;
                        if self.pending[j] == b'"' {
                            self.in_string = false;
                        } else {
                            self.escaped = true;
                        }
                        j += 1;
                    }
                }
                continue;
            }
            match self.pending[j] {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b']' if self.depth == 1 => {
                    return Err("unbalanced ']' in the JSON object".into());
                }
                b'}' if self.depth == 1 => {
                    let after = self.pending.split_off(j);
                    self.depth = 0;
                    self.ended = true;
                    self.complete = self.pending.len();
                    return trailing(&after[1..]);
                }
                b'}' | b']' => self.depth -= 1,
                b',' if self.depth == 1 => self.complete = j,
                _ => {}
            }
            j += 1;
        }
        Ok(())
    }

    /// Whether the object's closing brace has arrived.
    pub fn is_complete(&self) -> bool {
        self.ended
    }

    /// The whole entries gathered so far as one JSON object, once they reach `min` bytes;
    /// they are then forgotten.
    pub fn take_batch(&mut self, min: usize) -> Option<Vec<u8>> {
        if self.complete == 0 || self.complete < min {
            return None;
        }
        let mut batch = Vec::with_capacity(self.complete + 2);
        batch.push(b'{');
        batch.extend_from_slice(&self.pending[..self.complete]);
        batch.push(b'}');
        // The separating comma after the last whole entry goes too.
        let taken = (self.complete + 1).min(self.pending.len());
        self.pending.drain(..taken);
        self.complete = 0;
        Some(batch)
    }
}

/// Only whitespace may follow the object.
fn trailing(rest: &[u8]) -> Result<(), String> {
    if rest.iter().all(u8::is_ascii_whitespace) {
        Ok(())
    } else {
        Err("characters after the JSON object".into())
    }
}

/// Decodes a JSON object entry by entry, each value as a `V`, and keeps what `keep` makes of
/// it (`None` drops the entry). Only one entry is decoded at a time.
pub fn object_entries<V, T>(
    json: &[u8],
    keep: impl FnMut(String, V) -> Option<T>,
) -> serde_json::Result<Vec<T>>
where
    V: DeserializeOwned,
{
    let mut de = serde_json::Deserializer::from_slice(json);
    let kept = (&mut de).deserialize_map(EntriesVisitor {
        keep,
        _value: PhantomData,
    })?;
    de.end()?;
    Ok(kept)
}

struct EntriesVisitor<F, V> {
    keep: F,
    _value: PhantomData<V>,
}

impl<'de, F, V, T> Visitor<'de> for EntriesVisitor<F, V>
where
    F: FnMut(String, V) -> Option<T>,
    V: Deserialize<'de>,
{
    type Value = Vec<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Vec<T>, A::Error> {
        let mut kept = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((key, value)) = map.next_entry::<String, V>()? {
            kept.extend((self.keep)(key, value));
        }
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Small {
        n: u32,
    }

    fn even(json: &[u8]) -> serde_json::Result<Vec<(String, u32)>> {
        object_entries(json, |k, v: Small| {
            v.n.is_multiple_of(2).then_some((k, v.n))
        })
    }

    /// Feeds `json` in pieces of `piece` bytes, taking batches of at least `min` bytes.
    fn split(json: &str, piece: usize, min: usize) -> Result<Vec<(String, u32)>, String> {
        let mut s = ObjectSplitter::default();
        let mut kept = Vec::new();
        for chunk in json.as_bytes().chunks(piece) {
            s.feed(chunk)?;
            if let Some(b) = s.take_batch(min) {
                kept.extend(even(&b).map_err(|e| e.to_string())?);
            }
        }
        if !s.is_complete() {
            return Err("incomplete".into());
        }
        if let Some(b) = s.take_batch(0) {
            kept.extend(even(&b).map_err(|e| e.to_string())?);
        }
        Ok(kept)
    }

    const TRICKY: &str = r#" { "a" : {"n":1,"big":[1,{"x":"}"}]},"b,\"}":{"n":2},
        "c":{"n":4,"x":"\\","y":[[],{}]} , "d":{"n":6} } "#;

    #[test]
    fn any_split_of_the_body_keeps_the_same_entries() {
        let whole = even(TRICKY.trim().as_bytes()).unwrap();
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0], ("b,\"}".to_string(), 2));
        for piece in 1..TRICKY.len() {
            for min in [0, 1, 10, 1000] {
                assert_eq!(split(TRICKY, piece, min).unwrap(), whole, "{piece}/{min}");
            }
        }
        assert!(split("{}", 1, 0).unwrap().is_empty());
        assert!(split(" { } ", 2, 0).unwrap().is_empty());
    }

    #[test]
    fn a_body_that_is_not_one_whole_object_is_an_error() {
        assert!(split("[1,2]", 3, 0).is_err());
        assert!(split(r#"{"a":{"n":1}"#, 3, 0).is_err());
        assert!(split(r#"{"a":{"n":1}} x"#, 3, 0).is_err());
        assert!(split(r#"{"a":{"n":"x"}}"#, 3, 0).is_err());
        assert!(split(r#"{"a":{"n":2]}"#, 3, 0).is_err());
    }
}
