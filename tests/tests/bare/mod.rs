//! Servers started from a zoo.cfg written by the test itself, for what the harness's
//! `TestServer` cannot express: a file without `4lw.commands.whitelist`, a host name as
//! clientPortAddress, files that must be refused. Each process is killed by its pid on drop.
//! Shared by several test crates, each of which uses part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use zk_tests::{apache_classpath, four_letter_word, free_port, java, server_binary, Kind};

pub struct Bare {
    child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Bare {
    fn drop(&mut self) {
        // Only the process this test started, by its pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The command that runs a server of `kind` on the zoo.cfg at `cfg`.
pub fn server_command(kind: Kind, cfg: &Path) -> Command {
    server_command_with(kind, cfg, &[])
}

/// The same, with Java system properties (`key=value`): some of Apache's settings are read
/// from properties only (`znode.container.checkIntervalMs`). Apache gets them as `-D` flags
/// on its command line, ours in `SERVER_JVMFLAGS`, as zkServer.sh hands them over.
pub fn server_command_with(kind: Kind, cfg: &Path, props: &[&str]) -> Command {
    let mut cmd = match kind {
        Kind::Ours => {
            let mut c = Command::new(server_binary());
            if !props.is_empty() {
                let flags: Vec<String> = props.iter().map(|p| format!("-D{p}")).collect();
                c.env("SERVER_JVMFLAGS", flags.join(" "));
            }
            c
        }
        Kind::Apache => {
            let mut c = Command::new(java());
            c.args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
                .arg("-Dzookeeper.admin.enableServer=false")
                .args(props.iter().map(|p| format!("-D{p}")))
                .arg("-cp")
                .arg(apache_classpath(false))
                .arg("org.apache.zookeeper.server.ZooKeeperServerMain");
            c
        }
    };
    cmd.arg(cfg).stdin(Stdio::null());
    if let Some(dir) = cfg.parent() {
        cmd.current_dir(dir);
    }
    cmd
}

/// Starts a server with `tickTime=2000`, a data directory, a free client port on 127.0.0.1
/// (unless `extra` names a clientPortAddress) and the `extra` lines, and waits (bounded) until
/// `srvr` answers on 127.0.0.1.
pub fn start_bare(kind: Kind, extra: &str) -> Bare {
    start_bare_with(kind, extra, &[])
}

/// [`start_bare`] with Java system properties for Apache ZooKeeper.
pub fn start_bare_with(kind: Kind, extra: &str, props: &[&str]) -> Bare {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = dir.path().join("zoo.cfg");
    let address = if extra.contains("clientPortAddress") {
        ""
    } else {
        "clientPortAddress=127.0.0.1\n"
    };
    std::fs::write(
        &cfg,
        format!(
            "tickTime=2000\ndataDir={}\nclientPort={port}\n{address}admin.enableServer=false\n{extra}",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let child = server_command_with(kind, &cfg, props)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut b = Bare {
        child,
        addr,
        _dir: dir,
    };
    let ready = zk_tests::wait_until(Duration::from_secs(60), || {
        b.child.try_wait().unwrap().is_none()
            && four_letter_word(addr, "srvr").is_ok_and(|r| r.starts_with("Zookeeper version:"))
    });
    assert!(
        ready,
        "the {kind:?} server on a zoo.cfg with {extra:?} did not start"
    );
    b
}
