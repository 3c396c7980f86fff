//! Encoding of keys and values: big-endian indexes (so that key order is log order), JSON
//! values, and MessagePack snapshots, with every failure mapped to an `io::Error` that names
//! what could not be decoded.

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

/// Marks an LZ4-compressed snapshot in LZ4's block format, as earlier versions wrote it (a
/// JSON snapshot starts with `{`, a MessagePack one with a map marker; neither starts with
/// this).
const LZ4_SNAPSHOT: &[u8; 4] = b"HLZ4";

/// Marks an LZ4-compressed snapshot in LZ4's frame format, written and read as a stream.
const LZ4_FRAME_SNAPSHOT: &[u8; 4] = b"HLZF";

/// Serializes a state-machine snapshot: MessagePack with field names (self-describing like
/// JSON, so the same serde attributes apply, but about twice as fast), LZ4-compressed behind
/// [`LZ4_FRAME_SNAPSHOT`] (a state of many similar jobs shrinks several times, so there is far
/// less to write, sync and send to a lagging member). The encoder streams into the
/// compressor: only the compressed bytes are ever held, never the whole plain encoding.
pub fn encode_snapshot<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidInput, e);
    // The content checksum makes a damaged snapshot an error instead of another state.
    let frame = lz4_flex::frame::FrameInfo::new().content_checksum(true);
    let mut out =
        lz4_flex::frame::FrameEncoder::with_frame_info(frame, LZ4_FRAME_SNAPSHOT.to_vec());
    rmp_serde::encode::write_named(&mut out, value).map_err(|e| invalid(e.to_string()))?;
    out.finish().map_err(|e| invalid(e.to_string()))
}

/// Deserializes a snapshot written by [`encode_snapshot`] (decompressed as it is decoded), or
/// an LZ4 block, uncompressed MessagePack or JSON one (a JSON object starts with `{`, which no
/// MessagePack map does) as earlier versions wrote.
pub fn decode_snapshot<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    let corrupt =
        |e: String| io::Error::new(io::ErrorKind::InvalidData, format!("corrupt snapshot: {e}"));
    if let Some(frame) = bytes.strip_prefix(LZ4_FRAME_SNAPSHOT.as_slice()) {
        let plain = io::BufReader::new(lz4_flex::frame::FrameDecoder::new(frame));
        let mut de = rmp_serde::Deserializer::new(plain);
        let value = T::deserialize(&mut de).map_err(|e| corrupt(e.to_string()))?;
        // The frame's end mark and content checksum are checked only when the decoder is
        // read to its end; anything after the value is damage too.
        let mut rest = Vec::new();
        io::Read::read_to_end(&mut de.into_inner(), &mut rest)
            .map_err(|e| corrupt(e.to_string()))?;
        if !rest.is_empty() {
            return Err(corrupt(format!("{} bytes after the state", rest.len())));
        }
        return Ok(value);
    }
    if let Some(compressed) = bytes.strip_prefix(LZ4_SNAPSHOT.as_slice()) {
        // LZ4 expands at most 255 times: a larger stated size is damage, not a reason to
        // allocate gigabytes.
        let stated = compressed
            .first_chunk::<4>()
            .map_or(0, |size| u32::from_le_bytes(*size) as usize);
        if stated > compressed.len().saturating_mul(255) {
            return Err(corrupt(format!(
                "states {stated} bytes in {} compressed",
                compressed.len()
            )));
        }
        let plain =
            lz4_flex::decompress_size_prepended(compressed).map_err(|e| corrupt(e.to_string()))?;
        return rmp_serde::from_slice(&plain).map_err(|e| corrupt(e.to_string()));
    }
    if bytes.first() == Some(&b'{') {
        return decode(bytes, "snapshot");
    }
    rmp_serde::from_slice(bytes).map_err(|e| corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn sample() -> BTreeMap<String, Vec<String>> {
        (0..500)
            .map(|i| (format!("job-{i}:1"), vec!["sleep".into(), format!("{i}")]))
            .collect()
    }

    #[test]
    fn snapshots_round_trip_compressed() {
        let bytes = encode_snapshot(&sample()).unwrap();
        assert!(bytes.starts_with(LZ4_FRAME_SNAPSHOT));
        assert!(bytes.len() < rmp_serde::to_vec_named(&sample()).unwrap().len());
        let back: BTreeMap<String, Vec<String>> = decode_snapshot(&bytes).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn snapshots_of_earlier_versions_still_decode() {
        let plain = rmp_serde::to_vec_named(&sample()).unwrap();
        let json = serde_json::to_vec(&sample()).unwrap();
        let mut block = LZ4_SNAPSHOT.to_vec();
        block.extend_from_slice(&lz4_flex::compress_prepend_size(&plain));
        for bytes in [plain, json, block] {
            let back: BTreeMap<String, Vec<String>> = decode_snapshot(&bytes).unwrap();
            assert_eq!(back, sample());
        }
    }

    #[test]
    fn a_damaged_snapshot_is_an_error() {
        let mut bytes = LZ4_SNAPSHOT.to_vec();
        bytes.extend_from_slice(&lz4_flex::compress_prepend_size(
            &rmp_serde::to_vec_named(&sample()).unwrap(),
        ));
        // A stated size far beyond what LZ4 can expand to.
        bytes[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = decode_snapshot::<BTreeMap<String, Vec<String>>>(&bytes).unwrap_err();
        assert!(err.to_string().contains("corrupt snapshot"), "{err}");
        let truncated = encode_snapshot(&sample()).unwrap();
        let truncated = &truncated[..truncated.len() / 2];
        assert!(decode_snapshot::<BTreeMap<String, Vec<String>>>(truncated).is_err());
        // Any bit of the data or of the checksum: never another state.
        let good = encode_snapshot(&sample()).unwrap();
        for at in (LZ4_FRAME_SNAPSHOT.len()..good.len())
            .step_by(7)
            .chain([good.len() - 1])
        {
            let mut flipped = good.clone();
            flipped[at] ^= 0x10;
            assert!(
                decode_snapshot::<BTreeMap<String, Vec<String>>>(&flipped).is_err(),
                "a flipped bit at {at} of {} went unnoticed",
                good.len()
            );
        }
    }
}
