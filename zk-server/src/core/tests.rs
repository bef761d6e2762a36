//! Unit tests of the core: a message in, then the exact frames each connection
//! was sent, the transactions handed to replication, and the messages for the
//! peer driver. No sockets, no runtime: the core is a plain struct.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, Bytes};
use tokio::sync::mpsc;
use zab_core::jute::{JuteReader, Record};
use zab_core::proto::*;
use zab_core::records::{Acl, ErrorCode};
use zab_core::txn::{CreateTxn, Txn, TxnBody, TxnHeader};
use zab_core::wire::QuorumPacket;
use zab_core::Zxid;

use super::{Core, CoreMsg, Role, StatsReset};
use crate::config::Config;
use crate::conn::{ConnHandle, Out};
use crate::replicate::{DriverLink, DriverMsg, Replication, ReplicationMsg, Replicator};
use crate::request::Request;
use crate::tree::DataTree;

/// Records what the pipeline proposes.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(Zxid, Bytes)>>>);

impl Replicator for Recorder {
    fn propose(&mut self, zxid: Zxid, txn: Bytes) {
        self.0.lock().unwrap().push((zxid, txn));
    }
    fn roll_log(&mut self) {}
}

/// One frame as a client reads it: the reply header, and the body after it.
#[derive(Debug)]
struct Frame {
    xid: i32,
    err: i32,
    body: Bytes,
}

struct Harness {
    core: Core,
    proposed: Recorder,
    /// In an ensemble: what the core asked of the driver.
    driver_rx: Option<mpsc::Receiver<DriverMsg>>,
    conns: HashMap<u64, crate::conn::OutRx>,
    next_conn: u64,
}

impl Harness {
    fn new(ensemble: bool, sessions: HashMap<i64, i32>) -> Harness {
        Harness::with_config(ensemble, sessions, Config::default())
    }

    fn with_config(ensemble: bool, sessions: HashMap<i64, i32>, cfg: Config) -> Harness {
        let proposed = Recorder::default();
        let (_tx, rx) = mpsc::channel(16);
        let (driver, driver_rx) = if ensemble {
            let (tx, rx) = mpsc::channel(64);
            (Some(DriverLink::new(tx)), Some(rx))
        } else {
            (None, None)
        };
        let replication = Replication {
            replicator: Box::new(proposed.clone()),
            rx,
            driver,
            log_metrics: Default::default(),
        };
        let cfg = Arc::new(cfg);
        let core = Core::new(cfg, DataTree::new(false), sessions, replication, 1);
        Harness {
            core,
            proposed,
            driver_rx,
            conns: HashMap::new(),
            next_conn: 1,
        }
    }

    fn standalone() -> Harness {
        Harness::new(false, HashMap::new())
    }

    /// A new connection asking for a new session; returns the connection's id.
    fn connect(&mut self) -> u64 {
        self.connect_as(Vec::new(), 0, Bytes::from(vec![0u8; 16]))
    }

    /// A new connection that proves `auth` itself (a TLS client's x509 ids), asking
    /// for session `session_id` (0: a new one).
    fn connect_as(
        &mut self,
        auth: Vec<zab_core::records::Id>,
        session_id: i64,
        passwd: Bytes,
    ) -> u64 {
        let id = self.next_conn;
        self.next_conn += 1;
        let (mut handle, rx) = ConnHandle::new(id, "127.0.0.1:40000".parse().unwrap());
        handle.auth = auth;
        self.conns.insert(id, rx);
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 30_000,
            session_id,
            passwd,
            read_only: Some(false),
        };
        self.core.on_msg(CoreMsg::Connect { conn: handle, req });
        id
    }

    fn request(&mut self, conn: u64, xid: i32, op_type: i32, body: Vec<u8>) {
        let body = Bytes::from(body);
        let op = Op::parse(op_type, &body).expect("a well-formed body");
        self.core.on_msg(CoreMsg::Request(Request {
            session_id: 0,
            conn_id: conn,
            xid,
            op_type,
            op,
            body,
            read_at: std::time::Instant::now(),
        }));
    }

    fn create(&mut self, conn: u64, xid: i32, path: &str) {
        let r = CreateRequest {
            path: path.into(),
            data: Some(Bytes::from_static(b"v")),
            acl: Acl::open_unsafe(),
            flags: create_mode::PERSISTENT,
        };
        self.request(conn, xid, op::CREATE, r.to_bytes());
    }

    fn get_data(&mut self, conn: u64, xid: i32, path: &str, watch: bool) {
        let r = PathWatchRequest {
            path: path.into(),
            watch,
        };
        self.request(conn, xid, op::GET_DATA, r.to_bytes());
    }

    /// Takes what was proposed since the last call.
    fn proposals(&mut self) -> Vec<(Zxid, Bytes)> {
        std::mem::take(&mut *self.proposed.0.lock().unwrap())
    }

    /// Replication reports everything proposed so far committed.
    fn commit_all(&mut self) {
        let p = self.proposals();
        self.core.on_replication(ReplicationMsg::Committed(p));
    }

    /// Every frame queued to `conn` since the last call; `None` marks a close.
    /// (The core hands a turn's replies to a connection as one buffer; they are split
    /// into frames here.)
    fn sent(&mut self, conn: u64) -> Vec<Option<Bytes>> {
        self.core.flush_replies();
        let rx = self.conns.get_mut(&conn).unwrap();
        let mut out = Vec::new();
        while let Ok(o) = rx.try_recv() {
            match o {
                Out::Frame(mut f) => {
                    while !f.is_empty() {
                        let len = i32::from_be_bytes(f[..4].try_into().unwrap()) as usize;
                        out.push(Some(f.split_to(4 + len)));
                    }
                }
                Out::Close => out.push(None),
            }
        }
        out
    }

    /// Replies and events queued to `conn` since the last call (not the handshake).
    fn replies(&mut self, conn: u64) -> Vec<Frame> {
        self.sent(conn)
            .into_iter()
            .map(|f| {
                let f = f.expect("a frame, not a close");
                let mut r = JuteReader::new(&f[4..]);
                let h = ReplyHeader::read(&mut r).unwrap();
                Frame {
                    xid: h.xid,
                    err: h.err,
                    body: f.slice(4 + 16..),
                }
            })
            .collect()
    }

    /// A connection with an established standalone session.
    fn session(&mut self) -> (u64, i64) {
        let c = self.connect();
        self.commit_all();
        let hs = self.sent(c);
        assert_eq!(hs.len(), 1, "one ConnectResponse");
        let resp = ConnectResponse::from_bytes(&hs[0].clone().unwrap()[4..]).unwrap();
        (c, resp.session_id)
    }

    fn driver_msgs(&mut self) -> Vec<DriverMsg> {
        let rx = self.driver_rx.as_mut().expect("an ensemble harness");
        let mut out = Vec::new();
        while let Ok(m) = rx.try_recv() {
            out.push(m);
        }
        out
    }
}

fn txn(bytes: &Bytes) -> Txn {
    Txn::from_bytes(bytes).unwrap()
}

#[test]
fn a_new_session_is_answered_only_once_its_create_session_commits() {
    let mut h = Harness::standalone();
    let c = h.connect();
    assert!(h.sent(c).is_empty(), "no answer before the commit");
    let p = h.proposals();
    assert_eq!(p.len(), 1);
    let t = txn(&p[0].1);
    assert_eq!(t.header.txn_type, op::CREATE_SESSION);
    assert_eq!(t.body, TxnBody::CreateSession { timeout_ms: 30_000 });
    h.core.on_replication(ReplicationMsg::Committed(p.clone()));
    let hs = h.sent(c);
    assert_eq!(hs.len(), 1);
    let resp = ConnectResponse::from_bytes(&hs[0].clone().unwrap()[4..]).unwrap();
    assert_eq!(resp.session_id, t.header.client_id);
    assert_eq!(resp.timeout_ms, 30_000);
    assert_eq!(resp.read_only, Some(false));
}

