//! The transaction log: a directory of preallocated, checksummed segments.
//!
//! This module owns appending, group commit, recovery, DIFF reads (`iter_from`),
//! TRUNC (`truncate_to`) and segment rolling. It does not interpret the
//! transactions (the payload is a serialized `zab_core::txn::Txn`; decode it with
//! `zab_core::jute::Record::from_bytes`) and it does not apply them: that is the
//! data tree's job in `zk-server`.
//!
//! The byte layout is in [`crate::record`]; in short:
//!
//! ```text
//! log dir  := segment*                       ; named log.<first zxid hex>
//! segment  := file_header record* zero*      ; preallocated to LogOptions::prealloc_bytes
//! record   := record_crc:u32 len:u32 zxid:i64 payload_crc:u32 payload:byte{len}
//! ```
//!
//! # Durability contract
//! * [`TxnLog::append`] only buffers. Nothing is durable until [`TxnLog::flush`]
//!   returns `Ok(z)`: then every record up to and including `z` is on disk.
//!   Many appends followed by one flush is the group commit: one `pwrite` and one
//!   `fdatasync` for the whole batch (see `docs/decisions/0001-log-flush-fsync.md`).
//! * With `force_sync: false` (ZooKeeper's `forceSync=no`) flush skips the
//!   `fdatasync`: a power failure can then lose transactions that were
//!   acknowledged to the leader. That breaks ZAB's guarantees; use it only for
//!   tests and benchmarks.
//! * After an I/O error in a write or a sync, the log refuses further work
//!   ([`StorageError::Poisoned`]): after a failed fsync the page cache may claim
//!   data the disk does not hold, so the only safe move is to restart and recover.
//!
//! # Zxid rule
//! Appended zxids increase strictly, and within one epoch by exactly one
//! ([`crate::record::follows`]). Recovery checks the same rule and reports a gap as
//! corruption. After a SNAP sync the log no longer continues from its own last
//! record: call [`TxnLog::restart_at`] with the snapshot's zxid, which starts a
//! segment whose header records that base.
//!
//! # Recovery
//! A torn last record (cut short, or partly zeros) is the end of the log; its
//! remains are zeroed so later appends start from clean space. A complete record
//! with a bad checksum, a zxid gap, a torn record in a segment that newer
//! segments follow, or a zeroed record header with data after it is an error
//! naming the file and byte offset. Nothing is
//! repaired silently.
//!
//! The log is `Send`: the server's sync thread owns it and feeds it batches.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use tracing::{info, warn};
use zab_core::jute::{JuteError, Record};
use zab_core::txn::Txn;
use zab_core::Zxid;

use crate::error::{Result, StorageError};
use crate::fsutil::{self, io_err};
use crate::record::{self, Decoded, Fault, FileHeader, FILE_HEADER_LEN, RECORD_HEADER_LEN};

/// The file-name prefix of log segments, as in ZooKeeper.
pub const LOG_PREFIX: &str = "log";

/// How a [`TxnLog`] writes.
#[derive(Clone, Debug)]
pub struct LogOptions {
    /// Size each new segment is preallocated to (ZooKeeper's `preAllocSize`).
    pub prealloc_bytes: u64,
    /// `fdatasync` on flush. `false` is ZooKeeper's `forceSync=no`: unsafe.
    pub force_sync: bool,
    /// Largest transaction accepted by `append` (ZooKeeper's `jute.maxbuffer` plus slack).
    pub max_txn_bytes: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            prealloc_bytes: 64 << 20,
            force_sync: true,
            max_txn_bytes: 16 << 20,
        }
    }
}

/// What [`TxnLog::open`] found on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryInfo {
    pub segments: usize,
    pub records: u64,
    pub first_zxid: Option<Zxid>,
    pub last_zxid: Option<Zxid>,
    /// Where a torn last write was found and dropped, and why it counted as torn.
    pub torn_tail: Option<(PathBuf, u64, &'static str)>,
    /// Newest segments that held no complete record and were removed.
    pub removed_empty: Vec<PathBuf>,
}

