//! The connection task: one per session, it owns the socket, the session
//! (id, password, last zxid seen), xid sequencing, the FIFO of requests
//! awaiting their replies and the watch registry. It connects and
//! reconnects (handshake, then auth packets and `SetWatches2` to restore
//! what the session had), pings every third of the negotiated timeout,
//! matches replies to requests, and delivers watch events and state
//! changes to the application's channel.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout, Instant};
use zab_core::jute::Record;
use zab_core::proto::{
    keeper_state, op, xid, ConnectRequest, ConnectResponse, ErrorCode, ReplyHeader, WatcherEvent,
};

use super::connect_string::Chroot;
use super::frame::{auth_frame, frame, record_frame};
use super::watches::{WatchKind, Watches};
use super::{ClientError, ConnectOptions, Result, State, WatchedEvent};

/// Largest reply frame accepted (ZooKeeper's default `jute.maxbuffer` plus slack).
const MAX_FRAME: usize = 0xfffff + 1024;

/// Outcome of one request, handed from the connection task to the caller.
pub(crate) type Reply = std::result::Result<Bytes, ReplyError>;

#[derive(Debug)]
pub(crate) enum ReplyError {
    Code(i32),
    Client(ClientError),
}

pub(crate) struct Request {
    /// The whole frame, length and header included; xid at bytes 4..8.
    pub(crate) frame: Vec<u8>,
    pub(crate) op: i32,
    pub(crate) watch: Option<(WatchKind, String)>,
    pub(crate) deregister: Option<Deregister>,
    pub(crate) reply: oneshot::Sender<Reply>,
}

/// What a removeWatches sent by [`Client::remove_all_watches`](super::Client::remove_all_watches) removes from
/// the client's own registry once it is answered (Java's `WatchDeregistration`).
pub(crate) struct Deregister {
    pub(crate) server_path: String,
    pub(crate) client_path: String,
    pub(crate) watcher_type: i32,
    /// Remove locally whatever the server answers (a connection loss included).
    pub(crate) local: bool,
}

pub(crate) enum Command {
    Request(Request),
    /// Sent with xid -4; answered out of band. Remembered for reconnects.
    Auth {
        scheme: String,
        auth: Bytes,
        reply: oneshot::Sender<Reply>,
    },
    /// Forget watches the server no longer holds (after removeWatches).
    Forget {
        path: String,
        watcher_type: i32,
    },
}

pub(crate) struct Shared {
    pub(crate) state: AtomicU8,
    pub(crate) session_id: AtomicI64,
    pub(crate) timeout_ms: AtomicI64,
}

struct Pending {
    xid: i32,
    op: i32,
    watch: Option<(WatchKind, String)>,
    deregister: Option<Deregister>,
    reply: oneshot::Sender<Reply>,
}

impl Pending {
    fn unsent(r: Request) -> Pending {
        Pending {
            xid: 0,
            op: r.op,
            watch: r.watch,
            deregister: r.deregister,
            reply: r.reply,
        }
    }
}

/// A live connection: the socket and its read buffer.
pub(crate) struct Conn {
    stream: TcpStream,
    rbuf: BytesMut,
}

/// The connection task: owns the socket, the session and the watch registry.
pub(crate) struct Task {
    hosts: Vec<String>,
    chroot: Chroot,
    /// Fail requests waiting for a connection at each failed round ([`Client::start`](super::Client::start)).
    fail_while_connecting: bool,
    next_host: usize,
    opts: ConnectOptions,
    session_id: i64,
    passwd: Bytes,
    negotiated_ms: i32,
    last_zxid: i64,
    next_xid: i32,
    watches: Watches,
    auths: Vec<(String, Bytes)>,
    pending: VecDeque<Pending>,
    auth_waiters: VecDeque<oneshot::Sender<Reply>>,
    events: mpsc::Sender<WatchedEvent>,
    pub(crate) shared: Arc<Shared>,
    rx: mpsc::Receiver<Command>,
}