#[test]
fn a_read_waits_for_the_earlier_write_of_its_session() {
    let mut h = Harness::standalone();
    let (c, _) = h.session();
    h.create(c, 1, "/a");
    h.get_data(c, 2, "/a", false);
    assert!(h.replies(c).is_empty(), "the read waits behind the write");
    h.commit_all();
    let r = h.replies(c);
    assert_eq!(
        r.iter().map(|f| (f.xid, f.err)).collect::<Vec<_>>(),
        vec![(1, 0), (2, 0)]
    );
    let d = GetDataResponse::from_bytes(&r[1].body).unwrap();
    assert_eq!(d.data.as_deref(), Some(&b"v"[..]));
}

#[test]
fn reads_of_other_sessions_do_not_wait() {
    let mut h = Harness::standalone();
    let (c1, _) = h.session();
    let (c2, _) = h.session();
    h.create(c1, 1, "/a");
    h.get_data(c2, 7, "/a", false);
    let r = h.replies(c2);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].xid, r[0].err), (7, ErrorCode::NoNode.code()));
}

#[test]
fn a_watch_event_goes_before_the_reply_of_the_write_that_fired_it() {
    let mut h = Harness::standalone();
    let (c, _) = h.session();
    let r = PathWatchRequest {
        path: "/w".into(),
        watch: true,
    };
    h.request(c, 1, op::EXISTS, r.to_bytes());
    assert_eq!(h.replies(c)[0].err, ErrorCode::NoNode.code());
    h.create(c, 2, "/w");
    h.commit_all();
    let r = h.replies(c);
    assert_eq!(
        r.iter().map(|f| f.xid).collect::<Vec<_>>(),
        vec![xid::NOTIFICATION, 2]
    );
    let ev = WatcherEvent::from_bytes(&r[0].body).unwrap();
    assert_eq!(ev.event_type, event_type::NODE_CREATED);
    assert_eq!(ev.path, "/w");
}

#[test]
fn committed_transactions_apply_in_zxid_order_through_one_path() {
    let mut h = Harness::standalone();
    let (c, _) = h.session();
    h.create(c, 1, "/x");
    h.create(c, 2, "/x");
    let p = h.proposals();
    assert_eq!(p.len(), 2);
    // The first commit alone answers the first write only.
    h.core
        .on_replication(ReplicationMsg::Committed(vec![p[0].clone()]));
    assert_eq!(
        h.replies(c)
            .iter()
            .map(|f| (f.xid, f.err))
            .collect::<Vec<_>>(),
        vec![(1, 0)]
    );
    h.core
        .on_replication(ReplicationMsg::Committed(vec![p[1].clone()]));
    assert_eq!(
        h.replies(c)
            .iter()
            .map(|f| (f.xid, f.err))
            .collect::<Vec<_>>(),
        vec![(2, ErrorCode::NodeExists.code())]
    );
    assert_eq!(h.core.tree.last_processed_zxid(), p[1].0);
}

/// A learner's harness: following in epoch 1.
fn follower() -> Harness {
    let mut h = Harness::new(true, HashMap::new());
    assert_eq!(h.core.role(), Role::Looking);
    h.core.on_replication(ReplicationMsg::Role {
        role: Role::Following,
        epoch: 1,
    });
    h
}

fn forwarded_request(m: &DriverMsg) -> (i64, i32, i32) {
    let DriverMsg::Forward(QuorumPacket::Request { data, .. }) = m else {
        panic!("a forwarded REQUEST");
    };
    let mut r = JuteReader::new(data);
    (
        r.read_i64().unwrap(),
        r.read_i32().unwrap(),
        r.read_i32().unwrap(),
    )
}

/// A transaction as the leader would commit it.
fn leader_txn(zxid: Zxid, client_id: i64, cxid: i32, txn_type: i32, body: TxnBody) -> Bytes {
    Bytes::from(
        Txn {
            header: TxnHeader {
                client_id,
                cxid,
                zxid,
                time: 1,
                txn_type,
            },
            body,
            digest: None,
        }
        .to_bytes(),
    )
}

#[test]
fn a_committed_batch_is_prefetched_by_the_path_each_transaction_names() {
    use super::pipeline::txn_path_hint;
    use zab_core::txn::SetDataTxn;
    let set = leader_txn(
        Zxid(7),
        1,
        1,
        op::SET_DATA,
        TxnBody::SetData(SetDataTxn {
            path: "/zk-load/k1".into(),
            data: Some(Bytes::from_static(b"v")),
            version: 3,
        }),
    );
    assert_eq!(txn_path_hint(&set), Some("/zk-load/k1"));
    let delete = leader_txn(
        Zxid(8),
        1,
        2,
        op::DELETE,
        TxnBody::Delete { path: "/a".into() },
    );
    assert_eq!(txn_path_hint(&delete), Some("/a"));
    let session = leader_txn(
        Zxid(9),
        1,
        0,
        op::CREATE_SESSION,
        TxnBody::CreateSession { timeout_ms: 5000 },
    );
    assert_eq!(txn_path_hint(&session), None, "no path in its body");
    // Cut short: no hint, and no panic.
    assert_eq!(txn_path_hint(&set[..40]), None);
    assert_eq!(txn_path_hint(&set[..20]), None);
}

#[test]
fn a_learner_forwards_writes_and_answers_them_when_they_commit() {
    let mut h = follower();
    let c = h.connect();
    let msgs = h.driver_msgs();
    assert_eq!(msgs.len(), 1);
    let (sid, cxid, op_type) = forwarded_request(&msgs[0]);
    assert_eq!((cxid, op_type), (0, op::CREATE_SESSION));
    assert!(h.proposals().is_empty(), "a learner proposes nothing");
    let z1 = Zxid::new(zab_core::Epoch(1), 1);
    let create_session = leader_txn(
        z1,
        sid,
        0,
        op::CREATE_SESSION,
        TxnBody::CreateSession { timeout_ms: 30_000 },
    );
    h.core
        .on_replication(ReplicationMsg::Committed(vec![(z1, create_session)]));
    let hs = h.sent(c);
    assert_eq!(hs.len(), 1, "the ConnectResponse");

    h.create(c, 5, "/f");
    let msgs = h.driver_msgs();
    assert_eq!(msgs.len(), 1);
    assert_eq!(forwarded_request(&msgs[0]), (sid, 5, op::CREATE));
    assert!(h.replies(c).is_empty());
    let z2 = Zxid::new(zab_core::Epoch(1), 2);
    let body = TxnBody::Create(CreateTxn {
        path: "/f".into(),
        data: Some(Bytes::from_static(b"v")),
        acl: Acl::open_unsafe(),
        ephemeral: false,
        parent_cversion: 1,
    });
    let create = leader_txn(z2, sid, 5, op::CREATE, body);
    h.core
        .on_replication(ReplicationMsg::Committed(vec![(z2, create)]));
    let r = h.replies(c);
    assert_eq!(
        r.iter().map(|f| (f.xid, f.err)).collect::<Vec<_>>(),
        vec![(5, 0)]
    );
    assert_eq!(
        CreateResponse::from_bytes(&r[0].body).unwrap().path,
        "/f".to_string()
    );
}

#[test]
fn a_learner_reports_session_activity_to_the_leader_on_its_tick() {
    let sid = 0x77;
    let mut sessions = HashMap::new();
    sessions.insert(sid, 10_000);
    let mut h2 = Harness::new(true, sessions);
    h2.core.on_replication(ReplicationMsg::Role {
        role: Role::Following,
        epoch: 1,
    });
    // No activity: nothing to report.
    h2.core.expire_sessions();
    assert!(h2.driver_msgs().is_empty());
    // A request of the session marks it active.
    let c = h2.connect();
    h2.driver_msgs();
    let s = h2.core.sessions.get_mut(&sid).unwrap();
    s.conn = Some(c);
    h2.core.conns.get_mut(&c).unwrap().session_id = sid;
    h2.request(c, 1, op::PING, Vec::new());
    h2.core.expire_sessions();
    let msgs = h2.driver_msgs();
    let [DriverMsg::Forward(QuorumPacket::Ping { data, .. })] = &msgs[..] else {
        panic!("one PING with the active sessions");
    };
    let mut expect = Vec::new();
    expect.put_i64(sid);
    expect.put_i32(10_000);
    assert_eq!(&data[..], &expect[..]);
}

