//! One ensemble member: recovery for an ensemble, the ports, and the driver
//! that runs zab-core's [`Peer`] for this server.
//!
//! ```text
//!  election port --Notification--+                     +--Send--> quorum connections
//!  quorum conns  --Received------+--> Peer::step --->--+--Append/Truncate/Save*Epoch--> log, epoch files
//!  tick (100 ms) ----------------+        ^            +--Commit--> core (ReplicationMsg::Committed)
//!  core --DriverMsg--------------+        |            +--StateChanged--> core (ReplicationMsg::Role)
//!                                         +-- Persisted / EpochSaved (after fsync)
//! ```
//! [`start`] builds the core with a [`DriverLink`] as its replicator: the
//! ensemble's side of the same seam the standalone log fills
//! ([`crate::replicate`]). The driver itself is in [`driver`].

mod ack_latency;
mod driver;
mod log_times;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use zab_core::peer::{Peer, PersistentState};
use zab_core::quorum::{QuorumMaj, QuorumVerifier};
use zab_core::{ServerId, Zxid};
use zab_net::{ElectionConfig, ElectionNet, QuorumConfig, QuorumListener};
use zab_storage::{read_epoch_file, TxnLog, ACCEPTED_EPOCH, CURRENT_EPOCH};

use crate::config::{Config, PeerType};
use crate::core::Core;
use crate::persist::{self, PersistError};
use crate::replicate::{DriverLink, Replication, Role, REPLICATION_QUEUE};
use crate::tree::DataTree;
use crate::StartError;
use driver::Driver;

/// The driver's unit of time.
const TICK_MS: u64 = 100;
/// Committed proposals kept in memory for DIFF.
const LOG_WINDOW: usize = 10_000;
/// Largest quorum packet accepted (a SNAP carries the whole tree).
const MAX_QUORUM_PACKET: usize = 1 << 30;

/// How many voters the configuration has and what they tolerate.
pub fn describe_quorum(cfg: &Config) -> String {
    let voters = cfg
        .servers
        .values()
        .filter(|s| s.peer_type == PeerType::Participant)
        .count();
    let observers = cfg.servers.len() - voters;
    let quorum = voters / 2 + 1;
    let tolerated = voters.saturating_sub(quorum);
    let mut s = format!(
        "{voters} voters and {observers} observers: a quorum is {quorum} voters, so the ensemble tolerates {tolerated} failed voter(s)"
    );
    if voters % 2 == 0 && voters > 0 {
        s.push_str(&format!(
            "; warning: an even number of voters tolerates no more failures than {} voters would, and a {}/{} split leaves no majority on either side",
            voters - 1,
            voters / 2,
            voters / 2
        ));
    }
    s
}

fn verifier(cfg: &Config) -> Arc<dyn QuorumVerifier> {
    if !cfg.groups.is_empty() {
        let mut props: Vec<(String, String)> = Vec::new();
        for (id, s) in &cfg.servers {
            let t = if s.peer_type == PeerType::Observer {
                ":observer"
            } else {
                ""
            };
            props.push((
                format!("server.{id}"),
                format!("{}:{}:{}{t}", s.host, s.quorum_port, s.election_port),
            ));
        }
        for (g, m) in &cfg.groups {
            let members: Vec<String> = m.iter().map(|x| x.to_string()).collect();
            props.push((format!("group.{g}"), members.join(":")));
        }
        for (sid, w) in &cfg.weights {
            props.push((format!("weight.{sid}"), w.to_string()));
        }
        let refs: Vec<(&str, &str)> = props
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        match zab_core::quorum::from_properties(&refs) {
            Ok(v) => return Arc::from(v),
            Err(e) => {
                tracing::error!("hierarchical quorum configuration refused ({e}); using majority")
            }
        }
    }
    let voters = cfg
        .servers
        .values()
        .filter(|s| s.peer_type == PeerType::Participant)
        .map(|s| ServerId(s.id));
    let observers = cfg
        .servers
        .values()
        .filter(|s| s.peer_type == PeerType::Observer)
        .map(|s| ServerId(s.id));
    Arc::new(QuorumMaj::new(voters, observers))
}

pub(super) async fn resolve(host: &str, port: u16) -> std::io::Result<SocketAddr> {
    tokio::net::lookup_host((host, port))
        .await?
        .find(|a| a.is_ipv4())
        .ok_or_else(|| std::io::Error::other(format!("cannot resolve {host}")))
}

