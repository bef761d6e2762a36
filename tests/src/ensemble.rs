//! Ensembles of real server processes on 127.0.0.1: ours or Apache ZooKeeper 3.8's.
//!
//! [`Ensemble::new`] writes one `zoo.cfg` and one `myid` per server in a temporary directory
//! and starts nothing; tests then start, kill (`kill -9`, by the pid of the child the harness
//! spawned), restart and wipe servers one by one, and read each server's role from `srvr`.
//!
//! With [`Spec::proxied`], every server reaches every other server through a [`Proxy`] per
//! directed link and port (quorum and election), so that [`Ensemble::partition`] can cut the
//! network between groups of real processes: server `i`'s `zoo.cfg` names itself with its real
//! ports and every other server `j` with the ports of the proxies `i -> j`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::proxy::Proxy;
use crate::{apache_classpath, four_letter_word, free_port, java, server_binary, Kind};

/// What an ensemble looks like.
#[derive(Clone, Debug)]
pub struct Spec {
    pub kind: Kind,
    pub voters: usize,
    pub observers: usize,
    pub tick_ms: u32,
    pub init_limit: u32,
    pub sync_limit: u32,
    /// Route peer traffic through proxies so that the network can be cut.
    pub proxied: bool,
    /// `host` of every `server.N` line.
    pub host: String,
    /// Fixed `(quorum, election)` ports by server id instead of free ones.
    pub fixed_ports: BTreeMap<u64, (u16, u16)>,
    /// Extra `key=value` lines for every server.
    pub extra: Vec<(String, String)>,
    /// The membership in `zoo.cfg.dynamic.100000000` beside each zoo.cfg, named by
    /// `dynamicConfigFile` (Apache 3.5+'s layout), instead of in zoo.cfg.
    pub dynamic_file: bool,
    /// Run each server's AdminServer on 127.0.0.1 at its own free port.
    pub admin: bool,
    /// Servers of another kind than `kind` (mixed ensembles), by id.
    pub kinds: BTreeMap<u64, Kind>,
    /// Extra `-Dkey=value` system properties: on Apache's command line, in ours' SERVER_JVMFLAGS.
    pub java_props: Vec<(String, String)>,
    /// `-Dkey=value` for one server only, after `java_props` (a later `-D` wins).
    pub member_java_props: BTreeMap<u64, Vec<(String, String)>>,
}

impl Spec {
    pub fn new(voters: usize, observers: usize) -> Spec {
        Spec {
            kind: Kind::Ours,
            voters,
            observers,
            tick_ms: 2000,
            init_limit: 10,
            sync_limit: 5,
            proxied: false,
            host: "127.0.0.1".into(),
            fixed_ports: BTreeMap::new(),
            extra: Vec::new(),
            dynamic_file: false,
            admin: false,
            kinds: BTreeMap::new(),
            java_props: Vec::new(),
            member_java_props: BTreeMap::new(),
        }
    }

    pub fn admin(mut self) -> Spec {
        self.admin = true;
        self
    }

    /// Server `id` runs `kind` (a mixed ensemble).
    pub fn member_kind(mut self, id: u64, kind: Kind) -> Spec {
        self.kinds.insert(id, kind);
        self
    }

    /// `-Dkey=value` for every Apache server.
    pub fn java_prop(mut self, k: &str, v: &str) -> Spec {
        self.java_props.push((k.into(), v.into()));
        self
    }

    /// `-Dkey=value` for server `id` only, after those of every server.
    pub fn member_java_prop(mut self, id: u64, k: &str, v: &str) -> Spec {
        self.member_java_props
            .entry(id)
            .or_default()
            .push((k.into(), v.into()));
        self
    }

    /// What server `id` runs.
    pub fn kind_of(&self, id: u64) -> Kind {
        self.kinds.get(&id).copied().unwrap_or(self.kind)
    }

    pub fn proxied(mut self) -> Spec {
        self.proxied = true;
        self
    }

    pub fn ticks(mut self, tick_ms: u32, init_limit: u32, sync_limit: u32) -> Spec {
        self.tick_ms = tick_ms;
        self.init_limit = init_limit;
        self.sync_limit = sync_limit;
        self
    }

