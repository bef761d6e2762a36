//! Footprint and restart figures of the data tree and the storage, optionally
//! side by side with Apache ZooKeeper 3.8 on the same tree:
//!
//! 1. in this process: build a tree of N znodes (100-byte values, 17-byte
//!    paths) by applying create transactions; resident bytes per znode;
//! 2. write it as a snapshot plus a log of M setData transactions, and time
//!    `persist::recover` on it in this process;
//! 3. start the real `zk-server` on that data directory and time it from
//!    spawn until a client's getData answers; its resident memory then,
//!    against the same server started on an empty directory;
//! 4. with `--apache`: write the same tree as an Apache ZooKeeper snapshot
//!    (`FileSnap` format) and the same M transactions as its log
//!    (`FileTxnLog` format), start `ZooKeeperServerMain` on them, and measure
//!    the same way, plus its live heap (`jcmd GC.class_histogram`, after a
//!    full GC).
//!
//! ```text
//! cargo build --release -p zk-benches --bin footprint -p zk-server --bin zk-server
//! target/release/footprint [--znodes N] [--txns M] [--apache] [--server PATH] [--java-heap 2g]
//! ```
//! `benches/footprint.sh` does both steps. Times are wall clock with the CPU
//! time (user + system, all threads) in brackets: on a shared machine the
//! CPU time is the steadier figure.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use zab_core::jute::Record;
use zab_core::records::{op, Acl};
use zab_core::txn::{CreateTxn, SetDataTxn, Txn, TxnBody, TxnHeader};
use zab_core::Zxid;
use zk_server::config::Config;
use zk_server::persist;
use zk_server::tree::DataTree;

/// The node every probe reads.
const PROBE_PATH: &str = "/k/00000000000000";
const VALUE_LEN: usize = 100;

struct Args {
    znodes: usize,
    txns: usize,
    apache: bool,
    server: PathBuf,
    java_heap: String,
    /// Stop after writing our data directory there (to profile a restart by hand).
    keep: Option<PathBuf>,
    /// Only time restarts of the server on a kept directory, this many times.
    restart_only: Option<(PathBuf, usize)>,
}

