//! The figures the core measures for Apache ZooKeeper's `ServerMetrics`
//! (request latencies, proposals, commits, snapshots, elections, auth
//! failures, response bytes, watches fired): plain counters and
//! [`Summary`]s, updated on the core's task and read through
//! [`super::StatsView::metrics`]. Which name each figure is printed under,
//! and how (`mntr`, Prometheus), is `crate::metrics`'s business, not the
//! core's. [`SharedSummary`] and [`SharedSummaryQ`] are the ones a thread outside
//! the core updates (the log's writer: [`LogMetrics`]; the driver: [`DriverMetrics`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A duration in whole milliseconds, the unit of Apache's `_ms` and latency summaries.
pub fn ms(d: std::time::Duration) -> u64 {
    d.as_millis() as u64
}

/// How many recent values a summary with quantiles keeps (Apache's
/// `AvgMinMaxPercentileCounter` samples 1028 into its reservoir).
pub const RESERVOIR: usize = 1028;

/// Count, sum, min and max of the values added; with `quantiles`, also the
/// last [`RESERVOIR`] values, for p50/p95/p99/p999 (Apache's
/// `AvgMinMaxCounter` and `AvgMinMaxPercentileCounter`).
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub count: u64,
    pub sum: u64,
    pub min: u64,
    pub max: u64,
    recent: Option<Vec<u64>>,
    next: usize,
}

impl Summary {
    /// A summary that keeps the values behind its quantiles.
    pub fn with_quantiles() -> Summary {
        Summary {
            recent: Some(Vec::new()),
            ..Summary::default()
        }
    }

    pub fn add(&mut self, v: u64) {
        if self.count == 0 || v < self.min {
            self.min = v;
        }
        self.max = self.max.max(v);
        self.count += 1;
        self.sum = self.sum.saturating_add(v);
        if let Some(r) = &mut self.recent {
            if r.len() < RESERVOIR {
                r.push(v);
            } else {
                r[self.next] = v;
            }
            self.next = (self.next + 1) % RESERVOIR;
        }
    }

    /// The `q` quantile (0..=1) of the recent values; 0 when empty.
    /// Dropwizard's `UniformSnapshot.getValue` way: interpolate between the
    /// neighbours of position `q * (n + 1)`, truncated to an integer.
    pub fn quantile(&self, q: f64) -> u64 {
        let Some(r) = &self.recent else { return 0 };
        if r.is_empty() {
            return 0;
        }
        let mut v = r.clone();
        v.sort_unstable();
        let pos = q * (v.len() as f64 + 1.0);
        let idx = pos as usize;
        if idx < 1 {
            return v[0];
        }
        if idx >= v.len() {
            return v[v.len() - 1];
        }
        let (lo, hi) = (v[idx - 1] as f64, v[idx] as f64);
        (lo + (pos - pos.floor()) * (hi - lo)) as u64
    }

    pub fn has_quantiles(&self) -> bool {
        self.recent.is_some()
    }

    pub fn reset(&mut self) {
        let q = self.has_quantiles();
        *self = Summary::default();
        if q {
            self.recent = Some(Vec::new());
        }
    }
}

/// A labelled set of count/sum/min/max summaries updated from another task
/// (the driver's `learner_handler_qp_size`, one per learner's sid). Keyed by the sid,
/// so that the driver's update on every packet to a learner allocates nothing; the
/// labels are written when the metrics are read.
#[derive(Debug, Default)]
pub struct SharedSummarySet(std::sync::Mutex<BTreeMap<u64, Summary>>);

impl SharedSummarySet {
    pub fn add(&self, sid: u64, v: u64) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(sid).or_default().add(v);
    }

    /// [`SharedSummarySet::add`] to a summary that keeps its quantiles (Apache's
    /// ADVANCED sets).
    pub fn add_q(&self, sid: u64, v: u64) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(sid).or_insert_with(Summary::with_quantiles).add(v);
    }

    /// Back to no members (`srst`).
    pub fn reset(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The summaries by label (the sid in decimal).
    pub fn get(&self) -> BTreeMap<String, Summary> {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.iter()
            .map(|(sid, s)| (sid.to_string(), s.clone()))
            .collect()
    }
}

