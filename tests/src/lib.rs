//! End-to-end harness: starts real server processes on 127.0.0.1 and runs real clients at them.
//!
//! Two kinds of server can be started, each with its own free port, its own `zoo.cfg` and its
//! own data and log directories in a temporary directory, so tests run in parallel:
//!
//! - [`Kind::Ours`]: the `zk-server` binary of this workspace (`$ZK_SERVER_BIN`, or built once
//!   per test process into the same target directory as the running test);
//! - [`Kind::Apache`]: the reference Apache ZooKeeper 3.8 standalone server from the Debian
//!   `zookeeper` package, run the way `zkServer.sh` would run it but with
//!   `ZooKeeperServerMain` and without the admin server.
//!
//! A server is killed by pid when its [`TestServer`] is dropped; the harness only ever signals
//! processes it started. Readiness and every other wait is a bounded poll, never a sleep that
//! orders events.
//!
//! The differential tests run one client script against both servers and compare the
//! normalised JSON lines with [`diff::compare`]. This module leaves the wire format to
//! [`raw`] and the normalisation rules to [`diff`].

pub mod diff;
pub mod ensemble;
pub mod jepsen;
pub mod kazoo;
pub mod keeper;
pub mod krb;
pub mod proxy;
pub mod raw;
pub mod reconfig_tool;
pub mod revoke;
pub mod roll;
pub mod tls;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// `super:secret`, digested the way `DigestAuthenticationProvider.generateDigest` does it.
pub const SUPER_DIGEST: &str = "super:lK75jTNcA+U9vtVEw5vB51mj/w4=";

/// How long a server may take to answer `ruok` after it was started. The JVM on a loaded
/// 2-core CI machine is the slow one.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ours,
    Apache,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::Apache => "apache",
        }
    }
}

/// What goes into the `zoo.cfg` beyond the port and directories.
#[derive(Clone, Debug)]
pub struct Options {
    pub extended_types: bool,
    pub super_digest: bool,
    /// `4lw.commands.whitelist`.
    pub four_letter_words: String,
    /// Extra `key=value` lines.
    pub extra: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            extended_types: true,
            super_digest: true,
            four_letter_words: "*".into(),
            extra: Vec::new(),
        }
    }
}

/// A running server process with its own port and directories.
pub struct TestServer {
    pub kind: Kind,
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
    opts: Options,
}

/// The command that runs `kind` on `<dir>/zoo.cfg`, its logs under `<dir>/logs`.
fn server_command(kind: Kind, opts: &Options, dir: &Path) -> Command {
    let log_dir = dir.join("logs");
    let cfg_path = dir.join("zoo.cfg");
    match kind {
        Kind::Ours => {
            let mut c = Command::new(server_binary());
            c.arg(&cfg_path);
            c
        }
        Kind::Apache => {
            let mut c = Command::new(java());
            c.arg(format!("-Dzookeeper.log.dir={}", log_dir.display()))
                .arg("-Dzookeeper.admin.enableServer=false")
                .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=info")
                .args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]);
            if opts.extended_types {
                c.arg("-Dzookeeper.extendedTypesEnabled=true");
            }
            if opts.super_digest {
                c.arg(format!(
                    "-Dzookeeper.DigestAuthenticationProvider.superDigest={SUPER_DIGEST}"
                ));
            }
            c.arg("-cp")
                .arg(apache_classpath(true))
                .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
                .arg(&cfg_path);
            c
        }
    }
}