/// A leader's harness: leading in epoch 1.
fn leader() -> Harness {
    let mut h = Harness::new(true, HashMap::new());
    h.core.on_replication(ReplicationMsg::Role {
        role: Role::Leading,
        epoch: 1,
    });
    h
}

/// A learner's REQUEST as the leader's driver delivers it.
fn remote(from: u64, session_id: i64, cxid: i32, op_type: i32, body: &[u8]) -> ReplicationMsg {
    let mut data = Vec::new();
    data.put_i64(session_id);
    data.put_i32(cxid);
    data.put_i32(op_type);
    data.extend_from_slice(body);
    ReplicationMsg::Remote {
        from,
        data: Bytes::from(data),
        auth: Vec::new(),
    }
}

#[test]
fn a_leader_numbers_its_proposals_from_its_epoch() {
    let mut h = leader();
    h.core.on_replication(remote(
        2,
        0x42,
        0,
        op::CREATE_SESSION,
        &5000i32.to_be_bytes(),
    ));
    let p = h.proposals();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].0, Zxid::new(zab_core::Epoch(1), 1));
    assert_eq!(txn(&p[0].1).header.client_id, 0x42);
}

#[test]
fn a_write_for_a_session_owned_by_another_learner_is_session_moved() {
    let mut h = leader();
    h.core.on_replication(remote(
        2,
        0x42,
        0,
        op::CREATE_SESSION,
        &5000i32.to_be_bytes(),
    ));
    h.commit_all();
    let r = CreateRequest {
        path: "/m".into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags: 0,
    };
    // Server 2 owns the session: its write goes through.
    h.core
        .on_replication(remote(2, 0x42, 1, op::CREATE, &r.to_bytes()));
    let p = h.proposals();
    assert_eq!(txn(&p[0].1).header.txn_type, op::CREATE);
    // Server 3 does not.
    h.core
        .on_replication(remote(3, 0x42, 2, op::CREATE, &r.to_bytes()));
    let p = h.proposals();
    let t = txn(&p[0].1);
    assert_eq!(t.header.txn_type, op::ERROR);
    assert_eq!(
        t.body,
        TxnBody::Error {
            err: ErrorCode::SessionMoved.code()
        }
    );
}

#[test]
fn leaving_a_role_closes_connections_and_drops_what_was_in_flight() {
    let mut h = leader();
    let c = h.connect();
    assert_eq!(h.proposals().len(), 1, "the createSession");
    assert_eq!(h.core.in_flight.len(), 1);
    h.core.on_replication(ReplicationMsg::Role {
        role: Role::Looking,
        epoch: 1,
    });
    assert_eq!(h.sent(c), vec![None], "closed, nothing answered");
    assert!(h.core.in_flight.is_empty());
    assert_eq!(h.core.role(), Role::Looking);
}

#[test]
fn the_four_letter_words_read_the_view() {
    let mut h = Harness::standalone();
    let (c, _) = h.session();
    h.create(c, 1, "/a");
    let (tx, rx) = std::sync::mpsc::channel();
    let from = "127.0.0.1:50000".parse().unwrap();
    let inspect = move |v: &super::StatsView<'_>| {
        tx.send((
            v.mode(),
            v.outstanding(),
            crate::fourlw::run(v, "srvr", from),
        ))
        .unwrap();
    };
    h.core.on_msg(CoreMsg::Inspect(Box::new(inspect)));
    let (mode, outstanding, srvr) = rx.try_recv().unwrap();
    assert_eq!((mode, outstanding), ("standalone", 1));
    assert!(srvr.contains("Mode: standalone\n"), "{srvr}");
    assert!(srvr.contains("Outstanding: 1\n"), "{srvr}");
}

#[test]
fn counters_reset_only_while_serving() {
    let mut h = Harness::new(true, HashMap::new());
    h.core.stats.packets_received = 5;
    h.core.on_msg(CoreMsg::ResetStats(StatsReset::Server));
    assert_eq!(h.core.stats.packets_received, 5, "looking: not serving");
    let mut h = Harness::standalone();
    h.core.stats.packets_received = 5;
    h.core.on_msg(CoreMsg::ResetStats(StatsReset::Server));
    assert_eq!(h.core.stats.packets_received, 0);
}

#[test]
fn a_session_expires_once_its_timeout_passes_without_a_request() {
    let mut h = Harness::standalone();
    let (c, sid) = h.session();
    h.core.now += Duration::from_millis(20_000);
    h.request(c, 1, op::PING, Vec::new());
    assert_eq!(h.replies(c)[0].xid, xid::PING);
    // 30 s after the ping, not before.
    h.core.now += Duration::from_millis(29_999);
    h.core.expire_sessions();
    assert!(h.proposals().is_empty());
    h.core.now += Duration::from_millis(1);
    h.core.expire_sessions();
    let p = h.proposals();
    assert_eq!(p.len(), 1);
    assert_eq!(
        h.core.metrics.sessions_expired, 1,
        "mntr's stale_sessions_expired"
    );
    let t = txn(&p[0].1);
    assert_eq!(
        (t.header.txn_type, t.header.client_id),
        (op::CLOSE_SESSION, sid)
    );
    h.core.on_replication(ReplicationMsg::Committed(p));
    assert_eq!(h.sent(c), vec![None], "closed once the close commits");
    assert!(!h.core.sessions.contains_key(&sid));
}

#[test]
fn read_only_mode_starts_after_the_grace_period() {
    let mut h = Harness::new(true, HashMap::new());
    h.core.cfg = Arc::new(Config {
        read_only_mode: true,
        ..Config::default()
    });
    assert!(!h.core.read_only());
    // max(2000 ms, tickTime) after the quorum was lost.
    let grace = Duration::from_millis(h.core.cfg.tick_time_ms.max(2000) as u64);
    h.core.now += grace - Duration::from_millis(1);
    assert!(!h.core.read_only());
    h.core.now += Duration::from_millis(1);
    assert!(h.core.read_only());
    assert_eq!(h.core.view().mode(), "read-only");
}

/// Issue 16 item 0: auth is answered with the request's own xid (ZooKeeper's
/// `new ReplyHeader(h.getXid(), ..)`), on success and on failure (then the close).
#[test]
fn auth_reply_carries_the_request_xid() {
    let mut h = Harness::standalone();
    let (c, _) = h.session();
    let auth = |scheme: &str| {
        AuthPacket {
            auth_type: 0,
            scheme: scheme.into(),
            auth: Bytes::from_static(b"u:pw"),
        }
        .to_bytes()
    };
    h.request(c, 5, op::AUTH, auth("digest"));
    let r = h.replies(c);
    assert_eq!(
        r.iter().map(|f| (f.xid, f.err)).collect::<Vec<_>>(),
        vec![(5, 0)]
    );
    h.request(c, 6, op::AUTH, auth("nosuchscheme"));
    let sent = h.sent(c);
    assert_eq!(sent.len(), 2, "the reply, then the close: {sent:?}");
    let f = sent[0].clone().unwrap();
    let hdr = ReplyHeader::read(&mut JuteReader::new(&f[4..])).unwrap();
    assert_eq!((hdr.xid, hdr.err), (6, ErrorCode::AuthFailed.code()));
    assert!(sent[1].is_none());
}

