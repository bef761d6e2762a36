//! Apache ZooKeeper's data directories: taking one over at start-up
//! ([`take_over_apache_files`]) and handing ours back ([`export_apache_snapshot`]).
//! The file formats are `zab_storage::apache_log` / `apache_snapshot`'s; the database
//! body is `zkdb.rs`'s. docs/decisions/0004-apache-data-files.md says why it works
//! this way.
//!
//! ```text
//! take over := Apache's files in version-2 (dataDir, and dataLogDir's if apart)?
//!              newest Apache snapshot that checks out (older ones the fallback)
//!              -> our snapshot at its zxid            in version-2.converting
//!              Apache's log after that zxid -> our log in (dataLogDir's) version-2.converting
//!              acceptedEpoch, currentEpoch copied
//!              marker CONVERTED written (fsynced)     <- the commit point
//!              version-2 -> version-2.apache, version-2.converting -> version-2
//!              (dataDir's first, then dataLogDir's), marker removed
//! export    := our recovered state -> Apache's snapshot.<zxid> in version-2.export,
//!              epoch files copied, marker EXPORTED, then
//!              version-2 -> version-2.ours, version-2.export -> version-2
//! ```
//!
//! Before the marker, the originals are untouched and the staging directories are
//! thrown away at the next attempt; after it, whoever runs next (start-up, or the
//! export command again) finishes the renames. Nothing is deleted: the originals stay
//! beside the new files under `version-2.apache` / `version-2.ours`.
//!
//! The conversion is a change of format only: Apache's log records become our log
//! records byte for byte, so replay, hold-back of an ensemble member's newest entries,
//! gaps and the rest stay `recover.rs`'s.

use std::path::{Path, PathBuf};

use zab_core::jute::Record;
use zab_core::txn::Txn;
use zab_core::Zxid;
use zab_storage::apache_log::{
    apache_log_segments, is_apache_log, read_apache_log, ApacheLogEntry,
};
use zab_storage::apache_snapshot::{
    apache_digest, apache_snapshots, is_apache_snapshot, read_apache_snapshot,
    write_apache_snapshot_as, DigestCheck, SnapshotKind, Trailer, ZxidDigest, DIGEST_VERSION,
};
use zab_storage::{read_epoch_file, write_epoch_file, StorageError, TxnLog};
use zab_storage::{ACCEPTED_EPOCH, CURRENT_EPOCH};

use super::{load_db, log_dir, log_options, serialize_db, snap_dir, write_tree_snapshot};
use super::{recover, PersistError};
use crate::config::Config;
use crate::tree::DataTree;

const CONVERTED: &str = "CONVERTED";
const EXPORTED: &str = "EXPORTED";

/// One directory swap: `staging` replaces `live`, which moves to `aside`.
struct Swap {
    live: PathBuf,
    staging: PathBuf,
    aside: PathBuf,
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_owned();
    name.push(suffix);
    dir.with_file_name(name)
}

/// The swaps for dataDir's version-2 and, when apart, dataLogDir's; dataDir's first.
fn swaps(cfg: &Config, staging: &str, aside: &str) -> Vec<Swap> {
    let mut v = vec![snap_dir(cfg)];
    if log_dir(cfg) != snap_dir(cfg) {
        v.push(log_dir(cfg));
    }
    v.into_iter()
        .map(|live| Swap {
            staging: sibling(&live, staging),
            aside: sibling(&live, aside),
            live,
        })
        .collect()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PersistError + '_ {
    move |source| {
        PersistError::Storage(StorageError::Io {
            path: path.to_owned(),
            source,
        })
    }
}

fn fsync_dir(dir: &Path) -> Result<(), PersistError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io(dir))
}

fn rename(from: &Path, to: &Path) -> Result<(), PersistError> {
    tracing::info!("renaming {} to {}", from.display(), to.display());
    std::fs::rename(from, to).map_err(io(from))?;
    fsync_dir(to.parent().unwrap_or(Path::new(".")))
}

/// Write the marker `name` into `dir` (fsynced): the swaps are decided.
fn mark(dir: &Path, name: &str) -> Result<(), PersistError> {
    let p = dir.join(name);
    let f = std::fs::File::create(&p).map_err(io(&p))?;
    f.sync_all().map_err(io(&p))?;
    fsync_dir(dir)
}

/// Finish the swaps if their marker is there (in the first staging directory, or in
/// the first live one once that was renamed); true if it was.
fn roll_forward(swaps: &[Swap], marker: &str) -> Result<bool, PersistError> {
    let first = &swaps[0];
    if !first.staging.join(marker).exists() && !first.live.join(marker).exists() {
        return Ok(false);
    }
    for s in swaps {
        if s.staging.exists() {
            if s.live.exists() {
                rename(&s.live, &s.aside)?;
            }
            rename(&s.staging, &s.live)?;
        }
    }
    let m = first.live.join(marker);
    std::fs::remove_file(&m).map_err(io(&m))?;
    fsync_dir(&first.live)?;
    Ok(true)
}

