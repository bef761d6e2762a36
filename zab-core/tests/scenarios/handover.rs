//! The leader's handover in place (Apache's designated leader): a reconfig that removes
//! the leader commits under it, then the server COMMITANDACTIVATE names leads the next
//! epoch without an election. Learners that hear COMMITANDACTIVATE go straight to the
//! designated leader (the designated one starts leading), and the old leader, no longer
//! allowed to commit, follows it once its learners have left.
//!
//! The invariants the simulator checks after every event (one established leader per
//! epoch, committed prefixes agree and stay durable on a quorum, nothing committed lost)
//! run through each story; the stories add their own ends: the designated server leads,
//! no new voter went through LOOKING on a clean run, and every running server ends with
//! the new view and commits in it. The racing runs put crashes, partitions, held packets
//! and background proposals around the reconfig, over many seeds.

use zab_core::peer::{Action, Event, ZabPhase};
use zab_core::sim::{reported, Record, Sim, SimOptions};
use zab_core::{QuorumPacket, ServerState};

use crate::support::*;

/// The leader removes itself from three voters: the reconfig commits under it, the new
/// voter COMMITANDACTIVATE names leads the next epoch, and neither new voter nor the old
/// leader ever goes back to LOOKING (no election: Apache's reconfigFlag path).
#[test]
fn handover_in_place_when_the_leader_removes_itself() {
    scenario(
        "handover_in_place_when_the_leader_removes_itself",
        3,
        0,
        |sim| {
            sim.start_all();
            let l = settle(sim);
            commit(sim, 2);
            let voters: Vec<u64> = [1, 2, 3].into_iter().filter(|s| *s != l).collect();
            let epoch = sim.peer(l).expect("alive").current_epoch();
            sim.record();
            let z = propose_view(sim, l, &voters, &[]).expect("the leader takes it");
            let l2 = ends_in_view(sim, z, &voters, 200);
            let Some(d) = designated_in(sim, l, z) else {
                sim.fail("no COMMITANDACTIVATE went out");
            };
            if l2 != d {
                sim.fail(&format!("{l2} leads, {d} was designated"));
            }
            if sim.peer(l2).expect("alive").current_epoch() <= epoch {
                sim.fail("the successor leads in the old epoch");
            }
            let looking = went_looking(sim);
            if !looking.is_empty() {
                sim.fail(&format!("{looking:?} went back to election"));
            }
            if role(sim, l) != (ServerState::Following, Some(l2)) {
                sim.fail(&format!("the old leader is {:?}", role(sim, l)));
            }
        },
    );
}

/// Five voters and an observer; the leader removes itself and one more voter. The
/// observer hears INFORMANDACTIVATE and observes the designated leader; nobody elects.
#[test]
fn handover_in_place_reaches_observers() {
    scenario("handover_in_place_reaches_observers", 5, 1, |sim| {
        sim.start_all();
        let l = settle(sim);
        commit(sim, 2);
        let voters: Vec<u64> = (1..=5).filter(|s| *s != l).take(3).collect();
        sim.record();
        let z = propose_view(sim, l, &voters, &[6]).expect("the leader takes it");
        let l2 = ends_in_view(sim, z, &voters, 200);
        let looking = went_looking(sim);
        if !looking.is_empty() {
            sim.fail(&format!("{looking:?} went back to election"));
        }
        if role(sim, 6) != (ServerState::Observing, Some(l2)) {
            sim.fail(&format!("the observer is {:?}", role(sim, 6)));
        }
    });
}