/// `exists` checks READ on a node that is there (ZOOKEEPER-2590, in 3.8.4 and 3.9.2;
/// 3.8.0 to 3.8.3 answer the Stat to anyone), and answers NoNode for a missing one
/// without a check.
#[test]
fn zookeeper_2590_exists_checks_read() {
    let mut h = Harness::standalone();
    let (c, _) = h.session();
    let r = CreateRequest {
        path: "/private".into(),
        data: Some(Bytes::from_static(b"v")),
        acl: vec![Acl {
            perms: zab_core::records::perms::ALL,
            id: zab_core::records::Id::new("digest", "u:BvFaefuhWURhnvpD7ipe45CKTpk="),
        }],
        flags: create_mode::PERSISTENT,
    };
    h.request(c, 1, op::CREATE, r.to_bytes());
    h.commit_all();
    assert_eq!(
        h.replies(c).iter().map(|f| f.err).collect::<Vec<_>>(),
        vec![0]
    );
    let exists = |path: &str| {
        PathWatchRequest {
            path: path.into(),
            watch: false,
        }
        .to_bytes()
    };
    h.request(c, 2, op::EXISTS, exists("/private"));
    h.request(c, 3, op::EXISTS, exists("/private/missing"));
    let r = h.replies(c);
    assert_eq!(
        r.iter().map(|f| (f.xid, f.err)).collect::<Vec<_>>(),
        vec![(2, ErrorCode::NoAuth.code()), (3, ErrorCode::NoNode.code())]
    );
}

/// What the core measures for `mntr`: reads and writes in their own latency
/// summaries, the bytes either way, watchers fired by type, auth failures,
/// connection requests; none of the leader's counts while standalone.
#[test]
fn the_core_counts_what_mntr_reports() {
    let mut h = Harness::standalone();
    let (c, _) = h.session();
    h.create(c, 1, "/a");
    h.commit_all();
    h.get_data(c, 2, "/a", true);
    h.get_data(c, 3, "/missing", false);
    let set = SetDataRequest {
        path: "/a".into(),
        data: Some(Bytes::from_static(b"w")),
        version: -1,
    };
    h.request(c, 4, op::SET_DATA, set.to_bytes());
    h.commit_all();
    let replies = h.replies(c);
    assert_eq!(replies.len(), 5, "four replies and the watch event");
    let m = h.core.view().metrics().clone();
    assert_eq!((m.read_latency.count, m.update_latency.count), (2, 2));
    assert_eq!(m.connection_requests, 1);
    assert_eq!(
        (m.node_changed_watches.count, m.node_changed_watches.sum),
        (1, 1)
    );
    assert_eq!(m.node_created_watches.count, 0);
    assert!(m.response_bytes > 4 * 16, "{}", m.response_bytes);
    assert!(m.bytes_received > 4 * 12, "{}", m.bytes_received);
    assert_eq!((m.proposals, m.commits, m.auth_failed), (0, 0, 0));

    let bad = AuthPacket {
        auth_type: 0,
        scheme: "nosuchscheme".into(),
        auth: Bytes::from_static(b"x"),
    };
    h.request(c, 5, op::AUTH, bad.to_bytes());
    assert_eq!(h.core.view().metrics().auth_failed, 1);

    // srst resets them, as Apache's resets its ServerMetrics.
    h.core.on_msg(CoreMsg::ResetStats(StatsReset::Server));
    let m = h.core.view().metrics();
    assert_eq!(
        (m.read_latency.count, m.auth_failed, m.response_bytes),
        (0, 0, 0)
    );
}

#[test]
fn write_per_namespace_counts_the_path_and_the_data_each_write_wrote() {
    let mut h = Harness::standalone();
    let (c, _) = h.session();
    h.create(c, 1, "/ns"); // "/ns" and "v"
    h.commit_all();
    let set = SetDataRequest {
        path: "/ns".into(),
        data: Some(Bytes::from_static(b"hello")),
        version: -1,
    };
    h.request(c, 2, op::SET_DATA, set.to_bytes()); // "/ns" and "hello"
    h.commit_all();
    // A multi that creates a node and deletes it again: the create still wrote its data.
    let multi = MultiRequest {
        ops: vec![
            MultiOp::Create {
                op_type: op::CREATE,
                req: CreateRequest {
                    path: "/ns/b".into(),
                    data: Some(Bytes::from_static(b"xyz")),
                    acl: Acl::open_unsafe(),
                    flags: create_mode::PERSISTENT,
                },
            },
            MultiOp::Delete(DeleteRequest {
                path: "/ns/b".into(),
                version: -1,
            }),
        ],
    };
    h.request(c, 3, op::MULTI, multi.to_bytes()); // "/ns/b" and "xyz", then "/ns/b"
    h.commit_all();
    let m = h.core.view().metrics().clone();
    let ns = &m.write_per_namespace["ns"];
    assert_eq!((ns.count, ns.sum), (4, (3 + 1) + (3 + 5) + (5 + 3) + 5));
}

/// A standalone core whose JAAS section lists bob, with `enforce` as its enforcement.
fn sasl_harness(enforce: bool) -> Harness {
    use crate::sasl::{Credentials, EnforceAuth, Login, Security};
    let mut h = Harness::standalone();
    let creds = Credentials::from_users([("bob".to_string(), "bobsecret".to_string())]);
    h.core.security = Arc::new(Security {
        login: Some(Login::DigestMd5(Arc::new(creds))),
        enforce: EnforceAuth {
            enabled: enforce,
            schemes: vec!["sasl".into()],
        },
        super_users: vec!["bob".into()],
        ..Security::default()
    });
    h
}

fn sasl(h: &mut Harness, conn: u64, xid: i32, token: &[u8]) {
    let r = SaslRequest {
        token: Bytes::copy_from_slice(token),
    };
    h.request(conn, xid, op::SASL, r.to_bytes());
}

/// The token of a SetSASLResponse body; `None` for the null token.
fn sasl_token(body: &[u8]) -> Option<Vec<u8>> {
    let n = i32::from_be_bytes(body[..4].try_into().unwrap());
    (n >= 0).then(|| body[4..4 + n as usize].to_vec())
}

/// bob's digest-response to `challenge`, as a client computes it.
fn bob_response(challenge: &[u8], password: &str) -> Vec<u8> {
    use crate::sasl::digest_md5::response_value;
    let c = String::from_utf8(challenge.to_vec()).unwrap();
    let nonce = c
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let uri = b"zookeeper/zk-sasl-md5";
    let resp = response_value(
        "bob",
        "zk-sasl-md5",
        password,
        nonce.as_bytes(),
        b"cn",
        None,
        uri,
        "AUTHENTICATE",
    );
    format!(
        "username=\"bob\",realm=\"zk-sasl-md5\",nonce=\"{nonce}\",cnonce=\"cn\",nc=00000001,qop=auth,digest-uri=\"zookeeper/zk-sasl-md5\",response={}",
        String::from_utf8(resp).unwrap()
    )
    .into_bytes()
}

#[test]
fn a_sasl_exchange_gives_the_session_its_id_and_super() {
    let mut h = sasl_harness(false);
    let (c, sid) = h.session();
    sasl(&mut h, c, 7, b"");
    let r = h.replies(c);
    assert_eq!((r.len(), r[0].xid, r[0].err), (1, 7, 0));
    let challenge = sasl_token(&r[0].body).unwrap();
    assert!(challenge.starts_with(b"realm=\"zk-sasl-md5\",nonce=\""));
    sasl(&mut h, c, 8, &bob_response(&challenge, "bobsecret"));
    let r = h.replies(c);
    assert_eq!((r.len(), r[0].xid, r[0].err), (1, 8, 0));
    assert!(sasl_token(&r[0].body).unwrap().starts_with(b"rspauth="));
    let ids = &h.core.sessions[&sid].auth;
    assert!(ids.contains(&zab_core::records::Id::new("sasl", "bob")));
    assert!(ids.contains(&zab_core::records::Id::new("super", "")));
}

