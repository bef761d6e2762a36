//! The initial message of an election connection (ZooKeeper's
//! `QuorumCnxManager.startConnection` / `handleConnection` /
//! `InitialMessage.parse`).
//!
//! ```text
//! initial   := long(version) long(sid) int(len) utf8{len}   ; version = -65536 (V1) or -65535 (V2)
//!            | long(sid)                                     ; pre-3.5 form: sid >= 0, nothing else
//! utf8{len} := address ("|" address)*                        ; 0 < len <= 2048; V1 sends one address
//! address   := host ":" port | "[" ipv6 "]" ":" port
//! ```
//!
//! A negative first long that is not a known version closes the connection,
//! as does a length outside `1..=2048` or a badly formed address. After the
//! initial message the connection carries [`crate::frame`] frames.

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use zab_core::ServerId;

use crate::error::NetError;

pub use zab_core::wire::{
    InitialMessage, ELECTION_PROTOCOL_V1 as PROTOCOL_VERSION_V1,
    ELECTION_PROTOCOL_V2 as PROTOCOL_VERSION_V2,
};

/// `QuorumCnxManager.maxBuffer`: the cap on the address string.
pub const MAX_ADDRESS_LEN: usize = 2048;

/// The V1 message ZooKeeper 3.8 sends when multi-address is off.
pub fn v1(sid: ServerId, address: &str) -> InitialMessage {
    InitialMessage {
        protocol_version: Some(PROTOCOL_VERSION_V1),
        sid,
        addresses: vec![address.to_owned()],
    }
}

/// Splits and checks `host:port|host:port`, as `InitialMessage.parse` does.
fn parse_addresses(s: &str) -> Result<Vec<String>, NetError> {
    let bad = |a: &str| NetError::BadAddress { addr: a.to_owned() };
    let mut out = Vec::new();
    for addr in s.split('|') {
        let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
            let (host, tail) = rest.split_once(']').ok_or_else(|| bad(addr))?;
            (host, tail.strip_prefix(':').ok_or_else(|| bad(addr))?)
        } else {
            let (host, port) = addr.split_once(':').ok_or_else(|| bad(addr))?;
            if port.contains(':') {
                return Err(bad(addr));
            }
            (host, port)
        };
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(bad(addr));
        }
        out.push(addr.to_owned());
    }
    Ok(out)
}

/// Decodes exactly one [`InitialMessage`] (zab-core's type) off a stream;
/// what follows stays in the buffer. It finds the message's end itself so
/// that incomplete input waits, and checks what ZooKeeper's
/// `InitialMessage.parse` checks.
#[derive(Debug, Clone, Default)]
pub struct InitialMessageCodec;

impl Decoder for InitialMessageCodec {
    type Item = InitialMessage;
    type Error = NetError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<InitialMessage>, NetError> {
        if src.len() < 8 {
            return Ok(None);
        }
        let first = i64::from_be_bytes(src[..8].try_into().expect("8 bytes"));
        if first >= 0 {
            src.advance(8);
            return Ok(Some(InitialMessage {
                protocol_version: None,
                sid: ServerId(first as u64),
                addresses: Vec::new(),
            }));
        }
        if first != PROTOCOL_VERSION_V1 && first != PROTOCOL_VERSION_V2 {
            return Err(NetError::UnknownProtocolVersion { version: first });
        }
        if src.len() < 20 {
            return Ok(None);
        }
        let sid = i64::from_be_bytes(src[8..16].try_into().expect("8 bytes"));
        let len = i32::from_be_bytes(src[16..20].try_into().expect("4 bytes"));
        if len <= 0 {
            return Err(NetError::NegativeLength {
                field: "address",
                len: len as i64,
            });
        }
        let len = len as usize;
        if len > MAX_ADDRESS_LEN {
            return Err(NetError::TooLarge {
                field: "address",
                len: len as u64,
                max: MAX_ADDRESS_LEN,
            });
        }
        if src.len() < 20 + len {
            src.reserve(20 + len - src.len());
            return Ok(None);
        }
        let text = std::str::from_utf8(&src[20..20 + len])
            .map_err(|_| NetError::InvalidUtf8 { field: "address" })?;
        let addresses = parse_addresses(text)?;
        src.advance(20 + len);
        Ok(Some(InitialMessage {
            protocol_version: Some(first),
            sid: ServerId(sid as u64),
            addresses,
        }))
    }
}

