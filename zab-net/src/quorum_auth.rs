//! Quorum SASL: the authentication exchange that opens an election connection
//! (after the initial message) and a quorum connection (before FOLLOWERINFO),
//! as ZooKeeper's `SaslQuorumAuthLearner` and `SaslQuorumAuthServer` run it.
//!
//! ```text
//! auth-packet := long(magic) int(status) buffer(token)   ; jute QuorumAuthPacket, no outer length
//! magic       := -0xa0dbcafecafe1234                       ; QuorumAuth.QUORUM_AUTH_MAGIC_NUMBER
//! status      := 0 (IN_PROGRESS) | 1 (SUCCESS) | -1 (ERROR)
//! buffer      := int(len) byte{len}                        ; len -1: null
//!
//! learner -> server: IN_PROGRESS(initial response, empty for DIGEST-MD5)
//! server -> learner: IN_PROGRESS(challenge)                ; up to 5 rounds
//! learner -> server: IN_PROGRESS(response)
//! server -> learner: SUCCESS(last token, rspauth)  |  ERROR(empty)
//! ```
//!
//! Who takes part (ZooKeeper's `QuorumPeer`): without `quorum.auth.enableSasl`
//! neither side does anything. With it, the connecting side (the "learner":
//! the initiator of an election connection, a follower or observer on the quorum
//! port) authenticates only when `quorum.auth.learnerRequireSasl` is set; the
//! accepting side ("server") peeks at the first 8 bytes: the magic starts an
//! exchange, anything else is let through unless `quorum.auth.serverRequireSasl`
//! is set. A failed exchange is answered ERROR and closes the connection when
//! the server requires SASL; otherwise the connection goes on, as Apache's does.
//!
//! The mechanism itself (DIGEST-MD5 or Kerberos from the JAAS sections `QuorumServer` and
//! `QuorumLearner`) is behind [`QuorumSasl`], so that this crate knows no JAAS.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::{info, warn};

use crate::error::NetError;

/// `QuorumAuth.QUORUM_AUTH_MAGIC_NUMBER` (a Java literal `-0xa0dbcafecafe1234L`).
pub const MAGIC: i64 = (0xa0db_cafe_cafe_1234u64 as i64).wrapping_neg();
pub const IN_PROGRESS: i32 = 0;
pub const SUCCESS: i32 = 1;
pub const ERROR: i32 = -1;
/// Rounds the server allows before it answers ERROR (`SaslQuorumAuthServer.MAX_RETRIES`).
pub const MAX_RETRIES: u32 = 5;
/// The largest token accepted. SASL tokens of DIGEST-MD5 stay under 4 KiB; a larger
/// length is garbage and is refused before anything is allocated for it.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// One `QuorumAuthPacket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPacket {
    pub magic: i64,
    pub status: i32,
    pub token: Option<Vec<u8>>,
}

impl AuthPacket {
    pub fn new(status: i32, token: Option<Vec<u8>>) -> AuthPacket {
        AuthPacket {
            magic: MAGIC,
            status,
            token,
        }
    }

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_i64(self.magic);
        out.put_i32(self.status);
        match &self.token {
            None => out.put_i32(-1),
            Some(t) => {
                out.put_i32(t.len() as i32);
                out.put_slice(t);
            }
        }
    }

    /// Decodes one packet off the front of `src`; `Ok(None)` if incomplete.
    pub fn decode(src: &mut BytesMut) -> Result<Option<AuthPacket>, NetError> {
        if src.len() < 16 {
            return Ok(None);
        }
        let magic = i64::from_be_bytes(src[..8].try_into().expect("8 bytes"));
        if magic != MAGIC {
            return Err(NetError::QuorumAuth {
                reason: format!("auth packet with magic {magic:#x}, not {MAGIC:#x}"),
            });
        }
        let status = i32::from_be_bytes(src[8..12].try_into().expect("4 bytes"));
        let len = i32::from_be_bytes(src[12..16].try_into().expect("4 bytes"));
        if len < -1 {
            return Err(NetError::NegativeLength {
                field: "auth token",
                len: len as i64,
            });
        }
        if len == -1 {
            src.advance(16);
            return Ok(Some(AuthPacket::new(status, None).with_magic(magic)));
        }
        let len = len as usize;
        if len > MAX_TOKEN_LEN {
            return Err(NetError::TooLarge {
                field: "auth token",
                len: len as u64,
                max: MAX_TOKEN_LEN,
            });
        }
        if src.len() < 16 + len {
            return Ok(None);
        }
        let token = src[16..16 + len].to_vec();
        src.advance(16 + len);
        Ok(Some(AuthPacket::new(status, Some(token)).with_magic(magic)))
    }

    fn with_magic(mut self, magic: i64) -> AuthPacket {
        self.magic = magic;
        self
    }
}

