//! The shell: zkCli's commands, their output and error messages, its command
//! history (`history`, `redo`), and where watch events are printed.
//!
//! Output goes where zkCli sends it: results to stdout, errors and `Created`
//! lines to stderr. Each command either succeeds or fails with the message
//! zkCli prints and its exit code.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use zab_core::proto::{
    add_watch_mode, create_mode, watcher_type, DeleteRequest, ErrorCode, MultiOp,
};
use zab_core::records::{perms, Acl, Id, Stat};
use zk_cli::client::{
    event_type_name, keeper_state_name, Client, ClientError, ConnectOptions, WatchedEvent,
};

use crate::opts::{arg, flag, parse, split_words, Parsed, Spec};

/// What zkCli prints for `version` after its own version string.
pub const VERSION: &str = concat!("zk-cli ", env!("CARGO_PKG_VERSION"));

/// The commands and their usage lines, exactly as zkCli 3.8 lists them.
pub const COMMANDS: &[(&str, &str)] = &[
    ("addWatch", "[-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE"),
    ("addauth", "scheme auth"),
    ("close", ""),
    ("config", "[-c] [-w] [-s]"),
    ("connect", "host:port"),
    ("create", "[-s] [-e] [-c] [-t ttl] path [data] [acl]"),
    ("delete", "[-v version] path"),
    ("deleteall", "path [-b batch size]"),
    ("delquota", "[-n|-b|-N|-B] path"),
    ("get", "[-s] [-w] path"),
    ("getAcl", "[-s] path"),
    ("getAllChildrenNumber", "path"),
    ("getEphemerals", "path"),
    ("history", ""),
    ("listquota", "path"),
    ("ls", "[-s] [-w] [-R] path"),
    ("printwatches", "on|off"),
    ("quit", ""),
    ("reconfig", "[-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | [-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]"),
    ("redo", "cmdno"),
    ("removewatches", "path [-c|-d|-a] [-l]"),
    ("set", "[-s] [-v version] path data"),
    ("setAcl", "[-s] [-v version] [-R] path acl"),
    ("setquota", "-n|-b|-N|-B val path"),
    ("stat", "[-w] path"),
    ("sync", "path"),
    ("version", ""),
    ("whoami", ""),
];

/// A failed command: the message zkCli prints on stderr and its exit code.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub exit_code: i32,
}

impl CliError {
    fn new(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            exit_code: 1,
        }
    }
}

type CmdResult = Result<(), CliError>;

fn usage_of(cmd: &str) -> String {
    let opt = COMMANDS
        .iter()
        .find(|(c, _)| *c == cmd)
        .map(|(_, o)| *o)
        .unwrap_or("");
    format!("{cmd} {opt}")
}

/// Java's `KeeperException.getCodeMessage`.
pub fn code_message(code: ErrorCode) -> String {
    use ErrorCode::*;
    match code {
        Ok => "ok",
        SystemError => "SystemError",
        RuntimeInconsistency => "RuntimeInconsistency",
        DataInconsistency => "DataInconsistency",
        ConnectionLoss => "ConnectionLoss",
        MarshallingError => "MarshallingError",
        NewConfigNoQuorum => "NewConfigNoQuorum",
        ReconfigInProgress => "ReconfigInProgress",
        Unimplemented => "Unimplemented",
        OperationTimeout => "OperationTimeout",
        BadArguments => "BadArguments",
        ApiError => "APIError",
        NoNode => "NoNode",
        NoAuth => "NoAuth",
        BadVersion => "BadVersion",
        NoChildrenForEphemerals => "NoChildrenForEphemerals",
        NodeExists => "NodeExists",
        InvalidAcl => "InvalidACL",
        AuthFailed => "AuthFailed",
        NotEmpty => "Directory not empty",
        SessionExpired => "Session expired",
        InvalidCallback => "Invalid callback",
        SessionMoved => "Session moved",
        NotReadOnly => "Not a read-only call",
        EphemeralOnLocalSession => "Ephemeral node on local session",
        NoWatcher => "No such watcher",
        ReconfigDisabled => "Reconfig is disabled",
        SessionClosedRequireSaslAuth => "Session closed because client failed to authenticate",
        QuotaExceeded => "Quota has exceeded",
        Throttled => "Op throttled due to high load",
        other => return format!("Unknown error {}", other.code()),
    }
    .to_owned()
}

/// Java's `KeeperException.getMessage`.
fn keeper_message(code: ErrorCode, path: &str) -> String {
    if path.is_empty() {
        format!("KeeperErrorCode = {}", code_message(code))
    } else {
        format!("KeeperErrorCode = {} for {path}", code_message(code))
    }
}

/// The message of zkCli's `CliWrapperException` for a failed operation.
fn wrap(e: ClientError, path: &str) -> CliError {
    let (code, path) = match &e {
        ClientError::Server { code, path } => (*code, path.as_str()),
        ClientError::ConnectionLoss => (ErrorCode::ConnectionLoss, path),
        ClientError::SessionExpired => (ErrorCode::SessionExpired, path),
        ClientError::AuthFailed => (ErrorCode::AuthFailed, path),
        ClientError::Closed => (ErrorCode::SessionExpired, path),
        other => return CliError::new(other.to_string()),
    };
    use ErrorCode::*;
    let m = match code {
        NoNode => format!("Node does not exist: {path}"),
        NoChildrenForEphemerals => format!("Ephemerals cannot have children: {path}"),
        NodeExists => format!("Node already exists: {path}"),
        NotEmpty => format!("Node not empty: {path}"),
        NotReadOnly => format!("Not a read-only call: {path}"),
        InvalidAcl => format!("Acl is not valid : {path}"),
        NoAuth => format!("Insufficient permission : {path}"),
        BadArguments => format!("Arguments are not valid : {path}"),
        BadVersion => format!("version No is not valid : {path}"),
        ReconfigInProgress => {
            "Another reconfiguration is in progress -- concurrent reconfigs not supported (yet)"
                .to_owned()
        }
        NewConfigNoQuorum => "No quorum of new config is connected and up-to-date with the leader of last commmitted config - try invoking reconfiguration after new servers are connected and synced".to_owned(),
        QuotaExceeded => format!("Quota has exceeded : {path}"),
        _ => keeper_message(code, path),
    };
    CliError::new(m)
}

