//! zab-core: ZooKeeper's protocol types and the sans-I/O ZAB state machine.
//!
//! This crate owns the words of the protocol: [`Zxid`], [`Epoch`], [`ServerId`],
//! the jute encoding ([`jute`]) with the records that travel both on the client
//! port and in the transaction log ([`records`], [`txn`]).
//! It performs no I/O, reads no clock and draws no unseeded randomness: disks,
//! sockets and timers belong to `zab-storage`, `zab-net` and `zk-server`.

pub mod jute;
pub mod records;
pub mod txn;
pub mod types;

pub use types::{Epoch, ServerId, Zxid};
pub mod broadcast;
pub mod discovery;
mod dispatch;
mod driver;
pub mod election;
mod log;
pub mod peer;
pub mod quorum;
mod role;
pub mod sync;
#[cfg(test)]
mod testing;
pub mod wire;

pub use election::Vote;
pub use peer::{Action, Config, Event, Peer, PeerStatus, PersistentState, ZabPhase};
pub use wire::{Notification, QuorumPacket, ServerState};
#[cfg(feature = "sim")]
pub mod sim;
