//! `zk-scale`: scale benchmarks run side by side against our server and Apache ZooKeeper 3.8
//! (Debian's), both started by this program on 127.0.0.1 with the same `zoo.cfg`, in the
//! same run (issue 17, "at scale").
//!
//! Scenarios, each on a fresh server (the ensemble for the failover):
//!
//! - `sessions`: `--sessions` connections opened at once (a connect storm): time until the
//!   last handshake is answered; the server's memory per session (RSS and anonymous memory
//!   deltas from `/proc/<pid>/status`; for Apache also the live Java heap after a full GC).
//! - `watches`: `--watch-sessions` x `--watches-per-session` data watches (getData with a
//!   watch on distinct nodes): memory per watch, measured as above.
//! - `fire`: every one of the `--sessions` sessions watches one node; time from the reply of
//!   the setData that fires it until the last session has read its event.
//! - `failover`: a 3-server ensemble, `--failover-sessions` sessions spread over it, each
//!   holding `--failover-watches` data watches; the leader is killed (SIGKILL): time until
//!   every session has reconnected (same session id), re-registered its watches with
//!   setWatches and had a getData answered.
//! - `children`: a znode with `--children` children: getChildren and getChildren2 latency.
//! - `values`: `--value-bytes` values (1,000,000 by default; `jute.maxbuffer` 1048575 on both
//!   servers, Apache's default): setData and getData latency and MB/s, one at a time.
//!
//! The client is a lean raw connection per session (as in `zk-load`): one tokio task per
//! session, requests pipelined where a session sends many, watch events read as they come.
//! The soft `RLIMIT_NOFILE` is raised to the hard limit first; the servers inherit it.
//!
//! ```text
//! zk-scale --dir /tmp/zk-scale --systems ours,apache --sessions 10000
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use zab_core::jute::{self, Record};
use zab_core::proto::{op, xid, ConnectRequest, ConnectResponse, SetWatches};
use zab_core::records::{write_acls, Acl};
use zk_benches::cluster::Cluster;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "zk-scale",
    about = "Scale benchmarks against our server and Apache ZooKeeper, side by side"
)]
struct Args {
    /// Directory for the servers' configuration, data and logs (emptied first).
    #[arg(long, default_value = "/tmp/zk-scale")]
    dir: PathBuf,
    /// Systems to measure, in this order: ours, apache.
    #[arg(long, default_value = "ours,apache", value_delimiter = ',')]
    systems: Vec<String>,
    /// Scenarios to run: sessions, watches, fire, failover, children, values.
    #[arg(
        long,
        default_value = "sessions,watches,fire,children,values,failover",
        value_delimiter = ','
    )]
    scenarios: Vec<String>,
    /// Concurrent sessions of the connect storm and of the fire scenario.
    #[arg(long, default_value_t = 10_000)]
    sessions: usize,
    /// Sessions that register data watches in the watches scenario.
    #[arg(long, default_value_t = 1_000)]
    watch_sessions: usize,
    /// Data watches per session in the watches scenario (on distinct nodes).
    #[arg(long, default_value_t = 1_000)]
    watches_per_session: usize,
    /// Sessions in the failover scenario.
    #[arg(long, default_value_t = 10_000)]
    failover_sessions: usize,
    /// Data watches each failover session holds.
    #[arg(long, default_value_t = 100)]
    failover_watches: usize,
    /// Children of the node the children scenario lists.
    #[arg(long, default_value_t = 100_000)]
    children: usize,
    /// Size of the values the values scenario writes and reads.
    #[arg(long, default_value_t = 1_000_000)]
    value_bytes: usize,
    /// Sequential operations per measured latency (children, values).
    #[arg(long, default_value_t = 20)]
    repeat: usize,
    /// Maximum heap of each Apache ZooKeeper JVM.
    #[arg(long, default_value = "2g")]
    java_heap: String,
    /// zk-server binary (default: next to this program).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Session timeout asked for, in milliseconds (maxSessionTimeout is set to allow it).
    #[arg(long, default_value_t = 60_000)]
    session_timeout_ms: i32,
    /// Seconds a scenario may take before it is reported as failed.
    #[arg(long, default_value_t = 300)]
    scenario_timeout: u64,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// An extra `key=value` line for every server's zoo.cfg, both systems (for example
    /// `clientPortListenBacklog=1024`); may be given more than once.
    #[arg(long = "cfg")]
    extra_cfg: Vec<String>,
}

// ---- process helpers ----------------------------------------------------------------------

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns (soft, hard) after.
fn raise_nofile() -> (libc::rlim_t, libc::rlim_t) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read only the struct passed.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
    }
    (r.rlim_cur, r.rlim_max)
}