struct Segment {
    path: PathBuf,
    file: File,
    /// Read-only view of the whole file; records written with `pwrite` show up
    /// in it because both go through the page cache.
    map: Option<Mmap>,
    header: FileHeader,
    capacity: u64,
    /// Offset where the next record goes; everything before it is written.
    end: u64,
    last_zxid: Zxid,
    /// Written since the last fdatasync.
    dirty: bool,
    /// Every byte before this offset has been written (records or zeros). Writing
    /// over such bytes changes no metadata, so an `fdatasync` flushes data only;
    /// writing into the preallocated (unwritten) space makes the file system
    /// record the conversion in its journal at the next sync. Appends therefore
    /// write zeros [`ZERO_AHEAD`] bytes ahead: one journal commit per that many
    /// bytes instead of one per flush.
    zeroed: u64,
}

/// How far ahead of the records a segment is zero-filled (see `Segment::zeroed`).
const ZERO_AHEAD: u64 = 1 << 20;

impl Segment {
    fn bytes(&self) -> &[u8] {
        match &self.map {
            Some(m) => &m[..self.end as usize],
            None => &[],
        }
    }
}

/// The transaction log of one peer.
pub struct TxnLog {
    dir: PathBuf,
    opts: LogOptions,
    /// Oldest first.
    segments: Vec<Segment>,
    /// Whether the newest segment takes appends; false after `roll`.
    active_open: bool,
    /// Encoded records not yet written to the newest segment.
    pending: Vec<u8>,
    pending_last: Zxid,
    /// The zxid the next append must follow.
    last: Zxid,
    durable: Zxid,
    poisoned: bool,
}

/// Records written to the page cache by [`TxnLog::start_flush`] and not yet synced.
/// `Send`, so that the `fdatasync` can run on another thread.
pub struct PendingSync {
    files: Vec<(File, PathBuf)>,
    upto: Zxid,
}

impl PendingSync {
    /// Everything appended up to this zxid is durable once [`PendingSync::sync`] succeeds.
    pub fn upto(&self) -> Zxid {
        self.upto
    }

    /// `fdatasync` every segment written since the last flush (none with
    /// `force_sync: false`); returns [`PendingSync::upto`].
    pub fn sync(self) -> Result<Zxid> {
        for (f, path) in &self.files {
            fsutil::fdatasync(f, path)?;
        }
        Ok(self.upto)
    }
}

/// One record read back from the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogEntry<'a> {
    pub zxid: Zxid,
    /// The serialized `Txn`, borrowed from the mapped segment.
    pub txn: &'a [u8],
    /// The zxid this record follows in the log: the record before it, or for
    /// the first record of a segment the segment's `base_zxid`. A replay that
    /// starts after zxid S is complete only if its first record's
    /// `prev_zxid <= S` and every later one's `prev_zxid` is the zxid replayed
    /// just before it (a segment started by `restart_at` breaks the chain).
    pub prev_zxid: Zxid,
    /// The segment the record is in, and the record's byte offset there.
    pub file: &'a Path,
    pub offset: u64,
}

impl LogEntry<'_> {
    /// Decode the transaction (the log itself never needs to).
    pub fn decode(&self) -> Result<Txn, JuteError> {
        Txn::from_bytes(self.txn)
    }
}

impl TxnLog {
    /// Open (creating if needed) the log in `dir` and recover it.
    pub fn open(dir: impl AsRef<Path>, opts: LogOptions) -> Result<(TxnLog, RecoveryInfo)> {
        let dir = dir.as_ref().to_path_buf();
        assert!(opts.prealloc_bytes > (FILE_HEADER_LEN + RECORD_HEADER_LEN) as u64);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let files = fsutil::list_zxid_files(&dir, LOG_PREFIX)?;
        let mut info = RecoveryInfo::default();
        let mut segments: Vec<Segment> = Vec::with_capacity(files.len());
        let n = files.len();
        for (i, (name_zxid, path)) in files.into_iter().enumerate() {
            let newest = i + 1 == n;
            let prev_last = segments.last().map(|s| s.last_zxid);
            match recover_segment(&path, name_zxid, prev_last, newest, &opts, &mut info)? {
                Some(seg) => segments.push(seg),
                None => {
                    warn!(file = %path.display(), "removing newest log segment: it holds no complete record");
                    fsutil::remove_file(&path)?;
                    fsutil::fsync_dir(&dir)?;
                    info.removed_empty.push(path);
                }
            }
        }
        info.segments = segments.len();
        info.first_zxid = segments.first().map(|s| s.header.first_zxid);
        info.last_zxid = segments.last().map(|s| s.last_zxid);
        let last = info.last_zxid.unwrap_or(Zxid::ZERO);
        if let Some(l) = info.last_zxid {
            info!(dir = %dir.display(), segments = info.segments, records = info.records, last_zxid = %l, "recovered transaction log");
        }
        let log = TxnLog {
            dir,
            opts,
            active_open: !segments.is_empty(),
            segments,
            pending: Vec::new(),
            pending_last: last,
            last,
            durable: last,
            poisoned: false,
        };
        Ok((log, info))
    }

