//! zoo.cfg parsing and the dynamic configuration file, key by key.

use super::*;

#[test]
fn admin_server_keys_with_and_without_the_zookeeper_prefix() {
    let c = Config::parse("dataDir=/d\n", "zoo.cfg").unwrap();
    assert_eq!(c.admin, AdminConfig::default());
    assert!(c.admin.enable_server);
    assert_eq!(c.admin.server_port, 8080);
    let c = Config::parse(
        "dataDir=/d\nadmin.enableServer=false\nzookeeper.admin.serverPort=9090\n\
         admin.serverAddress=127.0.0.1\nadmin.commandURL=/cmds/\nadmin.idleTimeout=500\n",
        "zoo.cfg",
    )
    .unwrap();
    assert!(!c.admin.enable_server);
    assert_eq!(c.admin.server_port, 9090);
    assert_eq!(c.admin.server_address.to_string(), "127.0.0.1");
    assert_eq!(c.admin.command_url, "/cmds");
    assert_eq!(c.admin.idle_timeout_ms, 500);
    assert!(Config::parse("dataDir=/d\nadmin.serverPort=99999\n", "zoo.cfg").is_err());
    assert!(Config::parse("dataDir=/d\nadmin.commandURL=x\n", "zoo.cfg").is_err());
}

#[test]
fn admin_https_keys_read_as_java_booleans_from_zoo_cfg_and_jvm_flags() {
    let c = Config::parse("dataDir=/d\n", "zoo.cfg").unwrap();
    assert!(!c.admin.port_unification && !c.admin.force_https && !c.admin.need_client_auth);
    let c = Config::parse(
        "dataDir=/d\nadmin.portUnification=TRUE\nadmin.forceHttps=yes\n\
         ssl.quorum.keyStore.location=/k.p12\n",
        "zoo.cfg",
    )
    .unwrap();
    // Boolean.getBoolean: only "true", in any case.
    assert!(c.admin.port_unification);
    assert!(!c.admin.force_https);
    assert_eq!(
        c.prop("zookeeper.ssl.quorum.keyStore.location"),
        Some("/k.p12")
    );
    let jvm = vec![
        ("zookeeper.admin.forceHttps".to_owned(), "true".to_owned()),
        (
            "zookeeper.admin.needClientAuth".to_owned(),
            "true".to_owned(),
        ),
    ];
    let c = Config::parse_with_jvm_flags("dataDir=/d\n", "zoo.cfg", &jvm).unwrap();
    assert!(c.admin.force_https && c.admin.need_client_auth);
}

#[test]
fn metrics_provider_keys_as_apache_names_them() {
    let c = Config::parse("dataDir=/d\n", "zoo.cfg").unwrap();
    assert_eq!(c.metrics, MetricsConfig::default());
    assert!(!c.metrics.prometheus);
    let c = Config::parse(
        &format!(
            "dataDir=/d\nmetricsProvider.className={PROMETHEUS_PROVIDER}\n\
             metricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort=7001\n\
             metricsProvider.exportJvmInfo=false\n"
        ),
        "zoo.cfg",
    )
    .unwrap();
    assert!(c.metrics.prometheus);
    assert_eq!(c.metrics.http_host.to_string(), "127.0.0.1");
    assert_eq!(c.metrics.http_port, 7001);
    assert!(!c.metrics.export_jvm_info);
    let default_provider =
        "dataDir=/d\nmetricsProvider.className=org.apache.zookeeper.metrics.impl.DefaultMetricsProvider\n";
    assert!(
        !Config::parse(default_provider, "zoo.cfg")
            .unwrap()
            .metrics
            .prometheus
    );
    assert!(Config::parse("dataDir=/d\nmetricsProvider.httpPort=70000\n", "zoo.cfg").is_err());
    assert!(Config::parse("dataDir=/d\nmetricsProvider.httpHost=nohost\n", "zoo.cfg").is_err());
}

#[test]
fn defaults_follow_tick_time() {
    let c = Config::parse("tickTime=2000\ndataDir=/d\nclientPort=2181\n", "zoo.cfg").unwrap();
    assert_eq!(c.min_session_timeout_ms, 4000);
    assert_eq!(c.max_session_timeout_ms, 40000);
    assert_eq!(c.data_log_dir, PathBuf::from("/d"));
    assert!(c.is_standalone());
    assert!(c.four_letter_allowed("srvr"));
    assert!(!c.four_letter_allowed("mntr"));
}

