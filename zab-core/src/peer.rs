//! The peer: one ZooKeeper server's protocol state as a pure state machine.
//!
//! Owns the role (LOOKING, LEADING, FOLLOWING, OBSERVING), the in-memory window of the
//! transaction log (kept by `crate::log`), the epochs, and the order in which things may happen. It performs
//! no I/O: the driver feeds [`Event`]s to [`Peer::step`] and executes the returned
//! [`Action`]s. The phases live in their own modules: [`crate::election`],
//! [`crate::discovery`], [`crate::sync`], [`crate::broadcast`].
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
//!   the serialized state as of commit point `zxid` (all `Commit`s up to it came before).
//!   A learner's driver reads that stream, hands `Received { Snap }` to the core, and
//!   installs the snapshot (replacing data tree and log) only if the core answers
//!   `InstallSnapshot`; otherwise it drops it.
//! * **Restart.** After a crash build a new [`Peer`] from [`PersistentState`] (what is on
//!   disk, nothing more) and feed [`Event::Start`].
//! * **Connections.** A learner's first packet to its leader (FOLLOWERINFO/OBSERVERINFO)
//!   opens a quorum connection. While the leader does not accept it yet (it may still be
//!   finishing its election), retry connecting (ZooKeeper: 5 attempts a second apart)
//!   before reporting `Disconnected`. Report a broken connection with `Disconnected`. When the role
//!   leaves LEADING/FOLLOWING/OBSERVING ([`Action::StateChanged`]) close quorum
//!   connections and drop whatever they still carry.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use crate::election::{notification_of, Election, ElectionCtx, Vote};
use crate::log::Log;
use crate::quorum::QuorumVerifier;
use crate::role::{HandlerPhase, Role};
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

/// One ZooKeeper server's protocol state.
#[derive(Debug)]
pub struct Peer {
    pub(crate) cfg: Config,
    pub(crate) participant: bool,
    pub(crate) tick: u64,
    pub(crate) accepted_epoch: Epoch,
    pub(crate) current_epoch: Epoch,
    pub(crate) log: Log,
    pub(crate) election: Election,
    pub(crate) vote: Vote,
    pub(crate) role: Role,
    pub(crate) out: Vec<Action>,
}

impl Peer {
    pub fn new(cfg: Config, st: PersistentState) -> Peer {
        let mut entries: VecDeque<(Zxid, Bytes)> =
            st.recent.into_iter().filter(|e| e.0 > st.base).collect();
        entries.make_contiguous().sort_by_key(|e| e.0);
        let last = entries.back().map(|e| e.0).unwrap_or(st.base);
        let committed = st.last_committed.max(st.base).min(last);
        let participant = cfg.quorum.is_voter(cfg.my_id);
        let window = cfg.log_window.max(1);
        Peer {
            participant,
            tick: 0,
            accepted_epoch: st.accepted_epoch,
            current_epoch: st.current_epoch,
            log: Log {
                base: st.base,
                entries,
                durable: last,
                committed,
                window,
            },
            election: Election::new(),
            vote: Vote {
                leader: cfg.my_id,
                zxid: last,
                election_epoch: 0,
                peer_epoch: st.current_epoch,
                state: ServerState::Looking,
            },
            role: Role::Looking,
            out: Vec::new(),
            cfg,
        }
    }

    /// Feeds one event; returns the actions to execute, in order.
    pub fn step(&mut self, ev: Event) -> Vec<Action> {
        let mut out = Vec::new();
        self.step_into(ev, &mut out);
        out
    }

    /// Like [`Peer::step`], appending to `out` (reuses its allocation).
    pub fn step_into(&mut self, ev: Event, out: &mut Vec<Action>) {
        std::mem::swap(&mut self.out, out);
        self.dispatch(ev);
        std::mem::swap(&mut self.out, out);
    }

