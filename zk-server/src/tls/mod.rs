//! TLS as Apache ZooKeeper configures it: the `ssl.*` system properties
//! (`zookeeper.ssl.*` for the client port; the quorum's `zookeeper.ssl.quorum.*`
//! reads through the same [`TlsSettings::from_props`] with its own prefix), the key
//! and trust stores ([`stores`]: PEM, PKCS12, [`jks`]), the client certificate
//! verifier, reloading the stores when their files change, and the x509
//! identity of a verified client ([`dn`]).
//!
//! It owns the rustls configuration and the handshake; the client port
//! (`net`) owns the sockets, and the core only sees the ids a connection
//! carries (`x509:<DN>`, `super:<DN>`).

pub mod dn;
pub mod ec_key;
pub mod jks;
pub mod ocsp;
pub mod quorum;
pub mod reverse_dns;
pub mod revocation;
pub mod stores;
pub mod throttle;

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};
use tokio::io::{AsyncRead, AsyncWrite};
use zab_core::records::Id;

use crate::config::Config;
use stores::StoreType;

/// The class name Apache registers the x509 scheme with
/// (`authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider`).
pub const X509_PROVIDER_CLASS: &str = "org.apache.zookeeper.server.auth.X509AuthenticationProvider";

/// Netty's SslHandler gives a handshake this long (its default), as Apache's server does.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `ssl.clientAuth`: whether the server asks for a client certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// Ask and require one (Apache's default).
    Need,
    /// Ask; a client without one is served without an x509 id.
    Want,
    /// Do not ask.
    None,
}

/// A store named by `<prefix>keyStore.*` or `<prefix>trustStore.*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreSpec {
    pub location: String,
    pub password: String,
    pub ty: StoreType,
}

/// Everything one prefix of `ssl.*` properties says.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    pub prefix: String,
    pub key_store: Option<StoreSpec>,
    pub trust_store: Option<StoreSpec>,
    pub client_auth: ClientAuth,
    pub versions: Vec<&'static SupportedProtocolVersion>,
    pub suites: Vec<SupportedCipherSuite>,
    /// `<prefix>hostnameVerification` (default true). Apache's server checks a
    /// client's host name only on the quorum ports (`QuorumX509Util`); on the
    /// client port it is read and has no effect there, as in Apache.
    pub hostname_verification: bool,
    /// `<prefix>crl` (default false): check the peer's chain against the CRLs its
    /// certificates name ([`revocation`]).
    pub crl: bool,
    /// `<prefix>ocsp` (default false): ask the OCSP responders first.
    pub ocsp: bool,
}

/// The names of the properties read under `prefix` (for `Config`'s READ_PROPS).
pub const PROP_SUFFIXES: &[&str] = &[
    "keyStore.location",
    "keyStore.password",
    "keyStore.passwordPath",
    "keyStore.type",
    "trustStore.location",
    "trustStore.password",
    "trustStore.passwordPath",
    "trustStore.type",
    "clientAuth",
    "protocol",
    "enabledProtocols",
    "ciphersuites",
    "hostnameVerification",
    "crl",
    "ocsp",
];

/// rustls over ring. rustls 0.23.48 deprecates ring's provider because it offers
/// no post-quantum key exchange; Java 17's TLS offers none either, and
/// aws-lc-rs (the alternative) needs cmake and nasm to build.
#[allow(deprecated)]
fn ring_provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Java's name of a suite rustls knows: TLS 1.3 suites are `TLS_AES_...` in Java.
fn java_name(s: &SupportedCipherSuite) -> Option<String> {
    let n = s.suite().as_str()?;
    Some(match n.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => n.to_owned(),
    })
}

/// Apache's default suites (X509Util, 3.9: GCM, CBC, then TLS 1.3) that rustls has:
/// rustls has no CBC suites.
const DEFAULT_SUITES: &[&str] = &[
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_AES_256_GCM_SHA384",
    "TLS_AES_128_GCM_SHA256",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Map Java suite names to rustls's. A name Java knows that rustls lacks (the CBC
/// and RSA key exchange suites) is skipped with a warning; anything that is no
/// suite name at all is an error, as Java's `setEnabledCipherSuites` refuses it.
pub fn cipher_suites(names: &[&str], prop: &str) -> Result<Vec<SupportedCipherSuite>, String> {
    let all = ring_provider().cipher_suites;
    let mut out = Vec::new();
    for name in names {
        if let Some(s) = all.iter().find(|s| java_name(s).as_deref() == Some(name)) {
            out.push(*s);
        } else if (name.starts_with("TLS_") || name.starts_with("SSL_"))
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            tracing::warn!("{prop}: cipher suite {name} is not supported here; skipped");
        } else {
            return Err(format!("{prop}: unknown cipher suite {name:?}"));
        }
    }
    if out.is_empty() {
        let have: Vec<String> = all.iter().filter_map(java_name).collect();
        return Err(format!(
            "{prop}: none of the cipher suites is supported; supported are {}",
            have.join(",")
        ));
    }
    Ok(out)
}

