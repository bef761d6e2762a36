//! The server gives free memory back to the kernel after a burst of frees
//! (`zk_server::memory`): its own thread calls glibc's `malloc_trim(0)` once the bytes
//! freed since the last trim pass `memory.trim.thresholdMB`, and logs each trim at debug.
//!
//! What RSS a trim gives back depends on the machine and on glibc, so it is measured in
//! docs/performance.md ("Memory per watch: free memory given back"), not asserted here;
//! these tests check the mechanism in the real binary: its allocator counts, its trimmer
//! runs, and the key turns it off.

use std::time::Duration;

use zk_tests::raw::{self, RawClient};
use zk_tests::{wait_until, Kind, Options, TestServer};

/// The server's debug lines of `zk_server::memory` go to its stderr.
fn with_trim_log(extra: &[(&str, &str)]) -> TestServer {
    std::env::set_var("RUST_LOG", "info,zk_server::memory=debug");
    let opts = Options {
        extra: extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Options::default()
    };
    TestServer::start(Kind::Ours, &opts)
}

fn stderr(s: &TestServer) -> String {
    std::fs::read_to_string(s.dir.path().join("logs").join("stderr.log")).unwrap_or_default()
}

fn trims(s: &TestServer) -> usize {
    stderr(s).matches("malloc_trim(0)").count()
}

#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn deleting_large_values_is_followed_by_a_trim() {
    let server = with_trim_log(&[
        ("memory.trim.thresholdMB", "8"),
        ("memory.trim.intervalMs", "0"),
    ]);
    assert!(
        stderr(&server).contains("memory.trim: malloc_trim(0) after 8 MiB freed"),
        "{}",
        server.log_tail()
    );
    let mut c = RawClient::connect(server.addr()).unwrap();
    // 200 values of 100,000 bytes: 20 MB in the tree, in chunks glibc serves from its
    // heaps (under its 128 KiB mmap threshold).
    let value = vec![b'v'; 100_000];
    for i in 0..200 {
        let r = c
            .call(
                raw::OP_CREATE,
                &raw::create_body(&format!("/v{i}"), Some(&value), 0, None),
            )
            .unwrap();
        assert_eq!(r.err, 0, "create /v{i}");
    }
    let before = trims(&server);
    for i in 0..200 {
        let mut body = Vec::new();
        raw::put_str(&mut body, &format!("/v{i}"));
        raw::put_i32(&mut body, -1);
        let r = c.call(raw::OP_DELETE, &body).unwrap();
        assert_eq!(r.err, 0, "delete /v{i}");
    }
    assert!(
        wait_until(Duration::from_secs(20), || trims(&server) > before),
        "no trim after 20 MB of values were deleted:\n{}",
        server.log_tail()
    );
    let log = stderr(&server);
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("malloc_trim(0)"))
        .unwrap();
    assert!(line.contains("freed since the last trim"), "{line}");
}

#[test]
fn memory_trim_enabled_false_turns_it_off() {
    let server = with_trim_log(&[("memory.trim.enabled", "false")]);
    assert!(
        stderr(&server).contains("memory.trim: off"),
        "{}",
        server.log_tail()
    );
    assert!(!stderr(&server).contains("unknown key"));
}
