//! Deleting old snapshots and the log segments only they needed
//! (ZooKeeper's `PurgeTxnLog` / autopurge).
//!
//! Keeps the newest `retain_count` snapshots (at least 3, as ZooKeeper insists)
//! and every log segment that replay from the oldest kept snapshot could need:
//! the segment holding the transaction after it, and all newer ones. A segment
//! can only be recognised as "before" by its first zxid, so the newest segment
//! whose first zxid is at or below the snapshot's zxid is kept too.
//!
//! Safe to run next to an open `TxnLog`: it never removes the segment the log
//! appends to, and a removed segment stays readable through the log's mapping.

use std::path::{Path, PathBuf};

use tracing::info;

use crate::error::{Result, StorageError};
use crate::fsutil;
use crate::log::LOG_PREFIX;
use crate::snapshot::list_snapshots;

/// What [`purge`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub snapshots: Vec<PathBuf>,
    pub logs: Vec<PathBuf>,
}

/// Keep the newest `retain_count` snapshots in `data_dir` and the segments in
/// `log_dir` they need; remove the rest.
pub fn purge(data_dir: &Path, log_dir: &Path, retain_count: usize) -> Result<Purged> {
    if retain_count < 3 {
        return Err(StorageError::RetainTooFew {
            retain: retain_count,
        });
    }
    let snaps = list_snapshots(data_dir)?;
    let mut purged = Purged::default();
    if snaps.len() < retain_count {
        // Fewer snapshots than we keep: everything is still needed.
        return Ok(purged);
    }
    let split = snaps.len() - retain_count;
    let oldest_kept = snaps[split].0;
    let logs = fsutil::list_zxid_files(log_dir, LOG_PREFIX)?;
    // Index of the first segment to keep.
    let keep_from = logs
        .partition_point(|(first, _)| *first <= oldest_kept)
        .saturating_sub(1);
    for (_, path) in &snaps[..split] {
        fsutil::remove_file(path)?;
        purged.snapshots.push(path.clone());
    }
    for (_, path) in &logs[..keep_from] {
        fsutil::remove_file(path)?;
        purged.logs.push(path.clone());
    }
    if !purged.snapshots.is_empty() {
        fsutil::fsync_dir(data_dir)?;
    }
    if !purged.logs.is_empty() {
        fsutil::fsync_dir(log_dir)?;
    }
    info!(
        snapshots = purged.snapshots.len(),
        logs = purged.logs.len(),
        "purged old snapshots and logs"
    );
    Ok(purged)
}
