//! The web console: a read-only page on the AdminServer's port, at
//! [`PREFIX`] (`/console`), beyond what Apache ships. It owns the page (HTML,
//! one script, one style sheet, embedded in the binary with `include_str!`:
//! no build step, nothing fetched from elsewhere) and the JSON endpoints the
//! script reads, all under `/console/api/`:
//!
//! ```text
//! GET /console/api/ensemble       every member: role, last zxid, lag behind the leader,
//!                                 connected clients (this server's own view, the others'
//!                                 through their AdminServers' server_stats)
//! GET /console/api/sessions       sessions, their timeouts, expiry, connection, ephemerals
//! GET /console/api/node?path=/a   one znode: Stat, ACL, children, data (when world-readable)
//! GET /console/api/metrics        this server's `monitor` (mntr) figures
//! GET /console/api/metrics?member=N  member N's, through its AdminServer's `monitor`
//! ```
//!
//! The members are the membership in force (`/zookeeper/config`, as the core
//! holds it: a committed reconfig changes it), read again on every call, so the
//! page follows a reconfig without a reload; `version` is the configuration's.
//!
//! Nothing here writes: every figure is read on the core's task through
//! `CoreMsg::Inspect` over the read-only `StatsView`.
//!
//! Why `/console` and not the root: the root and `/commands` stay exactly
//! what Apache's AdminServer answers, so tools that probe them see no
//! difference. Why the server asks its peers rather than the browser: the
//! browser then talks to one origin only (no CORS headers to add on every
//! AdminServer, no mixed origins), and an operator who can reach one admin port
//! (a tunnel, a port-forward) sees the whole ensemble. Peers are asked for
//! Apache's own `server_stats` command, so an Apache peer in a mixed ensemble
//! shows up too.
//!
//! Where each peer's AdminServer listens: `console.adminAddresses`
//! (`1=host:port,2=host:port,...`; as an unknown zoo.cfg key it is the system
//! property `zookeeper.console.adminAddresses`), else the host of its
//! `server.N` line and this server's own `admin.serverPort` (Apache's usual
//! layout: one server per host, the same port everywhere).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use zab_core::records::{perms, Acl};

use super::{reply, Context};
use crate::config::{Config, PeerType};
use crate::core::{CoreMsg, StatsView};

/// Where the console lives on the admin port.
pub const PREFIX: &str = "/console";

/// The system property (zoo.cfg key `console.adminAddresses`) naming the peers' AdminServers.
pub const ADMIN_ADDRESSES_PROP: &str = "zookeeper.console.adminAddresses";

const INDEX_HTML: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");

/// Children listed per node, sessions per answer: the page stays small on a big tree.
pub const MAX_LISTED: usize = 1000;
/// Bytes of a node's data shown.
pub const MAX_DATA_SHOWN: usize = 4096;
/// How long the console waits for a peer's AdminServer.
const PEER_TIMEOUT: Duration = Duration::from_millis(1500);
/// The most of a peer's answer read.
const PEER_MAX_BYTES: usize = 1 << 20;

