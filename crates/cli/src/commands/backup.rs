//! `helios backup FILE`: a consistent copy of the cluster's state (`GET /backup`, admin
//! token), written to FILE whole or not at all (a temporary file, synced, then renamed), for
//! `helios-master restore --from FILE`. Prints what the backup holds.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use helios_api::backup_file;
use reqwest::Method;

use super::Context;
use crate::args::BackupArgs;
use crate::client::{HeliosClient, Request, status_error};
use crate::output::json;

/// Runs the command.
pub async fn run(
    args: &BackupArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let request = Request::new(Method::GET, &["backup"]);
    let reply = client.send(&request).await?;
    if reply.status != 200 {
        return Err(status_error(&request, &reply).into());
    }
    let (header, _) = backup_file::decode(&reply.body)
        .map_err(|e| anyhow::anyhow!("the master's answer is not a usable backup: {e}"))?;
    write_whole(&args.file, &reply.body)?;
    if ctx.json {
        writeln!(ctx.out, "{}", json::compact(&json::to_value(&header)))?;
    } else {
        writeln!(
            ctx.out,
            "backup of cluster {} at index {} ({} bytes): {}",
            header.cluster_id,
            header.index,
            reply.body.len(),
            args.file.display()
        )?;
    }
    Ok(0)
}

/// Writes `bytes` to `path` through a synced temporary file beside it, renamed over it.
fn write_whole(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write a backup in {}", dir.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::commands::tests::helios;
    use helios_api::backup_file::{self, BackupHeader};

    /// The backup is written whole and described; an answer that is not a backup writes
    /// nothing and fails.
    #[tokio::test]
    async fn backup_writes_the_file_and_refuses_a_damaged_answer() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("b.hbk");
        let header = BackupHeader {
            cluster_id: "c-1".into(),
            index: 7,
            term: 2,
            created_ms: 1,
            master: "m1".into(),
            version: "0.9".into(),
            data_bytes: 0,
            data_sha256: String::new(),
        };
        let bytes = backup_file::encode(header, b"state");
        let body = String::from_utf8(bytes.clone()).unwrap();
        let path = file.to_str().unwrap();
        let (code, out, _, seen) = helios(&["backup", path], vec![(200, body)], "").await;
        assert_eq!(code, 0, "{out}");
        assert_eq!(seen[0].line, "GET /backup?user=tester");
        assert_eq!(
            out,
            format!(
                "backup of cluster c-1 at index 7 ({} bytes): {path}\n",
                bytes.len()
            )
        );
        assert_eq!(std::fs::read(&file).unwrap(), bytes);
        let other = dir.path().join("c.hbk");
        let (code, _, err, _) = helios(
            &["backup", other.to_str().unwrap()],
            vec![(200, "{}".into())],
            "",
        )
        .await;
        assert_eq!(code, 1, "{err}");
        assert!(!other.exists());
    }
}
