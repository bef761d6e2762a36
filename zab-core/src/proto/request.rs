//! A client request body decoded by the op code of its header: [`Op`]. The
//! table from op code to record is here; each record, with its layout, is in
//! the module of its operations ([`data`],
//! [`watches`], [`multi`],
//! [`session`]). A connection that sends a body its op's
//! record cannot decode is closed by the server.
//!
//! ```text
//! request := RequestHeader body        ; body by RequestHeader.type, see Op::parse
//! ```
//!
//! The server's request (with its session and connection) is `zk-server`'s;
//! this is only what the bytes say.

use super::*;
use crate::jute::{JuteError, JuteReader, Record};

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
    /// ClickHouse Keeper's extensions ([`keeper`](super::keeper)).
    FilteredList(FilteredListRequest),
    FilteredListWithStats(FilteredListWithStatsRequest),
    CheckNotExists(CheckVersionRequest),
    CheckStat(CheckStatRequest),
    CreateIfNotExists(CreateRequest),
    RemoveRecursive(RemoveRecursiveRequest),
    TryRemove(DeleteRequest),
    ListRecursive(ListRecursiveRequest),
    /// An op code this server does not know.
    Unimplemented(i32),
}

impl Op {
    /// Decode the body of a request whose header carries `op_type`. An op
    /// code this crate does not know is [`Op::Unimplemented`], not an error;
    /// a body that does not decode as its op's record is.
    pub fn parse(op_type: i32, body: &[u8]) -> Result<Op, JuteError> {
        let r = &mut JuteReader::new(body);
        Ok(match op_type {
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER => Op::Create {
                op_type,
                req: CreateRequest::read(r)?,
            },
            op::CREATE_TTL => Op::CreateTtl(CreateTtlRequest::read(r)?),
            op::DELETE => Op::Delete(DeleteRequest::read(r)?),
            op::DELETE_CONTAINER => Op::DeleteContainer {
                path: read_delete_container(body)?,
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
            op::SET_WATCHES => Op::SetWatches(SetWatches::read(r)?.into()),
            op::SET_WATCHES2 => Op::SetWatches(SetWatches2::read(r)?),
            op::ADD_WATCH => Op::AddWatch(AddWatchRequest::read(r)?),
            op::WHO_AM_I => Op::WhoAmI,
            op::PING => Op::Ping,
            op::AUTH => Op::Auth(AuthPacket::read(r)?),
            op::SASL => Op::Sasl(SaslRequest::read(r)?),
            keeper_op::FILTERED_LIST => Op::FilteredList(FilteredListRequest::read(r)?),
            keeper_op::FILTERED_LIST_WITH_STATS_AND_DATA => {
                Op::FilteredListWithStats(FilteredListWithStatsRequest::read(r)?)
            }
            keeper_op::CHECK_NOT_EXISTS => Op::CheckNotExists(CheckVersionRequest::read(r)?),
            keeper_op::CHECK_STAT => Op::CheckStat(CheckStatRequest::read(r)?),
            keeper_op::CREATE_IF_NOT_EXISTS => Op::CreateIfNotExists(CreateRequest::read(r)?),
            keeper_op::REMOVE_RECURSIVE => Op::RemoveRecursive(RemoveRecursiveRequest::read(r)?),
            keeper_op::TRY_REMOVE => Op::TryRemove(DeleteRequest::read(r)?),
            keeper_op::LIST_RECURSIVE => Op::ListRecursive(ListRecursiveRequest::read(r)?),
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
                | Op::CreateIfNotExists(_)
                | Op::RemoveRecursive(_)
                | Op::TryRemove(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::arb;
    use proptest::prelude::*;

    /// Every op code the parser knows, and some it does not.
    fn op_codes() -> Vec<i32> {
        op::ALL
            .iter()
            .copied()
            .chain(keeper_op::ALL)
            .chain([10, 23, 999])
            .collect()
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic_the_parser_of_any_op(
            op_type in prop_oneof![proptest::sample::select(op_codes()), any::<i32>()],
            body: Vec<u8>,
        ) {
            let _ = Op::parse(op_type, &body);
        }

        /// What a client's record encodes, the parser reads back, op by op.
        #[test]
        fn each_op_parses_the_record_a_client_writes(
            create in arb::create_request(),
            ttl in arb::create_ttl_request(),
            pw in arb::path_watch(),
            path in arb::string(),
            version: i32,
            multi in arb::multi_request(),
            watches in proptest::collection::vec(arb::strings(), 5),
            zxid: i64,
            data in arb::opt_bytes(),
            acl in arb::acls(),
            token in arb::bytes(),
        ) {
            let parse = |op_type: i32, r: &dyn Fn(&mut Vec<u8>)| {
                let mut b = Vec::new();
                r(&mut b);
                Op::parse(op_type, &b)
            };
            for t in [op::CREATE, op::CREATE2, op::CREATE_CONTAINER] {
                prop_assert_eq!(
                    parse(t, &|b| create.write(b)),
                    Ok(Op::Create { op_type: t, req: create.clone() })
                );
            }
            prop_assert_eq!(parse(op::CREATE_TTL, &|b| ttl.write(b)), Ok(Op::CreateTtl(ttl.clone())));
            let del = DeleteRequest { path: path.clone(), version };
            prop_assert_eq!(parse(op::DELETE, &|b| del.write(b)), Ok(Op::Delete(del.clone())));
            // ZooKeeper 3.9's DeleteContainerRequest, and 3.8's bare path bytes.
            let dc = PathRequest { path: path.clone() };
            prop_assert_eq!(
                parse(op::DELETE_CONTAINER, &|b| dc.write(b)),
                Ok(Op::DeleteContainer { path: path.clone() })
            );
            let bare = format!("/{path}");
            prop_assert_eq!(
                Op::parse(op::DELETE_CONTAINER, bare.as_bytes()),
                Ok(Op::DeleteContainer { path: bare.clone() })
            );
            let check = CheckVersionRequest { path: path.clone(), version };
            prop_assert_eq!(parse(op::CHECK, &|b| check.write(b)), Ok(Op::Check(check.clone())));
            let set = SetDataRequest { path: path.clone(), data, version };
            prop_assert_eq!(parse(op::SET_DATA, &|b| set.write(b)), Ok(Op::SetData(set.clone())));
            let set_acl = SetAclRequest { path: path.clone(), acl, version };
            prop_assert_eq!(parse(op::SET_ACL, &|b| set_acl.write(b)), Ok(Op::SetAcl(set_acl.clone())));
            let reconfig = ReconfigRequest {
                joining_servers: Some(path.clone()),
                leaving_servers: None,
                new_members: Some(String::new()),
                cur_config_id: zxid,
            };
            prop_assert_eq!(parse(op::RECONFIG, &|b| reconfig.write(b)), Ok(Op::Reconfig(reconfig.clone())));
            let auth = AuthPacket { auth_type: version, scheme: path.clone(), auth: token.clone() };
            prop_assert_eq!(parse(op::AUTH, &|b| auth.write(b)), Ok(Op::Auth(auth.clone())));
            let sasl = SaslRequest { token };
            prop_assert_eq!(parse(op::SASL, &|b| sasl.write(b)), Ok(Op::Sasl(sasl.clone())));
            prop_assert_eq!(parse(op::MULTI, &|b| multi.write(b)), Ok(Op::Multi(multi.clone())));
            prop_assert_eq!(parse(op::MULTI_READ, &|b| multi.write(b)), Ok(Op::MultiRead(multi.clone())));
            prop_assert_eq!(parse(op::EXISTS, &|b| pw.write(b)), Ok(Op::Exists(pw.clone())));
            prop_assert_eq!(parse(op::GET_DATA, &|b| pw.write(b)), Ok(Op::GetData(pw.clone())));
            prop_assert_eq!(parse(op::GET_CHILDREN, &|b| pw.write(b)), Ok(Op::GetChildren(pw.clone())));
            prop_assert_eq!(parse(op::GET_CHILDREN2, &|b| pw.write(b)), Ok(Op::GetChildren2(pw.clone())));
            let p = PathRequest { path: path.clone() };
            prop_assert_eq!(parse(op::GET_ACL, &|b| p.write(b)), Ok(Op::GetAcl(p.clone())));
            prop_assert_eq!(parse(op::SYNC, &|b| p.write(b)), Ok(Op::Sync(p.clone())));
            prop_assert_eq!(parse(op::GET_EPHEMERALS, &|b| p.write(b)), Ok(Op::GetEphemerals(p.clone())));
            prop_assert_eq!(
                parse(op::GET_ALL_CHILDREN_NUMBER, &|b| p.write(b)),
                Ok(Op::GetAllChildrenNumber(p.clone()))
            );
            let w = WatchesRequest { path: path.clone(), watcher_type: version };
            prop_assert_eq!(parse(op::CHECK_WATCHES, &|b| w.write(b)), Ok(Op::CheckWatches(w.clone())));
            prop_assert_eq!(parse(op::REMOVE_WATCHES, &|b| w.write(b)), Ok(Op::RemoveWatches(w.clone())));
            let old = SetWatches {
                relative_zxid: zxid,
                data_watches: watches[0].clone(),
                exist_watches: watches[1].clone(),
                child_watches: watches[2].clone(),
            };
            let new = SetWatches2 {
                relative_zxid: zxid,
                data_watches: watches[0].clone(),
                exist_watches: watches[1].clone(),
                child_watches: watches[2].clone(),
                persistent_watches: watches[3].clone(),
                persistent_recursive_watches: watches[4].clone(),
            };
            prop_assert_eq!(
                parse(op::SET_WATCHES, &|b| old.write(b)),
                Ok(Op::SetWatches(SetWatches2 {
                    persistent_watches: vec![],
                    persistent_recursive_watches: vec![],
                    ..new.clone()
                }))
            );
            prop_assert_eq!(parse(op::SET_WATCHES2, &|b| new.write(b)), Ok(Op::SetWatches(new.clone())));
            let add = AddWatchRequest { path, mode: version };
            prop_assert_eq!(parse(op::ADD_WATCH, &|b| add.write(b)), Ok(Op::AddWatch(add.clone())));
            prop_assert_eq!(Op::parse(op::PING, &[]), Ok(Op::Ping));
            prop_assert_eq!(Op::parse(op::WHO_AM_I, &[]), Ok(Op::WhoAmI));
            prop_assert_eq!(Op::parse(op::CLOSE_SESSION, &[]), Ok(Op::CloseSession));
        }
    }

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
