//! Binding a client port: the listen backlog.
//!
//! A connect storm (thousands of clients reconnecting at once, after a failover or a
//! network blip) overflows a short accept queue: the kernel drops the SYNs or final ACKs
//! it cannot queue and the client retries a second later (its SYN retransmission timer),
//! so a backlog of 128 made 200 simultaneous connects take over a second (benches'
//! `zk-scale`). The client ports listen with `clientPortListenBacklog` (Apache's key)
//! or [`DEFAULT_BACKLOG`]; Linux caps it at `net.core.somaxconn`.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// The backlog when `clientPortListenBacklog` is unset (or -1, Apache's "default").
/// Apache's own default is the JVM's 50; a larger queue costs nothing until it is used.
pub const DEFAULT_BACKLOG: u32 = 4096;

/// Binds `addr` (with SO_REUSEADDR, as `TcpListener::bind` does) and listens with `backlog`.
pub fn bind(addr: SocketAddr, backlog: Option<u32>) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog.unwrap_or(DEFAULT_BACKLOG))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_and_accepts_with_a_backlog() {
        let l = bind("127.0.0.1:0".parse().unwrap(), Some(16)).unwrap();
        let addr = l.local_addr().unwrap();
        let c = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (s, peer) = l.accept().await.unwrap();
        assert_eq!(peer, c.local_addr().unwrap());
        drop(s);
    }
}
