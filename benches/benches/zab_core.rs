//! The ZAB core alone: a 3-peer ensemble in memory, proposals committed per second.
//!
//! No sockets, no disk, no clock: a FIFO queue carries every message, every `Append` is
//! answered at once by `Persisted`, epoch files likewise. What is measured is the cost
//! of the state machine itself (leader: PROPOSAL out, ACKs in, COMMIT out; followers:
//! log, ACK, commit) for each proposal, everywhere.
//!
//! `cargo bench -p zk-benches --bench zab_core`; `cargo test -p zk-benches --bench zab_core`
//! runs each case once, as CI's `cargo test --workspace` does (`test = true` in Cargo.toml).

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use zab_core::quorum::QuorumMaj;
use zab_core::{Action, Config, Event, Peer, PersistentState, ServerId, Zxid};

/// Three peers and the messages between them.
struct Ensemble {
    peers: Vec<Peer>,
    queue: VecDeque<(usize, Event)>,
    out: Vec<Action>,
    committed: Vec<Zxid>,
    leader: usize,
}

impl Ensemble {
    /// Starts three empty servers and runs them until one leads and all are in broadcast.
    fn established() -> Ensemble {
        let quorum = Arc::new(QuorumMaj::with_counts(3, 0));
        let peers: Vec<Peer> = (1..=3)
            .map(|i| {
                Peer::new(
                    Config::new(ServerId(i), quorum.clone()),
                    PersistentState::default(),
                )
            })
            .collect();
        let mut e = Ensemble {
            peers,
            queue: VecDeque::new(),
            out: Vec::new(),
            committed: vec![Zxid::ZERO; 3],
            leader: usize::MAX,
        };
        for i in 0..3 {
            e.queue.push_back((i, Event::Start));
        }
        for _ in 0..1000 {
            e.pump();
            if let Some(l) = e.peers.iter().position(|p| p.can_propose()) {
                if e.peers.iter().all(|p| p.is_broadcasting()) {
                    e.leader = l;
                    return e;
                }
            }
            for i in 0..3 {
                e.queue.push_back((i, Event::Tick));
            }
        }
        panic!("no leader after 1000 ticks");
    }

    /// Delivers everything queued, and whatever that causes, until the queue is empty.
    fn pump(&mut self) {
        while let Some((i, ev)) = self.queue.pop_front() {
            self.peers[i].step_into(ev, &mut self.out);
            let me = ServerId(i as u64 + 1);
            for a in self.out.drain(..) {
                let (to, ev) = match a {
                    Action::SendNotification { to, n } => (to, Event::Notification { from: me, n }),
                    Action::Send { to, msg } => (to, Event::Received { from: me, msg }),
                    Action::SendSnapshot { to, zxid } => (
                        to,
                        Event::Received {
                            from: me,
                            msg: zab_core::QuorumPacket::Snap { zxid },
                        },
                    ),
                    Action::Append(entries) => {
                        let upto = entries.last().expect("entries").0;
                        (me, Event::Persisted { upto })
                    }
                    Action::InstallSnapshot { zxid } => (me, Event::Persisted { upto: zxid }),
                    Action::SaveAcceptedEpoch(e) => (me, Event::AcceptedEpochSaved(e)),
                    Action::SaveCurrentEpoch(e) => (me, Event::CurrentEpochSaved(e)),
                    Action::Commit { upto } => {
                        self.committed[i] = upto;
                        continue;
                    }
                    Action::Truncate { .. }
                    | Action::Deliver { .. }
                    | Action::StateChanged(_)
                    | Action::Activate { .. }
                    | Action::RqldAnswer(_) => continue,
                };
                self.queue.push_back((to.0 as usize - 1, ev));
            }
        }
    }

    /// Proposes `n` transactions at once, then delivers until all are committed everywhere.
    fn pipelined(&mut self, n: usize, data: &Bytes) {
        for _ in 0..n {
            self.queue
                .push_back((self.leader, Event::Propose(data.clone())));
        }
        self.pump();
        self.check_all_committed();
    }

    /// Proposes `n` transactions one at a time, each committed everywhere before the next.
    fn one_by_one(&mut self, n: usize, data: &Bytes) {
        for _ in 0..n {
            self.queue
                .push_back((self.leader, Event::Propose(data.clone())));
            self.pump();
        }
        self.check_all_committed();
    }

    fn check_all_committed(&self) {
        let last = self.peers[self.leader].last_zxid();
        assert!(
            self.committed.iter().all(|c| *c == last),
            "{:?} vs {last}",
            self.committed
        );
    }
}

const BATCH: usize = 1000;

fn proposals(c: &mut Criterion) {
    // A small create transaction's worth of bytes; the core only moves the handle.
    let data = Bytes::from(vec![0u8; 100]);
    let mut g = c.benchmark_group("zab_core_3_peers");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(BATCH as u64));
    let mut e = Ensemble::established();
    g.bench_function(BenchmarkId::new("pipelined", BATCH), |b| {
        b.iter(|| e.pipelined(black_box(BATCH), &data))
    });
    let mut e = Ensemble::established();
    g.bench_function(BenchmarkId::new("one_by_one", BATCH), |b| {
        b.iter(|| e.one_by_one(black_box(BATCH), &data))
    });
    g.finish();
}

criterion_group!(benches, proposals);
criterion_main!(benches);
