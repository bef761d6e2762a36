//! Applying committed transactions to the tree (ZooKeeper's
//! `DataTree.processTxn`): [`DataTree::apply`], the [`TxnResult`] the client
//! is answered with, and the watch [`Trigger`]s a change causes.
//!
//! Applying is deterministic: times come from the transaction header, so
//! every replica and every replay of the log reaches the same tree. Applying
//! a transaction the tree already reflects (a fuzzy snapshot's overlap with
//! the log) is harmless; `create_node` and `delete_node` say how.
//!
//! The tree knows nothing of connections or watch tables: triggers go back
//! to the caller (the core's final stage), which delivers them through
//! `watch.rs`. Storing,
//! linking and indexing nodes is the arena's (`arena.rs`); quota usage is
//! `quota.rs`'s.

use zab_core::proto::{event_type, op};
use zab_core::records::{Acl, ErrorCode, Stat, StatPersisted};
use zab_core::txn::{Txn, TxnBody};
use zab_storage::TreeDigest;

use super::quota::{quota_target, QUOTA_LIMITS, QUOTA_STATS};
use super::{
    name_of, parent_of, AclRef, DataTree, EphemeralKind, NodeRef, Place, CONTAINER_EPHEMERAL_OWNER,
    ROOT,
};

/// A change that fires watches, with the ACLs that decide who may see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// `path` was created under `parent`, with `data_len` bytes of data.
    Created {
        path: String,
        acl: AclRef,
        parent: String,
        parent_acl: AclRef,
        data_len: usize,
    },
    /// `path` was deleted from `parent`.
    Deleted {
        path: String,
        acl: AclRef,
        parent: String,
        parent_acl: AclRef,
    },
    /// `path`'s data changed, to `data_len` bytes. (The length travels with the
    /// trigger for `write_per_namespace`: looking the node up again to read it cost
    /// a path lookup per write, with its cache misses.)
    DataChanged {
        path: String,
        acl: AclRef,
        data_len: usize,
    },
}

/// The outcome of applying one transaction (ZooKeeper's `ProcessTxnResult`).
#[derive(Clone, Debug, Default)]
pub struct TxnResult {
    pub txn_type: i32,
    pub err: i32,
    pub path: String,
    pub stat: Option<Stat>,
    pub multi: Vec<TxnResult>,
}

/// The event type and path a trigger delivers to one kind of watch table.
pub fn trigger_event_type(t: &Trigger) -> i32 {
    match t {
        Trigger::Created { .. } => event_type::NODE_CREATED,
        Trigger::Deleted { .. } => event_type::NODE_DELETED,
        Trigger::DataChanged { .. } => event_type::NODE_DATA_CHANGED,
    }
}

pub(super) fn new_stat(zxid: i64, time: i64, ephemeral_owner: i64) -> StatPersisted {
    StatPersisted {
        czxid: zxid,
        mzxid: zxid,
        ctime: time,
        mtime: time,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeral_owner,
        pzxid: zxid,
    }
}

impl DataTree {
    /// Apply a committed transaction. Returns the result and the watch triggers.
    pub fn apply(&mut self, txn: &Txn, triggers: &mut Vec<Trigger>) -> TxnResult {
        let h = &txn.header;
        let mut rc = self.apply_body(
            h.txn_type,
            &txn.body,
            h.zxid.0,
            h.time,
            h.client_id,
            triggers,
        );
        rc.txn_type = h.txn_type;
        if h.zxid > self.last_processed_zxid {
            self.last_processed_zxid = h.zxid;
        }
        self.log_zxid_digest(h.zxid);
        rc
    }

