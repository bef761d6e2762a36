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
//!
//! The hot path takes no lock per frame: whether the connection is closed is an atomic
//! flag (`CancellationToken::is_cancelled` locks a mutex), and both queues are drained
//! a batch at a time (`recv_many`: the channel's semaphore, whose permits go back under
//! its mutex, is touched once per batch, not once per frame).

use std::collections::VecDeque;
use std::future::Future;
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
    /// `waits` is not empty (so that collecting takes no lock when there is nothing).
    has_waits: AtomicBool,
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
            has_waits: AtomicBool::new(false),
        }
    }
}

impl QueueClock {
    /// The writer took `count` frames (at least one).
    fn on_taken(&self, count: u64) {
        let n = self.taken.fetch_add(count, Ordering::Relaxed) + count - 1;
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
            self.has_waits.store(true, Ordering::Release);
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
    /// Set as the connection is closed through a handle, and by the writer as it stops
    /// (whoever cancelled: its token may be a child of a shutdown token).
    closed: Arc<AtomicBool>,
    clock: Arc<QueueClock>,
}

impl<T> Clone for PeerSender<T> {
    fn clone(&self) -> Self {
        PeerSender {
            tx: self.tx.clone(),
            cancel: self.cancel.clone(),
            closed: self.closed.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl<T> PeerSender<T> {
    /// Queue a frame, waiting while the queue is full.
    pub async fn send(&self, frame: T) -> Result<(), NetError> {
        if self.is_closed() {
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
        if self.closed.load(Ordering::Acquire) {
            return Err(NetError::Closed);
        }
        self.tx.try_send(frame).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => NetError::QueueFull,
            mpsc::error::TrySendError::Closed(_) => NetError::Closed,
        })
    }

    /// Closed through a handle, or its writer has stopped (a frame queued between the
    /// token firing and the writer seeing it is dropped with the queue, as one queued
    /// just before the close would be).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) || self.tx.is_closed()
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
        if !self.clock.has_waits.load(Ordering::Acquire) {
            return Vec::new();
        }
        let mut w = self.clock.waits.lock().unwrap_or_else(|e| e.into_inner());
        self.clock.has_waits.store(false, Ordering::Release);
        std::mem::take(&mut *w)
    }

    /// Frames queued and not yet taken by the writer (a leader's
    /// `learner_handler_qp_size`).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Close the connection (as [`PeerConn::close`]); its reader reports the end.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
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

    /// Up to `limit` waiting frames appended to `buf`, without waiting: how many, or
    /// `None` when the connection ended and nothing is left (its end, if a failure, is
    /// the last item taken before). One return of permits to the inbound queue for the
    /// lot, where [`PeerConn::try_recv`] returns them frame by frame, under a lock.
    pub fn try_recv_many(
        &mut self,
        buf: &mut Vec<Result<T, NetError>>,
        limit: usize,
    ) -> Option<usize> {
        try_recv_many(&mut self.inbound, buf, limit)
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
        self.sender.close();
    }

    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}

impl<T> Drop for PeerConn<T> {
    fn drop(&mut self) {
        self.sender.close();
    }
}

/// Up to `limit` values already in `rx` appended to `buf`, without waiting: how many
/// (0: none waiting), or `None` when the channel is closed and empty. A receive of many
/// returns the channel's permits once (a lock on its semaphore), where `try_recv` does
/// so per value.
///
/// Polled with a waker that does nothing: a task that finds nothing here must poll
/// `rx` again (its `recv`) before it parks, which registers its own waker and looks
/// once more, so no value is missed.
pub fn try_recv_many<T>(
    rx: &mut mpsc::Receiver<T>,
    buf: &mut Vec<T>,
    limit: usize,
) -> Option<usize> {
    if limit == 0 {
        return Some(0);
    }
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match rx.poll_recv_many(&mut cx, buf, limit) {
        std::task::Poll::Ready(0) => None,
        std::task::Poll::Ready(n) => Some(n),
        std::task::Poll::Pending => Some(0),
    }
}

/// What the reader's wait for the next frame ended with.
enum Wait<F> {
    Frame(Option<F>),
    /// The connection was closed or cancelled (or its `PeerConn` is gone).
    End,
    /// The driver set a new read timeout: the wait starts again with it.
    NewTimeout,
    TimedOut(Duration),
}

/// Frames the writer takes from its queue at once.
const WRITE_BATCH: usize = 64;

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
    let closed = Arc::new(AtomicBool::new(false));

    // Closes the connection, then reports the first failure only (waiting
    // for room: the driver either reads it or drops the connection).
    let report = {
        let in_tx = in_tx.clone();
        let cancel = cancel.clone();
        let reported = reported.clone();
        let closed = closed.clone();
        move |e: NetError| {
            let in_tx = in_tx.clone();
            let first = !reported.swap(true, Ordering::SeqCst);
            closed.store(true, Ordering::Release);
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
    let r_closed = closed.clone();
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
                // The next frame first: one already read (a read often brings several)
                // needs no clock reading for its deadline and no look at the end or the
                // timeout, each of which locks (the token's mutex, the waiter lists).
                // The deadline is armed when the reader finds no frame and starts
                // waiting: the timeout counts from there.
                let mut armed = false;
                let frame = std::future::poll_fn(|cx| {
                    use std::task::Poll;
                    // Closed through a handle (an atomic load, not the token's lock).
                    if r_closed.load(Ordering::Acquire) {
                        return Poll::Ready(Wait::End);
                    }
                    if let Poll::Ready(r) = reader.poll_next_unpin(cx) {
                        return Poll::Ready(Wait::Frame(r));
                    }
                    if cancelled.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Wait::End);
                    }
                    if let Poll::Ready(r) = changed.as_mut().poll(cx) {
                        // An error: the PeerConn is gone.
                        return Poll::Ready(if r.is_ok() {
                            Wait::NewTimeout
                        } else {
                            Wait::End
                        });
                    }
                    if let Some(t) = timeout {
                        if !armed {
                            // Pushing a registered deadline later takes no lock.
                            deadline.as_mut().reset(tokio::time::Instant::now() + t);
                            armed = true;
                        }
                        if deadline.as_mut().poll(cx).is_ready() {
                            return Poll::Ready(Wait::TimedOut(t));
                        }
                    }
                    Poll::Pending
                })
                .await;
                let frame = match frame {
                    Wait::Frame(r) => Ok(r),
                    Wait::End => break 'timeout,
                    Wait::NewTimeout => continue 'timeout,
                    Wait::TimedOut(t) => Err(t),
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
        // However it ended, the connection is over: its senders stop queueing.
        r_closed.store(true, Ordering::Release);
    });

