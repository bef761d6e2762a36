//! Quorum SASL with DIGEST-MD5, configured as Apache's `QuorumPeer` is: with
//! `quorum.auth.enableSasl` the JAAS section `quorum.auth.server.saslLoginContext`
//! (default `QuorumServer`, `DigestLoginModule` with `user_<name>="password"`)
//! checks the peers that connect to us, and `quorum.auth.learner.saslLoginContext`
//! (default `QuorumLearner`, `username` / `password`) is what we prove when we
//! connect. Both sections must exist, as Apache's server does not start without
//! them either.
//!
//! The service is `zookeeper-quorum/zk-quorum-sasl-md5` (Apache's
//! `QUORUM_SERVER_PROTOCOL_NAME` / `QUORUM_SERVER_SASL_DIGEST`), which is also the
//! realm. The exchange on the wire is zab-net's ([`zab_net::quorum_auth`]); this
//! module gives it the mechanism through [`QuorumSasl`].
//!
//! ```text
//! learner: (empty)
//! server:  realm="zk-quorum-sasl-md5",nonce="..",charset=utf-8,algorithm=md5-sess
//! learner: charset=utf-8,username="u",realm="zk-quorum-sasl-md5",nonce="..",nc=00000001,
//!          cnonce="..",digest-uri="zookeeper-quorum/zk-quorum-sasl-md5",maxbuf=65536,
//!          response=<32 hex>,qop=auth
//! server:  rspauth=<32 hex>                      (status SUCCESS)
//! ```
//!
//! Kerberos (`quorum.auth.kerberos.servicePrincipal`) is not done.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use zab_net::quorum_auth::{QuorumAuth, QuorumSasl, SaslClientExchange, SaslServerExchange};
use zab_net::ServerStep;

use super::digest_md5::{parse_directives, response_value, DigestMd5Server};
use super::{jaas, Credentials, Mechanism, Step, DIGEST_LOGIN_MODULE, JAAS_FILE};
use crate::config::Config;

pub const PROTOCOL: &str = "zookeeper-quorum";
pub const SERVER_NAME: &str = "zk-quorum-sasl-md5";

/// The client side of DIGEST-MD5 (RFC 2831) as Java's `DigestMD5Client` answers
/// a ZooKeeper server: no authorization id, qop `auth`, UTF-8.
pub struct DigestMd5Client {
    user: String,
    password: String,
    protocol: &'static str,
    server_name: &'static str,
    state: ClientState,
}

enum ClientState {
    Start,
    /// The response went out; the server's rspauth must be this.
    Responded {
        rspauth: Vec<u8>,
    },
    Complete,
    Failed,
}

impl DigestMd5Client {
    pub fn new(
        user: &str,
        password: &str,
        protocol: &'static str,
        server_name: &'static str,
    ) -> DigestMd5Client {
        DigestMd5Client {
            user: user.to_owned(),
            password: password.to_owned(),
            protocol,
            server_name,
            state: ClientState::Start,
        }
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, String> {
        let d = parse_directives(challenge).map_err(|e| e.0)?;
        let nonce = d
            .get("nonce")
            .ok_or("DIGEST-MD5: digest-challenge format violation: missing nonce")?
            .to_vec();
        let realm = d
            .get("realm")
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .unwrap_or_else(|| self.server_name.to_owned());
        if let Some(qop) = d.get("qop") {
            if !String::from_utf8_lossy(qop)
                .split(',')
                .any(|q| q.trim() == "auth")
            {
                return Err("DIGEST-MD5: server offers no qop auth".into());
            }
        }
        let mut raw = [0u8; 30];
        getrandom::getrandom(&mut raw).map_err(|e| format!("cannot make a cnonce: {e}"))?;
        let cnonce = base64::engine::general_purpose::STANDARD.encode(raw);
        let uri = format!("{}/{}", self.protocol, self.server_name);
        let response = response_value(
            &self.user,
            &realm,
            &self.password,
            &nonce,
            cnonce.as_bytes(),
            None,
            uri.as_bytes(),
            "AUTHENTICATE",
        );
        let rspauth = response_value(
            &self.user,
            &realm,
            &self.password,
            &nonce,
            cnonce.as_bytes(),
            None,
            uri.as_bytes(),
            "",
        );
        self.state = ClientState::Responded { rspauth };
        let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let mut out = format!(
            "charset=utf-8,username=\"{}\",realm=\"{}\",nonce=\"",
            quote(&self.user),
            quote(&realm)
        )
        .into_bytes();
        out.extend_from_slice(&nonce);
        out.extend_from_slice(
            format!(
                "\",nc=00000001,cnonce=\"{cnonce}\",digest-uri=\"{uri}\",maxbuf=65536,response="
            )
            .as_bytes(),
        );
        out.extend_from_slice(&response);
        out.extend_from_slice(b",qop=auth");
        Ok(out)
    }
}

impl SaslClientExchange for DigestMd5Client {
    fn evaluate(&mut self, challenge: &[u8]) -> Result<Option<Vec<u8>>, String> {
        match std::mem::replace(&mut self.state, ClientState::Failed) {
            ClientState::Start => self.respond(challenge).map(Some),
            ClientState::Responded { rspauth } => {
                let got = challenge.strip_prefix(b"rspauth=").ok_or_else(|| {
                    "DIGEST-MD5: the server's last token is not rspauth".to_string()
                })?;
                if got != rspauth.as_slice() {
                    return Err("DIGEST-MD5: mismatched rspauth: the server does not know \
                                our password"
                        .into());
                }
                self.state = ClientState::Complete;
                Ok(None)
            }
            ClientState::Complete | ClientState::Failed => {
                Err("DIGEST-MD5: client at illegal state".into())
            }
        }
    }

