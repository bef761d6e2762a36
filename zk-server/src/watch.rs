//! Watches: one-shot data, exist and child watches, persistent and
//! persistent-recursive watches (ZooKeeper's `WatchManager`, one table for
//! data and exist watches, one for child watches).
//!
//! Watchers are sessions. A session may hold several modes on one path (a
//! one-shot getChildren watch next to a recursive watch, as ZooKeeper 3.9's
//! `WatchStats`); each fires by its own rules. Firing a trigger returns who
//! gets which event; the caller filters by ACL and delivers.
//!
//! Memory: a table interns each watched path once (a path id) and each watching
//! session once (a slot), so one watch is a `(slot, modes)` pair in its path's map
//! and a path id in its session's set, about 14 bytes plus the maps' free room
//! (docs/performance.md, "Memory per watch"). Only the fire path, `trigger`, and the
//! four-letter words' lists turn ids back into paths and session ids.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::sync::Arc;

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

/// A hasher without per-map keys, for the tables keyed by ids this module hands out
/// itself (path ids, session slots): dense numbers no client chooses, so no
/// flooding to fear, and a map of them carries no 16-byte `RandomState`.
type IdHasher = BuildHasherDefault<DefaultHasher>;

/// A watched path of one table, interned: its text is stored once (shared with the
/// path-to-id index), and the sessions watching it are named by their slot.
#[derive(Debug)]
struct PathEntry {
    path: Arc<str>,
    watchers: Watchers,
}

/// A path's watchers: session slot -> modes. Many paths have one watcher (a
/// session watching nodes no one else does), kept without a map of its own.
#[derive(Debug)]
enum Watchers {
    One(u32, Modes),
    /// 8 bytes a watcher. Empty only on its way out: a path leaves the table
    /// with its last watcher.
    Many(HashMap<u32, Modes, IdHasher>),
}

impl Watchers {
    fn get(&self, slot: u32) -> Option<Modes> {
        match self {
            Watchers::One(s, m) => (*s == slot).then_some(*m),
            Watchers::Many(h) => h.get(&slot).copied(),
        }
    }

    fn insert(&mut self, slot: u32, modes: Modes) {
        match self {
            Watchers::One(s, m) if *s == slot => *m = modes,
            Watchers::One(s, m) => {
                let mut h = HashMap::default();
                h.insert(*s, *m);
                h.insert(slot, modes);
                *self = Watchers::Many(h);
            }
            Watchers::Many(h) if h.is_empty() => *self = Watchers::One(slot, modes),
            Watchers::Many(h) => {
                h.insert(slot, modes);
            }
        }
    }

    fn remove(&mut self, slot: u32) -> Option<Modes> {
        match self {
            Watchers::One(s, m) if *s == slot => {
                let m = *m;
                *self = Watchers::Many(HashMap::default());
                Some(m)
            }
            Watchers::One(..) => None,
            Watchers::Many(h) => h.remove(&slot),
        }
    }

