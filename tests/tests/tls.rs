//! Client TLS and x509 authentication, as Apache ZooKeeper configures them
//! (`secureClientPort`, `ssl.*`, `authProvider.x509`), with real clients:
//! `openssl s_client`, kazoo with `use_ssl`, zkCli.sh over Netty, against our
//! server and against Apache 3.8 (NettyServerCnxnFactory) configured the same way.
//! Certificates and stores are made by the test (zk_tests::tls::Pki).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use zk_tests::tls::{kazoo, s_client, Pki, Store, CLIENTS, PASSWORD};
use zk_tests::{
    apache_classpath, free_port, run_with_timeout, wait_until, Kind, Options, TestServer,
};

fn dn(name: &str) -> &'static str {
    CLIENTS.iter().find(|c| c.0 == name).unwrap().2
}

fn options(pki: &Pki, store: Store, secure_port: u16) -> Options {
    Options {
        extra: pki.server_options(store, secure_port),
        ..Options::default()
    }
}

fn server_log(s: &TestServer) -> String {
    let mut t = String::new();
    for f in ["stdout.log", "stderr.log"] {
        t.push_str(&std::fs::read_to_string(s.dir.path().join("logs").join(f)).unwrap_or_default());
    }
    t
}

#[test]
fn openssl_handshake_four_letter_words_and_refused_certificates() {
    let pki = Pki::new();
    let secure = free_port();
    let server = TestServer::start(Kind::Ours, &options(&pki, Store::Pem, secure));

    let (out, err) = s_client(&pki, secure, Some("alice"), "ruok", &[]);
    assert_eq!(out, "imok", "a trusted client: {err}");
    // TLS 1.2 alone, as a client that cannot do 1.3.
    let (out, err) = s_client(&pki, secure, Some("alice"), "ruok", &["-tls1_2"]);
    assert_eq!(out, "imok", "TLS 1.2: {err}");

    for (client, reason) in [
        (Some("mallory"), "UnknownIssuer"),
        (Some("expired"), "Expired"),
        (None, "peer sent no certificates"),
    ] {
        let (out, _) = s_client(&pki, secure, client, "ruok", &[]);
        assert_eq!(out, "", "{client:?} must be refused");
        let log = server_log(&server);
        assert!(
            wait_until(Duration::from_secs(5), || server_log(&server)
                .contains(reason)),
            "no log line with {reason} for {client:?}:\n{log}"
        );
    }
    assert!(server_log(&server).contains("closed TLS connection from 127.0.0.1:"));

    // Garbage, and a handshake that stops halfway, on the TLS port: others are served.
    let addr: SocketAddr = format!("127.0.0.1:{secure}").parse().unwrap();
    let mut garbage = TcpStream::connect(addr).unwrap();
    garbage.write_all(&[0xde; 64]).unwrap();
    garbage
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let _ = garbage.read_to_end(&mut buf);
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(&[22, 3, 1, 0x02, 0x00, 1, 0, 1, 0xfc, 3, 3])
        .unwrap();
    let (out, err) = s_client(&pki, secure, Some("alice"), "ruok", &[]);
    assert_eq!(out, "imok", "served beside a half handshake: {err}");
    // The plain port goes on as before; conf names the secure port, as Apache's does.
    assert_eq!(
        zk_tests::four_letter_word(server.addr(), "ruok").unwrap(),
        "imok"
    );
    let conf = zk_tests::four_letter_word(server.addr(), "conf").unwrap();
    assert!(
        conf.contains(&format!("secureClientPort={secure}\n")),
        "{conf}"
    );
    drop(half);
}

/// kazoo over TLS with x509 ACLs, on Apache and on ours: alice's node lets alice
/// and the x509 super user in and keeps bob out; the `auth` ACL names the x509 id.
#[test]
fn kazoo_x509_acls_like_apache() {
    let pki = Pki::new();
    let mut outputs = Vec::new();
    for kind in [Kind::Apache, Kind::Ours] {
        let secure = free_port();
        let mut opts = options(&pki, Store::Jks, secure);
        opts.extra.push((
            "X509AuthenticationProvider.superUser".into(),
            dn("admin").into(),
        ));
        let server = TestServer::start(kind, &opts);
        let hosts = format!("127.0.0.1:{secure}");
        let mut lines = Vec::new();
        lines.extend(kazoo(
            &pki,
            &hosts,
            Some("alice"),
            &[
                &format!("create:/alice:{}", dn("alice")),
                "get:/alice",
                "getacl:/alice",
            ],
        ));
        lines.extend(kazoo(
            &pki,
            &hosts,
            Some("bob"),
            &["get:/alice", "set:/alice:x"],
        ));
        lines.extend(kazoo(&pki, &hosts, Some("admin"), &["get:/alice"]));
        // An ACL naming bob's DN (with its escapes and the e-mail OID) lets bob in.
        lines.extend(kazoo(
            &pki,
            &hosts,
            Some("bob"),
            &[&format!("create:/bob:{}", dn("bob")), "get:/bob"],
        ));
        eprintln!("{}: {lines:?}", kind.name());
        if kind == Kind::Ours {
            assert!(
                server_log(&server).contains("Authenticated Id 'CN=alice,OU=clients,O=Example'")
            );
        }
        outputs.push(lines);
    }
    assert_eq!(
        outputs[0], outputs[1],
        "Apache (left) and ours (right) differ"
    );
    let ours = &outputs[1];
    assert!(ours.contains(&json!({"step": "get", "path": "/alice", "ok": true, "data": "v"})));
    assert!(ours
        .contains(&json!({"step": "get", "path": "/alice", "ok": false, "error": "NoAuthError"})));
    assert!(ours.contains(&json!({"step": "get", "path": "/bob", "ok": true, "data": "v"})));
    assert!(ours.contains(
        &json!({"step": "getacl", "path": "/alice", "ok": true, "acl": [[31, "x509", dn("alice")]]})
    ));
}

