//! A small blocking ZooKeeper client speaking the wire protocol directly, written from the
//! protocol's definition (`zookeeper.jute`) and independent of the server's own codec, so a
//! shared misunderstanding cannot hide a bug. It is used where no real client reaches: bad
//! input, the legacy handshake, persistent watches.
//!
//! ```text
//! frame           = len:int32 payload[len]
//! ConnectRequest  = protocolVersion:int lastZxidSeen:long timeOut:int sessionId:long
//!                   passwd:buffer [readOnly:bool]
//! ConnectResponse = protocolVersion:int timeOut:int sessionId:long passwd:buffer [readOnly:bool]
//! request         = xid:int type:int body
//! reply           = xid:int zxid:long err:int body     (xid -1: watch event, -2: ping)
//! WatcherEvent    = type:int state:int path:ustring
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

pub const OP_CREATE: i32 = 1;
pub const OP_DELETE: i32 = 2;
pub const OP_EXISTS: i32 = 3;
pub const OP_GET_DATA: i32 = 4;
pub const OP_SET_DATA: i32 = 5;
pub const OP_GET_CHILDREN: i32 = 8;
pub const OP_PING: i32 = 11;
pub const OP_CREATE2: i32 = 15;
pub const OP_CHECK_WATCHES: i32 = 17;
pub const OP_REMOVE_WATCHES: i32 = 18;
pub const OP_CHECK: i32 = 13;
pub const OP_MULTI: i32 = 14;
pub const OP_CREATE_CONTAINER: i32 = 19;
pub const OP_CREATE_TTL: i32 = 21;
pub const OP_MULTI_READ: i32 = 22;
pub const OP_AUTH: i32 = 100;
pub const OP_SASL: i32 = 102;
pub const OP_SET_WATCHES: i32 = 101;
pub const OP_SET_WATCHES2: i32 = 105;
pub const OP_CLOSE: i32 = -11;
pub const OP_GET_EPHEMERALS: i32 = 103;
pub const OP_GET_ALL_CHILDREN_NUMBER: i32 = 104;
pub const OP_ADD_WATCH: i32 = 106;
pub const OP_WHO_AM_I: i32 = 107;

pub const ADD_WATCH_PERSISTENT: i32 = 0;
pub const ADD_WATCH_PERSISTENT_RECURSIVE: i32 = 1;

pub fn put_i32(b: &mut Vec<u8>, v: i32) {
    b.extend_from_slice(&v.to_be_bytes());
}

pub fn put_i64(b: &mut Vec<u8>, v: i64) {
    b.extend_from_slice(&v.to_be_bytes());
}

pub fn put_buf(b: &mut Vec<u8>, v: &[u8]) {
    put_i32(b, v.len() as i32);
    b.extend_from_slice(v);
}

pub fn put_str(b: &mut Vec<u8>, v: &str) {
    put_buf(b, v.as_bytes());
}

/// The ACL `world:anyone` with all permissions, as a jute vector.
pub fn put_open_acl(b: &mut Vec<u8>) {
    put_acl(b, &[(31, "world", "anyone")]);
}

/// An ACL vector of `(perms, scheme, id)`.
pub fn put_acl(b: &mut Vec<u8>, acl: &[(i32, &str, &str)]) {
    put_i32(b, acl.len() as i32);
    for (perms, scheme, id) in acl {
        put_i32(b, *perms);
        put_str(b, scheme);
        put_str(b, id);
    }
}

/// `digest` id of `u:pw`: `u:base64(sha1("u:pw"))`.
pub const DIGEST_U_PW: &str = "u:BvFaefuhWURhnvpD7ipe45CKTpk=";

