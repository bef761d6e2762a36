//! The one seam between the request pipeline and durability / replication.
//!
//! ```text
//!            prep --propose(zxid, txn)--> Replicator ----+  StandaloneLog: append + group flush
//!   (core)                                               |  DriverLink:    zab-core proposal (leader)
//!            apply <--ReplicationMsg::Committed-- -------+
//! ```
//! The core hands every prepared transaction to a [`Replicator`] and applies
//! transactions only when they come back on its [`ReplicationMsg`] channel as
//! `Committed`, in zxid order. Standalone is the one-server case: the
//! [`StandaloneLog`] reports a transaction committed once it is durable in the
//! local log. In an ensemble the [`DriverLink`] hands it to the peer driver
//! (`crate::peer`), which reports it committed after a quorum of ACKs. The
//! pipeline is the same; one commit path comes back.
//!
//! An ensemble's replication also tells the core more than commits (its role,
//! learners' requests, a tree to install after SNAP); those travel on the same
//! channel, so the core sees them in the order the driver sent them. Requests of
//! the core to the driver that are not proposals ([`DriverMsg`]: forwarding to
//! the leader, answering a learner) go through the [`DriverLink`] the core keeps
//! while it leads or follows.

mod standalone;

use std::collections::HashMap;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use zab_core::records::Id;
use zab_core::Zxid;

use crate::tree::DataTree;

pub use standalone::{MemorySink, StandaloneLog, TxnSink};

/// Takes prepared transactions for durability and replication.
pub trait Replicator: Send {
    /// Replicate one serialized transaction; it comes back as
    /// [`ReplicationMsg::Committed`] once committed.
    fn propose(&mut self, zxid: Zxid, txn: Bytes);
    /// A snapshot starts: later transactions may go to a new log segment.
    fn roll_log(&mut self);
    /// Standalone, after a restore wrote the restored tree as a snapshot at `zxid`:
    /// the next transaction follows `zxid` in the log.
    fn restart_log_at(&mut self, _zxid: Zxid) {}
}

/// How the core reaches replication, and how replication reaches it.
pub struct Replication {
    pub replicator: Box<dyn Replicator>,
    /// Everything replication tells the core, in the order it was sent.
    pub rx: mpsc::Receiver<ReplicationMsg>,
    /// In an ensemble: the driver, for what is not a proposal.
    pub driver: Option<DriverLink>,
    /// What the log's writer measures (`fsynctime`, `sync_processor_*`).
    pub log_metrics: std::sync::Arc<crate::core::LogMetrics>,
}

/// Messages of [`ReplicationMsg`] queued to the core at most (the driver waits when
/// the core is behind; every queue is bounded).
pub const REPLICATION_QUEUE: usize = 10_000;

/// The server's place in the ensemble, as replication decides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Standalone,
    Looking,
    Leading,
    Following,
    Observing,
}

impl Role {
    /// ZooKeeper's name, as `srvr` prints it after `Mode:`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Standalone => "standalone",
            Role::Looking => "looking",
            Role::Leading => "leader",
            Role::Following => "follower",
            Role::Observing => "observer",
        }
    }

    pub fn serving(self) -> bool {
        self != Role::Looking
    }

    pub fn learner(self) -> bool {
        matches!(self, Role::Following | Role::Observing)
    }
}

/// An observer connected to this leader, as the AdminServer's `observers` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObserverInfo {
    pub sid: u64,
    /// Its quorum connection's remote address, when connected.
    pub addr: Option<std::net::SocketAddr>,
    /// Wall-clock ms when this leader first saw it.
    pub established_ms: i64,
}

/// What replication tells the core.
pub enum ReplicationMsg {
    /// Committed transactions, in zxid order: apply them. Those this server
    /// proposed are applied from the pipeline's own copy; the bytes are for the
    /// rest (a learner learns of every transaction here).
    Committed(Vec<(Zxid, Bytes)>),
    /// The role changed; a leader's first proposal is `Zxid::new(epoch, 1)`.
    Role { role: Role, epoch: u64 },
    /// What the admin server reports of the peer: the leader it knows (its vote's
    /// leader while looking) and ZooKeeper's ZAB phase name (`election`, `discovery`,
    /// `synchronization`, `broadcast`). Sent whenever either changes.
    Status {
        leader: Option<u64>,
        zab_phase: &'static str,
    },
    /// Leader: the observers connected to it now (sent when the set changes).
    Observers(Vec<ObserverInfo>),
    /// Leader: a learner forwarded a client request (REQUEST).
    Remote {
        from: u64,
        data: Bytes,
        auth: Vec<Id>,
    },
    /// Leader: a learner reported session activity (PING data).
    Touch(Bytes),
    /// Learner: the leader answered the oldest forwarded sync.
    SyncDone,
    /// Leader: a learner asks whether a session its client reconnected with is valid
    /// (REVALIDATE: `sessionId timeout`).
    Revalidate { from: u64, data: Bytes },
    /// Learner: the leader's answer to our REVALIDATE (`sessionId valid`).
    Revalidated(Bytes),
    /// Leader: the followers synced with it now (sent when the set changes).
    SyncedFollowers(Vec<u64>),
    /// The membership a committed reconfig activated (its text, with `version=`).
    ConfigActivated { text: String, version: i64 },
    /// Leader: what is known of the learners (for `mntr`).
    Learners(zab_core::peer::LearnerSummary),
    /// Leader: the whole tree, serialized as a snapshot, for a SNAP sync.
    Snapshot { reply: oneshot::Sender<Vec<u8>> },
    /// Learner: the tree after a SNAP or a TRUNC.
    ReplaceTree {
        tree: Box<DataTree>,
        sessions: HashMap<i64, i32>,
    },
}

/// What the core asks of the peer driver.
pub enum DriverMsg {
    /// Leader: replicate this transaction.
    Propose(Bytes),
    /// Learner: a packet for the leader (REQUEST, PING with sessions).
    Forward(zab_core::wire::QuorumPacket),
    /// Leader: answer a learner's sync once everything proposed so far is committed.
    Sync { learner: u64 },
    /// Leader: a packet for one learner (the answer to its REVALIDATE).
    Reply {
        to: u64,
        msg: zab_core::wire::QuorumPacket,
    },
    /// Leader: hand leadership over (`ydld`), backing others for `yield_ms`.
    YieldLeadership { yield_ms: u64 },
    /// Any member: ask for leadership for this server (`rqld`); answered on `reply`
    /// at once or when the leader answers (zab-core's `handover`).
    RequestLeadership {
        reply: tokio::sync::oneshot::Sender<zab_core::peer::RqldAnswer>,
    },
}

/// The core's end of the channel to the peer driver: the ensemble's
/// [`Replicator`], and the way to the leader or the learners.
#[derive(Clone)]
pub struct DriverLink {
    tx: mpsc::Sender<DriverMsg>,
}

impl DriverLink {
    pub fn new(tx: mpsc::Sender<DriverMsg>) -> DriverLink {
        DriverLink { tx }
    }

    /// Queue a message for the driver; dropped (and said) when it is not keeping up.
    pub fn send(&self, m: DriverMsg) {
        if self.tx.try_send(m).is_err() {
            tracing::warn!("peer driver is not keeping up; dropping a message");
        }
    }
}

impl Replicator for DriverLink {
    fn propose(&mut self, _zxid: Zxid, txn: Bytes) {
        self.send(DriverMsg::Propose(txn));
    }

    /// The ensemble's log rolls by itself (zab-storage); a snapshot does not roll it.
    fn roll_log(&mut self) {}
}
