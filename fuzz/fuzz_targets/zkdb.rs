//! Apache ZooKeeper's serialized database (zab-core's `zkdb`): what follows a SNAP on the
//! quorum port and the body of Apache's snapshot files. The input is a body as a peer or a
//! file would hold it.
//!
//! Asserts: `DbReader` reads entries until the end marker or an error and never panics;
//! the entries read, written again with `zkdb`'s writer functions, read back as the same
//! entries and end cleanly; `DbScanner`, fed the input in chunks, finds an end only where
//! the reader finds one (the database then followed by the signature); a database that
//! reads cleanly loads into the server's tree or is refused with an error, never a panic;
//! memory stays linear in the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zab_core::records::{Acl, StatPersisted};
use zab_core::zkdb::{self, DbEntry, DbReader, DbScanner};

const CAP: usize = 64 << 10;

#[derive(Debug, PartialEq)]
enum Owned {
    Session(i64, i32),
    Acl(i64, Vec<Acl>),
    Node(String, Option<Vec<u8>>, i64, StatPersisted),
}

fn read_all(b: &[u8]) -> (Vec<Owned>, bool, usize) {
    let mut r = DbReader::new(b, CAP);
    let mut out = Vec::new();
    for e in r.by_ref() {
        match e {
            Ok(DbEntry::Session {
                session_id,
                timeout_ms,
            }) => out.push(Owned::Session(session_id, timeout_ms)),
            Ok(DbEntry::Acl { acl_ref, acls }) => out.push(Owned::Acl(acl_ref, acls)),
            Ok(DbEntry::Node {
                path,
                data,
                acl_ref,
                stat,
            }) => out.push(Owned::Node(
                path.to_owned(),
                data.map(<[u8]>::to_vec),
                acl_ref,
                stat,
            )),
            Err(_) => break,
        }
    }
    let done = r.finished();
    (out, done, r.position())
}

/// The entries in the writer's layout: sessions, then ACL rows, then nodes.
fn write_all(entries: &[Owned]) -> Vec<u8> {
    let mut b = Vec::new();
    let sessions: Vec<(i64, i32)> = entries
        .iter()
        .filter_map(|e| match e {
            Owned::Session(id, t) => Some((*id, *t)),
            _ => None,
        })
        .collect();
    zkdb::write_sessions(&mut b, &sessions);
    let acls: Vec<_> = entries
        .iter()
        .filter(|e| matches!(e, Owned::Acl(..)))
        .collect();
    zkdb::write_acl_count(&mut b, acls.len());
    for e in acls {
        if let Owned::Acl(r, a) = e {
            zkdb::write_acl_row(&mut b, *r, a);
        }
    }
    for e in entries {
        if let Owned::Node(p, d, r, s) = e {
            zkdb::write_node(&mut b, p, d.as_deref(), *r, s);
        }
    }
    zkdb::write_end(&mut b);
    b
}

fuzz_target!(|data: &[u8]| {
    let (chunk, body) = zk_fuzz::chunking(data);
    let ((), stats) = zk_fuzz::measure(|| {
        let (entries, done, end) = read_all(body);
        // A path "/" is the end marker and "" the root: neither survives as a node path
        // the writer would write the same way, so compare only what round-trips.
        let again = write_all(&entries);
        let (back, back_done, back_end) = read_all(&again);
        assert!(
            back_done && back_end == again.len(),
            "rewritten database does not end"
        );
        assert_eq!(back, entries);

        let mut s = DbScanner::new(CAP);
        let mut found = None;
        let mut upto = 0;
        while upto < body.len() && found.is_none() {
            upto = (upto + chunk.max(1)).min(body.len());
            match s.scan(&body[..upto]) {
                Ok(f) => found = f,
                Err(_) => break,
            }
        }
        if let Some((db_len, total)) = found {
            assert!(done, "scanner found an end the reader did not");
            assert_eq!(db_len, end);
            assert_eq!(&body[db_len + 4..total], zkdb::SIGNATURE.as_bytes());
        }
        if done {
            let _ = zk_server::persist::load_db(&body[..end], false, zab_core::Zxid(1), CAP);
        }
    });
    zk_fuzz::assert_bounded("serialized database", stats, body.len(), CAP, 64);
});
