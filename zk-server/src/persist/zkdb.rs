//! The data tree and sessions as Apache ZooKeeper serializes its database
//! (`ZKDatabase.serializeSnapshot`): what a SNAP carries on the quorum port, and the
//! body of Apache's snapshot files. The bytes are `zab_core::zkdb`'s; this module maps
//! them to and from a [`DataTree`].
//!
//! Writing needs a tree that holds still (the leader serialises on the core's task):
//! Apache's layout puts the whole ACL cache before the first node.
//! Reading maps Apache's `OPEN_UNSAFE_ACL_ID` (-1, not in the cache: its root and
//! `/zookeeper` nodes use it) to a row of its own, numbered after the cache's largest.

use std::collections::HashMap;

use zab_core::records::Acl;
use zab_core::zkdb::{self, DbEntry, DbReader, OPEN_UNSAFE_ACL_REF};
use zab_core::Zxid;

use crate::tree::DataTree;

/// `tree` and `sessions` as Apache serializes them, without the SNAP signature.
pub fn serialize_db(tree: &DataTree, sessions: &[(i64, i32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + tree.node_count() * 96);
    zkdb::write_sessions(&mut out, sessions);
    let acls: Vec<_> = tree.acl_entries().collect();
    zkdb::write_acl_count(&mut out, acls.len());
    for a in acls {
        zkdb::write_acl_row(&mut out, a.id, &a.acl);
    }
    for (path, n) in tree.iter() {
        zkdb::write_node(&mut out, &path, n.data_opt(), n.acl().id, &n.persisted());
    }
    zkdb::write_end(&mut out);
    out
}

/// A tree (last processed zxid `zxid`) and sessions from Apache's serialization.
/// `max_field`: the largest path, data or ACL row accepted.
pub fn load_db(
    body: &[u8],
    extended_types: bool,
    zxid: Zxid,
    max_field: usize,
) -> Result<(DataTree, HashMap<i64, i32>), String> {
    let mut tree = DataTree::empty(extended_types);
    let mut sessions = HashMap::new();
    let mut max_ref = 0i64;
    // The row standing for OPEN_UNSAFE_ACL_ID, once a node used it.
    let mut unsafe_ref = None;
    let mut r = DbReader::new(body, max_field);
    while let Some(e) = r.next_entry().map_err(|e| e.to_string())? {
        match e {
            DbEntry::Session {
                session_id,
                timeout_ms,
            } => {
                sessions.insert(session_id, timeout_ms);
            }
            DbEntry::Acl { acl_ref, acls } => {
                max_ref = max_ref.max(acl_ref);
                tree.load_acl(acl_ref, acls);
            }
            DbEntry::Node {
                path,
                data,
                mut acl_ref,
                stat,
            } => {
                if acl_ref == OPEN_UNSAFE_ACL_REF {
                    acl_ref = *unsafe_ref.get_or_insert_with(|| {
                        tree.load_acl(max_ref + 1, Acl::open_unsafe());
                        max_ref + 1
                    });
                }
                tree.load_node(path, data, acl_ref, stat)?;
            }
        }
    }
    tree.finish_load(zxid)?;
    Ok((tree, sessions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use zab_core::records::{op, Id};
    use zab_core::txn::{CreateTxn, SetDataTxn, Txn, TxnBody, TxnHeader};

    fn txn(zxid: i64, client_id: i64, txn_type: i32, body: TxnBody) -> Txn {
        Txn {
            header: TxnHeader {
                client_id,
                cxid: 0,
                zxid: Zxid(zxid),
                time: 1000 + zxid,
                txn_type,
            },
            body,
            digest: None,
        }
    }

    /// A node as the tests compare it: path, data, ACL by value, stat.
    type Shown = (String, Option<Vec<u8>>, Vec<Acl>, String);

    /// Everything a node shows, by path, and the ACLs by value.
    fn dump(t: &DataTree) -> Vec<Shown> {
        let mut v: Vec<_> = t
            .iter()
            .map(|(p, n)| {
                (
                    p,
                    n.data_opt().map(<[u8]>::to_vec),
                    n.acl().acl.clone(),
                    format!("{:?}", n.persisted()),
                )
            })
            .collect();
        v.sort();
        v
    }

    fn create(path: &str, data: Option<&[u8]>, acl: Vec<Acl>, owner: i64) -> TxnBody {
        TxnBody::Create(CreateTxn {
            path: path.into(),
            data: data.map(bytes::Bytes::copy_from_slice),
            acl,
            ephemeral: owner != 0,
            parent_cversion: -1,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Our tree -> Apache's bytes -> tree: the same nodes (paths, data, null data,
        /// ACLs, stats, ephemerals) and sessions.
        #[test]
        fn tree_round_trips_through_apache_bytes(
            nodes in proptest::collection::vec(
                (0usize..4, proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)), 0usize..3, 0i64..3),
                0..40),
            sessions in proptest::collection::vec((any::<i64>(), 1i32..100_000), 0..5),
            sets in proptest::collection::vec((0usize..40, proptest::collection::vec(any::<u8>(), 0..8)), 0..10),
        ) {
            let acls = [
                Acl::open_unsafe(),
                Acl::read_unsafe(),
                vec![Acl { perms: 3, id: Id::new("digest", "u:p") }, Acl { perms: 31, id: Id::new("ip", "127.0.0.1") }],
            ];
            let mut t = DataTree::new(false);
            let mut paths: Vec<String> = vec!["/".into()];
            let mut zxid = 0i64;
            for (i, (parent, data, acl, owner)) in nodes.iter().enumerate() {
                let parent = &paths[*parent % paths.len()];
                if t.get(parent).is_some_and(|n| n.persisted().ephemeral_owner != 0) {
                    continue;
                }
                let p = if parent == "/" { format!("/n{i}") } else { format!("{parent}/n{i}") };
                zxid += 1;
                t.apply(&txn(zxid, *owner, op::CREATE, create(&p, data.as_deref(), acls[*acl].clone(), *owner)), &mut Vec::new());
                paths.push(p);
            }
            for (i, d) in &sets {
                let p = &paths[*i % paths.len()];
                zxid += 1;
                t.apply(&txn(zxid, 0, op::SET_DATA, TxnBody::SetData(SetDataTxn {
                    path: p.clone(), data: Some(bytes::Bytes::copy_from_slice(d)), version: -1,
                })), &mut Vec::new());
            }
            let bytes = serialize_db(&t, &sessions);
            let (back, s) = load_db(&bytes, false, t.last_processed_zxid(), 1 << 20).unwrap();
            prop_assert_eq!(dump(&back), dump(&t));
            prop_assert_eq!(back.digest(), t.digest());
            // Apache's digest, kept on every change and on load, is the full walk's.
            let walked = zab_storage::apache_snapshot::apache_digest(&bytes, 1 << 20).unwrap();
            prop_assert_eq!(t.apache_digest(), walked);
            prop_assert_eq!(back.apache_digest(), walked);
            prop_assert_eq!(back.last_processed_zxid(), t.last_processed_zxid());
            let eph = |t: &DataTree| t.ephemeral_sessions().map(|(k, v)| (*k, v.clone())).collect::<std::collections::BTreeMap<_, _>>();
            prop_assert_eq!(eph(&back), eph(&t));
            let want: HashMap<i64, i32> = sessions.iter().copied().collect();
            prop_assert_eq!(s, want);
        }
    }

    #[test]
    fn apache_open_unsafe_ref_becomes_a_row_of_its_own() {
        let mut b = Vec::new();
        zkdb::write_sessions(&mut b, &[]);
        zkdb::write_acl_count(&mut b, 1);
        zkdb::write_acl_row(&mut b, 7, &Acl::read_unsafe());
        let st = zab_core::records::StatPersisted::default();
        zkdb::write_node(&mut b, "/", Some(b""), -1, &st);
        zkdb::write_node(&mut b, "/zookeeper", Some(b""), -1, &st);
        zkdb::write_node(&mut b, "/r", None, 7, &st);
        zkdb::write_end(&mut b);
        let (t, _) = load_db(&b, false, Zxid(0), 1 << 20).unwrap();
        assert_eq!(t.get("/").unwrap().acl().acl, Acl::open_unsafe());
        assert_eq!(t.get("/zookeeper").unwrap().acl().id, 8);
        assert_eq!(t.get("/r").unwrap().acl().acl, Acl::read_unsafe());
        assert_eq!(t.get("/r").unwrap().data_opt(), None);
    }

    /// Paths a peer may send that no client could create are refused or loaded, never
    /// a panic.
    #[test]
    fn odd_paths_do_not_panic() {
        let st = zab_core::records::StatPersisted::default();
        for odd in [
            "a",
            "//",
            "/a/",
            "/a//b",
            "/",
            "/zookeeper/quota/x/y",
            "/\0",
            "/..",
        ] {
            for root_first in [true, false] {
                let mut b = Vec::new();
                zkdb::write_sessions(&mut b, &[]);
                zkdb::write_acl_count(&mut b, 0);
                if root_first {
                    zkdb::write_node(&mut b, "/", None, -1, &st);
                }
                // Written raw: write_node would turn "/" into the root's "".
                zab_core::jute::write_string(&mut b, odd);
                zab_core::jute::write_opt_buffer(&mut b, None);
                zab_core::jute::write_i64(&mut b, -1);
                zab_core::jute::Record::write(&st, &mut b);
                zkdb::write_end(&mut b);
                let _ = load_db(&b, true, Zxid(1), 1 << 20);
            }
        }
    }
}
