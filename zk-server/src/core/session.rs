//! Sessions and connections: the handshake (new sessions and reconnects),
//! closed connections, session expiry, and the periodic removal of empty
//! containers and expired TTL nodes.
//!
//! Creating and closing a session are transactions like any write (they go
//! through [`super::pipeline`]); a learner asks the leader to create them and
//! to revalidate reconnects.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use zab_core::jute::Record;
use zab_core::proto::*;
use zab_core::records::Id;
use zab_core::txn::{Txn, TxnBody, TxnHeader};
use zab_core::Zxid;

use super::pipeline::{request_packet, Held, Origin};
use super::role::RoleState;
use super::{now_ms, Core};
use crate::conn::{ConnHandle, Out};
use crate::prep::PrepCtx;
use crate::replicate::DriverMsg;

use crate::tree::EphemeralKind;

/// A client connection as the core knows it, with the figures `cons` prints.
pub(super) struct Conn {
    pub(super) handle: ConnHandle,
    pub(super) session_id: i64,
    pub(super) established: Instant,
    pub(super) received: u64,
    pub(super) sent: u64,
    pub(super) last_op: &'static str,
    pub(super) last_cxid: i32,
    pub(super) last_zxid: i64,
    pub(super) last_latency_ms: u64,
    pub(super) min_latency_ms: u64,
    pub(super) max_latency_ms: u64,
    pub(super) total_latency_ms: u64,
    /// When the last reply went out, in ms of `Core::started`'s clock (0: none since
    /// the stats were reset), as `cons` prints `lresp`.
    pub(super) last_response_ms: u64,
    /// This connection's SASL exchange, from its first sasl request on.
    pub(super) sasl: Option<Box<dyn crate::sasl::Mechanism>>,
    /// Replies and events of this turn of the core's loop, not yet queued to the
    /// writer: they go as one buffer, one wakeup of the writer and one write
    /// (`Core::flush_replies`).
    pub(super) pending: Pending,
    /// Listed in `Core::urgent` this turn: a reply is pending, so this connection's
    /// writer is woken before those that only have watch events.
    pub(super) urgent: bool,
}

/// Pending replies of one connection past this many bytes go to its writer at once.
const PENDING_FLUSH: usize = 256 << 10;

/// What one connection has pending in this turn. A lone frame (the usual case: one
/// reply, or one watch event whose encoding all its watchers share) is queued as it
/// is, without a copy; a second frame starts a buffer that the rest are appended to.
#[derive(Default)]
pub(super) enum Pending {
    #[default]
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl Pending {
    fn is_empty(&self) -> bool {
        matches!(self, Pending::Empty)
    }

    fn len(&self) -> usize {
        match self {
            Pending::Empty => 0,
            Pending::One(b) => b.len(),
            Pending::Many(b) => b.len(),
        }
    }

    fn push(&mut self, f: Bytes) {
        match std::mem::take(self) {
            Pending::Empty => *self = Pending::One(f),
            Pending::One(first) => {
                let mut b = BytesMut::with_capacity(first.len() + f.len());
                b.extend_from_slice(&first);
                b.extend_from_slice(&f);
                *self = Pending::Many(b);
            }
            Pending::Many(mut b) => {
                b.extend_from_slice(&f);
                *self = Pending::Many(b);
            }
        }
    }

    fn take(&mut self) -> Option<Bytes> {
        match std::mem::take(self) {
            Pending::Empty => None,
            Pending::One(b) => Some(b),
            Pending::Many(b) => Some(b.freeze()),
        }
    }
}

/// A session: its identities, its connection (if any), and its requests in order.
pub(super) struct Session {
    pub(super) timeout_ms: i32,
    pub(super) passwd: [u8; 16],
    pub(super) expires_at: Instant,
    pub(super) closing: bool,
    pub(super) auth: Vec<Id>,
    pub(super) conn: Option<u64>,
    /// Reads waiting for the writes of the same session sent before them.
    pub(super) queue: VecDeque<Held>,
    /// Writes gone in flight and writes answered, counted since the session began
    /// (or since the last role change); both only grow.
    pub(super) writes_started: u64,
    pub(super) writes_done: u64,
    /// Known to this server only, with no createSession transaction: made in read-only
    /// mode (gone with the mode), or a local session (`localSessionsEnabled`, see
    /// [`super::local`]; gone with the role, global once upgraded).
    pub(super) local: bool,
}

impl Session {
    /// A session known from the log, a snapshot or another server's transaction:
    /// no connection yet; it expires unless its client comes back in time.
    pub(super) fn restored(id: i64, timeout_ms: i32, now: Instant) -> Session {
        Session {
            timeout_ms,
            passwd: password(id),
            expires_at: now + Duration::from_millis(timeout_ms as u64),
            closing: false,
            auth: Vec::new(),
            conn: None,
            queue: VecDeque::new(),
            writes_started: 0,
            writes_done: 0,
            local: false,
        }
    }

