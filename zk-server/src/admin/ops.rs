//! The AdminServer's operations commands, beside Apache 3.8's 26 read-mostly ones:
//!
//! - Apache 3.9's `snapshot` (`snap`, GET) and `restore` (`rest`, POST): a backup is
//!   one HTTP call, and so is putting it back (ZOOKEEPER-4570). Both need an
//!   `Authorization: <scheme> [<auth>]` header whose ids the root's ACL grants ALL
//!   (`digest user:password`, `ip`, or `x509` over HTTPS with a client
//!   certificate, see [`super::https::x509_ids`]), each
//!   may be switched off (`admin.snapshot.enabled`, `admin.restore.enabled`) and
//!   each is rate limited (`admin.rateLimiterIntervalInMS`, 5 minutes by default).
//! - ClickHouse Keeper's `csnp` (here also `create_snapshot`: a snapshot on disk
//!   now, same authorization as `snapshot`), `lgif` (`log_info`: where the log
//!   and the snapshots stand), `ydld` (`yield_leadership`: a leader hands over,
//!   same authorization) and `rqld` (`request_leadership`: a follower asks the leader
//!   to hand over to it, zab-core's `handover`; same authorization).
//!
//! ```text
//! GET  /commands/snapshot[?streaming=true|false]
//!      200, headers last_zxid: 0x<hex>, snapshot_size: <bytes>,
//!      body: the snapshot file (application/octet-stream), or with
//!      streaming=false the JSON {"command": "snapshot", "error": null}
//! POST /commands/restore   body: a snapshot file as `snapshot` streams it
//!      200 {"command": "restore", "error": null, "last_zxid": <long>}
//! refusals: 401 no Authorization / not authenticated, 403 not authorized,
//!      503 switched off, 429 rate limited, 500 failed; each a JSON answer
//! ```
//!
//! The snapshot is serialized on the core's task, so it is the exact committed
//! state at its zxid (Apache's is fuzzy), in the layout Apache 3.9 writes: the
//! database, the digest (unless `zookeeper.digest.enabled=false`), the last processed
//! zxid. Apache 3.8 reads it too (it stops after the digest).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use zab_core::records::{perms, Id};
use zab_core::Zxid;
use zab_storage::apache_snapshot::{
    apache_digest, decode_apache_snapshot_parts, encode_apache_snapshot_with, Trailer, ZxidDigest,
    DIGEST_VERSION,
};

use super::commands::{response, NOT_SERVING};
use super::https::Peer;
use super::Context;
use crate::auth::{self, AuthOutcome};
use crate::config::Config;
use crate::core::{CoreMsg, StatsView};

/// The command names this module answers, primary name first.
pub const COMMANDS: &[&[&str]] = &[
    &["snapshot", "snap"],
    &["restore", "rest"],
    &["create_snapshot", "csnp"],
    &["log_info", "lgif"],
    &["yield_leadership", "ydld"],
    &["request_leadership", "rqld"],
];

/// The largest restore body read (a snapshot is held in memory once read).
pub const MAX_RESTORE_BYTES: usize = 1 << 31;

/// The primary name of the command `name` names, if it is one of ours.
pub fn lookup(name: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .find(|names| names.contains(&name))
        .map(|names| names[0])
}

/// The address the request came from, put in its extensions by the HTTP loop.
#[derive(Clone, Copy, Debug)]
pub struct RemoteAddr(pub SocketAddr);

/// Apache's `RateLimiter(1, interval)`: one call, then one more once the interval
/// has passed since the last reset.
pub struct RateLimiter {
    interval: Duration,
    state: Mutex<(Instant, u32)>,
}

impl RateLimiter {
    pub fn new(interval: Duration) -> RateLimiter {
        RateLimiter {
            interval,
            state: Mutex::new((Instant::now(), 1)),
        }
    }

    pub fn allow(&self) -> bool {
        let now = Instant::now();
        let mut s = self.state.lock().expect("rate limiter lock");
        if now > s.0 + self.interval {
            *s = (now, 1);
        }
        if s.1 > 0 {
            s.1 -= 1;
            true
        } else {
            false
        }
    }
}

/// The two limiters (each command has its own, as in Apache).
pub struct Limits {
    snapshot: RateLimiter,
    restore: RateLimiter,
}

impl Limits {
    pub fn for_config(cfg: &Config) -> Limits {
        let interval = Duration::from_millis(rate_limiter_interval_ms(cfg));
        Limits {
            snapshot: RateLimiter::new(interval),
            restore: RateLimiter::new(interval),
        }
    }
}

