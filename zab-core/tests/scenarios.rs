//! Scripted scenarios on the simulator: start, crash, partition, hold, deliver, check.
//!
//! Each scenario runs on a quiet world (no random faults, no background load unless the
//! script turns it on) for several seeds, which vary message delays and reordering,
//! disk latency, and whether an epoch file overtakes earlier log writes. The simulator checks its invariants after every event (one leader per
//! epoch, committed prefixes agree and stay durable on a quorum, persist-before-ACK, a
//! LOOKING peer writes nothing); the scripts check what their story is about.
//! A failure names the seed and the command that replays it.
//!
//! The regressions are named after the Apache ZooKeeper bugs they guard against.

use std::ops::Range;

use bytes::Bytes;
use zab_core::peer::{Action, Event};
use zab_core::sim::{continuous, reported, Record, Sim, SimOptions, STEPS_PER_TICK};
use zab_core::{QuorumPacket, ServerId, ServerState, Zxid};

const SEEDS: Range<u64> = 0..32;

/// Runs `script` once per seed on a quiet ensemble of stopped servers: `voters`, then
/// `observers` numbered after them.
fn scenario(name: &str, voters: u64, observers: u64, script: impl Fn(&mut Sim)) {
    for seed in SEEDS {
        let mut opts = SimOptions::new(voters, observers);
        opts.propose = 0;
        // Epoch files may be durable before earlier log writes: the core must not care.
        opts.disk_reorder = 300;
        let mut sim = Sim::new(seed, opts);
        sim.replay = format!("cargo test -p zab-core --test scenarios {name} -- --exact");
        reported(&mut sim, &script);
    }
}

// ---- helpers ----

/// Waits until every running server is in broadcast under one leader; returns it.
fn settle(sim: &mut Sim) -> u64 {
    if !sim.run_until(200, |s| s.settled()) {
        sim.fail("no stable leader within 200 ticks");
    }
    sim.leader().expect("settled")
}

/// Proposes `n` transactions at the leader and waits until every running server applied
/// them and has them on disk.
fn commit(sim: &mut Sim, n: usize) -> Vec<Zxid> {
    let l = sim.leader().expect("an established leader");
    let zs: Vec<Zxid> = (0..n)
        .map(|_| sim.propose_at(l).expect("the leader takes proposals"))
        .collect();
    let alive: Vec<u64> = sim
        .nodes
        .iter()
        .filter(|n| n.alive())
        .map(|n| n.sid.0)
        .collect();
    wait_applied(sim, &alive, *zs.last().expect("n > 0"));
    zs
}

/// Waits until `z` is applied and durable on every server of `sids`, so that what a
/// later crash keeps is known.
fn wait_applied(sim: &mut Sim, sids: &[u64], z: Zxid) {
    let sids = sids.to_vec();
    let done = sim.run_until(100, |s| {
        sids.iter().all(|x| {
            let n = s.node(*x);
            n.committed().last().is_some_and(|e| e.0 >= z) && n.is_durable(z)
        })
    });
    if !done {
        sim.fail(&format!(
            "{z} not applied and durable on {sids:?} within 100 ticks"
        ));
    }
}

/// Runs `ticks`, calling `check` after every step; a complaint fails the run.
fn run_checking(sim: &mut Sim, ticks: u64, mut check: impl FnMut(&Sim) -> Option<String>) {
    for _ in 0..ticks * STEPS_PER_TICK {
        sim.step();
        if let Some(why) = check(sim) {
            sim.fail(&why);
        }
    }
}

fn role(sim: &Sim, sid: u64) -> (ServerState, Option<u64>) {
    let p = sim.peer(sid).expect("running");
    (p.state(), p.leader().map(|l| l.0))
}

fn state(sim: &Sim, sid: u64) -> ServerState {
    sim.peer(sid).expect("running").state()
}

fn is_ack_of_newleader(a: &Action) -> bool {
    matches!(a, Action::Send { msg: QuorumPacket::Ack { zxid }, .. } if zxid.counter() == 0)
}

fn received(sid: u64, f: impl Fn(&QuorumPacket) -> bool) -> impl FnMut(ServerId, &Event) -> bool {
    move |s, ev| s.0 == sid && matches!(ev, Event::Received { msg, .. } if f(msg))
}

fn sends(
    sid: u64,
    f: impl Fn(&QuorumPacket) -> bool + 'static,
) -> impl FnMut(ServerId, &Action) -> bool {
    move |s, a| s.0 == sid && matches!(a, Action::Send { msg, .. } if f(msg))
}

fn in_history(sim: &Sim, z: Zxid) -> bool {
    sim.history.iter().any(|e| e.0 == z)
}

// ---- the seed's tutorial and split ensembles ----

/// The seed's tutorial: a 3-server ensemble started one server at a time.
#[test]
fn tutorial_servers_started_one_by_one() {
    scenario("tutorial_servers_started_one_by_one", 3, 0, |sim| {
        // Alone, server 1 is no quorum: it stays LOOKING.
        sim.start(1);
        let left = sim.run_until(100, |s| {
            s.node(1)
                .status
                .is_some_and(|st| st.state != ServerState::Looking)
        });
        assert!(!left, "a lone server left LOOKING");
        assert_eq!(sim.leader(), None);

        // With 2 there is a quorum; votes (epoch 0, zxid 0, sid) favour 2.
        sim.start(2);
        assert_eq!(settle(sim), 2);
        assert_eq!(role(sim, 1), (ServerState::Following, Some(2)));
        let first = commit(sim, 3);

        // 3 has the highest sid, but the ensemble is established: 3 follows 2.
        sim.start(3);
        assert_eq!(settle(sim), 2);
        assert_eq!(role(sim, 3), (ServerState::Following, Some(2)));
        assert_eq!(sim.leaders.len(), 1, "a new epoch: {:?}", sim.leaders);
        assert_eq!(sim.node(3).committed_zxids(), first, "3 caught up");
        let more = commit(sim, 2);
        for s in 1..=3 {
            assert!(sim.node(s).committed_zxids().ends_with(&more));
        }
    });
}

