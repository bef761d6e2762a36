//! Regressions of Apache ZooKeeper's dynamic reconfiguration bugs, each named after its
//! JIRA or after the case of Apache's `ReconfigRecoveryTest` it replays.
//!
//! Each story runs on the simulator, whose invariants are checked after every event: at
//! most one established leader per epoch, committed prefixes agree and only grow (no
//! committed write lost), the committed history stays durable on a quorum of the last
//! committed view, and a reconfig enters it durable on a quorum of the view before it and
//! of its own. Each story ends with every running server in broadcast under one leader,
//! running the expected view, the reconfig that made it committed, and a write
//! committed in it ([`ends_committed_in_view`]).

use zab_core::peer::{Action, ZabPhase};
use zab_core::sim::{Record, Sim, INITIAL_VERSION};
use zab_core::{QuorumPacket, ServerState, Zxid};

use crate::support::*;

/// [`ends_in_view`], and the reconfig that made the view is in the committed history.
fn ends_committed_in_view(sim: &mut Sim, z: Zxid, voters: &[u64], within: u64) -> u64 {
    let l = ends_in_view(sim, z, voters, within);
    if !in_history(sim, z) {
        sim.fail(&format!("view {z} is in force but not committed"));
    }
    l
}

/// The two servers of three other than `l`, in ascending order.
fn others(l: u64) -> (u64, u64) {
    let o: Vec<u64> = [1, 2, 3].into_iter().filter(|i| *i != l).collect();
    (o[0], o[1])
}

/// Fails unless `z` is durable on every server of `sids` within 100 ticks.
fn wait_durable(sim: &mut Sim, sids: &[u64], z: Zxid) {
    let sids = sids.to_vec();
    if !sim.run_until(100, |s| sids.iter().all(|x| s.node(*x).is_durable(z))) {
        sim.fail(&format!("{z} never durable on {sids:?}"));
    }
}

/// Whether `r` is `sid` becoming an established leader.
fn establishes(r: &Record, sid: u64) -> bool {
    matches!(
        r.action_of(sid),
        Some(Action::StateChanged(st))
            if st.state == ServerState::Leading && st.phase == ZabPhase::Broadcast
    )
}

/// ZOOKEEPER-2172 (Apache's ReconfigDuringLeaderSyncTest): a server joining the ensemble
/// received the reconfig that adds it while it was still being synchronised: NEWLEADER,
/// then the reconfig's PROPOSAL and COMMITANDACTIVATE, then UPTODATE. Apache's learner
/// did not process the reconfig in that window, so the joiner kept its joining config
/// (itself and the leader) and the cluster crashed on the mismatch.
///
/// Here the spare 4 joins as a non-voting follower with its log stalled, so that it
/// cannot acknowledge NEWLEADER; the reconfig adding it commits with 1, 2 and 3 while it
/// waits. Once its log moves, it must come out of the sync with the new view (it started,
/// as Apache's joiner, from its partial joining config, and took the ensemble's view from
/// the election: what matters is the view it has after UPTODATE), and count as a voter:
/// with one of the old voters down, writes commit only with its ACK.
#[test]
fn zookeeper_2172_a_joiner_gets_the_reconfig_between_newleader_and_uptodate() {
    scenario_with_spares(
        "zookeeper_2172_a_joiner_gets_the_reconfig_between_newleader_and_uptodate",
        3,
        1,
        |sim| {
            for s in 1..=3 {
                sim.start(s);
            }
            let l = settle(sim);
            commit(sim, 2);
            sim.stall_log(4);
            sim.start(4);
            sim.run_until_event(
                100,
                received(4, |m| matches!(m, QuorumPacket::NewLeader { .. })),
            )
            .unwrap_or_else(|| sim.fail("NEWLEADER never reached the joiner"));
            let z = propose_view(sim, l, &[1, 2, 3, 4], &[]).expect("the leader takes it");
            sim.run_until_event(
                100,
                received(
                    4,
                    move |m| matches!(m, QuorumPacket::CommitAndActivate { zxid, .. } if *zxid == z),
                ),
            )
            .unwrap_or_else(|| sim.fail("COMMITANDACTIVATE never reached the joiner"));
            let p = sim.peer(4).expect("running");
            if p.is_broadcasting() || p.config_version() == z.0 {
                sim.fail("the joiner was not in its sync when the reconfig committed");
            }
            sim.unstall_disk(4);
            let l = ends_committed_in_view(sim, z, &[1, 2, 3, 4], 200);
            // 4 votes: three of four are a quorum, and 4 is one of the three left.
            let down = [1, 2, 3].into_iter().find(|s| *s != l).expect("a follower");
            sim.crash(down);
            commit(sim, 2);
            sim.start(down);
            ends_committed_in_view(sim, z, &[1, 2, 3, 4], 200);
        },
    );
}

