//! Backup and restore over the AdminServer (Apache 3.9's `snapshot` and `restore`
//! commands) and ClickHouse Keeper's `csnp` / `lgif`, with real clients: curl for
//! HTTP (the calls Apache's snapshot-and-restore guide shows), kazoo writing and
//! reading, Apache ZooKeeper 3.8 starting on the backup. Apache 3.8 has no snapshot
//! command, so its answers cannot be compared here: the expectations are 3.9's
//! documented behaviour (docs/compatibility.md).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::{
    crate_dir, four_letter_word, free_port, python, run_with_timeout, wait_until, Background, Kind,
    Options, TestServer,
};

const ROOT: &str = "digest root:pw";

fn admin_options(port: u16, extra: &[(&str, &str)]) -> Options {
    let mut o = Options {
        extra: vec![
            ("admin.enableServer".into(), "true".into()),
            ("admin.serverAddress".into(), "127.0.0.1".into()),
            ("admin.serverPort".into(), port.to_string()),
        ],
        ..Options::default()
    };
    for (k, v) in extra {
        o.extra.push((k.to_string(), v.to_string()));
    }
    o
}

/// An answer as curl got it.
struct Http {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Http {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            )
        })
    }
}

/// Runs curl against the admin port `port`: `args` after the URL's options.
fn curl(port: u16, path: &str, auth: Option<&str>, args: &[&str]) -> Http {
    let tmp = tempfile::tempdir().unwrap();
    let (head, body) = (tmp.path().join("head"), tmp.path().join("body"));
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "60", "-D"])
        .arg(&head)
        .arg("-o")
        .arg(&body)
        .args(["-w", "%{http_code}"]);
    if let Some(a) = auth {
        c.arg("-H").arg(format!("Authorization: {a}"));
    }
    c.args(args).arg(format!("http://127.0.0.1:{port}{path}"));
    let out = run_with_timeout(&mut c, Duration::from_secs(90));
    assert!(
        out.status.success(),
        "curl {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let headers = std::fs::read_to_string(&head)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Http {
        status,
        headers,
        body: std::fs::read(&body).unwrap_or_default(),
    }
}

fn kazoo(server: &TestServer, args: &[&str]) -> Vec<String> {
    kazoo_on(&server.hosts(), args, &|| server.log_tail())
}

