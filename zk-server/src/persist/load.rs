//! Loading one snapshot file into a fresh tree, on three threads.
//!
//! ```text
//! parser thread:  mapped file -> entries -> prepared node (path split, name
//!                 hashed, name+data allocated) -> digest hash per node, four
//!                 at a time; a batch whenever the builder is about to run
//!                 out only located (tags and lengths read), for it to
//!                 decode and prepare
//! builder thread: batches in file order -> (the located ones decoded and
//!                 prepared as the parser does) -> sessions, ACLs, nodes into
//!                 the tree (index and links), prefetching a few entries ahead
//! check thread:   the tree's fresh arena and index faulted in, then the crc
//!                 over the whole file (which maps its pages ahead of the parser)
//! ```
//!
//! Preparing a node costs about three times what inserting it does, so the
//! builder, which would otherwise wait for the parser most of the load, takes
//! a share of the preparing ([`SPLIT`]: whenever fewer than two batches wait
//! for it, so that the share follows what CPU each thread gets); it still
//! inserts every entry in the file's order.
//!
//! Apache's tree digest comes from the trailer (version 3 on: the writer's sum
//! over the node entries, [`DataTree::preset_apache_digest`]); for an older
//! file the builder computes each node's part as it inserts it.
//!
//! The parser and the builder meet in bounded batches of entries that borrow
//! the map. Whatever fails, the tree is dropped; a crc that fails is the
//! error reported, whatever else failed, then a malformed entry (whichever
//! thread decoded it), then a digest that does not match, then the builder's.
//! The file format and its checks are `zab-storage`'s; building the tree is
//! `tree/load.rs`'s; choosing which snapshot to load is `recover.rs`'s.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use zab_core::records::Acl;
use zab_core::Zxid;
use zab_storage::{SnapEntry, SnapshotReader, Span, StorageError, TreeDigest};

use super::PersistError;
use crate::config::Config;
use crate::tree::{DataTree, LoadingNode, NodePreparer};

/// An entry as the parser hands it to the builder. The parser also prepares
/// each node for the tree (its allocation, its path split and hashed) and
/// hashes it for the digest, which leaves the builder the index and the links.
enum Prepared<'a> {
    Session { session_id: i64, timeout_ms: i32 },
    Acl { acl_ref: i64, acls: Vec<Acl> },
    Node(LoadingNode<'a>),
}

/// What the parser hands the builder, in the file's order.
enum Batch<'a> {
    /// Entries the parser decoded, prepared and hashed.
    Prepared(Vec<Prepared<'a>>),
    /// Entries the parser only located, for the builder to decode, prepare
    /// and hash itself.
    Span(Span),
}

/// How the parser and the builder share the entries' decoding and
/// preparation, in batches of `batch` entries: a batch the builder takes is
/// only located by the parser ([`Entries::skip_span`], which reads an entry's
/// tag and lengths and counts it) and decoded, prepared and hashed by the
/// builder; the parser prepares the others.
#[derive(Clone, Copy, Debug)]
struct Split {
    batch: usize,
    share: Share,
}

/// Which batches the builder takes.
#[derive(Clone, Copy, Debug)]
enum Share {
    /// Of every `period` batches, the first `builder`: the tests' way to put
    /// the builder's batches at every place, whatever the timing.
    #[cfg_attr(not(test), allow(dead_code))]
    Fixed { builder: usize, period: usize },
    /// Each batch for which fewer than `waiting` batches wait for the
    /// builder: it takes work whenever it is about to run out, and the
    /// parser keeps the rest. The share follows what each thread gets of
    /// the CPU, which a fixed share cannot.
    Idle { waiting: usize },
}

impl Split {
    /// Whether the builder decodes the `chunk`th batch, `queued` batches
    /// waiting for it.
    fn builders(&self, chunk: usize, queued: usize) -> bool {
        match self.share {
            Share::Fixed { builder, period } => chunk % period < builder,
            Share::Idle { waiting } => queued < waiting,
        }
    }
}

