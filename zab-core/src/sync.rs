//! Synchronisation: DIFF / TRUNC / SNAP, NEWLEADER, UPTODATE.
//!
//! Owns both sides of synchronisation (the state it advances is `crate::role`'s) and
//! the leader's choice of how to bring one learner to its history
//! (`LearnerHandler.syncFollower`):
//!
//! * the learner's last zxid is ours: empty DIFF;
//! * it is beyond our last: TRUNC to our last;
//! * it is one of ours (or our window's base): DIFF with the proposals after it;
//! * it is inside our window but not ours: TRUNC to the entry before it, then DIFF;
//! * it is older than our window: SNAP at our commit point, then DIFF from there.
//!
//! Each proposal of a DIFF is followed by its COMMIT when it is (or, before the epoch is
//! established, will be) committed; then NEWLEADER. The learner logs what it is sent and,
//! on NEWLEADER, waits for the log (or installed snapshot) to be durable, persists its
//! current epoch, and only then ACKs NEWLEADER (ZOOKEEPER-3911, -4643, -4646, -4785).
//! PROPOSAL and COMMIT that arrive between NEWLEADER and UPTODATE are logged and queued
//! (ZOOKEEPER-4394, -4685) by [`crate::broadcast`]'s handlers, which serve every phase
//! from DIFF on; UPTODATE, which carries the leader's commit point, commits them. With a
//! quorum of NEWLEADER ACKs (its own counted once its epoch and log are durable) the
//! leader is established, commits its whole initial history and starts broadcast.
//!
//! Depends on the role state, the peer's helpers and, at the hand-over to broadcast,
//! on [`crate::broadcast`] (`try_commit`, `flush_pending_syncs`, `send_acks`); never on
//! discovery.

use bytes::Bytes;

use crate::peer::{Action, Peer, ZabPhase};
use crate::role::{HandlerPhase, LeaderPhase, LearnerPhase, Role};
use crate::wire::{QuorumPacket, ServerState};
use crate::{Epoch, ServerId, Zxid};

impl Peer {
    /// `syncFollower`: bring learner `to` to our history, then NEWLEADER.
    pub(crate) fn sync_learner(&mut self, to: ServerId) {
        let last = self.log.last();
        let base = self.log.base;
        let committed = self.log.committed;
        let pending = self.pending_config.as_ref().map(|p| p.data.clone());
        let in_force = self.cfg.config_data.clone();
        let l = self.leader_mut();
        let e = l.epoch.expect("epoch chosen");
        let established = l.phase == LeaderPhase::Broadcast;
        // Apache's getQuorumVerifierBytes, the last seen view, while this leader is not
        // established: a pending reconfig in its history is the view it finishes at
        // establishment, and an Apache learner activates it at UPTODATE from here only
        // (`Learner.syncWithLeader`'s newLeaderQV; a plain COMMIT in the DIFF does not).
        // Once established, the view in force: a pending reconfig is then one of this
        // leader's own still in flight, which its COMMITANDACTIVATE activates, and an
        // Apache learner would activate it at UPTODATE uncommitted (reconfig seed 7000369
        // did so with an observer of ours before the learner's own check).
        let config = match pending {
            Some(p) if !established => p,
            _ => in_force,
        };
        let Some(h) = l.handlers.get(&to) else { return };
        let observer = h.observer;
        let peer_last = h.peer_last;
        // Before establishment our whole history is about to be committed.
        let commit_point = if established { committed } else { last };
        let from = if peer_last == last {
            self.out.push(Action::Send {
                to,
                msg: QuorumPacket::Diff { zxid: last },
            });
            last
        } else if peer_last > last {
            self.out.push(Action::Send {
                to,
                msg: QuorumPacket::Trunc { zxid: last },
            });
            last
        } else if peer_last == Zxid::ZERO {
            // An empty learner (new, or its data wiped) gets the state, not the
            // whole history: a snapshot is bounded by the tree, a DIFF from zero
            // by everything that ever happened.
            self.out.push(Action::SendSnapshot {
                to,
                zxid: committed,
            });
            committed
        } else if peer_last >= base && self.log.contains(peer_last) {
            self.out.push(Action::Send {
                to,
                msg: QuorumPacket::Diff { zxid: last },
            });
            peer_last
        } else if peer_last > base {
            let prev = self.log.prev(peer_last);
            self.out.push(Action::Send {
                to,
                msg: QuorumPacket::Trunc { zxid: prev },
            });
            prev
        } else {
            self.out.push(Action::SendSnapshot {
                to,
                zxid: committed,
            });
            committed
        };
        // Observers are sent only what is committed; later commits reach them as INFORM.
        let upto = if observer { commit_point } else { last };
        let start = self.log.index_after(from);
        for i in start..self.log.entries.len() {
            let (z, ref d) = self.log.entries[i];
            if z > upto {
                break;
            }
            self.out.push(Action::Send {
                to,
                msg: QuorumPacket::Proposal {
                    zxid: z,
                    data: d.clone(),
                },
            });
            if z <= commit_point {
                self.out.push(Action::Send {
                    to,
                    msg: QuorumPacket::Commit { zxid: z },
                });
            }
        }
        let newleader = Zxid::new(e, 0);
        self.out.push(Action::Send {
            to,
            msg: QuorumPacket::NewLeader {
                zxid: newleader,
                config,
            },
        });
        let l = self.leader_mut();
        let h = l.handlers.get_mut(&to).expect("handler");
        h.phase = HandlerPhase::Syncing;
        h.sync_upto = upto;
        h.commit_sent = commit_point;
    }

