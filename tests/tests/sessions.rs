//! Sessions over the wire protocol (tests/src/raw.rs), against Apache ZooKeeper 3.8 and ours:
//! reconnecting with id and password on a new connection, setWatches and setWatches2 after a
//! reconnect (firing at once what changed meanwhile, re-arming the rest), a wrong password, a
//! client that has seen a later zxid than the server, and expiry (ephemerals deleted, watches
//! fired, the connection closed, the session gone for good).
//!
//! The script runs against both servers at once; its JSON lines are normalised (zxids relative
//! to a base, session ids by name) and compared field by field.

use std::time::Duration;

use serde_json::{json, Value};
use zk_tests::raw::{self, Handshake, RawClient};
use zk_tests::{diff, start_pair, TestServer};

const EVENT_WAIT: Duration = Duration::from_secs(5);
/// The shortest session ZooKeeper grants with tickTime=2000 (two ticks).
const SHORT_SESSION_MS: i32 = 4000;
/// Expiry is checked every tick or so; this leaves room for a slow machine.
const EXPIRY_WAIT: Duration = Duration::from_secs(30);

fn reply_json(step: &str, r: &raw::Reply) -> Value {
    json!({"step": step, "err": r.err, "zxid": r.zxid, "body_len": r.body.len()})
}

fn events_json(step: &str, c: &mut RawClient, n: usize, wait: Duration) -> Value {
    c.wait_events(n, wait).unwrap();
    let events: Vec<Value> = c
        .events
        .drain(..)
        .map(|e| json!({"type": e.event_type, "state": e.state, "path": e.path, "zxid": e.zxid}))
        .collect();
    json!({"step": step, "events": events})
}

fn session_json(step: &str, c: &RawClient, passwd: &[u8]) -> Value {
    json!({"step": step, "session_id": c.session.session_id, "timeout": c.session.timeout_ms,
        "passwd_len": c.session.passwd.len(), "same_passwd": c.session.passwd == passwd,
        "read_only": c.session.read_only})
}

fn reattach(addr: std::net::SocketAddr, id: i64, passwd: &[u8], last_zxid_seen: i64) -> RawClient {
    RawClient::handshake(
        addr,
        &Handshake {
            session_id: id,
            passwd: passwd.to_vec(),
            last_zxid_seen,
            ..Handshake::default()
        },
    )
    .expect("reconnect")
}

/// Sends a handshake and reports what came back: a ConnectResponse, or a close without one.
fn refused_json(step: &str, addr: std::net::SocketAddr, h: &Handshake) -> Value {
    match RawClient::handshake(addr, h) {
        Ok(mut c) => {
            let closed = c.closed_within(Duration::from_secs(10));
            json!({"step": step, "session_id": c.session.session_id,
                "timeout": c.session.timeout_ms, "passwd": c.session.passwd,
                "then_closed": closed})
        }
        Err(e) => {
            json!({"step": step, "no_response": e.kind() == std::io::ErrorKind::UnexpectedEof})
        }
    }
}

