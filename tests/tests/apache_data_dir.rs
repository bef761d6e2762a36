//! Issue 12, "Start on Apache's dataDir in place" and "Going back", with real processes:
//! the installed Apache ZooKeeper 3.8 writes a data directory (nodes of every kind, some
//! in its snapshot and some only in its log) and our server starts on it, serving every
//! node, its data, ACL and Stat as Apache served them; `zk-server export-apache` turns
//! our data directory back into one Apache starts on; a flipped byte in Apache's newest
//! log record refuses start-up naming the file and offset.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use zab_core::Zxid;
use zab_storage::apache_log::{apache_log_segments, read_apache_log};
use zab_storage::apache_snapshot::{
    apache_snapshots, read_apache_snapshot, DigestCheck, SnapshotKind,
};
use zk_tests::raw::{self, RawClient, Reader};
use zk_tests::{run_zk_server, Kind, Options, TestServer};

/// What a client sees of one node: getData's reply (data and Stat), getACL's (ACL and
/// Stat), and the sorted children.
type View = BTreeMap<String, (i32, Vec<u8>, Vec<u8>, Vec<String>)>;

const OP_GET_ACL: i32 = 6;

/// Every node under `/` as the server at `addr` serves it.
fn view(addr: SocketAddr) -> View {
    let mut c = RawClient::connect(addr).unwrap();
    let mut out = View::new();
    let mut todo = vec!["/".to_string()];
    while let Some(p) = todo.pop() {
        let d = c.get_data(&p, false).unwrap();
        let mut b = Vec::new();
        raw::put_str(&mut b, &p);
        let a = c.call(OP_GET_ACL, &b).unwrap();
        assert_eq!(a.err, 0, "getACL {p}");
        let ch = c.get_children(&p, false).unwrap();
        assert_eq!(ch.err, 0, "getChildren {p}");
        let mut kids = Reader::new(&ch.body).strings();
        kids.sort();
        for k in &kids {
            todo.push(if p == "/" {
                format!("/{k}")
            } else {
                format!("{p}/{k}")
            });
        }
        out.insert(p, (d.err, d.body, a.body, kids));
    }
    let _ = c.close();
    out
}

fn assert_same(want: &View, got: &View, what: &str) {
    let wk: Vec<_> = want.keys().collect();
    let gk: Vec<_> = got.keys().collect();
    assert_eq!(wk, gk, "{what}: the paths differ");
    for (p, w) in want {
        assert_eq!(
            w, &got[p],
            "{what}: {p} differs (err, getData, getACL, children)"
        );
    }
}

fn snapshots(dir: &Path) -> Vec<(i64, PathBuf)> {
    let mut v: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().into_string().ok()?;
            let z = u64::from_str_radix(name.strip_prefix("snapshot.")?, 16).ok()?;
            Some((z as i64, e.path()))
        })
        .collect();
    v.sort();
    v
}

/// The zxid of the newest Apache snapshot in `dir` that checks out.
fn newest_valid_snapshot(dir: &Path) -> Option<i64> {
    snapshots(dir)
        .into_iter()
        .rev()
        .find(|(_, p)| read_apache_snapshot(p, 1 << 20).is_ok())
        .map(|(z, _)| z)
}

fn ok(r: raw::Reply, what: &str) -> i64 {
    assert_eq!(r.err, 0, "{what}");
    r.zxid
}

