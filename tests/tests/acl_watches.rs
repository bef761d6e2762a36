//! A watcher never learns about a node it may not read, and the auth schemes clients use.
//!
//! Against Apache ZooKeeper 3.8 and ours (differential): persistent and recursive watches
//! deliver no event about a node the watcher may not read (ZooKeeper checks the node's ACL, and
//! the parent's for NodeChildrenChanged); `addauth ip` adds the client's own address whatever it
//! sends; `addauth world` fails and closes; an ACL naming `super` is InvalidACL.
//!
//! Against ours only: the events setWatches fires at once are filtered the same way. Apache
//! ZooKeeper 3.8.0 does not filter them (it tells a reconnecting client that a node it cannot
//! read has changed); we keep the rule without exception.

use std::time::Duration;

use serde_json::{json, Value};
use zk_tests::raw::{self, RawClient, DIGEST_U_PW};
use zk_tests::{diff, start_pair, Kind, Options, TestServer};

/// How long to wait for events that must not come; the events that must come are asked for
/// after them, so a slow server cannot make a missing event look filtered.
const QUIET: Duration = Duration::from_millis(500);
const EVENT_WAIT: Duration = Duration::from_secs(5);

fn reply_json(step: &str, r: &raw::Reply) -> Value {
    json!({"step": step, "err": r.err, "zxid": r.zxid})
}

fn events(c: &mut RawClient, n: usize, wait: Duration) -> Vec<Value> {
    c.wait_events(n, wait).unwrap();
    c.events
        .drain(..)
        .map(|e| json!({"type": e.event_type, "path": e.path}))
        .collect()
}

fn script(s: &TestServer) -> Vec<String> {
    let addr = s.addr();
    let mut out: Vec<Value> = Vec::new();
    let mut w = RawClient::connect(addr).expect("connect w");
    let mut c = RawClient::connect(addr).expect("connect c");
    let r = c.create("/aw", b"", 0).unwrap();
    out.push(json!({"op": "base", "zxid": r.zxid}));
    out.push(reply_json(
        "c: addauth digest u:pw",
        &c.auth("digest", b"u:pw").unwrap(),
    ));
    let secret = [(31, "digest", DIGEST_U_PW)];
    out.push(reply_json(
        "w: addWatch /aw recursive",
        &w.add_watch("/aw", raw::ADD_WATCH_PERSISTENT_RECURSIVE)
            .unwrap(),
    ));
    out.push(reply_json(
        "w: addWatch /aw/secdir persistent",
        &w.add_watch("/aw/secdir", raw::ADD_WATCH_PERSISTENT)
            .unwrap(),
    ));
    for (step, r) in [
        (
            "c: create /aw/sec (digest)",
            c.create_with_acl("/aw/sec", b"s", 0, &secret),
        ),
        ("c: set /aw/sec", c.set_data("/aw/sec", b"t", -1)),
        (
            "c: create /aw/secdir (digest)",
            c.create_with_acl("/aw/secdir", b"", 0, &secret),
        ),
        (
            "c: create /aw/secdir/x (open)",
            c.create("/aw/secdir/x", b"", 0),
        ),
        ("c: delete /aw/secdir/x", c.delete("/aw/secdir/x", -1)),
        ("c: delete /aw/sec", c.delete("/aw/sec", -1)),
        ("c: create /aw/pub", c.create("/aw/pub", b"", 0)),
    ] {
        out.push(reply_json(step, &r.unwrap()));
    }
    // Of all that, w may only hear about what it can read: /aw/secdir/x (open ACL, its
    // creation and deletion) and /aw/pub. /aw/secdir's child changes are decided by
    // /aw/secdir's ACL, so its persistent watch stays silent.
    out.push(json!({"step": "w's events", "events": events(&mut w, 3, EVENT_WAIT)}));
    out.push(json!({"step": "w: nothing more", "events": events(&mut w, 1, QUIET)}));

    // addauth ip: the connection's own address, whatever the client claims.
    out.push(reply_json(
        "w: addauth ip 10.9.8.7",
        &w.auth("ip", b"10.9.8.7").unwrap(),
    ));
    out.push(json!({"step": "w: whoAmI", "ids": w.who_am_i().unwrap()}));
    out.push(reply_json(
        "w: create ip:10.9.8.7 acl",
        &w.create_with_acl("/aw/ip", b"", 0, &[(31, "ip", "10.9.8.7")])
            .unwrap(),
    ));
    out.push(reply_json(
        "w: get it",
        &w.get_data("/aw/ip", false).unwrap(),
    ));
    out.push(reply_json(
        "w: create super acl",
        &w.create_with_acl("/aw/super", b"", 0, &[(31, "super", "")])
            .unwrap(),
    ));
    let mut x = RawClient::connect(addr).expect("connect x");
    out.push(reply_json(
        "x: addauth world",
        &x.auth("world", b"anyone").unwrap(),
    ));
    out.push(json!({"step": "x closed after the failure",
        "closed": x.closed_within(Duration::from_secs(10))}));
    out.into_iter().map(|v| v.to_string()).collect()
}

#[test]
fn watchers_only_hear_of_readable_nodes_like_apache() {
    let (apache, ours) = start_pair(&Options::default());
    let (a, o) = std::thread::scope(|s| {
        let a = s.spawn(|| script(&apache));
        (a.join().unwrap(), script(&ours))
    });
    diff::assert_same(
        "ACLs and watches",
        &diff::normalise(&a),
        &diff::normalise(&o),
    );
}

#[test]
fn set_watches_fires_nothing_about_unreadable_nodes() {
    let server = TestServer::start(Kind::Ours, &Options::default());
    let addr = server.addr();
    let mut c = RawClient::connect(addr).unwrap();
    assert_eq!(c.auth("digest", b"u:pw").unwrap().err, 0);
    let secret = [(31, "digest", DIGEST_U_PW)];
    let seen = c.create("/sw", b"", 0).unwrap().zxid;
    assert_eq!(c.create("/sw/open", b"", 0).unwrap().err, 0);
    for p in ["/sw/sec", "/sw/secdir"] {
        assert_eq!(c.create_with_acl(p, b"", 0, &secret).unwrap().err, 0);
    }
    assert_eq!(c.create("/sw/secdir/x", b"", 0).unwrap().err, 0);
    assert_eq!(c.set_data("/sw/sec", b"x", -1).unwrap().err, 0);

    // w restores watches as of `seen`: every path changed since, but w may read only /sw/open.
    let mut w = RawClient::connect(addr).unwrap();
    let r = w
        .set_watches(
            seen,
            &["/sw/sec", "/sw/open"],
            &["/sw/sec"],
            &["/sw/secdir"],
        )
        .unwrap();
    assert_eq!(r.err, 0);
    let got: Vec<(i32, String)> = w.events.drain(..).map(|e| (e.event_type, e.path)).collect();
    // NodeCreated for the exist watch on /sw/open would need it in exist_watches; only the
    // data watch on /sw/open fires.
    assert_eq!(
        got,
        vec![(3, "/sw/open".to_string())],
        "setWatches told w about nodes it may not read"
    );
    // The watches on unreadable nodes are armed; their events stay filtered when they fire,
    // and w hears nothing until a node it may read changes.
    assert_eq!(c.set_data("/sw/sec", b"y", -1).unwrap().err, 0);
    assert_eq!(c.create("/sw/secdir/y", b"", 0).unwrap().err, 0);
    w.wait_events(1, QUIET).unwrap();
    assert!(w.events.is_empty(), "events: {:?}", w.events);
}
