//! Giving free memory back to the kernel after a burst: glibc's `malloc_trim(0)`, called
//! from a thread of its own when the process has freed a lot since the last call.
//!
//! glibc's malloc keeps what a burst frees (1,000 sessions pipelining 1,000 watch
//! registrations each, 10,000 sessions connecting or closing, large values deleted) as
//! free chunks spread over its arenas' pages, and gives back only the free top of each
//! heap by itself. A long-running server's RSS then stays at its high-water mark: 89-200 B
//! per watch after the watches scenario where the tables hold 29 B, until something calls
//! `malloc_trim(0)`, which also releases the free pages inside the heaps
//! (docs/performance.md, "Memory per watch").
//!
//! What this module owns:
//!
//! - the signal: [`CountingAlloc`], the server binary's global allocator, passes every
//!   call to the system allocator and counts the bytes live, per thread, flushed to the
//!   process's counters every [`FLUSH_BYTES`] of net change, which also keep the peak
//!   since the last trim. The peak less the bytes live now is what was freed since the
//!   last trim, net of what was allocated again. Reading it is two atomic loads; glibc's
//!   own figure (`mallinfo2`'s free bytes) walks every free chunk of every arena under
//!   the arena's lock, which in a fragmented heap is as slow as the trim itself.
//! - the decision: [`TrimPolicy`], fed one sample at a time: trim once the bytes freed
//!   since the last trim reach the threshold, the bytes live are not growing (a burst
//!   still under way would only fault the pages in again) and the last trim is at least
//!   the minimum interval ago, and at least [`QUIET_PER_TRIM`] times as long ago as it
//!   took: trims hold arena locks at most 1 % of the time, however often bursts come.
//! - the trimmer: [`spawn`] runs the policy on a thread of its own (`zk-trim`, neither
//!   the core's task nor a runtime worker: `malloc_trim` holds each arena's lock while it
//!   walks it, tens of milliseconds after a burst, and a request only waits if its thread
//!   allocates from the arena being walked), which logs each trim at debug with the RSS
//!   before and after and how long it took.
//!
//! Settings (ours, not Apache's; zoo.cfg keys, or `-Dzookeeper.<key>` in
//! `SERVER_JVMFLAGS`): `memory.trim.enabled` (true), `memory.trim.thresholdMB` (32),
//! `memory.trim.intervalMs` (250, the least time between two trims). Only glibc has
//! `malloc_trim`; elsewhere the allocator still counts and [`spawn`] is never called
//! (see [`supported`]).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use crate::config::Config;

/// A thread's count of bytes allocated less bytes freed goes to the process's counters
/// once it reaches this much either way. Larger means fewer atomic operations, smaller
/// a closer figure: each thread holds back less than this, and a thread that exits takes
/// its part with it (so the figure drifts by less than this per exited thread).
pub const FLUSH_BYTES: isize = 64 * 1024;

/// Bytes live, as flushed by the threads.
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// The highest `LIVE` since the last trim (or start).
static PEAK: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    // Const-initialised and without a destructor: reading it never allocates, so the
    // allocator can use it, and it can be read while the thread is exiting.
    static PENDING: Cell<isize> = const { Cell::new(0) };
}

/// The system allocator, counting the bytes live (see the module's header). Installed as
/// the global allocator by the server's binary.
pub struct CountingAlloc;

#[inline]
fn count(delta: isize) {
    let flush = PENDING.try_with(|p| {
        let d = p.get() + delta;
        if d.abs() < FLUSH_BYTES {
            p.set(d);
            None
        } else {
            p.set(0);
            Some(d)
        }
    });
    let d = match flush {
        Ok(None) => return,
        Ok(Some(d)) => d,
        Err(_) => delta,
    };
    let live = LIVE.fetch_add(d, Ordering::Relaxed) + d;
    if d > 0 {
        PEAK.fetch_max(live, Ordering::Relaxed);
    }
}

