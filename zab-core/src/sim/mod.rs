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
//!   it is dropped until the learner reconnects. A reset also tells both ends.
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

mod rng;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use bytes::Bytes;

pub use rng::Rng;

use crate::peer::{Action, Config, Event, Peer, PeerStatus, PersistentState, ZabPhase};
use crate::quorum::{QuorumHierarchical, QuorumMaj, QuorumVerifier};
use crate::wire::{Notification, QuorumPacket, ServerState};
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
}

#[derive(Debug)]
enum DiskOp {
    /// Makes `mem[..len]` durable: the writes issued before this fsync started.
    Fsync(usize),
    Accepted(Epoch),
    Current(Epoch),
}

/// One simulated server: its core, its disk, its applied state.
#[derive(Debug)]
pub struct Node {
    pub sid: ServerId,
    pub voter: bool,
    pub peer: Option<Peer>,
    /// The log as the process sees it.
    pub mem: Vec<(Zxid, Bytes)>,
    /// `mem[..durable_len]` is on disk, unless a snapshot replaced `mem` since the last fsync.
    durable_len: usize,
    durable_override: Option<Vec<(Zxid, Bytes)>>,
    /// `mem[..applied]` is committed and applied.
    pub applied: usize,
    pub accepted_epoch: Epoch,
    pub current_epoch: Epoch,
    disk: VecDeque<DiskOp>,
    pending_snapshot: Option<(Zxid, Vec<(Zxid, Bytes)>)>,
    tick_phase: u64,
    pub status: Option<PeerStatus>,
    /// Length of the common prefix of the durable log and the global sequence.
    durable_match: usize,
    /// While set, no disk write of this server completes ([`Sim::stall_disk`]).
    pub disk_stalled: bool,
    /// While set, no log fsync completes; epoch files still do ([`Sim::stall_log`]).
    pub log_stalled: bool,
    /// `mem.len()` when the last NEWLEADER arrived: what its ACK vouches for.
    newleader_len: Option<usize>,
    /// The epoch of the last LEADERINFO received: what ACKEPOCH vouches for.
    leaderinfo_epoch: Option<Epoch>,
}

impl Node {
    pub fn alive(&self) -> bool {
        self.peer.is_some()
    }
    pub fn durable(&self) -> &[(Zxid, Bytes)] {
        match &self.durable_override {
            Some(v) => v,
            None => &self.mem[..self.durable_len],
        }
    }
    pub fn committed(&self) -> &[(Zxid, Bytes)] {
        &self.mem[..self.applied]
    }
    /// The zxids of the log as the process sees it.
    pub fn zxids(&self) -> Vec<Zxid> {
        self.mem.iter().map(|e| e.0).collect()
    }
    /// The zxids of the committed prefix.
    pub fn committed_zxids(&self) -> Vec<Zxid> {
        self.committed().iter().map(|e| e.0).collect()
    }
    /// Whether `z` is in the log and on disk.
    pub fn is_durable(&self, z: Zxid) -> bool {
        self.durable().binary_search_by_key(&z, |e| e.0).is_ok()
    }
    /// The last zxid on disk, if the on-disk log is the one in memory (no snapshot pending).
    fn durable_last_of_mem(&self) -> Option<Zxid> {
        if self.durable_override.is_some() {
            return None;
        }
        Some(match self.durable_len {
            0 => Zxid::ZERO,
            k => self.mem[k - 1].0,
        })
    }
}

#[derive(Debug, Clone)]
struct Flight<T> {
    at: u64,
    from: ServerId,
    to: ServerId,
    gen: u64,
    msg: T,
}

#[derive(Debug, Clone)]
struct QMsg {
    msg: QuorumPacket,
    snapshot: Option<Vec<(Zxid, Bytes)>>,
    /// Connection attempts so far (FOLLOWERINFO / OBSERVERINFO only).
    tries: u32,
}

#[derive(Debug, Default)]
struct Conn {
    gen: u64,
    broken: bool,
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
}

/// How many recent events, actions and notes a failure prints.
const TRACE_LEN: usize = 400;

