//! Apache ZooKeeper 3.8's metrics (`ServerMetrics` and the gauges its
//! servers register), computed over the core's read-only [`StatsView`]: the
//! one list behind `mntr` (and the AdminServer's `monitor`) and Prometheus'
//! `/metrics` ([`prometheus`]). Each metric keeps Apache's name and type:
//! a counter, a gauge, or a summary (`_avg/_min/_max/_cnt/_sum` in `mntr`,
//! with `_p50/_p95/_p99/_p999` for Apache's ADVANCED ones).
//!
//! Where the core, the driver or the log measures the figure it is real; every
//! other metric prints 0, and `docs/compatibility.md` says why (machinery of
//! Apache's we have no counterpart of: Netty, its response cache, its throttles'
//! options). JVM figures (`jvm_pause_time_ms`) are left out. The core knows nothing of this
//! module: it counts in `core/metrics.rs`, and this module names the counts.

pub mod prometheus;

use crate::core::{Role, StatsView, Summary};

/// A metric's type, as Apache registers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    /// Apache's BASIC summary: avg, min, max, cnt, sum.
    Summary,
    /// Apache's ADVANCED summary: also p50, p95, p99, p999.
    SummaryQ,
}

/// A metric's value.
#[derive(Clone, Debug)]
pub enum Value {
    Int(i64),
    Float(f64),
    Summary(Summary),
}

/// One metric: Apache's name (without `zk_`), its type and value; in a
/// labelled set (`write_per_namespace`), the label's value (Apache's `key`).
#[derive(Clone, Debug)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub value: Value,
    pub label: Option<String>,
}

use Kind::{Counter, Summary as Basic, SummaryQ};

