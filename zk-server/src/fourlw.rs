//! The four-letter words, in Apache ZooKeeper 3.8's output formats, over
//! the core's read-only [`StatsView`]. [`ask`] runs one on the core's task;
//! [`run`] is the text itself.

use std::fmt::Write;
use std::net::SocketAddr;

use tokio::sync::{mpsc, oneshot};

use crate::config::PeerType;
use crate::core::{now_ms, CoreMsg, Role, StatsReset, StatsView};

/// The version we report. Clients such as kazoo parse the leading `3.8.x`.
pub const ZK_VERSION: &str = concat!(
    "3.8.4-zk-rs-",
    env!("CARGO_PKG_VERSION"),
    ", built on 2026-11-25 00:00 UTC"
);

pub(crate) fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// ZooKeeper's answer from a server without a quorum.
const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

/// An average as ZooKeeper prints it: rounded to 4 decimals, Java's double format.
pub(crate) fn java_avg(total: u64, count: u64) -> String {
    if count == 0 {
        return "0.0".into();
    }
    let r = ((total as f64 / count as f64) * 10000.0).round() / 10000.0;
    if r.fract() == 0.0 {
        format!("{r:.1}")
    } else {
        format!("{r}")
    }
}

/// ZooKeeper counts the root twice (under "" and "/").
pub(crate) fn node_count(core: &StatsView) -> usize {
    core.tree().node_count() + 1
}

/// `Date.toString()` of a JVM running in UTC: `Mon Nov 30 13:07:47 UTC 2026`.
fn java_date(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {year}",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )
}

/// ZooKeeper's ExpiryQueue groups by expiry time rounded up to the next tick.
pub(crate) fn expiry_buckets<T: Clone>(tick_ms: i64, items: &[(T, i64)]) -> Vec<(i64, Vec<T>)> {
    let tick = tick_ms.max(1);
    let mut buckets: std::collections::BTreeMap<i64, Vec<T>> = Default::default();
    for (item, at) in items {
        let bucket = (at / tick + 1) * tick;
        buckets.entry(bucket).or_default().push(item.clone());
    }
    buckets.into_iter().collect()
}

/// The line `cons` and `stat` print for the connection a four-letter word came on.
fn asking_connection(from: SocketAddr) -> String {
    format!(
        " /{}:{}[0](queued=0,recved=1,sent=0)",
        from.ip(),
        from.port()
    )
}

fn server_stats(core: &StatsView, out: &mut String) {
    let s = core.stats();
    let avg = java_avg(s.total_latency_ms, s.latency_count);
    let _ = writeln!(
        out,
        "Latency min/avg/max: {}/{}/{}",
        s.min_latency_ms, avg, s.max_latency_ms
    );
    let _ = writeln!(out, "Received: {}", s.packets_received);
    let _ = writeln!(out, "Sent: {}", s.packets_sent);
    // As ZooKeeper's, the count includes the connection that asks.
    let _ = writeln!(out, "Connections: {}", core.connection_count() + 1);
    let _ = writeln!(out, "Outstanding: {}", core.outstanding());
    let _ = writeln!(out, "Zxid: 0x{:x}", core.zxid().0);
    let _ = writeln!(out, "Mode: {}", core.mode());
    let _ = writeln!(out, "Node count: {}", node_count(core));
    if core.role() == Role::Leading {
        let _ = writeln!(out, "Proposal sizes last/min/max: {}", proposal_sizes(core));
    }
}

/// `last/min/max` of the proposals' sizes, `-1` each before the first.
fn proposal_sizes(core: &StatsView) -> String {
    match core.ensemble().proposal_sizes {
        Some((l, lo, hi)) => format!("{l}/{lo}/{hi}"),
        None => "-1/-1/-1".into(),
    }
}

