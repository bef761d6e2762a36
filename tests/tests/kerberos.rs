//! SASL GSSAPI (Kerberos) on the client port, against Apache ZooKeeper 3.8 in the same
//! throwaway realm: a KDC from Debian's `krb5-kdc` started by the test under a temporary
//! directory (its own krb5.conf and kdc.conf, on a free 127.0.0.1 port, killed by pid),
//! principals `zookeeper/localhost@ZK.TEST` and clients, keytabs from `kadmin.local`.
//! Both servers get the same JAAS `Server` section (`Krb5LoginModule` with the keytab)
//! and `-Djava.security.krb5.conf`; ours in SERVER_JVMFLAGS as zkServer.sh passes them.
//! Clients: kazoo through puresasl and pykerberos, zkCli.sh with a client JAAS section,
//! and a raw client sending garbage tokens.

mod bare;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use bare::{start_bare_with, Bare};
use zk_tests::krb::{Realm, SERVER_PRINCIPAL};
use zk_tests::raw::{self, RawClient};
use zk_tests::{
    apache_classpath, assert_same_lines, crate_dir, free_port, has_line, java, output_lines,
    python, run_with_timeout, Kind,
};

const SASL_PROVIDER: &str =
    "zookeeper.authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider";

/// A server of `kind` logged in as zookeeper/localhost, with `props` and zoo.cfg `extra`.
fn server(realm: &Realm, kind: Kind, props: &[&str], extra: &str) -> Bare {
    let login = format!(
        "java.security.auth.login.config={}",
        realm.jaas("Server", SERVER_PRINCIPAL).display()
    );
    let krb5 = format!("java.security.krb5.conf={}", realm.krb5_conf().display());
    let mut all = vec![login.as_str(), krb5.as_str(), SASL_PROVIDER];
    all.extend_from_slice(props);
    start_bare_with(kind, extra, &all)
}

/// tests/py/sasl_gssapi.py as `principal` against `server`: its JSON lines.
fn kazoo(realm: &Realm, principal: &str, server: &Bare) -> Vec<String> {
    let cache = realm.kinit(principal);
    let mut cmd = Command::new(python());
    cmd.arg(crate_dir().join("py").join("sasl_gssapi.py"))
        .arg("--hosts")
        .arg(server.addr.to_string())
        .arg("--principal")
        .arg(principal)
        .env("KRB5_CONFIG", realm.krb5_conf())
        .env("KRB5CCNAME", format!("FILE:{}", cache.display()));
    output_lines(
        &mut cmd,
        "sasl_gssapi.py",
        Duration::from_secs(120),
        String::new,
    )
}

#[test]
fn kazoo_gssapi_and_sasl_acls_as_apache() {
    let realm = Realm::new(&["alice@ZK.TEST"]);
    let apache = server(&realm, Kind::Apache, &[], "");
    let a = kazoo(&realm, "alice@ZK.TEST", &apache);
    drop(apache);
    let ours = server(&realm, Kind::Ours, &[], "");
    let o = kazoo(&realm, "alice@ZK.TEST", &ours);
    assert_same_lines("kazoo with GSSAPI", &a, &o);
    for line in [
        r#"{"ok": true, "step": "connect alice@ZK.TEST"}"#,
        r#"{"ok": [[31, ["sasl", "alice@ZK.TEST"]]], "step": "getAcl"}"#,
        r#"{"ok": "kdata", "step": "get"}"#,
        r#"{"err": "NoAuthError", "step": "anonymous get"}"#,
    ] {
        assert!(has_line(&o, line), "missing {line} in\n{}", o.join("\n"));
    }
}