/// The same server key and trust stores as PEM, PKCS12 and JKS (type from the file name,
/// and once from ssl.*.type with a name that does not tell), on Apache and on ours.
/// The PEM key is encrypted with the password (PBE-SHA1-3DES, which Apache 3.8's
/// PemReader decrypts on Java 17).
#[test]
fn key_and_trust_stores_in_every_format() {
    let pki = Pki::new();
    for store in [Store::Pem, Store::Pkcs12, Store::Jks] {
        let mut outputs = Vec::new();
        for kind in [Kind::Apache, Kind::Ours] {
            let secure = free_port();
            let server = TestServer::start(kind, &options(&pki, store, secure));
            let lines = kazoo(
                &pki,
                &format!("127.0.0.1:{secure}"),
                Some("alice"),
                &["createopen:/s", "get:/s"],
            );
            assert_eq!(
                lines.last().unwrap(),
                &json!({"step": "get", "path": "/s", "ok": true, "data": "v"}),
                "{store:?} on {}: {lines:?}\n{}",
                kind.name(),
                server.log_tail()
            );
            outputs.push(lines);
        }
        assert_eq!(outputs[0], outputs[1], "{store:?}");
    }
    // A JKS store under a name that says nothing, typed by ssl.keyStore.type.
    std::fs::copy(pki.path("server-key.jks"), pki.path("server-store.bin")).unwrap();
    let secure = free_port();
    let mut opts = options(&pki, Store::Pem, secure);
    for (k, v) in opts.extra.iter_mut() {
        if k == "ssl.keyStore.location" {
            *v = pki.path("server-store.bin").display().to_string();
        }
    }
    opts.extra.push(("ssl.keyStore.type".into(), "JKS".into()));
    let _server = TestServer::start(Kind::Ours, &opts);
    let (out, err) = s_client(&pki, secure, Some("alice"), "ruok", &[]);
    assert_eq!(out, "imok", "{err}");
}

