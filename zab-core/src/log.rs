//! The in-memory window of the transaction log.
//!
//! Owns what the core remembers of the log: the entries after `base` (a snapshot point
//! or the last trimmed entry), how far they are durable and how far committed, and the
//! trimming of committed entries beyond `window` (ZooKeeper's `commitLogCount`). The log
//! on disk is the driver's (`Action::Append`, `Truncate`, `InstallSnapshot`); this copy
//! serves DIFFs, ACKs and COMMITs.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::Zxid;

/// `Log::durable` after a snapshot was installed and before its `Persisted`.
const NOTHING_DURABLE: Zxid = Zxid(-1);

/// The in-memory window of the transaction log.
#[derive(Debug, Clone)]
pub(crate) struct Log {
    /// The zxid just before `entries` (a snapshot point or a trimmed entry).
    pub base: Zxid,
    pub entries: VecDeque<(Zxid, Bytes)>,
    pub durable: Zxid,
    pub committed: Zxid,
    pub window: usize,
}

impl Log {
    pub fn last(&self) -> Zxid {
        self.entries.back().map(|e| e.0).unwrap_or(self.base)
    }

    /// Index of the first entry above `z`.
    pub fn index_after(&self, z: Zxid) -> usize {
        // Hot (every ACK and COMMIT). Within the newest entry's epoch the counters are
        // consecutive (the leader numbers them so, learners check it), so the position is
        // arithmetic; it is verified against the entry found, else: binary search.
        if let Some(&(last, _)) = self.entries.back() {
            if z >= last {
                return self.entries.len();
            }
            if z.epoch() == last.epoch() {
                let after = (last.counter() - z.counter()) as usize;
                if after < self.entries.len() {
                    let i = self.entries.len() - after;
                    if self.entries[i - 1].0 == z {
                        return i;
                    }
                }
            }
        }
        self.entries.partition_point(|e| e.0 <= z)
    }

    pub fn contains(&self, z: Zxid) -> bool {
        z == self.base || self.entries.binary_search_by_key(&z, |e| e.0).is_ok()
    }

    /// The largest zxid held below `z` (`base` at worst).
    pub fn prev(&self, z: Zxid) -> Zxid {
        let i = self.entries.partition_point(|e| e.0 < z);
        if i == 0 {
            self.base
        } else {
            self.entries[i - 1].0
        }
    }

    pub fn append(&mut self, z: Zxid, data: Bytes) {
        assert!(
            z > self.last(),
            "log append out of order: {z} after {}",
            self.last()
        );
        self.entries.push_back((z, data));
    }

    pub fn truncate(&mut self, to: Zxid) {
        assert!(
            to >= self.committed,
            "truncating committed history: to {to}, committed {}",
            self.committed
        );
        let i = self.index_after(to);
        self.entries.truncate(i);
        if to < self.base {
            self.base = to;
        }
        self.durable = self.durable.min(to);
    }

    pub fn reset_to_snapshot(&mut self, z: Zxid) {
        self.entries.clear();
        self.base = z;
        self.committed = z;
        // Nothing of the new state is durable until the driver says so, not even an
        // empty snapshot at zxid 0: below every zxid.
        self.durable = NOTHING_DURABLE;
    }

    pub fn on_persisted(&mut self, upto: Zxid) {
        self.durable = self.durable.max(upto.min(self.last()));
    }

    /// Forget committed entries beyond the window.
    pub fn trim(&mut self) {
        while self.entries.len() > self.window {
            match self.entries.front() {
                Some((z, _)) if *z <= self.committed => {
                    self.base = *z;
                    self.entries.pop_front();
                }
                _ => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Epoch;
    use proptest::prelude::*;

    proptest! {
        /// The arithmetic shortcut of `index_after` agrees with a binary search, gaps and
        /// epoch changes included.
        #[test]
        fn index_after_agrees_with_binary_search(
            steps in proptest::collection::vec((0u8..4, 1u32..3), 0..40),
            probe_epoch in 0u64..6,
            probe_counter in 0u32..50,
        ) {
            let mut entries = VecDeque::new();
            let (mut e, mut c) = (1u64, 0u32);
            for (bump, gap) in steps {
                if bump == 0 {
                    e += 1;
                    c = 0;
                }
                c += gap;
                entries.push_back((Zxid::new(Epoch(e), c), Bytes::new()));
            }
            let log = Log { base: Zxid::ZERO, entries, durable: Zxid::ZERO, committed: Zxid::ZERO, window: 1000 };
            let z = Zxid::new(Epoch(probe_epoch), probe_counter);
            prop_assert_eq!(log.index_after(z), log.entries.partition_point(|x| x.0 <= z));
            for (x, _) in log.entries.iter() {
                prop_assert_eq!(log.index_after(*x), log.entries.partition_point(|y| y.0 <= *x));
            }
        }
    }
}
