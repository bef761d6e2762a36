//! The watch tables' own heap, per watch, counted by a global allocator: what
//! `zk-scale --scenarios watches` measures as the server's RSS, without the memory the
//! allocator keeps after the registration's burst of requests and replies
//! (docs/performance.md, "Memory per watch").
//!
//! `cargo run --release -p zk-server --example watch_memory`
//!
//! Bytes are those asked of the allocator (malloc's own chunk headers, 8 bytes a chunk,
//! are not counted; the tables here are a few large allocations, so they hardly matter).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use zk_server::watch::WatchManager;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; the counters are
// only read.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: as the caller promised for `l`.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: as the caller promised for `p` and `l`.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// `sessions` sessions each watching the same `paths` nodes (getData), registered
/// round-robin as pipelining sessions interleave; prints live and peak bytes per watch.
fn case(what: &str, sessions: i64, paths: usize) {
    let names: Vec<String> = (0..paths).map(|i| format!("/w/n{i:06}")).collect();
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let mut w = WatchManager::default();
    for p in &names {
        for s in 0..sessions {
            w.add_data_watch(p, 0x100_0000_0000_0000 + s);
        }
    }
    let n = w.watch_count();
    assert_eq!(n, sessions as usize * paths);
    let live = LIVE.load(Ordering::Relaxed) - base;
    let peak = PEAK.load(Ordering::Relaxed) - base;
    println!(
        "{what}: {n} watches, {:.1} B per watch live, {:.1} B at the peak",
        live as f64 / n as f64,
        peak as f64 / n as f64
    );
    for s in 0..sessions {
        w.remove_session(0x100_0000_0000_0000 + s);
    }
    assert_eq!(w.watch_count(), 0);
}

fn main() {
    case("1,000 sessions x 1,000 paths (zk-scale)", 1_000, 1_000);
    case("1 session x 1,000,000 paths", 1, 1_000_000);
    case("10,000 sessions x 1 path", 10_000, 1);
    case("10 sessions x 100,000 paths", 10, 100_000);
}
