//! JKS key stores (`zk_server::tls::jks`), the one store format whose parser is ours:
//! `JksStore::parse` with and without a password, then `recover_key` on every key
//! entry, and the subject of every certificate through `tls::dn` (Java's RFC 2253
//! form). A mode byte recomputes the store's integrity digest so that mutations
//! get past it.
//!
//! Asserts: a store that parses with the password also parses without it, to the
//! same entries; a DN we print is one `is_valid_x500_name` accepts (an ACL naming it
//! is valid); memory stays linear in the input.

use sha1::{Digest, Sha1};
use zk_server::tls::dn::{is_valid_x500_name, subject_rfc2253};
use zk_server::tls::jks::{recover_key, JksEntry, JksStore};

const PASSWORD: &str = "changeit";

fn fix_digest(store: &mut [u8]) {
    if store.len() < 20 {
        return;
    }
    let body = store.len() - 20;
    let mut h = Sha1::new();
    let pw: Vec<u8> = PASSWORD
        .encode_utf16()
        .flat_map(|c| c.to_be_bytes())
        .collect();
    h.update(&pw);
    h.update(b"Mighty Aphrodite");
    h.update(&store[..body]);
    let d = h.finalize();
    store[body..].copy_from_slice(&d);
}

fn check_cert(der: &[u8]) {
    if let Ok(dn) = subject_rfc2253(der) {
        assert!(
            is_valid_x500_name(&dn),
            "we print {dn:?} but refuse it as an ACL id"
        );
    }
}

/// The target's check of one input (the fuzz target and the seed test call it).
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut store = rest.to_vec();
    if mode & 1 == 1 {
        fix_digest(&mut store);
    }
    let ((), stats) = crate::measure(|| {
        let _ = is_valid_x500_name(&String::from_utf8_lossy(rest));
        check_cert(rest);
        let with = JksStore::parse(&store, Some(PASSWORD));
        let without = JksStore::parse(&store, None);
        if let Ok(s) = &with {
            assert_eq!(
                without.as_ref(),
                Ok(s),
                "the password changed what was read"
            );
            for e in &s.entries {
                match e {
                    JksEntry::PrivateKey {
                        alias,
                        encrypted_key,
                        chain,
                    } => {
                        let _ = recover_key(alias, encrypted_key, PASSWORD);
                        chain.iter().for_each(|c| check_cert(c));
                    }
                    JksEntry::Trusted { cert, .. } => check_cert(cert),
                }
            }
        }
    });
    crate::assert_bounded("jks store", stats, data.len(), 0, 32);
}
