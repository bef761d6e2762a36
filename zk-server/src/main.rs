//! `zk-server path/to/zoo.cfg`: run a ZooKeeper-compatible server.

use std::path::PathBuf;

use clap::Parser;
use zk_server::config::Config;

#[derive(Parser)]
#[command(
    name = "zk-server",
    version,
    about = "A ZooKeeper-compatible server",
    after_help = "Environment: TOKIO_WORKER_THREADS=N sets the runtime's worker threads (default: \
one per CPU, divided among the ensemble's members whose quorum address is on this machine, at \
least 1; docs/performance.md).",
    args_conflicts_with_subcommands = true
)]
struct Args {
    /// ZooKeeper's zoo.cfg
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Delete old snapshots and the log segments only they need (like zkCleanup.sh).
    Purge {
        /// ZooKeeper's zoo.cfg (dataDir and dataLogDir are read from it)
        config: PathBuf,
        /// How many snapshots to keep (at least 3)
        #[arg(short = 'n', long = "count", default_value_t = 3)]
        count: usize,
    },
    /// Write a stopped server's state as Apache ZooKeeper's snapshot.<zxid> in a fresh
    /// version-2 (ours moves to version-2.ours), so Apache ZooKeeper can start on the
    /// data directory again (docs/operations.md, "Going back to Apache ZooKeeper").
    ExportApache {
        /// ZooKeeper's zoo.cfg (dataDir and dataLogDir are read from it)
        config: PathBuf,
        /// none, gz or snappy (default: what zoo.cfg's snapshot.compression.method, or
        /// -Dzookeeper.snapshot.compression.method in SERVER_JVMFLAGS, says; Apache reads
        /// any of them regardless)
        #[arg(long)]
        compression: Option<String>,
        /// 3.8 or 3.9: the version that will read it (3.9's snapshots end with its
        /// lastProcessedZxid after the digest)
        #[arg(long = "apache-version", default_value = "3.8")]
        apache_version: String,
        /// Leave the digest out, for an Apache server run with
        /// zookeeper.digest.enabled=false (default: as zoo.cfg's digest.enabled or the -D
        /// flag says)
        #[arg(long)]
        no_digest: bool,
    },
    /// Run a local ensemble on 127.0.0.1 in the foreground (the seed's configuration:
    /// server.N=localhost:288(6+N):388(6+N), client ports 2181, 2182, ...).
    Ensemble {
        /// How many servers (3, 5 or 7 make sense)
        #[arg(short = 'n', long = "servers", default_value_t = 3)]
        servers: usize,
        /// Where the configurations, myid files and data go
        #[arg(long, default_value = ".data/ensemble")]
        dir: PathBuf,
    },
}

/// The system allocator, counting the bytes live, so that the trimmer knows when a burst
/// has been freed and gives the memory back to the kernel (zk_server::memory).
#[global_allocator]
static ALLOC: zk_server::memory::CountingAlloc = zk_server::memory::CountingAlloc;

