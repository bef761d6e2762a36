//! The SASL decoders of untrusted bytes: a DIGEST-MD5 client response
//! (`zk_server::sasl::digest_md5`) and a JAAS file (`zk_server::sasl::jaas`, read
//! at start-up, but an operator's file is input too). The first byte picks:
//!
//! - 0: the bytes are a JAAS file (UTF-8, lossily); whatever parses, written
//!   back out with every name and value quoted, parses to the same sections;
//! - 1: the bytes are a digest-response; whatever splits into directives,
//!   written back quoted, splits the same;
//! - 2: a whole exchange: the empty first token, then the bytes as the response
//!   to the challenge (refused unless they answer this nonce, which random bytes
//!   cannot), then the bytes again, which a finished exchange always refuses.
//!
//! Asserts the properties above; memory stays linear in the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| zk_fuzz::checks::sasl_digest::run(data));