    /// Buffer one transaction. Not durable until [`TxnLog::flush`] returns.
    pub fn append(&mut self, zxid: Zxid, txn: &[u8]) -> Result<()> {
        self.check_usable()?;
        if txn.is_empty() || txn.len() > self.opts.max_txn_bytes {
            return Err(StorageError::BadTxnLength {
                zxid,
                len: txn.len(),
                max: self.opts.max_txn_bytes,
            });
        }
        if !record::follows(self.last, zxid) {
            return Err(StorageError::ZxidOutOfOrder {
                last: self.last,
                actual: zxid,
            });
        }
        let rec_len = record::record_len(txn.len()) as u64;
        let fits = self.active_open
            && self
                .segments
                .last()
                .is_some_and(|s| s.end + self.pending.len() as u64 + rec_len <= s.capacity);
        if !fits {
            self.write_pending()?;
            self.start_segment(zxid, rec_len)?;
        }
        record::encode_record(&mut self.pending, zxid, txn);
        self.pending_last = zxid;
        self.last = zxid;
        Ok(())
    }

    /// Make every appended transaction durable; returns the zxid it is durable up to.
    pub fn flush(&mut self) -> Result<Zxid> {
        self.check_usable()?;
        self.write_pending()?;
        if self.opts.force_sync {
            for s in self.segments.iter_mut().filter(|s| s.dirty) {
                if let Err(e) = fsutil::fdatasync(&s.file, &s.path) {
                    self.poisoned = true;
                    return Err(e);
                }
                s.dirty = false;
            }
        } else {
            self.segments.iter_mut().for_each(|s| s.dirty = false);
        }
        self.durable = self.last;
        Ok(self.durable)
    }

    /// The first half of [`TxnLog::flush`] for a caller that syncs on another thread
    /// while it goes on appending: writes the buffered records out (page cache, no
    /// sync) and returns what must be synced. Nothing becomes durable here; pass
    /// the result of [`PendingSync::sync`] to [`TxnLog::finish_flush`].
    pub fn start_flush(&mut self) -> Result<PendingSync> {
        self.check_usable()?;
        self.write_pending()?;
        let mut files = Vec::new();
        for s in self.segments.iter_mut().filter(|s| s.dirty) {
            if self.opts.force_sync {
                match s.file.try_clone() {
                    Ok(f) => files.push((f, s.path.clone())),
                    Err(e) => {
                        self.poisoned = true;
                        return Err(io_err(&s.path)(e));
                    }
                }
            }
            // Appends after this point dirty the segment again for the next flush.
            s.dirty = false;
        }
        Ok(PendingSync {
            files,
            upto: self.last,
        })
    }

    /// The second half: record the outcome of a [`PendingSync::sync`]. After an
    /// error the log refuses further work, as after a failed [`TxnLog::flush`].
    pub fn finish_flush(&mut self, synced: Result<Zxid>) -> Result<Zxid> {
        match synced {
            Ok(z) => {
                // A truncation may have happened meanwhile: never claim beyond the log.
                self.durable = self.durable.max(z.min(self.last));
                Ok(self.durable)
            }
            Err(e) => {
                self.poisoned = true;
                Err(e)
            }
        }
    }

    /// The zxid the next append must follow: the last appended (durable or not),
    /// or the base set by `restart_at` / `truncate_to`.
    pub fn last_zxid(&self) -> Zxid {
        self.last
    }

    /// The zxid the log is durable up to (as of the last successful flush).
    pub fn durable_zxid(&self) -> Zxid {
        self.durable
    }

    /// The oldest zxid the log holds, if it holds any record.
    pub fn first_zxid(&self) -> Option<Zxid> {
        self.segments.first().map(|s| s.header.first_zxid)
    }

    /// The directory of the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Segment paths, oldest first.
    pub fn segment_paths(&self) -> Vec<PathBuf> {
        self.segments.iter().map(|s| s.path.clone()).collect()
    }

