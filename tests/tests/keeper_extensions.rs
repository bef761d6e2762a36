//! ClickHouse Keeper's extension operations (op codes 500-507), spoken as
//! ClickHouse's client speaks them (tests/src/keeper.rs): discovery through
//! `/keeper/feature_flags`, `/keeper/api_version`, `apiv` and `ftfl`; each op
//! alone with Keeper's error codes; the write extensions inside multi; the
//! watch events a recursive delete fires. Apache ZooKeeper has none of these:
//! it is the oracle for what an Apache client sees (the discovery nodes are
//! missing there, so ClickHouse's client falls back to plain ZooKeeper) and
//! for the events of the same deletes done one by one.

use std::collections::BTreeSet;
use std::time::Duration;

use zk_tests::keeper::{self, body, KeeperClient, MultiResult};
use zk_tests::raw::{self, RawClient};
use zk_tests::{diff, four_letter_word, run_python, start_pair, Kind, Options, TestServer};

const EVENT_WAIT: Duration = Duration::from_secs(5);

fn ours() -> TestServer {
    TestServer::start(Kind::Ours, &Options::default())
}

fn create(c: &mut KeeperClient, path: &str, flags: i32) {
    let r = c.raw.create(path, b"d", flags).unwrap();
    assert_eq!(r.err, 0, "create {path}");
}

fn exists(c: &mut KeeperClient, path: &str) -> bool {
    c.raw.exists(path, false).unwrap().err == 0
}

fn children(c: &mut KeeperClient, path: &str) -> Vec<String> {
    let r = c.raw.get_children(path, false).unwrap();
    let mut v = raw::Reader::new(&r.body).strings();
    v.sort();
    v
}

/// /t, /t/a, /t/a/x, /t/a/y, /t/b: five nodes.
fn small_tree(c: &mut KeeperClient) {
    for p in ["/t", "/t/a", "/t/a/x", "/t/a/y", "/t/b"] {
        create(c, p, 0);
    }
}

#[test]
fn discovery_nodes_and_words_as_keeper_serves_them() {
    let s = ours();
    let mut c = KeeperClient::connect(s.addr()).unwrap();
    // filtered_list, multi_read, check_not_exists, create_if_not_exists,
    // remove_recursive, check_stat, persistent_watches | try_remove,
    // list_with_stat_and_data (10); not multi_watches (5), create_with_stats (8).
    assert_eq!(c.feature_flags().unwrap(), Some(vec![0xFB, 0x60]));
    assert_eq!(c.api_version().unwrap().as_deref(), Some("3"));
    // The nodes are not in the tree: `ls /` is as Apache's.
    assert_eq!(children(&mut c, "/"), vec!["zookeeper"]);
    assert!(!exists(&mut c, "/keeper"));
    assert_eq!(four_letter_word(s.addr(), "apiv").unwrap(), "2");
    let ftfl = four_letter_word(s.addr(), "ftfl").unwrap();
    let lines: Vec<&str> = ftfl.lines().collect();
    assert_eq!(
        lines,
        vec![
            "filtered_list\t1",
            "multi_read\t1",
            "check_not_exists\t1",
            "create_if_not_exists\t1",
            "remove_recursive\t1",
            "multi_watches\t0",
            "check_stat\t1",
            "persistent_watches\t1",
            "create_with_stats\t0",
            "try_remove\t1",
            "list_with_stat_and_data\t1",
        ]
    );
}

#[test]
fn extension_words_follow_the_whitelist() {
    let s = TestServer::start(
        Kind::Ours,
        &Options {
            four_letter_words: "srvr".into(),
            ..Options::default()
        },
    );
    for w in ["apiv", "ftfl"] {
        let o = four_letter_word(s.addr(), w).unwrap();
        assert!(o.contains("not in the whitelist"), "{w}: {o:?}");
    }
}

#[test]
fn filtered_lists() {
    let s = ours();
    let mut c = KeeperClient::connect(s.addr()).unwrap();
    create(&mut c, "/f", 0);
    create(&mut c, "/f/p1", 0);
    create(&mut c, "/f/p2", 0);
    create(&mut c, "/f/e1", 1);
    let set = |v: Vec<String>| v.into_iter().collect::<BTreeSet<_>>();
    let (err, all) = c.filtered_list("/f", false, keeper::LIST_ALL).unwrap();
    assert_eq!(
        (err, set(all)),
        (0, set(vec!["p1".into(), "p2".into(), "e1".into()]))
    );
    let (_, p) = c
        .filtered_list("/f", false, keeper::LIST_PERSISTENT)
        .unwrap();
    assert_eq!(set(p), set(vec!["p1".into(), "p2".into()]));
    let (_, e) = c
        .filtered_list("/f", false, keeper::LIST_EPHEMERAL)
        .unwrap();
    assert_eq!(e, vec!["e1".to_string()]);
    assert_eq!(
        c.filtered_list("/nope", false, 0).unwrap().0,
        keeper::ZNONODE
    );

    // With stats and data: one Stat and one buffer per child listed.
    c.raw.set_data("/f/p1", b"one", -1).unwrap();
    let l = c
        .filtered_list_with_stats("/f", keeper::LIST_PERSISTENT, true, true)
        .unwrap()
        .unwrap();
    assert_eq!(l.children.len(), 2);
    assert_eq!(l.stats.len(), 2);
    for (i, name) in l.children.iter().enumerate() {
        let want: &[u8] = if name == "p1" { b"one" } else { b"d" };
        assert_eq!(l.data[i], want, "{name}");
        assert_eq!(l.stats[i][8], want.len() as i64, "dataLength of {name}");
    }
    assert_eq!(l.stat[9], 3, "the listed node's numChildren");
    let bare = c
        .filtered_list_with_stats("/f", keeper::LIST_ALL, false, false)
        .unwrap()
        .unwrap();
    assert_eq!(
        (bare.children.len(), bare.stats.len(), bare.data.len()),
        (3, 0, 0)
    );

    // A filtered list with the watch flag arms a child watch.
    let mut w = KeeperClient::connect(s.addr()).unwrap();
    w.filtered_list("/f", true, keeper::LIST_ALL).unwrap();
    create(&mut c, "/f/p3", 0);
    w.raw.wait_events(1, EVENT_WAIT).unwrap();
    assert_eq!(w.raw.events[0].event_type, 4);
    assert_eq!(w.raw.events[0].path, "/f");
}