/// Preparing a node costs the parser about three times what inserting it
/// costs the builder (~190 and ~50 ms of CPU for 1M nodes, when the parser
/// prepared them all); shared by [`Share::Idle`], each takes ~125 ms on a
/// quiet machine (docs/performance.md, "Restart: the load's threads
/// balanced").
const SPLIT: Split = Split {
    batch: 2048,
    share: Share::Idle { waiting: 2 },
};

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
/// entries that borrow the map (some of which the builder decodes and
/// hashes itself); the third faults in the tree's fresh memory and checks
/// the crc meanwhile. Whatever fails, the tree is dropped.
pub fn load_snapshot(cfg: &Config, file: &Path) -> Result<LoadedSnapshot, PersistError> {
    load_snapshot_split(cfg, file, SPLIT)
}

/// [`load_snapshot`], the entries shared as `split` says.
fn load_snapshot_split(
    cfg: &Config,
    file: &Path,
    split: Split,
) -> Result<LoadedSnapshot, PersistError> {
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
    let preparer = tree.node_preparer();
    let fresh = tree.fresh_memory();
    let started = Instant::now();
    let builder_cpu = thread_cpu();
    // What each thread spent (CPU) and waited for the other (wall), for the
    // log line below: which of the two bounds the load.
    let mut parser_stats = (Duration::ZERO, Duration::ZERO);
    let mut builder_waited = Duration::ZERO;
    let mut check_cpu = (Duration::ZERO, Duration::ZERO);
    // Batches sent and not yet taken by the builder.
    let queued = AtomicUsize::new(0);
    std::thread::scope(|scope| -> Result<(), PersistError> {
        let check = std::thread::Builder::new()
            .name("snapshot-check".into())
            .spawn_scoped(scope, || {
                // The builder's pages first: it needs them soon, while the
                // parser's first pages of the file are read by the parser.
                fresh.populate();
                let populated = thread_cpu();
                r.verify_crc().map(|()| (thread_cpu(), populated))
            })
            .expect("spawn snapshot check");
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch<'_>>(16);
        let parser = std::thread::Builder::new()
            .name("snapshot-parse".into())
            .spawn_scoped(scope, || -> Result<ParserStats, StorageError> {
                let tx = tx;
                let mut waited = Duration::ZERO;
                let mut digest = TreeDigest::new();
                let mut entries = r.entries_unhashed();
                let mut batch = Vec::with_capacity(split.batch);
                let mut p = Preparing::new(&preparer);
                let mut chunk = 0;
                loop {
                    if batch.is_empty() && split.builders(chunk, queued.load(Relaxed)) {
                        // Only located here; the builder decodes it. The
                        // next node prepared here follows one it did not see.
                        p.prev_parent = None;
                        chunk += 1;
                        let span = match entries.skip_span(split.batch) {
                            Some(span) => span?,
                            None => break,
                        };
                        let t = Instant::now();
                        queued.fetch_add(1, Relaxed);
                        if tx.send(Batch::Span(span)).is_err() {
                            // The builder gave up; its error is reported.
                            return Ok((thread_cpu(), waited, digest));
                        }
                        waited += t.elapsed();
                        continue;
                    }
                    let Some(item) = entries.next() else { break };
                    p.push(&mut batch, item?.0, &mut digest);
                    if batch.len() == split.batch {
                        p.finish(&mut batch, &mut digest);
                        chunk += 1;
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(split.batch));
                        let t = Instant::now();
                        queued.fetch_add(1, Relaxed);
                        if tx.send(Batch::Prepared(full)).is_err() {
                            // The builder gave up; its error is reported.
                            return Ok((thread_cpu(), waited, digest));
                        }
                        waited += t.elapsed();
                    }
                }
                p.finish(&mut batch, &mut digest);
                queued.fetch_add(1, Relaxed);
                let _ = tx.send(Batch::Prepared(batch));
                drop(tx);
                Ok((thread_cpu(), waited, digest))
            })
            .expect("spawn snapshot parser");
        // The builder's first error: after one, the builder only takes the
        // rest of the batches (and hashes the spans it was to decode), so
        // that the parser is never left waiting and the digest of the whole
        // file is still checked (a mismatch explains the error). A span it
        // cannot decode is the parser's kind of error, and stops it too.
        let mut failed = None;
        let mut span_failed = None;
        let mut builder_digest = TreeDigest::new();
        {
            // The builder's own batches, one allocation for them all.
            let mut own = Vec::with_capacity(split.batch);
            loop {
                let t = Instant::now();
                let Ok(batch) = rx.recv() else { break };
                builder_waited += t.elapsed();
                queued.fetch_sub(1, Relaxed);
                if span_failed.is_some() {
                    continue;
                }
                let (mut batch, mine) = match batch {
                    Batch::Prepared(_) if failed.is_some() => continue,
                    Batch::Prepared(batch) => (VecDeque::from(batch), false),
                    Batch::Span(span) if failed.is_some() => {
                        for item in r.span_entries(span, true) {
                            match item {
                                Ok((_, hash)) => builder_digest.add_hash(hash),
                                Err(e) => {
                                    span_failed = Some(e);
                                    break;
                                }
                            }
                        }
                        continue;
                    }
                    Batch::Span(span) => {
                        let mut p = Preparing::new(&preparer);
                        for item in r.span_entries(span, false) {
                            match item {
                                Ok((e, _)) => p.push(&mut own, e, &mut builder_digest),
                                Err(e) => {
                                    span_failed = Some(e);
                                    break;
                                }
                            }
                        }
                        p.finish(&mut own, &mut builder_digest);
                        if span_failed.is_some() {
                            own.clear();
                            continue;
                        }
                        (VecDeque::from(std::mem::take(&mut own)), true)
                    }
                };
                if let Err(e) = build(&mut tree, &mut sessions, &mut batch) {
                    failed = Some(bad(e));
                }
                if mine {
                    // Empty now (or dropped after an error): keep its
                    // allocation. The parser's batches are freed as they
                    // come, where its next records are carved from.
                    batch.clear();
                    own = Vec::from(batch);
                }
            }
        }
        // A file that fails its crc is reported as that, rather than as
        // whatever its damage looks like; then a malformed entry (the
        // builder's spans lie before wherever the parser stopped) and the
        // counts, and the digest, which explain a builder's error too.
        let parsed = parser.join().expect("snapshot parser panicked");
        check_cpu = check.join().expect("snapshot check panicked")?;
        if let Some(e) = span_failed {
            return Err(e.into());
        }
        let (cpu, waited, mut digest) = parsed?;
        parser_stats = (cpu, waited);
        digest.add_hash(builder_digest.value());
        r.verify_digest(digest)?;
        failed.map_or(Ok(()), Err)
    })?;
    tree.finish_load(zxid).map_err(bad)?;
    let ms = |d: Duration| d.as_millis();
    tracing::info!(
        "loaded {} in {} ms: parser {} ms of CPU (waited {} ms for the builder), \
         builder {} ms of CPU (waited {} ms for the parser), check {} ms of CPU \
         ({} ms faulting in the tree's memory)",
        file.display(),
        ms(started.elapsed()),
        ms(parser_stats.0),
        ms(parser_stats.1),
        ms(thread_cpu().saturating_sub(builder_cpu)),
        ms(builder_waited),
        ms(check_cpu.0),
        ms(check_cpu.1),
    );
    unmap_aside(r);
    Ok(LoadedSnapshot {
        tree,
        sessions,
        zxid,
        file: file.to_owned(),
    })
}

