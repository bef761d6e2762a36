//! The prep stage (ZooKeeper's `PrepRequestProcessor`): validate a write and
//! turn it into a transaction, against the tree as it will be once every
//! transaction already prepared is applied.
//!
//! Prepared but not yet applied changes live in `pending` (ZooKeeper's
//! outstanding changes), so that a second write can be prepared before the
//! first one commits: this is what lets the log group-commit and the leader
//! pipeline proposals. A failed write still becomes a transaction (an error
//! txn that consumes a zxid), exactly as in ZooKeeper, so zxids and replies
//! match Apache ZooKeeper's field by field.
//!
//! Each change record also carries its node's part of Apache's tree digest
//! (Apache's `precalculatedDigest`), so that [`Prep::txn_digest`] can say what
//! the whole tree's digest will be once a transaction applies: the `TxnDigest`
//! a leader attaches to its proposal and every replica compares after applying.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

mod keeper;
use keeper::KeeperWrite;
pub use keeper::{stat_matches, REMOVE_RECURSIVE_MAX_NODES};

use zab_core::path::validate_path;
use zab_core::proto::{create_mode, op, CreateRequest, MultiOp, Op, ReconfigRequest};
use zab_core::records::{perms, ErrorCode, Id, StatPersisted};
use zab_core::txn::{
    CreateContainerTxn, CreateTtlTxn, CreateTxn, SetAclTxn, SetDataTxn, SubTxn, Txn, TxnBody,
    TxnDigest, TxnHeader,
};
use zab_core::Zxid;
use zab_storage::apache_snapshot::ApacheNodePrefix;

use crate::auth::{check_acl, fixup_acl};
use crate::tree::{
    parent_of, DataTree, EphemeralKind, APACHE_DIGEST_VERSION, CONFIG_ZOOKEEPER,
    CONTAINER_EPHEMERAL_OWNER, MAX_TTL, PROC_ZOOKEEPER, QUOTA_ZOOKEEPER, ROOT,
};

/// The state of a path once prepared transactions apply (ZooKeeper's `ChangeRecord`).
#[derive(Clone, Debug)]
struct ChangeRecord {
    zxid: i64,
    /// `None`: the path is deleted.
    stat: Option<StatPersisted>,
    child_count: i32,
    acl: crate::tree::AclRef,
    /// The node's path and data in Apache's digest (None under `/zookeeper/`,
    /// for a deleted path, or with digests off).
    prefix: Option<ApacheNodePrefix>,
    /// The node's part of Apache's digest as it stood before this record's
    /// change; [`Prep::add`] sets it to the node's part after.
    node_digest: u64,
}

/// What prep needs to know about the request's session.
pub struct PrepCtx<'a> {
    pub tree: &'a DataTree,
    pub session_id: i64,
    pub cxid: i32,
    pub zxid: Zxid,
    pub time_ms: i64,
    pub auth: &'a [Id],
    /// `Err(SessionExpired)` when the session is gone or closing.
    pub session_ok: Result<(), ErrorCode>,
    /// What creating an ephemeral checks instead (Apache's `checkGlobalSession` in
    /// `validateCreateRequest`): `session_ok` unless local sessions are on, where a
    /// local session gets EphemeralOnLocalSession and one unknown here SessionExpired.
    pub ephemeral_ok: Result<(), ErrorCode>,
    pub extended_types: bool,
    /// The largest transaction learners can read (`jute.maxbuffer`): bounds removeRecursive.
    pub max_txn_bytes: usize,
    /// What a reconfig needs beyond the tree (the default: disabled).
    pub reconfig: crate::reconfig::ReconfigCtx<'a>,
}

#[derive(Default, Debug)]
pub struct Prep {
    /// Keyed by the path that `order` holds too: one allocation per change.
    pending: HashMap<Arc<str>, ChangeRecord>,
    /// Each change record's zxid, path and part of `digest_delta`, oldest first.
    order: VecDeque<(i64, Arc<str>, u64)>,
    /// While a multi is prepared: what each of its changes replaced, in
    /// order, so that a failed multi leaves no trace (a sequential name
    /// included) in `pending`.
    undo: Option<Vec<(Arc<str>, Option<ChangeRecord>)>>,
    /// Change records added and removed since [`Prep::take_counts`] last asked
    /// (`outstanding_changes_queued`, `outstanding_changes_removed`).
    added: u64,
    removed: u64,
    /// `zookeeper.digest.enabled`: transactions carry Apache's tree digest.
    digest_enabled: bool,
    /// What the prepared, unapplied changes add to the tree's Apache digest
    /// (wrapping); each entry of `order` carries its own part.
    digest_delta: u64,
}

type PResult<T> = Result<T, ErrorCode>;

fn is_special(path: &str) -> bool {
    matches!(
        path,
        ROOT | PROC_ZOOKEEPER | QUOTA_ZOOKEEPER | CONFIG_ZOOKEEPER
    )
}

/// ZooKeeper's `getParentPathAndValidate`.
fn parent_for_delete(path: &str) -> PResult<&str> {
    if !path.contains('/') || path.contains('\0') || is_special(path) {
        return Err(ErrorCode::BadArguments);
    }
    Ok(parent_of(path))
}

/// ZooKeeper's `validatePathForCreate`.
fn parent_for_create(path: &str) -> PResult<&str> {
    if !path.contains('/') || path.contains('\0') {
        return Err(ErrorCode::BadArguments);
    }
    Ok(parent_of(path))
}

fn valid_path(path: &str) -> PResult<()> {
    validate_path(path).map_err(|_| ErrorCode::BadArguments)
}

fn check_version(current: i32, expected: i32) -> PResult<i32> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(current + 1)
}

impl Prep {
    /// An empty prep stage; `digest_enabled` is `zookeeper.digest.enabled`.
    pub fn new(digest_enabled: bool) -> Prep {
        Prep {
            digest_enabled,
            ..Prep::default()
        }
    }

