//! What the benches' smoke tests share: a standalone server in the test's own process, our
//! server's binary for those that start processes, and the C programs in benches built with
//! gcc.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use zk_server::config::Config;

/// A standalone server on 127.0.0.1 (a free port), its data in `dir`, run by a runtime of
/// one worker thread; the runtime must live as long as the server is used.
pub fn start_standalone(dir: &Path) -> (tokio::runtime::Runtime, SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cfg = Config::parse(
        &format!(
            "tickTime=2000\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\npreAllocSize=1024\n\
             admin.enableServer=false\n",
            dir.display()
        ),
        "smoke",
    )
    .unwrap();
    let server = rt.block_on(zk_server::Server::start(cfg)).unwrap();
    (rt, server.local_addr)
}

/// `benches/<source>` (a C program) built with gcc as its bench script builds it, warnings
/// as errors, linked with `libs` (`-l` names), into `dir`; the binary's path.
pub fn build_c(source: &str, dir: &Path, libs: &[&str]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(source);
    let name = src.file_stem().expect("a file name");
    let bin = dir.join(name);
    let out = Command::new("gcc")
        .args(["-O2", "-Wall", "-Werror", "-o"])
        .arg(&bin)
        .arg(&src)
        .args(libs.iter().map(|l| format!("-l{l}")))
        .output()
        .expect("gcc (installed by .ci/run)");
    assert!(
        out.status.success(),
        "gcc {}: {}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

/// Our server's binary: `$ZK_SERVER_BIN`, or built into this test's target directory.
pub fn server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("ZK_SERVER_BIN") {
        return PathBuf::from(p);
    }
    // Test executables live in <target>/<profile>/deps/.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let profile = profile_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let target = profile_dir.parent().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "-p", "zk-server", "--bin", "zk-server"])
        .env("CARGO_TARGET_DIR", target);
    if profile == "release" {
        cmd.arg("--release");
    }
    let out = cmd.output().expect("run cargo build");
    assert!(
        out.status.success(),
        "cargo build -p zk-server failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target.join(&profile).join("zk-server")
}
