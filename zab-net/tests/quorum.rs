//! Quorum port on 127.0.0.1: a learner connects to a leader, they exchange
//! packets, and read timeouts, a wrong first packet and a silent learner
//! close connections and are reported.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use zab_core::wire::{packet_type, QuorumPacketRecord};
use zab_core::ServerId;
use zab_net::{
    connect_to_leader, LeaderConnectConfig, LearnerConn, NetError, PeerConn, QuorumConfig,
    QuorumListener,
};

const WAIT: Duration = Duration::from_secs(10);

fn cfg() -> QuorumConfig {
    QuorumConfig {
        read_timeout: Some(Duration::from_secs(5)),
        first_packet_timeout: Duration::from_secs(5),
        ..QuorumConfig::default()
    }
}

fn retry() -> LeaderConnectConfig {
    LeaderConnectConfig {
        max_attempts: 3,
        deadline: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(1),
        retry_delay: Duration::from_millis(10),
        max_retry_delay: Duration::from_millis(50),
    }
}

fn pkt(t: i32, zxid: i64, data: Option<&[u8]>) -> QuorumPacketRecord {
    QuorumPacketRecord {
        packet_type: t,
        zxid,
        data: data.map(Bytes::copy_from_slice),
        authinfo: vec![],
    }
}

fn follower_info(sid: u64) -> QuorumPacketRecord {
    let mut d = Vec::new();
    d.extend_from_slice(&(sid as i64).to_be_bytes());
    d.extend_from_slice(&0x10000i32.to_be_bytes());
    d.extend_from_slice(&0i64.to_be_bytes());
    pkt(packet_type::FOLLOWERINFO, 1 << 32, Some(&d))
}

/// A leader's quorum listener and a learner connected to it that sent FOLLOWERINFO
/// from `sid`: the listener, the learner's end and the leader's.
async fn leader_with_learner(
    sid: u64,
) -> (QuorumListener, PeerConn<QuorumPacketRecord>, LearnerConn) {
    let (listener, mut learners) = QuorumListener::bind("127.0.0.1:0".parse().unwrap(), cfg())
        .await
        .unwrap();
    let learner = connect_to_leader(listener.local_addr(), &retry(), &cfg())
        .await
        .unwrap();
    learner.send(follower_info(sid)).await.unwrap();
    let at_leader = timeout(WAIT, learners.recv()).await.unwrap().unwrap();
    (listener, learner, at_leader)
}