    /// A write of this session goes in flight (proposed, or forwarded to the leader).
    pub(super) fn start_write(&mut self) {
        self.writes_started += 1;
    }

    /// The oldest write in flight is answered (writes of a session finish in order).
    pub(super) fn finish_write(&mut self) {
        self.writes_done = (self.writes_done + 1).min(self.writes_started);
    }

    pub(super) fn writes_in_flight(&self) -> bool {
        self.writes_done < self.writes_started
    }

    /// A write in flight or a read held: Apache's CommitProcessor would keep a queue
    /// for this session (`pending_session_queue_size`).
    pub(super) fn pending(&self) -> bool {
        self.writes_in_flight() || !self.queue.is_empty()
    }
}

/// A session's own transaction (createSession, closeSession on expiry): no
/// request behind it, so cxid 0, and the time is now.
pub(super) fn session_txn(id: i64, zxid: Zxid, txn_type: i32, body: TxnBody) -> Txn {
    Txn {
        header: TxnHeader {
            client_id: id,
            cxid: 0,
            zxid,
            time: now_ms(),
            txn_type,
        },
        body,
        digest: None,
    }
}

impl Core {
    // ---- connections and sessions ----

    /// Queues a frame to a connection: appended to what this turn of the core's loop
    /// already has for it, handed to the writer by `flush_replies` at the end of the
    /// turn (or at once past `PENDING_FLUSH` bytes, so that the connection's limits in
    /// `ConnHandle::queue_frame` still apply).
    ///
    /// A reply (anything but a watch event, see [`Core::send_event_frame`]) marks its
    /// connection urgent: its writer is woken before the writers that only carry
    /// events, so a setData that fires 10,000 watches is not answered after all of them.
    pub(super) fn send(&mut self, conn_id: u64, f: Bytes) {
        self.send_frame(conn_id, f, true);
    }

    /// Queues a watch event (see [`Core::send`]): it does not make its connection urgent.
    pub(super) fn send_event_frame(&mut self, conn_id: u64, f: Bytes) {
        // Apache's ServerCnxn.process counts every event it sends (`watch_bytes`),
        // without the length prefix.
        if self.conns.contains_key(&conn_id) {
            self.metrics.pipeline.watch_bytes += f.len().saturating_sub(4) as u64;
        }
        self.send_frame(conn_id, f, false);
    }

    fn send_frame(&mut self, conn_id: u64, f: Bytes, urgent: bool) {
        let Some(c) = self.conns.get_mut(&conn_id) else {
            return;
        };
        c.sent += 1;
        self.stats.packets_sent += 1;
        if urgent {
            if !c.urgent {
                c.urgent = true;
                self.urgent.push(conn_id);
            }
        } else if c.pending.is_empty() {
            self.dirty.push(conn_id);
        }
        c.pending.push(f);
        if c.pending.len() >= PENDING_FLUSH {
            self.flush_conn(conn_id);
        }
    }

    /// Hands every connection's pending replies to its writer: called once per turn of
    /// the core's loop, and before a connection is told to close. Connections with a
    /// reply go first; a connection's own frames stay in the order they were sent.
    pub(super) fn flush_replies(&mut self) {
        let mut urgent = std::mem::take(&mut self.urgent);
        for id in urgent.drain(..) {
            self.flush_conn(id);
        }
        let mut dirty = std::mem::take(&mut self.dirty);
        for id in dirty.drain(..) {
            self.flush_conn(id);
        }
        // Keep the allocations for the next turn.
        self.urgent = urgent;
        self.dirty = dirty;
    }

    fn flush_conn(&mut self, conn_id: u64) {
        let Some(c) = self.conns.get_mut(&conn_id) else {
            return;
        };
        c.urgent = false;
        let Some(f) = c.pending.take() else {
            return;
        };
        if c.handle.queue_frame(f).is_err() {
            tracing::warn!(
                "closing connection from {}: client is not reading its replies",
                c.handle.addr
            );
            c.handle.kill.cancel();
        }
    }

    pub(super) fn close_conn(&mut self, conn_id: u64) {
        self.flush_conn(conn_id);
        if let Some(c) = self.conns.get(&conn_id) {
            if c.handle.tx.try_send(Out::Close).is_err() {
                c.handle.kill.cancel();
            }
        }
    }