    /// Records with zxid >= `from`, oldest first, borrowed from the mapped
    /// segments: what DIFF sends and what replay after a snapshot applies.
    /// Yields what has been flushed (or at least written by a flush or roll),
    /// not what is still buffered.
    pub fn iter_from(&self, from: Zxid) -> LogIter<'_> {
        // The newest segment whose first zxid is <= from holds it, if any does.
        let seg = self
            .segments
            .partition_point(|s| s.header.first_zxid <= from)
            .saturating_sub(1);
        LogIter {
            log: self,
            seg,
            offset: FILE_HEADER_LEN,
            prev: self
                .segments
                .get(seg)
                .map_or(Zxid::ZERO, |s| s.header.base_zxid),
            from,
        }
    }

    /// Start a new segment at the next append (ZooKeeper's `rollLog`).
    /// Buffered records are written to the current segment first.
    pub fn roll(&mut self) -> Result<()> {
        self.check_usable()?;
        self.write_pending()?;
        self.active_open = false;
        Ok(())
    }

    /// Drop every record after `zxid`, durably (TRUNC). Afterwards the next
    /// append must follow `zxid`. Does nothing if the log ends at or before `zxid`.
    pub fn truncate_to(&mut self, zxid: Zxid) -> Result<()> {
        self.check_usable()?;
        if zxid >= self.last {
            return Ok(());
        }
        let r = self.truncate_inner(zxid);
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    fn truncate_inner(&mut self, zxid: Zxid) -> Result<()> {
        self.write_pending()?;
        // Newest segments first: a crash part way leaves a shorter log, never
        // a hole with newer records behind it.
        let mut removed = false;
        while self
            .segments
            .last()
            .is_some_and(|s| s.header.first_zxid > zxid)
        {
            let s = self.segments.pop().unwrap();
            drop(s.map);
            fsutil::remove_file(&s.path)?;
            removed = true;
        }
        if removed {
            fsutil::fsync_dir(&self.dir)?;
        }
        if let Some(s) = self.segments.last_mut() {
            let bytes = s.bytes();
            let mut off = FILE_HEADER_LEN;
            let mut last_kept = s.header.base_zxid;
            while let Some((z, next)) = record::peek(bytes, off) {
                if z > zxid {
                    break;
                }
                last_kept = z;
                off = next;
            }
            assert!(
                off > FILE_HEADER_LEN,
                "a kept segment keeps its first record"
            );
            if (off as u64) < s.end {
                fsutil::zero_range(&s.file, off as u64, s.end, &s.path)?;
                fsutil::fdatasync(&s.file, &s.path)?;
                s.end = off as u64;
                s.last_zxid = last_kept;
                s.dirty = false;
            }
            // The next append follows `zxid`; if the segment does not end
            // exactly there, a new segment records `zxid` as its base.
            self.active_open = s.last_zxid == zxid;
        } else {
            self.active_open = false;
        }
        warn!(dir = %self.dir.display(), to = %zxid, from = %self.last, "truncated transaction log");
        self.last = zxid;
        self.pending_last = zxid;
        self.durable = self.durable.min(zxid);
        Ok(())
    }

    /// Continue the log after a snapshot at `zxid` received in a SNAP sync: drop
    /// records after `zxid` and make the next append follow `zxid`, even if the
    /// log holds nothing near it. Earlier records stay until `purge`.
    ///
    /// Crash-safe order for a SNAP sync: `truncate_to(zxid)` (diverged records
    /// must not be replayed on top of the new snapshot), then write the snapshot
    /// (`SnapshotWriter::finish`), then `restart_at(zxid)`. A crash between any
    /// two steps leaves a snapshot plus a log that is a prefix of history. For
    /// the same reason, on every start: if the log ends before the loaded
    /// snapshot's zxid, call `restart_at(snapshot_zxid)` before appending.
    pub fn restart_at(&mut self, zxid: Zxid) -> Result<()> {
        self.check_usable()?;
        if zxid < self.last {
            self.truncate_to(zxid)?;
        }
        self.roll()?;
        self.flush()?;
        self.last = zxid;
        self.pending_last = zxid;
        self.durable = zxid;
        Ok(())
    }

    fn check_usable(&self) -> Result<()> {
        if self.poisoned {
            return Err(StorageError::Poisoned);
        }
        Ok(())
    }

    fn write_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let s = self
            .segments
            .last_mut()
            .expect("pending records have a segment");
        assert!(s.end + self.pending.len() as u64 <= s.capacity);
        let need = s.end + self.pending.len() as u64;
        if need > s.zeroed {
            let to = (need + ZERO_AHEAD).min(s.capacity);
            if let Err(e) = fsutil::zero_range(&s.file, need, to, &s.path) {
                self.poisoned = true;
                return Err(e);
            }
            s.zeroed = to;
        }
        if let Err(e) = fsutil::pwrite_all(&s.file, &self.pending, s.end, &s.path) {
            self.poisoned = true;
            return Err(e);
        }
        s.end += self.pending.len() as u64;
        s.last_zxid = self.pending_last;
        s.dirty = true;
        self.pending.clear();
        Ok(())
    }

    fn start_segment(&mut self, first: Zxid, first_record_len: u64) -> Result<()> {
        let path = self.dir.join(fsutil::zxid_file_name(LOG_PREFIX, first));
        let header = FileHeader {
            first_zxid: first,
            base_zxid: self.last,
        };
        let capacity = self
            .opts
            .prealloc_bytes
            .max(FILE_HEADER_LEN as u64 + first_record_len);
        let r = (|| {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(io_err(&path))?;
            fsutil::preallocate(&file, capacity, &path)?;
            fsutil::pwrite_all(&file, &header.encode(), 0, &path)?;
            // The header becomes durable with the first flush's fdatasync; the
            // directory entry needs its own sync, once.
            fsutil::fsync_dir(&self.dir)?;
            // Safety: the map is read-only and this process only writes the
            // file through `pwrite` past what readers look at.
            let map = unsafe { Mmap::map(&file) }.map_err(io_err(&path))?;
            Ok(Segment {
                path: path.clone(),
                file,
                map: Some(map),
                header,
                capacity,
                end: FILE_HEADER_LEN as u64,
                last_zxid: self.last,
                dirty: true,
                zeroed: FILE_HEADER_LEN as u64,
            })
        })();
        match r {
            Ok(seg) => {
                info!(file = %path.display(), "started log segment");
                self.segments.push(seg);
                self.active_open = true;
                Ok(())
            }
            Err(e) => {
                self.poisoned = true;
                Err(e)
            }
        }
    }
}

