//! `zk-load`: a load generator that speaks ZooKeeper's client protocol to any server
//! (ours or Apache ZooKeeper), so that both are measured by the same client.
//!
//! N sessions, spread round-robin over the servers of the connect string, each keeping
//! M requests outstanding on one connection (ZooKeeper answers a connection's requests
//! in order, so replies are matched to a FIFO of sent requests). Workloads: `create`
//! (new nodes), `set`, `get`, and `mixed` (gets with probability `--read-ratio`, sets
//! otherwise) over `--keys` existing nodes of `--value-size` bytes, which a setup phase
//! creates first. It runs for `--duration` seconds after `--warmup` seconds, or for
//! `--count` operations in all; prints progress every second on stderr, and at the end
//! ops/s, latency percentiles (from sending a request to reading its reply) and errors
//! by result code, as text and, with `--json`, as JSON.
//!
//! A lean raw connection instead of `zk_cli::client::Client`: the generator shares
//! two cores with the servers it measures, so it encodes requests into one buffer per
//! batch, writes each batch with one system call and parses replies in place, with no
//! task, channel or allocation per request.
//!
//! ```text
//! zk-load --hosts 127.0.0.1:2181,127.0.0.1:2182 --sessions 4 --outstanding 32 \
//!         --workload mixed --read-ratio 0.9 --value-size 100 --keys 10000 \
//!         --duration 10 --warmup 2 --json out.json
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, BytesMut};
use clap::{Parser, ValueEnum};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zab_core::jute::{self, Record};
use zab_core::proto::{op, xid, ConnectRequest, ConnectResponse};
use zab_core::records::{write_acls, Acl, ErrorCode};
use zk_benches::hist::Histogram;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// Create new nodes (a write each).
    Create,
    /// setData on existing nodes.
    Set,
    /// getData on existing nodes.
    Get,
    /// getData with probability --read-ratio, setData otherwise.
    Mixed,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Create => "create",
            Workload::Set => "set",
            Workload::Get => "get",
            Workload::Mixed => "mixed",
        }
    }
}

#[derive(Parser, Debug, Clone)]
#[command(
    name = "zk-load",
    about = "Load generator for ZooKeeper-compatible servers"
)]
struct Args {
    /// Connect string: host:port[,host:port...]; sessions are spread over the servers.
    #[arg(long, default_value = "127.0.0.1:2181")]
    hosts: String,
    /// Client sessions (one connection each).
    #[arg(long, default_value_t = 4)]
    sessions: usize,
    /// Requests outstanding per session.
    #[arg(long, default_value_t = 32)]
    outstanding: usize,
    #[arg(long, value_enum, default_value = "mixed")]
    workload: Workload,
    /// Share of reads in the mixed workload (0.0..=1.0).
    #[arg(long, default_value_t = 0.9)]
    read_ratio: f64,
    /// Bytes of data per node written.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Nodes that get, set and mixed pick from at random.
    #[arg(long, default_value_t = 10_000)]
    keys: usize,
    /// Seconds to measure (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring starts (JIT, caches, connection set-up).
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Stop after this many operations in all instead of after --duration (no warm-up).
    #[arg(long)]
    count: Option<u64>,
    /// Parent node of everything the generator creates.
    #[arg(long, default_value = "/zk-load")]
    prefix: String,
    /// Skip creating the prefix and the keys (they exist already).
    #[arg(long)]
    no_setup: bool,
    /// Session timeout asked for, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    session_timeout_ms: i32,
    /// Write the result as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Seconds between progress lines on stderr (0: none).
    #[arg(long, default_value_t = 1.0)]
    progress: f64,
    /// Threads of the generator's runtime (1: everything on one thread).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seed of the key choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// What a session sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    /// Create keys `from..to` (set-up; NodeExists is fine).
    CreateKeys { from: usize, to: usize },
    /// The workload itself.
    Run(Workload),
}