#[test]
fn list_recursive_breadth_first_with_limit() {
    let s = ours();
    let mut c = KeeperClient::connect(s.addr()).unwrap();
    small_tree(&mut c);
    let (err, paths) = c.list_recursive("/t", u32::MAX).unwrap();
    assert_eq!(err, 0);
    let set: BTreeSet<_> = paths.iter().cloned().collect();
    let want: BTreeSet<String> = ["/t/a", "/t/a/x", "/t/a/y", "/t/b"]
        .map(String::from)
        .into();
    assert_eq!(set, want);
    // Breadth first: the children of /t before their own children.
    let depth = |p: &String| p.matches('/').count();
    assert!(
        paths.windows(2).all(|w| depth(&w[0]) <= depth(&w[1])),
        "{paths:?}"
    );
    // Keeper truncates at the limit without an error.
    let (err, two) = c.list_recursive("/t", 2).unwrap();
    assert_eq!((err, two.len()), (0, 2));
    assert_eq!(c.list_recursive("/t/b", 10).unwrap(), (0, vec![]));
    assert_eq!(c.list_recursive("/nope", 10).unwrap().0, keeper::ZNONODE);
}

#[test]
fn checks_outside_multi() {
    let s = ours();
    let mut c = KeeperClient::connect(s.addr()).unwrap();
    create(&mut c, "/c", 0);
    c.raw.set_data("/c", b"v1", -1).unwrap();
    assert_eq!(c.check_not_exists("/c", -1).unwrap(), keeper::ZNODEEXISTS);
    assert_eq!(c.check_not_exists("/c", 1).unwrap(), keeper::ZNODEEXISTS);
    assert_eq!(
        c.check_not_exists("/c", 7).unwrap(),
        keeper::ZOK,
        "another version"
    );
    assert_eq!(c.check_not_exists("/nope", -1).unwrap(), keeper::ZOK);

    let r = c.raw.exists("/c", false).unwrap();
    let st = raw::Reader::new(&r.body).stat();
    assert_eq!(
        c.check_stat("/c", -1, &keeper::ANY_STAT).unwrap(),
        keeper::ZOK
    );
    assert_eq!(c.check_stat("/c", 1, &st).unwrap(), keeper::ZOK);
    assert_eq!(c.check_stat("/c", 0, &st).unwrap(), keeper::ZBADVERSION);
    let mut other = keeper::ANY_STAT;
    other[1] = st[1] + 1; // mzxid
    assert_eq!(c.check_stat("/c", -1, &other).unwrap(), keeper::ZBADVERSION);
    let mut len = keeper::ANY_STAT;
    len[8] = 2; // dataLength
    assert_eq!(c.check_stat("/c", -1, &len).unwrap(), keeper::ZOK);
    assert_eq!(
        c.check_stat("/nope", -1, &keeper::ANY_STAT).unwrap(),
        keeper::ZNONODE
    );
}

#[test]
fn create_if_not_exists_and_try_remove() {
    let s = ours();
    let mut c = KeeperClient::connect(s.addr()).unwrap();
    assert_eq!(
        c.create_if_not_exists("/n", b"first").unwrap(),
        (0, "/n".into())
    );
    // Already there: Ok, the path, and the node is not touched.
    assert_eq!(
        c.create_if_not_exists("/n", b"second").unwrap(),
        (0, "/n".into())
    );
    let r = c.raw.get_data("/n", false).unwrap();
    assert_eq!(raw::Reader::new(&r.body).buf(), b"first");
    assert_eq!(
        c.create_if_not_exists("/no/parent", b"").unwrap().0,
        keeper::ZNONODE
    );
    let seq = c
        .call(keeper::CREATE_IF_NOT_EXISTS, &body::create("/n/s-", b"", 2))
        .unwrap();
    assert_eq!(
        seq.err,
        keeper::ZBADARGUMENTS,
        "sequential createIfNotExists"
    );

    create(&mut c, "/n/child", 0);
    assert_eq!(c.try_remove("/nope", -1).unwrap(), 0);
    assert_eq!(c.try_remove("/no/parent", -1).unwrap(), 0);
    assert_eq!(
        c.try_remove("/n", -1).unwrap(),
        0,
        "not empty: Ok, nothing done"
    );
    assert!(exists(&mut c, "/n"));
    assert_eq!(c.try_remove("/n/child", 5).unwrap(), 0, "another version");
    assert!(exists(&mut c, "/n/child"));
    assert_eq!(c.try_remove("/n/child", 0).unwrap(), 0);
    assert!(!exists(&mut c, "/n/child"));
    assert_eq!(
        c.try_remove("/zookeeper", -1).unwrap(),
        keeper::ZBADARGUMENTS
    );
}

