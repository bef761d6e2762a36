//! The server core: one task that owns the data tree, the sessions and the
//! watches, and runs ZooKeeper's request pipeline over them.
//!
//! ```text
//! connection --Request--> [per-session queue] --write--> prep --> Replicator
//!                                   |                                  |
//!                                   +--read--> final (answer now)       | committed up to Z
//!                                                                      v
//!                               reply <-- watches <-- apply (final) <--+
//! ```
//! Reads are answered at once unless the same session has a write in flight:
//! then they wait for the writes sent before them, while later writes go in flight
//! at once. A session's replies always come back in the order it sent its requests.
//! Watch events for a change are queued to every connection before the reply
//! of the write that caused it, so a client sees the event first.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes};
use sha1::{Digest, Sha1};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use zab_core::jute::Record;
use zab_core::proto::*;
use zab_core::records::{perms, ErrorCode, Id, Stat};
use zab_core::txn::{Txn, TxnBody, TxnHeader};
use zab_core::Zxid;

use crate::auth::{self, check_acl, AuthOutcome};
use crate::config::Config;
use crate::persist::{write_snapshot, FuzzySnapshot, SnapshotJob};
use crate::prep::{Prep, PrepCtx};
use crate::replicate::Replicator;
use crate::request::Request;
use crate::tree::{DataTree, EphemeralKind, Trigger, TxnResult};
use crate::watch::{WatchManager, WatcherKind};

/// What a connection may send the core.
pub enum CoreMsg {
    Connect {
        conn: ConnHandle,
        req: ConnectRequest,
    },
    Request(Request),
    Closed {
        conn_id: u64,
    },
    Command {
        word: String,
        /// The connection that asked (four-letter words list it as ZooKeeper does).
        from: SocketAddr,
        reply: oneshot::Sender<String>,
    },
    Peer(PeerMsg),
}

/// The server's place in the ensemble.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Standalone,
    Looking,
    Leading,
    Following,
    Observing,
}

impl Role {
    /// ZooKeeper's name, as `srvr` prints it after `Mode:`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Standalone => "standalone",
            Role::Looking => "looking",
            Role::Leading => "leader",
            Role::Following => "follower",
            Role::Observing => "observer",
        }
    }

    pub fn serving(self) -> bool {
        self != Role::Looking
    }

    pub fn learner(self) -> bool {
        matches!(self, Role::Following | Role::Observing)
    }
}

/// What the peer driver tells the core.
pub enum PeerMsg {
    /// The role changed; a leader's first proposal is `Zxid::new(epoch, 1)`.
    Role { role: Role, epoch: u64 },
    /// Committed transactions, in zxid order: apply them.
    Committed(Vec<(Zxid, Bytes)>),
    /// Leader: a learner forwarded a client request (REQUEST).
    Remote {
        from: u64,
        data: Bytes,
        auth: Vec<Id>,
    },
    /// Leader: a learner reported session activity (PING data).
    Touch(Bytes),
    /// Learner: the leader answered the oldest forwarded sync.
    SyncDone,
    /// Leader: a learner asks whether a session its client reconnected with is valid
    /// (REVALIDATE: `sessionId timeout`).
    Revalidate { from: u64, data: Bytes },
    /// Learner: the leader's answer to our REVALIDATE (`sessionId valid`).
    Revalidated(Bytes),
    /// Leader: what is known of the learners (for `mntr`).
    Learners(zab_core::peer::LearnerSummary),
    /// Leader: the whole tree, serialized as a snapshot, for a SNAP sync.
    Snapshot { reply: oneshot::Sender<Vec<u8>> },
    /// Learner: the tree after a SNAP or a TRUNC.
    ReplaceTree {
        tree: Box<DataTree>,
        sessions: HashMap<i64, i32>,
    },
}

/// What the core asks of the peer driver.
pub enum DriverMsg {
    /// Leader: replicate this transaction.
    Propose(Bytes),
    /// Learner: a packet for the leader (REQUEST, PING with sessions).
    Forward(zab_core::wire::QuorumPacket),
    /// Leader: answer a learner's sync once everything proposed so far is committed.
    Sync { learner: u64 },
    /// Leader: a packet for one learner (the answer to its REVALIDATE).
    Reply {
        to: u64,
        msg: zab_core::wire::QuorumPacket,
    },
}

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
    pub queued_bytes: Arc<std::sync::atomic::AtomicUsize>,
}

struct Conn {
    handle: ConnHandle,
    session_id: i64,
    established: Instant,
    received: u64,
    sent: u64,
    last_op: &'static str,
    last_cxid: i32,
    last_zxid: i64,
    last_latency_ms: u64,
    min_latency_ms: u64,
    max_latency_ms: u64,
    total_latency_ms: u64,
    /// When the last reply went out, in ms of `Core::started`'s clock (0: none since
    /// the stats were reset), as `cons` prints `lresp`.
    last_response_ms: u64,
}

impl Session {
    /// A session known from the log, a snapshot or another server's transaction:
    /// no connection yet; it expires unless its client comes back in time.
    fn restored(id: i64, timeout_ms: i32, now: Instant) -> Session {
        Session {
            timeout_ms,
            passwd: password(id),
            expires_at: now + Duration::from_millis(timeout_ms as u64),
            closing: false,
            auth: Vec::new(),
            conn: None,
            queue: VecDeque::new(),
            writes_started: 0,
            writes_done: 0,
            local: false,
        }
    }

    /// A write of this session goes in flight (proposed, or forwarded to the leader).
    fn start_write(&mut self) {
        self.writes_started += 1;
    }

    /// The oldest write in flight is answered (writes of a session finish in order).
    fn finish_write(&mut self) {
        self.writes_done = (self.writes_done + 1).min(self.writes_started);
    }

    fn writes_in_flight(&self) -> bool {
        self.writes_done < self.writes_started
    }
}

struct Session {
    timeout_ms: i32,
    passwd: [u8; 16],
    expires_at: Instant,
    closing: bool,
    auth: Vec<Id>,
    conn: Option<u64>,
    /// Reads waiting for the writes of the same session sent before them.
    queue: VecDeque<Held>,
    /// Writes gone in flight and writes answered, counted since the session began
    /// (or since the last role change); both only grow.
    writes_started: u64,
    writes_done: u64,
    /// Created by this server in read-only mode: known nowhere else, gone with the mode.
    local: bool,
}

/// A read held until the writes its session sent before it are answered.
struct Held {
    req: Request,
    received: Instant,
    /// Answer once `writes_done` reaches this.
    after: u64,
}

enum Origin {
    Client {
        req: Request,
        received: Instant,
    },
    CreateSession {
        conn_id: u64,
        legacy: bool,
    },
    Expire,
    Internal,
    /// Leader: a request a learner forwarded; the learner answers its client.
    Remote,
}

struct InFlight {
    txn: Txn,
    origin: Origin,
}

/// Counters behind srvr, stat and mntr.
#[derive(Default, Clone)]
pub struct ServerStats {
    pub packets_received: u64,
    pub packets_sent: u64,
    pub min_latency_ms: u64,
    pub max_latency_ms: u64,
    pub total_latency_ms: u64,
    pub latency_count: u64,
}

/// What `srvr`, `mntr` and `conf` show of the ensemble.
#[derive(Clone, Debug, Default)]
pub struct EnsembleStats {
    pub learners: zab_core::peer::LearnerSummary,
    /// When this server became an established leader.
    pub leading_since: Option<Instant>,
    /// Sizes of the transactions proposed while leading: last, min, max (`-1` before any).
    pub proposal_sizes: Option<(usize, usize, usize)>,
}

/// Most proposals the pipeline keeps in flight before it stops reading requests.
const MAX_IN_FLIGHT: usize = 10_000;
/// Frames queued to one connection before it counts as not reading.
pub const CONN_QUEUE: usize = 10_000;

pub struct Core {
    pub(crate) cfg: Arc<Config>,
    pub(crate) tree: DataTree,
    prep: Prep,
    pub(crate) watches: WatchManager,
    sessions: HashMap<i64, Session>,
    conns: HashMap<u64, Conn>,
    last_zxid: Zxid,
    in_flight: VecDeque<InFlight>,
    replicator: Box<dyn Replicator>,
    committed: watch::Receiver<Zxid>,
    next_session_id: i64,
    txns_since_snapshot: u64,
    snapshot: Option<SnapshotJob>,
    rng: u64,
    pub(crate) role: Role,
    /// This server's id (`myid`; 0 standalone).
    my_id: u64,
    /// When the server last lost its quorum (read-only mode starts a grace period later).
    looking_since: Instant,
    driver: Option<mpsc::Sender<DriverMsg>>,
    /// Learner: writes forwarded to the leader, by (session, cxid).
    forwarded: HashMap<(i64, i32), (Request, Instant)>,
    /// Learner: sessions being created through the leader.
    connecting: HashMap<i64, (u64, bool)>,
    /// Learner: syncs forwarded to the leader, oldest first.
    pending_syncs: VecDeque<(Request, Instant)>,
    /// Leader: the server each session's client is connected to (ZooKeeper's session
    /// owner); a request for the session from any other server is SessionMoved.
    owners: HashMap<i64, u64>,
    /// Learner: reconnects waiting for the leader's REVALIDATE answer:
    /// session -> (connection, timeout, legacy handshake).
    revalidating: HashMap<i64, (u64, i32, bool)>,
    /// Learner: sessions active since the last report to the leader.
    touched: HashMap<i64, i32>,
    pub(crate) stats: ServerStats,
    pub(crate) ensemble: EnsembleStats,
    pub(crate) started: Instant,
    extended_types: bool,
}

