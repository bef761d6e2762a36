//! The watches a session holds, as the client keeps them to restore after a
//! reconnect (`SetWatches2`) and to answer Java's `removeAllWatches`
//! locally. Paths here are the server's (chroot included).

use std::collections::HashSet;

use zab_core::proto::{event_type, watcher_type, SetWatches2};

use super::WatchedEvent;

/// A watch to register once the request that asked for it succeeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WatchKind {
    Data,
    Exist,
    Child,
    Persistent,
    PersistentRecursive,
}

/// The current registrations the client would restore after a reconnect.
#[derive(Default)]
pub(crate) struct Watches {
    data: HashSet<String>,
    exist: HashSet<String>,
    child: HashSet<String>,
    persistent: HashSet<String>,
    recursive: HashSet<String>,
}

impl Watches {
    pub(crate) fn add(&mut self, kind: WatchKind, path: String) {
        match kind {
            WatchKind::Data => self.data.insert(path),
            WatchKind::Exist => self.exist.insert(path),
            WatchKind::Child => self.child.insert(path),
            WatchKind::Persistent => self.persistent.insert(path),
            WatchKind::PersistentRecursive => self.recursive.insert(path),
        };
    }

    /// One-shot watches fire once: forget those the event consumed.
    pub(crate) fn fired(&mut self, ev: &WatchedEvent) {
        let Some(p) = ev.path.as_deref() else { return };
        match ev.event_type {
            event_type::NODE_CREATED | event_type::NODE_DATA_CHANGED => {
                self.data.remove(p);
                self.exist.remove(p);
            }
            event_type::NODE_DELETED => {
                self.data.remove(p);
                self.exist.remove(p);
                self.child.remove(p);
            }
            event_type::NODE_CHILDREN_CHANGED => {
                self.child.remove(p);
            }
            _ => {}
        }
    }

    /// Java's `ZKWatchManager.containsWatcher`: whether a removeWatches of
    /// `wt` on `path` has anything of ours to remove.
    pub(crate) fn contains(&self, path: &str, wt: i32) -> bool {
        let child = self.child.contains(path);
        let data = self.data.contains(path) || self.exist.contains(path);
        let persistent = self.persistent.contains(path) || self.recursive.contains(path);
        match wt {
            watcher_type::CHILDREN => child,
            watcher_type::DATA => data,
            _ => child || data || persistent,
        }
    }

    /// Remove the watches of `wt` on `path`; returns the removal event type
    /// of each kind removed (Java's `ZKWatchManager.removeWatcher`).
    pub(crate) fn remove(&mut self, path: &str, wt: i32) -> Vec<i32> {
        let mut removed = Vec::new();
        if wt != watcher_type::DATA && self.child.remove(path) {
            removed.push(event_type::CHILD_WATCH_REMOVED);
        }
        if wt != watcher_type::CHILDREN {
            let data = self.data.remove(path);
            if self.exist.remove(path) || data {
                removed.push(event_type::DATA_WATCH_REMOVED);
            }
        }
        if wt == watcher_type::ANY {
            let persistent = self.persistent.remove(path);
            if self.recursive.remove(path) || persistent {
                removed.push(event_type::PERSISTENT_WATCH_REMOVED);
            }
        }
        removed
    }

    pub(crate) fn forget(&mut self, path: &str, wt: i32) {
        if wt == watcher_type::DATA || wt == watcher_type::ANY {
            self.data.remove(path);
            self.exist.remove(path);
        }
        if wt == watcher_type::CHILDREN || wt == watcher_type::ANY {
            self.child.remove(path);
        }
        if wt == watcher_type::ANY {
            self.persistent.remove(path);
            self.recursive.remove(path);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exist.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.recursive.is_empty()
    }

    pub(crate) fn to_set_watches(&self, relative_zxid: i64) -> SetWatches2 {
        let v = |s: &HashSet<String>| s.iter().cloned().collect::<Vec<_>>();
        SetWatches2 {
            relative_zxid,
            data_watches: v(&self.data),
            exist_watches: v(&self.exist),
            child_watches: v(&self.child),
            persistent_watches: v(&self.persistent),
            persistent_recursive_watches: v(&self.recursive),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_removal_by_watcher_type() {
        let mut w = Watches::default();
        w.add(WatchKind::Data, "/a".into());
        w.add(WatchKind::Child, "/a".into());
        w.add(WatchKind::PersistentRecursive, "/a".into());
        w.add(WatchKind::Exist, "/b".into());
        assert!(w.contains("/b", watcher_type::DATA));
        assert!(!w.contains("/b", watcher_type::CHILDREN));
        assert_eq!(
            w.remove("/a", watcher_type::CHILDREN),
            vec![event_type::CHILD_WATCH_REMOVED]
        );
        assert!(!w.contains("/a", watcher_type::CHILDREN));
        assert_eq!(
            w.remove("/a", watcher_type::ANY),
            vec![
                event_type::DATA_WATCH_REMOVED,
                event_type::PERSISTENT_WATCH_REMOVED
            ]
        );
        assert!(!w.contains("/a", watcher_type::ANY));
        assert_eq!(
            w.remove("/b", watcher_type::DATA),
            vec![event_type::DATA_WATCH_REMOVED]
        );
        assert!(w.is_empty());
    }
}
