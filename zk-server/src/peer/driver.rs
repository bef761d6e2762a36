//! The driver: executes what zab-core's [`Peer`] asks, in order, with real
//! sockets (zab-net), the real log and epoch files (zab-storage), and tells the
//! core what replication decided ([`ReplicationMsg`]).
//!
//! Appends only buffer; a sync thread makes them durable (`fdatasync`) while
//! the driver goes on with the next events, and whatever was appended
//! meanwhile shares the next sync (group commit across steps). Each finished
//! sync is reported as `Persisted`; zab-core holds back every ACK until then.
//! The core's clients are served only while the peer is an established
//! leader, follower or observer (phase Broadcast).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use zab_core::peer::{Action, Event, Peer, ZabPhase};
use zab_core::wire::{packet_type, Notification, QuorumPacket, QuorumPacketRecord, ServerState};
use zab_core::{Epoch, ServerId, Zxid};
use zab_net::{
    connect_to_leader, ElectionNet, LeaderConnectConfig, PeerConn, QuorumConfig, QuorumListener,
};
use zab_storage::{write_epoch_file, PendingSync, TxnLog, ACCEPTED_EPOCH, CURRENT_EPOCH};

use super::{install_snapshot, TICK_MS};
use crate::config::Config;
use crate::persist;
use crate::replicate::{DriverMsg, ObserverInfo, ReplicationMsg, Role};

/// Events the driver takes in one batch (one sync and one commit message to the core),
/// at most: the batch ends sooner when nothing more is waiting.
const BATCH_EVENTS: usize = 1024;
/// Packets taken from one quorum connection, or messages from the core, at once, in
/// turn with the others: one return of the channel's permits (a lock) per lot, not per
/// message (`zab_net::try_recv_many`).
const TAKE_AT_ONCE: usize = 16;
/// Learner connections held while this server's election is still running.
const MAX_EARLY_LEARNERS: usize = 64;
/// How long a follower keeps a learner's connection that arrived for it to lead: in a
/// handover in place (a reconfig's designated leader) the other learners may hear
/// COMMITANDACTIVATE and connect before this server has heard it and started leading.
const EARLY_LEARNER_GRACE: Duration = Duration::from_secs(2);

use crate::core::DriverMetrics;

type Conn = PeerConn<QuorumPacketRecord>;

/// A leader times the first and every 1000th packet queued for each learner
/// (`learner_handler_qp_time_ms`; Apache's `markerPacketInterval`).
const QP_TIME_MARKER_EVERY: u64 = 1000;

/// A connection to the leader, established by a task of its own.
enum Inbound {
    Connected(ServerId, Result<Conn, String>),
}

/// What one of the quorum connections gave: a packet, its failure, or its end.
type ConnItem = Option<Result<QuorumPacketRecord, zab_net::NetError>>;

