//! CI does not time benchmarks; it checks that the load generator still runs: a second of
//! each workload against a standalone server started in this process, which must report
//! operations, latencies and no errors, in its JSON too.

use std::process::Command;

fn zk_load(addr: std::net::SocketAddr, json: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_zk-load"))
        .arg("--hosts")
        .arg(addr.to_string())
        .arg("--json")
        .arg(json)
        .args(["--keys", "200", "--sessions", "2", "--outstanding", "8"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "zk-load {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ops/s"), "{stdout}");
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

#[test]
fn zk_load_runs_every_workload_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (_rt, addr) = zk_benches::smoke::start_standalone(dir.path());
    let json = dir.path().join("out.json");
    for w in ["create", "set", "get", "mixed"] {
        let v = zk_load(addr, &json, &["--workload", w, "--duration", "1"]);
        assert_eq!(v["workload"], w);
        assert!(v["ops"].as_u64().unwrap() > 0, "{w}: {v}");
        assert_eq!(v["errors"].as_u64(), Some(0), "{w}: {v}");
        assert!(v["latency_ms"]["p99"].as_f64().unwrap() > 0.0, "{w}: {v}");
        let (reads, writes) = (v["reads"].as_u64().unwrap(), v["writes"].as_u64().unwrap());
        match w {
            "get" => assert_eq!(writes, 0),
            "create" | "set" => assert_eq!(reads, 0),
            _ => assert!(reads > 0 && writes > 0, "{v}"),
        }
    }
}

#[test]
fn zk_load_count_mode_does_exactly_that_many() {
    let dir = tempfile::tempdir().unwrap();
    let (_rt, addr) = zk_benches::smoke::start_standalone(dir.path());
    let json = dir.path().join("out.json");
    let v = zk_load(addr, &json, &["--workload", "create", "--count", "500"]);
    assert_eq!(v["ops"].as_u64(), Some(500), "{v}");
    assert_eq!(v["errors"].as_u64(), Some(0), "{v}");
}
