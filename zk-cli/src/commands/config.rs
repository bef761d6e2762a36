//! The ensemble configuration commands: `config` (read
//! `/zookeeper/config`, or with `-c` only the client addresses, as
//! `ConfigUtils.getClientConfigStr`) and `reconfig` (incremental or whole).
//!
//! Whether a reconfiguration is allowed and what it does is the server's.

use std::io::Write;

use super::{usage_of, Ctx};
use crate::errors::{wrap, CliError, CmdResult};
use crate::format::print_stat;
use crate::opts::Parsed;

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
