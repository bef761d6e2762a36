//! An asynchronous ZooKeeper client on tokio, speaking the same wire protocol
//! as Apache ZooKeeper's Java client. Used by `zk-cli`, the load generator and
//! the tests.
//!
//! It owns: the connection to one server of a connect string at a time, the
//! 45-byte handshake, session keep-alive (a ping every third of the negotiated
//! timeout), xid sequencing, pipelining (any number of outstanding requests;
//! ZooKeeper answers a connection's requests in order, so replies are matched
//! to a FIFO of pending requests and their xids checked), reconnection to the
//! next host keeping the session (ConnectRequest with the session id, password
//! and last zxid seen, then the auth packets and `SetWatches2` to restore
//! watches), and the watch events and session state changes, delivered on one
//! bounded channel as [`WatchedEvent`]s.
//!
//! A connect string may end in a chroot (`host:port/app`), as with the Java
//! client: every path is prefixed with it on the way out (`/` is the chroot
//! itself) and stripped from the paths that come back (created paths, sync,
//! watch events). Like Java, `getEphemerals` and `/zookeeper/config` are not
//! chrooted.
//!
//! [`Client::connect_with`] waits for a session and holds requests made during
//! a later reconnect until it succeeds. [`Client::start`] behaves as the Java
//! client: it keeps connecting in the background and fails waiting requests
//! with a connection loss whenever a round over the hosts fails.
//!
//! It leaves to the caller: what to do with events (the channel must be
//! drained, or the connection task waits for room) and retries of operations
//! that failed with a connection loss.
//!
//! ```text
//! request frame := int(len) int(xid) int(type) body     ; built once by the caller,
//!                                                        ; the xid patched in by the task
//! reply frame   := int(len) int(xid) long(zxid) int(err) [body]
//! ```

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout, Instant};
use zab_core::jute::{JuteError, Record};
use zab_core::records::{Acl, Stat};

use crate::proto::{
    add_watch_mode, create_mode, event_type, keeper_state, op, watcher_type, xid, AddWatchRequest,
    AuthPacket, ChildrenResponse, ClientInfo, ConnectRequest, ConnectResponse, Create2Response,
    ErrorCode, GetAclResponse, GetChildren2Response, GetDataResponse, IntResponse, MultiOp,
    MultiRequest, MultiResponse, OpResult, PathRequest, ReconfigRequest, ReplyHeader,
    SetAclRequest, SetWatches2, StatResponse, WatchesRequest, WhoAmIResponse,
};

/// Largest reply frame accepted (ZooKeeper's default `jute.maxbuffer` plus slack).
const MAX_FRAME: usize = 0xfffff + 1024;
/// Pending requests queued to the connection task.
const REQUEST_QUEUE: usize = 4096;
/// Watch events and state changes buffered for the application.
const EVENT_QUEUE: usize = 4096;

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a result code other than `Ok`.
    #[error("{code:?} for {path}")]
    Server { code: ErrorCode, path: String },
    #[error("connection lost before the reply arrived")]
    ConnectionLoss,
    #[error("session expired")]
    SessionExpired,
    #[error("authentication failed")]
    AuthFailed,
    #[error("client is closed")]
    Closed,
    #[error("no server of {0} could be reached")]
    NoServer(String),
    #[error("invalid connect string {0:?}")]
    BadConnectString(String),
    #[error("malformed reply: {0}")]
    Protocol(#[from] JuteError),
    #[error("unexpected reply xid {got}, expected {expected}")]
    XidMismatch { expected: i32, got: i32 },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl ClientError {
    /// The server's result code, if this is one (connection loss and session
    /// expiry map to their ZooKeeper codes too).
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Server { code, .. } => Some(*code),
            ClientError::ConnectionLoss => Some(ErrorCode::ConnectionLoss),
            ClientError::SessionExpired => Some(ErrorCode::SessionExpired),
            ClientError::AuthFailed => Some(ErrorCode::AuthFailed),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// A watch event (`event_type` other than [`event_type::NONE`]) or a session
/// state change (`event_type == NONE`, `path == None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchedEvent {
    pub event_type: i32,
    pub state: i32,
    pub path: Option<String>,
}

impl WatchedEvent {
    fn session(state: i32) -> WatchedEvent {
        WatchedEvent {
            event_type: event_type::NONE,
            state,
            path: None,
        }
    }
}

/// Java's name of a `Watcher.Event.EventType`.
pub fn event_type_name(t: i32) -> &'static str {
    match t {
        event_type::NONE => "None",
        event_type::NODE_CREATED => "NodeCreated",
        event_type::NODE_DELETED => "NodeDeleted",
        event_type::NODE_DATA_CHANGED => "NodeDataChanged",
        event_type::NODE_CHILDREN_CHANGED => "NodeChildrenChanged",
        event_type::DATA_WATCH_REMOVED => "DataWatchRemoved",
        event_type::CHILD_WATCH_REMOVED => "ChildWatchRemoved",
        event_type::PERSISTENT_WATCH_REMOVED => "PersistentWatchRemoved",
        _ => "Unknown",
    }
}