/// Reads jute values from a reply body; panics on a short body (a test failure).
pub struct Reader<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn take(&mut self, n: usize) -> &'a [u8] {
        assert!(
            self.pos + n <= self.buf.len(),
            "reply too short: need {n} bytes at {} of {}",
            self.pos,
            self.buf.len()
        );
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        s
    }

    pub fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }

    pub fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().unwrap())
    }

    pub fn buf(&mut self) -> Vec<u8> {
        let n = self.i32();
        if n < 0 {
            return Vec::new();
        }
        self.take(n as usize).to_vec()
    }

    pub fn string(&mut self) -> String {
        String::from_utf8(self.buf()).expect("utf-8 string")
    }

    pub fn strings(&mut self) -> Vec<String> {
        let n = self.i32();
        (0..n.max(0)).map(|_| self.string()).collect()
    }

    /// A Stat as its eleven fields in wire order.
    pub fn stat(&mut self) -> [i64; 11] {
        [
            self.i64(),
            self.i64(),
            self.i64(),
            self.i64(),
            self.i32() as i64,
            self.i32() as i64,
            self.i32() as i64,
            self.i64(),
            self.i32() as i64,
            self.i32() as i64,
            self.i64(),
        ]
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
}

#[derive(Debug, Clone)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    /// Present only when the server sent the trailing readOnly byte.
    pub read_only: Option<bool>,
    /// Length of the reply frame's payload.
    pub len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    pub event_type: i32,
    pub state: i32,
    pub path: String,
    pub zxid: i64,
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub xid: i32,
    pub zxid: i64,
    pub err: i32,
    pub body: Vec<u8>,
}

/// The body of a ConnectRequest; `legacy` leaves out the readOnly byte (44 bytes instead of 45).
pub fn connect_request(timeout_ms: i32, legacy: bool) -> Vec<u8> {
    Handshake {
        timeout_ms,
        legacy,
        ..Handshake::default()
    }
    .body()
}

/// What a ConnectRequest asks for: a new session (`session_id` 0) or an existing one.
#[derive(Debug, Clone)]
pub struct Handshake {
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub last_zxid_seen: i64,
    pub legacy: bool,
}

impl Default for Handshake {
    fn default() -> Self {
        Handshake {
            timeout_ms: 30_000,
            session_id: 0,
            passwd: vec![0u8; 16],
            last_zxid_seen: 0,
            legacy: false,
        }
    }
}

impl Handshake {
    pub fn body(&self) -> Vec<u8> {
        let mut b = Vec::new();
        put_i32(&mut b, 0);
        put_i64(&mut b, self.last_zxid_seen);
        put_i32(&mut b, self.timeout_ms);
        put_i64(&mut b, self.session_id);
        put_buf(&mut b, &self.passwd);
        if !self.legacy {
            b.push(0);
        }
        b
    }
}

pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(payload.len() + 4);
    put_i32(&mut b, payload.len() as i32);
    b.extend_from_slice(payload);
    b
}

pub struct RawClient {
    pub stream: TcpStream,
    pub session: ConnectResponse,
    xid: i32,
    pub events: Vec<WatchEvent>,
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> io::Result<RawClient> {
        Self::connect_with(addr, false)
    }

    pub fn connect_with(addr: SocketAddr, legacy: bool) -> io::Result<RawClient> {
        Self::handshake(
            addr,
            &Handshake {
                legacy,
                ..Handshake::default()
            },
        )
    }

