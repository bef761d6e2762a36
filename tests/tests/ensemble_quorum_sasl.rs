//! Quorum SASL (DIGEST-MD5) between servers (issue 13): `quorum.auth.enableSasl`,
//! `learnerRequireSasl` and `serverRequireSasl` in zoo.cfg, the JAAS sections
//! `QuorumServer` and `QuorumLearner` from `-Djava.security.auth.login.config` (in
//! SERVER_JVMFLAGS for ours, on the command line for Apache's). Ensembles of ours and
//! mixed with Apache ZooKeeper 3.8 must form a quorum and replicate; a server with a
//! wrong password, and a peer that sends garbage in the exchange, must stay out while the
//! others serve.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::kazoo::Writer;
use zk_tests::Kind;

const TIMEOUT: Duration = Duration::from_secs(90);

/// A JAAS file as Apache's documentation gives it, with the learner's password.
fn jaas(dir: &Path, name: &str, learner_password: &str) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "QuorumServer {{\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  \
             user_test=\"test\";\n}};\n\
             QuorumLearner {{\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  \
             username=\"test\"\n  password=\"{learner_password}\";\n}};\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// Every server requires quorum SASL; the JAAS file lives in `dir`.
fn sasl_spec(spec: Spec, dir: &Path) -> Spec {
    sasl_spec_requiring(spec, dir, true)
}

/// Quorum SASL enabled; learners and servers require it or not (the first step of
/// Apache's rolling upgrade to quorum SASL requires nothing).
fn sasl_spec_requiring(spec: Spec, dir: &Path, require: bool) -> Spec {
    let require = if require { "true" } else { "false" };
    spec.ticks(500, 20, 10)
        .extra("quorum.auth.enableSasl", "true")
        .extra("quorum.auth.learnerRequireSasl", require)
        .extra("quorum.auth.serverRequireSasl", require)
        .extra("quorum.auth.learner.saslLoginContext", "QuorumLearner")
        .extra("quorum.auth.server.saslLoginContext", "QuorumServer")
        .java_prop(
            "java.security.auth.login.config",
            &jaas(dir, "jaas.conf", "test"),
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

fn ours_log_authenticated(ens: &Ensemble, id: u64) {
    let log = ens.log(id);
    assert!(
        log.contains("quorum SASL authentication completed"),
        "server {id} logs no quorum SASL exchange:\n{log}"
    );
}

#[test]
fn three_of_ours_with_quorum_sasl_form_a_quorum_and_replicate() {
    let dir = tempfile::tempdir().unwrap();
    let mut ens = Ensemble::new(sasl_spec(Spec::new(3, 0), dir.path()));
    forms_a_quorum_and_replicates(&mut ens);
    for id in ens.ids() {
        ours_log_authenticated(&ens, id);
    }
}

/// Server 3's QuorumLearner password is wrong: servers 1 and 2 refuse it on both
/// ports, serve writes between them, and 3 never serves.
fn wrong_password_stays_out(spec: Spec, dir: &Path) {
    let bad = jaas(dir, "bad.conf", "not-the-password");
    let spec = sasl_spec(spec, dir).member_java_prop(3, "java.security.auth.login.config", &bad);
    let mut ens = Ensemble::new(spec);
    ens.start_all();
    ens.wait_serving(&[1, 2], TIMEOUT);
    let up = format!("{},{}", ens.member(1).hosts(), ens.member(2).hosts());
    let acked = write(&up, "/w");
    for id in [1, 2] {
        ens.assert_all_present(id, "/w", &acked);
    }
    // It has had time to try: several election rounds at 500 ms ticks.
    ens.assert_stays_out(3, 5, "with a wrong password");
    let refused = [1, 2].iter().any(|id| {
        let l = ens.log(*id);
        l.contains("quorum authentication of the peer failed")
            || l.contains("Failed to authenticate using SASL")
    });
    assert!(refused, "no refusal logged:\n{}", ens.logs(&[1, 2]));
    if ens.spec.kind_of(3) == Kind::Ours {
        let l = ens.log(3);
        assert!(
            l.contains("quorum authentication as learner failed"),
            "server 3 does not say why it is out:\n{l}"
        );
    }
}

#[test]
fn a_server_of_ours_with_a_wrong_password_stays_out() {
    let dir = tempfile::tempdir().unwrap();
    wrong_password_stays_out(Spec::new(3, 0), dir.path());
}

#[test]
fn two_of_ours_and_one_apache_with_quorum_sasl() {
    let dir = tempfile::tempdir().unwrap();
    let mut ens = Ensemble::new(sasl_spec(
        Spec::new(3, 0).member_kind(2, Kind::Apache),
        dir.path(),
    ));
    forms_a_quorum_and_replicates(&mut ens);
    for id in [1, 3] {
        ours_log_authenticated(&ens, id);
    }
    let apache = ens.log(2);
    assert!(
        apache.contains("Successfully completed the authentication using SASL"),
        "Apache logs no quorum SASL:\n{apache}"
    );
}

#[test]
fn sasl_enabled_and_not_required_in_a_mixed_ensemble() {
    let dir = tempfile::tempdir().unwrap();
    let mut ens = Ensemble::new(sasl_spec_requiring(
        Spec::new(3, 0).member_kind(2, Kind::Apache),
        dir.path(),
        false,
    ));
    forms_a_quorum_and_replicates(&mut ens);
    for id in [1, 3] {
        let log = ens.log(id);
        assert!(
            !log.contains("quorum authentication"),
            "server {id} refused or failed a peer:\n{log}"
        );
    }
}

#[test]
fn one_of_ours_and_two_apache_with_quorum_sasl() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = Spec::new(3, 0).member_kind(3, Kind::Ours);
    spec.kind = Kind::Apache;
    let mut ens = Ensemble::new(sasl_spec(spec, dir.path()));
    forms_a_quorum_and_replicates(&mut ens);
    ours_log_authenticated(&ens, 3);
}

#[test]
fn an_apache_server_with_a_wrong_password_stays_out_of_ours() {
    let dir = tempfile::tempdir().unwrap();
    wrong_password_stays_out(Spec::new(3, 0).member_kind(3, Kind::Apache), dir.path());
}

/// `QUORUM_AUTH_MAGIC_NUMBER` as the bytes on the wire.
const MAGIC: [u8; 8] = [0x5f, 0x24, 0x35, 0x01, 0x35, 0x01, 0xed, 0xcc];

/// Sends `bytes` and expects the server to close the connection within 10 s.
fn dropped_after(addr: SocketAddr, bytes: &[u8]) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            // An ERROR packet may come first.
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("connection to {addr} not closed: {e}"),
        }
        assert!(Instant::now() < deadline, "connection to {addr} not closed");
    }
}

