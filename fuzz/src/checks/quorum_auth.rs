//! Quorum SASL's decoders of untrusted bytes (issue 13): the `QuorumAuthPacket`s a
//! peer sends on the election and quorum ports (`zab_net::quorum_auth`), and the
//! server's tokens our DIGEST-MD5 client reads (`zk_server::sasl::quorum`). The first
//! byte picks:
//!
//! - 0: the bytes are a stream of auth packets: each one decoded, encoded again,
//!   gives back exactly the bytes it was decoded from; a refused or incomplete rest
//!   stops the loop;
//! - 1: the bytes are a challenge for our client, then (if it answered) its rspauth:
//!   random bytes can never complete the exchange.
//!
//! Memory stays linear in the input.

use bytes::BytesMut;
use zab_net::quorum_auth::AuthPacket;
use zab_net::SaslClientExchange;
use zk_server::sasl::quorum::{DigestMd5Client, PROTOCOL, SERVER_NAME};

fn packets(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.clone();
        match AuthPacket::decode(&mut buf) {
            Ok(Some(p)) => {
                let used = before.len() - buf.len();
                let mut again = BytesMut::new();
                p.encode(&mut again);
                assert_eq!(&again[..], &before[..used], "auth packet round trip");
            }
            Ok(None) | Err(_) => return,
        }
    }
}

fn client(data: &[u8]) {
    let mut c = DigestMd5Client::new("test", "test", PROTOCOL, SERVER_NAME);
    if let Ok(Some(_)) = c.evaluate(data) {
        let _ = c.evaluate(data);
        assert!(
            !c.is_complete(),
            "random bytes passed as the server's rspauth"
        );
    }
}

/// The target's check of one input (the fuzz target and the seed test call it).
pub fn run(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let ((), stats) = crate::measure(|| match pick % 2 {
        0 => packets(rest),
        _ => client(rest),
    });
    crate::assert_bounded("quorum_auth", stats, rest.len(), 1024, 32);
}
