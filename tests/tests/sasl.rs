//! SASL DIGEST-MD5 (op 102), the `sasl` ACL scheme and enforced authentication, each run
//! against Apache ZooKeeper 3.8 started with the same JAAS file and properties
//! (`-Djava.security.auth.login.config=..`, `-Dzookeeper.authProvider.1=..SASLAuthenticationProvider`;
//! ours gets them in SERVER_JVMFLAGS as zkServer.sh passes them) and compared: kazoo through
//! puresasl, zkCli.sh with a client JAAS file, and a raw client sending garbage tokens.

mod bare;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use bare::{server_command_with, start_bare_with, Bare};
use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::raw::{self, RawClient, Reader};
use zk_tests::{
    apache_classpath, assert_same_lines, crate_dir, has_line, java, output_lines, python,
    run_with_timeout, Kind,
};

const SASL_PROVIDER: &str =
    "zookeeper.authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider";

/// The server's JAAS file: alice and bob may authenticate.
const SERVER_JAAS: &str = r#"
/* the users DIGEST-MD5 clients authenticate as */
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_alice="alicepw"
    user_bob="bobpw";
};
"#;

struct Jaas {
    dir: tempfile::TempDir,
}

impl Jaas {
    fn new() -> Jaas {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("server.jaas"), SERVER_JAAS).unwrap();
        Jaas { dir }
    }

    fn server_file(&self) -> PathBuf {
        self.dir.path().join("server.jaas")
    }

    /// A client JAAS file for the Java client (zkCli.sh).
    fn client_file(&self, user: &str, password: &str) -> PathBuf {
        let p = self.dir.path().join(format!("client-{user}.jaas"));
        std::fs::write(
            &p,
            format!(
                "Client {{\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  \
                 username=\"{user}\"\n  password=\"{password}\";\n}};\n"
            ),
        )
        .unwrap();
        p
    }

    fn login_prop(&self) -> String {
        format!(
            "java.security.auth.login.config={}",
            self.server_file().display()
        )
    }
}

/// A server of `kind` with the JAAS file, the SASL provider, `props` and zoo.cfg `extra`.
fn start(kind: Kind, jaas: &Jaas, props: &[&str], extra: &str) -> Bare {
    let login = jaas.login_prop();
    let mut all = vec![login.as_str(), SASL_PROVIDER];
    all.extend_from_slice(props);
    start_bare_with(kind, extra, &all)
}

fn hosts(b: &Bare) -> String {
    b.addr.to_string()
}

/// tests/py/sasl.py in `mode` against `server`: its JSON lines.
fn kazoo(mode: &str, server: &Bare) -> Vec<String> {
    let mut cmd = Command::new(python());
    cmd.arg(crate_dir().join("py").join("sasl.py"))
        .arg(mode)
        .arg("--hosts")
        .arg(hosts(server));
    let what = format!("sasl.py {mode}");
    output_lines(&mut cmd, &what, Duration::from_secs(120), String::new)
}

#[test]
fn kazoo_digest_md5_and_sasl_acls_as_apache() {
    let jaas = Jaas::new();
    let apache = start(Kind::Apache, &jaas, &[], "");
    let a = kazoo("acl", &apache);
    let ours = start(Kind::Ours, &jaas, &[], "");
    let o = kazoo("acl", &ours);
    assert_same_lines("kazoo with DIGEST-MD5", &a, &o);
    // What the comparison holds, stated plainly.
    for line in [
        r#"{"ok": [[31, ["sasl", "alice"]]], "step": "alice getAcl /s"}"#,
        r#"{"ok": [[31, ["sasl", "alice"]]], "step": "alice getAcl /s2"}"#,
        r#"{"err": "InvalidACLError", "step": "alice create invalid sasl id"}"#,
        r#"{"err": "NoAuthError", "step": "bob get /s"}"#,
        r#"{"ok": "four", "step": "bob get /s4"}"#,
        r#"{"err": "NoAuthError", "step": "anonymous get /s"}"#,
        r#"{"kazoo": "AUTH_FAILED closing", "step": "connect alice with a wrong password"}"#,
        r#"{"kazoo": "AUTH_FAILED closing", "step": "connect unknown user"}"#,
        r#"{"ok": "secret", "step": "alice get /s again"}"#,
    ] {
        assert!(has_line(&o, line), "missing {line} in\n{}", o.join("\n"));
    }
}