/// `zookeeper.admin.rateLimiterIntervalInMS`, 300000 by default.
fn rate_limiter_interval_ms(cfg: &Config) -> u64 {
    const DEFAULT: u64 = 300_000;
    match cfg.prop("zookeeper.admin.rateLimiterIntervalInMS") {
        None => DEFAULT,
        Some(v) => v.trim().parse().unwrap_or_else(|_| {
            tracing::warn!("admin.rateLimiterIntervalInMS={v:?} is not a number; using {DEFAULT}");
            DEFAULT
        }),
    }
}

/// Java's `Boolean.parseBoolean(System.getProperty(name, "true"))`.
fn flag(cfg: &Config, name: &str) -> bool {
    cfg.prop(name)
        .is_none_or(|v| v.eq_ignore_ascii_case("true"))
}

type Answer = Response<Full<Bytes>>;

fn json_answer(status: StatusCode, v: &Value) -> Answer {
    let text = serde_json::to_string_pretty(v).expect("JSON") + "\n";
    super::reply(status, "application/json", text)
}

fn refuse(status: StatusCode, name: &str, error: Option<&str>) -> Answer {
    json_answer(
        status,
        &response(name, BTreeMap::new(), error.map(str::to_owned)),
    )
}

/// Answer the request for one of [`COMMANDS`] (`primary` its primary name,
/// `asked` the name in the URL).
pub async fn handle(
    primary: &'static str,
    asked: &str,
    req: Request<Incoming>,
    ctx: &Arc<Context>,
    core: &mpsc::Sender<CoreMsg>,
) -> Answer {
    let post = primary == "restore";
    let method_ok = if post {
        req.method() == Method::POST
    } else {
        req.method() == Method::GET || req.method() == Method::HEAD
    };
    if !method_ok {
        let allowed = if post { "POST only\n" } else { "GET only\n" };
        return super::reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", allowed.into());
    }
    let cfg = &ctx.cfg;
    if primary == "log_info" {
        let text = inspect(core, |v| log_info(v).into_iter().collect::<Vec<_>>()).await;
        return match text {
            None => refuse(StatusCode::OK, asked, Some("server is shutting down")),
            Some(lines) => {
                let data = lines.into_iter().map(|(k, v)| (k, json!(v))).collect();
                json_answer(StatusCode::OK, &response(primary, data, None))
            }
        };
    }
    // Apache's order: a serving server, then authentication and authorization,
    // then the command's own checks.
    match inspect(core, |v| v.serving()).await {
        None => return refuse(StatusCode::OK, asked, Some("server is shutting down")),
        Some(false) => return refuse(StatusCode::OK, asked, Some(NOT_SERVING)),
        Some(true) => {}
    }
    let remote = req
        .extensions()
        .get::<RemoteAddr>()
        .map(|r| r.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let header = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned());
    let ids = match header {
        None => {
            tracing::warn!("admin {asked}: auth info is missing");
            return refuse(
                StatusCode::UNAUTHORIZED,
                asked,
                Some("Auth info is missing for the command"),
            );
        }
        Some(h) => match authenticate(&h, cfg, remote, req.extensions().get::<Peer>()) {
            Some(ids) => ids,
            None => {
                tracing::warn!("admin {asked} from {remote}: not authenticated");
                return refuse(StatusCode::UNAUTHORIZED, asked, Some("Not authenticated"));
            }
        },
    };
    let verdict = inspect(core, move |v| {
        if !v.serving() {
            return Err(false);
        }
        let root = v.tree().get("/").map(|n| n.acl().acl.clone());
        let acl = root.unwrap_or_default();
        // Every bit of ALL must be granted, as Apache's handleAuthorization checks them.
        for bit in 0..5 {
            if auth::check_acl(&acl, 1 << bit & perms::ALL, &ids).is_err() {
                return Err(true);
            }
        }
        Ok(())
    })
    .await;
    match verdict {
        None => return refuse(StatusCode::OK, asked, Some("server is shutting down")),
        Some(Err(false)) => return refuse(StatusCode::OK, asked, Some(NOT_SERVING)),
        Some(Err(true)) => {
            tracing::warn!("admin {asked} from {remote}: not authorized");
            return refuse(StatusCode::FORBIDDEN, asked, Some("Not authorized"));
        }
        Some(Ok(())) => {}
    }
    match primary {
        "snapshot" => snapshot(req, ctx, core).await,
        "restore" => restore(req, ctx, core).await,
        "create_snapshot" => create_snapshot(core).await,
        "yield_leadership" => {
            const NAME: &str = "yield_leadership";
            match yield_leadership(core).await {
                None => refuse(StatusCode::OK, NAME, Some("server is shutting down")),
                Some(false) => refuse(StatusCode::OK, NAME, Some(YDLD_NOT_LEADER)),
                Some(true) => json_answer(StatusCode::OK, &response(NAME, BTreeMap::new(), None)),
            }
        }
        "request_leadership" => {
            const NAME: &str = "request_leadership";
            let (sent, text) = request_leadership(core).await;
            let mut extra = BTreeMap::new();
            extra.insert("answer".to_owned(), Value::from(text.clone()));
            let error = (!sent).then(|| text.clone());
            json_answer(StatusCode::OK, &response(NAME, extra, error))
        }
        other => unreachable!("admin command {other} has no body"),
    }
}

