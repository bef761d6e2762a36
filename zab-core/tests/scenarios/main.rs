//! Scripted scenarios on the simulator: start, crash, partition, hold, deliver, check.
//!
//! Each scenario runs on a quiet world (no random faults, no background load unless the
//! script turns it on) for several seeds, which vary message delays and reordering,
//! disk latency, and whether an epoch file overtakes earlier log writes. The simulator checks its invariants after every event (one leader per
//! epoch, committed prefixes agree and stay durable on a quorum, persist-before-ACK, a
//! LOOKING peer writes nothing); the scripts check what their story is about.
//! A failure names the seed and the command that replays it.
//!
//! The regressions are named after the Apache ZooKeeper bugs they guard against.

mod handover;
mod learner_requests;
mod liveness;
mod reconfig;
mod regressions;
mod regressions_reconfig;
mod rqld;
mod splits;
mod support;
