//! Discovery, one packet or disk report at a time: FOLLOWERINFO -> LEADERINFO ->
//! ACKEPOCH, and ACKEPOCH only once the accepted epoch is on disk.

use crate::peer::{Action, Event, ZabPhase};
use crate::testing::*;
use crate::wire::{QuorumPacket, ServerState};
use crate::{Epoch, Zxid};

/// Leader 1 of three voters at epoch 3 (accepted and current), two entries logged; the
/// epoch it proposes to learners at epoch 0 is 4.
fn leader() -> PeerBuilder {
    PeerBuilder::new(1)
        .epochs(3, 3)
        .log(Zxid::ZERO, &[zxid(3, 1), zxid(3, 2)])
        .committed(zxid(3, 2))
}

fn ack_epoch(last_zxid: Zxid, current_epoch: i64) -> QuorumPacket {
    QuorumPacket::AckEpoch {
        last_zxid,
        current_epoch,
    }
}

// ---- leader ----

#[test]
fn followerinfo_short_of_a_quorum_waits() {
    let b = leader().ensemble(5, 0);
    let mut p = b.leading();
    assert_eq!(p.step(received(2, b.learner_info(2, 0))), vec![]);
}

#[test]
fn followerinfo_completing_a_quorum_proposes_one_past_the_highest_accepted_epoch() {
    let b = leader();
    let mut p = b.leading();
    assert_eq!(
        p.step(received(2, b.learner_info(2, 5))),
        vec![Action::SaveAcceptedEpoch(Epoch(6))]
    );
}

#[test]
fn observerinfo_does_not_count_towards_the_epoch_quorum() {
    let b = leader().ensemble(3, 1);
    let mut p = b.leading();
    assert_eq!(p.step(received(4, b.learner_info(4, 0))), vec![]);
}

#[test]
fn followerinfo_before_the_new_epoch_is_on_disk_waits_for_it() {
    let b = leader();
    let mut p = b.leading();
    drive(&mut p, [received(2, b.learner_info(2, 0))]);
    assert_eq!(p.step(received(3, b.learner_info(3, 0))), vec![]);
}

#[test]
fn leaderinfo_goes_out_once_the_leaders_accepted_epoch_is_on_disk() {
    let b = leader();
    let mut p = b.leading();
    drive(
        &mut p,
        [
            received(2, b.learner_info(2, 0)),
            received(3, b.learner_info(3, 0)),
        ],
    );
    assert_eq!(
        p.step(Event::AcceptedEpochSaved(Epoch(4))),
        vec![send(2, leader_info(4)), send(3, leader_info(4))]
    );
}

#[test]
fn followerinfo_after_the_epoch_is_on_disk_gets_leaderinfo_at_once() {
    let b = leader();
    let mut p = b.leader_awaiting_ack_epoch(&[2]);
    assert_eq!(
        p.step(received(3, b.learner_info(3, 0))),
        vec![send(3, leader_info(4))]
    );
}

#[test]
fn ackepoch_of_a_quorum_saves_the_current_epoch_and_synchronises() {
    let b = leader();
    let mut p = b.leader_awaiting_ack_epoch(&[2]);
    assert_eq!(
        p.step(received(2, ack_epoch(zxid(3, 2), 3))),
        vec![
            Action::SaveCurrentEpoch(Epoch(4)),
            status(ServerState::Leading, ZabPhase::Synchronization, Some(1), 4),
            send(2, QuorumPacket::Diff { zxid: zxid(3, 2) }),
            send(2, new_leader(4)),
        ]
    );
}

#[test]
fn ackepoch_of_a_learner_ahead_of_the_leader_ends_its_leadership() {
    let b = leader();
    let mut p = b.leader_awaiting_ack_epoch(&[2]);
    assert_eq!(
        p.step(received(2, ack_epoch(zxid(3, 5), 3))),
        b.back_to_election(zxid(3, 2), 1, 3)
    );
}

#[test]
fn ackepoch_without_leaderinfo_is_ignored() {
    let b = leader();
    let mut p = b.leading();
    drive(&mut p, [received(2, b.learner_info(2, 0))]);
    assert_eq!(p.step(received(2, ack_epoch(zxid(3, 2), 3))), vec![]);
}

/// ZooKeeper's `waitForEpochAck`: a -1 ACKEPOCH (the learner had accepted our epoch
/// already, perhaps from a rival) is no ack of the epoch; discovery waits on.
#[test]
fn ackepoch_of_minus_one_does_not_count_towards_the_epoch_quorum() {
    let b = leader();
    let mut p = b.leader_awaiting_ack_epoch(&[2]);
    assert_eq!(p.step(received(2, ack_epoch(zxid(3, 2), -1))), vec![]);
}

