//! A seeded, single-threaded simulation of a ZooKeeper ensemble running [`Peer`]s.
//!
//! Owns a simulated network and disk and the invariant checks; it is the test harness
//! for the core and never used by a real server. Everything random comes from one
//! seed, so a failing run is replayed exactly by its seed.
//!
//! * Time: 10 steps per tick; each peer ticks on its own phase.
//! * Election channel: every notification gets its own delay and may be lost.
//! * Quorum channel: a FIFO connection per pair, opened by FOLLOWERINFO/OBSERVERINFO.
//!   A lost packet breaks the connection (TCP does not skip packets): everything after
//!   it is dropped until the learner reconnects. A reset also tells both ends. A server
//!   going back to LOOKING closes all its connections, dropping what they carry, and the
//!   other ends hear of it (the driver contract in `driver.rs`, as zk-server's does).
//! * Disk: appends reach memory at once and become durable at a later fsync, which
//!   covers the writes issued before it started (group commit), so `Persisted` may be
//!   partial. Epoch files are other files: they may become durable before earlier log
//!   writes (`disk_reorder`). A crash keeps only what was durable. Truncation is
//!   synchronous; a snapshot install replaces the log, durable at its fsync.
//! * Partitions block directions between peers, one-way or both.
//!
//! Checked after every event fed to a peer: at most one established leader per epoch;
//! every peer's committed sequence is a prefix of one global sequence, which only grows
//! (nothing committed is lost); zxids are continuous within an epoch in every log; the
//! global sequence is durable on a quorum of voters, also after every crash; nothing
//! committed is truncated. Checked on every action: ACKEPOCH only with the accepted
//! epoch on disk, the ACK of NEWLEADER only with the synced log and the new current
//! epoch on disk, a proposal's ACK only once it is durable, and nothing but election
//! messages from a LOOKING peer.
//!
//! For scripted scenarios: [`Sim::hold`] / [`Sim::release`] a direction,
//! [`Sim::stall_disk`], [`Sim::stall_log`], [`Sim::flush_disk`], [`Sim::reset`] a
//! connection, [`Sim::record`] what happens, [`Sim::run_until_event`],
//! [`Sim::run_until_action`], [`Sim::propose_at`]; [`reported`] names the seed of any
//! panic inside a run.
//!
//! Compiled with the feature `sim` only (zab-core's own tests and zk-tests turn it on).
//! This file owns the options, the [`Sim`] and its controls, the step loop with its
//! fault injection, and whole runs; the rest is split by concern:
//!
//! * `driver.rs`: feeding an event to a peer and executing its actions;
//! * `network.rs`: the election channel and the quorum connections;
//! * `disk.rs`: one server ([`Node`]) and its disk;
//! * `invariants.rs`: the checks after every event and on every action;
//! * `trace.rs`: the failure trace and the [`Record`] of a script;
//! * `rng.rs`: the seeded [`Rng`].

mod disk;
mod driver;
mod invariants;
mod network;
mod reconfig;
mod rng;
mod trace;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use bytes::Bytes;

pub use disk::Node;
pub use invariants::continuous;
pub use reconfig::INITIAL_VERSION;
pub use rng::Rng;
pub use trace::Record;

use network::{Conn, Flight, QMsg};
use trace::TraceEntry;

use crate::peer::{Action, Config, Event, Peer, PersistentState};
use crate::quorum::{QuorumHierarchical, QuorumMaj, QuorumVerifier};
use crate::wire::Notification;
use crate::{Epoch, ServerId, Zxid};

/// Steps per tick.
pub const STEPS_PER_TICK: u64 = 10;

