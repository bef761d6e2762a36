//! Watches: one-shot data, exist and child watches, persistent and
//! persistent-recursive watches (ZooKeeper's `WatchManager`, one table for
//! data and exist watches, one for child watches).
//!
//! Watchers are sessions. Firing a trigger returns who gets which event; the
//! caller filters by ACL and delivers.

use std::collections::{HashMap, HashSet};

use crate::proto::event_type;
use crate::tree::{parent_of, Trigger};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WatchMode {
    Standard,
    Persistent,
    PersistentRecursive,
}

#[derive(Default, Debug)]
struct WatchTable {
    by_path: HashMap<String, HashMap<i64, WatchMode>>,
    by_session: HashMap<i64, HashSet<String>>,
    recursive: usize,
}

impl WatchTable {
    fn add(&mut self, path: &str, session: i64, mode: WatchMode) {
        let w = self.by_path.entry(path.to_owned()).or_default();
        match w.get(&session) {
            // A persistent watch is not downgraded by a one-shot one.
            Some(old) if *old >= mode && *old != WatchMode::Standard => return,
            Some(WatchMode::PersistentRecursive) => self.recursive -= 1,
            _ => {}
        }
        if mode == WatchMode::PersistentRecursive {
            self.recursive += 1;
        }
        w.insert(session, mode);
        self.by_session
            .entry(session)
            .or_default()
            .insert(path.to_owned());
    }

    fn remove(&mut self, path: &str, session: i64) -> bool {
        let Some(w) = self.by_path.get_mut(path) else {
            return false;
        };
        let Some(mode) = w.remove(&session) else {
            return false;
        };
        if mode == WatchMode::PersistentRecursive {
            self.recursive -= 1;
        }
        if w.is_empty() {
            self.by_path.remove(path);
        }
        if let Some(s) = self.by_session.get_mut(&session) {
            s.remove(path);
            if s.is_empty() {
                self.by_session.remove(&session);
            }
        }
        true
    }

    fn contains(&self, path: &str, session: i64) -> bool {
        self.by_path
            .get(path)
            .is_some_and(|w| w.contains_key(&session))
    }

    fn remove_session(&mut self, session: i64) {
        if let Some(paths) = self.by_session.remove(&session) {
            for p in paths {
                if let Some(w) = self.by_path.get_mut(&p) {
                    if w.remove(&session) == Some(WatchMode::PersistentRecursive) {
                        self.recursive -= 1;
                    }
                    if w.is_empty() {
                        self.by_path.remove(&p);
                    }
                }
            }
        }
    }

    /// ZooKeeper's `triggerWatch`: the sessions to notify, one-shot watches removed.
    fn trigger(&mut self, path: &str, ev: i32, out: &mut HashSet<i64>) {
        let mut local = path.to_owned();
        let mut at_parent = false;
        loop {
            let mut emptied = false;
            if let Some(w) = self.by_path.get_mut(&local) {
                let mut fired_once = Vec::new();
                for (&s, &mode) in w.iter() {
                    match mode {
                        WatchMode::PersistentRecursive
                            if ev != event_type::NODE_CHILDREN_CHANGED =>
                        {
                            out.insert(s);
                        }
                        WatchMode::PersistentRecursive => {}
                        _ if !at_parent => {
                            out.insert(s);
                            if mode == WatchMode::Standard {
                                fired_once.push(s);
                            }
                        }
                        _ => {}
                    }
                }
                for s in fired_once {
                    w.remove(&s);
                    if let Some(ps) = self.by_session.get_mut(&s) {
                        ps.remove(&local);
                        if ps.is_empty() {
                            self.by_session.remove(&s);
                        }
                    }
                }
                emptied = w.is_empty();
            }
            if emptied {
                self.by_path.remove(&local);
            }
            if self.recursive == 0 || local == "/" {
                break;
            }
            local = parent_of(&local).to_owned();
            at_parent = true;
        }
    }

