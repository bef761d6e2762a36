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
//! With `com.sun.security.auth.module.Krb5LoginModule` in both sections the
//! mechanism is GSSAPI, as Apache's `SecurityUtils` chooses it when the login has a
//! principal ([`QuorumKerberos`]):
//!
//! - the server side accepts with the `QuorumServer` section's `keyTab` and
//!   `principal` (that keytab only: MIT's credential store, not the process's acceptor
//!   keytab that a client-port `Server` section registers);
//! - the learner logs in as the `QuorumLearner` section's `principal` from its
//!   `keyTab` (the ticket is kept in a `MEMORY:` cache of the process) and asks for
//!   `quorum.auth.kerberos.servicePrincipal` (default `zkquorum/localhost`), where a
//!   host part `_HOST` becomes the peer's host as its `server.N` line gives it, in
//!   lower case (`SecurityUtils.getServerPrincipal`); without `@REALM` the learner's
//!   realm (or `zookeeper.server.realm`) is added;
//! - the server authorizes a learner whose authorization id is its principal and,
//!   for a `service/host@REALM` principal, whose host is the host of one of the
//!   `server.N` lines (`SaslQuorumServerCallbackHandler`'s authorized hosts).
//!
//! ```text
//! learner: AP-REQ                        (Java: hasInitialResponse)
//! server:  AP-REP                        (mutual authentication)
//! learner: (empty)
//! server:  wrap(01 00 00 00 | 01 01 00 00)   security layer offer: none, 65536
//! learner: wrap(01 00 00 00 principal)       no security layer, authzid
//! server:  (null token)                  (status SUCCESS)
//! ```

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use zab_net::quorum_auth::{QuorumAuth, QuorumSasl, SaslClientExchange, SaslServerExchange};
use zab_net::ServerStep;

use super::digest_md5::{parse_directives, response_value, DigestMd5Server};
use super::gss_ffi::{GssCred, GssName};
use super::gssapi::{self, GssapiClient, GssapiServer, KerberosLogin, KRB5_LOGIN_MODULE};
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

    fn client(&self, _: SocketAddr) -> Result<Box<dyn SaslClientExchange>, String> {
        Ok(Box::new(DigestMd5Client::new(
            &self.learner_user,
            &self.learner_password,
            PROTOCOL,
            SERVER_NAME,
        )))
    }
}

/// `zookeeper.server.realm`: the realm of the quorum's service principal when
/// `quorum.auth.kerberos.servicePrincipal` names none (default: the learner's).
pub const SERVER_REALM: &str = "zookeeper.server.realm";
/// The host part of a service principal that stands for the peer's host.
pub const HOST_PATTERN: &str = "_HOST";
/// The credential cache of the learner's tickets, one per process.
const LEARNER_CCACHE: &str = "MEMORY:zk-quorum-learner";

/// Apache's `SecurityUtils.getServerPrincipal`: `service/_HOST` (3.8, which replaces
/// only that form) or `service/_HOST@REALM` (3.9) with the peer's host in lower case
/// (this host's name when the peer's is empty or 0.0.0.0); any other principal as it is.
pub fn server_principal(template: &str, host: &str) -> String {
    let Some((service, rest)) = template.split_once('/') else {
        return template.to_owned();
    };
    let realm = match rest.split_once('@') {
        None if rest == HOST_PATTERN => None,
        Some((HOST_PATTERN, r)) if !r.contains(['/', '@']) => Some(r),
        _ => return template.to_owned(),
    };
    if service.contains('@') {
        return template.to_owned();
    }
    let host = if host.is_empty() || host == "0.0.0.0" {
        local_host_name()
    } else {
        host.to_owned()
    };
    match realm {
        None => format!("{service}/{}", host.to_lowercase()),
        Some(r) => format!("{service}/{}@{r}", host.to_lowercase()),
    }
}

fn local_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// Quorum SASL with Kerberos (GSSAPI): the `QuorumServer` login accepts, the
/// `QuorumLearner` login initiates.
#[derive(Debug)]
pub struct QuorumKerberos {
    server: Arc<KerberosLogin>,
    learner_principal: String,
    learner_keytab: PathBuf,
    /// `quorum.auth.kerberos.servicePrincipal`, before `_HOST` is replaced.
    service_principal: String,
    /// The realm added to a service principal without one.
    server_realm: String,
    /// The host of each peer's `server.N` line, by the addresses it resolved to.
    hosts: HashMap<SocketAddr, String>,
    /// The hosts of the `server.N` lines: a learner's principal must name one.
    authz_hosts: HashSet<String>,
}