    fn len(&self) -> usize {
        match self {
            Watchers::One(..) => 1,
            Watchers::Many(h) => h.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn iter(&self) -> impl Iterator<Item = (u32, Modes)> + '_ {
        let (one, many) = match self {
            Watchers::One(s, m) => (Some((*s, *m)), None),
            Watchers::Many(h) => (None, Some(h.iter().map(|(&s, &m)| (s, m)))),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

/// A session holding watches in one table.
#[derive(Debug)]
struct SessionEntry {
    id: i64,
    /// The ids of the paths it watches: 4 bytes a watch.
    paths: HashSet<u32, IdHasher>,
}

/// One table (data or child). A watch is one `(slot, modes)` entry in its path's
/// map and one path id in its session's set; the path's text and the session id
/// are each stored once, however many watches name them. Ids and slots are
/// indexes into `paths` and `sessions`, reused once freed; a path or a session
/// leaves the table with its last watch.
#[derive(Default, Debug)]
struct WatchTable {
    path_ids: HashMap<Arc<str>, u32>,
    paths: Vec<Option<PathEntry>>,
    free_paths: Vec<u32>,
    session_slots: HashMap<i64, u32>,
    sessions: Vec<Option<SessionEntry>>,
    free_sessions: Vec<u32>,
    /// Number of (path, session) entries with a recursive watch: while it is
    /// zero, a trigger looks at its own path only.
    recursive: usize,
}

impl WatchTable {
    fn path_entry(&self, id: u32) -> &PathEntry {
        self.paths[id as usize].as_ref().expect("a live path id")
    }

    fn path_entry_mut(&mut self, id: u32) -> &mut PathEntry {
        self.paths[id as usize].as_mut().expect("a live path id")
    }

    fn session_entry_mut(&mut self, slot: u32) -> &mut SessionEntry {
        self.sessions[slot as usize]
            .as_mut()
            .expect("a live session slot")
    }

    /// The modes `session` holds on `path`, with the path's id and the session's
    /// slot when they are in the table.
    fn lookup(&self, path: &str, session: i64) -> (Option<u32>, Option<u32>, Modes) {
        let id = self.path_ids.get(path).copied();
        let slot = self.session_slots.get(&session).copied();
        let modes = match (id, slot) {
            (Some(id), Some(slot)) => self.path_entry(id).watchers.get(slot).unwrap_or_default(),
            _ => Modes::NONE,
        };
        (id, slot, modes)
    }

    fn intern_path(&mut self, path: &str) -> u32 {
        if let Some(&id) = self.path_ids.get(path) {
            return id;
        }
        let path: Arc<str> = path.into();
        let entry = PathEntry {
            path: path.clone(),
            watchers: Watchers::Many(HashMap::default()),
        };
        let id = match self.free_paths.pop() {
            Some(id) => {
                self.paths[id as usize] = Some(entry);
                id
            }
            None => {
                self.paths.push(Some(entry));
                u32::try_from(self.paths.len() - 1).expect("fewer than 2^32 watched paths")
            }
        };
        self.path_ids.insert(path, id);
        id
    }

    fn intern_session(&mut self, session: i64) -> u32 {
        if let Some(&slot) = self.session_slots.get(&session) {
            return slot;
        }
        let entry = SessionEntry {
            id: session,
            paths: HashSet::default(),
        };
        let slot = match self.free_sessions.pop() {
            Some(slot) => {
                self.sessions[slot as usize] = Some(entry);
                slot
            }
            None => {
                self.sessions.push(Some(entry));
                u32::try_from(self.sessions.len() - 1).expect("fewer than 2^32 sessions")
            }
        };
        self.session_slots.insert(session, slot);
        slot
    }

    /// Frees a path nobody watches any more. The last one lets go of the slab too,
    /// so a million watches gone leave no million empty slots behind.
    fn free_path(&mut self, id: u32) {
        let entry = self.paths[id as usize].take().expect("a live path id");
        debug_assert!(entry.watchers.is_empty());
        self.path_ids.remove(&entry.path);
        if self.path_ids.is_empty() {
            self.paths = Vec::new();
            self.free_paths = Vec::new();
        } else {
            self.free_paths.push(id);
        }
    }

    fn free_session(&mut self, slot: u32) {
        let entry = self.sessions[slot as usize]
            .take()
            .expect("a live session slot");
        self.session_slots.remove(&entry.id);
        if self.session_slots.is_empty() {
            self.sessions = Vec::new();
            self.free_sessions = Vec::new();
        } else {
            self.free_sessions.push(slot);
        }
    }

    fn count_recursive(&mut self, old: Modes, new: Modes) {
        let r = Modes::PERSISTENT_RECURSIVE;
        match (old.has(r), new.has(r)) {
            (false, true) => self.recursive += 1,
            (true, false) => self.recursive -= 1,
            _ => {}
        }
    }

    /// Takes a session's watch off an interned path, freeing the path and the
    /// session's slot when that was their last watch.
    fn drop_watch(&mut self, id: u32, slot: u32) {
        let entry = self.path_entry_mut(id);
        entry.watchers.remove(slot);
        if entry.watchers.is_empty() {
            self.free_path(id);
        }
        let s = self.session_entry_mut(slot);
        s.paths.remove(&id);
        if s.paths.is_empty() {
            self.free_session(slot);
        }
    }

    /// Set `session`'s modes on `path` to `f(old)`; returns the old modes.
    fn update(&mut self, path: &str, session: i64, f: impl FnOnce(Modes) -> Modes) -> Modes {
        let (id, slot, old) = self.lookup(path, session);
        let new = f(old);
        if new == old {
            return old;
        }
        self.count_recursive(old, new);
        if new.is_empty() {
            // `old` was not empty, so both are interned.
            let (Some(id), Some(slot)) = (id, slot) else {
                unreachable!("a watch without its path or session")
            };
            self.drop_watch(id, slot);
        } else {
            let id = id.unwrap_or_else(|| self.intern_path(path));
            let slot = slot.unwrap_or_else(|| self.intern_session(session));
            self.path_entry_mut(id).watchers.insert(slot, new);
            if old.is_empty() {
                self.session_entry_mut(slot).paths.insert(id);
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
        self.lookup(path, session).2.has(modes)
    }

    fn remove_session(&mut self, session: i64) {
        let Some(&slot) = self.session_slots.get(&session) else {
            return;
        };
        let paths = std::mem::take(&mut self.session_entry_mut(slot).paths);
        self.free_session(slot);
        for id in paths {
            let entry = self.path_entry_mut(id);
            let modes = entry.watchers.remove(slot).expect("the session's watch");
            let empty = entry.watchers.is_empty();
            if modes.has(Modes::PERSISTENT_RECURSIVE) {
                self.recursive -= 1;
            }
            if empty {
                self.free_path(id);
            }
        }
    }

    /// ZooKeeper's `triggerWatch`: the sessions to notify. On the path itself
    /// every watch fires (a recursive one not for NodeChildrenChanged) and
    /// one-shot watches go; above it only recursive watches fire.
    fn trigger(&mut self, path: &str, ev: i32, out: &mut HashSet<i64>) {
        if self.path_ids.is_empty() {
            // No watch in this table: nothing to hash the path for.
            return;
        }
        let mut local = path;
        let mut at_parent = false;
        let child_event = ev == event_type::NODE_CHILDREN_CHANGED;
        loop {
            if let Some(&id) = self.path_ids.get(local) {
                let mut fired_once = Vec::new();
                for (slot, modes) in self.path_entry(id).watchers.iter() {
                    let recursive = modes.has(Modes::PERSISTENT_RECURSIVE) && !child_event;
                    let here = !at_parent && modes.has(Modes::STANDARD.with(Modes::PERSISTENT));
                    if recursive || here {
                        let s = self.sessions[slot as usize]
                            .as_ref()
                            .expect("a live session slot");
                        out.insert(s.id);
                    }
                    if !at_parent && modes.has(Modes::STANDARD) {
                        fired_once.push((slot, modes));
                    }
                }
                for (slot, modes) in fired_once {
                    let rest = modes.without(Modes::STANDARD);
                    if rest.is_empty() {
                        self.drop_watch(id, slot);
                    } else {
                        self.path_entry_mut(id).watchers.insert(slot, rest);
                    }
                }
            }
            if self.recursive == 0 || local == "/" {
                break;
            }
            local = parent_of(local);
            at_parent = true;
        }
    }

    fn count(&self) -> usize {
        self.paths.iter().flatten().map(|e| e.watchers.len()).sum()
    }

    /// (sessions, paths, slots in the two slabs): what the table holds, for tests
    /// that check what is freed.
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize, usize) {
        (
            self.session_slots.len(),
            self.path_ids.len(),
            self.sessions.len() + self.paths.len(),
        )
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
            self.data.session_slots.len(),
            self.data.path_ids.len(),
            self.data.count(),
        )
    }

    /// wchc: the paths each session watches in the data table.
    pub fn data_by_session(&self) -> Vec<(i64, Vec<String>)> {
        let t = &self.data;
        let mut v: Vec<(i64, Vec<String>)> = t
            .sessions
            .iter()
            .flatten()
            .map(|s| {
                let mut ps: Vec<String> = s
                    .paths
                    .iter()
                    .map(|&id| t.path_entry(id).path.to_string())
                    .collect();
                ps.sort();
                (s.id, ps)
            })
            .collect();
        v.sort();
        v
    }

    /// wchp: the sessions watching each path in the data table.
    pub fn data_by_path(&self) -> Vec<(String, Vec<i64>)> {
        let t = &self.data;
        let mut v: Vec<(String, Vec<i64>)> = t
            .paths
            .iter()
            .flatten()
            .map(|e| {
                let mut s: Vec<i64> = e
                    .watchers
                    .iter()
                    .map(|(slot, _)| {
                        t.sessions[slot as usize]
                            .as_ref()
                            .expect("a live session slot")
                            .id
                    })
                    .collect();
                s.sort();
                (e.path.to_string(), s)
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
            data_len: 0,
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
            data_len: 0,
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

    fn data_changed(path: &str) -> Trigger {
        Trigger::DataChanged {
            path: path.into(),
            acl: crate::tree::detached_acl(vec![]),
            data_len: 0,
        }
    }

    #[test]
    fn a_closed_session_frees_its_slot_and_the_paths_only_it_watched() {
        let mut w = WatchManager::default();
        w.add_data_watch("/a", 1);
        w.add_data_watch("/b", 1);
        w.add_data_watch("/a", 2);
        w.add_persistent("/c", 1, true);
        assert_eq!(w.data.sizes(), (2, 3, 5));
        assert_eq!(w.child.sizes(), (1, 1, 2));
        w.remove_session(1);
        assert_eq!(w.data.sizes(), (1, 1, 5), "/a stays for session 2");
        assert_eq!(w.child.sizes(), (0, 0, 0));
        assert_eq!(w.data.recursive, 0);
        assert_eq!(w.data_by_path(), vec![("/a".to_string(), vec![2])]);
        w.remove_session(2);
        assert_eq!(w.data.sizes(), (0, 0, 0), "the slabs are let go of");
        assert_eq!(w.watch_count(), 0);
        // A session without watches is nothing to remove.
        w.remove_session(3);
        assert_eq!(w.data.sizes(), (0, 0, 0));
    }

    #[test]
    fn a_fired_one_shot_watch_frees_its_path_unless_another_watch_holds_it() {
        let mut w = WatchManager::default();
        w.add_data_watch("/a", 1);
        w.add_persistent("/a", 2, false);
        w.add_data_watch("/b", 2);
        assert_eq!(w.data.sizes(), (2, 2, 4));
        let ev = w.fire(&data_changed("/a"));
        let told: Vec<i64> = ev.iter().map(|(n, _)| n.session_id).collect();
        assert_eq!(told, vec![1, 2]);
        assert_eq!(
            w.data.sizes(),
            (1, 2, 4),
            "session 1 held one watch: its slot is free; /a stays for session 2"
        );
        let ev = w.fire(&data_changed("/b"));
        assert_eq!(ev.len(), 1);
        assert_eq!(w.data.sizes(), (1, 1, 4), "/b is gone");
        assert_eq!(w.data_by_path(), vec![("/a".to_string(), vec![2])]);
        // The persistent watch keeps firing; a one-shot watch next to it goes alone.
        w.add_data_watch("/a", 2);
        assert_eq!(w.fire(&data_changed("/a")).len(), 1);
        assert!(!w.contains("/a", 2, WatcherKind::Data));
        assert!(w.contains("/a", 2, WatcherKind::Persistent));
        assert_eq!(w.data.sizes(), (1, 1, 4));
    }

    #[test]
    fn freed_path_ids_and_session_slots_are_reused() {
        let mut w = WatchManager::default();
        for p in ["/a", "/b", "/c"] {
            w.add_data_watch(p, 1);
        }
        w.add_data_watch("/a", 2);
        assert_eq!(w.data.sizes(), (2, 3, 5));
        assert!(w.remove("/b", 1, WatcherKind::Data));
        w.remove_session(2);
        assert_eq!(w.data.sizes(), (1, 2, 5));
        w.add_data_watch("/d", 3);
        assert_eq!(w.data.sizes(), (2, 3, 5), "no slab grew");
        assert_eq!(
            w.data_by_session(),
            vec![
                (1, vec!["/a".to_string(), "/c".to_string()]),
                (3, vec!["/d".to_string()])
            ]
        );
        assert_eq!(
            w.data_by_path(),
            vec![
                ("/a".to_string(), vec![1]),
                ("/c".to_string(), vec![1]),
                ("/d".to_string(), vec![3])
            ]
        );
        assert_eq!(w.data_summary(), (2, 3, 3));
    }

    /// The scenario of docs/performance.md's Scale section, scaled down: many sessions
    /// on the same paths, then everything fired or closed.
    #[test]
    fn many_sessions_on_many_paths_count_and_free_all() {
        let mut w = WatchManager::default();
        for s in 0..50 {
            for p in 0..40 {
                w.add_data_watch(&format!("/w/n{p}"), 1000 + s);
            }
        }
        assert_eq!(w.watch_count(), 2000);
        assert_eq!(w.data_summary(), (50, 40, 2000));
        for s in 0..25 {
            w.remove_session(1000 + s);
        }
        assert_eq!(w.data_summary(), (25, 40, 1000));
        for p in 0..40 {
            let ev = w.fire(&data_changed(&format!("/w/n{p}")));
            let told: Vec<i64> = ev.iter().map(|(n, _)| n.session_id).collect();
            assert_eq!(told, (1025..1050).collect::<Vec<i64>>());
        }
        assert_eq!(w.data.sizes(), (0, 0, 0));
    }

    #[test]
    fn a_path_keeps_one_watcher_inline_and_a_map_for_more() {
        let mut w = Watchers::Many(HashMap::default());
        assert!(w.is_empty());
        w.insert(3, Modes::STANDARD);
        assert!(matches!(w, Watchers::One(3, Modes::STANDARD)));
        w.insert(3, Modes::STANDARD.with(Modes::PERSISTENT));
        assert!(
            matches!(w, Watchers::One(3, _)),
            "the same watcher, new modes"
        );
        assert_eq!(w.get(3), Some(Modes::STANDARD.with(Modes::PERSISTENT)));
        assert_eq!(w.get(4), None);
        assert_eq!(w.remove(4), None);
        w.insert(4, Modes::PERSISTENT_RECURSIVE);
        assert!(matches!(w, Watchers::Many(_)));
        let mut all: Vec<(u32, Modes)> = w.iter().collect();
        all.sort_by_key(|&(s, _)| s);
        assert_eq!(
            all,
            vec![
                (3, Modes::STANDARD.with(Modes::PERSISTENT)),
                (4, Modes::PERSISTENT_RECURSIVE)
            ]
        );
        assert_eq!(w.remove(3), Some(Modes::STANDARD.with(Modes::PERSISTENT)));
        assert_eq!(w.len(), 1);
        assert_eq!(w.remove(4), Some(Modes::PERSISTENT_RECURSIVE));
        assert!(w.is_empty());
        assert_eq!(w.iter().count(), 0);
        let mut one = Watchers::One(7, Modes::STANDARD);
        assert_eq!(one.remove(7), Some(Modes::STANDARD));
        assert!(one.is_empty());
    }
}
