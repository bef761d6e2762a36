//! EC private keys as Java writes them into JKS and PKCS12 stores (keytool
//! `-keyalg EC`): PKCS#8 whose inner `ECPrivateKey` (RFC 5915) leaves out the
//! optional public key. ring (under rustls) loads an EC key only with its public
//! key, so it is derived here from the private scalar (P-256 and P-384, the curves
//! ring signs with) and put back; every other key passes unchanged.
//!
//! ```text
//! PrivateKeyInfo ::= SEQUENCE { INTEGER 0, AlgorithmIdentifier, OCTET STRING ECPrivateKey, ... }
//! AlgorithmIdentifier ::= SEQUENCE { OID id-ecPublicKey, OID namedCurve }
//! ECPrivateKey ::= SEQUENCE { INTEGER 1, OCTET STRING d, [0] ECParameters OPTIONAL,
//!                             [1] BIT STRING publicKey OPTIONAL }
//! ```

/// id-ecPublicKey, 1.2.840.10045.2.1.
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// secp256r1, 1.2.840.10045.3.1.7.
const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1, 1.3.132.0.34.
const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];

/// One DER element: its tag, its contents, and the bytes after it.
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &x| (a << 8) | x as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn encode(tag: u8, content: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|&&x| x == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

/// The uncompressed public point of private scalar `d` on `curve`.
fn public_point(curve: &[u8], d: &[u8]) -> Result<Vec<u8>, String> {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    if curve == P256 {
        let k = p256::SecretKey::from_slice(d).map_err(|_| "bad P-256 private key")?;
        Ok(k.public_key().to_encoded_point(false).as_bytes().to_vec())
    } else if curve == P384 {
        let k = p384::SecretKey::from_slice(d).map_err(|_| "bad P-384 private key")?;
        Ok(k.public_key().to_encoded_point(false).as_bytes().to_vec())
    } else {
        Err("an EC key on a curve other than P-256 or P-384 (secp256r1, secp384r1)".into())
    }
}

/// `pkcs8` with the public key in its ECPrivateKey when it is an EC key without one;
/// anything else as it is.
pub fn with_public_key(pkcs8: Vec<u8>) -> Result<Vec<u8>, String> {
    let Some(out) = complete(&pkcs8)? else {
        return Ok(pkcs8);
    };
    Ok(out)
}

fn complete(pkcs8: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let Some((0x30, info, _)) = tlv(pkcs8) else {
        return Ok(None);
    };
    let Some((0x02, version, rest)) = tlv(info) else {
        return Ok(None);
    };
    let Some((0x30, alg, after_alg)) = tlv(rest) else {
        return Ok(None);
    };
    let Some((0x06, oid, alg_rest)) = tlv(alg) else {
        return Ok(None);
    };
    if oid != EC_PUBLIC_KEY {
        return Ok(None);
    }
    let Some((0x06, curve, _)) = tlv(alg_rest) else {
        return Ok(None);
    };
    let Some((0x04, ec_key, trailing)) = tlv(after_alg) else {
        return Ok(None);
    };
    let Some((0x30, ec, _)) = tlv(ec_key) else {
        return Ok(None);
    };
    let Some((0x02, ec_version, ec_rest)) = tlv(ec) else {
        return Ok(None);
    };
    let Some((0x04, d, mut fields)) = tlv(ec_rest) else {
        return Ok(None);
    };
    let mut params = None;
    while let Some((tag, content, rest)) = tlv(fields) {
        match tag {
            // The public key is there: nothing to do.
            0xa1 => return Ok(None),
            0xa0 => params = Some(content),
            _ => {}
        }
        fields = rest;
    }
    let point = public_point(curve, d)?;
    // ECPrivateKey with [0] (as it was) and [1] BIT STRING (no unused bits) point.
    let mut ec_body = Vec::new();
    encode(0x02, ec_version, &mut ec_body);
    encode(0x04, d, &mut ec_body);
    if let Some(p) = params {
        encode(0xa0, p, &mut ec_body);
    }
    let mut bits = vec![0u8];
    bits.extend_from_slice(&point);
    let mut bit_string = Vec::new();
    encode(0x03, &bits, &mut bit_string);
    encode(0xa1, &bit_string, &mut ec_body);
    let mut ec_seq = Vec::new();
    encode(0x30, &ec_body, &mut ec_seq);
    let mut body = Vec::new();
    encode(0x02, version, &mut body);
    encode(0x30, alg, &mut body);
    encode(0x04, &ec_seq, &mut body);
    body.extend_from_slice(trailing);
    let mut out = Vec::new();
    encode(0x30, &body, &mut out);
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A P-256 key as Java writes it (no public key), built by hand: d = 1 gives the
    /// curve's generator as the public point.
    fn java_p256(d: &[u8; 32]) -> Vec<u8> {
        let mut ec_body = Vec::new();
        encode(0x02, &[1], &mut ec_body);
        encode(0x04, d, &mut ec_body);
        let mut ec = Vec::new();
        encode(0x30, &ec_body, &mut ec);
        let mut alg_body = Vec::new();
        encode(0x06, EC_PUBLIC_KEY, &mut alg_body);
        encode(0x06, P256, &mut alg_body);
        let mut body = Vec::new();
        encode(0x02, &[0], &mut body);
        encode(0x30, &alg_body, &mut body);
        encode(0x04, &ec, &mut body);
        let mut out = Vec::new();
        encode(0x30, &body, &mut out);
        out
    }

    #[test]
    fn the_public_key_of_a_java_p256_key_is_derived_and_ring_loads_it() {
        let mut d = [0u8; 32];
        d[31] = 1;
        let java = java_p256(&d);
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(java.clone().into());
        assert!(super::super::ring_provider()
            .key_provider
            .load_private_key(key)
            .is_err());
        let fixed = with_public_key(java).unwrap();
        // The generator of P-256, uncompressed.
        let gx = "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296";
        assert!(fixed
            .windows(33)
            .any(|w| w[0] == 4 && w[1..] == hex(gx)[..]));
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(fixed.clone().into());
        assert!(super::super::ring_provider()
            .key_provider
            .load_private_key(key)
            .is_ok());
        // Complete keys and non-EC keys pass unchanged.
        assert_eq!(with_public_key(fixed.clone()).unwrap(), fixed);
        assert_eq!(with_public_key(vec![1, 2, 3]).unwrap(), vec![1, 2, 3]);
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
