//! SASL authentication of clients (op 102) and the settings that require
//! authentication, configured as Apache ZooKeeper is:
//!
//! - the JAAS file (`-Djava.security.auth.login.config`) and its section
//!   (`zookeeper.sasl.serverconfig`, default `Server`): `DigestLoginModule` entries with
//!   `user_<name>="password"` options make DIGEST-MD5 available ([`digest_md5`]);
//!   `zookeeper.SASLAuthenticationProvider.superPassword` replaces the password of a
//!   listed user `super` (Apache's `SaslServerCallbackHandler`);
//! - `zookeeper.superUser` (and `zookeeper.superUser.<anything>`): an authenticated
//!   name that also gets the `super` id;
//! - `zookeeper.authProvider.<N>` naming Apache's `SASLAuthenticationProvider`: the
//!   `sasl` ACL scheme exists (checked in [`crate::auth`]), with
//!   `zookeeper.letAnySaslUserDoX`;
//! - `zookeeper.enforce.auth.enabled` + `zookeeper.enforce.auth.schemes`, or
//!   `zookeeper.sessionRequireClientSASLAuth` (Apache's `AuthenticationHelper`): a
//!   request from a connection without an id of those schemes is answered
//!   SessionClosedRequireAuth (-124) and the connection closed ([`EnforceAuth`]);
//! - `zookeeper.allowSaslFailedClients`: a failed exchange keeps its connection
//!   (unless SASL is required).
//!
//! - a `Krb5LoginModule` entry in that section (`keyTab`, `principal`) makes GSSAPI
//!   (Kerberos) the mechanism instead ([`gssapi`]), with the client's principal mapped
//!   by `zookeeper.kerberos.removeHostFromPrincipal` /
//!   `zookeeper.kerberos.removeRealmFromPrincipal`; `java.security.krb5.conf` names the
//!   krb5 configuration when `KRB5_CONFIG` does not.
//!
//! Each connection runs its own exchange through a [`Mechanism`]: tokens in, tokens
//! out, then the authenticated name. The ZooKeeper protocol does not negotiate the
//! mechanism: as in Apache, a server section with Kerberos principals serves GSSAPI,
//! one without serves DIGEST-MD5 ([`Login`]).
//!
//! The core ([`crate::core`]) holds one [`Security`] and asks it what to do; this
//! module knows neither sessions nor connections.

pub mod auth_to_local;
pub mod digest_md5;
pub mod gss_ffi;
pub mod gssapi;
pub mod jaas;
pub mod quorum;

use std::collections::HashMap;
use std::sync::Arc;

use zab_core::records::Id;

use crate::auth::SaslProvider;
use crate::config::Config;

/// A failed SASL exchange; the message is the one Java's SASL server gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SaslError(pub String);

impl SaslError {
    pub fn new(m: String) -> SaslError {
        SaslError(m)
    }
}

/// What a mechanism answers to one client token.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this token back and wait for the client's next.
    Challenge(Vec<u8>),
    /// Authenticated: send `token` (if any) back; the exchange is over.
    Complete {
        token: Option<Vec<u8>>,
        /// The name the client proved (for DIGEST-MD5 the user name).
        authentication_id: String,
    },
}

/// The server side of one SASL mechanism for one connection.
pub trait Mechanism: Send {
    /// The IANA name (`DIGEST-MD5`).
    fn name(&self) -> &'static str;
    /// Evaluates the client's next token.
    fn evaluate(&mut self, token: &[u8]) -> Result<Step, SaslError>;
}

/// The DIGEST-MD5 users of the JAAS section, as Apache's `SaslServerCallbackHandler`
/// keeps them.
#[derive(Debug, Default)]
pub struct Credentials {
    users: HashMap<String, String>,
    /// `zookeeper.SASLAuthenticationProvider.superPassword`.
    super_password: Option<String>,
}

impl Credentials {
    pub fn from_users(users: impl IntoIterator<Item = (String, String)>) -> Credentials {
        Credentials {
            users: users.into_iter().collect(),
            super_password: None,
        }
    }

