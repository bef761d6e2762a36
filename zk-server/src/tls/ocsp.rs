//! OCSP (RFC 6960) as Java's revocation checker asks it when Apache's `ssl.ocsp`
//! is on: one request per certificate to the responder its Authority Information
//! Access names, sent by HTTP POST; the answer is believed only when it is signed
//! by the certificate's issuer or by a responder the issuer delegated to
//! (`id-kp-OCSPSigning`).
//!
//! It owns the DER of the request and the reading of the response; the HTTP
//! exchange and what a status means for a connection are
//! [`super::revocation`]'s. Ours, not a crate's: the request is five nested
//! sequences and the response needs a dozen fields; the signature is checked
//! with the ring algorithms rustls already carries.
//!
//! ```text
//! OCSPRequest   = SEQ { tbsRequest SEQ { requestList SEQ { Request SEQ { CertID } } } }
//! CertID        = SEQ { hashAlgorithm (sha1), issuerNameHash OCTETS, issuerKeyHash OCTETS,
//!                       serialNumber INTEGER }
//! OCSPResponse  = SEQ { responseStatus ENUM, [0] { SEQ { responseType OID,
//!                       response OCTETS (BasicOCSPResponse) } } }
//! BasicOCSPResponse = SEQ { tbsResponseData ResponseData, signatureAlgorithm,
//!                       signature BITS, [0] { SEQ OF Certificate } OPTIONAL }
//! ResponseData  = SEQ { [0] version OPTIONAL, responderID ([1] Name | [2] KeyHash),
//!                       producedAt TIME, responses SEQ OF SingleResponse, [1] exts OPTIONAL }
//! SingleResponse = SEQ { CertID, certStatus ([0] good | [1] revoked | [2] unknown),
//!                       thisUpdate TIME, [0] nextUpdate TIME OPTIONAL, [1] exts OPTIONAL }
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha1::{Digest, Sha1};

/// What a responder said about one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Good,
    /// Revoked, with the reason code when the responder gave one.
    Revoked(Option<u8>),
    Unknown,
}

const OID_SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
/// id-pkix-ocsp-basic, 1.3.6.1.5.5.7.48.1.1
const OID_OCSP_BASIC: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];

/// One DER element: its tag, its contents and the whole encoding.
#[derive(Clone, Copy, Debug)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub body: &'a [u8],
    pub raw: &'a [u8],
}

/// Read one element from the front of `b`; the rest follows. Definite lengths only,
/// as DER has them; one-byte tags only.
pub fn read_tlv(b: &[u8]) -> Result<(Tlv<'_>, &[u8]), String> {
    let bad = || "malformed DER".to_owned();
    let tag = *b.first().ok_or_else(bad)?;
    if tag & 0x1f == 0x1f {
        return Err("malformed DER: multi-byte tag".into());
    }
    let l0 = *b.get(1).ok_or_else(bad)?;
    let (len, hdr) = if l0 < 0x80 {
        (l0 as usize, 2)
    } else {
        let n = (l0 & 0x7f) as usize;
        if n == 0 || n > 4 {
            return Err(bad());
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(2 + i).ok_or_else(bad)? as usize;
        }
        (len, 2 + n)
    };
    let end = hdr
        .checked_add(len)
        .filter(|e| *e <= b.len())
        .ok_or_else(bad)?;
    Ok((
        Tlv {
            tag,
            body: &b[hdr..end],
            raw: &b[..end],
        },
        &b[end..],
    ))
}

/// Every element of a constructed element's contents.
pub fn children(mut b: &[u8]) -> Result<Vec<Tlv<'_>>, String> {
    let mut v = Vec::new();
    while !b.is_empty() {
        let (t, rest) = read_tlv(b)?;
        v.push(t);
        b = rest;
    }
    Ok(v)
}

