//! The figures behind the four-letter words: the server's and each
//! connection's counters, the ensemble's, and [`StatsView`], the read-only view
//! of the core that `fourlw` (and later the admin server and metrics) read.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use zab_core::proto::op;
use zab_core::Zxid;

use super::role::RoleState;
use super::{now_ms, Core, Role};
use crate::config::Config;
use crate::tree::DataTree;
use crate::watch::WatchManager;

/// Counters behind srvr, stat and mntr.
#[derive(Default, Clone)]
pub struct ServerStats {
    pub packets_received: u64,
    pub packets_sent: u64,
    pub min_latency_ms: u64,
    pub max_latency_ms: u64,
    pub total_latency_ms: u64,
    pub latency_count: u64,
    /// Sizes of the replies to requests (pings aside), without the length
    /// prefix: last, min, max; `None` before the first (ZooKeeper's
    /// `clientResponseStats`, -1 each then).
    pub client_response_sizes: Option<(usize, usize, usize)>,
}

/// What `srvr`, `mntr` and `conf` show of the ensemble.
#[derive(Clone, Debug, Default)]
pub struct EnsembleStats {
    pub learners: zab_core::peer::LearnerSummary,
    /// When this server became an established leader.
    pub leading_since: Option<Instant>,
    /// Sizes of the transactions proposed while leading: last, min, max (`-1` before any).
    pub proposal_sizes: Option<(usize, usize, usize)>,
    /// The leader the driver last reported (see `ReplicationMsg::Status`).
    pub leader_id: Option<u64>,
    /// ZooKeeper's ZAB phase name; empty until the driver reports one.
    pub zab_phase: &'static str,
    /// Leader: the observers connected to it.
    pub observers: Vec<crate::replicate::ObserverInfo>,
}

/// One client connection's figures, as the AdminServer's `connections` and
/// `stats` show them (ZooKeeper's `ServerCnxn.getConnectionInfo`).
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    pub addr: SocketAddr,
    pub queued: usize,
    pub received: u64,
    pub sent: u64,
    /// 0 before the handshake.
    pub session_id: i64,
    pub session_timeout_ms: i32,
    pub last_op: &'static str,
    /// Wall-clock ms the connection was established at.
    pub established_ms: i64,
    pub last_cxid: i32,
    pub last_zxid: i64,
    pub last_response_ms: u64,
    pub last_latency_ms: u64,
    pub min_latency_ms: u64,
    pub avg_latency_ms: u64,
    pub max_latency_ms: u64,
}

/// Which counters to reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatsReset {
    /// `srst`: the server's counters.
    Server,
    /// `crst`: every connection's counters.
    Connections,
}

/// A read-only view of the core, for whoever reports on it. It lives only
/// while a [`super::CoreMsg::Inspect`] closure runs, on the core's task.
pub struct StatsView<'a> {
    core: &'a Core,
}