    fn dispatch(&mut self, ev: Event) {
        match ev {
            Event::Start => self.become_looking(),
            Event::Tick => {
                self.tick += 1;
                match self.role {
                    Role::Looking => self.run_election(|e, ctx, out| e.on_tick(ctx, out)),
                    Role::Leading(_) => self.on_leader_tick(),
                    Role::Learning(_) => self.on_learner_tick(),
                }
            }
            Event::Notification { from, n } => self.on_notification(from, n),
            Event::Received { from, msg } => match self.role {
                Role::Looking => {}
                Role::Leading(_) => self.on_leader_received(from, msg),
                Role::Learning(ref l) => {
                    if l.leader == from {
                        self.on_learner_received(msg);
                    }
                }
            },
            Event::Disconnected { peer } => match &mut self.role {
                Role::Looking => {}
                Role::Leading(l) => {
                    l.handlers.remove(&peer);
                }
                Role::Learning(l) => {
                    if l.leader == peer {
                        self.become_looking();
                    }
                }
            },
            Event::Persisted { upto } => {
                self.log.on_persisted(upto);
                match self.role {
                    Role::Looking => {}
                    Role::Leading(_) => self.on_leader_persisted(),
                    Role::Learning(_) => self.on_learner_persisted(),
                }
            }
            Event::AcceptedEpochSaved(e) => {
                self.accepted_epoch = self.accepted_epoch.max(e);
                match self.role {
                    Role::Looking => {}
                    Role::Leading(_) => self.on_leader_accepted_epoch_saved(e),
                    Role::Learning(_) => self.on_learner_accepted_epoch_saved(e),
                }
            }
            Event::CurrentEpochSaved(e) => {
                self.current_epoch = self.current_epoch.max(e);
                match self.role {
                    Role::Looking => {}
                    Role::Leading(_) => self.on_leader_current_epoch_saved(e),
                    Role::Learning(_) => self.on_learner_current_epoch_saved(e),
                }
            }
            Event::Propose(data) => self.on_propose(data),
            Event::Forward(msg) => {
                if let Role::Learning(l) = &self.role {
                    self.out.push(Action::Send { to: l.leader, msg });
                }
            }
            Event::Reply { to, msg } => {
                if let Role::Leading(l) = &self.role {
                    if l.handlers.contains_key(&to) {
                        self.out.push(Action::Send { to, msg });
                    }
                }
            }
            Event::SyncRequest { learner } => self.on_sync_request(learner),
        }
    }

