//! The commands on znodes and their data: `create`, `get`, `set`, `stat`,
//! `ls`, `delete`, `deleteall`, `sync`, `getEphemerals` and
//! `getAllChildrenNumber`, with the subtree walk (`ZKUtil.listSubTreeBFS`)
//! that `ls -R`, `deleteall`, `setAcl -R` and the quota commands share.
//!
//! ACLs, watches and quotas have their own modules; printing a Stat is
//! `format`'s.

use std::collections::VecDeque;
use std::io::Write;

use zab_core::records::Acl;

use super::acl::parse_acl;
use super::{version_opt, Ctx};
use crate::client_api::{
    create_mode, keeper_feature, keeper_list_type, Client, ClientError, DeleteRequest, ErrorCode,
    MultiOp,
};
use crate::errors::{check_path, keeper_message, wrap, CliError, CmdResult};
use crate::format::print_stat;
use crate::opts::Parsed;

/// `create [-s] [-e] [-c] [-t ttl] path [data] [acl]`: `Created` and the
/// path on stderr, as zkCli.
pub fn create(cx: &mut Ctx<'_>, p: Parsed) -> CmdResult {
    let (flags, ttl) = create_mode_of(&p)?;
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
    match cx.block_on(
        cx.zk
            .create_nullable(&path, data.as_deref(), &acl, flags, ttl),
    ) {
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
    Ok(())
}

/// The create mode and TTL `create`'s flags ask for, or zkCli's message for
/// flags that do not go together.
fn create_mode_of(p: &Parsed) -> Result<(i32, i64), CliError> {
    let (e, s, c, t) = (p.has("e"), p.has("s"), p.has("c"), p.has("t"));
    if c && (e || s) {
        return Err(CliError::new(
            "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.",
        ));
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
    Ok((flags, ttl))
}

/// `get [-s] [-w] path`: the data (`null` for none), then the Stat with `-s`.
pub fn get(cx: &mut Ctx<'_>, mut p: Parsed) -> CmdResult {
    if p.args.len() > 2 {
        eprintln!(
            "'get path [watch]' has been deprecated. Please use 'get [-s] [-w] path' instead."
        );
        p.opts.insert("w", None);
    }
    let path = p.args[1].clone();
    check_path(&path)?;
    let (data, st) = cx
        .block_on(cx.zk.get_data_nullable(&path, p.has("w")))
        .map_err(|e| wrap(e, &path))?;
    let text = match &data {
        Some(d) => String::from_utf8_lossy(d).into_owned(),
        None => "null".to_owned(),
    };
    let out = cx.out();
    let _ = writeln!(out, "{text}");
    if p.has("s") {
        print_stat(out, &st);
    }
    Ok(())
}

/// `set [-s] [-v version] path data`.
pub fn set(cx: &mut Ctx<'_>, p: Parsed) -> CmdResult {
    let path = p.args[1].clone();
    check_path(&path)?;
    let version = version_opt(&p)?;
    let st = cx
        .block_on(cx.zk.set_data(&path, p.args[2].as_bytes(), version))
        .map_err(|e| wrap(e, &path))?;
    if p.has("s") {
        print_stat(cx.out(), &st);
    }
    Ok(())
}

/// `stat [-w] path`.
pub fn stat(cx: &mut Ctx<'_>, mut p: Parsed) -> CmdResult {
    if p.args.len() > 2 {
        eprintln!("'stat path [watch]' has been deprecated. Please use 'stat [-w] path' instead.");
        p.opts.insert("w", None);
    }
    let path = p.args[1].clone();
    check_path(&path)?;
    match cx
        .block_on(cx.zk.exists(&path, p.has("w")))
        .map_err(|e| wrap(e, &path))?
    {
        Some(st) => print_stat(cx.out(), &st),
        None => return Err(CliError::new(format!("Node does not exist: {path}"))),
    }
    Ok(())
}

/// `ls [-s] [-w] [-R] path`: the children, sorted; with `-R` the subtree.
/// Ours besides zkCli's: `ls -p path` lists only the persistent children,
/// `ls -e path` only the ephemeral ones (with `-s`, the Stat too): one
/// ClickHouse Keeper filteredList (500) when the server offers it, otherwise
/// a getChildren and an exists per child.
pub fn ls(cx: &mut Ctx<'_>, mut p: Parsed) -> CmdResult {
    if p.args.len() > 2 {
        eprintln!("'ls path [watch]' has been deprecated. Please use 'ls [-w] path' instead.");
        p.opts.insert("w", None);
    }
    let path = p.args[1].clone();
    check_path(&path)?;
    let watch = p.has("w");
    if p.has("p") || p.has("e") {
        if p.has("p") && p.has("e") {
            return Err(CliError::new("ls: -p and -e exclude each other"));
        }
        let ephemeral = p.has("e");
        let (mut ch, st) = cx
            .block_on(filtered_children(&cx.zk, &path, ephemeral, watch))
            .map_err(|e| wrap(e, &path))?;
        ch.sort();
        let out = cx.out();
        let _ = writeln!(out, "[{}]", ch.join(", "));
        if p.has("s") {
            print_stat(out, &st);
        }
    } else if p.has("R") {
        let tree = cx
            .block_on(subtree_bfs(&cx.zk, &path, watch))
            .map_err(|e| wrap(e, &path))?;
        for n in tree {
            let _ = writeln!(cx.out(), "{n}");
        }
    } else if p.has("s") {
        let (mut ch, st) = cx
            .block_on(cx.zk.get_children2(&path, watch))
            .map_err(|e| wrap(e, &path))?;
        ch.sort();
        let out = cx.out();
        let _ = writeln!(out, "[{}]", ch.join(", "));
        print_stat(out, &st);
    } else {
        let mut ch = cx
            .block_on(cx.zk.get_children(&path, watch))
            .map_err(|e| wrap(e, &path))?;
        ch.sort();
        let _ = writeln!(cx.out(), "[{}]", ch.join(", "));
    }
    Ok(())
}

/// `delete [-v version] path`.
pub fn delete(cx: &mut Ctx<'_>, p: Parsed) -> CmdResult {
    if p.args.len() > 2 {
        eprintln!("'delete path [version]' has been deprecated. Please use 'delete [-v version] path' instead.");
    }
    let path = p.args[1].clone();
    check_path(&path)?;
    let version = version_opt(&p)?;
    cx.block_on(cx.zk.delete(&path, version))
        .map_err(|e| wrap(e, &path))?;
    Ok(())
}

/// `deleteall path [-b batch size]`: the subtree, deepest first. When the
/// server offers ClickHouse Keeper's removeRecursive (its feature flags say
/// so) and the node exists, one removeRecursive request does it; if the
/// server refuses it (a subtree past its bound, a node this session may not
/// delete) or does not offer it, zkCli's way: the subtree listed, then
/// deleted in batches of multi (`-b`).
pub fn deleteall(cx: &mut Ctx<'_>, p: Parsed) -> CmdResult {
    let batch: usize = match p.value("b") {
        Some(v) => v
            .parse::<i32>()
            .map_err(|_| CliError::new("-b argument must be an int value"))?
            .max(1) as usize,
        None => 1000,
    };
    let path = p.args[1].clone();
    check_path(&path)?;
    if cx.block_on(remove_recursive_on_server(&cx.zk, &path)) {
        return Ok(());
    }
    let ok = cx
        .block_on(delete_recursive(&cx.zk, &path, batch))
        .map_err(|e| wrap(e, &path))?;
    if !ok {
        eprintln!("Failed to delete some node(s) in the subtree!");
    }
    Ok(())
}

/// `sync path`: its outcome on stdout, never a failure.
pub fn sync(cx: &mut Ctx<'_>, p: Parsed) -> CmdResult {
    let path = p.args[1].clone();
    check_path(&path)?;
    match cx.block_on(cx.zk.sync(&path)) {
        Ok(_) => {
            let _ = writeln!(cx.out(), "Sync is OK");
        }
        Err(e) => {
            let code = e.code().map(|c| c.code()).unwrap_or(-1);
            let _ = writeln!(cx.out(), "Sync has failed. rc={code}");
        }
    }
    Ok(())
}

/// `getEphemerals [path]`: the session's ephemeral nodes under `path` (`/`).
pub fn get_ephemerals(cx: &mut Ctx<'_>, p: Parsed) -> CmdResult {
    let path = p.args.get(1).cloned().unwrap_or_else(|| "/".to_owned());
    check_path(&path)?;
    let e = cx
        .block_on(cx.zk.get_ephemerals(&path))
        .map_err(|e| wrap(e, &path))?;
    let _ = writeln!(cx.out(), "[{}]", e.join(", "));
    Ok(())
}

/// `getAllChildrenNumber path`: the number of nodes under `path`.
pub fn get_all_children_number(cx: &mut Ctx<'_>, p: Parsed) -> CmdResult {
    let path = p.args[1].clone();
    check_path(&path)?;
    let n = cx
        .block_on(cx.zk.get_all_children_number(&path))
        .map_err(|e| wrap(e, &path))?;
    let _ = writeln!(cx.out(), "{n}");
    Ok(())
}

/// deleteall in one request, when the server offers removeRecursive and the
/// node is there; false when the shell must do it itself.
async fn remove_recursive_on_server(zk: &Client, path: &str) -> bool {
    let offered = matches!(
        zk.keeper_feature_flags().await,
        Ok(Some(f)) if keeper_feature::is_set(&f, keeper_feature::REMOVE_RECURSIVE)
    );
    if !offered || !matches!(zk.exists(path, false).await, Ok(Some(_))) {
        return false;
    }
    zk.remove_recursive(path, u32::MAX).await.is_ok()
}

/// The children of `path` that are ephemeral (or persistent), with its Stat.
async fn filtered_children(
    zk: &Client,
    path: &str,
    ephemeral: bool,
    watch: bool,
) -> Result<(Vec<String>, zab_core::records::Stat), ClientError> {
    let offered = matches!(
        zk.keeper_feature_flags().await,
        Ok(Some(f)) if keeper_feature::is_set(&f, keeper_feature::FILTERED_LIST)
    );
    if offered {
        let t = if ephemeral {
            keeper_list_type::EPHEMERAL_ONLY
        } else {
            keeper_list_type::PERSISTENT_ONLY
        };
        return zk.filtered_list(path, t, watch).await;
    }
    let (children, st) = zk.get_children2(path, watch).await?;
    let mut out = Vec::new();
    for c in children {
        let child = if path == "/" {
            format!("/{c}")
        } else {
            format!("{path}/{c}")
        };
        if let Ok(Some(s)) = zk.exists(&child, false).await {
            // Containers (0x80..) and TTL nodes (0xff..) are persistent, as the server says.
            let top = (s.ephemeral_owner as u64) >> 56;
            let is_ephemeral = s.ephemeral_owner != 0 && top != 0x80 && top != 0xff;
            if is_ephemeral == ephemeral {
                out.push(c);
            }
        }
    }
    Ok((out, st))
}

/// The subtree under `path`, breadth first (ZooKeeper's `ZKUtil.listSubTreeBFS`),
/// children of each node in sorted order.
pub async fn subtree_bfs(zk: &Client, path: &str, watch: bool) -> Result<Vec<String>, ClientError> {
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
