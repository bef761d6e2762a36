//! Dynamic reconfiguration in the protocol: a reconfig is an ordinary proposal whose
//! commit switches the quorum view (ZooKeeper's `Leader.tryToCommit` /
//! `commitAndActivate` / `informAndActivate`, `Follower.processPacket`,
//! `QuorumPeer.processReconfig`).
//!
//! * A transaction of type 16 (reconfig) carries the new membership as the data of a
//!   `SetDataTxn` on `/zookeeper/config`: the text `QuorumVerifier.toString()` writes,
//!   `server.N=...` lines and `version=<hex>`. Leader and learners remember it when
//!   they log the proposal ([`Pending`], Apache's last seen verifier).
//! * While it is pending, the leader commits it (and anything after it) only with a
//!   quorum of the old *and* of the new voters.
//! * Its commit goes out as COMMITANDACTIVATE (data: the designated leader's id, 8
//!   bytes) to followers and INFORMANDACTIVATE (the id, then the proposal's data) to
//!   observers; every server then activates the new view ([`Action::Activate`]).
//! * NEWLEADER carries the leader's last seen view (the pending one, if any: Apache's
//!   `getQuorumVerifierBytes`); a learner that missed a reconfig adopts it at UPTODATE,
//!   once the leader is established, when it is newer than its own and not a reconfig
//!   it holds uncommitted (`Learner.syncWithLeader`'s `newLeaderQV`).
//!
//! * A leader the reconfig leaves out of the voters names a successor in
//!   COMMITANDACTIVATE as Apache's `getDesignatedLeader` does: the new voter that
//!   acknowledged the most after the reconfig (Apache followers go straight to it).
//!
//! * The handover in place (Apache's `allowedToCommit`, `reconfigFlag`): that commit is
//!   the old leader's last; it keeps leading until its learners have left for the
//!   successor (or `syncLimit` passed), then follows it. A learner told of another
//!   leader goes straight to it, and the designated server starts leading, with no
//!   election ([`crate::peer::Peer::activate`], `hand_over_to`).
//! * A new leader that finishes a previous leader's pending reconfig at establishment
//!   (NEWLEADER acknowledged by a quorum of both views) and is left out by it does the
//!   same (Apache's `startZkServer`): it names the successor among the new voters that
//!   acknowledged NEWLEADER, commits nothing more, and tells its learners of ours with
//!   COMMITANDACTIVATE right before UPTODATE, so they go straight to the successor
//!   instead of electing (`crate::sync`'s `announce_successor`). Apache's learners elect,
//!   as they do under an Apache leader.
//! * An observer the reconfig makes a voter, or a voter it makes an observer, reconnects
//!   to its leader as the new kind (OBSERVERINFO / FOLLOWERINFO) without an election.
//!
//! * A COMMITANDACTIVATE a learner receives while it is still being synchronised is
//!   kept with its successor; the learner hands over when UPTODATE commits it (Apache's
//!   `syncWithLeader` leaves at once).

use std::sync::Arc;

use bytes::{BufMut, Bytes};

use crate::jute::Record;
use crate::proto::op;
use crate::quorum::{from_properties, QuorumVerifier};
use crate::txn::{Txn, TxnBody};
use crate::{ServerId, Zxid};

/// A configuration proposed (and logged) but not yet committed.
#[derive(Debug, Clone)]
pub struct Pending {
    pub zxid: Zxid,
    pub quorum: Arc<dyn QuorumVerifier>,
    /// The membership text, as it travels in NEWLEADER and notifications.
    pub data: Bytes,
}

/// The membership text of a serialized reconfig transaction; `None` for any other.
pub fn config_of_txn(data: &[u8]) -> Option<Bytes> {
    // The header's type sits after clientId (8), cxid (4), zxid (8) and time (8).
    let t = data.get(28..32)?;
    if i32::from_be_bytes(t.try_into().ok()?) != op::RECONFIG {
        return None;
    }
    match Txn::from_bytes(data).ok()?.body {
        TxnBody::SetData(s) => s.data,
        _ => None,
    }
}

/// The voting view and version of a membership text; `None` if it is not one.
pub fn parse_config(data: &[u8]) -> Option<(Arc<dyn QuorumVerifier>, i64)> {
    let text = std::str::from_utf8(data).ok()?;
    let mut props = Vec::new();
    let mut version = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.trim() == "version" {
            version = i64::from_str_radix(v.trim(), 16).ok();
        } else {
            props.push((k, v));
        }
    }
    let q = from_properties(&props).ok()?;
    Some((Arc::from(q), version?))
}

