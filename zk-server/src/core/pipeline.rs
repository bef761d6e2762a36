//! A request's way through the pipeline: per-session ordering, prep (a write
//! becomes a transaction), the hand-over to replication, and the final stage
//! that applies a committed transaction, fires watches and replies.
//!
//! ZooKeeper's `PrepRequestProcessor` is [`crate::prep`]; its
//! `FinalRequestProcessor` is [`Core::apply`] here and [`super::read`] for
//! requests without a transaction. On a learner, writes are forwarded to the
//! leader instead of prepared, and answered when their transaction commits.

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes};
use zab_core::jute::Record;
use zab_core::proto::*;
use zab_core::records::{perms, ErrorCode, Id};
use zab_core::txn::{Txn, TxnBody, TxnHeader};
use zab_core::Zxid;

use super::digest::Compared;
use super::session::{session_txn, Session};
use super::stats::short_op_name;
use super::{ms, now_ms, Core, Role};
use crate::auth::check_acl;
use crate::prep::PrepCtx;
use crate::replicate::DriverMsg;
use crate::request::Request;
use crate::tree::{Trigger, TxnResult};

/// A read held until the writes its session sent before it are answered.
pub(super) struct Held {
    pub(super) req: Request,
    pub(super) received: Instant,
    /// Answer once `writes_done` reaches this.
    pub(super) after: u64,
}

/// Who waits for a transaction's outcome.
// A client's request is most of them: boxing it would cost an allocation per write.
#[allow(clippy::large_enum_variant)]
pub(super) enum Origin {
    Client {
        req: Request,
        received: Instant,
    },
    CreateSession {
        conn_id: u64,
        legacy: bool,
    },
    Expire,
    Internal,
    /// Leader: a request a learner forwarded; the learner answers its client.
    Remote,
}

/// A transaction proposed and not yet applied.
pub(super) struct InFlight {
    pub(super) txn: Txn,
    pub(super) origin: Origin,
}

/// Writes a reply body after the header.
type BodyWriter<'a> = &'a dyn Fn(&mut Vec<u8>);

pub(super) fn frame(hdr: &ReplyHeader, body: Option<BodyWriter<'_>>) -> Bytes {
    let mut out = Vec::with_capacity(64);
    out.put_i32(0);
    hdr.write(&mut out);
    if let Some(b) = body {
        b(&mut out);
    }
    let len = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    Bytes::from(out)
}

/// A reply body, or an error code with no body.
pub(super) type Reply = Result<Option<Vec<u8>>, ErrorCode>;

pub(super) fn body<R: Record>(r: &R) -> Reply {
    // Room for a Stat and a small value at once: `to_bytes`' 64 bytes would grow twice
    // for a get's reply and once for every Stat (68 bytes). Freed as the frame is built.
    let mut v = Vec::with_capacity(256);
    r.write(&mut v);
    Ok(Some(v))
}

/// A reply's length prefix and header (xid, zxid, err): 4 + 4 + 8 + 4 bytes.
const REPLY_FRAME_HEADER: usize = 20;

/// The largest encoding buffer [`Core::propose`] keeps for the next transaction; one
/// grown past it (a large multi or value) is let go.
const TXN_BUF_KEPT: usize = 64 * 1024;

impl Core {
    pub(super) fn next_zxid(&mut self) -> Zxid {
        self.last_zxid = self.last_zxid.next();
        self.last_zxid
    }

    /// A `createSession` transaction for a session whose client is connected to server
    /// `owner` (recorded when leading).
    pub(super) fn propose_create_session(
        &mut self,
        id: i64,
        timeout_ms: i32,
        owner: u64,
        origin: Origin,
    ) {
        let zxid = self.next_zxid();
        let txn = session_txn(
            id,
            zxid,
            op::CREATE_SESSION,
            TxnBody::CreateSession { timeout_ms },
        );
        if let Some(l) = self.role.leader() {
            l.owners.insert(id, owner);
        }
        self.propose(txn, origin);
    }

