//! Hostile and broken clients against our server, over raw TCP. Each bad connection must be
//! closed (or answered with an error) on its own, while a session connected beforehand keeps
//! being served and the process keeps running. The handshake tests pin the reply's shape:
//! a 44-byte (legacy) ConnectRequest gets a 36-byte reply without the readOnly byte, a 45-byte
//! one gets 37 bytes with it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use zk_tests::raw::{self, RawClient};
use zk_tests::{Kind, Options, TestServer};

/// jute.maxbuffer's default, 0xfffff bytes.
const MAX_BUFFER: usize = 0xfffff;

/// Our server; `ZK_TESTS_BAD_INPUT_KIND=apache` runs the same expectations against Apache
/// ZooKeeper, to check the tests themselves.
fn start() -> TestServer {
    let kind = match std::env::var("ZK_TESTS_BAD_INPUT_KIND").as_deref() {
        Ok("apache") => Kind::Apache,
        _ => Kind::Ours,
    };
    TestServer::start(kind, &Options::default())
}

/// Reads until the server closes the connection; true if it did within `timeout`. Anything
/// the server sends first (an error reply) is returned alongside.
fn closed_within(s: &mut TcpStream, timeout: Duration) -> (bool, Vec<u8>) {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (false, got);
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return (true, got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return (false, got)
            }
            Err(_) => return (true, got), // reset
        }
    }
}

/// The well-behaved session still gets answers, and the server still runs.
fn assert_still_serving(server: &mut TestServer, good: &mut RawClient, what: &str) {
    let p = good
        .ping()
        .unwrap_or_else(|e| panic!("{what}: the other session's ping failed: {e}"));
    assert_eq!(p.err, 0, "{what}: ping");
    let path = format!("/ok-{}", what.replace(' ', "-"));
    let r = good
        .create(&path, b"still here", 0)
        .unwrap_or_else(|e| panic!("{what}: the other session's create failed: {e}"));
    assert_eq!(r.err, 0, "{what}: create on the other session");
    let r = good.get_data(&path, false).unwrap();
    assert_eq!(r.err, 0, "{what}: getData on the other session");
    assert!(
        server.is_running(),
        "{what}: the server exited:\n{}",
        server.log_tail()
    );
    // and a new session can still be opened
    let mut fresh = RawClient::connect(server.addr())
        .unwrap_or_else(|e| panic!("{what}: a new session cannot connect: {e}"));
    assert_eq!(fresh.ping().unwrap().err, 0);
}

fn connected(server: &TestServer) -> TcpStream {
    let c = RawClient::connect(server.addr()).expect("connect");
    c.stream
}

#[test]
fn frame_over_jute_maxbuffer_closes_only_that_connection() {
    let mut server = start();
    let mut good = RawClient::connect(server.addr()).unwrap();
    // before the handshake
    let mut bad = TcpStream::connect(server.addr()).unwrap();
    bad.write_all(&((MAX_BUFFER as i32) + 1).to_be_bytes())
        .unwrap();
    let _ = bad.write_all(&[0u8; 1024]);
    let (closed, _) = closed_within(&mut bad, Duration::from_secs(10));
    assert!(closed, "a first frame over jute.maxbuffer was not closed");
    // after the handshake
    let mut bad = connected(&server);
    bad.write_all(&i32::MAX.to_be_bytes()).unwrap();
    let _ = bad.write_all(&[0u8; 1024]);
    let (closed, _) = closed_within(&mut bad, Duration::from_secs(10));
    assert!(closed, "a request frame of 2 GiB was not closed");
    // a negative length
    let mut bad = connected(&server);
    bad.write_all(&(-5i32).to_be_bytes()).unwrap();
    let (closed, _) = closed_within(&mut bad, Duration::from_secs(10));
    assert!(closed, "a negative frame length was not closed");
    assert_still_serving(&mut server, &mut good, "oversized frame");
}

#[test]
fn malformed_connect_request_closes_only_that_connection() {
    let mut server = start();
    let mut good = RawClient::connect(server.addr()).unwrap();
    for (what, payload) in [
        ("short", vec![0u8; 10]),
        ("passwd length past the frame", {
            let mut b = raw::connect_request(30_000, false);
            b[24..28].copy_from_slice(&1_000_000i32.to_be_bytes());
            b
        }),
        ("negative passwd length", {
            let mut b = raw::connect_request(30_000, false);
            b[24..28].copy_from_slice(&(-7i32).to_be_bytes());
            b
        }),
        ("empty frame", Vec::new()),
    ] {
        let mut bad = TcpStream::connect(server.addr()).unwrap();
        bad.write_all(&raw::frame(&payload)).unwrap();
        let (closed, got) = closed_within(&mut bad, Duration::from_secs(10));
        assert!(closed, "malformed ConnectRequest ({what}) was not closed");
        // no session may be granted: a reply, if any, must not be a full ConnectResponse with
        // a session id
        if got.len() >= 4 + 36 {
            let r = raw::parse_connect_response(&got[4..]);
            assert_eq!(
                r.session_id, 0,
                "malformed ConnectRequest ({what}) was granted session {:#x}",
                r.session_id
            );
        }
    }
    assert_still_serving(&mut server, &mut good, "malformed connect");
}

