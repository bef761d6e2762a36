//! `/zookeeper/config` holds the membership in every role, as Apache ZooKeeper writes it
//! (issue 14: Curator's EnsembleTracker and zkCli's `config` read it; an empty node leaves
//! them with no members). Apache ZooKeeper 3.8 is the oracle: the same steps against an
//! ensemble of each, three voters and an observer, with the membership in zoo.cfg (version
//! 0) and in a dynamic file (the version from its name), must give the same text and Stat
//! on the leader, a follower and the observer.

use std::time::Duration;

use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::raw::{RawClient, Reader};
use zk_tests::Kind;

/// What ZooKeeper's `QuorumVerifier.toString()` gives for this ensemble.
fn expected_text(ens: &Ensemble, version: &str) -> String {
    let mut s = String::new();
    for id in ens.ids() {
        let m = ens.member(id);
        let t = if m.observer {
            "observer"
        } else {
            "participant"
        };
        s.push_str(&format!(
            "server.{id}=127.0.0.1:{}:{}:{t}\n",
            m.quorum_port, m.election_port
        ));
    }
    s.push_str(&format!("version={version}"));
    s
}

fn config_node(kind: Kind, dynamic: bool) {
    let mut spec = Spec::new(3, 1);
    if dynamic {
        spec = spec.dynamic_file();
    }
    spec.kind = kind;
    let mut ens = Ensemble::new(spec);
    ens.start_all();
    let ids = ens.ids();
    let leader = ens.wait_serving(&ids, Duration::from_secs(60));
    let follower = ids
        .iter()
        .copied()
        .find(|i| *i != leader && *i != 4)
        .unwrap();
    let (version, mzxid) = if dynamic {
        ("100000000", 0x1_0000_0000i64)
    } else {
        ("0", 0)
    };
    let want = expected_text(&ens, version);
    for id in [leader, follower, 4] {
        let what = format!("{} server {id} (dynamic file: {dynamic})", kind.name());
        let mut c = RawClient::connect(ens.member(id).addr()).unwrap();
        let r = c.get_data("/zookeeper/config", true).unwrap();
        assert_eq!(r.err, 0, "{what}");
        let mut rd = Reader::new(&r.body);
        let data = rd.buf();
        let st = rd.stat();
        assert_eq!(String::from_utf8_lossy(&data), want, "{what}");
        // czxid, mzxid, ctime, (mtime: each server's clock), version, cversion, aversion,
        // ephemeralOwner, dataLength, numChildren, pzxid.
        assert_eq!(
            (st[0], st[1], st[2], st[4], st[5], st[6], st[7], st[8], st[9], st[10]),
            (0, mzxid, 0, -1, 0, -1, 0, want.len() as i64, 0, 0),
            "{what}: stat {st:?}"
        );
        assert!(
            st[3] > 0,
            "{what}: mtime is the server's start-up time: {st:?}"
        );
    }
}

#[test]
fn the_config_node_holds_the_membership_like_apache_s() {
    for dynamic in [false, true] {
        config_node(Kind::Apache, dynamic);
        config_node(Kind::Ours, dynamic);
    }
}
