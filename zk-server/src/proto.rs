//! The client protocol's jute records: the handshake, request and reply
//! headers, and every request and response body. Defined once here and used by
//! the server, `zk-cli`, the benches and the tests.
//!
//! ```text
//! frame            := int(len) byte{len}                     ; len <= jute.maxbuffer
//! ConnectRequest   := int(protocolVersion) long(lastZxidSeen) int(timeOut)
//!                     long(sessionId) buffer(passwd) [boolean(readOnly)]
//! ConnectResponse  := int(protocolVersion) int(timeOut) long(sessionId)
//!                     buffer(passwd) [boolean(readOnly)]     ; readOnly only if asked
//! request          := RequestHeader body                     ; RequestHeader := int(xid) int(type)
//! reply            := ReplyHeader [body]                     ; ReplyHeader := int(xid) long(zxid) int(err)
//! multi request    := (MultiHeader op-body)* MultiHeader(-1, true, -1)
//! multi response   := (MultiHeader result-body)* MultiHeader(-1, true, -1)
//! MultiHeader      := int(type) boolean(done) int(err)
//! watch event      := ReplyHeader(xid=-1, zxid=-1, err=0) WatcherEvent
//! WatcherEvent     := int(type) int(state) ustring(path)
//! ```

use bytes::{BufMut, Bytes};
use zab_core::jute::{self, record, JuteError, JuteReader, Record};
use zab_core::records::{Acl, Stat, ACL_MIN_SIZE};

pub use zab_core::records::{op, perms, ErrorCode, Id};

/// Special xids of the client protocol.
pub mod xid {
    pub const NOTIFICATION: i32 = -1;
    pub const PING: i32 = -2;
    pub const AUTH: i32 = -4;
    pub const SET_WATCHES: i32 = -8;
}

/// `CreateMode` flags of create requests.
pub mod create_mode {
    pub const PERSISTENT: i32 = 0;
    pub const EPHEMERAL: i32 = 1;
    pub const PERSISTENT_SEQUENTIAL: i32 = 2;
    pub const EPHEMERAL_SEQUENTIAL: i32 = 3;
    pub const CONTAINER: i32 = 4;
    pub const PERSISTENT_WITH_TTL: i32 = 5;
    pub const PERSISTENT_SEQUENTIAL_WITH_TTL: i32 = 6;
}

/// Watched event types (`Watcher.Event.EventType`).
pub mod event_type {
    pub const NONE: i32 = -1;
    pub const NODE_CREATED: i32 = 1;
    pub const NODE_DELETED: i32 = 2;
    pub const NODE_DATA_CHANGED: i32 = 3;
    pub const NODE_CHILDREN_CHANGED: i32 = 4;
    pub const DATA_WATCH_REMOVED: i32 = 5;
    pub const CHILD_WATCH_REMOVED: i32 = 6;
    pub const PERSISTENT_WATCH_REMOVED: i32 = 7;
}

/// Client states carried in watch events (`Watcher.Event.KeeperState`).
pub mod keeper_state {
    pub const DISCONNECTED: i32 = 0;
    pub const SYNC_CONNECTED: i32 = 3;
    pub const AUTH_FAILED: i32 = 4;
    pub const CONNECTED_READ_ONLY: i32 = 5;
    pub const SASL_AUTHENTICATED: i32 = 6;
    pub const EXPIRED: i32 = -112;
    pub const CLOSED: i32 = 7;
}

/// Watcher types of checkWatches / removeWatches (`Watcher.WatcherType`).
pub mod watcher_type {
    pub const CHILDREN: i32 = 1;
    pub const DATA: i32 = 2;
    pub const ANY: i32 = 3;
    /// ZooKeeper 3.9.
    pub const PERSISTENT: i32 = 4;
    /// ZooKeeper 3.9.
    pub const PERSISTENT_RECURSIVE: i32 = 5;
}

/// addWatch modes (`AddWatchMode`).
pub mod add_watch_mode {
    pub const PERSISTENT: i32 = 0;
    pub const PERSISTENT_RECURSIVE: i32 = 1;
}