#[test]
fn a_peer_sending_garbage_in_the_exchange_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut ens = Ensemble::new(sasl_spec(Spec::new(3, 0), dir.path()));
    ens.start_all();
    let leader = ens.wait_serving(&ens.ids(), TIMEOUT);
    let m = ens.member(leader);
    let election = SocketAddr::from(([127, 0, 0, 1], m.election_port));
    let quorum = SocketAddr::from(([127, 0, 0, 1], m.quorum_port));
    // The election port: an initial message (V1, sid 1), then an auth packet whose token
    // claims 2 GiB.
    let mut hello = (-65536i64).to_be_bytes().to_vec();
    hello.extend_from_slice(&1i64.to_be_bytes());
    let addr = b"127.0.0.1:1";
    hello.extend_from_slice(&(addr.len() as i32).to_be_bytes());
    hello.extend_from_slice(addr);
    let mut huge = MAGIC.to_vec();
    huge.extend_from_slice(&0i32.to_be_bytes());
    huge.extend_from_slice(&i32::MAX.to_be_bytes());
    dropped_after(election, &[hello.clone(), huge.clone()].concat());
    // A well-formed first packet, then a response that is not DIGEST-MD5.
    let mut first = MAGIC.to_vec();
    first.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    let mut junk = MAGIC.to_vec();
    junk.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 5]);
    junk.extend_from_slice(b"\x00\xff=,\"");
    dropped_after(
        election,
        &[hello.clone(), first.clone(), junk.clone()].concat(),
    );
    // The quorum port: the same two, and a learner that does not authenticate at all
    // (a FOLLOWERINFO-sized frame of zeros).
    dropped_after(quorum, &huge);
    dropped_after(quorum, &[first, junk].concat());
    dropped_after(quorum, &[0u8; 64]);
    let log = ens.log(leader);
    assert!(
        log.contains("quorum authentication of the peer failed")
            && log.contains("learner dropped during handshake"),
        "no refusal logged:\n{log}"
    );
    // The ensemble goes on serving.
    let acked = write(&ens.connect_string(), "/after");
    for id in ens.ids() {
        ens.assert_all_present(id, "/after", &acked);
    }
}
