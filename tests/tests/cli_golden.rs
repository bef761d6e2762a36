//! Golden tests of zk-cli: the same command scripts (`tests/golden/cli/*.txt`)
//! run through Apache ZooKeeper's `zkCli.sh` against the reference server and
//! through zk-cli against the reference server and against ours; the output,
//! normalised (times, zxids, session ids, ports, version), must equal the
//! goldens recorded from `zkCli.sh` (`<script>.out` for stdout, `<script>.err`
//! for stderr).
//!
//! Re-record the goldens from zkCli.sh with `ZK_CLI_BLESS=1 cargo test -p
//! zk-tests --test cli_golden`.

mod cli_support;

use std::process::Output;

use cli_support::{diff, golden_dir, normalise, run_zk_cli, run_zkcli_sh};
use zk_tests::{Kind, Options, TestServer};

/// Scripts in the order they run against one server; each works in its own
/// subtree and removes it at the end, so they do not disturb each other.
const SCRIPTS: &[&str] = &[
    "nodes",
    "watches",
    "quota",
    "nulldata",
    "removewatches",
    "session",
    "config",
    "config_stat",
    "chroot",
];

/// The script that runs chrooted, and its chroot.
const CHROOTED: (&str, &str) = ("chroot", "/cli_chroot");

/// The connect string a script runs with: the server's, plus the chroot for
/// the chrooted script (its node created first, outside the chroot).
fn connect_string(server: &TestServer, script: &str) -> String {
    if script != CHROOTED.0 {
        return server.hosts();
    }
    let out = cli_support::one_shot(&server.hosts(), &["create", CHROOTED.1]);
    assert!(out.status.success(), "create the chroot node: {out:?}");
    format!("{}{}", server.hosts(), CHROOTED.1)
}

/// The event zkCli prints when `quit` closes the session.
const CLOSED_EVENT: &str = "\nWATCHER::\n\nWatchedEvent state:Closed type:None path:null\n";

/// zkCli's `quit` exits the JVM as soon as `close()` returns, racing the
/// event thread that prints the `Closed` event: now and then zkCli.sh's
/// output ends without it (every script ends with `quit`). Complete it, so
/// that the goldens keep it and zk-cli must print it.
fn complete_closed_event(who: &str, ext: &str, text: String) -> String {
    if who == "zkCli.sh/apache" && ext == "out" && !text.ends_with(CLOSED_EVENT) {
        text + CLOSED_EVENT
    } else {
        text
    }
}

/// zkCli.sh prints a watch event from its event thread while the main thread
/// prints the next command's output, so after a `connect` the lines of the
/// `SyncConnected` event (`WATCHER::`, a blank line, the event) can land in
/// the middle of the next answer, now and then. For Apache's zkCli.sh only,
/// that is not a difference: the outputs are the same when the same events
/// come in the same order and everything else is the same lines in the same
/// order. zk-cli is held to the goldens exactly.
fn same_but_for_event_timing(who: &str, expected: &str, actual: &str) -> bool {
    fn split(text: &str) -> (Vec<&str>, Vec<&str>) {
        let (events, rest) = text
            .lines()
            .filter(|l| !l.is_empty() && *l != "WATCHER::")
            .partition(|l| l.starts_with("WatchedEvent "));
        (events, rest)
    }
    who == "zkCli.sh/apache" && split(expected) == split(actual)
}

