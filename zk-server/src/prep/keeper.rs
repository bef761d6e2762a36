//! Prep of ClickHouse Keeper's write extensions (createIfNotExists,
//! tryRemove, removeRecursive, and checkNotExists / checkStat inside multi),
//! with Keeper's semantics (`KeeperStorage.cpp`'s `preprocess`), turned into
//! Apache ZooKeeper's own transaction types so that the log, snapshots and
//! SNAP/DIFF stay Apache's and any learner (ours or Apache's) applies them:
//!
//! ```text
//! createIfNotExists  -> create                 | error(0) when the node exists
//! tryRemove          -> delete                 | error(0) when nothing may be removed
//! removeRecursive    -> multi(delete*)         ; children before parents
//!                                              | error(0) when there is no such node
//! inside multi: the same sub-transactions, and check(path, -1) where the
//! top level has error(0); checkNotExists and checkStat become check.
//! ```
//!
//! An error transaction with code 0 changes nothing and consumes a zxid, as
//! Keeper's request without deltas does; the final stage answers it Ok.
//!
//! removeRecursive is bounded twice: by the client's node limit (Keeper's
//! rule: more nodes than `max(limit, 1)` is NotEmpty) and by ours,
//! [`REMOVE_RECURSIVE_MAX_NODES`] and the transaction's size (at most
//! `jute.maxbuffer`, which every learner must be able to read), also
//! answered NotEmpty; so one request never walks or writes more than that.

use std::collections::{HashMap, HashSet, VecDeque};

use zab_core::proto::{CheckStatRequest, CheckVersionRequest, CreateRequest, DeleteRequest};
use zab_core::records::Stat;

use super::*;

/// The most nodes one removeRecursive deletes, whatever limit its client sends.
pub const REMOVE_RECURSIVE_MAX_NODES: usize = 100_000;

/// Bytes one delete adds to a multi transaction besides its path: the
/// sub-transaction's type and length, and the path's length.
const DELETE_SUB_TXN_BYTES: usize = 12;

/// What a write extension comes to.
pub(super) enum KeeperWrite {
    /// Apache transactions (one, or a multi's sub-transactions).
    Txns(Vec<SubTxn>),
    /// Nothing to do; answered Ok.
    Nothing,
}

impl Prep {
    /// createIfNotExists: a create, or nothing when the node is there
    /// (Keeper refuses a sequential one: its name could never exist).
    pub(super) fn prep_create_if_not_exists(
        &mut self,
        ctx: &PrepCtx<'_>,
        req: &CreateRequest,
    ) -> PResult<KeeperWrite> {
        if matches!(
            req.flags,
            create_mode::PERSISTENT_SEQUENTIAL
                | create_mode::EPHEMERAL_SEQUENTIAL
                | create_mode::PERSISTENT_SEQUENTIAL_WITH_TTL
        ) {
            return Err(ErrorCode::BadArguments);
        }
        match self.prep_create(ctx, op::CREATE, req, -1) {
            Ok(body) => Ok(KeeperWrite::Txns(vec![SubTxn {
                txn_type: op::CREATE,
                body,
            }])),
            Err(ErrorCode::NodeExists) => Ok(KeeperWrite::Nothing),
            Err(e) => Err(e),
        }
    }

    /// tryRemove: a delete when it would succeed; no parent, no node, another
    /// version or children are nothing to do, other refusals stay errors.
    pub(super) fn prep_try_remove(
        &mut self,
        ctx: &PrepCtx<'_>,
        r: &DeleteRequest,
    ) -> PResult<KeeperWrite> {
        ctx.session_ok?;
        let path = r.path.as_str();
        let parent_path = parent_for_delete(path)?;
        let parent = match self.record(ctx.tree, parent_path) {
            Ok(p) => p,
            Err(ErrorCode::NoNode) => return Ok(KeeperWrite::Nothing),
            Err(e) => return Err(e),
        };
        check_acl(&parent.acl, perms::DELETE, ctx.auth)?;
        let Ok(node) = self.record(ctx.tree, path) else {
            return Ok(KeeperWrite::Nothing);
        };
        let version = node.stat.expect("exists").version;
        if (r.version != -1 && r.version != version) || node.child_count > 0 {
            return Ok(KeeperWrite::Nothing);
        }
        self.record_delete(ctx.tree, parent_path, parent, path, ctx.zxid.0);
        Ok(KeeperWrite::Txns(vec![SubTxn {
            txn_type: op::DELETE,
            body: TxnBody::Delete {
                path: path.to_owned(),
            },
        }]))
    }

