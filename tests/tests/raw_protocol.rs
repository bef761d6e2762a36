//! The wire protocol spoken directly (tests/src/raw.rs), against Apache ZooKeeper 3.8 and ours:
//! handshake shapes (44-byte legacy ConnectRequest vs 45-byte), session timeout clamping,
//! persistent and persistent-recursive watches (kazoo 2.11 and the C client 3.8 have none),
//! removeWatches, opcodes that are illegal outside multi, and the xids of auth, sasl, setWatches
//! and ping replies.

use std::time::Duration;

use serde_json::{json, Value};
use zk_tests::raw::{self, RawClient, Reader};
use zk_tests::{diff, start_pair, TestServer};

const EVENT_WAIT: Duration = Duration::from_secs(5);

fn event_json(e: &raw::WatchEvent) -> Value {
    json!({"type": e.event_type, "state": e.state, "path": e.path, "zxid": e.zxid})
}

fn stat_json(st: &[i64; 11]) -> Value {
    json!({"czxid": st[0], "mzxid": st[1], "ctime": st[2], "mtime": st[3], "version": st[4],
        "cversion": st[5], "aversion": st[6], "ephemeralOwner": st[7], "dataLength": st[8],
        "numChildren": st[9], "pzxid": st[10]})
}

/// A multi's reply, each result as Java's MultiResponse would read it.
fn multi_json(step: &str, r: &raw::Reply) -> Value {
    let results = match raw::parse_multi(&r.body) {
        Ok(rs) => rs
            .iter()
            .map(|x| {
                json!({"type": x.op_type, "err": x.err, "path": x.path, "code": x.code,
                    "stat": x.stat.as_ref().map(stat_json)})
            })
            .collect::<Vec<_>>(),
        Err(e) => vec![json!({ "unreadable": e })],
    };
    json!({"step": step, "err": r.err, "zxid": r.zxid, "results": results})
}

fn reply_json(step: &str, r: &raw::Reply) -> Value {
    json!({"step": step, "err": r.err, "zxid": r.zxid, "body_len": r.body.len()})
}

/// Sends `check` (op 13) outside multi, then a ping, and lists the replies up to the ping's
/// (or until the server closes the connection).
fn check_then_ping(c: &mut RawClient, body: &[u8]) -> Vec<Value> {
    use std::io::Write;
    let mut p = Vec::new();
    raw::put_i32(&mut p, 1000);
    raw::put_i32(&mut p, 13);
    p.extend_from_slice(body);
    let mut bytes = raw::frame(&p);
    let mut ping = Vec::new();
    raw::put_i32(&mut ping, -2);
    raw::put_i32(&mut ping, raw::OP_PING);
    bytes.extend(raw::frame(&ping));
    c.stream.write_all(&bytes).unwrap();
    let mut seen = Vec::new();
    loop {
        match raw::read_frame(&mut c.stream) {
            Ok(f) => {
                let mut r = Reader::new(&f);
                let (xid, zxid, err) = (r.i32(), r.i64(), r.i32());
                seen.push(json!({"xid": xid, "zxid": zxid, "err": err, "body_len": r.remaining()}));
                if xid == -2 {
                    return seen;
                }
            }
            Err(e) => {
                seen.push(json!({"closed": e.kind().to_string()}));
                return seen;
            }
        }
    }
}

