//! The AdminServer's commands, as Apache ZooKeeper 3.8's
//! `org.apache.zookeeper.server.admin.Commands` names and answers them: the
//! same names and aliases, the same JSON keys (snake_case, as Apache's Jackson
//! writes them) with the same meanings, `command` (the primary name) and
//! `error` (null, or why the command could not run) in every answer.
//!
//! [`run`] is called on the core's task with the core's read-only
//! [`StatsView`]; it reads figures and never changes the core (the two resets
//! are asked of the core before, by `CoreMsg::ResetStats`).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use serde_json::{json, Map, Value};

use super::Context;
use crate::config::PeerType;
use crate::core::{Role, StatsView};
use crate::fourlw::{self, ZK_VERSION};
use crate::tree::APACHE_DIGEST_VERSION;

/// `ZooTrace`'s default text trace mask: CLIENT_REQUEST (2) | SERVER_PACKET (16)
/// | SESSION (32) | WARNING (256) = 306.
pub const DEFAULT_TRACE_MASK: i64 = 306;

/// Apache's answer when the server is not serving.
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// A command: its names (the primary one first) and whether it needs a serving server.
pub struct Command {
    pub names: &'static [&'static str],
    pub server_required: bool,
}

impl Command {
    pub fn primary(&self) -> &'static str {
        self.names[0]
    }
}

const fn cmd(names: &'static [&'static str], server_required: bool) -> Command {
    Command {
        names,
        server_required,
    }
}

/// Apache 3.8's 26 commands, by primary name.
pub const COMMANDS: &[Command] = &[
    cmd(&["configuration", "conf", "config"], true),
    cmd(&["connection_stat_reset", "crst"], true),
    cmd(&["connections", "cons"], true),
    cmd(&["dirs"], true),
    cmd(&["dump"], true),
    cmd(&["environment", "env", "envi"], false),
    cmd(&["get_trace_mask", "gtmk"], false),
    cmd(&["hash"], true),
    cmd(&["initial_configuration", "icfg"], true),
    cmd(&["is_read_only", "isro"], true),
    cmd(&["last_snapshot", "lsnp"], true),
    cmd(&["leader", "lead"], true),
    cmd(&["monitor", "mntr"], false),
    cmd(&["observer_connection_stat_reset", "orst"], true),
    cmd(&["observers", "obsr"], true),
    cmd(&["ruok"], true),
    cmd(&["server_stats", "srvr"], true),
    cmd(&["set_trace_mask", "stmk"], false),
    cmd(&["stat_reset", "srst"], true),
    cmd(&["stats", "stat"], true),
    cmd(&["system_properties", "sysp"], false),
    cmd(&["voting_view"], true),
    cmd(&["watch_summary", "wchs"], true),
    cmd(&["watches", "wchc"], true),
    cmd(&["watches_by_path", "wchp"], true),
    cmd(&["zabstate"], false),
];

/// The command any of whose names is `name`.
pub fn lookup(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.names.contains(&name))
}

/// Apache's `CommandResponse.toMap()`: the data, then `command` and `error`
/// (an `error` in the data wins, as in Apache's, where the data is put last).
pub fn response(command: &str, data: BTreeMap<String, Value>, error: Option<String>) -> Value {
    let mut m = Map::new();
    m.insert("command".into(), json!(command));
    m.insert("error".into(), json!(error));
    for (k, v) in data {
        m.insert(k, v);
    }
    Value::Object(m)
}