    /// The `TxnDigest` Apache's `PrepRequestProcessor` attaches to `txn`, just
    /// prepared by this stage: Apache's digest of the tree once every prepared
    /// transaction up to this one applies. None with digests off, and for an
    /// error transaction outside a multi (Apache's prep throws before it sets
    /// one); a failed multi carries the digest of the tree it leaves unchanged.
    /// Apache reads the running total of its last outstanding change record;
    /// this is the tree's digest plus the unapplied records' parts, the same
    /// number as long as every earlier prediction held.
    pub fn txn_digest(&self, tree: &DataTree, txn: &Txn) -> Option<TxnDigest> {
        if !self.digest_enabled || txn.header.txn_type == op::ERROR {
            return None;
        }
        Some(TxnDigest {
            version: APACHE_DIGEST_VERSION,
            tree_digest: tree.apache_digest().wrapping_add(self.digest_delta) as i64,
        })
    }

    /// Number of prepared transactions not yet applied (their change records).
    pub fn outstanding(&self) -> usize {
        self.order.len()
    }

    /// Change records added and removed since the last call (Apache counts each
    /// `addChangeRecord`, and each record `processTxn` takes off the list).
    pub fn take_counts(&mut self) -> (u64, u64) {
        (
            std::mem::take(&mut self.added),
            std::mem::take(&mut self.removed),
        )
    }

    /// Forget the changes of transactions up to `zxid`, now applied to the tree.
    pub fn applied(&mut self, zxid: Zxid) {
        while let Some((z, _, _)) = self.order.front() {
            if *z > zxid.0 {
                break;
            }
            let (z, path, delta) = self.order.pop_front().unwrap();
            self.digest_delta = self.digest_delta.wrapping_sub(delta);
            self.removed += 1;
            if self.pending.get(&*path).is_some_and(|r| r.zxid == z) {
                self.pending.remove(&*path);
            }
        }
    }

    fn record(&self, tree: &DataTree, path: &str) -> PResult<ChangeRecord> {
        if let Some(r) = self.pending.get(path) {
            return if r.stat.is_some() {
                Ok(r.clone())
            } else {
                Err(ErrorCode::NoNode)
            };
        }
        let n = tree.get(path).ok_or(ErrorCode::NoNode)?;
        let stat = n.persisted();
        let prefix = self.digest_prefix(path, n.data());
        Ok(ChangeRecord {
            zxid: -1,
            stat: Some(stat),
            child_count: n.child_count() as i32,
            acl: n.acl().clone(),
            node_digest: prefix.as_ref().map_or(0, |p| p.digest(&stat)),
            prefix,
        })
    }

    /// A node's path and data for its part of Apache's digest.
    fn digest_prefix(&self, path: &str, data: &[u8]) -> Option<ApacheNodePrefix> {
        if self.digest_enabled {
            ApacheNodePrefix::new(path, data)
        } else {
            None
        }
    }

    /// A new record for `path` (Apache's `addChangeRecord` after
    /// `precalculateDigest`): the tree's digest loses the node's part before
    /// the change (the record's `node_digest`, as it came from `record` or was
    /// made) and gains its part after.
    fn add(&mut self, path: &str, mut rec: ChangeRecord) {
        let before = rec.node_digest;
        rec.node_digest = match (&rec.prefix, &rec.stat) {
            (Some(p), Some(stat)) => p.digest(stat),
            _ => 0,
        };
        let delta = rec.node_digest.wrapping_sub(before);
        self.digest_delta = self.digest_delta.wrapping_add(delta);
        let path: Arc<str> = Arc::from(path);
        self.order.push_back((rec.zxid, path.clone(), delta));
        self.added += 1;
        let old = self.pending.insert(path.clone(), rec);
        if let Some(undo) = self.undo.as_mut() {
            undo.push((path, old));
        }
    }

    /// Turn a write request into its transaction.
    pub fn prep(&mut self, ctx: &PrepCtx<'_>, op_type: i32, op_: &Op) -> Txn {
        let mut txn_type = op_type;
        let body = match op_ {
            // A read op makes the multi malformed as a whole: ZooKeeper's
            // MultiOperationRecord refuses to mix reads and writes, and a multi of
            // reads only fails in prep as well; either way the request becomes an
            // error transaction (a zxid) with MarshallingError and no body.
            Op::Multi(m) if m.ops.iter().any(MultiOp::is_read) => {
                txn_type = op::ERROR;
                TxnBody::Error {
                    err: ErrorCode::MarshallingError.code(),
                }
            }
            Op::Multi(m) => self.prep_multi(ctx, &m.ops),
            // ClickHouse Keeper's writes become Apache's transaction types.
            Op::CreateIfNotExists(_) | Op::TryRemove(_) | Op::RemoveRecursive(_) => {
                let w = match op_ {
                    Op::CreateIfNotExists(r) => self.prep_create_if_not_exists(ctx, r),
                    Op::TryRemove(r) => self.prep_try_remove(ctx, r),
                    Op::RemoveRecursive(r) => self.prep_remove_recursive(ctx, &r.path, r.limit),
                    _ => unreachable!(),
                };
                let (t, b) = match w {
                    Ok(KeeperWrite::Txns(mut subs))
                        if subs.len() == 1 && !matches!(op_, Op::RemoveRecursive(_)) =>
                    {
                        let s = subs.pop().expect("one");
                        (s.txn_type, s.body)
                    }
                    Ok(KeeperWrite::Txns(subs)) if !subs.is_empty() => {
                        (op::MULTI, TxnBody::Multi(subs))
                    }
                    Ok(_) => (op::ERROR, TxnBody::Error { err: 0 }),
                    Err(e) => (op::ERROR, TxnBody::Error { err: e.code() }),
                };
                txn_type = t;
                b
            }
            _ => match self.prep_one(ctx, op_) {
                Ok(b) => b,
                Err(e) => {
                    txn_type = op::ERROR;
                    TxnBody::Error { err: e.code() }
                }
            },
        };
        Txn {
            header: TxnHeader {
                client_id: ctx.session_id,
                cxid: ctx.cxid,
                zxid: ctx.zxid,
                time: ctx.time_ms,
                txn_type,
            },
            body,
            digest: None,
        }
    }

