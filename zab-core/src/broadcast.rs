//! Broadcast: PROPOSAL / ACK / COMMIT / INFORM, PING, and the liveness timers.
//!
//! Owns the steady state of an established epoch. The leader numbers each proposal
//! `epoch << 32 | counter`, logs it, and sends it to every participant being synced or
//! synced; a learner logs it (from DIFF on, so also the proposals of its sync) and, once
//! it has ACKed NEWLEADER, ACKs it only once `Persisted` covers it. The leader counts
//! its own ACK once its own log is durable, commits in zxid order as soon as a quorum
//! has ACKed (ACKs are cumulative: the channel is FIFO and logs are durable in order),
//! sends COMMIT to participants and INFORM (with the data) to observers.
//!
//! Timers: the leader PINGs every `ping_interval_ticks` and steps down when the synced
//! participants still in touch (itself included) are no longer a quorum. In touch is
//! Apache's `tickOfNextAckDeadline`: heard from within `sync_limit_ticks`, and until its
//! first packet after its NEWLEADER ACK a learner has `init_limit_ticks +
//! sync_limit_ticks` from its connecting or from the leader's establishment, whichever is
//! later. A learner goes back to election after
//! `sync_limit_ticks` (`init_limit_ticks` before UPTODATE) without a packet from its
//! leader. A leader that does not finish discovery within `init_limit_ticks` gives up
//! too, and so does one whose NEWLEADER lacks its quorum of ACKs `init_limit_ticks` after
//! its own current epoch is durable (Apache's `waitForNewLeaderAck`, entered after
//! `setCurrentEpoch`).
//!
//! Depends on the role state and the peer's helpers only: the last phase calls no other.

use bytes::Bytes;

use crate::peer::{Action, Peer};
use crate::role::{HandlerPhase, LeaderPhase, LearnerPhase, Role};
use crate::wire::QuorumPacket;
use crate::{ServerId, Zxid};

impl Peer {
    /// A client transaction to replicate (established leader only).
    pub(crate) fn on_propose(&mut self, data: Bytes) {
        let Role::Leading(l) = &mut self.role else {
            return;
        };
        if l.phase != LeaderPhase::Broadcast || l.handover.is_some() {
            // Handing over, it could never commit it: the write waits for the role change
            // and fails with it, as on any change of leader, instead of sitting in a log
            // the successor may truncate.
            return;
        }
        let e = l.epoch.expect("epoch");
        let last = l.last_proposed;
        if last.epoch() == e && last.counter() == u32::MAX {
            // The counter is exhausted: a new epoch is needed (ZooKeeper does the same).
            self.become_looking();
            return;
        }
        let zxid = if last.epoch() == e {
            last.next()
        } else {
            Zxid::new(e, 1)
        };
        l.last_proposed = zxid;
        if let Some(p) = crate::reconfig::pending_of(zxid, &data) {
            self.pending_config = Some(p);
        }
        let Role::Leading(l) = &mut self.role else {
            return;
        };
        for (s, h) in l.handlers.iter() {
            if !h.observer && h.phase >= HandlerPhase::Syncing {
                self.out.push(Action::Send {
                    to: *s,
                    msg: QuorumPacket::Proposal {
                        zxid,
                        data: data.clone(),
                    },
                });
            }
        }
        self.log.append(zxid, data.clone());
        self.out.push(Action::Append(vec![(zxid, data)]));
    }

    /// ACK of proposals, cumulative up to `zxid` (the ACK of NEWLEADER is
    /// [`crate::sync`]'s `on_new_leader_ack`).
    pub(crate) fn on_ack(&mut self, from: ServerId, zxid: Zxid) {
        let l = self.leader_mut();
        if l.epoch.is_none() {
            return;
        }
        let Some(h) = l.handlers.get_mut(&from) else {
            return;
        };
        if h.phase < HandlerPhase::Synced || h.observer || zxid <= h.acked {
            return;
        }
        h.acked = zxid.min(l.last_proposed);
        if l.phase == LeaderPhase::Broadcast {
            self.try_commit();
        }
    }

