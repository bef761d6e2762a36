//! Snapshots: round trip, crc and digest checks, fallback past a corrupt newest
//! snapshot, and purge.

use std::fs;
use std::path::Path;

use proptest::prelude::*;
use zab_core::records::{Acl, Id, StatPersisted};
use zab_core::Zxid;
use zab_storage::{
    latest_valid_snapshot, purge, LogOptions, SnapEntry, SnapshotReader, SnapshotWriter,
    StorageError, TreeDigest, TxnLog,
};

fn stat(i: i64) -> StatPersisted {
    StatPersisted {
        czxid: i,
        mzxid: i + 1,
        ctime: 1_700_000_000_000 + i,
        mtime: 1_700_000_000_000 + i,
        version: i as i32,
        cversion: 2,
        aversion: 0,
        ephemeral_owner: if i % 3 == 0 { 0x55 } else { 0 },
        pzxid: i + 2,
    }
}

#[derive(Debug, PartialEq)]
enum Owned {
    Session(i64, i32),
    Acl(i64, Vec<Acl>),
    /// Path, data (`None`: null), ACL ref, Stat.
    Node(String, Option<Vec<u8>>, i64, StatPersisted),
}

fn write_snapshot(dir: &Path, zxid: i64, nodes: i64) -> Vec<Owned> {
    let mut w = SnapshotWriter::create(dir, Zxid(zxid)).unwrap();
    let mut expect = Vec::new();
    let mut digest = TreeDigest::new();
    for s in 0..3 {
        w.write_session(0x1000 + s, 30_000).unwrap();
        expect.push(Owned::Session(0x1000 + s, 30_000));
    }
    let acls = [
        Acl::open_unsafe(),
        vec![Acl {
            perms: 31,
            id: Id::new("digest", "bob:hash"),
        }],
    ];
    for (r, a) in acls.iter().enumerate() {
        w.write_acl(r as i64 + 1, a).unwrap();
        expect.push(Owned::Acl(r as i64 + 1, a.clone()));
    }
    for i in 0..nodes {
        let path = if i == 0 {
            "/".to_string()
        } else {
            format!("/n{i}")
        };
        // Some nodes have null data, some empty.
        let data = (i % 7 != 3).then(|| vec![i as u8; (i % 40) as usize]);
        w.write_node(&path, data.as_deref(), 1 + i % 2, &stat(i))
            .unwrap();
        digest.add(&path, data.as_deref().unwrap_or_default(), &stat(i));
        expect.push(Owned::Node(path, data, 1 + i % 2, stat(i)));
    }
    let p = w.finish(digest.value()).unwrap();
    assert_eq!(p, dir.join(format!("snapshot.{zxid:x}")));
    expect
}

fn read_all(r: &mut SnapshotReader) -> Result<Vec<Owned>, StorageError> {
    let mut got = Vec::new();
    while let Some(e) = r.next_entry()? {
        got.push(owned(e));
    }
    Ok(got)
}

/// Every entry, `skip` at a time passed over by the walk and then decoded
/// from their span, then `decode` decoded by the walk itself, and so on.
fn read_all_in_spans(
    r: &SnapshotReader,
    skip: usize,
    decode: usize,
) -> Result<Vec<Owned>, StorageError> {
    let mut got = Vec::new();
    let mut walk = r.entries_unhashed();
    loop {
        let Some(span) = walk.skip_span(skip) else {
            return Ok(got);
        };
        for e in r.span_entries(span?, false) {
            got.push(owned(e?.0));
        }
        for _ in 0..decode {
            match walk.next() {
                Some(e) => got.push(owned(e?.0)),
                None => return Ok(got),
            }
        }
    }
}

fn owned(e: SnapEntry<'_>) -> Owned {
    match e {
        SnapEntry::Session {
            session_id,
            timeout_ms,
        } => Owned::Session(session_id, timeout_ms),
        SnapEntry::Acl { acl_ref, acls } => Owned::Acl(acl_ref, acls),
        SnapEntry::Node {
            path,
            data,
            acl_ref,
            stat,
        } => Owned::Node(path.to_string(), data.map(<[u8]>::to_vec), acl_ref, stat),
    }
}

#[test]
fn snapshot_round_trips_sessions_acls_nodes_and_digest() {
    let d = tempfile::tempdir().unwrap();
    let expect = write_snapshot(d.path(), 0x1_0000_0042, 200);
    let mut r = latest_valid_snapshot(d.path()).unwrap().unwrap();
    assert_eq!(r.zxid(), Zxid(0x1_0000_0042));
    let s = r.summary();
    assert_eq!((s.sessions, s.acls, s.nodes), (3, 2, 200));
    assert_eq!(read_all(&mut r).unwrap(), expect);
    // No temp file is left behind.
    let names: Vec<_> = fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["snapshot.100000042"]);
}

