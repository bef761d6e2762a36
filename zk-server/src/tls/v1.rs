//! X.509 v1 client certificates, which Java's TLS accepts and webpki does not parse
//! (`UnsupportedCertVersion`). kazoo's own test harness, for one, makes its client
//! certificate a v1 certificate signed by its CA. [`V1ClientVerifier`] wraps the
//! webpki verifier and, only when webpki refuses a certificate for its version,
//! checks a v1 end-entity certificate itself:
//!
//! - it is within its validity period;
//! - its issuer is a certificate of the trust store (by the issuer's encoded name),
//!   which is a v1 certificate or says `CA:TRUE`; no intermediates;
//! - the issuer's key verifies its signature, with the provider's algorithms
//!   (the same `SignatureVerificationAlgorithm`s webpki uses).
//!
//! The handshake signature of such a certificate is checked with its public key
//! under TLS 1.3 (rustls' raw-key check); TLS 1.2 with a v1 certificate is refused.
//!
//! ```text
//! Certificate ::= SEQUENCE { tbsCertificate TBSCertificate,     ; signed, as encoded
//!                            signatureAlgorithm AlgorithmIdentifier,
//!                            signatureValue BIT STRING }
//! SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier,
//!                                     subjectPublicKey BIT STRING }
//! ```

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use x509_parser::prelude::{FromDer, X509Certificate, X509Version};

/// Whether webpki refused a certificate for its version.
pub fn is_unsupported_version(e: &Error) -> bool {
    matches!(e, Error::InvalidCertificate(CertificateError::Other(o))
        if format!("{o:?}").contains("UnsupportedCertVersion"))
}

/// One DER element off the front of `b`: (tag, contents, the rest).
fn tlv(b: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let bad = || "malformed DER".to_string();
    let (&tag, rest) = b.split_first().ok_or_else(bad)?;
    let (&first, rest) = rest.split_first().ok_or_else(bad)?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return Err(bad());
        }
        let len = rest[..n].iter().fold(0usize, |a, &x| (a << 8) | x as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(bad());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// A BIT STRING's bits, which must fill whole bytes.
fn bits(contents: &[u8]) -> Result<&[u8], String> {
    match contents.split_first() {
        Some((0, b)) => Ok(b),
        _ => Err("a BIT STRING with unused bits".into()),
    }
}

/// The signed TBSCertificate as encoded, the signature's AlgorithmIdentifier
/// contents, the signature.
type SignedParts<'a> = (&'a [u8], &'a [u8], &'a [u8]);

fn signed_parts(cert: &[u8]) -> Result<SignedParts<'_>, String> {
    let (_, outer, _) = tlv(cert)?;
    let (_, _, after_tbs) = tlv(outer)?;
    let tbs = &outer[..outer.len() - after_tbs.len()];
    let (_, alg, rest) = tlv(after_tbs)?;
    let (_, sig, _) = tlv(rest)?;
    Ok((tbs, alg, bits(sig)?))
}

/// (the key's AlgorithmIdentifier contents, the key) of a SubjectPublicKeyInfo.
fn key_parts(spki: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let (_, inner, _) = tlv(spki)?;
    let (_, alg, rest) = tlv(inner)?;
    let (_, key, _) = tlv(rest)?;
    Ok((alg, bits(key)?))
}

