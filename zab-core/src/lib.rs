//! zab-core: ZooKeeper's protocol types and the sans-I/O ZAB state machine.
//!
//! This crate owns the words of the protocol: [`Zxid`], [`Epoch`], [`ServerId`],
//! the jute encoding ([`jute`]) with the records that travel both on the client
//! port and in the transaction log ([`records`], [`txn`]), the client
//! protocol's records and request decoder ([`proto`]) and znode path
//! validation ([`path`]).
//! It performs no I/O, reads no clock and draws no unseeded randomness: disks,
//! sockets and timers belong to `zab-storage`, `zab-net` and `zk-server`.
//!
//! The state machine, from the bottom up (each module depends only on those above it
//! in this list; none on a later phase's):
//!
//! * [`wire`], [`quorum`]: packets and notifications; who forms a quorum.
//! * `driver.rs`: [`Event`] in, [`Action`] out, [`Config`], [`PersistentState`],
//!   [`PeerStatus`]: the contract with whoever runs the core.
//! * `log.rs`: the in-memory window of the transaction log.
//! * `role.rs`: each role's state: the leader's, one per learner it handles, the learner's.
//! * [`election`]: FastLeaderElection, a state machine of its own.
//! * [`peer`]: [`Peer`] with its state and the helpers of every phase (`become_looking`).
//! * the phases: [`broadcast`]; [`sync`], which hands over to broadcast; [`discovery`],
//!   which hands over to sync. Any of them may go back to election (`become_looking`).
//! * `dispatch.rs`: [`Peer::step`], routing each event to its phase's handler.
//!
//! `sim` (feature `sim`, for tests only): a seeded simulator of a whole ensemble.

pub mod jute;
pub mod path;
pub mod proto;
pub mod records;
pub mod txn;
pub mod types;
pub mod zkdb;

pub use types::{Epoch, ServerId, Zxid};

pub mod quorum;
pub mod wire;

mod driver;
mod log;
mod role;

pub mod broadcast;
pub mod discovery;
pub mod election;
mod handover;
pub mod peer;
pub mod reconfig;
pub mod sync;

mod dispatch;

#[cfg(feature = "sim")]
pub mod sim;
#[cfg(test)]
mod testing;

pub use election::Vote;
pub use peer::{Action, Config, Event, Peer, PeerStatus, PersistentState, RqldAnswer, ZabPhase};
pub use wire::{Notification, QuorumPacket, ServerState};