/// `kerberos.removeHostFromPrincipal` / `removeRealmFromPrincipal` as zoo.cfg keys (Apache
/// turns them into `zookeeper.kerberos.*`): a service principal's id loses both.
#[test]
fn principal_mapping_as_apache() {
    let svc = "svc/localhost@ZK.TEST";
    let realm = Realm::new(&[svc]);
    let extra = "kerberos.removeHostFromPrincipal=true\nkerberos.removeRealmFromPrincipal=true\n";
    let apache = server(&realm, Kind::Apache, &[], extra);
    let a = kazoo(&realm, svc, &apache);
    drop(apache);
    let ours = server(&realm, Kind::Ours, &[], extra);
    let o = kazoo(&realm, svc, &ours);
    assert_same_lines("kazoo with a mapped principal", &a, &o);
    assert!(
        has_line(&o, r#"{"ok": [[31, ["sasl", "svc"]]], "step": "getAcl"}"#),
        "{}",
        o.join("\n")
    );
    // Without the settings, the whole principal.
    let ours = server(&realm, Kind::Ours, &[], "");
    let o = kazoo(&realm, svc, &ours);
    assert!(
        has_line(
            &o,
            r#"{"ok": [[31, ["sasl", "svc/localhost@ZK.TEST"]]], "step": "getAcl"}"#
        ),
        "{}",
        o.join("\n")
    );
}

/// `security.auth_to_local` rules beyond DEFAULT (Apache turns the zoo.cfg key into
/// `zookeeper.security.auth_to_local`, read by its KerberosName): a two-component rule
/// renames the service principal, then the host and realm are removed as configured; a
/// principal no rule applies to keeps its whole name (and is not the node's owner).
/// Apache's and ours give the same answers.
#[test]
fn auth_to_local_rules_as_apache() {
    let svc = "svc/localhost@ZK.TEST";
    let realm = Realm::new(&[svc, "alice@ZK.TEST"]);
    let extra = "security.auth_to_local=RULE:[2:$1_$2@$0](svc_.*)s/@.*//\n\
                 kerberos.removeHostFromPrincipal=true\nkerberos.removeRealmFromPrincipal=true\n";
    let mut seen = Vec::new();
    for kind in [Kind::Apache, Kind::Ours] {
        let server = server(&realm, kind, &[], extra);
        let mut lines = kazoo(&realm, svc, &server);
        lines.extend(kazoo(&realm, "alice@ZK.TEST", &server));
        seen.push(lines);
    }
    assert_same_lines("kazoo with auth_to_local rules", &seen[0], &seen[1]);
    let o = &seen[1];
    let line = r#"{"ok": [[31, ["sasl", "svc_localhost"]]], "step": "getAcl"}"#;
    assert!(has_line(o, line), "missing {line} in\n{}", o.join("\n"));
    // alice (one component, no rule for it) is not the owner svc_localhost: kept out.
    let line = r#"{"err": "NoAuthError", "step": "get"}"#;
    assert!(has_line(o, line), "missing {line} in\n{}", o.join("\n"));
}

/// zkCli.sh logged in from a client JAAS section with its keytab; its output from the
/// first command on, log lines left out.
fn zkcli(realm: &Realm, server: &Bare, principal: &str, cmds: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let zkcli = "/usr/share/zookeeper/bin/zkCli.sh";
    let mut cmd = if Path::new(zkcli).exists() {
        Command::new(zkcli)
    } else {
        let mut c = Command::new(java());
        c.arg("-cp")
            .arg(apache_classpath(false))
            .arg("org.apache.zookeeper.ZooKeeperMain");
        c
    };
    let script = dir.path().join("cmds.txt");
    std::fs::write(&script, cmds).unwrap();
    cmd.arg("-server")
        .arg(server.addr.to_string())
        .env(
            "CLIENT_JVMFLAGS",
            format!(
                "-Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
                 -Djava.security.auth.login.config={} -Djava.security.krb5.conf={} \
                 -Dzookeeper.sasl.client.username=zookeeper",
                realm.jaas("Client", principal).display(),
                realm.krb5_conf().display()
            ),
        )
        .env("ZOO_LOG_DIR", dir.path())
        .stdin(std::fs::File::open(&script).unwrap())
        .stderr(Stdio::piped());
    let out = run_with_timeout(&mut cmd, Duration::from_secs(120));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text.lines()
        .map(|l| match l.rfind("] ") {
            Some(i) if l.starts_with("[zk:") => &l[i + 2..],
            _ => l,
        })
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("Connecting to")
                && !l.starts_with("Welcome to ZooKeeper")
                && !l.starts_with("JLine support")
                && !l.starts_with("WATCHER::")
                && !l.starts_with("WatchedEvent")
                && !l.contains("log4j")
                && !l.contains("SLF4J")
                && !l.contains(" INFO ")
                && !l.contains(" WARN ")
                && !l.starts_with("Exception in thread")
                && !l.starts_with('\t')
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn zkcli_with_a_kerberos_client_section_as_apache() {
    let (alice, bob) = ("alice@ZK.TEST", "bob@ZK.TEST");
    let realm = Realm::new(&[alice, bob]);
    let as_alice = "create /z zdata sasl:alice@ZK.TEST:cdrwa\ngetAcl /z\nget /z\nwhoami\n";
    let as_bob = "getAcl /z\nget /z\nwhoami\n";
    let mut outputs = Vec::new();
    for kind in [Kind::Apache, Kind::Ours] {
        let server = server(&realm, kind, &[], "");
        let a = zkcli(&realm, &server, alice, as_alice);
        let b = zkcli(&realm, &server, bob, as_bob);
        outputs.push((a, b));
    }
    let (apache, ours) = (&outputs[0], &outputs[1]);
    assert_eq!(
        apache, ours,
        "zkCli.sh with Kerberos: ours differs from Apache\napache:\n{}\n--\n{}\nours:\n{}\n--\n{}",
        apache.0, apache.1, ours.0, ours.1
    );
    assert!(ours.0.contains("'sasl,'alice@ZK.TEST"), "{}", ours.0);
    assert!(ours.0.contains("zdata"), "{}", ours.0);
    assert!(ours.0.contains("sasl: alice@ZK.TEST"), "{}", ours.0);
    assert!(ours.1.contains("sasl: bob@ZK.TEST"), "{}", ours.1);
    assert!(ours.1.contains("Insufficient permission"), "{}", ours.1);
}

fn sasl_body(token: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    raw::put_buf(&mut b, token);
    b
}

/// Garbage GSSAPI tokens from raw clients: each answered AuthFailed with no token and
/// its connection closed; a client connected alongside goes on.
fn garbage_script(addr: SocketAddr) -> Vec<String> {
    let mut out = Vec::new();
    let mut bystander = RawClient::connect(addr).unwrap();
    bystander.create("/by", b"", 0).unwrap();
    let tokens: [(&str, &[u8]); 3] = [
        ("garbage", b"\x00\xffnot a kerberos token"),
        (
            "a truncated GSS-API token",
            b"\x60\x82\x02\x00\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02",
        ),
        ("an empty token", b""),
    ];
    for (what, token) in tokens {
        let mut c = RawClient::connect(addr).unwrap();
        let r = c.call_with_xid(5, raw::OP_SASL, &sasl_body(token)).unwrap();
        let n = r
            .body
            .get(..4)
            .map(|b| i32::from_be_bytes(b.try_into().unwrap()));
        out.push(format!(
            "{what}: xid {} zxid {} err {} token length {n:?}",
            r.xid, r.zxid, r.err
        ));
        out.push(format!(
            "closed: {}",
            c.closed_within(Duration::from_secs(10))
        ));
    }
    let r = bystander.get_data("/by", false).unwrap();
    out.push(format!("bystander get: err {}", r.err));
    out
}

#[test]
fn garbage_gssapi_tokens_close_that_connection_only_as_apache() {
    let realm = Realm::new(&[]);
    let apache = server(&realm, Kind::Apache, &[], "");
    let a = garbage_script(apache.addr);
    drop(apache);
    let ours = server(&realm, Kind::Ours, &[], "");
    let o = garbage_script(ours.addr);
    assert_same_lines("garbage GSSAPI tokens", &a, &o);
    assert_eq!(o[0], "garbage: xid 5 zxid 0 err -115 token length Some(-1)");
    assert_eq!(o[1], "closed: true");
    assert_eq!(o.last().unwrap(), "bystander get: err 0");
}

/// A keytab without the configured principal stops both servers at start-up; ours
/// names the keytab and the principal.
#[test]
fn a_keytab_without_the_principal_stops_both_servers() {
    let alice = "alice@ZK.TEST";
    let realm = Realm::new(&[alice]);
    let jaas = realm.dir().join("wrong.jaas");
    let keytab = realm.keytab(alice);
    std::fs::write(
        &jaas,
        format!(
            "Server {{\n  com.sun.security.auth.module.Krb5LoginModule required\n  \
             useKeyTab=true\n  keyTab=\"{}\"\n  storeKey=true\n  useTicketCache=false\n  \
             principal=\"{SERVER_PRINCIPAL}\";\n}};\n",
            keytab.display()
        ),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=2000\ndataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n",
            dir.path().join("data").display(),
            free_port()
        ),
    )
    .unwrap();
    let login = format!("java.security.auth.login.config={}", jaas.display());
    let krb5 = format!("java.security.krb5.conf={}", realm.krb5_conf().display());
    for kind in [Kind::Apache, Kind::Ours] {
        let mut cmd = bare::server_command_with(kind, &cfg, &[&login, &krb5, SASL_PROVIDER]);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
        assert!(
            !out.status.success(),
            "{kind:?} started with a keytab without its principal"
        );
        // Exited by itself (Apache with 1), not killed at the timeout.
        assert!(out.status.code().is_some(), "{kind:?}: {}", out.status);
        if kind == Kind::Ours {
            assert_eq!(out.status.code(), Some(2));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("Kerberos login failed")
                    && err.contains(SERVER_PRINCIPAL)
                    && err.contains(&keytab.display().to_string()),
                "{err}"
            );
        }
    }
}

