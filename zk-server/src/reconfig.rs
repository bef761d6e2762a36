//! Dynamic reconfiguration (`reconfig`, op 16): what the leader's prep decides, as
//! Apache ZooKeeper's `PrepRequestProcessor` decides it, and the files a server
//! writes when a new membership is activated (`QuorumPeerConfig.writeDynamicConfig`
//! and `editStaticConfig`).
//!
//! The order of checks is Apache's: `reconfigEnabled` (ReconfigDisabled), a
//! standalone server (Unimplemented), a reconfig already proposed and not yet
//! committed (ReconfigInProgress), `curConfigId` (BadVersion), the new membership
//! (BadArguments), at least two voters while `standaloneEnabled`, a quorum of the
//! new voters synced with this leader (NewConfigNoQuorum), and only then the WRITE
//! permission on `/zookeeper/config` (NoAuth; its ACL is read-only, so only the
//! super user or `skipACL=yes` pass). The transaction is a `SetDataTxn` of the new
//! membership text on `/zookeeper/config` with version -1, under the header type
//! 16; the new configuration's version is the reconfig's own zxid.
//!
//! Hierarchical quorums as Apache takes them: `-members` is read as a dynamic file, so
//! its `group.N=a:b` and `weight.N=w` lines (comma-separated like the servers) make
//! the new view hierarchical; the text written back is `QuorumHierarchical.toString()`'s
//! (server lines, group lines by group id with their members by id, a weight line for
//! every grouped server, 1 unless given, then the version); an incremental reconfig of a
//! hierarchical view is BadArguments ("non-majority quorum system"), as is a group naming
//! a server the list does not have; NewConfigNoQuorum is decided by the new view's own
//! quorum rule.
//!
//! Activation (switching the quorum when the reconfig commits) is zab-core's
//! (`crate::peer` drives it); this module only turns texts into memberships and
//! memberships into files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use zab_core::proto::ReconfigRequest;
use zab_core::records::ErrorCode;

use crate::config::{membership_text, PeerType, ServerSpec};

/// What prep needs to know to decide a reconfig, beyond the tree.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReconfigCtx<'a> {
    /// `reconfigEnabled`.
    pub enabled: bool,
    /// `standaloneEnabled`.
    pub standalone_enabled: bool,
    /// `skipACL=yes`.
    pub skip_acl: bool,
    /// This server's id, and the followers synced with it: `Some` only on an
    /// established leader (Apache's `LeaderZooKeeperServer`).
    pub leader: Option<(u64, &'a [u64])>,
    /// A reconfig was proposed and has not been applied yet.
    pub in_progress: bool,
}

/// The `group.N` / `weight.N` lines of a hierarchical view; empty for a majority one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hierarchy {
    /// Group id -> its servers, by id.
    pub groups: BTreeMap<u64, Vec<u64>>,
    /// Server id -> weight, as given.
    pub weights: BTreeMap<u64, u64>,
}

