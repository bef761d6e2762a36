//! zab-storage: a peer's durable memory.
//!
//! * [`TxnLog`] (module [`log`]): the transaction log. Preallocated,
//!   checksummed segments `log.<first zxid hex>`; `append` buffers, `flush`
//!   makes everything appended durable with one `pwrite` + `fdatasync` (group
//!   commit); `iter_from` serves DIFF and replay straight from mapped memory;
//!   `truncate_to` serves TRUNC; `restart_at` continues the log after a SNAP.
//!   Byte layout in [`record`].
//! * [`SnapshotWriter`] / [`SnapshotReader`] (module [`snapshot`]): fuzzy
//!   snapshots streamed entry by entry, with a crc over the file, a
//!   [`TreeDigest`] over the nodes and Apache's digest of them (version 3); [`latest_valid_snapshot`] falls back past
//!   corrupt ones; [`should_snapshot`] is ZooKeeper's randomised trigger.
//! * [`write_epoch_file`] / [`read_epoch_file`]: `acceptedEpoch` and `currentEpoch`.
//! * [`purge()`]: retention of snapshots and the segments they need.
//! * [`apache_log`]: Apache ZooKeeper's own log files (`FileTxnLog`), read so
//!   that a server can take over the data directory Apache left behind.
//!
//! Restart, in the order the server should do it:
//! ```text
//! let snap = latest_valid_snapshot(data_dir)?;          // None: start from an empty tree
//! load its entries into the tree (next_entry until None; that also checks the digest);
//! let (log, info) = TxnLog::open(log_dir, opts)?;       // refuses on corruption
//! for e in log.iter_from(snap_zxid.next()) { apply e?.txn, tolerating already-applied txns }
//! if log.last_zxid() < snap_zxid { log.restart_at(snap_zxid)?; }  // log ended before the snapshot
//! // the log's sync thread now owns `log`: append a batch, flush, report "durable up to Z"
//! ```
//!
//! This crate knows bytes, files and fsync. It does not know the data tree
//! (`zk-server` owns it: it feeds the snapshot writer, consumes the reader and
//! keeps its digest) nor the protocol's order of persisting and sending
//! (`zab-core` owns that). Every corruption is an error naming the file and the
//! byte offset; nothing is repaired silently. Formats: `docs/formats.md`.

pub mod apache_log;
pub mod apache_snapshot;
pub mod digest;
pub mod epoch;
pub mod error;
mod fsutil;
pub mod log;
pub mod purge;
pub mod record;
pub mod snappy_stream;
pub mod snapshot;

pub use digest::TreeDigest;
pub use epoch::{read_epoch_file, write_epoch_file, ACCEPTED_EPOCH, CURRENT_EPOCH};
pub use error::{Result, StorageError};
pub use log::{LogEntry, LogIter, LogOptions, PendingSync, RecoveryInfo, TxnLog};
pub use purge::{purge, Purged};
pub use snapshot::{
    latest_valid_snapshot, list_snapshots, should_snapshot, Entries, SnapEntry, SnapshotReader,
    SnapshotSummary, SnapshotWriter, Span,
};

#[cfg(test)]
mod send_check {
    fn is_send<T: Send>() {}

    #[test]
    fn log_and_snapshot_types_can_move_to_a_sync_thread() {
        is_send::<super::TxnLog>();
        is_send::<super::SnapshotWriter>();
        is_send::<super::SnapshotReader>();
    }
}