/// Apache's `handleAuthentication` over an `Authorization` header: `<scheme>` or
/// `<scheme> <auth>`; the ids, or `None` when not authenticated.
fn authenticate(
    header: &str,
    cfg: &Config,
    remote: IpAddr,
    peer: Option<&Peer>,
) -> Option<Vec<Id>> {
    // Java's split(" "): trailing empty parts dropped.
    let mut parts: Vec<&str> = header.split(' ').collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    if parts.is_empty() || parts.len() > 2 {
        return None;
    }
    let scheme = parts[0];
    let auth = parts.get(1);
    match scheme {
        // Digest needs its user:password (Apache's provider fails without it).
        "digest" => {
            let auth = auth?;
            match auth::authenticate(
                "digest",
                auth.as_bytes(),
                cfg.super_digest.as_deref(),
                remote,
            ) {
                AuthOutcome::Added(ids) if !ids.is_empty() => Some(ids),
                _ => None,
            }
        }
        "ip" => Some(vec![Id::new("ip", &remote.to_string())]),
        // The certificate of the HTTPS connection; an <auth> part is ignored, as
        // Apache's provider ignores it.
        "x509" => match super::https::x509_ids(cfg, peer) {
            Ok(ids) if !ids.is_empty() => Some(ids),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!("admin: x509 authentication from {remote} failed: {e}");
                None
            }
        },
        _ => None,
    }
}

/// Run `f` over the core's view on its task; `None` when the core is gone.
async fn inspect<T: Send + 'static>(
    core: &mpsc::Sender<CoreMsg>,
    f: impl FnOnce(&StatsView<'_>) -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    let run = move |v: &StatsView<'_>| {
        let _ = tx.send(f(v));
    };
    core.send(CoreMsg::Inspect(Box::new(run))).await.ok()?;
    rx.await.ok()
}

/// `zookeeper.serializeLastProcessedZxid.enabled`: both commands need it (3.9).
fn needs_last_zxid(ctx: &Context, name: &str) -> Option<Answer> {
    if flag(&ctx.cfg, "zookeeper.serializeLastProcessedZxid.enabled") {
        return None;
    }
    tracing::warn!("admin {name}: needs serializeLastProcessedZxid.enabled=true");
    Some(refuse(StatusCode::INTERNAL_SERVER_ERROR, name, None))
}