    /// Commits the longest prefix a quorum has durably acknowledged.
    pub(crate) fn try_commit(&mut self) {
        let me = self.cfg.my_id;
        let durable = self.log.durable;
        let committed = self.log.committed;
        let Role::Leading(l) = &mut self.role else {
            return;
        };
        if l.handover.is_some() {
            // Apache's allowedToCommit: the designated leader commits from here on.
            return;
        }
        // Runs on every ACK: no allocation, no reference counting.
        let quorum = &*self.cfg.quorum;
        let acks = &mut l.scratch_acks;
        acks.clear();
        let own = durable.min(l.last_proposed);
        if own > committed {
            acks.push((own, me));
        }
        for (s, h) in l.handlers.iter() {
            if !h.observer && h.phase >= HandlerPhase::Synced && h.acked > committed {
                acks.push((h.acked, *s));
            }
        }
        acks.sort_unstable_by_key(|a| std::cmp::Reverse(a.0));
        let set = &mut l.scratch_set;
        set.clear();
        let mut candidate = committed;
        for (z, s) in acks.iter() {
            set.push(*s);
            if quorum.contains_quorum(set) {
                candidate = *z;
                break;
            }
        }
        // A pending reconfig, and everything after it, also needs a quorum of the
        // new voters (Apache's Proposal.qvAcksetPairs).
        if let Some(p) = &self.pending_config {
            if candidate >= p.zxid {
                let mut new_candidate = committed;
                set.clear();
                for (z, s) in acks.iter() {
                    set.push(*s);
                    if p.quorum.contains_quorum(set) {
                        new_candidate = *z;
                        break;
                    }
                }
                candidate = if new_candidate >= p.zxid {
                    candidate.min(new_candidate)
                } else {
                    self.log
                        .entries
                        .iter()
                        .take_while(|e| e.0 < p.zxid)
                        .last()
                        .map_or(committed, |e| e.0)
                        .max(committed)
                };
            }
        }
        if candidate > committed {
            self.leader_commit(candidate);
        }
    }

    fn leader_commit(&mut self, upto: Zxid) {
        let me = self.cfg.my_id;
        let reconfig = self
            .pending_config
            .as_ref()
            .filter(|p| p.zxid <= upto)
            .map(|p| (p.zxid, p.quorum.clone()));
        let designated = reconfig
            .as_ref()
            .map(|(rz, q)| self.designated_leader(*rz, &**q));
        // A reconfig that designates another leader is the last commit of this one
        // (Apache's tryToCommit sets allowedToCommit = false on it).
        let old = self.log.committed;
        let upto = match (&reconfig, designated) {
            // (A pending view at or below the commit point is not this commit's to cap.)
            (Some((rz, _)), Some(d)) if d != me && *rz > old => upto.min(*rz),
            _ => upto,
        };
        let start = self.log.index_after(old);
        let end = self.log.index_after(upto);
        let Role::Leading(l) = &mut self.role else {
            return;
        };
        for i in start..end {
            let (z, ref d) = self.log.entries[i];
            for (s, h) in l.handlers.iter_mut() {
                if h.phase < HandlerPhase::Syncing || z <= h.commit_sent {
                    continue;
                }
                h.commit_sent = z;
                let msg = match &reconfig {
                    Some((rz, _)) if *rz == z => {
                        let designated = designated.unwrap_or(me);
                        if h.observer {
                            QuorumPacket::InformAndActivate {
                                zxid: z,
                                data: crate::reconfig::inform_activate_data(designated, d),
                            }
                        } else {
                            QuorumPacket::CommitAndActivate {
                                zxid: z,
                                data: crate::reconfig::activate_data(designated),
                            }
                        }
                    }
                    _ if h.observer => QuorumPacket::Inform {
                        zxid: z,
                        data: d.clone(),
                    },
                    _ => QuorumPacket::Commit { zxid: z },
                };
                self.out.push(Action::Send { to: *s, msg });
            }
        }
        // The activation in commit_to hands over to the successor named above.
        self.designated = designated;
        self.commit_to(upto);
        self.designated = None;
        self.flush_pending_syncs();
    }

    /// Apache's `Leader.getDesignatedLeader`: this leader if it still votes in view `q`;
    /// else, of the new voters that acknowledged the reconfig at `rz`, the one that
    /// acknowledged the most after it (the most up to date, so the fewest proposals are
    /// lost), the lowest id among equals; the lowest new voter if none did.
    pub(crate) fn designated_leader(
        &self,
        rz: Zxid,
        q: &dyn crate::quorum::QuorumVerifier,
    ) -> ServerId {
        let me = self.cfg.my_id;
        if q.is_voter(me) {
            return me;
        }
        let Role::Leading(l) = &self.role else {
            return me;
        };
        l.handlers
            .iter()
            .filter(|(s, h)| !h.observer && h.acked >= rz && q.is_voter(**s))
            .map(|(s, h)| (std::cmp::Reverse(h.acked), *s))
            .min()
            .map(|(_, s)| s)
            .or_else(|| q.voting_members().first().copied())
            .unwrap_or(me)
    }

