//! The client port: the frame codec, one task per connection, and the
//! accept loop with ZooKeeper's per-IP connection limit.
//!
//! A connection knows frames, not operations: it decodes the request header
//! and body, hands the request to the core and writes back the frames the
//! core queues for it. Anything malformed closes that one connection.
//!
//! A port is plain, TLS (`secureClientPort`) or both (`client.portUnification`:
//! the first bytes tell, see [`crate::tls::sniff`]); after the handshake the same
//! connection code runs over the TLS stream, with the client's x509 ids.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::codec::Decoder;
use zab_core::jute::{JuteReader, Record};
use zab_core::proto::{ConnectRequest, Op, RequestHeader};

use crate::config::{Config, ALL_FOUR_LETTER_WORDS};
use crate::conn::{ConnHandle, Out};
use crate::conn_io::{self, FrameReader};
use crate::core::CoreMsg;
use crate::request::Request;
use crate::tls::throttle::{Slot, Throttle, LIMIT_PROP};
use crate::tls::{ServerTls, Sniff};

/// Why a connection was closed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame length {len} is outside 0..={max} (jute.maxbuffer)")]
    BadLength { len: i64, max: usize },
    #[error("malformed {what}: {source}")]
    Malformed {
        what: &'static str,
        source: zab_core::jute::JuteError,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Tls(String),
    #[error(
        "ClickHouse Keeper handshake variant (protocol version {version}: {what}) is not \
         served; set pass_opentelemetry_tracing_context off in ClickHouse's <zookeeper> \
         section (use_xid_64 and use_compression are served)"
    )]
    KeeperHandshake { version: i32, what: &'static str },
    #[error("{0}")]
    KeeperHeader(#[from] crate::keeper_conn::ShortHeader),
    #[error("{0}")]
    KeeperBlock(#[from] crate::keeper_compress::BlockError),
}

/// What a client port serves.
#[derive(Clone)]
pub enum PortKind {
    Plain,
    /// TLS only (`secureClientPort`).
    Secure(Arc<ServerTls>),
    /// TLS and plain, told apart by the first bytes (`client.portUnification`).
    Unified(Arc<ServerTls>),
}

/// What arrives on a client connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A four-letter word, only possible as the first bytes of a connection.
    FourLetter(String),
    Frame(BytesMut),
}

/// 4-byte big-endian length frames, capped by jute.maxbuffer.
pub struct ClientCodec {
    max: usize,
    first: bool,
    /// On a compressed Keeper connection (see crate::keeper_compress): what
    /// its blocks held and was not framed yet.
    plain: Option<BytesMut>,
}

impl ClientCodec {
    pub fn new(max: usize) -> ClientCodec {
        ClientCodec {
            max,
            first: true,
            plain: None,
        }
    }

    /// From now on the bytes arrive in ClickHouse's compressed blocks.
    pub fn set_compressed(&mut self) {
        self.plain = Some(BytesMut::new());
    }
}

impl Decoder for ClientCodec {
    type Item = Inbound;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, FrameError> {
        if let Some(mut plain) = self.plain.take() {
            // A block holds at most a frame's worth and ClickHouse's 1 MiB buffer.
            let block_max = self.max.max(1 << 20) + 4;
            let got = crate::keeper_compress::decompress_from(src, &mut plain, block_max)
                .map_err(FrameError::from)
                .and_then(|()| self.decode_plain(&mut plain));
            self.plain = Some(plain);
            return got;
        }
        self.decode_plain(src)
    }
}

impl ClientCodec {
    fn decode_plain(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, FrameError> {
        if src.len() < 4 {
            return Ok(None);
        }
        if self.first {
            if let Ok(w) = std::str::from_utf8(&src[..4]) {
                if ALL_FOUR_LETTER_WORDS.contains(&w) {
                    let w = w.to_owned();
                    src.advance(4);
                    self.first = false;
                    return Ok(Some(Inbound::FourLetter(w)));
                }
            }
        }
        let len = i32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        if len < 0 || len as usize > self.max {
            return Err(FrameError::BadLength {
                len: len as i64,
                max: self.max,
            });
        }
        let len = len as usize;
        if src.len() < 4 + len {
            // Bounded by jute.maxbuffer, checked above.
            src.reserve(4 + len - src.len());
            return Ok(None);
        }
        // ClickHouse's 64-bit xid handshake carries one byte more than its length.
        let len = if self.first {
            len + crate::keeper_conn::first_frame_extra(src)
        } else {
            len
        };
        if src.len() < 4 + len {
            return Ok(None);
        }
        src.advance(4);
        self.first = false;
        if src.len() == len {
            // The buffer holds just this frame (one request per read, the usual case):
            // it is handed over whole, with no shared allocation for a split.
            return Ok(Some(Inbound::Frame(std::mem::take(src))));
        }
        Ok(Some(Inbound::Frame(src.split_to(len))))
    }
}

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// Counts connections per client address (maxClientCnxns).
#[derive(Default)]
struct PerIp(Mutex<HashMap<IpAddr, u32>>);

struct IpGuard(Arc<PerIp>, IpAddr);

impl Drop for IpGuard {
    fn drop(&mut self) {
        let mut m = self.0 .0.lock().unwrap();
        if let Some(n) = m.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

/// Accept plain clients until the listener fails.
pub async fn accept_loop(listener: TcpListener, cfg: Arc<Config>, core: mpsc::Sender<CoreMsg>) {
    accept_loop_on(
        listener,
        PortKind::Plain,
        None,
        cfg,
        core,
        Arc::new(PerIp::default()),
    )
    .await
}

/// The client ports a server opens: the plain one (`clientPort`, TLS too with
/// `client.portUnification`) and the TLS one (`secureClientPort`).
pub struct ClientPorts {
    pub secure_addr: Option<SocketAddr>,
}

/// Why the TLS client port cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("{0}")]
    Tls(String),
    #[error("cannot bind the secure client port: {0}")]
    Bind(std::io::Error),
}

/// Serve the plain listener and, when configured, bind and serve the secure
/// client port; both count connections per address together (maxClientCnxns).
pub async fn start_client_ports(
    plain: TcpListener,
    cfg: Arc<Config>,
    core: mpsc::Sender<CoreMsg>,
) -> Result<ClientPorts, PortError> {
    let unified = cfg
        .prop("zookeeper.client.portUnification")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    // As Apache, the stores are only read when a port serves TLS: ssl.* may be
    // there for clients started with the same configuration.
    let tls = if unified || cfg.secure_client_port.is_some() {
        ServerTls::client_from_config(&cfg).map_err(PortError::Tls)?
    } else {
        None
    };
    if let Some(t) = &tls {
        let reload = cfg
            .prop("zookeeper.client.certReload")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        tracing::info!("zookeeper.client.certReload={reload}");
        if reload {
            t.spawn_reloader(std::time::Duration::from_secs(1));
        }
    }
    if (unified || cfg.secure_client_port.is_some()) && tls.is_none() {
        return Err(PortError::Tls(
            "secureClientPort or client.portUnification needs zookeeper.ssl.keyStore.location"
                .into(),
        ));
    }
    let per_ip = Arc::new(PerIp::default());
    let mut secure_addr = None;
    if let (Some(port), Some(t)) = (cfg.secure_client_port, &tls) {
        let ip = cfg
            .secure_client_port_address
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let l = crate::listen::bind(SocketAddr::new(ip, port), cfg.client_port_listen_backlog)
            .map_err(PortError::Bind)?;
        let addr = l.local_addr().map_err(PortError::Bind)?;
        tracing::info!("serving TLS clients on {addr}");
        secure_addr = Some(addr);
        tokio::spawn(accept_loop_on(
            l,
            PortKind::Secure(t.clone()),
            Throttle::new(cfg.prop(LIMIT_PROP), true, false),
            cfg.clone(),
            core.clone(),
            per_ip.clone(),
        ));
    }
    let kind = match (&tls, unified) {
        (Some(t), true) => {
            tracing::info!("client port serves TLS and plain clients (client.portUnification)");
            PortKind::Unified(t.clone())
        }
        _ => PortKind::Plain,
    };
    let throttle = Throttle::new(
        cfg.prop(LIMIT_PROP),
        matches!(kind, PortKind::Unified(_)),
        true,
    );
    tokio::spawn(accept_loop_on(plain, kind, throttle, cfg, core, per_ip));
    Ok(ClientPorts { secure_addr })
}

/// A stream that first yields bytes already read from it (the sniffed prefix).
pub struct Prefixed<S> {
    prefix: BytesMut,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix.split_to(n));
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Read until the first bytes tell TLS from plain (bounded by the handshake timeout).
pub(crate) async fn sniff_stream<S: AsyncRead + Unpin>(
    mut stream: S,
) -> Result<(Sniff, Prefixed<S>), FrameError> {
    let mut prefix = BytesMut::with_capacity(8);
    let deadline = tokio::time::Instant::now() + crate::tls::HANDSHAKE_TIMEOUT;
    loop {
        match crate::tls::sniff(&prefix) {
            Sniff::NeedMore => {}
            s => {
                return Ok((
                    s,
                    Prefixed {
                        prefix,
                        inner: stream,
                    },
                ))
            }
        }
        let mut b = [0u8; 5];
        let want = 5 - prefix.len();
        let n = tokio::time::timeout_at(deadline, stream.read(&mut b[..want]))
            .await
            .map_err(|_| {
                FrameError::Tls("nothing to tell TLS from plain before the timeout".into())
            })??;
        if n == 0 {
            return Ok((
                Sniff::Plain,
                Prefixed {
                    prefix,
                    inner: stream,
                },
            ));
        }
        prefix.extend_from_slice(&b[..n]);
    }
}

/// A client's TLS handshake failed (or its certificate gave no identity): counted as
/// Apache's `CertificateVerifier` counts it, in `unsuccessful_handshake` and
/// `auth_failed_count`. A full core queue loses the count, not the connection's log line.
fn handshake_failed(core: &mpsc::Sender<CoreMsg>, e: String) -> FrameError {
    let _ = core.try_send(CoreMsg::HandshakeFailed);
    FrameError::Tls(e)
}

/// One accepted connection on a port of `kind`: the handshake if it is TLS, then
/// the connection. `slot` (the handshake throttle's) is given back when the handshake
/// is over or the connection turns out plain.
async fn serve_accepted<S>(
    stream: S,
    kind: PortKind,
    slot: Option<Slot>,
    addr: SocketAddr,
    id: u64,
    cfg: Arc<Config>,
    core: mpsc::Sender<CoreMsg>,
) -> Result<(), FrameError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // The TLS handshake's and the sniffing's futures are boxed: inline, they would make
    // every connection's task as large as the largest of them, plain ones too.
    match kind {
        PortKind::Plain => {
            drop(slot);
            serve_connection(stream, addr, id, Vec::new(), cfg, core).await
        }
        PortKind::Secure(tls) => {
            let accepted = Box::pin(tls.accept(stream)).await;
            drop(slot);
            let (s, ids) = accepted.map_err(|e| handshake_failed(&core, e))?;
            serve_connection(s, addr, id, ids, cfg, core).await
        }
        PortKind::Unified(tls) => match Box::pin(sniff_stream(stream)).await {
            Err(e) => Err(e),
            Ok((Sniff::Tls, s)) => {
                let accepted = Box::pin(tls.accept(s)).await;
                drop(slot);
                let (s, ids) = accepted.map_err(|e| handshake_failed(&core, e))?;
                serve_connection(s, addr, id, ids, cfg, core).await
            }
            Ok((_, s)) => {
                drop(slot);
                serve_connection(s, addr, id, Vec::new(), cfg, core).await
            }
        },
    }
}

async fn accept_loop_on(
    listener: TcpListener,
    kind: PortKind,
    throttle: Option<Throttle>,
    cfg: Arc<Config>,
    core: mpsc::Sender<CoreMsg>,
    per_ip: Arc<PerIp>,
) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                continue;
            }
        };
        let guard = {
            let mut m = per_ip.0.lock().unwrap();
            let n = m.entry(addr.ip()).or_insert(0);
            if cfg.max_client_cnxns > 0 && *n >= cfg.max_client_cnxns {
                tracing::warn!(
                    "too many connections from {} - max is {}",
                    addr.ip(),
                    cfg.max_client_cnxns
                );
                let _ = core.try_send(CoreMsg::ConnectionRejected);
                continue;
            }
            *n += 1;
            IpGuard(per_ip.clone(), addr.ip())
        };
        // NettyServerCnxnFactory checks the handshake limit right after the per-host one.
        let slot = match &throttle {
            None => None,
            Some(t) => match t.try_start() {
                Some(slot) => Some(slot),
                None => {
                    tracing::warn!(
                        "closed connection from {addr} before its TLS handshake: {LIMIT_PROP} handshakes are in progress"
                    );
                    // On the secure port Apache's handshake listener then sees a
                    // failed handshake and counts it as one.
                    if matches!(kind, PortKind::Secure(_)) {
                        let _ = core.try_send(CoreMsg::HandshakeFailed);
                    }
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        // One counter for every port: the core keys connections by it.
        let id = NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed);
        let core = core.clone();
        let cfg = cfg.clone();
        let kind = kind.clone();
        tokio::spawn(async move {
            match serve_accepted(stream, kind, slot, addr, id, cfg, core).await {
                Ok(()) => {}
                Err(FrameError::Tls(e)) => {
                    tracing::warn!("closed TLS connection from {addr}: {e}")
                }
                Err(e) => tracing::info!("closed connection from {addr}: {e}"),
            }
            drop(guard);
        });
    }
}