#[test]
fn remove_recursive_limits_and_errors() {
    let s = ours();
    let mut c = KeeperClient::connect(s.addr()).unwrap();
    small_tree(&mut c);
    // Five nodes: a limit below that is NotEmpty, and nothing is removed.
    assert_eq!(c.remove_recursive("/t", 4).unwrap(), keeper::ZNOTEMPTY);
    assert_eq!(c.list_recursive("/t", 100).unwrap().1.len(), 4);
    // A leaf goes whatever the limit (Keeper counts only when it meets children).
    assert_eq!(c.remove_recursive("/t/b", 0).unwrap(), 0);
    assert!(!exists(&mut c, "/t/b"));
    assert_eq!(c.remove_recursive("/t", 4).unwrap(), 0);
    assert!(!exists(&mut c, "/t"));
    assert_eq!(c.remove_recursive("/t", 4).unwrap(), 0, "no such node: Ok");
    assert_eq!(c.remove_recursive("/no/parent", 4).unwrap(), 0);
    assert_eq!(c.remove_recursive("/", 100).unwrap(), keeper::ZBADARGUMENTS);
    assert_eq!(
        c.remove_recursive("/zookeeper", 100).unwrap(),
        keeper::ZBADARGUMENTS
    );
    assert_eq!(children(&mut c, "/"), vec!["zookeeper"]);

    // DELETE is needed on the parent and on every node below.
    create(&mut c, "/g", 0);
    let r = c
        .raw
        .create_with_acl("/g/locked", b"", 0, &[(31 & !8, "world", "anyone")])
        .unwrap();
    assert_eq!(r.err, 0);
    create(&mut c, "/g/locked/x", 0);
    assert_eq!(c.remove_recursive("/g", 100).unwrap(), keeper::ZNOAUTH);
    assert!(exists(&mut c, "/g/locked/x"));
}

#[test]
fn remove_recursive_fires_the_events_of_the_same_deletes_done_one_by_one() {
    let (apache, ours) = start_pair(&Options::default());
    let mut got = Vec::new();
    for s in [&apache, &ours] {
        let mut c = KeeperClient::connect(s.addr()).unwrap();
        small_tree(&mut c);
        let mut w = RawClient::connect(s.addr()).unwrap();
        w.exists("/t/a/x", true).unwrap();
        w.get_data("/t/a", true).unwrap();
        w.get_children("/t", true).unwrap();
        w.get_children("/", true).unwrap();
        if s.kind == Kind::Apache {
            for p in ["/t/a/y", "/t/a/x", "/t/b", "/t/a", "/t"] {
                assert_eq!(c.raw.delete(p, -1).unwrap().err, 0);
            }
        } else {
            assert_eq!(c.remove_recursive("/t", 100).unwrap(), 0);
        }
        w.wait_events(4, EVENT_WAIT).unwrap();
        let mut ev: Vec<(i32, String)> = w
            .events
            .iter()
            .map(|e| (e.event_type, e.path.clone()))
            .collect();
        ev.sort();
        got.push(ev);
    }
    assert_eq!(
        got[0], got[1],
        "apache's one-by-one deletes vs our removeRecursive"
    );
    assert_eq!(
        got[1],
        vec![
            (2, "/t/a".to_string()),
            (2, "/t/a/x".to_string()),
            (4, "/".to_string()),
            (4, "/t".to_string()),
        ]
    );
}

fn res(op_type: i32, err: i32, path: Option<&str>) -> MultiResult {
    MultiResult {
        op_type,
        err,
        path: path.map(String::from),
    }
}

