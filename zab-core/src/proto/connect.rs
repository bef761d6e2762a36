//! The handshake: the first frame a client sends and the server's answer.
//! A reconnect to a session that is gone is answered with a zero timeout
//! (the client reads it as expired), then the connection closes.
//!
//! ```text
//! ConnectRequest  := int(protocolVersion) long(lastZxidSeen) int(timeOut)
//!                    long(sessionId) buffer(passwd) [boolean(readOnly)]
//! ConnectResponse := int(protocolVersion) int(timeOut) long(sessionId)
//!                    buffer(passwd) [boolean(readOnly)]   ; readOnly only if asked
//! ```
//!
//! Clients before ZooKeeper 3.4 (and go-zookeeper, node clients today) send
//! the 44-byte form without `readOnly` and must get the answer without it.

use bytes::Bytes;

use crate::jute::record;

record! {
    /// The handshake a client opens with. `read_only` is `None` for the 44-byte
    /// legacy form (go-zookeeper, node clients), which must get a reply without it.
    ConnectRequest {
        protocol_version: i32 = int,
        last_zxid_seen: i64 = long,
        timeout_ms: i32 = int,
        session_id: i64 = long,
        passwd: Bytes = buffer,
        read_only: Option<bool> = trailing_boolean,
    }

    /// The server's answer to the handshake; `read_only` mirrors the request's form.
    ConnectResponse {
        protocol_version: i32 = int,
        timeout_ms: i32 = int,
        session_id: i64 = long,
        passwd: Bytes = buffer,
        read_only: Option<bool> = trailing_boolean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::Record;

    #[test]
    fn legacy_connect_request_is_44_bytes_and_has_no_read_only() {
        let req = ConnectRequest {
            passwd: Bytes::from(vec![0u8; 16]),
            timeout_ms: 30000,
            ..Default::default()
        };
        let b = req.to_bytes();
        assert_eq!(b.len(), 44);
        assert_eq!(ConnectRequest::from_bytes(&b).unwrap().read_only, None);
        let req45 = ConnectRequest {
            read_only: Some(false),
            ..req
        };
        assert_eq!(req45.to_bytes().len(), 45);
        assert_eq!(
            ConnectRequest::from_bytes(&req45.to_bytes())
                .unwrap()
                .read_only,
            Some(false)
        );
    }
}
