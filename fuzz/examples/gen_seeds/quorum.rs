//! Seeds of the quorum-packet and election targets.

use std::path::Path;

use bytes::{BufMut, Bytes};
use zab_core::jute::Record;
use zab_core::proto::*;
use zab_core::records::Id;
use zab_core::wire::*;
use zab_core::{Epoch, ServerId, Zxid};

use crate::client::request_bodies;
use crate::storage::txns;
use crate::*;

pub fn packets() -> Vec<(&'static str, QuorumPacket)> {
    let txn = txns()[1].to_bytes();
    let info = LearnerInfo {
        sid: ServerId(2),
        protocol_version: PROTOCOL_VERSION,
        config_version: -1,
    };
    let mut request = Vec::new();
    request.put_i64(0x1000_0000_0001);
    request.put_i32(3);
    request.put_i32(op::CREATE);
    request.extend_from_slice(&request_bodies()[0].1);
    let mut ping = Vec::new();
    ping.put_i64(0x1000_0000_0001);
    ping.put_i32(30_000);
    let z = Zxid(0x1_0000_0002);
    vec![
        (
            "request",
            QuorumPacket::Request {
                data: Bytes::from(request),
                authinfo: vec![
                    Id::new("digest", "user:aGFzaA=="),
                    Id::new("ip", "127.0.0.1"),
                ],
            },
        ),
        (
            "proposal",
            QuorumPacket::Proposal {
                zxid: z,
                data: Bytes::from(txn.clone()),
            },
        ),
        ("ack", QuorumPacket::Ack { zxid: z }),
        ("commit", QuorumPacket::Commit { zxid: z }),
        (
            "ping",
            QuorumPacket::Ping {
                zxid: z,
                data: Bytes::from(ping),
            },
        ),
        (
            "revalidate",
            QuorumPacket::Revalidate {
                data: Bytes::from_static(&[0, 0, 0x10, 0, 0, 0, 0, 1, 0, 0, 0x75, 0x30]),
            },
        ),
        ("sync", QuorumPacket::Sync { zxid: z }),
        (
            "inform",
            QuorumPacket::Inform {
                zxid: z,
                data: Bytes::from(txn),
            },
        ),
        (
            "commitandactivate",
            QuorumPacket::CommitAndActivate {
                zxid: z,
                data: Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 1]),
            },
        ),
        (
            "newleader",
            QuorumPacket::NewLeader {
                zxid: Zxid::new(Epoch(2), 0),
                config: Bytes::from_static(b"server.1=127.0.0.1:2888:3888\nversion=100000000"),
            },
        ),
        (
            "followerinfo",
            QuorumPacket::FollowerInfo {
                accepted_epoch: Epoch(1),
                info,
                zk_rs: false,
            },
        ),
        ("uptodate", QuorumPacket::UpToDate { zxid: Zxid(-1) }),
        ("diff", QuorumPacket::Diff { zxid: z }),
        ("trunc", QuorumPacket::Trunc { zxid: z }),
        ("snap", QuorumPacket::Snap { zxid: z }),
        (
            "observerinfo",
            QuorumPacket::ObserverInfo {
                accepted_epoch: Epoch(1),
                info,
                zk_rs: false,
            },
        ),
        (
            "leaderinfo",
            QuorumPacket::LeaderInfo {
                epoch: Epoch(2),
                protocol_version: PROTOCOL_VERSION,
                zk_rs: false,
            },
        ),
        (
            "ackepoch",
            QuorumPacket::AckEpoch {
                last_zxid: z,
                current_epoch: -1,
            },
        ),
        (
            "informandactivate",
            QuorumPacket::InformAndActivate {
                zxid: z,
                data: Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 1]),
            },
        ),
    ]
}

pub fn notification(version: i32) -> Notification {
    Notification {
        state: ServerState::Looking,
        leader: ServerId(3),
        zxid: Zxid(0x1_0000_0007),
        election_epoch: 2,
        peer_epoch: Epoch(1),
        version,
        config: if version > 1 {
            Bytes::from_static(b"server.1=127.0.0.1:2888:3888\nversion=100000000")
        } else {
            Bytes::new()
        },
    }
}

pub fn quorum_seeds(root: &Path) {
    let mut s = Seeds::new(root, "quorum_packet");
    let mut stream = Vec::new();
    for (name, p) in packets() {
        s.with(name, &[0], &p.encode());
        stream.extend_from_slice(&p.encode());
    }
    s.with("stream-whole", &[0], &stream);
    s.with("stream-13-byte-reads", &[13], &stream);
    // ZooKeeper's own null authinfo and null data.
    let mut zk_ack = Vec::new();
    zk_ack.put_i32(packet_type::ACK);
    zk_ack.put_i64(0x1_0000_0002);
    zk_ack.put_i32(-1);
    zk_ack.put_i32(-1);
    s.with("ack-null-authinfo", &[0], &zk_ack);
    let mut huge = Vec::new();
    huge.put_i32(packet_type::PROPOSAL);
    huge.put_i64(1);
    huge.put_i32(i32::MAX);
    s.with("data-length-too-large", &[0], &huge);
    // SNAP, the database unframed with its signature, then packets again.
    let z = Zxid(0x1_0000_0005);
    let mut snap = QuorumPacket::Snap { zxid: z }.encode();
    snap.extend_from_slice(&crate::storage::sample_db());
    zab_core::zkdb::write_signature(&mut snap);
    snap.extend_from_slice(&QuorumPacket::Ack { zxid: z }.encode());
    s.with("snap-database-then-ack", &[0], &snap);
    s.with("snap-database-then-ack-9-byte-reads", &[9], &snap);
}

pub fn election_seeds(root: &Path) {
    let mut s = Seeds::new(root, "election");
    let v1 = InitialMessage {
        protocol_version: Some(ELECTION_PROTOCOL_V1),
        sid: ServerId(1),
        addresses: vec!["127.0.0.1:3888".into()],
    };
    let v2 = InitialMessage {
        protocol_version: Some(ELECTION_PROTOCOL_V2),
        sid: ServerId(2),
        addresses: vec!["127.0.0.1:3889".into(), "[::1]:3889".into()],
    };
    let old = InitialMessage {
        protocol_version: None,
        sid: ServerId(3),
        addresses: vec![],
    };
    for (name, m) in [("v1", &v1), ("v2", &v2), ("pre-3.4.6", &old)] {
        let mut conn = m.encode();
        for version in [2, 1] {
            conn.extend_from_slice(&frame(&notification(version).encode()));
        }
        // A version-0 sender: 28 bytes.
        conn.extend_from_slice(&frame(&notification(0).encode()[..28]));
        s.with(&format!("initial-{name}-then-notifications"), &[0], &conn);
    }
    let mut conn = v1.encode();
    conn.extend_from_slice(&frame(&notification(2).encode()));
    s.with("v1-5-byte-reads", &[5], &conn);
    for version in [2, 1] {
        s.with(
            &format!("bare-notification-v{version}"),
            &[0],
            &notification(version).encode(),
        );
    }
    let mut long_addr = Vec::new();
    long_addr.put_i64(ELECTION_PROTOCOL_V1);
    long_addr.put_i64(1);
    long_addr.put_i32(i32::MAX);
    s.with("address-length-too-large", &[0], &long_addr);
}
