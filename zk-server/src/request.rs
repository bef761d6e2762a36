//! A client request as it travels from a connection to the server core: the
//! decoded body (`zab_core::proto::Op`, which reads it by the header's op
//! code) with the session, connection and xid it came with. A body that does
//! not decode closes the connection.

use std::time::Instant;

use bytes::Bytes;

use zab_core::proto::Op;

/// A request as it travels from a connection to the server core.
#[derive(Clone, Debug)]
pub struct Request {
    pub session_id: i64,
    pub conn_id: u64,
    pub xid: i32,
    pub op_type: i32,
    pub op: Op,
    /// The raw body (kept for the log of a write and for `cons`).
    pub body: Bytes,
    /// When its connection read it (`request_throttle_queue_time_ms`: the wait
    /// for the core).
    pub read_at: Instant,
}
