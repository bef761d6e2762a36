//! The shell: its state (the session, the history, the last exit code),
//! its prompt, running one line as zkCli's `executeLine` and `processZKCmd`
//! do (find the command in the table, check for a session, print a failed
//! command's message and keep its exit code), opening a session, and where
//! the session's watch events are printed.
//!
//! Output goes where zkCli sends it: results to stdout, errors and `Created`
//! lines to stderr. What each command does is in `commands`; how output and
//! failures read is in `format` and `errors`.
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::mpsc;

use crate::client_api::{Client, ConnectOptions, State, WatchedEvent};
use crate::commands::{self, Ctx, Run, Then, COMMANDS};
use crate::errors::{check_path, wrap, CliError, CmdResult};
use crate::format::event_text;
use crate::opts::split_words;

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