    /// The membership goes to a dynamic configuration file.
    pub fn dynamic_file(mut self) -> Spec {
        self.dynamic_file = true;
        self
    }

    pub fn extra(mut self, k: &str, v: &str) -> Spec {
        self.extra.push((k.into(), v.into()));
        self
    }
}

/// One server of the ensemble.
pub struct Member {
    pub id: u64,
    pub observer: bool,
    pub client_port: u16,
    pub quorum_port: u16,
    pub election_port: u16,
    /// The AdminServer's port (0 unless the spec asks for it).
    pub admin_port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
    /// How many times it was started (each start appends to its log).
    starts: u32,
}

impl Member {
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn cfg_path(&self) -> PathBuf {
        self.dir.join("zoo.cfg")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.client_port))
    }

    pub fn hosts(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }
}

pub struct Ensemble {
    pub spec: Spec,
    pub members: BTreeMap<u64, Member>,
    /// Proxies by `(from, to)`: the quorum link and the election link.
    proxies: BTreeMap<(u64, u64), (Proxy, Proxy)>,
    pub root: tempfile::TempDir,
}

impl Ensemble {
    /// Writes every server's configuration; starts nothing.
    pub fn new(spec: Spec) -> Ensemble {
        let root = tempfile::Builder::new()
            .prefix(&format!("zk-ensemble-{}-", spec.kind.name()))
            .tempdir()
            .expect("tempdir");
        let n = spec.voters + spec.observers;
        let mut members = BTreeMap::new();
        for i in 1..=n as u64 {
            let (quorum_port, election_port) = spec
                .fixed_ports
                .get(&i)
                .copied()
                .unwrap_or_else(|| (free_port(), free_port()));
            let dir = root.path().join(format!("s{i}"));
            std::fs::create_dir_all(dir.join("data")).unwrap();
            std::fs::write(dir.join("data").join("myid"), format!("{i}\n")).unwrap();
            members.insert(
                i,
                Member {
                    id: i,
                    observer: i as usize > spec.voters,
                    client_port: free_port(),
                    quorum_port,
                    election_port,
                    admin_port: if spec.admin { free_port() } else { 0 },
                    dir,
                    child: None,
                    starts: 0,
                },
            );
        }
        let mut proxies = BTreeMap::new();
        if spec.proxied {
            for a in members.keys() {
                for (b, mb) in &members {
                    if a != b {
                        let q =
                            Proxy::start_free(SocketAddr::from(([127, 0, 0, 1], mb.quorum_port)));
                        let e =
                            Proxy::start_free(SocketAddr::from(([127, 0, 0, 1], mb.election_port)));
                        proxies.insert((*a, *b), (q, e));
                    }
                }
            }
        }
        let ens = Ensemble {
            spec,
            members,
            proxies,
            root,
        };
        for id in ens.members.keys() {
            ens.write_config(*id);
        }
        ens
    }

    fn write_config(&self, id: u64) {
        let s = &self.spec;
        let m = &self.members[&id];
        let mut cfg = format!(
            "tickTime={}\ninitLimit={}\nsyncLimit={}\ndataDir={}\nclientPort={}\n\
             clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nadmin.enableServer=false\n\
             maxClientCnxns=0\n",
            s.tick_ms,
            s.init_limit,
            s.sync_limit,
            m.data_dir().display(),
            m.client_port
        );
        if m.observer {
            cfg.push_str("peerType=observer\n");
        }
        let mut membership = String::new();
        for (j, o) in &self.members {
            let (q, e) = match self.proxies.get(&(id, *j)) {
                Some((pq, pe)) => (pq.port(), pe.port()),
                None => (o.quorum_port, o.election_port),
            };
            let t = if o.observer { ":observer" } else { "" };
            membership.push_str(&format!("server.{j}={}:{q}:{e}{t}\n", s.host));
        }
        if s.dynamic_file {
            let path = m.dir.join("zoo.cfg.dynamic.100000000");
            std::fs::write(&path, membership).unwrap();
            cfg.push_str(&format!("dynamicConfigFile={}\n", path.display()));
        } else {
            cfg.push_str(&membership);
        }
        if s.admin {
            cfg.push_str(&format!(
                "admin.enableServer=true\nadmin.serverAddress=127.0.0.1\nadmin.serverPort={}\n",
                m.admin_port
            ));
        }
        for (k, v) in &s.extra {
            cfg.push_str(&format!("{k}={v}\n"));
        }
        std::fs::write(m.cfg_path(), cfg).unwrap();
    }

