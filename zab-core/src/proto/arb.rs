//! proptest strategies for the records of [`proto`](super), shared by its
//! round-trip tests and the request parser's.

use super::*;
use crate::records::{Acl, Stat};
use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;

pub fn string() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}
pub fn strings() -> impl Strategy<Value = Vec<String>> {
    vec(string(), 0..4)
}
pub fn bytes() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..32).prop_map(Bytes::from)
}
pub fn opt_bytes() -> impl Strategy<Value = Option<Bytes>> {
    proptest::option::of(bytes())
}
pub fn acls() -> impl Strategy<Value = Vec<Acl>> {
    vec(
        (any::<i32>(), string(), string()).prop_map(|(perms, s, i)| Acl {
            perms,
            id: Id::new(&s, &i),
        }),
        0..3,
    )
}
pub fn stat() -> impl Strategy<Value = Stat> {
    (any::<[i64; 6]>(), any::<[i32; 5]>()).prop_map(|(l, i)| Stat {
        czxid: l[0],
        mzxid: l[1],
        ctime: l[2],
        mtime: l[3],
        version: i[0],
        cversion: i[1],
        aversion: i[2],
        ephemeral_owner: l[4],
        data_length: i[3],
        num_children: i[4],
        pzxid: l[5],
    })
}
pub fn connect_request() -> impl Strategy<Value = ConnectRequest> {
    (
        any::<i32>(),
        any::<i64>(),
        any::<i32>(),
        any::<i64>(),
        bytes(),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(protocol_version, last_zxid_seen, timeout_ms, session_id, passwd, read_only)| {
                ConnectRequest {
                    protocol_version,
                    last_zxid_seen,
                    timeout_ms,
                    session_id,
                    passwd,
                    read_only,
                }
            },
        )
}
pub fn connect_response() -> impl Strategy<Value = ConnectResponse> {
    (
        any::<i32>(),
        any::<i32>(),
        any::<i64>(),
        bytes(),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(protocol_version, timeout_ms, session_id, passwd, read_only)| ConnectResponse {
                protocol_version,
                timeout_ms,
                session_id,
                passwd,
                read_only,
            },
        )
}
pub fn create_request() -> impl Strategy<Value = CreateRequest> {
    (string(), opt_bytes(), acls(), 0..7i32).prop_map(|(path, data, acl, flags)| CreateRequest {
        path,
        data,
        acl,
        flags,
    })
}
pub fn create_ttl_request() -> impl Strategy<Value = CreateTtlRequest> {
    (string(), opt_bytes(), acls(), any::<i32>(), any::<i64>()).prop_map(
        |(path, data, acl, flags, ttl)| CreateTtlRequest {
            path,
            data,
            acl,
            flags,
            ttl,
        },
    )
}
pub fn path_watch() -> impl Strategy<Value = PathWatchRequest> {
    (string(), any::<bool>()).prop_map(|(path, watch)| PathWatchRequest { path, watch })
}
/// One operation of a multi, as the parser produces it: a create's type
/// follows its flags, as Java's `MultiOperationRecord` has it.
pub fn multi_op() -> impl Strategy<Value = MultiOp> {
    prop_oneof![
        create_request().prop_map(|req| MultiOp::Create {
            op_type: if req.flags == create_mode::CONTAINER {
                op::CREATE_CONTAINER
            } else {
                op::CREATE
            },
            req,
        }),
        create_ttl_request().prop_map(MultiOp::CreateTtl),
        (string(), any::<i32>())
            .prop_map(|(path, version)| MultiOp::Delete(DeleteRequest { path, version })),
        (string(), opt_bytes(), any::<i32>()).prop_map(|(path, data, version)| {
            MultiOp::SetData(SetDataRequest {
                path,
                data,
                version,
            })
        }),
        (string(), any::<i32>())
            .prop_map(|(path, version)| MultiOp::Check(CheckVersionRequest { path, version })),
        path_watch().prop_map(MultiOp::GetChildren),
        path_watch().prop_map(MultiOp::GetData),
    ]
}
pub fn multi_request() -> impl Strategy<Value = MultiRequest> {
    vec(multi_op(), 0..5).prop_map(|ops| MultiRequest { ops })
}
pub fn op_result() -> impl Strategy<Value = OpResult> {
    prop_oneof![
        string().prop_map(|path| OpResult::Create { path }),
        (string(), stat()).prop_map(|(path, stat)| OpResult::Create2 { path, stat }),
        Just(OpResult::Delete),
        stat().prop_map(|stat| OpResult::SetData { stat }),
        Just(OpResult::Check),
        strings().prop_map(|children| OpResult::GetChildren { children }),
        (opt_bytes(), stat()).prop_map(|(data, stat)| OpResult::GetData { data, stat }),
        any::<i32>().prop_map(|err| OpResult::Error { err }),
    ]
}
pub fn multi_response() -> impl Strategy<Value = MultiResponse> {
    vec(op_result(), 0..5).prop_map(|results| MultiResponse { results })
}