/// backup_writer.py `args` against `hosts`; `log` says what the server logged.
fn kazoo_on(hosts: &str, args: &[&str], log: &dyn Fn() -> String) -> Vec<String> {
    let mut c = Command::new(python());
    c.arg(crate_dir().join("py").join("backup_writer.py"))
        .args(args)
        .arg("--hosts")
        .arg(hosts);
    let out = run_with_timeout(&mut c, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "backup_writer.py {args:?}: {}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        log()
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The children of /backup, by kazoo.
fn children(server: &TestServer) -> Vec<String> {
    kazoo(server, &["check"])
        .into_iter()
        .filter_map(|l| l.strip_prefix("child ").map(str::to_owned))
        .collect()
}

fn name(i: usize) -> String {
    format!("n{i:06}")
}

/// tests/py/backup_writer.py writing to `hosts` until the file `stop` exists (retrying
/// through connection loss with `retry`); its lines are the numbers of acknowledged writes.
fn kazoo_writer(hosts: &str, retry: bool, stop: &std::path::Path) -> Background<usize> {
    let mut cmd = Command::new(python());
    cmd.arg(crate_dir().join("py").join("backup_writer.py"))
        .arg("write");
    if retry {
        cmd.arg("--retry");
    }
    cmd.arg("--hosts").arg(hosts).arg("--stop").arg(stop);
    Background::spawn(&mut cmd, "kazoo writer", |l| {
        l.strip_prefix("ok ").and_then(|n| n.parse::<usize>().ok())
    })
}

/// A backup taken over HTTP while kazoo writes holds every write acknowledged before
/// it was asked for, and a consistent state: a prefix of the writes, in order.
#[test]
fn backup_taken_while_kazoo_writes_restores_every_acknowledged_write() {
    let src_admin = free_port();
    let src = TestServer::start(
        Kind::Ours,
        &admin_options(src_admin, &[("admin.rateLimiterIntervalInMS", "0")]),
    );
    let tmp = tempfile::tempdir().unwrap();
    let stop = tmp.path().join("stop");
    let writer = kazoo_writer(&src.hosts(), false, &stop);
    assert!(
        wait_until(Duration::from_secs(60), || writer
            .with_lines(|l| l.len() >= 300)),
        "the writer did not get 300 writes acknowledged; server log:\n{}",
        src.log_tail()
    );
    let acked_before = writer.with_lines(|l| l.len());
    let backup = curl(
        src_admin,
        "/commands/snapshot?streaming=true",
        Some(ROOT),
        &[],
    );
    assert_eq!(
        backup.status,
        200,
        "{}",
        String::from_utf8_lossy(&backup.body)
    );
    assert_eq!(
        backup.headers.get("content-type").map(String::as_str),
        Some("application/octet-stream")
    );
    assert_eq!(&backup.body[..4], b"ZKSN", "Apache's snapshot magic");
    assert_eq!(
        backup.headers["snapshot_size"],
        backup.body.len().to_string()
    );
    let last_zxid = backup.headers["last_zxid"].clone();
    let zxid = i64::from_str_radix(last_zxid.strip_prefix("0x").unwrap(), 16).unwrap();
    // The writes go on after the backup, then stop.
    assert!(wait_until(Duration::from_secs(60), || writer
        .with_lines(|l| l.len() >= acked_before + 100)));
    std::fs::write(&stop, b"").unwrap();
    let (status, acked) = writer.finish(Duration::from_secs(60));
    assert!(status.success(), "writer: {status}");
    let file = tmp.path().join("backup.snap");
    std::fs::write(&file, &backup.body).unwrap();

    // Restored into a fresh server, as the guide's curl call does it.
    let dst_admin = free_port();
    let mut dst = TestServer::start(Kind::Ours, &admin_options(dst_admin, &[]));
    let data = format!("@{}", file.display());
    let r = curl(
        dst_admin,
        "/commands/restore",
        Some(ROOT),
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/octet-stream",
            "--data-binary",
            &data,
        ],
    );
    assert_eq!(
        r.status,
        200,
        "{}\n{}",
        String::from_utf8_lossy(&r.body),
        dst.log_tail()
    );
    let j = r.json();
    assert_eq!(j["command"], "restore");
    assert_eq!(j["error"], Value::Null);
    assert_eq!(j["last_zxid"].as_i64(), Some(zxid));

    let check = |server: &TestServer, what: &str| {
        let got = children(server);
        // A prefix of the writes: the state at one zxid, nothing torn.
        let want: Vec<String> = (0..got.len()).map(name).collect();
        assert_eq!(got, want, "{what}: not a prefix of the writes");
        assert!(
            got.len() >= acked_before,
            "{what}: {} writes were acknowledged before the backup, {} restored",
            acked_before,
            got.len()
        );
        assert!(got.len() <= acked.len(), "{what}: more than was written");
        got.len()
    };
    let n = check(&dst, "restored");
    // The restore is durable: a restart recovers it, and writes go on after it.
    dst.kill();
    dst.restart();
    assert_eq!(check(&dst, "restored, after a restart"), n);
    let srvr = four_letter_word(dst.addr(), "srvr").unwrap();
    assert!(srvr.contains("Zxid: 0x"), "{srvr}");

    // Apache ZooKeeper 3.8 starts on the backup as its own snapshot file.
    let mut apache = TestServer::start(Kind::Apache, &Options::default());
    apache.kill();
    let v2 = apache.data_dir().join("version-2");
    std::fs::remove_dir_all(&v2).unwrap();
    std::fs::create_dir_all(&v2).unwrap();
    std::fs::write(v2.join(format!("snapshot.{zxid:x}")), &backup.body).unwrap();
    if let Err(s) = apache.start_as(Kind::Apache) {
        panic!("Apache exited on the backup ({s}):\n{}", apache.log_tail());
    }
    assert_eq!(check(&apache, "Apache 3.8 on the backup"), n);
}

/// Refusals in 3.9's order and codes: 401 without or with unusable credentials, 403
/// when the root's ACL does not grant them ALL, 429 past the rate limit, 405 for the
/// wrong method, 500 for a body that is no snapshot.
#[test]
fn snapshot_and_restore_refuse_as_apache_3_9_does() {
    let admin = free_port();
    let server = TestServer::start(Kind::Ours, &admin_options(admin, &[]));
    let snap = "/commands/snapshot?streaming=false";
    let r = curl(admin, snap, None, &[]);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "Auth info is missing for the command");
    for bad in ["x509", "digest", "bogus a:b", "digest a:b extra"] {
        let r = curl(admin, snap, Some(bad), &[]);
        assert_eq!(r.status, 401, "{bad}");
        assert_eq!(r.json()["error"], "Not authenticated", "{bad}");
    }
    // The root granted to root:pw alone.
    assert_eq!(kazoo(&server, &["rootacl", "--user", "root:pw"]), ["done"]);
    for other in ["digest other:pw", "ip"] {
        let r = curl(admin, snap, Some(other), &[]);
        assert_eq!(r.status, 403, "{other}");
        assert_eq!(r.json()["error"], "Not authorized", "{other}");
    }
    let r = curl(admin, snap, Some(ROOT), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["command"], "snapshot");
    assert_eq!(r.json()["error"], Value::Null);
    assert!(r.headers["last_zxid"].starts_with("0x"));
    assert!(r.headers["snapshot_size"].parse::<u64>().unwrap() > 0);
    // Once per admin.rateLimiterIntervalInMS (5 minutes by default).
    let r = curl(admin, snap, Some(ROOT), &[]);
    assert_eq!(r.status, 429);

    let r = curl(admin, "/commands/restore", Some(ROOT), &[]);
    assert_eq!(r.status, 405, "restore is POST only");
    let post = [
        "-X",
        "POST",
        "--data-binary",
        "this is not a snapshot file at all",
    ];
    let r = curl(admin, "/commands/restore", Some(ROOT), &post);
    assert_eq!(r.status, 500);
    let e = r.json()["error"].as_str().unwrap().to_owned();
    assert!(e.contains("magic"), "{e}");
    let r = curl(admin, "/commands/restore", Some(ROOT), &post);
    assert_eq!(r.status, 429);
    // The refused restore changed nothing, and the server serves on.
    assert!(four_letter_word(server.addr(), "ruok").unwrap() == "imok");

    // Switched off.
    let admin2 = free_port();
    let _off = TestServer::start(
        Kind::Ours,
        &admin_options(
            admin2,
            &[
                ("admin.snapshot.enabled", "false"),
                ("admin.restore.enabled", "false"),
            ],
        ),
    );
    let r = curl(admin2, snap, Some("ip"), &[]);
    assert_eq!(r.status, 503);
    let r = curl(admin2, "/commands/restore", Some("ip"), &post);
    assert_eq!(r.status, 503);
}

