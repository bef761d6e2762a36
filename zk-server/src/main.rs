//! `zk-server path/to/zoo.cfg`: run a ZooKeeper-compatible server.

use std::path::PathBuf;

use clap::Parser;
use zk_server::config::Config;

#[derive(Parser)]
#[command(name = "zk-server", version, about = "A ZooKeeper-compatible server")]
struct Args {
    /// ZooKeeper's zoo.cfg
    config: PathBuf,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let cfg = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("zk-server: {e}");
            std::process::exit(zk_server::EXIT_CONFIG);
        }
    };
    if !cfg.is_standalone() {
        tracing::warn!(
            "{} server.N lines found: ensemble mode is not implemented yet, serving standalone",
            cfg.servers.len()
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        match zk_server::Server::start(cfg).await {
            Ok(_) => std::future::pending::<()>().await,
            Err(e) => {
                eprintln!("zk-server: cannot bind the client port: {e}");
                std::process::exit(1);
            }
        }
    });
}
