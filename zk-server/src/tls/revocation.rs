//! Revocation checking as Apache switches it on with `ssl.crl` / `ssl.ocsp`
//! (`ssl.quorum.crl` / `ssl.quorum.ocsp` on the quorum). Apache's `X509Util`
//! then turns on Java's PKIX revocation checking with `com.sun.security.enableCRLDP`
//! (CRLs fetched from each certificate's CRL distribution points) and, for
//! `ocsp`, `ocsp.enable` (the responder of each certificate's Authority
//! Information Access first, the CRLs when it gives no answer). A certificate whose
//! status cannot be found is refused, as Java refuses it.
//!
//! Here the chain is first verified by rustls in the handshake; then, before the
//! connection is served, [`Revocation::check`] finds the status of every
//! certificate of the peer's chain (leaf and intermediates; not the trust anchor):
//! OCSP when on, else (or when OCSP gave no answer) the CRLs of the chain,
//! fetched over `http://` with a timeout, cached for 30 s (Java's `URICertStore`
//! looks again after 30 s) and never past their nextUpdate, and checked by
//! webpki (signature, issuer, scope, expiry). A revoked or unknown certificate
//! closes the connection with a log line naming it.
//!
//! It owns the fetching, the cache and the decision; OCSP's bytes are
//! [`super::ocsp`]'s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};

use super::ocsp;

/// Java's CRL and OCSP connect and read timeouts are 15 s each
/// (`com.sun.security.crl.timeout`, `com.sun.security.ocsp.timeout`); one bound
/// for the whole exchange here, shorter than a handshake's 10 s plus slack.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a fetched CRL is used before it is fetched again (Java's
/// `URICertStore.CHECK_INTERVAL`), unless its nextUpdate comes first.
pub const CRL_RECHECK: Duration = Duration::from_secs(30);
/// The largest CRL or OCSP response read.
const MAX_BODY: usize = 16 << 20;

/// Which side of a handshake the peer was: its certificate is a client's or a server's
/// (webpki checks the extended key usage for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Client,
    Server,
}

struct CachedCrl {
    der: Vec<u8>,
    fetched: Instant,
    next_update: Option<SystemTime>,
}

/// `<prefix>crl` / `<prefix>ocsp` and the CRLs fetched so far.
pub struct Revocation {
    pub crl: bool,
    pub ocsp: bool,
    cache: Mutex<HashMap<String, CachedCrl>>,
}

impl std::fmt::Debug for Revocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocation")
            .field("crl", &self.crl)
            .field("ocsp", &self.ocsp)
            .finish()
    }
}

impl Revocation {
    /// `None` when both are off (Apache: `setRevocationEnabled(false)`).
    pub fn new(crl: bool, ocsp: bool) -> Option<Arc<Revocation>> {
        (crl || ocsp).then(|| {
            Arc::new(Revocation {
                crl,
                ocsp,
                cache: Mutex::new(HashMap::new()),
            })
        })
    }

