//! The core's handle on one client connection: the bounded queue of frames the
//! connection's writer sends, and the switch that drops the connection at once.
//!
//! The core only queues frames here; it never touches a socket. `net` owns the
//! socket and drains the queue. Both sides meet in this module, so neither
//! depends on the other for it.
//!
//! The queue is this module's own ([`OutTx`] / [`OutRx`]), not a tokio channel: a
//! bounded tokio channel allocates a block of 32 slots (about 1.5 KB with its
//! cache-padded fields) for every connection at once, and 10,000 idle sessions are
//! meant to be cheap (issue 17). This one holds a deque that is allocated while
//! frames are queued and let go of once they are written.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::task::AtomicWaker;
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

/// What the core's handles and the writer share.
struct Queue {
    state: Mutex<QueueState>,
    /// The writer, waiting for a frame.
    waker: AtomicWaker,
}

struct QueueState {
    frames: VecDeque<Out>,
    /// Handles alive ([`OutTx`] clones); none left ends the writer.
    senders: usize,
    /// The writer is gone: nothing more is queued.
    closed: bool,
}

/// The sending end of a connection's queue (the core's, in every [`ConnHandle`]).
pub struct OutTx(Arc<Queue>);

/// The receiving end: the connection's writer.
pub struct OutRx(Arc<Queue>);

/// Nothing to take from the queue now.
#[derive(Debug, PartialEq, Eq)]
pub struct Empty;

/// A connection's queue, bounded by `CONN_QUEUE` frames.
fn out_queue() -> (OutTx, OutRx) {
    let q = Arc::new(Queue {
        state: Mutex::new(QueueState {
            frames: VecDeque::new(),
            senders: 1,
            closed: false,
        }),
        waker: AtomicWaker::new(),
    });
    (OutTx(q.clone()), OutRx(q))
}

impl OutTx {
    /// Queues `o` unless the queue holds `CONN_QUEUE` frames or its writer is gone.
    pub fn try_send(&self, o: Out) -> Result<(), Out> {
        {
            let mut st = self.0.state.lock().unwrap();
            if st.closed || st.frames.len() >= CONN_QUEUE {
                return Err(o);
            }
            st.frames.push_back(o);
        }
        self.0.waker.wake();
        Ok(())
    }

    /// Frames queued and not yet taken by the writer.
    pub fn len(&self) -> usize {
        self.0.state.lock().unwrap().frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Clone for OutTx {
    fn clone(&self) -> OutTx {
        self.0.state.lock().unwrap().senders += 1;
        OutTx(self.0.clone())
    }
}

impl Drop for OutTx {
    fn drop(&mut self) {
        let last = {
            let mut st = self.0.state.lock().unwrap();
            st.senders -= 1;
            st.senders == 0
        };
        if last {
            self.0.waker.wake();
        }
    }
}

impl OutRx {
    /// The next frame; `None` once it is empty and every handle is gone.
    pub async fn recv(&mut self) -> Option<Out> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Out>> {
        // Registered before looking, so a frame queued in between wakes us.
        self.0.waker.register(cx.waker());
        let mut st = self.0.state.lock().unwrap();
        match st.frames.pop_front() {
            Some(o) => {
                release_if_drained(&mut st.frames);
                Poll::Ready(Some(o))
            }
            None if st.senders == 0 => Poll::Ready(None),
            None => Poll::Pending,
        }
    }

    /// A frame already queued, without waiting.
    pub fn try_recv(&mut self) -> Result<Out, Empty> {
        let mut st = self.0.state.lock().unwrap();
        let o = st.frames.pop_front().ok_or(Empty)?;
        release_if_drained(&mut st.frames);
        Ok(o)
    }

    pub fn is_empty(&self) -> bool {
        self.0.state.lock().unwrap().frames.is_empty()
    }
}

/// An idle connection keeps no room for frames beyond a few.
fn release_if_drained(frames: &mut VecDeque<Out>) {
    if frames.is_empty() && frames.capacity() > 4 {
        *frames = VecDeque::new();
    }
}

impl Drop for OutRx {
    fn drop(&mut self) {
        let mut st = self.0.state.lock().unwrap();
        st.closed = true;
        st.frames = VecDeque::new();
    }
}

/// The core's handle on one client connection.
#[derive(Clone)]
pub struct ConnHandle {
    pub id: u64,
    pub addr: SocketAddr,
    pub tx: OutTx,
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
    pub fn new(id: u64, addr: SocketAddr) -> (ConnHandle, OutRx) {
        let (tx, rx) = out_queue();
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
        self.tx.len()
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

    #[tokio::test]
    async fn the_writer_gets_frames_in_order_then_none_when_every_handle_is_gone() {
        let (h, mut rx) = ConnHandle::new(1, "127.0.0.1:1".parse().unwrap());
        let h2 = h.clone();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(o) = rx.recv().await {
                match o {
                    Out::Frame(f) => got.push(f[0]),
                    Out::Close => got.push(255),
                }
            }
            got
        });
        for i in 0..100u8 {
            h.queue_frame(Bytes::from(vec![i])).unwrap();
            if i % 10 == 0 {
                tokio::task::yield_now().await;
            }
        }
        assert!(h2.tx.try_send(Out::Close).is_ok());
        drop(h);
        drop(h2);
        let got = reader.await.unwrap();
        let mut want: Vec<u8> = (0..100).collect();
        want.push(255);
        assert_eq!(got, want);
    }

    #[test]
    fn a_queue_is_bounded_in_frames_and_refuses_once_its_writer_is_gone() {
        let (h, rx) = ConnHandle::new(1, "127.0.0.1:1".parse().unwrap());
        for _ in 0..CONN_QUEUE {
            h.queue_frame(Bytes::from_static(b"x")).unwrap();
        }
        assert_eq!(h.queue_frame(Bytes::from_static(b"x")), Err(QueueFull));
        drop(rx);
        assert_eq!(h.queued_frames(), 0, "what the writer never took is let go");
        assert!(h.tx.try_send(Out::Close).is_err());
    }
}