/// Shape of an ensemble and how hostile its world is. Probabilities are per mille.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub voters: u64,
    pub observers: u64,
    /// Split voters into three groups (ZooKeeper's hierarchical quorums).
    pub hierarchical: bool,
    pub log_window: usize,
    pub max_delay_steps: u64,
    /// Loss of a single election notification.
    pub election_loss: u32,
    /// Loss of a quorum packet (breaks its connection).
    pub quorum_loss: u32,
    /// Chance per step and peer that a disk write completes.
    pub fsync: u32,
    /// Chance that a completing write is an epoch file overtaking pending log fsyncs.
    pub disk_reorder: u32,
    /// Chance per step of each fault kind while faults are on.
    pub crash: u32,
    pub restart: u32,
    pub partition: u32,
    pub heal: u32,
    pub reset: u32,
    pub propose: u32,
    /// Servers outside the initial view (numbered after the observers): a reconfig may
    /// add them. They run from the start, as non-voting followers until a view names them.
    /// Each starts, as Apache's joiner does (ZOOKEEPER-2172, ReconfigTest), with a partial
    /// configuration of its own: the initial members and itself as a participant, version
    /// 0; the members' initial view then has Apache's first established version, so that
    /// the joiner takes the real view from the first notification or NEWLEADER it hears.
    pub spares: u64,
    /// Chance per step that the established leader is asked for a reconfig (when none
    /// is pending and a quorum of the new voters is synced with it, as zk-server's prep
    /// requires): incremental (one server added or removed, the leader included) or a
    /// new member list, now and then with hierarchical groups and weights.
    pub reconfig: u32,
    pub init_limit_ticks: u64,
    pub sync_limit_ticks: u64,
    pub finalize_wait_ticks: u32,
}

impl SimOptions {
    pub fn new(voters: u64, observers: u64) -> SimOptions {
        SimOptions {
            voters,
            observers,
            hierarchical: false,
            log_window: 500,
            max_delay_steps: 6,
            election_loss: 0,
            quorum_loss: 0,
            fsync: 300,
            disk_reorder: 0,
            crash: 0,
            restart: 0,
            partition: 0,
            heal: 0,
            reset: 0,
            propose: 100,
            spares: 0,
            reconfig: 0,
            init_limit_ticks: 10,
            sync_limit_ticks: 5,
            finalize_wait_ticks: 2,
        }
    }

    /// A randomly shaped, hostile world derived from `seed`.
    pub fn chaos(seed: u64) -> SimOptions {
        let mut r = Rng::new(seed ^ 0x5eed);
        let voters = [3, 5, 7][r.below(3) as usize];
        let mut o = SimOptions::new(voters, r.below(3));
        o.hierarchical = voters >= 5 && r.chance(250);
        o.log_window = [4, 16, 500][r.below(3) as usize];
        o.max_delay_steps = r.range(1, 25);
        o.election_loss = r.below(200) as u32;
        o.quorum_loss = r.below(4) as u32;
        o.fsync = r.range(50, 600) as u32;
        o.crash = r.below(4) as u32;
        o.restart = r.range(5, 30) as u32;
        o.partition = r.below(3) as u32;
        o.heal = r.range(2, 20) as u32;
        o.reset = r.below(3) as u32;
        o.propose = r.range(20, 400) as u32;
        o.disk_reorder = r.below(500) as u32;
        o
    }

    /// [`SimOptions::chaos`] with reconfigs in the workload and up to two spare servers a
    /// reconfig may add (a pool of up to ten sids). The chaos seeds' worlds are unchanged.
    pub fn chaos_reconfig(seed: u64) -> SimOptions {
        let mut o = SimOptions::chaos(seed);
        let mut r = Rng::new(seed ^ 0x07ec_0f16);
        o.spares = r.below(3);
        o.reconfig = r.range(2, 30) as u32;
        o
    }
}

/// What happened during a run: evidence that the faults and sync modes were exercised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    pub crashes: u64,
    pub partitions: u64,
    pub resets: u64,
    pub lost_packets: u64,
    pub diffs: u64,
    pub truncs: u64,
    pub snaps: u64,
    pub established: u64,
    pub proposals: u64,
    /// Reconfigs proposed by the workload, and committed (entered the global sequence).
    pub reconfigs: u64,
    pub reconfigs_committed: u64,
    /// Views activated by any server (each writes its configuration file).
    pub activations: u64,
}

type ActionWatch = Box<dyn FnMut(ServerId, &Action) -> bool>;

/// An action executed by a peer, as seen by [`Sim::run_until_action`].
pub type Seen = (ServerId, Action);

