//! Issue 12's runbook on five servers: a 5-server Apache ZooKeeper 3.8 ensemble replaced by
//! ours one server at a time on each one's data directory (the four followers first, the
//! leader last) while a kazoo client writes through the whole ensemble and a second kazoo
//! session holds an ephemeral; then the way back, each of ours stopped, its directory turned
//! into Apache's by `export-apache` and Apache started on it, the leader last again. With
//! five voters two servers may be down at once without losing the quorum; the roll takes
//! one at a time, so the quorum (three) always has a server to spare.
//!
//! Checked: after each roll every acknowledged write is read back through every server
//! alone, and the holder's session was moved (disconnected) but never expired, its
//! ephemeral still there at the end.

use std::time::{Duration, Instant};

use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::kazoo::Holder;
use zk_tests::roll::{leader_last, replace_under_load};
use zk_tests::{run_zk_server, wait_until, Kind};

/// Seconds of writes per step: enough for writes before, during and after the
/// replacement, short enough that ten steps stay within a few minutes.
const WRITE_SECONDS: f64 = 4.0;

#[test]
fn five_server_apache_ensemble_rolled_onto_ours_and_back_under_client_load() {
    let started = Instant::now();
    let mut spec = Spec::new(5, 0).ticks(500, 20, 10).extra("snapCount", "20");
    for id in 1..=5 {
        spec = spec.member_kind(id, Kind::Apache);
    }
    let mut ens = Ensemble::new(spec);
    ens.start_all();
    let leader = ens.wait_serving(&ens.ids(), Duration::from_secs(90));
    let holder = Holder::start(&ens.connect_string(), "/held5/eph", 900.0);
    assert!(
        wait_until(Duration::from_secs(30), || holder.holding()),
        "the kazoo holder never created its ephemeral"
    );

    let mut acked: Vec<(String, Vec<u64>)> = Vec::new();
    let order = leader_last(&ens, leader);
    for (step, id) in order.iter().copied().enumerate() {
        let prefix = format!("/onto5_{step}");
        // The leader is replaced last: until then it is still Apache's original leader.
        if step < 4 {
            assert_eq!(ens.mode(leader).as_deref(), Some("leader"), "step {step}");
        }
        let a = replace_under_load(&mut ens, id, Kind::Ours, &prefix, WRITE_SECONDS, |_| {});
        assert!(
            ens.member(id).data_dir().join("version-2.apache").is_dir(),
            "server {id} did not take over Apache's files:\n{}",
            ens.logs(&[id])
        );
        acked.push((prefix, a));
    }
    for id in ens.ids() {
        for (prefix, a) in &acked {
            ens.assert_all_present(id, prefix, a);
        }
    }
    eprintln!("onto ours in {:?}", started.elapsed());

    let leader = ens.wait_serving(&ens.ids(), Duration::from_secs(60));
    for (step, id) in leader_last(&ens, leader).into_iter().enumerate() {
        let prefix = format!("/back5_{step}");
        let a = replace_under_load(&mut ens, id, Kind::Apache, &prefix, WRITE_SECONDS, |ens| {
            let out = run_zk_server(&[
                "export-apache".as_ref(),
                ens.member(id).cfg_path().as_os_str(),
            ]);
            assert!(
                out.status.success(),
                "export-apache of server {id}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        });
        assert!(
            ens.member(id).data_dir().join("version-2.ours").is_dir(),
            "server {id}: no export"
        );
        assert!(
            !ens.log(id).contains("Digests are not matching"),
            "server {id} (Apache)"
        );
        acked.push((prefix, a));
    }
    for id in ens.ids() {
        for (prefix, a) in &acked {
            ens.assert_all_present(id, prefix, a);
        }
    }
    let (states, done) = holder.finish(Duration::from_secs(60));
    assert!(
        !states.iter().any(|s| s == "LOST") && done["expired"] == false,
        "the holder's session expired during the rolls: {states:?} {done}"
    );
    assert!(
        states.iter().any(|s| s == "SUSPENDED"),
        "the holder was never disconnected: {states:?}"
    );
    assert!(
        done["ephemeral"] == true,
        "the holder's ephemeral is gone after the rolls: {states:?} {done}"
    );
    eprintln!("both rolls in {:?}", started.elapsed());
}
