//! CI does not time benchmarks; it checks that the scale benchmark still runs: every
//! scenario with a few sessions against our server only (zk-server processes, a standalone
//! one and a 3-server ensemble whose leader is killed), which must report every figure and
//! no failure. No timing is asserted.

use std::process::Command;

use zk_benches::smoke::server_binary;

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
