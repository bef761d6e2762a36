//! PING and syncLimit: who notices a silent peer, and when.

use zab_core::sim::{Sim, STEPS_PER_TICK};
use zab_core::{ServerId, ServerState, Zxid};

use crate::support::*;

/// A follower that hears nothing from its leader for syncLimit ticks goes back to
/// election, closing its connection, so the leader drops it at once (as zk-server's
/// driver and Apache's `Learner.shutdown` close it); the leader, still with a quorum,
/// stays; released, the follower rejoins.
#[test]
fn learner_returns_to_election_after_sync_limit_of_silence() {
    scenario(
        "learner_returns_to_election_after_sync_limit_of_silence",
        3,
        0,
        |sim| {
            sim.start_all();
            assert_eq!(settle(sim), 3);
            let limit = sim.opts.sync_limit_ticks;
            sim.hold(3, 1);
            let held_at = sim.now;
            if !sim.run_until(limit * 4, |s| state(s, 1) == ServerState::Looking) {
                sim.fail("1 never noticed its silent leader");
            }
            let waited = (sim.now - held_at) / STEPS_PER_TICK;
            assert!(
                (limit - 1..=limit + 2).contains(&waited),
                "1 gave up after {waited} ticks, syncLimit {limit}"
            );
            assert_eq!(role(sim, 3), (ServerState::Leading, Some(3)));
            assert_eq!(role(sim, 2), (ServerState::Following, Some(3)));
            let leader = sim.peer(3).expect("running");
            assert_eq!(leader.learner_synced(ServerId(1)), None, "3 still serves 1");
            assert_eq!(leader.learner_synced(ServerId(2)), Some(true));
            assert!(sim.peer(3).expect("running").can_propose());
            sim.release(3, 1);
            assert_eq!(settle(sim), 3);
            commit(sim, 1);
        },
    );
}

/// A leader that hears from no quorum of synced followers for syncLimit ticks steps
/// down, without committing what it logged meanwhile. (The followers have sent something
/// since their NEWLEADER ACK, here the ACK of a commit: until then, as in Apache, a
/// follower counts as in touch for initLimit + syncLimit from its connecting.)
#[test]
fn leader_steps_down_without_a_quorum_for_sync_limit() {
    scenario(
        "leader_steps_down_without_a_quorum_for_sync_limit",
        3,
        0,
        |sim| {
            sim.start_all();
            assert_eq!(settle(sim), 3);
            commit(sim, 1);
            let limit = sim.opts.sync_limit_ticks;
            let committed = sim.history.len();
            sim.hold(1, 3);
            sim.hold(2, 3);
            let held_at = sim.now;
            let t = sim.propose_at(3).expect("leads");
            if !sim.run_until(limit * 4, |s| state(s, 3) == ServerState::Looking) {
                sim.fail("the leader never stepped down");
            }
            let waited = (sim.now - held_at) / STEPS_PER_TICK;
            assert!(
                (limit - 1..=limit + 2).contains(&waited),
                "stepped down after {waited} ticks, syncLimit {limit}"
            );
            assert_eq!(sim.history.len(), committed, "committed without a quorum");
            assert!(!in_history(sim, t));
            sim.release_all();
            settle(sim);
            commit(sim, 1);
        },
    );
}

/// The contrast: with two of four followers silent, a leader of five still hears a
/// quorum and keeps leading.
#[test]
fn leader_keeps_leading_with_a_quorum_of_followers() {
    scenario(
        "leader_keeps_leading_with_a_quorum_of_followers",
        5,
        0,
        |sim| {
            sim.start_all();
            assert_eq!(settle(sim), 5);
            let limit = sim.opts.sync_limit_ticks;
            sim.hold(1, 5);
            sim.hold(2, 5);
            run_checking(sim, limit * 4, |s| {
                (state(s, 5) != ServerState::Leading).then(|| "5 stepped down".to_string())
            });
            let zs: Vec<Zxid> = (0..3).map(|_| sim.propose_at(5).expect("leads")).collect();
            wait_applied(sim, &[3, 4, 5], *zs.last().expect("three"));
            sim.release_all();
            wait_applied(sim, &[1, 2], *zs.last().expect("three"));
        },
    );
}

/// A leader going back to election closes its learners' connections (zk-server's
/// driver; Apache's `Leader.shutdown` closes every `LearnerHandler`'s socket): they look
/// again in the same step, not after a timeout of silence. Here the leader of three
/// stops hearing its followers and steps down at syncLimit while they still hear it.
/// With the connections left open, a would-be leader that needed every voter of a
/// hierarchical pending view re-elected for 300 ticks: the learners of each attempt
/// that timed out on NEWLEADER ACKs joined the next round late, missed its votes and
/// stayed looking while the others followed (reconfig seeds 8805088, 8806159).
#[test]
fn a_leader_going_back_to_election_drops_its_learners_at_once() {
    scenario(
        "a_leader_going_back_to_election_drops_its_learners_at_once",
        3,
        0,
        |sim| {
            sim.start_all();
            let l = settle(sim);
            commit(sim, 1);
            let others: Vec<u64> = (1..=3).filter(|s| *s != l).collect();
            for s in &others {
                sim.hold(*s, l);
            }
            let limit = sim.opts.sync_limit_ticks;
            let following = |s: &Sim| {
                others
                    .iter()
                    .copied()
                    .filter(|x| role(s, *x) == (ServerState::Following, Some(l)))
                    .count()
            };
            // Its followers, still hearing its PINGs, follow it until it steps down.
            let mut before = 0;
            let stepped_down = sim.run_until(limit * 4, |s| {
                if state(s, l) == ServerState::Looking {
                    return true;
                }
                before = following(s);
                false
            });
            if !stepped_down {
                sim.fail("the leader never stepped down");
            }
            assert_eq!(before, 2, "a follower left {l} before it stepped down");
            // In the step it went looking, both heard and left it.
            assert_eq!(
                following(sim),
                0,
                "followers of {l} still follow it after it went looking at step {}",
                sim.now
            );
            sim.release_all();
            settle(sim);
            commit(sim, 1);
        },
    );
}