    /// Hand a prepared transaction to replication; it is applied when it comes
    /// back committed ([`Core::on_committed`]).
    pub(super) fn propose(&mut self, mut txn: Txn, origin: Origin) {
        // Apache's PrepRequestProcessor sets the digest as it prepares a request.
        txn.digest = self.prep.txn_digest(&self.tree, &txn);
        let (added, _) = self.prep.take_counts();
        self.metrics.pipeline.outstanding_changes_queued += added;
        // A client's request was counted as prep took it; these reach prep here.
        if !matches!(origin, Origin::Client { .. }) {
            self.metrics.pipeline.prep_queued += 1;
        }
        // Encoded into a buffer kept for the next proposal, then copied once into one
        // of exactly its size: a fresh Vec grew twice for a set's ~180 bytes, and
        // `Bytes::from` a Vec with spare room allocates a header of its own besides.
        let mut buf = std::mem::take(&mut self.txn_buf);
        buf.clear();
        txn.write(&mut buf);
        let bytes = Bytes::copy_from_slice(&buf);
        if buf.capacity() <= TXN_BUF_KEPT {
            self.txn_buf = buf;
        }
        if self.role() == Role::Leading {
            self.metrics.proposals += 1;
            let n = bytes.len();
            self.ensemble.proposal_sizes = Some(match self.ensemble.proposal_sizes {
                None => (n, n, n),
                Some((_, lo, hi)) => (n, lo.min(n), hi.max(n)),
            });
        }
        if txn.header.txn_type == op::RECONFIG {
            self.reconfig_pending = Some(txn.header.zxid.0);
        }
        self.replicator.propose(txn.header.zxid, bytes);
        self.in_flight.push_back(InFlight { txn, origin });
    }

    pub(super) fn on_request(&mut self, req: Request) {
        self.stats.packets_received += 1;
        // The length prefix and the header (xid, type) besides the body.
        self.metrics.bytes_received += 12 + req.body.len() as u64;
        let received = self.now;
        let session_id = match self.conns.get_mut(&req.conn_id) {
            Some(c) => {
                c.received += 1;
                c.session_id
            }
            None => {
                // Its connection is gone (Apache's `Request.isStale`, which never
                // holds for a closeSession): dropped.
                if req.op != Op::CloseSession {
                    self.metrics.pipeline.stale_requests += 1;
                }
                return;
            }
        };
        if let Some(s) = self.sessions.get_mut(&session_id) {
            s.expires_at = received + Duration::from_millis(s.timeout_ms as u64);
            // The leader knows nothing of a local session: not reported.
            if let (Some(l), false) = (self.role.learner(), s.local) {
                l.touched.insert(session_id, s.timeout_ms);
            }
        }
        let req = Request { session_id, ..req };
        match &req.op {
            // Handled at once, outside the pipeline, as ZooKeeper does.
            Op::Auth(a) => return self.on_auth(&req, a.clone()),
            Op::Sasl(r) => return self.on_sasl(&req, r),
            _ => {}
        }
        if self.refuse_unauthenticated(&req) {
            return;
        }
        self.count_taken(&req, received);
        // A write goes in flight at once, as ZooKeeper proposes (or forwards) it before
        // the session's earlier reads are answered; a read waits for the writes its
        // session sent before it. Writes are answered in order, and each held read as
        // soon as the writes before it are, so replies still follow the requests' order.
        // A local session's close and a refused ephemeral are answered here, after the
        // writes sent before them, as a read is.
        let answered_here = self.local_action(&req).answered_here();
        let ordered_write = is_ordered_write(&req, self.role.role());
        match self.sessions.get_mut(&session_id) {
            Some(s)
                if (answered_here || !ordered_write)
                    && (s.writes_in_flight() || !s.queue.is_empty()) =>
            {
                let after = s.writes_started;
                s.queue.push_back(Held {
                    req,
                    received,
                    after,
                });
                self.held_reads += 1;
                self.sample_session_queue(session_id);
            }
            _ => {
                if !ordered_write {
                    self.turn_reads += 1;
                }
                self.process(req, received);
                if ordered_write {
                    self.sample_session_queue(session_id);
                }
            }
        }
    }

    /// The core took a request: the wait for it since its read
    /// (`request_throttle_queue_time_ms`), and prep's queue on a leader or standalone
    /// (Apache's PrepRequestProcessor sees every request there, reads too; ours takes
    /// it at once) or a learner's request processor's.
    fn count_taken(&mut self, req: &Request, received: Instant) {
        let (role, waiting) = (self.role(), self.inbound_waiting as u64);
        let p = &mut self.metrics.pipeline;
        p.throttle_queue_time
            .add(ms(received.saturating_duration_since(req.read_at)));
        match role {
            Role::Standalone | Role::Leading => {
                p.prep_queued += 1;
                p.prep_queue_size.add(waiting);
                p.prep_queue_time.add(0);
            }
            Role::Following | Role::Observing => p.learner_queue_size.add(waiting),
            Role::Looking => {}
        }
    }

