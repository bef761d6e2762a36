//! Writes the committed seed corpus, `fuzz/seeds/<target>/`, from the real
//! encoders: small valid examples of every record each target decodes, plus a
//! few edge cases (null fields, legacy forms, torn and truncated files).
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example gen_seeds
//! ```
//!
//! Each seed starts with the target's control byte(s) (see the target's docs).

use std::fs;
use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes};
use zab_core::jute::Record;
use zab_core::proto::*;
use zab_core::records::{Acl, Id, Stat, StatPersisted};
use zab_core::txn::*;
use zab_core::wire::*;
use zab_core::{Epoch, ServerId, Zxid};
use zab_storage::record::{encode_record, FileHeader};
use zab_storage::{LogOptions, SnapshotWriter, TreeDigest, TxnLog};

struct Seeds {
    dir: PathBuf,
    n: usize,
}

impl Seeds {
    fn new(root: &Path, target: &str) -> Seeds {
        let dir = root.join(target);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Seeds { dir, n: 0 }
    }

    fn add(&mut self, name: &str, bytes: &[u8]) {
        self.n += 1;
        fs::write(self.dir.join(format!("{:03}-{name}", self.n)), bytes).unwrap();
    }

    fn with(&mut self, name: &str, control: &[u8], bytes: &[u8]) {
        let mut v = control.to_vec();
        v.extend_from_slice(bytes);
        self.add(name, &v);
    }
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

fn stat() -> Stat {
    Stat {
        czxid: 0x1_0000_0001,
        mzxid: 0x1_0000_0002,
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_001,
        version: 1,
        cversion: 2,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 3,
        num_children: 0,
        pzxid: 0x1_0000_0001,
    }
}

fn digest_acl() -> Vec<Acl> {
    vec![Acl {
        perms: 31,
        id: Id::new("digest", "user:aGFzaA=="),
    }]
}

/// A request body for every op code the server parses, from the real records.
fn request_bodies() -> Vec<(i32, Vec<u8>)> {
    let create = CreateRequest {
        path: "/a".into(),
        data: Some(Bytes::from_static(b"data")),
        acl: Acl::open_unsafe(),
        flags: create_mode::PERSISTENT_SEQUENTIAL,
    };
    let multi = MultiRequest {
        ops: vec![
            MultiOp::Check(CheckVersionRequest {
                path: "/q".into(),
                version: 3,
            }),
            MultiOp::Create {
                op_type: op::CREATE,
                req: create.clone(),
            },
            MultiOp::Delete(DeleteRequest {
                path: "/q/1".into(),
                version: -1,
            }),
            MultiOp::SetData(SetDataRequest {
                path: "/a".into(),
                data: None,
                version: -1,
            }),
        ],
    };
    let multi_read = MultiRequest {
        ops: vec![
            MultiOp::GetData(PathWatchRequest {
                path: "/a".into(),
                watch: false,
            }),
            MultiOp::GetChildren(PathWatchRequest {
                path: "/".into(),
                watch: true,
            }),
        ],
    };
    let watch = PathWatchRequest {
        path: "/a".into(),
        watch: true,
    };
    let path = PathRequest { path: "/a".into() };
    let watches = SetWatches2 {
        relative_zxid: 0x1_0000_0005,
        data_watches: vec!["/a".into()],
        exist_watches: vec!["/b".into()],
        child_watches: vec!["/".into()],
        persistent_watches: vec!["/p".into()],
        persistent_recursive_watches: vec![],
    };
    let old_watches = SetWatches {
        relative_zxid: 7,
        data_watches: vec!["/a".into(), "/b".into()],
        exist_watches: vec![],
        child_watches: vec!["/".into()],
    };
    vec![
        (op::CREATE, create.to_bytes()),
        (op::CREATE2, create.to_bytes()),
        (
            op::CREATE_CONTAINER,
            CreateRequest {
                flags: create_mode::CONTAINER,
                acl: digest_acl(),
                ..create.clone()
            }
            .to_bytes(),
        ),
        (
            op::CREATE_TTL,
            CreateTtlRequest {
                path: "/t".into(),
                data: None,
                acl: Acl::open_unsafe(),
                flags: create_mode::PERSISTENT_WITH_TTL,
                ttl: 60_000,
            }
            .to_bytes(),
        ),
        (
            op::DELETE,
            DeleteRequest {
                path: "/a".into(),
                version: 2,
            }
            .to_bytes(),
        ),
        (op::DELETE_CONTAINER, b"/c".to_vec()),
        (
            op::SET_DATA,
            SetDataRequest {
                path: "/a".into(),
                data: Some(Bytes::from_static(b"new")),
                version: -1,
            }
            .to_bytes(),
        ),
        (
            op::SET_ACL,
            SetAclRequest {
                path: "/a".into(),
                acl: digest_acl(),
                version: 0,
            }
            .to_bytes(),
        ),
        (
            op::CHECK,
            CheckVersionRequest {
                path: "/a".into(),
                version: 1,
            }
            .to_bytes(),
        ),
        (
            op::RECONFIG,
            ReconfigRequest {
                joining_servers: Some("server.4=127.0.0.1:2888:3888;2181".into()),
                leaving_servers: None,
                new_members: None,
                cur_config_id: -1,
            }
            .to_bytes(),
        ),
        (op::MULTI, multi.to_bytes()),
        (op::MULTI_READ, multi_read.to_bytes()),
        (op::CLOSE_SESSION, vec![]),
        (op::EXISTS, watch.to_bytes()),
        (op::GET_DATA, watch.to_bytes()),
        (op::GET_CHILDREN, watch.to_bytes()),
        (op::GET_CHILDREN2, watch.to_bytes()),
        (op::GET_ACL, path.to_bytes()),
        (op::SYNC, path.to_bytes()),
        (op::GET_ALL_CHILDREN_NUMBER, path.to_bytes()),
        (op::GET_EPHEMERALS, path.to_bytes()),
        (
            op::CHECK_WATCHES,
            WatchesRequest {
                path: "/a".into(),
                watcher_type: watcher_type::ANY,
            }
            .to_bytes(),
        ),
        (
            op::REMOVE_WATCHES,
            WatchesRequest {
                path: "/a".into(),
                watcher_type: watcher_type::DATA,
            }
            .to_bytes(),
        ),
        (op::SET_WATCHES, old_watches.to_bytes()),
        (op::SET_WATCHES2, watches.to_bytes()),
        (
            op::ADD_WATCH,
            AddWatchRequest {
                path: "/a".into(),
                mode: add_watch_mode::PERSISTENT_RECURSIVE,
            }
            .to_bytes(),
        ),
        (op::WHO_AM_I, vec![]),
        (op::PING, vec![]),
        (
            op::AUTH,
            AuthPacket {
                auth_type: 0,
                scheme: "digest".into(),
                auth: Bytes::from_static(b"user:secret"),
            }
            .to_bytes(),
        ),
        (
            op::SASL,
            SaslRequest {
                token: Bytes::from_static(b"token"),
            }
            .to_bytes(),
        ),
    ]
}

/// A reply body for the op codes the client target decodes replies for.
fn reply_bodies() -> Vec<(i32, Vec<u8>)> {
    vec![
        (
            op::CREATE,
            CreateResponse {
                path: "/a0000000001".into(),
            }
            .to_bytes(),
        ),
        (
            op::CREATE2,
            Create2Response {
                path: "/a".into(),
                stat: stat(),
            }
            .to_bytes(),
        ),
        (op::EXISTS, StatResponse { stat: stat() }.to_bytes()),
        (
            op::GET_DATA,
            GetDataResponse {
                data: Some(Bytes::from_static(b"abc")),
                stat: stat(),
            }
            .to_bytes(),
        ),
        (
            op::GET_ACL,
            GetAclResponse {
                acl: Acl::open_unsafe(),
                stat: stat(),
            }
            .to_bytes(),
        ),
        (
            op::GET_CHILDREN,
            ChildrenResponse {
                children: vec!["a".into(), "b".into()],
            }
            .to_bytes(),
        ),
        (
            op::GET_CHILDREN2,
            GetChildren2Response {
                children: vec!["zookeeper".into()],
                stat: stat(),
            }
            .to_bytes(),
        ),
        (op::SYNC, PathResponse { path: "/a".into() }.to_bytes()),
        (
            op::GET_ALL_CHILDREN_NUMBER,
            IntResponse { value: 4 }.to_bytes(),
        ),
        (
            op::WHO_AM_I,
            WhoAmIResponse {
                client_info: vec![ClientInfo {
                    auth_scheme: "ip".into(),
                    user: "127.0.0.1".into(),
                }],
            }
            .to_bytes(),
        ),
        (
            op::MULTI,
            MultiResponse {
                results: vec![
                    OpResult::Check,
                    OpResult::Create { path: "/q".into() },
                    OpResult::Delete,
                    OpResult::SetData { stat: stat() },
                    OpResult::Error { err: -101 },
                ],
            }
            .to_bytes(),
        ),
        (
            op::MULTI_READ,
            MultiResponse {
                results: vec![
                    OpResult::GetData {
                        data: Some(Bytes::from_static(b"x")),
                        stat: stat(),
                    },
                    OpResult::GetChildren {
                        children: vec!["c".into()],
                    },
                ],
            }
            .to_bytes(),
        ),
        (
            op::NOTIFICATION,
            WatcherEvent {
                event_type: event_type::NODE_DATA_CHANGED,
                state: keeper_state::SYNC_CONNECTED,
                path: "/a".into(),
            }
            .to_bytes(),
        ),
        (
            op::CREATE_SESSION,
            ConnectResponse {
                protocol_version: 0,
                timeout_ms: 30_000,
                session_id: 0x1000_0000_0001,
                passwd: Bytes::from(vec![7u8; 16]),
                read_only: Some(false),
            }
            .to_bytes(),
        ),
    ]
}

fn header(txn_type: i32, zxid: i64) -> TxnHeader {
    TxnHeader {
        client_id: 0x1000_0000_0001,
        cxid: 5,
        zxid: Zxid(zxid),
        time: 1_700_000_000_000,
        txn_type,
    }
}

/// One transaction of every body type, zxids 0x1_0000_0001 and on.
fn txns() -> Vec<Txn> {
    let bodies = vec![
        (
            op::CREATE_SESSION,
            TxnBody::CreateSession { timeout_ms: 30_000 },
        ),
        (
            op::CREATE2,
            TxnBody::Create(CreateTxn {
                path: "/a".into(),
                data: Some(Bytes::from_static(b"data")),
                acl: Acl::open_unsafe(),
                ephemeral: false,
                parent_cversion: 1,
            }),
        ),
        (
            op::CREATE_CONTAINER,
            TxnBody::CreateContainer(CreateContainerTxn {
                path: "/c".into(),
                data: None,
                acl: digest_acl(),
                parent_cversion: 2,
            }),
        ),
        (
            op::CREATE_TTL,
            TxnBody::CreateTtl(CreateTtlTxn {
                path: "/t".into(),
                data: Some(Bytes::new()),
                acl: Acl::open_unsafe(),
                parent_cversion: 3,
                ttl: 60_000,
            }),
        ),
        (
            op::SET_DATA,
            TxnBody::SetData(SetDataTxn {
                path: "/a".into(),
                data: Some(Bytes::from_static(b"new")),
                version: 1,
            }),
        ),
        (
            op::SET_ACL,
            TxnBody::SetAcl(SetAclTxn {
                path: "/a".into(),
                acl: digest_acl(),
                version: 1,
            }),
        ),
        (
            op::CHECK,
            TxnBody::CheckVersion {
                path: "/a".into(),
                version: 1,
            },
        ),
        (
            op::MULTI,
            TxnBody::Multi(vec![
                SubTxn {
                    txn_type: op::CHECK,
                    body: TxnBody::CheckVersion {
                        path: "/a".into(),
                        version: 1,
                    },
                },
                SubTxn {
                    txn_type: op::DELETE,
                    body: TxnBody::Delete { path: "/a".into() },
                },
                SubTxn {
                    txn_type: op::ERROR,
                    body: TxnBody::Error { err: 0 },
                },
            ]),
        ),
        (op::DELETE, TxnBody::Delete { path: "/t".into() }),
        (op::ERROR, TxnBody::Error { err: -101 }),
        (
            op::CLOSE_SESSION,
            TxnBody::CloseSession {
                paths_to_delete: vec!["/e".into()],
            },
        ),
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, (t, body))| Txn {
            header: header(t, 0x1_0000_0001 + i as i64),
            body,
            digest: (i % 2 == 0).then_some(TxnDigest {
                version: 2,
                tree_digest: 0x1234_5678 + i as i64,
            }),
        })
        .collect()
}