/// Apache 3.8's `ServerMetrics`, in its order, without the JVM's
/// (`jvm_pause_time_ms`) and the labelled sets (`*_per_namespace` are in
/// [`collect`], with `learner_handler_qp_size`, `learner_handler_qp_time_ms` and
/// `ack_latency`).
pub const SERVER_METRICS: &[(&str, Kind)] = &[
    ("fsynctime", Basic),
    ("snapshottime", Basic),
    ("dbinittime", Basic),
    ("readlatency", SummaryQ),
    ("updatelatency", SummaryQ),
    ("propagation_latency", SummaryQ),
    ("follower_sync_time", Basic),
    ("observer_sync_time", Basic),
    ("election_time", Basic),
    ("looking_count", Counter),
    ("diff_count", Counter),
    ("snap_count", Counter),
    ("commit_count", Counter),
    ("connection_request_count", Counter),
    ("connection_token_deficit", Basic),
    ("connection_rejected", Counter),
    ("inflight_snap_count", Basic),
    ("inflight_diff_count", Basic),
    ("bytes_received_count", Counter),
    ("unrecoverable_error_count", Counter),
    ("node_created_watch_count", Basic),
    ("node_deleted_watch_count", Basic),
    ("node_changed_watch_count", Basic),
    ("node_children_watch_count", Basic),
    ("add_dead_watcher_stall_time", Counter),
    ("dead_watchers_queued", Counter),
    ("dead_watchers_cleared", Counter),
    ("dead_watchers_cleaner_latency", SummaryQ),
    ("response_packet_cache_hits", Counter),
    ("response_packet_cache_misses", Counter),
    ("response_packet_get_children_cache_hits", Counter),
    ("response_packet_get_children_cache_misses", Counter),
    ("ensemble_auth_success", Counter),
    ("ensemble_auth_fail", Counter),
    ("ensemble_auth_skip", Counter),
    ("prep_processor_queue_time_ms", SummaryQ),
    ("prep_processor_queue_size", Basic),
    ("prep_processor_request_queued", Counter),
    ("outstanding_changes_queued", Counter),
    ("outstanding_changes_removed", Counter),
    ("prep_process_time", Basic),
    ("proposal_process_time", Basic),
    ("close_session_prep_time", SummaryQ),
    ("revalidate_count", Counter),
    ("connection_drop_count", Counter),
    ("connection_revalidate_count", Counter),
    ("sessionless_connections_expired", Counter),
    ("stale_sessions_expired", Counter),
    ("unavailable_time", Basic),
    ("leader_unavailable_time", Basic),
    ("requests_in_session_queue", Basic),
    ("pending_session_queue_size", Basic),
    ("reads_after_write_in_session_queue", Basic),
    ("reads_issued_from_session_queue", Basic),
    ("session_queues_drained", Basic),
    ("time_waiting_empty_pool_in_commit_processor_read_ms", Basic),
    ("write_batch_time_in_commit_processor", Basic),
    ("concurrent_request_processing_in_commit_processor", Basic),
    ("read_commit_proc_req_queued", Basic),
    ("write_commit_proc_req_queued", Basic),
    ("commit_commit_proc_req_queued", Basic),
    ("request_commit_queued", Counter),
    ("read_commit_proc_issued", Basic),
    ("write_commit_proc_issued", Basic),
    ("throttled_ops", Counter),
    ("read_commitproc_time_ms", SummaryQ),
    ("write_commitproc_time_ms", SummaryQ),
    ("local_write_committed_time_ms", SummaryQ),
    ("server_write_committed_time_ms", SummaryQ),
    ("commit_process_time", Basic),
    ("om_proposal_process_time_ms", SummaryQ),
    ("om_commit_process_time_ms", SummaryQ),
    ("read_final_proc_time_ms", SummaryQ),
    ("write_final_proc_time_ms", SummaryQ),
    ("proposal_latency", SummaryQ),
    ("proposal_ack_creation_latency", SummaryQ),
    ("commit_propagation_latency", SummaryQ),
    ("learner_proposal_received_count", Counter),
    ("learner_commit_received_count", Counter),
    ("startup_txns_loaded", Basic),
    ("startup_txns_load_time", Basic),
    ("startup_snap_load_time", Basic),
    ("sync_processor_queue_and_flush_time_ms", SummaryQ),
    ("sync_processor_queue_size", Basic),
    ("sync_processor_request_queued", Counter),
    ("sync_processor_queue_time_ms", SummaryQ),
    ("sync_processor_queue_flush_time_ms", SummaryQ),
    ("sync_process_time", Basic),
    ("sync_processor_batch_size", Basic),
    ("quorum_ack_latency", SummaryQ),
    ("proposal_count", Counter),
    ("quit_leading_due_to_disloyal_voter", Counter),
    ("stale_requests", Counter),
    ("stale_requests_dropped", Counter),
    ("stale_replies", Counter),
    ("request_throttle_queue_time_ms", SummaryQ),
    ("request_throttle_wait_count", Counter),
    ("large_requests_rejected", Counter),
    ("netty_queued_buffer_capacity", Basic),
    ("digest_mismatches_count", Counter),
    ("learner_request_processor_queue_size", Basic),
    ("unsuccessful_handshake", Counter),
    ("insecure_admin_count", Counter),
    ("tls_handshake_exceeded", Counter),
    ("cnxn_closed_without_zk_server_running", Counter),
    ("skip_learner_request_to_next_processor_count", Counter),
    ("socket_closing_time", Basic),
    ("requests_not_forwarded_to_commit_processor", Counter),
    ("response_bytes", Counter),
    ("watch_bytes", Counter),
];

/// Apache's gauges of every server (`ZooKeeperServer.registerMetrics`), in
/// the order our `mntr` has always printed them.
pub const GAUGES: &[&str] = &[
    "avg_latency",
    "max_latency",
    "min_latency",
    "packets_received",
    "packets_sent",
    "num_alive_connections",
    "outstanding_requests",
    "znode_count",
    "watch_count",
    "ephemerals_count",
    "approximate_data_size",
    "open_file_descriptor_count",
    "max_file_descriptor_count",
    "global_sessions",
    "local_sessions",
    "uptime",
    "last_client_response_size",
    "max_client_response_size",
    "min_client_response_size",
    "auth_failed_count",
    "connection_drop_probability",
    "non_mtls_local_conn_count",
    "non_mtls_remote_conn_count",
    "outstanding_tls_handshake",
];

/// The leader's gauges (`LeaderZooKeeperServer`, `Leader`).
pub const LEADER_GAUGES: &[&str] = &[
    "learners",
    "synced_followers",
    "synced_non_voting_followers",
    "synced_observers",
    "pending_syncs",
    "leader_uptime",
    "last_proposal_size",
    "max_proposal_size",
    "min_proposal_size",
];