/// The designated leader crashes as soon as it hears COMMITANDACTIVATE: the others cannot
/// reach it and fall back to an election among the new voters, which keeps the view.
#[test]
fn handover_when_the_designated_leader_crashes() {
    scenario("handover_when_the_designated_leader_crashes", 5, 0, |sim| {
        sim.start_all();
        let l = settle(sim);
        commit(sim, 2);
        let voters: Vec<u64> = (1..=5).filter(|s| *s != l).collect();
        sim.record();
        let z = propose_view(sim, l, &voters, &[]).expect("the leader takes it");
        let seen = sim.run_until_event(100, |_, ev| {
            matches!(ev, Event::Received { msg: QuorumPacket::CommitAndActivate { zxid, .. }, .. } if *zxid == z)
        });
        if seen.is_none() {
            sim.fail("no COMMITANDACTIVATE arrived");
        }
        let d = designated_in(sim, l, z).expect("sent");
        sim.crash(d);
        let rest: Vec<u64> = voters.iter().copied().filter(|s| *s != d).collect();
        // Four of the five new voters are up: a quorum of the new view.
        let l2 = ends_in_view(sim, z, &voters, 300);
        if l2 == d || !rest.contains(&l2) {
            sim.fail(&format!("{l2} leads"));
        }
        sim.start(d);
        ends_in_view(sim, z, &voters, 200);
    });
}

/// COMMITANDACTIVATE is held on its way to one new voter while the others hand over; it
/// arrives late (or its connection is gone by then): that voter still ends in the new
/// view under the new leader.
#[test]
fn handover_with_commitandactivate_held_to_one_voter() {
    scenario(
        "handover_with_commitandactivate_held_to_one_voter",
        5,
        0,
        |sim| {
            sim.start_all();
            let l = settle(sim);
            commit(sim, 2);
            let voters: Vec<u64> = (1..=5).filter(|s| *s != l).collect();
            let z = propose_view(sim, l, &voters, &[]).expect("the leader takes it");
            // Every new voter has the proposal; then one stops hearing the old leader.
            let late = voters[3];
            if !sim.run_until(50, |s| s.node(late).is_durable(z)) {
                sim.fail("the reconfig never durable on the late voter");
            }
            sim.hold(l, late);
            sim.run_ticks(3);
            sim.release(l, late);
            ends_in_view(sim, z, &voters, 300);
        },
    );
}

/// The old leader crashes right after it sent COMMITANDACTIVATE (it reached some
/// learners, maybe not all): whoever leads next has the reconfig committed and the view.
#[test]
fn handover_when_the_old_leader_crashes_after_commit() {
    scenario(
        "handover_when_the_old_leader_crashes_after_commit",
        5,
        0,
        |sim| {
            sim.start_all();
            let l = settle(sim);
            commit(sim, 2);
            let voters: Vec<u64> = (1..=5).filter(|s| *s != l).collect();
            let z = propose_view(sim, l, &voters, &[]).expect("the leader takes it");
            let sent = sim.run_until_action(100, move |s, a| {
                s.0 == l
                    && matches!(
                        a,
                        Action::Send {
                            msg: QuorumPacket::CommitAndActivate { .. },
                            ..
                        }
                    )
            });
            if sent.is_none() {
                sim.fail("no COMMITANDACTIVATE sent");
            }
            sim.crash(l);
            ends_in_view(sim, z, &voters, 300);
            sim.start(l);
            ends_in_view(sim, z, &voters, 200);
        },
    );
}

