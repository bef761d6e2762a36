//! The ACL commands, `getAcl` and `setAcl`, and zkCli's ACL parser
//! (`scheme:id:perms[,...]`), which `create` uses too.
//!
//! How an ACL entry is printed is `format`'s; walking a subtree for
//! `setAcl -R` is `nodes`'.

use std::io::Write;

use zab_core::records::{perms, Acl, Id};

use super::nodes::subtree_bfs;
use super::{version_opt, Ctx};
use crate::errors::{check_path, wrap, wrap_plain, CliError, CmdResult};
use crate::format::{csv, perm_string, print_stat};
use crate::opts::Parsed;

/// `getAcl [-s] path`.
pub fn get_acl(cx: &mut Ctx<'_>, p: Parsed) -> CmdResult {
    let path = p.args[1].clone();
    check_path(&path)?;
    let (acl, st) = cx
        .block_on(cx.zk.get_acl(&path))
        .map_err(|e| wrap(e, &path))?;
    let out = cx.out();
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
        print_stat(out, &st);
    }
    Ok(())
}

/// `setAcl [-s] [-v version] [-R] path acl`: with `-R` on the whole
/// subtree, printing the failures and going on.
pub fn set_acl(cx: &mut Ctx<'_>, p: Parsed) -> CmdResult {
    let path = p.args[1].clone();
    check_path(&path)?;
    let acl = parse_acl(&p.args[2]);
    let version = version_opt(&p)?;
    if acl.is_empty() {
        // The Java client refuses an empty ACL before sending.
        return Err(CliError::new("Acl is not valid : null"));
    }
    if p.has("R") {
        let tree = cx
            .block_on(subtree_bfs(&cx.zk, &path, false))
            .map_err(|e| wrap(e, &path))?;
        for n in tree {
            if let Err(e) = cx.block_on(cx.zk.set_acl(&n, &acl, version)) {
                let _ = write!(cx.out(), "{}", wrap_plain(e, &n));
            }
        }
    } else {
        let st = cx
            .block_on(cx.zk.set_acl(&path, &acl, version))
            .map_err(|e| wrap(e, &path))?;
        if p.has("s") {
            print_stat(cx.out(), &st);
        }
    }
    Ok(())
}

/// zkCli's `AclParser.parse`: `scheme:id:perms[,...]`, bad entries reported and skipped.
pub fn parse_acl(s: &str) -> Vec<Acl> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_parser() {
        let a = parse_acl("world:anyone:rw,digest:u:x=:cdrwa");
        assert_eq!(a[1].id, Id::new("digest", "u:x="));
        assert_eq!(a[1].perms, perms::ALL);
    }
}
