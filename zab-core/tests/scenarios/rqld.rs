//! rqld: a follower asks for leadership and gets it, with no committed write lost; under
//! faults, requests at random servers never break an invariant and the ensemble recovers.

use zab_core::peer::{Action, Event, RqldAnswer};
use zab_core::sim::{reported, Sim, SimOptions};
use zab_core::wire::HandOverOutcome;
use zab_core::ServerId;

use crate::support::*;

/// The lowest-numbered follower: the one a plain election would least likely pick.
fn lowest_follower(sim: &Sim, leader: u64) -> u64 {
    (1..=sim.nodes.len() as u64)
        .find(|s| *s != leader)
        .expect("a follower")
}

fn hands_over_to_the_asking_follower(sim: &mut Sim) {
    sim.start_all();
    let l = settle(sim);
    let x = lowest_follower(sim, l);
    commit(sim, 3);
    // Writes in flight when the request arrives: the leader waits until x has them all.
    for _ in 0..3 {
        sim.propose_at(l).expect("the leader takes proposals");
    }
    sim.feed(ServerId(x), Event::RequestLeadership);
    let seen = sim.run_until_action(50, move |s, a| {
        s.0 == x && matches!(a, Action::RqldAnswer(_))
    });
    match seen {
        Some((_, Action::RqldAnswer(RqldAnswer::Leader(HandOverOutcome::Preferred)))) => {}
        other => sim.fail(&format!("{x} asked {l} for leadership: {other:?}")),
    }
    if !sim.run_until(200, |s| s.settled() && s.leader() == Some(x)) {
        sim.fail(&format!(
            "{x} asked for leadership and {:?} leads",
            sim.leader()
        ));
    }
    // Everything the old leader committed is still committed (the simulator checks that
    // after every step); the new one commits more.
    commit(sim, 2);
}

#[test]
fn rqld_hands_leadership_to_the_asking_follower_of_three() {
    scenario(
        "rqld_hands_leadership_to_the_asking_follower_of_three",
        3,
        0,
        hands_over_to_the_asking_follower,
    );
}

#[test]
fn rqld_hands_leadership_to_the_asking_follower_of_five_with_an_observer() {
    scenario(
        "rqld_hands_leadership_to_the_asking_follower_of_five_with_an_observer",
        5,
        1,
        hands_over_to_the_asking_follower,
    );
}

/// Chaos (crashes, partitions, lost packets, reordered disks) with an `rqld` at a random
/// server every 20 ticks: the invariants hold throughout (one leader per epoch, nothing
/// committed lost) and, healed, the ensemble elects a leader and commits again.
#[test]
fn rqld_under_faults_keeps_every_invariant() {
    for seed in 0..48u64 {
        let mut sim = Sim::new(seed, SimOptions::chaos(seed));
        sim.replay =
            "cargo test -p zab-core --test scenarios rqld_under_faults_keeps_every_invariant"
                .to_owned();
        reported(&mut sim, |sim| {
            sim.start_all();
            sim.faults = true;
            for _ in 0..20 {
                sim.run_ticks(20);
                let n = sim.nodes.len() as u64;
                let x = 1 + sim.rng.below(n);
                sim.feed(ServerId(x), Event::RequestLeadership);
            }
            sim.faults = false;
            sim.check_liveness(300);
        });
    }
}