fn parse_args() -> Args {
    let mut a = Args {
        znodes: 1_000_000,
        txns: 100_000,
        apache: false,
        server: std::env::current_exe()
            .expect("current_exe")
            .with_file_name("zk-server"),
        java_heap: "2g".into(),
        keep: None,
        restart_only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--znodes" => a.znodes = val().parse().expect("--znodes N"),
            "--txns" => a.txns = val().parse().expect("--txns M"),
            "--apache" => a.apache = true,
            "--server" => a.server = PathBuf::from(val()),
            "--java-heap" => a.java_heap = val(),
            "--keep" => a.keep = Some(PathBuf::from(val())),
            "--restart-only" => {
                let dir = PathBuf::from(val());
                a.restart_only = Some((dir, val().parse().expect("--restart-only DIR TIMES")));
            }
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// Resident set size of a process, from `/proc/<pid>/status`.
fn rss_bytes(pid: &str) -> u64 {
    status_kb(pid, "VmRSS:") * 1024
}

/// The anonymous part of the resident set (heap, stacks): without the pages
/// of mapped files, such as the log segments replay read.
fn rss_anon_bytes(pid: &str) -> u64 {
    status_kb(pid, "RssAnon:") * 1024
}

fn status_kb(pid: &str, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
}

/// User + system CPU time of a process (all its threads), from `/proc/<pid>/stat`.
fn cpu_time(pid: &str) -> Duration {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

fn txn(zxid: i64, t: i32, body: TxnBody) -> Txn {
    Txn {
        header: TxnHeader {
            client_id: 1,
            cxid: 0,
            zxid: Zxid(zxid),
            time: 1_700_000_000_000 + zxid,
            txn_type: t,
        },
        body,
        digest: None,
    }
}

fn create(zxid: i64, path: String, data: Bytes) -> Txn {
    txn(
        zxid,
        op::CREATE,
        TxnBody::Create(CreateTxn {
            path,
            data: Some(data),
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_cversion: -1,
        }),
    )
}

/// The logged transactions: setData round the tree.
fn set_data(zxid: i64, i: usize, znodes: usize) -> Txn {
    txn(
        zxid,
        op::SET_DATA,
        TxnBody::SetData(SetDataTxn {
            path: format!("/k/{:014}", i % znodes),
            data: Some(Bytes::from(vec![b'w'; VALUE_LEN])),
            version: (i / znodes) as i32 + 1,
        }),
    )
}

fn main() {
    let args = parse_args();
    if let Some((dir, times)) = &args.restart_only {
        let cfg = std::fs::read_to_string(dir.join("zoo.cfg")).unwrap();
        let port: u16 = cfg
            .lines()
            .find_map(|l| l.strip_prefix("clientPort="))
            .and_then(|p| p.parse().ok())
            .expect("clientPort in zoo.cfg");
        for _ in 0..*times {
            let mut c = Command::new(&args.server);
            c.arg(dir.join("zoo.cfg"));
            let s = Started::spawn(c, port, &dir.join("restart.log"), PROBE_PATH);
            println!(
                "serving after {:.2} s [cpu {:.2} s]",
                s.ready.as_secs_f64(),
                s.cpu.as_secs_f64()
            );
            s.stop();
        }
        return;
    }
    let n = args.znodes;
    let value = vec![b'v'; VALUE_LEN];

    // 1. The tree, built by applying creates.
    let mut tree = DataTree::new(false);
    let mut tr = Vec::new();
    let mut zxid = 1i64;
    tree.apply(&create(zxid, "/k".into(), Bytes::new()), &mut tr);
    let before = rss_bytes("self");
    let (t0, c0) = (Instant::now(), cpu_time("self"));
    for i in 0..n {
        zxid += 1;
        // 17 bytes: "/k/" and 14 digits. Each node owns its value, as after a
        // client's create.
        tree.apply(
            &create(zxid, format!("/k/{i:014}"), Bytes::copy_from_slice(&value)),
            &mut tr,
        );
        tr.clear();
    }
    let (build, build_cpu) = (t0.elapsed(), cpu_time("self") - c0);
    let per = (rss_bytes("self") - before) as f64 / n as f64;
    println!("znodes: {n}, logged transactions: {}", args.txns);
    println!(
        "build: {:.2} s [cpu {:.2} s] ({:.0} creates/s)",
        build.as_secs_f64(),
        build_cpu.as_secs_f64(),
        n as f64 / build.as_secs_f64()
    );
    println!("in-process tree: {per:.0} resident bytes per znode");

    // 2. A snapshot of this tree, then `txns` setData transactions in the log.
    let dir = tempfile::Builder::new()
        .prefix("footprint-")
        .tempdir()
        .expect("tempdir");
    let ours = dir.path().join("ours");
    let port = free_port();
    let cfg_text = format!(
        "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
         admin.enableServer=false\n4lw.commands.whitelist=*\n",
        ours.join("data").display()
    );
    let cfg = Config::parse(&cfg_text, "footprint").unwrap();
    std::fs::create_dir_all(persist::snap_dir(&cfg)).unwrap();
    std::fs::create_dir_all(persist::log_dir(&cfg)).unwrap();
    std::fs::write(ours.join("zoo.cfg"), &cfg_text).unwrap();
    let t0 = Instant::now();
    let mut snap = persist::FuzzySnapshot::start(&tree, vec![]);
    let (tx, rx) = std::sync::mpsc::sync_channel(64);
    let sdir = persist::snap_dir(&cfg);
    let szxid = snap.zxid;
    let writer = std::thread::spawn(move || persist::write_snapshot(&sdir, szxid, rx));
    while !snap.done() {
        tx.send(snap.step(&tree, 4096)).unwrap();
    }
    drop(tx);
    let snap_path = writer.join().unwrap().expect("snapshot");
    let snap_time = t0.elapsed();
    let snap_len = std::fs::metadata(&snap_path).map(|m| m.len()).unwrap_or(0);
    println!(
        "snapshot write (FuzzySnapshot walk + writer thread): {:.2} s, {:.0} MB/s ({} bytes)",
        snap_time.as_secs_f64(),
        snap_len as f64 / 1e6 / snap_time.as_secs_f64(),
        snap_len
    );
    let (mut log, _) =
        zab_storage::TxnLog::open(persist::log_dir(&cfg), persist::log_options(&cfg)).unwrap();
    log.restart_at(szxid).unwrap();
    let mut logged = Vec::with_capacity(args.txns);
    for i in 0..args.txns {
        zxid += 1;
        let t = set_data(zxid, i, n).to_bytes();
        log.append(Zxid(zxid), &t).unwrap();
        logged.push(t);
        if i % 1000 == 999 {
            log.flush().unwrap();
        }
    }
    log.flush().unwrap();
    drop(log);
    if let Some(keep) = &args.keep {
        let _ = std::fs::remove_dir_all(keep);
        std::fs::rename(&ours, keep)
            .or_else(|_| {
                Command::new("cp")
                    .arg("-r")
                    .arg(&ours)
                    .arg(keep)
                    .status()
                    .map(|_| ())
            })
            .unwrap();
        let cfg = std::fs::read_to_string(keep.join("zoo.cfg")).unwrap();
        let cfg = cfg.replace(&ours.display().to_string(), &keep.display().to_string());
        std::fs::write(keep.join("zoo.cfg"), cfg).unwrap();
        println!("data directory and zoo.cfg kept in {}", keep.display());
        return;
    }

    // The same recovery in this process, without the server around it.
    let (t0, c0) = (Instant::now(), cpu_time("self"));
    let rec = persist::recover(&cfg).expect("recover");
    println!(
        "persist::recover in-process: {:.2} s [cpu {:.2} s] ({} znodes, {} transactions replayed)",
        t0.elapsed().as_secs_f64(),
        (cpu_time("self") - c0).as_secs_f64(),
        rec.tree.node_count(),
        rec.replayed
    );
    drop(rec);

    // 3. The real server: empty, then on this data directory.
    let empty_dir = dir.path().join("empty");
    let empty_port = free_port();
    let empty_cfg = cfg_text
        .replace(
            &ours.join("data").display().to_string(),
            &empty_dir.display().to_string(),
        )
        .replace(
            &format!("clientPort={port}"),
            &format!("clientPort={empty_port}"),
        );
    std::fs::create_dir_all(&empty_dir).unwrap();
    std::fs::write(dir.path().join("empty.cfg"), empty_cfg).unwrap();
    let base = {
        let mut c = Command::new(&args.server);
        c.arg(dir.path().join("empty.cfg"));
        let s = Started::spawn(c, empty_port, &dir.path().join("empty.log"), "/");
        let rss = (rss_bytes(&s.pid()), rss_anon_bytes(&s.pid()));
        s.stop();
        rss
    };
    let mut c = Command::new(&args.server);
    c.arg(ours.join("zoo.cfg"));
    let s = Started::spawn(c, port, &dir.path().join("ours.log"), PROBE_PATH);
    let (rss, anon) = (rss_bytes(&s.pid()), rss_anon_bytes(&s.pid()));
    println!(
        "zk-server restart: serving after {:.2} s [cpu {:.2} s]; resident {:.0} MB, {:.0} MB empty: {:.0} bytes per znode ({:.0} without mapped files)",
        s.ready.as_secs_f64(),
        s.cpu.as_secs_f64(),
        rss as f64 / 1e6,
        base.0 as f64 / 1e6,
        (rss - base.0) as f64 / n as f64,
        (anon - base.1) as f64 / n as f64
    );
    s.stop();
    let _ = std::fs::remove_dir_all(&ours);

    // 4. Apache ZooKeeper on the same tree and transactions.
    if args.apache {
        let adir = dir.path().join("apache");
        let v2 = adir.join("data").join("version-2");
        std::fs::create_dir_all(&v2).unwrap();
        let t0 = Instant::now();
        let snap_len = apache::write_snapshot(&v2, &tree, szxid);
        let log_first = szxid.0 + 1;
        apache::write_log(&v2, log_first, &logged);
        println!(
            "apache files written in {:.2} s (snapshot {snap_len} bytes)",
            t0.elapsed().as_secs_f64()
        );
        drop(tree);
        drop(logged);
        let aport = free_port();
        let acfg = |data: &Path, port: u16| {
            format!(
                "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                 admin.enableServer=false\n4lw.commands.whitelist=*\n",
                data.display()
            )
        };
        std::fs::write(adir.join("zoo.cfg"), acfg(&adir.join("data"), aport)).unwrap();
        let aempty = dir.path().join("apache-empty");
        let eport = free_port();
        std::fs::create_dir_all(&aempty).unwrap();
        std::fs::write(dir.path().join("apache-empty.cfg"), acfg(&aempty, eport)).unwrap();
        let (base_rss, base_heap) = {
            let c = apache::command(&dir.path().join("apache-empty.cfg"), &args.java_heap);
            let s = Started::spawn(c, eport, &dir.path().join("apache-empty.log"), "/");
            let r = (rss_bytes(&s.pid()), apache::live_heap(&s.pid()));
            s.stop();
            r
        };
        let c = apache::command(&adir.join("zoo.cfg"), &args.java_heap);
        let s = Started::spawn(c, aport, &dir.path().join("apache.log"), PROBE_PATH);
        let rss = rss_bytes(&s.pid());
        let heap = apache::live_heap(&s.pid());
        println!(
            "apache restart: serving after {:.2} s [cpu {:.2} s]; resident {:.0} MB, {:.0} MB empty: {:.0} bytes per znode",
            s.ready.as_secs_f64(),
            s.cpu.as_secs_f64(),
            rss as f64 / 1e6,
            base_rss as f64 / 1e6,
            (rss - base_rss) as f64 / n as f64
        );
        println!(
            "apache live heap after a full GC: {:.0} MB, {:.0} MB empty: {:.0} bytes per znode",
            heap as f64 / 1e6,
            base_heap as f64 / 1e6,
            (heap.saturating_sub(base_heap)) as f64 / n as f64
        );
        s.stop();
    }
}

/// A free port on 127.0.0.1 (the listener is closed before the server binds it).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap().port()
}

/// A server process started by this binary, ready to serve.
struct Started {
    child: Child,
    /// From spawn until the probe's getData answered.
    ready: Duration,
    /// CPU time the process had used by then.
    cpu: Duration,
}

impl Started {
    fn spawn(mut cmd: Command, port: u16, log: &Path, probe: &str) -> Started {
        let out = std::fs::File::create(log).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        let t0 = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = t0 + Duration::from_secs(300);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "{cmd:?} exited ({status}); see {}:\n{}",
                    log.display(),
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            if probe_get_data(addr, probe) {
                let ready = t0.elapsed();
                let cpu = cpu_time(&child.id().to_string());
                return Started { child, ready, cpu };
            }
            assert!(Instant::now() < deadline, "{cmd:?} never served");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    fn stop(mut self) {
        // Only the process this binary started, by its pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client session that reads `path`: connect, getData, close. True once the
/// server answers the getData without an error.
fn probe_get_data(addr: SocketAddr, path: &str) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut req = Vec::new();
        req.extend_from_slice(&0i32.to_be_bytes()); // protocolVersion
        req.extend_from_slice(&0i64.to_be_bytes()); // lastZxidSeen
        req.extend_from_slice(&30_000i32.to_be_bytes()); // timeOut
        req.extend_from_slice(&0i64.to_be_bytes()); // sessionId
        req.extend_from_slice(&16i32.to_be_bytes()); // passwd
        req.extend_from_slice(&[0u8; 16]);
        req.push(0); // readOnly
        send_frame(&mut s, &req)?;
        read_frame(&mut s)?;
        let mut get = Vec::new();
        get.extend_from_slice(&1i32.to_be_bytes()); // xid
        get.extend_from_slice(&4i32.to_be_bytes()); // getData
        get.extend_from_slice(&(path.len() as i32).to_be_bytes());
        get.extend_from_slice(path.as_bytes());
        get.push(0); // watch
        send_frame(&mut s, &get)?;
        let reply = read_frame(&mut s)?;
        let ok = reply.len() >= 16 && reply[0..4] == 1i32.to_be_bytes() && reply[12..16] == [0; 4];
        let mut close = Vec::new();
        close.extend_from_slice(&2i32.to_be_bytes());
        close.extend_from_slice(&(-11i32).to_be_bytes());
        let _ = send_frame(&mut s, &close).and_then(|_| read_frame(&mut s));
        Ok(ok)
    };
    attempt().unwrap_or(false)
}

fn send_frame(s: &mut TcpStream, body: &[u8]) -> std::io::Result<()> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    s.write_all(&f)
}

fn read_frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let len = i32::from_be_bytes(len);
    if !(0..=1 << 20).contains(&len) {
        return Err(std::io::Error::other("bad frame length"));
    }
    let mut b = vec![0u8; len as usize];
    s.read_exact(&mut b)?;
    Ok(b)
}

/// Apache ZooKeeper 3.8's on-disk formats, written directly, and how to run it.
mod apache {
    use std::io::{BufWriter, Write};
    use std::path::Path;
    use std::process::Command;

    use zab_core::Zxid;
    use zk_server::tree::DataTree;

    /// Adler-32, as `java.util.zip.Adler32`.
    pub struct Adler32 {
        a: u32,
        b: u32,
    }

    impl Adler32 {
        pub fn new() -> Adler32 {
            Adler32 { a: 1, b: 0 }
        }
        pub fn update(&mut self, data: &[u8]) {
            const MOD: u32 = 65521;
            // 5552 bytes is the most that cannot overflow `b` before the modulo.
            for chunk in data.chunks(5552) {
                for &x in chunk {
                    self.a += x as u32;
                    self.b += self.a;
                }
                self.a %= MOD;
                self.b %= MOD;
            }
        }
        pub fn value(&self) -> u32 {
            (self.b << 16) | self.a
        }
    }

    /// A writer that keeps the Adler-32 of everything written, as
    /// `CheckedOutputStream` does.
    struct Checked<W: Write> {
        out: W,
        sum: Adler32,
        len: u64,
    }

    impl<W: Write> Write for Checked<W> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.sum.update(buf);
            self.len += buf.len() as u64;
            self.out.write_all(buf)?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.out.flush()
        }
    }

    fn jute_string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as i32).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    /// `snapshot.<zxid>` as `FileSnap.serialize` writes it:
    /// ```text
    /// FileHeader(magic "ZKSN", version 2, dbid -1)
    /// sessions: int count, (long id, int timeout)*
    /// ACL cache: int count, (long id, vector<ACL>)*
    /// nodes, parents first: (ustring path, buffer data, long acl, StatPersisted)*   ; root path ""
    /// ustring "/"                         ; end of the tree
    /// long adler32-so-far, ustring "/"    ; SnapStream.sealStream
    /// ```
    /// (no ZxidDigest: ZooKeeper reads snapshots without one).
    pub fn write_snapshot(dir: &Path, tree: &DataTree, zxid: Zxid) -> u64 {
        let f = std::fs::File::create(dir.join(format!("snapshot.{:x}", zxid.0))).unwrap();
        let mut w = Checked {
            out: BufWriter::with_capacity(1 << 20, f),
            sum: Adler32::new(),
            len: 0,
        };
        let mut b = Vec::with_capacity(1 << 16);
        b.extend_from_slice(b"ZKSN");
        b.extend_from_slice(&2i32.to_be_bytes());
        b.extend_from_slice(&(-1i64).to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes()); // no sessions
        let acls: Vec<_> = tree.acl_entries().cloned().collect();
        b.extend_from_slice(&(acls.len() as i32).to_be_bytes());
        for a in &acls {
            b.extend_from_slice(&a.id.to_be_bytes());
            b.extend_from_slice(&(a.acl.len() as i32).to_be_bytes());
            for acl in &a.acl {
                b.extend_from_slice(&acl.perms.to_be_bytes());
                jute_string(&mut b, &acl.id.scheme);
                jute_string(&mut b, &acl.id.id);
            }
        }
        for (path, n) in tree.iter() {
            jute_string(&mut b, if path == "/" { "" } else { &path });
            match n.data_opt() {
                Some(data) => {
                    b.extend_from_slice(&(data.len() as i32).to_be_bytes());
                    b.extend_from_slice(data);
                }
                None => b.extend_from_slice(&(-1i32).to_be_bytes()),
            }
            b.extend_from_slice(&n.acl().id.to_be_bytes());
            let s = n.persisted();
            for v in [s.czxid, s.mzxid, s.ctime, s.mtime] {
                b.extend_from_slice(&v.to_be_bytes());
            }
            for v in [s.version, s.cversion, s.aversion] {
                b.extend_from_slice(&v.to_be_bytes());
            }
            for v in [s.ephemeral_owner, s.pzxid] {
                b.extend_from_slice(&v.to_be_bytes());
            }
            if b.len() > 1 << 15 {
                w.write_all(&b).unwrap();
                b.clear();
            }
        }
        jute_string(&mut b, "/");
        w.write_all(&b).unwrap();
        let sum = w.sum.value() as i64;
        let mut seal = sum.to_be_bytes().to_vec();
        jute_string(&mut seal, "/");
        w.out.write_all(&seal).unwrap();
        w.out.flush().unwrap();
        w.len + seal.len() as u64
    }

    /// `log.<first zxid>` as `FileTxnLog` writes it:
    /// ```text
    /// FileHeader(magic "ZKLG", version 2, dbid 0)
    /// (long adler32(txn), int len, txn, byte 'B')*     ; txn = TxnHeader record
    /// ```
    pub fn write_log(dir: &Path, first: i64, txns: &[Vec<u8>]) {
        let f = std::fs::File::create(dir.join(format!("log.{first:x}"))).unwrap();
        let mut w = BufWriter::with_capacity(1 << 20, f);
        w.write_all(b"ZKLG").unwrap();
        w.write_all(&2i32.to_be_bytes()).unwrap();
        w.write_all(&0i64.to_be_bytes()).unwrap();
        for t in txns {
            let mut sum = Adler32::new();
            sum.update(t);
            w.write_all(&(sum.value() as i64).to_be_bytes()).unwrap();
            w.write_all(&(t.len() as i32).to_be_bytes()).unwrap();
            w.write_all(t).unwrap();
            w.write_all(b"B").unwrap();
        }
        w.flush().unwrap();
    }

    /// `ZooKeeperServerMain` as zkServer.sh runs it, from the Debian package.
    pub fn command(cfg: &Path, heap: &str) -> Command {
        let java = std::env::var_os("JAVA").unwrap_or_else(|| "java".into());
        let cp = std::env::var("ZK_APACHE_CLASSPATH")
            .unwrap_or_else(|_| "/usr/share/java/zookeeper.jar".into());
        let mut c = Command::new(java);
        c.arg(format!("-Xmx{heap}"))
            .arg("-Dzookeeper.admin.enableServer=false")
            .arg("-cp")
            .arg(cp)
            .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
            .arg(cfg);
        c
    }

    /// Bytes of live objects: `jcmd <pid> GC.class_histogram` runs a full GC
    /// and ends with a `Total <instances> <bytes>` line.
    pub fn live_heap(pid: &str) -> u64 {
        let out = Command::new("jcmd")
            .args([pid, "GC.class_histogram"])
            .output()
            .expect("run jcmd");
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .rev()
            .find_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some("Total")).then(|| w.nth(1)?.parse().ok())?
            })
            .unwrap_or_else(|| panic!("no Total line from jcmd:\n{text}"))
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn adler32_matches_the_reference_value() {
            let mut a = super::Adler32::new();
            a.update(b"Wikipedia");
            assert_eq!(a.value(), 0x11E6_0398);
        }
    }
}