/// The simulation.
pub struct Sim {
    pub seed: u64,
    pub opts: SimOptions,
    pub rng: Rng,
    pub now: u64,
    pub nodes: Vec<Node>,
    /// The view the run starts with (every server's static configuration).
    pub quorum: Arc<dyn QuorumVerifier>,
    /// The view of the last reconfig in the global committed sequence (`quorum` until
    /// one commits) and its version: what the committed history must be durable on.
    pub committed_view: Arc<dyn QuorumVerifier>,
    pub committed_version: i64,
    election_net: Vec<Flight<Notification>>,
    quorum_net: BTreeMap<(ServerId, ServerId), VecDeque<Flight<QMsg>>>,
    conns: BTreeMap<(ServerId, ServerId), Conn>,
    blocked: BTreeSet<(ServerId, ServerId)>,
    /// The global committed sequence.
    pub history: Vec<(Zxid, Bytes)>,
    /// Established leaders by epoch.
    pub leaders: BTreeMap<Epoch, ServerId>,
    pub faults: bool,
    next_txn: u64,
    /// The last `trace_len` events and actions (`TRACE_LEN` unless `ZAB_TRACE_LEN` says
    /// otherwise), formatted only when a run fails.
    trace: VecDeque<TraceEntry>,
    trace_len: usize,
    watch: Option<ActionWatch>,
    seen: Option<Seen>,
    /// Directions whose messages stay in flight until released ([`Sim::hold`]).
    held: BTreeSet<(ServerId, ServerId)>,
    recording: Option<Vec<Record>>,
    /// Count of events fed to peers.
    pub events: u64,
    pub stats: SimStats,
    /// How to run this again, printed with a failure (the chaos seeds' replay by default).
    pub replay: String,
}

impl Sim {
    /// An ensemble of stopped servers; start them with [`Sim::start`] or [`Sim::start_all`].
    pub fn new(seed: u64, opts: SimOptions) -> Sim {
        let quorum: Arc<dyn QuorumVerifier> = if opts.hierarchical {
            let voters: Vec<ServerId> = (1..=opts.voters).map(ServerId).collect();
            let groups: Vec<(u64, Vec<ServerId>)> = (0..3u64)
                .map(|g| {
                    (
                        g + 1,
                        voters.iter().copied().filter(|s| s.0 % 3 == g).collect(),
                    )
                })
                .collect();
            let observers = (opts.voters + 1..=opts.voters + opts.observers).map(ServerId);
            Arc::new(QuorumHierarchical::new(&groups, &[], observers).expect("valid groups"))
        } else {
            Arc::new(QuorumMaj::with_counts(opts.voters, opts.observers))
        };
        let committed_version = if opts.spares > 0 {
            reconfig::INITIAL_VERSION
        } else {
            0
        };
        let mut rng = Rng::new(seed);
        let nodes = (1..=opts.voters + opts.observers + opts.spares)
            .map(|i| Node {
                sid: ServerId(i),
                voter: quorum.is_voter(ServerId(i)),
                peer: None,
                mem: Vec::new(),
                durable_len: 0,
                durable_override: None,
                applied: 0,
                accepted_epoch: Epoch(0),
                current_epoch: Epoch(0),
                disk: VecDeque::new(),
                pending_snapshot: None,
                tick_phase: rng.below(STEPS_PER_TICK),
                status: None,
                durable_match: 0,
                disk_stalled: false,
                log_stalled: false,
                newleader_len: None,
                leaderinfo_epoch: None,
                view: None,
            })
            .collect();
        Sim {
            seed,
            opts,
            rng,
            now: 0,
            nodes,
            committed_view: quorum.clone(),
            committed_version,
            quorum,
            election_net: Vec::new(),
            quorum_net: BTreeMap::new(),
            conns: BTreeMap::new(),
            blocked: BTreeSet::new(),
            history: Vec::new(),
            leaders: BTreeMap::new(),
            faults: false,
            next_txn: 0,
            trace: VecDeque::new(),
            trace_len: trace::trace_len(),
            watch: None,
            seen: None,
            held: BTreeSet::new(),
            recording: None,
            events: 0,
            replay: format!(
                "ZAB_SEED={seed} cargo test -p zab-core --test sim sim_replay -- --nocapture"
            ),
            stats: SimStats::default(),
        }
    }

