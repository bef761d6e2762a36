//! Process-level durability: our real `zk-server` binary is killed with `kill -9` while a
//! kazoo client writes (tests/py/crash_writer.py), restarted on the same port and data
//! directory, and every write the client saw acknowledged must be there, with the zxids going
//! on after them. Also: automatic snapshots plus log replay across a restart, a corrupt newest
//! snapshot falling back to the previous one, and `zk-server purge`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use zk_tests::{
    crate_dir, python, run_with_timeout, run_zk_server, wait_until, Background, Kind, Options,
    TestServer,
};

/// `crash_writer.py write` running in the background; its stdout lines are collected as
/// they come.
struct Writer(Background<String>);

impl Writer {
    fn start(server: &TestServer, root: &str, count: usize, window: usize) -> Writer {
        let mut cmd = Command::new(python());
        cmd.arg(crate_dir().join("py").join("crash_writer.py"))
            .args(["write", "--hosts", &server.hosts(), "--root", root])
            .args([
                "--count",
                &count.to_string(),
                "--window",
                &window.to_string(),
            ])
            .current_dir(crate_dir().join("py"));
        Writer(Background::spawn(&mut cmd, "crash_writer.py", Some))
    }

    fn acks(&self) -> usize {
        self.0
            .with_lines(|lines| lines.iter().filter(|l| l.contains("\"ack\"")).count())
    }

    /// Waits (bounded) for the script to stop; returns its lines, the last being `stopped`.
    fn finish(self) -> Vec<String> {
        let (_, lines) = self.0.finish(Duration::from_secs(90));
        assert!(
            lines.last().is_some_and(|l| l.contains("stopped")),
            "crash_writer.py ended without its last line: {lines:?}"
        );
        lines
    }
}

fn json(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// Runs `crash_writer.py verify` against `server` for the acknowledged writes in `lines`;
/// returns its summary line.
fn verify(server: &TestServer, root: &str, lines: &[String]) -> Value {
    let acked = server
        .dir
        .path()
        .join(format!("acked{}.jsonl", root.replace('/', "_")));
    std::fs::write(&acked, lines.join("\n") + "\n").unwrap();
    let mut cmd = Command::new(python());
    cmd.arg(crate_dir().join("py").join("crash_writer.py"))
        .args(["verify", "--hosts", &server.hosts(), "--root", root])
        .arg("--acked")
        .arg(&acked)
        .current_dir(crate_dir().join("py"));
    let out = run_with_timeout(&mut cmd, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "verify failed ({}):\n{stdout}\n{}\nserver log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        server.log_tail()
    );
    json(stdout.lines().last().expect("a summary line"))
}

fn acks_of(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| json(l))
        .filter(|v| v.get("ack").is_some())
        .collect()
}

fn max_czxid(acks: &[Value]) -> i64 {
    acks.iter()
        .map(|a| a["czxid"].as_i64().unwrap())
        .max()
        .unwrap()
}

/// `(zxid, path)` of the `snapshot.<hex>` or `log.<hex>` files in `dir`, oldest first.
fn zxid_files(dir: &Path, prefix: &str) -> Vec<(u64, PathBuf)> {
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().into_string().ok()?;
                let hex = name.strip_prefix(prefix)?.strip_prefix('.')?;
                Some((u64::from_str_radix(hex, 16).ok()?, e.path()))
            })
            .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn options(extra: &[(&str, &str)]) -> Options {
    Options {
        extra: extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Options::default()
    }
}

fn stderr_log(server: &TestServer) -> String {
    std::fs::read_to_string(server.dir.path().join("logs").join("stderr.log")).unwrap()
}

/// The count in the last "recovered to zxid Z (N transactions replayed ..." line.
fn last_replayed(server: &TestServer) -> u64 {
    let log = stderr_log(server);
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("transactions replayed"))
        .unwrap_or_else(|| panic!("no recovery line in the log:\n{log}"));
    let before = line.split(" transactions replayed").next().unwrap();
    before
        .rsplit('(')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("cannot read the replay count in {line}"))
}

#[test]
fn kill_9_while_a_client_writes_loses_no_acknowledged_write() {
    let mut server = TestServer::start(Kind::Ours, &Options::default());
    let writer = Writer::start(&server, "/crash", 1_000_000, 32);
    assert!(
        wait_until(Duration::from_secs(60), || writer.acks() >= 500),
        "the writer got fewer than 500 acknowledgements in 60 s:\n{}",
        server.log_tail()
    );
    // Mid-stream: up to 32 creates are in flight when the server dies.
    server.kill9();
    let lines = writer.finish();
    let stopped = json(lines.last().unwrap());
    assert_ne!(
        stopped["stopped"], "count reached",
        "the writer was not interrupted"
    );
    let acks = acks_of(&lines);
    assert!(acks.len() >= 500);

    server.restart();
    let v = verify(&server, "/crash", &lines);
    assert_eq!(v["verified"].as_u64().unwrap(), acks.len() as u64);
    // Writes that were in flight may or may not have been made durable; none that was
    // acknowledged is missing, and new zxids go on after every acknowledged one.
    assert!(v["children"].as_u64().unwrap() > acks.len() as u64);
    assert!(
        v["after_czxid"].as_i64().unwrap() > max_czxid(&acks),
        "zxids went backwards after the restart: {v}"
    );
}