/// Many seeds of a hostile world around the handover: background proposals, message
/// delays, and one fault (a crash of any server, a partition, or a held direction) at a
/// random moment between the proposal and well after its commit. Then the world heals:
/// every server must end in the new view, under a new voter, committing.
#[test]
fn handover_racing_faults() {
    // HANDOVER_SEED=n replays one seed.
    let seeds = match std::env::var("HANDOVER_SEED") {
        Ok(s) => {
            let n: u64 = s.parse().expect("a seed");
            n..n + 1
        }
        Err(_) => 0..1000u64,
    };
    for seed in seeds {
        let mut opts = SimOptions::new(5, 1);
        opts.propose = 0;
        opts.disk_reorder = 300;
        opts.max_delay_steps = 1 + seed % 12;
        let mut sim = Sim::new(seed, opts);
        sim.replay =
            "cargo test -p zab-core --test scenarios handover_racing_faults -- --exact".into();
        reported(&mut sim, |sim| {
            sim.start_all();
            let l = settle(sim);
            commit(sim, 2);
            // Remove the leader and, on odd seeds, one more voter.
            let mut voters: Vec<u64> = (1..=5).filter(|s| *s != l).collect();
            if seed % 2 == 1 {
                voters.pop();
            }
            sim.opts.propose = 150;
            let z = propose_view(sim, l, &voters, &[6]).expect("the leader takes it");
            let wait = sim.rng.below(40);
            sim.run_until(wait, |_| false);
            let victim = 1 + sim.rng.below(6);
            match seed % 4 {
                0 => sim.crash(victim),
                1 => {
                    let other = 1 + (victim % 6);
                    let cut = [victim, other];
                    let rest: Vec<u64> = (1..=6).filter(|s| !cut.contains(s)).collect();
                    sim.partition(&[&cut, &rest]);
                }
                2 => sim.hold(l, victim),
                _ => {
                    sim.crash(victim);
                    let again = sim.rng.below(20);
                    sim.run_ticks(again);
                    sim.start(victim);
                }
            }
            sim.run_ticks(30);
            sim.opts.propose = 0;
            sim.heal();
            sim.release_all();
            sim.start_all();
            // Whoever settles has the reconfig committed (then everyone must end in its
            // view) or truncated everywhere (then nobody may run it).
            if !sim.run_until(400, |s| s.settled()) {
                let views: Vec<String> = sim
                    .nodes
                    .iter()
                    .filter_map(|n| n.peer.as_ref())
                    .map(|p| {
                        format!(
                            "{}: {:?} view {:x} {:?} epochs {}/{} last {}",
                            p.id(),
                            p.state(),
                            p.config_version(),
                            p.voting_members(),
                            p.accepted_epoch().0,
                            p.current_epoch().0,
                            p.last_zxid()
                        )
                    })
                    .collect();
                sim.fail(&format!(
                    "no stable leader 400 ticks after healing (reconfig {z}): {views:?}"
                ));
            }
            if sim.history.iter().any(|e| e.0 == z) {
                ends_in_view(sim, z, &voters, 400);
            } else {
                for n in &sim.nodes {
                    if n.peer.as_ref().is_some_and(|p| p.config_version() == z.0) {
                        sim.fail(&format!("{} runs a view never committed", n.sid));
                    }
                }
                commit(sim, 2);
            }
        });
    }
}

/// After the handover the new leader's epoch is above the old one, and the old leader
/// took no commit in between: nothing after the reconfig committed in the old epoch.
#[test]
fn the_old_leader_commits_nothing_after_the_reconfig() {
    scenario(
        "the_old_leader_commits_nothing_after_the_reconfig",
        3,
        0,
        |sim| {
            sim.start_all();
            let l = settle(sim);
            commit(sim, 1);
            let voters: Vec<u64> = [1, 2, 3].into_iter().filter(|s| *s != l).collect();
            sim.record();
            let z = propose_view(sim, l, &voters, &[]).expect("the leader takes it");
            // Proposals right behind the reconfig, in its epoch.
            for _ in 0..3 {
                sim.propose_at(l);
            }
            ends_in_view(sim, z, &voters, 200);
            let led_commits: Vec<&Record> = sim
                .recorded()
                .iter()
                .filter(|r| {
                    matches!(r, Record::Did { sid, action: Action::Send { msg: QuorumPacket::Commit { zxid }, .. }, .. }
                        if sid.0 == l && *zxid > z)
                })
                .collect();
            if !led_commits.is_empty() {
                sim.fail(&format!(
                    "the old leader sent COMMIT after the reconfig: {led_commits:?}"
                ));
            }
            let st = sim.node(l).status.expect("status");
            if st.state != ServerState::Following || st.phase != ZabPhase::Broadcast {
                sim.fail(&format!("the old leader is {st:?}"));
            }
        },
    );
}