impl TestServer {
    pub fn start(kind: Kind, opts: &Options) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix(&format!("zk-e2e-{}-", kind.name()))
            .tempdir()
            .expect("tempdir");
        let port = free_port();
        let data_dir = dir.path().join("data");
        let log_dir = dir.path().join("logs");
        std::fs::create_dir_all(&data_dir).unwrap();
        std::fs::create_dir_all(&log_dir).unwrap();
        let cfg_path = dir.path().join("zoo.cfg");
        let mut cfg = format!(
            "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             4lw.commands.whitelist={}\nadmin.enableServer=false\nmaxClientCnxns=0\n",
            data_dir.display(),
            opts.four_letter_words
        );
        if opts.extended_types {
            cfg.push_str("extendedTypesEnabled=true\n");
        }
        if opts.super_digest {
            cfg.push_str(&format!(
                "DigestAuthenticationProvider.superDigest={SUPER_DIGEST}\n"
            ));
        }
        for (k, v) in &opts.extra {
            cfg.push_str(&format!("{k}={v}\n"));
        }
        std::fs::write(&cfg_path, &cfg).unwrap();
        let stdout = std::fs::File::create(log_dir.join("stdout.log")).unwrap();
        let stderr = std::fs::File::create(log_dir.join("stderr.log")).unwrap();
        let mut cmd = server_command(kind, opts, dir.path());
        cmd.current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {} server: {e}", kind.name()));
        let mut server = TestServer {
            kind,
            port,
            dir,
            child,
            opts: opts.clone(),
        };
        let probe = if opts.four_letter_words == "*" || opts.four_letter_words.contains("ruok") {
            "ruok"
        } else {
            "srvr"
        };
        server.wait_ready(probe);
        server
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `127.0.0.1:port`, the connect string of the clients.
    pub fn hosts(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Polls `srvr` until it reports a version, then checks `ruok` answers `imok` (when
    /// whitelisted).
    fn wait_ready(&mut self, probe: &str) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the {} server exited before it was ready ({status}); its log:\n{}",
                    self.kind.name(),
                    self.log_tail()
                );
            }
            // Apache answers `ruok` before its ZooKeeperServer runs (and then drops sessions);
            // `srvr` prints its version only once it serves requests.
            let serving = four_letter_word(self.addr(), "srvr")
                .is_ok_and(|r| r.starts_with("Zookeeper version:"));
            if serving
                && (probe != "ruok"
                    || four_letter_word(self.addr(), "ruok").is_ok_and(|r| r == "imok"))
            {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "the {} server did not answer {probe} within {READY_TIMEOUT:?}; its log:\n{}",
                    self.kind.name(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// The last lines of the server's stdout and stderr, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut s = String::new();
        for f in ["stdout.log", "stderr.log"] {
            let text =
                std::fs::read_to_string(self.dir.path().join("logs").join(f)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(40);
            s.push_str(&format!("--- {f}\n{}\n", lines[from..].join("\n")));
        }
        s
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Only the process this harness spawned, by its pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the reference server and ours side by side, with the same options.
pub fn start_pair(opts: &Options) -> (TestServer, TestServer) {
    let o = opts.clone();
    let apache = std::thread::spawn(move || TestServer::start(Kind::Apache, &o));
    let ours = TestServer::start(Kind::Ours, opts);
    let apache = apache
        .join()
        .expect("starting the reference server panicked");
    (apache, ours)
}

/// A free port on 127.0.0.1. Ports handed out once in this process are never handed out again,
/// so parallel tests cannot pick the same one between the probe and the server's bind.
///
/// The ports come from below the kernel's ephemeral range (`ip_local_port_range`, usually from
/// 32768): a port the kernel hands out as the local end of some outgoing connection could be
/// taken while a test has its server stopped, and the restart would fail to bind. Each process
/// starts at its own offset, so concurrent test processes rarely probe the same ports.
pub fn free_port() -> u16 {
    const FROM: u32 = 10_000;
    const TO: u32 = 32_000;
    static TAKEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let taken = TAKEN.get_or_init(|| Mutex::new(HashSet::new()));
    let span = TO - FROM;
    let offset = (std::process::id() * 7919) % span;
    for _ in 0..span {
        let i = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = (FROM + (offset + i) % span) as u16;
        if taken.lock().unwrap().contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            taken.lock().unwrap().insert(port);
            return port;
        }
    }
    panic!("no free port found between {FROM} and {TO}");
}

/// Sends a four-letter word on a fresh connection and reads the reply until the server closes.
pub fn four_letter_word(addr: SocketAddr, word: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(word.as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// This crate's directory (`tests/`), where `py/`, `c/` and `golden/` live.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The target directory the running test was built into: test executables live in
/// `<target>/<profile>/deps/`.
fn target_dir_and_profile() -> (PathBuf, String) {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("exe dir");
    let profile_dir = deps.parent().expect("profile dir");
    let profile = profile_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    (profile_dir.parent().unwrap().to_path_buf(), profile)
}

/// Our server's binary: `$ZK_SERVER_BIN`, or built once per test process.
pub fn server_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("ZK_SERVER_BIN") {
            return PathBuf::from(p);
        }
        let (target, profile) = target_dir_and_profile();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace_root())
            .args(["build", "-p", "zk-server", "--bin", "zk-server"])
            .env("CARGO_TARGET_DIR", &target);
        if profile == "release" {
            cmd.arg("--release");
        }
        let out = cmd.output().expect("run cargo build");
        assert!(
            out.status.success(),
            "cargo build -p zk-server failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target.join(&profile).join("zk-server")
    })
    .clone()
}

pub fn java() -> PathBuf {
    if let Some(j) = std::env::var_os("JAVA") {
        return PathBuf::from(j);
    }
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        let p = Path::new(&home).join("bin/java");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("java")
}

/// The classpath `zkEnv.sh` builds from the Debian package: `zookeeper.jar`, whose manifest
/// names its dependencies in `/usr/share/java`. With `logs`, slf4j-simple is added so the
/// reference server's log lands in its stderr file instead of nowhere.
pub fn apache_classpath(logs: bool) -> String {
    if let Ok(cp) = std::env::var("ZK_APACHE_CLASSPATH") {
        return cp;
    }
    let jar = "/usr/share/java/zookeeper.jar";
    assert!(
        Path::new(jar).exists(),
        "{jar} is missing: install the reference server with \
         `apt-get install zookeeper zookeeper-bin libzookeeper-mt-dev` (see .ci/run)"
    );
    let mut cp = jar.to_string();
    let simple = "/usr/share/java/slf4j-simple.jar";
    if logs && Path::new(simple).exists() {
        cp.push(':');
        cp.push_str(simple);
    }
    // Netty, for NettyServerCnxnFactory (TLS client ports) and ClientCnxnSocketNetty,
    // when installed (Debian's libnetty-java, see .ci/run).
    for j in tls::netty_jars() {
        cp.push(':');
        cp.push_str(&j);
    }
    // The AdminServer's dependencies, when installed (see .ci/run); without them
    // Apache's server runs as before, only without its AdminServer.
    if let Some(jars) = apache_admin_jars() {
        for j in jars {
            cp.push(':');
            cp.push_str(&j);
        }
    }
    cp
}

/// The jars Apache's AdminServer needs on the classpath (Jetty 9, the servlet
/// API, Jackson), from Debian's `libjetty9-java`, `libservlet-api-java` and
/// `libjackson2-*-java`; `None` when any is missing.
pub fn apache_admin_jars() -> Option<Vec<String>> {
    const JARS: &[&str] = &[
        "jetty9-server",
        "jetty9-servlet",
        "jetty9-security",
        "jetty9-http",
        "jetty9-io",
        "jetty9-util",
        "jetty9-util-ajax",
        "servlet-api",
        "jackson-databind",
        "jackson-core",
        "jackson-annotations",
    ];
    JARS.iter()
        .map(|j| {
            let p = format!("/usr/share/java/{j}.jar");
            Path::new(&p).exists().then_some(p)
        })
        .collect()
}

/// Runs a command to completion with a deadline; kills it (by its pid) if it overruns.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    // Drain the pipes on threads so a chatty child never blocks on a full pipe.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let s = child.wait().unwrap();
            let stderr = t_err.join().unwrap();
            panic!(
                "{cmd:?} did not finish within {timeout:?} ({s}); stderr:\n{}",
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

/// The Python interpreter the tests run kazoo scripts with: `$PYTHON`, else `python3`.
pub fn python() -> std::ffi::OsString {
    std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into())
}

/// A child process running in the background while a test goes on, its
/// stdout read by a thread as it comes: each line that `parse` accepts is
/// kept. Dropping it kills the process (only the one this test started).
pub struct Background<T> {
    child: Child,
    lines: std::sync::Arc<Mutex<Vec<T>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    what: String,
}

impl<T: Clone + Send + 'static> Background<T> {
    /// Spawns `cmd` with stdout piped and stdin closed; `what` names it in panics.
    pub fn spawn(cmd: &mut Command, what: &str, parse: fn(String) -> Option<T>) -> Background<T> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        let out = child.stdout.take().unwrap();
        let lines = std::sync::Arc::new(Mutex::new(Vec::new()));
        let l2 = lines.clone();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Some(v) = parse(line) {
                    l2.lock().unwrap().push(v);
                }
            }
        });
        Background {
            child,
            lines,
            reader: Some(reader),
            what: what.to_owned(),
        }
    }

    /// `f` of the lines kept so far.
    pub fn with_lines<R>(&self, f: impl FnOnce(&[T]) -> R) -> R {
        f(&self.lines.lock().unwrap())
    }

    /// Waits up to `timeout` for the process to exit (else kills it and
    /// panics); returns how it exited and every line kept.
    pub fn finish(mut self, timeout: Duration) -> (std::process::ExitStatus, Vec<T>) {
        let status = {
            let child = &mut self.child;
            let mut status = None;
            wait_until(timeout, || {
                status = child.try_wait().unwrap();
                status.is_some()
            });
            status
        };
        let Some(status) = status else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!("{} did not finish within {timeout:?}", self.what);
        };
        self.reader.take().unwrap().join().unwrap();
        let lines = self.lines.lock().unwrap().clone();
        (status, lines)
    }
}