fn expect<'a>(t: Option<&Tlv<'a>>, tag: u8, what: &str) -> Result<Tlv<'a>, String> {
    match t {
        Some(t) if t.tag == tag => Ok(*t),
        _ => Err(format!("OCSP response: no {what}")),
    }
}

fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = body.len();
    if n < 0x80 {
        v.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        v.push(0x80 | bytes.len() as u8);
        v.extend(bytes);
    }
    v.extend_from_slice(body);
    v
}

/// The parts of a certificate an OCSP request names it by.
pub struct CertId {
    pub issuer_name_hash: Vec<u8>,
    pub issuer_key_hash: Vec<u8>,
    pub serial: Vec<u8>,
}

impl CertId {
    /// `cert` issued by `issuer` (both DER).
    pub fn new(cert: &[u8], issuer: &[u8]) -> Result<CertId, String> {
        let (_, c) = x509_parser::parse_x509_certificate(cert)
            .map_err(|e| format!("certificate does not parse: {e}"))?;
        let (_, i) = x509_parser::parse_x509_certificate(issuer)
            .map_err(|e| format!("issuer certificate does not parse: {e}"))?;
        Ok(CertId {
            issuer_name_hash: Sha1::digest(c.tbs_certificate.issuer.as_raw()).to_vec(),
            issuer_key_hash: Sha1::digest(&*i.public_key().subject_public_key.data).to_vec(),
            serial: c.raw_serial().to_vec(),
        })
    }

    fn der(&self) -> Vec<u8> {
        let alg = der(0x30, &[der(0x06, OID_SHA1), vec![0x05, 0x00]].concat());
        der(
            0x30,
            &[
                alg,
                der(0x04, &self.issuer_name_hash),
                der(0x04, &self.issuer_key_hash),
                der(0x02, &self.serial),
            ]
            .concat(),
        )
    }

    /// A CertID of a response names this certificate (its hash algorithm must be
    /// SHA-1, the one asked with).
    fn matches(&self, t: &Tlv<'_>) -> bool {
        let Ok(f) = children(t.body) else {
            return false;
        };
        let [alg, name, key, serial] = f.as_slice() else {
            return false;
        };
        let sha1 = children(alg.body)
            .ok()
            .and_then(|a| a.first().map(|o| o.tag == 0x06 && o.body == OID_SHA1))
            .unwrap_or(false);
        sha1 && name.body == self.issuer_name_hash
            && key.body == self.issuer_key_hash
            && serial.body == self.serial
    }
}

/// The DER OCSPRequest for one certificate.
pub fn request(id: &CertId) -> Vec<u8> {
    let req = der(0x30, &id.der());
    let list = der(0x30, &req);
    let tbs = der(0x30, &list);
    der(0x30, &tbs)
}

/// GeneralizedTime `YYYYMMDDHHMMSS[.f]Z` as a system time.
fn generalized_time(b: &[u8]) -> Result<SystemTime, String> {
    let s = std::str::from_utf8(b).map_err(|_| "bad time")?;
    let bad = || format!("OCSP response: bad time {s:?}");
    if s.len() < 15 || !s.ends_with('Z') {
        return Err(bad());
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().map_err(|_| bad());
    let (y, mo, d, h, mi, se) = (
        n(0..4)?,
        n(4..6)?,
        n(6..8)?,
        n(8..10)?,
        n(10..12)?,
        n(12..14)?,
    );
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + h * 3600 + mi * 60 + se;
    u64::try_from(secs)
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
        .map_err(|_| bad())
}

/// The signature algorithms rustls's ring provider verifies with.
fn verify_signature(spki: &[u8], alg: &[u8], message: &[u8], sig: &[u8]) -> Result<(), String> {
    let (spki, _) = read_tlv(spki)?;
    let parts = children(spki.body)?;
    let [key_alg, key] = parts.as_slice() else {
        return Err("bad public key".into());
    };
    // A BIT STRING's first byte counts its unused bits.
    let key = key.body.get(1..).ok_or("bad public key")?;
    #[allow(deprecated)]
    let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
    for a in algs.all {
        if *a.public_key_alg_id() == *key_alg.body && *a.signature_alg_id() == *alg {
            return a
                .verify_signature(key, message, sig)
                .map_err(|_| "OCSP response: bad signature".to_owned());
        }
    }
    Err("OCSP response: signature algorithm not supported".into())
}

/// The signed parts of a certificate or a response.
struct Signed<'a> {
    /// What was signed (its whole encoding).
    tbs: &'a [u8],
    /// The AlgorithmIdentifier's contents.
    alg: &'a [u8],
    /// The signature, without the BIT STRING's unused-bits byte.
    sig: &'a [u8],
}

