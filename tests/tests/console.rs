//! The web console (`/console` on the AdminServer's port) in a real headless browser:
//! Debian's chromium loads the page of one of our servers in a running 3-server
//! ensemble, runs its script against the live servers, and the DOM it leaves is
//! checked (three servers, one leader, the node and ephemeral a kazoo client made, the
//! charts' points), then a screenshot is taken for a person to look at
//! (`target/tmp/console-ensemble.png`).
//!
//! chromium is driven from the command line (`--headless --dump-dom`, `--screenshot`)
//! with `--virtual-time-budget`: the page's timers run for that much virtual time
//! while its fetches go to the real servers, so the test is bounded and needs no
//! WebDriver session. Without chromium the test fails and says how to install it
//! (`.ci/run` does).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::{http_get, python, run_with_timeout, wait_until, Background};

const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

fn chromium() -> PathBuf {
    let bin = std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("chromium"), PathBuf::from);
    match Command::new(&bin).arg("--version").output() {
        Ok(o) if o.status.success() => bin,
        other => panic!(
            "chromium is needed for the console test and {} cannot run ({other:?}): \
             apt-get install chromium chromium-driver (as .ci/run does), or set CHROMIUM",
            bin.display()
        ),
    }
}

/// chromium, headless, on a profile of its own under `dir`, for `budget_ms` of virtual time.
fn browser(dir: &Path, budget_ms: u32) -> Command {
    let mut c = Command::new(chromium());
    c.args([
        "--headless",
        // As root (CI containers) chromium refuses to start with its sandbox.
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        "--window-size=1280,1700",
    ])
    .arg(format!("--user-data-dir={}", dir.display()))
    .arg(format!("--virtual-time-budget={budget_ms}"));
    c
}

fn get_json(addr: std::net::SocketAddr, path: &str) -> Value {
    let (status, body) =
        http_get(addr, path, HTTP_TIMEOUT).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// The kazoo client: a node with data and an ephemeral child under it, then reads
/// (a few hundred a second, for the charts) for at most a minute.
const CLIENT: &str = r#"
import sys, time
from kazoo.client import KazooClient
k = KazooClient(hosts=sys.argv[1], timeout=10)
k.start(timeout=20)
k.create("/console-test", b"hello console")
k.create("/console-test/eph", b"", ephemeral=True)
print("session 0x%x" % k.client_id[0], flush=True)
end = time.time() + 60
while time.time() < end:
    k.exists("/console-test")
    time.sleep(0.001)
"#;

/// How many times `needle` occurs in `hay`.
fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

/// The attribute `attr` of the chart figure `id`.
fn chart_attr(dom: &str, id: &str, attr: &str) -> f64 {
    let at = dom
        .find(&format!("id=\"chart-{id}\""))
        .unwrap_or_else(|| panic!("no chart {id} in the page:\n{dom}"));
    let tag_end = at + dom[at..].find('>').unwrap();
    let tag = &dom[dom[..at].rfind('<').unwrap()..tag_end];
    tag.split(&format!("{attr}=\""))
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0)
}

/// Every member's AdminServer listens on a port of its own here: tell every console where.
fn name_admin_addresses(ens: &Ensemble) {
    let addrs: Vec<String> = ens
        .ids()
        .iter()
        .map(|id| format!("{id}=127.0.0.1:{}", ens.member(*id).admin_port))
        .collect();
    for id in ens.ids() {
        let mut cfg = std::fs::read_to_string(ens.member(id).cfg_path()).unwrap();
        cfg.push_str(&format!("console.adminAddresses={}\n", addrs.join(",")));
        std::fs::write(ens.member(id).cfg_path(), cfg).unwrap();
    }
}