    /// The ACK of NEWLEADER (`waitForNewLeaderAck`).
    pub(crate) fn on_new_leader_ack(&mut self, from: ServerId) {
        let committed = self.log.committed;
        let quorum = self.cfg.quorum.clone();
        let l = self.leader_mut();
        let Some(h) = l.handlers.get_mut(&from) else {
            return;
        };
        h.phase = HandlerPhase::Synced;
        if !h.observer {
            h.acked = h.sync_upto;
        }
        if l.phase == LeaderPhase::Broadcast {
            h.phase = HandlerPhase::UpToDate;
            self.out.push(Action::Send {
                to: from,
                msg: QuorumPacket::UpToDate { zxid: committed },
            });
            // A voter of a pending view counts too: its ACK may be the one the reconfig
            // (and all after it) waits for, with no later proposal to bring another.
            let pending_voter = self
                .pending_config
                .as_ref()
                .is_some_and(|p| p.quorum.is_voter(from));
            if quorum.is_voter(from) || pending_voter {
                self.try_commit();
            }
        } else {
            self.maybe_establish();
        }
    }

    /// Our current epoch is durable: `waitForNewLeaderAck` begins. Apache's leader writes
    /// it (`setCurrentEpoch`, an fsync) before it enters that wait, whose `initLimit`
    /// counts from there; the learners' NEWLEADERs already went out meanwhile. So the
    /// learners have `init_limit_ticks` from this point, not from the end of discovery:
    /// counted from there, a slow epoch file here ate into their time, and a leader
    /// needing both voters of a two-voter pending view re-elected for 300 ticks
    /// (reconfig soak seed 8054956, docs/reliability.md).
    pub(crate) fn on_leader_current_epoch_saved(&mut self, e: Epoch) {
        let deadline = self.tick + self.cfg.init_limit_ticks;
        let l = self.leader_mut();
        if l.epoch == Some(e) && !l.current_saved {
            l.current_saved = true;
            if l.phase == LeaderPhase::Synchronization {
                l.phase_deadline = l.phase_deadline.max(deadline);
            }
            self.maybe_establish();
        }
    }