    pub(super) fn on_connect(&mut self, handle: ConnHandle, req: ConnectRequest) {
        let conn_id = handle.id;
        self.stats.packets_received += 1;
        self.metrics.connection_requests += 1;
        self.conns.insert(
            conn_id,
            Conn {
                handle,
                session_id: 0,
                established: self.now,
                received: 1,
                sent: 0,
                last_op: "NA",
                last_cxid: -1,
                last_zxid: -1,
                last_latency_ms: 0,
                min_latency_ms: 0,
                max_latency_ms: 0,
                total_latency_ms: 0,
                last_response_ms: 0,
                sasl: None,
                pending: Pending::Empty,
                urgent: false,
            },
        );
        let legacy = req.read_only.is_none();
        let read_only = self.read_only();
        if read_only && req.read_only != Some(true) {
            tracing::info!(
                "refusing session request for not-read-only client {}",
                self.conns[&conn_id].handle.addr
            );
            self.close_conn(conn_id);
            return;
        }
        if !self.role().serving() && !read_only {
            // Clients retry quickly; at info level this would drown the log.
            tracing::debug!(
                "refusing client {}: this server is not serving (no quorum)",
                self.conns[&conn_id].handle.addr
            );
            self.close_conn(conn_id);
            return;
        }
        if req.last_zxid_seen > self.tree.last_processed_zxid().0 {
            tracing::info!(
                "refusing session request for client {} as it has seen zxid 0x{:x} and our last zxid is {}; client must try another server",
                self.conns[&conn_id].handle.addr,
                req.last_zxid_seen,
                self.tree.last_processed_zxid()
            );
            self.close_conn(conn_id);
            return;
        }
        let timeout = req.timeout_ms.clamp(
            self.cfg.min_session_timeout_ms,
            self.cfg.max_session_timeout_ms,
        );
        if req.session_id != 0 {
            // Apache counts a reconnect as it reopens the session, valid or not.
            self.metrics.pipeline.connection_revalidate += 1;
        }
        if req.session_id == 0 {
            let id = self.next_session_id;
            self.next_session_id += 1;
            let passwd = password(id);
            let addr = self.conns[&conn_id].handle.addr;
            let mut session = Session {
                timeout_ms: timeout,
                passwd,
                expires_at: self.now + Duration::from_millis(timeout as u64),
                closing: false,
                auth: vec![Id::new("ip", &addr.ip().to_string())],
                conn: Some(conn_id),
                queue: VecDeque::new(),
                // The createSession transaction.
                writes_started: 1,
                writes_done: 0,
                local: false,
            };
            session
                .auth
                .extend(self.conns[&conn_id].handle.auth.iter().cloned());
            session.auth.dedup();
            // Read-only mode's sessions and, with localSessionsEnabled, every new one:
            // known here only, no createSession transaction (see [`super::local`]).
            let local = !read_only && self.local_sessions_on();
            session.local = read_only || local;
            self.sessions.insert(id, session);
            self.conns.get_mut(&conn_id).unwrap().session_id = id;
            if read_only || local {
                // No quorum to commit a session (read-only mode), or none asked
                // (a local session): it lives here until it ends, expires or upgrades.
                let s = self.sessions.get_mut(&id).unwrap();
                s.finish_write();
                if local {
                    tracing::debug!("established local session 0x{id:x} with timeout {timeout}");
                }
                let resp = ConnectResponse {
                    protocol_version: 0,
                    timeout_ms: timeout,
                    session_id: id,
                    passwd: Bytes::copy_from_slice(&passwd),
                    read_only: if read_only {
                        Some(true)
                    } else if legacy {
                        None
                    } else {
                        Some(false)
                    },
                };
                self.send_connect_response(conn_id, &resp);
                return;
            }
            // Its createSession is in flight.
            self.note_pending(id);
            if let Some(l) = self.role.learner() {
                // The leader creates sessions; we answer once its txn commits here.
                l.connecting.insert(id, (conn_id, legacy));
                let pkt = request_packet(id, 0, op::CREATE_SESSION, &timeout.to_be_bytes(), &[]);
                l.driver.send(DriverMsg::Forward(pkt));
                return;
            }
            let me = self.my_id;
            self.propose_create_session(id, timeout, me, Origin::CreateSession { conn_id, legacy });
        } else {
            // ZooKeeper closes the session's current connection before it
            // looks at the password (`closeSession(.., CLIENT_RECONNECT)`).
            let current = self.sessions.get(&req.session_id).and_then(|s| s.conn);
            if let Some(old) = current.filter(|c| *c != conn_id) {
                self.close_conn(old);
            }
            let valid = self
                .sessions
                .get(&req.session_id)
                .is_some_and(|s| !s.closing && s.passwd[..] == req.passwd[..]);
            if !valid {
                tracing::info!(
                    "invalid session 0x{:x} for client {}, probably expired",
                    req.session_id,
                    self.conns[&conn_id].handle.addr
                );
                self.refuse_session(conn_id, legacy);
                return;
            }
            let id = req.session_id;
            if self.sessions.get(&id).is_some_and(|s| s.local) {
                // A local session is this server's alone (LearnerZooKeeperServer's
                // revalidateSession): no one else to ask.
                self.finish_reconnect(conn_id, id, timeout, legacy);
                return;
            }
            if let Some(l) = self.role.learner() {
                // Only the leader knows whether the session still lives; it also
                // records that the client is with us now.
                l.revalidating.insert(id, (conn_id, timeout, legacy));
                let mut data = Vec::with_capacity(12);
                data.put_i64(id);
                data.put_i32(timeout);
                let msg = zab_core::wire::QuorumPacket::Revalidate {
                    data: Bytes::from(data),
                };
                l.driver.send(DriverMsg::Forward(msg));
                return;
            }
            if let Some(l) = self.role.leader() {
                l.owners.insert(id, self.my_id);
            }
            self.finish_reconnect(conn_id, id, timeout, legacy);
        }
    }

