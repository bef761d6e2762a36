//! Synchronisation by DIFF across implementations (issue 12): a learner that was down while
//! the others took writes comes back and is sent the missing proposals, an Apache
//! ZooKeeper 3.8 learner from our leader and ours from an Apache leader. Every write
//! acknowledged before and while it was down must then be readable through it alone, and
//! writes through it must reach the others.

use std::time::Duration;

use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::kazoo::Writer;
use zk_tests::Kind;

fn write(hosts: &str, prefix: &str) -> Vec<u64> {
    let lines = Writer::start(hosts, 0.5, prefix).finish(Duration::from_secs(60));
    let acked: Vec<u64> = lines.iter().filter_map(|v| v["ack"].as_u64()).collect();
    assert!(!acked.is_empty(), "no acknowledged writes under {prefix}");
    acked
}

/// Servers 3 and 2 elect 3 (the higher id); 1, of the other kind, follows; 1 goes down
/// while writes go on, comes back and must catch up by DIFF. `synced` is the line its log
/// shows for a DIFF.
fn learner_catches_up_by_diff(spec: Spec, synced: &str) {
    let mut ens = Ensemble::new(spec.ticks(500, 20, 10));
    ens.start(3);
    ens.start(2);
    let leader = ens.wait_serving(&[2, 3], Duration::from_secs(60));
    assert_eq!(leader, 3, "{}", ens.logs(&[2, 3]));
    ens.start(1);
    ens.wait_mode(1, "follower", Duration::from_secs(60));
    let all = ens.connect_string();
    let before = write(&all, "/d1");

    ens.kill(1);
    let up = format!("{},{}", ens.member(2).hosts(), ens.member(3).hosts());
    let while_down = write(&up, "/d2");
    let log_len = ens.log(1).len();
    ens.start(1);
    ens.wait_mode(1, "follower", Duration::from_secs(60));
    let log = ens.log(1);
    assert!(
        log[log_len..].contains(synced),
        "server 1 did not catch up by DIFF ({synced:?}):\n{}",
        &log[log_len..]
    );
    ens.assert_all_present(1, "/d1", &before);
    ens.assert_all_present(1, "/d2", &while_down);
    // It follows on: a write through it reaches the others.
    let through = write(&ens.member(1).hosts(), "/d3");
    for id in [2, 3] {
        ens.assert_all_present(id, "/d3", &through);
    }
    // The proposals of the DIFF and after carried the leader's tree digest, and each
    // learner found its own tree the same (issue 15; tests/tests/ensemble_digest.rs).
    for id in [1, 2, 3] {
        assert_eq!(
            ens.mntr_number(id, "digest_mismatches_count"),
            0,
            "server {id}"
        );
    }
}

#[test]
fn apache_learner_catches_up_from_our_leader_by_diff() {
    learner_catches_up_by_diff(
        Spec::new(3, 0).member_kind(1, Kind::Apache),
        "Getting a diff from the leader",
    );
}

#[test]
fn our_learner_catches_up_from_an_apache_leader_by_diff() {
    let mut spec = Spec::new(3, 0).member_kind(1, Kind::Ours);
    spec.kind = Kind::Apache;
    learner_catches_up_by_diff(spec, "by DIFF");
}
