//! Synchronisation, one packet or disk report at a time: the leader's choice of DIFF /
//! TRUNC / SNAP, NEWLEADER and UPTODATE; the learner's order of persist, current epoch,
//! ACK (named after the ZooKeeper bugs it guards against).

use crate::peer::{Action, Event, Peer, ZabPhase};
use crate::testing::*;
use crate::wire::{QuorumPacket, ServerState};
use crate::Zxid;

// ---- leader: how a learner is synced ----

/// Leader 1 of three voters at epoch 1, entries 1..=3 logged, 2 committed; it proposes
/// epoch 2.
fn leader() -> PeerBuilder {
    PeerBuilder::new(1)
        .epochs(1, 1)
        .log(Zxid::ZERO, &[zxid(1, 1), zxid(1, 2), zxid(1, 3)])
        .committed(zxid(1, 2))
}

/// Discovery done with 2 (synced), 3 sent LEADERINFO: 3's ACKEPOCH gets just its sync.
fn syncing_with_3_to_come(b: &PeerBuilder) -> Peer {
    let mut p = b.leader_syncing(&[2]);
    drive(&mut p, [received(3, b.learner_info(3, 0))]);
    p
}

fn ack_epoch(last_zxid: Zxid, current_epoch: i64) -> QuorumPacket {
    QuorumPacket::AckEpoch {
        last_zxid,
        current_epoch,
    }
}

fn commit(to: u64, z: Zxid) -> Action {
    send(to, QuorumPacket::Commit { zxid: z })
}

#[test]
fn a_learner_at_our_last_zxid_gets_an_empty_diff() {
    let b = leader();
    let mut p = syncing_with_3_to_come(&b);
    assert_eq!(
        p.step(received(3, ack_epoch(zxid(1, 3), 1))),
        vec![
            send(3, QuorumPacket::Diff { zxid: zxid(1, 3) }),
            send(3, new_leader(2)),
        ]
    );
}

/// Before the epoch is established all of the leader's history will be committed: each
/// proposal goes with its COMMIT.
#[test]
fn a_learner_behind_gets_a_diff_of_each_proposal_and_its_commit() {
    let b = leader();
    let mut p = syncing_with_3_to_come(&b);
    assert_eq!(
        p.step(received(3, ack_epoch(zxid(1, 1), 1))),
        vec![
            send(3, QuorumPacket::Diff { zxid: zxid(1, 3) }),
            send(3, proposal(zxid(1, 2))),
            commit(3, zxid(1, 2)),
            send(3, proposal(zxid(1, 3))),
            commit(3, zxid(1, 3)),
            send(3, new_leader(2)),
        ]
    );
}

#[test]
fn a_learner_ahead_is_truncated_to_our_last_zxid() {
    let b = leader();
    let mut p = syncing_with_3_to_come(&b);
    assert_eq!(
        p.step(received(3, ack_epoch(zxid(1, 5), 1))),
        vec![
            send(3, QuorumPacket::Trunc { zxid: zxid(1, 3) }),
            send(3, new_leader(2)),
        ]
    );
}

/// ZOOKEEPER-1154: the learner's last entry is not ours; cut to the entry before it.
#[test]
fn a_learner_that_diverged_is_truncated_to_our_entry_before_its_last() {
    let b = PeerBuilder::new(1)
        .epochs(3, 3)
        .log(Zxid::ZERO, &[zxid(1, 1), zxid(1, 2), zxid(3, 1)])
        .committed(zxid(1, 2));
    let mut p = syncing_with_3_to_come(&b);
    assert_eq!(
        p.step(received(3, ack_epoch(zxid(2, 1), 2))),
        vec![
            send(3, QuorumPacket::Trunc { zxid: zxid(1, 2) }),
            send(3, proposal(zxid(3, 1))),
            commit(3, zxid(3, 1)),
            send(3, new_leader(4)),
        ]
    );
}