fn script(s: &TestServer) -> Vec<String> {
    let addr = s.addr();
    let mut out: Vec<Value> = Vec::new();
    let mut a = RawClient::connect(addr).expect("connect a");
    out.push(json!({"op": "session", "name": "a", "id": a.session.session_id}));
    let mut b = RawClient::connect(addr).expect("connect b");
    out.push(json!({"op": "session", "name": "b", "id": b.session.session_id}));
    let r = a.create("/s", b"", 0).unwrap();
    out.push(json!({"op": "base", "zxid": r.zxid}));
    for (step, r) in [
        ("create /s/eph", a.create("/s/eph", b"", 1)),
        ("create /s/keep", a.create("/s/keep", b"k", 0)),
        ("create /s/stable", a.create("/s/stable", b"", 0)),
        ("create /s/gone", a.create("/s/gone", b"", 0)),
    ] {
        out.push(reply_json(step, &r.unwrap()));
    }
    // a's watches live on its connection; the server forgets them when it goes.
    out.push(reply_json(
        "a: getData /s/keep watch",
        &a.get_data("/s/keep", true).unwrap(),
    ));
    let last_seen = a.get_data("/s/stable", true).unwrap().zxid;

    // a's connection drops (the session lives on); meanwhile b changes things.
    let (a_id, a_pw) = (a.session.session_id, a.session.passwd.clone());
    drop(a);
    for (step, r) in [
        ("b: set /s/keep", b.set_data("/s/keep", b"k2", -1)),
        ("b: create /s/new", b.create("/s/new", b"", 0)),
        ("b: delete /s/gone", b.delete("/s/gone", -1)),
    ] {
        out.push(reply_json(step, &r.unwrap()));
    }

    // Reconnect with id and password: the same session, with its ephemeral.
    let mut a2 = reattach(addr, a_id, &a_pw, last_seen);
    out.push(session_json("a reconnects", &a2, &a_pw));
    out.push(reply_json(
        "a: exists /s/eph",
        &a2.exists("/s/eph", false).unwrap(),
    ));
    out.push(reply_json(
        "a: checkWatches /s/keep data (gone with the connection)",
        &a2.check_watches("/s/keep", 2).unwrap(),
    ));
    // setWatches as of the zxid a had seen: what changed since fires at once, in the order
    // data, exist, child; the rest is armed again.
    let r = a2
        .set_watches(
            last_seen,
            &["/s/keep", "/s/stable", "/s/gone"],
            &["/s/new", "/s/absent"],
            &["/s", "/s/stable"],
        )
        .unwrap();
    out.push(events_json(
        "setWatches: events before the reply",
        &mut a2,
        0,
        Duration::ZERO,
    ));
    out.push(reply_json("setWatches reply", &r));
    for (path, t) in [
        ("/s/stable", 2),
        ("/s/absent", 2),
        ("/s/stable", 1),
        ("/s/keep", 2),
    ] {
        out.push(reply_json(
            &format!("checkWatches {path} type {t}"),
            &a2.check_watches(path, t).unwrap(),
        ));
    }
    for (step, r) in [
        ("b: set /s/stable", b.set_data("/s/stable", b"x", -1)),
        ("b: create /s/absent", b.create("/s/absent", b"", 0)),
        ("b: create /s/stable/c", b.create("/s/stable/c", b"", 0)),
    ] {
        out.push(reply_json(step, &r.unwrap()));
    }
    out.push(events_json("re-armed watches fire", &mut a2, 3, EVENT_WAIT));

    // setWatches2 also restores persistent and recursive watches.
    let seen = a2.exists("/s", false).unwrap().zxid;
    let r = a2
        .set_watches2(seen, [&["/s/absent"], &[], &[], &["/s/p"], &["/s/r"]])
        .unwrap();
    out.push(reply_json("setWatches2 reply", &r));
    for (step, r) in [
        ("b: create /s/p", b.create("/s/p", b"", 0)),
        ("b: set /s/p", b.set_data("/s/p", b"1", -1)),
        ("b: create /s/r", b.create("/s/r", b"", 0)),
        ("b: create /s/r/x", b.create("/s/r/x", b"", 0)),
        ("b: set /s/absent", b.set_data("/s/absent", b"1", -1)),
    ] {
        out.push(reply_json(step, &r.unwrap()));
    }
    out.push(events_json(
        "setWatches2 watches fire",
        &mut a2,
        5,
        EVENT_WAIT,
    ));

    // A wrong password: an expired-looking answer, then the server closes. ZooKeeper closes
    // the session's current connection before it checks the password.
    let wrong = Handshake {
        session_id: a_id,
        passwd: vec![7u8; 16],
        ..Handshake::default()
    };
    out.push(refused_json("wrong password", addr, &wrong));
    out.push(json!({"step": "a's connection after the wrong password",
        "closed": a2.closed_within(Duration::from_secs(5))}));
    let mut a3 = reattach(addr, a_id, &a_pw, 0);
    out.push(session_json(
        "a reconnects after the wrong password",
        &a3,
        &a_pw,
    ));
    out.push(reply_json(
        "a: exists /s/eph again",
        &a3.exists("/s/eph", false).unwrap(),
    ));

    // A client that has seen a later zxid than the server's is refused without an answer.
    let ahead = Handshake {
        last_zxid_seen: 1 << 40,
        ..Handshake::default()
    };
    out.push(refused_json("new session, zxid ahead", addr, &ahead));
    let ahead = Handshake {
        session_id: a_id,
        passwd: a_pw.clone(),
        last_zxid_seen: 1 << 40,
        ..Handshake::default()
    };
    out.push(refused_json("reconnect, zxid ahead", addr, &ahead));

    // Expiry: e stops pinging. Its ephemerals go, watchers hear of it, its connection closes,
    // and its id and password no longer open it.
    let mut e = RawClient::handshake(
        addr,
        &Handshake {
            timeout_ms: SHORT_SESSION_MS,
            ..Handshake::default()
        },
    )
    .expect("connect e");
    out.push(json!({"op": "session", "name": "e", "id": e.session.session_id}));
    out.push(json!({"step": "e's timeout", "timeout": e.session.timeout_ms}));
    out.push(reply_json(
        "e: create /s/e",
        &e.create("/s/e", b"", 1).unwrap(),
    ));
    out.push(reply_json(
        "b: exists /s/e watch",
        &b.exists("/s/e", true).unwrap(),
    ));
    out.push(reply_json(
        "b: getChildren /s watch",
        &b.get_children("/s", true).unwrap(),
    ));
    out.push(events_json("e expires: b's events", &mut b, 2, EXPIRY_WAIT));
    out.push(json!({"step": "e's connection after expiry",
        "closed": e.closed_within(Duration::from_secs(10))}));
    out.push(reply_json(
        "b: exists /s/e",
        &b.exists("/s/e", false).unwrap(),
    ));
    let (e_id, e_pw) = (e.session.session_id, e.session.passwd.clone());
    let again = Handshake {
        session_id: e_id,
        passwd: e_pw,
        ..Handshake::default()
    };
    out.push(refused_json("e reconnects after expiry", addr, &again));
    out.push(reply_json(
        "b: getChildren /s",
        &b.get_children("/s", false).unwrap(),
    ));
    out.push(reply_json("a: close", &a3.close().unwrap()));
    out.push(reply_json("b: close", &b.close().unwrap()));
    out.into_iter().map(|v| v.to_string()).collect()
}

#[test]
fn sessions_match_apache() {
    let (apache, ours) = start_pair(&Default::default());
    let (a, o) = std::thread::scope(|s| {
        let a = s.spawn(|| script(&apache));
        (a.join().unwrap(), script(&ours))
    });
    diff::assert_same("sessions", &diff::normalise(&a), &diff::normalise(&o));
}