impl<'a> StatsView<'a> {
    pub fn cfg(&self) -> &'a Config {
        &self.core.cfg
    }

    /// The membership in force: the last one a reconfig activated, else zoo.cfg's.
    pub fn membership_text(&self) -> String {
        match &self.core.membership {
            Some((text, _)) => text.clone(),
            None => self.core.cfg.membership_text(),
        }
    }

    pub fn role(&self) -> Role {
        self.core.role()
    }

    /// In read-only mode (see `readonlymode.enabled`).
    pub fn read_only(&self) -> bool {
        self.core.read_only()
    }

    /// Serving clients: a quorum, or read-only mode.
    pub fn serving(&self) -> bool {
        self.role().serving() || self.read_only()
    }

    /// `srvr`'s `Mode:`: `read-only`, or the role's name.
    pub fn mode(&self) -> &'static str {
        if self.read_only() {
            "read-only"
        } else {
            self.role().name()
        }
    }

    pub fn stats(&self) -> &'a ServerStats {
        &self.core.stats
    }

    /// What the core measures for Apache's `ServerMetrics` (see `core/metrics.rs`).
    pub fn metrics(&self) -> &'a super::CoreMetrics {
        &self.core.metrics
    }

    pub fn ensemble(&self) -> &'a EnsembleStats {
        &self.core.ensemble
    }

    /// The tree and the sessions in Apache's serialization, exactly as of the
    /// tree's last applied zxid (the AdminServer's `snapshot`).
    pub fn serialized_db(&self) -> Vec<u8> {
        self.core.serialize_tree()
    }

    pub fn tree(&self) -> &'a DataTree {
        &self.core.tree
    }

    pub fn watches(&self) -> &'a WatchManager {
        &self.core.watches
    }

    /// The time of the event being handled (see `Core::now`).
    pub fn now(&self) -> Instant {
        self.core.now
    }

    pub fn uptime(&self) -> Duration {
        self.core.now.saturating_duration_since(self.core.started)
    }

    pub fn connection_count(&self) -> usize {
        self.core.conns.len()
    }

    /// The zxid `srvr` shows: a leader's last issued (`epoch << 32` right after its
    /// election, as ZooKeeper's), anyone else's last applied.
    pub fn zxid(&self) -> Zxid {
        let c = self.core;
        if let RoleState::Leading(_) = c.role {
            c.last_zxid.max(c.tree.last_processed_zxid())
        } else {
            c.tree.last_processed_zxid()
        }
    }

    /// Requests in the pipeline: proposed and not applied, or held behind a write.
    pub fn outstanding(&self) -> usize {
        let c = self.core;
        c.in_flight.len() + c.sessions.values().map(|s| s.queue.len()).sum::<usize>()
    }

    pub fn session_count(&self) -> usize {
        self.core.sessions.len()
    }

    /// Sessions known to this server only (local sessions, read-only mode's): mntr's
    /// `local_sessions`; the others are `global_sessions`.
    pub fn local_session_count(&self) -> usize {
        self.core.sessions.values().filter(|s| s.local).count()
    }

    /// One line per connection, in ZooKeeper's `cons` format.
    pub fn connection_lines(&self, brief: bool) -> Vec<String> {
        let mut ids: Vec<&u64> = self.core.conns.keys().collect();
        ids.sort();
        ids.into_iter()
            .map(|id| {
                let c = &self.core.conns[id];
                let queued = c.handle.queued_frames();
                let mut s = format!(
                    " /{}:{}[1](queued={},recved={},sent={}",
                    c.handle.addr.ip(),
                    c.handle.addr.port(),
                    queued,
                    c.received,
                    c.sent
                );
                if !brief && c.session_id != 0 {
                    let timeout = self
                        .core
                        .sessions
                        .get(&c.session_id)
                        .map_or(0, |s| s.timeout_ms);
                    let avg = if c.received > 1 {
                        c.total_latency_ms / (c.received - 1).max(1)
                    } else {
                        0
                    };
                    let since = self.core.now.saturating_duration_since(c.established);
                    let est = now_ms() - since.as_millis() as i64;
                    s.push_str(&format!(
                        ",sid=0x{:x},lop={},est={est}",
                        c.session_id, c.last_op
                    ));
                    // As ZooKeeper's dumpConnectionInfo: no timeout before the
                    // session has one, no lcxid after a reset.
                    if timeout != 0 {
                        s.push_str(&format!(",to={timeout}"));
                    }
                    if c.last_cxid >= 0 {
                        s.push_str(&format!(",lcxid=0x{:x}", c.last_cxid));
                    }
                    s.push_str(&format!(
                        ",lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
                        c.last_zxid,
                        c.last_response_ms,
                        c.last_latency_ms,
                        c.min_latency_ms,
                        avg,
                        c.max_latency_ms
                    ));
                }
                s.push(')');
                s
            })
            .collect()
    }

    /// Every client connection's figures, in the order connections were accepted.
    pub fn connection_infos(&self) -> Vec<ConnectionInfo> {
        let mut ids: Vec<&u64> = self.core.conns.keys().collect();
        ids.sort();
        ids.into_iter()
            .map(|id| {
                let c = &self.core.conns[id];
                let since = self.core.now.saturating_duration_since(c.established);
                ConnectionInfo {
                    addr: c.handle.addr,
                    queued: c.handle.queued_frames(),
                    received: c.received,
                    sent: c.sent,
                    session_id: c.session_id,
                    session_timeout_ms: self
                        .core
                        .sessions
                        .get(&c.session_id)
                        .map_or(0, |s| s.timeout_ms),
                    last_op: c.last_op,
                    established_ms: now_ms() - since.as_millis() as i64,
                    last_cxid: c.last_cxid,
                    last_zxid: c.last_zxid,
                    last_response_ms: c.last_response_ms,
                    last_latency_ms: c.last_latency_ms,
                    min_latency_ms: c.min_latency_ms,
                    avg_latency_ms: if c.received > 1 {
                        c.total_latency_ms / (c.received - 1).max(1)
                    } else {
                        0
                    },
                    max_latency_ms: c.max_latency_ms,
                }
            })
            .collect()
    }

    /// Every session with the wall-clock time (ms) it expires at unless it
    /// hears from its client (dump).
    pub fn session_expiries(&self) -> Vec<(i64, i64)> {
        let (now, wall) = (self.core.now, now_ms());
        let mut v: Vec<(i64, i64)> = self
            .core
            .sessions
            .iter()
            .map(|(id, s)| {
                let left = s.expires_at.saturating_duration_since(now).as_millis() as i64;
                (*id, wall + left)
            })
            .collect();
        v.sort();
        v
    }

    /// Every session: its id, negotiated timeout (ms) and the wall-clock time
    /// (ms) it expires at unless it hears from its client (the web console).
    pub fn sessions(&self) -> Vec<(i64, i32, i64)> {
        let (now, wall) = (self.core.now, now_ms());
        let mut v: Vec<(i64, i32, i64)> = self
            .core
            .sessions
            .iter()
            .map(|(id, s)| {
                let left = s.expires_at.saturating_duration_since(now).as_millis() as i64;
                (*id, s.timeout_ms, wall + left)
            })
            .collect();
        v.sort();
        v
    }

    /// Every connection with its session (0: none yet) and when that session
    /// expires (dump).
    pub fn connection_sessions(&self) -> Vec<(SocketAddr, i64, i64)> {
        let expiries: HashMap<i64, i64> = self.session_expiries().into_iter().collect();
        let mut v: Vec<(SocketAddr, i64, i64)> = self
            .core
            .conns
            .values()
            .map(|c| {
                let at = expiries.get(&c.session_id).copied().unwrap_or_else(now_ms);
                (c.handle.addr, c.session_id, at)
            })
            .collect();
        v.sort();
        v
    }
}

