//! zoo.cfg as ZooKeeper reads it, against Apache ZooKeeper 3.8's ZooKeeperServerMain and our
//! binary: files that must be refused make both exit with code 2 (ZooKeeper's
//! INVALID_INVOCATION), ours naming the file, line and key; `-1` session timeouts mean the
//! defaults; clientPortAddress may be a host name.

mod bare;

use std::time::Duration;

use zk_tests::raw::{Handshake, RawClient};
use zk_tests::{four_letter_word, run_with_timeout, Kind};

/// Runs a server of `kind` on `text` as zoo.cfg until it exits; its exit code and output.
fn refused(kind: Kind, text: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(&cfg, text).unwrap();
    let out = run_with_timeout(
        &mut bare::server_command(kind, &cfg),
        Duration::from_secs(60),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn bad_files_exit_with_code_2_like_apache() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().display();
    let cases = [
        (
            format!("tickTime=2000\ndataDir={d}\nclientPort=abc\n"),
            "zoo.cfg:3: bad value for clientPort",
        ),
        (
            format!("tickTime=x\ndataDir={d}\nclientPort=21811\n"),
            "zoo.cfg:1: bad value for tickTime",
        ),
        ("tickTime=2000\nclientPort=21811\n".to_string(), "dataDir is not set"),
        (
            format!(
                "tickTime=2000\ndataDir={d}\nclientPort=21811\nminSessionTimeout=50000\n\
                 maxSessionTimeout=40000\n"
            ),
            "zoo.cfg:5: maxSessionTimeout",
        ),
        (
            format!("tickTime=2000\ndataDir={d}\nclientPort=21811\nclientPortAddress=no.such.host.invalid\n"),
            "zoo.cfg:4: bad value for clientPortAddress",
        ),
    ];
    let mut failures = Vec::new();
    for (text, expected) in &cases {
        let ((ac, aout), (oc, oout)) = std::thread::scope(|s| {
            let a = s.spawn(|| refused(Kind::Apache, text));
            (a.join().unwrap(), refused(Kind::Ours, text))
        });
        if ac != Some(2) {
            failures.push(format!("apache exited {ac:?} on {text:?}:\n{aout}"));
        }
        if oc != Some(2) {
            failures.push(format!("ours exited {oc:?} on {text:?}:\n{oout}"));
        }
        if !oout.contains(expected) {
            failures.push(format!(
                "ours did not say {expected:?} on {text:?}:\n{oout}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn missing_file_exits_with_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_with_timeout(
        &mut bare::server_command(Kind::Ours, &dir.path().join("nope.cfg")),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.cfg"));
}

#[test]
fn default_timeouts_and_host_name_address_like_apache() {
    let extra = "clientPortAddress=localhost\nminSessionTimeout=-1\nmaxSessionTimeout=-1\n\
                 4lw.commands.whitelist=*\n";
    let (apache, ours) = std::thread::scope(|s| {
        let a = s.spawn(|| bare::start_bare(Kind::Apache, extra));
        (a.join().unwrap(), bare::start_bare(Kind::Ours, extra))
    });
    for s in [&apache, &ours] {
        let conf = four_letter_word(s.addr, "conf").unwrap();
        for line in ["minSessionTimeout=4000", "maxSessionTimeout=40000"] {
            assert!(
                conf.lines().any(|l| l == line),
                "{line} not in conf:\n{conf}"
            );
        }
        for (asked, granted) in [(1, 4000), (1_000_000, 40_000)] {
            let c = RawClient::handshake(
                s.addr,
                &Handshake {
                    timeout_ms: asked,
                    ..Handshake::default()
                },
            )
            .unwrap();
            assert_eq!(c.session.timeout_ms, granted, "asked for {asked} ms");
        }
    }
}

/// Settings Apache reads only as Java system properties, given the way zkServer.sh hands
/// them over (`SERVER_JVMFLAGS`; `-D` flags on Apache's command line): a four-letter-word
/// whitelist from `-Dzookeeper.4lw.commands.whitelist` and nothing in zoo.cfg. Both servers
/// answer `ruok` and refuse `stat` with the same words.
#[test]
fn system_properties_from_server_jvmflags_configure_like_apache() {
    let mut replies = Vec::new();
    for kind in [Kind::Apache, Kind::Ours] {
        let b = bare::start_bare_with(kind, "", &["zookeeper.4lw.commands.whitelist=srvr,ruok"]);
        let ruok = four_letter_word(b.addr, "ruok").unwrap();
        let stat = four_letter_word(b.addr, "stat").unwrap();
        replies.push((kind, ruok, stat));
    }
    let (_, a_ruok, a_stat) = &replies[0];
    let (_, o_ruok, o_stat) = &replies[1];
    assert_eq!(a_ruok, "imok");
    assert!(a_stat.contains("not in the whitelist"), "{a_stat}");
    assert_eq!(o_ruok, a_ruok);
    assert_eq!(o_stat, a_stat);
}
