//! Jepsen-style runs against a real multi-process ensemble on 127.0.0.1.
//!
//! A run starts an ensemble of `zk-server` processes whose peer links go through the harness's
//! TCP proxies, runs four workloads through the client protocol (the project's Rust client,
//! one session per process), and meanwhile lets a nemesis break things: kill -9 of the leader,
//! of a random server or of all of them, SIGSTOP longer than the session timeout, partitions
//! (random halves, a bridge, one-way isolation of the leader), and corruption of the newest
//! log tail on a minority. At the end it heals everything, reads the final state, and checks:
//!
//! - per-key compare-and-set registers (`getData`, then `setData` with the read version):
//!   the compare-and-set writes and the final reads are linearizable, by the WGL search in
//!   [`wgl`], one history per key; reads during the run are checked for what ZooKeeper
//!   promises of them: a server answers from its own copy, so a read may lag other clients'
//!   writes (sequential consistency, not linearizability), but a session never sees a key go
//!   back to an older version than it has already seen or written;
//! - a grow-only set (read-modify-write with version): every acknowledged element is in the
//!   final read ([`checkers::set`]);
//! - unique ids from sequential creates: no duplicates ([`checkers::unique_ids`]);
//! - a queue (sequential create to enqueue, `multi {check, delete}` to dequeue): nothing lost,
//!   nothing delivered twice ([`checkers::queue`]).
//!
//! An operation that timed out or lost its connection is indeterminate, never counted as
//! failed. The run is seeded: the seed decides the nemesis schedule and the workloads' choices
//! (the interleaving with real processes is not reproducible, the schedule is).

pub mod checkers;
mod nemesis;
pub mod wgl;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zab_core::proto::{
    create_mode, CheckVersionRequest, DeleteRequest, ErrorCode, MultiOp, OpResult,
};
use zab_core::records::Acl;
use zk_cli::client::{Client, ClientError, ConnectOptions};

use crate::ensemble::{Ensemble, Spec};
use nemesis::{heal, inject, Faults};
use wgl::{Operation, RegisterOp};

/// The faults a run may inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    KillLeader,
    KillRandom,
    KillAll,
    /// SIGSTOP of a random server for longer than the session timeout.
    Pause,
    PartitionHalves,
    /// Two halves that only one server connects.
    Bridge,
    /// Nothing the leader sends arrives; it still hears everyone.
    IsolateLeaderOneWay,
    /// A minority loses the tail of its newest log segment (zeroed: torn) or has a byte
    /// flipped in it (corrupt: the server must refuse to start, naming the file).
    CorruptTail,
}

#[derive(Clone, Debug)]
pub struct RunConfig {
    pub name: String,
    pub seed: u64,
    pub voters: usize,
    pub duration: Duration,
    pub faults: Vec<Fault>,
    pub registers: usize,
}

/// What a run found.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub name: String,
    pub seed: u64,
    pub duration_secs: f64,
    pub histories: usize,
    pub operations: usize,
    pub acknowledged_writes: usize,
    pub indeterminate: usize,
    pub violations: Vec<String>,
    pub lost: usize,
    pub faults: Vec<String>,
}

impl Report {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "seed": self.seed,
            "duration_secs": self.duration_secs,
            "histories_checked": self.histories,
            "operations": self.operations,
            "acknowledged_writes": self.acknowledged_writes,
            "indeterminate": self.indeterminate,
            "violations": self.violations,
            "acknowledged_writes_lost": self.lost,
            "faults": self.faults,
        })
    }
}

/// The run's only source of randomness (the simulator's SplitMix64), with a helper for
/// random durations.
pub use zab_core::sim::Rng;

fn millis(rng: &mut Rng, lo: u64, hi: u64) -> Duration {
    Duration::from_millis(rng.range(lo, hi))
}

const SESSION_TIMEOUT: Duration = Duration::from_secs(4);
/// A request that takes longer than this is indeterminate.
const OP_TIMEOUT: Duration = Duration::from_secs(3);

fn spec(voters: usize) -> Spec {
    // A short tick so that failures are noticed within a second; small snapCount so that
    // snapshots are taken (and synced by SNAP) under faults.
    Spec::new(voters, 0)
        .ticks(200, 10, 5)
        .proxied()
        .extra("snapCount", "500")
}

/// How one request ended.
enum Outcome<T> {
    Ok(T),
    /// The server answered with this result code: the request did not take effect.
    Failed(ErrorCode),
    /// Timed out or lost its connection: it may or may not have taken effect.
    Unknown,
    /// The session is gone: make a new one.
    Expired,
}