    fn idx(sid: ServerId) -> usize {
        sid.0 as usize - 1
    }

    pub fn node(&self, sid: u64) -> &Node {
        &self.nodes[sid as usize - 1]
    }

    pub fn peer(&self, sid: u64) -> Option<&Peer> {
        self.node(sid).peer.as_ref()
    }

    pub fn peer_mut(&mut self, sid: u64) -> Option<&mut Peer> {
        self.nodes[sid as usize - 1].peer.as_mut()
    }

    fn config(&self, sid: ServerId) -> Config {
        let mut c = Config::new(sid, self.quorum.clone());
        c.config_data = Bytes::from_static(b"version=0");
        let view = self.nodes[Self::idx(sid)]
            .view
            .clone()
            .or_else(|| self.static_view(sid));
        if let Some((data, version)) = view {
            let (quorum, _) = crate::reconfig::parse_config(&data).expect("a valid view");
            c.quorum = quorum;
            c.config_data = data;
            c.config_version = version;
        }
        c.finalize_wait_ticks = self.opts.finalize_wait_ticks;
        c.min_notification_ticks = 2;
        c.max_notification_ticks = 20;
        c.init_limit_ticks = self.opts.init_limit_ticks;
        c.sync_limit_ticks = self.opts.sync_limit_ticks;
        c.ping_interval_ticks = 1;
        c.log_window = self.opts.log_window;
        c
    }

    // ---- control ----

    pub fn start(&mut self, sid: u64) {
        let s = ServerId(sid);
        let i = Self::idx(s);
        if self.nodes[i].alive() {
            return;
        }
        let n = &self.nodes[i];
        let window = self.opts.log_window;
        let start = n.applied.min(n.mem.len().saturating_sub(window));
        let base = if start == 0 {
            Zxid::ZERO
        } else {
            n.mem[start - 1].0
        };
        let st = PersistentState {
            accepted_epoch: n.accepted_epoch,
            current_epoch: n.current_epoch,
            base,
            recent: n.mem[start..].to_vec(),
            last_committed: if n.applied == 0 {
                Zxid::ZERO
            } else {
                n.mem[n.applied - 1].0
            },
        };
        let cfg = self.config(s);
        self.nodes[i].peer = Some(Peer::new(cfg, st));
        self.note(format!("{} start {sid}", self.now));
        self.feed(s, Event::Start);
    }

    pub fn start_all(&mut self) {
        for s in 1..=self.nodes.len() as u64 {
            self.start(s);
        }
    }

    /// Stops a server; only its durable state survives.
    pub fn crash(&mut self, sid: u64) {
        let s = ServerId(sid);
        let i = Self::idx(s);
        if !self.nodes[i].alive() {
            return;
        }
        self.note(format!("{} crash {sid}", self.now));
        self.stats.crashes += 1;
        let n = &mut self.nodes[i];
        n.peer = None;
        n.status = None;
        n.disk.clear();
        n.pending_snapshot = None;
        n.newleader_len = None;
        n.leaderinfo_epoch = None;
        let old_committed: Vec<(Zxid, Bytes)> = n.mem[..n.applied].to_vec();
        if let Some(d) = n.durable_override.take() {
            n.mem = d;
        } else {
            n.mem.truncate(n.durable_len);
        }
        n.durable_len = n.mem.len();
        n.applied = old_committed
            .iter()
            .zip(n.mem.iter())
            .take_while(|(a, b)| a == b)
            .count();
        let peers: Vec<ServerId> = self
            .nodes
            .iter()
            .map(|n| n.sid)
            .filter(|x| *x != s)
            .collect();
        for p in peers {
            self.break_conn(s, p, true);
        }
        self.recompute_match(i);
        // What a crash keeps must still hold everything committed on a quorum.
        self.check_durable_quorum();
    }

    pub fn restart(&mut self, sid: u64) {
        self.crash(sid);
        self.start(sid);
    }

    /// Resets the quorum connection between `a` and `b`; both ends are told.
    pub fn reset(&mut self, a: u64, b: u64) {
        self.note(format!("{} reset {a}-{b}", self.now));
        self.break_conn(ServerId(a), ServerId(b), true);
    }