    /// Find the status of every certificate of `chain` (leaf first, as the peer sent
    /// it) that rustls verified against `roots`. `Err` says which one failed and why.
    pub async fn check(
        &self,
        chain: &[CertificateDer<'static>],
        trust: &Trust,
        peer: Peer,
    ) -> Result<(), String> {
        let Some(leaf) = chain.first() else {
            return Ok(());
        };
        let path = issuer_path(chain, &trust.certs);
        let (roots, provider) = (&trust.roots, &trust.provider);
        // Certificates an OCSP responder vouched for need no CRL.
        let mut vouched = vec![false; path.len()];
        if self.ocsp {
            for (i, (cert, issuer)) in path.iter().enumerate() {
                match self.ocsp_status(cert, issuer).await {
                    Ok(ocsp::Status::Good) => vouched[i] = true,
                    Ok(ocsp::Status::Revoked(reason)) => {
                        return Err(format!(
                            "certificate {} revoked (OCSP{})",
                            describe(cert),
                            reason.map(reason_name).unwrap_or_default()
                        ))
                    }
                    Ok(ocsp::Status::Unknown) => {
                        tracing::info!("OCSP: status of {} unknown; trying CRLs", describe(cert))
                    }
                    Err(e) => {
                        tracing::info!("OCSP: no answer for {}: {e}; trying CRLs", describe(cert))
                    }
                }
            }
            if !path.is_empty() && vouched.iter().all(|v| *v) {
                return Ok(());
            }
        }
        // CRLs: as Java with com.sun.security.enableCRLDP, each certificate's own
        // distribution points; one that names none (or whose CRLs cannot be fetched)
        // has no status to be found, and is refused.
        let mut crls = Vec::new();
        let needing: Vec<&[u8]> = if path.is_empty() {
            vec![&leaf[..]]
        } else {
            path.iter()
                .zip(&vouched)
                .filter(|(_, v)| !**v)
                .map(|((c, _), _)| &c[..])
                .collect()
        };
        for cert in needing {
            let urls = crl_urls(cert);
            if urls.is_empty() {
                return Err(format!(
                    "could not determine the revocation status of {}: it names no CRL distribution point{}",
                    describe(cert),
                    if self.ocsp { " and no OCSP responder answered" } else { "" }
                ));
            }
            let mut errors = Vec::new();
            let before = crls.len();
            for url in urls {
                match self.crl(&url).await {
                    Ok(der) => crls.push(CertificateRevocationListDer::from(der)),
                    Err(e) => errors.push(format!("{url}: {e}")),
                }
            }
            if crls.len() == before {
                return Err(format!(
                    "could not determine the revocation status of {}: {}",
                    describe(cert),
                    errors.join("; ")
                ));
            }
        }
        let some_vouched = vouched.iter().any(|v| *v);
        let now = UnixTime::now();
        let result = match peer {
            Peer::Client => {
                let mut b =
                    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                        .with_crls(crls)
                        .enforce_revocation_expiration();
                if some_vouched {
                    b = b.allow_unknown_revocation_status();
                }
                let v = b.build().map_err(|e| format!("bad CRL: {e}"))?;
                v.verify_client_cert(leaf, &chain[1..], now).map(|_| ())
            }
            Peer::Server => {
                let mut b =
                    WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
                        .with_crls(crls)
                        .enforce_revocation_expiration();
                if some_vouched {
                    b = b.allow_unknown_revocation_status();
                }
                let v = b.build().map_err(|e| format!("bad CRL: {e}"))?;
                // Any name: the chain and its revocation are checked before the name.
                let name = ServerName::IpAddress(std::net::Ipv4Addr::UNSPECIFIED.into());
                match v.verify_server_cert(leaf, &chain[1..], &name, &[], now) {
                    Err(rustls::Error::InvalidCertificate(
                        CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. },
                    )) => Ok(()),
                    r => r.map(|_| ()),
                }
            }
        };
        match result {
            Ok(()) => Ok(()),
            Err(rustls::Error::InvalidCertificate(CertificateError::Revoked)) => {
                Err(format!("certificate {} revoked (CRL)", describe(leaf)))
            }
            Err(rustls::Error::InvalidCertificate(CertificateError::UnknownRevocationStatus)) => {
                Err(format!(
                    "could not determine the revocation status of {}: no CRL of its \
                 distribution points covers it",
                    describe(leaf)
                ))
            }
            Err(rustls::Error::InvalidCertificate(CertificateError::ExpiredRevocationList)) => Err(
                format!("the CRL for {} is past its nextUpdate", describe(leaf)),
            ),
            Err(e) => Err(format!("revocation check of {}: {e}", describe(leaf))),
        }
    }