    fn apply_body(
        &mut self,
        txn_type: i32,
        body: &TxnBody,
        zxid: i64,
        time: i64,
        session_id: i64,
        triggers: &mut Vec<Trigger>,
    ) -> TxnResult {
        let mut rc = TxnResult {
            txn_type,
            ..Default::default()
        };
        let res: Result<(), ErrorCode> = match body {
            TxnBody::Create(t) => {
                rc.path = t.path.clone();
                let owner = if t.ephemeral { session_id } else { 0 };
                self.create_node(
                    &t.path,
                    t.data.as_deref(),
                    &t.acl,
                    owner,
                    t.parent_cversion,
                    zxid,
                    time,
                    triggers,
                )
                .map(|s| rc.stat = Some(s))
            }
            TxnBody::CreateContainer(t) => {
                rc.path = t.path.clone();
                self.create_node(
                    &t.path,
                    t.data.as_deref(),
                    &t.acl,
                    CONTAINER_EPHEMERAL_OWNER,
                    t.parent_cversion,
                    zxid,
                    time,
                    triggers,
                )
                .map(|s| rc.stat = Some(s))
            }
            TxnBody::CreateTtl(t) => {
                rc.path = t.path.clone();
                self.create_node(
                    &t.path,
                    t.data.as_deref(),
                    &t.acl,
                    EphemeralKind::ttl_owner(t.ttl),
                    t.parent_cversion,
                    zxid,
                    time,
                    triggers,
                )
                .map(|s| rc.stat = Some(s))
            }
            TxnBody::Delete { path } => {
                rc.path = path.clone();
                self.delete_node(path, zxid, triggers)
            }
            TxnBody::SetData(t) => {
                rc.path = t.path.clone();
                self.set_data(&t.path, t.data.as_deref(), t.version, zxid, time, triggers)
                    .map(|s| rc.stat = Some(s))
            }
            TxnBody::SetAcl(t) => {
                rc.path = t.path.clone();
                self.set_acl(&t.path, &t.acl, t.version)
                    .map(|s| rc.stat = Some(s))
            }
            TxnBody::CheckVersion { path, .. } => {
                rc.path = path.clone();
                Ok(())
            }
            TxnBody::CreateSession { .. } => Ok(()),
            TxnBody::CloseSession { paths_to_delete } => {
                let mut paths: Vec<String> = paths_to_delete.clone();
                if let Some(own) = self.ephemerals.remove(&session_id) {
                    // Servers that write no list delete every ephemeral of the session.
                    if paths.is_empty() {
                        paths.extend(own);
                    }
                }
                for p in paths {
                    let _ = self.delete_node(&p, zxid, triggers);
                }
                Ok(())
            }
            TxnBody::Error { err } => {
                rc.err = *err;
                Ok(())
            }
            TxnBody::Multi(subs) => {
                let failed = subs.iter().any(|s| s.txn_type == op::ERROR);
                let mut post_failed = false;
                for s in subs {
                    let sub = if failed {
                        // A failed multi applies nothing: ops before the failing one
                        // report Ok, the failing one its error, the rest
                        // RuntimeInconsistency, exactly as ZooKeeper reports them.
                        let err = match &s.body {
                            TxnBody::Error { err } => {
                                post_failed = true;
                                *err
                            }
                            _ if post_failed => ErrorCode::RuntimeInconsistency.code(),
                            _ => 0,
                        };
                        TxnResult {
                            txn_type: op::ERROR,
                            err,
                            ..Default::default()
                        }
                    } else {
                        self.apply_body(s.txn_type, &s.body, zxid, time, session_id, triggers)
                    };
                    rc.multi.push(sub);
                }
                Ok(())
            }
        };
        if let Err(e) = res {
            rc.err = e.code();
        }
        rc
    }

