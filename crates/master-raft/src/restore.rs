//! `helios-master restore --from FILE`: seeds an empty data directory with a backup
//! ([`helios_api::backup_file`]) as the state of a one-member cluster whose only member is the
//! master the flags describe. Started with the same flags, that master leads at once, at the
//! backup's log index, with the backup's cluster id; the other members are added as to any
//! cluster (`--join`, or `--await-add` and `helios masters add`).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, bail};
use openraft::vote::RaftLeaderIdExt;
use openraft::{Membership, StoredMembership};

use crate::config::MasterConfig;
use crate::raft::types::{MasterNode, TypeConfig};
use crate::state::State;
use helios_api::backup_file;

/// Writes the backup in `from` into `cfg.data_dir`, which must hold no master data; returns
/// what it restored.
pub fn seed(
    cfg: &MasterConfig,
    from: &std::path::Path,
) -> anyhow::Result<backup_file::BackupHeader> {
    let log_dir = cfg.data_dir.join(helios_store::LOG_DIRECTORY);
    let holds_log = std::fs::read_dir(&log_dir).is_ok_and(|mut entries| entries.next().is_some());
    if cfg.data_dir.join("db").exists() || holds_log {
        bail!(
            "{} already holds a master's data: restore into an empty directory",
            cfg.data_dir.display()
        );
    }
    let bytes = std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    let (header, data) =
        backup_file::decode(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", from.display()))?;
    let state: State = helios_store::decode_snapshot(data)
        .with_context(|| format!("{}: the state does not decode", from.display()))?;
    if state.cluster_id.as_deref() != Some(header.cluster_id.as_str()) {
        bail!(
            "{}: the state's cluster id {:?} is not the header's {}",
            from.display(),
            state.cluster_id,
            header.cluster_id
        );
    }
    if let Some(why) = state.removal_of(cfg.id) {
        bail!("--id {}: {why}", cfg.id);
    }
    let node = MasterNode {
        name: cfg.name.clone(),
        cluster_addr: cfg.advertise_cluster.clone(),
        http_addr: cfg.advertise_http.clone(),
    };
    // The backup's index, under term 0: this member starts with no vote (term 0), elects
    // itself in term 1, and its first entry, after the backup's, must order after it. The
    // backup's own term (in its header) says nothing about the new cluster's terms.
    let leader =
        <openraft::alias::LeaderIdOf<TypeConfig> as RaftLeaderIdExt>::new_committed(0, cfg.id);
    let log_id = openraft::alias::LogIdOf::<TypeConfig>::new(leader, header.index);
    let membership = Membership::new(
        vec![BTreeSet::from([cfg.id])],
        BTreeMap::from([(cfg.id, node)]),
    )
    .context("the restored member's membership")?;
    let meta = openraft::alias::SnapshotMetaOf::<TypeConfig> {
        last_log_id: Some(log_id),
        last_membership: StoredMembership::new(Some(log_id), membership),
    };
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create {}", cfg.data_dir.display()))?;
    crate::config::restrict_to_owner(&cfg.data_dir)?;
    let (store, snapshots) = helios_store::open_data_dir::<TypeConfig>(&cfg.data_dir)
        .with_context(|| format!("cannot open a store in {}", cfg.data_dir.display()))?;
    helios_store::seed_snapshot::<TypeConfig>(&store, &snapshots, &meta, data.to_vec())
        .with_context(|| format!("cannot write the backup into {}", cfg.data_dir.display()))?;
    drop((store, snapshots));
    if cfg.security {
        crate::config::mark_secured(&cfg.data_dir)?;
    }
    Ok(header)
}
