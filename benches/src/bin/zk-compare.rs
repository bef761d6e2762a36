//! `zk-compare`: ours against Apache ZooKeeper 3.8 on this machine, one after the other,
//! with the same load generator (`zk-load`), and a table of the ratios.
//!
//! For each system and topology (a 3-server ensemble on 127.0.0.1, a standalone server) it
//! writes the same `zoo.cfg` (tickTime=2000, initLimit=10, syncLimit=5, forceSync=yes, data
//! under one directory, so on the same disk), starts the servers, waits until `srvr` reports
//! a leader and followers (or standalone), runs each workload with `zk-load` (sessions spread
//! over every server of the connect string), and stops them (SIGKILL, by the pid of the
//! child it started). With `--rounds R` it does all of that R times, the systems taking
//! turns, and reports the median of each figure: this machine is shared and noisy. Only
//! one system runs at a time: an idle JVM right after a load still compiles, collects and
//! writes back its snapshot, which would slow whichever system ran next.
//! Memory per znode and restart time with 1M znodes, for both systems, are the
//! `footprint` binary's (`benches/footprint.sh`).
//!
//! ```text
//! cargo build --release -p zk-server -p zk-benches
//! target/release/zk-compare --dir target/zk-compare --rounds 3 --duration 5 --warmup 2
//! target/release/zk-compare --topologies ensemble --workloads set,get --rounds 1
//! ```
//! The results go to `<dir>/results.json` and the table to stdout (markdown).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use clap::Parser;
use serde_json::{json, Value};
use zk_benches::cluster::Cluster;

#[derive(Parser, Debug)]
#[command(
    name = "zk-compare",
    about = "Ours against Apache ZooKeeper 3.8, same machine, same load"
)]
struct Args {
    /// Where the servers' data, configurations, logs and results go (one disk for all).
    #[arg(long, default_value = "target/zk-compare")]
    dir: PathBuf,
    /// Systems, in the order they run.
    #[arg(long, value_delimiter = ',', default_value = "ours,apache")]
    systems: Vec<String>,
    /// `ensemble` (3 servers) and/or `standalone`.
    #[arg(long, value_delimiter = ',', default_value = "ensemble,standalone")]
    topologies: Vec<String>,
    /// zk-load workloads: create, set, get, mixed (90% reads).
    #[arg(long, value_delimiter = ',', default_value = "create,set,get,mixed")]
    workloads: Vec<String>,
    #[arg(long, default_value_t = 4)]
    sessions: usize,
    #[arg(long, default_value_t = 32)]
    outstanding: usize,
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    #[arg(long, default_value_t = 10_000)]
    keys: usize,
    /// Seconds measured per workload.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before each measurement (the JVM's JIT needs them).
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Times to run everything, the systems taking turns; medians are reported.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Maximum heap of each Apache ZooKeeper JVM.
    #[arg(long, default_value = "2g")]
    java_heap: String,
    /// zk-server binary (default: next to this program).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// zk-load binary (default: next to this program).
    #[arg(long)]
    load_bin: Option<PathBuf>,
    /// The load generator: `zk-load` (ours: a window of requests per system call) or
    /// `cload` (Apache's C client, one request per system call: `benches/cload.sh` builds it).
    #[arg(long, default_value = "zk-load")]
    generator: String,
    /// cload binary (default: next to this program).
    #[arg(long)]
    cload_bin: Option<PathBuf>,
    /// Which servers of an ensemble the sessions connect to: `all` (spread over every
    /// server), `leader`, or `follower` (one follower).
    #[arg(long, default_value = "all")]
    target: String,
    /// An extra `key=value` line for every server's zoo.cfg, both systems
    /// (for example `snapCount=1000000`); may be given more than once.
    #[arg(long = "cfg")]
    extra_cfg: Vec<String>,
}

fn sibling(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent().expect("exe dir").join(name)
}