    fn prep_multi(&mut self, ctx: &PrepCtx<'_>, ops: &[MultiOp]) -> TxnBody {
        self.undo = Some(Vec::new());
        let mut subs = Vec::with_capacity(ops.len());
        let mut failed = false;
        for o in ops {
            if failed {
                subs.push(SubTxn {
                    txn_type: op::ERROR,
                    body: TxnBody::Error {
                        err: ErrorCode::RuntimeInconsistency.code(),
                    },
                });
                continue;
            }
            if o.is_keeper_extension() {
                match self.prep_keeper_sub(ctx, o) {
                    Ok(mut v) => subs.append(&mut v),
                    Err(e) => {
                        failed = true;
                        subs.push(SubTxn {
                            txn_type: op::ERROR,
                            body: TxnBody::Error { err: e.code() },
                        });
                    }
                }
                continue;
            }
            let as_op = match o {
                MultiOp::Create { op_type, req } => Op::Create {
                    op_type: *op_type,
                    req: req.clone(),
                },
                MultiOp::CreateTtl(r) => Op::CreateTtl(r.clone()),
                MultiOp::Delete(r) => Op::Delete(r.clone()),
                MultiOp::SetData(r) => Op::SetData(r.clone()),
                MultiOp::Check(r) => {
                    match self.prep_check(ctx, &r.path, r.version) {
                        Ok(b) => subs.push(SubTxn {
                            txn_type: op::CHECK,
                            body: b,
                        }),
                        Err(e) => {
                            failed = true;
                            subs.push(SubTxn {
                                txn_type: op::ERROR,
                                body: TxnBody::Error { err: e.code() },
                            });
                        }
                    }
                    continue;
                }
                MultiOp::GetChildren(_)
                | MultiOp::GetData(_)
                | MultiOp::Exists(_)
                | MultiOp::FilteredList(_)
                | MultiOp::FilteredListWithStats(_) => {
                    unreachable!("prep refuses a multi with a read op as a whole")
                }
                MultiOp::CheckNotExists(_)
                | MultiOp::CheckStat(_)
                | MultiOp::CreateIfNotExists(_)
                | MultiOp::RemoveRecursive(_)
                | MultiOp::TryRemove(_) => unreachable!("prepared above"),
            };
            match self.prep_one(ctx, &as_op) {
                Ok(b) => subs.push(SubTxn {
                    txn_type: o.op_type(),
                    body: b,
                }),
                Err(e) => {
                    failed = true;
                    subs.push(SubTxn {
                        txn_type: op::ERROR,
                        body: TxnBody::Error { err: e.code() },
                    });
                }
            }
        }
        let undo = self.undo.take().unwrap_or_default();
        if failed {
            // ZooKeeper's rollbackPendingChanges: every change of this multi goes.
            let z = ctx.zxid.0;
            let mut undone = 0u64;
            self.order.retain(|(oz, _, delta)| {
                if *oz == z {
                    undone = undone.wrapping_add(*delta);
                }
                *oz != z
            });
            self.digest_delta = self.digest_delta.wrapping_sub(undone);
            for (p, old) in undo.into_iter().rev() {
                match old {
                    Some(r) => {
                        self.pending.insert(p, r);
                    }
                    None => {
                        self.pending.remove(&*p);
                    }
                }
            }
        }
        TxnBody::Multi(subs)
    }

    fn prep_check(&mut self, ctx: &PrepCtx<'_>, path: &str, version: i32) -> PResult<TxnBody> {
        ctx.session_ok?;
        valid_path(path)?;
        let rec = self.record(ctx.tree, path)?;
        check_acl(&rec.acl, perms::READ, ctx.auth)?;
        let stat = rec.stat.expect("record exists");
        Ok(TxnBody::CheckVersion {
            path: path.to_owned(),
            version: check_version(stat.version, version)?,
        })
    }