impl Hierarchy {
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Takes a `group.N` or `weight.N` line; `Ok(false)` for any other key.
    fn take(&mut self, k: &str, v: &str) -> Result<bool, String> {
        if let Some(g) = k.strip_prefix("group.") {
            let g: u64 = g.parse().map_err(|_| format!("bad group id in {k:?}"))?;
            let mut members = v
                .split(':')
                .map(|m| m.trim().parse::<u64>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| format!("bad member in {k}={v}"))?;
            members.sort_unstable();
            self.groups.insert(g, members);
            Ok(true)
        } else if let Some(sid) = k.strip_prefix("weight.") {
            let sid: u64 = sid.parse().map_err(|_| format!("bad server id in {k:?}"))?;
            let w: u64 = v.parse().map_err(|_| format!("bad weight in {k}={v}"))?;
            self.weights.insert(sid, w);
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// The lines `QuorumHierarchical.toString()` writes between the servers and the
    /// version: groups by id, then a weight for every grouped server (1 unless given).
    pub fn lines(&self) -> String {
        let mut out = String::new();
        let mut weights = self.weights.clone();
        for (g, members) in &self.groups {
            let mut members = members.clone();
            members.sort_unstable();
            let m: Vec<String> = members.iter().map(u64::to_string).collect();
            out.push_str(&format!("group.{g}={}\n", m.join(":")));
            for s in &members {
                weights.entry(*s).or_insert(1);
            }
        }
        for (s, w) in &weights {
            out.push_str(&format!("weight.{s}={w}\n"));
        }
        out
    }
}

/// The hierarchy of a `/zookeeper/config` text (or a dynamic file): its `group.N` and
/// `weight.N` lines; empty for a majority view.
pub fn parse_hierarchy(text: &str) -> Result<Hierarchy, String> {
    let mut h = Hierarchy::default();
    for line in text.lines() {
        if let Some((k, v)) = line.trim().split_once('=') {
            h.take(k.trim(), v.trim())?;
        }
    }
    Ok(h)
}

/// The membership written in a `/zookeeper/config` text (or a dynamic file):
/// its `server.N` lines and its `version=<hex>` (`group.N` / `weight.N` lines are
/// [`parse_hierarchy`]'s).
pub fn parse_membership(text: &str) -> Result<(BTreeMap<u64, ServerSpec>, u64), String> {
    let mut servers = BTreeMap::new();
    let mut version = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("line without '=': {line:?}"));
        };
        let (k, v) = (k.trim(), v.trim());
        if k == "version" {
            version = u64::from_str_radix(v, 16).map_err(|_| format!("bad version {v:?}"))?;
        } else if let Some(id) = k.strip_prefix("server.") {
            let id: u64 = id.parse().map_err(|_| format!("bad server id in {k:?}"))?;
            servers.insert(id, ServerSpec::parse(id, v)?);
        } else if !Hierarchy::default().take(k, v)? {
            return Err(format!("unexpected key {k:?}"));
        }
    }
    Ok((servers, version))
}

/// `server.x=spec` (a joiner) as Apache's `QuorumServer(sid, spec)` reads it in an
/// incremental reconfig: the client port is required.
fn joiner(s: &str) -> Result<ServerSpec, ErrorCode> {
    let (k, v) = s.split_once('=').ok_or(ErrorCode::BadArguments)?;
    let id = k.trim();
    let id = id[id.rfind('.').map_or(0, |i| i + 1)..]
        .parse::<u64>()
        .map_err(|_| ErrorCode::BadArguments)?;
    let spec = ServerSpec::parse(id, v).map_err(|_| ErrorCode::BadArguments)?;
    if spec.client_port.is_none() {
        // "Wrong format of server string - each server should have 3 ports specified"
        return Err(ErrorCode::BadArguments);
    }
    Ok(spec)
}

/// Two servers may not share a quorum or election address (`checkAddressDuplicate`).
fn check_duplicates(servers: &BTreeMap<u64, ServerSpec>) -> Result<(), ErrorCode> {
    let mut seen = std::collections::BTreeSet::new();
    for s in servers.values() {
        for p in [s.quorum_port, s.election_port] {
            if !seen.insert((s.host.clone(), p)) {
                return Err(ErrorCode::BadArguments);
            }
        }
    }
    Ok(())
}