    /// Blocks `from -> to`.
    pub fn block(&mut self, from: u64, to: u64) {
        self.blocked.insert((ServerId(from), ServerId(to)));
    }

    /// Cuts every link between different groups, both ways.
    pub fn partition(&mut self, groups: &[&[u64]]) {
        self.note(format!("{} partition {groups:?}", self.now));
        self.stats.partitions += 1;
        for (gi, g) in groups.iter().enumerate() {
            for (hi, h) in groups.iter().enumerate() {
                if gi != hi {
                    for a in g.iter() {
                        for b in h.iter() {
                            self.block(*a, *b);
                        }
                    }
                }
            }
        }
    }

    pub fn heal(&mut self) {
        self.note(format!("{} heal", self.now));
        self.blocked.clear();
    }

    /// Holds `from -> to`: its notifications and quorum packets stay in flight, undelivered
    /// and unbroken (a stalled TCP connection), until [`Sim::release`].
    pub fn hold(&mut self, from: u64, to: u64) {
        self.note(format!("{} hold {from}->{to}", self.now));
        self.held.insert((ServerId(from), ServerId(to)));
    }

    /// Delivers `from -> to` again, in order, starting with what was held.
    pub fn release(&mut self, from: u64, to: u64) {
        self.note(format!("{} release {from}->{to}", self.now));
        self.held.remove(&(ServerId(from), ServerId(to)));
    }

    pub fn release_all(&mut self) {
        self.note(format!("{} release all", self.now));
        self.held.clear();
    }

    /// Stops completing `sid`'s disk writes (log fsyncs, epoch files) until [`Sim::unstall_disk`].
    pub fn stall_disk(&mut self, sid: u64) {
        self.note(format!("{} stall disk of {sid}", self.now));
        self.nodes[sid as usize - 1].disk_stalled = true;
    }

    /// Stops completing `sid`'s log fsyncs until [`Sim::unstall_disk`]; its epoch files
    /// are still written (they are other files: the core must not count on an order).
    pub fn stall_log(&mut self, sid: u64) {
        self.note(format!("{} stall log of {sid}", self.now));
        self.nodes[sid as usize - 1].log_stalled = true;
    }

    /// Ends [`Sim::stall_disk`] and [`Sim::stall_log`].
    pub fn unstall_disk(&mut self, sid: u64) {
        self.note(format!("{} unstall disk of {sid}", self.now));
        let n = &mut self.nodes[sid as usize - 1];
        n.disk_stalled = false;
        n.log_stalled = false;
    }

    /// Starts keeping every event fed and every action executed (dropping what was kept).
    pub fn record(&mut self) {
        self.recording = Some(Vec::new());
    }

    /// What was kept since [`Sim::record`].
    pub fn recorded(&self) -> &[Record] {
        self.recording.as_deref().unwrap_or(&[])
    }

    /// Proposes a transaction at `sid`, established leader or not (the core ignores it
    /// unless it is one). Returns the zxid it was logged under, if it was.
    pub fn propose_at(&mut self, sid: u64) -> Option<Zxid> {
        let before = self.peer(sid)?.last_zxid();
        self.next_txn += 1;
        let data = Bytes::from(format!("txn-{}", self.next_txn).into_bytes());
        self.feed(ServerId(sid), Event::Propose(data));
        let after = self.peer(sid)?.last_zxid();
        (after > before).then_some(after)
    }

    /// The established leader everyone alive agrees on, if any.
    pub fn leader(&self) -> Option<u64> {
        self.nodes
            .iter()
            .find(|n| n.peer.as_ref().is_some_and(|p| p.can_propose()))
            .map(|n| n.sid.0)
    }

    /// Proposes at the established leader; false if there is none.
    pub fn propose(&mut self) -> bool {
        let Some(l) = self.leader() else { return false };
        self.propose_at(l);
        true
    }

    /// Stops at the first executed action matching `f` (the rest of that step still runs).
    pub fn run_until_action(
        &mut self,
        max_ticks: u64,
        f: impl FnMut(ServerId, &Action) -> bool + 'static,
    ) -> Option<Seen> {
        self.watch = Some(Box::new(f));
        self.seen = None;
        let end = self.now + max_ticks * STEPS_PER_TICK;
        while self.now < end && self.seen.is_none() {
            self.step();
        }
        self.watch = None;
        self.seen.take()
    }

