//! Local sessions (`localSessionsEnabled`, `localSessionsUpgradingEnabled`; issue 14) on
//! 3-server ensembles of ours and of Apache ZooKeeper 3.8, through kazoo
//! (`tests/py/local_sessions.py`): a session made on a follower and one made on the leader read
//! and write without a createSession transaction, are known only where they were made (a
//! reconnect through another server expires), are counted by mntr's `zk_local_sessions`, and
//! become global when they create an ephemeral (or get EphemeralOnLocalSession with upgrading
//! disabled). Each step's outcome is compared with Apache's, and asserted. With
//! `readonlymode.enabled` as well, a server cut off from its quorum serves read-only clients
//! (`tests/py/local_read_only.py`), and the session they keep once it has a quorum again is
//! compared with Apache's.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::Kind;

fn script(args: &[&str]) -> Vec<Value> {
    let mut cmd = Command::new(zk_tests::python());
    cmd.arg(zk_tests::crate_dir().join("py").join("local_sessions.py"))
        .args(args);
    let out = zk_tests::run_with_timeout(&mut cmd, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "local_sessions.py {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn step<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["step"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {lines:?}"))
}

/// A 3-server ensemble of `kind` with local sessions; `upgrading`: localSessionsUpgradingEnabled.
fn ensemble(kind: Kind, upgrading: bool) -> (Ensemble, u64, u64, u64) {
    let mut spec = Spec::new(3, 0)
        .ticks(200, 10, 5)
        .extra("localSessionsEnabled", "true")
        .extra(
            "localSessionsUpgradingEnabled",
            if upgrading { "true" } else { "false" },
        );
    spec.kind = kind;
    let mut ens = Ensemble::new(spec);
    ens.start_all();
    let leader = ens.wait_serving(&ens.ids(), Duration::from_secs(60));
    let f: Vec<u64> = ens.ids().into_iter().filter(|i| *i != leader).collect();
    (ens, leader, f[0], f[1])
}

/// The scenario through server `on` (checked against `other`), with the session counts
/// made relative to those before it began.
fn scenario(ens: &Ensemble, on: u64, other: u64, prefix: &str) -> Vec<Value> {
    let server = ens.member(on).hosts();
    let other = ens.member(other).hosts();
    script(&[
        "run", "--server", &server, "--other", &other, "--prefix", prefix,
    ])
}

/// What each step of `run` saw, with the counts as deltas from before the session.
fn outcome(lines: &[Value]) -> Vec<Value> {
    let base = &step(lines, "before")["sessions"];
    let (l0, g0) = (
        base["local"].as_i64().unwrap(),
        base["global"].as_i64().unwrap(),
    );
    lines
        .iter()
        .filter(|l| l["step"] != "before")
        .map(|l| {
            let mut l = l.clone();
            if let Some(s) = l.get_mut("sessions") {
                *s = serde_json::json!({
                    "local": s["local"].as_i64().unwrap() - l0,
                    "global": s["global"].as_i64().unwrap() - g0,
                });
            }
            l
        })
        .collect()
}

/// What one kind of ensemble did: on a follower, on the leader, an upgraded session moving.
type Run = (Kind, Vec<Value>, Vec<Value>, Vec<Value>);

fn both_kinds(upgrading: bool) -> Vec<Run> {
    let mut out = Vec::new();
    for kind in [Kind::Apache, Kind::Ours] {
        let (ens, leader, f1, f2) = ensemble(kind, upgrading);
        let on_follower = outcome(&scenario(&ens, f1, f2, "/lf"));
        let on_leader = outcome(&scenario(&ens, leader, f1, "/ll"));
        // An upgraded session moves to another server as any global one.
        let moved = if upgrading {
            script(&[
                "upgraded",
                "--server",
                &ens.member(f2).hosts(),
                "--other",
                &ens.member(leader).hosts(),
                "--prefix",
                "/lu",
            ])
        } else {
            Vec::new()
        };
        eprintln!("{kind:?} upgrading={upgrading}\n follower: {on_follower:?}\n leader: {on_leader:?}\n moved: {moved:?}");
        out.push((kind, on_follower, on_leader, moved));
    }
    out
}