/// Answer `path` if it is the console's; `None` leaves it to the commands.
pub async fn handle(
    path: &str,
    query: &str,
    ctx: &Arc<Context>,
    core: &mpsc::Sender<CoreMsg>,
) -> Option<Response<Full<Bytes>>> {
    let rest = path.strip_prefix(PREFIX)?;
    let r = match rest {
        "" | "/" | "/index.html" => reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            INDEX_HTML.into(),
        ),
        "/console.js" => reply(
            StatusCode::OK,
            "text/javascript; charset=utf-8",
            SCRIPT.into(),
        ),
        "/console.css" => reply(StatusCode::OK, "text/css; charset=utf-8", STYLE.into()),
        "/api/ensemble" => json_reply(ensemble(ctx, core).await),
        "/api/sessions" => json_reply(inspect(core, sessions).await),
        "/api/metrics" => {
            let args = super::query_args(query);
            let me = ctx.cfg.myid.unwrap_or(0);
            match args.get("member").map(|m| m.parse::<u64>()) {
                None => json_reply(Some(
                    super::run("monitor", BTreeMap::new(), ctx, core).await,
                )),
                Some(Ok(id)) if id == me => json_reply(Some(
                    super::run("monitor", BTreeMap::new(), ctx, core).await,
                )),
                Some(Ok(id)) => member_metrics(id, ctx, core).await,
                Some(Err(_)) => json_status(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "member must be a server id"}),
                ),
            }
        }
        "/api/node" => {
            let args = super::query_args(query);
            let path = args.get("path").cloned().unwrap_or_else(|| "/".into());
            if !path.starts_with('/') {
                return Some(json_status(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "path must start with /"}),
                ));
            }
            match inspect(core, move |v| node(v, &path)).await {
                Some(Some(n)) => json_reply(Some(n)),
                Some(None) => json_status(StatusCode::NOT_FOUND, json!({"error": "no node"})),
                None => json_reply(None),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    };
    Some(r)
}

fn json_status(status: StatusCode, v: Value) -> Response<Full<Bytes>> {
    let mut r = reply(
        status,
        "application/json",
        serde_json::to_string(&v).expect("JSON") + "\n",
    );
    // Figures change every second: no cache may keep them.
    r.headers_mut().insert(
        "Cache-Control",
        hyper::header::HeaderValue::from_static("no-store"),
    );
    r
}

/// `None`: the core is gone (the server is shutting down).
fn json_reply(v: Option<Value>) -> Response<Full<Bytes>> {
    match v {
        Some(v) => json_status(StatusCode::OK, v),
        None => json_status(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "server is shutting down"}),
        ),
    }
}

/// Run `f` on the core's task over its view.
async fn inspect<T, F>(core: &mpsc::Sender<CoreMsg>, f: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce(&StatsView<'_>) -> T + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let job = move |v: &StatsView<'_>| {
        let _ = tx.send(f(v));
    };
    core.send(CoreMsg::Inspect(Box::new(job))).await.ok()?;
    rx.await.ok()
}

/// What the console shows of one server, from its own view or its `server_stats`.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub id: u64,
    pub learner_type: &'static str,
    pub admin: String,
    /// `leader`, `follower`, `observer`, `standalone`, `looking`, `read-only`;
    /// `unreachable` when its AdminServer did not answer.
    pub state: String,
    pub zxid: Option<i64>,
    pub connections: Option<i64>,
    pub outstanding: Option<i64>,
    pub error: Option<String>,
}

/// Each member's AdminServer address: `console.adminAddresses`, else its host and our port.
pub fn admin_addresses(cfg: &Config) -> BTreeMap<u64, String> {
    admin_addresses_of(cfg, &cfg.servers)
}

/// [`admin_addresses`] for the members `servers` (the membership in force).
pub fn admin_addresses_of(
    cfg: &Config,
    servers: &BTreeMap<u64, crate::config::ServerSpec>,
) -> BTreeMap<u64, String> {
    let mut m: BTreeMap<u64, String> = servers
        .values()
        .map(|s| (s.id, format!("{}:{}", s.host, cfg.admin.server_port)))
        .collect();
    if let Some(list) = cfg.prop(ADMIN_ADDRESSES_PROP) {
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match item.split_once('=') {
                Some((id, addr)) if id.trim().parse::<u64>().is_ok() => {
                    m.insert(id.trim().parse().expect("checked"), addr.trim().to_owned());
                }
                _ => {
                    tracing::warn!("console.adminAddresses: {item:?} is not id=host:port; ignored")
                }
            }
        }
    }
    m
}

/// The membership in force (see the module's note), and its version; zoo.cfg's
/// when the core's text cannot be read.
fn membership(cfg: &Config, text: &str) -> (BTreeMap<u64, crate::config::ServerSpec>, Option<u64>) {
    match crate::reconfig::parse_membership(text) {
        Ok((servers, version)) if !servers.is_empty() => (servers, Some(version)),
        _ => (cfg.servers.clone(), None),
    }
}

