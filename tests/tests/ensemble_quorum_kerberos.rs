//! Quorum SASL with Kerberos (GSSAPI) between servers (issue 13): `quorum.auth.*` in
//! zoo.cfg, the JAAS sections `QuorumServer` / `QuorumLearner` with
//! `Krb5LoginModule` (keyTab, principal), `quorum.auth.kerberos.servicePrincipal`, and
//! `-Djava.security.krb5.conf` naming a throwaway realm whose KDC the test starts
//! (tests/src/krb.rs). Ensembles of ours and mixed with Apache ZooKeeper 3.8, with an
//! Apache leader and with ours, must form a quorum and replicate; a peer whose keytab
//! does not hold its principal does not start (as Apache's does not), and a peer whose
//! principal names a host that is not one of the ensemble's stays out while the others
//! serve.

use std::path::Path;
use std::time::Duration;

use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::kazoo::Writer;
use zk_tests::krb::Realm;
use zk_tests::Kind;

const TIMEOUT: Duration = Duration::from_secs(90);
const QUORUM: &str = "zkquorum/localhost@ZK.TEST";
/// A principal of the realm whose host is none of the ensemble's.
const ROGUE: &str = "zkquorum/rogue.example@ZK.TEST";
const OTHER: &str = "other@ZK.TEST";

