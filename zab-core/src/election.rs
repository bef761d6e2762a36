//! FastLeaderElection: choosing a prospective leader by exchanging votes.
//!
//! Owns the logical clock (election epoch), the proposal this peer currently backs,
//! the votes received in this round (`recv_set`) and the votes of peers that have
//! already settled (`out_of_election`). It decides "lead", "follow" or "observe" and
//! returns the decision; acting on it (discovery) is [`crate::discovery`]'s business,
//! reached through the dispatcher, and starting a round is the peer's `become_looking`.
//! Sending and timers are the driver's: notifications leave as
//! [`Action::SendNotification`], time arrives as ticks. Depends on no other phase.
//!
//! Votes are ordered by `(peer_epoch, zxid, sid)` (`totalOrderPredicate`); a candidate of
//! weight 0 (an observer) never wins. A round ends when the votes in `recv_set` that equal
//! our proposal form a quorum and no better vote arrives within `finalize_wait_ticks`. A
//! peer that arrives late learns the leader from FOLLOWING/LEADING notifications, once a
//! quorum of them agree and the leader itself says LEADING (`checkLeader`).
//!
//! While this peer holds a reconfig as pending, its view counts too (Apache's last seen
//! verifier): a vote set needs a quorum of both views, and the voters of both take part.
//! Joining a settled leader past the reconfig's epoch whose log did not reach the reconfig
//! in that epoch (it never held it, or went on in a later epoch), only the view in force
//! counts.
//!
//! Beyond ZooKeeper: a leader that yields (`Event::YieldLeadership`) starts its round
//! backing no one and adopts only candidates other than itself that are at least as up
//! to date, until the yield expires and it runs as any peer again.
//!
//! Deviation from ZooKeeper: while finalizing, ZooKeeper restarts its wait on every
//! non-better notification; we keep one deadline so that steady resends cannot delay
//! the decision forever (docs/decisions/0002-zab-deviations.md). And ZooKeeper resends its
//! vote only when no notification at all arrived within the timeout; here only news puts
//! the resend off (a vote for a voter not yet held from its sender): repeats, and votes
//! backing no one, could otherwise keep a peer from ever resending its vote to those that
//! lost it.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::driver::Action;
use crate::quorum::QuorumVerifier;
use crate::wire::{Notification, ServerState, NOTIFICATION_VERSION};
use crate::{Epoch, ServerId, Zxid};

/// A vote: the proposed leader, its last zxid and epoch, in an election round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vote {
    pub leader: ServerId,
    pub zxid: Zxid,
    pub election_epoch: u64,
    pub peer_epoch: Epoch,
    pub state: ServerState,
}

impl Vote {
    /// ZooKeeper's `Vote.equals`: settled votes compare by leader and epoch only (ZOOKEEPER-1805).
    fn same_as(&self, o: &Vote) -> bool {
        if self.state == ServerState::Looking || o.state == ServerState::Looking {
            self.leader == o.leader
                && self.zxid == o.zxid
                && self.election_epoch == o.election_epoch
                && self.peer_epoch == o.peer_epoch
        } else {
            self.leader == o.leader && self.peer_epoch == o.peer_epoch
        }
    }
}

/// The candidate a vote backs, compared as ZooKeeper compares signed longs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub leader: ServerId,
    pub zxid: Zxid,
    pub peer_epoch: Epoch,
}

/// The observer's non-vote (`Long.MIN_VALUE` everywhere).
pub(crate) const NO_CANDIDATE: Candidate = Candidate {
    leader: ServerId(i64::MIN as u64),
    zxid: Zxid(i64::MIN),
    peer_epoch: Epoch(i64::MIN as u64),
};

