//! snappy-java's stream format (`zab_storage::snappy_stream`), which Apache ZooKeeper's
//! `snapshot.<zxid>.snappy` files are written in. The input is a file's bytes, with
//! snappy-java's header put in front when the first byte is odd.
//!
//! Asserts: decoding never panics and memory stays linear in the input (a chunk's
//! declared lengths are checked against the bytes there); what decodes, encoded again,
//! decodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| zk_fuzz::checks::snappy_stream::run(data));
