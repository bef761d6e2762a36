//! Port unification (`client.portUnification`): `zk_server::tls::sniff` over every
//! prefix of the first bytes of a connection, as they may arrive.
//!
//! Asserts: only fewer than 5 bytes starting with a handshake record's type (22)
//! leave it undecided; from 5 bytes on only the first 5 decide; a four-letter word
//! or a ConnectRequest is never taken for TLS.

use zk_server::tls::{sniff, Sniff};

/// The target's check of one input (the fuzz target and the seed test call it).
pub fn run(data: &[u8]) {
    let at5 = (data.len() >= 5).then(|| sniff(&data[..5]));
    for n in 0..=data.len().min(64) {
        let s = sniff(&data[..n]);
        if n == 0 || (n < 5 && data[0] == 22) {
            assert_eq!(s, Sniff::NeedMore, "{:?}", &data[..n]);
        } else {
            assert_ne!(s, Sniff::NeedMore, "{:?}", &data[..n]);
        }
        if n >= 5 {
            assert_eq!(Some(s), at5, "bytes after the fifth changed the answer");
        }
    }
    // A ConnectRequest: its length (44 or 45), then protocol version 0.
    assert_eq!(sniff(&[0, 0, 0, 45, 0, 0, 0, 0]), Sniff::Plain);
    for w in zk_server::config::ALL_FOUR_LETTER_WORDS {
        assert_eq!(sniff(w.as_bytes()), Sniff::Plain);
    }
}