impl<T> Drop for Background<T> {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `tests/py/<script>` with `--hosts` pointing at `server`; returns its stdout lines.
pub fn run_python(script: &str, server: &TestServer) -> Vec<String> {
    let mut cmd = Command::new(python());
    cmd.arg(crate_dir().join("py").join(script))
        .arg("--hosts")
        .arg(server.hosts())
        .current_dir(crate_dir().join("py"));
    let what = format!("{script} against the {} server", server.kind.name());
    output_lines(&mut cmd, &what, Duration::from_secs(120), || {
        format!("server log:\n{}", server.log_tail())
    })
}

/// Runs `cmd` (killed after `timeout`), asserts it succeeded, and returns its stdout lines.
/// A failure names `what` and shows stderr, stdout and `context()` (a server's log, say).
pub fn output_lines(
    cmd: &mut Command,
    what: &str,
    timeout: Duration,
    context: impl FnOnce() -> String,
) -> Vec<String> {
    let out = run_with_timeout(cmd, timeout);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\nstdout:\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout),
        context()
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Asserts that two transcripts of the same steps, one per server kind, are equal line for line.
pub fn assert_same_lines(what: &str, apache: &[String], ours: &[String]) {
    assert_eq!(
        apache,
        ours,
        "{what}: ours differs from Apache ZooKeeper\napache:\n{}\nours:\n{}",
        apache.join("\n"),
        ours.join("\n")
    );
}

/// Whether one of `lines` is exactly `needle`.
pub fn has_line(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l == needle)
}