fn rss_bytes(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// CPU time (user + system, every thread) of a process so far, in seconds, from
/// `/proc/<pid>/stat` (fields 14 and 15, in clock ticks).
fn cpu_seconds(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces: the fields are counted after its closing paren.
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime 15.
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (tick(11) + tick(12)) as f64 / clock_ticks_per_second()
}

fn clock_ticks_per_second() -> f64 {
    static TCK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn cpu_sum(pids: &[u32]) -> f64 {
    pids.iter().map(|p| cpu_seconds(*p)).sum()
}

/// Context switches (voluntary + involuntary) of every thread of a process so far, from
/// `/proc/<pid>/task/*/status`: a thread parking and being woken costs one each way.
/// Threads that ended before the reading are not counted.
fn context_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    let mut n = 0;
    for t in tasks.flatten() {
        let s = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        for l in s.lines() {
            if let Some(v) = l
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| l.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                n += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    n
}

fn cs_sum(pids: &[u32]) -> u64 {
    pids.iter().map(|p| context_switches(*p)).sum()
}

/// Runs the load generator; returns its JSON result, with `server_cpu_s` (the servers'
/// CPU time, summed, over the generator's measured window: it prints "measuring" and
/// "measured" on stderr) and `server_cpu_us_per_op` added, the servers' context
/// switches over the same window (`server_cs_per_op`), and the generator's own CPU per
/// operation over it (`client_cpu_us_per_op`: on a machine the client shares with the
/// servers, what bounds the client).
fn load(
    args: &Args,
    load_bin: &Path,
    hosts: &str,
    workload: &str,
    out: &Path,
    extra: &[String],
    pids: &[u32],
) -> Result<Value, String> {
    let mut cmd = Command::new(load_bin);
    cmd.arg("--hosts")
        .arg(hosts)
        .arg("--sessions")
        .arg(args.sessions.to_string())
        .arg("--outstanding")
        .arg(args.outstanding.to_string())
        .arg("--value-size")
        .arg(args.value_size.to_string())
        .arg("--keys")
        .arg(args.keys.to_string())
        .arg("--json")
        .arg(out)
        .args(extra);
    if workload == "mixed" {
        cmd.args(["--workload", "mixed", "--read-ratio", "0.9"]);
    } else {
        cmd.args(["--workload", workload]);
    }
    eprintln!("+ {cmd:?}");
    let _ = std::fs::remove_file(out);
    // Its report goes to stderr with the progress lines; stdout is the table's.
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", load_bin.display()))?;
    let mut cpu = (None, None);
    let mut cs = (0, 0);
    let mut client_cpu = (0.0, 0.0);
    let err = child.stderr.take().expect("piped stderr");
    for line in std::io::BufRead::lines(std::io::BufReader::new(err)) {
        let Ok(line) = line else { break };
        if line.ends_with(": measuring") {
            cpu.0 = Some(cpu_sum(pids));
            cs.0 = cs_sum(pids);
            client_cpu.0 = cpu_seconds(child.id());
        } else if line.ends_with(": measured") {
            cpu.1 = Some(cpu_sum(pids));
            cs.1 = cs_sum(pids);
            client_cpu.1 = cpu_seconds(child.id());
        }
        eprintln!("{line}");
    }
    let st = child.wait().map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(out).map_err(|e| format!("{workload} ({st}): {e}"))?;
    let mut v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    if let (Some(a), Some(b)) = cpu {
        let ops = v["ops"].as_f64().unwrap_or(0.0);
        v["server_cpu_s"] = json!(b - a);
        if ops > 0.0 {
            v["server_cpu_us_per_op"] = json!((b - a) * 1e6 / ops);
            v["server_cs_per_op"] = json!(cs.1.saturating_sub(cs.0) as f64 / ops);
            v["client_cpu_us_per_op"] = json!((client_cpu.1 - client_cpu.0) * 1e6 / ops);
        }
    }
    Ok(v)
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs one system in one topology through every workload; results by workload.
fn run_one(
    args: &Args,
    dir: &Path,
    system: &str,
    topo: &str,
    round: usize,
    server_bin: &Path,
    load_bin: &Path,
) -> serde_json::Map<String, Value> {
    let n = if topo == "ensemble" { 3 } else { 1 };
    let key = format!("{system}/{topo} round {round}");
    eprintln!("=== {key}");
    let cdir = dir.join(format!("{system}-{topo}"));
    let mut c = Cluster::new(
        system,
        &cdir,
        n,
        server_bin,
        &args.java_heap,
        &args.extra_cfg,
    );
    c.start_all();
    let mut per = serde_json::Map::new();
    if let Err(e) = c.wait_serving(Duration::from_secs(120)) {
        eprintln!("{key}: {e}; skipped (logs under {})", cdir.display());
        return per;
    }
    let hosts = c.hosts_for(&args.target);
    let pids: Vec<u32> = (0..n).filter_map(|i| c.pid(i)).collect();
    for w in &args.workloads {
        let out = cdir.join(format!("{w}.json"));
        let extra = vec![
            "--duration".to_string(),
            args.duration.to_string(),
            "--warmup".to_string(),
            args.warmup.to_string(),
        ];
        match load(args, load_bin, &hosts, w, &out, &extra, &pids) {
            Ok(v) => {
                eprintln!(
                    "{key} {w}: {:.0} ops/s, p99 {:.2} ms, servers' CPU {:.1} us/op, {:.2} context switches/op, generator's CPU {:.1} us/op, {} errors",
                    get(&v, &["ops_per_s"]),
                    get(&v, &["latency_ms", "p99"]),
                    get(&v, &["server_cpu_us_per_op"]),
                    get(&v, &["server_cs_per_op"]),
                    get(&v, &["client_cpu_us_per_op"]),
                    v["errors"]
                );
                per.insert(w.clone(), v);
            }
            Err(e) => eprintln!("{key} {w}: {e}"),
        }
    }
    let rss: Vec<u64> = (0..n).filter_map(|i| c.pid(i)).map(rss_bytes).collect();
    per.insert("rss_bytes".into(), json!(rss));
    c.kill_all();
    per
}

fn main() {
    let args = Args::parse();
    let server_bin = args
        .server_bin
        .clone()
        .unwrap_or_else(|| sibling("zk-server"));
    let load_bin = if args.generator == "cload" {
        args.cload_bin.clone().unwrap_or_else(|| sibling("cload"))
    } else {
        args.load_bin.clone().unwrap_or_else(|| sibling("zk-load"))
    };
    for b in [&server_bin, &load_bin] {
        assert!(
            b.exists(),
            "{} is missing: cargo build --release -p zk-server -p zk-benches (cload: benches/cload.sh)",
            b.display()
        );
    }
    std::fs::create_dir_all(&args.dir).expect("create --dir");
    let dir = std::fs::canonicalize(&args.dir).unwrap();
    // results[topology][system] = one map of workload results per round
    let mut results: BTreeMap<String, BTreeMap<String, Vec<Value>>> = BTreeMap::new();
    for round in 1..=args.rounds.max(1) {
        for topo in &args.topologies {
            // Alternate which system goes first, so neither always gets the quieter slot.
            let mut systems = args.systems.clone();
            if round % 2 == 0 {
                systems.reverse();
            }
            for system in &systems {
                let per = run_one(&args, &dir, system, topo, round, &server_bin, &load_bin);
                results
                    .entry(topo.clone())
                    .or_default()
                    .entry(system.clone())
                    .or_default()
                    .push(Value::Object(per));
            }
        }
    }
    let all = json!({
        "args": format!("{args:?}"),
        "results": results,
    });
    let out = dir.join("results.json");
    std::fs::write(&out, serde_json::to_string_pretty(&all).unwrap() + "\n").unwrap();
    eprintln!("results in {}", out.display());
    print_table(&args, &results);
}

fn get(v: &Value, path: &[&str]) -> f64 {
    let mut v = v;
    for p in path {
        v = &v[*p];
    }
    v.as_f64().unwrap_or(f64::NAN)
}

fn print_table(args: &Args, results: &BTreeMap<String, BTreeMap<String, Vec<Value>>>) {
    let med = |topo: &str, system: &str, w: &str, path: &[&str]| -> f64 {
        let runs = results.get(topo).and_then(|t| t.get(system));
        median(
            runs.map(|r| r.iter().map(|v| get(&v[w], path)).collect())
                .unwrap_or_default(),
        )
    };
    let errors = |topo: &str, system: &str, w: &str| -> u64 {
        results
            .get(topo)
            .and_then(|t| t.get(system))
            .map(|r| r.iter().map(|v| v[w]["errors"].as_u64().unwrap_or(0)).sum())
            .unwrap_or(0)
    };
    println!(
        "| topology | workload | ours ops/s | apache ops/s | throughput ratio | ours p99 ms | apache p99 ms | p99 ratio | servers' CPU us/op ours / apache | errors ours/apache |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for topo in &args.topologies {
        for w in &args.workloads {
            let (ot, at) = (
                med(topo, "ours", w, &["ops_per_s"]),
                med(topo, "apache", w, &["ops_per_s"]),
            );
            let (op, ap) = (
                med(topo, "ours", w, &["latency_ms", "p99"]),
                med(topo, "apache", w, &["latency_ms", "p99"]),
            );
            let (oc, ac) = (
                med(topo, "ours", w, &["server_cpu_us_per_op"]),
                med(topo, "apache", w, &["server_cpu_us_per_op"]),
            );
            let name = if w == "mixed" { "mixed 90/10" } else { w };
            println!(
                "| {topo} | {name} | {ot:.0} | {at:.0} | {:.1}x | {op:.1} | {ap:.1} | {:.2} | {oc:.1} / {ac:.1} ({:.1}x) | {}/{} |",
                ratio(ot, at),
                ratio(op, ap),
                ratio(ac, oc),
                errors(topo, "ours", w),
                errors(topo, "apache", w)
            );
        }
    }
    if args.rounds > 1 {
        println!();
        println!("Throughput ratio (ours/apache) per round:");
        for topo in &args.topologies {
            for w in &args.workloads {
                let per: Vec<String> = (0..args.rounds)
                    .map(|r| {
                        let one = |system: &str| {
                            results
                                .get(topo)
                                .and_then(|t| t.get(system))
                                .and_then(|v| v.get(r))
                                .map(|v| get(&v[w.as_str()], &["ops_per_s"]))
                                .unwrap_or(f64::NAN)
                        };
                        format!("{:.1}x", ratio(one("ours"), one("apache")))
                    })
                    .collect();
                println!("  {topo} {w}: {}", per.join(" "));
            }
        }
    }
}
