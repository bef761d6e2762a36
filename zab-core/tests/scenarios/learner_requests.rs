//! How a leader routes what learners forward: client requests, session pings, syncs
//! and revalidations.

use bytes::Bytes;
use zab_core::peer::{Action, Event};
use zab_core::sim::Record;
use zab_core::{QuorumPacket, ServerId, Zxid};

use crate::support::*;

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