/// Checks a v1 end-entity certificate against the trust store's certificates.
pub fn verify_v1(
    ee: &[u8],
    roots: &[CertificateDer<'static>],
    algs: &WebPkiSupportedAlgorithms,
    now: UnixTime,
) -> Result<(), String> {
    let (_, cert) = X509Certificate::from_der(ee).map_err(|e| format!("unparsable: {e}"))?;
    if cert.version() != X509Version::V1 {
        return Err("not an X.509 v1 certificate".into());
    }
    let t = now.as_secs() as i64;
    let v = cert.validity();
    if t < v.not_before.timestamp() {
        return Err("not valid yet".into());
    }
    if t > v.not_after.timestamp() {
        return Err("expired".into());
    }
    let (tbs, sig_alg, sig) = signed_parts(ee)?;
    for root in roots {
        let Ok((_, r)) = X509Certificate::from_der(root.as_ref()) else {
            continue;
        };
        if r.subject().as_raw() != cert.issuer().as_raw() {
            continue;
        }
        let is_ca = match r.basic_constraints() {
            Ok(Some(bc)) => bc.value.ca,
            Ok(None) => r.version() == X509Version::V1,
            Err(_) => false,
        };
        if !is_ca {
            continue;
        }
        let (key_alg, key) = key_parts(r.public_key().raw)?;
        for alg in algs.all {
            if alg.public_key_alg_id().as_ref() == key_alg
                && alg.signature_alg_id().as_ref() == sig_alg
                && alg.verify_signature(key, tbs, sig).is_ok()
            {
                return Ok(());
            }
        }
    }
    Err("no trusted certificate issued it".into())
}

/// The webpki client verifier, with v1 end-entity certificates checked by
/// [`verify_v1`] when webpki refuses them for their version.
#[derive(Debug)]
pub struct V1ClientVerifier {
    pub inner: Arc<dyn ClientCertVerifier>,
    pub roots: Vec<CertificateDer<'static>>,
    pub algs: WebPkiSupportedAlgorithms,
}

fn refused(why: String) -> Error {
    Error::General(format!("X.509 v1 client certificate refused: {why}"))
}

impl ClientCertVerifier for V1ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        match self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            Err(e) if is_unsupported_version(&e) => {
                verify_v1(end_entity.as_ref(), &self.roots, &self.algs, now).map_err(refused)?;
                Ok(ClientCertVerified::assertion())
            }
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        match self.inner.verify_tls12_signature(message, cert, dss) {
            Err(e) if is_unsupported_version(&e) => Err(refused(
                "TLS 1.2 is not supported with it (TLS 1.3 is)".into(),
            )),
            r => r,
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        match self.inner.verify_tls13_signature(message, cert, dss) {
            Err(e) if is_unsupported_version(&e) => {
                let (_, c) = X509Certificate::from_der(cert.as_ref())
                    .map_err(|e| refused(format!("unparsable: {e}")))?;
                let spki = SubjectPublicKeyInfoDer::from(c.public_key().raw);
                rustls::crypto::verify_tls13_signature_with_raw_key(message, &spki, dss, &self.algs)
            }
            r => r,
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_elements_are_cut_and_bounded() {
        assert_eq!(
            tlv(&[0x30, 2, 1, 2, 9]).unwrap(),
            (0x30, &[1u8, 2][..], &[9u8][..])
        );
        let long = [&[0x04u8, 0x81, 3][..], &[7, 7, 7]].concat();
        assert_eq!(tlv(&long).unwrap().1, &[7, 7, 7]);
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 3, 1],
            &[0x30, 0x85, 0, 0, 0, 0, 1],
            &[0x30, 0x80],
        ] {
            assert!(tlv(bad).is_err(), "{bad:?}");
        }
        assert!(bits(&[1, 0xff]).is_err());
        assert_eq!(bits(&[0, 5]).unwrap(), &[5]);
    }

    /// `openssl` in `dir`; the test is skipped without it.
    fn openssl(dir: &std::path::Path, args: &[&str]) -> bool {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn der(dir: &std::path::Path, pem: &str) -> CertificateDer<'static> {
        let text = std::fs::read_to_string(dir.join(pem)).unwrap();
        let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        CertificateDer::from(bytes)
    }

    #[test]
    fn a_v1_certificate_is_checked_against_its_issuer() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        for ca in ["ca1", "ca2"] {
            let subj = format!("/CN={ca}");
            if !openssl(
                p,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-keyout",
                    &format!("{ca}.key"),
                    "-out",
                    &format!("{ca}.pem"),
                    "-days",
                    "1",
                    "-subj",
                    &subj,
                ],
            ) {
                eprintln!("no openssl: skipped");
                return;
            }
        }
        assert!(openssl(
            p,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "c.key",
                "-out",
                "c.csr",
                "-subj",
                "/CN=client",
            ],
        ));
        assert!(openssl(
            p,
            &[
                "x509",
                "-req",
                "-in",
                "c.csr",
                "-CA",
                "ca1.pem",
                "-CAkey",
                "ca1.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-out",
                "c.pem",
            ],
        ));
        let leaf = der(p, "c.pem");
        let (_, c) = X509Certificate::from_der(leaf.as_ref()).unwrap();
        assert_eq!(
            c.version(),
            X509Version::V1,
            "openssl made a v3 certificate"
        );
        let algs = crate::tls::ring_provider().signature_verification_algorithms;
        let now = UnixTime::now();
        let (ca1, ca2) = (der(p, "ca1.pem"), der(p, "ca2.pem"));
        verify_v1(leaf.as_ref(), std::slice::from_ref(&ca1), &algs, now).unwrap();
        let e = verify_v1(leaf.as_ref(), std::slice::from_ref(&ca2), &algs, now).unwrap_err();
        assert!(e.contains("no trusted certificate issued it"), "{e}");
        // A flipped bit of the signature.
        let mut forged = leaf.as_ref().to_vec();
        let n = forged.len();
        forged[n - 1] ^= 1;
        assert!(verify_v1(&forged, std::slice::from_ref(&ca1), &algs, now).is_err());
        let later =
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(now.as_secs() + 3 * 86400));
        assert_eq!(
            verify_v1(leaf.as_ref(), std::slice::from_ref(&ca1), &algs, later).unwrap_err(),
            "expired"
        );
        // A v3 certificate does not take this path.
        assert!(verify_v1(ca1.as_ref(), std::slice::from_ref(&ca1), &algs, now).is_err());
    }
}