#[test]
fn an_empty_learner_gets_a_snapshot_at_our_commit_point_then_the_rest() {
    let b = leader();
    let mut p = syncing_with_3_to_come(&b);
    assert_eq!(
        p.step(received(3, ack_epoch(Zxid::ZERO, 0))),
        vec![
            Action::SendSnapshot {
                to: sid(3),
                zxid: zxid(1, 2),
            },
            send(3, proposal(zxid(1, 3))),
            commit(3, zxid(1, 3)),
            send(3, new_leader(2)),
        ]
    );
}

#[test]
fn a_learner_older_than_our_window_gets_a_snapshot() {
    let b = PeerBuilder::new(1)
        .epochs(1, 1)
        .log(zxid(1, 2), &[zxid(1, 3)])
        .committed(zxid(1, 2));
    let mut p = syncing_with_3_to_come(&b);
    assert_eq!(
        p.step(received(3, ack_epoch(zxid(1, 1), 1))),
        vec![
            Action::SendSnapshot {
                to: sid(3),
                zxid: zxid(1, 2),
            },
            send(3, proposal(zxid(1, 3))),
            commit(3, zxid(1, 3)),
            send(3, new_leader(2)),
        ]
    );
}

/// An established leader's uncommitted proposals go without COMMIT; it follows later.
#[test]
fn a_learner_synced_by_an_established_leader_gets_commits_only_for_what_is_committed() {
    let b = leader();
    let mut p = b.leader_established(&[2]);
    drive(
        &mut p,
        [
            Event::Propose(data(zxid(2, 1))),
            received(3, b.learner_info(3, 0)),
        ],
    );
    assert_eq!(
        p.step(received(3, ack_epoch(zxid(1, 3), 1))),
        vec![
            send(3, QuorumPacket::Diff { zxid: zxid(2, 1) }),
            send(3, proposal(zxid(2, 1))),
            send(3, new_leader(2)),
        ]
    );
}

#[test]
fn an_observer_is_synced_with_committed_proposals_only() {
    let b = leader().ensemble(3, 1);
    let mut p = b.leader_established(&[2]);
    drive(
        &mut p,
        [
            Event::Propose(data(zxid(2, 1))),
            received(4, b.learner_info(4, 0)),
        ],
    );
    assert_eq!(
        p.step(received(4, ack_epoch(zxid(1, 3), 1))),
        vec![
            send(4, QuorumPacket::Diff { zxid: zxid(2, 1) }),
            send(4, new_leader(2)),
        ]
    );
}

// ---- leader: establishment ----

fn ack_of_new_leader(e: u64) -> QuorumPacket {
    QuorumPacket::Ack { zxid: zxid(e, 0) }
}

#[test]
fn newleader_acks_do_not_establish_before_the_leaders_current_epoch_is_on_disk() {
    let b = leader();
    let mut p = b.leader_awaiting_ack_epoch(&[2]);
    drive(&mut p, [received(2, b.ack_epoch_at_our_last())]);
    assert_eq!(p.step(received(2, ack_of_new_leader(2))), vec![]);
}

/// What leader 1 does once 2's NEWLEADER ACK makes its quorum: it is established in
/// epoch 2, commits its history and tells 2 UPTODATE.
fn established_with_2() -> Vec<Action> {
    vec![
        status(ServerState::Leading, ZabPhase::Broadcast, Some(1), 2),
        Action::Commit { upto: zxid(1, 3) },
        send(2, QuorumPacket::UpToDate { zxid: zxid(1, 3) }),
    ]
}

#[test]
fn a_quorum_of_newleader_acks_establishes_the_leader_and_commits_its_history() {
    let b = leader();
    let mut p = b.leader_syncing(&[2]);
    assert_eq!(
        p.step(received(2, ack_of_new_leader(2))),
        established_with_2()
    );
}

