//! `rqld`: a server asks for leadership (ClickHouse Keeper's four-letter word), between
//! servers of ours.
//!
//! Owns the three steps of a requested hand-over and the state they keep
//! ([`PendingHandOver`] on the leader, `Peer::prefer` everywhere); the tie-break itself is
//! [`crate::election`]'s (`ElectionCtx::preferred`), the yield [`crate::broadcast`]'s.
//!
//! 1. The operator's `rqld` on follower X ([`Event::RequestLeadership`]): X sends RQLD to
//!    its leader, but only to a leader whose LEADERINFO carried our mark; an Apache
//!    leader never receives the packet, X answers at once that it cannot ask.
//! 2. The leader checks that X is a voter it has synced (UPTODATE sent) and that no
//!    other handover is running. If a connected voter is not ours (no mark in its
//!    LearnerInfo) the preference could not decide the election (docs/decisions/0002):
//!    it answers PlainYield and yields as `ydld` does. Otherwise it tells every learner
//!    of ours (X too) HANDOVER Preferred with an expiry, and prefers X itself.
//! 3. It yields once X has acknowledged every proposal (so X is as up to date as any
//!    peer can be) and at least two ticks passed (so the HANDOVERs are on the wire
//!    before the connections close). If X does not catch up within syncLimit, it tells
//!    its learners NotUpToDate (they forget the preference) and goes on leading.
//!
//! Each peer holding the preference breaks `(peer_epoch, zxid)` ties in X's favour until
//! its expiry (or its next decided election); the yielder backs no one behind itself.
//! Neither weakens FLE's safety, which rests on `(peer_epoch, zxid)` alone.

use crate::driver::{Action, RqldAnswer};
use crate::peer::Peer;
use crate::role::{HandlerPhase, LeaderPhase, Role};
use crate::wire::{HandOverOutcome, QuorumPacket};
use crate::ServerId;

/// A leader's hand-over to `to`, announced at tick `announced`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingHandOver {
    pub to: ServerId,
    pub outcome: HandOverOutcome,
    pub announced: u64,
    /// Give up (NotUpToDate) at this tick if `to` has not caught up.
    pub deadline: u64,
}

/// Ticks between the HANDOVERs and the yield: one full tick on the wire at least.
const ANNOUNCE_TICKS: u64 = 2;

impl Peer {
    /// [`Event::RequestLeadership`](crate::peer::Event): the operator's `rqld` here.
    pub(crate) fn on_rqld(&mut self) {
        let last_zxid = self.log.last();
        let answer = match &self.role {
            Role::Leading(_) => RqldAnswer::AlreadyLeader,
            Role::Learning(l) if l.observer || !self.participant || !l.is_broadcasting() => {
                RqldAnswer::NotFollowing
            }
            Role::Learning(l) if !l.leader_zk_rs => RqldAnswer::LeaderNotZkRs(l.leader),
            Role::Learning(l) => {
                self.out.push(Action::Send {
                    to: l.leader,
                    msg: QuorumPacket::RequestLeadership { last_zxid },
                });
                return;
            }
            Role::Looking => RqldAnswer::NotFollowing,
        };
        self.out.push(Action::RqldAnswer(answer));
    }

    /// Leader: RQLD from the learner `from`.
    pub(crate) fn on_request_leadership(&mut self, from: ServerId) {
        let tick = self.tick;
        let me = self.cfg.my_id;
        let sync_limit = self.cfg.sync_limit_ticks.max(1);
        // The preference must outlast the wait for the requester (up to syncLimit), the
        // learners' noticing that the leader left (up to syncLimit when the close does
        // not reach them) and the election itself.
        let ticks = (4 * sync_limit).min(u64::from(u32::MAX)) as u32;
        let quorum = self.cfg.quorum.clone();
        let l = self.leader_mut();
        let synced_voter = from != me
            && quorum.is_voter(from)
            && l.handlers
                .get(&from)
                .is_some_and(|h| !h.observer && h.phase == HandlerPhase::UpToDate);
        if l.phase != LeaderPhase::Broadcast || l.rqld.is_some() || !synced_voter {
            self.out.push(Action::Send {
                to: from,
                msg: QuorumPacket::HandOver {
                    requester: from,
                    outcome: HandOverOutcome::Refused,
                    ticks: 0,
                },
            });
            return;
        }
        let all_ours = l
            .handlers
            .iter()
            .all(|(s, h)| h.zk_rs || !quorum.is_voter(*s));
        let outcome = if all_ours {
            HandOverOutcome::Preferred
        } else {
            HandOverOutcome::PlainYield
        };
        l.rqld = Some(PendingHandOver {
            to: from,
            outcome,
            announced: tick,
            deadline: tick + sync_limit,
        });
        let msg = QuorumPacket::HandOver {
            requester: from,
            outcome,
            ticks,
        };
        if outcome == HandOverOutcome::PlainYield {
            self.out.push(Action::Send { to: from, msg });
            return;
        }
        self.send_to_our_learners(msg);
        self.prefer = Some((from, tick + u64::from(ticks)));
    }

    /// Leader, on every tick and ACK: yield when the hand-over is ready, give up when
    /// it is late.
    pub(crate) fn check_handover(&mut self) {
        let tick = self.tick;
        let yield_ticks = (2 * self.cfg.sync_limit_ticks.max(1)).min(u64::from(u32::MAX)) as u32;
        let Role::Leading(l) = &mut self.role else {
            return;
        };
        let Some(p) = l.rqld else {
            return;
        };
        if tick < p.announced + ANNOUNCE_TICKS {
            return;
        }
        let caught_up = l
            .handlers
            .get(&p.to)
            .is_some_and(|h| h.acked >= l.last_proposed);
        if p.outcome == HandOverOutcome::PlainYield || caught_up {
            l.rqld = None;
            self.on_yield_leadership(yield_ticks);
            return;
        }
        if tick >= p.deadline || !l.handlers.contains_key(&p.to) {
            l.rqld = None;
            self.send_to_our_learners(QuorumPacket::HandOver {
                requester: p.to,
                outcome: HandOverOutcome::NotUpToDate,
                ticks: 0,
            });
            self.prefer = None;
        }
    }

    /// Leader: `msg` to every learner of ours (whose info carried the mark); Apache's
    /// learners never see our packet types.
    fn send_to_our_learners(&mut self, msg: QuorumPacket) {
        let Role::Leading(l) = &self.role else {
            return;
        };
        let ours: Vec<ServerId> = l
            .handlers
            .iter()
            .filter(|(_, h)| h.zk_rs)
            .map(|(s, _)| *s)
            .collect();
        for to in ours {
            self.out.push(Action::Send {
                to,
                msg: msg.clone(),
            });
        }
    }

    /// Learner: the leader's HANDOVER about `requester`.
    pub(crate) fn on_hand_over(
        &mut self,
        requester: ServerId,
        outcome: HandOverOutcome,
        ticks: u32,
    ) {
        if outcome == HandOverOutcome::Preferred {
            self.prefer = Some((requester, self.tick + u64::from(ticks.max(1))));
        } else if self.prefer.is_some_and(|(s, _)| s == requester) {
            self.prefer = None;
        }
        if requester == self.cfg.my_id {
            self.out
                .push(Action::RqldAnswer(RqldAnswer::Leader(outcome)));
        }
    }
}

#[cfg(test)]
mod tests;