/// ... but the learner is synchronised with the others once a quorum did acknowledge.
#[test]
fn a_learner_that_sent_minus_one_is_synchronised_once_discovery_ends() {
    let b = leader();
    let mut p = b.leader_awaiting_ack_epoch(&[2, 3]);
    drive(&mut p, [received(2, ack_epoch(zxid(3, 2), -1))]);
    let out = p.step(received(3, ack_epoch(zxid(3, 2), 3)));
    assert_eq!(out[0], Action::SaveCurrentEpoch(Epoch(4)));
    for to in [2, 3] {
        assert!(
            out.contains(&send(to, new_leader(4))),
            "no NEWLEADER for {to}: {out:?}"
        );
    }
}

/// After discovery nothing is checked, as in ZooKeeper (`electionFinished`): a late
/// ACKEPOCH is synchronised whatever epoch it reports.
#[test]
fn late_ackepoch_is_synchronised_without_a_check() {
    let b = leader();
    let mut p = b.leader_established(&[2]);
    drive(&mut p, [received(3, b.learner_info(3, 0))]);
    let out = p.step(received(3, ack_epoch(zxid(3, 2), -1)));
    assert!(
        out.contains(&send(3, new_leader(4))),
        "late learner not synchronised: {out:?}"
    );
}

// ---- learner ----

/// Follower 2 of leader 1, accepted and current epoch 3, two entries logged.
fn learner() -> PeerBuilder {
    PeerBuilder::new(2)
        .epochs(3, 3)
        .log(Zxid::ZERO, &[zxid(3, 1), zxid(3, 2)])
}

#[test]
fn a_new_epoch_is_saved_before_anything_is_acknowledged() {
    let mut p = learner().learning(1);
    assert_eq!(
        p.step(received(1, leader_info(4))),
        vec![Action::SaveAcceptedEpoch(Epoch(4))]
    );
}

#[test]
fn ackepoch_goes_out_once_the_accepted_epoch_is_on_disk() {
    let mut p = learner().learning(1);
    drive(&mut p, [received(1, leader_info(4))]);
    assert_eq!(
        p.step(Event::AcceptedEpochSaved(Epoch(4))),
        vec![
            send(1, ack_epoch(zxid(3, 2), 3)),
            status(
                ServerState::Following,
                ZabPhase::Synchronization,
                Some(1),
                4
            ),
        ]
    );
}

#[test]
fn an_older_epoch_on_disk_does_not_release_ackepoch() {
    let mut p = learner().learning(1);
    drive(&mut p, [received(1, leader_info(5))]);
    assert_eq!(p.step(Event::AcceptedEpochSaved(Epoch(4))), vec![]);
}

/// `Learner.registerWithLeader`: an epoch accepted before is answered with -1, "this
/// reply should not count as an ack for the new epoch" (no longer deviation 0002 item 1).
#[test]
fn leaderinfo_of_the_epoch_already_accepted_is_acknowledged_at_once_with_minus_one() {
    let mut p = learner().epochs(4, 3).learning(1);
    assert_eq!(
        p.step(received(1, leader_info(4))),
        vec![
            send(1, ack_epoch(zxid(3, 2), -1)),
            status(
                ServerState::Following,
                ZabPhase::Synchronization,
                Some(1),
                4
            ),
        ]
    );
}

#[test]
fn leaderinfo_of_an_epoch_older_than_the_accepted_one_sends_the_learner_back_to_election() {
    let b = learner().epochs(5, 3);
    let mut p = b.learning(1);
    assert_eq!(
        p.step(received(1, leader_info(4))),
        b.back_to_election(zxid(3, 2), 1, 3)
    );
}

#[test]
fn an_observer_acknowledges_the_epoch_as_observer() {
    let mut p = PeerBuilder::new(4)
        .ensemble(3, 1)
        .epochs(4, 3)
        .log(Zxid::ZERO, &[zxid(3, 1)])
        .learning(1);
    // Epoch 4 accepted before: -1, as `Observer` (`registerWithLeader`) sends it.
    assert_eq!(
        p.step(received(1, leader_info(4))),
        vec![
            send(1, ack_epoch(zxid(3, 1), -1)),
            status(
                ServerState::Observing,
                ZabPhase::Synchronization,
                Some(1),
                4
            ),
        ]
    );
}

#[test]
fn leaderinfo_from_anyone_but_the_leader_is_ignored() {
    let mut p = learner().learning(1);
    assert_eq!(p.step(received(3, leader_info(4))), vec![]);
}