/// Shared between the sessions, the progress printer and `main`.
struct Shared {
    /// Completed operations (all, for progress).
    done: AtomicU64,
    errors: AtomicU64,
    /// Operations handed out in count mode.
    issued: AtomicU64,
    limit: Option<u64>,
    /// Replies are recorded while set (after the warm-up, until the end).
    recording: AtomicBool,
    /// No new requests once set.
    stop: AtomicBool,
}

impl Shared {
    fn new(limit: Option<u64>) -> Shared {
        Shared {
            done: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            issued: AtomicU64::new(0),
            limit,
            recording: AtomicBool::new(limit.is_some()),
            stop: AtomicBool::new(false),
        }
    }

    /// May one more request be sent?
    fn take(&self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        match self.limit {
            None => true,
            Some(n) => self.issued.fetch_add(1, Ordering::Relaxed) < n,
        }
    }
}

/// What one session measured.
#[derive(Default)]
struct SessionStats {
    latency_us: Histogram,
    reads: u64,
    writes: u64,
    errors: BTreeMap<i32, u64>,
    /// Why the session ended early, if it did.
    failure: Option<String>,
}

#[derive(Clone, Copy)]
enum Kind {
    Read,
    Write,
}

struct Sent {
    xid: i32,
    kind: Kind,
    at: Instant,
}

/// xorshift64*: cheap, seeded, good enough to pick keys.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn key_path(out: &mut String, prefix: &str, k: usize) {
    use std::fmt::Write;
    out.clear();
    let _ = write!(out, "{prefix}/k{k:010}");
}

/// Appends one request frame: `int(len) int(xid) int(type) body`.
fn frame(out: &mut BytesMut, xid: i32, op_type: i32, body: impl FnOnce(&mut BytesMut)) {
    let at = out.len();
    out.put_i32(0);
    out.put_i32(xid);
    out.put_i32(op_type);
    body(out);
    let len = (out.len() - at - 4) as i32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

fn put_create(out: &mut BytesMut, xid: i32, path: &str, data: &[u8], acl: &[Acl]) {
    frame(out, xid, op::CREATE, |o| {
        jute::write_string(o, path);
        jute::write_buffer(o, data);
        write_acls(o, acl);
        o.put_i32(0); // persistent
    });
}

fn put_set(out: &mut BytesMut, xid: i32, path: &str, data: &[u8]) {
    frame(out, xid, op::SET_DATA, |o| {
        jute::write_string(o, path);
        jute::write_buffer(o, data);
        o.put_i32(-1);
    });
}

fn put_get(out: &mut BytesMut, xid: i32, path: &str) {
    frame(out, xid, op::GET_DATA, |o| {
        jute::write_string(o, path);
        o.put_u8(0);
    });
}

/// Opens a session on `host`.
async fn connect(host: &str, timeout_ms: i32) -> Result<TcpStream, String> {
    let mut s = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(host))
        .await
        .map_err(|_| format!("connecting to {host} timed out"))?
        .map_err(|e| format!("cannot connect to {host}: {e}"))?;
    let _ = s.set_nodelay(true);
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms,
        session_id: 0,
        passwd: bytes::Bytes::from_static(&[0; 16]),
        read_only: Some(false),
    };
    let mut buf = BytesMut::new();
    let body = req.to_bytes();
    buf.put_i32(body.len() as i32);
    buf.put_slice(&body);
    s.write_all(&buf)
        .await
        .map_err(|e| format!("handshake with {host}: {e}"))?;
    let mut len = [0u8; 4];
    let read = async {
        s.read_exact(&mut len).await?;
        let n = i32::from_be_bytes(len).clamp(0, 1 << 16) as usize;
        let mut b = vec![0u8; n];
        s.read_exact(&mut b).await?;
        Ok::<_, std::io::Error>(b)
    };
    let b = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .map_err(|_| format!("handshake with {host} timed out"))?
        .map_err(|e| format!("handshake with {host}: {e}"))?;
    let resp =
        ConnectResponse::from_bytes(&b).map_err(|e| format!("bad handshake from {host}: {e}"))?;
    if resp.session_id == 0 {
        return Err(format!("{host} refused the session"));
    }
    Ok(s)
}

