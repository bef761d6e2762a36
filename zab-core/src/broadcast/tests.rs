//! Broadcast, one event at a time: PROPOSAL / ACK / COMMIT / INFORM, SYNC, PING and the
//! timers; a proposal's ACK only once it is durable.

use bytes::Bytes;

use crate::peer::ZabPhase;
use crate::peer::{Action, Event, Peer};
use crate::testing::*;
use crate::wire::{QuorumPacket, ServerState};
use crate::Zxid;

// ---- leader ----

/// Leader 1 of three voters, established in epoch 2 with follower 2 (3 is away); its
/// history, entry (1,1), is committed.
fn leader() -> PeerBuilder {
    PeerBuilder::new(1)
        .epochs(1, 1)
        .log(Zxid::ZERO, &[zxid(1, 1)])
        .committed(zxid(1, 1))
}

fn propose(z: Zxid) -> Event {
    Event::Propose(data(z))
}

fn ack(from: u64, z: Zxid) -> Event {
    received(from, QuorumPacket::Ack { zxid: z })
}

fn commit(to: u64, z: Zxid) -> Action {
    send(to, QuorumPacket::Commit { zxid: z })
}

#[test]
fn a_proposal_goes_to_the_followers_then_to_the_log() {
    let mut p = leader().leader_established(&[2]);
    assert_eq!(
        p.step(propose(zxid(2, 1))),
        vec![send(2, proposal(zxid(2, 1))), append(zxid(2, 1))]
    );
}

#[test]
fn a_proposal_before_establishment_is_ignored() {
    let mut p = leader().leader_syncing(&[2]);
    assert_eq!(p.step(propose(zxid(2, 1))), vec![]);
}

#[test]
fn a_followers_ack_without_the_leaders_own_durability_commits_nothing() {
    let mut p = leader().leader_established(&[2]);
    drive(&mut p, [propose(zxid(2, 1))]);
    assert_eq!(p.step(ack(2, zxid(2, 1))), vec![]);
}

#[test]
fn the_leaders_own_durability_completes_the_quorum_and_commits() {
    let mut p = leader().leader_established(&[2]);
    drive(&mut p, [propose(zxid(2, 1)), ack(2, zxid(2, 1))]);
    assert_eq!(
        p.step(Event::Persisted { upto: zxid(2, 1) }),
        vec![commit(2, zxid(2, 1)), Action::Commit { upto: zxid(2, 1) }]
    );
}

#[test]
fn acks_are_cumulative() {
    let mut p = leader().leader_established(&[2]);
    drive(
        &mut p,
        [
            propose(zxid(2, 1)),
            propose(zxid(2, 2)),
            Event::Persisted { upto: zxid(2, 2) },
        ],
    );
    assert_eq!(
        p.step(ack(2, zxid(2, 2))),
        vec![
            commit(2, zxid(2, 1)),
            commit(2, zxid(2, 2)),
            Action::Commit { upto: zxid(2, 2) },
        ]
    );
}

#[test]
fn a_commit_reaches_observers_as_inform() {
    let mut p = leader().ensemble(3, 1).leader_established(&[2, 4]);
    drive(
        &mut p,
        [propose(zxid(2, 1)), Event::Persisted { upto: zxid(2, 1) }],
    );
    assert_eq!(
        p.step(ack(2, zxid(2, 1))),
        vec![
            commit(2, zxid(2, 1)),
            send(
                4,
                QuorumPacket::Inform {
                    zxid: zxid(2, 1),
                    data: data(zxid(2, 1)),
                }
            ),
            Action::Commit { upto: zxid(2, 1) },
        ]
    );
}

#[test]
fn an_observers_ack_does_not_count() {
    let mut p = leader().ensemble(3, 1).leader_established(&[2, 4]);
    drive(
        &mut p,
        [propose(zxid(2, 1)), Event::Persisted { upto: zxid(2, 1) }],
    );
    assert_eq!(p.step(ack(4, zxid(2, 1))), vec![]);
}

#[test]
fn a_sync_waits_for_the_proposals_before_it() {
    let mut p = leader().leader_established(&[2]);
    drive(&mut p, [propose(zxid(2, 1))]);
    assert_eq!(p.step(Event::SyncRequest { learner: sid(2) }), vec![]);
}