async fn snapshot(
    req: Request<Incoming>,
    ctx: &Arc<Context>,
    core: &mpsc::Sender<CoreMsg>,
) -> Answer {
    const NAME: &str = "snapshot";
    if !flag(&ctx.cfg, "zookeeper.admin.snapshot.enabled") {
        tracing::warn!("admin snapshot: switched off (admin.snapshot.enabled)");
        return refuse(StatusCode::SERVICE_UNAVAILABLE, NAME, None);
    }
    if let Some(a) = needs_last_zxid(ctx, NAME) {
        return a;
    }
    if !ctx.ops.snapshot.allow() {
        tracing::warn!("admin snapshot: rate limited");
        return refuse(StatusCode::TOO_MANY_REQUESTS, NAME, None);
    }
    let kwargs = super::query_args(req.uri().query().unwrap_or(""));
    let streaming = kwargs
        .get("streaming")
        .is_none_or(|v| v.eq_ignore_ascii_case("true"));
    let started = Instant::now();
    // Serialized on the core's task: exactly the state at the tree's zxid.
    let Some((zxid, db)) = inspect(core, |v| {
        (v.tree().last_processed_zxid(), v.serialized_db())
    })
    .await
    else {
        return refuse(StatusCode::OK, NAME, Some("server is shutting down"));
    };
    let digest = ctx.cfg.digest_enabled();
    let max_field = ctx.cfg.jute_max_buffer + (1 << 16);
    let file = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let digest = match digest {
            false => None,
            true => Some(ZxidDigest {
                zxid,
                version: DIGEST_VERSION,
                digest: apache_digest(&db, max_field).map_err(|e| e.to_string())?,
            }),
        };
        let trailer = Trailer {
            digest,
            last_processed_zxid: Some(zxid),
        };
        Ok(encode_apache_snapshot_with(&db, &trailer))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    let file = match file {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!("admin snapshot failed: {e}");
            return refuse(StatusCode::INTERNAL_SERVER_ERROR, NAME, Some(&e));
        }
    };
    tracing::info!(
        "admin snapshot at zxid {zxid}: {} bytes in {} ms",
        file.len(),
        started.elapsed().as_millis()
    );
    let size = file.len().to_string();
    let last = format!("0x{:x}", zxid.0);
    let mut answer = if streaming {
        Response::builder()
            .status(StatusCode::OK)
            .header("Content-Type", "application/octet-stream")
            .body(Full::new(Bytes::from(file)))
            .expect("a valid response")
    } else {
        json_answer(StatusCode::OK, &response(NAME, BTreeMap::new(), None))
    };
    let h = answer.headers_mut();
    h.insert("last_zxid", last.parse().expect("a header value"));
    h.insert("snapshot_size", size.parse().expect("a header value"));
    answer
}

/// A restore body: Apache's snapshot file, plain (as Apache reads it) or in
/// snappy-java's stream (as Apache's `.snappy` files are).
fn decompress(b: Bytes) -> Result<Bytes, String> {
    if b.starts_with(&zab_storage::snappy_stream::MAGIC) {
        return zab_storage::snappy_stream::decode(&b)
            .map(Bytes::from)
            .map_err(|e| format!("snappy at byte {}: {}", e.offset, e.what));
    }
    Ok(b)
}

/// The checked database body of a restore request and the zxid it is at.
fn check_backup(b: &[u8], max_field: usize) -> Result<(Vec<u8>, Zxid), String> {
    let what = Path::new("the restore request's body");
    let d = decode_apache_snapshot_parts(what, b, max_field).map_err(|e| e.to_string())?;
    // 3.9's trailer names the zxid; a 3.8 file only by its digest's.
    let zxid = d
        .trailer
        .last_processed_zxid
        .or(d.trailer.digest.map(|g| g.zxid))
        .unwrap_or(Zxid(0));
    if let Some(g) = d.trailer.digest {
        if g.zxid == zxid && g.zxid.0 > 0 && g.version == DIGEST_VERSION {
            let ours = apache_digest(d.body, max_field).map_err(|e| e.to_string())?;
            if ours != g.digest {
                return Err(format!(
                    "digest mismatch at zxid {zxid}: stored {:#x}, the tree's {ours:#x}",
                    g.digest
                ));
            }
        }
    }
    Ok((d.body.to_vec(), zxid))
}

async fn restore(
    req: Request<Incoming>,
    ctx: &Arc<Context>,
    core: &mpsc::Sender<CoreMsg>,
) -> Answer {
    const NAME: &str = "restore";
    if !flag(&ctx.cfg, "zookeeper.admin.restore.enabled") {
        tracing::warn!("admin restore: switched off (admin.restore.enabled)");
        return refuse(StatusCode::SERVICE_UNAVAILABLE, NAME, None);
    }
    if let Some(a) = needs_last_zxid(ctx, NAME) {
        return a;
    }
    if !ctx.ops.restore.allow() {
        tracing::warn!("admin restore: rate limited");
        return refuse(StatusCode::TOO_MANY_REQUESTS, NAME, None);
    }
    let body = match Limited::new(req.into_body(), MAX_RESTORE_BYTES)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            tracing::warn!("admin restore: reading the body: {e}");
            return refuse(StatusCode::BAD_REQUEST, NAME, Some(&e.to_string()));
        }
    };
    if body.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            NAME,
            Some("no snapshot in the body"),
        );
    }
    let max_field = ctx.cfg.jute_max_buffer + (1 << 16);
    let checked = tokio::task::spawn_blocking(move || check_backup(&decompress(body)?, max_field))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
    let (db, zxid) = match checked {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!("admin restore refused: {e}");
            return refuse(StatusCode::INTERNAL_SERVER_ERROR, NAME, Some(&e));
        }
    };
    let (tx, rx) = oneshot::channel();
    let msg = CoreMsg::Restore {
        body: db,
        zxid,
        reply: tx,
    };
    if core.send(msg).await.is_err() {
        return refuse(StatusCode::OK, NAME, Some("server is shutting down"));
    }
    match rx.await {
        Ok(Ok(_)) => {
            tracing::info!("admin restore: restored the backup at zxid {zxid}");
            let mut data = BTreeMap::new();
            data.insert("last_zxid".to_owned(), json!(zxid.0));
            json_answer(StatusCode::OK, &response(NAME, data, None))
        }
        Ok(Err(e)) => {
            tracing::warn!("admin restore failed: {e}");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, NAME, Some(&e))
        }
        Err(_) => refuse(StatusCode::OK, NAME, Some("server is shutting down")),
    }
}