    let clock = Arc::new(QueueClock::default());
    let w_clock = clock.clone();
    let w_cancel = cancel.clone();
    let w_closed = closed.clone();
    tasks.spawn(async move {
        // One waiter on the end for the task's life, as the reader's. Polled after the
        // queue (biased): each poll of it locks the token's mutex and its waiter list,
        // and a queue with frames in it is the common case; a closed connection's
        // senders stop queueing (the flag), so the queue runs dry and the end is seen.
        let cancelled = w_cancel.cancelled();
        tokio::pin!(cancelled);
        let mut frames = Vec::with_capacity(WRITE_BATCH);
        loop {
            let n = tokio::select! {
                biased;
                n = out_rx.recv_many(&mut frames, WRITE_BATCH) => n,
                _ = &mut cancelled => break,
            };
            if n == 0 {
                break;
            }
            // Write what is queued, then flush once: ZooKeeper's
            // BufferedOutputStream flushes when its queue runs empty.
            let batch = async {
                loop {
                    w_clock.on_taken(frames.len() as u64);
                    for f in frames.drain(..) {
                        writer.feed(f).await?;
                    }
                    if try_recv_many(&mut out_rx, &mut frames, WRITE_BATCH).unwrap_or(0) == 0 {
                        break;
                    }
                }
                writer.flush().await
            };
            let res = tokio::select! {
                biased;
                r = batch => r,
                _ = &mut cancelled => break,
            };
            if let Err(e) = res {
                report(e).await;
                break;
            }
        }
        w_closed.store(true, Ordering::Release);
    });

    Ok(PeerConn {
        peer_addr,
        local_addr,
        sender: PeerSender {
            tx: out_tx,
            cancel,
            closed,
            clock,
        },
        inbound: in_rx,
        read_timeout: timeout_tx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn try_recv_many_takes_what_waits_up_to_the_limit_then_reports_the_end() {
        let (tx, mut rx) = mpsc::channel::<u32>(64);
        let mut buf = Vec::new();
        assert_eq!(
            try_recv_many(&mut rx, &mut buf, 16),
            Some(0),
            "nothing waits"
        );
        for i in 0..20 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(try_recv_many(&mut rx, &mut buf, 0), Some(0));
        assert_eq!(try_recv_many(&mut rx, &mut buf, 16), Some(16));
        assert_eq!(try_recv_many(&mut rx, &mut buf, 16), Some(4));
        assert_eq!(buf, (0..20).collect::<Vec<_>>(), "in order, appended");
        // The permits came back: the queue takes 64 again.
        for i in 0..64 {
            tx.try_send(i).unwrap();
        }
        buf.clear();
        assert_eq!(try_recv_many(&mut rx, &mut buf, 100), Some(64));
        tx.try_send(7).unwrap();
        drop(tx);
        assert_eq!(
            try_recv_many(&mut rx, &mut buf, 100),
            Some(1),
            "what is left first"
        );
        assert_eq!(try_recv_many(&mut rx, &mut buf, 100), None, "then the end");
    }

    /// Polling with a waker that does nothing must not lose the task's own wakeup: a
    /// `recv` after it registers the task's waker again and sees what came meanwhile.
    #[tokio::test]
    async fn a_recv_after_an_empty_try_recv_many_is_woken() {
        let (tx, mut rx) = mpsc::channel::<u32>(4);
        let mut buf = Vec::new();
        assert_eq!(try_recv_many(&mut rx, &mut buf, 4), Some(0));
        let sender = tokio::spawn(async move {
            tokio::task::yield_now().await;
            tx.send(1).await.unwrap();
            tx
        });
        let got = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
        assert_eq!(got.unwrap(), Some(1));
        drop(sender.await.unwrap());
    }

    #[test]
    fn a_batch_taken_passes_the_marks_inside_it() {
        let clock = QueueClock::default();
        // Frames 0 and 5 marked (as try_send_marking does), then the writer takes 0..4,
        // then 4..8 at once.
        clock.next_mark.store(0, Ordering::Release);
        let now = Instant::now();
        clock.marks.lock().unwrap().extend([(0, now), (5, now)]);
        clock.on_taken(4);
        assert_eq!(clock.waits.lock().unwrap().len(), 1);
        assert_eq!(clock.next_mark.load(Ordering::Acquire), 5);
        assert!(clock.has_waits.load(Ordering::Acquire));
        clock.on_taken(4);
        assert_eq!(clock.waits.lock().unwrap().len(), 2);
        assert_eq!(clock.next_mark.load(Ordering::Acquire), u64::MAX);
    }
}
