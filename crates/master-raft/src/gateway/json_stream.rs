//! Large JSON objects (`GET /jobs`, `POST /jobs/statuses`) written as a stream of chunks.
//!
//! Helios's API answers a listing with one JSON object holding every entry. Built whole, 100,000
//! jobs are a 70 MB buffer on the master (and a copy of every job before it). Here the handler
//! hands over an iterator of owned entries, taken from an O(1) copy of the persistent state,
//! and the body serializes them [`CHUNK`] bytes at a time as the client reads: the master holds
//! one chunk per slow client, and `apply` is never held up. The bytes are exactly those of
//! `serde_json::to_vec` of the same map. Each value writes its own JSON ([`EntryJson`]): a
//! stored job decompresses its JSON straight into the chunk, anything else goes through
//! serde ([`Serialized`]).

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::state::AsJson;

/// Bytes serialized before a chunk is handed to the connection.
pub const CHUNK: usize = 64 << 10;

/// A value of a streamed object: writes its own JSON.
pub trait EntryJson {
    /// Appends the value's JSON to `out`.
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()>;
}

/// Any serializable value, written by `serde_json`.
pub struct Serialized<T>(pub T);

impl<T: Serialize> EntryJson for Serialized<T> {
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer(out, &self.0)
    }
}

impl EntryJson for AsJson {
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        self.0.write_json(out);
        Ok(())
    }
}

/// A 200 response whose body is the JSON object of `entries`, keys in the order given.
pub fn object_response<I, V>(entries: I) -> Response
where
    I: Iterator<Item = (String, V)> + Send + 'static,
    V: EntryJson,
{
    let chunks = ObjectChunks {
        entries,
        state: Progress::Start,
    };
    let mut resp = (
        StatusCode::OK,
        Body::from_stream(futures::stream::iter(chunks.map(Ok::<_, Infallible>))),
    )
        .into_response();
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// Where an object's serialization is.
enum Progress {
    Start,
    Entries,
    Done,
}

/// The chunks of one JSON object.
struct ObjectChunks<I> {
    entries: I,
    state: Progress,
}

impl<I, V> Iterator for ObjectChunks<I>
where
    I: Iterator<Item = (String, V)>,
    V: EntryJson,
{
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let mut buf = Vec::with_capacity(CHUNK + (CHUNK >> 2));
        loop {
            match self.state {
                Progress::Done => break,
                Progress::Start | Progress::Entries => match self.entries.next() {
                    Some((key, value)) => {
                        buf.push(if matches!(self.state, Progress::Start) {
                            b'{'
                        } else {
                            b','
                        });
                        self.state = Progress::Entries;
                        if let Err(e) = write_entry(&mut buf, &key, &value) {
                            // Our model types always serialize; should one not, the body ends
                            // short (invalid JSON) rather than silently leaving an entry out.
                            tracing::error!("cannot serialize {key} into a listing: {e}");
                            self.state = Progress::Done;
                            break;
                        }
                        if buf.len() >= CHUNK {
                            break;
                        }
                    }
                    None => {
                        if matches!(self.state, Progress::Start) {
                            buf.push(b'{');
                        }
                        buf.push(b'}');
                        self.state = Progress::Done;
                    }
                },
            }
        }
        (!buf.is_empty()).then(|| Bytes::from(buf))
    }
}

fn write_entry<V: EntryJson>(buf: &mut Vec<u8>, key: &str, value: &V) -> serde_json::Result<()> {
    serde_json::to_writer(&mut *buf, key)?;
    buf.push(b':');
    value.write_json(buf)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn body_of(entries: Vec<(String, serde_json::Value)>) -> Vec<u8> {
        ObjectChunks {
            entries: entries.into_iter().map(|(k, v)| (k, Serialized(v))),
            state: Progress::Start,
        }
        .flat_map(|b| b.to_vec())
        .collect()
    }

    #[test]
    fn the_stream_is_the_same_bytes_as_the_whole_map() {
        for n in [0usize, 1, 2, 5000] {
            let map: BTreeMap<String, serde_json::Value> = (0..n)
                .map(|i| {
                    (
                        format!("job-{i:05}:\"q\"\\"),
                        serde_json::json!({"image": "x".repeat(i % 50), "n": i}),
                    )
                })
                .collect();
            let streamed = body_of(map.clone().into_iter().collect());
            assert_eq!(streamed, serde_json::to_vec(&map).unwrap(), "{n} entries");
        }
    }

    #[test]
    fn stored_jobs_are_written_as_their_json() {
        let jobs: BTreeMap<String, helios_api::Job> = (0..300)
            .map(|i| {
                let id = helios_api::JobId::full(format!("job{i}"), "1", "a".repeat(40));
                let mut job = helios_api::Job::new(id.clone(), "busybox:latest");
                job.env.insert("PAD".into(), "x".repeat(i));
                (id.to_string(), job)
            })
            .collect();
        let streamed: Vec<u8> = ObjectChunks {
            entries: jobs
                .iter()
                .map(|(id, job)| (id.clone(), AsJson(crate::state::StoredJob::new(job)))),
            state: Progress::Start,
        }
        .flat_map(|b| b.to_vec())
        .collect();
        assert_eq!(streamed, serde_json::to_vec(&jobs).unwrap());
    }

    #[test]
    fn a_large_object_comes_in_bounded_chunks() {
        let entries: Vec<(String, String)> = (0..2000)
            .map(|i| (format!("k{i}"), "v".repeat(500)))
            .collect();
        let chunks: Vec<Bytes> = ObjectChunks {
            entries: entries.into_iter().map(|(k, v)| (k, Serialized(v))),
            state: Progress::Start,
        }
        .collect();
        assert!(chunks.len() > 10, "{} chunks", chunks.len());
        assert!(chunks.iter().all(|c| c.len() < CHUNK + 1024));
    }
}
