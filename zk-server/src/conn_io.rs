//! A client connection's two socket halves, with no buffer of their own while the
//! connection is idle: 10,000 idle sessions should cost the server little more than
//! their sessions.
//!
//! - [`FrameReader`] reads into a scratch buffer of the worker thread (never held
//!   across an `await`) and keeps only the bytes of a frame not yet complete; a frame
//!   whose length is known is read straight into a buffer of that size, and that
//!   buffer goes with the frame, so nothing large stays behind after a big request.
//! - [`poll_write_frames`] writes what the core queued (whole frames, usually one buffer per
//!   turn of the core's loop, see `Core::flush_replies`) as it is: several at once with
//!   one vectored write, without copying them into a buffer of the connection's.
//!
//! The frame codec itself ([`crate::net::ClientCodec`]) and what a frame means are
//! `net`'s.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::codec::Decoder;

use crate::net::{ClientCodec, FrameError, Inbound};

/// Bytes one read may bring while no frame is in progress (the worker thread's scratch
/// buffer): many pipelined requests at once.
const SCRATCH: usize = 64 << 10;

/// Spare room in the frame buffer from which a read goes straight into it.
const DIRECT_READ: usize = 4096;

thread_local! {
    static SCRATCH_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; SCRATCH].into_boxed_slice());
}

/// Frames from one connection's read half (see the module's comment).
pub(crate) struct FrameReader<R> {
    rd: R,
    codec: ClientCodec,
    /// The start of a frame not yet complete (or frames read and not yet taken);
    /// empty, with no allocation, between requests.
    buf: BytesMut,
    eof: bool,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub(crate) fn new(rd: R, codec: ClientCodec) -> FrameReader<R> {
        FrameReader {
            rd,
            codec,
            buf: BytesMut::new(),
            eof: false,
        }
    }

    /// The codec, to switch it to ClickHouse Keeper's compressed blocks after the
    /// handshake (see `crate::keeper_conn`).
    pub(crate) fn codec_mut(&mut self) -> &mut ClientCodec {
        &mut self.codec
    }

    /// The next frame; `None` at the end of the stream.
    pub(crate) async fn next(&mut self) -> Option<Result<Inbound, FrameError>> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// A frame already read, or readable without waiting; `None` if there is none
    /// now, `Some(None)` at the end of the stream.
    pub(crate) fn next_now(&mut self) -> Option<Option<Result<Inbound, FrameError>>> {
        let waker = futures::task::noop_waker();
        match self.poll_next(&mut Context::from_waker(&waker)) {
            Poll::Ready(x) => Some(x),
            Poll::Pending => None,
        }
    }

    /// Bytes held for frames not yet complete (for tests and `cons`-like figures).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.buf.capacity()
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Inbound, FrameError>>> {
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(f)) => {
                    if self.buf.is_empty() {
                        // Let go of what the frames before left (their bytes go with them).
                        self.buf = BytesMut::new();
                    }
                    return Poll::Ready(Some(Ok(f)));
                }
                Err(e) => return Poll::Ready(Some(Err(e))),
                Ok(None) => {}
            }
            if self.eof {
                if self.buf.is_empty() {
                    return Poll::Ready(None);
                }
                self.buf = BytesMut::new();
                return Poll::Ready(Some(Err(FrameError::Io(std::io::Error::other(
                    "bytes remaining on stream",
                )))));
            }
            let n = if self.buf.capacity() - self.buf.len() >= DIRECT_READ {
                // A large frame in progress that the codec reserved for: straight in.
                let mut rb = ReadBuf::uninit(self.buf.spare_capacity_mut());
                ready!(Pin::new(&mut self.rd).poll_read(cx, &mut rb))?;
                let n = rb.filled().len();
                // SAFETY: poll_read initialised the first n bytes of the spare capacity.
                unsafe { self.buf.set_len(self.buf.len() + n) };
                n
            } else {
                let rd = &mut self.rd;
                let buf = &mut self.buf;
                ready!(SCRATCH_BUF.with(|s| {
                    let mut s = s.borrow_mut();
                    let mut rb = ReadBuf::new(&mut s[..]);
                    ready!(Pin::new(rd).poll_read(cx, &mut rb))?;
                    buf.extend_from_slice(rb.filled());
                    Poll::Ready(Ok::<usize, std::io::Error>(rb.filled().len()))
                }))?
            };
            if n == 0 {
                self.eof = true;
            }
        }
    }
}

/// Most frames one vectored write carries.
const MAX_IOV: usize = 64;

/// Writes `frames` in order, whole, as few system calls as the socket allows.
#[cfg(test)]
pub(crate) async fn write_frames<W: AsyncWrite + Unpin>(
    w: &mut W,
    frames: &mut Vec<Bytes>,
) -> std::io::Result<()> {
    poll_fn(|cx| poll_write_frames(w, frames, cx)).await
}

