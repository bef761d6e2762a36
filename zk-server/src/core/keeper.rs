//! ClickHouse Keeper's extensions in the final stage: the reads
//! (filteredList, filteredListWithStatsAndData, listRecursive, and
//! checkNotExists / checkStat outside multi, which Keeper answers as reads),
//! the answers to the writes [`crate::prep`] turned into Apache transactions,
//! and the discovery nodes `/keeper/api_version` and `/keeper/feature_flags`
//! that Keeper's client reads to learn what it may send.
//!
//! The discovery nodes are not in the tree: a getData or exists of exactly
//! those paths is answered from here when the tree has no such node, so an
//! Apache client listing `/` or taking a snapshot sees no difference.

use std::collections::VecDeque;

use bytes::Bytes;
use zab_core::proto::*;
use zab_core::records::{perms, ErrorCode, Stat};
use zab_core::txn::{Txn, TxnBody};

use super::pipeline::{body, Reply};
use super::Core;
use crate::auth::check_acl;
use crate::prep::stat_matches;
use crate::request::Request;
use crate::tree::{AclRef, DataTree, EphemeralKind, TxnResult};

/// The feature flags we offer: the extension ops we serve, multiRead and
/// persistent watches. Not offered: MULTI_WATCHES (watches set by a
/// multiRead's reads) and CREATE_WITH_STATS (create2 inside multi answered
/// with a Stat), which Apache's semantics we keep do not give.
/// LIST_WITH_STAT_AND_DATA (506) is offered: ClickHouse's Keeper turns it on
/// by default, and ClickHouse's transactions and Replicated databases refuse
/// to start without it; its request and response layouts are in
/// [`zab_core::proto::keeper`], alone and inside multiRead.
pub const FEATURE_FLAGS: &[usize] = &[
    feature::FILTERED_LIST,
    feature::MULTI_READ,
    feature::CHECK_NOT_EXISTS,
    feature::CREATE_IF_NOT_EXISTS,
    feature::REMOVE_RECURSIVE,
    feature::CHECK_STAT,
    feature::PERSISTENT_WATCHES,
    feature::TRY_REMOVE,
    feature::LIST_WITH_STAT_AND_DATA,
];

/// The data of a discovery node, or `None` for any other path.
pub fn system_node(path: &str) -> Option<Vec<u8>> {
    match path {
        API_VERSION_PATH => Some(API_VERSION.to_string().into_bytes()),
        FEATURE_FLAGS_PATH => Some(feature::encode(FEATURE_FLAGS)),
        _ => None,
    }
}

/// `ftfl`: each flag Keeper defines, `name\t0|1`, one a line.
pub fn ftfl() -> String {
    feature::NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{n}\t{}\n", FEATURE_FLAGS.contains(&i) as u8))
        .collect()
}

/// The Stat of a discovery node (Keeper's system nodes are never written).
fn system_stat(data: &[u8]) -> Stat {
    Stat {
        data_length: data.len() as i32,
        ..Stat::default()
    }
}

fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

impl Core {
    /// getData and exists of a discovery node the tree does not have.
    pub(super) fn system_read(&mut self, req: &Request) -> Option<Reply> {
        let (path, watch, get) = match &req.op {
            Op::GetData(r) => (&r.path, r.watch, true),
            Op::Exists(r) => (&r.path, r.watch, false),
            _ => return None,
        };
        let data = system_node(path)?;
        if self.tree.get(path).is_some() {
            return None;
        }
        if let Err(e) = self.session_ok(req.session_id) {
            return Some(Err(e));
        }
        if watch {
            // Never fires: the node never changes.
            self.watches.add_data_watch(path, req.session_id);
        }
        let stat = system_stat(&data);
        Some(if get {
            body(&GetDataResponse {
                data: Some(Bytes::from(data)),
                stat,
            })
        } else {
            body(&StatResponse { stat })
        })
    }

    /// The extension reads; `None` for any other op.
    pub(super) fn keeper_read(&mut self, req: &Request) -> Option<Reply> {
        let sid = req.session_id;
        let reply = match &req.op {
            Op::FilteredList(r) => self
                .filtered_list(sid, &r.path, r.watch, r.list_type, false, false)
                .and_then(|l| {
                    body(&GetChildren2Response {
                        children: l.children,
                        stat: l.stat,
                    })
                }),
            Op::FilteredListWithStats(r) => self
                .filtered_list(sid, &r.path, r.watch, r.list_type, r.with_stat, r.with_data)
                .and_then(|l| body(&l)),
            Op::ListRecursive(r) => self
                .list_recursive(sid, &r.path, r.limit)
                .and_then(|paths| body(&ListRecursiveResponse { paths })),
            Op::CheckNotExists(r) => self.check_not_exists(sid, r).map(|()| None),
            Op::CheckStat(r) => self.check_stat(sid, r).map(|()| None),
            _ => return None,
        };
        Some(self.session_ok(sid).and(reply))
    }