/// ZOOKEEPER-2172's joiner, as Apache's ReconfigTest starts one: its configuration names
/// the members and itself as a participant, with no version (0), while the ensemble's view
/// has the version of its first establishment. It backs itself in its own view, which no
/// member counts, takes the ensemble's view from the first answer it hears (as
/// `FastLeaderElection` does with a notification's newer config) and writes it to its
/// file, and joins as a non-voting follower; nobody else's view changes.
#[test]
fn zookeeper_2172_a_joiner_starts_from_its_partial_config_and_takes_the_ensembles_view() {
    scenario_with_spares(
        "zookeeper_2172_a_joiner_starts_from_its_partial_config_and_takes_the_ensembles_view",
        3,
        1,
        |sim| {
            for s in 1..=3 {
                sim.start(s);
            }
            let l = settle(sim);
            commit(sim, 2);
            sim.start(4);
            let p = sim.peer(4).expect("running");
            let own: Vec<u64> = p.voting_members().iter().map(|s| s.0).collect();
            if p.config_version() != 0 || own != [1, 2, 3, 4] {
                sim.fail(&format!(
                    "the joiner starts with view {:x} of {own:?}",
                    p.config_version()
                ));
            }
            settle(sim);
            commit(sim, 2);
            if sim.leader() != Some(l) {
                sim.fail("the joiner changed the leader");
            }
            for s in 1..=4u64 {
                let p = sim.peer(s).expect("running");
                let voters: Vec<u64> = p.voting_members().iter().map(|v| v.0).collect();
                if p.config_version() != INITIAL_VERSION || voters != [1, 2, 3] {
                    sim.fail(&format!(
                        "{s} runs view {:x} of {voters:?}",
                        p.config_version()
                    ));
                }
            }
            if sim.view_file(4).is_none() || sim.view_file(1).is_some() {
                sim.fail("only the joiner writes the view it took");
            }
            if state(sim, 4) != ServerState::Following {
                sim.fail("the joiner does not follow");
            }
        },
    );
}

/// ZOOKEEPER-2080: Apache's ReconfigRecoveryTest failed now and then because of a
/// deadlock between QuorumPeer's synchronized view accessors and QuorumCnxManager's
/// connections (fixed with finer locks); a sans-I/O core has no locks, so what is kept
/// here is the story those tests tell (testNextConfigAlreadyActive): servers of the old
/// view that come back after the new view is in force join it; none is ever elected
/// under the old view.
///
/// A reconfig from {1, 2, 3} to {l, 4, 5} commits while x is down (it never sees it) and
/// y activates it (y no longer votes). Then the whole new view goes down and x returns:
/// x and y are two of the old view's three voters, a quorum of it, and must not elect:
/// nothing may lead, follow or take a new epoch until the new voters are back (y no
/// longer votes, and x learns the new view from y's answers to its notifications, as
/// Apache's WorkerReceiver passes it on). Then everyone ends in the new view.
#[test]
fn zookeeper_2080_the_old_view_elects_no_one_after_the_new_one_is_in_force() {
    scenario_with_spares(
        "zookeeper_2080_the_old_view_elects_no_one_after_the_new_one_is_in_force",
        3,
        2,
        |sim| {
            sim.start_all();
            let l = settle(sim);
            commit(sim, 2);
            let (x, y) = others(l);
            sim.crash(x);
            let mut voters = vec![l, 4, 5];
            voters.sort();
            let z = propose_view(sim, l, &voters, &[]).expect("the leader takes it");
            ends_committed_in_view(sim, z, &voters, 200);
            for s in &voters {
                sim.crash(*s);
            }
            sim.start(x);
            let epochs = |s: &Sim| [x, y].map(|i| s.peer(i).expect("alive").current_epoch());
            let before = epochs(sim);
            run_checking(sim, 150, |s| {
                for i in [x, y] {
                    let st = state(s, i);
                    if st != ServerState::Looking {
                        return Some(format!("{i} is {st:?} with the new view's voters down"));
                    }
                }
                (epochs(s) != before).then(|| "an old voter took a new epoch".to_string())
            });
            // y's answers to x's notifications carry the view in force: x adopts it.
            if sim.peer(x).expect("running").config_version() != z.0 {
                sim.fail(&format!("{x} did not learn the view {z} from {y}"));
            }
            for s in &voters {
                sim.start(*s);
            }
            ends_committed_in_view(sim, z, &voters, 300);
        },
    );
}