/// 6 servers split 3/3 from the start: neither side is a quorum.
#[test]
fn six_servers_split_three_three_elect_nobody() {
    scenario("six_servers_split_three_three_elect_nobody", 6, 0, |sim| {
        sim.partition(&[&[1, 2, 3], &[4, 5, 6]]);
        sim.start_all();
        run_checking(sim, 300, |s| {
            s.nodes
                .iter()
                .find(|n| n.status.is_some_and(|st| st.state != ServerState::Looking))
                .map(|n| format!("{} left LOOKING in a side of three", n.sid))
        });
        assert!(!sim.propose(), "nobody takes proposals");
        assert!(sim.leaders.is_empty() && sim.history.is_empty());
        // Healed, the same six elect: the split was what stopped them.
        sim.heal();
        assert_eq!(settle(sim), 6);
        commit(sim, 1);
    });
}

/// 6 servers split 3/3 under an established leader: it steps down, nobody commits.
#[test]
fn six_servers_split_three_three_after_election_commit_nothing() {
    scenario(
        "six_servers_split_three_three_after_election_commit_nothing",
        6,
        0,
        |sim| {
            sim.start_all();
            let old = settle(sim);
            commit(sim, 3);
            let epochs = sim.leaders.clone();
            let committed = sim.history.len();
            sim.partition(&[&[1, 2, 3], &[4, 5, 6]]);
            let mut logged = Vec::new();
            for _ in 0..300 {
                // The old leader is asked to propose for as long as it believes it leads.
                logged.extend(sim.propose_at(old));
                run_checking(sim, 1, |s| {
                    if s.history.len() != committed {
                        Some("a side of three committed".into())
                    } else if s.leaders != epochs {
                        Some(format!("a side of three established: {:?}", s.leaders))
                    } else {
                        None
                    }
                });
            }
            assert!(!logged.is_empty(), "the old leader took no proposal");
            for s in 1..=6 {
                assert_eq!(state(sim, s), ServerState::Looking, "{s} kept its role");
            }
            sim.heal();
            settle(sim);
            commit(sim, 1);
        },
    );
}

/// 5 servers split 2/3 with the leader in the minority: the three elect and commit,
/// the two commit nothing, and the old leader's proposals of that time are truncated.
#[test]
fn five_servers_split_two_three_only_the_majority_commits() {
    scenario(
        "five_servers_split_two_three_only_the_majority_commits",
        5,
        0,
        |sim| {
            sim.start_all();
            assert_eq!(settle(sim), 5);
            commit(sim, 3);
            let minority_applied = [sim.node(4).applied, sim.node(5).applied];
            let epochs = sim.leaders.clone();
            sim.partition(&[&[4, 5], &[1, 2, 3]]);
            let mut minority_logged = Vec::new();
            let majority_settled = |s: &Sim| {
                s.leader().filter(|l| *l <= 3).is_some_and(|l| {
                    (1..=3).all(|x| {
                        let p = s.peer(x).expect("running");
                        p.is_broadcasting() && p.leader() == Some(ServerId(l))
                    })
                })
            };
            let minority_check = |s: &Sim| {
                if [s.node(4).applied, s.node(5).applied] != minority_applied {
                    return Some("the minority applied something".to_string());
                }
                s.leaders
                    .iter()
                    .find(|(e, l)| !epochs.contains_key(e) && l.0 > 3)
                    .map(|(e, l)| format!("minority server {l} established epoch {e}"))
            };
            let mut ticks = 0;
            while !majority_settled(sim) {
                ticks += 1;
                if ticks > 200 {
                    sim.fail("the majority did not elect within 200 ticks");
                }
                minority_logged.extend(sim.propose_at(5));
                run_checking(sim, 1, minority_check);
            }
            assert!(
                !minority_logged.is_empty(),
                "the old leader took no proposal"
            );
            let l = sim.leader().expect("majority leader");
            assert_eq!(l, 3, "the highest sid of the majority");
            let zs: Vec<Zxid> = (0..5).map(|_| sim.propose_at(l).expect("leads")).collect();
            wait_applied(sim, &[1, 2, 3], *zs.last().expect("five"));
            run_checking(sim, 20, minority_check);
            for z in &minority_logged {
                assert!(!in_history(sim, *z), "{z} of the minority was committed");
            }
            // Healed: the minority rejoins the new leader and drops what it logged alone.
            sim.heal();
            assert_eq!(settle(sim), 3);
            for z in &minority_logged {
                assert!(!sim.node(5).zxids().contains(z), "5 kept {z}");
            }
            commit(sim, 1);
            assert_eq!(sim.node(5).committed_zxids(), sim.node(1).committed_zxids());
        },
    );
}

// ---- regressions of Apache ZooKeeper bugs ----

