//! A client that speaks ClickHouse Keeper's extension operations as
//! ClickHouse's own client (`ZooKeeperCommon.cpp`) writes them, byte by byte,
//! over [`crate::raw`]: the 44-byte handshake ClickHouse sends, the
//! discovery reads of `/keeper/feature_flags` and `/keeper/api_version`, and
//! op codes 500-507 alone and inside multi. Written independently of
//! `zab_core::proto` so that the tests check the server's bytes against
//! ClickHouse's layouts, not against our own encoder.

use std::io;
use std::net::SocketAddr;

use crate::raw::{
    self, put_buf, put_i32, put_i64, put_open_acl, put_str, RawClient, Reader, Reply,
};

pub const FILTERED_LIST: i32 = 500;
pub const CHECK_NOT_EXISTS: i32 = 501;
pub const CREATE_IF_NOT_EXISTS: i32 = 502;
pub const REMOVE_RECURSIVE: i32 = 503;
pub const CHECK_STAT: i32 = 504;
pub const TRY_REMOVE: i32 = 505;
pub const FILTERED_LIST_WITH_STATS_AND_DATA: i32 = 506;
pub const LIST_RECURSIVE: i32 = 507;

/// ListRequestType.
pub const LIST_ALL: u8 = 0;
pub const LIST_PERSISTENT: u8 = 1;
pub const LIST_EPHEMERAL: u8 = 2;

/// Error codes as Keeper's `Coordination::Error` numbers them (ZooKeeper's).
pub const ZOK: i32 = 0;
pub const ZRUNTIMEINCONSISTENCY: i32 = -2;
pub const ZBADARGUMENTS: i32 = -8;
pub const ZNONODE: i32 = -101;
pub const ZNOAUTH: i32 = -102;
pub const ZBADVERSION: i32 = -103;
pub const ZNODEEXISTS: i32 = -110;
pub const ZNOTEMPTY: i32 = -111;

/// A Stat whose every field is -1: CheckStat's "match anything".
pub const ANY_STAT: [i64; 11] = [-1; 11];

/// One multi result as ClickHouse's `ZooKeeperMultiResponse::readImpl` sees it:
/// the header's op code and error, and the body read by the request's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiResult {
    pub op_type: i32,
    pub err: i32,
    /// createIfNotExists / create: the path created (or already there).
    pub path: Option<String>,
}

/// The body of each extension request.
pub mod body {
    use super::*;

    pub fn filtered_list(path: &str, watch: bool, list_type: u8) -> Vec<u8> {
        let mut b = Vec::new();
        put_str(&mut b, path);
        b.push(watch as u8);
        b.push(list_type);
        b
    }

    pub fn filtered_list_with_stats(
        path: &str,
        list_type: u8,
        with_stat: bool,
        with_data: bool,
    ) -> Vec<u8> {
        let mut b = filtered_list(path, false, list_type);
        b.push(with_stat as u8);
        b.push(with_data as u8);
        b
    }

    /// Check's layout: checkNotExists, and check (13).
    pub fn check(path: &str, version: i32) -> Vec<u8> {
        let mut b = Vec::new();
        put_str(&mut b, path);
        put_i32(&mut b, version);
        b
    }

    pub fn check_stat(path: &str, version: i32, stat: &[i64; 11]) -> Vec<u8> {
        let mut b = check(path, version);
        // czxid mzxid ctime mtime (long) version cversion aversion (int)
        // ephemeralOwner (long) dataLength numChildren (int) pzxid (long)
        for (i, v) in stat.iter().enumerate() {
            if matches!(i, 4 | 5 | 6 | 8 | 9) {
                put_i32(&mut b, *v as i32);
            } else {
                put_i64(&mut b, *v);
            }
        }
        b
    }

    /// Create's layout (createIfNotExists), open ACL.
    pub fn create(path: &str, data: &[u8], flags: i32) -> Vec<u8> {
        let mut b = Vec::new();
        put_str(&mut b, path);
        put_buf(&mut b, data);
        put_open_acl(&mut b);
        put_i32(&mut b, flags);
        b
    }

    /// Remove's layout (tryRemove).
    pub fn remove(path: &str, version: i32) -> Vec<u8> {
        check(path, version)
    }

    /// removeRecursive and listRecursive: the path and an unsigned limit.
    pub fn path_limit(path: &str, limit: u32) -> Vec<u8> {
        let mut b = Vec::new();
        put_str(&mut b, path);
        put_i32(&mut b, limit as i32);
        b
    }
}

/// A connection that talks as ClickHouse does.
pub struct KeeperClient {
    pub raw: RawClient,
}

/// filteredListWithStatsAndData's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListWithStats {
    pub children: Vec<String>,
    pub stat: [i64; 11],
    pub stats: Vec<[i64; 11]>,
    pub data: Vec<Vec<u8>>,
}

impl KeeperClient {
    /// ClickHouse's handshake: the 44-byte ConnectRequest, protocol version 0.
    pub fn connect(addr: SocketAddr) -> io::Result<KeeperClient> {
        Ok(KeeperClient {
            raw: RawClient::connect_with(addr, true)?,
        })
    }

    pub fn call(&mut self, op: i32, body: &[u8]) -> io::Result<Reply> {
        self.raw.call(op, body)
    }

