//! Jute records shared by the client protocol and the transaction log:
//! identities, ACLs, Stat, operation codes and result codes.
//!
//! ```text
//! Id            := ustring(scheme) ustring(id)
//! ACL           := int(perms) Id
//! Stat          := long(czxid) long(mzxid) long(ctime) long(mtime) int(version)
//!                  int(cversion) int(aversion) long(ephemeralOwner) int(dataLength)
//!                  int(numChildren) long(pzxid)
//! StatPersisted := long(czxid) long(mzxid) long(ctime) long(mtime) int(version)
//!                  int(cversion) int(aversion) long(ephemeralOwner) long(pzxid)
//! ```

use bytes::BufMut;

use crate::jute::{self, record, JuteError, JuteReader, Record};

record! {
    /// An identity: an authentication scheme and an id within it.
    #[derive(Hash, PartialOrd, Ord)]
    Id { scheme: String = ustring, id: String = ustring }
}

impl Id {
    pub fn new(scheme: &str, id: &str) -> Id {
        Id {
            scheme: scheme.to_owned(),
            id: id.to_owned(),
        }
    }
}

/// Permission bits of an ACL entry.
pub mod perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 2;
    pub const CREATE: i32 = 4;
    pub const DELETE: i32 = 8;
    pub const ADMIN: i32 = 16;
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

record! {
    /// One ACL entry.
    #[derive(Hash, PartialOrd, Ord)]
    Acl { perms: i32 = int, id: Id = record }
}

impl Acl {
    /// `world:anyone` with every permission: ZooKeeper's OPEN_ACL_UNSAFE.
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl {
            perms: perms::ALL,
            id: Id::new("world", "anyone"),
        }]
    }

    /// `world:anyone` with read permission: ZooKeeper's READ_ACL_UNSAFE.
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl {
            perms: perms::READ,
            id: Id::new("world", "anyone"),
        }]
    }
}

/// Minimum encoded size of an ACL (perms + two empty strings), used to bound vector counts.
pub const ACL_MIN_SIZE: usize = 12;

pub fn write_acls<B: BufMut>(out: &mut B, acls: &[Acl]) {
    jute::write_vec(out, acls, |o, a| a.write(o));
}

pub fn read_acls(r: &mut JuteReader<'_>) -> Result<Vec<Acl>, JuteError> {
    r.read_vec(ACL_MIN_SIZE, Acl::read)
}

record! {
    /// The metadata of a znode, as clients see it.
    #[derive(Copy)]
    Stat {
        czxid: i64 = long,
        mzxid: i64 = long,
        ctime: i64 = long,
        mtime: i64 = long,
        version: i32 = int,
        cversion: i32 = int,
        aversion: i32 = int,
        ephemeral_owner: i64 = long,
        data_length: i32 = int,
        num_children: i32 = int,
        pzxid: i64 = long,
    }

    /// The metadata of a znode as snapshots keep it (no data length, no child count).
    #[derive(Copy)]
    StatPersisted {
        czxid: i64 = long,
        mzxid: i64 = long,
        ctime: i64 = long,
        mtime: i64 = long,
        version: i32 = int,
        cversion: i32 = int,
        aversion: i32 = int,
        ephemeral_owner: i64 = long,
        pzxid: i64 = long,
    }
}

/// Operation codes (ZooKeeper's `ZooDefs.OpCode`), shared by requests and transactions.
pub mod op {
    pub const NOTIFICATION: i32 = 0;
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const GET_ACL: i32 = 6;
    pub const SET_ACL: i32 = 7;
    pub const GET_CHILDREN: i32 = 8;
    pub const SYNC: i32 = 9;
    pub const PING: i32 = 11;
    pub const GET_CHILDREN2: i32 = 12;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const RECONFIG: i32 = 16;
    pub const CHECK_WATCHES: i32 = 17;
    pub const REMOVE_WATCHES: i32 = 18;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const DELETE_CONTAINER: i32 = 20;
    pub const CREATE_TTL: i32 = 21;
    pub const MULTI_READ: i32 = 22;
    pub const AUTH: i32 = 100;
    pub const SET_WATCHES: i32 = 101;
    pub const SASL: i32 = 102;
    pub const GET_EPHEMERALS: i32 = 103;
    pub const GET_ALL_CHILDREN_NUMBER: i32 = 104;
    pub const SET_WATCHES2: i32 = 105;
    pub const ADD_WATCH: i32 = 106;
    pub const WHO_AM_I: i32 = 107;
    pub const CREATE_SESSION: i32 = -10;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;

    /// Every op code above, in this order (tests and fuzz targets pick from it).
    pub const ALL: [i32; 33] = [
        NOTIFICATION,
        CREATE,
        DELETE,
        EXISTS,
        GET_DATA,
        SET_DATA,
        GET_ACL,
        SET_ACL,
        GET_CHILDREN,
        SYNC,
        PING,
        GET_CHILDREN2,
        CHECK,
        MULTI,
        CREATE2,
        RECONFIG,
        CHECK_WATCHES,
        REMOVE_WATCHES,
        CREATE_CONTAINER,
        DELETE_CONTAINER,
        CREATE_TTL,
        MULTI_READ,
        AUTH,
        SET_WATCHES,
        SASL,
        GET_EPHEMERALS,
        GET_ALL_CHILDREN_NUMBER,
        SET_WATCHES2,
        ADD_WATCH,
        WHO_AM_I,
        CREATE_SESSION,
        CLOSE_SESSION,
        ERROR,
    ];