/// An observer promoted to voter by reconfig, then made an observer again: each time it
/// reconnects to the same leader as its new kind with no election, and after the
/// promotion a commit needs its ACK once another voter is down.
#[test]
fn an_observer_is_promoted_and_demoted_in_place() {
    scenario(
        "an_observer_is_promoted_and_demoted_in_place",
        3,
        1,
        |sim| {
            sim.start_all();
            let l = settle(sim);
            commit(sim, 2);
            sim.record();
            let z = propose_view(sim, l, &[1, 2, 3, 4], &[]).expect("the leader takes it");
            ends_in_view(sim, z, &[1, 2, 3, 4], 200);
            if role(sim, 4) != (ServerState::Following, Some(l)) {
                sim.fail(&format!("the promoted observer is {:?}", role(sim, 4)));
            }
            let looking = went_looking(sim);
            if !looking.is_empty() {
                sim.fail(&format!("{looking:?} went back to election"));
            }
            // 4 votes now: with one other voter down, nothing commits without 4's ACK
            // (l and the third are two of four; were 4 an observer, two of three).
            let x = [1, 2, 3].into_iter().find(|i| *i != l).expect("a follower");
            sim.crash(x);
            sim.hold(4, l);
            let zp = sim.propose_at(l).expect("the leader takes it");
            sim.run_ticks(3);
            if sim.history.iter().any(|e| e.0 == zp) {
                sim.fail(&format!("{zp} committed without 4's ACK"));
            }
            sim.release(4, l);
            let alive: Vec<u64> = (1..=4).filter(|i| *i != x).collect();
            wait_applied(sim, &alive, zp);
            sim.start(x);
            ends_in_view(sim, z, &[1, 2, 3, 4], 200);
            // Back to observer.
            sim.record();
            let z2 = propose_view(sim, l, &[1, 2, 3], &[4]).expect("the leader takes it");
            ends_in_view(sim, z2, &[1, 2, 3], 200);
            if role(sim, 4) != (ServerState::Observing, Some(l)) {
                sim.fail(&format!("the demoted voter is {:?}", role(sim, 4)));
            }
            let looking = went_looking(sim);
            if !looking.is_empty() {
                sim.fail(&format!("{looking:?} went back to election"));
            }
        },
    );
}

/// The observer's promotion racing faults: 1000 seeds of one crash, partition or held
/// direction at a random moment around the reconfig that makes observer 4 a voter, with
/// background proposals; once healed every server runs the view that committed (or
/// none ran a view that did not), under one leader, committing.
#[test]
fn promotion_racing_faults() {
    for seed in 0..1000u64 {
        let mut opts = SimOptions::new(3, 1);
        opts.propose = 0;
        opts.disk_reorder = 300;
        opts.max_delay_steps = 1 + seed % 12;
        let mut sim = Sim::new(seed, opts);
        sim.replay =
            "cargo test -p zab-core --test scenarios promotion_racing_faults -- --exact".into();
        reported(&mut sim, |sim| {
            sim.start_all();
            let l = settle(sim);
            commit(sim, 2);
            sim.opts.propose = 150;
            let z = propose_view(sim, l, &[1, 2, 3, 4], &[]).expect("the leader takes it");
            let wait = sim.rng.below(30);
            sim.run_until(wait, |_| false);
            let victim = 1 + sim.rng.below(4);
            match seed % 3 {
                0 => sim.crash(victim),
                1 => {
                    let rest: Vec<u64> = (1..=4).filter(|s| *s != victim).collect();
                    sim.partition(&[&[victim], &rest]);
                }
                _ => sim.hold(l, victim),
            }
            sim.run_ticks(30);
            sim.opts.propose = 0;
            sim.heal();
            sim.release_all();
            sim.start_all();
            if !sim.run_until(400, |s| s.settled()) {
                sim.fail("no stable leader 400 ticks after healing");
            }
            if sim.history.iter().any(|e| e.0 == z) {
                let l2 = ends_in_view(sim, z, &[1, 2, 3, 4], 400);
                if state(sim, 4) == ServerState::Observing
                    || (l2 != 4 && role(sim, 4).1 != Some(l2))
                {
                    sim.fail(&format!("the promoted observer is {:?}", role(sim, 4)));
                }
            } else {
                for n in &sim.nodes {
                    if n.peer.as_ref().is_some_and(|p| p.config_version() == z.0) {
                        sim.fail(&format!("{} runs a view never committed", n.sid));
                    }
                }
                commit(sim, 2);
            }
        });
    }
}
