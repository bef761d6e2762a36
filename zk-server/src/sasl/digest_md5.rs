//! The server side of SASL DIGEST-MD5 (RFC 2831) as Java's `DigestMD5Server` runs it
//! for ZooKeeper: protocol `zookeeper`, server name and realm `zk-sasl-md5`, quality of
//! protection `auth` only (no integrity or confidentiality layer), UTF-8.
//!
//! ```text
//! client: (empty token)
//! server: digest-challenge := realm="zk-sasl-md5",nonce="<40 base64 chars>",charset=utf-8,algorithm=md5-sess
//! client: digest-response  := 1#( directive '=' ( token | quoted-string ) )
//!         directives: username, realm, nonce, cnonce, nc, qop, digest-uri, response,
//!                     maxbuf, charset, cipher, authzid, auth-param (others ignored)
//! server: rspauth=<32 lower-case hex>        (the exchange is complete)
//!
//! H(x) = MD5(x); HEX(x) = lower-case hex
//! A1 = H(user ":" realm ":" password) ":" nonce ":" cnonce [ ":" authzid ]
//! A2 = "AUTHENTICATE:" digest-uri   (rspauth: ":" digest-uri)
//! response = HEX(H(HEX(H(A1)) ":" nonce ":" "00000001" ":" cnonce ":" "auth" ":" HEX(H(A2))))
//! ```
//!
//! A wrong or malformed response, or any token after it, fails with a
//! [`SaslError`] whose message is Java's, and the caller closes the connection.

use std::sync::Arc;

use base64::Engine;
use md5::{Digest, Md5};

use super::{Credentials, Mechanism, SaslError, Step};

/// The protocol and server name ZooKeeper gives Java's SASL server for DIGEST-MD5.
pub const PROTOCOL: &str = "zookeeper";
pub const SERVER_NAME: &str = "zk-sasl-md5";
/// The largest response Java's DigestMD5Server evaluates.
pub const MAX_RESPONSE_LENGTH: usize = 4096;

/// The directives a digest-response may carry (RFC 2831 2.1.2); others are ignored.
pub const KEYS: [&str; 13] = [
    "username",
    "realm",
    "nonce",
    "cnonce",
    "nc",
    "qop",
    "digest-uri",
    "response",
    "maxbuf",
    "charset",
    "cipher",
    "authzid",
    "auth-param",
];

/// A digest-response's directives by name; each at most once.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Directives {
    values: [Option<Vec<u8>>; KEYS.len()],
}

impl Directives {
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        let i = KEYS.iter().position(|k| *k == key)?;
        self.values[i].as_deref()
    }

    fn put(&mut self, key: &[u8], value: Vec<u8>) -> Result<(), SaslError> {
        let Some(i) = KEYS
            .iter()
            .position(|k| k.as_bytes().eq_ignore_ascii_case(key))
        else {
            return Ok(());
        };
        if self.values[i].is_some() {
            return Err(SaslError::new(format!(
                "DIGEST-MD5: peer sent more than one {} directive: {}",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(&value)
            )));
        }
        self.values[i] = Some(value);
        Ok(())
    }
}

fn is_lws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn skip_lws(buf: &[u8], mut i: usize) -> usize {
    while i < buf.len() && is_lws(buf[i]) {
        i += 1;
    }
    i
}

/// Splits a digest-response into its directives, as Java's `parseDirectives` does:
/// `key=value` or `key="quoted \"value\""`, separated by commas and linear white space,
/// keys compared without case, empty elements skipped.
pub fn parse_directives(buf: &[u8]) -> Result<Directives, SaslError> {
    let bad = |m: String| SaslError::new(m);
    let mut out = Directives::default();
    let mut key = Vec::new();
    let mut value = Vec::new();
    let mut getting_key = true;
    let mut quoted = false;
    let mut expect_separator = false;
    let mut i = skip_lws(buf, 0);
    while i < buf.len() {
        let c = buf[i];
        if getting_key {
            if c == b',' {
                if !key.is_empty() {
                    return Err(bad(format!(
                        "Directive key contains a ',':{}",
                        String::from_utf8_lossy(&key)
                    )));
                }
                i = skip_lws(buf, i + 1);
            } else if c == b'=' {
                if key.is_empty() {
                    return Err(bad("Empty directive key".into()));
                }
                getting_key = false;
                i = skip_lws(buf, i + 1);
                if i < buf.len() {
                    if buf[i] == b'"' {
                        quoted = true;
                        i += 1;
                    }
                } else {
                    return Err(bad(format!(
                        "Valueless directive found: {}",
                        String::from_utf8_lossy(&key)
                    )));
                }
            } else if is_lws(c) {
                i = skip_lws(buf, i + 1);
                if i >= buf.len() || buf[i] != b'=' {
                    return Err(bad(format!(
                        "'=' expected after key: {}",
                        String::from_utf8_lossy(&key)
                    )));
                }
            } else {
                key.push(c);
                i += 1;
            }
        } else if quoted {
            if c == b'\\' {
                i += 1;
                if i < buf.len() {
                    value.push(buf[i]);
                    i += 1;
                } else {
                    return Err(bad(format!(
                        "Unmatched quote found for directive: {} with value: {}",
                        String::from_utf8_lossy(&key),
                        String::from_utf8_lossy(&value)
                    )));
                }
            } else if c == b'"' {
                i += 1;
                quoted = false;
                expect_separator = true;
            } else {
                value.push(c);
                i += 1;
            }
        } else if is_lws(c) || c == b',' {
            out.put(&key, std::mem::take(&mut value))?;
            key.clear();
            getting_key = true;
            expect_separator = false;
            i = skip_lws(buf, i + 1);
        } else if expect_separator {
            return Err(bad(format!(
                "Expecting comma or linear whitespace after quoted string: \"{}\"",
                String::from_utf8_lossy(&value)
            )));
        } else {
            value.push(c);
            i += 1;
        }
    }
    if quoted {
        return Err(bad(format!(
            "Unmatched quote found for directive: {} with value: {}",
            String::from_utf8_lossy(&key),
            String::from_utf8_lossy(&value)
        )));
    }
    if !key.is_empty() {
        out.put(&key, value)?;
    }
    Ok(out)
}