/// Polls `cond` until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// --- Restarting a standalone server in place (zk-cli reconnect tests) ---------------------------

impl TestServer {
    /// Kills the server process (only it, by its pid) and waits for it; the port, `zoo.cfg`
    /// and data directory stay for [`TestServer::restart`].
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts our server again on the same port, `zoo.cfg` and data directory (after
    /// [`TestServer::kill`]) and waits until it serves. Its output is appended to the logs.
    pub fn restart(&mut self) {
        assert_eq!(self.kind, Kind::Ours, "only our server restarts in place");
        if let Err(status) = self.start_as(Kind::Ours) {
            panic!(
                "our server exited on restart ({status}); its log:\n{}",
                self.log_tail()
            );
        }
    }
}

// ---- One kind taking over the other's data directory (tests/tests/apache_data_dir.rs) -----------

impl TestServer {
    /// Starts `kind` on this server's port, `zoo.cfg` and data directories (after
    /// [`TestServer::kill`] or [`TestServer::kill9`]) and waits until it serves, or returns
    /// its exit status if it exits first (within the ready timeout). Output is appended to
    /// the logs.
    pub fn start_as(&mut self, kind: Kind) -> Result<(), std::process::ExitStatus> {
        assert!(!self.is_running(), "start_as on a server that still runs");
        let log_dir = self.dir.path().join("logs");
        let log = |name: &str| {
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(log_dir.join(name))
                .unwrap()
        };
        self.child = server_command(kind, &self.opts, self.dir.path())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log("stdout.log"))
            .stderr(log("stderr.log"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {} server: {e}", kind.name()));
        self.kind = kind;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(status);
            }
            if four_letter_word(self.addr(), "srvr")
                .is_ok_and(|r| r.starts_with("Zookeeper version:"))
            {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "the {} server did not serve within {READY_TIMEOUT:?}; its log:\n{}",
                kind.name(),
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

// ---- Crash and restart (used by tests/tests/crash_recovery.rs) ----------------------------------
// Kept in one block: a server is killed with SIGKILL by its own pid (and started again with
// `TestServer::restart` above), its files are looked at, `zk-server purge` is run.

impl TestServer {
    /// `dataDir` of this server (`version-2/` below it holds snapshots and, by default, logs).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// This server's `zoo.cfg`.
    pub fn cfg_path(&self) -> PathBuf {
        self.dir.path().join("zoo.cfg")
    }

    /// `kill -9` the server process (by the pid of the child this harness started) and reap it;
    /// unlike [`TestServer::kill`], checks that it was running and died of the signal.
    pub fn kill9(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on the pid of our own, not yet reaped, child.
        let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
        assert_eq!(rc, 0, "kill -9 {pid}: {}", std::io::Error::last_os_error());
        let status = self.child.wait().expect("reap the killed server");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "the server did not die of kill -9: {status}"
        );
    }
}

/// Runs `zk-server <args...>` (e.g. `purge <zoo.cfg> -n 3`) to completion.
pub fn run_zk_server(args: &[&std::ffi::OsStr]) -> Output {
    let mut cmd = Command::new(server_binary());
    cmd.args(args);
    run_with_timeout(&mut cmd, Duration::from_secs(60))
}

/// `GET path` over HTTP/1.1 from 127.0.0.1's `addr`, bounded by `timeout`: the
/// status and the body (read to the end: the request asks to close).
pub fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of the response head"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
