//! A fault-injecting TCP proxy for partition tests between real server processes.
//!
//! One [`Proxy`] forwards one directed link (server A dialling server B's port): it listens on
//! its own port on 127.0.0.1 and copies bytes both ways to the target. [`Proxy::cut`] closes
//! every connection it carries and refuses new ones (accepted, then closed at once, the way a
//! dead network looks to a peer that reconnects); [`Proxy::heal`] lets traffic through again.
//! Because a TCP connection carries both directions, cutting a link between two servers means
//! cutting both proxies (A->B and B->A): see [`crate::ensemble::Ensemble::partition`].
//! [`Proxy::drop_bytes`] instead keeps connections up and silently discards what flows in one
//! direction (the dialler's bytes, or the target's): a one-way network failure.
//! [`Proxy::hold`] accepts new connections but connects them to the target only once healed.
//! [`Proxy::cut_after_snap`] arms a one-shot trap for a quorum link: the next connection
//! forwards the target's quorum packets up to and including the first SNAP packet, holds back
//! everything after it (the snapshot), and then closes: a leader<->learner link that drops
//! right after the SNAP header.
//!
//! Threads, not an async runtime: each connection has two copy threads that end when either
//! side closes or the proxy cuts it. Every thread stops when the proxy is dropped.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Shared {
    cut: AtomicBool,
    /// Discard what the dialling side sends (`[0]`) or what the target sends back (`[1]`).
    drop: [AtomicBool; 2],
    stopped: AtomicBool,
    /// Accept new connections but connect them to the target only after [`Proxy::heal`].
    hold: AtomicBool,
    /// A quorum link's one-shot trap: close the next connection right after the first SNAP
    /// packet the target sends on it.
    snap_trap: AtomicBool,
    /// How many connections the trap has closed.
    snap_trapped: std::sync::atomic::AtomicUsize,
    /// Both ends of every live connection, so a cut can shut them down.
    live: Mutex<Vec<(TcpStream, TcpStream)>>,
}