fn signed(seq: &[u8]) -> Result<Signed<'_>, String> {
    let f = children(seq)?;
    let (tbs, alg, sig) = match f.as_slice() {
        [tbs, alg, sig, ..] if alg.tag == 0x30 && sig.tag == 0x03 => (tbs, alg, sig),
        _ => return Err("OCSP response: not a signed structure".into()),
    };
    Ok(Signed {
        tbs: tbs.raw,
        alg: alg.body,
        sig: sig.body.get(1..).ok_or("empty signature")?,
    })
}

/// Read a response to [`request`] for `id`, check its signature against `issuer`
/// (or a responder `issuer` delegated to), and say what it says about `id` at `now`.
pub fn parse_response(
    resp: &[u8],
    id: &CertId,
    issuer: &[u8],
    now: SystemTime,
) -> Result<Status, String> {
    let (top, _) = read_tlv(resp)?;
    let f = children(top.body)?;
    let status = expect(f.first(), 0x0a, "responseStatus")?;
    if status.body != [0] {
        return Err(format!(
            "OCSP responder answered status {} (not successful)",
            status.body.first().copied().unwrap_or(255)
        ));
    }
    let rb = expect(f.get(1), 0xa0, "responseBytes")?;
    let (rb, _) = read_tlv(rb.body)?;
    let rbf = children(rb.body)?;
    let ty = expect(rbf.first(), 0x06, "responseType")?;
    if ty.body != OID_OCSP_BASIC {
        return Err("OCSP response: not a basic response".into());
    }
    let basic = expect(rbf.get(1), 0x04, "response")?;
    let (basic, _) = read_tlv(basic.body)?;
    let Signed { tbs, alg, sig } = signed(basic.body)?;
    // Who signed: the issuer, or a delegated responder whose certificate comes along.
    let (_, iss) = x509_parser::parse_x509_certificate(issuer)
        .map_err(|e| format!("issuer certificate does not parse: {e}"))?;
    let mut checked = verify_signature(iss.public_key().raw, alg, tbs, sig);
    if checked.is_err() {
        let bf = children(basic.body)?;
        if let Some(certs) = bf.iter().find(|t| t.tag == 0xa0) {
            let (seq, _) = read_tlv(certs.body)?;
            for c in children(seq.body)? {
                if delegated_by(c.raw, &iss, now).is_ok()
                    && x509_parser::parse_x509_certificate(c.raw)
                        .map_err(|e| e.to_string())
                        .and_then(|(_, d)| verify_signature(d.public_key().raw, alg, tbs, sig))
                        .is_ok()
                {
                    checked = Ok(());
                    break;
                }
            }
        }
    }
    checked.map_err(|e| {
        format!("{e} (signed neither by the issuer nor by a responder it delegated to)")
    })?;
    let (tbs, _) = read_tlv(tbs)?;
    let mut data = children(tbs.body)?.into_iter().peekable();
    if data.peek().is_some_and(|t| t.tag == 0xa0) {
        data.next();
    }
    let _responder = data.next().ok_or("OCSP response: no responderID")?;
    let _produced = expect(data.next().as_ref(), 0x18, "producedAt")?;
    let responses = expect(data.next().as_ref(), 0x30, "responses")?;
    for single in children(responses.body)? {
        let s = children(single.body)?;
        let Some(cert_id) = s.first() else { continue };
        if !id.matches(cert_id) {
            continue;
        }
        let st = s.get(1).ok_or("OCSP response: no certStatus")?;
        let this_update = generalized_time(expect(s.get(2), 0x18, "thisUpdate")?.body)?;
        // Java allows the clocks to differ by 15 minutes (ocsp.clockSkew 900 s).
        let skew = Duration::from_secs(900);
        if this_update > now + skew {
            return Err("OCSP response: thisUpdate is in the future".into());
        }
        if let Some(next) = s.iter().skip(3).find(|t| t.tag == 0xa0) {
            let (t, _) = read_tlv(next.body)?;
            if generalized_time(t.body)? + skew < now {
                return Err("OCSP response: stale (nextUpdate has passed)".into());
            }
        }
        return Ok(match st.tag {
            0x80 => Status::Good,
            0xa1 => {
                let info = children(st.body)?;
                let reason = info
                    .iter()
                    .find(|t| t.tag == 0xa0)
                    .and_then(|r| read_tlv(r.body).ok())
                    .and_then(|(e, _)| e.body.first().copied());
                Status::Revoked(reason)
            }
            _ => Status::Unknown,
        });
    }
    Err("OCSP response: says nothing about the certificate asked for".into())
}