    /// The password of `user`. Apache's handler uses the super password only for a
    /// user `super` that the section lists.
    pub fn password(&self, user: &str) -> Option<&str> {
        let listed = self.users.get(user)?;
        match (&self.super_password, user) {
            (Some(p), "super") => Some(p),
            _ => Some(listed),
        }
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// What the JAAS server section logs the server in with: the mechanism clients
/// authenticate with.
#[derive(Debug)]
pub enum Login {
    DigestMd5(Arc<Credentials>),
    Gssapi(Arc<gssapi::KerberosLogin>),
}

impl Login {
    /// A fresh exchange for a new connection.
    pub fn new_mechanism(&self) -> Box<dyn Mechanism> {
        match self {
            Login::DigestMd5(c) => Box::new(digest_md5::DigestMd5Server::new(c.clone())),
            Login::Gssapi(k) => Box::new(gssapi::GssapiServer::new(k.clone())),
        }
    }
}

pub const DIGEST_LOGIN_MODULE: &str = "org.apache.zookeeper.server.auth.DigestLoginModule";
pub const SASL_PROVIDER_CLASS: &str = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider";

/// The system properties read here (each is in `config::READ_PROPS`).
pub const JAAS_FILE: &str = "java.security.auth.login.config";
pub const SERVER_SECTION: &str = "zookeeper.sasl.serverconfig";
pub const SUPER_PASSWORD: &str = "zookeeper.SASLAuthenticationProvider.superPassword";
pub const SUPER_USER: &str = "zookeeper.superUser";
pub const LET_ANY_SASL_USER_DO_X: &str = "zookeeper.letAnySaslUserDoX";
pub const ALLOW_SASL_FAILED_CLIENTS: &str = "zookeeper.allowSaslFailedClients";
pub const AUTH_PROVIDER_PREFIX: &str = "zookeeper.authProvider.";
pub const ENFORCE_AUTH_ENABLED: &str = "zookeeper.enforce.auth.enabled";
pub const ENFORCE_AUTH_SCHEMES: &str = "zookeeper.enforce.auth.schemes";
pub const SESSION_REQUIRE_CLIENT_SASL_AUTH: &str = "zookeeper.sessionRequireClientSASLAuth";
pub const REMOVE_HOST: &str = "zookeeper.kerberos.removeHostFromPrincipal";
/// `zookeeper.security.auth_to_local`: the principal-to-short-name rules (`DEFAULT`).
pub const AUTH_TO_LOCAL: &str = "zookeeper.security.auth_to_local";
pub const REMOVE_REALM: &str = "zookeeper.kerberos.removeRealmFromPrincipal";
pub const KRB5_CONF: &str = "java.security.krb5.conf";

/// `-Djava.security.krb5.conf` becomes `KRB5_CONFIG` unless that is set: libkrb5
/// reads its configuration from the environment only. The first call is main's
/// check, before the runtime's threads exist; later calls find the variable set and
/// leave it.
pub fn use_krb5_conf(cfg: &Config) {
    if let Some(conf) = cfg.prop(KRB5_CONF) {
        if std::env::var_os("KRB5_CONFIG").is_none() {
            std::env::set_var("KRB5_CONFIG", conf);
        }
    }
}

/// Java's `Boolean.parseBoolean`: "true" in any case, anything else false.
fn java_bool(v: Option<&str>) -> bool {
    v.is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Apache's `AuthenticationHelper`: which schemes a connection must have an id of
/// before any request other than auth and sasl is served.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnforceAuth {
    pub enabled: bool,
    pub schemes: Vec<String>,
}

impl EnforceAuth {
    /// Whether a session with `ids` may be served.
    pub fn allows(&self, ids: &[Id]) -> bool {
        !self.enabled || ids.iter().any(|i| self.schemes.contains(&i.scheme))
    }

    /// SASL is required: a failed exchange is answered -124 and never tolerated.
    pub fn sasl_required(&self) -> bool {
        self.enabled && self.schemes.iter().any(|s| s == "sasl")
    }
}

/// Everything about client authentication the server was configured with.
#[derive(Debug, Default)]
pub struct Security {
    /// From the JAAS server section; `None`: SASL is not configured.
    pub login: Option<Login>,
    /// `zookeeper.superUser*` values.
    pub super_users: Vec<String>,
    /// `zookeeper.allowSaslFailedClients`.
    pub allow_failed_clients: bool,
    pub enforce: EnforceAuth,
    /// `Some` when `zookeeper.authProvider.N` registers the `sasl` scheme.
    pub sasl_provider: Option<SaslProvider>,
}

/// The scheme of an Apache authentication provider class, for those Apache ships.
fn provider_scheme(class: &str) -> Option<&'static str> {
    match class.rsplit('.').next()? {
        "SASLAuthenticationProvider" => Some("sasl"),
        "X509AuthenticationProvider" => Some("x509"),
        "DigestAuthenticationProvider" => Some("digest"),
        "IPAuthenticationProvider" => Some("ip"),
        _ => None,
    }
}

impl Security {
    /// No SASL, and nothing served without it: what a server whose settings could not
    /// be read falls back to.
    pub fn refuse_all() -> Security {
        Security {
            enforce: EnforceAuth {
                enabled: true,
                schemes: vec!["sasl".into()],
            },
            ..Security::default()
        }
    }

