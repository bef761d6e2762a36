//! Quotas, as ZooKeeper keeps them (its `updateQuotaStat`,
//! `updateQuotaForPath`, `setupQuota`): a `zookeeper_limits` node under
//! `/zookeeper/quota/<path>` puts a quota on `<path>`, and the server keeps
//! the subtree's node count and data bytes in the `zookeeper_stats` node
//! beside it, updated on every create, delete and setData below `<path>`.
//!
//! The tree counts usage; nothing here refuses a write over a quota. This
//! file owns the quota bookkeeping; applying the transactions that change it
//! is `apply.rs`'s, and loading a snapshot calls [`DataTree::setup_quotas`]
//! once the nodes are in (`load.rs`).

use super::node::{NodeId, NIL};
use super::{child_path, parent_of, DataTree, QUOTA_ZOOKEEPER, ROOT};

/// The node under `/zookeeper/quota/<path>` that sets a quota.
pub(super) const QUOTA_LIMITS: &str = "zookeeper_limits";
/// The node under `/zookeeper/quota/<path>` the server keeps the usage in.
pub(super) const QUOTA_STATS: &str = "zookeeper_stats";

/// The path a quota node's parent stands for: `/zookeeper/quota/a/b` -> `/a/b`.
pub(super) fn quota_target(parent: &str) -> Option<&str> {
    parent
        .strip_prefix(QUOTA_ZOOKEEPER)
        .filter(|p| p.starts_with('/'))
}

/// `count` and `bytes` of a StatsTrack string (`count=2,bytes=5`, maybe
/// followed by limits); what is missing or malformed counts as 0.
fn parse_stats(data: &[u8]) -> (i64, i64) {
    let text = String::from_utf8_lossy(data);
    let mut count = 0;
    let mut bytes = 0;
    for field in text.split([',', ';']) {
        let mut kv = field.split('=');
        let (Some(k), Some(v)) = (kv.next(), kv.next()) else {
            continue;
        };
        match k.trim() {
            "count" => count = v.trim().parse().unwrap_or(0),
            "bytes" => bytes = v.trim().parse().unwrap_or(0),
            _ => {}
        }
    }
    (count, bytes)
}

/// One namespace's quota gauges (Apache's `quota_count_limit_per_namespace`,
/// `quota_bytes_limit_per_namespace`, `quota_count_usage_per_namespace`,
/// `quota_bytes_usage_per_namespace`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaFigures {
    pub count_limit: i64,
    pub bytes_limit: i64,
    pub count_usage: i64,
    pub bytes_usage: i64,
}

/// A StatsTrack string's fields (`count=2,bytes=5,countHardLimit=10`) by name, -1 for
/// a missing or malformed one (Apache's `StatsTrack.getValue`).
fn stats_fields(data: &[u8]) -> impl Fn(&str) -> i64 {
    let text = String::from_utf8_lossy(data).into_owned();
    move |name: &str| {
        text.split([',', ';'])
            .filter_map(|f| f.split_once('='))
            .find(|(k, _)| k.trim() == name)
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(-1)
    }
}

impl DataTree {
    /// The quota `path` counts toward: the longest path with a quota that is
    /// `path` or one of its ancestors (a quota on `/` counts for nothing).
    pub(super) fn quota_of(&self, path: &str) -> Option<String> {
        if self.quotas.is_empty() {
            return None;
        }
        let mut p = path;
        while p != ROOT {
            if self.quotas.contains(p) {
                return Some(p.to_owned());
            }
            p = parent_of(p);
        }
        None
    }

    /// Replace a node's data without a transaction (the server's own
    /// bookkeeping): its Stat stays, the digest and data size follow.
    fn set_data_in_place(&mut self, path: &str, id: NodeId, data: &[u8]) {
        let stat = self.persisted(id);
        let n = &mut self.nodes[id as usize];
        self.digest.remove(path, n.data(), &stat);
        self.data_size = self.data_size - n.data().len() as u64 + data.len() as u64;
        n.set_data(Some(data), stat.mzxid, stat.mtime, stat.version);
        self.digest.add(path, data, &stat);
    }

