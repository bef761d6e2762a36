//! The shell: zkCli's commands, their output and error messages, its command
//! history (`history`, `redo`), and where watch events are printed.
//!
//! Output goes where zkCli sends it: results to stdout, errors and `Created`
//! lines to stderr. Each command either succeeds or fails with the message
//! zkCli prints and its exit code.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::mpsc;

use crate::client::{add_watch_mode, watcher_type, Client, ConnectOptions, State, WatchedEvent};
use crate::commands::{self, usage_of, Ctx, Run, Then, COMMANDS};
use crate::errors::{check_path, wrap, CliError, CmdResult};
use crate::format::{event_text, print_stat};
use crate::opts::{split_words, Parsed};

/// What zkCli prints for `version` after its own version string.
pub const VERSION: &str = concat!("zk-cli ", env!("CARGO_PKG_VERSION"));

/// Prints one event's text without disturbing the line being edited.
pub type Printer = Arc<Mutex<Box<dyn FnMut(String) + Send>>>;

/// Where watch events go: printed in order between commands (scripts), or
/// as they arrive through a printer that keeps the edited line intact.
pub enum EventSink {
    Script(Vec<mpsc::Receiver<WatchedEvent>>),
    Live(Printer),
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

    /// zkCli's usage, printed for a command it does not know.
    fn usage() {
        let mut s = String::from(
            "ZooKeeper -server host:port -client-configuration properties-file cmd args\n",
        );
        for c in COMMANDS {
            s.push_str(&format!("\t{} {}\n", c.name, c.usage));
        }
        eprint!("{s}");
    }

    /// zkCli's `processZKCmd`: the commands of the shell itself first, then,
    /// with a session, the others (`Not connected` without one).
    fn process_cmd(&mut self, words: Vec<String>) -> CmdResult {
        let Some(cmd) = commands::find(&words[0]) else {
            Self::usage();
            return Err(CliError {
                message: format!("Command not found: Command not found {}", words[0]),
                exit_code: 127,
            });
        };
        if let Run::Shell(run) = cmd.run {
            if let Then::Done = run(self, &words)? {
                return Ok(());
            }
        }
        let Some(zk) = self.zk().filter(|c| c.state() != State::Closed) else {
            println!("Not connected");
            return Ok(());
        };
        let Run::Session {
            options,
            arity,
            handler,
        } = &cmd.run
        else {
            // A shell command that only wanted the connection checked.
            return Ok(());
        };
        let mut cx = Ctx::new(&self.rt, zk);
        let p = commands::read_words(cmd.name, options, *arity, &words)?;
        handler(&mut cx, p)
    }
}

// ---- the commands, one handler each (moving to commands/ next) ----

/// `quit`: close the session and end the shell.
pub fn quit(sh: &mut Shell, _words: &[String]) -> Result<Then, CliError> {
    if let Some(c) = sh.client.lock().expect("client lock").take() {
        let _ = sh.rt.block_on(c.close());
    }
    sh.quit = true;
    Ok(Then::Done)
}

/// `redo cmdno`: run a line of the history again, in its place.
pub fn redo(sh: &mut Shell, words: &[String]) -> Result<Then, CliError> {
    if words.len() < 2 {
        return Ok(Then::CheckConnection);
    }
    let i = parse_java_int(&words[1])
        .ok_or_else(|| CliError::new(format!("For input string: \"{}\"", words[1])))?;
    if sh.command_count <= i || i < 0 {
        return Err(CliError::new("Command index out of range"));
    }
    let line = sh.history.get(&i).cloned().unwrap_or_default();
    let w = split_words(&line);
    if w.first().map(String::as_str) == Some("redo") {
        return Err(CliError::new("No redoing redos"));
    }
    sh.history.insert(sh.command_count, line);
    sh.process(w);
    Ok(Then::Done)
}

/// `history`: the last ten lines and this one.
pub fn history(sh: &mut Shell, _words: &[String]) -> Result<Then, CliError> {
    let mut out = std::io::stdout().lock();
    for i in (sh.command_count - 10).max(0)..=sh.command_count {
        let _ = writeln!(
            out,
            "{i} - {}",
            sh.history.get(&i).map(String::as_str).unwrap_or("null")
        );
    }
    Ok(Then::CheckConnection)
}

/// `printwatches [on|off]`: say or set whether watch events are printed.
pub fn printwatches(sh: &mut Shell, words: &[String]) -> Result<Then, CliError> {
    if words.len() == 1 {
        println!(
            "printwatches is {}",
            if sh.print_watches.load(Ordering::Relaxed) {
                "on"
            } else {
                "off"
            }
        );
    } else {
        sh.print_watches.store(words[1] == "on", Ordering::Relaxed);
    }
    Ok(Then::CheckConnection)
}

