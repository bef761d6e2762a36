//! Dynamic reconfiguration on the simulator: a reconfig is a proposal whose commit switches
//! the view; the invariants (one leader per epoch, committed prefixes agree and stay durable
//! on a quorum) are checked after every event while it races crashes.

use zab_core::reconfig::reconfig_txn;
use zab_core::sim::Sim;
use zab_core::{ServerId, Zxid};

use crate::support::*;

/// The text of a view with `voters` (addresses do not matter to the simulator).
fn view(voters: &[u64]) -> String {
    let mut t = String::new();
    for v in voters {
        t.push_str(&format!(
            "server.{v}=127.0.0.1:{}:{}:participant\n",
            10 + v,
            20 + v
        ));
    }
    t.push_str("version=0");
    t
}

fn propose_reconfig(sim: &mut Sim, leader: u64, voters: &[u64]) -> Zxid {
    let before = sim.peer(leader).expect("alive").last_zxid();
    sim.feed(
        ServerId(leader),
        zab_core::peer::Event::Propose(reconfig_txn(&view(voters))),
    );
    let after = sim.peer(leader).expect("alive").last_zxid();
    if after <= before {
        sim.fail("the leader did not take the reconfig");
    }
    after
}

fn others(leader: u64) -> (u64, u64) {
    let o: Vec<u64> = [1, 2, 3].into_iter().filter(|i| *i != leader).collect();
    (o[0], o[1])
}

/// 3 -> 2 voters: the removed server is no longer needed for a commit, and a restart of
/// every server comes back with the view each one kept.
#[test]
fn reconfig_removes_a_voter_and_a_restart_keeps_the_view() {
    scenario(
        "reconfig_removes_a_voter_and_a_restart_keeps_the_view",
        3,
        0,
        |sim| {
            sim.start_all();
            let l = settle(sim);
            commit(sim, 2);
            let (x, y) = others(l);
            let mut voters = vec![l, y];
            voters.sort();
            let z = propose_reconfig(sim, l, &voters);
            wait_view(sim, z, &voters);
            // Without x: l and y are the whole quorum now.
            sim.crash(x);
            commit(sim, 2);
            for s in [1, 2, 3] {
                sim.crash(s);
            }
            sim.start_all();
            let l2 = settle(sim);
            if !voters.contains(&l2) {
                sim.fail(&format!("{l2} leads without a vote"));
            }
            wait_view(sim, z, &voters);
            commit(sim, 1);
        },
    );
}

/// The leader crashes after one follower logged the reconfig and before that follower
/// learned it committed; the third server never saw it. Whoever leads next commits it
/// (it holds a quorum of the old view's acknowledgements) or truncates it everywhere:
/// never one view here and another there for the same version.
#[test]
fn reconfig_racing_a_leader_crash() {
    scenario("reconfig_racing_a_leader_crash", 3, 0, |sim| {
        sim.start_all();
        let l = settle(sim);
        commit(sim, 2);
        let (x, y) = others(l);
        sim.hold(l, x);
        let mut voters = vec![l, y];
        voters.sort();
        let z = propose_reconfig(sim, l, &voters);
        if !sim.run_until(50, |s| s.node(y).is_durable(z)) {
            sim.fail("the reconfig never durable on y");
        }
        sim.hold(l, y);
        sim.crash(l);
        sim.release_all();
        // y (with the reconfig) and x elect under the old view; l comes back later.
        sim.run_ticks(100);
        sim.start(l);
        settle(sim);
        let committed = sim
            .nodes
            .iter()
            .any(|n| n.committed().iter().any(|e| e.0 == z));
        if committed {
            wait_view(sim, z, &voters);
        } else {
            for s in [1, 2, 3] {
                if sim.peer(s).is_some_and(|p| p.config_version() == z.0) {
                    sim.fail(&format!("{s} activated a view that was not committed"));
                }
            }
        }
        commit(sim, 1);
    });
}