/// The metrics the core measures, by Apache's name; `None` for the others.
fn measured(v: &StatsView, name: &str) -> Option<Value> {
    use std::sync::atomic::Ordering::Relaxed;
    let m = v.metrics();
    let int = |n: u64| Some(Value::Int(n as i64));
    let sum = |s: &Summary| Some(Value::Summary(s.clone()));
    match name {
        "fsynctime" => Some(Value::Summary(m.log.fsync_time.get())),
        "diff_count" => int(m.driver.diff_count.load(Relaxed)),
        "snap_count" => int(m.driver.snap_count.load(Relaxed)),
        "revalidate_count" => int(m.driver.revalidate_count.load(Relaxed)),
        "learner_proposal_received_count" => int(m.driver.learner_proposal_received.load(Relaxed)),
        "follower_sync_time" => Some(Value::Summary(m.driver.follower_sync_time.get())),
        "observer_sync_time" => Some(Value::Summary(m.driver.observer_sync_time.get())),
        "unavailable_time" => Some(Value::Summary(m.driver.unavailable_time.get())),
        "leader_unavailable_time" => Some(Value::Summary(m.driver.leader_unavailable_time.get())),
        "quorum_ack_latency" => Some(Value::Summary(m.driver.quorum_ack_latency())),
        "proposal_latency" => Some(Value::Summary(m.driver.proposal_latency.get())),
        "proposal_ack_creation_latency" => {
            Some(Value::Summary(m.driver.proposal_ack_creation_latency.get()))
        }
        "inflight_snap_count" => Some(Value::Summary(m.driver.inflight_snap_count.get())),
        "inflight_diff_count" => Some(Value::Summary(m.driver.inflight_diff_count.get())),
        "sync_processor_request_queued" => int(m.log.request_queued.load(Relaxed)),
        "sync_processor_queue_size" => Some(Value::Summary(m.log.queue_size.get())),
        "sync_processor_queue_time_ms" => Some(Value::Summary(m.log.queue_time.get())),
        "sync_process_time" => Some(Value::Summary(m.log.process_time.get())),
        "sync_processor_batch_size" => Some(Value::Summary(m.log.batch_size.get())),
        "sync_processor_queue_flush_time_ms" => Some(Value::Summary(m.log.flush_time.get())),
        "sync_processor_queue_and_flush_time_ms" => {
            Some(Value::Summary(m.log.queue_and_flush_time.get()))
        }
        "snapshottime" => sum(&m.snapshot_time),
        "readlatency" => sum(&m.read_latency),
        "updatelatency" => sum(&m.update_latency),
        "election_time" => sum(&m.election_time),
        "node_created_watch_count" => sum(&m.node_created_watches),
        "node_deleted_watch_count" => sum(&m.node_deleted_watches),
        "node_changed_watch_count" => sum(&m.node_changed_watches),
        "node_children_watch_count" => sum(&m.node_children_watches),
        "dbinittime" => sum(&m.db_init_time),
        "startup_snap_load_time" => sum(&m.startup_snap_load_time),
        "startup_txns_loaded" => sum(&m.startup_txns_loaded),
        "startup_txns_load_time" => sum(&m.startup_txns_load_time),
        "looking_count" => int(m.looking),
        "stale_sessions_expired" => int(m.sessions_expired),
        "commit_count" => int(m.commits),
        "proposal_count" => int(m.proposals),
        "learner_commit_received_count" => int(m.learner_commits_received),
        "digest_mismatches_count" => int(m.digest_mismatches),
        "connection_request_count" => int(m.connection_requests),
        "bytes_received_count" => int(m.bytes_received),
        "response_bytes" => int(m.response_bytes),
        "insecure_admin_count" => {
            int(crate::admin::https::INSECURE_ADMIN.load(std::sync::atomic::Ordering::Relaxed))
        }
        "unsuccessful_handshake" => int(m.unsuccessful_handshake),
        "tls_handshake_exceeded" => int(crate::tls::throttle::exceeded()),
        _ => pipeline(&m.pipeline, name),
    }
}