/// Milliseconds since the epoch: transaction times, as ZooKeeper stamps them.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A session's own transaction (createSession, closeSession on expiry): no
/// request behind it, so cxid 0, and the time is now.
fn session_txn(id: i64, zxid: Zxid, txn_type: i32, body: TxnBody) -> Txn {
    Txn {
        header: TxnHeader {
            client_id: id,
            cxid: 0,
            zxid,
            time: now_ms(),
            txn_type,
        },
        body,
        digest: None,
    }
}

/// Writes a reply body after the header.
type BodyWriter<'a> = &'a dyn Fn(&mut Vec<u8>);

fn frame(hdr: &ReplyHeader, body: Option<BodyWriter<'_>>) -> Bytes {
    let mut out = Vec::with_capacity(64);
    out.put_i32(0);
    hdr.write(&mut out);
    if let Some(b) = body {
        b(&mut out);
    }
    let len = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    Bytes::from(out)
}

/// A reply body, or an error code with no body.
type Reply = Result<Option<Vec<u8>>, ErrorCode>;

fn body<R: Record>(r: &R) -> Reply {
    Ok(Some(r.to_bytes()))
}

impl Core {
    pub fn new(
        cfg: Arc<Config>,
        tree: DataTree,
        sessions: HashMap<i64, i32>,
        replicator: Box<dyn Replicator>,
        server_id: u64,
    ) -> Core {
        let committed = replicator.committed();
        let last_zxid = tree.last_processed_zxid();
        // ZooKeeper's session id layout: server id in the top byte (1 when
        // standalone), time below.
        let my_id = server_id;
        let server_id = server_id.max(1);
        let next_session_id = ((now_ms() << 24) as u64 >> 8) as i64 | ((server_id as i64) << 56);
        let extended_types = cfg.extended_types_enabled;
        let now = Instant::now();
        // Sessions found on disk live on until their timeout passes without
        // their client coming back, as in ZooKeeper.
        let sessions = sessions
            .into_iter()
            .map(|(id, timeout_ms)| (id, Session::restored(id, timeout_ms, now)))
            .collect();
        let rng = (now_ms() as u64) ^ ((server_id) << 32) ^ 0x9e37_79b9_7f4a_7c15;
        Core {
            cfg,
            tree,
            prep: Prep::default(),
            watches: WatchManager::default(),
            sessions,
            conns: HashMap::new(),
            last_zxid,
            in_flight: VecDeque::new(),
            replicator,
            committed,
            next_session_id,
            txns_since_snapshot: 0,
            snapshot: None,
            rng,
            role: Role::Standalone,
            my_id,
            looking_since: Instant::now(),
            driver: None,
            forwarded: HashMap::new(),
            connecting: HashMap::new(),
            pending_syncs: VecDeque::new(),
            touched: HashMap::new(),
            owners: HashMap::new(),
            revalidating: HashMap::new(),
            stats: ServerStats::default(),
            ensemble: EnsembleStats::default(),
            started: Instant::now(),
            extended_types,
        }
    }

    /// Make this core a member of an ensemble: it starts LOOKING and talks to
    /// the peer driver through `driver`.
    pub fn join_ensemble(&mut self, driver: mpsc::Sender<DriverMsg>) {
        self.role = Role::Looking;
        self.looking_since = Instant::now();
        self.driver = Some(driver);
    }

    /// Read-only mode (`readonlymode.enabled`): a server without a quorum serves reads to
    /// clients that asked for a read-only session, once ZooKeeper's grace period
    /// (`max(2000 ms, tickTime)`) has passed since it lost its quorum.
    pub(crate) fn read_only(&self) -> bool {
        self.role == Role::Looking
            && self.cfg.read_only_mode
            && self.looking_since.elapsed()
                >= Duration::from_millis(self.cfg.tick_time_ms.max(2000) as u64)
    }

    fn send_to_driver(&mut self, m: DriverMsg) {
        if let Some(d) = &self.driver {
            if d.try_send(m).is_err() {
                tracing::warn!("peer driver is not keeping up; dropping a message");
            }
        }
    }

