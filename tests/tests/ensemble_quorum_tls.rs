//! Quorum TLS between servers (issue 13): `sslQuorum=true` in zoo.cfg with the
//! `ssl.quorum.*` key and trust stores (as `-Dzookeeper.ssl.quorum.*` flags, in
//! SERVER_JVMFLAGS for ours and on the command line for Apache's), made by keytool as an
//! operator makes them (tests/src/tls.rs: a CA, one server certificate for
//! 127.0.0.1/localhost). Ensembles of ours and mixed with Apache ZooKeeper 3.8 must form
//! a quorum and replicate; a server whose certificate the others do not trust must stay
//! out, saying why, while the others serve; `portUnification` lets an ensemble roll from
//! plain to TLS one server at a time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::kazoo::Writer;
use zk_tests::tls::{Pki, Store, PASSWORD};
use zk_tests::Kind;

const TIMEOUT: Duration = Duration::from_secs(90);

/// The stores of `pki` in `store` format for every server, quorum TLS on.
fn tls_spec(spec: Spec, pki: &Pki, store: Store) -> Spec {
    let p = |f: String| pki.path(&f).display().to_string();
    spec.ticks(500, 20, 10)
        .extra("sslQuorum", "true")
        .java_prop(
            "zookeeper.ssl.quorum.keyStore.location",
            &p(format!("server-key.{}", store.ext())),
        )
        .java_prop("zookeeper.ssl.quorum.keyStore.password", PASSWORD)
        .java_prop(
            "zookeeper.ssl.quorum.trustStore.location",
            &p(format!("trust.{}", store.ext())),
        )
        .java_prop("zookeeper.ssl.quorum.trustStore.password", PASSWORD)
}

/// Quorum SASL (DIGEST-MD5) required everywhere, its JAAS file in `dir`.
fn with_quorum_sasl(spec: Spec, dir: &std::path::Path) -> Spec {
    let jaas = dir.join("jaas.conf");
    std::fs::write(
        &jaas,
        "QuorumServer {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  \
         user_test=\"test\";\n};\n\
         QuorumLearner {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  \
         username=\"test\"\n  password=\"test\";\n};\n",
    )
    .unwrap();
    spec.extra("quorum.auth.enableSasl", "true")
        .extra("quorum.auth.learnerRequireSasl", "true")
        .extra("quorum.auth.serverRequireSasl", "true")
        .java_prop(
            "java.security.auth.login.config",
            &jaas.display().to_string(),
        )
}

fn write(hosts: &str, prefix: &str) -> Vec<u64> {
    let lines = Writer::start(hosts, 0.5, prefix).finish(Duration::from_secs(60));
    let acked: Vec<u64> = lines.iter().filter_map(|v| v["ack"].as_u64()).collect();
    assert!(!acked.is_empty(), "no acknowledged writes under {prefix}");
    acked
}

/// All servers serve, a write through each reaches every other.
fn forms_a_quorum_and_replicates(ens: &mut Ensemble) {
    ens.start_all();
    let ids = ens.ids();
    ens.wait_serving(&ids, TIMEOUT);
    for id in ens.ids() {
        let prefix = format!("/q{id}");
        let acked = write(&ens.member(id).hosts(), &prefix);
        for other in ens.ids() {
            ens.assert_all_present(other, &prefix, &acked);
        }
    }
}

fn ours_log_quorum_tls(ens: &Ensemble, id: u64) {
    let log = ens.log(id);
    assert!(
        log.contains("quorum TLS: sslQuorum=true"),
        "server {id} does not run quorum TLS:\n{log}"
    );
}

/// Sends `bytes` and expects the server to close the connection within 15 s.
fn dropped_after(addr: SocketAddr, bytes: &[u8]) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(bytes).unwrap();
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            // A TLS alert may come first.
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("connection to {addr} not closed: {e}"),
        }
        assert!(Instant::now() < deadline, "connection to {addr} not closed");
    }
}

