//! The quota commands, `setquota`, `listquota` and `delquota`, done client
//! side as zkCli does them: a quota is a `zookeeper_limits` node (and a
//! `zookeeper_stats` node the server keeps up to date) under
//! `/zookeeper/quota` + the path, each holding a Java `StatsTrack` string.
//!
//! ```text
//! stats-track = "count=" long ",bytes=" long [ "=" 1*( ";" key "=" long ) ]
//! ```
//!
//! Enforcing quotas is the server's business.

use std::collections::BTreeMap;
use std::io::Write;

use bytes::Bytes;
use zab_core::records::Acl;

use super::nodes::subtree_bfs;
use super::{usage_of, Ctx};
use crate::client_api::{create_mode, Client, ClientError, ErrorCode};
use crate::errors::{check_path, wrap, CliError, CmdResult};
use crate::opts::Parsed;

/// `listquota path`: the quota and the usage zkCli keeps under
/// `/zookeeper/quota`.
pub fn listquota(cx: &mut Ctx<'_>, p: Parsed) -> CmdResult {
    let path = p.args[1].clone();
    eprintln!("absolute path is {QUOTA_ROOT}{path}/{LIMIT_NODE}");
    let limit = cx.block_on(
        cx.zk
            .get_data(&format!("{QUOTA_ROOT}{path}/{LIMIT_NODE}"), false),
    );
    let stat = cx.block_on(
        cx.zk
            .get_data(&format!("{QUOTA_ROOT}{path}/{STAT_NODE}"), false),
    );
    match (limit, stat) {
        (Ok((l, _)), Ok((s, _))) => {
            let out = cx.out();
            let _ = writeln!(
                out,
                "Output quota for {path} {}",
                StatsTrack::parse(&String::from_utf8_lossy(&l)).render()
            );
            let _ = writeln!(
                out,
                "Output stat for {path} {}",
                StatsTrack::parse(&String::from_utf8_lossy(&s)).render()
            );
        }
        (Err(e), _) | (_, Err(e)) => {
            if e.code() == Some(ErrorCode::NoNode) {
                eprintln!("quota for {path} does not exist.");
            } else {
                return Err(wrap(e, &path));
            }
        }
    }
    Ok(())
}

/// `setquota -n|-b|-N|-B val path`: a soft or hard limit on the number of
/// nodes or bytes under `path`, kept as zkCli keeps it.
pub fn setquota(cx: &mut Ctx<'_>, p: Parsed) -> CmdResult {
    // The quota commands print through println!, between their many calls.
    cx.release_stdout();
    let given: Vec<_> = ["n", "b", "N", "B"]
        .into_iter()
        .filter(|k| p.has(k))
        .collect();
    if given.is_empty() {
        return Err(CliError::new(
            "org.apache.commons.cli.MissingOptionException: Missing required option: [-n num soft quota, -b bytes soft quota, -N num hard quota, -B bytes hard quota]",
        ));
    }
    if given.len() > 1 {
        return Err(CliError::new(format!(
            "org.apache.commons.cli.AlreadySelectedException: The option '{}' was specified but an option from this group has already been selected: '{}'",
            given[1], given[0]
        )));
    }
    if p.args.len() < 2 {
        return Err(CliError::new(usage_of("setquota")));
    }
    let path = p.args[1].clone();
    if path.starts_with(QUOTA_ROOT) {
        eprintln!("cannot set a quota under the path: {QUOTA_ROOT}");
        return Ok(());
    }
    let mut quota = StatsTrack::default();
    for k in ["count", "bytes", "countHardLimit", "byteHardLimit"] {
        quota.set(k, -1);
    }
    for (opt, key, is_count) in [
        ("n", "count", true),
        ("b", "bytes", false),
        ("N", "countHardLimit", true),
        ("B", "byteHardLimit", false),
    ] {
        if let Some(v) = p.value(opt) {
            let Ok(n) = v.parse::<i64>() else {
                eprintln!("NumberFormatException happens when parsing the option value");
                return Ok(());
            };
            if is_count && n <= 0 {
                eprintln!("the num quota must be greater than zero");
                return Ok(());
            }
            if !is_count && n < 0 {
                eprintln!("the bytes quota must be greater than or equal to zero");
                return Ok(());
            }
            quota.set(key, n);
        }
    }
    check_path(&path)?;
    cx.block_on(create_quota(&cx.zk, &path, quota))
        .map_err(|e| match e {
            QuotaError::Arg(m) => CliError::new(m),
            QuotaError::Zk(e) => wrap(e, &path),
        })
}