/// ZOOKEEPER-1154: the server with the highest zxid is absent from the election and
/// joins late; its uncommitted transaction is truncated, not spread.
fn zookeeper_1154(name: &str, commit_in_between: bool) {
    scenario(name, 3, 0, |sim| {
        sim.start_all();
        assert_eq!(settle(sim), 3);
        commit(sim, 2);
        // 3 logs t; its followers never see it.
        sim.hold(3, 1);
        sim.hold(3, 2);
        let t = sim.propose_at(3).expect("leads");
        if !sim.run_until(50, |s| s.node(3).is_durable(t)) {
            sim.fail("t never durable on 3");
        }
        sim.crash(3);
        sim.release_all();
        assert_eq!(settle(sim), 2, "1 and 2 elect without 3");
        if commit_in_between {
            commit(sim, 2);
        }
        let truncs = sim.stats.truncs;
        sim.start(3);
        assert_eq!(settle(sim), 2, "3 joins the leader it finds");
        assert!(sim.stats.truncs > truncs, "3 was not sent TRUNC");
        assert!(!sim.node(3).zxids().contains(&t), "3 kept t");
        assert!(!in_history(sim, t));
        assert_eq!(sim.node(3).zxids(), sim.node(2).zxids());
        commit(sim, 1);
    });
}

#[test]
fn zookeeper_1154_highest_zxid_joins_late_and_is_truncated() {
    zookeeper_1154(
        "zookeeper_1154_highest_zxid_joins_late_and_is_truncated",
        false,
    );
}

#[test]
fn zookeeper_1154_highest_zxid_joins_late_after_new_commits() {
    zookeeper_1154(
        "zookeeper_1154_highest_zxid_joins_late_after_new_commits",
        true,
    );
}

/// ZOOKEEPER-2845: an uncommitted transaction kept in a log across elections is either
/// committed by a leader that has it or truncated everywhere; logs never diverge.
#[test]
fn zookeeper_2845_uncommitted_txn_kept_across_elections() {
    scenario(
        "zookeeper_2845_uncommitted_txn_kept_across_elections",
        3,
        0,
        |sim| {
            sim.start_all();
            assert_eq!(settle(sim), 3);
            commit(sim, 2);
            let same_logs = |sim: &Sim| {
                let l = sim.node(sim.leader().expect("leader")).zxids();
                (1..=3).all(|s| sim.node(s).zxids() == l)
            };

            // Round 1: 3 logs t alone; all restart, 3 last: t is truncated everywhere.
            sim.hold(3, 1);
            sim.hold(3, 2);
            let t = sim.propose_at(3).expect("leads");
            if !sim.run_until(50, |s| s.node(3).is_durable(t)) {
                sim.fail("t never durable on 3");
            }
            for s in 1..=3 {
                sim.crash(s);
            }
            sim.release_all();
            sim.start(1);
            sim.start(2);
            assert_eq!(settle(sim), 2);
            sim.start(3);
            assert_eq!(settle(sim), 2);
            assert!(!in_history(sim, t) && !sim.node(3).zxids().contains(&t));
            assert!(same_logs(sim), "logs diverge after round 1");
            commit(sim, 1);

            // Round 2: 2 logs u alone; all restart, 2 with 1 first: 2 has the highest
            // zxid, leads again and commits u.
            sim.hold(2, 1);
            sim.hold(2, 3);
            let u = sim.propose_at(2).expect("leads");
            if !sim.run_until(50, |s| s.node(2).is_durable(u)) {
                sim.fail("u never durable on 2");
            }
            for s in 1..=3 {
                sim.crash(s);
            }
            sim.release_all();
            sim.start(1);
            sim.start(2);
            assert_eq!(settle(sim), 2);
            assert!(
                sim.node(1).committed_zxids().contains(&u),
                "u not committed"
            );
            sim.start(3);
            settle(sim);
            assert!(same_logs(sim), "logs diverge after round 2");
            commit(sim, 1);
        },
    );
}

/// A learner far behind (beyond the leader's window) is synchronised by SNAP, with the
/// leader proposing all along. Returns the records of the learner's sync.
fn snap_sync_under_load(sim: &mut Sim) -> Vec<Record> {
    sim.opts.log_window = 4;
    sim.start_all();
    assert_eq!(settle(sim), 3);
    commit(sim, 2);
    sim.crash(1);
    commit(sim, 10);
    let snaps = sim.stats.snaps;
    sim.opts.propose = 300;
    sim.record();
    sim.start(1);
    settle(sim);
    sim.opts.propose = 0;
    assert!(sim.stats.snaps > snaps, "1 was not sent a SNAP");
    sim.recorded().to_vec()
}

/// ZOOKEEPER-3104: NEWLEADER sent too early during a SNAP sync. The snapshot goes
/// first, the proposals after it continue it, NEWLEADER follows them, and the learner
/// installs the snapshot before it acknowledges NEWLEADER.
#[test]
fn zookeeper_3104_snap_before_newleader() {
    scenario("zookeeper_3104_snap_before_newleader", 3, 0, |sim| {
        let r = snap_sync_under_load(sim);
        let to_1: Vec<&Action> = r
            .iter()
            .filter_map(|x| x.action_of(3))
            .filter(|a| match a {
                Action::Send { to, .. } | Action::SendSnapshot { to, .. } => to.0 == 1,
                _ => false,
            })
            .collect();
        let snap_at = to_1
            .iter()
            .position(|a| matches!(a, Action::SendSnapshot { .. }))
            .expect("SNAP sent");
        let Action::SendSnapshot { zxid: snap, .. } = to_1[snap_at] else {
            unreachable!()
        };
        let nl_at = to_1
            .iter()
            .position(|a| {
                matches!(
                    a,
                    Action::Send {
                        msg: QuorumPacket::NewLeader { .. },
                        ..
                    }
                )
            })
            .expect("NEWLEADER sent");
        assert!(snap_at < nl_at, "NEWLEADER before the snapshot");
        // Every proposal after the snapshot continues it, before and after NEWLEADER.
        let mut prev = *snap;
        for a in &to_1[snap_at..] {
            if let Action::Send {
                msg: QuorumPacket::Proposal { zxid, .. },
                ..
            } = a
            {
                assert!(continuous(prev, *zxid), "proposal {zxid} after {prev}");
                prev = *zxid;
            }
        }
        let install = r
            .iter()
            .position(|x| matches!(x.action_of(1), Some(Action::InstallSnapshot { zxid }) if zxid == snap))
            .expect("1 installs the snapshot");
        let ack = r
            .iter()
            .position(|x| x.action_of(1).is_some_and(is_ack_of_newleader))
            .expect("1 acknowledges NEWLEADER");
        assert!(install < ack);
        commit(sim, 1);
    });
}

