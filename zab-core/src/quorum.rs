//! Quorum verifiers: which sets of servers form a quorum.
//!
//! Owns the voting view of the ensemble: who votes, who observes, and what a quorum
//! is. Two verifiers sit behind one trait, as in ZooKeeper's `flexible/` package:
//! a strict majority of voters ([`QuorumMaj`]) and hierarchical groups with weights
//! ([`QuorumHierarchical`], `group.N=1:2:3` / `weight.N=w`). Dynamic reconfiguration
//! is left out: the view is fixed for the life of a [`crate::peer::Peer`].

use std::collections::BTreeMap;
use std::fmt;

use crate::ServerId;

/// Decides whether a set of servers is a quorum.
pub trait QuorumVerifier: fmt::Debug + Send + Sync {
    /// The weight of a voter; 0 for observers, unknown servers and zero-weight voters.
    fn weight(&self, sid: ServerId) -> u64;
    /// Voting members, in ascending order.
    fn voting_members(&self) -> &[ServerId];
    /// Observers, in ascending order.
    fn observers(&self) -> &[ServerId];
    /// Whether `set` (duplicates allowed, unknown ids ignored) contains a quorum.
    fn contains_quorum(&self, set: &[ServerId]) -> bool;

    /// A voting member (may carry weight 0 in a hierarchical view).
    fn is_voter(&self, sid: ServerId) -> bool {
        self.voting_members().binary_search(&sid).is_ok()
    }
    fn is_observer(&self, sid: ServerId) -> bool {
        self.observers().binary_search(&sid).is_ok()
    }
    /// Every server of the view, voters then observers.
    fn all_members(&self) -> Vec<ServerId> {
        let mut v = self.voting_members().to_vec();
        v.extend_from_slice(self.observers());
        v
    }
}

/// Why a configuration could not be turned into a verifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuorumConfigError {
    #[error("key {key} has a bad value {value:?}")]
    BadValue { key: String, value: String },
    #[error("server {sid} is in more than one group")]
    ServerInTwoGroups { sid: u64 },
    #[error("server {sid} is in a group but has no server line")]
    UnknownServer { sid: u64 },
    #[error("no voting members")]
    NoVoters,
}

fn dedup_sorted(mut v: Vec<ServerId>) -> Vec<ServerId> {
    v.sort();
    v.dedup();
    v
}

/// A strict majority of voters (ZooKeeper's `QuorumMaj`); observers never count.
#[derive(Debug, Clone)]
pub struct QuorumMaj {
    voters: Vec<ServerId>,
    observers: Vec<ServerId>,
}

impl QuorumMaj {
    pub fn new(
        voters: impl IntoIterator<Item = ServerId>,
        observers: impl IntoIterator<Item = ServerId>,
    ) -> Self {
        QuorumMaj {
            voters: dedup_sorted(voters.into_iter().collect()),
            observers: dedup_sorted(observers.into_iter().collect()),
        }
    }

    /// Voters `1..=voters`, observers numbered after them.
    pub fn with_counts(voters: u64, observers: u64) -> Self {
        QuorumMaj::new(
            (1..=voters).map(ServerId),
            (voters + 1..=voters + observers).map(ServerId),
        )
    }
}

impl QuorumVerifier for QuorumMaj {
    fn weight(&self, sid: ServerId) -> u64 {
        self.is_voter(sid) as u64
    }
    fn voting_members(&self) -> &[ServerId] {
        &self.voters
    }
    fn observers(&self) -> &[ServerId] {
        &self.observers
    }
    fn contains_quorum(&self, set: &[ServerId]) -> bool {
        // Sets are tiny (one entry per server); a quadratic dedup beats allocating.
        let mut n = 0;
        for (i, s) in set.iter().enumerate() {
            if self.is_voter(*s) && !set[..i].contains(s) {
                n += 1;
            }
        }
        n > self.voters.len() / 2
    }
}

/// Hierarchical quorums (ZooKeeper's `QuorumHierarchical`): voters are split into
/// groups, each voter has a weight (default 1). A set is a quorum when more than
/// half of the groups of non-zero weight each see more than half of their weight.
#[derive(Debug, Clone)]
pub struct QuorumHierarchical {
    voters: Vec<ServerId>,
    observers: Vec<ServerId>,
    group_of: BTreeMap<ServerId, u64>,
    weights: BTreeMap<ServerId, u64>,
    group_weight: BTreeMap<u64, u64>,
    /// Groups with non-zero weight.
    num_groups: usize,
}

impl QuorumHierarchical {
    /// `groups`: (group id, members); `weights`: overrides of the default weight 1.
    pub fn new(
        groups: &[(u64, Vec<ServerId>)],
        weights: &[(ServerId, u64)],
        observers: impl IntoIterator<Item = ServerId>,
    ) -> Result<Self, QuorumConfigError> {
        let mut group_of = BTreeMap::new();
        for (g, members) in groups {
            for m in members {
                if group_of.insert(*m, *g).is_some() {
                    return Err(QuorumConfigError::ServerInTwoGroups { sid: m.0 });
                }
            }
        }
        let voters: Vec<ServerId> = group_of.keys().copied().collect();
        if voters.is_empty() {
            return Err(QuorumConfigError::NoVoters);
        }
        let mut w: BTreeMap<ServerId, u64> = voters.iter().map(|s| (*s, 1)).collect();
        for (s, x) in weights {
            if let Some(slot) = w.get_mut(s) {
                *slot = *x;
            }
        }
        let mut group_weight = BTreeMap::new();
        for (s, g) in &group_of {
            *group_weight.entry(*g).or_insert(0) += w[s];
        }
        let num_groups = group_weight.values().filter(|x| **x > 0).count();
        Ok(QuorumHierarchical {
            voters,
            observers: dedup_sorted(observers.into_iter().collect()),
            group_of,
            weights: w,
            group_weight,
            num_groups,
        })
    }
}

