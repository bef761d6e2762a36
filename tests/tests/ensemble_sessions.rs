//! Sessions belong to the ensemble: a client moves between servers with its session, the old
//! connection gets ZooKeeper's session-moved treatment, learners keep their clients' sessions
//! alive at the leader, and the leader expires a vanished client's session everywhere.

use std::time::Duration;

use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::raw::RawClient;

const NO_NODE: i32 = -101;
const EPHEMERAL: i32 = 1;

/// tickTime 200: sessions time out between 400 ms and 4 s.
fn ensemble() -> (Ensemble, u64, Vec<u64>) {
    let mut ens = Ensemble::new(Spec::new(3, 0).ticks(200, 10, 5));
    ens.start_all();
    let leader = ens.wait_serving(&ens.ids(), Duration::from_secs(30));
    let followers = ens.ids().into_iter().filter(|i| *i != leader).collect();
    (ens, leader, followers)
}

fn connect(ens: &Ensemble, id: u64) -> RawClient {
    RawClient::connect(ens.member(id).addr()).expect("connect")
}

/// Polls `path` through server `id` until it is gone.
fn wait_gone(ens: &Ensemble, id: u64, path: &str, timeout: Duration) -> bool {
    zk_tests::wait_until(timeout, || {
        let mut c = connect(ens, id);
        let gone = c
            .exists(path, false)
            .map(|r| r.err == NO_NODE)
            .unwrap_or(false);
        let _ = c.close();
        gone
    })
}

#[test]
fn a_session_moves_between_servers_and_the_old_connection_is_cut() {
    let (ens, leader, followers) = ensemble();
    let (a, b) = (followers[0], followers[1]);

    let mut c1 = connect(&ens, a);
    let sid = c1.session.session_id;
    assert_ne!(sid, 0);
    assert_eq!(c1.create("/s", b"", 0).unwrap().err, 0);
    let r = c1.create("/s/eph", b"e", EPHEMERAL).unwrap();
    assert_eq!(r.err, 0);

    // The client moves to follower b with its id and password. It has seen r.zxid, and a
    // server that has not is refused (as ZooKeeper refuses it): wait until b has it.
    assert!(zk_tests::wait_until(Duration::from_secs(10), || ens
        .zxid(b)
        .is_some_and(|z| z >= r.zxid as u64)));
    let passwd = c1.session.passwd.clone();
    let mut c2 = RawClient::resume(ens.member(b).addr(), sid, &passwd, 30_000, r.zxid).unwrap();
    assert_eq!(
        c2.session.session_id, sid,
        "the session moved with the client"
    );
    assert!(c2.session.timeout_ms > 0);
    assert_eq!(c2.get_data("/s/eph", false).unwrap().err, 0);
    assert_eq!(c2.create("/s/via-b", b"", 0).unwrap().err, 0);

    // A write on the old connection: the session is owned elsewhere now, and the old
    // server closes that connection without an answer (ZooKeeper's SessionMoved).
    let old = c1.create("/s/via-a", b"", 0);
    assert!(
        old.is_err(),
        "the old connection answered: {:?}",
        old.map(|r| r.err)
    );
    assert_eq!(c2.exists("/s/via-a", false).unwrap().err, NO_NODE);

    // Onward to the leader: the same again.
    let mut c3 = RawClient::resume(ens.member(leader).addr(), sid, &passwd, 30_000, 0).unwrap();
    assert_eq!(c3.session.session_id, sid);
    assert_eq!(c3.create("/s/via-leader", b"", 0).unwrap().err, 0);
    assert!(c2.create("/s/via-b2", b"", 0).is_err());

    // The ephemeral node lived through all of it.
    assert_eq!(c3.exists("/s/eph", false).unwrap().err, 0);

    // A wrong password at a follower is an expired session.
    let bad = RawClient::resume(ens.member(a).addr(), sid, &[7u8; 16], 30_000, 0).unwrap();
    assert_eq!(bad.session.session_id, 0);
    assert_eq!(bad.session.timeout_ms, 0);
}

#[test]
fn the_leader_expires_a_vanished_client_everywhere() {
    let (ens, _leader, followers) = ensemble();
    let mut c = connect(&ens, followers[0]);
    assert_eq!(c.create("/gone", b"", EPHEMERAL).unwrap().err, 0);
    let timeout = c.session.timeout_ms;
    assert!(timeout <= 4000, "negotiated {timeout} ms");
    // The client disappears without closing its session.
    drop(c);
    for id in ens.ids() {
        assert!(
            wait_gone(&ens, id, "/gone", Duration::from_secs(20)),
            "server {id} still has the vanished client's ephemeral node\n{}",
            ens.logs(&ens.ids())
        );
    }
}

#[test]
fn pings_through_a_follower_keep_the_session_alive_at_the_leader() {
    let (ens, leader, followers) = ensemble();
    let mut c = connect(&ens, followers[0]);
    assert_eq!(c.create("/alive", b"", EPHEMERAL).unwrap().err, 0);
    let timeout = Duration::from_millis(c.session.timeout_ms as u64);
    // Three session timeouts of nothing but pings, through the follower only.
    let end = std::time::Instant::now() + timeout * 3;
    while std::time::Instant::now() < end {
        assert_eq!(c.ping().unwrap().err, 0);
        std::thread::sleep(timeout / 4);
    }
    let mut l = connect(&ens, leader);
    assert_eq!(
        l.exists("/alive", false).unwrap().err,
        0,
        "the leader expired a session its follower kept alive"
    );
    assert_eq!(c.exists("/alive", false).unwrap().err, 0);
}
