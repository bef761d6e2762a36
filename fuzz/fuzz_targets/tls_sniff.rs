//! Port unification (`client.portUnification`): `zk_server::tls::sniff` over every
//! prefix of the first bytes of a connection, as they may arrive.
//!
//! Asserts: only fewer than 5 bytes starting with a handshake record's type (22)
//! leave it undecided; from 5 bytes on only the first 5 decide; a four-letter word
//! or a ConnectRequest is never taken for TLS.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| zk_fuzz::checks::tls_sniff::run(data));
