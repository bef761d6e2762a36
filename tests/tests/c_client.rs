//! Apache ZooKeeper's C client (libzookeeper-mt, compiled here with gcc from tests/c/) runs the
//! same operations against Apache ZooKeeper 3.8 and against our server; the JSON lines it
//! prints are normalised and compared like the kazoo scripts'.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use zk_tests::{crate_dir, diff, run_with_timeout, start_pair, Options, TestServer};

/// Compiles tests/c/zkc_ops.c into a temporary directory.
fn compile(dir: &std::path::Path) -> PathBuf {
    let exe = dir.join("zkc_ops");
    let cc = std::env::var("CC").unwrap_or_else(|_| "gcc".into());
    let mut cmd = Command::new(cc);
    cmd.args(["-Wall", "-O0", "-DTHREADED", "-o"])
        .arg(&exe)
        .arg(crate_dir().join("c").join("zkc_ops.c"))
        .args(["-lzookeeper_mt", "-lpthread"]);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "compiling tests/c/zkc_ops.c failed (is libzookeeper-mt-dev installed?):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

fn run(exe: &std::path::Path, server: &TestServer) -> Vec<String> {
    let mut cmd = Command::new(exe);
    cmd.arg(server.hosts());
    let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "zkc_ops against the {} server failed ({}):\n{}\nstdout:\n{}\nserver log:\n{}",
        server.kind.name(),
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout),
        server.log_tail()
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn c_client_matches_apache() {
    let build = tempfile::tempdir().unwrap();
    let exe = compile(build.path());
    let (apache, ours) = start_pair(&Options::default());
    let (a, o) = std::thread::scope(|s| {
        let a = s.spawn(|| run(&exe, &apache));
        let o = run(&exe, &ours);
        (a.join().unwrap(), o)
    });
    diff::assert_same("C client", &diff::normalise(&a), &diff::normalise(&o));
}
