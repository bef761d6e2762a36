//! The AdminServer (`/commands`, `/commands/<name>`), ours beside Apache ZooKeeper 3.8's
//! own (Jetty, from the Debian package with libjetty9-java, libservlet-api-java and
//! libjackson2-*-java on its classpath) as the oracle: the same steps against both, in
//! standalone and in each role of an ensemble (leader, follower, observer). For every
//! command, every JSON key Apache answers with must be in ours, and the values that have
//! one meaning on both servers must agree. `monitor` and `system_properties` are compared
//! on the keys both have a meaning for (docs/compatibility.md says why).
//!
//! Without the jars Apache's AdminServer cannot run: the comparisons are then skipped with
//! a message, and ours is still checked on its own.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::raw::RawClient;
use zk_tests::{free_port, http_get, Kind, Options, TestServer};

const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

fn get(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = http_get(addr, path, HTTP_TIMEOUT)
        .unwrap_or_else(|e| panic!("GET {path} from {addr}: {e}"));
    assert_eq!(status, 200, "GET {path} from {addr}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// The command names `/commands` links to.
fn listed(addr: SocketAddr) -> Vec<String> {
    let (status, body) = http_get(addr, "/commands", HTTP_TIMEOUT).unwrap();
    assert_eq!(status, 200);
    body.lines()
        .filter_map(|l| l.split("href=\"/commands/").nth(1))
        .map(|l| l.split('"').next().unwrap().to_string())
        .collect()
}

/// Every key path of a JSON value; map keys that are ids, times or znode paths
/// (data, not names) become `*`.
fn key_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let data = k.trim_start_matches('-').parse::<i64>().is_ok() || k.starts_with('/');
                let p = format!("{prefix}.{}", if data { "*" } else { k });
                out.insert(p.clone());
                key_paths(x, &p, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                key_paths(x, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    key_paths(v, "", &mut s);
    s
}

/// Values with one meaning on both servers.
const AGREE: &[&str] = &[
    "command",
    "error",
    "read_only",
    "node_count",
    "num_connections",
    "num_paths",
    "num_total_watches",
    "zabstate",
    "voting",
    "is_leader",
    "synced_observers",
    "tracemask",
    "client_port_listen_backlog",
    "tick_time",
    "min_session_timeout",
    "max_session_timeout",
];

/// `monitor` keys both servers give with the same meaning (the rest of Apache's are
/// its JVM's and its pipeline's internals; see docs/compatibility.md).
const MONITOR_KEYS: &[&str] = &[
    "server_state",
    "znode_count",
    "watch_count",
    "ephemerals_count",
    "num_alive_connections",
    "outstanding_requests",
    "avg_latency",
    "max_latency",
    "min_latency",
    "packets_received",
    "packets_sent",
    "approximate_data_size",
    "open_file_descriptor_count",
    "max_file_descriptor_count",
    "global_sessions",
    "local_sessions",
    "uptime",
    "version",
];

fn compare(what: &str, apache: &Value, ours: &Value) {
    let cmd = apache["command"].as_str().unwrap_or("?");
    match cmd {
        "monitor" => {
            for k in MONITOR_KEYS {
                assert!(
                    apache.get(*k).is_some(),
                    "{what}: Apache's monitor has no {k}"
                );
                assert!(
                    ours.get(*k).is_some(),
                    "{what}: our monitor has no {k}: {ours}"
                );
            }
            for k in [
                "server_state",
                "znode_count",
                "ephemerals_count",
                "watch_count",
            ] {
                assert_eq!(apache[k], ours[k], "{what}: monitor {k}");
            }
        }
        // The JVM's own properties have no meaning here.
        "system_properties" => {}
        _ => {
            let missing: Vec<String> = keys(apache).difference(&keys(ours)).cloned().collect();
            assert!(
                missing.is_empty(),
                "{what}: keys of Apache's answer missing from ours: {missing:?}\napache: {apache}\nours: {ours}"
            );
        }
    }
    for k in AGREE {
        if let Some(a) = apache.get(*k) {
            assert_eq!(
                Some(a),
                ours.get(*k),
                "{what}: {k}\napache: {apache}\nours: {ours}"
            );
        }
    }
    assert_eq!(apache["command"], ours["command"], "{what}");
    assert_eq!(apache["error"], ours["error"], "{what}");
    if let (Some(a), Some(o)) = (apache.get("server_stats"), ours.get("server_stats")) {
        assert_eq!(a["server_state"], o["server_state"], "{what}: server_state");
        // The same requests got replies of the same sizes.
        assert_eq!(apache["client_response"], ours["client_response"], "{what}");
    }
}

/// What a server holds for the comparison: a session with an ephemeral node and
/// a data watch on it, and a child watch on the root.
fn populate(addr: SocketAddr) -> RawClient {
    let mut c = RawClient::connect(addr).expect("connect");
    assert_eq!(c.create("/a", b"x", 1).unwrap().err, 0);
    assert_eq!(c.get_data("/a", true).unwrap().err, 0);
    assert_eq!(c.get_children("/", true).unwrap().err, 0);
    c
}

fn admin_options(port: u16) -> Options {
    Options {
        extra: vec![
            ("admin.enableServer".into(), "true".into()),
            ("admin.serverAddress".into(), "127.0.0.1".into()),
            ("admin.serverPort".into(), port.to_string()),
        ],
        ..Options::default()
    }
}

/// Every command and alias of a list, with the arguments tests care for.
fn paths(names: &[String]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|n| format!("/commands/{n}")).collect();
    for extra in [
        "conf",
        "config",
        "cons",
        "lead",
        "mntr",
        "srvr",
        "stat",
        "isro",
        "wchs",
        "wchc",
        "wchp",
        "envi",
        "gtmk",
        "stmk",
        "stmk?traceMask=abc",
        "set_trace_mask?traceMask=5",
        "no_such_command",
    ] {
        v.push(format!("/commands/{extra}"));
    }
    v
}

fn apache_admin_available() -> bool {
    if zk_tests::apache_admin_jars().is_none() {
        eprintln!(
            "SKIPPED the comparison with Apache: its AdminServer needs Jetty 9, the servlet API \
             and Jackson (apt-get install libjetty9-java libservlet-api-java \
             libjackson2-databind-java libjackson2-core-java libjackson2-annotations-java)"
        );
        return false;
    }
    true
}

#[test]
fn standalone_admin_commands_match_apache() {
    let ours_port = free_port();
    let mut opts = admin_options(ours_port);
    opts.extra.push(("admin.idleTimeout".into(), "1000".into()));
    let ours = TestServer::start(Kind::Ours, &opts);
    let ours_addr = SocketAddr::from(([127, 0, 0, 1], ours_port));
    let _oc = populate(ours.addr());
    let names = listed(ours_addr);
    assert_eq!(names.len(), 26, "{names:?}");

    // A bad request closes its connection only; other paths are not commands.
    {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(ours_addr).unwrap();
        s.set_read_timeout(Some(HTTP_TIMEOUT)).unwrap();
        s.write_all(b"\x00\x01garbage that is not HTTP\r\n\r\n")
            .unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 400"),
            "{text}"
        );
    }
    assert_eq!(
        http_get(ours_addr, "/elsewhere", HTTP_TIMEOUT).unwrap().0,
        404
    );
    assert_eq!(get(ours_addr, "/commands/ruok")["error"], Value::Null);

    if apache_admin_available() {
        compare_standalone_with_apache(ours_addr, ours.addr(), &names);
    }
    // The trace mask set is the one read back.
    assert_eq!(get(ours_addr, "/commands/stmk?traceMask=7")["tracemask"], 7);
    assert_eq!(get(ours_addr, "/commands/get_trace_mask")["tracemask"], 7);
}

fn compare_standalone_with_apache(
    ours_addr: SocketAddr,
    ours_client: SocketAddr,
    names: &[String],
) {
    let apache_port = free_port();
    let apache = TestServer::start(Kind::Apache, &admin_options(apache_port));
    let apache_addr = SocketAddr::from(([127, 0, 0, 1], apache_port));
    assert!(
        zk_tests::wait_until(Duration::from_secs(30), || http_get(
            apache_addr,
            "/commands/ruok",
            HTTP_TIMEOUT
        )
        .is_ok()),
        "Apache's AdminServer does not answer:\n{}",
        apache.log_tail()
    );
    let _ac = populate(apache.addr());
    assert_eq!(listed(apache_addr), names, "the list of commands");
    for p in paths(names) {
        let a = get(apache_addr, &p);
        let o = get(ours_addr, &p);
        compare(&format!("standalone {p}"), &a, &o);
    }
    // Same ephemerals, same watched paths.
    let a = get(apache_addr, "/commands/dump");
    let o = get(ours_addr, "/commands/dump");
    let eph = |v: &Value| -> Vec<Value> {
        v["session_id_to_ephemeral_paths"]
            .as_object()
            .unwrap()
            .values()
            .cloned()
            .collect()
    };
    assert_eq!(eph(&a), eph(&o));
    let a = get(apache_addr, "/commands/watches_by_path");
    let o = get(ours_addr, "/commands/watches_by_path");
    let watched = |v: &Value| -> Vec<String> {
        v["path_to_session_ids"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(watched(&a), watched(&o));

    // The digest log (`hash`): after the same writes, the same entries (a digest
    // after every zxid that is a multiple of 128) in the same JSON.
    for addr in [apache.addr(), ours_client] {
        let mut c = RawClient::connect(addr).expect("connect");
        for i in 0..HASH_WRITES {
            assert_eq!(c.set_data("/a", &i.to_be_bytes(), -1).unwrap().err, 0);
        }
    }
    let a = get(apache_addr, "/commands/hash");
    let o = get(ours_addr, "/commands/hash");
    compare("standalone hash", &a, &o);
    assert_eq!(keys(&a), keys(&o), "apache: {a}\nours: {o}");
    let log = |v: &Value| -> Vec<(i64, i64, i64)> {
        v["digests"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .map(|d| {
                let n = |k: &str| d[k].as_i64().unwrap_or_else(|| panic!("{k}: {d}"));
                (n("zxid"), n("digest_version"), n("digest"))
            })
            .collect()
    };
    let (a, o) = (log(&a), log(&o));
    // Both: session 1, /a at 2, the writer's session at 3, then the writes.
    let last = 3 + HASH_WRITES as i64;
    let zxids: Vec<i64> = (1..=last).filter(|z| z % 128 == 0).collect();
    assert_eq!(a.iter().map(|e| e.0).collect::<Vec<_>>(), zxids, "Apache's");
    assert_eq!(o.iter().map(|e| e.0).collect::<Vec<_>>(), zxids, "ours");
    for (a, o) in a.iter().zip(&o) {
        assert_eq!((a.1, o.1), (2, 2), "digest version");
        // The digests differ, as the trees do: ctime, mtime and the session ids in
        // ephemeralOwner are each server's own. Each is a tree's digest, not 0.
        assert_ne!(a.2, 0);
        assert_ne!(o.2, 0);
    }
}

/// Writes before `hash` is compared: past two of Apache's 128-zxid marks.
const HASH_WRITES: u32 = 300;

/// Server id by role (`leader`, `follower`, `observer`), once everyone serves.
fn roles(ens: &mut Ensemble) -> BTreeMap<String, u64> {
    ens.wait_serving(&ens.ids(), Duration::from_secs(90));
    ens.ids()
        .into_iter()
        .map(|i| (ens.mode(i).unwrap(), i))
        .collect()
}

fn admin_addr(ens: &Ensemble, id: u64) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], ens.member(id).admin_port))
}