/// The first quorum connection with something to read. The driver polls its connections
/// itself: no task between a connection's reader and the driver (one wake-up less per
/// PROPOSAL, ACK and COMMIT).
fn poll_conns(
    conns: &mut crate::core::IdMap<ServerId, Conn>,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<(ServerId, ConnItem)> {
    for (sid, c) in conns.iter_mut() {
        if let std::task::Poll::Ready(item) = c.poll_recv(cx) {
            return std::task::Poll::Ready((*sid, item));
        }
    }
    std::task::Poll::Pending
}

/// The sync thread: `fdatasync`s what the driver wrote out, one batch at a time, and
/// reports how far the log is durable. A blocking call, so not on the runtime's workers.
pub(super) fn start_sync_thread(
    my_id: u64,
    log_metrics: Arc<crate::core::LogMetrics>,
) -> (
    std::sync::mpsc::Sender<PendingSync>,
    mpsc::UnboundedReceiver<zab_storage::Result<Zxid>>,
) {
    let (tx, rx) = std::sync::mpsc::channel::<PendingSync>();
    // Unbounded but holding at most one result: the driver has one sync in flight.
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name(format!("log-sync-{my_id}"))
        .spawn(move || {
            while let Ok(p) = rx.recv() {
                let started = std::time::Instant::now();
                let synced = p.sync();
                log_metrics
                    .fsync_time
                    .add(started.elapsed().as_millis() as u64);
                if done_tx.send(synced).is_err() {
                    break;
                }
            }
        })
        .expect("spawn the log sync thread");
    (tx, done_rx)
}

pub(super) struct Driver {
    pub(super) cfg: Arc<Config>,
    pub(super) my_id: ServerId,
    pub(super) peer: Peer,
    pub(super) log: TxnLog,
    /// To the sync thread, and its answers: the zxid the log is durable up to.
    pub(super) sync_tx: std::sync::mpsc::Sender<PendingSync>,
    pub(super) synced_rx: mpsc::UnboundedReceiver<zab_storage::Result<Zxid>>,
    /// A sync is running on the sync thread.
    pub(super) syncing: bool,
    /// Committed entries not yet handed to the core (one message per batch of events).
    pub(super) committed: Vec<(Zxid, Bytes)>,
    pub(super) election: ElectionNet,
    pub(super) quorum_peers: HashMap<ServerId, SocketAddr>,
    pub(super) qcfg: QuorumConfig,
    /// Quorum connections by peer; dropping one closes it.
    pub(super) conns: crate::core::IdMap<ServerId, Conn>,
    /// Scratch list of the connections' sids (taking one packet from each in a batch).
    pub(super) ready_sids: Vec<ServerId>,
    /// Packets for a leader we are still connecting to.
    pub(super) pending_sends: crate::core::IdMap<ServerId, Vec<QuorumPacketRecord>>,
    /// Logged entries not yet committed, to hand to the core on COMMIT.
    pub(super) uncommitted: BTreeMap<Zxid, Bytes>,
    /// The core's replication channel: commits and everything else, in order.
    pub(super) core: mpsc::Sender<ReplicationMsg>,
    pub(super) role: Role,
    pub(super) status_epoch: u64,
    /// The leader and ZAB phase last reported to the core (`ReplicationMsg::Status`).
    pub(super) status: (Option<u64>, &'static str),
    /// Leader: the observers last reported to the core.
    pub(super) observers: Vec<ObserverInfo>,
    /// Learner: a SNAP announced by this leader on its current connection, waiting for
    /// the snapshot bytes. Belongs to that connection: forgotten when it ends, when another
    /// replaces it and when the peer goes back to election (`forget_snapshot`).
    pub(super) expect_snapshot: Option<(ServerId, Zxid)>,
    /// Learner: the snapshot received, waiting for the core's InstallSnapshot.
    pub(super) snapshot: Option<(Zxid, Bytes)>,
    /// The last zxid applied to the core's tree (to know when a TRUNC needs a reload).
    pub(super) tree_last: Zxid,
    /// The read timeout of quorum connections: initLimit until synchronised, then
    /// syncLimit (ZooKeeper's socket timeouts on the learner connection).
    pub(super) read_limit: Option<Duration>,
    pub(super) init_limit: Duration,
    pub(super) sync_limit: Duration,
    /// What the core was last told of the learners.
    pub(super) learners: zab_core::peer::LearnerSummary,
    /// Leader: the synced followers last reported to the core.
    pub(super) synced: Vec<u64>,
    /// An operator's `rqld` waiting for its answer (a newer one replaces it).
    pub(super) rqld_reply: Option<oneshot::Sender<zab_core::peer::RqldAnswer>>,
    /// Learners that connected while we were still looking (or following, in a
    /// handover in place), with when they did.
    pub(super) early_learners: Vec<(std::time::Instant, zab_net::LearnerConn)>,
    /// The state and leader of the last `StateChanged`: a handover in place goes from
    /// one leadership to another without LOOKING, whose connections must go too.
    pub(super) last_state: Option<(ServerState, Option<ServerId>)>,
    /// Leader: each learner's queued packets as a packet is queued for it
    /// (`learner_handler_qp_size`; Apache samples as its LearnerHandler takes one).
    pub(super) learner_qp_size: Arc<crate::core::SharedSummarySet>,
    /// Leader: how long marked packets waited in a learner's queue
    /// (`learner_handler_qp_time_ms`), collected as packets are queued.
    pub(super) learner_qp_time: Arc<crate::core::SharedSummarySet>,
    /// Leader: `ack_latency`, per acknowledging server.
    pub(super) ack_latency: super::ack_latency::AckLatency,
    /// Apache's `ServerMetrics` measured here (syncs, REVALIDATEs, proposals received).
    pub(super) metrics: Arc<crate::core::DriverMetrics>,
    /// Learner: when synchronisation with the leader began (`follower_sync_time`).
    pub(super) sync_started: Option<(std::time::Instant, bool)>,
    /// Since when this server has not been in broadcast (`unavailable_time`).
    pub(super) unavailable_since: Option<std::time::Instant>,
    /// The log's entries between their write and their sync (`sync_processor_*`).
    pub(super) log_times: super::log_times::LogTimes,
    /// Leader: learners synchronising now, by sid: by SNAP (true) or DIFF / TRUNC
    /// (`inflight_snap_count`, `inflight_diff_count`).
    pub(super) syncs_in_flight: HashMap<ServerId, bool>,
    /// The actions of the event being stepped, kept between steps for its allocation
    /// (a step per PROPOSAL, ACK and COMMIT would otherwise allocate a list each).
    pub(super) actions: Vec<Action>,
    pub(super) _quorum_listener: QuorumListener,
}

impl Driver {
    pub(super) async fn run(
        mut self,
        mut election_rx: mpsc::Receiver<(ServerId, Bytes)>,
        mut learners_rx: mpsc::Receiver<zab_net::LearnerConn>,
        mut core_rx: mpsc::Receiver<DriverMsg>,
    ) {
        let (in_tx, mut in_rx) = mpsc::channel::<Inbound>(10_000);
        // Scratch lists for what is taken from a quorum connection or the core at once.
        let mut packets = Vec::with_capacity(TAKE_AT_ONCE);
        let mut from_core = Vec::with_capacity(TAKE_AT_ONCE);
        let mut ticker = tokio::time::interval(Duration::from_millis(TICK_MS));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.step(Event::Start, &in_tx).await;
        loop {
            // Appends of the steps so far go to disk together, while the next events run.
            self.start_sync();
            tokio::select! {
                Some(r) = self.synced_rx.recv(), if self.syncing => {
                    self.syncing = false;
                    let upto = self.finish_sync(r);
                    if self.peer.state() == ServerState::Leading {
                        self.ack_latency.on_ack(self.my_id, upto);
                    }
                    self.step(Event::Persisted { upto }, &in_tx).await;
                }
                _ = ticker.tick() => self.step(Event::Tick, &in_tx).await,
                Some((from, b)) = election_rx.recv() => match Notification::decode(&b) {
                    Ok(n) => self.step(Event::Notification { from, n }, &in_tx).await,
                    Err(e) => tracing::warn!("bad notification from {from}: {e}"),
                },
                Some(lc) = learners_rx.recv() => {
                    let Some(sid) = lc.sid else { continue };
                    if self.peer.state() == ServerState::Leading {
                        let first = lc.first;
                        self.register(sid, lc.conn);
                        self.on_packet(sid, first, &in_tx).await;
                    } else {
                        // A learner may decide faster than we do: keep its
                        // connection until our election ends.
                        self.early_learners.retain(|(_, l)| l.sid != Some(sid));
                        if self.early_learners.len() < MAX_EARLY_LEARNERS {
                            self.early_learners.push((std::time::Instant::now(), lc));
                        }
                    }
                }
                (sid, item) = std::future::poll_fn(|cx| poll_conns(&mut self.conns, cx)) => {
                    self.on_conn_item(sid, item, &in_tx).await;
                }
                Some(m) = in_rx.recv() => self.on_inbound(m, &in_tx).await,
                Some(m) = core_rx.recv() => self.on_core(m, &in_tx).await,
                else => break,
            }
            // Whatever else is ready joins this batch: its appends share the next sync
            // and its commits one message to the core.
            let mut taken = 0;
            while taken < BATCH_EVENTS {
                let before = taken;
                if let Ok(m) = in_rx.try_recv() {
                    self.on_inbound(m, &in_tx).await;
                    taken += 1;
                }
                // A few packets from each quorum connection per round, in turn.
                let mut sids = std::mem::take(&mut self.ready_sids);
                sids.clear();
                sids.extend(self.conns.keys().copied());
                for sid in &sids {
                    let got = match self.conns.get_mut(sid) {
                        Some(c) => c.try_recv_many(&mut packets, TAKE_AT_ONCE),
                        None => continue,
                    };
                    match got {
                        Some(n) => {
                            taken += n;
                            for p in packets.drain(..) {
                                // A failure is the connection's last item.
                                let end = p.is_err();
                                self.on_conn_item(*sid, Some(p), &in_tx).await;
                                if end {
                                    break;
                                }
                            }
                            packets.clear();
                        }
                        None => {
                            taken += 1;
                            self.on_conn_item(*sid, None, &in_tx).await;
                        }
                    }
                }
                self.ready_sids = sids;
                // None: the core is gone; the select above sees it too.
                taken +=
                    zab_net::try_recv_many(&mut core_rx, &mut from_core, TAKE_AT_ONCE).unwrap_or(0);
                for m in from_core.drain(..) {
                    self.on_core(m, &in_tx).await;
                }
                if taken == before {
                    break;
                }
            }
            self.flush_committed().await;
        }
    }

    /// A packet from quorum connection `sid`, or its end.
    async fn on_conn_item(&mut self, sid: ServerId, item: ConnItem, in_tx: &mpsc::Sender<Inbound>) {
        match item {
            Some(Ok(p)) => self.on_packet(sid, p, in_tx).await,
            Some(Err(e)) => {
                tracing::info!("quorum connection with {sid} failed: {e}");
                self.conn_ended(sid, in_tx).await;
            }
            None => self.conn_ended(sid, in_tx).await,
        }
    }

    async fn conn_ended(&mut self, sid: ServerId, in_tx: &mpsc::Sender<Inbound>) {
        self.forget_snapshot(Some(sid));
        if self.conns.remove(&sid).is_some() {
            self.step(Event::Disconnected { peer: sid }, in_tx).await;
        }
    }

    async fn on_inbound(&mut self, m: Inbound, in_tx: &mpsc::Sender<Inbound>) {
        match m {
            Inbound::Connected(sid, Ok(conn)) => {
                self.register(sid, conn);
                for p in self.pending_sends.remove(&sid).unwrap_or_default() {
                    self.send_record(sid, p);
                }
            }
            Inbound::Connected(sid, Err(e)) => {
                tracing::info!("cannot reach leader {sid}: {e}");
                self.pending_sends.remove(&sid);
                self.step(Event::Disconnected { peer: sid }, in_tx).await;
            }
        }
    }

    async fn on_core(&mut self, m: DriverMsg, in_tx: &mpsc::Sender<Inbound>) {
        let ev = match m {
            DriverMsg::Propose(b) => {
                self.ack_latency.on_propose(&b);
                Event::Propose(b)
            }
            DriverMsg::Forward(p) => Event::Forward(p),
            DriverMsg::Sync { learner } => Event::SyncRequest {
                learner: ServerId(learner),
            },
            DriverMsg::Reply { to, msg } => Event::Reply {
                to: ServerId(to),
                msg,
            },
            DriverMsg::RequestLeadership { reply } => {
                tracing::info!("an operator's rqld: asking for leadership for this server");
                self.rqld_reply = Some(reply);
                Event::RequestLeadership
            }
            DriverMsg::YieldLeadership { yield_ms } => {
                tracing::info!("yielding leadership (an operator's ydld)");
                Event::YieldLeadership {
                    yield_ticks: (yield_ms / TICK_MS).clamp(1, u32::MAX as u64) as u32,
                }
            }
        };
        self.step(ev, in_tx).await;
    }

    /// Hands the committed entries gathered so far to the core, in zxid order.
    async fn flush_committed(&mut self) {
        if !self.committed.is_empty() {
            let entries = std::mem::take(&mut self.committed);
            let _ = self.core.send(ReplicationMsg::Committed(entries)).await;
        }
    }

    /// Every message to the core goes after the commits before it.
    /// A reconfig committed: reach the new servers, write the new membership where a
    /// restart reads it (`zoo.cfg.dynamic.<hex>` and zoo.cfg's `dynamicConfigFile`),
    /// and tell the core (after the commit that carried it).
    async fn on_activate(&mut self, config: &[u8], version: i64) {
        let text = String::from_utf8_lossy(config).into_owned();
        tracing::info!(
            "server {}: activating configuration {version:x}",
            self.my_id
        );
        let servers = match crate::reconfig::parse_membership(&text) {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::error!("activated configuration {version:x} does not parse: {e}");
                return;
            }
        };
        for (id, s) in &servers {
            let sid = ServerId(*id);
            match super::resolve(&s.host, s.election_port).await {
                Ok(a) if sid != self.my_id => self.election.add_peer(sid, a),
                Ok(_) => {}
                Err(e) => tracing::warn!("server {id} of configuration {version:x}: {e}"),
            }
            if let Ok(a) = super::resolve(&s.host, s.quorum_port).await {
                self.quorum_peers.insert(sid, a);
            }
        }
        if let Some(zoo_cfg) = &self.cfg.source {
            let has_client = servers
                .get(&self.my_id.0)
                .is_some_and(|s| s.client_port.is_some());
            match crate::reconfig::write_config_files(zoo_cfg, &text, has_client) {
                Ok(p) => tracing::info!("configuration {version:x} written to {}", p.display()),
                Err(e) => tracing::error!(
                    "cannot write configuration {version:x} next to {}: {e}",
                    zoo_cfg.display()
                ),
            }
        }
        self.send_core(ReplicationMsg::ConfigActivated { text, version })
            .await;
    }

    async fn send_core(&mut self, m: ReplicationMsg) {
        self.flush_committed().await;
        let _ = self.core.send(m).await;
    }

    /// Hands what was appended since the last sync to the sync thread, unless a
    /// sync is running (then it waits for the next round, with whatever else comes).
    fn start_sync(&mut self) {
        if self.syncing || self.log.durable_zxid() >= self.log.last_zxid() {
            return;
        }
        match self.log.start_flush() {
            Ok(p) => {
                if self.sync_tx.send(p).is_err() {
                    fatal("the log sync thread is gone");
                }
                self.log_times.flush_started();
                self.syncing = true;
            }
            Err(e) => fatal(&format!("cannot write the log: {e}")),
        }
    }

    fn finish_sync(&mut self, r: zab_storage::Result<Zxid>) -> Zxid {
        match self.log.finish_flush(r) {
            Ok(z) => {
                let acks = matches!(
                    self.peer.state(),
                    ServerState::Leading | ServerState::Following
                );
                self.log_times.synced(z, acks);
                z
            }
            Err(e) => fatal(&format!("cannot flush the log: {e}")),
        }
    }

    /// Waits for a running sync (before the log is cut or restarted under it); returns
    /// how far it made the log durable.
    async fn wait_sync(&mut self) -> Option<Zxid> {
        if !self.syncing {
            return None;
        }
        self.syncing = false;
        match self.synced_rx.recv().await {
            Some(r) => Some(self.finish_sync(r)),
            None => fatal("the log sync thread is gone"),
        }
    }

    /// Own a quorum connection (replacing, and so closing, an older one with `sid`); the
    /// driver reads it in its own loop.
    fn register(&mut self, sid: ServerId, conn: Conn) {
        self.forget_snapshot(Some(sid));
        conn.set_read_timeout(self.read_limit);
        self.conns.insert(sid, conn);
    }

    /// A SNAP's state belongs to the connection it came on: a new connection (the same
    /// leader again or another) starts its synchronisation from the beginning, with a new
    /// SNAP packet of its own. `None`: whatever connection it was.
    fn forget_snapshot(&mut self, conn: Option<ServerId>) {
        if conn.is_none() || self.expect_snapshot.is_some_and(|(s, _)| Some(s) == conn) {
            self.expect_snapshot = None;
        }
        self.snapshot = None;
    }

    async fn on_packet(
        &mut self,
        sid: ServerId,
        rec: QuorumPacketRecord,
        in_tx: &mpsc::Sender<Inbound>,
    ) {
        // The codec hands the database that follows a SNAP over as one more SNAP record.
        if rec.packet_type == packet_type::SNAP {
            match self.expect_snapshot.take() {
                Some((from, z)) if from == sid => {
                    tracing::info!("synchronising with leader {sid} by SNAP at {z}");
                    self.snapshot = Some((z, rec.data.clone().unwrap_or_default()));
                    let ev = Event::Received {
                        from: sid,
                        msg: QuorumPacket::Snap { zxid: z },
                    };
                    self.step(ev, in_tx).await;
                    // Installed by the step, or refused by the core (not in sync mode).
                    self.snapshot = None;
                    return;
                }
                _ => {
                    self.expect_snapshot = Some((sid, Zxid(rec.zxid)));
                    return;
                }
            }
        }
        match QuorumPacket::from_record(rec) {
            Ok(msg) => {
                match &msg {
                    QuorumPacket::Diff { zxid } => {
                        tracing::info!("synchronising with leader {sid} by DIFF up to {zxid}")
                    }
                    QuorumPacket::Ack { zxid } if self.peer.state() == ServerState::Leading => {
                        self.ack_latency.on_ack(sid, *zxid)
                    }
                    QuorumPacket::Revalidate { .. }
                        if self.peer.state() == ServerState::Leading =>
                    {
                        DriverMetrics::count(&self.metrics.revalidate_count)
                    }
                    // Apache's Follower.processPacket: proposals in broadcast only.
                    QuorumPacket::Proposal { data, .. } if self.role == Role::Following => {
                        DriverMetrics::count(&self.metrics.learner_proposal_received);
                        let latency = super::log_times::txn_time(data)
                            .and_then(super::log_times::since_txn_time);
                        if let Some(l) = latency {
                            self.metrics.proposal_latency.add(l);
                        }
                    }
                    QuorumPacket::Trunc { zxid } => {
                        tracing::info!("synchronising with leader {sid} by TRUNC to {zxid}")
                    }
                    _ => {}
                }
                self.step(Event::Received { from: sid, msg }, in_tx).await
            }
            Err(e) => tracing::warn!("bad quorum packet from {sid}: {e}"),
        }
    }

    fn send_record(&mut self, to: ServerId, p: QuorumPacketRecord) {
        match self.conns.get(&to) {
            Some(s) => {
                // Apache's LearnerHandler queues a marker after every 1000th packet
                // (the first included) and times how long it waited.
                // From the first packet on (LEADERINFO, in discovery), as Apache's
                // LearnerHandler counts every packet it queues.
                if self.role == Role::Leading {
                    self.learner_qp_size.add(to.0, s.queued() as u64);
                }
                let mark = if self.peer.state() == ServerState::Leading {
                    for w in s.take_queue_waits() {
                        self.learner_qp_time.add_q(to.0, w);
                    }
                    QP_TIME_MARKER_EVERY
                } else {
                    0
                };
                if !s.is_closed() && s.try_send_marking(p, mark).is_err() {
                    // Closing it makes its reader report the end, which the driver's loop
                    // takes as the peer's disconnection.
                    tracing::warn!("quorum connection with {to} is full or closed; dropping it");
                    s.close();
                }
            }
            None => {
                // A learner's first packets go out once its leader connection is up.
                if let Some(q) = self.pending_sends.get_mut(&to) {
                    q.push(p);
                }
            }
        }
    }

    /// Feed one event and execute what the core asks, in order.
    async fn step(&mut self, ev: Event, in_tx: &mpsc::Sender<Inbound>) {
        // Events caused by a step run next, in order: `queue` is a stack, most events
        // cause none, and so the first event needs no allocation.
        let mut next = Some(ev);
        let mut queue = Vec::new();
        while let Some(ev) = next.take().or_else(|| queue.pop()) {
            let mut actions = std::mem::take(&mut self.actions);
            self.peer.step_into(ev, &mut actions);
            let mut follow_up = Vec::new();
            for a in actions.drain(..) {
                match a {
                    Action::SendNotification { to, n } => {
                        let b = Bytes::from(n.encode());
                        if to == self.my_id {
                            follow_up.push(Event::Notification { from: to, n });
                        } else if let Err(e) = self.election.send(to, b) {
                            tracing::debug!("election send to {to}: {e}");
                        }
                    }
                    Action::Send { to, msg } => {
                        // Apache's LearnerHandler counts a sync that is not a SNAP as a diff.
                        if matches!(msg, QuorumPacket::Diff { .. } | QuorumPacket::Trunc { .. }) {
                            DriverMetrics::count(&self.metrics.diff_count);
                            self.sync_began(to, false);
                        }
                        if let QuorumPacket::HandOver {
                            requester, outcome, ..
                        } = &msg
                        {
                            handover_log(to, *requester, *outcome);
                        }
                        self.send_record(to, msg.into_record())
                    }
                    Action::RqldAnswer(a) => {
                        tracing::info!("rqld: {a:?}");
                        if let Some(reply) = self.rqld_reply.take() {
                            let _ = reply.send(a);
                        }
                    }
                    Action::SendSnapshot { to, zxid } => {
                        DriverMetrics::count(&self.metrics.snap_count);
                        self.sync_began(to, true);
                        let (tx, rx) = oneshot::channel();
                        self.send_core(ReplicationMsg::Snapshot { reply: tx }).await;
                        let Ok(bytes) = rx.await else {
                            // The core is gone (shutting down): no state to send, so no SNAP
                            // either; the learner retries with the next leader.
                            if let Some(c) = self.conns.get(&to) {
                                c.close();
                            }
                            continue;
                        };
                        // The codec writes the record after a SNAP raw: the database in
                        // Apache's serialization, then its signature.
                        self.send_record(to, QuorumPacket::Snap { zxid }.to_record());
                        self.send_record(
                            to,
                            QuorumPacketRecord {
                                packet_type: packet_type::SNAP,
                                zxid: zxid.0,
                                data: Some(Bytes::from(bytes)),
                                authinfo: vec![],
                            },
                        );
                    }
                    Action::Append(entries) => {
                        for (z, b) in entries {
                            let at = std::time::Instant::now();
                            if let Err(e) = self.log.append(z, &b) {
                                fatal(&format!("cannot append {z} to the log: {e}"));
                            }
                            let write_ms = at.elapsed().as_millis() as u64;
                            self.log_times.appended(z, &b, at, write_ms);
                            self.uncommitted.insert(z, b);
                        }
                    }
                    Action::Truncate { to } => {
                        // What a running sync covered below the cut stays durable.
                        if let Some(z) = self.wait_sync().await {
                            follow_up.push(Event::Persisted { upto: z.min(to) });
                        }
                        if let Err(e) = self.log.truncate_to(to) {
                            fatal(&format!("cannot truncate the log to {to}: {e}"));
                        }
                        self.log_times.truncated(to);
                        self.uncommitted.split_off(&to.next());
                        // The tree holds committed transactions only, and zab-core never
                        // truncates below its commit point.
                        assert!(
                            self.tree_last <= to,
                            "TRUNC to {to} below the applied state {}",
                            self.tree_last
                        );
                    }
                    Action::InstallSnapshot { zxid } => {
                        let Some((z, bytes)) = self.snapshot.take() else {
                            fatal("InstallSnapshot without a snapshot");
                        };
                        debug_assert_eq!(z, zxid);
                        // The log restarts at the snapshot: a running sync no longer matters.
                        self.wait_sync().await;
                        self.log_times.cleared();
                        match install_snapshot(&self.cfg, &mut self.log, zxid, &bytes) {
                            Ok((tree, sessions)) => {
                                self.uncommitted.clear();
                                self.tree_last = tree.last_processed_zxid();
                                self.send_core(ReplicationMsg::ReplaceTree {
                                    tree: Box::new(tree),
                                    sessions,
                                })
                                .await;
                                follow_up.push(Event::Persisted { upto: zxid });
                            }
                            Err(e) => {
                                fatal(&format!("cannot install the snapshot from the leader: {e}"))
                            }
                        }
                    }
                    Action::SaveAcceptedEpoch(e) => {
                        self.save_epoch(ACCEPTED_EPOCH, e);
                        follow_up.push(Event::AcceptedEpochSaved(e));
                    }
                    Action::SaveCurrentEpoch(e) => {
                        self.save_epoch(CURRENT_EPOCH, e);
                        follow_up.push(Event::CurrentEpochSaved(e));
                    }
                    Action::Commit { upto } => {
                        self.ack_latency.on_commit(upto);
                        // Handed to the core with the next message, or after this batch of
                        // events. Taken from the front one by one: `split_off` would build
                        // a new map for the rest at every COMMIT.
                        while let Some(e) = self.uncommitted.first_entry() {
                            if *e.key() > upto {
                                break;
                            }
                            let (z, b) = e.remove_entry();
                            self.tree_last = self.tree_last.max(z);
                            self.committed.push((z, b));
                        }
                    }
                    Action::Deliver { from, msg } => {
                        let m = match msg {
                            QuorumPacket::Request { data, authinfo } => {
                                Some(ReplicationMsg::Remote {
                                    from: from.0,
                                    data,
                                    auth: authinfo,
                                })
                            }
                            QuorumPacket::Ping { data, .. } => Some(ReplicationMsg::Touch(data)),
                            QuorumPacket::Sync { .. } => Some(ReplicationMsg::SyncDone),
                            QuorumPacket::Revalidate { data } => {
                                if self.peer.state() == ServerState::Leading {
                                    Some(ReplicationMsg::Revalidate { from: from.0, data })
                                } else {
                                    Some(ReplicationMsg::Revalidated(data))
                                }
                            }
                            _ => None,
                        };
                        if let Some(m) = m {
                            self.send_core(m).await;
                        }
                    }
                    Action::StateChanged(st) => {
                        self.on_state(st, in_tx).await;
                    }
                    Action::Activate { config, version } => {
                        self.on_activate(&config, version).await;
                    }
                }
            }
            let observers = self.peer.observer_ids();
            if observers
                .iter()
                .map(|s| s.0)
                .ne(self.observers.iter().map(|o| o.sid))
            {
                let now = crate::core::now_ms();
                let known: HashMap<u64, i64> = self
                    .observers
                    .iter()
                    .map(|o| (o.sid, o.established_ms))
                    .collect();
                self.observers = observers
                    .iter()
                    .map(|sid| ObserverInfo {
                        sid: sid.0,
                        addr: self.conns.get(sid).map(|c| c.peer_addr()),
                        established_ms: known.get(&sid.0).copied().unwrap_or(now),
                    })
                    .collect();
                self.send_core(ReplicationMsg::Observers(self.observers.clone()))
                    .await;
            }
            // Compared without a list of its own: this runs after every event.
            if self
                .peer
                .synced_followers()
                .map(|s| s.0)
                .ne(self.synced.iter().copied())
            {
                let synced: Vec<u64> = self.peer.synced_followers().map(|s| s.0).collect();
                self.synced = synced.clone();
                self.send_core(ReplicationMsg::SyncedFollowers(synced))
                    .await;
            }
            self.syncs_ended();
            let learners = self.peer.learners();
            if learners != self.learners {
                self.learners = learners;
                self.send_core(ReplicationMsg::Learners(learners)).await;
            }
            match self.peer.state() {
                ServerState::Leading => {
                    for (_, lc) in std::mem::take(&mut self.early_learners) {
                        let Some(sid) = lc.sid else { continue };
                        self.register(sid, lc.conn);
                        match QuorumPacket::from_record(lc.first) {
                            Ok(msg) => follow_up.push(Event::Received { from: sid, msg }),
                            Err(e) => tracing::warn!("bad first quorum packet from {sid}: {e}"),
                        }
                    }
                }
                ServerState::Following | ServerState::Observing => self
                    .early_learners
                    .retain(|(at, _)| at.elapsed() < EARLY_LEARNER_GRACE),
                ServerState::Looking => {}
            }
            self.actions = actions;
            // Events caused by this step run next, in order.
            for e in follow_up.into_iter().rev() {
                queue.push(e);
            }
        }
    }

    /// Leader: a learner's synchronisation began (Apache's `syncThrottler.beginSync`).
    fn sync_began(&mut self, sid: ServerId, snap: bool) {
        self.syncs_in_flight.insert(sid, snap);
        self.sample_syncs_in_flight(snap);
    }

    /// Leader: learners that acknowledged NEWLEADER end their synchronisation
    /// (`endSync`, sampled); those gone end it unsampled, as Apache's `finally`.
    fn syncs_ended(&mut self) {
        if self.syncs_in_flight.is_empty() {
            return;
        }
        let mut ended = Vec::new();
        self.syncs_in_flight
            .retain(|sid, snap| match self.peer.learner_synced(*sid) {
                Some(false) => true,
                Some(true) => {
                    ended.push(*snap);
                    false
                }
                None => false,
            });
        for snap in ended {
            self.sample_syncs_in_flight(snap);
        }
    }

    fn sample_syncs_in_flight(&self, snap: bool) {
        let n = self
            .syncs_in_flight
            .values()
            .filter(|s| **s == snap)
            .count() as u64;
        if snap {
            self.metrics.inflight_snap_count.add(n);
        } else {
            self.metrics.inflight_diff_count.add(n);
        }
    }

    fn save_epoch(&self, name: &str, e: Epoch) {
        if let Err(err) = write_epoch_file(&persist::snap_dir(&self.cfg), name, e) {
            fatal(&format!("cannot write {name}: {err}"));
        }
    }

    async fn on_state(&mut self, st: zab_core::peer::PeerStatus, in_tx: &mpsc::Sender<Inbound>) {
        tracing::info!(
            "peer {}: {:?} / {:?}, leader {:?}, epoch {}",
            self.my_id,
            st.state,
            st.phase,
            st.leader,
            st.epoch
        );
        // Apache's QuorumPeer: from the start, or the end of a role, to the next broadcast.
        if st.phase == ZabPhase::Broadcast {
            if let Some(at) = self.unavailable_since.take() {
                let ms = at.elapsed().as_millis() as u64;
                self.metrics.unavailable_time.add(ms);
                if st.state == ServerState::Leading {
                    self.metrics.leader_unavailable_time.add(ms);
                }
            }
        } else if self.unavailable_since.is_none() {
            self.unavailable_since = Some(std::time::Instant::now());
        }
        // Apache's Follower / Observer: ms from LEADERINFO's epoch accepted to UPTODATE.
        match (st.state, st.phase) {
            (ServerState::Following | ServerState::Observing, ZabPhase::Synchronization) => {
                if self.sync_started.is_none() {
                    let observer = st.state == ServerState::Observing;
                    self.sync_started = Some((std::time::Instant::now(), observer));
                }
            }
            (ServerState::Following | ServerState::Observing, ZabPhase::Broadcast) => {
                if let Some((at, observer)) = self.sync_started.take() {
                    let ms = at.elapsed().as_millis() as u64;
                    if observer {
                        self.metrics.observer_sync_time.add(ms);
                    } else {
                        self.metrics.follower_sync_time.add(ms);
                    }
                }
            }
            _ => self.sync_started = None,
        }
        // Leave old quorum connections behind when we are no longer part of that leadership.
        let before = self.last_state.replace((st.state, st.leader));
        match st.state {
            ServerState::Looking => {
                self.ack_latency.clear();
                self.conns.clear();
                self.pending_sends.clear();
                self.forget_snapshot(None);
            }
            ServerState::Following | ServerState::Observing => {
                if before.is_some_and(|(s, _)| s == ServerState::Leading) {
                    // A leader handing over in place follows its successor: every
                    // connection it holds is a learner's, the successor's included, and
                    // none is the one to follow it by.
                    tracing::info!(
                        "handing over to server {:?}: closing the learners' connections",
                        st.leader
                    );
                    self.conns.clear();
                    self.pending_sends.clear();
                    self.forget_snapshot(None);
                }
                if let Some((was, Some(old))) = before {
                    let learner = matches!(was, ServerState::Following | ServerState::Observing);
                    if learner && was != st.state && st.leader == Some(old) {
                        // Promoted to voter or made an observer: a new connection to the
                        // same leader, opened by FOLLOWERINFO / OBSERVERINFO.
                        tracing::info!("now {:?} of server {old}: reconnecting", st.state);
                        self.conns.remove(&old);
                        self.pending_sends.remove(&old);
                        self.forget_snapshot(Some(old));
                    }
                }
                if let Some(leader) = st.leader {
                    self.conns.retain(|sid, _| *sid == leader);
                    if !self.conns.contains_key(&leader)
                        && !self.pending_sends.contains_key(&leader)
                    {
                        self.pending_sends.insert(leader, Vec::new());
                        let addr = self.quorum_peers.get(&leader).copied();
                        let qcfg = self.qcfg.clone();
                        let tx = in_tx.clone();
                        tokio::spawn(async move {
                            let r = match addr {
                                Some(a) => {
                                    connect_to_leader(a, &LeaderConnectConfig::default(), &qcfg)
                                        .await
                                        .map_err(|e| e.to_string())
                                }
                                None => Err(format!("no address for server {leader}")),
                            };
                            let _ = tx.send(Inbound::Connected(leader, r)).await;
                        });
                    }
                }
            }
            ServerState::Leading => {
                // The designated leader of a handover in place leads straight from
                // following: its connection to the old leader goes.
                if let Some((ServerState::Following | ServerState::Observing, Some(old))) = before {
                    if self.conns.remove(&old).is_some() {
                        tracing::info!("leading after a handover: leaving server {old}");
                    }
                    self.pending_sends.remove(&old);
                    self.forget_snapshot(Some(old));
                }
            }
        }
        let limit = if st.phase == ZabPhase::Broadcast {
            self.sync_limit
        } else {
            self.init_limit
        };
        if self.read_limit != Some(limit) {
            self.read_limit = Some(limit);
            for c in self.conns.values() {
                c.set_read_timeout(Some(limit));
            }
        }
        let role = match (st.state, st.phase) {
            (ServerState::Leading, ZabPhase::Broadcast) => Role::Leading,
            (ServerState::Following, ZabPhase::Broadcast) => Role::Following,
            (ServerState::Observing, ZabPhase::Broadcast) => Role::Observing,
            _ => Role::Looking,
        };
        let zab_phase = match st.phase {
            ZabPhase::Election => "election",
            ZabPhase::Discovery => "discovery",
            ZabPhase::Synchronization => "synchronization",
            ZabPhase::Broadcast => "broadcast",
        };
        let status = (self.peer.leader().or(st.leader).map(|l| l.0), zab_phase);
        if status != self.status {
            self.status = status;
            self.send_core(ReplicationMsg::Status {
                leader: status.0,
                zab_phase,
            })
            .await;
        }
        if role != self.role || st.epoch.0 != self.status_epoch {
            self.role = role;
            self.status_epoch = st.epoch.0;
            self.send_core(ReplicationMsg::Role {
                role,
                epoch: st.epoch.0,
            })
            .await;
        }
    }
}

fn fatal(msg: &str) -> ! {
    tracing::error!("{msg}");
    eprintln!("zk-server: fatal: {msg}");
    std::process::exit(crate::EXIT_STORAGE);
}

/// The leader's log line for each HANDOVER it sends (once per outcome, to the requester).
fn handover_log(to: ServerId, requester: ServerId, outcome: zab_core::wire::HandOverOutcome) {
    use zab_core::wire::HandOverOutcome::*;
    if to != requester {
        return;
    }
    match outcome {
        Preferred => tracing::info!(
            "rqld from server {requester}: every voter connected is a zk-rs server; they \
             prefer {requester} among equally up-to-date candidates; yielding once it has \
             every proposal"
        ),
        PlainYield => tracing::warn!(
            "rqld from server {requester}: a voter is not a zk-rs server (Apache ZooKeeper \
             knows no preference); falling back to ydld: yielding to any up-to-date member"
        ),
        NotUpToDate => tracing::warn!(
            "rqld from server {requester}: it did not catch up within syncLimit; not yielding"
        ),
        Refused => tracing::warn!(
            "rqld from server {requester}: not a synced voter, or a hand-over is already \
             running; refused"
        ),
    }
}
