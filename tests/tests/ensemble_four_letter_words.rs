//! Four-letter words of an ensemble, ours beside Apache ZooKeeper 3.8's: two voters and an
//! observer each; `srvr`, `mntr` and `conf` compared role by role (leader, follower,
//! observer), and what a server without a quorum answers.

use std::collections::BTreeMap;
use std::time::Duration;

use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::Kind;

fn pairs(text: &str, sep: char) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(sep))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Server id by role, once everyone serves.
fn roles(ens: &mut Ensemble) -> BTreeMap<String, u64> {
    ens.wait_serving(&ens.ids(), Duration::from_secs(90));
    ens.ids()
        .into_iter()
        .map(|i| (ens.mode(i).unwrap(), i))
        .collect()
}

/// `membership:` lines with the ports replaced, so two ensembles compare.
fn membership(conf: &str) -> Vec<String> {
    conf.lines()
        .filter(|l| l.starts_with("server."))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            let t = v.split(';').next().unwrap().rsplit(':').next().unwrap();
            format!("{k}={t}")
        })
        .collect()
}

#[test]
fn ensemble_four_letter_words_match_apache_by_role() {
    let mut apache = Ensemble::new(Spec {
        kind: Kind::Apache,
        ..Spec::new(2, 1)
    });
    let mut ours = Ensemble::new(Spec::new(2, 1));

    // One server alone has no quorum: both answer the same.
    apache.start(1);
    ours.start(1);
    for ens in [&apache, &ours] {
        assert!(zk_tests::wait_until(Duration::from_secs(60), || ens
            .srvr(1)
            .is_some_and(|s| s.contains("not currently serving"))));
    }
    assert_eq!(apache.srvr(1), ours.srvr(1));
    assert_eq!(apache.four(1, "ruok"), ours.four(1, "ruok"));

    apache.start(2);
    apache.start(3);
    ours.start(2);
    ours.start(3);
    let ra = roles(&mut apache);
    let ro = roles(&mut ours);
    assert_eq!(
        ra.keys().collect::<Vec<_>>(),
        ro.keys().collect::<Vec<_>>(),
        "roles"
    );

    let mut failures = Vec::new();
    for (role, ia) in &ra {
        let io = ro[role];
        // srvr: the same lines (keys) and mode.
        let (sa, so) = (apache.srvr(*ia).unwrap(), ours.srvr(io).unwrap());
        let (pa, po) = (pairs(&sa, ':'), pairs(&so, ':'));
        if pa.keys().collect::<Vec<_>>() != po.keys().collect::<Vec<_>>() {
            failures.push(format!("{role} srvr lines: apache={sa:?} ours={so:?}"));
        }
        for k in ["Mode", "Proposal sizes last/min/max"] {
            if pa.get(k) != po.get(k) {
                failures.push(format!("{role} srvr {k}: apache={sa:?} ours={so:?}"));
            }
        }

        // mntr: the ensemble figures, present and equal.
        let (ma, mo) = (
            pairs(&apache.four(*ia, "mntr").unwrap(), '\t'),
            pairs(&ours.four(io, "mntr").unwrap(), '\t'),
        );
        let mut keys = vec!["zk_server_state", "zk_peer_state", "zk_quorum_size"];
        if role == "leader" {
            keys.extend([
                "zk_learners",
                "zk_synced_followers",
                "zk_synced_non_voting_followers",
                "zk_synced_observers",
                "zk_pending_syncs",
                "zk_last_proposal_size",
                "zk_min_proposal_size",
                "zk_max_proposal_size",
            ]);
            assert!(ma.contains_key("zk_leader_uptime") && mo.contains_key("zk_leader_uptime"));
        }
        for k in keys {
            assert!(ma.contains_key(k), "Apache's {role} mntr lacks {k}");
            if ma.get(k) != mo.get(k) {
                failures.push(format!(
                    "{role} mntr {k}: apache={:?} ours={:?}",
                    ma.get(k),
                    mo.get(k)
                ));
            }
        }

        // conf: the same keys; the ensemble's values where they do not depend on ports.
        let (ca, co) = (
            apache.four(*ia, "conf").unwrap(),
            ours.four(io, "conf").unwrap(),
        );
        let (pa, po) = (pairs(&ca, '='), pairs(&co, '='));
        let ka: Vec<_> = pa.keys().filter(|k| !k.starts_with("server.")).collect();
        let ko: Vec<_> = po.keys().filter(|k| !k.starts_with("server.")).collect();
        if ka != ko {
            failures.push(format!("{role} conf keys: apache={ka:?} ours={ko:?}"));
        }
        for k in ["initLimit", "syncLimit", "electionAlg", "version"] {
            if pa.get(k) != po.get(k) {
                failures.push(format!("{role} conf {k}: {:?} {:?}", pa.get(k), po.get(k)));
            }
        }
        if membership(&ca) != membership(&co) {
            failures.push(format!("{role} conf membership: {ca:?} {co:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The start-up log says what the voters tolerate.
    let log = ours.log(1);
    assert!(
        log.contains("2 voters and 1 observers: a quorum is 2 voters, so the ensemble tolerates 0 failed voter(s)"),
        "{log}"
    );
    assert!(log.contains("warning: an even number of voters"), "{log}");
}