/// ZOOKEEPER-1807 (Apache's ReconfigRecoveryTest.testObserverConvertedToParticipantDuringFLE,
/// added with the fix): observers sent election notifications to every server they knew,
/// observers included, and answered each other's, so a looking observer spun in election
/// and flooded the election port. The fix sends notifications to the voters of the view
/// in force and of the pending one only, and lets a server of an old view learn the new
/// view from the notifications it receives.
///
/// Voters {1, 2} with observers 3 and 4; a reconfig makes {2, 3, 5} the voters (3
/// promoted, the spare 5 added) with 4 still an observer, while 3 is down. Then 1 and 2
/// go down and 3 returns with the old view, in which it is an observer: 5 alone cannot
/// elect, and 3 must take the new view from 5's notifications and vote, so that 3 and 5
/// elect. All along, the observer 4 notifies only voters of its view, and the looking
/// servers' notifications stay bounded (no observers answering each other in a loop).
#[test]
fn zookeeper_1807_an_observer_promoted_while_down_votes_after_the_election_tells_it() {
    scenario_shaped(
        "zookeeper_1807_an_observer_promoted_while_down_votes_after_the_election_tells_it",
        2,
        2,
        1,
        |sim| {
            sim.start_all();
            let l = settle(sim);
            commit(sim, 2);
            sim.crash(3);
            let z = propose_view(sim, l, &[2, 3, 5], &[4]).expect("the leader takes it");
            ends_committed_in_view(sim, z, &[2, 3, 5], 300);
            sim.crash(1);
            sim.crash(2);
            sim.record();
            // 4 and 5 alone: no quorum of {2, 3, 5}.
            sim.run_ticks(100);
            let lonely = notifications(sim.recorded());
            sim.start(3);
            ends_committed_in_view(sim, z, &[2, 3, 5], 300);
            let all = notifications(sim.recorded());
            for (from, to) in &all {
                if *from == 4 && ![2, 3, 5].contains(to) {
                    sim.fail(&format!(
                        "the observer 4 notified {to}, no voter of its view"
                    ));
                }
            }
            // Two looking servers, 100 ticks: each resends to at most three voters with
            // a backoff capped at 20 ticks, and 5 answers each of 4's. A loop of
            // answers would send one per delivery (about two per tick).
            if lonely.len() > 60 {
                sim.fail(&format!(
                    "{} notifications in 100 ticks between 4 and 5",
                    lonely.len()
                ));
            }
        },
    );
}

/// `(from, to)` of every election notification sent in `r`.
fn notifications(r: &[Record]) -> Vec<(u64, u64)> {
    r.iter()
        .filter_map(|x| match x {
            Record::Did {
                sid,
                action: Action::SendNotification { to, .. },
                ..
            } => Some((sid.0, to.0)),
            _ => None,
        })
        .collect()
}