/// How long to wait for a reply before calling the server stuck.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// One session: keep `outstanding` requests in flight until told to stop, then drain.
async fn session(
    n: usize,
    host: String,
    args: Arc<Args>,
    plan: Plan,
    shared: Arc<Shared>,
    run_id: u64,
) -> SessionStats {
    let mut st = SessionStats::default();
    let mut stream = match connect(&host, args.session_timeout_ms).await {
        Ok(s) => s,
        Err(e) => {
            st.failure = Some(e);
            return st;
        }
    };
    let value = vec![b'v'; args.value_size];
    let acl = Acl::open_unsafe();
    let mut rng = Rng(args.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (n as u64 + 1) << 17 | 1);
    let mut path = String::with_capacity(args.prefix.len() + 40);
    let mut wbuf = BytesMut::with_capacity(64 * 1024);
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    let mut inflight: VecDeque<Sent> = VecDeque::with_capacity(args.outstanding);
    let mut next_xid: i32 = 1;
    let mut created: u64 = 0;
    let mut next_key = match plan {
        Plan::CreateKeys { from, .. } => from,
        _ => 0,
    };
    let mut exhausted = false;
    loop {
        // Fill the window, then send it with one write.
        let now = Instant::now();
        while !exhausted && inflight.len() < args.outstanding {
            if let Plan::CreateKeys { to, .. } = plan {
                if next_key >= to {
                    exhausted = true;
                    break;
                }
            } else if !shared.take() {
                exhausted = true;
                break;
            }
            let x = next_xid;
            next_xid = next_xid.wrapping_add(1).max(1);
            let kind = match plan {
                Plan::CreateKeys { .. } => {
                    key_path(&mut path, &args.prefix, next_key);
                    next_key += 1;
                    put_create(&mut wbuf, x, &path, &value, &acl);
                    Kind::Write
                }
                Plan::Run(Workload::Create) => {
                    use std::fmt::Write;
                    path.clear();
                    let _ = write!(path, "{}/c{run_id:x}-{n}-{created}", args.prefix);
                    created += 1;
                    put_create(&mut wbuf, x, &path, &value, &acl);
                    Kind::Write
                }
                Plan::Run(w) => {
                    key_path(&mut path, &args.prefix, rng.below(args.keys));
                    let read = match w {
                        Workload::Get => true,
                        Workload::Set => false,
                        _ => rng.unit() < args.read_ratio,
                    };
                    if read {
                        put_get(&mut wbuf, x, &path);
                        Kind::Read
                    } else {
                        put_set(&mut wbuf, x, &path, &value);
                        Kind::Write
                    }
                }
            };
            inflight.push_back(Sent {
                xid: x,
                kind,
                at: now,
            });
        }
        if !wbuf.is_empty() {
            if let Err(e) = stream.write_all(&wbuf).await {
                st.failure = Some(format!("write to {host}: {e}"));
                break;
            }
            wbuf.clear();
        }
        if inflight.is_empty() {
            break;
        }
        // Read what has arrived and match it to the oldest requests.
        let r = tokio::time::timeout(REPLY_TIMEOUT, stream.read_buf(&mut rbuf)).await;
        match r {
            Err(_) => {
                st.failure = Some(format!("no reply from {host} in {REPLY_TIMEOUT:?}"));
                break;
            }
            Ok(Err(e)) => {
                st.failure = Some(format!("read from {host}: {e}"));
                break;
            }
            Ok(Ok(0)) => {
                st.failure = Some(format!("{host} closed the connection"));
                break;
            }
            Ok(Ok(_)) => {}
        }
        let now = Instant::now();
        let recording = shared.recording.load(Ordering::Relaxed);
        let mut done = 0;
        let mut errors = 0;
        while rbuf.len() >= 4 {
            let len = i32::from_be_bytes([rbuf[0], rbuf[1], rbuf[2], rbuf[3]]);
            if len < 16 {
                st.failure = Some(format!("{host} sent a frame of {len} bytes"));
                break;
            }
            if rbuf.len() < 4 + len as usize {
                rbuf.reserve(4 + len as usize - rbuf.len());
                break;
            }
            let mut f = rbuf.split_to(4 + len as usize);
            f.advance(4);
            let rx = f.get_i32();
            let _zxid = f.get_i64();
            let err = f.get_i32();
            if rx == xid::NOTIFICATION || rx == xid::PING {
                continue;
            }
            let Some(sent) = inflight.pop_front() else {
                st.failure = Some(format!("{host} answered xid {rx} that was never sent"));
                break;
            };
            if sent.xid != rx {
                st.failure = Some(format!("{host} answered xid {rx}, expected {}", sent.xid));
                break;
            }
            done += 1;
            let setup_exists =
                matches!(plan, Plan::CreateKeys { .. }) && err == ErrorCode::NodeExists.code();
            if err != 0 && !setup_exists {
                errors += 1;
            }
            if recording {
                if err != 0 && !setup_exists {
                    *st.errors.entry(err).or_default() += 1;
                }
                st.latency_us
                    .record(now.duration_since(sent.at).as_micros() as u64);
                match sent.kind {
                    Kind::Read => st.reads += 1,
                    Kind::Write => st.writes += 1,
                }
            }
        }
        shared.done.fetch_add(done, Ordering::Relaxed);
        if errors > 0 {
            shared.errors.fetch_add(errors, Ordering::Relaxed);
        }
        if st.failure.is_some() {
            break;
        }
    }
    if st.failure.is_some() {
        // Whatever was still outstanding is lost with the connection.
        let lost = inflight.len() as u64;
        shared.errors.fetch_add(lost, Ordering::Relaxed);
        if shared.recording.load(Ordering::Relaxed) {
            *st.errors
                .entry(ErrorCode::ConnectionLoss.code())
                .or_default() += lost;
        }
        return st;
    }
    // Close the session so that the next run starts clean.
    wbuf.clear();
    frame(&mut wbuf, next_xid, op::CLOSE_SESSION, |_| {});
    if stream.write_all(&wbuf).await.is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            let mut b = [0u8; 256];
            while let Ok(n) = stream.read(&mut b).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }
    st
}

