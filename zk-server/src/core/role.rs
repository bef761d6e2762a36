//! What exists only in one role: the state the core keeps while leading
//! (session owners) or while following / observing (requests forwarded to the
//! leader and waiting for its answer), held as one enum the way zab-core holds
//! `Role::Leading(Box<LeaderState>)`. Leaving a role drops its state.
//!
//! [`Core::become_role`] is the one place the role changes.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use zab_core::Zxid;

use super::{Core, EnsembleStats, Role};
use crate::prep::Prep;
use crate::replicate::DriverLink;
use crate::request::Request;

/// The role and the state that only it has.
pub(super) enum RoleState {
    Standalone,
    /// No quorum. `since`: when it was lost (read-only mode starts a grace period
    /// later). The driver is kept for the next role.
    Looking {
        since: Instant,
        driver: DriverLink,
    },
    Leading(Box<LeaderState>),
    Following(Box<LearnerState>),
    Observing(Box<LearnerState>),
}

/// Leader only.
pub(super) struct LeaderState {
    pub driver: DriverLink,
    /// The server each session's client is connected to (ZooKeeper's session
    /// owner); a request for the session from any other server is SessionMoved.
    pub owners: super::IdMap<i64, u64>,
    /// The followers synced with us (`ReplicationMsg::SyncedFollowers`), for a
    /// reconfig's quorum check.
    pub synced: Vec<u64>,
}

/// Follower and observer.
pub(super) struct LearnerState {
    pub driver: DriverLink,
    /// Writes forwarded to the leader, by (session, cxid).
    pub forwarded: super::IdMap<(i64, i32), (Request, Instant)>,
    /// Sessions being created through the leader: session -> (connection, legacy handshake).
    pub connecting: super::IdMap<i64, (u64, bool)>,
    /// Syncs forwarded to the leader, oldest first.
    pub pending_syncs: VecDeque<(Request, Instant)>,
    /// Reconnects waiting for the leader's REVALIDATE answer:
    /// session -> (connection, timeout, legacy handshake).
    pub revalidating: super::IdMap<i64, (u64, i32, bool)>,
    /// Sessions active since the last report to the leader.
    pub touched: super::IdMap<i64, i32>,
}

impl LearnerState {
    fn new(driver: DriverLink) -> Box<LearnerState> {
        Box::new(LearnerState {
            driver,
            forwarded: Default::default(),
            connecting: Default::default(),
            pending_syncs: VecDeque::new(),
            revalidating: Default::default(),
            touched: Default::default(),
        })
    }
}

impl RoleState {
    /// An ensemble member starts looking; without a driver the server is standalone.
    pub fn initial(driver: Option<DriverLink>, now: Instant) -> RoleState {
        match driver {
            Some(driver) => RoleState::Looking { since: now, driver },
            None => RoleState::Standalone,
        }
    }

    pub fn role(&self) -> Role {
        match self {
            RoleState::Standalone => Role::Standalone,
            RoleState::Looking { .. } => Role::Looking,
            RoleState::Leading(_) => Role::Leading,
            RoleState::Following(_) => Role::Following,
            RoleState::Observing(_) => Role::Observing,
        }
    }

    pub fn leader(&mut self) -> Option<&mut LeaderState> {
        match self {
            RoleState::Leading(l) => Some(l),
            _ => None,
        }
    }

    pub fn learner(&mut self) -> Option<&mut LearnerState> {
        match self {
            RoleState::Following(l) | RoleState::Observing(l) => Some(l),
            _ => None,
        }
    }

    /// The way to the peer driver (none standalone).
    pub fn driver(&self) -> Option<&DriverLink> {
        match self {
            RoleState::Standalone => None,
            RoleState::Looking { driver, .. } => Some(driver),
            RoleState::Leading(l) => Some(&l.driver),
            RoleState::Following(l) | RoleState::Observing(l) => Some(&l.driver),
        }
    }
}

impl Core {
    /// Replication decided a new role (or a new epoch in the same one).
    pub(super) fn become_role(&mut self, role: Role, epoch: u64) {
        tracing::info!("role: {} (epoch {epoch})", role.name());
        let was = self.role.role();
        let Some(driver) = self.role.driver().cloned() else {
            tracing::error!("a standalone server was told it is {}", role.name());
            return;
        };
        if role != Role::Leading {
            // What the driver reports of the peer on its own (ReplicationMsg::Status,
            // ::Observers) stays: it may come before the role it belongs to.
            self.ensemble = EnsembleStats {
                leader_id: self.ensemble.leader_id,
                zab_phase: self.ensemble.zab_phase,
                observers: std::mem::take(&mut self.ensemble.observers),
                ..EnsembleStats::default()
            };
        } else if was != Role::Leading {
            self.ensemble.leading_since = Some(self.now);
        }
        if let RoleState::Looking { since, .. } = &self.role {
            if matches!(role, Role::Leading | Role::Following | Role::Observing) {
                let ms = self.now.saturating_duration_since(*since).as_millis() as u64;
                self.metrics.election_time.add(ms);
            }
        }
        if role == Role::Looking && was != Role::Looking {
            self.metrics.looking += 1;
        }
        let fresh = was != role || role == Role::Leading;
        if fresh {
            // Sessions known only here do not outlive the role: read-only mode's, and
            // local sessions (Apache starts a new server, and a new session tracker, on
            // every change of role).
            self.sessions.retain(|_, s| !s.local);
            // A reconfig proposed under the old role is decided by the protocol now.
            self.reconfig_pending = None;
            self.role = match role {
                Role::Looking => RoleState::Looking {
                    since: self.now,
                    driver,
                },
                Role::Leading => RoleState::Leading(Box::new(LeaderState {
                    driver,
                    owners: Default::default(),
                    synced: Vec::new(),
                })),
                Role::Following => RoleState::Following(LearnerState::new(driver)),
                Role::Observing => RoleState::Observing(LearnerState::new(driver)),
                Role::Standalone => RoleState::Standalone,
            };
            // Clients reconnect (to us or to another server) and re-send
            // what was not answered; nothing half-done survives a change.
            let conns: Vec<u64> = self.conns.keys().copied().collect();
            for c in conns {
                self.close_conn(c);
            }
            self.in_flight.clear();
            self.prep = Prep::new(self.cfg.digest_enabled());
            self.held_reads = 0;
            self.pending_sessions.clear();
            let now = self.now;
            for s in self.sessions.values_mut() {
                s.queue.clear();
                s.writes_done = s.writes_started;
                s.closing = false;
                s.conn = None;
                s.expires_at = now + Duration::from_millis(s.timeout_ms as u64);
            }
        }
        self.last_zxid = if role == Role::Leading {
            Zxid::new(zab_core::Epoch(epoch), 0)
        } else {
            self.tree.last_processed_zxid()
        };
    }
}