/// The leader removes itself: after the reconfig commits a new voter leads a later epoch
/// (the servers re-elect; the successor COMMITANDACTIVATE names is one of the new voters),
/// the old leader follows it without a vote, and writes go on with the two voters left.
#[test]
fn reconfig_removing_the_leader_leaves_a_new_voter_leading() {
    scenario(
        "reconfig_removing_the_leader_leaves_a_new_voter_leading",
        3,
        0,
        |sim| {
            sim.start_all();
            let l = settle(sim);
            commit(sim, 2);
            let (x, y) = others(l);
            let voters = vec![x, y];
            let epoch = sim.peer(l).expect("alive").current_epoch();
            let z = propose_reconfig(sim, l, &voters);
            let ok = sim.run_until(400, |s| {
                s.settled()
                    && s.leader().is_some_and(|n| n != l)
                    && state(s, l) != zab_core::ServerState::Looking
            });
            if !ok {
                sim.fail("no new leader after the leader removed itself");
            }
            let l2 = sim.leader().expect("settled");
            if !voters.contains(&l2) {
                sim.fail(&format!("{l2} leads without a vote"));
            }
            if sim.peer(l2).expect("alive").current_epoch() <= epoch {
                sim.fail("the successor leads in the old epoch");
            }
            if role(sim, l) != (zab_core::ServerState::Following, Some(l2)) {
                sim.fail(&format!("the old leader is {:?}", role(sim, l)));
            }
            wait_view(sim, z, &voters);
            commit(sim, 2);
        },
    );
}

/// Found by the reconfig seeds (soak seed 1000408): a reconfig whose new quorum needs a
/// server that is not a voter yet (here the spare 4, a non-voting follower) is pending
/// when that server drops out; it comes back and is synced by DIFF, the reconfig among
/// the DIFF's proposals, and acknowledges NEWLEADER. That ACK is the last one the
/// reconfig waits for, and no later proposal brings another: the leader must count it,
/// although the server is a voter of the pending view only (it once did not, and the
/// reconfig and every write after it stayed uncommitted for good).
#[test]
fn a_pending_reconfig_commits_on_the_newleader_ack_of_a_new_voter() {
    scenario_with_spares(
        "a_pending_reconfig_commits_on_the_newleader_ack_of_a_new_voter",
        3,
        1,
        |sim| {
            sim.start_all();
            let l = settle(sim);
            commit(sim, 2);
            // 4 stops hearing from the leader; the reconfig {l, 4} needs 4's ACK.
            sim.hold(l, 4);
            let voters = vec![l, 4];
            let z = propose_reconfig(sim, l, &voters);
            sim.run_ticks(5);
            if sim.peer(l).expect("leads").last_committed() >= z {
                sim.fail("committed without the new voter");
            }
            sim.crash(4);
            sim.release_all();
            sim.start(4);
            wait_view(sim, z, &voters);
            if !in_history(sim, z) {
                sim.fail("the reconfig is active but not in the committed history");
            }
        },
    );
}

/// Found by the reconfig seeds (soak seed 2001012): the old voters x and y hold a reconfig
/// to {l, 4, 5} as pending, the leader l crashes before the new voters saw it, and x and y
/// are cut off from 4 and 5. They are a quorum of the view in force but none of the
/// pending one, so they must not elect a leader: one elected could never establish
/// (NEWLEADER needs the pending view's quorum too), yet its follower would keep its epoch
/// from NEWLEADER, and a later leader with that epoch and a shorter history truncated
/// writes committed under the new view. As Apache's `termPredicate`, a vote set needs a
/// quorum of both views. Healed, with l back, the reconfig commits.
#[test]
fn a_quorum_of_the_old_view_alone_elects_no_leader_while_a_reconfig_is_pending() {
    scenario_with_spares(
        "a_quorum_of_the_old_view_alone_elects_no_leader_while_a_reconfig_is_pending",
        3,
        2,
        |sim| {
            sim.start_all();
            let l = settle(sim);
            commit(sim, 2);
            let (x, y) = others(l);
            sim.hold(l, 4);
            sim.hold(l, 5);
            let mut voters = vec![l, 4, 5];
            voters.sort();
            let z = propose_reconfig(sim, l, &voters);
            if !sim.run_until(50, |s| s.node(x).is_durable(z) && s.node(y).is_durable(z)) {
                sim.fail("the reconfig never durable on x and y");
            }
            sim.crash(l);
            sim.release_all();
            sim.partition(&[&[x, y], &[4, 5]]);
            let epochs = |s: &Sim| [x, y].map(|i| s.peer(i).expect("alive").current_epoch());
            let before = epochs(sim);
            run_checking(sim, 150, |s| {
                for i in [x, y] {
                    let st = state(s, i);
                    if st == zab_core::ServerState::Leading
                        || st == zab_core::ServerState::Following
                    {
                        return Some(format!("{i} is {st:?} without the pending view's quorum"));
                    }
                }
                (epochs(s) != before).then(|| "an old voter took a new epoch".to_string())
            });
            sim.heal();
            sim.start(l);
            settle(sim);
            wait_view(sim, z, &voters);
            commit(sim, 2);
        },
    );
}