/// Java's name of a `Watcher.Event.KeeperState`.
pub fn keeper_state_name(s: i32) -> &'static str {
    match s {
        keeper_state::DISCONNECTED => "Disconnected",
        keeper_state::SYNC_CONNECTED => "SyncConnected",
        keeper_state::AUTH_FAILED => "AuthFailed",
        keeper_state::CONNECTED_READ_ONLY => "ConnectedReadOnly",
        keeper_state::SASL_AUTHENTICATED => "SaslAuthenticated",
        keeper_state::EXPIRED => "Expired",
        keeper_state::CLOSED => "Closed",
        _ => "Unknown",
    }
}

/// The client's connection state, as Java's `ZooKeeper.States`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    Connecting = 0,
    Connected = 1,
    Closed = 2,
    AuthFailed = 3,
}

impl State {
    /// The name zkCli shows in its prompt.
    pub fn java_name(self) -> &'static str {
        match self {
            State::Connecting => "CONNECTING",
            State::Connected => "CONNECTED",
            State::Closed => "CLOSED",
            State::AuthFailed => "AUTH_FAILED",
        }
    }

    fn from_u8(v: u8) -> State {
        match v {
            0 => State::Connecting,
            1 => State::Connected,
            3 => State::AuthFailed,
            _ => State::Closed,
        }
    }
}

/// Options of [`Client::connect_with`].
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub session_timeout: Duration,
    /// How long [`Client::connect_with`] waits for the first session.
    pub connect_timeout: Duration,
    pub read_only: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            session_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(30),
            read_only: false,
        }
    }
}

/// A watch to register once the request that asked for it succeeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WatchKind {
    Data,
    Exist,
    Child,
    Persistent,
    PersistentRecursive,
}

/// Outcome of one request, handed from the connection task to the caller.
type Reply = std::result::Result<Bytes, ReplyError>;

#[derive(Debug)]
enum ReplyError {
    Code(i32),
    Client(ClientError),
}

struct Request {
    /// The whole frame, length and header included; xid at bytes 4..8.
    frame: Vec<u8>,
    op: i32,
    watch: Option<(WatchKind, String)>,
    deregister: Option<Deregister>,
    reply: oneshot::Sender<Reply>,
}

/// What a removeWatches sent by [`Client::remove_all_watches`] removes from
/// the client's own registry once it is answered (Java's `WatchDeregistration`).
struct Deregister {
    server_path: String,
    client_path: String,
    watcher_type: i32,
    /// Remove locally whatever the server answers (a connection loss included).
    local: bool,
}

enum Command {
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

struct Shared {
    state: AtomicU8,
    session_id: AtomicI64,
    timeout_ms: AtomicI64,
}

/// A ZooKeeper session. Cheap to clone; every clone shares the connection.
#[derive(Clone)]
pub struct Client {
    tx: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    chroot: Chroot,
}

/// The chroot of a connect string, applied as the Java client applies it.
#[derive(Clone, Debug, Default)]
struct Chroot(Option<Arc<str>>);

impl Chroot {
    /// Java's `prependChroot`: the path the server sees.
    fn prepend(&self, client_path: &str) -> String {
        match &self.0 {
            None => client_path.to_owned(),
            Some(c) if client_path == "/" => c.to_string(),
            Some(c) => format!("{c}{client_path}"),
        }
    }

    /// Java's `stripChroot`: the path the caller sees. A path outside the
    /// chroot (the server would have to misbehave) is left as it is.
    fn strip(&self, server_path: &str) -> String {
        match &self.0 {
            Some(c) if server_path == &**c => "/".to_owned(),
            Some(c) => match server_path.strip_prefix(&**c) {
                Some(rest) if rest.starts_with('/') => rest.to_owned(),
                _ => server_path.to_owned(),
            },
            None => server_path.to_owned(),
        }
    }
}

/// The current registrations the client would restore after a reconnect.
#[derive(Default)]
struct Watches {
    data: HashSet<String>,
    exist: HashSet<String>,
    child: HashSet<String>,
    persistent: HashSet<String>,
    recursive: HashSet<String>,
}

impl Watches {
    fn add(&mut self, kind: WatchKind, path: String) {
        match kind {
            WatchKind::Data => self.data.insert(path),
            WatchKind::Exist => self.exist.insert(path),
            WatchKind::Child => self.child.insert(path),
            WatchKind::Persistent => self.persistent.insert(path),
            WatchKind::PersistentRecursive => self.recursive.insert(path),
        };
    }

    /// One-shot watches fire once: forget those the event consumed.
    fn fired(&mut self, ev: &WatchedEvent) {
        let Some(p) = ev.path.as_deref() else { return };
        match ev.event_type {
            event_type::NODE_CREATED | event_type::NODE_DATA_CHANGED => {
                self.data.remove(p);
                self.exist.remove(p);
            }
            event_type::NODE_DELETED => {
                self.data.remove(p);
                self.exist.remove(p);
                self.child.remove(p);
            }
            event_type::NODE_CHILDREN_CHANGED => {
                self.child.remove(p);
            }
            _ => {}
        }
    }