    /// `processSync`: answer at once if nothing is outstanding, else after the last proposal commits.
    pub(crate) fn on_sync_request(&mut self, learner: ServerId) {
        let committed = self.log.committed;
        let Role::Leading(l) = &mut self.role else {
            return;
        };
        if !l.handlers.contains_key(&learner) {
            return;
        }
        l.pending_syncs.push((l.last_proposed, learner));
        if l.last_proposed <= committed && l.phase == LeaderPhase::Broadcast {
            self.flush_pending_syncs();
        }
    }

    /// An operator's leadership yield (ClickHouse Keeper's `ydld`): an established leader
    /// steps down and, for `yield_ticks`, backs only others at least as up to date. What a
    /// quorum acknowledged is on that quorum, so the next leader commits it; what it did
    /// not was never answered to a client.
    pub(crate) fn on_yield_leadership(&mut self, yield_ticks: u32) {
        let Role::Leading(l) = &self.role else {
            return;
        };
        if l.phase != LeaderPhase::Broadcast {
            return;
        }
        self.yield_until = Some(self.tick + u64::from(yield_ticks.max(1)));
        self.become_looking();
    }

    pub(crate) fn flush_pending_syncs(&mut self) {
        let committed = self.log.committed;
        let Role::Leading(l) = &mut self.role else {
            return;
        };
        let mut i = 0;
        while i < l.pending_syncs.len() {
            let (z, s) = l.pending_syncs[i];
            if z <= committed {
                l.pending_syncs.remove(i);
                if l.handlers.contains_key(&s) {
                    self.out.push(Action::Send {
                        to: s,
                        msg: QuorumPacket::Sync { zxid: z },
                    });
                }
            } else {
                i += 1;
            }
        }
    }

    pub(crate) fn on_leader_tick(&mut self) {
        let tick = self.tick;
        let me = self.cfg.my_id;
        let quorum = self.cfg.quorum.clone();
        let pending = self.pending_config.as_ref().map(|p| p.quorum.clone());
        let sync_limit = self.cfg.sync_limit_ticks;
        let ping_every = self.cfg.ping_interval_ticks.max(1);
        let l = self.leader_mut();
        if l.phase != LeaderPhase::Broadcast {
            if tick > l.phase_deadline {
                self.become_looking();
            }
            return;
        }
        if tick >= l.next_ping {
            l.next_ping = tick + ping_every;
            let zxid = l.last_proposed;
            let to: Vec<ServerId> = l
                .handlers
                .iter()
                .filter(|(_, h)| h.phase >= HandlerPhase::Syncing)
                .map(|(s, _)| *s)
                .collect();
            for s in to {
                self.out.push(Action::Send {
                    to: s,
                    msg: QuorumPacket::Ping {
                        zxid,
                        data: Bytes::new(),
                    },
                });
            }
        }
        let l = self.leader_mut();
        let mut synced: Vec<ServerId> = l
            .handlers
            .iter()
            .filter(|(_, h)| {
                !h.observer && h.phase >= HandlerPhase::Synced && tick <= h.ack_deadline
            })
            .map(|(s, _)| *s)
            .collect();
        synced.push(me);
        let l = self.leader_mut();
        if let Some((to, deadline)) = l.handover {
            // Handing over: the learners leave for the designated leader as they hear
            // COMMITANDACTIVATE; once none is left (or the wait is over), follow it.
            // Going as soon as the quorum is lost, as Apache's leader does, would close
            // connections whose COMMITANDACTIVATE is still on its way, and send those
            // learners to an election.
            let staying = l
                .handlers
                .values()
                .any(|h| h.phase >= HandlerPhase::Syncing && tick - h.last_heard <= sync_limit);
            if !staying || tick >= deadline {
                self.switch_to = Some(to);
            }
            return;
        }
        // Apache's `syncedAckSet`: while a reconfig is pending, the leader keeps a quorum
        // of its view too, or re-elects (where the pending view's voters take part).
        if !quorum.contains_quorum(&synced) || pending.is_some_and(|q| !q.contains_quorum(&synced))
        {
            self.become_looking();
        }
    }

    // ---- learner side ----