/// ZOOKEEPER-3642: the leader crashes right after a SNAP sync; the learner had not yet
/// made the snapshot durable. It must restart with its old log *and* its old current
/// epoch, and never have acknowledged NEWLEADER.
#[test]
fn zookeeper_3642_crash_after_snap_keeps_old_epoch() {
    scenario(
        "zookeeper_3642_crash_after_snap_keeps_old_epoch",
        3,
        0,
        |sim| {
            sim.opts.log_window = 4;
            sim.start_all();
            assert_eq!(settle(sim), 3);
            commit(sim, 2);
            sim.crash(1);
            commit(sim, 10);
            // A new epoch without 1, so that 1's sync also moves its current epoch.
            sim.reset(2, 3);
            assert_eq!(settle(sim), 3);
            let old_epoch = sim.node(1).current_epoch;
            let old_log = sim.node(1).zxids();
            sim.record();
            sim.start(1);
            sim.run_until_action(
                100,
                sends(1, |m| matches!(m, QuorumPacket::AckEpoch { .. })),
            )
            .expect("1 acknowledges the epoch");
            sim.stall_log(1); // the snapshot never becomes durable; epoch files still do
            sim.run_until_event(
                100,
                received(1, |m| matches!(m, QuorumPacket::NewLeader { .. })),
            )
            .expect("NEWLEADER reaches 1");
            sim.run_ticks(3);
            let r = sim.recorded();
            assert!(r
                .iter()
                .any(|x| matches!(x.action_of(1), Some(Action::InstallSnapshot { .. }))));
            assert!(!r
                .iter()
                .any(|x| x.action_of(1).is_some_and(is_ack_of_newleader)));
            sim.crash(3);
            sim.crash(1);
            assert_eq!(
                sim.node(1).current_epoch,
                old_epoch,
                "epoch moved without the data"
            );
            assert_eq!(sim.node(1).zxids(), old_log);
            sim.unstall_disk(1);
            sim.start(1);
            assert_eq!(settle(sim), 2, "2 holds everything");
            assert_eq!(sim.node(1).committed_zxids(), sim.node(2).committed_zxids());
            sim.start(3);
            settle(sim);
            commit(sim, 1);
        },
    );
}

/// 3 leads and logs three transactions its followers never see; both followers crash,
/// 3 steps down. Returns the three zxids.
fn unshared_txns(sim: &mut Sim) -> Vec<Zxid> {
    sim.start_all();
    assert_eq!(settle(sim), 3);
    commit(sim, 2);
    sim.hold(3, 1);
    sim.hold(3, 2);
    let ts: Vec<Zxid> = (0..3).map(|_| sim.propose_at(3).expect("leads")).collect();
    if !sim.run_until(50, |s| ts.iter().all(|t| s.node(3).is_durable(*t))) {
        sim.fail("the txns never durable on 3");
    }
    sim.crash(1);
    sim.crash(2);
    sim.release_all();
    if !sim.run_until(50, |s| state(s, 3) == ServerState::Looking) {
        sim.fail("3 did not step down");
    }
    ts
}

/// ZOOKEEPER-3911: a learner acknowledged NEWLEADER before the DIFF's proposals were
/// logged. With its disk stalled, 2 never ACKs and 3 never establishes; a crash then
/// loses nothing that was promised.
#[test]
fn zookeeper_3911_no_newleader_ack_before_diff_is_durable() {
    scenario(
        "zookeeper_3911_no_newleader_ack_before_diff_is_durable",
        3,
        0,
        |sim| {
            let ts = unshared_txns(sim);
            let epochs = sim.leaders.clone();
            sim.record();
            sim.start(2);
            sim.run_until_action(
                100,
                sends(2, |m| matches!(m, QuorumPacket::AckEpoch { .. })),
            )
            .expect("2 acknowledges the epoch");
            sim.stall_log(2); // its log stalls; epoch files are still written
            sim.run_until_event(
                100,
                received(2, |m| matches!(m, QuorumPacket::NewLeader { .. })),
            )
            .expect("NEWLEADER reaches 2");
            for t in &ts {
                assert!(sim.node(2).zxids().contains(t) && !sim.node(2).is_durable(*t));
            }
            sim.run_ticks(30);
            let r = sim.recorded();
            assert!(!r
                .iter()
                .any(|x| x.action_of(2).is_some_and(is_ack_of_newleader)));
            assert_eq!(
                sim.leaders, epochs,
                "established on an ACK of nothing durable"
            );
            sim.crash(2);
            sim.unstall_disk(2);
            sim.start(2);
            assert_eq!(settle(sim), 3);
            for t in &ts {
                assert!(sim.node(2).committed_zxids().contains(t));
            }
            commit(sim, 1);
        },
    );
}