impl Encoder<InitialMessage> for InitialMessageCodec {
    type Error = NetError;

    fn encode(&mut self, item: InitialMessage, dst: &mut BytesMut) -> Result<(), NetError> {
        dst.extend_from_slice(&item.encode());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(bytes: &[u8]) -> Result<Option<InitialMessage>, NetError> {
        InitialMessageCodec.decode(&mut BytesMut::from(bytes))
    }

    #[test]
    fn v1_layout_matches_zookeeper() {
        let b = v1(ServerId(3), "127.0.0.1:3888").encode();
        let mut want = Vec::new();
        want.extend_from_slice(&(-65536i64).to_be_bytes());
        want.extend_from_slice(&3i64.to_be_bytes());
        want.extend_from_slice(&14i32.to_be_bytes());
        want.extend_from_slice(b"127.0.0.1:3888");
        assert_eq!(&b[..], &want[..]);
        assert_eq!(
            decode(&want).unwrap().unwrap(),
            v1(ServerId(3), "127.0.0.1:3888")
        );
    }

    #[test]
    fn old_form_is_just_the_sid_and_leaves_the_rest() {
        let mut buf = BytesMut::from(&7i64.to_be_bytes()[..]);
        buf.extend_from_slice(&[0, 0, 0, 1, 42]);
        let m = InitialMessageCodec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(m.sid, ServerId(7));
        assert_eq!(m.protocol_version, None);
        assert_eq!(&buf[..], &[0, 0, 0, 1, 42]);
    }

    #[test]
    fn v2_carries_several_addresses() {
        let m = InitialMessage {
            protocol_version: Some(PROTOCOL_VERSION_V2),
            sid: ServerId(2),
            addresses: vec!["a:1".into(), "[::1]:3888".into()],
        };
        let b = m.encode();
        assert_eq!(decode(&b).unwrap().unwrap(), m);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let head = |v: i64, len: i32| {
            let mut b = Vec::new();
            b.extend_from_slice(&v.to_be_bytes());
            b.extend_from_slice(&1i64.to_be_bytes());
            b.extend_from_slice(&len.to_be_bytes());
            b
        };
        assert!(matches!(
            decode(&(-5i64).to_be_bytes()),
            Err(NetError::UnknownProtocolVersion { version: -5 })
        ));
        assert!(decode(&head(PROTOCOL_VERSION_V1, 0)).is_err());
        assert!(decode(&head(PROTOCOL_VERSION_V1, -1)).is_err());
        assert!(matches!(
            decode(&head(PROTOCOL_VERSION_V1, 2049)),
            Err(NetError::TooLarge { .. })
        ));
        for addr in ["nohost", ":1", "h:", "h:99999", "a:b:c", "[::1]3888"] {
            let mut b = head(PROTOCOL_VERSION_V1, addr.len() as i32);
            b.extend_from_slice(addr.as_bytes());
            assert!(decode(&b).is_err(), "{addr} accepted");
        }
    }

    #[test]
    fn incomplete_input_waits() {
        let b = v1(ServerId(1), "h:1").encode();
        for cut in 0..b.len() {
            assert!(decode(&b[..cut]).unwrap().is_none(), "cut {cut}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn round_trip(sid in 0u64..i64::MAX as u64, port in any::<u16>(), old in any::<bool>()) {
            let m = if old {
                InitialMessage { protocol_version: None, sid: ServerId(sid), addresses: vec![] }
            } else {
                v1(ServerId(sid), &format!("10.0.0.1:{port}"))
            };
            let b = m.encode();
            prop_assert_eq!(decode(&b).unwrap().unwrap(), m);
        }
    }
}