/// Ask the core for a snapshot now: its zxid, or `None` when one is being written.
pub async fn take_snapshot(core: &mpsc::Sender<CoreMsg>) -> Option<Option<Zxid>> {
    let (tx, rx) = oneshot::channel();
    core.send(CoreMsg::TakeSnapshot(tx)).await.ok()?;
    rx.await.ok()
}

/// ClickHouse Keeper's answer to `ydld`.
pub const YDLD_SENT: &str = "Sent yield leadership request to leader.";
/// Ours when the server asked does not lead (ClickHouse's answers as above, and does nothing).
pub const YDLD_NOT_LEADER: &str = "Not the leader: only the leader can yield leadership.";

/// Ask the core to hand leadership over: whether it leads (and so yields).
pub async fn yield_leadership(core: &mpsc::Sender<CoreMsg>) -> Option<bool> {
    let (tx, rx) = oneshot::channel();
    core.send(CoreMsg::YieldLeadership(tx)).await.ok()?;
    rx.await.ok()
}

/// ClickHouse Keeper's answer to `rqld` when the request went out (or this server leads).
pub const RQLD_SENT: &str = "Sent leadership request to leader.";
/// ClickHouse Keeper's answer when it did not; ours adds why.
pub const RQLD_FAILED: &str = "Failed to send leadership request to leader.";

/// How long `rqld` waits for the leader's answer.
const RQLD_ANSWER_WAIT: Duration = Duration::from_secs(10);

/// `rqld` here: whether the request went out (ClickHouse's "sent"), and the answer
/// text: ClickHouse's sentence first (scripts grep for it), then what happened.
pub async fn request_leadership(core: &mpsc::Sender<CoreMsg>) -> (bool, String) {
    use zab_core::peer::RqldAnswer;
    use zab_core::wire::HandOverOutcome;
    let (tx, rx) = oneshot::channel();
    if core.send(CoreMsg::RequestLeadership(tx)).await.is_err() {
        return (false, format!("{RQLD_FAILED} The server is shutting down."));
    }
    let answer = match tokio::time::timeout(RQLD_ANSWER_WAIT, rx).await {
        Err(_) => {
            return (
                false,
                format!(
                    "{RQLD_FAILED} No answer from the leader within {} s.",
                    RQLD_ANSWER_WAIT.as_secs()
                ),
            )
        }
        Ok(Err(_)) => {
            return (
                false,
                format!("{RQLD_FAILED} This server is not a member of an ensemble."),
            )
        }
        Ok(Ok(a)) => a,
    };
    let (sent, why) = match answer {
        RqldAnswer::AlreadyLeader => (true, "This server is the leader already.".to_owned()),
        RqldAnswer::Leader(HandOverOutcome::Preferred) => (
            true,
            "The leader hands over to this server once it has every proposal.".to_owned(),
        ),
        RqldAnswer::Leader(HandOverOutcome::PlainYield) => (
            true,
            "Some voter is an Apache ZooKeeper server, which knows no preference: the \
             leader yields as with ydld and any up-to-date member may take over."
                .to_owned(),
        ),
        RqldAnswer::Leader(HandOverOutcome::NotUpToDate) => (
            false,
            "This server did not catch up with the leader within syncLimit; the leader \
             goes on leading."
                .to_owned(),
        ),
        RqldAnswer::Leader(HandOverOutcome::Refused) => (
            false,
            "The leader refused: this server is not a synced voter, or a hand-over is \
             already under way."
                .to_owned(),
        ),
        RqldAnswer::NotFollowing => (
            false,
            "This server is not a synced follower (looking, observing or syncing).".to_owned(),
        ),
        RqldAnswer::LeaderNotZkRs(l) => (
            false,
            format!(
                "The leader (server {l}) is an Apache ZooKeeper server and knows no such \
                 request; run ydld on it instead for a hand-over to any up-to-date member."
            ),
        ),
    };
    tracing::info!("rqld: {why}");
    let head = if sent { RQLD_SENT } else { RQLD_FAILED };
    (sent, format!("{head} {why}"))
}