    /// Stops right after the first event fed that matches `f` has been handled.
    pub fn run_until_event(
        &mut self,
        max_ticks: u64,
        mut f: impl FnMut(ServerId, &Event) -> bool,
    ) -> Option<(ServerId, Event)> {
        let from = self.recording.as_ref().map(|r| r.len());
        let was_recording = from.is_some();
        if !was_recording {
            self.recording = Some(Vec::new());
        }
        let mut scanned = from.unwrap_or(0);
        let end = self.now + max_ticks * STEPS_PER_TICK;
        let mut found = None;
        while self.now < end && found.is_none() {
            self.step();
            let r = self.recording.as_ref().expect("recording");
            found = r[scanned..].iter().find_map(|x| match x {
                Record::Fed { sid, ev, .. } if f(*sid, ev) => Some((*sid, ev.clone())),
                _ => None,
            });
            scanned = r.len();
        }
        if !was_recording {
            self.recording = None;
        }
        found
    }

    /// Runs until `f` holds (checked every step); false if `max_ticks` pass first.
    pub fn run_until(&mut self, max_ticks: u64, mut f: impl FnMut(&Sim) -> bool) -> bool {
        let end = self.now + max_ticks * STEPS_PER_TICK;
        while self.now < end {
            if f(self) {
                return true;
            }
            self.step();
        }
        f(self)
    }

    pub fn run_ticks(&mut self, ticks: u64) {
        for _ in 0..ticks * STEPS_PER_TICK {
            self.step();
        }
    }

    /// All alive servers in broadcast under one leader.
    pub fn settled(&self) -> bool {
        let Some(l) = self.leader() else { return false };
        self.nodes.iter().filter(|n| n.alive()).all(|n| {
            let p = n.peer.as_ref().expect("alive");
            p.is_broadcasting() && p.leader() == Some(ServerId(l))
        })
    }

    // ---- the step ----

    /// One step: faults, ticks, deliveries, disk completions, client load.
    pub fn step(&mut self) {
        self.now += 1;
        if self.faults {
            self.inject_faults();
        }
        let now = self.now;
        for i in 0..self.nodes.len() {
            if self.nodes[i].alive() && now % STEPS_PER_TICK == self.nodes[i].tick_phase {
                let s = self.nodes[i].sid;
                self.feed(s, Event::Tick);
            }
        }
        self.deliver_election();
        self.deliver_quorum();
        for i in 0..self.nodes.len() {
            if self.nodes[i].alive() && self.rng.chance(self.opts.fsync) {
                if let Some(k) = self.next_disk_op(i) {
                    self.complete_disk_op(i, k);
                }
            }
        }
        if self.opts.propose > 0 && self.rng.chance(self.opts.propose) {
            self.propose();
        }
        if self.opts.reconfig > 0 && self.rng.chance(self.opts.reconfig) {
            self.propose_random_reconfig();
        }
    }

    fn inject_faults(&mut self) {
        let n = self.nodes.len() as u64;
        if self.rng.chance(self.opts.crash) {
            let s = self.rng.range(1, n);
            self.crash(s);
        }
        if self.rng.chance(self.opts.restart) {
            let dead: Vec<u64> = self
                .nodes
                .iter()
                .filter(|x| !x.alive())
                .map(|x| x.sid.0)
                .collect();
            if !dead.is_empty() {
                let s = dead[self.rng.below(dead.len() as u64) as usize];
                self.start(s);
            }
        }
        if self.rng.chance(self.opts.partition) {
            let a = self.rng.range(1, n);
            let b = self.rng.range(1, n);
            if a != b {
                self.note(format!("{} block {a}->{b}", self.now));
                self.block(a, b);
                if self.rng.chance(600) {
                    self.block(b, a);
                }
            }
            if self.rng.chance(300) {
                // A clean split.
                let mut groups: Vec<Vec<u64>> = vec![vec![], vec![]];
                for s in 1..=n {
                    groups[self.rng.below(2) as usize].push(s);
                }
                let g: Vec<&[u64]> = groups.iter().map(|g| g.as_slice()).collect();
                self.partition(&g);
            }
        }
        if self.rng.chance(self.opts.heal) && !self.blocked.is_empty() {
            self.heal();
        }
        if self.rng.chance(self.opts.reset) {
            let keys: Vec<(ServerId, ServerId)> = self.conns.keys().copied().collect();
            if !keys.is_empty() {
                let (a, b) = keys[self.rng.below(keys.len() as u64) as usize];
                self.note(format!("{} reset {a}-{b}", self.now));
                self.stats.resets += 1;
                self.break_conn(a, b, true);
            }
        }
    }

