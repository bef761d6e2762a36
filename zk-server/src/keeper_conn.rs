//! ClickHouse Keeper's connection variants: 64-bit xids and compression.
//!
//! ClickHouse's client (`src/Common/ZooKeeper/ZooKeeperImpl.cpp`) asks for
//! Keeper's own framing in the ConnectRequest's protocol version
//! (`ZooKeeperConstants.h`): 10 compressed packets, 11 64-bit xids (with a
//! byte that turns compression on too), 12 OpenTelemetry tracing. Apache's
//! clients always send 0, and Apache ignores the field. This module owns
//! recognising them, and the translation that lets such a connection run
//! over the ordinary request pipeline: the core keeps speaking Apache's
//! packets with 32-bit xids, the connection rewrites headers both ways and
//! (with compression) wraps the bytes in ClickHouse's blocks
//! ([`crate::keeper_compress`]). It leaves the socket to `net` and every
//! operation to the core.
//!
//! ```text
//! ; ClickHouse's handshake (ZooKeeper::sendHandshake); Apache's has version 0
//! Xid64Connect    := int(length = 45) int(protocolVersion = 11) boolean(useCompression)
//!                    long(lastZxidSeen) int(timeOut) long(sessionId) buffer(passwd)
//!                    boolean(readOnly)          ; 46 bytes follow a length of 45
//! ZipConnect      := int(length = 45) int(protocolVersion = 10) long(lastZxidSeen)
//!                    int(timeOut) long(sessionId) buffer(passwd) boolean(readOnly)
//! ; Keeper's answer (KeeperTCPHandler::sendHandshake): 36 bytes, no readOnly byte,
//! ; the version asked for (11 whenever xids are 64-bit)
//! KeeperConnectResp := int(length = 36) int(protocolVersion) int(timeOut)
//!                    long(sessionId) buffer(passwd)
//! ; every later packet, with 64-bit xids: the xid is 8 bytes both ways
//! Xid64Request    := int(length) long(xid) int(type) body
//! Xid64Reply      := int(length) long(xid) long(zxid) int(err) body
//!                    ; xid -1 watch event, -2 ping, -4 auth: the usual values, 8 bytes wide
//! ; with compression, every byte after the handshake answer, both ways, inside
//! ; ClickHouse's compressed blocks (keeper_compress), whatever the packet boundaries
//! ```
//!
//! The core hands out 32-bit xids: a request's 64-bit xid is swapped for a
//! connection-local one (negative xids that fit, -2 ping and -4 auth, pass
//! unchanged), and its reply gets the client's xid back. A ClickHouse client
//! counts xids up from 1 for the life of a session, so a long one passes 2^31:
//! that is why Keeper widened them, and the swap keeps such sessions working.
//!
//! Tracing (12) is refused: see docs/compatibility.md for why.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::{BufMut, Bytes, BytesMut};

/// The protocol version of ClickHouse's compressed connection.
pub const VERSION_WITH_COMPRESSION: i32 = 10;
/// The protocol version of the 64-bit xid connection.
pub const VERSION_WITH_XID_64: i32 = 11;
/// The protocol version of the tracing connection.
pub const VERSION_WITH_TRACING: i32 = 12;

/// What the first frame of a connection asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Handshake {
    /// Apache's handshake (protocol version 0, or any other value Apache ignores).
    Apache,
    /// One of Keeper's variants we serve: the ConnectRequest as Apache lays
    /// it out (version 0, the xid64 compression byte taken out), and the
    /// connection's framing.
    Keeper { connect: Bytes, framing: Framing },
    /// A variant this server does not serve, with a name for the log line.
    Refused { version: i32, what: &'static str },
}

/// How a Keeper variant frames its packets after the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    /// The protocol version the answer carries (10 or 11).
    pub version: i32,
    pub xid64: bool,
    pub compression: bool,
}

