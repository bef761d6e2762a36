//! The client protocol: the handshake, the request and reply headers, every
//! request and response body as a jute record, and [`Op::parse`], which picks
//! a request body's record by its op code. Defined once here and used by the
//! server, `zk-cli` (and its client library), the benches, the tests and the
//! fuzz targets. Pure encoding: framing sockets is `zk-server`'s and the
//! client's business.
//!
//! ```text
//! frame        := int(len) byte{len}          ; len <= jute.maxbuffer
//! connection   := ConnectRequest frame, then request frames   ; connect.rs
//! request      := RequestHeader body          ; header.rs; body by RequestHeader.type: request.rs
//! reply        := ReplyHeader [body]          ; header.rs
//! watch event  := ReplyHeader(xid=-1, zxid=-1, err=0) WatcherEvent   ; watches.rs
//! ```
//!
//! One module per group of operations, each with the grammar of its records
//! at the top: [`connect`] (the handshake), [`header`] (request and reply
//! headers, special xids), [`data`] (the operations on znodes: create,
//! delete, exists, getData, setData, getACL, setACL, getChildren, check,
//! sync, ...), [`watches`] (events, setWatches, addWatch, checkWatches,
//! removeWatches), [`multi`] (multi and multiRead), [`session`] (ping,
//! closeSession, auth, sasl, whoAmI), and [`request`] (a request body
//! decoded by its op code: [`Op`]), and [`keeper`] (ClickHouse Keeper's
//! extension operations, op codes 500-507).
//! Everything is re-exported here: `zab_core::proto::CreateRequest`.

pub mod connect;
pub mod data;
pub mod header;
pub mod keeper;
pub mod multi;
pub mod request;
pub mod session;
pub mod watches;

pub use connect::*;
pub use data::*;
pub use header::*;
pub use keeper::*;
pub use multi::*;
pub use request::Op;
pub use session::*;
pub use watches::*;

pub use crate::records::{op, perms, ErrorCode, Id};

#[cfg(test)]
pub(crate) mod arb;
#[cfg(test)]
mod tests;
