//! Certificates and stores for the TLS tests (tests/tests/tls.rs), made in a temporary
//! directory with `openssl` and JDK's `keytool`: a CA, a server certificate for
//! 127.0.0.1/localhost, client certificates from the same CA (one expired), one from
//! another CA, and the server's key and trust stores in PEM (the key encrypted with the
//! store password, as Apache reads it), PKCS12 and JKS.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The password of every store made here.
pub const PASSWORD: &str = "secret-pw";

/// The class name Apache registers the x509 scheme with.
pub const X509_PROVIDER: &str = "org.apache.zookeeper.server.auth.X509AuthenticationProvider";

/// A store format, with its file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    Pem,
    Pkcs12,
    Jks,
}

impl Store {
    pub fn ext(self) -> &'static str {
        match self {
            Store::Pem => "pem",
            Store::Pkcs12 => "p12",
            Store::Jks => "jks",
        }
    }
}

/// The clients made by [`Pki::new`]: name, `openssl -subj`, and the DN as Java's
/// `X500Principal.getName()` prints it (what the x509 scheme names).
pub const CLIENTS: &[(&str, &str, &str)] = &[
    (
        "alice",
        "/O=Example/OU=clients/CN=alice",
        "CN=alice,OU=clients,O=Example",
    ),
    (
        "bob",
        "/O=Example, Inc./emailAddress=bob@example.com/CN=bob\\+jr",
        "CN=bob\\+jr,1.2.840.113549.1.9.1=#160f626f62406578616d706c652e636f6d,O=Example\\, Inc.",
    ),
    ("admin", "/O=Example/CN=admin", "CN=admin,O=Example"),
];