    /// exists inside a multiRead: as exists (3), a watch left on a missing node too.
    pub(super) fn multi_exists(
        &mut self,
        sid: i64,
        path: &str,
        watch: bool,
    ) -> Result<Stat, ErrorCode> {
        if let Some(n) = self.tree.get(path) {
            check_acl(n.acl(), perms::READ, self.auth_of(sid))?;
        }
        if watch {
            self.watches.add_data_watch(path, sid);
        }
        Ok(self.tree.get(path).ok_or(ErrorCode::NoNode)?.stat())
    }

    /// Keeper's list: the node needs READ; when it filters, or reports stats
    /// or data, every child listed needs READ too (NoAuth for the whole list).
    pub(super) fn filtered_list(
        &mut self,
        sid: i64,
        path: &str,
        watch: bool,
        list_type: u8,
        with_stat: bool,
        with_data: bool,
    ) -> Result<FilteredListWithStatsResponse, ErrorCode> {
        let auth = self.auth_of(sid).to_vec();
        let n = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        check_acl(n.acl(), perms::READ, &auth)?;
        let mut out = FilteredListWithStatsResponse {
            stat: n.stat(),
            ..Default::default()
        };
        let plain = list_type == list_type::ALL && !with_stat && !with_data;
        for name in n.children() {
            if plain {
                out.children.push(name.to_owned());
                continue;
            }
            let c = self
                .tree
                .get(&child_path(path, name))
                .expect("a listed child");
            let s = c.stat();
            // Containers and TTL nodes are persistent here, as Keeper has them.
            let ephemeral = EphemeralKind::of(c.persisted().ephemeral_owner, self.extended_types)
                == EphemeralKind::Ephemeral;
            let keep = match list_type {
                list_type::PERSISTENT_ONLY => !ephemeral,
                list_type::EPHEMERAL_ONLY => ephemeral,
                _ => true,
            };
            if !keep {
                continue;
            }
            check_acl(c.acl(), perms::READ, &auth)?;
            out.children.push(name.to_owned());
            if with_stat {
                out.stats.push(s);
            }
            if with_data {
                out.data.push(Bytes::copy_from_slice(c.data()));
            }
        }
        if watch {
            self.watches.add_child_watch(path, sid);
        }
        Ok(out)
    }

    /// Keeper's listRecursive for a session: the node needs READ.
    fn list_recursive(
        &mut self,
        sid: i64,
        path: &str,
        limit: u32,
    ) -> Result<Vec<String>, ErrorCode> {
        let auth = self.auth_of(sid).to_vec();
        let n = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        check_acl(n.acl(), perms::READ, &auth)?;
        Ok(list_recursive(
            &self.tree,
            path,
            limit,
            self.cfg.jute_max_buffer,
            |acl| check_acl(acl, perms::READ, &auth).is_ok(),
        ))
    }

    fn check_not_exists(&self, sid: i64, r: &CheckVersionRequest) -> Result<(), ErrorCode> {
        if let Some(n) = self.tree.get(&r.path) {
            check_acl(n.acl(), perms::READ, self.auth_of(sid))?;
            if r.version == -1 || r.version == n.stat().version {
                return Err(ErrorCode::NodeExists);
            }
        }
        Ok(())
    }

    fn check_stat(&self, sid: i64, r: &CheckStatRequest) -> Result<(), ErrorCode> {
        let n = self.tree.get(&r.path).ok_or(ErrorCode::NoNode)?;
        check_acl(n.acl(), perms::READ, self.auth_of(sid))?;
        let s = n.stat();
        if (r.version != -1 && r.version != s.version) || !stat_matches(&s, &r.stat) {
            return Err(ErrorCode::BadVersion);
        }
        Ok(())
    }
}

/// Keeper's listRecursive below `path`: every descendant's full path,
/// breadth first, skipping (and not descending into) the nodes `readable`
/// refuses; at most `limit` paths and `max_bytes` bytes of them, without an
/// error past either (Keeper truncates silently).
pub(crate) fn list_recursive(
    tree: &DataTree,
    path: &str,
    limit: u32,
    max_bytes: usize,
    readable: impl Fn(&AclRef) -> bool,
) -> Vec<String> {
    let mut bytes = 0usize;
    let mut out = Vec::new();
    let mut queue = VecDeque::from([path.to_owned()]);
    while let Some(p) = queue.pop_front() {
        let Some(n) = tree.get(&p) else { continue };
        for name in n.children() {
            let c = child_path(&p, name);
            if !tree.get(&c).is_some_and(|cn| readable(cn.acl())) {
                continue;
            }
            bytes += 4 + c.len();
            if out.len() >= limit as usize || bytes > max_bytes {
                return out;
            }
            out.push(c.clone());
            queue.push_back(c);
        }
    }
    out
}