#[test]
fn write_extensions_inside_multi() {
    let s = ours();
    let mut c = KeeperClient::connect(s.addr()).unwrap();
    small_tree(&mut c);
    create(&mut c, "/m", 0);
    let (err, results) = c
        .multi(&[
            (keeper::CREATE_IF_NOT_EXISTS, body::create("/m/new", b"", 0)),
            (keeper::CREATE_IF_NOT_EXISTS, body::create("/m", b"", 0)),
            (keeper::CHECK_NOT_EXISTS, body::check("/m/other", -1)),
            (keeper::REMOVE_RECURSIVE, body::path_limit("/t", 100)),
            (keeper::TRY_REMOVE, body::remove("/missing", -1)),
            (
                keeper::CHECK_STAT,
                body::check_stat("/m", 0, &keeper::ANY_STAT),
            ),
            (raw::OP_CREATE, body::create("/t", b"", 0)),
        ])
        .unwrap();
    assert_eq!(err, 0);
    assert_eq!(
        results,
        vec![
            res(502, 0, Some("/m/new")),
            res(502, 0, Some("/m")),
            res(501, 0, None),
            res(503, 0, None),
            res(2, 0, None),
            res(13, 0, None),
            res(1, 0, Some("/t")),
        ]
    );
    assert!(exists(&mut c, "/m/new"));
    assert_eq!(
        children(&mut c, "/t"),
        Vec::<String>::new(),
        "/t recreated empty"
    );

    // A failing op: nothing of the multi happens, results as ZooKeeper's.
    small_tree_under(&mut c, "/r");
    let (err, results) = c
        .multi(&[
            (raw::OP_CREATE, body::create("/x1", b"", 0)),
            (keeper::REMOVE_RECURSIVE, body::path_limit("/r", 100)),
            (keeper::CHECK_NOT_EXISTS, body::check("/m", -1)),
            (raw::OP_CREATE, body::create("/x2", b"", 0)),
        ])
        .unwrap();
    // The header's error is 0, as Apache ZooKeeper answers a failed multi; the
    // results carry the failure (ClickHouse's client reads it from them).
    assert_eq!(err, 0);
    assert_eq!(
        results,
        vec![
            res(-1, 0, None),
            res(-1, 0, None),
            res(-1, keeper::ZNODEEXISTS, None),
            res(-1, keeper::ZRUNTIMEINCONSISTENCY, None),
        ]
    );
    assert!(!exists(&mut c, "/x1"));
    assert_eq!(c.list_recursive("/r", 100).unwrap().1.len(), 2);

    // removeRecursive over its limit fails the multi with NotEmpty.
    let (err, results) = c
        .multi(&[(keeper::REMOVE_RECURSIVE, body::path_limit("/r", 1))])
        .unwrap();
    assert_eq!((err, results), (0, vec![res(-1, keeper::ZNOTEMPTY, None)]));
    // Then a recreate inside the same multi sees the subtree gone.
    let (err, _) = c
        .multi(&[
            (keeper::REMOVE_RECURSIVE, body::path_limit("/r", 10)),
            (raw::OP_CREATE, body::create("/r", b"", 0)),
            (raw::OP_CREATE, body::create("/r/a", b"", 0)),
        ])
        .unwrap();
    assert_eq!(err, 0);
    assert_eq!(
        c.list_recursive("/r", 100).unwrap().1,
        vec!["/r/a".to_string()]
    );
}

fn small_tree_under(c: &mut KeeperClient, root: &str) {
    create(c, root, 0);
    create(c, &format!("{root}/a"), 0);
    create(c, &format!("{root}/a/b"), 0);
}

#[test]
fn apache_has_no_discovery_nodes_so_keeper_clients_fall_back() {
    let s = TestServer::start(Kind::Apache, &Options::default());
    let mut c = KeeperClient::connect(s.addr()).unwrap();
    assert_eq!(c.feature_flags().unwrap(), None);
    assert_eq!(c.api_version().unwrap(), None);
}

/// kazoo, an Apache client, on our server sees what it sees on Apache
/// ZooKeeper: the tree from `/` (no `/keeper`), a multi, its own recursive
/// delete and the events of it (tests/py/keeper_unaffected.py).
#[test]
fn kazoo_is_unaffected() {
    let (apache, ours) = start_pair(&Options::default());
    let (a, o) = std::thread::scope(|s| {
        let a = s.spawn(|| run_python("keeper_unaffected.py", &apache));
        (a.join().unwrap(), run_python("keeper_unaffected.py", &ours))
    });
    for want in ["tree from /", "exists /keeper", "tree after"] {
        assert!(o.iter().any(|l| l.contains(want)), "no {want} line: {o:?}");
    }
    assert!(o.iter().any(|l| l.contains("\"DELETED\"")), "{o:?}");
    diff::assert_same(
        "keeper_unaffected.py",
        &diff::normalise(&a),
        &diff::normalise(&o),
    );
}

/// In an ensemble of ours, the extensions sent through a follower reach the
/// leader as its forwarded requests and every member applies the Apache
/// transactions they became: the same tree everywhere, a watcher on another
/// member hears the deletes.
#[test]
fn extensions_through_a_follower_reach_every_member() {
    use zk_tests::ensemble::{Ensemble, Spec};
    let mut ens = Ensemble::new(Spec::new(3, 0));
    ens.start_all();
    let leader = ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
    let follower = *ens.ids().iter().find(|i| **i != leader).unwrap();
    let other = *ens
        .ids()
        .iter()
        .find(|i| **i != leader && **i != follower)
        .unwrap();

    let mut c = KeeperClient::connect(ens.member(follower).addr()).unwrap();
    assert_eq!(c.feature_flags().unwrap(), Some(vec![0xFB, 0x60]));
    small_tree(&mut c);
    let mut w = RawClient::connect(ens.member(other).addr()).unwrap();
    // Wait until the watcher's member has the tree, then watch it.
    assert!(zk_tests::wait_until(Duration::from_secs(10), || {
        w.exists("/t/b", false).unwrap().err == 0
    }));
    w.exists("/t/a/x", true).unwrap();

    assert_eq!(c.create_if_not_exists("/t", b"").unwrap(), (0, "/t".into()));
    assert_eq!(c.remove_recursive("/t/a", 1).unwrap(), keeper::ZNOTEMPTY);
    let (err, results) = c
        .multi(&[
            (keeper::REMOVE_RECURSIVE, body::path_limit("/t/a", 10)),
            (keeper::CREATE_IF_NOT_EXISTS, body::create("/t/c", b"", 0)),
            (keeper::TRY_REMOVE, body::remove("/t/b", -1)),
        ])
        .unwrap();
    assert_eq!(err, 0);
    assert_eq!(
        results,
        vec![
            res(503, 0, None),
            res(502, 0, Some("/t/c")),
            res(2, 0, None)
        ]
    );
    w.wait_events(1, EVENT_WAIT).unwrap();
    assert_eq!(
        (w.events[0].event_type, w.events[0].path.as_str()),
        (2, "/t/a/x")
    );
    for id in ens.ids() {
        let mut m = KeeperClient::connect(ens.member(id).addr()).unwrap();
        let ok = zk_tests::wait_until(Duration::from_secs(10), || {
            m.list_recursive("/t", 100).unwrap().1 == vec!["/t/c".to_string()]
        });
        assert!(
            ok,
            "member {id}: {:?}",
            m.list_recursive("/t", 100).unwrap()
        );
    }
}

