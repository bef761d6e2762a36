//! Apache ZooKeeper's own Java client, `zkCli.sh`, runs the command script
//! tests/golden/zkcli_script.txt (piped, one JVM per server) against Apache ZooKeeper 3.8 and
//! against our server; the outputs must match after normalising ports, times, zxids and
//! session ids. A one-shot `zkCli.sh -server .. ls /` checks the non-interactive mode.
//! The reference's normalised output is written to target for inspection; the comparison is
//! always live, so a different Debian patch release of the reference cannot break it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use zk_tests::{
    apache_classpath, crate_dir, java, run_with_timeout, start_pair, Options, TestServer,
};

const ZKCLI: &str = "/usr/share/zookeeper/bin/zkCli.sh";

/// zkCli.sh when the Debian package is there, else the same main class by hand.
fn zkcli(server: &TestServer, args: &[&str]) -> Command {
    let mut cmd = if Path::new(ZKCLI).exists() {
        Command::new(ZKCLI)
    } else {
        let mut c = Command::new(java());
        c.arg("-cp")
            .arg(apache_classpath(false))
            .arg("org.apache.zookeeper.ZooKeeperMain");
        c
    };
    cmd.arg("-server").arg(server.hosts()).args(args);
    // keep the client's JVM small and quick to start
    cmd.env(
        "CLIENT_JVMFLAGS",
        "-Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    )
    .env("ZOO_LOG_DIR", server.dir.path());
    cmd
}

/// Runs the command script through stdin; stdout and stderr share one file so that error
/// messages stay in order with the output.
fn run_script(server: &TestServer, script: &Path) -> String {
    let out_path: PathBuf = server.dir.path().join("zkcli.out");
    let out = File::create(&out_path).unwrap();
    let mut cmd = zkcli(server, &[]);
    cmd.stdin(File::open(script).unwrap())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    let mut child = cmd.spawn().expect("run zkCli.sh");
    let ok = zk_tests::wait_until(Duration::from_secs(120), || {
        child.try_wait().unwrap().is_some()
    });
    if !ok {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "zkCli.sh against the {} server did not finish",
            server.kind.name()
        );
    }
    std::fs::read_to_string(&out_path).unwrap()
}

/// Replaces what legitimately differs between two fresh servers.
fn normalise(text: &str, port: u16) -> Vec<String> {
    let mut base: Option<i64> = None;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("SLF4J:") || line.contains("log4j") {
            continue;
        }
        let line = line.replace(&format!("127.0.0.1:{port}"), "127.0.0.1:PORT");
        let line = match line.split_once(" = ") {
            Some((k @ ("ctime" | "mtime"), _)) => format!("{k} = <time>"),
            Some((k @ ("cZxid" | "mZxid" | "pZxid"), v)) => {
                let z = i64::from_str_radix(v.trim_start_matches("0x"), 16).unwrap_or(-1);
                if z <= 0 {
                    format!("{k} = {v}")
                } else {
                    let b = *base.get_or_insert(z);
                    format!("{k} = base{:+}", z - b)
                }
            }
            Some(("ephemeralOwner", v)) if v != "0x0" => "ephemeralOwner = <session>".into(),
            _ => line,
        };
        out.push(line);
    }
    out
}

#[test]
fn zkcli_output_matches_apache() {
    let (apache, ours) = start_pair(&Options::default());
    let script = crate_dir().join("golden").join("zkcli_script.txt");
    let (a, o) = std::thread::scope(|s| {
        let a = s.spawn(|| run_script(&apache, &script));
        (a.join().unwrap(), run_script(&ours, &script))
    });
    let (a, o) = (normalise(&a, apache.port), normalise(&o, ours.port));
    assert!(
        a.iter().any(|l| l == "Created /g"),
        "the reference run did not work:\n{}",
        a.join("\n")
    );
    let (a1, o1) = std::thread::scope(|s| {
        let t = s
            .spawn(|| run_with_timeout(&mut zkcli(&apache, &["ls", "/"]), Duration::from_secs(60)));
        let o = run_with_timeout(&mut zkcli(&ours, &["ls", "/"]), Duration::from_secs(60));
        (t.join().unwrap(), o)
    });
    // zkCli.sh prints the SyncConnected event from its event thread, so its line may land
    // before or after `ls`'s answer, or not at all when `ls` has answered and the JVM exits
    // first (seen with Apache's server in a CI run): in either run it says nothing of the
    // server, so only the other lines are compared, in their order.
    let without_events = |lines: Vec<String>| -> Vec<String> {
        lines
            .into_iter()
            .filter(|l| !l.is_empty() && l != "WATCHER::" && !l.starts_with("WatchedEvent "))
            .collect()
    };
    let a1 = without_events(normalise(&String::from_utf8_lossy(&a1.stdout), apache.port));
    let o1 = without_events(normalise(&String::from_utf8_lossy(&o1.stdout), ours.port));

    if let Some(dir) = option_env!("CARGO_TARGET_TMPDIR") {
        let _ = std::fs::write(Path::new(dir).join("zkcli-apache.txt"), a.join("\n"));
        let _ = std::fs::write(Path::new(dir).join("zkcli-ours.txt"), o.join("\n"));
    }
    let mut diffs = Vec::new();
    for (what, a, o) in [("script", &a, &o), ("ls /", &a1, &o1)] {
        for i in 0..a.len().max(o.len()) {
            let (la, lo) = (a.get(i), o.get(i));
            if la != lo {
                diffs.push(format!(
                    "{what} line {}: apache={:?} ours={:?}",
                    i + 1,
                    la.map(String::as_str).unwrap_or("<none>"),
                    lo.map(String::as_str).unwrap_or("<none>")
                ));
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "zkCli.sh output differs from Apache ZooKeeper in {} line(s):\n{}",
        diffs.len(),
        diffs
            .iter()
            .take(60)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