/// The membership a reconfig asks for, from the last one seen: non-incremental when
/// `newMembers` is set (commas or newlines between `server.N=` lines), else the
/// current one minus `leavingServers` (ids, comma-separated) plus `joiningServers`
/// (`server.N=` entries, comma-separated; one with a known id replaces it).
pub fn next_membership(
    current: &BTreeMap<u64, ServerSpec>,
    current_hierarchy: &Hierarchy,
    req: &ReconfigRequest,
) -> Result<(BTreeMap<u64, ServerSpec>, Hierarchy), ErrorCode> {
    if let Some(members) = &req.new_members {
        let mut next = BTreeMap::new();
        let mut hierarchy = Hierarchy::default();
        for line in members.split([',', '\n']) {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                if hierarchy
                    .take(k.trim(), v.trim())
                    .map_err(|_| ErrorCode::BadArguments)?
                {
                    continue;
                }
            }
            let (k, v) = line.split_once(['=', ':']).ok_or(ErrorCode::BadArguments)?;
            let id = k
                .trim()
                .strip_prefix("server.")
                .and_then(|i| i.parse::<u64>().ok())
                .ok_or(ErrorCode::BadArguments)?;
            let spec = ServerSpec::parse(id, v).map_err(|_| ErrorCode::BadArguments)?;
            next.insert(id, spec);
        }
        check_duplicates(&next)?;
        // The view must be one a quorum can be decided in (a group names listed voters).
        if zab_core::reconfig::parse_config(text(&next, &hierarchy, 0).as_bytes()).is_none() {
            return Err(ErrorCode::BadArguments);
        }
        return Ok((next, hierarchy));
    }
    if !current_hierarchy.is_empty() {
        // "Incremental reconfiguration requested but last configuration seen has a
        // non-majority quorum system"
        return Err(ErrorCode::BadArguments);
    }
    let mut next = current.clone();
    if let Some(leaving) = &req.leaving_servers {
        for id in leaving.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            // Apache's Long.parseLong throws outside its KeeperException handling.
            let id: u64 = id.parse().map_err(|_| ErrorCode::MarshallingError)?;
            next.remove(&id);
        }
    }
    if let Some(joining) = &req.joining_servers {
        for j in joining.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let spec = joiner(j)?;
            next.insert(spec.id, spec);
        }
    }
    check_duplicates(&next)?;
    Ok((next, Hierarchy::default()))
}

/// The voters of a membership.
pub fn voters(servers: &BTreeMap<u64, ServerSpec>) -> Vec<u64> {
    servers
        .values()
        .filter(|s| s.peer_type == PeerType::Participant)
        .map(|s| s.id)
        .collect()
}

/// Apache's `Leader.isQuorumSynced`: the leader and its synced followers contain a
/// quorum of the new view (a majority of its voters, or its hierarchical rule).
pub fn quorum_synced(
    servers: &BTreeMap<u64, ServerSpec>,
    hierarchy: &Hierarchy,
    me: u64,
    synced: &[u64],
) -> bool {
    let Some((q, _)) = zab_core::reconfig::parse_config(text(servers, hierarchy, 0).as_bytes())
    else {
        return false;
    };
    let mut ids: Vec<zab_core::ServerId> = synced.iter().copied().map(zab_core::ServerId).collect();
    ids.push(zab_core::ServerId(me));
    q.contains_quorum(&ids)
}

/// The text of the membership a reconfig with zxid `version` commits.
pub fn text(servers: &BTreeMap<u64, ServerSpec>, hierarchy: &Hierarchy, version: u64) -> String {
    let base = membership_text(servers, version);
    if hierarchy.is_empty() {
        return base;
    }
    let at = base.rfind("version=").unwrap_or(base.len());
    format!("{}{}{}", &base[..at], hierarchy.lines(), &base[at..])
}

/// `<zoo.cfg>.dynamic.<hex version>`, next to zoo.cfg.
pub fn dynamic_file_path(zoo_cfg: &Path, version: u64) -> PathBuf {
    let mut p = zoo_cfg.as_os_str().to_owned();
    p.push(format!(".dynamic.{version:x}"));
    PathBuf::from(p)
}

