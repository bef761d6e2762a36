//! OCSP responses as a responder sends them (`ssl.ocsp`): `zk_server::tls::ocsp`.
//! See `zk_fuzz::checks::ocsp_response` for the input layout and what is asserted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| zk_fuzz::checks::ocsp_response::run(data));
