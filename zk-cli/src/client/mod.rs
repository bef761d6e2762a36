//! An asynchronous ZooKeeper client on tokio, speaking the same wire protocol
//! as Apache ZooKeeper's Java client. Used by the `zk-cli` shell and the
//! tests; its records are `zab_core::proto`'s.
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
//! Files: `api.rs` (the [`Client`] handle and its operations),
//! `connect_string.rs` (hosts and chroot), `watches.rs` (the registry
//! restored after a reconnect), `task.rs` (the connection task: handshake,
//! reconnects, pings, matching replies to requests), `frame.rs` (request
//! frames).

mod api;
mod connect_string;
mod frame;
mod task;
mod watches;

use std::time::Duration;

use zab_core::jute::JuteError;
use zab_core::proto::{event_type, keeper_state, ErrorCode};

pub use api::Client;
pub use connect_string::{parse_connect_string, ConnectString};

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
    pub(crate) fn session(state: i32) -> WatchedEvent {
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

    pub(crate) fn from_u8(v: u8) -> State {
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