/// [`write_frames`] as a poll, then a flush (a TLS stream holds its records until
/// flushed): a connection's task polls it beside its reads with no future of its own
/// to hold. Progress stays in `frames` (written bytes are advanced past, written frames
/// dropped from the front as the vector is cleared at the end), so a poll that returns
/// `Pending` loses nothing.
pub(crate) fn poll_write_frames<W: AsyncWrite + Unpin>(
    w: &mut W,
    frames: &mut Vec<Bytes>,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<()>> {
    // Frames already written are empty: skipped.
    let mut first = frames.iter().take_while(|f| f.is_empty()).count();
    while first < frames.len() {
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let mut k = 0;
        for f in frames[first..].iter().take(MAX_IOV) {
            slices[k] = IoSlice::new(f);
            k += 1;
        }
        let mut n = ready!(Pin::new(&mut *w).poll_write_vectored(cx, &slices[..k]))?;
        if n == 0 {
            return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
        }
        while n > 0 {
            let f = &mut frames[first];
            let k = n.min(f.len());
            f.advance(k);
            n -= k;
            if f.is_empty() {
                first += 1;
            }
        }
    }
    ready!(Pin::new(&mut *w).poll_flush(cx))?;
    frames.clear();
    Poll::Ready(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as i32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    async fn next_frame<R: AsyncRead + Unpin>(r: &mut FrameReader<R>) -> BytesMut {
        match r.next().await {
            Some(Ok(Inbound::Frame(f))) => f,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn frames_split_anywhere_come_out_whole_and_nothing_is_held_after() {
        let (mut a, b) = tokio::io::duplex(4096);
        let mut r = FrameReader::new(b, ClientCodec::new(1 << 20));
        let big = vec![7u8; 300_000];
        let mut all = frame(b"hello");
        all.extend(frame(&big));
        all.extend(frame(b"x"));
        let writer = tokio::spawn(async move {
            for chunk in all.chunks(1000) {
                a.write_all(chunk).await.unwrap();
            }
            a
        });
        assert_eq!(&next_frame(&mut r).await[..], b"hello");
        let f = next_frame(&mut r).await;
        assert_eq!(f.len(), 300_000);
        assert!(f.iter().all(|&b| b == 7));
        assert_eq!(&next_frame(&mut r).await[..], b"x");
        assert_eq!(r.held(), 0, "the big frame's buffer went with it");
        drop(writer.await.unwrap());
        assert!(r.next().await.is_none());
    }

    #[tokio::test]
    async fn a_stream_ending_inside_a_frame_is_an_error() {
        let (mut a, b) = tokio::io::duplex(4096);
        let mut r = FrameReader::new(b, ClientCodec::new(1 << 20));
        a.write_all(&frame(b"whole")).await.unwrap();
        a.write_all(&frame(b"cut short")[..6]).await.unwrap();
        drop(a);
        assert_eq!(&next_frame(&mut r).await[..], b"whole");
        assert!(matches!(r.next().await, Some(Err(FrameError::Io(_)))));
        assert!(r.next().await.is_none());
    }

    #[tokio::test]
    async fn frames_already_read_are_taken_without_waiting() {
        let (mut a, b) = tokio::io::duplex(4096);
        let mut r = FrameReader::new(b, ClientCodec::new(1 << 20));
        let mut two = frame(b"one");
        two.extend(frame(b"two"));
        a.write_all(&two).await.unwrap();
        assert_eq!(&next_frame(&mut r).await[..], b"one");
        match r.next_now() {
            Some(Some(Ok(Inbound::Frame(f)))) => assert_eq!(&f[..], b"two"),
            other => panic!("{other:?}"),
        }
        assert!(r.next_now().is_none(), "nothing more to read: no waiting");
    }

    #[tokio::test]
    async fn frames_are_written_whole_and_in_order_through_short_writes() {
        // A pipe of 7 bytes: every write is short.
        let (mut a, mut b) = tokio::io::duplex(7);
        let frames: Vec<Bytes> = (0..100u8)
            .map(|i| Bytes::from(vec![i; i as usize + 1]))
            .collect();
        let want: Vec<u8> = frames.iter().flat_map(|f| f.to_vec()).collect();
        let n = want.len();
        let reader = tokio::spawn(async move {
            let mut got = vec![0u8; n];
            tokio::io::AsyncReadExt::read_exact(&mut b, &mut got)
                .await
                .unwrap();
            got
        });
        let mut v = frames;
        write_frames(&mut a, &mut v).await.unwrap();
        assert!(v.is_empty());
        assert_eq!(reader.await.unwrap(), want);
    }
}