/// Remove staging directories a crash left before their marker; refuse if an `aside`
/// directory is in the way.
fn prepare(swaps: &[Swap]) -> Result<(), PersistError> {
    for s in swaps {
        if s.staging.exists() {
            tracing::warn!(
                "removing {}, left unfinished by an earlier attempt",
                s.staging.display()
            );
            std::fs::remove_dir_all(&s.staging).map_err(io(&s.staging))?;
        }
        if s.live.exists() && s.aside.exists() {
            return Err(PersistError::Apache(format!(
                "{} is in the way of moving {} aside; move it elsewhere first",
                s.aside.display(),
                s.live.display()
            )));
        }
    }
    for s in swaps {
        std::fs::create_dir_all(&s.staging).map_err(io(&s.staging))?;
    }
    Ok(())
}

/// Copy acceptedEpoch and currentEpoch, where present.
fn copy_epochs(from: &Path, to: &Path) -> Result<(), PersistError> {
    for name in [ACCEPTED_EPOCH, CURRENT_EPOCH] {
        if let Some(e) = read_epoch_file(from, name)? {
            write_epoch_file(to, name, e)?;
        }
    }
    Ok(())
}

/// Whether the data directories hold Apache ZooKeeper's files.
pub fn has_apache_files(cfg: &Config) -> Result<bool, PersistError> {
    for (_, kind, f) in apache_snapshots(&snap_dir(cfg))? {
        if kind != SnapshotKind::Plain || is_apache_snapshot(&f)? {
            return Ok(true);
        }
    }
    for (_, f) in apache_log_segments(&log_dir(cfg))? {
        if is_apache_log(&f)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// At start-up: finish a conversion a crash interrupted, or convert Apache's files
/// into ours if the data directories hold them (see the module's grammar). Returns
/// whether anything was converted.
pub fn take_over_apache_files(cfg: &Config) -> Result<bool, PersistError> {
    let swaps = swaps(cfg, ".converting", ".apache");
    if roll_forward(&swaps, CONVERTED)? {
        tracing::info!("finished converting Apache ZooKeeper's files (interrupted earlier)");
        return Ok(true);
    }
    if !has_apache_files(cfg)? {
        // Staging left by an attempt that crashed before its marker, on a directory
        // that is no longer Apache's: not ours to keep.
        for s in &swaps {
            if s.staging.exists() {
                std::fs::remove_dir_all(&s.staging).map_err(io(&s.staging))?;
            }
        }
        return Ok(false);
    }
    tracing::info!(
        "{} holds Apache ZooKeeper's files: converting them to ours",
        snap_dir(cfg).display()
    );
    prepare(&swaps)?;
    convert(cfg, &swaps).inspect_err(|_| {
        // Nothing half-made stays beside Apache's files.
        for s in &swaps {
            let _ = std::fs::remove_dir_all(&s.staging);
        }
    })?;
    roll_forward(&swaps, CONVERTED)?;
    tracing::info!(
        "Apache ZooKeeper's files are kept in {}",
        swaps
            .iter()
            .map(|s| s.aside.display().to_string())
            .collect::<Vec<_>>()
            .join(" and ")
    );
    Ok(true)
}

/// Apache's files into the staging directories, up to the marker.
fn convert(cfg: &Config, swaps: &[Swap]) -> Result<(), PersistError> {
    let max_field = cfg.jute_max_buffer + (1 << 16);
    // The newest Apache snapshot that checks out, as Apache's FileSnap chooses.
    let mut loaded = None;
    // Why each newer snapshot was skipped, and the newest skipped zxid: the state must
    // reach it, since its transactions may be in no other file.
    let mut skipped: Vec<String> = Vec::new();
    let mut must_reach = Zxid::ZERO;
    for (zxid, kind, f) in apache_snapshots(&snap_dir(cfg))?.into_iter().rev() {
        if kind == SnapshotKind::Plain && !is_apache_snapshot(&f)? {
            tracing::warn!("{}: not an Apache snapshot; skipped", f.display());
            continue;
        }
        match read_apache_snapshot(&f, max_field)
            .map_err(PersistError::from)
            .and_then(|s| {
                load_db(&s.body, cfg.extended_types_enabled, s.zxid, max_field)
                    .map(|(tree, sessions)| {
                        let at = (s.file.clone(), s.digest_offset);
                        (tree, sessions, s.zxid, (s.trailer, s.digest_check), at)
                    })
                    .map_err(|why| PersistError::BadSnapshot {
                        file: f.clone(),
                        why,
                    })
            }) {
            Ok(l) => {
                tracing::info!("loaded Apache snapshot {}", f.display());
                loaded = Some(l);
                break;
            }
            Err(PersistError::Storage(e @ StorageError::Io { .. })) => return Err(e.into()),
            Err(e) => {
                tracing::warn!("skipping an Apache snapshot: {e}; trying an older one");
                skipped.push(e.to_string());
                must_reach = must_reach.max(zxid);
            }
        }
    }
    let Some((mut tree, sessions, after, (trailer, check), digest_at)) = loaded else {
        // As Apache, which refuses a log without a snapshot ("No snapshot found, but
        // there are log entries"): replaying over an empty tree is complete only if
        // the log was never purged, which nothing here can tell.
        skipped.push(format!(
            "no Apache snapshot in {} checks out",
            snap_dir(cfg).display()
        ));
        return Err(PersistError::Incomplete {
            tried: skipped.join("; then "),
        });
    };
    let sdir = &swaps[0].staging;
    let ldir = &swaps.last().expect("one swap at least").staging;
    let mut s: Vec<(i64, i32)> = sessions.into_iter().collect();
    s.sort();
    let f = write_tree_snapshot(sdir, &tree, s)?;
    tracing::info!("wrote {}", f.display());
    // Apache's log after the snapshot, record for record into ours. A bad checksum
    // stops here, naming the Apache file and offset.
    let entries = read_apache_log(&log_dir(cfg), after)?;
    check_snapshot_digest(&mut tree, after, &trailer, check, &digest_at, &entries)?;
    drop(tree);
    if let Some(z) = trailer.last_processed_zxid {
        let reaches = entries.last().map_or(after, |e| e.zxid);
        tracing::info!("Apache's snapshot at zxid {after} was finished at zxid {z}");
        if z > reaches {
            // As Apache 3.9, which only reads it: the leader brings the rest.
            tracing::warn!(
                "Apache's log reaches zxid {reaches}, short of the snapshot's last processed zxid {z}"
            );
        }
    }
    let reaches = entries.last().map_or(after, |e| e.zxid);
    if reaches < must_reach {
        skipped.push(format!(
            "the older snapshot plus Apache's log reaches only zxid {reaches}"
        ));
        return Err(PersistError::Incomplete {
            tried: skipped.join("; then "),
        });
    }
    let (mut log, _) = TxnLog::open(ldir, log_options(cfg))?;
    if after != Zxid::ZERO {
        log.restart_at(after)?;
    }
    for e in &entries {
        log.append(e.zxid, &e.txn)?;
    }
    log.flush()?;
    drop(log);
    tracing::info!(
        "copied {} transactions of Apache's log after zxid {after}",
        entries.len()
    );
    copy_epochs(&snap_dir(cfg), sdir)?;
    for s in swaps {
        fsync_dir(&s.staging)?;
    }
    mark(sdir, CONVERTED)
}

/// Check the digest Apache wrote after the snapshot's tree, which may be fuzzy (see
/// [`DigestCheck`]):
/// - of a later zxid than the file's: replay Apache's log up to that zxid on the loaded
///   tree and compare there, as Apache's `DataTree.compareSnapshotDigests` does during
///   its replay;
/// - of the file's own zxid and not its tree's: the tree may hold part of the next
///   transactions (Apache applies a transaction before it records its digest), so replay
///   the whole log and compare with the digest its last transaction carries. Apache
///   compares at once and only counts a mismatch; refusing there would refuse a data
///   directory Apache left in order.
///
/// A mismatch after the replay refuses, naming the snapshot file and the digest's offset.
fn check_snapshot_digest(
    tree: &mut DataTree,
    after: Zxid,
    trailer: &Trailer,
    check: DigestCheck,
    (file, offset): &(PathBuf, u64),
    entries: &[ApacheLogEntry],
) -> Result<(), PersistError> {
    let refuse = |what: String| -> PersistError {
        StorageError::ApacheSnapshot {
            file: file.clone(),
            offset: *offset,
            what,
        }
        .into()
    };
    let Some(d) = trailer.digest else {
        return Ok(());
    };
    // The zxid to replay to and the digest the tree must have there.
    let (to, want) = match check {
        DigestCheck::NotComparable | DigestCheck::Matches => return Ok(()),
        DigestCheck::Later => {
            if !entries.iter().any(|e| e.zxid == d.zxid) {
                tracing::warn!(
                    "the digest of Apache's snapshot at zxid {after} is of zxid {}, which its log does not hold; not compared",
                    d.zxid
                );
                return Ok(());
            }
            (d.zxid, d.digest)
        }
        DigestCheck::Differs { tree: ours } => {
            let mismatch = format!(
                "digest mismatch at zxid {after}: stored {:#x}, the tree's {ours:#x}",
                d.digest
            );
            // The newest transaction that carries a digest of this version.
            let mut last = None;
            for e in entries.iter().rev() {
                if let Some(g) = decode(e)?.digest {
                    if g.version == DIGEST_VERSION {
                        last = Some((e.zxid, g.tree_digest as u64));
                        break;
                    }
                }
            }
            let Some(last) = last else {
                return Err(refuse(format!(
                    "{mismatch}, and no transaction after it in Apache's log carries a digest to settle it"
                )));
            };
            tracing::info!(
                "{}: the digest of zxid {after} ({:#x}) is not the tree's ({ours:#x}); the file may hold part of later transactions: comparing after replaying Apache's log to zxid {}",
                file.display(),
                d.digest,
                last.0
            );
            last
        }
    };
    let mut scratch = Vec::new();
    for e in entries.iter().take_while(|e| e.zxid <= to) {
        tree.apply(&decode(e)?, &mut scratch);
        scratch.clear();
    }
    // The tree keeps Apache's digest as it changes: no walk.
    let ours = tree.apache_digest();
    if ours != want {
        return Err(refuse(format!(
            "digest mismatch at zxid {to} after replaying Apache's log: stored {want:#x}, the tree's {ours:#x}"
        )));
    }
    tracing::info!("the digest of Apache's snapshot matches the tree at zxid {to}");
    Ok(())
}

/// One of Apache's logged transactions, decoded.
fn decode(e: &ApacheLogEntry) -> Result<Txn, PersistError> {
    Txn::from_bytes(&e.txn).map_err(|err| {
        PersistError::Apache(format!(
            "Apache's transaction {} does not decode: {err}",
            e.zxid
        ))
    })
}

/// Which Apache ZooKeeper reads an export: the trailer it expects after the data tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApacheVersion {
    /// The digest (with `digest`), as 3.6-3.8 write it.
    V3_8,
    /// The digest (with `digest`), then `lastProcessedZxid`, as 3.9 writes them.
    V3_9,
}

/// How `zk-server export-apache` writes Apache's snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApacheExport {
    /// Plain, gz or snappy, as `zookeeper.snapshot.compression.method` names them.
    pub compression: SnapshotKind,
    pub version: ApacheVersion,
    /// Whether the reader runs with `zookeeper.digest.enabled` (Apache's default).
    pub digest: bool,
}