#[test]
fn the_leaders_own_current_epoch_on_disk_completes_the_quorum() {
    let b = leader();
    let mut p = b.leader_awaiting_ack_epoch(&[2]);
    drive(
        &mut p,
        [
            received(2, b.ack_epoch_at_our_last()),
            received(2, ack_of_new_leader(2)),
        ],
    );
    assert_eq!(
        p.step(Event::CurrentEpochSaved(crate::Epoch(2))),
        established_with_2()
    );
}

/// Leader 1 with 2's ACKEPOCH in (NEWLEADER sent, discovery over at tick 0), whose own
/// current epoch reaches its disk `saved_at` ticks later.
fn syncing_with_the_current_epoch_saved_at(b: &PeerBuilder, saved_at: u64) -> Peer {
    let mut p = b.leader_awaiting_ack_epoch(&[2]);
    drive(&mut p, [received(2, b.ack_epoch_at_our_last())]);
    for _ in 0..saved_at {
        assert_eq!(p.step(Event::Tick), vec![], "waiting at tick {}", p.tick);
    }
    drive(
        &mut p,
        [Event::CurrentEpochSaved(crate::Epoch(b.next_epoch()))],
    );
    p
}

/// Apache's `Leader.lead` writes its current epoch (`setCurrentEpoch`) and only then enters
/// `waitForNewLeaderAck`, whose `initLimit` counts from there: a slow epoch file of the
/// leader's does not eat into the learners' time (reconfig soak seed 8054956).
#[test]
fn the_newleader_ack_wait_runs_from_the_leaders_current_epoch_on_disk() {
    let b = leader();
    let mut p = syncing_with_the_current_epoch_saved_at(&b, 150);
    let init_limit = p.cfg.init_limit_ticks;
    // Past initLimit from the end of discovery, within it from the epoch file.
    for _ in 0..init_limit {
        assert_eq!(
            p.step(Event::Tick),
            vec![],
            "still waiting at tick {}",
            p.tick
        );
    }
    assert_eq!(
        p.step(received(2, ack_of_new_leader(2))),
        established_with_2()
    );
}

#[test]
fn without_a_quorum_of_newleader_acks_the_leader_gives_up_init_limit_after_its_epoch_file() {
    let b = leader();
    let mut p = syncing_with_the_current_epoch_saved_at(&b, 150);
    let init_limit = p.cfg.init_limit_ticks;
    for _ in 0..init_limit {
        assert_eq!(
            p.step(Event::Tick),
            vec![],
            "still waiting at tick {}",
            p.tick
        );
    }
    assert_eq!(p.step(Event::Tick), b.back_to_election(zxid(1, 3), 1, 2));
}

/// Until its own epoch file is written the leader keeps the deadline from the end of
/// discovery: a disk that never completes it does not keep it leading for good.
#[test]
fn a_leader_whose_current_epoch_never_reaches_its_disk_gives_up_init_limit_after_discovery() {
    let b = leader();
    let mut p = b.leader_awaiting_ack_epoch(&[2]);
    drive(&mut p, [received(2, b.ack_epoch_at_our_last())]);
    let init_limit = p.cfg.init_limit_ticks;
    for _ in 0..init_limit {
        assert_eq!(
            p.step(Event::Tick),
            vec![],
            "still waiting at tick {}",
            p.tick
        );
    }
    let out = p.step(Event::Tick);
    assert_eq!(p.state(), ServerState::Looking, "{out:?}");
    assert_eq!(
        out[0],
        status(ServerState::Looking, ZabPhase::Election, None, 1)
    );
}

#[test]
fn a_newleader_ack_after_establishment_is_answered_with_uptodate() {
    let b = leader();
    let mut p = b.leader_established(&[2]);
    drive(
        &mut p,
        [
            received(3, b.learner_info(3, 0)),
            received(3, b.ack_epoch_at_our_last()),
        ],
    );
    assert_eq!(
        p.step(received(3, ack_of_new_leader(2))),
        vec![send(3, QuorumPacket::UpToDate { zxid: zxid(1, 3) })]
    );
}

