//! The crate's one error type.
//!
//! Corruption variants carry the file and the byte offset and tell the operator
//! what to do: a peer's data directory that fails its checks is not repaired
//! here, it is wiped and refilled from the leader (DIFF, TRUNC or SNAP).

use std::io;
use std::path::PathBuf;

use zab_core::Zxid;

/// What the operator can do about a corrupt data directory.
const WIPE: &str = "wipe this node's data directory and let it resync from the leader";

/// Everything that can go wrong in `zab-storage`.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{file}: record header checksum mismatch at byte offset {offset} (stored {expected:#010x}, computed {actual:#010x}); {WIPE}")]
    HeaderChecksumMismatch {
        file: PathBuf,
        offset: u64,
        expected: u32,
        actual: u32,
    },

    #[error("{file}: checksum mismatch in the record at byte offset {offset} (stored {expected:#010x}, computed {actual:#010x}); {WIPE}")]
    ChecksumMismatch {
        file: PathBuf,
        offset: u64,
        expected: u32,
        actual: u32,
    },

    #[error(
        "{file}: record at byte offset {offset} has a valid header but an empty payload; {WIPE}"
    )]
    EmptyRecord { file: PathBuf, offset: u64 },

    #[error(
        "{file}: record at byte offset {offset} lacks its end byte although data follows it (damaged, not a torn write); {WIPE}"
    )]
    MissingRecordEnd { file: PathBuf, offset: u64 },

    #[error(
        "{file}: zxid gap at byte offset {offset}: expected {expected}, found {actual}; {WIPE}"
    )]
    ZxidGap {
        file: PathBuf,
        offset: u64,
        expected: Zxid,
        actual: Zxid,
    },

    #[error("{file}: torn record at byte offset {offset} in a segment that newer segments follow; {WIPE}")]
    TornSealedSegment { file: PathBuf, offset: u64 },

    #[error("{file}: bad log segment: {reason}; {WIPE}")]
    BadSegment { file: PathBuf, reason: String },

    #[error("{file}: Apache ZooKeeper log damaged at byte offset {offset}: {what}; {WIPE}")]
    ApacheLog {
        file: PathBuf,
        offset: u64,
        what: String,
    },

    #[error("{file}: Apache ZooKeeper snapshot damaged at byte offset {offset}: {what}")]
    ApacheSnapshot {
        file: PathBuf,
        offset: u64,
        what: String,
    },

    #[error("zxid {actual} cannot follow {last}: zxids must increase, and by exactly one within an epoch")]
    ZxidOutOfOrder { last: Zxid, actual: Zxid },

    #[error("transaction {zxid} has {len} bytes; the limit is {max} and the minimum is 1")]
    BadTxnLength { zxid: Zxid, len: usize, max: usize },

    #[error("the log is unusable after an earlier write or sync failure; restart the server so it recovers from disk")]
    Poisoned,

    #[error("{file}: snapshot is truncated or too short ({len} bytes); an older snapshot will be used if there is one")]
    SnapshotTruncated { file: PathBuf, len: u64 },

    #[error("{file}: not a snapshot: {reason}")]
    SnapshotBadHeader { file: PathBuf, reason: String },

    #[error("{file}: snapshot checksum mismatch (stored {expected:#010x}, computed {actual:#010x}); an older snapshot will be used if there is one")]
    SnapshotChecksumMismatch {
        file: PathBuf,
        expected: u32,
        actual: u32,
    },

    #[error("{file}: malformed snapshot entry at byte offset {offset}: {reason}; {WIPE}")]
    SnapshotMalformed {
        file: PathBuf,
        offset: u64,
        reason: String,
    },

    #[error("{file}: snapshot tree digest mismatch (stored {expected:#018x}, computed {actual:#018x}); {WIPE}")]
    DigestMismatch {
        file: PathBuf,
        expected: u64,
        actual: u64,
    },

    #[error("{file}: epoch file does not hold a decimal number: {content:?}")]
    BadEpochFile { file: PathBuf, content: String },

    #[error("purge must retain at least 3 snapshots, asked for {retain}")]
    RetainTooFew { retain: usize },
}

/// Results of this crate.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// For callers that speak `std::io` (e.g. `zk-server`'s `TxnSink`): I/O errors
/// keep their kind, everything else is `InvalidData` with this error as source.
impl From<StorageError> for io::Error {
    fn from(e: StorageError) -> io::Error {
        match e {
            StorageError::Io { source, path } => {
                io::Error::new(source.kind(), StorageError::Io { path, source })
            }
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}