impl QuorumKerberos {
    /// The learner's credentials, from its keytab (a ticket from the KDC if the
    /// cache has none that is valid).
    fn learner_cred(&self) -> Result<GssCred, String> {
        let name = GssName::krb5_principal(&self.learner_principal)
            .map_err(|e| format!("principal {:?}: {e}", self.learner_principal))?;
        GssCred::acquire_from(
            Some(&name),
            true,
            &[
                ("client_keytab", &self.learner_keytab.display().to_string()),
                ("ccache", LEARNER_CCACHE),
            ],
        )
        .map_err(|e| {
            format!(
                "cannot log in as {} from keyTab {}: {e}",
                self.learner_principal,
                self.learner_keytab.display()
            )
        })
    }

    /// The service principal to ask for when connecting to `peer`.
    pub fn target(&self, peer: SocketAddr) -> String {
        let host = self
            .hosts
            .get(&peer)
            .cloned()
            .unwrap_or_else(|| peer.ip().to_string());
        let p = server_principal(&self.service_principal, &host);
        if p.contains('@') {
            p
        } else {
            format!("{p}@{}", self.server_realm)
        }
    }

    /// `SaslQuorumServerCallbackHandler.handleAuthorizeCallback`.
    fn authorize(&self, authentication_id: &str, authorization_id: &str) -> Result<(), String> {
        if authentication_id != authorization_id {
            return Err(format!(
                "SASL authorization failed: {authentication_id} asked to act as \
                 {authorization_id}"
            ));
        }
        let parts: Vec<&str> = authorization_id.split(['/', '@']).collect();
        if parts.len() == 3 && !self.authz_hosts.contains(parts[1]) {
            return Err(format!(
                "SASL authorization completed, {} is not authorized to connect \
                 (not a host of the server.N lines)",
                parts[1]
            ));
        }
        Ok(())
    }
}

struct KerberosServerExchange {
    mech: GssapiServer,
    quorum: Arc<QuorumKerberos>,
    user: Option<String>,
}

impl SaslServerExchange for KerberosServerExchange {
    fn evaluate(&mut self, token: &[u8]) -> Result<ServerStep, String> {
        match self.mech.evaluate(token).map_err(|e| e.0)? {
            Step::Challenge(c) => Ok(ServerStep::Challenge(c)),
            Step::Complete { token, .. } => {
                let authn = self.mech.principal().to_owned();
                self.quorum
                    .authorize(&authn, self.mech.authorization_id())?;
                self.user = Some(authn);
                Ok(ServerStep::Complete(token))
            }
        }
    }

    fn authorized_id(&self) -> Option<String> {
        self.user.clone()
    }
}

struct KerberosClientExchange(GssapiClient);

impl SaslClientExchange for KerberosClientExchange {
    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, String> {
        self.0.initial().map(Some)
    }

    fn evaluate(&mut self, challenge: &[u8]) -> Result<Option<Vec<u8>>, String> {
        self.0.evaluate(challenge).map(Some)
    }

    fn is_complete(&self) -> bool {
        self.0.is_complete()
    }
}

/// The [`QuorumSasl`] of Kerberos (an `Arc` inside, as each exchange needs it).
#[derive(Debug)]
pub struct QuorumGssapi(Arc<QuorumKerberos>);

impl QuorumSasl for QuorumGssapi {
    fn server(&self) -> Result<Box<dyn SaslServerExchange>, String> {
        Ok(Box::new(KerberosServerExchange {
            mech: GssapiServer::new(self.0.server.clone()),
            quorum: self.0.clone(),
            user: None,
        }))
    }

    fn client(&self, peer: SocketAddr) -> Result<Box<dyn SaslClientExchange>, String> {
        let cred = self.0.learner_cred()?;
        let target = self.0.target(peer);
        let client = GssapiClient::new(cred, &target, &self.0.learner_principal)?;
        Ok(Box::new(KerberosClientExchange(client)))
    }
}

