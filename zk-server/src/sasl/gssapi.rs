//! The server side of SASL GSSAPI (RFC 4752, Kerberos V5) as Java's `GssKrb5Server`
//! runs it for ZooKeeper with quality of protection `auth`: the GSS-API context is
//! accepted with the keytab and principal of the JAAS `Server` section's
//! `Krb5LoginModule`, then the security layer is negotiated, and "no security layer"
//! is the only one offered.
//!
//! ```text
//! client: gss-token (AP-REQ)                 ... until the context is established
//! server: gss-token (AP-REP)                 (when GSS-API has none, the offer at once)
//! client: empty                              (anything else fails, as in Java)
//! server: wrap(offer)        offer  := layers:u8 max-size:u24   layers 0x01: no security layer
//!                                      max-size 65536 (Java's javax.security.sasl.maxbuffer default)
//! client: wrap(choice)       choice := layer:u8 max-size:u24 authzid:utf8*
//! server: (no token)         the exchange is complete
//! ```
//!
//! The authenticated name is the client's principal mapped as Apache's
//! `SaslServerCallbackHandler` maps it ([`map_principal`]): its short name under the
//! DEFAULT `auth_to_local` rule, then `/host` unless `kerberos.removeHostFromPrincipal`
//! and `@REALM` unless `kerberos.removeRealmFromPrincipal`.
//!
//! GSS-API itself is MIT Kerberos' (`libgssapi_krb5.so.2`), loaded at run time by
//! [`super::gss_ffi`]; a Kerberos section without the library stops the server.
//! The keytab is the process's acceptor keytab (MIT's
//! `krb5_gss_register_acceptor_identity`): one server section, one keytab.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use super::gss_ffi::{self, ClientContext, GssCred, GssName, ServerContext};

use super::{Mechanism, SaslError, Step};

/// The login module class whose section makes GSSAPI the mechanism.
pub const KRB5_LOGIN_MODULE: &str = "com.sun.security.auth.module.Krb5LoginModule";

/// The security layers of RFC 4752: only "no security layer" is offered.
pub const NO_SECURITY_LAYER: u8 = 0x01;
/// The largest message Java's server says it can receive (its default maxbuffer).
pub const MAX_RECEIVE_SIZE: u32 = 65536;

/// What the server logged in with: its principal, and the settings that map a
/// client's principal to its `sasl` id.
#[derive(Debug, Clone)]
pub struct KerberosLogin {
    /// `principal` of the Krb5LoginModule entry (`zookeeper/host@REALM`); `None`: any
    /// principal of the keytab.
    pub principal: Option<String>,
    /// `keyTab`; `None`: the default keytab (`KRB5_KTNAME`, else `/etc/krb5.keytab`).
    pub keytab: Option<PathBuf>,
    /// `zookeeper.kerberos.removeHostFromPrincipal`.
    pub remove_host: bool,
    /// `zookeeper.kerberos.removeRealmFromPrincipal`.
    pub remove_realm: bool,
    /// The default realm of the krb5 configuration (the DEFAULT rule's realm);
    /// empty when it has none, as Apache's `KerberosName` leaves it.
    pub default_realm: String,
    /// `zookeeper.security.auth_to_local` (default `DEFAULT`).
    pub rules: super::auth_to_local::Rules,
    /// The keytab is this login's own (MIT's credential store), not the process's
    /// acceptor keytab: quorum SASL's `QuorumServer` beside the client port's `Server`.
    pub own_keytab: bool,
}

impl KerberosLogin {
    /// Registers the keytab and acquires the acceptor credentials once, so that a
    /// missing keytab or principal stops the server at start-up, as Java's login does.
    pub fn start(&self) -> Result<(), String> {
        gss_ffi::ensure_loaded()?;
        if let Some(kt) = &self.keytab {
            if !kt.exists() {
                return Err(format!("keyTab {} does not exist", kt.display()));
            }
            if self.own_keytab {
                return self.acquire().map(drop);
            }
            let c = CString::new(kt.display().to_string())
                .map_err(|_| format!("keyTab {}: NUL in the path", kt.display()))?;
            if let Err(major) = gss_ffi::register_acceptor_identity(&c) {
                return Err(format!(
                    "keyTab {}: cannot register it as the acceptor keytab (GSS major status {major:#x})",
                    kt.display()
                ));
            }
        }
        self.acquire().map(drop)
    }