/// Nodes of every kind on `c`'s server; `c`'s session owns the ephemeral.
fn write_kinds(c: &mut RawClient, prefix: &str) {
    ok(c.create(prefix, b"one", 0).unwrap(), "create");
    ok(c.set_data(prefix, b"two", -1).unwrap(), "setData");
    ok(
        c.create(&format!("{prefix}/eph"), b"e", 1).unwrap(),
        "ephemeral",
    );
    ok(
        c.create(&format!("{prefix}/seq-"), b"s", 2).unwrap(),
        "sequential",
    );
    ok(
        c.create(&format!("{prefix}/seq-"), b"s", 2).unwrap(),
        "sequential",
    );
    ok(
        c.call(
            raw::OP_CREATE_CONTAINER,
            &raw::create_body(&format!("{prefix}/c"), Some(b"c"), 4, None),
        )
        .unwrap(),
        "container",
    );
    ok(
        c.create(&format!("{prefix}/c/k"), b"", 0).unwrap(),
        "container child",
    );
    ok(
        c.call(
            raw::OP_CREATE_TTL,
            &raw::create_body(&format!("{prefix}/t"), Some(b"t"), 5, Some(600_000)),
        )
        .unwrap(),
        "ttl",
    );
    ok(
        c.create_with_acl(
            &format!("{prefix}/acl"),
            b"a",
            0,
            &[(1, "world", "anyone"), (31, "digest", raw::DIGEST_U_PW)],
        )
        .unwrap(),
        "acl",
    );
    ok(
        c.call(
            raw::OP_CREATE,
            &raw::create_body(&format!("{prefix}/null"), None, 0, None),
        )
        .unwrap(),
        "null data",
    );
    ok(
        c.delete(&format!("{prefix}/seq-0000000002"), -1).unwrap(),
        "delete",
    );
}

#[test]
fn ours_starts_on_apache_s_data_dir_and_serves_what_apache_served() {
    let opts = Options {
        extra: vec![("snapCount".into(), "10".into())],
        ..Options::default()
    };
    let mut server = TestServer::start(Kind::Apache, &opts);
    let v2 = server.data_dir().join("version-2");
    let mut c = RawClient::connect(server.addr()).unwrap();
    write_kinds(&mut c, "/k");
    // Writes until Apache has taken a snapshot after the nodes above, then two more that
    // only its log holds (a roll needs at least six writes after the last one).
    let before = newest_valid_snapshot(&v2).unwrap_or(0);
    let mut last = 0;
    for i in 0..40 {
        last = ok(c.create(&format!("/w{i}"), b"w", 0).unwrap(), "filler");
        if newest_valid_snapshot(&v2).is_some_and(|s| s > before) {
            break;
        }
    }
    last = last.max(ok(
        c.set_data("/k", b"three", -1).unwrap(),
        "after the snapshot",
    ));
    last = last.max(ok(
        c.create("/k/late", b"l", 0).unwrap(),
        "after the snapshot",
    ));
    let apache = view(server.addr());
    let session = c.session.clone();
    server.kill9();
    drop(c);
    let snap = newest_valid_snapshot(&v2).expect("an Apache snapshot");
    assert!(
        snap > before && snap < last,
        "snapshot {snap:#x}, last write {last:#x}"
    );
    assert!(!read_apache_log(&v2, Zxid(snap)).unwrap().is_empty());

    server
        .start_as(Kind::Ours)
        .unwrap_or_else(|s| panic!("ours refused Apache's dir ({s}):\n{}", server.log_tail()));
    // The session of the ephemeral lives on: its client reconnects.
    let mut c = RawClient::resume(
        server.addr(),
        session.session_id,
        &session.passwd,
        30_000,
        last,
    )
    .unwrap();
    assert_eq!(
        c.session.session_id, session.session_id,
        "the session expired"
    );
    assert_same(&apache, &view(server.addr()), "ours on Apache's dir");
    // Apache's files are kept aside, ours now in version-2.
    let aside = server.data_dir().join("version-2.apache");
    assert!(snapshots(&aside).iter().any(|(z, _)| *z == snap));
    assert!(!apache_log_segments(&aside).unwrap().is_empty());
    assert!(
        newest_valid_snapshot(&v2).is_none(),
        "version-2 holds our files"
    );

    // More writes on ours, a restart, everything still there.
    ok(c.create("/k/ours", b"o", 0).unwrap(), "write on ours");
    ok(
        c.set_data("/k/null", b"not null", -1).unwrap(),
        "write on ours",
    );
    let ours = view(server.addr());
    server.kill9();
    server.start_as(Kind::Ours).unwrap();
    let c2 = RawClient::resume(
        server.addr(),
        session.session_id,
        &session.passwd,
        30_000,
        0,
    )
    .unwrap();
    assert_eq!(c2.session.session_id, session.session_id);
    assert_same(&ours, &view(server.addr()), "ours after a restart");
    drop(c);
}

