//! Apache ZooKeeper's own transaction log, as Apache 3.8 writes it, read by
//! `zab_storage::apache_log` (issue 12: starting on the data directory Apache left behind).
//! The golden files are made in the test by the installed Apache server: a session does one
//! write of every kind a client can cause, then every record Apache logged must decode as
//! our `Txn`, in the order the writes were made, and re-encode to Apache's exact bytes. A
//! damaged copy of the file is refused naming the file and offset; a cut copy ends early.

use std::path::{Path, PathBuf};

use zab_core::jute::Record;
use zab_core::records::op;
use zab_core::txn::{Txn, TxnBody};
use zab_core::Zxid;
use zab_storage::apache_log::{read_apache_log, read_apache_segment, SegmentEnd};
use zk_tests::raw::{self, RawClient};
use zk_tests::{Kind, Options, TestServer};

/// Drives Apache through one write of every kind; returns its log directory (the server
/// stays up, so the caller keeps it alive while reading).
fn apache_writes(server: &TestServer) -> PathBuf {
    let mut c = RawClient::connect(server.addr()).unwrap();
    let ok = |r: raw::Reply, what: &str| assert_eq!(r.err, 0, "{what}");
    ok(c.create("/a", b"one", 0).unwrap(), "create /a");
    ok(c.set_data("/a", b"two", -1).unwrap(), "setData /a");
    ok(c.create("/e", b"", 1).unwrap(), "create ephemeral /e");
    ok(
        c.call(
            raw::OP_CREATE_CONTAINER,
            &raw::create_body("/c", Some(b"x"), 4, None),
        )
        .unwrap(),
        "createContainer /c",
    );
    ok(
        c.call(
            raw::OP_CREATE_TTL,
            &raw::create_body("/t", Some(b"x"), 5, Some(60_000)),
        )
        .unwrap(),
        "createTtl /t",
    );
    // A failed write is an error transaction, as it consumes a zxid.
    assert_ne!(
        c.create("/a", b"again", 0).unwrap().err,
        0,
        "create /a twice"
    );
    let mut check = Vec::new();
    raw::put_str(&mut check, "/a");
    raw::put_i32(&mut check, 1);
    ok(
        c.multi(&[
            (raw::OP_CHECK, check),
            (raw::OP_CREATE, raw::create_body("/m", Some(b"m"), 0, None)),
        ])
        .unwrap(),
        "multi",
    );
    ok(c.delete("/m", -1).unwrap(), "delete /m");
    ok(c.close().unwrap(), "closeSession");
    server.dir.path().join("data").join("version-2")
}

fn one_log_file(dir: &Path) -> PathBuf {
    let logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("log."))
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    logs[0].clone()
}

#[test]
fn apache_s_log_decodes_record_by_record_and_reencodes_to_the_same_bytes() {
    let server = TestServer::start(Kind::Apache, &Options::default());
    let dir = apache_writes(&server);
    let entries = read_apache_log(&dir, Zxid(0)).unwrap();
    let mut kinds = Vec::new();
    for e in &entries {
        let t = Txn::from_bytes(&e.txn)
            .unwrap_or_else(|err| panic!("{} does not decode: {err}", e.zxid));
        assert_eq!(t.header.zxid, e.zxid);
        assert_eq!(
            t.to_bytes(),
            e.txn.to_vec(),
            "{}: our encoding differs from Apache's bytes",
            e.zxid
        );
        let kind = match &t.body {
            TxnBody::Create(c) => format!("create {}", c.path),
            TxnBody::CreateContainer(c) => format!("createContainer {}", c.path),
            TxnBody::CreateTtl(c) => format!("createTtl {}", c.path),
            TxnBody::SetData(s) => format!("setData {}", s.path),
            TxnBody::Delete { path } => format!("delete {path}"),
            TxnBody::CreateSession { .. } => "createSession".into(),
            TxnBody::CloseSession { .. } => "closeSession".into(),
            TxnBody::Error { .. } => "error".into(),
            TxnBody::Multi(subs) => format!("multi of {}", subs.len()),
            other => format!("{other:?}"),
        };
        kinds.push(kind);
    }
    assert_eq!(
        kinds,
        vec![
            "createSession",
            "create /a",
            "setData /a",
            "create /e",
            "createContainer /c",
            "createTtl /t",
            "error",
            "multi of 2",
            "delete /m",
            "closeSession",
        ],
        "{entries:?}"
    );
    let last = Txn::from_bytes(&entries.last().unwrap().txn).unwrap();
    assert_eq!(last.header.txn_type, op::CLOSE_SESSION);
}

#[test]
fn a_damaged_apache_log_is_refused_and_a_cut_one_ends_early() {
    let server = TestServer::start(Kind::Apache, &Options::default());
    let dir = apache_writes(&server);
    let log = one_log_file(&dir);
    let bytes = std::fs::read(&log).unwrap();
    let (entries, end) = read_apache_segment(&log).unwrap();
    let SegmentEnd::Clean { offset: end } = end else {
        panic!("Apache's own log ends cleanly: {end:?}");
    };
    assert_eq!(entries.len(), 10);

    // The last record starts where the one before it ends: 8 + 4 + len + 1 bytes each.
    let copy = tempfile::tempdir().unwrap();
    let mut starts = Vec::new();
    let mut at = 16usize;
    for e in &entries {
        starts.push(at);
        at += 8 + 4 + e.txn.len() + 1;
    }
    assert_eq!(at as u64, end);
    let last_at = *starts.last().unwrap();

    // A flipped byte inside a complete record: refused, naming the file and the offset.
    let damaged = copy.path().join("log.1");
    let mut b = bytes.clone();
    b[last_at + 14] ^= 0x01;
    std::fs::write(&damaged, &b).unwrap();
    let msg = read_apache_log(copy.path(), Zxid(0))
        .unwrap_err()
        .to_string();
    assert!(msg.contains(&damaged.display().to_string()), "{msg}");
    assert!(msg.contains(&format!("byte offset {last_at}")), "{msg}");

    // Cut inside the last record (and no preallocated zeros after it): a torn write, the
    // end of the log.
    std::fs::write(&damaged, &bytes[..last_at + 20]).unwrap();
    let read = read_apache_log(copy.path(), Zxid(0)).unwrap();
    assert_eq!(read.len(), 9);
    assert_eq!(read, entries[..9].to_vec());
}
