//! The headers before every request and reply body, and the special xids
//! that mark frames that are not answers to a numbered request.
//!
//! ```text
//! request       := RequestHeader body
//! RequestHeader := int(xid) int(type)          ; type: an op code (records::op)
//! reply         := ReplyHeader [body]           ; none when err != 0, but a failed multi's
//! ReplyHeader   := int(xid) long(zxid) int(err) ; err: a result code (ErrorCode)
//! xid           := the client's number of the request it answers (auth and sasl replies
//!                  too, whatever the client chose), or one of `xid`: -1 notification
//!                  (a watch event), -2 ping (whatever xid the ping carried)
//! ```

use crate::jute::{record, Record};

/// Special xids of the client protocol. AUTH and SET_WATCHES are what the Java client
/// sends with auth and setWatches; the server echoes them like any other xid.
pub mod xid {
    pub const NOTIFICATION: i32 = -1;
    pub const PING: i32 = -2;
    pub const AUTH: i32 = -4;
    pub const SET_WATCHES: i32 = -8;
}

record! {
    RequestHeader { xid: i32 = int, op_type: i32 = int }

    ReplyHeader { xid: i32 = int, zxid: i64 = long, err: i32 = int }
}

/// Encode a reply: header, then the body if there is one.
pub fn encode_reply<R: Record>(hdr: &ReplyHeader, body: Option<&R>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    hdr.write(&mut out);
    if let Some(b) = body {
        b.write(&mut out);
    }
    out
}