/// Apache 3.8 with `snapshot.compression.method=<method>` and snapCount 10, written to (the
/// kinds under `/k`, then fillers) until a valid snapshot of `kind` after zxid 0 is on disk.
/// The server, a client, and Apache's `version-2` directory.
fn apache_with_a_snapshot(
    method: &str,
    kind: SnapshotKind,
) -> (TestServer, RawClient, std::path::PathBuf) {
    let opts = Options {
        extra: vec![
            ("snapCount".into(), "10".into()),
            ("snapshot.compression.method".into(), method.into()),
        ],
        ..Options::default()
    };
    let server = TestServer::start(Kind::Apache, &opts);
    let v2 = server.data_dir().join("version-2");
    let written = || {
        apache_snapshots(&v2)
            .unwrap()
            .into_iter()
            .any(|(s, k, p)| k == kind && s.0 > 0 && read_apache_snapshot(&p, 1 << 20).is_ok())
    };
    let mut c = RawClient::connect(server.addr()).unwrap();
    write_kinds(&mut c, "/k");
    for i in 0..40 {
        ok(c.create(&format!("/w{i}"), b"w", 0).unwrap(), "filler");
        if written() {
            break;
        }
    }
    assert!(
        written(),
        "no {method} snapshot after zxid 0: {:?}",
        apache_snapshots(&v2)
    );
    (server, c, v2)
}

#[test]
fn ours_starts_on_apache_s_gzip_snapshots() {
    let (mut server, mut c, _) = apache_with_a_snapshot("gz", SnapshotKind::Gzip);
    ok(c.create("/k/late", b"l", 0).unwrap(), "after the snapshot");
    let apache = view(server.addr());
    server.kill9();
    drop(c);
    server
        .start_as(Kind::Ours)
        .unwrap_or_else(|s| panic!("ours refused Apache's dir ({s}):\n{}", server.log_tail()));
    let ours = view(server.addr());
    // The ephemeral's session was not resumed, but it is still within its timeout.
    assert_same(&apache, &ours, "ours on Apache's gzip snapshots");
}