/// Run `cmd`, asked for as `asked` (one of its names), over the core's view.
pub fn run(
    view: &StatsView,
    cmd: &Command,
    asked: &str,
    kwargs: &BTreeMap<String, String>,
    ctx: &Context,
) -> Value {
    let name = cmd.primary();
    if cmd.server_required && !view.serving() {
        // As Apache's, this answer names the command as it was asked.
        return response(asked, BTreeMap::new(), Some(NOT_SERVING.into()));
    }
    let mut d: BTreeMap<String, Value> = BTreeMap::new();
    let mut put = |k: &str, v: Value| {
        d.insert(k.to_owned(), v);
    };
    let cfg = &ctx.cfg;
    // A quorum member serving as such: Apache's QuorumZooKeeperServer. In read-only
    // mode Apache's server is a plain ReadOnlyZooKeeperServer, and so is this one here.
    let in_ensemble = view.role() != Role::Standalone && !view.read_only();
    match name {
        "configuration" => {
            put("client_port", json!(cfg.client_port));
            put(
                "data_dir",
                json!(cfg.data_dir.join("version-2").display().to_string()),
            );
            put(
                "data_log_dir",
                json!(cfg.data_log_dir.join("version-2").display().to_string()),
            );
            put("tick_time", json!(cfg.tick_time_ms));
            put("max_client_cnxns", json!(cfg.max_client_cnxns));
            put("min_session_timeout", json!(cfg.min_session_timeout_ms));
            put("max_session_timeout", json!(cfg.max_session_timeout_ms));
            put("server_id", json!(cfg.myid.unwrap_or(0)));
            put("client_port_listen_backlog", json!(-1));
        }
        "connection_stat_reset" | "stat_reset" | "observer_connection_stat_reset" | "ruok" => {}
        "connections" => {
            put("connections", connections(view, false));
            put("secure_connections", json!([]));
        }
        "dirs" => {
            put("datadir_size", json!(data_dir_size(ctx)));
            put("logdir_size", json!(log_dir_size(ctx)));
        }
        "dump" => {
            let tick = cfg.tick_time_ms as i64;
            let mut expiry = Map::new();
            for (at, ids) in fourlw::expiry_buckets(tick, &view.session_expiries()) {
                expiry.insert(at.to_string(), json!(ids));
            }
            put("expiry_time_to_session_ids", Value::Object(expiry));
            let mut eph = Map::new();
            for (sid, paths) in view.tree().ephemeral_sessions() {
                eph.insert(sid.to_string(), json!(paths));
            }
            put("session_id_to_ephemeral_paths", Value::Object(eph));
        }
        "environment" => {
            for (k, v) in fourlw::environment() {
                put(k, json!(v));
            }
        }
        "get_trace_mask" => put("tracemask", json!(ctx.trace_mask.load(Ordering::Relaxed))),
        "set_trace_mask" => match kwargs.get("traceMask") {
            None => put(
                "error",
                json!("setTraceMask requires long traceMask argument"),
            ),
            Some(v) => match v.parse::<i64>() {
                Ok(mask) => {
                    ctx.trace_mask.store(mask, Ordering::Relaxed);
                    put("tracemask", json!(mask));
                }
                Err(_) => put(
                    "error",
                    json!(format!(
                        "setTraceMask requires long traceMask argument, got {v}"
                    )),
                ),
            },
        },
        // Apache's DataTree.getDigestLog: the tree's digest after every zxid that is
        // a multiple of 128, the newest 1024, as Apache's Jackson (snake_case) writes
        // its ZxidDigest. With digests off Apache still logs, and its digest stays 0.
        "hash" => {
            let enabled = cfg.digest_enabled();
            let log: Vec<Value> = view
                .tree()
                .digest_log()
                .map(|(zxid, digest)| {
                    json!({
                        "zxid": zxid.0,
                        "digest_version": APACHE_DIGEST_VERSION,
                        "digest": if enabled { digest as i64 } else { 0 },
                    })
                })
                .collect();
            put("digests", Value::Array(log))
        }
        "initial_configuration" => put("initial_configuration", json!(ctx.initial_config)),
        "is_read_only" => put("read_only", json!(view.read_only())),
        "last_snapshot" => {
            let (zxid, ts) = last_snapshot(ctx);
            put("zxid", json!(format!("{zxid:x}")));
            put("timestamp", json!(ts));
        }
        "leader" => {
            if in_ensemble {
                let leader = view.ensemble().leader_id;
                put("is_leader", json!(view.role() == Role::Leading));
                put("leader_id", json!(leader.map_or(-1, |l| l as i64)));
                let current = crate::reconfig::parse_membership(&view.membership_text())
                    .map(|(servers, _)| servers)
                    .unwrap_or_else(|_| cfg.servers.clone());
                let ip = leader
                    .and_then(|l| current.get(&l))
                    .map(|s| s.host.clone())
                    .unwrap_or_default();
                put("leader_ip", json!(ip));
            } else {
                put("error", json!("server is not initialized"));
            }
        }
        "monitor" => {
            for (k, v) in fourlw::monitor(view) {
                let k = k.strip_prefix("zk_").unwrap_or(&k).to_owned();
                put(&k, number_or_string(&v));
            }
        }
        "observers" => {
            // A leader's observers. Followers serve none (we have no
            // observerMaster), so they answer 0 and [] as Apache's do then.
            let list: Vec<Value> = if view.role() == Role::Leading {
                view.ensemble()
                    .observers
                    .iter()
                    .map(|o| {
                        json!({
                            "sid": o.sid,
                            // Java's InetSocketAddress.toString(): "/ip:port".
                            "remote_socket_address": o.addr.map_or(String::new(), |a| format!("/{a}")),
                            "established": o.established_ms,
                            // Per-learner packet counters are not kept (yet).
                            "last_zxid": -1,
                            "packets_received": 0,
                            "packets_sent": 0,
                            "queued_packets": 0,
                            "queued_packets_size": 0,
                            "requests": 0,
                        })
                    })
                    .collect()
            } else {
                Vec::new()
            };
            put("synced_observers", json!(list.len()));
            put("observers", Value::Array(list));
        }
        "server_stats" | "stats" => {
            server_stats(view, ctx, &mut put);
            if name == "stats" {
                put("connections", connections(view, true));
                put("secure_connections", json!([]));
            }
        }
        "system_properties" => {
            for (k, v) in system_properties() {
                put(&k, json!(v));
            }
        }
        "voting_view" => {
            let mut m = Map::new();
            if in_ensemble {
                // The view in force (a reconfig may have changed zoo.cfg's).
                let current = crate::reconfig::parse_membership(&view.membership_text())
                    .map(|(servers, _)| servers)
                    .unwrap_or_else(|_| cfg.servers.clone());
                for s in current.values() {
                    if s.peer_type != PeerType::Participant {
                        continue;
                    }
                    let client = match (&s.client_addr, s.client_port) {
                        (Some(a), Some(p)) => format!("{a}:{p}"),
                        (None, Some(p)) => format!("0.0.0.0:{p}"),
                        _ => String::new(),
                    };
                    m.insert(
                        s.id.to_string(),
                        json!({
                            "server_addresses": [format!("{}:{}", s.host, s.quorum_port)],
                            "election_addresses": [format!("{}:{}", s.host, s.election_port)],
                            "client_address": client,
                            "learner_type": "participant",
                        }),
                    );
                }
            }
            put("current_config", Value::Object(m));
        }
        "watch_summary" => {
            let (sessions, paths, total) = view.watches().data_summary();
            put("num_connections", json!(sessions));
            put("num_paths", json!(paths));
            put("num_total_watches", json!(total));
        }
        "watches" => {
            let mut m = Map::new();
            for (sid, paths) in view.watches().data_by_session() {
                m.insert(sid.to_string(), json!(paths));
            }
            put("session_id_to_watched_paths", Value::Object(m));
        }
        "watches_by_path" => {
            let mut m = Map::new();
            for (path, sids) in view.watches().data_by_path() {
                m.insert(path, json!(sids));
            }
            put("path_to_session_ids", Value::Object(m));
        }
        "zabstate" => {
            let me = cfg.myid.and_then(|id| cfg.servers.get(&id));
            match me {
                Some(me) if in_ensemble && view.serving() => {
                    let zxid = view.tree().last_processed_zxid().0;
                    put("myid", json!(me.id));
                    put("is_leader", json!(view.role() == Role::Leading));
                    put(
                        "quorum_address",
                        multiple_addresses(&me.host, me.quorum_port),
                    );
                    put(
                        "election_address",
                        multiple_addresses(&me.host, me.election_port),
                    );
                    put("client_address", json!(ctx.client_addr.to_string()));
                    put("voting", json!(me.peer_type == PeerType::Participant));
                    put("last_zxid", json!(format!("0x{zxid:x}")));
                    put("zab_epoch", json!(zxid >> 32));
                    put("zab_counter", json!(zxid & 0xffff_ffff));
                    put("zabstate", json!(view.ensemble().zab_phase));
                }
                // Apache's has no server to ask while standalone or looking.
                _ => {
                    put("voting", json!(false));
                    put("zabstate", json!(""));
                }
            }
        }
        other => unreachable!("command {other} has no body"),
    }
    let error = d
        .remove("error")
        .and_then(|e| e.as_str().map(str::to_owned));
    response(name, d, error)
}

