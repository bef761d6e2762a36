//! Measures the cost of making a small append durable, five ways, on the disk
//! that holds the directory given as the first argument (default: a temp dir
//! under the current directory). The numbers behind
//! `docs/decisions/0001-log-flush-fsync.md`.
//!
//! ```text
//! cargo run --release -p zab-storage --example flush_latency -- [dir] [iterations] [record_bytes]
//! ```

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

const FILE_BYTES: u64 = 64 << 20;

#[derive(Clone, Copy)]
enum Prealloc {
    ZeroFilled,
    Fallocate,
    Sparse,
}

fn create(path: &Path, how: Prealloc) -> File {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap();
    match how {
        Prealloc::ZeroFilled => {
            let zeros = vec![0u8; 1 << 20];
            for i in 0..(FILE_BYTES >> 20) {
                f.write_all_at(&zeros, i << 20).unwrap();
            }
        }
        Prealloc::Fallocate => {
            let rc = unsafe { libc::posix_fallocate(f.as_raw_fd(), 0, FILE_BYTES as libc::off_t) };
            assert_eq!(rc, 0);
        }
        Prealloc::Sparse => f.set_len(FILE_BYTES).unwrap(),
    }
    f.sync_all().unwrap();
    f
}

fn fdatasync(f: &File) {
    assert_eq!(unsafe { libc::fdatasync(f.as_raw_fd()) }, 0);
}

struct Stats(Vec<Duration>);

impl Stats {
    fn report(mut self, name: &str) {
        self.0.sort();
        let n = self.0.len();
        let mean = self.0.iter().sum::<Duration>() / n as u32;
        println!(
            "{name:<42} median {:>7.1} us  p99 {:>7.1} us  mean {:>7.1} us",
            self.0[n / 2].as_secs_f64() * 1e6,
            self.0[n * 99 / 100].as_secs_f64() * 1e6,
            mean.as_secs_f64() * 1e6
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let tmp = tempfile_dir(args.get(1).map(String::as_str).unwrap_or("."));
    let iters: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let rec: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(256);
    // Every variant writes sequentially into one 64 MiB file.
    let iters = iters.min((FILE_BYTES as usize) / rec.max(1));
    let payload = vec![0xabu8; rec];
    println!("{iters} appends of {rec} bytes, each made durable before the next");

    // pwrite + fdatasync, three ways of preallocating.
    for (how, name) in [
        (Prealloc::ZeroFilled, "pwrite+fdatasync, zero-filled file"),
        (
            Prealloc::Fallocate,
            "pwrite+fdatasync, posix_fallocate file",
        ),
        (Prealloc::Sparse, "pwrite+fdatasync, sparse file (set_len)"),
    ] {
        let path = tmp.join("pw");
        let f = create(&path, how);
        let mut off = 0u64;
        let mut t = Vec::with_capacity(iters);
        for _ in 0..iters {
            let s = Instant::now();
            f.write_all_at(&payload, off).unwrap();
            fdatasync(&f);
            t.push(s.elapsed());
            off += rec as u64;
        }
        Stats(t).report(name);
        std::fs::remove_file(&path).unwrap();
    }

    // Writes through a shared mapping, made durable with msync or fdatasync.
    for (use_msync, name) in [
        (true, "mmap write+msync(range), zero-filled file"),
        (false, "mmap write+fdatasync, zero-filled file"),
    ] {
        let path = tmp.join("mm");
        let f = create(&path, Prealloc::ZeroFilled);
        let mut map = unsafe { memmap2::MmapMut::map_mut(&f).unwrap() };
        let mut off = 0usize;
        let mut t = Vec::with_capacity(iters);
        for _ in 0..iters {
            let s = Instant::now();
            map[off..off + rec].copy_from_slice(&payload);
            if use_msync {
                map.flush_range(off, rec).unwrap();
            } else {
                fdatasync(&f);
            }
            t.push(s.elapsed());
            off += rec;
        }
        Stats(t).report(name);
        drop(map);
        std::fs::remove_file(&path).unwrap();
    }

    let s = Instant::now();
    let f = create(&tmp.join("z"), Prealloc::ZeroFilled);
    println!(
        "creating a zero-filled 64 MiB segment (write + fsync): {:.1} ms",
        s.elapsed().as_secs_f64() * 1e3
    );
    drop(f);
    let s = Instant::now();
    let f = create(&tmp.join("fa"), Prealloc::Fallocate);
    println!(
        "creating a posix_fallocate 64 MiB segment (+ fsync): {:.1} ms",
        s.elapsed().as_secs_f64() * 1e3
    );
    drop(f);
    std::fs::remove_dir_all(&tmp).unwrap();
}

fn tempfile_dir(parent: &str) -> std::path::PathBuf {
    let p = Path::new(parent).join(format!("flush-latency-{}", std::process::id()));
    std::fs::create_dir_all(&p).unwrap();
    p
}