record! {
    /// The handshake a client opens with. `read_only` is `None` for the 44-byte
    /// legacy form (go-zookeeper, node clients), which must get a reply without it.
    ConnectRequest {
        protocol_version: i32 = int,
        last_zxid_seen: i64 = long,
        timeout_ms: i32 = int,
        session_id: i64 = long,
        passwd: Bytes = buffer,
        read_only: Option<bool> = trailing_boolean,
    }

    /// The server's answer to the handshake; `read_only` mirrors the request's form.
    ConnectResponse {
        protocol_version: i32 = int,
        timeout_ms: i32 = int,
        session_id: i64 = long,
        passwd: Bytes = buffer,
        read_only: Option<bool> = trailing_boolean,
    }
}

record! {
    RequestHeader { xid: i32 = int, op_type: i32 = int }
}
record! {
    ReplyHeader { xid: i32 = int, zxid: i64 = long, err: i32 = int }
}
record! {
    MultiHeader { op_type: i32 = int, done: bool = boolean, err: i32 = int }
}
record! {
    WatcherEvent { event_type: i32 = int, state: i32 = int, path: String = ustring }
}

record! {
    CreateRequest {
        path: String = ustring,
        data: Option<Bytes> = opt_buffer,
        acl: Vec<Acl> = vector(ACL_MIN_SIZE),
        flags: i32 = int,
    }
}
record! {
    CreateTtlRequest {
        path: String = ustring,
        data: Option<Bytes> = opt_buffer,
        acl: Vec<Acl> = vector(ACL_MIN_SIZE),
        flags: i32 = int,
        ttl: i64 = long,
    }
}
record! {
    DeleteRequest { path: String = ustring, version: i32 = int }
}
record! {
    /// exists, getData, getChildren and getChildren2 share this layout.
    PathWatchRequest { path: String = ustring, watch: bool = boolean }
}
record! {
    /// getACL, sync, getAllChildrenNumber, getEphemerals and the body of deleteContainer's record share this layout.
    PathRequest { path: String = ustring }
}
record! {
    SetDataRequest { path: String = ustring, data: Option<Bytes> = opt_buffer, version: i32 = int }
}
record! {
    SetAclRequest {
        path: String = ustring,
        acl: Vec<Acl> = vector(ACL_MIN_SIZE),
        version: i32 = int,
    }
}
record! {
    CheckVersionRequest { path: String = ustring, version: i32 = int }
}
record! {
    ReconfigRequest {
        joining_servers: Option<String> = opt_ustring,
        leaving_servers: Option<String> = opt_ustring,
        new_members: Option<String> = opt_ustring,
        cur_config_id: i64 = long,
    }
}
record! {
    /// checkWatches and removeWatches.
    WatchesRequest { path: String = ustring, watcher_type: i32 = int }
}
record! {
    AuthPacket { auth_type: i32 = int, scheme: String = ustring, auth: Bytes = buffer }
}
record! {
    SetWatches {
        relative_zxid: i64 = long,
        data_watches: Vec<String> = ustrings,
        exist_watches: Vec<String> = ustrings,
        child_watches: Vec<String> = ustrings,
    }
}
record! {
    SetWatches2 {
        relative_zxid: i64 = long,
        data_watches: Vec<String> = ustrings,
        exist_watches: Vec<String> = ustrings,
        child_watches: Vec<String> = ustrings,
        persistent_watches: Vec<String> = ustrings,
        persistent_recursive_watches: Vec<String> = ustrings,
    }
}
record! {
    AddWatchRequest { path: String = ustring, mode: i32 = int }
}
record! {
    SaslRequest { token: Bytes = buffer }
}

record! {
    CreateResponse { path: String = ustring }
}
record! {
    Create2Response { path: String = ustring, stat: Stat = record }
}
record! {
    /// exists, setData and setACL answer with a Stat alone.
    StatResponse { stat: Stat = record }
}
record! {
    GetDataResponse { data: Option<Bytes> = opt_buffer, stat: Stat = record }
}
record! {
    GetAclResponse { acl: Vec<Acl> = vector(ACL_MIN_SIZE), stat: Stat = record }
}
record! {
    /// getChildren, and getEphemerals (whose field is named `ephemerals`).
    ChildrenResponse { children: Vec<String> = ustrings }
}
record! {
    GetChildren2Response { children: Vec<String> = ustrings, stat: Stat = record }
}
record! {
    /// sync's answer.
    PathResponse { path: String = ustring }
}
record! {
    /// An int alone: ErrorResponse, getAllChildrenNumber's answer.
    IntResponse { value: i32 = int }
}
record! {
    ClientInfo { auth_scheme: String = ustring, user: String = ustring }
}

