//! The log's `fdatasync`, run beside the driver: the driver hands each batch over
//! ([`LogSync::submit`]) and goes on with the next events; [`LogSync::done`] yields
//! how far the log is durable once the batch is on disk, and the driver then steps
//! `Persisted` (so every ACK and every reply to a write waits for it, in zab-core).
//!
//! Two ways, one contract:
//! * **io_uring** (the default): zab-storage's [`SyncRing`] submits the syncs; the
//!   kernel signals the ring's eventfd when they complete, and that eventfd is
//!   registered in the runtime (`AsyncFd`), so the completion wakes the driver's
//!   worker through its own `epoll_wait`. No thread of ours blocks in `fdatasync`,
//!   and no channel or futex lies between the driver and the sync.
//! * **a thread** (`log-sync-N`): blocks in `fdatasync` and reports back on a
//!   channel. Used where io_uring cannot be set up (older kernels,
//!   `kernel.io_uring_disabled`, seccomp; said once in the log) or when the
//!   environment asks for it (`ZK_LOG_SYNC=thread`).
//!
//! Either way a failed sync is returned as the error it was; the driver stops the
//! server on it (the log is poisoned by `TxnLog::finish_flush`).

use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Instant;

use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use zab_core::Zxid;
use zab_storage::{PendingSync, SyncRing};

use crate::core::LogMetrics;

/// The environment variable that chooses the way: `thread` or `uring` (the default,
/// falling back to the thread where io_uring is unavailable).
pub const LOG_SYNC_ENV: &str = "ZK_LOG_SYNC";

/// Where the log's syncs run.
pub(crate) enum LogSync {
    Uring {
        /// Boxed: the ring's state is ten times the thread variant's.
        ring: Box<AsyncFd<RingFd>>,
        /// When the batch in flight was submitted (`fsynctime`).
        started: Instant,
        metrics: Arc<LogMetrics>,
    },
    Thread {
        tx: std::sync::mpsc::Sender<PendingSync>,
        rx: mpsc::UnboundedReceiver<zab_storage::Result<Zxid>>,
        busy: bool,
    },
}

/// The ring, polled through its eventfd.
pub(crate) struct RingFd(SyncRing);

impl AsRawFd for RingFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.eventfd()
    }
}

/// What a server said about its way of syncing, once per process.
static SAID: std::sync::Once = std::sync::Once::new();

impl LogSync {
    /// The way `ZK_LOG_SYNC` asks for, io_uring by default; the thread where the ring
    /// cannot be set up. Must run inside the tokio runtime (the eventfd is registered
    /// with its reactor).
    pub(crate) fn start(my_id: u64, metrics: Arc<LogMetrics>) -> LogSync {
        let wanted = std::env::var(LOG_SYNC_ENV).unwrap_or_default();
        LogSync::choose(&wanted, my_id, metrics)
    }

    /// [`LogSync::start`] with the environment's word given.
    fn choose(wanted: &str, my_id: u64, metrics: Arc<LogMetrics>) -> LogSync {
        if wanted == "thread" {
            SAID.call_once(|| {
                tracing::info!("the log's fdatasync runs on a thread ({LOG_SYNC_ENV}=thread)")
            });
            return LogSync::thread(my_id, metrics);
        }
        if !wanted.is_empty() && wanted != "uring" {
            tracing::warn!("{LOG_SYNC_ENV}={wanted:?} is neither thread nor uring: using uring");
        }
        LogSync::uring_or_thread(SyncRing::new(), my_id, metrics)
    }

    /// The ring if it could be set up, else the thread (said once).
    fn uring_or_thread(
        ring: std::io::Result<SyncRing>,
        my_id: u64,
        metrics: Arc<LogMetrics>,
    ) -> LogSync {
        match ring.and_then(|r| LogSync::uring(r, metrics.clone())) {
            Ok(s) => {
                SAID.call_once(|| tracing::info!("the log's fdatasync goes through io_uring"));
                s
            }
            Err(e) => {
                SAID.call_once(|| {
                    tracing::warn!(
                        "io_uring unavailable ({e}): the log's fdatasync runs on a thread"
                    )
                });
                LogSync::thread(my_id, metrics)
            }
        }
    }

