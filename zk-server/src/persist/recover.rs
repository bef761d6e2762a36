//! Recovery at start-up: find the newest snapshot that loads cleanly (older
//! ones are the fallback), replay the log over it, and say precisely why
//! when no snapshot and log combination is complete.
//!
//! ```text
//! recover := open log (a torn last record ends it)
//!            newest snapshot that loads, else older, else the empty tree
//!            replay the log after its zxid, refusing any gap
//!            reach at least every skipped snapshot's zxid
//! ```
//!
//! The replay runs on two threads:
//!
//! ```text
//! helper (log-replay-help):  log records -> crc, zxid chain, decoded Txn -> batches
//!                            of 1,024 (the error that ends the reading last);
//!                            the applying thread's digest work summed, the
//!                            applied transactions dropped
//! this thread:               batches in the log's order -> prefetch, apply (the
//!                            digests' changes written down, `tree/deferred.rs`)
//! ```
//!
//! An ensemble member holds its newest log entries back
//! ([`recover_holding_back`]). Loading one snapshot file is `load.rs`'s;
//! the log itself is `zab-storage`'s.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use bytes::Bytes;
use zab_core::jute::Record;
use zab_core::txn::{Txn, TxnBody};
use zab_core::Zxid;
use zab_storage::{list_snapshots, StorageError, TxnLog};

use super::{load_snapshot, log_dir, log_options, snap_dir, LoadedSnapshot, PersistError};
use crate::config::Config;
use crate::tree::{DataTree, DigestSums, DigestWork, PathPrefetch};

/// What start-up found on disk.
pub struct Recovered {
    pub tree: DataTree,
    pub sessions: HashMap<i64, i32>,
    pub log: TxnLog,
    pub snapshot_zxid: Zxid,
    pub replayed: u64,
    /// ms to load the snapshot, and to replay the log after it (Apache's
    /// `startup_snap_load_time`, `startup_txns_load_time`).
    pub snapshot_load_ms: u64,
    pub replay_ms: u64,
    /// A snapshot was loaded (Apache counts the replay only then).
    pub snapshot_loaded: bool,
    /// The newest log entries, not applied to `tree` (see [`recover_holding_back`]).
    pub held_back: Vec<(Zxid, Bytes)>,
}

fn mkdir(dir: &Path) -> Result<(), PersistError> {
    std::fs::create_dir_all(dir).map_err(|source| PersistError::Dir {
        dir: dir.to_owned(),
        source,
    })
}

/// Apply the log's transactions after `after` to `tree` and `sessions`;
/// returns how many. Refuses a log whose records do not continue from
/// `after` without a gap (see [`zab_storage::LogEntry::prev_zxid`]);
/// `snapshot` names the file `after` came from, for the message.
pub fn replay(
    tree: &mut DataTree,
    sessions: &mut HashMap<i64, i32>,
    log: &TxnLog,
    after: Zxid,
    snapshot: Option<&Path>,
) -> Result<u64, PersistError> {
    replay_upto(tree, sessions, log, after, snapshot, None).map(|s| s.replayed)
}

/// The node a transaction's replay reaches first, if it names one.
fn txn_path(body: &TxnBody) -> Option<&str> {
    match body {
        TxnBody::Create(t) => Some(&t.path),
        TxnBody::CreateContainer(t) => Some(&t.path),
        TxnBody::CreateTtl(t) => Some(&t.path),
        TxnBody::SetData(t) => Some(&t.path),
        TxnBody::SetAcl(t) => Some(&t.path),
        TxnBody::Delete { path } | TxnBody::CheckVersion { path, .. } => Some(path),
        _ => None,
    }
}

/// The log's transactions after `after` (up to `upto` when given), read,
/// checked and decoded in the log's order: each record's crc (again: the
/// segments are mapped, and the open checked them before the replay), the
/// chain of zxids (see [`zab_storage::LogEntry::prev_zxid`]; `snapshot`
/// names the file `after` came from, for the message) and the transaction's
/// grammar. The first error, naming file and offset, is the last item.
struct CheckedTxns<'a> {
    entries: zab_storage::LogIter<'a>,
    after: Zxid,
    snapshot: Option<&'a Path>,
    upto: Option<Zxid>,
    /// How many were checked, and the last one's zxid (the log's continuity).
    checked: u64,
    last: Zxid,
    ended: bool,
}

impl<'a> CheckedTxns<'a> {
    fn new(log: &'a TxnLog, after: Zxid, snapshot: Option<&'a Path>, upto: Option<Zxid>) -> Self {
        CheckedTxns {
            entries: log.iter_from(after.next()),
            after,
            snapshot,
            upto,
            checked: 0,
            last: after,
            ended: false,
        }
    }

    fn check(&mut self, e: zab_storage::LogEntry<'_>) -> Result<Txn, PersistError> {
        let after = self.after;
        let continues = if self.checked == 0 {
            e.prev_zxid <= after
        } else {
            e.prev_zxid == self.last
        };
        if !continues {
            return Err(PersistError::LogGap {
                file: e.file.to_owned(),
                offset: e.offset,
                zxid: e.zxid,
                prev: e.prev_zxid,
                after: match (self.checked, self.snapshot) {
                    (0, Some(f)) => {
                        format!("starts after snapshot {} at zxid {after}", f.display())
                    }
                    (0, None) => format!("starts from an empty tree at zxid {after}"),
                    _ => format!("had reached zxid {}", self.last),
                },
            });
        }
        let txn = Txn::from_bytes(e.txn).map_err(|err| PersistError::TxnDecode {
            file: e.file.to_owned(),
            offset: e.offset,
            zxid: e.zxid,
            why: err.to_string(),
        })?;
        self.last = e.zxid;
        self.checked += 1;
        Ok(txn)
    }
}