fn protocol_version(name: &str) -> Option<&'static SupportedProtocolVersion> {
    match name {
        "TLSv1.3" => Some(&rustls::version::TLS13),
        "TLSv1.2" => Some(&rustls::version::TLS12),
        _ => None,
    }
}

impl TlsSettings {
    /// Read the settings under `prefix` (`zookeeper.ssl.` or `zookeeper.ssl.quorum.`).
    pub fn from_props(cfg: &Config, prefix: &str) -> Result<TlsSettings, String> {
        let name = |s: &str| format!("{prefix}{s}");
        let get = |s: &str| cfg.prop(&name(s)).map(str::trim).filter(|v| !v.is_empty());
        let password = |s: &str, path: &str| -> Result<String, String> {
            match get(path) {
                Some(p) => std::fs::read_to_string(p)
                    .map(|v| v.trim_end_matches(['\r', '\n']).to_owned())
                    .map_err(|e| format!("{}: cannot read {p}: {e}", name(path))),
                None => Ok(cfg.prop(&name(s)).unwrap_or("").to_owned()),
            }
        };
        let store = |what: &str| -> Result<Option<StoreSpec>, String> {
            let Some(location) = get(&format!("{what}.location")) else {
                return Ok(None);
            };
            let ty = StoreType::resolve(get(&format!("{what}.type")), location)
                .map_err(|e| format!("{}: {e}", name(&format!("{what}.type"))))?;
            Ok(Some(StoreSpec {
                location: location.to_owned(),
                password: password(&format!("{what}.password"), &format!("{what}.passwordPath"))?,
                ty,
            }))
        };
        let client_auth = match get("clientAuth").map(str::to_ascii_uppercase).as_deref() {
            None | Some("NEED") => ClientAuth::Need,
            Some("WANT") => ClientAuth::Want,
            Some("NONE") => ClientAuth::None,
            Some(o) => {
                return Err(format!(
                    "{}: {o:?} is not need, want or none",
                    name("clientAuth")
                ))
            }
        };
        // Java's SSLContext protocol and the protocols it enables by default.
        let versions = match get("enabledProtocols") {
            None => match get("protocol").unwrap_or("TLSv1.3") {
                "TLSv1.3" | "TLS" => vec![&rustls::version::TLS13, &rustls::version::TLS12],
                "TLSv1.2" => vec![&rustls::version::TLS12],
                p => {
                    return Err(format!(
                        "{}: {p:?} is not supported (TLSv1.3, TLSv1.2 or TLS)",
                        name("protocol")
                    ))
                }
            },
            Some(list) => {
                let mut v = Vec::new();
                for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    match protocol_version(p) {
                        Some(x) => v.push(x),
                        None if matches!(p, "TLSv1" | "TLSv1.1" | "SSLv3" | "SSLv2Hello") => {
                            tracing::warn!(
                                "{}: {p} is not supported here (too old); skipped",
                                name("enabledProtocols")
                            )
                        }
                        None => {
                            return Err(format!(
                                "{}: unknown protocol {p:?}",
                                name("enabledProtocols")
                            ))
                        }
                    }
                }
                if v.is_empty() {
                    return Err(format!(
                        "{}: no supported protocol (TLSv1.3, TLSv1.2)",
                        name("enabledProtocols")
                    ));
                }
                v
            }
        };
        let suites = match get("ciphersuites") {
            None => cipher_suites(DEFAULT_SUITES, &name("ciphersuites"))?,
            Some(list) => {
                let names: Vec<&str> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                cipher_suites(&names, &name("ciphersuites"))?
            }
        };
        let hostname_verification = match get("hostnameVerification") {
            None => true,
            Some(v) => v.eq_ignore_ascii_case("true"),
        };
        // Java's Boolean.parseBoolean, as ZKConfig.getBoolean reads them.
        let flag = |s: &str| get(s).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        Ok(TlsSettings {
            crl: flag("crl"),
            ocsp: flag("ocsp"),
            prefix: prefix.to_owned(),
            key_store: store("keyStore")?,
            trust_store: store("trustStore")?,
            client_auth,
            versions,
            suites,
            hostname_verification,
        })
    }

    /// A rustls server configuration from the stores as they are now on disk.
    pub fn server_config(&self) -> Result<ServerConfig, String> {
        let ks = self
            .key_store
            .as_ref()
            .ok_or_else(|| format!("{}keyStore.location is not set", self.prefix))?;
        let key = stores::load_key_store(&ks.location, &ks.password, ks.ty)?;
        let provider = Arc::new(CryptoProvider {
            cipher_suites: self.suites.clone(),
            ..ring_provider()
        });
        let verifier = match self.client_auth {
            ClientAuth::None => WebPkiClientVerifier::no_client_auth(),
            auth => {
                let ts = self.trust_store.as_ref().ok_or_else(|| {
                    format!(
                        "{}trustStore.location is not set: it is needed to verify client certificates ({}clientAuth=none asks for none)",
                        self.prefix, self.prefix
                    )
                })?;
                let (roots, _) = load_roots(ts)?;
                let b = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
                let b = if auth == ClientAuth::Want {
                    b.allow_unauthenticated()
                } else {
                    b
                };
                b.build().map_err(|e| format!("{}: {e}", ts.location))?
            }
        };
        ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&self.versions)
            .map_err(|e| format!("{}protocol: {e}", self.prefix))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(key.chain, key.key)
            .map_err(|e| format!("{}: key and certificate do not fit: {e}", ks.location))
    }

    /// The trust store as revocation checks need it; `None` without one or when
    /// neither `crl` nor `ocsp` is on.
    pub fn trust(&self) -> Result<Option<Arc<revocation::Trust>>, String> {
        let Some(ts) = self.trust_store.as_ref().filter(|_| self.crl || self.ocsp) else {
            return Ok(None);
        };
        let (roots, certs) = load_roots(ts)?;
        Ok(Some(Arc::new(revocation::Trust {
            roots,
            certs,
            provider: Arc::new(CryptoProvider {
                cipher_suites: self.suites.clone(),
                ..ring_provider()
            }),
        })))
    }

    /// What identifies the store files' contents now (for reloading).
    fn stamps(&self) -> Vec<Option<(SystemTime, u64)>> {
        [&self.key_store, &self.trust_store]
            .iter()
            .map(|s| {
                let m = std::fs::metadata(&s.as_ref()?.location).ok()?;
                Some((m.modified().ok()?, m.len()))
            })
            .collect()
    }
}