/// The pipeline's figures (`core::PipelineMetrics`), by Apache's name.
fn pipeline(p: &crate::core::PipelineMetrics, name: &str) -> Option<Value> {
    let int = |n: u64| Some(Value::Int(n as i64));
    let sum = |s: &Summary| Some(Value::Summary(s.clone()));
    match name {
        "request_throttle_queue_time_ms" => sum(&p.throttle_queue_time),
        "request_throttle_wait_count" => int(p.throttle_waits),
        // Ours drops every stale request it counts.
        "stale_requests" | "stale_requests_dropped" => int(p.stale_requests),
        "stale_replies" => int(p.stale_replies),
        "prep_processor_request_queued" => int(p.prep_queued),
        "prep_processor_queue_size" => sum(&p.prep_queue_size),
        "prep_processor_queue_time_ms" => sum(&p.prep_queue_time),
        "prep_process_time" => sum(&p.prep_process_time),
        "proposal_process_time" => sum(&p.proposal_process_time),
        "close_session_prep_time" => sum(&p.close_session_prep_time),
        "outstanding_changes_queued" => int(p.outstanding_changes_queued),
        "outstanding_changes_removed" => int(p.outstanding_changes_removed),
        "learner_request_processor_queue_size" => sum(&p.learner_queue_size),
        "requests_in_session_queue" => sum(&p.requests_in_session_queue),
        "pending_session_queue_size" => sum(&p.pending_session_queues),
        "reads_after_write_in_session_queue" => sum(&p.reads_after_write),
        "session_queues_drained" => sum(&p.session_queues_drained),
        "reads_issued_from_session_queue" => sum(&p.reads_issued_from_session_queue),
        "read_commit_proc_issued" => sum(&p.read_commit_proc_issued),
        "write_commit_proc_issued" => sum(&p.write_commit_proc_issued),
        "write_batch_time_in_commit_processor" => sum(&p.write_batch_time),
        "time_waiting_empty_pool_in_commit_processor_read_ms" => sum(&p.empty_pool_wait),
        "commit_process_time" => sum(&p.commit_process_time),
        "read_commit_proc_req_queued" => sum(&p.reads_queued),
        "write_commit_proc_req_queued" => sum(&p.writes_queued),
        "commit_commit_proc_req_queued" => sum(&p.commits_queued),
        "request_commit_queued" => int(p.commits_received),
        "read_commitproc_time_ms" => sum(&p.read_commitproc_time),
        "write_commitproc_time_ms" => sum(&p.write_commitproc_time),
        "local_write_committed_time_ms" => sum(&p.local_write_committed_time),
        "server_write_committed_time_ms" => sum(&p.server_write_committed_time),
        "read_final_proc_time_ms" => sum(&p.read_final_proc_time),
        "write_final_proc_time_ms" => sum(&p.write_final_proc_time),
        "propagation_latency" => sum(&p.propagation_latency),
        "commit_propagation_latency" => sum(&p.commit_propagation_latency),
        "watch_bytes" => int(p.watch_bytes),
        "connection_revalidate_count" => int(p.connection_revalidate),
        "connection_rejected" => int(p.connection_rejected),
        "sessionless_connections_expired" => int(p.sessionless_expired),
        _ => None,
    }
}