#[test]
fn ensemble_admin_commands_match_apache_by_role() {
    let with_apache = apache_admin_available();
    let mut ours = Ensemble::new(Spec::new(2, 1).admin());
    let mut apache = with_apache.then(|| {
        Ensemble::new(Spec {
            kind: Kind::Apache,
            ..Spec::new(2, 1).admin()
        })
    });
    // One server alone has no quorum: what both answer then.
    ours.start(1);
    if let Some(a) = apache.as_mut() {
        a.start(1);
    }
    let not_serving = |ens: &Ensemble| {
        zk_tests::wait_until(Duration::from_secs(60), || {
            http_get(admin_addr(ens, 1), "/commands/ruok", HTTP_TIMEOUT)
                .is_ok_and(|(_, b)| b.contains("not currently serving"))
        })
    };
    assert!(not_serving(&ours), "{}", ours.log(1));
    let names = listed(admin_addr(&ours, 1));
    assert_eq!(names.len(), 26);
    if let Some(a) = apache.as_ref() {
        assert!(not_serving(a), "{}", a.log(1));
        for p in paths(&names) {
            // Apache's monitor fails there (HTTP 500, a NullPointerException); ours answers.
            if p.ends_with("/monitor") || p.ends_with("/mntr") {
                continue;
            }
            let a = get(admin_addr(a, 1), &p);
            let o = get(admin_addr(&ours, 1), &p);
            compare(&format!("looking {p}"), &a, &o);
        }
    }

    for id in [2, 3] {
        ours.start(id);
        if let Some(a) = apache.as_mut() {
            a.start(id);
        }
    }
    let our_roles = roles(&mut ours);
    for (role, id) in &our_roles {
        let addr = admin_addr(&ours, *id);
        let lead = get(addr, "/commands/leader");
        assert_eq!(lead["leader_id"], our_roles["leader"], "{role}: {lead}");
        assert_eq!(lead["is_leader"], role == "leader", "{role}: {lead}");
        let zab = get(addr, "/commands/zabstate");
        assert_eq!(zab["zabstate"], "broadcast", "{role}: {zab}");
        assert_eq!(zab["myid"], *id, "{role}: {zab}");
        assert_eq!(zab["voting"], role != "observer", "{role}: {zab}");
        let view = get(addr, "/commands/voting_view");
        let voters: Vec<&String> = view["current_config"].as_object().unwrap().keys().collect();
        assert_eq!(voters, ["1", "2"], "{role}: {view}");
        let srvr = get(addr, "/commands/srvr");
        assert_eq!(srvr["server_stats"]["server_state"], role.as_str());
    }
    let obs = get(
        admin_addr(&ours, our_roles["leader"]),
        "/commands/observers",
    );
    assert_eq!(obs["synced_observers"], 1, "{obs}");

    let Some(apache) = apache.as_mut() else {
        return;
    };
    let apache_roles = roles(apache);
    assert_eq!(listed(admin_addr(apache, 1)), names);
    for (role, oid) in &our_roles {
        let aid = apache_roles[role];
        let (aa, oa) = (admin_addr(apache, aid), admin_addr(&ours, *oid));
        for p in paths(&names) {
            let a = get(aa, &p);
            let o = get(oa, &p);
            compare(&format!("{role} {p}"), &a, &o);
        }
        // The leader each names is the ensemble's leader.
        assert_eq!(
            get(aa, "/commands/leader")["leader_id"],
            apache_roles["leader"]
        );
    }
}

