//! Watches: one-shot data, exist and child watches, persistent and
//! persistent-recursive watches (ZooKeeper's `WatchManager`, one table for
//! data and exist watches, one for child watches).
//!
//! Watchers are sessions. A session may hold several modes on one path (a
//! one-shot getChildren watch next to a recursive watch, as ZooKeeper 3.9's
//! `WatchStats`); each fires by its own rules. Firing a trigger returns who
//! gets which event; the caller filters by ACL and delivers.

use std::collections::{HashMap, HashSet};

use zab_core::proto::event_type;

use crate::tree::{parent_of, Trigger};

/// The modes one session holds on one path of one table, as bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Modes(u8);

impl Modes {
    pub const NONE: Modes = Modes(0);
    /// A one-shot watch (getData, exists, getChildren).
    pub const STANDARD: Modes = Modes(1);
    pub const PERSISTENT: Modes = Modes(2);
    pub const PERSISTENT_RECURSIVE: Modes = Modes(4);
    pub const ALL: Modes = Modes(7);

    pub fn has(self, m: Modes) -> bool {
        self.0 & m.0 != 0
    }

    fn with(self, m: Modes) -> Modes {
        Modes(self.0 | m.0)
    }

    fn without(self, m: Modes) -> Modes {
        Modes(self.0 & !m.0)
    }

    fn is_empty(self) -> bool {
        self.0 == 0
    }
}

#[derive(Default, Debug)]
struct WatchTable {
    by_path: HashMap<String, HashMap<i64, Modes>>,
    by_session: HashMap<i64, HashSet<String>>,
    /// Number of (path, session) entries with a recursive watch: while it is
    /// zero, a trigger looks at its own path only.
    recursive: usize,
}

impl WatchTable {
    /// Set `session`'s modes on `path` to `f(old)`; returns the old modes.
    fn update(&mut self, path: &str, session: i64, f: impl FnOnce(Modes) -> Modes) -> Modes {
        let old = self
            .by_path
            .get(path)
            .and_then(|w| w.get(&session))
            .copied()
            .unwrap_or_default();
        let new = f(old);
        if new == old {
            return old;
        }
        let r = Modes::PERSISTENT_RECURSIVE;
        match (old.has(r), new.has(r)) {
            (false, true) => self.recursive += 1,
            (true, false) => self.recursive -= 1,
            _ => {}
        }
        if new.is_empty() {
            if let Some(w) = self.by_path.get_mut(path) {
                w.remove(&session);
                if w.is_empty() {
                    self.by_path.remove(path);
                }
            }
            if let Some(ps) = self.by_session.get_mut(&session) {
                ps.remove(path);
                if ps.is_empty() {
                    self.by_session.remove(&session);
                }
            }
        } else {
            self.by_path
                .entry(path.to_owned())
                .or_default()
                .insert(session, new);
            if old.is_empty() {
                self.by_session
                    .entry(session)
                    .or_default()
                    .insert(path.to_owned());
            }
        }
        old
    }

    fn add(&mut self, path: &str, session: i64, mode: Modes) {
        self.update(path, session, |m| m.with(mode));
    }

    /// Remove the given modes; true if the session held any of them.
    fn remove(&mut self, path: &str, session: i64, modes: Modes) -> bool {
        self.update(path, session, |m| m.without(modes)).has(modes)
    }

    fn contains(&self, path: &str, session: i64, modes: Modes) -> bool {
        self.by_path
            .get(path)
            .and_then(|w| w.get(&session))
            .is_some_and(|m| m.has(modes))
    }

    fn remove_session(&mut self, session: i64) {
        if let Some(paths) = self.by_session.remove(&session) {
            for p in paths {
                if let Some(w) = self.by_path.get_mut(&p) {
                    if w.remove(&session)
                        .is_some_and(|m| m.has(Modes::PERSISTENT_RECURSIVE))
                    {
                        self.recursive -= 1;
                    }
                    if w.is_empty() {
                        self.by_path.remove(&p);
                    }
                }
            }
        }
    }