/// zkCli.sh over TLS: ClientCnxnSocketNetty with zookeeper.client.secure and JKS stores.
#[test]
fn zkcli_over_tls() {
    let pki = Pki::new();
    let secure = free_port();
    let server = TestServer::start(Kind::Ours, &options(&pki, Store::Pem, secure));
    let (ks, ts) = pki.client_jks("alice");
    let flags = format!(
        "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty \
         -Dzookeeper.client.secure=true -Dzookeeper.ssl.keyStore.location={} \
         -Dzookeeper.ssl.keyStore.password={PASSWORD} -Dzookeeper.ssl.trustStore.location={} \
         -Dzookeeper.ssl.trustStore.password={PASSWORD}",
        ks.display(),
        ts.display()
    );
    let zkcli = |args: &[&str]| {
        let mut cmd = Command::new(zk_tests::java());
        cmd.args(flags.split_whitespace())
            .arg("-cp")
            .arg(apache_classpath(false))
            .arg("org.apache.zookeeper.ZooKeeperMain")
            .args(["-server", &format!("127.0.0.1:{secure}")])
            .args(args);
        let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let out = zkcli(&["create", "/cli", "over-tls"]);
    assert!(out.contains("Created /cli"), "{out}\n{}", server.log_tail());
    let out = zkcli(&["get", "/cli"]);
    assert!(out.contains("over-tls"), "{out}");
}

/// client.portUnification: a TLS client and a plain one on the one client port.
#[test]
fn port_unification_serves_tls_and_plain_on_one_port() {
    let pki = Pki::new();
    let mut extra = pki.server_options(Store::Pem, 0);
    extra.retain(|(k, _)| k != "secureClientPort" && k != "secureClientPortAddress");
    extra.push(("client.portUnification".into(), "true".into()));
    let server = TestServer::start(
        Kind::Ours,
        &Options {
            extra,
            ..Options::default()
        },
    );
    let lines = kazoo(
        &pki,
        &server.hosts(),
        Some("alice"),
        &["createopen:/u", "get:/u"],
    );
    assert_eq!(
        lines.last().unwrap(),
        &json!({"step": "get", "path": "/u", "ok": true, "data": "v"}),
        "{lines:?}\n{}",
        server.log_tail()
    );
    // Plain: four-letter words and a plain kazoo session on the same port.
    assert_eq!(
        zk_tests::four_letter_word(server.addr(), "ruok").unwrap(),
        "imok"
    );
    let script = format!(
        "from kazoo.client import KazooClient\nzk = KazooClient(hosts='{}')\nzk.start(timeout=15)\nprint(zk.get('/u')[0].decode())\nzk.stop()\n",
        server.hosts()
    );
    let out = run_with_timeout(
        Command::new(zk_tests::python()).args(["-c", &script]),
        Duration::from_secs(60),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v");
    // Over TLS, four-letter words work too.
    let (out, err) = s_client(&pki, server.port, Some("alice"), "ruok", &[]);
    assert_eq!(out, "imok", "{err}");
}

/// zookeeper.client.certReload: a renewed server certificate is served without a restart.
#[test]
fn renewed_certificate_is_served_after_reload() {
    let pki = Pki::new();
    let secure = free_port();
    let mut opts = options(&pki, Store::Pem, secure);
    opts.extra.push(("client.certReload".into(), "true".into()));
    let server = TestServer::start(Kind::Ours, &opts);
    let subject = || {
        let (_, err) = s_client(&pki, secure, Some("alice"), "ruok", &["-showcerts"]);
        err
    };
    let cn = |s: String| s.contains("CN = localhost");
    assert!(cn(subject()));
    pki.issue("server", "/O=Example/CN=renewed", "ca", "server.ext", 30);
    pki.server_stores();
    assert!(
        wait_until(Duration::from_secs(15), || subject()
            .contains("CN = renewed")),
        "the renewed certificate is not served:\n{}",
        server.log_tail()
    );
    assert!(server_log(&server).contains("reloaded the TLS key and trust stores"));
}

/// ssl.clientAuth=want serves a client without a certificate (and names one with it);
/// without `authProvider.x509` a TLS port still registers Apache's x509 provider
/// (QuorumPeerConfig.configureSSLAuth), so a client with a certificate is served.
#[test]
fn client_auth_want_and_the_default_x509_provider_like_apache() {
    let pki = Pki::new();
    let mut outputs = Vec::new();
    for kind in [Kind::Apache, Kind::Ours] {
        let mut lines = Vec::new();
        let secure = free_port();
        let mut opts = options(&pki, Store::Jks, secure);
        opts.extra.push(("ssl.clientAuth".into(), "want".into()));
        let server = TestServer::start(kind, &opts);
        let hosts = format!("127.0.0.1:{secure}");
        lines.extend(kazoo(&pki, &hosts, None, &["createopen:/w", "get:/w"]));
        lines.extend(kazoo(
            &pki,
            &hosts,
            Some("alice"),
            &[&format!("create:/a:{}", dn("alice")), "get:/a"],
        ));
        drop(server);

        let secure = free_port();
        let mut opts = options(&pki, Store::Jks, secure);
        opts.extra.retain(|(k, _)| k != "authProvider.x509");
        let server = TestServer::start(kind, &opts);
        let hosts = format!("127.0.0.1:{secure}");
        lines.extend(kazoo(
            &pki,
            &hosts,
            Some("alice"),
            &[&format!("create:/n:{}", dn("alice")), "get:/n"],
        ));
        lines.extend(kazoo(&pki, &hosts, Some("bob"), &["get:/n"]));
        drop(server);
        eprintln!("{}: {lines:?}", kind.name());
        outputs.push(lines);
    }
    assert_eq!(
        outputs[0], outputs[1],
        "Apache (left) and ours (right) differ"
    );
    let ours = &outputs[1];
    assert!(ours.contains(&json!({"step": "get", "path": "/w", "ok": true, "data": "v"})));
    assert!(ours.contains(&json!({"step": "get", "path": "/a", "ok": true, "data": "v"})));
    assert!(ours.contains(&json!({"step": "get", "path": "/n", "ok": true, "data": "v"})));
    assert_eq!(
        ours.last().unwrap(),
        &json!({"step": "get", "path": "/n", "ok": false, "error": "NoAuthError"})
    );
}

/// What openssl, a plain four-letter word and kazoo see on Apache and on ours, both
/// with a secure port and port unification on the plain one (JKS stores).
#[test]
fn tls_ports_like_apache() {
    let pki = Pki::new();
    let mut outputs = Vec::new();
    for kind in [Kind::Apache, Kind::Ours] {
        let secure = free_port();
        let mut opts = options(&pki, Store::Jks, secure);
        opts.extra
            .push(("client.portUnification".into(), "true".into()));
        let server = TestServer::start(kind, &opts);
        let mut seen: Vec<Value> = Vec::new();
        for client in ["alice", "mallory", "expired"] {
            let (out, _) = s_client(&pki, secure, Some(client), "ruok", &[]);
            seen.push(json!({"secure port": client, "answer": out}));
        }
        let (out, _) = s_client(&pki, server.port, Some("alice"), "ruok", &[]);
        seen.push(json!({"unified port": "alice", "answer": out}));
        let (out, _) = s_client(&pki, server.port, Some("mallory"), "ruok", &[]);
        seen.push(json!({"unified port": "mallory", "answer": out}));
        let plain = zk_tests::four_letter_word(server.addr(), "ruok").unwrap();
        seen.push(json!({"unified port": "plain", "answer": plain}));
        for l in kazoo(
            &pki,
            &server.hosts(),
            Some("alice"),
            &["createopen:/p", "get:/p"],
        ) {
            seen.push(l);
        }
        eprintln!("{}: {seen:?}", kind.name());
        outputs.push(seen);
    }
    assert_eq!(
        outputs[0], outputs[1],
        "Apache (left) and ours (right) differ"
    );
    assert_eq!(outputs[1][0]["answer"], json!("imok"));
    assert_eq!(outputs[1][1]["answer"], json!(""));
}

/// `mntr`'s handshake figures after refused and accepted TLS clients, on Apache and on
/// ours: a failed client handshake counts in `unsuccessful_handshake` and in
/// `auth_failed_count` (Apache's NettyServerCnxnFactory.CertificateVerifier);
/// `tls_handshake_exceeded` stays 0 without a handshake limit.
#[test]
fn handshake_metrics_in_mntr_like_apache() {
    let pki = Pki::new();
    let figures = |server: &TestServer| -> Vec<(String, String)> {
        let mntr = zk_tests::four_letter_word(server.addr(), "mntr").unwrap();
        let mut v: Vec<(String, String)> = mntr
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .filter(|(k, _)| {
                matches!(
                    *k,
                    "zk_unsuccessful_handshake"
                        | "zk_auth_failed_count"
                        | "zk_tls_handshake_exceeded"
                )
            })
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        v.sort();
        v
    };
    let mut outputs = Vec::new();
    for kind in [Kind::Apache, Kind::Ours] {
        let secure = free_port();
        let server = TestServer::start(kind, &options(&pki, Store::Pkcs12, secure));
        let before = figures(&server);
        for client in [Some("alice"), Some("mallory"), Some("expired"), None] {
            let _ = s_client(&pki, secure, client, "ruok", &[]);
        }
        // The count follows the closed connection; give it a moment on a loaded machine.
        let want = |f: &Vec<(String, String)>| {
            f.iter()
                .any(|(k, v)| k == "zk_unsuccessful_handshake" && v == "3")
        };
        wait_until(Duration::from_secs(10), || want(&figures(&server)));
        let after = figures(&server);
        eprintln!("{}: before {before:?} after {after:?}", kind.name());
        outputs.push((before, after));
    }
    assert_eq!(
        outputs[0], outputs[1],
        "Apache (left) and ours (right) differ"
    );
    let after = &outputs[1].1;
    assert!(
        after.contains(&("zk_unsuccessful_handshake".into(), "3".into()))
            && after.contains(&("zk_auth_failed_count".into(), "3".into()))
            && after.contains(&("zk_tls_handshake_exceeded".into(), "0".into())),
        "{after:?}"
    );
}

/// EC (P-256) keys made by keytool, in JKS and in PKCS12: Java stores them without
/// their public key, which ours derives. Apache and ours both serve TLS with them.
#[test]
fn keytool_ec_keys_in_jks_and_pkcs12_like_apache() {
    let pki = Pki::new();
    pki.ec_key_stores();
    for kind in [Kind::Apache, Kind::Ours] {
        for file in ["ec-key.jks", "ec-key.p12"] {
            let secure = free_port();
            let mut opts = options(&pki, Store::Jks, secure);
            for (k, v) in opts.extra.iter_mut() {
                if k == "ssl.keyStore.location" {
                    *v = pki.path(file).display().to_string();
                }
            }
            let server = TestServer::start(kind, &opts);
            let (out, err) = s_client(&pki, secure, Some("alice"), "ruok", &[]);
            assert_eq!(
                out,
                "imok",
                "{} with {file}: {err}\n{}",
                kind.name(),
                server_log(&server)
            );
        }
    }
}