// ---- learner ----

/// Follower 2 of leader 1 at epoch 1, entries 1..=3 logged, 1 committed; the leader's
/// new epoch is 2.
fn learner() -> PeerBuilder {
    PeerBuilder::new(2)
        .epochs(1, 1)
        .log(Zxid::ZERO, &[zxid(1, 1), zxid(1, 2), zxid(1, 3)])
        .committed(zxid(1, 1))
}

#[test]
fn diff_changes_nothing_on_disk() {
    let mut p = learner().learner_awaiting_sync(1, 2);
    assert_eq!(
        p.step(received(1, QuorumPacket::Diff { zxid: zxid(1, 3) })),
        vec![]
    );
}

#[test]
fn trunc_truncates_the_log() {
    let mut p = learner().learner_awaiting_sync(1, 2);
    assert_eq!(
        p.step(received(1, QuorumPacket::Trunc { zxid: zxid(1, 2) })),
        vec![Action::Truncate { to: zxid(1, 2) }]
    );
}

#[test]
fn trunc_to_our_last_zxid_truncates_nothing() {
    let mut p = learner().learner_awaiting_sync(1, 2);
    assert_eq!(
        p.step(received(1, QuorumPacket::Trunc { zxid: zxid(1, 3) })),
        vec![]
    );
}

#[test]
fn snap_installs_the_snapshot() {
    let mut p = learner().learner_awaiting_sync(1, 2);
    assert_eq!(
        p.step(received(1, QuorumPacket::Snap { zxid: zxid(1, 9) })),
        vec![Action::InstallSnapshot { zxid: zxid(1, 9) }]
    );
}

#[test]
fn a_second_sync_mode_is_ignored() {
    let mut p = learner().learner_syncing(1, 2);
    assert_eq!(
        p.step(received(1, QuorumPacket::Trunc { zxid: zxid(1, 1) })),
        vec![]
    );
}

/// Synced: the DIFF at our last zxid, then a proposal not yet on disk.
fn synced_with_one_more(b: &PeerBuilder) -> Peer {
    let mut p = b.learner_syncing(1, 2);
    drive(&mut p, [received(1, proposal(zxid(1, 4)))]);
    p
}

#[test]
fn zookeeper_3911_no_newleader_ack_before_diff_is_durable() {
    let mut p = synced_with_one_more(&learner());
    assert_eq!(p.step(received(1, new_leader(2))), vec![]);
}

#[test]
fn zookeeper_4643_current_epoch_saved_after_txns() {
    let mut p = synced_with_one_more(&learner());
    drive(&mut p, [received(1, new_leader(2))]);
    assert_eq!(
        p.step(Event::Persisted { upto: zxid(1, 4) }),
        vec![Action::SaveCurrentEpoch(crate::Epoch(2))]
    );
}

#[test]
fn a_persisted_short_of_the_synced_log_saves_nothing() {
    let mut p = synced_with_one_more(&learner());
    drive(
        &mut p,
        [
            received(1, proposal(zxid(1, 5))),
            received(1, new_leader(2)),
        ],
    );
    assert_eq!(p.step(Event::Persisted { upto: zxid(1, 4) }), vec![]);
}

#[test]
fn newleader_is_acknowledged_once_the_current_epoch_is_on_disk() {
    let mut p = synced_with_one_more(&learner());
    drive(
        &mut p,
        [
            received(1, new_leader(2)),
            Event::Persisted { upto: zxid(1, 4) },
        ],
    );
    assert_eq!(
        p.step(Event::CurrentEpochSaved(crate::Epoch(2))),
        vec![send(1, QuorumPacket::Ack { zxid: zxid(2, 0) })]
    );
}