#[test]
fn a_wrong_password_is_auth_failed_with_a_null_token_then_the_close() {
    let mut h = sasl_harness(false);
    let (c, sid) = h.session();
    sasl(&mut h, c, 1, b"");
    let challenge = sasl_token(&h.replies(c)[0].body).unwrap();
    sasl(&mut h, c, 2, &bob_response(&challenge, "wrong"));
    let sent = h.sent(c);
    assert_eq!(sent.len(), 2, "the answer, then the close");
    assert!(sent[1].is_none());
    let f = sent[0].clone().unwrap();
    let hdr = ReplyHeader::read(&mut JuteReader::new(&f[4..])).unwrap();
    assert_eq!(
        (hdr.xid, hdr.zxid, hdr.err),
        (2, 0, ErrorCode::AuthFailed.code())
    );
    assert_eq!(&f[4 + 16..], &(-1i32).to_be_bytes());
    assert!(!h.core.sessions[&sid]
        .auth
        .iter()
        .any(|i| i.scheme == "sasl"));
}

#[test]
fn enforced_auth_answers_minus_124_and_closes_until_sasl_succeeds() {
    let mut h = sasl_harness(true);
    let (c, _) = h.session();
    h.get_data(c, 3, "/", false);
    let sent = h.sent(c);
    assert_eq!(sent.len(), 2, "the answer, then the close");
    assert!(sent[1].is_none());
    let f = sent[0].clone().unwrap();
    let hdr = ReplyHeader::read(&mut JuteReader::new(&f[4..])).unwrap();
    assert_eq!(
        (hdr.xid, hdr.zxid, hdr.err),
        (3, 0, ErrorCode::SessionClosedRequireSaslAuth.code())
    );
    assert_eq!(f.len(), 4 + 16, "no body");
    // A failed exchange is -124 too when SASL is required.
    let (c, _) = h.session();
    sasl(&mut h, c, 1, b"");
    h.replies(c);
    sasl(&mut h, c, 2, b"garbage");
    let sent = h.sent(c);
    let f = sent[0].clone().unwrap();
    let hdr = ReplyHeader::read(&mut JuteReader::new(&f[4..])).unwrap();
    assert_eq!(hdr.err, ErrorCode::SessionClosedRequireSaslAuth.code());
    assert!(sent[1].is_none());
    // Authenticated, the same session is served.
    let (c, _) = h.session();
    sasl(&mut h, c, 1, b"");
    let challenge = sasl_token(&h.replies(c)[0].body).unwrap();
    sasl(&mut h, c, 2, &bob_response(&challenge, "bobsecret"));
    h.replies(c);
    h.get_data(c, 3, "/", false);
    let r = h.replies(c);
    assert_eq!((r.len(), r[0].xid, r[0].err), (1, 3, 0));
}

#[test]
fn x509_ids_belong_to_the_connection_that_proved_them() {
    use zab_core::records::Id;
    let mut h = Harness::standalone();
    let ids = vec![Id::new("super", "CN=admin"), Id::new("x509", "CN=admin")];
    let c = h.connect_as(ids.clone(), 0, Bytes::from(vec![0u8; 16]));
    h.commit_all();
    let resp = ConnectResponse::from_bytes(&h.sent(c)[0].clone().unwrap()[4..]).unwrap();
    let sid = resp.session_id;
    let ip = Id::new("ip", "127.0.0.1");
    let mut want = vec![ip.clone()];
    want.extend(ids.clone());
    assert_eq!(h.core.sessions[&sid].auth, want);
    // The same session over a connection without a certificate: no x509 ids left.
    let c2 = h.connect_as(Vec::new(), sid, resp.passwd.clone());
    assert_eq!(h.sent(c2).len(), 1, "reconnected");
    assert_eq!(h.core.sessions[&sid].auth, vec![ip.clone()]);
    // And over one with another certificate: that one's.
    let bob = Id::new("x509", "CN=bob");
    h.connect_as(vec![bob.clone()], sid, resp.passwd);
    assert_eq!(h.core.sessions[&sid].auth, vec![ip, bob]);
}

// ---- local sessions (localSessionsEnabled) ----

/// Server 1 in `role` with local sessions on; `upgrading`: localSessionsUpgradingEnabled.
fn local_sessions(role: Role, upgrading: bool) -> Harness {
    let cfg = Config {
        local_sessions_enabled: true,
        local_sessions_upgrading_enabled: upgrading,
        ..Config::default()
    };
    let mut h = Harness::with_config(true, HashMap::new(), cfg);
    h.core
        .on_replication(ReplicationMsg::Role { role, epoch: 1 });
    h
}

fn create_with(h: &mut Harness, conn: u64, xid: i32, path: &str, flags: i32) {
    let r = CreateRequest {
        path: path.into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags,
    };
    h.request(conn, xid, op::CREATE, r.to_bytes());
}

fn session_counts(h: &Harness) -> (usize, usize) {
    let v = h.core.view();
    (
        v.local_session_count(),
        v.session_count() - v.local_session_count(),
    )
}

#[test]
fn a_local_session_is_answered_at_once_and_upgrades_on_its_first_ephemeral() {
    let mut h = local_sessions(Role::Following, true);
    let c = h.connect();
    let hs = h.sent(c);
    assert_eq!(hs.len(), 1, "the ConnectResponse, with no transaction");
    let sid = ConnectResponse::from_bytes(&hs[0].clone().unwrap()[4..])
        .unwrap()
        .session_id;
    assert!(h.driver_msgs().is_empty(), "nothing asked of the leader");
    assert_eq!(session_counts(&h), (1, 0));

    // A persistent create goes to the leader as any write.
    create_with(&mut h, c, 1, "/p", create_mode::PERSISTENT);
    let msgs = h.driver_msgs();
    assert_eq!(msgs.len(), 1);
    assert_eq!(forwarded_request(&msgs[0]), (sid, 1, op::CREATE));

    // An ephemeral: the session's createSession first, then the create.
    create_with(&mut h, c, 2, "/e", create_mode::EPHEMERAL);
    let msgs = h.driver_msgs();
    assert_eq!(msgs.len(), 2);
    assert_eq!(forwarded_request(&msgs[0]), (sid, 0, op::CREATE_SESSION));
    assert_eq!(forwarded_request(&msgs[1]), (sid, 2, op::CREATE));
    assert_eq!(session_counts(&h), (0, 1), "global from now on");

    // A second ephemeral: no second upgrade.
    create_with(&mut h, c, 3, "/e2", create_mode::EPHEMERAL_SEQUENTIAL);
    let msgs = h.driver_msgs();
    assert_eq!(msgs.len(), 1);
    assert_eq!(forwarded_request(&msgs[0]), (sid, 3, op::CREATE));
}

#[test]
fn without_upgrading_an_ephemeral_is_refused_and_the_close_stays_local() {
    let mut h = local_sessions(Role::Following, false);
    let c = h.connect();
    h.sent(c);
    create_with(&mut h, c, 1, "/e", create_mode::EPHEMERAL);
    let r = h.replies(c);
    assert_eq!(
        r.iter().map(|f| (f.xid, f.err)).collect::<Vec<_>>(),
        vec![(1, ErrorCode::EphemeralOnLocalSession.code())]
    );
    assert!(h.driver_msgs().is_empty());
    assert_eq!(session_counts(&h), (1, 0));

    h.request(c, 2, op::CLOSE_SESSION, Vec::new());
    let sent = h.sent(c);
    assert_eq!(
        sent.len(),
        2,
        "the close's reply, then the connection closed"
    );
    assert!(sent[1].is_none());
    assert!(
        h.driver_msgs().is_empty(),
        "no closeSession through the quorum"
    );
    assert_eq!(session_counts(&h), (0, 0));
}

