//! Rolling replacement of an ensemble's members one server at a time (issue 12's migration
//! and its way back): the step that replaces one member under a kazoo client's writes, and
//! the order a runbook follows (followers first, the leader last). Shared by the 3- and
//! 5-server roll tests.

use std::time::Duration;

use crate::ensemble::Ensemble;
use crate::kazoo::Writer;
use crate::{wait_until, Kind};

/// The members of `ens` in the order a roll replaces them: the followers, then `leader`.
pub fn leader_last(ens: &Ensemble, leader: u64) -> Vec<u64> {
    let mut order: Vec<u64> = ens.ids().into_iter().filter(|i| *i != leader).collect();
    order.push(leader);
    order
}

/// Replaces server `id` by one of `kind` on its data directory while a kazoo client writes
/// through the whole ensemble for `write_seconds`; `before_start` runs between the kill and
/// the start (the export back to Apache's files). Returns the writes acknowledged during the
/// step.
pub fn replace_under_load(
    ens: &mut Ensemble,
    id: u64,
    kind: Kind,
    prefix: &str,
    write_seconds: f64,
    before_start: impl FnOnce(&Ensemble),
) -> Vec<u64> {
    let writer = Writer::start(&ens.connect_string(), write_seconds, prefix);
    // Some writes land before the server goes.
    assert!(
        wait_until(Duration::from_secs(20), || !writer.acks().is_empty()),
        "no write acknowledged before replacing server {id}"
    );
    ens.kill(id);
    before_start(ens);
    ens.set_kind(id, kind);
    ens.start(id);
    let leader = ens.wait_serving(&ens.ids(), Duration::from_secs(60));
    eprintln!("{prefix}: server {id} is {kind:?} now; leader {leader}");
    let lines = writer.finish(Duration::from_secs(90));
    let acked: Vec<u64> = lines.iter().filter_map(|v| v["ack"].as_u64()).collect();
    assert!(!acked.is_empty(), "no acknowledged writes under {prefix}");
    acked
}