    fn run_election(
        &mut self,
        f: impl FnOnce(&mut Election, &ElectionCtx<'_>, &mut Vec<Action>) -> Option<Vote>,
    ) {
        let ctx = ElectionCtx {
            my_id: self.cfg.my_id,
            participant: self.participant,
            last_zxid: self.log.last(),
            current_epoch: self.current_epoch,
            quorum: &*self.cfg.quorum,
            config: &self.cfg.config_data,
            finalize_wait_ticks: self.cfg.finalize_wait_ticks,
            min_notification_ticks: self.cfg.min_notification_ticks,
            max_notification_ticks: self.cfg.max_notification_ticks,
        };
        if let Some(v) = f(&mut self.election, &ctx, &mut self.out) {
            self.on_elected(v);
        }
    }

    fn on_notification(&mut self, from: ServerId, n: Notification) {
        if let Role::Looking = self.role {
            self.run_election(|e, ctx, out| e.on_notification(ctx, from, &n, out));
            return;
        }
        // WorkerReceiver while settled: tell a looking peer (or any non-voter) who leads.
        if n.state == ServerState::Looking || !self.cfg.quorum.is_voter(from) {
            let n = notification_of(&self.vote, &self.cfg.config_data);
            self.out.push(Action::SendNotification { to: from, n });
        }
    }

    fn on_elected(&mut self, v: Vote) {
        self.vote = v;
        match v.state {
            ServerState::Leading => self.become_leading(),
            ServerState::Following | ServerState::Observing => self.become_learner(v.leader),
            ServerState::Looking => unreachable!("an election decides a settled state"),
        }
    }

    /// Back to election: drop the role and everything it was waiting for (ZOOKEEPER-4712:
    /// nothing that arrives for the old role is logged or acknowledged afterwards).
    pub(crate) fn become_looking(&mut self) {
        self.role = Role::Looking;
        self.vote.state = ServerState::Looking;
        self.status(
            ServerState::Looking,
            ZabPhase::Election,
            None,
            self.current_epoch,
        );
        self.run_election(|e, ctx, out| e.start(ctx, out));
    }

    pub(crate) fn status(
        &mut self,
        state: ServerState,
        phase: ZabPhase,
        leader: Option<ServerId>,
        epoch: Epoch,
    ) {
        self.out.push(Action::StateChanged(PeerStatus {
            state,
            phase,
            leader,
            epoch,
        }));
    }

    /// Marks everything up to `upto` committed and tells the driver.
    pub(crate) fn commit_to(&mut self, upto: Zxid) {
        let upto = upto.min(self.log.last());
        if upto > self.log.committed {
            self.log.committed = upto;
            self.out.push(Action::Commit { upto });
            self.log.trim();
        }
    }

    // ---- read-only views for drivers and tests ----

    pub fn id(&self) -> ServerId {
        self.cfg.my_id
    }
    pub fn state(&self) -> ServerState {
        match &self.role {
            Role::Looking => ServerState::Looking,
            Role::Leading(_) => ServerState::Leading,
            Role::Learning(l) if l.observer => ServerState::Observing,
            Role::Learning(_) => ServerState::Following,
        }
    }
    /// The leader this peer follows or is, once elected.
    pub fn leader(&self) -> Option<ServerId> {
        match &self.role {
            Role::Looking => None,
            Role::Leading(_) => Some(self.cfg.my_id),
            Role::Learning(l) => Some(l.leader),
        }
    }
    /// An established leader in broadcast: `Propose` is honoured.
    pub fn can_propose(&self) -> bool {
        matches!(&self.role, Role::Leading(l) if l.is_broadcasting())
    }
    /// In the broadcast phase, as leader or learner.
    pub fn is_broadcasting(&self) -> bool {
        match &self.role {
            Role::Looking => false,
            Role::Leading(l) => l.is_broadcasting(),
            Role::Learning(l) => l.is_broadcasting(),
        }
    }
    pub fn last_zxid(&self) -> Zxid {
        self.log.last()
    }
    pub fn last_committed(&self) -> Zxid {
        self.log.committed
    }
    pub fn accepted_epoch(&self) -> Epoch {
        self.accepted_epoch
    }
    pub fn current_epoch(&self) -> Epoch {
        self.current_epoch
    }
    pub fn vote(&self) -> Vote {
        self.vote
    }
    pub fn logical_clock(&self) -> u64 {
        self.election.logical_clock
    }
    /// A leader's learners, for monitoring (`mntr`'s zk_followers, zk_synced_followers,
    /// zk_pending_syncs): empty unless leading.
    pub fn learners(&self) -> LearnerSummary {
        let mut s = LearnerSummary::default();
        if let Role::Leading(l) = &self.role {
            for h in l.handlers.values() {
                let synced = matches!(h.phase, HandlerPhase::Synced | HandlerPhase::UpToDate);
                if h.observer {
                    s.observers += 1;
                } else {
                    s.followers += 1;
                    s.synced_followers += synced as usize;
                }
            }
            s.pending_syncs = l.pending_syncs.len();
        }
        s
    }
    /// The epoch being established or led (leader) or followed (learner).
    pub fn epoch(&self) -> Option<Epoch> {
        match &self.role {
            Role::Looking => None,
            Role::Leading(l) => l.epoch,
            Role::Learning(l) => l.new_epoch,
        }
    }
}

/// What a leader knows of its learners, for monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LearnerSummary {
    pub followers: usize,
    pub synced_followers: usize,
    pub observers: usize,
    pub pending_syncs: usize,
}
