//! The byte stream under an election or quorum connection: plain TCP, or
//! whatever the caller's [`QuorumTls`] made of it (quorum TLS, `sslQuorum`).
//!
//! zab-net knows no TLS library: as with quorum SASL ([`crate::quorum_auth`]),
//! the mechanism is the caller's. zab-net decides *when* a socket is wrapped,
//! as Apache ZooKeeper 3.8 does: a connecting side (a learner dialling its
//! leader, an election initiator) wraps right after the TCP connect, before the
//! initial message and before quorum SASL; an accepting side (the leader's
//! quorum port, the election port) wraps right after `accept`, before reading
//! anything (Apache's `UnifiedServerSocket`, which also decides between TLS and
//! plain when `portUnification` is on).

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// What a wrapped stream must be.
pub trait PeerIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> PeerIo for T {}

/// A connection's bytes: plain TCP (split without a lock) or a wrapped stream.
pub enum PeerStream {
    Plain(TcpStream),
    Wrapped(Box<dyn PeerIo>),
}

impl fmt::Debug for PeerStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerStream::Plain(s) => f.debug_tuple("Plain").field(s).finish(),
            PeerStream::Wrapped(_) => f.write_str("Wrapped"),
        }
    }
}

/// The future a [`QuorumTls`] returns.
pub type TlsFuture<'a> = Pin<Box<dyn Future<Output = Result<PeerStream, String>> + Send + 'a>>;

/// Quorum TLS as the caller configures it (`sslQuorum`, `portUnification`,
/// `ssl.quorum.*`). An error is the reason for the log line that closes the
/// connection.
pub trait QuorumTls: Send + Sync + fmt::Debug {
    /// A connection we opened to `peer`: TLS as a client when `sslQuorum` is on,
    /// else the plain stream.
    fn connect(&self, tcp: TcpStream, peer: SocketAddr) -> TlsFuture<'_>;
    /// A connection `peer` opened to us: TLS as a server, or plain when port
    /// unification lets a plain peer in.
    fn accept(&self, tcp: TcpStream, peer: SocketAddr) -> TlsFuture<'_>;
}

/// Wrap a dialled connection if quorum TLS is configured.
pub(crate) async fn connect(
    tls: &Option<std::sync::Arc<dyn QuorumTls>>,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Result<PeerStream, crate::NetError> {
    match tls {
        None => Ok(PeerStream::Plain(tcp)),
        Some(t) => t
            .connect(tcp, peer)
            .await
            .map_err(|reason| crate::NetError::Tls { peer, reason }),
    }
}

/// Wrap an accepted connection if quorum TLS is configured.
pub(crate) async fn accept(
    tls: &Option<std::sync::Arc<dyn QuorumTls>>,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Result<PeerStream, crate::NetError> {
    match tls {
        None => Ok(PeerStream::Plain(tcp)),
        Some(t) => t
            .accept(tcp, peer)
            .await
            .map_err(|reason| crate::NetError::Tls { peer, reason }),
    }
}

/// The read half of a [`PeerStream`].
pub enum PeerRead {
    Plain(OwnedReadHalf),
    Wrapped(tokio::io::ReadHalf<Box<dyn PeerIo>>),
}

/// The write half of a [`PeerStream`].
pub enum PeerWrite {
    Plain(OwnedWriteHalf),
    Wrapped(tokio::io::WriteHalf<Box<dyn PeerIo>>),
}

impl PeerStream {
    pub fn into_split(self) -> (PeerRead, PeerWrite) {
        match self {
            PeerStream::Plain(s) => {
                let (r, w) = s.into_split();
                (PeerRead::Plain(r), PeerWrite::Plain(w))
            }
            PeerStream::Wrapped(s) => {
                let (r, w) = tokio::io::split(s);
                (PeerRead::Wrapped(r), PeerWrite::Wrapped(w))
            }
        }
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            PeerStream::Wrapped(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_write(cx, b),
            PeerStream::Wrapped(s) => Pin::new(s).poll_write(cx, b),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_flush(cx),
            PeerStream::Wrapped(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            PeerStream::Wrapped(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl AsyncRead for PeerRead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerRead::Plain(s) => Pin::new(s).poll_read(cx, buf),
            PeerRead::Wrapped(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PeerWrite {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PeerWrite::Plain(s) => Pin::new(s).poll_write(cx, b),
            PeerWrite::Wrapped(s) => Pin::new(s).poll_write(cx, b),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerWrite::Plain(s) => Pin::new(s).poll_flush(cx),
            PeerWrite::Wrapped(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerWrite::Plain(s) => Pin::new(s).poll_shutdown(cx),
            PeerWrite::Wrapped(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
