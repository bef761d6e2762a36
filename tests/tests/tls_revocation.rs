//! Certificate revocation on the TLS client port as Apache configures it
//! (`ssl.crl`, `ssl.ocsp`), against Apache 3.8 on the same files: the test's CA
//! publishes a CRL and answers OCSP on 127.0.0.1 (zk_tests::revoke), clients
//! connect with `openssl s_client`; and `ssl.quorum.crl` between quorum peers, in an
//! ensemble with an Apache server.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{json, Value};
use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::revoke::RevokingCa;
use zk_tests::tls::{s_client, Pki, Store, PASSWORD};
use zk_tests::{free_port, wait_until, Kind, Options, TestServer};

fn server_log(s: &TestServer) -> String {
    let mut t = String::new();
    for f in ["stdout.log", "stderr.log"] {
        t.push_str(&std::fs::read_to_string(s.dir.path().join("logs").join(f)).unwrap_or_default());
    }
    t
}

fn options(pki: &Pki, secure: u16, extra: &[(&str, &str)]) -> Options {
    let mut o = Options {
        extra: pki.server_options(Store::Pem, secure),
        ..Options::default()
    };
    o.extra
        .extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    o
}

/// What `clients` see (answer to `ruok`, empty when refused) on a server of `kind`
/// configured with `extra`.
fn answers(pki: &Pki, kind: Kind, extra: &[(&str, &str)], clients: &[&str]) -> Vec<Value> {
    let secure = free_port();
    let server = TestServer::start(kind, &options(pki, secure, extra));
    let mut seen = Vec::new();
    for c in clients {
        let (out, _) = s_client(pki, secure, Some(c), "ruok", &[]);
        seen.push(json!({"client": c, "answer": out}));
    }
    eprintln!("{} {extra:?}: {seen:?}", kind.name());
    if kind == Kind::Ours {
        eprintln!("{}", server_log(&server));
    }
    seen
}

/// `ssl.crl=true`: a client whose certificate the CA's CRL lists is refused, one it
/// does not list is served, one whose certificate names no CRL is refused (its status
/// cannot be found), on Apache and on ours alike; with the setting off the revoked
/// client is served, as by Apache.
#[test]
fn crl_revoked_client_is_refused_like_apache() {
    let pki = Pki::new();
    let ca = RevokingCa::new(&pki);
    ca.issue("carol", "/O=Example/CN=carol", "crl_only");
    ca.issue("dave", "/O=Example/CN=dave", "crl_only");
    ca.revoke("dave");
    let clients = ["carol", "dave", "alice"];
    let apache = answers(&pki, Kind::Apache, &[("ssl.crl", "true")], &clients);
    let before = ca.crl_requests.load(Ordering::Relaxed);
    let ours = answers(&pki, Kind::Ours, &[("ssl.crl", "true")], &clients);
    assert_eq!(apache, ours, "Apache (left) and ours (right) differ");
    assert_eq!(ours[0]["answer"], json!("imok"));
    assert_eq!(ours[1]["answer"], json!(""));
    assert!(
        ca.crl_requests.load(Ordering::Relaxed) > before,
        "ours fetched no CRL"
    );

    // The log says why; the setting off serves the revoked client.
    let secure = free_port();
    let server = TestServer::start(Kind::Ours, &options(&pki, secure, &[("ssl.crl", "true")]));
    let (out, _) = s_client(&pki, secure, Some("dave"), "ruok", &[]);
    assert_eq!(out, "");
    assert!(
        wait_until(Duration::from_secs(5), || server_log(&server)
            .contains("'CN=dave,O=Example' (serial")
            && server_log(&server).contains("revoked (CRL)")),
        "{}",
        server_log(&server)
    );
    let (out, _) = s_client(&pki, secure, Some("carol"), "ruok", &[]);
    assert_eq!(out, "imok", "served after a refused client");
    drop(server);
    for kind in [Kind::Apache, Kind::Ours] {
        let off = answers(&pki, kind, &[], &["dave"]);
        assert_eq!(off[0]["answer"], json!("imok"), "{}", kind.name());
    }

    // With the CA's HTTP server gone, no status can be found: refused, saying why.
    drop(ca);
    let secure = free_port();
    let server = TestServer::start(Kind::Ours, &options(&pki, secure, &[("ssl.crl", "true")]));
    let (out, _) = s_client(&pki, secure, Some("carol"), "ruok", &[]);
    assert_eq!(out, "");
    assert!(
        wait_until(Duration::from_secs(5), || server_log(&server).contains(
            "could not determine the revocation status of 'CN=carol,O=Example'"
        )),
        "{}",
        server_log(&server)
    );
}

