//! `zoo.cfg`: ZooKeeper's configuration file, read the way ZooKeeper reads it.
//!
//! The file is a Java properties file: `key=value` lines, `#` or `!` comments.
//! Unknown keys are logged and ignored; a bad value is an error that names the
//! key and the line. Without `server.N` lines the server runs standalone.
//!
//! The membership (`server.N`, `group.N`, `weight.N`) is either in zoo.cfg or,
//! as Apache ZooKeeper 3.5+ writes it, in the file `dynamicConfigFile` names
//! (`zoo.cfg.dynamic.<hex version>`); then zoo.cfg must not carry it.
//!
//! Apache reads many settings only as Java system properties (`-Dzookeeper.*`,
//! the JAAS file, `readonlymode.enabled`), which operators pass in
//! `SERVER_JVMFLAGS` / `JVMFLAGS` (zkServer.sh and `java.env` do). We read the
//! `-Dname=value` words of those two variables as Apache's JVM would see them
//! (see [`jvm_flags_from_env`]), and, as Apache's QuorumPeerConfig does, turn a
//! zoo.cfg key it does not know into the property `zookeeper.<key>` (zoo.cfg
//! wins over the flags). All of them are in [`Config::system_props`]; settings
//! that are system properties in Apache are read from there ([`Config::prop`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}:{line}: bad value for {key}: {value:?} ({why})")]
    BadValue {
        file: String,
        line: usize,
        key: String,
        value: String,
        why: String,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Whether a server votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerType {
    Participant,
    Observer,
}

/// One `server.N=host:quorumPort:electionPort[:type][;[clientAddr:]clientPort]` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSpec {
    pub id: u64,
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
    pub peer_type: PeerType,
    pub client_addr: Option<String>,
    pub client_port: Option<u16>,
}

impl ServerSpec {
    pub fn parse(id: u64, v: &str) -> Result<ServerSpec, String> {
        let (main, client) = match v.split_once(';') {
            Some((m, c)) => (m.trim(), Some(c.trim())),
            None => (v.trim(), None),
        };
        let parts: Vec<&str> = main.split(':').collect();
        if parts.len() < 3 || parts.len() > 4 {
            return Err("expected host:quorumPort:electionPort[:participant|observer]".into());
        }
        let port = |s: &str, what: &str| {
            s.parse::<u16>()
                .map_err(|_| format!("{what} {s:?} is not a port number"))
        };
        let peer_type = match parts.get(3).map(|s| s.trim()) {
            None | Some("participant") => PeerType::Participant,
            Some("observer") => PeerType::Observer,
            Some(o) => return Err(format!("unknown server type {o:?}")),
        };
        let (client_addr, client_port) = match client {
            None | Some("") => (None, None),
            Some(c) => match c.rsplit_once(':') {
                Some((a, p)) => (Some(a.to_owned()), Some(port(p, "client port")?)),
                None => (None, Some(port(c, "client port")?)),
            },
        };
        Ok(ServerSpec {
            id,
            host: parts[0].to_owned(),
            quorum_port: port(parts[1], "quorum port")?,
            election_port: port(parts[2], "election port")?,
            peer_type,
            client_addr,
            client_port,
        })
    }
}

/// Everything the server reads from zoo.cfg, with ZooKeeper's defaults.
#[derive(Clone, Debug)]
pub struct Config {
    pub tick_time_ms: u32,
    pub init_limit: u32,
    pub sync_limit: u32,
    pub data_dir: PathBuf,
    pub data_log_dir: PathBuf,
    pub client_port: u16,
    pub client_port_address: Option<IpAddr>,
    /// `secureClientPort`: the TLS client port (see `crate::tls`), none by default.
    pub secure_client_port: Option<u16>,
    /// `secureClientPortAddress` (default: all addresses).
    pub secure_client_port_address: Option<IpAddr>,
    pub max_client_cnxns: u32,
    /// `clientPortListenBacklog`: the client port's listen backlog; `None` (Apache's -1,
    /// the default) means [`crate::listen::DEFAULT_BACKLOG`].
    pub client_port_listen_backlog: Option<u32>,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    /// Four-letter words allowed; `None` means all (`*`).
    pub four_letter_whitelist: Option<BTreeSet<String>>,
    pub jute_max_buffer: usize,
    pub snap_count: u64,
    pub pre_alloc_size: u64,
    pub autopurge_snap_retain_count: u32,
    pub autopurge_purge_interval_hours: u32,
    pub extended_types_enabled: bool,
    pub force_sync: bool,
    pub super_digest: Option<String>,
    pub container_check_interval_ms: u64,
    pub container_max_per_minute: u32,
    pub read_only_mode: bool,
    /// `localSessionsEnabled` (default false): in an ensemble, a new session is local to
    /// the server it connected to (no createSession transaction) until it upgrades.
    pub local_sessions_enabled: bool,
    /// `localSessionsUpgradingEnabled` (default true): a local session that creates an
    /// ephemeral becomes global first; otherwise that create fails with
    /// EphemeralOnLocalSession.
    pub local_sessions_upgrading_enabled: bool,
    /// `reconfigEnabled` (default false, as Apache 3.5.3+): whether `reconfig` is served.
    pub reconfig_enabled: bool,
    /// `standaloneEnabled` (default true): a reconfig must then leave at least two voters.
    pub standalone_enabled: bool,
    /// `skipACL=yes` (Apache's `zookeeper.skipACL`): ACLs are not checked; here only
    /// `reconfig`'s permission check honours it.
    pub skip_acl: bool,
    pub peer_type: PeerType,
    pub servers: BTreeMap<u64, ServerSpec>,
    pub groups: BTreeMap<u64, Vec<u64>>,
    pub weights: BTreeMap<u64, u64>,
    pub myid: Option<u64>,
    /// Where the configuration came from (for `conf`).
    pub source: Option<PathBuf>,
    /// `dynamicConfigFile`: the file that holds the membership.
    pub dynamic_config_file: Option<PathBuf>,
    /// The membership's version: the hex suffix of the dynamic file's name
    /// (`zoo.cfg.dynamic.100000000`), as Apache reads it.
    pub config_version: Option<u64>,
    /// The AdminServer (`admin.*`, also `zookeeper.admin.*`): see `crate::admin`.
    pub admin: AdminConfig,
    /// `metricsProvider.*`: see `crate::metrics`.
    pub metrics: MetricsConfig,
    /// `quorum.auth.*`: quorum SASL, see `crate::sasl::quorum`.
    pub quorum_auth: QuorumAuthConfig,
    /// `sslQuorum`, `portUnification`, `sslQuorumReloadCertFiles`: see `crate::tls::quorum`.
    pub quorum_tls: QuorumTlsConfig,
    /// Java system properties as Apache's JVM would hold them: the `-D` words of
    /// `SERVER_JVMFLAGS` and `JVMFLAGS`, then every zoo.cfg key Apache does not
    /// know as `zookeeper.<key>`. Read with [`Config::prop`].
    pub system_props: BTreeMap<String, String>,
}

