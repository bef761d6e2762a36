//! The one error type of zab-net. A decode error closes the connection it
//! came from and nothing else.

use std::net::SocketAddr;
use std::time::Duration;

use zab_core::ServerId;

/// Why a frame could not be read or written, or a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("negative {field} length {len}")]
    NegativeLength { field: &'static str, len: i64 },
    #[error("{field} length {len} exceeds the cap of {max} bytes")]
    TooLarge {
        field: &'static str,
        len: u64,
        max: usize,
    },
    #[error("the snapshot after SNAP: {0}")]
    Snapshot(zab_core::zkdb::DbError),
    #[error("empty frame")]
    EmptyFrame,
    #[error("{field} is not utf-8")]
    InvalidUtf8 { field: &'static str },
    #[error("unknown election protocol version {version}")]
    UnknownProtocolVersion { version: i64 },
    #[error("badly formed address {addr:?} in initial message")]
    BadAddress { addr: String },
    #[error("connection closed before {what}")]
    ClosedBefore { what: &'static str },
    #[error("no {what} from {peer} within {timeout:?}")]
    Timeout {
        what: &'static str,
        peer: SocketAddr,
        timeout: Duration,
    },
    #[error("no packet from {peer} within the read timeout of {timeout:?}")]
    ReadTimeout { peer: SocketAddr, timeout: Duration },
    #[error("first packet from {peer} has type {packet_type}, not FOLLOWERINFO or OBSERVERINFO")]
    UnexpectedFirstPacket { peer: SocketAddr, packet_type: i32 },
    #[error("cannot connect to {addr} after {attempts} attempts: {last}")]
    ConnectFailed {
        addr: SocketAddr,
        attempts: u32,
        last: std::io::Error,
    },
    #[error("server {sid} is not a configured peer")]
    UnknownPeer { sid: ServerId },
    #[error("outbound queue is full")]
    QueueFull,
    #[error("quorum authentication failed: {reason}")]
    QuorumAuth { reason: String },
    #[error("quorum TLS with {peer} failed: {reason}")]
    Tls { peer: SocketAddr, reason: String },
    #[error("connection is closed")]
    Closed,
}