impl QuorumVerifier for QuorumHierarchical {
    fn weight(&self, sid: ServerId) -> u64 {
        self.weights.get(&sid).copied().unwrap_or(0)
    }
    fn voting_members(&self) -> &[ServerId] {
        &self.voters
    }
    fn observers(&self) -> &[ServerId] {
        &self.observers
    }
    fn contains_quorum(&self, set: &[ServerId]) -> bool {
        let mut expansion: BTreeMap<u64, u64> = BTreeMap::new();
        for (i, s) in set.iter().enumerate() {
            if set[..i].contains(s) {
                continue;
            }
            if let Some(g) = self.group_of.get(s) {
                *expansion.entry(*g).or_insert(0) += self.weight(*s);
            }
        }
        let maj_groups = expansion
            .iter()
            .filter(|(g, w)| {
                let total = self.group_weight[*g];
                total > 0 && **w > total / 2
            })
            .count();
        maj_groups > self.num_groups / 2
    }
}

/// Builds a verifier from ZooKeeper's configuration keys: `server.N=host:p1:p2[:participant|:observer][;client]`,
/// `group.G=1:2:3` and `weight.N=w`. With any `group.` key the view is hierarchical.
pub fn from_properties(
    props: &[(&str, &str)],
) -> Result<Box<dyn QuorumVerifier>, QuorumConfigError> {
    let bad = |k: &str, v: &str| QuorumConfigError::BadValue {
        key: k.to_owned(),
        value: v.to_owned(),
    };
    let mut voters = Vec::new();
    let mut observers = Vec::new();
    let mut groups = Vec::new();
    let mut weights = Vec::new();
    for (k, v) in props {
        let k = k.trim();
        let v = v.trim();
        if let Some(n) = k.strip_prefix("server.") {
            let sid = ServerId(n.parse().map_err(|_| bad(k, v))?);
            let addr = v.split(';').next().unwrap_or("");
            if addr.ends_with(":observer") {
                observers.push(sid);
            } else {
                voters.push(sid);
            }
        } else if let Some(n) = k.strip_prefix("group.") {
            let g: u64 = n.parse().map_err(|_| bad(k, v))?;
            let members = v
                .split(':')
                .map(|s| s.trim().parse().map(ServerId).map_err(|_| bad(k, v)))
                .collect::<Result<Vec<_>, _>>()?;
            groups.push((g, members));
        } else if let Some(n) = k.strip_prefix("weight.") {
            let sid = ServerId(n.parse().map_err(|_| bad(k, v))?);
            weights.push((sid, v.parse().map_err(|_| bad(k, v))?));
        }
    }
    if groups.is_empty() {
        if voters.is_empty() {
            return Err(QuorumConfigError::NoVoters);
        }
        return Ok(Box::new(QuorumMaj::new(voters, observers)));
    }
    for (_, members) in &groups {
        for m in members {
            if !voters.contains(m) {
                return Err(QuorumConfigError::UnknownServer { sid: m.0 });
            }
        }
    }
    Ok(Box::new(QuorumHierarchical::new(
        &groups, &weights, observers,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[u64]) -> Vec<ServerId> {
        v.iter().map(|x| ServerId(*x)).collect()
    }

    #[test]
    fn majority_excludes_observers() {
        let q = QuorumMaj::with_counts(5, 2);
        assert!(!q.contains_quorum(&ids(&[1, 2, 6, 7])));
        assert!(q.contains_quorum(&ids(&[1, 2, 3])));
        assert!(!q.contains_quorum(&ids(&[1, 1, 2, 2])));
        assert_eq!(q.weight(ServerId(6)), 0);
    }

    #[test]
    fn even_ensemble_needs_more_than_half() {
        let q = QuorumMaj::with_counts(6, 0);
        assert!(!q.contains_quorum(&ids(&[1, 2, 3])));
        assert!(q.contains_quorum(&ids(&[1, 2, 3, 4])));
    }

    #[test]
    fn hierarchical_needs_majority_of_groups_with_majority_weight() {
        let props = [
            ("server.1", "a:1:2"),
            ("server.2", "a:1:2"),
            ("server.3", "a:1:2"),
            ("server.4", "a:1:2"),
            ("server.5", "a:1:2"),
            ("server.6", "a:1:2"),
            ("server.7", "a:1:2:observer"),
            ("group.1", "1:2:3"),
            ("group.2", "4:5:6"),
            ("weight.3", "0"),
        ];
        let q = from_properties(&props).unwrap();
        assert!(q.is_observer(ServerId(7)));
        // group 1 weighs 2 (server 3 has weight 0): needs both 1 and 2.
        assert!(!q.contains_quorum(&ids(&[1, 3, 4, 5])));
        assert!(q.contains_quorum(&ids(&[1, 2, 4, 5])));
        assert!(!q.contains_quorum(&ids(&[1, 2, 3])));
        assert_eq!(q.weight(ServerId(3)), 0);
    }
}