#[test]
fn automatic_snapshots_and_log_replay_survive_a_kill_9() {
    let mut server = TestServer::start(Kind::Ours, &options(&[("snapCount", "50")]));
    let first = Writer::start(&server, "/snap", 400, 8).finish();
    assert_eq!(json(first.last().unwrap())["stopped"], "count reached");
    let v2 = server.data_dir().join("version-2");
    assert!(
        wait_until(Duration::from_secs(30), || {
            zxid_files(&v2, "snapshot").len() >= 3
        }),
        "fewer than 3 snapshots after 400 writes with snapCount=50: {:?}",
        zxid_files(&v2, "snapshot")
    );
    // Restart with snapshots off in practice, so that the next writes are in the log only
    // (a snapshot could otherwise start during them: the count goes on from the first batch).
    server.kill9();
    let cfg = std::fs::read_to_string(server.cfg_path()).unwrap();
    std::fs::write(
        server.cfg_path(),
        cfg.replace("snapCount=50", "snapCount=1000000"),
    )
    .unwrap();
    server.restart();
    let second = Writer::start(&server, "/more", 10, 1).finish();
    assert_eq!(json(second.last().unwrap())["stopped"], "count reached");
    let newest = zxid_files(&v2, "snapshot").last().unwrap().0;
    let acks = acks_of(&second);
    assert!(max_czxid(&acks) as u64 > newest);

    server.kill9();
    server.restart();
    assert!(
        stderr_log(&server).contains("loaded snapshot"),
        "the restart did not load a snapshot:\n{}",
        server.log_tail()
    );
    assert!(last_replayed(&server) >= 10);
    for (root, lines) in [("/snap", &first), ("/more", &second)] {
        let v = verify(&server, root, lines);
        assert_eq!(v["verified"].as_u64().unwrap(), acks_of(lines).len() as u64);
        assert!(v["after_czxid"].as_i64().unwrap() > max_czxid(&acks));
    }
}

/// crc32 (IEEE), as the snapshot trailer uses it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn a_newest_snapshot_with_a_wrong_digest_falls_back_to_the_previous_one() {
    let mut server = TestServer::start(Kind::Ours, &options(&[("snapCount", "40")]));
    let lines = Writer::start(&server, "/fb", 300, 8).finish();
    let v2 = server.data_dir().join("version-2");
    assert!(wait_until(Duration::from_secs(30), || {
        zxid_files(&v2, "snapshot").len() >= 2
    }));
    server.kill9();
    // Change our digest in the newest snapshot's trailer (version 3: the 8 bytes before
    // Apache's digest, which is the 8 before the crc) and make the crc match again: only
    // the digest check can notice.
    let snaps = zxid_files(&v2, "snapshot");
    let (newest_zxid, newest) = snaps.last().unwrap().clone();
    let mut b = std::fs::read(&newest).unwrap();
    let n = b.len();
    assert_eq!(&b[4..8], &3u32.to_be_bytes(), "a version 3 snapshot");
    b[n - 13] ^= 0x5a;
    let crc = crc32(&b[..n - 4]);
    b[n - 4..].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(&newest, &b).unwrap();

    server.restart();
    let log = stderr_log(&server);
    assert!(
        log.contains("skipping a snapshot") && log.contains("digest mismatch"),
        "the broken snapshot was not reported:\n{log}"
    );
    let previous = snaps[snaps.len() - 2].0;
    assert!(
        log.contains(&format!("at zxid {:#x}", previous)),
        "the previous snapshot ({previous:#x}) was not the one loaded (newest {newest_zxid:#x}):\n{log}"
    );
    let v = verify(&server, "/fb", &lines);
    assert_eq!(
        v["verified"].as_u64().unwrap(),
        acks_of(&lines).len() as u64
    );
}

#[test]
fn zk_server_purge_keeps_three_snapshots_and_the_logs_they_need() {
    let mut server = TestServer::start(Kind::Ours, &options(&[("snapCount", "20")]));
    let lines = Writer::start(&server, "/purge", 300, 4).finish();
    let v2 = server.data_dir().join("version-2");
    assert!(
        wait_until(Duration::from_secs(30), || {
            zxid_files(&v2, "snapshot").len() >= 6
        }),
        "fewer than 6 snapshots: {:?}",
        zxid_files(&v2, "snapshot")
    );
    server.kill9();
    let snaps = zxid_files(&v2, "snapshot");
    let logs = zxid_files(&v2, "log");

    // Fewer than 3 is refused, as zkCleanup.sh refuses it.
    let cfg = server.cfg_path();
    let out = run_zk_server(&[
        "purge".as_ref(),
        cfg.as_os_str(),
        "-n".as_ref(),
        "2".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(zxid_files(&v2, "snapshot"), snaps);

    let out = run_zk_server(&[
        "purge".as_ref(),
        cfg.as_os_str(),
        "-n".as_ref(),
        "3".as_ref(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let kept = zxid_files(&v2, "snapshot");
    assert_eq!(kept, snaps[snaps.len() - 3..].to_vec());
    // The logs kept: the newest whose first zxid is at or below the oldest kept snapshot,
    // and every newer one.
    let oldest_kept = kept[0].0;
    let from = logs
        .iter()
        .rposition(|(first, _)| *first <= oldest_kept)
        .unwrap_or(0);
    assert!(from > 0, "nothing to purge in the logs: {logs:?}");
    assert_eq!(zxid_files(&v2, "log"), logs[from..].to_vec());

    // What is left is enough to recover everything.
    server.restart();
    let v = verify(&server, "/purge", &lines);
    assert_eq!(
        v["verified"].as_u64().unwrap(),
        acks_of(&lines).len() as u64
    );
}
