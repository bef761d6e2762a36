//! rqld, one event at a time: who asks whom, what the leader answers and when it yields,
//! and the election's tie-break in the preferred server's favour.

use crate::peer::{Action, Event, Peer, RqldAnswer, ZabPhase};
use crate::testing::*;
use crate::wire::{HandOverOutcome, LearnerInfo, QuorumPacket, ServerState, PROTOCOL_VERSION};
use crate::{Epoch, Zxid};

/// Three voters whose history, entry (1,1), is committed; epoch 1.
fn builder(me: u64) -> PeerBuilder {
    PeerBuilder::new(me)
        .epochs(1, 1)
        .log(Zxid::ZERO, &[zxid(1, 1)])
        .committed(zxid(1, 1))
}

fn hand_over(requester: u64, outcome: HandOverOutcome, ticks: u32) -> QuorumPacket {
    QuorumPacket::HandOver {
        requester: sid(requester),
        outcome,
        ticks,
    }
}

fn rqld() -> QuorumPacket {
    QuorumPacket::RequestLeadership {
        last_zxid: zxid(1, 1),
    }
}

fn answer(a: RqldAnswer) -> Action {
    Action::RqldAnswer(a)
}

/// Follower 2 of leader 1, in broadcast; `zk_rs`: whether LEADERINFO carried our mark.
fn follower(zk_rs: bool) -> Peer {
    let b = builder(2);
    let mut p = b.learning(1);
    drive(
        &mut p,
        [
            received(
                1,
                QuorumPacket::LeaderInfo {
                    epoch: Epoch(2),
                    protocol_version: PROTOCOL_VERSION,
                    zk_rs,
                },
            ),
            Event::AcceptedEpochSaved(Epoch(2)),
            received(1, QuorumPacket::Diff { zxid: zxid(1, 1) }),
            received(1, new_leader(2)),
            Event::CurrentEpochSaved(Epoch(2)),
            received(1, QuorumPacket::UpToDate { zxid: zxid(1, 1) }),
        ],
    );
    assert!(p.is_broadcasting());
    p
}

/// Leader 1 established in epoch 2 with followers 2 (ours) and 3 (ours unless `apache3`).
fn leader(apache3: bool) -> Peer {
    leader_with(apache3, 100)
}

fn leader_with(apache3: bool, sync_limit: u64) -> Peer {
    let b = builder(1).sync_limit(sync_limit);
    let mut p = b.leading();
    let info3 = QuorumPacket::FollowerInfo {
        accepted_epoch: Epoch(0),
        info: LearnerInfo {
            sid: sid(3),
            protocol_version: PROTOCOL_VERSION,
            config_version: 0,
        },
        zk_rs: !apache3,
    };
    drive(
        &mut p,
        [
            received(2, b.learner_info(2, 0)),
            received(3, info3),
            Event::AcceptedEpochSaved(Epoch(2)),
            received(2, b.ack_epoch_at_our_last()),
            received(3, b.ack_epoch_at_our_last()),
            Event::CurrentEpochSaved(Epoch(2)),
            received(2, QuorumPacket::Ack { zxid: zxid(2, 0) }),
            received(3, QuorumPacket::Ack { zxid: zxid(2, 0) }),
        ],
    );
    assert!(p.can_propose());
    p
}

#[test]
fn a_follower_asks_a_leader_of_ours() {
    let mut p = follower(true);
    assert_eq!(p.step(Event::RequestLeadership), vec![send(1, rqld())]);
}

#[test]
fn a_follower_never_sends_rqld_to_a_leader_that_is_not_ours() {
    let mut p = follower(false);
    assert_eq!(
        p.step(Event::RequestLeadership),
        vec![answer(RqldAnswer::LeaderNotZkRs(sid(1)))]
    );
}

#[test]
fn a_leader_or_a_looking_peer_answers_at_once() {
    let mut l = leader(false);
    assert_eq!(
        l.step(Event::RequestLeadership),
        vec![answer(RqldAnswer::AlreadyLeader)]
    );
    let mut p = builder(2).looking();
    assert_eq!(
        p.step(Event::RequestLeadership),
        vec![answer(RqldAnswer::NotFollowing)]
    );
}

