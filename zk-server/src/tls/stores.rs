//! Key and trust stores in the formats operators keep them: PEM, PKCS12 and JKS,
//! the type from `ssl.*.type` or else from the file name's extension, as Apache's
//! `KeyStoreFileType.fromPropertyValueOrFileName` decides it (`.pem`, `.p12`, `.jks`).

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::jks::{self, JksEntry, JksStore};

/// A store's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreType {
    Pem,
    Pkcs12,
    Jks,
}

impl StoreType {
    /// From the explicit type, else from the file name's extension.
    pub fn resolve(explicit: Option<&str>, location: &str) -> Result<StoreType, String> {
        if let Some(t) = explicit.filter(|t| !t.is_empty()) {
            return match t.to_ascii_uppercase().as_str() {
                "PEM" => Ok(StoreType::Pem),
                "PKCS12" => Ok(StoreType::Pkcs12),
                "JKS" => Ok(StoreType::Jks),
                "BCFKS" => Err("BCFKS stores are not supported; use PKCS12, JKS or PEM".into()),
                _ => Err(format!("unknown store type {t:?} (PEM, PKCS12 or JKS)")),
            };
        }
        match location.rfind('.').map(|i| &location[i..]) {
            Some(".pem") => Ok(StoreType::Pem),
            Some(".p12") => Ok(StoreType::Pkcs12),
            Some(".jks") => Ok(StoreType::Jks),
            _ => Err(format!(
                "unable to auto-detect store file type from file name: {location}"
            )),
        }
    }
}

/// A certificate chain (leaf first) and its private key.
pub struct KeyMaterial {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(Path::new(path)).map_err(|e| format!("cannot read {path}: {e}"))
}

/// Load a key store: the first private key entry with its chain.
pub fn load_key_store(path: &str, password: &str, ty: StoreType) -> Result<KeyMaterial, String> {
    let data = read(path)?;
    match ty {
        StoreType::Pem => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&data)
                .collect::<Result<_, _>>()
                .map_err(|e| format!("{path}: bad PEM certificate: {e}"))?;
            let key = match encrypted_pem_key(&data) {
                // As Apache's PemReader: with a password the key is encrypted PKCS#8.
                Some(der) => {
                    if password.is_empty() {
                        return Err(format!(
                            "{path}: the private key is encrypted and no keyStore.password is set"
                        ));
                    }
                    decrypt_pkcs8(&der, password).map_err(|e| format!("{path}: {e}"))?
                }
                None => PrivateKeyDer::from_pem_slice(&data)
                    .map_err(|e| format!("{path}: no private key in PEM: {e}"))?,
            };
            if chain.is_empty() {
                return Err(format!("{path}: no certificate in PEM"));
            }
            Ok(KeyMaterial { chain, key })
        }
        StoreType::Pkcs12 => {
            let ks = p12_keystore::KeyStore::from_pkcs12(
                &data,
                password,
                p12_keystore::Pkcs12ImportPolicy::Relaxed,
            )
            .map_err(|e| format!("{path}: cannot read PKCS12 store: {e}"))?;
            let (_, kc) = ks
                .private_key_chain()
                .ok_or_else(|| format!("{path}: no private key entry"))?;
            let chain: Vec<CertificateDer<'static>> = kc
                .certs()
                .iter()
                .map(|c| CertificateDer::from(c.as_der().to_vec()))
                .collect();
            if chain.is_empty() {
                return Err(format!("{path}: the private key has no certificate"));
            }
            // Java leaves an EC key's public key out; ring needs it.
            let der = super::ec_key::with_public_key(kc.key().as_der().to_vec())
                .map_err(|e| format!("{path}: {e}"))?;
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der));
            Ok(KeyMaterial { chain, key })
        }
        StoreType::Jks => {
            let store = JksStore::parse(&data, Some(password).filter(|p| !p.is_empty()))
                .map_err(|e| format!("{path}: {e}"))?;
            for e in store.entries {
                if let JksEntry::PrivateKey {
                    alias,
                    encrypted_key,
                    chain,
                } = e
                {
                    let key = jks::recover_key(&alias, &encrypted_key, password)
                        .map_err(|e| format!("{path}: {e}"))?;
                    // Java leaves an EC key's public key out; ring needs it.
                    let key =
                        super::ec_key::with_public_key(key).map_err(|e| format!("{path}: {e}"))?;
                    if chain.is_empty() {
                        return Err(format!("{path}: key {alias:?} has no certificate"));
                    }
                    return Ok(KeyMaterial {
                        chain: chain.into_iter().map(CertificateDer::from).collect(),
                        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
                    });
                }
            }
            Err(format!("{path}: no private key entry"))
        }
    }
}