/// What the election needs to know about the peer running it.
pub(crate) struct ElectionCtx<'a> {
    pub my_id: ServerId,
    pub participant: bool,
    /// An observer of the view; a server outside it follows (as a non-voting follower).
    pub observer: bool,
    pub last_zxid: Zxid,
    pub current_epoch: Epoch,
    pub quorum: &'a dyn QuorumVerifier,
    /// The view of a reconfig this peer logged but has not seen committed (Apache's last
    /// seen verifier, newer than the view in force). While there is one, a vote set must
    /// hold a quorum of both views, and the voters of both take part in the round.
    pub pending: Option<&'a dyn QuorumVerifier>,
    /// The zxid of that pending reconfig.
    pub pending_zxid: Option<Zxid>,
    pub config: &'a Bytes,
    pub finalize_wait_ticks: u32,
    pub min_notification_ticks: u32,
    pub max_notification_ticks: u32,
    /// This peer yielded its leadership: it backs neither itself nor a peer behind it.
    pub yielding: bool,
    /// A leader's HANDOVER (`rqld`) named this server: among candidates with the same
    /// `(peer_epoch, zxid)` it beats any sid.
    pub preferred: Option<ServerId>,
}

impl ElectionCtx<'_> {
    /// `validVoter`: a voter of the view in force or of the pending one
    /// (`getCurrentAndNextConfigVoters`).
    fn is_voter(&self, sid: ServerId) -> bool {
        self.quorum.is_voter(sid) || self.pending.is_some_and(|p| p.is_voter(sid))
    }

    /// The voters of both views, each once, in ascending order.
    fn voters(&self) -> Vec<ServerId> {
        let mut v = self.quorum.voting_members().to_vec();
        if let Some(p) = self.pending {
            v.extend_from_slice(p.voting_members());
            v.sort();
            v.dedup();
        }
        v
    }

    /// `termPredicate`'s `SyncedLearnerTracker`: a quorum of the view in force and, when a
    /// reconfig is pending, of its view as well. Without the second, a quorum of the old
    /// voters that missed the reconfig's commit could elect a leader whose learners take
    /// its epoch on NEWLEADER although it can never establish (docs/reliability.md).
    fn contains_quorum(&self, set: &[ServerId]) -> bool {
        self.quorum.contains_quorum(set)
            && match self.pending {
                Some(p) => p.contains_quorum(set),
                None => true,
            }
    }

    /// Whether the leader of a settled vote leaves our pending reconfig out of its say in
    /// joining it: it backs a log that, at its election (or handover), did not end at or
    /// after the reconfig within the reconfig's epoch, and it is past that epoch. Either
    /// it never held the reconfig (a log ending before it: a leader appends only proposals
    /// of its own epoch, and its sync truncates the reconfig from our log), or its log went
    /// on in a later epoch, which a leader established; there the election, which counts
    /// the pending view, already decided whether the reconfig lives. Only the view in
    /// force counts then, as with no reconfig pending. Beyond Apache, whose last seen
    /// view is kept in its own file and taken up by the next leader even when the proposal
    /// was lost; ours lives in the log only, and without this, the voters of a reconfig a
    /// lone voter lost unlogged in a crash each waited for the others to follow the leader
    /// it then elected alone, for good (reconfig soak seeds 4000558, 4011928).
    fn settled_leader_lacks_pending(&self, v: &Vote) -> bool {
        self.pending_zxid.is_some_and(|z| {
            let e = z.epoch().0 as i64;
            let holds_it = v.zxid.epoch().0 as i64 == e && v.zxid >= z;
            v.peer_epoch.0 as i64 > e && !holds_it
        })
    }

    fn init_candidate(&self) -> Candidate {
        if self.participant && !self.yielding {
            Candidate {
                leader: self.my_id,
                zxid: self.last_zxid,
                peer_epoch: self.current_epoch,
            }
        } else {
            NO_CANDIDATE
        }
    }

    /// `totalOrderPredicate`: is `new` a better leader than `cur`?
    fn better(&self, new: Candidate, cur: Candidate) -> bool {
        if self.quorum.weight(new.leader) == 0 {
            return false;
        }
        // A yielding leader hands over only to a peer that has all it has: a peer
        // behind it would truncate what it committed.
        if self.yielding
            && (new.leader == self.my_id
                || (new.peer_epoch.0 as i64, new.zxid.0)
                    < (self.current_epoch.0 as i64, self.last_zxid.0))
        {
            return false;
        }
        // The preference is a tie-break after `(peer_epoch, zxid)`, ahead of the sid:
        // safety rests on the first two alone (docs/decisions/0002, rqld).
        let pref = |s: ServerId| self.preferred == Some(s);
        let n = (
            new.peer_epoch.0 as i64,
            new.zxid.0,
            pref(new.leader),
            new.leader.0 as i64,
        );
        let c = (
            cur.peer_epoch.0 as i64,
            cur.zxid.0,
            pref(cur.leader),
            cur.leader.0 as i64,
        );
        n > c
    }
}