/// Member `id`'s `monitor`, from its AdminServer.
async fn member_metrics(
    id: u64,
    ctx: &Arc<Context>,
    core: &mpsc::Sender<CoreMsg>,
) -> Response<Full<Bytes>> {
    let cfg = ctx.cfg.clone();
    let Some(text) = inspect(core, |v| v.membership_text()).await else {
        return json_reply(None);
    };
    let (servers, _) = membership(&cfg, &text);
    let Some(addr) = servers
        .contains_key(&id)
        .then(|| admin_addresses_of(&cfg, &servers).remove(&id))
        .flatten()
    else {
        return json_status(StatusCode::NOT_FOUND, json!({"error": "no such member"}));
    };
    let url = format!("{}/monitor", cfg.admin.command_url.trim_end_matches('/'));
    let tls = ctx.peer_tls.as_ref();
    let got = tokio::time::timeout(PEER_TIMEOUT, http_get_json(&addr, &url, tls)).await;
    match got.unwrap_or_else(|_| Err("no answer in time".into())) {
        Ok(v) => json_status(StatusCode::OK, v),
        Err(e) => json_status(StatusCode::BAD_GATEWAY, json!({"error": e})),
    }
}

async fn ensemble(ctx: &Arc<Context>, core: &mpsc::Sender<CoreMsg>) -> Option<Value> {
    let cfg = ctx.cfg.clone();
    let me = cfg.myid.unwrap_or(0);
    let local = SocketAddr::new(cfg.admin.server_address, cfg.admin.server_port);
    let (mine, text) = inspect(core, move |v| {
        let m = Member {
            id: me,
            learner_type: "",
            admin: local.to_string(),
            state: v.mode().to_owned(),
            zxid: Some(v.tree().last_processed_zxid().0),
            connections: Some(v.connection_count() as i64),
            outstanding: Some(v.outstanding() as i64),
            error: None,
        };
        (m, v.membership_text())
    })
    .await?;
    let mut members = Vec::new();
    let mut version = None;
    if cfg.is_standalone() {
        members.push(Member {
            learner_type: "standalone",
            ..mine
        });
    } else {
        let (servers, v) = membership(&cfg, &text);
        version = v;
        let addrs = admin_addresses_of(&cfg, &servers);
        let asks = servers.values().map(|s| {
            let addr = addrs.get(&s.id).cloned().unwrap_or_default();
            let learner_type = match s.peer_type {
                PeerType::Participant => "participant",
                PeerType::Observer => "observer",
            };
            let mine = mine.clone();
            let tls = ctx.peer_tls.clone();
            let url = format!(
                "{}/server_stats",
                cfg.admin.command_url.trim_end_matches('/')
            );
            async move {
                if s.id == me {
                    return Member {
                        learner_type,
                        ..mine
                    };
                }
                let got =
                    tokio::time::timeout(PEER_TIMEOUT, http_get_json(&addr, &url, tls.as_ref()))
                        .await;
                let got = got.unwrap_or_else(|_| Err("no answer in time".into()));
                peer_member(s.id, learner_type, addr, got)
            }
        });
        members = futures::future::join_all(asks).await;
    }
    let lags = lags(&members);
    let list: Vec<Value> = members
        .iter()
        .zip(lags)
        .map(|(m, lag)| {
            json!({
                "id": m.id,
                "this": m.id == me,
                "learner_type": m.learner_type,
                "admin": m.admin,
                "state": m.state,
                "zxid": m.zxid.map(|z| format!("0x{z:x}")),
                "lag": lag,
                "connections": m.connections,
                "outstanding": m.outstanding,
                "error": m.error,
            })
        })
        .collect();
    let version = version.map(|v| format!("{v:x}"));
    Some(json!({"myid": me, "version": version, "servers": list}))
}