/// Drop the reader, and with it the file's map, on a thread of its own:
/// unmapping a snapshot of 1M nodes (~200 MB, every page of it mapped by the
/// load) takes ~8 ms, which the replay and serving need not wait for.
fn unmap_aside(r: SnapshotReader) {
    // Without a thread, the closure and the reader in it are dropped here.
    let _ = std::thread::Builder::new()
        .name("snapshot-unmap".into())
        .spawn(move || drop(r));
}

/// The parser's CPU time, how long it waited for the builder, and the
/// digest of the nodes it prepared.
type ParserStats = (Duration, Duration, TreeDigest);

/// Prepares entries into batches for the builder: each node made ready for
/// the tree ([`NodePreparer::prepare`]) and hashed for the digest, four at a
/// time, as soon as there are four, while their bytes are in the cache.
struct Preparing<'p, 'a> {
    preparer: &'p NodePreparer,
    /// The parent of the node prepared just before, if it was prepared here
    /// (see [`NodePreparer::prepare`]).
    prev_parent: Option<&'a str>,
    /// Where in the batch the nodes not hashed yet are.
    unhashed: [usize; 4],
    pending: usize,
}

impl<'p, 'a> Preparing<'p, 'a> {
    fn new(preparer: &'p NodePreparer) -> Self {
        Preparing {
            preparer,
            prev_parent: None,
            unhashed: [0; 4],
            pending: 0,
        }
    }