/// ZOOKEEPER-4643: the learner saved its new current epoch before the synced proposals
/// were on disk, crashed, and as the server with the newest epoch led without them.
/// Here the epoch file is written only after the proposals: crash right then, and the
/// newest-epoch server still has them.
#[test]
fn zookeeper_4643_current_epoch_saved_after_txns() {
    scenario(
        "zookeeper_4643_current_epoch_saved_after_txns",
        3,
        0,
        |sim| {
            let ts = unshared_txns(sim);
            sim.record();
            sim.start(2);
            sim.run_until_action(
                100,
                sends(2, |m| matches!(m, QuorumPacket::AckEpoch { .. })),
            )
            .expect("2 acknowledges the epoch");
            // While its log is stalled, 2 does not even ask for its current epoch.
            sim.stall_log(2);
            sim.run_until_event(
                100,
                received(2, |m| matches!(m, QuorumPacket::NewLeader { .. })),
            )
            .expect("NEWLEADER reaches 2");
            sim.run_ticks(3);
            let saved = sim.recorded().iter().any(|x| {
                matches!(x.action_of(2), Some(Action::SaveCurrentEpoch(_)))
                    || matches!(x.event_of(2), Some(Event::CurrentEpochSaved(_)))
            });
            assert!(!saved, "current epoch saved before the synced log");
            sim.unstall_disk(2);
            sim.run_until_event(100, |s, ev| {
                s.0 == 2 && matches!(ev, Event::CurrentEpochSaved(_))
            })
            .expect("2 saves its current epoch");
            for t in &ts {
                assert!(
                    sim.node(2).is_durable(*t),
                    "epoch saved before {t} was durable"
                );
            }
            sim.crash(2);
            sim.crash(3);
            assert!(sim.node(2).current_epoch > sim.node(1).current_epoch);
            sim.start(1);
            sim.start(2);
            assert_eq!(settle(sim), 2, "the newest epoch leads");
            for t in &ts {
                assert!(sim.node(1).committed_zxids().contains(t), "{t} lost");
            }
            commit(sim, 1);
        },
    );
}

/// ZOOKEEPER-4646: the learner crashed right after acknowledging NEWLEADER, before the
/// proposals were on disk, and the leader had committed them on that ACK. Here 3
/// commits on 2's ACK, both crash, and 2 still holds what it acknowledged.
#[test]
fn zookeeper_4646_persist_before_newleader_ack() {
    scenario("zookeeper_4646_persist_before_newleader_ack", 3, 0, |sim| {
        let ts = unshared_txns(sim);
        sim.start(2);
        sim.run_until_action(100, |s, a| s.0 == 2 && is_ack_of_newleader(a))
            .expect("2 acknowledges NEWLEADER");
        let last = *ts.last().expect("three");
        if !sim.run_until(50, |s| in_history(s, last)) {
            sim.fail("3 did not commit on 2's ACK");
        }
        sim.crash(2);
        sim.crash(3);
        for t in &ts {
            assert!(
                sim.node(2).is_durable(*t),
                "2 acknowledged {t} without it on disk"
            );
        }
        sim.start(1);
        sim.start(2);
        assert_eq!(settle(sim), 2);
        for t in &ts {
            assert!(sim.node(1).committed_zxids().contains(t), "{t} lost");
        }
        commit(sim, 1);
    });
}

/// A follower (1) rejoins an established leader (3) that proposes all along; its log
/// stalls from its ACKEPOCH until a proposal sent after NEWLEADER has reached it. 2's
/// log stalls from 1's start until NEWLEADER reached 1, so that the DIFF carries
/// uncommitted proposals whose COMMITs arrive after NEWLEADER. Records from 1's start.
fn rejoin_under_load(sim: &mut Sim) {
    sim.start_all();
    assert_eq!(settle(sim), 3);
    commit(sim, 2);
    sim.crash(1);
    commit(sim, 3);
    sim.opts.propose = 500;
    sim.record();
    sim.stall_log(2);
    sim.start(1);
    sim.run_until_action(
        100,
        sends(1, |m| matches!(m, QuorumPacket::AckEpoch { .. })),
    )
    .expect("1 acknowledges the epoch");
    sim.stall_log(1);
    sim.run_until_event(
        100,
        received(1, |m| matches!(m, QuorumPacket::NewLeader { .. })),
    )
    .expect("NEWLEADER reaches 1");
    sim.unstall_disk(2);
    sim.run_until_event(
        100,
        received(1, |m| matches!(m, QuorumPacket::Commit { .. })),
    )
    .expect("a COMMIT reaches 1 after NEWLEADER");
    sim.run_until_event(
        100,
        received(1, |m| matches!(m, QuorumPacket::Proposal { .. })),
    )
    .expect("a PROPOSAL reaches 1 after NEWLEADER");
    let acked = sim.recorded().iter().any(|x| {
        matches!(
            x.action_of(1),
            Some(Action::Send {
                msg: QuorumPacket::Ack { .. },
                ..
            })
        )
    });
    assert!(!acked, "1 acknowledged with its disk stalled");
    sim.unstall_disk(1);
}

/// ZOOKEEPER-4785: proposals that arrive during the sync were lost when the learner
/// crashed right after acknowledging. Everything 1 acknowledged is on its disk.
#[test]
fn zookeeper_4785_txns_of_the_sync_durable_before_ack() {
    scenario(
        "zookeeper_4785_txns_of_the_sync_durable_before_ack",
        3,
        0,
        |sim| {
            rejoin_under_load(sim);
            sim.run_until_action(
                100,
                sends(
                    1,
                    |m| matches!(m, QuorumPacket::Ack { zxid } if zxid.counter() > 0),
                ),
            )
            .expect("1 acknowledges a proposal");
            sim.crash(1);
            sim.opts.propose = 0;
            let acked: Vec<Zxid> = sim
                .recorded()
                .iter()
                .filter_map(|x| match x.sent(1, 3) {
                    Some(QuorumPacket::Ack { zxid }) if zxid.counter() > 0 => Some(*zxid),
                    _ => None,
                })
                .collect();
            assert!(!acked.is_empty());
            for z in acked {
                assert!(
                    sim.node(1).is_durable(z),
                    "1 acknowledged {z}, then lost it"
                );
            }
            sim.start(1);
            settle(sim);
            commit(sim, 1);
        },
    );
}

