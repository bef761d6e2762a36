//! zk-server: a ZooKeeper-compatible server.
//!
//! Layers, bottom up: `zab_core::proto` (the client protocol's jute records
//! and request decoder, shared with the client), [`net`] (frames and
//! connections), [`request`] (a decoded request with its session),
//! [`core`] (the pipeline: [`prep`] -> [`replicate`] -> apply to the
//! [`tree`], [`watch`]es, replies), [`fourlw`] (four-letter words),
//! [`config`] (zoo.cfg).

pub mod auth;
pub mod config;
pub mod core;
pub mod ensemble;
pub mod fourlw;
pub mod local;
pub mod net;
pub mod persist;
pub mod prep;
pub mod replicate;
pub mod request;
pub mod tree;
pub mod watch;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::replicate::LocalLog;

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
}

/// A running standalone server.
pub struct Server {
    pub local_addr: SocketAddr,
}

impl Server {
    /// Bind the client port and start serving in the current tokio runtime.
    pub async fn start(cfg: Config) -> Result<Server, StartError> {
        let cfg = Arc::new(cfg);
        let ip = cfg
            .client_port_address
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let rec = persist::recover(&cfg)?;
        let listener = TcpListener::bind(SocketAddr::new(ip, cfg.client_port)).await?;
        let local_addr = listener.local_addr()?;
        let start = rec.tree.last_processed_zxid();
        let log = LocalLog::start(rec.log, start);
        let core = core::Core::new(
            cfg.clone(),
            rec.tree,
            rec.sessions,
            Box::new(log),
            cfg.myid.unwrap_or(0),
        );
        let (tx, rx) = mpsc::channel(10_000);
        tokio::spawn(core.run(rx));
        tokio::spawn(net::accept_loop(listener, cfg, tx));
        tracing::info!("serving clients on {local_addr}");
        Ok(Server { local_addr })
    }
}
