//! Java's JKS key store, read without a JVM: the format `keytool -storetype JKS`
//! writes and that older ZooKeeper deployments keep their keys in.
//!
//! ```text
//! store    = magic:u32 (0xFEEDFEED) version:u32 (1 or 2) count:u32 entry{count} digest:[u8; 20]
//! entry    = 1:u32 alias:utf date:u64 key_len:u32 key:[u8; key_len] n:u32 cert{n}   (private key)
//!          | 2:u32 alias:utf date:u64 cert                                          (trusted certificate)
//! cert     = [type:utf, version 2 only] len:u32 der:[u8; len]
//! utf      = len:u16 bytes:[u8; len]          (Java's modified UTF-8)
//! digest   = SHA-1(password as UTF-16BE || "Mighty Aphrodite" || every byte before it)
//! key      = DER EncryptedPrivateKeyInfo { AlgorithmIdentifier { 1.3.6.1.4.1.42.2.17.1.1 }, OCTET STRING }
//!            whose octets are salt:[u8; 20] || PKCS#8 XOR keystream || check:[u8; 20], with
//!            keystream = d1 || d2 || ..., d1 = SHA-1(pw || salt), d(i+1) = SHA-1(pw || d(i)),
//!            check = SHA-1(pw || PKCS#8)   (Sun's KeyProtector; pw is the key password in UTF-16BE)
//! ```
//!
//! Every length is checked against the bytes left before anything is allocated.

use sha1::{Digest, Sha1};

/// Why a JKS store could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JksError {
    #[error("not a JKS key store (magic {0:#010x})")]
    BadMagic(u32),
    #[error("unsupported JKS version {0}")]
    BadVersion(u32),
    #[error("truncated JKS key store")]
    Truncated,
    #[error("unknown JKS entry tag {0}")]
    BadTag(u32),
    #[error("JKS key store was tampered with, or the password is wrong")]
    Integrity,
    #[error(
        "cannot recover the key of {alias:?}: the key password is wrong or the key is damaged"
    )]
    KeyPassword { alias: String },
    #[error("key of {alias:?} is not protected with Sun's KeyProtector ({why})")]
    KeyFormat { alias: String, why: &'static str },
}

/// One entry of a JKS store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JksEntry {
    /// A private key (still encrypted) with its certificate chain, leaf first.
    PrivateKey {
        alias: String,
        encrypted_key: Vec<u8>,
        chain: Vec<Vec<u8>>,
    },
    /// A trusted certificate (DER).
    Trusted { alias: String, cert: Vec<u8> },
}

/// A parsed JKS store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JksStore {
    pub entries: Vec<JksEntry>,
}