/// A peer's entry from its `server_stats` answer (or why there is none).
pub fn peer_member(
    id: u64,
    learner_type: &'static str,
    admin: String,
    got: Result<Value, String>,
) -> Member {
    let mut m = Member {
        id,
        learner_type,
        admin,
        state: "unreachable".into(),
        zxid: None,
        connections: None,
        outstanding: None,
        error: None,
    };
    match got {
        Err(e) => m.error = Some(e),
        Ok(v) => {
            if let Some(e) = v.get("error").and_then(Value::as_str) {
                // Apache's "not currently serving": it is up and looking.
                m.state = "looking".into();
                m.error = Some(e.to_owned());
                return m;
            }
            let s = &v["server_stats"];
            m.state = s["server_state"].as_str().unwrap_or("unknown").to_owned();
            m.zxid = s["last_processed_zxid"].as_i64();
            m.connections = s["num_alive_client_connections"].as_i64();
            m.outstanding = s["outstanding_requests"].as_i64();
        }
    }
    m
}

/// How far each member is behind the leader, in transactions: `None` when
/// there is no leader to compare with or the zxids are of different epochs
/// (a counter difference across epochs means nothing).
pub fn lags(members: &[Member]) -> Vec<Option<i64>> {
    let leader = members
        .iter()
        .find(|m| m.state == "leader" || m.state == "standalone")
        .and_then(|m| m.zxid);
    members
        .iter()
        .map(|m| {
            let (l, z) = (leader?, m.zxid?);
            (l >> 32 == z >> 32).then(|| ((l & 0xffff_ffff) - (z & 0xffff_ffff)).max(0))
        })
        .collect()
}

/// GET `path` from the AdminServer at `addr` (HTTP/1.0, so the answer is the
/// bytes up to the close, never chunked) and parse its JSON; over TLS with
/// `tls` (peers with `admin.forceHttps`, see `super::https::peer_client_config`).
async fn http_get_json(
    addr: &str,
    path: &str,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Value, String> {
    let s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let buf = match tls {
        None => exchange(s, addr, path).await?,
        Some(config) => {
            let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let name = rustls_pki_types::ServerName::try_from(host.to_owned())
                .map_err(|e| format!("{addr}: {e}"))?;
            let s = tokio_rustls::TlsConnector::from(config.clone())
                .connect(name, s)
                .await
                .map_err(|e| format!("{addr}: TLS handshake failed: {e}"))?;
            exchange(s, addr, path).await?
        }
    };
    parse_http_json(&buf).map_err(|e| format!("{addr}: {e}"))
}

/// Send the request for `path` and read the answer up to the close.
async fn exchange<S>(mut s: S, addr: &str, path: &str) -> Result<Vec<u8>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut buf = Vec::new();
    match (&mut s)
        .take(PEER_MAX_BYTES as u64)
        .read_to_end(&mut buf)
        .await
    {
        Ok(_) => Ok(buf),
        // A TLS peer that closes without close_notify: the answer is what came.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => Ok(buf),
        Err(e) => Err(format!("{addr}: {e}")),
    }
}

/// The JSON body of a complete HTTP answer with status 200.
pub fn parse_http_json(buf: &[u8]) -> Result<Value, String> {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no complete HTTP answer")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("answered {status:?}"));
    }
    serde_json::from_slice(&buf[end + 4..]).map_err(|e| format!("not JSON: {e}"))
}

fn sessions(v: &StatsView<'_>) -> Value {
    let mut conn_of: BTreeMap<i64, String> = BTreeMap::new();
    for c in v.connection_infos() {
        if c.session_id != 0 {
            conn_of.insert(c.session_id, c.addr.to_string());
        }
    }
    let all = v.sessions();
    let total = all.len();
    let list: Vec<Value> = all
        .into_iter()
        .take(MAX_LISTED)
        .map(|(id, timeout_ms, expires_ms)| {
            let eph: Vec<&String> = v.tree().ephemerals(id).collect();
            json!({
                "id": format!("0x{:x}", id as u64),
                "timeout_ms": timeout_ms,
                "expires_ms": expires_ms,
                "connection": conn_of.get(&id),
                "ephemerals": eph,
            })
        })
        .collect();
    json!({"total": total, "sessions": list, "now_ms": crate::core::now_ms()})
}