    async fn ocsp_status(&self, cert: &[u8], issuer: &[u8]) -> Result<ocsp::Status, String> {
        let url = ocsp_url(cert).ok_or("no OCSP responder in the certificate")?;
        let id = ocsp::CertId::new(cert, issuer)?;
        let body = http(
            &url,
            Some(("application/ocsp-request", &ocsp::request(&id))),
        )
        .await
        .map_err(|e| format!("{url}: {e}"))?;
        ocsp::parse_response(&body, &id, issuer, SystemTime::now())
            .map_err(|e| format!("{url}: {e}"))
    }

    /// The CRL at `url`, from the cache while it is fresh.
    async fn crl(&self, url: &str) -> Result<Vec<u8>, String> {
        {
            let cache = self.cache.lock().unwrap();
            if let Some(c) = cache.get(url) {
                let stale = c.next_update.is_some_and(|n| n < SystemTime::now());
                if c.fetched.elapsed() < CRL_RECHECK && !stale {
                    return Ok(c.der.clone());
                }
            }
        }
        let body = http(url, None).await?;
        // A PEM CRL is accepted too, as Java's CertificateFactory accepts it.
        let der = match std::str::from_utf8(&body) {
            Ok(text) if text.contains("-----BEGIN X509 CRL-----") => pem_body(text)?,
            _ => body,
        };
        let (_, crl) = x509_parser::parse_x509_crl(&der).map_err(|e| format!("not a CRL: {e}"))?;
        let next_update = crl.next_update().and_then(|t| {
            u64::try_from(t.timestamp())
                .ok()
                .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
        });
        tracing::info!(
            "fetched the CRL {url} ({} revoked)",
            crl.iter_revoked_certificates().count()
        );
        self.cache.lock().unwrap().insert(
            url.to_owned(),
            CachedCrl {
                der: der.clone(),
                fetched: Instant::now(),
                next_update,
            },
        );
        Ok(der)
    }
}

fn pem_body(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let start = text.find("-----BEGIN X509 CRL-----").unwrap() + 24;
    let end = text[start..]
        .find("-----END X509 CRL-----")
        .ok_or("PEM CRL without its END line")?;
    let b64: String = text[start..start + end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("PEM CRL: {e}"))
}

