//! OCSP responses (`ssl.ocsp`, `zk_server::tls::ocsp`): bytes from a responder on the
//! network, read against the certificate asked about and its issuer.
//!
//! Input: `u16` length and DER of the issuer, `u16` length and DER of the certificate,
//! then the response. Asserts: no panic; a response is only ever believed when its
//! signature checks against the issuer (a believed response with one byte of its
//! signed part changed is refused), and
//! the DER reader never hands out a slice beyond its input.

use std::time::SystemTime;

use zk_server::tls::ocsp::{children, parse_response, read_tlv, CertId};

fn take(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = u16::from_be_bytes([*data.first()?, *data.get(1)?]) as usize;
    let rest = data.get(2..)?;
    (rest.len() >= n).then(|| rest.split_at(n))
}

/// The target's check of one input (the fuzz target and the seed test call it).
pub fn run(data: &[u8]) {
    // The DER reader alone, on anything.
    if let Ok((t, rest)) = read_tlv(data) {
        assert_eq!(t.raw.len() + rest.len(), data.len());
        assert!(t.body.len() < t.raw.len());
        let _ = children(t.body);
    }
    let Some((issuer, rest)) = take(data) else {
        return;
    };
    let Some((cert, resp)) = take(rest) else {
        return;
    };
    let Ok(id) = CertId::new(cert, issuer) else {
        return;
    };
    let first = parse_response(resp, &id, issuer, SystemTime::now());
    if first.is_ok() {
        // A believed response: change one byte of its signed part (tbsResponseData's
        // last byte) and it must no longer be believed.
        let at = signed_part_end(resp).expect("a believed response has a signed part");
        let mut m = resp.to_vec();
        m[at] ^= 0x01;
        assert!(
            parse_response(&m, &id, issuer, SystemTime::now()).is_err(),
            "a changed response was believed"
        );
    }
}

/// The offset of the last byte of a response's tbsResponseData.
fn signed_part_end(resp: &[u8]) -> Option<usize> {
    let (top, _) = read_tlv(resp).ok()?;
    let rb = *children(top.body).ok()?.get(1)?;
    let (seq, _) = read_tlv(rb.body).ok()?;
    let octets = *children(seq.body).ok()?.get(1)?;
    let (basic, _) = read_tlv(octets.body).ok()?;
    let tbs = *children(basic.body).ok()?.first()?;
    let start = tbs.raw.as_ptr() as usize - resp.as_ptr() as usize;
    Some(start + tbs.raw.len() - 1)
}
