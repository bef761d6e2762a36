//! Failover of a three-server ensemble of real `zk-server` processes, with kazoo writing
//! throughout: kill -9 of the leader, a new leader serving writes, no acknowledged write lost,
//! the old leader rejoining as a follower (DIFF or TRUNC), and a wiped follower rejoining by SNAP.

use std::time::{Duration, Instant};

use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::kazoo::{now_secs, Writer};
use zk_tests::wait_until;

#[test]
fn leader_killed_under_writes_then_rejoins_and_wiped_follower_resyncs() {
    let mut ens = Ensemble::new(Spec::new(3, 0));
    ens.start_all();
    let old_leader = ens.wait_serving(&[1, 2, 3], Duration::from_secs(30));
    let cs = ens.connect_string();

    let writer = Writer::start(&cs, 10.0, "/fo");
    assert!(
        wait_until(Duration::from_secs(30), || writer.acks().len() >= 50),
        "the writer got no acknowledgements before the kill"
    );

    let kill_t = now_secs();
    let kill_at = Instant::now();
    ens.kill(old_leader);
    let survivors: Vec<u64> = ens.ids().into_iter().filter(|i| *i != old_leader).collect();
    let new_leader = ens.wait_serving(&survivors, Duration::from_secs(20));
    let elected = kill_at.elapsed();
    assert_ne!(new_leader, old_leader);

    // The first write started after the kill and acknowledged.
    assert!(
        wait_until(Duration::from_secs(20), || writer
            .acks()
            .iter()
            .any(|(_, t0, _)| *t0 > kill_t)),
        "no write started after the leader died was acknowledged"
    );
    let first_write = writer
        .acks()
        .iter()
        .filter(|(_, t0, _)| *t0 > kill_t)
        .map(|(_, _, t)| t - kill_t)
        .fold(f64::MAX, f64::min);
    println!(
        "leader {old_leader} killed: server {new_leader} leads after {:.0} ms; first write acknowledged {:.0} ms after the kill",
        elected.as_secs_f64() * 1000.0,
        first_write * 1000.0
    );
    assert!(
        elected < Duration::from_secs(2),
        "a new leader took {elected:?} (more than 2 s)"
    );
    assert!(
        first_write < 2.0,
        "writes resumed {first_write:.3} s after the kill (more than 2 s)"
    );

    let lines = writer.finish(Duration::from_secs(60));
    let acked: Vec<u64> = lines.iter().filter_map(|v| v["ack"].as_u64()).collect();
    assert!(acked.len() > 50, "{} acknowledged writes", acked.len());
    for id in &survivors {
        ens.assert_all_present(*id, "/fo", &acked);
    }

    // The old leader comes back as a follower, synchronised by DIFF or TRUNC.
    ens.start(old_leader);
    ens.wait_mode(old_leader, "follower", Duration::from_secs(30));
    let log = ens.log(old_leader);
    assert!(
        log.contains("by DIFF") || log.contains("by TRUNC"),
        "the old leader did not rejoin by DIFF or TRUNC:\n{}",
        ens.logs(&[old_leader])
    );
    assert!(!log.contains("by SNAP"), "the old leader needed a SNAP");
    ens.assert_all_present(old_leader, "/fo", &acked);
    assert_eq!(ens.mode(new_leader).as_deref(), Some("leader"));

    // A follower whose data directory is wiped comes back by SNAP with everything.
    let follower = survivors.into_iter().find(|i| *i != new_leader).unwrap();
    ens.kill(follower);
    ens.wipe(follower);
    ens.start(follower);
    ens.wait_mode(follower, "follower", Duration::from_secs(30));
    assert!(
        ens.log(follower).contains("by SNAP"),
        "the wiped follower did not rejoin by SNAP:\n{}",
        ens.logs(&[follower])
    );
    ens.assert_all_present(follower, "/fo", &acked);
}

/// Restarted servers hold logged proposals they do not know to be committed. When one of
/// them leads, a wiped learner gets a SNAP: its snapshot must be exactly the state at the
/// SNAP's zxid, or the learner keeps a snapshot whose name and contents disagree and cannot
/// restart from it (found by the soak).
#[test]
fn snap_from_a_restarted_leader_is_the_state_it_names() {
    let mut ens = Ensemble::new(Spec::new(3, 0).ticks(200, 10, 5).extra("snapCount", "40"));
    ens.start_all();
    ens.wait_serving(&ens.ids(), Duration::from_secs(30));
    let writer = Writer::start(&ens.connect_string(), 4.0, "/snap");
    let lines = writer.finish(Duration::from_secs(60));
    let acked: Vec<u64> = lines.iter().filter_map(|v| v["ack"].as_u64()).collect();
    // More than snapCount: every server has taken a snapshot before its log's end.
    assert!(acked.len() > 40, "{} acknowledged writes", acked.len());

    // Everyone down; server 1 loses its data; everyone up again.
    for id in ens.ids() {
        ens.kill(id);
    }
    ens.wipe(1);
    ens.start_all();
    ens.wait_serving(&ens.ids(), Duration::from_secs(30));
    assert!(ens.log(1).contains("by SNAP"), "{}", ens.logs(&[1]));
    ens.assert_all_present(1, "/snap", &acked);

    // Server 1 restarts from what the SNAP left on its disk.
    ens.kill(1);
    ens.start(1);
    ens.wait_serving(&ens.ids(), Duration::from_secs(30));
    ens.assert_all_present(1, "/snap", &acked);
}