    #[allow(clippy::too_many_arguments)]
    fn create_node(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        ephemeral_owner: i64,
        parent_cversion: i32,
        zxid: i64,
        time: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Result<Stat, ErrorCode> {
        if path == ROOT {
            return Err(ErrorCode::NodeExists);
        }
        let parent_path = parent_of(path);
        let name = name_of(path);
        let pid = self.lookup(parent_path).ok_or(ErrorCode::NoNode)?;
        let Place::New { h, .. } = self.place_under(pid, name) else {
            // Only possible when replaying the log over a fuzzy snapshot that
            // already holds this node: bring the parent's cversion and pzxid
            // up to what the create set, as ZooKeeper does on restore.
            if parent_cversion > self.nodes[pid as usize].cversion {
                self.update_stat(parent_path, pid, |p| {
                    p.cversion = parent_cversion;
                    p.pzxid = zxid;
                });
            }
            return Err(ErrorCode::NodeExists);
        };
        self.update_stat(parent_path, pid, |p| {
            let cversion = if parent_cversion == -1 {
                p.cversion + 1
            } else {
                parent_cversion
            };
            // A replayed create of a node that a fuzzy snapshot saw created and
            // deleted again must not move the parent's cversion backwards.
            if cversion > p.cversion {
                p.cversion = cversion;
                p.pzxid = zxid;
            }
        });
        let slot = self.acls.acquire(acl);
        let stat = new_stat(zxid, time, ephemeral_owner);
        let hash = TreeDigest::node_hash(path, data.unwrap_or_default(), &stat);
        let id = self.insert_node(path, pid, h, data, slot, &stat, hash);
        if let Some(target) = quota_target(parent_path) {
            if name == QUOTA_LIMITS {
                self.quotas.insert(target.to_owned());
            } else if name == QUOTA_STATS {
                self.update_quota_for_path(target);
            }
        }
        if let Some(q) = self.quota_of(path) {
            self.update_quota_stat(&q, data.map_or(0, <[u8]>::len) as i64, 1);
        }
        let parent_acl = self.acls.get(self.nodes[pid as usize].acl).clone();
        triggers.push(Trigger::Created {
            path: path.to_owned(),
            acl: self.acls.get(slot).clone(),
            parent: parent_path.to_owned(),
            parent_acl,
            data_len: data.map_or(0, <[u8]>::len),
        });
        Ok(NodeRef { tree: self, id }.stat())
    }

    fn delete_node(
        &mut self,
        path: &str,
        zxid: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Result<(), ErrorCode> {
        let parent_path = parent_of(path);
        let name = name_of(path);
        let pid = self.lookup(parent_path).ok_or(ErrorCode::NoNode)?;
        // As in ZooKeeper, the parent's pzxid moves even if the child is gone
        // already (a fuzzy snapshot may not hold it).
        if zxid > self.nodes[pid as usize].pzxid {
            self.update_stat(parent_path, pid, |p| p.pzxid = zxid);
        }
        let id = match self.child(pid, name.as_bytes()) {
            Some(id) if path != ROOT => id,
            _ => return Err(ErrorCode::NoNode),
        };
        if self.nodes[id as usize].child_count > 0 {
            // Never while serving (prep refuses NotEmpty). Replaying over a
            // fuzzy snapshot can meet a node that the snapshot caught with
            // children created after this delete; the log creates them again
            // later, so they go with it (ZooKeeper leaves them orphaned in its
            // path map until then).
            self.remove_descendants(path, id);
        }
        if name == QUOTA_LIMITS {
            if let Some(target) = quota_target(parent_path) {
                self.quotas.remove(target);
            }
        }
        let len = self.nodes[id as usize].data().len() as i64;
        let acl = self.acls.get(self.nodes[id as usize].acl).clone();
        self.remove_leaf(path, id);
        if let Some(q) = self.quota_of(path) {
            self.update_quota_stat(&q, -len, -1);
        }
        let parent_acl = self.acls.get(self.nodes[pid as usize].acl).clone();
        triggers.push(Trigger::Deleted {
            path: path.to_owned(),
            acl,
            parent: parent_path.to_owned(),
            parent_acl,
        });
        Ok(())
    }

    /// ZooKeeper's `ZKDatabase.initConfigInZKDatabase`: the membership text in
    /// `/zookeeper/config`, written by each server itself (not by a transaction) at
    /// start-up and after a SNAP, as `setData(config, data, -1, configVersion, now)`:
    /// the node's version is -1 and its mzxid the configuration's version.
    pub fn set_config(&mut self, data: &[u8], config_version: i64, time: i64) -> Vec<Trigger> {
        let mut triggers = Vec::new();
        self.set_data(
            super::CONFIG_ZOOKEEPER,
            Some(data),
            -1,
            config_version,
            time,
            &mut triggers,
        )
        .expect("/zookeeper/config is a system node");
        triggers
    }

    fn set_data(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        version: i32,
        zxid: i64,
        time: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Result<Stat, ErrorCode> {
        let id = self.lookup(path).ok_or(ErrorCode::NoNode)?;
        let before = self.persisted(id);
        let n = &mut self.nodes[id as usize];
        let len = data.map_or(0, <[u8]>::len);
        let growth = len as i64 - n.data().len() as i64;
        self.digest.remove(path, n.data(), &before);
        self.data_size = self.data_size - n.data().len() as u64 + len as u64;
        n.set_data(data, zxid, time, version);
        let after = self.persisted(id);
        self.digest
            .add(path, self.nodes[id as usize].data(), &after);
        if let Some(q) = self.quota_of(path) {
            self.update_quota_stat(&q, growth, 0);
        }
        triggers.push(Trigger::DataChanged {
            path: path.to_owned(),
            acl: self.acls.get(self.nodes[id as usize].acl).clone(),
            data_len: len,
        });
        Ok(NodeRef { tree: self, id }.stat())
    }

    fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, ErrorCode> {
        let id = self.lookup(path).ok_or(ErrorCode::NoNode)?;
        let new = self.acls.acquire(acl);
        let old = std::mem::replace(&mut self.nodes[id as usize].acl, new);
        self.acls.release(old);
        self.update_stat(path, id, |n| n.set_aversion(version));
        Ok(NodeRef { tree: self, id }.stat())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use zab_core::txn::{SetDataTxn, SubTxn};

    use super::*;
    use crate::tree::testutil::{create, txn};

    #[test]
    fn create_sets_stat_and_parent_cversion_and_pzxid() {
        let mut t = DataTree::new(false);
        let mut tr = Vec::new();
        let rc = t.apply(&txn(2, op::CREATE, create("/a", 1, false)), &mut tr);
        assert_eq!(rc.err, 0);
        let s = rc.stat.unwrap();
        assert_eq!(
            (s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime),
            (2, 2, 2, 1002, 1002)
        );
        assert_eq!((s.version, s.cversion, s.data_length), (0, 0, 1));
        let root = t.get("/").unwrap();
        assert_eq!(root.persisted().cversion, 1);
        let root = root.stat();
        assert_eq!((root.cversion, root.pzxid, root.num_children), (0, 2, 2));
        assert_eq!(tr.len(), 1);
        // Delete moves pzxid; the stored cversion counts creates only, the
        // client's goes up with the delete too.
        t.apply(
            &txn(3, op::DELETE, TxnBody::Delete { path: "/a".into() }),
            &mut tr,
        );
        let root = t.get("/").unwrap();
        assert_eq!(root.persisted().cversion, 1);
        let root = root.stat();
        assert_eq!((root.cversion, root.pzxid, root.num_children), (1, 3, 1));
    }

    #[test]
    fn replaying_a_create_is_harmless() {
        let mut t = DataTree::new(false);
        let mut tr = Vec::new();
        let c = txn(2, op::CREATE, create("/a", 1, false));
        t.apply(&c, &mut tr);
        let rc = t.apply(&c, &mut tr);
        assert_eq!(rc.err, ErrorCode::NodeExists.code());
        assert_eq!(t.get("/").unwrap().persisted().cversion, 1);
    }

    #[test]
    fn failed_multi_applies_nothing_and_reports_like_zookeeper() {
        let mut t = DataTree::new(false);
        let mut tr = Vec::new();
        let m = TxnBody::Multi(vec![
            SubTxn {
                txn_type: op::ERROR,
                body: TxnBody::Error { err: 0 },
            },
            SubTxn {
                txn_type: op::ERROR,
                body: TxnBody::Error { err: -101 },
            },
            SubTxn {
                txn_type: op::ERROR,
                body: TxnBody::Error { err: -2 },
            },
        ]);
        let rc = t.apply(&txn(2, op::MULTI, m), &mut tr);
        let errs: Vec<i32> = rc.multi.iter().map(|r| r.err).collect();
        assert_eq!(errs, vec![0, -101, -2]);
        assert!(tr.is_empty());
    }

    #[test]
    fn close_session_deletes_its_ephemerals() {
        let mut t = DataTree::new(false);
        let mut tr = Vec::new();
        t.apply(&txn(2, op::CREATE, create("/e", 1, true)), &mut tr);
        assert_eq!(t.ephemerals(5).count(), 1);
        t.apply(
            &txn(
                3,
                op::CLOSE_SESSION,
                TxnBody::CloseSession {
                    paths_to_delete: vec!["/e".into()],
                },
            ),
            &mut tr,
        );
        assert!(t.get("/e").is_none());
        assert_eq!(t.ephemerals(5).count(), 0);
    }

    #[test]
    fn set_data_bumps_version_and_mzxid() {
        let mut t = DataTree::new(false);
        let mut tr = Vec::new();
        t.apply(&txn(2, op::CREATE, create("/a", 1, false)), &mut tr);
        let rc = t.apply(
            &txn(
                3,
                op::SET_DATA,
                TxnBody::SetData(SetDataTxn {
                    path: "/a".into(),
                    data: Some(Bytes::from_static(b"xyz")),
                    version: 1,
                }),
            ),
            &mut tr,
        );
        let s = rc.stat.unwrap();
        assert_eq!(
            (s.version, s.mzxid, s.czxid, s.data_length, s.mtime),
            (1, 3, 2, 3, 1003)
        );
    }
}
