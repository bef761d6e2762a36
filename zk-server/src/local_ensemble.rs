//! `zk-server ensemble`: a local ensemble on 127.0.0.1 in one command.
//!
//! Writes the seed's configuration (tickTime=2000, initLimit=10, syncLimit=5,
//! `server.N=localhost:288(6+N):388(6+N)`, client ports 2181, 2182, ..., AdminServer ports
//! 8080, 8081, ... on 127.0.0.1, named to the web console by `console.adminAddresses`) and a
//! `myid` per server under one directory, starts one `zk-server` process per server with it, prefixes
//! their log lines with `[zkN]`, and stops them all when it is interrupted or when one of them
//! exits. The files stay, so a second run resumes the same ensemble.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The `zoo.cfg` of server `id` in an ensemble of `n` under `dir`.
pub fn config_text(dir: &Path, id: usize, n: usize) -> String {
    let mut cfg = format!(
        "# Server {id} of a local {n}-server ensemble (written by `zk-server ensemble`).\n\
         tickTime=2000\ninitLimit=10\nsyncLimit=5\n\
         dataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\n\
         4lw.commands.whitelist=srvr,ruok,stat,mntr,conf,envi,isro,cons,wchs,dirs\n\
         extendedTypesEnabled=true\n\
         admin.serverAddress=127.0.0.1\nadmin.serverPort={}\n",
        dir.join(format!("zk{id}")).display(),
        2180 + id,
        8079 + id
    );
    for j in 1..=n {
        cfg.push_str(&format!("server.{j}=localhost:{}:{}\n", 2886 + j, 3886 + j));
    }
    // Each AdminServer has a port of its own here: the web console must be told.
    let admins: Vec<String> = (1..=n)
        .map(|j| format!("{j}=127.0.0.1:{}", 8079 + j))
        .collect();
    cfg.push_str(&format!("console.adminAddresses={}\n", admins.join(",")));
    cfg
}

/// Writes the configurations and `myid` files; returns the config paths.
pub fn prepare(dir: &Path, n: usize) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for id in 1..=n {
        let data = dir.join(format!("zk{id}"));
        std::fs::create_dir_all(&data)?;
        std::fs::write(data.join("myid"), format!("{id}\n"))?;
        let cfg = dir.join(format!("zoo{id}.cfg"));
        std::fs::write(&cfg, config_text(dir, id, n))?;
        out.push(cfg);
    }
    Ok(out)
}

fn forward(tag: String, from: impl std::io::Read + Send + 'static) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "[{tag}] {line}");
        }
    });
}

/// Runs the ensemble in the foreground until Ctrl-C or until a server exits.
pub fn run(dir: &Path, n: usize) -> i32 {
    let cfgs = match prepare(dir, n) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("zk-server ensemble: cannot write {}: {e}", dir.display());
            return crate::EXIT_CONFIG;
        }
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("zk-server ensemble: cannot find this program: {e}");
            return 1;
        }
    };
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let stop = &STOP;
    let mut children: Vec<(usize, Child)> = Vec::new();
    for (i, cfg) in cfgs.iter().enumerate() {
        let id = i + 1;
        match Command::new(&exe)
            .arg(cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(mut c) => {
                forward(format!("zk{id}"), c.stdout.take().unwrap());
                forward(format!("zk{id}"), c.stderr.take().unwrap());
                children.push((id, c));
            }
            Err(e) => {
                eprintln!("zk-server ensemble: cannot start server {id}: {e}");
                stop.store(true, Ordering::SeqCst);
                break;
            }
        }
    }
    let hosts: Vec<String> = (1..=n)
        .map(|id| format!("127.0.0.1:{}", 2180 + id))
        .collect();
    eprintln!(
        "zk-server ensemble: {n} servers under {}; connect string {}; Ctrl-C stops them",
        dir.display(),
        hosts.join(",")
    );
    let mut code = 0;
    'wait: while !stop.load(Ordering::SeqCst) {
        for (id, c) in children.iter_mut() {
            if let Ok(Some(status)) = c.try_wait() {
                eprintln!("zk-server ensemble: server {id} exited ({status}); stopping the others");
                code = 1;
                break 'wait;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for (_, c) in children.iter_mut() {
        let _ = c.kill();
        let _ = c.wait();
    }
    code
}

/// Set by SIGINT or SIGTERM.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn written_configs_are_the_seed_ensemble() {
        let dir = tempfile::tempdir().unwrap();
        let cfgs = prepare(dir.path(), 3).unwrap();
        for (i, p) in cfgs.iter().enumerate() {
            let c = Config::load(p).unwrap();
            assert_eq!(c.myid, Some(i as u64 + 1));
            assert_eq!(c.client_port, 2181 + i as u16);
            assert_eq!((c.tick_time_ms, c.init_limit, c.sync_limit), (2000, 10, 5));
            assert_eq!(c.servers.len(), 3);
            assert_eq!(c.servers[&2].quorum_port, 2888);
            assert_eq!(c.servers[&2].election_port, 3888);
            assert_eq!(c.servers[&1].host, "localhost");
            let admins = crate::admin::console::admin_addresses(&c);
            assert_eq!(admins[&3], "127.0.0.1:8082");
        }
    }
}