// SAFETY: every call goes to the system allocator unchanged; counting only reads the
// sizes and touches a thread-local cell and two atomics, none of which allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: as the caller promised for `l`.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            count(l.size() as isize);
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: as the caller promised for `l`.
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            count(l.size() as isize);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        count(-(l.size() as isize));
        // SAFETY: as the caller promised for `p` and `l`.
        unsafe { System.dealloc(p, l) }
    }

    #[inline]
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as the caller promised for `p`, `l` and `new_size`.
        let q = unsafe { System.realloc(p, l, new_size) };
        if !q.is_null() {
            count(new_size as isize - l.size() as isize);
        }
        q
    }
}

/// The two counters at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Bytes live.
    pub live: isize,
    /// The most bytes live since the last trim.
    pub peak: isize,
}

impl Counts {
    /// Bytes freed since the last trim, net of what was allocated again.
    pub fn freed(&self) -> usize {
        self.peak.saturating_sub(self.live).max(0) as usize
    }
}

/// What [`CountingAlloc`] has counted so far (all zero when it is not the global
/// allocator).
pub fn counts() -> Counts {
    Counts {
        live: LIVE.load(Ordering::Relaxed),
        peak: PEAK.load(Ordering::Relaxed),
    }
}

/// Starts a new peak from the bytes live now: what was freed before has been given back.
pub fn reset_peak() {
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// When to trim, from `memory.trim.*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrimSettings {
    /// `memory.trim.enabled`.
    pub enabled: bool,
    /// `memory.trim.thresholdMB`, in bytes: trim once this much was freed.
    pub threshold_bytes: usize,
    /// `memory.trim.intervalMs`: the least time between two trims.
    pub min_interval: Duration,
    /// How often the trimmer samples the counters.
    pub sample_every: Duration,
}

/// `memory.trim.enabled`'s property.
pub const ENABLED_PROP: &str = "zookeeper.memory.trim.enabled";
/// `memory.trim.thresholdMB`'s property.
pub const THRESHOLD_PROP: &str = "zookeeper.memory.trim.thresholdMB";
/// `memory.trim.intervalMs`'s property.
pub const INTERVAL_PROP: &str = "zookeeper.memory.trim.intervalMs";

impl Default for TrimSettings {
    fn default() -> Self {
        TrimSettings {
            enabled: true,
            threshold_bytes: 32 << 20,
            min_interval: Duration::from_millis(250),
            sample_every: Duration::from_millis(250),
        }
    }
}

/// After a trim that took `d`, the next waits at least `QUIET_PER_TRIM * d`: a trim holds
/// each arena's lock while it walks it, so this keeps that to 1 % of the time.
pub const QUIET_PER_TRIM: u32 = 100;

impl TrimSettings {
    /// The settings `cfg` gives (zoo.cfg or `-D`); a value that does not parse is
    /// logged and the default kept.
    pub fn from_config(cfg: &Config) -> TrimSettings {
        let mut s = TrimSettings::default();
        if let Some(v) = cfg.prop(ENABLED_PROP) {
            match v.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" => s.enabled = true,
                "false" | "no" => s.enabled = false,
                _ => tracing::warn!("memory.trim.enabled={v:?} is not true or false; trimming"),
            }
        }
        if let Some(v) = cfg.prop(THRESHOLD_PROP) {
            match v.trim().parse::<usize>() {
                Ok(mb) if mb > 0 => s.threshold_bytes = mb << 20,
                _ => tracing::warn!(
                    "memory.trim.thresholdMB={v:?} is not a positive number; using {}",
                    s.threshold_bytes >> 20
                ),
            }
        }
        if let Some(v) = cfg.prop(INTERVAL_PROP) {
            match v.trim().parse::<u64>() {
                Ok(ms) => s.min_interval = Duration::from_millis(ms),
                _ => tracing::warn!(
                    "memory.trim.intervalMs={v:?} is not a number; using {}",
                    s.min_interval.as_millis()
                ),
            }
        }
        s
    }
}

/// Decides, one sample of the counters at a time, when to trim.
#[derive(Debug)]
pub struct TrimPolicy {
    settings: TrimSettings,
    /// No trim before this (the last trim's interval and quiet time).
    next_allowed: Option<Instant>,
    last_live: Option<isize>,
}