impl Framing {
    /// What the log calls it.
    pub fn name(&self) -> &'static str {
        match (self.xid64, self.compression) {
            (true, true) => "64-bit xids, compressed",
            (true, false) => "64-bit xids",
            _ => "compressed",
        }
    }
}

/// Whether the first frame of a connection (length prefix stripped) is
/// Keeper's xid64 handshake, judged from the bytes the codec has so far:
/// its protocol version (bytes 4..8 behind the length) and its length.
/// Such a frame carries one byte more than its length says.
pub fn first_frame_extra(buf: &[u8]) -> usize {
    let Some(head) = buf.get(..8) else { return 0 };
    let len = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let version = i32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    usize::from(version == VERSION_WITH_XID_64 && (len == 44 || len == 45))
}

/// Reads the first frame of a connection (length prefix stripped, the xid64
/// extra byte included).
pub fn classify(frame: &[u8]) -> Handshake {
    let Some(v) = frame.get(..4) else {
        return Handshake::Apache;
    };
    let version = i32::from_be_bytes([v[0], v[1], v[2], v[3]]);
    // Apache's ConnectRequest: version 0, then the fields from `rest` on.
    let apache = |rest: usize| {
        let mut b = BytesMut::with_capacity(frame.len());
        b.put_i32(0);
        b.put_slice(&frame[rest..]);
        b.freeze()
    };
    match version {
        VERSION_WITH_COMPRESSION => Handshake::Keeper {
            connect: apache(4),
            framing: Framing {
                version,
                xid64: false,
                compression: true,
            },
        },
        VERSION_WITH_TRACING => Handshake::Refused {
            version,
            what: "tracing",
        },
        VERSION_WITH_XID_64 => match frame.get(4) {
            Some(&c) => Handshake::Keeper {
                connect: apache(5),
                framing: Framing {
                    version,
                    xid64: true,
                    compression: c != 0,
                },
            },
            None => Handshake::Refused {
                version,
                what: "64-bit xids, cut short",
            },
        },
        _ => Handshake::Apache,
    }
}

/// Why a 64-bit xid request cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("a 64-bit xid request of {len} bytes is shorter than its header (12 bytes)")]
pub struct ShortHeader {
    pub len: usize,
}

/// One Keeper variant connection's state, used by its reading and its writing:
/// the swap of xids and whether the handshake was answered.
#[derive(Debug)]
pub struct KeeperConn {
    pub framing: Framing,
    inner: Mutex<Swap>,
}

#[derive(Debug, Default)]
struct Swap {
    /// Last local xid handed out (1..=i32::MAX, wrapping).
    last: i32,
    /// Local xid -> the client's, for requests not answered yet.
    pending: HashMap<i32, i64>,
    /// The ConnectResponse is still to be rewritten.
    answered: bool,
}

impl KeeperConn {
    pub fn new(framing: Framing) -> KeeperConn {
        KeeperConn {
            framing,
            inner: Mutex::new(Swap::default()),
        }
    }

    /// A request frame (length prefix stripped) as the core reads it: the
    /// local xid, the op code, and the body.
    pub fn inbound(&self, frame: &Bytes) -> Result<(i32, i32, Bytes), ShortHeader> {
        if frame.len() < 12 {
            return Err(ShortHeader { len: frame.len() });
        }
        let xid = i64::from_be_bytes(frame[..8].try_into().expect("8 bytes"));
        let op = i32::from_be_bytes(frame[8..12].try_into().expect("4 bytes"));
        Ok((self.local(xid), op, frame.slice(12..)))
    }

    /// The local xid for a client's xid: negative ones that fit are kept
    /// (ping -2, auth -4 mean the same to the core), others are swapped.
    pub fn local(&self, xid: i64) -> i32 {
        if (i64::from(i32::MIN)..0).contains(&xid) {
            return xid as i32;
        }
        let mut s = self.inner.lock().unwrap();
        loop {
            s.last = if s.last == i32::MAX { 1 } else { s.last + 1 };
            // At most as many are pending as the connection has requests in
            // flight, far fewer than 2^31: a free one comes quickly.
            if !s.pending.contains_key(&s.last) {
                break;
            }
        }
        let local = s.last;
        s.pending.insert(local, xid);
        local
    }

