//! The `acceptedEpoch` and `currentEpoch` files of a peer's data directory.
//!
//! ```text
//! epoch file := decimal digits            ; ZooKeeper writes no newline
//! ```
//!
//! Read like ZooKeeper reads them: the first line, parsed as a number. Written
//! atomically: `<name>.tmp`, fsync, rename, fsync the directory, so a crash
//! leaves the old value or the new one. ZAB requires the epoch to be durable
//! before ACKEPOCH / the NEWLEADER ACK is sent; ordering that is the core's job.

use std::fs;
use std::io;
use std::path::Path;

use zab_core::Epoch;

use crate::error::{Result, StorageError};
use crate::fsutil::{self, io_err};

/// ZooKeeper's file names.
pub const ACCEPTED_EPOCH: &str = "acceptedEpoch";
pub const CURRENT_EPOCH: &str = "currentEpoch";

/// Durably replace `dir/name` with `epoch`.
pub fn write_epoch_file(dir: &Path, name: &str, epoch: Epoch) -> Result<()> {
    fsutil::write_atomically(dir, name, epoch.0.to_string().as_bytes())?;
    Ok(())
}

/// The epoch in `dir/name`, or `None` if the file does not exist.
pub fn read_epoch_file(dir: &Path, name: &str) -> Result<Option<Epoch>> {
    let path = dir.join(name);
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let text = String::from_utf8_lossy(&text[..text.len().min(64)]).into_owned();
    let line = text.lines().next().unwrap_or("").trim();
    line.parse::<u64>()
        .map(|e| Some(Epoch(e)))
        .map_err(|_| StorageError::BadEpochFile {
            file: path,
            content: text,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_files_round_trip_in_zookeepers_format() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_epoch_file(d.path(), ACCEPTED_EPOCH).unwrap(), None);
        write_epoch_file(d.path(), ACCEPTED_EPOCH, Epoch(7)).unwrap();
        write_epoch_file(d.path(), CURRENT_EPOCH, Epoch(6)).unwrap();
        write_epoch_file(d.path(), ACCEPTED_EPOCH, Epoch(8)).unwrap();
        assert_eq!(
            read_epoch_file(d.path(), ACCEPTED_EPOCH).unwrap(),
            Some(Epoch(8))
        );
        assert_eq!(
            read_epoch_file(d.path(), CURRENT_EPOCH).unwrap(),
            Some(Epoch(6))
        );
        assert_eq!(
            fs::read_to_string(d.path().join(ACCEPTED_EPOCH)).unwrap(),
            "8"
        );
        assert!(!d.path().join("acceptedEpoch.tmp").exists());
    }

    #[test]
    fn epoch_file_with_a_newline_is_read_and_garbage_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join(CURRENT_EPOCH), "12\n").unwrap();
        assert_eq!(
            read_epoch_file(d.path(), CURRENT_EPOCH).unwrap(),
            Some(Epoch(12))
        );
        fs::write(d.path().join(CURRENT_EPOCH), "x1").unwrap();
        let e = read_epoch_file(d.path(), CURRENT_EPOCH).unwrap_err();
        assert!(matches!(e, StorageError::BadEpochFile { .. }), "{e}");
    }
}