fn packets() -> Vec<(&'static str, QuorumPacket)> {
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
            },
        ),
        (
            "leaderinfo",
            QuorumPacket::LeaderInfo {
                epoch: Epoch(2),
                protocol_version: PROTOCOL_VERSION,
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

fn notification(version: i32) -> Notification {
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

fn client_seeds(root: &Path) {
    let connect = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 30_000,
        session_id: 0,
        passwd: Bytes::from(vec![0u8; 16]),
        read_only: Some(false),
    };
    let legacy = ConnectRequest {
        read_only: None,
        ..connect.clone()
    };
    let mut s = Seeds::new(root, "client_frames");
    let mut session = frame(&connect.to_bytes());
    for (i, (op_type, body)) in request_bodies().into_iter().enumerate() {
        let mut req = RequestHeader {
            xid: i as i32 + 1,
            op_type,
        }
        .to_bytes();
        req.extend_from_slice(&body);
        let mut one = frame(&connect.to_bytes());
        one.extend_from_slice(&frame(&req));
        s.with(op::name(op_type), &[0], &one);
        session.extend_from_slice(&frame(&req));
    }
    s.with("session-whole", &[0], &session);
    s.with("session-7-byte-reads", &[7], &session);
    s.with("connect-legacy-44", &[0], &frame(&legacy.to_bytes()));
    s.with("four-letter-ruok", &[0], b"ruok");
    s.with("four-letter-mntr-then-bytes", &[1], b"mntr\0\0\0\x01x");
    s.with("length-too-large", &[0], &[0x7f, 0xff, 0xff, 0xff, 1, 2]);
    s.with("length-negative", &[0], &[0xff, 0xff, 0xff, 0xfe]);
    s.with("empty-frame", &[0], &[0, 0, 0, 0]);

    let mut s = Seeds::new(root, "client_op");
    let index = |op_type: i32| {
        zk_fuzz::OP_CODES
            .iter()
            .position(|&c| c == op_type)
            .expect("an op code the target knows") as u8
    };
    for (op_type, body) in request_bodies() {
        s.with(
            &format!("request-{}", op::name(op_type)),
            &[index(op_type)],
            &body,
        );
    }
    for (op_type, body) in reply_bodies() {
        s.with(
            &format!("reply-{}", op::name(op_type)),
            &[index(op_type)],
            &body,
        );
    }
    for t in txns() {
        let mut body = Vec::new();
        t.body.write(&mut body);
        let name = format!("txn-{}", op::name(t.header.txn_type));
        s.with(&name, &[index(t.header.txn_type)], &body);
    }
    s.with("create-null-strings", &[index(op::CREATE)], &[0xff; 16]);
    s.with(
        "multi-done-only",
        &[index(op::MULTI)],
        &[0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff],
    );
    s.with("unknown-op", &[index(999)], b"anything");
}

fn quorum_seeds(root: &Path) {
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
}

fn election_seeds(root: &Path) {
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

fn storage_seeds(root: &Path) {
    let txns = txns();
    let mut segment = FileHeader {
        first_zxid: txns[0].zxid(),
        base_zxid: Zxid(0x1_0000_0000),
    }
    .encode()
    .to_vec();
    for t in &txns {
        encode_record(&mut segment, t.zxid(), &t.to_bytes());
    }

    let mut s = Seeds::new(root, "log_record");
    s.with("segment", &[0], &segment);
    let mut torn = segment.clone();
    torn.truncate(torn.len() - 5);
    torn.extend_from_slice(&[0; 40]);
    s.with("segment-torn-tail", &[0], &torn);
    let mut flipped = segment.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x10;
    s.with("segment-flipped-bit-fix-crcs", &[1], &flipped);
    for t in &txns {
        s.with(
            &format!("txn-{}", op::name(t.header.txn_type)),
            &[2],
            &t.to_bytes(),
        );
    }

    let mut s = Seeds::new(root, "log_recovery");
    let d = zk_fuzz::scratch_dir();
    let opts = LogOptions {
        prealloc_bytes: 4096,
        force_sync: false,
        max_txn_bytes: 1 << 20,
    };
    let (mut log, _) = TxnLog::open(d.path(), opts).unwrap();
    for (i, t) in txns.iter().enumerate() {
        if i == 6 {
            log.roll().unwrap();
        }
        log.append(t.zxid(), &t.to_bytes()).unwrap();
    }
    log.flush().unwrap();
    let paths = log.segment_paths();
    drop(log);
    let files: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| {
            let mut b = fs::read(p).unwrap();
            let end = b.iter().rposition(|&x| x != 0).map_or(0, |i| i + 1);
            b.truncate(end);
            b
        })
        .collect();
    s.with("segment-from-txnlog", &[0, 0], &files[0]);
    // The target splits at a multiple of 8: pad the first segment with the
    // zeros of its preallocated tail.
    let mut two = files[0].clone();
    two.resize(two.len().next_multiple_of(8), 0);
    let split = two.len() / 8;
    two.extend_from_slice(&files[1]);
    assert!(split < 256, "first segment too long for the split byte");
    s.with("two-segments-from-txnlog", &[4, split as u8], &two);
    // Records without a header: mode 2 writes one naming the first record's zxid.
    s.with("records-header-added", &[2, 0], &segment[32..]);
    let mut torn = files[0].clone();
    torn.truncate(torn.len() - 3);
    s.with("segment-torn-tail", &[0, 0], &torn);

    let mut s = Seeds::new(root, "snapshot");
    let d = zk_fuzz::scratch_dir();
    let mut w = SnapshotWriter::create(d.path(), Zxid(0x1_0000_0005)).unwrap();
    w.write_session(0x1000_0000_0001, 30_000).unwrap();
    w.write_session(0x1000_0000_0002, 4_000).unwrap();
    w.write_acl(1, &Acl::open_unsafe()).unwrap();
    w.write_acl(2, &digest_acl()).unwrap();
    let mut digest = TreeDigest::new();
    for (path, data, acl) in [
        ("", Some(&b""[..]), 1),
        ("/a", Some(b"data"), 1),
        ("/a/b", Some(b""), 2),
        ("/a/n", None, 2),
    ] {
        let st = StatPersisted {
            czxid: 0x1_0000_0002,
            mzxid: 0x1_0000_0003,
            ctime: 1_700_000_000_000,
            mtime: 1_700_000_000_000,
            version: 0,
            cversion: 1,
            aversion: 0,
            ephemeral_owner: 0,
            pzxid: 0x1_0000_0004,
        };
        digest.add(path, data.unwrap_or_default(), &st);
        w.write_node(path, data, acl, &st).unwrap();
    }
    let p = w.finish(digest.value()).unwrap();
    let snap = fs::read(p).unwrap();
    s.with("snapshot", &[0], &snap);
    let mut flipped = snap.clone();
    flipped[40] ^= 0x01;
    s.with("snapshot-flipped-bit-fix-crc", &[1], &flipped);
    s.with("snapshot-flipped-bit-unverified", &[4], &flipped);
    s.with("snapshot-truncated", &[0], &snap[..snap.len() - 10]);
    let d = zk_fuzz::scratch_dir();
    let p = SnapshotWriter::create(d.path(), Zxid(0))
        .unwrap()
        .finish(0)
        .unwrap();
    s.with("snapshot-empty", &[0], &fs::read(p).unwrap());
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    client_seeds(&root);
    quorum_seeds(&root);
    election_seeds(&root);
    storage_seeds(&root);
    for t in fs::read_dir(&root).unwrap() {
        let t = t.unwrap().path();
        println!(
            "{}: {} seeds",
            t.display(),
            fs::read_dir(&t).unwrap().count()
        );
    }
}