    /// ZooKeeper's name for an op code, as `cons` and the logs print it.
    pub fn name(code: i32) -> &'static str {
        match code {
            NOTIFICATION => "notification",
            CREATE => "create",
            DELETE => "delete",
            EXISTS => "exists",
            GET_DATA => "getData",
            SET_DATA => "setData",
            GET_ACL => "getACL",
            SET_ACL => "setACL",
            GET_CHILDREN => "getChildren",
            SYNC => "sync",
            PING => "ping",
            GET_CHILDREN2 => "getChildren2",
            CHECK => "check",
            MULTI => "multi",
            CREATE2 => "create2",
            RECONFIG => "reconfig",
            CHECK_WATCHES => "checkWatches",
            REMOVE_WATCHES => "removeWatches",
            CREATE_CONTAINER => "createContainer",
            DELETE_CONTAINER => "deleteContainer",
            CREATE_TTL => "createTtl",
            MULTI_READ => "multiRead",
            AUTH => "auth",
            SET_WATCHES => "setWatches",
            SASL => "sasl",
            GET_EPHEMERALS => "getEphemerals",
            GET_ALL_CHILDREN_NUMBER => "getAllChildrenNumber",
            SET_WATCHES2 => "setWatches2",
            ADD_WATCH => "addWatch",
            WHO_AM_I => "whoAmI",
            CREATE_SESSION => "createSession",
            CLOSE_SESSION => "closeSession",
            ERROR => "error",
            _ => "unknown",
        }
    }
}

/// Result codes (ZooKeeper's `KeeperException.Code`). They are answers, carried
/// in reply headers and multi results, never Rust errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorCode {
    Ok = 0,
    SystemError = -1,
    RuntimeInconsistency = -2,
    DataInconsistency = -3,
    ConnectionLoss = -4,
    MarshallingError = -5,
    Unimplemented = -6,
    OperationTimeout = -7,
    BadArguments = -8,
    UnknownSession = -12,
    NewConfigNoQuorum = -13,
    ReconfigInProgress = -14,
    ApiError = -100,
    NoNode = -101,
    NoAuth = -102,
    BadVersion = -103,
    NoChildrenForEphemerals = -108,
    NodeExists = -110,
    NotEmpty = -111,
    SessionExpired = -112,
    InvalidCallback = -113,
    InvalidAcl = -114,
    AuthFailed = -115,
    SessionMoved = -118,
    NotReadOnly = -119,
    EphemeralOnLocalSession = -120,
    NoWatcher = -121,
    ReconfigDisabled = -123,
    SessionClosedRequireSaslAuth = -124,
    QuotaExceeded = -125,
    Throttled = -127,
}

impl ErrorCode {
    pub fn code(self) -> i32 {
        self as i32
    }

    pub fn from_code(c: i32) -> Option<ErrorCode> {
        use ErrorCode::*;
        Some(match c {
            0 => Ok,
            -1 => SystemError,
            -2 => RuntimeInconsistency,
            -3 => DataInconsistency,
            -4 => ConnectionLoss,
            -5 => MarshallingError,
            -6 => Unimplemented,
            -7 => OperationTimeout,
            -8 => BadArguments,
            -12 => UnknownSession,
            -13 => NewConfigNoQuorum,
            -14 => ReconfigInProgress,
            -100 => ApiError,
            -101 => NoNode,
            -102 => NoAuth,
            -103 => BadVersion,
            -108 => NoChildrenForEphemerals,
            -110 => NodeExists,
            -111 => NotEmpty,
            -112 => SessionExpired,
            -113 => InvalidCallback,
            -114 => InvalidAcl,
            -115 => AuthFailed,
            -118 => SessionMoved,
            -119 => NotReadOnly,
            -120 => EphemeralOnLocalSession,
            -121 => NoWatcher,
            -123 => ReconfigDisabled,
            -124 => SessionClosedRequireSaslAuth,
            -125 => QuotaExceeded,
            -127 => Throttled,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_op_code_is_listed_once_and_named() {
        let mut seen = std::collections::HashSet::new();
        for code in op::ALL {
            assert!(seen.insert(code), "{code} listed twice");
            assert_ne!(op::name(code), "unknown", "{code}");
        }
    }

    #[test]
    fn stat_is_68_bytes() {
        assert_eq!(Stat::default().to_bytes().len(), 68);
    }

    proptest! {
        #[test]
        fn stat_round_trips(a: i64, b: i64, c: i32, d: i32, e: i64) {
            let s = Stat { czxid: a, mzxid: b, ctime: a ^ b, mtime: e, version: c, cversion: d,
                aversion: c ^ d, ephemeral_owner: e, data_length: c, num_children: d, pzxid: b };
            prop_assert_eq!(Stat::from_bytes(&s.to_bytes()).unwrap(), s);
        }

        #[test]
        fn acl_round_trips(p: i32, s in "[a-z]{0,8}", i in ".{0,20}") {
            let a = vec![Acl { perms: p, id: Id::new(&s, &i) }];
            let mut out = Vec::new();
            write_acls(&mut out, &a);
            prop_assert_eq!(read_acls(&mut JuteReader::new(&out)).unwrap(), a);
        }
    }
}