/// One line of the trace, kept unformatted: formatting every event costs more than running it.
#[derive(Debug)]
enum TraceEntry {
    Note(String),
    Event(u64, ServerId, Event),
    Action(ServerId, Action),
}

impl fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceEntry::Note(s) => f.write_str(s),
            TraceEntry::Event(now, sid, ev) => write!(f, "{now} {sid} <- {}", short_event(ev)),
            TraceEntry::Action(sid, a) => write!(f, "    {sid} -> {}", short_action(a)),
        }
    }
}

/// An event fed to a peer or an action it returned, kept by [`Sim::record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Fed {
        at: u64,
        sid: ServerId,
        ev: Event,
    },
    Did {
        at: u64,
        sid: ServerId,
        action: Action,
    },
}

impl Record {
    pub fn sid(&self) -> ServerId {
        match self {
            Record::Fed { sid, .. } | Record::Did { sid, .. } => *sid,
        }
    }
    /// The action, if `sid` did it.
    pub fn action_of(&self, of: u64) -> Option<&Action> {
        match self {
            Record::Did { sid, action, .. } if sid.0 == of => Some(action),
            _ => None,
        }
    }
    /// The event, if it was fed to `sid`.
    pub fn event_of(&self, of: u64) -> Option<&Event> {
        match self {
            Record::Fed { sid, ev, .. } if sid.0 == of => Some(ev),
            _ => None,
        }
    }
    /// The packet, if `sid` sent it to `to`.
    pub fn sent(&self, sid: u64, to: u64) -> Option<&QuorumPacket> {
        match self.action_of(sid)? {
            Action::Send { to: t, msg } if t.0 == to => Some(msg),
            _ => None,
        }
    }
    /// The packet, if `sid` received it.
    pub fn received(&self, sid: u64) -> Option<&QuorumPacket> {
        match self.event_of(sid)? {
            Event::Received { msg, .. } => Some(msg),
            _ => None,
        }
    }
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
    pub quorum: Arc<dyn QuorumVerifier>,
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
    /// The last [`TRACE_LEN`] events and actions, formatted only when a run fails.
    trace: VecDeque<TraceEntry>,
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
        let mut rng = Rng::new(seed);
        let nodes = (1..=opts.voters + opts.observers)
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
            })
            .collect();
        Sim {
            seed,
            opts,
            rng,
            now: 0,
            nodes,
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
        c.finalize_wait_ticks = self.opts.finalize_wait_ticks;
        c.min_notification_ticks = 2;
        c.max_notification_ticks = 20;
        c.init_limit_ticks = self.opts.init_limit_ticks;
        c.sync_limit_ticks = self.opts.sync_limit_ticks;
        c.ping_interval_ticks = 1;
        c.log_window = self.opts.log_window;
        c
    }

    fn note(&mut self, s: String) {
        self.remember(TraceEntry::Note(s));
    }

    fn remember(&mut self, t: TraceEntry) {
        if self.trace.len() >= TRACE_LEN {
            self.trace.pop_front();
        }
        self.trace.push_back(t);
    }

    /// The last events, actions and notes, one a line, oldest first.
    pub fn trace(&self) -> String {
        let mut s = String::new();
        for t in &self.trace {
            s.push_str(&t.to_string());
            s.push('\n');
        }
        s
    }

    /// Fails the run with its seed, the way to replay it and the last events.
    pub fn fail(&self, why: &str) -> ! {
        let s = self.trace();
        panic!(
            "{s}\nINVARIANT VIOLATED at step {} (seed {}): {why}\nreplay: {}",
            self.now, self.seed, self.replay
        );
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

    fn pair(a: ServerId, b: ServerId) -> (ServerId, ServerId) {
        (a.min(b), a.max(b))
    }

    /// Breaks the quorum connection between `a` and `b`; with `tell`, both ends hear of it.
    fn break_conn(&mut self, a: ServerId, b: ServerId, tell: bool) {
        let key = Self::pair(a, b);
        let Some(c) = self.conns.get_mut(&key) else {
            return;
        };
        if c.broken {
            return;
        }
        c.broken = true;
        self.quorum_net.remove(&(a, b));
        self.quorum_net.remove(&(b, a));
        if tell {
            for (x, y) in [(a, b), (b, a)] {
                if self.nodes[Self::idx(x)].alive() {
                    self.feed(x, Event::Disconnected { peer: y });
                }
            }
        }
    }

    fn delay(&mut self) -> u64 {
        self.rng.range(1, self.opts.max_delay_steps.max(1))
    }

    fn send_notification(&mut self, from: ServerId, to: ServerId, n: Notification) {
        if self.blocked.contains(&(from, to)) || self.rng.chance(self.opts.election_loss) {
            return;
        }
        let at = self.now + self.delay();
        self.election_net.push(Flight {
            at,
            from,
            to,
            gen: 0,
            msg: n,
        });
    }

    fn send_quorum(
        &mut self,
        from: ServerId,
        to: ServerId,
        msg: QuorumPacket,
        snapshot: Option<Vec<(Zxid, Bytes)>>,
    ) {
        let key = Self::pair(from, to);
        if matches!(
            msg,
            QuorumPacket::FollowerInfo { .. } | QuorumPacket::ObserverInfo { .. }
        ) {
            // A new connection replaces the old one; the old one's packets are gone.
            self.quorum_net.remove(&(from, to));
            self.quorum_net.remove(&(to, from));
            let c = self.conns.entry(key).or_default();
            c.gen += 1;
            c.broken = false;
        }
        let Some(c) = self.conns.get(&key) else {
            return;
        };
        if c.broken {
            return;
        }
        let gen = c.gen;
        if self.blocked.contains(&(from, to)) || self.rng.chance(self.opts.quorum_loss) {
            self.note(format!(
                "{} lost {from}->{to} {:?}; connection broken",
                self.now,
                msg.packet_type()
            ));
            self.stats.lost_packets += 1;
            self.break_conn(from, to, false);
            return;
        }
        let d = self.delay();
        let q = self.quorum_net.entry((from, to)).or_default();
        let at = (self.now + d).max(q.back().map(|f| f.at).unwrap_or(0));
        q.push_back(Flight {
            at,
            from,
            to,
            gen,
            msg: QMsg {
                msg,
                snapshot,
                tries: 0,
            },
        });
    }

    fn deliver_election(&mut self) {
        let now = self.now;
        let mut due = Vec::new();
        let mut i = 0;
        while i < self.election_net.len() {
            let f = &self.election_net[i];
            if f.at <= now && !self.held.contains(&(f.from, f.to)) {
                due.push(self.election_net.swap_remove(i));
            } else {
                i += 1;
            }
        }
        // swap_remove scrambles the order deterministically; that is the reordering.
        for f in due {
            if self.blocked.contains(&(f.from, f.to)) || !self.nodes[Self::idx(f.to)].alive() {
                continue;
            }
            self.feed(
                f.to,
                Event::Notification {
                    from: f.from,
                    n: f.msg,
                },
            );
        }
    }

    fn deliver_quorum(&mut self) {
        let now = self.now;
        let keys: Vec<(ServerId, ServerId)> = self.quorum_net.keys().copied().collect();
        for k in keys {
            if self.held.contains(&k) {
                continue;
            }
            while let Some(q) = self.quorum_net.get_mut(&k) {
                match q.front() {
                    Some(f) if f.at <= now => {}
                    _ => break,
                }
                let f = q.pop_front().expect("front");
                let key = Self::pair(f.from, f.to);
                let live = self
                    .conns
                    .get(&key)
                    .is_some_and(|c| !c.broken && c.gen == f.gen);
                if !live {
                    continue;
                }
                if self.blocked.contains(&(f.from, f.to)) {
                    self.break_conn(f.from, f.to, false);
                    break;
                }
                let opening = matches!(
                    f.msg.msg,
                    QuorumPacket::FollowerInfo { .. } | QuorumPacket::ObserverInfo { .. }
                );
                let accepting = self.nodes[Self::idx(f.to)]
                    .peer
                    .as_ref()
                    .is_some_and(|p| p.state() == ServerState::Leading);
                if opening && !accepting {
                    // Nobody listens yet: the learner's driver retries the connection
                    // (ZooKeeper: 5 attempts, a second apart), then gives up.
                    if f.msg.tries < 5 {
                        let mut f = f;
                        f.at = now + STEPS_PER_TICK;
                        f.msg.tries += 1;
                        self.quorum_net.get_mut(&k).expect("queue").push_front(f);
                    } else {
                        self.break_conn(f.from, f.to, true);
                    }
                    break;
                }
                if !self.nodes[Self::idx(f.to)].alive() {
                    continue;
                }
                if let Some(snap) = f.msg.snapshot {
                    let z = match f.msg.msg {
                        QuorumPacket::Snap { zxid } => zxid,
                        _ => unreachable!(),
                    };
                    self.nodes[Self::idx(f.to)].pending_snapshot = Some((z, snap));
                }
                self.feed(
                    f.to,
                    Event::Received {
                        from: f.from,
                        msg: f.msg.msg,
                    },
                );
            }
        }
    }

    /// Completes every pending disk write of `sid` now, in order (stalled or not).
    pub fn flush_disk(&mut self, sid: u64) {
        let i = sid as usize - 1;
        while self.nodes[i].alive() && !self.nodes[i].disk.is_empty() {
            self.complete_disk_op(i, 0);
        }
    }

    /// Which pending disk write of node `i` completes next: the oldest, except that an
    /// epoch file may overtake log fsyncs (they are different files).
    fn next_disk_op(&mut self, i: usize) -> Option<usize> {
        let n = &self.nodes[i];
        if n.disk_stalled || n.disk.is_empty() {
            return None;
        }
        let first_epoch = n.disk.iter().position(|op| !matches!(op, DiskOp::Fsync(_)));
        if n.log_stalled {
            return first_epoch;
        }
        match first_epoch {
            Some(k) if k > 0 && self.rng.chance(self.opts.disk_reorder) => Some(k),
            _ => Some(0),
        }
    }

    fn complete_disk_op(&mut self, i: usize, k: usize) {
        let s = self.nodes[i].sid;
        let op = self.nodes[i].disk.remove(k).expect("op");
        match op {
            DiskOp::Fsync(len) => {
                let n = &mut self.nodes[i];
                // Without a snapshot in between, the durable log only grew: extend the match.
                // (Fsyncs queued before a snapshot were dropped when it was installed.)
                let replaced = n.durable_override.take().is_some();
                let len = len.min(n.mem.len());
                n.durable_len = if replaced {
                    len
                } else {
                    n.durable_len.max(len)
                };
                let upto = match n.durable_len {
                    0 => Zxid::ZERO,
                    k => n.mem[k - 1].0,
                };
                if replaced {
                    self.recompute_match(i);
                } else {
                    self.extend_match(i);
                }
                self.check_durable_quorum();
                self.feed(s, Event::Persisted { upto });
            }
            DiskOp::Accepted(e) => {
                self.nodes[i].accepted_epoch = e;
                self.feed(s, Event::AcceptedEpochSaved(e));
            }
            DiskOp::Current(e) => {
                self.nodes[i].current_epoch = e;
                self.feed(s, Event::CurrentEpochSaved(e));
            }
        }
    }

    /// Feeds one event to a peer, executes its actions, checks the invariants.
    pub fn feed(&mut self, sid: ServerId, ev: Event) {
        let i = Self::idx(sid);
        if !self.nodes[i].alive() {
            return;
        }
        self.events += 1;
        let traced = ev.clone();
        match &ev {
            Event::Received {
                msg: QuorumPacket::NewLeader { .. },
                ..
            } => self.nodes[i].newleader_len = Some(self.nodes[i].mem.len()),
            Event::Received {
                msg: QuorumPacket::LeaderInfo { epoch, .. },
                ..
            } => self.nodes[i].leaderinfo_epoch = Some(*epoch),
            _ => {}
        }
        let actions = self.nodes[i].peer.as_mut().expect("alive").step(ev);
        if let Some(r) = self.recording.as_mut() {
            r.push(Record::Fed {
                at: self.now,
                sid,
                ev: traced.clone(),
            });
        }
        self.remember(TraceEntry::Event(self.now, sid, traced));
        for a in actions {
            if !self.nodes[i].alive() {
                break;
            }
            if let Some(r) = self.recording.as_mut() {
                r.push(Record::Did {
                    at: self.now,
                    sid,
                    action: a.clone(),
                });
            }
            self.remember(TraceEntry::Action(sid, a.clone()));
            self.check_action(i, &a);
            if let Some(w) = self.watch.as_mut() {
                if self.seen.is_none() && w(sid, &a) {
                    self.seen = Some((sid, a.clone()));
                }
            }
            self.execute(i, a);
        }
    }

    fn execute(&mut self, i: usize, a: Action) {
        let sid = self.nodes[i].sid;
        match a {
            Action::SendNotification { to, n } => self.send_notification(sid, to, n),
            Action::Send { to, msg } => {
                match msg {
                    QuorumPacket::Diff { .. } => self.stats.diffs += 1,
                    QuorumPacket::Trunc { .. } => self.stats.truncs += 1,
                    QuorumPacket::Proposal { .. }
                        if self.nodes[i]
                            .status
                            .is_some_and(|s| s.phase == ZabPhase::Broadcast) =>
                    {
                        self.stats.proposals += 1
                    }
                    _ => {}
                }
                self.send_quorum(sid, to, msg, None)
            }
            Action::SendSnapshot { to, zxid } => {
                let n = &self.nodes[i];
                let k = n.mem.partition_point(|e| e.0 <= zxid);
                if k > n.applied {
                    self.fail(&format!("{sid} snapshots {zxid} beyond what it applied"));
                }
                let snap = n.mem[..k].to_vec();
                self.stats.snaps += 1;
                self.send_quorum(sid, to, QuorumPacket::Snap { zxid }, Some(snap));
            }
            Action::Append(entries) => {
                for (z, d) in entries {
                    let prev = self.nodes[i].mem.last().map(|e| e.0).unwrap_or(Zxid::ZERO);
                    if !continuous(prev, z) {
                        self.fail(&format!("{sid} appends {z} after {prev}"));
                    }
                    self.nodes[i].mem.push((z, d));
                }
                self.queue_fsync(i);
            }
            Action::Truncate { to } => {
                let n = &mut self.nodes[i];
                let k = n.mem.partition_point(|e| e.0 <= to);
                if k < n.applied {
                    self.fail(&format!("{sid} truncates to {to}, below what it committed"));
                }
                n.mem.truncate(k);
                n.durable_len = n.durable_len.min(k);
                for op in n.disk.iter_mut() {
                    if let DiskOp::Fsync(len) = op {
                        *len = (*len).min(k);
                    }
                }
                if let Some(d) = n.durable_override.as_mut() {
                    let k = d.partition_point(|e| e.0 <= to);
                    d.truncate(k);
                }
                self.recompute_match(i);
                self.check_durable_quorum();
            }
            Action::InstallSnapshot { zxid } => {
                let n = &mut self.nodes[i];
                let Some((z, snap)) = n.pending_snapshot.take() else {
                    self.fail(&format!("{sid} installs a snapshot it never received"));
                };
                if z != zxid {
                    self.fail(&format!("{sid} installs snapshot {zxid}, received {z}"));
                }
                if n.durable_override.is_none() {
                    n.durable_override = Some(n.mem[..n.durable_len].to_vec());
                }
                // Writes of the replaced log that were not durable yet never will be.
                n.disk.retain(|op| !matches!(op, DiskOp::Fsync(_)));
                n.mem = snap;
                n.applied = n.mem.len();
                self.check_committed(i, 0);
                self.queue_fsync(i);
            }
            Action::SaveAcceptedEpoch(e) => self.nodes[i].disk.push_back(DiskOp::Accepted(e)),
            Action::SaveCurrentEpoch(e) => self.nodes[i].disk.push_back(DiskOp::Current(e)),
            Action::Commit { upto } => {
                let n = &mut self.nodes[i];
                let k = n.mem.partition_point(|e| e.0 <= upto);
                if k < n.applied {
                    self.fail(&format!("{sid} commits {upto}, below what it applied"));
                }
                let old = n.applied;
                n.applied = k;
                self.check_committed(i, old);
            }
            Action::Deliver { .. } => {}
            Action::StateChanged(st) => {
                self.nodes[i].status = Some(st);
                if st.state == ServerState::Leading && st.phase == ZabPhase::Broadcast {
                    self.stats.established += 1;
                    if let Some(other) = self.leaders.insert(st.epoch, sid) {
                        if other != sid {
                            self.fail(&format!(
                                "two leaders established epoch {}: {other} and {sid}",
                                st.epoch
                            ));
                        }
                    }
                }
            }
        }
    }

    /// The order rules of the driver's contract, checked as each action leaves the core.
    fn check_action(&self, i: usize, a: &Action) {
        let n = &self.nodes[i];
        let sid = n.sid;
        let looking = match n.status {
            None => true,
            Some(s) => s.state == ServerState::Looking,
        };
        if looking && !matches!(a, Action::SendNotification { .. } | Action::StateChanged(_)) {
            // ZOOKEEPER-4712: a server that left its role writes and sends nothing for it.
            self.fail(&format!(
                "{sid} is LOOKING and still does {}",
                short_action(a)
            ));
        }
        let Action::Send { msg, .. } = a else { return };
        match msg {
            QuorumPacket::AckEpoch { .. } => {
                let e = n.leaderinfo_epoch.unwrap_or_default();
                if n.accepted_epoch < e {
                    self.fail(&format!(
                        "{sid} sends ACKEPOCH for epoch {e} with accepted epoch {} on disk",
                        n.accepted_epoch
                    ));
                }
            }
            QuorumPacket::Ack { zxid } if zxid.counter() == 0 => {
                // The ACK of NEWLEADER vouches for the synced log and the new current epoch
                // (ZOOKEEPER-3911, -4643, -4646, -4785).
                let len = n.newleader_len.unwrap_or(0);
                let synced = n.durable_override.is_none() && n.durable_len >= len;
                if !synced || n.current_epoch < zxid.epoch() {
                    self.fail(&format!(
                        "{sid} ACKs NEWLEADER {zxid}: synced log of {len} entries durable: {synced}, current epoch on disk {}",
                        n.current_epoch
                    ));
                }
            }
            // `None` (a snapshot not yet durable) sorts below every zxid.
            QuorumPacket::Ack { zxid } if n.durable_last_of_mem() < Some(*zxid) => {
                self.fail(&format!("{sid} ACKs {zxid} before it is durable"));
            }
            _ => {}
        }
    }

    /// Group commit: an fsync queued but not yet started (not the oldest write) also takes
    /// the new writes; one under way covers only what was written before it.
    fn queue_fsync(&mut self, i: usize) {
        let len = self.nodes[i].mem.len();
        let d = &mut self.nodes[i].disk;
        if d.len() > 1 {
            if let Some(DiskOp::Fsync(l)) = d.back_mut() {
                *l = len;
                return;
            }
        }
        d.push_back(DiskOp::Fsync(len));
    }

    // ---- invariants ----

    /// `mem[from..applied]` of node `i` extends or matches the global sequence.
    fn check_committed(&mut self, i: usize, from: usize) {
        let grew_from = self.history.len();
        let n = &self.nodes[i];
        for k in from..n.applied {
            let e = &n.mem[k];
            if k < self.history.len() {
                if self.history[k] != *e {
                    let why = format!(
                        "{} committed {:?} at position {k}, the ensemble committed {:?} there",
                        n.sid, e.0, self.history[k].0
                    );
                    self.fail(&why);
                }
            } else {
                let prev = self.history.last().map(|x| x.0).unwrap_or(Zxid::ZERO);
                if !continuous(prev, e.0) {
                    let why = format!("committed sequence jumps from {prev} to {}", e.0);
                    self.fail(&why);
                }
                self.history.push(e.clone());
            }
        }
        if self.history.len() > grew_from {
            for j in 0..self.nodes.len() {
                if self.nodes[j].durable_match == grew_from {
                    self.extend_match(j);
                }
            }
            self.check_durable_quorum();
        }
    }

    fn extend_match(&mut self, j: usize) {
        let n = &self.nodes[j];
        let d = n.durable();
        let mut m = n.durable_match;
        while m < d.len() && m < self.history.len() && d[m] == self.history[m] {
            m += 1;
        }
        self.nodes[j].durable_match = m;
    }

    fn recompute_match(&mut self, j: usize) {
        self.nodes[j].durable_match = 0;
        self.extend_match(j);
    }

    /// Everything committed is durable on a quorum of voters.
    fn check_durable_quorum(&self) {
        let g = self.history.len();
        let holders: Vec<ServerId> = self
            .nodes
            .iter()
            .filter(|n| n.voter && n.durable_match >= g)
            .map(|n| n.sid)
            .collect();
        if !self.quorum.contains_quorum(&holders) {
            self.fail(&format!(
                "committed history of {g} entries is durable only on {holders:?}"
            ));
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
    }

    /// Heals the world and requires every server in broadcast and new proposals committed everywhere.
    pub fn check_liveness(&mut self, within_ticks: u64) {
        self.heal();
        self.opts.election_loss = 0;
        self.opts.quorum_loss = 0;
        let propose = self.opts.propose;
        self.opts.propose = 0;
        self.start_all();
        if !self.run_until(within_ticks, |s| s.settled()) {
            self.fail(&format!(
                "no stable leader {within_ticks} ticks after healing"
            ));
        }
        let target = self.history.len() + 5;
        let mut proposed = 0;
        // propose five and wait for them everywhere
        let end = self.now + within_ticks * STEPS_PER_TICK;
        while self.now < end {
            if proposed < 5 && self.propose() {
                proposed += 1;
            }
            self.step();
            if proposed == 5 && self.nodes.iter().all(|n| n.applied >= target) {
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

/// Zxid continuity: the next counter within an epoch, counter 1 of a later epoch.
pub fn continuous(prev: Zxid, z: Zxid) -> bool {
    if z.epoch() == prev.epoch() {
        z.counter() == prev.counter() + 1
    } else {
        z.epoch() > prev.epoch() && z.counter() == 1
    }
}

fn short_event(e: &Event) -> String {
    match e {
        Event::Notification { from, n } => format!(
            "notification from {from}: {:?} leader {} zxid {} ee {} pe {}",
            n.state, n.leader.0 as i64, n.zxid, n.election_epoch, n.peer_epoch
        ),
        Event::Received { from, msg } => format!("from {from}: {}", short_packet(msg)),
        other => format!("{other:?}"),
    }
}

fn short_action(a: &Action) -> String {
    match a {
        Action::SendNotification { to, n } => format!(
            "notify {to}: {:?} leader {} zxid {} ee {} pe {}",
            n.state, n.leader.0 as i64, n.zxid, n.election_epoch, n.peer_epoch
        ),
        Action::Send { to, msg } => format!("send {to}: {}", short_packet(msg)),
        Action::Append(v) => format!("append {:?}", v.iter().map(|e| e.0).collect::<Vec<_>>()),
        other => format!("{other:?}"),
    }
}

fn short_packet(p: &QuorumPacket) -> String {
    match p {
        QuorumPacket::Proposal { zxid, .. } => format!("PROPOSAL {zxid}"),
        QuorumPacket::Inform { zxid, .. } => format!("INFORM {zxid}"),
        QuorumPacket::NewLeader { zxid, .. } => format!("NEWLEADER {zxid}"),
        QuorumPacket::Ping { zxid, .. } => format!("PING {zxid}"),
        other => format!("{other:?}"),
    }
}
