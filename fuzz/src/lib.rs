//! What the fuzz targets share: an allocator that measures, the way a target
//! feeds bytes to a streaming decoder, encoders for decoded client requests,
//! and checksum fix-ups that let mutated log and snapshot files reach the
//! parsers behind their crcs.
//!
//! Every target asserts more than "no panic": what decodes re-encodes to bytes
//! that decode to the same value, and no decoder allocates from a length it read
//! off the wire ([`measure`] / [`assert_bounded`]).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::BytesMut;
use zab_core::jute::Record;
use zab_core::proto::{keeper_op, op, Op, PathRequest, SetWatches};

pub mod checks;

/// The system allocator, counting live bytes, their peak and the largest
/// single request. The targets run single-threaded, so one set of counters
/// describes one input.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(live, Ordering::Relaxed);
    LARGEST.fetch_max(by, Ordering::Relaxed);
}

// Safety: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        System.dealloc(p, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = System.realloc(p, layout, new_size);
        if !q.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// What [`measure`] saw while its closure ran.
#[derive(Clone, Copy, Debug)]
pub struct AllocStats {
    /// Most bytes live at once beyond those live when the closure started.
    pub peak: usize,
    /// The largest single allocation (or reallocation's new size).
    pub largest: usize,
}

/// Runs `f` and reports its allocations.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, AllocStats) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    LARGEST.store(0, Ordering::Relaxed);
    let r = f();
    let stats = AllocStats {
        peak: PEAK.load(Ordering::Relaxed).saturating_sub(base),
        largest: LARGEST.load(Ordering::Relaxed),
    };
    (r, stats)
}

/// Memory a decoder may use for `input_len` bytes of input: a fixed allowance
/// (`cap`: the frame cap the decoder was given, plus 256 KiB of slack for
/// small fixed-size buffers), plus `per_byte` times the input. A decoder that
/// sizes a buffer from a length field it has not checked against what is
/// there or against its cap breaks this at once: such lengths run to 2 GiB.
pub fn assert_bounded(
    what: &str,
    stats: AllocStats,
    input_len: usize,
    cap: usize,
    per_byte: usize,
) {
    let bound = cap + (256 << 10) + per_byte * input_len;
    assert!(
        stats.peak <= bound && stats.largest <= bound,
        "{what}: {input_len} input bytes made {} bytes live at peak, largest allocation {}; bound {bound}",
        stats.peak,
        stats.largest,
    );
}

/// Splits a target's input into a chunk size and the bytes a peer sent: the
/// first byte picks how the bytes arrive (0: all at once, n: n at a time), so
/// the fuzzer covers frames that straddle reads.
pub fn chunking(data: &[u8]) -> (usize, &[u8]) {
    match data.split_first() {
        None => (usize::MAX, &[]),
        Some((0, rest)) => (usize::MAX, rest),
        Some((&n, rest)) => (n as usize, rest),
    }
}

/// Feeds `wire` to `decode` `chunk` bytes at a time, as a socket would, and
/// calls `item` for each decoded item until the decoder errors (the connection
/// would be closed) or the bytes run out. Returns the decoder's error, if any.
pub fn feed<T, E>(
    wire: &[u8],
    chunk: usize,
    mut decode: impl FnMut(&mut BytesMut) -> Result<Option<T>, E>,
    mut item: impl FnMut(T),
) -> Option<E> {
    let mut buf = BytesMut::new();
    for part in wire.chunks(chunk.max(1)) {
        buf.extend_from_slice(part);
        loop {
            match decode(&mut buf) {
                Ok(Some(t)) => item(t),
                Ok(None) => break,
                Err(e) => return Some(e),
            }
        }
    }
    None
}