/// One directed link: connections to `port()` are forwarded to `target`.
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `target`. A port that another
    /// process takes between [`crate::free_port`]'s probe and this bind is skipped for the next
    /// free one (bounded), since nothing else knows the proxy's port yet.
    pub fn start_free(target: SocketAddr) -> Proxy {
        let mut last = None;
        for _ in 0..20 {
            let port = crate::free_port();
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(listener) => return Proxy::serve(listener, port, target),
                Err(e) => last = Some((port, e)),
            }
        }
        let (port, e) = last.unwrap();
        panic!("proxy cannot bind a free port (last 127.0.0.1:{port}: {e})")
    }

    /// Listens on `127.0.0.1:port` and forwards to `target`.
    pub fn start(port: u16, target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("proxy cannot bind 127.0.0.1:{port}: {e}"));
        Proxy::serve(listener, port, target)
    }

    fn serve(listener: TcpListener, port: u16, target: SocketAddr) -> Proxy {
        listener.set_nonblocking(true).unwrap();
        let shared = Arc::new(Shared {
            cut: AtomicBool::new(false),
            drop: [AtomicBool::new(false), AtomicBool::new(false)],
            stopped: AtomicBool::new(false),
            hold: AtomicBool::new(false),
            snap_trap: AtomicBool::new(false),
            snap_trapped: std::sync::atomic::AtomicUsize::new(0),
            live: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        std::thread::spawn(move || accept_loop(listener, target, s));
        Proxy { port, shared }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Drop every connection and refuse new ones until [`Proxy::heal`].
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        for (a, b) in self.shared.live.lock().unwrap().drain(..) {
            let _ = a.shutdown(Shutdown::Both);
            let _ = b.shutdown(Shutdown::Both);
        }
    }

    /// Keep connections up but discard the bytes the dialler sends (`from_dialler`) or the
    /// bytes the target sends back (`!from_dialler`).
    pub fn drop_bytes(&self, from_dialler: bool) {
        self.shared.drop[!from_dialler as usize].store(true, Ordering::SeqCst);
    }

    /// Accept new connections but connect them to the target only after [`Proxy::heal`]: the
    /// dialler's connect succeeds and what it sends waits, as on a network that is slow to
    /// deliver, instead of failing (a learner whose connection fails gives its leader up).
    pub fn hold(&self) {
        self.shared.hold.store(true, Ordering::SeqCst);
    }

    pub fn heal(&self) {
        self.shared.hold.store(false, Ordering::SeqCst);
        self.shared.cut.store(false, Ordering::SeqCst);
        for d in &self.shared.drop {
            d.store(false, Ordering::SeqCst);
        }
    }

    /// Arms the SNAP trap (for a quorum link only: it parses the target's bytes as quorum
    /// packets): the next connection accepted is closed right after the target's first SNAP
    /// packet, the bytes after it withheld. The trap then disarms itself.
    pub fn cut_after_snap(&self) {
        self.shared.snap_trap.store(true, Ordering::SeqCst);
    }

    /// How many connections the SNAP trap has closed.
    pub fn snap_trapped(&self) -> usize {
        self.shared.snap_trapped.load(Ordering::SeqCst)
    }

    pub fn is_cut(&self) -> bool {
        self.shared.cut.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.cut();
    }
}

fn accept_loop(listener: TcpListener, target: SocketAddr, s: Arc<Shared>) {
    while !s.stopped.load(Ordering::SeqCst) {
        let client = match listener.accept() {
            Ok((c, _)) => c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(_) => continue,
        };
        if s.cut.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let _ = client.set_nonblocking(false);
        while s.hold.load(Ordering::SeqCst) && !s.stopped.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        // A target that is not listening yet (a leader that has just been elected and has
        // not bound its quorum port) is retried for up to a second: the proxy accepted on
        // its behalf, which a real network does not do, so a dialler that would have retried
        // a refused connect must not see an accepted one closed instead.
        let mut server = None;
        for _ in 0..10 {
            match TcpStream::connect_timeout(&target, Duration::from_secs(2)) {
                Ok(c) => {
                    server = Some(c);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(_) => break,
            }
        }
        let Some(server) = server else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        {
            let mut live = s.live.lock().unwrap();
            // Forget connections that have ended on their own.
            live.retain(|(a, _)| a.peer_addr().is_ok());
            live.push((client.try_clone().unwrap(), server.try_clone().unwrap()));
        }
        copy_thread(
            client.try_clone().unwrap(),
            server.try_clone().unwrap(),
            0,
            s.clone(),
        );
        if s.snap_trap.swap(false, Ordering::SeqCst) {
            snap_trap_thread(server, client, s.clone());
        } else {
            copy_thread(server, client, 1, s.clone());
        }
    }
}

/// The length of the quorum packet at the start of `b`, if all of it is there:
/// `int(type) long(zxid) buffer(data) vector<Id>(authinfo)`, `Id := ustring ustring`.
fn quorum_packet_len(b: &[u8]) -> Option<usize> {
    fn int(b: &[u8], at: usize) -> Option<i32> {
        Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    }
    let mut at = 12;
    let data = int(b, at)?;
    at += 4 + data.max(0) as usize;
    let ids = int(b, at)?;
    at += 4;
    for _ in 0..ids.max(0) {
        for _ in 0..2 {
            let n = int(b, at)?;
            at += 4 + n.max(0) as usize;
        }
    }
    (b.len() >= at).then_some(at)
}

/// Copies the target's quorum packets to the dialler whole, up to and including the first
/// SNAP (type 15); then closes both sides without forwarding anything after it.
fn snap_trap_thread(mut from: TcpStream, mut to: TcpStream, s: Arc<Shared>) {
    const SNAP: i32 = 15;
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut pending: Vec<u8> = Vec::new();
        'copy: loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
            while let Some(len) = quorum_packet_len(&pending) {
                if to.write_all(&pending[..len]).is_err() {
                    break 'copy;
                }
                let snap = pending[..4] == SNAP.to_be_bytes();
                pending.drain(..len);
                if snap {
                    s.snap_trapped.fetch_add(1, Ordering::SeqCst);
                    break 'copy;
                }
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// Copies `from` to `to`; `dir` 0 carries the dialler's bytes, 1 the target's.
fn copy_thread(mut from: TcpStream, mut to: TcpStream, dir: usize, s: Arc<Shared>) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if s.cut.load(Ordering::SeqCst) {
                break;
            }
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if s.cut.load(Ordering::SeqCst) {
                        break;
                    }
                    if s.drop[dir].load(Ordering::SeqCst) {
                        continue;
                    }
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
}