/// ZOOKEEPER-4394 / ZOOKEEPER-4685: COMMITs and PROPOSALs interleaved with NEWLEADER
/// and UPTODATE. The ACK of NEWLEADER goes before any proposal's ACK (4685: the leader
/// shut down on an ACK from an unsynced learner), COMMITs of proposals from before
/// NEWLEADER are queued and applied at UPTODATE (4394), and the leader never steps down.
#[test]
fn zookeeper_4394_4685_commits_and_proposals_around_newleader() {
    scenario(
        "zookeeper_4394_4685_commits_and_proposals_around_newleader",
        3,
        0,
        |sim| {
            rejoin_under_load(sim);
            settle(sim);
            sim.opts.propose = 0;
            let r = sim.recorded().to_vec();
            let nl = r
                .iter()
                .position(|x| matches!(x.received(1), Some(QuorumPacket::NewLeader { .. })))
                .expect("NEWLEADER");
            let utd = r
                .iter()
                .position(|x| matches!(x.received(1), Some(QuorumPacket::UpToDate { .. })))
                .expect("UPTODATE");
            assert!(nl < utd);
            // 4685: the first ACK is NEWLEADER's.
            let first_ack = r
                .iter()
                .find_map(|x| match x.sent(1, 3) {
                    Some(QuorumPacket::Ack { zxid }) => Some(*zxid),
                    _ => None,
                })
                .expect("1 acknowledges");
            assert_eq!(first_ack.counter(), 0, "a proposal ACK before NEWLEADER's");
            // 4394: what arrived between NEWLEADER and UPTODATE.
            let held_at_nl = r[..nl]
                .iter()
                .filter_map(|x| match x.action_of(1) {
                    Some(Action::Append(v)) => v.last().map(|e| e.0),
                    _ => None,
                })
                .last()
                .expect("the DIFF logged proposals");
            let between = &r[nl..utd];
            let commits: Vec<Zxid> = between
                .iter()
                .filter_map(|x| match x.received(1) {
                    Some(QuorumPacket::Commit { zxid }) => Some(*zxid),
                    _ => None,
                })
                .collect();
            assert!(
                commits.iter().any(|z| *z <= held_at_nl),
                "no COMMIT of a DIFF proposal after NEWLEADER: {commits:?}, DIFF up to {held_at_nl}"
            );
            assert!(between
                .iter()
                .any(|x| matches!(x.received(1), Some(QuorumPacket::Proposal { .. }))));
            assert!(
                !r[..utd]
                    .iter()
                    .any(|x| matches!(x.action_of(1), Some(Action::Commit { .. }))),
                "1 applied before UPTODATE"
            );
            let first_commit = r[utd..]
                .iter()
                .find_map(|x| match x.action_of(1) {
                    Some(Action::Commit { upto }) => Some(*upto),
                    _ => None,
                })
                .expect("1 applies at UPTODATE");
            assert!(first_commit >= *commits.iter().max().expect("some"));
            assert!(
                !r.iter()
                    .any(|x| matches!(x.action_of(3), Some(Action::StateChanged(_)))),
                "the leader changed state"
            );
            commit(sim, 1);
        },
    );
}

/// ZOOKEEPER-4712: after a learner shut down (back to LOOKING) its sync processor kept
/// logging. Here a learner that leaves its role logs, acknowledges and applies nothing
/// more for it, whatever still arrives from its disk or its old connection.
fn zookeeper_4712(name: &str, learner: u64) {
    scenario(name, 3, 1, |sim| {
        sim.start_all();
        assert_eq!(settle(sim), 3);
        commit(sim, 2);
        sim.stall_disk(learner);
        let t = sim.propose_at(3).expect("leads");
        if !sim.run_until(50, |s| s.node(learner).zxids().contains(&t)) {
            sim.fail("t never reached the learner");
        }
        sim.record();
        sim.reset(learner, 3);
        assert_eq!(state(sim, learner), ServerState::Looking);
        // What was under way for the old role completes now.
        sim.flush_disk(learner);
        let stale = Zxid(t.0 + 1);
        for msg in [
            QuorumPacket::Proposal {
                zxid: stale,
                data: Bytes::from_static(b"stale"),
            },
            QuorumPacket::Inform {
                zxid: stale,
                data: Bytes::from_static(b"stale"),
            },
            QuorumPacket::Commit { zxid: t },
            QuorumPacket::UpToDate { zxid: t },
        ] {
            sim.feed(
                ServerId(learner),
                Event::Received {
                    from: ServerId(3),
                    msg,
                },
            );
        }
        let r = sim.recorded();
        assert!(r
            .iter()
            .any(|x| matches!(x.event_of(learner), Some(Event::Persisted { .. }))));
        for x in r {
            if let Some(a) = x.action_of(learner) {
                assert!(
                    matches!(a, Action::SendNotification { .. } | Action::StateChanged(_)),
                    "a learner that left its role did {a:?}"
                );
            }
        }
        assert!(!sim.node(learner).zxids().contains(&stale));
        sim.unstall_disk(learner);
        settle(sim);
        commit(sim, 1);
    });
}

#[test]
fn zookeeper_4712_follower_logs_nothing_after_shutdown() {
    zookeeper_4712("zookeeper_4712_follower_logs_nothing_after_shutdown", 1);
}

#[test]
fn zookeeper_4712_observer_logs_nothing_after_shutdown() {
    zookeeper_4712("zookeeper_4712_observer_logs_nothing_after_shutdown", 4);
}

