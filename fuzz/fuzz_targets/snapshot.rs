//! Snapshot files: the input becomes `snapshot.1` in a scratch directory on
//! tmpfs and zab-storage's `SnapshotReader` opens it and reads every entry.
//!
//! The first input byte is a mode: bit 0 recomputes the trailing crc (so
//! mutations reach the entry parser), bit 1 writes a valid magic and version,
//! bit 2 opens with `open_unverified` (the server's loader parses before the
//! crc is checked, so any bytes reach the parser).
//!
//! Asserts: `next_entry` and the `entries` iterator read the same entries and
//! agree on how the file ends; a walk that passes over entries in spans
//! (`Entries::skip_span`, as the server's loader does) and decodes each span
//! (`span_entries`) reads the same entries as one that decodes them one by one,
//! or fails where that one fails; the entries read before the end (or the first
//! error) written again with `SnapshotWriter` read back as the same entries,
//! and that snapshot ends cleanly (counts and digest check out); a snapshot
//! that itself ended cleanly has the same summary as its rewrite (but for
//! Apache's digest: the rewrite's is the writer's sum over its nodes). Memory
//! (beyond the mapped file) stays linear in the input.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use zab_core::records::{Acl, StatPersisted};
use zab_storage::snapshot::{SNAPSHOT_MAGIC, SNAPSHOT_VERSION};
use zab_storage::{SnapEntry, SnapshotReader, SnapshotWriter, StorageError, TreeDigest};

#[derive(Debug, PartialEq)]
enum Owned {
    Session(i64, i32),
    Acl(i64, Vec<Acl>),
    Node(String, Option<Vec<u8>>, i64, StatPersisted),
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
        } => Owned::Node(path.to_owned(), data.map(<[u8]>::to_vec), acl_ref, stat),
    }
}

/// Entries until the end or the first error; whether it ended cleanly. Reads
/// them twice, with `entries` and with `next_entry`, which must agree.
fn read_all(r: &mut SnapshotReader) -> (Vec<Owned>, bool) {
    let mut by_iter = Vec::new();
    let mut iter_clean = true;
    for e in r.entries() {
        match e {
            Ok((e, _)) => by_iter.push(owned(e)),
            Err(_) => {
                iter_clean = false;
                break;
            }
        }
    }
    let mut out = Vec::new();
    let clean = loop {
        match r.next_entry() {
            Ok(None) => break true,
            Err(_) => break false,
            Ok(Some(e)) => out.push(owned(e)),
        }
    };
    assert_eq!(by_iter, out);
    assert_eq!(iter_clean, clean);
    (out, clean)
}

/// The entries without the digest check, decoded one by one, and walked with
/// a span of `n` entries passed over (and decoded from the span) then one
/// decoded by the walk, and so on: the same entries, or both an error.
fn check_spans(r: &SnapshotReader, n: usize) {
    let one_by_one: Result<Vec<Owned>, StorageError> = r
        .entries_unhashed()
        .map(|e| e.map(|(e, _)| owned(e)))
        .collect();
    let in_spans = (|| -> Result<Vec<Owned>, StorageError> {
        let mut got = Vec::new();
        let mut walk = r.entries_unhashed();
        loop {
            let Some(span) = walk.skip_span(n) else {
                return Ok(got);
            };
            for e in r.span_entries(span?, false) {
                got.push(owned(e?.0));
            }
            match walk.next() {
                None => return Ok(got),
                Some(e) => got.push(owned(e?.0)),
            }
        }
    })();
    match (one_by_one, in_spans) {
        (Ok(all), Ok(spans)) => assert_eq!(all, spans),
        (Err(_), Err(_)) => {}
        (Ok(_), Err(e)) => panic!("only the walk in spans fails: {e}"),
        (Err(e), Ok(_)) => panic!("only the walk one by one fails: {e}"),
    }
}

fn rewrite(dir: &Path, r: &SnapshotReader, entries: &[Owned]) -> std::path::PathBuf {
    let mut w = SnapshotWriter::create(dir, r.zxid()).expect("create snapshot");
    let mut digest = TreeDigest::new();
    for e in entries {
        match e {
            Owned::Session(id, t) => w.write_session(*id, *t),
            Owned::Acl(id, acls) => w.write_acl(*id, acls),
            Owned::Node(path, data, acl, stat) => {
                digest.add(path, data.as_deref().unwrap_or_default(), stat);
                w.write_node(path, data.as_deref(), *acl, stat)
            }
        }
        .expect("write entry");
    }
    w.finish(digest.value()).expect("finish snapshot")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let dir = zk_fuzz::scratch_dir();
    let ((), stats) = zk_fuzz::measure(|| {
        let mut file = rest.to_vec();
        if mode & 2 != 0 && file.len() >= 8 {
            file[..4].copy_from_slice(&SNAPSHOT_MAGIC);
            file[4..8].copy_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        }
        if mode & 1 != 0 {
            zk_fuzz::fix_snapshot_crc(&mut file);
        }
        let path = dir.path().join("snapshot.1");
        std::fs::write(&path, &file).expect("write snapshot");
        let opened = if mode & 4 != 0 {
            SnapshotReader::open_unverified(&path)
        } else {
            SnapshotReader::open(&path)
        };
        let Ok(mut r) = opened else {
            return;
        };
        let (entries, clean) = read_all(&mut r);
        check_spans(&r, 1 + (mode >> 3) as usize % 4);
        let again_dir = dir.path().join("again");
        let again = rewrite(&again_dir, &r, &entries);
        let mut r2 = SnapshotReader::open(&again).expect("open the rewritten snapshot");
        let (entries2, clean2) = read_all(&mut r2);
        assert_eq!(entries2, entries);
        assert!(clean2, "the rewritten snapshot does not end cleanly");
        // The rewrite's Apache digest is the writer's own sum over its nodes;
        // the input's trailer may hold any value there (only the crc guards
        // it) or none (versions 1 and 2), so it is not compared.
        let apache = entries.iter().fold(0u64, |sum, e| match e {
            Owned::Node(path, data, _, stat) => {
                sum.wrapping_add(zab_storage::apache_snapshot::apache_node_digest(
                    path,
                    data.as_deref().unwrap_or_default(),
                    stat,
                ))
            }
            _ => sum,
        });
        assert_eq!(r2.summary().apache_digest, Some(apache));
        if clean {
            let ignoring_apache =
                |s: zab_storage::SnapshotSummary| (s.zxid, s.sessions, s.acls, s.nodes, s.digest);
            assert_eq!(ignoring_apache(r2.summary()), ignoring_apache(r.summary()));
        }
    });
    zk_fuzz::assert_bounded("snapshot", stats, rest.len(), 1 << 20, 32);
});
