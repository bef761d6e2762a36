//! Election port on 127.0.0.1: three servers exchange messages, the
//! connection rule leaves one connection per pair, a restarted peer is
//! reconnected, and the wire-level handshake rules hold against raw sockets.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};
use zab_core::ServerId;
use zab_net::{ElectionConfig, ElectionNet};

const WAIT: Duration = Duration::from_secs(10);

fn fast() -> ElectionConfig {
    ElectionConfig {
        connect_timeout: Duration::from_secs(1),
        handshake_timeout: Duration::from_secs(1),
        reconnect_backoff_min: Duration::from_millis(20),
        reconnect_backoff_max: Duration::from_millis(200),
        ..ElectionConfig::default()
    }
}

async fn bind_all(n: u64) -> (Vec<TcpListener>, HashMap<ServerId, SocketAddr>) {
    let mut listeners = Vec::new();
    let mut peers = HashMap::new();
    for sid in 1..=n {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        peers.insert(ServerId(sid), l.local_addr().unwrap());
        listeners.push(l);
    }
    (listeners, peers)
}

type Rx = mpsc::Receiver<(ServerId, Bytes)>;

async fn start_all(n: u64) -> (Vec<ElectionNet>, Vec<Rx>, HashMap<ServerId, SocketAddr>) {
    let (listeners, peers) = bind_all(n).await;
    let mut nets = Vec::new();
    let mut rxs = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let (net, rx) =
            ElectionNet::with_listener(ServerId(i as u64 + 1), l, peers.clone(), fast()).unwrap();
        nets.push(net);
        rxs.push(rx);
    }
    (nets, rxs, peers)
}

/// Receive until every message in `want` has arrived (duplicates allowed:
/// a new connection resends the last message).
async fn expect_all(rx: &mut Rx, want: &[(u64, &str)]) {
    let mut left: HashSet<(ServerId, Bytes)> = want
        .iter()
        .map(|(s, m)| (ServerId(*s), Bytes::copy_from_slice(m.as_bytes())))
        .collect();
    let deadline = Instant::now() + WAIT;
    while !left.is_empty() {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(m)) => {
                left.remove(&m);
            }
            Ok(None) => panic!("receive queue closed"),
            Err(_) => panic!("still waiting for {left:?}"),
        }
    }
}

