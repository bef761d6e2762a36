//! Test-only: build a [`Peer`] in a chosen state, then feed it one event.
//!
//! Owns the shared setup of the phase tests (`election/tests.rs`, `discovery/tests.rs`,
//! `sync/tests.rs`, `broadcast/tests.rs`), in the manner of openraft's engine tests: a
//! [`PeerBuilder`] says what is on disk and how the ensemble looks, its `leader_*` /
//! `learner_*` methods walk the peer through the protocol to a well-known state (the
//! actions of the way there are dropped), and the test feeds ONE event and compares
//! the exact list of actions. The expected actions are spelled out by the helpers at the
//! bottom (`send`, `status`, `notification`, ...), never computed by the code under test.

use std::sync::Arc;

use bytes::Bytes;

use crate::election::Vote;
use crate::peer::{Action, Config, Event, Peer, PeerStatus, PersistentState, ZabPhase};
use crate::quorum::QuorumMaj;
use crate::wire::{
    LearnerInfo, Notification, QuorumPacket, ServerState, NOTIFICATION_VERSION, PROTOCOL_VERSION,
};
use crate::{Epoch, ServerId, Zxid};

pub(crate) fn sid(n: u64) -> ServerId {
    ServerId(n)
}

pub(crate) fn zxid(epoch: u64, counter: u32) -> Zxid {
    Zxid::new(Epoch(epoch), counter)
}

/// The transaction bytes the tests log under `z` (opaque to the core).
pub(crate) fn data(z: Zxid) -> Bytes {
    Bytes::from(format!("txn {z}"))
}

/// What a peer is built from, and how the ensemble around it looks.
#[derive(Debug, Clone)]
pub(crate) struct PeerBuilder {
    me: u64,
    voters: u64,
    observers: u64,
    accepted_epoch: u64,
    current_epoch: u64,
    base: Zxid,
    log: Vec<Zxid>,
    committed: Zxid,
    finalize_wait_ticks: u32,
    sync_limit_ticks: u64,
    ping_interval_ticks: u64,
    /// Log entries whose bytes are given (a reconfig); the others carry [`data`].
    payloads: Vec<(Zxid, Bytes)>,
}

impl PeerBuilder {
    /// Server `me` of three voters, with an empty log and epochs 0.
    pub fn new(me: u64) -> PeerBuilder {
        PeerBuilder {
            me,
            voters: 3,
            observers: 0,
            accepted_epoch: 0,
            current_epoch: 0,
            base: Zxid::ZERO,
            log: Vec::new(),
            committed: Zxid::ZERO,
            finalize_wait_ticks: 2,
            sync_limit_ticks: 100,
            ping_interval_ticks: 10,
            payloads: Vec::new(),
        }
    }

    /// Voters `1..=voters`, observers numbered after them.
    pub fn ensemble(mut self, voters: u64, observers: u64) -> Self {
        self.voters = voters;
        self.observers = observers;
        self
    }

    pub fn epochs(mut self, accepted: u64, current: u64) -> Self {
        self.accepted_epoch = accepted;
        self.current_epoch = current;
        self
    }

    /// The log on disk: `zxids` after the snapshot point `base`, all durable.
    pub fn log(mut self, base: Zxid, zxids: &[Zxid]) -> Self {
        self.base = base;
        self.log = zxids.to_vec();
        self
    }

    /// The logged entry `z` (already in [`PeerBuilder::log`]) carries `bytes`.
    pub fn payload(mut self, z: Zxid, bytes: Bytes) -> Self {
        self.payloads.push((z, bytes));
        self
    }

    pub fn committed(mut self, z: Zxid) -> Self {
        self.committed = z;
        self
    }

    pub fn finalize_wait(mut self, ticks: u32) -> Self {
        self.finalize_wait_ticks = ticks;
        self
    }

    pub fn sync_limit(mut self, ticks: u64) -> Self {
        self.sync_limit_ticks = ticks;
        self
    }

    pub fn ping_interval(mut self, ticks: u64) -> Self {
        self.ping_interval_ticks = ticks;
        self
    }

    fn last(&self) -> Zxid {
        self.log.last().copied().unwrap_or(self.base)
    }