/// Runs the script against one server and returns its JSON lines.
fn script(s: &TestServer) -> Vec<String> {
    let mut out: Vec<Value> = Vec::new();
    let addr = s.addr();

    // Handshakes: the reply mirrors the request's readOnly byte.
    for (legacy, timeout) in [(true, 30_000), (false, 30_000)] {
        let c = RawClient::connect_with(addr, legacy)
            .unwrap_or_else(|e| panic!("connect to {}: {e}\n{}", s.kind.name(), s.log_tail()));
        out.push(
            json!({"step": format!("handshake legacy={legacy} timeout={timeout}"),
            "len": c.session.len, "protocol_version": c.session.protocol_version,
            "timeout": c.session.timeout_ms, "read_only": c.session.read_only,
            "passwd_len": c.session.passwd.len()}),
        );
    }

    let mut w = RawClient::connect(addr).expect("connect watcher");
    out.push(json!({"op": "session", "name": "w", "id": w.session.session_id}));
    let mut c = RawClient::connect(addr).expect("connect writer");
    out.push(json!({"op": "session", "name": "c", "id": c.session.session_id}));
    let r = c.create("/base", b"", 0).unwrap();
    out.push(json!({"op": "base", "zxid": r.zxid}));

    // A persistent watch fires on every change of the node and its children list, and stays.
    out.push(reply_json(
        "addWatch /pw persistent",
        &w.add_watch("/pw", raw::ADD_WATCH_PERSISTENT).unwrap(),
    ));
    for (step, r) in [
        ("create /pw", c.create("/pw", b"", 0)),
        ("set /pw", c.set_data("/pw", b"1", -1)),
        ("create /pw/c", c.create("/pw/c", b"", 0)),
        ("set /pw/c", c.set_data("/pw/c", b"1", -1)),
        ("delete /pw/c", c.delete("/pw/c", -1)),
        ("delete /pw", c.delete("/pw", -1)),
        ("create /pw again", c.create("/pw", b"", 0)),
    ] {
        out.push(reply_json(step, &r.unwrap()));
    }
    w.wait_events(6, EVENT_WAIT).unwrap();
    out.push(json!({"step": "persistent events",
        "events": w.events.drain(..).map(|e| event_json(&e)).collect::<Vec<_>>()}));

    // A recursive watch fires for the whole subtree, with no child events.
    out.push(reply_json(
        "addWatch /rw recursive",
        &w.add_watch("/rw", raw::ADD_WATCH_PERSISTENT_RECURSIVE)
            .unwrap(),
    ));
    for (step, r) in [
        ("create /rw", c.create("/rw", b"", 0)),
        ("create /rw/a", c.create("/rw/a", b"", 0)),
        ("create /rw/a/b", c.create("/rw/a/b", b"", 0)),
        ("set /rw/a/b", c.set_data("/rw/a/b", b"x", -1)),
        ("delete /rw/a/b", c.delete("/rw/a/b", -1)),
        ("create /rwx (sibling, not below)", c.create("/rwx", b"", 0)),
    ] {
        out.push(reply_json(step, &r.unwrap()));
    }
    w.wait_events(5, EVENT_WAIT).unwrap();
    out.push(json!({"step": "recursive events",
        "events": w.events.drain(..).map(|e| event_json(&e)).collect::<Vec<_>>()}));

    // A one-shot data watch on the same node as a recursive watch: both fire.
    out.push(reply_json(
        "getData /rw/a watch",
        &w.get_data("/rw/a", true).unwrap(),
    ));
    out.push(reply_json(
        "set /rw/a",
        &c.set_data("/rw/a", b"y", -1).unwrap(),
    ));
    // Apache delivers one event: a connection is one watcher, and a trigger notifies it once.
    w.wait_events(1, EVENT_WAIT).unwrap();
    out.push(json!({"step": "one-shot and recursive on one node",
        "events": w.events.drain(..).map(|e| event_json(&e)).collect::<Vec<_>>()}));

    // A one-shot child watch next to a recursive watch on the same node: the child watch fires
    // NodeChildrenChanged once, the recursive watch goes on.
    out.push(reply_json(
        "getChildren /rw watch",
        &w.get_children("/rw", true).unwrap(),
    ));
    for (step, r) in [
        ("create /rw/k", c.create("/rw/k", b"", 0)),
        ("create /rw/k2", c.create("/rw/k2", b"", 0)),
    ] {
        out.push(reply_json(step, &r.unwrap()));
    }
    w.wait_events(3, EVENT_WAIT).unwrap();
    out.push(json!({"step": "child watch and recursive on one node",
        "events": w.events.drain(..).map(|e| event_json(&e)).collect::<Vec<_>>()}));

    // checkWatches of one-shot watches, by type.
    out.push(reply_json(
        "exists /cw watch",
        &w.exists("/cw", true).unwrap(),
    ));
    out.push(reply_json(
        "getChildren /rw/k watch",
        &w.get_children("/rw/k", true).unwrap(),
    ));
    for (path, t) in [
        ("/cw", 1),
        ("/cw", 2),
        ("/cw", 3),
        ("/rw/k", 1),
        ("/rw/k", 2),
    ] {
        out.push(reply_json(
            &format!("checkWatches {path} type {t}"),
            &w.check_watches(path, t).unwrap(),
        ));
    }

    // removeWatches: the persistent watch goes (type 3 = any); a second removal finds none.
    out.push(reply_json(
        "removeWatches /pw any",
        &w.remove_watches("/pw", 3).unwrap(),
    ));
    out.push(reply_json(
        "removeWatches /pw again",
        &w.remove_watches("/pw", 3).unwrap(),
    ));
    out.push(reply_json(
        "removeWatches /nowatch data",
        &w.remove_watches("/nowatch", 2).unwrap(),
    ));
    out.push(reply_json("delete /pw", &c.delete("/pw", -1).unwrap()));
    out.push(reply_json(
        "set /rw/a (recursive still on)",
        &c.set_data("/rw/a", b"z", -1).unwrap(),
    ));
    w.wait_events(1, EVENT_WAIT).unwrap();
    out.push(json!({"step": "after removeWatches",
        "events": w.events.drain(..).map(|e| event_json(&e)).collect::<Vec<_>>()}));

    // An exists on a missing node answers NoNode with an empty body.
    out.push(reply_json(
        "exists missing",
        &c.exists("/missing", false).unwrap(),
    ));
    // getData body: data + Stat.
    let r = c.get_data("/rw/a", false).unwrap();
    let mut rd = Reader::new(&r.body);
    let data = rd.buf();
    let st = rd.stat();
    out.push(
        json!({"step": "getData /rw/a", "err": r.err, "data": String::from_utf8_lossy(&data),
        "stat": stat_json(&st), "rest": rd.remaining()}),
    );
    // multi with container and TTL creates: every create with a Stat answers as create2 (15),
    // the only create type Java's MultiResponse reads.
    let container = |p: &str| raw::create_body(p, Some(b"c"), 4, None);
    let ttl = |p: &str| raw::create_body(p, Some(b"t"), 5, Some(60_000));
    let r = c
        .multi(&[
            (raw::OP_CREATE_CONTAINER, container("/mc")),
            (raw::OP_CREATE_TTL, ttl("/mt")),
            (raw::OP_CREATE2, raw::create_body("/m2", None, 0, None)),
            (raw::OP_CREATE, raw::create_body("/m1", Some(b""), 0, None)),
        ])
        .unwrap();
    out.push(multi_json("multi container, ttl, create2, create", &r));
    let r = c
        .multi(&[
            (raw::OP_CREATE_CONTAINER, container("/mc2")),
            (raw::OP_CREATE_TTL, ttl("/mt")),
            (raw::OP_CREATE_CONTAINER, container("/mc3")),
        ])
        .unwrap();
    out.push(multi_json("multi container, existing ttl: fails", &r));
    out.push(reply_json("exists /mc2", &c.exists("/mc2", false).unwrap()));
    // ping: xid -2
    let p = c.ping().unwrap();
    out.push(json!({"step": "ping", "xid": p.xid, "err": p.err, "body_len": p.body.len()}));
    // close: the reply, then the server closes the socket.
    out.push(reply_json("close w", &w.close().unwrap()));
    out.push(reply_json("close c", &c.close().unwrap()));

    // check (13) is only legal inside multi. Apache 3.8.0 consumes a zxid and sends no reply
    // for it (the ping behind it is answered); it runs last, on its own session, so a
    // difference here does not shift the zxids above.
    let mut z = RawClient::connect(addr).expect("connect");
    let mut b = Vec::new();
    raw::put_str(&mut b, "/rw");
    raw::put_i32(&mut b, 0);
    out.push(
        json!({"step": "check outside multi, then ping", "replies": check_then_ping(&mut z, &b)}),
    );
    out.into_iter().map(|v| v.to_string()).collect()
}