/// Found by the reconfig soak (seed 4000558): l, the only voter of the view in force,
/// proposes a reconfig to {x, y}; x and y log it, and l crashes before its own copy is
/// durable, so the reconfig never commits. Back without it, l alone is a quorum of its
/// view and leads a new epoch whose history can never hold the reconfig. x and y, each
/// holding it as pending, waited for a quorum of the pending view ({x, y}: the other one)
/// to follow l before following it themselves, and so never did. Joining a leader elected
/// with a log ending before the pending reconfig, in a later epoch, only the view in force
/// counts: x and y follow l, whose sync drops the reconfig from their logs.
#[test]
fn the_voters_of_a_reconfig_the_leader_lost_follow_the_leader_it_elected_alone() {
    scenario(
        "the_voters_of_a_reconfig_the_leader_lost_follow_the_leader_it_elected_alone",
        3,
        0,
        |sim| {
            sim.start_all();
            let l = settle(sim);
            commit(sim, 2);
            let alone = propose_reconfig(sim, l, &[l]);
            wait_view(sim, alone, &[l]);
            let (x, y) = others(l);
            sim.stall_log(l);
            let z = propose_reconfig(sim, l, &[x, y]);
            if !sim.run_until(50, |s| s.node(x).is_durable(z) && s.node(y).is_durable(z)) {
                sim.fail("the reconfig never durable on x and y");
            }
            sim.crash(l);
            sim.unstall_disk(l);
            if in_history(sim, z) {
                sim.fail("committed without the ACK of the only voter in force");
            }
            sim.start(l);
            if settle(sim) != l {
                sim.fail("another server than the only voter leads");
            }
            for i in [x, y] {
                let p = sim.peer(i).expect("running");
                if p.pending_reconfig().is_some() || p.config_version() != alone.0 {
                    sim.fail(&format!(
                        "{i} still holds the lost reconfig or left the view in force"
                    ));
                }
            }
            commit(sim, 2);
        },
    );
}

/// Found by the reconfig soak (seed 4011928): as above, but x and y are cut off while l,
/// back without the reconfig, leads and commits on alone, and l restarts once more before
/// they hear from it. Its vote now names a log in a later epoch than the reconfig's; x and
/// y, still holding the reconfig as pending, must follow it all the same.
#[test]
fn the_voters_of_a_reconfig_the_leader_lost_follow_it_after_it_led_on_without_them() {
    scenario(
        "the_voters_of_a_reconfig_the_leader_lost_follow_it_after_it_led_on_without_them",
        3,
        0,
        |sim| {
            sim.start_all();
            let l = settle(sim);
            commit(sim, 2);
            let alone = propose_reconfig(sim, l, &[l]);
            wait_view(sim, alone, &[l]);
            let (x, y) = others(l);
            sim.stall_log(l);
            let z = propose_reconfig(sim, l, &[x, y]);
            if !sim.run_until(50, |s| s.node(x).is_durable(z) && s.node(y).is_durable(z)) {
                sim.fail("the reconfig never durable on x and y");
            }
            sim.partition(&[&[l], &[x, y]]);
            sim.crash(l);
            sim.unstall_disk(l);
            sim.start(l);
            if !sim.run_until(100, |s| s.leader() == Some(l)) {
                sim.fail("l does not lead alone");
            }
            let w = sim.propose_at(l).expect("l takes writes");
            if !sim.run_until(100, |s| s.node(l).is_durable(w) && in_history(s, w)) {
                sim.fail("l alone does not commit");
            }
            sim.crash(l);
            sim.start(l);
            if !sim.run_until(100, |s| s.leader() == Some(l)) {
                sim.fail("l does not lead alone again");
            }
            let v = sim.peer(l).expect("running").vote();
            if v.zxid.epoch() <= z.epoch() {
                sim.fail("l's vote does not name a log past the reconfig's epoch");
            }
            sim.heal();
            if settle(sim) != l {
                sim.fail("another server than the only voter leads");
            }
            for i in [x, y] {
                if sim.peer(i).expect("running").pending_reconfig().is_some() {
                    sim.fail(&format!("{i} still holds the lost reconfig"));
                }
            }
            commit(sim, 2);
        },
    );
}