    /// The peer as it comes off the disk, before [`Event::Start`].
    pub fn build(&self) -> Peer {
        let quorum = Arc::new(QuorumMaj::with_counts(self.voters, self.observers));
        let mut cfg = Config::new(sid(self.me), quorum);
        cfg.finalize_wait_ticks = self.finalize_wait_ticks;
        cfg.sync_limit_ticks = self.sync_limit_ticks;
        cfg.ping_interval_ticks = self.ping_interval_ticks;
        let st = PersistentState {
            accepted_epoch: Epoch(self.accepted_epoch),
            current_epoch: Epoch(self.current_epoch),
            base: self.base,
            recent: self
                .log
                .iter()
                .map(|z| {
                    let given = self.payloads.iter().find(|(p, _)| p == z);
                    (*z, given.map_or_else(|| data(*z), |(_, b)| b.clone()))
                })
                .collect(),
            last_committed: self.committed,
        };
        Peer::new(cfg, st)
    }

    /// LOOKING, its first round started (its notifications sent).
    pub fn looking(&self) -> Peer {
        let mut p = self.build();
        drive(&mut p, [Event::Start]);
        p
    }

    /// Just elected leader: LEADING, in discovery, no learner connected yet.
    pub fn leading(&self) -> Peer {
        let mut p = self.build();
        p.vote = self.vote(self.me, ServerState::Leading);
        p.become_leading();
        p.out.clear();
        p
    }

    /// Just elected to follow (or, if not a voter, observe) `leader`: FOLLOWERINFO /
    /// OBSERVERINFO sent, waiting for LEADERINFO.
    pub fn learning(&self, leader: u64) -> Peer {
        let mut p = self.build();
        let state = if self.me <= self.voters {
            ServerState::Following
        } else {
            ServerState::Observing
        };
        p.vote = self.vote(leader, state);
        p.become_learner(sid(leader));
        p.out.clear();
        p
    }

    fn vote(&self, leader: u64, state: ServerState) -> Vote {
        Vote {
            leader: sid(leader),
            zxid: self.last(),
            election_epoch: 1,
            peer_epoch: Epoch(self.current_epoch),
            state,
        }
    }

    /// The epoch a leader built from `self` proposes when its learners accepted less.
    pub fn next_epoch(&self) -> u64 {
        self.accepted_epoch + 1
    }

    /// Leader with `learners` connected (FOLLOWERINFO or, beyond the voters, OBSERVERINFO,
    /// each with accepted epoch 0), its new epoch saved and LEADERINFO sent to each:
    /// waiting for ACKEPOCH.
    pub fn leader_awaiting_ack_epoch(&self, learners: &[u64]) -> Peer {
        let mut p = self.leading();
        for &l in learners {
            drive(&mut p, [received(l, self.learner_info(l, 0))]);
        }
        drive(
            &mut p,
            [Event::AcceptedEpochSaved(Epoch(self.next_epoch()))],
        );
        p
    }

    /// ... each learner's ACKEPOCH at our last zxid and current epoch received (each is
    /// sent an empty DIFF and NEWLEADER), our current epoch saved: waiting for the ACKs of
    /// NEWLEADER.
    pub fn leader_syncing(&self, learners: &[u64]) -> Peer {
        let mut p = self.leader_awaiting_ack_epoch(learners);
        for &l in learners {
            drive(&mut p, [received(l, self.ack_epoch_at_our_last())]);
        }
        drive(&mut p, [Event::CurrentEpochSaved(Epoch(self.next_epoch()))]);
        p
    }

    /// ... and every learner's ACK of NEWLEADER: established, in broadcast.
    pub fn leader_established(&self, learners: &[u64]) -> Peer {
        let mut p = self.leader_syncing(learners);
        let e = self.next_epoch();
        for &l in learners {
            drive(
                &mut p,
                [received(l, QuorumPacket::Ack { zxid: zxid(e, 0) })],
            );
        }
        assert!(
            p.can_propose(),
            "the way to an established leader is broken"
        );
        p
    }

    /// Learner of `leader` that received LEADERINFO of epoch `e`, saved it and sent
    /// ACKEPOCH: waiting for DIFF / TRUNC / SNAP.
    pub fn learner_awaiting_sync(&self, leader: u64, e: u64) -> Peer {
        let mut p = self.learning(leader);
        drive(&mut p, [received(leader, leader_info(e))]);
        if e > self.accepted_epoch {
            drive(&mut p, [Event::AcceptedEpochSaved(Epoch(e))]);
        }
        p
    }

    /// ... DIFF at our last zxid received: syncing, before NEWLEADER.
    pub fn learner_syncing(&self, leader: u64, e: u64) -> Peer {
        let mut p = self.learner_awaiting_sync(leader, e);
        drive(
            &mut p,
            [received(leader, QuorumPacket::Diff { zxid: self.last() })],
        );
        p
    }