/// `ssl.ocsp=true`: the responder the certificate names is asked; revoked is refused,
/// good is served; a certificate with only a CRL is checked against the CRL.
#[test]
fn ocsp_revoked_client_is_refused_like_apache() {
    let pki = Pki::new();
    let ca = RevokingCa::new(&pki);
    ca.issue("erin", "/O=Example/CN=erin", "ocsp_only");
    ca.issue("frank", "/O=Example/CN=frank", "ocsp_only");
    ca.issue("carol", "/O=Example/CN=carol", "crl_only");
    ca.issue("dave", "/O=Example/CN=dave", "crl_only");
    ca.revoke("frank");
    ca.revoke("dave");
    let clients = ["erin", "frank", "carol", "dave"];
    let apache = answers(&pki, Kind::Apache, &[("ssl.ocsp", "true")], &clients);
    let before = ca.ocsp_requests.load(Ordering::Relaxed);
    let ours = answers(&pki, Kind::Ours, &[("ssl.ocsp", "true")], &clients);
    assert_eq!(apache, ours, "Apache (left) and ours (right) differ");
    assert_eq!(ours[0]["answer"], json!("imok"));
    assert_eq!(ours[1]["answer"], json!(""));
    assert!(
        ca.ocsp_requests.load(Ordering::Relaxed) > before,
        "ours asked no OCSP responder"
    );
}

/// `ssl.quorum.crl=true` on every server of a mixed ensemble (two of ours, Apache as
/// server 2), each with a certificate naming the CA's CRL: servers 1 and 2 form a
/// quorum over TLS, checking each other's certificates against the CRL; server 3's
/// certificate is revoked, and it stays out.
#[test]
fn quorum_peer_with_a_revoked_certificate_stays_out_of_a_mixed_ensemble() {
    let pki = Pki::new();
    let ca = RevokingCa::new(&pki);
    ca.issue("peer-good", "/O=Example/CN=localhost", "crl_server");
    ca.issue("peer-revoked", "/O=Example/CN=localhost", "crl_server");
    ca.revoke("peer-revoked");
    let (good, trust) = pki.client_jks("peer-good");
    let (revoked, _) = pki.client_jks("peer-revoked");
    let spec = Spec::new(3, 0)
        .member_kind(2, Kind::Apache)
        .ticks(500, 20, 10)
        .extra("sslQuorum", "true")
        .java_prop(
            "zookeeper.ssl.quorum.keyStore.location",
            &good.display().to_string(),
        )
        .java_prop("zookeeper.ssl.quorum.keyStore.password", PASSWORD)
        .java_prop(
            "zookeeper.ssl.quorum.trustStore.location",
            &trust.display().to_string(),
        )
        .java_prop("zookeeper.ssl.quorum.trustStore.password", PASSWORD)
        .java_prop("zookeeper.ssl.quorum.crl", "true")
        .member_java_prop(
            3,
            "zookeeper.ssl.quorum.keyStore.location",
            &revoked.display().to_string(),
        );
    let mut ens = Ensemble::new(spec);
    ens.start_all();
    ens.wait_serving(&[1, 2], Duration::from_secs(90));
    ens.assert_stays_out(3, 5, "with a revoked certificate");
    let l = ens.log(1);
    assert!(
        l.contains("'CN=localhost,O=Example' (serial") && l.contains("revoked (CRL)"),
        "server 1 does not say the peer's certificate is revoked:\n{}",
        ens.logs(&[1, 3])
    );
    assert!(ca.crl_requests.load(Ordering::Relaxed) > 0);
}
