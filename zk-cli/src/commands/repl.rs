//! The commands about the shell rather than ZooKeeper: `history`, `redo`,
//! `printwatches` and `version`.
//!
//! Keeping the history and printing watch events are the shell's; these
//! commands show and change them.

use std::io::Write;
use std::sync::atomic::Ordering;

use super::{Ctx, Then};
use crate::errors::{CliError, CmdResult};
use crate::opts::{split_words, Parsed};
use crate::shell::Shell;

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

/// What zkCli prints for `version` after its own version string.
pub const VERSION: &str = concat!("zk-cli ", env!("CARGO_PKG_VERSION"));

/// `version`: zk-cli's version where zkCli prints its own.
pub fn version(cx: &mut Ctx<'_>, _p: Parsed) -> CmdResult {
    let _ = writeln!(cx.out(), "ZooKeeper CLI version: {VERSION}");
    Ok(())
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
