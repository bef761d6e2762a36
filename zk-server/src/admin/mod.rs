//! The AdminServer: Apache ZooKeeper's HTTP interface to its commands
//! (`http://host:8080/commands` lists them, `/commands/<name>` runs one and
//! answers a JSON object). It owns the HTTP port and the request's path and
//! query; the commands themselves are in [`commands`], and every figure they
//! show is read on the core's task through `CoreMsg::Inspect` over the
//! read-only [`crate::core::StatsView`]. The core knows nothing of this module.
//!
//! HTTP/1.1 comes from hyper 1 (with hyper-util's tokio glue): the HTTP
//! library tokio's own projects use, on the runtime we already run. It is
//! bounded here: at most [`MAX_CONNECTIONS`] connections at once (more wait in
//! the kernel's backlog), request heads of at most 16 KiB, no request body
//! read but `restore`'s (authorized first, at most [`ops::MAX_RESTORE_BYTES`]), and a connection that sends no complete request head for
//! `admin.idleTimeout` is closed. A malformed request closes that one
//! connection and nothing else. HTTPS (`admin.forceHttps`,
//! `admin.portUnification`) is [`https`]'s.

pub mod commands;
pub mod console;
pub mod https;
pub mod ops;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::config::Config;
use crate::core::{CoreMsg, StatsReset};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;

/// What every command may need besides the core's view.
pub struct Context {
    pub cfg: Arc<Config>,
    /// The configuration file's text as read at start-up (`initial_configuration`).
    pub initial_config: String,
    /// ZooKeeper's `ZooTrace` text trace mask (`get_trace_mask`, `set_trace_mask`).
    pub trace_mask: AtomicI64,
    /// Where the client port listens (`zabstate`'s `client_address`).
    pub client_addr: SocketAddr,
    /// The rate limits of `snapshot` and `restore` ([`ops`]).
    pub ops: ops::Limits,
    /// How the console reaches HTTPS-only peers ([`https::peer_client_config`]).
    pub peer_tls: Option<Arc<rustls::ClientConfig>>,
}

/// Start the AdminServer if `admin.enableServer` says so; its address, or `None`
/// when it is off or its port cannot be bound (logged: the ZooKeeper service
/// goes on without it, where Apache's would exit).
pub async fn start(
    cfg: Arc<Config>,
    core: mpsc::Sender<CoreMsg>,
    client_addr: SocketAddr,
) -> Option<SocketAddr> {
    let a = &cfg.admin;
    if !a.enable_server {
        return None;
    }
    let addr = SocketAddr::new(a.server_address, a.server_port);
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("AdminServer: cannot bind {addr}: {e}; running without it");
            return None;
        }
    };
    let local = listener.local_addr().ok()?;
    let tls = match https::AdminTls::from_config(&cfg) {
        Ok(t) => t.map(Arc::new),
        Err(e) => {
            // As Apache's, whose AdminServer does not start when its stores fail.
            tracing::error!(
                "AdminServer: cannot set up HTTPS ({e}); running without the AdminServer"
            );
            return None;
        }
    };
    let initial_config = cfg
        .source
        .as_deref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let ctx = Arc::new(Context {
        cfg: cfg.clone(),
        initial_config,
        trace_mask: AtomicI64::new(commands::DEFAULT_TRACE_MASK),
        client_addr,
        ops: ops::Limits::for_config(&cfg),
        peer_tls: https::peer_client_config(&cfg).unwrap_or_else(|e| {
            tracing::warn!("console: cannot reach peers over HTTPS ({e}); asking over HTTP");
            None
        }),
    });
    match &tls {
        None => tracing::info!(
            "AdminServer on http://{local}{} (commands)",
            cfg.admin.command_url
        ),
        Some(t) => tracing::info!(
            "AdminServer on https://{local}{} (commands), {}",
            cfg.admin.command_url,
            t.describe()
        ),
    }
    tokio::spawn(accept_loop(listener, tls, ctx, core));
    Some(local)
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<Arc<https::AdminTls>>,
    ctx: Arc<Context>,
    core: mpsc::Sender<CoreMsg>,
) {
    let idle = Duration::from_millis(ctx.cfg.admin.idle_timeout_ms.max(1));
    serve_http(listener, tls, idle, "AdminServer", move |req| {
        let (ctx, core) = (ctx.clone(), core.clone());
        async move { handle(req, &ctx, &core).await }
    })
    .await
}