#[test]
fn local_sessions_upgrade_on_an_ephemeral_as_apache_s() {
    let runs = both_kinds(true);
    let (_, af, al, am) = &runs[0];
    let (_, of, ol, om) = &runs[1];
    assert_eq!(of, af, "on a follower: ours, then Apache's");
    assert_eq!(ol, al, "on the leader: ours, then Apache's");
    assert_eq!(om, am, "an upgraded session moving: ours, then Apache's");
    for lines in [of, ol] {
        let connected = step(lines, "connected");
        assert_eq!(connected["zxid_unchanged"], true, "{lines:?}");
        assert_eq!(
            connected["sessions"],
            serde_json::json!({"local": 1, "global": 0})
        );
        let w = step(lines, "writes");
        assert_eq!(w["data"], "v2");
        assert_eq!(w["multi"], serde_json::json!(["ok", "ok"]));
        assert_eq!(step(lines, "replicated")["data"], "v3");
        assert_eq!(step(lines, "resume_elsewhere_local")["outcome"], "expired");
        assert_eq!(step(lines, "after_resume")["alive"], true);
        let m = step(lines, "multi_ephemeral");
        assert_eq!(m["outcome"], serde_json::json!(["ok", "ok"]));
        assert_eq!(m["created"], true);
        assert_eq!(m["sessions"], serde_json::json!({"local": 0, "global": 1}));
        let e = step(lines, "ephemeral");
        assert_eq!(e["outcome"], "ok");
        assert_eq!(e["seen_elsewhere"], "this session");
        assert_eq!(e["sessions"], serde_json::json!({"local": 0, "global": 1}));
        assert_eq!(step(lines, "ephemeral_again")["outcome"], "ok");
        assert_eq!(step(lines, "closed")["zxid_unchanged"], false);
        assert_eq!(step(lines, "after_close")["ephemeral"], false);
    }
    assert_eq!(step(om, "upgraded_resume_elsewhere")["outcome"], "resumed");
}

#[test]
fn upgrading_disabled_refuses_ephemerals_on_local_sessions_as_apache_does() {
    let runs = both_kinds(false);
    let (_, af, al, _) = &runs[0];
    let (_, of, ol, _) = &runs[1];
    assert_eq!(of, af, "on a follower: ours, then Apache's");
    assert_eq!(ol, al, "on the leader: ours, then Apache's");
    // A multi is answered with its results, as the leader's prep decides them: a follower's
    // local session is unknown there (SessionExpired), the leader's own is local
    // (EphemeralOnLocalSession); nothing of it is created.
    for (lines, err) in [
        (of, "SessionExpiredError"),
        (ol, "EphemeralOnLocalSessionError"),
    ] {
        let m = step(lines, "multi_ephemeral");
        assert_eq!(
            m["outcome"],
            serde_json::json!(["RolledBackError", err]),
            "{m:?}"
        );
        assert_eq!(
            (m["created"].clone(), m["persistent"].clone()),
            (false.into(), false.into())
        );
    }
    for lines in [of, ol] {
        let e = step(lines, "ephemeral");
        assert!(
            e["outcome"].as_str().unwrap().contains("-120")
                || e["outcome"].as_str().unwrap().contains("EphemeralOnLocal"),
            "{e:?}"
        );
        assert_eq!(e["sessions"], serde_json::json!({"local": 1, "global": 0}));
        assert_eq!(step(lines, "closed")["zxid_unchanged"], true);
    }
}

/// The same on an observer: three voters and observer 4, the session made on the
/// observer. Apache 3.8's observer does not upgrade (localSessionsUpgradingEnabled left at
/// its default, true): its ephemerals get EphemeralOnLocalSession, and a multi holding one
/// SessionExpired from the leader.
#[test]
fn local_sessions_on_an_observer_as_apache_s() {
    let mut seen = Vec::new();
    for kind in [Kind::Apache, Kind::Ours] {
        let mut spec = Spec::new(3, 1)
            .ticks(200, 10, 5)
            .extra("localSessionsEnabled", "true");
        spec.kind = kind;
        let mut ens = Ensemble::new(spec);
        ens.start_all();
        let leader = ens.wait_serving(&ens.ids(), Duration::from_secs(60));
        let on_observer = outcome(&scenario(&ens, 4, leader, "/lo"));
        eprintln!("{kind:?} observer: {on_observer:?}");
        seen.push(on_observer);
    }
    assert_eq!(seen[1], seen[0], "on an observer: ours, then Apache's");
    let lines = &seen[1];
    assert_eq!(
        step(lines, "connected")["sessions"],
        serde_json::json!({"local": 1, "global": 0})
    );
    assert_eq!(step(lines, "resume_elsewhere_local")["outcome"], "expired");
    let e = step(lines, "ephemeral");
    assert_eq!(e["outcome"], "EphemeralOnLocalSessionError(-120)");
    assert_eq!(e["sessions"], serde_json::json!({"local": 1, "global": 0}));
    let m = step(lines, "multi_ephemeral");
    assert_eq!(
        m["outcome"],
        serde_json::json!(["RolledBackError", "SessionExpiredError"])
    );
}

