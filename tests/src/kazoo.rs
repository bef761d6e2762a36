//! kazoo against an ensemble (`tests/py/ensemble.py`): one-shot modes and a writer that runs
//! in the background while a test breaks servers.

use std::process::Command;
use std::time::Duration;

use crate::python;

pub fn script() -> std::path::PathBuf {
    crate::crate_dir().join("py").join("ensemble.py")
}

/// Seconds since the epoch, the clock the writer's `t` and `t0` use.
pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The kazoo writer in the background; its JSON lines collected as they come.
pub struct Writer(crate::Background<serde_json::Value>);

impl Writer {
    pub fn start(hosts: &str, seconds: f64, prefix: &str) -> Writer {
        let mut cmd = Command::new(python());
        cmd.arg(script())
            .args(["writer", "--hosts", hosts, "--prefix", prefix])
            .args(["--seconds", &seconds.to_string()]);
        Writer(crate::Background::spawn(
            &mut cmd,
            "the kazoo writer",
            |l| serde_json::from_str(&l).ok(),
        ))
    }

    /// `(k, started, acknowledged)` of every acknowledged write.
    pub fn acks(&self) -> Vec<(u64, f64, f64)> {
        self.0.with_lines(|lines| {
            lines
                .iter()
                .filter_map(|v| Some((v["ack"].as_u64()?, v["t0"].as_f64()?, v["t"].as_f64()?)))
                .collect()
        })
    }

    /// Waits for the writer to finish (bounded) and returns every line.
    pub fn finish(self, timeout: Duration) -> Vec<serde_json::Value> {
        let (status, lines) = self.0.finish(timeout);
        assert!(status.success(), "the kazoo writer failed");
        lines
    }
}

/// A kazoo session holding an ephemeral in the background (`hold` mode) until [`Holder::finish`].
pub struct Holder {
    proc: crate::Background<serde_json::Value>,
    stop: tempfile::TempDir,
}

impl Holder {
    /// Creates the ephemeral `path` through `hosts` and holds it for at most `max_seconds`.
    pub fn start(hosts: &str, path: &str, max_seconds: f64) -> Holder {
        let stop = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(python());
        cmd.arg(script())
            .args(["hold", "--hosts", hosts, "--path", path])
            .arg("--stop")
            .arg(stop.path().join("stop"))
            .args(["--seconds", &max_seconds.to_string()]);
        Holder {
            proc: crate::Background::spawn(&mut cmd, "the kazoo holder", |l| {
                serde_json::from_str(&l).ok()
            }),
            stop,
        }
    }

    /// Whether the ephemeral was created (its session's first line came).
    pub fn holding(&self) -> bool {
        self.proc
            .with_lines(|lines| lines.iter().any(|v| v.get("held").is_some()))
    }

    /// Stops holding; returns the connection states it saw and its last line
    /// (`{"done", "ephemeral", "expired", "session"}`).
    pub fn finish(self, timeout: Duration) -> (Vec<String>, serde_json::Value) {
        std::fs::write(self.stop.path().join("stop"), b"").unwrap();
        let (status, lines) = self.proc.finish(timeout);
        assert!(status.success(), "the kazoo holder failed: {lines:?}");
        let states = lines
            .iter()
            .filter_map(|v| v["state"].as_str().map(String::from))
            .collect();
        let done = lines
            .iter()
            .find(|v| v.get("done").is_some())
            .cloned()
            .unwrap_or_else(|| panic!("the kazoo holder never finished: {lines:?}"));
        (states, done)
    }
}

/// Children of `prefix` read through server `hosts` alone after a sync.
pub fn children(hosts: &str, prefix: &str) -> Vec<String> {
    let mut cmd = Command::new(python());
    cmd.arg(script())
        .args(["read", "--hosts", hosts, "--prefix", prefix]);
    let out = crate::run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "read through {hosts} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    v["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

/// Runs one mode of `ensemble.py` to completion; its JSON lines.
pub fn run(args: &[&str]) -> Vec<serde_json::Value> {
    let mut cmd = Command::new(python());
    cmd.arg(script()).args(args);
    let out = crate::run_with_timeout(&mut cmd, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "ensemble.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// One create of `path` through `hosts` with a short timeout: `Err` with kazoo's error when
/// no server took the session or the write was refused.
pub fn try_write(hosts: &str, path: &str) -> Result<(), String> {
    let v = run(&["try-write", "--hosts", hosts, "--path", path]);
    match v.first() {
        Some(l) if l["ok"] == true => Ok(()),
        Some(l) => Err(l["error"].as_str().unwrap_or("?").to_string()),
        None => Err("no answer".into()),
    }
}