/// The answer to an extension write (or a multi carrying one); `None` for
/// any other request.
pub(super) fn keeper_write_reply(req: &Request, txn: &Txn, rc: &TxnResult) -> Option<Reply> {
    let nothing_done = txn.header.txn_type == zab_core::proto::op::ERROR && rc.err == 0;
    let failed = || Err(ErrorCode::from_code(rc.err).unwrap_or(ErrorCode::SystemError));
    Some(match &req.op {
        Op::CreateIfNotExists(r) => {
            if nothing_done {
                body(&CreateResponse {
                    path: r.path.clone(),
                })
            } else if rc.err != 0 {
                failed()
            } else {
                body(&CreateResponse {
                    path: rc.path.clone(),
                })
            }
        }
        Op::TryRemove(_) | Op::RemoveRecursive(_) => {
            if nothing_done {
                Ok(None)
            } else if rc.err != 0 {
                failed()
            } else if let Some(sub) = rc.multi.iter().find(|s| s.err != 0) {
                Err(ErrorCode::from_code(sub.err).unwrap_or(ErrorCode::SystemError))
            } else {
                Ok(None)
            }
        }
        Op::Multi(m) if m.ops.iter().any(MultiOp::is_keeper_extension) => {
            if txn.header.txn_type == zab_core::proto::op::ERROR {
                return Some(failed());
            }
            let TxnBody::Multi(subs) = &txn.body else {
                return Some(Err(ErrorCode::SystemError));
            };
            body(&MultiResponse {
                results: multi_results(&m.ops, subs, &rc.multi),
            })
        }
        _ => return None,
    })
}