impl Iterator for CheckedTxns<'_> {
    type Item = Result<Txn, PersistError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        let item = match self.entries.next() {
            None => None,
            Some(Err(e)) => Some(Err(e.into())),
            Some(Ok(e)) if self.upto.is_some_and(|u| e.zxid > u) => None,
            Some(Ok(e)) => Some(self.check(e)),
        };
        self.ended = !matches!(item, Some(Ok(_)));
        item
    }
}

/// Transactions the helper hands the applying thread at a time (and the
/// applying thread the digests' work of), and how many such batches each
/// channel holds: deep enough that the helper, which needs about half the
/// applying thread's CPU, can run ahead while it has the other core.
const BATCH: usize = 1024;
const BATCHES_AHEAD: usize = 16;

/// What the helper hands the applying thread, in the log's order: checked
/// and decoded transactions, then, in the last batch, the error that ended
/// the reading if one did.
struct Batch {
    /// Boxed: each is moved four or five times on the way to being applied,
    /// 8 bytes instead of a `Txn`'s 152 (the copies were a tenth of the
    /// applying thread's CPU).
    #[allow(clippy::vec_box)]
    txns: Vec<Box<Txn>>,
    error: Option<PersistError>,
}

/// The next batch of `reading`'s items; `None` and `reading` ended once they
/// are all taken (after an error's batch, at once).
fn read_batch(reading: &mut Option<CheckedTxns<'_>>) -> Option<Batch> {
    let checked = reading.as_mut()?;
    let mut txns = Vec::with_capacity(BATCH);
    let mut error = None;
    for item in checked.by_ref() {
        match item {
            Ok(t) => txns.push(Box::new(t)),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
        if txns.len() == BATCH {
            return Some(Batch { txns, error });
        }
    }
    *reading = None;
    (!txns.is_empty() || error.is_some()).then_some(Batch { txns, error })
}

/// The applying thread's side of the helper: [`CheckedTxns`]' items again,
/// in the same order, the last one the error if there was one.
struct Handed {
    rx: std::sync::mpsc::Receiver<Batch>,
    txns: std::vec::IntoIter<Box<Txn>>,
    error: Option<PersistError>,
    /// Wall time spent waiting for the helper.
    waited: std::time::Duration,
}

impl Iterator for Handed {
    type Item = Result<Box<Txn>, PersistError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(t) = self.txns.next() {
                return Some(Ok(t));
            }
            if let Some(e) = self.error.take() {
                return Some(Err(e));
            }
            let started = std::time::Instant::now();
            let batch = self.rx.recv().ok()?;
            self.waited += started.elapsed();
            self.txns = batch.txns.into_iter();
            self.error = batch.error;
        }
    }
}

/// What the applying thread hands the helper after each batch: the digests'
/// work, and the transactions applied, to be dropped where they were
/// allocated (freeing them here took the lock of the helper's malloc arena,
/// which the helper's decoding takes too, for every path and value).
struct Spent {
    work: DigestWork,
    #[allow(clippy::vec_box)]
    txns: Vec<Box<Txn>>,
}

impl Spent {
    /// Sum the work and drop the transactions; returns the work emptied.
    fn sum_into(self, sums: &mut DigestSums) -> DigestWork {
        let Spent { mut work, txns } = self;
        work.sum_into(sums);
        drop(txns);
        work.clear();
        work
    }
}

/// What a replay did, for the log line.
#[derive(Default)]
struct ReplayStats {
    replayed: u64,
    /// The helper's CPU, and the applying thread's wait for its batches.
    helper_cpu: std::time::Duration,
    waited: std::time::Duration,
}

/// The replay's helper thread: reads, checks and decodes the log's
/// transactions into batches for the applying thread, and sums the digests'
/// work the applying thread hands back ([`DataTree::defer_digests`]), that
/// first, as the applying thread waits when its channel is full, handing the
/// emptied work back on `back`. Ends when the applying thread drops its ends
/// of both channels, with the sums.
fn replay_helper(
    mut reading: Option<CheckedTxns<'_>>,
    txns: std::sync::mpsc::SyncSender<Batch>,
    work: std::sync::mpsc::Receiver<Spent>,
    back: std::sync::mpsc::SyncSender<DigestWork>,
) -> (DigestSums, std::time::Duration) {
    use std::sync::mpsc::{TryRecvError, TrySendError};
    let mut txns = Some(txns);
    let mut unsent: Option<Batch> = None;
    let mut sums = DigestSums::default();
    loop {
        match work.try_recv() {
            Ok(spent) => {
                let _ = back.try_send(spent.sum_into(&mut sums));
                continue;
            }
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {}
        }
        if let Some(tx) = &txns {
            match unsent.take().or_else(|| read_batch(&mut reading)) {
                Some(batch) => match tx.try_send(batch) {
                    Ok(()) => continue,
                    Err(TrySendError::Full(batch)) => unsent = Some(batch),
                    // The applying thread stopped reading.
                    Err(TrySendError::Disconnected(_)) => {
                        reading = None;
                        txns = None;
                    }
                },
                // All read: the applying thread sees the end.
                None => txns = None,
            }
        }
        // Nothing to read, or no room for it: wait for the next work (the
        // applying thread hands some over after every batch it applies).
        match work.recv() {
            Ok(spent) => {
                let _ = back.try_send(spent.sum_into(&mut sums));
            }
            Err(_) => break,
        }
    }
    (sums, super::load::thread_cpu())
}

