//! The commands on the session itself: `connect`, `close`, `quit`,
//! `addauth` and `whoami`.
//!
//! Opening a session and wiring its events to the screen is
//! `Shell::connect`'s; `connect` only picks the hosts.

use std::io::Write;

use super::{Ctx, Then};
use crate::errors::{wrap, CliError, CmdResult};
use crate::opts::Parsed;
use crate::shell::Shell;

/// `connect [host:port]`: a new session, to the same hosts when none given.
pub fn connect(sh: &mut Shell, words: &[String]) -> Result<Then, CliError> {
    let h = words.get(1).cloned().unwrap_or_else(|| sh.host.clone());
    sh.connect(&h)?;
    Ok(Then::CheckConnection)
}

/// `close`: end the session; the shell stays.
pub fn close(cx: &mut Ctx<'_>, _p: Parsed) -> CmdResult {
    // The session's Closed event arrives before close() returns; stdout is
    // let go so a live printer can print it meanwhile.
    cx.release_stdout();
    let _ = cx.block_on(cx.zk.close());
    Ok(())
}

/// `quit`: close the session and end the shell.
pub fn quit(sh: &mut Shell, _words: &[String]) -> Result<Then, CliError> {
    if let Some(c) = sh.client.lock().expect("client lock").take() {
        let _ = sh.rt.block_on(c.close());
    }
    sh.quit = true;
    Ok(Then::Done)
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