async fn call<T>(f: impl std::future::Future<Output = Result<T, ClientError>>) -> Outcome<T> {
    match tokio::time::timeout(OP_TIMEOUT, f).await {
        Err(_) => Outcome::Unknown,
        Ok(Ok(v)) => Outcome::Ok(v),
        Ok(Err(ClientError::SessionExpired | ClientError::Closed | ClientError::AuthFailed)) => {
            Outcome::Expired
        }
        Ok(Err(ClientError::Server { code, .. })) => match code {
            ErrorCode::ConnectionLoss | ErrorCode::OperationTimeout => Outcome::Unknown,
            ErrorCode::SessionExpired | ErrorCode::SessionMoved => Outcome::Expired,
            c => Outcome::Failed(c),
        },
        Ok(Err(_)) => Outcome::Unknown,
    }
}

/// A client process: one session at a time, replaced when it expires.
struct Process {
    hosts: String,
    client: Option<Client>,
    /// Counts sessions, so that per-session checks start over with a new one.
    sessions: u64,
}

impl Process {
    fn new(hosts: &str) -> Process {
        Process {
            hosts: hosts.to_string(),
            client: None,
            sessions: 0,
        }
    }

    async fn client(&mut self) -> Option<&Client> {
        if self.client.is_none() {
            let opts = ConnectOptions {
                session_timeout: SESSION_TIMEOUT,
                connect_timeout: Duration::from_secs(5),
                read_only: false,
            };
            match tokio::time::timeout(Duration::from_secs(6), Client::start(&self.hosts, opts))
                .await
            {
                Ok(Ok((c, _events))) => {
                    self.client = Some(c);
                    self.sessions += 1;
                }
                _ => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    return None;
                }
            }
        }
        self.client.as_ref()
    }

    fn expired(&mut self) {
        if let Some(c) = self.client.take() {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(1), c.close()).await;
            });
        }
    }
}

/// Everything the workloads recorded.
#[derive(Default)]
struct Recorded {
    registers: BTreeMap<usize, Vec<Operation<RegisterOp>>>,
    set_acked: BTreeSet<i64>,
    set_attempted: BTreeSet<i64>,
    ids_acked: Vec<String>,
    queue_acked: BTreeSet<i64>,
    queue_attempted: BTreeSet<i64>,
    queue_delivered: Vec<i64>,
    queue_maybe: BTreeSet<i64>,
    /// Reads that went back in time within one session.
    session_violations: Vec<String>,
    operations: usize,
    acknowledged_writes: usize,
    indeterminate: usize,
}

type Shared = Arc<Mutex<Recorded>>;

fn micros(start: Instant) -> u64 {
    start.elapsed().as_micros() as u64
}

fn parse_i64(b: &[u8]) -> i64 {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(i64::MIN)
}

async fn registers_process(
    p: usize,
    hosts: String,
    keys: usize,
    mut rng: Rng,
    start: Instant,
    end: Instant,
    rec: Shared,
) {
    let mut proc_ = Process::new(&hosts);
    let mut seq = 0i64;
    // The newest version of each key this session has seen or written.
    let mut seen: BTreeMap<usize, i32> = BTreeMap::new();
    let mut session = 0;
    while Instant::now() < end {
        let Some(c) = proc_.client().await else {
            continue;
        };
        let c = c.clone();
        if proc_.sessions != session {
            session = proc_.sessions;
            seen.clear();
        }
        let key = rng.below(keys as u64) as usize;
        let path = format!("/jepsen/reg/{key}");
        match call(c.get_data(&path, false)).await {
            Outcome::Ok((data, stat)) => {
                let t1 = micros(start);
                let value = parse_i64(&data);
                {
                    let mut r = rec.lock().unwrap();
                    r.operations += 1;
                    let newest = seen.entry(key).or_insert(stat.version);
                    if stat.version < *newest {
                        r.session_violations.push(format!(
                            "register {key}: process {p} read version {} (value {value}) at {t1} us after its session had seen version {}",
                            stat.version, *newest
                        ));
                    }
                    *newest = (*newest).max(stat.version);
                }
                if rng.below(2) == 0 {
                    continue;
                }
                // Compare-and-set with the version just read.
                seq += 1;
                let new = (p as i64 + 1) * 1_000_000 + seq;
                let w0 = micros(start);
                let out = call(c.set_data(&path, new.to_string().as_bytes(), stat.version)).await;
                let w1 = micros(start);
                let was_expired = matches!(out, Outcome::Expired);
                {
                    let mut r = rec.lock().unwrap();
                    r.operations += 1;
                    let entry = match out {
                        Outcome::Ok(_) => {
                            r.acknowledged_writes += 1;
                            let newest = seen.entry(key).or_insert(0);
                            *newest = (*newest).max(stat.version + 1);
                            Some((
                                RegisterOp::Write {
                                    expected: stat.version,
                                    value: new,
                                },
                                Some(w1),
                            ))
                        }
                        Outcome::Failed(ErrorCode::BadVersion) => Some((
                            RegisterOp::WriteRefused {
                                expected: stat.version,
                            },
                            Some(w1),
                        )),
                        Outcome::Failed(_) => None,
                        Outcome::Unknown | Outcome::Expired => {
                            r.indeterminate += 1;
                            Some((
                                RegisterOp::WriteUnknown {
                                    expected: stat.version,
                                    value: new,
                                },
                                None,
                            ))
                        }
                    };
                    if let Some((op, ret)) = entry {
                        r.registers
                            .entry(key)
                            .or_default()
                            .push(Operation { op, call: w0, ret });
                    }
                }
                if was_expired {
                    proc_.expired();
                }
            }
            Outcome::Expired => proc_.expired(),
            Outcome::Failed(_) | Outcome::Unknown => {}
        }
    }
}