/// One result per request op, from the sub-transactions prep made of them
/// (one each, except a removeRecursive's deletes) and their results.
fn multi_results(
    ops: &[MultiOp],
    subs: &[zab_core::txn::SubTxn],
    results: &[TxnResult],
) -> Vec<OpResult> {
    let failed = subs
        .iter()
        .any(|s| s.txn_type == zab_core::proto::op::ERROR);
    let mut out = Vec::with_capacity(ops.len());
    let mut i = 0;
    for o in ops {
        let start = i;
        let is_delete_under = |s: &zab_core::txn::SubTxn, root: &str| match &s.body {
            TxnBody::Delete { path } => {
                path == root || path.starts_with(&format!("{}/", root.trim_end_matches('/')))
            }
            _ => false,
        };
        match o {
            MultiOp::RemoveRecursive(r)
                if subs.get(i).is_some_and(|s| is_delete_under(s, &r.path)) =>
            {
                while subs.get(i).is_some_and(|s| is_delete_under(s, &r.path)) {
                    i += 1;
                }
            }
            _ => i += 1,
        }
        let Some(first) = results.get(start) else {
            out.push(OpResult::Error {
                err: ErrorCode::RuntimeInconsistency.code(),
            });
            continue;
        };
        if failed {
            out.push(OpResult::Error { err: first.err });
            continue;
        }
        out.push(match o {
            MultiOp::Create { op_type, .. } if *op_type == zab_core::proto::op::CREATE => {
                OpResult::Create {
                    path: first.path.clone(),
                }
            }
            MultiOp::Create { .. } | MultiOp::CreateTtl(_) => OpResult::Create2 {
                path: first.path.clone(),
                stat: first.stat.unwrap_or_default(),
            },
            MultiOp::Delete(_) | MultiOp::TryRemove(_) => OpResult::Delete,
            MultiOp::SetData(_) => OpResult::SetData {
                stat: first.stat.unwrap_or_default(),
            },
            MultiOp::Check(_) | MultiOp::CheckStat(_) => OpResult::Check,
            MultiOp::CheckNotExists(_) => OpResult::CheckNotExists,
            MultiOp::CreateIfNotExists(r) => OpResult::CreateIfNotExists {
                // A check sub-transaction: the node was there.
                path: if first.txn_type == zab_core::proto::op::CREATE {
                    first.path.clone()
                } else {
                    r.path.clone()
                },
            },
            MultiOp::RemoveRecursive(_) => OpResult::RemoveRecursive,
            MultiOp::GetChildren(_)
            | MultiOp::GetData(_)
            | MultiOp::Exists(_)
            | MultiOp::FilteredList(_)
            | MultiOp::FilteredListWithStats(_) => OpResult::Error {
                err: ErrorCode::MarshallingError.code(),
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    //! listRecursive against the same walk done op by op, a getChildren per
    //! node, on random trees where some nodes may not be read.

    use std::collections::BTreeSet;

    use bytes::Bytes;
    use proptest::prelude::*;
    use zab_core::records::{Acl, Id};
    use zab_core::txn::{CreateTxn, TxnHeader};
    use zab_core::Zxid;

    use super::*;

    fn build(paths: &[(String, bool)]) -> DataTree {
        let mut t = DataTree::new(true);
        for (i, (p, locked)) in paths.iter().enumerate() {
            let acl = if *locked {
                vec![Acl {
                    perms: perms::ALL & !perms::READ,
                    id: Id {
                        scheme: "world".into(),
                        id: "anyone".into(),
                    },
                }]
            } else {
                Acl::open_unsafe()
            };
            let txn = Txn {
                header: TxnHeader {
                    client_id: 1,
                    cxid: 1,
                    zxid: Zxid(i as i64 + 1),
                    time: 1,
                    txn_type: zab_core::proto::op::CREATE,
                },
                body: TxnBody::Create(CreateTxn {
                    path: p.clone(),
                    data: Some(Bytes::new()),
                    acl,
                    ephemeral: false,
                    parent_cversion: -1,
                }),
                digest: None,
            };
            let rc = t.apply(&txn, &mut Vec::new());
            assert_eq!(rc.err, 0, "create {p}");
        }
        t
    }

    fn readable(acl: &AclRef) -> bool {
        check_acl(acl, perms::READ, &[]).is_ok()
    }

    /// What a client gets with getChildren node by node, depth first,
    /// never descending into a node it may not read.
    fn walk(t: &DataTree, path: &str, out: &mut BTreeSet<String>) {
        let Some(n) = t.get(path) else { return };
        let names: Vec<String> = n.children().map(str::to_owned).collect();
        for name in names {
            let c = child_path(path, &name);
            if t.get(&c).is_some_and(|cn| readable(cn.acl())) {
                out.insert(c.clone());
                walk(t, &c, out);
            }
        }
    }

    /// Distinct paths, parents first; some nodes without READ for anyone.
    fn tree_paths() -> impl Strategy<Value = Vec<(String, bool)>> {
        proptest::collection::vec(
            (
                proptest::collection::vec(0u8..3, 1..5),
                prop::bool::weighted(0.15),
            ),
            1..40,
        )
        .prop_map(|raw| {
            let mut set = std::collections::BTreeMap::new();
            for (segs, locked) in &raw {
                let mut p = String::new();
                for s in segs {
                    p.push('/');
                    p.push((b'a' + s) as char);
                    set.entry(p.clone()).or_insert(false);
                }
                *set.get_mut(&p).unwrap() |= *locked;
            }
            let mut v: Vec<(String, bool)> = set.into_iter().collect();
            v.sort_by_key(|(p, _)| (p.matches('/').count(), p.clone()));
            v
        })
    }

    proptest! {
        #[test]
        fn list_recursive_equals_get_children_node_by_node(
            paths in tree_paths(),
            pick in any::<prop::sample::Index>(),
            root in any::<bool>(),
            limit in 0u32..60,
        ) {
            let t = build(&paths);
            let start = if root {
                "/".to_owned()
            } else {
                paths[pick.index(paths.len())].0.clone()
            };
            let all = list_recursive(&t, &start, u32::MAX, usize::MAX, readable);
            let mut want = BTreeSet::new();
            walk(&t, &start, &mut want);
            let got: BTreeSet<String> = all.iter().cloned().collect();
            prop_assert_eq!(got.len(), all.len(), "no path twice");
            prop_assert_eq!(&got, &want);
            let depth = |p: &String| p.matches('/').count();
            prop_assert!(all.windows(2).all(|w| depth(&w[0]) <= depth(&w[1])), "breadth first");
            let some = list_recursive(&t, &start, limit, usize::MAX, readable);
            prop_assert_eq!(&some[..], &all[..all.len().min(limit as usize)]);
            // The byte bound truncates the same way.
            let cut = list_recursive(&t, &start, u32::MAX, 40, readable);
            prop_assert!(all.starts_with(&cut));
            prop_assert!(cut.iter().map(|p| 4 + p.len()).sum::<usize>() <= 40);
        }
    }
}
