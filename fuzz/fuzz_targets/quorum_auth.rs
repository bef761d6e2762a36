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
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| zk_fuzz::checks::quorum_auth::run(data));
