//! The log's `fdatasync` through io_uring, completed on the caller's own poller.
//!
//! [`SyncRing`] takes a [`PendingSync`] (what [`crate::TxnLog::start_flush`] wrote
//! out) and submits one `IORING_OP_FSYNC` with `IORING_FSYNC_DATASYNC` per file, on a
//! ring with an eventfd registered: the kernel signals the eventfd when a sync
//! completes, so a caller with an event loop (the server's tokio runtime, through
//! `AsyncFd`) learns of it in its own `epoll_wait` and needs no thread of its own to
//! block in `fdatasync` and report back. The kernel still runs the sync on one of
//! its io-wq workers (a sync cannot be issued without blocking); what goes away is
//! the user-space thread, its channel and its futex wakeups in both directions.
//!
//! This module only submits and reaps; it does not wait. The durability contract is
//! [`PendingSync::sync`]'s: [`SyncRing::complete`] returns `Ok(upto)` only once every
//! file of the batch has been synced, and the first error otherwise, which the caller
//! hands to [`crate::TxnLog::finish_flush`] (the log is then poisoned).
//!
//! Where io_uring cannot be set up (an older kernel, `kernel.io_uring_disabled`, a
//! seccomp filter, a kernel without `IORING_OP_FSYNC`), [`SyncRing::new`] fails and the
//! caller syncs on a thread instead.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use io_uring::{opcode, types, IoUring};
use zab_core::Zxid;

use crate::error::Result;
use crate::fsutil::io_err;
use crate::log::PendingSync;

/// Submission queue entries: a batch has one file per segment written since the last
/// flush (nearly always one); more than this are submitted as earlier ones complete.
const RING_ENTRIES: u32 = 16;
/// The `user_data` of the no-op that completes a batch with nothing to sync
/// (`force_sync: false`), so that every batch completes through the eventfd.
const NOP: u64 = u64::MAX;

/// An io_uring instance for the log's syncs, one batch at a time.
pub struct SyncRing {
    ring: IoUring,
    eventfd: OwnedFd,
    batch: Option<Batch>,
    /// The kernel refused a submission: its entries may still sit in the ring, naming
    /// the batch's descriptors, so the batch is kept (open) and the ring takes no more.
    failed: bool,
}

/// The batch being synced: its files stay open (owned here) until their syncs complete.
struct Batch {
    pending: PendingSync,
    /// Files submitted so far (the rest wait for room in the ring).
    submitted: usize,
    /// Syncs (or the no-op) not yet completed.
    left: usize,
    /// The first failure; the batch still waits for every submitted sync to complete,
    /// since the kernel holds their descriptors until then.
    error: Option<crate::StorageError>,
}