/// A pending configuration from a logged proposal, if it is a reconfig.
pub fn pending_of(zxid: Zxid, txn: &[u8]) -> Option<Pending> {
    let data = config_of_txn(txn)?;
    let (quorum, _) = parse_config(&data)?;
    Some(Pending { zxid, quorum, data })
}

/// A serialized reconfig transaction carrying `text` (for the simulator and tests;
/// the server's prep builds its own).
pub fn reconfig_txn(text: &str) -> Bytes {
    Bytes::from(
        Txn {
            header: crate::txn::TxnHeader {
                client_id: 1,
                cxid: 1,
                zxid: Zxid(0),
                time: 0,
                txn_type: op::RECONFIG,
            },
            body: TxnBody::SetData(crate::txn::SetDataTxn {
                path: "/zookeeper/config".into(),
                data: Some(Bytes::from(text.to_owned())),
                version: -1,
            }),
            digest: None,
        }
        .to_bytes(),
    )
}

/// COMMITANDACTIVATE's data: the designated leader.
pub fn activate_data(leader: ServerId) -> Bytes {
    Bytes::copy_from_slice(&leader.0.to_be_bytes())
}

/// INFORMANDACTIVATE's data: the designated leader, then the proposal's data.
pub fn inform_activate_data(leader: ServerId, proposal: &[u8]) -> Bytes {
    let mut b = Vec::with_capacity(8 + proposal.len());
    b.put_u64(leader.0);
    b.extend_from_slice(proposal);
    Bytes::from(b)
}