/// A JAAS file as Apache's documentation gives it: both logins from keytabs.
fn jaas(realm: &Realm, name: &str, learner: &str, learner_keytab: &str) -> String {
    let entry = |principal: &str, keytab: &Path| {
        format!(
            "  com.sun.security.auth.module.Krb5LoginModule required\n  useKeyTab=true\n  \
             keyTab=\"{}\"\n  storeKey=true\n  useTicketCache=false\n  debug=false\n  \
             principal=\"{principal}\";\n",
            keytab.display()
        )
    };
    let path = realm.dir().join(name);
    std::fs::write(
        &path,
        format!(
            "QuorumServer {{\n{}}};\nQuorumLearner {{\n{}}};\n",
            entry(QUORUM, &realm.keytab(QUORUM)),
            entry(learner, &realm.keytab(learner_keytab)),
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// Every server requires quorum SASL with Kerberos; `service` is
/// `quorum.auth.kerberos.servicePrincipal` (None: Apache's default, zkquorum/localhost).
fn kerberos_spec(spec: Spec, realm: &Realm, service: Option<&str>) -> Spec {
    let mut spec = spec
        .ticks(500, 20, 10)
        .extra("quorum.auth.enableSasl", "true")
        .extra("quorum.auth.learnerRequireSasl", "true")
        .extra("quorum.auth.serverRequireSasl", "true")
        .java_prop(
            "java.security.auth.login.config",
            &jaas(realm, "quorum.jaas", QUORUM, QUORUM),
        )
        .java_prop(
            "java.security.krb5.conf",
            &realm.krb5_conf().display().to_string(),
        );
    if let Some(s) = service {
        spec = spec.extra("quorum.auth.kerberos.servicePrincipal", s);
    }
    // The principals' host: server.N=localhost:...
    spec.host = "localhost".into();
    spec
}

fn write(hosts: &str, prefix: &str) -> Vec<u64> {
    let lines = Writer::start(hosts, 0.5, prefix).finish(Duration::from_secs(60));
    let acked: Vec<u64> = lines.iter().filter_map(|v| v["ack"].as_u64()).collect();
    assert!(!acked.is_empty(), "no acknowledged writes under {prefix}");
    acked
}

/// A write through each server reaches every other.
fn replicates(ens: &Ensemble) {
    for id in ens.ids() {
        let prefix = format!("/k{id}");
        let acked = write(&ens.member(id).hosts(), &prefix);
        for other in ens.ids() {
            ens.assert_all_present(other, &prefix, &acked);
        }
    }
}

fn ours_authenticated(ens: &Ensemble, id: u64) {
    let log = ens.log(id);
    assert!(
        log.contains("quorum SASL (GSSAPI)")
            && log.contains("quorum SASL authentication completed"),
        "server {id} logs no quorum Kerberos exchange:\n{log}"
    );
}

fn apache_authenticated(ens: &Ensemble, id: u64) {
    let log = ens.log(id);
    assert!(
        log.contains("Successfully completed the authentication using SASL"),
        "Apache server {id} logs no quorum SASL:\n{log}"
    );
}

/// Starts `first` (the largest id) with `second` and waits until the two serve, with
/// `first` leading; then the third joins them as a follower.
fn start_with_leader(ens: &mut Ensemble, first: u64, second: u64) {
    ens.start(first);
    ens.start(second);
    let leader = ens.wait_serving(&[first, second], TIMEOUT);
    assert_eq!(leader, first, "{}", ens.logs(&[first, second]));
    for id in ens.ids() {
        if id != first && id != second {
            ens.start(id);
        }
    }
    let ids = ens.ids();
    assert_eq!(ens.wait_serving(&ids, TIMEOUT), first);
}

#[test]
fn three_of_ours_with_quorum_kerberos_form_a_quorum_and_replicate() {
    let realm = Realm::new(&[QUORUM]);
    let mut ens = Ensemble::new(kerberos_spec(
        Spec::new(3, 0),
        &realm,
        Some("zkquorum/_HOST@ZK.TEST"),
    ));
    ens.start_all();
    let ids = ens.ids();
    ens.wait_serving(&ids, TIMEOUT);
    replicates(&ens);
    for id in ens.ids() {
        ours_authenticated(&ens, id);
    }
}

#[test]
fn our_leader_with_apache_learners_under_quorum_kerberos() {
    let realm = Realm::new(&[QUORUM]);
    let mut spec = Spec::new(3, 0).member_kind(3, Kind::Ours);
    spec.kind = Kind::Apache;
    let mut ens = Ensemble::new(kerberos_spec(spec, &realm, None));
    start_with_leader(&mut ens, 3, 1);
    replicates(&ens);
    ours_authenticated(&ens, 3);
    for id in [1, 2] {
        apache_authenticated(&ens, id);
    }
}

#[test]
fn an_apache_leader_with_our_learners_under_quorum_kerberos() {
    let realm = Realm::new(&[QUORUM]);
    let spec = Spec::new(3, 0).member_kind(3, Kind::Apache);
    // Apache 3.8 replaces _HOST only in a principal without a realm.
    let mut ens = Ensemble::new(kerberos_spec(spec, &realm, Some("zkquorum/_HOST")));
    start_with_leader(&mut ens, 3, 1);
    replicates(&ens);
    for id in [1, 2] {
        ours_authenticated(&ens, id);
    }
    apache_authenticated(&ens, 3);
}

/// Server 3 logs in as a principal of the realm whose host is not one of the
/// server.N hosts: its Kerberos exchange succeeds but 1 and 2 do not authorize it.
fn rogue_stays_out(kind: Kind) {
    let realm = Realm::new(&[QUORUM, ROGUE]);
    let rogue = jaas(&realm, "rogue.jaas", ROGUE, ROGUE);
    let spec = kerberos_spec(Spec::new(3, 0).member_kind(3, kind), &realm, None).member_java_prop(
        3,
        "java.security.auth.login.config",
        &rogue,
    );
    let mut ens = Ensemble::new(spec);
    ens.start_all();
    ens.wait_serving(&[1, 2], TIMEOUT);
    let up = format!("{},{}", ens.member(1).hosts(), ens.member(2).hosts());
    let acked = write(&up, "/w");
    for id in [1, 2] {
        ens.assert_all_present(id, "/w", &acked);
    }
    ens.assert_stays_out(3, 5, "with a principal of a host outside the ensemble");
    let refused = [1, 2].iter().any(|id| {
        ens.log(*id)
            .contains("rogue.example is not authorized to connect")
    });
    assert!(refused, "no refusal logged:\n{}", ens.logs(&[1, 2]));
}

#[test]
fn a_server_of_ours_with_a_foreign_principal_stays_out() {
    rogue_stays_out(Kind::Ours);
}

#[test]
fn an_apache_server_with_a_foreign_principal_stays_out_of_ours() {
    rogue_stays_out(Kind::Apache);
}

/// Server 3's QuorumLearner keytab does not hold its principal: it stops at start-up
/// with a clear message, as Apache's does (its Login fails), and the others serve.
#[test]
fn a_keytab_without_the_learner_principal_stops_that_server() {
    let realm = Realm::new(&[QUORUM, OTHER]);
    let wrong = jaas(&realm, "wrong.jaas", QUORUM, OTHER);
    for kind in [Kind::Ours, Kind::Apache] {
        let spec = kerberos_spec(Spec::new(3, 0).member_kind(3, kind), &realm, None)
            .member_java_prop(3, "java.security.auth.login.config", &wrong);
        let mut ens = Ensemble::new(spec);
        ens.start_all();
        ens.wait_serving(&[1, 2], TIMEOUT);
        let stopped = zk_tests::wait_until(Duration::from_secs(60), || !ens.is_running(3));
        assert!(stopped, "{kind:?} server 3 still runs:\n{}", ens.log(3));
        assert_eq!(ens.mode(3), None);
        let log = ens.log(3);
        let why = match kind {
            Kind::Ours => "Kerberos login failed",
            Kind::Apache => "Failed to initialize authentication mechanism using SASL",
        };
        assert!(
            log.contains(why),
            "{kind:?} server 3 does not say why:\n{log}"
        );
        let up = format!("{},{}", ens.member(1).hosts(), ens.member(2).hosts());
        let acked = write(&up, "/w");
        for id in [1, 2] {
            ens.assert_all_present(id, "/w", &acked);
        }
    }
}