fn gauge(v: &StatsView, name: &str) -> Value {
    let s = v.stats();
    let sizes = |o: Option<(usize, usize, usize)>| match o {
        Some((l, lo, hi)) => (l as i64, lo as i64, hi as i64),
        None => (-1, -1, -1),
    };
    let (c_last, c_min, c_max) = sizes(s.client_response_sizes);
    let (p_last, p_min, p_max) = sizes(v.ensemble().proposal_sizes);
    let l = v.ensemble().learners;
    Value::Int(match name {
        "avg_latency" => {
            let avg = if s.latency_count == 0 {
                0.0
            } else {
                s.total_latency_ms as f64 / s.latency_count as f64
            };
            return Value::Float(avg);
        }
        "max_latency" => s.max_latency_ms as i64,
        "min_latency" => s.min_latency_ms as i64,
        "packets_received" => s.packets_received as i64,
        "packets_sent" => s.packets_sent as i64,
        // As Apache's, the count includes the connection that asks.
        "num_alive_connections" => v.connection_count() as i64 + 1,
        "outstanding_requests" => v.outstanding() as i64,
        "znode_count" => crate::fourlw::node_count(v) as i64,
        "watch_count" => v.watches().watch_count() as i64,
        "ephemerals_count" => v.tree().ephemeral_count() as i64,
        "approximate_data_size" => v.tree().approximate_data_size() as i64,
        "open_file_descriptor_count" => open_fds() as i64,
        "max_file_descriptor_count" => max_fds() as i64,
        "global_sessions" => (v.session_count() - v.local_session_count()) as i64,
        "local_sessions" => v.local_session_count() as i64,
        "uptime" => v.uptime().as_millis() as i64,
        "last_client_response_size" => c_last,
        "max_client_response_size" => c_max,
        "min_client_response_size" => c_min,
        "auth_failed_count" => v.metrics().auth_failed as i64,
        "outstanding_tls_handshake" => crate::tls::throttle::outstanding() as i64,
        "quorum_size" => {
            // Apache's getQuorumSize: the voting members of the view in force (a reconfig
            // may have changed zoo.cfg's), not a majority of them.
            let servers = crate::reconfig::parse_membership(&v.membership_text())
                .map(|(servers, _)| servers)
                .unwrap_or_else(|_| v.cfg().servers.clone());
            let voters = servers
                .values()
                .filter(|s| s.peer_type == crate::config::PeerType::Participant)
                .count();
            voters as i64
        }
        "learners" => (l.followers + l.observers) as i64,
        "synced_followers" => l.synced_followers as i64,
        "synced_non_voting_followers" => l.synced_non_voting_followers as i64,
        "synced_observers" => l.observers as i64,
        "pending_syncs" => l.pending_syncs as i64,
        "leader_uptime" => v
            .ensemble()
            .leading_since
            .map(|t| v.now().saturating_duration_since(t).as_millis() as i64)
            .unwrap_or(0),
        "last_proposal_size" => p_last,
        "max_proposal_size" => p_max,
        "min_proposal_size" => p_min,
        // connection_drop_probability, the non-mTLS counts: none here.
        _ => 0,
    })
}

/// Every metric, gauges first, then Apache's `ServerMetrics`; a leader's
/// gauges when leading.
pub fn collect(v: &StatsView) -> Vec<Metric> {
    let mut out = Vec::with_capacity(GAUGES.len() + SERVER_METRICS.len() + LEADER_GAUGES.len());
    for name in GAUGES {
        out.push(Metric {
            name,
            kind: Kind::Gauge,
            value: gauge(v, name),
            label: None,
        });
    }
    if matches!(v.role(), Role::Leading | Role::Following | Role::Observing) {
        out.push(Metric {
            name: "quorum_size",
            kind: Kind::Gauge,
            value: gauge(v, "quorum_size"),
            label: None,
        });
    }
    if v.role() == Role::Leading {
        for name in LEADER_GAUGES {
            out.push(Metric {
                name,
                kind: Kind::Gauge,
                value: gauge(v, name),
                label: None,
            });
        }
    }
    for (name, kind) in SERVER_METRICS {
        let value = measured(v, name).unwrap_or_else(|| match kind {
            Kind::Counter | Kind::Gauge => Value::Int(0),
            Kind::Summary => Value::Summary(Summary::default()),
            Kind::SummaryQ => Value::Summary(Summary::with_quantiles()),
        });
        out.push(Metric {
            name,
            kind: *kind,
            value,
            label: None,
        });
    }
    // Apache's quota gauge sets (ZooKeeperServer registers them on every server),
    // one value per namespace with a quota.
    let quotas = v.tree().quota_figures();
    for (name, get) in [
        (
            "quota_count_limit_per_namespace",
            (|f| f.count_limit) as fn(&crate::tree::QuotaFigures) -> i64,
        ),
        ("quota_bytes_limit_per_namespace", |f| f.bytes_limit),
        ("quota_count_usage_per_namespace", |f| f.count_usage),
        ("quota_bytes_usage_per_namespace", |f| f.bytes_usage),
    ] {
        for (ns, f) in &quotas {
            out.push(Metric {
                name,
                kind: Kind::Gauge,
                value: Value::Int(get(f)),
                label: Some(ns.clone()),
            });
        }
    }
    // Apache's labelled summary sets: one summary per namespace seen.
    let m = v.metrics();
    let learner_qp_size = m.learner_qp_size.get();
    let learner_qp_time = m.learner_qp_time.get();
    let ack_latency = m.ack_latency.get();
    for (name, kind, set) in [
        ("write_per_namespace", Kind::Summary, &m.write_per_namespace),
        ("read_per_namespace", Kind::Summary, &m.read_per_namespace),
        // A leader's, one per learner's sid (kept after leading, as Apache's).
        ("learner_handler_qp_size", Kind::Summary, &learner_qp_size),
        // ADVANCED in Apache: with quantiles.
        (
            "learner_handler_qp_time_ms",
            Kind::SummaryQ,
            &learner_qp_time,
        ),
        // A leader's, by the acknowledging server's sid (its own included).
        ("ack_latency", Kind::SummaryQ, &ack_latency),
    ] {
        for (ns, s) in set {
            out.push(Metric {
                name,
                kind,
                value: Value::Summary(s.clone()),
                label: Some(ns.clone()),
            });
        }
    }
    out
}

