//! CI does not time benchmarks; it checks that `cload` (the load generator on Apache's C
//! client, `benches/cload/cload.c`) still builds with gcc against Debian's
//! libzookeeper-mt-dev and runs: a few hundred requests of each workload against a
//! standalone server started in this process, all answered without errors, reported in
//! its one line of JSON.

use std::path::Path;
use std::process::Command;

fn cload(bin: &Path, addr: std::net::SocketAddr, args: &[&str]) -> serde_json::Value {
    let out = Command::new(bin)
        .arg("--hosts")
        .arg(addr.to_string())
        .args(["--keys", "50", "--sessions", "2", "--outstanding", "8"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cload {args:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stderr.contains("cload: measuring"), "{stderr}");
    assert!(stderr.contains("cload: measured"), "{stderr}");
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn cload_builds_and_runs_every_workload_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bin = zk_benches::smoke::build_c("cload/cload.c", dir.path(), &["zookeeper_mt", "pthread"]);
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let (_rt, addr) = zk_benches::smoke::start_standalone(&data);
    for w in ["set", "get", "mixed"] {
        let v = cload(&bin, addr, &["--workload", w, "--count", "300"]);
        assert_eq!(v["generator"], "cload", "{v}");
        assert_eq!(v["workload"], w, "{v}");
        assert_eq!(v["ops"].as_u64(), Some(300), "{w}: {v}");
        assert_eq!(v["errors"].as_u64(), Some(0), "{w}: {v}");
        assert!(v["latency_ms"]["p99"].as_f64().unwrap() > 0.0, "{w}: {v}");
        let (reads, writes) = (v["reads"].as_u64().unwrap(), v["writes"].as_u64().unwrap());
        match w {
            "get" => assert_eq!((reads, writes), (300, 0)),
            "set" => assert_eq!((reads, writes), (0, 300)),
            _ => assert!(reads > writes && writes > 0, "{v}"),
        }
    }
    // A short timed run reports a rate over its window.
    let v = cload(&bin, addr, &["--workload", "get", "--duration", "0.5"]);
    assert!(v["ops"].as_u64().unwrap() > 0, "{v}");
    assert!(v["ops_per_s"].as_f64().unwrap() > 0.0, "{v}");
}