/// The body of a client request, re-encoded from its decoded form: what a
/// ZooKeeper client would send for `op`. `Op::parse(op_type, &encode_op(op_type,
/// &o)) == o` is the round trip the client targets check.
pub fn encode_op(op_type: i32, o: &Op) -> Vec<u8> {
    let mut out = Vec::new();
    match o {
        Op::Create { req, .. } => req.write(&mut out),
        Op::CreateTtl(r) => r.write(&mut out),
        Op::Delete(r) => r.write(&mut out),
        // ZooKeeper 3.9's DeleteContainerRequest; the parser also takes 3.8's bare path.
        Op::DeleteContainer { path } => PathRequest { path: path.clone() }.write(&mut out),
        Op::SetData(r) => r.write(&mut out),
        Op::SetAcl(r) => r.write(&mut out),
        Op::Check(r) => r.write(&mut out),
        Op::Reconfig(r) => r.write(&mut out),
        Op::Multi(r) | Op::MultiRead(r) => r.write(&mut out),
        Op::Exists(r) | Op::GetData(r) | Op::GetChildren(r) | Op::GetChildren2(r) => {
            r.write(&mut out)
        }
        Op::GetAcl(r) | Op::Sync(r) | Op::GetAllChildrenNumber(r) | Op::GetEphemerals(r) => {
            r.write(&mut out)
        }
        Op::CheckWatches(r) | Op::RemoveWatches(r) => r.write(&mut out),
        // The old setWatches has no persistent watches; the parser fills in none.
        Op::SetWatches(r) if op_type == op::SET_WATCHES => SetWatches {
            relative_zxid: r.relative_zxid,
            data_watches: r.data_watches.clone(),
            exist_watches: r.exist_watches.clone(),
            child_watches: r.child_watches.clone(),
        }
        .write(&mut out),
        Op::SetWatches(r) => r.write(&mut out),
        Op::AddWatch(r) => r.write(&mut out),
        Op::Auth(r) => r.write(&mut out),
        Op::Sasl(r) => r.write(&mut out),
        Op::CloseSession | Op::WhoAmI | Op::Ping | Op::Unimplemented(_) => {}
        // ClickHouse Keeper's extensions.
        Op::FilteredList(r) => r.write(&mut out),
        Op::FilteredListWithStats(r) => r.write(&mut out),
        Op::CheckNotExists(r) => r.write(&mut out),
        Op::CheckStat(r) => r.write(&mut out),
        Op::CreateIfNotExists(r) => r.write(&mut out),
        Op::RemoveRecursive(r) => r.write(&mut out),
        Op::TryRemove(r) => r.write(&mut out),
        Op::ListRecursive(r) => r.write(&mut out),
    }
    out
}

/// Every op code of the client protocol and the transaction log, and a few
/// that are not: the client targets pick one with a byte of their input.
pub const OP_CODES: [i32; op::ALL.len() + 4 + keeper_op::ALL.len()] = {
    // The committed seeds' first byte indexes this table: regenerate them
    // (examples/gen_seeds.rs) when it changes. ClickHouse Keeper's codes come
    // last, so that the indexes of the seeds before them stay what they were.
    let extra = [10, 23, 999, i32::MIN];
    let mut all = [0; op::ALL.len() + 4 + keeper_op::ALL.len()];
    let mut i = 0;
    while i < all.len() {
        all[i] = if i < op::ALL.len() {
            op::ALL[i]
        } else if i < op::ALL.len() + 4 {
            extra[i - op::ALL.len()]
        } else {
            keeper_op::ALL[i - op::ALL.len() - 4]
        };
        i += 1;
    }
    all
};

/// Rewrites the checksums of the log records in `file` from `offset` on, so
/// that a mutated length, zxid or payload is judged by the record decoder's
/// later rules instead of failing its first crc. End bytes are left as they
/// are; a record whose length runs past the end gets only its header crc.
pub fn fix_record_crcs(file: &mut [u8], mut offset: usize) {
    use zab_storage::record::{record_len, RECORD_HEADER_LEN};
    while offset + RECORD_HEADER_LEN <= file.len() {
        let h = offset;
        if file[h..h + RECORD_HEADER_LEN].iter().all(|&b| b == 0) {
            return;
        }
        let len = u32::from_be_bytes(file[h + 4..h + 8].try_into().unwrap()) as usize;
        let body = h + RECORD_HEADER_LEN;
        let fits = len > 0 && h + record_len(len) <= file.len();
        if fits {
            let payload_crc = crc32fast::hash(&file[body..body + len]);
            file[h + 16..h + 20].copy_from_slice(&payload_crc.to_be_bytes());
        }
        let crc = crc32fast::hash(&file[h + 4..h + RECORD_HEADER_LEN]);
        file[h..h + 4].copy_from_slice(&crc.to_be_bytes());
        if !fits {
            return;
        }
        offset = h + record_len(len);
    }
}

/// Rewrites a snapshot's trailing crc (the last 4 bytes, over everything
/// before them), so that mutated entries reach the entry parser.
pub fn fix_snapshot_crc(file: &mut [u8]) {
    if file.len() >= 4 {
        let n = file.len() - 4;
        let crc = crc32fast::hash(&file[..n]);
        file[n..].copy_from_slice(&crc.to_be_bytes());
    }
}

/// A scratch directory for targets that need files: on tmpfs when there is
/// one, so a run is not bound by the disk.
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::Builder::new().prefix("zk-fuzz").tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().expect("a temporary directory")
}

/// Decodes `b` as `R`; if that works, checks that the re-encoded value decodes
/// to the same value, and returns it.
pub fn round_trip<R: Record + PartialEq + std::fmt::Debug>(what: &str, b: &[u8]) -> Option<R> {
    let r = R::from_bytes(b).ok()?;
    let again = R::from_bytes(&r.to_bytes());
    assert!(
        again.as_ref() == Ok(&r),
        "{what}: decoded {r:?}, its encoding decodes to {again:?}"
    );
    Some(r)
}