    /// Attach a validated session to its new connection and answer the handshake.
    pub(super) fn finish_reconnect(&mut self, conn_id: u64, id: i64, timeout: i32, legacy: bool) {
        {
            let addr = self.conns[&conn_id].handle.addr;
            let s = self.sessions.get_mut(&id).unwrap();
            let old = s.conn.replace(conn_id);
            s.timeout_ms = timeout;
            s.expires_at = self.now + Duration::from_millis(timeout as u64);
            // Ids belong to a connection in ZooKeeper (ServerCnxn.authInfo): the new one
            // starts with its address and what its TLS certificate proves (x509, and
            // `super` for the x509 super user), and the client sends its auth packets and
            // runs SASL again (the Java client, kazoo and ours do), or is refused where
            // authentication is enforced.
            s.auth = vec![Id::new("ip", &addr.ip().to_string())];
            for id in &self.conns[&conn_id].handle.auth {
                if !s.auth.contains(id) {
                    s.auth.push(id.clone());
                }
            }
            let passwd = Bytes::copy_from_slice(&s.passwd);
            self.conns.get_mut(&conn_id).unwrap().session_id = id;
            // Watches belong to a connection; the client sets them again.
            self.watches.remove_session(id);
            if let Some(old) = old.filter(|o| *o != conn_id) {
                if let Some(c) = self.conns.get_mut(&old) {
                    c.session_id = 0;
                }
                self.close_conn(old);
            }
            let resp = ConnectResponse {
                protocol_version: 0,
                timeout_ms: timeout,
                session_id: id,
                passwd,
                read_only: if legacy { None } else { Some(self.read_only()) },
            };
            self.send_connect_response(conn_id, &resp);
        }
    }

    /// The answer to a reconnect whose session is gone: ZooKeeper's expired-session reply.
    pub(super) fn refuse_session(&mut self, conn_id: u64, legacy: bool) {
        let resp = ConnectResponse {
            protocol_version: 0,
            timeout_ms: 0,
            session_id: 0,
            passwd: Bytes::from(vec![0u8; 16]),
            read_only: if legacy { None } else { Some(false) },
        };
        self.send_connect_response(conn_id, &resp);
        self.close_conn(conn_id);
    }

    pub(super) fn send_connect_response(&mut self, conn_id: u64, resp: &ConnectResponse) {
        let mut out = Vec::with_capacity(48);
        out.put_i32(0);
        resp.write(&mut out);
        let len = (out.len() - 4) as i32;
        out[..4].copy_from_slice(&len.to_be_bytes());
        self.send(conn_id, Bytes::from(out));
    }

    pub(super) fn on_closed(&mut self, conn_id: u64) {
        let Some(c) = self.conns.remove(&conn_id) else {
            return;
        };
        if let Some(s) = self.sessions.get_mut(&c.session_id) {
            if s.conn == Some(conn_id) {
                s.conn = None;
                self.watches.remove_session(c.session_id);
            }
        }
    }

