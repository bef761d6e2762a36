//! Quorum TLS (Apache's `sslQuorum`, `portUnification`, `sslQuorumReloadCertFiles`
//! with the `ssl.quorum.*` settings of `QuorumX509Util`): zab-net's [`QuorumTls`]
//! over rustls.
//!
//! zab-net decides when a socket is wrapped (after the connect, before the initial
//! message and quorum SASL; after the accept, before anything is read). This module
//! decides how:
//! * connecting (a learner to its leader, an election initiator): TLS as a client with
//!   the key store's certificate, when `sslQuorum=true`; plain otherwise.
//! * accepting: TLS as a server that needs the peer's certificate (`ssl.quorum.clientAuth`,
//!   default need); with `portUnification=true` the first bytes decide between TLS and
//!   plain, as Apache's `UnifiedServerSocket` does (a rolling upgrade to TLS).
//! * host names, as Apache's `ZKTrustManager` checks them on the quorum (both ways,
//!   `ssl.quorum.hostnameVerification`, default true): the peer's certificate must be
//!   valid for the peer's IP address (an IP subjectAltName), or else for its host name
//!   (DNS subjectAltNames, or the CN when there are none), found as Apache finds it by
//!   a reverse lookup ([`super::reverse_dns`]; on 127.0.0.1, `localhost`).
//!
//! The chain is verified against `ssl.quorum.trustStore.*` by rustls's webpki verifiers,
//! and with `ssl.quorum.crl` / `ssl.quorum.ocsp` checked for revocation
//! ([`super::revocation`]) right after the handshake, both ways.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};
use tokio::net::TcpStream;
use zab_net::{PeerStream, QuorumTls, TlsFuture};

use super::revocation::{Peer, Revocation};
use super::{ring_provider, Sniff, TlsSettings, HANDSHAKE_TIMEOUT};
use crate::config::Config;

/// The prefix of the quorum's TLS properties (`ssl.quorum.*` in zoo.cfg).
pub const PREFIX: &str = "zookeeper.ssl.quorum.";

/// Both ends of quorum TLS, replaced together when the stores are reloaded.
struct Configs {
    /// `None`: port unification without a key store; TLS peers are refused.
    server: Option<Arc<ServerConfig>>,
    /// `None` unless `sslQuorum`.
    client: Option<Arc<ClientConfig>>,
    /// The trust store for `ssl.quorum.crl` / `ssl.quorum.ocsp` checks.
    trust: Option<Arc<super::revocation::Trust>>,
}

/// One server's quorum TLS: what it connects with and what its ports accept.
pub struct QuorumTlsPort {
    settings: TlsSettings,
    ssl_quorum: bool,
    port_unification: bool,
    current: RwLock<Arc<Configs>>,
    stamps: Mutex<Vec<Option<(SystemTime, u64)>>>,
    /// `ssl.quorum.crl` / `ssl.quorum.ocsp`: a peer's chain is checked after the
    /// handshake, both ways, before anything else is sent.
    revocation: Option<Arc<Revocation>>,
}

impl std::fmt::Debug for QuorumTlsPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuorumTlsPort")
            .field("ssl_quorum", &self.ssl_quorum)
            .field("port_unification", &self.port_unification)
            .finish()
    }
}

impl QuorumTlsPort {
    /// From `sslQuorum`, `portUnification` and `ssl.quorum.*`; `None` when both are off
    /// (plain TCP, nothing wrapped).
    pub fn from_config(cfg: &Config) -> Result<Option<Arc<QuorumTlsPort>>, String> {
        let q = &cfg.quorum_tls;
        if !q.ssl_quorum && !q.port_unification {
            return Ok(None);
        }
        let settings = TlsSettings::from_props(cfg, PREFIX)?;
        if settings.key_store.is_none() && q.ssl_quorum {
            return Err(format!(
                "sslQuorum=true needs {PREFIX}keyStore.location (ssl.quorum.keyStore.location)"
            ));
        }
        if settings.trust_store.is_none() && q.ssl_quorum {
            return Err(format!(
                "sslQuorum=true needs {PREFIX}trustStore.location (ssl.quorum.trustStore.location) to verify peers"
            ));
        }
        let port = QuorumTlsPort {
            revocation: Revocation::new(settings.crl, settings.ocsp),
            stamps: Mutex::new(settings.stamps()),
            current: RwLock::new(Arc::new(build(&settings, q.ssl_quorum)?)),
            settings,
            ssl_quorum: q.ssl_quorum,
            port_unification: q.port_unification,
        };
        tracing::info!(
            "quorum TLS: sslQuorum={}, portUnification={}, hostnameVerification={}, crl={}, ocsp={}",
            port.ssl_quorum,
            port.port_unification,
            port.settings.hostname_verification,
            port.settings.crl,
            port.settings.ocsp
        );
        Ok(Some(Arc::new(port)))
    }

