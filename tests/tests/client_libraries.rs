//! Real client libraries other than Java's, against Apache ZooKeeper 3.8 and ours: go-zookeeper
//! (Debian's `golang-github-samuel-go-zookeeper-dev`, built with Debian's `golang-go`, offline,
//! from `/usr/share/gocode`) and the Rust `zookeeper-client` crate. Both send `auth` with an
//! ordinary xid, where the Java client sends -4; a server that answers -4 regardless leaves
//! go-zookeeper's `AddAuth` waiting forever and sends the Rust crate into a reconnect loop
//! (issue 16 item 0). Each library adds digest auth, creates a node only that digest id may
//! read, reads it back, and checks that a session without the id gets NoAuth.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use zk_tests::raw::DIGEST_U_PW;
use zk_tests::{start_pair, TestServer};

/// Where Debian's Go library packages put their sources (a GOPATH, no modules).
const DEBIAN_GOPATH: &str = "/usr/share/gocode";
const CLIENT_DEADLINE: Duration = Duration::from_secs(60);

/// Builds tests/go/zkauth.go; `None` (the test is skipped) only when there is no `go`.
fn build_go_client() -> Option<PathBuf> {
    if Command::new("go").arg("version").output().is_err() {
        eprintln!(
            "SKIPPED go_zookeeper_auth_and_digest_acl: no `go` on PATH \
             (.ci/run installs golang-go and golang-github-samuel-go-zookeeper-dev)"
        );
        return None;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("go/zkauth.go");
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go");
    std::fs::create_dir_all(&out_dir).unwrap();
    let bin = out_dir.join("zkauth");
    let out = Command::new("go")
        .arg("build")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .env("GOPATH", DEBIAN_GOPATH)
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .env("GOCACHE", out_dir.join("cache"))
        .output()
        .expect("run go build");
    assert!(
        out.status.success(),
        "go build {} failed (is golang-github-samuel-go-zookeeper-dev installed under {}?):\n{}",
        src.display(),
        DEBIAN_GOPATH,
        String::from_utf8_lossy(&out.stderr)
    );
    Some(bin)
}

/// Runs the Go client against one server, killed after `CLIENT_DEADLINE`; returns its stdout.
fn run_go_client(bin: &Path, s: &TestServer) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let mut child = Command::new(bin)
        .arg(s.addr().to_string())
        .arg("/gozk")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("start the go client");
    let deadline = Instant::now() + CLIENT_DEADLINE;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(
        status.is_some_and(|st| st.success()),
        "go-zookeeper against {}: {status:?}\nstdout:\n{stdout}\nstderr (last 2000 bytes):\n{}\n{}",
        s.kind.name(),
        &stderr[stderr.len().saturating_sub(2000)..],
        s.log_tail()
    );
    stdout
}

#[test]
fn go_zookeeper_auth_and_digest_acl() {
    let Some(bin) = build_go_client() else {
        return;
    };
    let (apache, ours) = start_pair(&Default::default());
    let a = run_go_client(&bin, &apache);
    let o = run_go_client(&bin, &ours);
    assert!(a.ends_with("done\n"), "apache:\n{a}");
    assert_eq!(a, o, "go-zookeeper: apache vs ours");
}

/// The same steps through the Rust crate; each call bounded, so a server that answers with the
/// wrong xid fails the test instead of hanging it.
async fn rust_client_script(s: &TestServer) -> Vec<String> {
    use zookeeper_client as zk;
    async fn bounded<T>(step: &str, f: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(10), f)
            .await
            .unwrap_or_else(|_| panic!("zookeeper-client: {step}: no answer within 10 s"))
    }
    let mut out = Vec::new();
    let hosts = s.addr().to_string();
    let c = bounded("connect", zk::Client::connect(&hosts))
        .await
        .expect("connect");
    bounded("auth", c.auth("digest", b"u:pw"))
        .await
        .expect("auth digest u:pw");
    out.push("auth ok".to_owned());
    let mut users: Vec<String> = bounded("whoAmI", c.list_auth_users())
        .await
        .expect("whoAmI")
        .iter()
        .map(|u| format!("{}:{}", u.scheme(), u.user()))
        .collect();
    users.sort();
    out.push(format!("whoAmI {users:?}"));
    let (digest_user, digest) = DIGEST_U_PW.split_once(':').unwrap();
    let id = format!("{digest_user}:{digest}");
    let acl = [zk::Acl::new(
        zk::Permission::ALL,
        zk::AuthId::new("digest", &id),
    )];
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&acl));
    let r = bounded("create", c.create("/rustzk", b"secret", &opts)).await;
    out.push(format!("create {:?}", r.map(|_| ())));
    let r = bounded("get", c.get_data("/rustzk")).await;
    out.push(format!("get {:?}", r.map(|(d, _)| d)));
    let d = bounded("connect d", zk::Client::connect(&hosts))
        .await
        .expect("connect d");
    let r = bounded("get without the id", d.get_data("/rustzk")).await;
    out.push(format!("d: get {:?}", r.map(|(d, _)| d)));
    bounded("auth d", d.auth("digest", b"u:pw"))
        .await
        .expect("auth d");
    let r = bounded("get with the id", d.get_data("/rustzk")).await;
    out.push(format!("d: get after auth {:?}", r.map(|(d, _)| d)));
    out
}

#[test]
fn rust_zookeeper_client_auth_and_digest_acl() {
    let (apache, ours) = start_pair(&Default::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let a = rt.block_on(rust_client_script(&apache));
    let o = rt.block_on(rust_client_script(&ours));
    assert_eq!(a[0], "auth ok");
    assert_eq!(a, o, "zookeeper-client: apache vs ours");
}