/// ClickHouse's client batches exists, get and lists in a multiRead once the
/// server offers MULTI_READ: exists (3) and filteredList (500) are answered
/// there too, besides Apache's getData and getChildren.
#[test]
fn multi_read_with_clickhouse_reads() {
    let s = ours();
    let mut c = KeeperClient::connect(s.addr()).unwrap();
    create(&mut c, "/m", 0);
    create(&mut c, "/m/p", 0);
    create(&mut c, "/m/e", 1);
    let path_watch = |p: &str| {
        let mut b = Vec::new();
        raw::put_str(&mut b, p);
        b.push(0);
        b
    };
    let ops: Vec<(i32, Vec<u8>)> = vec![
        (raw::OP_EXISTS, path_watch("/m")),
        (raw::OP_EXISTS, path_watch("/missing")),
        (raw::OP_GET_DATA, path_watch("/m")),
        (raw::OP_GET_CHILDREN, path_watch("/m")),
        (
            keeper::FILTERED_LIST,
            body::filtered_list("/m", false, keeper::LIST_EPHEMERAL),
        ),
    ];
    let mut b = Vec::new();
    for (t, body) in &ops {
        raw::put_i32(&mut b, *t);
        b.push(0);
        raw::put_i32(&mut b, -1);
        b.extend_from_slice(body);
    }
    raw::put_i32(&mut b, -1);
    b.push(1);
    raw::put_i32(&mut b, -1);
    let r = c.call(raw::OP_MULTI_READ, &b).unwrap();
    assert_eq!(r.err, 0);
    let mut rd = raw::Reader::new(&r.body);
    let head = |rd: &mut raw::Reader| (rd.i32(), rd.take(1)[0], rd.i32());
    assert_eq!(head(&mut rd), (3, 0, 0));
    assert_eq!(rd.stat()[9], 2, "exists /m: its Stat");
    assert_eq!(head(&mut rd), (-1, 0, keeper::ZNONODE));
    assert_eq!(rd.i32(), keeper::ZNONODE);
    assert_eq!(head(&mut rd), (4, 0, 0));
    assert_eq!(rd.buf(), b"d");
    rd.stat();
    assert_eq!(head(&mut rd), (8, 0, 0));
    let mut ch = rd.strings();
    ch.sort();
    assert_eq!(ch, vec!["e", "p"]);
    assert_eq!(
        head(&mut rd),
        (12, 0, 0),
        "Keeper's list response names itself 12"
    );
    assert_eq!(rd.strings(), vec!["e"]);
    rd.stat();
    assert_eq!(head(&mut rd), (-1, 1, -1));
    assert_eq!(rd.remaining(), 0);
}