/// RFC 2831's rule for user names, realms and passwords in A1: ISO 8859-1 when every
/// character fits, UTF-8 otherwise.
fn latin1_or_utf8(s: &str) -> Vec<u8> {
    if s.chars().all(|c| (c as u32) <= 0xff) {
        s.chars().map(|c| c as u8).collect()
    } else {
        s.as_bytes().to_vec()
    }
}

fn hex(bytes: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [HEX[(b >> 4) as usize], HEX[(b & 15) as usize]])
        .collect()
}

/// The response value (RFC 2831 2.1.2.1) for `a2_prefix` "AUTHENTICATE" (the client's
/// response) or "" (the server's rspauth).
#[allow(clippy::too_many_arguments)]
pub fn response_value(
    user: &str,
    realm: &str,
    password: &str,
    nonce: &[u8],
    cnonce: &[u8],
    authzid: Option<&[u8]>,
    digest_uri: &[u8],
    a2_prefix: &str,
) -> Vec<u8> {
    let mut a2 = Vec::new();
    a2.extend_from_slice(a2_prefix.as_bytes());
    a2.push(b':');
    a2.extend_from_slice(digest_uri);
    let mut secret = Vec::new();
    secret.extend(latin1_or_utf8(user));
    secret.push(b':');
    secret.extend(latin1_or_utf8(realm));
    secret.push(b':');
    secret.extend(latin1_or_utf8(password));
    let mut a1 = Md5::digest(&secret).to_vec();
    a1.push(b':');
    a1.extend_from_slice(nonce);
    a1.push(b':');
    a1.extend_from_slice(cnonce);
    if let Some(z) = authzid {
        a1.push(b':');
        a1.extend_from_slice(z);
    }
    let mut kd = hex(&Md5::digest(&a1));
    kd.push(b':');
    kd.extend_from_slice(nonce);
    kd.extend_from_slice(b":00000001:");
    kd.extend_from_slice(cnonce);
    kd.extend_from_slice(b":auth:");
    kd.extend(hex(&Md5::digest(&a2)));
    hex(&Md5::digest(&kd))
}

/// Equal without leaving the position of the first difference in the time taken.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

enum State {
    /// Waiting for the client's empty first token.
    Start,
    /// The challenge went out with this nonce.
    Challenged { nonce: Vec<u8> },
    /// Complete or failed: any further token is refused.
    Done,
}

/// One connection's DIGEST-MD5 exchange.
pub struct DigestMd5Server {
    credentials: Arc<Credentials>,
    state: State,
    /// The service's protocol and server name (also the realm): ZooKeeper's client
    /// port uses [`PROTOCOL`] / [`SERVER_NAME`], its quorum `zookeeper-quorum` /
    /// `zk-quorum-sasl-md5`.
    protocol: &'static str,
    server_name: &'static str,
}

impl DigestMd5Server {
    pub fn new(credentials: Arc<Credentials>) -> DigestMd5Server {
        Self::for_service(credentials, PROTOCOL, SERVER_NAME)
    }

    /// A server for another service than the client port (the quorum's).
    pub fn for_service(
        credentials: Arc<Credentials>,
        protocol: &'static str,
        server_name: &'static str,
    ) -> DigestMd5Server {
        DigestMd5Server {
            credentials,
            state: State::Start,
            protocol,
            server_name,
        }
    }