record! {
    /// whoAmI's answer.
    WhoAmIResponse { client_info: Vec<ClientInfo> = vector(8) }
}

/// One operation of a multi or multiRead request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiOp {
    Create { op_type: i32, req: CreateRequest },
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    SetData(SetDataRequest),
    Check(CheckVersionRequest),
    GetChildren(PathWatchRequest),
    GetData(PathWatchRequest),
}

impl MultiOp {
    pub fn op_type(&self) -> i32 {
        match self {
            MultiOp::Create { op_type, .. } => *op_type,
            MultiOp::CreateTtl(_) => op::CREATE_TTL,
            MultiOp::Delete(_) => op::DELETE,
            MultiOp::SetData(_) => op::SET_DATA,
            MultiOp::Check(_) => op::CHECK,
            MultiOp::GetChildren(_) => op::GET_CHILDREN,
            MultiOp::GetData(_) => op::GET_DATA,
        }
    }

    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create { req, .. } => &req.path,
            MultiOp::CreateTtl(r) => &r.path,
            MultiOp::Delete(r) => &r.path,
            MultiOp::SetData(r) => &r.path,
            MultiOp::Check(r) => &r.path,
            MultiOp::GetChildren(r) | MultiOp::GetData(r) => &r.path,
        }
    }
}

/// A multi (or multiRead) request: its operations in order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MultiRequest {
    pub ops: Vec<MultiOp>,
}

impl Record for MultiRequest {
    fn write<B: BufMut>(&self, out: &mut B) {
        for o in &self.ops {
            MultiHeader {
                op_type: o.op_type(),
                done: false,
                err: -1,
            }
            .write(out);
            match o {
                MultiOp::Create { req, .. } => req.write(out),
                MultiOp::CreateTtl(r) => r.write(out),
                MultiOp::Delete(r) => r.write(out),
                MultiOp::SetData(r) => r.write(out),
                MultiOp::Check(r) => r.write(out),
                MultiOp::GetChildren(r) | MultiOp::GetData(r) => r.write(out),
            }
        }
        MultiHeader {
            op_type: -1,
            done: true,
            err: -1,
        }
        .write(out);
    }
    fn read(r: &mut JuteReader<'_>) -> Result<Self, JuteError> {
        let mut ops = Vec::new();
        loop {
            let h = MultiHeader::read(r)?;
            if h.done {
                break;
            }
            let o = match h.op_type {
                op::CREATE | op::CREATE2 | op::CREATE_CONTAINER => {
                    let req = CreateRequest::read(r)?;
                    // Java's MultiOperationRecord rebuilds each create from its
                    // flags (`Op.create`): a create2 inside a multi is a plain
                    // create, answered without a Stat.
                    let op_type = if req.flags == create_mode::CONTAINER {
                        op::CREATE_CONTAINER
                    } else {
                        op::CREATE
                    };
                    MultiOp::Create { op_type, req }
                }
                op::CREATE_TTL => MultiOp::CreateTtl(CreateTtlRequest::read(r)?),
                op::DELETE => MultiOp::Delete(DeleteRequest::read(r)?),
                op::SET_DATA => MultiOp::SetData(SetDataRequest::read(r)?),
                op::CHECK => MultiOp::Check(CheckVersionRequest::read(r)?),
                op::GET_CHILDREN => MultiOp::GetChildren(PathWatchRequest::read(r)?),
                op::GET_DATA => MultiOp::GetData(PathWatchRequest::read(r)?),
                other => {
                    return Err(JuteError::Unknown {
                        what: "multi operation",
                        value: other,
                    })
                }
            };
            ops.push(o);
        }
        Ok(MultiRequest { ops })
    }
}

/// The result of one operation of a multi or multiRead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpResult {
    Create {
        path: String,
    },
    /// The result of a create2, createContainer or createTTL: ZooKeeper's
    /// `CreateResult(path, stat)`, whose header type is always create2.
    Create2 {
        path: String,
        stat: Stat,
    },
    Delete,
    SetData {
        stat: Stat,
    },
    Check,
    GetChildren {
        children: Vec<String>,
    },
    GetData {
        /// `None`: the node's data is null.
        data: Option<Bytes>,
        stat: Stat,
    },
    Error {
        err: i32,
    },
}

