//! Request frames as the client sends them, and the reply frames it reads.
//!
//! ```text
//! request frame := int(len) int(xid) int(type) body     ; built once by the caller,
//!                                                        ; the xid patched in by the task
//! reply frame   := int(len) int(xid) long(zxid) int(err) [body]
//! ```

use bytes::{BufMut, Bytes};
use zab_core::jute::{self, Record};
use zab_core::proto::{op, xid, AuthPacket};

/// Build a request frame: length, header with a zero xid, body.
pub(crate) fn frame(op: i32, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.put_i32(0);
    v.put_i32(0);
    v.put_i32(op);
    body(&mut v);
    let len = (v.len() - 4) as i32;
    v[0..4].copy_from_slice(&len.to_be_bytes());
    v
}

pub(crate) fn record_frame<R: Record>(op: i32, r: &R) -> Vec<u8> {
    frame(op, |v| r.write(v))
}

/// getData, exists, getChildren: the path and whether to leave a watch.
pub(crate) fn path_watch_frame(op: i32, path: &str, watch: bool) -> Vec<u8> {
    frame(op, |v| {
        jute::write_string(v, path);
        jute::write_bool(v, watch);
    })
}

/// An auth packet, sent with xid -4 (answered out of band, in order).
pub(crate) fn auth_frame(scheme: &str, auth: &[u8]) -> Vec<u8> {
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
