//! Discovery: FOLLOWERINFO -> LEADERINFO -> ACKEPOCH.
//!
//! Owns the leader's bookkeeping of connecting learners (`LeaderState`, `Handler`) and
//! both sides of the epoch handshake. A prospective leader collects FOLLOWERINFO (each
//! learner's accepted epoch) until a quorum including itself is connected, proposes
//! `max + 1`, persists it as its own accepted epoch and sends LEADERINFO. A learner
//! persists the new accepted epoch before its ACKEPOCH, which reports its current epoch
//! and last zxid. A leader that finds a learner ahead of itself goes back to election.
//! Synchronisation is [`crate::sync`]'s.
//!
//! Deviation from ZooKeeper: a learner that had already accepted the proposed epoch
//! answers with its real current epoch instead of -1, and a leader past discovery still
//! checks late ACKEPOCHs: a learner that acknowledged another NEWLEADER of the same
//! epoch proves a rival leader, and this leader steps down
//! (docs/decisions/0002-zab-deviations.md).

use std::collections::BTreeMap;

use crate::peer::{Handlers, Peer, Role, ZabPhase};
use crate::sync::{LearnerPhase, LearnerState};
use crate::wire::{LearnerInfo, QuorumPacket, ServerState, PROTOCOL_VERSION};
use crate::{Epoch, ServerId, Zxid};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum LeaderPhase {
    Discovery,
    Synchronization,
    Broadcast,
}

/// Where one learner's connection stands (a `LearnerHandler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum HandlerPhase {
    /// FOLLOWERINFO received.
    Connected,
    LeaderInfoSent,
    EpochAcked,
    /// DIFF/TRUNC/SNAP, proposals and NEWLEADER sent; proposals and commits are forwarded.
    Syncing,
    /// NEWLEADER acknowledged; its ACKs count.
    Synced,
    UpToDate,
}

#[derive(Debug, Clone)]
pub(crate) struct Handler {
    pub observer: bool,
    pub phase: HandlerPhase,
    /// The learner's last zxid, from ACKEPOCH.
    pub peer_last: Zxid,
    /// The leader's last zxid when this learner was synced.
    pub sync_upto: Zxid,
    /// Highest zxid durably acknowledged.
    pub acked: Zxid,
    /// Highest zxid a COMMIT (participant) or INFORM/synced proposal (observer) went out for.
    pub commit_sent: Zxid,
    pub last_heard: u64,
}

#[derive(Debug)]
pub(crate) struct LeaderState {
    pub phase: LeaderPhase,
    pub epoch: Option<Epoch>,
    pub accepted_saved: bool,
    pub current_saved: bool,
    /// Accepted epochs of connected participants (including ourselves).
    pub connecting: BTreeMap<ServerId, Epoch>,
    pub max_seen_epoch: Epoch,
    pub epoch_acked: Vec<ServerId>,
    /// Every learner that acknowledged our NEWLEADER during this leadership.
    pub newleader_acked: Vec<ServerId>,
    /// `(current_epoch, last_zxid)` when leadership began (`leaderStateSummary`).
    pub summary: (Epoch, Zxid),
    pub handlers: Handlers,
    pub phase_deadline: u64,
    pub last_proposed: Zxid,
    pub pending_syncs: Vec<(Zxid, ServerId)>,
    pub next_ping: u64,
    /// Reused by `try_commit` (it runs on every ACK): acknowledged zxids, and the servers
    /// counted so far.
    pub scratch_acks: Vec<(Zxid, ServerId)>,
    pub scratch_set: Vec<ServerId>,
}

impl LeaderState {
    pub fn is_broadcasting(&self) -> bool {
        self.phase == LeaderPhase::Broadcast
    }
}

impl Peer {
    pub(crate) fn leader_mut(&mut self) -> &mut LeaderState {
        match &mut self.role {
            Role::Leading(l) => l,
            _ => unreachable!("not leading"),
        }
    }

    pub(crate) fn learner_mut(&mut self) -> &mut LearnerState {
        match &mut self.role {
            Role::Learning(l) => l,
            _ => unreachable!("not learning"),
        }
    }