const MAGIC: u32 = 0xFEED_FEED;
const WHITENER: &[u8] = b"Mighty Aphrodite";
const KEY_PROTECTOR_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x2a, 0x02, 0x11, 0x01, 0x01];

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], JksError> {
        if self.buf.len() - self.pos < n {
            return Err(JksError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16, JksError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, JksError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn utf(&mut self) -> Result<String, JksError> {
        let n = self.u16()? as usize;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
    fn bytes32(&mut self) -> Result<&'a [u8], JksError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// The password as Java's `char[]` turned into bytes: UTF-16BE.
fn password_bytes(password: &str) -> Vec<u8> {
    password
        .encode_utf16()
        .flat_map(|c| c.to_be_bytes())
        .collect()
}

impl JksStore {
    /// Parse a store; with `Some(password)` its integrity digest is checked, as
    /// `KeyStore.load` does when given a password.
    pub fn parse(data: &[u8], password: Option<&str>) -> Result<JksStore, JksError> {
        let mut c = Cursor { buf: data, pos: 0 };
        let magic = c.u32()?;
        if magic != MAGIC {
            return Err(JksError::BadMagic(magic));
        }
        let version = c.u32()?;
        if version != 1 && version != 2 {
            return Err(JksError::BadVersion(version));
        }
        let count = c.u32()?;
        let mut entries = Vec::new();
        let cert = |c: &mut Cursor<'_>| -> Result<Vec<u8>, JksError> {
            if version == 2 {
                let _cert_type = c.utf()?;
            }
            Ok(c.bytes32()?.to_vec())
        };
        for _ in 0..count {
            let tag = c.u32()?;
            let alias = c.utf()?;
            let _date = c.take(8)?;
            match tag {
                1 => {
                    let encrypted_key = c.bytes32()?.to_vec();
                    let n = c.u32()?;
                    let mut chain = Vec::new();
                    for _ in 0..n {
                        chain.push(cert(&mut c)?);
                    }
                    entries.push(JksEntry::PrivateKey {
                        alias,
                        encrypted_key,
                        chain,
                    });
                }
                2 => {
                    let cert = cert(&mut c)?;
                    entries.push(JksEntry::Trusted { alias, cert });
                }
                t => return Err(JksError::BadTag(t)),
            }
        }
        let body = c.pos;
        let digest = c.take(20)?;
        if let Some(pw) = password {
            let mut h = Sha1::new();
            h.update(password_bytes(pw));
            h.update(WHITENER);
            h.update(&data[..body]);
            if h.finalize().as_slice() != digest {
                return Err(JksError::Integrity);
            }
        }
        Ok(JksStore { entries })
    }
}

/// Read one DER header at `pos`: (tag, content start, content length).
pub(crate) fn der_header(b: &[u8], pos: usize) -> Option<(u8, usize, usize)> {
    let tag = *b.get(pos)?;
    let first = *b.get(pos + 1)? as usize;
    let (len, start) = if first < 0x80 {
        (first, pos + 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(pos + 2 + i)? as usize;
        }
        (len, pos + 2 + n)
    };
    if b.len() < start || b.len() - start < len {
        return None;
    }
    Some((tag, start, len))
}

/// Recover a private key protected with Sun's KeyProtector: the PKCS#8 DER.
pub fn recover_key(alias: &str, encrypted_key: &[u8], password: &str) -> Result<Vec<u8>, JksError> {
    let format = |why| JksError::KeyFormat {
        alias: alias.to_owned(),
        why,
    };
    // EncryptedPrivateKeyInfo ::= SEQUENCE { AlgorithmIdentifier, OCTET STRING }
    let (t, seq, seq_len) = der_header(encrypted_key, 0).ok_or(format("bad DER"))?;
    if t != 0x30 {
        return Err(format("not a SEQUENCE"));
    }
    let (t, alg, alg_len) = der_header(encrypted_key, seq).ok_or(format("bad DER"))?;
    if t != 0x30 {
        return Err(format("no AlgorithmIdentifier"));
    }
    let (t, oid, oid_len) = der_header(encrypted_key, alg).ok_or(format("bad DER"))?;
    if t != 0x06 || &encrypted_key[oid..oid + oid_len] != KEY_PROTECTOR_OID {
        return Err(format("algorithm is not 1.3.6.1.4.1.42.2.17.1.1"));
    }
    let (t, data, data_len) = der_header(encrypted_key, alg + alg_len).ok_or(format("bad DER"))?;
    if t != 0x04 || data + data_len > seq + seq_len {
        return Err(format("no encrypted OCTET STRING"));
    }
    let protected = &encrypted_key[data..data + data_len];
    if protected.len() < 40 {
        return Err(format("too short"));
    }
    let salt = &protected[..20];
    let enc = &protected[20..protected.len() - 20];
    let check = &protected[protected.len() - 20..];
    let pw = password_bytes(password);
    let mut plain = Vec::with_capacity(enc.len());
    let mut d = salt.to_vec();
    while plain.len() < enc.len() {
        let mut h = Sha1::new();
        h.update(&pw);
        h.update(&d);
        d = h.finalize().to_vec();
        for &k in d.iter().take(enc.len() - plain.len()) {
            let i = plain.len();
            plain.push(enc[i] ^ k);
        }
    }
    let mut h = Sha1::new();
    h.update(&pw);
    h.update(&plain);
    if h.finalize().as_slice() != check {
        return Err(JksError::KeyPassword {
            alias: alias.to_owned(),
        });
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store built by hand: one trusted certificate, one key entry.
    fn store(password: &str, key: &[u8], key_password: &str) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(MAGIC.to_be_bytes());
        b.extend(2u32.to_be_bytes());
        b.extend(2u32.to_be_bytes());
        let utf = |b: &mut Vec<u8>, s: &str| {
            b.extend((s.len() as u16).to_be_bytes());
            b.extend(s.as_bytes());
        };
        // trusted
        b.extend(2u32.to_be_bytes());
        utf(&mut b, "ca");
        b.extend(0u64.to_be_bytes());
        utf(&mut b, "X.509");
        b.extend(3u32.to_be_bytes());
        b.extend([1, 2, 3]);
        // key
        b.extend(1u32.to_be_bytes());
        utf(&mut b, "me");
        b.extend(0u64.to_be_bytes());
        let enc = protect(key, key_password);
        b.extend((enc.len() as u32).to_be_bytes());
        b.extend(&enc);
        b.extend(1u32.to_be_bytes());
        utf(&mut b, "X.509");
        b.extend(2u32.to_be_bytes());
        b.extend([9, 9]);
        let mut h = Sha1::new();
        h.update(password_bytes(password));
        h.update(WHITENER);
        h.update(&b);
        let d = h.finalize();
        b.extend(d);
        b
    }

    fn protect(key: &[u8], password: &str) -> Vec<u8> {
        let pw = password_bytes(password);
        let salt = [7u8; 20];
        let mut out = salt.to_vec();
        let mut d = salt.to_vec();
        let mut i = 0;
        while i < key.len() {
            let mut h = Sha1::new();
            h.update(&pw);
            h.update(&d);
            d = h.finalize().to_vec();
            for k in &d {
                if i < key.len() {
                    out.push(key[i] ^ k);
                    i += 1;
                }
            }
        }
        let mut h = Sha1::new();
        h.update(&pw);
        h.update(key);
        out.extend(h.finalize());
        let mut alg = vec![0x06, KEY_PROTECTOR_OID.len() as u8];
        alg.extend(KEY_PROTECTOR_OID);
        alg.extend([0x05, 0x00]);
        let mut body = vec![0x30, alg.len() as u8];
        body.extend(alg);
        body.push(0x04);
        body.push(0x81);
        body.push(out.len() as u8);
        body.extend(out);
        let mut der = vec![0x30, 0x81, body.len() as u8];
        der.extend(body);
        der
    }

    #[test]
    fn reads_entries_checks_the_digest_and_recovers_the_key() {
        let key = b"a pkcs8 key that is longer than twenty bytes".to_vec();
        let b = store("changeit", &key, "changeit");
        let s = JksStore::parse(&b, Some("changeit")).unwrap();
        assert_eq!(s.entries.len(), 2);
        assert_eq!(
            s.entries[0],
            JksEntry::Trusted {
                alias: "ca".into(),
                cert: vec![1, 2, 3]
            }
        );
        let JksEntry::PrivateKey {
            encrypted_key,
            chain,
            ..
        } = &s.entries[1]
        else {
            panic!("no key entry")
        };
        assert_eq!(chain, &vec![vec![9, 9]]);
        assert_eq!(recover_key("me", encrypted_key, "changeit").unwrap(), key);
        assert!(matches!(
            recover_key("me", encrypted_key, "wrong"),
            Err(JksError::KeyPassword { .. })
        ));
        assert_eq!(JksStore::parse(&b, Some("wrong")), Err(JksError::Integrity));
        assert!(JksStore::parse(&b, None).is_ok());
    }

    /// A store made by JDK's keytool (installed with the JDK the tests run Apache on).
    #[test]
    fn reads_a_keytool_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.jks");
        let out = std::process::Command::new("keytool")
            .args([
                "-genkeypair",
                "-keyalg",
                "RSA",
                "-keysize",
                "2048",
                "-alias",
                "me",
            ])
            .args(["-dname", "CN=keytool test,O=Example", "-validity", "2"])
            .args([
                "-storetype",
                "JKS",
                "-storepass",
                "s3cret!",
                "-keypass",
                "s3cret!",
            ])
            .arg("-keystore")
            .arg(&path)
            .output()
            .expect("keytool (a JDK) is needed for this test");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let data = std::fs::read(&path).unwrap();
        assert_eq!(
            JksStore::parse(&data, Some("wrong")),
            Err(JksError::Integrity)
        );
        let store = JksStore::parse(&data, Some("s3cret!")).unwrap();
        let [JksEntry::PrivateKey {
            alias,
            encrypted_key,
            chain,
        }] = &store.entries[..]
        else {
            panic!("one key entry expected: {store:?}")
        };
        assert_eq!(alias, "me");
        let key = recover_key(alias, encrypted_key, "s3cret!").unwrap();
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(key.into());
        assert!(rustls::crypto::ring::sign::any_supported_type(&key).is_ok());
        assert_eq!(
            crate::tls::dn::subject_rfc2253(&chain[0]).unwrap(),
            "CN=keytool test,O=Example"
        );
    }

    #[test]
    fn damaged_stores_are_errors_not_panics() {
        let b = store("pw", b"0123456789012345678901234", "pw");
        for cut in 0..b.len() {
            let _ = JksStore::parse(&b[..cut], Some("pw"));
        }
        assert_eq!(
            JksStore::parse(&[0, 0, 0, 0], None),
            Err(JksError::BadMagic(0))
        );
        let mut huge = b[..12].to_vec();
        huge[11] = 0xff;
        huge.extend(1u32.to_be_bytes());
        huge.extend([0xff, 0xff]);
        assert_eq!(JksStore::parse(&huge, None), Err(JksError::Truncated));
    }
}