/// localSessionsEnabled together with readonlymode.enabled: server 1 alone (its peers
/// killed) goes read-only; a client that did not ask for read-only gets no session; a
/// read-only kazoo session reads, and its writes, ephemerals and setData are refused
/// (NotReadOnlyCall); when the peers come back the same client writes again. Each step as
/// Apache 3.8 answers it.
fn local_read_only(kind: Kind) -> Vec<Value> {
    let mut spec = Spec::new(3, 0)
        .ticks(200, 10, 5)
        .extra("localSessionsEnabled", "true")
        // A Java system property for Apache; ours reads it from SERVER_JVMFLAGS alike.
        .java_prop("readonlymode.enabled", "true");
    spec.kind = kind;
    let mut ens = Ensemble::new(spec);
    ens.start_all();
    ens.wait_serving(&ens.ids(), Duration::from_secs(60));
    let server = ens.member(1).hosts();
    let seeded = run_local_ro(&["seed", "--server", &server, "--path", "/ro"]);
    assert_eq!(seeded[0]["step"], "seeded");
    ens.kill(2);
    ens.kill(3);
    assert!(
        zk_tests::wait_until(Duration::from_secs(30), || ens.four(1, "isro").as_deref()
            == Some("ro")),
        "{kind:?}: server 1 alone never went read-only\n{}",
        ens.logs(&[1])
    );
    let healed = ens.dir().join("healed");
    let mut child = Command::new(zk_tests::python())
        .arg(zk_tests::crate_dir().join("py").join("local_read_only.py"))
        .args([
            "partitioned",
            "--server",
            &server,
            "--path",
            "/ro",
            "--healed",
        ])
        .arg(&healed)
        .args(["--seconds", "90"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines: Vec<Value> = Vec::new();
    let mut healed_done = false;
    let end = std::time::Instant::now() + Duration::from_secs(150);
    while std::time::Instant::now() < end {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(l) => lines.push(serde_json::from_str(&l).expect("a JSON line")),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if !healed_done && lines.iter().any(|l| l["step"] == "ro_session") {
            ens.start(2);
            ens.start(3);
            ens.wait_serving(&ens.ids(), Duration::from_secs(60));
            std::fs::write(&healed, b"").unwrap();
            healed_done = true;
        }
    }
    if child.try_wait().ok().flatten().is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("the script ends");
    let _ = reader.join();
    assert!(
        lines.iter().any(|l| l["step"] == "after_quorum"),
        "{kind:?}: {lines:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{kind:?} local sessions + read-only: {lines:?}");
    lines
}

fn run_local_ro(args: &[&str]) -> Vec<Value> {
    let mut cmd = Command::new(zk_tests::python());
    cmd.arg(zk_tests::crate_dir().join("py").join("local_read_only.py"))
        .args(args);
    let out = zk_tests::run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "local_read_only.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn local_sessions_with_read_only_mode_as_apache_s() {
    let apache = local_read_only(Kind::Apache);
    let ours = local_read_only(Kind::Ours);
    assert_eq!(ours, apache);
    assert_eq!(step(&ours, "isro")["isro"], "ro");
    assert_ne!(step(&ours, "rw_client")["outcome"], "ok");
    let ro = step(&ours, "ro_session");
    assert_eq!(ro["data"], "x");
    for op in ["write", "ephemeral", "set"] {
        assert_eq!(ro[op], "NotReadOnlyCallError", "{op}: {ro:?}");
    }
    // The read-only session does not survive: the client gets a new one once the server
    // has its quorum again (Apache's read-only server's sessions are its own).
    let after = step(&ours, "after_quorum");
    assert_eq!(after["write"], "ok");
    assert_eq!(after["same_session"], false);
}