/// `delquota [-n|-b|-N|-B] path`: the whole quota, or only the named limits.
pub fn delquota(cx: &mut Ctx<'_>, p: Parsed) -> CmdResult {
    // The quota commands print through println!, between their many calls.
    cx.release_stdout();
    let path = p.args[1].clone();
    let keys: Vec<&str> = [
        ("n", "count"),
        ("b", "bytes"),
        ("N", "countHardLimit"),
        ("B", "byteHardLimit"),
    ]
    .into_iter()
    .filter(|(o, _)| p.has(o))
    .map(|(_, k)| k)
    .collect();
    match cx.block_on(del_quota(&cx.zk, &path, &keys)) {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some(ErrorCode::NoNode) => {
            eprintln!("quota for {path} does not exist.");
            Ok(())
        }
        Err(e) => Err(wrap(e, &path)),
    }
}

/// Java's `StatsTrack`: `count=N,bytes=N[=;key=value...]`.
#[derive(Default, Clone)]
struct StatsTrack(BTreeMap<String, i64>);

impl StatsTrack {
    fn parse(s: &str) -> StatsTrack {
        let mut m = BTreeMap::new();
        for kv in s.split([',', ';']).filter(|x| !x.is_empty()) {
            let mut it = kv.split('=');
            let k = it.next().unwrap_or("").to_owned();
            let v = it.next().unwrap_or("");
            m.insert(
                k,
                if v.is_empty() {
                    -1
                } else {
                    v.parse().unwrap_or(-1)
                },
            );
        }
        StatsTrack(m)
    }
    fn get(&self, k: &str) -> i64 {
        self.0.get(k).copied().unwrap_or(-1)
    }
    fn set(&mut self, k: &str, v: i64) {
        self.0.insert(k.to_owned(), v);
    }
    fn render(&self) -> String {
        let mut s = format!("count={},bytes={}", self.get("count"), self.get("bytes"));
        let rest: Vec<_> = self
            .0
            .iter()
            .filter(|(k, _)| *k != "count" && *k != "bytes")
            .collect();
        if !rest.is_empty() {
            s.push('=');
            for (k, v) in rest {
                s.push_str(&format!(";{k}={v}"));
            }
        }
        s
    }
}

const QUOTA_ROOT: &str = "/zookeeper/quota";

const LIMIT_NODE: &str = "zookeeper_limits";

const STAT_NODE: &str = "zookeeper_stats";

enum QuotaError {
    Arg(String),
    Zk(ClientError),
}

impl From<ClientError> for QuotaError {
    fn from(e: ClientError) -> Self {
        QuotaError::Zk(e)
    }
}

async fn create_if_absent(zk: &Client, path: &str, data: Option<&[u8]>) -> Result<(), ClientError> {
    match zk
        .create_nullable(path, data, &Acl::open_unsafe(), create_mode::PERSISTENT, 0)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(ErrorCode::NodeExists) => Ok(()),
        Err(e) => Err(e),
    }
}

