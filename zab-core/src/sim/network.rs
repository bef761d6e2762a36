//! The simulated network: the election channel and the quorum connections.
//!
//! Owns how messages travel: every notification gets its own delay and may be lost;
//! quorum packets travel on a FIFO connection per pair, opened by FOLLOWERINFO /
//! OBSERVERINFO, and a lost packet breaks its connection (TCP does not skip packets).
//! Blocked directions (partitions) drop what they carry; held ones keep it in flight.

use bytes::Bytes;

use super::{Sim, STEPS_PER_TICK};
use crate::peer::Event;
use crate::wire::{Notification, QuorumPacket, ServerState};
use crate::{ServerId, Zxid};

#[derive(Debug, Clone)]
pub(super) struct Flight<T> {
    at: u64,
    from: ServerId,
    to: ServerId,
    gen: u64,
    msg: T,
}

#[derive(Debug, Clone)]
pub(super) struct QMsg {
    msg: QuorumPacket,
    snapshot: Option<Vec<(Zxid, Bytes)>>,
    /// Connection attempts so far (FOLLOWERINFO / OBSERVERINFO only).
    tries: u32,
}

#[derive(Debug, Default)]
pub(super) struct Conn {
    gen: u64,
    broken: bool,
}

impl Sim {
    pub(super) fn pair(a: ServerId, b: ServerId) -> (ServerId, ServerId) {
        (a.min(b), a.max(b))
    }

    /// Breaks the quorum connection between `a` and `b`; with `tell`, both ends hear of it.
    pub(super) fn break_conn(&mut self, a: ServerId, b: ServerId, tell: bool) {
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

    /// `a` closes its quorum connection with `b` (a real driver drops the connection
    /// to a leader it no longer follows); only `b` hears of it, as `a` has moved on.
    pub(super) fn close_conn(&mut self, a: ServerId, b: ServerId) {
        let key = Self::pair(a, b);
        match self.conns.get_mut(&key) {
            Some(c) if !c.broken => c.broken = true,
            _ => return,
        }
        self.quorum_net.remove(&(a, b));
        self.quorum_net.remove(&(b, a));
        if self.nodes[Self::idx(b)].alive() {
            self.feed(b, Event::Disconnected { peer: a });
        }
    }

    pub(super) fn delay(&mut self) -> u64 {
        self.rng.range(1, self.opts.max_delay_steps.max(1))
    }

    pub(super) fn send_notification(&mut self, from: ServerId, to: ServerId, n: Notification) {
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

    pub(super) fn send_quorum(
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

    pub(super) fn deliver_election(&mut self) {
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

    pub(super) fn deliver_quorum(&mut self) {
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
}