/// Each certificate of the chain but the anchor, with its issuer: the next one of
/// the chain, or the trusted certificate of its issuer's name.
fn issuer_path(
    chain: &[CertificateDer<'static>],
    trusted: &[CertificateDer<'static>],
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let subject_is = |c: &[u8], name: &[u8]| {
        x509_parser::parse_x509_certificate(c)
            .is_ok_and(|(_, c)| c.tbs_certificate.subject.as_raw() == name)
    };
    let mut out = Vec::new();
    for (i, c) in chain.iter().enumerate() {
        let Ok((_, x)) = x509_parser::parse_x509_certificate(c) else {
            break;
        };
        let issuer_name = x.tbs_certificate.issuer.as_raw();
        if issuer_name == x.tbs_certificate.subject.as_raw() {
            break; // self-signed: an anchor the peer sent along
        }
        if let Some(n) = chain.get(i + 1).filter(|n| subject_is(n, issuer_name)) {
            out.push((c.to_vec(), n.to_vec()));
            continue;
        }
        if let Some(a) = trusted.iter().find(|a| subject_is(a, issuer_name)) {
            out.push((c.to_vec(), a.to_vec()));
        }
        break;
    }
    out
}

/// What a peer's chain is verified against: the trust store's certificates, as
/// roots for webpki and as themselves (an OCSP request names its issuer's key).
pub struct Trust {
    pub roots: Arc<RootCertStore>,
    pub certs: Vec<CertificateDer<'static>>,
    pub provider: Arc<CryptoProvider>,
}

fn describe(cert: &[u8]) -> String {
    match x509_parser::parse_x509_certificate(cert) {
        Ok((_, x)) => format!(
            "'{}' (serial {})",
            super::dn::subject_rfc2253(cert).unwrap_or_else(|_| x.subject().to_string()),
            x.raw_serial_as_string()
        ),
        Err(_) => "(unparsable certificate)".into(),
    }
}

/// RFC 5280's CRLReason names, as Java prints them.
fn reason_name(code: u8) -> String {
    let n = match code {
        0 => "UNSPECIFIED",
        1 => "KEY_COMPROMISE",
        2 => "CA_COMPROMISE",
        3 => "AFFILIATION_CHANGED",
        4 => "SUPERSEDED",
        5 => "CESSATION_OF_OPERATION",
        6 => "CERTIFICATE_HOLD",
        8 => "REMOVE_FROM_CRL",
        9 => "PRIVILEGE_WITHDRAWN",
        10 => "AA_COMPROMISE",
        _ => "UNKNOWN",
    };
    format!(", reason: {n}")
}

/// The http:// URLs of a certificate's CRL distribution points.
pub fn crl_urls(cert: &[u8]) -> Vec<String> {
    let Ok((_, x)) = x509_parser::parse_x509_certificate(cert) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in x.extensions() {
        if let ParsedExtension::CRLDistributionPoints(points) = e.parsed_extension() {
            for p in points.iter() {
                if let Some(DistributionPointName::FullName(names)) = &p.distribution_point {
                    for n in names {
                        if let GeneralName::URI(u) = n {
                            if u.starts_with("http://") {
                                out.push((*u).to_owned());
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// The http:// URL of a certificate's OCSP responder (Authority Information Access).
pub fn ocsp_url(cert: &[u8]) -> Option<String> {
    let (_, x) = x509_parser::parse_x509_certificate(cert).ok()?;
    for e in x.extensions() {
        if let ParsedExtension::AuthorityInfoAccess(aia) = e.parsed_extension() {
            for d in aia.iter() {
                if d.access_method == x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_OCSP {
                    if let GeneralName::URI(u) = d.access_location {
                        if u.starts_with("http://") {
                            return Some(u.to_owned());
                        }
                    }
                }
            }
        }
    }
    None
}

/// One HTTP/1.0 exchange: GET, or POST of `body` with its content type; the
/// response's body when the status is 200. Bounded by [`FETCH_TIMEOUT`] and
/// [`MAX_BODY`].
pub async fn http(url: &str, body: Option<(&str, &[u8])>) -> Result<Vec<u8>, String> {
    tokio::time::timeout(FETCH_TIMEOUT, http_inner(url, body))
        .await
        .map_err(|_| format!("no answer in {FETCH_TIMEOUT:?}"))?
}

async fn http_inner(url: &str, body: Option<(&str, &[u8])>) -> Result<Vec<u8>, String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let hostport = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let mut s = tokio::net::TcpStream::connect(&hostport)
        .await
        .map_err(|e| format!("cannot connect to {hostport}: {e}"))?;
    let mut req = match body {
        None => format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n")
            .into_bytes(),
        Some((ty, b)) => {
            let mut r = format!(
                "POST {path} HTTP/1.0\r\nHost: {authority}\r\nContent-Type: {ty}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                b.len()
            )
            .into_bytes();
            r.extend_from_slice(b);
            r
        }
    };
    s.write_all(&req).await.map_err(|e| e.to_string())?;
    req.clear();
    let mut resp = Vec::new();
    (&mut s)
        .take(MAX_BODY as u64 + 64 * 1024)
        .read_to_end(&mut resp)
        .await
        .map_err(|e| e.to_string())?;
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no HTTP response header")?;
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("HTTP status {status:?}"));
    }
    let mut b = resp.split_off(split + 4);
    if let Some(len) = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    }) {
        if b.len() < len {
            return Err("HTTP body shorter than its Content-Length".into());
        }
        b.truncate(len);
    }
    if b.len() > MAX_BODY {
        return Err("HTTP body too large".into());
    }
    Ok(b)
}