    /// ... NEWLEADER received, our current epoch saved and NEWLEADER acknowledged:
    /// waiting for UPTODATE.
    pub fn learner_awaiting_up_to_date(&self, leader: u64, e: u64) -> Peer {
        let mut p = self.learner_syncing(leader, e);
        drive(
            &mut p,
            [
                received(leader, new_leader(e)),
                Event::CurrentEpochSaved(Epoch(e)),
            ],
        );
        p
    }

    /// ... and UPTODATE at our last zxid: in broadcast.
    pub fn learner_in_broadcast(&self, leader: u64, e: u64) -> Peer {
        let mut p = self.learner_awaiting_up_to_date(leader, e);
        drive(
            &mut p,
            [received(
                leader,
                QuorumPacket::UpToDate { zxid: self.last() },
            )],
        );
        assert!(
            p.is_broadcasting(),
            "the way to a learner in broadcast is broken"
        );
        p
    }

    /// FOLLOWERINFO from voter `l`, OBSERVERINFO from anyone else.
    pub fn learner_info(&self, l: u64, accepted_epoch: u64) -> QuorumPacket {
        let info = LearnerInfo {
            sid: sid(l),
            protocol_version: PROTOCOL_VERSION,
            config_version: 0,
        };
        let accepted_epoch = Epoch(accepted_epoch);
        if l <= self.voters {
            QuorumPacket::FollowerInfo {
                accepted_epoch,
                info,
                zk_rs: true,
            }
        } else {
            QuorumPacket::ObserverInfo {
                accepted_epoch,
                info,
                zk_rs: true,
            }
        }
    }

    /// ACKEPOCH of a learner with the same history as this peer's.
    pub fn ack_epoch_at_our_last(&self) -> QuorumPacket {
        QuorumPacket::AckEpoch {
            last_zxid: self.last(),
            current_epoch: self.current_epoch as i64,
        }
    }

    /// The actions of going back to election from any role: LOOKING, then round
    /// `election_epoch` backing ourselves (`last`, `current_epoch`), sent to every other
    /// voter.
    pub fn back_to_election(
        &self,
        last: Zxid,
        election_epoch: u64,
        current_epoch: u64,
    ) -> Vec<Action> {
        let mut v = vec![status(
            ServerState::Looking,
            ZabPhase::Election,
            None,
            current_epoch,
        )];
        let n = notification(
            ServerState::Looking,
            self.me,
            last,
            election_epoch,
            current_epoch,
        );
        for to in (1..=self.voters).filter(|s| *s != self.me) {
            v.push(Action::SendNotification {
                to: sid(to),
                n: n.clone(),
            });
        }
        v
    }
}

/// Feeds `events`, dropping what they make the peer do: the way to a state, not the test.
pub(crate) fn drive(p: &mut Peer, events: impl IntoIterator<Item = Event>) {
    for ev in events {
        p.step(ev);
    }
}

pub(crate) fn received(from: u64, msg: QuorumPacket) -> Event {
    Event::Received {
        from: sid(from),
        msg,
    }
}

pub(crate) fn send(to: u64, msg: QuorumPacket) -> Action {
    Action::Send { to: sid(to), msg }
}

pub(crate) fn status(
    state: ServerState,
    phase: ZabPhase,
    leader: Option<u64>,
    epoch: u64,
) -> Action {
    Action::StateChanged(PeerStatus {
        state,
        phase,
        leader: leader.map(sid),
        epoch: Epoch(epoch),
    })
}

/// A notification as the tests' peers send it (no configuration text).
pub(crate) fn notification(
    state: ServerState,
    leader: u64,
    zxid: Zxid,
    election_epoch: u64,
    peer_epoch: u64,
) -> Notification {
    Notification {
        state,
        leader: sid(leader),
        zxid,
        election_epoch,
        peer_epoch: Epoch(peer_epoch),
        version: NOTIFICATION_VERSION,
        config: Bytes::new(),
    }
}

pub(crate) fn leader_info(e: u64) -> QuorumPacket {
    QuorumPacket::LeaderInfo {
        epoch: Epoch(e),
        protocol_version: PROTOCOL_VERSION,
        zk_rs: true,
    }
}

pub(crate) fn new_leader(e: u64) -> QuorumPacket {
    QuorumPacket::NewLeader {
        zxid: zxid(e, 0),
        config: Bytes::new(),
    }
}

pub(crate) fn proposal(z: Zxid) -> QuorumPacket {
    QuorumPacket::Proposal {
        zxid: z,
        data: data(z),
    }
}

pub(crate) fn append(z: Zxid) -> Action {
    Action::Append(vec![(z, data(z))])
}