impl Core {
    /// The read-only view of this core.
    pub fn view(&self) -> StatsView<'_> {
        StatsView { core: self }
    }

    /// `srst` and `crst`; like every command but ruok, isro, envi and dirs,
    /// only while serving.
    pub(super) fn reset_stats(&mut self, what: StatsReset) {
        if !self.view().serving() {
            return;
        }
        match what {
            StatsReset::Server => {
                // As Apache's `srst` (`ServerMetrics.resetAll`): the metrics too.
                crate::tls::throttle::reset_exceeded();
                self.metrics.log.reset();
                self.metrics.learner_qp_size.reset();
                self.metrics.learner_qp_time.reset();
                self.metrics.ack_latency.reset();
                self.metrics.driver.reset();
                self.metrics = super::CoreMetrics {
                    log: self.metrics.log.clone(),
                    learner_qp_size: self.metrics.learner_qp_size.clone(),
                    learner_qp_time: self.metrics.learner_qp_time.clone(),
                    ack_latency: self.metrics.ack_latency.clone(),
                    driver: self.metrics.driver.clone(),
                    ..Default::default()
                };
                self.stats = ServerStats {
                    packets_received: 0,
                    packets_sent: 0,
                    ..Default::default()
                }
            }
            StatsReset::Connections => {
                for c in self.conns.values_mut() {
                    c.received = 0;
                    c.sent = 0;
                    c.min_latency_ms = 0;
                    c.max_latency_ms = 0;
                    c.total_latency_ms = 0;
                    c.last_op = "NA";
                    c.last_cxid = -1;
                    c.last_zxid = -1;
                    c.last_latency_ms = 0;
                    c.last_response_ms = 0;
                }
            }
        }
    }
}

/// ZooKeeper's short op names, as `cons` shows them in `lop`.
pub(super) fn short_op_name(op_type: i32) -> &'static str {
    match op_type {
        op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => "CREA",
        op::DELETE | op::DELETE_CONTAINER => "DELE",
        op::EXISTS => "EXIS",
        op::GET_DATA => "GETD",
        op::SET_DATA => "SETD",
        op::GET_ACL => "GETA",
        op::SET_ACL => "SETA",
        op::GET_CHILDREN => "GETC",
        op::GET_CHILDREN2 => "GETC",
        op::SYNC => "SYNC",
        op::PING => "PING",
        op::MULTI => "MULT",
        op::MULTI_READ => "MLTR",
        op::SET_WATCHES | op::SET_WATCHES2 => "SETW",
        op::CHECK_WATCHES => "CHKW",
        op::REMOVE_WATCHES => "REMW",
        op::ADD_WATCH => "ADDW",
        op::GET_EPHEMERALS => "GETE",
        op::GET_ALL_CHILDREN_NUMBER => "GETACN",
        op::WHO_AM_I => "HOMI",
        op::CLOSE_SESSION => "CLOS",
        op::RECONFIG => "RECO",
        _ => "NA",
    }
}
