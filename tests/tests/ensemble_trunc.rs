//! Synchronisation by TRUNC across implementations (issue 12): a leader logs a proposal
//! nobody else receives (its outbound traffic is dropped), dies, and the other two elect
//! a new leader and go on; when the old leader comes back as a learner it holds a
//! proposal the new leader never committed and must be told to truncate it. For each
//! pair of kinds (the learner ours or Apache 3.8's, the new leader ours or Apache's):
//! the learner's log shows the TRUNC, the lost proposal is gone through it alone, every
//! acknowledged write is there, and writes through it reach the others.

use std::path::Path;
use std::time::{Duration, Instant};

use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::kazoo::Writer;
use zk_tests::raw::RawClient;
use zk_tests::Kind;

const LOST: &str = "/lost-proposal";
const OP_SYNC: i32 = 9;

fn write(hosts: &str, prefix: &str) -> Vec<u64> {
    let lines = Writer::start(hosts, 0.5, prefix).finish(Duration::from_secs(60));
    let acked: Vec<u64> = lines.iter().filter_map(|v| v["ack"].as_u64()).collect();
    assert!(!acked.is_empty(), "no acknowledged writes under {prefix}");
    acked
}

/// Whether any file under `dir` contains `needle` (a proposal's path in a log record).
fn some_file_contains(dir: &Path, needle: &[u8]) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            some_file_contains(&p, needle)
        } else {
            std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
        }
    })
}

/// Server 3 (`learner`'s kind) leads first; 1 and 2 are `leader`'s kind, and one of them
/// leads after 3 is gone (2 unless 1 holds a later zxid: election prefers the zxid). `truncated` is the line 3's log shows for a TRUNC.
/// With `writes_between`, the new leader commits writes of its new epoch before 3 comes
/// back: ours then sends TRUNC and a DIFF of them; Apache's sends a SNAP instead
/// (`LearnerHandler.queueCommittedProposals`: no TRUNC when the leader's next proposal
/// is of another epoch than the learner's last), so that case is run with ours leading.
fn old_leader_is_truncated(learner: Kind, leader: Kind, writes_between: bool, truncated: &str) {
    let mut spec = Spec::new(3, 0)
        .member_kind(3, learner)
        .proxied()
        .ticks(500, 20, 6);
    spec.kind = leader;
    let mut ens = Ensemble::new(spec);
    // 3 and 1 first, so that 3 leads whichever kind starts faster; then 2.
    ens.start(3);
    ens.start(1);
    let first = ens.wait_serving(&[1, 3], Duration::from_secs(60));
    assert_eq!(first, 3, "{}", ens.logs(&[1, 3]));
    ens.start(2);
    ens.wait_mode(2, "follower", Duration::from_secs(60));
    let before = write(&ens.connect_string(), "/t1");

    // 3 goes on hearing the others, but nothing it sends arrives: its proposal for the
    // next write is logged by it alone and never committed.
    // The session is opened before (opening one is a write too).
    let mut c = RawClient::connect(ens.member(3).addr()).unwrap();
    ens.isolate_outbound(3);
    let lost =
        std::thread::spawn(move || c.create(LOST, b"never committed", 0).ok().map(|r| r.err));
    let dir = ens.member(3).data_dir();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !some_file_contains(&dir, LOST.as_bytes()) {
        assert!(
            Instant::now() < deadline,
            "server 3 never logged the proposal:\n{}",
            ens.logs(&[3])
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    ens.kill(3);
    ens.heal();
    // Whatever the client heard, it was not a success.
    assert_ne!(
        lost.join().unwrap(),
        Some(0),
        "the lost write was acknowledged"
    );

    // Either of 1 and 2, both of `leader`'s kind, serves as the new leader.
    ens.wait_serving(&[1, 2], Duration::from_secs(60));
    let up = format!("{},{}", ens.member(1).hosts(), ens.member(2).hosts());
    let mut after = Vec::new();
    if writes_between {
        after = write(&up, "/t2");
    }

    let log_len = ens.log(3).len();
    ens.start(3);
    ens.wait_mode(3, "follower", Duration::from_secs(60));
    if !writes_between {
        after = write(&up, "/t2");
    }
    let log = ens.log(3);
    assert!(
        log[log_len..].contains(truncated),
        "server 3 was not told TRUNC ({truncated:?}):\n{}",
        log[log_len..]
            .lines()
            .filter(|l| l.contains("sync")
                || l.contains("SNAP")
                || l.contains("DIFF")
                || l.contains("TRUNC")
                || l.contains("runcat"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Through 3 alone: the proposal is gone, every acknowledged write is there.
    let mut c = RawClient::connect(ens.member(3).addr()).unwrap();
    let mut path = Vec::new();
    zk_tests::raw::put_str(&mut path, "/");
    let sync = c.call(OP_SYNC, &path).unwrap();
    assert_eq!(sync.err, 0, "sync through server 3");
    let r = c.exists(LOST, false).unwrap();
    assert_eq!(r.err, -101, "server 3 still has the uncommitted {LOST}");
    drop(c);
    ens.assert_all_present(3, "/t1", &before);
    ens.assert_all_present(3, "/t2", &after);
    for id in [1, 2] {
        let mut c = RawClient::connect(ens.member(id).addr()).unwrap();
        assert_eq!(c.exists(LOST, false).unwrap().err, -101, "server {id}");
    }
    let through = write(&ens.member(3).hosts(), "/t3");
    for id in [1, 2] {
        ens.assert_all_present(id, "/t3", &through);
    }
}

const OURS_TRUNCATED: &str = "by TRUNC";
const APACHE_TRUNCATED: &str = "Truncating log to get in sync with the leader";

#[test]
fn our_learner_is_truncated_by_our_leader() {
    old_leader_is_truncated(Kind::Ours, Kind::Ours, false, OURS_TRUNCATED);
}

#[test]
fn our_learner_is_truncated_by_our_leader_after_new_epoch_writes() {
    old_leader_is_truncated(Kind::Ours, Kind::Ours, true, OURS_TRUNCATED);
}

#[test]
fn our_learner_is_truncated_by_an_apache_leader() {
    old_leader_is_truncated(Kind::Ours, Kind::Apache, false, OURS_TRUNCATED);
}

#[test]
fn apache_learner_is_truncated_by_our_leader() {
    old_leader_is_truncated(Kind::Apache, Kind::Ours, false, APACHE_TRUNCATED);
}

#[test]
fn apache_learner_is_truncated_by_our_leader_after_new_epoch_writes() {
    old_leader_is_truncated(Kind::Apache, Kind::Ours, true, APACHE_TRUNCATED);
}

#[test]
fn apache_learner_is_truncated_by_an_apache_leader() {
    old_leader_is_truncated(Kind::Apache, Kind::Apache, false, APACHE_TRUNCATED);
}
