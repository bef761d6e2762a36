//! kazoo's own test suite against our server (issue 13): kazoo 2.11's `kazoo.tests`
//! modules on its own harness (kazoo/testing: a 3-server cluster with the zoo.cfg,
//! JAAS file and JKS stores it writes), run by tests/py/kazoo_suite.py, which makes
//! the harness start our binary instead of `java ... QuorumPeerMain`, the -D flags in
//! SERVER_JVMFLAGS. The chosen tests pass against Apache ZooKeeper 3.8 too
//! (`kazoo_suite.py --server apache`; docs/compatibility.md lists the survey). pytest's
//! result is asserted: every chosen test PASSED, none failed.

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use zk_tests::{crate_dir, free_port, python, run_with_timeout, server_binary};

/// The harness's ports: offset .. offset+25 (three servers, ten apart), all free.
fn port_offset() -> u16 {
    for _ in 0..200 {
        let base = free_port();
        if base > 31_000 {
            continue;
        }
        if (1..25).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no 25 free ports in a row");
}

/// Runs the kazoo test ids `tests` (module or module::Class[::test]) against ours and
/// asserts that each of `expect_passed` PASSED and nothing failed.
fn kazoo_suite(tests: &[&str], expect_passed: &[&str]) {
    let mut cmd = Command::new(python());
    cmd.arg(crate_dir().join("py/kazoo_suite.py"))
        .args(["--server", "ours"])
        .args(tests)
        .args(["-rA", "-p", "no:warnings", "-p", "no:cacheprovider"])
        .env("ZK_SERVER_BIN", server_binary())
        .env("ZOOKEEPER_PORT_OFFSET", port_offset().to_string())
        .env("ZOOKEEPER_VERSION", "3.8.0")
        .env_remove("ZOOKEEPER_JAAS_AUTH")
        .current_dir(tempfile::tempdir().unwrap().keep());
    let out = run_with_timeout(&mut cmd, Duration::from_secs(170));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.lines().last().unwrap_or("");
    let passed: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("PASSED "))
        .collect();
    let missing: Vec<&&str> = expect_passed
        .iter()
        .filter(|t| !passed.iter().any(|p| p.ends_with(*t)))
        .collect();
    assert!(
        out.status.success() && missing.is_empty() && !summary.contains("failed"),
        "kazoo's tests {tests:?} on our server: {summary} ({}); not passed: {missing:?}\n{}\n{}",
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kazoo_s_tls_and_sasl_digest_tests_pass_on_ours() {
    kazoo_suite(
        &[
            "kazoo.tests.test_client::TestSSLClient",
            "kazoo.tests.test_sasl::TestLegacySASLDigestAuthentication",
            "kazoo.tests.test_sasl::TestSASLDigestAuthentication",
        ],
        &[
            "TestSSLClient::test_create",
            "TestLegacySASLDigestAuthentication::test_connect_sasl_auth",
            "TestLegacySASLDigestAuthentication::test_invalid_sasl_auth",
            "TestSASLDigestAuthentication::test_connect_sasl_auth",
            "TestSASLDigestAuthentication::test_invalid_sasl_auth",
        ],
    );
}