/// What the peer driver measures for Apache's `ServerMetrics`, updated from its task:
/// a leader's syncs (`diff_count`: DIFF or TRUNC, `snap_count`, those in flight),
/// REVALIDATEs and `quorum_ack_latency`; a learner's proposals received in broadcast,
/// their latency, and its sync time; the ACKs' creation latency.
#[derive(Debug)]
pub struct DriverMetrics {
    pub diff_count: AtomicU64,
    pub snap_count: AtomicU64,
    pub revalidate_count: AtomicU64,
    pub learner_proposal_received: AtomicU64,
    pub follower_sync_time: SharedSummary,
    pub observer_sync_time: SharedSummary,
    /// ms from leaving broadcast (or starting) to broadcast again; the leader's too.
    pub unavailable_time: SharedSummary,
    pub leader_unavailable_time: SharedSummary,
    /// ms from a proposal to its commit (Apache: from the request's creation).
    pub quorum_ack_latency: std::sync::Mutex<Summary>,
    /// `proposal_latency` (follower): wall-clock ms from a transaction's time to the
    /// arrival of its PROPOSAL in broadcast.
    pub proposal_latency: SharedSummaryQ,
    /// `proposal_ack_creation_latency` (leader, follower): wall-clock ms from a
    /// transaction's time to the sync after which this server acknowledges it.
    pub proposal_ack_creation_latency: SharedSummaryQ,
    /// `inflight_snap_count`, `inflight_diff_count` (leader): learners synchronising by
    /// SNAP (by DIFF or TRUNC), sampled as one starts (itself included) and as one
    /// acknowledges NEWLEADER (itself no longer).
    pub inflight_snap_count: SharedSummary,
    pub inflight_diff_count: SharedSummary,
}

impl Default for DriverMetrics {
    fn default() -> Self {
        DriverMetrics {
            diff_count: AtomicU64::new(0),
            snap_count: AtomicU64::new(0),
            revalidate_count: AtomicU64::new(0),
            learner_proposal_received: AtomicU64::new(0),
            follower_sync_time: SharedSummary::default(),
            observer_sync_time: SharedSummary::default(),
            unavailable_time: SharedSummary::default(),
            leader_unavailable_time: SharedSummary::default(),
            quorum_ack_latency: std::sync::Mutex::new(Summary::with_quantiles()),
            proposal_latency: SharedSummaryQ::default(),
            proposal_ack_creation_latency: SharedSummaryQ::default(),
            inflight_snap_count: SharedSummary::default(),
            inflight_diff_count: SharedSummary::default(),
        }
    }
}

impl DriverMetrics {
    pub fn count(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add_quorum_ack_latency(&self, ms: u64) {
        self.quorum_ack_latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(ms);
    }

    pub fn quorum_ack_latency(&self) -> Summary {
        self.quorum_ack_latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Back to zero (`srst`).
    pub fn reset(&self) {
        for c in [
            &self.diff_count,
            &self.snap_count,
            &self.revalidate_count,
            &self.learner_proposal_received,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.follower_sync_time.reset();
        self.observer_sync_time.reset();
        self.unavailable_time.reset();
        self.leader_unavailable_time.reset();
        self.proposal_latency.reset();
        self.proposal_ack_creation_latency.reset();
        self.inflight_snap_count.reset();
        self.inflight_diff_count.reset();
        self.quorum_ack_latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reset();
    }
}

/// A summary with quantiles updated from another thread (Apache's ADVANCED summaries
/// measured by the driver or the log's sync thread).
#[derive(Debug)]
pub struct SharedSummaryQ(std::sync::Mutex<Summary>);

impl Default for SharedSummaryQ {
    fn default() -> Self {
        SharedSummaryQ(std::sync::Mutex::new(Summary::with_quantiles()))
    }
}

impl SharedSummaryQ {
    pub fn add(&self, v: u64) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).add(v);
    }

    /// The summary itself, locked: for adding a batch's values under one lock.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Summary> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self) -> Summary {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn reset(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).reset();
    }
}

