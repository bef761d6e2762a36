//! One established peer connection on the quorum port: a bounded outbound
//! queue drained by a writer task, and an inbound stream fed by a reader task
//! that enforces the read timeout the driver sets.
//!
//! The connection knows frames, not protocol: the driver decides what to
//! send, and sets the read timeout from `initLimit` (while syncing) or
//! `syncLimit` (while broadcasting) times `tickTime`, as ZooKeeper's
//! `Learner` and `LearnerHandler` do with `setSoTimeout`. The timeout counts
//! from when the reader starts waiting for the next whole frame (or from the
//! last change of the timeout), not while the driver is slow to take frames.
//!
//! The end of a connection is reported once on the inbound stream: an error
//! (read timeout, decode error, i/o error) as `Some(Err(..))`, then `None`; a
//! clean close (end of stream, or [`PeerConn::close`]) as `None` only.
//!
//! Queue time: [`PeerSender::try_send_marking`] marks every n-th frame queued, and the
//! writer notes how long each marked frame waited before it took it (a leader's
//! `learner_handler_qp_time_ms`: Apache's LearnerHandler queues a marker packet after
//! every 1000th and times it the same way); [`PeerSender::take_queue_waits`] collects.

use std::collections::VecDeque;
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;

use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, Chain};
use tokio::sync::{mpsc, watch};
use tokio_util::codec::{Decoder, Encoder, FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::error::NetError;
use crate::stream::{PeerRead, PeerStream};

/// Queue sizes and the first read timeout of a [`PeerConn`].
#[derive(Debug, Clone)]
pub struct ConnLimits {
    pub outbound_capacity: usize,
    pub inbound_capacity: usize,
    /// `None`: wait for ever (until the driver sets one).
    pub read_timeout: Option<Duration>,
}

/// How long marked frames waited in the outbound queue (see the module's header).
#[derive(Debug)]
struct QueueClock {
    /// Frames queued (through `try_send_marking`) and taken by the writer so far.
    queued: AtomicU64,
    taken: AtomicU64,
    /// The position of the oldest marked frame not yet taken; `u64::MAX` if none, so
    /// that the writer takes no lock for unmarked frames.
    next_mark: AtomicU64,
    /// Marked frames' positions and when they were queued, oldest first.
    marks: Mutex<VecDeque<(u64, Instant)>>,
    /// Waits (ms) measured and not yet collected; bounded by [`MAX_WAITS`].
    waits: Mutex<Vec<u64>>,
}

/// Uncollected queue waits kept at most (a sender that never collects loses the oldest).
const MAX_WAITS: usize = 1024;

impl Default for QueueClock {
    fn default() -> Self {
        QueueClock {
            queued: AtomicU64::new(0),
            taken: AtomicU64::new(0),
            next_mark: AtomicU64::new(u64::MAX),
            marks: Mutex::new(VecDeque::new()),
            waits: Mutex::new(Vec::new()),
        }
    }
}

impl QueueClock {
    /// The writer took one frame.
    fn on_taken(&self) {
        let n = self.taken.fetch_add(1, Ordering::Relaxed);
        if n < self.next_mark.load(Ordering::Acquire) {
            return;
        }
        let now = Instant::now();
        let mut marks = self.marks.lock().unwrap_or_else(|e| e.into_inner());
        let mut waits = self.waits.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(&(at, queued)) = marks.front() {
            if at > n {
                break;
            }
            marks.pop_front();
            if waits.len() >= MAX_WAITS {
                waits.remove(0);
            }
            waits.push(now.duration_since(queued).as_millis() as u64);
        }
        let next = marks.front().map_or(u64::MAX, |m| m.0);
        self.next_mark.store(next, Ordering::Release);
    }
}

/// A handle that queues frames on a connection; cheap to clone.
#[derive(Debug)]
pub struct PeerSender<T> {
    tx: mpsc::Sender<T>,
    cancel: CancellationToken,
    clock: Arc<QueueClock>,
}

impl<T> Clone for PeerSender<T> {
    fn clone(&self) -> Self {
        PeerSender {
            tx: self.tx.clone(),
            cancel: self.cancel.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl<T> PeerSender<T> {
    /// Queue a frame, waiting while the queue is full.
    pub async fn send(&self, frame: T) -> Result<(), NetError> {
        if self.cancel.is_cancelled() {
            return Err(NetError::Closed);
        }
        self.clock.queued.fetch_add(1, Ordering::Relaxed);
        tokio::select! {
            r = self.tx.send(frame) => r.map_err(|_| NetError::Closed),
            _ = self.cancel.cancelled() => Err(NetError::Closed),
        }
    }

    /// Queue a frame if there is room; a full queue is [`NetError::QueueFull`].
    pub fn try_send(&self, frame: T) -> Result<(), NetError> {
        self.try_send_marking(frame, 0)
    }

    fn try_queue(&self, frame: T) -> Result<(), NetError> {
        if self.cancel.is_cancelled() {
            return Err(NetError::Closed);
        }
        self.tx.try_send(frame).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => NetError::QueueFull,
            mpsc::error::TrySendError::Closed(_) => NetError::Closed,
        })
    }

    pub fn is_closed(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// [`PeerSender::try_send`], marking the frame if it is the first or every `every`-th
    /// queued this way (0: never): the writer notes how long it waited in the queue.
    /// The one sender of a connection should queue through this only, so that
    /// positions match the writer's count.
    pub fn try_send_marking(&self, frame: T, every: u64) -> Result<(), NetError> {
        let at = self.clock.queued.fetch_add(1, Ordering::Relaxed);
        if every > 0 && at.is_multiple_of(every) {
            let mut marks = self.clock.marks.lock().unwrap_or_else(|e| e.into_inner());
            if marks.is_empty() {
                self.clock.next_mark.store(at, Ordering::Release);
            }
            marks.push_back((at, Instant::now()));
        }
        self.try_queue(frame)
    }

    /// The queue waits (ms) of the marked frames the writer took since the last call.
    pub fn take_queue_waits(&self) -> Vec<u64> {
        let mut w = self.clock.waits.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *w)
    }

    /// Frames queued and not yet taken by the writer (a leader's
    /// `learner_handler_qp_size`).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Close the connection (as [`PeerConn::close`]); its reader reports the end.
    pub fn close(&self) {
        self.cancel.cancel();
    }
}

/// An established connection carrying frames of type `T`.
/// Dropping it closes the connection.
#[derive(Debug)]
pub struct PeerConn<T> {
    peer_addr: SocketAddr,
    local_addr: SocketAddr,
    sender: PeerSender<T>,
    inbound: mpsc::Receiver<Result<T, NetError>>,
    read_timeout: watch::Sender<Option<Duration>>,
}

impl<T> PeerConn<T> {
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A clonable handle for queueing frames from other tasks.
    pub fn sender(&self) -> PeerSender<T> {
        self.sender.clone()
    }

    /// See [`PeerSender::send`].
    pub async fn send(&self, frame: T) -> Result<(), NetError> {
        self.sender.send(frame).await
    }

    /// See [`PeerSender::try_send`].
    pub fn try_send(&self, frame: T) -> Result<(), NetError> {
        self.sender.try_send(frame)
    }

    /// See [`PeerSender::try_send_marking`].
    pub fn try_send_marking(&self, frame: T, every: u64) -> Result<(), NetError> {
        self.sender.try_send_marking(frame, every)
    }

    /// See [`PeerSender::take_queue_waits`].
    pub fn take_queue_waits(&self) -> Vec<u64> {
        self.sender.take_queue_waits()
    }

    /// See [`PeerSender::queued`].
    pub fn queued(&self) -> usize {
        self.sender.queued()
    }

    /// The next frame; `Some(Err(..))` once if the connection failed, then `None`.
    pub async fn recv(&mut self) -> Option<Result<T, NetError>> {
        self.inbound.recv().await
    }

    /// [`PeerConn::recv`] as a poll, for a task that waits on several connections at
    /// once without a task (and a wake-up) per connection in between.
    pub fn poll_recv(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<T, NetError>>> {
        self.inbound.poll_recv(cx)
    }

    /// The next frame if one is waiting (`Err` when none is, or the connection ended
    /// and its end was already taken).
    pub fn try_recv(&mut self) -> Result<Result<T, NetError>, mpsc::error::TryRecvError> {
        self.inbound.try_recv()
    }

    /// Set the read timeout (`None`: no timeout). Applies to the wait in
    /// progress, restarting it.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) {
        self.read_timeout.send_replace(timeout);
    }

    pub fn read_timeout(&self) -> Option<Duration> {
        *self.read_timeout.borrow()
    }

    /// Close the connection; queued frames not yet written are dropped.
    pub fn close(&self) {
        self.sender.cancel.cancel();
    }

    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}

impl<T> Drop for PeerConn<T> {
    fn drop(&mut self) {
        self.sender.cancel.cancel();
    }
}

/// The read half of a connection, starting with the bytes a handshake
/// decoder had already read past its message.
pub(crate) type ReadHalf = Chain<Cursor<BytesMut>, PeerRead>;

/// Feeding those bytes through the reader (rather than into a new
/// `FramedRead`'s buffer, which it would not decode before the socket gives
/// more) keeps a frame that arrived with the handshake from waiting.
pub(crate) fn prepend(read_buf: BytesMut, rd: PeerRead) -> ReadHalf {
    Cursor::new(read_buf).chain(rd)
}

/// Start the reader and writer of an established stream. `read_buf` holds
/// bytes already read past the handshake. The tasks are spawned on `tasks`
/// and stop when `cancel` fires, the peer closes, or an error occurs.
#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn_conn<T, C>(
    stream: PeerStream,
    peer_addr: SocketAddr,
    local_addr: SocketAddr,
    read_buf: BytesMut,
    codec: C,
    limits: &ConnLimits,
    cancel: CancellationToken,
    tasks: &tokio_util::task::TaskTracker,
) -> Result<PeerConn<T>, NetError>
where
    T: Send + 'static,
    C: Decoder<Item = T, Error = NetError> + Encoder<T, Error = NetError> + Clone + Send + 'static,
{
    let (rd, wr) = stream.into_split();
    let mut reader = FramedRead::new(prepend(read_buf, rd), codec.clone());
    let mut writer = FramedWrite::new(wr, codec);
    let (out_tx, mut out_rx) = mpsc::channel::<T>(limits.outbound_capacity.max(1));
    let (in_tx, in_rx) = mpsc::channel(limits.inbound_capacity.max(1));
    let (timeout_tx, mut timeout_rx) = watch::channel(limits.read_timeout);
    let reported = Arc::new(AtomicBool::new(false));

    // Closes the connection, then reports the first failure only (waiting
    // for room: the driver either reads it or drops the connection).
    let report = {
        let in_tx = in_tx.clone();
        let cancel = cancel.clone();
        let reported = reported.clone();
        move |e: NetError| {
            let in_tx = in_tx.clone();
            let first = !reported.swap(true, Ordering::SeqCst);
            cancel.cancel();
            async move {
                if first {
                    debug!(%peer_addr, error = %e, "peer connection failed");
                    let _ = in_tx.send(Err(e)).await;
                }
            }
        }
    };

    let r_cancel = cancel.clone();
    let r_report = report.clone();
    tasks.spawn(async move {
        // The futures that wait for the end, for a new timeout and for the timeout
        // itself live as long as the task, not one frame: made afresh per frame, each
        // registered a waiter (a lock, a waker cloned) and took it back (another), for
        // every frame of every connection.
        let cancelled = r_cancel.cancelled();
        tokio::pin!(cancelled);
        // A second receiver is watched for changes; the first one reads the value.
        let mut changes = timeout_rx.clone();
        let deadline = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(deadline);
        'timeout: loop {
            let timeout = *timeout_rx.borrow_and_update();
            let changed = changes.changed();
            tokio::pin!(changed);
            loop {
                if let Some(t) = timeout {
                    // Counted from here: the reader starts waiting for the next frame.
                    // Pushing a registered deadline later takes no lock.
                    deadline.as_mut().reset(tokio::time::Instant::now() + t);
                }
                let frame = tokio::select! {
                    _ = &mut cancelled => break 'timeout,
                    r = &mut changed => {
                        if r.is_err() {
                            // The PeerConn is gone.
                            break 'timeout;
                        }
                        continue 'timeout;
                    }
                    _ = &mut deadline, if timeout.is_some() => Err(timeout.unwrap_or_default()),
                    r = reader.next() => Ok(r),
                };
                match frame {
                    Err(t) => {
                        r_report(NetError::ReadTimeout {
                            peer: peer_addr,
                            timeout: t,
                        })
                        .await;
                        break 'timeout;
                    }
                    Ok(None) => {
                        r_cancel.cancel();
                        break 'timeout;
                    }
                    Ok(Some(Err(e))) => {
                        r_report(e).await;
                        break 'timeout;
                    }
                    Ok(Some(Ok(f))) => match in_tx.try_send(Ok(f)) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Closed(_)) => {
                            r_cancel.cancel();
                            break 'timeout;
                        }
                        Err(mpsc::error::TrySendError::Full(f)) => {
                            // The driver is slow to take frames: wait for room.
                            tokio::select! {
                                _ = &mut cancelled => break 'timeout,
                                r = in_tx.send(f) => if r.is_err() {
                                    r_cancel.cancel();
                                    break 'timeout;
                                },
                            }
                        }
                    },
                }
            }
        }
    });

    let clock = Arc::new(QueueClock::default());
    let w_clock = clock.clone();
    let w_cancel = cancel.clone();
    tasks.spawn(async move {
        // One waiter on the end for the task's life, as the reader's.
        let cancelled = w_cancel.cancelled();
        tokio::pin!(cancelled);
        loop {
            let first = tokio::select! {
                _ = &mut cancelled => break,
                f = out_rx.recv() => f,
            };
            let Some(first) = first else { break };
            w_clock.on_taken();
            // Write what is queued, then flush once: ZooKeeper's
            // BufferedOutputStream flushes when its queue runs empty.
            let batch = async {
                writer.feed(first).await?;
                while let Ok(f) = out_rx.try_recv() {
                    w_clock.on_taken();
                    writer.feed(f).await?;
                }
                writer.flush().await
            };
            let res = tokio::select! {
                _ = &mut cancelled => break,
                r = batch => r,
            };
            if let Err(e) = res {
                report(e).await;
                break;
            }
        }
    });

    Ok(PeerConn {
        peer_addr,
        local_addr,
        sender: PeerSender {
            tx: out_tx,
            cancel,
            clock,
        },
        inbound: in_rx,
        read_timeout: timeout_tx,
    })
}