#[test]
fn a_sync_is_answered_when_the_proposals_before_it_commit() {
    let mut p = leader().leader_established(&[2]);
    drive(
        &mut p,
        [
            propose(zxid(2, 1)),
            Event::SyncRequest { learner: sid(2) },
            ack(2, zxid(2, 1)),
        ],
    );
    assert_eq!(
        p.step(Event::Persisted { upto: zxid(2, 1) }),
        vec![
            commit(2, zxid(2, 1)),
            Action::Commit { upto: zxid(2, 1) },
            send(2, QuorumPacket::Sync { zxid: zxid(2, 1) }),
        ]
    );
}

#[test]
fn a_sync_with_nothing_outstanding_is_answered_at_once() {
    let mut p = leader().leader_established(&[2]);
    assert_eq!(
        p.step(Event::SyncRequest { learner: sid(2) }),
        vec![send(2, QuorumPacket::Sync { zxid: zxid(1, 1) })]
    );
}

fn ping(z: Zxid) -> QuorumPacket {
    QuorumPacket::Ping {
        zxid: z,
        data: Bytes::new(),
    }
}

#[test]
fn the_leader_pings_its_learners() {
    let mut p = leader().leader_established(&[2]);
    assert_eq!(p.step(Event::Tick), vec![send(2, ping(zxid(1, 1)))]);
}

#[test]
fn the_leader_steps_down_when_its_quorum_is_silent_past_the_sync_limit() {
    let b = leader().sync_limit(3).ping_interval(1000);
    let mut p = b.leader_established(&[2]);
    drive(&mut p, [received(2, ping(zxid(1, 1)))]);
    drive(&mut p, [Event::Tick, Event::Tick, Event::Tick]);
    assert_eq!(p.step(Event::Tick), b.back_to_election(zxid(1, 1), 1, 2));
}

/// Apache's LearnerHandler: until a learner sends something after its NEWLEADER ACK, it
/// counts as in touch for initLimit + syncLimit from the leader's establishment (the
/// UPTODATE and the first PING still have to reach it and be answered), not for syncLimit
/// from the ACK.
#[test]
fn a_learner_silent_since_its_newleader_ack_counts_until_init_limit_plus_sync_limit() {
    let b = leader().sync_limit(3).ping_interval(1000);
    let mut p = b.leader_established(&[2]);
    let init_limit = p.cfg.init_limit_ticks;
    for _ in 0..init_limit + 3 {
        p.step(Event::Tick);
        assert!(p.can_propose(), "still leading at tick {}", p.tick);
    }
    assert_eq!(p.step(Event::Tick), b.back_to_election(zxid(1, 1), 1, 2));
}

/// Apache's leader counts ticks from its establishment only: a learner that acked NEWLEADER
/// during a long synchronisation still has initLimit + syncLimit from the establishment.
#[test]
fn the_initial_deadline_runs_from_the_establishment() {
    let b = leader().sync_limit(3).ping_interval(1000);
    let mut p = b.leader_syncing(&[2]);
    let init_limit = p.cfg.init_limit_ticks;
    let synced_at = init_limit / 2;
    for _ in 0..synced_at {
        p.step(Event::Tick);
    }
    let e = b.next_epoch();
    drive(
        &mut p,
        [received(2, QuorumPacket::Ack { zxid: zxid(e, 0) })],
    );
    assert!(p.can_propose(), "established");
    for _ in 0..init_limit + 3 {
        p.step(Event::Tick);
        assert!(p.can_propose(), "still leading at tick {}", p.tick);
    }
    assert_eq!(
        p.step(Event::Tick),
        b.back_to_election(zxid(1, 1), e - 1, 2)
    );
}

#[test]
fn a_learners_packet_within_the_sync_limit_keeps_the_leader() {
    let b = leader().sync_limit(3).ping_interval(1000);
    let mut p = b.leader_established(&[2]);
    drive(
        &mut p,
        [
            Event::Tick,
            Event::Tick,
            Event::Tick,
            received(2, ping(zxid(1, 1))),
        ],
    );
    assert_eq!(p.step(Event::Tick), vec![]);
}

// ---- learner ----

/// Follower 2 of leader 1, in broadcast of epoch 2; (1,1) logged and committed.
fn follower() -> PeerBuilder {
    PeerBuilder::new(2)
        .epochs(1, 1)
        .log(Zxid::ZERO, &[zxid(1, 1)])
        .committed(zxid(1, 1))
}

