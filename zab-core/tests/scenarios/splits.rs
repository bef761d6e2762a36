//! The seed's tutorial, and ensembles split down the middle or with the leader in
//! the minority.

use zab_core::sim::Sim;
use zab_core::{ServerId, ServerState, Zxid};

use crate::support::*;

/// The seed's tutorial: a 3-server ensemble started one server at a time.
#[test]
fn tutorial_servers_started_one_by_one() {
    scenario("tutorial_servers_started_one_by_one", 3, 0, |sim| {
        // Alone, server 1 is no quorum: it stays LOOKING.
        sim.start(1);
        let left = sim.run_until(100, |s| {
            s.node(1)
                .status
                .is_some_and(|st| st.state != ServerState::Looking)
        });
        assert!(!left, "a lone server left LOOKING");
        assert_eq!(sim.leader(), None);

        // With 2 there is a quorum; votes (epoch 0, zxid 0, sid) favour 2.
        sim.start(2);
        assert_eq!(settle(sim), 2);
        assert_eq!(role(sim, 1), (ServerState::Following, Some(2)));
        let first = commit(sim, 3);

        // 3 has the highest sid, but the ensemble is established: 3 follows 2.
        sim.start(3);
        assert_eq!(settle(sim), 2);
        assert_eq!(role(sim, 3), (ServerState::Following, Some(2)));
        assert_eq!(sim.leaders.len(), 1, "a new epoch: {:?}", sim.leaders);
        assert_eq!(sim.node(3).committed_zxids(), first, "3 caught up");
        let more = commit(sim, 2);
        for s in 1..=3 {
            assert!(sim.node(s).committed_zxids().ends_with(&more));
        }
    });
}

/// 6 servers split 3/3 from the start: neither side is a quorum.
#[test]
fn six_servers_split_three_three_elect_nobody() {
    scenario("six_servers_split_three_three_elect_nobody", 6, 0, |sim| {
        sim.partition(&[&[1, 2, 3], &[4, 5, 6]]);
        sim.start_all();
        run_checking(sim, 300, |s| {
            s.nodes
                .iter()
                .find(|n| n.status.is_some_and(|st| st.state != ServerState::Looking))
                .map(|n| format!("{} left LOOKING in a side of three", n.sid))
        });
        assert!(!sim.propose(), "nobody takes proposals");
        assert!(sim.leaders.is_empty() && sim.history.is_empty());
        // Healed, the same six elect: the split was what stopped them.
        sim.heal();
        assert_eq!(settle(sim), 6);
        commit(sim, 1);
    });
}

/// 6 servers split 3/3 under an established leader: it steps down, nobody commits.
#[test]
fn six_servers_split_three_three_after_election_commit_nothing() {
    scenario(
        "six_servers_split_three_three_after_election_commit_nothing",
        6,
        0,
        |sim| {
            sim.start_all();
            let old = settle(sim);
            commit(sim, 3);
            let epochs = sim.leaders.clone();
            let committed = sim.history.len();
            sim.partition(&[&[1, 2, 3], &[4, 5, 6]]);
            let mut logged = Vec::new();
            for _ in 0..300 {
                // The old leader is asked to propose for as long as it believes it leads.
                logged.extend(sim.propose_at(old));
                run_checking(sim, 1, |s| {
                    if s.history.len() != committed {
                        Some("a side of three committed".into())
                    } else if s.leaders != epochs {
                        Some(format!("a side of three established: {:?}", s.leaders))
                    } else {
                        None
                    }
                });
            }
            assert!(!logged.is_empty(), "the old leader took no proposal");
            for s in 1..=6 {
                assert_eq!(state(sim, s), ServerState::Looking, "{s} kept its role");
            }
            sim.heal();
            settle(sim);
            commit(sim, 1);
        },
    );
}

/// 5 servers split 2/3 with the leader in the minority: the three elect and commit,
/// the two commit nothing, and the old leader's proposals of that time are truncated.
#[test]
fn five_servers_split_two_three_only_the_majority_commits() {
    scenario(
        "five_servers_split_two_three_only_the_majority_commits",
        5,
        0,
        |sim| {
            sim.start_all();
            assert_eq!(settle(sim), 5);
            commit(sim, 3);
            let minority_applied = [sim.node(4).applied, sim.node(5).applied];
            let epochs = sim.leaders.clone();
            sim.partition(&[&[4, 5], &[1, 2, 3]]);
            let mut minority_logged = Vec::new();
            let majority_settled = |s: &Sim| {
                s.leader().filter(|l| *l <= 3).is_some_and(|l| {
                    (1..=3).all(|x| {
                        let p = s.peer(x).expect("running");
                        p.is_broadcasting() && p.leader() == Some(ServerId(l))
                    })
                })
            };
            let minority_check = |s: &Sim| {
                if [s.node(4).applied, s.node(5).applied] != minority_applied {
                    return Some("the minority applied something".to_string());
                }
                s.leaders
                    .iter()
                    .find(|(e, l)| !epochs.contains_key(e) && l.0 > 3)
                    .map(|(e, l)| format!("minority server {l} established epoch {e}"))
            };
            let mut ticks = 0;
            while !majority_settled(sim) {
                ticks += 1;
                if ticks > 200 {
                    sim.fail("the majority did not elect within 200 ticks");
                }
                minority_logged.extend(sim.propose_at(5));
                run_checking(sim, 1, minority_check);
            }
            assert!(
                !minority_logged.is_empty(),
                "the old leader took no proposal"
            );
            let l = sim.leader().expect("majority leader");
            assert_eq!(l, 3, "the highest sid of the majority");
            let zs: Vec<Zxid> = (0..5).map(|_| sim.propose_at(l).expect("leads")).collect();
            wait_applied(sim, &[1, 2, 3], *zs.last().expect("five"));
            run_checking(sim, 20, minority_check);
            for z in &minority_logged {
                assert!(!in_history(sim, *z), "{z} of the minority was committed");
            }
            // Healed: the minority rejoins the new leader and drops what it logged alone.
            sim.heal();
            assert_eq!(settle(sim), 3);
            for z in &minority_logged {
                assert!(!sim.node(5).zxids().contains(z), "5 kept {z}");
            }
            commit(sim, 1);
            assert_eq!(sim.node(5).committed_zxids(), sim.node(1).committed_zxids());
        },
    );
}