    /// ZooKeeper's `triggerWatch`: the sessions to notify. On the path itself
    /// every watch fires (a recursive one not for NodeChildrenChanged) and
    /// one-shot watches go; above it only recursive watches fire.
    fn trigger(&mut self, path: &str, ev: i32, out: &mut HashSet<i64>) {
        let mut local = path;
        let mut at_parent = false;
        let child_event = ev == event_type::NODE_CHILDREN_CHANGED;
        loop {
            let mut fired_once = Vec::new();
            if let Some(w) = self.by_path.get(local) {
                for (&s, &modes) in w {
                    let recursive = modes.has(Modes::PERSISTENT_RECURSIVE) && !child_event;
                    let here = !at_parent && modes.has(Modes::STANDARD.with(Modes::PERSISTENT));
                    if recursive || here {
                        out.insert(s);
                    }
                    if !at_parent && modes.has(Modes::STANDARD) {
                        fired_once.push(s);
                    }
                }
            }
            for s in fired_once {
                self.remove(local, s, Modes::STANDARD);
            }
            if self.recursive == 0 || local == "/" {
                break;
            }
            local = parent_of(local);
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
    /// Shared by every notification of one event: firing to 10,000 watchers does not
    /// copy the path 10,000 times.
    pub path: std::sync::Arc<str>,
}

/// Both watch tables.
#[derive(Default, Debug)]
pub struct WatchManager {
    data: WatchTable,
    child: WatchTable,
}

/// What a checkWatches / removeWatches request names (`Watcher.WatcherType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatcherKind {
    /// One-shot child watches.
    Children,
    /// One-shot data and exist watches.
    Data,
    /// Every watch of the path, in both tables.
    Any,
    /// ZooKeeper 3.9: persistent watches.
    Persistent,
    /// ZooKeeper 3.9: persistent recursive watches.
    PersistentRecursive,
}

impl WatcherKind {
    /// `WatcherType.fromInt`; `None` for a type ZooKeeper does not know.
    pub fn from_wire(t: i32) -> Option<WatcherKind> {
        use zab_core::proto::watcher_type as w;
        Some(match t {
            w::CHILDREN => WatcherKind::Children,
            w::DATA => WatcherKind::Data,
            w::ANY => WatcherKind::Any,
            w::PERSISTENT => WatcherKind::Persistent,
            w::PERSISTENT_RECURSIVE => WatcherKind::PersistentRecursive,
            _ => return None,
        })
    }
}

impl WatchManager {
    pub fn add_data_watch(&mut self, path: &str, session: i64) {
        self.data.add(path, session, Modes::STANDARD);
    }

    pub fn add_child_watch(&mut self, path: &str, session: i64) {
        self.child.add(path, session, Modes::STANDARD);
    }

    /// addWatch: a persistent watch goes into both tables, as in ZooKeeper.
    pub fn add_persistent(&mut self, path: &str, session: i64, recursive: bool) {
        let mode = if recursive {
            Modes::PERSISTENT_RECURSIVE
        } else {
            Modes::PERSISTENT
        };
        self.data.add(path, session, mode);
        self.child.add(path, session, mode);
    }

    /// removeWatches, as ZooKeeper 3.9's `DataTree.removeWatch`.
    pub fn remove(&mut self, path: &str, session: i64, kind: WatcherKind) -> bool {
        let both = |w: &mut Self, m: Modes| {
            let c = w.child.remove(path, session, m);
            let d = w.data.remove(path, session, m);
            c || d
        };
        match kind {
            WatcherKind::Children => self.child.remove(path, session, Modes::STANDARD),
            WatcherKind::Data => self.data.remove(path, session, Modes::STANDARD),
            WatcherKind::Any => both(self, Modes::ALL),
            WatcherKind::Persistent => both(self, Modes::PERSISTENT),
            WatcherKind::PersistentRecursive => both(self, Modes::PERSISTENT_RECURSIVE),
        }
    }

