//! The log's sync both ways in one ensemble of real `zk-server` processes: server 1 syncs on
//! a thread (`ZK_LOG_SYNC=thread`, what every server does where io_uring is unavailable),
//! servers 2 and 3 through io_uring where this machine has it (else they fall back to the
//! thread and say so). kazoo writes throughout; every ACK and every reply to a write waits
//! for the sync, so writes are acknowledged only if both ways complete. The leader is
//! killed with -9 under the writes and restarted from its own log; every acknowledged
//! write is on every server afterwards.

use std::time::Duration;

use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::kazoo::Writer;
use zk_tests::wait_until;

#[test]
fn servers_syncing_on_a_thread_and_through_io_uring_lose_no_acknowledged_write() {
    let mut ens = Ensemble::new(Spec::new(3, 0).member_env(1, "ZK_LOG_SYNC", "thread"));
    ens.start_all();
    let leader = ens.wait_serving(&ens.ids(), Duration::from_secs(30));

    assert!(
        ens.log(1)
            .contains("the log's fdatasync runs on a thread (ZK_LOG_SYNC=thread)"),
        "server 1 did not say it syncs on a thread:\n{}",
        ens.logs(&[1])
    );
    let uring_here = zab_storage::SyncRing::new().is_ok();
    for id in [2, 3] {
        let said = if uring_here {
            "the log's fdatasync goes through io_uring"
        } else {
            "io_uring unavailable ("
        };
        assert!(
            ens.log(id).contains(said),
            "server {id} did not say {said:?}:\n{}",
            ens.logs(&[id])
        );
    }

    let writer = Writer::start(&ens.connect_string(), 8.0, "/ls");
    assert!(
        wait_until(Duration::from_secs(30), || writer.acks().len() >= 50),
        "the writer got no acknowledgements"
    );
    ens.kill(leader);
    let survivors: Vec<u64> = ens.ids().into_iter().filter(|i| *i != leader).collect();
    ens.wait_serving(&survivors, Duration::from_secs(20));
    ens.start(leader);
    let lines = writer.finish(Duration::from_secs(60));
    let acked: Vec<u64> = lines.iter().filter_map(|v| v["ack"].as_u64()).collect();
    assert!(acked.len() > 50, "{} acknowledged writes", acked.len());
    ens.wait_serving(&ens.ids(), Duration::from_secs(30));
    for id in ens.ids() {
        ens.assert_all_present(id, "/ls", &acked);
    }
}
