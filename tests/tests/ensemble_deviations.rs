//! The ZAB deviations of docs/decisions/0002 that reach the wire, re-checked against
//! Apache ZooKeeper 3.8 peers (issue 12): an Apache learner of our leader and ours of an
//! Apache leader, each through the case.
//!
//! The case: a learner that accepted an epoch whose leader never established (the state a
//! crash between LEADERINFO and NEWLEADER leaves: `acceptedEpoch` one above
//! `currentEpoch`) joins the leader that proposed that very epoch. In `Learner.java` its
//! ACKEPOCH then carries -1 ("this reply should not count as an ack for the new epoch");
//! ours now sends the same. It is synchronised by DIFF (or, with its log wiped, by SNAP)
//! and then UPTODATE, which our leaders send with their commit point where Apache's send
//! -1. The test asserts the learner's state (its epochs, every acknowledged write through
//! it alone, writes through it reaching the others) and that the Apache peer's log has
//! none of the messages Apache would print had it refused our bytes.
//!
//! The same -1 while the leader is still in discovery (its epoch decided, not yet
//! acknowledged by a quorum) is forced with a learner scripted on the quorum port and a
//! held link: the -1 must not count towards the quorum
//! (`minus_one_ackepoch_during_discovery`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::kazoo::Writer;
use zk_tests::Kind;

/// What Apache's `Leader`, `LearnerHandler`, `Learner` and `Follower` log when a peer's
/// discovery or synchronisation bytes are not what they expect.
const APACHE_COMPLAINTS: &[&str] = &[
    "Follower is ahead of the leader",
    "is less than accepted epoch",
    "is not ACKEPOCH",
    "First packet should have been NEWLEADER",
    "Unexpected exception causing shutdown",
    "Exception when following the leader",
    "Got zxid",
    "Unknown packet type",
];

fn write(hosts: &str, prefix: &str) -> Vec<u64> {
    let lines = Writer::start(hosts, 0.5, prefix).finish(Duration::from_secs(60));
    let acked: Vec<u64> = lines.iter().filter_map(|v| v["ack"].as_u64()).collect();
    assert!(!acked.is_empty(), "no acknowledged writes under {prefix}");
    acked
}

/// The file `name` under `dir`, wherever the kind keeps it (`version-2/` for both).
fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}

