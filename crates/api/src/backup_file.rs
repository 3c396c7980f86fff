//! The backup file (`helios backup FILE`, `helios-master restore --from FILE`): a first line
//! naming the format, a line of JSON saying what the backup holds ([`BackupHeader`]), then the
//! masters' replicated state, encoded as their snapshots are (`helios_store::encode_snapshot`).
//! The header's SHA-256 of the data makes a damaged or truncated file an error, not another
//! state.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The first line of every backup file, with its newline.
pub const MAGIC: &[u8] = b"HELIOS-BACKUP/1\n";

/// What a backup holds, as its second line says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupHeader {
    /// The cluster's id: a restored cluster keeps it, so its agents recognise it.
    pub cluster_id: String,
    /// The last log index the state includes.
    pub index: u64,
    /// The term of that entry.
    pub term: u64,
    /// When the backup was taken (the leader's clock, epoch ms).
    pub created_ms: i64,
    /// The name of the master that took it.
    pub master: String,
    /// The version of the master that took it.
    pub version: String,
    /// Length of the data, in bytes.
    pub data_bytes: u64,
    /// SHA-256 of the data, lowercase hex.
    pub data_sha256: String,
}

/// The bytes of a backup file holding `data` (an encoded state) described by `header`,
/// whose length and checksum are filled in here.
pub fn encode(mut header: BackupHeader, data: &[u8]) -> Vec<u8> {
    header.data_bytes = data.len() as u64;
    header.data_sha256 = format!("{:x}", Sha256::digest(data));
    // A struct of strings and numbers always serializes.
    let line = serde_json::to_vec(&header).expect("backup header serializes");
    let mut out = Vec::with_capacity(MAGIC.len() + line.len() + 1 + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&line);
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

/// Splits a backup file into its header and data, checking the format, length and checksum.
pub fn decode(bytes: &[u8]) -> Result<(BackupHeader, &[u8]), String> {
    let rest = bytes.strip_prefix(MAGIC).ok_or_else(|| {
        "not a Helios backup (it does not start with HELIOS-BACKUP/1)".to_string()
    })?;
    let end = rest
        .iter()
        .position(|b| *b == b'\n')
        .ok_or("the backup's header line is cut off")?;
    let header: BackupHeader = serde_json::from_slice(&rest[..end])
        .map_err(|e| format!("the backup's header is damaged: {e}"))?;
    let data = &rest[end + 1..];
    if data.len() as u64 != header.data_bytes {
        return Err(format!(
            "the backup is damaged or cut off: it holds {} bytes of data, its header says {}",
            data.len(),
            header.data_bytes
        ));
    }
    let sum = format!("{:x}", Sha256::digest(data));
    if sum != header.data_sha256 {
        return Err("the backup is damaged: its data does not match its checksum".into());
    }
    Ok((header, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> BackupHeader {
        BackupHeader {
            cluster_id: "c-1".into(),
            index: 42,
            term: 3,
            created_ms: 1,
            master: "m1".into(),
            version: "0.9".into(),
            data_bytes: 0,
            data_sha256: String::new(),
        }
    }

    #[test]
    fn a_backup_decodes_to_what_was_encoded() {
        let bytes = encode(header(), b"state bytes");
        let (h, data) = decode(&bytes).unwrap();
        assert_eq!(data, b"state bytes");
        assert_eq!(
            (h.cluster_id.as_str(), h.index, h.data_bytes),
            ("c-1", 42, 11)
        );
    }

    #[test]
    fn damaged_truncated_and_foreign_files_are_refused_saying_why() {
        let bytes = encode(header(), b"state bytes");
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(decode(&flipped).unwrap_err().contains("checksum"));
        let cut = &bytes[..bytes.len() - 3];
        assert!(decode(cut).unwrap_err().contains("cut off"));
        assert!(
            decode(b"{\"jobs\":{}}")
                .unwrap_err()
                .contains("not a Helios backup")
        );
        assert!(
            decode(b"HELIOS-BACKUP/1\n{\"cluster")
                .unwrap_err()
                .contains("header")
        );
    }
}
