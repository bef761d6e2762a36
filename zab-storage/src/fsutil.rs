//! Small file-system helpers that attach the path to every error and spell out
//! the sync calls, so that each durability point reads as one line.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Result, StorageError};

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// fsync a directory so that creations, renames and removals in it survive a crash.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

pub(crate) fn fdatasync(file: &File, path: &Path) -> Result<()> {
    // Safety: a plain syscall on a descriptor we own.
    let rc = unsafe { libc::fdatasync(file.as_raw_fd()) };
    if rc != 0 {
        return Err(io_err(path)(io::Error::last_os_error()));
    }
    Ok(())
}

/// Reserve `len` bytes of disk for `file`; reads of the reserved space return zeros.
pub(crate) fn preallocate(file: &File, len: u64, path: &Path) -> Result<()> {
    // Safety: a plain syscall on a descriptor we own.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
    if rc != 0 {
        return Err(io_err(path)(io::Error::from_raw_os_error(rc)));
    }
    Ok(())
}

pub(crate) fn pwrite_all(file: &File, buf: &[u8], offset: u64, path: &Path) -> Result<()> {
    file.write_all_at(buf, offset).map_err(io_err(path))
}

/// Overwrite `[from, to)` with zeros.
pub(crate) fn zero_range(file: &File, from: u64, to: u64, path: &Path) -> Result<()> {
    const CHUNK: u64 = 1 << 20;
    let zeros = vec![0u8; CHUNK.min(to.saturating_sub(from)) as usize];
    let mut off = from;
    while off < to {
        let n = CHUNK.min(to - off) as usize;
        pwrite_all(file, &zeros[..n], off, path)?;
        off += n as u64;
    }
    Ok(())
}

/// Remove a file; one that is already gone counts as removed.
pub(crate) fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(path)(e)),
        _ => Ok(()),
    }
}

/// Replace `dir/name` with `contents` so that a crash leaves the old or the new
/// contents, never a mix: write `name.tmp`, fsync it, rename, fsync the directory.
pub(crate) fn write_atomically(dir: &Path, name: &str, contents: &[u8]) -> Result<PathBuf> {
    let tmp = dir.join(format!("{name}.tmp"));
    let dst = dir.join(name);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    f.write_all(contents).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    fs::rename(&tmp, &dst).map_err(io_err(&dst))?;
    fsync_dir(dir)?;
    Ok(dst)
}

/// True if every byte is zero.
pub(crate) fn all_zero(b: &[u8]) -> bool {
    // Word at a time: this runs over preallocated tails at recovery.
    let (head, words, tail) = unsafe { b.align_to::<u64>() };
    head.iter().all(|&x| x == 0) && words.iter().all(|&x| x == 0) && tail.iter().all(|&x| x == 0)
}

/// `prefix.<hex>` names as ZooKeeper writes them (`Long.toHexString`, no padding).
pub(crate) fn zxid_file_name(prefix: &str, zxid: zab_core::Zxid) -> String {
    format!("{prefix}.{:x}", zxid.0)
}

/// The zxid in a `prefix.<hex>` name, or None for any other name (including `.tmp`).
pub(crate) fn parse_zxid_file_name(prefix: &str, name: &str) -> Option<zab_core::Zxid> {
    let hex = name.strip_prefix(prefix)?.strip_prefix('.')?;
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16)
        .ok()
        .map(|v| zab_core::Zxid(v as i64))
}

/// `(zxid, path)` of every `prefix.<hex>` file in `dir`, oldest first.
pub(crate) fn list_zxid_files(dir: &Path, prefix: &str) -> Result<Vec<(zab_core::Zxid, PathBuf)>> {
    list_files(dir, |n| parse_zxid_file_name(prefix, n))
}

/// `(what parse says of its name, path)` of every file in `dir` whose name `parse`
/// accepts, in the order of what it says (a missing `dir` has none).
pub(crate) fn list_files<T: Ord>(
    dir: &Path,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<(T, PathBuf)>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err(dir)(e)),
    };
    for ent in rd {
        let ent = ent.map_err(io_err(dir))?;
        if let Some(t) = ent.file_name().to_str().and_then(&parse) {
            out.push((t, ent.path()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
