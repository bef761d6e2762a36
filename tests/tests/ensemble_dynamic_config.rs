//! An ensemble whose membership is in `dynamicConfigFile` (`zoo.cfg.dynamic.100000000`), the
//! layout Apache ZooKeeper 3.5+ writes itself: three servers started that way form one
//! ensemble with one leader, and a write through one is read through the others. The same
//! steps run against Apache ZooKeeper 3.8 as the oracle. (Before the dynamic file was read,
//! each of our servers ran standalone: three leaders' worth of split brain.)

use std::time::Duration;

use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::Kind;

fn three_from_the_dynamic_file(kind: Kind) {
    let mut spec = Spec::new(3, 0).dynamic_file();
    spec.kind = kind;
    let mut ens = Ensemble::new(spec);
    ens.start_all();
    let ids = ens.ids();
    let leader = ens.wait_serving(&ids, Duration::from_secs(60));
    for id in &ids {
        let mode = ens.mode(*id);
        let want = if *id == leader { "leader" } else { "follower" };
        assert_eq!(mode.as_deref(), Some(want), "{} server {id}", kind.name());
    }
    assert_eq!(ens.leaders(), vec![leader], "{}: one leader", kind.name());
    // `conf` shows the membership's version, from the dynamic file's name.
    let conf = ens.four(leader, "conf").unwrap();
    assert!(
        conf.contains("version=100000000"),
        "{}: {conf}",
        kind.name()
    );

    // A write through any server is read back from all.
    let hosts: Vec<String> = ids.iter().map(|i| ens.member(*i).hosts()).collect();
    let lines = zk_tests::kazoo::run(&["rw", "--hosts", &hosts.join(",")]);
    let reads: Vec<&serde_json::Value> = lines.iter().filter(|l| l["op"] == "read").collect();
    assert_eq!(reads.len(), 9, "{}: {lines:?}", kind.name());
    for r in reads {
        let path = r["path"].as_str().unwrap();
        let via = path.rsplit('-').next().unwrap();
        assert_eq!(r["data"], format!("w{via}"), "{}: {r}", kind.name());
    }
}

#[test]
fn ours_from_a_dynamic_config_file_is_one_ensemble() {
    three_from_the_dynamic_file(Kind::Ours);
}

#[test]
fn apache_from_a_dynamic_config_file_is_one_ensemble() {
    three_from_the_dynamic_file(Kind::Apache);
}