/// Read-only mode (`readonlymode.enabled`, a lone member of a three-server ensemble), ours
/// alone: Apache's takes the mode from a JVM flag that the harness does not pass. As
/// Apache's ReadOnlyZooKeeperServer, it is no quorum server then.
#[test]
fn read_only_mode_shows_in_the_admin_server() {
    let mut ens = Ensemble::new(
        Spec::new(3, 0)
            .admin()
            .extra("readonlymode.enabled", "true"),
    );
    ens.start(1);
    let addr = admin_addr(&ens, 1);
    assert!(
        zk_tests::wait_until(Duration::from_secs(60), || http_get(
            addr,
            "/commands/is_read_only",
            HTTP_TIMEOUT
        )
        .is_ok_and(|(_, b)| b.contains("\"read_only\": true"))),
        "server 1 alone never went read-only\n{}",
        ens.logs(&[1])
    );
    let srvr = get(addr, "/commands/srvr");
    assert_eq!(srvr["read_only"], true, "{srvr}");
    assert_eq!(srvr["server_stats"]["server_state"], "read-only", "{srvr}");
    let lead = get(addr, "/commands/leader");
    assert_eq!(lead["error"], "server is not initialized", "{lead}");
    let zab = get(addr, "/commands/zabstate");
    assert_eq!(zab["zabstate"], "", "{zab}");
    assert_eq!(get(addr, "/commands/ruok")["error"], Value::Null);
}