/// The trusted certificates of a trust store, and webpki's roots made of them.
#[allow(clippy::type_complexity)]
fn load_roots(
    ts: &StoreSpec,
) -> Result<
    (
        Arc<RootCertStore>,
        Vec<rustls_pki_types::CertificateDer<'static>>,
    ),
    String,
> {
    let certs = stores::load_trust_store(&ts.location, &ts.password, ts.ty)?;
    let mut roots = RootCertStore::empty();
    for c in &certs {
        roots
            .add(c.clone())
            .map_err(|e| format!("{}: bad trusted certificate: {e}", ts.location))?;
    }
    Ok((Arc::new(roots), certs))
}

/// How a verified client certificate becomes an identity (Apache's
/// `X509AuthenticationProvider` as `NettyServerCnxnFactory` calls it).
#[derive(Clone, Debug, Default)]
pub struct X509Auth {
    /// `zookeeper.ssl.authProvider` (default `x509`): the scheme whose provider
    /// authenticates a TLS client.
    pub scheme: String,
    /// `zookeeper.X509AuthenticationProvider.superUser`.
    pub super_user: Option<String>,
}

impl X509Auth {
    /// As Apache's `QuorumPeerConfig.configureSSLAuth`, run whenever a TLS client
    /// port is configured: the scheme `ssl.authProvider` names (default `x509`)
    /// needs `zookeeper.authProvider.<scheme>`, which for `x509` defaults to Apache's
    /// X509AuthenticationProvider. Other provider classes cannot be loaded here.
    pub fn from_config(cfg: &Config) -> Result<X509Auth, String> {
        let scheme = cfg
            .prop("zookeeper.ssl.authProvider")
            .unwrap_or("x509")
            .trim()
            .to_owned();
        let class = cfg
            .system_props
            .get(&format!("zookeeper.authProvider.{scheme}"))
            .map(|c| c.trim());
        match class {
            None if scheme == "x509" => {}
            Some(X509_PROVIDER_CLASS) if scheme == "x509" => {}
            None => {
                return Err(format!(
                    "No auth provider configured for the SSL authentication scheme '{scheme}'"
                ))
            }
            Some(c) => {
                return Err(format!(
                    "zookeeper.authProvider.{scheme}={c}: only {X509_PROVIDER_CLASS} authenticates TLS clients here"
                ))
            }
        }
        Ok(X509Auth {
            scheme,
            super_user: cfg
                .prop("zookeeper.X509AuthenticationProvider.superUser")
                .map(str::to_owned),
        })
    }