    fn prep_one(&mut self, ctx: &PrepCtx<'_>, op_: &Op) -> PResult<TxnBody> {
        let zxid = ctx.zxid.0;
        match op_ {
            Op::Create { op_type, req } => self.prep_create(ctx, *op_type, req, -1),
            Op::CreateTtl(r) => {
                let req = CreateRequest {
                    path: r.path.clone(),
                    data: r.data.clone(),
                    acl: r.acl.clone(),
                    flags: r.flags,
                };
                self.prep_create(ctx, op::CREATE_TTL, &req, r.ttl)
            }
            Op::Delete(r) => {
                ctx.session_ok?;
                let path = r.path.as_str();
                let parent_path = parent_for_delete(path)?;
                let parent = self.record(ctx.tree, parent_path)?;
                check_acl(&parent.acl, perms::DELETE, ctx.auth)?;
                let node = self.record(ctx.tree, path)?;
                check_version(node.stat.expect("exists").version, r.version)?;
                if node.child_count > 0 {
                    return Err(ErrorCode::NotEmpty);
                }
                self.record_delete(ctx.tree, parent_path, parent, path, zxid);
                Ok(TxnBody::Delete {
                    path: path.to_owned(),
                })
            }
            Op::DeleteContainer { path } => {
                let parent_path = parent_for_delete(path)?;
                let node = self.record(ctx.tree, path)?;
                if node.child_count > 0 {
                    return Err(ErrorCode::NotEmpty);
                }
                let owner = node.stat.expect("exists").ephemeral_owner;
                if EphemeralKind::of(owner, ctx.extended_types) == EphemeralKind::Ephemeral {
                    return Err(ErrorCode::BadVersion);
                }
                let parent = self.record(ctx.tree, parent_path)?;
                self.record_delete(ctx.tree, parent_path, parent, path, zxid);
                Ok(TxnBody::Delete { path: path.clone() })
            }
            Op::SetData(r) => {
                ctx.session_ok?;
                valid_path(&r.path)?;
                let mut node = self.record(ctx.tree, &r.path)?;
                check_acl(&node.acl, perms::WRITE, ctx.auth)?;
                let mut stat = node.stat.expect("exists");
                let version = check_version(stat.version, r.version)?;
                stat.version = version;
                stat.mtime = ctx.time_ms;
                stat.mzxid = zxid;
                node.stat = Some(stat);
                node.zxid = zxid;
                node.prefix = self.digest_prefix(&r.path, r.data.as_deref().unwrap_or_default());
                self.add(&r.path, node);
                Ok(TxnBody::SetData(SetDataTxn {
                    path: r.path.clone(),
                    data: r.data.clone(),
                    version,
                }))
            }
            Op::SetAcl(r) => {
                ctx.session_ok?;
                valid_path(&r.path)?;
                let acl = fixup_acl(&r.acl, ctx.auth)?;
                let mut node = self.record(ctx.tree, &r.path)?;
                check_acl(&node.acl, perms::ADMIN, ctx.auth)?;
                let mut stat = node.stat.expect("exists");
                let version = check_version(stat.aversion, r.version)?;
                stat.aversion = version;
                node.stat = Some(stat);
                node.zxid = zxid;
                node.acl = crate::tree::detached_acl(acl.clone());
                self.add(&r.path, node);
                Ok(TxnBody::SetAcl(SetAclTxn {
                    path: r.path.clone(),
                    acl,
                    version,
                }))
            }
            Op::Check(r) => self.prep_check(ctx, &r.path, r.version),
            Op::Reconfig(r) => self.prep_reconfig(ctx, r),
            _ => Err(ErrorCode::Unimplemented),
        }
    }

    /// `reconfig`, in Apache's order of checks (see [`crate::reconfig`]).
    fn prep_reconfig(&mut self, ctx: &PrepCtx<'_>, r: &ReconfigRequest) -> PResult<TxnBody> {
        use crate::reconfig;
        let rc = &ctx.reconfig;
        if !rc.enabled {
            return Err(ErrorCode::ReconfigDisabled);
        }
        ctx.session_ok?;
        let Some((me, synced)) = rc.leader else {
            // Standalone: Apache's cast to LeaderZooKeeperServer fails.
            return Err(ErrorCode::Unimplemented);
        };
        if rc.in_progress {
            return Err(ErrorCode::ReconfigInProgress);
        }
        let current = ctx
            .tree
            .get(CONFIG_ZOOKEEPER)
            .map(|n| String::from_utf8_lossy(n.data()).into_owned())
            .unwrap_or_default();
        let (servers, version) =
            reconfig::parse_membership(&current).map_err(|_| ErrorCode::SystemError)?;
        if r.cur_config_id != -1 && r.cur_config_id as u64 != version {
            return Err(ErrorCode::BadVersion);
        }
        let hierarchy = reconfig::parse_hierarchy(&current).map_err(|_| ErrorCode::SystemError)?;
        let (next, next_hierarchy) = reconfig::next_membership(&servers, &hierarchy, r)?;
        let voters = reconfig::voters(&next).len();
        if (rc.standalone_enabled && voters < 2) || voters < 1 {
            return Err(ErrorCode::BadArguments);
        }
        if !reconfig::quorum_synced(&next, &next_hierarchy, me, synced) {
            return Err(ErrorCode::NewConfigNoQuorum);
        }
        let mut node = self.record(ctx.tree, CONFIG_ZOOKEEPER)?;
        if !rc.skip_acl {
            check_acl(&node.acl, perms::WRITE, ctx.auth)?;
        }
        let zxid = ctx.zxid.0;
        let text = reconfig::text(&next, &next_hierarchy, zxid as u64);
        if let Some(stat) = node.stat.as_mut() {
            stat.version = -1;
            stat.mtime = ctx.time_ms;
            stat.mzxid = zxid;
        }
        node.zxid = zxid;
        self.add(CONFIG_ZOOKEEPER, node);
        Ok(TxnBody::SetData(SetDataTxn {
            path: CONFIG_ZOOKEEPER.to_owned(),
            data: Some(bytes::Bytes::from(text)),
            version: -1,
        }))
    }

    fn record_delete(
        &mut self,
        tree: &DataTree,
        parent_path: &str,
        mut parent: ChangeRecord,
        path: &str,
        zxid: i64,
    ) {
        parent.zxid = zxid;
        parent.child_count -= 1;
        if let Some(s) = parent.stat.as_mut() {
            s.pzxid = zxid;
        }
        self.add(parent_path, parent);
        let gone = self.removal(tree, path, zxid, -1);
        self.add(path, gone);
    }

    /// The record of `path` deleted at `zxid`: its part of Apache's digest goes.
    fn removal(&self, tree: &DataTree, path: &str, zxid: i64, child_count: i32) -> ChangeRecord {
        let node_digest = match self.pending.get(path) {
            Some(r) => r.node_digest,
            None if self.digest_enabled => tree.get(path).map_or(0, |n| {
                ApacheNodePrefix::new(path, n.data()).map_or(0, |p| p.digest(&n.persisted()))
            }),
            None => 0,
        };
        ChangeRecord {
            zxid,
            stat: None,
            child_count,
            acl: crate::tree::detached_acl(vec![]),
            prefix: None,
            node_digest,
        }
    }