/// Found by chaos seed 485: a learner asks for its new current epoch to be saved, its
/// connection breaks, and it re-syncs with the same leader before the save completes.
/// The late `CurrentEpochSaved` must not ACK the second NEWLEADER before the proposals
/// of the second DIFF are durable.
#[test]
fn stale_current_epoch_save_does_not_ack_a_later_newleader() {
    scenario(
        "stale_current_epoch_save_does_not_ack_a_later_newleader",
        3,
        0,
        |sim| {
            sim.start_all();
            assert_eq!(settle(sim), 3);
            commit(sim, 2);
            sim.crash(1);
            commit(sim, 2);
            // A new epoch without 1.
            sim.reset(2, 3);
            assert_eq!(settle(sim), 3);
            sim.record();
            sim.start(1);
            sim.run_until_action(100, |s, a| {
                s.0 == 1 && matches!(a, Action::SaveCurrentEpoch(_))
            })
            .expect("1 saves its current epoch");
            sim.stall_disk(1);
            sim.reset(1, 3);
            // The second DIFF carries these; they can only become durable after the save.
            for _ in 0..2 {
                sim.propose_at(3).expect("leads");
            }
            sim.run_until_event(
                100,
                received(1, |m| matches!(m, QuorumPacket::NewLeader { .. })),
            )
            .expect("1 re-syncs");
            sim.unstall_disk(1);
            settle(sim);
            let r = sim.recorded();
            let saved = r
                .iter()
                .position(|x| matches!(x.event_of(1), Some(Event::CurrentEpochSaved(_))))
                .expect("the save completes");
            let last_nl = r
                .iter()
                .rposition(|x| matches!(x.received(1), Some(QuorumPacket::NewLeader { .. })))
                .expect("NEWLEADER");
            assert!(saved > last_nl, "the save completed before the second sync");
            commit(sim, 1);
        },
    );
}

// ---- routing of learner requests ----

/// REQUEST and REVALIDATE from a learner reach the leader's pipeline; the REVALIDATE
/// answer and session PINGs travel back and forth.
#[test]
fn requests_and_revalidations_are_routed_through_the_leader() {
    scenario(
        "requests_and_revalidations_are_routed_through_the_leader",
        3,
        0,
        |sim| {
            sim.start_all();
            assert_eq!(settle(sim), 3);
            sim.record();
            let request = QuorumPacket::Request {
                data: Bytes::from_static(b"\0\0\0\0\0\0\0\x07\0\0\0\x01\0\0\0\x01create"),
                authinfo: vec![],
            };
            sim.feed(ServerId(1), Event::Forward(request.clone()));
            let want = request.clone();
            sim.run_until_action(20, move |s, a| {
                s.0 == 3
                    && *a
                        == Action::Deliver {
                            from: ServerId(1),
                            msg: want.clone(),
                        }
            })
            .expect("the leader's pipeline gets the request");

            let revalidate = QuorumPacket::Revalidate {
                data: Bytes::from_static(b"\0\0\0\0\0\0\0\x07\0\0\x75\x30"),
            };
            sim.feed(ServerId(2), Event::Forward(revalidate.clone()));
            let want = revalidate.clone();
            sim.run_until_action(20, move |s, a| {
                s.0 == 3
                    && *a
                        == Action::Deliver {
                            from: ServerId(2),
                            msg: want.clone(),
                        }
            })
            .expect("the leader's pipeline gets the revalidation");
            let answer = QuorumPacket::Revalidate {
                data: Bytes::from_static(b"\0\0\0\0\0\0\0\x07\0\0\x75\x30\x01"),
            };
            sim.feed(
                ServerId(3),
                Event::Reply {
                    to: ServerId(2),
                    msg: answer.clone(),
                },
            );
            let want = answer.clone();
            sim.run_until_action(20, move |s, a| {
                s.0 == 2
                    && *a
                        == Action::Deliver {
                            from: ServerId(3),
                            msg: want.clone(),
                        }
            })
            .expect("the learner gets the answer");

            // A PING carrying session touches is for the pipeline; an empty one is not.
            let touches = QuorumPacket::Ping {
                zxid: Zxid(-1),
                data: Bytes::from_static(b"\0\0\0\0\0\0\0\x07\0\0\x75\x30"),
            };
            sim.feed(ServerId(1), Event::Forward(touches.clone()));
            let want = touches.clone();
            sim.run_until_action(20, move |s, a| {
                s.0 == 3
                    && *a
                        == Action::Deliver {
                            from: ServerId(1),
                            msg: want.clone(),
                        }
            })
            .expect("the leader's pipeline gets the session touches");
            let delivered_empty_ping = sim.recorded().iter().any(|x| {
                matches!(x.action_of(3), Some(Action::Deliver { msg: QuorumPacket::Ping { data, .. }, .. }) if data.is_empty())
            });
            assert!(!delivered_empty_ping);

            // Only a learner forwards; only to a connected learner the leader replies.
            let leader = sim.peer_mut(3).expect("running");
            let out = leader.step(Event::Reply {
                to: ServerId(9),
                msg: answer.clone(),
            });
            assert_eq!(out, vec![]);
            let out = sim
                .peer_mut(3)
                .expect("running")
                .step(Event::Forward(request.clone()));
            assert_eq!(out, vec![], "a leader forwards to nobody");
        },
    );
}

