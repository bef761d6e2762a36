//! zk-cli and the life of its session, against real servers: no server at
//! all (one-shot commands fail as zkCli.sh's do, compared live), a connect
//! string whose first host is dead, a server killed and restarted on the same
//! port and data directory under an interactive shell (the session survives;
//! `removewatches -l` works without the server), and session expiry while the
//! shell is cut off from the server longer than its timeout.
//!
//! The interactive cases drive the shell through tmux (`apt-get install tmux`).

mod cli_support;

use std::time::{Duration, Instant};

use cli_support::{normalise, one_shot, zkcli_sh_one_shot, Tmux, WAIT};
use zk_tests::proxy::Proxy;
use zk_tests::{free_port, Kind, Options, TestServer};

/// With nothing listening, a one-shot command prints and exits as zkCli.sh's
/// does: `KeeperErrorCode = ConnectionLoss for <path>` and status 1 for the
/// commands that need the server, and zkCli's own answers for the others
/// (`sync` reports rc=-4 and succeeds; `whoami` ignores the error; a local
/// `removewatches -l` finds no watch).
#[test]
fn cli_one_shot_without_a_server_fails_as_zkcli_does() {
    let dead = format!("127.0.0.1:{}", free_port());
    let out = one_shot(&dead, &["create", "/x"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "KeeperErrorCode = ConnectionLoss for /x\n"
    );
    let commands: &[&[&str]] = &[
        &["create", "/x"],
        &["ls", "/"],
        &["get", "-s", "/x"],
        &["set", "/x", "data"],
        &["addWatch", "/x"],
        &["removewatches", "/x"],
        &["removewatches", "/x", "-l"],
        &["config"],
        &["sync", "/"],
        &["whoami"],
        &["version"],
    ];
    let mut diffs = Vec::new();
    for args in commands {
        let ours = one_shot(&dead, args);
        let java = zkcli_sh_one_shot(&dead, args);
        let show = |o: &std::process::Output| {
            format!(
                "status {:?}\nstdout:\n{}stderr:\n{}",
                o.status.code(),
                normalise(&String::from_utf8_lossy(&o.stdout)),
                normalise(&String::from_utf8_lossy(&o.stderr))
            )
        };
        let (o, j) = (show(&ours), show(&java));
        if o != j {
            diffs.push(format!("{args:?}:\n--- zkCli.sh\n{j}--- zk-cli\n{o}"));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// The client tries the hosts of the connect string in order: a dead first
/// host costs one refused connection, and the command runs on the second.
#[test]
fn cli_connect_string_with_a_dead_host_first() {
    let server = TestServer::start(Kind::Ours, &Options::default());
    let hosts = format!("127.0.0.1:{},{}", free_port(), server.hosts());
    let out = one_shot(&hosts, &["create", "/several", "hosts"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "Created /several\n");
    let out = one_shot(&hosts, &["get", "/several"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .ends_with("WatchedEvent state:SyncConnected type:None path:null\nhosts\n"),
        "{out:?}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let t = Tmux::new("several-hosts");
    t.start_shell("s", &hosts, &dir.path().join("history"));
    t.wait_text("s", &format!("[zk: {hosts}(CONNECTED) 0] "));
    t.command("s", "get /several");
    t.wait_text("s", &format!("hosts\n[zk: {hosts}(CONNECTED) 1] "));
}

/// The server dies under an interactive shell and comes back on the same
/// port and data directory: the shell reports the loss, fails commands with
/// a connection loss meanwhile, removes a watch locally with `-l`, and then
/// reconnects with the same session (its ephemeral node has the same owner)
/// and the watches it still holds (restored with SetWatches; the one removed
/// locally stays removed).
#[test]
fn cli_reconnects_after_a_server_restart_keeping_its_session() {
    let mut server = TestServer::start(Kind::Ours, &Options::default());
    let hosts = server.hosts();
    let out = one_shot(&hosts, &["create", "/watched", "w0"]);
    assert!(out.status.success(), "{out:?}");

    let dir = tempfile::tempdir().expect("tempdir");
    let t = Tmux::new("restart");
    t.start_shell("r", &hosts, &dir.path().join("history"));
    let prompt = |state: &str, n: u32| format!("[zk: {hosts}({state}) {n}] ");
    t.wait_text("r", &prompt("CONNECTED", 0));
    t.command("r", "create -e /eph");
    t.wait_text("r", &prompt("CONNECTED", 1));
    t.command("r", "get -w /watched");
    t.wait_text("r", &prompt("CONNECTED", 2));
    t.command("r", "ls -w /");
    t.wait_text("r", &prompt("CONNECTED", 3));
    t.command("r", "stat /eph");
    let screen = t.wait_text("r", &prompt("CONNECTED", 4));
    let owner = screen
        .lines()
        .find(|l| l.starts_with("ephemeralOwner = ") && *l != "ephemeralOwner = 0x0")
        .unwrap_or_else(|| panic!("no ephemeral owner on the screen:\n{screen}"))
        .to_owned();

    server.kill();
    t.wait_text("r", "WatchedEvent state:Disconnected type:None path:null");
    t.command("r", "ls /");
    t.wait_text("r", "KeeperErrorCode = ConnectionLoss for /\n");
    t.wait_text("r", &prompt("CONNECTING", 5));
    // Without -l the server must be asked; with -l the watch goes locally.
    t.command("r", "removewatches /watched -d");
    t.wait_text("r", "KeeperErrorCode = ConnectionLoss for /watched\n");
    t.wait_text("r", &prompt("CONNECTING", 6));
    t.command("r", "removewatches /watched -d -l");
    t.wait_text(
        "r",
        "WatchedEvent state:Disconnected type:DataWatchRemoved path:/watched",
    );
    t.wait_text("r", &prompt("CONNECTING", 7));

    server.restart();
    t.wait_count(
        "r",
        "WatchedEvent state:SyncConnected type:None path:null",
        2,
    );
    t.command("r", "stat /eph");
    let screen = t.wait_text("r", &prompt("CONNECTED", 8));
    assert_eq!(
        screen.matches(&format!("{owner}\n")).count(),
        2,
        "the ephemeral node's owner changed across the restart:\n{screen}"
    );
    t.command("r", "getEphemerals /");
    t.wait_text("r", &format!("[/eph]\n{}", prompt("CONNECTED", 9)));

    // The child watch on / came back with the session; the data watch on
    // /watched did not. The server sends events in order, so once the
    // NodeChildrenChanged of the later create shows, a NodeDataChanged of the
    // earlier set would have shown before it.
    let out = one_shot(&hosts, &["set", "/watched", "w1"]);
    assert!(out.status.success(), "{out:?}");
    let out = one_shot(&hosts, &["create", "/sentinel"]);
    assert!(out.status.success(), "{out:?}");
    let screen = t.wait_text(
        "r",
        "WatchedEvent state:SyncConnected type:NodeChildrenChanged path:/\n",
    );
    assert!(
        !screen.contains("type:NodeDataChanged path:/watched"),
        "a watch removed with -l fired after the reconnect:\n{screen}"
    );
}

/// A shell cut off from its server for longer than its session timeout
/// finds the session expired when it gets through again, and says so as
/// zkCli does: `Disconnected` at the cut, `Expired` once it reconnects; the
/// prompt then shows CLOSED and commands answer `Not connected`. The shell
/// reaches the server through a TCP proxy, which cuts the connection and
/// refuses new ones until healed.
#[test]
fn cli_reports_session_expiry() {
    let server = TestServer::start(Kind::Ours, &Options::default());
    let proxy = Proxy::start_free(server.addr());
    let via_proxy = format!("127.0.0.1:{}", proxy.port());
    let dir = tempfile::tempdir().expect("tempdir");
    let t = Tmux::new("expiry");
    // 4 s: the shortest timeout the server grants with tickTime=2000.
    t.start_shell_with(
        "e",
        &["-timeout", "4000", "-server", &via_proxy],
        &dir.path().join("history"),
    );
    let prompt = |state: &str, n: u32| format!("[zk: {via_proxy}({state}) {n}] ");
    t.wait_text("e", &prompt("CONNECTED", 0));
    t.command("e", "create -e /expiring");
    t.wait_text("e", &prompt("CONNECTED", 1));

    proxy.cut();
    t.wait_text("e", "WatchedEvent state:Disconnected type:None path:null");
    // The server expires the session and deletes its ephemeral node.
    let deadline = Instant::now() + WAIT;
    while one_shot(&server.hosts(), &["stat", "/expiring"])
        .status
        .code()
        != Some(1)
    {
        assert!(
            Instant::now() < deadline,
            "the server did not expire the cut-off shell's session within {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    proxy.heal();

    let screen = t.wait_text(
        "e",
        "WATCHER::\n\nWatchedEvent state:Expired type:None path:null\n",
    );
    assert_eq!(
        screen
            .matches("WatchedEvent state:SyncConnected type:None path:null")
            .count(),
        1,
        "the shell reconnected to an expired session:\n{screen}"
    );
    t.command("e", "ls /");
    t.wait_text("e", &format!("Not connected\n{}", prompt("CLOSED", 2)));
}
