//! zab-storage throughput: log append + flush by batch size and record size
//! (group commit), and snapshot write / load in MB/s.
//!
//! `cargo bench -p zk-benches --bench storage`; CI's `cargo test --workspace`
//! runs each case once (`test = true` in Cargo.toml).
//! Files go under the system temp dir, which should be on the disk being measured
//! (set TMPDIR).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use zab_core::records::{Acl, StatPersisted};
use zab_core::Zxid;
use zab_storage::{LogOptions, SnapEntry, SnapshotReader, SnapshotWriter, TreeDigest, TxnLog};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p =
            std::env::temp_dir().join(format!("zab-storage-bench-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn append_flush(c: &mut Criterion) {
    let mut g = c.benchmark_group("log_append_flush");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for record_bytes in [100usize, 1024] {
        for batch in [1u64, 10, 100, 1000] {
            g.throughput(Throughput::Elements(batch));
            let id = BenchmarkId::new(format!("{record_bytes}B"), batch);
            g.bench_function(id, |b| {
                let payload = vec![0x5au8; record_bytes];
                b.iter_custom(|iters| {
                    let dir = TempDir::new("log");
                    let (mut log, _) = TxnLog::open(&dir.0, LogOptions::default()).unwrap();
                    let mut z = 0i64;
                    let mut written = 0usize;
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        // Keep the disk footprint bounded: start over every 256 MiB (untimed).
                        if written > 256 << 20 {
                            drop(log);
                            std::fs::remove_dir_all(&dir.0).unwrap();
                            log = TxnLog::open(&dir.0, LogOptions::default()).unwrap().0;
                            z = 0;
                            written = 0;
                        }
                        let start = Instant::now();
                        for _ in 0..batch {
                            z += 1;
                            log.append(Zxid(z), &payload).unwrap();
                        }
                        log.flush().unwrap();
                        total += start.elapsed();
                        written += batch as usize * (record_bytes + 20);
                    }
                    total
                })
            });
        }
    }
    g.finish();
}

const NODES: usize = 100_000;

fn node(i: usize) -> (String, Vec<u8>, StatPersisted) {
    let stat = StatPersisted {
        czxid: i as i64,
        mzxid: i as i64,
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_000,
        version: 1,
        pzxid: i as i64,
        ..StatPersisted::default()
    };
    (format!("/app/config/node-{i:07}"), vec![b'x'; 100], stat)
}

fn write_snapshot(dir: &std::path::Path, nodes: &[(String, Vec<u8>, StatPersisted)]) -> PathBuf {
    let mut w = SnapshotWriter::create(dir, Zxid(1)).unwrap();
    let mut digest = TreeDigest::new();
    for s in 0..1000 {
        w.write_session(s, 30_000).unwrap();
    }
    w.write_acl(1, &Acl::open_unsafe()).unwrap();
    for (p, d, s) in nodes {
        w.write_node(p, Some(d), 1, s).unwrap();
        digest.add(p, d, s);
    }
    w.finish(digest.value()).unwrap()
}

fn snapshot(c: &mut Criterion) {
    let nodes: Vec<_> = (0..NODES).map(node).collect();
    let dir = TempDir::new("snap");
    let bytes = std::fs::metadata(write_snapshot(&dir.0, &nodes))
        .unwrap()
        .len();
    let mut g = c.benchmark_group("snapshot");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Bytes(bytes));
    g.bench_function(format!("write_{NODES}_nodes"), |b| {
        b.iter(|| write_snapshot(&dir.0, &nodes))
    });
    let path = dir.0.join("snapshot.1");
    g.bench_function(format!("load_{NODES}_nodes"), |b| {
        b.iter(|| {
            let mut r = SnapshotReader::open(&path).unwrap();
            let mut data_bytes = 0usize;
            while let Some(e) = r.next_entry().unwrap() {
                if let SnapEntry::Node { data, .. } = e {
                    data_bytes += data.map_or(0, <[u8]>::len);
                }
            }
            data_bytes
        })
    });
    g.finish();
}

criterion_group!(benches, append_flush, snapshot);
criterion_main!(benches);