    /// A new server `id` for a reconfig to add: its directory, ports and a zoo.cfg that
    /// lists every member known so far and itself (how Apache's reconfig guide starts a
    /// joiner). Nothing is started, and the other members' files are left alone.
    pub fn add_member(&mut self, id: u64) {
        assert!(!self.spec.proxied, "add_member does not set up proxies");
        let dir = self.root.path().join(format!("s{id}"));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(dir.join("data").join("myid"), format!("{id}\n")).unwrap();
        self.members.insert(
            id,
            Member {
                id,
                observer: false,
                client_port: free_port(),
                quorum_port: free_port(),
                election_port: free_port(),
                admin_port: if self.spec.admin { free_port() } else { 0 },
                dir,
                child: None,
                starts: 0,
            },
        );
        self.write_config(id);
    }

    /// `server.N=host:quorum:election:participant;clientPort`, a reconfig's joiner.
    pub fn joiner(&self, id: u64) -> String {
        let m = &self.members[&id];
        format!(
            "server.{id}={}:{}:{}:participant;{}",
            self.spec.host, m.quorum_port, m.election_port, m.client_port
        )
    }

    pub fn ids(&self) -> Vec<u64> {
        self.members.keys().copied().collect()
    }

    pub fn member(&self, id: u64) -> &Member {
        &self.members[&id]
    }