/// With digests off Apache still logs an entry every 128 zxids, its digest 0 (its tree
/// keeps no digest): ours answers the same.
#[test]
fn hash_with_digests_off_logs_zero_like_apache() {
    let run = |kind: Kind| -> Value {
        let port = free_port();
        let mut opts = admin_options(port);
        opts.extra.push(("digest.enabled".into(), "false".into()));
        let s = TestServer::start(kind, &opts);
        let admin = SocketAddr::from(([127, 0, 0, 1], port));
        assert!(
            zk_tests::wait_until(Duration::from_secs(30), || http_get(
                admin,
                "/commands/ruok",
                HTTP_TIMEOUT
            )
            .is_ok()),
            "the AdminServer does not answer:\n{}",
            s.log_tail()
        );
        let mut c = RawClient::connect(s.addr()).expect("connect");
        assert_eq!(c.create("/h", b"", 0).unwrap().err, 0);
        for i in 0..130u32 {
            assert_eq!(c.set_data("/h", &i.to_be_bytes(), -1).unwrap().err, 0);
        }
        get(admin, "/commands/hash")["digests"].clone()
    };
    let expected = serde_json::json!([{"zxid": 128, "digest_version": 2, "digest": 0}]);
    assert_eq!(run(Kind::Ours), expected, "ours");
    if apache_admin_available() {
        assert_eq!(run(Kind::Apache), expected, "Apache's");
    }
}
