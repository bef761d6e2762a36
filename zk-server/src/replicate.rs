//! The seam between the request pipeline and durability / replication.
//!
//! The pipeline hands every prepared transaction to a [`Replicator`] and
//! applies transactions only once the replicator reports them committed
//! ("committed up to zxid Z", through a `watch` channel that coalesces).
//! Standalone, committed means durable in the local log: [`LocalLog`] runs a
//! sync thread that appends batches to a [`TxnSink`] and flushes once per
//! batch (group commit). The ensemble plugs in a replicator that commits on a
//! quorum of ACKs; the pipeline does not change.

use std::sync::mpsc as std_mpsc;
use std::thread;

use tokio::sync::watch;
use zab_core::Zxid;

/// Where transactions are made durable.
pub trait TxnSink: Send + 'static {
    /// Buffer one serialized transaction.
    fn append(&mut self, zxid: Zxid, txn: &[u8]) -> std::io::Result<()>;
    /// Make everything appended durable.
    fn flush(&mut self) -> std::io::Result<()>;
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

/// Takes prepared transactions and reports how far they are committed.
pub trait Replicator: Send {
    fn propose(&mut self, zxid: Zxid, txn: Vec<u8>);
    /// Watch this to learn "committed up to Z".
    fn committed(&self) -> watch::Receiver<Zxid>;
}

/// Standalone replication: a sync thread with group commit.
pub struct LocalLog {
    tx: std_mpsc::Sender<(Zxid, Vec<u8>)>,
    committed: watch::Receiver<Zxid>,
}

impl LocalLog {
    pub fn start(mut sink: impl TxnSink, start: Zxid) -> LocalLog {
        let (tx, rx) = std_mpsc::channel::<(Zxid, Vec<u8>)>();
        let (ctx, crx) = watch::channel(start);
        thread::Builder::new()
            .name("sync".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut last = first.0;
                    let mut res = sink.append(first.0, &first.1);
                    // Everything that queued up meanwhile shares one flush.
                    while res.is_ok() {
                        match rx.try_recv() {
                            Ok((z, b)) => {
                                last = z;
                                res = sink.append(z, &b);
                            }
                            Err(_) => break,
                        }
                    }
                    let res = res.and_then(|_| sink.flush());
                    if let Err(e) = res {
                        // Going on would acknowledge writes that are not durable.
                        eprintln!("fatal: cannot write the transaction log: {e}");
                        std::process::exit(crate::EXIT_STORAGE);
                    }
                    if ctx.send(last).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn sync thread");
        LocalLog { tx, committed: crx }
    }
}

impl Replicator for LocalLog {
    fn propose(&mut self, zxid: Zxid, txn: Vec<u8>) {
        // The pipeline bounds how many proposals are in flight.
        let _ = self.tx.send((zxid, txn));
    }
    fn committed(&self) -> watch::Receiver<Zxid> {
        self.committed.clone()
    }
}
