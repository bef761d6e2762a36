//! Standalone replication: the one-server case of the seam. A transaction is
//! committed once it is durable in the local log.
//!
//! [`StandaloneLog`] runs a sync thread that appends whatever has queued to a
//! [`TxnSink`] and flushes once for all of it (group commit), then reports the
//! batch as [`ReplicationMsg::Committed`]. ZooKeeper's `SyncRequestProcessor`.

use std::sync::mpsc as std_mpsc;
use std::thread;

use bytes::Bytes;
use tokio::sync::mpsc;
use zab_core::Zxid;

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
    Append(Zxid, Bytes),
    Roll,
    RestartAt(Zxid),
}

/// The standalone [`Replicator`]: a sync thread with group commit.
pub struct StandaloneLog {
    tx: std_mpsc::Sender<SyncCmd>,
}

impl StandaloneLog {
    /// Start the sync thread over `sink`; the core takes the returned [`Replication`].
    pub fn start(mut sink: impl TxnSink) -> Replication {
        let (tx, rx) = std_mpsc::channel::<SyncCmd>();
        let (ctx, crx) = mpsc::channel(REPLICATION_QUEUE);
        let fsync_time = std::sync::Arc::new(crate::core::SharedSummary::default());
        let fsync = fsync_time.clone();
        thread::Builder::new()
            .name("sync".into())
            .spawn(move || {
                let apply = |sink: &mut dyn TxnSink,
                             cmd: SyncCmd,
                             done: &mut Vec<(Zxid, Bytes)>| match cmd {
                    SyncCmd::Append(z, b) => {
                        let r = sink.append(z, &b);
                        done.push((z, b));
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
                    let started = std::time::Instant::now();
                    let res = res.and_then(|_| sink.flush());
                    fsync.add(started.elapsed().as_millis() as u64);
                    if let Err(e) = res {
                        // Going on would acknowledge writes that are not durable.
                        tracing::error!("cannot write the transaction log: {e}");
                        eprintln!("zk-server: fatal: cannot write the transaction log: {e}");
                        std::process::exit(crate::EXIT_STORAGE);
                    }
                    if done.is_empty() {
                        continue;
                    }
                    if ctx.blocking_send(ReplicationMsg::Committed(done)).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn sync thread");
        Replication {
            replicator: Box::new(StandaloneLog { tx }),
            rx: crx,
            driver: None,
            fsync_time,
        }
    }
}

impl Replicator for StandaloneLog {
    fn propose(&mut self, zxid: Zxid, txn: Bytes) {
        // The pipeline bounds how many proposals are in flight.
        let _ = self.tx.send(SyncCmd::Append(zxid, txn));
    }
    fn roll_log(&mut self) {
        let _ = self.tx.send(SyncCmd::Roll);
    }
    fn restart_log_at(&mut self, zxid: Zxid) {
        let _ = self.tx.send(SyncCmd::RestartAt(zxid));
    }
}
