//! Loading one snapshot file into a fresh tree, on three threads.
//!
//! ```text
//! parser thread:  mapped file -> entries -> prepared node (path split, name
//!                 hashed, name+data allocated) -> digest hash per node, four
//!                 at a time
//! builder thread: batches of prepared entries -> sessions, ACLs, nodes into
//!                 the tree (index and links), prefetching a few entries ahead
//! check thread:   the tree's fresh arena and index faulted in, then the crc
//!                 over the whole file (which maps its pages ahead of the parser)
//! ```
//!
//! Apache's tree digest comes from the trailer (version 3 on: the writer's sum
//! over the node entries, [`DataTree::preset_apache_digest`]); for an older
//! file the builder computes each node's part as it inserts it.
//!
//! The parser and the builder meet in bounded batches of entries that borrow
//! the map. Whatever fails, the tree is dropped; a crc that fails is the
//! error reported, whatever else failed, then the parser's, then a digest
//! that does not match, then the builder's. The file format and its checks
//! are `zab-storage`'s; building the tree is `tree/load.rs`'s; choosing which
//! snapshot to load is `recover.rs`'s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use zab_core::records::Acl;
use zab_core::Zxid;
use zab_storage::{SnapEntry, SnapshotReader, StorageError, TreeDigest};

use super::PersistError;
use crate::config::Config;
use crate::tree::{DataTree, LoadingNode};

/// An entry as the parser hands it to the builder. The parser also prepares
/// each node for the tree (its allocation, its path split and hashed) and
/// hashes it for the digest, which leaves the builder the index and the links.
enum Prepared<'a> {
    Session { session_id: i64, timeout_ms: i32 },
    Acl { acl_ref: i64, acls: Vec<Acl> },
    Node(LoadingNode<'a>),
}

/// A snapshot loaded into a tree.
pub struct LoadedSnapshot {
    pub tree: DataTree,
    pub sessions: HashMap<i64, i32>,
    pub zxid: Zxid,
    pub file: PathBuf,
}