/// How long a connection may go without its first request (a ConnectRequest or a
/// four-letter word) before it is closed, as Apache's NIO connection factory (its
/// default) closes it: `zookeeper.nio.sessionlessCnxnTimeout`, 10 s unless set (0: never).
/// None where Apache would run its Netty factory, which has no such limit: when
/// `serverCnxnFactory` names it, and with a TLS client port (`secureClientPort`,
/// `client.portUnification`), which Apache serves only with Netty.
fn sessionless_timeout(cfg: &Config) -> Option<std::time::Duration> {
    let netty = cfg
        .prop("zookeeper.serverCnxnFactory")
        .is_some_and(|f| f.contains("Netty"));
    let tls = cfg.secure_client_port.is_some()
        || cfg
            .prop("zookeeper.client.portUnification")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if netty || tls {
        return None;
    }
    let ms = cfg
        .prop("zookeeper.nio.sessionlessCnxnTimeout")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(10_000);
    (ms > 0).then(|| std::time::Duration::from_millis(ms))
}

async fn serve_connection<S>(
    stream: S,
    addr: SocketAddr,
    id: u64,
    auth: Vec<zab_core::records::Id>,
    cfg: Arc<Config>,
    core: mpsc::Sender<CoreMsg>,
) -> Result<(), FrameError>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (rd, mut wr) = tokio::io::split(stream);
    let mut frames = FrameReader::new(rd, ClientCodec::new(cfg.jute_max_buffer));
    let first = match sessionless_timeout(&cfg) {
        None => frames.next().await,
        Some(limit) => match tokio::time::timeout(limit, frames.next()).await {
            Ok(first) => first,
            Err(_) => {
                tracing::info!(
                    "{addr}: closed, no request within {} ms \
                     (zookeeper.nio.sessionlessCnxnTimeout)",
                    limit.as_millis()
                );
                let _ = core.try_send(CoreMsg::SessionlessExpired);
                return Ok(());
            }
        },
    };
    let first = match first {
        None => return Ok(()),
        Some(x) => x?,
    };
    // Set for ClickHouse Keeper's connection variants (see crate::keeper_conn).
    let mut keeper = None;
    let connect = match first {
        Inbound::FourLetter(word) => {
            let text = if cfg.four_letter_allowed(&word) {
                match Box::pin(crate::fourlw::ask(&core, &word, addr)).await {
                    Some(text) => text,
                    None => return Ok(()),
                }
            } else {
                format!("{word} is not executed because it is not in the whitelist.\n")
            };
            wr.write_all(text.as_bytes()).await?;
            wr.shutdown().await?;
            return Ok(());
        }
        Inbound::Frame(f) => {
            let f = match crate::keeper_conn::classify(&f) {
                crate::keeper_conn::Handshake::Apache => f.freeze(),
                crate::keeper_conn::Handshake::Keeper { connect, framing } => {
                    tracing::debug!(
                        "{addr}: ClickHouse Keeper's connection ({})",
                        framing.name()
                    );
                    if framing.compression {
                        frames.codec_mut().set_compressed();
                    }
                    keeper = Some(Arc::new(crate::keeper_conn::KeeperConn::new(framing)));
                    connect
                }
                crate::keeper_conn::Handshake::Refused { version, what } => {
                    return Err(FrameError::KeeperHandshake { version, what })
                }
            };
            ConnectRequest::from_bytes(&f).map_err(|source| FrameError::Malformed {
                what: "ConnectRequest",
                source,
            })?
        }
    };

    let (mut handle, rx) = ConnHandle::new(id, addr);
    handle.auth = auth;
    let kill = handle.kill.clone();
    // The task keeps only the byte count: no sender of its own queue.
    let queued_bytes = handle.queued_bytes.clone();
    if core
        .send(CoreMsg::Connect {
            conn: handle,
            req: connect,
        })
        .await
        .is_err()
    {
        return Ok(());
    }
    let io = ConnIo {
        frames,
        wr,
        rx,
        queued_bytes,
        keeper,
        id,
    };
    let result = io.run(&core, &kill).await;
    kill.cancel();
    let _ = core.send(CoreMsg::Closed { conn_id: id }).await;
    result
}