    /// checkWatches, as ZooKeeper 3.9's `DataTree.containsWatcher`.
    pub fn contains(&self, path: &str, session: i64, kind: WatcherKind) -> bool {
        match kind {
            WatcherKind::Children => self.child.contains(path, session, Modes::STANDARD),
            WatcherKind::Data => self.data.contains(path, session, Modes::STANDARD),
            WatcherKind::Any => {
                self.child.contains(path, session, Modes::ALL)
                    || self.data.contains(path, session, Modes::ALL)
            }
            WatcherKind::Persistent => self.child.contains(path, session, Modes::PERSISTENT),
            WatcherKind::PersistentRecursive => {
                self.child
                    .contains(path, session, Modes::PERSISTENT_RECURSIVE)
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
            if set.is_empty() {
                return;
            }
            let mut v: Vec<i64> = set.into_iter().collect();
            v.sort_unstable();
            let path: std::sync::Arc<str> = path.into();
            for s in v {
                out.push((
                    Notification {
                        session_id: s,
                        event_type: ev,
                        path: path.clone(),
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

    /// Number of watches in both tables (mntr's `zk_watch_count`).
    pub fn watch_count(&self) -> usize {
        self.data.count() + self.child.count()
    }

    /// wchs: sessions, paths and watches of the data table, as ZooKeeper's
    /// `getWatchesSummary`.
    pub fn data_summary(&self) -> (usize, usize, usize) {
        (
            self.data.by_session.len(),
            self.data.by_path.len(),
            self.data.count(),
        )
    }

    /// wchc: the paths each session watches in the data table.
    pub fn data_by_session(&self) -> Vec<(i64, Vec<String>)> {
        let mut v: Vec<(i64, Vec<String>)> = self
            .data
            .by_session
            .iter()
            .map(|(s, ps)| {
                let mut ps: Vec<String> = ps.iter().cloned().collect();
                ps.sort();
                (*s, ps)
            })
            .collect();
        v.sort();
        v
    }

    /// wchp: the sessions watching each path in the data table.
    pub fn data_by_path(&self) -> Vec<(String, Vec<i64>)> {
        let mut v: Vec<(String, Vec<i64>)> = self
            .data
            .by_path
            .iter()
            .map(|(p, w)| {
                let mut s: Vec<i64> = w.keys().copied().collect();
                s.sort();
                (p.clone(), s)
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
        assert_eq!(&*ev[0].0.path, "/a/b/c");
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
        assert_eq!(&*ev[0].0.path, "/a");
    }

    fn children_changed(ev: &[(Notification, bool)]) -> Vec<&str> {
        ev.iter()
            .filter(|(n, _)| n.event_type == event_type::NODE_CHILDREN_CHANGED)
            .map(|(n, _)| &*n.path)
            .collect()
    }

    #[test]
    fn one_shot_child_watch_fires_next_to_a_recursive_watch() {
        let mut w = WatchManager::default();
        w.add_persistent("/a", 1, true);
        w.add_child_watch("/a", 1);
        let ev = w.fire(&created("/a/x"));
        assert_eq!(children_changed(&ev), vec!["/a"]);
        assert_eq!(
            ev.len(),
            2,
            "NodeCreated /a/x from the recursive watch: {ev:?}"
        );
        // The one-shot watch is gone; the recursive one stays.
        let ev = w.fire(&created("/a/y"));
        assert!(children_changed(&ev).is_empty());
        assert_eq!(ev.len(), 1);
        assert!(w.contains("/a", 1, WatcherKind::PersistentRecursive));
        assert!(!w.contains("/a", 1, WatcherKind::Children));
    }

    #[test]
    fn persistent_watch_survives_a_one_shot_watch_on_the_same_path() {
        let mut w = WatchManager::default();
        w.add_persistent("/a", 1, false);
        w.add_data_watch("/a", 1);
        let changed = || Trigger::DataChanged {
            path: "/a".into(),
            acl: crate::tree::detached_acl(vec![]),
        };
        assert_eq!(w.fire(&changed()).len(), 1, "one event per session");
        assert_eq!(w.fire(&changed()).len(), 1);
        assert!(!w.contains("/a", 1, WatcherKind::Data));
    }

    #[test]
    fn remove_and_check_by_type_as_zookeeper_3_9() {
        let mut w = WatchManager::default();
        w.add_persistent("/a", 1, false);
        w.add_persistent("/a", 1, true);
        w.add_data_watch("/a", 1);
        assert!(!w.contains("/a", 1, WatcherKind::Children));
        assert!(w.contains("/a", 1, WatcherKind::Data));
        assert!(!w.contains("/a", 2, WatcherKind::Any));
        assert!(w.remove("/a", 1, WatcherKind::PersistentRecursive));
        assert!(!w.remove("/a", 1, WatcherKind::PersistentRecursive));
        assert!(w.contains("/a", 1, WatcherKind::Persistent));
        // Only the recursive watch saw the grandchild.
        assert!(w.fire(&created("/a/b/c")).is_empty());
        assert!(w.remove("/a", 1, WatcherKind::Persistent));
        assert!(
            w.contains("/a", 1, WatcherKind::Any),
            "the data watch is left"
        );
        assert!(w.remove("/a", 1, WatcherKind::Any));
        assert!(!w.contains("/a", 1, WatcherKind::Any));
        assert_eq!(w.watch_count(), 0);
        assert_eq!(WatcherKind::from_wire(0), None);
        assert_eq!(WatcherKind::from_wire(6), None);
    }

    #[test]
    fn nested_recursive_watches_tell_a_session_once() {
        let mut w = WatchManager::default();
        w.add_persistent("/n", 1, true);
        w.add_persistent("/n/a", 1, true);
        let ev = w.fire(&created("/n/a/b"));
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].0.event_type, event_type::NODE_CREATED);
    }

    /// ZooKeeper 3.9 (ZOOKEEPER-4466) keeps both modes; 3.8 would replace PERSISTENT by
    /// PERSISTENT_RECURSIVE and send no NodeChildrenChanged (docs/compatibility.md, Watches).
    #[test]
    fn zookeeper_4466_a_recursive_watch_does_not_replace_a_persistent_one() {
        let mut w = WatchManager::default();
        w.add_persistent("/m", 1, false);
        w.add_persistent("/m", 1, true);
        let ev = w.fire(&created("/m/c"));
        let got: Vec<(i32, &str)> = ev.iter().map(|(n, _)| (n.event_type, &*n.path)).collect();
        assert_eq!(
            got,
            vec![
                (event_type::NODE_CREATED, "/m/c"),
                (event_type::NODE_CHILDREN_CHANGED, "/m")
            ]
        );
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