fn in_broadcast(b: &PeerBuilder) -> Peer {
    b.learner_in_broadcast(1, 2)
}

#[test]
fn a_proposal_is_logged_not_yet_acknowledged() {
    let mut p = in_broadcast(&follower());
    assert_eq!(
        p.step(received(1, proposal(zxid(2, 1)))),
        vec![append(zxid(2, 1))]
    );
}

#[test]
fn a_proposal_is_acknowledged_once_durable() {
    let mut p = in_broadcast(&follower());
    drive(&mut p, [received(1, proposal(zxid(2, 1)))]);
    assert_eq!(
        p.step(Event::Persisted { upto: zxid(2, 1) }),
        vec![send(1, QuorumPacket::Ack { zxid: zxid(2, 1) })]
    );
}

#[test]
fn each_durable_proposal_is_acknowledged_once() {
    let mut p = in_broadcast(&follower());
    drive(
        &mut p,
        [
            received(1, proposal(zxid(2, 1))),
            received(1, proposal(zxid(2, 2))),
            received(1, proposal(zxid(2, 3))),
            Event::Persisted { upto: zxid(2, 1) },
        ],
    );
    assert_eq!(
        p.step(Event::Persisted { upto: zxid(2, 3) }),
        vec![
            send(1, QuorumPacket::Ack { zxid: zxid(2, 2) }),
            send(1, QuorumPacket::Ack { zxid: zxid(2, 3) }),
        ]
    );
}

#[test]
fn a_proposal_out_of_sequence_sends_the_follower_back_to_election() {
    let b = follower();
    let mut p = in_broadcast(&b);
    drive(&mut p, [received(1, proposal(zxid(2, 1)))]);
    assert_eq!(
        p.step(received(1, proposal(zxid(2, 3)))),
        b.back_to_election(zxid(2, 1), 1, 2)
    );
}

#[test]
fn a_commit_is_applied() {
    let mut p = in_broadcast(&follower());
    drive(&mut p, [received(1, proposal(zxid(2, 1)))]);
    assert_eq!(
        p.step(received(1, QuorumPacket::Commit { zxid: zxid(2, 1) })),
        vec![Action::Commit { upto: zxid(2, 1) }]
    );
}

#[test]
fn a_commit_of_an_unknown_proposal_sends_the_follower_back_to_election() {
    let b = follower();
    let mut p = in_broadcast(&b);
    assert_eq!(
        p.step(received(1, QuorumPacket::Commit { zxid: zxid(2, 5) })),
        b.back_to_election(zxid(1, 1), 1, 2)
    );
}

#[test]
fn the_learner_answers_the_leaders_ping() {
    let mut p = in_broadcast(&follower());
    assert_eq!(
        p.step(received(1, ping(zxid(2, 7)))),
        vec![send(1, ping(zxid(2, 7)))]
    );
}

#[test]
fn the_learner_returns_to_election_after_the_sync_limit_of_silence() {
    let b = follower().sync_limit(3);
    let mut p = in_broadcast(&b);
    drive(&mut p, [Event::Tick, Event::Tick, Event::Tick]);
    assert_eq!(p.step(Event::Tick), b.back_to_election(zxid(1, 1), 1, 2));
}

#[test]
fn a_proposal_from_anyone_but_the_leader_is_ignored() {
    let mut p = in_broadcast(&follower());
    assert_eq!(p.step(received(3, proposal(zxid(2, 1)))), vec![]);
}

#[test]
fn a_forwarded_request_goes_to_the_leader() {
    let mut p = in_broadcast(&follower());
    let request = QuorumPacket::Request {
        data: Bytes::from_static(b"request"),
        authinfo: Vec::new(),
    };
    assert_eq!(
        p.step(Event::Forward(request.clone())),
        vec![send(1, request)]
    );
}

/// Observer 4 of leader 1, in broadcast of epoch 2.
fn observer() -> PeerBuilder {
    PeerBuilder::new(4)
        .ensemble(3, 1)
        .epochs(1, 1)
        .log(Zxid::ZERO, &[zxid(1, 1)])
        .committed(zxid(1, 1))
}

fn inform(z: Zxid) -> QuorumPacket {
    QuorumPacket::Inform {
        zxid: z,
        data: data(z),
    }
}

#[test]
fn an_observer_logs_and_applies_an_inform() {
    let mut p = in_broadcast(&observer());
    assert_eq!(
        p.step(received(1, inform(zxid(2, 1)))),
        vec![append(zxid(2, 1)), Action::Commit { upto: zxid(2, 1) }]
    );
}