#[test]
fn the_leader_tells_its_learners_then_yields_once_the_requester_has_everything() {
    let mut p = leader(false);
    let ticks = 4 * 100; // 4 x syncLimit (the builder's default, 100 ticks)
    assert_eq!(
        p.step(received(2, rqld())),
        vec![
            send(2, hand_over(2, HandOverOutcome::Preferred, ticks)),
            send(3, hand_over(2, HandOverOutcome::Preferred, ticks)),
        ]
    );
    // A proposal 2 has not acknowledged yet holds the yield back.
    drive(&mut p, [Event::Propose(data(zxid(2, 1)))]);
    drive(&mut p, [Event::Tick, Event::Tick, Event::Tick]);
    assert!(p.can_propose(), "yielded before 2 had everything");
    let out = p.step(received(2, QuorumPacket::Ack { zxid: zxid(2, 1) }));
    assert_eq!(
        out[0],
        status(ServerState::Looking, ZabPhase::Election, None, 2)
    );
    assert!(!p.can_propose());
}

#[test]
fn with_an_apache_voter_the_leader_answers_plain_yield_and_yields_as_ydld() {
    let mut p = leader(true);
    assert_eq!(
        p.step(received(2, rqld())),
        vec![send(2, hand_over(2, HandOverOutcome::PlainYield, 400))]
    );
    drive(&mut p, [Event::Tick]);
    assert!(p.can_propose());
    let out = p.step(Event::Tick);
    assert_eq!(
        out[0],
        status(ServerState::Looking, ZabPhase::Election, None, 2)
    );
}

#[test]
fn a_requester_that_does_not_catch_up_is_told_and_the_preference_withdrawn() {
    let mut p = leader_with(false, 3);
    drive(
        &mut p,
        [received(2, rqld()), Event::Propose(data(zxid(2, 1)))],
    );
    // 3 acknowledges (a quorum with the leader): committed, but 2 never does.
    drive(&mut p, [Event::Persisted { upto: zxid(2, 1) }]);
    drive(
        &mut p,
        [received(3, QuorumPacket::Ack { zxid: zxid(2, 1) })],
    );
    drive(&mut p, [Event::Tick, Event::Tick]);
    let out = p.step(Event::Tick);
    assert!(
        out.contains(&send(2, hand_over(2, HandOverOutcome::NotUpToDate, 0))),
        "{out:?}"
    );
    assert!(p.can_propose());
    assert_eq!(p.prefer, None);
}

#[test]
fn the_leader_refuses_an_observer_or_a_second_request() {
    let mut p = leader(false);
    drive(&mut p, [received(2, rqld())]);
    assert_eq!(
        p.step(received(3, rqld())),
        vec![send(3, hand_over(3, HandOverOutcome::Refused, 0))]
    );
}

#[test]
fn a_learner_holds_the_preference_and_the_requester_hears_its_answer() {
    let mut p = follower(true);
    assert_eq!(
        p.step(received(1, hand_over(3, HandOverOutcome::Preferred, 5))),
        vec![]
    );
    assert_eq!(p.prefer, Some((sid(3), 5)));
    assert_eq!(
        p.step(received(1, hand_over(2, HandOverOutcome::NotUpToDate, 0))),
        vec![answer(RqldAnswer::Leader(HandOverOutcome::NotUpToDate))]
    );
    assert_eq!(
        p.prefer,
        Some((sid(3), 5)),
        "only 3's own withdrawal clears it"
    );
    drive(&mut p, std::iter::repeat_n(Event::Tick, 5));
    assert_eq!(p.prefer, None, "expired");
}

/// Peer 3 of three would keep its own (higher) sid against 2's equal vote; preferring 2
/// it switches to 2, and an equal vote for 1 does not move it back.
#[test]
fn a_preferred_candidate_wins_ties_of_epoch_and_zxid_only() {
    let b = builder(3).finalize_wait(5);
    let mut p = b.looking();
    p.prefer = Some((sid(2), 100));
    let for2 = notification(ServerState::Looking, 2, zxid(1, 1), 1, 1);
    let out = p.step(Event::Notification {
        from: sid(2),
        n: for2.clone(),
    });
    assert_eq!(
        out,
        vec![
            Action::SendNotification {
                to: sid(1),
                n: for2.clone()
            },
            Action::SendNotification {
                to: sid(2),
                n: for2
            },
        ]
    );
    let for1 = notification(ServerState::Looking, 1, zxid(1, 1), 1, 1);
    assert_eq!(
        p.step(Event::Notification {
            from: sid(1),
            n: for1
        }),
        vec![]
    );
    // A candidate further ahead still wins: the preference is a tie-break.
    let ahead = notification(ServerState::Looking, 1, zxid(1, 2), 1, 1);
    assert_eq!(
        p.step(Event::Notification {
            from: sid(1),
            n: ahead
        })
        .len(),
        2
    );
}
