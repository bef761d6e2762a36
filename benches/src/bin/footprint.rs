//! Footprint and restart figures of the data tree and the storage:
//! resident memory per znode with N znodes (100-byte values, 17-byte paths),
//! and the time to recover that tree from a snapshot plus a log.
//!
//! `cargo run --release -p zk-benches --bin footprint -- [znodes] [logged txns]`

use std::time::Instant;

use bytes::Bytes;
use zab_core::jute::Record;
use zab_core::records::{op, Acl};
use zab_core::txn::{CreateTxn, SetDataTxn, Txn, TxnBody, TxnHeader};
use zab_core::Zxid;
use zk_server::config::Config;
use zk_server::persist;
use zk_server::tree::DataTree;

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn txn(zxid: i64, t: i32, body: TxnBody) -> Txn {
    Txn {
        header: TxnHeader {
            client_id: 1,
            cxid: 0,
            zxid: Zxid(zxid),
            time: 1_700_000_000_000 + zxid,
            txn_type: t,
        },
        body,
        digest: None,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .get(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let logged: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let value = Bytes::from(vec![b'v'; 100]);
    let acl = Acl::open_unsafe();

    let mut tree = DataTree::new(false);
    let mut tr = Vec::new();
    let mut zxid = 1i64;
    tree.apply(
        &txn(
            zxid,
            op::CREATE,
            TxnBody::Create(CreateTxn {
                path: "/k".into(),
                data: Bytes::new(),
                acl: acl.clone(),
                ephemeral: false,
                parent_cversion: -1,
            }),
        ),
        &mut tr,
    );
    let before = rss_bytes();
    let t0 = Instant::now();
    for i in 0..n {
        zxid += 1;
        // 17 bytes: "/k/" and 14 digits.
        let path = format!("/k/{i:014}");
        tree.apply(
            &txn(
                zxid,
                op::CREATE,
                TxnBody::Create(CreateTxn {
                    path,
                    // Each node owns its value, as after a client's create.
                    data: Bytes::copy_from_slice(&value),
                    acl: acl.clone(),
                    ephemeral: false,
                    parent_cversion: -1,
                }),
            ),
            &mut tr,
        );
        tr.clear();
    }
    let build = t0.elapsed();
    let after = rss_bytes();
    let per = (after - before) as f64 / n as f64;
    println!("znodes: {n}");
    println!(
        "build: {:.2} s ({:.0} creates/s)",
        build.as_secs_f64(),
        n as f64 / build.as_secs_f64()
    );
    println!("resident memory per znode: {per:.0} bytes");

    // Restart: a snapshot of this tree, then `logged` setData transactions.
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = Config::parse(
        &format!("dataDir={}\npreAllocSize=65536\n", dir.path().display()),
        "footprint",
    )
    .unwrap();
    std::fs::create_dir_all(persist::snap_dir(&cfg)).unwrap();
    std::fs::create_dir_all(persist::log_dir(&cfg)).unwrap();
    let t0 = Instant::now();
    let mut snap = persist::FuzzySnapshot::start(&tree, vec![]);
    let (tx, rx) = std::sync::mpsc::sync_channel(64);
    let sdir = persist::snap_dir(&cfg);
    let szxid = snap.zxid;
    let writer = std::thread::spawn(move || persist::write_snapshot(&sdir, szxid, rx));
    while !snap.done() {
        tx.send(snap.step(&tree, 4096)).unwrap();
    }
    drop(tx);
    let snap_path = writer.join().unwrap().expect("snapshot");
    let snap_time = t0.elapsed();
    let snap_len = std::fs::metadata(&snap_path).map(|m| m.len()).unwrap_or(0);
    println!(
        "snapshot write: {:.2} s, {:.0} MB/s ({} bytes)",
        snap_time.as_secs_f64(),
        snap_len as f64 / 1e6 / snap_time.as_secs_f64(),
        snap_len
    );
    let (mut log, _) =
        zab_storage::TxnLog::open(persist::log_dir(&cfg), persist::log_options(&cfg)).unwrap();
    log.restart_at(szxid).unwrap();
    for i in 0..logged {
        zxid += 1;
        let t = txn(
            zxid,
            op::SET_DATA,
            TxnBody::SetData(SetDataTxn {
                path: format!("/k/{:014}", i % n),
                data: value.clone(),
                version: 1,
            }),
        );
        log.append(Zxid(zxid), &t.to_bytes()).unwrap();
        if i % 1000 == 999 {
            log.flush().unwrap();
        }
    }
    log.flush().unwrap();
    drop(log);
    drop(tree);

    let t0 = Instant::now();
    let rec = persist::recover(&cfg).expect("recover");
    let restart = t0.elapsed();
    println!(
        "restart: {:.2} s to recover {} znodes from the snapshot and replay {} logged transactions",
        restart.as_secs_f64(),
        rec.tree.node_count(),
        rec.replayed
    );
}
