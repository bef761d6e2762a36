//! The nemesis of the Jepsen-style runs: the faults it injects into a real
//! ensemble (kills, pauses, partitions through the proxies, log damage) and
//! how it heals them before the final reads.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{Fault, Rng};
use crate::ensemble::Ensemble;

/// What the nemesis has broken and [`heal`] must mend.
#[derive(Default)]
pub(super) struct Faults {
    killed: BTreeSet<u64>,
    paused: BTreeSet<u64>,
    /// Servers whose log tail was damaged: `true` for a flipped byte (a complete record with
    /// a bad checksum, which must stop the server), `false` for a zeroed (torn) tail.
    corrupted: BTreeMap<u64, bool>,
    /// Corruptions so far: they alternate between a torn tail and a flipped byte.
    corruptions: u64,
}

/// Applies one fault; returns what it did, for the report. Faults that need undoing are undone
/// by [`heal`].
pub(super) fn inject(
    ens: &mut Ensemble,
    fault: Fault,
    rng: &mut Rng,
    faults: &mut Faults,
) -> String {
    let Faults {
        killed,
        paused,
        corrupted,
        corruptions,
    } = faults;
    let ids = ens.ids();
    let n = ids.len();
    let leader = ens.leaders().first().copied();
    match fault {
        Fault::KillLeader => match leader {
            Some(l) => {
                ens.kill(l);
                killed.insert(l);
                format!("kill -9 leader {l}")
            }
            None => "kill leader: no leader".into(),
        },
        Fault::KillRandom => {
            let v = ids[rng.below(n as u64) as usize];
            ens.kill(v);
            killed.insert(v);
            format!("kill -9 server {v}")
        }
        Fault::KillAll => {
            for v in &ids {
                ens.kill(*v);
                killed.insert(*v);
            }
            "kill -9 every server".into()
        }
        Fault::Pause => {
            let v = ids[rng.below(n as u64) as usize];
            ens.pause(v, true);
            paused.insert(v);
            format!("SIGSTOP server {v}")
        }
        Fault::PartitionHalves => {
            let mut a: Vec<u64> = Vec::new();
            let mut b: Vec<u64> = Vec::new();
            for v in &ids {
                if rng.below(2) == 0 {
                    a.push(*v)
                } else {
                    b.push(*v)
                }
            }
            ens.partition(&[&a, &b]);
            format!("partition {a:?} / {b:?}")
        }
        Fault::Bridge => {
            let bridge = ids[rng.below(n as u64) as usize];
            let rest: Vec<u64> = ids.iter().copied().filter(|v| *v != bridge).collect();
            let (a, b) = rest.split_at(rest.len() / 2);
            let pairs: Vec<(u64, u64)> = a
                .iter()
                .flat_map(|x| b.iter().map(move |y| (*x, *y)))
                .collect();
            ens.cut_links(&pairs);
            format!("bridge: {a:?} / {b:?} connected only through {bridge}")
        }
        Fault::IsolateLeaderOneWay => match leader {
            Some(l) => {
                ens.isolate_outbound(l);
                format!("one-way isolation of leader {l}")
            }
            None => "isolate leader: no leader".into(),
        },
        Fault::CorruptTail => {
            let minority = (n - 1) / 2;
            let k = 1 + rng.below(minority.max(1) as u64) as usize;
            let mut out = Vec::new();
            let mut pool = ids.clone();
            for _ in 0..k {
                let v = pool.remove(rng.below(pool.len() as u64) as usize);
                ens.kill(v);
                *corruptions += 1;
                let torn = *corruptions % 2 == 1;
                let how = corrupt_newest_log(ens, v, torn);
                killed.insert(v);
                corrupted.insert(v, !torn);
                out.push(format!("server {v}: {how}"));
            }
            format!("corrupt log tail on a minority: {}", out.join("; "))
        }
    }
}

/// Zeroes the last bytes of the newest log segment (`torn`), or flips one of them.
fn corrupt_newest_log(ens: &Ensemble, id: u64, torn: bool) -> String {
    let dir = ens.member(id).data_dir().join("version-2");
    let newest = std::fs::read_dir(&dir)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let z = u64::from_str_radix(name.strip_prefix("log.")?, 16).ok()?;
            Some((z, e.path()))
        })
        .max();
    let Some((_, path)) = newest else {
        return "no log segment".into();
    };
    // Segments are preallocated and written from the start: the first all-zero chunk after
    // the records is found by bisection, then the last written byte before it.
    use std::os::unix::fs::FileExt;
    let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
    else {
        return "unreadable log".into();
    };
    const CHUNK: u64 = 1 << 16;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let chunks = len.div_ceil(CHUNK);
    let mut buf = vec![0u8; CHUNK as usize];
    let read_chunk = |i: u64, buf: &mut Vec<u8>| -> usize {
        let from = i * CHUNK;
        let n = (len - from).min(CHUNK) as usize;
        let _ = f.read_exact_at(&mut buf[..n], from);
        n
    };
    let (mut lo, mut hi) = (0u64, chunks);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let n = read_chunk(mid, &mut buf);
        if buf[..n].iter().all(|b| *b == 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    if lo == 0 {
        return "empty log".into();
    }
    let n = read_chunk(lo - 1, &mut buf);
    let Some(i) = buf[..n].iter().rposition(|b| *b != 0) else {
        return "empty log".into();
    };
    let end = (lo - 1) * CHUNK + i as u64;
    let what = if torn {
        let from = end.saturating_sub(24);
        let _ = f.write_all_at(&vec![0u8; (end + 1 - from) as usize], from);
        format!("zeroed {}..{}", from, end + 1)
    } else {
        let at = end.saturating_sub(6);
        let mut b = [0u8; 1];
        let _ = f.read_exact_at(&mut b, at);
        let _ = f.write_all_at(&[b[0] ^ 0x5a], at);
        format!("flipped byte {at}")
    };
    let _ = f.sync_all();
    format!("{} of {}", what, path.display())
}

/// Undoes every fault: resumes paused servers, heals links, restarts killed servers (a server
/// that refuses its corrupted log is wiped and restarted, as an operator would).
pub(super) fn heal(ens: &mut Ensemble, faults: &mut Faults, notes: &mut Vec<String>) {
    let Faults {
        killed,
        paused,
        corrupted,
        ..
    } = faults;
    for v in std::mem::take(paused) {
        ens.pause(v, false);
    }
    ens.heal();
    for v in std::mem::take(killed) {
        ens.start(v);
        // Only a server whose log was damaged may refuse to start; one with a flipped byte
        // in a complete record must.
        let flipped = corrupted.remove(&v);
        let refused = flipped.is_some()
            && crate::wait_until(Duration::from_secs(3), || ens.exit_status(v).is_some());
        if flipped == Some(true) && !refused {
            notes.push(format!(
                "VIOLATION: server {v} started on a log whose last complete record has a bad checksum"
            ));
        }
        if refused {
            let status = ens.exit_status(v);
            let log = ens.log(v);
            let named = log.contains("version-2/log.");
            notes.push(format!(
                "server {v} refused to start ({status:?}; names the log file: {named}); wiped and restarted"
            ));
            if !named || status.and_then(|s| s.code()) != Some(zk_server::EXIT_STORAGE) {
                notes.push(format!(
                    "VIOLATION: server {v} stopped without naming the corrupted file with exit code {}",
                    zk_server::EXIT_STORAGE
                ));
            }
            ens.kill(v);
            ens.wipe(v);
            ens.start(v);
        }
    }
}
