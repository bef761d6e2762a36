//! Seeds of the log and snapshot targets: transactions, log files, snapshots.

use std::fs;
use std::path::Path;

use bytes::Bytes;
use zab_core::jute::Record;
use zab_core::proto::*;
use zab_core::records::{Acl, StatPersisted};
use zab_core::txn::*;
use zab_core::Zxid;
use zab_storage::record::{encode_record, FileHeader};
use zab_storage::{LogOptions, SnapshotWriter, TreeDigest, TxnLog};

use crate::*;

pub fn header(txn_type: i32, zxid: i64) -> TxnHeader {
    TxnHeader {
        client_id: 0x1000_0000_0001,
        cxid: 5,
        zxid: Zxid(zxid),
        time: 1_700_000_000_000,
        txn_type,
    }
}

/// One transaction of every body type, zxids 0x1_0000_0001 and on.
pub fn txns() -> Vec<Txn> {
    let bodies = vec![
        (
            op::CREATE_SESSION,
            TxnBody::CreateSession { timeout_ms: 30_000 },
        ),
        (
            op::CREATE2,
            TxnBody::Create(CreateTxn {
                path: "/a".into(),
                data: Some(Bytes::from_static(b"data")),
                acl: Acl::open_unsafe(),
                ephemeral: false,
                parent_cversion: 1,
            }),
        ),
        (
            op::CREATE_CONTAINER,
            TxnBody::CreateContainer(CreateContainerTxn {
                path: "/c".into(),
                data: None,
                acl: digest_acl(),
                parent_cversion: 2,
            }),
        ),
        (
            op::CREATE_TTL,
            TxnBody::CreateTtl(CreateTtlTxn {
                path: "/t".into(),
                data: Some(Bytes::new()),
                acl: Acl::open_unsafe(),
                parent_cversion: 3,
                ttl: 60_000,
            }),
        ),
        (
            op::SET_DATA,
            TxnBody::SetData(SetDataTxn {
                path: "/a".into(),
                data: Some(Bytes::from_static(b"new")),
                version: 1,
            }),
        ),
        (
            op::SET_ACL,
            TxnBody::SetAcl(SetAclTxn {
                path: "/a".into(),
                acl: digest_acl(),
                version: 1,
            }),
        ),
        (
            op::CHECK,
            TxnBody::CheckVersion {
                path: "/a".into(),
                version: 1,
            },
        ),
        (
            op::MULTI,
            TxnBody::Multi(vec![
                SubTxn {
                    txn_type: op::CHECK,
                    body: TxnBody::CheckVersion {
                        path: "/a".into(),
                        version: 1,
                    },
                },
                SubTxn {
                    txn_type: op::DELETE,
                    body: TxnBody::Delete { path: "/a".into() },
                },
                SubTxn {
                    txn_type: op::ERROR,
                    body: TxnBody::Error { err: 0 },
                },
            ]),
        ),
        (op::DELETE, TxnBody::Delete { path: "/t".into() }),
        (op::ERROR, TxnBody::Error { err: -101 }),
        (
            op::CLOSE_SESSION,
            TxnBody::CloseSession {
                paths_to_delete: vec!["/e".into()],
            },
        ),
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, (t, body))| Txn {
            header: header(t, 0x1_0000_0001 + i as i64),
            body,
            digest: (i % 2 == 0).then_some(TxnDigest {
                version: 2,
                tree_digest: 0x1234_5678 + i as i64,
            }),
        })
        .collect()
}

