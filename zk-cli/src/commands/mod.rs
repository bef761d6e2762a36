//! The command table: every zkCli command with its usage line, the options
//! it takes, how many words it needs and the handler that runs it, in the
//! order zkCli 3.8 lists them. Usage errors, `Command not found` and
//! completion all read this one table.
//!
//! Reading lines, the history, the connection check and printing a failed
//! command's message are `shell`'s; what each command does is its handler's.

mod acl;
mod config;
mod nodes;
mod quota;
mod repl;
mod session;
mod watches;

use std::future::Future;
use std::io::StdoutLock;

use tokio::runtime::Runtime;

use crate::client_api::Client;
use crate::errors::{CliError, CmdResult};
use crate::opts::{arg, flag, parse, Parsed, Spec};
use crate::shell::Shell;

use Arity::{Any, AtLeast, AtMost, Exactly};
use Options::{Parse, Raw};

/// One command as the table lists it.
pub struct Command {
    pub name: &'static str,
    /// What follows the name in zkCli's usage line, exactly as zkCli prints it.
    pub usage: &'static str,
    pub run: Run,
}

/// How a command runs.
pub enum Run {
    /// On the shell itself, with or without a session: zkCli's
    /// `processZKCmd` handles these before it looks at the connection. The
    /// handler gets the words as typed.
    Shell(fn(&mut Shell, &[String]) -> Result<Then, CliError>),
    /// With a session. Without one the shell prints `Not connected`; with
    /// one it parses the words as `options` says, checks them against
    /// `arity` (zkCli's usage message when they do not fit) and calls
    /// `handler`.
    Session {
        options: Options,
        arity: Arity,
        handler: fn(&mut Ctx<'_>, Parsed) -> CmdResult,
    },
}

/// What the shell does after a [`Run::Shell`] handler.
pub enum Then {
    /// Nothing more.
    Done,
    /// What zkCli does after the other commands it handles first: say
    /// `Not connected` when there is no session.
    CheckConnection,
}

/// How a command's words are read.
pub enum Options {
    /// As Apache Commons CLI parses them against these options.
    Parse(&'static [Spec]),
    /// As typed: any word is an argument, even one starting with `-`.
    Raw,
}

/// How many words a command takes, its own name included.
#[derive(Clone, Copy)]
pub enum Arity {
    Any,
    AtLeast(usize),
    AtMost(usize),
    Exactly(usize),
}

impl Arity {
    fn fits(self, n: usize) -> bool {
        match self {
            Any => true,
            AtLeast(m) => n >= m,
            AtMost(m) => n <= m,
            Exactly(m) => n == m,
        }
    }
}

const fn on_shell(
    name: &'static str,
    usage: &'static str,
    run: fn(&mut Shell, &[String]) -> Result<Then, CliError>,
) -> Command {
    Command {
        name,
        usage,
        run: Run::Shell(run),
    }
}

const fn with_session(
    name: &'static str,
    usage: &'static str,
    options: Options,
    arity: Arity,
    handler: fn(&mut Ctx<'_>, Parsed) -> CmdResult,
) -> Command {
    Command {
        name,
        usage,
        run: Run::Session {
            options,
            arity,
            handler,
        },
    }
}

/// The commands, in the order and with the usage lines of zkCli 3.8.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    with_session("addWatch", "[-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE",
        Parse(&[arg("m")]), Exactly(2), watches::add_watch),
    with_session("addauth", "scheme auth", Parse(&[]), AtLeast(2), session::addauth),
    with_session("close", "", Raw, Any, session::close),
    with_session("config", "[-c] [-w] [-s]", Parse(&[flag("s"), flag("w"), flag("c")]), Any, config::config),
    on_shell("connect", "host:port", session::connect),
    with_session("create", "[-s] [-e] [-c] [-t ttl] path [data] [acl]",
        Parse(&[flag("e"), flag("s"), flag("c"), arg("t")]), AtLeast(2), nodes::create),
    with_session("delete", "[-v version] path", Parse(&[arg("v")]), AtLeast(2), nodes::delete),
    with_session("deleteall", "path [-b batch size]", Parse(&[arg("b")]), AtLeast(2), nodes::deleteall),
    with_session("delquota", "[-n|-b|-N|-B] path",
        Parse(&[flag("n"), flag("b"), flag("N"), flag("B")]), AtLeast(2), quota::delquota),
    with_session("get", "[-s] [-w] path", Parse(&[flag("s"), flag("w")]), AtLeast(2), nodes::get),
    with_session("getAcl", "[-s] path", Parse(&[flag("s")]), AtLeast(2), acl::get_acl),
    with_session("getAllChildrenNumber", "path", Parse(&[]), AtLeast(2), nodes::get_all_children_number),
    with_session("getEphemerals", "path", Parse(&[]), Any, nodes::get_ephemerals),
    on_shell("history", "", repl::history),
    with_session("listquota", "path", Parse(&[]), AtLeast(2), quota::listquota),
    with_session("ls", "[-s] [-w] [-R] path",
        // -p / -e (persistent / ephemeral children only) are ours, not zkCli's: kept out
        // of the usage line, which stays zkCli's word for word.
        Parse(&[flag("?"), flag("s"), flag("w"), flag("R"), flag("p"), flag("e")]), AtLeast(2), nodes::ls),
    on_shell("printwatches", "on|off", repl::printwatches),
    on_shell("quit", "", session::quit),
    with_session("reconfig", "[-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | [-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]",
        Parse(&[flag("s"), arg("v"), arg("file"), arg("members"), arg("add"), arg("remove")]), Any, config::reconfig),
    on_shell("redo", "cmdno", repl::redo),
    with_session("removewatches", "path [-c|-d|-a] [-l]",
        Parse(&[flag("c"), flag("d"), flag("a"), flag("l")]), AtLeast(2), watches::removewatches),
    with_session("set", "[-s] [-v version] path data", Parse(&[flag("s"), arg("v")]), AtLeast(3), nodes::set),
    with_session("setAcl", "[-s] [-v version] [-R] path acl",
        Parse(&[flag("s"), arg("v"), flag("R")]), AtLeast(3), acl::set_acl),
    // setquota checks its options before its arguments, so it counts them itself.
    with_session("setquota", "-n|-b|-N|-B val path",
        Parse(&[arg("n"), arg("b"), arg("N"), arg("B")]), Any, quota::setquota),
    with_session("stat", "[-w] path", Parse(&[flag("w")]), AtLeast(2), nodes::stat),
    with_session("sync", "path", Parse(&[]), AtLeast(2), nodes::sync),
    with_session("version", "", Parse(&[]), AtMost(1), repl::version),
    with_session("whoami", "", Raw, Any, session::whoami),
];

/// The command called `name` (case matters, as in zkCli).
pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// zkCli's usage message for one command: its name and usage line.
pub fn usage_of(name: &str) -> String {
    let opt = find(name).map(|c| c.usage).unwrap_or("");
    format!("{name} {opt}")
}

/// The words of a [`Run::Session`] command as its handler reads them, or
/// the message zkCli prints when they do not parse or do not fit.
pub fn read_words(
    name: &str,
    options: &Options,
    arity: Arity,
    words: &[String],
) -> Result<Parsed, CliError> {
    let p = match options {
        Parse(specs) => opts(words, specs)?,
        Raw => Parsed {
            args: words.to_vec(),
            ..Parsed::default()
        },
    };
    if !arity.fits(p.args.len()) {
        return Err(CliError::new(usage_of(name)));
    }
    Ok(p)
}

/// Commons CLI's parse of `words`; its failure is zkCli's message.
fn opts(words: &[String], specs: &[Spec]) -> Result<Parsed, CliError> {
    parse(words, specs).map_err(CliError::new)
}

/// The `-v version` option: the version an update expects, -1 for any.
pub fn version_opt(p: &Parsed) -> Result<i32, CliError> {
    match p.value("v") {
        Some(v) => v
            .parse()
            .map_err(|_| CliError::new(format!("For input string: \"{v}\""))),
        None => Ok(-1),
    }
}

/// What a [`Run::Session`] handler works with: the session's client, the
/// runtime to wait on it with, and stdout, held from before the words are
/// parsed until the command is done, so that a watch event printed live
/// comes after the command's output rather than inside it.
pub struct Ctx<'a> {
    rt: &'a Runtime,
    pub zk: Client,
    out: Option<StdoutLock<'static>>,
}