    fn prep_create(
        &mut self,
        ctx: &PrepCtx<'_>,
        op_type: i32,
        req: &CreateRequest,
        ttl: i64,
    ) -> PResult<TxnBody> {
        let zxid = ctx.zxid.0;
        let flags = req.flags;
        if !(create_mode::PERSISTENT..=create_mode::PERSISTENT_SEQUENTIAL_WITH_TTL).contains(&flags)
        {
            return Err(ErrorCode::BadArguments);
        }
        let is_ttl = matches!(
            flags,
            create_mode::PERSISTENT_WITH_TTL | create_mode::PERSISTENT_SEQUENTIAL_WITH_TTL
        );
        let sequential = matches!(
            flags,
            create_mode::PERSISTENT_SEQUENTIAL
                | create_mode::EPHEMERAL_SEQUENTIAL
                | create_mode::PERSISTENT_SEQUENTIAL_WITH_TTL
        );
        let ephemeral = matches!(
            flags,
            create_mode::EPHEMERAL | create_mode::EPHEMERAL_SEQUENTIAL
        );
        let container = flags == create_mode::CONTAINER;
        // validateCreateRequest
        if is_ttl && !ctx.extended_types {
            return Err(ErrorCode::Unimplemented);
        }
        if is_ttl {
            if ttl > MAX_TTL || ttl <= 0 {
                return Err(ErrorCode::BadArguments);
            }
        } else if ttl >= 0 {
            return Err(ErrorCode::BadArguments);
        }
        if ephemeral {
            ctx.ephemeral_ok?;
        } else {
            ctx.session_ok?;
        }
        let parent_path = parent_for_create(&req.path)?;
        let acl = fixup_acl(&req.acl, ctx.auth)?;
        let mut parent = self.record(ctx.tree, parent_path)?;
        check_acl(&parent.acl, perms::CREATE, ctx.auth)?;
        let mut pstat = parent.stat.expect("exists");
        let path = if sequential {
            format!("{}{:010}", req.path, pstat.cversion)
        } else {
            req.path.clone()
        };
        valid_path(&path)?;
        if self.record(ctx.tree, &path).is_ok() {
            return Err(ErrorCode::NodeExists);
        }
        if EphemeralKind::of(pstat.ephemeral_owner, ctx.extended_types) == EphemeralKind::Ephemeral
        {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        let new_cversion = pstat.cversion + 1;
        let data = req.data.clone();
        let body = if op_type == op::CREATE_CONTAINER {
            TxnBody::CreateContainer(CreateContainerTxn {
                path: path.clone(),
                data,
                acl: acl.clone(),
                parent_cversion: new_cversion,
            })
        } else if op_type == op::CREATE_TTL {
            TxnBody::CreateTtl(CreateTtlTxn {
                path: path.clone(),
                data,
                acl: acl.clone(),
                parent_cversion: new_cversion,
                ttl,
            })
        } else {
            TxnBody::Create(CreateTxn {
                path: path.clone(),
                data,
                acl: acl.clone(),
                ephemeral,
                parent_cversion: new_cversion,
            })
        };
        let owner = if container {
            CONTAINER_EPHEMERAL_OWNER
        } else if is_ttl {
            EphemeralKind::ttl_owner(ttl)
        } else if ephemeral {
            ctx.session_id
        } else {
            0
        };
        pstat.cversion = new_cversion;
        pstat.pzxid = zxid;
        parent.stat = Some(pstat);
        parent.child_count += 1;
        parent.zxid = zxid;
        self.add(parent_path, parent);
        let prefix = self.digest_prefix(&path, req.data.as_deref().unwrap_or_default());
        self.add(
            &path,
            ChangeRecord {
                zxid,
                stat: Some(StatPersisted {
                    czxid: zxid,
                    mzxid: zxid,
                    ctime: ctx.time_ms,
                    mtime: ctx.time_ms,
                    version: 0,
                    cversion: 0,
                    aversion: 0,
                    ephemeral_owner: owner,
                    pzxid: zxid,
                }),
                child_count: 0,
                acl: crate::tree::detached_acl(acl),
                prefix,
                node_digest: 0,
            },
        );
        Ok(body)
    }

    /// A session's closing transaction: the ephemerals to delete, as the
    /// tree will be once prepared transactions apply.
    pub fn prep_close_session(&mut self, tree: &DataTree, session_id: i64, zxid: Zxid) -> TxnBody {
        let mut es: std::collections::BTreeSet<String> =
            tree.ephemerals(session_id).cloned().collect();
        for (path, rec) in &self.pending {
            match &rec.stat {
                None => {
                    es.remove(&**path);
                }
                Some(s) if s.ephemeral_owner == session_id => {
                    es.insert(path.to_string());
                }
                _ => {}
            }
        }
        for p in &es {
            let parent_path = parent_of(p).to_owned();
            if let Ok(mut parent) = self.record(tree, &parent_path) {
                parent.zxid = zxid.0;
                parent.child_count -= 1;
                if let Some(s) = parent.stat.as_mut() {
                    s.pzxid = zxid.0;
                }
                self.add(&parent_path, parent);
            }
            let gone = self.removal(tree, p, zxid.0, 0);
            self.add(p, gone);
        }
        TxnBody::CloseSession {
            paths_to_delete: es.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use zab_core::records::Acl;

    use zab_core::proto::MultiRequest;

    fn ctx(tree: &DataTree, zxid: i64) -> PrepCtx<'_> {
        PrepCtx {
            tree,
            session_id: 7,
            cxid: zxid as i32,
            zxid: Zxid(zxid),
            time_ms: 1000,
            auth: &[],
            session_ok: Ok(()),
            ephemeral_ok: Ok(()),
            extended_types: true,
            max_txn_bytes: 0xfffff,
            reconfig: Default::default(),
        }
    }

    fn create(path: &str, flags: i32) -> CreateRequest {
        CreateRequest {
            path: path.into(),
            data: Some(Bytes::from_static(b"d")),
            acl: Acl::open_unsafe(),
            flags,
        }
    }

    fn create_op(path: &str, flags: i32) -> Op {
        Op::Create {
            op_type: op::CREATE,
            req: create(path, flags),
        }
    }

    fn multi(ops: Vec<MultiOp>) -> Op {
        Op::Multi(MultiRequest { ops })
    }

    fn multi_create(path: &str, flags: i32) -> MultiOp {
        MultiOp::Create {
            op_type: op::CREATE,
            req: create(path, flags),
        }
    }

    /// The path a prepared create would create, or its error code.
    fn created(t: &Txn) -> Result<String, i32> {
        match &t.body {
            TxnBody::Create(c) => Ok(c.path.clone()),
            TxnBody::Error { err } => Err(*err),
            other => panic!("not a create: {other:?}"),
        }
    }

    fn sub_errors(t: &Txn) -> Vec<i32> {
        let TxnBody::Multi(subs) = &t.body else {
            panic!("not a multi: {:?}", t.body)
        };
        subs.iter()
            .map(|s| match &s.body {
                TxnBody::Error { err } => *err,
                _ => 0,
            })
            .collect()
    }

    fn reconfig_err(t: &Txn) -> Option<ErrorCode> {
        match &t.body {
            TxnBody::Error { err } => ErrorCode::from_code(*err),
            _ => None,
        }
    }

    /// Apache's order of checks, each one with the ones before it passed.
    #[test]
    fn reconfig_checks_in_apaches_order() {
        let mut tree = DataTree::new(true);
        let three = "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
                     server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\n\
                     server.3=127.0.0.1:2890:3890:participant;0.0.0.0:2183\n\
                     version=100000000";
        tree.set_config(three.as_bytes(), 0x1_0000_0000, 0);
        let remove = |leaving: &str, version: i64| {
            Op::Reconfig(ReconfigRequest {
                joining_servers: None,
                leaving_servers: Some(leaving.into()),
                new_members: None,
                cur_config_id: version,
            })
        };
        let synced = [2u64];
        let enabled = crate::reconfig::ReconfigCtx {
            enabled: true,
            standalone_enabled: true,
            skip_acl: false,
            leader: Some((1, &synced[..])),
            in_progress: false,
        };
        let super_user = [Id::new("super", "")];
        let run = |rc: crate::reconfig::ReconfigCtx<'_>, op_: &Op, auth: &[Id]| {
            let mut c = ctx(&tree, 0x1_0000_0005);
            c.reconfig = rc;
            c.auth = auth;
            Prep::default().prep(&c, op::RECONFIG, op_)
        };
        let op_ = remove("3", -1);
        let disabled = crate::reconfig::ReconfigCtx::default();
        let cases = [
            (disabled, ErrorCode::ReconfigDisabled),
            (
                crate::reconfig::ReconfigCtx {
                    leader: None,
                    ..enabled
                },
                ErrorCode::Unimplemented,
            ),
            (
                crate::reconfig::ReconfigCtx {
                    in_progress: true,
                    ..enabled
                },
                ErrorCode::ReconfigInProgress,
            ),
        ];
        for (rc, want) in cases {
            assert_eq!(reconfig_err(&run(rc, &op_, &super_user)), Some(want));
        }
        assert_eq!(
            reconfig_err(&run(enabled, &remove("3", 5), &super_user)),
            Some(ErrorCode::BadVersion)
        );
        // Two voters at least while standaloneEnabled.
        assert_eq!(
            reconfig_err(&run(enabled, &remove("2,3", -1), &super_user)),
            Some(ErrorCode::BadArguments)
        );
        // 1 and 3 stay; only 1 is synced: no quorum (before the permission check).
        assert_eq!(
            reconfig_err(&run(enabled, &remove("2", -1), &[])),
            Some(ErrorCode::NewConfigNoQuorum)
        );
        assert_eq!(
            reconfig_err(&run(enabled, &op_, &[])),
            Some(ErrorCode::NoAuth)
        );
        let skip = crate::reconfig::ReconfigCtx {
            skip_acl: true,
            ..enabled
        };
        for t in [run(enabled, &op_, &super_user), run(skip, &op_, &[])] {
            assert_eq!(t.header.txn_type, op::RECONFIG);
            let TxnBody::SetData(s) = &t.body else {
                panic!("{:?}", t.body)
            };
            assert_eq!(s.path, "/zookeeper/config");
            assert_eq!(s.version, -1);
            assert_eq!(
                s.data.as_deref(),
                Some(
                    &b"server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
                       server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\n\
                       version=100000005"[..]
                )
            );
        }
    }

    #[test]
    fn failed_multi_leaves_no_phantom_sequential_node() {
        let tree = DataTree::new(true);
        let mut p = Prep::default();
        let t = p.prep(&ctx(&tree, 1), op::CREATE, &create_op("/s", 0));
        assert_eq!(created(&t), Ok("/s".into()));
        let m = multi(vec![
            multi_create("/s/n-", create_mode::PERSISTENT_SEQUENTIAL),
            multi_create("/missing/x", 0),
        ]);
        let t = p.prep(&ctx(&tree, 2), op::MULTI, &m);
        assert_eq!(
            sub_errors(&t),
            vec![0, ErrorCode::NoNode.code()],
            "the multi fails on its second op"
        );
        // The name the failed multi took is free again, and /s's cversion is
        // as it was: the next sequential create gets the same name.
        let again = create_op("/s/n-", create_mode::PERSISTENT_SEQUENTIAL);
        let t = p.prep(&ctx(&tree, 3), op::CREATE, &again);
        assert_eq!(created(&t), Ok("/s/n-0000000000".into()));
        let t = p.prep(&ctx(&tree, 4), op::CREATE, &again);
        assert_eq!(created(&t), Ok("/s/n-0000000001".into()));
    }

    /// A read op inside multi: the whole request is an error transaction with
    /// MarshallingError, as ZooKeeper 3.8 answers it, and the create before the read
    /// leaves no change record.
    #[test]
    fn multi_with_a_read_op_is_refused_as_a_whole() {
        let tree = DataTree::new(true);
        let mut p = Prep::default();
        let m = multi(vec![
            multi_create("/x", 0),
            MultiOp::GetData(zab_core::proto::PathWatchRequest {
                path: "/".into(),
                watch: false,
            }),
        ]);
        let t = p.prep(&ctx(&tree, 1), op::MULTI, &m);
        assert_eq!(t.header.txn_type, op::ERROR);
        assert_eq!(created(&t), Err(ErrorCode::MarshallingError.code()));
        assert_eq!(p.outstanding(), 0);
        let t = p.prep(&ctx(&tree, 2), op::CREATE, &create_op("/x", 0));
        assert_eq!(created(&t), Ok("/x".into()));
    }

    #[test]
    fn failed_multi_restores_records_of_earlier_transactions() {
        let tree = DataTree::new(true);
        let mut p = Prep::default();
        p.prep(&ctx(&tree, 1), op::CREATE, &create_op("/a", 0));
        // The multi deletes /a, created by zxid 1 and not applied yet, then
        // fails: /a must be back as zxid 1 left it.
        let m = multi(vec![
            MultiOp::Delete(zab_core::proto::DeleteRequest {
                path: "/a".into(),
                version: -1,
            }),
            multi_create("/a/b/c", 0),
        ]);
        let t = p.prep(&ctx(&tree, 2), op::MULTI, &m);
        assert_eq!(sub_errors(&t), vec![0, ErrorCode::NoNode.code()]);
        let t = p.prep(&ctx(&tree, 3), op::CREATE, &create_op("/a", 0));
        assert_eq!(created(&t), Err(ErrorCode::NodeExists.code()));
        let t = p.prep(&ctx(&tree, 4), op::CREATE, &create_op("/a/b", 0));
        assert_eq!(created(&t), Ok("/a/b".into()));
        assert_eq!(p.outstanding(), 4, "zxids 1 and 4 each left two records");
    }

    #[test]
    fn successful_multi_keeps_its_changes_until_applied() {
        let tree = DataTree::new(true);
        let mut p = Prep::default();
        let m = multi(vec![
            multi_create("/m", 0),
            multi_create("/m/q-", create_mode::PERSISTENT_SEQUENTIAL),
        ]);
        let t = p.prep(&ctx(&tree, 1), op::MULTI, &m);
        assert_eq!(sub_errors(&t), vec![0, 0]);
        let t = p.prep(&ctx(&tree, 2), op::CREATE, &create_op("/m/q-0000000000", 0));
        assert_eq!(created(&t), Err(ErrorCode::NodeExists.code()));
        p.applied(Zxid(2));
        assert_eq!(p.outstanding(), 0);
        // Not applied to this tree: once forgotten, /m is unknown again.
        let t = p.prep(&ctx(&tree, 3), op::CREATE, &create_op("/m/x", 0));
        assert_eq!(created(&t), Err(ErrorCode::NoNode.code()));
    }
}

/// The digest a transaction carries against Apache's digest of the tree once it applies.
#[cfg(test)]
mod digest_tests {
    use super::*;
    use bytes::Bytes;
    use zab_core::proto::{
        CheckVersionRequest, CreateTtlRequest, DeleteRequest, MultiRequest, SetAclRequest,
        SetDataRequest,
    };
    use zab_core::records::Acl;