/// One established connection's socket, both ways, in one task: the requests it reads
/// go to the core, the frames the core queues (`conn::OutRx`) go out. One task, not a
/// reader and a writer: one wakeup serves whatever is ready on either side (requests
/// in the socket, replies in the queue), and an idle connection holds one task.
struct ConnIo<R, W> {
    frames: FrameReader<R>,
    wr: W,
    rx: crate::conn::OutRx,
    queued_bytes: Arc<std::sync::atomic::AtomicUsize>,
    keeper: Option<Arc<crate::keeper_conn::KeeperConn>>,
    id: u64,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> ConnIo<R, W> {
    /// Serves the connection until its client goes, the core closes it (`Out::Close`,
    /// after the frames queued before it), a write fails or `kill` fires.
    async fn run(
        mut self,
        core: &mpsc::Sender<CoreMsg>,
        kill: &tokio_util::sync::CancellationToken,
    ) -> Result<(), FrameError> {
        // The frames being written (taken from the queue, at most MAX_WRITE_FRAMES), their
        // bytes, and whether a close came after them. No buffer of the connection's own:
        // the frames are written as the core queued them (see `conn_io`).
        let mut out: Vec<Bytes> = Vec::new();
        let mut out_bytes = 0;
        let mut close = false;
        // One waiter on the kill switch for the connection's life: one made per turn
        // registered and dropped a waiter (locks, a waker cloned) every turn.
        let killed = kill.cancelled();
        tokio::pin!(killed);
        loop {
            if out.is_empty() && !close {
                close = self.take_queued(&mut out, &mut out_bytes);
            }
            if out.is_empty() && close {
                let _ = self.wr.shutdown().await;
                return Ok(());
            }
            // Neither side waits for the other: a write in progress (a client slow to
            // read) does not stop the reading, nor a read the writing. Both futures keep
            // their progress in `self` and `out`, so the one not chosen loses nothing.
            let writing = !out.is_empty();
            let wr = &mut self.wr;
            let rx = &mut self.rx;
            let frames = &mut self.frames;
            tokio::select! {
                _ = &mut killed => return Ok(()),
                r = std::future::poll_fn(|cx| conn_io::poll_write_frames(wr, &mut out, cx)), if writing => {
                    if r.is_err() {
                        return Ok(());
                    }
                    self.queued_bytes.fetch_sub(out_bytes, Ordering::AcqRel);
                    out_bytes = 0;
                    if out.capacity() > 4 * MAX_WRITE_FRAMES {
                        out = Vec::new();
                    }
                }
                o = rx.recv(), if !writing && !close => match o {
                    Some(Out::Frame(f)) => {
                        self.push_out(&mut out, &mut out_bytes, f);
                    }
                    Some(Out::Close) => close = true,
                    // Every handle is gone: the core forgot the connection.
                    None => return Ok(()),
                },
                item = frames.next() => {
                    if let Some(end) = self.read_requests(item, core).await {
                        return end;
                    }
                }
            }
        }
    }

    /// Takes what the core queued, without waiting, up to MAX_WRITE_FRAMES frames;
    /// `true` if a close came.
    fn take_queued(&mut self, out: &mut Vec<Bytes>, out_bytes: &mut usize) -> bool {
        while out.len() < MAX_WRITE_FRAMES {
            match self.rx.try_recv() {
                Ok(Out::Frame(f)) => self.push_out(out, out_bytes, f),
                Ok(Out::Close) => return true,
                Err(_) => break,
            }
        }
        false
    }

    fn push_out(&self, out: &mut Vec<Bytes>, out_bytes: &mut usize, f: Bytes) {
        *out_bytes += f.len();
        out.push(match &self.keeper {
            // ClickHouse Keeper's variants: 64-bit xids, compressed blocks.
            Some(k) => k.outbound(&f),
            None => f,
        });
    }

    /// Every complete frame the last read brought goes to the core in one message: one
    /// wakeup of the core per read, not per request (a client with many requests
    /// outstanding often has several in the socket by the time this task runs).
    /// `Some` when the connection ends (its client went, or sent something malformed).
    async fn read_requests(
        &mut self,
        item: Option<Result<Inbound, FrameError>>,
        core: &mpsc::Sender<CoreMsg>,
    ) -> Option<Result<(), FrameError>> {
        let keeper = self.keeper.as_deref();
        let mut end = None;
        // What must wait for room in the core's queue: only a list of requests (not a
        // whole CoreMsg, nor a lone Request) waits in this task's state while the queue
        // is full (the future stays small: `a_connection_task_is_small`).
        let batch = {
            // The first request alone needs no list: most reads bring one request.
            let mut first = None;
            let mut batch = Vec::new();
            match item.map(|i| decode_request(i, self.id, keeper)) {
                None => end = Some(Ok(())),
                Some(Ok(r)) => first = Some(r),
                Some(Err(e)) => end = Some(Err(e)),
            }
            while end.is_none() && batch.len() + usize::from(first.is_some()) < MAX_BATCH {
                // Frames already read, or readable without waiting; no await.
                match self.frames.next_now() {
                    None => break,
                    Some(None) => end = Some(Ok(())),
                    Some(Some(item)) => match decode_request(item, self.id, keeper) {
                        Ok(r) => {
                            batch.extend(first.take());
                            batch.push(r);
                        }
                        Err(e) => end = Some(Err(e)),
                    },
                }
            }
            match first {
                Some(r) => match core.try_reserve() {
                    Ok(permit) => {
                        permit.send(CoreMsg::Request(r));
                        Vec::new()
                    }
                    Err(mpsc::error::TrySendError::Closed(())) => return Some(Ok(())),
                    Err(mpsc::error::TrySendError::Full(())) => vec![r],
                },
                None => batch,
            }
        };
        if !batch.is_empty() {
            let Ok(permit) = core.reserve().await else {
                return Some(Ok(()));
            };
            let mut batch = batch;
            permit.send(match batch.len() {
                1 => CoreMsg::Request(batch.pop().expect("one request")),
                _ => CoreMsg::Requests(batch),
            });
        }
        end
    }
}

/// Most requests one message to the core carries (see `serve_connection`).
const MAX_BATCH: usize = crate::core::REQUESTS_PER_MESSAGE;

/// Most queued frames one vectored write takes.
const MAX_WRITE_FRAMES: usize = 64;

/// Decodes one inbound frame of an established connection; an error closes the
/// connection.
fn decode_request(
    item: Result<Inbound, FrameError>,
    conn_id: u64,
    keeper: Option<&crate::keeper_conn::KeeperConn>,
) -> Result<Request, FrameError> {
    let f = match item? {
        Inbound::Frame(f) => f.freeze(),
        Inbound::FourLetter(_) => unreachable!("only first"),
    };
    let (hdr, body) = match keeper.filter(|k| k.framing.xid64) {
        None => {
            let mut r = JuteReader::new(&f);
            let hdr = RequestHeader::read(&mut r).map_err(|source| FrameError::Malformed {
                what: "request header",
                source,
            })?;
            (hdr, f.slice(8..))
        }
        Some(x) => {
            let (xid, op_type, body) = x.inbound(&f)?;
            (RequestHeader { xid, op_type }, body)
        }
    };
    let op = Op::parse(hdr.op_type, &body).map_err(|source| FrameError::Malformed {
        what: zab_core::records::op::name(hdr.op_type),
        source,
    })?;
    Ok(Request {
        session_id: 0,
        conn_id,
        xid: hdr.xid,
        op_type: hdr.op_type,
        op,
        body,
        read_at: std::time::Instant::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_input_is_not_an_error() {
        let mut c = ClientCodec::new(100);
        let mut b = BytesMut::from(&[0u8, 0, 0][..]);
        assert_eq!(c.decode(&mut b).unwrap(), None);
        let mut b = BytesMut::from(&[0u8, 0, 0, 5, 1, 2][..]);
        assert_eq!(c.decode(&mut b).unwrap(), None);
    }

    #[test]
    fn oversized_and_negative_lengths_are_refused() {
        let mut c = ClientCodec::new(100);
        let mut b = BytesMut::from(&[0u8, 0, 0, 101][..]);
        assert!(matches!(
            c.decode(&mut b),
            Err(FrameError::BadLength { len: 101, .. })
        ));
        let mut c = ClientCodec::new(100);
        let mut b = BytesMut::from(&[0xffu8, 0xff, 0xff, 0xfe][..]);
        assert!(c.decode(&mut b).is_err());
    }

    #[test]
    fn four_letter_word_only_first() {
        let mut c = ClientCodec::new(1 << 20);
        let mut b = BytesMut::from(&b"ruok"[..]);
        assert_eq!(
            c.decode(&mut b).unwrap(),
            Some(Inbound::FourLetter("ruok".into()))
        );
        let mut c = ClientCodec::new(1 << 30);
        let mut b = BytesMut::from(&[0u8, 0, 0, 1, 7][..]);
        assert!(matches!(c.decode(&mut b).unwrap(), Some(Inbound::Frame(_))));
        // After the first frame, "ruok" is read as a length, here too large.
        let mut b = BytesMut::from(&b"ruok"[..]);
        assert!(matches!(
            c.decode(&mut b),
            Err(FrameError::BadLength { .. })
        ));
    }

    /// Every connection's task holds this future for its life: the TLS handshake and a
    /// four-letter word's exchange are boxed so that a plain idle connection does not
    /// carry their room (10,000 idle sessions, issue 17).
    #[tokio::test]
    async fn a_connection_task_is_small() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        let (stream, addr) = accepted.unwrap();
        let cfg = Arc::new(Config::default());
        let (core, _rx) = mpsc::channel(1);
        let task = serve_accepted(stream, PortKind::Plain, None, addr, 1, cfg, core);
        let size = std::mem::size_of_val(&task);
        eprintln!("a connection's task future: {size} bytes");
        // Unoptimised builds lay futures out more loosely than release builds.
        assert!(size < 3072, "a connection's task future is {size} bytes");
        drop((task, client));
    }

    /// One task reads and writes: while a write is stuck (the client does not read its
    /// replies and the socket is full) the client's requests are still read and handed
    /// to the core; once the client reads, the stuck frames arrive whole, in order.
    #[tokio::test]
    async fn a_stuck_write_does_not_stop_the_reading() {
        let (mut client, server) = tokio::io::duplex(1024);
        let (h, rx) = ConnHandle::new(7, "127.0.0.1:1".parse().unwrap());
        let (core, mut core_rx) = mpsc::channel(16);
        let kill = h.kill.clone();
        let io = conn_io(server, &h, rx);
        let task = tokio::spawn(async move { io.run(&core, &kill).await });
        // 64 KiB of replies against a 1 KiB pipe: the write cannot finish.
        let replies: Vec<u8> = (0..64 * 1024).map(|i| i as u8).collect();
        h.queue_frame(Bytes::from(replies.clone())).unwrap();
        tokio::task::yield_now().await;
        // A ping (xid 5, op 11) from the client, which reads nothing yet.
        client.write_all(&ping(5)).await.unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), core_rx.recv())
            .await
            .expect("the request reached the core while the write was stuck");
        match got {
            Some(CoreMsg::Request(r)) => assert_eq!((r.conn_id, r.xid), (7, 5)),
            _ => panic!("expected the ping"),
        }
        assert!(
            h.queued_bytes.load(Ordering::Acquire) > 0,
            "the write is still stuck"
        );
        let mut back = vec![0u8; replies.len()];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(back, replies);
        drop(client);
        assert!(task.await.unwrap().is_ok());
        assert_eq!(h.queued_bytes.load(Ordering::Acquire), 0);
    }

