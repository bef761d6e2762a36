//! Reconfiguration in the random runs: the workload that asks the leader for reconfigs,
//! and the checks that every server's view converges and survives a restart.
//!
//! Owns the membership texts the simulator proposes ([`view_text`]: `server.N` lines,
//! optional `group.N` / `weight.N` lines, `version=<hex>` as zk-server's prep writes it)
//! and the choice of a new view within the pool of servers (`1..=nodes`): one server
//! added or removed (the leader too), as `reconfig -add` / `-remove` end up, or a new
//! member list (`-members`), now and then hierarchical. As zk-server's prep does, the
//! leader is asked only when no reconfig is pending and a quorum of the new voters is
//! synced with it (otherwise ReconfigInProgress / NewConfigNoQuorum).
//!
//! The safety invariants for reconfigs live in `invariants.rs` (the committed history on a
//! quorum of the old and of the new view) and `driver.rs` (one leader per epoch, also for
//! a commit); this file adds the end-of-run checks: after healing, every server runs
//! the last committed view, and after a restart each one comes back with it from its own
//! configuration file (or from the reconfig in its log, known committed).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::Sim;
use crate::peer::Event;
use crate::reconfig::reconfig_txn;
use crate::{ServerId, Zxid};

/// A membership: voters, observers, and (hierarchical) groups with weights.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    pub voters: Vec<u64>,
    pub observers: Vec<u64>,
    /// `group.N=a:b:...` lines; empty for a majority view.
    pub groups: Vec<Vec<u64>>,
    /// `weight.N=w` lines (only with groups).
    pub weights: BTreeMap<u64, u64>,
}

/// The text of `view` with `version` (addresses do not matter to the simulator).
pub fn view_text(view: &View, version: Zxid) -> String {
    let mut t = String::new();
    let mut all: Vec<(u64, &str)> = view.voters.iter().map(|s| (*s, "participant")).collect();
    all.extend(view.observers.iter().map(|s| (*s, "observer")));
    all.sort();
    for (s, kind) in all {
        t.push_str(&format!(
            "server.{s}=127.0.0.1:{}:{}:{kind}\n",
            10 + s,
            20 + s
        ));
    }
    for (g, members) in view.groups.iter().enumerate() {
        let m: Vec<String> = members.iter().map(|s| s.to_string()).collect();
        t.push_str(&format!("group.{}={}\n", g + 1, m.join(":")));
    }
    for (s, w) in &view.weights {
        t.push_str(&format!("weight.{s}={w}\n"));
    }
    t.push_str(&format!("version={:x}", version.0));
    t
}

/// The version of the initial view in runs with spares: Apache's first established view
/// takes the zxid of the first leader's NEWLEADER (ZOOKEEPER-1783), `100000000`, and
/// that is what an ensemble a server joins has. A joiner's partial configuration has
/// version 0 and gives way to it.
pub const INITIAL_VERSION: i64 = 0x1_0000_0000;

impl Sim {
    /// The view the run starts with: voters `1..=voters`, then the observers; hierarchical
    /// in three groups by `sid % 3`, as [`Sim::new`] builds its verifier.
    fn initial_view(&self) -> View {
        let voters: Vec<u64> = (1..=self.opts.voters).collect();
        let observers = (self.opts.voters + 1..=self.opts.voters + self.opts.observers).collect();
        let groups = if self.opts.hierarchical {
            (0..3u64)
                .map(|g| voters.iter().copied().filter(|s| s % 3 == g).collect())
                .collect()
        } else {
            Vec::new()
        };
        View {
            voters,
            observers,
            groups,
            weights: BTreeMap::new(),
        }
    }

    /// What `sid`'s static configuration holds, in runs with spares: for a member, the
    /// initial view with [`INITIAL_VERSION`]; for a spare, Apache's joining configuration
    /// (ReconfigTest's joiner, ZOOKEEPER-2172): the initial members and itself as a
    /// participant, version 0. It backs itself in that view, but no member counts it (it is
    /// no voter of theirs), and the first answer it gets carries the newer view it then
    /// takes (as Apache's `FastLeaderElection` does with a notification's newer config).
    /// `None` without spares: every server starts from the unversioned initial view.
    pub(super) fn static_view(&self, sid: ServerId) -> Option<(Bytes, i64)> {
        if self.opts.spares == 0 {
            return None;
        }
        let mut view = self.initial_view();
        let member = view.voters.contains(&sid.0) || view.observers.contains(&sid.0);
        if member {
            let text = view_text(&view, Zxid(INITIAL_VERSION));
            return Some((Bytes::from(text), INITIAL_VERSION));
        }
        view.voters.push(sid.0);
        if let Some(g) = view.groups.get_mut((sid.0 % 3) as usize) {
            g.push(sid.0);
        }
        Some((Bytes::from(view_text(&view, Zxid(0))), 0))
    }

    /// The zxid the established leader `l` gives its next proposal.
    pub fn next_zxid_at(&self, l: u64) -> Option<Zxid> {
        let p = self.peer(l)?;
        let e = p.epoch()?;
        let last = p.last_zxid();
        Some(if last.epoch() == e {
            last.next()
        } else {
            Zxid::new(e, 1)
        })
    }

    /// Proposes a reconfig to `view` at leader `l`, with the version its zxid will be;
    /// the zxid it was logged under, if the leader took it.
    pub fn propose_view_at(&mut self, l: u64, view: &View) -> Option<Zxid> {
        let z = self.next_zxid_at(l)?;
        let text = view_text(view, z);
        self.note(format!(
            "{} reconfig at {l}: {}",
            self.now,
            text.replace('\n', " ")
        ));
        self.feed(ServerId(l), Event::Propose(reconfig_txn(&text)));
        let after = self.peer(l)?.last_zxid();
        (after == z).then_some(z)
    }