/// The state of FastLeaderElection across rounds.
#[derive(Debug)]
pub(crate) struct Election {
    pub logical_clock: u64,
    proposal: Candidate,
    recv_set: BTreeMap<ServerId, Vote>,
    out_of_election: BTreeMap<ServerId, Vote>,
    not_timeout_ticks: u32,
    idle_ticks: u32,
    finalize_left: Option<u32>,
}

impl Election {
    pub fn new() -> Election {
        Election {
            logical_clock: 0,
            proposal: NO_CANDIDATE,
            recv_set: BTreeMap::new(),
            out_of_election: BTreeMap::new(),
            not_timeout_ticks: 1,
            idle_ticks: 0,
            finalize_left: None,
        }
    }

    fn vote(&self, state: ServerState) -> Vote {
        Vote {
            leader: self.proposal.leader,
            zxid: self.proposal.zxid,
            election_epoch: self.logical_clock,
            peer_epoch: self.proposal.peer_epoch,
            state,
        }
    }

    /// `lookForLeader`'s opening: a new round backing ourselves.
    pub fn start(&mut self, ctx: &ElectionCtx<'_>, out: &mut Vec<Action>) -> Option<Vote> {
        self.logical_clock += 1;
        self.recv_set.clear();
        self.out_of_election.clear();
        self.finalize_left = None;
        self.idle_ticks = 0;
        self.not_timeout_ticks = ctx.min_notification_ticks.max(1);
        self.proposal = ctx.init_candidate();
        self.send_notifications(ctx, out)
    }

    /// Sends our proposal to every voter; the copy to ourselves is counted at once.
    fn send_notifications(&mut self, ctx: &ElectionCtx<'_>, out: &mut Vec<Action>) -> Option<Vote> {
        for v in ctx.voters() {
            if v != ctx.my_id {
                out.push(Action::SendNotification {
                    to: v,
                    n: self.notification(ctx, ServerState::Looking),
                });
            }
        }
        if ctx.is_voter(ctx.my_id) {
            self.recv_set
                .insert(ctx.my_id, self.vote(ServerState::Looking));
            return self.tally(ctx);
        }
        None
    }

    fn notification(&self, ctx: &ElectionCtx<'_>, state: ServerState) -> Notification {
        let v = self.vote(state);
        notification_of(&v, ctx.config)
    }

    /// Starts the finalize wait once our proposal has a quorum; decides at once when the wait is 0.
    fn tally(&mut self, ctx: &ElectionCtx<'_>) -> Option<Vote> {
        if self.finalize_left.is_some() {
            return None;
        }
        let target = self.vote(ServerState::Looking);
        let agreeing: Vec<ServerId> = self
            .recv_set
            .iter()
            .filter(|(_, v)| v.same_as(&target))
            .map(|(s, _)| *s)
            .collect();
        if ctx.contains_quorum(&agreeing) {
            if ctx.finalize_wait_ticks == 0 {
                return Some(self.decide(ctx));
            }
            self.finalize_left = Some(ctx.finalize_wait_ticks);
        }
        None
    }

    fn decide(&mut self, ctx: &ElectionCtx<'_>) -> Vote {
        self.finalize_left = None;
        let state = if self.proposal.leader == ctx.my_id {
            ServerState::Leading
        } else if !ctx.observer {
            ServerState::Following
        } else {
            ServerState::Observing
        };
        self.vote(state)
    }