    /// Add to the usage `zookeeper_stats` of `quota` records; nothing if that
    /// node is missing (ZooKeeper logs and goes on).
    pub(super) fn update_quota_stat(&mut self, quota: &str, bytes: i64, count: i64) {
        let stats = format!("{QUOTA_ZOOKEEPER}{quota}/{QUOTA_STATS}");
        let Some(id) = self.lookup(&stats) else {
            tracing::debug!("quota of {quota} has no {stats}");
            return;
        };
        let (c, b) = parse_stats(self.nodes[id as usize].data());
        let data = format!("count={},bytes={}", c + count, b + bytes);
        self.set_data_in_place(&stats, id, data.as_bytes());
    }

    /// Count the nodes and data bytes of `target`'s subtree into its
    /// `zookeeper_stats`, as ZooKeeper does when that node is created.
    pub(super) fn update_quota_for_path(&mut self, target: &str) {
        let (mut count, mut bytes) = (0i64, 0i64);
        if let Some(id) = self.lookup(target) {
            let mut stack = vec![id];
            while let Some(id) = stack.pop() {
                let n = &self.nodes[id as usize];
                count += 1;
                bytes += n.data().len() as i64;
                let mut c = n.first_child;
                while c != NIL {
                    stack.push(c);
                    c = self.nodes[c as usize].next;
                }
            }
        }
        let stats = format!("{QUOTA_ZOOKEEPER}{target}/{QUOTA_STATS}");
        if let Some(id) = self.lookup(&stats) {
            let data = format!("count={count},bytes={bytes}");
            self.set_data_in_place(&stats, id, data.as_bytes());
        }
    }

    /// Apache's quota gauges (`QuotaMetricsUtils`), by namespace (the top-level znode
    /// of the quota's path; a quota on `/` has none): every leaf `zookeeper_limits`
    /// and `zookeeper_stats` under `/zookeeper/quota`, summed per namespace. A limit is
    /// the hard one if set, else the soft one (`countHardLimit` / `count`); usage is
    /// the stats node's `count` and `bytes`. A field the node lacks is -1, as in
    /// Apache's `StatsTrack`.
    pub fn quota_figures(&self) -> std::collections::BTreeMap<String, QuotaFigures> {
        let mut out = std::collections::BTreeMap::<String, QuotaFigures>::new();
        let Some(qid) = self.lookup(QUOTA_ZOOKEEPER) else {
            return out;
        };
        let mut stack = vec![(qid, QUOTA_ZOOKEEPER.to_owned())];
        while let Some((id, path)) = stack.pop() {
            let n = &self.nodes[id as usize];
            if n.child_count == 0 {
                let limits = n.name() == QUOTA_LIMITS.as_bytes();
                let stats = n.name() == QUOTA_STATS.as_bytes();
                let ns = quota_target(parent_of(&path)).and_then(crate::core::top_namespace);
                if let (true, Some(ns)) = (limits || stats, ns) {
                    let field = stats_fields(n.data());
                    let f = out.entry(ns.to_owned()).or_default();
                    if limits {
                        let hard_or = |hard: &str, soft: &str| {
                            let h = field(hard);
                            if h > -1 {
                                h
                            } else {
                                field(soft)
                            }
                        };
                        f.count_limit += hard_or("countHardLimit", "count");
                        f.bytes_limit += hard_or("byteHardLimit", "bytes");
                    } else {
                        f.count_usage += field("count");
                        f.bytes_usage += field("bytes");
                    }
                }
            }
            let mut c = n.first_child;
            while c != NIL {
                stack.push((c, child_path(&path, self.nodes[c as usize].name())));
                c = self.nodes[c as usize].next;
            }
        }
        out
    }