    /// Prepare `entry` onto the end of `batch`, hashing into `digest`.
    #[inline(always)]
    fn push(
        &mut self,
        batch: &mut Vec<Prepared<'a>>,
        entry: SnapEntry<'a>,
        digest: &mut TreeDigest,
    ) {
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
                let n = self
                    .preparer
                    .prepare(path, data, acl_ref, stat, self.prev_parent);
                self.prev_parent = Some(n.parent());
                self.unhashed[self.pending] = batch.len();
                self.pending += 1;
                Prepared::Node(n)
            }
        });
        if self.pending == 4 {
            hash_four(batch, self.unhashed, digest);
            self.pending = 0;
        }
    }

    /// Hash the batch's nodes not hashed yet, before it goes.
    fn finish(&mut self, batch: &mut [Prepared<'a>], digest: &mut TreeDigest) {
        hash_each(batch, &self.unhashed[..self.pending], digest);
        self.pending = 0;
    }
}

/// Put a batch's entries into the tree, in order, emptying it; the first
/// error ends it.
fn build(
    tree: &mut DataTree,
    sessions: &mut HashMap<i64, i32>,
    batch: &mut VecDeque<Prepared<'_>>,
) -> Result<(), String> {
    // How many entries ahead the builder announces a node to the tree, so
    // that its index slot is in the cache when it comes (see
    // `DataTree::prefetch_loading`).
    const AHEAD: usize = 12;
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
            Prepared::Node(n) => tree.load_prepared(n)?,
        }
    }
    Ok(())
}