/// What the server side of a mechanism answers to one token.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerStep {
    /// Not complete: send this challenge and wait for the next token.
    Challenge(Vec<u8>),
    /// Complete (authenticated): send SUCCESS with this last token.
    Complete(Option<Vec<u8>>),
}

/// The server side of one exchange (Java's `SaslServer`).
pub trait SaslServerExchange: Send {
    fn evaluate(&mut self, token: &[u8]) -> Result<ServerStep, String>;
    /// The name the peer proved, once complete (for the log).
    fn authorized_id(&self) -> Option<String>;
}

/// The client side of one exchange (Java's `SaslClient`).
pub trait SaslClientExchange: Send {
    /// The token sent first (DIGEST-MD5 has none: an empty token is sent).
    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
    /// The answer to a challenge; `None` when there is nothing to send.
    fn evaluate(&mut self, challenge: &[u8]) -> Result<Option<Vec<u8>>, String>;
    fn is_complete(&self) -> bool;
}

/// Makes the exchanges of the configured mechanism: the server side from the
/// `QuorumServer` login, the client side from the `QuorumLearner` login.
pub trait QuorumSasl: Send + Sync + fmt::Debug {
    fn server(&self) -> Result<Box<dyn SaslServerExchange>, String>;
    /// The client side towards `peer` (Kerberos names the service by the peer's host).
    fn client(&self, peer: SocketAddr) -> Result<Box<dyn SaslClientExchange>, String>;
}

/// The quorum authentication settings of one server. The default is no SASL
/// (ZooKeeper's `NullQuorumAuthServer` / `NullQuorumAuthLearner`).
#[derive(Clone, Debug)]
pub struct QuorumAuth {
    /// `quorum.auth.enableSasl`: `None` when off.
    pub sasl: Option<Arc<dyn QuorumSasl>>,
    /// `quorum.auth.learnerRequireSasl`: authenticate when connecting.
    pub learner_require: bool,
    /// `quorum.auth.serverRequireSasl`: refuse peers that do not authenticate.
    pub server_require: bool,
    /// Time allowed for the whole exchange (Apache: the socket's read timeout).
    pub timeout: Duration,
}

impl Default for QuorumAuth {
    fn default() -> Self {
        QuorumAuth {
            sasl: None,
            learner_require: false,
            server_require: false,
            timeout: Duration::from_secs(20),
        }
    }
}

async fn write_packet<S: AsyncWrite + Unpin>(s: &mut S, p: &AuthPacket) -> Result<(), NetError> {
    let mut out = BytesMut::new();
    p.encode(&mut out);
    s.write_all(&out).await?;
    s.flush().await?;
    Ok(())
}

async fn read_packet<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
) -> Result<AuthPacket, NetError> {
    loop {
        if let Some(p) = AuthPacket::decode(buf)? {
            return Ok(p);
        }
        if s.read_buf(buf).await? == 0 {
            return Err(NetError::ClosedBefore {
                what: "the end of the quorum authentication",
            });
        }
    }
}

