//! How a command fails, in zkCli's words: [`CliError`] (the message printed
//! on stderr and the exit code), the messages of Java's `KeeperException`
//! and of zkCli's `CliWrapperException` for a failed client call, and the
//! client-side path check as `PathUtils` words it.
//!
//! Which error a command raises, and when, is the command's business; this
//! module only says how each kind reads.

use crate::client_api::{validate_path, ClientError, ErrorCode};

/// A failed command: the message zkCli prints on stderr and its exit code.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub exit_code: i32,
}

impl CliError {
    pub fn new(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            exit_code: 1,
        }
    }
}

/// What a command returns.
pub type CmdResult = Result<(), CliError>;

/// Java's `KeeperException.getCodeMessage`.
pub fn code_message(code: ErrorCode) -> String {
    use ErrorCode::*;
    match code {
        Ok => "ok",
        SystemError => "SystemError",
        RuntimeInconsistency => "RuntimeInconsistency",
        DataInconsistency => "DataInconsistency",
        ConnectionLoss => "ConnectionLoss",
        MarshallingError => "MarshallingError",
        NewConfigNoQuorum => "NewConfigNoQuorum",
        ReconfigInProgress => "ReconfigInProgress",
        Unimplemented => "Unimplemented",
        OperationTimeout => "OperationTimeout",
        BadArguments => "BadArguments",
        ApiError => "APIError",
        NoNode => "NoNode",
        NoAuth => "NoAuth",
        BadVersion => "BadVersion",
        NoChildrenForEphemerals => "NoChildrenForEphemerals",
        NodeExists => "NodeExists",
        InvalidAcl => "InvalidACL",
        AuthFailed => "AuthFailed",
        NotEmpty => "Directory not empty",
        SessionExpired => "Session expired",
        InvalidCallback => "Invalid callback",
        SessionMoved => "Session moved",
        NotReadOnly => "Not a read-only call",
        EphemeralOnLocalSession => "Ephemeral node on local session",
        NoWatcher => "No such watcher",
        ReconfigDisabled => "Reconfig is disabled",
        SessionClosedRequireSaslAuth => "Session closed because client failed to authenticate",
        QuotaExceeded => "Quota has exceeded",
        Throttled => "Op throttled due to high load",
        other => return format!("Unknown error {}", other.code()),
    }
    .to_owned()
}

/// Java's `KeeperException.getMessage`.
pub fn keeper_message(code: ErrorCode, path: &str) -> String {
    if path.is_empty() {
        format!("KeeperErrorCode = {}", code_message(code))
    } else {
        format!("KeeperErrorCode = {} for {path}", code_message(code))
    }
}

/// The message of zkCli's `CliWrapperException` for a failed operation.
pub fn wrap(e: ClientError, path: &str) -> CliError {
    let (code, path) = match &e {
        ClientError::Server { code, path } => (*code, path.as_str()),
        ClientError::ConnectionLoss => (ErrorCode::ConnectionLoss, path),
        ClientError::SessionExpired => (ErrorCode::SessionExpired, path),
        ClientError::AuthFailed => (ErrorCode::AuthFailed, path),
        ClientError::Closed => (ErrorCode::SessionExpired, path),
        other => return CliError::new(other.to_string()),
    };
    use ErrorCode::*;
    let m = match code {
        NoNode => format!("Node does not exist: {path}"),
        NoChildrenForEphemerals => format!("Ephemerals cannot have children: {path}"),
        NodeExists => format!("Node already exists: {path}"),
        NotEmpty => format!("Node not empty: {path}"),
        NotReadOnly => format!("Not a read-only call: {path}"),
        InvalidAcl => format!("Acl is not valid : {path}"),
        NoAuth => format!("Insufficient permission : {path}"),
        BadArguments => format!("Arguments are not valid : {path}"),
        BadVersion => format!("version No is not valid : {path}"),
        ReconfigInProgress => {
            "Another reconfiguration is in progress -- concurrent reconfigs not supported (yet)"
                .to_owned()
        }
        NewConfigNoQuorum => "No quorum of new config is connected and up-to-date with the leader of last commmitted config - try invoking reconfiguration after new servers are connected and synced".to_owned(),
        QuotaExceeded => format!("Quota has exceeded : {path}"),
        _ => keeper_message(code, path),
    };
    CliError::new(m)
}

/// ZooKeeper's client-side path check; the message as Java's `PathUtils`.
pub fn check_path(path: &str) -> CmdResult {
    validate_path(path).map_err(|m| {
        let mut c = m.chars();
        let m = match c.next() {
            Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
            None => m,
        };
        CliError::new(m)
    })
}

/// A failed call's message as `KeeperException.getMessage` gives it, without
/// zkCli's wrapping: what `setAcl -R` prints for each node it could not change.
pub fn wrap_plain(e: ClientError, path: &str) -> String {
    match e.code() {
        Some(c) => keeper_message(c, path),
        None => e.to_string(),
    }
}
