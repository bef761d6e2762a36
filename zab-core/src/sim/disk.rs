//! One simulated server ([`Node`]) and its disk.
//!
//! Owns the disk model: appends reach memory at once and become durable at a later
//! fsync, which covers the writes issued before it started (group commit); epoch files
//! are other files and may overtake log fsyncs; a stalled disk completes nothing. What
//! survives a crash is decided by `Sim::crash` from what this module made durable. The
//! dynamic configuration file of an activated view ([`Node::view`]) is durable as the
//! activation is executed: zk-server writes it, fsyncs it and its directory before it
//! acts on anything after the activation (an asynchronous write lost in a crash, with the
//! reconfig already beyond the restarted log's window, brought a server back with the old
//! view, in which it led alone: reconfig seed 1000413 with the write queued as a disk op).

use std::collections::VecDeque;

use bytes::Bytes;

use super::Sim;
use crate::peer::{Event, Peer, PeerStatus};
use crate::{Epoch, ServerId, Zxid};

#[derive(Debug)]
pub(super) enum DiskOp {
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
    pub(super) durable_len: usize,
    pub(super) durable_override: Option<Vec<(Zxid, Bytes)>>,
    /// `mem[..applied]` is committed and applied.
    pub applied: usize,
    pub accepted_epoch: Epoch,
    pub current_epoch: Epoch,
    pub(super) disk: VecDeque<DiskOp>,
    pub(super) pending_snapshot: Option<(Zxid, Vec<(Zxid, Bytes)>)>,
    pub(super) tick_phase: u64,
    pub status: Option<PeerStatus>,
    /// Length of the common prefix of the durable log and the global sequence.
    pub(super) durable_match: usize,
    /// While set, no disk write of this server completes ([`Sim::stall_disk`]).
    pub disk_stalled: bool,
    /// While set, no log fsync completes; epoch files still do ([`Sim::stall_log`]).
    pub log_stalled: bool,
    /// `mem.len()` when the last NEWLEADER arrived: what its ACK vouches for.
    pub(super) newleader_len: Option<usize>,
    /// The epoch of the last LEADERINFO received: what ACKEPOCH vouches for.
    pub(super) leaderinfo_epoch: Option<Epoch>,
    /// The last view a committed reconfig activated (its text and version): what the
    /// server's dynamic configuration file holds, read again at a restart. `None`: the
    /// static configuration the run started with.
    pub view: Option<(Bytes, i64)>,
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
    pub(super) fn durable_last_of_mem(&self) -> Option<Zxid> {
        if self.durable_override.is_some() {
            return None;
        }
        Some(match self.durable_len {
            0 => Zxid::ZERO,
            k => self.mem[k - 1].0,
        })
    }
}

impl Sim {
    /// Group commit: an fsync queued but not yet started (not the oldest write) also takes
    /// the new writes; one under way covers only what was written before it.
    pub(super) fn queue_fsync(&mut self, i: usize) {
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

    /// Completes every pending disk write of `sid` now, in order (stalled or not).
    pub fn flush_disk(&mut self, sid: u64) {
        let i = sid as usize - 1;
        while self.nodes[i].alive() && !self.nodes[i].disk.is_empty() {
            self.complete_disk_op(i, 0);
        }
    }

    /// Which pending disk write of node `i` completes next: the oldest, except that an
    /// epoch file may overtake log fsyncs (they are different files).
    pub(super) fn next_disk_op(&mut self, i: usize) -> Option<usize> {
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

    pub(super) fn complete_disk_op(&mut self, i: usize, k: usize) {
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
}
