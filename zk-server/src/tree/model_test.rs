//! The whole tree against a plain model: a map from full paths with
//! ZooKeeper's rules spelled out one by one. Random transactions on a small
//! name space reuse arena slots, index entries and ACL slots many times;
//! after every step every derived structure (children, counts, digest, data
//! size, ACL table, ephemeral and container sets) must match the model.
//! Each room's own tests sit beside it; this one checks them together.

use std::collections::BTreeSet;

use bytes::Bytes;
use zab_core::proto::op;
use zab_core::records::{Acl, ErrorCode, StatPersisted};
use zab_core::txn::{CreateTxn, SetDataTxn, TxnBody};
use zab_storage::apache_snapshot::apache_node_digest;
use zab_storage::TreeDigest;

use super::apply::new_stat;
use super::testutil::txn;
use super::{name_of, parent_of, DataTree, EphemeralKind, CONTAINER_EPHEMERAL_OWNER, ROOT};

/// The tree as a plain map from paths, with ZooKeeper's rules spelled out
/// one by one: the reference the compact tree is checked against.
/// Data (`None`: null), Stat, ACL.
type ModelNode = (Option<Vec<u8>>, StatPersisted, Vec<Acl>);

#[derive(Default)]
struct Model {
    nodes: std::collections::BTreeMap<String, ModelNode>,
}

impl Model {
    fn of(t: &DataTree) -> Model {
        let mut m = Model::default();
        for (p, n) in t.iter() {
            m.nodes.insert(
                p,
                (
                    n.data_opt().map(<[u8]>::to_vec),
                    n.persisted(),
                    n.acl().acl.clone(),
                ),
            );
        }
        m
    }

    fn children(&self, path: &str) -> BTreeSet<String> {
        self.nodes
            .keys()
            .filter(|k| k.as_str() != ROOT && parent_of(k) == path)
            .map(|k| name_of(k).to_owned())
            .collect()
    }

    fn create(&mut self, path: &str, data: Option<&[u8]>, owner: i64, cv: i32, zxid: i64) -> i32 {
        if path == ROOT {
            return ErrorCode::NodeExists.code();
        }
        let parent = parent_of(path).to_owned();
        if !self.nodes.contains_key(&parent) {
            return ErrorCode::NoNode.code();
        }
        if self.nodes.contains_key(path) {
            let p = self.nodes.get_mut(&parent).unwrap();
            if cv > p.1.cversion {
                p.1.cversion = cv;
                p.1.pzxid = zxid;
            }
            return ErrorCode::NodeExists.code();
        }
        let p = self.nodes.get_mut(&parent).unwrap();
        let c = if cv == -1 { p.1.cversion + 1 } else { cv };
        if c > p.1.cversion {
            p.1.cversion = c;
            p.1.pzxid = zxid;
        }
        let stat = new_stat(zxid, 1000 + zxid, owner);
        self.nodes.insert(
            path.to_owned(),
            (data.map(<[u8]>::to_vec), stat, Acl::open_unsafe()),
        );
        0
    }

    fn delete(&mut self, path: &str, zxid: i64) -> i32 {
        let Some(p) = self.nodes.get_mut(parent_of(path)) else {
            return ErrorCode::NoNode.code();
        };
        if zxid > p.1.pzxid {
            p.1.pzxid = zxid;
        }
        if path == ROOT || !self.nodes.contains_key(path) {
            return ErrorCode::NoNode.code();
        }
        let below = format!("{path}/");
        self.nodes
            .retain(|k, _| k.as_str() != path && !k.starts_with(&below));
        0
    }
}

fn check_same(t: &DataTree, m: &Model, step: usize) {
    assert_eq!(t.node_count(), m.nodes.len(), "step {step}");
    let mut digest = TreeDigest::new();
    let mut apache = 0u64;
    let mut size = 0u64;
    let mut acls = std::collections::HashSet::new();
    for (p, (data, stat, acl)) in &m.nodes {
        let n = t
            .get(p)
            .unwrap_or_else(|| panic!("step {step}: {p} missing"));
        assert_eq!(n.data_opt(), data.as_deref(), "step {step}: {p}");
        let data = data.as_deref().unwrap_or_default();
        assert_eq!(n.data(), data, "step {step}: {p}");
        assert_eq!(
            n.stat().data_length as usize,
            data.len(),
            "step {step}: {p}"
        );
        assert_eq!(n.persisted(), *stat, "step {step}: {p}");
        assert_eq!(&n.acl().acl, acl, "step {step}: {p}");
        let kids: BTreeSet<String> = n.children().map(str::to_owned).collect();
        assert_eq!(kids, m.children(p), "step {step}: children of {p}");
        assert_eq!(n.child_count(), kids.len(), "step {step}: {p}");
        assert_eq!(n.stat().num_children as usize, kids.len());
        let below = m
            .nodes
            .keys()
            .filter(|k| *k != p && (p == ROOT || k.starts_with(&format!("{p}/"))))
            .count();
        assert_eq!(t.all_children_number(p) as usize, below, "step {step}: {p}");
        digest.add(p, data, stat);
        apache = apache.wrapping_add(apache_node_digest(p, data, stat));
        size += (p.len() + data.len()) as u64;
        acls.insert(acl.clone());
    }
    let listed: BTreeSet<String> = t.iter().map(|(p, _)| p).collect();
    assert_eq!(listed.len(), m.nodes.len(), "step {step}: iter");
    assert_eq!(t.digest(), digest.value(), "step {step}: digest");
    assert_eq!(t.apache_digest(), apache, "step {step}: Apache's digest");
    assert_eq!(t.approximate_data_size(), size, "step {step}: data size");
    // Lists no node uses any more are gone.
    let interned: std::collections::HashSet<Vec<Acl>> =
        t.acl_entries().map(|a| a.acl.clone()).collect();
    assert_eq!(interned, acls, "step {step}: ACL table");
    let mut eph: BTreeSet<(i64, String)> = BTreeSet::new();
    for (s, paths) in t.ephemeral_sessions() {
        eph.extend(paths.iter().map(|p| (*s, p.clone())));
    }
    let want: BTreeSet<(i64, String)> = m
        .nodes
        .iter()
        .filter(|(_, v)| EphemeralKind::of(v.1.ephemeral_owner, true) == EphemeralKind::Ephemeral)
        .map(|(p, v)| (v.1.ephemeral_owner, p.clone()))
        .collect();
    assert_eq!(eph, want, "step {step}: ephemerals");
    let containers: BTreeSet<&String> = t.containers().collect();
    let want: BTreeSet<&String> = m
        .nodes
        .iter()
        .filter(|(_, v)| v.1.ephemeral_owner == CONTAINER_EPHEMERAL_OWNER)
        .map(|(p, _)| p)
        .collect();
    assert_eq!(containers, want, "step {step}: containers");
}