/// [`replay`], stopping after `upto` when given.
///
/// A helper thread ([`replay_helper`], `log-replay-help`) reads, checks and
/// decodes the log's transactions ([`CheckedTxns`]: each record's crc, the
/// chain of zxids, the transaction's grammar) and hands them over in
/// batches, in the log's order, while this thread applies them; and it
/// hashes the digests' changes this thread writes down
/// ([`DataTree::defer_digests`]). The replay runs after the snapshot's load,
/// when the other core would otherwise idle. An error ends the helper's last
/// batch and stops the replay when this thread reaches it, after applying
/// every transaction before it (the tree's digests are summed either way);
/// the caller then drops the tree.
///
/// The transactions are taken [`AHEAD`] of the one applied, so that the
/// nodes each will reach are fetched into the cache in three stages while
/// the ones before it apply ([`DataTree::prefetch_path`]): a replay reaches
/// nodes at random, and each node is a chain of cache misses (index slot,
/// node, record).
fn replay_upto(
    tree: &mut DataTree,
    sessions: &mut HashMap<i64, i32>,
    log: &TxnLog,
    after: Zxid,
    snapshot: Option<&Path>,
    upto: Option<Zxid>,
) -> Result<ReplayStats, PersistError> {
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(BATCHES_AHEAD);
        let (work_tx, work_rx) = std::sync::mpsc::sync_channel::<Spent>(BATCHES_AHEAD);
        // The digests' work handed back, summed and emptied, to be filled again.
        let (back_tx, back_rx) = std::sync::mpsc::sync_channel::<DigestWork>(BATCHES_AHEAD + 1);
        let reading = CheckedTxns::new(log, after, snapshot, upto);
        let helper = std::thread::Builder::new()
            .name("log-replay-help".into())
            .spawn_scoped(scope, move || {
                replay_helper(Some(reading), tx, work_rx, back_tx)
            })
            .expect("spawn log-replay-help");
        tree.defer_digests();
        let mut source = Handed {
            rx,
            txns: Vec::new().into_iter(),
            error: None,
            waited: std::time::Duration::ZERO,
        };
        let applied = apply_all(tree, sessions, &mut source, |tree, txns| {
            // A failed send means the helper panicked: its join says so.
            let empty = back_rx.try_recv().unwrap_or_default();
            let _ = work_tx.send(Spent {
                work: tree.swap_digest_work(empty),
                txns,
            });
        });
        // Stop the helper (its reading too, if an error here ended early).
        let Handed { rx, waited, .. } = source;
        drop(rx);
        drop(work_tx);
        let (sums, helper_cpu) = helper.join().expect("log-replay-help panicked");
        // Also after an error: the tree's digests are whole again either way.
        tree.finish_deferred_digests(sums);
        Ok(ReplayStats {
            replayed: applied?,
            helper_cpu,
            waited,
        })
    })
}

