//! Apache's `SyncRequestProcessor` figures for an ensemble member's log, and the
//! `proposal_ack_creation_latency` that follows them. The driver writes each entry
//! as zab-core appends it ([`LogTimes::appended`]), hands what was written to the
//! sync thread in one batch ([`LogTimes::flush_started`]) and is told how far the
//! log is durable ([`LogTimes::synced`]); an entry waits between the first and the
//! second, where Apache's waits in its sync queue.
//!
//! The clock readings per entry live here, not in the driver: a `VecDeque` of the
//! entries written and not yet durable, at most the log's unsynced tail.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use zab_core::Zxid;

use crate::core::{ms, DriverMetrics, LogMetrics};

/// The `time` of a serialized transaction's header (`clientId cxid zxid time type`):
/// the leader's wall clock when it prepared it, ms since the epoch.
pub(super) fn txn_time(txn: &[u8]) -> Option<i64> {
    let b: [u8; 8] = txn.get(20..28)?.try_into().ok()?;
    Some(i64::from_be_bytes(b))
}

/// Wall-clock ms since `txn_ms` (a transaction's time), if not negative: Apache's
/// `Request.logLatency`, which drops what clock skew makes negative.
pub(super) fn since_txn_time(txn_ms: i64) -> Option<u64> {
    u64::try_from(crate::core::now_ms() - txn_ms).ok()
}

struct Entry {
    zxid: Zxid,
    appended: Instant,
    txn_ms: Option<i64>,
}

pub(super) struct LogTimes {
    log: Arc<LogMetrics>,
    driver: Arc<DriverMetrics>,
    /// Entries written and not yet durable, in zxid order; the first `flushing` of
    /// them are in the sync running now.
    pending: VecDeque<Entry>,
    flushing: usize,
    flush_started: Option<Instant>,
}

impl LogTimes {
    pub(super) fn new(log: Arc<LogMetrics>, driver: Arc<DriverMetrics>) -> LogTimes {
        LogTimes {
            log,
            driver,
            pending: VecDeque::new(),
            flushing: 0,
            flush_started: None,
        }
    }

    /// One entry written to the log (not yet flushed), `write_ms` the write's time.
    pub(super) fn appended(&mut self, zxid: Zxid, txn: &[u8], appended: Instant, write_ms: u64) {
        self.log.request_queued.fetch_add(1, Ordering::Relaxed);
        self.log.process_time.add(write_ms);
        self.pending.push_back(Entry {
            zxid,
            appended,
            txn_ms: txn_time(txn),
        });
        // Waiting for a sync, this one included (Apache samples its queue as it polls).
        self.log
            .queue_size
            .add((self.pending.len() - self.flushing) as u64);
    }

    /// The sync thread took everything written so far.
    pub(super) fn flush_started(&mut self) {
        let now = Instant::now();
        // One lock for the batch, not one per entry.
        let mut queue_time = self.log.queue_time.lock();
        for e in self.pending.iter().skip(self.flushing) {
            queue_time.add(ms(now - e.appended));
        }
        drop(queue_time);
        self.flushing = self.pending.len();
        self.flush_started = Some(now);
    }

    /// The log is durable up to `upto`; `acks`: this server acknowledges what it
    /// logs (a leader or a follower; an observer does not).
    pub(super) fn synced(&mut self, upto: Zxid, acks: bool) {
        let now = Instant::now();
        if let Some(started) = self.flush_started.take() {
            self.log.flush_time.add(ms(now - started));
            self.log.batch_size.add(self.flushing as u64);
        }
        // The clocks are read once and each summary locked once for the whole batch
        // (a sync covers tens of entries under load), not once per entry.
        let wall_ms = crate::core::now_ms();
        let mut queue_and_flush = self.log.queue_and_flush_time.lock();
        let mut ack_creation = self.driver.proposal_ack_creation_latency.lock();
        while self.pending.front().is_some_and(|e| e.zxid <= upto) {
            let e = self.pending.pop_front().expect("a front entry");
            queue_and_flush.add(ms(now - e.appended));
            // Apache's AckRequestProcessor (the leader's own ACK) and
            // SendAckRequestProcessor (a follower's): from the transaction's time
            // (Apache's `Request.logLatency`, which drops what clock skew makes negative).
            if let Some(l) = e
                .txn_ms
                .filter(|_| acks)
                .and_then(|t| u64::try_from(wall_ms - t).ok())
            {
                ack_creation.add(l);
            }
        }
        self.flushing = 0;
    }

    /// The log was cut after `to`: entries above it will never be durable.
    pub(super) fn truncated(&mut self, to: Zxid) {
        while self.pending.back().is_some_and(|e| e.zxid > to) {
            self.pending.pop_back();
        }
        self.flushing = self.flushing.min(self.pending.len());
    }

    /// The log restarted at a snapshot.
    pub(super) fn cleared(&mut self) {
        self.pending.clear();
        self.flushing = 0;
        self.flush_started = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transactions_time_is_read_from_its_header() {
        let mut b = Vec::new();
        b.extend_from_slice(&7i64.to_be_bytes()); // clientId
        b.extend_from_slice(&3i32.to_be_bytes()); // cxid
        b.extend_from_slice(&0x1_0000_0001i64.to_be_bytes()); // zxid
        b.extend_from_slice(&1_700_000_000_123i64.to_be_bytes()); // time
        b.extend_from_slice(&1i32.to_be_bytes()); // type
        assert_eq!(txn_time(&b), Some(1_700_000_000_123));
        assert_eq!(txn_time(&b[..27]), None);
    }

    #[test]
    fn each_entry_is_timed_from_its_append_to_the_sync_that_covers_it() {
        let (log, driver) = (
            Arc::new(LogMetrics::default()),
            Arc::new(DriverMetrics::default()),
        );
        let mut t = LogTimes::new(log.clone(), driver.clone());
        let now_ms = crate::core::now_ms();
        let txn = |ms: i64| {
            let mut b = vec![0u8; 20];
            b.extend_from_slice(&ms.to_be_bytes());
            b.extend_from_slice(&[0; 4]);
            b
        };
        let at = Instant::now();
        t.appended(Zxid(1), &txn(now_ms), at, 0);
        t.appended(Zxid(2), &txn(now_ms), at, 0);
        t.flush_started();
        // Written while the first sync runs: the next batch.
        t.appended(Zxid(3), &txn(now_ms), at, 0);
        t.synced(Zxid(2), true);
        assert_eq!(log.batch_size.get().sum, 2);
        assert_eq!(log.queue_and_flush_time.get().count, 2);
        assert_eq!(driver.proposal_ack_creation_latency.get().count, 2);
        // The queue as each was appended: 1, 2, then 1 besides the batch in the sync.
        let q = log.queue_size.get();
        assert_eq!((q.count, q.sum, q.max), (3, 4, 2));
        t.flush_started();
        t.synced(Zxid(3), false);
        assert_eq!(log.batch_size.get().count, 2);
        assert_eq!(log.queue_time.get().count, 3);
        assert_eq!(log.request_queued.load(Ordering::Relaxed), 3);
        assert_eq!(
            driver.proposal_ack_creation_latency.get().count,
            2,
            "an observer does not acknowledge"
        );
        t.appended(Zxid(4), &txn(now_ms), at, 0);
        t.truncated(Zxid(3));
        t.flush_started();
        t.synced(Zxid(4), true);
        assert_eq!(log.queue_and_flush_time.get().count, 3);
    }
}
