//! The one place the shell names the client library it drives: the
//! ZooKeeper client, its events and errors, the wire constants the commands
//! pass to it, and the client-side path check. Everything else in the shell
//! reaches them through here, so where the library lives is said once.
//!
//! What the commands do with the client is theirs (`commands/`); how its
//! answers are printed belongs to `format` and `errors`.

pub use zab_core::path::validate_path;
pub use zab_core::proto::{
    add_watch_mode, create_mode, feature as keeper_feature, list_type as keeper_list_type,
    watcher_type, DeleteRequest, ErrorCode, MultiOp,
};
pub use zk_cli::client::{
    event_type_name, keeper_state_name, Client, ClientError, ConnectOptions, State, WatchedEvent,
};