/// ClickHouse's `getChildren(paths, type, with_stat, with_data)` (its
/// Replicated database reads metadata this way once Keeper offers
/// LIST_WITH_STAT_AND_DATA): one filteredListWithStatsAndData (506) per path
/// in a multiRead. Each result is the op's own response body after its
/// header; a missing path is an error result, the others still answered.
#[test]
fn multi_read_with_list_with_stat_and_data() {
    let s = ours();
    let mut c = KeeperClient::connect(s.addr()).unwrap();
    create(&mut c, "/w", 0);
    for (p, d) in [("/w/a", b"1".as_slice()), ("/w/b", b"22".as_slice())] {
        let r = c.raw.create(p, d, 0).unwrap();
        assert_eq!(r.err, 0);
    }
    let ops: Vec<(i32, Vec<u8>)> = vec![
        (
            keeper::FILTERED_LIST_WITH_STATS_AND_DATA,
            body::filtered_list_with_stats("/w", keeper::LIST_ALL, false, true),
        ),
        (
            keeper::FILTERED_LIST_WITH_STATS_AND_DATA,
            body::filtered_list_with_stats("/gone", keeper::LIST_ALL, false, true),
        ),
        (
            keeper::FILTERED_LIST_WITH_STATS_AND_DATA,
            body::filtered_list_with_stats("/w", keeper::LIST_PERSISTENT, true, false),
        ),
    ];
    let mut b = Vec::new();
    for (t, body) in &ops {
        raw::put_i32(&mut b, *t);
        b.push(0);
        raw::put_i32(&mut b, -1);
        b.extend_from_slice(body);
    }
    raw::put_i32(&mut b, -1);
    b.push(1);
    raw::put_i32(&mut b, -1);
    let r = c.call(raw::OP_MULTI_READ, &b).unwrap();
    assert_eq!(r.err, 0);
    let mut rd = raw::Reader::new(&r.body);
    let head = |rd: &mut raw::Reader| (rd.i32(), rd.take(1)[0], rd.i32());
    // names, the listed node's Stat, the (empty) stats vector, the data.
    assert_eq!(head(&mut rd), (506, 0, 0));
    let names = rd.strings();
    let stat = rd.stat();
    assert_eq!(stat[9], 2, "the listed node's Stat: numChildren");
    assert_eq!(rd.i32(), 0, "no stats asked for: an empty vector");
    assert_eq!(rd.i32(), 2);
    let data = [rd.buf(), rd.buf()];
    let mut pairs: Vec<(String, Vec<u8>)> = names.into_iter().zip(data).collect();
    pairs.sort();
    assert_eq!(
        pairs,
        vec![("a".into(), b"1".to_vec()), ("b".into(), b"22".to_vec())]
    );
    assert_eq!(head(&mut rd), (-1, 0, keeper::ZNONODE));
    assert_eq!(rd.i32(), keeper::ZNONODE);
    assert_eq!(head(&mut rd), (506, 0, 0));
    assert_eq!(rd.strings().len(), 2);
    rd.stat();
    assert_eq!(rd.i32(), 2, "a Stat per child");
    let mut lens: Vec<i64> = (0..2).map(|_| rd.stat()[8]).collect();
    lens.sort();
    assert_eq!(lens, vec![1, 2], "each child's Stat: dataLength");
    assert_eq!(rd.i32(), 0, "no data asked for: an empty vector");
    assert_eq!(head(&mut rd), (-1, 1, -1));
    assert_eq!(rd.remaining(), 0);
}

/// ClickHouse's client with `use_xid_64` asks for Keeper's 64-bit xids in
/// the handshake (protocol version 11 and an extra byte, 46 bytes behind a
/// length of 45) and gets them: Keeper's 36-byte answer with version 11,
/// then every reply header with an 8-byte xid, the client's own even past
/// 2^31, watch events with xid -1 and pings with -2 in 8 bytes. The
/// request bodies and replies are the usual ones, multi and the extensions
/// included; a plain client on the same server sees the same tree.
#[test]
fn keeper_xid64_connection_serves_requests_multi_and_watches() {
    keeper_variant_session(true, false);
}

/// `use_compression` with `use_xid_64`: the same, with every byte after the
/// handshake answer in ClickHouse's compressed blocks both ways (LZ4,
/// CityHash128 v1.0.2 checksums, checked by the client as ClickHouse's
/// `CompressedReadBuffer` checks them).
#[test]
fn keeper_xid64_compressed_connection_serves_the_same() {
    keeper_variant_session(true, true);
}

/// `use_compression` alone: protocol version 10, 32-bit xids in blocks.
#[test]
fn keeper_compressed_connection_serves_the_same() {
    keeper_variant_session(false, true);
}