    /// A quorum acknowledged NEWLEADER, ourselves included once our epoch and log are durable.
    pub(crate) fn maybe_establish(&mut self) {
        let me = self.cfg.my_id;
        let quorum = self.cfg.quorum.clone();
        // A reconfig in our history not known committed: the new voters must have
        // acknowledged NEWLEADER too (Apache's newLeaderProposal.addQuorumVerifier).
        let pending = self.pending_config.as_ref().map(|p| p.quorum.clone());
        let last = self.log.last();
        let durable = self.log.durable;
        let (tick, init_limit, sync_limit) = (
            self.tick,
            self.cfg.init_limit_ticks,
            self.cfg.sync_limit_ticks,
        );
        let l = self.leader_mut();
        if l.phase != LeaderPhase::Synchronization
            || !l.current_saved
            || durable < l.summary.1.max(last)
        {
            return;
        }
        // Observers too: before establishment they are synced to our last zxid like
        // followers, so an ACK of NEWLEADER from one the pending view makes a voter vouches
        // for the reconfig as a follower's does (Apache's `Proposal.addAck` counts any sid
        // that votes in a view, whatever it connected as). They are not voters of the view
        // in force, so its quorum is counted as before.
        let mut acked: Vec<ServerId> = l
            .handlers
            .iter()
            .filter(|(_, h)| h.phase >= HandlerPhase::Synced)
            .map(|(s, _)| *s)
            .collect();
        acked.push(me);
        if !quorum.contains_quorum(&acked) || pending.is_some_and(|q| !q.contains_quorum(&acked)) {
            return;
        }
        let e = l.epoch.expect("epoch");
        l.phase = LeaderPhase::Broadcast;
        l.last_proposed = last;
        l.next_ping = 0;
        // Apache's leader counts ticks from here on only (`self.tick` is 0 until its main
        // loop runs), so every learner already connected has initLimit + syncLimit from
        // now to speak after its NEWLEADER ACK (`getTickOfInitialAckDeadline`).
        let initial_deadline = tick + init_limit + sync_limit;
        for h in l.handlers.values_mut() {
            h.ack_deadline = h.ack_deadline.max(initial_deadline);
        }
        self.vote.peer_epoch = e; // updateElectionVote
        self.status(ServerState::Leading, ZabPhase::Broadcast, Some(me), e);
        // Apache's startZkServer: a previous leader's reconfig finished here that leaves
        // this leader out names a successor among the new voters that acknowledged
        // NEWLEADER (getDesignatedLeader over newLeaderProposal), and the activation in
        // commit_to hands over to it in place, as after a reconfig of this leader's own.
        self.designated = self
            .pending_config
            .as_ref()
            .filter(|p| p.zxid <= last && !p.quorum.is_voter(me))
            .map(|p| self.designated_leader(p.zxid, &*p.quorum));
        // The initial history is committed now; its COMMITs already went out with the DIFFs.
        self.commit_to(last);
        self.designated = None;
        let committed = self.log.committed;
        let l = self.leader_mut();
        let mut uptodate = Vec::new();
        for (s, h) in l.handlers.iter_mut() {
            if h.phase == HandlerPhase::Synced {
                h.phase = HandlerPhase::UpToDate;
                uptodate.push(*s);
            }
        }
        for s in uptodate {
            self.announce_successor(s);
            self.out.push(Action::Send {
                to: s,
                msg: QuorumPacket::UpToDate { zxid: committed },
            });
        }
        self.flush_pending_syncs();
    }

    /// At establishment, before UPTODATE to learner `to`, when this leader hands over in
    /// place: the view in force, which leaves this leader out, again as COMMITANDACTIVATE
    /// (INFORMANDACTIVATE to an observer) naming the successor, so that the learner goes
    /// straight to it once UPTODATE commits (`crate::reconfig`). To servers of ours only:
    /// an Apache learner syncing finds no pending proposal to match it; it leaves at
    /// UPTODATE, whose view no longer has its leader, and elects (Learner.syncWithLeader),
    /// as it would anyway. Not to learners that acknowledge NEWLEADER later: that would
    /// change the handover after a reconfig of a leader's own too, and with it reconfig
    /// seed 7000182 ended without a leader (a stale pending reconfig on the servers left
    /// looking; not analysed), so they elect, as before.
    fn announce_successor(&mut self, to: ServerId) {
        let version = Zxid(self.cfg.config_version);
        let Role::Leading(l) = &self.role else {
            return;
        };
        let (Some((successor, _)), Some(h)) = (l.handover, l.handlers.get(&to)) else {
            return;
        };
        if !h.zk_rs {
            return;
        }
        let msg = if h.observer {
            let Some(i) = self.log.entries.iter().position(|e| e.0 == version) else {
                return;
            };
            QuorumPacket::InformAndActivate {
                zxid: version,
                data: crate::reconfig::inform_activate_data(successor, &self.log.entries[i].1),
            }
        } else {
            QuorumPacket::CommitAndActivate {
                zxid: version,
                data: crate::reconfig::activate_data(successor),
            }
        };
        self.out.push(Action::Send { to, msg });
    }

    // ---- learner side ----

    fn expect_sync_mode(&mut self) -> bool {
        self.learner_mut().phase == LearnerPhase::AwaitSyncMode
    }

    pub(crate) fn on_diff(&mut self, _zxid: Zxid) {
        if self.expect_sync_mode() {
            let last = self.log.last();
            let l = self.learner_mut();
            l.phase = LearnerPhase::Syncing;
            l.synced_from = last;
        }
    }

    pub(crate) fn on_trunc(&mut self, zxid: Zxid) {
        if !self.expect_sync_mode() {
            return;
        }
        self.learner_mut().phase = LearnerPhase::Syncing;
        if zxid < self.log.last() {
            if self.pending_config.as_ref().is_some_and(|p| p.zxid > zxid) {
                self.pending_config = None;
            }
            self.log.truncate(zxid);
            self.out.push(Action::Truncate { to: zxid });
        }
        let last = self.log.last();
        self.learner_mut().synced_from = last;
    }

