//! HTTPS on the AdminServer's port, as Apache's `JettyAdminServer` (3.7+) sets it
//! up: `admin.forceHttps` serves TLS only, `admin.portUnification` serves TLS and
//! plain HTTP on the one port (a connection whose first byte is a TLS handshake
//! record's, 0x16, is TLS, as Apache's `UnifiedConnectionFactory` decides), and
//! 3.9's `admin.needClientAuth` requires a client certificate (without it none
//! is asked for, as Jetty's `setNeedClientAuth(false)`).
//!
//! The key and trust stores are the quorum's, as Apache reads them through
//! `QuorumX509Util`: `ssl.quorum.keyStore.*` and `ssl.quorum.trustStore.*`
//! (with `.passwordPath`, and every store format [`crate::tls::stores`] reads).
//! Jetty ignores the rest of the quorum's TLS settings; here
//! `ssl.quorum.protocol`, `enabledProtocols` and `ciphersuites` narrow what
//! the handshake offers as they narrow the quorum's.
//!
//! It owns the handshake and what it tells a request ([`Peer`]: whether it
//! came over TLS, and the verified client chain that 3.9's x509 authentication
//! of `snapshot` / `restore` reads, see `super::ops`). The HTTP is
//! `super::serve_http`'s.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls_pki_types::CertificateDer;
use tokio::net::TcpStream;

use crate::config::Config;
use crate::tls::{ClientAuth, TlsSettings, HANDSHAKE_TIMEOUT};

/// Plain HTTP connections served on a port that also serves HTTPS (Apache's
/// `ServerMetrics.INSECURE_ADMIN`, `insecure_admin_count` in `mntr`).
pub static INSECURE_ADMIN: AtomicU64 = AtomicU64::new(0);

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// Apache's `SecureRequestCustomizer` on HTTPS answers: one day, sub-domains too.
pub const STS_HEADER: &str = "max-age=86400; includeSubDomains";

/// How one connection reached the server, for its requests.
#[derive(Clone, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
    /// Whether it came over TLS.
    pub secure: bool,
    /// The client's certificate chain (leaf first), verified by the handshake
    /// against the quorum trust store; empty when none was asked for or given.
    pub chain: Vec<CertificateDer<'static>>,
}

/// The port's TLS, when `admin.forceHttps` or `admin.portUnification` is on.
pub struct AdminTls {
    config: Arc<ServerConfig>,
    /// TLS only (`admin.forceHttps`); else TLS or plain.
    force: bool,
}

impl AdminTls {
    /// `None` when neither key asks for HTTPS; an error (for the log) when the
    /// stores cannot be read, as Apache's AdminServer then does not start.
    pub fn from_config(cfg: &Config) -> Result<Option<AdminTls>, String> {
        let a = &cfg.admin;
        if !a.force_https && !a.port_unification {
            return Ok(None);
        }
        let mut settings = TlsSettings::from_props(cfg, "zookeeper.ssl.quorum.")?;
        // Jetty asks for a certificate only with needClientAuth; quorum's
        // ssl.quorum.clientAuth is not read.
        settings.client_auth = if a.need_client_auth {
            ClientAuth::Need
        } else {
            ClientAuth::None
        };
        let config = settings.server_config()?;
        Ok(Some(AdminTls {
            config: Arc::new(config),
            force: a.force_https,
        }))
    }

    /// What the admin port speaks, for the start-up log line.
    pub fn describe(&self) -> &'static str {
        if self.force {
            "HTTPS only (admin.forceHttps)"
        } else {
            "HTTPS and HTTP (admin.portUnification)"
        }
    }

    /// Whether a connection whose first bytes are `first` is TLS.
    fn is_tls(&self, first: Option<u8>) -> bool {
        self.force || first == Some(TLS_HANDSHAKE)
    }

    /// Tell TLS from plain and do the handshake: the stream to serve HTTP on.
    /// An error says why the connection is closed.
    pub async fn accept(
        &self,
        stream: TcpStream,
        addr: SocketAddr,
        idle: Duration,
    ) -> Result<(Stream, Peer), String> {
        let first = if self.force {
            None
        } else {
            let mut b = [0u8; 1];
            match tokio::time::timeout(idle, stream.peek(&mut b)).await {
                Err(_) => return Err(format!("no request within {idle:?}")),
                Ok(Err(e)) => return Err(format!("read: {e}")),
                Ok(Ok(0)) => None,
                Ok(Ok(_)) => Some(b[0]),
            }
        };
        if !self.is_tls(first) {
            INSECURE_ADMIN.fetch_add(1, Ordering::Relaxed);
            let peer = Peer {
                addr,
                secure: false,
                chain: Vec::new(),
            };
            return Ok((Stream::Plain(stream), peer));
        }
        let acceptor = tokio_rustls::TlsAcceptor::from(self.config.clone());
        let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Err(_) => {
                return Err(format!(
                    "TLS handshake not finished in {HANDSHAKE_TIMEOUT:?}"
                ))
            }
            Ok(Err(e)) => return Err(format!("TLS handshake failed: {e}")),
            Ok(Ok(s)) => s,
        };
        let chain = tls
            .get_ref()
            .1
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        let peer = Peer {
            addr,
            secure: true,
            chain,
        };
        Ok((Stream::Tls(Box::new(tls)), peer))
    }
}

