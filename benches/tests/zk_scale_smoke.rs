//! CI does not time benchmarks; it checks that the scale benchmark still runs: every
//! scenario with a few sessions against our server only (zk-server processes, a standalone
//! one and a 3-server ensemble whose leader is killed), which must report every figure and
//! no failure. No timing is asserted.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Our server's binary: `$ZK_SERVER_BIN`, or built into this test's target directory.
fn server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("ZK_SERVER_BIN") {
        return PathBuf::from(p);
    }
    // Test executables live in <target>/<profile>/deps/.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let profile = profile_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let target = profile_dir.parent().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "-p", "zk-server", "--bin", "zk-server"])
        .env("CARGO_TARGET_DIR", target);
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
}

#[test]
fn zk_scale_runs_every_scenario_against_our_server() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let out = Command::new(env!("CARGO_BIN_EXE_zk-scale"))
        .arg("--dir")
        .arg(dir.path().join("run"))
        .arg("--server-bin")
        .arg(server_binary())
        .arg("--json")
        .arg(&json)
        .args([
            "--systems",
            "ours",
            "--sessions",
            "20",
            "--watch-sessions",
            "4",
        ])
        .args(["--watches-per-session", "10", "--failover-sessions", "12"])
        .args([
            "--failover-watches",
            "5",
            "--children",
            "300",
            "--value-bytes",
            "200000",
        ])
        .args(["--repeat", "3", "--scenario-timeout", "60"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "zk-scale failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["failures"], serde_json::json!([]), "{v}");
    let ours = v["ours"].as_object().expect("our figures");
    for figure in [
        "connect storm: 20 sessions, until all connected",
        "sessions: anon bytes per",
        "40 watches: registration (4 sessions pipelined)",
        "watches: RSS bytes per",
        "fire one event to 20 watchers: setData reply to last event",
        "getChildren of 300 children, p50",
        "getChildren2 of 300 children, p50",
        "setData 200000 B value, p50",
        "getData 200000 B value, throughput one at a time",
        "leader failover, 12 sessions x 5 watches: kill to all serving",
    ] {
        assert!(ours.contains_key(figure), "no {figure:?} in {v}");
        assert!(
            stdout.contains(figure),
            "no {figure:?} in the table:\n{stdout}"
        );
    }
    for name in [
        "connect storm: 20 sessions, until all connected",
        "getChildren of 300 children, max",
        "leader failover, 12 sessions x 5 watches: kill to all serving",
    ] {
        let t = ours[name].as_f64().unwrap();
        assert!(t > 0.0, "{name}: {t}");
    }
}
