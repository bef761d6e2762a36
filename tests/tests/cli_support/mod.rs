//! Helpers shared by the `cli_*` tests (`mod cli_support;` in each; a module in
//! a directory is not a test target of its own): the zk-cli binary, running
//! `zkCli.sh`'s main class, the normalisation of shell output for golden
//! comparison, and a tmux server to drive the interactive shell.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use zk_tests::{apache_classpath, crate_dir, java, run_with_timeout, workspace_root};

/// The target directory and profile the running test executable was built
/// into (`<target>/<profile>/deps/<exe>`).
fn target_and_profile() -> (PathBuf, String) {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe.parent().and_then(Path::parent).expect("profile dir");
    let profile = profile_dir
        .file_name()
        .expect("profile name")
        .to_string_lossy()
        .into_owned();
    (
        profile_dir.parent().expect("target dir").to_path_buf(),
        profile,
    )
}

/// `zk-cli`: `$ZK_CLI_BIN`, or built (with zk-server) once per test process.
pub fn cli_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("ZK_CLI_BIN") {
            return PathBuf::from(p);
        }
        let (target, profile) = target_and_profile();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace_root())
            .args(["build", "-p", "zk-server", "-p", "zk-cli"])
            .env("CARGO_TARGET_DIR", &target);
        if profile == "release" {
            cmd.arg("--release");
        }
        let out = cmd.output().expect("run cargo build");
        assert!(
            out.status.success(),
            "cargo build -p zk-server -p zk-cli failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target.join(&profile).join("zk-cli")
    })
    .clone()
}

pub fn golden_dir() -> PathBuf {
    crate_dir().join("golden").join("cli")
}

/// Run a command script through Apache ZooKeeper's shell (`zkCli.sh`'s main
/// class, one JVM for the whole script).
pub fn run_zkcli_sh(script: &Path, hosts: &str) -> Output {
    let mut cmd = Command::new(java());
    cmd.args(["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
        .arg("-cp")
        .arg(apache_classpath(false))
        .arg("org.apache.zookeeper.ZooKeeperMain")
        .args(["-server", hosts])
        .stdin(Stdio::from(
            std::fs::File::open(script).expect("open script"),
        ));
    run_with_timeout(&mut cmd, Duration::from_secs(120))
}

/// Run a command script through zk-cli (stdin is not a terminal: script mode).
pub fn run_zk_cli(script: &Path, hosts: &str) -> Output {
    let mut cmd = Command::new(cli_binary());
    cmd.args(["-server", hosts])
        .env("ZKCLI_HISTORY", "/dev/null")
        .stdin(Stdio::from(
            std::fs::File::open(script).expect("open script"),
        ));
    run_with_timeout(&mut cmd, Duration::from_secs(120))
}

/// Replace what differs between runs: ports, times, zxids, session ids, the
/// client's version; drop the JVM's logging noise.
pub fn normalise(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("SLF4J:") || line.starts_with("log4j:") {
            continue;
        }
        let line = mask_ports(line);
        let l = if let Some((k, _)) = line.split_once(" = ") {
            match k {
                "ctime" | "mtime" => format!("{k} = <TIME>"),
                "cZxid" | "mZxid" | "pZxid" => format!("{k} = <ZXID>"),
                "ephemeralOwner" if line != "ephemeralOwner = 0x0" => {
                    format!("{k} = <SESSION>")
                }
                _ => line,
            }
        } else if line.starts_with("ZooKeeper CLI version: ") {
            "ZooKeeper CLI version: <VERSION>".to_owned()
        } else {
            line
        };
        out.push_str(&l);
        out.push('\n');
    }
    out
}

fn mask_ports(line: &str) -> String {
    let key = "127.0.0.1:";
    let mut s = String::new();
    let mut rest = line;
    while let Some(i) = rest.find(key) {
        s.push_str(&rest[..i + key.len()]);
        rest = &rest[i + key.len()..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 {
            s.push_str("PORT");
        }
        rest = &rest[digits..];
    }
    s.push_str(rest);
    s
}

/// A line diff good enough for a failure message.
pub fn diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let mut s = String::new();
    for i in 0..e.len().max(a.len()) {
        let (x, y) = (e.get(i).copied(), a.get(i).copied());
        if x != y {
            s.push_str(&format!(
                "line {}:\n  expected: {}\n  actual:   {}\n",
                i + 1,
                x.unwrap_or("<none>"),
                y.unwrap_or("<none>")
            ));
        }
    }
    s
}

/// tmux, or a clear failure: the interactive tests need it (`apt-get install tmux`).
pub fn tmux() -> PathBuf {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "tmux is not installed: the interactive zk-cli tests drive the shell through tmux; \
         install it with `apt-get install tmux` (CI: add tmux to the packages of .ci/run)"
    );
    PathBuf::from("tmux")
}

