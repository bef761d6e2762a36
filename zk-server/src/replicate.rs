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
    /// Start a new log segment (when a snapshot starts).
    fn roll(&mut self) -> std::io::Result<()> {
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

/// Takes prepared transactions and reports how far they are committed.
pub trait Replicator: Send {
    fn propose(&mut self, zxid: Zxid, txn: Vec<u8>);
    /// Start a new log segment after what was proposed so far.
    fn roll_log(&mut self);
    /// Watch this to learn "committed up to Z".
    fn committed(&self) -> watch::Receiver<Zxid>;
}

/// Standalone replication: a sync thread with group commit.
enum SyncCmd {
    Append(Zxid, Vec<u8>),
    Roll,
}

pub struct LocalLog {
    tx: std_mpsc::Sender<SyncCmd>,
    committed: watch::Receiver<Zxid>,
}

impl LocalLog {
    pub fn start(mut sink: impl TxnSink, start: Zxid) -> LocalLog {
        let (tx, rx) = std_mpsc::channel::<SyncCmd>();
        let (ctx, crx) = watch::channel(start);
        thread::Builder::new()
            .name("sync".into())
            .spawn(move || {
                let mut last = start;
                let apply = |sink: &mut dyn TxnSink, cmd: SyncCmd, last: &mut Zxid| match cmd {
                    SyncCmd::Append(z, b) => {
                        *last = z;
                        sink.append(z, &b)
                    }
                    SyncCmd::Roll => sink.roll(),
                };
                while let Ok(first) = rx.recv() {
                    let mut res = apply(&mut sink, first, &mut last);
                    // Everything that queued up meanwhile shares one flush.
                    while res.is_ok() {
                        match rx.try_recv() {
                            Ok(cmd) => res = apply(&mut sink, cmd, &mut last),
                            Err(_) => break,
                        }
                    }
                    let res = res.and_then(|_| sink.flush());
                    if let Err(e) = res {
                        // Going on would acknowledge writes that are not durable.
                        tracing::error!("cannot write the transaction log: {e}");
                        eprintln!("zk-server: fatal: cannot write the transaction log: {e}");
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
        let _ = self.tx.send(SyncCmd::Append(zxid, txn));
    }
    fn roll_log(&mut self) {
        let _ = self.tx.send(SyncCmd::Roll);
    }
    fn committed(&self) -> watch::Receiver<Zxid> {
        self.committed.clone()
    }
}

/// For an ensemble member: proposals go to the peer driver, and commits come
/// back from it as transactions, so nothing passes through here.
pub struct NoReplicator {
    // Kept so that the core's watch never reports a closed channel.
    _tx: watch::Sender<Zxid>,
    rx: watch::Receiver<Zxid>,
}

impl Default for NoReplicator {
    fn default() -> Self {
        let (tx, rx) = watch::channel(Zxid::ZERO);
        NoReplicator { _tx: tx, rx }
    }
}

impl Replicator for NoReplicator {
    fn propose(&mut self, _: Zxid, _: Vec<u8>) {}
    fn roll_log(&mut self) {}
    fn committed(&self) -> watch::Receiver<Zxid> {
        self.rx.clone()
    }
}
