//! `mntr` against Apache ZooKeeper 3.8's, key by key (standalone and an
//! ensemble's leader and follower), and our Prometheus `/metrics` parsed and
//! checked against the `mntr` keys. Apache's JVM figures (`jvm_*`) and its
//! per-learner sets but `<sid>_learner_handler_qp_size`,
//! `<sid>_learner_handler_qp_time_ms` and `<sid>_ack_latency` are left out of the
//! comparison, and in an ensemble the per-namespace sets too:
//! docs/compatibility.md says why.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::raw::RawClient;
use zk_tests::{four_letter_word, free_port, http_get, start_pair, Kind, Options, TestServer};

fn mntr(addr: SocketAddr) -> BTreeMap<String, String> {
    four_letter_word(addr, "mntr")
        .expect("mntr")
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Whether Apache prints `key` from a labelled set per learner (`zk_avg_2_ack_latency`).
fn per_learner(key: &str) -> bool {
    let rest = [
        "avg_", "min_", "max_", "cnt_", "sum_", "p50_", "p95_", "p99_", "p999_",
    ]
    .iter()
    .find_map(|p| key.strip_prefix("zk_").and_then(|k| k.strip_prefix(p)));
    rest.is_some_and(|r| {
        r.split('_')
            .next()
            .is_some_and(|d| d.parse::<u64>().is_ok())
    })
}

/// The per-server sets both servers print, a leader's: `learner_handler_qp_size`,
/// `learner_handler_qp_time_ms`, and `ack_latency` once a zxid that is a multiple of
/// 1000 was acknowledged.
const QP_SIZE: &str = "_learner_handler_qp_size";
const QP_TIME: &str = "_learner_handler_qp_time_ms";
const ACK_LATENCY: &str = "_ack_latency";

/// `zk_avg_2_learner_handler_qp_size` as `zk_avg_<sid>_learner_handler_qp_size`: the
/// two ensembles' leaders differ, and so do their learners' sids.
fn without_sid(key: &str) -> String {
    let mut parts: Vec<&str> = key.splitn(4, '_').collect();
    if parts.len() == 4 && parts[2].parse::<u64>().is_ok() {
        parts[2] = "<sid>";
    }
    parts.join("_")
}

/// The learners' sids of the per-learner keys of the set `set` in `m`.
fn learner_sids(m: &BTreeMap<String, String>, set: &str) -> BTreeSet<String> {
    m.keys()
        .filter(|k| per_learner(k) && k.ends_with(set))
        .filter_map(|k| k.split('_').nth(2).map(str::to_owned))
        .collect()
}

/// The keys Apache prints that we must print too (a per-learner key without its
/// sid). In an ensemble the per-namespace sets are left out: Apache's servers write
/// `/zookeeper/config` through their trees while syncing, ours set it at start-up.
fn comparable(m: &BTreeMap<String, String>, per_namespace: bool) -> BTreeSet<String> {
    m.keys()
        .filter(|k| {
            !k.contains("jvm_")
                && (!per_learner(k)
                    || k.ends_with(QP_SIZE)
                    || k.ends_with(QP_TIME)
                    || k.ends_with(ACK_LATENCY))
        })
        .filter(|k| per_namespace || !k.ends_with("_per_namespace"))
        .map(|k| without_sid(k))
        .collect()
}

fn diff(what: &str, a: &BTreeSet<String>, o: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let only_a: Vec<_> = a.difference(o).collect();
    let only_o: Vec<_> = o.difference(a).collect();
    if !only_a.is_empty() || !only_o.is_empty() {
        out.push(format!(
            "{what}: only Apache prints {only_a:?}; only ours prints {only_o:?}"
        ));
    }
    out
}

fn same_values(
    what: &str,
    a: &BTreeMap<String, String>,
    o: &BTreeMap<String, String>,
    keys: &[&str],
) -> Vec<String> {
    keys.iter()
        .filter(|k| a.get(**k) != o.get(**k))
        .map(|k| format!("{what} {k}: apache={:?} ours={:?}", a.get(*k), o.get(*k)))
        .collect()
}

/// The same requests against a server: a persistent node, an ephemeral, a data
/// watch fired by a change, a child watch fired by a create, a read, a quota.
fn workload(addr: SocketAddr) -> RawClient {
    let mut c = RawClient::connect(addr).expect("connect");
    assert_eq!(c.create("/m", b"0123456789", 0).unwrap().err, 0);
    assert_eq!(c.create("/eph", b"", 1).unwrap().err, 0);
    assert_eq!(c.get_data("/m", true).unwrap().err, 0);
    assert_eq!(c.get_children("/m", true).unwrap().err, 0);
    assert_eq!(c.set_data("/m", b"x", -1).unwrap().err, 0);
    assert_eq!(c.create("/m/c", b"", 0).unwrap().err, 0);
    c.wait_events(2, Duration::from_secs(10))
        .expect("both watches fire");
    assert_eq!(c.get_data("/m", true).unwrap().err, 0);
    // A quota on /m, as zkCli's setquota makes one: its limits, then its stats node.
    for (p, d) in [
        ("/zookeeper/quota/m", &b""[..]),
        ("/zookeeper/quota/m/zookeeper_limits", b"count=10,bytes=-1"),
        ("/zookeeper/quota/m/zookeeper_stats", b"count=0,bytes=0"),
    ] {
        assert_eq!(c.create(p, d, 0).unwrap().err, 0, "{p}");
    }
    c
}

/// Values that mean the same on both servers after [`workload`].
const AGREE: &[&str] = &[
    "zk_server_state",
    "zk_znode_count",
    "zk_watch_count",
    "zk_ephemerals_count",
    "zk_global_sessions",
    "zk_approximate_data_size",
    "zk_num_alive_connections",
    "zk_outstanding_requests",
    "zk_cnt_node_changed_watch_count",
    "zk_sum_node_changed_watch_count",
    "zk_cnt_node_children_watch_count",
    "zk_sum_node_children_watch_count",
    "zk_cnt_node_created_watch_count",
    "zk_cnt_node_deleted_watch_count",
    "zk_connection_request_count",
    "zk_auth_failed_count",
    "zk_min_client_response_size",
    "zk_proposal_count",
    "zk_commit_count",
    "zk_cnt_dbinittime",
    "zk_cnt_startup_snap_load_time",
    "zk_cnt_startup_txns_loaded",
    "zk_sum_startup_txns_loaded",
    "zk_cnt_startup_txns_load_time",
    "zk_looking_count",
    "zk_stale_sessions_expired",
    // Prep's change records (a create adds the node's and its parent's), the watch
    // events' bytes, every transaction applied (propagation_latency).
    "zk_outstanding_changes_queued",
    "zk_outstanding_changes_removed",
    "zk_watch_bytes",
    "zk_cnt_propagation_latency",
    "zk_connection_revalidate_count",
];

#[test]
fn standalone_mntr_prints_apache_keys_with_the_same_values() {
    let (apache, ours) = start_pair(&Options::default());
    let (ma, mo) = (mntr(apache.addr()), mntr(ours.addr()));
    let mut failures = diff(
        "fresh standalone keys",
        &comparable(&ma, true),
        &mo.keys().cloned().collect(),
    );
    assert!(ma.len() > 470, "Apache printed {} keys", ma.len());

    let (_ca, _co) = (workload(apache.addr()), workload(ours.addr()));
    let (ma, mo) = (mntr(apache.addr()), mntr(ours.addr()));
    let ours_keys: BTreeSet<String> = mo.keys().cloned().collect();
    failures.extend(diff(
        "standalone keys after requests",
        &comparable(&ma, true),
        &ours_keys,
    ));
    failures.extend(same_values("standalone", &ma, &mo, AGREE));
    // Bytes read and written by namespace (top-level znode), as Apache counts them.
    let per_namespace: Vec<&str> = ma
        .keys()
        .filter(|k| k.ends_with("_per_namespace"))
        .map(String::as_str)
        .collect();
    assert!(per_namespace.len() >= 15, "{per_namespace:?}");
    // The quota gauges among them, one per figure for namespace m.
    let quota: Vec<&&str> = per_namespace
        .iter()
        .filter(|k| k.contains("_quota_"))
        .collect();
    assert_eq!(quota.len(), 4, "{quota:?}");
    failures.extend(same_values("standalone", &ma, &mo, &per_namespace));

    // Measured here, so no longer 0 after the requests.
    for k in [
        "zk_prep_processor_request_queued",
        "zk_cnt_prep_process_time",
        "zk_cnt_request_throttle_queue_time_ms",
        "zk_sync_processor_request_queued",
        "zk_cnt_sync_processor_queue_and_flush_time_ms",
        "zk_cnt_sync_processor_batch_size",
        "zk_cnt_sync_process_time",
        "zk_cnt_readlatency",
        "zk_cnt_updatelatency",
        "zk_cnt_fsynctime",
        "zk_response_bytes",
        "zk_bytes_received_count",
        "zk_packets_received",
    ] {
        let v: f64 = mo[k].parse().unwrap();
        if v <= 0.0 {
            failures.push(format!("ours {k} = {v} after requests"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn ensemble_mntr_prints_apache_keys_by_role() {
    let mut apache = Ensemble::new(Spec {
        kind: Kind::Apache,
        ..Spec::new(3, 0)
    });
    let mut ours = Ensemble::new(Spec::new(3, 0));
    apache.start_all();
    ours.start_all();
    let la = apache.wait_serving(&apache.ids(), Duration::from_secs(90));
    let lo = ours.wait_serving(&ours.ids(), Duration::from_secs(90));
    let follower =
        |ens: &Ensemble, leader: u64| ens.ids().into_iter().find(|i| *i != leader).unwrap();
    let (fa, fo) = (follower(&apache, la), follower(&ours, lo));
    // A write through the follower, committed everywhere.
    let (_ca, _co) = (
        workload(apache.member(fa).addr()),
        workload(ours.member(fo).addr()),
    );

    let mut failures = Vec::new();
    for (role, ia, io) in [("leader", la, lo), ("follower", fa, fo)] {
        let (ma, mo) = (mntr(apache.member(ia).addr()), mntr(ours.member(io).addr()));
        let ours_keys = comparable(&mo, false);
        failures.extend(diff(
            &format!("{role} keys"),
            &comparable(&ma, false),
            &ours_keys,
        ));
        let mut agree = vec![
            "zk_server_state",
            "zk_peer_state",
            "zk_quorum_size",
            "zk_znode_count",
            "zk_ephemerals_count",
        ];
        if role == "leader" {
            agree.extend(["zk_learners", "zk_synced_followers", "zk_pending_syncs"]);
            // One learner_handler_qp_size and one learner_handler_qp_time_ms summary per
            // learner, named by its sid (Apache times its first packet to each at once).
            let want: BTreeSet<String> = ours
                .ids()
                .into_iter()
                .filter(|i| *i != io)
                .map(|i| i.to_string())
                .collect();
            for set in [QP_SIZE, QP_TIME] {
                let (sa, so) = (learner_sids(&ma, set), learner_sids(&mo, set));
                if sa.len() != 2 || so != want {
                    failures.push(format!(
                        "{set} sets: Apache's leader has {sa:?}, ours {so:?} (its learners: {want:?})"
                    ));
                }
            }
            // A queue wait is a few ms at most on an idle loopback ensemble, on both.
            for (who, m) in [("Apache", &ma), ("ours", &mo)] {
                for (k, v) in m
                    .iter()
                    .filter(|(k, _)| k.starts_with("zk_max_") && k.ends_with(QP_TIME))
                {
                    let ms: u64 = v.parse().unwrap_or(u64::MAX);
                    if ms > 1000 {
                        failures.push(format!("{who}'s {k} = {v}"));
                    }
                }
            }
        }
        failures.extend(same_values(role, &ma, &mo, &agree));
        let looking: u64 = mo["zk_looking_count"].parse().unwrap();
        if looking == 0 {
            failures.push(format!("ours: the {role}'s zk_looking_count is 0"));
        }
        // Measured by both, on both: each learner synced once at least (a DIFF, TRUNC or
        // SNAP); the write committed by a quorum; the follower synced and received it.
        let at_least = |m: &BTreeMap<String, String>, keys: &[&str], min: u64| -> u64 {
            let total: u64 = keys.iter().map(|k| m[*k].parse::<u64>().unwrap()).sum();
            if total < min {
                0
            } else {
                total
            }
        };
        let checks: &[(&[&str], u64)] = if role == "leader" {
            &[
                (&["zk_diff_count", "zk_snap_count"], 2),
                (&["zk_cnt_quorum_ack_latency"], 1),
                (&["zk_cnt_unavailable_time"], 1),
                (&["zk_cnt_leader_unavailable_time"], 1),
            ]
        } else {
            &[
                (&["zk_cnt_follower_sync_time"], 1),
                (&["zk_cnt_unavailable_time"], 1),
                (&["zk_learner_proposal_received_count"], 1),
            ]
        };
        for (keys, min) in checks {
            for (who, m) in [("Apache", &ma), ("ours", &mo)] {
                if at_least(m, keys, *min) == 0 {
                    let got: Vec<(&str, &String)> = keys.iter().map(|k| (*k, &m[*k])).collect();
                    failures.push(format!(
                        "{who}'s {role}: {got:?}, want a total of {min} or more"
                    ));
                }
            }
        }
        if role == "leader" {
            let n: u64 = mo["zk_proposal_count"].parse().unwrap();
            if n == 0 {
                failures.push("ours: the leader's zk_proposal_count is 0 after writes".into());
            }
            let e: u64 = mo["zk_cnt_election_time"].parse().unwrap();
            if e == 0 {
                failures.push("ours: the leader's zk_cnt_election_time is 0".into());
            }
        } else {
            let n: u64 = mo["zk_learner_commit_received_count"].parse().unwrap();
            if n == 0 {
                failures.push("ours: the follower received no commit".into());
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `ack_latency`: Apache's leader samples the ACKs of zxids that are multiples of 1000
/// that arrive before their commit, by sid (its own log sync included). After 1100
/// writes through each leader both print the set, for servers of their ensembles only.
#[test]
fn a_leader_samples_ack_latency_as_apache_does() {
    let mut apache = Ensemble::new(Spec {
        kind: Kind::Apache,
        ..Spec::new(3, 0)
    });
    let mut ours = Ensemble::new(Spec::new(3, 0));
    apache.start_all();
    ours.start_all();
    let la = apache.wait_serving(&apache.ids(), Duration::from_secs(90));
    let lo = ours.wait_serving(&ours.ids(), Duration::from_secs(90));
    let mut failures = Vec::new();
    for (who, ens, leader) in [("Apache", &apache, la), ("ours", &ours, lo)] {
        let mut c = RawClient::connect(ens.member(leader).addr()).expect("connect");
        for i in 0..1100 {
            assert_eq!(c.create(&format!("/a{i}"), b"", 0).unwrap().err, 0);
        }
        let m = mntr(ens.member(leader).addr());
        let sids = learner_sids(&m, ACK_LATENCY);
        let members: BTreeSet<String> = ens.ids().iter().map(|i| i.to_string()).collect();
        if sids.is_empty() || !sids.is_subset(&members) {
            failures.push(format!(
                "{who}: ack_latency sets for {sids:?} (members {members:?})"
            ));
        }
        for s in &sids {
            for p in [
                "avg", "min", "max", "cnt", "sum", "p50", "p95", "p99", "p999",
            ] {
                let k = format!("zk_{p}_{s}{ACK_LATENCY}");
                if !m.contains_key(&k) {
                    failures.push(format!("{who}: no {k}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A failure unless `got` is `want`.
fn expect(failures: &mut Vec<String>, who: &str, what: &str, got: u64, want: u64) {
    if got != want {
        failures.push(format!("{who}: {what} = {got}, want {want}"));
    }
}

/// Writes through the leader while `restarted` is down, then once it is back.
const WRITES: usize = 20;
const SETS: usize = 10;

/// `key`'s integer value in `m` (0 when absent).
fn num(m: &BTreeMap<String, String>, key: &str) -> u64 {
    m.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// `mntr` of `addr` once `keys` all have the same value (or after 20 s): commits and
/// ACKs of the last writes may still be on their way to a follower.
fn settled(addr: SocketAddr, keys: &[&str]) -> BTreeMap<String, String> {
    let mut m = mntr(addr);
    zk_tests::wait_until(Duration::from_secs(20), || {
        m = mntr(addr);
        keys.iter().all(|k| num(&m, k) == num(&m, keys[0]))
    });
    m
}

/// What each server of a 3-server ensemble printed after [`pipeline_workload`]: the
/// leader, a follower up throughout, a follower restarted (and synced by DIFF).
struct Printed {
    leader: BTreeMap<String, String>,
    other: BTreeMap<String, String>,
    restarted: BTreeMap<String, String>,
}

/// Kill a follower; write through the leader (creates, sets) and through the other
/// follower (a create, and a data watch there fired by the leader's client); restart
/// the follower, write through it; reconnect a session on the leader.
fn pipeline_workload(ens: &mut Ensemble) -> Printed {
    let leader = ens.wait_serving(&ens.ids(), Duration::from_secs(90));
    let followers: Vec<u64> = ens.ids().into_iter().filter(|i| *i != leader).collect();
    let (restarted, other) = (followers[0], followers[1]);
    ens.kill(restarted);
    let mut c = RawClient::connect(ens.member(leader).addr()).expect("connect");
    for i in 0..WRITES {
        assert_eq!(c.create(&format!("/p{i}"), b"x", 0).unwrap().err, 0);
    }
    for i in 0..SETS {
        assert_eq!(c.set_data(&format!("/p{i}"), b"yy", -1).unwrap().err, 0);
    }
    let mut f = RawClient::connect(ens.member(other).addr()).expect("connect");
    assert_eq!(f.create("/f", b"", 0).unwrap().err, 0);
    assert_eq!(f.get_data("/f", true).unwrap().err, 0);
    assert_eq!(c.set_data("/f", b"z", -1).unwrap().err, 0);
    f.wait_events(1, Duration::from_secs(10))
        .expect("the watch fires");
    ens.start(restarted);
    assert_eq!(
        ens.wait_serving(&ens.ids(), Duration::from_secs(90)),
        leader
    );
    let mut r = RawClient::connect(ens.member(restarted).addr()).expect("connect");
    assert_eq!(r.create("/r", b"", 0).unwrap().err, 0);
    assert_eq!(r.get_data("/r", false).unwrap().err, 0);
    // A second connection for an existing session: a reconnect (revalidated).
    let s = RawClient::connect(ens.member(leader).addr()).expect("connect");
    let again = zk_tests::raw::Handshake {
        session_id: s.session.session_id,
        passwd: s.session.passwd.clone(),
        ..Default::default()
    };
    let s2 = RawClient::handshake(ens.member(leader).addr(), &again).expect("reconnect");
    assert_eq!(s2.session.session_id, s.session.session_id);
    let z = ens.zxid(leader);
    assert!(
        zk_tests::wait_until(Duration::from_secs(20), || ens.zxid(other) == z
            && ens.zxid(restarted) == z),
        "the followers catch up"
    );
    let addr = |id: u64| ens.member(id).addr();
    Printed {
        leader: settled(
            addr(leader),
            &[
                "zk_proposal_count",
                "zk_cnt_proposal_ack_creation_latency",
                "zk_request_commit_queued",
            ],
        ),
        other: settled(
            addr(other),
            &[
                "zk_learner_proposal_received_count",
                "zk_cnt_proposal_ack_creation_latency",
                "zk_request_commit_queued",
            ],
        ),
        restarted: settled(
            addr(restarted),
            &[
                "zk_learner_proposal_received_count",
                "zk_cnt_proposal_latency",
            ],
        ),
    }
}

/// Apache's request processors' metrics, measured at our pipeline's matching points,
/// after the same workload on Apache's ensemble and ours: where a key counts the same
/// thing on both (transactions logged, committed, applied, acknowledged; change
/// records; a reconnect; the watch event's bytes; the restarted follower's sync), the
/// values agree with each other and with the workload; the summaries are filled.
/// (Syncs are checked on each alone: which are DIFFs and which SNAPs differs.)
#[test]
fn ensemble_pipeline_metrics_follow_a_known_workload() {
    let mut apache = Ensemble::new(Spec {
        kind: Kind::Apache,
        ..Spec::new(3, 0)
    });
    let mut ours = Ensemble::new(Spec::new(3, 0));
    apache.start_all();
    ours.start_all();
    let a = pipeline_workload(&mut apache);
    let o = pipeline_workload(&mut ours);
    // Four sessions created, WRITES + 2 creates, SETS + 1 sets.
    let txns = (WRITES + SETS + 7) as u64;
    let mut failures = Vec::new();
    for (who, p) in [("Apache", &a), ("ours", &o)] {
        let l = &p.leader;
        // Every transaction is logged, acknowledged by the leader, committed, applied.
        for k in [
            "zk_proposal_count",
            "zk_sync_processor_request_queued",
            "zk_cnt_sync_processor_queue_and_flush_time_ms",
            "zk_sum_sync_processor_batch_size",
            "zk_cnt_proposal_ack_creation_latency",
            "zk_request_commit_queued",
            "zk_cnt_propagation_latency",
            "zk_cnt_write_final_proc_time_ms",
        ] {
            expect(
                &mut failures,
                who,
                &format!("the leader's {k}"),
                num(l, k),
                txns,
            );
        }
        let committed = num(l, "zk_cnt_local_write_committed_time_ms")
            + num(l, "zk_cnt_server_write_committed_time_ms");
        expect(
            &mut failures,
            who,
            "the leader's local + server writes committed",
            committed,
            txns,
        );
        expect(
            &mut failures,
            who,
            "the leader's outstanding changes removed",
            num(l, "zk_outstanding_changes_removed"),
            num(l, "zk_outstanding_changes_queued"),
        );
        expect(
            &mut failures,
            who,
            "the leader's reconnects",
            num(l, "zk_connection_revalidate_count"),
            1,
        );
        // Each learner's sync, the restarted one's too, sampled as it began (itself
        // in flight) and as it ended. Which syncs are DIFFs and which SNAPs differs
        // between the two (an empty learner gets SNAP here; Apache's choice depends
        // on when each follower connects), so each is checked against its own.
        let (diffs, snaps) = (num(l, "zk_diff_count"), num(l, "zk_snap_count"));
        if diffs + snaps < 3 {
            failures.push(format!(
                "{who}: the leader counts {diffs} DIFFs, {snaps} SNAPs"
            ));
        }
        for (kind, n) in [("diff", diffs), ("snap", snaps)] {
            let k = format!("zk_cnt_inflight_{kind}_count");
            expect(
                &mut failures,
                who,
                &format!("the leader's {k}"),
                num(l, &k),
                2 * n,
            );
            let max = num(l, &format!("zk_max_inflight_{kind}_count"));
            if n > 0 && max < 1 {
                failures.push(format!("{who}: the leader's max in-flight {kind} is {max}"));
            }
        }
        for (k, min) in [
            ("zk_prep_processor_request_queued", txns),
            ("zk_cnt_prep_process_time", 1),
            ("zk_cnt_proposal_process_time", 1),
            ("zk_cnt_request_throttle_queue_time_ms", WRITES as u64),
            ("zk_cnt_write_commitproc_time_ms", WRITES as u64),
            ("zk_cnt_sync_processor_queue_time_ms", txns),
            ("zk_cnt_sync_process_time", txns),
            ("zk_cnt_sync_processor_queue_size", 1),
            ("zk_cnt_commit_process_time", 1),
            ("zk_cnt_pending_session_queue_size", WRITES as u64),
            ("zk_max_pending_session_queue_size", 1),
            ("zk_cnt_requests_in_session_queue", WRITES as u64),
        ] {
            if num(l, k) < min {
                failures.push(format!(
                    "{who}: the leader's {k} = {}, want {min} or more",
                    num(l, k)
                ));
            }
        }
        // The follower up throughout received, logged, acknowledged and committed each.
        let f = &p.other;
        for k in [
            "zk_learner_proposal_received_count",
            "zk_sync_processor_request_queued",
            "zk_cnt_proposal_latency",
            "zk_cnt_proposal_ack_creation_latency",
            "zk_request_commit_queued",
            "zk_cnt_commit_propagation_latency",
        ] {
            expect(
                &mut failures,
                who,
                &format!("the follower's {k}"),
                num(f, k),
                txns,
            );
        }
        if num(f, "zk_cnt_read_commitproc_time_ms") < 1
            || num(f, "zk_cnt_read_final_proc_time_ms") < 1
        {
            failures.push(format!("{who}: the follower timed no read"));
        }
        // The restarted follower synced once, then received the rest in broadcast.
        let r = &p.restarted;
        expect(
            &mut failures,
            who,
            "the restarted follower's syncs",
            num(r, "zk_cnt_follower_sync_time"),
            1,
        );
        expect(
            &mut failures,
            who,
            "the restarted follower's proposal latencies",
            num(r, "zk_cnt_proposal_latency"),
            num(r, "zk_learner_proposal_received_count"),
        );
        // What came after its sync, in broadcast, is logged (what it missed may have
        // come by SNAP, logged as a snapshot, not as transactions).
        let logged = num(r, "zk_sync_processor_request_queued");
        if logged < num(r, "zk_learner_proposal_received_count") || logged == 0 {
            failures.push(format!("{who}: the restarted follower logged {logged}"));
        }
    }
    // The same things counted on both.
    for (server, ka, ko) in [
        ("leader", &a.leader, &o.leader),
        ("follower", &a.other, &o.other),
        ("restarted follower", &a.restarted, &o.restarted),
    ] {
        failures.extend(same_values(
            server,
            ka,
            ko,
            &[
                "zk_outstanding_changes_queued",
                "zk_cnt_local_write_committed_time_ms",
                "zk_cnt_server_write_committed_time_ms",
                "zk_watch_bytes",
                "zk_connection_revalidate_count",
                "zk_learner_proposal_received_count",
                "zk_stale_requests",
                "zk_connection_rejected",
            ],
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One family of the text format: its type and samples (name, labels, value).
#[derive(Debug, Default)]
struct Family {
    kind: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

/// A parser of the Prometheus text format 0.0.4, strict about what Apache's
/// simpleclient writes: every sample after the `# TYPE` of its family, a
/// summary's samples `name{quantile=...}`, `name_count`, `name_sum`.
fn parse(text: &str) -> Result<BTreeMap<String, Family>, String> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut current: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(_), _) => {}
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !["counter", "gauge", "summary", "histogram", "untyped"].contains(&kind) {
                        return Err(format!("line {n}: unknown type {kind}"));
                    }
                    if families.contains_key(name) {
                        return Err(format!("line {n}: {name} declared twice"));
                    }
                    families.insert(
                        name.to_owned(),
                        Family {
                            kind: kind.to_owned(),
                            ..Default::default()
                        },
                    );
                    current = Some(name.to_owned());
                }
                _ => return Err(format!("line {n}: bad comment {line:?}")),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').ok_or(format!("line {n}: no value"))?;
        let value: f64 = match value {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .map_err(|_| format!("line {n}: bad value {v:?}"))?,
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .ok_or(format!("line {n}: unclosed labels"))?;
                let mut labels = BTreeMap::new();
                for pair in body.split(',').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').ok_or(format!("line {n}: bad label"))?;
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .ok_or(format!("line {n}: unquoted label"))?;
                    labels.insert(k.to_owned(), v.to_owned());
                }
                (name, labels)
            }
            None => (series, BTreeMap::new()),
        };
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            return Err(format!("line {n}: bad metric name {name:?}"));
        }
        let fam_name = current
            .clone()
            .ok_or(format!("line {n}: sample before any # TYPE"))?;
        let fam = families.get_mut(&fam_name).unwrap();
        let ok = match fam.kind.as_str() {
            "summary" => {
                (name == fam_name && labels.contains_key("quantile"))
                    || name == format!("{fam_name}_count")
                    || name == format!("{fam_name}_sum")
            }
            _ => name == fam_name,
        };
        if !ok {
            return Err(format!(
                "line {n}: sample {name} outside its family {fam_name} ({})",
                fam.kind
            ));
        }
        fam.samples.push((name.to_owned(), labels, value));
    }
    Ok(families)
}

/// The Prometheus family Apache's provider names for an mntr key, and whether
/// it is a summary's (`zk_avg_X` is summary X's only when `zk_cnt_X` is there:
/// `zk_avg_latency` is a gauge).
fn family_of(key: &str, keys: &BTreeMap<String, String>) -> (String, &'static str) {
    let k = key.strip_prefix("zk_").unwrap();
    for p in [
        "avg_", "min_", "max_", "cnt_", "sum_", "p50_", "p95_", "p99_", "p999_",
    ] {
        if let Some(rest) = k.strip_prefix(p) {
            if keys.contains_key(&format!("zk_cnt_{rest}")) {
                return (rest.to_owned(), "summary");
            }
        }
    }
    (k.to_owned(), "")
}

fn scrape(addr: SocketAddr) -> BTreeMap<String, Family> {
    let (status, body) = http_get(addr, "/metrics", Duration::from_secs(10)).expect("GET /metrics");
    assert_eq!(status, 200, "{body}");
    let ours = parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    // A real parser agrees: the Prometheus Python client's, from Debian's
    // python3-prometheus-client (for Debian's own python3; see .ci/run).
    let theirs = python_parse(&body);
    let mine: BTreeMap<String, (String, usize)> = ours
        .iter()
        .map(|(k, f)| {
            // The client names a counter's family without its `_total`.
            let k = match k.strip_suffix("_total") {
                Some(base) if f.kind == "counter" => base.to_owned(),
                _ => k.clone(),
            };
            (k, (f.kind.clone(), f.samples.len()))
        })
        .collect();
    assert_eq!(
        theirs, mine,
        "prometheus_client parses the text differently"
    );
    ours
}

/// Families (type, number of samples) as `prometheus_client.parser` reads `text`.
fn python_parse(text: &str) -> BTreeMap<String, (String, usize)> {
    use std::io::Write;
    let script = "import sys, json\n\
        from prometheus_client.parser import text_string_to_metric_families as parse\n\
        print(json.dumps({f.name: [f.type, len(f.samples)] for f in parse(sys.stdin.read())}))\n";
    let mut child = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client failed (apt-get install python3-prometheus-client): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: BTreeMap<String, (String, usize)> =
        serde_json::from_slice(&out.stdout).expect("the parser's JSON");
    v
}

fn value(f: &BTreeMap<String, Family>, family: &str, sample: &str) -> f64 {
    f[family]
        .samples
        .iter()
        .find(|s| s.0 == sample)
        .unwrap_or_else(|| panic!("no {sample}"))
        .2
}

/// Every numeric mntr key of `m` is a family of the same name in `families` (a
/// summary once; a labelled set's keys one family), and every family but the
/// process' is an mntr key: what does not hold.
fn families_match_mntr(
    families: &BTreeMap<String, Family>,
    m: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut from_mntr: BTreeMap<String, &str> = BTreeMap::new();
    for k in m
        .keys()
        .filter(|k| !["zk_version", "zk_server_state", "zk_peer_state"].contains(&k.as_str()))
    {
        // A labelled set's keys (zk_avg_2_learner_handler_qp_size,
        // zk_avg_app_write_per_namespace) are one family, its name without the label.
        // (`quorum_ack_latency` is no member of `ack_latency`.)
        let gauge_set = LABELLED_GAUGES
            .iter()
            .find(|n| k.ends_with(&format!("_{n}")));
        let (fam, kind) = match LABELLED
            .iter()
            .find(|n| k.ends_with(&format!("_{n}")) && !k.ends_with("_quorum_ack_latency"))
        {
            Some(n) => (n.to_string(), "summary"),
            None => match gauge_set {
                Some(n) => (n.to_string(), "gauge"),
                None => family_of(k, m),
            },
        };
        from_mntr.entry(fam).or_insert(kind);
    }
    let mut failures = Vec::new();
    let exported: BTreeSet<&String> = families
        .keys()
        .filter(|k| !k.starts_with("process_"))
        .collect();
    let expected: BTreeSet<&String> = from_mntr.keys().collect();
    if exported != expected {
        failures.push(format!(
            "families not from mntr: {:?}; mntr keys not exported: {:?}",
            exported.difference(&expected).collect::<Vec<_>>(),
            expected.difference(&exported).collect::<Vec<_>>()
        ));
    }
    for (fam, kind) in &from_mntr {
        let Some(f) = families.get(fam) else { continue };
        if *kind == "summary" && f.kind != "summary" {
            failures.push(format!("{fam} is a {} not a summary", f.kind));
        }
        if f.samples.is_empty() {
            failures.push(format!("{fam} has no sample"));
        }
    }
    failures
}

/// Apache's labelled summary sets we print (their keys carry a label before the name).
const LABELLED: &[&str] = &[
    "learner_handler_qp_size",
    "learner_handler_qp_time_ms",
    "ack_latency",
    "write_per_namespace",
    "read_per_namespace",
];

/// Apache's labelled gauge sets we print (`zk_<namespace>_<name>`): the quotas'.
const LABELLED_GAUGES: &[&str] = &[
    "quota_count_limit_per_namespace",
    "quota_bytes_limit_per_namespace",
    "quota_count_usage_per_namespace",
    "quota_bytes_usage_per_namespace",
];

/// A leader's `/metrics`: every mntr key it prints has its family, the per-learner
/// `learner_handler_qp_size` as one summary family with a `key` label per learner
/// (as Apache's provider exports a labelled SummarySet), read by prometheus_client.
#[test]
fn a_leader_exports_its_learners_queue_sizes_to_prometheus() {
    let mut ens = Ensemble::new(Spec::new(3, 0));
    let mut ports = BTreeMap::new();
    for id in ens.ids() {
        let port = free_port();
        ports.insert(id, port);
        let mut cfg = std::fs::read_to_string(ens.member(id).cfg_path()).unwrap();
        cfg.push_str(&format!(
            "metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n\
             metricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort={port}\n"
        ));
        std::fs::write(ens.member(id).cfg_path(), cfg).unwrap();
    }
    ens.start_all();
    let leader = ens.wait_serving(&ens.ids(), Duration::from_secs(90));
    let follower = ens.ids().into_iter().find(|i| *i != leader).unwrap();
    let _c = workload(ens.member(follower).addr());
    let addr = SocketAddr::from(([127, 0, 0, 1], ports[&leader]));
    let families = scrape(addr);
    let m = mntr(ens.member(leader).addr());
    let failures = families_match_mntr(&families, &m);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let qp = &families["learner_handler_qp_size"];
    assert_eq!(qp.kind, "summary");
    let keys: BTreeSet<String> = qp
        .samples
        .iter()
        .filter_map(|s| s.1.get("key").cloned())
        .collect();
    let learners: BTreeSet<String> = ens
        .ids()
        .into_iter()
        .filter(|i| *i != leader)
        .map(|i| i.to_string())
        .collect();
    assert_eq!(keys, learners, "{:?}", qp.samples);
    let count = |sid: &str| {
        qp.samples
            .iter()
            .find(|s| {
                s.0 == "learner_handler_qp_size_count"
                    && s.1.get("key").map(String::as_str) == Some(sid)
            })
            .map(|s| s.2)
            .unwrap_or(0.0)
    };
    for sid in &learners {
        assert!(
            count(sid) > 0.0,
            "no packet counted for learner {sid}: {:?}",
            qp.samples
        );
    }
    // The queue waits: an ADVANCED summary (0.5, 0.9, 0.99) per learner.
    let qt = &families["learner_handler_qp_time_ms"];
    assert_eq!(qt.kind, "summary");
    for sid in &learners {
        let quantiles: BTreeSet<String> = qt
            .samples
            .iter()
            .filter(|s| s.1.get("key") == Some(sid))
            .filter_map(|s| s.1.get("quantile").cloned())
            .collect();
        assert_eq!(
            quantiles,
            ["0.5", "0.9", "0.99"].map(String::from).into(),
            "{:?}",
            qt.samples
        );
    }
}

#[test]
fn prometheus_metrics_carry_apache_names_and_types() {
    let port = free_port();
    let ours = TestServer::start(
        Kind::Ours,
        &Options {
            extra: vec![
                (
                    "metricsProvider.className".into(),
                    "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider".into(),
                ),
                ("metricsProvider.httpHost".into(), "127.0.0.1".into()),
                ("metricsProvider.httpPort".into(), port.to_string()),
            ],
            ..Options::default()
        },
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let before = scrape(addr);

    let m = mntr(ours.addr());
    let mut failures = families_match_mntr(&before, &m);
    // Apache's quantiles: 0.5/0.9/0.99 for an ADVANCED summary, 0.5 for a BASIC one.
    let quantiles = |f: &str| -> Vec<String> {
        before[f]
            .samples
            .iter()
            .filter_map(|s| s.1.get("quantile").cloned())
            .collect()
    };
    assert_eq!(quantiles("readlatency"), ["0.5", "0.9", "0.99"]);
    assert_eq!(quantiles("fsynctime"), ["0.5"]);
    for (f, kind) in [
        ("commit_count", "counter"),
        ("znode_count", "gauge"),
        ("process_open_fds", "gauge"),
    ] {
        assert_eq!(before[f].kind, kind, "{f}");
    }

    // The values move with requests.
    let _c = workload(ours.addr());
    let after = scrape(addr);
    for (fam, sample) in [
        ("readlatency", "readlatency_count"),
        ("updatelatency", "updatelatency_count"),
        ("znode_count", "znode_count"),
        ("response_bytes", "response_bytes"),
        ("fsynctime", "fsynctime_count"),
    ] {
        let (b, a) = (value(&before, fam, sample), value(&after, fam, sample));
        if a <= b {
            failures.push(format!("{sample}: {b} before the requests, {a} after"));
        }
    }
    assert_eq!(value(&after, "ephemerals_count", "ephemerals_count"), 1.0);
    // A labelled set: one family, a `key` label per namespace.
    let keys: BTreeSet<String> = after["write_per_namespace"]
        .samples
        .iter()
        .filter_map(|s| s.1.get("key").cloned())
        .collect();
    // The quota's nodes are written under /zookeeper.
    let want = ["eph", "m", "zookeeper"].map(str::to_owned);
    assert_eq!(keys, BTreeSet::from(want));
    // A labelled gauge set: the quota on /m, whose subtree holds /m and /m/c.
    let usage: Vec<(Option<&String>, f64)> = after["quota_count_usage_per_namespace"]
        .samples
        .iter()
        .map(|s| (s.1.get("key"), s.2))
        .collect();
    assert_eq!(usage, [(Some(&"m".to_owned()), 2.0)]);
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Only GET /metrics.
    let (status, _) = http_get(addr, "/other", Duration::from_secs(10)).unwrap();
    assert_eq!(status, 404);
}

#[test]
fn the_parser_rejects_what_prometheus_rejects() {
    assert!(parse("x 1\n").is_err(), "a sample without # TYPE");
    assert!(
        parse("# TYPE a gauge\nb 1\n").is_err(),
        "a sample outside its family"
    );
    assert!(
        parse("# TYPE a summary\na 1\n").is_err(),
        "a summary sample without quantile"
    );
    assert!(parse("# TYPE a gauge\na one\n").is_err(), "a bad value");
    assert!(
        parse("# TYPE a gauge\n# TYPE a gauge\n").is_err(),
        "declared twice"
    );
    let f = parse("# TYPE a summary\na{quantile=\"0.5\",} NaN\na_count 0.0\na_sum 0.0\n").unwrap();
    assert_eq!(f["a"].samples.len(), 3);
}

/// A connection that sends nothing is closed after `nio.sessionlessCnxnTimeout` (here 1 s;
/// Apache's NIO factory, its default, expires it between one and two intervals) and
/// counted in `sessionless_connections_expired`; a four-letter word and a session made on
/// time are not. The same on both servers.
#[test]
fn a_connection_asking_no_session_expires_as_on_apache() {
    use std::io::Read;
    use std::time::Instant;
    for kind in [Kind::Apache, Kind::Ours] {
        let mut opts = Options::default();
        opts.extra
            .push(("nio.sessionlessCnxnTimeout".into(), "1000".into()));
        let server = TestServer::start(kind, &opts);
        let before = mntr(server.addr())["zk_sessionless_connections_expired"].clone();
        // A session made at once and kept: not expired by this limit.
        let mut session = RawClient::connect(server.addr()).expect("a session");
        let mut idle = std::net::TcpStream::connect(server.addr()).unwrap();
        idle.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let start = Instant::now();
        let mut b = [0u8; 1];
        let read = idle.read(&mut b);
        let waited = start.elapsed();
        assert!(
            matches!(read, Ok(0))
                || matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "{}: the idle connection was not closed within 10 s: {read:?}",
            kind.name()
        );
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_secs(6),
            "{}: closed after {waited:?}",
            kind.name()
        );
        let after = mntr(server.addr());
        assert_eq!(before, "0", "{}", kind.name());
        assert_eq!(
            after["zk_sessionless_connections_expired"],
            "1",
            "{}",
            kind.name()
        );
        // The session outlived the idle connection's limit and still answers.
        std::thread::sleep(Duration::from_millis(1500));
        let reply = session.exists("/zookeeper", false);
        assert!(
            matches!(&reply, Ok(r) if r.err == 0),
            "{}: the session's connection was closed: {reply:?}",
            kind.name()
        );
    }
}