/// ClickHouse Keeper's answer when no snapshot could be started.
pub const CSNP_FAILED: &str = "Failed to schedule snapshot creation task.";

async fn create_snapshot(core: &mpsc::Sender<CoreMsg>) -> Answer {
    const NAME: &str = "create_snapshot";
    match take_snapshot(core).await {
        None => refuse(StatusCode::OK, NAME, Some("server is shutting down")),
        Some(None) => refuse(StatusCode::INTERNAL_SERVER_ERROR, NAME, Some(CSNP_FAILED)),
        Some(Some(z)) => {
            let mut data = BTreeMap::new();
            data.insert("snapshot_zxid".to_owned(), json!(z.0));
            json_answer(StatusCode::OK, &response(NAME, data, None))
        }
    }
}

/// `lgif`: ClickHouse Keeper's log figures, in ZAB's terms: an index is a zxid
/// (as a number), a term its epoch. The log is the files on disk; committed is
/// what the tree has applied (a follower does not know the leader's further).
pub fn log_info(v: &StatsView<'_>) -> Vec<(String, i64)> {
    let cfg = v.cfg();
    let names = |dir: &Path, prefix: &str| -> Vec<i64> {
        let mut z: Vec<i64> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let n = e.file_name();
                let hex = n.to_str()?.strip_prefix(prefix)?.to_owned();
                let hex = hex.split('.').next().unwrap_or("").to_owned();
                i64::from_str_radix(&hex, 16).ok()
            })
            .collect();
        z.sort();
        z
    };
    let logs = names(&crate::persist::log_dir(cfg), "log.");
    let snaps = names(&crate::persist::snap_dir(cfg), "snapshot.");
    let last = v.zxid().0;
    let committed = v.tree().last_processed_zxid().0;
    let first = logs.first().copied().unwrap_or(0);
    let term = |z: i64| z >> 32;
    vec![
        ("first_log_idx".into(), first),
        ("first_log_term".into(), term(first)),
        ("last_log_idx".into(), last),
        ("last_log_term".into(), term(last)),
        ("last_committed_log_idx".into(), committed),
        ("leader_committed_log_idx".into(), committed),
        ("target_committed_log_idx".into(), committed),
        (
            "last_snapshot_idx".into(),
            snaps.last().copied().unwrap_or(0),
        ),
        ("latest_logs_cache_entries".into(), 0),
        ("latest_logs_cache_size".into(), 0),
        ("commit_logs_cache_entries".into(), 0),
        ("commit_logs_cache_size".into(), 0),
    ]
}

/// `lgif`'s text: `key<TAB>value` lines.
pub fn log_info_text(v: &StatsView<'_>) -> String {
    log_info(v)
        .into_iter()
        .map(|(k, n)| format!("{k}\t{n}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limiter_allows_one_call_per_interval() {
        let r = RateLimiter::new(Duration::from_secs(3600));
        assert!(r.allow());
        assert!(!r.allow());
        let r = RateLimiter::new(Duration::ZERO);
        assert!(r.allow());
        std::thread::sleep(Duration::from_millis(2));
        assert!(r.allow());
    }

    #[test]
    fn authorization_headers_as_apache_splits_them() {
        let cfg = Config::default();
        let ip = IpAddr::from([127, 0, 0, 1]);
        let authenticate = |h: &str, cfg: &Config, ip: IpAddr| authenticate(h, cfg, ip, None);
        let ids = authenticate("digest root:pw", &cfg, ip).unwrap();
        assert_eq!(ids, vec![Id::new("digest", &auth::digest_id("root:pw"))]);
        assert_eq!(
            authenticate("ip", &cfg, ip).unwrap(),
            vec![Id::new("ip", "127.0.0.1")]
        );
        assert!(authenticate("digest", &cfg, ip).is_none());
        assert!(authenticate("x509", &cfg, ip).is_none());
        assert!(authenticate("digest a:b c", &cfg, ip).is_none());
        assert!(authenticate("bogus x", &cfg, ip).is_none());
        assert_eq!(lookup("snap"), Some("snapshot"));
        assert_eq!(lookup("rest"), Some("restore"));
        assert_eq!(lookup("lgif"), Some("log_info"));
    }
}