    /// What `ZooKeeper::initFeatureFlags` reads: the feature-flag bytes, or
    /// `None` when the server answers NoNode.
    pub fn feature_flags(&mut self) -> io::Result<Option<Vec<u8>>> {
        let r = self.raw.get_data("/keeper/feature_flags", false)?;
        Ok((r.err == ZOK).then(|| Reader::new(&r.body).buf()))
    }

    pub fn api_version(&mut self) -> io::Result<Option<String>> {
        let r = self.raw.get_data("/keeper/api_version", false)?;
        Ok((r.err == ZOK).then(|| String::from_utf8_lossy(&Reader::new(&r.body).buf()).into()))
    }

    /// filteredList: (err, children).
    pub fn filtered_list(
        &mut self,
        path: &str,
        watch: bool,
        list_type: u8,
    ) -> io::Result<(i32, Vec<String>)> {
        let r = self.call(FILTERED_LIST, &body::filtered_list(path, watch, list_type))?;
        if r.err != ZOK {
            return Ok((r.err, vec![]));
        }
        let mut rd = Reader::new(&r.body);
        let names = rd.strings();
        rd.stat();
        assert_eq!(rd.remaining(), 0, "a list response is names and a Stat");
        Ok((r.err, names))
    }

    pub fn filtered_list_with_stats(
        &mut self,
        path: &str,
        list_type: u8,
        with_stat: bool,
        with_data: bool,
    ) -> io::Result<Result<ListWithStats, i32>> {
        let r = self.call(
            FILTERED_LIST_WITH_STATS_AND_DATA,
            &body::filtered_list_with_stats(path, list_type, with_stat, with_data),
        )?;
        if r.err != ZOK {
            return Ok(Err(r.err));
        }
        let mut rd = Reader::new(&r.body);
        let children = rd.strings();
        let stat = rd.stat();
        let n = rd.i32().max(0);
        let stats = (0..n).map(|_| rd.stat()).collect();
        let n = rd.i32().max(0);
        let data = (0..n).map(|_| rd.buf()).collect();
        assert_eq!(rd.remaining(), 0);
        Ok(Ok(ListWithStats {
            children,
            stat,
            stats,
            data,
        }))
    }

    pub fn list_recursive(&mut self, path: &str, limit: u32) -> io::Result<(i32, Vec<String>)> {
        let r = self.call(LIST_RECURSIVE, &body::path_limit(path, limit))?;
        if r.err != ZOK {
            return Ok((r.err, vec![]));
        }
        let mut rd = Reader::new(&r.body);
        let paths = rd.strings();
        assert_eq!(rd.remaining(), 0);
        Ok((r.err, paths))
    }

    /// removeRecursive: the error code (the reply has no body).
    pub fn remove_recursive(&mut self, path: &str, limit: u32) -> io::Result<i32> {
        let r = self.call(REMOVE_RECURSIVE, &body::path_limit(path, limit))?;
        assert!(r.body.is_empty(), "removeRecursive answers without a body");
        Ok(r.err)
    }

    pub fn try_remove(&mut self, path: &str, version: i32) -> io::Result<i32> {
        let r = self.call(TRY_REMOVE, &body::remove(path, version))?;
        assert!(r.body.is_empty());
        Ok(r.err)
    }

    /// createIfNotExists: (err, path in the reply).
    pub fn create_if_not_exists(&mut self, path: &str, data: &[u8]) -> io::Result<(i32, String)> {
        let r = self.call(CREATE_IF_NOT_EXISTS, &body::create(path, data, 0))?;
        if r.err != ZOK {
            return Ok((r.err, String::new()));
        }
        Ok((r.err, Reader::new(&r.body).string()))
    }

    pub fn check_not_exists(&mut self, path: &str, version: i32) -> io::Result<i32> {
        Ok(self
            .call(CHECK_NOT_EXISTS, &body::check(path, version))?
            .err)
    }

    pub fn check_stat(&mut self, path: &str, version: i32, stat: &[i64; 11]) -> io::Result<i32> {
        Ok(self
            .call(CHECK_STAT, &body::check_stat(path, version, stat))?
            .err)
    }

    /// multi with any ops; results read as ClickHouse reads them, by the
    /// request's types (`kinds`: the op code each request op had).
    pub fn multi(&mut self, ops: &[(i32, Vec<u8>)]) -> io::Result<(i32, Vec<MultiResult>)> {
        let r = self.raw.multi(ops)?;
        let mut rd = Reader::new(&r.body);
        let mut out = Vec::new();
        for (t, _) in ops {
            let op_type = rd.i32();
            let done = rd.take(1)[0] != 0;
            let err = rd.i32();
            assert!(!done, "not enough results for multi");
            let mut res = MultiResult {
                op_type,
                err,
                path: None,
            };
            if op_type == -1 {
                let code = rd.i32();
                assert_eq!(code, err, "error body repeats the header's error");
            } else if err == ZOK && matches!(*t, 1 | CREATE_IF_NOT_EXISTS) {
                res.path = Some(rd.string());
            } else if err == ZOK && *t == raw::OP_SET_DATA {
                rd.stat();
            }
            out.push(res);
        }
        let (t, done, e) = (rd.i32(), rd.take(1)[0], rd.i32());
        assert_eq!((t, done, e), (-1, 1, -1), "multi footer");
        assert_eq!(rd.remaining(), 0);
        Ok((r.err, out))
    }
}