    const SESSION: i64 = 0x77;

    fn ctx(tree: &DataTree, zxid: i64) -> PrepCtx<'_> {
        PrepCtx {
            tree,
            session_id: SESSION,
            cxid: zxid as i32,
            zxid: Zxid(zxid),
            time_ms: 1_000 + zxid,
            auth: &[],
            session_ok: Ok(()),
            ephemeral_ok: Ok(()),
            extended_types: true,
            max_txn_bytes: 0xfffff,
            reconfig: Default::default(),
        }
    }

    fn create(path: &str, data: &'static [u8], flags: i32) -> CreateRequest {
        CreateRequest {
            path: path.into(),
            data: Some(Bytes::from_static(data)),
            acl: Acl::open_unsafe(),
            flags,
        }
    }

    fn set(path: &str, data: Option<&'static [u8]>) -> SetDataRequest {
        SetDataRequest {
            path: path.into(),
            data: data.map(Bytes::from_static),
            version: -1,
        }
    }

    fn delete(path: &str) -> DeleteRequest {
        DeleteRequest {
            path: path.into(),
            version: -1,
        }
    }

    /// One request of every kind a transaction comes from, each touching what
    /// an earlier one changed: ephemerals, sequential names, containers, TTL
    /// nodes, setData (null data too), setACL, delete, the root, /zookeeper,
    /// multis that pass and fail, error transactions, closeSession.
    /// `None`: a closeSession of `SESSION`; `Some(None)`: a createSession.
    fn workload() -> Vec<Option<Option<(i32, Op)>>> {
        let c = |r: CreateRequest| {
            Some(Some((
                op::CREATE,
                Op::Create {
                    op_type: op::CREATE,
                    req: r,
                },
            )))
        };
        let one = |t: i32, o: Op| Some(Some((t, o)));
        vec![
            Some(None),
            c(create("/a", b"alpha", create_mode::PERSISTENT)),
            c(create("/a/e", b"eph", create_mode::EPHEMERAL)),
            c(create("/a/s-", b"seq", create_mode::PERSISTENT_SEQUENTIAL)),
            c(create("/a/s-", b"seq", create_mode::EPHEMERAL_SEQUENTIAL)),
            one(
                op::CREATE_CONTAINER,
                Op::Create {
                    op_type: op::CREATE_CONTAINER,
                    req: create("/box", b"", create_mode::CONTAINER),
                },
            ),
            c(create("/box/in", b"x", create_mode::PERSISTENT)),
            one(
                op::CREATE_TTL,
                Op::CreateTtl(CreateTtlRequest {
                    path: "/ttl".into(),
                    data: Some(Bytes::from_static(b"t")),
                    acl: Acl::open_unsafe(),
                    flags: create_mode::PERSISTENT_WITH_TTL,
                    ttl: 60_000,
                }),
            ),
            one(op::SET_DATA, Op::SetData(set("/a", Some(b"beta")))),
            one(op::SET_DATA, Op::SetData(set("/a/e", None))),
            one(op::SET_DATA, Op::SetData(set("/", Some(b"root")))),
            one(op::SET_DATA, Op::SetData(set("/zookeeper", Some(b"z")))),
            one(
                op::SET_ACL,
                Op::SetAcl(SetAclRequest {
                    path: "/a".into(),
                    // Anyone, without ADMIN.
                    acl: vec![Acl {
                        perms: perms::ALL & !perms::ADMIN,
                        id: zab_core::records::Id::new("world", "anyone"),
                    }],
                    version: -1,
                }),
            ),
            // A child's create and delete move the parent whose ACL just changed.
            c(create("/a/k", b"k", create_mode::PERSISTENT)),
            one(op::DELETE, Op::Delete(delete("/a/s-0000000002"))),
            one(op::DELETE, Op::Delete(delete("/box/in"))),
            one(
                op::DELETE_CONTAINER,
                Op::DeleteContainer {
                    path: "/box".into(),
                },
            ),
            one(
                op::MULTI,
                Op::Multi(MultiRequest {
                    ops: vec![
                        MultiOp::Create {
                            op_type: op::CREATE,
                            req: create("/m", b"m", create_mode::PERSISTENT),
                        },
                        MultiOp::SetData(set("/m", Some(b"mm"))),
                        MultiOp::Create {
                            op_type: op::CREATE,
                            req: create("/m/e", b"", create_mode::EPHEMERAL),
                        },
                        MultiOp::Check(CheckVersionRequest {
                            path: "/m".into(),
                            version: 1,
                        }),
                        MultiOp::Delete(delete("/ttl")),
                    ],
                }),
            ),
            // Fails at its third op: nothing of it applies.
            one(
                op::MULTI,
                Op::Multi(MultiRequest {
                    ops: vec![
                        MultiOp::Create {
                            op_type: op::CREATE,
                            req: create("/n", b"n", create_mode::PERSISTENT),
                        },
                        MultiOp::SetData(set("/a", Some(b"gamma"))),
                        MultiOp::Delete(delete("/missing")),
                    ],
                }),
            ),
            // Error transactions.
            c(create("/a", b"again", create_mode::PERSISTENT)),
            one(op::DELETE, Op::Delete(delete("/a"))),
            one(op::SET_DATA, Op::SetData(set("/missing", Some(b"x")))),
            one(op::SET_DATA, Op::SetData(set("/a/k", Some(b"k2")))),
            None,
            c(create("/a/s-", b"seq", create_mode::PERSISTENT_SEQUENTIAL)),
        ]
    }

