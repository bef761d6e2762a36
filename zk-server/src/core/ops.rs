//! What an operator asks of the core besides figures: a snapshot now (ClickHouse
//! Keeper's `csnp`), a leader's hand-over (`ydld`) and a restore from a backup
//! (Apache 3.9's `restore` admin command). The HTTP and four-letter-word sides are
//! `crate::admin::ops` and `crate::fourlw`; this module only changes the core's state.
//!
//! A restore replaces the tree as Apache's `ZooKeeperServer.restoreFromSnapshot`
//! does (a new database, a new session table from the snapshot's sessions), and
//! then, unlike Apache's, makes it durable: the restored tree is written as our
//! own snapshot named by a zxid no older than any transaction in the log (a
//! standalone server's log then continues after it in a new segment), so a restart
//! recovers the restored state instead of the one it replaced. Apache's guide asks
//! the operator to move the data directories away first for the same reason.

use zab_core::Zxid;

use super::{Core, Role};
use crate::persist::{load_db, write_tree_snapshot};
use crate::prep::Prep;
use crate::watch::WatchManager;

use super::session::Session;

impl Core {
    /// `csnp`: start a fuzzy snapshot now; its zxid, or `None` when one is already
    /// being written or the server keeps no data directory.
    pub(super) fn take_snapshot_now(&mut self) -> Option<Zxid> {
        if self.snapshots.running() || self.cfg.data_dir.as_os_str().is_empty() {
            return None;
        }
        Some(self.start_snapshot())
    }

    /// `ydld`: ask the driver to hand leadership over, if this server leads; the
    /// others elect a leader among those as up to date as this one (for twice
    /// `syncLimit`, after which this server stands again). Client connections close
    /// as on any change of role; writes a quorum acknowledged survive on it.
    pub(super) fn yield_leadership(&mut self) -> bool {
        if self.role() != Role::Leading {
            return false;
        }
        let Some(d) = self.role.driver() else {
            return false;
        };
        let yield_ms = 2 * self.cfg.sync_limit as u64 * self.cfg.tick_time_ms as u64;
        d.send(crate::replicate::DriverMsg::YieldLeadership {
            yield_ms: yield_ms.max(1000),
        });
        true
    }

    /// Replace the tree and the sessions by Apache's serialized database `body`
    /// (checked by the caller: seals and digest), with no write in flight and no
    /// snapshot being written. Standalone, the restored tree is known by the newer of
    /// the backup's zxid and the last one this server issued, so that later
    /// transactions keep increasing. An ensemble member restores locally, as Apache's
    /// does: every member must restore the same backup, with client traffic blocked;
    /// the tree keeps the zxid this member had applied (the ensemble's zxids go on
    /// from the leader's), and transactions committed later apply on top of it.
    pub(super) fn restore(&mut self, body: &[u8], backup_zxid: Zxid) -> Result<Zxid, String> {
        let standalone = self.role() == Role::Standalone;
        if !self.role().serving() {
            return Err("this server is not serving (no quorum)".into());
        }
        if !self.in_flight.is_empty() {
            return Err(format!(
                "{} writes are in flight; block client traffic first and retry",
                self.in_flight.len()
            ));
        }
        if self.snapshots.running() {
            return Err("a snapshot is being written; retry when it is done".into());
        }
        let zxid = if standalone {
            backup_zxid.max(self.last_zxid)
        } else {
            self.tree.last_processed_zxid()
        };
        let max_field = self.cfg.jute_max_buffer + (1 << 16);
        let (tree, sessions) = load_db(body, self.extended_types, zxid, max_field)?;
        tracing::info!(
            "restore: replacing the tree at zxid {} ({} nodes, {} sessions) by the backup's at {backup_zxid} ({} nodes, {} sessions)",
            self.tree.last_processed_zxid(),
            self.tree.node_count(),
            self.sessions.len(),
            tree.node_count(),
            sessions.len()
        );
        // Every client reconnects and finds the restored state; nothing half-done
        // (queued requests, watches on the old tree) survives.
        let conns: Vec<u64> = self.conns.keys().copied().collect();
        for c in conns {
            self.close_conn(c);
        }
        self.tree = tree;
        // The backup's /zookeeper/config is another server's: ours is this membership.
        self.init_config();
        self.watches = WatchManager::default();
        self.prep = Prep::new(self.cfg.digest_enabled());
        if standalone {
            self.last_zxid = zxid;
        }
        let now = self.now;
        self.held_reads = 0;
        self.pending_sessions.clear();
        self.sessions = sessions
            .iter()
            .map(|(id, timeout_ms)| (*id, Session::restored(*id, *timeout_ms, now)))
            .collect();
        if !self.cfg.data_dir.as_os_str().is_empty() {
            let mut list: Vec<(i64, i32)> = sessions.into_iter().collect();
            list.sort();
            let dir = crate::persist::snap_dir(&self.cfg);
            let f = write_tree_snapshot(&dir, &self.tree, list)
                .map_err(|e| format!("the restored tree could not be written: {e}"))?;
            tracing::info!("restore: the restored tree is {}", f.display());
        }
        // The snapshot first, then the log goes on after it (as after a SNAP): a crash
        // between the two leaves a log that ends before the snapshot, which start-up
        // continues after the snapshot.
        if standalone {
            self.replicator.restart_log_at(zxid);
        }
        Ok(zxid)
    }
}
