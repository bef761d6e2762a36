//! The figures the core measures for Apache ZooKeeper's `ServerMetrics`
//! (request latencies, proposals, commits, snapshots, elections, auth
//! failures, response bytes, watches fired): plain counters and
//! [`Summary`]s, updated on the core's task and read through
//! [`super::StatsView::metrics`]. Which name each figure is printed under,
//! and how (`mntr`, Prometheus), is `crate::metrics`'s business, not the
//! core's. [`SharedSummary`] is the one a thread outside the core updates
//! (the log's sync thread: fsync time).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
/// a leader's syncs (`diff_count`: DIFF or TRUNC, `snap_count`), REVALIDATEs and
/// `quorum_ack_latency`; a learner's proposals received in broadcast and its sync time.
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
        self.quorum_ack_latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reset();
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
    /// `fsynctime`: ms per log sync, from the log's sync thread.
    pub fsync_time: Arc<SharedSummary>,
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
            fsync_time: Arc::new(SharedSummary::default()),
            learner_qp_size: Arc::new(SharedSummarySet::default()),
            learner_qp_time: Arc::new(SharedSummarySet::default()),
            ack_latency: Arc::new(SharedSummarySet::default()),
            driver: Arc::new(DriverMetrics::default()),
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