    /// A tick while LOOKING: resend after a silence (with exponential backoff), or finish the finalize wait.
    pub fn on_tick(&mut self, ctx: &ElectionCtx<'_>, out: &mut Vec<Action>) -> Option<Vote> {
        if let Some(left) = self.finalize_left {
            if left <= 1 {
                return Some(self.decide(ctx));
            }
            self.finalize_left = Some(left - 1);
            return None;
        }
        self.idle_ticks += 1;
        if self.idle_ticks >= self.not_timeout_ticks {
            self.idle_ticks = 0;
            // While a hand-over preference holds, peers may go looking at different times
            // (each notices the old leader's departure on its own); resending without
            // backoff lets the late ones hear the preferred candidate before a quorum
            // settles on another. Bounded by the preference's expiry.
            if ctx.preferred.is_none() {
                self.not_timeout_ticks =
                    (self.not_timeout_ticks * 2).min(ctx.max_notification_ticks.max(1));
            }
            return self.send_notifications(ctx, out);
        }
        None
    }

    /// A notification while LOOKING (`WorkerReceiver` plus the body of `lookForLeader`'s loop).
    pub fn on_notification(
        &mut self,
        ctx: &ElectionCtx<'_>,
        from: ServerId,
        n: &Notification,
        out: &mut Vec<Action>,
    ) -> Option<Vote> {
        // WorkerReceiver: a non-voter learns our vote and is otherwise ignored.
        if !ctx.is_voter(from) {
            out.push(Action::SendNotification {
                to: from,
                n: self.notification(ctx, ServerState::Looking),
            });
            return None;
        }
        if n.state == ServerState::Looking && n.election_epoch < self.logical_clock {
            out.push(Action::SendNotification {
                to: from,
                n: self.notification(ctx, ServerState::Looking),
            });
        }
        // Only news puts off our resend: a vote for a voter that we do not hold yet from
        // this sender. Apache's poll returns on any notification; but peers resending, on
        // their own timers, a vote we already hold or one backing no one (which carries no
        // vote) could then keep this peer from ever resending its own, and a peer that
        // lost its copies would never learn it (reconfig soak seeds 4001025, 4002319).
        if ctx.is_voter(n.leader) && !self.holds(from, n) {
            self.idle_ticks = 0;
        }
        let cand = Candidate {
            leader: n.leader,
            zxid: n.zxid,
            peer_epoch: n.peer_epoch,
        };
        if self.finalize_left.is_some() {
            if !ctx.better(cand, self.proposal) {
                return None; // dropped, as ZooKeeper's finalize loop drops it
            }
            self.finalize_left = None;
        }
        if !ctx.is_voter(n.leader) {
            // A voter backing no one (a voter of the pending view only, where Apache's
            // would back itself and be refused for its weight 0) still moves the round
            // on, or the views' voters could sit in different rounds for good.
            if n.state == ServerState::Looking && n.election_epoch > self.logical_clock {
                self.logical_clock = n.election_epoch;
                self.recv_set.clear();
                self.proposal = ctx.init_candidate();
                return self.send_notifications(ctx, out);
            }
            return None;
        }
        match n.state {
            ServerState::Looking => self.on_looking_vote(ctx, from, n, cand, out),
            ServerState::Observing => None,
            ServerState::Following | ServerState::Leading => self.on_settled_vote(ctx, from, n),
        }
    }

    /// Whether `n` is the vote we already hold from `from` (in this round, if LOOKING).
    fn holds(&self, from: ServerId, n: &Notification) -> bool {
        let same = |v: &Vote| {
            v.leader == n.leader
                && v.zxid == n.zxid
                && v.election_epoch == n.election_epoch
                && v.peer_epoch == n.peer_epoch
                && v.state == n.state
        };
        match n.state {
            // One of an older round is answered with ours; it tells us nothing new.
            ServerState::Looking => {
                n.election_epoch < self.logical_clock
                    || (n.election_epoch == self.logical_clock
                        && self.recv_set.get(&from).is_some_and(same))
            }
            _ => self.out_of_election.get(&from).is_some_and(same),
        }
    }