    fn configs(&self) -> Arc<Configs> {
        self.current.read().unwrap().clone()
    }

    /// The peer's chain against `ssl.quorum.crl` / `ssl.quorum.ocsp`, when on.
    async fn check_revocation(
        &self,
        chain: Option<&[CertificateDer<'_>]>,
        peer: Peer,
    ) -> Result<(), String> {
        let (Some(r), Some(chain)) = (&self.revocation, chain) else {
            return Ok(());
        };
        let Some(trust) = self.configs().trust.clone() else {
            return Ok(());
        };
        let chain: Vec<CertificateDer<'static>> =
            chain.iter().map(|c| c.clone().into_owned()).collect();
        r.check(&chain, &trust, peer)
            .await
            .map_err(|e| format!("TLS handshake failed: {e}"))
    }

    /// Re-read the stores if their files changed; on an error the previous ones stay.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let now = self.settings.stamps();
        {
            let mut s = self.stamps.lock().unwrap();
            if *s == now {
                return Ok(false);
            }
            *s = now;
        }
        let c = build(&self.settings, self.ssl_quorum)?;
        *self.current.write().unwrap() = Arc::new(c);
        Ok(true)
    }

    /// `sslQuorumReloadCertFiles`: check the store files each `every` and reload them
    /// when they change (Apache watches their directories).
    pub fn spawn_reloader(self: &Arc<Self>, every: Duration) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(me) = me.upgrade() else { return };
                match me.reload_if_changed() {
                    Ok(true) => tracing::info!("reloaded the quorum TLS key and trust stores"),
                    Ok(false) => {}
                    Err(e) => tracing::error!(
                        "cannot reload the quorum TLS stores, keeping the previous ones: {e}"
                    ),
                }
            }
        });
    }

    async fn tls_connect(&self, tcp: TcpStream, peer: SocketAddr) -> Result<PeerStream, String> {
        let Some(client) = self.configs().client.clone() else {
            return Ok(PeerStream::Plain(tcp));
        };
        if self.settings.hostname_verification {
            // For the certificate check inside the handshake (reverse_dns::cached).
            super::reverse_dns::lookup(peer.ip()).await;
        }
        let connector = tokio_rustls::TlsConnector::from(client);
        let name = ServerName::IpAddress(peer.ip().into());
        let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, tcp)).await
        {
            Err(_) => {
                return Err(format!(
                    "TLS handshake not finished in {HANDSHAKE_TIMEOUT:?}"
                ))
            }
            Ok(Err(e)) => return Err(format!("TLS handshake failed: {e}")),
            Ok(Ok(s)) => s,
        };
        self.check_revocation(tls.get_ref().1.peer_certificates(), Peer::Server)
            .await?;
        if let Some(leaf) = tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
            tracing::debug!(%peer, subject = ?super::dn::subject_rfc2253(leaf), "quorum TLS up (we connected)");
        }
        Ok(PeerStream::Wrapped(Box::new(tls)))
    }

    async fn tls_accept<S>(&self, stream: S, peer: SocketAddr) -> Result<PeerStream, String>
    where
        S: zab_net::stream::PeerIo,
    {
        let Some(server) = self.configs().server.clone() else {
            return Err(format!(
                "a TLS peer, and no {PREFIX}keyStore.location to answer it with"
            ));
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(server);
        let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Err(_) => {
                return Err(format!(
                    "TLS handshake not finished in {HANDSHAKE_TIMEOUT:?}"
                ))
            }
            Ok(Err(e)) => return Err(format!("TLS handshake failed: {e}")),
            Ok(Ok(s)) => s,
        };
        self.check_revocation(tls.get_ref().1.peer_certificates(), Peer::Client)
            .await?;
        let leaf = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .cloned();
        match leaf {
            Some(leaf) => {
                // ZKTrustManager.checkClientTrusted: on the quorum the client's host is
                // checked too.
                // The address first; the host name only when that fails, as Apache.
                if self.settings.hostname_verification
                    && host_matches(&leaf, peer.ip(), None).is_err()
                {
                    let host = super::reverse_dns::lookup(peer.ip()).await;
                    host_matches(&leaf, peer.ip(), host.as_deref())?;
                }
                tracing::debug!(%peer, subject = ?super::dn::subject_rfc2253(&leaf), "quorum TLS up (peer connected)");
            }
            None => tracing::debug!(%peer, "quorum TLS up, peer without a certificate"),
        }
        Ok(PeerStream::Wrapped(Box::new(tls)))
    }

    async fn accept_any(&self, tcp: TcpStream, peer: SocketAddr) -> Result<PeerStream, String> {
        if !self.port_unification {
            return self.tls_accept(tcp, peer).await;
        }
        match crate::net::sniff_stream(tcp).await {
            Err(e) => Err(e.to_string()),
            Ok((Sniff::Tls, s)) => self.tls_accept(s, peer).await,
            Ok((_, s)) => {
                tracing::debug!(%peer, "plain quorum connection (portUnification)");
                Ok(PeerStream::Wrapped(Box::new(s)))
            }
        }
    }
}

