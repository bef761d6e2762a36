//! A throwaway Kerberos realm for the tests: a KDC from Debian's `krb5-kdc` started
//! under a temporary directory (its own krb5.conf and kdc.conf, on a free 127.0.0.1
//! port, killed by pid), principals and their keytabs from `kadmin.local`.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{free_port, run_with_timeout};

pub const REALM: &str = "ZK.TEST";
/// The client port's service principal, always in the realm.
pub const SERVER_PRINCIPAL: &str = "zookeeper/localhost@ZK.TEST";

/// A Kerberos realm of its own: database, KDC process and keytabs under a temporary
/// directory. The KDC is killed (by its pid) on drop.
pub struct Realm {
    dir: tempfile::TempDir,
    kdc: Child,
}

impl Drop for Realm {
    fn drop(&mut self) {
        let _ = self.kdc.kill();
        let _ = self.kdc.wait();
    }
}

impl Realm {
    /// Creates the realm with the server principal and `clients`, each with its keytab,
    /// and starts the KDC; waits (bounded) until it accepts connections.
    pub fn new(clients: &[&str]) -> Realm {
        let mut all = vec![SERVER_PRINCIPAL];
        all.extend_from_slice(clients);
        Realm::named(REALM, &all, "")
    }

    /// The realm `name` with `principals`, each with its keytab; `libdefaults` are
    /// more `[libdefaults]` lines of its krb5.conf (`rdns = false`, ...).
    pub fn named(name: &str, principals: &[&str], libdefaults: &str) -> Realm {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = free_port();
        std::fs::write(
            d.join("kdc.conf"),
            format!(
                "[kdcdefaults]\n kdc_ports = {port}\n kdc_tcp_ports = {port}\n\
                 [realms]\n {name} = {{\n  database_name = {db}\n  key_stash_file = {stash}\n  \
                 acl_file = {acl}\n  kdc_ports = {port}\n  kdc_tcp_ports = {port}\n  max_life = 1h\n  \
                 supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n }}\n\
                 [logging]\n kdc = FILE:{log}\n",
                db = d.join("principal").display(),
                stash = d.join("stash").display(),
                acl = d.join("kadm5.acl").display(),
                log = d.join("kdc.log").display(),
            ),
        )
        .unwrap();
        std::fs::write(d.join("kadm5.acl"), "").unwrap();
        // rdns stays on (MIT's default): a client given 127.0.0.1 asks for
        // zookeeper/localhost, as Java's client canonicalises 127.0.0.1 to localhost.
        std::fs::write(
            d.join("krb5.conf"),
            format!(
                "[libdefaults]\n default_realm = {name}\n dns_lookup_kdc = false\n \
                 dns_lookup_realm = false\n udp_preference_limit = 1\n{libdefaults}\
                 [realms]\n {name} = {{\n  kdc = 127.0.0.1:{port}\n }}\n\
                 [domain_realm]\n localhost = {name}\n"
            ),
        )
        .unwrap();
        let realm = |cmd: &mut Command| {
            cmd.env("KRB5_CONFIG", d.join("krb5.conf"))
                .env("KRB5_KDC_PROFILE", d.join("kdc.conf"))
                .stdin(Stdio::null());
        };
        let run = |program: &str, args: &[&str]| {
            let mut cmd = Command::new(program);
            cmd.args(args);
            realm(&mut cmd);
            let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
            assert!(
                out.status.success(),
                "{program} {args:?}: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(
            "/usr/sbin/kdb5_util",
            &["create", "-s", "-r", name, "-P", "master-pw"],
        );
        for &p in principals {
            run(
                "/usr/sbin/kadmin.local",
                &["-r", name, "-q", &format!("addprinc -randkey {p}")],
            );
            let kt = Self::keytab_in(d, p).display().to_string();
            run(
                "/usr/sbin/kadmin.local",
                &["-r", name, "-q", &format!("ktadd -k {kt} {p}")],
            );
        }
        let mut cmd = Command::new("/usr/sbin/krb5kdc");
        cmd.args(["-n", "-r", name, "-P"])
            .arg(d.join("kdc.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        realm(&mut cmd);
        let kdc = cmd.spawn().expect("krb5kdc (Debian's krb5-kdc) runs");
        let mut r = Realm { dir, kdc };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let up = crate::wait_until(Duration::from_secs(30), || {
            r.kdc.try_wait().unwrap().is_none()
                && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        });
        assert!(up, "the KDC did not start: {}", r.kdc_log());
        r
    }

    pub fn kdc_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kdc.log")).unwrap_or_default()
    }

    pub fn keytab_in(dir: &Path, principal: &str) -> PathBuf {
        let name: String = principal
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        dir.join(format!("{name}.keytab"))
    }

    pub fn keytab(&self, principal: &str) -> PathBuf {
        Self::keytab_in(self.dir.path(), principal)
    }

    pub fn krb5_conf(&self) -> PathBuf {
        self.dir.path().join("krb5.conf")
    }

    /// A JAAS file with one `section` logging `principal` in from its keytab.
    pub fn jaas(&self, section: &str, principal: &str) -> PathBuf {
        let p = self
            .dir
            .path()
            .join(format!("{section}-{}.jaas", principal.replace('/', "_")));
        std::fs::write(
            &p,
            format!(
                "{section} {{\n  com.sun.security.auth.module.Krb5LoginModule required\n  \
                 useKeyTab=true\n  keyTab=\"{}\"\n  storeKey=true\n  useTicketCache=false\n  \
                 principal=\"{principal}\";\n}};\n",
                self.keytab(principal).display()
            ),
        )
        .unwrap();
        p
    }

    /// A credential cache holding `principal`'s ticket (kinit from its keytab).
    pub fn kinit(&self, principal: &str) -> PathBuf {
        let cache = self
            .dir
            .path()
            .join(format!("cc-{}", principal.replace('/', "_")));
        let mut cmd = Command::new("kinit");
        cmd.arg("-k")
            .arg("-t")
            .arg(self.keytab(principal))
            .arg(principal)
            .env("KRB5_CONFIG", self.krb5_conf())
            .env("KRB5CCNAME", format!("FILE:{}", cache.display()))
            .stdin(Stdio::null());
        let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
        assert!(
            out.status.success(),
            "kinit {principal}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.kdc_log()
        );
        cache
    }

    /// The realm's directory (its files, keytabs and JAAS files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