    /// What the core queued (one or more whole frames, back to back, length
    /// prefixes included: the core hands a connection its replies of one turn
    /// in one buffer) as the client reads it.
    pub fn outbound(&self, buf: &[u8]) -> Bytes {
        let mut s = self.inner.lock().unwrap();
        let mut rest = buf;
        // The handshake's answer goes as it is, compressed or not.
        let mut out = BytesMut::with_capacity(buf.len() + 64);
        if !s.answered && rest.len() >= 4 {
            s.answered = true;
            let end = frame_end(rest);
            connect_response(&rest[..end], self.framing.version, &mut out);
            rest = &rest[end..];
        }
        if rest.is_empty() {
            return out.freeze();
        }
        let mut packets = BytesMut::with_capacity(rest.len() + 64);
        if self.framing.xid64 {
            while rest.len() >= 4 {
                let end = frame_end(rest);
                s.reply(&rest[..end], &mut packets);
                rest = &rest[end..];
            }
        }
        packets.put_slice(rest);
        if self.framing.compression {
            crate::keeper_compress::compress_into(&packets, &mut out);
        } else {
            out.put_slice(&packets);
        }
        out.freeze()
    }
}

impl Swap {
    /// One reply frame with its xid widened: the client's own for a swapped
    /// one, the same negative value for events (-1), pings (-2) and the rest.
    fn reply(&mut self, frame: &[u8], out: &mut BytesMut) {
        if frame.len() < 8 {
            out.put_slice(frame);
            return;
        }
        let len = i32::from_be_bytes(frame[..4].try_into().expect("4 bytes"));
        let xid = i32::from_be_bytes(frame[4..8].try_into().expect("4 bytes"));
        let wide = if xid < 0 {
            i64::from(xid)
        } else {
            self.pending.remove(&xid).unwrap_or(i64::from(xid))
        };
        out.put_i32(len + 4);
        out.put_i64(wide);
        out.put_slice(&frame[8..]);
    }
}

/// Where the frame at the front of `buf` (length prefix included) ends.
fn frame_end(buf: &[u8]) -> usize {
    let len = i32::from_be_bytes(buf[..4].try_into().expect("4 bytes"));
    usize::try_from(len).map_or(buf.len(), |l| (4 + l).min(buf.len()))
}

/// Keeper's 36-byte answer from ours (Apache's layout, 36 or 37 bytes): the
/// protocol version asked for, which ClickHouse's client insists on, no
/// readOnly byte.
fn connect_response(frame: &[u8], version: i32, out: &mut BytesMut) {
    // length, version, timeout, session id, passwd length and 16 bytes.
    const KEEPER_LEN: usize = 36;
    if frame.len() < 4 + KEEPER_LEN {
        out.put_slice(frame);
        return;
    }
    out.put_i32(KEEPER_LEN as i32);
    out.put_i32(version);
    out.put_slice(&frame[8..4 + KEEPER_LEN]);
}

#[cfg(test)]
mod tests {
    use super::*;

    const XID64: Framing = Framing {
        version: 11,
        xid64: true,
        compression: false,
    };