/// tests/py/sasl.py in `mode` with `hosts` as the connect string.
fn kazoo_hosts(mode: &str, hosts: &str) -> Vec<String> {
    let mut cmd = Command::new(python());
    cmd.arg(crate_dir().join("py").join("sasl.py"))
        .arg(mode)
        .arg("--hosts")
        .arg(hosts);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "sasl.py {mode} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// In an ensemble of ours the session's SASL id travels with the writes a follower
/// forwards, and the leader checks the sasl ACLs with it: kazoo through a follower gets
/// what it gets from a standalone Apache server.
#[test]
fn sasl_acls_through_a_follower_as_apache_standalone() {
    let jaas = Jaas::new();
    let apache = start(Kind::Apache, &jaas, &[], "");
    let a = kazoo("acl", &apache);
    drop(apache);
    let server_jaas = jaas.server_file().display().to_string();
    let spec = Spec::new(3, 0)
        .java_prop("java.security.auth.login.config", &server_jaas)
        .java_prop(
            "zookeeper.authProvider.1",
            "org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
        );
    let mut ens = Ensemble::new(spec);
    ens.start_all();
    let ids = ens.ids();
    let leader = ens.wait_serving(&ids, Duration::from_secs(60));
    let follower = ids.iter().copied().find(|&i| i != leader).unwrap();
    let o = kazoo_hosts("acl", &ens.member(follower).hosts());
    assert_same_lines("kazoo with DIGEST-MD5 through a follower", &a, &o);
}

#[test]
fn enforce_auth_refuses_an_unauthenticated_kazoo_as_apache() {
    let jaas = Jaas::new();
    // As zoo.cfg keys (Apache turns them into zookeeper.enforce.auth.*).
    let extra = "enforce.auth.enabled=true\nenforce.auth.schemes=sasl\n";
    let apache = start(Kind::Apache, &jaas, &[], extra);
    let a = kazoo("enforce", &apache);
    let ours = start(Kind::Ours, &jaas, &[], extra);
    let o = kazoo("enforce", &ours);
    assert_same_lines("enforce.auth with kazoo", &a, &o);
    for line in [
        r#"{"err": "SessionClosedRequireSaslError", "step": "anonymous get_children /"}"#,
        r#"{"ok": "x", "step": "alice get /e"}"#,
        // A failed exchange is answered -124 when SASL is required, which kazoo does
        // not handle: its connection thread ends.
        r#"{"kazoo": "Unhandled exception in connection loop", "step": "connect alice with a wrong password"}"#,
    ] {
        assert!(has_line(&o, line), "missing {line} in\n{}", o.join("\n"));
    }
}

#[test]
fn session_require_client_sasl_auth_as_apache() {
    let jaas = Jaas::new();
    let prop = ["zookeeper.sessionRequireClientSASLAuth=true"];
    let apache = start(Kind::Apache, &jaas, &prop, "");
    let a = kazoo("enforce", &apache);
    let ours = start(Kind::Ours, &jaas, &prop, "");
    let o = kazoo("enforce", &ours);
    assert_same_lines("sessionRequireClientSASLAuth with kazoo", &a, &o);
    assert!(has_line(
        &o,
        r#"{"err": "SessionClosedRequireSaslError", "step": "anonymous get_children /"}"#
    ));
}

#[test]
fn super_user_and_let_any_sasl_user_as_apache() {
    let jaas = Jaas::new();
    let props = [
        "zookeeper.superUser=bob",
        "zookeeper.letAnySaslUserDoX=any-sasl-user",
    ];
    let apache = start(Kind::Apache, &jaas, &props, "");
    let a = kazoo("super", &apache);
    let ours = start(Kind::Ours, &jaas, &props, "");
    let o = kazoo("super", &ours);
    assert_same_lines("superUser and letAnySaslUserDoX", &a, &o);
    for line in [
        r#"{"ok": "m", "step": "bob get /mine"}"#,
        r#"{"err": "NoAuthError", "step": "alice get /mine now"}"#,
        r#"{"ok": "sh", "step": "alice get /shared"}"#,
        r#"{"err": "NoAuthError", "step": "alice set /shared"}"#,
        r#"{"err": "NoAuthError", "step": "anonymous get /shared"}"#,
    ] {
        assert!(has_line(&o, line), "missing {line} in\n{}", o.join("\n"));
    }
}

fn sasl_body(token: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    raw::put_buf(&mut b, token);
    b
}

/// A reply, its body shown as the token it carries (`null` for -1), and what is
/// deterministic about it: a challenge's nonce is replaced by its length.
fn describe(r: &raw::Reply) -> String {
    let token = if r.body.is_empty() {
        "no body".to_string()
    } else {
        let mut rd = Reader::new(&r.body);
        let n = i32::from_be_bytes(r.body[..4].try_into().unwrap());
        if n < 0 {
            "null".to_string()
        } else {
            let t = String::from_utf8_lossy(&rd.buf()).into_owned();
            match t.split_once("nonce=\"") {
                Some((a, rest)) => {
                    let (nonce, b) = rest.split_once('"').unwrap();
                    format!("{a}nonce=<{} chars>{b}", nonce.len())
                }
                None => t,
            }
        }
    };
    format!("xid {} zxid {} err {} {token}", r.xid, r.zxid, r.err)
}

/// Garbage and out-of-order tokens from raw clients: each answered and its connection
/// closed; a client connected alongside goes on.
fn raw_script(addr: std::net::SocketAddr) -> Vec<String> {
    let mut out = Vec::new();
    let mut bystander = RawClient::connect(addr).unwrap();
    bystander.create("/by", b"", 0).unwrap();

    // The challenge to an empty token, then a garbage response.
    let mut c = RawClient::connect(addr).unwrap();
    let r = c.call_with_xid(5, raw::OP_SASL, &sasl_body(b"")).unwrap();
    out.push(format!("challenge: {}", describe(&r)));
    let r = c
        .call_with_xid(6, raw::OP_SASL, &sasl_body(b"\x00\xffnot=\"a digest"))
        .unwrap();
    out.push(format!("garbage response: {}", describe(&r)));
    out.push(format!(
        "closed: {}",
        c.closed_within(Duration::from_secs(10))
    ));

    // A first token that is not empty: answered with the challenge all the same; then
    // a response for the wrong nonce.
    let mut c = RawClient::connect(addr).unwrap();
    let r = c
        .call_with_xid(1, raw::OP_SASL, &sasl_body(b"username=\"alice\""))
        .unwrap();
    out.push(format!("initial response: {}", describe(&r)));
    let r = c
        .call_with_xid(2, raw::OP_SASL, &sasl_body(b"username=\"alice\",realm=\"zk-sasl-md5\",nonce=\"x\",cnonce=\"y\",nc=00000001,qop=auth,digest-uri=\"zookeeper/zk-sasl-md5\",response=00000000000000000000000000000000"))
        .unwrap();
    out.push(format!("wrong nonce: {}", describe(&r)));
    out.push(format!(
        "closed: {}",
        c.closed_within(Duration::from_secs(10))
    ));

    // A response too long for Java's DigestMD5Server.
    let mut c = RawClient::connect(addr).unwrap();
    c.call_with_xid(1, raw::OP_SASL, &sasl_body(b"")).unwrap();
    let r = c
        .call_with_xid(2, raw::OP_SASL, &sasl_body(&vec![b'a'; 5000]))
        .unwrap();
    out.push(format!("long response: {}", describe(&r)));
    out.push(format!(
        "closed: {}",
        c.closed_within(Duration::from_secs(10))
    ));

    // A sasl body that is not a buffer at all: a length larger than the frame.
    let mut c = RawClient::connect(addr).unwrap();
    let mut body = Vec::new();
    raw::put_i32(&mut body, 1000);
    body.extend_from_slice(b"abc");
    let closed = match c.call_with_xid(1, raw::OP_SASL, &body) {
        Ok(r) => format!("answered {}", describe(&r)),
        Err(_) => "closed".into(),
    };
    out.push(format!("truncated buffer: {closed}"));

    let r = bystander.get_data("/by", false).unwrap();
    out.push(format!("bystander get: err {}", r.err));
    out
}

#[test]
fn garbage_sasl_tokens_close_that_connection_only_as_apache() {
    let jaas = Jaas::new();
    let apache = start(Kind::Apache, &jaas, &[], "");
    let a = raw_script(apache.addr);
    let ours = start(Kind::Ours, &jaas, &[], "");
    let o = raw_script(ours.addr);
    assert_same_lines("raw SASL tokens", &a, &o);
    assert_eq!(
        o[0],
        "challenge: xid 5 zxid 0 err 0 realm=\"zk-sasl-md5\",nonce=<40 chars>,charset=utf-8,algorithm=md5-sess"
    );
    assert_eq!(o[1], "garbage response: xid 6 zxid 0 err -115 null");
    assert_eq!(o[2], "closed: true");
    assert_eq!(o.last().unwrap(), "bystander get: err 0");
}

/// With `zookeeper.allowSaslFailedClients`, a failed exchange is answered OK with a null token
/// and the connection stays, unauthenticated: a sasl ACL still refuses it.
fn allow_failed_script(addr: std::net::SocketAddr) -> Vec<String> {
    let mut out = Vec::new();
    let mut c = RawClient::connect(addr).unwrap();
    c.call_with_xid(1, raw::OP_SASL, &sasl_body(b"")).unwrap();
    let r = c
        .call_with_xid(2, raw::OP_SASL, &sasl_body(b"username=\"bob\""))
        .unwrap();
    out.push(format!("garbage response: {}", describe(&r)));
    let r = c
        .create_with_acl("/only-bob", b"", 0, &[(31, "sasl", "bob")])
        .unwrap();
    out.push(format!("create with a sasl ACL: err {}", r.err));
    let r = c.get_data("/only-bob", false).unwrap();
    out.push(format!("get it: err {}", r.err));
    let ids = c.who_am_i().unwrap();
    out.push(format!("whoami: {ids:?}"));
    out
}

#[test]
fn allow_sasl_failed_clients_keeps_the_connection_as_apache() {
    let jaas = Jaas::new();
    let props = ["zookeeper.allowSaslFailedClients=true"];
    let apache = start(Kind::Apache, &jaas, &props, "");
    let a = allow_failed_script(apache.addr);
    let ours = start(Kind::Ours, &jaas, &props, "");
    let o = allow_failed_script(ours.addr);
    assert_same_lines("allowSaslFailedClients", &a, &o);
    assert_eq!(o[0], "garbage response: xid 2 zxid 0 err 0 null");
    assert_eq!(o[2], "get it: err -102");
}

/// Ids belong to a connection in Apache: a session that reconnects has only its new
/// connection's address until it authenticates again, and under enforcement (here with
/// `digest`) it is refused until then.
fn reconnect_script(addr: std::net::SocketAddr) -> Vec<String> {
    let mut out = Vec::new();
    let mut c = RawClient::connect(addr).unwrap();
    let r = c.auth("digest", b"u:pw").unwrap();
    out.push(format!("auth: err {}", r.err));
    out.push(format!("whoami: {:?}", c.who_am_i().unwrap()));
    let h = raw::Handshake {
        session_id: c.session.session_id,
        passwd: c.session.passwd.clone(),
        ..raw::Handshake::default()
    };
    let mut again = RawClient::handshake(addr, &h).unwrap();
    out.push(format!(
        "reconnected: {}",
        again.session.session_id == c.session.session_id
    ));
    let r = again.call_with_xid(5, raw::OP_WHO_AM_I, &[]).unwrap();
    out.push(format!("whoami without auth: err {}", r.err));
    let mut third = RawClient::handshake(addr, &h).unwrap();
    let r = third.auth("digest", b"u:pw").unwrap();
    out.push(format!("auth again: err {}", r.err));
    out.push(format!("whoami: {:?}", third.who_am_i().unwrap()));
    out
}

#[test]
fn a_reconnected_session_authenticates_again_as_apache() {
    let jaas = Jaas::new();
    let props = [
        "zookeeper.enforce.auth.enabled=true",
        "zookeeper.enforce.auth.schemes=digest",
    ];
    let apache = start(Kind::Apache, &jaas, &props, "");
    let a = reconnect_script(apache.addr);
    let ours = start(Kind::Ours, &jaas, &props, "");
    let o = reconnect_script(ours.addr);
    assert_same_lines("a reconnected session", &a, &o);
    assert_eq!(o[3], "whoami without auth: err -124");
}

/// Under enforcement a raw client's requests, pings and closeSession included, are answered
/// -124 and its connection closed; each on a fresh connection.
fn enforce_raw_script(addr: std::net::SocketAddr) -> Vec<String> {
    let mut out = Vec::new();
    let mut tries: Vec<(&str, i32, Vec<u8>)> = vec![
        ("ping", raw::OP_PING, vec![]),
        ("exists /", raw::OP_EXISTS, {
            let mut b = Vec::new();
            raw::put_str(&mut b, "/");
            b.push(0);
            b
        }),
        ("closeSession", raw::OP_CLOSE, vec![]),
        ("whoAmI", raw::OP_WHO_AM_I, vec![]),
    ];
    let mut auth = Vec::new();
    raw::put_i32(&mut auth, 0);
    raw::put_str(&mut auth, "digest");
    raw::put_buf(&mut auth, b"u:pw");
    tries.push(("auth digest", raw::OP_AUTH, auth));
    for (what, op, body) in tries {
        let mut c = RawClient::connect(addr).unwrap();
        // Any xid but the ping's own -2, which call_with_xid would skip.
        let r = c.call_with_xid(3, op, &body);
        let r = match r {
            Ok(r) => format!(
                "xid {} zxid {} err {} body {}",
                r.xid,
                r.zxid,
                r.err,
                r.body.len()
            ),
            Err(e) => format!("no answer: {}", e.kind()),
        };
        let closed = c.closed_within(Duration::from_secs(5));
        out.push(format!("{what}: {r}; closed {closed}"));
    }
    out
}

#[test]
fn enforce_auth_answers_every_request_but_auth_and_sasl_as_apache() {
    let jaas = Jaas::new();
    let props = [
        "zookeeper.enforce.auth.enabled=true",
        "zookeeper.enforce.auth.schemes=sasl",
    ];
    let apache = start(Kind::Apache, &jaas, &props, "");
    let a = enforce_raw_script(apache.addr);
    let ours = start(Kind::Ours, &jaas, &props, "");
    let o = enforce_raw_script(ours.addr);
    assert_same_lines("enforce.auth with a raw client", &a, &o);
    assert_eq!(o[0], "ping: xid 3 zxid 0 err -124 body 0; closed true");
}

/// zkCli.sh (`CLIENT_JVMFLAGS=-Djava.security.auth.login.config=<client jaas>`) with `cmds`
/// piped in; its output from the first command on, ports and times left out.
fn zkcli(server: &Bare, client_jaas: &Path, cmds: &str, dir: &Path) -> String {
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
    let script = dir.join("cmds.txt");
    std::fs::write(&script, cmds).unwrap();
    cmd.arg("-server")
        .arg(hosts(server))
        .env(
            "CLIENT_JVMFLAGS",
            format!(
                "-Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.security.auth.login.config={}",
                client_jaas.display()
            ),
        )
        .env("ZOO_LOG_DIR", dir)
        .stdin(std::fs::File::open(&script).unwrap())
        .stderr(Stdio::piped());
    let out = run_with_timeout(&mut cmd, Duration::from_secs(120));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // Keep the lines that answer commands; drop the banner, log lines and prompts' noise.
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
fn zkcli_with_a_client_jaas_file_as_apache() {
    let jaas = Jaas::new();
    let bob = jaas.client_file("bob", "bobpw");
    let alice = jaas.client_file("alice", "alicepw");
    let as_bob = "create /z zdata sasl:bob:cdrwa\ngetAcl /z\nget /z\nwhoami\n";
    let as_alice = "getAcl /z\nget /z\nwhoami\n";
    let mut outputs = Vec::new();
    for kind in [Kind::Apache, Kind::Ours] {
        let server = start(kind, &jaas, &[], "");
        let dir = tempfile::tempdir().unwrap();
        let b = zkcli(&server, &bob, as_bob, dir.path());
        let a = zkcli(&server, &alice, as_alice, dir.path());
        outputs.push((b, a));
    }
    let (apache, ours) = (&outputs[0], &outputs[1]);
    assert_eq!(
        apache, ours,
        "zkCli.sh with SASL: ours differs from Apache\napache:\n{}\n--\n{}\nours:\n{}\n--\n{}",
        apache.0, apache.1, ours.0, ours.1
    );
    assert!(ours.0.contains("'sasl,'bob"), "{}", ours.0);
    assert!(ours.0.contains("zdata"), "{}", ours.0);
    assert!(ours.1.contains("Insufficient permission"), "{}", ours.1);
}

#[test]
fn unusable_security_settings_stop_both_servers() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jaas");
    std::fs::write(
        &bad,
        "Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule requird\n  user_a=\"b\";\n};\n",
    )
    .unwrap();
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=2000\ndataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n",
            dir.path().join("data").display(),
            zk_tests::free_port()
        ),
    )
    .unwrap();
    let bad_login = format!("java.security.auth.login.config={}", bad.display());
    let cases: [(&str, Vec<&str>); 2] = [
        (
            "a JAAS file with a bad control flag",
            vec![bad_login.as_str()],
        ),
        (
            "sasl enforced without its provider",
            vec![
                "zookeeper.enforce.auth.enabled=true",
                "zookeeper.enforce.auth.schemes=sasl",
            ],
        ),
    ];
    for (what, props) in cases {
        for kind in [Kind::Apache, Kind::Ours] {
            let mut cmd = server_command_with(kind, &cfg, &props);
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
            assert!(!out.status.success(), "{kind:?} started with {what}");
            if kind == Kind::Ours {
                assert_eq!(out.status.code(), Some(2), "{what}");
                let err = String::from_utf8_lossy(&out.stderr);
                if props.len() == 1 {
                    assert!(
                        err.contains(&format!("{}:2: invalid control flag", bad.display())),
                        "{err}"
                    );
                } else {
                    assert!(err.contains("\"sasl\" is not available"), "{err}");
                }
            }
        }
    }
}