    /// The ids of a client with this verified chain (leaf first).
    pub fn ids(&self, chain: &[rustls_pki_types::CertificateDer<'_>]) -> Result<Vec<Id>, String> {
        let leaf = chain.first().ok_or("no client certificate")?;
        let dn = dn::subject_rfc2253(leaf)?;
        let mut ids = Vec::new();
        if self.super_user.as_deref() == Some(dn.as_str()) {
            tracing::info!("Authenticated Id '{dn}' as super user");
            ids.push(Id::new("super", &dn));
        }
        tracing::info!("Authenticated Id '{dn}' for Scheme 'x509'");
        ids.push(Id::new("x509", &dn));
        Ok(ids)
    }
}

/// The TLS side of the client port: the current configuration (replaced when the
/// stores are reloaded) and how verified clients are identified.
pub struct ServerTls {
    settings: TlsSettings,
    current: RwLock<Arc<ServerConfig>>,
    x509: X509Auth,
    stamps: std::sync::Mutex<Vec<Option<(SystemTime, u64)>>>,
    /// `ssl.crl` / `ssl.ocsp`: checked after the handshake, before the client is served.
    revocation: Option<Arc<revocation::Revocation>>,
    /// The trust store for those checks, replaced with the configuration.
    trust: RwLock<Option<Arc<revocation::Trust>>>,
}

impl ServerTls {
    /// The client port's TLS from `zookeeper.ssl.*`, or `None` when no key store is
    /// configured (then there is nothing to serve TLS with).
    pub fn client_from_config(cfg: &Config) -> Result<Option<Arc<ServerTls>>, String> {
        let settings = TlsSettings::from_props(cfg, "zookeeper.ssl.")?;
        if settings.key_store.is_none() {
            return Ok(None);
        }
        let stamps = settings.stamps();
        let sc = settings.server_config()?;
        let revocation = revocation::Revocation::new(settings.crl, settings.ocsp);
        if let Some(r) = &revocation {
            tracing::info!(
                "client TLS: revocation checking on (ssl.crl={}, ssl.ocsp={})",
                r.crl,
                r.ocsp
            );
        }
        Ok(Some(Arc::new(ServerTls {
            trust: RwLock::new(settings.trust()?),
            revocation,
            x509: X509Auth::from_config(cfg)?,
            settings,
            current: RwLock::new(Arc::new(sc)),
            stamps: std::sync::Mutex::new(stamps),
        })))
    }

    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// The configuration new handshakes use.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.current.read().unwrap().clone()
    }

    /// Re-read the stores if their files changed. On an error the previous
    /// configuration stays, and the error is returned to be logged.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let now = self.settings.stamps();
        {
            let mut s = self.stamps.lock().unwrap();
            if *s == now {
                return Ok(false);
            }
            *s = now;
        }
        let sc = self.settings.server_config()?;
        let trust = self.settings.trust()?;
        *self.current.write().unwrap() = Arc::new(sc);
        *self.trust.write().unwrap() = trust;
        Ok(true)
    }

    /// Watch the store files and reload them when they change (Apache 3.9's
    /// `zookeeper.client.certReload`, there with a FileChangeWatcher on their
    /// directories; here their modification time and size, checked each `every`).
    pub fn spawn_reloader(self: &Arc<Self>, every: Duration) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(me) = me.upgrade() else { return };
                match me.reload_if_changed() {
                    Ok(true) => tracing::info!(
                        "reloaded the TLS key and trust stores ({}keyStore / trustStore)",
                        me.settings.prefix
                    ),
                    Ok(false) => {}
                    Err(e) => tracing::error!(
                        "cannot reload the TLS stores, keeping the previous ones: {e}"
                    ),
                }
            }
        });
    }

    /// Handshake with a client and find its ids. Errors say why, for the log line
    /// that closes the connection.
    pub async fn accept<S>(
        &self,
        stream: S,
    ) -> Result<(tokio_rustls::server::TlsStream<S>, Vec<Id>), String>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.config());
        let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Err(_) => {
                return Err(format!(
                    "TLS handshake not finished in {HANDSHAKE_TIMEOUT:?}"
                ))
            }
            Ok(Err(e)) => return Err(format!("TLS handshake failed: {e}")),
            Ok(Ok(s)) => s,
        };
        if let (Some(r), Some(chain)) = (&self.revocation, tls.get_ref().1.peer_certificates()) {
            let trust = self.trust.read().unwrap().clone();
            if let Some(trust) = trust {
                let chain: Vec<_> = chain.iter().map(|c| c.clone().into_owned()).collect();
                r.check(&chain, &trust, revocation::Peer::Client)
                    .await
                    .map_err(|e| format!("TLS handshake failed: {e}"))?;
            }
        }
        let ids = match (
            self.settings.client_auth,
            tls.get_ref().1.peer_certificates(),
        ) {
            (ClientAuth::None, _) => Vec::new(),
            (_, Some(chain)) if !chain.is_empty() => self.x509.ids(chain)?,
            // rustls refused a missing certificate when one is needed.
            _ => Vec::new(),
        };
        Ok((tls, ids))
    }
}