/// Hash the four nodes at `at` in `batch` together, into `digest`.
#[inline]
fn hash_four(batch: &mut [Prepared<'_>], at: [usize; 4], digest: &mut TreeDigest) {
    let Ok([a, b, c, d]) = batch.get_disjoint_mut(at) else {
        unreachable!("four entries of the batch")
    };
    let (Prepared::Node(a), Prepared::Node(b), Prepared::Node(c), Prepared::Node(d)) = (a, b, c, d)
    else {
        unreachable!("four nodes")
    };
    for h in LoadingNode::hash_together([a, b, c, d]) {
        digest.add_hash(h);
    }
}

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

#[cfg(test)]
mod tests {
    use zab_core::records::{Acl, Id, StatPersisted};
    use zab_storage::SnapshotWriter;

    use super::*;

    fn cfg(dir: &Path) -> Config {
        Config::parse(&format!("dataDir={}\n", dir.display()), "test").unwrap()
    }

    fn stat(i: i64) -> StatPersisted {
        StatPersisted {
            czxid: i,
            mzxid: i + 1,
            ctime: 1_700_000_000_000 + i,
            mtime: 1_700_000_000_000 + i,
            version: (i % 5) as i32,
            cversion: 2,
            aversion: 0,
            ephemeral_owner: if i % 7 == 6 { 0x1000 } else { 0 },
            pzxid: i + 2,
        }
    }

    /// Depth-first, as snapshots list nodes: `/a<i>/b<j>/c<k>`, so that a
    /// node's parent is often not the previous node's (`/a0/b1` after
    /// `/a0/b0/c1`); some data null, some empty; an ACL row and a session
    /// between the nodes. `write` gets each entry in order.
    fn entries(mut write: impl FnMut(Entry)) {
        write(Entry::Session(0x1000, 30_000));
        write(Entry::Acl(1, Acl::open_unsafe()));
        let mut i = 0;
        let mut node = |write: &mut dyn FnMut(Entry), path: String, acl: i64| {
            i += 1;
            let data = (i % 4 != 3).then(|| format!("d{i}").repeat((i % 3) as usize));
            write(Entry::Node(
                path,
                data.map(String::into_bytes),
                acl,
                stat(i),
            ));
        };
        node(&mut write, "/".into(), 1);
        for a in 0..4 {
            node(&mut write, format!("/a{a}"), 1);
            if a == 2 {
                let bob = Id::new("digest", "bob:hash");
                write(Entry::Acl(2, vec![Acl { perms: 31, id: bob }]));
            }
            for b in 0..3 {
                node(&mut write, format!("/a{a}/b{b}"), 1 + (a >= 2) as i64);
                for c in 0..2 {
                    node(&mut write, format!("/a{a}/b{b}/c{c}"), 1);
                }
            }
        }
    }

    enum Entry {
        Session(i64, i32),
        Acl(i64, Vec<Acl>),
        Node(String, Option<Vec<u8>>, i64, StatPersisted),
    }

    /// The snapshot of [`entries`] at zxid 0x100, with `damage` applied to
    /// its bytes (the crc made right again), and the tree loaded one node
    /// at a time on this thread.
    fn snapshot(dir: &Path, damage: impl FnOnce(&mut Vec<u8>)) -> (PathBuf, DataTree) {
        let mut w = SnapshotWriter::create(dir, Zxid(0x100)).unwrap();
        let mut digest = TreeDigest::new();
        let mut tree = DataTree::with_capacity(false, 64);
        entries(|e| match e {
            Entry::Session(id, timeout) => w.write_session(id, timeout).unwrap(),
            Entry::Acl(id, acl) => {
                w.write_acl(id, &acl).unwrap();
                tree.load_acl(id, acl);
            }
            Entry::Node(path, data, acl, stat) => {
                w.write_node(&path, data.as_deref(), acl, &stat).unwrap();
                digest.add(&path, data.as_deref().unwrap_or_default(), &stat);
                tree.load_node(&path, data.as_deref(), acl, stat).unwrap();
            }
        });
        let file = w.finish(digest.value()).unwrap();
        tree.finish_load(Zxid(0x100)).unwrap();
        let mut b = std::fs::read(&file).unwrap();
        damage(&mut b);
        let n = b.len() - 4;
        let crc = crc32fast::hash(&b[..n]);
        b[n..].copy_from_slice(&crc.to_be_bytes());
        std::fs::write(&file, &b).unwrap();
        (file, tree)
    }

    type Nodes = Vec<(String, Option<Vec<u8>>, i64, StatPersisted)>;

    fn nodes(t: &DataTree) -> Nodes {
        t.iter()
            .map(|(p, n)| {
                (
                    p,
                    n.data_opt().map(<[u8]>::to_vec),
                    n.acl().id,
                    n.persisted(),
                )
            })
            .collect()
    }

    fn splits() -> Vec<Split> {
        let mut v = Vec::new();
        for batch in [1, 2, 3, 5, 2048] {
            for (builder, period) in [(0, 1), (1, 1), (1, 2), (1, 3), (2, 3), (2, 5)] {
                let share = Share::Fixed { builder, period };
                v.push(Split { batch, share });
            }
            for waiting in [1, 2, 4] {
                let share = Share::Idle { waiting };
                v.push(Split { batch, share });
            }
        }
        v
    }

    /// The builder takes a batch when fewer than `waiting` wait for it,
    /// wherever the batch is; a fixed share goes by the batch's place.
    #[test]
    fn the_builder_takes_a_batch_when_it_is_about_to_run_out() {
        let idle = Split {
            batch: 2048,
            share: Share::Idle { waiting: 2 },
        };
        let took: Vec<bool> = [0, 1, 2, 3, 16].map(|q| idle.builders(7, q)).into();
        assert_eq!(took, [true, true, false, false, false]);
        let fixed = Split {
            batch: 2048,
            share: Share::Fixed {
                builder: 2,
                period: 5,
            },
        };
        let took: Vec<bool> = (0..6).map(|c| fixed.builders(c, 0)).collect();
        assert_eq!(took, [true, true, false, false, false, true]);
    }

    /// However the entries are shared between the parser and the builder
    /// (the builder's batches at every place, of every size), the tree is
    /// the one the entries make one at a time: every node under its own
    /// parent (a node the parser prepares after one the builder prepared is
    /// not taken for its sibling), with its data, ACL and Stat, and the same
    /// digests and sessions.
    #[test]
    fn the_builders_share_of_the_entries_loads_the_same_tree() {
        let d = tempfile::tempdir().unwrap();
        let (file, want) = snapshot(d.path(), |_| {});
        for split in splits() {
            let got = load_snapshot_split(&cfg(d.path()), &file, split).unwrap();
            assert_eq!(nodes(&got.tree), nodes(&want), "{split:?}");
            assert_eq!(got.tree.digest(), want.digest(), "{split:?}");
            assert_eq!(got.tree.apache_digest(), want.apache_digest(), "{split:?}");
            assert_eq!(got.sessions, HashMap::from([(0x1000, 30_000)]), "{split:?}");
        }
    }

    /// A path that is not UTF-8 is found by whichever thread decodes it, and
    /// reported as the malformed entry it is, not as the digest it breaks.
    #[test]
    fn a_malformed_entry_in_the_builders_share_is_reported_as_such() {
        let d = tempfile::tempdir().unwrap();
        let (file, _) = snapshot(d.path(), |b| {
            let at = b.windows(6).position(|w| w == b"/a3/b1").unwrap();
            b[at + 1] = 0xff;
        });
        for split in splits() {
            match load_snapshot_split(&cfg(d.path()), &file, split) {
                Err(PersistError::Storage(StorageError::SnapshotMalformed { reason, .. })) => {
                    assert!(reason.contains("utf-8"), "{split:?}: {reason}")
                }
                Err(e) => panic!("{split:?}: {e}"),
                Ok(_) => panic!("{split:?}: loaded"),
            }
        }
    }

    /// A node whose parent is missing stops the builder; the spans it was
    /// still to decode are hashed all the same, so the digest checks out and
    /// the error reported is the missing parent's.
    #[test]
    fn an_orphan_in_the_builders_share_is_reported_as_such() {
        let d = tempfile::tempdir().unwrap();
        // "/a1" renamed "/x1": its children have no parent. The digest is
        // the writer's, over the renamed path, so it still matches.
        let (file, _) = snapshot(d.path(), |_| {});
        let mut w = SnapshotWriter::create(d.path(), Zxid(0x200)).unwrap();
        let mut digest = TreeDigest::new();
        entries(|e| match e {
            Entry::Session(id, timeout) => w.write_session(id, timeout).unwrap(),
            Entry::Acl(id, acl) => w.write_acl(id, &acl).unwrap(),
            Entry::Node(path, data, acl, stat) => {
                let path = if path == "/a1" { "/x1".into() } else { path };
                w.write_node(&path, data.as_deref(), acl, &stat).unwrap();
                digest.add(&path, data.as_deref().unwrap_or_default(), &stat);
            }
        });
        let orphaned = w.finish(digest.value()).unwrap();
        assert_ne!(orphaned, file);
        for split in splits() {
            match load_snapshot_split(&cfg(d.path()), &orphaned, split) {
                Err(PersistError::BadSnapshot { why, .. }) => {
                    assert!(why.contains("has no parent /a1"), "{split:?}: {why}")
                }
                Err(e) => panic!("{split:?}: {e}"),
                Ok(_) => panic!("{split:?}: loaded"),
            }
        }
    }
}
