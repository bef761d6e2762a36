//! `py/reconfig.py`, kazoo's reconfig and config calls as the reconfig tests run them: one
//! JSON object on the last line of its output.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

/// Runs `reconfig.py` with `args`; it must succeed.
pub fn run(args: &[&str]) -> Value {
    let mut cmd = Command::new(crate::python());
    cmd.arg(crate::crate_dir().join("py").join("reconfig.py"))
        .args(args);
    let out = crate::run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "reconfig.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(stdout.lines().last().expect("one line")).unwrap()
}

/// `reconfig --hosts hosts args...`: the JSON reply.
pub fn reconfig(hosts: &str, args: &[&str]) -> Value {
    let mut a = vec!["reconfig", "--hosts", hosts];
    a.extend_from_slice(args);
    run(&a)
}

/// `/zookeeper/config` as read through `hosts`, or "" if it could not be read (for
/// loops that wait until it shows something).
pub fn config_or_empty(hosts: &str) -> String {
    let mut cmd = Command::new(crate::python());
    cmd.arg(crate::crate_dir().join("py").join("reconfig.py"))
        .args(["config", "--hosts", hosts]);
    let out = crate::run_with_timeout(&mut cmd, Duration::from_secs(60));
    let stdout = String::from_utf8(out.stdout).unwrap();
    match stdout.lines().last().map(serde_json::from_str::<Value>) {
        Some(Ok(v)) => v["data"].as_str().unwrap_or_default().to_string(),
        _ => String::new(),
    }
}