#[test]
fn the_console_shows_a_three_server_ensemble_in_headless_chromium() {
    let chromium = chromium();
    let mut ens = Ensemble::new(Spec::new(3, 0).admin().ticks(200, 10, 5));
    name_admin_addresses(&ens);
    ens.start_all();
    let leader = ens.wait_serving(&ens.ids(), Duration::from_secs(60));
    let follower = *ens.ids().iter().find(|i| **i != leader).unwrap();
    let admin = std::net::SocketAddr::from(([127, 0, 0, 1], ens.member(follower).admin_port));

    // The client talks to the server whose console is loaded: its connection, its requests.
    let mut cmd = Command::new(python());
    cmd.arg("-c").arg(CLIENT).arg(ens.member(follower).hosts());
    let client = Background::spawn(&mut cmd, "the kazoo client", |l| {
        l.strip_prefix("session ").map(str::to_owned)
    });
    assert!(
        wait_until(Duration::from_secs(30), || client
            .with_lines(|l| !l.is_empty())),
        "the kazoo client did not connect\n{}",
        ens.logs(&ens.ids())
    );
    let session = client.with_lines(|l| l[0].clone());

    // The endpoints the page reads, as JSON, from a follower.
    let mut servers = Value::Null;
    let settled = wait_until(Duration::from_secs(20), || {
        servers = get_json(admin, "/console/api/ensemble")["servers"].clone();
        let zxids: Vec<&Value> = servers
            .as_array()
            .unwrap()
            .iter()
            .map(|s| &s["zxid"])
            .collect();
        zxids.iter().all(|z| z.is_string())
            && servers.as_array().unwrap().iter().all(|s| s["lag"] == 0)
    });
    assert!(
        settled,
        "the ensemble never showed every server caught up: {servers:#}"
    );
    let states: Vec<&str> = servers
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.len(), 3, "{servers:#}");
    assert_eq!(
        states.iter().filter(|s| **s == "leader").count(),
        1,
        "{servers:#}"
    );
    assert_eq!(
        states.iter().filter(|s| **s == "follower").count(),
        2,
        "{servers:#}"
    );
    assert_eq!(servers[(leader - 1) as usize]["state"], "leader");
    assert_eq!(servers[(follower - 1) as usize]["this"], true);
    let node = get_json(admin, "/console/api/node?path=/console-test");
    assert_eq!(node["children"], serde_json::json!(["eph"]));
    assert_eq!(node["data"]["text"], "hello console");
    assert_eq!(node["stat"]["numChildren"], 1);
    assert_eq!(node["acl"][0]["scheme"], "world");
    let eph = get_json(admin, "/console/api/node?path=/console-test/eph");
    assert_eq!(eph["stat"]["ephemeralOwner"], session.as_str());
    let sessions = get_json(admin, "/console/api/sessions");
    let mine = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == session.as_str())
        .unwrap_or_else(|| panic!("session {session} not listed: {sessions:#}"));
    assert_eq!(mine["ephemerals"], serde_json::json!(["/console-test/eph"]));
    let (status, _) = http_get(admin, "/console/api/node?path=/nope", HTTP_TIMEOUT).unwrap();
    assert_eq!(status, 404);

    // The page itself, in chromium, against the live ensemble.
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{admin}/console/#/console-test");
    let out = run_with_timeout(
        browser(profile.path(), 8000).arg("--dump-dom").arg(&url),
        BROWSER_TIMEOUT,
    );
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && dom.contains("</html>"),
        "{} --dump-dom {url} failed ({}): {}",
        chromium.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        count(&dom, "<tr class=\"server"),
        3,
        "three servers:\n{dom}"
    );
    assert_eq!(
        count(&dom, "data-state=\"leader\""),
        1,
        "one leader:\n{dom}"
    );
    assert_eq!(
        count(&dom, "data-state=\"follower\""),
        2,
        "two followers:\n{dom}"
    );
    assert!(
        dom.contains(&format!("<tr class=\"server this\" data-id=\"{follower}\"")),
        "the page's own server is marked:\n{dom}"
    );
    assert!(
        dom.contains("<li data-path=\"/console-test/eph\">"),
        "the tree browser lists the client's node:\n{dom}"
    );
    assert!(
        dom.contains("data-path=\"/console-test\">hello console</pre>"),
        "the tree browser shows the node's data:\n{dom}"
    );
    assert!(
        dom.contains("<td>world</td><td>anyone</td><td>cdrwa</td>"),
        "the tree browser shows the node's ACL:\n{dom}"
    );
    let row = dom
        .split(&format!("<tr data-session=\"{session}\">"))
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap_or_else(|| panic!("session {session} is not listed:\n{dom}"));
    assert!(
        row.contains("<td>127.0.0.1:") && row.contains("<td class=\"eph\">/console-test/eph</td>"),
        "the session's connection here and its ephemeral are listed: {row}"
    );
    for chart in ["requests", "latency", "fsync"] {
        let n = chart_attr(&dom, chart, "data-points");
        assert!(n >= 3.0, "chart {chart} has {n} points:\n{dom}");
    }
    // The client's reads are counted: the requests chart rises above zero.
    let top = chart_attr(&dom, "requests", "data-max");
    assert!(top > 0.0, "the requests chart stays at {top}:\n{dom}");
    assert!(!dom.contains("last poll failed"), "a poll failed:\n{dom}");

    // A screenshot for a person to look at.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-ensemble.png");
    let _ = std::fs::remove_file(&shot);
    let out = run_with_timeout(
        browser(profile.path(), 8000)
            .arg(format!("--screenshot={}", shot.display()))
            .arg(&url),
        BROWSER_TIMEOUT,
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot at {} ({e}); chromium: {}",
            shot.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "a real PNG"
    );
    eprintln!("console screenshot: {}", shot.display());

    // A server that is down shows as unreachable on the others' consoles.
    let other = *ens
        .ids()
        .iter()
        .find(|i| **i != leader && **i != follower)
        .unwrap();
    ens.kill(other);
    let mut down = Value::Null;
    assert!(
        wait_until(Duration::from_secs(20), || {
            down =
                get_json(admin, "/console/api/ensemble")["servers"][(other - 1) as usize].clone();
            down["state"] == "unreachable"
        }),
        "server {other} is down but shows {down:#}"
    );
    assert!(
        down["error"].as_str().unwrap().contains("cannot connect"),
        "{down:#}"
    );
    drop(client);
}