async fn set_process(p: usize, hosts: String, end: Instant, rec: Shared) {
    let mut proc_ = Process::new(&hosts);
    let mut n = 0i64;
    'elements: while Instant::now() < end {
        n += 1;
        let e = (p as i64 + 1) * 1_000_000 + n;
        rec.lock().unwrap().set_attempted.insert(e);
        // Read-modify-write with the version until it sticks or its fate is unknown.
        for _ in 0..20 {
            if Instant::now() >= end {
                break 'elements;
            }
            let Some(c) = proc_.client().await else {
                continue;
            };
            let c = c.clone();
            let (data, stat) = match call(c.get_data("/jepsen/set", false)).await {
                Outcome::Ok(v) => v,
                Outcome::Expired => {
                    proc_.expired();
                    continue;
                }
                _ => continue,
            };
            let mut text = String::from_utf8_lossy(&data).into_owned();
            if !text.is_empty() {
                text.push(',');
            }
            text.push_str(&e.to_string());
            let out = call(c.set_data("/jepsen/set", text.as_bytes(), stat.version)).await;
            let mut r = rec.lock().unwrap();
            r.operations += 2;
            match out {
                Outcome::Ok(_) => {
                    r.set_acked.insert(e);
                    r.acknowledged_writes += 1;
                    continue 'elements;
                }
                Outcome::Failed(ErrorCode::BadVersion) => continue,
                Outcome::Failed(_) => continue 'elements,
                Outcome::Unknown | Outcome::Expired => {
                    r.indeterminate += 1;
                    continue 'elements;
                }
            }
        }
    }
}

async fn ids_process(hosts: String, end: Instant, rec: Shared) {
    let mut proc_ = Process::new(&hosts);
    let acl = Acl::open_unsafe();
    while Instant::now() < end {
        let Some(c) = proc_.client().await else {
            continue;
        };
        let c = c.clone();
        let out = call(c.create(
            "/jepsen/ids/id-",
            b"",
            &acl,
            create_mode::PERSISTENT_SEQUENTIAL,
            0,
        ))
        .await;
        let mut r = rec.lock().unwrap();
        r.operations += 1;
        match out {
            Outcome::Ok((name, _)) => {
                r.ids_acked.push(name);
                r.acknowledged_writes += 1;
            }
            Outcome::Unknown => r.indeterminate += 1,
            Outcome::Expired => {
                r.indeterminate += 1;
                drop(r);
                proc_.expired();
            }
            Outcome::Failed(_) => {}
        }
    }
}