/// Creates one node, ignoring NodeExists.
async fn create_one(host: &str, args: &Args, path: &str) -> Result<(), String> {
    let mut s = connect(host, args.session_timeout_ms).await?;
    let mut b = BytesMut::new();
    put_create(&mut b, 1, path, &[], &Acl::open_unsafe());
    frame(&mut b, 2, op::CLOSE_SESSION, |_| {});
    s.write_all(&b).await.map_err(|e| e.to_string())?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await.map_err(|e| e.to_string())?;
    let mut f = vec![0u8; i32::from_be_bytes(len).clamp(16, 1 << 16) as usize];
    s.read_exact(&mut f).await.map_err(|e| e.to_string())?;
    let err = i32::from_be_bytes([f[12], f[13], f[14], f[15]]);
    if err != 0 && err != ErrorCode::NodeExists.code() {
        return Err(format!(
            "create {path}: {:?}",
            ErrorCode::from_code(err).unwrap_or(ErrorCode::SystemError)
        ));
    }
    Ok(())
}

fn spread(hosts: &[String], i: usize) -> String {
    hosts[i % hosts.len()].clone()
}

async fn run_sessions(
    args: &Arc<Args>,
    hosts: &[String],
    plans: Vec<Plan>,
    shared: &Arc<Shared>,
    run_id: u64,
) -> Vec<tokio::task::JoinHandle<SessionStats>> {
    plans
        .into_iter()
        .enumerate()
        .map(|(i, plan)| {
            tokio::spawn(session(
                i,
                spread(hosts, i),
                args.clone(),
                plan,
                shared.clone(),
                run_id,
            ))
        })
        .collect()
}