/// Apache's `MultipleAddresses` of one address, as Jackson writes the bean.
fn multiple_addresses(host: &str, port: u16) -> Value {
    let addr = format!("{host}:{port}");
    json!({
        "all_addresses": [addr],
        "all_host_strings": [host],
        "all_ports": [port],
        "all_reachable_addresses": [addr],
        "all_reachable_addresses_or_all": [addr],
        "empty": false,
        "one": addr,
        "reachable_address": addr,
        "reachable_or_one": addr,
        "wildcard_addresses": [format!("0.0.0.0:{port}")],
    })
}

/// `mntr`'s text values as JSON: numbers stay numbers.
fn number_or_string(v: &str) -> Value {
    if let Ok(n) = v.parse::<i64>() {
        json!(n)
    } else if let Ok(f) = v.parse::<f64>() {
        json!(f)
    } else {
        json!(v)
    }
}

fn data_dir_size(ctx: &Context) -> u64 {
    fourlw::dir_size(&ctx.cfg.data_dir.join("version-2"))
}

fn log_dir_size(ctx: &Context) -> u64 {
    fourlw::dir_size(&ctx.cfg.data_log_dir.join("version-2"))
}

/// The newest snapshot's zxid and its file's modification time in seconds;
/// `(-1, -1)` when there is none (Apache's `SnapshotInfo`).
fn last_snapshot(ctx: &Context) -> (i64, i64) {
    let dir = crate::persist::snap_dir(&ctx.cfg);
    let mut best: Option<(i64, i64)> = None;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name();
        let Some(hex) = name.to_str().and_then(|n| n.strip_prefix("snapshot.")) else {
            continue;
        };
        let Ok(zxid) = i64::from_str_radix(hex, 16) else {
            continue;
        };
        let ts = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(-1, |d| d.as_secs() as i64);
        match best {
            Some((z, _)) if z >= zxid => {}
            _ => best = Some((zxid, ts)),
        }
    }
    best.unwrap_or((-1, -1))
}