#[test]
fn three_of_ours_over_quorum_tls_replicate_and_refuse_plain_peers() {
    let pki = Pki::new();
    let mut ens = Ensemble::new(tls_spec(Spec::new(3, 0), &pki, Store::Jks));
    forms_a_quorum_and_replicates(&mut ens);
    for id in ens.ids() {
        ours_log_quorum_tls(&ens, id);
    }
    // A plain peer (an election initial message, a FOLLOWERINFO-sized packet of
    // zeros) is refused on both ports, and said so.
    let leader = ens.wait_serving(&ens.ids(), TIMEOUT);
    let m = ens.member(leader);
    let mut hello = (-65536i64).to_be_bytes().to_vec();
    hello.extend_from_slice(&1i64.to_be_bytes());
    let addr = b"127.0.0.1:1";
    hello.extend_from_slice(&(addr.len() as i32).to_be_bytes());
    hello.extend_from_slice(addr);
    dropped_after(SocketAddr::from(([127, 0, 0, 1], m.election_port)), &hello);
    dropped_after(
        SocketAddr::from(([127, 0, 0, 1], m.quorum_port)),
        &[0u8; 64],
    );
    let log = ens.log(leader);
    assert!(
        log.contains("quorum TLS with") && log.contains("TLS handshake failed"),
        "no refusal of the plain peer logged:\n{log}"
    );
    let acked = write(&ens.connect_string(), "/after");
    for id in ens.ids() {
        ens.assert_all_present(id, "/after", &acked);
    }
}

/// Server 3's certificate comes from another CA: 1 and 2 refuse it on both ports and
/// serve writes between them; 3 never serves and its log says why.
fn untrusted_stays_out(spec: Spec, pki: &Pki) {
    pki.issue(
        "rogue-server",
        "/O=Example/CN=localhost",
        "rogue-ca",
        "server.ext",
        30,
    );
    // As an operator's keytool-made JKS key store (the CA's store still trusts our CA:
    // only the peers' side refuses).
    let (rogue_jks, _) = pki.client_jks("rogue-server");
    let spec = tls_spec(spec, pki, Store::Jks).member_java_prop(
        3,
        "zookeeper.ssl.quorum.keyStore.location",
        &rogue_jks.display().to_string(),
    );
    let mut ens = Ensemble::new(spec);
    ens.start_all();
    ens.wait_serving(&[1, 2], TIMEOUT);
    let up = format!("{},{}", ens.member(1).hosts(), ens.member(2).hosts());
    let acked = write(&up, "/w");
    for id in [1, 2] {
        ens.assert_all_present(id, "/w", &acked);
    }
    ens.assert_stays_out(3, 5, "with an untrusted certificate");
    for id in [1, 2] {
        if ens.spec.kind_of(id) == Kind::Ours {
            let l = ens.log(id);
            assert!(
                l.contains("TLS handshake failed"),
                "server {id} logs no refused handshake:\n{l}"
            );
        }
    }
    if ens.spec.kind_of(3) == Kind::Ours {
        let l = ens.log(3);
        // With TLS 1.3 a client's handshake is over before the server has checked its
        // certificate: the server's alert ends the first read.
        assert!(
            l.contains("fatal alert") || l.contains("TLS handshake failed"),
            "server 3 does not say why it is out:\n{l}"
        );
    }
}

