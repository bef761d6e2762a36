//! Recovery policy of the transaction log: torn tails end the log, corruption
//! and gaps refuse to open, and TRUNC / DIFF / roll behave across segments.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use zab_core::Zxid;
use zab_storage::record::{encode_record, record_len, FileHeader, FILE_HEADER_LEN};
use zab_storage::{LogOptions, StorageError, TxnLog};

fn opts(prealloc: u64) -> LogOptions {
    LogOptions {
        prealloc_bytes: prealloc,
        ..LogOptions::default()
    }
}

fn payload(z: i64) -> Vec<u8> {
    format!("txn {z:#x} ")
        .repeat(1 + (z % 5) as usize)
        .into_bytes()
}

/// A log with records 1..=n in one segment; returns the segment path and each
/// record's (start, end) byte range.
fn one_segment(dir: &Path, n: i64) -> (PathBuf, Vec<(usize, usize)>) {
    let (mut log, _) = TxnLog::open(dir, opts(64 << 10)).unwrap();
    let mut ranges = Vec::new();
    let mut off = FILE_HEADER_LEN;
    for z in 1..=n {
        log.append(Zxid(z), &payload(z)).unwrap();
        let end = off + record_len(payload(z).len());
        ranges.push((off, end));
        off = end;
    }
    assert_eq!(log.flush().unwrap(), Zxid(n));
    let paths = log.segment_paths();
    assert_eq!(paths.len(), 1);
    (paths[0].clone(), ranges)
}

fn zxids(log: &TxnLog, from: i64) -> Vec<i64> {
    log.iter_from(Zxid(from))
        .map(|e| {
            let e = e.unwrap();
            assert_eq!(e.txn, payload(e.zxid.0), "payload of {}", e.zxid);
            e.zxid.0
        })
        .collect()
}

fn copy_with(src: &Path, dir: &Path, bytes: &[u8]) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let dst = dir.join(src.file_name().unwrap());
    fs::write(&dst, bytes).unwrap();
    dst
}

#[test]
fn cutting_the_last_record_at_every_byte_offset_recovers_to_the_previous_record() {
    let src = tempfile::tempdir().unwrap();
    let (seg, ranges) = one_segment(src.path(), 3);
    let original = fs::read(&seg).unwrap();
    let (start, end) = ranges[2];
    for cut in start..end {
        let d = tempfile::tempdir().unwrap();
        copy_with(&seg, d.path(), &original[..cut]);
        let (mut log, info) =
            TxnLog::open(d.path(), opts(64 << 10)).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(info.last_zxid, Some(Zxid(2)), "cut at {cut}");
        assert_eq!(info.torn_tail.is_some(), cut > start, "cut at {cut}");
        assert_eq!(zxids(&log, 0), vec![1, 2]);
        // The log goes on from there, and survives another restart.
        log.append(Zxid(3), &payload(3)).unwrap();
        log.append(Zxid(4), &payload(4)).unwrap();
        log.flush().unwrap();
        drop(log);
        let (log, info) = TxnLog::open(d.path(), opts(64 << 10)).unwrap();
        assert_eq!(info.torn_tail, None);
        assert_eq!(zxids(&log, 0), vec![1, 2, 3, 4], "cut at {cut}");
    }
}