#[test]
fn a_refused_ephemeral_is_answered_after_the_writes_sent_before_it() {
    let mut h = local_sessions(Role::Following, false);
    let c = h.connect();
    let hs = h.sent(c);
    let sid = ConnectResponse::from_bytes(&hs[0].clone().unwrap()[4..])
        .unwrap()
        .session_id;
    create_with(&mut h, c, 1, "/p", create_mode::PERSISTENT);
    create_with(&mut h, c, 2, "/e", create_mode::EPHEMERAL);
    assert!(h.replies(c).is_empty(), "held behind the create in flight");
    h.driver_msgs();
    let z = Zxid::new(zab_core::Epoch(1), 1);
    let body = TxnBody::Create(CreateTxn {
        path: "/p".into(),
        data: None,
        acl: Acl::open_unsafe(),
        ephemeral: false,
        parent_cversion: 1,
    });
    let t = leader_txn(z, sid, 1, op::CREATE, body);
    h.core
        .on_replication(ReplicationMsg::Committed(vec![(z, t)]));
    let r = h.replies(c);
    assert_eq!(
        r.iter().map(|f| (f.xid, f.err)).collect::<Vec<_>>(),
        vec![(1, 0), (2, ErrorCode::EphemeralOnLocalSession.code())]
    );
}

#[test]
fn a_local_session_is_unknown_to_other_servers_and_ends_with_the_role() {
    let mut h = local_sessions(Role::Following, true);
    let c = h.connect();
    let hs = h.sent(c);
    let resp = ConnectResponse::from_bytes(&hs[0].clone().unwrap()[4..]).unwrap();
    // A reconnect here: no REVALIDATE, answered at once.
    let c2 = h.connect_as(Vec::new(), resp.session_id, resp.passwd.clone());
    let hs = h.sent(c2);
    let again = ConnectResponse::from_bytes(&hs[0].clone().unwrap()[4..]).unwrap();
    assert_eq!(again.session_id, resp.session_id);
    assert!(h.driver_msgs().is_empty());
    // Its requests are not reported to the leader.
    h.request(c2, 1, op::PING, Vec::new());
    h.core.expire_sessions();
    assert!(h.driver_msgs().is_empty());
    // A new role: gone (a reconnect is SessionExpired).
    h.core.on_replication(ReplicationMsg::Role {
        role: Role::Looking,
        epoch: 1,
    });
    assert_eq!(session_counts(&h), (0, 0));
}

#[test]
fn a_local_session_expires_on_its_own_server_without_a_transaction() {
    let mut h = local_sessions(Role::Leading, true);
    let c = h.connect();
    h.sent(c);
    assert_eq!(session_counts(&h), (1, 0));
    h.core.now += Duration::from_secs(31);
    h.core.expire_sessions();
    assert!(h.proposals().is_empty(), "no closeSession proposed");
    assert_eq!(session_counts(&h), (0, 0));
    assert_eq!(h.sent(c).last(), Some(&None), "its connection closed");
}

#[test]
fn the_leader_upgrades_its_own_local_session_and_passes_other_servers_ones() {
    let mut h = local_sessions(Role::Leading, true);
    let c = h.connect();
    let hs = h.sent(c);
    let sid = ConnectResponse::from_bytes(&hs[0].clone().unwrap()[4..])
        .unwrap()
        .session_id;
    assert!(h.proposals().is_empty());
    create_with(&mut h, c, 1, "/e", create_mode::EPHEMERAL);
    let p = h.proposals();
    let types: Vec<(i64, i32)> = p
        .iter()
        .map(|(_, b)| {
            let t = txn(b);
            (t.header.client_id, t.header.txn_type)
        })
        .collect();
    assert_eq!(types, vec![(sid, op::CREATE_SESSION), (sid, op::CREATE)]);

    // A write for a session server 2 made (local there, unknown here) goes through; one
    // for an unknown session this server made is SessionExpired.
    let r = CreateRequest {
        path: "/from2".into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags: create_mode::PERSISTENT,
    };
    let theirs = (2i64 << 56) | 7;
    let mine = (1i64 << 56) | 0x7777;
    h.core
        .on_replication(remote(2, theirs, 1, op::CREATE, &r.to_bytes()));
    h.core
        .on_replication(remote(2, mine, 1, op::CREATE, &r.to_bytes()));
    let p = h.proposals();
    let types: Vec<i32> = p.iter().map(|(_, b)| txn(b).header.txn_type).collect();
    assert_eq!(types, vec![op::CREATE, op::ERROR]);
}

#[test]
fn a_learners_upgrade_and_its_ephemeral_reach_the_leader_back_to_back() {
    let mut h = local_sessions(Role::Leading, true);
    let sid = (2i64 << 56) | 9;
    let r = CreateRequest {
        path: "/e".into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags: create_mode::EPHEMERAL,
    };
    h.core.on_replication(remote(
        2,
        sid,
        0,
        op::CREATE_SESSION,
        &30_000i32.to_be_bytes(),
    ));
    // The createSession is not committed yet; the ephemeral is prepared as the session's.
    h.core
        .on_replication(remote(2, sid, 3, op::CREATE, &r.to_bytes()));
    let p = h.proposals();
    let types: Vec<(i64, i32)> = p
        .iter()
        .map(|(_, b)| {
            let t = txn(b);
            (t.header.client_id, t.header.txn_type)
        })
        .collect();
    assert_eq!(types, vec![(sid, op::CREATE_SESSION), (sid, op::CREATE)]);
    // A learner's local session (never upgraded) may not hold one: SessionExpired.
    let other = (3i64 << 56) | 1;
    h.core
        .on_replication(remote(3, other, 1, op::CREATE, &r.to_bytes()));
    let p = h.proposals();
    assert_eq!(txn(&p[0].1).header.txn_type, op::ERROR);
}

/// A request as connection `conn` hands it to the core, `body` its jute bytes.
fn conn_request(conn: u64, xid: i32, op_type: i32, body: Vec<u8>) -> Request {
    let body = Bytes::from(body);
    Request {
        session_id: 0,
        conn_id: conn,
        xid,
        op_type,
        op: Op::parse(op_type, &body).unwrap(),
        body,
        read_at: std::time::Instant::now(),
    }
}

#[test]
fn a_batch_of_requests_is_answered_in_order_in_one_buffer() {
    let mut h = Harness::standalone();
    let (c, _) = h.session();
    h.create(c, 1, "/a");
    h.commit_all();
    assert_eq!(h.replies(c).len(), 1);
    // One read's worth of requests from the connection: three reads around a write.
    let req = |xid: i32, op_type: i32, body: Vec<u8>| conn_request(c, xid, op_type, body);
    let get = PathWatchRequest {
        path: "/a".into(),
        watch: false,
    }
    .to_bytes();
    let set = SetDataRequest {
        path: "/a".into(),
        data: Some(Bytes::from_static(b"w")),
        version: -1,
    }
    .to_bytes();
    h.core.on_msg(CoreMsg::Requests(vec![
        req(2, op::GET_DATA, get.clone()),
        req(3, op::GET_DATA, get.clone()),
        req(4, op::SET_DATA, set),
        req(5, op::GET_DATA, get),
    ]));
    h.core.flush_replies();
    // The two reads before the write are answered; they go to the writer as one buffer.
    let rx = h.conns.get_mut(&c).unwrap();
    let Ok(Out::Frame(buf)) = rx.try_recv() else {
        panic!("one buffer queued")
    };
    assert!(rx.try_recv().is_err(), "and only one");
    let len = |b: &[u8]| 4 + i32::from_be_bytes(b[..4].try_into().unwrap()) as usize;
    let first = len(&buf);
    assert_eq!(first + len(&buf[first..]), buf.len(), "two frames");
    let xid = |b: &[u8]| i32::from_be_bytes(b[4..8].try_into().unwrap());
    assert_eq!((xid(&buf), xid(&buf[first..])), (2, 3));
    // The read after the write waits for it, then comes after its reply.
    h.commit_all();
    let r = h.replies(c);
    assert_eq!(
        r.iter().map(|f| (f.xid, f.err)).collect::<Vec<_>>(),
        vec![(4, 0), (5, 0)]
    );
    let d = GetDataResponse::from_bytes(&r[1].body).unwrap();
    assert_eq!(d.data.as_deref(), Some(&b"w"[..]));
}