fn keeper_variant_session(xid64: bool, compression: bool) {
    use zk_tests::keeper::Xid64Client;
    let s = ours();
    // Past any 32-bit xid when the xids are 64-bit.
    let first = if xid64 { (1i64 << 40) + 7 } else { 1 };
    let mut c = Xid64Client::connect_with(s.addr(), first, xid64, compression).unwrap();
    assert_eq!(
        c.handshake.len(),
        36,
        "Keeper's answer has no readOnly byte"
    );
    let mut r = raw::Reader::new(&c.handshake);
    assert_eq!(r.i32(), if xid64 { 11 } else { 10 });
    assert_eq!(r.i32(), 30_000, "the timeout asked for, within the bounds");
    assert_ne!(r.i64(), 0, "a session");
    assert_eq!(r.buf().len(), 16);
    // create: the reply carries the client's xid and the path.
    let reply = c
        .call(raw::OP_CREATE, &body::create("/x", b"v0", 0))
        .unwrap();
    assert_eq!((reply.xid, reply.err), (first, 0));
    assert_eq!(raw::Reader::new(&reply.body).string(), "/x");
    assert!(reply.zxid > 0);

    // getData with a watch, then a plain client changes the node.
    let reply = c
        .call(raw::OP_GET_DATA, &body::path_watch("/x", true))
        .unwrap();
    assert_eq!((reply.xid, reply.err), (first + 1, 0));
    let mut rd = raw::Reader::new(&reply.body);
    assert_eq!(rd.buf(), b"v0");
    rd.stat();
    assert_eq!(rd.remaining(), 0);
    let mut plain = KeeperClient::connect(s.addr()).unwrap();
    assert_eq!(plain.raw.set_data("/x", b"v1", -1).unwrap().err, 0);
    c.wait_events(1, EVENT_WAIT).unwrap();
    assert_eq!(c.events, vec![(3, 3, "/x".to_string())], "NodeDataChanged");

    // ping: ClickHouse sends xid -2 and reads -2 back.
    let reply = c.call_with_xid(-2, raw::OP_PING, &[]).unwrap();
    assert_eq!((reply.xid, reply.err), (-2, 0));

    // multi with Apache's ops and Keeper's: create, createIfNotExists on an
    // existing node, check, checkNotExists.
    let ops = vec![
        (raw::OP_CREATE, body::create("/x/a", b"", 0)),
        (keeper::CREATE_IF_NOT_EXISTS, body::create("/x", b"", 0)),
        (raw::OP_CHECK, body::check("/x", 1)),
        (keeper::CHECK_NOT_EXISTS, body::check("/x/b", -1)),
    ];
    let xid = c.next_xid;
    let reply = c.call(raw::OP_MULTI, &body::multi(&ops)).unwrap();
    assert_eq!((reply.xid, reply.err), (xid, 0));
    let mut rd = raw::Reader::new(&reply.body);
    let mut results = Vec::new();
    for (t, _) in &ops {
        let (op, done, err) = (rd.i32(), rd.take(1)[0], rd.i32());
        assert_eq!(done, 0);
        if err == 0 && matches!(*t, raw::OP_CREATE | keeper::CREATE_IF_NOT_EXISTS) {
            results.push((op, err, Some(rd.string())));
        } else {
            results.push((op, err, None));
        }
    }
    assert_eq!((rd.i32(), rd.take(1)[0], rd.i32()), (-1, 1, -1));
    assert_eq!(rd.remaining(), 0);
    assert_eq!(
        results,
        vec![
            (raw::OP_CREATE, 0, Some("/x/a".to_string())),
            (keeper::CREATE_IF_NOT_EXISTS, 0, Some("/x".to_string())),
            (raw::OP_CHECK, 0, None),
            (keeper::CHECK_NOT_EXISTS, 0, None),
        ]
    );

    // An extension read and an error reply keep the client's xid too.
    let xid = c.next_xid;
    let reply = c
        .call(
            keeper::FILTERED_LIST,
            &body::filtered_list("/x", true, keeper::LIST_PERSISTENT),
        )
        .unwrap();
    assert_eq!((reply.xid, reply.err), (xid, 0));
    assert_eq!(raw::Reader::new(&reply.body).strings(), vec!["a"]);
    let xid = c.next_xid;
    let reply = c
        .call(raw::OP_GET_DATA, &body::path_watch("/missing", false))
        .unwrap();
    assert_eq!(
        (reply.xid, reply.err, reply.body.len()),
        (xid, keeper::ZNONODE, 0)
    );

    // The child watch FilteredList left fires for a plain client's create.
    assert_eq!(plain.raw.create("/x/b", b"", 0).unwrap().err, 0);
    c.wait_events(2, EVENT_WAIT).unwrap();
    assert_eq!(c.events[1], (4, 3, "/x".to_string()), "NodeChildrenChanged");

    // Pipelined requests come back in order, each with its own xid.
    let base = c.next_xid;
    for i in 0..20 {
        c.send(base + i, raw::OP_EXISTS, &body::path_watch("/x/a", false))
            .unwrap();
    }
    for i in 0..20 {
        let reply = c.read_reply().unwrap();
        assert_eq!((reply.xid, reply.err), (base + i, 0));
    }
    c.next_xid = base + 20;

    // The plain client sees what the xid64 one wrote.
    assert_eq!(children(&mut plain, "/x"), vec!["a", "b"]);

    // Twenty requests in one write (one block when compressed) come back
    // in order too.
    let base = c.next_xid;
    let reqs: Vec<_> = (0..20)
        .map(|i| (base + i, raw::OP_EXISTS, body::path_watch("/x/b", false)))
        .collect();
    c.send_batch(&reqs).unwrap();
    for i in 0..20 {
        let reply = c.read_reply().unwrap();
        assert_eq!((reply.xid, reply.err), (base + i, 0));
    }
    c.next_xid = base + 20;

    // A large node both ways: 600 KB of data in a block each way.
    let big: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    let mut set = Vec::new();
    raw::put_str(&mut set, "/x/a");
    raw::put_buf(&mut set, &big);
    raw::put_i32(&mut set, -1);
    assert_eq!(c.call(raw::OP_SET_DATA, &set).unwrap().err, 0);
    let reply = c
        .call(raw::OP_GET_DATA, &body::path_watch("/x/a", false))
        .unwrap();
    assert_eq!(raw::Reader::new(&reply.body).buf(), big);

    // close: ClickHouse sends CLOSE_XID (i32::MAX; i64::MAX with 64-bit
    // xids); the reply echoes it.
    let close = if xid64 { i64::MAX } else { i64::from(i32::MAX) };
    let reply = c.call_with_xid(close, raw::OP_CLOSE, &[]).unwrap();
    assert_eq!((reply.xid, reply.err), (close, 0));
}