#[test]
fn bad_value_names_key_and_line() {
    let err = Config::parse("# c\ntickTime=2000\nclientPort=abc\n", "zoo.cfg").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("zoo.cfg:3"), "{msg}");
    assert!(msg.contains("clientPort"), "{msg}");
}

#[test]
fn unknown_keys_are_not_fatal() {
    assert!(Config::parse("dataDir=/d\nfooBar=1\n", "zoo.cfg").is_ok());
}

#[test]
fn data_dir_must_be_set() {
    let err = Config::parse("tickTime=2000\nclientPort=2181\n", "zoo.cfg").unwrap_err();
    assert_eq!(err.to_string(), "zoo.cfg: dataDir is not set");
}

#[test]
fn minus_one_session_timeouts_mean_the_defaults() {
    let c = Config::parse(
        "tickTime=1000\ndataDir=/d\nminSessionTimeout=-1\nmaxSessionTimeout=-1\n",
        "zoo.cfg",
    )
    .unwrap();
    assert_eq!(
        (c.min_session_timeout_ms, c.max_session_timeout_ms),
        (2000, 20000)
    );
    let err = Config::parse("dataDir=/d\nminSessionTimeout=-2\n", "zoo.cfg").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("zoo.cfg:2: bad value for minSessionTimeout"),
        "{err}"
    );
}

#[test]
fn min_above_max_names_the_line() {
    let text = "dataDir=/d\nminSessionTimeout=50000\nmaxSessionTimeout=40000\n";
    let err = Config::parse(text, "zoo.cfg").unwrap_err().to_string();
    assert!(err.starts_with("zoo.cfg:3: maxSessionTimeout:"), "{err}");
    // Only max set, below the default min (2 ticks).
    let err = Config::parse("dataDir=/d\n#\nmaxSessionTimeout=10\n", "zoo.cfg")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("zoo.cfg:3: maxSessionTimeout:"), "{err}");
}

#[test]
fn client_port_address_may_be_a_host_name() {
    let c = Config::parse("dataDir=/d\nclientPortAddress=localhost\n", "zoo.cfg").unwrap();
    assert!(c.client_port_address.unwrap().is_loopback());
    let err = Config::parse(
        "dataDir=/d\nclientPortAddress=no.such.host.invalid\n",
        "zoo.cfg",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("zoo.cfg:2: bad value for clientPortAddress"),
        "{err}"
    );
}

#[test]
fn server_lines_parse_with_type_and_client_address() {
    let c = Config::parse(
        "dataDir=/d\nserver.1=localhost:2887:3887\nserver.2=h2:2888:3888:observer;127.0.0.1:2182\nserver.3=h3:1:2;2183\n4lw.commands.whitelist=*\n",
        "zoo.cfg",
    )
    .unwrap();
    assert_eq!(c.servers.len(), 3);
    assert_eq!(c.servers[&2].peer_type, PeerType::Observer);
    assert_eq!(c.servers[&2].client_port, Some(2182));
    assert_eq!(c.servers[&2].client_addr.as_deref(), Some("127.0.0.1"));
    assert_eq!(c.servers[&3].client_port, Some(2183));
    assert!(c.four_letter_allowed("mntr"));
}

/// A data dir with `myid`, a zoo.cfg naming a dynamic file, and that file.
fn dynamic_layout(dir: &Path, static_extra: &str, dynamic: &str) -> PathBuf {
    std::fs::write(dir.join("myid"), "2\n").unwrap();
    let dyn_path = dir.join("zoo.cfg.dynamic.100000000");
    std::fs::write(&dyn_path, dynamic).unwrap();
    let cfg = dir.join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=2000\ndataDir={}\n{static_extra}dynamicConfigFile={}\n",
            dir.display(),
            dyn_path.display()
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn the_membership_comes_from_the_dynamic_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dynamic_layout(
        dir.path(),
        "",
        "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n\
         server.2=127.0.0.1:2889:3889:participant;2182\n\
         server.3=127.0.0.1:2890:3890:observer;2183\n",
    );
    let c = Config::load(&cfg).unwrap();
    assert!(
        !c.is_standalone(),
        "an ensemble, not three standalone servers"
    );
    assert_eq!(c.myid, Some(2));
    assert_eq!(c.servers.len(), 3);
    assert_eq!(c.servers[&2].client_port, Some(2182));
    assert_eq!(c.servers[&3].peer_type, PeerType::Observer);
    assert_eq!(c.config_version, Some(0x1_0000_0000));
}