/// A multi response: the per-operation results.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MultiResponse {
    pub results: Vec<OpResult>,
}

impl Record for MultiResponse {
    fn write<B: BufMut>(&self, out: &mut B) {
        for res in &self.results {
            let (op_type, err) = match res {
                OpResult::Create { .. } => (op::CREATE, 0),
                OpResult::Create2 { .. } => (op::CREATE2, 0),
                OpResult::Delete => (op::DELETE, 0),
                OpResult::SetData { .. } => (op::SET_DATA, 0),
                OpResult::Check => (op::CHECK, 0),
                OpResult::GetChildren { .. } => (op::GET_CHILDREN, 0),
                OpResult::GetData { .. } => (op::GET_DATA, 0),
                OpResult::Error { err } => (op::ERROR, *err),
            };
            MultiHeader {
                op_type,
                done: false,
                err,
            }
            .write(out);
            match res {
                OpResult::Create { path } => jute::write_string(out, path),
                OpResult::Create2 { path, stat, .. } => {
                    jute::write_string(out, path);
                    stat.write(out);
                }
                OpResult::SetData { stat } => stat.write(out),
                OpResult::GetChildren { children } => jute::write_string_vec(out, children),
                OpResult::GetData { data, stat } => {
                    jute::write_opt_buffer(out, data.as_deref());
                    stat.write(out);
                }
                OpResult::Error { err } => out.put_i32(*err),
                OpResult::Delete | OpResult::Check => {}
            }
        }
        MultiHeader {
            op_type: -1,
            done: true,
            err: -1,
        }
        .write(out);
    }
    fn read(r: &mut JuteReader<'_>) -> Result<Self, JuteError> {
        let mut results = Vec::new();
        loop {
            let h = MultiHeader::read(r)?;
            if h.done {
                break;
            }
            let res = match h.op_type {
                op::CREATE => OpResult::Create {
                    path: r.read_string()?,
                },
                // Java's MultiResponse knows no other create type.
                op::CREATE2 => OpResult::Create2 {
                    path: r.read_string()?,
                    stat: Stat::read(r)?,
                },
                op::DELETE | op::DELETE_CONTAINER => OpResult::Delete,
                op::SET_DATA => OpResult::SetData {
                    stat: Stat::read(r)?,
                },
                op::CHECK => OpResult::Check,
                op::GET_CHILDREN => OpResult::GetChildren {
                    children: r.read_string_vec()?,
                },
                op::GET_DATA => OpResult::GetData {
                    data: r.read_opt_buffer()?,
                    stat: Stat::read(r)?,
                },
                op::ERROR => OpResult::Error { err: r.read_i32()? },
                other => {
                    return Err(JuteError::Unknown {
                        what: "multi result",
                        value: other,
                    })
                }
            };
            results.push(res);
        }
        Ok(MultiResponse { results })
    }
}