/// Serve HTTP/1.1 on `listener` with `handle` answering each request, within
/// this module's bounds (connections, head size, `idle` for a request head),
/// over TLS as `tls` says ([`https`]); each request carries its connection's
/// [`https::Peer`] and [`ops::RemoteAddr`]. The Prometheus endpoint
/// (`crate::metrics::prometheus`) runs on it too, without TLS.
pub async fn serve_http<F, Fut>(
    listener: TcpListener,
    tls: Option<Arc<https::AdminTls>>,
    idle: Duration,
    what: &'static str,
    handle: F,
) where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("{what}: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let handle = handle.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let (stream, peer) = match tls {
                None => {
                    let p = https::Peer {
                        addr: peer,
                        secure: false,
                        chain: Vec::new(),
                    };
                    (https::Stream::Plain(stream), p)
                }
                Some(t) => match t.accept(stream, peer, idle).await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("{what}: closing the connection from {peer}: {e}");
                        drop(permit);
                        return;
                    }
                },
            };
            let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(ops::RemoteAddr(peer.addr));
                let secure = peer.secure;
                req.extensions_mut().insert(peer.clone());
                let fut = handle(req);
                async move {
                    let mut r = fut.await;
                    if secure {
                        // As Jetty's SecureRequestCustomizer in Apache's AdminServer.
                        r.headers_mut().insert(
                            hyper::header::STRICT_TRANSPORT_SECURITY,
                            hyper::header::HeaderValue::from_static(https::STS_HEADER),
                        );
                    }
                    Ok::<_, Infallible>(r)
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(idle)
                .max_buf_size(16 * 1024)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!("{what}: connection closed: {e}");
            }
            drop(permit);
        });
    }
}

pub(crate) fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("Content-Type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

async fn handle(
    req: Request<Incoming>,
    ctx: &Arc<Context>,
    core: &mpsc::Sender<CoreMsg>,
) -> Response<Full<Bytes>> {
    // 3.9's snapshot and restore, ClickHouse's csnp and lgif: their own methods,
    // authorization and answers.
    let base = ctx.cfg.admin.command_url.trim_end_matches('/');
    if let Some(name) = req
        .uri()
        .path()
        .strip_prefix(base)
        .and_then(|r| r.strip_prefix('/'))
    {
        if let Some(primary) = ops::lookup(name) {
            let name = name.to_owned();
            return ops::handle(primary, &name, req, ctx, core).await;
        }
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    let path = req.uri().path();
    // The web console (console.rs) has its own paths beside Apache's.
    if let Some(r) = console::handle(path, req.uri().query().unwrap_or(""), ctx, core).await {
        return r;
    }
    let Some(rest) = path.strip_prefix(base) else {
        return reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into());
    };
    if rest.is_empty() || rest == "/" {
        // As Apache's servlet: a link per command, one a line.
        let mut body = String::new();
        // Apache 3.8's list (operators' tools compare it); the commands of
        // [`ops`] answer without being listed.
        for c in commands::COMMANDS {
            body.push_str(&format!(
                "<a href=\"{base}/{0}\">{0}</a>\n<br/>\n",
                c.primary()
            ));
        }
        return reply(StatusCode::OK, "text/html", body);
    }
    let Some(name) = rest.strip_prefix('/') else {
        return reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into());
    };
    let kwargs = query_args(req.uri().query().unwrap_or(""));
    let body = run(name, kwargs, ctx, core).await;
    let text = serde_json::to_string_pretty(&body).expect("JSON") + "\n";
    reply(StatusCode::OK, "application/json", text)
}

/// Run the command `name` (any of its names): the JSON object to answer.
pub async fn run(
    name: &str,
    kwargs: BTreeMap<String, String>,
    ctx: &Arc<Context>,
    core: &mpsc::Sender<CoreMsg>,
) -> serde_json::Value {
    let Some(cmd) = commands::lookup(name) else {
        return commands::response(
            name,
            BTreeMap::new(),
            Some(format!("Unknown command: {name}")),
        );
    };
    let reset = match cmd.primary() {
        "stat_reset" => Some(StatsReset::Server),
        "connection_stat_reset" => Some(StatsReset::Connections),
        _ => None,
    };
    let gone = || {
        commands::response(
            cmd.primary(),
            BTreeMap::new(),
            Some("server is shutting down".into()),
        )
    };
    if let Some(what) = reset {
        if core.send(CoreMsg::ResetStats(what)).await.is_err() {
            return gone();
        }
    }
    let (tx, rx) = oneshot::channel();
    // The command runs on the core's task, over its view.
    let inspect = {
        let ctx = ctx.clone();
        let asked = name.to_owned();
        move |view: &crate::core::StatsView<'_>| {
            let _ = tx.send(commands::run(view, cmd, &asked, &kwargs, &ctx));
        }
    };
    if core
        .send(CoreMsg::Inspect(Box::new(inspect)))
        .await
        .is_err()
    {
        return gone();
    }
    rx.await.unwrap_or_else(|_| gone())
}

/// `a=1&b=x%20y`: the first value of each key, percent-decoded.
pub(crate) fn query_args(q: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        m.entry(percent_decode(k))
            .or_insert_with(|| percent_decode(v));
    }
    m
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_arguments_are_decoded_first_value_wins() {
        let m = query_args("traceMask=5&x=a%20b+c&traceMask=7&flag");
        assert_eq!(m["traceMask"], "5");
        assert_eq!(m["x"], "a b c");
        assert_eq!(m["flag"], "");
        assert_eq!(query_args("bad=%zz%4")["bad"], "%zz%4");
    }
}
