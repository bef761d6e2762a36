//! The TLS handshake throttle of Apache's NettyServerCnxnFactory
//! (`zookeeper.netty.server.outstandingHandshake.limit`, default -1: off). On a
//! port that may handshake (`secureClientPort`, or the client port with
//! `client.portUnification`), a connection counts as an outstanding handshake from
//! its accept until its handshake ends (well or badly), it turns out plain, or it
//! closes. A connection accepted while `limit` are outstanding is closed at once and
//! counted in `tls_handshake_exceeded` (and, as Apache's handshake listener then
//! sees a failed handshake, in `unsuccessful_handshake` and `auth_failed_count`).
//! `outstanding_tls_handshake` is the gauge of those in progress on the client port.
//!
//! Each port counts its own handshakes against the limit, as each of Apache's
//! factories does; the gauge is the plain client port's count only, as Apache's.
//! `net` takes and releases the slots.
//!
//! Apache 3.8 decides whether to throttle in the factory's constructor, before the
//! secure factory is told it is secure: in effect its limit works only with
//! `client.portUnification=true` (then on both ports). Here it works on a
//! `secureClientPort` without port unification too (docs/compatibility.md).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The property Apache reads (a system property only; a zoo.cfg key becomes it).
pub const LIMIT_PROP: &str = "zookeeper.netty.server.outstandingHandshake.limit";

static OUTSTANDING: AtomicU64 = AtomicU64::new(0);
static EXCEEDED: AtomicU64 = AtomicU64::new(0);

/// `outstanding_tls_handshake`.
pub fn outstanding() -> u64 {
    OUTSTANDING.load(Ordering::Relaxed)
}

/// `tls_handshake_exceeded`.
pub fn exceeded() -> u64 {
    EXCEEDED.load(Ordering::Relaxed)
}

/// `srst` resets it with Apache's other ServerMetrics.
pub fn reset_exceeded() {
    EXCEEDED.store(0, Ordering::Relaxed);
}

/// One outstanding handshake; dropping it ends it.
#[derive(Debug)]
pub struct Slot {
    port: Arc<AtomicU64>,
    in_gauge: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.port.fetch_sub(1, Ordering::Relaxed);
        if self.in_gauge {
            OUTSTANDING.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The limit of a port and its count (each of Apache's factories has its own).
#[derive(Clone, Debug)]
pub struct Throttle {
    limit: u64,
    outstanding: Arc<AtomicU64>,
    /// Whether the port's count is the gauge's: Apache's `outstanding_tls_handshake`
    /// reads the plain client port's factory only (`ZooKeeperServer
    /// .getOutstandingHandshakeNum`), not the secure port's.
    in_gauge: bool,
}

impl Throttle {
    /// As `setOutstandingHandshakeLimit`: on when the port may handshake and the
    /// limit is above 0. A value that is no integer is ignored with a warning (Java's
    /// `Integer.getInteger` gives the default).
    pub fn new(value: Option<&str>, tls_port: bool, in_gauge: bool) -> Option<Throttle> {
        let limit = match value.map(str::trim) {
            None => -1,
            Some(v) => v.parse::<i64>().unwrap_or_else(|_| {
                tracing::warn!("{LIMIT_PROP}={v:?} is not a number; no handshake limit");
                -1
            }),
        };
        let on = tls_port && limit > 0;
        if tls_port {
            tracing::info!("handshakeThrottlingEnabled = {on}, {LIMIT_PROP} = {limit}");
        }
        on.then(|| Throttle {
            limit: limit as u64,
            outstanding: Arc::new(AtomicU64::new(0)),
            in_gauge,
        })
    }

    /// A slot for a new connection, or `None` (counted as exceeded) when `limit`
    /// handshakes are outstanding.
    pub fn try_start(&self) -> Option<Slot> {
        let n = self.outstanding.fetch_add(1, Ordering::Relaxed) + 1;
        if n > self.limit {
            self.outstanding.fetch_sub(1, Ordering::Relaxed);
            EXCEEDED.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if self.in_gauge {
            OUTSTANDING.fetch_add(1, Ordering::Relaxed);
        }
        Some(Slot {
            port: self.outstanding.clone(),
            in_gauge: self.in_gauge,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_semantics_as_apache() {
        assert!(Throttle::new(None, true, false).is_none());
        assert!(Throttle::new(Some("0"), true, false).is_none());
        assert!(Throttle::new(Some("-1"), true, false).is_none());
        assert!(Throttle::new(Some("5"), false, false).is_none());
        assert!(Throttle::new(Some("x"), true, false).is_none());
        let t = Throttle::new(Some("2"), true, false).unwrap();
        let other = Throttle::new(Some("2"), true, false).unwrap();
        let a = t.try_start().unwrap();
        let b = t.try_start().unwrap();
        assert!(t.try_start().is_none());
        // Each port counts its own.
        let c = other.try_start().unwrap();
        assert_eq!(t.outstanding.load(Ordering::Relaxed), 2);
        drop(a);
        let a = t.try_start().unwrap();
        drop((a, b, c));
        assert_eq!(t.outstanding.load(Ordering::Relaxed), 0);
    }
}
