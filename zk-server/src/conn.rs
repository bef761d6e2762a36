//! The core's handle on one client connection: the bounded queue of frames the
//! connection's writer sends, and the switch that drops the connection at once.
//!
//! The core only queues frames here; it never touches a socket. `net` owns the
//! socket and drains the queue. Both sides meet in this module, so neither
//! depends on the other for it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Frames queued to one connection before it counts as not reading.
pub const CONN_QUEUE: usize = 10_000;

/// Most bytes queued to one connection before it counts as not reading its
/// replies (besides `CONN_QUEUE` frames): a client that asks for a large node
/// again and again without reading must not pin gigabytes of replies.
pub const CONN_QUEUE_BYTES: usize = 64 << 20;

/// What the core may send a connection.
#[derive(Debug)]
pub enum Out {
    /// A whole frame, length prefix included.
    Frame(Bytes),
    /// Flush what is queued, then close.
    Close,
}

/// The core's handle on one client connection.
#[derive(Clone)]
pub struct ConnHandle {
    pub id: u64,
    pub addr: SocketAddr,
    pub tx: mpsc::Sender<Out>,
    /// Cancelled to drop the connection at once (a client that stopped reading).
    pub kill: CancellationToken,
    /// Bytes queued in `tx` and not yet written (see [`ConnHandle::queue_frame`]).
    pub queued_bytes: Arc<AtomicUsize>,
    /// Ids the connection itself proves (a verified TLS client's `x509:<DN>`,
    /// see `crate::tls`); its session carries them besides `ip`.
    pub auth: Vec<zab_core::records::Id>,
}

/// A connection's outbound queue is full: its client stopped reading.
#[derive(Debug, PartialEq, Eq)]
pub struct QueueFull;

impl ConnHandle {
    /// A handle and the receiving end of its queue.
    pub fn new(id: u64, addr: SocketAddr) -> (ConnHandle, mpsc::Receiver<Out>) {
        let (tx, rx) = mpsc::channel(CONN_QUEUE);
        let h = ConnHandle {
            id,
            addr,
            tx,
            kill: CancellationToken::new(),
            queued_bytes: Arc::new(AtomicUsize::new(0)),
            auth: Vec::new(),
        };
        (h, rx)
    }

    /// Queue a frame for the writer. `Err` when the connection's queue is
    /// full, in frames or in bytes: its client stopped reading, and the core
    /// drops the connection instead of buffering without end.
    pub fn queue_frame(&self, frame: Bytes) -> Result<(), QueueFull> {
        let len = frame.len();
        let before = self.queued_bytes.fetch_add(len, Ordering::AcqRel);
        // One frame may always be queued, however large (a reply up to jute.maxbuffer).
        if before > 0 && before + len > CONN_QUEUE_BYTES {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            return Err(QueueFull);
        }
        self.tx.try_send(Out::Frame(frame)).map_err(|_| {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            QueueFull
        })
    }

    /// Frames queued and not yet written (`cons` prints it as `queued`).
    pub fn queued_frames(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_queue_is_bounded_in_bytes() {
        let (h, mut rx) = ConnHandle::new(1, "127.0.0.1:1".parse().unwrap());
        let mb = Bytes::from(vec![0u8; 1 << 20]);
        // One frame larger than the cap still goes: a reply may be that large.
        assert!(h
            .queue_frame(Bytes::from(vec![0u8; CONN_QUEUE_BYTES + 1]))
            .is_ok());
        assert!(h.queue_frame(mb.clone()).is_err());
        let Some(Out::Frame(f)) = rx.try_recv().ok() else {
            panic!("the big frame was queued")
        };
        h.queued_bytes.fetch_sub(f.len(), Ordering::AcqRel);
        for _ in 0..64 {
            assert!(h.queue_frame(mb.clone()).is_ok());
        }
        assert!(h.queue_frame(Bytes::from_static(b"x")).is_err());
        assert_eq!(h.queued_bytes.load(Ordering::Acquire), 64 << 20);
        assert_eq!(h.queued_frames(), 64);
    }
}