    /// Connection 7's reading and writing over `server`, past the handshake (as in
    /// serve_connection).
    fn conn_io(
        server: tokio::io::DuplexStream,
        h: &ConnHandle,
        rx: crate::conn::OutRx,
    ) -> ConnIo<
        tokio::io::ReadHalf<tokio::io::DuplexStream>,
        tokio::io::WriteHalf<tokio::io::DuplexStream>,
    > {
        let (rd, wr) = tokio::io::split(server);
        let mut io = ConnIo {
            frames: FrameReader::new(rd, ClientCodec::new(1 << 20)),
            wr,
            rx,
            queued_bytes: h.queued_bytes.clone(),
            keeper: None,
            id: 7,
        };
        io.frames.codec_mut().first = false;
        io
    }

    fn ping(xid: i32) -> Vec<u8> {
        let mut f = 8i32.to_be_bytes().to_vec();
        f.extend_from_slice(&xid.to_be_bytes());
        f.extend_from_slice(&zab_core::records::op::PING.to_be_bytes());
        f
    }

    fn xids(m: Option<CoreMsg>) -> Vec<i32> {
        match m {
            Some(CoreMsg::Request(r)) => vec![r.xid],
            Some(CoreMsg::Requests(rs)) => {
                assert!(rs.len() > 1, "a list of one request is sent as a Request");
                rs.iter().map(|r| r.xid).collect()
            }
            _ => panic!("expected requests"),
        }
    }

