//! Fuzzy snapshots taken while requests keep flowing (a slice of the tree per
//! turn of the core's loop, written by a thread of its own), the tree in Apache's
//! serialization for a learner's SNAP, and autopurge.

use super::Core;
use crate::persist::{write_snapshot, FuzzySnapshot, SnapshotJob};

/// The snapshot in progress and when to take the next.
pub(super) struct Snapshots {
    txns_since_snapshot: u64,
    job: Option<SnapshotJob>,
    /// When the snapshot in progress started (`snapshottime`).
    started: Option<std::time::Instant>,
    /// Spreads snapshot times (ZooKeeper's randomised snapCount), seeded per process.
    rng: u64,
}

impl Snapshots {
    pub fn new(server_id: u64) -> Snapshots {
        let rng = (super::now_ms() as u64) ^ (server_id << 32) ^ 0x9e37_79b9_7f4a_7c15;
        Snapshots {
            txns_since_snapshot: 0,
            job: None,
            started: None,
            rng,
        }
    }

    /// A snapshot is being written.
    pub fn running(&self) -> bool {
        self.job.is_some()
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: seeded once per process; only spreads snapshot times.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

impl Core {
    /// After each applied transaction: maybe start a snapshot.
    pub(super) fn maybe_snapshot(&mut self) {
        self.snapshots.txns_since_snapshot += 1;
        if self.snapshots.job.is_some() || self.cfg.data_dir.as_os_str().is_empty() {
            return;
        }
        let r = self.snapshots.next_random();
        if !zab_storage::should_snapshot(self.snapshots.txns_since_snapshot, self.cfg.snap_count, r)
        {
            return;
        }
        self.start_snapshot();
    }

    /// Start a fuzzy snapshot at the tree's last applied zxid (the caller checked that
    /// none is running and that there is a data directory); its zxid.
    pub(super) fn start_snapshot(&mut self) -> zab_core::Zxid {
        self.snapshots.txns_since_snapshot = 0;
        let sessions = self
            .sessions
            .iter()
            // Local sessions are no part of the database.
            .filter(|(_, s)| !s.local)
            .map(|(id, s)| (*id, s.timeout_ms))
            .collect();
        let snap = FuzzySnapshot::start(&self.tree, sessions);
        let zxid = snap.zxid;
        // The next transactions go to a new log segment.
        self.replicator.roll_log();
        let (tx, rx) = std::sync::mpsc::sync_channel(64);
        let dir = crate::persist::snap_dir(&self.cfg);
        std::thread::Builder::new()
            .name("snapshot".into())
            .spawn(move || match write_snapshot(&dir, zxid, rx) {
                Ok(p) => tracing::info!("snapshot {} written", p.display()),
                Err(e) => tracing::error!("snapshot at {zxid} failed: {e}"),
            })
            .expect("spawn snapshot thread");
        tracing::info!("taking a snapshot at zxid {zxid}");
        self.snapshots.started = Some(self.now);
        self.snapshots.job = Some(SnapshotJob {
            snap,
            tx,
            pending: None,
        });
        zxid
    }

    /// Capture another slice of the tree for the snapshot in progress and
    /// hand it to the writer, one slice per turn so requests keep flowing.
    pub(super) fn snapshot_step(&mut self) {
        let Some(job) = self.snapshots.job.as_mut() else {
            return;
        };
        let batch = match job.pending.take() {
            Some(b) => b,
            None => job.snap.step(&self.tree, 2048),
        };
        match job.tx.try_send(batch) {
            Ok(()) if job.snap.done() => {
                self.snapshots.job = None;
                if let Some(t) = self.snapshots.started.take() {
                    let ms = self.now.saturating_duration_since(t).as_millis() as u64;
                    self.metrics.snapshot_time.add(ms);
                }
            }
            Ok(()) => {}
            Err(std::sync::mpsc::TrySendError::Full(b)) => job.pending = Some(b),
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                tracing::error!("snapshot writer stopped; abandoning the snapshot");
                self.snapshots.job = None;
            }
        }
    }

    pub(super) fn autopurge(&mut self) {
        let sdir = crate::persist::snap_dir(&self.cfg);
        let ldir = crate::persist::log_dir(&self.cfg);
        let keep = self.cfg.autopurge_snap_retain_count.max(3) as usize;
        tokio::task::spawn_blocking(move || match zab_storage::purge(&sdir, &ldir, keep) {
            Ok(p) => tracing::info!("autopurge: {p:?}"),
            Err(e) => tracing::warn!("autopurge failed: {e}"),
        });
    }

    /// The whole tree and the sessions as Apache ZooKeeper serializes its database, for a
    /// SNAP sync (`ZKDatabase.serializeSnapshot`; the codec adds the signature). Taken on
    /// the core's task, so it is exactly the state at the tree's last applied zxid.
    pub(super) fn serialize_tree(&self) -> Vec<u8> {
        let sessions: Vec<(i64, i32)> = self
            .sessions
            .iter()
            // Local sessions are no part of the database.
            .filter(|(_, s)| !s.local)
            .map(|(id, s)| (*id, s.timeout_ms))
            .collect();
        crate::persist::serialize_db(&self.tree, &sessions)
    }
}