/// Apache's class name of its Prometheus metrics provider, the one
/// `metricsProvider.className` that starts our `/metrics` endpoint.
pub const PROMETHEUS_PROVIDER: &str =
    "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";

/// Apache's `metricsProvider.*` keys, with its defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    /// `metricsProvider.className` names the Prometheus provider: serve `/metrics`.
    pub prometheus: bool,
    /// `metricsProvider.httpHost` (default 0.0.0.0).
    pub http_host: IpAddr,
    /// `metricsProvider.httpPort` (default 7000).
    pub http_port: u16,
    /// `metricsProvider.exportJvmInfo` (default true): here, the process figures
    /// (`process_*`) the JVM's exporter would add; there is no JVM to report on.
    pub export_jvm_info: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            prometheus: false,
            http_host: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            http_port: 7000,
            export_jvm_info: true,
        }
    }
}

/// Apache's `quorum.auth.*` keys (QuorumPeerConfig), with its defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumAuthConfig {
    /// `quorum.auth.enableSasl` (default false).
    pub enable_sasl: bool,
    /// `quorum.auth.learnerRequireSasl` (default false).
    pub learner_require_sasl: bool,
    /// `quorum.auth.serverRequireSasl` (default false).
    pub server_require_sasl: bool,
    /// `quorum.auth.learner.saslLoginContext` (default `QuorumLearner`).
    pub learner_login_context: String,
    /// `quorum.auth.server.saslLoginContext` (default `QuorumServer`).
    pub server_login_context: String,
    /// `quorum.auth.kerberos.servicePrincipal` (default `zkquorum/localhost`):
    /// only Kerberos uses it; kept for `conf`.
    pub kerberos_service_principal: String,
}

impl Default for QuorumAuthConfig {
    fn default() -> Self {
        QuorumAuthConfig {
            enable_sasl: false,
            learner_require_sasl: false,
            server_require_sasl: false,
            learner_login_context: "QuorumLearner".into(),
            server_login_context: "QuorumServer".into(),
            kerberos_service_principal: "zkquorum/localhost".into(),
        }
    }
}

/// Apache's quorum TLS keys (QuorumPeerConfig), all false by default; the stores and
/// the rest are the `ssl.quorum.*` properties.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuorumTlsConfig {
    /// `sslQuorum`: quorum and election connections over TLS.
    pub ssl_quorum: bool,
    /// `portUnification`: the quorum and election ports also accept plain peers.
    pub port_unification: bool,
    /// `sslQuorumReloadCertFiles`: reload the stores when their files change.
    pub reload_cert_files: bool,
}