    /// Reads the settings from the system properties (see the module's header).
    /// An unusable JAAS file or enforce setting is an error naming it; Apache's server
    /// does not start on those either.
    pub fn from_config(cfg: &Config) -> Result<Security, String> {
        let mut schemes = vec!["ip", "digest"];
        let mut sasl_provider = None;
        for (k, class) in cfg.props_with_prefix(AUTH_PROVIDER_PREFIX) {
            match provider_scheme(class) {
                Some(s) => {
                    schemes.push(s);
                    if s == "sasl" {
                        sasl_provider = Some(SaslProvider {
                            let_any_user_do_x: cfg.prop(LET_ANY_SASL_USER_DO_X).map(str::to_owned),
                        });
                    }
                }
                None => tracing::warn!("{k}: cannot load authentication provider {class}"),
            }
        }
        let enforce = if java_bool(cfg.prop(SESSION_REQUIRE_CLIENT_SASL_AUTH)) {
            EnforceAuth {
                enabled: true,
                schemes: vec!["sasl".into()],
            }
        } else {
            EnforceAuth {
                enabled: java_bool(cfg.prop(ENFORCE_AUTH_ENABLED)),
                schemes: cfg
                    .prop(ENFORCE_AUTH_SCHEMES)
                    .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
                    .unwrap_or_default(),
            }
        };
        if enforce.enabled {
            if enforce.schemes.is_empty() {
                return Err(format!(
                    "{ENFORCE_AUTH_ENABLED} is true {ENFORCE_AUTH_SCHEMES} must be configured"
                ));
            }
            for s in &enforce.schemes {
                if !schemes.contains(&s.as_str()) {
                    return Err(format!(
                        "{ENFORCE_AUTH_SCHEMES}: authentication scheme {s:?} is not available \
                         (registered: {}; `sasl` needs {AUTH_PROVIDER_PREFIX}N={SASL_PROVIDER_CLASS})",
                        schemes.join(", ")
                    ));
                }
            }
            tracing::info!(
                "{ENFORCE_AUTH_ENABLED} = true, {ENFORCE_AUTH_SCHEMES} = {:?}",
                enforce.schemes
            );
        }
        let mut super_users: Vec<String> = cfg
            .props_with_prefix(SUPER_USER)
            .filter(|(k, _)| k.len() == SUPER_USER.len() || k[SUPER_USER.len()..].starts_with('.'))
            .map(|(_, v)| v.to_owned())
            .collect();
        super_users.retain(|u| !u.is_empty());
        Ok(Security {
            login: Self::login(cfg)?,
            super_users,
            allow_failed_clients: java_bool(cfg.prop(ALLOW_SASL_FAILED_CLIENTS)),
            enforce,
            sasl_provider,
        })
    }