    /// LEADING: wait for a quorum of FOLLOWERINFO (`Leader.lead`, `getEpochToPropose`).
    pub(crate) fn become_leading(&mut self) {
        let mut connecting = BTreeMap::new();
        connecting.insert(self.cfg.my_id, self.accepted_epoch);
        self.role = Role::Leading(Box::new(LeaderState {
            phase: LeaderPhase::Discovery,
            epoch: None,
            accepted_saved: false,
            current_saved: false,
            connecting,
            max_seen_epoch: self.accepted_epoch,
            epoch_acked: Vec::new(),
            newleader_acked: Vec::new(),
            summary: (self.current_epoch, self.log.last()),
            handlers: BTreeMap::new(),
            phase_deadline: self.tick + self.cfg.init_limit_ticks,
            last_proposed: self.log.last(),
            pending_syncs: Vec::new(),
            next_ping: 0,
            scratch_acks: Vec::new(),
            scratch_set: Vec::new(),
        }));
        self.status(
            ServerState::Leading,
            ZabPhase::Discovery,
            Some(self.cfg.my_id),
            self.current_epoch,
        );
        self.maybe_propose_epoch();
    }

    /// FOLLOWING or OBSERVING `leader`: open the connection with FOLLOWERINFO / OBSERVERINFO.
    pub(crate) fn become_learner(&mut self, leader: ServerId) {
        let observer = !self.participant;
        self.role = Role::Learning(Box::new(LearnerState::new(leader, observer, self.tick)));
        let state = if observer {
            ServerState::Observing
        } else {
            ServerState::Following
        };
        self.status(state, ZabPhase::Discovery, Some(leader), self.current_epoch);
        let info = LearnerInfo {
            sid: self.cfg.my_id,
            protocol_version: PROTOCOL_VERSION,
            config_version: self.cfg.config_version,
        };
        let accepted_epoch = self.accepted_epoch;
        let msg = if observer {
            QuorumPacket::ObserverInfo {
                accepted_epoch,
                info,
            }
        } else {
            QuorumPacket::FollowerInfo {
                accepted_epoch,
                info,
            }
        };
        self.out.push(crate::peer::Action::Send { to: leader, msg });
    }

    pub(crate) fn on_leader_received(&mut self, from: ServerId, msg: QuorumPacket) {
        let tick = self.tick;
        let known = match self.leader_mut().handlers.get_mut(&from) {
            Some(h) => {
                h.last_heard = tick;
                true
            }
            None => false,
        };
        match msg {
            QuorumPacket::FollowerInfo { accepted_epoch, .. } => {
                self.on_follower_info(from, accepted_epoch, false)
            }
            QuorumPacket::ObserverInfo { accepted_epoch, .. } => {
                self.on_follower_info(from, accepted_epoch, true)
            }
            QuorumPacket::AckEpoch {
                last_zxid,
                current_epoch,
            } => self.on_ack_epoch(from, last_zxid, current_epoch),
            QuorumPacket::Ack { zxid } => self.on_ack(from, zxid),
            // For the request pipeline, from connected learners only; a PING matters to
            // it only when it carries session touches.
            QuorumPacket::Request { .. } | QuorumPacket::Revalidate { .. } if known => {
                self.out.push(crate::peer::Action::Deliver { from, msg });
            }
            QuorumPacket::Ping { ref data, .. } if known && !data.is_empty() => {
                self.out.push(crate::peer::Action::Deliver { from, msg });
            }
            _ => {}
        }
    }

