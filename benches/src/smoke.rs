//! What the benches' smoke tests share: a standalone server in the test's own process.

use std::net::SocketAddr;
use std::path::Path;

use zk_server::config::Config;

/// A standalone server on 127.0.0.1 (a free port), its data in `dir`, run by a runtime of
/// one worker thread; the runtime must live as long as the server is used.
pub fn start_standalone(dir: &Path) -> (tokio::runtime::Runtime, SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cfg = Config::parse(
        &format!(
            "tickTime=2000\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\npreAllocSize=1024\n\
             admin.enableServer=false\n",
            dir.display()
        ),
        "smoke",
    )
    .unwrap();
    let server = rt.block_on(zk_server::Server::start(cfg)).unwrap();
    (rt, server.local_addr)
}