    /// Acceptor credentials for the configured principal.
    fn acquire(&self) -> Result<GssCred, String> {
        gss_ffi::ensure_loaded()?;
        let name = match &self.principal {
            Some(p) => {
                Some(GssName::krb5_principal(p).map_err(|e| format!("principal {p:?}: {e}"))?)
            }
            None => None,
        };
        let cred = match (&self.keytab, self.own_keytab) {
            (Some(kt), true) => GssCred::acquire_from(
                name.as_ref(),
                false,
                &[("keytab", &kt.display().to_string())],
            ),
            _ => GssCred::acquire_accept(name.as_ref()).map_err(|e| e.to_string()),
        };
        cred.map_err(|e| {
            format!(
                "cannot acquire Kerberos credentials for {} from {}: {e}",
                self.principal.as_deref().unwrap_or("(any principal)"),
                self.keytab
                    .as_ref()
                    .map_or("the default keytab".into(), |k| k.display().to_string())
            )
        })
    }
}

/// The state of one connection's exchange.
enum State {
    /// Accepting the client's GSS-API context tokens.
    Context,
    /// The context is established; the client's next token asks for the offer.
    Offer,
    /// The offer was sent; waiting for the client's wrapped choice.
    Choice,
    Done,
    Failed,
}

/// One connection's GSSAPI exchange.
pub struct GssapiServer {
    login: std::sync::Arc<KerberosLogin>,
    ctx: Option<ServerContext>,
    state: State,
    /// The client's principal, once the context is established.
    peer: String,
    /// The authorization id the client chose (empty: none).
    authzid: String,
}

impl GssapiServer {
    pub fn new(login: std::sync::Arc<KerberosLogin>) -> GssapiServer {
        GssapiServer {
            login,
            ctx: None,
            state: State::Context,
            peer: String::new(),
            authzid: String::new(),
        }
    }

    fn fail(&mut self, m: String) -> SaslError {
        self.state = State::Failed;
        self.ctx = None;
        SaslError::new(m)
    }

    fn accept(&mut self, token: &[u8]) -> Result<Step, SaslError> {
        if self.ctx.is_none() {
            let cred = self
                .login
                .acquire()
                .map_err(|e| self.fail(format!("GSS initiate failed: {e}")))?;
            self.ctx = Some(ServerContext::new(cred));
        }
        let ctx = self.ctx.as_mut().expect("context just made");
        let out = match ctx.step(token) {
            Ok(out) => out,
            Err(e) => return Err(self.fail(format!("GSS initiate failed: {e}"))),
        };
        let complete = ctx.is_complete();
        if complete {
            let peer = ctx
                .source_name()
                .map_err(|e| format!("GSS initiate failed: no source name: {e}"));
            match peer {
                Ok(p) => self.peer = p,
                Err(e) => return Err(self.fail(e)),
            }
            self.state = State::Offer;
            if out.is_empty() {
                // Java's GssKrb5Server: no last context token, so the offer now.
                return self.offer(&[]);
            }
        }
        Ok(Step::Challenge(out))
    }

    fn offer(&mut self, token: &[u8]) -> Result<Step, SaslError> {
        if !token.is_empty() {
            return Err(self.fail("Handshake expecting no response data from server".into()));
        }
        let size = MAX_RECEIVE_SIZE.to_be_bytes();
        let offer = [NO_SECURITY_LAYER, size[1], size[2], size[3]];
        let ctx = self.ctx.as_mut().expect("established context");
        match ctx.wrap(false, &offer) {
            Ok(w) => {
                self.state = State::Choice;
                Ok(Step::Challenge(w))
            }
            Err(e) => Err(self.fail(format!("Problem wrapping handshake1: {e}"))),
        }
    }

    fn choice(&mut self, token: &[u8]) -> Result<Step, SaslError> {
        let ctx = self.ctx.as_mut().expect("established context");
        let choice = match ctx.unwrap(token) {
            Ok(c) => c,
            Err(e) => return Err(self.fail(format!("Final handshake step failed: {e}"))),
        };
        if choice.len() < 4 {
            return Err(self.fail(format!(
                "Final handshake step failed: the client's choice has {} bytes, 4 at least are needed",
                choice.len()
            )));
        }
        if choice[0] & NO_SECURITY_LAYER == 0 {
            return Err(self.fail(format!(
                "Client selected unsupported protection: {}",
                choice[0]
            )));
        }
        self.authzid = String::from_utf8_lossy(&choice[4..]).into_owned();
        self.state = State::Done;
        self.ctx = None;
        let id = map_principal(
            &self.peer,
            &self.login.rules,
            &self.login.default_realm,
            self.login.remove_host,
            self.login.remove_realm,
        );
        Ok(Step::Complete {
            token: None,
            authentication_id: id,
        })
    }
}

