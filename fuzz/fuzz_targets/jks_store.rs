//! JKS key stores (`zk_server::tls::jks`), the one store format whose parser is ours:
//! `JksStore::parse` with and without a password, then `recover_key` on every key
//! entry, and the subject of every certificate through `tls::dn` (Java's RFC 2253
//! form). A mode byte recomputes the store's integrity digest so that mutations
//! get past it.
//!
//! Asserts: a store that parses with the password also parses without it, to the
//! same entries; a DN we print is one `is_valid_x500_name` accepts (an ACL naming it
//! is valid); memory stays linear in the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| zk_fuzz::checks::jks_store::run(data));