    /// The handshake as ClickHouse's `ZooKeeper::sendHandshake` writes it.
    fn clickhouse_handshake(version: i32, compression: Option<bool>) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&45i32.to_be_bytes());
        b.extend_from_slice(&version.to_be_bytes());
        if let Some(c) = compression {
            b.push(c as u8);
        }
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(&30_000i32.to_be_bytes());
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(&16i32.to_be_bytes());
        b.extend_from_slice(&[0; 16]);
        b.push(1);
        b
    }

    #[test]
    fn the_xid64_handshake_is_one_byte_longer_than_it_says() {
        let hs = clickhouse_handshake(VERSION_WITH_XID_64, Some(false));
        assert_eq!(hs.len(), 4 + 46);
        assert_eq!(first_frame_extra(&hs), 1);
        assert_eq!(first_frame_extra(&hs[..7]), 0, "not known yet");
        assert_eq!(first_frame_extra(&clickhouse_handshake(0, None)), 0);
        assert_eq!(
            first_frame_extra(&clickhouse_handshake(VERSION_WITH_COMPRESSION, None)),
            0
        );
        let Handshake::Keeper { connect, framing } = classify(&hs[4..]) else {
            panic!("xid64 handshake not recognised")
        };
        assert_eq!(&connect[..], &clickhouse_handshake(0, None)[4..]);
        assert_eq!(framing, XID64);
    }

    #[test]
    fn the_variants_are_told_apart() {
        let hs = clickhouse_handshake(VERSION_WITH_XID_64, Some(true));
        let Handshake::Keeper { connect, framing } = classify(&hs[4..]) else {
            panic!("xid64 with compression not recognised")
        };
        assert_eq!(&connect[..], &clickhouse_handshake(0, None)[4..]);
        assert!(framing.xid64 && framing.compression && framing.version == 11);
        let hs = clickhouse_handshake(VERSION_WITH_COMPRESSION, None);
        let Handshake::Keeper { connect, framing } = classify(&hs[4..]) else {
            panic!("compression not recognised")
        };
        assert_eq!(&connect[..], &clickhouse_handshake(0, None)[4..]);
        assert!(!framing.xid64 && framing.compression && framing.version == 10);
        assert_eq!(
            classify(&clickhouse_handshake(VERSION_WITH_TRACING, None)[4..]),
            Handshake::Refused {
                version: 12,
                what: "tracing"
            }
        );
        assert_eq!(
            classify(&clickhouse_handshake(0, None)[4..]),
            Handshake::Apache
        );
        assert_eq!(classify(&[0, 0, 0, 1]), Handshake::Apache);
        assert_eq!(classify(&[0, 0]), Handshake::Apache);
    }

    #[test]
    fn the_connect_response_becomes_keepers_36_bytes() {
        let x = KeeperConn::new(XID64);
        let mut ours = Vec::new();
        ours.extend_from_slice(&37i32.to_be_bytes());
        ours.extend_from_slice(&0i32.to_be_bytes());
        ours.extend_from_slice(&10_000i32.to_be_bytes());
        ours.extend_from_slice(&0x0102_0304_0506_0708i64.to_be_bytes());
        ours.extend_from_slice(&16i32.to_be_bytes());
        ours.extend_from_slice(&[7; 16]);
        ours.push(0);
        let out = x.outbound(&ours);
        let mut want = Vec::new();
        want.extend_from_slice(&36i32.to_be_bytes());
        want.extend_from_slice(&11i32.to_be_bytes());
        want.extend_from_slice(&ours[8..40]);
        assert_eq!(&out[..], &want[..]);
    }

    #[test]
    fn xids_are_swapped_and_restored() {
        let x = KeeperConn::new(XID64);
        x.outbound(&[0; 41]); // the ConnectResponse
        let big = (1i64 << 40) + 5;
        let mut req = BytesMut::new();
        req.put_i64(big);
        req.put_i32(4);
        req.put_slice(b"body");
        let (local, op, body) = x.inbound(&req.freeze()).unwrap();
        assert!(local > 0);
        assert_eq!((op, &body[..]), (4, &b"body"[..]));
        // Its reply, as the core writes it: len, xid, zxid, err, body.
        let mut reply = BytesMut::new();
        reply.put_i32(16 + 2);
        reply.put_i32(local);
        reply.put_i64(9);
        reply.put_i32(0);
        reply.put_slice(b"ok");
        let out = x.outbound(&reply);
        let mut want = BytesMut::new();
        want.put_i32(20 + 2);
        want.put_i64(big);
        want.put_i64(9);
        want.put_i32(0);
        want.put_slice(b"ok");
        assert_eq!(out, want.freeze());
        // Pings, auth and watch events keep their negative xid, widened.
        assert_eq!(x.local(-2), -2);
        assert_eq!(x.local(-4), -4);
        let mut event = BytesMut::new();
        event.put_i32(16);
        event.put_i32(-1);
        event.put_i64(-1);
        event.put_i32(0);
        assert_eq!(&x.outbound(&event)[4..12], &(-1i64).to_be_bytes());
        // ClickHouse's close carries i64::MAX; it gets a local xid like any other.
        assert!(x.local(i64::MAX) > 0);
        assert!(x.inbound(&Bytes::from_static(&[0; 11])).is_err());
    }

    /// A reply frame as the core writes it: len, xid, zxid, err, body.
    fn core_reply(xid: i32, zxid: i64, body: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(16 + body.len() as i32).to_be_bytes());
        b.extend_from_slice(&xid.to_be_bytes());
        b.extend_from_slice(&zxid.to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn every_frame_of_a_buffer_is_rewritten() {
        let x = KeeperConn::new(XID64);
        // The ConnectResponse and two replies in one buffer, as one turn of
        // the core may queue them.
        let mut buf = vec![0, 0, 0, 36];
        buf.extend_from_slice(&[0; 36]);
        let a = x.local(1 << 33);
        let b = x.local((1 << 33) + 1);
        buf.extend_from_slice(&core_reply(a, 5, b"aa"));
        buf.extend_from_slice(&core_reply(-1, 6, b""));
        buf.extend_from_slice(&core_reply(b, 7, b"b"));
        let out = x.outbound(&buf);
        let mut want = vec![0, 0, 0, 36, 0, 0, 0, 11];
        want.extend_from_slice(&[0; 32]);
        for (xid, zxid, body) in [
            (1i64 << 33, 5i64, &b"aa"[..]),
            (-1, 6, b""),
            ((1 << 33) + 1, 7, b"b"),
        ] {
            want.extend_from_slice(&(20 + body.len() as i32).to_be_bytes());
            want.extend_from_slice(&xid.to_be_bytes());
            want.extend_from_slice(&zxid.to_be_bytes());
            want.extend_from_slice(&0i32.to_be_bytes());
            want.extend_from_slice(body);
        }
        assert_eq!(&out[..], &want[..]);
        assert!(x.inner.lock().unwrap().pending.is_empty());
    }

    #[test]
    fn with_compression_all_but_the_handshake_answer_is_in_blocks() {
        let x = KeeperConn::new(Framing {
            version: 10,
            xid64: false,
            compression: true,
        });
        let mut buf = vec![0, 0, 0, 36];
        buf.extend_from_slice(&[0; 36]);
        let reply = core_reply(3, 5, b"aa");
        buf.extend_from_slice(&reply);
        let out = x.outbound(&buf);
        assert_eq!(&out[..8], &[0, 0, 0, 36, 0, 0, 0, 10]);
        let mut src = BytesMut::from(&out[40..]);
        let mut plain = BytesMut::new();
        crate::keeper_compress::decompress_from(&mut src, &mut plain, 1 << 20).unwrap();
        assert!(src.is_empty());
        assert_eq!(&plain[..], &reply[..], "32-bit xids stay as they are");
        let later = x.outbound(&reply);
        let mut src = BytesMut::from(&later[..]);
        let mut plain = BytesMut::new();
        crate::keeper_compress::decompress_from(&mut src, &mut plain, 1 << 20).unwrap();
        assert_eq!(&plain[..], &reply[..]);
    }

    #[test]
    fn local_xids_wrap_and_skip_the_ones_in_flight() {
        let x = KeeperConn::new(XID64);
        x.inner.lock().unwrap().last = i32::MAX - 1;
        assert_eq!(x.local(100), i32::MAX);
        assert_eq!(x.local(101), 1);
        x.inner.lock().unwrap().last = i32::MAX;
        // 1 is still pending: the next free one is 2.
        assert_eq!(x.local(102), 2);
    }
}
