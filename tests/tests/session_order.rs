//! A session's pipelined requests: writes go in flight at once, a read waits only for the
//! writes its session sent before it, and every reply (and the watch event a write fires)
//! comes back in the order of the requests. Checked against Apache ZooKeeper 3.8
//! standalone, and through a follower and the leader of our ensemble.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::raw::{self, RawClient, Reader};
use zk_tests::{start_pair, Options};

/// Rounds of the pipelined script per server.
const ROUNDS: usize = 30;

fn request(xid: i32, op: i32, body: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    raw::put_i32(&mut p, xid);
    raw::put_i32(&mut p, op);
    p.extend_from_slice(body);
    raw::frame(&p)
}

fn set(xid: i32, path: &str, data: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    raw::put_str(&mut b, path);
    raw::put_buf(&mut b, data);
    raw::put_i32(&mut b, -1);
    request(xid, raw::OP_SET_DATA, &b)
}

fn get(xid: i32, path: &str, watch: bool) -> Vec<u8> {
    let mut b = Vec::new();
    raw::put_str(&mut b, path);
    b.push(watch as u8);
    request(xid, raw::OP_GET_DATA, &b)
}

/// Sends, in one write: set v1, get (with a watch), set v2, get, set v3, get; returns what
/// came back, one line per frame: `xid` and, for a getData, the data and the version seen.
fn pipelined_round(c: &mut RawClient, round: usize) -> Vec<String> {
    let path = "/order";
    let base = (round as i32 + 1) * 100;
    let v = |n: usize| format!("r{round}-v{n}").into_bytes();
    let mut bytes = Vec::new();
    bytes.extend(set(base, path, &v(1)));
    bytes.extend(get(base + 1, path, true));
    bytes.extend(set(base + 2, path, &v(2)));
    bytes.extend(get(base + 3, path, false));
    bytes.extend(set(base + 4, path, &v(3)));
    bytes.extend(get(base + 5, path, false));
    c.stream.write_all(&bytes).unwrap();
    let mut seen = Vec::new();
    while !seen
        .last()
        .is_some_and(|l: &String| l.starts_with(&format!("{}", base + 5)))
    {
        let f = raw::read_frame(&mut c.stream).expect("a reply");
        let mut r = Reader::new(&f);
        let (xid, _zxid, err) = (r.i32(), r.i64(), r.i32());
        let line = if xid == -1 {
            let (t, _state, p) = (r.i32(), r.i32(), r.string());
            format!("event {t} {p}")
        } else if err != 0 {
            format!("{xid} err {err}")
        } else if (xid - base) % 2 == 1 {
            let data = String::from_utf8(r.buf()).unwrap();
            let stat = r.stat();
            format!("{xid} {data} version+{}", stat[4] - 3 * round as i64)
        } else {
            format!("{xid}")
        };
        seen.push(line);
    }
    seen
}

fn expected(round: usize) -> Vec<String> {
    let base = (round + 1) * 100;
    vec![
        format!("{base}"),
        format!("{} r{round}-v1 version+1", base + 1),
        // The watch the read set fires before the reply of the write that changed the node.
        "event 3 /order".to_string(),
        format!("{}", base + 2),
        format!("{} r{round}-v2 version+2", base + 3),
        format!("{}", base + 4),
        format!("{} r{round}-v3 version+3", base + 5),
    ]
}

fn run_script(addr: SocketAddr) -> Vec<Vec<String>> {
    let mut c = RawClient::connect(addr).expect("connect");
    let r = c.create("/order", b"", 0).unwrap();
    assert_eq!(r.err, 0, "create /order");
    (0..ROUNDS).map(|i| pipelined_round(&mut c, i)).collect()
}

#[test]
fn pipelined_reads_and_writes_answer_in_order_like_zookeeper() {
    let (apache, ours) = start_pair(&Options::default());
    let theirs = run_script(apache.addr());
    let mine = run_script(ours.addr());
    for (i, round) in theirs.iter().enumerate() {
        assert_eq!(round, &expected(i), "apache, round {i}");
    }
    assert_eq!(mine, theirs);
}

#[test]
fn pipelined_reads_and_writes_answer_in_order_through_follower_and_leader() {
    let mut ens = Ensemble::new(Spec::new(3, 0));
    ens.start_all();
    let leader = ens.wait_serving(&ens.ids(), Duration::from_secs(60));
    let follower = ens.ids().into_iter().find(|i| *i != leader).unwrap();
    // The follower's rounds first, then the leader's on the same node (versions go on).
    let through_follower = run_script(ens.member(follower).addr());
    for (i, round) in through_follower.iter().enumerate() {
        assert_eq!(
            round,
            &expected(i),
            "through follower {follower}, round {i}"
        );
    }
    let mut c = RawClient::connect(ens.member(leader).addr()).expect("connect");
    let offset = ROUNDS;
    for i in 0..ROUNDS {
        let got = pipelined_round(&mut c, offset + i);
        assert_eq!(
            got,
            expected(offset + i),
            "through leader {leader}, round {i}"
        );
    }
}
