//! The driver's side of the core: what it feeds in and what it must do.
//!
//! Owns the vocabulary between [`crate::peer::Peer`] and the code that runs it (in
//! `zk-server`, or the simulator): [`Event`] in, [`Action`] out, the [`Config`] and the
//! [`PersistentState`] a peer is built from, and the [`PeerStatus`] it reports. Re-exported
//! by [`crate::peer`]; nothing here decides anything.
//!
//! # The driver's contract (like etcd raft's `Ready`)
//!
//! * **Order.** Execute the actions of one step in the order given. Storage actions
//!   (`Append`, `Truncate`, `InstallSnapshot`, `Save*Epoch`) apply to the log in that
//!   order; sends on one connection leave in that order (the quorum channel is FIFO).
//! * **Persist, then report.** Writes may be batched and made durable later, but
//!   durability must be reported: `Persisted { upto }` once every log entry with zxid
//!   `<= upto` (as the log stands after the actions executed so far) is on disk, also
//!   after `InstallSnapshot`; `AcceptedEpochSaved(e)` / `CurrentEpochSaved(e)` once the
//!   epoch file is on disk. `Truncate` must be durable before the next action runs.
//! * **The core waits; the driver need not.** Every message that promises durability
//!   (ACKEPOCH after a new accepted epoch, the ACK of NEWLEADER, the ACK of a PROPOSAL)
//!   is emitted only after the matching report, so a driver may send every `Send` at once.
//! * **Apply.** `Commit { upto }` makes every logged entry `<= upto` committed; apply
//!   them to the data tree in zxid order. They may not be durable yet on this peer.
//! * **Snapshots.** `SendSnapshot { to, zxid }`: write a SNAP packet with `zxid` and then
//!   the state as of commit point `zxid` (all `Commit`s up to it came before) in Apache
//!   ZooKeeper's serialization ([`crate::zkdb`]) and its signature.
//!   A learner's driver reads that stream, hands `Received { Snap }` to the core, and
//!   installs the snapshot (replacing data tree and log) only if the core answers
//!   `InstallSnapshot`; otherwise it drops it.
//! * **Restart.** After a crash build a new [`Peer`](crate::peer::Peer) from
//!   [`PersistentState`] (what is on disk, nothing more) and feed [`Event::Start`].
//! * **Connections.** A learner's first packet to its leader (FOLLOWERINFO/OBSERVERINFO)
//!   opens a quorum connection. While the leader does not accept it yet (it may still be
//!   finishing its election), retry connecting (ZooKeeper: 5 attempts a second apart)
//!   before reporting `Disconnected`. Report a broken connection with `Disconnected`.
//!   When the role leaves LEADING/FOLLOWING/OBSERVING ([`Action::StateChanged`]) close
//!   quorum connections and drop whatever they still carry.

use std::sync::Arc;

use bytes::Bytes;

use crate::quorum::QuorumVerifier;
use crate::wire::{Notification, QuorumPacket, ServerState};
use crate::{Epoch, ServerId, Zxid};

/// What happens to a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Begin (after construction or a restart): start an election.
    Start,
    /// One unit of time passed (the driver's `tick_ms`).
    Tick,
    /// An election notification arrived.
    Notification {
        from: ServerId,
        n: Notification,
    },
    /// A quorum packet arrived on the connection with `from`.
    Received {
        from: ServerId,
        msg: QuorumPacket,
    },
    /// The quorum connection with `peer` broke.
    Disconnected {
        peer: ServerId,
    },
    /// Every log entry `<= upto` is durable.
    Persisted {
        upto: Zxid,
    },
    AcceptedEpochSaved(Epoch),
    CurrentEpochSaved(Epoch),
    /// A transaction to replicate (a serialized `Txn`); honoured by an established leader only.
    Propose(Bytes),
    /// A learner's packet for its leader (REQUEST, REVALIDATE, PING with sessions).
    Forward(QuorumPacket),
    /// A leader's packet for one learner (an answer to REVALIDATE).
    Reply {
        to: ServerId,
        msg: QuorumPacket,
    },
    /// The leader's pipeline reached a learner's `sync()`: answer once all proposals so far are committed.
    SyncRequest {
        learner: ServerId,
    },
    /// An operator asks an established leader to hand over (ClickHouse Keeper's `ydld`):
    /// it goes back to election and, for `yield_ticks`, backs only peers at least as
    /// up to date as itself, never itself. Ignored by any other role.
    YieldLeadership {
        yield_ticks: u32,
    },
    /// An operator asks for leadership for this server (ClickHouse Keeper's `rqld`):
    /// a synced follower asks its leader, if the leader is ours ([`crate::handover`]).
    /// Answered by [`Action::RqldAnswer`], at once or when the leader's answer comes.
    RequestLeadership,
}