/// A fixed-seed xorshift, so a failure replays.
struct Rng(u64);

impl Rng {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0 as u8
            })
            .collect()
    }
}

/// Waits for the server's verdict on a bad connection without closing our side first (a
/// server that waited for more would otherwise be let off by our EOF): the connection must
/// be closed, or answered with an error and nothing else.
fn refused(s: &mut TcpStream, what: &str) {
    let (closed, got) = closed_within(s, Duration::from_secs(10));
    if closed {
        return;
    }
    assert!(
        got.len() >= 20,
        "{what}: the server neither closed the connection nor answered ({} bytes)",
        got.len()
    );
    let err = i32::from_be_bytes(got[16..20].try_into().unwrap());
    assert_ne!(err, 0, "{what}: answered with success");
}

#[test]
fn random_bytes_close_only_that_connection() {
    let mut server = start();
    let mut good = RawClient::connect(server.addr()).unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..4 {
        // Raw noise: its first four bytes are read as a frame length.
        let bytes = rng.bytes(4096);
        let len = i32::from_be_bytes(bytes[..4].try_into().unwrap());
        assert!(
            len < 0 || len as usize > MAX_BUFFER,
            "round {round}: the seed must give an impossible length, got {len}"
        );
        let mut bad = if round % 2 == 0 {
            TcpStream::connect(server.addr()).unwrap()
        } else {
            connected(&server)
        };
        let _ = bad.write_all(&bytes);
        refused(&mut bad, &format!("random bytes, round {round}"));
        good.ping().unwrap();
    }
    // Well-framed noise: a random ConnectRequest, and requests of real op codes with
    // random bodies after a handshake.
    let mut bad = TcpStream::connect(server.addr()).unwrap();
    bad.write_all(&raw::frame(&rng.bytes(45))).unwrap();
    refused(&mut bad, "random ConnectRequest");
    for op in [
        raw::OP_CREATE,
        raw::OP_SET_DATA,
        raw::OP_GET_DATA,
        raw::OP_SET_WATCHES,
    ] {
        let mut bad = connected(&server);
        let mut p = Vec::new();
        raw::put_i32(&mut p, 1);
        raw::put_i32(&mut p, op);
        p.extend(rng.bytes(64));
        bad.write_all(&raw::frame(&p)).unwrap();
        refused(&mut bad, &format!("op {op} with a random body"));
        good.ping().unwrap();
    }
    assert_still_serving(&mut server, &mut good, "random bytes");
}

#[test]
fn vector_count_larger_than_the_frame_is_refused() {
    let mut server = start();
    let mut good = RawClient::connect(server.addr()).unwrap();
    // create with an ACL vector claiming 100 million entries in a 40-byte body
    let mut bad = RawClient::connect(server.addr()).unwrap();
    let mut body = Vec::new();
    raw::put_str(&mut body, "/vec");
    raw::put_buf(&mut body, b"");
    raw::put_i32(&mut body, 100_000_000);
    raw::put_i32(&mut body, 31);
    let mut p = Vec::new();
    raw::put_i32(&mut p, 1);
    raw::put_i32(&mut p, raw::OP_CREATE);
    p.extend_from_slice(&body);
    bad.stream.write_all(&raw::frame(&p)).unwrap();
    let (closed, got) = closed_within(&mut bad.stream, Duration::from_secs(10));
    if !closed {
        // an error reply instead of a close is acceptable; success is not
        assert!(
            got.len() >= 20,
            "no reply and no close for a bogus vector count"
        );
        let err = i32::from_be_bytes(got[16..20].try_into().unwrap());
        assert_ne!(err, 0, "a create with a bogus ACL vector count succeeded");
    }
    // the same with a multi header promising more ops than the frame holds
    let mut bad = RawClient::connect(server.addr()).unwrap();
    let mut p = Vec::new();
    raw::put_i32(&mut p, 1);
    raw::put_i32(&mut p, 14);
    raw::put_i32(&mut p, raw::OP_GET_CHILDREN);
    p.push(0);
    raw::put_i32(&mut p, -1);
    raw::put_i32(&mut p, i32::MAX); // a string length far past the frame
    bad.stream.write_all(&raw::frame(&p)).unwrap();
    let (closed, got) = closed_within(&mut bad.stream, Duration::from_secs(10));
    if !closed {
        assert!(
            got.len() >= 20,
            "no reply and no close for a bogus string length"
        );
        let err = i32::from_be_bytes(got[16..20].try_into().unwrap());
        assert_ne!(err, 0, "a multi with a bogus string length succeeded");
    }
    let r = good.exists("/vec", false).unwrap();
    assert_eq!(r.err, -101, "/vec must not exist");
    assert_still_serving(&mut server, &mut good, "vector count");
}