/// Issue 14: a server restarted after a reconfig comes back with the new membership from
/// its own dynamic file, also when the reconfig is no longer in the part of its log a
/// restart reads (a log window of 4 entries, 10 writes after the reconfig). Here a spare
/// server joins as a fourth voter, then every server restarts at once.
#[test]
fn a_restart_long_after_a_reconfig_reads_the_view_from_the_dynamic_file() {
    for seed in SEEDS {
        let mut opts = zab_core::sim::SimOptions::new(3, 0);
        opts.propose = 0;
        opts.spares = 1;
        opts.log_window = 4;
        let mut sim = Sim::new(seed, opts);
        sim.replay = "cargo test -p zab-core --test scenarios a_restart_long_after_a_reconfig_reads_the_view_from_the_dynamic_file -- --exact".into();
        zab_core::sim::reported(&mut sim, |sim| {
            sim.start_all();
            let l = settle(sim);
            commit(sim, 2);
            let voters = vec![1, 2, 3, 4];
            let z = propose_reconfig(sim, l, &voters);
            wait_view(sim, z, &voters);
            commit(sim, 10);
            for s in 1..=4 {
                sim.flush_disk(s);
            }
            for s in 1..=4 {
                sim.crash(s);
            }
            sim.start_all();
            for s in 1..=4u64 {
                let p = sim.peer(s).expect("started");
                if p.config_version() != z.0 || p.voting_members().len() != 4 {
                    sim.fail(&format!(
                        "{s} restarts with view {:x} of {:?}",
                        p.config_version(),
                        p.voting_members()
                    ));
                }
            }
            settle(sim);
            commit(sim, 1);
        });
    }
}

/// Apache's ReconfigRecoveryTest.testNextConfigCompletion, on the simulator: a reconfig
/// from {1, 2, 3} to {1, 2, 3, 4, 5} is logged by every server, old and new, and no ACK
/// reaches the leader before it crashes, so nobody committed it. Every server then
/// restarts: whoever leads next finds it pending, establishes only with a quorum of the
/// old and of the new voters, commits it, and every server ends in the new view.
#[test]
fn a_reconfig_logged_everywhere_is_completed_after_every_server_restarts() {
    scenario_with_spares(
        "a_reconfig_logged_everywhere_is_completed_after_every_server_restarts",
        3,
        2,
        |sim| {
            sim.start_all();
            let l = settle(sim);
            commit(sim, 2);
            for s in 1..=5 {
                if s != l {
                    sim.hold(s, l);
                }
            }
            let voters = vec![1, 2, 3, 4, 5];
            let z = propose_reconfig(sim, l, &voters);
            let everywhere = sim.run_until(100, |s| (1..=5).all(|x| s.node(x).is_durable(z)));
            if !everywhere {
                sim.fail("the reconfig never durable on every server");
            }
            if in_history(sim, z) {
                sim.fail("committed although no ACK reached the leader");
            }
            sim.crash(l);
            sim.release_all();
            for s in 1..=5 {
                sim.crash(s);
            }
            sim.start_all();
            settle(sim);
            wait_view(sim, z, &voters);
            if !in_history(sim, z) {
                sim.fail("the view is active but the reconfig is not committed");
            }
            commit(sim, 1);
        },
    );
}