/// Apache's request processors' figures at our pipeline's matching points, on a
/// leader: prep takes every request (the session's creation too) and records its
/// change records; the commit path (an ensemble's only) counts each commit, the
/// reads a write held and released, and which writes were this server's clients'.
#[test]
fn a_leader_measures_its_pipeline_as_apaches_processors_do() {
    let mut h = leader();
    // A learner's session, committed with ours in one batch.
    let theirs = 0x99;
    let create_session = 5000i32.to_be_bytes();
    h.core
        .on_replication(remote(2, theirs, 0, op::CREATE_SESSION, &create_session));
    let (c, _) = h.session();
    h.create(c, 1, "/a");
    // Held behind the write, answered once it commits.
    h.get_data(c, 2, "/a", false);
    h.get_data(c, 3, "/a", false);
    // The learner's write: another server's.
    let r = CreateRequest {
        path: "/b".into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags: 0,
    };
    h.core
        .on_replication(remote(2, theirs, 1, op::CREATE, &r.to_bytes()));
    h.commit_all();
    assert_eq!(h.replies(c).len(), 3);
    // A read with nothing in flight: answered at once.
    h.get_data(c, 4, "/b", false);
    let m = h.core.view().metrics().clone();
    let p = &m.pipeline;
    // Both createSessions, the creates, three reads.
    assert_eq!(p.prep_queued, 7);
    assert_eq!(
        p.prep_queue_time.count, 4,
        "a client's requests, as prep takes them"
    );
    assert_eq!(p.prep_process_time.count, 1);
    assert_eq!(p.proposal_process_time.count, 1);
    // Each create adds its node and its parent; applied, both go.
    assert_eq!(
        (p.outstanding_changes_queued, p.outstanding_changes_removed),
        (4, 4)
    );
    // Two batches of two commits.
    assert_eq!(p.commits_received, 4);
    assert_eq!(
        (
            p.write_commit_proc_issued.count,
            p.write_commit_proc_issued.sum
        ),
        (2, 4)
    );
    assert_eq!(p.empty_pool_wait.count, 2);
    assert_eq!(
        (p.reads_after_write.count, p.reads_after_write.sum),
        (1, 2),
        "the create released both reads"
    );
    assert_eq!(p.session_queues_drained.sum, 1);
    assert_eq!(p.reads_issued_from_session_queue.sum, 2);
    assert_eq!(p.read_commitproc_time.count, 3);
    assert_eq!(p.read_final_proc_time.count, 3);
    assert_eq!(p.write_final_proc_time.count, 4);
    // On a leader every write is local, a learner's too (Apache's leader passes
    // them through its CommitProcessor as requests).
    assert_eq!(p.local_write_committed_time.count, 4);
    assert_eq!(p.server_write_committed_time.count, 0);
    assert_eq!(p.write_commitproc_time.count, 1);
    assert_eq!(p.propagation_latency.count, 4);
    assert_eq!(p.commit_propagation_latency.count, 0, "a learner's only");
    // The create joined the session's queue (1), each read behind it (2, 3), and
    // the create was taken off it at its commit (3).
    let q = &p.requests_in_session_queue;
    assert_eq!((q.count, q.max), (4, 3));
    // One session with a queue (ours) as its creation and as its create commit;
    // none once the create is answered.
    let s = &p.pending_session_queues;
    assert_eq!((s.count, s.sum), (2, 2));
    assert!(h.core.pending_sessions.is_empty());
    assert_eq!(p.stale_replies, 0);

    // srst resets them.
    h.core.on_msg(CoreMsg::ResetStats(StatsReset::Server));
    let p = &h.core.view().metrics().pipeline;
    assert_eq!((p.prep_queued, p.commits_received), (0, 0));
}

/// Standalone there is no CommitProcessor (Apache's pipeline is prep, sync, final):
/// its figures stay empty, prep's and the final stage's latency do not.
#[test]
fn standalone_has_no_commit_processor_figures() {
    let mut h = Harness::standalone();
    let (c, _) = h.session();
    h.create(c, 1, "/a");
    h.commit_all();
    let p = &h.core.view().metrics().pipeline;
    assert_eq!(p.prep_queued, 2);
    assert_eq!(p.propagation_latency.count, 2);
    assert_eq!((p.commits_received, p.write_final_proc_time.count), (0, 0));
}

/// What the tracing subscriber writes, for tests that check a log line.
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `digest_mismatches_count` as mntr reports it.
fn digest_mismatches(h: &Harness) -> i64 {
    let m = crate::metrics::collect(&h.core.view());
    let m = m
        .iter()
        .find(|m| m.name == "digest_mismatches_count")
        .expect("the metric");
    match m.value {
        crate::metrics::Value::Int(n) => n,
        ref v => panic!("{v:?}"),
    }
}

/// `txn` with the digest `d` (version, value), as a leader would commit it.
fn with_digest(mut txn: Txn, d: Option<(i32, u64)>) -> Bytes {
    txn.digest = d.map(|(version, v)| zab_core::txn::TxnDigest {
        version,
        tree_digest: v as i64,
    });
    Bytes::from(txn.to_bytes())
}

fn create_txn(zxid: Zxid, path: &str) -> Txn {
    Txn {
        header: TxnHeader {
            client_id: 0,
            cxid: 0,
            zxid,
            time: 1,
            txn_type: op::CREATE,
        },
        body: TxnBody::Create(CreateTxn {
            path: path.into(),
            data: Some(Bytes::from_static(b"v")),
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_cversion: -1,
        }),
        digest: None,
    }
}

/// Apache's digest of a fresh tree after `txns`.
fn digest_after(txns: &[&Txn]) -> u64 {
    let mut t = DataTree::new(false);
    for x in txns {
        t.apply(x, &mut Vec::new());
    }
    t.apache_digest()
}

#[test]
fn a_learner_counts_a_wrong_digest_once_logs_it_and_applies_the_txn_unchanged() {
    let log = LogBuf::default();
    let sink = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let mut h = follower();
    let z1 = Zxid::new(zab_core::Epoch(1), 1);
    let z2 = Zxid::new(zab_core::Epoch(1), 2);
    let (a, b) = (create_txn(z1, "/a"), create_txn(z2, "/b"));
    let right = digest_after(&[&a]);
    let wrong = digest_after(&[&a, &b]) ^ 1;
    tracing::subscriber::with_default(subscriber, || {
        h.core.on_replication(ReplicationMsg::Committed(vec![
            (z1, with_digest(a.clone(), Some((2, right)))),
            (z2, with_digest(b.clone(), Some((2, wrong)))),
        ]));
    });
    assert_eq!(digest_mismatches(&h), 1);
    assert_eq!(h.core.digest_check.compared, 2);
    // Applied exactly as without a digest.
    assert_eq!(h.core.tree.apache_digest(), digest_after(&[&a, &b]));
    assert!(h.core.tree.get("/b").is_some());
    assert_eq!(h.core.tree.last_processed_zxid(), z2);
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("digest mismatch"))
        .expect("the mismatch is logged");
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains(&z2.to_string()), "{line}");
    assert!(line.contains(&format!("{wrong:#x}")), "{line}");
    assert!(
        line.contains(&format!("{:#x}", digest_after(&[&a, &b]))),
        "{line}"
    );
}