/// One znode as the tree browser shows it; `None` if there is none at `path`.
pub fn node(v: &StatsView<'_>, path: &str) -> Option<Value> {
    node_json(v.tree(), path)
}

/// [`node`] over a tree.
pub fn node_json(tree: &crate::tree::DataTree, path: &str) -> Option<Value> {
    let n = tree.get(path)?;
    let st = n.stat();
    let acl: &[Acl] = n.acl();
    let mut children: Vec<&str> = n.children().collect();
    children.sort_unstable();
    let total = children.len();
    children.truncate(MAX_LISTED);
    let hex = |z: i64| format!("0x{z:x}");
    let mut stat = Map::new();
    stat.insert("czxid".into(), json!(hex(st.czxid)));
    stat.insert("mzxid".into(), json!(hex(st.mzxid)));
    stat.insert("pzxid".into(), json!(hex(st.pzxid)));
    stat.insert("ctime".into(), json!(st.ctime));
    stat.insert("mtime".into(), json!(st.mtime));
    stat.insert("version".into(), json!(st.version));
    stat.insert("cversion".into(), json!(st.cversion));
    stat.insert("aversion".into(), json!(st.aversion));
    stat.insert(
        "ephemeralOwner".into(),
        json!(hex(st.ephemeral_owner as u64 as i64)),
    );
    stat.insert("dataLength".into(), json!(st.data_length));
    stat.insert("numChildren".into(), json!(st.num_children));
    Some(json!({
        "path": path,
        "stat": Value::Object(stat),
        "acl": acl.iter().map(acl_json).collect::<Vec<_>>(),
        "children": children,
        "children_total": total,
        "data": data_json(acl, n.data_opt()),
    }))
}

/// An ACL entry as zkCli's getAcl shows it; a digest's hash is withheld (the
/// console answers anyone who reaches the admin port).
fn acl_json(a: &Acl) -> Value {
    let id = if a.id.scheme == "digest" {
        match a.id.id.split_once(':') {
            Some((user, _)) => format!("{user}:(hash withheld)"),
            None => "(withheld)".into(),
        }
    } else {
        a.id.id.clone()
    };
    json!({"scheme": a.id.scheme, "id": id, "perms": perms_text(a.perms)})
}

/// `cdrwa` as zkCli prints permissions.
pub fn perms_text(p: i32) -> String {
    [
        (perms::CREATE, 'c'),
        (perms::DELETE, 'd'),
        (perms::READ, 'r'),
        (perms::WRITE, 'w'),
        (perms::ADMIN, 'a'),
    ]
    .iter()
    .filter(|(bit, _)| p & bit != 0)
    .map(|(_, c)| *c)
    .collect()
}

