//! The election port (ZooKeeper's `QuorumCnxManager`): one TCP connection
//! per pair of servers, carrying length-prefixed election messages.
//!
//! What it owns:
//! * The connection rule. A connecting server first sends its
//!   [`crate::InitialMessage`]. The connection between `a` and `b` is always the one
//!   initiated by `max(a, b)`:
//!   - an initiator whose target has a larger sid sends its initial message
//!     and closes (`startConnection`: "have smaller server identifier, so
//!     dropping the connection"); that message is how it asks the larger
//!     server to connect;
//!   - an acceptor that hears from a smaller sid closes the new connection,
//!     drops any connection it still has to that sid (the peer may have
//!     restarted), and connects to it itself (`handleConnection`);
//!   - an acceptor that hears from a larger sid keeps the connection and
//!     replaces any older one to that sid; one from its own sid is dropped.
//! * Send queues: a queue of `send_queue_capacity` messages per peer (1, as
//!   ZooKeeper's `SEND_CAPACITY`) that drops the oldest message when full; a
//!   new connection first resends the last message sent to that peer when
//!   the queue is empty (ZooKeeper's `lastMessageSent`), so a vote lost with
//!   a dying connection is delivered again. Election messages are idempotent.
//! * Reconnection: per peer, when there is no connection and something has
//!   ever been sent to it, connect again with exponential backoff between
//!   `reconnect_backoff_min` and `reconnect_backoff_max`. ZooKeeper leaves
//!   this to `FastLeaderElection` calling `connectAll`; here it is in the
//!   transport, and the driver may still call [`ElectionNet::connect_all`].
//! * Messages to our own sid are delivered to our own receive queue.
//!
//! What it leaves: the notification format (`zab-core`), and membership
//! changes: the peer map is fixed at start, and connections from sids not
//! in it are closed (ZooKeeper 3.8 also accepts unknown sids for reconfig).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::codec::{Framed, FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use zab_core::ServerId;

use crate::conn::{prepend, ReadHalf};
use crate::error::NetError;
use crate::frame::{LengthCodec, ELECTION_MAX_FRAME_LEN};
use crate::handshake::{self, InitialMessageCodec};
use crate::stream::{PeerStream, PeerWrite};

/// Limits and timers of the election port.
#[derive(Debug, Clone)]
pub struct ElectionConfig {
    /// Largest election message (ZooKeeper: `PACKETMAXSIZE`, 512 KiB).
    pub max_message_len: usize,
    /// Messages kept per peer while unsent; the oldest is dropped (ZooKeeper: 1).
    pub send_queue_capacity: usize,
    /// Received messages not yet taken by the driver (ZooKeeper: 100).
    /// When full, readers wait: a slow driver slows the peers down instead of
    /// losing messages (ZooKeeper drops the oldest).
    pub recv_queue_capacity: usize,
    /// Time allowed for one TCP connect (ZooKeeper: `cnxTimeout`, 5 s).
    pub connect_timeout: Duration,
    /// Time an accepted connection has to send its initial message.
    pub handshake_timeout: Duration,
    pub reconnect_backoff_min: Duration,
    pub reconnect_backoff_max: Duration,
    /// Accepted connections whose initial message is still awaited.
    pub max_pending_handshakes: usize,
    /// Quorum SASL after the initial message (`quorum.auth.*`).
    pub auth: crate::quorum_auth::QuorumAuth,
    /// Quorum TLS (`sslQuorum`, `portUnification`): `None` is plain TCP.
    pub tls: Option<Arc<dyn crate::stream::QuorumTls>>,
}

impl Default for ElectionConfig {
    fn default() -> Self {
        ElectionConfig {
            max_message_len: ELECTION_MAX_FRAME_LEN,
            send_queue_capacity: 1,
            recv_queue_capacity: 100,
            connect_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(5),
            reconnect_backoff_min: Duration::from_millis(100),
            reconnect_backoff_max: Duration::from_secs(5),
            max_pending_handshakes: 64,
            auth: crate::quorum_auth::QuorumAuth::default(),
            tls: None,
        }
    }
}

/// One established election connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfo {
    pub peer: ServerId,
    /// True when we connected (which the rule allows only if our sid is larger).
    pub initiated_by_us: bool,
    pub local_addr: SocketAddr,
    pub peer_addr: SocketAddr,
}