/// Apply `txns` in order to `tree` and `sessions`, prefetching, handing
/// `every_batch` each [`BATCH`] applied. Returns how many were applied, or
/// the first error, after applying every transaction before it.
fn apply_all(
    tree: &mut DataTree,
    sessions: &mut HashMap<i64, i32>,
    txns: &mut impl Iterator<Item = Result<Box<Txn>, PersistError>>,
    mut every_batch: impl FnMut(&mut DataTree, Vec<Box<Txn>>),
) -> Result<u64, PersistError> {
    /// How many transactions ahead of the one applied a node's index slot is
    /// fetched; its node half as many ahead, its record a quarter.
    const AHEAD: usize = 16;
    let mut replayed = 0;
    let mut scratch = Vec::new();
    let mut window: VecDeque<(Box<Txn>, Option<PathPrefetch>)> = VecDeque::with_capacity(AHEAD);
    let mut spent = Vec::with_capacity(BATCH);
    let (mut ended, mut error) = (false, None);
    loop {
        while !ended && window.len() < AHEAD {
            let txn = match txns.next() {
                Some(Ok(txn)) => txn,
                Some(Err(e)) => {
                    // The ones before it still apply.
                    error = Some(e);
                    ended = true;
                    break;
                }
                None => {
                    ended = true;
                    break;
                }
            };
            let prefetch = txn_path(&txn.body).map(|p| tree.prefetch_path(p));
            window.push_back((txn, prefetch));
        }
        let Some((txn, _)) = window.pop_front() else {
            break;
        };
        if let Some((_, Some(p))) = window.get_mut(AHEAD / 2 - 1) {
            tree.prefetch_node(p);
        }
        if let Some((_, Some(p))) = window.get(AHEAD / 4 - 1) {
            tree.prefetch_record(p);
        }
        match &txn.body {
            TxnBody::CreateSession { timeout_ms } => {
                sessions.insert(txn.header.client_id, *timeout_ms);
            }
            TxnBody::CloseSession { .. } => {
                sessions.remove(&txn.header.client_id);
            }
            _ => {}
        }
        tree.apply(&txn, &mut scratch);
        scratch.clear();
        spent.push(txn);
        replayed += 1;
        if spent.len() == BATCH {
            every_batch(
                tree,
                std::mem::replace(&mut spent, Vec::with_capacity(BATCH)),
            );
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok(replayed),
    }
}

/// Give the allocator's free pages back to the kernel once the tree is built.
/// A snapshot's records are allocated on the parser thread, so in its malloc
/// arena, and the log's replay frees the ones it replaces there while it
/// allocates the new values in the main thread's arena: without this, every
/// value replaced during the replay stays resident (14 MB for 100,000
/// setData of 100 bytes), as do the parser's batches. A few milliseconds.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only hands free memory of the allocator's arenas
    // back to the kernel; nothing in use moves.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The snapshot [`load_newest_snapshot`] chose, and what it skipped.
struct NewestSnapshot {
    loaded: Option<LoadedSnapshot>,
    /// Why each newer snapshot was skipped.
    skipped: Vec<String>,
    /// The newest skipped snapshot's zxid: the state must reach at least
    /// that far, as its transactions may be in no other file.
    must_reach: Zxid,
    load_ms: u64,
}

/// Load the newest snapshot in `sdir` that loads cleanly, falling back to
/// older ones (with a warning); an I/O error stops the search.
fn load_newest_snapshot(cfg: &Config, sdir: &Path) -> Result<NewestSnapshot, PersistError> {
    let mut skipped: Vec<String> = Vec::new();
    let mut must_reach = Zxid::ZERO;
    let mut loaded = None;
    let started = std::time::Instant::now();
    for (zxid, file) in list_snapshots(sdir)?.into_iter().rev() {
        match load_snapshot(cfg, &file) {
            Ok(l) => {
                loaded = Some(l);
                break;
            }
            Err(PersistError::Storage(e @ StorageError::Io { .. })) => return Err(e.into()),
            Err(e) => {
                tracing::warn!("skipping a snapshot: {e}; trying an older one");
                skipped.push(e.to_string());
                must_reach = must_reach.max(zxid);
            }
        }
    }
    Ok(NewestSnapshot {
        loaded,
        skipped,
        must_reach,
        load_ms: started.elapsed().as_millis() as u64,
    })
}

/// Load the newest snapshot that loads cleanly and replay the log over it.
///
/// A snapshot that is truncated, fails its crc or digest, or holds a
/// malformed entry is skipped (with a warning) for the next older one, whose
/// replay is longer. Without any usable snapshot the log is replayed over an
/// empty tree, which is complete only if the log starts at the beginning of
/// history. A log that does not continue from the chosen snapshot stops
/// start-up: an older snapshot would need even more of the log.
pub fn recover(cfg: &Config) -> Result<Recovered, PersistError> {
    recover_holding_back(cfg, 0)
}

/// [`recover`], leaving the newest `hold_back` log entries unapplied (in
/// [`Recovered::held_back`]). An ensemble member does this: its newest entries
/// may be proposals that were never committed, which it applies only once the
/// protocol says they are (ZooKeeper instead applies them and reloads its tree
/// when the new leader truncates them).
pub fn recover_holding_back(cfg: &Config, hold_back: usize) -> Result<Recovered, PersistError> {
    let sdir = snap_dir(cfg);
    let ldir = log_dir(cfg);
    super::take_over_apache_files(cfg)?;
    mkdir(&sdir)?;
    mkdir(&ldir)?;
    tracing::info!("recovering from {} and {}", sdir.display(), ldir.display());
    if !cfg.force_sync {
        tracing::warn!(
            "forceSync=no: the log is not synced to disk before writes are acknowledged; \
             a power failure or kernel crash can lose acknowledged writes (unsafe outside tests)"
        );
    }
    // The log is opened (every record's crc checked, its end found) on a
    // thread of its own while the snapshot loads: neither needs the other
    // until the replay. The log's error comes first, as when it was opened
    // first.
    let (log, snapshots) = std::thread::scope(|scope| {
        let log = std::thread::Builder::new()
            .name("log-open".into())
            .spawn_scoped(scope, || TxnLog::open(&ldir, log_options(cfg)))
            .expect("spawn log-open");
        let snapshots = load_newest_snapshot(cfg, &sdir);
        (log.join().expect("log-open panicked"), snapshots)
    });
    let (mut log, info) = log?;
    if let Some((file, offset, why)) = &info.torn_tail {
        tracing::warn!(
            "{}: the last record at byte offset {offset} was torn ({why}); the log ends before it",
            file.display()
        );
    }
    let NewestSnapshot {
        loaded,
        mut skipped,
        must_reach,
        load_ms: snapshot_load_ms,
    } = snapshots?;
    let (mut tree, mut sessions, snapshot_zxid, snapshot_file) = match loaded {
        Some(l) => {
            tracing::info!(
                "loaded snapshot {} at zxid {}: {} nodes",
                l.file.display(),
                l.zxid,
                l.tree.node_count()
            );
            (l.tree, l.sessions, l.zxid, Some(l.file))
        }
        None => (
            DataTree::new(cfg.extended_types_enabled),
            HashMap::new(),
            Zxid::ZERO,
            None,
        ),
    };
    let (replay_started, replay_cpu) = (std::time::Instant::now(), super::load::thread_cpu());
    let upto = if hold_back == 0 {
        None
    } else {
        let zxids: Vec<Zxid> = log
            .iter_from(snapshot_zxid.next())
            .filter_map(|e| e.ok().map(|e| e.zxid))
            .collect();
        Some(if zxids.len() > hold_back {
            zxids[zxids.len() - hold_back - 1]
        } else {
            snapshot_zxid
        })
    };
    let stats = match replay_upto(
        &mut tree,
        &mut sessions,
        &log,
        snapshot_zxid,
        snapshot_file.as_deref(),
        upto,
    ) {
        Ok(s) => s,
        Err(e @ PersistError::LogGap { .. }) if !skipped.is_empty() => {
            skipped.push(e.to_string());
            return Err(PersistError::Incomplete {
                tried: skipped.join("; then "),
            });
        }
        Err(e) => return Err(e),
    };
    let replayed = stats.replayed;
    let replay_ms = replay_started.elapsed().as_millis() as u64;
    let replay_cpu_ms = super::load::thread_cpu()
        .saturating_sub(replay_cpu)
        .as_millis();
    if tree.last_processed_zxid() < must_reach {
        skipped.push(format!(
            "{} reaches only zxid {}",
            match &snapshot_file {
                Some(f) => format!("snapshot {} plus the log", f.display()),
                None => "the log alone".to_owned(),
            },
            tree.last_processed_zxid()
        ));
        return Err(PersistError::Incomplete {
            tried: skipped.join("; then "),
        });
    }
    if log.last_zxid() < snapshot_zxid {
        // The log ends before the snapshot (purged, or a SNAP sync): continue after it.
        log.restart_at(snapshot_zxid)?;
    }
    let mut held_back = Vec::new();
    if let Some(u) = upto {
        for e in log.iter_from(u.next()) {
            let e = e?;
            held_back.push((e.zxid, Bytes::copy_from_slice(e.txn)));
        }
    }
    release_free_memory();
    tracing::info!(
        "recovered to zxid {} ({} transactions replayed after the snapshot in {replay_ms} ms, \
         {replay_cpu_ms} ms of CPU applying (waited {} ms for the helper), \
         the helper {} ms of CPU reading and hashing, {} sessions)",
        tree.last_processed_zxid(),
        replayed,
        stats.waited.as_millis(),
        stats.helper_cpu.as_millis(),
        sessions.len()
    );
    Ok(Recovered {
        tree,
        sessions,
        log,
        snapshot_zxid,
        replayed,
        snapshot_load_ms,
        replay_ms,
        snapshot_loaded: snapshot_file.is_some(),
        held_back,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use zab_core::records::{op, Acl, StatPersisted};
    use zab_core::txn::{CreateTxn, SetDataTxn};
    use zab_storage::{SnapshotWriter, TreeDigest};

    use super::*;
    use crate::persist::testutil::{
        apache_digest_walked, create_txn, downgrade_snapshot_to_v2, txn, workload, Dir,
    };
    use crate::persist::{write_snapshot, FuzzySnapshot, SnapItem};

    fn data_dir() -> Dir {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = Config::parse(
            &format!("dataDir={}\npreAllocSize=64\n", tmp.path().display()),
            "test",
        )
        .unwrap();
        std::fs::create_dir_all(snap_dir(&cfg)).unwrap();
        Dir { _tmp: tmp, cfg }
    }

    /// Creates of /n1 .. /n<count>, zxids 1..=count.
    fn history(count: i64) -> Vec<Txn> {
        (1..=count)
            .map(|z| create_txn(z, &format!("/n{z}")))
            .collect()
    }

    /// Write a snapshot of the tree after `txns`, with `digest` in place of
    /// the right one if given. Returns the file.
    fn snapshot_after(cfg: &Config, txns: &[Txn], digest: Option<u64>) -> PathBuf {
        let mut tree = DataTree::new(false);
        for t in txns {
            tree.apply(t, &mut Vec::new());
        }
        let mut snap = FuzzySnapshot::start(&tree, vec![(9, 4000)]);
        let (tx, rx) = std::sync::mpsc::sync_channel(1 << 16);
        while !snap.done() {
            let mut items = snap.step(&tree, 1000);
            if let (Some(d), Some(SnapItem::Finish { digest })) = (digest, items.last_mut()) {
                *digest = d;
            }
            tx.send(items).unwrap();
        }
        drop(tx);
        write_snapshot(&snap_dir(cfg), snap.zxid, rx).unwrap()
    }

    /// Append `txns` to the log, after a restart at `base` if given.
    fn log_txns(cfg: &Config, base: Option<i64>, txns: &[Txn]) {
        let (mut log, _) = TxnLog::open(log_dir(cfg), log_options(cfg)).unwrap();
        if let Some(b) = base {
            log.restart_at(Zxid(b)).unwrap();
        }
        for t in txns {
            log.append(t.header.zxid, &t.to_bytes()).unwrap();
        }
        log.flush().unwrap();
    }

    fn assert_has_nodes(tree: &DataTree, upto: i64) {
        for z in 1..=upto {
            let n = tree
                .get(&format!("/n{z}"))
                .unwrap_or_else(|| panic!("/n{z} missing"));
            assert_eq!(n.data(), format!("d{z}").as_bytes());
        }
        assert!(tree.get(&format!("/n{}", upto + 1)).is_none());
        assert_eq!(tree.last_processed_zxid(), Zxid(upto));
    }

    #[test]
    fn recovery_replays_the_log_over_the_newest_snapshot() {
        let d = data_dir();
        let h = history(8);
        snapshot_after(&d.cfg, &h[..3], None);
        snapshot_after(&d.cfg, &h[..6], None);
        log_txns(&d.cfg, None, &h);
        let r = recover(&d.cfg).unwrap();
        assert_eq!((r.snapshot_zxid, r.replayed), (Zxid(6), 2));
        assert_has_nodes(&r.tree, 8);
        assert_eq!(r.sessions.get(&9), Some(&4000));
    }

    /// Null data stays null, apart from empty data, through a snapshot and
    /// through the log (as ZooKeeper keeps it: getData answers null).
    #[test]
    fn null_data_survives_a_snapshot_and_the_log() {
        let d = data_dir();
        let create = |z: i64, path: &str, data: Option<&'static [u8]>| {
            txn(
                z,
                op::CREATE,
                TxnBody::Create(CreateTxn {
                    path: path.into(),
                    data: data.map(Bytes::from_static),
                    acl: Acl::open_unsafe(),
                    ephemeral: false,
                    parent_cversion: -1,
                }),
            )
        };
        let set = |z: i64, path: &str, data: Option<&'static [u8]>| {
            txn(
                z,
                op::SET_DATA,
                TxnBody::SetData(SetDataTxn {
                    path: path.into(),
                    data: data.map(Bytes::from_static),
                    version: 1,
                }),
            )
        };
        let h = vec![
            create(1, "/null", None),
            create(2, "/empty", Some(b"")),
            create(3, "/x", Some(b"x")),
            create(4, "/later-null", None),
            set(5, "/x", None),
            set(6, "/later-null", Some(b"")),
        ];
        snapshot_after(&d.cfg, &h[..4], None);
        log_txns(&d.cfg, None, &h);
        let r = recover(&d.cfg).unwrap();
        assert_eq!((r.snapshot_zxid, r.replayed), (Zxid(4), 2));
        for (path, want) in [
            ("/null", None),
            ("/empty", Some(&b""[..])),
            ("/x", None),
            ("/later-null", Some(&b""[..])),
        ] {
            let n = r.tree.get(path).unwrap();
            assert_eq!(n.data_opt(), want, "{path}");
            assert_eq!(n.stat().data_length, 0, "{path}");
        }
    }

    /// A fuzzy snapshot written while the tree changes under it (the seeded
    /// `workload`: 200 transactions, then 5 more between every 3 nodes
    /// written), and the log of every transaction. Returns the live tree
    /// and the snapshot's file.
    fn fuzzy_snapshot_under_writes(cfg: &Config, seed0: u64) -> (DataTree, PathBuf) {
        let mut seed = seed0;
        let mut live = DataTree::new(false);
        let mut log = Vec::new();
        let mut tr = Vec::new();
        let mut zxid = 1;
        let mut next = |live: &mut DataTree, log: &mut Vec<Txn>, seed: &mut u64| {
            let t = workload(live, zxid, seed);
            live.apply(&t, &mut tr);
            log.push(t);
            zxid += 1;
        };
        for _ in 0..200 {
            next(&mut live, &mut log, &mut seed);
        }
        let mut snap = FuzzySnapshot::start(&live, vec![]);
        let (tx, rx) = std::sync::mpsc::sync_channel(1 << 16);
        while !snap.done() {
            tx.send(snap.step(&live, 3)).unwrap();
            for _ in 0..5 {
                next(&mut live, &mut log, &mut seed);
            }
        }
        drop(tx);
        let file = write_snapshot(&snap_dir(cfg), snap.zxid, rx).unwrap();
        log_txns(cfg, None, &log);
        (live, file)
    }

    /// The snapshot carries Apache's digest of the nodes it holds, summed
    /// by the writer, and the load takes it instead of each node's CRC: after
    /// a fuzzy snapshot and the log's replay, the recovered tree's Apache
    /// digest is still exactly the one a walk over every node computes, and
    /// the live tree's.
    #[test]
    fn a_fuzzy_snapshots_apache_digest_is_exact_after_recovery() {
        for seed0 in 1..12u64 {
            let d = data_dir();
            let (live, file) = fuzzy_snapshot_under_writes(&d.cfg, seed0);
            let summary = zab_storage::SnapshotReader::open(&file).unwrap().summary();
            let mut r = zab_storage::SnapshotReader::open(&file).unwrap();
            let mut in_file = 0u64;
            while let Some(e) = r.next_entry().unwrap() {
                if let zab_storage::SnapEntry::Node {
                    path, data, stat, ..
                } = e
                {
                    in_file =
                        in_file.wrapping_add(zab_storage::apache_snapshot::apache_node_digest(
                            path,
                            data.unwrap_or_default(),
                            &stat,
                        ));
                }
            }
            assert_eq!(summary.apache_digest, Some(in_file), "seed {seed0}");
            let r = recover(&d.cfg).unwrap();
            assert!(
                r.replayed > 0,
                "seed {seed0}: the log goes past the snapshot"
            );
            assert_eq!(r.tree.node_count(), live.node_count(), "seed {seed0}");
            assert_eq!(
                r.tree.apache_digest(),
                apache_digest_walked(&r.tree),
                "seed {seed0}: recovered Apache digest drifted"
            );
            assert_eq!(
                apache_digest_walked(&live),
                live.apache_digest(),
                "seed {seed0}: live Apache digest drifted"
            );
            assert_eq!(r.tree.apache_digest(), live.apache_digest(), "seed {seed0}");
            assert_eq!(r.tree.digest(), live.digest(), "seed {seed0}");
        }
    }

    /// A snapshot of version 2 (no Apache digest in its trailer) still loads,
    /// Apache's digest computed node by node as before version 3.
    #[test]
    fn a_version_2_snapshot_without_apaches_digest_still_loads() {
        for seed0 in 1..6u64 {
            let d = data_dir();
            let (live, file) = fuzzy_snapshot_under_writes(&d.cfg, seed0);
            downgrade_snapshot_to_v2(&file);
            let summary = zab_storage::SnapshotReader::open(&file).unwrap().summary();
            assert_eq!(summary.apache_digest, None, "seed {seed0}");
            let r = recover(&d.cfg).unwrap();
            assert_eq!(
                r.snapshot_zxid, summary.zxid,
                "seed {seed0}: loaded, no fallback"
            );
            assert_eq!(
                r.tree.apache_digest(),
                apache_digest_walked(&r.tree),
                "seed {seed0}"
            );
            assert_eq!(r.tree.apache_digest(), live.apache_digest(), "seed {seed0}");
            assert_eq!(r.tree.digest(), live.digest(), "seed {seed0}");
        }
    }

    /// The loader takes Apache's digest from the trailer rather than from the
    /// nodes (what makes it cheap): a file whose `apache_digest` was changed,
    /// with its crc fixed up, loads with the changed digest. The crc is what
    /// guards that field, as it guards the counts.
    #[test]
    fn the_loader_takes_apaches_digest_from_the_trailer() {
        let d = data_dir();
        let (live, file) = fuzzy_snapshot_under_writes(&d.cfg, 3);
        let mut b = std::fs::read(&file).unwrap();
        let n = b.len();
        let at = n - 12..n - 4;
        let stored = u64::from_be_bytes(b[at.clone()].try_into().unwrap());
        b[at].copy_from_slice(&stored.wrapping_add(1).to_be_bytes());
        let crc = crc32fast::hash(&b[..n - 4]);
        b[n - 4..].copy_from_slice(&crc.to_be_bytes());
        std::fs::write(&file, &b).unwrap();
        let r = recover(&d.cfg).unwrap();
        assert_eq!(r.tree.apache_digest(), live.apache_digest().wrapping_add(1));
    }

    #[test]
    fn recovery_refuses_a_log_that_resumes_after_a_gap() {
        let d = data_dir();
        let h = history(9);
        snapshot_after(&d.cfg, &h[..5], None);
        // The log restarts at 7: transactions 6 and 7 are in no file.
        log_txns(&d.cfg, Some(7), &h[7..]);
        let err = recover(&d.cfg).err().expect("a gap must stop recovery");
        let PersistError::LogGap {
            file,
            offset,
            zxid,
            prev,
            ..
        } = &err
        else {
            panic!("expected LogGap, got {err}");
        };
        assert_eq!(
            (*zxid, *prev, *offset),
            (
                Zxid(8),
                Zxid(7),
                zab_storage::record::FILE_HEADER_LEN as u64
            )
        );
        assert_eq!(file, &log_dir(&d.cfg).join("log.8"));
        let msg = err.to_string();
        assert!(msg.contains("snapshot.5") && msg.contains("wipe"), "{msg}");
    }

    #[test]
    fn recovery_refuses_a_log_whose_start_was_purged() {
        let d = data_dir();
        let h = history(10);
        // Two segments; the first (zxids 1..=5) is lost.
        log_txns(&d.cfg, None, &h[..5]);
        let (mut log, _) = TxnLog::open(log_dir(&d.cfg), log_options(&d.cfg)).unwrap();
        log.roll().unwrap();
        for t in &h[5..] {
            log.append(t.header.zxid, &t.to_bytes()).unwrap();
        }
        log.flush().unwrap();
        drop(log);
        std::fs::remove_file(log_dir(&d.cfg).join("log.1")).unwrap();
        // With no snapshot at all, the replay would start from an empty tree.
        let err = recover(&d.cfg).err().expect("a gap must stop recovery");
        assert!(
            matches!(
                err,
                PersistError::LogGap {
                    zxid: Zxid(6),
                    prev: Zxid(5),
                    ..
                }
            ),
            "{err}"
        );
        // A snapshot at 5 bridges it.
        snapshot_after(&d.cfg, &h[..5], None);
        assert_has_nodes(&recover(&d.cfg).unwrap().tree, 10);
    }

    /// The crc is checked on a thread of its own while the entries are
    /// parsed (`load.rs`): a damaged byte is still reported as the crc
    /// mismatch it is, naming the file, whether it breaks an entry's grammar
    /// (the first entry's tag) or only changes a node (its data: a digest
    /// mismatch too), and recovery falls back to the older snapshot.
    #[test]
    fn a_damaged_snapshot_is_reported_as_its_crc_mismatch() {
        let d = data_dir();
        let h = history(8);
        snapshot_after(&d.cfg, &h[..3], None);
        let file = snapshot_after(&d.cfg, &h[..6], None);
        let good = std::fs::read(&file).unwrap();
        let data_at = good.windows(2).position(|w| w == b"d5").unwrap();
        for at in [16, data_at] {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            std::fs::write(&file, &bad).unwrap();
            match load_snapshot(&d.cfg, &file) {
                Err(PersistError::Storage(StorageError::SnapshotChecksumMismatch {
                    file: f,
                    ..
                })) => assert_eq!(f, file),
                Err(e) => panic!("byte {at}: {e}"),
                Ok(_) => panic!("byte {at}: a damaged snapshot loaded"),
            }
        }
        log_txns(&d.cfg, None, &h);
        let r = recover(&d.cfg).unwrap();
        assert_eq!((r.snapshot_zxid, r.replayed), (Zxid(3), 5));
        assert_has_nodes(&r.tree, 8);
    }

    #[test]
    fn a_newest_snapshot_with_a_bad_digest_falls_back_to_the_previous_one() {
        let d = data_dir();
        let h = history(8);
        snapshot_after(&d.cfg, &h[..3], None);
        snapshot_after(&d.cfg, &h[..6], Some(12345));
        log_txns(&d.cfg, None, &h);
        let r = recover(&d.cfg).unwrap();
        assert_eq!((r.snapshot_zxid, r.replayed), (Zxid(3), 5));
        assert_has_nodes(&r.tree, 8);
    }

    #[test]
    fn a_newest_snapshot_with_an_orphan_node_falls_back_to_the_previous_one() {
        let d = data_dir();
        let h = history(8);
        snapshot_after(&d.cfg, &h[..3], None);
        // A well-formed file (crc and digest right) whose node has no parent.
        let mut w = SnapshotWriter::create(snap_dir(&d.cfg), Zxid(6)).unwrap();
        let stat = StatPersisted::default();
        w.write_acl(1, &Acl::open_unsafe()).unwrap();
        w.write_node("/", Some(b""), 1, &stat).unwrap();
        w.write_node("/a/b", Some(b"x"), 1, &stat).unwrap();
        let mut dg = TreeDigest::new();
        dg.add("/", b"", &stat);
        dg.add("/a/b", b"x", &stat);
        w.finish(dg.value()).unwrap();
        log_txns(&d.cfg, None, &h);
        let r = recover(&d.cfg).unwrap();
        assert_eq!(r.snapshot_zxid, Zxid(3));
        assert_has_nodes(&r.tree, 8);
    }

    /// The builder fails on the second node while the parser has 50,000
    /// more to hand it, far more than the channel between them holds: the
    /// builder takes the remaining batches (their digest is still checked),
    /// so the parser never waits on a full channel and the load ends in the
    /// error, which falls back to the previous snapshot.
    #[test]
    fn an_orphan_node_early_in_a_large_snapshot_ends_the_load_in_its_error() {
        let d = data_dir();
        let h = history(8);
        snapshot_after(&d.cfg, &h[..3], None);
        let mut w = SnapshotWriter::create(snap_dir(&d.cfg), Zxid(6)).unwrap();
        let stat = StatPersisted::default();
        let mut dg = TreeDigest::new();
        w.write_acl(1, &Acl::open_unsafe()).unwrap();
        let mut node = |w: &mut SnapshotWriter, path: &str| {
            w.write_node(path, Some(b"x"), 1, &stat).unwrap();
            dg.add(path, b"x", &stat);
        };
        node(&mut w, "/");
        node(&mut w, "/a/b");
        for i in 0..50_000 {
            node(&mut w, &format!("/n{i}"));
        }
        w.finish(dg.value()).unwrap();
        log_txns(&d.cfg, None, &h);
        let r = recover(&d.cfg).unwrap();
        assert_eq!(r.snapshot_zxid, Zxid(3));
        assert_has_nodes(&r.tree, 8);
    }

    #[test]
    fn recovery_refuses_when_no_snapshot_and_log_combination_is_complete() {
        let d = data_dir();
        let h = history(8);
        snapshot_after(&d.cfg, &h[..6], Some(1));
        // The log starts after 4: only the broken snapshot could bridge it.
        log_txns(&d.cfg, Some(4), &h[4..]);
        let err = recover(&d.cfg).err().expect("must refuse");
        let msg = err.to_string();
        assert!(matches!(err, PersistError::Incomplete { .. }), "{msg}");
        assert!(
            msg.contains("snapshot.6") && msg.contains("digest") && msg.contains("log.5"),
            "{msg}"
        );
    }

    #[test]
    fn recovery_refuses_to_fall_back_to_less_than_a_skipped_snapshot_held() {
        let d = data_dir();
        let h = history(8);
        snapshot_after(&d.cfg, &h[..3], None);
        snapshot_after(&d.cfg, &h[..8], Some(7));
        // The log ends at 5: transactions 6..=8 were only in the broken snapshot.
        log_txns(&d.cfg, None, &h[..5]);
        let err = recover(&d.cfg).err().expect("must refuse");
        let msg = err.to_string();
        assert!(matches!(err, PersistError::Incomplete { .. }), "{msg}");
        assert!(
            msg.contains("snapshot.8") && msg.contains("reaches only zxid 0x5"),
            "{msg}"
        );
        // With no log at all, not even the empty tree will do.
        let d = data_dir();
        snapshot_after(&d.cfg, &h[..2], Some(7));
        let err = recover(&d.cfg).err().expect("must refuse");
        assert!(
            err.to_string()
                .contains("the log alone reaches only zxid 0x0"),
            "{err}"
        );
    }

    /// The replay's helper thread hands the transactions over in batches of
    /// [`BATCH`]: a transaction that does not decode, or a gap, in the middle
    /// of a later batch is still reported as itself, naming its file, offset
    /// and zxid, and the replay stops there, after applying every transaction
    /// before it (the applying thread used to stop up to 16 short), with the
    /// tree's digests and digest log those of applying them directly (the
    /// helper hashed them).
    #[test]
    fn an_error_in_the_middle_of_a_handed_over_batch_stops_the_replay_there() {
        let n = 2 * BATCH as i64 + 100;
        let h = history(n + 5);
        let mut direct = DataTree::new(false);
        for t in &h[..n as usize] {
            direct.apply(t, &mut Vec::new());
        }
        for gap in [false, true] {
            let d = data_dir();
            let (mut log, _) = TxnLog::open(log_dir(&d.cfg), log_options(&d.cfg)).unwrap();
            for t in &h[..n as usize] {
                log.append(t.header.zxid, &t.to_bytes()).unwrap();
            }
            if gap {
                // Transaction n + 1 is in no file.
                log.restart_at(Zxid(n + 1)).unwrap();
            } else {
                log.append(Zxid(n + 1), b"not a transaction").unwrap();
            }
            for t in &h[n as usize + 1..] {
                log.append(t.header.zxid, &t.to_bytes()).unwrap();
            }
            log.flush().unwrap();
            drop(log);
            let (log, _) = TxnLog::open(log_dir(&d.cfg), log_options(&d.cfg)).unwrap();
            // Where the record in error is (the log has rolled to several files).
            let bad = log.iter_from(Zxid(n + 1)).next().unwrap().unwrap();
            let (bad_file, bad_offset) = (bad.file.to_owned(), bad.offset);
            let mut tree = DataTree::new(false);
            let err = replay(&mut tree, &mut HashMap::new(), &log, Zxid::ZERO, None)
                .expect_err("must refuse");
            match (&err, gap) {
                (
                    PersistError::TxnDecode {
                        file,
                        offset: at,
                        zxid,
                        ..
                    },
                    false,
                ) => {
                    assert_eq!((*zxid, *at, file), (Zxid(n + 1), bad_offset, &bad_file));
                }
                (
                    PersistError::LogGap {
                        file,
                        offset: at,
                        zxid,
                        prev,
                        ..
                    },
                    true,
                ) => {
                    assert_eq!(
                        (*zxid, *prev, *at, file),
                        (Zxid(n + 2), Zxid(n + 1), bad_offset, &bad_file)
                    );
                }
                _ => panic!("gap {gap}: {err}"),
            }
            assert_eq!(tree.last_processed_zxid(), Zxid(n), "gap {gap}");
            assert_eq!(tree.node_count(), direct.node_count(), "gap {gap}");
            assert_eq!(tree.digest(), direct.digest(), "gap {gap}");
            assert_eq!(tree.apache_digest(), direct.apache_digest(), "gap {gap}");
            assert!(tree.digest_log().eq(direct.digest_log()), "gap {gap}");
        }
    }

    #[test]
    fn an_undecodable_transaction_is_reported_with_its_file_and_offset() {
        let d = data_dir();
        let h = history(3);
        let (mut log, _) = TxnLog::open(log_dir(&d.cfg), log_options(&d.cfg)).unwrap();
        log.append(Zxid(1), &h[0].to_bytes()).unwrap();
        log.append(Zxid(2), b"not a transaction").unwrap();
        log.flush().unwrap();
        drop(log);
        let err = recover(&d.cfg).err().expect("must refuse");
        let want = (zab_storage::record::FILE_HEADER_LEN
            + zab_storage::record::record_len(h[0].to_bytes().len())) as u64;
        assert!(
            matches!(&err, PersistError::TxnDecode { offset, zxid: Zxid(2), file, .. }
                if *offset == want && file.ends_with("log.1")),
            "{err}"
        );
        assert!(err.to_string().contains(&format!("byte offset {want}")));
    }
}
