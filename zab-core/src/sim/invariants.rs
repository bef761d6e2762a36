//! The invariants, checked as the run goes: after every event and on every action.
//!
//! Owns the safety checks: at most one established leader per epoch (in `driver.rs`, on
//! `StateChanged`); every committed sequence a prefix of one global sequence that only
//! grows; zxids continuous; the global sequence durable on a quorum of the voters of the
//! last committed view (a reconfig entering it: on a quorum of the old view's voters and
//! of the new one's); and the
//! order rules of the driver's contract (persist before ACKEPOCH, the ACK of NEWLEADER
//! and a proposal's ACK; nothing but election from a LOOKING peer).

use super::trace::short_action;
use super::Sim;
use crate::peer::Action;
use crate::quorum::QuorumVerifier;
use crate::wire::{QuorumPacket, ServerState};
use crate::{ServerId, Zxid};

impl Sim {
    /// The order rules of the driver's contract, checked as each action leaves the core.
    pub(super) fn check_action(&self, i: usize, a: &Action) {
        let n = &self.nodes[i];
        let sid = n.sid;
        let looking = match n.status {
            None => true,
            Some(s) => s.state == ServerState::Looking,
        };
        // A LOOKING peer may adopt a newer committed view a notification carries (and
        // write its configuration file), as Apache's FastLeaderElection does.
        let election = matches!(
            a,
            Action::SendNotification { .. } | Action::StateChanged(_) | Action::Activate { .. }
        );
        if looking && !election {
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

    // ---- invariants ----

    /// `mem[from..applied]` of node `i` extends or matches the global sequence.
    pub(super) fn check_committed(&mut self, i: usize, from: usize) {
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
            // A reconfig that entered the sequence: its prefix must be durable on a quorum
            // of the view before it and of its own view (no two disjoint quorums, old and
            // new, can each commit), and its view is then the one later commits need.
            for k in grew_from..self.history.len() {
                let Some(text) = crate::reconfig::config_of_txn(&self.history[k].1) else {
                    continue;
                };
                let Some((view, _)) = crate::reconfig::parse_config(&text) else {
                    continue;
                };
                self.check_prefix_durable_on(k + 1, &*self.committed_view.clone(), "old");
                self.check_prefix_durable_on(k + 1, &*view, "new");
                self.committed_view = view;
                self.committed_version = self.history[k].0 .0;
                self.stats.reconfigs_committed += 1;
            }
            self.check_durable_quorum();
        }
    }

    /// `history[..len]` is durable on a quorum of `view`'s voters.
    fn check_prefix_durable_on(&self, len: usize, view: &dyn QuorumVerifier, which: &str) {
        let holders: Vec<ServerId> = self
            .nodes
            .iter()
            .filter(|n| n.durable_match >= len)
            .map(|n| n.sid)
            .collect();
        if !view.contains_quorum(&holders) {
            self.fail(&format!(
                "a reconfig committed at position {} is durable only on {holders:?}, no quorum of the {which} voters {:?}",
                len - 1,
                view.voting_members()
            ));
        }
    }

    pub(super) fn extend_match(&mut self, j: usize) {
        let n = &self.nodes[j];
        let d = n.durable();
        let mut m = n.durable_match;
        while m < d.len() && m < self.history.len() && d[m] == self.history[m] {
            m += 1;
        }
        self.nodes[j].durable_match = m;
    }

    pub(super) fn recompute_match(&mut self, j: usize) {
        self.nodes[j].durable_match = 0;
        self.extend_match(j);
    }

    /// Everything committed is durable on a quorum of the last committed view's voters.
    pub(super) fn check_durable_quorum(&self) {
        let g = self.history.len();
        let holders: Vec<ServerId> = self
            .nodes
            .iter()
            .filter(|n| n.durable_match >= g)
            .map(|n| n.sid)
            .collect();
        if !self.committed_view.contains_quorum(&holders) {
            self.fail(&format!(
                "committed history of {g} entries is durable only on {holders:?}"
            ));
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