    /// Run until the request channel closes.
    pub async fn run(mut self, mut rx: mpsc::Receiver<CoreMsg>) {
        let tick = Duration::from_millis((self.cfg.tick_time_ms as u64 / 2).clamp(10, 1000));
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let container_every = Duration::from_millis(self.cfg.container_check_interval_ms.max(10));
        let mut containers = tokio::time::interval(container_every);
        containers.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut committed = self.committed.clone();
        let purge_hours = self.cfg.autopurge_purge_interval_hours as u64;
        let mut purge = tokio::time::interval(Duration::from_secs(purge_hours.max(1) * 3600));
        purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                r = committed.changed() => {
                    if r.is_err() { break; }
                    let upto = *committed.borrow_and_update();
                    self.on_committed(upto);
                }
                msg = rx.recv(), if self.in_flight.len() < MAX_IN_FLIGHT => {
                    let Some(msg) = msg else { break };
                    self.on_msg(msg);
                    // Take what else is waiting, so that its writes share a flush.
                    for _ in 0..256 {
                        if self.in_flight.len() >= MAX_IN_FLIGHT { break; }
                        match rx.try_recv() {
                            Ok(m) => self.on_msg(m),
                            Err(_) => break,
                        }
                    }
                }
                _ = tokio::time::sleep(Duration::from_millis(1)), if self.snapshot.is_some() => {}
                _ = ticker.tick() => self.expire_sessions(),
                _ = containers.tick() => self.check_containers(),
                _ = purge.tick(), if purge_hours > 0 => self.autopurge(),
            }
            self.snapshot_step();
        }
    }

    fn on_msg(&mut self, msg: CoreMsg) {
        match msg {
            CoreMsg::Connect { conn, req } => self.on_connect(conn, req),
            CoreMsg::Request(r) => self.on_request(r),
            CoreMsg::Closed { conn_id } => self.on_closed(conn_id),
            CoreMsg::Command { word, from, reply } => {
                let _ = reply.send(crate::fourlw::run(self, &word, from));
            }
            CoreMsg::Peer(m) => self.on_peer(m),
        }
    }

    // ---- connections and sessions ----

    fn send(&mut self, conn_id: u64, f: Bytes) {
        let Some(c) = self.conns.get_mut(&conn_id) else {
            return;
        };
        match c.handle.queue_frame(f) {
            Ok(()) => {
                c.sent += 1;
                self.stats.packets_sent += 1;
            }
            Err(crate::net::QueueFull) => {
                tracing::warn!(
                    "closing connection from {}: client is not reading its replies",
                    c.handle.addr
                );
                c.handle.kill.cancel();
            }
        }
    }

    fn close_conn(&mut self, conn_id: u64) {
        if let Some(c) = self.conns.get(&conn_id) {
            if c.handle.tx.try_send(Out::Close).is_err() {
                c.handle.kill.cancel();
            }
        }
    }

    fn on_connect(&mut self, handle: ConnHandle, req: ConnectRequest) {
        let conn_id = handle.id;
        self.stats.packets_received += 1;
        self.conns.insert(
            conn_id,
            Conn {
                handle,
                session_id: 0,
                established: Instant::now(),
                received: 1,
                sent: 0,
                last_op: "NA",
                last_cxid: -1,
                last_zxid: -1,
                last_latency_ms: 0,
                min_latency_ms: 0,
                max_latency_ms: 0,
                total_latency_ms: 0,
                last_response_ms: 0,
            },
        );
        let legacy = req.read_only.is_none();
        let read_only = self.read_only();
        if read_only && req.read_only != Some(true) {
            tracing::info!(
                "refusing session request for not-read-only client {}",
                self.conns[&conn_id].handle.addr
            );
            self.close_conn(conn_id);
            return;
        }
        if !self.role.serving() && !read_only {
            // Clients retry quickly; at info level this would drown the log.
            tracing::debug!(
                "refusing client {}: this server is not serving (no quorum)",
                self.conns[&conn_id].handle.addr
            );
            self.close_conn(conn_id);
            return;
        }
        if req.last_zxid_seen > self.tree.last_processed_zxid().0 {
            tracing::info!(
                "refusing session request for client {} as it has seen zxid 0x{:x} and our last zxid is {}; client must try another server",
                self.conns[&conn_id].handle.addr,
                req.last_zxid_seen,
                self.tree.last_processed_zxid()
            );
            self.close_conn(conn_id);
            return;
        }
        let timeout = req.timeout_ms.clamp(
            self.cfg.min_session_timeout_ms,
            self.cfg.max_session_timeout_ms,
        );
        if req.session_id == 0 {
            let id = self.next_session_id;
            self.next_session_id += 1;
            let passwd = password(id);
            let addr = self.conns[&conn_id].handle.addr;
            let mut session = Session {
                timeout_ms: timeout,
                passwd,
                expires_at: Instant::now() + Duration::from_millis(timeout as u64),
                closing: false,
                auth: vec![Id::new("ip", &addr.ip().to_string())],
                conn: Some(conn_id),
                queue: VecDeque::new(),
                // The createSession transaction.
                writes_started: 1,
                writes_done: 0,
                local: false,
            };
            session.auth.dedup();
            session.local = read_only;
            self.sessions.insert(id, session);
            self.conns.get_mut(&conn_id).unwrap().session_id = id;
            if read_only {
                // No quorum to commit a session: it lives here until the mode ends.
                let s = self.sessions.get_mut(&id).unwrap();
                s.finish_write();
                let resp = ConnectResponse {
                    protocol_version: 0,
                    timeout_ms: timeout,
                    session_id: id,
                    passwd: Bytes::copy_from_slice(&passwd),
                    read_only: Some(true),
                };
                self.send_connect_response(conn_id, &resp);
                return;
            }
            if self.role.learner() {
                // The leader creates sessions; we answer once its txn commits here.
                self.connecting.insert(id, (conn_id, legacy));
                let pkt = request_packet(id, 0, op::CREATE_SESSION, &timeout.to_be_bytes(), &[]);
                self.send_to_driver(DriverMsg::Forward(pkt));
                return;
            }
            let me = self.my_id;
            self.propose_create_session(id, timeout, me, Origin::CreateSession { conn_id, legacy });
        } else {
            // ZooKeeper closes the session's current connection before it
            // looks at the password (`closeSession(.., CLIENT_RECONNECT)`).
            let current = self.sessions.get(&req.session_id).and_then(|s| s.conn);
            if let Some(old) = current.filter(|c| *c != conn_id) {
                self.close_conn(old);
            }
            let valid = self
                .sessions
                .get(&req.session_id)
                .is_some_and(|s| !s.closing && s.passwd[..] == req.passwd[..]);
            if !valid {
                tracing::info!(
                    "invalid session 0x{:x} for client {}, probably expired",
                    req.session_id,
                    self.conns[&conn_id].handle.addr
                );
                self.refuse_session(conn_id, legacy);
                return;
            }
            let id = req.session_id;
            if self.role.learner() {
                // Only the leader knows whether the session still lives; it also
                // records that the client is with us now.
                self.revalidating.insert(id, (conn_id, timeout, legacy));
                let mut data = Vec::with_capacity(12);
                data.put_i64(id);
                data.put_i32(timeout);
                let msg = zab_core::wire::QuorumPacket::Revalidate {
                    data: Bytes::from(data),
                };
                self.send_to_driver(DriverMsg::Forward(msg));
                return;
            }
            if self.role == Role::Leading {
                self.owners.insert(id, self.my_id);
            }
            self.finish_reconnect(conn_id, id, timeout, legacy);
        }
    }

    /// Attach a validated session to its new connection and answer the handshake.
    fn finish_reconnect(&mut self, conn_id: u64, id: i64, timeout: i32, legacy: bool) {
        {
            let addr = self.conns[&conn_id].handle.addr;
            let s = self.sessions.get_mut(&id).unwrap();
            let old = s.conn.replace(conn_id);
            s.timeout_ms = timeout;
            s.expires_at = Instant::now() + Duration::from_millis(timeout as u64);
            let ip = Id::new("ip", &addr.ip().to_string());
            if !s.auth.contains(&ip) {
                s.auth.retain(|i| i.scheme != "ip");
                s.auth.insert(0, ip);
            }
            let passwd = Bytes::copy_from_slice(&s.passwd);
            self.conns.get_mut(&conn_id).unwrap().session_id = id;
            // Watches belong to a connection; the client sets them again.
            self.watches.remove_session(id);
            if let Some(old) = old.filter(|o| *o != conn_id) {
                if let Some(c) = self.conns.get_mut(&old) {
                    c.session_id = 0;
                }
                self.close_conn(old);
            }
            let resp = ConnectResponse {
                protocol_version: 0,
                timeout_ms: timeout,
                session_id: id,
                passwd,
                read_only: if legacy { None } else { Some(self.read_only()) },
            };
            self.send_connect_response(conn_id, &resp);
        }
    }

    /// The answer to a reconnect whose session is gone: ZooKeeper's expired-session reply.
    fn refuse_session(&mut self, conn_id: u64, legacy: bool) {
        let resp = ConnectResponse {
            protocol_version: 0,
            timeout_ms: 0,
            session_id: 0,
            passwd: Bytes::from(vec![0u8; 16]),
            read_only: if legacy { None } else { Some(false) },
        };
        self.send_connect_response(conn_id, &resp);
        self.close_conn(conn_id);
    }

    fn send_connect_response(&mut self, conn_id: u64, resp: &ConnectResponse) {
        let mut out = Vec::with_capacity(48);
        out.put_i32(0);
        resp.write(&mut out);
        let len = (out.len() - 4) as i32;
        out[..4].copy_from_slice(&len.to_be_bytes());
        self.send(conn_id, Bytes::from(out));
    }

    fn on_closed(&mut self, conn_id: u64) {
        let Some(c) = self.conns.remove(&conn_id) else {
            return;
        };
        if let Some(s) = self.sessions.get_mut(&c.session_id) {
            if s.conn == Some(conn_id) {
                s.conn = None;
                self.watches.remove_session(c.session_id);
            }
        }
    }

    fn expire_sessions(&mut self) {
        if self.role.learner() {
            // Only the leader expires sessions; tell it which ones are alive.
            if !self.touched.is_empty() {
                let mut data = Vec::with_capacity(self.touched.len() * 12);
                for (id, to) in self.touched.drain() {
                    data.put_i64(id);
                    data.put_i32(to);
                }
                let pkt = zab_core::wire::QuorumPacket::Ping {
                    zxid: self.tree.last_processed_zxid(),
                    data: Bytes::from(data),
                };
                self.send_to_driver(DriverMsg::Forward(pkt));
            }
            return;
        }
        if self.role == Role::Looking {
            // Read-only mode: only its own sessions expire, without a transaction.
            let now = Instant::now();
            let expired: Vec<(i64, Option<u64>)> = self
                .sessions
                .iter()
                .filter(|(_, s)| s.local && s.expires_at <= now)
                .map(|(id, s)| (*id, s.conn))
                .collect();
            for (id, conn) in expired {
                tracing::info!("expiring read-only session 0x{id:x}");
                self.end_session(id);
                if let Some(c) = conn {
                    self.close_conn(c);
                }
            }
            return;
        }
        if !matches!(self.role, Role::Standalone | Role::Leading) {
            return;
        }
        let now = Instant::now();
        let expired: Vec<i64> = self
            .sessions
            .iter()
            .filter(|(_, s)| !s.closing && s.expires_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            tracing::info!("expiring session 0x{id:x}");
            self.sessions.get_mut(&id).unwrap().closing = true;
            let zxid = self.next_zxid();
            let body = self.prep.prep_close_session(&self.tree, id, zxid);
            self.propose(
                session_txn(id, zxid, op::CLOSE_SESSION, body),
                Origin::Expire,
            );
        }
    }

    /// ZooKeeper's ContainerManager: delete empty containers that once had a
    /// child, and TTL nodes without children whose TTL has passed.
    fn check_containers(&mut self) {
        if !matches!(self.role, Role::Standalone | Role::Leading) {
            return;
        }
        let now = now_ms();
        let mut candidates: Vec<String> = Vec::new();
        for p in self.tree.containers() {
            if let Some(n) = self.tree.get(p) {
                if n.persisted().cversion > 0 && n.child_count() == 0 {
                    candidates.push(p.clone());
                }
            }
        }
        for p in self.tree.ttls() {
            if let Some(n) = self.tree.get(p) {
                if let EphemeralKind::Ttl(ttl) =
                    EphemeralKind::of(n.persisted().ephemeral_owner, true)
                {
                    if n.child_count() == 0 && now - n.persisted().mtime > ttl {
                        candidates.push(p.clone());
                    }
                }
            }
        }
        candidates.truncate(self.cfg.container_max_per_minute as usize);
        for path in candidates {
            let op_ = Op::DeleteContainer { path };
            let zxid = self.next_zxid();
            let ctx = PrepCtx {
                tree: &self.tree,
                session_id: 0,
                cxid: 0,
                zxid,
                time_ms: now,
                auth: &[],
                session_ok: Ok(()),
                extended_types: self.extended_types,
            };
            let txn = self.prep.prep(&ctx, op::DELETE_CONTAINER, &op_);
            self.propose(txn, Origin::Internal);
        }
    }

    // ---- the pipeline ----

    fn next_zxid(&mut self) -> Zxid {
        self.last_zxid = self.last_zxid.next();
        self.last_zxid
    }

    /// A `createSession` transaction for a session whose client is connected to server
    /// `owner` (recorded when leading).
    fn propose_create_session(&mut self, id: i64, timeout_ms: i32, owner: u64, origin: Origin) {
        let zxid = self.next_zxid();
        let txn = session_txn(
            id,
            zxid,
            op::CREATE_SESSION,
            TxnBody::CreateSession { timeout_ms },
        );
        if self.role == Role::Leading {
            self.owners.insert(id, owner);
        }
        self.propose(txn, origin);
    }

    fn propose(&mut self, txn: Txn, origin: Origin) {
        let bytes = txn.to_bytes();
        if self.driver.is_some() {
            let n = bytes.len();
            self.ensemble.proposal_sizes = Some(match self.ensemble.proposal_sizes {
                None => (n, n, n),
                Some((_, lo, hi)) => (n, lo.min(n), hi.max(n)),
            });
            self.send_to_driver(DriverMsg::Propose(Bytes::from(bytes)));
        } else {
            self.replicator.propose(txn.header.zxid, bytes);
        }
        self.in_flight.push_back(InFlight { txn, origin });
    }

    fn on_request(&mut self, req: Request) {
        self.stats.packets_received += 1;
        let received = Instant::now();
        let session_id = match self.conns.get_mut(&req.conn_id) {
            Some(c) => {
                c.received += 1;
                c.session_id
            }
            None => return,
        };
        if let Some(s) = self.sessions.get_mut(&session_id) {
            s.expires_at = received + Duration::from_millis(s.timeout_ms as u64);
            if self.role.learner() {
                self.touched.insert(session_id, s.timeout_ms);
            }
        }
        let req = Request { session_id, ..req };
        match &req.op {
            // Handled at once, outside the pipeline, as ZooKeeper does.
            Op::Auth(a) => return self.on_auth(&req, a.clone()),
            Op::Sasl(_) => {
                tracing::warn!("sasl authentication is not supported; closing the connection");
                let f = frame(
                    &ReplyHeader {
                        xid: req.xid,
                        zxid: 0,
                        err: ErrorCode::AuthFailed.code(),
                    },
                    None,
                );
                self.send(req.conn_id, f);
                self.close_conn(req.conn_id);
                return;
            }
            _ => {}
        }
        // A write goes in flight at once, as ZooKeeper proposes (or forwards) it before
        // the session's earlier reads are answered; a read waits for the writes its
        // session sent before it. Writes are answered in order, and each held read as
        // soon as the writes before it are, so replies still follow the requests' order.
        match self.sessions.get_mut(&session_id) {
            Some(s)
                if !is_ordered_write(&req, self.role)
                    && (s.writes_in_flight() || !s.queue.is_empty()) =>
            {
                let after = s.writes_started;
                s.queue.push_back(Held {
                    req,
                    received,
                    after,
                });
            }
            _ => self.process(req, received),
        }
    }

    /// Answer the reads a session holds whose earlier writes are answered, in order.
    fn drain_session(&mut self, session_id: i64) {
        loop {
            let Some(s) = self.sessions.get_mut(&session_id) else {
                return;
            };
            match s.queue.front() {
                Some(h) if h.after <= s.writes_done => {}
                _ => return,
            }
            let h = s.queue.pop_front().unwrap();
            self.process(h.req, h.received);
        }
    }

    fn session_ok(&self, session_id: i64) -> Result<(), ErrorCode> {
        match self.sessions.get(&session_id) {
            Some(s) if !s.closing => Ok(()),
            _ => Err(ErrorCode::SessionExpired),
        }
    }

    /// Leader: may a write for `session_id` come through `server`? The first server to
    /// ask after an election owns the session (ZooKeeper's `checkSession`); a reconnect
    /// moves it (REVALIDATE); anyone else gets SessionMoved.
    fn owner_ok(&mut self, session_id: i64, server: u64) -> Result<(), ErrorCode> {
        if self.role != Role::Leading || session_id == 0 {
            return Ok(());
        }
        match self.owners.entry(session_id) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(server);
                Ok(())
            }
            std::collections::hash_map::Entry::Occupied(o) if *o.get() == server => Ok(()),
            std::collections::hash_map::Entry::Occupied(_) => Err(ErrorCode::SessionMoved),
        }
    }

    fn process(&mut self, req: Request, received: Instant) {
        if self.role == Role::Looking {
            // Read-only mode: reads are served below; nothing is written.
            if req.op == Op::CloseSession {
                let conn = req.conn_id;
                let reply = Ok(None);
                let zxid = self.tree.last_processed_zxid().0;
                self.finish(&req, received, req.xid, zxid, reply);
                if self.sessions.get(&req.session_id).is_some_and(|s| s.local) {
                    self.end_session(req.session_id);
                }
                self.close_conn(conn);
                return;
            }
            if is_ordered_write(&req, self.role) {
                let zxid = self.tree.last_processed_zxid().0;
                self.finish(&req, received, req.xid, zxid, Err(ErrorCode::NotReadOnly));
                return;
            }
        }
        if self.role.learner() && is_ordered_write(&req, self.role) {
            let auth = self
                .sessions
                .get(&req.session_id)
                .map(|s| s.auth.clone())
                .unwrap_or_default();
            let pkt = request_packet(req.session_id, req.xid, req.op_type, &req.body, &auth);
            if let Some(s) = self.sessions.get_mut(&req.session_id) {
                s.start_write();
                if req.op == Op::CloseSession {
                    s.closing = true;
                }
            }
            if matches!(req.op, Op::Sync(_)) {
                self.pending_syncs.push_back((req, received));
            } else {
                self.forwarded
                    .insert((req.session_id, req.xid), (req, received));
            }
            self.send_to_driver(DriverMsg::Forward(pkt));
            return;
        }
        if req.op.is_write() {
            let owner_ok = self.owner_ok(req.session_id, self.my_id);
            let zxid = self.next_zxid();
            let empty = Vec::new();
            let auth = self
                .sessions
                .get(&req.session_id)
                .map(|s| &s.auth)
                .unwrap_or(&empty);
            let txn = if req.op == Op::CloseSession {
                let body = self
                    .prep
                    .prep_close_session(&self.tree, req.session_id, zxid);
                Txn {
                    header: TxnHeader {
                        client_id: req.session_id,
                        cxid: req.xid,
                        zxid,
                        time: now_ms(),
                        txn_type: op::CLOSE_SESSION,
                    },
                    body,
                    digest: None,
                }
            } else {
                let session_ok = self.session_ok(req.session_id).and(owner_ok);
                let ctx = PrepCtx {
                    tree: &self.tree,
                    session_id: req.session_id,
                    cxid: req.xid,
                    zxid,
                    time_ms: now_ms(),
                    auth,
                    session_ok,
                    extended_types: self.extended_types,
                };
                self.prep.prep(&ctx, req.op_type, &req.op)
            };
            if let Some(s) = self.sessions.get_mut(&req.session_id) {
                s.start_write();
                if req.op == Op::CloseSession {
                    s.closing = true;
                }
            }
            self.propose(txn, Origin::Client { req, received });
        } else {
            let reply = self.read(&req);
            let zxid = self.tree.last_processed_zxid().0;
            let xid = if req.op == Op::Ping {
                xid::PING
            } else {
                req.xid
            };
            self.finish(&req, received, xid, zxid, reply);
        }
    }

    fn finish(&mut self, req: &Request, received: Instant, xid: i32, zxid: i64, reply: Reply) {
        let (err, b) = match reply {
            Ok(b) => (0, b),
            Err(e) => (e.code(), None),
        };
        let mut out = Vec::with_capacity(32 + b.as_ref().map_or(0, |v| v.len()));
        out.put_i32(0);
        ReplyHeader { xid, zxid, err }.write(&mut out);
        if let Some(b) = b {
            out.extend_from_slice(&b);
        }
        let len = (out.len() - 4) as i32;
        out[..4].copy_from_slice(&len.to_be_bytes());
        let latency = received.elapsed().as_millis() as u64;
        if req.op != Op::Ping {
            let st = &mut self.stats;
            if st.latency_count == 0 || latency < st.min_latency_ms {
                st.min_latency_ms = latency;
            }
            st.max_latency_ms = st.max_latency_ms.max(latency);
            st.total_latency_ms += latency;
            st.latency_count += 1;
        }
        if let Some(c) = self.conns.get_mut(&req.conn_id) {
            c.last_op = short_op_name(req.op_type);
            c.last_cxid = req.xid;
            c.last_zxid = zxid;
            c.last_latency_ms = latency;
            if c.received <= 2 || latency < c.min_latency_ms {
                c.min_latency_ms = latency;
            }
            c.max_latency_ms = c.max_latency_ms.max(latency);
            c.total_latency_ms += latency;
            c.last_response_ms = self.started.elapsed().as_millis() as u64;
        }
        self.send(req.conn_id, Bytes::from(out));
    }

    fn on_committed(&mut self, upto: Zxid) {
        while self
            .in_flight
            .front()
            .is_some_and(|f| f.txn.header.zxid <= upto)
        {
            let f = self.in_flight.pop_front().unwrap();
            self.apply(f);
        }
    }

    /// The final stage: apply a committed transaction, fire watches, reply.
    fn apply(&mut self, f: InFlight) {
        let mut triggers = Vec::new();
        let rc = self.tree.apply(&f.txn, &mut triggers);
        let zxid = f.txn.header.zxid;
        self.txns_since_snapshot += 1;
        self.maybe_snapshot();
        self.prep.applied(zxid);
        for t in &triggers {
            self.deliver(t);
        }
        // Every server learns of sessions from the transactions that
        // create and close them.
        let closed_conn = match &f.txn.body {
            TxnBody::CreateSession { timeout_ms } => {
                let id = f.txn.header.client_id;
                let timeout_ms = *timeout_ms;
                self.sessions
                    .entry(id)
                    .or_insert_with(|| Session::restored(id, timeout_ms, Instant::now()));
                None
            }
            TxnBody::CloseSession { .. } => {
                let id = f.txn.header.client_id;
                let conn = self.sessions.get(&id).and_then(|s| s.conn);
                self.end_session(id);
                conn
            }
            _ => None,
        };
        match f.origin {
            Origin::Client { req, received } => {
                let session_id = req.session_id;
                // ZooKeeper 3.8 answers a top-level check that passed with nothing.
                let silent = matches!(req.op, Op::Check(_)) && f.txn.header.txn_type == op::CHECK;
                let reply = self.write_reply(&req, &f.txn, rc);
                if matches!(reply, Err(ErrorCode::SessionMoved)) {
                    // A connection-level error: ZooKeeper closes the connection
                    // without an answer, and so do we (ZOOKEEPER-710).
                    tracing::info!("session 0x{:x} moved to another server", req.session_id);
                    self.close_conn(req.conn_id);
                } else if !silent {
                    self.finish(&req, received, req.xid, zxid.0, reply);
                }
                if req.op != Op::CloseSession {
                    if let Some(s) = self.sessions.get_mut(&session_id) {
                        s.finish_write();
                        self.drain_session(session_id);
                    }
                }
            }
            Origin::CreateSession { conn_id, legacy } => {
                let session_id = f.txn.header.client_id;
                let Some(s) = self.sessions.get_mut(&session_id) else {
                    return;
                };
                s.finish_write();
                let resp = ConnectResponse {
                    protocol_version: 0,
                    timeout_ms: s.timeout_ms,
                    session_id,
                    passwd: Bytes::copy_from_slice(&s.passwd),
                    read_only: if legacy { None } else { Some(false) },
                };
                tracing::debug!(
                    "established session 0x{session_id:x} with timeout {}",
                    s.timeout_ms
                );
                self.send_connect_response(conn_id, &resp);
                self.drain_session(session_id);
            }
            Origin::Expire | Origin::Internal | Origin::Remote => {}
        }
        if let Some(c) = closed_conn {
            self.close_conn(c);
        }
    }

    fn end_session(&mut self, session_id: i64) {
        self.sessions.remove(&session_id);
        self.watches.remove_session(session_id);
    }

    fn deliver(&mut self, t: &Trigger) {
        let (acl, parent_acl) = match t {
            Trigger::Created {
                acl, parent_acl, ..
            }
            | Trigger::Deleted {
                acl, parent_acl, ..
            } => (acl.clone(), Some(parent_acl.clone())),
            Trigger::DataChanged { acl, .. } => (acl.clone(), None),
        };
        for (n, use_parent) in self.watches.fire(t) {
            let Some(s) = self.sessions.get(&n.session_id) else {
                continue;
            };
            let Some(conn) = s.conn else { continue };
            let decide = if use_parent {
                parent_acl.as_deref().unwrap_or(&acl)
            } else {
                &acl
            };
            // A watcher never learns about a node it may not read.
            if check_acl(decide, perms::READ, &s.auth).is_err() {
                continue;
            }
            self.send_event(conn, n.event_type, &n.path);
        }
    }

    fn send_event(&mut self, conn: u64, event_type: i32, path: &str) {
        let ev = WatcherEvent {
            event_type,
            state: keeper_state::SYNC_CONNECTED,
            path: path.to_owned(),
        };
        let f = frame(
            &ReplyHeader {
                xid: xid::NOTIFICATION,
                zxid: -1,
                err: 0,
            },
            Some(&|o: &mut Vec<u8>| ev.write(o)),
        );
        self.send(conn, f);
    }

    fn write_reply(&self, req: &Request, txn: &Txn, rc: TxnResult) -> Reply {
        if txn.header.txn_type == op::ERROR {
            return Err(ErrorCode::from_code(rc.err).unwrap_or(ErrorCode::SystemError));
        }
        if rc.err != 0 {
            return Err(ErrorCode::from_code(rc.err).unwrap_or(ErrorCode::SystemError));
        }
        match &req.op {
            Op::Create { op_type, .. } if *op_type == op::CREATE => {
                body(&CreateResponse { path: rc.path })
            }
            Op::Create { .. } | Op::CreateTtl(_) => body(&Create2Response {
                path: rc.path,
                stat: rc.stat.unwrap_or_default(),
            }),
            Op::Delete(_) | Op::DeleteContainer { .. } | Op::CloseSession => Ok(None),
            Op::SetData(_) | Op::SetAcl(_) => body(&StatResponse {
                stat: rc.stat.unwrap_or_default(),
            }),
            Op::Multi(_) => {
                let results = rc
                    .multi
                    .into_iter()
                    .map(|sub| match sub.txn_type {
                        op::CHECK => OpResult::Check,
                        op::CREATE => OpResult::Create { path: sub.path },
                        op::CREATE2 | op::CREATE_TTL | op::CREATE_CONTAINER => OpResult::Create2 {
                            path: sub.path,
                            stat: sub.stat.unwrap_or_default(),
                        },
                        op::DELETE | op::DELETE_CONTAINER => OpResult::Delete,
                        op::SET_DATA => OpResult::SetData {
                            stat: sub.stat.unwrap_or_default(),
                        },
                        _ => OpResult::Error { err: sub.err },
                    })
                    .collect();
                body(&MultiResponse { results })
            }
            _ => Ok(None),
        }
    }

    fn on_auth(&mut self, req: &Request, a: AuthPacket) {
        let Some(ip) = self.conns.get(&req.conn_id).map(|c| c.handle.addr.ip()) else {
            return;
        };
        let outcome = auth::authenticate(&a.scheme, &a.auth, self.cfg.super_digest.as_deref(), ip);
        match outcome {
            AuthOutcome::Added(ids) => {
                if let Some(s) = self.sessions.get_mut(&req.session_id) {
                    for id in ids {
                        if !s.auth.contains(&id) {
                            s.auth.push(id);
                        }
                    }
                }
                let f = frame(
                    &ReplyHeader {
                        xid: xid::AUTH,
                        zxid: 0,
                        err: 0,
                    },
                    None,
                );
                self.send(req.conn_id, f);
            }
            AuthOutcome::Failed => {
                tracing::warn!("authentication with scheme {:?} failed", a.scheme);
                let f = frame(
                    &ReplyHeader {
                        xid: xid::AUTH,
                        zxid: 0,
                        err: ErrorCode::AuthFailed.code(),
                    },
                    None,
                );
                self.send(req.conn_id, f);
                self.close_conn(req.conn_id);
            }
        }
    }

    // ---- reads (the final stage for requests without a transaction) ----

    fn auth_of(&self, session_id: i64) -> &[Id] {
        self.sessions
            .get(&session_id)
            .map(|s| s.auth.as_slice())
            .unwrap_or(&[])
    }

    fn get_data(
        &mut self,
        session_id: i64,
        path: &str,
        watch: bool,
    ) -> Result<(Option<Bytes>, Stat), ErrorCode> {
        let n = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        check_acl(n.acl(), perms::READ, self.auth_of(session_id))?;
        let out = (n.data_opt().map(Bytes::copy_from_slice), n.stat());
        if watch {
            self.watches.add_data_watch(path, session_id);
        }
        Ok(out)
    }

    fn get_children(
        &mut self,
        session_id: i64,
        path: &str,
        watch: bool,
    ) -> Result<(Vec<String>, Stat), ErrorCode> {
        let n = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        check_acl(n.acl(), perms::READ, self.auth_of(session_id))?;
        let out = (n.children().map(str::to_owned).collect(), n.stat());
        if watch {
            self.watches.add_child_watch(path, session_id);
        }
        Ok(out)
    }

    fn read(&mut self, req: &Request) -> Reply {
        if req.op != Op::Ping {
            self.session_ok(req.session_id)?;
        }
        let sid = req.session_id;
        match &req.op {
            Op::Ping => Ok(None),
            Op::Exists(r) => {
                if r.path.contains('\0') {
                    return Err(ErrorCode::BadArguments);
                }
                if let Some(n) = self.tree.get(&r.path) {
                    check_acl(n.acl(), perms::READ, self.auth_of(sid))?;
                }
                if r.watch {
                    self.watches.add_data_watch(&r.path, sid);
                }
                let stat = self.tree.get(&r.path).ok_or(ErrorCode::NoNode)?.stat();
                body(&StatResponse { stat })
            }
            Op::GetData(r) => {
                let (data, stat) = self.get_data(sid, &r.path, r.watch)?;
                body(&GetDataResponse { data, stat })
            }
            Op::GetChildren(r) => {
                let (children, _) = self.get_children(sid, &r.path, r.watch)?;
                body(&ChildrenResponse { children })
            }
            Op::GetChildren2(r) => {
                let (children, stat) = self.get_children(sid, &r.path, r.watch)?;
                body(&GetChildren2Response { children, stat })
            }
            Op::GetAcl(r) => {
                let n = self.tree.get(&r.path).ok_or(ErrorCode::NoNode)?;
                let ids = self.auth_of(sid);
                check_acl(n.acl(), perms::READ | perms::ADMIN, ids)?;
                let mut acl = n.acl().acl.clone();
                if check_acl(n.acl(), perms::ADMIN, ids).is_err() {
                    // Without ADMIN a client does not see digest hashes.
                    for a in &mut acl {
                        if a.id.scheme == "digest" {
                            let user = a.id.id.split(':').next().unwrap_or("").to_owned();
                            a.id.id = format!("{user}:x");
                        }
                    }
                }
                body(&GetAclResponse {
                    acl,
                    stat: n.stat(),
                })
            }
            Op::Sync(r) => body(&PathResponse {
                path: r.path.clone(),
            }),
            Op::GetAllChildrenNumber(r) => {
                let n = self.tree.get(&r.path).ok_or(ErrorCode::NoNode)?;
                check_acl(n.acl(), perms::READ, self.auth_of(sid))?;
                body(&IntResponse {
                    value: self.tree.all_children_number(&r.path),
                })
            }
            Op::GetEphemerals(r) => {
                // As ZooKeeper: a blank or "/" prefix (trimmed) means all; any
                // other is matched as sent, untrimmed.
                let all = matches!(r.path.trim(), "" | "/");
                let children: Vec<String> = self
                    .tree
                    .ephemerals(sid)
                    .filter(|p| all || p.starts_with(r.path.as_str()))
                    .cloned()
                    .collect();
                body(&ChildrenResponse { children })
            }
            Op::MultiRead(m) => {
                let mut results = Vec::with_capacity(m.ops.len());
                for o in &m.ops {
                    let res = match o {
                        MultiOp::GetChildren(r) => self
                            .get_children(sid, &r.path, r.watch)
                            .map(|(children, _)| OpResult::GetChildren { children }),
                        MultiOp::GetData(r) => self
                            .get_data(sid, &r.path, r.watch)
                            .map(|(data, stat)| OpResult::GetData { data, stat }),
                        // ZooKeeper fails the whole request on other ops.
                        _ => return Err(ErrorCode::MarshallingError),
                    };
                    results.push(res.unwrap_or_else(|e| OpResult::Error { err: e.code() }));
                }
                body(&MultiResponse { results })
            }
            Op::CheckWatches(r) | Op::RemoveWatches(r) => {
                // ZooKeeper fails to read a type it does not know.
                let kind =
                    WatcherKind::from_wire(r.watcher_type).ok_or(ErrorCode::MarshallingError)?;
                let found = if matches!(req.op, Op::CheckWatches(_)) {
                    self.watches.contains(&r.path, sid, kind)
                } else {
                    self.watches.remove(&r.path, sid, kind)
                };
                if found {
                    Ok(None)
                } else {
                    Err(ErrorCode::NoWatcher)
                }
            }
            Op::SetWatches(w) => {
                self.set_watches(req.conn_id, sid, w);
                Ok(None)
            }
            Op::AddWatch(r) => {
                let recursive = match r.mode {
                    add_watch_mode::PERSISTENT => false,
                    add_watch_mode::PERSISTENT_RECURSIVE => true,
                    _ => return Err(ErrorCode::BadArguments),
                };
                self.watches.add_persistent(&r.path, sid, recursive);
                body(&IntResponse { value: 0 })
            }
            Op::WhoAmI => {
                let client_info = self
                    .auth_of(sid)
                    .iter()
                    .map(|id| ClientInfo {
                        auth_scheme: id.scheme.clone(),
                        user: if id.scheme == "digest" {
                            id.id.split(':').next().unwrap_or("").to_owned()
                        } else {
                            id.id.clone()
                        },
                    })
                    .collect();
                body(&WhoAmIResponse { client_info })
            }
            Op::Unimplemented(_) => Err(ErrorCode::Unimplemented),
            _ => Err(ErrorCode::Unimplemented),
        }
    }

    /// ZooKeeper's `DataTree.setWatches`: re-register watches after a
    /// reconnect and fire at once what changed since `relative_zxid`.
    /// An event about a node the session may not read is not sent (a
    /// watcher never learns about such a node); its watch is armed instead.
    fn set_watches(&mut self, conn: u64, sid: i64, w: &SetWatches2) {
        let rz = w.relative_zxid;
        let auth = self.auth_of(sid).to_vec();
        let readable =
            |n: &crate::tree::NodeRef<'_>| check_acl(n.acl(), perms::READ, &auth).is_ok();
        let mut events: Vec<(i32, String)> = Vec::new();
        for p in &w.data_watches {
            match self.tree.get(p) {
                None => events.push((event_type::NODE_DELETED, p.clone())),
                Some(n) if n.persisted().mzxid > rz && readable(&n) => {
                    events.push((event_type::NODE_DATA_CHANGED, p.clone()))
                }
                Some(_) => self.watches.add_data_watch(p, sid),
            }
        }
        for p in &w.exist_watches {
            match self.tree.get(p) {
                Some(n) if readable(&n) => events.push((event_type::NODE_CREATED, p.clone())),
                _ => self.watches.add_data_watch(p, sid),
            }
        }
        for p in &w.child_watches {
            match self.tree.get(p) {
                None => events.push((event_type::NODE_DELETED, p.clone())),
                Some(n) if n.persisted().pzxid > rz && readable(&n) => {
                    events.push((event_type::NODE_CHILDREN_CHANGED, p.clone()))
                }
                Some(_) => self.watches.add_child_watch(p, sid),
            }
        }
        for p in &w.persistent_watches {
            self.watches.add_persistent(p, sid, false);
        }
        for p in &w.persistent_recursive_watches {
            self.watches.add_persistent(p, sid, true);
        }
        for (t, p) in events {
            self.send_event(conn, t, &p);
        }
    }

    // ---- the ensemble ----

    fn on_peer(&mut self, m: PeerMsg) {
        match m {
            PeerMsg::Role { role, epoch } => self.become_role(role, epoch),
            PeerMsg::Learners(l) => self.ensemble.learners = l,
            PeerMsg::Revalidate { from, data } => self.on_revalidate(from, &data),
            PeerMsg::Revalidated(data) => self.on_revalidated(&data),
            PeerMsg::Committed(entries) => {
                for (z, b) in entries {
                    self.apply_committed(z, b);
                }
            }
            PeerMsg::Remote { from, data, auth } => self.on_remote(from, data, auth),
            PeerMsg::Touch(data) => {
                let now = Instant::now();
                let mut r = zab_core::jute::JuteReader::new(&data);
                while let (Ok(id), Ok(_to)) = (r.read_i64(), r.read_i32()) {
                    if let Some(s) = self.sessions.get_mut(&id) {
                        s.expires_at = now + Duration::from_millis(s.timeout_ms as u64);
                    }
                }
            }
            PeerMsg::SyncDone => {
                if let Some((req, received)) = self.pending_syncs.pop_front() {
                    let Op::Sync(r) = &req.op else { return };
                    let reply = body(&PathResponse {
                        path: r.path.clone(),
                    });
                    let zxid = self.tree.last_processed_zxid().0;
                    self.finish(&req, received, req.xid, zxid, reply);
                    if let Some(s) = self.sessions.get_mut(&req.session_id) {
                        s.finish_write();
                    }
                    self.drain_session(req.session_id);
                }
            }
            PeerMsg::Snapshot { reply } => {
                let _ = reply.send(self.serialize_tree());
            }
            PeerMsg::ReplaceTree { tree, sessions } => {
                self.tree = *tree;
                self.prep = Prep::default();
                self.last_zxid = self.tree.last_processed_zxid();
                let now = Instant::now();
                self.sessions.retain(|id, _| sessions.contains_key(id));
                for (id, timeout_ms) in sessions {
                    self.sessions
                        .entry(id)
                        .or_insert_with(|| Session::restored(id, timeout_ms, now));
                }
            }
        }
    }

    fn become_role(&mut self, role: Role, epoch: u64) {
        tracing::info!("role: {} (epoch {epoch})", role.name());
        let was = self.role;
        self.role = role;
        if role == Role::Looking && was != Role::Looking {
            self.looking_since = Instant::now();
        }
        // Read-only sessions do not outlive the mode.
        self.sessions.retain(|_, s| !s.local);
        if role != Role::Leading {
            self.ensemble = EnsembleStats::default();
        } else if was != Role::Leading {
            self.ensemble.leading_since = Some(Instant::now());
        }
        if was != role || role == Role::Leading {
            // Clients reconnect (to us or to another server) and re-send
            // what was not answered; nothing half-done survives a change.
            let conns: Vec<u64> = self.conns.keys().copied().collect();
            for c in conns {
                self.close_conn(c);
            }
            self.in_flight.clear();
            self.forwarded.clear();
            self.connecting.clear();
            self.revalidating.clear();
            self.owners.clear();
            self.pending_syncs.clear();
            self.touched.clear();
            self.prep = Prep::default();
            let now = Instant::now();
            for s in self.sessions.values_mut() {
                s.queue.clear();
                s.writes_done = s.writes_started;
                s.closing = false;
                s.conn = None;
                s.expires_at = now + Duration::from_millis(s.timeout_ms as u64);
            }
        }
        self.last_zxid = if role == Role::Leading {
            Zxid::new(zab_core::Epoch(epoch), 0)
        } else {
            self.tree.last_processed_zxid()
        };
    }

    fn apply_committed(&mut self, z: Zxid, data: Bytes) {
        if z <= self.tree.last_processed_zxid() {
            // Already in the tree (replayed from our own log at start-up).
            if self
                .in_flight
                .front()
                .is_some_and(|f| f.txn.header.zxid == z)
            {
                self.in_flight.pop_front();
            }
            return;
        }
        if self
            .in_flight
            .front()
            .is_some_and(|f| f.txn.header.zxid == z)
        {
            let f = self.in_flight.pop_front().unwrap();
            self.apply(f);
            return;
        }
        let txn = match Txn::from_bytes(&data) {
            Ok(t) => t,
            Err(e) => {
                // A committed transaction we cannot read: going on would fork the tree.
                tracing::error!("committed transaction {z} does not decode: {e}");
                eprintln!("zk-server: fatal: committed transaction {z} does not decode: {e}");
                std::process::exit(crate::EXIT_STORAGE);
            }
        };
        let key = (txn.header.client_id, txn.header.cxid);
        let origin = if txn.header.txn_type == op::CREATE_SESSION {
            match self.connecting.remove(&txn.header.client_id) {
                Some((conn_id, legacy)) => Origin::CreateSession { conn_id, legacy },
                None => Origin::Remote,
            }
        } else {
            match self.forwarded.remove(&key) {
                Some((req, received)) => Origin::Client { req, received },
                None => Origin::Remote,
            }
        };
        self.apply(InFlight { txn, origin });
    }

    /// Leader: a learner's client reconnected with a session (`LearnerHandler`'s
    /// REVALIDATE): valid if it lives; the learner owns it from now on.
    fn on_revalidate(&mut self, from: u64, data: &[u8]) {
        let mut r = zab_core::jute::JuteReader::new(data);
        let (Ok(id), Ok(timeout)) = (r.read_i64(), r.read_i32()) else {
            tracing::warn!("learner {from} sent a malformed REVALIDATE");
            return;
        };
        let valid = match self.sessions.get_mut(&id) {
            Some(s) if !s.closing => {
                s.expires_at = Instant::now() + Duration::from_millis(timeout.max(0) as u64);
                true
            }
            _ => false,
        };
        if valid {
            self.owners.insert(id, from);
        }
        let mut out = Vec::with_capacity(9);
        out.put_i64(id);
        out.put_u8(valid as u8);
        self.send_to_driver(DriverMsg::Reply {
            to: from,
            msg: zab_core::wire::QuorumPacket::Revalidate {
                data: Bytes::from(out),
            },
        });
    }

    /// Learner: the leader answered a REVALIDATE; finish the reconnect it held.
    fn on_revalidated(&mut self, data: &[u8]) {
        if data.len() < 9 {
            return;
        }
        let id = i64::from_be_bytes(data[0..8].try_into().unwrap());
        let valid = data[8] != 0;
        let Some((conn_id, timeout, legacy)) = self.revalidating.remove(&id) else {
            return;
        };
        if !self.conns.contains_key(&conn_id) {
            return;
        }
        let known = self.sessions.get(&id).is_some_and(|s| !s.closing);
        if valid && known {
            self.finish_reconnect(conn_id, id, timeout, legacy);
        } else {
            tracing::info!("session 0x{id:x} is not valid at the leader, probably expired");
            self.refuse_session(conn_id, legacy);
        }
    }

    /// Leader: a learner's REQUEST (`sessionId cxid type request-bytes`).
    fn on_remote(&mut self, from: u64, data: Bytes, auth: Vec<Id>) {
        if self.role != Role::Leading || data.len() < 16 {
            return;
        }
        let session_id = i64::from_be_bytes(data[0..8].try_into().unwrap());
        let cxid = i32::from_be_bytes(data[8..12].try_into().unwrap());
        let op_type = i32::from_be_bytes(data[12..16].try_into().unwrap());
        let body = data.slice(16..);
        if let Some(s) = self.sessions.get_mut(&session_id) {
            s.expires_at = Instant::now() + Duration::from_millis(s.timeout_ms as u64);
        }
        match op_type {
            op::CREATE_SESSION => {
                let timeout = if body.len() >= 4 {
                    i32::from_be_bytes(body[0..4].try_into().unwrap())
                } else {
                    self.cfg.min_session_timeout_ms
                };
                self.propose_create_session(session_id, timeout, from, Origin::Remote);
            }
            op::SYNC => self.send_to_driver(DriverMsg::Sync { learner: from }),
            _ => {
                let op_ = match Op::parse(op_type, &body) {
                    Ok(o) if o.is_write() => o,
                    Ok(_) => return,
                    Err(e) => {
                        tracing::warn!("learner {from} forwarded a malformed request: {e}");
                        return;
                    }
                };
                let owner_ok = self.owner_ok(session_id, from);
                let zxid = self.next_zxid();
                let txn = if op_ == Op::CloseSession {
                    if let Some(s) = self.sessions.get_mut(&session_id) {
                        s.closing = true;
                    }
                    let b = self.prep.prep_close_session(&self.tree, session_id, zxid);
                    Txn {
                        header: TxnHeader {
                            client_id: session_id,
                            cxid,
                            zxid,
                            time: now_ms(),
                            txn_type: op::CLOSE_SESSION,
                        },
                        body: b,
                        digest: None,
                    }
                } else {
                    let session_ok = self.session_ok(session_id).and(owner_ok);
                    let ctx = PrepCtx {
                        tree: &self.tree,
                        session_id,
                        cxid,
                        zxid,
                        time_ms: now_ms(),
                        auth: &auth,
                        session_ok,
                        extended_types: self.extended_types,
                    };
                    self.prep.prep(&ctx, op_type, &op_)
                };
                self.propose(txn, Origin::Remote);
            }
        }
    }

    /// The whole tree as a snapshot file's bytes (for a SNAP sync).
    fn serialize_tree(&self) -> Vec<u8> {
        let sessions: Vec<(i64, i32)> = self
            .sessions
            .iter()
            .map(|(id, s)| (*id, s.timeout_ms))
            .collect();
        let dir = crate::persist::snap_dir(&self.cfg).join("transfer");
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::error!("cannot create {}: {e}", dir.display());
            return Vec::new();
        }
        let mut snap = FuzzySnapshot::start(&self.tree, sessions);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let zxid = snap.zxid;
        let d2 = dir.clone();
        let writer = std::thread::spawn(move || write_snapshot(&d2, zxid, rx));
        while !snap.done() {
            if tx.send(snap.step(&self.tree, 4096)).is_err() {
                break;
            }
        }
        drop(tx);
        let bytes = match writer.join() {
            Ok(Ok(p)) => std::fs::read(&p).unwrap_or_default(),
            Ok(Err(e)) => {
                tracing::error!("cannot serialize the tree for a learner: {e}");
                Vec::new()
            }
            Err(_) => Vec::new(),
        };
        let _ = std::fs::remove_dir_all(&dir);
        bytes
    }

    // ---- snapshots and purge ----

    fn next_random(&mut self) -> u64 {
        // xorshift64*: seeded once per process; only spreads snapshot times.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn maybe_snapshot(&mut self) {
        if self.snapshot.is_some() || self.cfg.data_dir.as_os_str().is_empty() {
            return;
        }
        let r = self.next_random();
        if !zab_storage::should_snapshot(self.txns_since_snapshot, self.cfg.snap_count, r) {
            return;
        }
        self.txns_since_snapshot = 0;
        let sessions = self
            .sessions
            .iter()
            .map(|(id, s)| (*id, s.timeout_ms))
            .collect();
        let snap = FuzzySnapshot::start(&self.tree, sessions);
        let zxid = snap.zxid;
        // The next transactions go to a new log segment.
        self.replicator.roll_log();
        let (tx, rx) = std::sync::mpsc::sync_channel(64);
        let dir = crate::persist::snap_dir(&self.cfg);
        std::thread::Builder::new()
            .name("snapshot".into())
            .spawn(move || match write_snapshot(&dir, zxid, rx) {
                Ok(p) => tracing::info!("snapshot {} written", p.display()),
                Err(e) => tracing::error!("snapshot at {zxid} failed: {e}"),
            })
            .expect("spawn snapshot thread");
        tracing::info!("taking a snapshot at zxid {zxid}");
        self.snapshot = Some(SnapshotJob {
            snap,
            tx,
            pending: None,
        });
    }

    /// Capture another slice of the tree for the snapshot in progress and
    /// hand it to the writer, one slice per turn so requests keep flowing.
    fn snapshot_step(&mut self) {
        let Some(job) = self.snapshot.as_mut() else {
            return;
        };
        let batch = match job.pending.take() {
            Some(b) => b,
            None => job.snap.step(&self.tree, 2048),
        };
        match job.tx.try_send(batch) {
            Ok(()) if job.snap.done() => self.snapshot = None,
            Ok(()) => {}
            Err(std::sync::mpsc::TrySendError::Full(b)) => job.pending = Some(b),
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                tracing::error!("snapshot writer stopped; abandoning the snapshot");
                self.snapshot = None;
            }
        }
    }

    fn autopurge(&mut self) {
        let sdir = crate::persist::snap_dir(&self.cfg);
        let ldir = crate::persist::log_dir(&self.cfg);
        let keep = self.cfg.autopurge_snap_retain_count.max(3) as usize;
        tokio::task::spawn_blocking(move || match zab_storage::purge(&sdir, &ldir, keep) {
            Ok(p) => tracing::info!("autopurge: {p:?}"),
            Err(e) => tracing::warn!("autopurge failed: {e}"),
        });
    }

    // ---- figures for the four-letter words ----

    pub(crate) fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// The zxid `srvr` shows: a leader's last issued (`epoch << 32` right after its
    /// election, as ZooKeeper's), anyone else's last applied.
    pub(crate) fn zxid_for_stats(&self) -> Zxid {
        if self.role == Role::Leading {
            self.last_zxid.max(self.tree.last_processed_zxid())
        } else {
            self.tree.last_processed_zxid()
        }
    }

    pub(crate) fn outstanding(&self) -> usize {
        self.in_flight.len() + self.sessions.values().map(|s| s.queue.len()).sum::<usize>()
    }

    pub(crate) fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub(crate) fn reset_stats(&mut self) {
        self.stats = ServerStats {
            packets_received: 0,
            packets_sent: 0,
            ..Default::default()
        };
    }

    pub(crate) fn reset_conn_stats(&mut self) {
        for c in self.conns.values_mut() {
            c.received = 0;
            c.sent = 0;
            c.min_latency_ms = 0;
            c.max_latency_ms = 0;
            c.total_latency_ms = 0;
            c.last_op = "NA";
            c.last_cxid = -1;
            c.last_zxid = -1;
            c.last_latency_ms = 0;
            c.last_response_ms = 0;
        }
    }

    /// One line per connection, in ZooKeeper's `cons` format.
    pub(crate) fn connection_lines(&self, brief: bool) -> Vec<String> {
        let mut ids: Vec<&u64> = self.conns.keys().collect();
        ids.sort();
        ids.into_iter()
            .map(|id| {
                let c = &self.conns[id];
                let queued = c.handle.tx.max_capacity() - c.handle.tx.capacity();
                let mut s = format!(
                    " /{}:{}[1](queued={},recved={},sent={}",
                    c.handle.addr.ip(),
                    c.handle.addr.port(),
                    queued,
                    c.received,
                    c.sent
                );
                if !brief && c.session_id != 0 {
                    let timeout = self.sessions.get(&c.session_id).map_or(0, |s| s.timeout_ms);
                    let avg = if c.received > 1 {
                        c.total_latency_ms / (c.received - 1).max(1)
                    } else {
                        0
                    };
                    let est = now_ms() - c.established.elapsed().as_millis() as i64;
                    s.push_str(&format!(
                        ",sid=0x{:x},lop={},est={est}",
                        c.session_id, c.last_op
                    ));
                    // As ZooKeeper's dumpConnectionInfo: no timeout before the
                    // session has one, no lcxid after a reset.
                    if timeout != 0 {
                        s.push_str(&format!(",to={timeout}"));
                    }
                    if c.last_cxid >= 0 {
                        s.push_str(&format!(",lcxid=0x{:x}", c.last_cxid));
                    }
                    s.push_str(&format!(
                        ",lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
                        c.last_zxid,
                        c.last_response_ms,
                        c.last_latency_ms,
                        c.min_latency_ms,
                        avg,
                        c.max_latency_ms
                    ));
                }
                s.push(')');
                s
            })
            .collect()
    }

    /// Every session with the wall-clock time (ms) it expires at unless it
    /// hears from its client (dump).
    pub(crate) fn session_expiries(&self) -> Vec<(i64, i64)> {
        let (now, wall) = (Instant::now(), now_ms());
        let mut v: Vec<(i64, i64)> = self
            .sessions
            .iter()
            .map(|(id, s)| {
                let left = s.expires_at.saturating_duration_since(now).as_millis() as i64;
                (*id, wall + left)
            })
            .collect();
        v.sort();
        v
    }

    /// Every connection with its session (0: none yet) and when that session
    /// expires (dump).
    pub(crate) fn connection_sessions(&self) -> Vec<(SocketAddr, i64, i64)> {
        let expiries: HashMap<i64, i64> = self.session_expiries().into_iter().collect();
        let mut v: Vec<(SocketAddr, i64, i64)> = self
            .conns
            .values()
            .map(|c| {
                let at = expiries.get(&c.session_id).copied().unwrap_or_else(now_ms);
                (c.handle.addr, c.session_id, at)
            })
            .collect();
        v.sort();
        v
    }
}