/// `zk_peer_state`: a string, so in `mntr` only (Apache's
/// `QuorumZooKeeperServer.dumpMonitorValues`).
fn peer_state(core: &StatsView) -> Option<&'static str> {
    match core.role() {
        Role::Leading => Some("leading - broadcast"),
        Role::Following => Some("following - broadcast"),
        Role::Observing => Some("observing - broadcast"),
        Role::Standalone | Role::Looking => None,
    }
}

/// Ask the core a four-letter word on behalf of a connection from `from`; `None`
/// when the core is gone.
pub async fn ask(core: &mpsc::Sender<CoreMsg>, word: &str, from: SocketAddr) -> Option<String> {
    let reset = match word {
        "srst" => Some(StatsReset::Server),
        "crst" => Some(StatsReset::Connections),
        _ => None,
    };
    if let Some(what) = reset {
        core.send(CoreMsg::ResetStats(what)).await.ok()?;
    }
    if word == "ydld" {
        return Some(match crate::admin::ops::yield_leadership(core).await? {
            true => crate::admin::ops::YDLD_SENT.to_owned(),
            false => crate::admin::ops::YDLD_NOT_LEADER.to_owned(),
        });
    }
    if word == "rqld" {
        return Some(crate::admin::ops::request_leadership(core).await.1);
    }
    if word == "csnp" {
        // ClickHouse Keeper's: the snapshot's index (here its zxid, as a number).
        return Some(match crate::admin::ops::take_snapshot(core).await? {
            Some(zxid) => zxid.0.to_string(),
            None => crate::admin::ops::CSNP_FAILED.to_owned(),
        });
    }
    let (tx, rx) = oneshot::channel();
    let word = word.to_owned();
    let inspect = move |view: &StatsView<'_>| {
        let _ = tx.send(run(view, &word, from));
    };
    core.send(CoreMsg::Inspect(Box::new(inspect))).await.ok()?;
    Some(rx.await.unwrap_or_default())
}

