//! Golden bytes from Apache ZooKeeper 3.8 itself: its snapshot files hold exactly what its
//! leader sends after SNAP (`ZKDatabase.serializeSnapshot`), so the database body of a
//! `version-2/snapshot.<zxid>` written by a real Apache server must decode with
//! `zab_core::zkdb` and load into our tree with everything the client created.
//!
//! ```text
//! snapshot file := FileHeader db seal [ZxidDigest seal]          ; FileSnap, SnapStream
//! FileHeader    := int(magic "ZKSN") int(version 2) long(dbid)
//! seal          := long(adler32 of every byte before it) ustring("/")
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use zab_core::records::{Acl, Id};
use zab_core::zkdb::DbReader;
use zab_core::Zxid;
use zk_tests::{crate_dir, python, run_with_timeout, wait_until, Kind, Options, TestServer};

fn adler32(b: &[u8]) -> u32 {
    let (mut a, mut s) = (1u32, 0u32);
    for x in b {
        a = (a + *x as u32) % 65521;
        s = (s + a) % 65521;
    }
    (s << 16) | a
}

/// The database body of a complete Apache snapshot file, checked against its header and
/// its first seal; `None` while the file is still being written or does not check out.
fn db_body(file: &Path) -> Option<Vec<u8>> {
    let b = std::fs::read(file).ok()?;
    if b.get(..4)? != b"ZKSN" || b.get(4..8)? != 2i32.to_be_bytes() {
        return None;
    }
    let body = &b[16..];
    let mut r = DbReader::new(body, 1 << 20);
    for e in r.by_ref() {
        e.ok()?;
    }
    if !r.finished() {
        return None;
    }
    let end = 16 + r.position();
    let sum = i64::from_be_bytes(b.get(end..end + 8)?.try_into().ok()?);
    let slash = b.get(end + 8..end + 13)?;
    (sum == adler32(&b[..end]) as i64 && slash == [0, 0, 0, 1, b'/'])
        .then(|| body[..r.position()].to_vec())
}

fn snapshots(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    let z = u64::from_str_radix(name.strip_prefix("snapshot.")?, 16).ok()?;
                    Some((z, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn apache_snapshot_body_decodes_into_our_tree() {
    let opts = Options {
        extra: vec![("snapCount".into(), "2".into())],
        ..Options::default()
    };
    let server = TestServer::start(Kind::Apache, &opts);
    let snap_dir = server.dir.path().join("data").join("version-2");
    let mut cmd = Command::new(python());
    cmd.arg(crate_dir().join("py").join("snapshot_nodes.py"))
        .arg("--hosts")
        .arg(server.hosts())
        .arg("--snap-dir")
        .arg(&snap_dir);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "snapshot_nodes.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log_tail()
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let owner = v["ephemeral_owner"].as_i64().unwrap();
    let eph_zxid = v["ephemeral_czxid"].as_u64().unwrap();

    // The newest snapshot at or after the ephemeral's zxid, once Apache has finished it.
    let mut found = None;
    assert!(
        wait_until(Duration::from_secs(20), || {
            found = snapshots(&snap_dir)
                .into_iter()
                .rev()
                .filter(|(z, _)| *z >= eph_zxid)
                .find_map(|(z, p)| db_body(&p).map(|b| (z, b)));
            found.is_some()
        }),
        "no complete Apache snapshot at or after {eph_zxid:#x} in {}: {:?}",
        snap_dir.display(),
        snapshots(&snap_dir)
    );
    let (zxid, body) = found.unwrap();
    let (tree, sessions) =
        zk_server::persist::load_db(&body, true, Zxid(zxid as i64), 1 << 20).unwrap();
    assert_eq!(tree.last_processed_zxid(), Zxid(zxid as i64));
    for p in [
        "/",
        "/zookeeper",
        "/zookeeper/quota",
        "/g/deep/er/est",
        "/g/empty",
    ] {
        assert!(tree.get(p).is_some(), "{p} missing");
    }
    assert_eq!(tree.get("/").unwrap().acl().acl, Acl::open_unsafe());
    let g = tree.get("/g").unwrap();
    assert_eq!(g.data(), b"golden data v2");
    assert_eq!(g.persisted().version, 1);
    assert_eq!(tree.get("/g/ro").unwrap().acl().acl, Acl::read_unsafe());
    let digest = tree.get("/g/digest").unwrap();
    assert_eq!(digest.data(), b"\x00\x01\x02");
    assert_eq!(digest.acl().acl.len(), 2);
    assert_eq!(digest.acl().acl[0].id.scheme, "digest");
    assert_eq!(digest.acl().acl[1].id, Id::new("world", "anyone"));
    assert_eq!(tree.get("/g/deep/er/est").unwrap().data(), &[b'x'; 300][..]);
    assert!(tree.get("/g/seq-0000000004").is_some());
    let eph = tree
        .get("/g/eph")
        .expect("the ephemeral is in the snapshot");
    assert_eq!(eph.persisted().ephemeral_owner, owner);
    assert!(tree.ephemerals(owner).any(|p| p == "/g/eph"));
    assert!(
        sessions.contains_key(&owner),
        "session {owner:#x} not in {sessions:?}"
    );
    // Apache's tree, written back in Apache's bytes, reads as the same tree.
    let again = zk_server::persist::serialize_db(
        &tree,
        &sessions.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
    );
    let (tree2, _) = zk_server::persist::load_db(&again, true, Zxid(zxid as i64), 1 << 20).unwrap();
    assert_eq!(tree2.digest(), tree.digest());
    assert_eq!(tree2.node_count(), tree.node_count());
}
