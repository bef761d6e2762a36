//! FastLeaderElection, one notification or tick at a time: the exact actions out.

use crate::peer::{Action, Event, ZabPhase};
use crate::testing::*;
use crate::wire::{LearnerInfo, QuorumPacket, ServerState, PROTOCOL_VERSION};
use crate::{Epoch, ServerId, Zxid};

/// Server 1 of three voters, epoch 1, two entries logged.
fn one_of_three() -> PeerBuilder {
    PeerBuilder::new(1)
        .epochs(1, 1)
        .log(Zxid::ZERO, &[zxid(1, 1), zxid(1, 2)])
}

fn looking_vote(from: u64, leader: u64, z: Zxid, election_epoch: u64) -> Event {
    Event::Notification {
        from: sid(from),
        n: notification(ServerState::Looking, leader, z, election_epoch, 1),
    }
}

fn notify(to: u64, leader: u64, z: Zxid, election_epoch: u64) -> Action {
    Action::SendNotification {
        to: sid(to),
        n: notification(ServerState::Looking, leader, z, election_epoch, 1),
    }
}

#[test]
fn start_backs_itself_and_notifies_every_other_voter() {
    let mut p = one_of_three().build();
    assert_eq!(
        p.step(Event::Start),
        vec![
            status(ServerState::Looking, ZabPhase::Election, None, 1),
            notify(2, 1, zxid(1, 2), 1),
            notify(3, 1, zxid(1, 2), 1),
        ]
    );
}

#[test]
fn a_better_vote_is_adopted_and_sent_to_every_other_voter() {
    let mut p = one_of_three().looking();
    assert_eq!(
        p.step(looking_vote(2, 2, zxid(1, 3), 1)),
        vec![notify(2, 2, zxid(1, 3), 1), notify(3, 2, zxid(1, 3), 1)]
    );
}

#[test]
fn a_worse_vote_of_the_same_round_is_counted_not_adopted() {
    let mut p = one_of_three().looking();
    assert_eq!(p.step(looking_vote(2, 2, zxid(1, 1), 1)), vec![]);
}

#[test]
fn a_vote_of_an_older_round_is_answered_with_ours() {
    let mut p = one_of_three().looking();
    assert_eq!(
        p.step(looking_vote(2, 2, zxid(1, 9), 0)),
        vec![notify(2, 1, zxid(1, 2), 1)]
    );
}

#[test]
fn a_newer_round_is_joined_backing_the_better_of_ours_and_theirs() {
    let mut p = one_of_three().looking();
    assert_eq!(
        p.step(looking_vote(2, 2, zxid(1, 1), 5)),
        vec![notify(2, 1, zxid(1, 2), 5), notify(3, 1, zxid(1, 2), 5)]
    );
    assert_eq!(p.logical_clock(), 5);
}

#[test]
fn a_quorum_for_our_vote_without_finalize_wait_makes_us_leader() {
    let mut p = one_of_three().finalize_wait(0).looking();
    assert_eq!(
        p.step(looking_vote(2, 1, zxid(1, 2), 1)),
        vec![status(
            ServerState::Leading,
            ZabPhase::Discovery,
            Some(1),
            1
        )]
    );
}

#[test]
fn a_quorum_for_our_vote_waits_out_the_finalize_wait() {
    let b = one_of_three().finalize_wait(2);
    let mut p = b.looking();
    assert_eq!(p.step(looking_vote(2, 1, zxid(1, 2), 1)), vec![]);
    assert_eq!(p.step(Event::Tick), vec![]);
}

#[test]
fn the_finalize_wait_running_out_decides() {
    let mut p = one_of_three().finalize_wait(2).looking();
    drive(&mut p, [looking_vote(2, 1, zxid(1, 2), 1), Event::Tick]);
    assert_eq!(
        p.step(Event::Tick),
        vec![status(
            ServerState::Leading,
            ZabPhase::Discovery,
            Some(1),
            1
        )]
    );
}

/// The decision is taken as the round starts, inside `become_looking`; the dispatcher
/// acts on it after the LOOKING status, so the order is: LOOKING, LEADING, the epoch.
#[test]
fn a_lone_voter_leads_as_its_round_starts() {
    let mut p = PeerBuilder::new(1)
        .ensemble(1, 0)
        .epochs(2, 2)
        .finalize_wait(0)
        .build();
    assert_eq!(
        p.step(Event::Start),
        vec![
            status(ServerState::Looking, ZabPhase::Election, None, 2),
            status(ServerState::Leading, ZabPhase::Discovery, Some(1), 2),
            Action::SaveAcceptedEpoch(Epoch(3)),
        ]
    );
}

fn settled_vote(from: u64, state: ServerState, leader: u64) -> Event {
    Event::Notification {
        from: sid(from),
        n: notification(state, leader, zxid(1, 2), 1, 1),
    }
}

/// `checkLeader`: a quorum of FOLLOWING/LEADING votes, the leader's own among them.
#[test]
fn a_quorum_of_settled_votes_with_the_leaders_own_is_followed() {
    let mut p = PeerBuilder::new(3)
        .epochs(1, 1)
        .log(Zxid::ZERO, &[zxid(1, 1)])
        .looking();
    drive(&mut p, [settled_vote(1, ServerState::Leading, 1)]);
    assert_eq!(
        p.step(settled_vote(2, ServerState::Following, 1)),
        vec![
            status(ServerState::Following, ZabPhase::Discovery, Some(1), 1),
            send(
                1,
                QuorumPacket::FollowerInfo {
                    accepted_epoch: Epoch(1),
                    info: LearnerInfo {
                        sid: sid(3),
                        protocol_version: PROTOCOL_VERSION,
                        config_version: 0,
                    },
                    zk_rs: true,
                }
            ),
        ]
    );
}

