//! One established peer connection on the quorum port: a bounded outbound
//! queue, and an inbound stream fed by a reader task that enforces the read
//! timeout the driver sets.
//!
//! A frame sent while nothing is being written is written at once, by the
//! sender's own task (a non-blocking write); only what the socket does not take
//! then waits in the queue for the connection's writer task. A sender may also
//! hold frames and flush them together (one write for a turn's PROPOSALs and
//! COMMITs). So a leader's PROPOSAL and COMMIT and a follower's ACK cost no
//! wakeup of another task unless the peer is slow to read.
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

use bytes::{Buf, BytesMut};
use futures::task::AtomicWaker;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWrite, Chain};
use tokio::sync::{mpsc, watch};
use tokio_util::codec::{Decoder, Encoder, FramedRead};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::error::NetError;
use crate::stream::{PeerRead, PeerStream, PeerWrite};

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
pub struct PeerSender<T> {
    out: Arc<dyn OutQueue<T>>,
    capacity: usize,
    cancel: CancellationToken,
    clock: Arc<QueueClock>,
}

impl<T> std::fmt::Debug for PeerSender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerSender")
            .field("queued", &self.out.queued())
            .field("capacity", &self.capacity)
            .field("closed", &self.cancel.is_cancelled())
            .finish()
    }
}

