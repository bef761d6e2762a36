//! Local sessions (`localSessionsEnabled`), as Apache ZooKeeper 3.5+ keeps them
//! (`LocalSessionTracker`, `LearnerSessionTracker`, `LeaderSessionTracker`,
//! `UpgradeableSessionTracker`).
//!
//! With local sessions on, every session a client opens on an ensemble member is
//! local: the server that took the connection answers the handshake at once, with no
//! createSession transaction; no other server knows the session (a reconnect through
//! another server gets SessionExpired), its expiry and its close are decided here
//! without a transaction, and a change of role ends it. Its reads and writes go the
//! usual way (a learner forwards writes; the leader lets a write through for an
//! unknown session another server made, as `LeaderSessionTracker.checkSession` does).
//!
//! A local session that creates an ephemeral (create, create2, or a multi with such a
//! create) on a leader or a follower is upgraded first (`ZooKeeperServer.checkUpgradeSession`): a createSession
//! transaction for the same id and timeout goes to the quorum ahead of the create, and
//! from then on the session is global. With `localSessionsUpgradingEnabled=false`, and
//! always on an observer (as Apache 3.8 answers there), that create is answered
//! EphemeralOnLocalSession instead.
//!
//! Read-only mode's sessions are local in the same sense ([`super::session`]).

use zab_core::proto::{create_mode, op, MultiOp, Op};
use zab_core::records::ErrorCode;

use super::pipeline::{request_packet, Origin};
use super::role::RoleState;
use super::Core;
use crate::replicate::DriverMsg;
use crate::request::Request;

/// What the local-session rules make of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LocalAction {
    /// Nothing special: the usual pipeline.
    None,
    /// An ephemeral on a local session with upgrading disabled: EphemeralOnLocalSession.
    Refuse,
    /// closeSession of a local session: answered and ended here.
    Close,
    /// An ephemeral on a local session: make it global first, then go on.
    Upgrade,
}

impl LocalAction {
    /// Answered here without going in flight: ordered like a read (held behind the
    /// session's earlier writes).
    pub(super) fn answered_here(self) -> bool {
        matches!(self, LocalAction::Refuse | LocalAction::Close)
    }
}

/// Whether `op` creates an ephemeral the way Apache's upgrade check looks for one:
/// create or create2 (not createContainer, not createTTL) with an ephemeral mode, alone
/// or inside a multi.
pub(super) fn creates_ephemeral(o: &Op) -> bool {
    let ephemeral =
        |flags: i32| flags == create_mode::EPHEMERAL || flags == create_mode::EPHEMERAL_SEQUENTIAL;
    let create = |op_type: i32| op_type == op::CREATE || op_type == op::CREATE2;
    match o {
        Op::Create { op_type, req } => create(*op_type) && ephemeral(req.flags),
        Op::Multi(m) => m.ops.iter().any(|sub| match sub {
            MultiOp::Create { op_type, req } => create(*op_type) && ephemeral(req.flags),
            _ => false,
        }),
        _ => false,
    }
}

/// The server that made a session: the top byte of its id, as Apache lays ids out.
pub(super) fn creator(session_id: i64) -> u64 {
    (session_id as u64) >> 56
}

impl Core {
    /// Local sessions are in force: configured, and this server is an ensemble member
    /// with a quorum (standalone, Apache ignores the setting).
    pub(super) fn local_sessions_on(&self) -> bool {
        self.cfg.local_sessions_enabled
            && matches!(
                self.role,
                RoleState::Leading(_) | RoleState::Following(_) | RoleState::Observing(_)
            )
    }

    pub(super) fn local_action(&self, req: &Request) -> LocalAction {
        if !self.local_sessions_on() {
            return LocalAction::None;
        }
        if !self.sessions.get(&req.session_id).is_some_and(|s| s.local) {
            return LocalAction::None;
        }
        if req.op == Op::CloseSession {
            LocalAction::Close
        } else if creates_ephemeral(&req.op) {
            // An observer never upgrades (measured on Apache 3.8: its local sessions get
            // EphemeralOnLocalSession whatever localSessionsUpgradingEnabled says).
            let observer = matches!(self.role, RoleState::Observing(_));
            if self.cfg.local_sessions_upgrading_enabled && !observer {
                LocalAction::Upgrade
            } else if matches!(req.op, Op::Multi(_)) {
                // Apache answers a multi with its results: it goes its way, and its
                // ephemeral fails in prep ([`Core::ephemeral_ok`] on the leader,
                // [`Core::remote_ephemeral_ok`] for a learner's).
                LocalAction::None
            } else {
                LocalAction::Refuse
            }
        } else {
            LocalAction::None
        }
    }