fn check(script: &str, who: &str, out: &Output, mismatches: &mut Vec<String>) {
    let bless = std::env::var_os("ZK_CLI_BLESS").is_some();
    for (ext, text) in [("out", &out.stdout), ("err", &out.stderr)] {
        let actual = normalise(&String::from_utf8_lossy(text));
        let actual = complete_closed_event(who, ext, actual);
        let path = golden_dir().join(format!("{script}.{ext}"));
        if bless {
            if who == "zkCli.sh/apache" {
                std::fs::write(&path, &actual).expect("write golden");
            }
            continue;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (record it with ZK_CLI_BLESS=1)", path.display()));
        if expected != actual && !same_but_for_event_timing(who, &expected, &actual) {
            mismatches.push(format!(
                "{script}.{ext} differs for {who}:\n{}",
                diff(&expected, &actual)
            ));
        }
    }
}

fn run_all(
    server: &TestServer,
    who: &str,
    scripts: &[&str],
    run: fn(&std::path::Path, &str) -> Output,
) -> Vec<String> {
    let mut mismatches = Vec::new();
    for s in scripts {
        let out = run(
            &golden_dir().join(format!("{s}.txt")),
            &connect_string(server, s),
        );
        check(s, who, &out, &mut mismatches);
    }
    mismatches
}

fn assert_none(mismatches: Vec<String>) {
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// zkCli.sh against Apache ZooKeeper reproduces the goldens (so they stay
/// true to the reference), and zk-cli against Apache ZooKeeper prints the same.
#[test]
fn cli_golden_against_apache() {
    let opts = Options::default();
    let o = opts.clone();
    let other = std::thread::spawn(move || TestServer::start(Kind::Apache, &o));
    let for_java = TestServer::start(Kind::Apache, &opts);
    let for_ours = other.join().expect("start the second reference server");
    // zk-cli is built (or found) before the JVM runs, so both clients run in parallel.
    let _ = cli_support::cli_binary();
    let java = std::thread::spawn(move || {
        let m = run_all(&for_java, "zkCli.sh/apache", SCRIPTS, run_zkcli_sh);
        drop(for_java);
        m
    });
    let mut mismatches = run_all(&for_ours, "zk-cli/apache", SCRIPTS, run_zk_cli);
    mismatches.extend(java.join().expect("zkCli.sh run"));
    assert_none(mismatches);
}

/// zk-cli against our server prints what zkCli.sh prints against Apache ZooKeeper.
#[test]
fn cli_golden_against_ours() {
    let server = TestServer::start(Kind::Ours, &Options::default());
    assert_none(run_all(
        &server,
        "zk-cli/ours",
        &[
            "nodes",
            "watches",
            "removewatches",
            "session",
            "config",
            "chroot",
        ],
        run_zk_cli,
    ));
}

/// Quotas: zkCli keeps them client side, but `listquota` shows the usage the
/// server counts in `zookeeper_stats`.
#[test]
fn cli_golden_quota_against_ours() {
    let server = TestServer::start(Kind::Ours, &Options::default());
    assert_none(run_all(&server, "zk-cli/ours", &["quota"], run_zk_cli));
}

/// A node created without data reads back as `null` (apart from one created
/// with empty data), as from Apache ZooKeeper.
#[test]
fn cli_golden_null_data_against_ours() {
    let server = TestServer::start(Kind::Ours, &Options::default());
    assert_none(run_all(&server, "zk-cli/ours", &["nulldata"], run_zk_cli));
}

/// `config -s`: the Stat of `/zookeeper/config` (aclVersion -1, as Apache's).
#[test]
fn cli_golden_config_stat_against_ours() {
    let server = TestServer::start(Kind::Ours, &Options::default());
    assert_none(run_all(
        &server,
        "zk-cli/ours",
        &["config_stat"],
        run_zk_cli,
    ));
}

/// The interleaving seen in CI is accepted for zkCli.sh only; a missing
/// event or a different answer is still a difference.
#[test]
fn event_timing_is_forgiven_for_zkcli_sh_only() {
    let golden = "x\n\nWATCHER::\n\nWatchedEvent state:SyncConnected type:None path:null\n[]\n";
    let raced = "x\n\nWATCHER::\n[]\n\nWatchedEvent state:SyncConnected type:None path:null\n";
    assert!(same_but_for_event_timing("zkCli.sh/apache", golden, raced));
    assert!(!same_but_for_event_timing("zk-cli/ours", golden, raced));
    assert!(!same_but_for_event_timing(
        "zkCli.sh/apache",
        golden,
        "x\n\nWATCHER::\n[]\n"
    ));
    assert!(!same_but_for_event_timing(
        "zkCli.sh/apache",
        golden,
        "x\n\nWATCHER::\n[a]\n\nWatchedEvent state:SyncConnected type:None path:null\n"
    ));
}