/// Random creates, deletes (also of non-empty nodes, as a replay over a
/// fuzzy snapshot may do), sets (some with null or empty data), ACL
/// changes and session closes on a
/// small name space, so that slots and index entries are reused many
/// times; after every step the tree matches the model.
#[test]
fn compact_tree_matches_a_plain_map_model() {
    for seed0 in 1..=6u64 {
        let mut seed = seed0;
        let mut rnd = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let mut t = DataTree::new(true);
        let mut m = Model::of(&t);
        let mut tr = Vec::new();
        for step in 0..1200usize {
            let zxid = step as i64 + 2;
            let depth = 1 + rnd(3);
            let path: String = (0..depth)
                .map(|_| format!("/{}", (b'a' + rnd(4) as u8) as char))
                .collect();
            let (body, t_type, want) = match rnd(10) {
                0..=4 => {
                    let (owner, ty) = match rnd(6) {
                        0 => (CONTAINER_EPHEMERAL_OWNER, op::CREATE_CONTAINER),
                        1 => (EphemeralKind::ttl_owner(5000), op::CREATE_TTL),
                        2 => (5, op::CREATE),
                        _ => (0, op::CREATE),
                    };
                    let cv = if rnd(8) == 0 { rnd(5) as i32 } else { -1 };
                    let data = match rnd(6) {
                        0 => None,
                        1 => Some(Bytes::new()),
                        _ => Some(Bytes::from(format!("d{zxid}"))),
                    };
                    let want = m.create(&path, data.as_deref(), owner, cv, zxid);
                    let acl = Acl::open_unsafe();
                    let body = match ty {
                        op::CREATE_CONTAINER => {
                            TxnBody::CreateContainer(zab_core::txn::CreateContainerTxn {
                                path: path.clone(),
                                data,
                                acl,
                                parent_cversion: cv,
                            })
                        }
                        op::CREATE_TTL => TxnBody::CreateTtl(zab_core::txn::CreateTtlTxn {
                            path: path.clone(),
                            data,
                            acl,
                            parent_cversion: cv,
                            ttl: 5000,
                        }),
                        _ => TxnBody::Create(CreateTxn {
                            path: path.clone(),
                            data,
                            acl,
                            ephemeral: owner == 5,
                            parent_cversion: cv,
                        }),
                    };
                    (body, ty, want)
                }
                5..=6 => {
                    let want = m.delete(&path, zxid);
                    (TxnBody::Delete { path: path.clone() }, op::DELETE, want)
                }
                7 => {
                    let data = match rnd(4) {
                        0 => None,
                        1 => Some(Bytes::new()),
                        _ => Some(Bytes::from(format!("s{zxid}"))),
                    };
                    let want = match m.nodes.get_mut(&path) {
                        Some(n) => {
                            n.0 = data.as_deref().map(<[u8]>::to_vec);
                            (n.1.mtime, n.1.mzxid, n.1.version) = (1000 + zxid, zxid, 7);
                            0
                        }
                        None => ErrorCode::NoNode.code(),
                    };
                    let body = TxnBody::SetData(SetDataTxn {
                        path: path.clone(),
                        data,
                        version: 7,
                    });
                    (body, op::SET_DATA, want)
                }
                8 => {
                    let acl = if rnd(2) == 0 {
                        Acl::read_unsafe()
                    } else {
                        Acl::open_unsafe()
                    };
                    let want = match m.nodes.get_mut(&path) {
                        Some(n) => {
                            n.2 = acl.clone();
                            n.1.aversion = 3;
                            0
                        }
                        None => ErrorCode::NoNode.code(),
                    };
                    let body = TxnBody::SetAcl(zab_core::txn::SetAclTxn {
                        path: path.clone(),
                        acl,
                        version: 3,
                    });
                    (body, op::SET_ACL, want)
                }
                _ => {
                    let doomed: Vec<String> = m
                        .nodes
                        .iter()
                        .filter(|(_, v)| v.1.ephemeral_owner == 5)
                        .map(|(p, _)| p.clone())
                        .collect();
                    for p in &doomed {
                        m.delete(p, zxid);
                    }
                    let body = TxnBody::CloseSession {
                        paths_to_delete: vec![],
                    };
                    (body, op::CLOSE_SESSION, 0)
                }
            };
            let rc = t.apply(&txn(zxid, t_type, body), &mut tr);
            tr.clear();
            assert_eq!(rc.err, want, "seed {seed0} step {step}: {path}");
            check_same(&t, &m, step);
        }
    }
}