impl ApacheExport {
    /// What the Apache server run on `cfg` would write: the compression of
    /// `zookeeper.snapshot.compression.method` (a zoo.cfg key or a `-D` flag; "gz",
    /// "snappy", anything else plain, as Apache's `SnapStream`), the digest unless
    /// `zookeeper.digest.enabled` is false, 3.8's layout.
    pub fn for_config(cfg: &Config) -> ApacheExport {
        let compression = match cfg.prop("zookeeper.snapshot.compression.method") {
            Some("gz") => SnapshotKind::Gzip,
            Some("snappy") => SnapshotKind::Snappy,
            _ => SnapshotKind::Plain,
        };
        let digest = cfg.digest_enabled();
        ApacheExport {
            compression,
            version: ApacheVersion::V3_8,
            digest,
        }
    }
}

impl Default for ApacheExport {
    fn default() -> Self {
        ApacheExport {
            compression: SnapshotKind::Plain,
            version: ApacheVersion::V3_8,
            digest: true,
        }
    }
}

/// `zk-server export-apache`: the state of a stopped server's data directories as
/// Apache's `snapshot.<zxid>[.gz|.snappy]` (`how`), in a fresh version-2 with the epoch
/// files, ours moved to `version-2.ours` (see the module's grammar). Returns the
/// snapshot file.
pub fn export_apache_snapshot(cfg: &Config, how: &ApacheExport) -> Result<PathBuf, PersistError> {
    let swaps = swaps(cfg, ".export", ".ours");
    if roll_forward(&swaps, EXPORTED)? {
        return Err(PersistError::Apache(
            "finished an export an earlier run left half done; the data directory is \
             Apache's now"
                .into(),
        ));
    }
    let r = recover(cfg)?;
    let zxid = r.tree.last_processed_zxid();
    let mut sessions: Vec<(i64, i32)> = r.sessions.iter().map(|(k, v)| (*k, *v)).collect();
    sessions.sort();
    let db = serialize_db(&r.tree, &sessions);
    drop(r);
    // Not fuzzy: the digest and the last processed zxid are the snapshot's own zxid.
    let max_field = cfg.jute_max_buffer + (1 << 16);
    let trailer = Trailer {
        digest: match how.digest {
            true => Some(ZxidDigest {
                zxid,
                version: DIGEST_VERSION,
                digest: apache_digest(&db, max_field)
                    .map_err(|e| PersistError::Apache(format!("our own tree: {e}")))?,
            }),
            false => None,
        },
        last_processed_zxid: (how.version == ApacheVersion::V3_9).then_some(zxid),
    };
    prepare(&swaps)?;
    let staging = &swaps[0].staging;
    let f = write_apache_snapshot_as(staging, zxid, &db, how.compression, &trailer)?;
    copy_epochs(&snap_dir(cfg), staging)?;
    for s in &swaps {
        fsync_dir(&s.staging)?;
    }
    mark(staging, EXPORTED)?;
    roll_forward(&swaps, EXPORTED)?;
    Ok(snap_dir(cfg).join(f.file_name().expect("a file name")))
}

