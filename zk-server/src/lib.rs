//! zk-server: a ZooKeeper-compatible server.
//!
//! Layers, bottom up: `zab_core::proto` (the client protocol's jute records
//! and request decoder, shared with the client), [`request`] (a decoded
//! request with its session), [`tree`] and [`watch`] (the data),
//! [`prep`] (writes become transactions), [`replicate`] (the one seam to
//! durability and replication: [`replicate::StandaloneLog`] alone,
//! [`peer`]'s driver in an ensemble), [`core`] (the task that runs the
//! pipeline over them), [`conn`] (the core's handle on a connection),
//! [`net`] (the client port: frames and connections), [`fourlw`]
//! (four-letter words over [`core::StatsView`]), [`admin`] (the AdminServer's
//! HTTP commands over the same view), [`config`] (zoo.cfg),
//! [`persist`] (recovery and snapshots), [`sasl`] (SASL and enforced
//! authentication), [`local_ensemble`] (the
//! `zk-server ensemble` launcher), [`memory`] (free memory given back to the
//! kernel after a burst).

pub mod admin;
pub mod auth;
pub mod config;
pub mod conn;
pub mod conn_io;
pub mod core;
pub mod fourlw;
pub mod keeper_compress;
pub mod keeper_conn;
pub mod listen;
pub mod local_ensemble;
pub mod memory;
pub mod metrics;
pub mod net;
pub mod peer;
pub mod persist;
pub mod prep;
pub mod reconfig;
pub mod replicate;
pub mod request;
pub mod runtime;
pub mod sasl;
pub mod tls;
pub mod tree;
pub mod watch;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::config::Config;
use crate::replicate::StandaloneLog;

/// Exit code when storage makes going on unsafe.
pub const EXIT_STORAGE: i32 = 3;
/// Exit code for a configuration that cannot be used.
pub const EXIT_CONFIG: i32 = 2;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Recover(#[from] persist::PersistError),
    #[error("cannot bind the client port: {0}")]
    Bind(#[from] std::io::Error),
    #[error("client TLS: {0}")]
    Tls(#[from] net::PortError),
}

/// A running standalone server.
pub struct Server {
    pub local_addr: SocketAddr,
    /// The AdminServer's address, when it runs (see [`admin`]).
    pub admin_addr: Option<SocketAddr>,
    /// The TLS client port's address (`secureClientPort`), when it is served.
    pub secure_addr: Option<SocketAddr>,
}

impl Server {
    /// Bind the client port and start serving in the current tokio runtime.
    pub async fn start(cfg: Config) -> Result<Server, StartError> {
        let cfg = Arc::new(cfg);
        let ip = cfg
            .client_port_address
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let started = std::time::Instant::now();
        let rec = persist::recover(&cfg)?;
        let db_init = started.elapsed();
        let listener = listen::bind(
            SocketAddr::new(ip, cfg.client_port),
            cfg.client_port_listen_backlog,
        )?;
        let local_addr = listener.local_addr()?;
        let rec_times = (
            rec.snapshot_load_ms,
            rec.snapshot_loaded.then_some((rec.replayed, rec.replay_ms)),
        );
        let replication = StandaloneLog::start(rec.log);
        let mut core = core::Core::new(
            cfg.clone(),
            rec.tree,
            rec.sessions,
            replication,
            cfg.myid.unwrap_or(0),
        );
        core.record_db_init(db_init);
        core.record_startup(rec_times.0, rec_times.1);
        let (tx, rx) = mpsc::channel(10_000);
        tokio::spawn(core.run(rx));
        let admin_addr = admin::start(cfg.clone(), tx.clone(), local_addr).await;
        metrics::prometheus::start(cfg.clone(), tx.clone()).await;
        let ports = net::start_client_ports(listener, cfg, tx).await?;
        tracing::info!("serving clients on {local_addr}");
        Ok(Server {
            local_addr,
            admin_addr,
            secure_addr: ports.secure_addr,
        })
    }
}