/// Without MIT's GSS-API library (here: the file it is loaded from is missing), a
/// Kerberos section stops our server at start-up with exit code 2, naming the library
/// and the Debian package; building needed neither.
#[test]
fn without_libgssapi_krb5_a_kerberos_section_stops_ours() {
    let dir = tempfile::tempdir().unwrap();
    let jaas = dir.path().join("server.jaas");
    std::fs::write(
        &jaas,
        format!(
            "Server {{\n  com.sun.security.auth.module.Krb5LoginModule required\n  \
             useKeyTab=true\n  keyTab=\"{}\"\n  principal=\"{SERVER_PRINCIPAL}\";\n}};\n",
            dir.path().join("zk.keytab").display()
        ),
    )
    .unwrap();
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=2000\ndataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n",
            dir.path().join("data").display(),
            free_port()
        ),
    )
    .unwrap();
    let login = format!("java.security.auth.login.config={}", jaas.display());
    let mut cmd = bare::server_command_with(Kind::Ours, &cfg, &[&login, SASL_PROVIDER]);
    let missing = dir.path().join("libgssapi_krb5.so.2");
    cmd.env("ZK_GSSAPI_LIBRARY", &missing)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(2), "{}", out.status);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot load")
            && err.contains(&missing.display().to_string())
            && err.contains("libgssapi_krb5.so.2")
            && err.contains("libgssapi-krb5-2"),
        "{err}"
    );
}