impl SyncRing {
    /// Sets up a ring with an eventfd registered (non-blocking, close-on-exec), and
    /// checks that the kernel supports `IORING_OP_FSYNC`.
    pub fn new() -> io::Result<SyncRing> {
        let ring = IoUring::new(RING_ENTRIES)?;
        let mut probe = io_uring::Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        if !probe.is_supported(opcode::Fsync::CODE) || !probe.is_supported(opcode::Nop::CODE) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the kernel's io_uring has no IORING_OP_FSYNC",
            ));
        }
        // Safety: a plain syscall; the descriptor it returns is ours alone.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // Safety: `fd` is a fresh descriptor nobody else owns.
        let eventfd = unsafe { OwnedFd::from_raw_fd(fd) };
        ring.submitter().register_eventfd(eventfd.as_raw_fd())?;
        Ok(SyncRing {
            ring,
            eventfd,
            batch: None,
            failed: false,
        })
    }

    /// The eventfd the kernel signals when a sync completes: register it for
    /// readability in an event loop, then call [`SyncRing::complete`].
    pub fn eventfd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }

    /// A batch was submitted and has not completed yet.
    pub fn busy(&self) -> bool {
        self.batch.is_some()
    }

    /// Submits the syncs of `p`. One batch at a time: the previous one must have
    /// completed. An error here (the kernel refused the submission) is an error of the
    /// sync: nothing of `p` may be counted durable, and the ring takes no more batches.
    pub fn submit(&mut self, p: PendingSync) -> Result<()> {
        if self.failed {
            return Err(crate::StorageError::Poisoned);
        }
        assert!(self.batch.is_none(), "a log sync is already in flight");
        let left = p.files.len().max(1);
        self.batch = Some(Batch {
            pending: p,
            submitted: 0,
            left,
            error: None,
        });
        self.push_and_submit()
    }

    /// Pushes the batch's files not yet submitted while the ring has room (or the
    /// no-op of an empty batch) and enters the kernel.
    fn push_and_submit(&mut self) -> Result<()> {
        let Some(b) = self.batch.as_mut() else {
            return Ok(());
        };
        let files = &b.pending.files;
        let mut sq = self.ring.submission();
        if files.is_empty() && b.submitted == 0 {
            let e = opcode::Nop::new().build().user_data(NOP);
            // Safety: a no-op references no memory.
            unsafe { sq.push(&e) }.expect("an idle ring has room");
            b.submitted = 1;
        }
        while b.submitted < files.len() && !sq.is_full() {
            let (f, _) = &files[b.submitted];
            let e = opcode::Fsync::new(types::Fd(f.as_raw_fd()))
                .flags(types::FsyncFlags::DATASYNC)
                .build()
                .user_data(b.submitted as u64);
            // Safety: the descriptor stays open in `self.batch` until this entry's
            // completion has been reaped (`complete` drops the batch only then).
            unsafe { sq.push(&e) }.expect("checked is_full");
            b.submitted += 1;
        }
        drop(sq);
        loop {
            match self.ring.submit() {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.failed = true;
                    let path = files.first().map(|(_, p)| p.as_path());
                    let path = path.unwrap_or(std::path::Path::new("io_uring"));
                    return Err(io_err(path)(e));
                }
            }
        }
    }

    /// Reaps what the kernel completed. `Some(result)` once the whole batch has: `Ok(z)`
    /// means every record up to `z` is on disk, as after [`PendingSync::sync`]; `None`
    /// while syncs are still running (wait for the eventfd again). Clears the eventfd's
    /// count first, so a completion after this call signals it anew.
    pub fn complete(&mut self) -> Option<Result<Zxid>> {
        let mut count = 0u64;
        // Safety: reads 8 bytes into a u64 we own; EAGAIN (count zero) is fine.
        unsafe {
            libc::read(
                self.eventfd.as_raw_fd(),
                (&mut count as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
        if self.failed {
            return None;
        }
        let b = self.batch.as_mut()?;
        for cqe in self.ring.completion() {
            b.left -= 1;
            let res = cqe.result();
            if res < 0 && b.error.is_none() {
                let path = match cqe.user_data() {
                    NOP => std::path::Path::new("io_uring"),
                    i => b.pending.files[i as usize].1.as_path(),
                };
                b.error = Some(io_err(path)(io::Error::from_raw_os_error(-res)));
            }
        }
        if b.left > 0 {
            if b.submitted < b.pending.files.len() {
                if let Err(e) = self.push_and_submit() {
                    return Some(Err(e));
                }
            }
            return None;
        }
        let b = self.batch.take().expect("a batch in flight");
        Some(match b.error {
            Some(e) => Err(e),
            None => Ok(b.pending.upto),
        })
    }
}

/// For tests: a batch whose files are `files`, durable up to `upto` once synced.
#[doc(hidden)]
pub fn pending_sync_for_test(files: Vec<(File, std::path::PathBuf)>, upto: Zxid) -> PendingSync {
    PendingSync { files, upto }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LogOptions, StorageError, TxnLog};

    /// The ring, or `None` (said on stderr) where this kernel or sandbox has no io_uring:
    /// the server falls back to its sync thread there, and these tests have nothing to test.
    fn ring() -> Option<SyncRing> {
        match SyncRing::new() {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("io_uring unavailable here ({e}): nothing to test");
                None
            }
        }
    }

    /// Waits (bounded) for the ring's eventfd and reaps until the batch completes.
    fn wait(ring: &mut SyncRing) -> Result<Zxid> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(r) = ring.complete() {
                return r;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no completion in 10 s"
            );
            let mut pfd = libc::pollfd {
                fd: ring.eventfd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // Safety: one pollfd we own.
            unsafe { libc::poll(&mut pfd, 1, 1000) };
        }
    }

    #[test]
    fn a_batch_synced_through_the_ring_makes_the_log_durable_up_to_its_last_append() {
        let Some(mut ring) = ring() else { return };
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = TxnLog::open(dir.path(), LogOptions::default()).unwrap();
        for z in 1..=3 {
            log.append(Zxid(z), b"txn").unwrap();
        }
        let p = log.start_flush().unwrap();
        assert_eq!(p.files.len(), 1);
        ring.submit(p).unwrap();
        assert!(ring.busy());
        // Appended while the sync runs: not covered by it.
        log.append(Zxid(4), b"txn").unwrap();
        let r = wait(&mut ring);
        assert!(!ring.busy());
        assert_eq!(log.finish_flush(r).unwrap(), Zxid(3));
        assert_eq!(log.durable_zxid(), Zxid(3));
        // The next batch covers the rest, on the same ring.
        ring.submit(log.start_flush().unwrap()).unwrap();
        assert_eq!(log.finish_flush(wait(&mut ring)).unwrap(), Zxid(4));
        // Nothing in flight: nothing to reap.
        assert!(ring.complete().is_none());
    }

    #[test]
    fn a_batch_with_nothing_to_sync_still_completes_through_the_eventfd() {
        let Some(mut ring) = ring() else { return };
        let dir = tempfile::tempdir().unwrap();
        let opts = LogOptions {
            force_sync: false,
            ..LogOptions::default()
        };
        let (mut log, _) = TxnLog::open(dir.path(), opts).unwrap();
        log.append(Zxid(1), b"txn").unwrap();
        let p = log.start_flush().unwrap();
        assert!(p.files.is_empty());
        ring.submit(p).unwrap();
        assert_eq!(wait(&mut ring).unwrap(), Zxid(1));
    }

    #[test]
    fn more_files_than_ring_entries_are_all_synced_before_the_batch_completes() {
        let Some(mut ring) = ring() else { return };
        let dir = tempfile::tempdir().unwrap();
        let n = RING_ENTRIES as usize * 2 + 3;
        let files = (0..n)
            .map(|i| {
                let path = dir.path().join(format!("f{i}"));
                std::fs::write(&path, b"x").unwrap();
                (File::options().write(true).open(&path).unwrap(), path)
            })
            .collect();
        ring.submit(pending_sync_for_test(files, Zxid(7))).unwrap();
        assert_eq!(wait(&mut ring).unwrap(), Zxid(7));
    }

    /// `fdatasync` on a pipe fails with EINVAL: the batch fails, naming the file, as
    /// `PendingSync::sync` does on the sync thread, and the log refuses further work.
    #[test]
    fn a_failed_sync_is_the_batch_s_error_and_poisons_the_log() {
        let Some(mut ring) = ring() else { return };
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        std::fs::write(&good, b"x").unwrap();
        let (r, _w) = pipe();
        let bad = std::path::PathBuf::from("a-pipe");
        let files = vec![
            (File::options().write(true).open(&good).unwrap(), good),
            (r, bad.clone()),
        ];
        ring.submit(pending_sync_for_test(files, Zxid(9))).unwrap();
        match wait(&mut ring) {
            Err(StorageError::Io { path, source }) => {
                assert_eq!(path, bad);
                assert_eq!(source.raw_os_error(), Some(libc::EINVAL));
            }
            other => panic!("expected the pipe's EINVAL, got {other:?}"),
        }
        // The thread's way fails the same.
        let (r, _w) = pipe();
        let thread = pending_sync_for_test(vec![(r, bad.clone())], Zxid(9)).sync();
        assert!(matches!(thread, Err(StorageError::Io { ref path, .. }) if *path == bad));
        // The log takes the error as from its sync thread.
        let (mut log, _) = TxnLog::open(dir.path().join("log"), LogOptions::default()).unwrap();
        log.append(Zxid(1), b"txn").unwrap();
        let _ = log.start_flush().unwrap();
        let (r, _w) = pipe();
        ring.submit(pending_sync_for_test(vec![(r, bad)], Zxid(1)))
            .unwrap();
        assert!(log.finish_flush(wait(&mut ring)).is_err());
        assert_eq!(log.durable_zxid(), Zxid(0));
        assert!(matches!(
            log.append(Zxid(2), b"txn"),
            Err(StorageError::Poisoned)
        ));
    }

    fn pipe() -> (File, File) {
        let mut fds = [0; 2];
        // Safety: fills two descriptors we then own.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // Safety: fresh descriptors owned by nobody else.
        unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
    }
}