    pub(super) fn expire_sessions(&mut self) {
        // Sessions known only here end here, in every role.
        self.expire_local_sessions();
        if let Some(l) = self.role.learner() {
            // Only the leader expires sessions; tell it which ones are alive.
            if !l.touched.is_empty() {
                let mut data = Vec::with_capacity(l.touched.len() * 12);
                for (id, to) in l.touched.drain() {
                    data.put_i64(id);
                    data.put_i32(to);
                }
                let pkt = zab_core::wire::QuorumPacket::Ping {
                    zxid: self.tree.last_processed_zxid(),
                    data: Bytes::from(data),
                };
                l.driver.send(DriverMsg::Forward(pkt));
            }
            return;
        }
        if !matches!(self.role, RoleState::Standalone | RoleState::Leading(_)) {
            return;
        }
        let now = self.now;
        let expired: Vec<i64> = self
            .sessions
            .iter()
            .filter(|(_, s)| !s.closing && !s.local && s.expires_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            tracing::info!("expiring session 0x{id:x}");
            self.metrics.sessions_expired += 1;
            self.sessions.get_mut(&id).unwrap().closing = true;
            let zxid = self.next_zxid();
            let body = self.prep.prep_close_session(&self.tree, id, zxid);
            self.propose(
                session_txn(id, zxid, op::CLOSE_SESSION, body),
                Origin::Expire,
            );
        }
    }

    /// ZooKeeper's ContainerManager: delete empty containers that once had a
    /// child, and TTL nodes without children whose TTL has passed.
    pub(super) fn check_containers(&mut self) {
        if !matches!(self.role, RoleState::Standalone | RoleState::Leading(_)) {
            return;
        }
        let now = now_ms();
        let mut candidates: Vec<String> = Vec::new();
        for p in self.tree.containers() {
            if let Some(n) = self.tree.get(p) {
                if n.persisted().cversion > 0 && n.child_count() == 0 {
                    candidates.push(p.clone());
                }
            }
        }
        for p in self.tree.ttls() {
            if let Some(n) = self.tree.get(p) {
                if let EphemeralKind::Ttl(ttl) =
                    EphemeralKind::of(n.persisted().ephemeral_owner, true)
                {
                    if n.child_count() == 0 && now - n.persisted().mtime > ttl {
                        candidates.push(p.clone());
                    }
                }
            }
        }
        candidates.truncate(self.cfg.container_max_per_minute as usize);
        for path in candidates {
            let op_ = Op::DeleteContainer { path };
            let zxid = self.next_zxid();
            let ctx = PrepCtx {
                tree: &self.tree,
                session_id: 0,
                cxid: 0,
                zxid,
                time_ms: now,
                auth: &[],
                session_ok: Ok(()),
                ephemeral_ok: Ok(()),
                extended_types: self.extended_types,
                max_txn_bytes: self.cfg.jute_max_buffer,
                reconfig: Default::default(),
            };
            let txn = self.prep.prep(&ctx, op::DELETE_CONTAINER, &op_);
            self.propose(txn, Origin::Internal);
        }
    }

    // ---- the pipeline ----
}

/// A session's password. Every server of an ensemble must derive the same one
/// (a client may reconnect anywhere, Apache ZooKeeper's servers included), so it is
/// Apache's `ZooKeeperServer.generatePasswd`: 16 bytes of `java.util.Random` seeded
/// with the session id xor a fixed secret.
fn password(session_id: i64) -> [u8; 16] {
    const SUPER_SECRET: i64 = 0xB341_5C00;
    const MULT: i64 = 0x5_DEEC_E66D;
    const MASK: i64 = (1 << 48) - 1;
    // java.util.Random: the seed scrambled, then next(32) per four bytes, low byte first.
    let mut seed = ((session_id ^ SUPER_SECRET) ^ MULT) & MASK;
    let mut p = [0u8; 16];
    for chunk in p.chunks_mut(4) {
        seed = (seed.wrapping_mul(MULT).wrapping_add(0xB)) & MASK;
        let mut rnd = (seed >> 16) as i32;
        for b in chunk {
            *b = rnd as u8;
            rnd >>= 8;
        }
    }
    p
}

#[cfg(test)]
mod password_tests {
    /// Values from `java.util.Random(id ^ 0xB3415C00L).nextBytes(new byte[16])`, as Apache
    /// ZooKeeper 3.8's `generatePasswd` computes them.
    #[test]
    fn session_passwords_are_apache_s() {
        for (id, want) in [
            (
                72_057_933_725_433_856i64,
                "2e850c35233af94cbcfe9d4aa4a6142b",
            ),
            (1, "054cc74a37327db215e702e20c73f005"),
            (-5, "d47144b5e45e45c49c3b7fdcd66257ba"),
        ] {
            let got: String = super::password(id)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(got, want, "session {id:#x}");
        }
    }
}
