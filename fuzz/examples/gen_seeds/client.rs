//! Seeds of the client-port targets: request and reply bodies, frames.

use std::path::Path;

use bytes::Bytes;
use zab_core::jute::Record;
use zab_core::proto::*;
use zab_core::records::Acl;

use crate::storage::txns;
use crate::*;

/// A request body for every op code the server parses, from the real records.
pub fn request_bodies() -> Vec<(i32, Vec<u8>)> {
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

/// A request body for each of ClickHouse Keeper's extension ops (seeded
/// after the others, so that the older seeds keep their numbers).
pub fn keeper_request_bodies() -> Vec<(i32, Vec<u8>)> {
    let create = CreateRequest {
        path: "/k".into(),
        data: Some(Bytes::from_static(b"data")),
        acl: Acl::open_unsafe(),
        flags: create_mode::PERSISTENT,
    };
    vec![
        (
            keeper_op::FILTERED_LIST,
            FilteredListRequest {
                path: "/f".into(),
                watch: true,
                list_type: list_type::EPHEMERAL_ONLY,
            }
            .to_bytes(),
        ),
        (
            keeper_op::CHECK_NOT_EXISTS,
            CheckVersionRequest {
                path: "/c".into(),
                version: -1,
            }
            .to_bytes(),
        ),
        (keeper_op::CREATE_IF_NOT_EXISTS, create.to_bytes()),
        (
            keeper_op::REMOVE_RECURSIVE,
            RemoveRecursiveRequest {
                path: "/r".into(),
                limit: u32::MAX,
            }
            .to_bytes(),
        ),
        (
            keeper_op::CHECK_STAT,
            CheckStatRequest {
                path: "/c".into(),
                version: 2,
                stat: zab_core::records::Stat::default(),
            }
            .to_bytes(),
        ),
        (
            keeper_op::TRY_REMOVE,
            DeleteRequest {
                path: "/t".into(),
                version: 1,
            }
            .to_bytes(),
        ),
        (
            keeper_op::FILTERED_LIST_WITH_STATS_AND_DATA,
            FilteredListWithStatsRequest {
                path: "/f".into(),
                watch: false,
                list_type: list_type::ALL,
                with_stat: true,
                with_data: true,
            }
            .to_bytes(),
        ),
        (
            keeper_op::LIST_RECURSIVE,
            ListRecursiveRequest {
                path: "/".into(),
                limit: 100,
            }
            .to_bytes(),
        ),
    ]
}

/// An op code's name for a seed file: ZooKeeper's, or ClickHouse Keeper's.
fn op_name(code: i32) -> &'static str {
    keeper_op::name(code).unwrap_or_else(|| op::name(code))
}

/// A reply body for the op codes the client target decodes replies for.
pub fn reply_bodies() -> Vec<(i32, Vec<u8>)> {
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

pub fn client_seeds(root: &Path) {
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
    for (op_type, body) in keeper_request_bodies() {
        let mut req = RequestHeader { xid: 1, op_type }.to_bytes();
        req.extend_from_slice(&body);
        let mut one = frame(&legacy.to_bytes());
        one.extend_from_slice(&frame(&req));
        s.with(op_name(op_type), &[0], &one);
    }

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
    for (op_type, body) in keeper_request_bodies() {
        s.with(
            &format!("request-{}", op_name(op_type)),
            &[index(op_type)],
            &body,
        );
    }
}