/// The quorum authentication the configuration asks for; an error (missing JAAS
/// file or section, a login module that is not DigestLoginModule or
/// Krb5LoginModule, a Kerberos login that fails) stops the server. `hosts` maps the
/// resolved addresses of the `server.N` lines back to their hosts (for `_HOST`).
pub fn quorum_auth(cfg: &Config, hosts: HashMap<SocketAddr, String>) -> Result<QuorumAuth, String> {
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
    // Whether a section is Kerberos (true) or DIGEST-MD5 (false).
    let section = |name: &str| {
        let entries = jaas.section(name).ok_or_else(|| {
            format!(
                "SASL-authentication failed because the specified JAAS configuration \
                 section '{name}' could not be found in {file}"
            )
        })?;
        let mut kerberos = None;
        for e in entries {
            let k = match e.class.as_str() {
                DIGEST_LOGIN_MODULE => false,
                KRB5_LOGIN_MODULE => true,
                other => {
                    return Err(format!(
                        "{file}: section {name:?}: login module {other} is not supported for \
                         quorum SASL (only {DIGEST_LOGIN_MODULE} and {KRB5_LOGIN_MODULE})"
                    ))
                }
            };
            if kerberos.is_some_and(|was| was != k) {
                return Err(format!(
                    "{file}: section {name:?} mixes {DIGEST_LOGIN_MODULE} and {KRB5_LOGIN_MODULE}"
                ));
            }
            kerberos = Some(k);
        }
        Ok((entries, kerberos.unwrap_or(false)))
    };
    let (server_entries, server_krb) = section(&qa.server_login_context)?;
    let (learner, learner_krb) = section(&qa.learner_login_context)?;
    if server_krb != learner_krb {
        return Err(format!(
            "{file}: sections {:?} and {:?} must both use {KRB5_LOGIN_MODULE} (Kerberos) or \
             both {DIGEST_LOGIN_MODULE}",
            qa.server_login_context, qa.learner_login_context
        ));
    }
    if server_krb {
        let q = kerberos(cfg, file, server_entries, learner, hosts)?;
        tracing::info!(
            server_section = %qa.server_login_context,
            learner_section = %qa.learner_login_context,
            learner_require = qa.learner_require_sasl,
            server_require = qa.server_require_sasl,
            "quorum SASL (GSSAPI): accepting as {}, learner {}, service principal {}, from {file}",
            q.server.principal.as_deref().unwrap_or("(any in the keytab)"),
            q.learner_principal,
            q.service_principal,
        );
        auth.sasl = Some(Arc::new(QuorumGssapi(Arc::new(q))));
        return Ok(auth);
    }
    let mut users = Vec::new();
    for e in server_entries {
        for (k, v) in &e.options {
            if let Some(u) = k.strip_prefix("user_") {
                users.push((u.to_owned(), v.clone()));
            }
        }
    }
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

/// The two Kerberos logins, each checked as Java's `Login` checks it at start-up:
/// the server's keytab must hold its principal, and the learner's keytab must get a
/// ticket from the KDC.
fn kerberos(
    cfg: &Config,
    file: &str,
    server: &[jaas::Entry],
    learner: &[jaas::Entry],
    hosts: HashMap<SocketAddr, String>,
) -> Result<QuorumKerberos, String> {
    let qa = &cfg.quorum_auth;
    super::use_krb5_conf(cfg);
    let option = |entries: &[jaas::Entry], k: &str| {
        entries.iter().find_map(|e| e.option(k)).map(str::to_owned)
    };
    let default_realm = std::fs::read_to_string(gssapi::krb5_config_path())
        .ok()
        .and_then(|c| gssapi::default_realm_of(&c))
        .unwrap_or_default();
    let keytab = |entries: &[jaas::Entry], section: &str| {
        option(entries, "keyTab").map(PathBuf::from).ok_or_else(|| {
            format!("{file}: section {section:?}: Kerberos needs keyTab (and useKeyTab=true)")
        })
    };
    let server_login = KerberosLogin {
        principal: option(server, "principal"),
        keytab: Some(keytab(server, &qa.server_login_context)?),
        remove_host: false,
        remove_realm: false,
        default_realm: default_realm.clone(),
        rules: Default::default(),
        own_keytab: true,
    };
    server_login.start().map_err(|m| {
        format!(
            "{file}: section {:?}: Kerberos login failed: {m}",
            qa.server_login_context
        )
    })?;
    let learner_principal = option(learner, "principal").ok_or_else(|| {
        format!(
            "{file}: section {:?}: Kerberos needs principal",
            qa.learner_login_context
        )
    })?;
    let learner_realm = gssapi::KerberosName::parse(&learner_principal)
        .realm
        .map(str::to_owned)
        .unwrap_or(default_realm);
    let q = QuorumKerberos {
        server: Arc::new(server_login),
        learner_keytab: keytab(learner, &qa.learner_login_context)?,
        learner_principal,
        service_principal: qa.kerberos_service_principal.clone(),
        server_realm: cfg
            .prop(SERVER_REALM)
            .map(str::to_owned)
            .unwrap_or(learner_realm),
        authz_hosts: cfg.servers.values().map(|s| s.host.clone()).collect(),
        hosts,
    };
    if !q.learner_keytab.exists() {
        return Err(format!(
            "{file}: section {:?}: keyTab {} does not exist",
            qa.learner_login_context,
            q.learner_keytab.display()
        ));
    }
    q.learner_cred().map_err(|m| {
        format!(
            "{file}: section {:?}: Kerberos login failed: {m}",
            qa.learner_login_context
        )
    })?;
    Ok(q)
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
        let q = |cfg: &Config| quorum_auth(cfg, HashMap::new());
        assert!(q(&cfg).unwrap_err().contains("no JAAS file"));
        cfg.system_props
            .insert(JAAS_FILE.into(), f.display().to_string());
        let a = q(&cfg).unwrap();
        assert!(a.sasl.is_some() && a.learner_require && !a.server_require);
        cfg.quorum_auth.learner_login_context = "Nope".into();
        let e = q(&cfg).unwrap_err();
        assert!(e.contains("'Nope' could not be found"), "{e}");
        cfg.quorum_auth.enable_sasl = false;
        assert!(q(&cfg).unwrap().sasl.is_none());
    }

    #[test]
    fn host_patterns_are_replaced_as_apache_replaces_them() {
        assert_eq!(
            server_principal("zkquorum/_HOST@EXAMPLE.COM", "ZK1.example.com"),
            "zkquorum/zk1.example.com@EXAMPLE.COM"
        );
        // Apache 3.8's form, without a realm.
        assert_eq!(server_principal("zkquorum/_HOST", "ZK1"), "zkquorum/zk1");
        // Only a principal whose host is _HOST.
        for p in [
            "zkquorum/localhost",
            "zkquorum/h@R",
            "a@_HOST",
            "a@_HOST@R",
            "_HOST",
        ] {
            assert_eq!(server_principal(p, "h2"), p);
        }
        assert!(!server_principal("s/_HOST@R", "0.0.0.0").contains("0.0.0.0"));
    }

    #[test]
    fn learners_are_authorized_by_their_principal_s_host() {
        let login = KerberosLogin {
            principal: None,
            keytab: None,
            remove_host: false,
            remove_realm: false,
            default_realm: String::new(),
            rules: Default::default(),
            own_keytab: true,
        };
        let addr: SocketAddr = "127.0.0.1:3888".parse().unwrap();
        let q = QuorumKerberos {
            server: Arc::new(login),
            learner_principal: "zkquorum/zk1@R".into(),
            learner_keytab: PathBuf::from("/nonexistent"),
            service_principal: "zkquorum/_HOST@R".into(),
            server_realm: "R".into(),
            hosts: [(addr, "ZK2".to_string())].into_iter().collect(),
            authz_hosts: ["zk1".to_string(), "zk2".to_string()].into_iter().collect(),
        };
        // _HOST: the server.N host, in lower case.
        assert_eq!(q.target(addr), "zkquorum/zk2@R");
        assert_eq!(
            q.target("127.0.0.2:3888".parse().unwrap()),
            "zkquorum/127.0.0.2@R"
        );
        // Without a realm in the setting, the learner's.
        let q = QuorumKerberos {
            service_principal: "zkquorum/localhost".into(),
            ..q
        };
        assert_eq!(q.target(addr), "zkquorum/localhost@R");
        assert!(q.authorize("zkquorum/zk1@R", "zkquorum/zk1@R").is_ok());
        assert!(q.authorize("peer@R", "peer@R").is_ok());
        let e = q
            .authorize("zkquorum/rogue@R", "zkquorum/rogue@R")
            .unwrap_err();
        assert!(e.contains("rogue is not authorized to connect"), "{e}");
        assert!(q.authorize("zkquorum/zk1@R", "zkquorum/zk2@R").is_err());
    }
}