enum Exit {
    /// The connection broke; reconnect.
    Lost,
    /// The session is over (closed, expired, auth failed, or every handle dropped).
    Done,
}

impl Task {
    /// A task for a session not opened yet; `events` carries its watch
    /// events and state changes, `rx` the handles' commands.
    pub(crate) fn new(
        hosts: Vec<String>,
        chroot: Chroot,
        opts: ConnectOptions,
        fail_while_connecting: bool,
        events: mpsc::Sender<WatchedEvent>,
        rx: mpsc::Receiver<Command>,
    ) -> Task {
        let shared = Arc::new(Shared {
            state: AtomicU8::new(State::Connecting as u8),
            session_id: AtomicI64::new(0),
            timeout_ms: AtomicI64::new(opts.session_timeout.as_millis() as i64),
        });
        Task {
            hosts,
            chroot,
            fail_while_connecting,
            next_host: 0,
            session_id: 0,
            passwd: Bytes::from_static(&[0u8; 16]),
            negotiated_ms: opts.session_timeout.as_millis() as i32,
            opts,
            last_zxid: 0,
            next_xid: 1,
            watches: Watches::default(),
            auths: Vec::new(),
            pending: VecDeque::new(),
            auth_waiters: VecDeque::new(),
            events,
            shared,
            rx,
        }
    }

    fn set_state(&self, s: State) {
        self.shared.state.store(s as u8, Ordering::Relaxed);
    }

    async fn emit(&self, ev: WatchedEvent) {
        // A dropped receiver means nobody listens: that is fine.
        let _ = self.events.send(ev).await;
    }