    pub(crate) fn on_learner_received(&mut self, msg: QuorumPacket) {
        let tick = self.tick;
        self.learner_mut().last_heard = tick;
        match msg {
            QuorumPacket::LeaderInfo { epoch, .. } => self.on_leader_info(epoch),
            QuorumPacket::Diff { zxid } => self.on_diff(zxid),
            QuorumPacket::Trunc { zxid } => self.on_trunc(zxid),
            QuorumPacket::Snap { zxid } => self.on_snap(zxid),
            QuorumPacket::Proposal { zxid, data } => self.on_proposal(zxid, data),
            QuorumPacket::Commit { zxid } => self.on_commit(zxid),
            QuorumPacket::Inform { zxid, data } => self.on_inform(zxid, data),
            QuorumPacket::NewLeader { zxid, .. } => self.on_new_leader(zxid),
            QuorumPacket::UpToDate { zxid } => self.on_up_to_date(zxid),
            QuorumPacket::Ping { zxid, .. } => self.on_ping(zxid),
            QuorumPacket::Sync { .. } | QuorumPacket::Revalidate { .. } => {
                let from = self.learner_mut().leader;
                self.out.push(crate::peer::Action::Deliver { from, msg });
            }
            _ => {}
        }
    }

    /// FOLLOWERINFO / OBSERVERINFO: a learner connects (a new connection replaces an old one).
    fn on_follower_info(&mut self, from: ServerId, accepted_epoch: Epoch, observer: bool) {
        let tick = self.tick;
        let participant = !observer && self.cfg.quorum.is_voter(from);
        let l = self.leader_mut();
        l.handlers.insert(
            from,
            Handler {
                observer: !participant,
                phase: HandlerPhase::Connected,
                peer_last: Zxid::ZERO,
                sync_upto: Zxid::ZERO,
                acked: Zxid::ZERO,
                commit_sent: Zxid::ZERO,
                last_heard: tick,
            },
        );
        l.max_seen_epoch = l.max_seen_epoch.max(accepted_epoch);
        if participant && l.epoch.is_none() {
            l.connecting.insert(from, accepted_epoch);
        }
        match (l.epoch, l.accepted_saved) {
            (None, _) => self.maybe_propose_epoch(),
            (Some(e), true) => self.send_leader_info(from, e),
            (Some(_), false) => {} // sent once our accepted epoch is durable
        }
    }

    fn maybe_propose_epoch(&mut self) {
        let quorum = self.cfg.quorum.clone();
        let l = self.leader_mut();
        if l.epoch.is_some() {
            return;
        }
        let ids: Vec<ServerId> = l.connecting.keys().copied().collect();
        if !quorum.contains_quorum(&ids) {
            return;
        }
        let max = l
            .connecting
            .values()
            .copied()
            .max()
            .unwrap_or_default()
            .max(l.max_seen_epoch);
        let e = Epoch(max.0 + 1);
        l.epoch = Some(e);
        self.out.push(crate::peer::Action::SaveAcceptedEpoch(e));
    }

    fn send_leader_info(&mut self, to: ServerId, e: Epoch) {
        if let Some(h) = self.leader_mut().handlers.get_mut(&to) {
            if h.phase == HandlerPhase::Connected {
                h.phase = HandlerPhase::LeaderInfoSent;
                let msg = QuorumPacket::LeaderInfo {
                    epoch: e,
                    protocol_version: PROTOCOL_VERSION,
                };
                self.out.push(crate::peer::Action::Send { to, msg });
            }
        }
    }

    pub(crate) fn on_leader_accepted_epoch_saved(&mut self, e: Epoch) {
        let me = self.cfg.my_id;
        let l = self.leader_mut();
        if l.epoch != Some(e) || l.accepted_saved {
            return;
        }
        l.accepted_saved = true;
        l.epoch_acked.push(me);
        let waiting: Vec<ServerId> = l
            .handlers
            .iter()
            .filter(|(_, h)| h.phase == HandlerPhase::Connected)
            .map(|(s, _)| *s)
            .collect();
        for s in waiting {
            self.send_leader_info(s, e);
        }
        self.maybe_finish_discovery();
    }