    /// The workload's reconfig: a new view for the established leader, if it can take one.
    pub(super) fn propose_random_reconfig(&mut self) {
        let Some(l) = self.leader() else { return };
        let p = self.peer(l).expect("the leader runs");
        if p.pending_reconfig().is_some() {
            return;
        }
        let voters: Vec<u64> = p.voting_members().iter().map(|s| s.0).collect();
        let observers: Vec<u64> = p.observer_members().iter().map(|s| s.0).collect();
        // The synced followers that stay followers: one the view in force makes an
        // observer is about to rejoin as one, and an observer's ACKs never count (our
        // leader syncs an observer to its commit point only, so its ACK of NEWLEADER
        // cannot count for a pending view either: see docs/decisions/0002).
        let mut synced: Vec<ServerId> = p
            .synced_follower_ids()
            .into_iter()
            .filter(|s| !observers.contains(&s.0))
            .collect();
        synced.push(ServerId(l));
        let pool = self.nodes.len() as u64;
        let mut new = View::default();
        match self.rng.below(3) {
            // Incremental: add one server of the pool as a voter.
            0 => {
                let outside: Vec<u64> = (1..=pool).filter(|s| !voters.contains(s)).collect();
                if outside.is_empty() {
                    return;
                }
                let add = outside[self.rng.below(outside.len() as u64) as usize];
                new.voters = voters.clone();
                new.voters.push(add);
                new.observers = observers.iter().copied().filter(|s| *s != add).collect();
            }
            // Incremental: remove one voter, maybe the leader.
            1 => {
                if voters.len() < 2 {
                    return;
                }
                let gone = voters[self.rng.below(voters.len() as u64) as usize];
                new.voters = voters.iter().copied().filter(|s| *s != gone).collect();
                new.observers = observers.clone();
            }
            // Non-incremental: a new member list of one to five voters, some observers.
            _ => {
                let size = self.rng.range(1, pool.min(5));
                let mut rest: Vec<u64> = (1..=pool).collect();
                for _ in 0..size {
                    let k = self.rng.below(rest.len() as u64) as usize;
                    new.voters.push(rest.remove(k));
                }
                for s in rest {
                    if self.rng.chance(300) {
                        new.observers.push(s);
                    }
                }
            }
        }
        new.voters.sort();
        new.observers.sort();
        if new.voters.len() >= 3 && self.rng.chance(250) {
            // Hierarchical: two or three groups, each voter in one, weights 1 or 2.
            let n = self.rng.range(2, 3.min(new.voters.len() as u64)) as usize;
            new.groups = vec![Vec::new(); n];
            for (k, s) in new.voters.iter().enumerate() {
                let g = if k < n {
                    k
                } else {
                    self.rng.below(n as u64) as usize
                };
                new.groups[g].push(*s);
                if self.rng.chance(300) {
                    new.weights.insert(*s, 2);
                }
            }
        }
        let probe = view_text(&new, Zxid(0));
        let Some((q, _)) = crate::reconfig::parse_config(probe.as_bytes()) else {
            return;
        };
        if !q.contains_quorum(&synced) {
            return;
        }
        self.stats.reconfigs += 1;
        if self.propose_view_at(l, &new).is_none() {
            self.fail(&format!("leader {l} did not take a reconfig"));
        }
    }

    /// Waits (up to `within_ticks`) until every running server has committed all the
    /// leader logged, then requires each to run the last committed view.
    pub fn check_views_converged(&mut self, within_ticks: u64) {
        self.run_until(within_ticks, |s| {
            let Some(l) = s.leader() else { return false };
            let last = s.peer(l).expect("leads").last_zxid();
            s.nodes
                .iter()
                .filter_map(|n| n.peer.as_ref())
                .all(|p| p.last_committed() == last && p.config_version() == s.committed_version)
        });
        self.require_views_converged();
    }

    /// Every running server runs the last committed view.
    pub fn require_views_converged(&self) {
        let want = self.committed_view.voting_members().to_vec();
        for n in self.nodes.iter() {
            let Some(p) = n.peer.as_ref() else { continue };
            if p.config_version() != self.committed_version || p.voting_members() != want {
                self.fail(&format!(
                    "{} runs view {:x} of {:?}; the last committed is {:x} of {want:?}",
                    n.sid,
                    p.config_version(),
                    p.voting_members(),
                    self.committed_version
                ));
            }
        }
    }

    /// Each server, its disk written out and restarted, comes back with the last committed
    /// view (from its configuration file, or from the reconfig in its log); then the
    /// ensemble settles again.
    pub fn check_views_survive_restart(&mut self, within_ticks: u64) {
        for s in 1..=self.nodes.len() as u64 {
            self.flush_disk(s);
            self.crash(s);
            self.start(s);
            let p = self.peer(s).expect("started");
            if p.config_version() != self.committed_version {
                let file = self.node(s).view.as_ref().map(|v| v.1);
                self.fail(&format!(
                    "{s} restarts with view {:x} (its file: {file:x?}); the last committed is {:x}",
                    p.config_version(),
                    self.committed_version
                ));
            }
        }
        if !self.run_until(within_ticks, |s| s.settled()) {
            self.fail(&format!(
                "no stable leader {within_ticks} ticks after restarting every server"
            ));
        }
        self.check_views_converged(within_ticks);
    }

    /// The membership text a server's configuration file holds, if it has one.
    pub fn view_file(&self, sid: u64) -> Option<&Bytes> {
        self.node(sid).view.as_ref().map(|v| &v.0)
    }
}