/// The text of a four-letter word asked on a connection from `from`.
pub fn run(core: &StatsView, word: &str, from: SocketAddr) -> String {
    let mut out = String::new();
    if !core.serving() {
        match word {
            "ruok" => return "imok".into(),
            "isro" => return "null".into(),
            "envi" | "dirs" | "apiv" | "ftfl" => {}
            _ => return NOT_SERVING.into(),
        }
    }
    match word {
        "ruok" => out.push_str("imok"),
        "isro" => out.push_str(if core.read_only() { "ro" } else { "rw" }),
        // ClickHouse Keeper's words: its API version and its feature flags.
        "apiv" => out.push_str(&zab_core::proto::APIV_WORD.to_string()),
        "ftfl" => out.push_str(&crate::core::keeper::ftfl()),
        "srvr" => {
            let _ = writeln!(out, "Zookeeper version: {ZK_VERSION}");
            server_stats(core, &mut out);
        }
        "stat" => {
            let _ = writeln!(out, "Zookeeper version: {ZK_VERSION}");
            out.push_str("Clients:\n");
            for l in core.connection_lines(true) {
                let _ = writeln!(out, "{l}");
            }
            let _ = writeln!(out, "{}", asking_connection(from));
            out.push('\n');
            server_stats(core, &mut out);
        }
        "cons" => {
            for l in core.connection_lines(false) {
                let _ = writeln!(out, "{l}");
            }
            let _ = writeln!(out, "{}", asking_connection(from));
            out.push('\n');
        }
        // The counters were reset before (see [`ask`]).
        "crst" => {
            out.push_str("Connection stats reset.\n");
        }
        "srst" => {
            out.push_str("Server stats reset.\n");
        }
        "conf" => {
            let c = core.cfg();
            let data = c.data_dir.join("version-2");
            let log = c.data_log_dir.join("version-2");
            let _ = writeln!(out, "clientPort={}", c.client_port);
            let secure = c.secure_client_port.map_or(-1, i32::from);
            let _ = writeln!(out, "secureClientPort={secure}");
            let _ = writeln!(out, "dataDir={}", data.display());
            let _ = writeln!(out, "dataDirSize={}", dir_size(&data));
            let _ = writeln!(out, "dataLogDir={}", log.display());
            let _ = writeln!(out, "dataLogSize={}", dir_size(&log));
            let _ = writeln!(out, "tickTime={}", c.tick_time_ms);
            let _ = writeln!(out, "maxClientCnxns={}", c.max_client_cnxns);
            let _ = writeln!(out, "minSessionTimeout={}", c.min_session_timeout_ms);
            let _ = writeln!(out, "maxSessionTimeout={}", c.max_session_timeout_ms);
            let _ = writeln!(out, "clientPortListenBacklog=-1");
            let _ = writeln!(out, "serverId={}", c.myid.unwrap_or(0));
            if let Some(me) = c.myid.and_then(|id| c.servers.get(&id)) {
                let _ = writeln!(out, "initLimit={}", c.init_limit);
                let _ = writeln!(out, "syncLimit={}", c.sync_limit);
                let _ = writeln!(out, "electionAlg=3");
                let _ = writeln!(out, "electionPort={}", me.election_port);
                let _ = writeln!(out, "quorumPort={}", me.quorum_port);
                let observer = me.peer_type == PeerType::Observer;
                let _ = writeln!(out, "peerType={}", observer as u8);
                out.push_str("membership: \n");
                out.push_str(&core.membership_text());
                out.push('\n');
            }
        }
        "envi" => {
            out.push_str("Environment:\n");
            for (k, v) in environment() {
                let _ = writeln!(out, "{k}={v}");
            }
        }
        "mntr" => {
            for (k, v) in monitor(core) {
                let _ = writeln!(out, "{k}\t{v}");
            }
        }
        // As ZooKeeper's, wchs, wchc and wchp show the data watch table
        // (getData, exists, and persistent watches).
        "wchs" => {
            let (sessions, paths, total) = core.watches().data_summary();
            let _ = writeln!(
                out,
                "{sessions} connections watching {paths} paths\nTotal watches:{total}"
            );
        }
        "wchc" => {
            for (sid, paths) in core.watches().data_by_session() {
                let _ = writeln!(out, "0x{sid:x}");
                for p in paths {
                    let _ = writeln!(out, "\t{p}");
                }
            }
            out.push('\n');
        }
        "wchp" => {
            for (p, sids) in core.watches().data_by_path() {
                let _ = writeln!(out, "{p}");
                for s in sids {
                    let _ = writeln!(out, "\t0x{s:x}");
                }
            }
            out.push('\n');
        }
        "dump" => {
            let tick = core.cfg().tick_time_ms as i64;
            let sessions = core.session_expiries();
            out.push_str("SessionTracker dump:\n");
            let buckets = expiry_buckets(tick, &sessions);
            let _ = writeln!(
                out,
                "Session Sets ({})/({}):",
                buckets.len(),
                sessions.len()
            );
            for (at, ids) in &buckets {
                let _ = writeln!(out, "{} expire at {}:", ids.len(), java_date(*at));
                for id in ids {
                    let _ = writeln!(out, "\t0x{id:x}");
                }
            }
            out.push_str("ephemeral nodes dump:\n");
            let mut eph: Vec<(i64, Vec<String>)> = core
                .tree()
                .ephemeral_sessions()
                .map(|(s, ps)| (*s, ps.iter().cloned().collect()))
                .collect();
            eph.sort();
            let _ = writeln!(out, "Sessions with Ephemerals ({}):", eph.len());
            for (s, ps) in eph {
                let _ = writeln!(out, "0x{s:x}:");
                for p in ps {
                    let _ = writeln!(out, "\t{p}");
                }
            }
            out.push_str("Connections dump:\n");
            let mut conns: Vec<((SocketAddr, i64), i64)> = core
                .connection_sessions()
                .into_iter()
                .map(|(addr, sid, at)| ((addr, sid), at))
                .collect();
            // The asking connection has no session; ZooKeeper lists it too.
            conns.push(((from, 0), now_ms() + tick));
            let buckets = expiry_buckets(tick, &conns);
            let _ = writeln!(
                out,
                "Connections Sets ({})/({}):",
                buckets.len(),
                conns.len()
            );
            for (at, cs) in &buckets {
                let _ = writeln!(out, "{} expire at {}:", cs.len(), java_date(*at));
                for (addr, sid) in cs {
                    let _ = writeln!(
                        out,
                        "\tip: /{}:{} sessionId: 0x{sid:x}",
                        addr.ip(),
                        addr.port()
                    );
                }
            }
        }
        "lgif" => out.push_str(&crate::admin::ops::log_info_text(core)),
        // Apache's DigestCommand: the digest log, a line per entry, the zxid in hex
        // and the digest as a Java long (0 with digests off, as Apache's stays).
        "hash" => {
            let enabled = core.cfg().digest_enabled();
            for (zxid, digest) in core.tree().digest_log() {
                let digest = if enabled { digest as i64 } else { 0 };
                let _ = writeln!(out, "{:x}: {digest}", zxid.0);
            }
        }
        "dirs" => {
            let c = core.cfg();
            let _ = writeln!(
                out,
                "datadir_size: {}",
                dir_size(&c.data_dir.join("version-2"))
            );
            let _ = writeln!(
                out,
                "logdir_size: {}",
                dir_size(&c.data_log_dir.join("version-2"))
            );
        }
        other => {
            let _ = writeln!(out, "unknown command {other}");
        }
    }
    out
}