/// What the log's writer measures, Apache's `SyncRequestProcessor` figures: standalone
/// on the sync thread of `replicate::StandaloneLog`, in an ensemble on the driver (which
/// writes each entry as zab-core appends it) and its sync thread (which flushes).
#[derive(Debug, Default)]
pub struct LogMetrics {
    /// `fsynctime`: ms per log sync (write and `fdatasync` of a group commit).
    pub fsync_time: SharedSummary,
    /// `sync_processor_request_queued`: transactions handed to the log.
    pub request_queued: AtomicU64,
    /// `sync_processor_queue_size`: transactions waiting for the log's writer, sampled
    /// as it takes one (standalone) or as one is appended (ensemble).
    pub queue_size: SharedSummary,
    /// `sync_processor_queue_time_ms`: ms from a transaction's hand-over to the log
    /// until the writer takes it (standalone) or the sync covering it starts (ensemble).
    pub queue_time: SharedSummaryQ,
    /// `sync_process_time`: ms to write one transaction to the log (no flush).
    pub process_time: SharedSummary,
    /// `sync_processor_batch_size`: transactions made durable by one flush.
    pub batch_size: SharedSummary,
    /// `sync_processor_queue_flush_time_ms`: ms of one flush.
    pub flush_time: SharedSummaryQ,
    /// `sync_processor_queue_and_flush_time_ms`: ms from a transaction's hand-over to
    /// the end of the flush that made it durable.
    pub queue_and_flush_time: SharedSummaryQ,
}

impl LogMetrics {
    /// Back to zero (`srst`).
    pub fn reset(&self) {
        self.fsync_time.reset();
        self.request_queued.store(0, Ordering::Relaxed);
        self.queue_size.reset();
        self.queue_time.reset();
        self.process_time.reset();
        self.batch_size.reset();
        self.flush_time.reset();
        self.queue_and_flush_time.reset();
    }
}

/// A count/sum/min/max summary updated from another thread.
#[derive(Debug)]
pub struct SharedSummary {
    count: AtomicU64,
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
}

impl Default for SharedSummary {
    fn default() -> Self {
        SharedSummary {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
        }
    }
}

