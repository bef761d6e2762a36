//! Synchronisation by SNAP between real processes, with the quorum link cut at the worst
//! moment: right after the leader's SNAP packet, before the snapshot that follows it.

use std::time::Duration;

use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::kazoo::{children, Writer};
use zk_tests::wait_until;

/// Issue 12: the learner's "snapshot expected next" state outlived a dropped connection to
/// the leader, so on the next attempt it took the leader's SNAP packet for the snapshot and
/// exited (`cannot install the snapshot from the leader ... 0 bytes`). A wiped follower gets
/// SNAP; the proxy closes its link right after the SNAP packet; it must retry and sync.
#[test]
fn snap_state_reset_when_the_leader_link_drops_mid_sync() {
    let mut ens = Ensemble::new(Spec::new(3, 0).ticks(200, 10, 5).proxied());
    ens.start_all();
    ens.wait_serving(&ens.ids(), Duration::from_secs(30));
    let lines =
        Writer::start(&ens.connect_string(), 1.0, "/snapdrop").finish(Duration::from_secs(30));
    let acked: Vec<u64> = lines.iter().filter_map(|v| v["ack"].as_u64()).collect();
    assert!(!acked.is_empty(), "no acknowledged writes");

    // Server 3 loses its data: it is empty, so whoever leads sends it a SNAP.
    ens.kill(3);
    ens.wipe(3);
    ens.cut_after_snap(3);
    ens.start(3);
    assert!(
        wait_until(Duration::from_secs(20), || ens.snap_trapped(3) >= 1),
        "the link was never cut after a SNAP:\n{}",
        ens.logs(&[3])
    );
    ens.wait_mode(3, "follower", Duration::from_secs(30));
    assert!(ens.is_running(3), "server 3 exited:\n{}", ens.logs(&[3]));
    let log = ens.log(3);
    assert!(!log.contains("fatal"), "{}", ens.logs(&[3]));
    assert!(log.contains("by SNAP"), "{}", ens.logs(&[3]));
    let have = children(&ens.member(3).hosts(), "/snapdrop");
    let missing: Vec<&u64> = acked
        .iter()
        .filter(|k| !have.contains(&format!("n{k}")))
        .collect();
    assert!(
        missing.is_empty(),
        "server 3 lacks acknowledged writes {missing:?}"
    );
}