#[test]
fn raw_protocol_matches_apache() {
    let (apache, ours) = start_pair(&Default::default());
    let a = diff::normalise(&script(&apache));
    let o = diff::normalise(&script(&ours));
    diff::assert_same("raw protocol", &a, &o);
}

/// auth (100) and sasl (102) sent with ordinary xids, as go-zookeeper and the Rust
/// `zookeeper-client` crate send them: Apache's `ZooKeeperServer.processPacket` answers with
/// `new ReplyHeader(h.getXid(), ...)`, whatever the xid (the Java client happens to use -4).
fn auth_script(s: &TestServer) -> Vec<String> {
    let mut out: Vec<Value> = Vec::new();
    let addr = s.addr();
    let mut c = RawClient::connect(addr).expect("connect c");
    let mut auth = Vec::new();
    raw::put_i32(&mut auth, 0);
    raw::put_str(&mut auth, "digest");
    raw::put_buf(&mut auth, b"u:pw");
    let r = c.call_with_xid(7, raw::OP_AUTH, &auth).unwrap();
    out.push(
        json!({"step": "auth digest xid 7", "xid": r.xid, "err": r.err,
        "body_len": r.body.len()}),
    );
    // The Java client's own xid still works, and a second auth on the session too.
    let r = c.call_with_xid(-4, raw::OP_AUTH, &auth).unwrap();
    out.push(
        json!({"step": "auth digest xid -4", "xid": r.xid, "err": r.err,
        "body_len": r.body.len()}),
    );
    out.push(json!({"step": "whoAmI", "ids": c.who_am_i().unwrap()}));
    let secret = [(31, "digest", raw::DIGEST_U_PW)];
    let r = c.create_with_acl("/authx", b"s", 0, &secret).unwrap();
    out.push(json!({"op": "base", "zxid": r.zxid}));
    out.push(reply_json("create /authx (digest u:pw)", &r));
    out.push(reply_json(
        "getData /authx",
        &c.get_data("/authx", false).unwrap(),
    ));
    // A session without the id may not read it.
    let mut d = RawClient::connect(addr).expect("connect d");
    out.push(reply_json(
        "d: getData /authx",
        &d.get_data("/authx", false).unwrap(),
    ));
    // A scheme the server has no provider for: AuthFailed with the request's xid, then close.
    let mut bad = Vec::new();
    raw::put_i32(&mut bad, 0);
    raw::put_str(&mut bad, "nosuchscheme");
    raw::put_buf(&mut bad, b"x");
    let r = d.call_with_xid(12, raw::OP_AUTH, &bad).unwrap();
    out.push(
        json!({"step": "d: auth nosuchscheme xid 12", "xid": r.xid, "err": r.err,
        "body_len": r.body.len()}),
    );
    out.push(json!({"step": "d: closed after failed auth",
        "closed": d.closed_within(Duration::from_secs(5))}));
    // setWatches with an ordinary xid is answered with it (FinalRequestProcessor's reply
    // header carries request.cxid); ping with -2 whatever the client sent.
    let r = c.call_with_xid(21, raw::OP_SET_WATCHES, &{
        let mut b = Vec::new();
        raw::put_i64(&mut b, 0);
        for _ in 0..3 {
            raw::put_i32(&mut b, 0);
        }
        b
    });
    let r = r.unwrap();
    out.push(
        json!({"step": "setWatches xid 21", "xid": r.xid, "err": r.err,
        "body_len": r.body.len()}),
    );
    {
        use std::io::Write;
        let mut p = Vec::new();
        raw::put_i32(&mut p, 22);
        raw::put_i32(&mut p, raw::OP_PING);
        c.stream.write_all(&raw::frame(&p)).unwrap();
        let f = raw::read_frame(&mut c.stream).unwrap();
        let mut rd = Reader::new(&f);
        let (xid, _zxid, err) = (rd.i32(), rd.i64(), rd.i32());
        out.push(json!({"step": "ping xid 22", "xid": xid, "err": err,
            "body_len": rd.remaining()}));
    }
    // sasl (102) with an ordinary xid, on a server with no SASL configured: the reply carries
    // the xid. Only the xid is compared: Apache 3.8 without a JAAS login catches the
    // NullPointerException of its missing SASL server and answers OK with a null token,
    // where we answer AuthFailed and close (docs/compatibility.md, op 102).
    let mut e = RawClient::connect(addr).expect("connect e");
    let mut token = Vec::new();
    raw::put_buf(&mut token, b"");
    let r = e.call_with_xid(9, raw::OP_SASL, &token).unwrap();
    out.push(json!({"step": "e: sasl xid 9", "xid": r.xid}));
    out.into_iter().map(|v| v.to_string()).collect()
}