/// Found with the `log_recovery` fuzz target: a zeroed record header with
/// records after it (a batch whose first page never reached the disk, or a
/// zeroed sector) ended the log, but the records after it stayed on disk. The
/// next append wrote over the start of them: a different length left a broken
/// header behind the new record, refused at the next start; the same length
/// brought back records the first start had dropped. Recovery now refuses such
/// a segment, as it refuses any record followed by data it cannot account for.
#[test]
fn fuzz_data_after_a_zeroed_record_header_is_refused() {
    let src = tempfile::tempdir().unwrap();
    let (seg, ranges) = one_segment(src.path(), 4);
    let mut lost_page = fs::read(&seg).unwrap();
    let (start, _) = ranges[1];
    lost_page[start..start + 20].fill(0);
    let d = tempfile::tempdir().unwrap();
    copy_with(&seg, d.path(), &lost_page);
    match TxnLog::open(d.path(), opts(64 << 10)) {
        Err(e @ StorageError::BadSegment { .. }) => {
            assert!(e.to_string().contains(&format!("offset {start}")), "{e}");
        }
        other => panic!("{:?}", other.map(|(_, info)| info)),
    }
    // Zeros to the end of the file are still the clean end of the log.
    lost_page[start..].fill(0);
    copy_with(&seg, d.path(), &lost_page);
    let (log, info) = TxnLog::open(d.path(), opts(64 << 10)).unwrap();
    assert_eq!((info.last_zxid, info.torn_tail), (Some(Zxid(1)), None));
    assert_eq!(zxids(&log, 0), vec![1]);
}

#[test]
fn zeroing_the_last_record_from_every_byte_offset_is_the_end_of_the_log() {
    let src = tempfile::tempdir().unwrap();
    let (seg, ranges) = one_segment(src.path(), 3);
    let original = fs::read(&seg).unwrap();
    let (start, end) = ranges[2];
    for from in start..end {
        let mut bytes = original.clone();
        bytes[from..end].fill(0);
        let d = tempfile::tempdir().unwrap();
        copy_with(&seg, d.path(), &bytes);
        let (log, info) = TxnLog::open(d.path(), opts(64 << 10))
            .unwrap_or_else(|e| panic!("zeroed from {from}: {e}"));
        assert_eq!(info.last_zxid, Some(Zxid(2)), "zeroed from {from}");
        assert_eq!(zxids(&log, 0), vec![1, 2]);
        // The remains were zeroed on disk.
        drop(log);
        assert!(
            fs::read(d.path().join(seg.file_name().unwrap())).unwrap()[start..end]
                .iter()
                .all(|&b| b == 0)
        );
    }
}

#[test]
fn a_flipped_byte_in_any_record_refuses_to_open_naming_file_and_offset() {
    // The last record too: it was written to its end byte, so a bad checksum there is
    // damage, not a torn write.
    let src = tempfile::tempdir().unwrap();
    let (seg, ranges) = one_segment(src.path(), 3);
    let original = fs::read(&seg).unwrap();
    for (i, &(start, end)) in ranges.iter().enumerate() {
        for at in start..end {
            let mut bytes = original.clone();
            bytes[at] ^= 0x10;
            let d = tempfile::tempdir().unwrap();
            let path = copy_with(&seg, d.path(), &bytes);
            let err = match TxnLog::open(d.path(), opts(64 << 10)) {
                Ok(_) => panic!("record {i}: flipped byte {at} was accepted"),
                Err(e) => e,
            };
            match &err {
                StorageError::HeaderChecksumMismatch { file, offset, .. }
                | StorageError::ChecksumMismatch { file, offset, .. }
                | StorageError::MissingRecordEnd { file, offset } => {
                    assert_eq!(file, &path);
                    assert_eq!(*offset, start as u64);
                }
                other => panic!("flipped byte {at}: unexpected {other}"),
            }
            let msg = err.to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains(&format!("offset {start}")), "{msg}");
            assert!(msg.contains("wipe this node's data directory"), "{msg}");
        }
    }
}

#[test]
fn a_zero_filled_preallocated_tail_is_the_clean_end() {
    let d = tempfile::tempdir().unwrap();
    let (seg, _) = one_segment(d.path(), 5);
    assert_eq!(fs::metadata(&seg).unwrap().len(), 64 << 10);
    let (log, info) = TxnLog::open(d.path(), opts(64 << 10)).unwrap();
    assert_eq!(info.torn_tail, None);
    assert_eq!(info.records, 5);
    assert_eq!(
        (log.first_zxid(), log.last_zxid()),
        (Some(Zxid(1)), Zxid(5))
    );
}

