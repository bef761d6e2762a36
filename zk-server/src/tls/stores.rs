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
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(kc.key().as_der().to_vec()));
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

/// Decrypt an EncryptedPrivateKeyInfo (PKCS#8 with PBES2, as openssl and Java write it).
fn decrypt_pkcs8(der: &[u8], password: &str) -> Result<PrivateKeyDer<'static>, String> {
    use pkcs8::der::Decode;
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