#[test]
fn auth_reply_carries_the_request_xid() {
    let (apache, ours) = start_pair(&Default::default());
    let a = diff::normalise(&auth_script(&apache));
    let o = diff::normalise(&auth_script(&ours));
    diff::assert_same("auth and special xids", &a, &o);
}

/// Reads `w`'s events up to the NodeCreated of `sentinel`, which `c` creates after the
/// changes under test: a connection's events arrive in order, so every event those changes
/// caused is in by then, and none is missed by waiting too little.
fn events_until_sentinel(w: &mut RawClient, c: &mut RawClient, sentinel: &str) -> Value {
    w.exists(sentinel, true).unwrap();
    c.create(sentinel, b"", 0).unwrap();
    // Generous: it is only waited out when the sentinel's event never comes (a failure);
    // on a loaded machine Apache can take seconds to deliver it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !w.events.iter().any(|e| e.path == sentinel) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "no event for {sentinel}: {:?}", w.events);
        w.wait_events(w.events.len() + 1, left).unwrap();
    }
    Value::Array(w.events.drain(..).map(|e| event_json(&e)).collect())
}

/// Issue 16 items 1 and 2: a session is one watcher, so one change gives it one event
/// however many of its watches match (Apache's `WatchManager.triggerWatch` collects watchers
/// in a set, and a delete's child-table trigger suppresses those the data table told). Only
/// what ZooKeeper 3.8 and 3.9 agree on: 3.8 keeps one mode per (session, path), 3.9
/// (ZOOKEEPER-4466) several; see docs/compatibility.md.
fn watch_script(s: &TestServer) -> Vec<String> {
    let mut out: Vec<Value> = Vec::new();
    let addr = s.addr();
    let mut w = RawClient::connect(addr).expect("connect w");
    let mut c = RawClient::connect(addr).expect("connect c");
    let r = c.create("/e1", b"", 0).unwrap();
    out.push(json!({"op": "base", "zxid": r.zxid}));
    for p in ["/e2", "/r1", "/r1/a", "/r1/b", "/n", "/n/a"] {
        out.push(reply_json(
            &format!("create {p}"),
            &c.create(p, b"", 0).unwrap(),
        ));
    }

    // A persistent watch, then a one-shot data watch on the same node: one NodeDataChanged.
    w.add_watch("/e1", raw::ADD_WATCH_PERSISTENT).unwrap();
    w.get_data("/e1", true).unwrap();
    out.push(reply_json("set /e1", &c.set_data("/e1", b"1", -1).unwrap()));
    out.push(json!({"step": "persistent + getData watch, one set",
        "events": events_until_sentinel(&mut w, &mut c, "/s1")}));

    // The other order, and an exists watch as well: still one event.
    w.get_data("/e2", true).unwrap();
    w.exists("/e2", true).unwrap();
    w.add_watch("/e2", raw::ADD_WATCH_PERSISTENT).unwrap();
    out.push(reply_json("set /e2", &c.set_data("/e2", b"1", -1).unwrap()));
    out.push(
        json!({"step": "getData + exists watch + persistent, one set",
        "events": events_until_sentinel(&mut w, &mut c, "/s2")}),
    );

    // A recursive watch above one-shot data and child watches: a set gives one
    // NodeDataChanged, a delete one NodeDeleted (and no NodeChildrenChanged for /r1, which
    // only a recursive watch covers).
    w.add_watch("/r1", raw::ADD_WATCH_PERSISTENT_RECURSIVE)
        .unwrap();
    w.get_data("/r1/a", true).unwrap();
    w.get_children("/r1/a", true).unwrap();
    out.push(reply_json(
        "set /r1/a",
        &c.set_data("/r1/a", b"1", -1).unwrap(),
    ));
    out.push(reply_json("delete /r1/a", &c.delete("/r1/a", -1).unwrap()));
    w.exists("/r1/b", true).unwrap();
    w.get_children("/r1/b", true).unwrap();
    out.push(reply_json("delete /r1/b", &c.delete("/r1/b", -1).unwrap()));
    out.push(json!({"step": "recursive above one-shot watches",
        "events": events_until_sentinel(&mut w, &mut c, "/s3")}));

    // Nested recursive watches (/n and /n/a): one event per change of a descendant, and no
    // NodeChildrenChanged.
    w.add_watch("/n", raw::ADD_WATCH_PERSISTENT_RECURSIVE)
        .unwrap();
    w.add_watch("/n/a", raw::ADD_WATCH_PERSISTENT_RECURSIVE)
        .unwrap();
    for (step, r) in [
        ("create /n/a/b", c.create("/n/a/b", b"", 0)),
        ("set /n/a/b", c.set_data("/n/a/b", b"1", -1)),
        ("create /n/a/b/c", c.create("/n/a/b/c", b"", 0)),
        ("delete /n/a/b/c", c.delete("/n/a/b/c", -1)),
        ("delete /n/a/b", c.delete("/n/a/b", -1)),
        ("set /n/a", c.set_data("/n/a", b"1", -1)),
    ] {
        out.push(reply_json(step, &r.unwrap()));
    }
    out.push(json!({"step": "nested recursive watches",
        "events": events_until_sentinel(&mut w, &mut c, "/s4")}));
    out.into_iter().map(|v| v.to_string()).collect()
}

