//! Failover of a three-server ensemble of real `zk-server` processes, with kazoo writing
//! throughout: kill -9 of the leader, a new leader serving writes, no acknowledged write lost,
//! the old leader rejoining as a follower (DIFF or TRUNC), and a wiped follower rejoining by SNAP.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::wait_until;

fn python() -> std::ffi::OsString {
    std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into())
}

fn script() -> std::path::PathBuf {
    zk_tests::crate_dir().join("py").join("ensemble.py")
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The kazoo writer in the background; its JSON lines collected as they come.
struct Writer {
    child: Child,
    lines: Arc<Mutex<Vec<serde_json::Value>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(hosts: &str, seconds: f64, prefix: &str) -> Writer {
        let mut child = Command::new(python())
            .arg(script())
            .args(["writer", "--hosts", hosts, "--prefix", prefix])
            .args(["--seconds", &seconds.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the kazoo writer");
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l2 = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str(&line) {
                    l2.lock().unwrap().push(v);
                }
            }
        });
        Writer {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// `(k, started, acknowledged)` of every acknowledged write.
    fn acks(&self) -> Vec<(u64, f64, f64)> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|v| Some((v["ack"].as_u64()?, v["t0"].as_f64()?, v["t"].as_f64()?)))
            .collect()
    }

    /// Waits for the writer to finish (bounded) and returns every line.
    fn finish(mut self, timeout: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.child.try_wait().unwrap().is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the kazoo writer did not finish within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            self.child.wait().unwrap().success(),
            "the kazoo writer failed"
        );
        self.reader.take().unwrap().join().unwrap();
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Children of `prefix` read through server `hosts` alone after a sync.
fn children(hosts: &str, prefix: &str) -> Vec<String> {
    let mut cmd = Command::new(python());
    cmd.arg(script())
        .args(["read", "--hosts", hosts, "--prefix", prefix]);
    let out = zk_tests::run_with_timeout(&mut cmd, Duration::from_secs(60));
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

fn assert_all_present(ens: &Ensemble, id: u64, prefix: &str, acked: &[u64]) {
    let have = children(&ens.member(id).hosts(), prefix);
    let missing: Vec<&u64> = acked
        .iter()
        .filter(|k| !have.contains(&format!("n{k}")))
        .collect();
    assert!(
        missing.is_empty(),
        "server {id} lacks acknowledged writes {missing:?} of {prefix}"
    );
}

#[test]
fn leader_killed_under_writes_then_rejoins_and_wiped_follower_resyncs() {
    let mut ens = Ensemble::new(Spec::new(3, 0));
    ens.start_all();
    let old_leader = ens.wait_serving(&[1, 2, 3], Duration::from_secs(30));
    let cs = ens.connect_string();

    let writer = Writer::start(&cs, 10.0, "/fo");
    assert!(
        wait_until(Duration::from_secs(30), || writer.acks().len() >= 50),
        "the writer got no acknowledgements before the kill"
    );

    let kill_t = now_secs();
    let kill_at = Instant::now();
    ens.kill(old_leader);
    let survivors: Vec<u64> = ens.ids().into_iter().filter(|i| *i != old_leader).collect();
    let new_leader = ens.wait_serving(&survivors, Duration::from_secs(20));
    let elected = kill_at.elapsed();
    assert_ne!(new_leader, old_leader);

    // The first write started after the kill and acknowledged.
    assert!(
        wait_until(Duration::from_secs(20), || writer
            .acks()
            .iter()
            .any(|(_, t0, _)| *t0 > kill_t)),
        "no write started after the leader died was acknowledged"
    );
    let first_write = writer
        .acks()
        .iter()
        .filter(|(_, t0, _)| *t0 > kill_t)
        .map(|(_, _, t)| t - kill_t)
        .fold(f64::MAX, f64::min);
    println!(
        "leader {old_leader} killed: server {new_leader} leads after {:.0} ms; first write acknowledged {:.0} ms after the kill",
        elected.as_secs_f64() * 1000.0,
        first_write * 1000.0
    );
    assert!(
        elected < Duration::from_secs(2),
        "a new leader took {elected:?} (more than 2 s)"
    );
    assert!(
        first_write < 2.0,
        "writes resumed {first_write:.3} s after the kill (more than 2 s)"
    );

    let lines = writer.finish(Duration::from_secs(60));
    let acked: Vec<u64> = lines.iter().filter_map(|v| v["ack"].as_u64()).collect();
    assert!(acked.len() > 50, "{} acknowledged writes", acked.len());
    for id in &survivors {
        assert_all_present(&ens, *id, "/fo", &acked);
    }

    // The old leader comes back as a follower, synchronised by DIFF or TRUNC.
    ens.start(old_leader);
    ens.wait_mode(old_leader, "follower", Duration::from_secs(30));
    let log = ens.log(old_leader);
    assert!(
        log.contains("by DIFF") || log.contains("by TRUNC"),
        "the old leader did not rejoin by DIFF or TRUNC:\n{}",
        ens.logs(&[old_leader])
    );
    assert!(!log.contains("by SNAP"), "the old leader needed a SNAP");
    assert_all_present(&ens, old_leader, "/fo", &acked);
    assert_eq!(ens.mode(new_leader).as_deref(), Some("leader"));

    // A follower whose data directory is wiped comes back by SNAP with everything.
    let follower = survivors.into_iter().find(|i| *i != new_leader).unwrap();
    ens.kill(follower);
    ens.wipe(follower);
    ens.start(follower);
    ens.wait_mode(follower, "follower", Duration::from_secs(30));
    assert!(
        ens.log(follower).contains("by SNAP"),
        "the wiped follower did not rejoin by SNAP:\n{}",
        ens.logs(&[follower])
    );
    assert_all_present(&ens, follower, "/fo", &acked);
}
