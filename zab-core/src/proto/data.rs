//! The operations on znodes: their request and response records, by
//! operation. Several operations share a layout (`PathWatchRequest`,
//! `PathRequest`, `StatResponse`); the op code in the request header tells
//! them apart ([`Op::parse`](super::Op::parse)).
//!
//! ```text
//! ; operation (op code)                 request                 -> response body
//! create (1)                            CreateRequest           -> CreateResponse
//! create2 (15), createContainer (19)    CreateRequest           -> Create2Response
//! createTTL (21)                        CreateTtlRequest        -> Create2Response
//! delete (2)                            DeleteRequest           -> none
//! deleteContainer (20)                  PathRequest, or (3.8) the bare path bytes -> none
//! exists (3)                            PathWatchRequest        -> StatResponse
//! getData (4)                           PathWatchRequest        -> GetDataResponse
//! setData (5)                           SetDataRequest          -> StatResponse
//! getACL (6)                            PathRequest             -> GetAclResponse
//! setACL (7)                            SetAclRequest           -> StatResponse
//! getChildren (8)                       PathWatchRequest        -> ChildrenResponse
//! getChildren2 (12)                     PathWatchRequest        -> GetChildren2Response
//! check (13)                            CheckVersionRequest     -> none
//! sync (9)                              PathRequest             -> PathResponse
//! getAllChildrenNumber (104)            PathRequest             -> IntResponse
//! getEphemerals (103)                   PathRequest             -> ChildrenResponse
//! reconfig (16)                         ReconfigRequest         -> GetDataResponse (the new config)
//!
//! CreateRequest        := ustring(path) buffer(data) vector<ACL>(acl) int(flags)  ; data may be null
//! CreateTtlRequest     := ustring(path) buffer(data) vector<ACL>(acl) int(flags) long(ttl)
//! DeleteRequest        := ustring(path) int(version)
//! PathWatchRequest     := ustring(path) boolean(watch)
//! PathRequest          := ustring(path)
//! SetDataRequest       := ustring(path) buffer(data) int(version)                 ; data may be null
//! SetAclRequest        := ustring(path) vector<ACL>(acl) int(version)
//! CheckVersionRequest  := ustring(path) int(version)
//! ReconfigRequest      := ustring(joiningServers) ustring(leavingServers)
//!                         ustring(newMembers) long(curConfigId)                   ; strings may be null
//! CreateResponse       := ustring(path)
//! Create2Response      := ustring(path) Stat
//! StatResponse         := Stat
//! GetDataResponse      := buffer(data) Stat                                      ; data may be null
//! GetAclResponse       := vector<ACL>(acl) Stat
//! ChildrenResponse     := vector<ustring>(children)
//! GetChildren2Response := vector<ustring>(children) Stat
//! PathResponse         := ustring(path)
//! IntResponse          := int(value)
//! ```
//!
//! `ACL` and `Stat` are in [`crate::records`]; `flags` is a [`create_mode`].

use bytes::Bytes;

use crate::jute::{record, JuteError, JuteReader, Record};
use crate::records::{Acl, Stat, ACL_MIN_SIZE};

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

record! {
    CreateRequest {
        path: String = ustring,
        data: Option<Bytes> = opt_buffer,
        acl: Vec<Acl> = vector(ACL_MIN_SIZE),
        flags: i32 = int,
    }

    CreateTtlRequest {
        path: String = ustring,
        data: Option<Bytes> = opt_buffer,
        acl: Vec<Acl> = vector(ACL_MIN_SIZE),
        flags: i32 = int,
        ttl: i64 = long,
    }

    DeleteRequest { path: String = ustring, version: i32 = int }

    /// exists, getData, getChildren and getChildren2 share this layout.
    PathWatchRequest { path: String = ustring, watch: bool = boolean }

    /// getACL, sync, getAllChildrenNumber, getEphemerals and the body of
    /// deleteContainer's record share this layout.
    PathRequest { path: String = ustring }

    SetDataRequest { path: String = ustring, data: Option<Bytes> = opt_buffer, version: i32 = int }

    SetAclRequest {
        path: String = ustring,
        acl: Vec<Acl> = vector(ACL_MIN_SIZE),
        version: i32 = int,
    }

    CheckVersionRequest { path: String = ustring, version: i32 = int }

    ReconfigRequest {
        joining_servers: Option<String> = opt_ustring,
        leaving_servers: Option<String> = opt_ustring,
        new_members: Option<String> = opt_ustring,
        cur_config_id: i64 = long,
    }

    CreateResponse { path: String = ustring }

    Create2Response { path: String = ustring, stat: Stat = record }

    /// exists, setData and setACL answer with a Stat alone.
    StatResponse { stat: Stat = record }

    GetDataResponse { data: Option<Bytes> = opt_buffer, stat: Stat = record }

    GetAclResponse { acl: Vec<Acl> = vector(ACL_MIN_SIZE), stat: Stat = record }

    /// getChildren, and getEphemerals (whose field is named `ephemerals`).
    ChildrenResponse { children: Vec<String> = ustrings }

    GetChildren2Response { children: Vec<String> = ustrings, stat: Stat = record }

    /// sync's answer.
    PathResponse { path: String = ustring }

    /// An int alone: ErrorResponse, getAllChildrenNumber's answer.
    IntResponse { value: i32 = int }
}

/// The path of a deleteContainer body. ZooKeeper 3.9 sends a
/// DeleteContainerRequest (a ustring); 3.8's own container manager passed the
/// bare path bytes, which start with '/' where a ustring starts with its length.
pub fn read_delete_container(body: &[u8]) -> Result<String, JuteError> {
    if body.first() == Some(&b'/') {
        String::from_utf8(body.to_vec()).map_err(|_| JuteError::InvalidUtf8 { offset: 0 })
    } else {
        Ok(PathRequest::read(&mut JuteReader::new(body))?.path)
    }
}