    // ---- whole runs ----

    /// Turns faults on, runs `ticks`, then heals everything and requires a leader and progress.
    pub fn chaos_then_liveness(&mut self, chaos_ticks: u64, liveness_ticks: u64) {
        self.start_all();
        self.faults = true;
        self.run_ticks(chaos_ticks);
        self.faults = false;
        self.check_liveness(liveness_ticks);
        if self.opts.reconfig > 0 {
            // Without load, so that every server can catch up with the leader.
            let (propose, reconfig) = (self.opts.propose, self.opts.reconfig);
            self.opts.propose = 0;
            self.opts.reconfig = 0;
            self.check_views_converged(liveness_ticks);
            self.check_views_survive_restart(liveness_ticks);
            self.opts.propose = propose;
            self.opts.reconfig = reconfig;
        }
    }

    /// Heals the world and requires every server in broadcast and new proposals committed everywhere.
    pub fn check_liveness(&mut self, within_ticks: u64) {
        self.heal();
        self.opts.election_loss = 0;
        self.opts.quorum_loss = 0;
        let propose = self.opts.propose;
        self.opts.propose = 0;
        let reconfig = self.opts.reconfig;
        self.opts.reconfig = 0;
        self.start_all();
        if !self.run_until(within_ticks, |s| s.settled()) {
            self.fail(&format!(
                "no stable leader {within_ticks} ticks after healing"
            ));
        }
        let target = self.history.len() + 5;
        let mut proposed = 0;
        // The leader the writes went to: its sid and epoch.
        let mut proposed_at = None;
        // Propose five and wait for them everywhere. Writes a leader had not committed when
        // it lost its leadership may be dropped with it (a leader partitioned just before the
        // healing may not have noticed it was cut off yet: seed 5002120); as a client would,
        // propose again at the next leader until five more are committed.
        let end = self.now + within_ticks * STEPS_PER_TICK;
        while self.now < end {
            let leader = self
                .leader()
                .map(|l| (l, self.peer(l).and_then(|p| p.epoch())));
            if leader.is_some() && leader != proposed_at && self.history.len() < target {
                proposed_at = leader;
                proposed = 0;
            }
            if proposed < 5 && self.propose() {
                proposed += 1;
            }
            self.step();
            if self.nodes.iter().all(|n| n.applied >= target) {
                break;
            }
        }
        if !self.nodes.iter().all(|n| n.applied >= target) {
            let applied: Vec<usize> = self.nodes.iter().map(|n| n.applied).collect();
            self.fail(&format!(
                "no progress after healing: target {target}, applied {applied:?}"
            ));
        }
        self.opts.propose = propose;
        self.opts.reconfig = reconfig;
    }
}

/// Runs `body` on `sim`. A panic inside it (an invariant of the simulator, an assert of
/// the test, an `assert!` of the core) is re-raised with the seed, the way to replay the
/// run and, unless the invariant check already printed them, the last events.
pub fn reported<R>(sim: &mut Sim, body: impl FnOnce(&mut Sim) -> R) -> R {
    match panic::catch_unwind(AssertUnwindSafe(|| body(sim))) {
        Ok(r) => r,
        Err(e) => {
            let why = e
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| e.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            if why.contains("INVARIANT VIOLATED") {
                // Sim::fail's message already names the seed, the replay and the trace.
                panic::resume_unwind(e);
            }
            panic!(
                "last events:\n{}\nseed {} failed at step {}: {why}\nreplay: {}",
                sim.trace(),
                sim.seed,
                sim.now,
                sim.replay
            );
        }
    }
}