/// Load one snapshot file into a fresh tree: crc, entries, digest, and the
/// tree's own checks (every node's parent and ACL present).
///
/// Three threads: one parses the mapped file and hashes each node (the
/// digest check), another builds the tree, and they meet in batches of
/// entries that borrow the map; the third faults in the tree's fresh memory
/// and checks the crc meanwhile. Whatever fails, the tree is dropped.
pub fn load_snapshot(cfg: &Config, file: &Path) -> Result<LoadedSnapshot, PersistError> {
    // The crc is checked on a thread of its own while the others parse and
    // build; until it passes, the tree is only a candidate.
    let r = SnapshotReader::open_unverified(file)?;
    let zxid = r.zxid();
    if Some(zxid) != zab_storage::snapshot::zxid_of_name(file) {
        return Err(PersistError::BadSnapshot {
            file: file.to_owned(),
            why: format!("its header says zxid {zxid}, its name does not"),
        });
    }
    // The trailer's count passed the crc; still, never reserve more than the
    // file could hold (a node entry takes at least 78 bytes).
    let nodes = (r.summary().nodes as usize).min(r.len() as usize / 78);
    let mut tree = DataTree::with_capacity(cfg.extended_types_enabled, nodes);
    // Apache's digest of the nodes, summed by the writer (version 3 on): no
    // node's CRC to compute here. Like the rest of the trailer it is only
    // trusted once the crc passes, and the tree goes if it does not.
    if let Some(sum) = r.summary().apache_digest {
        tree.preset_apache_digest(sum);
    }
    let mut sessions = HashMap::new();
    let bad = |why: String| PersistError::BadSnapshot {
        file: file.to_owned(),
        why,
    };
    const BATCH: usize = 2048;
    let preparer = tree.node_preparer();
    let fresh = tree.fresh_memory();
    let started = Instant::now();
    let builder_cpu = thread_cpu();
    // What each thread spent (CPU) and waited for the other (wall), for the
    // log line below: which of the two bounds the load.
    let mut parser_stats = (Duration::ZERO, Duration::ZERO);
    let mut builder_waited = Duration::ZERO;
    let mut check_cpu = Duration::ZERO;
    std::thread::scope(|scope| -> Result<(), PersistError> {
        let check = std::thread::Builder::new()
            .name("snapshot-check".into())
            .spawn_scoped(scope, || {
                // The builder's pages first: it needs them soon, while the
                // parser's first pages of the file are read by the parser.
                fresh.populate();
                r.verify_crc().map(|()| thread_cpu())
            })
            .expect("spawn snapshot check");
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Prepared<'_>>>(16);
        let parser = std::thread::Builder::new()
            .name("snapshot-parse".into())
            .spawn_scoped(scope, || -> Result<ParserStats, StorageError> {
                let tx = tx;
                let mut waited = Duration::ZERO;
                let mut batch = Vec::with_capacity(BATCH);
                let mut prev_parent: Option<&str> = None;
                let mut digest = TreeDigest::new();
                // The batch's nodes not hashed yet: hashed four at a time,
                // as soon as there are four, while their bytes are in the cache.
                let mut unhashed = [0usize; 4];
                let mut pending = 0;
                for item in r.entries_unhashed() {
                    let (entry, _) = item?;
                    batch.push(match entry {
                        SnapEntry::Session {
                            session_id,
                            timeout_ms,
                        } => Prepared::Session {
                            session_id,
                            timeout_ms,
                        },
                        SnapEntry::Acl { acl_ref, acls } => Prepared::Acl { acl_ref, acls },
                        SnapEntry::Node {
                            path,
                            data,
                            acl_ref,
                            stat,
                        } => {
                            let n = preparer.prepare(path, data, acl_ref, stat, prev_parent);
                            prev_parent = Some(n.parent());
                            unhashed[pending] = batch.len();
                            pending += 1;
                            Prepared::Node(n)
                        }
                    });
                    if pending == 4 {
                        let Ok([a, b, c, d]) = batch.get_disjoint_mut(unhashed) else {
                            unreachable!("four entries of the batch")
                        };
                        let (
                            Prepared::Node(a),
                            Prepared::Node(b),
                            Prepared::Node(c),
                            Prepared::Node(d),
                        ) = (a, b, c, d)
                        else {
                            unreachable!("four nodes")
                        };
                        for h in LoadingNode::hash_together([a, b, c, d]) {
                            digest.add_hash(h);
                        }
                        pending = 0;
                    }
                    if batch.len() == BATCH {
                        hash_each(&mut batch, &unhashed[..pending], &mut digest);
                        pending = 0;
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        let t = Instant::now();
                        if tx.send(full).is_err() {
                            // The builder gave up; its error is reported.
                            return Ok((thread_cpu(), waited, digest));
                        }
                        waited += t.elapsed();
                    }
                }
                hash_each(&mut batch, &unhashed[..pending], &mut digest);
                let _ = tx.send(batch);
                drop(tx);
                Ok((thread_cpu(), waited, digest))
            })
            .expect("spawn snapshot parser");
        // The builder's first error: after one, the builder only takes the
        // rest of the batches, so that the parser is never left waiting and
        // the digest of the whole file is still checked (a mismatch
        // explains the error).
        let mut failed = None;
        {
            // How many entries ahead the builder announces a node to the
            // tree, so that its index slot is in the cache when it comes
            // (see `DataTree::prefetch_loading`).
            const AHEAD: usize = 12;
            loop {
                let t = Instant::now();
                let Ok(batch) = rx.recv() else { break };
                builder_waited += t.elapsed();
                if failed.is_some() {
                    continue;
                }
                let mut batch = std::collections::VecDeque::from(batch);
                for e in batch.iter().take(AHEAD) {
                    if let Prepared::Node(n) = e {
                        tree.prefetch_loading(n);
                    }
                }
                while let Some(e) = batch.pop_front() {
                    if let Some(Prepared::Node(n)) = batch.get(AHEAD - 1) {
                        tree.prefetch_loading(n);
                    }
                    match e {
                        Prepared::Session {
                            session_id,
                            timeout_ms,
                        } => {
                            sessions.insert(session_id, timeout_ms);
                        }
                        Prepared::Acl { acl_ref, acls } => tree.load_acl(acl_ref, acls),
                        Prepared::Node(n) => {
                            if let Err(e) = tree.load_prepared(n) {
                                failed = Some(bad(e));
                                break;
                            }
                        }
                    }
                }
            }
        }
        // A file that fails its crc is reported as that, rather than as
        // whatever its damage looks like; then the parser's error (a
        // malformed entry, the counts) and the digest, which explain a
        // builder's error too.
        let parsed = parser.join().expect("snapshot parser panicked");
        check_cpu = check.join().expect("snapshot check panicked")?;
        let (cpu, waited, digest) = parsed?;
        parser_stats = (cpu, waited);
        r.verify_digest(digest)?;
        failed.map_or(Ok(()), Err)
    })?;
    tree.finish_load(zxid).map_err(bad)?;
    let ms = |d: Duration| d.as_millis();
    tracing::info!(
        "loaded {} in {} ms: parser {} ms of CPU (waited {} ms for the builder), \
         builder {} ms of CPU (waited {} ms for the parser), check {} ms of CPU",
        file.display(),
        ms(started.elapsed()),
        ms(parser_stats.0),
        ms(parser_stats.1),
        ms(thread_cpu().saturating_sub(builder_cpu)),
        ms(builder_waited),
        ms(check_cpu),
    );
    Ok(LoadedSnapshot {
        tree,
        sessions,
        zxid,
        file: file.to_owned(),
    })
}

/// The parser's CPU time, how long it waited for the builder, and the
/// digest of the nodes it read.
type ParserStats = (Duration, Duration, TreeDigest);

/// Hash the nodes at `at` in `batch` one at a time, into `digest`.
fn hash_each(batch: &mut [Prepared<'_>], at: &[usize], digest: &mut TreeDigest) {
    for &i in at {
        if let Prepared::Node(n) = &mut batch[i] {
            digest.add_hash(n.hash());
        }
    }
}

/// CPU time used so far by the calling thread (zero where it cannot be read).
pub(super) fn thread_cpu() -> Duration {
    #[cfg(unix)]
    {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes only the timespec it is given.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0 {
            return Duration::new(t.tv_sec as u64, t.tv_nsec as u32);
        }
    }
    Duration::ZERO
}