/// A learner's sync() is answered by the leader only once every proposal before it is
/// committed, and the COMMITs reach the learner before the SYNC answer.
#[test]
fn sync_is_answered_after_preceding_proposals_commit() {
    scenario(
        "sync_is_answered_after_preceding_proposals_commit",
        3,
        0,
        |sim| {
            sim.start_all();
            assert_eq!(settle(sim), 3);
            commit(sim, 1);
            // Nothing outstanding: answered at once, in the same step.
            let last = sim.peer(3).expect("running").last_zxid();
            let out = sim.peer_mut(3).expect("running").step(Event::SyncRequest {
                learner: ServerId(1),
            });
            assert_eq!(
                out,
                vec![Action::Send {
                    to: ServerId(1),
                    msg: QuorumPacket::Sync { zxid: last }
                }]
            );

            // Two proposals outstanding (the followers' ACKs held back).
            sim.record();
            sim.hold(1, 3);
            sim.hold(2, 3);
            let p1 = sim.propose_at(3).expect("leads");
            let p2 = sim.propose_at(3).expect("leads");
            sim.feed(
                ServerId(3),
                Event::SyncRequest {
                    learner: ServerId(1),
                },
            );
            sim.run_ticks(2);
            assert!(!in_history(sim, p1));
            let answered = |r: &[Record]| {
                r.iter()
                    .position(|x| matches!(x.sent(3, 1), Some(QuorumPacket::Sync { .. })))
            };
            assert_eq!(answered(sim.recorded()), None, "answered before the commit");
            sim.release_all();
            wait_applied(sim, &[1, 2, 3], p2);
            sim.run_ticks(2);
            let r = sim.recorded();
            let at = answered(r).expect("answered after the commit");
            assert_eq!(r[at].sent(3, 1), Some(&QuorumPacket::Sync { zxid: p2 }));
            let committed = r
                .iter()
                .position(
                    |x| matches!(x.action_of(3), Some(Action::Commit { upto }) if *upto >= p2),
                )
                .expect("p2 committed");
            assert!(committed < at);
            // At the learner: applied p2, then handed the answer to its pipeline.
            let applied = r
                .iter()
                .position(
                    |x| matches!(x.action_of(1), Some(Action::Commit { upto }) if *upto >= p2),
                )
                .expect("1 applies p2");
            let delivered = r
                .iter()
                .position(|x| {
                    matches!(
                        x.action_of(1),
                        Some(Action::Deliver {
                            msg: QuorumPacket::Sync { .. },
                            ..
                        })
                    )
                })
                .expect("1 delivers the answer");
            assert!(applied < delivered);

            // A sync for a learner the leader does not know is dropped.
            let out = sim.peer_mut(3).expect("running").step(Event::SyncRequest {
                learner: ServerId(9),
            });
            assert_eq!(out, vec![]);
        },
    );
}

// ---- PING and syncLimit ----

/// A follower that hears nothing from its leader for syncLimit ticks goes back to
/// election; the leader, still with a quorum, stays; released, the follower rejoins.
#[test]
fn learner_returns_to_election_after_sync_limit_of_silence() {
    scenario(
        "learner_returns_to_election_after_sync_limit_of_silence",
        3,
        0,
        |sim| {
            sim.start_all();
            assert_eq!(settle(sim), 3);
            let limit = sim.opts.sync_limit_ticks;
            sim.hold(3, 1);
            let held_at = sim.now;
            if !sim.run_until(limit * 4, |s| state(s, 1) == ServerState::Looking) {
                sim.fail("1 never noticed its silent leader");
            }
            let waited = (sim.now - held_at) / STEPS_PER_TICK;
            assert!(
                (limit - 1..=limit + 2).contains(&waited),
                "1 gave up after {waited} ticks, syncLimit {limit}"
            );
            assert_eq!(role(sim, 3), (ServerState::Leading, Some(3)));
            assert_eq!(role(sim, 2), (ServerState::Following, Some(3)));
            assert!(sim.peer(3).expect("running").can_propose());
            sim.release(3, 1);
            assert_eq!(settle(sim), 3);
            commit(sim, 1);
        },
    );
}

/// A leader that hears from no quorum of synced followers for syncLimit ticks steps
/// down, without committing what it logged meanwhile.
#[test]
fn leader_steps_down_without_a_quorum_for_sync_limit() {
    scenario(
        "leader_steps_down_without_a_quorum_for_sync_limit",
        3,
        0,
        |sim| {
            sim.start_all();
            assert_eq!(settle(sim), 3);
            let limit = sim.opts.sync_limit_ticks;
            let committed = sim.history.len();
            sim.hold(1, 3);
            sim.hold(2, 3);
            let held_at = sim.now;
            let t = sim.propose_at(3).expect("leads");
            if !sim.run_until(limit * 4, |s| state(s, 3) == ServerState::Looking) {
                sim.fail("the leader never stepped down");
            }
            let waited = (sim.now - held_at) / STEPS_PER_TICK;
            assert!(
                (limit - 1..=limit + 2).contains(&waited),
                "stepped down after {waited} ticks, syncLimit {limit}"
            );
            assert_eq!(sim.history.len(), committed, "committed without a quorum");
            assert!(!in_history(sim, t));
            sim.release_all();
            settle(sim);
            commit(sim, 1);
        },
    );
}

/// The contrast: with two of four followers silent, a leader of five still hears a
/// quorum and keeps leading.
#[test]
fn leader_keeps_leading_with_a_quorum_of_followers() {
    scenario(
        "leader_keeps_leading_with_a_quorum_of_followers",
        5,
        0,
        |sim| {
            sim.start_all();
            assert_eq!(settle(sim), 5);
            let limit = sim.opts.sync_limit_ticks;
            sim.hold(1, 5);
            sim.hold(2, 5);
            run_checking(sim, limit * 4, |s| {
                (state(s, 5) != ServerState::Leading).then(|| "5 stepped down".to_string())
            });
            let zs: Vec<Zxid> = (0..3).map(|_| sim.propose_at(5).expect("leads")).collect();
            wait_applied(sim, &[3, 4, 5], *zs.last().expect("three"));
            sim.release_all();
            wait_applied(sim, &[1, 2], *zs.last().expect("three"));
        },
    );
}
