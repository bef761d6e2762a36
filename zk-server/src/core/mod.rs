//! The server core: one task that owns the data tree, the sessions and the
//! watches, and runs ZooKeeper's request pipeline over them.
//!
//! ```text
//! connection --Request--> [per-session queue] --write--> prep --> Replicator
//!                                   |                                  |
//!                                   +--read--> final (answer now)       | Committed
//!                                                                      v
//!                               reply <-- watches <-- apply (final) <--+
//! ```
//! Reads are answered at once unless the same session has a write in flight:
//! then they wait for the writes sent before them, while later writes go in flight
//! at once. A session's replies always come back in the order it sent its requests.
//! Watch events for a change are queued to every connection before the reply
//! of the write that caused it, so a client sees the event first.
//!
//! The rooms:
//! - [`session`]: sessions and connections: the handshake, reconnects, expiry,
//!   containers and TTL nodes;
//! - [`pipeline`]: a request's way through prep, replication and the final stage;
//! - [`read`]: reads and `auth`, answered from the tree;
//! - [`keeper`]: ClickHouse Keeper's extensions: their reads, the answers to
//!   their writes, and the discovery nodes `/keeper/api_version` and
//!   `/keeper/feature_flags`;
//! - [`local`]: local sessions (`localSessionsEnabled`): known to one server only,
//!   upgraded to global ones by an ephemeral;
//! - [`role`]: what exists only while leading or following ([`role::RoleState`]);
//! - [`ensemble`]: what replication tells the core besides commits (learners'
//!   requests, REVALIDATE, role changes, a tree after SNAP);
//! - [`snapshot`]: fuzzy snapshots taken while requests flow, and autopurge;
//! - [`ops`]: an operator's snapshot now (`csnp`) and restore from a backup;
//! - [`stats`]: the counters, and [`StatsView`], the read-only view the
//!   four-letter words read.
//!
//! The core talks to connections through [`crate::conn::ConnHandle`] and to
//! replication through [`crate::replicate`]; it depends on neither `net` nor
//! the peer driver.

mod digest;
mod ensemble;
pub(crate) mod keeper;
mod local;
mod metrics;
mod ops;
mod pipeline;
mod read;
mod role;
mod sasl;
mod session;
mod snapshot;
mod stats;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};
use zab_core::proto::ConnectRequest;
use zab_core::Zxid;

use crate::config::Config;
use crate::conn::ConnHandle;
use crate::prep::Prep;
use crate::replicate::{Replication, ReplicationMsg, Replicator};
use crate::request::Request;
use crate::tree::DataTree;
use crate::watch::WatchManager;

pub use crate::replicate::Role;
pub use metrics::{
    ms, top_namespace, CoreMetrics, DriverMetrics, LogMetrics, PipelineMetrics, SharedSummary,
    SharedSummaryQ, SharedSummarySet, Summary,
};
pub use stats::{ConnectionInfo, EnsembleStats, ServerStats, StatsReset, StatsView};

use pipeline::InFlight;
use role::RoleState;
use session::{Conn, Session};

/// A map keyed by an id the server chose itself (a connection's number, a session id):
/// every request looks up its connection several times (on arrival, for its reply, at
/// the flush), and std's SipHash, built to resist keys chosen by an attacker, was ~2 %
/// of a get's CPU on a follower. One multiply, keyed per map, mixes an id well enough
/// for hashbrown (which takes its slot from the low bits and its tag from the high).
/// Also the sessions, a leader's session owners, a learner's writes forwarded (by
/// session and the client's cxid: with keys random per map, a client cannot aim its
/// cxids at one slot) and the driver's maps by server id: each set looked several of
/// them up with SipHash on every server.
pub(crate) type IdMap<K, V> = HashMap<K, V, IdHash>;

/// The set of [`IdMap`].
pub(crate) type IdSet<K> = std::collections::HashSet<K, IdHash>;

