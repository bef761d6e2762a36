//! Containers and TTL nodes over time, against Apache ZooKeeper 3.8 and ours, with the
//! container check run every 100 ms: a container is removed once it is empty after having had
//! a child (never before), a TTL node once its TTL has passed without a change while it has no
//! children; with extendedTypesEnabled=false a TTL create answers Unimplemented and containers
//! still work. Also the largest TTL (2^40 - 1) and deleteContainer as clients send it.
//!
//! Removal is waited for with bounded polls; what remains afterwards is compared.

mod bare;

use std::time::Duration;

use serde_json::{json, Value};
use zk_tests::raw::{self, RawClient};
use zk_tests::{diff, Kind};

const CHECK_MS: &str = "100";
const REMOVAL_WAIT: Duration = Duration::from_secs(20);

fn start(kind: Kind, extended: bool) -> bare::Bare {
    let extra =
        format!("extendedTypesEnabled={extended}\nznode.container.checkIntervalMs={CHECK_MS}\n");
    let props = [
        format!("zookeeper.extendedTypesEnabled={extended}"),
        format!("znode.container.checkIntervalMs={CHECK_MS}"),
    ];
    let props: Vec<&str> = props.iter().map(String::as_str).collect();
    bare::start_bare_with(kind, &extra, &props)
}

fn reply_json(step: &str, r: &raw::Reply) -> Value {
    json!({"step": step, "err": r.err, "zxid": r.zxid})
}

/// Polls (bounded) until `path` is gone; whether it went within the deadline.
fn gone(c: &mut RawClient, path: &str) -> bool {
    zk_tests::wait_until(REMOVAL_WAIT, || c.exists(path, false).unwrap().err == -101)
}

fn container(c: &mut RawClient, path: &str) -> raw::Reply {
    c.call(
        raw::OP_CREATE_CONTAINER,
        &raw::create_body(path, Some(b""), 4, None),
    )
    .unwrap()
}

fn ttl(c: &mut RawClient, path: &str, ms: i64) -> raw::Reply {
    c.call(
        raw::OP_CREATE_TTL,
        &raw::create_body(path, Some(b""), 5, Some(ms)),
    )
    .unwrap()
}

fn script(s: &bare::Bare, extended: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut c = RawClient::connect(s.addr).unwrap();
    let r = c.create("/x", b"", 0).unwrap();
    out.push(json!({"op": "base", "zxid": r.zxid}));
    out.push(reply_json("container /used", &container(&mut c, "/used")));
    out.push(reply_json(
        "create /used/k",
        &c.create("/used/k", b"", 0).unwrap(),
    ));
    out.push(reply_json(
        "container /unused",
        &container(&mut c, "/unused"),
    ));
    out.push(reply_json("ttl /t 200ms", &ttl(&mut c, "/t", 200)));
    out.push(reply_json("ttl /tk 200ms", &ttl(&mut c, "/tk", 200)));
    out.push(reply_json(
        "ttl /tmax 2^40-1",
        &ttl(&mut c, "/tmax", (1 << 40) - 1),
    ));
    out.push(reply_json("ttl /tbig 2^40", &ttl(&mut c, "/tbig", 1 << 40)));
    if extended {
        out.push(reply_json(
            "create /tk/k",
            &c.create("/tk/k", b"", 0).unwrap(),
        ));
    }
    out.push(reply_json(
        "delete /used/k",
        &c.delete("/used/k", -1).unwrap(),
    ));
    out.push(json!({"step": "/used removed once empty", "gone": gone(&mut c, "/used")}));
    if extended {
        out.push(json!({"step": "/t removed after its ttl", "gone": gone(&mut c, "/t")}));
    }
    // The checker has run since: what it had to leave is still there.
    for p in ["/unused", "/tk", "/tmax"] {
        out.push(reply_json(
            &format!("exists {p}"),
            &c.exists(p, false).unwrap(),
        ));
    }
    if extended {
        out.push(reply_json("delete /tk/k", &c.delete("/tk/k", -1).unwrap()));
        out.push(json!({"step": "/tk removed once empty", "gone": gone(&mut c, "/tk")}));
    }
    out.into_iter().map(|v| v.to_string()).collect()
}

fn differential(extended: bool) {
    let (apache, ours) = std::thread::scope(|s| {
        let a = s.spawn(|| start(Kind::Apache, extended));
        (a.join().unwrap(), start(Kind::Ours, extended))
    });
    let (a, o) = std::thread::scope(|s| {
        let a = s.spawn(|| script(&apache, extended));
        (a.join().unwrap(), script(&ours, extended))
    });
    // The checker's deletes take zxids at times of its own: compare the replies' zxids only
    // up to the first removal.
    let strip = |v: Vec<Value>| -> Vec<Value> {
        let mut seen_removal = false;
        v.into_iter()
            .map(|mut x| {
                if x.get("gone").is_some() {
                    seen_removal = true;
                }
                if seen_removal {
                    if let Some(m) = x.as_object_mut() {
                        m.remove("zxid");
                    }
                }
                x
            })
            .collect()
    };
    diff::assert_same(
        &format!("containers and TTL nodes, extendedTypesEnabled={extended}"),
        &strip(diff::normalise(&a)),
        &strip(diff::normalise(&o)),
    );
}

#[test]
fn containers_and_ttl_nodes_are_removed_like_apache() {
    differential(true);
}

#[test]
fn without_extended_types_ttl_is_unimplemented_and_containers_work_like_apache() {
    differential(false);
}

/// deleteContainer as ZooKeeper 3.9 clients send it (a DeleteContainerRequest). Apache
/// ZooKeeper 3.8 answers BadArguments to any client's deleteContainer, so this runs against
/// ours only, with 3.9's rules: no children, not a session's ephemeral.
#[test]
fn delete_container_from_a_client_as_zookeeper_3_9() {
    let s = start(Kind::Ours, true);
    let mut c = RawClient::connect(s.addr).unwrap();
    let mut jute = Vec::new();
    raw::put_str(&mut jute, "/dc");
    assert_eq!(container(&mut c, "/dc").err, 0);
    assert_eq!(c.create("/dc/k", b"", 0).unwrap().err, 0);
    assert_eq!(c.call(20, &jute).unwrap().err, -111, "NotEmpty");
    assert_eq!(c.delete("/dc/k", -1).unwrap().err, 0);
    assert_eq!(c.call(20, &jute).unwrap().err, 0);
    assert_eq!(c.exists("/dc", false).unwrap().err, -101);
    assert_eq!(c.create("/e", b"", 1).unwrap().err, 0);
    let mut jute = Vec::new();
    raw::put_str(&mut jute, "/e");
    assert_eq!(
        c.call(20, &jute).unwrap().err,
        -103,
        "BadVersion for an ephemeral"
    );
}
