//! Encoding of keys and values: big-endian indexes (so that key order is log order) and JSON
//! values, with every failure mapped to an `io::Error` that names what could not be decoded.

use std::io;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes a log index as a key that sorts in index order.
pub fn index_key(index: u64) -> Vec<u8> {
    index.to_be_bytes().to_vec()
}

/// Serializes a value for storage.
pub fn encode<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// Deserializes a stored value; `what` names it in the error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> io::Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("corrupt {what}: {e}")))
}