/// Whether a request must be ordered like a write on this server: writes,
/// and on a learner also `sync` (answered by the leader).
fn is_ordered_write(req: &Request, role: Role) -> bool {
    req.op.is_write() || (role.learner() && matches!(req.op, Op::Sync(_)))
}

/// A learner's REQUEST packet: `sessionId cxid type request-bytes`, with the
/// session's identities so that the leader checks ACLs as we would.
fn request_packet(
    session_id: i64,
    cxid: i32,
    op_type: i32,
    body: &[u8],
    auth: &[Id],
) -> zab_core::wire::QuorumPacket {
    let mut data = Vec::with_capacity(16 + body.len());
    data.put_i64(session_id);
    data.put_i32(cxid);
    data.put_i32(op_type);
    data.extend_from_slice(body);
    zab_core::wire::QuorumPacket::Request {
        data: Bytes::from(data),
        authinfo: auth.to_vec(),
    }
}

/// A session's password. Every server of an ensemble must derive the same one
/// (a client may reconnect anywhere), so it depends on the session id and a
/// fixed secret only, as in ZooKeeper.
fn password(session_id: i64) -> [u8; 16] {
    const SECRET: &[u8] = b"zk-rs session password v1";
    let mut h = Sha1::new();
    h.update(session_id.to_be_bytes());
    h.update(SECRET);
    let d = h.finalize();
    let mut p = [0u8; 16];
    p.copy_from_slice(&d[..16]);
    p
}

/// ZooKeeper's short op names, as `cons` shows them in `lop`.
fn short_op_name(op_type: i32) -> &'static str {
    match op_type {
        op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => "CREA",
        op::DELETE | op::DELETE_CONTAINER => "DELE",
        op::EXISTS => "EXIS",
        op::GET_DATA => "GETD",
        op::SET_DATA => "SETD",
        op::GET_ACL => "GETA",
        op::SET_ACL => "SETA",
        op::GET_CHILDREN => "GETC",
        op::GET_CHILDREN2 => "GETC",
        op::SYNC => "SYNC",
        op::PING => "PING",
        op::MULTI => "MULT",
        op::MULTI_READ => "MLTR",
        op::SET_WATCHES | op::SET_WATCHES2 => "SETW",
        op::CHECK_WATCHES => "CHKW",
        op::REMOVE_WATCHES => "REMW",
        op::ADD_WATCH => "ADDW",
        op::GET_EPHEMERALS => "GETE",
        op::GET_ALL_CHILDREN_NUMBER => "GETACN",
        op::WHO_AM_I => "HOMI",
        op::CLOSE_SESSION => "CLOS",
        op::RECONFIG => "RECO",
        _ => "NA",
    }
}