impl<T> Clone for PeerSender<T> {
    fn clone(&self) -> Self {
        PeerSender {
            out: self.out.clone(),
            capacity: self.capacity,
            cancel: self.cancel.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl<T> PeerSender<T> {
    /// Queue a frame, waiting while the queue is full.
    pub async fn send(&self, frame: T) -> Result<(), NetError> {
        let mut frame = frame;
        self.clock.queued.fetch_add(1, Ordering::Relaxed);
        loop {
            if self.cancel.is_cancelled() {
                return Err(NetError::Closed);
            }
            // Registered before trying, so that room made in between wakes us.
            let room = self.out.room().notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.out.push(frame, self.capacity, &self.clock, false) {
                Ok(()) => return Ok(()),
                Err((back, NetError::QueueFull)) => frame = back,
                Err((_, e)) => return Err(e),
            }
            tokio::select! {
                _ = room => {}
                _ = self.cancel.cancelled() => return Err(NetError::Closed),
            }
        }
    }

    /// Queue a frame if there is room; a full queue is [`NetError::QueueFull`].
    pub fn try_send(&self, frame: T) -> Result<(), NetError> {
        self.try_send_marking(frame, 0)
    }

    pub fn is_closed(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// [`PeerSender::try_send`], marking the frame if it is the first or every `every`-th
    /// queued this way (0: never): the writer notes how long it waited in the queue.
    /// The one sender of a connection should queue through this only, so that
    /// positions match the writer's count.
    pub fn try_send_marking(&self, frame: T, every: u64) -> Result<(), NetError> {
        self.queue_marking(frame, every, false)
    }

    /// [`PeerSender::try_send_marking`] without writing: the frame waits in the queue
    /// until [`PeerSender::flush`] (or the writer, if it is busy). A sender that queues
    /// several frames in one turn (a leader's PROPOSALs and COMMITs, a follower's ACKs)
    /// holds them and flushes once: one write for all of them.
    pub fn hold_marking(&self, frame: T, every: u64) -> Result<(), NetError> {
        self.queue_marking(frame, every, true)
    }

    /// Writes the frames held by [`PeerSender::hold_marking`]: at once, from the caller's
    /// task, if nothing is being written and the socket takes them; else the writer does.
    pub fn flush(&self) {
        self.out.flush(&self.clock);
    }

    fn queue_marking(&self, frame: T, every: u64, hold: bool) -> Result<(), NetError> {
        let at = self.clock.queued.fetch_add(1, Ordering::Relaxed);
        let marked = every > 0 && at.is_multiple_of(every);
        if marked {
            let mut marks = self.clock.marks.lock().unwrap_or_else(|e| e.into_inner());
            if marks.is_empty() {
                self.clock.next_mark.store(at, Ordering::Release);
            }
            marks.push_back((at, Instant::now()));
        }
        if self.cancel.is_cancelled() {
            return Err(NetError::Closed);
        }
        self.out
            .push(frame, self.capacity, &self.clock, hold)
            .map_err(|(_, e)| e)
    }

    /// The queue waits (ms) of the marked frames the writer took since the last call.
    pub fn take_queue_waits(&self) -> Vec<u64> {
        let mut w = self.clock.waits.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *w)
    }

    /// Frames queued and not yet taken by the writer (a leader's
    /// `learner_handler_qp_size`).
    pub fn queued(&self) -> usize {
        self.out.queued()
    }

    /// Close the connection (as [`PeerConn::close`]); its reader reports the end.
    pub fn close(&self) {
        self.cancel.cancel();
    }
}

/// A connection's outbound side, as its senders see it (the codec's type erased).
trait OutQueue<T>: Send + Sync {
    /// Queues `frame` (the caller counted it in `clock.queued`) and, unless `hold`,
    /// writes what is queued at once if the writer has nothing in progress and the
    /// socket takes it, else wakes the writer. A frame refused comes back with the
    /// reason.
    fn push(
        &self,
        frame: T,
        capacity: usize,
        clock: &QueueClock,
        hold: bool,
    ) -> Result<(), (T, NetError)>;
    /// Writes what `push` held, as `push` without `hold` does.
    fn flush(&self, clock: &QueueClock);
    fn queued(&self) -> usize;
    /// Notified when the writer takes frames from a full queue.
    fn room(&self) -> &tokio::sync::Notify;
}

/// What the senders and the writer task share (see [`spawn_conn`]).
struct Outbound<T, C> {
    st: Mutex<OutState<T, C>>,
    /// The writer task, waiting for frames, for the socket or for the end.
    writer: AtomicWaker,
    room: tokio::sync::Notify,
}

struct OutState<T, C> {
    /// Frames not yet encoded, in order, after the bytes in `buf`.
    queue: VecDeque<T>,
    /// `None` once the writer task ended: the socket's write half goes with it.
    wr: Option<PeerWrite>,
    codec: C,
    /// Encoded and not yet written.
    buf: BytesMut,
    /// Written but maybe not flushed (a wrapped stream: TLS holds records until flushed).
    unflushed: bool,
    /// A write or an encoding that failed on a sender's call, for the writer to report.
    failed: Option<NetError>,
}

/// Most bytes the writer encodes ahead of the socket.
const ENCODE_AHEAD: usize = 64 << 10;

impl<T, C> OutState<T, C> {
    /// Writes (and flushes) what is encoded, as far as the socket takes it now with `cx`.
    /// `Ready(Ok)` once all is out.
    fn poll_drain(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), NetError>> {
        use std::task::Poll;
        let Some(wr) = self.wr.as_mut() else {
            return Poll::Ready(Err(NetError::Closed));
        };
        while !self.buf.is_empty() {
            match std::pin::Pin::new(&mut *wr).poll_write(cx, &self.buf) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(
                        std::io::Error::from(std::io::ErrorKind::WriteZero).into()
                    ))
                }
                Poll::Ready(Ok(n)) => {
                    self.buf.advance(n);
                    self.unflushed = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Pending => return Poll::Pending,
            }
        }
        if self.unflushed {
            match std::pin::Pin::new(&mut *wr).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Pending => return Poll::Pending,
            }
        }
        // Let go of a large buffer (a SNAP) once it is out.
        if self.buf.capacity() > ENCODE_AHEAD {
            self.buf = BytesMut::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T, C: Encoder<T, Error = NetError>> OutState<T, C> {
    /// Encodes what is queued and writes it now, from the caller's task, if the writer
    /// has nothing in progress and the socket takes it; `true` if the writer task must
    /// finish (the socket was full, more was queued than one turn encodes, or it failed).
    fn write_now(&mut self, clock: &QueueClock) -> bool {
        if self.wr.is_none() {
            return false;
        }
        if !self.buf.is_empty() || self.unflushed || self.failed.is_some() {
            return true;
        }
        while self.buf.len() < ENCODE_AHEAD {
            let Some(f) = self.queue.pop_front() else {
                break;
            };
            clock.on_taken();
            if let Err(e) = self.codec.encode(f, &mut self.buf) {
                self.failed = Some(e);
                return true;
            }
        }
        let waker = futures::task::noop_waker();
        match self.poll_drain(&mut std::task::Context::from_waker(&waker)) {
            std::task::Poll::Ready(Ok(())) => !self.queue.is_empty(),
            std::task::Poll::Ready(Err(e)) => {
                self.failed = Some(e);
                true
            }
            std::task::Poll::Pending => true,
        }
    }
}

impl<T, C> OutQueue<T> for Outbound<T, C>
where
    T: Send,
    C: Encoder<T, Error = NetError> + Send,
{
    fn push(
        &self,
        frame: T,
        capacity: usize,
        clock: &QueueClock,
        hold: bool,
    ) -> Result<(), (T, NetError)> {
        let mut st = self.st.lock().unwrap_or_else(|e| e.into_inner());
        if st.wr.is_none() {
            return Err((frame, NetError::Closed));
        }
        if st.queue.len() >= capacity {
            return Err((frame, NetError::QueueFull));
        }
        st.queue.push_back(frame);
        if hold {
            return Ok(());
        }
        let wake = st.write_now(clock);
        drop(st);
        if wake {
            self.writer.wake();
        }
        Ok(())
    }

    fn flush(&self, clock: &QueueClock) {
        let mut st = self.st.lock().unwrap_or_else(|e| e.into_inner());
        if st.queue.is_empty() {
            return;
        }
        let wake = st.write_now(clock);
        drop(st);
        if wake {
            self.writer.wake();
        }
    }

    fn queued(&self) -> usize {
        self.st
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .queue
            .len()
    }

    fn room(&self) -> &tokio::sync::Notify {
        &self.room
    }
}

impl<T, C> Outbound<T, C>
where
    C: Encoder<T, Error = NetError>,
{
    /// The writer task's turn: encode what is queued, write it, flush; `Pending` when all
    /// is out (or the socket is full), `Ready(Err)` when the connection failed.
    fn poll_write_out(
        &self,
        cx: &mut std::task::Context<'_>,
        clock: &QueueClock,
    ) -> std::task::Poll<NetError> {
        use std::task::Poll;
        // Registered before looking, so a frame queued after the lock is let go wakes us.
        self.writer.register(cx.waker());
        let mut st = self.st.lock().unwrap_or_else(|e| e.into_inner());
        let st = &mut *st;
        loop {
            if let Some(e) = st.failed.take() {
                return Poll::Ready(e);
            }
            let mut took = false;
            while st.buf.len() < ENCODE_AHEAD {
                let Some(f) = st.queue.pop_front() else { break };
                took = true;
                clock.on_taken();
                if let Err(e) = st.codec.encode(f, &mut st.buf) {
                    return Poll::Ready(e);
                }
            }
            if took {
                self.room.notify_waiters();
            }
            match st.poll_drain(cx) {
                Poll::Ready(Ok(())) if st.queue.is_empty() => return Poll::Pending,
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(e),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The writer ended: the write half goes (closing our side), and nothing more is
    /// written.
    fn end(&self) {
        let mut st = self.st.lock().unwrap_or_else(|e| e.into_inner());
        st.wr = None;
        st.queue.clear();
        st.buf = BytesMut::new();
        drop(st);
        self.room.notify_waiters();
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

    /// See [`PeerSender::hold_marking`].
    pub fn hold_marking(&self, frame: T, every: u64) -> Result<(), NetError> {
        self.sender.hold_marking(frame, every)
    }

    /// See [`PeerSender::flush`].
    pub fn flush(&self) {
        self.sender.flush()
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
    AsyncReadExt::chain(Cursor::new(read_buf), rd)
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
    let out = Arc::new(Outbound {
        st: Mutex::new(OutState {
            queue: VecDeque::new(),
            wr: Some(wr),
            codec,
            buf: BytesMut::new(),
            unflushed: false,
            failed: None,
        }),
        writer: AtomicWaker::new(),
        room: tokio::sync::Notify::new(),
    });
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
        loop {
            let timeout = *timeout_rx.borrow_and_update();
            let next = async {
                match timeout {
                    Some(t) => tokio::time::timeout(t, reader.next()).await.map_err(|_| t),
                    None => Ok(reader.next().await),
                }
            };
            let frame = tokio::select! {
                _ = r_cancel.cancelled() => break,
                r = timeout_rx.changed() => {
                    if r.is_err() {
                        // The PeerConn is gone.
                        break;
                    }
                    continue;
                }
                r = next => r,
            };
            match frame {
                Err(t) => {
                    r_report(NetError::ReadTimeout {
                        peer: peer_addr,
                        timeout: t,
                    })
                    .await;
                    break;
                }
                Ok(None) => {
                    r_cancel.cancel();
                    break;
                }
                Ok(Some(Err(e))) => {
                    r_report(e).await;
                    break;
                }
                Ok(Some(Ok(f))) => {
                    tokio::select! {
                        _ = r_cancel.cancelled() => break,
                        r = in_tx.send(Ok(f)) => if r.is_err() { r_cancel.cancel(); break; },
                    }
                }
            }
        }
    });

    let clock = Arc::new(QueueClock::default());
    let w_clock = clock.clone();
    let w_cancel = cancel.clone();
    let w_out = out.clone();
    tasks.spawn(async move {
        // Writes what senders queued behind a frame the socket did not take at once;
        // ZooKeeper's BufferedOutputStream flushes when its queue runs empty, and so
        // does this, once per turn.
        let failed = tokio::select! {
            _ = w_cancel.cancelled() => None,
            e = std::future::poll_fn(|cx| w_out.poll_write_out(cx, &w_clock)) => Some(e),
        };
        w_out.end();
        if let Some(e) = failed {
            report(e).await;
        }
    });

    Ok(PeerConn {
        peer_addr,
        local_addr,
        sender: PeerSender {
            out,
            capacity: limits.outbound_capacity.max(1),
            cancel,
            clock,
        },
        inbound: in_rx,
        read_timeout: timeout_tx,
    })
}
