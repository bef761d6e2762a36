//! Regressions of Apache ZooKeeper bugs, each named after its JIRA.

use bytes::Bytes;
use zab_core::peer::{Action, Event};
use zab_core::sim::{continuous, Record, Sim};
use zab_core::{QuorumPacket, ServerId, ServerState, Zxid};

use crate::support::*;

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