    fn is_complete(&self) -> bool {
        matches!(self.state, ClientState::Complete)
    }
}

/// The server side: the DIGEST-MD5 server of the client port with the quorum's names.
struct ServerExchange {
    mech: DigestMd5Server,
    user: Option<String>,
}

impl SaslServerExchange for ServerExchange {
    fn evaluate(&mut self, token: &[u8]) -> Result<ServerStep, String> {
        match self.mech.evaluate(token).map_err(|e| e.0)? {
            Step::Challenge(c) => Ok(ServerStep::Challenge(c)),
            Step::Complete {
                token,
                authentication_id,
            } => {
                self.user = Some(authentication_id);
                Ok(ServerStep::Complete(token))
            }
        }
    }

    fn authorized_id(&self) -> Option<String> {
        self.user.clone()
    }
}

/// The two logins of quorum SASL.
#[derive(Debug)]
pub struct QuorumDigest {
    server: Arc<Credentials>,
    learner_user: String,
    learner_password: String,
}

impl QuorumSasl for QuorumDigest {
    fn server(&self) -> Result<Box<dyn SaslServerExchange>, String> {
        Ok(Box::new(ServerExchange {
            mech: DigestMd5Server::for_service(self.server.clone(), PROTOCOL, SERVER_NAME),
            user: None,
        }))
    }