    /// Connects with any ConnectRequest. A refused session (expired, wrong password) still
    /// returns a client: its `session` has id 0, and the server closes the connection.
    pub fn handshake(addr: SocketAddr, h: &Handshake) -> io::Result<RawClient> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        stream.write_all(&frame(&h.body()))?;
        let payload = read_frame(&mut stream)?;
        let session = parse_connect_response(&payload);
        Ok(RawClient {
            stream,
            session,
            xid: 0,
            events: Vec::new(),
        })
    }

    /// Sends one request and returns its reply; watch events that arrive first are queued.
    pub fn call(&mut self, op: i32, body: &[u8]) -> io::Result<Reply> {
        self.xid += 1;
        let xid = self.xid;
        let mut p = Vec::with_capacity(body.len() + 8);
        put_i32(&mut p, xid);
        put_i32(&mut p, op);
        p.extend_from_slice(body);
        self.stream.write_all(&frame(&p))?;
        loop {
            let r = self.read_reply()?;
            if r.xid == xid {
                return Ok(r);
            }
            if r.xid != -1 && r.xid != -2 {
                return Err(io::Error::other(format!(
                    "reply xid {} while waiting for {xid}",
                    r.xid
                )));
            }
        }
    }

    fn read_reply(&mut self) -> io::Result<Reply> {
        let payload = read_frame(&mut self.stream)?;
        let mut r = Reader::new(&payload);
        let xid = r.i32();
        let zxid = r.i64();
        let err = r.i32();
        let body = payload[r.pos..].to_vec();
        if xid == -1 {
            let mut e = Reader::new(&body);
            let event_type = e.i32();
            let state = e.i32();
            let path = e.string();
            self.events.push(WatchEvent {
                event_type,
                state,
                path,
                zxid,
            });
        }
        Ok(Reply {
            xid,
            zxid,
            err,
            body,
        })
    }

    /// Sends one request with the xid given (auth and sasl carry the client's choice) and
    /// returns the first frame after it that is not a watch event or a ping reply, whatever
    /// its xid: the caller checks that the server echoed `xid`.
    pub fn call_with_xid(&mut self, xid: i32, op: i32, body: &[u8]) -> io::Result<Reply> {
        let mut p = Vec::with_capacity(body.len() + 8);
        put_i32(&mut p, xid);
        put_i32(&mut p, op);
        p.extend_from_slice(body);
        self.stream.write_all(&frame(&p))?;
        loop {
            let r = self.read_reply()?;
            if r.xid != -1 && r.xid != -2 {
                return Ok(r);
            }
        }
    }

    /// Waits until at least `n` watch events were received or `timeout` passes.
    pub fn wait_events(&mut self, n: usize, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        while self.events.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.read_reply() {
                Ok(_) => {}
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    break
                }
                Err(e) => return Err(e),
            }
        }
        self.stream
            .set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(())
    }

    pub fn ping(&mut self) -> io::Result<Reply> {
        let mut p = Vec::new();
        put_i32(&mut p, -2);
        put_i32(&mut p, OP_PING);
        self.stream.write_all(&frame(&p))?;
        loop {
            let r = self.read_reply()?;
            if r.xid == -2 {
                return Ok(r);
            }
        }
    }

    pub fn create(&mut self, path: &str, data: &[u8], flags: i32) -> io::Result<Reply> {
        let mut b = Vec::new();
        put_str(&mut b, path);
        put_buf(&mut b, data);
        put_open_acl(&mut b);
        put_i32(&mut b, flags);
        self.call(OP_CREATE, &b)
    }

    pub fn set_data(&mut self, path: &str, data: &[u8], version: i32) -> io::Result<Reply> {
        let mut b = Vec::new();
        put_str(&mut b, path);
        put_buf(&mut b, data);
        put_i32(&mut b, version);
        self.call(OP_SET_DATA, &b)
    }

    pub fn delete(&mut self, path: &str, version: i32) -> io::Result<Reply> {
        let mut b = Vec::new();
        put_str(&mut b, path);
        put_i32(&mut b, version);
        self.call(OP_DELETE, &b)
    }

    pub fn get_data(&mut self, path: &str, watch: bool) -> io::Result<Reply> {
        let mut b = Vec::new();
        put_str(&mut b, path);
        b.push(watch as u8);
        self.call(OP_GET_DATA, &b)
    }

    pub fn get_children(&mut self, path: &str, watch: bool) -> io::Result<Reply> {
        let mut b = Vec::new();
        put_str(&mut b, path);
        b.push(watch as u8);
        self.call(OP_GET_CHILDREN, &b)
    }

    /// checkWatches(path, watcherType): 1 children, 2 data, 3 any (4, 5: ZooKeeper 3.9).
    pub fn check_watches(&mut self, path: &str, watcher_type: i32) -> io::Result<Reply> {
        let mut b = Vec::new();
        put_str(&mut b, path);
        put_i32(&mut b, watcher_type);
        self.call(OP_CHECK_WATCHES, &b)
    }

    pub fn exists(&mut self, path: &str, watch: bool) -> io::Result<Reply> {
        let mut b = Vec::new();
        put_str(&mut b, path);
        b.push(watch as u8);
        self.call(OP_EXISTS, &b)
    }

    pub fn add_watch(&mut self, path: &str, mode: i32) -> io::Result<Reply> {
        let mut b = Vec::new();
        put_str(&mut b, path);
        put_i32(&mut b, mode);
        self.call(OP_ADD_WATCH, &b)
    }

    /// removeWatches(path, watcherType): 1 children, 2 data, 3 any.
    pub fn remove_watches(&mut self, path: &str, watcher_type: i32) -> io::Result<Reply> {
        let mut b = Vec::new();
        put_str(&mut b, path);
        put_i32(&mut b, watcher_type);
        self.call(OP_REMOVE_WATCHES, &b)
    }

    /// multi: each op is `(type, body)`; the reply body is parsed with [`parse_multi`].
    pub fn multi(&mut self, ops: &[(i32, Vec<u8>)]) -> io::Result<Reply> {
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
        self.call(OP_MULTI, &b)
    }

    /// auth (100, xid -4): `addauth scheme auth`. ZooKeeper closes the connection after a
    /// failure.
    pub fn auth(&mut self, scheme: &str, auth: &[u8]) -> io::Result<Reply> {
        let mut p = Vec::new();
        put_i32(&mut p, -4);
        put_i32(&mut p, OP_AUTH);
        put_i32(&mut p, 0);
        put_str(&mut p, scheme);
        put_buf(&mut p, auth);
        self.stream.write_all(&frame(&p))?;
        loop {
            let r = self.read_reply()?;
            if r.xid == -4 {
                return Ok(r);
            }
        }
    }

    /// create with any ACL (`put_acl` writes the jute vector).
    pub fn create_with_acl(
        &mut self,
        path: &str,
        data: &[u8],
        flags: i32,
        acl: &[(i32, &str, &str)],
    ) -> io::Result<Reply> {
        let mut b = Vec::new();
        put_str(&mut b, path);
        put_buf(&mut b, data);
        put_acl(&mut b, acl);
        put_i32(&mut b, flags);
        self.call(OP_CREATE, &b)
    }

    /// whoAmI (107): `(scheme, id)` pairs, sorted (ZooKeeper keeps them in a set).
    pub fn who_am_i(&mut self) -> io::Result<Vec<(String, String)>> {
        let r = self.call(OP_WHO_AM_I, &[])?;
        let mut rd = Reader::new(&r.body);
        let n = rd.i32();
        let mut v: Vec<(String, String)> =
            (0..n.max(0)).map(|_| (rd.string(), rd.string())).collect();
        v.sort();
        Ok(v)
    }

    /// setWatches (101): the paths a client watched, to restore after a reconnect.
    pub fn set_watches(
        &mut self,
        relative_zxid: i64,
        data: &[&str],
        exist: &[&str],
        child: &[&str],
    ) -> io::Result<Reply> {
        self.call(
            OP_SET_WATCHES,
            &watches_body(relative_zxid, &[data, exist, child]),
        )
    }

    /// setWatches2 (105): setWatches plus persistent and persistent-recursive watches.
    pub fn set_watches2(&mut self, relative_zxid: i64, lists: [&[&str]; 5]) -> io::Result<Reply> {
        self.call(OP_SET_WATCHES2, &watches_body(relative_zxid, &lists))
    }

    /// Whether the server closes the connection within `timeout`, reading (and queueing)
    /// whatever arrives before.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.stream.set_read_timeout(Some(left)).is_err() {
                return false;
            }
            match self.read_reply() {
                Ok(_) => {}
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    return false
                }
                Err(_) => return true,
            }
        }
    }

    pub fn close(&mut self) -> io::Result<Reply> {
        self.call(OP_CLOSE, &[])
    }
}

