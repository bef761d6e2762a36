//! The interactive zk-cli shell driven through tmux, as a person would use it:
//! completion of a command name and of a znode path, history recall (within a
//! session and from the history file of an earlier one), a watch event printed
//! while the prompt waits, Ctrl-C clearing the line, Ctrl-D quitting. Plus the
//! one-shot mode (`zk-cli -server h cmd args`) and its exit status.
//!
//! Needs tmux (`apt-get install tmux`); without it the test fails saying so.

mod cli_support;

use std::time::Instant;

use cli_support::{current_line, one_shot, Tmux, WAIT};
use zk_tests::{Kind, Options, TestServer};

#[test]
fn cli_interactive_completion_history_watch_and_keys() {
    let server = TestServer::start(Kind::Ours, &Options::default());
    let hosts = server.hosts();
    let dir = tempfile::tempdir().expect("tempdir");
    let history = dir.path().join("history");
    let out = one_shot(&hosts, &["create", "/completion_target", "first"]);
    assert!(out.status.success(), "{out:?}");

    let t = Tmux::new("interactive");
    t.start_shell("a", &hosts, &history);
    let prompt = |n: u32| format!("[zk: {hosts}(CONNECTED) {n}] ");
    t.wait_text("a", &prompt(0));
    t.wait_text("a", "WatchedEvent state:SyncConnected type:None path:null");

    // A command name completes from its prefix.
    t.type_text("a", "getAllChildrenN");
    t.send("a", &["Tab"]);
    t.wait_for("a", "command completion", |s| {
        current_line(s).ends_with("] getAllChildrenNumber")
    });
    // A path completes from the children the server lists.
    t.type_text("a", " /completion_ta");
    t.send("a", &["Tab"]);
    t.wait_for("a", "path completion", |s| {
        current_line(s).ends_with("] getAllChildrenNumber /completion_target")
    });
    t.send("a", &["Enter"]);
    t.wait_text("a", &prompt(1));

    // A watch left by `get -w` fires while the prompt waits.
    t.type_text("a", "get -w /completion_target");
    t.send("a", &["Enter"]);
    t.wait_text("a", &prompt(2));
    let out = one_shot(&hosts, &["set", "/completion_target", "second"]);
    assert!(out.status.success(), "{out:?}");
    t.wait_text(
        "a",
        "WATCHER::\n\nWatchedEvent state:SyncConnected type:NodeDataChanged path:/completion_target",
    );

    // Up recalls the previous line; Enter runs it again.
    t.send("a", &["Up"]);
    t.wait_for("a", "history recall", |s| {
        current_line(s).ends_with("get -w /completion_target")
    });
    t.send("a", &["Enter"]);
    t.wait_text("a", &prompt(3));
    assert!(t.screen("a").contains("second"));

    // Ctrl-C abandons the line being edited.
    t.type_text("a", "garbage");
    t.send("a", &["C-c"]);
    t.type_text("a", "version");
    t.send("a", &["Enter"]);
    let s = t.wait_text("a", "ZooKeeper CLI version: zk-cli");
    assert!(
        !s.contains("Command not found"),
        "the interrupted line was run:\n{s}"
    );
    t.wait_text("a", &prompt(4));

    // Ctrl-D quits.
    t.send("a", &["C-d"]);
    let deadline = Instant::now() + WAIT;
    while t.alive("a") {
        assert!(Instant::now() < deadline, "Ctrl-D did not end the shell");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // The history file outlives the shell: a new one recalls the last line.
    let saved = std::fs::read_to_string(&history).expect("history file");
    assert!(saved.contains("get -w /completion_target"), "{saved}");
    t.start_shell("b", &hosts, &history);
    t.wait_text("b", &prompt(0));
    t.send("b", &["Up"]);
    t.wait_for("b", "history from the earlier session", |s| {
        current_line(s).ends_with("] version")
    });
}

#[test]
fn cli_one_shot_runs_one_command_and_exits_with_its_status() {
    let server = TestServer::start(Kind::Ours, &Options::default());
    let hosts = server.hosts();
    let out = one_shot(&hosts, &["create", "/one", "shot"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "Created /one\n");
    let out = one_shot(&hosts, &["get", "/one"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("shot\n"));
    let out = one_shot(&hosts, &["stat", "/missing"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Node does not exist: /missing\n"
    );
    let out = one_shot(&hosts, &["nosuchcommand"]);
    assert_eq!(out.status.code(), Some(127));
}