/// Prints a progress line every `every` until `stop` is set.
fn progress(shared: Arc<Shared>, every: f64, label: &'static str) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if every <= 0.0 {
            return;
        }
        let start = Instant::now();
        let mut last = (start, 0u64);
        let mut tick = tokio::time::interval(Duration::from_secs_f64(every));
        tick.tick().await;
        loop {
            tick.tick().await;
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            let now = Instant::now();
            let done = shared.done.load(Ordering::Relaxed);
            let rate = (done - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
            eprintln!(
                "zk-load {label} {:>6.1}s {:>9.0} ops/s {:>10} done {:>6} errors",
                now.duration_since(start).as_secs_f64(),
                rate,
                done,
                shared.errors.load(Ordering::Relaxed)
            );
            last = (now, done);
        }
    })
}

async fn setup(args: &Arc<Args>, hosts: &[String], run_id: u64) -> Result<(), String> {
    create_one(&hosts[0], args, &args.prefix).await?;
    if args.workload == Workload::Create {
        return Ok(());
    }
    let shared = Arc::new(Shared::new(None));
    let n = args.sessions.max(1);
    let plans = (0..n)
        .map(|i| Plan::CreateKeys {
            from: args.keys * i / n,
            to: args.keys * (i + 1) / n,
        })
        .collect();
    let p = progress(shared.clone(), args.progress, "setup");
    let started = Instant::now();
    let handles = run_sessions(args, hosts, plans, &shared, run_id).await;
    let mut failure = None;
    for h in handles {
        let st = h.await.map_err(|e| e.to_string())?;
        failure = failure.or(st.failure);
    }
    shared.stop.store(true, Ordering::Relaxed);
    p.abort();
    if let Some(f) = failure {
        return Err(f);
    }
    let errors = shared.errors.load(Ordering::Relaxed);
    if errors > 0 {
        return Err(format!("{errors} errors while creating the keys"));
    }
    eprintln!(
        "zk-load: {} keys of {} bytes ready under {} in {:.1} s",
        args.keys,
        args.value_size,
        args.prefix,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn error_name(code: i32) -> String {
    match ErrorCode::from_code(code) {
        Some(c) => format!("{c:?}"),
        None => format!("error {code}"),
    }
}

async fn run(args: Args) -> Result<serde_json::Value, String> {
    let args = Arc::new(args);
    let hosts: Vec<String> = args
        .hosts
        .split('/')
        .next()
        .unwrap_or_default()
        .split(',')
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .collect();
    if hosts.is_empty() {
        return Err("no hosts".into());
    }
    if args.sessions == 0 || args.outstanding == 0 {
        return Err("--sessions and --outstanding must be at least 1".into());
    }
    if !(0.0..=1.0).contains(&args.read_ratio) {
        return Err("--read-ratio must be within 0.0..=1.0".into());
    }
    if args.workload != Workload::Create && args.keys == 0 {
        return Err("--keys must be at least 1".into());
    }
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
        & 0xffff_ffff;
    if !args.no_setup {
        setup(&args, &hosts, run_id).await?;
    }

    let shared = Arc::new(Shared::new(args.count));
    let plans = vec![Plan::Run(args.workload); args.sessions];
    let p = progress(shared.clone(), args.progress, args.workload.name());
    let handles = run_sessions(&args, &hosts, plans, &shared, run_id).await;
    let measured = if args.count.is_some() {
        let start = Instant::now();
        let mut stats = Vec::new();
        for h in handles {
            stats.push(h.await.map_err(|e| e.to_string())?);
        }
        (start.elapsed(), stats)
    } else {
        tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
        shared.recording.store(true, Ordering::Relaxed);
        // The measured window's edges, for whoever samples the servers' CPU (zk-compare).
        eprintln!("zk-load: measuring");
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
        shared.recording.store(false, Ordering::Relaxed);
        eprintln!("zk-load: measured");
        shared.stop.store(true, Ordering::Relaxed);
        let elapsed = start.elapsed();
        let mut stats = Vec::new();
        for h in handles {
            stats.push(h.await.map_err(|e| e.to_string())?);
        }
        (elapsed, stats)
    };
    shared.stop.store(true, Ordering::Relaxed);
    p.abort();
    let (elapsed, stats) = measured;

    let mut hist = Histogram::default();
    let mut reads = 0;
    let mut writes = 0;
    let mut errors: BTreeMap<i32, u64> = BTreeMap::new();
    let mut failures = Vec::new();
    for st in &stats {
        hist.merge(&st.latency_us);
        reads += st.reads;
        writes += st.writes;
        for (c, n) in &st.errors {
            *errors.entry(*c).or_default() += n;
        }
        if let Some(f) = &st.failure {
            failures.push(f.clone());
        }
    }
    let ops = reads + writes;
    let secs = elapsed.as_secs_f64();
    let error_count: u64 = errors.values().sum();
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "workload {} on {} ({} sessions x {} outstanding, {} B values{})",
        args.workload.name(),
        args.hosts,
        args.sessions,
        args.outstanding,
        args.value_size,
        if args.workload == Workload::Mixed {
            format!(", {:.0}% reads", args.read_ratio * 100.0)
        } else {
            String::new()
        }
    );
    println!(
        "{ops} ops in {secs:.2} s: {:.0} ops/s ({reads} reads, {writes} writes)",
        ops as f64 / secs
    );
    println!(
        "latency ms: p50 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  mean {:.3}",
        ms(hist.quantile(0.5)),
        ms(hist.quantile(0.99)),
        ms(hist.quantile(0.999)),
        ms(hist.max()),
        hist.mean() / 1000.0
    );
    println!("errors: {error_count}");
    for (c, n) in &errors {
        println!("  {}: {n}", error_name(*c));
    }
    for f in &failures {
        println!("session failed: {f}");
    }
    let errors_json: serde_json::Map<String, serde_json::Value> = errors
        .iter()
        .map(|(c, n)| (error_name(*c), serde_json::json!(n)))
        .collect();
    Ok(serde_json::json!({
        "workload": args.workload.name(),
        "hosts": args.hosts,
        "sessions": args.sessions,
        "outstanding": args.outstanding,
        "value_size": args.value_size,
        "keys": args.keys,
        "read_ratio": if args.workload == Workload::Mixed { args.read_ratio } else if args.workload == Workload::Get { 1.0 } else { 0.0 },
        "seconds": secs,
        "ops": ops,
        "reads": reads,
        "writes": writes,
        "ops_per_s": ops as f64 / secs,
        "errors": error_count,
        "errors_by_code": errors_json,
        "failed_sessions": failures,
        "latency_ms": {
            "p50": ms(hist.quantile(0.5)),
            "p99": ms(hist.quantile(0.99)),
            "p999": ms(hist.quantile(0.999)),
            "max": ms(hist.max()),
            "mean": hist.mean() / 1000.0,
        },
    }))
}

fn main() {
    let args = Args::parse();
    let mut rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(args.threads);
        b
    };
    let rt = rt.enable_all().build().expect("tokio runtime");
    let json = args.json.clone();
    match rt.block_on(run(args)) {
        Ok(v) => {
            if let Some(p) = json {
                let text = serde_json::to_string_pretty(&v).expect("json");
                if let Err(e) = std::fs::write(&p, text + "\n") {
                    eprintln!("zk-load: cannot write {}: {e}", p.display());
                    std::process::exit(1);
                }
            }
            let failed = v["failed_sessions"]
                .as_array()
                .is_some_and(|a| !a.is_empty());
            if failed {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("zk-load: {e}");
            std::process::exit(1);
        }
    }
}