impl TrimPolicy {
    pub fn new(settings: TrimSettings) -> TrimPolicy {
        TrimPolicy {
            settings,
            next_allowed: None,
            last_live: None,
        }
    }

    /// One sample at `now`: whether to trim now. Trim when the bytes freed since the
    /// last trim reach the threshold, the bytes live have not grown by more than an
    /// eighth of it since the previous sample, and the last trim is at least the minimum
    /// interval ago and [`QUIET_PER_TRIM`] times as long ago as it took.
    pub fn on_sample(&mut self, now: Instant, c: Counts) -> bool {
        let growing = self
            .last_live
            .is_some_and(|prev| c.live - prev > (self.settings.threshold_bytes / 8) as isize);
        self.last_live = Some(c.live);
        if !self.settings.enabled || growing || c.freed() < self.settings.threshold_bytes {
            return false;
        }
        self.next_allowed.is_none_or(|t| now >= t)
    }

    /// A trim started at `now` and took `took`.
    pub fn trimmed(&mut self, now: Instant, took: Duration) {
        let wait = self.settings.min_interval.max(took * QUIET_PER_TRIM);
        self.next_allowed = Some(now + took + wait);
    }
}

/// What the trimmer watches and trims: the process's heap, or a test's stand-in.
pub trait Heap: Send + 'static {
    /// The counters now.
    fn counts(&self) -> Counts;
    /// Gives the free memory back; afterwards `counts` starts a new peak. Returns how
    /// long `malloc_trim` itself took.
    fn trim(&mut self) -> Duration;
}

/// The process's heap: [`CountingAlloc`]'s counters and glibc's `malloc_trim(0)`.
pub struct ProcessHeap;

impl Heap for ProcessHeap {
    fn counts(&self) -> Counts {
        counts()
    }

    fn trim(&mut self) -> Duration {
        let freed = counts().freed();
        let before = rss_bytes();
        let started = Instant::now();
        let gave_back = malloc_trim();
        let took = started.elapsed();
        reset_peak();
        let after = rss_bytes();
        let mib = |b: usize| b as f64 / (1 << 20) as f64;
        tracing::debug!(
            "malloc_trim(0) {}: RSS {:.1} -> {:.1} MiB ({:.1} MiB given back) in {:.1} ms, \
             {:.1} MiB freed since the last trim",
            if gave_back {
                "released memory"
            } else {
                "found nothing to release"
            },
            mib(before),
            mib(after),
            mib(before.saturating_sub(after)),
            took.as_secs_f64() * 1e3,
            mib(freed),
        );
        took
    }
}