    /// Every client address, as a connect string.
    pub fn connect_string(&self) -> String {
        self.members
            .values()
            .map(|m| m.hosts())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Starts server `id` (it must not be running).
    pub fn start(&mut self, id: u64) {
        let kind = self.spec.kind_of(id);
        let props: Vec<String> = self
            .spec
            .java_props
            .iter()
            .chain(self.spec.member_java_props.get(&id).into_iter().flatten())
            .map(|(k, v)| format!("-D{k}={v}"))
            .collect();
        let m = self.members.get_mut(&id).expect("no such server");
        assert!(m.child.is_none(), "server {id} is already running");
        m.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(m.log_path())
            .unwrap();
        let mut cmd = match kind {
            Kind::Ours => {
                let mut c = Command::new(server_binary());
                c.arg(m.cfg_path());
                // The same -D flags, as zkServer.sh would hand them over.
                if !props.is_empty() {
                    c.env("SERVER_JVMFLAGS", props.join(" "));
                }
                c
            }
            Kind::Apache => {
                let mut c = Command::new(java());
                c.arg(format!("-Dzookeeper.log.dir={}", m.dir.display()))
                    .arg("-Dzookeeper.admin.enableServer=false")
                    .args(["-Xmx512m", "-XX:+UseSerialGC"])
                    .args(&props)
                    .arg("-cp")
                    .arg(apache_classpath(true))
                    .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
                    .arg(m.cfg_path());
                c
            }
        };
        cmd.current_dir(&m.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        m.child = Some(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("cannot start server {id}: {e}")),
        );
    }

    /// Runs server `id` as `kind` from its next start on (one kind taking over the other's
    /// data directory).
    pub fn set_kind(&mut self, id: u64, kind: Kind) {
        self.spec.kinds.insert(id, kind);
    }

    pub fn start_all(&mut self) {
        for id in self.ids() {
            self.start(id);
        }
    }

    /// `kill -9` of server `id`, by the pid of the process this harness started.
    pub fn kill(&mut self, id: u64) {
        let m = self.members.get_mut(&id).expect("no such server");
        if let Some(mut c) = m.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops `id` with SIGSTOP (`true`) or resumes it with SIGCONT (`false`).
    pub fn pause(&mut self, id: u64, stop: bool) {
        let m = &self.members[&id];
        if let Some(c) = &m.child {
            let sig = if stop { libc::SIGSTOP } else { libc::SIGCONT };
            // SAFETY: signalling a child process this harness spawned and has not reaped.
            unsafe {
                libc::kill(c.id() as i32, sig);
            }
        }
    }

    pub fn is_running(&mut self, id: u64) -> bool {
        let m = self.members.get_mut(&id).expect("no such server");
        match &mut m.child {
            Some(c) => c.try_wait().unwrap().is_none(),
            None => false,
        }
    }

    /// The exit status of a server that stopped by itself.
    pub fn exit_status(&mut self, id: u64) -> Option<std::process::ExitStatus> {
        let m = self.members.get_mut(&id).expect("no such server");
        m.child.as_mut().and_then(|c| c.try_wait().unwrap())
    }

    /// Deletes server `id`'s data (its snapshots, log and epoch files; `myid` stays).
    pub fn wipe(&mut self, id: u64) {
        assert!(!self.is_running(id), "wipe a stopped server only");
        let v2 = self.members[&id].data_dir().join("version-2");
        let _ = std::fs::remove_dir_all(v2);
    }

    /// `srvr` of server `id`, if it answers.
    pub fn srvr(&self, id: u64) -> Option<String> {
        four_letter_word(self.members[&id].addr(), "srvr").ok()
    }

    pub fn four(&self, id: u64, word: &str) -> Option<String> {
        four_letter_word(self.members[&id].addr(), word).ok()
    }

    /// `zk_<key>` of `id`'s mntr as a number; panics, showing the mntr, when it is missing.
    pub fn mntr_number(&self, id: u64, key: &str) -> i64 {
        let mntr = self.four(id, "mntr").unwrap_or_default();
        let prefix = format!("zk_{key}\t");
        mntr.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("server {id}'s mntr has no number zk_{key}:\n{mntr}"))
    }

    /// The `Mode:` that `srvr` reports (`leader`, `follower`, `observer`), or `None` while the
    /// server does not serve.
    pub fn mode(&self, id: u64) -> Option<String> {
        let s = self.srvr(id)?;
        s.lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .map(|m| m.trim().to_string())
    }

    /// Watches server `id` for `secs` seconds (time for several election rounds), asserting
    /// that it never serves (`why` says what keeps it out) and that it is still running.
    pub fn assert_stays_out(&mut self, id: u64, secs: u64, why: &str) {
        let others: Vec<u64> = self.members.keys().copied().collect();
        let until = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < until {
            assert_eq!(
                self.mode(id),
                None,
                "server {id} joined {why}:\n{}",
                self.logs(&others)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(self.is_running(id), "server {id} exited:\n{}", self.log(id));
    }

    /// The `Zxid:` that `srvr` reports.
    pub fn zxid(&self, id: u64) -> Option<u64> {
        let s = self.srvr(id)?;
        s.lines()
            .find_map(|l| l.strip_prefix("Zxid: "))
            .and_then(|z| u64::from_str_radix(z.trim().trim_start_matches("0x"), 16).ok())
    }

    /// Running servers that say they lead.
    pub fn leaders(&mut self) -> Vec<u64> {
        let mut out = Vec::new();
        for id in self.ids() {
            if self.is_running(id) && self.mode(id).as_deref() == Some("leader") {
                out.push(id);
            }
        }
        out
    }

    /// Waits until `ids` all serve: exactly one leader among them, the others following or
    /// observing. Returns the leader.
    pub fn wait_serving(&mut self, ids: &[u64], timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let modes: Vec<Option<String>> = ids.iter().map(|i| self.mode(*i)).collect();
            let leaders: Vec<u64> = ids
                .iter()
                .zip(&modes)
                .filter(|(_, m)| m.as_deref() == Some("leader"))
                .map(|(i, _)| *i)
                .collect();
            if leaders.len() == 1 && modes.iter().all(|m| m.is_some()) {
                return leaders[0];
            }
            if Instant::now() > deadline {
                panic!(
                    "servers {ids:?} did not settle within {timeout:?}: modes {modes:?}\n{}",
                    self.logs(ids)
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits until server `id` reports `mode`.
    pub fn wait_mode(&self, id: u64, mode: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.mode(id);
            if m.as_deref() == Some(mode) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "server {id} is {m:?}, not {mode}, after {timeout:?}\n{}",
                    self.logs(&[id])
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Cuts every link between servers of different groups, both ways.
    pub fn partition(&self, groups: &[&[u64]]) {
        assert!(self.spec.proxied, "partitions need Spec::proxied");
        for (gi, g) in groups.iter().enumerate() {
            for (hi, h) in groups.iter().enumerate() {
                if gi == hi {
                    continue;
                }
                for a in *g {
                    for b in *h {
                        let (q, e) = &self.proxies[&(*a, *b)];
                        q.cut();
                        e.cut();
                    }
                }
            }
        }
    }

    /// Cuts the links between each pair, both ways.
    pub fn cut_links(&self, pairs: &[(u64, u64)]) {
        assert!(self.spec.proxied, "cutting links needs Spec::proxied");
        for (a, b) in pairs {
            for key in [(*a, *b), (*b, *a)] {
                let (q, e) = &self.proxies[&key];
                q.cut();
                e.cut();
            }
        }
    }

    /// Holds the quorum link `from` dials to `to`, its election link staying up: `from` still
    /// votes, and its connection to `to` as its leader is accepted but reaches `to` only after
    /// [`Ensemble::heal`] ([`crate::proxy::Proxy::hold`]).
    pub fn hold_quorum_link(&self, from: u64, to: u64) {
        assert!(self.spec.proxied, "holding links needs Spec::proxied");
        self.proxies[&(from, to)].0.hold();
    }

    /// One-way isolation: nothing `id` sends reaches anyone, while it still hears everyone
    /// (connections stay up; its bytes are silently discarded).
    pub fn isolate_outbound(&self, id: u64) {
        assert!(self.spec.proxied, "isolation needs Spec::proxied");
        for ((a, b), (q, e)) in &self.proxies {
            if *a == id {
                q.drop_bytes(true);
                e.drop_bytes(true);
            } else if *b == id {
                q.drop_bytes(false);
                e.drop_bytes(false);
            }
        }
    }

    /// Arms the SNAP trap on every quorum link `learner` dials: its next connection to
    /// whichever server leads closes right after the leader's SNAP packet, before the snapshot
    /// ([`Proxy::cut_after_snap`]).
    pub fn cut_after_snap(&self, learner: u64) {
        assert!(self.spec.proxied, "the SNAP trap needs Spec::proxied");
        for ((a, _), (q, _)) in &self.proxies {
            if *a == learner {
                q.cut_after_snap();
            }
        }
    }

    /// How many of `learner`'s quorum connections the SNAP trap has closed.
    pub fn snap_trapped(&self, learner: u64) -> usize {
        self.proxies
            .iter()
            .filter(|((a, _), _)| *a == learner)
            .map(|(_, (q, _))| q.snap_trapped())
            .sum()
    }

    /// Lets every link carry traffic again.
    pub fn heal(&self) {
        for (q, e) in self.proxies.values() {
            q.heal();
            e.heal();
        }
    }

    /// The last lines of the given servers' logs, for failure messages.
    pub fn logs(&self, ids: &[u64]) -> String {
        let mut s = String::new();
        for id in ids {
            let text = std::fs::read_to_string(self.members[id].log_path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(30);
            s.push_str(&format!("--- server {id}\n{}\n", lines[from..].join("\n")));
        }
        s
    }

    /// The whole log of server `id`.
    /// Every acknowledged write of the kazoo writer under `prefix` (`n<k>` nodes) is
    /// readable through server `id` alone.
    pub fn assert_all_present(&self, id: u64, prefix: &str, acked: &[u64]) {
        let have = crate::kazoo::children(&self.member(id).hosts(), prefix);
        let missing: Vec<&u64> = acked
            .iter()
            .filter(|k| !have.contains(&format!("n{k}")))
            .collect();
        assert!(
            missing.is_empty(),
            "server {id} lacks acknowledged writes {missing:?} of {prefix}"
        );
    }

    pub fn log(&self, id: u64) -> String {
        std::fs::read_to_string(self.members[&id].log_path()).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for id in self.ids() {
            self.pause(id, false);
            self.kill(id);
        }
        if std::env::var_os("ZK_KEEP_ENSEMBLE").is_some() {
            let p = self.root.path().to_path_buf();
            eprintln!("keeping {}", p.display());
            std::mem::forget(std::mem::replace(
                &mut self.root,
                tempfile::tempdir().unwrap(),
            ));
        }
    }
}
