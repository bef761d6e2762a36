//! `ack_latency` (leader): per acknowledging server, the ms from a proposal to its ACK,
//! sampled as Apache 3.8's `Leader.processAck` samples it: only for zxids that are
//! multiples of `zookeeper.leader.ackLoggingFrequency` (1000), and only for ACKs that
//! arrive before the proposal commits, the leader's own included (its log sync).
//!
//! Apache times from the request's creation on the leader; ours from the moment the
//! driver is handed the proposal (the request was prepared just before). Our learners'
//! ACKs are cumulative (docs/decisions/0002, §6), so an ACK at or past the zxid counts.
//!
//! Also `quorum_ack_latency`: for every proposal, the ms from its proposal to its commit
//! (Apache's `Leader.tryToCommit`, from the request's creation).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use zab_core::{ServerId, Zxid};

use crate::core::{DriverMetrics, SharedSummarySet};

/// Proposals timed at most for `quorum_ack_latency` (the core has at most 10,000 in flight).
const MAX_PROPOSED: usize = 20_000;

/// Apache's `ackLoggingFrequency` default.
const EVERY: i64 = 1000;

pub(super) struct AckLatency {
    /// The sampled proposal not yet committed, when it was proposed, and who has
    /// acknowledged it so far (each counts once).
    pending: Option<(Zxid, Instant, Vec<ServerId>)>,
    set: Arc<SharedSummarySet>,
    /// Proposals not yet committed and when each was proposed, oldest first.
    proposed: VecDeque<(Zxid, Instant)>,
    metrics: Arc<DriverMetrics>,
}

impl AckLatency {
    pub(super) fn new(set: Arc<SharedSummarySet>, metrics: Arc<DriverMetrics>) -> AckLatency {
        AckLatency {
            pending: None,
            set,
            proposed: VecDeque::new(),
            metrics,
        }
    }

    /// The leader proposes the serialized transaction `txn`.
    pub(super) fn on_propose(&mut self, txn: &[u8]) {
        // TxnHeader := long(clientId) int(cxid) long(zxid) ...
        let Some(z) = txn.get(12..20) else { return };
        let zxid = i64::from_be_bytes(z.try_into().expect("8 bytes"));
        let now = Instant::now();
        if zxid % EVERY == 0 {
            self.pending = Some((Zxid(zxid), now, Vec::new()));
        }
        if self.proposed.len() >= MAX_PROPOSED {
            self.proposed.pop_front();
        }
        self.proposed.push_back((Zxid(zxid), now));
    }

    /// `sid` acknowledged everything up to `upto` (the leader itself: its log is durable).
    pub(super) fn on_ack(&mut self, sid: ServerId, upto: Zxid) {
        let Some((z, at, acked)) = &mut self.pending else {
            return;
        };
        if upto < *z || acked.contains(&sid) {
            return;
        }
        acked.push(sid);
        self.set.add_q(sid.0, at.elapsed().as_millis() as u64);
    }

    /// Everything up to `upto` committed: later ACKs are not sampled (Apache returns
    /// before logging once `lastCommitted >= zxid`).
    pub(super) fn on_commit(&mut self, upto: Zxid) {
        if self.pending.as_ref().is_some_and(|p| p.0 <= upto) {
            self.pending = None;
        }
        while let Some(&(z, at)) = self.proposed.front() {
            if z > upto {
                break;
            }
            self.proposed.pop_front();
            self.metrics
                .add_quorum_ack_latency(at.elapsed().as_millis() as u64);
        }
    }

    /// Leaving the leadership.
    pub(super) fn clear(&mut self) {
        self.pending = None;
        self.proposed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(zxid: i64) -> Vec<u8> {
        let mut b = vec![0u8; 12];
        b.extend_from_slice(&zxid.to_be_bytes());
        b.extend_from_slice(&[0; 12]);
        b
    }

    #[test]
    fn only_multiples_of_1000_acked_before_their_commit_are_sampled() {
        let set = Arc::new(SharedSummarySet::default());
        let metrics = Arc::new(DriverMetrics::default());
        let mut a = AckLatency::new(set.clone(), metrics.clone());
        a.on_propose(&txn(999));
        a.on_ack(ServerId(1), Zxid(999));
        assert!(set.get().is_empty());
        a.on_propose(&txn(1000));
        a.on_ack(ServerId(1), Zxid(999));
        a.on_ack(ServerId(1), Zxid(1001));
        a.on_ack(ServerId(1), Zxid(1002));
        a.on_ack(ServerId(3), Zxid(1000));
        a.on_commit(Zxid(1000));
        a.on_ack(ServerId(2), Zxid(1000));
        let got = set.get();
        assert_eq!(got.keys().collect::<Vec<_>>(), ["1", "3"]);
        assert_eq!(got["1"].count, 1);
        assert!(got["1"].has_quantiles());
        // Both proposals committed: each timed once for quorum_ack_latency.
        assert_eq!(metrics.quorum_ack_latency().count, 2);
    }
}