#[test]
fn membership_in_both_files_is_refused_as_apache_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dynamic_layout(
        dir.path(),
        "server.1=127.0.0.1:2888:3888\n",
        "server.2=127.0.0.1:2889:3889\n",
    );
    let msg = Config::load(&cfg).unwrap_err().to_string();
    assert!(
        msg.contains("parameter: server.1 must be in a separate dynamic config file"),
        "{msg}"
    );
    assert!(msg.contains("zoo.cfg:3"), "{msg}");
}

#[test]
fn a_version_inside_the_dynamic_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dynamic_layout(
        dir.path(),
        "",
        "server.2=127.0.0.1:2889:3889\nversion=100000000\n",
    );
    let msg = Config::load(&cfg).unwrap_err().to_string();
    assert!(
        msg.contains("dynamic file shouldn't have version inside"),
        "{msg}"
    );
}

#[test]
fn an_empty_dynamic_file_is_an_error_not_a_standalone_server() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dynamic_layout(dir.path(), "", "# nothing yet\n");
    let msg = Config::load(&cfg).unwrap_err().to_string();
    assert!(msg.contains("has no server.N lines"), "{msg}");
}

#[test]
fn a_missing_dynamic_file_is_an_error_not_a_standalone_server() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dynamic_layout(dir.path(), "", "");
    std::fs::remove_file(dir.path().join("zoo.cfg.dynamic.100000000")).unwrap();
    let msg = Config::load(&cfg).unwrap_err().to_string();
    assert!(msg.contains("cannot read"), "{msg}");
    assert!(msg.contains("zoo.cfg.dynamic.100000000"), "{msg}");
}

#[test]
fn reconfig_keys_default_as_apache_and_parse_as_java_booleans() {
    let c = Config::parse("dataDir=/tmp/x\n", "zoo.cfg").unwrap();
    assert!(
        !c.reconfig_enabled,
        "Apache 3.5.3+ disables reconfig by default"
    );
    assert!(c.standalone_enabled);
    assert!(!c.skip_acl);
    let c = Config::parse(
        "dataDir=/tmp/x\nreconfigEnabled=TRUE\nstandaloneEnabled=false\nskipACL=yes\n",
        "zoo.cfg",
    )
    .unwrap();
    assert!(c.reconfig_enabled);
    assert!(!c.standalone_enabled);
    assert!(c.skip_acl);
    // Boolean.parseBoolean: anything but "true" is false; skipACL wants "yes".
    let c = Config::parse(
        "dataDir=/tmp/x\nreconfigEnabled=yes\nskipACL=true\n",
        "zoo.cfg",
    )
    .unwrap();
    assert!(!c.reconfig_enabled);
    assert!(!c.skip_acl);
}

#[test]
fn jvm_flags_are_split_as_the_shell_splits_them() {
    let flags = r#"-Xmx512m -Dzookeeper.admin.serverPort=9090 -Djava.security.auth.login.config="/etc/zk/jaas file.conf" -Dreadonlymode.enabled -Dx='a b'\ c -D -cp /x"#;
    assert_eq!(
        jvm_system_props(flags),
        vec![
            ("zookeeper.admin.serverPort".into(), "9090".into()),
            (
                "java.security.auth.login.config".into(),
                "/etc/zk/jaas file.conf".into()
            ),
            ("readonlymode.enabled".into(), String::new()),
            ("x".into(), "a b c".into()),
        ]
    );
}

