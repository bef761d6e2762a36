//! Transaction-log recovery over arbitrary segment files: the input becomes one
//! or two segment files in a scratch directory on tmpfs, `TxnLog::open`
//! recovers them, `iter_from` reads every record back.
//!
//! Input: byte 0 is a mode, byte 1 a split point, the rest the segment bytes.
//! Mode bit 0 recomputes record checksums, bit 1 writes a valid file header
//! (first zxid taken from the first record, so names and headers agree), bit 2
//! splits the bytes into two segments. A segment is named after the first zxid
//! its header claims, when it has a valid header.
//!
//! Asserts, when recovery succeeds: it reads back as many records as it
//! reported, in zxid order by the log's rule, each decodable `Txn` round-trips;
//! then the recovered log takes one more transaction, and opening it again
//! yields the same records plus that one. Memory (beyond the mapped files)
//! stays linear in the input.
#![no_main]

use std::fs;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use zab_core::txn::Txn;
use zab_core::Zxid;
use zab_storage::record::{follows, record_len, FileHeader, FILE_HEADER_LEN};
use zab_storage::{LogOptions, TxnLog};

const PREALLOC: u64 = 4096;

fn opts() -> LogOptions {
    LogOptions {
        prealloc_bytes: PREALLOC,
        force_sync: true,
        max_txn_bytes: 1 << 20,
    }
}

/// One segment file from fuzz bytes.
fn write_segment(dir: &Path, mut bytes: Vec<u8>, mode: u8, n: usize) {
    if mode & 2 != 0 {
        // The zxid field of the first record header, if there is one.
        let first = bytes
            .get(8..16)
            .map(|b| i64::from_be_bytes(b.try_into().unwrap()))
            .unwrap_or(1);
        let header = FileHeader {
            first_zxid: Zxid(first),
            base_zxid: Zxid(first.saturating_sub(1)),
        };
        bytes.splice(0..0, header.encode());
    }
    if mode & 1 != 0 {
        zk_fuzz::fix_record_crcs(&mut bytes, FILE_HEADER_LEN);
    }
    let name = match FileHeader::decode(&bytes) {
        Ok(h) => format!("log.{:x}", h.first_zxid.0),
        Err(_) => format!("log.{n}"),
    };
    // Two segments claiming one first zxid: the second one overwrites.
    let _ = fs::write(dir.join(name), &bytes);
}

/// Every record, checking that each names the zxid it follows: the record
/// before it in its segment, or one its segment's header allows.
fn entries(log: &TxnLog) -> Vec<(Zxid, Vec<u8>)> {
    let mut out: Vec<(Zxid, Vec<u8>)> = Vec::new();
    let mut prev_file = None;
    for e in log.iter_from(Zxid(i64::MIN)) {
        let e = e.expect("a record that recovery verified reads back");
        assert!(
            follows(e.prev_zxid, e.zxid),
            "{:?} after {:?}",
            e.zxid,
            e.prev_zxid
        );
        if prev_file == Some(e.file.to_path_buf()) {
            assert_eq!(Some(e.prev_zxid), out.last().map(|x| x.0));
        }
        prev_file = Some(e.file.to_path_buf());
        out.push((e.zxid, e.txn.to_vec()));
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (mode, split, body) = (data[0], data[1] as usize * 8, &data[2..]);
    let dir = zk_fuzz::scratch_dir();
    let ((), stats) = zk_fuzz::measure(|| {
        if mode & 4 != 0 {
            let split = split.min(body.len());
            write_segment(dir.path(), body[..split].to_vec(), mode, 1);
            write_segment(dir.path(), body[split..].to_vec(), mode, 2);
        } else {
            write_segment(dir.path(), body.to_vec(), mode, 1);
        }
        let Ok((mut log, info)) = TxnLog::open(dir.path(), opts()) else {
            return;
        };
        let before = entries(&log);
        assert_eq!(before.len() as u64, info.records);
        assert_eq!(before.last().map(|e| e.0), info.last_zxid);
        for w in before.windows(2) {
            assert!(follows(w[0].0, w[1].0), "{:?} then {:?}", w[0].0, w[1].0);
        }
        for (_, txn) in &before {
            assert!(record_len(txn.len()) <= body.len());
            zk_fuzz::round_trip::<Txn>("Txn in a recovered log", txn);
        }

        let last = log.last_zxid();
        if last.0 == i64::MAX {
            return;
        }
        let next = Zxid(last.0 + 1);
        log.append(next, b"appended after recovery")
            .expect("append");
        log.flush().expect("flush");
        drop(log);
        let (log, _) = TxnLog::open(dir.path(), opts()).expect("reopen after append");
        let mut want = before;
        want.push((next, b"appended after recovery".to_vec()));
        assert_eq!(entries(&log), want);
    });
    zk_fuzz::assert_bounded("log recovery", stats, body.len(), PREALLOC as usize, 32);
});