/// A connection's stream, plain or TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl tokio::io::AsyncRead for Stream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Stream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// How the web console reaches its peers' AdminServers when they speak HTTPS only
/// (`admin.forceHttps`): the quorum's stores again, the trust store to verify a
/// peer (by the host of its address) and the key store as this server's client
/// certificate (for peers with `admin.needClientAuth`). `None` when this port is
/// not HTTPS-only: the console then asks its peers over plain HTTP.
pub fn peer_client_config(cfg: &Config) -> Result<Option<Arc<rustls::ClientConfig>>, String> {
    if !cfg.admin.force_https {
        return Ok(None);
    }
    let s = TlsSettings::from_props(cfg, "zookeeper.ssl.quorum.")?;
    let ts = s
        .trust_store
        .as_ref()
        .ok_or("zookeeper.ssl.quorum.trustStore.location is not set: no way to verify peers")?;
    let mut roots = rustls::RootCertStore::empty();
    for c in crate::tls::stores::load_trust_store(&ts.location, &ts.password, ts.ty)? {
        roots
            .add(c)
            .map_err(|e| format!("{}: bad trusted certificate: {e}", ts.location))?;
    }
    #[allow(deprecated)] // ring: see crate::tls on why
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&s.versions)
        .map_err(|e| format!("zookeeper.ssl.quorum.protocol: {e}"))?
        .with_root_certificates(roots);
    let config = match &s.key_store {
        Some(ks) => {
            let key = crate::tls::stores::load_key_store(&ks.location, &ks.password, ks.ty)?;
            b.with_client_auth_cert(key.chain, key.key)
                .map_err(|e| format!("{}: {e}", ks.location))?
        }
        None => b.with_no_client_auth(),
    };
    Ok(Some(Arc::new(config)))
}

/// Whether the x509 scheme has a provider, as Apache's `ProviderRegistry` has
/// one: some `authProvider.<name>` names X509AuthenticationProvider, or a TLS
/// client port is configured (`QuorumPeerConfig.configureSSLAuth` then
/// registers it).
pub fn x509_registered(cfg: &Config) -> bool {
    cfg.props_with_prefix("zookeeper.authProvider.")
        .any(|(_, class)| class.trim() == crate::tls::X509_PROVIDER_CLASS)
        || cfg.secure_client_port.is_some()
}

/// 3.9's x509 authentication of an admin command (`X509AuthenticationProvider.
/// handleAuthentication(HttpServletRequest, ...)`): the HTTPS connection's client
/// chain, checked again against the *client* trust store
/// (`ssl.trustStore.*`, as Apache's provider builds its trust manager from
/// `ClientX509Util`), names `x509:<DN>` (and `super:<DN>` for
/// `X509AuthenticationProvider.superUser`). An error says why not.
pub fn x509_ids(cfg: &Config, peer: Option<&Peer>) -> Result<Vec<zab_core::records::Id>, String> {
    use rustls::server::WebPkiClientVerifier;

    if !x509_registered(cfg) {
        return Err("no provider for the x509 scheme".into());
    }
    let chain = match peer {
        Some(p) if !p.chain.is_empty() => &p.chain,
        _ => return Err("no client certificate on this connection".into()),
    };
    let client = TlsSettings::from_props(cfg, "zookeeper.ssl.")?;
    let ts = client
        .trust_store
        .ok_or("no trust store (zookeeper.ssl.trustStore.location) to authenticate with")?;
    let mut roots = rustls::RootCertStore::empty();
    for c in crate::tls::stores::load_trust_store(&ts.location, &ts.password, ts.ty)? {
        roots
            .add(c)
            .map_err(|e| format!("{}: bad trusted certificate: {e}", ts.location))?;
    }
    #[allow(deprecated)] // ring: see crate::tls on why
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| format!("{}: {e}", ts.location))?;
    verifier
        .verify_client_cert(&chain[0], &chain[1..], rustls_pki_types::UnixTime::now())
        .map_err(|e| format!("client certificate not trusted: {e}"))?;
    crate::tls::X509Auth::from_config(cfg)?.ids(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_https_without_its_keys_and_missing_stores_are_an_error() {
        let c = Config::parse("dataDir=/d\n", "zoo.cfg").unwrap();
        assert!(AdminTls::from_config(&c).unwrap().is_none());
        let c = Config::parse("dataDir=/d\nadmin.forceHttps=true\n", "zoo.cfg").unwrap();
        let e = AdminTls::from_config(&c).err().unwrap();
        assert!(e.contains("zookeeper.ssl.quorum.keyStore.location"), "{e}");
    }
}