    /// Connect to the next reachable host and handshake, until `deadline`
    /// (or forever when `None`, as the Java client does after a loss).
    /// Ends early with `Closed` when the client closes or every handle is
    /// dropped meanwhile.
    pub(crate) async fn establish(&mut self, deadline: Option<Instant>) -> Result<Conn> {
        let mut backoff = Duration::from_millis(10);
        loop {
            if let Some(conn) = self.try_round().await? {
                return Ok(conn);
            }
            if self.fail_while_connecting {
                self.fail_waiting().await?;
            } else if self.rx.is_closed() && self.rx.is_empty() {
                return Err(ClientError::Closed);
            }
            if let Some(d) = deadline {
                if Instant::now() + backoff >= d {
                    return Err(ClientError::NoServer(self.hosts.join(",")));
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    /// One attempt at each host in turn, from the one after the last tried.
    /// `Ok(None)` when none answered; an error only when the session expired.
    pub(crate) async fn try_round(&mut self) -> Result<Option<Conn>> {
        for _ in 0..self.hosts.len() {
            let host = self.hosts[self.next_host].clone();
            self.next_host = (self.next_host + 1) % self.hosts.len();
            let per_host = Duration::from_millis(
                (self.negotiated_ms.max(1000) as u64 / self.hosts.len() as u64).max(500),
            );
            match timeout(per_host, self.handshake(&host)).await {
                Ok(Ok(conn)) => return Ok(Some(conn)),
                Ok(Err(ClientError::SessionExpired)) => return Err(ClientError::SessionExpired),
                Ok(Err(e)) => tracing::debug!("connect to {host}: {e}"),
                Err(_) => tracing::debug!("connect to {host}: timed out"),
            }
        }
        Ok(None)
    }

    /// A round failed: fail what waits for a connection with a connection
    /// loss, as the Java client fails its queued packets when an attempt to
    /// connect fails. A close ends the session here (`Err(Closed)`), as does
    /// the last handle going away.
    async fn fail_waiting(&mut self) -> Result<()> {
        loop {
            match self.rx.try_recv() {
                Ok(Command::Request(r)) if r.op == op::CLOSE_SESSION => {
                    self.set_state(State::Closed);
                    self.emit(WatchedEvent::session(keeper_state::CLOSED)).await;
                    let _ = r.reply.send(Ok(Bytes::new()));
                    return Err(ClientError::Closed);
                }
                Ok(Command::Request(r)) => {
                    self.complete(
                        Pending::unsent(r),
                        Err(ReplyError::Client(ClientError::ConnectionLoss)),
                    )
                    .await;
                }
                Ok(Command::Auth { reply, .. }) => {
                    let _ = reply.send(Err(ReplyError::Client(ClientError::ConnectionLoss)));
                }
                Ok(Command::Forget { path, watcher_type }) => {
                    self.watches.forget(&path, watcher_type)
                }
                Err(mpsc::error::TryRecvError::Empty) => return Ok(()),
                Err(mpsc::error::TryRecvError::Disconnected) => return Err(ClientError::Closed),
            }
        }
    }

    async fn handshake(&mut self, host: &str) -> Result<Conn> {
        let mut stream = TcpStream::connect(host).await?;
        stream.set_nodelay(true)?;
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: self.last_zxid,
            timeout_ms: self.opts.session_timeout.as_millis() as i32,
            session_id: self.session_id,
            passwd: self.passwd.clone(),
            read_only: Some(self.opts.read_only),
        };
        let body = req.to_bytes();
        let mut out = Vec::with_capacity(body.len() + 4);
        out.put_i32(body.len() as i32);
        out.extend_from_slice(&body);
        stream.write_all(&out).await?;
        let len = stream.read_i32().await?;
        if len < 0 || len as usize > MAX_FRAME {
            return Err(std::io::Error::other("bad handshake length").into());
        }
        let mut buf = vec![0u8; len as usize];
        stream.read_exact(&mut buf).await?;
        let resp = ConnectResponse::from_bytes(&buf)?;
        if resp.timeout_ms <= 0 {
            return Err(ClientError::SessionExpired);
        }
        self.session_id = resp.session_id;
        self.passwd = resp.passwd;
        self.negotiated_ms = resp.timeout_ms;
        self.shared
            .session_id
            .store(resp.session_id, Ordering::Relaxed);
        self.shared
            .timeout_ms
            .store(resp.timeout_ms as i64, Ordering::Relaxed);
        let mut conn = Conn {
            stream,
            rbuf: BytesMut::with_capacity(64 * 1024),
        };
        // Restore what the session had on the previous connection: auth
        // first (watch restoration may need it), then the watches.
        let mut out = Vec::new();
        for (scheme, auth) in &self.auths {
            out.extend_from_slice(&auth_frame(scheme, auth));
        }
        if !self.watches.is_empty() {
            let mut f = record_frame(
                op::SET_WATCHES2,
                &self.watches.to_set_watches(self.last_zxid),
            );
            f[4..8].copy_from_slice(&xid::SET_WATCHES.to_be_bytes());
            out.extend_from_slice(&f);
        }
        if !out.is_empty() {
            conn.stream.write_all(&out).await?;
        }
        let _ = &mut conn;
        self.set_state(State::Connected);
        self.emit(WatchedEvent::session(keeper_state::SYNC_CONNECTED))
            .await;
        Ok(conn)
    }

    /// Serve the session; `conn` is `None` when no connection is up yet.
    pub(crate) async fn run(mut self, mut conn: Option<Conn>) {
        loop {
            let mut c = match conn.take() {
                Some(c) => c,
                None => match self.establish(None).await {
                    Ok(c) => c,
                    Err(ClientError::SessionExpired) => {
                        self.emit(WatchedEvent::session(keeper_state::EXPIRED))
                            .await;
                        self.finish(|| ClientError::SessionExpired).await;
                        return;
                    }
                    Err(ClientError::Closed) => break,
                    Err(_) => {
                        self.finish(|| ClientError::ConnectionLoss).await;
                        return;
                    }
                },
            };
            match self.serve(&mut c).await {
                Exit::Done => break,
                Exit::Lost => {
                    self.fail_pending(|| ClientError::ConnectionLoss).await;
                    self.set_state(State::Connecting);
                    self.emit(WatchedEvent::session(keeper_state::DISCONNECTED))
                        .await;
                }
            }
        }
        self.finish(|| ClientError::Closed).await;
    }

    /// Fail everything outstanding, then answer every later request with `err`
    /// until all handles are dropped.
    async fn finish(&mut self, err: impl Fn() -> ClientError) {
        self.set_state(State::Closed);
        self.fail_pending(&err).await;
        self.rx.close();
        while let Some(cmd) = self.rx.recv().await {
            match cmd {
                Command::Request(r) => {
                    self.complete(Pending::unsent(r), Err(ReplyError::Client(err())))
                        .await;
                }
                Command::Auth { reply, .. } => {
                    let _ = reply.send(Err(ReplyError::Client(err())));
                }
                Command::Forget { .. } => {}
            }
        }
    }

    async fn fail_pending(&mut self, err: impl Fn() -> ClientError) {
        for p in std::mem::take(&mut self.pending) {
            self.complete(p, Err(ReplyError::Client(err()))).await;
        }
        for w in self.auth_waiters.drain(..) {
            let _ = w.send(Err(ReplyError::Client(err())));
        }
    }

    /// Hand a request its outcome, after the watch removal it asked for.
    async fn complete(&mut self, p: Pending, reply: Reply) {
        let reply = match p.deregister {
            Some(d) => self.deregister(d, reply).await,
            None => reply,
        };
        let _ = p.reply.send(reply);
    }

    /// Java's `ZKWatchManager.removeWatcher` and `ClientCnxn.finishPacket`
    /// for a removeWatches: check the client holds such a watch, remove it
    /// when the server agreed (or whatever it said, with `local`), and
    /// queue one removal event per kind removed.
    async fn deregister(&mut self, d: Deregister, reply: Reply) -> Reply {
        let rc = match &reply {
            Ok(_) => 0,
            Err(ReplyError::Code(c)) => *c,
            Err(ReplyError::Client(e)) => e.code().unwrap_or(ErrorCode::ConnectionLoss).code(),
        };
        let no_watcher = Err(ReplyError::Code(ErrorCode::NoWatcher.code()));
        if !self.watches.contains(&d.server_path, d.watcher_type) {
            return no_watcher;
        }
        if rc != 0 && !d.local {
            return reply;
        }
        let removed = self.watches.remove(&d.server_path, d.watcher_type);
        if removed.is_empty() {
            return no_watcher;
        }
        let state =
            if rc == ErrorCode::ConnectionLoss.code() || rc == ErrorCode::SessionExpired.code() {
                keeper_state::DISCONNECTED
            } else {
                keeper_state::SYNC_CONNECTED
            };
        for event_type in removed {
            self.emit(WatchedEvent {
                event_type,
                state,
                path: Some(d.client_path.clone()),
            })
            .await;
        }
        Ok(Bytes::new())
    }

    fn take_xid(&mut self) -> i32 {
        let x = self.next_xid;
        self.next_xid = if self.next_xid == i32::MAX {
            1
        } else {
            self.next_xid + 1
        };
        x
    }

    /// Queue one command's bytes into `out`; returns false when the client
    /// asked to close.
    fn stage(&mut self, cmd: Command, out: &mut Vec<u8>) {
        match cmd {
            Command::Request(mut r) => {
                let x = self.take_xid();
                r.frame[4..8].copy_from_slice(&x.to_be_bytes());
                out.extend_from_slice(&r.frame);
                self.pending.push_back(Pending {
                    xid: x,
                    op: r.op,
                    watch: r.watch,
                    deregister: r.deregister,
                    reply: r.reply,
                });
            }
            Command::Auth {
                scheme,
                auth,
                reply,
            } => {
                out.extend_from_slice(&auth_frame(&scheme, &auth));
                self.auths.push((scheme, auth));
                self.auth_waiters.push_back(reply);
            }
            Command::Forget { path, watcher_type } => self.watches.forget(&path, watcher_type),
        }
    }

    async fn serve(&mut self, conn: &mut Conn) -> Exit {
        let ping_every = Duration::from_millis((self.negotiated_ms / 3).max(1) as u64);
        let read_timeout = Duration::from_millis((self.negotiated_ms * 2 / 3).max(1) as u64);
        let mut last_send = Instant::now();
        let mut last_recv = Instant::now();
        let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut closing = false;
        loop {
            let ping_at = last_send + ping_every;
            let dead_at = last_recv + read_timeout;
            tokio::select! {
                cmd = self.rx.recv(), if !closing => {
                    let Some(cmd) = cmd else {
                        // Every handle dropped: end the session politely.
                        let mut f = frame(op::CLOSE_SESSION, |_| {});
                        let x = self.take_xid();
                        f[4..8].copy_from_slice(&x.to_be_bytes());
                        let _ = conn.stream.write_all(&f).await;
                        return Exit::Done;
                    };
                    let mut is_close = matches!(&cmd, Command::Request(r) if r.op == op::CLOSE_SESSION);
                    self.stage(cmd, &mut out);
                    // Batch whatever else is already queued into one write.
                    while !is_close && out.len() < 256 * 1024 {
                        match self.rx.try_recv() {
                            Ok(cmd) => {
                                is_close = matches!(&cmd, Command::Request(r) if r.op == op::CLOSE_SESSION);
                                self.stage(cmd, &mut out);
                            }
                            Err(_) => break,
                        }
                    }
                    closing = is_close;
                    if conn.stream.write_all(&out).await.is_err() {
                        return Exit::Lost;
                    }
                    out.clear();
                    last_send = Instant::now();
                }
                n = conn.stream.read_buf(&mut conn.rbuf) => {
                    match n {
                        Ok(0) | Err(_) => {
                            if closing {
                                self.fail_pending(|| ClientError::Closed).await;
                                self.set_state(State::Closed);
                                self.emit(WatchedEvent::session(keeper_state::CLOSED)).await;
                                return Exit::Done;
                            }
                            return Exit::Lost;
                        }
                        Ok(_) => {}
                    }
                    last_recv = Instant::now();
                    loop {
                        match self.next_frame(conn) {
                            Ok(Some(f)) => match self.dispatch(f).await {
                                Ok(true) => {}
                                Ok(false) => return Exit::Done,
                                Err(e) => {
                                    tracing::debug!("closing connection: {e}");
                                    return Exit::Lost;
                                }
                            },
                            Ok(None) => break,
                            Err(e) => {
                                tracing::debug!("closing connection: {e}");
                                return Exit::Lost;
                            }
                        }
                    }
                }
                _ = tokio::time::sleep_until(ping_at) => {
                    let mut f = frame(op::PING, |_| {});
                    f[4..8].copy_from_slice(&xid::PING.to_be_bytes());
                    if conn.stream.write_all(&f).await.is_err() {
                        return Exit::Lost;
                    }
                    last_send = Instant::now();
                }
                _ = tokio::time::sleep_until(dead_at) => {
                    tracing::debug!("no reply from the server in {read_timeout:?}");
                    return Exit::Lost;
                }
            }
        }
    }

    fn next_frame(&mut self, conn: &mut Conn) -> Result<Option<Bytes>> {
        if conn.rbuf.len() < 4 {
            return Ok(None);
        }
        let len = i32::from_be_bytes([conn.rbuf[0], conn.rbuf[1], conn.rbuf[2], conn.rbuf[3]]);
        if len < 16 || len as usize > MAX_FRAME {
            return Err(std::io::Error::other(format!("bad reply length {len}")).into());
        }
        let len = len as usize;
        if conn.rbuf.len() < 4 + len {
            conn.rbuf.reserve(4 + len - conn.rbuf.len());
            return Ok(None);
        }
        conn.rbuf.advance(4);
        Ok(Some(conn.rbuf.split_to(len).freeze()))
    }

    /// Handle one reply frame; returns false when the session ended.
    async fn dispatch(&mut self, mut f: Bytes) -> Result<bool> {
        let hdr = ReplyHeader {
            xid: f.get_i32(),
            zxid: f.get_i64(),
            err: f.get_i32(),
        };
        if hdr.zxid > self.last_zxid {
            self.last_zxid = hdr.zxid;
        }
        match hdr.xid {
            xid::NOTIFICATION => {
                let ev = WatcherEvent::from_bytes(&f)?;
                let mut ev = WatchedEvent {
                    event_type: ev.event_type,
                    state: ev.state,
                    path: Some(ev.path),
                };
                // The registry holds the server's paths; the caller sees its own.
                self.watches.fired(&ev);
                ev.path = ev.path.map(|p| self.chroot.strip(&p));
                self.emit(ev).await;
                Ok(true)
            }
            xid::PING | xid::SET_WATCHES => Ok(true),
            xid::AUTH => {
                let w = self.auth_waiters.pop_front();
                if hdr.err != 0 {
                    if let Some(w) = w {
                        let _ = w.send(Err(ReplyError::Code(hdr.err)));
                    }
                    self.set_state(State::AuthFailed);
                    self.emit(WatchedEvent::session(keeper_state::AUTH_FAILED))
                        .await;
                    self.fail_pending(|| ClientError::AuthFailed).await;
                    self.finish(|| ClientError::AuthFailed).await;
                    return Ok(false);
                }
                if let Some(w) = w {
                    let _ = w.send(Ok(Bytes::new()));
                }
                Ok(true)
            }
            x => {
                let Some(mut p) = self.pending.pop_front() else {
                    return Err(ClientError::XidMismatch {
                        expected: 0,
                        got: x,
                    });
                };
                if p.xid != x {
                    let expected = p.xid;
                    self.complete(p, Err(ReplyError::Client(ClientError::ConnectionLoss)))
                        .await;
                    return Err(ClientError::XidMismatch { expected, got: x });
                }
                let ok = hdr.err == 0;
                if let Some((kind, path)) = p.watch.take() {
                    // exists leaves an exist watch on a missing node.
                    if ok {
                        self.watches.add(kind, path);
                    } else if p.op == op::EXISTS && hdr.err == ErrorCode::NoNode.code() {
                        self.watches.add(WatchKind::Exist, path);
                    }
                }
                let reply = if ok || (p.op == op::MULTI && !f.is_empty()) {
                    Ok(f)
                } else {
                    Err(ReplyError::Code(hdr.err))
                };
                if p.op == op::CLOSE_SESSION {
                    // The Closed event comes before close() returns, as in Java.
                    self.set_state(State::Closed);
                    self.emit(WatchedEvent::session(keeper_state::CLOSED)).await;
                    let _ = p.reply.send(reply);
                    return Ok(false);
                }
                self.complete(p, reply).await;
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use zab_core::proto::watcher_type;

    use super::*;
    use crate::client::Client;

    /// Nothing listens: `start` returns at once, still connecting; a request
    /// fails with a connection loss once a round fails; a local removal finds
    /// no watch; close ends the session with a Closed event.
    #[tokio::test]
    async fn start_without_a_server() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let (c, mut events) = Client::start(&format!("127.0.0.1:{port}"), Default::default())
            .await
            .unwrap();
        assert_eq!(c.state(), State::Connecting);
        assert!(matches!(
            c.exists("/x", false).await,
            Err(ClientError::ConnectionLoss)
        ));
        let e = c.remove_all_watches("/x", watcher_type::ANY, true).await;
        assert_eq!(e.unwrap_err().code(), Some(ErrorCode::NoWatcher));
        c.close().await.unwrap();
        assert_eq!(c.state(), State::Closed);
        assert_eq!(
            events.recv().await,
            Some(WatchedEvent::session(keeper_state::CLOSED))
        );
        assert!(matches!(
            c.exists("/x", false).await,
            Err(ClientError::Closed)
        ));
    }
}