/// The designated leader of an activate packet, and what follows it.
pub fn split_activate(data: &[u8]) -> Option<(ServerId, &[u8])> {
    let id = data.get(..8)?;
    Some((
        ServerId(u64::from_be_bytes(id.try_into().ok()?)),
        &data[8..],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reconfig_txn(text: &str) -> Vec<u8> {
        super::reconfig_txn(text).to_vec()
    }

    #[test]
    fn a_reconfig_txn_carries_its_view() {
        let text = "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
                    server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\n\
                    server.4=127.0.0.1:2891:3891:observer;0.0.0.0:2184\n\
                    version=100000005";
        let p = pending_of(Zxid(0x1_0000_0005), &reconfig_txn(text)).unwrap();
        assert_eq!(p.quorum.voting_members(), &[ServerId(1), ServerId(2)]);
        assert_eq!(p.quorum.observers(), &[ServerId(4)]);
        assert_eq!(parse_config(&p.data).unwrap().1, 0x1_0000_0005);
    }

    #[test]
    fn activate_layouts_are_apaches() {
        assert_eq!(&activate_data(ServerId(3))[..], &[0, 0, 0, 0, 0, 0, 0, 3]);
        let d = inform_activate_data(ServerId(2), b"txn");
        assert_eq!(split_activate(&d), Some((ServerId(2), &b"txn"[..])));
    }

    // ---- the protocol, one event at a time (crate::testing) ----

    use crate::peer::{Action, Event, Peer};
    use crate::testing::*;
    use crate::wire::{QuorumPacket, ServerState};

    fn view(ids: &[u64]) -> String {
        let mut t = String::new();
        for id in ids {
            t.push_str(&format!(
                "server.{id}=127.0.0.1:{}:{}:participant;0.0.0.0:{}\n",
                2887 + id,
                3887 + id,
                2180 + id
            ));
        }
        t
    }

    /// A reconfig transaction proposed at `z` for voters `ids`, version `z`.
    fn reconfig_at(z: Zxid, ids: &[u64]) -> Bytes {
        let text = format!("{}version={:x}", view(ids), z.0);
        let mut t = Txn::from_bytes(&reconfig_txn(&text)).unwrap();
        t.header.zxid = z;
        Bytes::from(t.to_bytes())
    }

    fn leader_of_three_with(learners: &[u64]) -> Peer {
        PeerBuilder::new(1)
            .epochs(1, 1)
            .log(Zxid::ZERO, &[zxid(1, 1)])
            .committed(zxid(1, 1))
            .leader_established(learners)
    }

    fn ack(from: u64, z: Zxid) -> Event {
        received(from, QuorumPacket::Ack { zxid: z })
    }

    fn activated(actions: &[Action]) -> Option<i64> {
        actions.iter().find_map(|a| match a {
            Action::Activate { version, .. } => Some(*version),
            _ => None,
        })
    }

    #[test]
    fn a_reconfig_commits_with_a_quorum_of_the_old_and_of_the_new_voters() {
        // Old voters 1, 2, 3; new voters 1, 3, 4 (4 is not connected).
        let mut p = leader_of_three_with(&[2, 3]);
        let z = zxid(2, 1);
        drive(
            &mut p,
            [
                Event::Propose(reconfig_at(z, &[1, 3, 4])),
                Event::Persisted { upto: z },
            ],
        );
        // 1 and 2 are a quorum of the old voters only.
        assert_eq!(p.step(ack(2, z)), vec![]);
        assert_eq!(p.last_committed(), zxid(1, 1));
        // With 3, a quorum of both: COMMITANDACTIVATE names this leader, then the view.
        let out = p.step(ack(3, z));
        let designated = activate_data(ServerId(1));
        assert_eq!(
            out[..3],
            [
                send(
                    2,
                    QuorumPacket::CommitAndActivate {
                        zxid: z,
                        data: designated.clone()
                    }
                ),
                send(
                    3,
                    QuorumPacket::CommitAndActivate {
                        zxid: z,
                        data: designated
                    }
                ),
                Action::Commit { upto: z },
            ]
        );
        assert_eq!(activated(&out), Some(z.0));
        assert_eq!(p.state(), ServerState::Leading);
        // The next proposal needs a quorum of 1, 3, 4: server 2's ACK no longer counts.
        let z2 = zxid(2, 2);
        drive(
            &mut p,
            [Event::Propose(data(z2)), Event::Persisted { upto: z2 }],
        );
        assert_eq!(p.step(ack(2, z2)), vec![]);
        assert!(p.step(ack(3, z2)).contains(&Action::Commit { upto: z2 }));
    }

    /// The handover in place (Apache's `allowedToCommit`): the leader the reconfig
    /// removes commits it, naming its successor, keeps leading without committing
    /// anything more, and follows the successor once its learners have left, without
    /// an election.
    #[test]
    fn a_leader_the_reconfig_removes_hands_over_in_place() {
        let mut p = leader_of_three_with(&[2, 3]);
        let z = zxid(2, 1);
        drive(
            &mut p,
            [
                Event::Propose(reconfig_at(z, &[2, 3])),
                Event::Persisted { upto: z },
                ack(2, z),
            ],
        );
        let out = p.step(ack(3, z));
        assert_eq!(
            out[0],
            send(
                2,
                QuorumPacket::CommitAndActivate {
                    zxid: z,
                    data: activate_data(ServerId(2))
                }
            )
        );
        assert_eq!(activated(&out), Some(z.0));
        assert_eq!(p.state(), ServerState::Leading);
        // Still leading, but nothing more commits under it.
        let z2 = zxid(2, 2);
        drive(
            &mut p,
            [Event::Propose(data(z2)), Event::Persisted { upto: z2 }],
        );
        let mut out = p.step(ack(2, z2));
        out.extend(p.step(ack(3, z2)));
        assert!(
            !out.iter().any(|a| matches!(a, Action::Commit { .. })),
            "{out:?}"
        );
        assert_eq!(p.last_committed(), z);
        // One learner left: the other may still have its COMMITANDACTIVATE on the way.
        drive(
            &mut p,
            [Event::Disconnected { peer: ServerId(2) }, Event::Tick],
        );
        assert_eq!(p.state(), ServerState::Leading);
        // Both gone: follow the successor, no election on the way.
        p.step(Event::Disconnected { peer: ServerId(3) });
        let out = p.step(Event::Tick);
        assert!(
            !out.iter()
                .any(|a| matches!(a, Action::StateChanged(s) if s.state == ServerState::Looking)),
            "{out:?}"
        );
        assert_eq!(p.state(), ServerState::Following);
        assert_eq!(p.leader(), Some(ServerId(2)));
        assert!(
            out.iter().any(|a| matches!(
                a,
                Action::Send {
                    to: ServerId(2),
                    msg: QuorumPacket::FollowerInfo { .. }
                }
            )),
            "{out:?}"
        );
    }

    /// The successor COMMITANDACTIVATE names is the new voter that acknowledged the most
    /// after the reconfig (Apache's getDesignatedLeader): an Apache follower goes straight
    /// to it, so it had better be up to date.
    #[test]
    fn the_successor_is_the_most_up_to_date_new_voter() {
        let mut p = leader_of_three_with(&[2, 3]);
        let z = zxid(2, 1);
        let z2 = zxid(2, 2);
        drive(
            &mut p,
            [
                Event::Propose(reconfig_at(z, &[2, 3])),
                Event::Propose(data(z2)),
                Event::Persisted { upto: z2 },
                ack(2, z),
            ],
        );
        // 3 acknowledges past the reconfig: a quorum of both views has it, and 3, having
        // acknowledged more than 2, is the successor. The reconfig is this leader's last
        // commit: z2 is left to the successor.
        let out = p.step(ack(3, z2));
        assert!(out.contains(&Action::Commit { upto: z }), "{out:?}");
        assert!(!out.contains(&Action::Commit { upto: z2 }), "{out:?}");
        for to in [2, 3] {
            assert!(
                out.contains(&send(
                    to,
                    QuorumPacket::CommitAndActivate {
                        zxid: z,
                        data: activate_data(ServerId(3))
                    }
                )),
                "{out:?}"
            );
        }
        assert_eq!(p.state(), ServerState::Leading);
    }

    #[test]
    fn a_follower_activates_on_commitandactivate_and_goes_to_the_designated_leader() {
        let b = PeerBuilder::new(2)
            .epochs(1, 1)
            .log(Zxid::ZERO, &[zxid(1, 1)])
            .committed(zxid(1, 1));
        let z = zxid(2, 1);
        for (designated, stays) in [(1, true), (3, false)] {
            let mut p = b.learner_in_broadcast(1, 2);
            drive(
                &mut p,
                [
                    received(
                        1,
                        QuorumPacket::Proposal {
                            zxid: z,
                            data: reconfig_at(z, &[1, 2, 3, 4]),
                        },
                    ),
                    Event::Persisted { upto: z },
                ],
            );
            let out = p.step(received(
                1,
                QuorumPacket::CommitAndActivate {
                    zxid: z,
                    data: activate_data(ServerId(designated)),
                },
            ));
            assert_eq!(out[0], Action::Commit { upto: z });
            assert_eq!(activated(&out), Some(z.0));
            // Following either way: the designated leader at once, without an election.
            assert_eq!(p.state(), ServerState::Following);
            assert_eq!(p.leader(), Some(ServerId(designated)));
            let connects = out.iter().any(|a| {
                matches!(a, Action::Send { to, msg: QuorumPacket::FollowerInfo { .. } } if *to == ServerId(designated))
            });
            assert_eq!(connects, !stays, "{designated}: {out:?}");
            assert!(
                !out.iter().any(
                    |a| matches!(a, Action::StateChanged(s) if s.state == ServerState::Looking)
                ),
                "{out:?}"
            );
        }
    }

    /// COMMITANDACTIVATE before UPTODATE (a learner still being synchronised): its
    /// successor is kept, and UPTODATE's commit hands over to it.
    #[test]
    fn commitandactivate_before_uptodate_hands_over_at_uptodate() {
        let b = PeerBuilder::new(2)
            .epochs(1, 1)
            .log(Zxid::ZERO, &[zxid(1, 1)])
            .committed(zxid(1, 1));
        let mut p = b.learner_awaiting_up_to_date(1, 2);
        let z = zxid(2, 1);
        drive(
            &mut p,
            [
                received(
                    1,
                    QuorumPacket::Proposal {
                        zxid: z,
                        data: reconfig_at(z, &[2, 3]),
                    },
                ),
                Event::Persisted { upto: z },
                received(
                    1,
                    QuorumPacket::CommitAndActivate {
                        zxid: z,
                        data: activate_data(ServerId(3)),
                    },
                ),
            ],
        );
        assert_eq!(p.leader(), Some(ServerId(1)));
        let out = p.step(received(1, QuorumPacket::UpToDate { zxid: z }));
        assert!(out.contains(&Action::Commit { upto: z }), "{out:?}");
        assert_eq!(activated(&out), Some(z.0));
        assert_eq!(p.state(), ServerState::Following);
        assert_eq!(p.leader(), Some(ServerId(3)), "{out:?}");
    }

    /// An observer's side of it: INFORMANDACTIVATE for the reconfig it already has from
    /// the sync names the successor, which the observer follows once UPTODATE commits.
    #[test]
    fn an_observer_of_a_new_leader_left_out_goes_to_the_successor_at_uptodate() {
        let z = zxid(1, 2);
        let b = PeerBuilder::new(4)
            .ensemble(3, 1)
            .epochs(1, 1)
            .log(Zxid::ZERO, &[zxid(1, 1)])
            .committed(zxid(1, 1));
        let mut p = b.learner_syncing(1, 2);
        assert_eq!(p.state(), ServerState::Observing);
        let txn = reconfig_at(z, &[2, 3]);
        drive(
            &mut p,
            [
                received(
                    1,
                    QuorumPacket::Proposal {
                        zxid: z,
                        data: txn.clone(),
                    },
                ),
                received(1, QuorumPacket::Commit { zxid: z }),
                received(1, new_leader(2)),
                Event::Persisted { upto: z },
                Event::CurrentEpochSaved(crate::Epoch(2)),
                received(
                    1,
                    QuorumPacket::InformAndActivate {
                        zxid: z,
                        data: inform_activate_data(ServerId(2), &txn),
                    },
                ),
            ],
        );
        let out = p.step(received(1, QuorumPacket::UpToDate { zxid: z }));
        assert_eq!(activated(&out), Some(z.0), "{out:?}");
        assert_eq!(p.leader(), Some(ServerId(2)), "{out:?}");
        assert!(
            !out.iter()
                .any(|a| matches!(a, Action::StateChanged(s) if s.state == ServerState::Looking)),
            "{out:?}"
        );
    }

    /// The view NEWLEADER carries (a view this learner missed) is kept until UPTODATE, as
    /// Apache's `newLeaderQV`: the leader is not established before, and its view may be
    /// one it is about to finish. UPTODATE's commit point covers its reconfig: committed.
    #[test]
    fn a_learner_adopts_a_newer_view_from_newleader_at_uptodate() {
        let b = PeerBuilder::new(2)
            .epochs(1, 1)
            .log(Zxid::ZERO, &[zxid(1, 1)])
            .committed(zxid(1, 1));
        let mut p = b.learner_syncing(1, 2);
        let text = format!("{}version=100000007", view(&[1, 2]));
        let mut out = p.step(received(
            1,
            QuorumPacket::NewLeader {
                zxid: zxid(2, 0),
                config: Bytes::from(text),
            },
        ));
        out.extend(p.step(Event::CurrentEpochSaved(crate::Epoch(2))));
        assert_eq!(activated(&out), None, "{out:?}");
        let out = p.step(received(1, QuorumPacket::UpToDate { zxid: zxid(1, 7) }));
        assert_eq!(activated(&out), Some(0x1_0000_0007));
        // An older one (or none) is not.
        let mut p = b.learner_awaiting_up_to_date(1, 2);
        let out = p.step(received(1, QuorumPacket::UpToDate { zxid: zxid(1, 1) }));
        assert_eq!(activated(&out), None);
    }

    /// A leader holding a reconfig as pending sends its view in NEWLEADER (Apache's last
    /// seen verifier), so that an Apache learner activates it at UPTODATE once this leader
    /// finished it.
    #[test]
    fn newleader_carries_the_pending_view() {
        let z = zxid(1, 2);
        let pending = reconfig_at(z, &[1, 2, 4]);
        let b = PeerBuilder::new(1)
            .epochs(1, 1)
            .log(Zxid::ZERO, &[zxid(1, 1), z])
            .payload(z, pending)
            .committed(zxid(1, 1));
        let mut p = b.leader_awaiting_ack_epoch(&[2]);
        let out = p.step(received(2, b.ack_epoch_at_our_last()));
        let config = out
            .iter()
            .find_map(|a| match a {
                Action::Send {
                    msg: QuorumPacket::NewLeader { config, .. },
                    ..
                } => Some(config.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no NEWLEADER: {out:?}"));
        let (q, version) = parse_config(&config).expect("a view");
        assert_eq!(version, z.0);
        assert_eq!(q.voting_members(), &[ServerId(1), ServerId(2), ServerId(4)]);
    }

    /// An observer the pending view makes a voter is synced to our last zxid before
    /// establishment like a follower, so its ACK of NEWLEADER counts towards the pending
    /// view's quorum (Apache's `Proposal.addAck`): here it is the one that completes it
    /// (reconfig seed 8204969 timed out at every epoch without it).
    #[test]
    fn an_observer_the_pending_view_makes_a_voter_counts_for_establishment() {
        let z = zxid(1, 2);
        let b = PeerBuilder::new(1)
            .ensemble(3, 1)
            .epochs(1, 1)
            .log(Zxid::ZERO, &[zxid(1, 1), z])
            .payload(z, reconfig_at(z, &[1, 3, 4]))
            .committed(zxid(1, 1));
        let mut p = b.leader_syncing(&[2, 4]);
        let newleader = zxid(b.next_epoch(), 0);
        // 1 and 2: a quorum of the view in force only.
        p.step(received(2, QuorumPacket::Ack { zxid: newleader }));
        assert!(!p.can_propose());
        let out = p.step(received(4, QuorumPacket::Ack { zxid: newleader }));
        assert!(p.can_propose(), "{out:?}");
        assert!(out.contains(&Action::Commit { upto: z }), "{out:?}");
        assert_eq!(activated(&out), Some(z.0));
    }

    /// Once established, NEWLEADER carries the view in force, not a reconfig of this
    /// leader's own still in flight: that one is activated by its COMMITANDACTIVATE, and
    /// an Apache learner would activate NEWLEADER's view at UPTODATE, uncommitted.
    #[test]
    fn newleader_of_an_established_leader_carries_the_view_in_force() {
        let b = PeerBuilder::new(1)
            .epochs(1, 1)
            .log(Zxid::ZERO, &[zxid(1, 1)])
            .committed(zxid(1, 1));
        let mut p = b.leader_established(&[2]);
        // New voters 1, 3, 4: with 2's ACK a quorum of the old voters only.
        let z = zxid(2, 1);
        drive(
            &mut p,
            [
                Event::Propose(reconfig_at(z, &[1, 3, 4])),
                Event::Persisted { upto: z },
                ack(2, z),
            ],
        );
        assert_eq!(p.pending_reconfig(), Some(z));
        let mut out = p.step(received(3, b.learner_info(3, 1)));
        out.extend(p.step(received(3, b.ack_epoch_at_our_last())));
        let config = out
            .iter()
            .find_map(|a| match a {
                Action::Send {
                    to: ServerId(3),
                    msg: QuorumPacket::NewLeader { config, .. },
                } => Some(config.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no NEWLEADER: {out:?}"));
        // The reconfig itself is in the DIFF, uncommitted.
        assert!(out.contains(&send(
            3,
            QuorumPacket::Proposal {
                zxid: z,
                data: reconfig_at(z, &[1, 3, 4])
            }
        )));
        assert!(!out.contains(&send(3, QuorumPacket::Commit { zxid: z })));
        assert_eq!(config, p.cfg.config_data, "{out:?}");
    }

    /// ... and a learner that does not hold the reconfig NEWLEADER's view comes from (an
    /// observer is synced to the commit point only) does not adopt it at UPTODATE while
    /// UPTODATE's commit point is below it: it is not committed.
    #[test]
    fn an_uncommitted_view_in_newleader_is_not_adopted() {
        let z = zxid(1, 2);
        let b = PeerBuilder::new(2)
            .epochs(1, 1)
            .log(Zxid::ZERO, &[zxid(1, 1)])
            .committed(zxid(1, 1));
        let mut p = b.learner_syncing(1, 2);
        let text = format!("{}version={:x}", view(&[1, 2, 4]), z.0);
        drive(
            &mut p,
            [
                received(
                    1,
                    QuorumPacket::NewLeader {
                        zxid: zxid(2, 0),
                        config: Bytes::from(text),
                    },
                ),
                Event::CurrentEpochSaved(crate::Epoch(2)),
            ],
        );
        let out = p.step(received(1, QuorumPacket::UpToDate { zxid: zxid(1, 1) }));
        assert_eq!(activated(&out), None, "{out:?}");
        assert_eq!(p.config_version(), 0);
    }

    /// Reconfig seed 8336346: a looking server took a later view from a notification,
    /// then a DIFF brought it an earlier reconfig of the same history (or one off it, to
    /// be truncated). That reconfig is not pending: the view in force supersedes it. It
    /// was, and its election wanted a quorum of the stale view too, whose only voter was
    /// an observer now (whose notifications do not count): it never joined the leader.
    /// Apache's election counts its last seen view only when it is newer than the one in
    /// force.
    #[test]
    fn a_reconfig_older_than_the_view_in_force_is_not_pending() {
        let stale = zxid(1, 2);
        let b = PeerBuilder::new(2)
            .epochs(1, 1)
            .log(Zxid::ZERO, &[zxid(1, 1)])
            .committed(zxid(1, 1));
        let mut p = b.learner_syncing(1, 2);
        let later = format!("{}version={:x}", view(&[1, 2, 4]), zxid(1, 3).0);
        p.adopt_config(&Bytes::from(later));
        assert_eq!(p.config_version(), zxid(1, 3).0);
        drive(
            &mut p,
            [received(
                1,
                QuorumPacket::Proposal {
                    zxid: stale,
                    data: reconfig_at(stale, &[3]),
                },
            )],
        );
        assert_eq!(p.last_zxid(), stale, "logged all the same");
        assert_eq!(p.pending_reconfig(), None);
        assert_eq!(p.config_version(), zxid(1, 3).0);
        // A newer one is pending, as before.
        let newer = zxid(1, 4);
        drive(
            &mut p,
            [
                received(1, proposal(zxid(1, 3))),
                received(
                    1,
                    QuorumPacket::Proposal {
                        zxid: newer,
                        data: reconfig_at(newer, &[1, 2, 3]),
                    },
                ),
            ],
        );
        assert_eq!(p.pending_reconfig(), Some(newer));
    }

    /// A learner that holds that same reconfig pending (logged, not committed) does not
    /// activate it at UPTODATE either: only its commit does.
    #[test]
    fn a_pending_view_in_newleader_waits_for_its_commit() {
        let z = zxid(1, 2);
        let b = PeerBuilder::new(2)
            .epochs(1, 1)
            .log(Zxid::ZERO, &[zxid(1, 1), z])
            .payload(z, reconfig_at(z, &[1, 2, 4]))
            .committed(zxid(1, 1));
        let mut p = b.learner_syncing(1, 2);
        let text = format!("{}version={:x}", view(&[1, 2, 4]), z.0);
        drive(
            &mut p,
            [
                received(
                    1,
                    QuorumPacket::NewLeader {
                        zxid: zxid(2, 0),
                        config: Bytes::from(text),
                    },
                ),
                Event::CurrentEpochSaved(crate::Epoch(2)),
            ],
        );
        let out = p.step(received(1, QuorumPacket::UpToDate { zxid: zxid(1, 1) }));
        assert_eq!(activated(&out), None, "{out:?}");
        assert_eq!(p.pending_reconfig(), Some(z));
        let out = p.step(received(
            1,
            QuorumPacket::CommitAndActivate {
                zxid: z,
                data: activate_data(ServerId(1)),
            },
        ));
        assert_eq!(activated(&out), Some(z.0));
    }

    #[test]
    fn a_looking_peer_adopts_a_newer_view_from_a_notification() {
        let mut p = PeerBuilder::new(3).looking();
        let text = format!("{}version=100000009", view(&[1, 2]));
        let mut n = notification(ServerState::Following, 1, zxid(1, 9), 1, 1);
        n.config = Bytes::from(text);
        let out = p.step(Event::Notification {
            from: ServerId(1),
            n,
        });
        assert_eq!(activated(&out), Some(0x1_0000_0009));
        assert_eq!(p.voting_members(), vec![ServerId(1), ServerId(2)]);
        assert_eq!(p.state(), ServerState::Looking);
    }

    /// A previous leader's reconfig, logged here and never known committed (Apache's
    /// last seen verifier newer than the current one): as leader of the next epoch this
    /// server needs NEWLEADER acknowledged by a quorum of the old voters *and* of the new
    /// ones (Leader.lead's `newLeaderProposal.addQuorumVerifier(lastSeenQV)`); until then
    /// it is not established, so it takes no request and no other reconfig (Apache: no
    /// server, so no ReconfigInProgress to give either). Established, it commits its
    /// history and activates that view (`processReconfig(lastSeenQV, ...)` after
    /// `waitForNewLeaderAck`), so a reconfig after it starts from the new view.
    #[test]
    fn a_new_leader_finishes_the_previous_leaders_pending_reconfig() {
        let z = zxid(1, 2);
        // Old voters 1, 2, 3; the pending view: 1, 2, 4.
        let b = PeerBuilder::new(1)
            .epochs(1, 1)
            .log(Zxid::ZERO, &[zxid(1, 1), z])
            .payload(z, reconfig_at(z, &[1, 2, 4]))
            .committed(zxid(1, 1));
        let mut p = b.leader_syncing(&[2, 3]);
        assert_eq!(p.config_version(), 0, "not active before it commits");
        let e = b.next_epoch();
        // 3 makes a quorum of the old voters only: not established.
        let out = p.step(received(3, QuorumPacket::Ack { zxid: zxid(e, 0) }));
        assert!(
            !p.can_propose(),
            "established without the new voters: {out:?}"
        );
        assert_eq!(activated(&out), None);
        // 2 makes one of the new voters too: established, the reconfig committed and
        // its view active.
        let out = p.step(received(2, QuorumPacket::Ack { zxid: zxid(e, 0) }));
        assert!(p.can_propose());
        assert!(out.contains(&Action::Commit { upto: z }), "{out:?}");
        assert_eq!(activated(&out), Some(z.0));
        assert_eq!(
            p.voting_members(),
            vec![ServerId(1), ServerId(2), ServerId(4)]
        );
        assert_eq!(p.state(), ServerState::Leading);
    }

    /// The same with the new leader left out of the pending view (Apache's
    /// `startZkServer`: `getDesignatedLeader(newLeaderProposal)`, `allowedToCommit =
    /// false`): established, it activates the view in which it no longer votes, names
    /// the successor among the new voters that acknowledged NEWLEADER, tells its learners
    /// with COMMITANDACTIVATE before UPTODATE, commits nothing more and, once they have
    /// left, follows the successor without an election.
    #[test]
    fn a_new_leader_the_pending_reconfig_removes_hands_over_in_place() {
        let z = zxid(1, 2);
        let b = PeerBuilder::new(1)
            .epochs(1, 1)
            .log(Zxid::ZERO, &[zxid(1, 1), z])
            .payload(z, reconfig_at(z, &[2, 3]))
            .committed(zxid(1, 1));
        let mut p = b.leader_syncing(&[2, 3]);
        let e = b.next_epoch();
        let mut out = p.step(received(2, QuorumPacket::Ack { zxid: zxid(e, 0) }));
        out.extend(p.step(received(3, QuorumPacket::Ack { zxid: zxid(e, 0) })));
        assert_eq!(activated(&out), Some(z.0), "{out:?}");
        assert_eq!(p.voting_members(), vec![ServerId(2), ServerId(3)]);
        // 2 and 3 acknowledged as much: the lower id succeeds. Each learner hears it
        // right before its UPTODATE.
        for to in [2, 3] {
            let i = out
                .iter()
                .position(|a| {
                    *a == send(
                        to,
                        QuorumPacket::CommitAndActivate {
                            zxid: z,
                            data: activate_data(ServerId(2)),
                        },
                    )
                })
                .unwrap_or_else(|| panic!("no COMMITANDACTIVATE to {to}: {out:?}"));
            assert!(
                matches!(&out[i + 1], Action::Send { to: t, msg: QuorumPacket::UpToDate { .. } } if t.0 == to),
                "{out:?}"
            );
        }
        assert_eq!(p.state(), ServerState::Leading);
        assert!(!p.can_propose(), "a leader handing over takes no writes");
        // Its learners leave for 2: it follows 2, no election on the way.
        drive(
            &mut p,
            [
                Event::Disconnected { peer: ServerId(2) },
                Event::Disconnected { peer: ServerId(3) },
            ],
        );
        let out = p.step(Event::Tick);
        assert!(
            !out.iter()
                .any(|a| matches!(a, Action::StateChanged(s) if s.state == ServerState::Looking)),
            "{out:?}"
        );
        assert_eq!(p.state(), ServerState::Following);
        assert_eq!(p.leader(), Some(ServerId(2)));
    }

    /// The learner's side: the reconfig came in the DIFF, committed with it, and the
    /// COMMITANDACTIVATE before UPTODATE names the successor; UPTODATE activates the view
    /// and the learner goes to the successor (here itself: it leads).
    #[test]
    fn a_learner_of_a_new_leader_left_out_goes_to_the_successor_at_uptodate() {
        let z = zxid(1, 2);
        let b = PeerBuilder::new(2)
            .epochs(1, 1)
            .log(Zxid::ZERO, &[zxid(1, 1)])
            .committed(zxid(1, 1));
        let mut p = b.learner_syncing(1, 2);
        drive(
            &mut p,
            [
                received(
                    1,
                    QuorumPacket::Proposal {
                        zxid: z,
                        data: reconfig_at(z, &[2, 3]),
                    },
                ),
                received(1, QuorumPacket::Commit { zxid: z }),
                received(1, new_leader(2)),
                Event::Persisted { upto: z },
                Event::CurrentEpochSaved(crate::Epoch(2)),
                received(
                    1,
                    QuorumPacket::CommitAndActivate {
                        zxid: z,
                        data: activate_data(ServerId(2)),
                    },
                ),
            ],
        );
        assert_eq!(p.leader(), Some(ServerId(1)));
        let out = p.step(received(1, QuorumPacket::UpToDate { zxid: z }));
        assert_eq!(activated(&out), Some(z.0), "{out:?}");
        assert!(
            !out.iter()
                .any(|a| matches!(a, Action::StateChanged(s) if s.state == ServerState::Looking)),
            "{out:?}"
        );
        assert_eq!(p.state(), ServerState::Leading, "{out:?}");
    }

    #[test]
    fn without_reconfig_enabled_nothing_changes_the_view() {
        let b = PeerBuilder::new(2)
            .epochs(1, 1)
            .log(Zxid::ZERO, &[zxid(1, 1)])
            .committed(zxid(1, 1));
        let mut p = b.learner_syncing(1, 2);
        p.cfg.reconfig_enabled = false;
        let text = format!("{}version=100000007", view(&[1, 2]));
        let mut out = p.step(received(
            1,
            QuorumPacket::NewLeader {
                zxid: zxid(2, 0),
                config: Bytes::from(text),
            },
        ));
        out.extend(p.step(Event::CurrentEpochSaved(crate::Epoch(2))));
        out.extend(p.step(received(1, QuorumPacket::UpToDate { zxid: zxid(1, 7) })));
        assert_eq!(activated(&out), None);
        assert_eq!(p.config_version(), 0);
    }
}