fn snapshot_files(dir: &Path) -> Vec<i64> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            i64::from_str_radix(n.strip_prefix("snapshot.")?, 16).ok()
        })
        .collect()
}

/// `csnp` writes a snapshot file now, named by the zxid it answers; `lgif` reports it.
/// As every four-letter word, only when whitelisted.
#[test]
fn csnp_takes_a_snapshot_now_and_lgif_reports_it() {
    let admin = free_port();
    let server = TestServer::start(Kind::Ours, &admin_options(admin, &[]));
    kazoo(&server, &["write", "--max", "20"]);
    let answer = four_letter_word(server.addr(), "csnp").unwrap();
    let zxid: i64 = answer
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("csnp answered {answer:?}"));
    assert!(zxid > 20, "{zxid}");
    let v2 = server.data_dir().join("version-2");
    assert!(
        wait_until(Duration::from_secs(30), || snapshot_files(&v2)
            .contains(&zxid)),
        "no snapshot.{zxid:x} in {}: {:?}",
        v2.display(),
        snapshot_files(&v2)
    );
    let lgif = four_letter_word(server.addr(), "lgif").unwrap();
    let fig: BTreeMap<&str, i64> = lgif
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k, v.parse().unwrap()))
        .collect();
    assert_eq!(fig["last_snapshot_idx"], zxid, "{lgif}");
    assert_eq!(fig["last_committed_log_idx"], zxid, "{lgif}");
    assert_eq!(fig["last_log_idx"], zxid, "{lgif}");
    assert_eq!(fig["last_log_term"], zxid >> 32, "{lgif}");

    // The admin command: authorized as snapshot is.
    let r = curl(admin, "/commands/csnp", None, &[]);
    assert_eq!(r.status, 401);
    kazoo(&server, &["rootacl", "--user", "root:pw"]);
    let r = curl(admin, "/commands/create_snapshot", Some(ROOT), &[]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let z = r.json()["snapshot_zxid"].as_i64().unwrap();
    assert!(z > zxid);
    assert!(wait_until(Duration::from_secs(30), || snapshot_files(&v2).contains(&z)));
    let r = curl(admin, "/commands/lgif", None, &[]);
    assert_eq!(r.json()["last_snapshot_idx"].as_i64(), Some(z));

    // Not whitelisted: refused as Apache refuses any word.
    let only_srvr = TestServer::start(
        Kind::Ours,
        &Options {
            four_letter_words: "srvr".into(),
            ..Options::default()
        },
    );
    for w in ["csnp", "lgif"] {
        assert_eq!(
            four_letter_word(only_srvr.addr(), w).unwrap(),
            format!("{w} is not executed because it is not in the whitelist.\n")
        );
    }
}