#[tokio::test]
async fn learner_and_leader_exchange_packets_then_a_silent_leader_times_out() {
    let (listener, mut learner, mut at_leader) = leader_with_learner(2).await;
    assert_eq!(at_leader.sid, Some(ServerId(2)));
    assert_eq!(at_leader.first, follower_info(2));
    assert_eq!(at_leader.conn.peer_addr(), learner.local_addr());

    // LEADERINFO -> ACKEPOCH, then a burst of proposals queued at once.
    let leader_info = pkt(packet_type::LEADERINFO, 2 << 32, Some(&[0, 1, 0, 0]));
    at_leader.conn.send(leader_info.clone()).await.unwrap();
    assert_eq!(
        timeout(WAIT, learner.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap(),
        leader_info
    );
    let ack_epoch = pkt(packet_type::ACKEPOCH, 0, Some(&[0, 0, 0, 1]));
    learner.try_send(ack_epoch.clone()).unwrap();
    assert_eq!(
        timeout(WAIT, at_leader.conn.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap(),
        ack_epoch
    );
    let sender = at_leader.conn.sender();
    for i in 1..=100 {
        sender
            .send(pkt(packet_type::PROPOSAL, (2 << 32) + i, Some(b"txn")))
            .await
            .unwrap();
    }
    for i in 1..=100 {
        let p = timeout(WAIT, learner.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(p.zxid, (2 << 32) + i);
    }

    // The leader goes silent: the learner's syncLimit-style timeout fires,
    // is reported once, and the connection is closed.
    learner.set_read_timeout(Some(Duration::from_millis(200)));
    let started = tokio::time::Instant::now();
    match timeout(WAIT, learner.recv()).await.unwrap() {
        Some(Err(NetError::ReadTimeout { timeout, .. })) => {
            assert_eq!(timeout, Duration::from_millis(200))
        }
        other => panic!("expected a read timeout, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(timeout(WAIT, learner.recv()).await.unwrap().is_none());
    assert!(learner.is_closed());
    assert!(matches!(
        learner.try_send(pkt(5, 0, None)),
        Err(NetError::Closed)
    ));
    // The leader sees the learner go away cleanly.
    assert!(timeout(WAIT, at_leader.conn.recv())
        .await
        .unwrap()
        .is_none());
    listener.shutdown().await;
}

#[tokio::test]
async fn leader_times_out_a_silent_learner() {
    let (listener, learner, mut at_leader) = leader_with_learner(7).await;
    at_leader
        .conn
        .set_read_timeout(Some(Duration::from_millis(100)));
    assert!(matches!(
        timeout(WAIT, at_leader.conn.recv()).await.unwrap(),
        Some(Err(NetError::ReadTimeout { .. }))
    ));
    assert!(timeout(WAIT, at_leader.conn.recv())
        .await
        .unwrap()
        .is_none());
    drop(learner);
    listener.shutdown().await;
}

#[tokio::test]
async fn a_first_packet_that_is_not_followerinfo_closes_the_connection() {
    let (listener, mut learners) = QuorumListener::bind("127.0.0.1:0".parse().unwrap(), cfg())
        .await
        .unwrap();
    let mut learner = connect_to_leader(listener.local_addr(), &retry(), &cfg())
        .await
        .unwrap();
    learner.send(pkt(packet_type::PING, 0, None)).await.unwrap();
    assert!(timeout(WAIT, learner.recv()).await.unwrap().is_none());

    // Garbage: a negative data length.
    let mut raw = TcpStream::connect(listener.local_addr()).await.unwrap();
    let mut junk = Vec::new();
    junk.extend_from_slice(&11i32.to_be_bytes());
    junk.extend_from_slice(&0i64.to_be_bytes());
    junk.extend_from_slice(&(-5i32).to_be_bytes());
    raw.write_all(&junk).await.unwrap();
    let mut b = [0u8; 1];
    assert_eq!(
        timeout(WAIT, raw.read(&mut b)).await.unwrap().unwrap_or(0),
        0
    );

    // Nothing reached the driver; a good learner still gets through.
    let good = connect_to_leader(listener.local_addr(), &retry(), &cfg())
        .await
        .unwrap();
    good.send(follower_info(3)).await.unwrap();
    let l = timeout(WAIT, learners.recv()).await.unwrap().unwrap();
    assert_eq!(l.sid, Some(ServerId(3)));
    listener.shutdown().await;
}

#[tokio::test]
async fn a_learner_that_never_speaks_is_dropped_after_the_first_packet_timeout() {
    let c = QuorumConfig {
        first_packet_timeout: Duration::from_millis(100),
        ..cfg()
    };
    let (listener, _learners) = QuorumListener::bind("127.0.0.1:0".parse().unwrap(), c)
        .await
        .unwrap();
    let mut raw = TcpStream::connect(listener.local_addr()).await.unwrap();
    let mut b = [0u8; 1];
    assert_eq!(
        timeout(WAIT, raw.read(&mut b)).await.unwrap().unwrap_or(0),
        0
    );
    listener.shutdown().await;
}

#[tokio::test]
async fn connect_to_leader_retries_then_gives_up() {
    // A port with nothing listening: bind, note it, close.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    match connect_to_leader(addr, &retry(), &cfg()).await {
        Err(NetError::ConnectFailed { attempts, .. }) => assert_eq!(attempts, 3),
        other => panic!("expected ConnectFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn bytes_of_a_packet_split_across_writes_are_reassembled() {
    let (listener, mut learners) = QuorumListener::bind("127.0.0.1:0".parse().unwrap(), cfg())
        .await
        .unwrap();
    let mut raw = TcpStream::connect(listener.local_addr()).await.unwrap();
    let mut wire = bytes::BytesMut::new();
    let mut codec = zab_net::QuorumPacketCodec::default();
    tokio_util::codec::Encoder::encode(&mut codec, follower_info(4), &mut wire).unwrap();
    tokio_util::codec::Encoder::encode(
        &mut codec,
        pkt(packet_type::ACKEPOCH, 9, Some(&[0, 0, 0, 1])),
        &mut wire,
    )
    .unwrap();
    // One byte at a time; the second packet rides behind the first.
    for b in wire.iter() {
        raw.write_all(&[*b]).await.unwrap();
    }
    let mut l = timeout(WAIT, learners.recv()).await.unwrap().unwrap();
    assert_eq!(l.sid, Some(ServerId(4)));
    let p = timeout(WAIT, l.conn.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(p.zxid, 9);
    listener.shutdown().await;
}

/// `try_send_marking` marks the first and every n-th frame; once the writer takes a
/// marked frame its queue wait can be collected (a leader's
/// `learner_handler_qp_time_ms`). A wait is as long as the frames ahead of it took.
#[tokio::test]
async fn marked_frames_report_how_long_they_waited_in_the_queue() {
    let (listener, mut learner, at_leader) = leader_with_learner(2).await;
    let conn = at_leader.conn;
    assert!(conn.take_queue_waits().is_empty());
    // Frames 0, 10, 20 of 25 are marked.
    for i in 0..25 {
        conn.try_send_marking(pkt(packet_type::PING, i, None), 10)
            .unwrap();
    }
    for i in 0..25 {
        let p = timeout(WAIT, learner.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(p.zxid, i);
    }
    let waits = conn.take_queue_waits();
    assert_eq!(waits.len(), 3, "{waits:?}");
    assert!(waits.iter().all(|w| *w < 5_000), "{waits:?}");
    assert!(conn.take_queue_waits().is_empty(), "collected once");
    // Unmarked sends keep the count: the next mark is the 30th frame queued.
    for i in 25..31 {
        conn.try_send(pkt(packet_type::PING, i, None)).unwrap();
    }
    for _ in 25..31 {
        timeout(WAIT, learner.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
    assert!(conn.take_queue_waits().is_empty());
    conn.try_send_marking(pkt(packet_type::PING, 31, None), 10)
        .unwrap();
    timeout(WAIT, learner.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        conn.take_queue_waits().is_empty(),
        "31 is not a multiple of 10"
    );
    listener.shutdown().await;
}

/// The driver takes what waits on a connection a lot at a time (`try_recv_many`): in
/// order, up to its limit, and the connection's end once everything before it is taken.
/// Closing through a handle stops queueing at once.
#[tokio::test]
async fn packets_are_taken_a_lot_at_a_time_then_the_end() {
    let (listener, mut learner, at_leader) = leader_with_learner(2).await;
    let sender = at_leader.conn.sender();
    for i in 0..40 {
        sender
            .try_send(pkt(packet_type::PROPOSAL, i, Some(b"txn")))
            .unwrap();
    }
    drop(sender);
    let first = timeout(WAIT, learner.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.zxid, 0);
    let mut got = vec![first.zxid];
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match learner.try_recv_many(&mut buf, 16) {
            None => break,
            Some(n) => {
                assert!(n <= 16);
                got.extend(buf.drain(..).map(|p| p.unwrap().zxid));
                if got.len() == 40 {
                    // Everything came: the leader closes, the learner reads the end.
                    at_leader.conn.close();
                }
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "{got:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(got, (0..40).collect::<Vec<_>>());
    assert!(learner.is_closed());
    assert!(matches!(
        learner.try_send(pkt(packet_type::ACK, 1, None)),
        Err(NetError::Closed)
    ));
    listener.shutdown().await;
}
