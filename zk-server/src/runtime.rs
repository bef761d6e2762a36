//! How many worker threads the server's tokio runtime gets.
//!
//! tokio's default is one worker per CPU, right for a server that has its machine to
//! itself (standalone `set` on 2 CPUs did 30-43 % less with one worker:
//! docs/performance.md, "Worker threads"). When several members of an ensemble run on
//! one machine (`zk-server ensemble`, tests, benchmarks, a developer's laptop), each
//! server's workers compete for the same CPUs: with 3 servers on 2 CPUs tokio wakes a
//! second, idle worker of each server to steal queued tasks, and every such wakeup is a
//! thread switch. One worker each cut the CPU per set by ~10 % and a third of the
//! context switches there (docs/performance.md, "CPU per request with Apache's C client,
//! measured again"). So the CPUs are shared out among the members this machine runs,
//! as the configuration names them: a member whose quorum address is an address of this
//! machine (loopback, or one a socket can bind) runs here. A server whose ensemble runs
//! on other machines counts only itself and keeps tokio's default.
//!
//! `TOKIO_WORKER_THREADS` still overrides this (main.rs does not size the runtime then).

use std::net::{IpAddr, ToSocketAddrs, UdpSocket};

use crate::config::Config;

/// Worker threads for a server with `cpus` CPUs: `cpus` divided among the ensemble's
/// members that `is_local` says run on this machine (at least 1). Standalone, or with
/// no other member here, all of them.
pub fn worker_threads(cfg: &Config, cpus: usize, is_local: impl Fn(&str) -> bool) -> usize {
    let cpus = cpus.max(1);
    if cfg.is_standalone() {
        return cpus;
    }
    let here = cfg
        .servers
        .values()
        .filter(|s| Some(s.id) == cfg.myid || is_local(&s.host))
        .count()
        .max(1);
    (cpus / here).max(1)
}

/// Whether `host` names this machine: it resolves to a loopback or unspecified address,
/// or to one a socket can be bound to (an address of one of its interfaces). A host
/// that does not resolve counts as another machine.
pub fn is_local_host(host: &str) -> bool {
    let Ok(addrs) = (host, 0).to_socket_addrs() else {
        return false;
    };
    addrs.map(|a| a.ip()).any(is_local_ip)
}

fn is_local_ip(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified() || UdpSocket::bind((ip, 0)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerSpec;

    fn ensemble(hosts: &[&str], myid: u64) -> Config {
        let mut cfg = Config::default();
        for (i, h) in hosts.iter().enumerate() {
            let id = i as u64 + 1;
            let spec = ServerSpec::parse(id, &format!("{h}:2888:3888")).unwrap();
            cfg.servers.insert(id, spec);
        }
        cfg.myid = Some(myid);
        cfg
    }

    #[test]
    fn standalone_keeps_one_worker_per_cpu() {
        assert_eq!(worker_threads(&Config::default(), 8, |_| true), 8);
        assert_eq!(worker_threads(&Config::default(), 0, |_| true), 1);
    }

    #[test]
    fn one_member_per_machine_keeps_one_worker_per_cpu() {
        let cfg = ensemble(&["zk1", "zk2", "zk3"], 2);
        // Only our own entry is on this machine, whatever its host resolves to.
        assert_eq!(worker_threads(&cfg, 4, |_| false), 4);
        assert_eq!(worker_threads(&cfg, 4, |h| h == "zk2"), 4);
    }

    #[test]
    fn members_on_one_machine_share_its_cpus() {
        let cfg = ensemble(&["127.0.0.1", "127.0.0.1", "127.0.0.1"], 1);
        assert_eq!(worker_threads(&cfg, 2, |h| h == "127.0.0.1"), 1);
        assert_eq!(worker_threads(&cfg, 8, |h| h == "127.0.0.1"), 2);
        assert_eq!(worker_threads(&cfg, 16, |h| h == "127.0.0.1"), 5);
        // Two of five members here.
        let cfg = ensemble(&["a", "a", "b", "c", "d"], 1);
        assert_eq!(worker_threads(&cfg, 8, |h| h == "a"), 4);
    }

    #[test]
    fn loopback_and_unspecified_are_local_and_others_are_not() {
        assert!(is_local_host("127.0.0.1"));
        assert!(is_local_host("127.0.0.2"));
        assert!(is_local_host("localhost"));
        assert!(is_local_host("0.0.0.0"));
        // TEST-NET-1 (RFC 5737): never an address of this machine.
        assert!(!is_local_host("192.0.2.1"));
    }
}