#[test]
fn one_event_per_session_per_change() {
    let (apache, ours) = start_pair(&Default::default());
    let a = diff::normalise(&watch_script(&apache));
    let o = diff::normalise(&watch_script(&ours));
    diff::assert_same("watch events per session", &a, &o);
}

/// Issue 16 item 3: requests malformed as a whole. Apache's `MultiOperationRecord` refuses a
/// multi that mixes reads and writes while it is read (MarshallingError for the request), and
/// `addWatch` with a mode `AddWatchMode` does not know likewise. Each is followed by a request
/// that shows whether the connection is still open.
fn malformed_script(s: &TestServer) -> Vec<String> {
    let mut out: Vec<Value> = Vec::new();
    let addr = s.addr();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let full = |step: &str, r: &raw::Reply| json!({"step": step, "err": r.err, "zxid": r.zxid, "body": hex(&r.body)});
    let mut c = RawClient::connect(addr).expect("connect c");
    let r = c.create("/mal", b"d", 0).unwrap();
    out.push(json!({"op": "base", "zxid": r.zxid}));
    let get_data = |p: &str| {
        let mut b = Vec::new();
        raw::put_str(&mut b, p);
        b.push(0);
        b
    };
    let get_children = get_data;

    // multi (14) with a getData inside.
    let r = c
        .multi(&[
            (
                raw::OP_CREATE,
                raw::create_body("/mal/x", Some(b""), 0, None),
            ),
            (raw::OP_GET_DATA, get_data("/mal")),
        ])
        .unwrap();
    out.push(full("multi create + getData", &r));
    out.push(reply_json(
        "exists /mal/x",
        &c.exists("/mal/x", false).unwrap(),
    ));
    // multi with only reads: a multi of reads is multiRead's job.
    let r = c.multi(&[(raw::OP_GET_DATA, get_data("/mal"))]).unwrap();
    out.push(full("multi getData only", &r));
    out.push(reply_json("exists /mal", &c.exists("/mal", false).unwrap()));

    // multiRead (22) with a write inside, then with a check (a write-kind op).
    let multi_body = |ops: &[(i32, Vec<u8>)]| {
        let mut b = Vec::new();
        for (t, body) in ops {
            raw::put_i32(&mut b, *t);
            b.push(0);
            raw::put_i32(&mut b, -1);
            b.extend_from_slice(body);
        }
        raw::put_i32(&mut b, -1);
        b.push(1);
        raw::put_i32(&mut b, -1);
        b
    };
    let r = c
        .call(
            raw::OP_MULTI_READ,
            &multi_body(&[
                (raw::OP_GET_CHILDREN, get_children("/mal")),
                (
                    raw::OP_CREATE,
                    raw::create_body("/mal/y", Some(b""), 0, None),
                ),
            ]),
        )
        .unwrap();
    out.push(full("multiRead getChildren + create", &r));
    out.push(reply_json(
        "exists /mal/y",
        &c.exists("/mal/y", false).unwrap(),
    ));
    let mut check = Vec::new();
    raw::put_str(&mut check, "/mal");
    raw::put_i32(&mut check, 0);
    let r = c
        .call(
            raw::OP_MULTI_READ,
            &multi_body(&[(raw::OP_CHECK, check), (raw::OP_GET_DATA, get_data("/mal"))]),
        )
        .unwrap();
    out.push(full("multiRead check + getData", &r));
    // A well-formed multiRead still works on the same connection.
    let r = c
        .call(
            raw::OP_MULTI_READ,
            &multi_body(&[(raw::OP_GET_DATA, get_data("/mal"))]),
        )
        .unwrap();
    out.push(reply_json("multiRead getData", &r));

    // addWatch with modes AddWatchMode does not know.
    for mode in [2, -1, 7] {
        out.push(full(
            &format!("addWatch /mal mode {mode}"),
            &c.add_watch("/mal", mode).unwrap(),
        ));
    }
    out.push(reply_json(
        "checkWatches /mal any",
        &c.check_watches("/mal", 3).unwrap(),
    ));
    out.push(reply_json("exists /mal", &c.exists("/mal", false).unwrap()));
    out.into_iter().map(|v| v.to_string()).collect()
}

#[test]
fn malformed_requests_refused_as_a_whole() {
    let (apache, ours) = start_pair(&Default::default());
    let a = diff::normalise(&malformed_script(&apache));
    let o = diff::normalise(&malformed_script(&ours));
    diff::assert_same("malformed requests", &a, &o);
}
