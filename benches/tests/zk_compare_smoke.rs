//! CI does not time benchmarks; it checks that `zk-compare` still runs: our server only, a
//! 3-server ensemble and a standalone one (the shared `zk_benches::cluster::Cluster`), one
//! short get workload each through `zk-load`, and a result for each. No timing is asserted.

use std::process::Command;

use zk_benches::smoke::server_binary;

#[test]
fn zk_compare_runs_both_topologies_against_our_server() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = Command::new(env!("CARGO_BIN_EXE_zk-compare"))
        .arg("--dir")
        .arg(&run)
        .arg("--server-bin")
        .arg(server_binary())
        .arg("--load-bin")
        .arg(env!("CARGO_BIN_EXE_zk-load"))
        .args(["--systems", "ours", "--topologies", "ensemble,standalone"])
        .args([
            "--workloads",
            "get",
            "--sessions",
            "2",
            "--outstanding",
            "4",
        ])
        .args(["--keys", "50", "--duration", "1", "--warmup", "0.5"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "zk-compare failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    for topo in ["ensemble", "standalone"] {
        let get = &v["results"][topo]["ours"][0]["get"];
        let ops = get["ops_per_s"].as_f64().unwrap_or(0.0);
        assert!(ops > 0.0, "{topo}: no get throughput in {get}");
        // The generator's own CPU over the measured window (a second of gets at full
        // speed: well over the clock's tick).
        let client = get["client_cpu_us_per_op"].as_f64().unwrap_or(0.0);
        assert!(client > 0.0, "{topo}: no generator CPU in {get}");
        let rss = v["results"][topo]["ours"][0]["rss_bytes"]
            .as_array()
            .unwrap();
        assert_eq!(rss.len(), if topo == "ensemble" { 3 } else { 1 }, "{topo}");
    }
}