impl SharedSummary {
    pub fn add(&self, v: u64) {
        self.min.fetch_min(v, Ordering::Relaxed);
        self.max.fetch_max(v, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Back to no values (`srst`); a value added meanwhile may survive in part.
    pub fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
        self.sum.store(0, Ordering::Relaxed);
        self.min.store(u64::MAX, Ordering::Relaxed);
        self.max.store(0, Ordering::Relaxed);
    }

    pub fn get(&self) -> Summary {
        let count = self.count.load(Ordering::Relaxed);
        Summary {
            count,
            sum: self.sum.load(Ordering::Relaxed),
            min: if count == 0 {
                0
            } else {
                self.min.load(Ordering::Relaxed)
            },
            max: self.max.load(Ordering::Relaxed),
            ..Summary::default()
        }
    }
}

/// Apache's `Stat` on the wire: six longs and five ints (`STAT_OVERHEAD_BYTES`).
pub const STAT_BYTES: u64 = 6 * 8 + 5 * 4;

/// The namespace of a path: its top-level znode (`/a/b` -> `a`); none for `/`
/// (Apache's `PathUtils.getTopNamespace`).
pub fn top_namespace(path: &str) -> Option<&str> {
    path.split('/').nth(1).filter(|n| !n.is_empty())
}

/// Add `bytes` for `path`'s namespace to a per-namespace summary set.
pub fn add_per_namespace(set: &mut BTreeMap<String, Summary>, path: &str, bytes: u64) {
    if let Some(ns) = top_namespace(path) {
        match set.get_mut(ns) {
            Some(s) => s.add(bytes),
            None => {
                let mut s = Summary::default();
                s.add(bytes);
                set.insert(ns.to_owned(), s);
            }
        }
    }
}

/// What the core measures (Apache's names in the comments where they differ).
#[derive(Clone, Debug)]
pub struct CoreMetrics {
    /// `readlatency`: ms from a read's arrival to its reply.
    pub read_latency: Summary,
    /// `updatelatency`: ms from a write's arrival to its reply.
    pub update_latency: Summary,
    /// `auth_failed_count`.
    pub auth_failed: u64,
    /// `unsuccessful_handshake`: client TLS handshakes that failed.
    pub unsuccessful_handshake: u64,
    /// `response_bytes`: bytes of every reply (pings aside), length prefix included.
    pub response_bytes: u64,
    /// `bytes_received_count`: bytes of every request after the handshake
    /// (length prefix, header and body).
    pub bytes_received: u64,
    /// `connection_request_count`: connection requests (handshakes).
    pub connection_requests: u64,
    /// `proposal_count`: proposals made while leading.
    pub proposals: u64,
    /// `commit_count`: transactions committed while leading.
    pub commits: u64,
    /// `learner_commit_received_count`: commits applied while following / observing.
    pub learner_commits_received: u64,
    /// `digest_mismatches_count`: applied transactions whose digest differs from
    /// the tree's (`core/digest.rs`).
    pub digest_mismatches: u64,
    /// `snapshottime`: ms to write a snapshot.
    pub snapshot_time: Summary,
    /// `election_time`: ms from LOOKING to leading or following.
    pub election_time: Summary,
    /// `node_created_watch_count` and its siblings: watchers fired per event.
    pub node_created_watches: Summary,
    pub node_deleted_watches: Summary,
    pub node_changed_watches: Summary,
    pub node_children_watches: Summary,
    /// `read_per_namespace`: bytes read (path, data or child names, and a Stat's
    /// 68 bytes) by getData, getChildren and exists, by top-level znode.
    pub read_per_namespace: BTreeMap<String, Summary>,
    /// `write_per_namespace`: bytes written (path and data) by each create,
    /// setData and delete applied, by top-level znode.
    pub write_per_namespace: BTreeMap<String, Summary>,
    /// `looking_count`: times this server started looking for a leader.
    pub looking: u64,
    /// `stale_sessions_expired`: sessions expired by this server (standalone or leader).
    pub sessions_expired: u64,
    /// `dbinittime`: ms to recover the tree from the snapshot and log at start-up.
    pub db_init_time: Summary,
    /// `startup_snap_load_time`, `startup_txns_loaded`, `startup_txns_load_time`:
    /// recovery's parts (ms to load the snapshot; transactions replayed and ms).
    pub startup_snap_load_time: Summary,
    pub startup_txns_loaded: Summary,
    pub startup_txns_load_time: Summary,
    /// `fsynctime` and the `sync_processor_*` figures, from the log's writer.
    pub log: Arc<LogMetrics>,
    /// `learner_handler_qp_size` (leader): packets queued for a learner, by its
    /// sid, sampled by the driver as it queues each one.
    pub learner_qp_size: Arc<SharedSummarySet>,
    /// `learner_handler_qp_time_ms` (leader): how long the first and every 1000th
    /// packet queued for a learner waited before its connection's writer took it, by
    /// the learner's sid (Apache's marker packets; zab-net's `try_send_marking`).
    pub learner_qp_time: Arc<SharedSummarySet>,
    /// `ack_latency` (leader): ms from a sampled proposal to each ACK before its
    /// commit, by the acknowledging server's sid (peer/ack_latency.rs).
    pub ack_latency: Arc<SharedSummarySet>,
    /// What the peer driver measures (syncs, REVALIDATEs, proposals received, ...).
    pub driver: Arc<DriverMetrics>,
    /// The pipeline's stages, by Apache's request processors.
    pub pipeline: PipelineMetrics,
}

/// Apache's figures of its request processors, measured at our pipeline's matching
/// points (core/pipeline.rs says where): the request throttler's queue (the core's
/// inbound channel), prep (`PrepRequestProcessor`), the per-session ordering and the
/// commit path (`CommitProcessor`, kept only in an ensemble, as Apache's exists only
/// there), the final stage (`FinalRequestProcessor`).
#[derive(Clone, Debug)]
pub struct PipelineMetrics {
    /// `request_throttle_queue_time_ms`: ms from a request's read off its socket to
    /// the core taking it.
    pub throttle_queue_time: Summary,
    /// `request_throttle_wait_count`: times the core stopped taking requests because
    /// 10,000 proposals were in flight.
    pub throttle_waits: u64,
    /// `stale_requests`, `stale_requests_dropped`: requests whose connection was gone
    /// when the core took them (dropped).
    pub stale_requests: u64,
    /// `stale_replies`: replies to requests whose connection was gone.
    pub stale_replies: u64,
    /// `prep_processor_request_queued`: requests and transactions handed to prep
    /// (standalone and leader).
    pub prep_queued: u64,
    /// `prep_processor_queue_size`: messages waiting in the core's inbound channel as
    /// prep takes a request.
    pub prep_queue_size: Summary,
    /// `prep_processor_queue_time_ms`: ms from the core taking a request to prep.
    pub prep_queue_time: Summary,
    /// `prep_process_time`: ms to prepare a write's transaction.
    pub prep_process_time: Summary,
    /// `proposal_process_time`: ms to hand a prepared transaction to replication.
    pub proposal_process_time: Summary,
    /// `close_session_prep_time`: ms to prepare a closeSession.
    pub close_session_prep_time: Summary,
    /// `outstanding_changes_queued`, `outstanding_changes_removed`: prep's change
    /// records of transactions not yet applied, added and removed.
    pub outstanding_changes_queued: u64,
    pub outstanding_changes_removed: u64,
    /// `learner_request_processor_queue_size` (learner): messages waiting in the core's
    /// inbound channel as a request is taken.
    pub learner_queue_size: Summary,
    /// `requests_in_session_queue`: a session's writes in flight and reads held, as
    /// one joins them and as its oldest write commits.
    pub requests_in_session_queue: Summary,
    /// `pending_session_queue_size`: sessions with a write in flight or a read held,
    /// as a write of this server's clients commits.
    pub pending_session_queues: Summary,
    /// `reads_after_write_in_session_queue`: reads released by a session's write.
    pub reads_after_write: Summary,
    /// `session_queues_drained`, `reads_issued_from_session_queue`: per batch of
    /// commits, sessions whose write was applied, and the reads that released.
    pub session_queues_drained: Summary,
    pub reads_issued_from_session_queue: Summary,
    /// `read_commit_proc_issued`: per turn of the core's loop, reads answered at once.
    pub read_commit_proc_issued: Summary,
    /// `write_commit_proc_issued`: transactions per batch of commits.
    pub write_commit_proc_issued: Summary,
    /// `write_batch_time_in_commit_processor`: ms to apply one batch of commits.
    pub write_batch_time: Summary,
    /// `time_waiting_empty_pool_in_commit_processor_read_ms`: ms a batch of commits
    /// waits for reads being answered: always 0, reads run on the same task.
    pub empty_pool_wait: Summary,
    /// `commit_process_time`: ms of one turn of the core's loop that took requests
    /// or commits.
    pub commit_process_time: Summary,
    /// `read_commit_proc_req_queued`, `write_commit_proc_req_queued`,
    /// `commit_commit_proc_req_queued`: per such turn, reads held, local writes in
    /// flight, and commit messages waiting in the replication channel.
    pub reads_queued: Summary,
    pub writes_queued: Summary,
    pub commits_queued: Summary,
    /// `request_commit_queued`: committed transactions received.
    pub commits_received: u64,
    /// `read_commitproc_time_ms`, `write_commitproc_time_ms`: ms from a request's
    /// arrival on the core to its read, or to its write's apply.
    pub read_commitproc_time: Summary,
    pub write_commitproc_time: Summary,
    /// `local_write_committed_time_ms`, `server_write_committed_time_ms`: ms from a
    /// commit's arrival on the core to its apply, for a write of this server's
    /// clients, and for the others'.
    pub local_write_committed_time: Summary,
    pub server_write_committed_time: Summary,
    /// `read_final_proc_time_ms`, `write_final_proc_time_ms`: ms to answer a read, to
    /// apply a transaction (watches and reply included).
    pub read_final_proc_time: Summary,
    pub write_final_proc_time: Summary,
    /// `propagation_latency`: wall-clock ms from a transaction's time to its apply.
    pub propagation_latency: Summary,
    /// `commit_propagation_latency` (learner): the same to its commit's arrival.
    pub commit_propagation_latency: Summary,
    /// `watch_bytes`: bytes of the watch events sent, length prefix included.
    pub watch_bytes: u64,
    /// `connection_revalidate_count`: reconnects to an existing session.
    pub connection_revalidate: u64,
    /// `connection_rejected`: connections refused by maxClientCnxns.
    pub connection_rejected: u64,
    /// `sessionless_connections_expired`: connections closed for sending no request
    /// within `zookeeper.nio.sessionlessCnxnTimeout`.
    pub sessionless_expired: u64,
}

impl Default for PipelineMetrics {
    fn default() -> Self {
        let q = Summary::with_quantiles;
        PipelineMetrics {
            throttle_queue_time: q(),
            throttle_waits: 0,
            stale_requests: 0,
            stale_replies: 0,
            prep_queued: 0,
            prep_queue_size: Summary::default(),
            prep_queue_time: q(),
            prep_process_time: Summary::default(),
            proposal_process_time: Summary::default(),
            close_session_prep_time: q(),
            outstanding_changes_queued: 0,
            outstanding_changes_removed: 0,
            learner_queue_size: Summary::default(),
            requests_in_session_queue: Summary::default(),
            pending_session_queues: Summary::default(),
            reads_after_write: Summary::default(),
            session_queues_drained: Summary::default(),
            reads_issued_from_session_queue: Summary::default(),
            read_commit_proc_issued: Summary::default(),
            write_commit_proc_issued: Summary::default(),
            write_batch_time: Summary::default(),
            empty_pool_wait: Summary::default(),
            commit_process_time: Summary::default(),
            reads_queued: Summary::default(),
            writes_queued: Summary::default(),
            commits_queued: Summary::default(),
            commits_received: 0,
            read_commitproc_time: q(),
            write_commitproc_time: q(),
            local_write_committed_time: q(),
            server_write_committed_time: q(),
            read_final_proc_time: q(),
            write_final_proc_time: q(),
            propagation_latency: q(),
            commit_propagation_latency: q(),
            watch_bytes: 0,
            connection_revalidate: 0,
            connection_rejected: 0,
            sessionless_expired: 0,
        }
    }
}

impl Default for CoreMetrics {
    fn default() -> Self {
        CoreMetrics {
            read_latency: Summary::with_quantiles(),
            update_latency: Summary::with_quantiles(),
            auth_failed: 0,
            unsuccessful_handshake: 0,
            response_bytes: 0,
            bytes_received: 0,
            connection_requests: 0,
            proposals: 0,
            commits: 0,
            learner_commits_received: 0,
            digest_mismatches: 0,
            snapshot_time: Summary::default(),
            election_time: Summary::default(),
            node_created_watches: Summary::default(),
            node_deleted_watches: Summary::default(),
            node_changed_watches: Summary::default(),
            node_children_watches: Summary::default(),
            read_per_namespace: BTreeMap::new(),
            write_per_namespace: BTreeMap::new(),
            looking: 0,
            sessions_expired: 0,
            db_init_time: Summary::default(),
            startup_snap_load_time: Summary::default(),
            startup_txns_loaded: Summary::default(),
            startup_txns_load_time: Summary::default(),
            log: Arc::new(LogMetrics::default()),
            learner_qp_size: Arc::new(SharedSummarySet::default()),
            learner_qp_time: Arc::new(SharedSummarySet::default()),
            ack_latency: Arc::new(SharedSummarySet::default()),
            driver: Arc::new(DriverMetrics::default()),
            pipeline: PipelineMetrics::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_keeps_count_sum_min_max_and_quantiles() {
        let mut s = Summary::with_quantiles();
        assert_eq!((s.count, s.min, s.max, s.quantile(0.5)), (0, 0, 0, 0));
        for v in 1..=100 {
            s.add(v);
        }
        assert_eq!((s.count, s.sum, s.min, s.max), (100, 5050, 1, 100));
        assert_eq!(s.quantile(0.5), 50);
        assert_eq!(s.quantile(0.99), 99);
        assert_eq!(s.quantile(0.999), 100);
        for _ in 0..RESERVOIR {
            s.add(7);
        }
        assert_eq!(s.quantile(0.5), 7, "old values leave the reservoir");
        s.reset();
        assert_eq!((s.count, s.quantile(0.5)), (0, 0));
    }

    #[test]
    fn a_shared_summary_reports_zero_min_when_empty() {
        let s = SharedSummary::default();
        assert_eq!(s.get().min, 0);
        s.add(5);
        s.add(3);
        let g = s.get();
        assert_eq!((g.count, g.sum, g.min, g.max), (2, 8, 3, 5));
        s.reset();
        let g = s.get();
        assert_eq!((g.count, g.sum, g.min, g.max), (0, 0, 0, 0));
    }
}