#[test]
fn settled_votes_without_the_leaders_own_are_not_followed() {
    let mut p = PeerBuilder::new(5).ensemble(5, 0).epochs(1, 1).looking();
    drive(
        &mut p,
        [
            settled_vote(1, ServerState::Following, 2),
            settled_vote(3, ServerState::Following, 2),
        ],
    );
    assert_eq!(p.step(settled_vote(4, ServerState::Following, 2)), vec![]);
}

#[test]
fn a_settled_peer_tells_a_looking_peer_who_leads() {
    let mut p = PeerBuilder::new(3).epochs(1, 1).looking();
    drive(
        &mut p,
        [
            settled_vote(1, ServerState::Leading, 1),
            settled_vote(2, ServerState::Following, 1),
        ],
    );
    assert_eq!(
        p.step(looking_vote(2, 2, zxid(1, 5), 2)),
        vec![Action::SendNotification {
            to: sid(2),
            n: notification(ServerState::Following, 1, zxid(1, 2), 1, 1),
        }]
    );
}

#[test]
fn a_settled_peer_does_not_answer_a_settled_voter() {
    let mut p = PeerBuilder::new(3).epochs(1, 1).looking();
    drive(
        &mut p,
        [
            settled_vote(1, ServerState::Leading, 1),
            settled_vote(2, ServerState::Following, 1),
        ],
    );
    assert_eq!(p.step(settled_vote(2, ServerState::Following, 1)), vec![]);
}

/// An observer's vote is `Long.MIN_VALUE` everywhere: it never wins.
#[test]
fn an_observer_backs_nobody() {
    let mut p = PeerBuilder::new(4).ensemble(3, 1).build();
    let nobody = crate::wire::Notification {
        leader: ServerId(i64::MIN as u64),
        zxid: Zxid(i64::MIN),
        peer_epoch: Epoch(i64::MIN as u64),
        ..notification(ServerState::Looking, 0, Zxid::ZERO, 1, 0)
    };
    let to = |s| Action::SendNotification {
        to: sid(s),
        n: nobody.clone(),
    };
    assert_eq!(
        p.step(Event::Start),
        vec![
            status(ServerState::Looking, ZabPhase::Election, None, 0),
            to(1),
            to(2),
            to(3),
        ]
    );
}

#[test]
fn a_non_voter_is_sent_our_vote_and_otherwise_ignored() {
    let mut p = one_of_three().ensemble(3, 1).finalize_wait(0).looking();
    assert_eq!(
        p.step(looking_vote(4, 1, zxid(1, 2), 1)),
        vec![notify(4, 1, zxid(1, 2), 1)]
    );
}

/// A notification backing no one (here from a voter that yields) is no vote: it does not
/// put off our resend. Else peers backing no one, each resending on its own timer, could
/// keep us from ever resending our vote to them, and none of them would learn it
/// (reconfig soak seed 4001025).
#[test]
fn notifications_backing_no_one_do_not_put_off_our_resend() {
    let mut p = one_of_three().looking();
    let nobody = Event::Notification {
        from: sid(2),
        n: crate::wire::Notification {
            leader: ServerId(i64::MIN as u64),
            zxid: Zxid(i64::MIN),
            peer_epoch: Epoch(i64::MIN as u64),
            ..notification(ServerState::Looking, 0, Zxid::ZERO, 1, 0)
        },
    };
    assert_eq!(p.step(nobody.clone()), vec![]);
    assert_eq!(p.step(Event::Tick), vec![]);
    assert_eq!(p.step(nobody), vec![]);
    assert_eq!(
        p.step(Event::Tick),
        vec![notify(2, 1, zxid(1, 2), 1), notify(3, 1, zxid(1, 2), 1)]
    );
}

/// A vote we already hold from its sender is no news either: peers repeating theirs could
/// otherwise keep us from ever resending ours to a peer that lost it (reconfig soak seed
/// 4002319: the leader-to-be heard its backers' repeats and never resent its vote to the
/// other voter of the view in force).
#[test]
fn a_repeated_vote_does_not_put_off_our_resend() {
    let mut p = one_of_three().looking();
    assert_eq!(p.step(looking_vote(2, 2, zxid(1, 1), 1)), vec![]);
    assert_eq!(p.step(Event::Tick), vec![]);
    assert_eq!(p.step(looking_vote(2, 2, zxid(1, 1), 1)), vec![]);
    assert_eq!(
        p.step(Event::Tick),
        vec![notify(2, 1, zxid(1, 2), 1), notify(3, 1, zxid(1, 2), 1)]
    );
}

/// A vote that is news puts it off, as Apache's poll returning a notification does.
#[test]
fn a_new_vote_puts_off_our_resend() {
    let mut p = one_of_three().looking();
    assert_eq!(p.step(looking_vote(2, 2, zxid(1, 1), 1)), vec![]);
    assert_eq!(p.step(Event::Tick), vec![]);
    assert_eq!(p.step(looking_vote(3, 3, zxid(1, 1), 1)), vec![]);
    assert_eq!(p.step(Event::Tick), vec![]);
}