    /// Apache's `ServerCnxnFactory.configureSaslLogin`: no JAAS file, or a file without
    /// the section, is no SASL; an unreadable file, or a section naming a login module
    /// that cannot be used, stops the server.
    fn login(cfg: &Config) -> Result<Option<Login>, String> {
        let Some(file) = cfg.prop(JAAS_FILE) else {
            return Ok(None);
        };
        let section = cfg.prop(SERVER_SECTION).unwrap_or("Server");
        let jaas = jaas::JaasConfig::load(std::path::Path::new(file)).map_err(|e| {
            format!("No JAAS configuration section named '{section}' was found in '{file}': {e}")
        })?;
        let Some(entries) = jaas.section(section) else {
            tracing::warn!("{file}: no JAAS section {section:?}: SASL is not configured");
            return Ok(None);
        };
        if let Some(krb) = entries
            .iter()
            .find(|e| e.class == gssapi::KRB5_LOGIN_MODULE)
        {
            return Self::kerberos_login(cfg, file, section, krb).map(Some);
        }
        let mut users = Vec::new();
        for e in entries {
            if e.class != DIGEST_LOGIN_MODULE {
                return Err(format!(
                    "{file}: section {section:?}: login module {} is not supported \
                     (only {DIGEST_LOGIN_MODULE}, for DIGEST-MD5, and {}, for Kerberos)",
                    e.class,
                    gssapi::KRB5_LOGIN_MODULE
                ));
            }
            // Apache takes the users from every entry of the section.
            for (k, v) in &e.options {
                if let Some(user) = k.strip_prefix("user_") {
                    users.push((user.to_owned(), v.clone()));
                }
            }
        }
        let mut creds = Credentials::from_users(users);
        creds.super_password = cfg.prop(SUPER_PASSWORD).map(str::to_owned);
        tracing::info!(
            "SASL DIGEST-MD5 from section {section:?} of {file}: {} user(s)",
            creds.len()
        );
        Ok(Some(Login::DigestMd5(Arc::new(creds))))
    }

    /// A `Krb5LoginModule` entry: the server's keytab and principal (Java's options
    /// `keyTab`, `principal`; `useKeyTab` and `storeKey` are what a server sets and
    /// change nothing here), checked at once so that a bad keytab stops the server.
    fn kerberos_login(
        cfg: &Config,
        file: &str,
        section: &str,
        e: &jaas::Entry,
    ) -> Result<Login, String> {
        use_krb5_conf(cfg);
        if !java_bool(e.option("useKeyTab")) {
            tracing::warn!(
                "{file}: section {section:?}: useKeyTab is not true; the keytab is still                  read (the server has no ticket cache or password to log in with)"
            );
        }
        let default_realm = std::fs::read_to_string(gssapi::krb5_config_path())
            .ok()
            .and_then(|c| gssapi::default_realm_of(&c))
            .unwrap_or_default();
        let login = gssapi::KerberosLogin {
            principal: e.option("principal").map(str::to_owned),
            keytab: e.option("keyTab").map(std::path::PathBuf::from),
            remove_host: java_bool(cfg.prop(REMOVE_HOST)),
            remove_realm: java_bool(cfg.prop(REMOVE_REALM)),
            default_realm,
            rules: match cfg.prop(AUTH_TO_LOCAL) {
                None => auth_to_local::Rules::default(),
                Some(r) => {
                    auth_to_local::Rules::parse(r).map_err(|m| format!("{AUTH_TO_LOCAL}: {m}"))?
                }
            },
            own_keytab: false,
        };
        login
            .start()
            .map_err(|m| format!("{file}: section {section:?}: Kerberos login failed: {m}"))?;
        tracing::info!(
            "SASL GSSAPI (Kerberos) from section {section:?} of {file}: principal {}, keytab {}, \
             default realm {:?}",
            login.principal.as_deref().unwrap_or("(any in the keytab)"),
            login
                .keytab
                .as_ref()
                .map_or("(default)".into(), |k| k.display().to_string()),
            login.default_realm
        );
        Ok(Login::Gssapi(Arc::new(login)))
    }