/// Version 3's trailer carries Apache's digest of exactly the node entries
/// written; a version 2 file (the same entries, the shorter trailer) reads
/// the same, with no Apache digest.
#[test]
fn the_trailer_carries_apaches_digest_and_version_2_files_still_read() {
    let d = tempfile::tempdir().unwrap();
    let expect = write_snapshot(d.path(), 0x42, 120);
    let p = d.path().join("snapshot.42");
    let walked = expect.iter().fold(0u64, |sum, e| match e {
        Owned::Node(path, data, _, st) => {
            sum.wrapping_add(zab_storage::apache_snapshot::apache_node_digest(
                path,
                data.as_deref().unwrap_or_default(),
                st,
            ))
        }
        _ => sum,
    });
    assert_ne!(walked, 0);
    let v3 = SnapshotReader::open(&p).unwrap().summary();
    assert_eq!(v3.apache_digest, Some(walked));

    // Version 2: no apache_digest before the crc.
    let mut b = fs::read(&p).unwrap();
    assert_eq!(&b[4..8], &3u32.to_be_bytes());
    b[4..8].copy_from_slice(&2u32.to_be_bytes());
    b.truncate(b.len() - 12);
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_be_bytes());
    fs::write(&p, &b).unwrap();
    let mut r = SnapshotReader::open(&p).unwrap();
    let v2 = r.summary();
    assert_eq!(v2.apache_digest, None);
    assert_eq!(
        (v2.sessions, v2.acls, v2.nodes, v2.digest),
        (v3.sessions, v3.acls, v3.nodes, v3.digest)
    );
    assert_eq!(read_all(&mut r).unwrap(), expect);
}

#[test]
fn a_corrupted_newest_snapshot_falls_back_to_the_previous_one() {
    let d = tempfile::tempdir().unwrap();
    write_snapshot(d.path(), 10, 50);
    write_snapshot(d.path(), 20, 60);
    let newest = d.path().join("snapshot.14");
    let good = fs::read(&newest).unwrap();

    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 1;
    fs::write(&newest, &flipped).unwrap();
    assert!(matches!(
        SnapshotReader::open(&newest),
        Err(StorageError::SnapshotChecksumMismatch { .. })
    ));
    assert_eq!(
        latest_valid_snapshot(d.path()).unwrap().unwrap().zxid(),
        Zxid(10)
    );

    for cut in [0, 10, good.len() / 2, good.len() - 1] {
        fs::write(&newest, &good[..cut]).unwrap();
        let mut r = latest_valid_snapshot(d.path()).unwrap().unwrap();
        assert_eq!(r.zxid(), Zxid(10), "cut at {cut}");
        assert_eq!(read_all(&mut r).unwrap().len(), 3 + 2 + 50);
    }
}

#[test]
fn a_wrong_digest_is_reported_after_the_last_entry() {
    let d = tempfile::tempdir().unwrap();
    let mut w = SnapshotWriter::create(d.path(), Zxid(5)).unwrap();
    w.write_node("/", Some(b""), 0, &stat(0)).unwrap();
    w.finish(12345).unwrap();
    let mut r = SnapshotReader::open(d.path().join("snapshot.5")).unwrap();
    assert!(matches!(
        read_all(&mut r),
        Err(StorageError::DigestMismatch {
            expected: 12345,
            ..
        })
    ));
}

/// Entries read without hashing are the same entries; the digest is then
/// the caller's to check, and a wrong one still fails there.
#[test]
fn unhashed_entries_leave_the_digest_to_the_caller() {
    let d = tempfile::tempdir().unwrap();
    let expect = write_snapshot(d.path(), 10, 50);
    let r = SnapshotReader::open(d.path().join("snapshot.a")).unwrap();
    let mut digest = TreeDigest::new();
    let mut got = Vec::new();
    for item in r.entries_unhashed() {
        let (e, hash) = item.unwrap();
        assert_eq!(hash, 0);
        if let SnapEntry::Node {
            path, data, stat, ..
        } = &e
        {
            digest.add(path, data.unwrap_or_default(), stat);
        }
        got.push(e);
    }
    let hashed: Vec<_> = r.entries().map(|i| i.unwrap().0).collect();
    assert_eq!(got, hashed);
    assert_eq!(got.len(), expect.len());
    r.verify_digest(digest).unwrap();
    digest.add_hash(1);
    assert!(matches!(
        r.verify_digest(digest),
        Err(StorageError::DigestMismatch { .. })
    ));

    let mut w = SnapshotWriter::create(d.path(), Zxid(5)).unwrap();
    w.write_node("/", Some(b""), 0, &stat(0)).unwrap();
    w.finish(12345).unwrap();
    let r = SnapshotReader::open(d.path().join("snapshot.5")).unwrap();
    let mut digest = TreeDigest::new();
    for item in r.entries_unhashed() {
        if let SnapEntry::Node {
            path, data, stat, ..
        } = item.unwrap().0
        {
            digest.add(path, data.unwrap_or_default(), &stat);
        }
    }
    assert!(matches!(
        r.verify_digest(digest),
        Err(StorageError::DigestMismatch {
            expected: 12345,
            ..
        })
    ));
}