async fn enqueue_process(p: usize, hosts: String, end: Instant, rec: Shared) {
    let mut proc_ = Process::new(&hosts);
    let acl = Acl::open_unsafe();
    let mut n = 0i64;
    while Instant::now() < end {
        let Some(c) = proc_.client().await else {
            continue;
        };
        let c = c.clone();
        n += 1;
        let v = (p as i64 + 1) * 1_000_000 + n;
        rec.lock().unwrap().queue_attempted.insert(v);
        let out = call(c.create(
            "/jepsen/queue/q-",
            v.to_string().as_bytes(),
            &acl,
            create_mode::PERSISTENT_SEQUENTIAL,
            0,
        ))
        .await;
        let expired = matches!(out, Outcome::Expired);
        {
            let mut r = rec.lock().unwrap();
            r.operations += 1;
            match out {
                Outcome::Ok(_) => {
                    r.queue_acked.insert(v);
                    r.acknowledged_writes += 1;
                }
                Outcome::Unknown | Outcome::Expired => r.indeterminate += 1,
                Outcome::Failed(_) => {}
            }
        }
        if expired {
            proc_.expired();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Takes the head of the queue: `multi {check(version), delete}` on the oldest item.
/// `Some(Ok(v))` delivered, `Some(Err(v))` maybe delivered, `None` nothing taken.
async fn dequeue_one(c: &Client, rec: &Shared) -> Result<Option<Result<i64, i64>>, bool> {
    let mut children = match call(c.get_children("/jepsen/queue", false)).await {
        Outcome::Ok(v) => v,
        Outcome::Expired => return Err(true),
        _ => return Err(false),
    };
    children.sort();
    let Some(first) = children.first() else {
        return Ok(None);
    };
    let path = format!("/jepsen/queue/{first}");
    let (data, stat) = match call(c.get_data(&path, false)).await {
        Outcome::Ok(v) => v,
        Outcome::Failed(ErrorCode::NoNode) => return Ok(None),
        Outcome::Expired => return Err(true),
        _ => return Err(false),
    };
    let v = parse_i64(&data);
    let ops = vec![
        MultiOp::Check(CheckVersionRequest {
            path: path.clone(),
            version: stat.version,
        }),
        MultiOp::Delete(DeleteRequest { path, version: -1 }),
    ];
    let out = call(c.multi(ops)).await;
    let mut r = rec.lock().unwrap();
    r.operations += 3;
    Ok(match out {
        Outcome::Ok(results) => {
            if results.iter().all(|x| !matches!(x, OpResult::Error { .. })) {
                Some(Ok(v))
            } else {
                None
            }
        }
        Outcome::Failed(_) => None,
        Outcome::Unknown | Outcome::Expired => {
            r.indeterminate += 1;
            Some(Err(v))
        }
    })
}

async fn dequeue_process(hosts: String, end: Instant, rec: Shared) {
    let mut proc_ = Process::new(&hosts);
    while Instant::now() < end {
        let Some(c) = proc_.client().await else {
            continue;
        };
        let c = c.clone();
        match dequeue_one(&c, &rec).await {
            Ok(Some(Ok(v))) => rec.lock().unwrap().queue_delivered.push(v),
            Ok(Some(Err(v))) => {
                rec.lock().unwrap().queue_maybe.insert(v);
            }
            Ok(None) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(true) => proc_.expired(),
            Err(false) => {}
        }
    }
}

/// Runs one configuration to completion and checks it.
pub fn run(cfg: &RunConfig) -> Report {
    let started = Instant::now();
    let mut ens = Ensemble::new(spec(cfg.voters));
    ens.start_all();
    ens.wait_serving(&ens.ids(), Duration::from_secs(60));
    let hosts = ens.connect_string();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // The objects the workloads use.
    let keys = cfg.registers;
    rt.block_on(async {
        let (c, _) = Client::connect(&hosts).await.expect("setup client");
        let acl = Acl::open_unsafe();
        for p in ["/jepsen", "/jepsen/reg", "/jepsen/ids", "/jepsen/queue"] {
            c.create(p, b"", &acl, 0, 0).await.expect("setup");
        }
        c.create("/jepsen/set", b"", &acl, 0, 0)
            .await
            .expect("setup");
        for k in 0..keys {
            c.create(&format!("/jepsen/reg/{k}"), b"0", &acl, 0, 0)
                .await
                .expect("setup");
        }
        let _ = c.close().await;
    });

    let rec: Shared = Arc::new(Mutex::new(Recorded::default()));
    let start = Instant::now();
    let end = start + cfg.duration;
    let mut rng = Rng::new(cfg.seed);
    let mut tasks = Vec::new();
    for p in 0..4 {
        let r = Rng::new(rng.next_u64());
        tasks.push(rt.spawn(registers_process(
            p,
            hosts.clone(),
            keys,
            r,
            start,
            end,
            rec.clone(),
        )));
    }
    for p in 0..2 {
        tasks.push(rt.spawn(set_process(p, hosts.clone(), end, rec.clone())));
        tasks.push(rt.spawn(ids_process(hosts.clone(), end, rec.clone())));
        tasks.push(rt.spawn(enqueue_process(p, hosts.clone(), end, rec.clone())));
        tasks.push(rt.spawn(dequeue_process(hosts.clone(), end, rec.clone())));
    }

    // The nemesis: fault, hold, heal, rest.
    let mut notes = Vec::new();
    let mut faults = Faults::default();
    while Instant::now() + Duration::from_secs(2) < end {
        std::thread::sleep(millis(&mut rng, 500, 1500));
        if cfg.faults.is_empty() {
            continue;
        }
        let fault = cfg.faults[rng.below(cfg.faults.len() as u64) as usize];
        let what = inject(&mut ens, fault, &mut rng, &mut faults);
        notes.push(format!("{:.1}s {what}", start.elapsed().as_secs_f64()));
        let hold = if fault == Fault::Pause {
            SESSION_TIMEOUT + millis(&mut rng, 500, 2000)
        } else {
            millis(&mut rng, 1000, 3000)
        };
        std::thread::sleep(hold);
        heal(&mut ens, &mut faults, &mut notes);
        notes.push(format!("{:.1}s healed", start.elapsed().as_secs_f64()));
    }
    rt.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
    heal(&mut ens, &mut faults, &mut notes);
    ens.wait_serving(&ens.ids(), Duration::from_secs(60));

    // Final reads through a fresh session, after a sync.
    let mut rec = std::mem::take(&mut *rec.lock().unwrap());
    let (final_set, final_ids, drained) = rt.block_on(async {
        let (c, _) = Client::connect(&hosts).await.expect("final client");
        c.sync("/jepsen").await.expect("sync");
        for k in 0..keys {
            let t0 = micros(start);
            let (data, stat) = c
                .get_data(&format!("/jepsen/reg/{k}"), false)
                .await
                .expect("final read");
            rec.registers.entry(k).or_default().push(Operation {
                op: RegisterOp::Read {
                    value: parse_i64(&data),
                    version: stat.version,
                },
                call: t0,
                ret: Some(micros(start)),
            });
        }
        let (set_data, _) = c.get_data("/jepsen/set", false).await.expect("final set");
        let final_set: BTreeSet<i64> = String::from_utf8_lossy(&set_data)
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap_or(i64::MIN))
            .collect();
        let ids: BTreeSet<String> = c
            .get_children("/jepsen/ids", false)
            .await
            .expect("final ids")
            .into_iter()
            .map(|n| format!("/jepsen/ids/{n}"))
            .collect();
        let mut drained = Vec::new();
        let shared: Shared = Arc::new(Mutex::new(Recorded::default()));
        loop {
            match dequeue_one(&c, &shared).await {
                Ok(Some(Ok(v))) => drained.push(v),
                Ok(None) => break,
                other => panic!("final drain failed: {:?}", other.err()),
            }
        }
        let _ = c.close().await;
        (final_set, ids, drained)
    });

    let mut report = Report {
        name: cfg.name.clone(),
        seed: cfg.seed,
        operations: rec.operations,
        acknowledged_writes: rec.acknowledged_writes,
        indeterminate: rec.indeterminate,
        ..Report::default()
    };
    for (k, h) in &rec.registers {
        report.histories += 1;
        let m = wgl::Register { initial: (0, 0) };
        match wgl::check(&m, h, 50_000_000) {
            wgl::Verdict::Linearizable => {}
            v => report
                .violations
                .push(format!("register {k}: {v:?} ({} operations)", h.len())),
        }
    }
    report
        .violations
        .extend(rec.session_violations.iter().cloned());
    let f = checkers::set(&rec.set_acked, &rec.set_attempted, &final_set);
    let g = checkers::unique_ids(&rec.ids_acked, &final_ids);
    let q = checkers::queue(
        &rec.queue_acked,
        &rec.queue_attempted,
        &rec.queue_delivered,
        &rec.queue_maybe,
        &drained,
    );
    report.histories += 3;
    for x in [f, g, q] {
        report.violations.extend(x.violations);
        report.lost += x.lost;
    }
    report
        .violations
        .extend(notes.iter().filter(|n| n.starts_with("VIOLATION")).cloned());
    report.faults = notes;
    report.duration_secs = started.elapsed().as_secs_f64();
    if !report.violations.is_empty() {
        eprintln!("{}", ens.logs(&ens.ids()));
    }
    report
}