/// ZOOKEEPER-2201: a leader syncing a learner by SNAP wrote the snapshot into a socket
/// the network had stalled while holding a lock of the data tree, so every commit
/// waited on that one learner and the whole ensemble hung. Our core writes nothing
/// itself (the snapshot is an action, and the connection the driver's), so the
/// equivalent is a learner whose SNAP and everything after it stay in flight, neither
/// delivered nor failed.
///
/// The spare 4 joins and its connection from the leader stalls right after the leader
/// started its SNAP. Writes, and a reconfig that makes 4 a voter, must commit on 1, 2
/// and 3 meanwhile under the same leader and epoch; released, 4 catches up and runs the
/// new view as a voter.
#[test]
fn zookeeper_2201_a_stalled_snap_to_one_learner_does_not_stall_commits() {
    scenario_with_spares(
        "zookeeper_2201_a_stalled_snap_to_one_learner_does_not_stall_commits",
        3,
        1,
        |sim| {
            for s in 1..=3 {
                sim.start(s);
            }
            let l = settle(sim);
            commit(sim, 2);
            sim.start(4);
            sim.run_until_action(100, move |s, a| {
                s.0 == l && matches!(a, Action::SendSnapshot { to, .. } if to.0 == 4)
            })
            .unwrap_or_else(|| sim.fail("the leader never sent 4 a SNAP"));
            sim.hold(l, 4);
            let epoch = sim.peer(l).expect("leads").current_epoch();
            let mut last = Zxid::ZERO;
            for _ in 0..3 {
                last = sim.propose_at(l).expect("the leader takes writes");
            }
            let z = propose_view(sim, l, &[1, 2, 3, 4], &[]).expect("the leader takes it");
            for _ in 0..3 {
                last = sim.propose_at(l).expect("the leader takes writes");
            }
            wait_applied(sim, &[1, 2, 3], last);
            if sim.leader() != Some(l) || sim.peer(l).expect("leads").current_epoch() != epoch {
                sim.fail("the leader changed while one learner's sync was stalled");
            }
            if !in_history(sim, z) {
                sim.fail("the reconfig did not commit");
            }
            if sim.node(4).applied > 0 {
                sim.fail("4 applied something through the held connection");
            }
            sim.release(l, 4);
            ends_committed_in_view(sim, z, &[1, 2, 3, 4], 300);
        },
    );
}

/// Apache's ReconfigRecoveryTest, a crash between logging and committing (the leader's
/// `.next` file without the new view in force), when the proposal survives: the leader
/// proposes removing itself from {1, 2, 3}; y logs it, x never sees it, and no ACK
/// reaches the leader before it crashes. y, with the longer log, leads x under the old
/// view; it may establish only with a quorum of the old voters *and* of the new ones
/// (x and y are both), and commits and activates the view as it does. The old leader
/// returns as a non-voting follower.
#[test]
fn reconfig_recovery_a_logged_reconfig_the_next_leader_holds_is_committed() {
    scenario(
        "reconfig_recovery_a_logged_reconfig_the_next_leader_holds_is_committed",
        3,
        0,
        |sim| {
            sim.start_all();
            let l = settle(sim);
            commit(sim, 2);
            let (x, y) = others(l);
            sim.hold(l, x);
            sim.hold(y, l);
            let voters = vec![x, y];
            let z = propose_view(sim, l, &voters, &[]).expect("the leader takes it");
            wait_durable(sim, &[l, y], z);
            if in_history(sim, z) {
                sim.fail("committed although no ACK reached the leader");
            }
            sim.crash(l);
            sim.release_all();
            let l2 = ends_committed_in_view(sim, z, &voters, 300);
            if l2 != y {
                sim.fail(&format!("{l2} leads, not {y} which holds the reconfig"));
            }
            sim.start(l);
            ends_committed_in_view(sim, z, &voters, 300);
            if sim.peer(l).expect("running").state() != ServerState::Following {
                sim.fail("the removed leader does not follow");
            }
        },
    );
}

/// The other outcome of that crash: only the leader logged the reconfig. x and y lead on
/// under the old view and commit writes; the old leader returns, its reconfig is
/// truncated, and the view it proposed is never in force anywhere: a view becomes active
/// only if its reconfig commits.
#[test]
fn reconfig_recovery_a_reconfig_only_the_crashed_leader_logged_never_activates() {
    scenario(
        "reconfig_recovery_a_reconfig_only_the_crashed_leader_logged_never_activates",
        3,
        0,
        |sim| {
            sim.start_all();
            let l = settle(sim);
            commit(sim, 2);
            let (x, y) = others(l);
            sim.hold(l, x);
            sim.hold(l, y);
            let z = propose_view(sim, l, &[x, y], &[]).expect("the leader takes it");
            wait_durable(sim, &[l], z);
            sim.crash(l);
            sim.release_all();
            let never_active = |s: &Sim| {
                (1..=3)
                    .find(|i| s.peer(*i).is_some_and(|p| p.config_version() == z.0))
                    .map(|i| format!("{i} activated the uncommitted view {z}"))
            };
            run_checking(sim, 100, never_active);
            settle(sim);
            commit(sim, 2);
            sim.start(l);
            run_checking(sim, 100, never_active);
            settle(sim);
            commit(sim, 1);
            for i in 1..=3u64 {
                let p = sim.peer(i).expect("running");
                if p.config_version() != 0 || p.voting_members().len() != 3 {
                    sim.fail(&format!(
                        "{i} runs view {:x} of {:?}",
                        p.config_version(),
                        p.voting_members()
                    ));
                }
                if sim.node(i).zxids().contains(&z) {
                    sim.fail(&format!("{i} still holds the reconfig {z}"));
                }
            }
            if in_history(sim, z) {
                sim.fail("the reconfig was committed");
            }
        },
    );
}