    /// Java's `ZKWatchManager.containsWatcher`: whether a removeWatches of
    /// `wt` on `path` has anything of ours to remove.
    fn contains(&self, path: &str, wt: i32) -> bool {
        let child = self.child.contains(path);
        let data = self.data.contains(path) || self.exist.contains(path);
        let persistent = self.persistent.contains(path) || self.recursive.contains(path);
        match wt {
            watcher_type::CHILDREN => child,
            watcher_type::DATA => data,
            _ => child || data || persistent,
        }
    }

    /// Remove the watches of `wt` on `path`; returns the removal event type
    /// of each kind removed (Java's `ZKWatchManager.removeWatcher`).
    fn remove(&mut self, path: &str, wt: i32) -> Vec<i32> {
        let mut removed = Vec::new();
        if wt != watcher_type::DATA && self.child.remove(path) {
            removed.push(event_type::CHILD_WATCH_REMOVED);
        }
        if wt != watcher_type::CHILDREN {
            let data = self.data.remove(path);
            if self.exist.remove(path) || data {
                removed.push(event_type::DATA_WATCH_REMOVED);
            }
        }
        if wt == watcher_type::ANY {
            let persistent = self.persistent.remove(path);
            if self.recursive.remove(path) || persistent {
                removed.push(event_type::PERSISTENT_WATCH_REMOVED);
            }
        }
        removed
    }

    fn forget(&mut self, path: &str, wt: i32) {
        if wt == watcher_type::DATA || wt == watcher_type::ANY {
            self.data.remove(path);
            self.exist.remove(path);
        }
        if wt == watcher_type::CHILDREN || wt == watcher_type::ANY {
            self.child.remove(path);
        }
        if wt == watcher_type::ANY {
            self.persistent.remove(path);
            self.recursive.remove(path);
        }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exist.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.recursive.is_empty()
    }

    fn to_set_watches(&self, relative_zxid: i64) -> SetWatches2 {
        let v = |s: &HashSet<String>| s.iter().cloned().collect::<Vec<_>>();
        SetWatches2 {
            relative_zxid,
            data_watches: v(&self.data),
            exist_watches: v(&self.exist),
            child_watches: v(&self.child),
            persistent_watches: v(&self.persistent),
            persistent_recursive_watches: v(&self.recursive),
        }
    }
}

/// Build a request frame: length, header with a zero xid, body.
fn frame(op: i32, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.put_i32(0);
    v.put_i32(0);
    v.put_i32(op);
    body(&mut v);
    let len = (v.len() - 4) as i32;
    v[0..4].copy_from_slice(&len.to_be_bytes());
    v
}

fn record_frame<R: Record>(op: i32, r: &R) -> Vec<u8> {
    frame(op, |v| r.write(v))
}

/// The hosts of a connect string `host:port[,host:port...][/chroot]`, each
/// with a port (2181 when none is given); see [`ConnectString::parse`].
pub fn parse_connect_string(s: &str) -> Result<Vec<String>> {
    ConnectString::parse(s).map(|c| c.hosts)
}

/// A parsed connect string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectString {
    /// `host:port`, in the order given.
    pub hosts: Vec<String>,
    /// Everything from the first `/` on, as Java's `ConnectStringParser`
    /// takes it; `None` when absent or just `/`.
    pub chroot: Option<String>,
}

impl ConnectString {
    /// Parse `host:port[,host:port...][/chroot]`; a chroot must be a valid
    /// znode path.
    pub fn parse(s: &str) -> Result<ConnectString> {
        let bad = || ClientError::BadConnectString(s.to_owned());
        let (hosts, chroot) = match s.find('/') {
            Some(i) if s.len() - i == 1 => (&s[..i], None),
            Some(i) => {
                crate::path::validate_path(&s[i..]).map_err(|_| bad())?;
                (&s[..i], Some(s[i..].to_owned()))
            }
            None => (s, None),
        };
        Ok(ConnectString {
            hosts: parse_hosts(hosts).ok_or_else(bad)?,
            chroot,
        })
    }
}

fn parse_hosts(s: &str) -> Option<Vec<String>> {
    let hosts: Vec<String> = s
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            if h.rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            {
                h.to_owned()
            } else {
                format!("{h}:2181")
            }
        })
        .collect();
    (!hosts.is_empty()).then_some(hosts)
}

impl Client {
    /// Connect with a 30 s session timeout; see [`Client::connect_with`].
    pub async fn connect(connect_string: &str) -> Result<(Client, mpsc::Receiver<WatchedEvent>)> {
        Client::connect_with(connect_string, ConnectOptions::default()).await
    }