    /// The challenge with a fresh nonce: 30 random bytes in base64, as Java's.
    fn challenge(&mut self) -> Result<Vec<u8>, SaslError> {
        let mut raw = [0u8; 30];
        getrandom::getrandom(&mut raw)
            .map_err(|e| SaslError::new(format!("DIGEST-MD5: cannot make a nonce: {e}")))?;
        let nonce = base64::engine::general_purpose::STANDARD
            .encode(raw)
            .into_bytes();
        Ok(self.challenge_with(nonce))
    }

    fn challenge_with(&mut self, nonce: Vec<u8>) -> Vec<u8> {
        let mut out = format!("realm=\"{}\",nonce=\"", self.server_name).into_bytes();
        out.extend_from_slice(&nonce);
        out.extend_from_slice(b"\",charset=utf-8,algorithm=md5-sess");
        self.state = State::Challenged { nonce };
        out
    }

    fn validate(&self, nonce: &[u8], response: &[u8]) -> Result<Step, SaslError> {
        let d = parse_directives(response)?;
        let violation =
            |m: &str| SaslError::new(format!("DIGEST-MD5: digest response format violation. {m}"));
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        if let Some(cs) = d.get("charset") {
            if cs != b"utf-8" {
                return Err(violation(&format!(
                    "Incompatible charset value: {}",
                    text(cs)
                )));
            }
        }
        let qop = d.get("qop").map(text).unwrap_or_else(|| "auth".into());
        if qop != "auth" {
            return Err(violation(&format!(
                "Client selected unsupported protection: {qop}"
            )));
        }
        if let Some(m) = d.get("maxbuf") {
            if text(m).parse::<i32>().is_err() {
                return Err(violation(&format!("Invalid maxbuf: {}", text(m))));
            }
        }
        let user = text(
            d.get("username")
                .ok_or_else(|| violation("Missing username."))?,
        );
        let realm = d.get("realm").map(text).unwrap_or_default();
        if realm != self.server_name {
            return Err(violation(&format!("Nonexistent realm: {realm}")));
        }
        if d.get("nonce") != Some(nonce) {
            return Err(violation("Mismatched nonce."));
        }
        let cnonce = d
            .get("cnonce")
            .ok_or_else(|| violation("Missing cnonce."))?;
        if let Some(nc) = d.get("nc") {
            if u32::from_str_radix(&text(nc), 16) != Ok(1) {
                return Err(violation(&format!(
                    "Nonce count does not match: {}",
                    text(nc)
                )));
            }
        }
        let uri = d
            .get("digest-uri")
            .ok_or_else(|| violation("Missing digest-uri."))?;
        let expected_uri = format!("{}/{}", self.protocol, self.server_name);
        if !text(uri).eq_ignore_ascii_case(&expected_uri) {
            return Err(violation(&format!(
                "Mismatched URI: {}; expecting: {expected_uri}",
                text(uri)
            )));
        }
        let sent = d
            .get("response")
            .ok_or_else(|| violation("Missing response."))?;
        let password = self.credentials.password(&user).ok_or_else(|| {
            SaslError::new(format!(
                "DIGEST-MD5: cannot acquire password for {user} in realm : {realm}"
            ))
        })?;
        let authzid = d.get("authzid");
        let expected = response_value(
            &user,
            &realm,
            password,
            nonce,
            cnonce,
            authzid,
            uri,
            "AUTHENTICATE",
        );
        if !same(&expected, sent) {
            return Err(violation("Mismatched response."));
        }
        let mut token = b"rspauth=".to_vec();
        token.extend(response_value(
            &user, &realm, password, nonce, cnonce, authzid, uri, "",
        ));
        Ok(Step::Complete {
            token: Some(token),
            authentication_id: user,
        })
    }
}