/// Wait, bounded, until `cond` holds. Polls: the condition spans servers.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every pair has exactly one connection, seen from both ends, initiated by
/// the larger sid.
fn one_connection_per_pair(nets: &[ElectionNet]) -> bool {
    for a in nets {
        let conns = a.connections();
        if conns.len() != nets.len() - 1 {
            return false;
        }
        for c in conns {
            let Some(b) = nets.iter().find(|n| n.my_id() == c.peer) else {
                return false;
            };
            let Some(back) = b.connections().into_iter().find(|x| x.peer == a.my_id()) else {
                return false;
            };
            if back.local_addr != c.peer_addr
                || back.peer_addr != c.local_addr
                || c.initiated_by_us != (a.my_id() > c.peer)
                || back.initiated_by_us == c.initiated_by_us
            {
                return false;
            }
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_servers_exchange_messages_including_to_themselves() {
    let (nets, mut rxs, _) = start_all(3).await;
    for net in &nets {
        net.broadcast(Bytes::from(format!("vote of {}", net.my_id())));
    }
    for rx in &mut rxs {
        expect_all(rx, &[(1, "vote of 1"), (2, "vote of 2"), (3, "vote of 3")]).await;
    }
    eventually("one connection per pair", || one_connection_per_pair(&nets)).await;
    nets[0]
        .send(ServerId(3), Bytes::from_static(b"direct"))
        .unwrap();
    expect_all(&mut rxs[2], &[(1, "direct")]).await;
    assert!(nets[0].send(ServerId(9), Bytes::from_static(b"x")).is_err());
    for net in nets {
        net.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_connects_leave_exactly_one_connection_per_pair() {
    // Several fresh clusters, every server sending to every other at once, so
    // that both ends of a pair dial each other at the same time.
    for round in 0..10 {
        let (nets, mut rxs, _) = start_all(3).await;
        for net in &nets {
            for to in 1..=3 {
                net.send(
                    ServerId(to),
                    Bytes::from(format!("r{round} from {}", net.my_id())),
                )
                .unwrap();
            }
        }
        for rx in &mut rxs {
            let want: Vec<String> = (1..=3).map(|s| format!("r{round} from {s}")).collect();
            let want: Vec<(u64, &str)> = want
                .iter()
                .enumerate()
                .map(|(i, m)| (i as u64 + 1, m.as_str()))
                .collect();
            expect_all(rx, &want).await;
        }
        eventually("one connection per pair", || one_connection_per_pair(&nets)).await;
        // More traffic after settling keeps the rule: a request that was
        // in flight may still replace a connection, never duplicate one.
        for net in &nets {
            net.broadcast(Bytes::from(format!("again {}", net.my_id())));
        }
        for rx in &mut rxs {
            expect_all(rx, &[(1, "again 1"), (2, "again 2"), (3, "again 3")]).await;
        }
        eventually("one connection per pair", || one_connection_per_pair(&nets)).await;
        for net in nets {
            net.shutdown().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restarted_peer_is_reconnected_and_gets_what_was_queued() {
    let (mut nets, mut rxs, peers) = start_all(3).await;
    for net in &nets {
        net.broadcast(Bytes::from(format!("hello {}", net.my_id())));
    }
    for rx in &mut rxs {
        expect_all(rx, &[(1, "hello 1"), (2, "hello 2"), (3, "hello 3")]).await;
    }
    eventually("one connection per pair", || one_connection_per_pair(&nets)).await;

    let three = nets.pop().unwrap();
    rxs.pop();
    three.shutdown().await;
    eventually("1 and 2 see 3 gone", || {
        !nets[0].is_connected(ServerId(3)) && !nets[1].is_connected(ServerId(3))
    })
    .await;
    // Queued while 3 is down; delivered once it is back.
    nets[0]
        .send(ServerId(3), Bytes::from_static(b"while you were out"))
        .unwrap();

    let listener = TcpListener::bind(peers[&ServerId(3)]).await.unwrap();
    let (three, mut rx3) =
        ElectionNet::with_listener(ServerId(3), listener, peers, fast()).unwrap();
    expect_all(&mut rx3, &[(1, "while you were out"), (2, "hello 2")]).await;
    three.broadcast(Bytes::from_static(b"back"));
    nets.push(three);
    rxs.push(rx3);
    for rx in &mut rxs {
        expect_all(rx, &[(3, "back")]).await;
    }
    eventually("one connection per pair", || one_connection_per_pair(&nets)).await;
    for net in nets {
        net.shutdown().await;
    }
}

fn v1_hello(sid: u64, addr: &str) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&(-65536i64).to_be_bytes());
    b.extend_from_slice(&(sid as i64).to_be_bytes());
    b.extend_from_slice(&(addr.len() as i32).to_be_bytes());
    b.extend_from_slice(addr.as_bytes());
    b
}

#[tokio::test]
async fn wire_rules_against_raw_sockets() {
    // Server 5 is a raw socket (larger sid), server 0 a raw listener (smaller sid).
    let zero = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let me = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let my_addr = me.local_addr().unwrap();
    let mut peers = HashMap::new();
    peers.insert(ServerId(0), zero.local_addr().unwrap());
    peers.insert(ServerId(5), "127.0.0.1:1".parse().unwrap());
    let (net, mut rx) = ElectionNet::with_listener(ServerId(1), me, peers, fast()).unwrap();

    // A larger sid in the pre-3.5 form (just the sid) is kept; frames flow both ways.
    let mut five = TcpStream::connect(my_addr).await.unwrap();
    five.write_all(&5i64.to_be_bytes()).await.unwrap();
    five.write_all(&[0, 0, 0, 3, b'a', b'b', b'c'])
        .await
        .unwrap();
    let got = timeout(WAIT, rx.recv()).await.unwrap().unwrap();
    assert_eq!(got, (ServerId(5), Bytes::from_static(b"abc")));
    net.send(ServerId(5), Bytes::from_static(b"xy")).unwrap();
    let mut buf = [0u8; 6];
    timeout(WAIT, five.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(buf, [0, 0, 0, 2, b'x', b'y']);

    // A zero-length frame breaks the connection, as in ZooKeeper.
    five.write_all(&[0, 0, 0, 0]).await.unwrap();
    let n = timeout(WAIT, five.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "connection should be closed");

    // A smaller sid is closed and dialled back with a V1 initial message.
    let mut small = TcpStream::connect(my_addr).await.unwrap();
    small.write_all(&v1_hello(0, "127.0.0.1:1")).await.unwrap();
    let n = timeout(WAIT, small.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "connection from a smaller sid should be closed");
    let (mut back, _) = timeout(WAIT, zero.accept()).await.unwrap().unwrap();
    let want = v1_hello(1, &my_addr.to_string());
    let mut hello = vec![0u8; want.len()];
    timeout(WAIT, back.read_exact(&mut hello))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hello, want);
    eventually("1 connected to 0", || net.is_connected(ServerId(0))).await;
    let c = net
        .connections()
        .into_iter()
        .find(|c| c.peer == ServerId(0))
        .unwrap();
    assert!(c.initiated_by_us);

    // Garbage instead of an initial message is refused.
    let mut junk = TcpStream::connect(my_addr).await.unwrap();
    junk.write_all(&(-7i64).to_be_bytes()).await.unwrap();
    let n = timeout(WAIT, junk.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
    net.shutdown().await;
}

#[tokio::test]
async fn send_queue_keeps_only_the_newest_message_while_disconnected() {
    // Peer 2 listens but never answers: 1 < 2 so 1 only asks and waits.
    let two = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let me = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let my_addr = me.local_addr().unwrap();
    let peers = HashMap::from([(ServerId(2), two.local_addr().unwrap())]);
    let (net, _rx) = ElectionNet::with_listener(ServerId(1), me, peers, fast()).unwrap();
    for i in 0..5 {
        net.send(ServerId(2), Bytes::from(format!("vote {i}")))
            .unwrap();
    }
    // 2 answers by connecting back: only the newest vote is delivered.
    let mut s = TcpStream::connect(my_addr).await.unwrap();
    s.write_all(&v1_hello(2, &two.local_addr().unwrap().to_string()))
        .await
        .unwrap();
    let mut buf = [0u8; 10];
    timeout(WAIT, s.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"\0\0\0\x06vote 4");
    net.shutdown().await;
}