/// The election port of one server. Dropping it closes the port and every
/// connection without waiting; [`ElectionNet::shutdown`] waits.
#[derive(Debug)]
pub struct ElectionNet {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    my_id: ServerId,
    my_addr: SocketAddr,
    cfg: ElectionConfig,
    /// Grows when a reconfiguration adds servers ([`ElectionNet::add_peer`]) or a
    /// server we do not know yet connects (a joiner, as ZooKeeper 3.5+ accepts it).
    peers: std::sync::RwLock<HashMap<ServerId, Arc<Peer>>>,
    recv_tx: mpsc::Sender<(ServerId, Bytes)>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    next_conn_id: AtomicU64,
}

#[derive(Debug)]
struct Peer {
    sid: ServerId,
    addr: SocketAddr,
    state: Mutex<PeerState>,
    /// Fired (`notify_waiters`) when the queue grows or the connection changes.
    changed: Notify,
}

#[derive(Debug, Default)]
struct PeerState {
    queue: VecDeque<Bytes>,
    last_sent: Option<Bytes>,
    conn: Option<Current>,
    connecting: bool,
}

#[derive(Debug)]
struct Current {
    id: u64,
    /// When it was installed; an initial message accepted before that is stale.
    since: Instant,
    cancel: CancellationToken,
    info: ConnInfo,
}

impl Peer {
    fn lock(&self) -> MutexGuard<'_, PeerState> {
        self.state.lock().expect("peer state lock poisoned")
    }

    fn connected(&self) -> bool {
        self.lock().conn.is_some()
    }

    fn wants_connection(&self) -> bool {
        let st = self.lock();
        st.conn.is_none() && (!st.queue.is_empty() || st.last_sent.is_some())
    }
}

impl ElectionNet {
    /// Bind `listen` and start. `peers` maps every voting server to its
    /// election address; an entry for `my_id` is ignored.
    pub async fn start(
        my_id: ServerId,
        listen: SocketAddr,
        peers: HashMap<ServerId, SocketAddr>,
        cfg: ElectionConfig,
    ) -> Result<(ElectionNet, mpsc::Receiver<(ServerId, Bytes)>), NetError> {
        let listener = TcpListener::bind(listen).await?;
        Self::with_listener(my_id, listener, peers, cfg)
    }

    /// Start on a listener bound by the caller (tests bind port 0 first).
    /// Must be called inside a tokio runtime.
    pub fn with_listener(
        my_id: ServerId,
        listener: TcpListener,
        peers: HashMap<ServerId, SocketAddr>,
        cfg: ElectionConfig,
    ) -> Result<(ElectionNet, mpsc::Receiver<(ServerId, Bytes)>), NetError> {
        let my_addr = listener.local_addr()?;
        let (recv_tx, recv_rx) = mpsc::channel(cfg.recv_queue_capacity.max(1));
        let peers: HashMap<ServerId, Arc<Peer>> = peers
            .into_iter()
            .filter(|(sid, _)| *sid != my_id)
            .map(|(sid, addr)| {
                let peer = Peer {
                    sid,
                    addr,
                    state: Mutex::new(PeerState::default()),
                    changed: Notify::new(),
                };
                (sid, Arc::new(peer))
            })
            .collect();
        let inner = Arc::new(Inner {
            my_id,
            my_addr,
            cfg,
            peers: std::sync::RwLock::new(peers),
            recv_tx,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            next_conn_id: AtomicU64::new(1),
        });
        inner.tasks.spawn(inner.clone().listen(listener));
        for peer in inner.peer_list() {
            inner.tasks.spawn(inner.clone().supervise(peer));
        }
        info!(sid = %my_id, addr = %my_addr, "election port open");
        Ok((ElectionNet { inner }, recv_rx))
    }

    pub fn my_id(&self) -> ServerId {
        self.inner.my_id
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.inner.my_addr
    }

    /// Queue `msg` for `to` (ZooKeeper's `toSend`). Never waits: a full
    /// queue drops its oldest message. Connects to `to` if not connected.
    pub fn send(&self, to: ServerId, msg: Bytes) -> Result<(), NetError> {
        self.inner.send(to, msg)
    }