/// The tree an Apache snapshot file holds (for tests and tools).
pub fn load_apache_snapshot(
    cfg: &Config,
    file: &Path,
) -> Result<(DataTree, std::collections::HashMap<i64, i32>), PersistError> {
    let max_field = cfg.jute_max_buffer + (1 << 16);
    let s = read_apache_snapshot(file, max_field)?;
    load_db(&s.body, cfg.extended_types_enabled, s.zxid, max_field).map_err(|why| {
        PersistError::BadSnapshot {
            file: file.to_owned(),
            why,
        }
    })
}

#[cfg(test)]
mod tests {
    use zab_core::jute::Record;
    use zab_core::txn::Txn;
    use zab_core::Epoch;
    use zab_storage::apache_log::encode_record;
    use zab_storage::apache_snapshot::encode_apache_snapshot;

    use super::*;
    use crate::persist::recover_holding_back;
    use crate::persist::testutil::{create_txn, Dir};

    fn create(z: i64) -> Txn {
        create_txn(z, &format!("/n{z}"))
    }

    /// Apache's log `log.1` of `txns`, preallocated zeros after them.
    fn write_log(cfg: &Config, txns: impl Iterator<Item = Txn>) {
        let mut log = b"ZKLG".to_vec();
        log.extend(2i32.to_be_bytes());
        log.extend(0i64.to_be_bytes());
        for t in txns {
            log.extend(encode_record(&t.to_bytes()));
        }
        log.extend([0u8; 64]);
        std::fs::write(log_dir(cfg).join("log.1"), log).unwrap();
    }

