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

use std::sync::Arc;

use zk_server::sasl::digest_md5::{parse_directives, DigestMd5Server, KEYS};
use zk_server::sasl::jaas::JaasConfig;
use zk_server::sasl::{Credentials, Mechanism, Step};

fn quote(s: &[u8]) -> Vec<u8> {
    let mut out = vec![b'"'];
    for &c in s {
        match c {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', c]),
            _ => out.push(c),
        }
    }
    out.push(b'"');
    out
}

fn jaas_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn jaas(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(cfg) = JaasConfig::parse(&text, "fuzz.jaas") else {
        return;
    };
    let mut out = String::new();
    for (name, entries) in &cfg.sections {
        out.push_str(&jaas_quote(name));
        out.push_str(" {\n");
        for e in entries {
            out.push_str(&format!("  {} {}", jaas_quote(&e.class), e.flag));
            for (k, v) in &e.options {
                out.push_str(&format!(" {}={}", jaas_quote(k), jaas_quote(v)));
            }
            out.push_str(";\n");
        }
        out.push_str("};\n");
    }
    let again = JaasConfig::parse(&out, "rewritten.jaas");
    assert_eq!(again.as_ref(), Ok(&cfg), "JAAS round trip of:\n{out}");
}

fn directives(data: &[u8]) {
    let Ok(d) = parse_directives(data) else {
        return;
    };
    let mut out = Vec::new();
    for k in KEYS {
        if let Some(v) = d.get(k) {
            if !out.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(k.as_bytes());
            out.push(b'=');
            out.extend(quote(v));
        }
    }
    let again = parse_directives(&out);
    assert_eq!(again.as_ref(), Ok(&d), "directives round trip");
}

fn exchange(data: &[u8]) {
    let creds = Credentials::from_users([("bob".to_string(), "bobsecret".to_string())]);
    let mut s = DigestMd5Server::new(Arc::new(creds));
    assert!(matches!(s.evaluate(b""), Ok(Step::Challenge(_))));
    assert!(
        s.evaluate(data).is_err(),
        "a response that does not know the nonce was accepted"
    );
    assert!(s.evaluate(data).is_err(), "a finished exchange went on");
}

/// The target's check of one input (the fuzz target and the seed test call it).
pub fn run(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let ((), stats) = crate::measure(|| match pick % 3 {
        0 => jaas(rest),
        1 => directives(rest),
        _ => exchange(rest),
    });
    crate::assert_bounded("sasl", stats, rest.len(), 0, 32);
}