/// A new leader left out of the view it finishes: the leader l proposes replacing m by
/// the spare 4 in {1, 2, 3}, every server but l logs it, no ACK reaches l, and l
/// crashes. m, a voter of the view in force with the longest log and the highest id
/// left, is elected; it establishes only once x and 4 (a quorum of the pending view)
/// acknowledged NEWLEADER, and so commits the reconfig that removes it. Runs until the
/// step in which m established, recording from l's crash on.
struct LeftOut {
    l: u64,
    m: u64,
    z: Zxid,
    voters: Vec<u64>,
}

fn a_new_leader_left_out_establishes(sim: &mut Sim) -> LeftOut {
    sim.start_all();
    let l = settle(sim);
    commit(sim, 2);
    let (x, m) = others(l);
    for s in [x, m, 4] {
        sim.hold(s, l);
    }
    let mut voters = vec![x, l, 4];
    voters.sort();
    let z = propose_view(sim, l, &voters, &[]).expect("the leader takes it");
    wait_durable(sim, &[x, m, 4], z);
    if in_history(sim, z) {
        sim.fail("committed although no ACK reached the leader");
    }
    sim.crash(l);
    sim.release_all();
    sim.record();
    let ok = sim.run_until(300, |s| s.recorded().iter().any(|r| establishes(r, m)));
    if !ok {
        sim.fail(&format!("{m} never established"));
    }
    if !in_history(sim, z) {
        sim.fail(&format!("{m} established without committing {z}"));
    }
    LeftOut { l, m, z, voters }
}

/// Apache's ReconfigRecoveryTest (a new leader finishing a pending reconfig) with that
/// leader left out of the view ([`a_new_leader_left_out_establishes`]). As Apache's
/// `startZkServer` does, m names a successor among the new voters that acknowledged
/// NEWLEADER and commits nothing more; as after a reconfig of its own, it hands over in
/// place: its learners go straight to the successor, which leads the next epoch, and m
/// follows it. Nobody goes through an election after m established.
#[test]
fn reconfig_recovery_a_new_leader_left_out_of_the_view_it_finishes_hands_over_in_place() {
    scenario_with_spares(
        "reconfig_recovery_a_new_leader_left_out_of_the_view_it_finishes_hands_over_in_place",
        3,
        1,
        |sim| {
            let LeftOut { l, m, z, voters } = a_new_leader_left_out_establishes(sim);
            let successor = ends_committed_in_view(sim, z, &voters, 300);
            if successor == m || designated_in(sim, m, z) != Some(successor) {
                sim.fail(&format!(
                    "{successor} leads; {m} designated {:?}",
                    designated_in(sim, m, z)
                ));
            }
            let r = sim.recorded();
            let at = r.iter().position(|r| establishes(r, m)).expect("seen");
            let looking = went_looking_in(&r[at..]);
            if !looking.is_empty() {
                sim.fail(&format!(
                    "{looking:?} went back to election after {m} established"
                ));
            }
            if sim.peer(m).expect("running").leader().map(|s| s.0) != Some(successor) {
                sim.fail(&format!("{m} does not follow {successor}"));
            }
            sim.start(l);
            ends_committed_in_view(sim, z, &voters, 300);
        },
    );
}

/// The same, with the successor crashing as m establishes (its COMMITANDACTIVATE and
/// UPTODATE still in flight): m and the learners wait for it in vain, then elect among
/// the new view's voters (with l back: the other new voter alone is no quorum). The
/// reconfig m committed is kept, and m, which no longer votes, never leads again.
#[test]
fn reconfig_recovery_the_successor_of_a_new_leader_left_out_crashes() {
    scenario_with_spares(
        "reconfig_recovery_the_successor_of_a_new_leader_left_out_crashes",
        3,
        1,
        |sim| {
            let LeftOut { l, m, z, voters } = a_new_leader_left_out_establishes(sim);
            let Some(successor) = designated_in(sim, m, z) else {
                sim.fail(&format!("{m} named no successor"));
            };
            sim.crash(successor);
            let epoch = sim.peer(m).expect("running").current_epoch();
            run_checking(sim, 50, |s| {
                s.peer(m)
                    .is_some_and(|p| p.current_epoch() > epoch && p.state() == ServerState::Leading)
                    .then(|| format!("{m} leads again without a vote"))
            });
            sim.start(l);
            ends_committed_in_view(sim, z, &voters, 400);
            sim.start(successor);
            ends_committed_in_view(sim, z, &voters, 300);
        },
    );
}