/// Recover one segment: verify its header and every record. `Ok(None)` means
/// the newest segment holds no complete record and can be removed.
fn recover_segment(
    path: &Path,
    name_zxid: Zxid,
    prev_last: Option<Zxid>,
    newest: bool,
    opts: &LogOptions,
    info: &mut RecoveryInfo,
) -> Result<Option<Segment>> {
    let bad = |reason: String| StorageError::BadSegment {
        file: path.to_path_buf(),
        reason,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    let mut len = file.metadata().map_err(io_err(path))?.len();
    // A file cut short (not by us) gets its preallocation back so appends fit.
    if newest && len < opts.prealloc_bytes {
        fsutil::preallocate(&file, opts.prealloc_bytes, path)?;
        len = opts.prealloc_bytes;
    }
    let map = if len == 0 {
        None
    } else {
        // Safety: read-only map; see `start_segment`.
        Some(unsafe { Mmap::map(&file) }.map_err(io_err(path))?)
    };
    let bytes: &[u8] = map.as_deref().unwrap_or(&[]);
    let header = match FileHeader::decode(bytes) {
        Ok(h) => h,
        Err(reason) => {
            // The newest segment's header is written without a sync; if no
            // flush followed, it may not have made it to disk.
            let probe = &bytes[bytes.len().min(FILE_HEADER_LEN)..bytes.len().min(4096)];
            if newest && fsutil::all_zero(probe) {
                return Ok(None);
            }
            return Err(bad(reason));
        }
    };
    if header.first_zxid != name_zxid {
        return Err(bad(format!(
            "header says the first zxid is {}, the name says {}",
            header.first_zxid, name_zxid
        )));
    }
    if let Some(prev) = prev_last {
        if header.base_zxid < prev {
            return Err(bad(format!(
                "segment continues from {}, but the previous segment ends at {}",
                header.base_zxid, prev
            )));
        }
    }
    let mut off = FILE_HEADER_LEN;
    let mut last = header.base_zxid;
    let mut count = 0u64;
    let mut torn = None;
    loop {
        match record::decode_record(bytes, off) {
            Ok(Decoded::Record { zxid, next, .. }) => {
                let expected = if count == 0 {
                    header.first_zxid
                } else {
                    Zxid(last.0 + 1)
                };
                if !record::follows(last, zxid) || (count == 0 && zxid != header.first_zxid) {
                    return Err(StorageError::ZxidGap {
                        file: path.to_path_buf(),
                        offset: off as u64,
                        expected,
                        actual: zxid,
                    });
                }
                last = zxid;
                count += 1;
                off = next;
            }
            Ok(Decoded::End) => {
                // Zeros where a record header should be, with data after them:
                // pages of a batch written out of order before a crash, or a
                // zeroed sector in front of acknowledged records; no way to tell.
                // Taken for the end, the data stayed behind the next append, to
                // be refused at the next start or read back as records.
                if last_nonzero_end(&bytes[off..]) > 0 {
                    return Err(bad(format!(
                        "zeros at byte offset {off} where a record header should be, with data after them"
                    )));
                }
                break;
            }
            Ok(Decoded::Torn { reason }) => {
                if !newest {
                    return Err(StorageError::TornSealedSegment {
                        file: path.to_path_buf(),
                        offset: off as u64,
                    });
                }
                torn = Some(reason);
                break;
            }
            Err(fault) => return Err(fault_error(fault, path, off)),
        }
    }
    if count == 0 {
        if newest {
            return Ok(None);
        }
        return Err(bad("segment holds no record".into()));
    }
    if let Some(reason) = torn {
        warn!(file = %path.display(), offset = off, reason, "dropping torn last write of the log");
        // Zero everything after the last good record, so the next append does
        // not leave old remains behind it.
        let dirty_to = off + last_nonzero_end(&bytes[off..]);
        fsutil::zero_range(&file, off as u64, dirty_to as u64, path)?;
        fsutil::fdatasync(&file, path)?;
        info.torn_tail = Some((path.to_path_buf(), off as u64, reason));
    }
    info.records += count;
    Ok(Some(Segment {
        path: path.to_path_buf(),
        file,
        map,
        header,
        capacity: len,
        end: off as u64,
        last_zxid: last,
        dirty: false,
        zeroed: off as u64,
    }))
}

/// Length of `b` without its trailing zeros, found a chunk at a time (the tail
/// of a preallocated segment is mostly zeros).
fn last_nonzero_end(b: &[u8]) -> usize {
    const CHUNK: usize = 64 << 10;
    let mut end = b.len();
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        if fsutil::all_zero(&b[start..end]) {
            end = start;
        } else {
            return start + b[start..end].iter().rposition(|&x| x != 0).unwrap() + 1;
        }
    }
    0
}