    /// ACKEPOCH (`LearnerHandler` + `waitForEpochAck`).
    fn on_ack_epoch(&mut self, from: ServerId, last_zxid: Zxid, current_epoch: i64) {
        let (phase, summary, epoch, known) = {
            let l = self.leader_mut();
            let Some(h) = l.handlers.get_mut(&from) else {
                return;
            };
            if h.phase != HandlerPhase::LeaderInfoSent {
                return;
            }
            h.phase = HandlerPhase::EpochAcked;
            h.peer_last = last_zxid;
            (
                l.phase,
                l.summary,
                l.epoch.expect("LEADERINFO sent"),
                l.newleader_acked.contains(&from),
            )
        };
        if current_epoch >= 0 {
            let theirs = (Epoch(current_epoch as u64), last_zxid);
            let ahead = if phase == LeaderPhase::Discovery {
                theirs > summary
            } else {
                // Late: only a learner that holds this epoch from a rival NEWLEADER (or a later one) stops us.
                theirs.0 > epoch || (theirs.0 == epoch && !known)
            };
            if ahead {
                self.become_looking();
                return;
            }
        }
        let participant =
            self.cfg.quorum.is_voter(from) && !self.leader_mut().handlers[&from].observer;
        let l = self.leader_mut();
        if participant && !l.epoch_acked.contains(&from) {
            l.epoch_acked.push(from);
        }
        if l.phase == LeaderPhase::Discovery {
            self.maybe_finish_discovery();
        } else {
            self.sync_learner(from);
        }
    }

    /// A quorum acknowledged the epoch: persist it as current and synchronise everyone waiting.
    fn maybe_finish_discovery(&mut self) {
        let quorum = self.cfg.quorum.clone();
        let tick = self.tick;
        let init_limit = self.cfg.init_limit_ticks;
        let me = self.cfg.my_id;
        let l = self.leader_mut();
        if l.phase != LeaderPhase::Discovery
            || !l.accepted_saved
            || !quorum.contains_quorum(&l.epoch_acked)
        {
            return;
        }
        let e = l.epoch.expect("epoch chosen");
        l.phase = LeaderPhase::Synchronization;
        l.phase_deadline = tick + init_limit;
        let waiting: Vec<ServerId> = l
            .handlers
            .iter()
            .filter(|(_, h)| h.phase == HandlerPhase::EpochAcked)
            .map(|(s, _)| *s)
            .collect();
        self.vote.peer_epoch = e;
        self.out.push(crate::peer::Action::SaveCurrentEpoch(e));
        self.status(ServerState::Leading, ZabPhase::Synchronization, Some(me), e);
        for s in waiting {
            self.sync_learner(s);
        }
    }

    /// LEADERINFO (`Learner.registerWithLeader`).
    fn on_leader_info(&mut self, e: Epoch) {
        let accepted = self.accepted_epoch;
        let l = self.learner_mut();
        if l.phase != LearnerPhase::AwaitLeaderInfo {
            return;
        }
        if e < accepted {
            // The leader proposes an epoch we already moved past.
            self.become_looking();
            return;
        }
        l.new_epoch = Some(e);
        if e > accepted {
            l.phase = LearnerPhase::AwaitAcceptedSave;
            self.out.push(crate::peer::Action::SaveAcceptedEpoch(e));
        } else {
            self.send_ack_epoch();
        }
    }

    pub(crate) fn on_learner_accepted_epoch_saved(&mut self, e: Epoch) {
        let l = self.learner_mut();
        if l.phase == LearnerPhase::AwaitAcceptedSave && l.new_epoch == Some(e) {
            self.send_ack_epoch();
        }
    }

    fn send_ack_epoch(&mut self) {
        let last_zxid = self.log.last();
        let current_epoch = self.current_epoch.0 as i64;
        let l = self.learner_mut();
        l.phase = LearnerPhase::AwaitSyncMode;
        let leader = l.leader;
        let e = l.new_epoch.expect("epoch known");
        self.vote.peer_epoch = e; // updateElectionVote (ZOOKEEPER-1732)
        self.out.push(crate::peer::Action::Send {
            to: leader,
            msg: QuorumPacket::AckEpoch {
                last_zxid,
                current_epoch,
            },
        });
        let state = if self.participant {
            ServerState::Following
        } else {
            ServerState::Observing
        };
        self.status(state, ZabPhase::Synchronization, Some(leader), e);
    }
}