/// The DER of the first `ENCRYPTED PRIVATE KEY` block of a PEM file.
fn encrypted_pem_key(pem: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine;
    const BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
    const END: &str = "-----END ENCRYPTED PRIVATE KEY-----";
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find(BEGIN)? + BEGIN.len();
    let end = start + text[start..].find(END)?;
    let b64: String = text[start..end].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// pbeWithSHAAnd3-KeyTripleDES-CBC (1.2.840.113549.1.12.1.3), the PKCS#12 PBE that
/// Apache's PemReader decrypts on Java 17 (`openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES`).
const PBE_SHA1_3DES: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x03];

/// An EncryptedPrivateKeyInfo with PKCS#12's PBE-SHA1-3DES: `Some(PKCS#8)` when it is one.
fn decrypt_pbe_sha1_3des(der: &[u8], password: &str) -> Option<Result<Vec<u8>, String>> {
    use super::jks::der_header;
    use cbc::cipher::{block_padding::Pkcs7, BlockModeDecrypt, KeyIvInit};
    // SEQUENCE { SEQUENCE { OID, SEQUENCE { OCTET STRING salt, INTEGER iterations } }, OCTET STRING }
    let (t, seq, _) = der_header(der, 0)?;
    let (t2, alg, alg_len) = der_header(der, seq)?;
    let (t3, oid, oid_len) = der_header(der, alg)?;
    if t != 0x30 || t2 != 0x30 || t3 != 0x06 || &der[oid..oid + oid_len] != PBE_SHA1_3DES {
        return None;
    }
    let bad = || Some(Err("bad PBE-SHA1-3DES parameters".to_owned()));
    let Some((0x30, params, _)) = der_header(der, oid + oid_len) else {
        return bad();
    };
    let Some((0x04, salt, salt_len)) = der_header(der, params) else {
        return bad();
    };
    let Some((0x02, it, it_len)) = der_header(der, salt + salt_len) else {
        return bad();
    };
    if it_len == 0 || it_len > 4 {
        return bad();
    }
    let iterations = der[it..it + it_len]
        .iter()
        .fold(0i64, |a, b| (a << 8) | *b as i64);
    let Ok(iterations) = i32::try_from(iterations) else {
        return bad();
    };
    if iterations <= 0 {
        return bad();
    }
    let Some((0x04, data, data_len)) = der_header(der, alg + alg_len) else {
        return bad();
    };
    let salt = &der[salt..salt + salt_len];
    let kdf = |ty, n| {
        pkcs12::kdf::derive_key_utf8::<sha1_11::Sha1>(password, salt, ty, iterations, n)
            .map_err(|e| format!("key derivation: {e}"))
    };
    Some((|| {
        let key = kdf(pkcs12::kdf::Pkcs12KeyType::EncryptionKey, 24)?;
        let iv = kdf(pkcs12::kdf::Pkcs12KeyType::Iv, 8)?;
        let cipher = cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
            .map_err(|_| "bad 3DES key length".to_owned())?;
        cipher
            .decrypt_padded_vec::<Pkcs7>(&der[data..data + data_len])
            .map_err(|_| "cannot decrypt the private key (wrong password?)".to_owned())
    })())
}

/// Decrypt an EncryptedPrivateKeyInfo: PKCS#8 with PBES2 (openssl's default) or
/// PKCS#12's PBE-SHA1-3DES (what Apache's PemReader reads on Java 17).
fn decrypt_pkcs8(der: &[u8], password: &str) -> Result<PrivateKeyDer<'static>, String> {
    use pkcs8::der::Decode;
    if let Some(plain) = decrypt_pbe_sha1_3des(der, password) {
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(plain?)));
    }
    let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(der)
        .map_err(|e| format!("bad encrypted private key: {e}"))?;
    let plain = info
        .decrypt(password)
        .map_err(|e| format!("cannot decrypt the private key (wrong password?): {e}"))?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        plain.as_bytes().to_vec(),
    )))
}

