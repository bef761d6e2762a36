//! The seed's three-server tutorial, automated with real `zk-server` processes: the seed's
//! configuration (tickTime=2000, initLimit=10, syncLimit=5, `server.1=localhost:2887:3887`,
//! `server.2=localhost:2888:3888`, `server.3=localhost:2889:3889`), client ports of their own.

use std::time::Duration;

use zk_tests::ensemble::{Ensemble, Spec};

const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

#[test]
fn seed_tutorial_start_one_two_three() {
    let mut spec = Spec::new(3, 0);
    spec.host = "localhost".into();
    spec.fixed_ports = [(1, (2887, 3887)), (2, (2888, 3888)), (3, (2889, 3889))]
        .into_iter()
        .collect();
    let mut ens = Ensemble::new(spec);

    // Server 1 alone has no quorum: it answers, but does not serve.
    ens.start(1);
    assert!(zk_tests::wait_until(Duration::from_secs(20), || ens
        .srvr(1)
        .is_some()));
    let s = ens.srvr(1).unwrap();
    assert!(s.starts_with(NOT_SERVING), "server 1 alone: {s:?}");
    assert_eq!(ens.mode(1), None);

    // With server 2 there is a quorum: 2 has the higher id and leads.
    ens.start(2);
    let leader = ens.wait_serving(&[1, 2], Duration::from_secs(30));
    assert_eq!(leader, 2, "server 2 leads");
    assert_eq!(ens.mode(1).as_deref(), Some("follower"));
    let srvr = ens.srvr(2).unwrap();
    assert!(srvr.contains("Mode: leader"), "{srvr}");

    // Server 3 joins the established leader and follows; 2 stays leader.
    ens.start(3);
    ens.wait_mode(3, "follower", Duration::from_secs(30));
    assert_eq!(ens.mode(2).as_deref(), Some("leader"));
    assert_eq!(ens.mode(1).as_deref(), Some("follower"));

    // A write through any server is read back from all.
    let hosts: Vec<String> = ens.ids().iter().map(|i| ens.member(*i).hosts()).collect();
    let lines = zk_tests::kazoo::run(&["rw", "--hosts", &hosts.join(",")]);
    let reads: Vec<&serde_json::Value> = lines.iter().filter(|l| l["op"] == "read").collect();
    assert_eq!(reads.len(), 9, "{lines:?}");
    for r in reads {
        let path = r["path"].as_str().unwrap();
        let via = path.rsplit('-').next().unwrap();
        assert_eq!(r["data"], format!("w{via}"), "{r}");
    }
    // Every server agrees on where each node was created.
    for i in 1..=3 {
        let czxids: Vec<&serde_json::Value> = lines
            .iter()
            .filter(|l| l["op"] == "read" && l["path"] == format!("/e2e/via-{i}"))
            .map(|l| &l["czxid"])
            .collect();
        assert!(czxids.windows(2).all(|w| w[0] == w[1]), "{czxids:?}");
    }
    assert_eq!(ens.mode(2).as_deref(), Some("leader"));
}