    /// Whether Apache would run a CommitProcessor here: in an ensemble's roles only.
    pub(super) fn commit_processor(&self) -> bool {
        matches!(
            self.role(),
            Role::Leading | Role::Following | Role::Observing
        )
    }

    /// Keeps `session_id` in the set of sessions with a queue if it has one now
    /// (`pending_session_queue_size`); called wherever a write starts or ends.
    pub(super) fn note_pending(&mut self, session_id: i64) {
        if self.sessions.get(&session_id).is_some_and(|s| s.pending()) {
            self.pending_sessions.insert(session_id);
        } else {
            self.pending_sessions.remove(&session_id);
        }
    }

    /// `requests_in_session_queue`: the session's writes in flight and reads held.
    fn sample_session_queue(&mut self, session_id: i64) {
        if !self.commit_processor() {
            return;
        }
        if let Some(s) = self.sessions.get(&session_id) {
            let n = s.writes_started - s.writes_done + s.queue.len() as u64;
            self.metrics.pipeline.requests_in_session_queue.add(n);
        }
    }

    /// Answer the reads a session holds whose earlier writes are answered, in order;
    /// how many were.
    pub(super) fn drain_session(&mut self, session_id: i64) -> u64 {
        let mut n = 0;
        loop {
            let Some(s) = self.sessions.get_mut(&session_id) else {
                self.note_pending(session_id);
                return n;
            };
            match s.queue.front() {
                Some(h) if h.after <= s.writes_done => {}
                _ => {
                    // Every answered write ends here: the session may have no queue now.
                    self.note_pending(session_id);
                    return n;
                }
            }
            let h = s.queue.pop_front().unwrap();
            self.held_reads = self.held_reads.saturating_sub(1);
            n += 1;
            self.process(h.req, h.received);
        }
    }

    pub(super) fn session_ok(&self, session_id: i64) -> Result<(), ErrorCode> {
        match self.sessions.get(&session_id) {
            Some(s) if !s.closing => Ok(()),
            _ => Err(ErrorCode::SessionExpired),
        }
    }