    fn count(&self) -> usize {
        self.by_path.values().map(|w| w.len()).sum()
    }
}

/// An event for one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub session_id: i64,
    pub event_type: i32,
    pub path: String,
}

/// Both watch tables.
#[derive(Default, Debug)]
pub struct WatchManager {
    data: WatchTable,
    child: WatchTable,
}

/// Which tables a checkWatches / removeWatches request names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatcherKind {
    Children,
    Data,
    Any,
}

impl WatchManager {
    pub fn add_data_watch(&mut self, path: &str, session: i64) {
        self.data.add(path, session, WatchMode::Standard);
    }

    pub fn add_child_watch(&mut self, path: &str, session: i64) {
        self.child.add(path, session, WatchMode::Standard);
    }

    /// addWatch: a persistent watch goes into both tables, as in ZooKeeper.
    pub fn add_persistent(&mut self, path: &str, session: i64, recursive: bool) {
        let mode = if recursive {
            WatchMode::PersistentRecursive
        } else {
            WatchMode::Persistent
        };
        self.data.add(path, session, mode);
        self.child.add(path, session, mode);
    }

    pub fn remove(&mut self, path: &str, session: i64, kind: WatcherKind) -> bool {
        match kind {
            WatcherKind::Children => self.child.remove(path, session),
            WatcherKind::Data => self.data.remove(path, session),
            WatcherKind::Any => {
                let c = self.child.remove(path, session);
                let d = self.data.remove(path, session);
                c || d
            }
        }
    }

    pub fn contains(&self, path: &str, session: i64, kind: WatcherKind) -> bool {
        match kind {
            WatcherKind::Children => self.child.contains(path, session),
            WatcherKind::Data => self.data.contains(path, session),
            WatcherKind::Any => {
                self.child.contains(path, session) || self.data.contains(path, session)
            }
        }
    }

    pub fn remove_session(&mut self, session: i64) {
        self.data.remove_session(session);
        self.child.remove_session(session);
    }

    /// Fire a trigger. Returns per table the sessions to notify with the
    /// event type, the path and which ACL decides (the node's, or the parent's
    /// for NodeChildrenChanged).
    pub fn fire(&mut self, t: &Trigger) -> Vec<(Notification, bool)> {
        let mut out = Vec::new();
        let mut push = |set: HashSet<i64>, ev: i32, path: &str, parent_acl: bool| {
            let mut v: Vec<i64> = set.into_iter().collect();
            v.sort_unstable();
            for s in v {
                out.push((
                    Notification {
                        session_id: s,
                        event_type: ev,
                        path: path.to_owned(),
                    },
                    parent_acl,
                ));
            }
        };
        match t {
            Trigger::Created { path, parent, .. } => {
                let mut a = HashSet::new();
                self.data.trigger(path, event_type::NODE_CREATED, &mut a);
                push(a, event_type::NODE_CREATED, path, false);
                let mut b = HashSet::new();
                self.child
                    .trigger(parent, event_type::NODE_CHILDREN_CHANGED, &mut b);
                push(b, event_type::NODE_CHILDREN_CHANGED, parent, true);
            }
            Trigger::Deleted { path, parent, .. } => {
                let mut a = HashSet::new();
                self.data.trigger(path, event_type::NODE_DELETED, &mut a);
                let mut b = HashSet::new();
                self.child.trigger(path, event_type::NODE_DELETED, &mut b);
                // A session told through its data watch is not told twice.
                b.retain(|s| !a.contains(s));
                push(a, event_type::NODE_DELETED, path, false);
                push(b, event_type::NODE_DELETED, path, false);
                let mut c = HashSet::new();
                self.child
                    .trigger(parent, event_type::NODE_CHILDREN_CHANGED, &mut c);
                push(c, event_type::NODE_CHILDREN_CHANGED, parent, true);
            }
            Trigger::DataChanged { path, .. } => {
                let mut a = HashSet::new();
                self.data
                    .trigger(path, event_type::NODE_DATA_CHANGED, &mut a);
                push(a, event_type::NODE_DATA_CHANGED, path, false);
            }
        }
        out
    }