/// Learner: load the database the leader sent after SNAP (Apache ZooKeeper's
/// serialization), keep it as our newest snapshot, and restart the log after it. The
/// order is crash-safe: the snapshot is durable before the log forgets what came before.
pub(super) fn install_snapshot(
    cfg: &Config,
    log: &mut TxnLog,
    zxid: Zxid,
    bytes: &[u8],
) -> Result<(DataTree, HashMap<i64, i32>), PersistError> {
    let dir = persist::snap_dir(cfg);
    let (tree, sessions) = persist::load_db(bytes, cfg.extended_types_enabled, zxid, bytes.len())
        .map_err(|why| PersistError::BadSnapshot {
        file: dir.join(format!("snapshot.{:x} (from the leader)", zxid.0)),
        why,
    })?;
    let list: Vec<(i64, i32)> = sessions.iter().map(|(k, v)| (*k, *v)).collect();
    persist::write_tree_snapshot(&dir, &tree, list)?;
    log.restart_at(zxid)?;
    Ok((tree, sessions))
}

/// Start an ensemble member: recover, bind the ports, run the driver.
pub async fn start(cfg: Config) -> Result<crate::Server, StartError> {
    let cfg = Arc::new(cfg);
    let my_id = cfg.myid.expect("ensemble configuration has a myid");
    let me = cfg.servers[&my_id].clone();
    tracing::info!("server {my_id}: {}", describe_quorum(&cfg));

    // The newest entries of the log may be proposals that were never committed: they stay
    // out of the tree until the protocol commits them, so that the tree (and every
    // snapshot, and every SNAP sent to a learner) holds committed state only. Older
    // entries (beyond the window, more than the pipeline ever has in flight) are committed.
    let recovery_started = std::time::Instant::now();
    let mut rec = persist::recover_holding_back(&cfg, LOG_WINDOW)?;
    let db_init = recovery_started.elapsed();
    let sdir = persist::snap_dir(&cfg);
    let applied = rec.tree.last_processed_zxid();
    let last = rec.held_back.last().map(|e| e.0).unwrap_or(applied);
    let current = read_epoch_file(&sdir, CURRENT_EPOCH)
        .map_err(PersistError::from)?
        .unwrap_or(last.epoch());
    let accepted = read_epoch_file(&sdir, ACCEPTED_EPOCH)
        .map_err(PersistError::from)?
        .unwrap_or(current);
    let recent = std::mem::take(&mut rec.held_back);
    let uncommitted: BTreeMap<Zxid, Bytes> = recent.iter().cloned().collect();
    let state = PersistentState {
        accepted_epoch: accepted,
        current_epoch: current,
        base: applied,
        recent,
        last_committed: applied,
    };

    let mut pcfg = zab_core::peer::Config::new(ServerId(my_id), verifier(&cfg));
    let tick = cfg.tick_time_ms as u64;
    pcfg.init_limit_ticks = (cfg.init_limit as u64 * tick / TICK_MS).max(1);
    pcfg.sync_limit_ticks = (cfg.sync_limit as u64 * tick / TICK_MS).max(1);
    pcfg.ping_interval_ticks = (tick / 2 / TICK_MS).max(1);
    pcfg.log_window = LOG_WINDOW;
    pcfg.reconfig_enabled = cfg.reconfig_enabled;
    if cfg.reconfig_enabled {
        // The view travels in NEWLEADER (and notifications), so that a learner
        // that missed a reconfig adopts it; without reconfig nothing changes it.
        pcfg.config_data = Bytes::from(cfg.membership_text());
        pcfg.config_version = cfg.config_version.unwrap_or(0) as i64;
    }
    let peer = Peer::new(pcfg, state);

    // Ports: election and quorum from server.N, clients from clientPort or server.N's ;port.
    let election_addr = resolve(&me.host, me.election_port).await?;
    let quorum_addr = resolve(&me.host, me.quorum_port).await?;
    let mut election_peers = HashMap::new();
    let mut quorum_peers = HashMap::new();
    // Each address back to its server.N host: quorum Kerberos names the peer by it.
    let mut peer_hosts = HashMap::new();
    for (id, s) in &cfg.servers {
        let (e, q) = (
            resolve(&s.host, s.election_port).await?,
            resolve(&s.host, s.quorum_port).await?,
        );
        election_peers.insert(ServerId(*id), e);
        quorum_peers.insert(ServerId(*id), q);
        peer_hosts.insert(e, s.host.clone());
        peer_hosts.insert(q, s.host.clone());
    }
    // quorum.auth.*: the exchange runs within initLimit ticks, Apache's socket timeout.
    let mut auth =
        crate::sasl::quorum::quorum_auth(&cfg, peer_hosts).map_err(std::io::Error::other)?;
    auth.timeout = std::time::Duration::from_millis(tick * cfg.init_limit.max(1) as u64);
    // sslQuorum / portUnification: TLS on both ports (ssl.quorum.*).
    let tls =
        crate::tls::quorum::QuorumTlsPort::from_config(&cfg).map_err(std::io::Error::other)?;
    if let Some(t) = &tls {
        if cfg.quorum_tls.reload_cert_files {
            t.spawn_reloader(Duration::from_secs(1));
        }
    }
    let tls = tls.map(|t| t as Arc<dyn zab_net::QuorumTls>);
    let (election, election_rx) = ElectionNet::start(
        ServerId(my_id),
        election_addr,
        election_peers,
        ElectionConfig {
            auth: auth.clone(),
            tls: tls.clone(),
            ..ElectionConfig::default()
        },
    )
    .await
    .map_err(std::io::Error::other)?;
    let qcfg = QuorumConfig {
        codec: zab_net::QuorumPacketCodec::new(MAX_QUORUM_PACKET, 64),
        read_timeout: None,
        // A sync sends up to the whole window (a PROPOSAL and a COMMIT each) at once,
        // as ZooKeeper's LearnerHandler queues it; the entries are shared `Bytes`.
        outbound_capacity: 2 * LOG_WINDOW + 1024,
        auth,
        tls,
        ..QuorumConfig::default()
    };
    let (quorum_listener, learners_rx) = QuorumListener::bind(quorum_addr, qcfg.clone())
        .await
        .map_err(std::io::Error::other)?;

    let client_ip = me
        .client_addr
        .as_deref()
        .and_then(|a| a.parse().ok())
        .or(cfg.client_port_address)
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let client_port = me.client_port.unwrap_or(cfg.client_port);
    let listener = crate::listen::bind(
        SocketAddr::new(client_ip, client_port),
        cfg.client_port_listen_backlog,
    )?;
    let local_addr = listener.local_addr()?;

    let (core_tx, core_rx) = mpsc::channel(10_000);
    let (driver_tx, driver_rx) = mpsc::channel(100_000);
    let (replication_tx, replication_rx) = mpsc::channel(REPLICATION_QUEUE);
    // The driver replicates: the core's replicator is the link to it.
    let link = DriverLink::new(driver_tx);
    let log_metrics = Arc::new(crate::core::LogMetrics::default());
    let replication = Replication {
        replicator: Box::new(link.clone()),
        rx: replication_rx,
        driver: Some(link),
        log_metrics: log_metrics.clone(),
    };
    let rec_times = (
        rec.snapshot_load_ms,
        rec.snapshot_loaded.then_some((rec.replayed, rec.replay_ms)),
    );
    let mut core = Core::new(cfg.clone(), rec.tree, rec.sessions, replication, my_id);
    core.record_db_init(db_init);
    core.record_startup(rec_times.0, rec_times.1);
    if rec.snapshot_loaded {
        core.skip_digests_through(last);
    }
    let learner_qp_size = core.learner_queue_sizes();
    let learner_qp_time = core.learner_queue_times();
    let driver_metrics = core.driver_metrics();
    let ack_latency = ack_latency::AckLatency::new(core.ack_latencies(), driver_metrics.clone());
    tokio::spawn(core.run(core_rx));
    let admin_addr = crate::admin::start(cfg.clone(), core_tx.clone(), local_addr).await;
    crate::metrics::prometheus::start(cfg.clone(), core_tx.clone()).await;
    let ports = crate::net::start_client_ports(listener, cfg.clone(), core_tx.clone()).await?;

    let init_limit = Duration::from_millis(cfg.init_limit as u64 * tick);
    let sync_limit = Duration::from_millis(cfg.sync_limit as u64 * tick);
    let (sync_tx, synced_rx) = driver::start_sync_thread(my_id, log_metrics.clone());
    let driver = Driver {
        cfg: cfg.clone(),
        my_id: ServerId(my_id),
        peer,
        log: rec.log,
        sync_tx,
        synced_rx,
        syncing: false,
        committed: Vec::new(),
        election,
        quorum_peers,
        qcfg,
        conns: Default::default(),
        ready_sids: Vec::new(),
        pending_sends: Default::default(),
        uncommitted,
        core: replication_tx,
        role: Role::Looking,
        status_epoch: 0,
        status: (None, ""),
        observers: Vec::new(),
        expect_snapshot: None,
        snapshot: None,
        tree_last: applied,
        read_limit: Some(init_limit),
        init_limit,
        sync_limit,
        learners: Default::default(),
        synced: Vec::new(),
        rqld_reply: None,
        early_learners: Vec::new(),
        last_state: None,
        learner_qp_size,
        learner_qp_time,
        ack_latency,
        metrics: driver_metrics.clone(),
        sync_started: None,
        unavailable_since: Some(std::time::Instant::now()),
        log_times: log_times::LogTimes::new(log_metrics, driver_metrics),
        syncs_in_flight: HashMap::new(),
        actions: Vec::new(),
        _quorum_listener: quorum_listener,
    };
    tokio::spawn(driver.run(election_rx, learners_rx, driver_rx));
    tracing::info!("server {my_id}: clients on {local_addr}, quorum port {quorum_addr}, election port {election_addr}");
    Ok(crate::Server {
        local_addr,
        admin_addr,
        secure_addr: ports.secure_addr,
    })
}
