//! zk-cli: a shell compatible with Apache ZooKeeper's `zkCli.sh`.
//!
//! ```text
//! zk-cli [-server host:port[,host:port...][/chroot]] [-timeout ms] [-r] [cmd args...]
//! ```
//! With a command, runs it and exits with its status. Without one, reads
//! commands: interactively with line editing, history and completion when
//! stdin is a terminal, otherwise line by line as a script.
//!
//! Running lines, the history and watch events live in [`shell`]; the
//! command table and the commands, one module per group, in [`commands`];
//! how output and failures read in [`format`](mod@format) and [`errors`]; option
//! parsing in [`opts`]; completion in [`complete`]. The client library
//! ([`zk_cli::client`], this crate's library) is named in one place, [`client_api`].

mod client_api;
mod commands;
mod complete;
mod errors;
mod format;
mod opts;
mod shell;

use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustyline::error::ReadlineError;
use rustyline::{Config, Editor};

use crate::complete::ZkHelper;
use crate::shell::{EventSink, Shell};

struct Args {
    server: String,
    timeout_ms: u64,
    read_only: bool,
    command: Vec<String>,
}

/// zkCli's `MyCommandOptions.parseOptions`: flags, then an optional command.
fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        server: "localhost:2181".to_owned(),
        timeout_ms: 30000,
        read_only: false,
        command: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(opt) = it.next() {
        let mut value = |o: &str| {
            it.next()
                .ok_or(format!("Error: no argument found for option {o}"))
        };
        match opt.as_str() {
            "-server" => a.server = value(&opt)?,
            "-timeout" => {
                a.timeout_ms = value(&opt)?
                    .parse()
                    .map_err(|_| "Error: -timeout needs a number of milliseconds".to_owned())?
            }
            "-r" => a.read_only = true,
            "-client-configuration" => {
                value(&opt)?;
            }
            "-waitforconnection" => {}
            "-h" | "--help" | "-help" => {
                return Err(String::new());
            }
            _ if !opt.starts_with('-') => {
                a.command.push(opt);
                a.command.extend(it.by_ref());
                break;
            }
            _ => {}
        }
    }
    Ok(a)
}

fn history_file() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("ZKCLI_HISTORY") {
        return Some(p.into());
    }
    std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".zkcli_history"))
}

/// The first connection; only a malformed connect string stops the shell
/// (zkCli dies of it too).
fn connect_or_exit(sh: &mut Shell, server: &str) {
    if let Err(e) = sh.connect(server) {
        eprintln!("{}", e.message);
        std::process::exit(e.exit_code);
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(m) => {
            if !m.is_empty() {
                eprintln!("{m}");
            }
            eprintln!(
                "usage: zk-cli [-server host:port[,host:port...][/chroot]] [-timeout ms] [-r] [cmd args...]"
            );
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let interactive = args.command.is_empty() && std::io::stdin().is_terminal();
    let timeout = Duration::from_millis(args.timeout_ms);

    println!("Connecting to {}", args.server);
    if !interactive {
        let mut sh = Shell::new(
            rt,
            args.server.clone(),
            timeout,
            args.read_only,
            EventSink::Script(Vec::new()),
        );
        connect_or_exit(&mut sh, &args.server);
        if !args.command.is_empty() {
            sh.drain_events();
            sh.process(args.command);
            sh.drain_events();
            std::process::exit(sh.exit_code);
        }
        println!("Welcome to ZooKeeper!");
        println!("JLine support is disabled");
        sh.drain_events();
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            sh.execute_line(&line);
            sh.drain_events();
            if sh.quit {
                break;
            }
        }
        if !sh.quit {
            // End of input: zkCli exits without closing; we close politely but
            // print nothing, so ephemeral nodes go at once instead of at expiry.
            let c = sh.client.lock().expect("client lock").take();
            if let Some(c) = c {
                let _ = sh.rt.block_on(c.close());
            }
        }
        std::process::exit(sh.exit_code);
    }

    println!("Welcome to ZooKeeper!");
    println!("JLine support is enabled");
    let config = Config::builder()
        .auto_add_history(false)
        .max_history_size(1000)
        .expect("history size")
        .completion_type(rustyline::CompletionType::List)
        .build();
    let mut editor: Editor<ZkHelper, rustyline::history::DefaultHistory> =
        Editor::with_config(config).expect("line editor");
    // Events are printed as they arrive, straight to stdout, as zkCli does
    // (rustyline's ExternalPrinter would redraw the line, but it delays
    // typed-ahead input until the next key press).
    let print: Box<dyn FnMut(String) + Send> = Box::new(|s: String| {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(s.as_bytes());
        let _ = out.flush();
    });
    let mut sh = Shell::new(
        rt,
        args.server.clone(),
        timeout,
        args.read_only,
        EventSink::Live(Arc::new(Mutex::new(print))),
    );
    editor.set_helper(Some(ZkHelper {
        client: sh.client.clone(),
        handle: sh.rt.handle().clone(),
    }));
    let hist = history_file();
    if let Some(h) = &hist {
        let _ = editor.load_history(h);
    }
    connect_or_exit(&mut sh, &args.server);
    loop {
        match editor.readline(&sh.prompt()) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                    if let Some(h) = &hist {
                        let _ = editor.save_history(h);
                    }
                }
                sh.execute_line(&line);
                if sh.quit {
                    break;
                }
            }
            // Ctrl-C clears the line being edited.
            Err(ReadlineError::Interrupted) => continue,
            // Ctrl-D quits.
            Err(ReadlineError::Eof) => {
                let c = sh.client.lock().expect("client lock").take();
                if let Some(c) = c {
                    let _ = sh.rt.block_on(c.close());
                }
                break;
            }
            Err(e) => {
                eprintln!("{e}");
                break;
            }
        }
    }
    std::process::exit(sh.exit_code);
}