/// Entries passed over by a walk (`Entries::skip_span`) and decoded from their
/// span are the same entries, with the same hashes when asked; the walk
/// still counts them (a trailer whose counts are wrong fails after the
/// last, skipped or not).
#[test]
fn skipped_spans_decode_to_the_same_entries_and_are_counted() {
    let d = tempfile::tempdir().unwrap();
    let expect = write_snapshot(d.path(), 10, 50);
    let r = SnapshotReader::open(d.path().join("snapshot.a")).unwrap();
    for (skip, decode) in [(1, 0), (1, 1), (7, 3), (0, 5), (1000, 0)] {
        assert_eq!(
            read_all_in_spans(&r, skip, decode).unwrap(),
            expect,
            "{skip}/{decode}"
        );
    }
    let mut walk = r.entries_unhashed();
    let span = walk.skip_span(20).unwrap().unwrap();
    let hashed: Vec<_> = r.span_entries(span, true).map(Result::unwrap).collect();
    let whole: Vec<_> = r.entries().take(20).map(Result::unwrap).collect();
    assert_eq!(hashed, whole);
    assert!(hashed.iter().any(|(_, h)| *h != 0));

    // One node more than the trailer says, in the last span.
    let mut w = SnapshotWriter::create(d.path(), Zxid(5)).unwrap();
    let mut digest = TreeDigest::new();
    for p in ["/", "/a"] {
        w.write_node(p, Some(b""), 0, &stat(0)).unwrap();
        digest.add(p, b"", &stat(0));
    }
    w.finish(digest.value()).unwrap();
    let p = d.path().join("snapshot.5");
    let mut b = fs::read(&p).unwrap();
    let nodes_at = b.len() - 4 - 8 * 5 + 8 * 2;
    b[nodes_at + 7] = 1;
    let n = b.len() - 4;
    let crc = crc32fast::hash(&b[..n]);
    b[n..].copy_from_slice(&crc.to_be_bytes());
    fs::write(&p, &b).unwrap();
    let r = SnapshotReader::open(&p).unwrap();
    assert!(matches!(
        read_all_in_spans(&r, 1, 0),
        Err(StorageError::SnapshotMalformed { reason, .. }) if reason.contains("trailer counts")
    ));
}

#[test]
fn an_unfinished_snapshot_leaves_no_file_and_is_never_loaded() {
    let d = tempfile::tempdir().unwrap();
    write_snapshot(d.path(), 10, 5);
    let mut w = SnapshotWriter::create(d.path(), Zxid(11)).unwrap();
    w.write_session(1, 2).unwrap();
    assert!(d.path().join("snapshot.b.tmp").exists());
    assert_eq!(
        latest_valid_snapshot(d.path()).unwrap().unwrap().zxid(),
        Zxid(10)
    );
    drop(w);
    assert!(!d.path().join("snapshot.b.tmp").exists());
}

#[test]
fn purge_keeps_the_newest_snapshots_and_the_segments_they_need() {
    let d = tempfile::tempdir().unwrap();
    let (snaps, logs) = (d.path().join("data"), d.path().join("log"));
    let (mut log, _) = TxnLog::open(
        &logs,
        LogOptions {
            prealloc_bytes: 4096,
            ..LogOptions::default()
        },
    )
    .unwrap();
    for z in 1..=100 {
        log.append(Zxid(z), b"some transaction").unwrap();
        if z % 10 == 0 {
            log.roll().unwrap();
        }
    }
    log.flush().unwrap();
    for z in [15, 35, 55, 75, 95] {
        write_snapshot(&snaps, z, 3);
    }
    assert!(matches!(
        purge(&snaps, &logs, 2),
        Err(StorageError::RetainTooFew { retain: 2 })
    ));
    let purged = purge(&snaps, &logs, 3).unwrap();
    let names = |v: &[std::path::PathBuf]| {
        v.iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&purged.snapshots), vec!["snapshot.f", "snapshot.23"]);
    // Replay from snapshot 0x37 = 55 needs 56.., which is in log.33 (51..=60).
    assert_eq!(
        names(&purged.logs),
        vec!["log.1", "log.b", "log.15", "log.1f", "log.29"]
    );
    drop(log);
    let (log, _) = TxnLog::open(&logs, LogOptions::default()).unwrap();
    assert_eq!(log.first_zxid(), Some(Zxid(51)));
    assert_eq!(log.iter_from(Zxid(56)).count(), 45);
    assert_eq!(purge(&snaps, &logs, 3).unwrap(), Default::default());
}