#[test]
fn client_that_stops_reading_does_not_stall_others() {
    let mut server = start();
    let mut good = RawClient::connect(server.addr()).unwrap();
    let big = vec![b'x'; 1_000_000];
    assert_eq!(good.create("/big", &big, 0).unwrap().err, 0);
    // The slow client asks for /big thousands of times and never reads a reply.
    let mut slow = RawClient::connect(server.addr()).unwrap();
    slow.stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut req = Vec::new();
    for xid in 1..=2000 {
        let mut p = Vec::new();
        raw::put_i32(&mut p, xid);
        raw::put_i32(&mut p, raw::OP_GET_DATA);
        raw::put_str(&mut p, "/big");
        p.push(0);
        req.extend(raw::frame(&p));
    }
    let writer = std::thread::spawn(move || {
        // Stops when the server stops reading (timeout) or closes the connection.
        let _ = slow.stream.write_all(&req);
        slow
    });
    // Meanwhile the other session is served promptly.
    let started = Instant::now();
    for i in 0..20 {
        let r = good.get_data("/big", false).unwrap();
        assert_eq!(r.err, 0, "getData {i} on the good session");
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the good session was starved: 20 reads took {:?}",
        started.elapsed()
    );
    let slow = writer.join().unwrap();
    // The server drops the connection on its own, while our end is still open: its
    // replies would otherwise pin two gigabytes. (Apache ZooKeeper 3.8 keeps it open.)
    // `cons` lists connections as ` /127.0.0.1:PORT[1](...)`; the good one must be listed,
    // so that an empty answer cannot pass for the slow one being gone.
    let listed =
        |cons: &str, s: &TcpStream| cons.contains(&format!(":{}[", s.local_addr().unwrap().port()));
    let gone = zk_tests::wait_until(Duration::from_secs(30), || {
        zk_tests::four_letter_word(server.addr(), "cons")
            .is_ok_and(|c| listed(&c, &good.stream) && !listed(&c, &slow.stream))
    });
    assert!(
        gone,
        "the connection that stopped reading is still open:\n{}",
        zk_tests::four_letter_word(server.addr(), "cons").unwrap_or_default()
    );
    drop(slow);
    assert_still_serving(&mut server, &mut good, "slow reader");
}

#[test]
fn legacy_handshake_reply_has_no_read_only_byte() {
    let server = start();
    let legacy = RawClient::connect_with(server.addr(), true).unwrap();
    assert_eq!(
        legacy.session.len, 36,
        "reply to a 44-byte ConnectRequest: {:?}",
        legacy.session
    );
    assert_eq!(legacy.session.read_only, None);
    assert_eq!(legacy.session.protocol_version, 0);
    assert_eq!(legacy.session.passwd.len(), 16);
    assert_ne!(legacy.session.session_id, 0);
    let mut legacy = legacy;
    assert_eq!(legacy.ping().unwrap().err, 0);

    let modern = RawClient::connect_with(server.addr(), false).unwrap();
    assert_eq!(
        modern.session.len, 37,
        "reply to a 45-byte ConnectRequest: {:?}",
        modern.session
    );
    assert_eq!(modern.session.read_only, Some(false));
    assert_ne!(modern.session.session_id, legacy.session.session_id);
}

#[test]
fn session_timeout_is_clamped_to_2_and_20_ticks() {
    let server = start();
    for (asked, granted) in [(1, 4000), (30_000, 30_000), (1_000_000, 40_000)] {
        let mut s = TcpStream::connect(server.addr()).unwrap();
        s.write_all(&raw::frame(&raw::connect_request(asked, false)))
            .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let r = raw::parse_connect_response(&raw::read_frame(&mut s).unwrap());
        assert_eq!(r.timeout_ms, granted, "asked for {asked} ms");
    }
}