/// In an ensemble any serving member streams the backup (here a follower, after writes
/// through it, so that it has applied them); it restores into a standalone server.
#[test]
fn a_follower_streams_a_backup_a_standalone_server_restores() {
    let mut ens = Ensemble::new(Spec::new(3, 0).admin());
    ens.start_all();
    let leader = ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
    let follower = *ens.ids().iter().find(|i| **i != leader).unwrap();
    let log = || ens.logs(&[1, 2, 3]);
    kazoo_on(
        &ens.member(follower).hosts(),
        &["write", "--max", "50"],
        &log,
    );
    let admin = ens.member(follower).admin_port;
    let r = curl(admin, "/commands/snapshot", None, &[]);
    assert_eq!(r.status, 401);
    let backup = curl(admin, "/commands/snapshot", Some(ROOT), &[]);
    assert_eq!(
        backup.status,
        200,
        "{}",
        String::from_utf8_lossy(&backup.body)
    );
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("backup.snap");
    std::fs::write(&file, &backup.body).unwrap();
    let data = format!("@{}", file.display());
    let post = ["-X", "POST", "--data-binary", data.as_str()];

    let dst_admin = free_port();
    let dst = TestServer::start(Kind::Ours, &admin_options(dst_admin, &[]));
    let r = curl(dst_admin, "/commands/restore", Some(ROOT), &post);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let want: Vec<String> = (0..50).map(name).collect();
    assert_eq!(children(&dst), want);
}