fn load(path: &std::path::Path) -> Config {
    match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("zk-server: {e}");
            std::process::exit(zk_server::EXIT_CONFIG);
        }
    }
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    if let Some(Cmd::Ensemble { servers, dir }) = &args.cmd {
        if !(1..=9).contains(servers) {
            eprintln!("zk-server ensemble: between 1 and 9 servers");
            std::process::exit(zk_server::EXIT_CONFIG);
        }
        std::process::exit(zk_server::local_ensemble::run(dir, *servers));
    }
    if let Some(Cmd::Purge { config, count }) = args.cmd {
        let cfg = load(&config);
        if count < 3 {
            eprintln!("zk-server purge: count must be at least 3");
            std::process::exit(zk_server::EXIT_CONFIG);
        }
        let sdir = zk_server::persist::snap_dir(&cfg);
        let ldir = zk_server::persist::log_dir(&cfg);
        match zab_storage::purge(&sdir, &ldir, count) {
            Ok(p) => {
                println!("{p:?}");
                return;
            }
            Err(e) => {
                eprintln!("zk-server purge: {e}");
                std::process::exit(zk_server::EXIT_STORAGE);
            }
        }
    }
    if let Some(Cmd::ExportApache {
        config,
        compression,
        apache_version,
        no_digest,
    }) = args.cmd
    {
        use zab_storage::apache_snapshot::SnapshotKind;
        use zk_server::persist::{ApacheExport, ApacheVersion};
        let cfg = load(&config);
        let mut how = ApacheExport::for_config(&cfg);
        match compression.as_deref() {
            None => {}
            Some("none") => how.compression = SnapshotKind::Plain,
            Some("gz") => how.compression = SnapshotKind::Gzip,
            Some("snappy") => how.compression = SnapshotKind::Snappy,
            Some(other) => {
                eprintln!("zk-server export-apache: --compression {other}: none, gz or snappy");
                std::process::exit(zk_server::EXIT_CONFIG);
            }
        }
        how.version = match apache_version.as_str() {
            "3.6" | "3.7" | "3.8" => ApacheVersion::V3_8,
            "3.9" => ApacheVersion::V3_9,
            other => {
                eprintln!("zk-server export-apache: --apache-version {other}: 3.8 or 3.9");
                std::process::exit(zk_server::EXIT_CONFIG);
            }
        };
        if no_digest {
            how.digest = false;
        }
        match zk_server::persist::export_apache_snapshot(&cfg, &how) {
            Ok(f) => {
                println!("{}", f.display());
                return;
            }
            Err(e) => {
                eprintln!("zk-server export-apache: {e}");
                std::process::exit(zk_server::EXIT_STORAGE);
            }
        }
    }
    let Some(config) = args.config else {
        eprintln!("usage: zk-server <zoo.cfg> | zk-server ensemble [-n servers] | zk-server purge <zoo.cfg> [-n count] | zk-server export-apache <zoo.cfg> [--compression none|gz|snappy] [--apache-version 3.8|3.9] [--no-digest]");
        std::process::exit(zk_server::EXIT_CONFIG);
    };
    let cfg = load(&config);
    // The JAAS file and the authentication settings, checked before anything starts.
    if let Err(e) = zk_server::sasl::Security::from_config(&cfg) {
        eprintln!("zk-server: {e}");
        std::process::exit(zk_server::EXIT_CONFIG);
    }
    // Quorum SASL's logins too (a Kerberos keytab the KDC refuses stops the server, as
    // Java's Login does).
    if !cfg.is_standalone() {
        let hosts = Default::default();
        if let Err(e) = zk_server::sasl::quorum::quorum_auth(&cfg, hosts) {
            eprintln!("zk-server: {e}");
            std::process::exit(zk_server::EXIT_CONFIG);
        }
    }
    // Free memory back to the kernel after bursts, from a thread of its own.
    zk_server::memory::start_trimmer(&cfg);
    // One worker thread per CPU, shared out among the ensemble's members on this machine
    // (zk_server::runtime); TOKIO_WORKER_THREADS overrides it.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers =
            zk_server::runtime::worker_threads(&cfg, cpus, zk_server::runtime::is_local_host);
        if workers < cpus {
            tracing::info!(
                "{workers} worker thread(s): this machine's {cpus} CPUs are shared with other members of the ensemble"
            );
        }
        builder.worker_threads(workers);
    }
    let rt = builder.enable_all().build().expect("tokio runtime");
    rt.block_on(async move {
        let started = if cfg.is_standalone() {
            zk_server::Server::start(cfg).await
        } else {
            zk_server::peer::start(cfg).await
        };
        match started {
            Ok(_) => std::future::pending::<()>().await,
            Err(zk_server::StartError::Recover(e)) => {
                eprintln!("zk-server: cannot recover the data: {e}");
                std::process::exit(zk_server::EXIT_STORAGE);
            }
            Err(zk_server::StartError::Bind(e)) => {
                eprintln!("zk-server: cannot bind the client port: {e}");
                std::process::exit(1);
            }
            Err(zk_server::StartError::Tls(e)) => {
                eprintln!("zk-server: client TLS: {e}");
                std::process::exit(zk_server::EXIT_CONFIG);
            }
        }
    });
}