/// Apache's `admin.*` keys, with its defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminConfig {
    /// `admin.enableServer` (default true).
    pub enable_server: bool,
    /// `admin.serverAddress` (default 0.0.0.0).
    pub server_address: IpAddr,
    /// `admin.serverPort` (default 8080).
    pub server_port: u16,
    /// `admin.commandURL` (default `/commands`).
    pub command_url: String,
    /// `admin.idleTimeout` in ms (default 30000): an idle connection is closed.
    pub idle_timeout_ms: u64,
    /// `admin.portUnification` (3.7+, default false): HTTPS and plain HTTP on the
    /// one port, told apart by the first bytes (see `crate::admin::https`).
    pub port_unification: bool,
    /// `admin.forceHttps` (3.7+, default false): HTTPS only; wins over
    /// `admin.portUnification`.
    pub force_https: bool,
    /// `admin.needClientAuth` (3.9, default false): the HTTPS handshake requires a
    /// client certificate; without it none is asked for.
    pub need_client_auth: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enable_server: true,
            server_address: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            server_port: 8080,
            command_url: "/commands".into(),
            idle_timeout_ms: 30_000,
            port_unification: false,
            force_https: false,
            need_client_auth: false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tick_time_ms: 3000,
            init_limit: 10,
            sync_limit: 5,
            data_dir: PathBuf::from("/tmp/zookeeper"),
            data_log_dir: PathBuf::from("/tmp/zookeeper"),
            client_port: 2181,
            client_port_address: None,
            secure_client_port: None,
            secure_client_port_address: None,
            max_client_cnxns: 60,
            client_port_listen_backlog: None,
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 60000,
            four_letter_whitelist: Some(["srvr".to_string()].into_iter().collect()),
            jute_max_buffer: 0xfffff,
            snap_count: 100_000,
            pre_alloc_size: 64 * 1024 * 1024,
            autopurge_snap_retain_count: 3,
            autopurge_purge_interval_hours: 0,
            extended_types_enabled: false,
            force_sync: true,
            super_digest: None,
            container_check_interval_ms: 60_000,
            container_max_per_minute: 10_000,
            read_only_mode: false,
            local_sessions_enabled: false,
            local_sessions_upgrading_enabled: true,
            reconfig_enabled: false,
            standalone_enabled: true,
            skip_acl: false,
            peer_type: PeerType::Participant,
            servers: BTreeMap::new(),
            groups: BTreeMap::new(),
            weights: BTreeMap::new(),
            myid: None,
            source: None,
            dynamic_config_file: None,
            config_version: None,
            admin: AdminConfig::default(),
            metrics: MetricsConfig::default(),
            quorum_auth: QuorumAuthConfig::default(),
            quorum_tls: QuorumTlsConfig::default(),
            system_props: BTreeMap::new(),
        }
    }
}

/// The system properties some part of the server reads through [`Config::prop`]
/// (besides the zoo.cfg keys `Config::parse` knows). A zoo.cfg key that maps to
/// none of them is logged as unknown.
pub const READ_PROPS: &[&str] = &[
    // The format `zk-server export-apache` writes by default (persist/apache.rs):
    // the compression Apache would write and whether it keeps digests; the
    // digests transactions carry and learners compare (core/digest.rs).
    "zookeeper.snapshot.compression.method",
    "zookeeper.digest.enabled",
    // SASL and enforced authentication (crate::sasl)
    "java.security.auth.login.config",
    "zookeeper.sasl.serverconfig",
    "zookeeper.SASLAuthenticationProvider.superPassword",
    "zookeeper.superUser",
    "zookeeper.letAnySaslUserDoX",
    "zookeeper.allowSaslFailedClients",
    "zookeeper.enforce.auth.enabled",
    // quorum SASL with Kerberos (crate::sasl::quorum)
    "zookeeper.server.realm",
    "zookeeper.enforce.auth.schemes",
    "zookeeper.sessionRequireClientSASLAuth",
    "zookeeper.kerberos.removeHostFromPrincipal",
    "zookeeper.kerberos.removeRealmFromPrincipal",
    "zookeeper.security.auth_to_local",
    "java.security.krb5.conf",
    // Which of Apache's connection factories the operator chose: NIO (the default)
    // closes a connection that asks for no session within
    // `nio.sessionlessCnxnTimeout` (net::sessionless_timeout).
    "zookeeper.serverCnxnFactory",
    "zookeeper.nio.sessionlessCnxnTimeout",
    // Where the web console finds its peers' AdminServers (admin/console.rs).
    "zookeeper.console.adminAddresses",
    // Giving free memory back to the kernel after a burst (crate::memory); ours.
    "zookeeper.memory.trim.enabled",
    "zookeeper.memory.trim.thresholdMB",
    "zookeeper.memory.trim.intervalMs",
    // crate::tls, for the client port (Apache's ClientX509Util, X509AuthenticationProvider,
    // NettyServerCnxnFactory).
    "zookeeper.ssl.keyStore.location",
    "zookeeper.ssl.keyStore.password",
    "zookeeper.ssl.keyStore.passwordPath",
    "zookeeper.ssl.keyStore.type",
    "zookeeper.ssl.trustStore.location",
    "zookeeper.ssl.trustStore.password",
    "zookeeper.ssl.trustStore.passwordPath",
    "zookeeper.ssl.trustStore.type",
    "zookeeper.ssl.clientAuth",
    "zookeeper.ssl.protocol",
    "zookeeper.ssl.enabledProtocols",
    "zookeeper.ssl.ciphersuites",
    "zookeeper.ssl.hostnameVerification",
    "zookeeper.ssl.crl",
    "zookeeper.ssl.ocsp",
    "zookeeper.ssl.authProvider",
    "zookeeper.X509AuthenticationProvider.superUser",
    "zookeeper.client.portUnification",
    "zookeeper.client.certReload",
    // crate::tls::throttle (NettyServerCnxnFactory's handshake limit).
    "zookeeper.netty.server.outstandingHandshake.limit",
    // crate::tls::quorum: quorum TLS (Apache's QuorumX509Util).
    "zookeeper.ssl.quorum.keyStore.location",
    "zookeeper.ssl.quorum.keyStore.password",
    "zookeeper.ssl.quorum.keyStore.passwordPath",
    "zookeeper.ssl.quorum.keyStore.type",
    "zookeeper.ssl.quorum.trustStore.location",
    "zookeeper.ssl.quorum.trustStore.password",
    "zookeeper.ssl.quorum.trustStore.passwordPath",
    "zookeeper.ssl.quorum.trustStore.type",
    "zookeeper.ssl.quorum.clientAuth",
    "zookeeper.ssl.quorum.protocol",
    "zookeeper.ssl.quorum.enabledProtocols",
    "zookeeper.ssl.quorum.ciphersuites",
    "zookeeper.ssl.quorum.hostnameVerification",
    "zookeeper.ssl.quorum.crl",
    "zookeeper.ssl.quorum.ocsp",
    // The AdminServer's snapshot and restore commands (admin/ops.rs), as 3.9's.
    "zookeeper.admin.snapshot.enabled",
    "zookeeper.admin.restore.enabled",
    "zookeeper.admin.rateLimiterIntervalInMS",
    "zookeeper.serializeLastProcessedZxid.enabled",
    // The AdminServer's HTTPS (admin/https.rs) reads its stores as Apache's
    // JettyAdminServer does, through QuorumX509Util: `zookeeper.ssl.quorum.*`.
    "zookeeper.ssl.quorum.keyStore.location",
    "zookeeper.ssl.quorum.keyStore.password",
    "zookeeper.ssl.quorum.keyStore.passwordPath",
    "zookeeper.ssl.quorum.keyStore.type",
    "zookeeper.ssl.quorum.trustStore.location",
    "zookeeper.ssl.quorum.trustStore.password",
    "zookeeper.ssl.quorum.trustStore.passwordPath",
    "zookeeper.ssl.quorum.trustStore.type",
    "zookeeper.ssl.quorum.clientAuth",
    "zookeeper.ssl.quorum.protocol",
    "zookeeper.ssl.quorum.enabledProtocols",
    "zookeeper.ssl.quorum.ciphersuites",
    "zookeeper.ssl.quorum.hostnameVerification",
];

