//! HTTPS on the AdminServer's port (`admin.forceHttps`, `admin.portUnification`,
//! 3.9's `admin.needClientAuth`, the stores from `ssl.quorum.*` as Apache's
//! JettyAdminServer reads them) and 3.9's x509 authentication of `snapshot` /
//! `restore` with the HTTPS connection's client certificate, driven with curl and
//! `openssl s_client`. Apache 3.8's own AdminServer (Jetty, from the Debian package,
//! see admin_server.rs) is the oracle for forceHttps and portUnification; 3.8 has
//! neither needClientAuth nor the snapshot command, so those are checked against
//! 3.9's documented behaviour (docs/compatibility.md).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use zk_tests::tls::{Pki, CLIENTS, PASSWORD, X509_PROVIDER};
use zk_tests::{
    apache_admin_jars, four_letter_word, free_port, run_with_timeout, Kind, Options, TestServer,
};

fn dn(name: &str) -> &'static str {
    CLIENTS.iter().find(|c| c.0 == name).unwrap().2
}

/// zoo.cfg lines for an AdminServer on 127.0.0.1:`port` with the quorum stores
/// (PKCS12) and `extra`.
fn options(pki: &Pki, port: u16, extra: &[(&str, &str)]) -> Options {
    let p = |f: &str| pki.path(f).display().to_string();
    let mut o = Options::default();
    for (k, v) in [
        ("admin.enableServer", "true".to_owned()),
        ("admin.serverAddress", "127.0.0.1".to_owned()),
        ("admin.serverPort", port.to_string()),
        ("ssl.quorum.keyStore.location", p("server-key.p12")),
        ("ssl.quorum.keyStore.password", PASSWORD.to_owned()),
        ("ssl.quorum.trustStore.location", p("trust.p12")),
        ("ssl.quorum.trustStore.password", PASSWORD.to_owned()),
    ] {
        o.extra.push((k.into(), v));
    }
    for (k, v) in extra {
        o.extra.push((k.to_string(), v.to_string()));
    }
    o
}