/// `mntr`'s lines for one metric (`zk_` prefixed), Apache's formats: an
/// average to 4 decimals as a Java double, everything else an integer.
pub fn mntr_lines(m: &Metric, out: &mut Vec<(String, String)>) {
    // A labelled set's keys carry the label before the name: zk_avg_a_write_per_namespace.
    let labelled;
    let name = match &m.label {
        Some(l) => {
            labelled = format!("{l}_{}", m.name);
            labelled.as_str()
        }
        None => m.name,
    };
    match &m.value {
        Value::Int(i) => out.push((format!("zk_{}", name), i.to_string())),
        Value::Float(f) => out.push((format!("zk_{}", name), java_double4(*f))),
        Value::Summary(s) => {
            let avg = if s.count == 0 {
                0.0
            } else {
                s.sum as f64 / s.count as f64
            };
            out.push((format!("zk_avg_{}", name), java_double4(avg)));
            out.push((format!("zk_min_{}", name), s.min.to_string()));
            out.push((format!("zk_max_{}", name), s.max.to_string()));
            out.push((format!("zk_cnt_{}", name), s.count.to_string()));
            out.push((format!("zk_sum_{}", name), s.sum.to_string()));
            if m.kind == Kind::SummaryQ {
                for (p, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("p999", 0.999)] {
                    out.push((format!("zk_{p}_{}", name), s.quantile(q).to_string()));
                }
            }
        }
    }
}

/// A double rounded to 4 decimals, as Java prints it (`0.0`, `2.3333`).
pub fn java_double4(v: f64) -> String {
    let r = (v * 10000.0).round() / 10000.0;
    if r.fract() == 0.0 {
        format!("{r:.1}")
    } else {
        format!("{r}")
    }
}

pub(crate) fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

pub(crate) fn max_fds() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apache_counts_no_jvm_metric_and_no_name_twice() {
        let mut names: Vec<&str> = SERVER_METRICS.iter().map(|(n, _)| *n).collect();
        names.extend(GAUGES);
        names.extend(LEADER_GAUGES);
        names.push("quorum_size");
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
        assert!(names.iter().all(|n| !n.starts_with("jvm_")));
        // Apache 3.8: 47 counters, 41 basic summaries, 22 advanced ones besides the JVM's.
        let count = |k: Kind| SERVER_METRICS.iter().filter(|(_, x)| *x == k).count();
        assert_eq!(
            (count(Counter), count(Basic), count(SummaryQ)),
            (47, 41, 22)
        );
    }

    #[test]
    fn summaries_print_as_apache_prints_them() {
        let mut s = Summary::with_quantiles();
        for v in [1, 2, 4] {
            s.add(v);
        }
        let m = Metric {
            name: "readlatency",
            kind: SummaryQ,
            value: Value::Summary(s),
            label: None,
        };
        let mut out = Vec::new();
        mntr_lines(&m, &mut out);
        let text: Vec<String> = out.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            text,
            [
                "zk_avg_readlatency=2.3333",
                "zk_min_readlatency=1",
                "zk_max_readlatency=4",
                "zk_cnt_readlatency=3",
                "zk_sum_readlatency=7",
                "zk_p50_readlatency=2",
                "zk_p95_readlatency=4",
                "zk_p99_readlatency=4",
                "zk_p999_readlatency=4",
            ]
        );
    }
}