fn watches_body(relative_zxid: i64, lists: &[&[&str]]) -> Vec<u8> {
    let mut b = Vec::new();
    put_i64(&mut b, relative_zxid);
    for l in lists {
        put_i32(&mut b, l.len() as i32);
        for p in *l {
            put_str(&mut b, p);
        }
    }
    b
}

/// A CreateRequest body (CreateTTLRequest with `ttl`); `data: None` is the null buffer.
pub fn create_body(path: &str, data: Option<&[u8]>, flags: i32, ttl: Option<i64>) -> Vec<u8> {
    let mut b = Vec::new();
    put_str(&mut b, path);
    match data {
        Some(d) => put_buf(&mut b, d),
        None => put_i32(&mut b, -1),
    }
    put_open_acl(&mut b);
    put_i32(&mut b, flags);
    if let Some(t) = ttl {
        put_i64(&mut b, t);
    }
    b
}

/// One result of a multi reply: its header's type and err, and what its body held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiResult {
    pub op_type: i32,
    pub err: i32,
    pub path: Option<String>,
    pub stat: Option<[i64; 11]>,
    /// The ErrorResponse's code, for results of type -1.
    pub code: Option<i32>,
}

/// Parses a multi reply body (`(MultiHeader result)* MultiHeader(-1, true, -1)`) the way
/// Java's `MultiResponse.deserialize` does; a type it does not know is an error.
pub fn parse_multi(body: &[u8]) -> Result<Vec<MultiResult>, String> {
    let mut r = Reader::new(body);
    let mut out = Vec::new();
    loop {
        let op_type = r.i32();
        let done = r.take(1)[0] != 0;
        let err = r.i32();
        if done {
            return Ok(out);
        }
        let mut res = MultiResult {
            op_type,
            err,
            path: None,
            stat: None,
            code: None,
        };
        match op_type {
            OP_CREATE => res.path = Some(r.string()),
            OP_CREATE2 => {
                res.path = Some(r.string());
                res.stat = Some(r.stat());
            }
            OP_DELETE | OP_CHECK => {}
            OP_SET_DATA => res.stat = Some(r.stat()),
            -1 => res.code = Some(r.i32()),
            other => return Err(format!("invalid type {other} in MultiResponse")),
        }
        out.push(res);
    }
}

