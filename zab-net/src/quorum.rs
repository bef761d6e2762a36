//! The quorum port: the leader accepts learners, a learner connects to the
//! leader (ZooKeeper's `Leader.LearnerCnxAcceptor` / `LearnerHandler` and
//! `Learner.connectToLeader`).
//!
//! Each accepted connection must open with a FOLLOWERINFO or OBSERVERINFO
//! packet within `first_packet_timeout` (ZooKeeper: `initLimit * tickTime`);
//! it is then handed to the driver as a [`LearnerConn`]. Both sides get a
//! [`PeerConn`] of [`QuorumPacketRecord`]s whose read timeout starts at
//! `read_timeout` and is then the driver's to change.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures::StreamExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::codec::{Framed, FramedParts};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use zab_core::ServerId;

use crate::conn::{spawn_conn, ConnLimits, PeerConn};
use crate::error::NetError;
use crate::quorum_packet::{
    learner_sid, QuorumPacketCodec, QuorumPacketRecord, FOLLOWERINFO, OBSERVERINFO,
};
use crate::stream;

/// Limits of the quorum port, on either side.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    pub codec: QuorumPacketCodec,
    /// Packets the driver may queue on one connection before `try_send` fails.
    pub outbound_capacity: usize,
    /// Packets read ahead of the driver on one connection.
    pub inbound_capacity: usize,
    /// The read timeout a new connection starts with (`initLimit * tickTime`).
    pub read_timeout: Option<Duration>,
    /// Leader side: how long a new learner may take to send its first packet.
    pub first_packet_timeout: Duration,
    /// Leader side: accepted connections still waiting for their first packet.
    pub max_pending_learners: usize,
    /// Leader side: identified learners not yet taken by the driver.
    pub accept_queue: usize,
    /// Quorum SASL before the first packet (`quorum.auth.*`): the leader is the
    /// server side, a learner the learner side.
    pub auth: crate::quorum_auth::QuorumAuth,
    /// Quorum TLS (`sslQuorum`, `portUnification`): `None` is plain TCP.
    pub tls: Option<Arc<dyn crate::stream::QuorumTls>>,
}

impl Default for QuorumConfig {
    /// ZooKeeper's defaults with tickTime 2000 ms and initLimit 10.
    fn default() -> Self {
        QuorumConfig {
            codec: QuorumPacketCodec::default(),
            outbound_capacity: 1024,
            inbound_capacity: 1024,
            read_timeout: Some(Duration::from_secs(20)),
            first_packet_timeout: Duration::from_secs(20),
            max_pending_learners: 64,
            accept_queue: 16,
            auth: crate::quorum_auth::QuorumAuth::default(),
            tls: None,
        }
    }
}

impl QuorumConfig {
    fn limits(&self) -> ConnLimits {
        ConnLimits {
            outbound_capacity: self.outbound_capacity,
            inbound_capacity: self.inbound_capacity,
            read_timeout: self.read_timeout,
        }
    }
}

/// A learner that has connected and sent its first packet.
#[derive(Debug)]
pub struct LearnerConn {
    /// The FOLLOWERINFO or OBSERVERINFO packet.
    pub first: QuorumPacketRecord,
    /// The sid from the first packet's LearnerInfo, if it has one.
    pub sid: Option<ServerId>,
    pub conn: PeerConn<QuorumPacketRecord>,
}

