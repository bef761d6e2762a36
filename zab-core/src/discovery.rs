//! Discovery: FOLLOWERINFO -> LEADERINFO -> ACKEPOCH.
//!
//! Owns both sides of the epoch handshake and the role changes that begin it
//! (`become_leading`, `become_learner`); the state it advances (`LeaderState`, one
//! `Handler` per learner, `LearnerState`) is `crate::role`'s. A prospective leader
//! collects FOLLOWERINFO (each learner's accepted epoch) until a quorum including itself
//! is connected, proposes `max + 1`, persists it as its own accepted epoch and sends
//! LEADERINFO. A learner persists the new accepted epoch before its ACKEPOCH, which
//! reports its current epoch and last zxid. A leader that finds a learner ahead of
//! itself goes back to election.
//!
//! Depends on the role state and the peer's helpers only, and hands each learner whose
//! epoch is settled to [`crate::sync`] (`sync_learner`); nothing here calls back into
//! election beyond `become_looking`.
//!
//! As in ZooKeeper, a learner that had already accepted the proposed epoch answers with
//! -1 instead of its current epoch ("this reply should not count as an ack for the new
//! epoch", `Learner.registerWithLeader`), and a leader counts such an ACKEPOCH towards
//! nothing and checks ACKEPOCHs only during discovery (`Leader.waitForEpochAck`). This
//! was a deviation once (docs/decisions/0002-zab-deviations.md, item 1): the real epoch
//! let an Apache leader count our learner where it counts none of its own.

use crate::peer::{Action, Peer, ZabPhase};
use crate::role::{
    Handler, HandlerPhase, LeaderPhase, LeaderState, LearnerPhase, LearnerState, Role,
};
use crate::wire::{LearnerInfo, QuorumPacket, ServerState, PROTOCOL_VERSION};
use crate::{Epoch, ServerId, Zxid};

impl Peer {
    /// LEADING: wait for a quorum of FOLLOWERINFO (`Leader.lead`, `getEpochToPropose`).
    pub(crate) fn become_leading(&mut self) {
        self.role = Role::Leading(Box::new(LeaderState::new(
            self.cfg.my_id,
            self.accepted_epoch,
            self.current_epoch,
            self.log.last(),
            self.tick + self.cfg.init_limit_ticks,
        )));
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
        let observer = self.observes();
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
                zk_rs: true,
            }
        } else {
            QuorumPacket::FollowerInfo {
                accepted_epoch,
                info,
                zk_rs: true,
            }
        };
        self.out.push(Action::Send { to: leader, msg });
    }

    /// FOLLOWERINFO / OBSERVERINFO: a learner connects (a new connection replaces an old one).
    pub(crate) fn on_follower_info(
        &mut self,
        from: ServerId,
        accepted_epoch: Epoch,
        observer: bool,
        zk_rs: bool,
    ) {
        let tick = self.tick;
        let participant = !observer && self.cfg.quorum.is_voter(from);
        // A follower outside the voting view (one joining by reconfig, or one a
        // reconfig removed) is served as a follower, as Apache's non-voting
        // followers are: it gets PROPOSALs and COMMITs; its ACKs count once a view
        // makes it a voter.
        let initial_deadline = tick + self.cfg.init_limit_ticks + self.cfg.sync_limit_ticks;
        let l = self.leader_mut();
        let mut h = Handler::new(observer, tick, initial_deadline);
        h.zk_rs = zk_rs;
        l.handlers.insert(from, h);
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
        self.out.push(Action::SaveAcceptedEpoch(e));
    }

    fn send_leader_info(&mut self, to: ServerId, e: Epoch) {
        if let Some(h) = self.leader_mut().handlers.get_mut(&to) {
            if h.phase == HandlerPhase::Connected {
                h.phase = HandlerPhase::LeaderInfoSent;
                let msg = QuorumPacket::LeaderInfo {
                    epoch: e,
                    protocol_version: PROTOCOL_VERSION,
                    zk_rs: true,
                };
                self.out.push(Action::Send { to, msg });
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
    pub(crate) fn on_ack_epoch(&mut self, from: ServerId, last_zxid: Zxid, current_epoch: i64) {
        let (phase, summary) = {
            let l = self.leader_mut();
            let Some(h) = l.handlers.get_mut(&from) else {
                return;
            };
            if h.phase != HandlerPhase::LeaderInfoSent {
                return;
            }
            h.phase = HandlerPhase::EpochAcked;
            h.peer_last = last_zxid;
            (l.phase, l.summary)
        };
        // -1: the learner had accepted this epoch already (from us before a reconnect, or
        // from a rival): it is synchronised but never counts as an ack of the epoch, and
        // there is nothing to compare. After discovery nothing is checked, as in
        // ZooKeeper: a learner that accepted an epoch above ours when we proposed it
        // would have answered LEADERINFO by leaving.
        let counts = current_epoch >= 0;
        if counts && phase == LeaderPhase::Discovery {
            let theirs = (Epoch(current_epoch as u64), last_zxid);
            if theirs > summary {
                // "Follower is ahead of the leader": back to election.
                self.become_looking();
                return;
            }
        }
        let participant =
            self.cfg.quorum.is_voter(from) && !self.leader_mut().handlers[&from].observer;
        let l = self.leader_mut();
        if counts && participant && !l.epoch_acked.contains(&from) {
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
        self.out.push(Action::SaveCurrentEpoch(e));
        self.status(ServerState::Leading, ZabPhase::Synchronization, Some(me), e);
        for s in waiting {
            self.sync_learner(s);
        }
    }

    /// LEADERINFO (`Learner.registerWithLeader`).
    pub(crate) fn on_leader_info(&mut self, e: Epoch, zk_rs: bool) {
        let accepted = self.accepted_epoch;
        let l = self.learner_mut();
        if l.phase != LearnerPhase::AwaitLeaderInfo {
            return;
        }
        l.leader_zk_rs = zk_rs;
        if e < accepted {
            // The leader proposes an epoch we already moved past.
            self.become_looking();
            return;
        }
        l.new_epoch = Some(e);
        if e > accepted {
            l.phase = LearnerPhase::AwaitAcceptedSave;
            self.out.push(Action::SaveAcceptedEpoch(e));
        } else {
            // Accepted before: ZooKeeper's -1, "do not count this as an ack".
            self.send_ack_epoch(-1);
        }
    }

    pub(crate) fn on_learner_accepted_epoch_saved(&mut self, e: Epoch) {
        let l = self.learner_mut();
        if l.phase == LearnerPhase::AwaitAcceptedSave && l.new_epoch == Some(e) {
            let current_epoch = self.current_epoch.0 as i64;
            self.send_ack_epoch(current_epoch);
        }
    }

    /// ACKEPOCH with `current_epoch`: ours, or -1 when the epoch was accepted before.
    fn send_ack_epoch(&mut self, current_epoch: i64) {
        let last_zxid = self.log.last();
        let l = self.learner_mut();
        l.phase = LearnerPhase::AwaitSyncMode;
        let leader = l.leader;
        let e = l.new_epoch.expect("epoch known");
        self.vote.peer_epoch = e; // updateElectionVote (ZOOKEEPER-1732)
        self.out.push(Action::Send {
            to: leader,
            msg: QuorumPacket::AckEpoch {
                last_zxid,
                current_epoch,
            },
        });
        let state = if self.learner_mut().observer {
            ServerState::Observing
        } else {
            ServerState::Following
        };
        self.status(state, ZabPhase::Synchronization, Some(leader), e);
    }
}

#[cfg(test)]
mod tests;