/// (VmRSS, RssAnon) of a process in bytes, from /proc/<pid>/status.
fn memory(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (kb("VmRSS:"), kb("RssAnon:"))
}

/// Bytes of live Java objects: `jcmd <pid> GC.class_histogram` runs a full GC first.
fn java_live_heap(pid: u32) -> Option<u64> {
    let out = Command::new("jcmd")
        .args([pid.to_string().as_str(), "GC.class_histogram"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().rev().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some("Total")).then(|| w.nth(1)?.parse().ok())?
    })
}

/// What the server holds: RSS, anonymous memory, and (Apache) the live heap.
#[derive(Clone, Copy, Debug, Default)]
struct Mem {
    rss: u64,
    anon: u64,
    heap: Option<u64>,
}

fn measure_mem(system: &str, pid: u32) -> Mem {
    // Let the server settle (buffers freed, the JVM's allocations done).
    std::thread::sleep(Duration::from_millis(1000));
    let heap = if system == "apache" {
        java_live_heap(pid)
    } else {
        None
    };
    let (rss, anon) = memory(pid);
    Mem { rss, anon, heap }
}

/// Apache's default `jute.maxbuffer` (0xfffff), set explicitly on both servers.
const JUTE_MAX_BUFFER: usize = 0xfffff;

/// One system's servers (`zk_benches::cluster`) with what every scenario here needs in
/// `zoo.cfg`: room for the sessions' timeout and an explicit `jute.maxbuffer`.
fn cluster(args: &Args, system: &str, dir: &Path, n: usize, server_bin: &Path) -> Cluster {
    let mut cfg = vec![
        format!(
            "maxSessionTimeout={}",
            args.session_timeout_ms.max(4000) * 2
        ),
        format!("jute.maxbuffer={JUTE_MAX_BUFFER}"),
    ];
    cfg.extend(args.extra_cfg.iter().cloned());
    Cluster::new(system, dir, n, server_bin, &args.java_heap, &cfg)
}

/// Starts every server of `c` and waits until they serve.
fn start_all(c: &mut Cluster, timeout: Duration) -> Result<(), String> {
    c.start_all();
    c.wait_serving(timeout)
}

// ---- the client ---------------------------------------------------------------------------

/// A reply: (xid, zxid, err, body).
struct Reply {
    err: i32,
    body: Bytes,
}

/// One session over one raw connection.
struct Conn {
    stream: TcpStream,
    rbuf: BytesMut,
    wbuf: BytesMut,
    session_id: i64,
    passwd: Bytes,
    last_zxid: i64,
    next_xid: i32,
    /// Arrival times of the watch events read so far.
    events: Vec<Instant>,
}

const IO_TIMEOUT: Duration = Duration::from_secs(120);
/// Attempts per session in a connect storm.
const CONNECT_TRIES: usize = 20;

impl Conn {
    /// Opens a new session (`resume`: None) or reconnects to one (id, password, last zxid).
    async fn open(
        host: &str,
        timeout_ms: i32,
        resume: Option<(i64, Bytes, i64)>,
    ) -> Result<Conn, String> {
        let mut stream = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(host))
            .await
            .map_err(|_| format!("connecting to {host} timed out"))?
            .map_err(|e| format!("cannot connect to {host}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (session_id, passwd, last_zxid) =
            resume.unwrap_or((0, Bytes::from_static(&[0; 16]), 0));
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: last_zxid,
            timeout_ms,
            session_id,
            passwd,
            read_only: Some(false),
        };
        let body = req.to_bytes();
        let mut buf = BytesMut::new();
        buf.put_i32(body.len() as i32);
        buf.put_slice(&body);
        stream
            .write_all(&buf)
            .await
            .map_err(|e| format!("handshake with {host}: {e}"))?;
        let read = async {
            let mut len = [0u8; 4];
            stream.read_exact(&mut len).await?;
            let n = i32::from_be_bytes(len).clamp(0, 1 << 16) as usize;
            let mut b = vec![0u8; n];
            stream.read_exact(&mut b).await?;
            Ok::<_, std::io::Error>(b)
        };
        let b = tokio::time::timeout(IO_TIMEOUT, read)
            .await
            .map_err(|_| format!("handshake with {host} timed out"))?
            .map_err(|e| format!("handshake with {host}: {e}"))?;
        let resp = ConnectResponse::from_bytes(&b)
            .map_err(|e| format!("bad handshake from {host}: {e}"))?;
        if resp.timeout_ms <= 0 || resp.session_id == 0 {
            return Err(format!("{host}: session expired or refused"));
        }
        Ok(Conn {
            stream,
            rbuf: BytesMut::with_capacity(4096),
            wbuf: BytesMut::new(),
            session_id: resp.session_id,
            passwd: resp.passwd,
            last_zxid,
            next_xid: 1,
            events: Vec::new(),
        })
    }