/// Apache's RestoreQuorumTest: a backup from the leader, more writes, then every
/// member restores the same backup (one POST each, client traffic stopped): each has
/// exactly the backup's writes, later writes reach every member on top of it, and a
/// restart of the whole ensemble keeps it all.
#[test]
fn every_member_of_an_ensemble_restores_the_same_backup() {
    let mut ens = Ensemble::new(
        Spec::new(3, 0)
            .admin()
            .extra("admin.rateLimiterIntervalInMS", "0"),
    );
    ens.start_all();
    let leader = ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
    let hosts = ens.member(leader).hosts();
    let logs = |ens: &Ensemble| ens.logs(&[1, 2, 3]);
    kazoo_on(&hosts, &["write", "--max", "30"], &|| logs(&ens));
    let admin = ens.member(leader).admin_port;
    assert_eq!(curl(admin, "/commands/snapshot", None, &[]).status, 401);
    let backup = curl(admin, "/commands/snapshot", Some(ROOT), &[]);
    assert_eq!(
        backup.status,
        200,
        "{}",
        String::from_utf8_lossy(&backup.body)
    );
    kazoo_on(&hosts, &["write", "--start", "30", "--max", "60"], &|| {
        logs(&ens)
    });
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("backup.snap");
    std::fs::write(&file, &backup.body).unwrap();
    let data = format!("@{}", file.display());
    let post = ["-X", "POST", "--data-binary", data.as_str()];
    for id in ens.ids() {
        let r = curl(
            ens.member(id).admin_port,
            "/commands/restore",
            Some(ROOT),
            &post,
        );
        assert_eq!(
            r.status,
            200,
            "server {id}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let on = |ens: &Ensemble, id: u64| -> Vec<String> {
        kazoo_on(&ens.member(id).hosts(), &["check"], &|| logs(ens))
            .into_iter()
            .filter_map(|l| l.strip_prefix("child ").map(str::to_owned))
            .collect()
    };
    let upto = |n: usize| -> Vec<String> { (0..n).map(name).collect() };
    for id in ens.ids() {
        assert_eq!(on(&ens, id), upto(30), "server {id} after the restore");
    }
    let leader = ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
    let hosts = ens.member(leader).hosts();
    kazoo_on(&hosts, &["write", "--start", "30", "--max", "50"], &|| {
        logs(&ens)
    });
    for id in ens.ids() {
        assert_eq!(on(&ens, id), upto(50), "server {id} after later writes");
    }
    for id in ens.ids() {
        ens.kill(id);
    }
    ens.start_all();
    ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
    for id in ens.ids() {
        assert_eq!(on(&ens, id), upto(50), "server {id} after a restart");
    }
}

/// `ydld` on the leader hands leadership to another member while kazoo writes through
/// the ensemble (retrying a create whose connection closed); every acknowledged write
/// is on every member afterwards, and the old leader follows. A follower refuses.
#[test]
fn ydld_hands_leadership_over_without_losing_an_acknowledged_write() {
    let mut ens = Ensemble::new(Spec::new(3, 0));
    ens.start_all();
    let leader = ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
    let follower = *ens.ids().iter().find(|i| **i != leader).unwrap();
    assert_eq!(
        ens.four(follower, "ydld").as_deref(),
        Some("Not the leader: only the leader can yield leadership.")
    );
    let tmp = tempfile::tempdir().unwrap();
    let stop = tmp.path().join("stop");
    let writer = kazoo_writer(&ens.connect_string(), true, &stop);
    assert!(
        wait_until(Duration::from_secs(60), || writer
            .with_lines(|l| l.len() >= 200)),
        "{}",
        ens.logs(&[1, 2, 3])
    );
    assert_eq!(
        ens.four(leader, "ydld").as_deref(),
        Some("Sent yield leadership request to leader.")
    );
    let mut new_leader = None;
    assert!(
        wait_until(Duration::from_secs(60), || {
            let l = ens.leaders();
            new_leader = l.first().copied();
            l.len() == 1 && l[0] != leader
        }),
        "no other leader: {}",
        ens.logs(&[1, 2, 3])
    );
    let new_leader = new_leader.unwrap();
    assert_eq!(
        ens.wait_serving(&[1, 2, 3], Duration::from_secs(60)),
        new_leader
    );
    ens.wait_mode(leader, "follower", Duration::from_secs(60));
    let after = writer.with_lines(|l| l.len());
    assert!(
        wait_until(Duration::from_secs(60), || writer
            .with_lines(|l| l.len() >= after + 200)),
        "writes did not resume: {}",
        ens.logs(&[1, 2, 3])
    );
    std::fs::write(&stop, b"").unwrap();
    let (status, acked) = writer.finish(Duration::from_secs(60));
    assert!(status.success(), "writer: {status}");
    for id in ens.ids() {
        let log = || ens.logs(&[id]);
        let have: std::collections::BTreeSet<String> =
            kazoo_on(&ens.member(id).hosts(), &["check"], &log)
                .into_iter()
                .filter_map(|l| l.strip_prefix("child ").map(str::to_owned))
                .collect();
        let missing: Vec<&usize> = acked
            .iter()
            .filter(|i| !have.contains(&name(**i)))
            .collect();
        assert!(
            missing.is_empty(),
            "server {id} lacks acknowledged writes {missing:?}"
        );
    }
}

/// As Apache's: a server without a quorum says so (HTTP 200) before it asks for
/// credentials.
#[test]
fn without_a_quorum_snapshot_says_not_serving_before_asking_for_credentials() {
    let mut ens = Ensemble::new(Spec::new(3, 0).admin());
    ens.start(1);
    let admin = ens.member(1).admin_port;
    let mut last = None;
    let answered = wait_until(Duration::from_secs(60), || {
        let ok = std::net::TcpStream::connect(("127.0.0.1", admin)).is_ok();
        if ok {
            last = Some(curl(admin, "/commands/snapshot", None, &[]));
        }
        ok
    });
    assert!(answered, "{}", ens.logs(&[1]));
    let r = last.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["error"],
        "This ZooKeeper instance is not currently serving requests"
    );
}

