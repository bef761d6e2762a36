//! A client request decoded from its frame: the request header's op code
//! picks the record. A body that does not decode closes the connection.

use bytes::Bytes;
use zab_core::jute::{JuteError, JuteReader, Record};

use crate::proto::*;

/// One decoded client request body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// create, create2 and createContainer share a record; `op_type` tells them apart.
    Create {
        op_type: i32,
        req: CreateRequest,
    },
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    /// deleteContainer: a DeleteContainerRequest (3.9) or the bare path bytes (3.8).
    DeleteContainer {
        path: String,
    },
    SetData(SetDataRequest),
    SetAcl(SetAclRequest),
    /// check outside multi: ZooKeeper 3.8 makes it a transaction and sends no
    /// reply when it succeeds.
    Check(CheckVersionRequest),
    Reconfig(ReconfigRequest),
    Multi(MultiRequest),
    CloseSession,
    Exists(PathWatchRequest),
    GetData(PathWatchRequest),
    GetChildren(PathWatchRequest),
    GetChildren2(PathWatchRequest),
    GetAcl(PathRequest),
    Sync(PathRequest),
    GetAllChildrenNumber(PathRequest),
    GetEphemerals(PathRequest),
    MultiRead(MultiRequest),
    CheckWatches(WatchesRequest),
    RemoveWatches(WatchesRequest),
    /// setWatches arrives as setWatches2 with no persistent watches.
    SetWatches(SetWatches2),
    AddWatch(AddWatchRequest),
    WhoAmI,
    Ping,
    Auth(AuthPacket),
    Sasl(SaslRequest),
    /// An op code this server does not know.
    Unimplemented(i32),
}

impl Op {
    pub fn parse(op_type: i32, body: &[u8]) -> Result<Op, JuteError> {
        let r = &mut JuteReader::new(body);
        Ok(match op_type {
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER => Op::Create {
                op_type,
                req: CreateRequest::read(r)?,
            },
            op::CREATE_TTL => Op::CreateTtl(CreateTtlRequest::read(r)?),
            op::DELETE => Op::Delete(DeleteRequest::read(r)?),
            // ZooKeeper 3.9 sends a DeleteContainerRequest (a ustring); 3.8's
            // own container manager passed the bare path bytes, which start
            // with '/' where a ustring starts with its length.
            op::DELETE_CONTAINER if body.first() == Some(&b'/') => Op::DeleteContainer {
                path: String::from_utf8(body.to_vec())
                    .map_err(|_| JuteError::InvalidUtf8 { offset: 0 })?,
            },
            op::DELETE_CONTAINER => Op::DeleteContainer {
                path: PathRequest::read(r)?.path,
            },
            op::SET_DATA => Op::SetData(SetDataRequest::read(r)?),
            op::SET_ACL => Op::SetAcl(SetAclRequest::read(r)?),
            op::CHECK => Op::Check(CheckVersionRequest::read(r)?),
            op::RECONFIG => Op::Reconfig(ReconfigRequest::read(r)?),
            op::MULTI => Op::Multi(MultiRequest::read(r)?),
            op::CLOSE_SESSION => Op::CloseSession,
            op::EXISTS => Op::Exists(PathWatchRequest::read(r)?),
            op::GET_DATA => Op::GetData(PathWatchRequest::read(r)?),
            op::GET_CHILDREN => Op::GetChildren(PathWatchRequest::read(r)?),
            op::GET_CHILDREN2 => Op::GetChildren2(PathWatchRequest::read(r)?),
            op::GET_ACL => Op::GetAcl(PathRequest::read(r)?),
            op::SYNC => Op::Sync(PathRequest::read(r)?),
            op::GET_ALL_CHILDREN_NUMBER => Op::GetAllChildrenNumber(PathRequest::read(r)?),
            op::GET_EPHEMERALS => Op::GetEphemerals(PathRequest::read(r)?),
            op::MULTI_READ => Op::MultiRead(MultiRequest::read(r)?),
            op::CHECK_WATCHES => Op::CheckWatches(WatchesRequest::read(r)?),
            op::REMOVE_WATCHES => Op::RemoveWatches(WatchesRequest::read(r)?),
            op::SET_WATCHES => {
                let s = SetWatches::read(r)?;
                Op::SetWatches(SetWatches2 {
                    relative_zxid: s.relative_zxid,
                    data_watches: s.data_watches,
                    exist_watches: s.exist_watches,
                    child_watches: s.child_watches,
                    persistent_watches: vec![],
                    persistent_recursive_watches: vec![],
                })
            }
            op::SET_WATCHES2 => Op::SetWatches(SetWatches2::read(r)?),
            op::ADD_WATCH => Op::AddWatch(AddWatchRequest::read(r)?),
            op::WHO_AM_I => Op::WhoAmI,
            op::PING => Op::Ping,
            op::AUTH => Op::Auth(AuthPacket::read(r)?),
            op::SASL => Op::Sasl(SaslRequest::read(r)?),
            other => Op::Unimplemented(other),
        })
    }

    /// Whether the op becomes a transaction (goes through the write path).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Op::Create { .. }
                | Op::CreateTtl(_)
                | Op::Delete(_)
                | Op::DeleteContainer { .. }
                | Op::SetData(_)
                | Op::SetAcl(_)
                | Op::Check(_)
                | Op::Reconfig(_)
                | Op::Multi(_)
                | Op::CloseSession
        )
    }
}

/// A request as it travels from a connection to the server core.
#[derive(Clone, Debug)]
pub struct Request {
    pub session_id: i64,
    pub conn_id: u64,
    pub xid: i32,
    pub op_type: i32,
    pub op: Op,
    /// The raw body (kept for the log of a write and for `cons`).
    pub body: Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_container_reads_both_body_forms() {
        let jute = PathRequest { path: "/c".into() }.to_bytes();
        for body in [&b"/c"[..], &jute[..]] {
            assert_eq!(
                Op::parse(op::DELETE_CONTAINER, body).unwrap(),
                Op::DeleteContainer { path: "/c".into() }
            );
        }
        assert!(Op::parse(op::DELETE_CONTAINER, &[0, 0, 0, 9, b'/']).is_err());
    }
}