/// Families of system properties read by prefix ([`Config::props_with_prefix`]).
pub const READ_PROP_PREFIXES: &[&str] = &["zookeeper.authProvider.", "zookeeper.superUser."];

/// zoo.cfg keys Apache's QuorumPeerConfig does not know, so that it reads them
/// as the system property `zookeeper.<key>`: `-Dzookeeper.<key>` sets them too.
const CFG_KEYS_AS_PROPS: &[&str] = &[
    "4lw.commands.whitelist",
    "snapCount",
    "preAllocSize",
    "forceSync",
    "extendedTypesEnabled",
    "DigestAuthenticationProvider.superDigest",
    "admin.enableServer",
    "admin.serverAddress",
    "admin.serverPort",
    "admin.commandURL",
    "admin.idleTimeout",
    "admin.portUnification",
    "admin.forceHttps",
    "admin.needClientAuth",
];

/// System properties Apache reads that do not start with `zookeeper.` and that
/// configure something here when given as `-D` flags.
const JVM_ONLY_SETTINGS: &[&str] = &[
    "jute.maxbuffer",
    "readonlymode.enabled",
    "znode.container.checkIntervalMs",
    "znode.container.maxPerMinute",
];

/// Java's `Boolean.parseBoolean`, which QuorumPeerConfig uses for `quorum.auth.*`.
fn java_bool(v: &str) -> bool {
    v.trim().eq_ignore_ascii_case("true")
}

/// The `-Dname=value` words of `SERVER_JVMFLAGS` then `JVMFLAGS`, as zkServer.sh
/// hands both to the JVM (a later `-D` of the same name wins, as in Java).
pub fn jvm_flags_from_env() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for var in ["SERVER_JVMFLAGS", "JVMFLAGS"] {
        if let Ok(v) = std::env::var(var) {
            out.extend(jvm_system_props(&v));
        }
    }
    out
}

/// The `-Dname=value` words of a JVM command line (`-Dname` alone is the empty
/// value, as in Java). Words are split as a POSIX shell splits an unquoted
/// variable's value, with '...' and "..." quoting and backslash escapes honoured
/// for values with spaces (`java.env` files quote them).
pub fn jvm_system_props(flags: &str) -> Vec<(String, String)> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = flags.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                word.push(n);
                            }
                        }
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
        .into_iter()
        .filter_map(|w| {
            let d = w.strip_prefix("-D")?;
            if d.is_empty() {
                return None;
            }
            Some(match d.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (d.to_owned(), String::new()),
            })
        })
        .collect()
}

/// One `key=value` (or `key:value`) line of a properties file, trimmed; `None`
/// for blank lines, comments and lines without a separator.
fn property(raw: &str) -> Option<(&str, &str)> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
        return None;
    }
    let (key, value) = line.split_once(['=', ':'])?;
    Some((key.trim(), value.trim()))
}