/// tests/py/gssapi_raw.py in `mode` as alice against `server`: its lines.
fn raw_exchange(realm: &Realm, server: &Bare, mode: &str) -> Vec<String> {
    let alice = "alice@ZK.TEST";
    let cache = realm.kinit(alice);
    let mut cmd = Command::new(python());
    cmd.arg(crate_dir().join("py").join("gssapi_raw.py"))
        .arg("--port")
        .arg(server.addr.port().to_string())
        .arg("--principal")
        .arg(alice)
        .arg("--mode")
        .arg(mode)
        .env("KRB5_CONFIG", realm.krb5_conf())
        .env("KRB5CCNAME", format!("FILE:{}", cache.display()));
    let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "gssapi_raw.py {mode} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| format!("{mode}: {l}"))
        .collect()
}

/// The security-layer negotiation byte by byte (RFC 4752): the offer (no security layer,
/// max size 65536), the final reply, and what a client that breaks the rules gets.
#[test]
fn security_layer_negotiation_as_apache() {
    let realm = Realm::new(&["alice@ZK.TEST"]);
    let mut outputs = Vec::new();
    for kind in [Kind::Apache, Kind::Ours] {
        let server = server(&realm, kind, &[], "");
        let mut lines = Vec::new();
        for mode in ["ok", "nonempty", "layer4", "layer0"] {
            lines.extend(raw_exchange(&realm, &server, mode));
        }
        outputs.push(lines);
    }
    assert_same_lines("the GSSAPI security layer", &outputs[0], &outputs[1]);
    let o = &outputs[1];
    for line in [
        "ok: offer: 01010000",
        "ok: choice: xid 3 err 0 token -1",
        "ok: whoami: ip:127.0.0.1 sasl:alice@ZK.TEST",
        "nonempty: after the context: xid 2 err -115 token -1",
        "layer4: choice: xid 3 err -115 token -1",
        "layer4: closed: True",
    ] {
        assert!(has_line(o, line), "missing {line} in\n{}", o.join("\n"));
    }
}