/// The newest zxid a serialized database's nodes carry (created, changed, or a child
/// created or deleted).
fn newest_zxid_in(body: &[u8]) -> i64 {
    zab_core::zkdb::DbReader::new(body, 1 << 20)
        .filter_map(|e| match e.unwrap() {
            zab_core::zkdb::DbEntry::Node { stat, .. } => {
                Some(stat.czxid.max(stat.mzxid).max(stat.pzxid))
            }
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// Apache 3.8 run with `snapshot.compression.method=snappy` writes
/// `snapshot.<zxid>.snappy` through snappy-java (Debian's libsnappy-java, on the
/// classpath through zookeeper.jar's manifest); ours reads them on start, checking each
/// seal and the digest Apache wrote after the tree against the tree's (or, when Apache's
/// snapshot thread caught a later transaction, against the log's after the replay).
#[test]
fn ours_starts_on_apache_s_snappy_snapshots_and_checks_their_digest() {
    let (mut server, mut c, v2) = apache_with_a_snapshot("snappy", SnapshotKind::Snappy);
    let snaps = apache_snapshots(&v2).unwrap();
    // Each one Apache wrote: snappy-java's header, and (Apache 3.8, digests on by
    // default) a digest after the tree that is the tree's as ours computes it.
    for (zxid, kind, p) in snaps.iter().filter(|(z, _, _)| z.0 > 0) {
        assert_eq!(*kind, SnapshotKind::Snappy, "{}", p.display());
        assert_eq!(&std::fs::read(p).unwrap()[..8], b"\x82SNAPPY\x00");
        let s = read_apache_snapshot(p, 1 << 20).unwrap_or_else(|e| panic!("{e}"));
        let d = s.trailer.digest.expect("Apache 3.8 writes the digest");
        assert!(d.zxid >= *zxid, "{d:?} at {zxid}");
        assert_eq!(s.trailer.last_processed_zxid, None, "3.8 does not write it");
        if d.zxid == *zxid {
            // The tree's, unless Apache's snapshot thread caught a later create in the
            // tree before Apache recorded its digest (then the file holds its trace).
            match s.digest_check {
                DigestCheck::Matches => {}
                DigestCheck::Differs { tree } => assert!(
                    newest_zxid_in(&s.body) > zxid.0,
                    "{}: digest {:#x}, the tree's {tree:#x}, and nothing after zxid {zxid} in it",
                    p.display(),
                    d.digest
                ),
                other => panic!("{}: {other:?}", p.display()),
            }
        }
    }
    ok(c.create("/k/late", b"l", 0).unwrap(), "after the snapshot");
    let apache = view(server.addr());
    server.kill9();
    drop(c);
    server
        .start_as(Kind::Ours)
        .unwrap_or_else(|s| panic!("ours refused Apache's dir ({s}):\n{}", server.log_tail()));
    let ours = view(server.addr());
    assert_same(&apache, &ours, "ours on Apache's snappy snapshots");
}

/// A fuzzy snapshot: Apache 3.8 serializes its tree in a thread of its own while writes
/// go on being applied, and the digest it writes after the tree is of the last zxid
/// applied when it finished, later than the file's. Large nodes make the serialization
/// slow enough, writers on four connections keep applying meanwhile. Ours, started on
/// that snapshot and Apache's log, replays the log up to the digest's zxid and finds the
/// tree's digest equal to Apache's (its log says so), then serves what Apache served.
#[test]
fn ours_checks_the_digest_of_apache_s_fuzzy_snapshot_after_replaying_its_log() {
    let opts = Options {
        extra: vec![("snapCount".into(), "10".into())],
        ..Options::default()
    };
    let mut server = TestServer::start(Kind::Apache, &opts);
    let v2 = server.data_dir().join("version-2");
    let mut c = RawClient::connect(server.addr()).unwrap();
    ok(c.create("/big", b"", 0).unwrap(), "create");
    let fuzzy = || {
        apache_snapshots(&v2)
            .unwrap()
            .into_iter()
            .rev()
            .find_map(|(z, _, p)| {
                let s = read_apache_snapshot(&p, 1 << 20).ok()?;
                (s.trailer.digest?.zxid > z).then_some((z, p))
            })
    };
    let big = vec![b'x'; 900_000];
    for i in 0..40 {
        ok(
            c.create(&format!("/big/b{i}"), &big, 0).unwrap(),
            "big node",
        );
    }
    let addr = server.addr();
    let mut found = None;
    for round in 0..10 {
        let writers: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut w = RawClient::connect(addr).unwrap();
                    for k in 0..150 {
                        let r = w
                            .create(&format!("/big/w{round}-{t}-{k}"), b"y", 0)
                            .unwrap();
                        assert_eq!(r.err, 0);
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        found = fuzzy();
        if found.is_some() {
            break;
        }
    }
    let (zxid, file) = found.expect("Apache wrote no fuzzy snapshot");
    let apache = view(server.addr());
    server.kill9();
    drop(c);
    // The fuzzy one is the newest: later snapshots go (the log still holds everything).
    for (z, _, p) in apache_snapshots(&v2).unwrap() {
        if z > zxid {
            std::fs::remove_file(p).unwrap();
        }
    }
    server
        .start_as(Kind::Ours)
        .unwrap_or_else(|s| panic!("ours refused Apache's dir ({s}):\n{}", server.log_tail()));
    let log = full_log(&server);
    assert!(
        log.contains(&format!("loaded Apache snapshot {}", file.display())),
        "{log}"
    );
    assert!(
        log.contains("the digest of Apache's snapshot matches the tree at zxid"),
        "{log}"
    );
    assert_same(
        &apache,
        &view(server.addr()),
        "ours on Apache's fuzzy snapshot",
    );
}

/// The whole log (stderr) of `server`, every start of it.
fn full_log(server: &TestServer) -> String {
    std::fs::read_to_string(server.dir.path().join("logs").join("stderr.log")).unwrap_or_default()
}

/// `export-apache --compression <compression> --apache-version <version>` (with the
/// digest): Apache 3.8 starts on it, reads the digest and finds it matches its own tree.
fn apache_starts_on_our_export(compression: &str, version: &str, suffix: &str) {
    let mut server = TestServer::start(Kind::Ours, &Options::default());
    let mut c = RawClient::connect(server.addr()).unwrap();
    write_kinds(&mut c, "/k");
    for i in 0..5 {
        ok(c.create(&format!("/w{i}"), b"w", 0).unwrap(), "filler");
    }
    let ours = view(server.addr());
    server.kill9();
    drop(c);
    let out = run_zk_server(&[
        "export-apache".as_ref(),
        server.cfg_path().as_os_str(),
        "--compression".as_ref(),
        compression.as_ref(),
        "--apache-version".as_ref(),
        version.as_ref(),
    ]);
    assert!(
        out.status.success(),
        "export-apache: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        file.to_string_lossy().ends_with(suffix),
        "{}",
        file.display()
    );
    let s = read_apache_snapshot(&file, 1 << 20).unwrap();
    assert_eq!(s.trailer.digest.map(|d| d.zxid), Some(s.zxid));
    assert_eq!(
        s.trailer.last_processed_zxid,
        (version == "3.9").then_some(s.zxid)
    );

    server.start_as(Kind::Apache).unwrap_or_else(|s| {
        panic!(
            "Apache refused our {compression} export ({s}):\n{}",
            server.log_tail()
        )
    });
    assert_same(&ours, &view(server.addr()), "Apache on our export");
    let log = full_log(&server);
    assert!(
        log.contains("The digest in the snapshot has digest version of 2"),
        "Apache did not read the digest:\n{log}"
    );
    assert!(!log.contains("Digests are not matching"), "{log}");
}

#[test]
fn apache_starts_on_our_snappy_export_and_its_digest_matches() {
    apache_starts_on_our_export("snappy", "3.8", ".snappy");
}

/// 3.9's layout (the last processed zxid after the digest) is read by 3.8 too, which
/// stops after the digest's seal.
#[test]
fn apache_3_8_starts_on_our_gzip_export_in_3_9_s_layout() {
    apache_starts_on_our_export("gz", "3.9", ".gz");
}

#[test]
fn apache_starts_on_our_data_dir_after_export() {
    let mut server = TestServer::start(Kind::Ours, &Options::default());
    let mut c = RawClient::connect(server.addr()).unwrap();
    write_kinds(&mut c, "/k");
    for i in 0..5 {
        ok(c.create(&format!("/w{i}"), b"w", 0).unwrap(), "filler");
    }
    let ours = view(server.addr());
    let session = c.session.clone();
    server.kill9();
    drop(c);
    let out = run_zk_server(&["export-apache".as_ref(), server.cfg_path().as_os_str()]);
    assert!(
        out.status.success(),
        "export-apache: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        read_apache_snapshot(&file, 1 << 20).is_ok(),
        "{}",
        file.display()
    );
    assert!(server.data_dir().join("version-2.ours").is_dir());

    server.start_as(Kind::Apache).unwrap_or_else(|s| {
        panic!(
            "Apache refused our exported dir ({s}):\n{}",
            server.log_tail()
        )
    });
    let c = RawClient::resume(
        server.addr(),
        session.session_id,
        &session.passwd,
        30_000,
        0,
    )
    .unwrap();
    assert_eq!(
        c.session.session_id, session.session_id,
        "the session expired"
    );
    assert_same(&ours, &view(server.addr()), "Apache on our exported dir");
}

/// Where each record of an Apache log file starts: crc(8) len(4) txn byte('B').
fn record_offsets(b: &[u8]) -> Vec<usize> {
    let (mut off, mut out) = (16usize, Vec::new());
    while off + 12 <= b.len() {
        let len = i32::from_be_bytes(b[off + 8..off + 12].try_into().unwrap());
        if len <= 0 {
            break;
        }
        out.push(off);
        off += 12 + len as usize + 1;
    }
    out
}

#[test]
fn a_torn_last_record_of_apache_s_log_is_the_end_of_the_log() {
    let mut server = TestServer::start(Kind::Apache, &Options::default());
    let mut c = RawClient::connect(server.addr()).unwrap();
    for i in 0..5 {
        ok(c.create(&format!("/n{i}"), b"data", 0).unwrap(), "create");
    }
    ok(c.close().unwrap(), "close");
    server.kill9();
    let v2 = server.data_dir().join("version-2");
    let (_, log) = apache_log_segments(&v2).unwrap().pop().expect("a log file");
    let b = std::fs::read(&log).unwrap();
    // The closeSession is the last record, the create of /n4 the one before: cut that
    // one in half (a write the process did not finish) and drop what follows.
    let offs = record_offsets(&b);
    let torn = offs[offs.len() - 2];
    std::fs::write(&log, &b[..torn + 20]).unwrap();
    server
        .start_as(Kind::Ours)
        .unwrap_or_else(|s| panic!("ours refused a torn tail ({s}):\n{}", server.log_tail()));
    let mut c = RawClient::connect(server.addr()).unwrap();
    for i in 0..4 {
        ok(
            c.get_data(&format!("/n{i}"), false).unwrap(),
            "the records before the tear",
        );
    }
    assert_ne!(c.get_data("/n4", false).unwrap().err, 0, "/n4 was torn");
}

#[test]
fn a_flipped_byte_in_apache_s_newest_log_record_refuses_start_up() {
    let mut server = TestServer::start(Kind::Apache, &Options::default());
    let mut c = RawClient::connect(server.addr()).unwrap();
    for i in 0..5 {
        ok(c.create(&format!("/n{i}"), b"data", 0).unwrap(), "create");
    }
    server.kill9();
    drop(c);
    let v2 = server.data_dir().join("version-2");
    let (_, log) = apache_log_segments(&v2).unwrap().pop().expect("a log file");
    let mut b = std::fs::read(&log).unwrap();
    let newest = *record_offsets(&b).last().unwrap();
    assert!(newest > 16, "more than one record");
    b[newest + 12 + 20] ^= 0x10;
    std::fs::write(&log, &b).unwrap();
    let status = server.start_as(Kind::Ours).expect_err("ours must refuse");
    assert_eq!(
        status.code(),
        Some(zk_server::EXIT_STORAGE),
        "{}",
        server.log_tail()
    );
    let tail = server.log_tail();
    assert!(
        tail.contains(&log.display().to_string())
            && tail.contains(&format!("byte offset {newest}"))
            && tail.contains("checksum"),
        "{tail}"
    );
    // Apache's files untouched, nothing left beside them.
    assert_eq!(std::fs::read(&log).unwrap(), b);
    assert!(!server.data_dir().join("version-2.apache").exists());
    assert!(!server.data_dir().join("version-2.converting").exists());
}
