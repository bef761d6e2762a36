//! One system's servers for the side-by-side benches (`zk-compare`, `zk-scale`): a
//! standalone server or an ensemble on 127.0.0.1, either ours (`zk-server`) or Apache
//! ZooKeeper 3.8 (Debian's jar, `ZooKeeperServerMain` / `QuorumPeerMain`), both from the
//! same `zoo.cfg`. Servers are stopped with SIGKILL, by the pid of the child started,
//! when told to and when the [`Cluster`] is dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A four-letter word's answer from the server on `port`, `None` if it does not answer.
pub fn four_letter(port: u16, word: &str) -> Option<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(word.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// `srvr`'s `Mode:` (standalone, leader, follower, observer).
pub fn mode(port: u16) -> Option<String> {
    let s = four_letter(port, "srvr")?;
    s.lines()
        .find_map(|l| l.strip_prefix("Mode: "))
        .map(|m| m.trim().to_string())
}

/// One server of a [`Cluster`].
pub struct Server {
    pub id: usize,
    pub client_port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

/// One system's servers: one standalone, or an ensemble of `n`.
pub struct Cluster {
    system: String,
    pub servers: Vec<Server>,
    java_heap: String,
    server_bin: PathBuf,
    /// `jute.maxbuffer` from the extra configuration: Apache reads it from a system
    /// property only, so it is passed to its JVM as `-Djute.maxbuffer` too.
    jute_max_buffer: Option<String>,
}

impl Cluster {
    /// Writes the configuration of `n` servers (1: standalone) of `system` ("ours" or
    /// "apache") under `dir`, emptied first: tickTime=2000, initLimit=10, syncLimit=5,
    /// forceSync=yes, maxClientCnxns=0, every four-letter word, no AdminServer, then
    /// `extra_cfg` (one `key=value` a line). Nothing is started yet.
    pub fn new(
        system: &str,
        dir: &Path,
        n: usize,
        server_bin: &Path,
        java_heap: &str,
        extra_cfg: &[String],
    ) -> Cluster {
        let _ = std::fs::remove_dir_all(dir);
        let ports: Vec<(u16, u16, u16)> = (0..n)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let mut servers = Vec::new();
        for (i, (client, _, _)) in ports.iter().enumerate() {
            let id = i + 1;
            let sdir = dir.join(format!("s{id}"));
            let data = sdir.join("data");
            std::fs::create_dir_all(&data).expect("create the data directory");
            let mut cfg = format!(
                "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={client}\n\
                 clientPortAddress=127.0.0.1\nforceSync=yes\nmaxClientCnxns=0\n\
                 4lw.commands.whitelist=*\nadmin.enableServer=false\n",
                data.display()
            );
            for line in extra_cfg {
                cfg.push_str(line);
                cfg.push('\n');
            }
            if n > 1 {
                std::fs::write(data.join("myid"), format!("{id}\n")).unwrap();
                for (j, (_, q, e)) in ports.iter().enumerate() {
                    cfg.push_str(&format!("server.{}=127.0.0.1:{q}:{e}\n", j + 1));
                }
            }
            std::fs::write(sdir.join("zoo.cfg"), cfg).unwrap();
            servers.push(Server {
                id,
                client_port: *client,
                dir: sdir,
                child: None,
            });
        }
        let jute_max_buffer = extra_cfg
            .iter()
            .rev()
            .find_map(|l| l.trim().strip_prefix("jute.maxbuffer="))
            .map(|v| v.trim().to_string());
        Cluster {
            system: system.to_string(),
            servers,
            java_heap: java_heap.to_string(),
            server_bin: server_bin.to_path_buf(),
            jute_max_buffer,
        }
    }

    /// Starts server `i` (an index into `servers`), its output in its `server.log`.
    /// Apache's classpath is `$ZK_APACHE_CLASSPATH` or Debian's jar (and slf4j-simple).
    pub fn start(&mut self, i: usize) {
        let ensemble = self.servers.len() > 1;
        let s = &mut self.servers[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(s.dir.join("server.log"))
            .unwrap();
        let cfg = s.dir.join("zoo.cfg");
        let mut cmd = if self.system == "apache" {
            let main = if ensemble {
                "org.apache.zookeeper.server.quorum.QuorumPeerMain"
            } else {
                "org.apache.zookeeper.server.ZooKeeperServerMain"
            };
            let mut cp = std::env::var("ZK_APACHE_CLASSPATH")
                .unwrap_or_else(|_| "/usr/share/java/zookeeper.jar".into());
            if Path::new("/usr/share/java/slf4j-simple.jar").exists() {
                cp.push_str(":/usr/share/java/slf4j-simple.jar");
            }
            let mut c = Command::new(std::env::var_os("JAVA").unwrap_or_else(|| "java".into()));
            c.arg(format!("-Xmx{}", self.java_heap))
                .arg(format!("-Dzookeeper.log.dir={}", s.dir.display()))
                .arg("-Dzookeeper.admin.enableServer=false");
            if let Some(v) = &self.jute_max_buffer {
                c.arg(format!("-Djute.maxbuffer={v}"));
            }
            c.arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn")
                .arg("-cp")
                .arg(cp)
                .arg(main)
                .arg(&cfg);
            c
        } else {
            let mut c = Command::new(&self.server_bin);
            c.arg(&cfg).env("RUST_LOG", "warn");
            c
        };
        cmd.current_dir(&s.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        s.child = Some(cmd.spawn().expect("start a server"));
    }

    /// Starts every server (without waiting for them: [`Cluster::wait_serving`]).
    pub fn start_all(&mut self) {
        for i in 0..self.servers.len() {
            self.start(i);
        }
    }

    /// Waits until every server serves (one leader, the rest following; or standalone);
    /// an error if one exits or `timeout` passes.
    pub fn wait_serving(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let modes: Vec<Option<String>> =
                self.servers.iter().map(|s| mode(s.client_port)).collect();
            let ok = if modes.len() == 1 {
                modes[0].as_deref() == Some("standalone")
            } else {
                modes
                    .iter()
                    .filter(|m| m.as_deref() == Some("leader"))
                    .count()
                    == 1
                    && modes
                        .iter()
                        .all(|m| matches!(m.as_deref(), Some("leader" | "follower")))
            };
            if ok {
                return Ok(());
            }
            for s in &mut self.servers {
                if let Some(c) = &mut s.child {
                    if let Ok(Some(st)) = c.try_wait() {
                        return Err(format!("server {} exited: {st}", s.id));
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(format!("not serving after {timeout:?}: {modes:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The index of the server that says it leads.
    pub fn leader(&self) -> Option<usize> {
        (0..self.servers.len())
            .find(|&i| mode(self.servers[i].client_port).as_deref() == Some("leader"))
    }

    /// `127.0.0.1:<client port>` of every server.
    pub fn hosts(&self) -> Vec<String> {
        self.servers
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.client_port))
            .collect()
    }

    /// The connect string for `target`: the leader, one follower, or (anything else)
    /// every server.
    pub fn hosts_for(&self, target: &str) -> String {
        let all = || self.hosts().join(",");
        let want = match target {
            "leader" => "leader",
            "follower" => "follower",
            _ => return all(),
        };
        self.servers
            .iter()
            .find(|s| mode(s.client_port).as_deref() == Some(want))
            .map(|s| format!("127.0.0.1:{}", s.client_port))
            .unwrap_or_else(all)
    }

    /// The pid of server `i`, if it was started and not killed.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.servers[i].child.as_ref().map(|c| c.id())
    }

    /// SIGKILL server `i` (the child this cluster started) and reap it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.servers[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn kill_all(&mut self) {
        for i in 0..self.servers.len() {
            self.kill(i);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill_all();
    }
}