fn fault_error(fault: Fault, path: &Path, offset: usize) -> StorageError {
    let (file, offset) = (path.to_path_buf(), offset as u64);
    match fault {
        Fault::HeaderChecksum { expected, actual } => StorageError::HeaderChecksumMismatch {
            file,
            offset,
            expected,
            actual,
        },
        Fault::PayloadChecksum { expected, actual } => StorageError::ChecksumMismatch {
            file,
            offset,
            expected,
            actual,
        },
        Fault::EmptyPayload => StorageError::EmptyRecord { file, offset },
        Fault::MissingEnd => StorageError::MissingRecordEnd { file, offset },
    }
}

/// Iterator returned by [`TxnLog::iter_from`].
pub struct LogIter<'a> {
    log: &'a TxnLog,
    seg: usize,
    offset: usize,
    /// The zxid of the record before `offset` (or the segment's base).
    prev: Zxid,
    from: Zxid,
}

impl<'a> Iterator for LogIter<'a> {
    type Item = Result<LogEntry<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let s = self.log.segments.get(self.seg)?;
            let bytes = s.bytes();
            // Skip cheaply to the first wanted record: these were verified at
            // open or written by us.
            while let Some((z, next)) = record::peek(bytes, self.offset) {
                if z >= self.from {
                    break;
                }
                self.prev = z;
                self.offset = next;
            }
            match record::decode_record(bytes, self.offset) {
                Ok(Decoded::Record {
                    zxid,
                    payload,
                    next,
                }) => {
                    let entry = LogEntry {
                        zxid,
                        txn: payload,
                        prev_zxid: self.prev,
                        file: &s.path,
                        offset: self.offset as u64,
                    };
                    self.prev = zxid;
                    self.offset = next;
                    return Some(Ok(entry));
                }
                Ok(_) => {
                    self.seg += 1;
                    self.offset = FILE_HEADER_LEN;
                    if let Some(s) = self.log.segments.get(self.seg) {
                        self.prev = s.header.base_zxid;
                    }
                }
                Err(fault) => {
                    let e = fault_error(fault, &s.path, self.offset);
                    self.seg = usize::MAX;
                    return Some(Err(e));
                }
            }
        }
    }
}
