//! The seed corpora of the fuzz targets added with issues 12 and 13, run once through the
//! targets' own checks (`zk_fuzz::checks`): what a fuzzing session starts from must pass,
//! and this runs on stable Rust where cargo-fuzz and nightly are not at hand
//! (`cargo test --manifest-path fuzz/Cargo.toml --test seeds`).
//!
//! One test on purpose: the checks measure allocations through a process-wide counter, so
//! they must not run concurrently.

use std::path::Path;

use zab_storage::snappy_stream::encode;
use zk_fuzz::checks;

/// One target's check of one input.
type Check = fn(&[u8]);

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            (p.display().to_string(), std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds for {target}");
    out
}

#[test]
fn seed_corpora_pass_their_targets_checks() {
    let targets: [(&str, Check); 5] = [
        ("jks_store", checks::jks_store::run),
        ("ocsp_response", checks::ocsp_response::run),
        ("tls_sniff", checks::tls_sniff::run),
        ("sasl_digest", checks::sasl_digest::run),
        ("quorum_auth", checks::quorum_auth::run),
    ];
    let mut ran = 0;
    for (target, run) in targets {
        for (name, bytes) in seeds(target) {
            eprintln!("{target}: {name} ({} bytes)", bytes.len());
            run(&bytes);
            // Every prefix too: a truncated input is the commonest mutation.
            for n in (0..bytes.len()).step_by((bytes.len() / 16).max(1)) {
                run(&bytes[..n]);
            }
            ran += 1;
        }
    }
    // snappy_stream has no seed directory: its inputs are snappy-java streams of a few
    // shapes (empty, short, one block of 64 KiB and more, repetitive and not), behind both
    // mode bytes (odd: the header is put in front; even: taken as it is).
    let mut noise = Vec::new();
    let mut x: u32 = 0x1234_5678;
    for _ in 0..70_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        noise.push(x as u8);
    }
    let plain: [&[u8]; 4] = [b"", b"BenWasHere", &[7u8; 100_000], &noise];
    for p in plain {
        let file = encode(p);
        for mode in [0u8, 1] {
            let mut input = vec![mode];
            input.extend_from_slice(&file);
            checks::snappy_stream::run(&input);
            input.truncate(input.len() / 2);
            checks::snappy_stream::run(&input);
            ran += 1;
        }
    }
    assert!(ran >= 30, "only {ran} inputs ran");
}