/// ZooKeeper's client-side path check; the message as Java's `PathUtils`.
fn check_path(path: &str) -> CmdResult {
    zab_core::path::validate_path(path).map_err(|m| {
        let mut c = m.chars();
        let m = match c.next() {
            Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
            None => m,
        };
        CliError::new(m)
    })
}

fn print_stat(out: &mut impl Write, s: &Stat) {
    let _ = write!(
        out,
        "cZxid = 0x{:x}\nctime = {}\nmZxid = 0x{:x}\nmtime = {}\npZxid = 0x{:x}\ncversion = {}\ndataVersion = {}\naclVersion = {}\nephemeralOwner = 0x{:x}\ndataLength = {}\nnumChildren = {}\n",
        s.czxid,
        java_date(s.ctime),
        s.mzxid,
        java_date(s.mtime),
        s.pzxid,
        s.cversion,
        s.version,
        s.aversion,
        s.ephemeral_owner,
        s.data_length,
        s.num_children
    );
}

/// `java.util.Date.toString()` in UTC: `Thu Jan 01 00:00:00 UTC 1970`.
pub fn java_date(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86400);
    let sod = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        WD[days.rem_euclid(7) as usize],
        MO[(m - 1) as usize],
        d,
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        y
    )
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// ZooKeeper's `ZKUtil.getPermString`.
fn perm_string(p: i32) -> String {
    let mut s = String::new();
    for (bit, c) in [
        (perms::CREATE, 'c'),
        (perms::DELETE, 'd'),
        (perms::READ, 'r'),
        (perms::WRITE, 'w'),
        (perms::ADMIN, 'a'),
    ] {
        if p & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// A jute CSV string, as `Id.toString()` prints its fields.
fn csv(s: &str) -> String {
    let mut o = String::from("'");
    for c in s.chars() {
        match c {
            '\0' => o.push_str("%00"),
            '\n' => o.push_str("%0A"),
            '\r' => o.push_str("%0D"),
            ',' => o.push_str("%2C"),
            '}' => o.push_str("%7D"),
            '%' => o.push_str("%25"),
            c => o.push(c),
        }
    }
    o
}

/// zkCli's `AclParser.parse`: `scheme:id:perms[,...]`, bad entries reported and skipped.
fn parse_acl(s: &str) -> Vec<Acl> {
    let mut acl = Vec::new();
    for a in s.split(',') {
        let (Some(first), Some(last)) = (a.find(':'), a.rfind(':')) else {
            eprintln!("{a} does not have the form scheme:id:perm");
            continue;
        };
        if first == last {
            eprintln!("{a} does not have the form scheme:id:perm");
            continue;
        }
        let mut p = 0;
        for c in a[last + 1..].chars() {
            match c {
                'r' => p |= perms::READ,
                'w' => p |= perms::WRITE,
                'c' => p |= perms::CREATE,
                'd' => p |= perms::DELETE,
                'a' => p |= perms::ADMIN,
                other => eprintln!("Unknown perm type: {other}"),
            }
        }
        acl.push(Acl {
            perms: p,
            id: Id::new(&a[..first], &a[first + 1..last]),
        });
    }
    acl
}

/// Java's `StatsTrack`: `count=N,bytes=N[=;key=value...]`.
#[derive(Default, Clone)]
struct StatsTrack(BTreeMap<String, i64>);

impl StatsTrack {
    fn parse(s: &str) -> StatsTrack {
        let mut m = BTreeMap::new();
        for kv in s.split([',', ';']).filter(|x| !x.is_empty()) {
            let mut it = kv.split('=');
            let k = it.next().unwrap_or("").to_owned();
            let v = it.next().unwrap_or("");
            m.insert(
                k,
                if v.is_empty() {
                    -1
                } else {
                    v.parse().unwrap_or(-1)
                },
            );
        }
        StatsTrack(m)
    }
    fn get(&self, k: &str) -> i64 {
        self.0.get(k).copied().unwrap_or(-1)
    }
    fn set(&mut self, k: &str, v: i64) {
        self.0.insert(k.to_owned(), v);
    }
    fn render(&self) -> String {
        let mut s = format!("count={},bytes={}", self.get("count"), self.get("bytes"));
        let rest: Vec<_> = self
            .0
            .iter()
            .filter(|(k, _)| *k != "count" && *k != "bytes")
            .collect();
        if !rest.is_empty() {
            s.push('=');
            for (k, v) in rest {
                s.push_str(&format!(";{k}={v}"));
            }
        }
        s
    }
}

const QUOTA_ROOT: &str = "/zookeeper/quota";
const LIMIT_NODE: &str = "zookeeper_limits";
const STAT_NODE: &str = "zookeeper_stats";

/// Prints one event's text without disturbing the line being edited.
pub type Printer = Arc<Mutex<Box<dyn FnMut(String) + Send>>>;

/// Where watch events go: printed in order between commands (scripts), or
/// as they arrive through a printer that keeps the edited line intact.
pub enum EventSink {
    Script(Vec<mpsc::Receiver<WatchedEvent>>),
    Live(Printer),
}

pub fn event_text(ev: &WatchedEvent) -> String {
    format!(
        "\nWATCHER::\n\nWatchedEvent state:{} type:{} path:{}\n",
        keeper_state_name(ev.state),
        event_type_name(ev.event_type),
        ev.path.as_deref().unwrap_or("null")
    )
}

pub struct Shell {
    pub rt: Runtime,
    pub client: Arc<Mutex<Option<Client>>>,
    pub host: String,
    pub timeout: Duration,
    pub read_only: bool,
    pub history: BTreeMap<i64, String>,
    pub command_count: i64,
    pub print_watches: Arc<AtomicBool>,
    pub exit_code: i32,
    pub sink: EventSink,
    /// Set by `quit`.
    pub quit: bool,
}

impl Shell {
    pub fn new(
        rt: Runtime,
        host: String,
        timeout: Duration,
        read_only: bool,
        sink: EventSink,
    ) -> Shell {
        Shell {
            rt,
            client: Arc::new(Mutex::new(None)),
            host,
            timeout,
            read_only,
            history: BTreeMap::new(),
            command_count: 0,
            print_watches: Arc::new(AtomicBool::new(true)),
            exit_code: 0,
            sink,
            quit: false,
        }
    }

    fn zk(&self) -> Option<Client> {
        self.client.lock().expect("client lock").clone()
    }

    /// The prompt: `[zk: host:port(CONNECTED) N] `.
    pub fn prompt(&self) -> String {
        let state = match self.zk() {
            Some(c) => c.state().java_name(),
            None => "CLOSED",
        };
        format!("[zk: {}({}) {}] ", self.host, state, self.command_count)
    }

    /// Print the events that have arrived (script mode); a no-op when a live
    /// printer shows them as they come.
    pub fn drain_events(&mut self) {
        if let EventSink::Script(rxs) = &mut self.sink {
            let on = self.print_watches.load(Ordering::Relaxed);
            let mut out = std::io::stdout().lock();
            for rx in rxs.iter_mut() {
                while let Ok(ev) = rx.try_recv() {
                    if on {
                        let _ = out.write_all(event_text(&ev).as_bytes());
                    }
                }
            }
            let _ = out.flush();
        }
    }

    /// Open a session to `host` (`host:port[,host:port...][/chroot]`),
    /// replacing the current one. As zkCli, the shell does not wait for a
    /// server: when none of the hosts answers at once, the client keeps
    /// trying in the background and commands fail with a connection loss
    /// meanwhile. Fails only for a malformed connect string (zkCli dies of
    /// the same `IllegalArgumentException`).
    pub fn connect(&mut self, host: &str) -> CmdResult {
        if let Some(old) = self.client.lock().expect("client lock").take() {
            let _ = self.rt.block_on(old.close());
        }
        self.host = host.to_owned();
        if let Some(i) = host.find('/') {
            if host.len() - i > 1 {
                check_path(&host[i..])?;
            }
        }
        let opts = ConnectOptions {
            session_timeout: self.timeout,
            connect_timeout: self.timeout,
            read_only: self.read_only,
        };
        match self.rt.block_on(Client::start(host, opts)) {
            Ok((c, rx)) => {
                *self.client.lock().expect("client lock") = Some(c);
                match &mut self.sink {
                    EventSink::Script(rxs) => {
                        rxs.retain(|r| !r.is_closed());
                        rxs.push(rx);
                    }
                    EventSink::Live(p) => {
                        let p = p.clone();
                        let on = self.print_watches.clone();
                        let mut rx = rx;
                        // The connection event comes before the next prompt.
                        while let Ok(ev) = rx.try_recv() {
                            if on.load(Ordering::Relaxed) {
                                (p.lock().expect("printer lock"))(event_text(&ev));
                            }
                        }
                        self.rt.spawn(async move {
                            while let Some(ev) = rx.recv().await {
                                if on.load(Ordering::Relaxed) {
                                    (p.lock().expect("printer lock"))(event_text(&ev));
                                }
                            }
                        });
                    }
                }
            }
            Err(e) => return Err(wrap(e, "")),
        }
        Ok(())
    }

    /// Run one line typed or piped in: zkCli's `executeLine`.
    pub fn execute_line(&mut self, line: &str) {
        let words = split_words(line);
        if words.is_empty() {
            return;
        }
        self.history.insert(self.command_count, line.to_owned());
        self.process(words);
        self.command_count += 1;
    }

    /// Run one command, print its error, remember its exit code.
    pub fn process(&mut self, words: Vec<String>) -> bool {
        match self.process_cmd(words) {
            Ok(()) => {
                self.exit_code = 0;
                true
            }
            Err(e) => {
                self.exit_code = e.exit_code;
                eprintln!("{}", e.message);
                false
            }
        }
    }

    fn usage() {
        let mut s = String::from(
            "ZooKeeper -server host:port -client-configuration properties-file cmd args\n",
        );
        for (c, o) in COMMANDS {
            s.push_str(&format!("\t{c} {o}\n"));
        }
        eprint!("{s}");
    }

    fn process_cmd(&mut self, words: Vec<String>) -> CmdResult {
        let cmd = words[0].clone();
        if !COMMANDS.iter().any(|(c, _)| *c == cmd) {
            Self::usage();
            return Err(CliError {
                message: format!("Command not found: Command not found {cmd}"),
                exit_code: 127,
            });
        }
        match cmd.as_str() {
            "quit" => {
                if let Some(c) = self.client.lock().expect("client lock").take() {
                    let _ = self.rt.block_on(c.close());
                }
                self.quit = true;
                return Ok(());
            }
            "redo" if words.len() >= 2 => {
                let i = parse_java_int(&words[1])
                    .ok_or_else(|| CliError::new(format!("For input string: \"{}\"", words[1])))?;
                if self.command_count <= i || i < 0 {
                    return Err(CliError::new("Command index out of range"));
                }
                let line = self.history.get(&i).cloned().unwrap_or_default();
                let w = split_words(&line);
                if w.first().map(String::as_str) == Some("redo") {
                    return Err(CliError::new("No redoing redos"));
                }
                self.history.insert(self.command_count, line);
                self.process(w);
                return Ok(());
            }
            "history" => {
                let mut out = std::io::stdout().lock();
                for i in (self.command_count - 10).max(0)..=self.command_count {
                    let _ = writeln!(
                        out,
                        "{i} - {}",
                        self.history.get(&i).map(String::as_str).unwrap_or("null")
                    );
                }
            }
            "printwatches" => {
                if words.len() == 1 {
                    println!(
                        "printwatches is {}",
                        if self.print_watches.load(Ordering::Relaxed) {
                            "on"
                        } else {
                            "off"
                        }
                    );
                } else {
                    self.print_watches
                        .store(words[1] == "on", Ordering::Relaxed);
                }
            }
            "connect" => {
                let h = words.get(1).cloned().unwrap_or_else(|| self.host.clone());
                self.connect(&h)?;
            }
            _ => {}
        }
        let Some(zk) = self
            .zk()
            .filter(|c| c.state() != zk_cli::client::State::Closed)
        else {
            println!("Not connected");
            return Ok(());
        };
        let mut out = std::io::stdout().lock();
        match cmd.as_str() {
            "ls" => {
                let mut p = opts(&words, &[flag("?"), flag("s"), flag("w"), flag("R")])?;
                if p.args.len() > 2 {
                    eprintln!(
                        "'ls path [watch]' has been deprecated. Please use 'ls [-w] path' instead."
                    );
                    p.opts.insert("w", None);
                }
                if p.args.len() < 2 {
                    return Err(CliError::new(usage_of("ls")));
                }
                let path = p.args[1].clone();
                check_path(&path)?;
                let watch = p.has("w");
                if p.has("R") {
                    let tree = self
                        .rt
                        .block_on(subtree_bfs(&zk, &path, watch))
                        .map_err(|e| wrap(e, &path))?;
                    for n in tree {
                        let _ = writeln!(out, "{n}");
                    }
                } else if p.has("s") {
                    let (mut ch, st) = self
                        .rt
                        .block_on(zk.get_children2(&path, watch))
                        .map_err(|e| wrap(e, &path))?;
                    ch.sort();
                    let _ = writeln!(out, "[{}]", ch.join(", "));
                    print_stat(&mut out, &st);
                } else {
                    let mut ch = self
                        .rt
                        .block_on(zk.get_children(&path, watch))
                        .map_err(|e| wrap(e, &path))?;
                    ch.sort();
                    let _ = writeln!(out, "[{}]", ch.join(", "));
                }
            }
            "create" => {
                let p = opts(&words, &[flag("e"), flag("s"), flag("c"), arg("t")])?;
                if p.args.len() < 2 {
                    return Err(CliError::new(usage_of("create")));
                }
                let (e, s, c, t) = (p.has("e"), p.has("s"), p.has("c"), p.has("t"));
                if c && (e || s) {
                    return Err(CliError::new("-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential."));
                }
                let ttl: i64 = match p.value("t") {
                    Some(v) => v
                        .parse()
                        .map_err(|_| CliError::new("-t argument must be a long value"))?,
                    None => 0,
                };
                if t && e {
                    return Err(CliError::new("TTLs cannot be used with Ephemeral znodes"));
                }
                if t && c {
                    return Err(CliError::new("TTLs cannot be used with Container znodes"));
                }
                let flags = match (e, s, c, t) {
                    (true, true, _, _) => create_mode::EPHEMERAL_SEQUENTIAL,
                    (true, false, _, _) => create_mode::EPHEMERAL,
                    (false, true, _, true) => create_mode::PERSISTENT_SEQUENTIAL_WITH_TTL,
                    (false, true, _, false) => create_mode::PERSISTENT_SEQUENTIAL,
                    (false, false, true, _) => create_mode::CONTAINER,
                    (false, false, false, true) => create_mode::PERSISTENT_WITH_TTL,
                    _ => create_mode::PERSISTENT,
                };
                if t && (ttl <= 0 || ttl > 0xff_ffff_ffff) {
                    return Err(CliError::new(
                        "ttl must be positive and cannot be larger than: 1099511627775",
                    ));
                }
                let path = p.args[1].clone();
                check_path(&path)?;
                let data = p.args.get(2).map(|d| d.as_bytes().to_vec());
                let acl = match p.args.get(3) {
                    Some(a) => parse_acl(a),
                    None => Acl::open_unsafe(),
                };
                if acl.is_empty() {
                    // The Java client refuses an empty ACL before sending.
                    eprintln!("KeeperErrorCode = InvalidACL");
                    return Err(CliError::new("Acl is not valid : null"));
                }
                match self
                    .rt
                    .block_on(zk.create_nullable(&path, data.as_deref(), &acl, flags, ttl))
                {
                    Ok((created, _)) => eprintln!("Created {created}"),
                    Err(ClientError::Server {
                        code: ErrorCode::EphemeralOnLocalSession,
                        path,
                    }) => {
                        eprintln!("Unable to create ephemeral node on a local session");
                        return Err(wrap(
                            ClientError::Server {
                                code: ErrorCode::EphemeralOnLocalSession,
                                path: path.clone(),
                            },
                            &path,
                        ));
                    }
                    Err(ClientError::Server {
                        code: ErrorCode::InvalidAcl,
                        path,
                    }) => {
                        eprintln!("{}", keeper_message(ErrorCode::InvalidAcl, &path));
                        return Err(wrap(
                            ClientError::Server {
                                code: ErrorCode::InvalidAcl,
                                path: path.clone(),
                            },
                            &path,
                        ));
                    }
                    Err(err) => return Err(wrap(err, &path)),
                }
            }
            "get" => {
                let mut p = opts(&words, &[flag("s"), flag("w")])?;
                if p.args.len() < 2 {
                    return Err(CliError::new(usage_of("get")));
                }
                if p.args.len() > 2 {
                    eprintln!("'get path [watch]' has been deprecated. Please use 'get [-s] [-w] path' instead.");
                    p.opts.insert("w", None);
                }
                let path = p.args[1].clone();
                check_path(&path)?;
                let (data, st) = self
                    .rt
                    .block_on(zk.get_data_nullable(&path, p.has("w")))
                    .map_err(|e| wrap(e, &path))?;
                let text = match &data {
                    Some(d) => String::from_utf8_lossy(d).into_owned(),
                    None => "null".to_owned(),
                };
                let _ = writeln!(out, "{text}");
                if p.has("s") {
                    print_stat(&mut out, &st);
                }
            }
            "set" => {
                let p = opts(&words, &[flag("s"), arg("v")])?;
                if p.args.len() < 3 {
                    return Err(CliError::new(usage_of("set")));
                }
                let path = p.args[1].clone();
                check_path(&path)?;
                let version = version_opt(&p)?;
                let st = self
                    .rt
                    .block_on(zk.set_data(&path, p.args[2].as_bytes(), version))
                    .map_err(|e| wrap(e, &path))?;
                if p.has("s") {
                    print_stat(&mut out, &st);
                }
            }
            "stat" => {
                let mut p = opts(&words, &[flag("w")])?;
                if p.args.len() < 2 {
                    return Err(CliError::new(usage_of("stat")));
                }
                if p.args.len() > 2 {
                    eprintln!("'stat path [watch]' has been deprecated. Please use 'stat [-w] path' instead.");
                    p.opts.insert("w", None);
                }
                let path = p.args[1].clone();
                check_path(&path)?;
                match self
                    .rt
                    .block_on(zk.exists(&path, p.has("w")))
                    .map_err(|e| wrap(e, &path))?
                {
                    Some(st) => print_stat(&mut out, &st),
                    None => return Err(CliError::new(format!("Node does not exist: {path}"))),
                }
            }
            "delete" => {
                let p = opts(&words, &[arg("v")])?;
                if p.args.len() < 2 {
                    return Err(CliError::new(usage_of("delete")));
                }
                if p.args.len() > 2 {
                    eprintln!("'delete path [version]' has been deprecated. Please use 'delete [-v version] path' instead.");
                }
                let path = p.args[1].clone();
                check_path(&path)?;
                let version = version_opt(&p)?;
                self.rt
                    .block_on(zk.delete(&path, version))
                    .map_err(|e| wrap(e, &path))?;
            }
            "deleteall" => {
                let p = opts(&words, &[arg("b")])?;
                if p.args.len() < 2 {
                    return Err(CliError::new(usage_of("deleteall")));
                }
                let batch: usize = match p.value("b") {
                    Some(v) => v
                        .parse::<i32>()
                        .map_err(|_| CliError::new("-b argument must be an int value"))?
                        .max(1) as usize,
                    None => 1000,
                };
                let path = p.args[1].clone();
                check_path(&path)?;
                let ok = self
                    .rt
                    .block_on(delete_recursive(&zk, &path, batch))
                    .map_err(|e| wrap(e, &path))?;
                if !ok {
                    eprintln!("Failed to delete some node(s) in the subtree!");
                }
            }
            "getAcl" => {
                let p = opts(&words, &[flag("s")])?;
                if p.args.len() < 2 {
                    return Err(CliError::new(usage_of("getAcl")));
                }
                let path = p.args[1].clone();
                check_path(&path)?;
                let (acl, st) = self
                    .rt
                    .block_on(zk.get_acl(&path))
                    .map_err(|e| wrap(e, &path))?;
                for a in acl {
                    let _ = writeln!(
                        out,
                        "{},{}\n: {}",
                        csv(&a.id.scheme),
                        csv(&a.id.id),
                        perm_string(a.perms)
                    );
                }
                if p.has("s") {
                    print_stat(&mut out, &st);
                }
            }
            "setAcl" => {
                let p = opts(&words, &[flag("s"), arg("v"), flag("R")])?;
                if p.args.len() < 3 {
                    return Err(CliError::new(usage_of("setAcl")));
                }
                let path = p.args[1].clone();
                check_path(&path)?;
                let acl = parse_acl(&p.args[2]);
                let version = version_opt(&p)?;
                if acl.is_empty() {
                    // The Java client refuses an empty ACL before sending.
                    return Err(CliError::new("Acl is not valid : null"));
                }
                if p.has("R") {
                    let tree = self
                        .rt
                        .block_on(subtree_bfs(&zk, &path, false))
                        .map_err(|e| wrap(e, &path))?;
                    for n in tree {
                        if let Err(e) = self.rt.block_on(zk.set_acl(&n, &acl, version)) {
                            let _ = write!(out, "{}", wrap_plain(e, &n));
                        }
                    }
                } else {
                    let st = self
                        .rt
                        .block_on(zk.set_acl(&path, &acl, version))
                        .map_err(|e| wrap(e, &path))?;
                    if p.has("s") {
                        print_stat(&mut out, &st);
                    }
                }
            }
            "addauth" => {
                let p = opts(&words, &[])?;
                if p.args.len() < 2 {
                    return Err(CliError::new(usage_of("addauth")));
                }
                let auth = p
                    .args
                    .get(2)
                    .map(|s| s.as_bytes().to_vec())
                    .unwrap_or_default();
                self.rt
                    .block_on(zk.add_auth(&p.args[1], &auth))
                    .map_err(|e| wrap(e, ""))?;
            }
            "sync" => {
                let p = opts(&words, &[])?;
                if p.args.len() < 2 {
                    return Err(CliError::new(usage_of("sync")));
                }
                let path = p.args[1].clone();
                check_path(&path)?;
                match self.rt.block_on(zk.sync(&path)) {
                    Ok(_) => {
                        let _ = writeln!(out, "Sync is OK");
                    }
                    Err(e) => {
                        let code = e.code().map(|c| c.code()).unwrap_or(-1);
                        let _ = writeln!(out, "Sync has failed. rc={code}");
                    }
                }
            }
            "getEphemerals" => {
                let p = opts(&words, &[])?;
                let path = p.args.get(1).cloned().unwrap_or_else(|| "/".to_owned());
                check_path(&path)?;
                let e = self
                    .rt
                    .block_on(zk.get_ephemerals(&path))
                    .map_err(|e| wrap(e, &path))?;
                let _ = writeln!(out, "[{}]", e.join(", "));
            }
            "getAllChildrenNumber" => {
                let p = opts(&words, &[])?;
                if p.args.len() < 2 {
                    return Err(CliError::new(usage_of("getAllChildrenNumber")));
                }
                let path = p.args[1].clone();
                check_path(&path)?;
                let n = self
                    .rt
                    .block_on(zk.get_all_children_number(&path))
                    .map_err(|e| wrap(e, &path))?;
                let _ = writeln!(out, "{n}");
            }
            "addWatch" => {
                let p = opts(&words, &[arg("m")])?;
                if p.args.len() != 2 {
                    return Err(CliError::new(usage_of("addWatch")));
                }
                let mode = match p.value("m").map(str::to_uppercase).as_deref() {
                    None | Some("PERSISTENT_RECURSIVE") => add_watch_mode::PERSISTENT_RECURSIVE,
                    Some("PERSISTENT") => add_watch_mode::PERSISTENT,
                    Some(_) => return Err(CliError::new(usage_of("addWatch"))),
                };
                let path = p.args[1].clone();
                check_path(&path)?;
                self.rt
                    .block_on(zk.add_watch(&path, mode))
                    .map_err(|e| wrap(e, &path))?;
            }
            "removewatches" => {
                let p = opts(&words, &[flag("c"), flag("d"), flag("a"), flag("l")])?;
                if p.args.len() < 2 {
                    return Err(CliError::new(usage_of("removewatches")));
                }
                let wt = if p.has("c") {
                    watcher_type::CHILDREN
                } else if p.has("d") {
                    watcher_type::DATA
                } else {
                    watcher_type::ANY
                };
                let path = p.args[1].clone();
                check_path(&path)?;
                // With -l the watches go from the client even when the
                // server cannot be asked (Java's `removeAllWatches(.., local)`).
                self.rt
                    .block_on(zk.remove_all_watches(&path, wt, p.has("l")))
                    .map_err(|e| wrap(e, &path))?;
            }
            "whoami" => {
                // Java's whoAmI ignores the reply's error: without a server
                // zkCli prints the header alone and succeeds.
                let infos = self.rt.block_on(zk.whoami()).unwrap_or_default();
                let _ = writeln!(out, "Auth scheme: User");
                for i in infos {
                    let _ = writeln!(out, "{}: {}", i.auth_scheme, i.user);
                }
            }
            "config" => {
                let p = opts(&words, &[flag("s"), flag("w"), flag("c")])?;
                let (data, st) = self
                    .rt
                    .block_on(zk.get_config(p.has("w")))
                    .map_err(|e| wrap(e, "/zookeeper/config"))?;
                let text = String::from_utf8_lossy(&data).into_owned();
                if p.has("c") {
                    let _ = writeln!(out, "{}", client_config_str(&text));
                } else {
                    let _ = writeln!(out, "{text}");
                }
                if p.has("s") {
                    print_stat(&mut out, &st);
                }
            }
            "reconfig" => {
                let p = opts(
                    &words,
                    &[
                        flag("s"),
                        arg("v"),
                        arg("file"),
                        arg("members"),
                        arg("add"),
                        arg("remove"),
                    ],
                )?;
                let (file, members, add, remove) = (
                    p.has("file"),
                    p.has("members"),
                    p.has("add"),
                    p.has("remove"),
                );
                if !(file || members || add || remove) {
                    return Err(CliError::new(usage_of("reconfig")));
                }
                let version = match p.value("v") {
                    Some(v) => i64::from_str_radix(v, 16).map_err(|_| {
                        CliError::new("-v must be followed by a long (configuration version)")
                    })?,
                    None => -1,
                };
                if (file || members) && (add || remove) {
                    return Err(CliError::new("Can't use -file or -members together with -add or -remove (mixing incremental and non-incremental modes is not allowed)"));
                }
                if file && members {
                    return Err(CliError::new(
                        "Can't use -file and -members together (conflicting non-incremental modes)",
                    ));
                }
                let lower = |k: &str| p.value(k).map(str::to_lowercase);
                let mut new_members = lower("members");
                if let Some(f) = p.value("file") {
                    let text = std::fs::read_to_string(f).map_err(|e| {
                        CliError::new(format!("Error processing {f}{}", java_io_message(f, &e)))
                    })?;
                    let lines: Vec<_> = text
                        .lines()
                        .map(str::trim)
                        .filter(|l| {
                            l.starts_with("server.")
                                || l.starts_with("group")
                                || l.starts_with("weight")
                        })
                        .collect();
                    new_members = Some(lines.join("\n"));
                }
                let (cfg, st) = self
                    .rt
                    .block_on(zk.reconfig(
                        lower("add").as_deref(),
                        lower("remove").as_deref(),
                        new_members.as_deref(),
                        version,
                    ))
                    .map_err(|e| wrap(e, ""))?;
                let _ = writeln!(
                    out,
                    "Committed new configuration:\n{}",
                    String::from_utf8_lossy(&cfg)
                );
                if p.has("s") {
                    print_stat(&mut out, &st);
                }
            }
            "setquota" => {
                drop(out);
                return self.setquota(&zk, &words);
            }
            "listquota" => {
                let p = opts(&words, &[])?;
                if p.args.len() < 2 {
                    return Err(CliError::new(usage_of("listquota")));
                }
                let path = p.args[1].clone();
                eprintln!("absolute path is {QUOTA_ROOT}{path}/{LIMIT_NODE}");
                let limit = self
                    .rt
                    .block_on(zk.get_data(&format!("{QUOTA_ROOT}{path}/{LIMIT_NODE}"), false));
                let stat = self
                    .rt
                    .block_on(zk.get_data(&format!("{QUOTA_ROOT}{path}/{STAT_NODE}"), false));
                match (limit, stat) {
                    (Ok((l, _)), Ok((s, _))) => {
                        let _ = writeln!(
                            out,
                            "Output quota for {path} {}",
                            StatsTrack::parse(&String::from_utf8_lossy(&l)).render()
                        );
                        let _ = writeln!(
                            out,
                            "Output stat for {path} {}",
                            StatsTrack::parse(&String::from_utf8_lossy(&s)).render()
                        );
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        if e.code() == Some(ErrorCode::NoNode) {
                            eprintln!("quota for {path} does not exist.");
                        } else {
                            return Err(wrap(e, &path));
                        }
                    }
                }
            }
            "delquota" => {
                drop(out);
                return self.delquota(&zk, &words);
            }
            "close" => {
                drop(out);
                let _ = self.rt.block_on(zk.close());
            }
            "version" => {
                let p = opts(&words, &[])?;
                if p.args.len() > 1 {
                    return Err(CliError::new(usage_of("version")));
                }
                let _ = writeln!(out, "ZooKeeper CLI version: {VERSION}");
            }
            _ => {}
        }
        Ok(())
    }

    fn setquota(&mut self, zk: &Client, words: &[String]) -> CmdResult {
        let p = opts(words, &[arg("n"), arg("b"), arg("N"), arg("B")])?;
        let given: Vec<_> = ["n", "b", "N", "B"]
            .into_iter()
            .filter(|k| p.has(k))
            .collect();
        if given.is_empty() {
            return Err(CliError::new(
                "org.apache.commons.cli.MissingOptionException: Missing required option: [-n num soft quota, -b bytes soft quota, -N num hard quota, -B bytes hard quota]",
            ));
        }
        if given.len() > 1 {
            return Err(CliError::new(format!(
                "org.apache.commons.cli.AlreadySelectedException: The option '{}' was specified but an option from this group has already been selected: '{}'",
                given[1], given[0]
            )));
        }
        if p.args.len() < 2 {
            return Err(CliError::new(usage_of("setquota")));
        }
        let path = p.args[1].clone();
        if path.starts_with(QUOTA_ROOT) {
            eprintln!("cannot set a quota under the path: {QUOTA_ROOT}");
            return Ok(());
        }
        let mut quota = StatsTrack::default();
        for k in ["count", "bytes", "countHardLimit", "byteHardLimit"] {
            quota.set(k, -1);
        }
        for (opt, key, is_count) in [
            ("n", "count", true),
            ("b", "bytes", false),
            ("N", "countHardLimit", true),
            ("B", "byteHardLimit", false),
        ] {
            if let Some(v) = p.value(opt) {
                let Ok(n) = v.parse::<i64>() else {
                    eprintln!("NumberFormatException happens when parsing the option value");
                    return Ok(());
                };
                if is_count && n <= 0 {
                    eprintln!("the num quota must be greater than zero");
                    return Ok(());
                }
                if !is_count && n < 0 {
                    eprintln!("the bytes quota must be greater than or equal to zero");
                    return Ok(());
                }
                quota.set(key, n);
            }
        }
        check_path(&path)?;
        self.rt
            .block_on(create_quota(zk, &path, quota))
            .map_err(|e| match e {
                QuotaError::Arg(m) => CliError::new(m),
                QuotaError::Zk(e) => wrap(e, &path),
            })
    }

    fn delquota(&mut self, zk: &Client, words: &[String]) -> CmdResult {
        let p = opts(words, &[flag("n"), flag("b"), flag("N"), flag("B")])?;
        if p.args.len() < 2 {
            return Err(CliError::new(usage_of("delquota")));
        }
        let path = p.args[1].clone();
        let keys: Vec<&str> = [
            ("n", "count"),
            ("b", "bytes"),
            ("N", "countHardLimit"),
            ("B", "byteHardLimit"),
        ]
        .into_iter()
        .filter(|(o, _)| p.has(o))
        .map(|(_, k)| k)
        .collect();
        match self.rt.block_on(del_quota(zk, &path, &keys)) {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some(ErrorCode::NoNode) => {
                eprintln!("quota for {path} does not exist.");
                Ok(())
            }
            Err(e) => Err(wrap(e, &path)),
        }
    }
}

fn wrap_plain(e: ClientError, path: &str) -> String {
    match e.code() {
        Some(c) => keeper_message(c, path),
        None => e.to_string(),
    }
}

fn opts(words: &[String], specs: &[Spec]) -> Result<Parsed, CliError> {
    parse(words, specs).map_err(CliError::new)
}

fn version_opt(p: &Parsed) -> Result<i32, CliError> {
    match p.value("v") {
        Some(v) => v
            .parse()
            .map_err(|_| CliError::new(format!("For input string: \"{v}\""))),
        None => Ok(-1),
    }
}

/// `Integer.decode`: decimal, `0x` hex, `#` hex, leading-zero octal.
fn parse_java_int(s: &str) -> Option<i64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .or_else(|| s.strip_prefix('#'))
    {
        i64::from_str_radix(h, 16).ok()?
    } else if s.len() > 1 && s.starts_with('0') {
        i64::from_str_radix(&s[1..], 8).ok()?
    } else {
        s.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

/// The message of the `FileNotFoundException` Java throws for `path`: the
/// path, then the system's reason.
fn java_io_message(path: &str, e: &std::io::Error) -> String {
    let reason = e.to_string();
    let reason = reason.split(" (os error").next().unwrap_or(&reason);
    format!("{path} ({reason})")
}

/// `ConfigUtils.getClientConfigStr`: the version and the client addresses.
fn client_config_str(cfg: &str) -> String {
    let mut version = String::new();
    let mut addrs = Vec::new();
    for line in cfg.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k == "version" {
            version = v.to_owned();
        }
        if k.starts_with("server.") {
            if let Some((_, client)) = v.split_once(';') {
                let client = if client.contains(':') {
                    client.to_owned()
                } else {
                    format!("0.0.0.0:{client}")
                };
                addrs.push(client);
            }
        }
    }
    format!("{version} {}", addrs.join(","))
}

/// The subtree under `path`, breadth first (ZooKeeper's `ZKUtil.listSubTreeBFS`),
/// children of each node in sorted order.
async fn subtree_bfs(zk: &Client, path: &str, watch: bool) -> Result<Vec<String>, ClientError> {
    let mut queue = VecDeque::from([path.to_owned()]);
    let mut tree = vec![path.to_owned()];
    while let Some(node) = queue.pop_front() {
        let mut children = match zk.get_children(&node, watch).await {
            Ok(c) => c,
            // A node removed while we walk is simply not there any more.
            Err(e) if e.code() == Some(ErrorCode::NoNode) && node != path => continue,
            Err(e) => return Err(e),
        };
        children.sort();
        for c in children {
            let child = if node == "/" {
                format!("/{c}")
            } else {
                format!("{node}/{c}")
            };
            queue.push_back(child.clone());
            tree.push(child);
        }
    }
    Ok(tree)
}

/// `ZKUtil.deleteRecursive`: delete the subtree deepest first, in multi batches.
async fn delete_recursive(zk: &Client, path: &str, batch: usize) -> Result<bool, ClientError> {
    let tree = subtree_bfs(zk, path, false).await?;
    let mut ok = true;
    let ops: Vec<MultiOp> = tree
        .iter()
        .rev()
        .map(|p| {
            MultiOp::Delete(DeleteRequest {
                path: p.clone(),
                version: -1,
            })
        })
        .collect();
    for chunk in ops.chunks(batch) {
        if zk.multi(chunk.to_vec()).await.is_err() {
            ok = false;
        }
    }
    Ok(ok)
}

enum QuotaError {
    Arg(String),
    Zk(ClientError),
}

impl From<ClientError> for QuotaError {
    fn from(e: ClientError) -> Self {
        QuotaError::Zk(e)
    }
}

async fn create_if_absent(zk: &Client, path: &str, data: Option<&[u8]>) -> Result<(), ClientError> {
    match zk
        .create_nullable(path, data, &Acl::open_unsafe(), create_mode::PERSISTENT, 0)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(ErrorCode::NodeExists) => Ok(()),
        Err(e) => Err(e),
    }
}

/// `SetQuotaCommand.createQuota`, client side as zkCli does it.
async fn create_quota(zk: &Client, path: &str, quota: StatsTrack) -> Result<(), QuotaError> {
    if zk.exists(path, false).await?.is_none() {
        return Err(QuotaError::Arg(format!("{path} does not exist.")));
    }
    // A quota may not sit above or below another quota.
    let real = format!("{QUOTA_ROOT}{path}");
    match subtree_bfs(zk, &real, false).await {
        Ok(nodes) => {
            for n in nodes {
                let children = zk.get_children(&n, false).await.unwrap_or_default();
                if n != real && children.iter().any(|c| c == LIMIT_NODE) {
                    return Err(QuotaError::Arg(format!(
                        "{path} has a child {} which has a quota",
                        &n[QUOTA_ROOT.len()..]
                    )));
                }
            }
        }
        Err(e) if e.code() == Some(ErrorCode::NoNode) => {}
        Err(e) => return Err(e.into()),
    }
    let parts: Vec<&str> = path.split('/').collect();
    let mut qp = QUOTA_ROOT.to_owned();
    for part in parts.iter().take(parts.len().saturating_sub(1)).skip(1) {
        qp.push('/');
        qp.push_str(part);
        let children = match zk.get_children(&qp, false).await {
            Ok(c) => c,
            Err(e) if e.code() == Some(ErrorCode::NoNode) => break,
            Err(e) => return Err(e.into()),
        };
        if children.is_empty() {
            break;
        }
        if qp != real && children.iter().any(|c| c == LIMIT_NODE) {
            return Err(QuotaError::Arg(format!(
                "{path} has a parent {} which has a quota",
                &qp[QUOTA_ROOT.len()..]
            )));
        }
    }
    if zk.exists(QUOTA_ROOT, false).await?.is_none() {
        create_if_absent(zk, "/zookeeper", None).await?;
        create_if_absent(zk, QUOTA_ROOT, None).await?;
    }
    let mut qp = QUOTA_ROOT.to_owned();
    for part in parts.iter().skip(1) {
        qp.push('/');
        qp.push_str(part);
        if zk.exists(&qp, false).await?.is_none() {
            create_if_absent(zk, &qp, None).await?;
        }
    }
    let stat_path = format!("{qp}/{STAT_NODE}");
    let limit_path = format!("{qp}/{LIMIT_NODE}");
    if zk.exists(&limit_path, false).await?.is_none() {
        zk.create(
            &limit_path,
            quota.render().as_bytes(),
            &Acl::open_unsafe(),
            0,
            0,
        )
        .await?;
        let mut stats = StatsTrack::default();
        stats.set("count", 0);
        stats.set("bytes", 0);
        zk.create(
            &stat_path,
            stats.render().as_bytes(),
            &Acl::open_unsafe(),
            0,
            0,
        )
        .await?;
        let (l, _) = zk.get_data(&limit_path, false).await?;
        let (s, _) = zk.get_data(&stat_path, false).await?;
        check_quota(&parse_bytes(&l), &parse_bytes(&s));
    } else {
        let (l, _) = zk.get_data(&limit_path, false).await?;
        let mut q = parse_bytes(&l);
        for k in ["count", "bytes", "countHardLimit", "byteHardLimit"] {
            if quota.get(k) > -1 {
                q.set(k, quota.get(k));
            }
        }
        let (s, _) = zk.get_data(&stat_path, false).await?;
        check_quota(&q, &parse_bytes(&s));
        zk.set_data(&limit_path, q.render().as_bytes(), -1).await?;
    }
    Ok(())
}

fn parse_bytes(b: &Bytes) -> StatsTrack {
    StatsTrack::parse(&String::from_utf8_lossy(b))
}

fn check_quota(q: &StatsTrack, s: &StatsTrack) {
    let c = s.get("count");
    if (q.get("count") > -1 && q.get("count") < c)
        || (q.get("countHardLimit") > -1 && q.get("countHardLimit") < c)
    {
        println!("[Warning]: the count quota you create is less than the existing count:{c}");
    }
    let b = s.get("bytes");
    if (q.get("bytes") > -1 && q.get("bytes") < b)
        || (q.get("byteHardLimit") > -1 && q.get("byteHardLimit") < b)
    {
        println!("[Warning]: the bytes quota you create is less than the existing bytes:{b}");
    }
}

/// `DelQuotaCommand.delQuota`: drop the whole quota, or only the named limits.
async fn del_quota(zk: &Client, path: &str, keys: &[&str]) -> Result<(), ClientError> {
    let parent = format!("{QUOTA_ROOT}{path}");
    let limit = format!("{parent}/{LIMIT_NODE}");
    if zk.exists(&limit, false).await?.is_none() {
        println!("Quota does not exist for {path}");
        return Ok(());
    }
    let (data, _) = zk.get_data(&limit, false).await?;
    let mut st = parse_bytes(&data);
    if keys.is_empty() {
        for c in zk.get_children(&parent, false).await? {
            zk.delete(&format!("{parent}/{c}"), -1).await?;
        }
        // Trim the now empty quota nodes up to /zookeeper/quota.
        let mut p = parent;
        while p != QUOTA_ROOT {
            if !zk.get_children(&p, false).await?.is_empty() {
                break;
            }
            zk.delete(&p, -1).await?;
            p = p[..p.rfind('/').unwrap_or(0)].to_owned();
        }
    } else {
        for k in keys {
            st.set(k, -1);
        }
        zk.set_data(&limit, st.render().as_bytes(), -1).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_as_java_does() {
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(java_date(1_764_056_164_000), "Tue Nov 25 07:36:04 UTC 2025");
    }

    #[test]
    fn acl_lines() {
        assert_eq!(csv("world"), "'world");
        assert_eq!(perm_string(perms::ALL), "cdrwa");
        assert_eq!(perm_string(perms::READ | perms::WRITE), "rw");
        let a = parse_acl("world:anyone:rw,digest:u:x=:cdrwa");
        assert_eq!(a[1].id, Id::new("digest", "u:x="));
        assert_eq!(a[1].perms, perms::ALL);
    }

    #[test]
    fn stats_track_renders_as_java() {
        let mut q = StatsTrack::default();
        for k in ["count", "bytes", "countHardLimit", "byteHardLimit"] {
            q.set(k, -1);
        }
        q.set("count", 5);
        assert_eq!(
            q.render(),
            "count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=-1"
        );
        let r = StatsTrack::parse("count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=-1");
        assert_eq!(r.get("count"), 5);
        assert_eq!(r.get("countHardLimit"), -1);
    }

    #[test]
    fn java_integer_decode() {
        assert_eq!(parse_java_int("12"), Some(12));
        assert_eq!(parse_java_int("0x10"), Some(16));
        assert_eq!(parse_java_int("x"), None);
    }
}