/// An answer as curl got it, or why curl got none.
#[derive(Debug)]
struct Http {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Http {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// curl `url` (the server verified against the test CA), with the client
/// certificate of `client` and the Authorization header `auth` when given.
fn curl(
    pki: &Pki,
    url: &str,
    client: Option<&str>,
    auth: Option<&str>,
    args: &[&str],
) -> Result<Http, String> {
    let tmp = tempfile::tempdir().unwrap();
    let (head, body) = (tmp.path().join("head"), tmp.path().join("body"));
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "30", "--cacert"])
        .arg(pki.path("ca.pem"))
        .arg("-D")
        .arg(&head)
        .arg("-o")
        .arg(&body)
        .args(["-w", "%{http_code}"]);
    if let Some(name) = client {
        c.arg("--cert")
            .arg(pki.path(&format!("{name}.pem")))
            .arg("--key")
            .arg(pki.path(&format!("{name}.key")));
    }
    if let Some(a) = auth {
        c.arg("-H").arg(format!("Authorization: {a}"));
    }
    c.args(args).arg(url);
    let out = run_with_timeout(&mut c, Duration::from_secs(60));
    if !out.status.success() {
        return Err(format!(
            "curl failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let status = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let headers = std::fs::read_to_string(&head)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Http {
        status,
        headers,
        body: std::fs::read(&body).unwrap_or_default(),
    })
}

/// `openssl s_client` to `port` (verifying the server against the test CA) sending
/// one HTTP/1.0 request for `path`: the status code the server answered, or an
/// empty string when there was no answer. (Only the code: Jetty answers an HTTP/1.0
/// request as `HTTP/1.1`, hyper as `HTTP/1.0`, on plain HTTP too.)
fn s_client_get(pki: &Pki, port: u16, path: &str) -> String {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-quiet", "-verify_return_error", "-CAfile"])
        .arg(pki.path("ca.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .unwrap();
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !waiter.is_finished() {
        if std::time::Instant::now() > deadline {
            // SAFETY: kill(2) on the pid of the s_client this test started, not yet reaped.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = waiter.join().unwrap().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("")
        .to_owned()
}

/// What a client sees of one mode of the admin port: each line one observation,
/// to compare between the servers.
fn observe(pki: &Pki, kind: Kind, mode: &[(&str, &str)]) -> Vec<String> {
    let port = free_port();
    let server = TestServer::start(kind, &options(pki, port, mode));
    let https = format!("https://127.0.0.1:{port}/commands/ruok");
    let http = format!("http://127.0.0.1:{port}/commands/ruok");
    let mut seen = Vec::new();
    let ctx = || format!("{mode:?} on {}:\n{}", kind.name(), server.log_tail());
    let wait = std::time::Instant::now() + Duration::from_secs(60);
    // Apache's Jetty starts beside the client port: give it the time it needs.
    let first = loop {
        match curl(pki, &https, None, None, &[]) {
            Ok(r) => break Ok(r),
            Err(e) if std::time::Instant::now() > wait => break Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    match first {
        Ok(r) => {
            seen.push(format!("https status {}", r.status));
            seen.push(format!("https command {}", r.json()["command"]));
            seen.push(format!("https error {}", r.json()["error"]));
            seen.push(format!(
                "https strict-transport-security {:?}",
                r.headers.get("strict-transport-security")
            ));
        }
        Err(e) => panic!("HTTPS to the admin port failed: {e}\n{}", ctx()),
    }
    match curl(pki, &http, None, None, &[]) {
        Ok(r) => {
            seen.push(format!("http status {}", r.status));
            seen.push(format!(
                "http strict-transport-security {:?}",
                r.headers.get("strict-transport-security")
            ));
        }
        Err(_) => seen.push("http refused".into()),
    }
    seen.push(format!(
        "s_client {}",
        s_client_get(pki, port, "/commands/ruok")
    ));
    // The command list over HTTPS, as the plain one.
    let list = curl(
        pki,
        &format!("https://127.0.0.1:{port}/commands"),
        None,
        None,
        &[],
    )
    .unwrap();
    let text = String::from_utf8_lossy(&list.body).into_owned();
    seen.push(format!(
        "list has ruok and monitor: {}",
        text.contains("/commands/ruok\"") && text.contains("/commands/monitor\"")
    ));
    // The ZooKeeper service itself is untouched.
    seen.push(format!(
        "ruok {}",
        four_letter_word(server.addr(), "ruok").unwrap_or_default()
    ));
    seen
}

#[test]
fn force_https_and_port_unification_like_apache_3_8() {
    let pki = Pki::new();
    let modes: [&[(&str, &str)]; 2] = [
        &[("admin.forceHttps", "true")],
        &[("admin.portUnification", "true")],
    ];
    for mode in modes {
        let ours = observe(&pki, Kind::Ours, mode);
        // What 3.8's Jetty does, written down (and checked below when it can run).
        let expected_http = if mode[0].0 == "admin.forceHttps" {
            vec!["http refused".to_owned()]
        } else {
            vec![
                "http status 200".to_owned(),
                "http strict-transport-security None".to_owned(),
            ]
        };
        for l in &expected_http {
            assert!(ours.contains(l), "{mode:?}: ours lacks {l:?}: {ours:#?}");
        }
        assert!(
            ours.contains(
                &"https strict-transport-security Some(\"max-age=86400; includeSubDomains\")"
                    .to_owned()
            ),
            "{ours:#?}"
        );
        if apache_admin_jars().is_none() {
            eprintln!("Apache's AdminServer jars are missing: {mode:?} checked on ours alone");
            continue;
        }
        let apache = observe(&pki, Kind::Apache, mode);
        zk_tests::assert_same_lines(&format!("admin port with {mode:?}"), &apache, &ours);
    }
}

/// Plain bytes on a TLS-only port close that connection with a log line; the port
/// goes on serving HTTPS.
#[test]
fn garbage_on_the_https_port_closes_only_that_connection() {
    let pki = Pki::new();
    let port = free_port();
    let server = TestServer::start(
        Kind::Ours,
        &options(&pki, port, &[("admin.forceHttps", "true")]),
    );
    {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(b"\x16\x03\x01\x00\x05hello, not a ClientHello")
            .unwrap();
        let mut b = Vec::new();
        let _ = s.read_to_end(&mut b);
    }
    let r = curl(
        &pki,
        &format!("https://127.0.0.1:{port}/commands/ruok"),
        None,
        None,
        &[],
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let log = std::fs::read_to_string(server.dir.path().join("logs").join("stdout.log"))
        .unwrap_or_default()
        + &std::fs::read_to_string(server.dir.path().join("logs").join("stderr.log"))
            .unwrap_or_default();
    assert!(
        log.contains("AdminServer: closing the connection from")
            && log.contains("TLS handshake failed"),
        "no log line for the refused handshake:\n{log}"
    );
}

/// 3.9's `admin.needClientAuth`: without a certificate from the trusted CA there is no
/// handshake; with one the commands answer.
#[test]
fn need_client_auth_requires_a_trusted_client_certificate() {
    let pki = Pki::new();
    let port = free_port();
    let _server = TestServer::start(
        Kind::Ours,
        &options(
            &pki,
            port,
            &[
                ("admin.forceHttps", "true"),
                ("admin.needClientAuth", "true"),
            ],
        ),
    );
    let url = format!("https://127.0.0.1:{port}/commands/ruok");
    // TLS 1.3 sends the refusal after the client's Finished: curl sees it on reading.
    let r = curl(&pki, &url, None, None, &[]);
    assert!(r.is_err(), "served without a client certificate: {r:?}");
    let r = curl(&pki, &url, Some("mallory"), None, &[]);
    assert!(r.is_err(), "served a certificate of another CA: {r:?}");
    let r = curl(&pki, &url, Some("expired"), None, &[]);
    assert!(r.is_err(), "served an expired certificate: {r:?}");
    let r = curl(&pki, &url, Some("alice"), None, &[]).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["command"], "ruok");
}

/// 3.9's x509 authentication of `snapshot` and `restore`: `Authorization: x509` and
/// the HTTPS connection's client certificate, checked against the client trust store,
/// names `x509:<DN>`, which the root's ACL must grant ALL (or the DN is
/// `X509AuthenticationProvider.superUser`).
#[test]
fn x509_client_certificate_authorizes_snapshot_and_restore() {
    let pki = Pki::new();
    let port = free_port();
    let p = |f: &str| pki.path(f).display().to_string();
    let (trust, key) = (p("trust.p12"), p("server-key.p12"));
    let server = TestServer::start(
        Kind::Ours,
        &options(
            &pki,
            port,
            &[
                ("admin.forceHttps", "true"),
                ("admin.needClientAuth", "true"),
                ("admin.rateLimiterIntervalInMS", "0"),
                ("authProvider.x509", X509_PROVIDER),
                ("ssl.keyStore.location", &key),
                ("ssl.keyStore.password", PASSWORD),
                ("ssl.trustStore.location", &trust),
                ("ssl.trustStore.password", PASSWORD),
                ("X509AuthenticationProvider.superUser", dn("bob")),
            ],
        ),
    );
    let admin = dn("admin");
    let mut c = Command::new(zk_tests::python());
    let acl = run_python_with(&mut c, &server, &["--dn", admin]);
    assert_eq!(acl, [format!("x509:{admin} 31")]);

    let snap = format!("https://127.0.0.1:{port}/commands/snapshot?streaming=false");
    let r = curl(&pki, &snap, Some("admin"), None, &[]).unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "Auth info is missing for the command");
    let r = curl(&pki, &snap, Some("admin"), Some("x509"), &[]).unwrap();
    assert_eq!(r.status, 200, "{}", server.log_tail());
    assert_eq!(r.json()["command"], "snapshot");
    assert_eq!(r.json()["error"], Value::Null);
    assert!(r.headers["last_zxid"].starts_with("0x"));
    // Another client of the same CA is authenticated, not authorized.
    let r = curl(&pki, &snap, Some("alice"), Some("x509"), &[]).unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "Not authorized");
    // The x509 super user is.
    let r = curl(&pki, &snap, Some("bob"), Some("x509"), &[]).unwrap();
    assert_eq!(r.status, 200);

    // A backup streamed out and restored, both over HTTPS with the certificate.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("backup.snap");
    let stream = format!("https://127.0.0.1:{port}/commands/snapshot?streaming=true");
    let r = curl(&pki, &stream, Some("admin"), Some("x509"), &[]).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body.len() > 16, "a snapshot of {} bytes", r.body.len());
    std::fs::write(&file, &r.body).unwrap();
    let restore = format!("https://127.0.0.1:{port}/commands/restore");
    let data = format!("@{}", file.display());
    let post = ["-X", "POST", "--data-binary", data.as_str()];
    let r = curl(&pki, &restore, Some("alice"), Some("x509"), &post).unwrap();
    assert_eq!(r.status, 403);
    let r = curl(&pki, &restore, Some("admin"), Some("x509"), &post).unwrap();
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["error"], Value::Null);
    assert_eq!(four_letter_word(server.addr(), "ruok").unwrap(), "imok");
}

/// tests/py/admin_x509_acl.py against `server` with `args`.
fn run_python_with(cmd: &mut Command, server: &TestServer, args: &[&str]) -> Vec<String> {
    cmd.arg(zk_tests::crate_dir().join("py").join("admin_x509_acl.py"))
        .args(args)
        .arg("--hosts")
        .arg(server.hosts());
    zk_tests::output_lines(cmd, "admin_x509_acl.py", Duration::from_secs(120), || {
        server.log_tail()
    })
}

/// With `admin.forceHttps` on every member, the web console asks its peers over HTTPS
/// (the quorum trust store verifying them, the quorum key store as its client
/// certificate, which 3.9's `admin.needClientAuth` requires): every member shows with
/// its role, none unreachable, and another member's figures come through.
#[test]
fn the_console_reaches_https_only_peers() {
    use zk_tests::ensemble::{Ensemble, Spec};
    let pki = Pki::new();
    let p = |f: &str| pki.path(f).display().to_string();
    let mut spec = Spec::new(3, 0).admin().ticks(200, 10, 5);
    for (k, v) in [
        ("admin.forceHttps", "true".to_owned()),
        ("admin.needClientAuth", "true".to_owned()),
        ("ssl.quorum.keyStore.location", p("server-key.p12")),
        ("ssl.quorum.keyStore.password", PASSWORD.to_owned()),
        ("ssl.quorum.trustStore.location", p("trust.p12")),
        ("ssl.quorum.trustStore.password", PASSWORD.to_owned()),
    ] {
        spec = spec.extra(k, &v);
    }
    let mut ens = Ensemble::new(spec);
    let addrs: Vec<String> = ens
        .ids()
        .iter()
        .map(|id| format!("{id}=127.0.0.1:{}", ens.member(*id).admin_port))
        .collect();
    for id in ens.ids() {
        let mut cfg = std::fs::read_to_string(ens.member(id).cfg_path()).unwrap();
        cfg.push_str(&format!("console.adminAddresses={}\n", addrs.join(",")));
        std::fs::write(ens.member(id).cfg_path(), cfg).unwrap();
    }
    ens.start_all();
    let leader = ens.wait_serving(&ens.ids(), Duration::from_secs(60));
    let page = *ens.ids().iter().find(|i| **i != leader).unwrap();
    let base = format!("https://127.0.0.1:{}", ens.member(page).admin_port);
    // The browser's side needs a certificate too (needClientAuth).
    let get = |path: &str| -> Value {
        let r = curl(&pki, &format!("{base}{path}"), Some("alice"), None, &[])
            .unwrap_or_else(|e| panic!("{path}: {e}\n{}", ens.logs(&ens.ids())));
        assert_eq!(r.status, 200, "{path}");
        r.json()
    };
    let mut e = Value::Null;
    let settled = zk_tests::wait_until(Duration::from_secs(30), || {
        e = get("/console/api/ensemble");
        e["servers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "leader" || s["state"] == "follower")
    });
    assert!(settled, "a member is not shown over HTTPS: {e:#}");
    let leaders = e["servers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "leader")
        .count();
    assert_eq!(leaders, 1, "{e:#}");
    let m = get(&format!("/console/api/metrics?member={leader}"));
    assert_eq!(m["server_state"], "leader", "{m:#}");
}
