//! The commands that set and remove watches on the server: `addWatch`
//! (persistent, recursive by default) and `removewatches`.
//!
//! One-shot watches are set by `get -w`, `ls -w` and `stat -w` in `nodes`;
//! printing the events, and `printwatches`, are the shell's.

use super::{usage_of, Ctx};
use crate::client_api::{add_watch_mode, watcher_type};
use crate::errors::{check_path, wrap, CliError, CmdResult};
use crate::opts::Parsed;

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