    /// After loading a snapshot: every leaf `zookeeper_limits` under
    /// `/zookeeper/quota` sets a quota, whose usage is counted afresh.
    pub(super) fn setup_quotas(&mut self) {
        let Some(qid) = self.lookup(QUOTA_ZOOKEEPER) else {
            return;
        };
        let mut targets = Vec::new();
        let mut stack = vec![(qid, QUOTA_ZOOKEEPER.to_owned())];
        while let Some((id, path)) = stack.pop() {
            let n = &self.nodes[id as usize];
            if n.child_count == 0 && n.name() == QUOTA_LIMITS.as_bytes() {
                if let Some(t) = quota_target(parent_of(&path)) {
                    targets.push(t.to_owned());
                }
            }
            let mut c = n.first_child;
            while c != NIL {
                stack.push((c, child_path(&path, self.nodes[c as usize].name())));
                c = self.nodes[c as usize].next;
            }
        }
        for t in targets {
            self.update_quota_for_path(&t);
            self.quotas.insert(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use zab_core::records::{Acl, StatPersisted};
    use zab_core::txn::{CreateTxn, SetDataTxn, TxnBody};
    use zab_storage::TreeDigest;

    use super::*;
    use crate::tree::testutil::{create, txn};
    use zab_core::proto::op;

    fn set(path: &str, data: &'static [u8]) -> TxnBody {
        TxnBody::SetData(SetDataTxn {
            path: path.into(),
            data: Some(Bytes::from_static(data)),
            version: 1,
        })
    }

    fn stats_of(t: &DataTree, path: &str) -> String {
        let p = format!("{QUOTA_ZOOKEEPER}{path}/{QUOTA_STATS}");
        String::from_utf8(t.get(&p).unwrap().data().to_vec()).unwrap()
    }

    #[test]
    fn quota_stats_follow_the_subtree_as_zookeeper_keeps_them() {
        let mut t = DataTree::new(false);
        let mut tr = Vec::new();
        let mut z = 1;
        let mut apply = |t: &mut DataTree, ty: i32, b: TxnBody| {
            z += 1;
            let rc = t.apply(&txn(z, ty, b), &mut tr);
            assert_eq!(rc.err, 0, "zxid {z}");
        };
        apply(&mut t, op::CREATE, create("/q", -1, false)); // data "d"
        apply(&mut t, op::CREATE, create("/q/a", -1, false));
        // zkCli's setquota: the limits node, then the stats node (count=0).
        for p in ["/zookeeper/quota/q", "/zookeeper/quota/q/zookeeper_limits"] {
            apply(&mut t, op::CREATE, create(p, -1, false));
        }
        let stats = TxnBody::Create(CreateTxn {
            path: "/zookeeper/quota/q/zookeeper_stats".into(),
            data: Some(Bytes::from_static(b"count=0,bytes=0")),
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_cversion: -1,
        });
        apply(&mut t, op::CREATE, stats);
        assert_eq!(stats_of(&t, "/q"), "count=2,bytes=2");
        apply(&mut t, op::CREATE, create("/q/a/b", -1, false));
        apply(&mut t, op::SET_DATA, set("/q/a", b"12345"));
        assert_eq!(stats_of(&t, "/q"), "count=3,bytes=7");
        apply(
            &mut t,
            op::DELETE,
            TxnBody::Delete {
                path: "/q/a/b".into(),
            },
        );
        assert_eq!(stats_of(&t, "/q"), "count=2,bytes=6");
        // Outside the quota: nothing changes.
        apply(&mut t, op::CREATE, create("/qq", -1, false));
        assert_eq!(stats_of(&t, "/q"), "count=2,bytes=6");
        // The stats node keeps its Stat; the digest follows its data.
        let n = t.get("/zookeeper/quota/q/zookeeper_stats").unwrap();
        assert_eq!((n.stat().version, n.stat().data_length), (0, 15));
        let mut d = TreeDigest::new();
        for (p, n) in t.iter() {
            d.add(&p, n.data(), &n.persisted());
        }
        assert_eq!(d.value(), t.digest());
        // A tree loaded from these nodes counts the usage afresh.
        let mut back = DataTree::empty(false);
        for a in t.acl_entries() {
            back.load_acl(a.id, a.acl.clone());
        }
        let nodes: Vec<(String, Vec<u8>, i64, StatPersisted)> = t
            .iter()
            .map(|(p, n)| (p, n.data().to_vec(), n.acl().id, n.persisted()))
            .collect();
        for (p, data, acl, stat) in &nodes {
            let data = if p.ends_with(QUOTA_STATS) {
                &b"count=9,bytes=9"[..]
            } else {
                data
            };
            back.load_node(p, Some(data), *acl, *stat).unwrap();
        }
        back.finish_load(t.last_processed_zxid()).unwrap();
        assert_eq!(stats_of(&back, "/q"), "count=2,bytes=6");
        // Deleting the limits node ends the quota.
        apply(
            &mut t,
            op::DELETE,
            TxnBody::Delete {
                path: "/zookeeper/quota/q/zookeeper_limits".into(),
            },
        );
        apply(&mut t, op::CREATE, create("/q/c", -1, false));
        assert_eq!(stats_of(&t, "/q"), "count=2,bytes=6");
    }
    /// Apache's QuotaMetricsUtils: per namespace, the sum of its quotas' limits (hard
    /// before soft) and of their usage; a quota on `/` counts for no namespace.
    #[test]
    fn quota_figures_sum_each_namespaces_quotas_as_apache() {
        let mut t = DataTree::new(false);
        let mut tr = Vec::new();
        let mut z = 1;
        let mut put = |t: &mut DataTree, path: &str, data: &'static [u8]| {
            z += 1;
            let b = TxnBody::Create(CreateTxn {
                path: path.into(),
                data: Some(Bytes::from_static(data)),
                acl: Acl::open_unsafe(),
                ephemeral: false,
                parent_cversion: -1,
            });
            assert_eq!(t.apply(&txn(z, op::CREATE, b), &mut tr).err, 0, "{path}");
        };
        for p in [
            "/q",
            "/q/a",
            "/r",
            "/zookeeper/quota/q",
            "/zookeeper/quota/q/a",
        ] {
            put(&mut t, p, b"");
        }
        put(&mut t, "/zookeeper/quota/r", b"");
        let quota = [
            (
                "/zookeeper/quota/q/zookeeper_limits",
                &b"count=10,bytes=-1,countHardLimit=4"[..],
            ),
            ("/zookeeper/quota/q/zookeeper_stats", b"count=2,bytes=0"),
            (
                "/zookeeper/quota/q/a/zookeeper_limits",
                b"count=-1,bytes=100",
            ),
            ("/zookeeper/quota/q/a/zookeeper_stats", b"count=1,bytes=0"),
            ("/zookeeper/quota/r/zookeeper_limits", b"count=3,bytes=7"),
            ("/zookeeper/quota/r/zookeeper_stats", b"count=1,bytes=0"),
            ("/zookeeper/quota/zookeeper_limits", b"count=1,bytes=1"),
        ];
        for (p, d) in quota {
            put(&mut t, p, d);
        }
        let f = t.quota_figures();
        assert_eq!(f.keys().collect::<Vec<_>>(), ["q", "r"]);
        let q = f["q"];
        // /q's hard count limit (4) with /q/a's soft one (-1); -1 bytes with 100.
        assert_eq!((q.count_limit, q.bytes_limit), (3, 99));
        assert_eq!((q.count_usage, q.bytes_usage), (3, 0));
        let r = f["r"];
        assert_eq!((r.count_limit, r.bytes_limit, r.count_usage), (3, 7, 1));
    }
}