/// Load a trust store: every certificate in it.
pub fn load_trust_store(
    path: &str,
    password: &str,
    ty: StoreType,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let data = read(path)?;
    let certs: Vec<CertificateDer<'static>> = match ty {
        StoreType::Pem => CertificateDer::pem_slice_iter(&data)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{path}: bad PEM certificate: {e}"))?,
        StoreType::Pkcs12 => {
            let ks = p12_keystore::KeyStore::from_pkcs12(
                &data,
                password,
                p12_keystore::Pkcs12ImportPolicy::Relaxed,
            )
            .map_err(|e| format!("{path}: cannot read PKCS12 store: {e}"))?;
            ks.entries()
                .flat_map(|(_, e)| match e {
                    p12_keystore::KeyStoreEntry::Certificate(c) => vec![c.as_der().to_vec()],
                    p12_keystore::KeyStoreEntry::PrivateKeyChain(kc) => {
                        kc.certs().iter().map(|c| c.as_der().to_vec()).collect()
                    }
                    _ => vec![],
                })
                .map(CertificateDer::from)
                .collect()
        }
        StoreType::Jks => {
            let store = JksStore::parse(&data, Some(password).filter(|p| !p.is_empty()))
                .map_err(|e| format!("{path}: {e}"))?;
            store
                .entries
                .into_iter()
                .flat_map(|e| match e {
                    JksEntry::Trusted { cert, .. } => vec![cert],
                    JksEntry::PrivateKey { chain, .. } => chain,
                })
                .map(CertificateDer::from)
                .collect()
        }
    };
    if certs.is_empty() {
        return Err(format!("{path}: no certificate in the trust store"));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key encrypted by `openssl pkcs8 -topk8 -v2 aes-256-cbc` (PBES2), as an
    /// Apache PEM key store with a password holds it.
    #[test]
    fn encrypted_pem_key_with_its_password() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .expect("openssl is needed for this test");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&["genpkey", "-algorithm", "RSA", "-out", "k.pem"]);
        run(&[
            "req", "-x509", "-key", "k.pem", "-out", "c.pem", "-subj", "/CN=x", "-days", "1",
        ]);
        run(&[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-in",
            "k.pem",
            "-out",
            "e.pem",
            "-passout",
            "pass:pw",
        ]);
        let store = [
            std::fs::read_to_string(d.join("c.pem")).unwrap(),
            std::fs::read_to_string(d.join("e.pem")).unwrap(),
        ]
        .concat();
        let path = d.join("store.pem");
        std::fs::write(&path, store).unwrap();
        let path = path.to_str().unwrap();
        let m = load_key_store(path, "pw", StoreType::Pem).unwrap();
        assert!(rustls::crypto::ring::sign::any_supported_type(&m.key).is_ok());
        assert!(load_key_store(path, "wrong", StoreType::Pem)
            .err()
            .unwrap()
            .contains("wrong password"));
        assert!(load_key_store(path, "", StoreType::Pem).is_err());
        // PKCS#12's PBE with SHA-1 and 3DES, as Apache 3.8 reads on Java 17.
        run(&[
            "pkcs8",
            "-topk8",
            "-v1",
            "PBE-SHA1-3DES",
            "-in",
            "k.pem",
            "-out",
            "e1.pem",
            "-passout",
            "pass:pw",
        ]);
        let store = [
            std::fs::read_to_string(d.join("c.pem")).unwrap(),
            std::fs::read_to_string(d.join("e1.pem")).unwrap(),
        ]
        .concat();
        std::fs::write(d.join("store1.pem"), store).unwrap();
        let path = d.join("store1.pem");
        let path = path.to_str().unwrap();
        let m = load_key_store(path, "pw", StoreType::Pem).unwrap();
        assert!(rustls::crypto::ring::sign::any_supported_type(&m.key).is_ok());
        assert!(load_key_store(path, "wrong", StoreType::Pem).is_err());
    }

    #[test]
    fn type_from_setting_or_extension() {
        assert_eq!(StoreType::resolve(Some("jks"), "x.pem"), Ok(StoreType::Jks));
        assert_eq!(StoreType::resolve(None, "/a/b.p12"), Ok(StoreType::Pkcs12));
        assert_eq!(StoreType::resolve(Some(""), "b.pem"), Ok(StoreType::Pem));
        assert_eq!(StoreType::resolve(None, "b.jks"), Ok(StoreType::Jks));
        assert!(StoreType::resolve(None, "b.pfx").is_err());
        assert!(StoreType::resolve(Some("XYZ"), "b.pem").is_err());
    }
}