/// The keys of `server_stats` (and the first of `stats`).
fn server_stats(view: &StatsView, ctx: &Context, put: &mut dyn FnMut(&str, Value)) {
    let s = view.stats();
    let avg = if s.latency_count == 0 {
        0.0
    } else {
        s.total_latency_ms as f64 / s.latency_count as f64
    };
    let (last, min, max) = match s.client_response_sizes {
        Some((l, lo, hi)) => (l as i64, lo as i64, hi as i64),
        None => (-1, -1, -1),
    };
    let buffers = json!({"last_buffer_size": last, "min_buffer_size": min, "max_buffer_size": max});
    let state = if view.read_only() {
        "read-only"
    } else {
        view.role().name()
    };
    put("version", json!(ZK_VERSION));
    put("read_only", json!(view.read_only()));
    put(
        "server_stats",
        json!({
            "packets_sent": s.packets_sent,
            "packets_received": s.packets_received,
            "fsync_threshold_exceed_count": 0,
            "client_response_stats": buffers,
            "data_dir_size": data_dir_size(ctx),
            "log_dir_size": log_dir_size(ctx),
            "provider_null": false,
            "server_state": state,
            "last_processed_zxid": view.tree().last_processed_zxid().0,
            "outstanding_requests": view.outstanding(),
            "avg_latency": (avg * 10000.0).round() / 10000.0,
            "max_latency": s.max_latency_ms,
            "min_latency": s.min_latency_ms,
            "num_alive_client_connections": view.connection_count(),
            "uptime": view.uptime().as_millis() as u64,
            "auth_failed_count": view.metrics().auth_failed,
            "non_mtlsremote_conn_count": 0,
            "non_mtlslocal_conn_count": 0,
        }),
    );
    put("client_response", buffers);
    if view.role() == Role::Leading {
        let (last, min, max) = match view.ensemble().proposal_sizes {
            Some((l, lo, hi)) => (l as i64, lo as i64, hi as i64),
            None => (-1, -1, -1),
        };
        put(
            "proposal_stats",
            json!({"last_buffer_size": last, "min_buffer_size": min, "max_buffer_size": max}),
        );
    }
    put("node_count", json!(fourlw::node_count(view)));
}