/// `SetQuotaCommand.createQuota`, client side as zkCli does it.
async fn create_quota(zk: &Client, path: &str, quota: StatsTrack) -> Result<(), QuotaError> {
    if zk.exists(path, false).await?.is_none() {
        return Err(QuotaError::Arg(format!("{path} does not exist.")));
    }
    // A quota may not sit above or below another quota.
    let real = format!("{QUOTA_ROOT}{path}");
    match subtree_bfs(zk, &real, false).await {
        Ok(nodes) => {
            for n in nodes {
                let children = zk.get_children(&n, false).await.unwrap_or_default();
                if n != real && children.iter().any(|c| c == LIMIT_NODE) {
                    return Err(QuotaError::Arg(format!(
                        "{path} has a child {} which has a quota",
                        &n[QUOTA_ROOT.len()..]
                    )));
                }
            }
        }
        Err(e) if e.code() == Some(ErrorCode::NoNode) => {}
        Err(e) => return Err(e.into()),
    }
    let parts: Vec<&str> = path.split('/').collect();
    let mut qp = QUOTA_ROOT.to_owned();
    for part in parts.iter().take(parts.len().saturating_sub(1)).skip(1) {
        qp.push('/');
        qp.push_str(part);
        let children = match zk.get_children(&qp, false).await {
            Ok(c) => c,
            Err(e) if e.code() == Some(ErrorCode::NoNode) => break,
            Err(e) => return Err(e.into()),
        };
        if children.is_empty() {
            break;
        }
        if qp != real && children.iter().any(|c| c == LIMIT_NODE) {
            return Err(QuotaError::Arg(format!(
                "{path} has a parent {} which has a quota",
                &qp[QUOTA_ROOT.len()..]
            )));
        }
    }
    if zk.exists(QUOTA_ROOT, false).await?.is_none() {
        create_if_absent(zk, "/zookeeper", None).await?;
        create_if_absent(zk, QUOTA_ROOT, None).await?;
    }
    let mut qp = QUOTA_ROOT.to_owned();
    for part in parts.iter().skip(1) {
        qp.push('/');
        qp.push_str(part);
        if zk.exists(&qp, false).await?.is_none() {
            create_if_absent(zk, &qp, None).await?;
        }
    }
    let stat_path = format!("{qp}/{STAT_NODE}");
    let limit_path = format!("{qp}/{LIMIT_NODE}");
    if zk.exists(&limit_path, false).await?.is_none() {
        zk.create(
            &limit_path,
            quota.render().as_bytes(),
            &Acl::open_unsafe(),
            0,
            0,
        )
        .await?;
        let mut stats = StatsTrack::default();
        stats.set("count", 0);
        stats.set("bytes", 0);
        zk.create(
            &stat_path,
            stats.render().as_bytes(),
            &Acl::open_unsafe(),
            0,
            0,
        )
        .await?;
        let (l, _) = zk.get_data(&limit_path, false).await?;
        let (s, _) = zk.get_data(&stat_path, false).await?;
        check_quota(&parse_bytes(&l), &parse_bytes(&s));
    } else {
        let (l, _) = zk.get_data(&limit_path, false).await?;
        let mut q = parse_bytes(&l);
        for k in ["count", "bytes", "countHardLimit", "byteHardLimit"] {
            if quota.get(k) > -1 {
                q.set(k, quota.get(k));
            }
        }
        let (s, _) = zk.get_data(&stat_path, false).await?;
        check_quota(&q, &parse_bytes(&s));
        zk.set_data(&limit_path, q.render().as_bytes(), -1).await?;
    }
    Ok(())
}

fn parse_bytes(b: &Bytes) -> StatsTrack {
    StatsTrack::parse(&String::from_utf8_lossy(b))
}

fn check_quota(q: &StatsTrack, s: &StatsTrack) {
    let c = s.get("count");
    if (q.get("count") > -1 && q.get("count") < c)
        || (q.get("countHardLimit") > -1 && q.get("countHardLimit") < c)
    {
        println!("[Warning]: the count quota you create is less than the existing count:{c}");
    }
    let b = s.get("bytes");
    if (q.get("bytes") > -1 && q.get("bytes") < b)
        || (q.get("byteHardLimit") > -1 && q.get("byteHardLimit") < b)
    {
        println!("[Warning]: the bytes quota you create is less than the existing bytes:{b}");
    }
}

/// `DelQuotaCommand.delQuota`: drop the whole quota, or only the named limits.
async fn del_quota(zk: &Client, path: &str, keys: &[&str]) -> Result<(), ClientError> {
    let parent = format!("{QUOTA_ROOT}{path}");
    let limit = format!("{parent}/{LIMIT_NODE}");
    if zk.exists(&limit, false).await?.is_none() {
        println!("Quota does not exist for {path}");
        return Ok(());
    }
    let (data, _) = zk.get_data(&limit, false).await?;
    let mut st = parse_bytes(&data);
    if keys.is_empty() {
        for c in zk.get_children(&parent, false).await? {
            zk.delete(&format!("{parent}/{c}"), -1).await?;
        }
        // Trim the now empty quota nodes up to /zookeeper/quota.
        let mut p = parent;
        while p != QUOTA_ROOT {
            if !zk.get_children(&p, false).await?.is_empty() {
                break;
            }
            zk.delete(&p, -1).await?;
            p = p[..p.rfind('/').unwrap_or(0)].to_owned();
        }
    } else {
        for k in keys {
            st.set(k, -1);
        }
        zk.set_data(&limit, st.render().as_bytes(), -1).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_track_renders_as_java() {
        let mut q = StatsTrack::default();
        for k in ["count", "bytes", "countHardLimit", "byteHardLimit"] {
            q.set(k, -1);
        }
        q.set("count", 5);
        assert_eq!(
            q.render(),
            "count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=-1"
        );
        let r = StatsTrack::parse("count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=-1");
        assert_eq!(r.get("count"), 5);
        assert_eq!(r.get("countHardLimit"), -1);
    }
}