    /// Leader: may a write for `session_id` come through `server`? The first server to
    /// ask after an election owns the session (ZooKeeper's `checkSession`); a reconnect
    /// moves it (REVALIDATE); anyone else gets SessionMoved.
    pub(super) fn owner_ok(&mut self, session_id: i64, server: u64) -> Result<(), ErrorCode> {
        let Some(l) = self.role.leader() else {
            return Ok(());
        };
        if session_id == 0 {
            return Ok(());
        }
        match l.owners.entry(session_id) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(server);
                Ok(())
            }
            std::collections::hash_map::Entry::Occupied(o) if *o.get() == server => Ok(()),
            std::collections::hash_map::Entry::Occupied(_) => Err(ErrorCode::SessionMoved),
        }
    }

    fn process(&mut self, req: Request, received: Instant) {
        let role = self.role();
        if role == Role::Looking {
            // Read-only mode: reads are served below; nothing is written.
            if req.op == Op::CloseSession {
                let conn = req.conn_id;
                let reply = Ok(None);
                let zxid = self.tree.last_processed_zxid().0;
                self.finish(&req, received, req.xid, zxid, reply);
                if self.sessions.get(&req.session_id).is_some_and(|s| s.local) {
                    self.end_session(req.session_id);
                }
                self.close_conn(conn);
                return;
            }
            if is_ordered_write(&req, role) {
                let zxid = self.tree.last_processed_zxid().0;
                self.finish(&req, received, req.xid, zxid, Err(ErrorCode::NotReadOnly));
                return;
            }
        }
        if self.handle_local(&req, received) {
            return;
        }
        if role.learner() && is_ordered_write(&req, role) {
            // The session's ids are copied once, into the packet.
            let auth = self
                .sessions
                .get(&req.session_id)
                .map_or(&[][..], |s| &s.auth);
            let pkt = request_packet(req.session_id, req.xid, req.op_type, &req.body, auth);
            if let Some(s) = self.sessions.get_mut(&req.session_id) {
                s.start_write();
                if req.op == Op::CloseSession {
                    s.closing = true;
                }
            }
            self.note_pending(req.session_id);
            let l = self.role.learner().expect("a learner");
            if matches!(req.op, Op::Sync(_)) {
                l.pending_syncs.push_back((req, received));
            } else {
                l.forwarded
                    .insert((req.session_id, req.xid), (req, received));
            }
            l.driver.send(DriverMsg::Forward(pkt));
            return;
        }
        if req.op.is_write() {
            let owner_ok = self.owner_ok(req.session_id, self.my_id);
            let zxid = self.next_zxid();
            let empty = Vec::new();
            let auth = self
                .sessions
                .get(&req.session_id)
                .map(|s| &s.auth)
                .unwrap_or(&empty);
            let prep_started = Instant::now();
            let txn = if req.op == Op::CloseSession {
                let body = self
                    .prep
                    .prep_close_session(&self.tree, req.session_id, zxid);
                let t = ms(prep_started.elapsed());
                self.metrics.pipeline.close_session_prep_time.add(t);
                Txn {
                    header: TxnHeader {
                        client_id: req.session_id,
                        cxid: req.xid,
                        zxid,
                        time: now_ms(),
                        txn_type: op::CLOSE_SESSION,
                    },
                    body,
                    digest: None,
                }
            } else {
                let session_ok = self.session_ok(req.session_id).and(owner_ok);
                let ephemeral_ok = self.ephemeral_ok(req.session_id).and(session_ok);
                let ctx = PrepCtx {
                    tree: &self.tree,
                    session_id: req.session_id,
                    cxid: req.xid,
                    zxid,
                    time_ms: now_ms(),
                    auth,
                    session_ok,
                    ephemeral_ok,
                    extended_types: self.extended_types,
                    max_txn_bytes: self.cfg.jute_max_buffer,
                    reconfig: super::reconfig_ctx(
                        &self.cfg,
                        &self.role,
                        self.my_id,
                        self.reconfig_pending.is_some(),
                    ),
                };
                self.prep.prep(&ctx, req.op_type, &req.op)
            };
            let proposing = Instant::now();
            self.metrics
                .pipeline
                .prep_process_time
                .add(ms(proposing - prep_started));
            if let Some(s) = self.sessions.get_mut(&req.session_id) {
                s.start_write();
                if req.op == Op::CloseSession {
                    s.closing = true;
                }
            }
            self.note_pending(req.session_id);
            self.propose(txn, Origin::Client { req, received });
            self.metrics
                .pipeline
                .proposal_process_time
                .add(ms(proposing.elapsed()));
        } else {
            let started = Instant::now();
            let reply = self.read(&req);
            let zxid = self.tree.last_processed_zxid().0;
            let xid = if req.op == Op::Ping {
                xid::PING
            } else {
                req.xid
            };
            self.finish(&req, received, xid, zxid, reply);
            if self.commit_processor() {
                let p = &mut self.metrics.pipeline;
                p.read_commitproc_time
                    .add(ms(self.now.saturating_duration_since(received)));
                p.read_final_proc_time.add(ms(started.elapsed()));
            }
        }
    }

    pub(super) fn finish(
        &mut self,
        req: &Request,
        received: Instant,
        xid: i32,
        zxid: i64,
        reply: Reply,
    ) {
        let (err, b) = match reply {
            Ok(b) => (0, b),
            Err(e) => (e.code(), None),
        };
        // Exactly the frame's size: `Bytes::from` a full Vec takes it as it is, where
        // spare capacity would cost it an allocation of its own (bytes' shared header).
        let mut out = Vec::with_capacity(REPLY_FRAME_HEADER + b.as_ref().map_or(0, |v| v.len()));
        out.put_i32(0);
        ReplyHeader { xid, zxid, err }.write(&mut out);
        if let Some(b) = b {
            out.extend_from_slice(&b);
        }
        let len = (out.len() - 4) as i32;
        out[..4].copy_from_slice(&len.to_be_bytes());
        let latency = self.now.saturating_duration_since(received).as_millis() as u64;
        if req.op != Op::Ping {
            if req.op.is_write() {
                self.metrics.update_latency.add(latency);
            } else {
                self.metrics.read_latency.add(latency);
            }
            self.metrics.response_bytes += len as u64 + 4;
            let st = &mut self.stats;
            if st.latency_count == 0 || latency < st.min_latency_ms {
                st.min_latency_ms = latency;
            }
            st.max_latency_ms = st.max_latency_ms.max(latency);
            st.total_latency_ms += latency;
            st.latency_count += 1;
            let size = len as usize;
            st.client_response_sizes = Some(match st.client_response_sizes {
                Some((_, lo, hi)) => (size, lo.min(size), hi.max(size)),
                None => (size, size, size),
            });
        }
        if !self.conns.contains_key(&req.conn_id) {
            // Apache's FinalRequestProcessor counts a reply to a closed connection.
            self.metrics.pipeline.stale_replies += 1;
        }
        if let Some(c) = self.conns.get_mut(&req.conn_id) {
            c.last_op = short_op_name(req.op_type);
            c.last_cxid = req.xid;
            c.last_zxid = zxid;
            c.last_latency_ms = latency;
            if c.received <= 2 || latency < c.min_latency_ms {
                c.min_latency_ms = latency;
            }
            c.max_latency_ms = c.max_latency_ms.max(latency);
            c.total_latency_ms += latency;
            c.last_response_ms =
                self.now.saturating_duration_since(self.started).as_millis() as u64;
        }
        self.send(req.conn_id, Bytes::from(out));
    }

    /// The one commit path, standalone and in an ensemble: transactions committed
    /// by replication, in zxid order.
    pub(super) fn on_committed(&mut self, entries: Vec<(Zxid, Bytes)>) {
        let n = entries.len() as u64;
        match self.role() {
            Role::Leading => self.metrics.commits += n,
            Role::Following | Role::Observing => self.metrics.learner_commits_received += n,
            Role::Standalone | Role::Looking => {}
        }
        let started = Instant::now();
        self.commit_received = self.now;
        self.drained = (0, 0);
        // Each applied write looks its node up: a chain of cache misses per write, which
        // overlap when the batch's paths are fetched first.
        self.prefetch_paths(entries.iter().filter_map(|(_, data)| txn_path_hint(data)));
        for (z, data) in entries {
            self.apply_committed(z, data);
        }
        // Apache's CommitProcessor, once per batch of commits (it takes one at a time).
        if self.commit_processor() {
            let (sessions, reads) = self.drained;
            let p = &mut self.metrics.pipeline;
            p.commits_received += n;
            p.write_commit_proc_issued.add(n);
            p.write_batch_time.add(ms(started.elapsed()));
            // Reads run on this task, before: none is left to wait for.
            p.empty_pool_wait.add(0);
            p.session_queues_drained.add(sessions);
            p.reads_issued_from_session_queue.add(reads);
        }
    }

    /// A transaction proposed here is applied from the pipeline's copy; any other
    /// (a learner's, or one replayed before this leader's epoch) from its bytes.
    fn apply_committed(&mut self, z: Zxid, data: Bytes) {
        if z <= self.tree.last_processed_zxid() {
            // Already in the tree (replayed from our own log at start-up).
            if self
                .in_flight
                .front()
                .is_some_and(|f| f.txn.header.zxid == z)
            {
                self.in_flight.pop_front();
            }
            return;
        }
        if self
            .in_flight
            .front()
            .is_some_and(|f| f.txn.header.zxid == z)
        {
            let f = self.in_flight.pop_front().unwrap();
            self.apply(f);
            return;
        }
        let txn = match Txn::from_bytes(&data) {
            Ok(t) => t,
            Err(e) => {
                // A committed transaction we cannot read: going on would fork the tree.
                tracing::error!("committed transaction {z} does not decode: {e}");
                eprintln!("zk-server: fatal: committed transaction {z} does not decode: {e}");
                std::process::exit(crate::EXIT_STORAGE);
            }
        };
        // A learner's own client is waiting for a transaction it forwarded.
        let key = (txn.header.client_id, txn.header.cxid);
        let waiting = self.role.learner().and_then(|l| {
            if txn.header.txn_type == op::CREATE_SESSION {
                l.connecting
                    .remove(&txn.header.client_id)
                    .map(|(conn_id, legacy)| Origin::CreateSession { conn_id, legacy })
            } else {
                l.forwarded
                    .remove(&key)
                    .map(|(req, received)| Origin::Client { req, received })
            }
        });
        let origin = waiting.unwrap_or(Origin::Remote);
        self.apply(InFlight { txn, origin });
    }

    /// The final stage: apply a committed transaction, fire watches, reply.
    pub(super) fn apply(&mut self, f: InFlight) {
        let started = Instant::now();
        let in_ensemble = self.commit_processor();
        self.count_apply(&f, started, in_ensemble);
        let mut triggers = std::mem::take(&mut self.triggers);
        let rc = self.tree.apply(&f.txn, &mut triggers);
        let zxid = f.txn.header.zxid;
        // DataTree.processTxn(header, txn, digest): compared, never acted on.
        if self.digest_check.check(&f.txn, self.tree.apache_digest()) == Compared::Mismatch {
            self.metrics.digest_mismatches += 1;
        }
        for t in &triggers {
            let (path, data) = match t {
                Trigger::Created { path, data_len, .. }
                | Trigger::DataChanged { path, data_len, .. } => (path, *data_len),
                Trigger::Deleted { path, .. } => (path, 0),
            };
            let bytes = (path.len() + data) as u64;
            super::metrics::add_per_namespace(&mut self.metrics.write_per_namespace, path, bytes);
        }
        self.maybe_snapshot();
        self.prep.applied(zxid);
        let (_, removed) = self.prep.take_counts();
        self.metrics.pipeline.outstanding_changes_removed += removed;
        if self.reconfig_pending.is_some_and(|z| z <= zxid.0) {
            self.reconfig_pending = None;
        }
        for t in triggers.drain(..) {
            self.deliver(&t);
        }
        self.triggers = triggers;
        // Every server learns of sessions from the transactions that
        // create and close them.
        let closed_conn = match &f.txn.body {
            TxnBody::CreateSession { timeout_ms } => {
                let id = f.txn.header.client_id;
                let (timeout_ms, now) = (*timeout_ms, self.now);
                self.sessions
                    .entry(id)
                    .or_insert_with(|| Session::restored(id, timeout_ms, now));
                None
            }
            TxnBody::CloseSession { .. } => {
                let id = f.txn.header.client_id;
                let conn = self.sessions.get(&id).and_then(|s| s.conn);
                self.end_session(id);
                conn
            }
            _ => None,
        };
        match f.origin {
            Origin::Client { req, received } => {
                let session_id = req.session_id;
                // ZooKeeper 3.8 answers a top-level check that passed with nothing.
                let silent = matches!(req.op, Op::Check(_)) && f.txn.header.txn_type == op::CHECK;
                let reply = self.write_reply(&req, &f.txn, rc);
                if matches!(reply, Err(ErrorCode::SessionMoved)) {
                    // A connection-level error: ZooKeeper closes the connection
                    // without an answer, and so do we (ZOOKEEPER-710).
                    tracing::info!("session 0x{:x} moved to another server", req.session_id);
                    self.close_conn(req.conn_id);
                } else if !silent {
                    self.finish(&req, received, req.xid, zxid.0, reply);
                }
                if req.op != Op::CloseSession {
                    if let Some(s) = self.sessions.get_mut(&session_id) {
                        s.finish_write();
                        let reads = self.drain_session(session_id);
                        if in_ensemble {
                            self.metrics.pipeline.reads_after_write.add(reads);
                            self.drained.0 += 1;
                            self.drained.1 += reads;
                        }
                    }
                }
            }
            Origin::CreateSession { conn_id, legacy } => {
                let session_id = f.txn.header.client_id;
                let Some(s) = self.sessions.get_mut(&session_id) else {
                    return;
                };
                s.finish_write();
                let resp = ConnectResponse {
                    protocol_version: 0,
                    timeout_ms: s.timeout_ms,
                    session_id,
                    passwd: Bytes::copy_from_slice(&s.passwd),
                    read_only: if legacy { None } else { Some(false) },
                };
                tracing::debug!(
                    "established session 0x{session_id:x} with timeout {}",
                    s.timeout_ms
                );
                self.send_connect_response(conn_id, &resp);
                self.drain_session(session_id);
            }
            Origin::Expire | Origin::Internal | Origin::Remote => {}
        }
        if let Some(c) = closed_conn {
            self.close_conn(c);
        }
        if in_ensemble {
            let p = &mut self.metrics.pipeline;
            p.write_final_proc_time.add(ms(started.elapsed()));
        }
    }

    /// What Apache measures as a committed transaction reaches its final stage: the
    /// wall-clock latency from the transaction's time (`propagation_latency`; on a
    /// learner also `commit_propagation_latency`), and in an ensemble the
    /// CommitProcessor's waits (`write_commitproc_time_ms` from a local client's
    /// request, `local_` / `server_write_committed_time_ms` from the commit's arrival:
    /// `server_` for a learner's transactions of other servers' clients)
    /// and the session queue the write leaves.
    fn count_apply(&mut self, f: &InFlight, now: Instant, in_ensemble: bool) {
        let role = self.role();
        let p = &mut self.metrics.pipeline;
        if let Ok(l) = u64::try_from(now_ms() - f.txn.header.time) {
            p.propagation_latency.add(l);
            if role.learner() {
                p.commit_propagation_latency.add(l);
            }
        }
        if !in_ensemble {
            return;
        }
        let committed = ms(now.saturating_duration_since(self.commit_received));
        // As a write of this server's clients (a session's creation too) commits,
        // Apache samples how many sessions have a queue.
        if matches!(
            f.origin,
            Origin::Client { .. } | Origin::CreateSession { .. }
        ) {
            p.pending_session_queues
                .add(self.pending_sessions.len() as u64);
        }
        match &f.origin {
            Origin::Client { req, received } => {
                p.write_commitproc_time
                    .add(ms(now.saturating_duration_since(*received)));
                p.local_write_committed_time.add(committed);
                if let Some(s) = self.sessions.get(&req.session_id) {
                    let n = s.writes_started - s.writes_done + s.queue.len() as u64;
                    p.requests_in_session_queue.add(n);
                }
            }
            // A leader's learners' writes pass its CommitProcessor as requests too:
            // Apache's leader counts them local.
            Origin::Remote if role.learner() => p.server_write_committed_time.add(committed),
            _ => p.local_write_committed_time.add(committed),
        }
    }

    pub(super) fn end_session(&mut self, session_id: i64) {
        if let Some(s) = self.sessions.get(&session_id) {
            self.held_reads = self.held_reads.saturating_sub(s.queue.len());
        }
        self.pending_sessions.remove(&session_id);
        self.sessions.remove(&session_id);
        self.watches.remove_session(session_id);
    }

    pub(super) fn deliver(&mut self, t: &Trigger) {
        let (acl, parent_acl) = match t {
            Trigger::Created {
                acl, parent_acl, ..
            }
            | Trigger::Deleted {
                acl, parent_acl, ..
            } => (acl.clone(), Some(parent_acl.clone())),
            Trigger::DataChanged { acl, .. } => (acl.clone(), None),
        };
        let fired = self.watches.fire(t);
        let mut per_type = [0u64; 5];
        for (n, _) in &fired {
            if let Some(c) = per_type.get_mut(n.event_type as usize) {
                *c += 1;
            }
        }
        let m = &mut self.metrics;
        for (count, s) in per_type[1..].iter().zip([
            &mut m.node_created_watches,
            &mut m.node_deleted_watches,
            &mut m.node_changed_watches,
            &mut m.node_children_watches,
        ]) {
            if *count > 0 {
                s.add(*count);
            }
        }
        // One encoding per event, shared by all its watchers' connections.
        let mut encoded: Option<(i32, std::sync::Arc<str>, Bytes)> = None;
        for (n, use_parent) in fired {
            let Some(s) = self.sessions.get(&n.session_id) else {
                continue;
            };
            let Some(conn) = s.conn else { continue };
            let decide = if use_parent {
                parent_acl.as_deref().unwrap_or(&acl)
            } else {
                &acl
            };
            // A watcher never learns about a node it may not read.
            if check_acl(decide, perms::READ, &s.auth).is_err() {
                continue;
            }
            let f = match &encoded {
                Some((t, p, f)) if *t == n.event_type && std::sync::Arc::ptr_eq(p, &n.path) => {
                    f.clone()
                }
                _ => {
                    let f = event_frame(n.event_type, &n.path);
                    encoded = Some((n.event_type, n.path.clone(), f.clone()));
                    f
                }
            };
            self.send_event_frame(conn, f);
        }
    }

    pub(super) fn send_event(&mut self, conn: u64, event_type: i32, path: &str) {
        self.send_event_frame(conn, event_frame(event_type, path));
    }

    fn write_reply(&self, req: &Request, txn: &Txn, rc: TxnResult) -> Reply {
        if let Some(r) = super::keeper::keeper_write_reply(req, txn, &rc) {
            return r;
        }
        if txn.header.txn_type == op::ERROR {
            return Err(ErrorCode::from_code(rc.err).unwrap_or(ErrorCode::SystemError));
        }
        if rc.err != 0 {
            return Err(ErrorCode::from_code(rc.err).unwrap_or(ErrorCode::SystemError));
        }
        match &req.op {
            Op::Create { op_type, .. } if *op_type == op::CREATE => {
                body(&CreateResponse { path: rc.path })
            }
            Op::Create { .. } | Op::CreateTtl(_) => body(&Create2Response {
                path: rc.path,
                stat: rc.stat.unwrap_or_default(),
            }),
            Op::Delete(_) | Op::DeleteContainer { .. } | Op::CloseSession => Ok(None),
            Op::SetData(_) | Op::SetAcl(_) => body(&StatResponse {
                stat: rc.stat.unwrap_or_default(),
            }),
            // Apache answers with the configuration now active and the node's Stat.
            Op::Reconfig(_) => body(&GetDataResponse {
                data: self
                    .tree
                    .get(crate::tree::CONFIG_ZOOKEEPER)
                    .map(|n| Bytes::copy_from_slice(n.data())),
                stat: rc.stat.unwrap_or_default(),
            }),
            Op::Multi(_) => {
                let results = rc
                    .multi
                    .into_iter()
                    .map(|sub| match sub.txn_type {
                        op::CHECK => OpResult::Check,
                        op::CREATE => OpResult::Create { path: sub.path },
                        op::CREATE2 | op::CREATE_TTL | op::CREATE_CONTAINER => OpResult::Create2 {
                            path: sub.path,
                            stat: sub.stat.unwrap_or_default(),
                        },
                        op::DELETE | op::DELETE_CONTAINER => OpResult::Delete,
                        op::SET_DATA => OpResult::SetData {
                            stat: sub.stat.unwrap_or_default(),
                        },
                        _ => OpResult::Error { err: sub.err },
                    })
                    .collect();
                body(&MultiResponse { results })
            }
            _ => Ok(None),
        }
    }
}
/// Whether a request must be ordered like a write on this server: writes,
/// and on a learner also `sync` (answered by the leader).
pub(super) fn is_ordered_write(req: &Request, role: Role) -> bool {
    req.op.is_write() || (role.learner() && matches!(req.op, Op::Sync(_)))
}