/// With the epoch already current (a re-sync within the epoch), the ACK waits for the
/// synced proposals alone.
#[test]
fn zookeeper_4646_persist_before_newleader_ack() {
    let mut p = learner().epochs(2, 2).learner_syncing(1, 2);
    drive(
        &mut p,
        [
            received(1, proposal(zxid(2, 1))),
            received(1, new_leader(2)),
        ],
    );
    assert_eq!(
        p.step(Event::Persisted { upto: zxid(2, 1) }),
        vec![send(1, QuorumPacket::Ack { zxid: zxid(2, 0) })]
    );
}

/// After SNAP: the snapshot installed and on disk, then the current epoch.
#[test]
fn zookeeper_3642_snapshot_durable_before_the_current_epoch() {
    let mut p = learner().learner_awaiting_sync(1, 2);
    drive(
        &mut p,
        [
            received(1, QuorumPacket::Snap { zxid: zxid(1, 9) }),
            received(1, new_leader(2)),
        ],
    );
    assert_eq!(
        p.step(Event::Persisted { upto: zxid(1, 9) }),
        vec![Action::SaveCurrentEpoch(crate::Epoch(2))]
    );
}

#[test]
fn zookeeper_3642_durability_of_the_replaced_log_does_not_count() {
    let mut p = learner().learner_awaiting_sync(1, 2);
    drive(
        &mut p,
        [
            received(1, QuorumPacket::Snap { zxid: zxid(1, 9) }),
            received(1, new_leader(2)),
        ],
    );
    assert_eq!(p.step(Event::Persisted { upto: zxid(1, 3) }), vec![]);
}

/// A proposal after NEWLEADER, durable before the current epoch is: its ACK still
/// follows the ACK of NEWLEADER.
#[test]
fn zookeeper_4685_newleader_ack_before_proposal_acks() {
    let mut p = learner().learner_syncing(1, 2);
    drive(
        &mut p,
        [
            received(1, new_leader(2)),
            received(1, proposal(zxid(2, 1))),
            Event::Persisted { upto: zxid(2, 1) },
        ],
    );
    assert_eq!(
        p.step(Event::CurrentEpochSaved(crate::Epoch(2))),
        vec![
            send(1, QuorumPacket::Ack { zxid: zxid(2, 0) }),
            send(1, QuorumPacket::Ack { zxid: zxid(2, 1) }),
        ]
    );
}

#[test]
fn zookeeper_4394_commit_before_uptodate_is_queued() {
    let mut p = learner().learner_awaiting_up_to_date(1, 2);
    drive(&mut p, [received(1, proposal(zxid(2, 1)))]);
    assert_eq!(
        p.step(received(1, QuorumPacket::Commit { zxid: zxid(2, 1) })),
        vec![]
    );
}

#[test]
fn uptodate_commits_the_leaders_commit_point_and_the_queued_commits() {
    let mut p = learner().learner_awaiting_up_to_date(1, 2);
    drive(
        &mut p,
        [
            received(1, proposal(zxid(2, 1))),
            received(1, QuorumPacket::Commit { zxid: zxid(2, 1) }),
        ],
    );
    assert_eq!(
        p.step(received(1, QuorumPacket::UpToDate { zxid: zxid(1, 3) })),
        vec![
            Action::Commit { upto: zxid(2, 1) },
            status(ServerState::Following, ZabPhase::Broadcast, Some(1), 2),
        ]
    );
}

/// A ZooKeeper leader's UPTODATE carries -1: what the sync shared is committed.
#[test]
fn uptodate_without_a_commit_point_commits_what_the_sync_shared() {
    let mut p = learner().learner_awaiting_up_to_date(1, 2);
    assert_eq!(
        p.step(received(1, QuorumPacket::UpToDate { zxid: Zxid(-1) })),
        vec![
            Action::Commit { upto: zxid(1, 3) },
            status(ServerState::Following, ZabPhase::Broadcast, Some(1), 2),
        ]
    );
}