fn run(cmd: &mut Command) {
    let out = crate::run_with_timeout(cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    run(Command::new("openssl").args(args).current_dir(dir));
}

fn keytool(dir: &Path, args: &[&str]) {
    run(Command::new("keytool").args(args).current_dir(dir));
}

/// A CA and everything signed by it, in a temporary directory.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::Builder::new()
            .prefix("zk-tls-")
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
        )
        .unwrap();
        std::fs::write(d.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        for ca in ["ca", "rogue-ca"] {
            openssl(
                d,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-keyout",
                    &format!("{ca}.key"),
                    "-out",
                    &format!("{ca}.pem"),
                    "-days",
                    "30",
                    "-subj",
                    &format!("/O=Example/CN=Test {ca}"),
                ],
            );
        }
        let pki = Pki { dir };
        pki.issue("server", "/O=Example/CN=localhost", "ca", "server.ext", 30);
        for (name, subj, _) in CLIENTS {
            pki.issue(name, subj, "ca", "client.ext", 30);
        }
        pki.issue(
            "mallory",
            "/O=Example/CN=mallory",
            "rogue-ca",
            "client.ext",
            30,
        );
        pki.issue("expired", "/O=Example/CN=expired", "ca", "client.ext", -1);
        pki.server_stores();
        pki
    }

    /// `<name>.pem` and `<name>.key`, signed by `ca`, valid for `days` (negative: expired).
    pub fn issue(&self, name: &str, subj: &str, ca: &str, ext: &str, days: i32) {
        let d = self.dir.path();
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                subj,
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.pem"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                &days.to_string(),
                "-extfile",
                ext,
            ],
        );
    }

    /// The server's key store in each format (`server-key.<ext>`) and the trust store
    /// with the CA (`trust.<ext>`).
    pub fn server_stores(&self) {
        let d = self.dir.path();
        let _ = std::fs::remove_file(d.join("server-key.jks"));
        let _ = std::fs::remove_file(d.join("trust.p12"));
        let _ = std::fs::remove_file(d.join("trust.jks"));
        // With a password, Apache's PEM key store holds an encrypted PKCS#8 key; its
        // PemReader on Java 17 decrypts PKCS#12's PBE-SHA1-3DES (not PBES2).
        let pass = format!("pass:{PASSWORD}");
        openssl(
            d,
            &[
                "pkcs8",
                "-topk8",
                "-v1",
                "PBE-SHA1-3DES",
                "-in",
                "server.key",
                "-out",
                "server-enc.key",
                "-passout",
                &pass,
            ],
        );
        let pem = [
            std::fs::read_to_string(d.join("server.pem")).unwrap(),
            std::fs::read_to_string(d.join("server-enc.key")).unwrap(),
        ]
        .concat();
        std::fs::write(d.join("server-key.pem"), pem).unwrap();
        openssl(
            d,
            &[
                "pkcs12",
                "-export",
                "-in",
                "server.pem",
                "-inkey",
                "server.key",
                "-certfile",
                "ca.pem",
                "-name",
                "server",
                "-out",
                "server-key.p12",
                "-passout",
                &pass,
            ],
        );
        keytool(
            d,
            &[
                "-importkeystore",
                "-srckeystore",
                "server-key.p12",
                "-srcstoretype",
                "PKCS12",
                "-srcstorepass",
                PASSWORD,
                "-destkeystore",
                "server-key.jks",
                "-deststoretype",
                "JKS",
                "-deststorepass",
                PASSWORD,
                "-destkeypass",
                PASSWORD,
                "-noprompt",
            ],
        );
        std::fs::copy(d.join("ca.pem"), d.join("trust.pem")).unwrap();
        for (ty, file) in [("PKCS12", "trust.p12"), ("JKS", "trust.jks")] {
            keytool(
                d,
                &[
                    "-importcert",
                    "-alias",
                    "ca",
                    "-file",
                    "ca.pem",
                    "-keystore",
                    file,
                    "-storetype",
                    ty,
                    "-storepass",
                    PASSWORD,
                    "-noprompt",
                ],
            );
        }
    }

    /// A client's key store and the trust store as JKS, for Java clients (zkCli.sh).
    pub fn client_jks(&self, name: &str) -> (PathBuf, PathBuf) {
        let d = self.dir.path();
        let pass = format!("pass:{PASSWORD}");
        let p12 = format!("{name}-key.p12");
        let jks = format!("{name}-key.jks");
        if !d.join(&jks).exists() {
            openssl(
                d,
                &[
                    "pkcs12",
                    "-export",
                    "-in",
                    &format!("{name}.pem"),
                    "-inkey",
                    &format!("{name}.key"),
                    "-name",
                    name,
                    "-out",
                    &p12,
                    "-passout",
                    &pass,
                ],
            );
            keytool(
                d,
                &[
                    "-importkeystore",
                    "-srckeystore",
                    &p12,
                    "-srcstoretype",
                    "PKCS12",
                    "-srcstorepass",
                    PASSWORD,
                    "-destkeystore",
                    &jks,
                    "-deststoretype",
                    "JKS",
                    "-deststorepass",
                    PASSWORD,
                    "-destkeypass",
                    PASSWORD,
                    "-noprompt",
                ],
            );
        }
        (d.join(jks), d.join("trust.jks"))
    }

    /// An EC (P-256) server key made by keytool as an operator makes one, signed by the
    /// CA for 127.0.0.1/localhost: `ec-key.jks`, and `ec-key.p12` converted by keytool.
    /// Java writes such keys without their public key.
    pub fn ec_key_stores(&self) {
        let d = self.dir.path();
        let store = |f: &str, ty: &str, args: &[&str]| {
            let mut v = vec!["-keystore", f, "-storetype", ty, "-storepass", PASSWORD];
            v.extend_from_slice(args);
            keytool(d, &v);
        };
        store(
            "ec-key.jks",
            "JKS",
            &[
                "-genkeypair",
                "-alias",
                "ec",
                "-keyalg",
                "EC",
                "-groupname",
                "secp256r1",
                "-dname",
                "CN=localhost,O=Example",
                "-keypass",
                PASSWORD,
            ],
        );
        store(
            "ec-key.jks",
            "JKS",
            &["-certreq", "-alias", "ec", "-file", "ec.csr"],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "ec.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "ec.pem",
                "-days",
                "30",
                "-extfile",
                "server.ext",
            ],
        );
        store(
            "ec-key.jks",
            "JKS",
            &[
                "-importcert",
                "-alias",
                "ca",
                "-file",
                "ca.pem",
                "-noprompt",
            ],
        );
        store(
            "ec-key.jks",
            "JKS",
            &[
                "-importcert",
                "-alias",
                "ec",
                "-file",
                "ec.pem",
                "-noprompt",
            ],
        );
        keytool(
            d,
            &[
                "-importkeystore",
                "-srckeystore",
                "ec-key.jks",
                "-srcstoretype",
                "JKS",
                "-srcstorepass",
                PASSWORD,
                "-destkeystore",
                "ec-key.p12",
                "-deststoretype",
                "PKCS12",
                "-deststorepass",
                PASSWORD,
                "-noprompt",
            ],
        );
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// zoo.cfg lines for a TLS client port with the server's stores in `store` format
    /// (the type told by the file name), client certificates needed and identified
    /// with the x509 scheme.
    pub fn server_options(&self, store: Store, secure_port: u16) -> Vec<(String, String)> {
        let p = |f: String| self.path(&f).display().to_string();
        vec![
            ("secureClientPort".into(), secure_port.to_string()),
            ("secureClientPortAddress".into(), "127.0.0.1".into()),
            (
                "serverCnxnFactory".into(),
                "org.apache.zookeeper.server.NettyServerCnxnFactory".into(),
            ),
            (
                "ssl.keyStore.location".into(),
                p(format!("server-key.{}", store.ext())),
            ),
            ("ssl.keyStore.password".into(), PASSWORD.into()),
            (
                "ssl.trustStore.location".into(),
                p(format!("trust.{}", store.ext())),
            ),
            ("ssl.trustStore.password".into(), PASSWORD.into()),
            ("authProvider.x509".into(), X509_PROVIDER.into()),
        ]
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

/// The netty jars Apache's NettyServerCnxnFactory and ClientCnxnSocketNetty need
/// (Debian's `libnetty-java`), those present.
pub fn netty_jars() -> Vec<String> {
    [
        "netty-buffer",
        "netty-codec",
        "netty-common",
        "netty-handler",
        "netty-resolver",
        "netty-transport",
        "netty-transport-native-unix-common",
        "netty-transport-native-epoll",
    ]
    .iter()
    .map(|j| format!("/usr/share/java/{j}.jar"))
    .filter(|p| Path::new(p).exists())
    .collect()
}

/// `openssl s_client` to `port` with the client `name`'s certificate (or none), sends
/// `input`, returns what the server answered (empty when the handshake or the
/// client certificate was refused) and s_client's stderr.
pub fn s_client(
    pki: &Pki,
    port: u16,
    client: Option<&str>,
    input: &str,
    extra: &[&str],
) -> (String, String) {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client",
        "-connect",
        &format!("127.0.0.1:{port}"),
        "-quiet",
    ])
    .args(["-verify_return_error", "-CAfile"])
    .arg(pki.path("ca.pem"))
    .args(extra);
    if let Some(c) = client {
        cmd.arg("-cert")
            .arg(pki.path(&format!("{c}.pem")))
            .arg("-key")
            .arg(pki.path(&format!("{c}.key")));
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("openssl s_client");
    // s_client -quiet ignores EOF on stdin: the server closes after a four-letter word.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !waiter.is_finished() {
        if std::time::Instant::now() > deadline {
            // SAFETY: kill(2) on the pid of the s_client this test started, not yet reaped.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = waiter.join().unwrap().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs tests/py/tls.py against `addr` with the client `name`'s certificate (or none);
/// its JSON lines.
pub fn kazoo(
    pki: &Pki,
    addr: &str,
    client: Option<&str>,
    steps: &[&str],
) -> Vec<serde_json::Value> {
    let mut cmd = Command::new(crate::python());
    cmd.arg(crate::crate_dir().join("py").join("tls.py"))
        .args(["--hosts", addr, "--ca"])
        .arg(pki.path("ca.pem"));
    if let Some(c) = client {
        cmd.arg("--cert")
            .arg(pki.path(&format!("{c}.pem")))
            .arg("--key")
            .arg(pki.path(&format!("{c}.key")));
    }
    cmd.args(steps);
    let out = crate::run_with_timeout(&mut cmd, Duration::from_secs(90));
    assert!(
        out.status.success(),
        "tls.py failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect()
}
