//! What replication tells the core ([`ReplicationMsg`]): commits (the one
//! commit path, [`Core::on_committed`]), role changes ([`Core::become_role`]),
//! and the ensemble's traffic: a leader's view of its learners' requests,
//! session activity and reconnects (REQUEST, PING, REVALIDATE), a learner's
//! answers from the leader, and the tree going out by SNAP or coming in.

use std::time::Duration;

use bytes::{BufMut, Bytes};
use zab_core::proto::*;
use zab_core::records::Id;
use zab_core::txn::{Txn, TxnHeader};

use super::pipeline::{body, Origin};
use super::role::RoleState;
use super::session::Session;
use super::{now_ms, Core};
use crate::prep::{Prep, PrepCtx};
use crate::replicate::{DriverMsg, ReplicationMsg};

impl Core {
    pub(super) fn on_replication(&mut self, m: ReplicationMsg) {
        match m {
            ReplicationMsg::Role { role, epoch } => self.become_role(role, epoch),
            ReplicationMsg::Learners(l) => self.ensemble.learners = l,
            ReplicationMsg::SyncedFollowers(s) => {
                if let Some(l) = self.role.leader() {
                    l.synced = s;
                }
            }
            ReplicationMsg::ConfigActivated { text, version } => {
                tracing::info!("configuration {version:x} active");
                self.membership = Some((text, version));
                // Apache's processReconfig rewrites the node too (initConfigInZKDatabase):
                // a learner synced by SNAP before the view changed shows it only so.
                self.init_config();
            }
            ReplicationMsg::Observers(o) => self.ensemble.observers = o,
            ReplicationMsg::Status { leader, zab_phase } => {
                self.ensemble.leader_id = leader;
                self.ensemble.zab_phase = zab_phase;
            }
            ReplicationMsg::Revalidate { from, data } => self.on_revalidate(from, &data),
            ReplicationMsg::Revalidated(data) => self.on_revalidated(&data),
            ReplicationMsg::Committed(entries) => self.on_committed(entries),
            ReplicationMsg::Remote { from, data, auth } => self.on_remote(from, data, auth),
            ReplicationMsg::Touch(data) => {
                let now = self.now;
                let mut r = zab_core::jute::JuteReader::new(&data);
                while let (Ok(id), Ok(_to)) = (r.read_i64(), r.read_i32()) {
                    if let Some(s) = self.sessions.get_mut(&id) {
                        s.expires_at = now + Duration::from_millis(s.timeout_ms as u64);
                    }
                }
            }
            ReplicationMsg::SyncDone => {
                let done = self
                    .role
                    .learner()
                    .and_then(|l| l.pending_syncs.pop_front());
                if let Some((req, received)) = done {
                    let Op::Sync(r) = &req.op else { return };
                    let reply = body(&PathResponse {
                        path: r.path.clone(),
                    });
                    let zxid = self.tree.last_processed_zxid().0;
                    self.finish(&req, received, req.xid, zxid, reply);
                    if let Some(s) = self.sessions.get_mut(&req.session_id) {
                        s.finish_write();
                    }
                    self.drain_session(req.session_id);
                }
            }
            ReplicationMsg::Snapshot { reply } => {
                let _ = reply.send(self.serialize_tree());
            }
            ReplicationMsg::ReplaceTree { tree, sessions } => {
                self.tree = *tree;
                // The leader's tree carries the leader's copy; each server keeps its own.
                self.init_config();
                self.prep = Prep::new(self.cfg.digest_enabled());
                // A leader's SNAP is the state its zxid names.
                self.digest_check.close_window();
                self.last_zxid = self.tree.last_processed_zxid();
                let now = self.now;
                self.sessions
                    .retain(|id, s| s.local || sessions.contains_key(id));
                for (id, timeout_ms) in sessions {
                    self.sessions
                        .entry(id)
                        .or_insert_with(|| Session::restored(id, timeout_ms, now));
                }
            }
        }
    }

    /// Leader: a learner's client reconnected with a session (`LearnerHandler`'s
    /// REVALIDATE): valid if it lives; the learner owns it from now on.
    pub(super) fn on_revalidate(&mut self, from: u64, data: &[u8]) {
        let mut r = zab_core::jute::JuteReader::new(data);
        let (Ok(id), Ok(timeout)) = (r.read_i64(), r.read_i32()) else {
            tracing::warn!("learner {from} sent a malformed REVALIDATE");
            return;
        };
        let valid = match self.sessions.get_mut(&id) {
            // A local session is valid on its own server only.
            Some(s) if !s.closing && !s.local => {
                s.expires_at = self.now + Duration::from_millis(timeout.max(0) as u64);
                true
            }
            _ => false,
        };
        if let (true, Some(l)) = (valid, self.role.leader()) {
            l.owners.insert(id, from);
        }
        let mut out = Vec::with_capacity(9);
        out.put_i64(id);
        out.put_u8(valid as u8);
        let Some(driver) = self.role.driver() else {
            return;
        };
        driver.send(DriverMsg::Reply {
            to: from,
            msg: zab_core::wire::QuorumPacket::Revalidate {
                data: Bytes::from(out),
            },
        });
    }

