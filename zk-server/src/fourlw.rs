//! The four-letter words, in Apache ZooKeeper 3.8's output formats.

use std::fmt::Write;

use crate::config::PeerType;
use crate::core::{Core, Role};

/// The version we report. Clients such as kazoo parse the leading `3.8.x`.
pub const ZK_VERSION: &str = concat!(
    "3.8.4-zk-rs-",
    env!("CARGO_PKG_VERSION"),
    ", built on 2026-11-25 00:00 UTC"
);

fn dir_size(p: &std::path::Path) -> u64 {
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

fn mode(core: &Core) -> &'static str {
    if core.read_only() {
        "read-only"
    } else {
        core.role.name()
    }
}

/// ZooKeeper's answer from a server without a quorum.
const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

/// An average as ZooKeeper prints it: rounded to 4 decimals, Java's double format.
fn java_avg(total: u64, count: u64) -> String {
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
fn node_count(core: &Core) -> usize {
    core.tree.node_count() + 1
}

fn server_stats(core: &Core, out: &mut String) {
    let s = &core.stats;
    let avg = java_avg(s.total_latency_ms, s.latency_count);
    let _ = writeln!(
        out,
        "Latency min/avg/max: {}/{}/{}",
        s.min_latency_ms, avg, s.max_latency_ms
    );
    let _ = writeln!(out, "Received: {}", s.packets_received);
    let _ = writeln!(out, "Sent: {}", s.packets_sent);
    let _ = writeln!(out, "Connections: {}", core.connection_count());
    let _ = writeln!(out, "Outstanding: {}", core.outstanding());
    let _ = writeln!(out, "Zxid: 0x{:x}", core.zxid_for_stats().0);
    let _ = writeln!(out, "Mode: {}", mode(core));
    let _ = writeln!(out, "Node count: {}", node_count(core));
    if core.role == Role::Leading {
        let _ = writeln!(out, "Proposal sizes last/min/max: {}", proposal_sizes(core));
    }
}

/// `last/min/max` of the proposals' sizes, `-1` each before the first.
fn proposal_sizes(core: &Core) -> String {
    match core.ensemble.proposal_sizes {
        Some((l, lo, hi)) => format!("{l}/{lo}/{hi}"),
        None => "-1/-1/-1".into(),
    }
}

/// The ensemble figures of `mntr` (ZooKeeper's QuorumZooKeeperServer and leader gauges).
fn ensemble_mntr(core: &Core, kv: &mut dyn FnMut(&str, String)) {
    let state = match core.role {
        Role::Leading => "leading",
        Role::Following => "following",
        Role::Observing => "observing",
        Role::Standalone | Role::Looking => return,
    };
    kv("zk_peer_state", format!("{state} - broadcast"));
    let voters = core
        .cfg
        .servers
        .values()
        .filter(|s| s.peer_type == PeerType::Participant)
        .count();
    kv("zk_quorum_size", (voters / 2 + 1).to_string());
    if core.role == Role::Leading {
        let l = core.ensemble.learners;
        kv("zk_learners", (l.followers + l.observers).to_string());
        // ZooKeeper 3.4's name, which monitoring scripts still parse.
        kv("zk_followers", (l.followers + l.observers).to_string());
        kv("zk_synced_followers", l.synced_followers.to_string());
        kv("zk_synced_non_voting_followers", "0".into());
        kv("zk_synced_observers", l.observers.to_string());
        kv("zk_pending_syncs", l.pending_syncs.to_string());
        let up = core
            .ensemble
            .leading_since
            .map(|t| t.elapsed().as_millis())
            .unwrap_or(0);
        kv("zk_leader_uptime", up.to_string());
    }
}

/// Run a four-letter word against the core's state.
pub fn run(core: &mut Core, word: &str) -> String {
    let mut out = String::new();
    if !core.role.serving() && !core.read_only() {
        match word {
            "ruok" => return "imok".into(),
            "isro" => return "null".into(),
            "envi" | "dirs" => {}
            _ => return NOT_SERVING.into(),
        }
    }
    match word {
        "ruok" => out.push_str("imok"),
        "isro" => out.push_str(if core.read_only() { "ro" } else { "rw" }),
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
            out.push('\n');
            server_stats(core, &mut out);
        }
        "cons" => {
            for l in core.connection_lines(false) {
                let _ = writeln!(out, "{l}");
            }
            out.push('\n');
        }
        "crst" => {
            core.reset_conn_stats();
            out.push_str("Connection stats reset.\n");
        }
        "srst" => {
            core.reset_stats();
            out.push_str("Server stats reset.\n");
        }
        "conf" => {
            let c = &core.cfg;
            let data = c.data_dir.join("version-2");
            let log = c.data_log_dir.join("version-2");
            let _ = writeln!(out, "clientPort={}", c.client_port);
            let _ = writeln!(out, "secureClientPort=-1");
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
                for s in c.servers.values() {
                    let t = match s.peer_type {
                        PeerType::Participant => "participant",
                        PeerType::Observer => "observer",
                    };
                    let _ = write!(
                        out,
                        "server.{}={}:{}:{}:{t}",
                        s.id, s.host, s.quorum_port, s.election_port
                    );
                    match (&s.client_addr, s.client_port) {
                        (Some(a), Some(p)) => {
                            let _ = write!(out, ";{a}:{p}");
                        }
                        (None, Some(p)) => {
                            let _ = write!(out, ";0.0.0.0:{p}");
                        }
                        _ => {}
                    }
                    out.push('\n');
                }
                out.push_str("version=0\n");
            }
        }
        "envi" => {
            out.push_str("Environment:\n");
            let _ = writeln!(out, "zookeeper.version={ZK_VERSION}");
            let host =
                std::fs::read_to_string("/etc/hostname").unwrap_or_else(|_| "localhost".into());
            let _ = writeln!(out, "host.name={}", host.trim());
            let _ = writeln!(out, "java.version=none (zk-rs, Rust)");
            let _ = writeln!(out, "java.vendor=none");
            let _ = writeln!(out, "java.home=none");
            let _ = writeln!(out, "java.class.path=none");
            let _ = writeln!(out, "java.library.path=none");
            let _ = writeln!(out, "java.io.tmpdir={}", std::env::temp_dir().display());
            let _ = writeln!(out, "java.compiler=<NA>");
            let _ = writeln!(out, "os.name={}", std::env::consts::OS);
            let _ = writeln!(out, "os.arch={}", std::env::consts::ARCH);
            let _ = writeln!(out, "os.version=unknown");
            let _ = writeln!(
                out,
                "user.name={}",
                std::env::var("USER").unwrap_or_default()
            );
            let _ = writeln!(
                out,
                "user.home={}",
                std::env::var("HOME").unwrap_or_default()
            );
            let _ = writeln!(
                out,
                "user.dir={}",
                std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default()
            );
            let _ = writeln!(out, "os.memory.free=0MB");
            let _ = writeln!(out, "os.memory.max=0MB");
            let _ = writeln!(out, "os.memory.total=0MB");
        }
        "mntr" => {
            let s = core.stats.clone();
            let avg = java_avg(s.total_latency_ms, s.latency_count);
            let znodes = node_count(core);
            let mut kv = |k: &str, v: String| {
                let _ = writeln!(out, "{k}\t{v}");
            };
            kv("zk_version", ZK_VERSION.to_string());
            kv("zk_server_state", mode(core).to_string());
            kv("zk_avg_latency", avg);
            kv("zk_max_latency", s.max_latency_ms.to_string());
            kv("zk_min_latency", s.min_latency_ms.to_string());
            kv("zk_packets_received", s.packets_received.to_string());
            kv("zk_packets_sent", s.packets_sent.to_string());
            kv(
                "zk_num_alive_connections",
                core.connection_count().to_string(),
            );
            kv("zk_outstanding_requests", core.outstanding().to_string());
            kv("zk_znode_count", znodes.to_string());
            kv("zk_watch_count", core.watches.watch_count().to_string());
            kv(
                "zk_ephemerals_count",
                core.tree.ephemeral_count().to_string(),
            );
            kv(
                "zk_approximate_data_size",
                core.tree.approximate_data_size().to_string(),
            );
            kv("zk_open_file_descriptor_count", open_fds().to_string());
            kv("zk_max_file_descriptor_count", max_fds().to_string());
            kv("zk_global_sessions", core.session_count().to_string());
            kv("zk_local_sessions", "0".into());
            kv("zk_uptime", core.started.elapsed().as_millis().to_string());
            let (last, min, max) = match core.ensemble.proposal_sizes {
                Some((l, lo, hi)) => (l as i64, lo as i64, hi as i64),
                None => (-1, -1, -1),
            };
            kv("zk_last_proposal_size", last.to_string());
            kv("zk_max_proposal_size", max.to_string());
            kv("zk_min_proposal_size", min.to_string());
            ensemble_mntr(core, &mut kv);
        }
        "wchs" => {
            let _ = writeln!(
                out,
                "{} connections watching {} paths\nTotal watches:{}",
                core.watches.by_session().len(),
                core.watches.path_count(),
                core.watches.watch_count()
            );
        }
        "wchc" => {
            for (sid, paths) in core.watches.by_session() {
                let _ = writeln!(out, "0x{sid:x}");
                for p in paths {
                    let _ = writeln!(out, "\t{p}");
                }
            }
            out.push('\n');
        }
        "wchp" => {
            for (p, sids) in core.watches.by_path() {
                let _ = writeln!(out, "{p}");
                for s in sids {
                    let _ = writeln!(out, "\t0x{s:x}");
                }
            }
            out.push('\n');
        }
        "dump" => {
            let sessions = core.session_timeouts();
            out.push_str("SessionTracker dump:\n");
            let _ = writeln!(
                out,
                "Session Sets ({})/({}):",
                sessions.len(),
                sessions.len()
            );
            for (id, to) in &sessions {
                let _ = writeln!(out, "1 expire within {to}ms:\n\t0x{id:x}");
            }
            out.push_str("ephemeral nodes dump:\n");
            let mut eph: Vec<(i64, Vec<String>)> = core
                .tree
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
            let _ = writeln!(out, "Connections Sets (0)/(0):");
        }
        "dirs" => {
            let c = &core.cfg;
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

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn max_fds() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
