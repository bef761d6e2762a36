//! zk-cli with ClickHouse Keeper's extensions: `deleteall` is one
//! removeRecursive request on a server that offers it (ours), zkCli's
//! client-side walk on one that does not (Apache ZooKeeper 3.8), with the
//! same output either way; `ls -p` / `ls -e` (persistent / ephemeral
//! children only, ours) are one filteredList on ours and a getChildren plus
//! an exists per child on Apache, with the same output.

mod cli_support;

use cli_support::one_shot;
use zk_tests::keeper::KeeperClient;
use zk_tests::raw::Reader;
use zk_tests::{start_pair, TestServer};

fn tree(s: &TestServer) -> KeeperClient {
    let mut c = KeeperClient::connect(s.addr()).unwrap();
    for p in ["/t", "/t/a", "/t/a/x", "/t/a/y", "/t/b", "/t/b/z"] {
        assert_eq!(c.raw.create(p, b"", 0).unwrap().err, 0, "{p}");
    }
    c
}

fn czxid(c: &mut KeeperClient, path: &str) -> i64 {
    let r = c.raw.create(path, b"", 0).unwrap();
    assert_eq!(r.err, 0);
    let r = c.raw.exists(path, false).unwrap();
    Reader::new(&r.body).stat()[0]
}

fn run(s: &TestServer, args: &[&str]) -> (Option<i32>, String, String) {
    let o = one_shot(&s.hosts(), args);
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The last line of stdout (one-shot mode prints the connection event first).
fn last_line(out: &str) -> String {
    out.lines().last().unwrap_or_default().to_owned()
}

#[test]
fn deleteall_is_one_remove_recursive_where_offered() {
    let (apache, ours) = start_pair(&Default::default());
    let mut outputs = Vec::new();
    let mut used = Vec::new();
    for s in [&apache, &ours] {
        let mut c = tree(s);
        let before = czxid(&mut c, "/before");
        // -b 1: zkCli's way deletes in one multi per node.
        let (code, _, err) = run(s, &["deleteall", "/t", "-b", "1"]);
        assert_eq!((code, err.as_str()), (Some(0), ""), "{:?}", s.kind);
        let after = czxid(&mut c, "/after");
        assert_eq!(c.raw.exists("/t", false).unwrap().err, -101, "{:?}", s.kind);
        // Zxids between the two markers: the deletes, and the shell's own
        // session (the same for both servers).
        used.push(after - before - 1);
        let (code, out, err) = run(s, &["deleteall", "/missing"]);
        outputs.push((code, last_line(&out), err));
    }
    // Six nodes: six multis of one delete on Apache, one removeRecursive on ours.
    assert_eq!(
        used[0] - used[1],
        5,
        "zxids used: apache {} ours {}",
        used[0],
        used[1]
    );
    assert!(
        used[1] <= 3,
        "ours: one transaction besides the session's: {}",
        used[1]
    );
    assert_eq!(
        outputs[0], outputs[1],
        "deleteall of a missing node: apache vs ours"
    );
    assert!(
        outputs[1].2.contains("Node does not exist: /missing"),
        "{:?}",
        outputs[1]
    );
}

#[test]
fn ls_persistent_and_ephemeral_children() {
    let (apache, ours) = start_pair(&Default::default());
    let mut got = Vec::new();
    for s in [&apache, &ours] {
        let mut c = KeeperClient::connect(s.addr()).unwrap();
        for (p, flags) in [("/f", 0), ("/f/p1", 0), ("/f/p2", 0), ("/f/e1", 1)] {
            assert_eq!(c.raw.create(p, b"", flags).unwrap().err, 0, "{p}");
        }
        // The ephemeral belongs to `c`'s session, which stays open meanwhile.
        let p = run(s, &["ls", "-p", "/f"]);
        let e = run(s, &["ls", "-e", "/f"]);
        let both = run(s, &["ls", "-p", "-e", "/f"]);
        got.push((last_line(&p.1), last_line(&e.1), both.0, both.2));
        drop(c);
    }
    assert_eq!(
        got[0], got[1],
        "apache (getChildren + exists) vs ours (filteredList)"
    );
    assert_eq!(got[1].0, "[p1, p2]");
    assert_eq!(got[1].1, "[e1]");
    assert_eq!(got[1].3, "ls: -p and -e exclude each other\n");
}