/// The [`IdMap`]'s hasher: a folded multiply of the id with per-map random keys.
#[derive(Clone)]
pub(crate) struct IdHash([u64; 2]);

impl Default for IdHash {
    fn default() -> IdHash {
        use std::hash::BuildHasher;
        let r = std::collections::hash_map::RandomState::new();
        IdHash([r.hash_one(1u8), r.hash_one(2u8) | 1])
    }
}

impl std::hash::BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher {
            keys: self.0,
            h: self.0[0],
        }
    }
}

pub(crate) struct IdHasher {
    keys: [u64; 2],
    h: u64,
}

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Not an id's path (ids hash through write_u64 / write_i64); correct anyway.
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
    }

    fn write_u64(&mut self, x: u64) {
        let full = ((self.h ^ x) as u128) * (self.keys[1] as u128);
        self.h = (full as u64) ^ ((full >> 64) as u64);
    }

    fn write_i64(&mut self, x: i64) {
        self.write_u64(x as u64);
    }

    fn write_u32(&mut self, x: u32) {
        self.write_u64(x as u64);
    }

    fn write_i32(&mut self, x: i32) {
        self.write_u64(x as u32 as u64);
    }

    fn finish(&self) -> u64 {
        self.h
    }
}

/// What a connection (or an operator's command) may send the core.
pub enum CoreMsg {
    Connect {
        conn: ConnHandle,
        req: ConnectRequest,
    },
    Request(Request),
    /// Requests of one connection in the order they came (one read's worth).
    Requests(Vec<Request>),
    Closed {
        conn_id: u64,
    },
    /// Read the core's figures: the closure runs on the core's task with a
    /// read-only view (four-letter words; later the admin server and metrics).
    Inspect(Box<dyn FnOnce(&StatsView<'_>) + Send>),
    /// `srst` / `crst`: reset counters (only while serving, as every command
    /// but ruok, isro, envi and dirs).
    ResetStats(StatsReset),
    /// `csnp`: start a snapshot now (see [`ops`]).
    TakeSnapshot(oneshot::Sender<Option<Zxid>>),
    /// The AdminServer's `restore`: replace the tree by Apache's serialized
    /// database `body` (see [`ops`]).
    /// `ydld`: a leader hands leadership over; whether this server was leading.
    YieldLeadership(oneshot::Sender<bool>),
    /// `rqld`: ask for leadership for this server; dropped unanswered when standalone.
    RequestLeadership(oneshot::Sender<zab_core::peer::RqldAnswer>),
    /// A client's TLS handshake failed on the client port (`unsuccessful_handshake`).
    HandshakeFailed,
    /// A connection refused at accept: maxClientCnxns from its address
    /// (`connection_rejected`).
    ConnectionRejected,
    /// A connection closed for asking no session in time
    /// (`sessionless_connections_expired`; net::sessionless_timeout).
    SessionlessExpired,
    Restore {
        body: Vec<u8>,
        /// The backup's last processed zxid.
        zxid: Zxid,
        reply: oneshot::Sender<Result<Zxid, String>>,
    },
}

/// Most proposals the pipeline keeps in flight before it stops reading requests.
const MAX_IN_FLIGHT: usize = 10_000;
/// Messages the core's loop takes from one of its channels in one turn, at most.
const TAKE_AT_ONCE: usize = 256;

/// Requests one message from a connection carries at most (one read's worth).
pub(crate) const REQUESTS_PER_MESSAGE: usize = 64;

/// How many messages the core's loop takes from its inbox at once with `in_flight`
/// proposals in flight: as many as the cap has room for at [`REQUESTS_PER_MESSAGE`]
/// each, so the cap is passed by less than one message's worth, as when they were taken
/// one by one; at least 1 (a limit of 0 reads as a closed channel), and computed without
/// overflow past the cap (select! evaluates it even when the branch is off).
fn inbox_lot(in_flight: usize) -> usize {
    MAX_IN_FLIGHT
        .saturating_sub(in_flight)
        .div_ceil(REQUESTS_PER_MESSAGE)
        .clamp(1, TAKE_AT_ONCE)
}

pub struct Core {
    cfg: Arc<Config>,
    tree: DataTree,
    /// Each applied transaction's digest against the tree's (`digest_mismatches_count`).
    digest_check: digest::DigestCheck,
    prep: Prep,
    watches: WatchManager,
    sessions: IdMap<i64, Session>,
    conns: IdMap<u64, Conn>,
    /// Connections with replies pending in this turn of the loop (`flush_replies`).
    dirty: Vec<u64>,
    /// Of those, the connections with a reply pending: flushed first.
    urgent: Vec<u64>,
    /// The last zxid issued (a leader's or standalone) or applied.
    last_zxid: Zxid,
    /// Transactions proposed and not yet applied, in zxid order.
    in_flight: VecDeque<InFlight>,
    replicator: Box<dyn Replicator>,
    /// Taken by [`Core::run`].
    replication_rx: Option<mpsc::Receiver<ReplicationMsg>>,
    next_session_id: i64,
    snapshots: snapshot::Snapshots,
    role: RoleState,
    /// This server's id (`myid`; 0 standalone).
    my_id: u64,
    stats: ServerStats,
    ensemble: EnsembleStats,
    metrics: CoreMetrics,
    started: Instant,
    /// The time of the event being handled: the clock is read once per event
    /// (by [`Core::run`]), so one event sees one time, and tests set it.
    now: Instant,
    extended_types: bool,
    /// SASL and enforced authentication (see [`crate::sasl`]).
    security: Arc<crate::sasl::Security>,
    /// The zxid of a reconfig proposed here and not yet applied (ReconfigInProgress).
    reconfig_pending: Option<i64>,
    /// The watch triggers of the transaction being applied, kept empty between
    /// transactions for the allocation.
    triggers: Vec<crate::tree::Trigger>,
    /// Where `propose` encodes a transaction before copying it out, kept between
    /// transactions for the allocation.
    txn_buf: Vec<u8>,
    /// The membership activated by the last reconfig (text, version), which
    /// `/zookeeper/config` shows again after a SNAP; `None`: the one in zoo.cfg.
    membership: Option<(String, i64)>,
    /// What the pipeline's figures need between events (`metrics::PipelineMetrics`):
    /// messages left in the inbound channel when the last one was taken; reads
    /// answered at once this turn; reads held in session queues; when the batch of
    /// commits being applied arrived; sessions and reads it released; whether the
    /// in-flight cap stopped the taking of requests.
    inbound_waiting: usize,
    turn_reads: u64,
    held_reads: usize,
    /// Sessions with a write in flight or a read held (`Core::note_pending`).
    pending_sessions: IdSet<i64>,
    commit_received: Instant,
    drained: (u64, u64),
    throttled: bool,
}

/// What prep needs for a reconfig: the configuration's switches and, on an
/// established leader, its synced followers.
fn reconfig_ctx<'a>(
    cfg: &Config,
    role: &'a RoleState,
    my_id: u64,
    in_progress: bool,
) -> crate::reconfig::ReconfigCtx<'a> {
    crate::reconfig::ReconfigCtx {
        enabled: cfg.reconfig_enabled,
        standalone_enabled: cfg.standalone_enabled,
        skip_acl: cfg.skip_acl,
        leader: match role {
            RoleState::Leading(l) => Some((my_id, &l.synced[..])),
            _ => None,
        },
        in_progress,
    }
}