impl<'a> Ctx<'a> {
    /// Takes stdout until the command is done or lets go of it.
    pub fn new(rt: &'a Runtime, zk: Client) -> Ctx<'a> {
        Ctx {
            rt,
            zk,
            out: Some(std::io::stdout().lock()),
        }
    }

    /// Wait for one call of the client.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Stdout, held.
    pub fn out(&mut self) -> &mut StdoutLock<'static> {
        self.out.as_mut().expect("stdout is held until released")
    }

    /// Let go of stdout, so that live watch events print as they arrive
    /// while the command goes on; the command prints with `println!` after.
    pub fn release_stdout(&mut self) {
        self.out = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opts::split_words;

    #[test]
    fn the_table_lists_zkclis_commands_in_its_order() {
        let names: Vec<_> = COMMANDS.iter().map(|c| c.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
        assert_eq!(names.len(), 28);
        assert_eq!(usage_of("ls"), "ls [-s] [-w] [-R] path");
        assert_eq!(usage_of("close"), "close ");
        assert!(find("LS").is_none());
    }

    /// The arguments of a session command's line, read as its table entry says.
    fn read(line: &str) -> Result<Vec<String>, String> {
        let words = split_words(line);
        let Run::Session { options, arity, .. } = &find(&words[0]).expect("a command").run else {
            panic!("{} is a shell command", words[0]);
        };
        read_words(&words[0], options, *arity, &words)
            .map(|p| p.args)
            .map_err(|e| e.message)
    }

    #[test]
    fn words_are_parsed_then_counted() {
        assert_eq!(read("version x").unwrap_err(), "version ");
        assert_eq!(read("whoami -x").unwrap(), ["whoami", "-x"]);
        assert_eq!(
            read("ls -q /").unwrap_err(),
            "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -q"
        );
        assert_eq!(read("ls -s").unwrap_err(), "ls [-s] [-w] [-R] path");
        assert_eq!(read("set -s /a x -v 1").unwrap(), ["set", "/a", "x"]);
        assert!(read("addWatch / /x").is_err());
        assert!(read("setquota").is_ok(), "setquota counts its own words");
    }
}