    /// Apply [`LocalAction`] before the pipeline; `true` when the request is answered.
    pub(super) fn handle_local(&mut self, req: &Request, received: std::time::Instant) -> bool {
        let zxid = self.tree.last_processed_zxid().0;
        match self.local_action(req) {
            LocalAction::None => false,
            LocalAction::Refuse => {
                tracing::info!(
                    "session 0x{:x} is local and localSessionsUpgradingEnabled is false: \
                     refusing its ephemeral",
                    req.session_id
                );
                let err = Err(ErrorCode::EphemeralOnLocalSession);
                self.finish(req, received, req.xid, zxid, err);
                true
            }
            LocalAction::Close => {
                tracing::info!("closing local session 0x{:x}", req.session_id);
                self.finish(req, received, req.xid, zxid, Ok(None));
                self.end_session(req.session_id);
                self.close_conn(req.conn_id);
                true
            }
            LocalAction::Upgrade => {
                self.upgrade_session(req.session_id);
                false
            }
        }
    }

    /// A local session becomes global: its createSession transaction goes to the quorum
    /// (through the leader on a learner) ahead of the request that needed it.
    fn upgrade_session(&mut self, id: i64) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        s.local = false;
        let timeout = s.timeout_ms;
        tracing::info!("upgrading local session 0x{id:x} to a global session");
        if let Some(l) = self.role.learner() {
            let pkt = request_packet(id, 0, op::CREATE_SESSION, &timeout.to_be_bytes(), &[]);
            l.driver.send(DriverMsg::Forward(pkt));
        } else {
            let me = self.my_id;
            self.propose_create_session(id, timeout, me, Origin::Internal);
        }
    }

    /// Leader: the session check for a learner's request. A session unknown here may be
    /// a local session of the server that made it, so with local sessions on it passes
    /// unless this server made it (`LeaderSessionTracker.checkSession`).
    pub(super) fn remote_session_ok(&self, session_id: i64) -> Result<(), ErrorCode> {
        match self.sessions.get(&session_id) {
            None if self.cfg.local_sessions_enabled && creator(session_id) != self.my_id => Ok(()),
            _ => self.session_ok(session_id),
        }
    }

    /// What creating an ephemeral checks for this server's own request: a local session
    /// (upgrading disabled, or it would be global by now) gets EphemeralOnLocalSession,
    /// the exception Apache's LeaderRequestProcessor sets and validateCreateRequest throws.
    pub(super) fn ephemeral_ok(&self, session_id: i64) -> Result<(), ErrorCode> {
        match self.sessions.get(&session_id) {
            Some(s) if s.local && self.local_sessions_on() => {
                Err(ErrorCode::EphemeralOnLocalSession)
            }
            _ => Ok(()),
        }
    }

    /// Leader: what creating an ephemeral checks for a learner's request: with local
    /// sessions on, the session must be a global one known here
    /// (`LeaderSessionTracker.checkGlobalSession`), else SessionExpired.
    pub(super) fn remote_ephemeral_ok(&self, session_id: i64) -> Result<(), ErrorCode> {
        if !self.cfg.local_sessions_enabled {
            return self.session_ok(session_id);
        }
        match self.sessions.get(&session_id) {
            Some(s) if !s.closing && !s.local => Ok(()),
            _ => Err(ErrorCode::SessionExpired),
        }
    }

    /// Sessions known only here (local sessions, read-only mode's) whose timeout passed:
    /// ended here, without a transaction.
    pub(super) fn expire_local_sessions(&mut self) {
        let now = self.now;
        let expired: Vec<(i64, Option<u64>)> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.local && s.expires_at <= now)
            .map(|(id, s)| (*id, s.conn))
            .collect();
        for (id, conn) in expired {
            tracing::info!("expiring local session 0x{id:x}");
            self.end_session(id);
            if let Some(c) = conn {
                self.close_conn(c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zab_core::proto::{CreateRequest, MultiRequest};

    fn create(flags: i32) -> CreateRequest {
        CreateRequest {
            path: "/a".into(),
            data: None,
            acl: Vec::new(),
            flags,
        }
    }

    #[test]
    fn only_ephemeral_creates_need_a_global_session() {
        let c = |op_type, flags| Op::Create {
            op_type,
            req: create(flags),
        };
        assert!(creates_ephemeral(&c(op::CREATE, create_mode::EPHEMERAL)));
        assert!(creates_ephemeral(&c(
            op::CREATE2,
            create_mode::EPHEMERAL_SEQUENTIAL
        )));
        assert!(!creates_ephemeral(&c(op::CREATE, create_mode::PERSISTENT)));
        assert!(!creates_ephemeral(&c(
            op::CREATE_CONTAINER,
            create_mode::EPHEMERAL
        )));
        let multi = |ops| Op::Multi(MultiRequest { ops });
        assert!(creates_ephemeral(&multi(vec![
            MultiOp::Create {
                op_type: op::CREATE,
                req: create(create_mode::PERSISTENT)
            },
            MultiOp::Create {
                op_type: op::CREATE2,
                req: create(create_mode::EPHEMERAL)
            },
        ])));
        assert!(!creates_ephemeral(&multi(vec![MultiOp::Create {
            op_type: op::CREATE,
            req: create(create_mode::PERSISTENT_SEQUENTIAL)
        }])));
    }

    #[test]
    fn a_session_id_names_its_server() {
        assert_eq!(creator(0x0300_0000_1234_5678), 3);
        assert_eq!(creator(-0x0100_0000_0000_0000), 255);
    }
}