    /// removeRecursive: the node and everything below it, as prepared
    /// transactions leave the tree, deleted children first.
    pub(super) fn prep_remove_recursive(
        &mut self,
        ctx: &PrepCtx<'_>,
        path: &str,
        limit: u32,
    ) -> PResult<KeeperWrite> {
        ctx.session_ok?;
        valid_path(path)?;
        // Keeper refuses its system subtree and the root; ours are / and /zookeeper.
        if is_special(path) {
            return Err(ErrorCode::BadArguments);
        }
        let parent_path = parent_of(path);
        let parent = match self.record(ctx.tree, parent_path) {
            Ok(p) => p,
            Err(ErrorCode::NoNode) => return Ok(KeeperWrite::Nothing),
            Err(e) => return Err(e),
        };
        check_acl(&parent.acl, perms::DELETE, ctx.auth)?;
        if self.record(ctx.tree, path).is_err() {
            return Ok(KeeperWrite::Nothing);
        }
        let max_nodes = (limit as usize).clamp(1, REMOVE_RECURSIVE_MAX_NODES);
        let order = self.subtree(ctx, path, max_nodes)?;
        // Deepest first: in breadth-first order every node comes after its parent.
        let mut subs = Vec::with_capacity(order.len());
        let zxid = ctx.zxid.0;
        for p in order.iter().rev() {
            let gone = self.removal(ctx.tree, p, zxid, -1);
            self.add(p, gone);
            subs.push(SubTxn {
                txn_type: op::DELETE,
                body: TxnBody::Delete { path: p.clone() },
            });
        }
        let mut parent = parent;
        parent.zxid = zxid;
        parent.child_count -= 1;
        if let Some(s) = parent.stat.as_mut() {
            s.pzxid = zxid;
        }
        self.add(parent_path, parent);
        Ok(KeeperWrite::Txns(subs))
    }

    /// The subtree at `path` in breadth-first order, each node checked for
    /// DELETE as Keeper checks it; NotEmpty past `max_nodes` nodes (when the
    /// node has children) or past `jute.maxbuffer` bytes of deletes.
    fn subtree(&self, ctx: &PrepCtx<'_>, path: &str, max_nodes: usize) -> PResult<Vec<String>> {
        // Children created by prepared transactions, not in the tree yet.
        let prefix = format!("{path}/");
        let mut pending_children: HashMap<&str, Vec<&str>> = HashMap::new();
        for (p, rec) in &self.pending {
            if rec.stat.is_some() && p.starts_with(&prefix) {
                pending_children.entry(parent_of(p)).or_default().push(&**p);
            }
        }
        let max_bytes = ctx.max_txn_bytes;
        let mut bytes = DELETE_SUB_TXN_BYTES + path.len();
        let mut order = Vec::new();
        let mut queue = VecDeque::from([path.to_owned()]);
        while let Some(p) = queue.pop_front() {
            let rec = self.record(ctx.tree, &p)?;
            check_acl(&rec.acl, perms::DELETE, ctx.auth)?;
            let mut seen = HashSet::new();
            let mut children = Vec::new();
            if let Some(n) = ctx.tree.get(&p) {
                for name in n.children() {
                    let c = if p == ROOT {
                        format!("/{name}")
                    } else {
                        format!("{p}/{name}")
                    };
                    // Deleted by a prepared transaction?
                    if self
                        .pending
                        .get(c.as_str())
                        .is_some_and(|r| r.stat.is_none())
                    {
                        continue;
                    }
                    seen.insert(c.clone());
                    children.push(c);
                }
            }
            for c in pending_children.get(p.as_str()).into_iter().flatten() {
                if !seen.contains(*c) {
                    children.push((*c).to_owned());
                }
            }
            order.push(p);
            for c in children {
                bytes += DELETE_SUB_TXN_BYTES + c.len();
                if order.len() + queue.len() + 1 > max_nodes || bytes > max_bytes {
                    return Err(ErrorCode::NotEmpty);
                }
                queue.push_back(c);
            }
        }
        Ok(order)
    }