/// An Apache ZooKeeper 3.8 member of a mixed ensemble (its own AdminServer on) shows on our
/// console with its role and zxid, read from its `server_stats`, and so does its lag.
#[test]
fn the_console_shows_an_apache_member_of_a_mixed_ensemble() {
    assert!(
        zk_tests::apache_admin_jars().is_some(),
        "Apache's AdminServer needs Jetty 9, the servlet API and Jackson: apt-get install \
         libjetty9-java libservlet-api-java libjackson2-databind-java libjackson2-core-java \
         libjackson2-annotations-java (as .ci/run does)"
    );
    let mut ens = Ensemble::new(
        Spec::new(3, 0)
            .admin()
            .ticks(200, 10, 5)
            .member_kind(3, zk_tests::Kind::Apache),
    );
    name_admin_addresses(&ens);
    ens.start_all();
    ens.wait_serving(&ens.ids(), Duration::from_secs(90));
    let mut cmd = Command::new(python());
    cmd.arg("-c").arg(CLIENT).arg(ens.member(3).hosts());
    let client = Background::spawn(&mut cmd, "the kazoo client", |l| {
        l.strip_prefix("session ").map(str::to_owned)
    });
    assert!(
        wait_until(Duration::from_secs(30), || client
            .with_lines(|l| !l.is_empty())),
        "the kazoo client did not connect to Apache's server\n{}",
        ens.logs(&ens.ids())
    );
    let admin = std::net::SocketAddr::from(([127, 0, 0, 1], ens.member(1).admin_port));
    let mut servers = Value::Null;
    let ok = wait_until(Duration::from_secs(30), || {
        servers = get_json(admin, "/console/api/ensemble")["servers"].clone();
        let all = servers.as_array().unwrap();
        // The client's two creates are in every member's zxid, and none is behind.
        all.iter()
            .all(|s| s["lag"] == 0 && s["zxid"].as_str().is_some_and(|z| !z.ends_with("x0")))
            && all[2]["connections"].as_i64() >= Some(1)
    });
    assert!(ok, "the mixed ensemble never showed caught up: {servers:#}");
    let apache = &servers[2];
    let mode = ens.mode(3).unwrap();
    assert_eq!(apache["state"], mode.as_str(), "Apache's role: {servers:#}");
    let zxid = ens.zxid(3).unwrap();
    assert_eq!(apache["zxid"], format!("0x{zxid:x}"), "{servers:#}");
    assert_eq!(servers[0]["zxid"], apache["zxid"], "{servers:#}");
    drop(client);
}

fn admin_options(port: u16) -> zk_tests::Options {
    zk_tests::Options {
        extra: vec![
            ("admin.enableServer".into(), "true".into()),
            ("admin.serverAddress".into(), "127.0.0.1".into()),
            ("admin.serverPort".into(), port.to_string()),
        ],
        ..zk_tests::Options::default()
    }
}