    fn client(&self) -> Result<Box<dyn SaslClientExchange>, String> {
        Ok(Box::new(DigestMd5Client::new(
            &self.learner_user,
            &self.learner_password,
            PROTOCOL,
            SERVER_NAME,
        )))
    }
}

/// The quorum authentication the configuration asks for; an error (missing JAAS
/// file or section, a login module other than DigestLoginModule) stops the server.
pub fn quorum_auth(cfg: &Config) -> Result<QuorumAuth, String> {
    let qa = &cfg.quorum_auth;
    let mut auth = QuorumAuth {
        learner_require: qa.learner_require_sasl,
        server_require: qa.server_require_sasl,
        ..QuorumAuth::default()
    };
    if !qa.enable_sasl {
        return Ok(auth);
    }
    let file = cfg.prop(JAAS_FILE).ok_or_else(|| {
        format!(
            "quorum.auth.enableSasl is true but no JAAS file is given \
             (-D{JAAS_FILE}=... in SERVER_JVMFLAGS)"
        )
    })?;
    let jaas = jaas::JaasConfig::load(Path::new(file)).map_err(|e| e.to_string())?;
    let section = |name: &str| {
        let entries = jaas.section(name).ok_or_else(|| {
            format!(
                "SASL-authentication failed because the specified JAAS configuration \
                 section '{name}' could not be found in {file}"
            )
        })?;
        for e in entries {
            if e.class != DIGEST_LOGIN_MODULE {
                return Err(format!(
                    "{file}: section {name:?}: login module {} is not supported for quorum \
                     SASL (only {DIGEST_LOGIN_MODULE}; Kerberos is not done)",
                    e.class
                ));
            }
        }
        Ok(entries)
    };
    let mut users = Vec::new();
    for e in section(&qa.server_login_context)? {
        for (k, v) in &e.options {
            if let Some(u) = k.strip_prefix("user_") {
                users.push((u.to_owned(), v.clone()));
            }
        }
    }
    let learner = section(&qa.learner_login_context)?;
    let (user, password) = learner
        .iter()
        .find_map(|e| Some((e.option("username")?, e.option("password")?)))
        .ok_or_else(|| {
            format!(
                "{file}: section {:?} has no username and password",
                qa.learner_login_context
            )
        })?;
    tracing::info!(
        server_section = %qa.server_login_context,
        learner_section = %qa.learner_login_context,
        users = users.len(),
        learner_require = qa.learner_require_sasl,
        server_require = qa.server_require_sasl,
        "quorum SASL (DIGEST-MD5) from {file}"
    );
    auth.sasl = Some(Arc::new(QuorumDigest {
        server: Arc::new(Credentials::from_users(users)),
        learner_user: user.to_owned(),
        learner_password: password.to_owned(),
    }));
    Ok(auth)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(client_pw: &str, server_pw: &str) -> Result<(), String> {
        let creds = Arc::new(Credentials::from_users([(
            "peer".to_string(),
            server_pw.to_string(),
        )]));
        let mut s = DigestMd5Server::for_service(creds, PROTOCOL, SERVER_NAME);
        let mut c = DigestMd5Client::new("peer", client_pw, PROTOCOL, SERVER_NAME);
        let Step::Challenge(ch) = s.evaluate(b"").map_err(|e| e.0)? else {
            panic!("no challenge")
        };
        assert!(ch.starts_with(b"realm=\"zk-quorum-sasl-md5\",nonce=\""));
        let resp = c.evaluate(&ch)?.expect("a response");
        let text = String::from_utf8(resp.clone()).unwrap();
        assert!(
            text.contains("digest-uri=\"zookeeper-quorum/zk-quorum-sasl-md5\""),
            "{text}"
        );
        match s.evaluate(&resp).map_err(|e| e.0)? {
            Step::Complete {
                token: Some(t),
                authentication_id,
            } => {
                assert_eq!(authentication_id, "peer");
                assert_eq!(c.evaluate(&t)?, None);
                assert!(c.is_complete());
                Ok(())
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn our_client_and_server_agree() {
        exchange("secret", "secret").unwrap();
        let e = exchange("wrong", "secret").unwrap_err();
        assert!(e.contains("Mismatched response"), "{e}");
    }

    #[test]
    fn a_forged_rspauth_is_refused() {
        let mut c = DigestMd5Client::new("peer", "pw", PROTOCOL, SERVER_NAME);
        c.evaluate(b"realm=\"zk-quorum-sasl-md5\",nonce=\"abc\",charset=utf-8,algorithm=md5-sess")
            .unwrap();
        assert!(c
            .evaluate(b"rspauth=00000000000000000000000000000000")
            .is_err());
        assert!(!c.is_complete());
    }

    #[test]
    fn sections_come_from_the_jaas_file() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("jaas.conf");
        std::fs::File::create(&f)
            .unwrap()
            .write_all(
                b"QuorumServer { org.apache.zookeeper.server.auth.DigestLoginModule required\n\
                  user_test=\"test\"; };\n\
                  QuorumLearner { org.apache.zookeeper.server.auth.DigestLoginModule required\n\
                  username=\"test\" password=\"test\"; };\n",
            )
            .unwrap();
        let mut cfg = Config::default();
        cfg.quorum_auth.enable_sasl = true;
        cfg.quorum_auth.learner_require_sasl = true;
        assert!(quorum_auth(&cfg).unwrap_err().contains("no JAAS file"));
        cfg.system_props
            .insert(JAAS_FILE.into(), f.display().to_string());
        let a = quorum_auth(&cfg).unwrap();
        assert!(a.sasl.is_some() && a.learner_require && !a.server_require);
        cfg.quorum_auth.learner_login_context = "Nope".into();
        let e = quorum_auth(&cfg).unwrap_err();
        assert!(e.contains("'Nope' could not be found"), "{e}");
        cfg.quorum_auth.enable_sasl = false;
        assert!(quorum_auth(&cfg).unwrap().sasl.is_none());
    }
}