/// What the first bytes of a connection on a port that serves both TLS and plain
/// clients (`client.portUnification`) say, as Netty's OptionalSslHandler in
/// Apache's DualModeSslHandler decides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sniff {
    Tls,
    Plain,
    /// Fewer than 5 bytes that may still begin a TLS record.
    NeedMore,
}

/// Netty reads a TLS (or SSLv2) record header from 5 bytes; with fewer, anything
/// but a handshake record's first byte (22) is plain (a four-letter word).
pub fn sniff(b: &[u8]) -> Sniff {
    const HANDSHAKE: u8 = 22;
    if b.is_empty() {
        return Sniff::NeedMore;
    }
    if b.len() < 5 {
        return if b[0] == HANDSHAKE {
            Sniff::NeedMore
        } else {
            Sniff::Plain
        };
    }
    // SslUtils.getEncryptedPacketLength: an SSLv3/TLS record header ...
    if (20..=23).contains(&b[0]) && (b[1] == 3 || (b[1] == 1 && b[2] == 1)) {
        let len = u16::from_be_bytes([b[3], b[4]]) as usize + 5;
        if len > 5 {
            return Sniff::Tls;
        }
    }
    // ... or an SSLv2 one (which the handshake then refuses).
    let header = if b[0] & 0x80 != 0 { 2 } else { 3 };
    if matches!(b[header + 1], 2 | 3) {
        return Sniff::Tls;
    }
    Sniff::Plain
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    #[test]
    fn sniffing_as_netty() {
        // A ClientHello record header.
        assert_eq!(sniff(&[22, 3, 1, 0, 200]), Sniff::Tls);
        assert_eq!(sniff(&[22, 3]), Sniff::NeedMore);
        assert_eq!(sniff(b"ruok"), Sniff::Plain);
        assert_eq!(sniff(b"srvr"), Sniff::Plain);
        // A ConnectRequest's length then protocol version 0.
        assert_eq!(sniff(&[0, 0, 0, 45, 0, 0, 0, 0]), Sniff::Plain);
        assert_eq!(sniff(&[]), Sniff::NeedMore);
    }

    #[test]
    fn revocation_settings_from_zoo_cfg_and_jvm_flags() {
        let base = "tickTime=2000\ndataDir=/tmp/x\nclientPort=2181\n";
        let cfg =
            Config::parse(&format!("{base}ssl.crl=true\nssl.quorum.ocsp=TRUE\n"), "z").unwrap();
        let client = TlsSettings::from_props(&cfg, "zookeeper.ssl.").unwrap();
        assert!(client.crl && !client.ocsp);
        let quorum = TlsSettings::from_props(&cfg, quorum::PREFIX).unwrap();
        assert!(!quorum.crl && quorum.ocsp);
        let flags = config::jvm_system_props("-Dzookeeper.ssl.ocsp=true -Dzookeeper.ssl.crl=false");
        let cfg = Config::parse_with_jvm_flags(base, "z", &flags).unwrap();
        let client = TlsSettings::from_props(&cfg, "zookeeper.ssl.").unwrap();
        assert!(client.ocsp && !client.crl);
    }

    #[test]
    fn java_suite_names_map_and_unknown_ones_are_refused() {
        let s = cipher_suites(
            &[
                "TLS_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            ],
            "p",
        )
        .unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(java_name(&s[0]).unwrap(), "TLS_AES_128_GCM_SHA256");
        assert!(cipher_suites(&["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"], "p").is_err());
        assert!(cipher_suites(&["bogus suite"], "p")
            .unwrap_err()
            .contains("unknown cipher suite"));
        assert_eq!(cipher_suites(DEFAULT_SUITES, "p").unwrap().len(), 7);
    }
}
