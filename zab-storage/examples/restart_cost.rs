//! What zab-storage contributes to a restart with a large tree: load a snapshot
//! of N znodes (crc + parse + digest, no tree building) and recover + replay-read
//! a log of M transactions. The target is a whole restart (1M znodes, 100k
//! logged txns) serving in under a second; this measures the storage share.
//!
//! ```text
//! cargo run --release -p zab-storage --example restart_cost -- [dir] [nodes] [txns]
//! ```

use std::path::Path;
use std::time::Instant;

use zab_core::records::{Acl, StatPersisted};
use zab_core::Zxid;
use zab_storage::{
    latest_valid_snapshot, LogOptions, SnapEntry, SnapshotWriter, TreeDigest, TxnLog,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let parent = args.get(1).map(String::as_str).unwrap_or(".");
    let nodes: usize = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let txns: i64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let dir = Path::new(parent).join(format!("restart-cost-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (snap_dir, log_dir) = (dir.join("data"), dir.join("log"));

    // Snapshot of `nodes` znodes: 100-byte data, paths like a real tree.
    let t = Instant::now();
    let mut w = SnapshotWriter::create(&snap_dir, Zxid(1)).unwrap();
    w.write_acl(1, &Acl::open_unsafe()).unwrap();
    let mut digest = TreeDigest::new();
    let data = vec![b'd'; 100];
    let mut path = String::new();
    for i in 0..nodes {
        use std::fmt::Write;
        path.clear();
        write!(path, "/app/{}/node-{i:07}", i % 1000).unwrap();
        let stat = StatPersisted {
            czxid: i as i64,
            mzxid: i as i64,
            pzxid: i as i64,
            ..StatPersisted::default()
        };
        w.write_node(&path, Some(&data), 1, &stat).unwrap();
        digest.add(&path, &data, &stat);
    }
    let p = w.finish(digest.value()).unwrap();
    let size = std::fs::metadata(&p).unwrap().len();
    println!(
        "write snapshot: {nodes} nodes, {:.1} MB in {:.0} ms",
        size as f64 / 1e6,
        t.elapsed().as_secs_f64() * 1e3
    );

    let t = Instant::now();
    let mut r = latest_valid_snapshot(&snap_dir).unwrap().unwrap();
    let mut n = 0usize;
    while let Some(e) = r.next_entry().unwrap() {
        if let SnapEntry::Node { .. } = e {
            n += 1;
        }
    }
    let el = t.elapsed().as_secs_f64();
    assert_eq!(n, nodes);
    println!(
        "load snapshot (open, crc, parse, digest): {:.0} ms, {:.0} MB/s",
        el * 1e3,
        size as f64 / 1e6 / el
    );

    // A log of `txns` 200-byte transactions, flushed in batches of 100.
    let t = Instant::now();
    let (mut log, _) = TxnLog::open(&log_dir, LogOptions::default()).unwrap();
    let payload = vec![b't'; 200];
    for z in 1..=txns {
        log.append(Zxid(z), &payload).unwrap();
        if z % 100 == 0 {
            log.flush().unwrap();
        }
    }
    log.flush().unwrap();
    drop(log);
    println!(
        "write log: {txns} txns in {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let t = Instant::now();
    let (log, info) = TxnLog::open(&log_dir, LogOptions::default()).unwrap();
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut bytes = 0usize;
    for e in log.iter_from(Zxid(2)) {
        bytes += e.unwrap().txn.len();
    }
    println!(
        "recover log ({} records, {} segments): open {open_ms:.1} ms, open+iterate {:.1} ms ({bytes} bytes)",
        info.records,
        info.segments,
        t.elapsed().as_secs_f64() * 1e3
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