/// A hand-built segment, for layouts `append` refuses to produce.
fn write_segment(dir: &Path, base: i64, zxids: &[i64]) -> PathBuf {
    let mut v = FileHeader {
        first_zxid: Zxid(zxids[0]),
        base_zxid: Zxid(base),
    }
    .encode()
    .to_vec();
    for &z in zxids {
        encode_record(&mut v, Zxid(z), &payload(z));
    }
    v.resize(8192, 0);
    let p = dir.join(format!("log.{:x}", zxids[0]));
    fs::write(&p, v).unwrap();
    p
}

#[test]
fn a_zxid_gap_within_an_epoch_is_an_error_with_file_and_offset() {
    let d = tempfile::tempdir().unwrap();
    let p = write_segment(d.path(), 0, &[1, 2, 4]);
    let gap_at = FILE_HEADER_LEN + record_len(payload(1).len()) + record_len(payload(2).len());
    match TxnLog::open(d.path(), opts(8192)) {
        Err(StorageError::ZxidGap {
            file,
            offset,
            expected,
            actual,
        }) => {
            assert_eq!(file, p);
            assert_eq!(offset, gap_at as u64);
            assert_eq!((expected, actual), (Zxid(3), Zxid(4)));
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[test]
fn a_new_epoch_may_start_above_the_old_counter() {
    let d = tempfile::tempdir().unwrap();
    write_segment(d.path(), 0, &[0x1_0000_0001, 0x1_0000_0002, 0x3_0000_0001]);
    let (log, info) = TxnLog::open(d.path(), opts(8192)).unwrap();
    assert_eq!(info.records, 3);
    assert_eq!(log.last_zxid(), Zxid(0x3_0000_0001));
}

#[test]
fn a_gap_between_segments_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    write_segment(d.path(), 0, &[1, 2, 3]);
    let p = write_segment(d.path(), 3, &[5, 6]);
    match TxnLog::open(d.path(), opts(8192)) {
        Err(StorageError::ZxidGap { file, offset, .. }) => {
            assert_eq!((file, offset), (p, FILE_HEADER_LEN as u64));
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[test]
fn appends_must_follow_the_zxid_rule() {
    let d = tempfile::tempdir().unwrap();
    let (mut log, _) = TxnLog::open(d.path(), opts(8192)).unwrap();
    log.append(Zxid(0x1_0000_0001), b"a").unwrap();
    for bad in [0x1_0000_0001, 0x1_0000_0003, 5] {
        assert!(matches!(
            log.append(Zxid(bad), b"b"),
            Err(StorageError::ZxidOutOfOrder { .. })
        ));
    }
    assert!(matches!(
        log.append(Zxid(0x1_0000_0002), b""),
        Err(StorageError::BadTxnLength { .. })
    ));
    log.append(Zxid(0x2_0000_0001), b"c").unwrap();
}

#[test]
fn nothing_is_durable_before_flush() {
    let d = tempfile::tempdir().unwrap();
    let (mut log, _) = TxnLog::open(d.path(), opts(8192)).unwrap();
    log.append(Zxid(1), &payload(1)).unwrap();
    assert_eq!(log.flush().unwrap(), Zxid(1));
    log.append(Zxid(2), &payload(2)).unwrap();
    assert_eq!((log.durable_zxid(), log.last_zxid()), (Zxid(1), Zxid(2)));
    drop(log); // a crash before the flush: the buffered record never reached the file
    let (log, _) = TxnLog::open(d.path(), opts(8192)).unwrap();
    assert_eq!(zxids(&log, 0), vec![1]);
}

#[test]
fn truncate_then_append_again_survives_restart() {
    let d = tempfile::tempdir().unwrap();
    let (mut log, _) = TxnLog::open(d.path(), opts(300)).unwrap();
    for z in 1..=40 {
        log.append(Zxid(z), &payload(z)).unwrap();
    }
    log.flush().unwrap();
    let before = log.segment_paths().len();
    assert!(before > 3, "want several segments, got {before}");
    log.truncate_to(Zxid(17)).unwrap();
    assert_eq!(log.last_zxid(), Zxid(17));
    assert_eq!(zxids(&log, 0), (1..=17).collect::<Vec<_>>());
    assert!(log.segment_paths().len() < before);
    for z in 18..=25 {
        log.append(Zxid(z), &payload(z)).unwrap();
    }
    log.flush().unwrap();
    drop(log);
    let (log, info) = TxnLog::open(d.path(), opts(300)).unwrap();
    assert_eq!(info.torn_tail, None);
    assert_eq!(zxids(&log, 0), (1..=25).collect::<Vec<_>>());
}

#[test]
fn truncate_to_before_the_first_record_empties_the_log() {
    let d = tempfile::tempdir().unwrap();
    let (mut log, _) = TxnLog::open(d.path(), opts(1024)).unwrap();
    for z in 5..=20 {
        if z == 5 {
            log.restart_at(Zxid(4)).unwrap();
        }
        log.append(Zxid(z), &payload(z)).unwrap();
    }
    log.flush().unwrap();
    log.truncate_to(Zxid(3)).unwrap();
    assert!(log.segment_paths().is_empty());
    log.append(Zxid(4), &payload(4)).unwrap();
    log.flush().unwrap();
    drop(log);
    let (log, _) = TxnLog::open(d.path(), opts(1024)).unwrap();
    assert_eq!(zxids(&log, 0), vec![4]);
}

#[test]
fn iter_from_serves_diff_across_rolled_segments_and_restarts() {
    let d = tempfile::tempdir().unwrap();
    let (mut log, _) = TxnLog::open(d.path(), opts(4096)).unwrap();
    for z in 1..=300 {
        log.append(Zxid(z), &payload(z)).unwrap();
        if z % 100 == 0 {
            log.roll().unwrap();
        }
        if z % 7 == 0 {
            log.flush().unwrap();
        }
    }
    log.flush().unwrap();
    let segments = log.segment_paths().len();
    assert!(segments >= 5, "{segments}");
    assert!(log
        .segment_paths()
        .iter()
        .any(|p| p.file_name().unwrap() == "log.65"));
    for from in [0, 1, 57, 100, 101, 250, 300] {
        assert_eq!(
            zxids(&log, from),
            (from.max(1)..=300).collect::<Vec<_>>(),
            "from {from}"
        );
    }
    assert!(zxids(&log, 301).is_empty());
    drop(log);
    let (log, info) = TxnLog::open(d.path(), opts(4096)).unwrap();
    assert_eq!((info.segments, info.records), (segments, 300));
    assert_eq!(zxids(&log, 123), (123..=300).collect::<Vec<_>>());
}

#[test]
fn a_torn_record_in_a_sealed_segment_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let (mut log, _) = TxnLog::open(d.path(), opts(8192)).unwrap();
    for z in 1..=3 {
        log.append(Zxid(z), &payload(z)).unwrap();
    }
    log.roll().unwrap();
    log.append(Zxid(4), &payload(4)).unwrap();
    log.flush().unwrap();
    let first = log.segment_paths()[0].clone();
    drop(log);
    let mut bytes = fs::read(&first).unwrap();
    let last_start = FILE_HEADER_LEN + record_len(payload(1).len()) + record_len(payload(2).len());
    // The record's last bytes never reached the disk: a torn write, in a sealed segment.
    bytes[last_start + 25..last_start + record_len(payload(3).len())].fill(0);
    fs::write(&first, bytes).unwrap();
    match TxnLog::open(d.path(), opts(8192)) {
        Err(StorageError::TornSealedSegment { file, offset }) => {
            assert_eq!((file, offset), (first, last_start as u64));
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[test]
fn restart_at_a_snapshot_zxid_lets_the_log_jump_within_an_epoch() {
    let d = tempfile::tempdir().unwrap();
    let (mut log, _) = TxnLog::open(d.path(), opts(8192)).unwrap();
    for z in 1..=5 {
        log.append(Zxid(z), &payload(z)).unwrap();
    }
    log.flush().unwrap();
    log.restart_at(Zxid(100)).unwrap();
    log.append(Zxid(101), &payload(101)).unwrap();
    log.flush().unwrap();
    drop(log);
    let (mut log, _) = TxnLog::open(d.path(), opts(8192)).unwrap();
    assert_eq!(zxids(&log, 0), vec![1, 2, 3, 4, 5, 101]);
    // Going back below the log's end truncates first.
    log.restart_at(Zxid(3)).unwrap();
    log.append(Zxid(4), &payload(4)).unwrap();
    log.flush().unwrap();
    drop(log);
    let (log, _) = TxnLog::open(d.path(), opts(8192)).unwrap();
    assert_eq!(zxids(&log, 0), vec![1, 2, 3, 4]);
}

#[test]
fn an_unflushed_new_segment_is_removed_at_open() {
    let d = tempfile::tempdir().unwrap();
    let (mut log, _) = TxnLog::open(d.path(), opts(8192)).unwrap();
    log.append(Zxid(1), &payload(1)).unwrap();
    log.flush().unwrap();
    log.roll().unwrap();
    log.append(Zxid(2), &payload(2)).unwrap(); // creates log.2, never flushed
    assert_eq!(log.segment_paths().len(), 2);
    drop(log);
    let (mut log, info) = TxnLog::open(d.path(), opts(8192)).unwrap();
    assert_eq!(info.removed_empty.len(), 1);
    log.append(Zxid(2), &payload(2)).unwrap();
    log.flush().unwrap();
    assert_eq!(zxids(&log, 0), vec![1, 2]);
}

#[test]
fn force_sync_off_still_writes_and_recovers() {
    let d = tempfile::tempdir().unwrap();
    let o = LogOptions {
        force_sync: false,
        ..opts(8192)
    };
    let (mut log, _) = TxnLog::open(d.path(), o.clone()).unwrap();
    log.append(Zxid(1), &payload(1)).unwrap();
    log.flush().unwrap();
    drop(log);
    let (log, _) = TxnLog::open(d.path(), o).unwrap();
    assert_eq!(zxids(&log, 0), vec![1]);
}

#[test]
fn a_record_larger_than_the_preallocation_gets_its_own_segment() {
    let d = tempfile::tempdir().unwrap();
    let (mut log, _) = TxnLog::open(d.path(), opts(256)).unwrap();
    let big = vec![7u8; 1000];
    log.append(Zxid(1), &big).unwrap();
    log.append(Zxid(2), b"x").unwrap();
    log.flush().unwrap();
    drop(log);
    let (log, _) = TxnLog::open(d.path(), opts(256)).unwrap();
    let got: Vec<_> = log
        .iter_from(Zxid(0))
        .map(|e| e.unwrap().txn.len())
        .collect();
    assert_eq!(got, vec![1000, 1]);
}

#[test]
fn zookeeper_transactions_come_back_byte_for_byte_and_decode() {
    use zab_core::jute::Record;
    use zab_core::records::Acl;
    use zab_core::txn::{CreateTxn, Txn, TxnBody, TxnHeader};
    let d = tempfile::tempdir().unwrap();
    let (mut log, _) = TxnLog::open(d.path(), opts(8192)).unwrap();
    let txns: Vec<Txn> = (1..=3)
        .map(|c| Txn {
            header: TxnHeader {
                client_id: 0x100,
                cxid: c,
                zxid: Zxid(0x1_0000_0000 + c as i64),
                time: 1_700_000_000_000,
                txn_type: zab_core::records::op::CREATE,
            },
            body: TxnBody::Create(CreateTxn {
                path: format!("/n{c}"),
                data: Some(bytes::Bytes::from_static(b"hello")),
                acl: Acl::open_unsafe(),
                ephemeral: false,
                parent_cversion: c,
            }),
            digest: None,
        })
        .collect();
    for t in &txns {
        log.append(t.zxid(), &t.to_bytes()).unwrap();
    }
    log.flush().unwrap();
    drop(log);
    let (log, _) = TxnLog::open(d.path(), opts(8192)).unwrap();
    let back: Vec<Txn> = log
        .iter_from(Zxid(0x1_0000_0002))
        .map(|e| {
            let e = e.unwrap();
            let t = e.decode().unwrap();
            assert_eq!(e.txn, &t.to_bytes()[..]);
            assert_eq!(e.zxid, t.zxid());
            t
        })
        .collect();
    assert_eq!(back, txns[1..]);
}

#[test]
fn a_newest_segment_whose_header_never_reached_disk_is_removed() {
    let d = tempfile::tempdir().unwrap();
    write_segment(d.path(), 0, &[1, 2]);
    fs::write(d.path().join("log.3"), vec![0u8; 8192]).unwrap();
    let (mut log, info) = TxnLog::open(d.path(), opts(8192)).unwrap();
    assert_eq!(info.removed_empty, vec![d.path().join("log.3")]);
    log.append(Zxid(3), &payload(3)).unwrap();
    log.flush().unwrap();
    assert_eq!(zxids(&log, 0), vec![1, 2, 3]);
}

#[test]
fn a_damaged_segment_header_in_front_of_records_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = write_segment(d.path(), 0, &[1, 2]);
    let mut b = fs::read(&p).unwrap();
    b[9] ^= 0xff;
    fs::write(&p, b).unwrap();
    match TxnLog::open(d.path(), opts(8192)) {
        Err(e @ StorageError::BadSegment { .. }) => {
            assert!(e.to_string().contains("checksum"), "{e}");
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_segment_bytes_never_panic_recovery(
        body in prop::collection::vec(any::<u8>(), 0..600),
        valid_header in any::<bool>(),
        two_segments in any::<bool>(),
    ) {
        let d = tempfile::tempdir().unwrap();
        let mut bytes = if valid_header {
            FileHeader { first_zxid: Zxid(1), base_zxid: Zxid(0) }.encode().to_vec()
        } else {
            Vec::new()
        };
        bytes.extend_from_slice(&body);
        fs::write(d.path().join("log.1"), &bytes).unwrap();
        if two_segments {
            write_segment(d.path(), 0, &[9, 10]);
        }
        if let Ok((log, _)) = TxnLog::open(d.path(), opts(4096)) {
            for e in log.iter_from(Zxid(0)) {
                let _ = e;
            }
        }
    }
}

#[test]
fn a_split_flush_is_durable_up_to_what_was_written_before_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = TxnLog::open(dir.path(), opts(4 << 10)).unwrap();
    for z in 1..=3 {
        log.append(Zxid(z), &payload(z)).unwrap();
    }
    let pending = log.start_flush().unwrap();
    assert_eq!(pending.upto(), Zxid(3));
    // Appends while the sync runs elsewhere (crossing into a new segment) are not covered.
    let mut z = 4;
    while log.segment_paths().len() < 2 {
        log.append(Zxid(z), &payload(z)).unwrap();
        z += 1;
    }
    let synced = std::thread::spawn(move || pending.sync()).join().unwrap();
    assert_eq!(log.finish_flush(synced).unwrap(), Zxid(3));
    assert_eq!(log.durable_zxid(), Zxid(3));
    let second = log.start_flush().unwrap();
    assert_eq!(second.upto(), Zxid(z - 1));
    assert_eq!(log.finish_flush(second.sync()).unwrap(), Zxid(z - 1));
    drop(log);
    let (log, _) = TxnLog::open(dir.path(), opts(4 << 10)).unwrap();
    assert_eq!(zxids(&log, 1), (1..z).collect::<Vec<_>>());
}

#[test]
fn a_failed_split_flush_poisons_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = TxnLog::open(dir.path(), opts(64 << 10)).unwrap();
    log.append(Zxid(1), &payload(1)).unwrap();
    let _ = log.start_flush().unwrap();
    let failed = Err(StorageError::Poisoned);
    assert!(log.finish_flush(failed).is_err());
    assert_eq!(log.durable_zxid(), Zxid(0));
    assert!(matches!(
        log.append(Zxid(2), &payload(2)),
        Err(StorageError::Poisoned)
    ));
}