/// The answer to [`Event::RequestLeadership`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RqldAnswer {
    AlreadyLeader,
    /// Not a synced follower (looking, observing, or still syncing).
    NotFollowing,
    /// The leader is not a zk-rs server: it would not understand the request.
    LeaderNotZkRs(ServerId),
    /// What the leader answered.
    Leader(crate::wire::HandOverOutcome),
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    SendNotification {
        to: ServerId,
        n: Notification,
    },
    Send {
        to: ServerId,
        msg: QuorumPacket,
    },
    /// SNAP packet followed by the snapshot stream as of commit point `zxid`.
    SendSnapshot {
        to: ServerId,
        zxid: Zxid,
    },
    /// Append to the log, then report `Persisted`.
    Append(Vec<(Zxid, Bytes)>),
    /// Drop every log entry above `to`, durably, before going on.
    Truncate {
        to: Zxid,
    },
    /// Install the snapshot just received (state and log restart at `zxid`), then report `Persisted { upto: zxid }`.
    InstallSnapshot {
        zxid: Zxid,
    },
    SaveAcceptedEpoch(Epoch),
    SaveCurrentEpoch(Epoch),
    /// Everything logged up to `upto` is committed: apply it.
    Commit {
        upto: Zxid,
    },
    /// A packet for the server's request pipeline (REQUEST, REVALIDATE, SYNC, session PINGs).
    Deliver {
        from: ServerId,
        msg: QuorumPacket,
    },
    StateChanged(PeerStatus),
    /// A committed reconfig made `config` (a membership text, `version=<hex>` last)
    /// the quorum view: connect to its servers, write it where a restart finds it,
    /// show it in `/zookeeper/config`. Follows the `Commit` that committed it.
    Activate {
        config: Bytes,
        version: i64,
    },
    /// The answer to the operator's `rqld` on this server.
    RqldAnswer(RqldAnswer),
}

/// ZooKeeper's `ZabState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZabPhase {
    Election,
    Discovery,
    Synchronization,
    Broadcast,
}

/// Role and phase, reported on every change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerStatus {
    pub state: ServerState,
    pub phase: ZabPhase,
    pub leader: Option<ServerId>,
    pub epoch: Epoch,
}

/// Static configuration. Times are in ticks.
#[derive(Debug, Clone)]
pub struct Config {
    pub my_id: ServerId,
    pub quorum: Arc<dyn QuorumVerifier>,
    /// Opaque configuration text sent in notifications and NEWLEADER.
    pub config_data: Bytes,
    pub config_version: i64,
    /// `reconfigEnabled`: whether a committed reconfig, or a newer view from NEWLEADER or a
    /// notification, changes the view (Apache's `processReconfig` does nothing otherwise).
    pub reconfig_enabled: bool,
    pub finalize_wait_ticks: u32,
    pub min_notification_ticks: u32,
    pub max_notification_ticks: u32,
    pub init_limit_ticks: u64,
    pub sync_limit_ticks: u64,
    pub ping_interval_ticks: u64,
    /// How many committed proposals the window keeps for DIFF (`commitLogCount`).
    pub log_window: usize,
}

impl Config {
    /// Defaults for a 100 ms tick: ZooKeeper's tickTime 2000, initLimit 10, syncLimit 5, finalizeWait 200 ms.
    pub fn new(my_id: ServerId, quorum: Arc<dyn QuorumVerifier>) -> Config {
        Config {
            my_id,
            quorum,
            config_data: Bytes::new(),
            config_version: 0,
            reconfig_enabled: true,
            finalize_wait_ticks: 2,
            min_notification_ticks: 2,
            max_notification_ticks: 600,
            init_limit_ticks: 200,
            sync_limit_ticks: 100,
            ping_interval_ticks: 10,
            log_window: 500,
        }
    }
}

/// What a peer finds on disk when it starts.
#[derive(Debug, Clone, Default)]
pub struct PersistentState {
    pub accepted_epoch: Epoch,
    pub current_epoch: Epoch,
    /// The snapshot point: everything up to it is committed and not in `recent`.
    pub base: Zxid,
    /// The tail of the log after `base`, ascending (may be cut short: older entries are then served by SNAP).
    pub recent: Vec<(Zxid, Bytes)>,
    /// The last zxid the driver knows committed (`base` if unknown).
    pub last_committed: Zxid,
}
