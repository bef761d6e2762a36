//! Replicas checked against the digest their transactions carry (Apache's
//! `DataTree.compareDigest`, `zookeeper.digest.enabled`).
//!
//! A leader attaches to each proposal Apache's digest of the tree as it will be
//! once that transaction applies (`prep::Prep::txn_digest`); every server, after
//! applying a committed transaction, compares its own tree's digest
//! (`DataTree::apache_digest`) with the one the transaction carries. A
//! mismatch is logged and counted (`digest_mismatches_count`); it changes
//! nothing that was applied: it says that replicas diverged, not which is right.
//!
//! No comparison when digests are off, when the transaction carries none, when
//! it carries another digest version, or inside the window after a snapshot
//! load where the tree may not yet be any state a transaction names (Apache's
//! `digestFromLoadedSnapshot`). Apache opens that window at the zxid its
//! snapshot's digest was taken; our snapshots are fuzzy and name no such zxid,
//! so after recovery the window runs through the last transaction in the log
//! (the newest entries are applied after start-up, when they commit), by which
//! the replay has covered whatever the snapshot caught. A tree received whole
//! from a leader (SNAP) is exactly the state its zxid names: no window.

use zab_core::txn::Txn;
use zab_core::Zxid;

use crate::tree::APACHE_DIGEST_VERSION;

/// What [`DigestCheck::check`] did with one transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compared {
    /// Digests off, or the transaction carries none.
    NoDigest,
    /// Inside the window after a snapshot load.
    Window,
    /// A digest of another version (`DigestCalculator.DIGEST_VERSION`).
    OtherVersion,
    Match,
    Mismatch,
}

#[derive(Debug)]
pub struct DigestCheck {
    enabled: bool,
    /// No comparison for transactions at or below this zxid.
    window: Option<Zxid>,
    /// Transactions whose digest was compared, and how many disagreed.
    pub compared: u64,
    pub mismatches: u64,
}

impl DigestCheck {
    pub fn new(enabled: bool) -> DigestCheck {
        DigestCheck {
            enabled,
            window: None,
            compared: 0,
            mismatches: 0,
        }
    }

    /// Compare nothing at or below `zxid`.
    pub fn skip_through(&mut self, zxid: Zxid) {
        self.window = Some(self.window.map_or(zxid, |w| w.max(zxid)));
    }

    /// The tree is exactly the state its last zxid names (a SNAP): compare from
    /// the next transaction.
    pub fn close_window(&mut self) {
        self.window = None;
    }

    /// After `txn` applied, with `actual` the tree's Apache digest now.
    pub fn check(&mut self, txn: &Txn, actual: u64) -> Compared {
        let Some(d) = txn.digest.filter(|_| self.enabled) else {
            return Compared::NoDigest;
        };
        let zxid = txn.header.zxid;
        if let Some(w) = self.window {
            if zxid <= w {
                return Compared::Window;
            }
            self.window = None;
        }
        if d.version != APACHE_DIGEST_VERSION {
            tracing::debug!(
                "transaction {zxid} carries a digest of version {}, ours is {APACHE_DIGEST_VERSION}: not compared",
                d.version
            );
            return Compared::OtherVersion;
        }
        self.compared += 1;
        let expected = d.tree_digest as u64;
        if expected == actual {
            if self.compared == 1 {
                tracing::info!(
                    "digest check: transaction {zxid} is the first compared, and matches"
                );
            }
            return Compared::Match;
        }
        self.mismatches += 1;
        // Apache logs the first mismatch in full and the others rate-limited.
        if self.mismatches == 1 || self.mismatches.is_power_of_two() {
            tracing::error!(
                "digest mismatch after transaction {zxid} (type {}): it carries {expected:#x}, this tree's digest is {actual:#x} ({} mismatches so far)",
                txn.header.txn_type,
                self.mismatches
            );
        }
        Compared::Mismatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zab_core::txn::{TxnBody, TxnDigest, TxnHeader};

    fn txn(zxid: i64, digest: Option<(i32, u64)>) -> Txn {
        Txn {
            header: TxnHeader {
                client_id: 1,
                cxid: 1,
                zxid: Zxid(zxid),
                time: 0,
                txn_type: zab_core::proto::op::CREATE_SESSION,
            },
            body: TxnBody::CreateSession { timeout_ms: 30000 },
            digest: digest.map(|(version, d)| TxnDigest {
                version,
                tree_digest: d as i64,
            }),
        }
    }

    #[test]
    fn a_matching_digest_is_compared_and_a_wrong_one_counted() {
        let mut c = DigestCheck::new(true);
        assert_eq!(c.check(&txn(1, Some((2, 7))), 7), Compared::Match);
        assert_eq!(c.check(&txn(2, Some((2, 8))), 7), Compared::Mismatch);
        assert_eq!((c.compared, c.mismatches), (2, 1));
        assert_eq!(c.check(&txn(3, None), 7), Compared::NoDigest);
        assert_eq!((c.compared, c.mismatches), (2, 1));
    }

    #[test]
    fn another_digest_version_is_not_compared() {
        let mut c = DigestCheck::new(true);
        assert_eq!(c.check(&txn(1, Some((1, 8))), 7), Compared::OtherVersion);
        assert_eq!(c.check(&txn(2, Some((3, 8))), 7), Compared::OtherVersion);
        assert_eq!((c.compared, c.mismatches), (0, 0));
    }

    #[test]
    fn nothing_is_compared_through_the_window() {
        let mut c = DigestCheck::new(true);
        c.skip_through(Zxid(5));
        assert_eq!(c.check(&txn(4, Some((2, 8))), 7), Compared::Window);
        assert_eq!(c.check(&txn(5, Some((2, 8))), 7), Compared::Window);
        assert_eq!(c.check(&txn(6, Some((2, 8))), 7), Compared::Mismatch);
        // Closed for good once past it.
        assert_eq!(c.check(&txn(3, Some((2, 8))), 7), Compared::Mismatch);
        assert_eq!((c.compared, c.mismatches), (2, 2));
    }

    #[test]
    fn with_digests_off_nothing_is_compared() {
        let mut c = DigestCheck::new(false);
        assert_eq!(c.check(&txn(1, Some((2, 8))), 7), Compared::NoDigest);
        assert_eq!((c.compared, c.mismatches), (0, 0));
    }
}
