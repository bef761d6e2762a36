//! Split brain with real processes: the network between groups of `zk-server`s is cut by the
//! harness's TCP proxies. A side without a strict majority never elects a leader and never
//! accepts a write; after healing there is one history and no acknowledged write is lost.

use std::time::{Duration, Instant};

use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::kazoo::{children, try_write};

/// A short tick so that losing the quorum is noticed quickly (syncLimit 5 ticks = 1 s).
fn spec(voters: usize, observers: usize) -> Spec {
    Spec::new(voters, observers).ticks(200, 10, 5).proxied()
}

fn hosts(ens: &Ensemble, ids: &[u64]) -> String {
    ids.iter()
        .map(|i| ens.member(*i).hosts())
        .collect::<Vec<_>>()
        .join(",")
}

/// Watches `ids` for `window`: none of them may serve (every `srvr` says not serving).
fn assert_none_serves(ens: &Ensemble, ids: &[u64], window: Duration) {
    let end = Instant::now() + window;
    while Instant::now() < end {
        for id in ids {
            if let Some(m) = ens.mode(*id) {
                panic!(
                    "server {id} serves as {m} without a quorum\n{}",
                    ens.logs(ids)
                );
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until none of `ids` serves.
fn wait_none_serves(ens: &Ensemble, ids: &[u64], timeout: Duration) {
    assert!(
        zk_tests::wait_until(timeout, || ids.iter().all(|i| ens.mode(*i).is_none())),
        "servers {ids:?} still serve without a quorum\n{}",
        ens.logs(ids)
    );
}

#[test]
fn five_split_two_three_majority_writes_minority_refuses() {
    let mut ens = Ensemble::new(spec(5, 0));
    ens.start_all();
    let leader = ens.wait_serving(&ens.ids(), Duration::from_secs(30));
    try_write(&ens.connect_string(), "/split/before").expect("write before the split");

    // The old leader ends up on the minority side.
    let other = ens.ids().into_iter().find(|i| *i != leader).unwrap();
    let minority = vec![leader, other];
    let majority: Vec<u64> = ens
        .ids()
        .into_iter()
        .filter(|i| !minority.contains(i))
        .collect();
    ens.partition(&[&minority, &majority]);

    let new_leader = ens.wait_serving(&majority, Duration::from_secs(20));
    assert!(majority.contains(&new_leader));
    wait_none_serves(&ens, &minority, Duration::from_secs(10));

    try_write(&hosts(&ens, &majority), "/split/majority").expect("the majority takes writes");
    let refused = try_write(&hosts(&ens, &minority), "/split/minority");
    assert!(refused.is_err(), "the minority accepted a write");
    assert_none_serves(&ens, &minority, Duration::from_secs(2));

    ens.heal();
    let all = ens.ids();
    ens.wait_serving(&all, Duration::from_secs(30));
    for id in &all {
        let have = children(&ens.member(*id).hosts(), "/split");
        assert_eq!(
            have,
            vec!["before".to_string(), "majority".to_string()],
            "server {id} after healing"
        );
    }
}

#[test]
fn six_split_three_three_no_side_elects_or_writes() {
    let mut ens = Ensemble::new(spec(6, 0));
    ens.start_all();
    ens.wait_serving(&ens.ids(), Duration::from_secs(30));
    try_write(&ens.connect_string(), "/six/before").expect("write before the split");

    let a = [1, 2, 3];
    let b = [4, 5, 6];
    ens.partition(&[&a, &b]);
    wait_none_serves(&ens, &ens.ids(), Duration::from_secs(10));
    // Several election rounds on both sides: still nobody leads.
    assert_none_serves(&ens, &ens.ids(), Duration::from_secs(4));
    assert!(try_write(&hosts(&ens, &a), "/six/a").is_err());
    assert!(try_write(&hosts(&ens, &b), "/six/b").is_err());
    assert_none_serves(&ens, &ens.ids(), Duration::from_secs(1));

    ens.heal();
    ens.wait_serving(&ens.ids(), Duration::from_secs(30));
    try_write(&ens.connect_string(), "/six/after").expect("write after healing");
    for id in ens.ids() {
        let have = children(&ens.member(id).hosts(), "/six");
        assert_eq!(have, vec!["after".to_string(), "before".to_string()]);
    }
}

#[test]
fn observers_serve_reads_forward_writes_and_do_not_vote() {
    let mut ens = Ensemble::new(spec(3, 2));
    ens.start_all();
    ens.wait_serving(&ens.ids(), Duration::from_secs(30));
    assert_eq!(ens.mode(4).as_deref(), Some("observer"));
    assert_eq!(ens.mode(5).as_deref(), Some("observer"));

    // A write through an observer is forwarded to the leader and read back everywhere.
    try_write(&ens.member(4).hosts(), "/obs/via4").expect("write through observer 4");
    for id in ens.ids() {
        assert_eq!(
            children(&ens.member(id).hosts(), "/obs"),
            vec!["via4".to_string()],
            "server {id}"
        );
    }

    // Two voters down: three servers still run, but no quorum of voters, so no writes.
    ens.kill(1);
    ens.kill(2);
    wait_none_serves(&ens, &[3, 4, 5], Duration::from_secs(10));
    assert!(try_write(&hosts(&ens, &[3, 4, 5]), "/obs/after").is_err());
    assert_none_serves(&ens, &[3, 4, 5], Duration::from_secs(2));

    // One voter back makes a quorum again.
    ens.start(1);
    ens.wait_serving(&[1, 3, 4, 5], Duration::from_secs(30));
    try_write(&ens.member(5).hosts(), "/obs/via5").expect("write through observer 5");
}

#[test]
fn read_only_mode_serves_reads_without_a_quorum() {
    let mut ens = Ensemble::new(spec(3, 0).extra("readonlymode.enabled", "true"));
    ens.start_all();
    ens.wait_serving(&ens.ids(), Duration::from_secs(30));
    try_write(&ens.connect_string(), "/ro/a").expect("write with a quorum");
    assert_eq!(ens.four(1, "isro").as_deref(), Some("rw"));

    ens.kill(2);
    ens.kill(3);
    assert!(
        zk_tests::wait_until(Duration::from_secs(15), || ens.four(1, "isro").as_deref()
            == Some("ro")),
        "server 1 alone never went read-only\n{}",
        ens.logs(&[1])
    );
    assert_eq!(ens.mode(1).as_deref(), Some("read-only"));

    // A read-only client reads what the ensemble wrote; its writes are refused.
    let ro = zk_tests::kazoo::run(&["ro", "--hosts", &ens.member(1).hosts(), "--path", "/ro/a"]);
    assert_eq!(ro[0]["connected"], true, "{ro:?}");
    assert_eq!(ro[0]["data"], "x", "{ro:?}");
    assert_eq!(ro[0]["write"], "NotReadOnlyCallError", "{ro:?}");
    // A client that did not ask for read-only gets no session.
    assert!(try_write(&ens.member(1).hosts(), "/ro/b").is_err());

    // With a quorum again, the server is read-write.
    ens.start(2);
    ens.wait_serving(&[1, 2], Duration::from_secs(30));
    // Server 1's driver may know it follows a moment before its core leaves
    // read-only mode (wait_serving accepts `read-only` as a mode).
    assert!(
        zk_tests::wait_until(Duration::from_secs(15), || ens.four(1, "isro").as_deref()
            == Some("rw")),
        "server 1 stayed read-only with a quorum\n{}",
        ens.logs(&[1])
    );
    try_write(&ens.member(1).hosts(), "/ro/b").expect("write after the quorum is back");
}

/// The leader's `mntr` value of `key`.
fn mntr(ens: &Ensemble, id: u64, key: &str) -> Option<String> {
    ens.four(id, "mntr")?
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}\t")).map(str::to_string))
}

#[test]
fn a_follower_silent_for_sync_limit_is_dropped_and_rejoins() {
    let mut ens = Ensemble::new(spec(3, 0));
    ens.start_all();
    let leader = ens.wait_serving(&ens.ids(), Duration::from_secs(30));
    let follower = ens.ids().into_iter().find(|i| *i != leader).unwrap();
    assert!(zk_tests::wait_until(Duration::from_secs(10), || mntr(
        &ens,
        leader,
        "zk_synced_followers"
    )
    .as_deref()
        == Some("2")));

    // SIGSTOP: the follower neither reads nor answers pings. syncLimit is 5 ticks of 200 ms.
    ens.pause(follower, true);
    let t = Instant::now();
    assert!(
        zk_tests::wait_until(Duration::from_secs(10), || mntr(
            &ens,
            leader,
            "zk_synced_followers"
        )
        .as_deref()
            == Some("1")),
        "the leader kept a silent follower\n{}",
        ens.logs(&[leader])
    );
    let dropped = t.elapsed();
    assert!(
        dropped >= Duration::from_millis(800),
        "dropped after {dropped:?}"
    );
    // The other follower and the leader still make a quorum.
    try_write(&ens.member(leader).hosts(), "/paused/w")
        .expect("write while one follower is paused");

    ens.pause(follower, false);
    ens.wait_mode(follower, "follower", Duration::from_secs(30));
    assert!(zk_tests::wait_until(Duration::from_secs(20), || mntr(
        &ens,
        leader,
        "zk_synced_followers"
    )
    .as_deref()
        == Some("2")));
    assert_eq!(
        children(&ens.member(follower).hosts(), "/paused"),
        vec!["w".to_string()]
    );
}