impl QuorumTls for QuorumTlsPort {
    fn connect(&self, tcp: TcpStream, peer: SocketAddr) -> TlsFuture<'_> {
        Box::pin(self.tls_connect(tcp, peer))
    }

    fn accept(&self, tcp: TcpStream, peer: SocketAddr) -> TlsFuture<'_> {
        Box::pin(self.accept_any(tcp, peer))
    }
}

fn build(settings: &TlsSettings, ssl_quorum: bool) -> Result<Configs, String> {
    let server = match settings.key_store {
        Some(_) => Some(Arc::new(settings.server_config()?)),
        None => None,
    };
    let client = if ssl_quorum {
        Some(Arc::new(client_config(settings)?))
    } else {
        None
    };
    Ok(Configs {
        server,
        client,
        trust: settings.trust()?,
    })
}

/// The connecting side: our certificate for the peer, the peer's verified against the
/// trust store and checked for its address.
fn client_config(settings: &TlsSettings) -> Result<ClientConfig, String> {
    let p = &settings.prefix;
    let ks = settings
        .key_store
        .as_ref()
        .ok_or_else(|| format!("{p}keyStore.location is not set"))?;
    let ts = settings
        .trust_store
        .as_ref()
        .ok_or_else(|| format!("{p}trustStore.location is not set"))?;
    let key = super::stores::load_key_store(&ks.location, &ks.password, ks.ty)?;
    let mut roots = RootCertStore::empty();
    for c in super::stores::load_trust_store(&ts.location, &ts.password, ts.ty)? {
        roots
            .add(c)
            .map_err(|e| format!("{}: bad trusted certificate: {e}", ts.location))?;
    }
    let provider = Arc::new(rustls::crypto::CryptoProvider {
        cipher_suites: settings.suites.clone(),
        ..ring_provider()
    });
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("{}: {e}", ts.location))?;
    let verifier = PeerVerifier {
        inner,
        hostname_verification: settings.hostname_verification,
    };
    ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&settings.versions)
        .map_err(|e| format!("{p}protocol: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(key.chain, key.key)
        .map_err(|e| format!("{}: key and certificate do not fit: {e}", ks.location))
}

/// webpki's chain verification, with Apache's host check in place of webpki's name check.
#[derive(Debug)]
struct PeerVerifier {
    inner: Arc<WebPkiServerVerifier>,
    hostname_verification: bool,
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => {
                // The chain is good (webpki checks the name last); the name is ours to check.
                if self.hostname_verification {
                    let ServerName::IpAddress(ip) = server_name else {
                        return Err(rustls::Error::InvalidCertificate(
                            CertificateError::NotValidForName,
                        ));
                    };
                    let ip = IpAddr::from(*ip);
                    // tls_connect looked the name up just before the handshake.
                    let host = super::reverse_dns::cached(ip);
                    host_matches(end_entity, ip, host.as_deref()).map_err(|e| {
                        rustls::Error::InvalidCertificate(CertificateError::Other(
                            rustls::OtherError(Arc::new(std::io::Error::other(e))),
                        ))
                    })?;
                }
                Ok(ServerCertVerified::assertion())
            }
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Apache's `ZKTrustManager.performHostVerification` with `ZKHostnameVerifier`: the
/// certificate names the peer's IP address, or else its host name `host` (what a
/// forward-confirmed reverse lookup gave, [`super::reverse_dns`]). As Apache's
/// verifier (HttpClient's rules): an address matches IP subjectAltNames, a name DNS
/// subjectAltNames (a `*` in the left-most label matches within that label); only a
/// certificate with no subjectAltNames at all is matched by its CN.
pub fn host_matches(cert: &[u8], ip: IpAddr, host: Option<&str>) -> Result<(), String> {
    use x509_parser::extensions::GeneralName;
    let (_, x) = x509_parser::parse_x509_certificate(cert)
        .map_err(|e| format!("the peer's certificate does not parse: {e}"))?;
    let mut ips = Vec::new();
    let mut dns = Vec::new();
    let mut any_san = false;
    if let Ok(Some(san)) = x.subject_alternative_name() {
        for n in &san.value.general_names {
            any_san = true;
            match n {
                GeneralName::IPAddress(b) => match b.len() {
                    4 => ips.push(IpAddr::from(<[u8; 4]>::try_from(*b).unwrap())),
                    16 => ips.push(IpAddr::from(<[u8; 16]>::try_from(*b).unwrap())),
                    _ => {}
                },
                GeneralName::DNSName(d) => dns.push(d.to_ascii_lowercase()),
                _ => {}
            }
        }
    }
    let cns: Vec<String> = x
        .subject()
        .iter_common_name()
        .filter_map(|c| c.as_str().ok().map(str::to_ascii_lowercase))
        .take(1)
        .collect();
    if any_san {
        if ips.contains(&ip) {
            return Ok(());
        }
    } else if cns.first().and_then(|c| c.parse::<IpAddr>().ok()) == Some(ip) {
        return Ok(());
    }
    if let Some(h) = host {
        let h = h.to_ascii_lowercase();
        let names = if any_san { &dns } else { &cns };
        if names.iter().any(|n| dns_name_matches(n, &h)) {
            return Ok(());
        }
    }
    Err(format!(
        "hostname verification: the peer's certificate is valid neither for its address {ip} \
         (IP subjectAltNames {ips:?}) nor for its host name {} (DNS names {dns:?}{}); \
         ssl.quorum.hostnameVerification=false turns this check off",
        host.unwrap_or("(none: no reverse lookup of the address)"),
        if any_san {
            String::new()
        } else {
            format!(", CN {cns:?}")
        }
    ))
}

/// HttpClient's `matchIdentityStrict` as ZKHostnameVerifier uses it: equal ignoring
/// case, or a `*` in the left-most label of `pattern` standing for part of one label.
fn dns_name_matches(pattern: &str, host: &str) -> bool {
    let (p_first, p_rest) = pattern.split_once('.').unwrap_or((pattern, ""));
    if !p_first.contains('*') {
        return pattern == host;
    }
    let (h_first, h_rest) = host.split_once('.').unwrap_or((host, ""));
    if p_rest.is_empty() || p_rest != h_rest {
        return false;
    }
    let (pre, post) = p_first.split_once('*').unwrap();
    h_first.len() >= pre.len() + post.len() && h_first.starts_with(pre) && h_first.ends_with(post)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_as_zk_hostname_verifier() {
        assert!(dns_name_matches("localhost", "localhost"));
        assert!(dns_name_matches("*.example.com", "zk1.example.com"));
        assert!(dns_name_matches("zk*.example.com", "zk1.example.com"));
        assert!(!dns_name_matches("*.example.com", "a.b.example.com"));
        assert!(!dns_name_matches("*.example.com", "example.com"));
        assert!(!dns_name_matches("zk*.example.com", "web.example.com"));
        assert!(!dns_name_matches("*", "localhost"));
    }
}