    /// Send `msg` to every peer and to ourselves.
    pub fn broadcast(&self, msg: Bytes) {
        let _ = self.inner.send(self.inner.my_id, msg.clone());
        for peer in self.inner.peer_list() {
            let _ = self.inner.send(peer.sid, msg.clone());
        }
    }

    /// Connect to every peer we have ever sent to and are not connected to
    /// (ZooKeeper's `connectAll`).
    pub fn connect_all(&self) {
        for peer in self.inner.peer_list() {
            if peer.wants_connection() {
                self.inner.connect_one(&peer);
            }
        }
    }

    pub fn is_connected(&self, sid: ServerId) -> bool {
        self.inner.peer(sid).is_some_and(|p| p.connected())
    }

    /// A server added by a reconfiguration: its election address (replaced if known).
    pub fn add_peer(&self, sid: ServerId, addr: SocketAddr) {
        self.inner.add_peer(sid, addr);
    }

    /// The established connections, one per connected peer.
    pub fn connections(&self) -> Vec<ConnInfo> {
        let mut v: Vec<ConnInfo> = self
            .inner
            .peer_list()
            .iter()
            .filter_map(|p| p.lock().conn.as_ref().map(|c| c.info.clone()))
            .collect();
        v.sort_by_key(|c| c.peer);
        v
    }

    /// Close the port and every connection, and wait until all are closed.
    pub async fn shutdown(self) {
        self.inner.shutdown.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
        info!(sid = %self.inner.my_id, "election port closed");
    }
}

impl Drop for ElectionNet {
    fn drop(&mut self) {
        self.inner.shutdown.cancel();
    }
}

impl Inner {
    fn peer(&self, sid: ServerId) -> Option<Arc<Peer>> {
        self.peers.read().expect("peers lock").get(&sid).cloned()
    }

    fn peer_list(&self) -> Vec<Arc<Peer>> {
        self.peers
            .read()
            .expect("peers lock")
            .values()
            .cloned()
            .collect()
    }

    fn add_peer(self: &Arc<Self>, sid: ServerId, addr: SocketAddr) -> Arc<Peer> {
        let mut peers = self.peers.write().expect("peers lock");
        if let Some(p) = peers.get(&sid) {
            if p.addr == addr {
                return p.clone();
            }
        }
        let peer = Arc::new(Peer {
            sid,
            addr,
            state: Mutex::new(PeerState::default()),
            changed: Notify::new(),
        });
        if let Some(old) = peers.insert(sid, peer.clone()) {
            if let Some(c) = old.lock().conn.take() {
                c.cancel.cancel();
            }
            old.changed.notify_waiters();
        }
        drop(peers);
        self.tasks.spawn(self.clone().supervise(peer.clone()));
        peer
    }

    fn send(self: &Arc<Self>, to: ServerId, msg: Bytes) -> Result<(), NetError> {
        if msg.len() > self.cfg.max_message_len {
            return Err(NetError::TooLarge {
                field: "election message",
                len: msg.len() as u64,
                max: self.cfg.max_message_len,
            });
        }
        if to == self.my_id {
            // Full means the driver is not reading; dropping is what
            // ZooKeeper's circular receive queue does too (to the oldest).
            if self.recv_tx.try_send((to, msg)).is_err() {
                warn!(sid = %to, "receive queue full: message to self dropped");
            }
            return Ok(());
        }
        let peer = self.peer(to).ok_or(NetError::UnknownPeer { sid: to })?;
        let peer = &peer;
        {
            let mut st = peer.lock();
            while st.queue.len() >= self.cfg.send_queue_capacity.max(1) {
                st.queue.pop_front();
                debug!(sid = %to, "send queue full: oldest message dropped");
            }
            st.queue.push_back(msg);
        }
        peer.changed.notify_waiters();
        self.connect_one(peer);
        Ok(())
    }