/// `envi`'s figures (ZooKeeper's `Environment.list()`), also the AdminServer's
/// `environment`. The JVM's keys are there, saying there is no JVM.
pub fn environment() -> Vec<(&'static str, String)> {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_else(|_| "localhost".into());
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    vec![
        ("zookeeper.version", ZK_VERSION.to_string()),
        ("host.name", host.trim().to_string()),
        ("java.version", "none (zk-rs, Rust)".into()),
        ("java.vendor", "none".into()),
        ("java.home", "none".into()),
        ("java.class.path", "none".into()),
        ("java.library.path", "none".into()),
        ("java.io.tmpdir", std::env::temp_dir().display().to_string()),
        ("java.compiler", "<NA>".into()),
        ("os.name", std::env::consts::OS.into()),
        ("os.arch", std::env::consts::ARCH.into()),
        ("os.version", "unknown".into()),
        ("user.name", env("USER")),
        ("user.home", env("HOME")),
        (
            "user.dir",
            std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
        ),
        ("os.memory.free", "0MB".into()),
        ("os.memory.max", "0MB".into()),
        ("os.memory.total", "0MB".into()),
    ]
}

/// `mntr`'s keys and values, in its order; also the AdminServer's `monitor`
/// (which drops the `zk_` prefix). Every metric of [`crate::metrics`].
pub fn monitor(core: &StatsView) -> Vec<(String, String)> {
    let mut out = vec![
        ("zk_version".to_owned(), ZK_VERSION.to_string()),
        ("zk_server_state".to_owned(), core.mode().to_string()),
    ];
    if let Some(p) = peer_state(core) {
        out.push(("zk_peer_state".to_owned(), p.to_owned()));
    }
    for m in crate::metrics::collect(core) {
        crate::metrics::mntr_lines(&m, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_as_java_does_in_utc() {
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        // As Apache ZooKeeper's dump printed it.
        assert_eq!(java_date(1_796_044_067_000), "Mon Nov 30 13:07:47 UTC 2026");
        assert_eq!(java_date(951_782_400_000), "Tue Feb 29 00:00:00 UTC 2000");
    }

    #[test]
    fn expiries_are_grouped_by_the_next_tick() {
        let b = expiry_buckets(2000, &[(1, 3999), (2, 2000), (3, 4100)]);
        assert_eq!(b, vec![(4000, vec![1, 2]), (6000, vec![3])]);
    }
}