    /// Apache's files: a snapshot after each of `snaps` creates, the log of creates
    /// 1..=`upto`, the epoch files; dataLogDir apart if `apart`.
    fn apache_dir(snaps: &[i64], upto: i64, apart: bool) -> Dir {
        let tmp = tempfile::tempdir().unwrap();
        let mut text = format!("dataDir={}/data\npreAllocSize=64\n", tmp.path().display());
        if apart {
            text.push_str(&format!("dataLogDir={}/logs\n", tmp.path().display()));
        }
        let cfg = Config::parse(&text, "test").unwrap();
        std::fs::create_dir_all(snap_dir(&cfg)).unwrap();
        std::fs::create_dir_all(log_dir(&cfg)).unwrap();
        for &s in snaps {
            let mut tree = DataTree::new(false);
            for z in 1..=s {
                tree.apply(&create(z), &mut Vec::new());
            }
            std::fs::write(
                snap_dir(&cfg).join(format!("snapshot.{s:x}")),
                encode_apache_snapshot(&serialize_db(&tree, &[(7, 4000)])),
            )
            .unwrap();
        }
        write_log(&cfg, (1..=upto).map(create));
        write_epoch_file(&snap_dir(&cfg), ACCEPTED_EPOCH, Epoch(3)).unwrap();
        write_epoch_file(&snap_dir(&cfg), CURRENT_EPOCH, Epoch(2)).unwrap();
        Dir { _tmp: tmp, cfg }
    }

    fn assert_nodes(tree: &DataTree, upto: i64) {
        for z in 1..=upto {
            let n = tree
                .get(&format!("/n{z}"))
                .unwrap_or_else(|| panic!("/n{z}"));
            assert_eq!(n.data(), format!("d{z}").as_bytes());
        }
        assert!(tree.get(&format!("/n{}", upto + 1)).is_none());
    }