    fn prepare(p: &mut Prep, tree: &DataTree, zxid: i64, step: &Option<Option<(i32, Op)>>) -> Txn {
        let header = |txn_type| TxnHeader {
            client_id: SESSION,
            cxid: 0,
            zxid: Zxid(zxid),
            time: 1_000 + zxid,
            txn_type,
        };
        let mut txn = match step {
            Some(Some((t, o))) => p.prep(&ctx(tree, zxid), *t, o),
            Some(None) => Txn {
                header: header(op::CREATE_SESSION),
                body: TxnBody::CreateSession { timeout_ms: 30_000 },
                digest: None,
            },
            None => Txn {
                header: header(op::CLOSE_SESSION),
                body: p.prep_close_session(tree, SESSION, Zxid(zxid)),
                digest: None,
            },
        };
        txn.digest = p.txn_digest(tree, &txn);
        txn
    }

    /// Apply `txns` in order, checking each one's digest against the tree's after it.
    fn apply_all(p: &mut Prep, tree: &mut DataTree, txns: &[Txn]) {
        for t in txns {
            tree.apply(t, &mut Vec::new());
            p.applied(t.header.zxid);
            let single_error = t.header.txn_type == op::ERROR;
            match t.digest {
                Some(d) => {
                    assert!(!single_error);
                    assert_eq!(d.version, APACHE_DIGEST_VERSION);
                    assert_eq!(d.tree_digest as u64, tree.apache_digest(), "{:?}", t.header);
                }
                None => assert!(single_error, "{:?} carries no digest", t.header),
            }
        }
    }