/// Encode a reply: header, then the body if there is one.
pub fn encode_reply<R: Record>(hdr: &ReplyHeader, body: Option<&R>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    hdr.write(&mut out);
    if let Some(b) = body {
        b.write(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn legacy_connect_request_is_44_bytes_and_has_no_read_only() {
        let req = ConnectRequest {
            passwd: Bytes::from(vec![0u8; 16]),
            timeout_ms: 30000,
            ..Default::default()
        };
        let b = req.to_bytes();
        assert_eq!(b.len(), 44);
        assert_eq!(ConnectRequest::from_bytes(&b).unwrap().read_only, None);
        let req45 = ConnectRequest {
            read_only: Some(false),
            ..req
        };
        assert_eq!(req45.to_bytes().len(), 45);
        assert_eq!(
            ConnectRequest::from_bytes(&req45.to_bytes())
                .unwrap()
                .read_only,
            Some(false)
        );
    }

    #[test]
    fn multi_request_round_trips() {
        let m = MultiRequest {
            ops: vec![
                MultiOp::Check(CheckVersionRequest {
                    path: "/a".into(),
                    version: 2,
                }),
                MultiOp::Create {
                    op_type: op::CREATE,
                    req: CreateRequest {
                        path: "/b".into(),
                        data: Some(Bytes::from_static(b"x")),
                        acl: Acl::open_unsafe(),
                        flags: 0,
                    },
                },
                MultiOp::Delete(DeleteRequest {
                    path: "/c".into(),
                    version: -1,
                }),
            ],
        };
        assert_eq!(MultiRequest::from_bytes(&m.to_bytes()).unwrap(), m);
    }

    #[test]
    fn multi_creates_take_their_type_from_the_flags_as_in_java() {
        let create = |op_type, flags| MultiOp::Create {
            op_type,
            req: CreateRequest {
                path: "/c".into(),
                data: None,
                acl: Acl::open_unsafe(),
                flags,
            },
        };
        let sent = MultiRequest {
            ops: vec![
                create(op::CREATE2, create_mode::PERSISTENT),
                create(op::CREATE, create_mode::CONTAINER),
                create(op::CREATE_CONTAINER, create_mode::EPHEMERAL),
            ],
        };
        let got: Vec<i32> = MultiRequest::from_bytes(&sent.to_bytes())
            .unwrap()
            .ops
            .iter()
            .map(MultiOp::op_type)
            .collect();
        assert_eq!(got, vec![op::CREATE, op::CREATE_CONTAINER, op::CREATE]);
    }

    #[test]
    fn multi_response_round_trips() {
        let m = MultiResponse {
            results: vec![
                OpResult::Error { err: 0 },
                OpResult::Error { err: -101 },
                OpResult::Create2 {
                    path: "/x".into(),
                    stat: Stat::default(),
                },
                OpResult::Delete,
                OpResult::Check,
                OpResult::GetData {
                    data: None,
                    stat: Stat::default(),
                },
                OpResult::GetData {
                    data: Some(Bytes::new()),
                    stat: Stat::default(),
                },
            ],
        };
        assert_eq!(MultiResponse::from_bytes(&m.to_bytes()).unwrap(), m);
    }

    /// decode(encode(x)) == x for one record.
    fn round_trips<R: Record + PartialEq + std::fmt::Debug>(x: R) -> Result<(), TestCaseError> {
        prop_assert_eq!(R::from_bytes(&x.to_bytes()), Ok(x));
        Ok(())
    }

    /// Every decoder of this module, on the same bytes.
    fn decode_with_every_record(b: &[u8]) {
        macro_rules! all {
            ($($t:ty),*) => { $( let _ = <$t>::from_bytes(b); )* };
        }
        all!(
            ConnectRequest,
            ConnectResponse,
            RequestHeader,
            ReplyHeader,
            MultiHeader,
            WatcherEvent,
            CreateRequest,
            CreateTtlRequest,
            DeleteRequest,
            PathWatchRequest,
            PathRequest,
            SetDataRequest,
            SetAclRequest,
            CheckVersionRequest,
            ReconfigRequest,
            WatchesRequest,
            AuthPacket,
            SetWatches,
            SetWatches2,
            AddWatchRequest,
            SaslRequest,
            CreateResponse,
            Create2Response,
            StatResponse,
            GetDataResponse,
            GetAclResponse,
            ChildrenResponse,
            GetChildren2Response,
            PathResponse,
            IntResponse,
            ClientInfo,
            WhoAmIResponse,
            MultiRequest,
            MultiResponse
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_any_decoder(b: Vec<u8>) {
            decode_with_every_record(&b);
        }

        /// Bytes that start like a real record reach deeper than random ones.
        #[test]
        fn mutated_records_never_panic_any_decoder(
            m in arb::multi_request(),
            flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..4),
            cut in any::<proptest::sample::Index>(),
        ) {
            let mut b = m.to_bytes();
            for (i, v) in flips {
                let at = i.index(b.len());
                b[at] = v;
            }
            b.truncate(cut.index(b.len() + 1));
            decode_with_every_record(&b);
        }

        #[test]
        fn handshake_records_round_trip(c in arb::connect_request(), r in arb::connect_response()) {
            round_trips(c)?;
            round_trips(r)?;
        }

        #[test]
        fn headers_and_events_round_trip(
            xid: i32, op_type: i32, zxid: i64, err: i32, done: bool, path in arb::string(),
        ) {
            round_trips(RequestHeader { xid, op_type })?;
            round_trips(ReplyHeader { xid, zxid, err })?;
            round_trips(MultiHeader { op_type, done, err })?;
            round_trips(WatcherEvent { event_type: op_type, state: err, path })?;
        }

        #[test]
        fn request_records_round_trip(
            create in arb::create_request(),
            ttl in arb::create_ttl_request(),
            path in arb::string(),
            version: i32,
            watch: bool,
            data in arb::opt_bytes(),
            acl in arb::acls(),
            reconfig in proptest::collection::vec(proptest::option::of(arb::string()), 3),
            config_id: i64,
            auth in (any::<i32>(), arb::string(), arb::bytes()),
            watches in proptest::collection::vec(arb::strings(), 5),
        ) {
            round_trips(create)?;
            round_trips(ttl)?;
            round_trips(DeleteRequest { path: path.clone(), version })?;
            round_trips(PathWatchRequest { path: path.clone(), watch })?;
            round_trips(PathRequest { path: path.clone() })?;
            round_trips(SetDataRequest { path: path.clone(), data, version })?;
            round_trips(SetAclRequest { path: path.clone(), acl, version })?;
            round_trips(CheckVersionRequest { path: path.clone(), version })?;
            round_trips(ReconfigRequest {
                joining_servers: reconfig[0].clone(),
                leaving_servers: reconfig[1].clone(),
                new_members: reconfig[2].clone(),
                cur_config_id: config_id,
            })?;
            round_trips(WatchesRequest { path: path.clone(), watcher_type: version })?;
            round_trips(AuthPacket { auth_type: auth.0, scheme: auth.1, auth: auth.2.clone() })?;
            round_trips(SetWatches {
                relative_zxid: config_id,
                data_watches: watches[0].clone(),
                exist_watches: watches[1].clone(),
                child_watches: watches[2].clone(),
            })?;
            round_trips(SetWatches2 {
                relative_zxid: config_id,
                data_watches: watches[0].clone(),
                exist_watches: watches[1].clone(),
                child_watches: watches[2].clone(),
                persistent_watches: watches[3].clone(),
                persistent_recursive_watches: watches[4].clone(),
            })?;
            round_trips(AddWatchRequest { path, mode: version })?;
            round_trips(SaslRequest { token: auth.2 })?;
        }

        #[test]
        fn response_records_round_trip(
            path in arb::string(),
            stat in arb::stat(),
            data in arb::opt_bytes(),
            acl in arb::acls(),
            children in arb::strings(),
            value: i32,
            infos in proptest::collection::vec((arb::string(), arb::string()), 0..3),
        ) {
            round_trips(CreateResponse { path: path.clone() })?;
            round_trips(Create2Response { path: path.clone(), stat })?;
            round_trips(StatResponse { stat })?;
            round_trips(GetDataResponse { data, stat })?;
            round_trips(GetAclResponse { acl, stat })?;
            round_trips(ChildrenResponse { children: children.clone() })?;
            round_trips(GetChildren2Response { children, stat })?;
            round_trips(PathResponse { path })?;
            round_trips(IntResponse { value })?;
            round_trips(WhoAmIResponse {
                client_info: infos
                    .into_iter()
                    .map(|(auth_scheme, user)| ClientInfo { auth_scheme, user })
                    .collect(),
            })?;
        }

        #[test]
        fn multi_records_round_trip(m in arb::multi_request(), r in arb::multi_response()) {
            round_trips(m)?;
            round_trips(r)?;
        }

        #[test]
        fn create_request_round_trips(path in "/[a-z]{1,10}", data: Vec<u8>, flags in 0..7i32) {
            let c = CreateRequest { path, data: Some(Bytes::from(data)), acl: Acl::open_unsafe(), flags };
            prop_assert_eq!(CreateRequest::from_bytes(&c.to_bytes()).unwrap(), c);
        }
    }
}

/// Strategies for the records of this module, shared with the request parser's tests.
#[cfg(test)]
pub(crate) mod arb {
    use super::*;
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
        (string(), opt_bytes(), acls(), 0..7i32).prop_map(|(path, data, acl, flags)| {
            CreateRequest {
                path,
                data,
                acl,
                flags,
            }
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
}