/// `connect [host:port]`: a new session, to the same hosts when none given.
pub fn connect(sh: &mut Shell, words: &[String]) -> Result<Then, CliError> {
    let h = words.get(1).cloned().unwrap_or_else(|| sh.host.clone());
    sh.connect(&h)?;
    Ok(Then::CheckConnection)
}

/// `addauth scheme auth`.
pub fn addauth(cx: &mut Ctx<'_>, p: Parsed) -> CmdResult {
    let auth = p
        .args
        .get(2)
        .map(|s| s.as_bytes().to_vec())
        .unwrap_or_default();
    cx.block_on(cx.zk.add_auth(&p.args[1], &auth))
        .map_err(|e| wrap(e, ""))?;
    Ok(())
}

/// `addWatch [-m mode] path`: a persistent watch, recursive unless asked.
pub fn add_watch(cx: &mut Ctx<'_>, p: Parsed) -> CmdResult {
    let mode = match p.value("m").map(str::to_uppercase).as_deref() {
        None | Some("PERSISTENT_RECURSIVE") => add_watch_mode::PERSISTENT_RECURSIVE,
        Some("PERSISTENT") => add_watch_mode::PERSISTENT,
        Some(_) => return Err(CliError::new(usage_of("addWatch"))),
    };
    let path = p.args[1].clone();
    check_path(&path)?;
    cx.block_on(cx.zk.add_watch(&path, mode))
        .map_err(|e| wrap(e, &path))?;
    Ok(())
}

/// `removewatches path [-c|-d|-a] [-l]`.
pub fn removewatches(cx: &mut Ctx<'_>, p: Parsed) -> CmdResult {
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
    cx.block_on(cx.zk.remove_all_watches(&path, wt, p.has("l")))
        .map_err(|e| wrap(e, &path))?;
    Ok(())
}

/// `whoami`: the session's authenticated identities.
pub fn whoami(cx: &mut Ctx<'_>, _p: Parsed) -> CmdResult {
    // Java's whoAmI ignores the reply's error: without a server
    // zkCli prints the header alone and succeeds.
    let infos = cx.block_on(cx.zk.whoami()).unwrap_or_default();
    let out = cx.out();
    let _ = writeln!(out, "Auth scheme: User");
    for i in infos {
        let _ = writeln!(out, "{}: {}", i.auth_scheme, i.user);
    }
    Ok(())
}

/// `config [-c] [-w] [-s]`: the ensemble's configuration, or with `-c`
/// only its version and client addresses.
pub fn config(cx: &mut Ctx<'_>, p: Parsed) -> CmdResult {
    let (data, st) = cx
        .block_on(cx.zk.get_config(p.has("w")))
        .map_err(|e| wrap(e, "/zookeeper/config"))?;
    let text = String::from_utf8_lossy(&data).into_owned();
    let out = cx.out();
    if p.has("c") {
        let _ = writeln!(out, "{}", client_config_str(&text));
    } else {
        let _ = writeln!(out, "{text}");
    }
    if p.has("s") {
        print_stat(out, &st);
    }
    Ok(())
}

/// `reconfig`: incremental (`-add`, `-remove`) or whole (`-members`,
/// `-file`), printing the configuration committed.
pub fn reconfig(cx: &mut Ctx<'_>, p: Parsed) -> CmdResult {
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
        Some(v) => i64::from_str_radix(v, 16)
            .map_err(|_| CliError::new("-v must be followed by a long (configuration version)"))?,
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
                l.starts_with("server.") || l.starts_with("group") || l.starts_with("weight")
            })
            .collect();
        new_members = Some(lines.join("\n"));
    }
    let (cfg, st) = cx
        .block_on(cx.zk.reconfig(
            lower("add").as_deref(),
            lower("remove").as_deref(),
            new_members.as_deref(),
            version,
        ))
        .map_err(|e| wrap(e, ""))?;
    let out = cx.out();
    let _ = writeln!(
        out,
        "Committed new configuration:\n{}",
        String::from_utf8_lossy(&cfg)
    );
    if p.has("s") {
        print_stat(out, &st);
    }
    Ok(())
}

/// `close`: end the session; the shell stays.
pub fn close(cx: &mut Ctx<'_>, _p: Parsed) -> CmdResult {
    // The session's Closed event arrives before close() returns; stdout is
    // let go so a live printer can print it meanwhile.
    cx.release_stdout();
    let _ = cx.block_on(cx.zk.close());
    Ok(())
}

/// `version`: zk-cli's version where zkCli prints its own.
pub fn version(cx: &mut Ctx<'_>, _p: Parsed) -> CmdResult {
    let _ = writeln!(cx.out(), "ZooKeeper CLI version: {VERSION}");
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_integer_decode() {
        assert_eq!(parse_java_int("12"), Some(12));
        assert_eq!(parse_java_int("0x10"), Some(16));
        assert_eq!(parse_java_int("x"), None);
    }
}