    /// Learner: the leader answered a REVALIDATE; finish the reconnect it held.
    fn on_revalidated(&mut self, data: &[u8]) {
        if data.len() < 9 {
            return;
        }
        let id = i64::from_be_bytes(data[0..8].try_into().unwrap());
        let valid = data[8] != 0;
        let held = self.role.learner().and_then(|l| l.revalidating.remove(&id));
        let Some((conn_id, timeout, legacy)) = held else {
            return;
        };
        if !self.conns.contains_key(&conn_id) {
            return;
        }
        let known = self.sessions.get(&id).is_some_and(|s| !s.closing);
        if valid && known {
            self.finish_reconnect(conn_id, id, timeout, legacy);
        } else {
            tracing::info!("session 0x{id:x} is not valid at the leader, probably expired");
            self.refuse_session(conn_id, legacy);
        }
    }

    /// Leader: a learner's REQUEST (`sessionId cxid type request-bytes`).
    fn on_remote(&mut self, from: u64, data: Bytes, auth: Vec<Id>) {
        if !matches!(self.role, RoleState::Leading(_)) || data.len() < 16 {
            return;
        }
        let session_id = i64::from_be_bytes(data[0..8].try_into().unwrap());
        let cxid = i32::from_be_bytes(data[8..12].try_into().unwrap());
        let op_type = i32::from_be_bytes(data[12..16].try_into().unwrap());
        let body = data.slice(16..);
        if let Some(s) = self.sessions.get_mut(&session_id) {
            s.expires_at = self.now + Duration::from_millis(s.timeout_ms as u64);
        }
        match op_type {
            op::CREATE_SESSION => {
                let timeout = if body.len() >= 4 {
                    i32::from_be_bytes(body[0..4].try_into().unwrap())
                } else {
                    self.cfg.min_session_timeout_ms
                };
                // Known from now on, as Apache's prep tracks it (trackSession): a
                // learner's upgraded local session sends its ephemeral right behind.
                let now = self.now;
                self.sessions
                    .entry(session_id)
                    .or_insert_with(|| Session::restored(session_id, timeout, now));
                self.propose_create_session(session_id, timeout, from, Origin::Remote);
            }
            op::SYNC => {
                if let Some(l) = self.role.leader() {
                    l.driver.send(DriverMsg::Sync { learner: from });
                }
            }
            _ => {
                let op_ = match Op::parse(op_type, &body) {
                    Ok(o) if o.is_write() => o,
                    Ok(_) => return,
                    Err(e) => {
                        tracing::warn!("learner {from} forwarded a malformed request: {e}");
                        return;
                    }
                };
                let owner_ok = self.owner_ok(session_id, from);
                let zxid = self.next_zxid();
                let txn = if op_ == Op::CloseSession {
                    if let Some(s) = self.sessions.get_mut(&session_id) {
                        s.closing = true;
                    }
                    let b = self.prep.prep_close_session(&self.tree, session_id, zxid);
                    Txn {
                        header: TxnHeader {
                            client_id: session_id,
                            cxid,
                            zxid,
                            time: now_ms(),
                            txn_type: op::CLOSE_SESSION,
                        },
                        body: b,
                        digest: None,
                    }
                } else {
                    let session_ok = self.remote_session_ok(session_id).and(owner_ok);
                    let ephemeral_ok = self.remote_ephemeral_ok(session_id).and(owner_ok);
                    let ctx = PrepCtx {
                        tree: &self.tree,
                        session_id,
                        cxid,
                        zxid,
                        time_ms: now_ms(),
                        auth: &auth,
                        session_ok,
                        ephemeral_ok,
                        extended_types: self.extended_types,
                        max_txn_bytes: self.cfg.jute_max_buffer,
                        reconfig: super::reconfig_ctx(
                            &self.cfg,
                            &self.role,
                            self.my_id,
                            self.reconfig_pending.is_some(),
                        ),
                    };
                    self.prep.prep(&ctx, op_type, &op_)
                };
                self.propose(txn, Origin::Remote);
            }
        }
    }
}