    #[test]
    fn apache_s_files_are_converted_and_kept_aside_with_the_log_apart() {
        let d = apache_dir(&[0, 3], 6, true);
        let r = recover(&d.cfg).unwrap();
        assert_eq!((r.snapshot_zxid, r.replayed), (Zxid(3), 3));
        assert_nodes(&r.tree, 6);
        assert_eq!(r.sessions.get(&7), Some(&4000));
        drop(r);
        let sdir = snap_dir(&d.cfg);
        assert_eq!(
            read_epoch_file(&sdir, ACCEPTED_EPOCH).unwrap(),
            Some(Epoch(3))
        );
        assert_eq!(
            read_epoch_file(&sdir, CURRENT_EPOCH).unwrap(),
            Some(Epoch(2))
        );
        assert!(!has_apache_files(&d.cfg).unwrap());
        assert!(sibling(&sdir, ".apache").join("snapshot.3").exists());
        assert!(sibling(&log_dir(&d.cfg), ".apache").join("log.1").exists());
        assert!(!sdir.join(CONVERTED).exists());
        // The next start is an ordinary one.
        assert_nodes(&recover(&d.cfg).unwrap().tree, 6);
    }

    #[test]
    fn a_damaged_newest_apache_snapshot_falls_back_to_an_older_one() {
        let d = apache_dir(&[2, 4], 6, false);
        let f = snap_dir(&d.cfg).join("snapshot.4");
        let mut b = std::fs::read(&f).unwrap();
        b[40] ^= 1;
        std::fs::write(&f, b).unwrap();
        let r = recover(&d.cfg).unwrap();
        assert_eq!(r.snapshot_zxid, Zxid(2));
        assert_nodes(&r.tree, 6);
    }

    #[test]
    fn an_ensemble_member_holds_back_apache_s_newest_entries() {
        let d = apache_dir(&[2], 6, false);
        let r = recover_holding_back(&d.cfg, 2).unwrap();
        assert_nodes(&r.tree, 4);
        let held: Vec<Zxid> = r.held_back.iter().map(|(z, _)| *z).collect();
        assert_eq!(held, vec![Zxid(5), Zxid(6)]);
    }

    #[test]
    fn a_crash_before_the_marker_leaves_apache_s_files_and_is_redone() {
        let d = apache_dir(&[3], 5, true);
        let swaps = swaps(&d.cfg, ".converting", ".apache");
        prepare(&swaps).unwrap();
        std::fs::write(swaps[0].staging.join("snapshot.3"), b"half").unwrap();
        assert!(has_apache_files(&d.cfg).unwrap());
        assert_nodes(&recover(&d.cfg).unwrap().tree, 5);
    }

    #[test]
    fn a_crash_after_the_marker_is_finished_at_the_next_start() {
        for renamed in 0..=2 {
            let d = apache_dir(&[3], 5, true);
            let swaps = swaps(&d.cfg, ".converting", ".apache");
            prepare(&swaps).unwrap();
            convert(&d.cfg, &swaps).unwrap();
            // The crash comes after `renamed` of the renames.
            let s = &swaps[0];
            if renamed >= 1 {
                std::fs::rename(&s.live, &s.aside).unwrap();
            }
            if renamed >= 2 {
                std::fs::rename(&s.staging, &s.live).unwrap();
            }
            let r = recover(&d.cfg).unwrap();
            assert_nodes(&r.tree, 5);
            assert_eq!(r.snapshot_zxid, Zxid(3), "after {renamed} renames");
            assert!(swaps
                .iter()
                .all(|s| !s.staging.exists() && s.aside.exists()));
        }
    }

    #[test]
    fn a_bad_record_in_apache_s_log_stops_start_up_and_leaves_the_files_alone() {
        let d = apache_dir(&[2], 5, false);
        let f = log_dir(&d.cfg).join("log.1");
        let mut b = std::fs::read(&f).unwrap();
        let last = b.len() - 64 - 10;
        b[last] ^= 1;
        std::fs::write(&f, &b).unwrap();
        let err = recover(&d.cfg).err().expect("must refuse").to_string();
        assert!(err.contains("log.1") && err.contains("checksum"), "{err}");
        assert_eq!(std::fs::read(&f).unwrap(), b);
        assert!(!sibling(&snap_dir(&d.cfg), ".converting").exists());
        assert!(has_apache_files(&d.cfg).unwrap());
    }

    #[test]
    fn no_usable_apache_snapshot_or_too_short_a_log_refuses_start_up() {
        // Every snapshot damaged: Apache's log alone may have been purged.
        let d = apache_dir(&[3], 5, false);
        let f = snap_dir(&d.cfg).join("snapshot.3");
        let mut b = std::fs::read(&f).unwrap();
        b[40] ^= 1;
        std::fs::write(&f, &b).unwrap();
        let err = recover(&d.cfg).err().expect("must refuse").to_string();
        assert!(
            err.contains("snapshot.3") && err.contains("checks out"),
            "{err}"
        );
        assert!(has_apache_files(&d.cfg).unwrap());
        // The newest damaged, the older one fine, but the log ends before the newest.
        let d = apache_dir(&[2, 6], 4, false);
        let f = snap_dir(&d.cfg).join("snapshot.6");
        let mut b = std::fs::read(&f).unwrap();
        b[40] ^= 1;
        std::fs::write(&f, &b).unwrap();
        let err = recover(&d.cfg).err().expect("must refuse").to_string();
        assert!(err.contains("reaches only zxid 0x4"), "{err}");
    }