    #[test]
    fn each_digest_is_the_tree_after_its_txn_with_everything_before_still_outstanding() {
        let mut tree = DataTree::new(true);
        let mut p = Prep::new(true);
        let txns: Vec<Txn> = workload()
            .iter()
            .enumerate()
            .map(|(i, step)| prepare(&mut p, &tree, i as i64 + 1, step))
            .collect();
        let errors = txns
            .iter()
            .filter(|t| t.header.txn_type == op::ERROR)
            .count();
        assert_eq!(errors, 3, "the workload's error transactions");
        apply_all(&mut p, &mut tree, &txns);
        assert_eq!(p.outstanding(), 0);
        assert_eq!(p.digest_delta, 0);
        // What the workload left: the close removed the session's ephemerals.
        assert!(tree.get("/a/e").is_none() && tree.get("/m/e").is_none());
        let seq = tree
            .get("/a")
            .unwrap()
            .children()
            .filter(|c| c.starts_with("s-"))
            .count();
        assert_eq!(seq, 2, "the persistent sequential nodes");
    }

    #[test]
    fn each_digest_is_the_tree_after_its_txn_applied_one_at_a_time() {
        let mut tree = DataTree::new(true);
        let mut p = Prep::new(true);
        for (i, step) in workload().iter().enumerate() {
            let t = prepare(&mut p, &tree, i as i64 + 1, step);
            apply_all(&mut p, &mut tree, &[t]);
        }
    }

    #[test]
    fn with_digests_off_no_txn_carries_one() {
        let tree = DataTree::new(true);
        let mut p = Prep::new(false);
        for (i, step) in workload().iter().enumerate() {
            assert_eq!(prepare(&mut p, &tree, i as i64 + 1, step).digest, None);
        }
    }
}