/// ClickHouse's tracing connection (protocol version 12,
/// `pass_opentelemetry_tracing_context`) is not served: that one connection
/// is closed without an answer and a log line names the setting to turn
/// off; the server goes on serving other clients.
#[test]
fn keeper_tracing_handshake_is_refused_with_a_clear_log_line() {
    use std::io::{Read, Write};
    let s = ours();
    let mut sock = std::net::TcpStream::connect(s.addr()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    sock.write_all(&keeper::xid64_handshake(12, false)).unwrap();
    let mut got = Vec::new();
    // EOF (or a reset) and no ConnectResponse.
    let _ = sock.read_to_end(&mut got);
    assert!(got.is_empty(), "no handshake answer: {got:?}");
    let line =
        "protocol version 12: tracing) is not served; set pass_opentelemetry_tracing_context off";
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !s.log_tail().contains(line) {
        assert!(
            std::time::Instant::now() < deadline,
            "no log line {line:?}: {}",
            s.log_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Others are served as before.
    let mut c = KeeperClient::connect(s.addr()).unwrap();
    create(&mut c, "/after", 0);
    assert!(exists(&mut c, "/after"));
}

/// A compressed connection whose block fails its checksum is closed with a
/// log line, as ClickHouse's `CompressedReadBuffer` refuses it; others go on.
#[test]
fn keeper_compressed_block_with_a_bad_checksum_closes_that_connection() {
    use std::io::{Read, Write};
    use zk_tests::keeper::Xid64Client;
    let s = ours();
    let mut c = Xid64Client::connect_with(s.addr(), 1, true, true).unwrap();
    let mut p = Vec::new();
    raw::put_i32(&mut p, 12 + 6);
    raw::put_i64(&mut p, 1);
    raw::put_i32(&mut p, raw::OP_EXISTS);
    p.extend_from_slice(&body::path_watch("/", false));
    let mut block = keeper::compressed_block(&p);
    block[3] ^= 0x40;
    c.stream.write_all(&block).unwrap();
    let mut got = Vec::new();
    let _ = c.stream.read_to_end(&mut got);
    assert!(got.is_empty(), "no reply: {got:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !s.log_tail().contains("compressed block checksum mismatch") {
        assert!(
            std::time::Instant::now() < deadline,
            "no log line: {}",
            s.log_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut other = KeeperClient::connect(s.addr()).unwrap();
    assert!(exists(&mut other, "/zookeeper"));
}

/// The extensions' transactions are Apache's types in our log: a server
/// killed after them recovers the same tree from its log.
#[test]
fn extension_writes_survive_a_restart() {
    let mut s = ours();
    let mut c = KeeperClient::connect(s.addr()).unwrap();
    small_tree(&mut c);
    assert_eq!(
        c.create_if_not_exists("/t", b"").unwrap().0,
        0,
        "nothing to do"
    );
    assert_eq!(c.create_if_not_exists("/u", b"u").unwrap().0, 0);
    assert_eq!(c.try_remove("/t/b", -1).unwrap(), 0);
    assert_eq!(c.remove_recursive("/t/a", 10).unwrap(), 0);
    assert_eq!(c.remove_recursive("/gone", 10).unwrap(), 0, "nothing to do");
    let before = c.list_recursive("/", 100).unwrap();
    drop(c);
    s.kill9();
    s.restart();
    let mut c = KeeperClient::connect(s.addr()).unwrap();
    assert_eq!(c.list_recursive("/", 100).unwrap(), before);
    let got: BTreeSet<&str> = before.1.iter().map(String::as_str).collect();
    let want: BTreeSet<&str> = [
        "/t",
        "/u",
        "/zookeeper",
        "/zookeeper/config",
        "/zookeeper/quota",
    ]
    .into();
    assert_eq!(got, want);
}

/// Our leader, an Apache ZooKeeper 3.8 follower: the extensions' writes reach
/// it as Apache's own transactions (a multi of deletes, a create, an error
/// with code 0), which it applies; it then serves the same tree.
#[test]
fn an_apache_follower_applies_the_extensions_transactions() {
    use zk_tests::ensemble::{Ensemble, Spec};
    let mut ens = Ensemble::new(
        Spec::new(3, 0)
            .member_kind(1, Kind::Apache)
            .ticks(500, 20, 10),
    );
    ens.start(3);
    ens.start(2);
    let leader = ens.wait_serving(&[2, 3], Duration::from_secs(60));
    assert_eq!(leader, 3);
    ens.start(1);
    ens.wait_mode(1, "follower", Duration::from_secs(60));

    let mut c = KeeperClient::connect(ens.member(3).addr()).unwrap();
    small_tree(&mut c);
    assert_eq!(c.create_if_not_exists("/t", b"").unwrap().0, 0);
    assert_eq!(c.create_if_not_exists("/v", b"v").unwrap().0, 0);
    assert_eq!(c.remove_recursive("/t/a", 10).unwrap(), 0);
    assert_eq!(c.try_remove("/t/b", -1).unwrap(), 0);
    assert_eq!(c.remove_recursive("/none", 10).unwrap(), 0);
    create(&mut c, "/last", 0);

    // Read through the Apache member alone, with Apache's own ops.
    let mut a = KeeperClient::connect(ens.member(1).addr()).unwrap();
    assert!(zk_tests::wait_until(Duration::from_secs(20), || exists(
        &mut a, "/last"
    )));
    assert_eq!(children(&mut a, "/t"), Vec::<String>::new());
    assert!(exists(&mut a, "/v"));
    assert!(!exists(&mut a, "/t/a/x"));
    // And Apache's member has no discovery nodes: not ours to serve there.
    assert_eq!(a.feature_flags().unwrap(), None);
}