/// Reads until `buf` holds `n` bytes; false at the end of the stream.
async fn fill<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    n: usize,
) -> Result<bool, NetError> {
    while buf.len() < n {
        if s.read_buf(buf).await? == 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

fn failed(reason: String) -> NetError {
    NetError::QuorumAuth { reason }
}

impl QuorumAuth {
    pub fn enabled(&self) -> bool {
        self.sasl.is_some()
    }

    /// The connecting side (`SaslQuorumAuthLearner.authenticate`). `buf` gets any
    /// bytes read past the exchange. An error means the connection must be closed.
    pub async fn authenticate_learner<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        buf: &mut BytesMut,
        peer: SocketAddr,
    ) -> Result<(), NetError> {
        let Some(sasl) = &self.sasl else {
            return Ok(());
        };
        if !self.learner_require {
            return Ok(());
        }
        let exchange = async {
            let mut client = sasl.client(peer).map_err(failed)?;
            let first = client.initial_response().map_err(failed)?;
            write_packet(
                stream,
                &AuthPacket::new(IN_PROGRESS, Some(first.unwrap_or_default())),
            )
            .await?;
            let mut pkt = read_packet(stream, buf).await?;
            while !client.is_complete() {
                match pkt.status {
                    SUCCESS => {
                        let token = pkt.token.as_deref().ok_or_else(|| {
                            failed("the quorum member's SASL token is null".into())
                        })?;
                        if client.evaluate(token).map_err(failed)?.is_some() {
                            return Err(failed(
                                "protocol error: attempting to send response after completion"
                                    .into(),
                            ));
                        }
                        if !client.is_complete() {
                            return Err(failed("SUCCESS before the exchange completed".into()));
                        }
                    }
                    IN_PROGRESS => {
                        let token = pkt.token.as_deref().ok_or_else(|| {
                            failed("the quorum member's SASL token is null".into())
                        })?;
                        let resp = client.evaluate(token).map_err(failed)?;
                        write_packet(stream, &AuthPacket::new(IN_PROGRESS, resp)).await?;
                        pkt = read_packet(stream, buf).await?;
                    }
                    s => {
                        return Err(failed(format!(
                            "authentication failed against server addr: {peer} (status {s})"
                        )))
                    }
                }
            }
            if pkt.status != SUCCESS {
                return Err(failed(format!(
                    "authentication failed against server addr: {peer}, status {}",
                    pkt.status
                )));
            }
            Ok(())
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Err(NetError::Timeout {
                what: "quorum authentication",
                peer,
                timeout: self.timeout,
            }),
            Ok(Err(e)) => Err(e),
            Ok(Ok(())) => {
                info!(%peer, "quorum SASL authentication completed as learner");
                Ok(())
            }
        }
    }

    /// The accepting side (`SaslQuorumAuthServer.authenticate`). `buf` holds bytes
    /// already read and gets those read past the exchange (a peer that does not
    /// authenticate leaves its first bytes there). An error means the connection
    /// must be closed.
    pub async fn authenticate_server<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        buf: &mut BytesMut,
        peer: SocketAddr,
    ) -> Result<(), NetError> {
        let Some(sasl) = &self.sasl else {
            return Ok(());
        };
        let mut answered = false;
        let exchange = async {
            // Peek: is the next packet an auth packet?
            if !fill(stream, buf, 8).await?
                || i64::from_be_bytes(buf[..8].try_into().unwrap()) != MAGIC
            {
                return Ok(false);
            }
            let mut token = read_packet(stream, buf).await?.token.unwrap_or_default();
            let mut server = sasl.server().map_err(failed)?;
            let mut tries = 0;
            loop {
                answered = true;
                match server.evaluate(&token).map_err(failed)? {
                    ServerStep::Complete(last) => {
                        write_packet(stream, &AuthPacket::new(SUCCESS, last)).await?;
                        info!(%peer, user = ?server.authorized_id(), "quorum SASL authentication completed: learner accepted");
                        return Ok(true);
                    }
                    ServerStep::Challenge(c) => {
                        tries += 1;
                        if tries > MAX_RETRIES {
                            write_packet(stream, &AuthPacket::new(ERROR, Some(c))).await?;
                            answered = false;
                            return Err(failed(format!("retries={tries} exceeded")));
                        }
                        write_packet(stream, &AuthPacket::new(IN_PROGRESS, Some(c))).await?;
                        token = read_packet(stream, buf).await?.token.unwrap_or_default();
                    }
                }
            }
        };
        let r = match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Err(NetError::Timeout {
                what: "quorum authentication",
                peer,
                timeout: self.timeout,
            }),
            Ok(r) => r,
        };
        match r {
            Ok(true) => Ok(()),
            Ok(false) if self.server_require => Err(failed(
                "learner not trying to authenticate and authentication is required".into(),
            )),
            Ok(false) => Ok(()),
            Err(e) => {
                if answered {
                    // Tell the learner (best effort), as Apache does.
                    let _ = tokio::time::timeout(
                        Duration::from_secs(1),
                        write_packet(stream, &AuthPacket::new(ERROR, Some(Vec::new()))),
                    )
                    .await;
                }
                if self.server_require {
                    Err(e)
                } else {
                    warn!(%peer, error = %e, "quorum SASL authentication failed; connection kept as quorum.auth.serverRequireSasl is false");
                    Ok(())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_is_apaches() {
        assert_eq!(MAGIC, 0x5f24_3501_3501_edcc);
        let mut b = BytesMut::new();
        AuthPacket::new(IN_PROGRESS, Some(vec![])).encode(&mut b);
        assert_eq!(
            &b[..],
            &[0x5f, 0x24, 0x35, 0x01, 0x35, 0x01, 0xed, 0xcc, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        let mut b = BytesMut::new();
        AuthPacket::new(SUCCESS, None).encode(&mut b);
        assert_eq!(&b[8..], &[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            AuthPacket::decode(&mut b).unwrap(),
            Some(AuthPacket::new(SUCCESS, None))
        );
    }

    #[test]
    fn decode_waits_and_refuses_garbage() {
        let mut b = BytesMut::new();
        AuthPacket::new(ERROR, Some(b"abc".to_vec())).encode(&mut b);
        for cut in 0..b.len() {
            assert!(AuthPacket::decode(&mut BytesMut::from(&b[..cut]))
                .unwrap()
                .is_none());
        }
        let mut bad = b.clone();
        bad[12..16].copy_from_slice(&(-2i32).to_be_bytes());
        assert!(AuthPacket::decode(&mut bad).is_err());
        let mut big = b.clone();
        big[12..16].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(AuthPacket::decode(&mut big).is_err());
        let mut magic = b.clone();
        magic[0] = 0;
        assert!(AuthPacket::decode(&mut magic).is_err());
    }

    /// A toy mechanism: the client sends the password, the server compares.
    #[derive(Debug)]
    struct Toy {
        password: &'static str,
        expected: &'static str,
    }
    struct ToyServer(&'static str, bool);
    struct ToyClient(&'static str, bool);
    impl SaslServerExchange for ToyServer {
        fn evaluate(&mut self, token: &[u8]) -> Result<ServerStep, String> {
            if token.is_empty() {
                return Ok(ServerStep::Challenge(b"who?".to_vec()));
            }
            if token == self.0.as_bytes() {
                self.1 = true;
                Ok(ServerStep::Complete(Some(b"ok".to_vec())))
            } else {
                Err("wrong password".into())
            }
        }
        fn authorized_id(&self) -> Option<String> {
            self.1.then(|| "toy".into())
        }
    }
    impl SaslClientExchange for ToyClient {
        fn evaluate(&mut self, challenge: &[u8]) -> Result<Option<Vec<u8>>, String> {
            if challenge == b"ok" {
                self.1 = true;
                return Ok(None);
            }
            Ok(Some(self.0.as_bytes().to_vec()))
        }
        fn is_complete(&self) -> bool {
            self.1
        }
    }
    impl QuorumSasl for Toy {
        fn server(&self) -> Result<Box<dyn SaslServerExchange>, String> {
            Ok(Box::new(ToyServer(self.expected, false)))
        }
        fn client(&self, _: SocketAddr) -> Result<Box<dyn SaslClientExchange>, String> {
            Ok(Box::new(ToyClient(self.password, false)))
        }
    }

    fn auth(password: &'static str, learner: bool, server: bool) -> QuorumAuth {
        QuorumAuth {
            sasl: Some(Arc::new(Toy {
                password,
                expected: "right",
            })),
            learner_require: learner,
            server_require: server,
            timeout: Duration::from_secs(5),
        }
    }

    async fn run(l: QuorumAuth, s: QuorumAuth) -> (Result<(), NetError>, Result<(), NetError>) {
        let (mut a, mut b) = tokio::io::duplex(4096);
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let learner = async move {
            let r = l
                .authenticate_learner(&mut a, &mut BytesMut::new(), peer)
                .await;
            // A learner that skips authentication goes on with its first frame.
            let _ = a.write_all(&[0, 0, 0, 4, 1, 2, 3, 4]).await;
            r
        };
        let server = async move {
            let mut buf = BytesMut::new();
            let r = s.authenticate_server(&mut b, &mut buf, peer).await;
            if r.is_ok() {
                // Whatever follows the exchange is left for the connection.
                fill(&mut b, &mut buf, 8).await.unwrap();
                assert_eq!(&buf[..], &[0, 0, 0, 4, 1, 2, 3, 4]);
            }
            r
        };
        tokio::join!(learner, server)
    }

    #[tokio::test]
    async fn exchanges_as_apache_decides() {
        let (l, s) = run(auth("right", true, true), auth("x", true, true)).await;
        assert!(l.is_ok() && s.is_ok(), "{l:?} {s:?}");
        let (l, s) = run(auth("wrong", true, true), auth("x", true, true)).await;
        assert!(l.is_err() && s.is_err(), "{l:?} {s:?}");
        // Not required by the server: a failure is let through; the learner
        // still fails (it got ERROR).
        let (l, s) = run(auth("wrong", true, false), auth("x", false, false)).await;
        assert!(l.is_err() && s.is_ok(), "{l:?} {s:?}");
        // A learner that does not authenticate.
        let (l, s) = run(auth("x", false, false), auth("x", true, true)).await;
        assert!(l.is_ok() && s.is_err(), "{l:?} {s:?}");
        let (l, s) = run(auth("x", false, false), auth("x", false, false)).await;
        assert!(l.is_ok() && s.is_ok(), "{l:?} {s:?}");
        let (l, s) = run(QuorumAuth::default(), QuorumAuth::default()).await;
        assert!(l.is_ok() && s.is_ok(), "{l:?} {s:?}");
    }

    #[tokio::test]
    async fn garbage_after_the_magic_is_refused() {
        let (mut a, mut b) = tokio::io::duplex(4096);
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut junk = MAGIC.to_be_bytes().to_vec();
        junk.extend_from_slice(&[0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]);
        a.write_all(&junk).await.unwrap();
        let s = auth("x", true, true);
        let r = s
            .authenticate_server(&mut b, &mut BytesMut::new(), peer)
            .await;
        assert!(matches!(r, Err(NetError::TooLarge { .. })), "{r:?}");
    }
}