    /// checkNotExists inside multi: NodeExists when the node is there with
    /// `version` (any version for -1).
    pub(super) fn prep_check_not_exists(
        &mut self,
        ctx: &PrepCtx<'_>,
        r: &CheckVersionRequest,
    ) -> PResult<TxnBody> {
        ctx.session_ok?;
        valid_path(&r.path)?;
        if let Ok(rec) = self.record(ctx.tree, &r.path) {
            check_acl(&rec.acl, perms::READ, ctx.auth)?;
            let v = rec.stat.expect("exists").version;
            if r.version == -1 || r.version == v {
                return Err(ErrorCode::NodeExists);
            }
        }
        Ok(TxnBody::CheckVersion {
            path: r.path.clone(),
            version: -1,
        })
    }

    /// checkStat inside multi: the version, then every field of the Stat
    /// that is not -1, against the node as prepared transactions leave it.
    pub(super) fn prep_check_stat(
        &mut self,
        ctx: &PrepCtx<'_>,
        r: &CheckStatRequest,
    ) -> PResult<TxnBody> {
        let body = self.prep_check(ctx, &r.path, r.version)?;
        let stat = match (
            self.pending.contains_key(r.path.as_str()),
            ctx.tree.get(&r.path),
        ) {
            (false, Some(n)) => n.stat(),
            _ => record_stat(&self.record(ctx.tree, &r.path)?),
        };
        if !stat_matches(&stat, &r.stat) {
            return Err(ErrorCode::BadVersion);
        }
        Ok(body)
    }

    /// One extension op of a multi as its sub-transactions (at least one).
    pub(super) fn prep_keeper_sub(
        &mut self,
        ctx: &PrepCtx<'_>,
        o: &MultiOp,
    ) -> PResult<Vec<SubTxn>> {
        let check = |path: &str| SubTxn {
            txn_type: op::CHECK,
            body: TxnBody::CheckVersion {
                path: path.to_owned(),
                version: -1,
            },
        };
        let w = match o {
            MultiOp::CheckNotExists(r) => {
                let body = self.prep_check_not_exists(ctx, r)?;
                KeeperWrite::Txns(vec![SubTxn {
                    txn_type: op::CHECK,
                    body,
                }])
            }
            MultiOp::CheckStat(r) => {
                let body = self.prep_check_stat(ctx, r)?;
                KeeperWrite::Txns(vec![SubTxn {
                    txn_type: op::CHECK,
                    body,
                }])
            }
            MultiOp::CreateIfNotExists(r) => self.prep_create_if_not_exists(ctx, r)?,
            MultiOp::TryRemove(r) => self.prep_try_remove(ctx, r)?,
            MultiOp::RemoveRecursive(r) => self.prep_remove_recursive(ctx, &r.path, r.limit)?,
            _ => unreachable!("not an extension: {o:?}"),
        };
        Ok(match w {
            KeeperWrite::Txns(subs) if !subs.is_empty() => subs,
            _ => vec![check(o.path())],
        })
    }
}

/// The Stat a client would read for a change record (its data length is not
/// kept in change records: -1, matching anything, when it is not known).
fn record_stat(rec: &ChangeRecord) -> Stat {
    let p = rec.stat.expect("exists");
    Stat {
        czxid: p.czxid,
        mzxid: p.mzxid,
        ctime: p.ctime,
        mtime: p.mtime,
        version: p.version,
        cversion: p.cversion,
        aversion: p.aversion,
        ephemeral_owner: p.ephemeral_owner,
        data_length: -1,
        num_children: rec.child_count,
        pzxid: p.pzxid,
    }
}