fn read_epoch(dir: &Path, name: &str) -> u64 {
    let p = find(dir, name).unwrap_or_else(|| panic!("no {name} under {}", dir.display()));
    std::fs::read_to_string(&p)
        .unwrap()
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Server 1 (`learner`) rejoins leader 3 (`leader`'s kind, as is 2) with the epoch 3
/// proposes already accepted. With `wipe` its log and snapshots are gone first (SNAP).
fn learner_with_the_epoch_already_accepted(learner: Kind, leader: Kind, wipe: bool) {
    let mut spec = Spec::new(3, 0).member_kind(1, learner).ticks(500, 20, 10);
    spec.kind = leader;
    let mut ens = Ensemble::new(spec);
    ens.start(3);
    ens.start(2);
    assert_eq!(ens.wait_serving(&[2, 3], Duration::from_secs(60)), 3);
    ens.start(1);
    ens.wait_mode(1, "follower", Duration::from_secs(60));
    let before = write(&ens.connect_string(), "/e1");

    for id in [1, 2, 3] {
        ens.kill(id);
    }
    let dir1 = ens.member(1).data_dir();
    let current = read_epoch(&dir1, "currentEpoch");
    assert_eq!(read_epoch(&dir1, "acceptedEpoch"), current);
    // 2 and 3 accepted `current` too: 3 will propose `current + 1`, which 1 has accepted
    // already from a leader that never got to NEWLEADER.
    let next = current + 1;
    if wipe {
        ens.wipe(1);
        let v2 = dir1.join("version-2");
        std::fs::create_dir_all(&v2).unwrap();
        std::fs::write(v2.join("currentEpoch"), current.to_string()).unwrap();
        std::fs::write(v2.join("acceptedEpoch"), next.to_string()).unwrap();
    } else {
        let p = find(&dir1, "acceptedEpoch").unwrap();
        std::fs::write(p, next.to_string()).unwrap();
    }

    let offsets: Vec<usize> = [1, 2, 3].iter().map(|id| ens.log(*id).len()).collect();
    ens.start(3);
    ens.start(2);
    assert_eq!(ens.wait_serving(&[2, 3], Duration::from_secs(60)), 3);
    let up = format!("{},{}", ens.member(2).hosts(), ens.member(3).hosts());
    let between = write(&up, "/e2");
    assert_eq!(
        ens.zxid(3).unwrap() >> 32,
        next,
        "leader 3 did not take epoch {next}"
    );

    ens.start(1);
    ens.wait_mode(1, "follower", Duration::from_secs(60));
    ens.assert_all_present(1, "/e1", &before);
    ens.assert_all_present(1, "/e2", &between);
    let through = write(&ens.member(1).hosts(), "/e3");
    for id in [2, 3] {
        ens.assert_all_present(id, "/e3", &through);
    }
    assert_eq!(read_epoch(&dir1, "acceptedEpoch"), next);
    assert_eq!(read_epoch(&dir1, "currentEpoch"), next);

    let log1 = &ens.log(1)[offsets[0]..];
    let synced = match (learner, wipe) {
        (Kind::Apache, false) => "Getting a diff from the leader",
        (Kind::Apache, true) => "Getting a snapshot from leader",
        (Kind::Ours, false) => "by DIFF",
        (Kind::Ours, true) => "by SNAP",
    };
    assert!(
        log1.contains(synced),
        "server 1 was not synchronised as expected ({synced:?}):\n{}",
        ens.logs(&[1])
    );
    for id in [1, 3] {
        if ens.spec.kind_of(id) != Kind::Apache {
            continue;
        }
        let log = &ens.log(id)[offsets[id as usize - 1]..];
        for c in APACHE_COMPLAINTS {
            // `Learner.syncWithLeader` and `Follower` start counting at 0, so the first
            // PROPOSAL of a DIFF and the first of broadcast always log "Got zxid ...
            // expected 0x1", with Apache's own leader too (the all-Apache runs below).
            // Only a gap inside a stream would be ours.
            let bad: Vec<&str> = log
                .lines()
                .filter(|l| l.contains(c) && !l.ends_with("expected 0x1"))
                .collect();
            assert!(
                bad.is_empty(),
                "Apache server {id} logged {c:?}:\n{}",
                bad.join("\n")
            );
        }
    }
}

#[test]
fn apache_learner_with_the_epoch_accepted_joins_our_leader_by_diff() {
    learner_with_the_epoch_already_accepted(Kind::Apache, Kind::Ours, false);
}

#[test]
fn apache_learner_with_the_epoch_accepted_joins_our_leader_by_snap() {
    learner_with_the_epoch_already_accepted(Kind::Apache, Kind::Ours, true);
}

#[test]
fn our_learner_with_the_epoch_accepted_joins_an_apache_leader_by_diff() {
    learner_with_the_epoch_already_accepted(Kind::Ours, Kind::Apache, false);
}

#[test]
fn our_learner_with_the_epoch_accepted_joins_an_apache_leader_by_snap() {
    learner_with_the_epoch_already_accepted(Kind::Ours, Kind::Apache, true);
}

/// The oracle: the same case with Apache on both sides passes the same checks.
#[test]
fn apache_learner_with_the_epoch_accepted_joins_an_apache_leader_by_diff() {
    learner_with_the_epoch_already_accepted(Kind::Apache, Kind::Apache, false);
}

#[test]
fn apache_learner_with_the_epoch_accepted_joins_an_apache_leader_by_snap() {
    learner_with_the_epoch_already_accepted(Kind::Apache, Kind::Apache, true);
}

/// A learner of the quorum protocol scripted by the test, standing in for server 2: it
/// sends FOLLOWERINFO and reads LEADERINFO, and sends its ACKEPOCH only when told, so the
/// leader stays in discovery (its epoch decided, its epoch acknowledgements short of a
/// quorum) for as long as the test wants. Bytes as Apache's `Learner` writes them:
/// QuorumPacket records back to back on the quorum port, no frame length.
struct ScriptedLearner {
    sock: std::net::TcpStream,
}

impl ScriptedLearner {
    /// Connects to `leader`'s quorum port as server `sid` with `accepted_epoch`, until that
    /// server leads and answers LEADERINFO; returns the epoch it proposes.
    fn join(leader: std::net::SocketAddr, sid: u64, accepted_epoch: u64) -> (ScriptedLearner, u64) {
        use std::io::Write;
        use zab_core::wire::LearnerInfo;
        use zab_core::{Epoch, QuorumPacket, ServerId};
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "server at {leader} never answered FOLLOWERINFO"
            );
            let Ok(mut sock) = std::net::TcpStream::connect(leader) else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let info = QuorumPacket::FollowerInfo {
                accepted_epoch: Epoch(accepted_epoch),
                info: LearnerInfo {
                    sid: ServerId(sid),
                    protocol_version: 0x10000,
                    config_version: 0,
                },
                zk_rs: false,
            };
            if sock.write_all(&info.encode()).is_err() {
                continue;
            }
            match read_packet(&mut sock) {
                // LEADERINFO: the zxid is the new epoch's first.
                Ok((17, zxid, _)) => {
                    sock.set_read_timeout(None).unwrap();
                    return (ScriptedLearner { sock }, (zxid as u64) >> 32);
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// ACKEPOCH with this learner's own current epoch (not -1): it counts.
    fn ack_epoch(&mut self, current_epoch: i64) {
        use std::io::Write;
        use zab_core::{QuorumPacket, Zxid};
        let ack = QuorumPacket::AckEpoch {
            last_zxid: Zxid(0),
            current_epoch,
        };
        self.sock.write_all(&ack.encode()).unwrap();
    }
}

/// One QuorumPacket record: (type, zxid, data); its authinfo is read and dropped.
fn read_packet(s: &mut std::net::TcpStream) -> std::io::Result<(i32, i64, Vec<u8>)> {
    use std::io::Read;
    fn int(s: &mut std::net::TcpStream) -> std::io::Result<i32> {
        let mut b = [0u8; 4];
        s.read_exact(&mut b)?;
        Ok(i32::from_be_bytes(b))
    }
    fn bytes(s: &mut std::net::TcpStream) -> std::io::Result<Vec<u8>> {
        let n = int(s)?;
        let mut v = vec![0u8; n.clamp(0, 1 << 20) as usize];
        s.read_exact(&mut v)?;
        Ok(v)
    }
    let t = int(s)?;
    let mut z = [0u8; 8];
    s.read_exact(&mut z)?;
    let data = bytes(s)?;
    for _ in 0..int(s)?.clamp(0, 16) {
        bytes(s)?;
        bytes(s)?;
    }
    Ok((t, i64::from_be_bytes(z), data))
}

/// The ACKEPOCH of -1 while the leader is still in discovery (docs/decisions/0002, item 1):
/// server 1 (`learner`'s kind) has already accepted the epoch leader 3 (`leader`'s kind)
/// will propose, and reaches 3 only after the epoch was decided (from 3's own FOLLOWERINFO
/// count with server 2, scripted here) but before a quorum acknowledged it. Its ACKEPOCH
/// carries -1, which must count towards nothing: with 2's acknowledgement withheld, 3 does
/// not establish the epoch although two of three servers (3 and 1) have answered; once 2
/// acknowledges, 3 and 1 form the ensemble (2 never syncs) and serve writes in that epoch.
fn minus_one_ackepoch_during_discovery(learner: Kind, leader: Kind) {
    let mut spec = Spec::new(3, 0)
        .member_kind(1, learner)
        .ticks(500, 60, 10)
        .proxied();
    spec.kind = leader;
    let mut ens = Ensemble::new(spec);
    // Fresh servers: 3 and the scripted 2 accepted epoch 0, so 3 proposes 1; server 1 has
    // accepted 1 already (a crash between LEADERINFO and NEWLEADER leaves that).
    let v2 = ens.member(1).data_dir().join("version-2");
    std::fs::create_dir_all(&v2).unwrap();
    std::fs::write(v2.join("currentEpoch"), "0").unwrap();
    std::fs::write(v2.join("acceptedEpoch"), "1").unwrap();
    // 1 votes (election link up), but its connection to 3's quorum port is held back.
    ens.hold_quorum_link(1, 3);
    ens.start(3);
    ens.start(1);
    let (mut two, epoch) = ScriptedLearner::join(
        std::net::SocketAddr::from(([127, 0, 0, 1], ens.member(3).quorum_port)),
        2,
        0,
    );
    assert_eq!(epoch, 1, "leader 3 proposes epoch 1");
    let offset = ens.log(3).len();
    ens.heal();
    // Server 1 reaches the leader and answers LEADERINFO of its accepted epoch with -1.
    let marker = if leader == Kind::Apache {
        "Follower sid: 1 : info"
    } else {
        "ServerId(1)"
    };
    assert!(
        zk_tests::wait_until(Duration::from_secs(30), || ens.log(3)[offset..]
            .lines()
            .any(|l| l.contains(marker))),
        "server 1 never reached leader 3:\n{}",
        ens.logs(&[1, 3])
    );
    // Two of three servers answered, but 1's -1 is not an acknowledgement: no quorum.
    let window = std::time::Instant::now() + Duration::from_secs(4);
    while std::time::Instant::now() < window {
        assert_eq!(ens.mode(3), None, "leader 3 established counting 1's -1");
        assert_eq!(
            ens.mode(1),
            None,
            "server 1 serves before the epoch is acknowledged"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ens.is_running(1) && ens.is_running(3));
    two.ack_epoch(0);
    assert_eq!(ens.wait_serving(&[1, 3], Duration::from_secs(30)), 3);
    let through = write(&ens.member(1).hosts(), "/d1");
    ens.assert_all_present(3, "/d1", &through);
    assert_eq!(ens.zxid(3).unwrap() >> 32, 1, "the ensemble runs epoch 1");
    let dir1 = ens.member(1).data_dir();
    assert_eq!(read_epoch(&dir1, "acceptedEpoch"), 1);
    assert_eq!(read_epoch(&dir1, "currentEpoch"), 1);
    drop(two);
}

#[test]
fn our_minus_one_ackepoch_is_not_counted_by_an_apache_leader_in_discovery() {
    minus_one_ackepoch_during_discovery(Kind::Ours, Kind::Apache);
}

#[test]
fn apache_s_minus_one_ackepoch_is_not_counted_by_our_leader_in_discovery() {
    minus_one_ackepoch_during_discovery(Kind::Apache, Kind::Ours);
}

/// The oracle: Apache on both sides.
#[test]
fn apache_minus_one_ackepoch_is_not_counted_by_an_apache_leader_in_discovery() {
    minus_one_ackepoch_during_discovery(Kind::Apache, Kind::Apache);
}