    /// Open a session on one of the servers of `connect_string`, trying each
    /// in turn until one answers or `opts.connect_timeout` passes. The
    /// receiver yields watch events and session state changes; the first is
    /// the `SyncConnected` of this session.
    pub async fn connect_with(
        connect_string: &str,
        opts: ConnectOptions,
    ) -> Result<(Client, mpsc::Receiver<WatchedEvent>)> {
        let cs = ConnectString::parse(connect_string)?;
        let (client, mut task, ev_rx) = Client::new_task(cs, opts.clone(), false);
        let deadline = Instant::now() + opts.connect_timeout;
        let conn = task.establish(Some(deadline)).await?;
        tokio::spawn(task.run(Some(conn)));
        Ok((client, ev_rx))
    }

    /// Open a session as the Java client does: one attempt at each host of
    /// `connect_string` in turn, then return, connected or still connecting
    /// in the background (retrying forever, `opts.connect_timeout` unused).
    /// Until a connection is up, requests wait for one, and each time a
    /// round over all hosts fails they fail with
    /// [`ClientError::ConnectionLoss`]; the same holds while reconnecting
    /// after a loss. (Java fails them after one failed host; a whole round
    /// lets a connect string whose first host is down still serve a request.)
    /// A close while connecting ends the session at once. Only a malformed
    /// connect string is an error.
    pub async fn start(
        connect_string: &str,
        opts: ConnectOptions,
    ) -> Result<(Client, mpsc::Receiver<WatchedEvent>)> {
        let cs = ConnectString::parse(connect_string)?;
        let (client, mut task, ev_rx) = Client::new_task(cs, opts, true);
        // A fresh session cannot be expired, so the round only connects or not.
        let conn = task.try_round().await.ok().flatten();
        tokio::spawn(task.run(conn));
        Ok((client, ev_rx))
    }

    fn new_task(
        cs: ConnectString,
        opts: ConnectOptions,
        fail_while_connecting: bool,
    ) -> (Client, Task, mpsc::Receiver<WatchedEvent>) {
        let (tx, rx) = mpsc::channel(REQUEST_QUEUE);
        let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
        let shared = Arc::new(Shared {
            state: AtomicU8::new(State::Connecting as u8),
            session_id: AtomicI64::new(0),
            timeout_ms: AtomicI64::new(opts.session_timeout.as_millis() as i64),
        });
        let chroot = Chroot(cs.chroot.map(Arc::from));
        let task = Task {
            hosts: cs.hosts,
            chroot: chroot.clone(),
            fail_while_connecting,
            next_host: 0,
            opts: opts.clone(),
            session_id: 0,
            passwd: Bytes::from_static(&[0u8; 16]),
            negotiated_ms: opts.session_timeout.as_millis() as i32,
            last_zxid: 0,
            next_xid: 1,
            watches: Watches::default(),
            auths: Vec::new(),
            pending: VecDeque::new(),
            auth_waiters: VecDeque::new(),
            events: ev_tx,
            shared: shared.clone(),
            rx,
        };
        (Client { tx, shared, chroot }, task, ev_rx)
    }

    pub fn state(&self) -> State {
        State::from_u8(self.shared.state.load(Ordering::Relaxed))
    }

    pub fn session_id(&self) -> i64 {
        self.shared.session_id.load(Ordering::Relaxed)
    }

    /// The session timeout the server granted.
    pub fn session_timeout(&self) -> Duration {
        Duration::from_millis(self.shared.timeout_ms.load(Ordering::Relaxed).max(0) as u64)
    }

    async fn call(
        &self,
        op: i32,
        frame: Vec<u8>,
        watch: Option<(WatchKind, String)>,
    ) -> std::result::Result<Bytes, ReplyError> {
        self.call_deregistering(op, frame, watch, None).await
    }

