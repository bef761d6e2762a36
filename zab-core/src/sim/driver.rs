//! The simulated driver: feeds an event to a peer and executes the actions it returns.
//!
//! Owns what a real driver (zk-server's) does with each action, against the simulated
//! network and disk, and the bookkeeping of the run: the trace, the recording, the
//! statistics. Every action is checked by [`super::invariants`] before it is executed.

use super::disk::DiskOp;
use super::invariants::continuous;
use super::trace::{Record, TraceEntry};
use super::Sim;
use crate::peer::{Action, Event, PeerStatus, ZabPhase};
use crate::wire::{QuorumPacket, ServerState};
use crate::{ServerId, Zxid};

impl Sim {
    /// Leaving a leadership closes its quorum connections, as zk-server's driver does
    /// (and Apache's `Leader.shutdown` / `Learner.shutdown`, the driver contract in
    /// `driver.rs`): going back to LOOKING closes every connection this server holds,
    /// so a failed leader's learners hear of it at once instead of after `initLimit` of
    /// silence, and a learner that gives up leaves its leader's handler at once; a
    /// handover in place, from one leadership to another without LOOKING in between,
    /// closes the connection to the leader it followed, or, as the old leader, those to
    /// its learners.
    fn leave_old_leadership(&mut self, sid: ServerId, before: Option<PeerStatus>, now: PeerStatus) {
        let Some(before) = before else { return };
        let learner = |s: ServerState| matches!(s, ServerState::Following | ServerState::Observing);
        if now.state == ServerState::Looking && before.state != ServerState::Looking {
            self.close_conns_but(sid, None);
        } else if learner(before.state)
            && now.state != ServerState::Looking
            && before.leader != now.leader
        {
            if let Some(old) = before.leader {
                self.close_conn(sid, old);
            }
        } else if before.state == ServerState::Leading && learner(now.state) {
            self.close_conns_but(sid, now.leader);
        }
    }

    /// Closes every quorum connection of `sid` but the one to `keep`.
    fn close_conns_but(&mut self, sid: ServerId, keep: Option<ServerId>) {
        let peers: Vec<ServerId> = self
            .nodes
            .iter()
            .map(|n| n.sid)
            .filter(|s| *s != sid && Some(*s) != keep)
            .collect();
        for p in peers {
            self.close_conn(sid, p);
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

    pub(super) fn execute(&mut self, i: usize, a: Action) {
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
                // Only the established leader of its epoch commits as leader: a second one
                // (an old and a new view's quorum each electing one) would be caught here.
                if let Some(st) = n.status.filter(|st| st.state == ServerState::Leading) {
                    if let Some(other) = self.leaders.get(&st.epoch).filter(|o| **o != sid) {
                        self.fail(&format!(
                            "{sid} commits {upto} as leader of epoch {}, established by {other}",
                            st.epoch
                        ));
                    }
                }
                self.check_committed(i, old);
            }
            Action::Deliver { .. } | Action::RqldAnswer(_) => {}
            // The simulated network reaches every node; the view's file is written for
            // restarts, durable before the next action (see disk.rs).
            Action::Activate { config, version } => {
                self.stats.activations += 1;
                self.nodes[i].view = Some((config, version));
            }
            Action::StateChanged(st) => {
                let before = self.nodes[i].status.replace(st);
                self.leave_old_leadership(sid, before, st);
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
}