fn props(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn jvm_system_properties_configure_what_apache_reads_as_properties() {
    let jvm = props(&[
        ("zookeeper.4lw.commands.whitelist", "*"),
        ("zookeeper.snapCount", "1000"),
        ("zookeeper.admin.serverPort", "9090"),
        ("readonlymode.enabled", "true"),
        ("jute.maxbuffer", "4096"),
        ("java.security.auth.login.config", "/etc/zk/jaas.conf"),
        // Not a system property Apache reads: configures nothing.
        ("tickTime", "5"),
    ]);
    let c = Config::parse_with_jvm_flags("dataDir=/d\n", "zoo.cfg", &jvm).unwrap();
    assert_eq!(c.four_letter_whitelist, None);
    assert_eq!(c.snap_count, 1000);
    assert_eq!(c.admin.server_port, 9090);
    assert!(c.read_only_mode);
    assert_eq!(c.jute_max_buffer, 4096);
    assert_eq!(c.tick_time_ms, 3000);
    assert_eq!(
        c.system_props
            .get("java.security.auth.login.config")
            .map(String::as_str),
        Some("/etc/zk/jaas.conf")
    );
}

#[test]
fn zoo_cfg_wins_over_jvm_flags_and_unknown_keys_become_zookeeper_properties() {
    let jvm = props(&[
        ("zookeeper.admin.serverPort", "9090"),
        ("zookeeper.ssl.keyStore.location", "/from/flags.jks"),
    ]);
    let c = Config::parse_with_jvm_flags(
        "dataDir=/d\nadmin.serverPort=9191\nssl.keyStore.location=/from/cfg.jks\n",
        "zoo.cfg",
        &jvm,
    )
    .unwrap();
    assert_eq!(c.admin.server_port, 9191);
    assert_eq!(
        c.system_props
            .get("zookeeper.ssl.keyStore.location")
            .map(String::as_str),
        Some("/from/cfg.jks")
    );
}

#[test]
fn a_bad_jvm_flag_value_names_where_it_came_from() {
    let jvm = props(&[("zookeeper.snapCount", "many")]);
    let msg = Config::parse_with_jvm_flags("dataDir=/d\n", "zoo.cfg", &jvm)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("JVMFLAGS"), "{msg}");
    assert!(msg.contains("snapCount"), "{msg}");
}

#[test]
fn auth_providers_and_super_users_are_read_by_prefix() {
    let jvm = jvm_system_props(
        "-Dzookeeper.authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider -Dzookeeper.superUser.2=root",
    );
    let c = Config::parse_with_jvm_flags(
        "dataDir=/d\nauthProvider.1=org.example.Provider\nsuperUser=admin\nenforce.auth.enabled=true\n",
        "zoo.cfg",
        &jvm,
    )
    .unwrap();
    let providers: Vec<(&str, &str)> = c.props_with_prefix("zookeeper.authProvider.").collect();
    assert_eq!(
        providers,
        vec![
            ("zookeeper.authProvider.1", "org.example.Provider"),
            (
                "zookeeper.authProvider.sasl",
                "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
            ),
        ]
    );
    let supers: Vec<&str> = c
        .props_with_prefix("zookeeper.superUser")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(supers, vec!["admin", "root"]);
    assert_eq!(c.prop("zookeeper.enforce.auth.enabled"), Some("true"));
}

#[test]
fn secure_client_port_and_client_tls_settings() {
    let jvm = props(&[("zookeeper.ssl.clientAuth", "want")]);
    let c = Config::parse_with_jvm_flags(
        "dataDir=/d\nsecureClientPort=2281\nsecureClientPortAddress=127.0.0.1\n\
         ssl.protocol=TLSv1.2\nssl.keyStore.location=/k.p12\nclient.portUnification=true\n",
        "zoo.cfg",
        &jvm,
    )
    .unwrap();
    assert_eq!(c.secure_client_port, Some(2281));
    assert_eq!(
        c.secure_client_port_address,
        Some("127.0.0.1".parse().unwrap())
    );
    assert_eq!(c.prop("zookeeper.client.portUnification"), Some("true"));
    let t = crate::tls::TlsSettings::from_props(&c, "zookeeper.ssl.").unwrap();
    assert_eq!(t.client_auth, crate::tls::ClientAuth::Want);
    assert_eq!(t.versions, vec![&rustls::version::TLS12]);
    assert_eq!(
        t.key_store.unwrap().ty,
        crate::tls::stores::StoreType::Pkcs12
    );
    assert!(Config::parse("dataDir=/d\nsecureClientPort=x\n", "zoo.cfg").is_err());
    let bad = Config::parse("dataDir=/d\nssl.clientAuth=maybe\n", "zoo.cfg").unwrap();
    let e = crate::tls::TlsSettings::from_props(&bad, "zookeeper.ssl.").unwrap_err();
    assert!(e.contains("zookeeper.ssl.clientAuth"), "{e}");
    let bad = Config::parse("dataDir=/d\nssl.ciphersuites=NOPE\n", "zoo.cfg").unwrap();
    let e = crate::tls::TlsSettings::from_props(&bad, "zookeeper.ssl.").unwrap_err();
    assert!(e.contains("unknown cipher suite"), "{e}");
}