    /// Syncs through `ring`, its eventfd registered with the runtime's reactor.
    fn uring(ring: SyncRing, metrics: Arc<LogMetrics>) -> std::io::Result<LogSync> {
        // Safety: the eventfd is owned by the ring inside, open until the `AsyncFd` drops
        // it, and `RingFd::as_raw_fd` always returns that one descriptor.
        let ring = unsafe {
            AsyncFd::register_with_interest(RingFd(ring), tokio::io::Interest::READABLE)
        }?;
        Ok(LogSync::Uring {
            ring: Box::new(ring),
            started: Instant::now(),
            metrics,
        })
    }

    /// Syncs on a thread of its own, `log-sync-<my_id>`: `fdatasync` is a blocking
    /// call, so not on the runtime's workers.
    fn thread(my_id: u64, metrics: Arc<LogMetrics>) -> LogSync {
        let (tx, rx) = std::sync::mpsc::channel::<PendingSync>();
        // Unbounded but holding at most one result: one sync is in flight at a time.
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name(format!("log-sync-{my_id}"))
            .spawn(move || {
                while let Ok(p) = rx.recv() {
                    let started = Instant::now();
                    let synced = p.sync();
                    metrics.fsync_time.add(started.elapsed().as_millis() as u64);
                    if done_tx.send(synced).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn the log sync thread");
        LogSync::Thread {
            tx,
            rx: done_rx,
            busy: false,
        }
    }

    /// Whether the syncs go through io_uring.
    #[cfg(test)]
    fn is_uring(&self) -> bool {
        matches!(self, LogSync::Uring { .. })
    }

    /// A batch was handed over and its outcome not yet taken by [`LogSync::done`].
    pub(crate) fn busy(&self) -> bool {
        match self {
            LogSync::Uring { ring, .. } => ring.get_ref().0.busy(),
            LogSync::Thread { busy, .. } => *busy,
        }
    }

    /// Hands a batch over; one at a time (not while [`LogSync::busy`]). An error means
    /// the batch was not synced.
    pub(crate) fn submit(&mut self, p: PendingSync) -> zab_storage::Result<()> {
        assert!(!self.busy(), "a log sync is already in flight");
        match self {
            LogSync::Uring { ring, started, .. } => {
                *started = Instant::now();
                ring.get_mut().0.submit(p)
            }
            LogSync::Thread { tx, busy, .. } => {
                if tx.send(p).is_err() {
                    return Err(zab_storage::StorageError::Poisoned);
                }
                *busy = true;
                Ok(())
            }
        }
    }

    /// The outcome of the batch in flight: the zxid the log is durable up to, or the
    /// sync's error. Waits forever when nothing is in flight (use it under `busy()`).
    /// Cancel-safe: dropped before it returns, the outcome stays for the next call.
    pub(crate) async fn done(&mut self) -> zab_storage::Result<Zxid> {
        match self {
            LogSync::Uring {
                ring,
                started,
                metrics,
            } => loop {
                if let Some(r) = ring.get_mut().0.complete() {
                    metrics.fsync_time.add(started.elapsed().as_millis() as u64);
                    return r;
                }
                let mut guard = match ring.readable_mut().await {
                    Ok(g) => g,
                    Err(e) => return Err(eventfd_error(e)),
                };
                // `complete` read the eventfd's count; a completion after that read
                // signals it again, so readiness is cleared only when nothing is left
                // to reap (the edge-triggered poller then wakes us on the next one).
                if let Some(r) = guard.get_inner_mut().0.complete() {
                    metrics.fsync_time.add(started.elapsed().as_millis() as u64);
                    return r;
                }
                guard.clear_ready();
            },
            LogSync::Thread { rx, busy, .. } => match rx.recv().await {
                Some(r) => {
                    *busy = false;
                    r
                }
                None => Err(zab_storage::StorageError::Poisoned),
            },
        }
    }
}

fn eventfd_error(e: std::io::Error) -> zab_storage::StorageError {
    zab_storage::StorageError::Io {
        path: "io_uring eventfd".into(),
        source: e,
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::os::fd::FromRawFd;
    use std::time::Duration;

    use zab_storage::{LogOptions, StorageError, TxnLog};

    use super::*;

    /// The thread, and the ring where this machine has io_uring (said on stderr if not:
    /// the server falls back to the thread there too).
    fn both_ways() -> Vec<LogSync> {
        let metrics = Arc::new(LogMetrics::default());
        let mut ways = vec![LogSync::choose("thread", 1, metrics.clone())];
        match SyncRing::new() {
            Ok(r) => ways.push(LogSync::uring(r, metrics).unwrap()),
            Err(e) => eprintln!("io_uring unavailable here ({e}): the thread alone is tested"),
        }
        ways
    }

    async fn done_within(s: &mut LogSync) -> zab_storage::Result<Zxid> {
        tokio::time::timeout(Duration::from_secs(10), s.done())
            .await
            .expect("the sync completes within 10 s")
    }

    #[tokio::test]
    async fn either_way_a_batch_is_durable_up_to_its_last_append_when_done() {
        for mut s in both_ways() {
            let uring = s.is_uring();
            let dir = tempfile::tempdir().unwrap();
            let (mut log, _) = TxnLog::open(dir.path(), LogOptions::default()).unwrap();
            for round in 0..3i64 {
                for z in 1..=5 {
                    log.append(Zxid(round * 5 + z), b"txn").unwrap();
                }
                assert!(!s.busy());
                s.submit(log.start_flush().unwrap()).unwrap();
                assert!(s.busy(), "uring {uring}");
                // Appended while the batch syncs: the next batch's.
                let r = done_within(&mut s).await;
                assert!(!s.busy());
                assert_eq!(
                    log.finish_flush(r).unwrap(),
                    Zxid(round * 5 + 5),
                    "uring {uring}"
                );
            }
        }
    }

    /// `done` in a `select!` that another branch wins: the outcome is not lost.
    #[tokio::test]
    async fn a_dropped_wait_loses_no_outcome() {
        for mut s in both_ways() {
            let dir = tempfile::tempdir().unwrap();
            let (mut log, _) = TxnLog::open(dir.path(), LogOptions::default()).unwrap();
            log.append(Zxid(1), b"txn").unwrap();
            s.submit(log.start_flush().unwrap()).unwrap();
            let r = match tokio::time::timeout(Duration::ZERO, s.done()).await {
                Ok(r) => r,
                Err(_) => {
                    assert!(s.busy(), "a dropped wait leaves the batch in flight");
                    done_within(&mut s).await
                }
            };
            assert_eq!(log.finish_flush(r).unwrap(), Zxid(1));
        }
    }

    /// `fdatasync` on a pipe fails (EINVAL): either way the error comes back as it was,
    /// and the log then refuses further work (the driver stops the server on it).
    #[tokio::test]
    async fn either_way_a_failed_sync_is_returned_and_poisons_the_log() {
        for mut s in both_ways() {
            let uring = s.is_uring();
            let mut fds = [0; 2];
            // Safety: fills two descriptors we then own.
            assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
            // Safety: fresh descriptors owned by nobody else.
            let (r, _w) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
            let p = zab_storage::uring::pending_sync_for_test(vec![(r, "a-pipe".into())], Zxid(1));
            s.submit(p).unwrap();
            let r = done_within(&mut s).await;
            match &r {
                Err(StorageError::Io { path, source }) => {
                    assert_eq!(path.to_str(), Some("a-pipe"), "uring {uring}");
                    assert_eq!(source.raw_os_error(), Some(libc::EINVAL), "uring {uring}");
                }
                other => panic!("uring {uring}: expected EINVAL, got {other:?}"),
            }
            let dir = tempfile::tempdir().unwrap();
            let (mut log, _) = TxnLog::open(dir.path(), LogOptions::default()).unwrap();
            log.append(Zxid(1), b"txn").unwrap();
            assert!(log.finish_flush(r).is_err());
            assert_eq!(log.durable_zxid(), Zxid(0));
            assert!(matches!(
                log.append(Zxid(2), b"txn"),
                Err(StorageError::Poisoned)
            ));
        }
    }

    /// Where the ring cannot be set up, the server syncs on the thread, and that works.
    #[tokio::test]
    async fn without_io_uring_the_sync_falls_back_to_the_thread() {
        let metrics = Arc::new(LogMetrics::default());
        let refused = Err(std::io::Error::from_raw_os_error(libc::EPERM));
        let mut s = LogSync::uring_or_thread(refused, 7, metrics.clone());
        assert!(!s.is_uring());
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = TxnLog::open(dir.path(), LogOptions::default()).unwrap();
        log.append(Zxid(1), b"txn").unwrap();
        s.submit(log.start_flush().unwrap()).unwrap();
        let r = done_within(&mut s).await;
        assert_eq!(log.finish_flush(r).unwrap(), Zxid(1));
        // And the environment's word chooses it too.
        assert!(!LogSync::choose("thread", 7, metrics.clone()).is_uring());
        assert_eq!(
            LogSync::choose("", 7, metrics).is_uring(),
            SyncRing::new().is_ok()
        );
    }
}