/// Keeper's `checkNodeStat`: each field of `want` that is not -1 equals the node's.
pub fn stat_matches(node: &Stat, want: &Stat) -> bool {
    let l = |w: i64, n: i64| w == -1 || w == n;
    let i = |w: i32, n: i32| w == -1 || w == n;
    l(want.czxid, node.czxid)
        && l(want.mzxid, node.mzxid)
        && l(want.ctime, node.ctime)
        && l(want.mtime, node.mtime)
        && i(want.version, node.version)
        && i(want.cversion, node.cversion)
        && i(want.aversion, node.aversion)
        && l(want.ephemeral_owner, node.ephemeral_owner)
        && (node.data_length == -1 || i(want.data_length, node.data_length))
        && i(want.num_children, node.num_children)
        && l(want.pzxid, node.pzxid)
}

#[cfg(test)]
mod tests {
    //! removeRecursive against the same work done op by op: on random trees,
    //! with some of the tree's creates still only prepared (pending) when the
    //! removeRecursive is prepared, the tree it leaves, the ephemerals and
    //! the nodes deleted equal those of deleting the subtree one node at a
    //! time, children first, with plain deletes; past the limit nothing changes.

    use std::collections::BTreeSet;

    use bytes::Bytes;
    use proptest::prelude::*;
    use zab_core::proto::{DeleteRequest, RemoveRecursiveRequest};
    use zab_core::records::Acl;
    use zab_core::Zxid;

    use super::*;
    use crate::tree::Trigger;

    const SESSION: i64 = 7;

    /// A node as compared: path, data, version, cversion, aversion, owner, children.
    type Shape = (String, Vec<u8>, i32, i32, i32, i64, usize);

    struct Run {
        tree: DataTree,
        prep: Prep,
        zxid: i64,
        deleted: Vec<String>,
    }

    impl Run {
        fn new() -> Run {
            Run {
                tree: DataTree::new(true),
                prep: Prep::default(),
                zxid: 0,
                deleted: Vec::new(),
            }
        }

        fn prep(&mut self, o: &Op) -> Txn {
            self.zxid += 1;
            let ctx = PrepCtx {
                tree: &self.tree,
                session_id: SESSION,
                cxid: self.zxid as i32,
                zxid: Zxid(self.zxid),
                time_ms: 1000,
                auth: &[],
                session_ok: Ok(()),
                ephemeral_ok: Ok(()),
                extended_types: true,
                max_txn_bytes: 0xfffff,
                reconfig: Default::default(),
            };
            let op_type = match o {
                Op::Create { op_type, .. } => *op_type,
                Op::Delete(_) => op::DELETE,
                _ => zab_core::proto::keeper_op::REMOVE_RECURSIVE,
            };
            self.prep.prep(&ctx, op_type, o)
        }

        fn apply(&mut self, t: &Txn) {
            let mut triggers = Vec::new();
            self.tree.apply(t, &mut triggers);
            self.prep.applied(t.header.zxid);
            for tr in triggers {
                if let Trigger::Deleted { path, .. } = tr {
                    self.deleted.push(path);
                }
            }
        }

        fn run(&mut self, o: &Op) -> Txn {
            let t = self.prep(o);
            self.apply(&t);
            t
        }

        /// Every node: path, data, version, cversion, aversion, owner, children.
        fn shape(&self) -> BTreeSet<Shape> {
            self.tree
                .iter()
                .map(|(p, n)| {
                    let s = n.persisted();
                    (
                        p,
                        n.data().to_vec(),
                        s.version,
                        s.cversion,
                        s.aversion,
                        s.ephemeral_owner,
                        n.child_count(),
                    )
                })
                .collect()
        }
    }