impl GssapiServer {
    /// The client's principal, once the context is established (Java's
    /// authentication id).
    pub fn principal(&self) -> &str {
        &self.peer
    }

    /// The authorization id the client asked for, its principal when it named none
    /// (as Java's `GssKrb5Server` has it).
    pub fn authorization_id(&self) -> &str {
        if self.authzid.is_empty() {
            &self.peer
        } else {
            &self.authzid
        }
    }
}

/// The client side of SASL GSSAPI as Java's `GssKrb5Client` runs it: context tokens
/// until the context is established (an empty response when GSS-API has none left),
/// then the server's wrapped offer is answered with "no security layer", a maximum
/// size of 0 and the authorization id, and the exchange is complete.
pub struct GssapiClient {
    ctx: ClientContext,
    authzid: String,
    state: ClientState,
}

enum ClientState {
    Context,
    Offer,
    Done,
    Failed,
}

impl GssapiClient {
    /// Initiates a context to `target` (`service/host@REALM`) with `cred`.
    pub fn new(cred: GssCred, target: &str, authzid: &str) -> Result<GssapiClient, String> {
        let name = GssName::krb5_principal(target)
            .map_err(|e| format!("service principal {target:?}: {e}"))?;
        Ok(GssapiClient {
            ctx: ClientContext::new(cred, name),
            authzid: authzid.to_owned(),
            state: ClientState::Context,
        })
    }

    /// The first token (Java's `hasInitialResponse` is true for GSSAPI).
    pub fn initial(&mut self) -> Result<Vec<u8>, String> {
        self.context(&[])
    }

    fn context(&mut self, token: &[u8]) -> Result<Vec<u8>, String> {
        match self.ctx.step(token) {
            Ok(out) => {
                if self.ctx.is_complete() {
                    self.state = ClientState::Offer;
                }
                Ok(out)
            }
            Err(e) => {
                self.state = ClientState::Failed;
                Err(format!("GSS initiate failed: {e}"))
            }
        }
    }

    /// The answer to the server's `challenge`.
    pub fn evaluate(&mut self, challenge: &[u8]) -> Result<Vec<u8>, String> {
        match self.state {
            ClientState::Context => self.context(challenge),
            ClientState::Offer => {
                self.state = ClientState::Failed;
                let offer = self
                    .ctx
                    .unwrap(challenge)
                    .map_err(|e| format!("Final handshake failed: {e}"))?;
                if offer.len() != 4 {
                    return Err(format!(
                        "Final handshake failed: the server's offer has {} bytes, not 4",
                        offer.len()
                    ));
                }
                if offer[0] & NO_SECURITY_LAYER == 0 {
                    return Err(format!(
                        "No common protection layer between client and server (offered {:#x})",
                        offer[0]
                    ));
                }
                let mut choice = vec![NO_SECURITY_LAYER, 0, 0, 0];
                choice.extend_from_slice(self.authzid.as_bytes());
                let out = self
                    .ctx
                    .wrap(false, &choice)
                    .map_err(|e| format!("Problem wrapping the final handshake: {e}"))?;
                self.state = ClientState::Done;
                Ok(out)
            }
            ClientState::Done => Err("GSSAPI authentication already complete".into()),
            ClientState::Failed => Err("GSSAPI exchange already failed".into()),
        }
    }

    pub fn is_complete(&self) -> bool {
        matches!(self.state, ClientState::Done)
    }
}

impl Mechanism for GssapiServer {
    fn name(&self) -> &'static str {
        "GSSAPI"
    }

    fn evaluate(&mut self, token: &[u8]) -> Result<Step, SaslError> {
        match self.state {
            State::Context => self.accept(token),
            State::Offer => self.offer(token),
            State::Choice => self.choice(token),
            State::Done => Err(self.fail("GSSAPI authentication already complete".into())),
            State::Failed => Err(SaslError::new("GSSAPI exchange already failed".into())),
        }
    }
}

/// A Kerberos principal split as Apache's `KerberosName` splits it:
/// `service[/host][@realm]`.
#[derive(Debug, PartialEq, Eq)]
pub struct KerberosName<'a> {
    pub service: &'a str,
    pub host: Option<&'a str>,
    pub realm: Option<&'a str>,
}