/// A node only `digest:alice` may read, made by kazoo.
const PRIVATE: &str = r#"
import sys
from kazoo.client import KazooClient
from kazoo.security import make_digest_acl
k = KazooClient(hosts=sys.argv[1], timeout=10)
k.start(timeout=20)
k.add_auth("digest", "alice:secret")
k.create("/private", b"the secret", acl=[make_digest_acl("alice", "secret", all=True)])
k.stop()
"#;

/// Standalone, beside Apache 3.8's own AdminServer: the console's paths are ours alone (Apache
/// answers them 404; the root answers the same on both), its files are served, a node only a
/// digest user may read shows its Stat and ACL but neither its data nor the password hash,
/// and a malformed request closes only its own connection.
#[test]
fn the_console_s_files_and_rules_in_standalone() {
    use std::io::{Read, Write};
    let (our_port, apache_port) = (zk_tests::free_port(), zk_tests::free_port());
    let ours = zk_tests::TestServer::start(zk_tests::Kind::Ours, &admin_options(our_port));
    let admin = std::net::SocketAddr::from(([127, 0, 0, 1], our_port));
    let page = http_get(admin, "/console/", HTTP_TIMEOUT).unwrap();
    assert_eq!(page.0, 200);
    assert!(
        page.1
            .contains("<script src=\"/console/console.js\"></script>"),
        "{}",
        page.1
    );
    for (path, text) in [
        ("/console/console.js", "refreshEnsemble"),
        ("/console/console.css", "polyline"),
        ("/console", "<title>ZooKeeper console</title>"),
    ] {
        let (status, body) = http_get(admin, path, HTTP_TIMEOUT).unwrap();
        assert_eq!(status, 200, "{path}");
        assert!(body.contains(text), "{path}: {body}");
    }
    assert_eq!(
        http_get(admin, "/console/nope", HTTP_TIMEOUT).unwrap().0,
        404
    );
    let (status, body) = http_get(admin, "/console/api/node?path=%7A", HTTP_TIMEOUT).unwrap();
    assert_eq!(
        (status, body.trim()),
        (400, "{\"error\":\"path must start with /\"}")
    );

    let servers = get_json(admin, "/console/api/ensemble")["servers"].clone();
    assert_eq!(servers.as_array().unwrap().len(), 1, "{servers:#}");
    assert_eq!(servers[0]["state"], "standalone");
    assert_eq!(servers[0]["lag"], 0);

    let mut cmd = Command::new(python());
    cmd.arg("-c").arg(PRIVATE).arg(ours.hosts());
    let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let node = get_json(admin, "/console/api/node?path=/private");
    assert_eq!(
        node["data"],
        serde_json::json!({"readable": false}),
        "{node:#}"
    );
    assert_eq!(
        node["acl"],
        serde_json::json!([{"scheme": "digest", "id": "alice:(hash withheld)", "perms": "cdrwa"}])
    );
    assert_eq!(node["stat"]["dataLength"], 10);
    assert!(!node.to_string().contains("the secret"));

    // A request that is not HTTP: that connection is closed, the console goes on.
    let mut bad = std::net::TcpStream::connect(admin).unwrap();
    bad.set_read_timeout(Some(HTTP_TIMEOUT)).unwrap();
    bad.write_all(b"\x00\x01 not http at all\r\n\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = bad.read_to_end(&mut rest);
    assert_eq!(
        http_get(admin, "/console/api/sessions", HTTP_TIMEOUT)
            .unwrap()
            .0,
        200
    );

    // Apache's AdminServer: no console, and the same answer at the root.
    assert!(
        zk_tests::apache_admin_jars().is_some(),
        "Apache's AdminServer needs Jetty 9, the servlet API and Jackson (see .ci/run)"
    );
    let apache = zk_tests::TestServer::start(zk_tests::Kind::Apache, &admin_options(apache_port));
    let apache_admin = std::net::SocketAddr::from(([127, 0, 0, 1], apache_port));
    assert!(
        wait_until(Duration::from_secs(30), || http_get(
            apache_admin,
            "/commands/ruok",
            HTTP_TIMEOUT
        )
        .is_ok_and(|(s, _)| s == 200)),
        "Apache's AdminServer did not answer\n{}",
        apache.log_tail()
    );
    for path in ["/console/", "/console/api/ensemble"] {
        let (status, _) = http_get(apache_admin, path, HTTP_TIMEOUT).unwrap();
        assert_eq!(status, 404, "Apache's {path}");
    }
    let (a, _) = http_get(apache_admin, "/", HTTP_TIMEOUT).unwrap();
    let (o, _) = http_get(admin, "/", HTTP_TIMEOUT).unwrap();
    assert_eq!(o, a, "the root: Apache answers {a}, ours {o}");
}

/// Every member's live charts (their `monitor` read through the page's server), and the
/// members following a reconfig: the ensemble and the chart blocks come from the
/// membership in force (`/zookeeper/config`), re-read on every poll.
#[test]
fn the_console_charts_every_member_and_follows_a_reconfig() {
    let _ = chromium();
    let mut ens = Ensemble::new(
        Spec::new(3, 0)
            .admin()
            .ticks(200, 10, 5)
            .extra("reconfigEnabled", "true")
            .extra("skipACL", "yes"),
    );
    name_admin_addresses(&ens);
    ens.start_all();
    let leader = ens.wait_serving(&ens.ids(), Duration::from_secs(60));
    let page = *ens.ids().iter().find(|i| **i != leader).unwrap();
    let gone = *ens
        .ids()
        .iter()
        .find(|i| **i != leader && **i != page)
        .unwrap();
    let admin = std::net::SocketAddr::from(([127, 0, 0, 1], ens.member(page).admin_port));

    // Another member's figures through this server's console.
    let m = get_json(admin, &format!("/console/api/metrics?member={leader}"));
    assert_eq!(m["command"], "monitor", "{m:#}");
    assert_eq!(m["server_state"], "leader", "{m:#}");
    let (status, _) = http_get(admin, "/console/api/metrics?member=99", HTTP_TIMEOUT).unwrap();
    assert_eq!(status, 404);
    let e = get_json(admin, "/console/api/ensemble");
    let before = e["version"].as_str().unwrap_or("").to_owned();
    assert_eq!(e["servers"].as_array().unwrap().len(), 3, "{e:#}");

    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{admin}/console/");
    let dump = |what: &str| -> String {
        let out = run_with_timeout(
            browser(profile.path(), 8000).arg("--dump-dom").arg(&url),
            BROWSER_TIMEOUT,
        );
        let dom = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && dom.contains("</html>"),
            "{what}: chromium --dump-dom {url} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        dom
    };
    let dom = dump("three members");
    assert_eq!(count(&dom, "class=\"member-charts\""), 2, "{dom}");
    for id in ens.ids().into_iter().filter(|i| *i != page) {
        for chart in ["requests", "latency", "fsync"] {
            let n = chart_attr(&dom, &format!("{id}-{chart}"), "data-points");
            assert!(
                n >= 3.0,
                "server {id}'s chart {chart} has {n} points:\n{dom}"
            );
        }
    }
    assert!(
        !dom.contains("data-error"),
        "a member's figures failed:\n{dom}"
    );

    // Server `gone` leaves by reconfig: the console drops it without a reload.
    let mut cmd = Command::new(python());
    cmd.arg(zk_tests::crate_dir().join("py").join("reconfig.py"))
        .args(["reconfig", "--hosts", &ens.member(leader).hosts()])
        .args(["--leaving", &gone.to_string()]);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
    let last = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && last.contains("\"ok\": true"),
        "reconfig failed: {last}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut e = Value::Null;
    assert!(
        wait_until(Duration::from_secs(20), || {
            e = get_json(admin, "/console/api/ensemble");
            e["servers"].as_array().unwrap().len() == 2
        }),
        "the console still lists {e:#}"
    );
    assert_ne!(e["version"].as_str().unwrap_or(""), before, "{e:#}");
    assert!(
        e["servers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["id"] != gone),
        "{e:#}"
    );
    let dom = dump("after the reconfig");
    assert_eq!(count(&dom, "<tr class=\"server"), 2, "{dom}");
    assert_eq!(count(&dom, "class=\"member-charts\""), 1, "{dom}");
    assert!(!dom.contains(&format!("data-member=\"{gone}\"")), "{dom}");
}