/// Whether this build can trim (glibc).
pub const fn supported() -> bool {
    cfg!(all(target_os = "linux", target_env = "gnu"))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn malloc_trim() -> bool {
    // SAFETY: malloc_trim takes no pointers; it locks each arena itself.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn malloc_trim() -> bool {
    false
}

/// The process's resident set in bytes (`/proc/self/statm`), 0 where it cannot be read.
pub fn rss_bytes() -> usize {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page.max(0) as usize
}

/// Runs `settings`' policy over `heap` on a thread of its own, named `zk-trim`, for the
/// rest of the process (or until the thread cannot be started: the error is returned).
pub fn spawn<H: Heap>(
    settings: TrimSettings,
    mut heap: H,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("zk-trim".into())
        .spawn(move || {
            let mut policy = TrimPolicy::new(settings);
            loop {
                std::thread::sleep(settings.sample_every);
                let now = Instant::now();
                if policy.on_sample(now, heap.counts()) {
                    let took = heap.trim();
                    policy.trimmed(now, took);
                }
            }
        })
}

/// Starts the trimmer of the server binary, whose global allocator is [`CountingAlloc`],
/// unless `memory.trim.enabled` is false or this is not glibc.
pub fn start_trimmer(cfg: &Config) {
    let settings = TrimSettings::from_config(cfg);
    if !settings.enabled || !supported() {
        tracing::debug!("memory.trim: off");
        return;
    }
    match spawn(settings, ProcessHeap) {
        Ok(_) => tracing::debug!(
            "memory.trim: malloc_trim(0) after {} MiB freed, at most every {} ms",
            settings.threshold_bytes >> 20,
            settings.min_interval.as_millis()
        ),
        Err(e) => tracing::warn!("memory.trim: cannot start its thread ({e}); not trimming"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    const MB: isize = 1 << 20;

    fn settings() -> TrimSettings {
        TrimSettings {
            enabled: true,
            threshold_bytes: 32 << 20,
            min_interval: Duration::from_secs(10),
            sample_every: Duration::from_millis(250),
        }
    }

    /// Counts of `live` and `peak` MB.
    fn mb(live: isize, peak: isize) -> Counts {
        Counts {
            live: live * MB,
            peak: peak * MB,
        }
    }

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn a_burst_freed_over_the_threshold_asks_for_one_trim() {
        let t0 = Instant::now();
        let mut p = TrimPolicy::new(settings());
        // The burst: live grows to 300 MB, then its buffers are freed down to 100 MB.
        assert!(!p.on_sample(at(t0, 0), mb(100, 100)));
        assert!(!p.on_sample(at(t0, 250), mb(300, 300)));
        // Freed 20 MB: under the threshold.
        assert!(!p.on_sample(at(t0, 500), mb(280, 300)));
        // Freed 200 MB: trim.
        assert!(p.on_sample(at(t0, 750), mb(100, 300)));
    }

    #[test]
    fn no_trim_while_the_bytes_live_grow() {
        let t0 = Instant::now();
        let mut p = TrimPolicy::new(settings());
        assert!(!p.on_sample(at(t0, 0), mb(100, 100)));
        // 100 MB freed since the peak, but live rose 10 MB in the last 250 ms (more than
        // an eighth of the threshold): the burst is still going.
        assert!(!p.on_sample(at(t0, 250), mb(110, 210)));
        // Rising by less than an eighth is not growing.
        assert!(p.on_sample(at(t0, 500), mb(113, 210)));
    }

    #[test]
    fn trims_no_more_often_than_the_interval() {
        let t0 = Instant::now();
        let mut p = TrimPolicy::new(settings());
        let freed = mb(100, 200);
        assert!(p.on_sample(at(t0, 0), freed));
        p.trimmed(at(t0, 0), Duration::from_millis(5));
        // Freed over the threshold again at once (the trimmer started a new peak, and a
        // new burst came and went): not before 10 s after the trim ended.
        for ms in (250..10_005).step_by(250) {
            assert!(
                !p.on_sample(at(t0, ms), freed),
                "trimmed again after {ms} ms"
            );
        }
        assert!(p.on_sample(at(t0, 10_005), freed));
    }

    #[test]
    fn a_slow_trim_keeps_the_next_a_hundred_times_as_long_away() {
        let t0 = Instant::now();
        let mut p = TrimPolicy::new(settings());
        let freed = mb(100, 200);
        assert!(p.on_sample(at(t0, 0), freed));
        // 200 ms holding arena locks: the next trim waits 20 s, not the 10 s interval.
        p.trimmed(at(t0, 0), Duration::from_millis(200));
        assert!(!p.on_sample(at(t0, 15_000), freed));
        assert!(!p.on_sample(at(t0, 20_100), freed));
        assert!(p.on_sample(at(t0, 20_200), freed));
    }

    #[test]
    fn steady_churn_under_the_threshold_never_trims() {
        let t0 = Instant::now();
        let mut p = TrimPolicy::new(settings());
        // Requests allocate and free all the time: live moves around 100 MB by a few MB.
        for i in 0..1000u64 {
            let live = 100 + (i % 7) as isize;
            assert!(!p.on_sample(at(t0, i * 250), mb(live, 107)));
        }
    }

    #[test]
    fn disabled_never_trims() {
        let t0 = Instant::now();
        let mut p = TrimPolicy::new(TrimSettings {
            enabled: false,
            ..settings()
        });
        assert!(!p.on_sample(at(t0, 0), mb(0, 1000)));
    }

    #[test]
    fn settings_read_from_zoo_cfg_and_jvm_flags() {
        let base = "dataDir=/d\n";
        let c = Config::parse_with_jvm_flags(base, "zoo.cfg", &[]).unwrap();
        let s = TrimSettings::from_config(&c);
        assert_eq!(s, TrimSettings::default());
        assert!(s.enabled);
        assert_eq!(s.threshold_bytes, 32 << 20);
        assert_eq!(s.min_interval, Duration::from_millis(250));
        let cfg = format!(
            "{base}memory.trim.enabled=false\nmemory.trim.thresholdMB=4\n\
             memory.trim.intervalMs=1500\n"
        );
        let c = Config::parse_with_jvm_flags(&cfg, "zoo.cfg", &[]).unwrap();
        let s = TrimSettings::from_config(&c);
        assert!(!s.enabled);
        assert_eq!(s.threshold_bytes, 4 << 20);
        assert_eq!(s.min_interval, Duration::from_millis(1500));
        let jvm = vec![(ENABLED_PROP.to_string(), "false".to_string())];
        let c = Config::parse_with_jvm_flags(base, "zoo.cfg", &jvm).unwrap();
        assert!(!TrimSettings::from_config(&c).enabled);
        // A bad value keeps the default.
        let cfg = format!("{base}memory.trim.thresholdMB=lots\nmemory.trim.enabled=maybe\n");
        let c = Config::parse_with_jvm_flags(&cfg, "zoo.cfg", &[]).unwrap();
        assert_eq!(TrimSettings::from_config(&c), TrimSettings::default());
    }

    /// A heap that has freed 64 MB each time it is sampled after a trim, and reports
    /// on which thread each trim ran.
    struct Burst {
        trims: mpsc::Sender<Option<String>>,
        trimmed: bool,
    }

    impl Heap for Burst {
        fn counts(&self) -> Counts {
            Counts {
                live: 10 * MB,
                peak: if self.trimmed { 10 * MB } else { 74 * MB },
            }
        }
        fn trim(&mut self) -> Duration {
            self.trimmed = true;
            let name = std::thread::current().name().map(str::to_owned);
            let _ = self.trims.send(name);
            Duration::ZERO
        }
    }

    #[test]
    fn the_trim_runs_on_its_own_thread_once_per_burst() {
        let (tx, rx) = mpsc::channel();
        let s = TrimSettings {
            sample_every: Duration::from_millis(1),
            min_interval: Duration::ZERO,
            ..settings()
        };
        spawn(
            s,
            Burst {
                trims: tx,
                trimmed: false,
            },
        )
        .unwrap();
        let on = rx.recv_timeout(Duration::from_secs(30)).expect("a trim");
        assert_eq!(on.as_deref(), Some("zk-trim"));
        assert_ne!(std::thread::current().name(), Some("zk-trim"));
        // The peak was reset by the trim: nothing more is freed, and with no interval to
        // wait, any further trim would come within a few samples.
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    }

    #[test]
    fn the_counts_follow_allocations_and_frees_of_this_thread() {
        // The global allocator of the lib's tests is the system's, so count() is fed by
        // hand, as CountingAlloc feeds it.
        let before = counts();
        count(3 * FLUSH_BYTES);
        let grown = counts();
        assert_eq!(grown.live - before.live, 3 * FLUSH_BYTES);
        assert!(grown.peak >= grown.live);
        count(-3 * FLUSH_BYTES);
        let after = counts();
        assert_eq!(after.live, before.live);
        assert!(after.freed() >= 3 * FLUSH_BYTES as usize);
        // Less than FLUSH_BYTES stays with the thread until it adds up.
        count(FLUSH_BYTES / 2);
        assert_eq!(counts().live, after.live);
        count(-(FLUSH_BYTES / 2));
        assert_eq!(counts().live, after.live);
    }
}