impl KerberosName<'_> {
    pub fn parse(name: &str) -> KerberosName<'_> {
        let (rest, realm) = match name.split_once('@') {
            Some((r, realm)) => (r, Some(realm)),
            None => (name, None),
        };
        let (service, host) = match rest.split_once('/') {
            Some((s, h)) => (s, Some(h)),
            None => (rest, None),
        };
        KerberosName {
            service,
            host,
            realm,
        }
    }
}

/// Apache's `SaslServerCallbackHandler.handleAuthorizeCallback`: the short name under
/// the `zookeeper.security.auth_to_local` rules (DEFAULT: a principal of the default
/// realm, or without a realm, gets its service name), then `/host` and `@realm` unless
/// removed. When no rule applies Apache keeps the client's authorization id, which
/// here is the whole principal, so that a client cannot choose its identity.
pub fn map_principal(
    principal: &str,
    rules: &super::auth_to_local::Rules,
    default_realm: &str,
    remove_host: bool,
    remove_realm: bool,
) -> String {
    let short = match rules.short_name(principal, default_realm) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("Failed to set name based on Kerberos authentication rules: {e}");
            return principal.to_owned();
        }
    };
    let k = KerberosName::parse(principal);
    let mut out = short;
    if let (false, Some(h), Some(_)) = (remove_host, k.host, k.realm) {
        out.push('/');
        out.push_str(h);
    }
    if let (false, Some(r)) = (remove_realm, k.realm) {
        out.push('@');
        out.push_str(r);
    }
    out
}

/// `default_realm` of the `[libdefaults]` section of a krb5.conf, as MIT reads it.
pub fn default_realm_of(conf: &str) -> Option<String> {
    let mut in_libdefaults = false;
    for line in conf.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            in_libdefaults = line.starts_with("[libdefaults]");
            continue;
        }
        if !in_libdefaults {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            if k.trim() == "default_realm" {
                return Some(v.trim().to_owned());
            }
        }
    }
    None
}

/// The krb5 configuration libkrb5 reads: the first file of `KRB5_CONFIG`, else
/// `/etc/krb5.conf`.
pub fn krb5_config_path() -> PathBuf {
    std::env::var("KRB5_CONFIG")
        .ok()
        .and_then(|v| v.split(':').next().map(PathBuf::from))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("/etc/krb5.conf").to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_map_as_apache_maps_them() {
        let r = "EXAMPLE.COM";
        let rules = crate::sasl::auth_to_local::Rules::default();
        let m = |p, h, rl| map_principal(p, &rules, r, h, rl);
        assert_eq!(m("bob@EXAMPLE.COM", false, false), "bob@EXAMPLE.COM");
        assert_eq!(m("bob@EXAMPLE.COM", false, true), "bob");
        assert_eq!(
            m("zk/host1@EXAMPLE.COM", false, false),
            "zk/host1@EXAMPLE.COM"
        );
        assert_eq!(m("zk/host1@EXAMPLE.COM", true, false), "zk@EXAMPLE.COM");
        assert_eq!(m("zk/host1@EXAMPLE.COM", false, true), "zk/host1");
        assert_eq!(m("zk/host1@EXAMPLE.COM", true, true), "zk");
        // Another realm matches no rule: the whole principal, whatever the flags.
        assert_eq!(m("bob@OTHER.ORG", true, true), "bob@OTHER.ORG");
        assert_eq!(m("bob", true, true), "bob");
    }

    #[test]
    fn the_default_realm_of_a_krb5_conf() {
        let conf = "# c\n[realms]\n default_realm = NO\n[libdefaults]\n  dns_lookup_kdc = false\n  default_realm = ZK.TEST\n";
        assert_eq!(default_realm_of(conf).as_deref(), Some("ZK.TEST"));
        assert_eq!(default_realm_of("[libdefaults]\n"), None);
    }

    #[test]
    fn garbage_fails_the_exchange_and_stays_failed() {
        let login = std::sync::Arc::new(KerberosLogin {
            principal: None,
            keytab: None,
            remove_host: false,
            remove_realm: false,
            default_realm: String::new(),
            rules: Default::default(),
            own_keytab: false,
        });
        let mut s = GssapiServer::new(login);
        let e = s.evaluate(b"\x60\x01garbage").unwrap_err();
        assert!(e.0.starts_with("GSS initiate failed"), "{e}");
        assert!(s.evaluate(b"").is_err());
    }
}