/// How long a tmux-driven step may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// One tmux server on a socket of its own, killed (only it) on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn new(tag: &str) -> Tmux {
        tmux();
        Tmux {
            socket: format!("zkcli-test-{tag}-{}", std::process::id()),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(tmux());
        c.args(["-L", &self.socket, "-f", "/dev/null"]);
        c
    }

    fn run(&self, args: &[&str]) -> bool {
        self.cmd()
            .args(args)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// Start `zk-cli -server hosts` in a fresh session named `name`.
    pub fn start_shell(&self, name: &str, hosts: &str, history: &Path) {
        self.start_shell_with(name, &["-server", hosts], history);
    }

    /// Start `zk-cli args...` in a fresh session named `name`.
    pub fn start_shell_with(&self, name: &str, args: &[&str], history: &Path) {
        let shell = format!(
            "env TERM=xterm ZKCLI_HISTORY={} {} {}",
            history.display(),
            cli_binary().display(),
            args.join(" ")
        );
        assert!(
            self.run(&[
                "new-session",
                "-d",
                "-s",
                name,
                "-x",
                "200",
                "-y",
                "50",
                &shell
            ]),
            "tmux new-session failed"
        );
    }

    pub fn send(&self, name: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", name];
        args.extend_from_slice(keys);
        assert!(self.run(&args), "tmux send-keys {keys:?} failed");
    }

    /// Type literally (no key-name interpretation).
    pub fn type_text(&self, name: &str, text: &str) {
        assert!(
            self.run(&["send-keys", "-t", name, "-l", text]),
            "tmux send-keys -l {text:?} failed"
        );
    }

    /// Type a command line and press Enter.
    pub fn command(&self, name: &str, line: &str) {
        self.type_text(name, line);
        self.send(name, &["Enter"]);
    }

    pub fn screen(&self, name: &str) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-J", "-S", "-1000", "-t", name])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn alive(&self, name: &str) -> bool {
        self.run(&["has-session", "-t", name])
    }

    /// Wait (bounded) until the screen satisfies `pred`.
    pub fn wait_for(&self, name: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let s = self.screen(name);
            if pred(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("waited {WAIT:?} for {what}; the screen shows:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_text(&self, name: &str, text: &str) -> String {
        self.wait_for(name, &format!("{text:?}"), |s| s.contains(text))
    }

    /// Wait until `text` shows `n` times (events that repeat: a second
    /// SyncConnected after a reconnect).
    pub fn wait_count(&self, name: &str, text: &str, n: usize) -> String {
        self.wait_for(name, &format!("{n} x {text:?}"), |s| {
            s.matches(text).count() >= n
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Only our own tmux server (its own socket) and the shells it runs.
        let _ = self.run(&["kill-server"]);
    }
}

/// The last non-empty line of the screen: the line being edited.
pub fn current_line(screen: &str) -> String {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim_end()
        .to_owned()
}

/// `zk-cli -server hosts args...`: one command, its output and exit status.
pub fn one_shot(hosts: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(cli_binary());
    cmd.args(["-server", hosts])
        .args(args)
        .env("ZKCLI_HISTORY", "/dev/null")
        .stdin(Stdio::null());
    run_with_timeout(&mut cmd, Duration::from_secs(60))
}

/// `zkCli.sh -server hosts args...` (its main class): one command, its output
/// and exit status.
pub fn zkcli_sh_one_shot(hosts: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(java());
    cmd.args(["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
        .arg("-cp")
        .arg(apache_classpath(false))
        .arg("org.apache.zookeeper.ZooKeeperMain")
        .args(["-server", hosts])
        .args(args)
        .stdin(Stdio::null());
    run_with_timeout(&mut cmd, Duration::from_secs(120))
}