/// The same, with m crashing as it establishes: it committed the reconfig, and its
/// learners have it from the sync but heard neither COMMITANDACTIVATE nor UPTODATE. They
/// elect (with l back), commit it again as pending in their logs, and everyone, m
/// included once it returns, ends in the new view.
#[test]
fn reconfig_recovery_a_new_leader_left_out_crashes_as_it_establishes() {
    scenario_with_spares(
        "reconfig_recovery_a_new_leader_left_out_crashes_as_it_establishes",
        3,
        1,
        |sim| {
            let LeftOut { l, m, z, voters } = a_new_leader_left_out_establishes(sim);
            sim.crash(m);
            sim.start(l);
            ends_committed_in_view(sim, z, &voters, 400);
            sim.start(m);
            ends_committed_in_view(sim, z, &voters, 300);
            if sim.peer(m).expect("running").state() != ServerState::Following {
                sim.fail(&format!("{m} does not follow"));
            }
        },
    );
}

/// ZOOKEEPER-3642 (a learner interrupted after a SNAP sync must not keep the new epoch
/// without the data), with a reconfig inside the snapshot: the view then reaches the
/// learner in NEWLEADER, not in its log. 1 is down while a reconfig (the spare 4 becomes
/// a voter) and ten writes commit; it returns, is sent a SNAP (its log is older than the
/// leader's window) whose snapshot never becomes durable, and leader and learner crash
/// after NEWLEADER reached it. 1 restarts with its old log and old epoch, never
/// acknowledged NEWLEADER, and, whatever view it kept, ends in the committed one.
#[test]
fn zookeeper_3642_a_snap_across_a_reconfig_interrupted_keeps_old_epoch() {
    scenario_with_spares(
        "zookeeper_3642_a_snap_across_a_reconfig_interrupted_keeps_old_epoch",
        3,
        1,
        |sim| {
            sim.opts.log_window = 4;
            sim.start_all();
            let l = settle(sim);
            commit(sim, 2);
            let learner = [1, 2, 3].into_iter().find(|s| *s != l).expect("a follower");
            sim.crash(learner);
            let voters = [1, 2, 3, 4];
            let z = propose_view(sim, l, &voters, &[]).expect("the leader takes it");
            commit(sim, 10);
            let old_epoch = sim.node(learner).current_epoch;
            let old_log = sim.node(learner).zxids();
            sim.record();
            sim.start(learner);
            sim.run_until_action(
                100,
                sends(learner, |m| matches!(m, QuorumPacket::AckEpoch { .. })),
            )
            .unwrap_or_else(|| sim.fail("the learner never acknowledged the epoch"));
            sim.stall_log(learner);
            sim.run_until_event(
                100,
                received(learner, |m| matches!(m, QuorumPacket::NewLeader { .. })),
            )
            .unwrap_or_else(|| sim.fail("NEWLEADER never reached the learner"));
            sim.run_ticks(3);
            let r = sim.recorded();
            if !r
                .iter()
                .any(|x| matches!(x.action_of(learner), Some(Action::InstallSnapshot { .. })))
            {
                sim.fail("the learner was not sent a SNAP");
            }
            if r.iter()
                .any(|x| x.action_of(learner).is_some_and(is_ack_of_newleader))
            {
                sim.fail("NEWLEADER acknowledged with the snapshot not durable");
            }
            let leader = sim.leader().expect("leads");
            sim.crash(leader);
            sim.crash(learner);
            if sim.node(learner).current_epoch != old_epoch || sim.node(learner).zxids() != old_log
            {
                sim.fail("the learner's epoch or log moved without the snapshot");
            }
            sim.unstall_disk(learner);
            sim.start(learner);
            sim.start(leader);
            ends_committed_in_view(sim, z, &voters, 300);
            let want = sim.node(4).committed_zxids();
            if sim.node(learner).committed_zxids() != want {
                sim.fail("the learner's history differs from the others'");
            }
        },
    );
}