    /// Number of watches (wchs).
    pub fn watch_count(&self) -> usize {
        self.data.count() + self.child.count()
    }

    pub fn path_count(&self) -> usize {
        let mut paths: HashSet<&String> = self.data.by_path.keys().collect();
        paths.extend(self.child.by_path.keys());
        paths.len()
    }

    /// Paths watched by each session (wchc).
    pub fn by_session(&self) -> Vec<(i64, Vec<String>)> {
        let mut m: HashMap<i64, HashSet<String>> = HashMap::new();
        for t in [&self.data, &self.child] {
            for (s, ps) in &t.by_session {
                m.entry(*s).or_default().extend(ps.iter().cloned());
            }
        }
        let mut v: Vec<(i64, Vec<String>)> = m
            .into_iter()
            .map(|(s, ps)| {
                let mut ps: Vec<String> = ps.into_iter().collect();
                ps.sort();
                (s, ps)
            })
            .collect();
        v.sort();
        v
    }

    /// Sessions watching each path (wchp).
    pub fn by_path(&self) -> Vec<(String, Vec<i64>)> {
        let mut m: HashMap<String, HashSet<i64>> = HashMap::new();
        for t in [&self.data, &self.child] {
            for (p, w) in &t.by_path {
                m.entry(p.clone()).or_default().extend(w.keys().copied());
            }
        }
        let mut v: Vec<(String, Vec<i64>)> = m
            .into_iter()
            .map(|(p, s)| {
                let mut s: Vec<i64> = s.into_iter().collect();
                s.sort();
                (p, s)
            })
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(path: &str) -> Trigger {
        Trigger::Created {
            path: path.into(),
            acl: crate::tree::detached_acl(vec![]),
            parent: parent_of(path).into(),
            parent_acl: crate::tree::detached_acl(vec![]),
        }
    }

    #[test]
    fn one_shot_watch_fires_once() {
        let mut w = WatchManager::default();
        w.add_data_watch("/a", 1);
        assert_eq!(w.fire(&created("/a")).len(), 1);
        assert_eq!(w.fire(&created("/a")).len(), 0);
    }

    #[test]
    fn recursive_watch_sees_descendants_but_not_child_changes() {
        let mut w = WatchManager::default();
        w.add_persistent("/a", 1, true);
        let ev = w.fire(&created("/a/b/c"));
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].0.event_type, event_type::NODE_CREATED);
        assert_eq!(ev[0].0.path, "/a/b/c");
        // Still there.
        assert_eq!(w.fire(&created("/a/x")).len(), 1);
    }

    #[test]
    fn persistent_watch_sees_child_changes_of_its_node() {
        let mut w = WatchManager::default();
        w.add_persistent("/a", 1, false);
        let ev = w.fire(&created("/a/b"));
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].0.event_type, event_type::NODE_CHILDREN_CHANGED);
        assert_eq!(ev[0].0.path, "/a");
    }

    #[test]
    fn delete_tells_a_session_once() {
        let mut w = WatchManager::default();
        w.add_data_watch("/a", 1);
        w.add_child_watch("/a", 1);
        w.add_child_watch("/a", 2);
        let t = Trigger::Deleted {
            path: "/a".into(),
            acl: crate::tree::detached_acl(vec![]),
            parent: "/".into(),
            parent_acl: crate::tree::detached_acl(vec![]),
        };
        let ev = w.fire(&t);
        let deleted: Vec<i64> = ev
            .iter()
            .filter(|(n, _)| n.event_type == event_type::NODE_DELETED)
            .map(|(n, _)| n.session_id)
            .collect();
        assert_eq!(deleted, vec![1, 2]);
    }
}
