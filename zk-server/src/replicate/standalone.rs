//! Standalone replication: the one-server case of the seam. A transaction is
//! committed once it is durable in the local log.
//!
//! [`StandaloneLog`] runs a sync thread that appends whatever has queued to a
//! [`TxnSink`] and flushes once for all of it (group commit), then reports the
//! batch as [`ReplicationMsg::Committed`]. ZooKeeper's `SyncRequestProcessor`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;
use zab_core::Zxid;

use crate::core::{ms, LogMetrics};

use super::{Replication, ReplicationMsg, Replicator, REPLICATION_QUEUE};

/// Where transactions are made durable.
pub trait TxnSink: Send + 'static {
    /// Buffer one serialized transaction.
    fn append(&mut self, zxid: Zxid, txn: &[u8]) -> std::io::Result<()>;
    /// Make everything appended durable.
    fn flush(&mut self) -> std::io::Result<()>;
    /// Start a new log segment (when a snapshot starts).
    fn roll(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    /// Continue after a snapshot at `zxid` that replaced the tree (a restore): the
    /// next append follows `zxid`.
    fn restart_at(&mut self, _zxid: Zxid) -> std::io::Result<()> {
        Ok(())
    }
}

/// Keeps nothing: the data tree lives only in memory.
pub struct MemorySink;

impl TxnSink for MemorySink {
    fn append(&mut self, _: Zxid, _: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum SyncCmd {
    /// A transaction, with when it was handed over (Apache's `syncQueueStartTime`).
    Append(Zxid, Bytes, Instant),
    Roll,
    RestartAt(Zxid),
}

/// The standalone [`Replicator`]: a sync thread with group commit.
pub struct StandaloneLog {
    tx: std_mpsc::Sender<SyncCmd>,
    /// Transactions handed over and not yet taken by the sync thread
    /// (`sync_processor_queue_size`).
    queued: Arc<AtomicU64>,
    metrics: Arc<LogMetrics>,
}

impl StandaloneLog {
    /// Start the sync thread over `sink`; the core takes the returned [`Replication`].
    pub fn start(mut sink: impl TxnSink) -> Replication {
        let (tx, rx) = std_mpsc::channel::<SyncCmd>();
        let (ctx, crx) = mpsc::channel(REPLICATION_QUEUE);
        let log_metrics = Arc::new(LogMetrics::default());
        let m = log_metrics.clone();
        let queued = Arc::new(AtomicU64::new(0));
        let waiting = queued.clone();
        thread::Builder::new()
            .name("sync".into())
            .spawn(move || {
                // Apache's SyncRequestProcessor measures as it takes each request: the
                // queue behind it, how long it waited, how long its append took.
                let apply =
                    |sink: &mut dyn TxnSink,
                     cmd: SyncCmd,
                     done: &mut Vec<(Zxid, Bytes, Instant)>| match cmd {
                        SyncCmd::Append(z, b, queued_at) => {
                            // The queue as the writer polls it, this one included.
                            m.queue_size.add(waiting.fetch_sub(1, Ordering::Relaxed));
                            let taken = Instant::now();
                            m.queue_time.add(ms(taken - queued_at));
                            let r = sink.append(z, &b);
                            m.process_time.add(ms(taken.elapsed()));
                            done.push((z, b, queued_at));
                            r
                        }
                        SyncCmd::Roll => sink.roll(),
                        SyncCmd::RestartAt(z) => sink.restart_at(z),
                    };
                while let Ok(first) = rx.recv() {
                    let mut done = Vec::new();
                    let mut res = apply(&mut sink, first, &mut done);
                    // Everything that queued up meanwhile shares one flush.
                    while res.is_ok() {
                        match rx.try_recv() {
                            Ok(cmd) => res = apply(&mut sink, cmd, &mut done),
                            Err(_) => break,
                        }
                    }
                    let started = Instant::now();
                    let res = res.and_then(|_| sink.flush());
                    let flushed = Instant::now();
                    m.fsync_time.add(ms(flushed - started));
                    if let Err(e) = res {
                        // Going on would acknowledge writes that are not durable.
                        tracing::error!("cannot write the transaction log: {e}");
                        eprintln!("zk-server: fatal: cannot write the transaction log: {e}");
                        std::process::exit(crate::EXIT_STORAGE);
                    }
                    if done.is_empty() {
                        continue;
                    }
                    m.batch_size.add(done.len() as u64);
                    m.flush_time.add(ms(flushed - started));
                    let done = done
                        .into_iter()
                        .map(|(z, b, queued_at)| {
                            m.queue_and_flush_time.add(ms(flushed - queued_at));
                            (z, b)
                        })
                        .collect();
                    if ctx.blocking_send(ReplicationMsg::Committed(done)).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn sync thread");
        Replication {
            replicator: Box::new(StandaloneLog {
                tx,
                queued,
                metrics: log_metrics.clone(),
            }),
            rx: crx,
            driver: None,
            log_metrics,
        }
    }
}

impl Replicator for StandaloneLog {
    fn propose(&mut self, zxid: Zxid, txn: Bytes) {
        // The pipeline bounds how many proposals are in flight.
        self.metrics.request_queued.fetch_add(1, Ordering::Relaxed);
        self.queued.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(SyncCmd::Append(zxid, txn, Instant::now()));
    }
    fn roll_log(&mut self) {
        let _ = self.tx.send(SyncCmd::Roll);
    }
    fn restart_log_at(&mut self, zxid: Zxid) {
        let _ = self.tx.send(SyncCmd::RestartAt(zxid));
    }
}