    fn create_op(path: &str, ephemeral: bool) -> Op {
        Op::Create {
            op_type: op::CREATE,
            req: CreateRequest {
                path: path.into(),
                data: Some(Bytes::copy_from_slice(path.as_bytes())),
                acl: Acl::open_unsafe(),
                flags: if ephemeral {
                    create_mode::EPHEMERAL
                } else {
                    create_mode::PERSISTENT
                },
            },
        }
    }

    /// Distinct paths over a small name space, parents before children;
    /// leaves may be ephemeral.
    fn tree_paths() -> impl Strategy<Value = Vec<(String, bool)>> {
        proptest::collection::vec(
            (proptest::collection::vec(0u8..3, 1..5), any::<bool>()),
            1..40,
        )
        .prop_map(|raw| {
            let mut set = BTreeSet::new();
            for (segs, _) in &raw {
                let mut p = String::new();
                for s in segs {
                    p.push('/');
                    p.push((b'a' + s) as char);
                    set.insert(p.clone());
                }
            }
            let mut v: Vec<String> = set.into_iter().collect();
            v.sort_by_key(|p| (p.matches('/').count(), p.clone()));
            let leaves: Vec<bool> = v
                .iter()
                .map(|p| !v.iter().any(|q| q.starts_with(&format!("{p}/"))))
                .collect();
            v.into_iter()
                .zip(leaves)
                .enumerate()
                .map(|(i, (p, leaf))| {
                    let eph = leaf && raw.get(i).is_some_and(|r| r.1);
                    (p, eph)
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn remove_recursive_equals_deletes_one_by_one(
            paths in tree_paths(),
            target_pick in any::<prop::sample::Index>(),
            missing in any::<bool>(),
            limit in 0u32..50,
            pending in 0usize..6,
        ) {
            let target = if missing {
                "/zz".to_owned()
            } else {
                paths[target_pick.index(paths.len())].0.clone()
            };

            // A: the last `pending` creates only prepared when removeRecursive is.
            let mut a = Run::new();
            let split = paths.len().saturating_sub(pending);
            for (p, e) in &paths[..split] {
                a.run(&create_op(p, *e));
            }
            let held: Vec<Txn> = paths[split..].iter().map(|(p, e)| a.prep(&create_op(p, *e))).collect();
            let rr = a.prep(&Op::RemoveRecursive(RemoveRecursiveRequest { path: target.clone(), limit }));
            for t in &held {
                a.apply(t);
            }
            a.apply(&rr);

            // B: the whole tree, then the same by hand.
            let mut b = Run::new();
            for (p, e) in &paths {
                b.run(&create_op(p, *e));
            }
            let before = b.shape();
            let mut subtree: Vec<String> = paths
                .iter()
                .map(|(p, _)| p.clone())
                .filter(|p| *p == target || p.starts_with(&format!("{target}/")))
                .collect();
            let n = subtree.len();
            if n > (limit as usize).max(1) {
                prop_assert_eq!(rr.header.txn_type, op::ERROR);
                prop_assert_eq!(&rr.body, &TxnBody::Error { err: ErrorCode::NotEmpty.code() });
                prop_assert_eq!(a.shape(), before);
                return Ok(());
            }
            subtree.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
            for p in &subtree {
                let t = b.run(&Op::Delete(DeleteRequest { path: p.clone(), version: -1 }));
                prop_assert_eq!(t.header.txn_type, op::DELETE);
            }
            prop_assert_eq!(a.shape(), b.shape());
            let mut da = a.deleted.clone();
            let mut db = b.deleted.clone();
            da.sort();
            db.sort();
            prop_assert_eq!(da, db);
            let ea: Vec<_> = a.tree.ephemerals(SESSION).cloned().collect();
            let eb: Vec<_> = b.tree.ephemerals(SESSION).cloned().collect();
            prop_assert_eq!(ea, eb);
            if n == 0 {
                prop_assert_eq!(&rr.body, &TxnBody::Error { err: 0 });
            } else {
                prop_assert_eq!(rr.header.txn_type, op::MULTI);
            }
        }
    }
}
