//! Four-letter words through raw sockets, against Apache ZooKeeper 3.8 and against our server.
//! Values that depend on the machine or the clock (latencies, versions, paths, pids) are not
//! compared; keys, modes, counts of a fresh server and configured values are.

mod bare;

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

    // hash: the digest log, empty on a fresh server; after 130 more writes the
    // digest after zxid 0x80 (the values differ: each tree has its own times).
    check(
        &mut failures,
        "hash",
        word(&apache, "hash"),
        word(&ours, "hash"),
    );
    let logged = |s: &TestServer| -> Vec<String> {
        let mut c = zk_tests::raw::RawClient::connect(s.addr()).expect("connect");
        assert_eq!(c.create("/h", b"", 0).unwrap().err, 0);
        for i in 0..130u32 {
            assert_eq!(c.set_data("/h", &i.to_be_bytes(), -1).unwrap().err, 0);
        }
        word(s, "hash")
            .lines()
            .map(|l| {
                let (zxid, digest) = l.split_once(": ").unwrap_or_else(|| panic!("{l}"));
                assert!(digest.parse::<i64>().unwrap() != 0, "{l}");
                zxid.to_owned()
            })
            .collect()
    };
    let (a, o) = (logged(&apache), logged(&ours));
    assert_eq!(o, ["80"], "our hash after 130 writes");
    check(
        &mut failures,
        "hash after 130 writes",
        format!("{a:?}"),
        format!("{o:?}"),
    );

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

