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

    /// multi's body: each op's header (type, done = false, err = -1) and body,
    /// then the footer (-1, true, -1).
    pub fn multi(ops: &[(i32, Vec<u8>)]) -> Vec<u8> {
        let mut b = Vec::new();
        for (t, body) in ops {
            put_i32(&mut b, *t);
            b.push(0);
            put_i32(&mut b, -1);
            b.extend_from_slice(body);
        }
        put_i32(&mut b, -1);
        b.push(1);
        put_i32(&mut b, -1);
        b
    }

    /// getData's and exists' layout: the path and the watch flag.
    pub fn path_watch(path: &str, watch: bool) -> Vec<u8> {
        let mut b = Vec::new();
        put_str(&mut b, path);
        b.push(watch as u8);
        b
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

/// ClickHouse's client with `use_xid_64` and/or `use_compression`
/// (ClickHouse's `ZooKeeperImpl.cpp`, `sendHandshake` / `receiveHandshake` /
/// `receiveEvent`): protocol version 11 and its compression byte in the
/// handshake, 46 bytes behind a length of 45, or version 10 for compression
/// alone; then every request and reply header with an 8-byte xid (11), and
/// every byte after the handshake in ClickHouse's compressed blocks when
/// compression is on, one block per request as ClickHouse's flush writes it.
pub struct Xid64Client {
    pub stream: std::net::TcpStream,
    /// The handshake answer's payload (Keeper's is 36 bytes).
    pub handshake: Vec<u8>,
    pub session_id: i64,
    pub next_xid: i64,
    /// Watch events received while waiting for replies: (type, state, path).
    pub events: Vec<(i32, i32, String)>,
    pub xid64: bool,
    pub compression: bool,
    /// Decompressed bytes not read yet.
    plain: Vec<u8>,
}

/// A reply as the xid64 client reads it.
#[derive(Debug, Clone)]
pub struct Reply64 {
    pub xid: i64,
    pub zxid: i64,
    pub err: i32,
    pub body: Vec<u8>,
}

/// ClickHouse's handshake bytes, length prefix included.
pub fn xid64_handshake(version: i32, compression: bool) -> Vec<u8> {
    let mut b = Vec::new();
    put_i32(&mut b, 45); // what ClickHouse writes, whatever follows
    put_i32(&mut b, version);
    if version == 11 {
        b.push(compression as u8);
    }
    put_i64(&mut b, 0); // last_zxid_seen
    put_i32(&mut b, 30_000); // timeout
    put_i64(&mut b, 0); // previous session id
    put_buf(&mut b, &[0; 16]); // password
    b.push(1); // read_only
    b
}

/// ClickHouse's block checksum: CityHash128 v1.0.2 of the header and data,
/// its first (low) half first, little-endian.
fn block_checksum(b: &[u8]) -> [u8; 16] {
    cityhash_rs::cityhash_102_128(b)
        .rotate_right(64)
        .to_le_bytes()
}

/// One compressed block as `CompressedWriteBuffer` writes it: checksum,
/// method 0x82 (LZ4), compressed size with the 9-byte header, plain size,
/// the LZ4 block.
pub fn compressed_block(plain: &[u8]) -> Vec<u8> {
    let data = lz4_flex::block::compress(plain);
    let mut hd = vec![0x82];
    hd.extend_from_slice(&((9 + data.len()) as u32).to_le_bytes());
    hd.extend_from_slice(&(plain.len() as u32).to_le_bytes());
    hd.extend_from_slice(&data);
    let mut b = block_checksum(&hd).to_vec();
    b.extend_from_slice(&hd);
    b
}

impl Xid64Client {
    /// Connects with 64-bit xids and no compression; xids start at
    /// `first_xid` (ClickHouse starts at 1; a test starts past 2^31 to see
    /// that nothing is cut to 32 bits).
    pub fn connect(addr: SocketAddr, first_xid: i64) -> io::Result<Xid64Client> {
        Self::connect_with(addr, first_xid, true, false)
    }

    /// Connects as ClickHouse does with `use_xid_64` = `xid64` and
    /// `use_compression` = `compression` (at least one of them).
    pub fn connect_with(
        addr: SocketAddr,
        first_xid: i64,
        xid64: bool,
        compression: bool,
    ) -> io::Result<Xid64Client> {
        use std::io::Write;
        let mut stream =
            std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(5))?;
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        let version = if xid64 { 11 } else { 10 };
        stream.write_all(&xid64_handshake(version, compression))?;
        let handshake = raw::read_frame(&mut stream)?;
        let mut r = Reader::new(&handshake);
        let got = r.i32();
        // ClickHouse: "Unexpected protocol version with 64bit XID" / "with compression"
        if (xid64 && got < 11) || (!xid64 && got != 10) {
            return Err(io::Error::other(format!("protocol version {got}")));
        }
        r.i32();
        let session_id = r.i64();
        Ok(Xid64Client {
            stream,
            handshake,
            session_id,
            next_xid: first_xid,
            events: Vec::new(),
            xid64,
            compression,
            plain: Vec::new(),
        })
    }

    /// Sends a request with the xid given, as `ZooKeeperRequest::write` does:
    /// length, xid (a long with use_xid_64), int op, body; in one block when
    /// compressed.
    pub fn send(&mut self, xid: i64, op: i32, body: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let xid_len = if self.xid64 { 8 } else { 4 };
        let mut p = Vec::new();
        put_i32(&mut p, (xid_len + 4 + body.len()) as i32);
        if self.xid64 {
            put_i64(&mut p, xid);
        } else {
            put_i32(&mut p, xid as i32);
        }
        put_i32(&mut p, op);
        p.extend_from_slice(body);
        if self.compression {
            p = compressed_block(&p);
        }
        self.stream.write_all(&p)
    }

    /// Sends several requests in one write (one block when compressed).
    pub fn send_batch(&mut self, reqs: &[(i64, i32, Vec<u8>)]) -> io::Result<()> {
        use std::io::Write;
        let mut all = Vec::new();
        for (xid, op, body) in reqs {
            if self.xid64 {
                put_i32(&mut all, (12 + body.len()) as i32);
                put_i64(&mut all, *xid);
            } else {
                put_i32(&mut all, (8 + body.len()) as i32);
                put_i32(&mut all, *xid as i32);
            }
            put_i32(&mut all, *op);
            all.extend_from_slice(body);
        }
        if self.compression {
            all = compressed_block(&all);
        }
        self.stream.write_all(&all)
    }

    /// Reads `n` plain bytes: from the socket, or from its blocks.
    fn read_plain(&mut self, n: usize) -> io::Result<Vec<u8>> {
        use std::io::Read;
        if !self.compression {
            let mut b = vec![0u8; n];
            self.stream.read_exact(&mut b)?;
            return Ok(b);
        }
        while self.plain.len() < n {
            let mut meta = [0u8; 25];
            self.stream.read_exact(&mut meta)?;
            if meta[16] != 0x82 {
                return Err(io::Error::other(format!("method byte {:#x}", meta[16])));
            }
            let compressed = u32::from_le_bytes(meta[17..21].try_into().unwrap()) as usize;
            let size = u32::from_le_bytes(meta[21..25].try_into().unwrap()) as usize;
            if !(9..=64 << 20).contains(&compressed) || size > 64 << 20 {
                return Err(io::Error::other("bad block sizes"));
            }
            let mut hd = meta[16..].to_vec();
            hd.resize(compressed, 0);
            self.stream.read_exact(&mut hd[9..])?;
            if block_checksum(&hd) != meta[..16] {
                // ClickHouse: "Checksum doesn't match: corrupted data"
                return Err(io::Error::other("block checksum mismatch"));
            }
            let data = lz4_flex::block::decompress(&hd[9..], size)
                .map_err(|e| io::Error::other(e.to_string()))?;
            self.plain.extend_from_slice(&data);
        }
        Ok(self.plain.drain(..n).collect())
    }

    /// Reads one reply: length, xid (long with use_xid_64), long zxid, int
    /// err, body. Watch events (xid -1) are also kept in `events`.
    pub fn read_reply(&mut self) -> io::Result<Reply64> {
        let len = i32::from_be_bytes(self.read_plain(4)?.try_into().unwrap());
        if !(0..=16 << 20).contains(&len) {
            return Err(io::Error::other(format!("bad frame length {len}")));
        }
        let payload = self.read_plain(len as usize)?;
        let mut r = Reader::new(&payload);
        let xid = if self.xid64 {
            r.i64()
        } else {
            i64::from(r.i32())
        };
        let zxid = r.i64();
        let err = r.i32();
        let body = payload[r.pos..].to_vec();
        if xid == -1 {
            let mut e = Reader::new(&body);
            let t = e.i32();
            let s = e.i32();
            let p = e.string();
            self.events.push((t, s, p));
        }
        Ok(Reply64 {
            xid,
            zxid,
            err,
            body,
        })
    }

    /// One request with the next xid; its reply (watch events before it are kept).
    pub fn call(&mut self, op: i32, body: &[u8]) -> io::Result<Reply64> {
        let xid = self.next_xid;
        self.next_xid += 1;
        self.call_with_xid(xid, op, body)
    }

    /// One request with the xid given; the first reply that is not a watch event.
    pub fn call_with_xid(&mut self, xid: i64, op: i32, body: &[u8]) -> io::Result<Reply64> {
        self.send(xid, op, body)?;
        loop {
            let r = self.read_reply()?;
            if r.xid != -1 {
                return Ok(r);
            }
        }
    }

    /// Waits for `n` watch events at most `timeout`.
    pub fn wait_events(&mut self, n: usize, timeout: std::time::Duration) -> io::Result<()> {
        let deadline = std::time::Instant::now() + timeout;
        while self.events.len() < n {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.read_reply() {
                Ok(r) if r.xid != -1 => {
                    return Err(io::Error::other(format!("unexpected reply xid {}", r.xid)))
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) => return Err(e),
            }
        }
        self.stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
    }
}