impl Mechanism for DigestMd5Server {
    fn name(&self) -> &'static str {
        "DIGEST-MD5"
    }

    fn evaluate(&mut self, token: &[u8]) -> Result<Step, SaslError> {
        if token.len() > MAX_RESPONSE_LENGTH {
            self.state = State::Done;
            return Err(SaslError::new(format!(
                "DIGEST-MD5: Invalid digest response length. Got:  {} Expected < {MAX_RESPONSE_LENGTH}",
                token.len()
            )));
        }
        match std::mem::replace(&mut self.state, State::Done) {
            // The client's first token should be empty; Apache 3.8 on Java 17 answers any
            // first token with the challenge, and so do we.
            State::Start => Ok(Step::Challenge(self.challenge()?)),
            State::Challenged { nonce } => self.validate(&nonce, token),
            State::Done => Err(SaslError::new("DIGEST-MD5: Server at illegal state".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> DigestMd5Server {
        let creds = Credentials::from_users([("bob".to_string(), "bobsecret".to_string())]);
        DigestMd5Server::new(Arc::new(creds))
    }

    /// A client's response as puresasl and Java's client write it.
    fn client_response(nonce: &str, user: &str, password: &str, authzid: Option<&str>) -> Vec<u8> {
        let uri = b"zookeeper/zk-sasl-md5";
        let resp = response_value(
            user,
            SERVER_NAME,
            password,
            nonce.as_bytes(),
            b"OA6MHXh6VqTrRk",
            authzid.map(str::as_bytes),
            uri,
            "AUTHENTICATE",
        );
        let mut s = format!(
            "charset=utf-8,username=\"{user}\",realm=\"zk-sasl-md5\",nonce=\"{nonce}\",nc=00000001,cnonce=\"OA6MHXh6VqTrRk\",digest-uri=\"zookeeper/zk-sasl-md5\",maxbuf=65536,response={},qop=auth",
            String::from_utf8(resp).unwrap()
        );
        if let Some(z) = authzid {
            s.push_str(&format!(",authzid=\"{z}\""));
        }
        s.into_bytes()
    }

    #[test]
    fn rfc_2831_example_response() {
        // RFC 2831 4, the IMAP example (digest-uri imap/elwood.innosoft.com).
        let r = response_value(
            "chris",
            "elwood.innosoft.com",
            "secret",
            b"OA6MG9tEQGm2hh",
            b"OA6MHXh6VqTrRk",
            None,
            b"imap/elwood.innosoft.com",
            "AUTHENTICATE",
        );
        assert_eq!(r, b"d388dad90d4bbd760a152321f2143af7");
        let rspauth = response_value(
            "chris",
            "elwood.innosoft.com",
            "secret",
            b"OA6MG9tEQGm2hh",
            b"OA6MHXh6VqTrRk",
            None,
            b"imap/elwood.innosoft.com",
            "",
        );
        assert_eq!(rspauth, b"ea40f60335c427b5527b84dbabcdfffd");
    }

    #[test]
    fn a_full_exchange_and_its_failures() {
        let mut s = server();
        let Step::Challenge(c) = s.evaluate(b"").unwrap() else {
            panic!("no challenge")
        };
        let c = String::from_utf8(c).unwrap();
        assert!(c.starts_with("realm=\"zk-sasl-md5\",nonce=\""), "{c}");
        assert!(c.ends_with("\",charset=utf-8,algorithm=md5-sess"), "{c}");
        let nonce = &c[27..67];
        assert_eq!(nonce.len(), 40);
        let Step::Complete {
            token,
            authentication_id,
        } = s
            .evaluate(&client_response(nonce, "bob", "bobsecret", Some("admin")))
            .unwrap()
        else {
            panic!("not complete")
        };
        assert_eq!(authentication_id, "bob");
        assert!(token.unwrap().starts_with(b"rspauth="));
        // Nothing after completion.
        assert!(s.evaluate(b"").is_err());

        let mut s = server();
        s.challenge_with(b"n".to_vec());
        let e = s
            .evaluate(&client_response("n", "bob", "wrong", None))
            .unwrap_err();
        assert!(e.to_string().contains("Mismatched response"), "{e}");
        let mut s = server();
        s.challenge_with(b"n".to_vec());
        let e = s
            .evaluate(&client_response("n", "eve", "x", None))
            .unwrap_err();
        assert!(
            e.to_string().contains("cannot acquire password for eve"),
            "{e}"
        );
        let mut s = server();
        s.challenge_with(b"n".to_vec());
        let e = s
            .evaluate(&client_response("other", "bob", "bobsecret", None))
            .unwrap_err();
        assert!(e.to_string().contains("Mismatched nonce"), "{e}");
        let mut s = server();
        assert!(matches!(
            s.evaluate(b"username=bob"),
            Ok(Step::Challenge(_))
        ));
        let mut s = server();
        s.challenge_with(b"n".to_vec());
        let e = s.evaluate(b"garbage").unwrap_err();
        assert!(e.to_string().contains("Missing username"), "{e}");
    }

    #[test]
    fn directives_as_java_splits_them() {
        let d = parse_directives(b" Username = \"a\\\"b\" ,, realm=r\t,x=1,qop=auth").unwrap();
        assert_eq!(d.get("username"), Some(&b"a\"b"[..]));
        assert_eq!(d.get("realm"), Some(&b"r"[..]));
        assert_eq!(d.get("qop"), Some(&b"auth"[..]));
        assert!(parse_directives(b"username=a,username=b").is_err());
        assert!(parse_directives(b"username=\"a").is_err());
        assert!(parse_directives(b"username=\"a\"b").is_err());
        assert!(parse_directives(b"=a").is_err());
        assert!(parse_directives(b"username").is_ok());
        assert!(parse_directives(b"user name=a").is_err());
        assert!(parse_directives(b"username=").is_err());
    }
}