/// Every write `acked` is on every running member of `ens`.
fn assert_acked_everywhere(ens: &Ensemble, acked: &[usize]) {
    for id in ens.ids() {
        let log = || ens.logs(&[id]);
        let have: std::collections::BTreeSet<String> =
            kazoo_on(&ens.member(id).hosts(), &["check"], &log)
                .into_iter()
                .filter_map(|l| l.strip_prefix("child ").map(str::to_owned))
                .collect();
        let missing: Vec<&usize> = acked
            .iter()
            .filter(|i| !have.contains(&name(**i)))
            .collect();
        assert!(
            missing.is_empty(),
            "server {id} lacks acknowledged writes {missing:?}"
        );
    }
}

/// Waits until `want` leads and every member serves under it.
fn wait_leader(ens: &mut Ensemble, want: u64, why: &str) {
    assert!(
        wait_until(Duration::from_secs(60), || ens.leaders() == vec![want]),
        "{why}: {want} does not lead ({:?}): {}",
        ens.leaders(),
        ens.logs(&ens.ids())
    );
    assert_eq!(ens.wait_serving(&ens.ids(), Duration::from_secs(60)), want);
}

/// `rqld` (ClickHouse Keeper's four-letter word) on a follower, then the admin command
/// `request_leadership` on another, while kazoo writes through the ensemble: each time
/// the asking server becomes the leader, and no acknowledged write is lost. The leader
/// itself answers as ClickHouse does (already leader counts as sent).
#[test]
fn rqld_makes_the_asking_follower_leader_without_losing_an_acknowledged_write() {
    let mut ens = Ensemble::new(Spec::new(3, 0).admin());
    ens.start_all();
    let leader = ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
    let x = *ens.ids().iter().find(|i| **i != leader).unwrap();
    let y = *ens
        .ids()
        .iter()
        .find(|i| **i != leader && **i != x)
        .unwrap();
    assert_eq!(
        ens.four(leader, "rqld").as_deref(),
        Some("Sent leadership request to leader. This server is the leader already.")
    );
    let tmp = tempfile::tempdir().unwrap();
    let stop = tmp.path().join("stop");
    let writer = kazoo_writer(&ens.connect_string(), true, &stop);
    assert!(
        wait_until(Duration::from_secs(60), || writer
            .with_lines(|l| l.len() >= 100)),
        "{}",
        ens.logs(&[1, 2, 3])
    );
    let answer = ens.four(x, "rqld").unwrap_or_default();
    assert_eq!(
        answer,
        "Sent leadership request to leader. The leader hands over to this server once it \
         has every proposal."
    );
    wait_leader(&mut ens, x, "after rqld");
    ens.wait_mode(leader, "follower", Duration::from_secs(60));
    let after = writer.with_lines(|l| l.len());
    assert!(
        wait_until(Duration::from_secs(60), || writer
            .with_lines(|l| l.len() >= after + 100)),
        "writes did not resume: {}",
        ens.logs(&[1, 2, 3])
    );
    // The admin command, on another follower.
    let r = curl(
        ens.member(y).admin_port,
        "/commands/request_leadership",
        Some(ROOT),
        &[],
    );
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["command"], "request_leadership");
    assert_eq!(j["error"], Value::Null, "{j}");
    assert!(
        j["answer"]
            .as_str()
            .unwrap()
            .starts_with("Sent leadership request to leader."),
        "{j}"
    );
    wait_leader(&mut ens, y, "after request_leadership");
    let after = writer.with_lines(|l| l.len());
    assert!(
        wait_until(Duration::from_secs(60), || writer
            .with_lines(|l| l.len() >= after + 100)),
        "writes did not resume: {}",
        ens.logs(&[1, 2, 3])
    );
    std::fs::write(&stop, b"").unwrap();
    let (status, acked) = writer.finish(Duration::from_secs(60));
    assert!(status.success(), "writer: {status}");
    assert_acked_everywhere(&ens, &acked);
}