    async fn call_deregistering(
        &self,
        op: i32,
        frame: Vec<u8>,
        watch: Option<(WatchKind, String)>,
        deregister: Option<Deregister>,
    ) -> std::result::Result<Bytes, ReplyError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Request(Request {
                frame,
                op,
                watch,
                deregister,
                reply,
            }))
            .await
            .map_err(|_| ReplyError::Client(ClientError::Closed))?;
        rx.await
            .map_err(|_| ReplyError::Client(ClientError::Closed))?
    }

    /// Send a request; a server error names `path`, the caller's path.
    async fn request(
        &self,
        op: i32,
        frame: Vec<u8>,
        path: &str,
        watch: Option<(WatchKind, String)>,
    ) -> Result<Bytes> {
        self.call(op, frame, watch).await.map_err(|e| match e {
            ReplyError::Code(c) => server_error(c, path),
            ReplyError::Client(c) => c,
        })
    }

    /// A request whose body is just the (chrooted) path.
    async fn path_request(&self, op: i32, path: &str) -> Result<Bytes> {
        let f = record_frame(
            op,
            &PathRequest {
                path: self.chroot.prepend(path),
            },
        );
        self.request(op, f, path, None).await
    }

    /// A read that may leave a watch of `kind` on the (chrooted) path.
    async fn watch_request(
        &self,
        op: i32,
        path: &str,
        watch: bool,
        kind: WatchKind,
    ) -> std::result::Result<Bytes, ReplyError> {
        let server_path = self.chroot.prepend(path);
        let f = path_watch_frame(op, &server_path, watch);
        self.call(op, f, watch.then_some((kind, server_path))).await
    }

    async fn watch_read(&self, op: i32, path: &str, watch: bool, kind: WatchKind) -> Result<Bytes> {
        self.watch_request(op, path, watch, kind)
            .await
            .map_err(|e| match e {
                ReplyError::Code(c) => server_error(c, path),
                ReplyError::Client(c) => c,
            })
    }

    /// Create a znode; returns the path created (with its sequence suffix)
    /// and its Stat. `flags` is a [`create_mode`]; `ttl_ms > 0` sends
    /// createTTL, [`create_mode::CONTAINER`] sends createContainer, anything
    /// else create2.
    pub async fn create(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        flags: i32,
        ttl_ms: i64,
    ) -> Result<(String, Stat)> {
        self.create_nullable(path, Some(data), acl, flags, ttl_ms)
            .await
    }

    /// As [`Client::create`], with `None` sending null data (as the Java
    /// client does for `create(path, null, ...)`; such a node reads back null).
    pub async fn create_nullable(
        &self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        flags: i32,
        ttl_ms: i64,
    ) -> Result<(String, Stat)> {
        let op = if ttl_ms > 0 || is_ttl_mode(flags) {
            op::CREATE_TTL
        } else if flags == create_mode::CONTAINER {
            op::CREATE_CONTAINER
        } else {
            op::CREATE2
        };
        let server_path = self.chroot.prepend(path);
        let f = frame(op, |v| {
            zab_core::jute::write_string(v, &server_path);
            zab_core::jute::write_opt_buffer(v, data);
            zab_core::records::write_acls(v, acl);
            v.put_i32(flags);
            if op == op::CREATE_TTL {
                v.put_i64(ttl_ms);
            }
        });
        let b = self.request(op, f, path, None).await?;
        let r = Create2Response::from_bytes(&b)?;
        Ok((self.chroot.strip(&r.path), r.stat))
    }

    pub async fn delete(&self, path: &str, version: i32) -> Result<()> {
        let f = frame(op::DELETE, |v| {
            zab_core::jute::write_string(v, &self.chroot.prepend(path));
            v.put_i32(version);
        });
        self.request(op::DELETE, f, path, None).await.map(|_| ())
    }

    /// The node's Stat, or `None` if it does not exist. With `watch`, a
    /// data watch (node exists) or an exist watch (it does not) is left.
    pub async fn exists(&self, path: &str, watch: bool) -> Result<Option<Stat>> {
        match self
            .watch_request(op::EXISTS, path, watch, WatchKind::Data)
            .await
        {
            Ok(b) => Ok(Some(StatResponse::from_bytes(&b)?.stat)),
            Err(ReplyError::Code(c)) if c == ErrorCode::NoNode.code() => Ok(None),
            Err(ReplyError::Code(c)) => Err(server_error(c, path)),
            Err(ReplyError::Client(c)) => Err(c),
        }
    }

    pub async fn get_data(&self, path: &str, watch: bool) -> Result<(Bytes, Stat)> {
        let b = self
            .watch_read(op::GET_DATA, path, watch, WatchKind::Data)
            .await?;
        let r = GetDataResponse::from_bytes(&b)?;
        Ok((r.data.unwrap_or_default(), r.stat))
    }

    /// As [`Client::get_data`], telling null data (`None`) from empty.
    pub async fn get_data_nullable(
        &self,
        path: &str,
        watch: bool,
    ) -> Result<(Option<Bytes>, Stat)> {
        let b = self
            .watch_read(op::GET_DATA, path, watch, WatchKind::Data)
            .await?;
        let r = GetDataResponse::from_bytes(&b)?;
        Ok((r.data, r.stat))
    }

    pub async fn set_data(&self, path: &str, data: &[u8], version: i32) -> Result<Stat> {
        let f = frame(op::SET_DATA, |v| {
            zab_core::jute::write_string(v, &self.chroot.prepend(path));
            zab_core::jute::write_buffer(v, data);
            v.put_i32(version);
        });
        let b = self.request(op::SET_DATA, f, path, None).await?;
        Ok(StatResponse::from_bytes(&b)?.stat)
    }

    pub async fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat)> {
        let b = self.path_request(op::GET_ACL, path).await?;
        let r = GetAclResponse::from_bytes(&b)?;
        Ok((r.acl, r.stat))
    }

    pub async fn set_acl(&self, path: &str, acl: &[Acl], version: i32) -> Result<Stat> {
        let f = record_frame(
            op::SET_ACL,
            &SetAclRequest {
                path: self.chroot.prepend(path),
                acl: acl.to_vec(),
                version,
            },
        );
        let b = self.request(op::SET_ACL, f, path, None).await?;
        Ok(StatResponse::from_bytes(&b)?.stat)
    }

    pub async fn get_children(&self, path: &str, watch: bool) -> Result<Vec<String>> {
        let b = self
            .watch_read(op::GET_CHILDREN, path, watch, WatchKind::Child)
            .await?;
        Ok(ChildrenResponse::from_bytes(&b)?.children)
    }

    pub async fn get_children2(&self, path: &str, watch: bool) -> Result<(Vec<String>, Stat)> {
        let b = self
            .watch_read(op::GET_CHILDREN2, path, watch, WatchKind::Child)
            .await?;
        let r = GetChildren2Response::from_bytes(&b)?;
        Ok((r.children, r.stat))
    }

    /// Returns the path the server synced.
    pub async fn sync(&self, path: &str) -> Result<String> {
        let b = self.path_request(op::SYNC, path).await?;
        Ok(self
            .chroot
            .strip(&crate::proto::PathResponse::from_bytes(&b)?.path))
    }

    /// The operations with their paths chrooted.
    fn chroot_ops(&self, mut ops: Vec<MultiOp>) -> Vec<MultiOp> {
        if self.chroot.0.is_some() {
            for o in &mut ops {
                let p = match o {
                    MultiOp::Create { req, .. } => &mut req.path,
                    MultiOp::CreateTtl(r) => &mut r.path,
                    MultiOp::Delete(r) => &mut r.path,
                    MultiOp::SetData(r) => &mut r.path,
                    MultiOp::Check(r) => &mut r.path,
                    MultiOp::GetChildren(r) | MultiOp::GetData(r) => &mut r.path,
                };
                *p = self.chroot.prepend(p);
            }
        }
        ops
    }

    /// Run `ops` atomically. On failure the error is the first operation's
    /// code that is not a rollback marker, with that operation's path.
    pub async fn multi(&self, ops: Vec<MultiOp>) -> Result<Vec<OpResult>> {
        let paths: Vec<String> = ops.iter().map(|o| o.path().to_owned()).collect();
        let req = MultiRequest {
            ops: self.chroot_ops(ops),
        };
        let b = match self
            .call(op::MULTI, record_frame(op::MULTI, &req), None)
            .await
        {
            Ok(b) => b,
            // A failed multi still carries its per-operation results; ZooKeeper
            // puts the error in the header too. Either way, read the body.
            Err(ReplyError::Code(c)) => return Err(server_error(c, "")),
            Err(ReplyError::Client(c)) => return Err(c),
        };
        let mut results = MultiResponse::from_bytes(&b)?.results;
        for (i, r) in results.iter_mut().enumerate() {
            match r {
                OpResult::Error { err }
                    if *err != 0 && *err != ErrorCode::RuntimeInconsistency.code() =>
                {
                    let p = paths.get(i).map(String::as_str).unwrap_or("");
                    return Err(server_error(*err, p));
                }
                OpResult::Create { path } | OpResult::Create2 { path, .. } => {
                    *path = self.chroot.strip(path);
                }
                _ => {}
            }
        }
        Ok(results)
    }

    /// Run read operations (getData, getChildren) in one request; each
    /// result may be an error of its own.
    pub async fn multi_read(&self, ops: Vec<MultiOp>) -> Result<Vec<OpResult>> {
        let req = MultiRequest {
            ops: self.chroot_ops(ops),
        };
        let b = self
            .request(op::MULTI_READ, record_frame(op::MULTI_READ, &req), "", None)
            .await?;
        Ok(MultiResponse::from_bytes(&b)?.results)
    }

    /// Add authentication to the session; waits for the server's answer.
    /// The credentials are sent again after every reconnect.
    pub async fn add_auth(&self, scheme: &str, auth: &[u8]) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Auth {
                scheme: scheme.to_owned(),
                auth: Bytes::copy_from_slice(auth),
                reply,
            })
            .await
            .map_err(|_| ClientError::Closed)?;
        match rx.await.map_err(|_| ClientError::Closed)? {
            Ok(_) => Ok(()),
            Err(ReplyError::Code(c)) if c == ErrorCode::AuthFailed.code() => {
                Err(ClientError::AuthFailed)
            }
            Err(ReplyError::Code(c)) => Err(server_error(c, "")),
            Err(ReplyError::Client(c)) => Err(c),
        }
    }

    /// Add a persistent (or persistent recursive) watch; `mode` is an
    /// [`add_watch_mode`].
    pub async fn add_watch(&self, path: &str, mode: i32) -> Result<()> {
        let server_path = self.chroot.prepend(path);
        let f = record_frame(
            op::ADD_WATCH,
            &AddWatchRequest {
                path: server_path.clone(),
                mode,
            },
        );
        let kind = if mode == add_watch_mode::PERSISTENT_RECURSIVE {
            WatchKind::PersistentRecursive
        } else {
            WatchKind::Persistent
        };
        self.request(op::ADD_WATCH, f, path, Some((kind, server_path)))
            .await
            .map(|_| ())
    }

    /// Remove this session's watches of `watcher_type` on `path`: the
    /// server's answer, nothing more (no removal events; see
    /// [`Client::remove_all_watches`] for the Java client's behaviour).
    pub async fn remove_watches(&self, path: &str, watcher_type: i32) -> Result<()> {
        let server_path = self.chroot.prepend(path);
        let f = record_frame(
            op::REMOVE_WATCHES,
            &WatchesRequest {
                path: server_path.clone(),
                watcher_type,
            },
        );
        self.request(op::REMOVE_WATCHES, f, path, None).await?;
        let _ = self
            .tx
            .send(Command::Forget {
                path: server_path,
                watcher_type,
            })
            .await;
        Ok(())
    }

    /// Java's `removeAllWatches(path, watcherType, local)`: ask the server to
    /// remove this session's watches of `watcher_type` on `path`, then remove
    /// them from the client's registry and deliver one `DataWatchRemoved`,
    /// `ChildWatchRemoved` or `PersistentWatchRemoved` event per kind removed.
    /// The client must hold such a watch, or the answer is `NoWatcher`. With
    /// `local`, the watches are removed from the client even when the server
    /// cannot be asked (no connection) or refuses; the events then carry
    /// state `Disconnected` after a connection loss, and the call succeeds.
    pub async fn remove_all_watches(
        &self,
        path: &str,
        watcher_type: i32,
        local: bool,
    ) -> Result<()> {
        let server_path = self.chroot.prepend(path);
        let f = record_frame(
            op::REMOVE_WATCHES,
            &WatchesRequest {
                path: server_path.clone(),
                watcher_type,
            },
        );
        let d = Deregister {
            server_path,
            client_path: path.to_owned(),
            watcher_type,
            local,
        };
        match self
            .call_deregistering(op::REMOVE_WATCHES, f, None, Some(d))
            .await
        {
            Ok(_) => Ok(()),
            Err(ReplyError::Code(c)) => Err(server_error(c, path)),
            Err(ReplyError::Client(c)) => Err(c),
        }
    }

    /// Whether the server holds a watch of `watcher_type` on `path` for this session.
    pub async fn check_watches(&self, path: &str, watcher_type: i32) -> Result<()> {
        let f = record_frame(
            op::CHECK_WATCHES,
            &WatchesRequest {
                path: self.chroot.prepend(path),
                watcher_type,
            },
        );
        self.request(op::CHECK_WATCHES, f, path, None)
            .await
            .map(|_| ())
    }

    /// This session's ephemeral nodes whose path starts with `prefix`. As
    /// with the Java client, a chroot applies neither to the prefix nor to
    /// the paths returned: both are the server's.
    pub async fn get_ephemerals(&self, prefix: &str) -> Result<Vec<String>> {
        let f = record_frame(
            op::GET_EPHEMERALS,
            &PathRequest {
                path: prefix.to_owned(),
            },
        );
        let b = self.request(op::GET_EPHEMERALS, f, prefix, None).await?;
        Ok(ChildrenResponse::from_bytes(&b)?.children)
    }

    pub async fn get_all_children_number(&self, path: &str) -> Result<i32> {
        let b = self.path_request(op::GET_ALL_CHILDREN_NUMBER, path).await?;
        Ok(IntResponse::from_bytes(&b)?.value)
    }

    pub async fn whoami(&self) -> Result<Vec<ClientInfo>> {
        let b = self
            .request(op::WHO_AM_I, frame(op::WHO_AM_I, |_| {}), "", None)
            .await?;
        Ok(WhoAmIResponse::from_bytes(&b)?.client_info)
    }

    /// The ensemble configuration: getData of `/zookeeper/config`, which a
    /// chroot does not apply to.
    pub async fn get_config(&self, watch: bool) -> Result<(Bytes, Stat)> {
        const CONFIG_NODE: &str = "/zookeeper/config";
        let f = path_watch_frame(op::GET_DATA, CONFIG_NODE, watch);
        let w = watch.then(|| (WatchKind::Data, CONFIG_NODE.to_owned()));
        let b = self.request(op::GET_DATA, f, CONFIG_NODE, w).await?;
        let r = GetDataResponse::from_bytes(&b)?;
        Ok((r.data.unwrap_or_default(), r.stat))
    }

    /// Reconfigure the ensemble; returns the new configuration and its Stat.
    pub async fn reconfig(
        &self,
        joining: Option<&str>,
        leaving: Option<&str>,
        new_members: Option<&str>,
        from_config: i64,
    ) -> Result<(Bytes, Stat)> {
        let f = record_frame(
            op::RECONFIG,
            &ReconfigRequest {
                joining_servers: joining.map(str::to_owned),
                leaving_servers: leaving.map(str::to_owned),
                new_members: new_members.map(str::to_owned),
                cur_config_id: from_config,
            },
        );
        let b = self.request(op::RECONFIG, f, "", None).await?;
        let r = GetDataResponse::from_bytes(&b)?;
        Ok((r.data.unwrap_or_default(), r.stat))
    }

    /// Close the session and the connection. Every clone becomes unusable.
    pub async fn close(&self) -> Result<()> {
        let f = frame(op::CLOSE_SESSION, |_| {});
        match self.request(op::CLOSE_SESSION, f, "", None).await {
            Ok(_) | Err(ClientError::Closed) | Err(ClientError::ConnectionLoss) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn is_ttl_mode(flags: i32) -> bool {
    flags == create_mode::PERSISTENT_WITH_TTL
        || flags == create_mode::PERSISTENT_SEQUENTIAL_WITH_TTL
}

fn path_watch_frame(op: i32, path: &str, watch: bool) -> Vec<u8> {
    frame(op, |v| {
        zab_core::jute::write_string(v, path);
        zab_core::jute::write_bool(v, watch);
    })
}

fn server_error(code: i32, path: &str) -> ClientError {
    match ErrorCode::from_code(code) {
        Some(ErrorCode::ConnectionLoss) => ClientError::ConnectionLoss,
        Some(ErrorCode::SessionExpired) => ClientError::SessionExpired,
        c => ClientError::Server {
            code: c.unwrap_or(ErrorCode::SystemError),
            path: path.to_owned(),
        },
    }
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
struct Conn {
    stream: TcpStream,
    rbuf: BytesMut,
}

/// The connection task: owns the socket, the session and the watch registry.
struct Task {
    hosts: Vec<String>,
    chroot: Chroot,
    /// Fail requests waiting for a connection at each failed round ([`Client::start`]).
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
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Command>,
}

enum Exit {
    /// The connection broke; reconnect.
    Lost,
    /// The session is over (closed, expired, auth failed, or every handle dropped).
    Done,
}

impl Task {
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
    async fn establish(&mut self, deadline: Option<Instant>) -> Result<Conn> {
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
    async fn try_round(&mut self) -> Result<Option<Conn>> {
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
    async fn run(mut self, mut conn: Option<Conn>) {
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
                let ev = crate::proto::WatcherEvent::from_bytes(&f)?;
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

fn auth_frame(scheme: &str, auth: &[u8]) -> Vec<u8> {
    let mut f = record_frame(
        op::AUTH,
        &AuthPacket {
            auth_type: 0,
            scheme: scheme.to_owned(),
            auth: Bytes::copy_from_slice(auth),
        },
    );
    f[4..8].copy_from_slice(&xid::AUTH.to_be_bytes());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_strings_parse_as_java_parses_them() {
        let cs = ConnectString::parse("h1:1,h2/app/x").unwrap();
        assert_eq!(cs.hosts, vec!["h1:1", "h2:2181"]);
        assert_eq!(cs.chroot.as_deref(), Some("/app/x"));
        // "/" alone is no chroot.
        assert_eq!(ConnectString::parse("h:1/").unwrap().chroot, None);
        assert_eq!(ConnectString::parse("h:1").unwrap().chroot, None);
        // A chroot must be a valid path; hosts must be there.
        assert!(ConnectString::parse("h:1/app/").is_err());
        assert!(ConnectString::parse("h:1/a//b").is_err());
        assert!(ConnectString::parse("/app").is_err());
        assert_eq!(parse_connect_string("h:1/app").unwrap(), vec!["h:1"]);
    }

    #[test]
    fn chroot_prefixes_paths_out_and_strips_them_back() {
        let c = Chroot(Some(Arc::from("/app")));
        assert_eq!(c.prepend("/"), "/app");
        assert_eq!(c.prepend("/a/b"), "/app/a/b");
        assert_eq!(c.strip("/app"), "/");
        assert_eq!(c.strip("/app/a/b"), "/a/b");
        // Not under the chroot: left alone rather than cut at a wrong place.
        assert_eq!(c.strip("/apple"), "/apple");
        assert_eq!(c.strip("/zookeeper/config"), "/zookeeper/config");
        let none = Chroot::default();
        assert_eq!(none.prepend("/a"), "/a");
        assert_eq!(none.strip("/a"), "/a");
    }

    #[test]
    fn watch_removal_by_watcher_type() {
        let mut w = Watches::default();
        w.add(WatchKind::Data, "/a".into());
        w.add(WatchKind::Child, "/a".into());
        w.add(WatchKind::PersistentRecursive, "/a".into());
        w.add(WatchKind::Exist, "/b".into());
        assert!(w.contains("/b", watcher_type::DATA));
        assert!(!w.contains("/b", watcher_type::CHILDREN));
        assert_eq!(
            w.remove("/a", watcher_type::CHILDREN),
            vec![event_type::CHILD_WATCH_REMOVED]
        );
        assert!(!w.contains("/a", watcher_type::CHILDREN));
        assert_eq!(
            w.remove("/a", watcher_type::ANY),
            vec![
                event_type::DATA_WATCH_REMOVED,
                event_type::PERSISTENT_WATCH_REMOVED
            ]
        );
        assert!(!w.contains("/a", watcher_type::ANY));
        assert_eq!(
            w.remove("/b", watcher_type::DATA),
            vec![event_type::DATA_WATCH_REMOVED]
        );
        assert!(w.is_empty());
    }

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
