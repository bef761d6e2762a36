//! Checkers for the set, unique-id and queue workloads (the registers go to [`super::wgl`]).
//!
//! Each takes what clients were told (acknowledged), what may have happened (outcome unknown),
//! and what a final read found, and lists violations and acknowledged writes lost.

use std::collections::{BTreeMap, BTreeSet};

/// What a checker found.
#[derive(Debug, Default, Clone)]
pub struct Findings {
    pub violations: Vec<String>,
    /// Acknowledged writes that are gone.
    pub lost: usize,
}

/// Grow-only set: every acknowledged element is in the final read; the final read holds only
/// elements some client tried to add.
pub fn set(
    acked: &BTreeSet<i64>,
    attempted: &BTreeSet<i64>,
    final_read: &BTreeSet<i64>,
) -> Findings {
    let mut f = Findings::default();
    let lost: Vec<&i64> = acked.difference(final_read).collect();
    if !lost.is_empty() {
        f.lost += lost.len();
        f.violations
            .push(format!("set: acknowledged elements lost: {lost:?}"));
    }
    let phantom: Vec<&i64> = final_read.difference(attempted).collect();
    if !phantom.is_empty() {
        f.violations
            .push(format!("set: elements nobody added: {phantom:?}"));
    }
    f
}

/// Unique ids from sequential creates: no name handed out twice, and every acknowledged one
/// still exists.
pub fn unique_ids(acked: &[String], final_children: &BTreeSet<String>) -> Findings {
    let mut f = Findings::default();
    let mut seen = BTreeSet::new();
    let dups: Vec<&String> = acked.iter().filter(|n| !seen.insert(*n)).collect();
    if !dups.is_empty() {
        f.violations
            .push(format!("unique ids: names handed out twice: {dups:?}"));
    }
    let lost: Vec<&String> = seen
        .iter()
        .filter(|n| !final_children.contains(**n))
        .copied()
        .collect();
    if !lost.is_empty() {
        f.lost += lost.len();
        f.violations
            .push(format!("unique ids: acknowledged nodes lost: {lost:?}"));
    }
    f
}

/// A queue: every acknowledged enqueue is delivered exactly once (by an acknowledged dequeue,
/// possibly by one whose outcome is unknown, or found by the final drain), nothing is
/// delivered twice, and nothing delivered was never enqueued.
pub fn queue(
    acked_enqueues: &BTreeSet<i64>,
    attempted_enqueues: &BTreeSet<i64>,
    delivered: &[i64],
    maybe_delivered: &BTreeSet<i64>,
    drained: &[i64],
) -> Findings {
    let mut f = Findings::default();
    let mut count: BTreeMap<i64, usize> = BTreeMap::new();
    for v in delivered.iter().chain(drained) {
        *count.entry(*v).or_default() += 1;
    }
    let twice: Vec<i64> = count
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(v, _)| *v)
        .collect();
    if !twice.is_empty() {
        f.violations
            .push(format!("queue: delivered more than once: {twice:?}"));
    }
    let lost: Vec<&i64> = acked_enqueues
        .iter()
        .filter(|v| !count.contains_key(v) && !maybe_delivered.contains(v))
        .collect();
    if !lost.is_empty() {
        f.lost += lost.len();
        f.violations.push(format!(
            "queue: acknowledged items never delivered: {lost:?}"
        ));
    }
    let phantom: Vec<&i64> = count
        .keys()
        .filter(|v| !attempted_enqueues.contains(v))
        .collect();
    if !phantom.is_empty() {
        f.violations.push(format!(
            "queue: delivered items nobody enqueued: {phantom:?}"
        ));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[i64]) -> BTreeSet<i64> {
        v.iter().copied().collect()
    }

    #[test]
    fn set_checker_finds_lost_and_phantom_elements() {
        assert!(set(&s(&[1, 2]), &s(&[1, 2, 3]), &s(&[1, 2, 3]))
            .violations
            .is_empty());
        let f = set(&s(&[1, 2]), &s(&[1, 2]), &s(&[1]));
        assert_eq!(f.lost, 1);
        let f = set(&s(&[1]), &s(&[1]), &s(&[1, 9]));
        assert_eq!(f.violations.len(), 1);
        assert_eq!(f.lost, 0);
    }

    #[test]
    fn unique_ids_checker_finds_duplicates_and_losses() {
        let fin: BTreeSet<String> = ["a".to_string(), "b".to_string()].into();
        assert!(unique_ids(&["a".into(), "b".into()], &fin)
            .violations
            .is_empty());
        let f = unique_ids(&["a".into(), "a".into()], &fin);
        assert_eq!(f.violations.len(), 1);
        let f = unique_ids(&["c".into()], &fin);
        assert_eq!(f.lost, 1);
    }

    #[test]
    fn queue_checker_finds_double_delivery_loss_and_phantoms() {
        let ok = queue(&s(&[1, 2, 3]), &s(&[1, 2, 3, 4]), &[1], &s(&[2]), &[3]);
        assert!(ok.violations.is_empty(), "{ok:?}");
        let twice = queue(&s(&[1]), &s(&[1]), &[1], &s(&[]), &[1]);
        assert_eq!(twice.violations.len(), 1);
        let lost = queue(&s(&[1, 2]), &s(&[1, 2]), &[1], &s(&[]), &[]);
        assert_eq!(lost.lost, 1);
        let phantom = queue(&s(&[]), &s(&[]), &[7], &s(&[]), &[]);
        assert_eq!(phantom.violations.len(), 1);
    }
}