    pub(crate) fn on_snap(&mut self, zxid: Zxid) {
        if !self.expect_sync_mode() {
            return;
        }
        let l = self.learner_mut();
        l.phase = LearnerPhase::Syncing;
        l.synced_from = zxid;
        // The snapshot holds whatever was committed; NEWLEADER brings the view.
        self.pending_config = None;
        self.log.reset_to_snapshot(zxid);
        self.out.push(Action::InstallSnapshot { zxid });
    }

    /// NEWLEADER (`FollowerProcessNEWLEADER`). The view it carries is kept for UPTODATE.
    pub(crate) fn on_new_leader(&mut self, zxid: Zxid, config: Bytes) {
        let last = self.log.last();
        let l = self.learner_mut();
        if l.phase != LearnerPhase::Syncing || Some(zxid.epoch()) != l.new_epoch {
            return;
        }
        l.newleader_config = Some(config);
        l.phase = LearnerPhase::AwaitNewLeaderAck;
        l.newleader_zxid = zxid;
        l.sync_upto = last;
        l.acked = last;
        self.try_ack_new_leader();
    }

    /// Persist the synced log, then the current epoch, then ACK.
    pub(crate) fn try_ack_new_leader(&mut self) {
        let durable = self.log.durable;
        let current = self.current_epoch;
        let l = self.learner_mut();
        if l.phase != LearnerPhase::AwaitNewLeaderAck || durable < l.sync_upto {
            return;
        }
        let e = l.new_epoch.expect("epoch");
        if current >= e {
            self.ack_new_leader();
        } else if !l.saving_current_epoch {
            l.saving_current_epoch = true;
            self.out.push(Action::SaveCurrentEpoch(e));
        }
    }

    /// The epoch file is durable. It may answer a save requested during an earlier sync
    /// with the same leader (the connection broke and came back): the log synced since
    /// then is not necessarily durable, so the ACK still waits for it.
    pub(crate) fn on_learner_current_epoch_saved(&mut self, e: Epoch) {
        let l = self.learner_mut();
        if l.phase == LearnerPhase::AwaitNewLeaderAck && l.new_epoch == Some(e) {
            self.try_ack_new_leader();
        }
    }

    fn ack_new_leader(&mut self) {
        let l = self.learner_mut();
        l.phase = LearnerPhase::AwaitUpToDate;
        let (to, zxid) = (l.leader, l.newleader_zxid);
        self.out.push(Action::Send {
            to,
            msg: QuorumPacket::Ack { zxid },
        });
        self.send_acks();
    }

    /// UPTODATE: the leader is established; commit what it says is committed.
    pub(crate) fn on_up_to_date(&mut self, zxid: Zxid) {
        let l = self.learner_mut();
        if l.phase != LearnerPhase::AwaitUpToDate {
            return;
        }
        l.phase = LearnerPhase::Broadcast;
        let (leader, e, observer) = (l.leader, l.new_epoch.expect("epoch"), l.observer);
        let newleader_zxid = l.newleader_zxid;
        // A ZooKeeper leader sends -1: then only the COMMITs and what we already shared count.
        let upto = l
            .pending_commit
            .max(if zxid.0 >= 0 { zxid } else { l.synced_from });
        let designated = l.designated.take();
        let newleader_config = l.newleader_config.take();
        self.designated = designated;
        self.commit_to(upto);
        self.designated = None;
        // The view NEWLEADER carried, if newer than what the commits activated: a view
        // this learner missed, or the pending view the leader finished as it established.
        // Only a committed one: its reconfig within what UPTODATE commits (or Apache's
        // first version, the NEWLEADER zxid itself). Our leader sends a pending view only
        // before it is established, when it finishes it; an Apache leader sends its last
        // seen view to every learner, a reconfig still in flight included, and an
        // observer synced to the commit point does not even hold that: its commit
        // activates it, never this.
        if let Some(c) = newleader_config {
            let committed = crate::reconfig::parse_config(&c)
                .is_some_and(|(_, v)| v <= upto.0 || v == newleader_zxid.0);
            if committed {
                self.adopt_config(&c);
            }
        }
        let state = if observer {
            ServerState::Observing
        } else {
            ServerState::Following
        };
        self.status(state, ZabPhase::Broadcast, Some(leader), e);
    }
}

#[cfg(test)]
mod tests;