/// `cert` is a responder `issuer` delegated to: issued and signed by it, valid now,
/// and for OCSP signing.
fn delegated_by(
    cert: &[u8],
    issuer: &x509_parser::certificate::X509Certificate<'_>,
    now: SystemTime,
) -> Result<(), String> {
    let (_, d) = x509_parser::parse_x509_certificate(cert).map_err(|e| e.to_string())?;
    if d.tbs_certificate.issuer.as_raw() != issuer.tbs_certificate.subject.as_raw() {
        return Err("not issued by the issuer".into());
    }
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs() as i64;
    let v = d.validity();
    if secs < v.not_before.timestamp() || secs > v.not_after.timestamp() {
        return Err("responder certificate expired".into());
    }
    match d.extended_key_usage() {
        Ok(Some(eku)) if eku.value.ocsp_signing => {}
        _ => return Err("responder certificate is not for OCSP signing".into()),
    }
    let (outer, _) = read_tlv(cert)?;
    let Signed { tbs, alg, sig } = signed(outer.body)?;
    verify_signature(issuer.public_key().raw, alg, tbs, sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_and_times() {
        assert_eq!(der(0x04, &[1, 2]), vec![4, 2, 1, 2]);
        let long = der(0x04, &[0; 300]);
        assert_eq!(&long[..4], &[4, 0x82, 1, 44]);
        let (t, rest) = read_tlv(&long).unwrap();
        assert_eq!((t.tag, t.body.len(), rest.len()), (4, 300, 0));
        assert!(read_tlv(&[4, 0x82, 1]).is_err());
        assert!(read_tlv(&[4, 5, 1]).is_err());
        assert_eq!(
            generalized_time(b"20260101000000Z").unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_767_225_600)
        );
        assert_eq!(
            generalized_time(b"19700102000001Z").unwrap(),
            UNIX_EPOCH + Duration::from_secs(86401)
        );
        assert!(generalized_time(b"2026").is_err());
    }

    #[test]
    fn garbage_responses_are_errors_not_panics() {
        let id = CertId {
            issuer_name_hash: vec![1; 20],
            issuer_key_hash: vec![2; 20],
            serial: vec![3],
        };
        for b in [
            &[][..],
            &[0x30, 0x03, 0x0a, 0x01, 0x01][..],
            &[0x30, 0x03, 0x0a, 0x01, 0x00][..],
            &[0x30, 0x80][..],
            &[0xff; 40][..],
        ] {
            assert!(parse_response(b, &id, &[], SystemTime::now()).is_err());
        }
        assert_eq!(request(&id)[0], 0x30);
    }
}