#[test]
fn an_observer_never_acknowledges() {
    let mut p = in_broadcast(&observer());
    drive(&mut p, [received(1, inform(zxid(2, 1)))]);
    assert_eq!(p.step(Event::Persisted { upto: zxid(2, 1) }), vec![]);
}

// ---- an operator's leadership yield (ydld) ----

/// The notification of a peer that backs no one (ClickHouse-style yield, or an observer).
fn backing_no_one(election_epoch: u64) -> crate::wire::Notification {
    notification(
        ServerState::Looking,
        i64::MIN as u64,
        Zxid(i64::MIN),
        election_epoch,
        i64::MIN as u64,
    )
}

fn notify(to: u64, n: crate::wire::Notification) -> Action {
    Action::SendNotification { to: sid(to), n }
}

#[test]
fn a_yielding_leader_goes_back_to_election_backing_no_one() {
    let mut p = leader().leader_established(&[2]);
    assert_eq!(
        p.step(Event::YieldLeadership { yield_ticks: 10 }),
        vec![
            status(ServerState::Looking, ZabPhase::Election, None, 2),
            notify(2, backing_no_one(1)),
            notify(3, backing_no_one(1)),
        ]
    );
}

#[test]
fn a_yielding_leader_backs_a_peer_as_up_to_date_as_itself_and_no_peer_behind_it() {
    let mut p = leader().finalize_wait(5).leader_established(&[2]);
    drive(&mut p, [Event::YieldLeadership { yield_ticks: 10 }]);
    let behind = notification(ServerState::Looking, 3, Zxid::ZERO, 1, 1);
    assert_eq!(
        p.step(Event::Notification {
            from: sid(3),
            n: behind
        }),
        vec![]
    );
    let up_to_date = notification(ServerState::Looking, 2, zxid(1, 1), 1, 2);
    assert_eq!(
        p.step(Event::Notification {
            from: sid(2),
            n: up_to_date.clone()
        }),
        vec![notify(2, up_to_date.clone()), notify(3, up_to_date)]
    );
}

#[test]
fn a_yield_nobody_takes_up_expires_and_the_peer_stands_again() {
    let b = leader();
    let mut p = b.leader_established(&[2]);
    drive(
        &mut p,
        [
            Event::YieldLeadership { yield_ticks: 3 },
            Event::Tick,
            Event::Tick,
        ],
    );
    assert_eq!(p.step(Event::Tick), b.back_to_election(zxid(1, 1), 2, 2));
}

#[test]
fn only_an_established_leader_yields() {
    let mut p = leader().leader_syncing(&[2]);
    assert_eq!(p.step(Event::YieldLeadership { yield_ticks: 3 }), vec![]);
    let mut f = PeerBuilder::new(2)
        .epochs(1, 1)
        .log(Zxid::ZERO, &[zxid(1, 1)])
        .learner_in_broadcast(1, 2);
    assert_eq!(f.step(Event::YieldLeadership { yield_ticks: 3 }), vec![]);
}

#[test]
fn a_synced_follower_outside_the_voters_counts_as_non_voting() {
    use crate::wire::{LearnerInfo, PROTOCOL_VERSION};
    let b = leader().ensemble(3, 1);
    let mut p = b.leader_established(&[2, 3]);
    let s = p.learners();
    assert_eq!((s.synced_followers, s.synced_non_voting_followers), (2, 0));
    // Server 4 is the view's observer, yet connects as a follower (FOLLOWERINFO).
    let info = LearnerInfo {
        sid: sid(4),
        protocol_version: PROTOCOL_VERSION,
        config_version: 0,
    };
    let e = b.next_epoch();
    drive(
        &mut p,
        [
            received(
                4,
                QuorumPacket::FollowerInfo {
                    accepted_epoch: crate::Epoch(e),
                    info,
                    zk_rs: true,
                },
            ),
            received(4, b.ack_epoch_at_our_last()),
            received(4, QuorumPacket::Ack { zxid: zxid(e, 0) }),
        ],
    );
    let s = p.learners();
    assert_eq!(s.followers, 3, "{s:?}");
    assert_eq!(s.synced_followers, 3, "{s:?}");
    assert_eq!(s.synced_non_voting_followers, 1, "{s:?}");
}