    #[test]
    fn an_export_reads_back_as_the_same_tree_and_converts_back() {
        let d = apache_dir(&[2], 5, true);
        let want = recover(&d.cfg).unwrap().tree.digest();
        // An export of ours: Apache's snapshot at zxid 5, ours kept aside.
        let f = export_apache_snapshot(&d.cfg, &ApacheExport::default()).unwrap();
        assert_eq!(f, snap_dir(&d.cfg).join("snapshot.5"));
        let (tree, sessions) = load_apache_snapshot(&d.cfg, &f).unwrap();
        assert_eq!(tree.digest(), want);
        assert_eq!(sessions.get(&7), Some(&4000));
        assert!(sibling(&snap_dir(&d.cfg), ".ours").is_dir());
        assert!(sibling(&log_dir(&d.cfg), ".ours").is_dir());
        assert_eq!(
            read_epoch_file(&snap_dir(&d.cfg), ACCEPTED_EPOCH).unwrap(),
            Some(Epoch(3))
        );
        // Ours on it again (after moving the first conversion's leftovers away).
        for dir in [snap_dir(&d.cfg), log_dir(&d.cfg)] {
            std::fs::remove_dir_all(sibling(&dir, ".apache")).unwrap();
        }
        let r = recover(&d.cfg).unwrap();
        assert_nodes(&r.tree, 5);
        assert_eq!(r.tree.digest(), want);
    }

    /// Apache's snapshot at zxid 3 rewritten with a digest of zxid `at` (a fuzzy one when
    /// `at` > 3) whose value is the tree's after `at` creates, plus `wrong`.
    fn with_digest(d: &Dir, at: i64, wrong: u64) {
        let mut tree = DataTree::new(false);
        for z in 1..=at {
            tree.apply(&create(z), &mut Vec::new());
        }
        let digest = apache_digest(&serialize_db(&tree, &[]), 1 << 20).unwrap() + wrong;
        let mut snap = DataTree::new(false);
        for z in 1..=3 {
            snap.apply(&create(z), &mut Vec::new());
        }
        let t = Trailer {
            digest: Some(ZxidDigest {
                zxid: Zxid(at),
                version: DIGEST_VERSION,
                digest,
            }),
            last_processed_zxid: Some(Zxid(at)),
        };
        std::fs::remove_file(snap_dir(&d.cfg).join("snapshot.3")).unwrap();
        write_apache_snapshot_as(
            &snap_dir(&d.cfg),
            Zxid(3),
            &serialize_db(&snap, &[(7, 4000)]),
            SnapshotKind::Snappy,
            &t,
        )
        .unwrap();
    }

    #[test]
    fn a_fuzzy_snapshot_s_digest_is_checked_after_replaying_apache_s_log_to_it() {
        for at in [3, 5] {
            let d = apache_dir(&[3], 6, false);
            with_digest(&d, at, 0);
            let r = recover(&d.cfg).unwrap();
            assert_nodes(&r.tree, 6);
            assert_eq!(r.snapshot_zxid, Zxid(3));
        }
        for at in [3, 5] {
            let d = apache_dir(&[3], 6, false);
            with_digest(&d, at, 1);
            let err = recover(&d.cfg).err().expect("must refuse").to_string();
            assert!(
                err.contains("snapshot.3.snappy") && err.contains("digest mismatch"),
                "{err}"
            );
            assert!(has_apache_files(&d.cfg).unwrap());
        }
    }

    /// Apache's log of creates 1..=`upto` rewritten with each transaction's digest, as
    /// Apache 3.6+ logs them (the last one's plus `wrong`).
    fn log_with_digests(d: &Dir, upto: i64, wrong: u64) {
        let mut tree = DataTree::new(false);
        let txns = (1..=upto).map(|z| {
            let mut t = create(z);
            tree.apply(&t, &mut Vec::new());
            let off = if z == upto { wrong } else { 0 };
            t.digest = Some(zab_core::txn::TxnDigest {
                version: DIGEST_VERSION,
                tree_digest: tree.apache_digest().wrapping_add(off) as i64,
            });
            t
        });
        write_log(&d.cfg, txns);
    }