#[test]
fn a_learner_compares_no_digest_through_the_snapshot_window_nor_of_another_version() {
    let mut h = follower();
    let z = |n| Zxid::new(zab_core::Epoch(1), n);
    h.core.skip_digests_through(z(2));
    let txns: Vec<Txn> = (1..=4)
        .map(|n| create_txn(z(n), &format!("/n{n}")))
        .collect();
    let bad = |n: usize, version| {
        let upto: Vec<&Txn> = txns[..n].iter().collect();
        Some((version, digest_after(&upto) ^ 0xff))
    };
    h.core.on_replication(ReplicationMsg::Committed(vec![
        (z(1), with_digest(txns[0].clone(), bad(1, 2))),
        (z(2), with_digest(txns[1].clone(), bad(2, 2))),
        (z(3), with_digest(txns[2].clone(), bad(3, 1))),
    ]));
    assert_eq!(digest_mismatches(&h), 0, "in the window, or version 1");
    assert_eq!(h.core.digest_check.compared, 0);
    // Past the window, version 2 is compared.
    h.core.on_replication(ReplicationMsg::Committed(vec![(
        z(4),
        with_digest(txns[3].clone(), bad(4, 2)),
    )]));
    assert_eq!(digest_mismatches(&h), 1);
    assert_eq!(
        h.core.tree.node_count(),
        4 + 4,
        "the system nodes and /n1../n4"
    );
}

/// Each proposal carries Apache's digest of the tree once it applies, and the
/// server itself finds it so (as Apache's leader compares its own).
#[test]
fn proposals_carry_the_digest_of_the_tree_after_them_and_none_when_digests_are_off() {
    let mut h = Harness::standalone();
    let c = h.connect();
    h.commit_all();
    h.create(c, 1, "/x");
    h.create(c, 2, "/x/y");
    h.create(c, 3, "/x");
    let p = h.proposals();
    assert_eq!(p.len(), 3);
    let digests: Vec<_> = p
        .iter()
        .map(|(_, b)| Txn::from_bytes(b).unwrap().digest)
        .collect();
    assert!(digests[0].is_some() && digests[1].is_some());
    assert_eq!(digests[2], None, "NodeExists: an error txn carries none");
    h.core
        .on_replication(ReplicationMsg::Committed(p[..1].to_vec()));
    assert_eq!(
        digests[0].unwrap().tree_digest as u64,
        h.core.tree.apache_digest()
    );
    h.core
        .on_replication(ReplicationMsg::Committed(p[1..].to_vec()));
    assert_eq!(
        digests[1].unwrap().tree_digest as u64,
        h.core.tree.apache_digest()
    );
    assert_eq!(
        h.core.digest_check.compared, 3,
        "the session and both creates"
    );
    assert_eq!(digest_mismatches(&h), 0);

    let mut cfg = Config::default();
    cfg.system_props
        .insert("zookeeper.digest.enabled".into(), "false".into());
    let mut h = Harness::with_config(false, HashMap::new(), cfg);
    let c = h.connect();
    h.create(c, 1, "/x");
    let p = h.proposals();
    assert_eq!(p.len(), 2);
    assert!(p
        .iter()
        .all(|(_, b)| Txn::from_bytes(b).unwrap().digest.is_none()));
    // Nor is a digest that comes compared.
    let z = h.core.tree.last_processed_zxid();
    let t = create_txn(Zxid(z.0 + 10), "/other");
    h.core.on_replication(ReplicationMsg::Committed(p));
    h.core.on_replication(ReplicationMsg::Committed(vec![(
        t.header.zxid,
        with_digest(t, Some((2, 1))),
    )]));
    assert_eq!(h.core.digest_check.compared, 0);
    assert_eq!(digest_mismatches(&h), 0);
}

/// Reads that arrive together (one `CoreMsg::Requests`, whose paths the core prefetches
/// before answering) get exactly the replies they get one at a time; getData's reply,
/// encoded straight from the tree, tells null data (length -1) from empty data.
#[test]
fn reads_that_arrive_together_are_answered_as_each_alone() {
    let mut h = Harness::standalone();
    let (c, _) = h.session();
    let create = |path: &str, data: Option<&'static [u8]>| CreateRequest {
        path: path.into(),
        data: data.map(Bytes::from_static),
        acl: Acl::open_unsafe(),
        flags: create_mode::PERSISTENT,
    };
    let nodes: [(&str, Option<&'static [u8]>); 4] = [
        ("/a", Some(b"one")),
        ("/a/b", Some(b"")),
        ("/n", None),
        ("/z", Some(b"last")),
    ];
    for (i, (path, data)) in nodes.iter().enumerate() {
        h.request(c, i as i32 + 1, op::CREATE, create(path, *data).to_bytes());
    }
    h.commit_all();
    assert_eq!(h.replies(c).len(), nodes.len());
    let reads: Vec<(i32, &str)> = vec![
        (op::GET_DATA, "/a"),
        (op::GET_DATA, "/a/b"),
        (op::GET_DATA, "/n"),
        (op::GET_DATA, "/missing"),
        (op::EXISTS, "/z"),
        (op::GET_CHILDREN, "/a"),
        (op::GET_DATA, "/"),
        (op::GET_DATA, "/z"),
    ];
    let req = |xid: i32, op_type: i32, path: &str| {
        let body = PathWatchRequest {
            path: path.into(),
            watch: false,
        };
        conn_request(c, xid, op_type, body.to_bytes())
    };
    for (i, (op_type, path)) in reads.iter().enumerate() {
        h.core
            .on_msg(CoreMsg::Request(req(100 + i as i32, *op_type, path)));
    }
    let alone = h.replies(c);
    let batch = reads
        .iter()
        .enumerate()
        .map(|(i, (op_type, path))| req(100 + i as i32, *op_type, path))
        .collect();
    h.core.on_msg(CoreMsg::Requests(batch));
    let together = h.replies(c);
    let frames = |r: &[Frame]| {
        r.iter()
            .map(|f| (f.xid, f.err, f.body.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(frames(&together), frames(&alone));
    assert_eq!(alone.len(), reads.len());
    let data = |i: usize| GetDataResponse::from_bytes(&alone[i].body).unwrap().data;
    assert_eq!(data(0).as_deref(), Some(&b"one"[..]));
    assert_eq!(data(1).as_deref(), Some(&b""[..]), "empty, not null");
    assert_eq!(data(2), None, "null data");
    assert_eq!(&alone[2].body[..4], &(-1i32).to_be_bytes());
    assert_eq!(alone[3].err, ErrorCode::NoNode.code());
    assert_eq!(data(7).as_deref(), Some(&b"last"[..]));
    let stat = GetDataResponse::from_bytes(&alone[7].body).unwrap().stat;
    assert_eq!(stat.data_length, 4);
}

/// The core's loop takes several messages from its inbox at once, but never so many
/// that the in-flight cap is passed by a message's worth of requests or more.
#[test]
fn the_inbox_is_taken_in_lots_the_in_flight_cap_has_room_for() {
    use super::{inbox_lot, MAX_IN_FLIGHT, REQUESTS_PER_MESSAGE, TAKE_AT_ONCE};
    // With nothing in flight, as many as the cap has room for: 10,000 / 64.
    assert_eq!(inbox_lot(0), 157);
    for in_flight in (0..MAX_IN_FLIGHT)
        .step_by(7)
        .chain(MAX_IN_FLIGHT - 70..MAX_IN_FLIGHT)
    {
        let lot = inbox_lot(in_flight);
        assert!((1..=TAKE_AT_ONCE).contains(&lot), "{in_flight}: {lot}");
        assert!(
            in_flight + lot * REQUESTS_PER_MESSAGE < MAX_IN_FLIGHT + REQUESTS_PER_MESSAGE,
            "{in_flight}: {lot}"
        );
    }
    // Past the cap (the branch is off, but its limit is still computed): no overflow.
    assert_eq!(inbox_lot(MAX_IN_FLIGHT + 63), 1);
}