    /// Queues one request; returns its xid.
    fn push(&mut self, op_type: i32, body: impl FnOnce(&mut BytesMut)) -> i32 {
        let x = self.next_xid;
        self.next_xid += 1;
        self.push_xid(x, op_type, body);
        x
    }

    fn push_xid(&mut self, x: i32, op_type: i32, body: impl FnOnce(&mut BytesMut)) {
        let out = &mut self.wbuf;
        let at = out.len();
        out.put_i32(0);
        out.put_i32(x);
        out.put_i32(op_type);
        body(out);
        let len = (out.len() - at - 4) as i32;
        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }

    async fn flush(&mut self) -> Result<(), String> {
        if !self.wbuf.is_empty() {
            self.stream
                .write_all(&self.wbuf)
                .await
                .map_err(|e| format!("write: {e}"))?;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// Reads the next frame: (xid, err, body); records watch events' arrival.
    async fn read_frame(&mut self, timeout: Duration) -> Result<(i32, Reply), String> {
        loop {
            if self.rbuf.len() >= 4 {
                let len =
                    i32::from_be_bytes([self.rbuf[0], self.rbuf[1], self.rbuf[2], self.rbuf[3]]);
                if len < 16 {
                    return Err(format!("a frame of {len} bytes"));
                }
                let len = len as usize;
                if self.rbuf.len() >= 4 + len {
                    let mut f = self.rbuf.split_to(4 + len).freeze();
                    f.advance(4);
                    let x = f.get_i32();
                    let zxid = f.get_i64();
                    let err = f.get_i32();
                    if zxid > self.last_zxid {
                        self.last_zxid = zxid;
                    }
                    return Ok((x, Reply { err, body: f }));
                }
                self.rbuf.reserve(4 + len - self.rbuf.len());
            }
            match tokio::time::timeout(timeout, self.stream.read_buf(&mut self.rbuf)).await {
                Err(_) => return Err(format!("nothing read in {timeout:?}")),
                Ok(Err(e)) => return Err(format!("read: {e}")),
                Ok(Ok(0)) => return Err("connection closed".into()),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// The next reply to a request (watch events and pings are recorded or skipped).
    async fn reply(&mut self) -> Result<Reply, String> {
        loop {
            let (x, r) = self.read_frame(IO_TIMEOUT).await?;
            match x {
                xid::NOTIFICATION => self.events.push(Instant::now()),
                xid::PING => {}
                _ => return Ok(r),
            }
        }
    }

    /// Sends what is queued and reads `n` replies; returns how many were errors.
    async fn replies(&mut self, n: usize) -> Result<usize, String> {
        self.flush().await?;
        let mut errors = 0;
        for _ in 0..n {
            if self.reply().await?.err != 0 {
                errors += 1;
            }
        }
        Ok(errors)
    }

    async fn call(
        &mut self,
        op_type: i32,
        body: impl FnOnce(&mut BytesMut),
    ) -> Result<Reply, String> {
        self.push(op_type, body);
        self.flush().await?;
        self.reply().await
    }

    /// Waits until `n` watch events in all have arrived.
    async fn wait_events(&mut self, n: usize) -> Result<(), String> {
        while self.events.len() < n {
            let (x, _) = self.read_frame(IO_TIMEOUT).await?;
            if x == xid::NOTIFICATION {
                self.events.push(Instant::now());
            }
        }
        Ok(())
    }

    /// Reads (and pings) until the server closes the connection.
    async fn wait_closed(&mut self, ping_every: Duration, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if Instant::now() > deadline {
                return Err(format!("still connected after {limit:?}"));
            }
            match self.read_frame(ping_every).await {
                Ok(_) => {}
                Err(e) if e.starts_with("nothing read") => {
                    self.push_xid(xid::PING, op::PING, |_| {});
                    if self.flush().await.is_err() {
                        return Ok(());
                    }
                }
                Err(_) => return Ok(()),
            }
        }
    }
}

fn put_create(o: &mut BytesMut, path: &str, data: &[u8]) {
    jute::write_string(o, path);
    jute::write_buffer(o, data);
    write_acls(o, &Acl::open_unsafe());
    o.put_i32(0);
}

fn put_path_watch(o: &mut BytesMut, path: &str, watch: bool) {
    jute::write_string(o, path);
    o.put_u8(watch as u8);
}

fn put_set(o: &mut BytesMut, path: &str, data: &[u8]) {
    jute::write_string(o, path);
    jute::write_buffer(o, data);
    o.put_i32(-1);
}

/// Creates `parent` and `parent/<name(i)>` for i in 0..n from one session, pipelined in
/// windows of 1,000.
async fn create_children(
    c: &mut Conn,
    parent: &str,
    n: usize,
    name: impl Fn(usize) -> String,
    value: &[u8],
) -> Result<(), String> {
    c.call(op::CREATE, |o| put_create(o, parent, b"")).await?;
    let mut i = 0;
    while i < n {
        let end = (i + 1000).min(n);
        for k in i..end {
            let p = format!("{parent}/{}", name(k));
            c.push(op::CREATE, |o| put_create(o, &p, value));
        }
        let errors = c.replies(end - i).await?;
        if errors > 0 {
            return Err(format!("{errors} creates under {parent} failed"));
        }
        i = end;
    }
    Ok(())
}

/// Opens `n` sessions at once, spread over `hosts`; returns them and when the last connected.
async fn connect_storm(
    hosts: &[String],
    n: usize,
    timeout_ms: i32,
) -> Result<(Vec<Conn>, Vec<Duration>, usize), String> {
    let start = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..n {
        let host = hosts[i % hosts.len()].clone();
        set.spawn(async move {
            // As ZooKeeper's clients do, try again after a pause when the server drops
            // the connection (an overflowing accept queue resets some).
            let mut tries = 0;
            loop {
                tries += 1;
                match Conn::open(&host, timeout_ms, None).await {
                    Err(_) if tries < CONNECT_TRIES => {
                        tokio::time::sleep(Duration::from_millis(100 + (i % 100) as u64)).await
                    }
                    r => return (i, tries, r),
                }
            }
        });
    }
    let mut conns: Vec<Option<Conn>> = (0..n).map(|_| None).collect();
    let mut times = Vec::with_capacity(n);
    let mut retries = 0;
    let mut failures = Vec::new();
    while let Some(r) = set.join_next().await {
        let (i, tries, c) = r.map_err(|e| e.to_string())?;
        retries += tries - 1;
        match c {
            Ok(c) => {
                times.push(start.elapsed());
                conns[i] = Some(c);
            }
            Err(e) => failures.push(e),
        }
    }
    if !failures.is_empty() {
        return Err(format!(
            "{} of {n} sessions failed to connect, first: {}",
            failures.len(),
            failures[0]
        ));
    }
    times.sort();
    Ok((conns.into_iter().flatten().collect(), times, retries))
}

/// Keeps idle sessions alive: each pings every 5 s until `stop`; gives them back.
fn keepalive(conns: Vec<Conn>, stop: Arc<AtomicBool>) -> JoinSet<Result<Conn, String>> {
    let mut set = JoinSet::new();
    for mut c in conns {
        let stop = stop.clone();
        set.spawn(async move {
            let mut last = Instant::now();
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if last.elapsed() >= Duration::from_secs(5) {
                    c.push_xid(xid::PING, op::PING, |_| {});
                    c.flush().await?;
                    while c.read_frame(IO_TIMEOUT).await?.0 != xid::PING {}
                    last = Instant::now();
                }
            }
            Ok(c)
        });
    }
    set
}

/// Runs `f` on every connection concurrently (each in its own task); gives them back in order.
async fn on_all<F, Fut>(conns: Vec<Conn>, f: F) -> Result<Vec<Conn>, String>
where
    F: Fn(usize, Conn) -> Fut,
    Fut: std::future::Future<Output = Result<Conn, String>> + Send + 'static,
{
    let n = conns.len();
    let mut set = JoinSet::new();
    for (i, c) in conns.into_iter().enumerate() {
        let fut = f(i, c);
        set.spawn(async move { (i, fut.await) });
    }
    let mut out: Vec<Option<Conn>> = (0..n).map(|_| None).collect();
    let mut first_err = None;
    let mut errors = 0;
    while let Some(r) = set.join_next().await {
        let (i, c) = r.map_err(|e| e.to_string())?;
        match c {
            Ok(c) => out[i] = Some(c),
            Err(e) => {
                errors += 1;
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        return Err(format!("{errors} of {n} sessions failed, first: {e}"));
    }
    Ok(out.into_iter().flatten().collect())
}

// ---- scenarios ----------------------------------------------------------------------------

/// One measured figure: name, value, unit.
type Figures = Vec<(String, f64, &'static str)>;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn per(delta_after: u64, before: u64, n: usize) -> f64 {
    (delta_after as f64 - before as f64) / n.max(1) as f64
}

fn mem_figures(out: &mut Figures, what: &str, before: Mem, after: Mem, n: usize) {
    out.push((
        format!("{what}: RSS bytes per"),
        per(after.rss, before.rss, n),
        "B",
    ));
    out.push((
        format!("{what}: anon bytes per"),
        per(after.anon, before.anon, n),
        "B",
    ));
    if let (Some(a), Some(b)) = (after.heap, before.heap) {
        out.push((
            format!("{what}: Java live heap bytes per"),
            per(a, b, n),
            "B",
        ));
    }
}

/// sessions, watches and fire: one standalone server, the sessions kept between them.
async fn standalone_scenarios(
    args: &Args,
    system: &str,
    cluster: &Cluster,
    out: &mut Figures,
) -> Result<(), String> {
    let hosts = cluster.hosts();
    let pid = cluster.pid(0).unwrap_or(0);
    let want = |s: &str| args.scenarios.iter().any(|x| x == s);
    let to = args.session_timeout_ms;
    let mut ctl = Conn::open(&hosts[0], to, None).await?;

    if !(want("sessions") || want("watches") || want("fire")) {
        return data_scenarios(args, system, &mut ctl, out).await;
    }
    let n = args.sessions;
    let before = measure_mem(system, pid);
    let (conns, times, retries) = connect_storm(&hosts, n, to).await?;
    let storm = *times.last().unwrap();
    eprintln!(
        "[{system}] {n} sessions connected in {:.2} s ({retries} connections tried again)",
        storm.as_secs_f64()
    );
    out.push((
        format!("connect storm: {n} sessions, connections tried again"),
        retries as f64,
        "",
    ));
    out.push((
        format!("connect storm: {n} sessions, until all connected"),
        ms(storm),
        "ms",
    ));
    out.push((
        format!("connect storm: {n} sessions, half connected"),
        ms(times[n / 2]),
        "ms",
    ));
    let after = measure_mem(system, pid);
    mem_figures(out, "sessions", before, after, n);
    // Every session answers a request after the memory is measured (and stays alive).
    let mut conns = on_all(conns, |_, mut c| async move {
        c.call(op::EXISTS, |o| put_path_watch(o, "/", false))
            .await
            .map(|_| c)
    })
    .await?;

    if want("watches") {
        let (ws, wn) = (
            args.watch_sessions.min(conns.len()),
            args.watches_per_session,
        );
        let t = Instant::now();
        create_children(&mut ctl, "/w", wn, |i| format!("n{i:06}"), b"x").await?;
        eprintln!(
            "[{system}] {wn} watch nodes created in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let before = measure_mem(system, pid);
        let t = Instant::now();
        // The other sessions ping while the registration runs (Apache expires idle ones).
        let stop = Arc::new(AtomicBool::new(false));
        let rest = keepalive(conns.split_off(ws), stop.clone());
        conns = on_all(conns, move |_, mut c| async move {
            for i in 0..wn {
                let p = format!("/w/n{i:06}");
                c.push(op::GET_DATA, |o| put_path_watch(o, &p, true));
            }
            let errors = c.replies(wn).await?;
            if errors > 0 {
                return Err(format!("{errors} getData with a watch failed"));
            }
            Ok(c)
        })
        .await?;
        let took = t.elapsed();
        stop.store(true, Ordering::SeqCst);
        let mut rest_back = Vec::new();
        let mut rest = rest;
        while let Some(r) = rest.join_next().await {
            rest_back.push(r.map_err(|e| e.to_string())??);
        }
        conns.extend(rest_back);
        eprintln!(
            "[{system}] {} watches registered in {:.1} s",
            ws * wn,
            took.as_secs_f64()
        );
        out.push((
            format!(
                "{} watches: registration ({ws} sessions pipelined)",
                ws * wn
            ),
            ms(took),
            "ms",
        ));
        let after = measure_mem(system, pid);
        mem_figures(out, "watches", before, after, ws * wn);
        conns = on_all(conns, |_, mut c| async move {
            c.call(op::EXISTS, |o| put_path_watch(o, "/", false))
                .await
                .map(|_| c)
        })
        .await?;
    }

    if want("fire") {
        // A fresh control session: the first one was idle while the watches were set.
        ctl = Conn::open(&hosts[0], to, None).await?;
        ctl.call(op::CREATE, |o| put_create(o, "/fire", b"0"))
            .await?;
        let ready = Arc::new(AtomicUsize::new(0));
        let mut set = JoinSet::new();
        for c in conns {
            let ready = ready.clone();
            set.spawn(async move {
                let mut c = c;
                let r = c
                    .call(op::GET_DATA, |o| put_path_watch(o, "/fire", true))
                    .await?;
                if r.err != 0 {
                    return Err(format!("getData /fire: err {}", r.err));
                }
                let seen = c.events.len();
                ready.fetch_add(1, Ordering::SeqCst);
                c.wait_events(seen + 1).await?;
                Ok::<Instant, String>(*c.events.last().unwrap())
            });
        }
        let deadline = Instant::now() + Duration::from_secs(args.scenario_timeout);
        while ready.load(Ordering::SeqCst) < n {
            if Instant::now() > deadline {
                return Err("watchers not ready in time".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let sent = Instant::now();
        let r = ctl
            .call(op::SET_DATA, |o| put_set(o, "/fire", b"1"))
            .await?;
        let replied = Instant::now();
        if r.err != 0 {
            return Err(format!("setData /fire: err {}", r.err));
        }
        let mut last = sent;
        let mut got = 0;
        while let Some(r) = set.join_next().await {
            let at = r.map_err(|e| e.to_string())??;
            last = last.max(at);
            got += 1;
        }
        // Servers queue the events before the reply, so the last event may come first:
        // then this figure is negative.
        let after_reply = if last >= replied {
            ms(last - replied)
        } else {
            -ms(replied - last)
        };
        eprintln!("[{system}] {got} events, the last {after_reply:.1} ms after the setData reply");
        out.push((
            format!("fire one event to {n} watchers: setData sent to last event"),
            ms(last - sent),
            "ms",
        ));
        out.push((
            format!("fire one event to {n} watchers: setData reply to last event"),
            after_reply,
            "ms",
        ));
        out.push((
            format!("fire one event to {n} watchers: setData round trip"),
            ms(replied - sent),
            "ms",
        ));
    }
    // Last: Apache keeps its latest 500 transactions in memory (committedLog), and 1 MB
    // values there would be freed during a later memory measurement.
    let mut ctl = Conn::open(&hosts[0], to, None).await?;
    data_scenarios(args, system, &mut ctl, out).await
}

/// children and values, from the control session.
async fn data_scenarios(
    args: &Args,
    system: &str,
    ctl: &mut Conn,
    out: &mut Figures,
) -> Result<(), String> {
    let want = |s: &str| args.scenarios.iter().any(|x| x == s);
    if want("children") {
        let n = args.children;
        let t = Instant::now();
        create_children(ctl, "/children", n, |i| format!("{i:05}"), b"").await?;
        eprintln!(
            "[{system}] {n} children created in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        for (opcode, name) in [
            (op::GET_CHILDREN, "getChildren"),
            (op::GET_CHILDREN2, "getChildren2"),
        ] {
            let mut lat = Vec::new();
            for _ in 0..args.repeat {
                let t = Instant::now();
                let r = ctl
                    .call(opcode, |o| put_path_watch(o, "/children", false))
                    .await?;
                lat.push(t.elapsed());
                let count = (&r.body[..]).get_i32();
                if r.err != 0 || count as usize != n {
                    return Err(format!("{name}: err {} with {count} children", r.err));
                }
            }
            lat.sort();
            out.push((
                format!("{name} of {n} children, p50"),
                ms(lat[lat.len() / 2]),
                "ms",
            ));
            out.push((
                format!("{name} of {n} children, max"),
                ms(*lat.last().unwrap()),
                "ms",
            ));
        }
    }

    if want("values") {
        let value = vec![b'v'; args.value_bytes];
        ctl.call(op::CREATE, |o| put_create(o, "/big", b"")).await?;
        let mb = args.value_bytes as f64 / 1e6;
        let mut sets = Vec::new();
        for _ in 0..args.repeat {
            let t = Instant::now();
            let r = ctl
                .call(op::SET_DATA, |o| put_set(o, "/big", &value))
                .await?;
            if r.err != 0 {
                return Err(format!("setData of {} bytes: err {}", value.len(), r.err));
            }
            sets.push(t.elapsed());
        }
        let mut gets = Vec::new();
        for _ in 0..args.repeat {
            let t = Instant::now();
            let r = ctl
                .call(op::GET_DATA, |o| put_path_watch(o, "/big", false))
                .await?;
            let len = (&r.body[..]).get_i32();
            if r.err != 0 || len as usize != value.len() {
                return Err(format!("getData of /big: err {} len {len}", r.err));
            }
            gets.push(t.elapsed());
        }
        for (name, mut lat) in [("setData", sets), ("getData", gets)] {
            let total: Duration = lat.iter().sum();
            lat.sort();
            let b = args.value_bytes;
            out.push((
                format!("{name} {b} B value, p50"),
                ms(lat[lat.len() / 2]),
                "ms",
            ));
            out.push((
                format!("{name} {b} B value, max"),
                ms(*lat.last().unwrap()),
                "ms",
            ));
            out.push((
                format!("{name} {b} B value, throughput one at a time"),
                mb * lat.len() as f64 / total.as_secs_f64(),
                "MB/s",
            ));
        }
    }
    Ok(())
}

/// The failover: a 3-server ensemble, sessions with watches, the leader killed.
async fn failover(
    args: &Args,
    system: &str,
    cluster: &mut Cluster,
    out: &mut Figures,
) -> Result<(), String> {
    let hosts = cluster.hosts();
    let to = args.session_timeout_ms;
    let (n, w) = (args.failover_sessions, args.failover_watches);
    let mut ctl = Conn::open(&hosts[0], to, None).await?;
    create_children(&mut ctl, "/f", w, |i| format!("n{i:04}"), b"x").await?;
    drop(ctl);
    let (conns, times, _) = connect_storm(&hosts, n, to).await?;
    let storm = *times.last().unwrap();
    eprintln!(
        "[{system}] ensemble: {n} sessions connected in {:.2} s",
        storm.as_secs_f64()
    );
    let paths: Arc<Vec<String>> = Arc::new((0..w).map(|i| format!("/f/n{i:04}")).collect());
    let p = paths.clone();
    let conns = on_all(conns, move |_, mut c| {
        let p = p.clone();
        async move {
            for path in p.iter() {
                c.push(op::GET_DATA, |o| put_path_watch(o, path, true));
            }
            let errors = c.replies(p.len()).await?;
            if errors > 0 {
                return Err(format!("{errors} getData with a watch failed"));
            }
            Ok(c)
        }
    })
    .await?;
    let leader = cluster.leader().ok_or("no leader")?;
    eprintln!(
        "[{system}] {} watches set; killing the leader, server {}",
        n * w,
        leader + 1
    );
    let hosts = Arc::new(hosts);
    let ready = Arc::new(AtomicUsize::new(0));
    let reconnects = Arc::new(AtomicUsize::new(0));
    let limit = Duration::from_secs(args.scenario_timeout);
    let mut set = JoinSet::new();
    for (i, c) in conns.into_iter().enumerate() {
        let (hosts, ready, paths, reconnects) = (
            hosts.clone(),
            ready.clone(),
            paths.clone(),
            reconnects.clone(),
        );
        set.spawn(async move {
            let mut c = c;
            ready.fetch_add(1, Ordering::SeqCst);
            c.wait_closed(Duration::from_secs(5), limit).await?;
            let closed = Instant::now();
            let resume = (c.session_id, c.passwd.clone(), c.last_zxid);
            drop(c);
            let mut k = i + 1;
            loop {
                if closed.elapsed() > limit {
                    return Err("not serving again in time".to_string());
                }
                let host = &hosts[k % hosts.len()];
                k += 1;
                reconnects.fetch_add(1, Ordering::Relaxed);
                let mut c = match Conn::open(host, to, Some(resume.clone())).await {
                    Ok(c) => c,
                    Err(e) if e.contains("expired") => return Err(e),
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50 + (i % 50) as u64)).await;
                        continue;
                    }
                };
                let sw = SetWatches {
                    relative_zxid: c.last_zxid,
                    data_watches: paths.to_vec(),
                    exist_watches: Vec::new(),
                    child_watches: Vec::new(),
                };
                c.push_xid(xid::SET_WATCHES, op::SET_WATCHES, |o| {
                    o.put_slice(&sw.to_bytes())
                });
                c.push(op::GET_DATA, |o| put_path_watch(o, &paths[0], false));
                let ok = async {
                    let a = c.replies(2).await?;
                    Ok::<usize, String>(a)
                };
                match ok.await {
                    Ok(0) => return Ok::<Instant, String>(Instant::now()),
                    Ok(e) => return Err(format!("{e} errors after reconnecting")),
                    Err(_) => continue,
                }
            }
        });
    }
    while ready.load(Ordering::SeqCst) < n {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed = Instant::now();
    cluster.kill(leader);
    let mut last = killed;
    let mut errors = Vec::new();
    while let Some(r) = set.join_next().await {
        match r.map_err(|e| e.to_string())? {
            Ok(at) => last = last.max(at),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(format!(
            "{} of {n} sessions did not come back, first: {}",
            errors.len(),
            errors[0]
        ));
    }
    eprintln!(
        "[{system}] failover: every session serving {:.2} s after the kill ({} connection attempts)",
        (last - killed).as_secs_f64(),
        reconnects.load(Ordering::Relaxed)
    );
    out.push((
        format!("leader failover, {n} sessions x {w} watches: kill to all serving"),
        ms(last - killed),
        "ms",
    ));
    Ok(())
}

fn run_system(
    args: &Args,
    system: &str,
    server_bin: &Path,
    rt: &tokio::runtime::Runtime,
) -> (Figures, Vec<String>) {
    let mut out = Figures::new();
    let mut failures = Vec::new();
    let timeout = Duration::from_secs(args.scenario_timeout);
    let standalone = ["sessions", "watches", "fire", "children", "values"];
    if args
        .scenarios
        .iter()
        .any(|s| standalone.contains(&s.as_str()))
    {
        let mut c = cluster(
            args,
            system,
            &args.dir.join(format!("{system}-standalone")),
            1,
            server_bin,
        );
        let r = start_all(&mut c, Duration::from_secs(120)).and_then(|_| {
            rt.block_on(async {
                tokio::time::timeout(
                    timeout * 3,
                    standalone_scenarios(args, system, &c, &mut out),
                )
                .await
                .map_err(|_| "timed out".to_string())?
            })
        });
        if let Err(e) = r {
            eprintln!("[{system}] standalone scenarios failed: {e}");
            failures.push(format!("{system} standalone: {e}"));
        }
    }
    if args.scenarios.iter().any(|s| s == "failover") {
        let mut c = cluster(
            args,
            system,
            &args.dir.join(format!("{system}-ensemble")),
            3,
            server_bin,
        );
        let r = start_all(&mut c, Duration::from_secs(120)).and_then(|_| {
            rt.block_on(async {
                tokio::time::timeout(timeout * 2, failover(args, system, &mut c, &mut out))
                    .await
                    .map_err(|_| "timed out".to_string())?
            })
        });
        if let Err(e) = r {
            eprintln!("[{system}] failover failed: {e}");
            failures.push(format!("{system} failover: {e}"));
        }
    }
    (out, failures)
}

fn main() {
    let args = Args::parse();
    let (soft, hard) = raise_nofile();
    let need = args.sessions.max(args.failover_sessions) as libc::rlim_t + 100;
    eprintln!("RLIMIT_NOFILE soft {soft}, hard {hard}");
    if soft < need {
        eprintln!("warning: {need} file descriptors wanted, the hard limit is {hard}");
    }
    let server_bin = args.server_bin.clone().unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("current_exe");
        exe.parent().expect("exe dir").join("zk-server")
    });
    let _ = std::fs::create_dir_all(&args.dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut results: BTreeMap<String, Figures> = BTreeMap::new();
    let mut failures = Vec::new();
    for system in &args.systems {
        let (f, e) = run_system(&args, system, &server_bin, &rt);
        results.insert(system.clone(), f);
        failures.extend(e);
    }
    print_table(&args, &results);
    if let Some(path) = &args.json {
        let mut j = serde_json::Map::new();
        for (system, figs) in &results {
            let m: serde_json::Map<String, serde_json::Value> = figs
                .iter()
                .map(|(k, v, _)| (k.clone(), serde_json::json!(v)))
                .collect();
            j.insert(system.clone(), serde_json::Value::Object(m));
        }
        j.insert("failures".into(), serde_json::json!(failures));
        std::fs::write(path, serde_json::to_string_pretty(&j).unwrap()).expect("write the JSON");
    }
    rt.shutdown_timeout(Duration::from_secs(1));
    if !failures.is_empty() {
        for f in &failures {
            println!("FAILED: {f}");
        }
        std::process::exit(1);
    }
}

fn print_table(args: &Args, results: &BTreeMap<String, Figures>) {
    let systems: Vec<&String> = args
        .systems
        .iter()
        .filter(|s| results.contains_key(*s))
        .collect();
    let mut names: Vec<(String, &'static str)> = Vec::new();
    for s in &systems {
        for (k, _, unit) in &results[*s] {
            if !names.iter().any(|(n, _)| n == k) {
                names.push((k.clone(), unit));
            }
        }
    }
    let header: Vec<String> = systems.iter().map(|s| s.to_string()).collect();
    let ratio = systems.len() == 2;
    println!(
        "| figure | {} |{}",
        header.join(" | "),
        if ratio {
            format!(" {} / {} |", header[0], header[1])
        } else {
            String::new()
        }
    );
    println!(
        "| --- |{}{}",
        " ---: |".repeat(systems.len()),
        if ratio { " ---: |" } else { "" }
    );
    for (name, unit) in names {
        let vals: Vec<Option<f64>> = systems
            .iter()
            .map(|s| {
                results[*s]
                    .iter()
                    .find(|(k, _, _)| *k == name)
                    .map(|(_, v, _)| *v)
            })
            .collect();
        let cells: Vec<String> = vals
            .iter()
            .map(|v| {
                v.map(|v| format!("{v:.1} {unit}"))
                    .unwrap_or_else(|| "-".into())
            })
            .collect();
        let r = match (
            ratio,
            vals.first().copied().flatten(),
            vals.get(1).copied().flatten(),
        ) {
            (true, Some(a), Some(b)) if b != 0.0 => format!(" {:.3} |", a / b),
            (true, _, _) => " - |".to_string(),
            _ => String::new(),
        };
        println!("| {name} | {} |{r}", cells.join(" | "));
    }
}