    fn on_looking_vote(
        &mut self,
        ctx: &ElectionCtx<'_>,
        from: ServerId,
        n: &Notification,
        cand: Candidate,
        out: &mut Vec<Action>,
    ) -> Option<Vote> {
        if n.election_epoch > self.logical_clock {
            self.logical_clock = n.election_epoch;
            self.recv_set.clear();
            let own = ctx.init_candidate();
            self.proposal = if ctx.better(cand, own) { cand } else { own };
            if let Some(v) = self.send_notifications(ctx, out) {
                return Some(v);
            }
        } else if n.election_epoch < self.logical_clock {
            return None;
        } else if ctx.better(cand, self.proposal) {
            self.proposal = cand;
            if let Some(v) = self.send_notifications(ctx, out) {
                return Some(v);
            }
        }
        self.recv_set.insert(
            from,
            Vote {
                leader: n.leader,
                zxid: n.zxid,
                election_epoch: n.election_epoch,
                peer_epoch: n.peer_epoch,
                state: ServerState::Looking,
            },
        );
        self.tally(ctx)
    }

    /// `receivedFollowingNotification`: join a round already settled, or an established ensemble.
    fn on_settled_vote(
        &mut self,
        ctx: &ElectionCtx<'_>,
        from: ServerId,
        n: &Notification,
    ) -> Option<Vote> {
        let v = Vote {
            leader: n.leader,
            zxid: n.zxid,
            election_epoch: n.election_epoch,
            peer_epoch: n.peer_epoch,
            state: n.state,
        };
        if n.election_epoch == self.logical_clock {
            self.recv_set.insert(from, v);
            if self.has_quorum_for(ctx, &self.recv_set, &v)
                && self.check_leader(ctx, &self.recv_set, v.leader, v.election_epoch)
            {
                return Some(self.settle(ctx, v));
            }
        }
        self.out_of_election.insert(from, v);
        if self.has_quorum_for(ctx, &self.out_of_election, &v)
            && self.check_leader(ctx, &self.out_of_election, v.leader, v.election_epoch)
        {
            self.logical_clock = n.election_epoch;
            return Some(self.settle(ctx, v));
        }
        None
    }

    fn has_quorum_for(
        &self,
        ctx: &ElectionCtx<'_>,
        votes: &BTreeMap<ServerId, Vote>,
        target: &Vote,
    ) -> bool {
        let mut agreeing: Vec<ServerId> = votes
            .iter()
            .filter(|(_, x)| x.same_as(target))
            .map(|(s, _)| *s)
            .collect();
        if !ctx.quorum.contains_quorum(&agreeing) {
            return false;
        }
        let Some(p) = ctx.pending else {
            return true;
        };
        if ctx.settled_leader_lacks_pending(target) {
            return true;
        }
        // Beyond Apache: towards the pending view this peer counts itself, as it is about to
        // follow too. Else a voter of a small pending view (two voters: both needed) that
        // lost its leader could never join it again, which still needs this peer's
        // NEWLEADER ACK to establish (reconfig soak seed 3000553).
        agreeing.push(ctx.my_id);
        p.contains_quorum(&agreeing)
    }

    /// `checkLeader`: someone else leads only if it told us so itself.
    fn check_leader(
        &self,
        ctx: &ElectionCtx<'_>,
        votes: &BTreeMap<ServerId, Vote>,
        leader: ServerId,
        ee: u64,
    ) -> bool {
        if leader != ctx.my_id {
            votes
                .get(&leader)
                .is_some_and(|v| v.state == ServerState::Leading)
        } else {
            self.logical_clock == ee
        }
    }

    fn settle(&mut self, ctx: &ElectionCtx<'_>, v: Vote) -> Vote {
        self.finalize_left = None;
        self.proposal = Candidate {
            leader: v.leader,
            zxid: v.zxid,
            peer_epoch: v.peer_epoch,
        };
        let state = if v.leader == ctx.my_id {
            ServerState::Leading
        } else if !ctx.observer {
            ServerState::Following
        } else {
            ServerState::Observing
        };
        Vote {
            state,
            election_epoch: v.election_epoch,
            ..v
        }
    }
}

/// The notification that carries `vote` with `vote.state` as the sender's state.
pub(crate) fn notification_of(vote: &Vote, config: &Bytes) -> Notification {
    Notification {
        state: vote.state,
        leader: vote.leader,
        zxid: vote.zxid,
        election_epoch: vote.election_epoch,
        peer_epoch: vote.peer_epoch,
        version: NOTIFICATION_VERSION,
        config: config.clone(),
    }
}

#[cfg(test)]
mod tests;