/// Every four-letter word the server knows.
pub const ALL_FOUR_LETTER_WORDS: &[&str] = &[
    "ruok", "srvr", "stat", "conf", "cons", "crst", "srst", "envi", "mntr", "wchs", "wchc", "wchp",
    "dump", "isro", "dirs", "hash", "apiv", "ftfl", "csnp", "lgif", "ydld", "rqld",
];

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut c = Config::parse_with_jvm_flags(
            &text,
            &path.display().to_string(),
            &jvm_flags_from_env(),
        )?;
        c.source = Some(path.to_owned());
        if let Some(dynamic) = c.dynamic_config_file.clone() {
            c.load_dynamic(&dynamic)?;
        }
        if !c.servers.is_empty() {
            let myid_path = c.data_dir.join("myid");
            let s = std::fs::read_to_string(&myid_path).map_err(|source| ConfigError::Read {
                path: myid_path.clone(),
                source,
            })?;
            let id = s.trim().parse::<u64>().map_err(|_| {
                ConfigError::Invalid(format!(
                    "{}: myid {:?} is not a number",
                    myid_path.display(),
                    s.trim()
                ))
            })?;
            if !c.servers.contains_key(&id) {
                return Err(ConfigError::Invalid(format!(
                    "myid {id} has no server.{id} line in {}",
                    path.display()
                )));
            }
            c.myid = Some(id);
        }
        Ok(c)
    }

    /// Read the membership from the dynamic configuration file. As Apache's
    /// `QuorumPeerConfig`, the path is used as written (a relative one from the
    /// working directory), a `version` key inside is refused, and the version is
    /// the file name's suffix after its last dot, in hex.
    fn load_dynamic(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let file = path.display().to_string();
        for (i, raw) in text.lines().enumerate() {
            let Some((key, value)) = property(raw) else {
                continue;
            };
            let bad = |why: &str| ConfigError::BadValue {
                file: file.clone(),
                line: i + 1,
                key: key.to_owned(),
                value: value.to_owned(),
                why: why.to_owned(),
            };
            if key == "version" {
                return Err(bad("dynamic file shouldn't have version inside"));
            }
            if !self.membership(key, value).map_err(|e| bad(&e))? {
                tracing::warn!(
                    "{file}:{}: {key} does not belong in a dynamic file; ignored",
                    i + 1
                );
            }
        }
        if self.servers.is_empty() {
            // Running standalone from a file meant to list the ensemble would be
            // split brain by configuration.
            return Err(ConfigError::Invalid(format!(
                "{file}: the dynamic configuration file has no server.N lines"
            )));
        }
        self.config_version = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.rsplit_once('.'))
            .and_then(|(_, v)| u64::from_str_radix(v, 16).ok());
        Ok(())
    }

    /// A membership line (`server.N`, `group.N`, `weight.N`); `Ok(false)` for any
    /// other key.
    fn membership(&mut self, key: &str, value: &str) -> Result<bool, String> {
        if let Some(id) = key.strip_prefix("server.") {
            let id = id
                .parse::<u64>()
                .map_err(|_| "server id is not a number".to_owned())?;
            self.servers.insert(id, ServerSpec::parse(id, value)?);
        } else if let Some(gid) = key.strip_prefix("group.") {
            let gid = gid
                .parse::<u64>()
                .map_err(|_| "group id is not a number".to_owned())?;
            let members = value
                .split(':')
                .map(|s| s.trim().parse::<u64>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| "expected server ids separated by ':'".to_owned())?;
            self.groups.insert(gid, members);
        } else if let Some(sid) = key.strip_prefix("weight.") {
            let sid = sid
                .parse::<u64>()
                .map_err(|_| "server id is not a number".to_owned())?;
            let w = value
                .parse::<u64>()
                .map_err(|_| "not a non-negative number".to_owned())?;
            self.weights.insert(sid, w);
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    /// Parse the text of a zoo.cfg; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        Config::parse_with_jvm_flags(text, file, &[])
    }

    /// Parse the text of a zoo.cfg with the JVM's `-D` system properties
    /// (see [`jvm_flags_from_env`]); zoo.cfg wins where both set a setting.
    pub fn parse_with_jvm_flags(
        text: &str,
        file: &str,
        jvm: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        // Each with the line it came from, to name it in errors.
        let mut min_to: Option<(i32, usize)> = None;
        let mut max_to: Option<(i32, usize)> = None;
        let mut data_dir: Option<PathBuf> = None;
        let mut data_log_dir: Option<PathBuf> = None;
        // The first membership line, refused when the membership is in a dynamic file.
        let mut membership_line: Option<(usize, String, String)> = None;
        // (source, line or word number, key, value, from the JVM's flags)
        let mut settings: Vec<(&str, usize, &str, &str, bool)> = Vec::new();
        for (i, (k, v)) in jvm.iter().enumerate() {
            c.system_props.insert(k.clone(), v.clone());
            // Only the names Apache reads as system properties configure anything.
            let key = match k.strip_prefix("zookeeper.") {
                Some(x) if CFG_KEYS_AS_PROPS.contains(&x) => x,
                _ => k.as_str(),
            };
            if key != k || k.starts_with("zookeeper.") || JVM_ONLY_SETTINGS.contains(&key) {
                settings.push(("SERVER_JVMFLAGS/JVMFLAGS -D", i + 1, key, v, true));
            }
        }
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let Some((key, value)) = property(raw) else {
                tracing::warn!("{file}:{}: ignoring line without '=': {line:?}", i + 1);
                continue;
            };
            settings.push((file, i + 1, key, value, false));
        }
        for (src, line_no, key, value, from_jvm) in settings {
            let bad = |why: &str| ConfigError::BadValue {
                file: src.to_owned(),
                line: line_no,
                key: key.to_owned(),
                value: value.to_owned(),
                why: why.to_owned(),
            };
            let num = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| bad("not a non-negative number"))
            };
            // ZooKeeper: -1 stands for the default (2 and 20 ticks).
            let timeout = |v: &str| match v.parse::<i32>() {
                Ok(t) if t >= -1 => Ok((t, line_no)),
                _ => Err(bad("expected milliseconds, or -1 for the default")),
            };
            let boolean = |v: &str| match v.to_ascii_lowercase().as_str() {
                "true" | "yes" => Ok(true),
                "false" | "no" => Ok(false),
                _ => Err(bad("expected true or false")),
            };
            match key {
                "tickTime" => {
                    c.tick_time_ms = num(value)?
                        .try_into()
                        .ok()
                        .filter(|&t: &u32| t > 0)
                        .ok_or_else(|| bad("must be a positive number of milliseconds"))?
                }
                "initLimit" => {
                    c.init_limit = num(value)?.try_into().map_err(|_| bad("too large"))?
                }
                "syncLimit" => {
                    c.sync_limit = num(value)?.try_into().map_err(|_| bad("too large"))?
                }
                "dataDir" => data_dir = Some(PathBuf::from(value)),
                "dataLogDir" => data_log_dir = Some(PathBuf::from(value)),
                "clientPort" => {
                    c.client_port = value.parse().map_err(|_| bad("not a port number"))?
                }
                // An address or a host name, resolved now as ZooKeeper does.
                "clientPortAddress" => {
                    let ip = match value.parse::<IpAddr>() {
                        Ok(ip) => ip,
                        // Java's InetAddress.getByName prefers IPv4.
                        Err(_) => (value, 0)
                            .to_socket_addrs()
                            .ok()
                            .and_then(|a| a.min_by_key(|a| a.is_ipv6()))
                            .map(|a| a.ip())
                            .ok_or_else(|| bad("not an IP address or a host name that resolves"))?,
                    };
                    c.client_port_address = Some(ip)
                }
                "secureClientPort" => {
                    c.secure_client_port =
                        Some(value.parse().map_err(|_| bad("not a port number"))?)
                }
                "secureClientPortAddress" => {
                    c.secure_client_port_address =
                        Some(value.parse().map_err(|_| bad("not an IP address"))?)
                }
                "maxClientCnxns" => {
                    c.max_client_cnxns = num(value)?.try_into().map_err(|_| bad("too large"))?
                }
                "clientPortListenBacklog" => {
                    let v: i64 = value.trim().parse().map_err(|_| bad("not a number"))?;
                    c.client_port_listen_backlog = match v {
                        ..=0 => None,
                        v => Some(v.min(u32::MAX as i64) as u32),
                    };
                }
                "minSessionTimeout" => min_to = Some(timeout(value)?),
                "maxSessionTimeout" => max_to = Some(timeout(value)?),
                "4lw.commands.whitelist" => {
                    let words: BTreeSet<String> = value
                        .split(',')
                        .map(|w| w.trim().to_owned())
                        .filter(|w| !w.is_empty())
                        .collect();
                    if words.contains("*") {
                        c.four_letter_whitelist = None;
                    } else {
                        for w in &words {
                            if !ALL_FOUR_LETTER_WORDS.contains(&w.as_str()) {
                                tracing::warn!("{src}:{line_no}: unknown four-letter word {w:?}");
                            }
                        }
                        c.four_letter_whitelist = Some(words);
                    }
                }
                "jute.maxbuffer" => {
                    let v = num(value)?;
                    if v == 0 || v > i32::MAX as u64 {
                        return Err(bad("must be between 1 and 2147483647"));
                    }
                    c.jute_max_buffer = v as usize
                }
                "snapCount" => {
                    c.snap_count = num(value)?;
                    if c.snap_count < 2 {
                        return Err(bad("must be at least 2"));
                    }
                }
                // ZooKeeper's preAllocSize is in kilobytes.
                "preAllocSize" => c.pre_alloc_size = num(value)? * 1024,
                "autopurge.snapRetainCount" => {
                    c.autopurge_snap_retain_count =
                        num(value)?.try_into().map_err(|_| bad("too large"))?
                }
                "autopurge.purgeInterval" => {
                    c.autopurge_purge_interval_hours =
                        num(value)?.try_into().map_err(|_| bad("too large"))?
                }
                "extendedTypesEnabled" | "zookeeper.extendedTypesEnabled" => {
                    c.extended_types_enabled = boolean(value)?
                }
                "forceSync" | "zookeeper.forceSync" => c.force_sync = boolean(value)?,
                "DigestAuthenticationProvider.superDigest"
                | "zookeeper.DigestAuthenticationProvider.superDigest" => {
                    if !value.contains(':') {
                        return Err(bad("expected user:base64(sha1(user:password))"));
                    }
                    c.super_digest = Some(value.to_owned())
                }
                "znode.container.checkIntervalMs" => c.container_check_interval_ms = num(value)?,
                "znode.container.maxPerMinute" => {
                    c.container_max_per_minute =
                        num(value)?.try_into().map_err(|_| bad("too large"))?
                }
                "readonlymode.enabled" => c.read_only_mode = boolean(value)?,
                // Java's Boolean.parseBoolean, as Apache reads these two: anything but
                // "true" is false.
                "reconfigEnabled" => c.reconfig_enabled = value.eq_ignore_ascii_case("true"),
                "standaloneEnabled" => c.standalone_enabled = value.eq_ignore_ascii_case("true"),
                "localSessionsEnabled" => {
                    c.local_sessions_enabled = value.eq_ignore_ascii_case("true")
                }
                "localSessionsUpgradingEnabled" => {
                    c.local_sessions_upgrading_enabled = value.eq_ignore_ascii_case("true")
                }
                // Apache turns an unknown zoo.cfg key into the system property
                // zookeeper.<key>; zookeeper.skipACL is on only when it is "yes".
                "skipACL" | "zookeeper.skipACL" => c.skip_acl = value == "yes",
                "peerType" => {
                    c.peer_type = match value {
                        "observer" => PeerType::Observer,
                        "participant" => PeerType::Participant,
                        _ => return Err(bad("expected observer or participant")),
                    }
                }
                k if k.starts_with("server.")
                    || k.starts_with("group.")
                    || k.starts_with("weight.") =>
                {
                    c.membership(k, value).map_err(|e| bad(&e))?;
                    if membership_line.is_none() {
                        membership_line = Some((line_no, k.to_owned(), value.to_owned()));
                    }
                }
                "dynamicConfigFile" => c.dynamic_config_file = Some(PathBuf::from(value)),
                "admin.enableServer" | "zookeeper.admin.enableServer" => {
                    c.admin.enable_server = boolean(value)?
                }
                "admin.serverAddress" | "zookeeper.admin.serverAddress" => {
                    c.admin.server_address =
                        value.parse().map_err(|_| bad("expected an IP address"))?
                }
                "admin.serverPort" | "zookeeper.admin.serverPort" => {
                    c.admin.server_port =
                        num(value)?.try_into().map_err(|_| bad("expected a port"))?
                }
                "admin.commandURL" | "zookeeper.admin.commandURL" => {
                    if !value.starts_with('/') {
                        return Err(bad("must start with /"));
                    }
                    c.admin.command_url = value.trim_end_matches('/').to_owned();
                    if c.admin.command_url.is_empty() {
                        c.admin.command_url = "/".into();
                    }
                }
                "admin.idleTimeout" | "zookeeper.admin.idleTimeout" => {
                    c.admin.idle_timeout_ms = num(value)?
                }
                // Java's Boolean.getBoolean, as JettyAdminServer reads them.
                "admin.portUnification" | "zookeeper.admin.portUnification" => {
                    c.admin.port_unification = java_bool(value)
                }
                "admin.forceHttps" | "zookeeper.admin.forceHttps" => {
                    c.admin.force_https = java_bool(value)
                }
                "admin.needClientAuth" | "zookeeper.admin.needClientAuth" => {
                    c.admin.need_client_auth = java_bool(value)
                }
                "metricsProvider.className" => {
                    c.metrics.prometheus = value == PROMETHEUS_PROVIDER;
                    if !c.metrics.prometheus && !value.ends_with("DefaultMetricsProvider") {
                        tracing::warn!(
                            "{src}:{line_no}: metrics provider {value} unknown; mntr only"
                        );
                    }
                }
                "metricsProvider.httpHost" => {
                    c.metrics.http_host = value.parse().map_err(|_| bad("not an IP address"))?
                }
                "metricsProvider.httpPort" => {
                    c.metrics.http_port = num(value)?.try_into().map_err(|_| bad("not a port"))?
                }
                "metricsProvider.exportJvmInfo" => c.metrics.export_jvm_info = boolean(value)?,
                "quorum.auth.enableSasl" => c.quorum_auth.enable_sasl = java_bool(value),
                "quorum.auth.learnerRequireSasl" => {
                    c.quorum_auth.learner_require_sasl = java_bool(value)
                }
                "quorum.auth.serverRequireSasl" => {
                    c.quorum_auth.server_require_sasl = java_bool(value)
                }
                "quorum.auth.learner.saslLoginContext" => {
                    c.quorum_auth.learner_login_context = value.to_owned()
                }
                "quorum.auth.server.saslLoginContext" => {
                    c.quorum_auth.server_login_context = value.to_owned()
                }
                "quorum.auth.kerberos.servicePrincipal" => {
                    c.quorum_auth.kerberos_service_principal = value.to_owned()
                }
                "sslQuorum" => c.quorum_tls.ssl_quorum = java_bool(value),
                "portUnification" => c.quorum_tls.port_unification = java_bool(value),
                "sslQuorumReloadCertFiles" => c.quorum_tls.reload_cert_files = java_bool(value),
                "quorum.cnxn.threads.size" => {
                    tracing::info!("{src}:{line_no}: {key} accepted and not used")
                }
                // Keys ZooKeeper knows that we accept and do not need.
                "electionAlg"
                | "quorumListenOnAllIPs"
                | "globalOutstandingLimit"
                | "syncEnabled"
                | "leaderServes"
                | "cnxTimeout" => {
                    tracing::info!("{src}:{line_no}: {key} accepted and not used")
                }
                // Already kept as a system property.
                _ if from_jvm => {}
                // As Apache's QuorumPeerConfig: a key it does not know becomes the
                // system property `zookeeper.<key>`.
                _ => {
                    let prop = format!("zookeeper.{key}");
                    if !READ_PROPS.contains(&prop.as_str())
                        && !READ_PROP_PREFIXES.iter().any(|p| prop.starts_with(p))
                    {
                        tracing::warn!("{src}:{line_no}: unknown key {key:?} ignored");
                    }
                    c.system_props.insert(prop, value.to_owned());
                }
            }
        }
        if let (Some(_), Some((line, key, value))) = (&c.dynamic_config_file, membership_line) {
            return Err(ConfigError::BadValue {
                file: file.to_owned(),
                line,
                key: key.clone(),
                value,
                why: format!("parameter: {key} must be in a separate dynamic config file"),
            });
        }
        // QuorumPeerConfig's checks of the quorum.auth.* combination.
        let qa = &c.quorum_auth;
        for (on, name) in [
            (qa.server_require_sasl, "quorum.auth.serverRequireSasl"),
            (qa.learner_require_sasl, "quorum.auth.learnerRequireSasl"),
        ] {
            if on && !qa.enable_sasl {
                return Err(ConfigError::Invalid(format!(
                    "{file}: quorum.auth.enableSasl is disabled, so cannot enable {name}"
                )));
            }
        }
        if qa.server_require_sasl && !qa.learner_require_sasl {
            return Err(ConfigError::Invalid(format!(
                "{file}: quorum.auth.learnerRequireSasl is disabled, so cannot enable \
                 quorum.auth.serverRequireSasl"
            )));
        }
        // As ZooKeeper's QuorumPeerConfig: there is no default data directory.
        c.data_dir =
            data_dir.ok_or_else(|| ConfigError::Invalid(format!("{file}: dataDir is not set")))?;
        c.data_log_dir = data_log_dir.unwrap_or_else(|| c.data_dir.clone());
        let tick = c.tick_time_ms as i32;
        let or_default = |t: Option<(i32, usize)>, d: i32| match t {
            None | Some((-1, _)) => d,
            Some((t, _)) => t,
        };
        c.min_session_timeout_ms = or_default(min_to, 2 * tick);
        c.max_session_timeout_ms = or_default(max_to, 20 * tick);
        if c.min_session_timeout_ms > c.max_session_timeout_ms {
            // Name the line that set one of them (the later one if both).
            let (key, line) = match (min_to, max_to) {
                (Some((_, l)), Some((_, m))) if m > l => ("maxSessionTimeout", m),
                (Some((_, l)), _) => ("minSessionTimeout", l),
                (None, Some((_, m))) => ("maxSessionTimeout", m),
                (None, None) => unreachable!("the defaults are ordered"),
            };
            return Err(ConfigError::Invalid(format!(
                "{file}:{line}: {key}: minSessionTimeout {} must not be larger than maxSessionTimeout {}",
                c.min_session_timeout_ms, c.max_session_timeout_ms
            )));
        }
        Ok(c)
    }

    /// The membership as Apache's `QuorumVerifier.toString()` writes it, the
    /// text of `/zookeeper/config` and of `conf`'s membership: one
    /// `server.N=host:quorumPort:electionPort:participant|observer[;clientAddr:clientPort]`
    /// line per server, the `group.N` / `weight.N` lines of a hierarchical view, then
    /// `version=<hex>` (no newline after it).
    pub fn membership_text(&self) -> String {
        let hierarchy = crate::reconfig::Hierarchy {
            groups: self.groups.clone(),
            weights: self.weights.clone(),
        };
        crate::reconfig::text(&self.servers, &hierarchy, self.config_version.unwrap_or(0))
    }

    /// A Java system property as Apache's server would see it (see
    /// [`Config::system_props`]); add its name to [`READ_PROPS`].
    /// `zookeeper.digest.enabled` (a zoo.cfg `digest.enabled` or a `-D` flag), true
    /// unless set: Boolean.parseBoolean, so only "true" in any case is true. Off,
    /// Apache writes no digest in snapshots, attaches none to transactions and
    /// compares none.
    pub fn digest_enabled(&self) -> bool {
        self.prop("zookeeper.digest.enabled")
            .is_none_or(|v| v.eq_ignore_ascii_case("true"))
    }

    pub fn prop(&self, name: &str) -> Option<&str> {
        debug_assert!(
            READ_PROPS.contains(&name) || !name.starts_with("zookeeper."),
            "{name} is read but not in READ_PROPS"
        );
        self.system_props.get(name).map(String::as_str)
    }

    /// The system properties whose names start with `prefix` (one of
    /// [`READ_PROP_PREFIXES`], or a name of [`READ_PROPS`] that also has variants),
    /// in name order.
    pub fn props_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        debug_assert!(
            READ_PROP_PREFIXES.contains(&prefix) || READ_PROPS.contains(&prefix),
            "{prefix} is read but not in READ_PROP_PREFIXES"
        );
        self.system_props
            .range(prefix.to_owned()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// True without `server.N` lines.
    pub fn is_standalone(&self) -> bool {
        self.servers.is_empty()
    }

    pub fn four_letter_allowed(&self, word: &str) -> bool {
        match &self.four_letter_whitelist {
            None => true,
            Some(set) => set.contains(word),
        }
    }
}

/// The text of a membership as Apache's `QuorumVerifier.toString()` writes it
/// (see [`Config::membership_text`]).
pub fn membership_text(servers: &BTreeMap<u64, ServerSpec>, version: u64) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for s in servers.values() {
        out.push_str(&s.line());
        out.push('\n');
    }
    let _ = write!(out, "version={version:x}");
    out
}

impl ServerSpec {
    /// `server.N=host:quorumPort:electionPort:participant|observer[;clientAddr:clientPort]`,
    /// as Apache's `QuorumServer.toString()` writes it (a client port without an
    /// address is on 0.0.0.0).
    pub fn line(&self) -> String {
        let t = match self.peer_type {
            PeerType::Participant => "participant",
            PeerType::Observer => "observer",
        };
        let mut out = format!(
            "server.{}={}:{}:{}:{t}",
            self.id, self.host, self.quorum_port, self.election_port
        );
        match (&self.client_addr, self.client_port) {
            (Some(a), Some(p)) => out.push_str(&format!(";{a}:{p}")),
            (None, Some(p)) => out.push_str(&format!(";0.0.0.0:{p}")),
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests;