    /// A read's requests reach the core in their order: a lone one as a Request, also
    /// when it had to wait for room in the core's queue, several read at once as one
    /// Requests.
    #[tokio::test]
    async fn requests_reach_the_core_in_order_alone_or_together() {
        let (mut client, server) = tokio::io::duplex(4096);
        let (h, rx) = ConnHandle::new(7, "127.0.0.1:1".parse().unwrap());
        // Room for one message: the second request waits for it.
        let (core, mut core_rx) = mpsc::channel(1);
        let kill = h.kill.clone();
        let io = conn_io(server, &h, rx);
        let task = tokio::spawn(async move { io.run(&core, &kill).await });
        client.write_all(&ping(1)).await.unwrap();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        // The queue is full now: this one waits in the connection's task.
        client.write_all(&ping(2)).await.unwrap();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(xids(core_rx.recv().await), vec![1]);
        assert_eq!(xids(core_rx.recv().await), vec![2]);
        let mut two = ping(3);
        two.extend_from_slice(&ping(4));
        client.write_all(&two).await.unwrap();
        assert_eq!(xids(core_rx.recv().await), vec![3, 4]);
        drop(client);
        assert!(task.await.unwrap().is_ok());
    }

    #[test]
    fn the_xid64_handshake_frame_takes_its_extra_byte() {
        // ClickHouse's use_xid_64 handshake: 46 bytes behind a length of 45,
        // then the first request.
        let mut b = BytesMut::new();
        b.extend_from_slice(&45i32.to_be_bytes());
        b.extend_from_slice(&11i32.to_be_bytes());
        b.extend_from_slice(&[0; 41]);
        let mut c = ClientCodec::new(1 << 20);
        assert_eq!(c.decode(&mut b).unwrap(), None, "one byte short");
        b.extend_from_slice(&[1, 0, 0, 0, 12]);
        let Some(Inbound::Frame(f)) = c.decode(&mut b).unwrap() else {
            panic!("no handshake frame")
        };
        assert_eq!(f.len(), 46);
        assert_eq!(&b[..], &[0, 0, 0, 12], "the next frame's length is next");
    }
}