/// Server 3's certificate is from the trusted CA but names another host
/// (zk.example.com, no IP subjectAltName): with host name verification on (Apache's
/// default on the quorum) the others refuse it, saying why; with
/// `ssl.quorum.hostnameVerification=false` everywhere it joins.
#[test]
fn a_certificate_for_another_host_is_refused_unless_hostname_verification_is_off() {
    let pki = Pki::new();
    std::fs::write(
        pki.path("other-host.ext"),
        "subjectAltName=DNS:zk.example.com\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .unwrap();
    pki.issue(
        "other-host",
        "/O=Example/CN=zk.example.com",
        "ca",
        "other-host.ext",
        30,
    );
    let (jks, _) = pki.client_jks("other-host");
    let spec = tls_spec(Spec::new(3, 0), &pki, Store::Jks).member_java_prop(
        3,
        "zookeeper.ssl.quorum.keyStore.location",
        &jks.display().to_string(),
    );
    let mut ens = Ensemble::new(spec);
    ens.start_all();
    ens.wait_serving(&[1, 2], TIMEOUT);
    ens.assert_stays_out(3, 5, "with a certificate for another host");
    let refused = [1, 2]
        .iter()
        .any(|id| ens.log(*id).contains("hostname verification"));
    assert!(
        refused,
        "no host name refusal logged:\n{}",
        ens.logs(&[1, 2, 3])
    );
    for id in ens.ids() {
        ens.kill(id);
    }
    ens.spec.java_props.push((
        "zookeeper.ssl.quorum.hostnameVerification".into(),
        "false".into(),
    ));
    ens.start_all();
    ens.wait_serving(&ens.ids(), TIMEOUT);
    let acked = write(&ens.connect_string(), "/nohv");
    for id in ens.ids() {
        ens.assert_all_present(id, "/nohv", &acked);
    }
}

/// `sslQuorumReloadCertFiles=true`: server 3 starts with an untrusted certificate and
/// stays out; once its key store file is replaced by one the others trust, it reloads
/// it and joins without a restart.
#[test]
fn a_replaced_key_store_is_reloaded_and_the_server_joins() {
    let pki = Pki::new();
    pki.issue(
        "rogue-server",
        "/O=Example/CN=localhost",
        "rogue-ca",
        "server.ext",
        30,
    );
    let (rogue_jks, _) = pki.client_jks("rogue-server");
    let spec = tls_spec(Spec::new(3, 0), &pki, Store::Jks)
        .extra("sslQuorumReloadCertFiles", "true")
        .member_java_prop(
            3,
            "zookeeper.ssl.quorum.keyStore.location",
            &rogue_jks.display().to_string(),
        );
    let mut ens = Ensemble::new(spec);
    ens.start_all();
    ens.wait_serving(&[1, 2], TIMEOUT);
    ens.assert_stays_out(3, 3, "before its key store was replaced");
    // Written aside and renamed over, as an operator's tooling replaces a store.
    let tmp = pki.path("replacement.jks");
    std::fs::copy(pki.path("server-key.jks"), &tmp).unwrap();
    std::fs::rename(&tmp, &rogue_jks).unwrap();
    ens.wait_serving(&ens.ids(), TIMEOUT);
    assert!(
        ens.log(3)
            .contains("reloaded the quorum TLS key and trust stores"),
        "server 3 does not log the reload:\n{}",
        ens.log(3)
    );
    let acked = write(&ens.member(3).hosts(), "/reloaded");
    for id in ens.ids() {
        ens.assert_all_present(id, "/reloaded", &acked);
    }
}

#[test]
fn a_server_of_ours_with_an_untrusted_certificate_stays_out() {
    let pki = Pki::new();
    untrusted_stays_out(Spec::new(3, 0), &pki);
}

#[test]
fn an_apache_server_with_an_untrusted_certificate_stays_out_of_ours() {
    let pki = Pki::new();
    untrusted_stays_out(Spec::new(3, 0).member_kind(3, Kind::Apache), &pki);
}

#[test]
fn two_of_ours_and_one_apache_over_quorum_tls_with_pkcs12_stores() {
    let pki = Pki::new();
    let mut ens = Ensemble::new(tls_spec(
        Spec::new(3, 0).member_kind(2, Kind::Apache),
        &pki,
        Store::Pkcs12,
    ));
    forms_a_quorum_and_replicates(&mut ens);
    for id in [1, 3] {
        ours_log_quorum_tls(&ens, id);
    }
}

/// Quorum SASL inside quorum TLS, as Apache runs both: 2 of ours and 1 Apache.
#[test]
fn quorum_sasl_inside_quorum_tls_in_a_mixed_ensemble() {
    let pki = Pki::new();
    let spec = tls_spec(
        Spec::new(3, 0).member_kind(2, Kind::Apache),
        &pki,
        Store::Jks,
    );
    let mut ens = Ensemble::new(with_quorum_sasl(spec, pki.dir.path()));
    forms_a_quorum_and_replicates(&mut ens);
    for id in [1, 3] {
        ours_log_quorum_tls(&ens, id);
        let log = ens.log(id);
        assert!(
            log.contains("quorum SASL authentication completed"),
            "server {id} logs no quorum SASL exchange:\n{log}"
        );
    }
}

#[test]
fn one_of_ours_and_two_apache_over_quorum_tls_with_jks_stores() {
    let pki = Pki::new();
    let mut spec = Spec::new(3, 0).member_kind(3, Kind::Ours);
    spec.kind = Kind::Apache;
    let mut ens = Ensemble::new(tls_spec(spec, &pki, Store::Jks));
    forms_a_quorum_and_replicates(&mut ens);
    ours_log_quorum_tls(&ens, 3);
}

/// Apache's rolling upgrade to quorum TLS: every server gets `portUnification=true`
/// (accepting both, still connecting in plain), then one at a time `sslQuorum=true`
/// (connecting in TLS), then `portUnification` goes again; the ensemble serves writes
/// after every restart. Server 2 is Apache's.
#[test]
fn port_unification_rolls_a_mixed_ensemble_from_plain_to_tls() {
    let pki = Pki::new();
    let spec = tls_spec(
        Spec::new(3, 0).member_kind(2, Kind::Apache),
        &pki,
        Store::Jks,
    );
    // tls_spec turned sslQuorum on; the roll starts plain.
    let mut spec = spec;
    spec.extra.retain(|(k, _)| k != "sslQuorum");
    let mut ens = Ensemble::new(spec);
    let append = |ens: &Ensemble, id: u64, line: &str| {
        let path = ens.member(id).cfg_path();
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        writeln!(f, "{line}").unwrap();
    };
    let ids = ens.ids();
    for id in &ids {
        append(&ens, *id, "portUnification=true");
    }
    ens.start_all();
    ens.wait_serving(&ids, TIMEOUT);
    let mut step = 0;
    for line in ["sslQuorum=true", "portUnification=false"] {
        for id in ids.clone() {
            append(&ens, id, line);
            ens.kill(id);
            ens.start(id);
            ens.wait_serving(&ids, TIMEOUT);
            step += 1;
            let prefix = format!("/roll{step}");
            let acked = write(&ens.connect_string(), &prefix);
            for other in &ids {
                ens.assert_all_present(*other, &prefix, &acked);
            }
        }
    }
    for id in [1, 3] {
        ours_log_quorum_tls(&ens, id);
    }
}

/// Certificates naming only `DNS:localhost` (no IP subjectAltName) on every server of a
/// mixed ensemble: Apache's ZKTrustManager finds the name of 127.0.0.1 by a reverse
/// lookup, `localhost`, and accepts them; ours does the same (tls::reverse_dns), both
/// ways, so the quorum forms and replicates.
#[test]
fn localhost_only_certificates_are_accepted_by_reverse_lookup_in_a_mixed_ensemble() {
    let pki = Pki::new();
    std::fs::write(
        pki.path("localhost-only.ext"),
        "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .unwrap();
    pki.issue(
        "localhost-only",
        "/O=Example/CN=localhost",
        "ca",
        "localhost-only.ext",
        30,
    );
    let (jks, _) = pki.client_jks("localhost-only");
    let mut spec = tls_spec(
        Spec::new(3, 0).member_kind(2, Kind::Apache),
        &pki,
        Store::Jks,
    );
    for id in [1, 2, 3] {
        spec = spec.member_java_prop(
            id,
            "zookeeper.ssl.quorum.keyStore.location",
            &jks.display().to_string(),
        );
    }
    let mut ens = Ensemble::new(spec);
    forms_a_quorum_and_replicates(&mut ens);
    for id in [1, 3] {
        ours_log_quorum_tls(&ens, id);
    }
}