    /// Start one connection attempt to `peer` unless connected or already trying.
    fn connect_one(self: &Arc<Self>, peer: &Arc<Peer>) {
        if self.shutdown.is_cancelled() {
            return;
        }
        {
            let mut st = peer.lock();
            if st.conn.is_some() || st.connecting {
                return;
            }
            st.connecting = true;
        }
        let this = self.clone();
        let peer = peer.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                _ = this.shutdown.cancelled() => {}
                _ = this.clone().initiate(peer.clone()) => {}
            }
            peer.lock().connecting = false;
            peer.changed.notify_waiters();
        });
    }

    /// ZooKeeper's `initiateConnection` + `startConnection`.
    async fn initiate(self: Arc<Self>, peer: Arc<Peer>) {
        let (mut stream, local_addr, peer_addr) = match self.dial(&peer).await {
            Ok(s) => s,
            Err(e @ NetError::Tls { .. }) => {
                warn!(sid = %peer.sid, addr = %peer.addr, error = %e, "election connection closed");
                return;
            }
            Err(e) => {
                debug!(sid = %peer.sid, addr = %peer.addr, error = %e, "cannot open election connection");
                return;
            }
        };
        // As Apache's startConnection: authenticate even a connection about to be
        // dropped, since the larger server will not connect back otherwise.
        let mut read_buf = BytesMut::new();
        if let Err(e) = self
            .cfg
            .auth
            .authenticate_learner(&mut stream, &mut read_buf, peer.addr)
            .await
        {
            warn!(sid = %peer.sid, addr = %peer.addr, error = %e, "election connection closed: quorum authentication as learner failed");
            return;
        }
        if peer.sid > self.my_id {
            debug!(sid = %peer.sid, "have smaller server identifier, so dropping the connection");
            return;
        }
        self.install(&peer, (stream, local_addr, peer_addr), read_buf, true);
    }

    /// `initiateConnection`: connect, the TLS handshake when `sslQuorum` is on, then
    /// the initial message (inside TLS).
    async fn dial(&self, peer: &Peer) -> Result<(PeerStream, SocketAddr, SocketAddr), NetError> {
        let stream =
            match tokio::time::timeout(self.cfg.connect_timeout, TcpStream::connect(peer.addr))
                .await
            {
                Ok(r) => r?,
                Err(_) => {
                    return Err(NetError::Timeout {
                        what: "connect",
                        peer: peer.addr,
                        timeout: self.cfg.connect_timeout,
                    })
                }
            };
        stream.set_nodelay(true)?;
        let addrs = (stream.local_addr()?, stream.peer_addr()?);
        let mut stream = match tokio::time::timeout(
            self.cfg.handshake_timeout,
            crate::stream::connect(&self.cfg.tls, stream, peer.addr),
        )
        .await
        {
            Ok(r) => r?,
            Err(_) => {
                return Err(NetError::Timeout {
                    what: "TLS handshake",
                    peer: peer.addr,
                    timeout: self.cfg.handshake_timeout,
                })
            }
        };
        let hello = handshake::v1(self.my_id, &self.my_addr.to_string()).encode();
        stream.write_all(&hello).await?;
        stream.flush().await?;
        Ok((stream, addrs.0, addrs.1))
    }

    async fn listen(self: Arc<Self>, listener: TcpListener) {
        let pending = Arc::new(Semaphore::new(self.cfg.max_pending_handshakes.max(1)));
        loop {
            let permit = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                p = pending.clone().acquire_owned() => p.expect("semaphore is never closed"),
            };
            let (stream, from) = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                r = listener.accept() => match r {
                    Ok(s) => s,
                    Err(e) => {
                        warn!(error = %e, "election port accept failed");
                        continue;
                    }
                },
            };
            let accepted_at = Instant::now();
            let this = self.clone();
            self.tasks.spawn(async move {
                let _permit = permit;
                let r = tokio::select! {
                    _ = this.shutdown.cancelled() => return,
                    r = this.clone().handle_connection(stream, accepted_at) => r,
                };
                if let Err(e) = r {
                    warn!(%from, error = %e, "election connection refused");
                }
            });
        }
    }

    /// ZooKeeper's `handleConnection`.
    async fn handle_connection(
        self: Arc<Self>,
        stream: TcpStream,
        accepted_at: Instant,
    ) -> Result<(), NetError> {
        let from = stream.peer_addr()?;
        let local = stream.local_addr()?;
        stream.set_nodelay(true)?;
        let deadline = accepted_at + self.cfg.handshake_timeout;
        // The Listener's UnifiedServerSocket: TLS (or plain with port unification)
        // before the initial message.
        let stream = match tokio::time::timeout_at(
            deadline,
            crate::stream::accept(&self.cfg.tls, stream, from),
        )
        .await
        {
            Ok(r) => r?,
            Err(_) => {
                return Err(NetError::Timeout {
                    what: "TLS handshake",
                    peer: from,
                    timeout: self.cfg.handshake_timeout,
                })
            }
        };
        let mut framed = Framed::new(stream, InitialMessageCodec);
        let hello = match tokio::time::timeout_at(deadline, framed.next()).await {
            Err(_) => {
                return Err(NetError::Timeout {
                    what: "initial message",
                    peer: from,
                    timeout: self.cfg.handshake_timeout,
                })
            }
            Ok(None) => {
                return Err(NetError::ClosedBefore {
                    what: "initial message",
                })
            }
            Ok(Some(r)) => r?,
        };
        let sid = hello.sid;
        let mut parts = framed.into_parts();
        if let Err(e) = self
            .cfg
            .auth
            .authenticate_server(&mut parts.io, &mut parts.read_buf, from)
            .await
        {
            warn!(%from, %sid, error = %e, "election connection closed: quorum authentication of the peer failed");
            return Ok(());
        }
        if sid == self.my_id {
            warn!(%from, "connection from a server with our own id: a configuration error");
            return Ok(());
        }
        let peer = match self.peer(sid) {
            Some(p) => p,
            // A server not in our view yet (one joining by reconfig): known from now
            // on by the address it announces.
            None => match hello
                .addresses
                .iter()
                .find_map(|a| a.parse::<SocketAddr>().ok())
            {
                Some(addr) => {
                    info!(%sid, %addr, "election connection from a server not in the view");
                    self.add_peer(sid, addr)
                }
                None => return Err(NetError::UnknownPeer { sid }),
            },
        };
        let peer = &peer;
        if sid < self.my_id {
            // We win: close theirs and connect ourselves, first dropping the
            // connection we have (it may be half-open after a restart of
            // theirs) unless it was made after this request arrived: then the
            // request is stale and the connection already answers it.
            // ZooKeeper always drops it, which makes the pair churn when
            // both ends dial at once.
            drop(parts);
            let old = {
                let mut st = peer.lock();
                match &st.conn {
                    Some(c) if c.since > accepted_at => {
                        debug!(%sid, "stale connection request from a smaller server identifier");
                        return Ok(());
                    }
                    _ => st.conn.take(),
                }
            };
            debug!(%sid, "smaller server identifier connected: connecting back");
            if let Some(old) = old {
                old.cancel.cancel();
            }
            peer.changed.notify_waiters();
            self.connect_one(peer);
            return Ok(());
        }
        self.install(peer, (parts.io, local, from), parts.read_buf, false);
        Ok(())
    }

    /// Make `stream` the connection to `peer`, replacing any other.
    fn install(
        self: &Arc<Self>,
        peer: &Arc<Peer>,
        (stream, local_addr, peer_addr): (PeerStream, SocketAddr, SocketAddr),
        read_buf: BytesMut,
        ours: bool,
    ) {
        let id = self.next_conn_id.fetch_add(1, Ordering::Relaxed);
        let cancel = self.shutdown.child_token();
        let info = ConnInfo {
            peer: peer.sid,
            initiated_by_us: ours,
            local_addr,
            peer_addr,
        };
        {
            let mut st = peer.lock();
            if let Some(old) = st.conn.take() {
                debug!(sid = %peer.sid, "replacing election connection");
                old.cancel.cancel();
            }
            st.conn = Some(Current {
                id,
                since: Instant::now(),
                cancel: cancel.clone(),
                info,
            });
        }
        info!(sid = %peer.sid, %peer_addr, initiated_by_us = ours, "election connection up");
        peer.changed.notify_waiters();

        let (rd, wr) = stream.into_split();
        let codec = LengthCodec::new(self.cfg.max_message_len).reject_empty();
        let reader = FramedRead::new(prepend(read_buf, rd), codec.clone());
        let writer = FramedWrite::new(wr, codec);
        let this = self.clone();
        let peer = peer.clone();
        self.tasks.spawn(async move {
            let recv = this.recv_worker(&peer, reader, &cancel);
            let send = Self::send_worker(&peer, writer, &cancel);
            tokio::join!(recv, send);
            {
                let mut st = peer.lock();
                if st.conn.as_ref().is_some_and(|c| c.id == id) {
                    st.conn = None;
                }
            }
            info!(sid = %peer.sid, "election connection down");
            peer.changed.notify_waiters();
        });
    }

    async fn recv_worker(
        &self,
        peer: &Peer,
        mut reader: FramedRead<ReadHalf, LengthCodec>,
        cancel: &CancellationToken,
    ) {
        loop {
            let frame = tokio::select! {
                _ = cancel.cancelled() => break,
                f = reader.next() => f,
            };
            match frame {
                Some(Ok(msg)) => {
                    // A dropped receiver discards messages; the connection
                    // stays so the pair does not churn.
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = self.recv_tx.send((peer.sid, msg)) => {}
                    }
                }
                Some(Err(e)) => {
                    warn!(sid = %peer.sid, error = %e, "election connection broken");
                    break;
                }
                None => break,
            }
        }
        cancel.cancel();
    }

    /// ZooKeeper's `SendWorker.run`.
    async fn send_worker(
        peer: &Peer,
        mut writer: FramedWrite<PeerWrite, LengthCodec>,
        cancel: &CancellationToken,
    ) {
        let resend = {
            let st = peer.lock();
            if st.queue.is_empty() {
                st.last_sent.clone()
            } else {
                None
            }
        };
        if let Some(msg) = resend {
            let ok = tokio::select! {
                _ = cancel.cancelled() => false,
                r = writer.send(msg) => r.is_ok(),
            };
            if !ok {
                cancel.cancel();
                return;
            }
        }
        loop {
            let notified = peer.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = {
                let mut st = peer.lock();
                // Checked under the lock that `install` cancels us under, so a
                // replaced connection never takes a message meant for its successor.
                if cancel.is_cancelled() {
                    break;
                }
                let next = st.queue.pop_front();
                if let Some(m) = &next {
                    st.last_sent = Some(m.clone());
                }
                next
            };
            match next {
                Some(msg) => {
                    let r = tokio::select! {
                        _ = cancel.cancelled() => break,
                        r = writer.send(msg) => r,
                    };
                    if let Err(e) = r {
                        debug!(sid = %peer.sid, error = %e, "election send failed");
                        break;
                    }
                }
                None => tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = &mut notified => {}
                },
            }
        }
        cancel.cancel();
    }

    /// Keeps a connection to `peer` while there is something to deliver.
    async fn supervise(self: Arc<Self>, peer: Arc<Peer>) {
        let min = self.cfg.reconnect_backoff_min;
        let mut backoff = min;
        let mut was_up = false;
        loop {
            // Wait until there is no connection and something to deliver.
            if !self.wait_for(&peer, None, |p| p.wants_connection()).await {
                return;
            }
            if was_up && peer.sid > self.my_id {
                // The larger peer redials on its own if it has something to
                // say; asking at once would make it drop its new connection.
                let deadline = Some(Instant::now() + min);
                if !self.wait_for(&peer, deadline, |p| p.connected()).await {
                    return;
                }
                if peer.connected() {
                    backoff = min;
                    continue;
                }
            }
            self.connect_one(&peer);
            let deadline = Some(Instant::now() + backoff);
            if !self.wait_for(&peer, deadline, |p| p.connected()).await {
                return;
            }
            if peer.connected() {
                was_up = true;
                backoff = min;
            } else {
                was_up = false;
                backoff = (backoff * 2).min(self.cfg.reconnect_backoff_max.max(min));
            }
        }
    }

    /// Wait until `cond` holds or `deadline` passes; false on shutdown.
    async fn wait_for(
        &self,
        peer: &Peer,
        deadline: Option<Instant>,
        cond: impl Fn(&Peer) -> bool,
    ) -> bool {
        loop {
            let notified = peer.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if cond(peer) {
                return true;
            }
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.shutdown.cancelled() => return false,
                _ = &mut notified => {}
                _ = sleep => return true,
            }
        }
    }
}