/// Write the activated membership where a restart finds it, as Apache does: the
/// server lines into `<zoo.cfg>.dynamic.<hex version>` (older dynamic files are
/// kept), then zoo.cfg rewritten without its membership, `dynamicConfigFile` and
/// (when this server's line carries its client port) `clientPort` /
/// `clientPortAddress` lines, with `dynamicConfigFile=` last. Each file is written
/// to a temporary name and renamed, so a crash leaves the old or the new one.
pub fn write_config_files(
    zoo_cfg: &Path,
    membership: &str,
    my_line_has_client: bool,
) -> std::io::Result<PathBuf> {
    let (servers, version) = parse_membership(membership).map_err(std::io::Error::other)?;
    let hierarchy = parse_hierarchy(membership).map_err(std::io::Error::other)?;
    let dynamic = dynamic_file_path(zoo_cfg, version);
    let mut body = String::new();
    for s in servers.values() {
        body.push_str(&s.line());
        body.push('\n');
    }
    body.push_str(&hierarchy.lines());
    replace_file(&dynamic, &body)?;
    let old = std::fs::read_to_string(zoo_cfg)?;
    let mut out = String::new();
    for raw in old.lines() {
        let key = raw
            .trim()
            .split_once(['=', ':'])
            .map(|(k, _)| k.trim())
            .unwrap_or("");
        let drop = key == "dynamicConfigFile"
            || key.starts_with("server.")
            || key.starts_with("group.")
            || key.starts_with("weight.")
            || (my_line_has_client && (key == "clientPort" || key == "clientPortAddress"));
        if !drop {
            out.push_str(raw);
            out.push('\n');
        }
    }
    out.push_str(&format!("dynamicConfigFile={}\n", dynamic.display()));
    replace_file(zoo_cfg, &out)?;
    Ok(dynamic)
}