/// Milliseconds since the epoch: transaction times, as ZooKeeper stamps them.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Core {
    /// A core over a recovered tree and its sessions. With a peer driver in
    /// `replication` it is an ensemble member and starts LOOKING; without, it
    /// is standalone.
    pub fn new(
        cfg: Arc<Config>,
        tree: DataTree,
        sessions: HashMap<i64, i32>,
        replication: Replication,
        server_id: u64,
    ) -> Core {
        let last_zxid = tree.last_processed_zxid();
        // ZooKeeper's session id layout: server id in the top byte (1 when
        // standalone), time below.
        let my_id = server_id;
        let server_id = server_id.max(1);
        let next_session_id = ((now_ms() << 24) as u64 >> 8) as i64 | ((server_id as i64) << 56);
        let extended_types = cfg.extended_types_enabled;
        // The binary checks these settings before it starts (`main`); a server started
        // otherwise with unusable ones refuses every SASL client and, when
        // authentication is to be enforced, every request.
        let security = crate::sasl::Security::from_config(&cfg).unwrap_or_else(|e| {
            tracing::error!("{e}");
            crate::sasl::Security::refuse_all()
        });
        crate::auth::register_sasl_provider(security.sasl_provider.clone());
        let now = Instant::now();
        // Sessions found on disk live on until their timeout passes without
        // their client coming back, as in ZooKeeper.
        let sessions = sessions
            .into_iter()
            .map(|(id, timeout_ms)| (id, Session::restored(id, timeout_ms, now)))
            .collect();
        let Replication {
            replicator,
            rx,
            driver,
            log_metrics,
        } = replication;
        let digest_enabled = cfg.digest_enabled();
        let mut core = Core {
            cfg,
            tree,
            prep: Prep::new(digest_enabled),
            digest_check: digest::DigestCheck::new(digest_enabled),
            watches: WatchManager::default(),
            sessions,
            conns: IdMap::default(),
            dirty: Vec::new(),
            urgent: Vec::new(),
            last_zxid,
            in_flight: VecDeque::new(),
            replicator,
            replication_rx: Some(rx),
            next_session_id,
            snapshots: snapshot::Snapshots::new(server_id),
            role: RoleState::initial(driver, now),
            my_id,
            stats: ServerStats::default(),
            ensemble: EnsembleStats::default(),
            metrics: CoreMetrics {
                log: log_metrics,
                ..CoreMetrics::default()
            },
            started: now,
            now,
            extended_types,
            security: Arc::new(security),
            reconfig_pending: None,
            triggers: Vec::new(),
            txn_buf: Vec::new(),
            membership: None,
            inbound_waiting: 0,
            turn_reads: 0,
            held_reads: 0,
            pending_sessions: Default::default(),
            commit_received: now,
            drained: (0, 0),
            throttled: false,
        };
        if core.role() == Role::Looking {
            core.metrics.looking = 1;
        }
        core.init_config();
        core
    }

    /// Compare no transaction's digest at or below `zxid`: the log's last entry
    /// when the tree was recovered from a snapshot and a log (see `core/digest.rs`).
    pub fn skip_digests_through(&mut self, zxid: Zxid) {
        self.digest_check.skip_through(zxid);
    }

    /// How long recovering the tree took before this core was made (`dbinittime`).
    pub fn record_db_init(&mut self, took: Duration) {
        self.metrics.db_init_time.add(took.as_millis() as u64);
    }

    /// What recovery took (Apache's `FileTxnSnapLog.restore`: `startup_snap_load_time`
    /// always; `startup_txns_loaded` and `startup_txns_load_time` after a snapshot
    /// loaded, as Apache replays the log (`fastForwardFromEdits`) only then).
    pub fn record_startup(&mut self, snapshot_ms: u64, replay: Option<(u64, u64)>) {
        self.metrics.startup_snap_load_time.add(snapshot_ms);
        if let Some((txns, txns_ms)) = replay {
            self.metrics.startup_txns_loaded.add(txns);
            self.metrics.startup_txns_load_time.add(txns_ms);
        }
    }

    /// The per-learner queue sizes the driver samples (`learner_handler_qp_size`).
    pub fn learner_queue_sizes(&self) -> Arc<SharedSummarySet> {
        self.metrics.learner_qp_size.clone()
    }

    /// The per-learner queue waits the driver collects (`learner_handler_qp_time_ms`).
    pub fn learner_queue_times(&self) -> Arc<SharedSummarySet> {
        self.metrics.learner_qp_time.clone()
    }

    /// The per-server ACK latencies the driver samples (`ack_latency`).
    pub fn ack_latencies(&self) -> Arc<SharedSummarySet> {
        self.metrics.ack_latency.clone()
    }

    /// What the driver measures for Apache's `ServerMetrics`.
    pub fn driver_metrics(&self) -> Arc<DriverMetrics> {
        self.metrics.driver.clone()
    }

    /// An ensemble member's `/zookeeper/config`: the membership it runs with, as
    /// ZooKeeper's `initConfigInZKDatabase` writes it (standalone: left empty).
    fn init_config(&mut self) {
        if self.cfg.servers.is_empty() {
            return;
        }
        let (text, version) = match &self.membership {
            Some((t, v)) => (t.clone(), *v),
            None => (
                self.cfg.membership_text(),
                self.cfg.config_version.unwrap_or(0) as i64,
            ),
        };
        for t in self.tree.set_config(text.as_bytes(), version, now_ms()) {
            self.deliver(&t);
        }
    }

    /// The role, without its state.
    pub fn role(&self) -> Role {
        self.role.role()
    }

    /// Read-only mode (`readonlymode.enabled`): a server without a quorum serves reads to
    /// clients that asked for a read-only session, once ZooKeeper's grace period
    /// (`max(2000 ms, tickTime)`) has passed since it lost its quorum.
    fn read_only(&self) -> bool {
        match self.role {
            RoleState::Looking { since, .. } => {
                self.cfg.read_only_mode
                    && self.now.saturating_duration_since(since)
                        >= Duration::from_millis(self.cfg.tick_time_ms.max(2000) as u64)
            }
            _ => false,
        }
    }

    /// Run until the request channel (or replication) closes.
    pub async fn run(mut self, mut rx: mpsc::Receiver<CoreMsg>) {
        let mut replication = self
            .replication_rx
            .take()
            .expect("Core::run is called once");
        let tick = Duration::from_millis((self.cfg.tick_time_ms as u64 / 2).clamp(10, 1000));
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let container_every = Duration::from_millis(self.cfg.container_check_interval_ms.max(10));
        let mut containers = tokio::time::interval(container_every);
        containers.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let purge_hours = self.cfg.autopurge_purge_interval_hours as u64;
        let mut purge = tokio::time::interval(Duration::from_secs(purge_hours.max(1) * 3600));
        purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // What one turn takes from the replication channel and from connections.
        let mut from_replication = Vec::with_capacity(TAKE_AT_ONCE);
        let mut inbox = Vec::with_capacity(TAKE_AT_ONCE);
        loop {
            tokio::select! {
                biased;
                // Replication first: commits free pipeline slots, and it is never
                // gated by them.
                // What is waiting is taken at once (`recv_many`): the channel's permits
                // go back under its semaphore's lock once per lot, not per message.
                n = replication.recv_many(&mut from_replication, TAKE_AT_ONCE) => {
                    if n == 0 { break };
                    let turn = self.turn_started(rx.len(), replication.len() + n);
                    for m in from_replication.drain(..) {
                        self.now = Instant::now();
                        self.on_replication(m);
                    }
                    self.turn_ended(turn);
                }
                n = rx.recv_many(&mut inbox, inbox_lot(self.in_flight.len())),
                    if self.in_flight.len() < MAX_IN_FLIGHT => {
                    if n == 0 { break };
                    let waiting = rx.len();
                    let turn = self.turn_started(waiting + n - 1, replication.len());
                    // Take what else is waiting, so that its writes share a flush.
                    for (i, m) in inbox.drain(..).enumerate() {
                        self.now = Instant::now();
                        self.inbound_waiting = waiting + (n - 1 - i);
                        self.on_msg(m);
                    }
                    self.turn_ended(turn);
                }
                _ = tokio::time::sleep(Duration::from_millis(1)), if self.snapshots.running() => {}
                _ = ticker.tick() => {
                    self.now = Instant::now();
                    self.expire_sessions();
                }
                _ = containers.tick() => {
                    self.now = Instant::now();
                    self.check_containers();
                }
                _ = purge.tick(), if purge_hours > 0 => self.autopurge(),
            }
            // Apache's RequestThrottler waits while too much is in process; ours stops
            // taking requests at the in-flight cap (`request_throttle_wait_count`).
            let gated = self.in_flight.len() >= MAX_IN_FLIGHT;
            if gated && !self.throttled {
                self.metrics.pipeline.throttle_waits += 1;
            }
            self.throttled = gated;
            // What this turn answered goes out: one buffer, one wakeup per connection.
            self.flush_replies();
            self.snapshot_step();
        }
    }

    /// A turn of the loop that takes requests or commits begins: Apache's
    /// CommitProcessor samples its queues as each of its iterations begins (reads held,
    /// local writes waiting for their commit, commits waiting). Its time, if in an
    /// ensemble, for [`Core::turn_ended`].
    fn turn_started(&mut self, inbound: usize, commits: usize) -> Option<Instant> {
        self.inbound_waiting = inbound;
        self.turn_reads = 0;
        if !self.commit_processor() {
            return None;
        }
        let writes = match self.role.learner() {
            Some(l) => l.forwarded.len() + l.pending_syncs.len(),
            None => self.in_flight.len(),
        };
        let p = &mut self.metrics.pipeline;
        p.reads_queued.add(self.held_reads as u64);
        p.writes_queued.add(writes as u64);
        p.commits_queued.add(commits as u64);
        Some(Instant::now())
    }

    fn turn_ended(&mut self, started: Option<Instant>) {
        if let Some(t) = started {
            let p = &mut self.metrics.pipeline;
            p.commit_process_time.add(t.elapsed().as_millis() as u64);
            p.read_commit_proc_issued.add(self.turn_reads);
        }
    }

    fn on_msg(&mut self, msg: CoreMsg) {
        match msg {
            CoreMsg::Connect { conn, req } => self.on_connect(conn, req),
            CoreMsg::Request(r) => self.on_request(r),
            CoreMsg::Requests(rs) => {
                self.prefetch_reads(&rs);
                rs.into_iter().for_each(|r| self.on_request(r))
            }
            CoreMsg::Closed { conn_id } => self.on_closed(conn_id),
            CoreMsg::Inspect(f) => f(&self.view()),
            CoreMsg::ResetStats(what) => self.reset_stats(what),
            CoreMsg::ConnectionRejected => self.metrics.pipeline.connection_rejected += 1,
            CoreMsg::SessionlessExpired => self.metrics.pipeline.sessionless_expired += 1,
            CoreMsg::HandshakeFailed => {
                // NettyServerCnxnFactory.CertificateVerifier counts both.
                self.metrics.unsuccessful_handshake += 1;
                self.metrics.auth_failed += 1;
            }
            CoreMsg::TakeSnapshot(reply) => {
                let _ = reply.send(self.take_snapshot_now());
            }
            CoreMsg::YieldLeadership(reply) => {
                let _ = reply.send(self.yield_leadership());
            }
            CoreMsg::RequestLeadership(reply) => {
                // Standalone: no driver, the dropped sender answers "not in an ensemble".
                if let Some(d) = self.role.driver() {
                    d.send(crate::replicate::DriverMsg::RequestLeadership { reply });
                }
            }
            CoreMsg::Restore { body, zxid, reply } => {
                let _ = reply.send(self.restore(&body, zxid));
            }
        }
    }
}
