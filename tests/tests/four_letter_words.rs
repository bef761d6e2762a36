//! Four-letter words through raw sockets, against Apache ZooKeeper 3.8 and against our server.
//! Values that depend on the machine or the clock (latencies, versions, paths, pids) are not
//! compared; keys, modes, counts of a fresh server and configured values are.

use std::collections::BTreeMap;

use zk_tests::{four_letter_word, start_pair, Options, TestServer};

/// `key: value` or `key=value` or `key<TAB>value` lines, as the words print them.
fn pairs(text: &str, sep: char) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(sep))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn check(failures: &mut Vec<String>, what: &str, a: String, o: String) {
    if a != o {
        failures.push(format!("{what}: apache={a:?} ours={o:?}"));
    }
}

fn word(s: &TestServer, w: &str) -> String {
    four_letter_word(s.addr(), w)
        .unwrap_or_else(|e| panic!("{w} against the {} server: {e}", s.kind.name()))
}

#[test]
fn four_letter_words_match_apache() {
    let (apache, ours) = start_pair(&Options::default());
    let mut failures = Vec::new();

    check(
        &mut failures,
        "ruok",
        word(&apache, "ruok"),
        word(&ours, "ruok"),
    );
    check(
        &mut failures,
        "isro",
        word(&apache, "isro"),
        word(&ours, "isro"),
    );

    // srvr: same keys; same mode, node count and zxid on a fresh server
    let (a, o) = (word(&apache, "srvr"), word(&ours, "srvr"));
    let (pa, po) = (pairs(&a, ':'), pairs(&o, ':'));
    check(
        &mut failures,
        "srvr keys",
        format!("{:?}", pa.keys().collect::<Vec<_>>()),
        format!("{:?}", po.keys().collect::<Vec<_>>()),
    );
    for k in ["Mode", "Node count", "Zxid", "Outstanding"] {
        check(
            &mut failures,
            &format!("srvr {k}"),
            pa.get(k).cloned().unwrap_or_default(),
            po.get(k).cloned().unwrap_or_default(),
        );
    }
    let version = po.get("Zookeeper version").cloned().unwrap_or_default();
    if !version.starts_with("3.") {
        failures.push(format!(
            "srvr: `Zookeeper version: {version}` does not start with 3. (clients parse it)"
        ));
    }

    // stat: srvr plus the client list
    let (a, o) = (word(&apache, "stat"), word(&ours, "stat"));
    check(
        &mut failures,
        "stat first line prefix",
        a.lines().next().unwrap_or("").chars().take(19).collect(),
        o.lines().next().unwrap_or("").chars().take(19).collect(),
    );
    check(
        &mut failures,
        "stat has Clients:",
        a.contains("Clients:").to_string(),
        o.contains("Clients:").to_string(),
    );

    // mntr: the classic keys monitoring relies on, with the fresh server's values where fixed
    let (a, o) = (word(&apache, "mntr"), word(&ours, "mntr"));
    let (ma, mo) = (pairs(&a, '\t'), pairs(&o, '\t'));
    for k in [
        "zk_version",
        "zk_avg_latency",
        "zk_max_latency",
        "zk_min_latency",
        "zk_packets_received",
        "zk_packets_sent",
        "zk_num_alive_connections",
        "zk_outstanding_requests",
        "zk_server_state",
        "zk_znode_count",
        "zk_watch_count",
        "zk_ephemerals_count",
        "zk_approximate_data_size",
        "zk_open_file_descriptor_count",
        "zk_max_file_descriptor_count",
    ] {
        assert!(ma.contains_key(k), "Apache's mntr lacks {k}: {a}");
        check(
            &mut failures,
            &format!("mntr has {k}"),
            "present".into(),
            if mo.contains_key(k) {
                "present"
            } else {
                "missing"
            }
            .into(),
        );
    }
    for k in [
        "zk_server_state",
        "zk_znode_count",
        "zk_watch_count",
        "zk_ephemerals_count",
    ] {
        check(
            &mut failures,
            &format!("mntr {k}"),
            ma.get(k).cloned().unwrap_or_default(),
            mo.get(k).cloned().unwrap_or_default(),
        );
    }

    // conf: configured and derived values
    let (a, o) = (word(&apache, "conf"), word(&ours, "conf"));
    let (ca, co) = (pairs(&a, '='), pairs(&o, '='));
    for k in [
        "tickTime",
        "maxClientCnxns",
        "minSessionTimeout",
        "maxSessionTimeout",
        "serverId",
    ] {
        check(
            &mut failures,
            &format!("conf {k}"),
            ca.get(k).cloned().unwrap_or_default(),
            co.get(k).cloned().unwrap_or_default(),
        );
    }
    check(
        &mut failures,
        "conf clientPort is the port",
        ours.port.to_string(),
        co.get("clientPort").cloned().unwrap_or_default(),
    );
    assert_eq!(
        ca.get("clientPort").cloned().unwrap_or_default(),
        apache.port.to_string()
    );

    // envi: the keys; kazoo parses `zookeeper.version=` out of it
    let (a, o) = (word(&apache, "envi"), word(&ours, "envi"));
    check(
        &mut failures,
        "envi first line",
        a.lines().next().unwrap_or("").into(),
        o.lines().next().unwrap_or("").into(),
    );
    let (ea, eo) = (pairs(&a, '='), pairs(&o, '='));
    for k in [
        "zookeeper.version",
        "host.name",
        "os.name",
        "os.arch",
        "os.version",
        "user.name",
        "user.home",
        "user.dir",
    ] {
        assert!(ea.contains_key(k), "Apache's envi lacks {k}");
        check(
            &mut failures,
            &format!("envi has {k}"),
            "present".into(),
            if eo.contains_key(k) {
                "present"
            } else {
                "missing"
            }
            .into(),
        );
    }

    // an unknown word: Apache closes the connection without a reply
    check(
        &mut failures,
        "unknown word",
        word(&apache, "xyzw"),
        word(&ours, "xyzw"),
    );

    assert!(
        failures.is_empty(),
        "four-letter words differ:\n{}",
        failures.join("\n")
    );
}

#[test]
fn four_letter_words_outside_the_whitelist_are_refused_like_apache() {
    let opts = Options {
        four_letter_words: "srvr".into(),
        ..Options::default()
    };
    let (apache, ours) = start_pair(&opts);
    let mut failures = Vec::new();
    for w in ["ruok", "mntr", "envi", "conf", "stat"] {
        let (a, o) = (word(&apache, w), word(&ours, w));
        if a != o {
            failures.push(format!("{w}: apache={a:?} ours={o:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