    /// PROPOSAL: log it. During synchronisation it is not ACKed (the NEWLEADER ACK
    /// vouches for it); after NEWLEADER's ACK it is ACKed once durable.
    pub(crate) fn on_proposal(&mut self, zxid: Zxid, data: Bytes) {
        if self.learner_mut().phase < LearnerPhase::Syncing || !self.check_next(zxid) {
            return;
        }
        self.note_proposal(zxid, &data);
        self.log.append(zxid, data.clone());
        self.out.push(Action::Append(vec![(zxid, data)]));
        if self.learner_mut().phase >= LearnerPhase::AwaitUpToDate {
            self.send_acks();
        }
    }

    /// Continuity: a proposal follows our last zxid, with the next counter within an epoch.
    fn check_next(&mut self, zxid: Zxid) -> bool {
        let last = self.log.last();
        let ok =
            zxid > last && (zxid.epoch() != last.epoch() || zxid.counter() == last.counter() + 1);
        if !ok {
            self.become_looking();
        }
        ok
    }

    /// COMMIT: queued before UPTODATE, applied after.
    pub(crate) fn on_commit(&mut self, zxid: Zxid) {
        let designated = self.designated;
        let l = self.learner_mut();
        match l.phase {
            LearnerPhase::Syncing
            | LearnerPhase::AwaitNewLeaderAck
            | LearnerPhase::AwaitUpToDate => {
                l.pending_commit = l.pending_commit.max(zxid);
                // A COMMITANDACTIVATE's successor, for when UPTODATE commits it.
                l.designated = designated.or(l.designated);
            }
            LearnerPhase::Broadcast => {
                if zxid > self.log.last() {
                    // A commit for something we never logged: this connection is broken.
                    self.become_looking();
                    return;
                }
                self.commit_to(zxid);
            }
            _ => {}
        }
    }

    /// INFORM (observers): log and commit in one go.
    pub(crate) fn on_inform(&mut self, zxid: Zxid, data: Bytes) {
        let phase = self.learner_mut().phase;
        if phase < LearnerPhase::Syncing {
            return;
        }
        if zxid <= self.log.last() {
            // Already logged (a voter made an observer keeps the proposals it logged as
            // a follower beyond the commit point its new sync starts from): the INFORM
            // still says it is committed.
            if phase == LearnerPhase::Broadcast {
                self.commit_to(zxid);
            } else {
                let designated = self.designated;
                let l = self.learner_mut();
                l.pending_commit = l.pending_commit.max(zxid);
                l.designated = designated.or(l.designated);
            }
            return;
        }
        if !self.check_next(zxid) {
            return;
        }
        self.note_proposal(zxid, &data);
        self.log.append(zxid, data.clone());
        self.out.push(Action::Append(vec![(zxid, data)]));
        if phase == LearnerPhase::Broadcast {
            self.commit_to(zxid);
        } else {
            let designated = self.designated;
            let l = self.learner_mut();
            l.pending_commit = l.pending_commit.max(zxid);
            l.designated = designated.or(l.designated);
        }
    }

    pub(crate) fn on_ping(&mut self, zxid: Zxid) {
        let l = self.learner_mut();
        let to = l.leader;
        if l.phase >= LearnerPhase::Syncing {
            self.out.push(Action::Send {
                to,
                msg: QuorumPacket::Ping {
                    zxid,
                    data: Bytes::new(),
                },
            });
        }
    }

    /// ACK every durable proposal received after NEWLEADER, one ACK per zxid as ZooKeeper leaders expect.
    pub(crate) fn send_acks(&mut self) {
        let durable = self.log.durable;
        let Role::Learning(l) = &mut self.role else {
            return;
        };
        if l.observer || durable <= l.acked {
            return;
        }
        let start = self.log.index_after(l.acked);
        let end = self.log.index_after(durable);
        for i in start..end {
            let zxid = self.log.entries[i].0;
            self.out.push(Action::Send {
                to: l.leader,
                msg: QuorumPacket::Ack { zxid },
            });
        }
        l.acked = durable;
    }

    pub(crate) fn on_learner_tick(&mut self) {
        let tick = self.tick;
        let limit = {
            let l = self.learner_mut();
            if l.phase == LearnerPhase::Broadcast {
                self.cfg.sync_limit_ticks
            } else {
                self.cfg.init_limit_ticks
            }
        };
        if tick - self.learner_mut().last_heard > limit {
            self.become_looking();
        }
    }
}

#[cfg(test)]
mod tests;