    /// The race of Apache's snapshot thread: a snapshot named after zxid 3, whose tree
    /// already holds create 4 (applied while it was written, before Apache recorded
    /// zxid 4's digest), and whose digest is zxid 3's.
    fn fuzzy_at_its_own_zxid(d: &Dir) {
        let mut at3 = DataTree::new(false);
        for z in 1..=3 {
            at3.apply(&create(z), &mut Vec::new());
        }
        let digest = apache_digest(&serialize_db(&at3, &[]), 1 << 20).unwrap();
        at3.apply(&create(4), &mut Vec::new());
        let t = Trailer {
            digest: Some(ZxidDigest {
                zxid: Zxid(3),
                version: DIGEST_VERSION,
                digest,
            }),
            last_processed_zxid: None,
        };
        std::fs::remove_file(snap_dir(&d.cfg).join("snapshot.3")).unwrap();
        write_apache_snapshot_as(
            &snap_dir(&d.cfg),
            Zxid(3),
            &serialize_db(&at3, &[(7, 4000)]),
            SnapshotKind::Snappy,
            &t,
        )
        .unwrap();
    }

    #[test]
    fn a_snapshot_holding_part_of_a_later_transaction_under_its_own_digest_loads() {
        let d = apache_dir(&[3], 6, false);
        fuzzy_at_its_own_zxid(&d);
        let f = snap_dir(&d.cfg).join("snapshot.3.snappy");
        assert!(matches!(
            read_apache_snapshot(&f, 1 << 20).unwrap().digest_check,
            DigestCheck::Differs { .. }
        ));
        log_with_digests(&d, 6, 0);
        let r = recover(&d.cfg).unwrap();
        assert_nodes(&r.tree, 6);
        assert_eq!(r.snapshot_zxid, Zxid(3), "not an older snapshot instead");

        // The log's last digest disagreeing with the tree after the replay: refused,
        // naming the snapshot and the digest's offset.
        let d = apache_dir(&[3], 6, false);
        fuzzy_at_its_own_zxid(&d);
        log_with_digests(&d, 6, 1);
        let err = recover(&d.cfg).err().expect("must refuse").to_string();
        assert!(
            err.contains("snapshot.3.snappy")
                && err.contains("digest mismatch at zxid 0x6")
                && err.contains("offset"),
            "{err}"
        );
        assert!(has_apache_files(&d.cfg).unwrap());

        // No digest in the log to settle it: refused.
        let d = apache_dir(&[3], 6, false);
        fuzzy_at_its_own_zxid(&d);
        let err = recover(&d.cfg).err().expect("must refuse").to_string();
        assert!(
            err.contains("snapshot.3.snappy") && err.contains("carries a digest"),
            "{err}"
        );
    }

    #[test]
    fn the_export_s_defaults_follow_apache_s_settings_in_zoo_cfg() {
        let parse =
            |extra: &str| Config::parse(&format!("dataDir=/tmp/x\n{extra}"), "test").unwrap();
        assert_eq!(
            ApacheExport::for_config(&parse("")),
            ApacheExport::default()
        );
        let c = parse("snapshot.compression.method=snappy\ndigest.enabled=false\n");
        assert_eq!(
            ApacheExport::for_config(&c),
            ApacheExport {
                compression: SnapshotKind::Snappy,
                version: ApacheVersion::V3_8,
                digest: false,
            }
        );
        let c = parse("snapshot.compression.method=gz\ndigest.enabled=TRUE\n");
        assert_eq!(ApacheExport::for_config(&c).compression, SnapshotKind::Gzip);
        assert!(ApacheExport::for_config(&c).digest);
        let c = parse("snapshot.compression.method=lz4\n");
        assert_eq!(
            ApacheExport::for_config(&c).compression,
            SnapshotKind::Plain
        );
    }

    #[test]
    fn exports_for_each_version_and_compression_read_back() {
        for (compression, version, digest, name) in [
            (SnapshotKind::Plain, ApacheVersion::V3_9, true, "snapshot.5"),
            (
                SnapshotKind::Gzip,
                ApacheVersion::V3_8,
                false,
                "snapshot.5.gz",
            ),
            (
                SnapshotKind::Snappy,
                ApacheVersion::V3_9,
                true,
                "snapshot.5.snappy",
            ),
        ] {
            let d = apache_dir(&[2], 5, false);
            let want = recover(&d.cfg).unwrap().tree.digest();
            std::fs::remove_dir_all(sibling(&snap_dir(&d.cfg), ".apache")).unwrap();
            let how = ApacheExport {
                compression,
                version,
                digest,
            };
            let f = export_apache_snapshot(&d.cfg, &how).unwrap();
            assert_eq!(f, snap_dir(&d.cfg).join(name));
            let s = read_apache_snapshot(&f, 1 << 20).unwrap();
            assert_eq!(s.trailer.digest.is_some(), digest);
            assert_eq!(
                s.trailer.last_processed_zxid,
                (version == ApacheVersion::V3_9).then_some(Zxid(5))
            );
            let (tree, _) = load_apache_snapshot(&d.cfg, &f).unwrap();
            assert_eq!(tree.digest(), want);
        }
    }
}