/// Apache's `ServerCnxn.getConnectionInfo(brief)`.
fn connections(view: &StatsView, brief: bool) -> Value {
    let list: Vec<Value> = view
        .connection_infos()
        .into_iter()
        .map(|c| {
            let mut m = Map::new();
            m.insert(
                "remote_socket_address".into(),
                json!(format!("{}:{}", c.addr.ip(), c.addr.port())),
            );
            // SelectionKey.OP_READ: the connection is read from.
            m.insert("interest_ops".into(), json!(1));
            m.insert("outstanding_requests".into(), json!(c.queued));
            m.insert("packets_received".into(), json!(c.received));
            m.insert("packets_sent".into(), json!(c.sent));
            if !brief {
                m.insert("session_id".into(), json!(c.session_id));
                m.insert("last_operation".into(), json!(c.last_op));
                m.insert("established".into(), json!(c.established_ms));
                m.insert("session_timeout".into(), json!(c.session_timeout_ms));
                m.insert("last_cxid".into(), json!(c.last_cxid));
                m.insert("last_zxid".into(), json!(c.last_zxid));
                m.insert("last_response_time".into(), json!(c.last_response_ms));
                m.insert("last_latency".into(), json!(c.last_latency_ms));
                m.insert("min_latency".into(), json!(c.min_latency_ms));
                m.insert("avg_latency".into(), json!(c.avg_latency_ms));
                m.insert("max_latency".into(), json!(c.max_latency_ms));
            }
            Value::Object(m)
        })
        .collect();
    Value::Array(list)
}

/// What stands for the JVM's system properties: the platform's figures under
/// the JVM's names, and the `zookeeper.*` settings this server runs with.
fn system_properties() -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = fourlw::environment()
        .into_iter()
        .filter(|(k, _)| {
            k.starts_with("os.name")
                || k.starts_with("os.arch")
                || k.starts_with("os.version")
                || k.starts_with("user.")
                || *k == "java.io.tmpdir"
        })
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    m.insert("file.separator".into(), "/".into());
    m.insert("path.separator".into(), ":".into());
    m.insert("line.separator".into(), "\n".into());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_and_alias_finds_its_command() {
        assert_eq!(COMMANDS.len(), 26);
        assert_eq!(lookup("mntr").unwrap().primary(), "monitor");
        assert_eq!(lookup("config").unwrap().primary(), "configuration");
        assert_eq!(lookup("envi").unwrap().primary(), "environment");
        assert!(lookup("bogus").is_none());
        let mut names: Vec<&str> = COMMANDS
            .iter()
            .flat_map(|c| c.names.iter().copied())
            .collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "a name is used twice");
    }

    #[test]
    fn an_error_in_the_data_is_the_answers_error() {
        let v = response("x", BTreeMap::new(), Some("why".into()));
        assert_eq!(v, json!({"command": "x", "error": "why"}));
        assert_eq!(number_or_string("12"), json!(12));
        assert_eq!(number_or_string("0.5"), json!(0.5));
        assert_eq!(number_or_string("leader"), json!("leader"));
    }
}