/// The data as an anonymous client may read it: only where `world:anyone`
/// has READ (the console has no identity of its own), at most
/// [`MAX_DATA_SHOWN`] bytes, as text when it is UTF-8, else as hex.
fn data_json(acl: &[Acl], data: Option<&[u8]>) -> Value {
    let readable = acl
        .iter()
        .any(|a| a.id.scheme == "world" && a.id.id == "anyone" && a.perms & perms::READ != 0);
    if !readable {
        return json!({"readable": false});
    }
    let Some(d) = data else {
        return json!({"readable": true, "null": true});
    };
    let shown = &d[..d.len().min(MAX_DATA_SHOWN)];
    let (encoding, text) = match std::str::from_utf8(shown) {
        Ok(t) => ("utf8", t.to_owned()),
        Err(_) => (
            "hex",
            shown.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        ),
    };
    json!({
        "readable": true,
        "null": false,
        "encoding": encoding,
        "text": text,
        "truncated": d.len() > shown.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zab_core::records::Id;

    #[test]
    fn permissions_print_as_zkcli_prints_them() {
        assert_eq!(perms_text(perms::ALL), "cdrwa");
        assert_eq!(perms_text(perms::READ | perms::ADMIN), "ra");
        assert_eq!(perms_text(0), "");
    }

    #[test]
    fn data_is_shown_only_where_world_may_read_it() {
        let open = Acl::open_unsafe();
        let v = data_json(&open, Some(b"hello"));
        assert_eq!(v["text"], "hello");
        assert_eq!(v["encoding"], "utf8");
        assert_eq!(v["truncated"], false);
        assert_eq!(data_json(&open, None)["null"], true);
        let bin = data_json(&open, Some(&[0xff, 0x00]));
        assert_eq!(
            (bin["encoding"].as_str(), bin["text"].as_str()),
            (Some("hex"), Some("ff00"))
        );
        let big = vec![b'x'; MAX_DATA_SHOWN + 10];
        let v = data_json(&open, Some(&big));
        assert_eq!(v["truncated"], true);
        assert_eq!(v["text"].as_str().unwrap().len(), MAX_DATA_SHOWN);
        let private = vec![Acl {
            perms: perms::ALL,
            id: Id::new("digest", "alice:c2VjcmV0aGFzaA=="),
        }];
        assert_eq!(
            data_json(&private, Some(b"secret")),
            json!({"readable": false})
        );
        assert_eq!(acl_json(&private[0])["id"], "alice:(hash withheld)");
        assert_eq!(
            acl_json(&open[0]),
            json!({"scheme": "world", "id": "anyone", "perms": "cdrwa"})
        );
    }

    fn create(tree: &mut crate::tree::DataTree, zxid: i64, path: &str, acl: Vec<Acl>, owner: i64) {
        use zab_core::txn::{CreateTxn, Txn, TxnBody, TxnHeader};
        let txn = Txn {
            header: TxnHeader {
                client_id: owner,
                cxid: 1,
                zxid: zab_core::Zxid(zxid),
                time: 1000,
                txn_type: zab_core::proto::op::CREATE,
            },
            body: TxnBody::Create(CreateTxn {
                path: path.into(),
                data: Some(bytes::Bytes::from_static(b"d")),
                acl,
                ephemeral: owner != 0,
                parent_cversion: zxid as i32,
            }),
            digest: None,
        };
        tree.apply(&txn, &mut Vec::new());
    }

    #[test]
    fn a_node_shows_its_stat_acl_and_sorted_children() {
        let mut tree = crate::tree::DataTree::new(false);
        assert!(node_json(&tree, "/nope").is_none());
        create(&mut tree, 1, "/app", Acl::open_unsafe(), 0);
        create(&mut tree, 2, "/app/b", Acl::read_unsafe(), 0);
        create(&mut tree, 3, "/app/a", Acl::open_unsafe(), 0x77);
        let app = node_json(&tree, "/app").unwrap();
        assert_eq!(app["path"], "/app");
        assert_eq!(app["children"], json!(["a", "b"]));
        assert_eq!(app["children_total"], 2);
        assert_eq!(app["stat"]["czxid"], "0x1");
        assert_eq!(app["stat"]["pzxid"], "0x3");
        assert_eq!(app["stat"]["numChildren"], 2);
        assert_eq!(app["stat"]["dataLength"], 1);
        assert_eq!(app["data"]["text"], "d");
        let b = node_json(&tree, "/app/b").unwrap();
        assert_eq!(
            b["acl"],
            json!([{"scheme": "world", "id": "anyone", "perms": "r"}])
        );
        assert_eq!(b["children"], json!([]));
        let a = node_json(&tree, "/app/a").unwrap();
        assert_eq!(a["stat"]["ephemeralOwner"], "0x77");
        let root = node_json(&tree, "/").unwrap();
        assert_eq!(root["children"], json!(["app", "zookeeper"]));
    }

    #[test]
    fn the_lag_is_counted_in_the_leader_s_epoch_only() {
        let m = |id, state: &str, zxid: Option<i64>| Member {
            id,
            learner_type: "participant",
            admin: String::new(),
            state: state.into(),
            zxid,
            connections: None,
            outstanding: None,
            error: None,
        };
        let ms = [
            m(1, "follower", Some(0x2_0000_0005)),
            m(2, "leader", Some(0x2_0000_0009)),
            m(3, "follower", Some(0x1_0000_0100)),
            m(4, "unreachable", None),
        ];
        assert_eq!(lags(&ms), vec![Some(4), Some(0), None, None]);
        assert_eq!(lags(&ms[..1]), vec![None]);
    }

    #[test]
    fn a_peer_s_server_stats_becomes_its_entry() {
        let body = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"command\":\"server_stats\",\"error\":null,\"server_stats\":{\"server_state\":\"follower\",\"last_processed_zxid\":4294967299,\"num_alive_client_connections\":2,\"outstanding_requests\":0}}";
        let v = parse_http_json(body).unwrap();
        let m = peer_member(2, "participant", "h:1".into(), Ok(v));
        assert_eq!(m.state, "follower");
        assert_eq!(m.zxid, Some(0x1_0000_0003));
        assert_eq!(m.connections, Some(2));
        assert!(parse_http_json(b"HTTP/1.1 404 Not Found\r\n\r\nnot found").is_err());
        assert!(parse_http_json(b"HTTP/1.1 200 OK\r\n").is_err());
        let looking =
            json!({"command": "server_stats", "error": crate::admin::commands::NOT_SERVING});
        assert_eq!(
            peer_member(3, "participant", String::new(), Ok(looking)).state,
            "looking"
        );
        let down = peer_member(3, "observer", String::new(), Err("refused".into()));
        assert_eq!(
            (down.state.as_str(), down.error.as_deref()),
            ("unreachable", Some("refused"))
        );
    }

    #[test]
    fn admin_addresses_default_to_each_host_and_our_port() {
        let text = "dataDir=/tmp/x\nclientPort=2181\nadmin.serverPort=9090\n\
                    server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\n\
                    console.adminAddresses=2=127.0.0.1:8082, 3=127.0.0.1:8083,bogus\n";
        let cfg = Config::parse(text, "zoo.cfg").unwrap();
        let m = admin_addresses(&cfg);
        assert_eq!(m[&1], "a:9090");
        assert_eq!(m[&2], "127.0.0.1:8082");
        assert_eq!(m[&3], "127.0.0.1:8083");
    }

    #[test]
    fn members_come_from_the_membership_in_force() {
        let text = "dataDir=/tmp/x\nclientPort=2181\nadmin.serverPort=9090\n\
                    server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\n\
                    console.adminAddresses=2=127.0.0.1:8082\n";
        let cfg = Config::parse(text, "zoo.cfg").unwrap();
        // A reconfig removed 3 and added 4 (an observer).
        let now = "server.1=a:1:2:participant;0.0.0.0:2181\n\
                   server.2=b:1:2:participant;0.0.0.0:2181\n\
                   server.4=d:1:2:observer;0.0.0.0:2181\nversion=10000000a";
        let (servers, version) = membership(&cfg, now);
        assert_eq!(servers.keys().copied().collect::<Vec<_>>(), [1, 2, 4]);
        assert_eq!(servers[&4].peer_type, PeerType::Observer);
        assert_eq!(version, Some(0x1_0000_000a));
        let m = admin_addresses_of(&cfg, &servers);
        assert_eq!(m[&2], "127.0.0.1:8082");
        assert_eq!(m[&4], "d:9090");
        assert!(!m.contains_key(&3));
        // Unreadable: zoo.cfg's.
        let (servers, version) = membership(&cfg, "garbage");
        assert_eq!(servers.len(), 3);
        assert_eq!(version, None);
    }
}