/// A learner's REQUEST packet: `sessionId cxid type request-bytes`, with the
/// session's identities so that the leader checks ACLs as we would.
pub(super) fn request_packet(
    session_id: i64,
    cxid: i32,
    op_type: i32,
    body: &[u8],
    auth: &[Id],
) -> zab_core::wire::QuorumPacket {
    let mut data = Vec::with_capacity(16 + body.len());
    data.put_i64(session_id);
    data.put_i32(cxid);
    data.put_i32(op_type);
    data.extend_from_slice(body);
    zab_core::wire::QuorumPacket::Request {
        data: Bytes::from(data),
        authinfo: auth.to_vec(),
    }
}

/// The path a serialized transaction's body starts with (create, delete, setData,
/// setACL, check and their variants), read in place for a prefetch: a hint only, never
/// what applies the transaction (a body that is not what its type says gives `None` or
/// a wrong path, which fetches a wrong cache line and nothing else).
pub(super) fn txn_path_hint(txn: &[u8]) -> Option<&str> {
    // TxnHeader: clientId (8) cxid (4) zxid (8) time (8) type (4), then the body.
    let txn_type = i32::from_be_bytes(txn.get(28..32)?.try_into().ok()?);
    match txn_type {
        op::CREATE
        | op::CREATE2
        | op::CREATE_CONTAINER
        | op::CREATE_TTL
        | op::DELETE
        | op::DELETE_CONTAINER
        | op::SET_DATA
        | op::SET_ACL
        | op::CHECK => {}
        _ => return None,
    }
    let len = i32::from_be_bytes(txn.get(32..36)?.try_into().ok()?);
    let path = txn.get(36..36 + usize::try_from(len).ok()?)?;
    std::str::from_utf8(path).ok()
}

/// A watch event's whole frame (xid -1, zxid -1).
fn event_frame(event_type: i32, path: &str) -> Bytes {
    let ev = WatcherEvent {
        event_type,
        state: keeper_state::SYNC_CONNECTED,
        path: path.to_owned(),
    };
    frame(
        &ReplyHeader {
            xid: xid::NOTIFICATION,
            zxid: -1,
            err: 0,
        },
        Some(&|o: &mut Vec<u8>| ev.write(o)),
    )
}
