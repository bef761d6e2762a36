//! Curator's EnsembleTracker (issue 14): Apache Curator 5.4 (Debian's libcurator-*-java), its
//! ensemble tracker on as by default, connected to a 3-server ensemble, follows the
//! membership in `/zookeeper/config` through two reconfigs (`tests/java/CuratorEnsemble.java`,
//! compiled here with javac): the configuration Curator holds and the connection string it
//! uses change as they do on Apache ZooKeeper 3.8's ensemble, step for step.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::Kind;

const JARS: &[&str] = &[
    "curator-framework.jar",
    "curator-client.jar",
    "zookeeper.jar",
    "zookeeper-jute.jar",
    "guava.jar",
    "slf4j-api.jar",
    "slf4j-nop.jar",
];

fn classpath() -> String {
    JARS.iter()
        .map(|j| {
            let p = format!("/usr/share/java/{j}");
            assert!(
                std::path::Path::new(&p).exists(),
                "{p} is missing: install libcurator-framework-java (see .ci/run)"
            );
            p
        })
        .collect::<Vec<_>>()
        .join(":")
}

/// The probe compiled into `dir`.
fn compile(dir: &std::path::Path) {
    let javac = zk_tests::java().with_file_name("javac");
    let javac = if javac.exists() {
        javac
    } else {
        "javac".into()
    };
    let src = zk_tests::crate_dir()
        .join("java")
        .join("CuratorEnsemble.java");
    let mut cmd = Command::new(javac);
    cmd.arg("-d").arg(dir).arg("-cp").arg(classpath()).arg(src);
    let out = zk_tests::run_with_timeout(&mut cmd, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "javac failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

use zk_tests::reconfig_tool::reconfig;

fn version_of(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("version="))
        .unwrap()
        .to_string()
}

/// What Curator showed after each reconfig, with client ports as server ids and the
/// versions as the reconfig that made them: comparable across implementations.
fn run(kind: Kind, classes: &std::path::Path) -> Vec<String> {
    let name = kind.name();
    let mut spec = Spec::new(3, 0)
        .ticks(500, 10, 5)
        .extra("reconfigEnabled", "true")
        .extra("skipACL", "yes");
    spec.kind = kind;
    let mut ens = Ensemble::new(spec);
    ens.start_all();
    let leader = ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
    let hosts = ens.member(leader).hosts();

    let stop = tempfile::tempdir().unwrap();
    let stop_file = stop.path().join("stop");
    let mut cmd = Command::new(zk_tests::java());
    cmd.arg("-cp")
        .arg(format!("{}:{}", classpath(), classes.display()))
        .arg("CuratorEnsemble")
        .arg(ens.connect_string())
        .arg(&stop_file)
        .arg("240");
    let probe = zk_tests::Background::spawn(&mut cmd, "the Curator probe", |l| {
        serde_json::from_str::<Value>(&l).ok()
    });
    assert!(
        zk_tests::wait_until(Duration::from_secs(60), || probe
            .with_lines(|ls| ls.iter().any(|l| l.get("connected").is_some()))),
        "{name}: Curator never connected"
    );

    let ports: Vec<(String, String)> = ens
        .ids()
        .into_iter()
        .map(|id| (ens.member(id).hosts(), format!("s{id}")))
        .collect();
    let normalize = |l: &Value, versions: &[(String, &str)]| -> String {
        let mut connect = l["connect"].as_str().unwrap_or("").to_string();
        for (addr, s) in &ports {
            connect = connect.replace(addr.as_str(), s);
        }
        let v = l["version"].as_str().unwrap_or("").to_string();
        let v = versions
            .iter()
            .find(|(x, _)| *x == v)
            .map(|(_, n)| n.to_string())
            .unwrap_or(format!("other ({v})"));
        format!("version {v}, voters {}, connect {connect}", l["voters"])
    };

    let mut seen = Vec::new();
    let mut versions: Vec<(String, &str)> = vec![("0".into(), "0")];
    // The same members with their client addresses: Curator learns where to connect.
    let all = format!("{},{},{}", ens.joiner(1), ens.joiner(2), ens.joiner(3));
    let r = reconfig(&hosts, &["--members", &all]);
    assert_eq!(r["ok"], true, "{name}: {r}");
    let v1 = version_of(r["data"].as_str().unwrap());
    versions.push((v1.clone(), "first reconfig"));
    // Then without server 3.
    let wait_for = |v: &str| {
        let ok = zk_tests::wait_until(Duration::from_secs(60), || {
            probe.with_lines(|ls| ls.iter().any(|l| l["version"] == v))
        });
        assert!(
            ok,
            "{name}: Curator never showed version {v}: {:?}",
            probe.with_lines(|l| l.to_vec())
        );
    };
    wait_for(&v1);
    let r = reconfig(&hosts, &["--leaving", "3"]);
    assert_eq!(r["ok"], true, "{name}: {r}");
    let v2 = version_of(r["data"].as_str().unwrap());
    versions.push((v2.clone(), "second reconfig"));
    wait_for(&v2);

    std::fs::write(&stop_file, b"").unwrap();
    let (status, lines) = probe.finish(Duration::from_secs(60));
    assert!(status.success(), "{name}: the Curator probe failed");
    for l in lines.iter().filter(|l| l.get("version").is_some()) {
        seen.push(normalize(l, &versions));
    }
    eprintln!("{name}: {seen:#?}");
    seen
}

#[test]
fn curators_ensemble_tracker_follows_reconfig_as_on_apache() {
    let dir = tempfile::tempdir().unwrap();
    compile(dir.path());
    let apache = run(Kind::Apache, dir.path());
    let ours = run(Kind::Ours, dir.path());
    assert_eq!(ours, apache, "ours, then Apache's");
    // What Curator ended with: servers 1 and 2, and it connects to them only.
    let last = ours.last().unwrap();
    assert!(
        last.starts_with("version second reconfig, voters \"[1, 2]\", connect s1,s2")
            || last.starts_with("version second reconfig, voters \"[1, 2]\", connect s2,s1"),
        "{last}"
    );
    assert!(
        ours.iter()
            .any(|l| l.starts_with("version first reconfig, voters \"[1, 2, 3]\"")),
        "{ours:?}"
    );
}