    /// The ids a connection gets once `authentication_id` completed an exchange:
    /// `sasl:<name>`, and `super` when `zookeeper.superUser` names it.
    ///
    /// Apache canonicalises the name with its Kerberos name rules; for a DIGEST-MD5
    /// user name without '@' that is the name itself, and the client's requested
    /// authorization id is never used. (For a name with '@' and no Kerberos default
    /// realm, Apache falls back to the requested authorization id; here it is the
    /// user name, so that a client cannot choose its identity.)
    pub fn ids_for(&self, authentication_id: &str) -> Vec<Id> {
        let mut ids = vec![Id::new("sasl", authentication_id)];
        if !authentication_id.is_empty() && self.super_users.iter().any(|u| u == authentication_id)
        {
            ids.push(Id::new("super", ""));
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn cfg(props: &[(&str, &str)]) -> Config {
        let mut c = Config::default();
        for (k, v) in props {
            c.system_props.insert(k.to_string(), v.to_string());
        }
        c
    }

    #[test]
    fn enforce_settings_as_apache_reads_them() {
        let s = Security::from_config(&cfg(&[])).unwrap();
        assert!(!s.enforce.enabled && s.login.is_none() && s.sasl_provider.is_none());
        let s =
            Security::from_config(&cfg(&[(SESSION_REQUIRE_CLIENT_SASL_AUTH, "TRUE")])).unwrap_err();
        assert!(s.contains("\"sasl\" is not available"), "{s}");
        let s = Security::from_config(&cfg(&[
            (SESSION_REQUIRE_CLIENT_SASL_AUTH, "true"),
            ("zookeeper.authProvider.1", SASL_PROVIDER_CLASS),
        ]))
        .unwrap();
        assert_eq!(s.enforce.schemes, vec!["sasl"]);
        assert!(s.enforce.sasl_required());
        let s = Security::from_config(&cfg(&[
            (ENFORCE_AUTH_ENABLED, "true"),
            (ENFORCE_AUTH_SCHEMES, " digest , ip"),
        ]))
        .unwrap();
        assert_eq!(s.enforce.schemes, vec!["digest", "ip"]);
        assert!(!s.enforce.sasl_required());
        assert!(!s.enforce.allows(&[Id::new("sasl", "bob")]));
        assert!(s.enforce.allows(&[Id::new("digest", "bob:x")]));
        assert!(Security::from_config(&cfg(&[(ENFORCE_AUTH_ENABLED, "true")])).is_err());
        let s = Security::from_config(&cfg(&[
            (SUPER_USER, "admin"),
            ("zookeeper.superUser.2", "root"),
            ("zookeeper.superUserX", "nobody"),
        ]))
        .unwrap();
        assert_eq!(
            s.ids_for("root"),
            vec![Id::new("sasl", "root"), Id::new("super", "")]
        );
        assert_eq!(s.ids_for("nobody"), vec![Id::new("sasl", "nobody")]);
    }

    #[test]
    fn the_jaas_server_section() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("jaas.conf");
        std::fs::File::create(&f)
            .unwrap()
            .write_all(
                b"Server { org.apache.zookeeper.server.auth.DigestLoginModule required\n\
                  user_super=\"s\" user_bob=\"b\"; };\n\
                  Other { com.sun.security.auth.module.Krb5LoginModule required; };\n",
            )
            .unwrap();
        let path = f.display().to_string();
        let s = Security::from_config(&cfg(&[(JAAS_FILE, &path), (SUPER_PASSWORD, "override")]))
            .unwrap();
        let Some(Login::DigestMd5(c)) = &s.login else {
            panic!("no DIGEST-MD5 login")
        };
        assert_eq!(c.password("bob"), Some("b"));
        assert_eq!(c.password("super"), Some("override"));
        assert_eq!(c.password("eve"), None);
        // A file without the section: no SASL, as Apache.
        let s =
            Security::from_config(&cfg(&[(JAAS_FILE, &path), (SERVER_SECTION, "Nope")])).unwrap();
        assert!(s.login.is_none());
        let e = Security::from_config(&cfg(&[(JAAS_FILE, &path), (SERVER_SECTION, "Other")]))
            .unwrap_err();
        assert!(e.contains("Kerberos login failed"), "{e}");
        let e = Security::from_config(&cfg(&[(JAAS_FILE, "/nonexistent/jaas.conf")])).unwrap_err();
        assert!(e.contains("/nonexistent/jaas.conf"), "{e}");
    }
}