#[test]
fn quorum_auth_keys_and_quorum_peer_config_s_checks() {
    let c = Config::parse("dataDir=/d\n", "zoo.cfg").unwrap();
    assert_eq!(c.quorum_auth, QuorumAuthConfig::default());
    let c = Config::parse(
        "dataDir=/d\nquorum.auth.enableSasl=TRUE\nquorum.auth.learnerRequireSasl=true\n\
         quorum.auth.serverRequireSasl=true\nquorum.auth.learner.saslLoginContext=L\n\
         quorum.auth.server.saslLoginContext=S\nquorum.auth.kerberos.servicePrincipal=zk/h\n",
        "zoo.cfg",
    )
    .unwrap();
    let q = &c.quorum_auth;
    assert!(q.enable_sasl && q.learner_require_sasl && q.server_require_sasl);
    assert_eq!(
        (
            q.learner_login_context.as_str(),
            q.server_login_context.as_str()
        ),
        ("L", "S")
    );
    assert_eq!(q.kerberos_service_principal, "zk/h");
    assert!(!c.system_props.keys().any(|k| k.contains("quorum.auth")));
    for bad in [
        "quorum.auth.serverRequireSasl=true\nquorum.auth.learnerRequireSasl=true\n",
        "quorum.auth.learnerRequireSasl=true\n",
        "quorum.auth.enableSasl=true\nquorum.auth.serverRequireSasl=true\n",
    ] {
        let e = Config::parse(&format!("dataDir=/d\n{bad}"), "zoo.cfg").unwrap_err();
        assert!(e.to_string().contains("so cannot enable"), "{e}");
    }
}

#[test]
fn quorum_tls_keys_and_ssl_quorum_settings() {
    let c = Config::parse("dataDir=/d\n", "zoo.cfg").unwrap();
    assert_eq!(c.quorum_tls, super::QuorumTlsConfig::default());
    assert!(crate::tls::quorum::QuorumTlsPort::from_config(&c)
        .unwrap()
        .is_none());
    let jvm = props(&[("zookeeper.ssl.quorum.hostnameVerification", "false")]);
    let c = Config::parse_with_jvm_flags(
        "dataDir=/d\nsslQuorum=TRUE\nportUnification=true\nsslQuorumReloadCertFiles=yes\n\
         ssl.quorum.keyStore.location=/k.jks\nssl.quorum.clientAuth=none\n\
         ssl.quorum.enabledProtocols=TLSv1.3\n",
        "zoo.cfg",
        &jvm,
    )
    .unwrap();
    // Java's Boolean.parseBoolean: "yes" is false.
    assert_eq!(
        c.quorum_tls,
        super::QuorumTlsConfig {
            ssl_quorum: true,
            port_unification: true,
            reload_cert_files: false,
        }
    );
    let t = crate::tls::TlsSettings::from_props(&c, crate::tls::quorum::PREFIX).unwrap();
    assert_eq!(t.client_auth, crate::tls::ClientAuth::None);
    assert_eq!(t.versions, vec![&rustls::version::TLS13]);
    assert!(!t.hostname_verification);
    assert_eq!(t.key_store.unwrap().ty, crate::tls::stores::StoreType::Jks);
    // sslQuorum without a trust store cannot verify peers: the server does not start.
    let e = crate::tls::quorum::QuorumTlsPort::from_config(&c).unwrap_err();
    assert!(e.contains("trustStore.location"), "{e}");
}

#[test]
fn client_port_listen_backlog_is_apaches_key_and_minus_one_is_the_default() {
    let c = Config::parse("dataDir=/d\nclientPortListenBacklog=1000\n", "zoo.cfg").unwrap();
    assert_eq!(c.client_port_listen_backlog, Some(1000));
    let c = Config::parse("dataDir=/d\nclientPortListenBacklog=-1\n", "zoo.cfg").unwrap();
    assert_eq!(c.client_port_listen_backlog, None);
    let c = Config::parse("dataDir=/d\n", "zoo.cfg").unwrap();
    assert_eq!(c.client_port_listen_backlog, None);
    assert!(Config::parse("dataDir=/d\nclientPortListenBacklog=many\n", "zoo.cfg").is_err());
}