/// Session ids as names, so that two servers' answers compare.
struct Names(Vec<(i64, &'static str)>);

impl Names {
    fn of(&self, hex: &str) -> String {
        let id = i64::from_str_radix(hex.trim().trim_start_matches("0x"), 16).unwrap_or(-1) as u64;
        self.0
            .iter()
            .find(|(s, _)| *s as u64 == id)
            .map(|(_, n)| n.to_string())
            .unwrap_or_else(|| {
                if id == 0 {
                    "0".into()
                } else {
                    format!("unknown {hex}")
                }
            })
    }
}

/// `0x<session>` lines each followed by `\t<path>` lines (wchc), or the reverse (wchp), as a
/// sorted map with names for session ids.
fn grouped(text: &str, names: &Names, sessions_first: bool) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut key = String::new();
    for l in text.lines().filter(|l| !l.is_empty()) {
        match l.strip_prefix('\t') {
            Some(v) => {
                let v = if sessions_first {
                    v.to_string()
                } else {
                    names.of(v)
                };
                m.entry(key.clone()).or_default().push(v);
            }
            None => {
                key = if sessions_first {
                    names.of(l)
                } else {
                    l.to_string()
                };
            }
        }
    }
    for v in m.values_mut() {
        v.sort();
    }
    m
}

/// `Mon Nov 30 13:07:47 UTC 2026`, as Java's Date prints.
fn is_java_date(s: &str) -> bool {
    let p: Vec<&str> = s.split(' ').collect();
    p.len() == 6
        && p[0].len() == 3
        && p[1].len() == 3
        && p[2].len() == 2
        && p[3].len() == 8
        && p[3].split(':').count() == 3
        && p[5].parse::<u32>().is_ok()
}

/// The shape of `dump`: section headers, bucket lines with dates, and the sessions, their
/// ephemerals and the connections by name. Bucket counts depend on timing and are left out.
fn dump_shape(text: &str, names: &Names) -> Vec<String> {
    let mut out = Vec::new();
    let mut section = "";
    let mut eph_owner = String::new();
    let mut eph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut sessions = Vec::new();
    let mut conns = Vec::new();
    for l in text.lines() {
        if let Some((n, rest)) = l.split_once(" expire at ") {
            let ok = n.parse::<u32>().is_ok() && rest.ends_with(':');
            let date = rest.trim_end_matches(':');
            if !ok || !is_java_date(date) {
                out.push(format!("bad bucket line {l:?}"));
            }
            continue;
        }
        match l {
            "SessionTracker dump:" => section = "sessions",
            "ephemeral nodes dump:" => section = "ephemerals",
            "Connections dump:" => section = "connections",
            _ => {}
        }
        if let Some(rest) = l.strip_prefix("Session Sets (") {
            out.push(format!(
                "sessions: {}",
                rest.split("/(").nth(1).unwrap_or("?")
            ));
        } else if let Some(rest) = l.strip_prefix("Connections Sets (") {
            out.push(format!(
                "connections: {}",
                rest.split("/(").nth(1).unwrap_or("?")
            ));
        } else if l.starts_with("Sessions with Ephemerals") || !l.starts_with('\t') {
            if section == "ephemerals" && l.ends_with(':') && l.starts_with("0x") {
                eph_owner = names.of(l.trim_end_matches(':'));
            } else {
                out.push(l.to_string());
            }
        } else {
            let v = &l[1..];
            match section {
                "sessions" => sessions.push(names.of(v)),
                "ephemerals" => eph.entry(eph_owner.clone()).or_default().push(v.into()),
                _ => {
                    let sid = v.rsplit("sessionId: ").next().unwrap_or("?");
                    conns.push(format!(
                        "{} from {}",
                        names.of(sid),
                        v.starts_with("ip: /127.0.0.1:")
                    ));
                }
            }
        }
    }
    sessions.sort();
    conns.sort();
    for v in eph.values_mut() {
        v.sort();
    }
    out.push(format!("sessions {sessions:?}"));
    out.push(format!("ephemerals {eph:?}"));
    out.push(format!("connections {conns:?}"));
    out
}

/// `cons` lines as `(session name, keys in order, selected values)`; the asking connection
/// is the one without a session.
fn cons_shape(text: &str, names: &Names) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let Some((_, fields)) = l.split_once('(') else {
                return format!("bad line {l:?}");
            };
            let kv: Vec<(&str, &str)> = fields
                .trim_end_matches(')')
                .split(',')
                .filter_map(|f| f.split_once('='))
                .collect();
            let get = |k: &str| kv.iter().find(|(x, _)| *x == k).map(|(_, v)| *v);
            let who = get("sid")
                .map(|s| names.of(s))
                .unwrap_or_else(|| "asker".into());
            let keys: Vec<&str> = kv.iter().map(|(k, _)| *k).collect();
            let fixed: Vec<String> = ["queued", "recved", "sent", "lop", "to", "lzxid", "lresp"]
                .iter()
                .filter_map(|k| get(k).map(|v| (k, v)))
                .map(|(k, v)| match *k {
                    // Only whether a reply was ever sent counts.
                    "lresp" => format!("lresp>0={}", v != "0"),
                    "lzxid" => format!("lzxid_reset={}", v == "0xffffffffffffffff"),
                    _ => format!("{k}={v}"),
                })
                .collect();
            format!("{who}: {keys:?} {fixed:?} interest={}", l.contains("[1]("))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn four_letter_words_about_sessions_and_watches_match_apache() {
    use zk_tests::raw::{Handshake, RawClient};
    let (apache, ours) = start_pair(&Options::default());
    let mut failures = Vec::new();
    let run = |s: &TestServer| -> Vec<(String, Vec<String>)> {
        let mut a = RawClient::connect(s.addr()).unwrap();
        let hb = Handshake {
            timeout_ms: 10_000,
            ..Handshake::default()
        };
        let mut b = RawClient::handshake(s.addr(), &hb).unwrap();
        let names = Names(vec![
            (a.session.session_id, "a"),
            (b.session.session_id, "b"),
        ]);
        assert_eq!(a.create("/d4", b"", 0).unwrap().err, 0);
        for p in ["/d4/e1", "/d4/e2"] {
            assert_eq!(a.create(p, b"", 1).unwrap().err, 0);
        }
        assert_eq!(b.create("/d4/e3", b"", 1).unwrap().err, 0);
        assert_eq!(a.get_data("/d4", true).unwrap().err, 0);
        assert_eq!(a.get_children("/d4", true).unwrap().err, 0);
        // A child watch alone: ZooKeeper's wchs/wchc/wchp do not show it.
        assert_eq!(a.get_children("/d4/e1", true).unwrap().err, 0);
        assert_eq!(b.exists("/d4/x", true).unwrap().err, -101);
        assert_eq!(b.add_watch("/d4", 1).unwrap().err, 0);
        let mut got = vec![
            ("wchs".to_string(), vec![word(s, "wchs")]),
            (
                "wchc".into(),
                vec![format!("{:?}", grouped(&word(s, "wchc"), &names, true))],
            ),
            (
                "wchp".into(),
                vec![format!("{:?}", grouped(&word(s, "wchp"), &names, false))],
            ),
            ("dump".into(), dump_shape(&word(s, "dump"), &names)),
            ("cons".into(), cons_shape(&word(s, "cons"), &names)),
            ("crst".into(), vec![word(s, "crst")]),
            (
                "cons after crst".into(),
                cons_shape(&word(s, "cons"), &names),
            ),
            ("srst".into(), vec![word(s, "srst")]),
        ];
        let dirs = pairs(&word(s, "dirs"), ':');
        got.push((
            "dirs keys".into(),
            dirs.iter()
                .map(|(k, v)| format!("{k} numeric={}", v.parse::<u64>().is_ok()))
                .collect(),
        ));
        let srvr = pairs(&word(s, "srvr"), ':');
        got.push((
            "srvr Connections (a, b and the asker)".into(),
            vec![srvr.get("Connections").cloned().unwrap_or_default()],
        ));
        got
    };
    let (a, o) = std::thread::scope(|sc| {
        let a = sc.spawn(|| run(&apache));
        (a.join().unwrap(), run(&ours))
    });
    for ((what, va), (_, vo)) in a.iter().zip(&o) {
        if va != vo {
            failures.push(format!("{what}:\n  apache {va:?}\n  ours   {vo:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "four-letter words differ:\n{}",
        failures.join("\n")
    );
}

#[test]
fn default_whitelist_is_srvr_only_like_apache() {
    // No `4lw.commands.whitelist` line at all (the harness always writes one).
    let (apache, ours) = std::thread::scope(|s| {
        let a = s.spawn(|| bare::start_bare(zk_tests::Kind::Apache, ""));
        (
            a.join().unwrap(),
            bare::start_bare(zk_tests::Kind::Ours, ""),
        )
    });
    let mut failures = Vec::new();
    for w in [
        "ruok", "stat", "conf", "cons", "crst", "srst", "envi", "mntr", "wchs", "wchc", "wchp",
        "dump", "isro", "dirs",
    ] {
        let a = four_letter_word(apache.addr, w).unwrap();
        let o = four_letter_word(ours.addr, w).unwrap();
        if a != o {
            failures.push(format!("{w}: apache={a:?} ours={o:?}"));
        }
        if !o.contains("not in the whitelist") {
            failures.push(format!("{w} was served without being whitelisted: {o:?}"));
        }
    }
    let o = four_letter_word(ours.addr, "srvr").unwrap();
    if !o.starts_with("Zookeeper version:") {
        failures.push(format!("srvr: {o:?}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