pub fn parse_connect_response(payload: &[u8]) -> ConnectResponse {
    let mut r = Reader::new(payload);
    let protocol_version = r.i32();
    let timeout_ms = r.i32();
    let session_id = r.i64();
    let passwd = r.buf();
    let read_only = if r.remaining() > 0 {
        Some(r.take(1)[0] != 0)
    } else {
        None
    };
    ConnectResponse {
        protocol_version,
        timeout_ms,
        session_id,
        passwd,
        read_only,
        len: payload.len(),
    }
}

/// Reads one length-prefixed frame (at most 16 MiB: a test never expects more).
pub fn read_frame(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let len = i32::from_be_bytes(len);
    if !(0..=16 << 20).contains(&len) {
        return Err(io::Error::other(format!("bad frame length {len}")));
    }
    let mut buf = vec![0u8; len as usize];
    s.read_exact(&mut buf)?;
    Ok(buf)
}

impl RawClient {
    /// Opens a new connection that resumes session `session_id` with `passwd` (a client
    /// moving to another server); the server's answer is in `session` (an expired or
    /// invalid session comes back as session id 0).
    pub fn resume(
        addr: SocketAddr,
        session_id: i64,
        passwd: &[u8],
        timeout_ms: i32,
        last_zxid_seen: i64,
    ) -> io::Result<RawClient> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        let mut b = Vec::new();
        put_i32(&mut b, 0);
        put_i64(&mut b, last_zxid_seen);
        put_i32(&mut b, timeout_ms);
        put_i64(&mut b, session_id);
        put_buf(&mut b, passwd);
        b.push(0);
        stream.write_all(&frame(&b))?;
        let payload = read_frame(&mut stream)?;
        let session = parse_connect_response(&payload);
        Ok(RawClient {
            stream,
            session,
            xid: 1000,
            events: Vec::new(),
        })
    }
}