/// With an Apache ZooKeeper 3.8 member: while it leads, our follower never sends it the
/// request and says so; with one of ours leading and the Apache server following, the
/// leader falls back to ydld's yield (the answer and its log say so), some up-to-date
/// member leads, and no acknowledged write is lost.
#[test]
fn rqld_with_an_apache_member_degrades_as_documented() {
    let mut ens = Ensemble::new(Spec::new(3, 0).member_kind(3, Kind::Apache));
    ens.start_all();
    let mut leader = ens.wait_serving(&[1, 2, 3], Duration::from_secs(90));
    if leader != 3 {
        // Make the Apache server lead: ours step aside one at a time.
        for _ in 0..4 {
            if leader == 3 {
                break;
            }
            assert!(ens.four(leader, "ydld").is_some());
            assert!(
                wait_until(Duration::from_secs(60), || {
                    let l = ens.leaders();
                    l.len() == 1 && l[0] != leader
                }),
                "{}",
                ens.logs(&[1, 2, 3])
            );
            leader = ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
        }
    }
    assert_eq!(leader, 3, "the Apache server never led");
    let answer = ens.four(1, "rqld").unwrap_or_default();
    assert!(
        answer.starts_with("Failed to send leadership request to leader. The leader (server 3) is an Apache ZooKeeper server"),
        "{answer}"
    );
    assert_eq!(ens.leaders(), vec![3], "the Apache leader was disturbed");
    // One of ours leads, the Apache server follows.
    ens.kill(3);
    let ours = ens.wait_serving(&[1, 2], Duration::from_secs(60));
    ens.start(3);
    assert_eq!(ens.wait_serving(&[1, 2, 3], Duration::from_secs(90)), ours);
    let x = if ours == 1 { 2 } else { 1 };
    let tmp = tempfile::tempdir().unwrap();
    let stop = tmp.path().join("stop");
    let writer = kazoo_writer(&ens.connect_string(), true, &stop);
    assert!(
        wait_until(Duration::from_secs(60), || writer
            .with_lines(|l| l.len() >= 100)),
        "{}",
        ens.logs(&[1, 2, 3])
    );
    let answer = ens.four(x, "rqld").unwrap_or_default();
    assert!(
        answer.starts_with(
            "Sent leadership request to leader. Some voter is an Apache ZooKeeper server"
        ),
        "{answer}"
    );
    assert!(
        wait_until(Duration::from_secs(60), || ens
            .log(ours)
            .contains("falling back to ydld")),
        "{}",
        ens.logs(&[ours])
    );
    assert!(
        wait_until(Duration::from_secs(60), || {
            let l = ens.leaders();
            l.len() == 1 && l[0] != ours
        }),
        "no other leader after the fallback: {}",
        ens.logs(&[1, 2, 3])
    );
    ens.wait_serving(&[1, 2, 3], Duration::from_secs(90));
    let after = writer.with_lines(|l| l.len());
    assert!(
        wait_until(Duration::from_secs(60), || writer
            .with_lines(|l| l.len() >= after + 100)),
        "writes did not resume: {}",
        ens.logs(&[1, 2, 3])
    );
    std::fs::write(&stop, b"").unwrap();
    let (status, acked) = writer.finish(Duration::from_secs(60));
    assert!(status.success(), "writer: {status}");
    assert_acked_everywhere(&ens, &acked);
}