fn arb_entry() -> impl Strategy<Value = Owned> {
    let stat = (any::<[i64; 6]>(), any::<[i32; 3]>()).prop_map(|(l, i)| StatPersisted {
        czxid: l[0],
        mzxid: l[1],
        ctime: l[2],
        mtime: l[3],
        version: i[0],
        cversion: i[1],
        aversion: i[2],
        ephemeral_owner: l[4],
        pzxid: l[5],
    });
    let acl = (any::<i32>(), "\\PC{0,8}", "\\PC{0,8}").prop_map(|(perms, s, i)| Acl {
        perms,
        id: Id::new(&s, &i),
    });
    prop_oneof![
        (any::<i64>(), any::<i32>()).prop_map(|(id, t)| Owned::Session(id, t)),
        (any::<i64>(), prop::collection::vec(acl, 0..3)).prop_map(|(r, a)| Owned::Acl(r, a)),
        (
            "(/\\PC{0,10}){0,3}",
            prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
            any::<i64>(),
            stat
        )
            .prop_map(|(p, d, a, s)| Owned::Node(p, d, a, s)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any entries, in any order, read back as written, and the trailer's
    /// counts and digest check out.
    #[test]
    fn snapshot_entries_round_trip(zxid: i64, entries in prop::collection::vec(arb_entry(), 0..12)) {
        let d = tempfile::tempdir().unwrap();
        let mut w = SnapshotWriter::create(d.path(), Zxid(zxid)).unwrap();
        let mut digest = TreeDigest::new();
        for e in &entries {
            match e {
                Owned::Session(id, t) => w.write_session(*id, *t).unwrap(),
                Owned::Acl(r, a) => w.write_acl(*r, a).unwrap(),
                Owned::Node(p, data, a, s) => {
                    digest.add(p, data.as_deref().unwrap_or_default(), s);
                    w.write_node(p, data.as_deref(), *a, s).unwrap();
                }
            }
        }
        let path = w.finish(digest.value()).unwrap();
        let mut r = SnapshotReader::open(&path).unwrap();
        prop_assert_eq!(r.zxid(), Zxid(zxid));
        prop_assert_eq!(read_all(&mut r).unwrap(), entries);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_snapshot_reader(
        bytes in prop::collection::vec(any::<u8>(), 0..400)
    ) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("snapshot.1");
        fs::write(&p, &bytes).unwrap();
        if let Ok(mut r) = SnapshotReader::open(&p) {
            let _ = read_all(&mut r);
        }
    }

    /// Mutations behind a recomputed crc reach the entry parser itself.
    #[test]
    fn mutated_snapshot_bodies_with_a_fixed_crc_never_panic_the_reader(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let d = tempfile::tempdir().unwrap();
        write_snapshot(d.path(), 1, 6);
        let p = d.path().join("snapshot.1");
        let mut b = fs::read(&p).unwrap();
        let body = 16..b.len() - 4;
        for (i, v) in flips {
            let at = body.start + i.index(body.len());
            b[at] = v;
        }
        if do_cut {
            let at = body.start + cut.index(body.len());
            b.drain(at..body.end);
        }
        let n = b.len() - 4;
        let crc = crc32fast::hash(&b[..n]);
        b[n..].copy_from_slice(&crc.to_be_bytes());
        fs::write(&p, &b).unwrap();
        if let Ok(mut r) = SnapshotReader::open(&p) {
            // Walked in spans, the same entries or an error, as decoded one
            // by one (without the digest, which neither walk checks).
            let spans = read_all_in_spans(&r, 2, 1);
            let one_by_one: Result<Vec<_>, _> =
                r.entries_unhashed().map(|e| e.map(|(e, _)| owned(e))).collect();
            match one_by_one {
                Ok(all) => prop_assert_eq!(spans.unwrap(), all),
                Err(_) => prop_assert!(spans.is_err()),
            }
            let _ = read_all(&mut r);
        }
    }
}