/// The leader's quorum port. Dropping it stops accepting; established
/// connections live on until their [`PeerConn`]s are dropped.
#[derive(Debug)]
pub struct QuorumListener {
    local_addr: SocketAddr,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl QuorumListener {
    pub async fn bind(
        addr: SocketAddr,
        cfg: QuorumConfig,
    ) -> Result<(QuorumListener, mpsc::Receiver<LearnerConn>), NetError> {
        Self::from_listener(TcpListener::bind(addr).await?, cfg)
    }

    /// Serve on a listener bound by the caller.
    pub fn from_listener(
        listener: TcpListener,
        cfg: QuorumConfig,
    ) -> Result<(QuorumListener, mpsc::Receiver<LearnerConn>), NetError> {
        let local_addr = listener.local_addr()?;
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        let (tx, rx) = mpsc::channel(cfg.accept_queue.max(1));
        tasks.spawn(accept_loop(
            listener,
            cfg,
            tx,
            cancel.clone(),
            tasks.clone(),
        ));
        Ok((
            QuorumListener {
                local_addr,
                cancel,
                tasks,
            },
            rx,
        ))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stop accepting and wait until the port is closed and pending
    /// handshakes are dropped.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

impl Drop for QuorumListener {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn accept_loop(
    listener: TcpListener,
    cfg: QuorumConfig,
    tx: mpsc::Sender<LearnerConn>,
    cancel: CancellationToken,
    tasks: TaskTracker,
) {
    let pending = Arc::new(Semaphore::new(cfg.max_pending_learners.max(1)));
    loop {
        let permit = tokio::select! {
            _ = cancel.cancelled() => return,
            p = pending.clone().acquire_owned() => p.expect("semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving.
                    warn!(error = %e, "quorum port accept failed");
                    continue;
                }
            },
        };
        let cfg = cfg.clone();
        let tx = tx.clone();
        let cancel = cancel.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let accepted = tokio::select! {
                _ = cancel.cancelled() => return,
                r = accept_learner(stream, &cfg) => r,
            };
            match accepted {
                Ok(l) => {
                    info!(%peer, sid = ?l.sid, packet_type = l.first.packet_type, "learner connected");
                    tokio::select! {
                        _ = cancel.cancelled() => {}
                        r = tx.send(l) => if r.is_err() { debug!("driver no longer takes learners") },
                    }
                }
                Err(e) => warn!(%peer, error = %e, "learner dropped during handshake"),
            }
        });
    }
}

async fn accept_learner(stream: TcpStream, cfg: &QuorumConfig) -> Result<LearnerConn, NetError> {
    let peer = stream.peer_addr()?;
    let local = stream.local_addr()?;
    stream.set_nodelay(true)?;
    // Leader's UnifiedServerSocket: TLS (or plain, with port unification) is settled
    // on accepting, before anything is read; the handshake gets the first packet's time.
    let mut stream = match tokio::time::timeout(
        cfg.first_packet_timeout,
        stream::accept(&cfg.tls, stream, peer),
    )
    .await
    {
        Ok(r) => r?,
        Err(_) => {
            return Err(NetError::Timeout {
                what: "TLS handshake",
                peer,
                timeout: cfg.first_packet_timeout,
            })
        }
    };
    // LearnerHandler's constructor: authenticate before the first packet.
    let mut read_buf = BytesMut::new();
    cfg.auth
        .authenticate_server(&mut stream, &mut read_buf, peer)
        .await?;
    let mut parts = FramedParts::new::<QuorumPacketRecord>(stream, cfg.codec.clone());
    parts.read_buf = read_buf;
    let mut framed = Framed::from_parts(parts);
    let first = match tokio::time::timeout(cfg.first_packet_timeout, framed.next()).await {
        Err(_) => {
            return Err(NetError::Timeout {
                what: "first packet",
                peer,
                timeout: cfg.first_packet_timeout,
            })
        }
        Ok(None) => {
            return Err(NetError::ClosedBefore {
                what: "first packet",
            })
        }
        Ok(Some(r)) => r?,
    };
    if first.packet_type != FOLLOWERINFO && first.packet_type != OBSERVERINFO {
        return Err(NetError::UnexpectedFirstPacket {
            peer,
            packet_type: first.packet_type,
        });
    }
    let parts = framed.into_parts();
    let conn = spawn_conn(
        parts.io,
        peer,
        local,
        parts.read_buf,
        parts.codec,
        &cfg.limits(),
        CancellationToken::new(),
        // Not the listener's tracker: shutting the port down does not wait
        // for established learners.
        &TaskTracker::new(),
    )?;
    Ok(LearnerConn {
        sid: learner_sid(&first),
        first,
        conn,
    })
}

/// How a learner retries connecting to its leader.
#[derive(Debug, Clone)]
pub struct LeaderConnectConfig {
    /// Give up after this many attempts (ZooKeeper: 5).
    pub max_attempts: u32,
    /// Give up when this much time has passed (ZooKeeper: `initLimit * tickTime`).
    pub deadline: Duration,
    /// Time allowed for one TCP connect.
    pub connect_timeout: Duration,
    /// Pause between attempts, doubled each time up to `max_retry_delay`
    /// (ZooKeeper: a fixed `leaderConnectDelayDuringRetryMs`, 100 ms).
    pub retry_delay: Duration,
    pub max_retry_delay: Duration,
}

impl Default for LeaderConnectConfig {
    fn default() -> Self {
        LeaderConnectConfig {
            max_attempts: 5,
            deadline: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(5),
            retry_delay: Duration::from_millis(100),
            max_retry_delay: Duration::from_secs(1),
        }
    }
}

/// Connect to the leader's quorum port, retrying with backoff. The returned
/// connection has nothing sent yet: the driver's first packet is the
/// FOLLOWERINFO / OBSERVERINFO. Its tasks run on the current runtime.
pub async fn connect_to_leader(
    addr: SocketAddr,
    retry: &LeaderConnectConfig,
    cfg: &QuorumConfig,
) -> Result<PeerConn<QuorumPacketRecord>, NetError> {
    let started = tokio::time::Instant::now();
    let give_up = started + retry.deadline;
    let mut delay = retry.retry_delay;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let left = give_up.saturating_duration_since(tokio::time::Instant::now());
        let attempt =
            tokio::time::timeout(retry.connect_timeout.min(left), TcpStream::connect(addr));
        let err = match attempt.await {
            Ok(Ok(stream)) => {
                stream.set_nodelay(true)?;
                let local = stream.local_addr()?;
                // Learner.createSocket / connectToLeader: with sslQuorum the TLS
                // handshake follows the connect; then authenticate before
                // FOLLOWERINFO. A failure of either is not retried: the peer goes
                // back to looking.
                let handshake = stream::connect(&cfg.tls, stream, addr);
                let mut stream = match tokio::time::timeout(left, handshake).await {
                    Ok(r) => r?,
                    Err(_) => {
                        return Err(NetError::Timeout {
                            what: "TLS handshake",
                            peer: addr,
                            timeout: left,
                        })
                    }
                };
                let mut read_buf = BytesMut::new();
                cfg.auth
                    .authenticate_learner(&mut stream, &mut read_buf, addr)
                    .await?;
                return spawn_conn(
                    stream,
                    addr,
                    local,
                    read_buf,
                    cfg.codec.clone(),
                    &cfg.limits(),
                    CancellationToken::new(),
                    &TaskTracker::new(),
                );
            }
            Ok(Err(e)) => e,
            Err(_) => std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
        };
        let now = tokio::time::Instant::now();
        if attempts >= retry.max_attempts || now + delay >= give_up {
            return Err(NetError::ConnectFailed {
                addr,
                attempts,
                last: err,
            });
        }
        debug!(%addr, attempts, error = %err, "cannot reach leader yet");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(retry.max_retry_delay);
    }
}