fn replace_file(path: &Path, text: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    // The rename is durable only once the directory is: without it a power loss may bring
    // the server back with its previous membership (zab-core's simulator, sim/disk.rs).
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const THREE: &str = "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
        server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\n\
        server.3=127.0.0.1:2890:3890:participant;0.0.0.0:2183\n\
        version=100000000";

    fn req(j: Option<&str>, l: Option<&str>, m: Option<&str>) -> ReconfigRequest {
        ReconfigRequest {
            joining_servers: j.map(str::to_owned),
            leaving_servers: l.map(str::to_owned),
            new_members: m.map(str::to_owned),
            cur_config_id: -1,
        }
    }

    #[test]
    fn membership_text_round_trips() {
        let (s, v) = parse_membership(THREE).unwrap();
        assert_eq!(v, 0x100000000);
        assert_eq!(text(&s, &Hierarchy::default(), v), THREE);
    }

    #[test]
    fn incremental_add_and_remove() {
        let (cur, _) = parse_membership(THREE).unwrap();
        let flat = Hierarchy::default();
        let (next, _) = next_membership(
            &cur,
            &flat,
            &req(Some("server.4=127.0.0.1:2891:3891;2184"), Some("3"), None),
        )
        .unwrap();
        assert_eq!(next.keys().copied().collect::<Vec<_>>(), vec![1, 2, 4]);
        assert_eq!(
            text(&next, &flat, 0x100000003).lines().nth(2).unwrap(),
            "server.4=127.0.0.1:2891:3891:participant;0.0.0.0:2184"
        );
        // A joiner needs its client port; addresses may not be shared.
        assert_eq!(
            next_membership(
                &cur,
                &flat,
                &req(Some("server.4=127.0.0.1:2891:3891"), None, None)
            ),
            Err(ErrorCode::BadArguments)
        );
        assert_eq!(
            next_membership(
                &cur,
                &flat,
                &req(Some("server.4=127.0.0.1:2888:3891;2184"), None, None)
            ),
            Err(ErrorCode::BadArguments)
        );
    }

    #[test]
    fn non_incremental_with_commas() {
        let (cur, _) = parse_membership(THREE).unwrap();
        let (next, h) = next_membership(
            &cur,
            &Hierarchy::default(),
            &req(
                None,
                None,
                Some("server.1=127.0.0.1:2888:3888;2181,server.2=127.0.0.1:2889:3889;2182"),
            ),
        )
        .unwrap();
        assert_eq!(next.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
        assert!(h.is_empty());
    }

    #[test]
    fn quorum_synced_counts_voters_only() {
        let (cur, _) = parse_membership(THREE).unwrap();
        let flat = Hierarchy::default();
        assert!(quorum_synced(&cur, &flat, 1, &[2]));
        assert!(!quorum_synced(&cur, &flat, 1, &[]));
        assert!(!quorum_synced(&cur, &flat, 9, &[2]));
    }

    /// `-members` with group and weight lines, as Apache 3.8 answered them
    /// (tests/ensemble_reconfig.rs `hierarchical_reconfig_matches_apache`).
    #[test]
    fn hierarchical_members_as_apache_writes_them() {
        let (cur, _) = parse_membership(THREE).unwrap();
        let members = "server.1=127.0.0.1:2888:3888;2181,server.2=127.0.0.1:2889:3889;2182,\
                       server.3=127.0.0.1:2890:3890;2183,group.1=2:1,group.2=3,weight.3=2";
        let (next, h) =
            next_membership(&cur, &Hierarchy::default(), &req(None, None, Some(members))).unwrap();
        let t = text(&next, &h, 0x100000005);
        let tail: Vec<&str> = t.lines().skip(3).collect();
        assert_eq!(
            tail,
            [
                "group.1=1:2",
                "group.2=3",
                "weight.1=1",
                "weight.2=1",
                "weight.3=2",
                "version=100000005"
            ]
        );
        // The text reads back to the same membership and hierarchy.
        assert_eq!(
            parse_membership(&t).unwrap().0.keys().collect::<Vec<_>>(),
            next.keys().collect::<Vec<_>>()
        );
        assert_eq!(parse_hierarchy(&t).unwrap().groups, h.groups);
        // Two groups: a quorum needs both, each with more than half its weight, so
        // {1, 2} (one group) and {1, 3} (half of group 1's weight) are not quorums.
        assert!(!quorum_synced(&next, &h, 1, &[2]));
        assert!(!quorum_synced(&next, &h, 1, &[3]));
        assert!(quorum_synced(&next, &h, 1, &[2, 3]));
        // Incremental on a hierarchical view, and a group naming an unlisted server: refused.
        assert_eq!(
            next_membership(&next, &h, &req(None, Some("3"), None)),
            Err(ErrorCode::BadArguments)
        );
        let bad = "server.1=127.0.0.1:2888:3888;2181,server.2=127.0.0.1:2889:3889;2182,\
                   group.1=1:2,group.2=4";
        assert_eq!(
            next_membership(&cur, &Hierarchy::default(), &req(None, None, Some(bad))),
            Err(ErrorCode::BadArguments)
        );
    }

    #[test]
    fn config_files_as_apache_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("zoo.cfg");
        std::fs::write(
            &cfg,
            "tickTime=2000\nclientPort=2181\ndynamicConfigFile=/old/zoo.cfg.dynamic.100000000\ndataDir=/d\n",
        )
        .unwrap();
        let t = THREE.replace("version=100000000", "version=100000004");
        let dynamic = write_config_files(&cfg, &t, true).unwrap();
        assert_eq!(dynamic, dir.path().join("zoo.cfg.dynamic.100000004"));
        let d = std::fs::read_to_string(&dynamic).unwrap();
        assert_eq!(d.lines().count(), 3);
        assert!(!d.contains("version"));
        let z = std::fs::read_to_string(&cfg).unwrap();
        assert_eq!(
            z,
            format!(
                "tickTime=2000\ndataDir=/d\ndynamicConfigFile={}\n",
                dynamic.display()
            )
        );
        let c = crate::config::Config::load(&cfg);
        // myid is missing, but the membership was read from the new file.
        assert!(c.unwrap_err().to_string().contains("myid"));
    }
}
