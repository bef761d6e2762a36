//! Durability for the server: recovery at start-up (newest valid snapshot,
//! then the log replayed over it), the log as the pipeline's [`TxnSink`], and
//! fuzzy snapshots taken while writes go on.
//!
//! # Rooms
//! ```text
//! mod.rs      PersistError, where the files live (snap_dir, log_dir),
//!             log_options, the log as the pipeline's TxnSink
//! recover.rs  start-up: newest snapshot that loads, log replayed over it
//!             (recover, recover_holding_back, replay, Recovered)
//! load.rs     one snapshot file into a fresh tree on three threads
//!             (load_snapshot, LoadedSnapshot)
//! apache.rs   Apache ZooKeeper's data directories: converted at start-up,
//!             exported back (take_over_apache_files, export_apache_snapshot)
//! fuzzy.rs    taking a snapshot while writes go on (FuzzySnapshot, SnapItem,
//!             write_snapshot, SnapshotJob)
//! ```
//! Other code reaches everything through this module's re-exports. The file
//! formats are `zab-storage`'s; the tree they fill is `crate::tree`'s.
//!
//! A fuzzy snapshot is named by the last zxid applied when it starts. The core
//! walks the tree a slice at a time between requests ([`FuzzySnapshot::step`])
//! and a writer thread streams the slices to disk, so nodes are captured at
//! different moments. Replaying the log from the snapshot's zxid fixes that up:
//! applying a transaction the snapshot already reflects is harmless (see
//! `tree/apply.rs`).

use std::path::PathBuf;

use zab_core::Zxid;
use zab_storage::{LogOptions, StorageError, TxnLog};

use crate::config::Config;
use crate::replicate::TxnSink;

mod apache;
mod fuzzy;
mod load;
mod recover;
#[cfg(test)]
mod testutil;
mod zkdb;

pub use apache::{
    export_apache_snapshot, has_apache_files, load_apache_snapshot, take_over_apache_files,
    ApacheExport, ApacheVersion,
};
pub use fuzzy::{write_snapshot, write_tree_snapshot, FuzzySnapshot, SnapItem, SnapshotJob};
pub use load::{load_snapshot, LoadedSnapshot};
pub use recover::{recover, recover_holding_back, replay, Recovered};
pub use zkdb::{load_db, serialize_db};

/// Why the server could not recover its state.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{file}: the transaction at byte offset {offset} (zxid {zxid}) does not decode: {why}; {WIPE}")]
    TxnDecode {
        file: PathBuf,
        offset: u64,
        zxid: Zxid,
        why: String,
    },
    #[error("{file}: {why}; an older snapshot may be used by moving this one away")]
    BadSnapshot { file: PathBuf, why: String },
    #[error("{file}: the log has a gap: the record at byte offset {offset} (zxid {zxid}) follows {prev}, but replay {after}; transactions between them are missing. Restore the missing log segments, or {WIPE}")]
    LogGap {
        file: PathBuf,
        offset: u64,
        zxid: Zxid,
        prev: Zxid,
        /// What the replay had reached: "starts after snapshot F at zxid S",
        /// or "had reached zxid Z".
        after: String,
    },
    #[error("no snapshot and log combination is complete: {tried}; {WIPE}")]
    Incomplete { tried: String },
    #[error("Apache ZooKeeper's data files: {0}")]
    Apache(String),
    #[error("cannot create {dir}: {source}")]
    Dir {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// What the operator can do about a data directory that cannot be recovered.
const WIPE: &str = "wipe this node's data directories and let it resync from the leader (a standalone server: restore them from a backup)";

/// Where ZooKeeper keeps snapshots and logs: `<dir>/version-2`.
pub fn snap_dir(cfg: &Config) -> PathBuf {
    cfg.data_dir.join("version-2")
}

pub fn log_dir(cfg: &Config) -> PathBuf {
    cfg.data_log_dir.join("version-2")
}

pub fn log_options(cfg: &Config) -> LogOptions {
    LogOptions {
        prealloc_bytes: cfg.pre_alloc_size,
        force_sync: cfg.force_sync,
        max_txn_bytes: cfg.jute_max_buffer + (1 << 16),
    }
}

impl TxnSink for TxnLog {
    fn append(&mut self, zxid: Zxid, txn: &[u8]) -> std::io::Result<()> {
        TxnLog::append(self, zxid, txn).map_err(std::io::Error::other)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        TxnLog::flush(self)
            .map(|_| ())
            .map_err(std::io::Error::other)
    }
    fn roll(&mut self) -> std::io::Result<()> {
        TxnLog::roll(self).map_err(std::io::Error::other)
    }
    fn restart_at(&mut self, zxid: Zxid) -> std::io::Result<()> {
        TxnLog::restart_at(self, zxid).map_err(std::io::Error::other)
    }
}
