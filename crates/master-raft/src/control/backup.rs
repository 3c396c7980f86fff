//! `helios backup`: a consistent copy of the replicated state, taken at the leader after a
//! read-index check, so it holds every write acknowledged before the request (see
//! [`helios_api::backup_file`] for the file, `helios-master restore` for its use).

use super::Error;
use super::version::SERVER_VERSION;
use crate::node::{Node, NodeError};
use helios_api::backup_file::{self, BackupHeader};

/// The backup file of the state as it is now: the applied state, as one snapshot.
pub async fn take(app: &Node) -> Result<Vec<u8>, Error> {
    app.read(|_| ()).await?;
    let (state, applied) = {
        let view = app
            .shared
            .read()
            .map_err(|_| NodeError::Unavailable("the applied state's lock is poisoned".into()))?;
        (view.state.clone(), view.last_applied)
    };
    let cluster_id = state.cluster_id.clone().ok_or_else(|| {
        Error::conflict(
            "NO_CLUSTER_ID",
            "the cluster has no id yet: nothing to back up",
        )
    })?;
    let applied = applied.ok_or_else(|| Error::conflict("NO_CLUSTER_ID", "nothing applied yet"))?;
    let header = BackupHeader {
        cluster_id,
        index: applied.index,
        term: applied.leader_id.term,
        created_ms: app.clock.now_ms(),
        master: app.name.clone(),
        version: SERVER_VERSION.to_string(),
        data_bytes: 0,
        data_sha256: String::new(),
    };
    // Encoding a large state takes a while: off the async workers.
    let encoded = tokio::task::spawn_blocking(move || {
        helios_store::encode_snapshot(&state).map(|data| backup_file::encode(header, &data))
    })
    .await
    .map_err(|e| NodeError::Unavailable(format!("encoding the backup: {e}")))?
    .map_err(|e| NodeError::Unavailable(format!("encoding the backup: {e}")))?;
    tracing::info!(index = applied.index, bytes = encoded.len(), "backup taken");
    Ok(encoded)
}
