//! Role state: what a peer remembers while it leads, follows or observes.
//!
//! Owns the [`Role`] enum and the state of each role, with the phase enums that say
//! where each stands; no handlers. The phase modules ([`crate::discovery`],
//! [`crate::sync`], [`crate::broadcast`]) read and advance this state; election state is
//! [`crate::election`]'s, the log window [`crate::log`]'s.
//!
//! * A leader: [`LeaderState`] with its [`LeaderPhase`] (Discovery, Synchronization,
//!   Broadcast) and one [`Handler`] per connected learner, each with its
//!   [`HandlerPhase`] (ZooKeeper's `LearnerHandler`).
//! * A follower or observer: [`LearnerState`] with its [`LearnerPhase`].

use std::collections::BTreeMap;

use crate::{Epoch, ServerId, Zxid};

#[derive(Debug)]
pub(crate) enum Role {
    Looking,
    Leading(Box<LeaderState>),
    /// Following or observing, depending on `LearnerState::observer`.
    Learning(Box<LearnerState>),
}

// ---- leading ----

/// Where a leader stands (`Leader.lead`); ZooKeeper's `ZabState` without Election.
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

/// What a leader knows of one learner (its `LearnerHandler`).
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
    /// The tick until which a synced learner counts as in touch (Apache's
    /// `tickOfNextAckDeadline`): `initLimit + syncLimit` after it connected or after the
    /// leader established, whichever is later, until the first packet that follows its
    /// NEWLEADER ACK; then `syncLimit` after each packet.
    pub ack_deadline: u64,
    /// The learner is a zk-rs server (its LearnerInfo carried the mark): it understands
    /// HANDOVER and holds a leadership preference.
    pub zk_rs: bool,
}

/// A leader's state (ZooKeeper's `Leader`), from election to stepping down.
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
    /// An `rqld` being served ([`crate::handover`]).
    pub rqld: Option<crate::handover::PendingHandOver>,
    /// A reconfig committed under this leader designated another (Apache's
    /// `allowedToCommit = false`): that server, and the tick by which this leader
    /// follows it even if its learners have not all left.
    pub handover: Option<(ServerId, u64)>,
}

impl Handler {
    /// A learner that just sent FOLLOWERINFO / OBSERVERINFO; `initial_deadline` is Apache's
    /// `getTickOfInitialAckDeadline` (now + initLimit + syncLimit).
    pub fn new(observer: bool, tick: u64, initial_deadline: u64) -> Handler {
        Handler {
            observer,
            phase: HandlerPhase::Connected,
            peer_last: Zxid::ZERO,
            sync_upto: Zxid::ZERO,
            acked: Zxid::ZERO,
            commit_sent: Zxid::ZERO,
            last_heard: tick,
            ack_deadline: initial_deadline,
            zk_rs: false,
        }
    }
}

impl LeaderState {
    /// A prospective leader `me`: connected to itself only, with its own accepted epoch,
    /// `(current_epoch, last)` as its state summary and until tick `deadline` to find a quorum.
    pub fn new(
        me: ServerId,
        accepted_epoch: Epoch,
        current_epoch: Epoch,
        last: Zxid,
        deadline: u64,
    ) -> LeaderState {
        let mut connecting = BTreeMap::new();
        connecting.insert(me, accepted_epoch);
        LeaderState {
            phase: LeaderPhase::Discovery,
            epoch: None,
            accepted_saved: false,
            current_saved: false,
            connecting,
            max_seen_epoch: accepted_epoch,
            epoch_acked: Vec::new(),
            summary: (current_epoch, last),
            handlers: BTreeMap::new(),
            phase_deadline: deadline,
            last_proposed: last,
            pending_syncs: Vec::new(),
            next_ping: 0,
            scratch_acks: Vec::new(),
            scratch_set: Vec::new(),
            handover: None,
            rqld: None,
        }
    }

    pub fn is_broadcasting(&self) -> bool {
        self.phase == LeaderPhase::Broadcast
    }

    /// Whether an ACK of `zxid` from `from` acknowledges our NEWLEADER (counter 0 of our
    /// epoch, from a learner being synced) rather than proposals.
    pub fn is_new_leader_ack(&self, from: ServerId, zxid: Zxid) -> bool {
        match (self.epoch, self.handlers.get(&from)) {
            (Some(e), Some(h)) => h.phase == HandlerPhase::Syncing && zxid == Zxid::new(e, 0),
            _ => false,
        }
    }
}

/// Learners known to a leader, by sid.
pub(crate) type Handlers = BTreeMap<ServerId, Handler>;

// ---- following, observing ----

/// Where a follower or observer stands (`Learner.registerWithLeader`, `syncWithLeader`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum LearnerPhase {
    AwaitLeaderInfo,
    AwaitAcceptedSave,
    /// ACKEPOCH sent; waiting for DIFF / TRUNC / SNAP.
    AwaitSyncMode,
    Syncing,
    /// NEWLEADER received; waiting for durability and the current epoch.
    AwaitNewLeaderAck,
    /// NEWLEADER acknowledged; waiting for UPTODATE.
    AwaitUpToDate,
    Broadcast,
}

/// A follower's or observer's state (ZooKeeper's `Learner`), for one leader.
#[derive(Debug)]
pub(crate) struct LearnerState {
    pub leader: ServerId,
    pub observer: bool,
    pub phase: LearnerPhase,
    pub new_epoch: Option<Epoch>,
    pub newleader_zxid: Zxid,
    /// Our last zxid when NEWLEADER arrived: what its ACK vouches for.
    pub sync_upto: Zxid,
    /// Highest COMMIT received before UPTODATE.
    pub pending_commit: Zxid,
    pub saving_current_epoch: bool,
    /// Our last zxid once DIFF / TRUNC / SNAP was applied: held by the leader too.
    pub synced_from: Zxid,
    /// Highest proposal acknowledged.
    pub acked: Zxid,
    pub last_heard: u64,
    /// The leader is a zk-rs server (its LEADERINFO carried the mark): `rqld` may ask it.
    pub leader_zk_rs: bool,
    /// The successor a COMMITANDACTIVATE / INFORMANDACTIVATE named before UPTODATE: the
    /// handover happens when UPTODATE commits it.
    pub designated: Option<ServerId>,
    /// The view NEWLEADER carried (the leader's last seen one): activated at UPTODATE when
    /// newer than ours (Apache's `newLeaderQV`), not before the leader is established.
    pub newleader_config: Option<bytes::Bytes>,
}

impl LearnerState {
    /// Connecting to `leader`: FOLLOWERINFO / OBSERVERINFO is on its way.
    pub fn new(leader: ServerId, observer: bool, tick: u64) -> LearnerState {
        LearnerState {
            leader,
            observer,
            phase: LearnerPhase::AwaitLeaderInfo,
            new_epoch: None,
            newleader_zxid: Zxid::ZERO,
            sync_upto: Zxid::ZERO,
            pending_commit: Zxid::ZERO,
            saving_current_epoch: false,
            synced_from: Zxid::ZERO,
            acked: Zxid::ZERO,
            last_heard: tick,
            leader_zk_rs: false,
            designated: None,
            newleader_config: None,
        }
    }

    pub fn is_broadcasting(&self) -> bool {
        self.phase == LearnerPhase::Broadcast
    }
}
