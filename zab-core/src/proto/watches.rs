//! Watches: the event a server sends when a watch fires, and the operations
//! that set, restore, check and remove watches.
//!
//! ```text
//! ; operation (op code)                 request                 -> response body
//! watch event (xid -1, no request)                              -> WatcherEvent
//! setWatches (101, xid -8)              SetWatches              -> none
//! setWatches2 (105, xid -8)             SetWatches2             -> none
//! addWatch (106)                        AddWatchRequest         -> IntResponse (data.rs)
//! checkWatches (17)                     WatchesRequest          -> none
//! removeWatches (18)                    WatchesRequest          -> none
//!
//! WatcherEvent    := int(type) int(state) ustring(path)    ; type: event_type, state: keeper_state
//! SetWatches      := long(relativeZxid) vector<ustring>(dataWatches)
//!                    vector<ustring>(existWatches) vector<ustring>(childWatches)
//! SetWatches2     := SetWatches's fields vector<ustring>(persistentWatches)
//!                    vector<ustring>(persistentRecursiveWatches)
//! AddWatchRequest := ustring(path) int(mode)                ; mode: add_watch_mode
//! WatchesRequest  := ustring(path) int(type)                ; type: watcher_type
//! ```
//!
//! A client restores its watches after a reconnect with setWatches2 (older
//! clients with setWatches, read here as a setWatches2 without persistent
//! watches).

use crate::jute::record;

/// Watched event types (`Watcher.Event.EventType`).
pub mod event_type {
    pub const NONE: i32 = -1;
    pub const NODE_CREATED: i32 = 1;
    pub const NODE_DELETED: i32 = 2;
    pub const NODE_DATA_CHANGED: i32 = 3;
    pub const NODE_CHILDREN_CHANGED: i32 = 4;
    pub const DATA_WATCH_REMOVED: i32 = 5;
    pub const CHILD_WATCH_REMOVED: i32 = 6;
    pub const PERSISTENT_WATCH_REMOVED: i32 = 7;
}

/// Client states carried in watch events (`Watcher.Event.KeeperState`).
pub mod keeper_state {
    pub const DISCONNECTED: i32 = 0;
    pub const SYNC_CONNECTED: i32 = 3;
    pub const AUTH_FAILED: i32 = 4;
    pub const CONNECTED_READ_ONLY: i32 = 5;
    pub const SASL_AUTHENTICATED: i32 = 6;
    pub const EXPIRED: i32 = -112;
    pub const CLOSED: i32 = 7;
}

/// Watcher types of checkWatches / removeWatches (`Watcher.WatcherType`).
pub mod watcher_type {
    pub const CHILDREN: i32 = 1;
    pub const DATA: i32 = 2;
    pub const ANY: i32 = 3;
    /// ZooKeeper 3.9.
    pub const PERSISTENT: i32 = 4;
    /// ZooKeeper 3.9.
    pub const PERSISTENT_RECURSIVE: i32 = 5;
}

/// addWatch modes (`AddWatchMode`).
pub mod add_watch_mode {
    pub const PERSISTENT: i32 = 0;
    pub const PERSISTENT_RECURSIVE: i32 = 1;
}

record! {
    WatcherEvent { event_type: i32 = int, state: i32 = int, path: String = ustring }

    /// checkWatches and removeWatches.
    WatchesRequest { path: String = ustring, watcher_type: i32 = int }

    SetWatches {
        relative_zxid: i64 = long,
        data_watches: Vec<String> = ustrings,
        exist_watches: Vec<String> = ustrings,
        child_watches: Vec<String> = ustrings,
    }

    SetWatches2 {
        relative_zxid: i64 = long,
        data_watches: Vec<String> = ustrings,
        exist_watches: Vec<String> = ustrings,
        child_watches: Vec<String> = ustrings,
        persistent_watches: Vec<String> = ustrings,
        persistent_recursive_watches: Vec<String> = ustrings,
    }

    AddWatchRequest { path: String = ustring, mode: i32 = int }
}

/// A setWatches is a setWatches2 without persistent watches.
impl From<SetWatches> for SetWatches2 {
    fn from(s: SetWatches) -> SetWatches2 {
        SetWatches2 {
            relative_zxid: s.relative_zxid,
            data_watches: s.data_watches,
            exist_watches: s.exist_watches,
            child_watches: s.child_watches,
            persistent_watches: vec![],
            persistent_recursive_watches: vec![],
        }
    }
}