pub fn storage_seeds(root: &Path) {
    let txns = txns();
    let mut segment = FileHeader {
        first_zxid: txns[0].zxid(),
        base_zxid: Zxid(0x1_0000_0000),
    }
    .encode()
    .to_vec();
    for t in &txns {
        encode_record(&mut segment, t.zxid(), &t.to_bytes());
    }

    let mut s = Seeds::new(root, "log_record");
    s.with("segment", &[0], &segment);
    let mut torn = segment.clone();
    torn.truncate(torn.len() - 5);
    torn.extend_from_slice(&[0; 40]);
    s.with("segment-torn-tail", &[0], &torn);
    let mut flipped = segment.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x10;
    s.with("segment-flipped-bit-fix-crcs", &[1], &flipped);
    for t in &txns {
        s.with(
            &format!("txn-{}", op::name(t.header.txn_type)),
            &[2],
            &t.to_bytes(),
        );
    }

    let mut s = Seeds::new(root, "log_recovery");
    let d = zk_fuzz::scratch_dir();
    let opts = LogOptions {
        prealloc_bytes: 4096,
        force_sync: false,
        max_txn_bytes: 1 << 20,
    };
    let (mut log, _) = TxnLog::open(d.path(), opts).unwrap();
    for (i, t) in txns.iter().enumerate() {
        if i == 6 {
            log.roll().unwrap();
        }
        log.append(t.zxid(), &t.to_bytes()).unwrap();
    }
    log.flush().unwrap();
    let paths = log.segment_paths();
    drop(log);
    let files: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| {
            let mut b = fs::read(p).unwrap();
            let end = b.iter().rposition(|&x| x != 0).map_or(0, |i| i + 1);
            b.truncate(end);
            b
        })
        .collect();
    s.with("segment-from-txnlog", &[0, 0], &files[0]);
    // The target splits at a multiple of 8: pad the first segment with the
    // zeros of its preallocated tail.
    let mut two = files[0].clone();
    two.resize(two.len().next_multiple_of(8), 0);
    let split = two.len() / 8;
    two.extend_from_slice(&files[1]);
    assert!(split < 256, "first segment too long for the split byte");
    s.with("two-segments-from-txnlog", &[4, split as u8], &two);
    // Records without a header: mode 2 writes one naming the first record's zxid.
    s.with("records-header-added", &[2, 0], &segment[32..]);
    let mut torn = files[0].clone();
    torn.truncate(torn.len() - 3);
    s.with("segment-torn-tail", &[0, 0], &torn);

    let mut s = Seeds::new(root, "snapshot");
    let d = zk_fuzz::scratch_dir();
    let mut w = SnapshotWriter::create(d.path(), Zxid(0x1_0000_0005)).unwrap();
    w.write_session(0x1000_0000_0001, 30_000).unwrap();
    w.write_session(0x1000_0000_0002, 4_000).unwrap();
    w.write_acl(1, &Acl::open_unsafe()).unwrap();
    w.write_acl(2, &digest_acl()).unwrap();
    let mut digest = TreeDigest::new();
    for (path, data, acl) in [
        ("", Some(&b""[..]), 1),
        ("/a", Some(b"data"), 1),
        ("/a/b", Some(b""), 2),
        ("/a/n", None, 2),
    ] {
        let st = StatPersisted {
            czxid: 0x1_0000_0002,
            mzxid: 0x1_0000_0003,
            ctime: 1_700_000_000_000,
            mtime: 1_700_000_000_000,
            version: 0,
            cversion: 1,
            aversion: 0,
            ephemeral_owner: 0,
            pzxid: 0x1_0000_0004,
        };
        digest.add(path, data.unwrap_or_default(), &st);
        w.write_node(path, data, acl, &st).unwrap();
    }
    let p = w.finish(digest.value()).unwrap();
    let snap = fs::read(p).unwrap();
    s.with("snapshot", &[0], &snap);
    let mut flipped = snap.clone();
    flipped[40] ^= 0x01;
    s.with("snapshot-flipped-bit-fix-crc", &[1], &flipped);
    s.with("snapshot-flipped-bit-unverified", &[4], &flipped);
    s.with("snapshot-truncated", &[0], &snap[..snap.len() - 10]);
    let d = zk_fuzz::scratch_dir();
    let p = SnapshotWriter::create(d.path(), Zxid(0))
        .unwrap()
        .finish(0)
        .unwrap();
    s.with("snapshot-empty", &[0], &fs::read(p).unwrap());
}

/// Seeds of `apache_log`: records in Apache's `FileTxnLog` layout around our
/// transactions (mode 1: the target writes the header and the checksums).
pub fn apache_log_seeds(root: &Path) {
    let mut records = Vec::new();
    for t in &txns() {
        records.extend(zab_storage::apache_log::encode_record(&t.to_bytes()));
    }
    let mut s = Seeds::new(root, "apache_log");
    let mut file = b"ZKLG".to_vec();
    file.extend_from_slice(&2i32.to_be_bytes());
    file.extend_from_slice(&0i64.to_be_bytes());
    file.extend_from_slice(&records);
    let mut padded = file.clone();
    padded.extend_from_slice(&[0; 64]);
    s.with("segment-preallocated", &[0], &padded);
    s.with("records-fixed-crcs", &[1], &records);
    let mut torn = records.clone();
    torn.truncate(torn.len() - 3);
    s.with("records-torn", &[1], &torn);
}

/// A database as Apache ZooKeeper serializes it (`zab_core::zkdb`): two sessions, two ACL
/// rows, the root with Apache's OPEN_UNSAFE ref -1, a node with null data, an ephemeral.
pub fn sample_db() -> Vec<u8> {
    use zab_core::zkdb;
    let st = |z: i64, owner: i64| StatPersisted {
        czxid: z,
        mzxid: z,
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_000,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: owner,
        pzxid: z,
    };
    let mut b = Vec::new();
    zkdb::write_sessions(
        &mut b,
        &[(0x1000_0000_0001, 30_000), (0x1000_0000_0002, 4_000)],
    );
    zkdb::write_acl_count(&mut b, 2);
    zkdb::write_acl_row(&mut b, 1, &Acl::open_unsafe());
    zkdb::write_acl_row(&mut b, 2, &Acl::read_unsafe());
    zkdb::write_node(&mut b, "/", Some(b""), -1, &st(0, 0));
    zkdb::write_node(&mut b, "/zookeeper", Some(b""), -1, &st(0, 0));
    zkdb::write_node(&mut b, "/a", None, 1, &st(0x1_0000_0001, 0));
    zkdb::write_node(
        &mut b,
        "/a/e",
        Some(b"eph"),
        2,
        &st(0x1_0000_0002, 0x1000_0000_0001),
    );
    zkdb::write_end(&mut b);
    b
}

pub fn zkdb_seeds(root: &Path) {
    let mut s = Seeds::new(root, "zkdb");
    let db = sample_db();
    s.with("database", &[0], &db);
    let mut signed = db.clone();
    zab_core::zkdb::write_signature(&mut signed);
    s.with("database-signature", &[0], &signed);
    s.with("database-signature-7-byte-reads", &[7], &signed);
    s.with("truncated", &[0], &db[..db.len() / 2]);
    let mut empty = Vec::new();
    zab_core::zkdb::write_sessions(&mut empty, &[]);
    zab_core::zkdb::write_acl_count(&mut empty, 0);
    zab_core::zkdb::write_end(&mut empty);
    s.with("empty", &[0], &empty);
}
