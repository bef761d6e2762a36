//! multi and multiRead: several operations in one request, answered with
//! one result each. A multi is one transaction: all of its operations
//! happen, or none (the results then carry the first failure's code and
//! rollback markers). A multiRead's results stand alone.
//!
//! ```text
//! ; operation (op code)                 request                 -> response body
//! multi (14)                            multi request           -> multi response
//! multiRead (22)                        multi request           -> multi response
//!
//! multi request  := (MultiHeader(type, false, -1) op-body)* MultiHeader(-1, true, -1)
//! multi response := (MultiHeader(type, false, err) result-body)* MultiHeader(-1, true, -1)
//! MultiHeader    := int(type) boolean(done) int(err)
//! op-body        := by type: CreateRequest (create, create2, createContainer),
//!                   CreateTtlRequest, DeleteRequest, SetDataRequest,
//!                   CheckVersionRequest, PathWatchRequest (getChildren, getData)
//! result-body    := by type: ustring(path) (create) | ustring(path) Stat (create2)
//!                   | none (delete, check) | Stat (setData)
//!                   | vector<ustring> (getChildren) | buffer Stat (getData)
//!                   | int(err) (error, -1)
//! ```
//!
//! A multi may also carry ClickHouse Keeper's write extensions
//! ([`keeper`](super::keeper)): checkNotExists (501, CheckVersionRequest),
//! createIfNotExists (502, CreateRequest), removeRecursive (503,
//! RemoveRecursiveRequest), checkStat (504, CheckStatRequest) and tryRemove
//! (505, DeleteRequest). Their results: checkNotExists (501) none,
//! createIfNotExists (502) ustring(path), removeRecursive (503) none;
//! tryRemove answers as delete (2) and checkStat as check (13).
//! A multiRead may carry exists (3), filteredList (500, result type 12:
//! vector<ustring> Stat) and filteredListWithStatsAndData (506, result type
//! 506: FilteredListWithStatsResponse), as ClickHouse's client sends them.
//!
//! The records of the operations are in [`data`](super::data).

use bytes::{BufMut, Bytes};

use super::data::{
    create_mode, CheckVersionRequest, CreateRequest, CreateTtlRequest, DeleteRequest,
    PathWatchRequest, SetDataRequest,
};
use super::keeper::{
    keeper_op, CheckStatRequest, FilteredListRequest, FilteredListWithStatsRequest,
    FilteredListWithStatsResponse, RemoveRecursiveRequest,
};
use crate::jute::{self, record, JuteError, JuteReader, Record};
use crate::records::{op, Stat};

record! {
    MultiHeader { op_type: i32 = int, done: bool = boolean, err: i32 = int }
}

/// One operation of a multi or multiRead request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiOp {
    Create {
        op_type: i32,
        req: CreateRequest,
    },
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    SetData(SetDataRequest),
    Check(CheckVersionRequest),
    GetChildren(PathWatchRequest),
    GetData(PathWatchRequest),
    /// ClickHouse Keeper's write extensions.
    CheckNotExists(CheckVersionRequest),
    CheckStat(CheckStatRequest),
    CreateIfNotExists(CreateRequest),
    RemoveRecursive(RemoveRecursiveRequest),
    TryRemove(DeleteRequest),
    /// Reads ClickHouse's client puts in a multiRead once the server
    /// offers MULTI_READ (Apache's multiRead has only getChildren and getData).
    Exists(PathWatchRequest),
    FilteredList(FilteredListRequest),
    /// filteredListWithStatsAndData (506) inside a multiRead: ClickHouse's
    /// `getChildren(paths, type, with_stat, with_data)` sends one per path.
    FilteredListWithStats(FilteredListWithStatsRequest),
}

impl MultiOp {
    /// getChildren and getData: the ops of a multiRead, which a multi may not carry.
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            MultiOp::GetChildren(_)
                | MultiOp::GetData(_)
                | MultiOp::Exists(_)
                | MultiOp::FilteredList(_)
                | MultiOp::FilteredListWithStats(_)
        )
    }

    pub fn op_type(&self) -> i32 {
        match self {
            MultiOp::Create { op_type, .. } => *op_type,
            MultiOp::CreateTtl(_) => op::CREATE_TTL,
            MultiOp::Delete(_) => op::DELETE,
            MultiOp::SetData(_) => op::SET_DATA,
            MultiOp::Check(_) => op::CHECK,
            MultiOp::GetChildren(_) => op::GET_CHILDREN,
            MultiOp::GetData(_) => op::GET_DATA,
            MultiOp::CheckNotExists(_) => keeper_op::CHECK_NOT_EXISTS,
            MultiOp::CheckStat(_) => keeper_op::CHECK_STAT,
            MultiOp::CreateIfNotExists(_) => keeper_op::CREATE_IF_NOT_EXISTS,
            MultiOp::RemoveRecursive(_) => keeper_op::REMOVE_RECURSIVE,
            MultiOp::TryRemove(_) => keeper_op::TRY_REMOVE,
            MultiOp::Exists(_) => op::EXISTS,
            MultiOp::FilteredList(_) => keeper_op::FILTERED_LIST,
            MultiOp::FilteredListWithStats(_) => keeper_op::FILTERED_LIST_WITH_STATS_AND_DATA,
        }
    }

    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create { req, .. } => &req.path,
            MultiOp::CreateTtl(r) => &r.path,
            MultiOp::Delete(r) => &r.path,
            MultiOp::SetData(r) => &r.path,
            MultiOp::Check(r) => &r.path,
            MultiOp::GetChildren(r) | MultiOp::GetData(r) => &r.path,
            MultiOp::CheckNotExists(r) => &r.path,
            MultiOp::CheckStat(r) => &r.path,
            MultiOp::CreateIfNotExists(r) => &r.path,
            MultiOp::RemoveRecursive(r) => &r.path,
            MultiOp::TryRemove(r) => &r.path,
            MultiOp::Exists(r) => &r.path,
            MultiOp::FilteredList(r) => &r.path,
            MultiOp::FilteredListWithStats(r) => &r.path,
        }
    }

    /// Whether this is one of ClickHouse Keeper's extensions.
    pub fn is_keeper_extension(&self) -> bool {
        keeper_op::ALL.contains(&self.op_type())
    }
}

/// A multi (or multiRead) request: its operations in order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MultiRequest {
    pub ops: Vec<MultiOp>,
}

// Hand-written: not a field sequence but a list that a header with `done`
// ends, each item's layout chosen by the header before it.
impl Record for MultiRequest {
    fn write<B: BufMut>(&self, out: &mut B) {
        for o in &self.ops {
            MultiHeader {
                op_type: o.op_type(),
                done: false,
                err: -1,
            }
            .write(out);
            match o {
                MultiOp::Create { req, .. } => req.write(out),
                MultiOp::CreateTtl(r) => r.write(out),
                MultiOp::Delete(r) => r.write(out),
                MultiOp::SetData(r) => r.write(out),
                MultiOp::Check(r) => r.write(out),
                MultiOp::GetChildren(r) | MultiOp::GetData(r) => r.write(out),
                MultiOp::CheckNotExists(r) => r.write(out),
                MultiOp::CheckStat(r) => r.write(out),
                MultiOp::CreateIfNotExists(r) => r.write(out),
                MultiOp::RemoveRecursive(r) => r.write(out),
                MultiOp::TryRemove(r) => r.write(out),
                MultiOp::Exists(r) => r.write(out),
                MultiOp::FilteredList(r) => r.write(out),
                MultiOp::FilteredListWithStats(r) => r.write(out),
            }
        }
        MultiHeader {
            op_type: -1,
            done: true,
            err: -1,
        }
        .write(out);
    }
    fn read(r: &mut JuteReader<'_>) -> Result<Self, JuteError> {
        let mut ops = Vec::new();
        loop {
            let h = MultiHeader::read(r)?;
            if h.done {
                break;
            }
            let o = match h.op_type {
                op::CREATE | op::CREATE2 | op::CREATE_CONTAINER => {
                    let req = CreateRequest::read(r)?;
                    // Java's MultiOperationRecord rebuilds each create from its
                    // flags (`Op.create`): a create2 inside a multi is a plain
                    // create, answered without a Stat.
                    let op_type = if req.flags == create_mode::CONTAINER {
                        op::CREATE_CONTAINER
                    } else {
                        op::CREATE
                    };
                    MultiOp::Create { op_type, req }
                }
                op::CREATE_TTL => MultiOp::CreateTtl(CreateTtlRequest::read(r)?),
                op::DELETE => MultiOp::Delete(DeleteRequest::read(r)?),
                op::SET_DATA => MultiOp::SetData(SetDataRequest::read(r)?),
                op::CHECK => MultiOp::Check(CheckVersionRequest::read(r)?),
                op::GET_CHILDREN => MultiOp::GetChildren(PathWatchRequest::read(r)?),
                op::GET_DATA => MultiOp::GetData(PathWatchRequest::read(r)?),
                keeper_op::CHECK_NOT_EXISTS => {
                    MultiOp::CheckNotExists(CheckVersionRequest::read(r)?)
                }
                keeper_op::CHECK_STAT => MultiOp::CheckStat(CheckStatRequest::read(r)?),
                keeper_op::CREATE_IF_NOT_EXISTS => {
                    MultiOp::CreateIfNotExists(CreateRequest::read(r)?)
                }
                keeper_op::REMOVE_RECURSIVE => {
                    MultiOp::RemoveRecursive(RemoveRecursiveRequest::read(r)?)
                }
                keeper_op::TRY_REMOVE => MultiOp::TryRemove(DeleteRequest::read(r)?),
                op::EXISTS => MultiOp::Exists(PathWatchRequest::read(r)?),
                keeper_op::FILTERED_LIST => MultiOp::FilteredList(FilteredListRequest::read(r)?),
                keeper_op::FILTERED_LIST_WITH_STATS_AND_DATA => {
                    MultiOp::FilteredListWithStats(FilteredListWithStatsRequest::read(r)?)
                }
                other => {
                    return Err(JuteError::Unknown {
                        what: "multi operation",
                        value: other,
                    })
                }
            };
            ops.push(o);
        }
        Ok(MultiRequest { ops })
    }
}

/// The result of one operation of a multi or multiRead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpResult {
    Create {
        path: String,
    },
    /// The result of a create2, createContainer or createTTL: ZooKeeper's
    /// `CreateResult(path, stat)`, whose header type is always create2.
    Create2 {
        path: String,
        stat: Stat,
    },
    Delete,
    SetData {
        stat: Stat,
    },
    Check,
    GetChildren {
        children: Vec<String>,
    },
    GetData {
        /// `None`: the node's data is null.
        data: Option<Bytes>,
        stat: Stat,
    },
    Error {
        err: i32,
    },
    /// Keeper's extensions whose results name their own op code.
    CheckNotExists,
    CreateIfNotExists {
        path: String,
    },
    RemoveRecursive,
    /// exists inside a multiRead (ClickHouse's): header type exists (3), the Stat.
    Exists {
        stat: Stat,
    },
    /// filteredList inside a multiRead: header type getChildren2 (12), as
    /// Keeper's list response names itself, children and the node's Stat.
    List {
        children: Vec<String>,
        stat: Stat,
    },
    /// filteredListWithStatsAndData inside a multiRead: header type 506,
    /// then the op's own response body. ClickHouse's client reads a result
    /// by the request it sent and looks at the header's type only for -1
    /// (error), so the type is for readers like ours that have no request
    /// at hand: 12 would be ambiguous with filteredList's result.
    ListWithStats(FilteredListWithStatsResponse),
}

/// A multi response: the per-operation results.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MultiResponse {
    pub results: Vec<OpResult>,
}

// Hand-written for the same reason as MultiRequest's.
impl Record for MultiResponse {
    fn write<B: BufMut>(&self, out: &mut B) {
        for res in &self.results {
            let (op_type, err) = match res {
                OpResult::Create { .. } => (op::CREATE, 0),
                OpResult::Create2 { .. } => (op::CREATE2, 0),
                OpResult::Delete => (op::DELETE, 0),
                OpResult::SetData { .. } => (op::SET_DATA, 0),
                OpResult::Check => (op::CHECK, 0),
                OpResult::GetChildren { .. } => (op::GET_CHILDREN, 0),
                OpResult::GetData { .. } => (op::GET_DATA, 0),
                OpResult::Error { err } => (op::ERROR, *err),
                OpResult::CheckNotExists => (keeper_op::CHECK_NOT_EXISTS, 0),
                OpResult::CreateIfNotExists { .. } => (keeper_op::CREATE_IF_NOT_EXISTS, 0),
                OpResult::RemoveRecursive => (keeper_op::REMOVE_RECURSIVE, 0),
                OpResult::Exists { .. } => (op::EXISTS, 0),
                OpResult::List { .. } => (op::GET_CHILDREN2, 0),
                OpResult::ListWithStats(_) => (keeper_op::FILTERED_LIST_WITH_STATS_AND_DATA, 0),
            };
            MultiHeader {
                op_type,
                done: false,
                err,
            }
            .write(out);
            match res {
                OpResult::Create { path } | OpResult::CreateIfNotExists { path } => {
                    jute::write_string(out, path)
                }
                OpResult::Create2 { path, stat, .. } => {
                    jute::write_string(out, path);
                    stat.write(out);
                }
                OpResult::SetData { stat } | OpResult::Exists { stat } => stat.write(out),
                OpResult::List { children, stat } => {
                    jute::write_string_vec(out, children);
                    stat.write(out);
                }
                OpResult::GetChildren { children } => jute::write_string_vec(out, children),
                OpResult::ListWithStats(l) => l.write(out),
                OpResult::GetData { data, stat } => {
                    jute::write_opt_buffer(out, data.as_deref());
                    stat.write(out);
                }
                OpResult::Error { err } => out.put_i32(*err),
                OpResult::Delete
                | OpResult::Check
                | OpResult::CheckNotExists
                | OpResult::RemoveRecursive => {}
            }
        }
        MultiHeader {
            op_type: -1,
            done: true,
            err: -1,
        }
        .write(out);
    }
    fn read(r: &mut JuteReader<'_>) -> Result<Self, JuteError> {
        let mut results = Vec::new();
        loop {
            let h = MultiHeader::read(r)?;
            if h.done {
                break;
            }
            let res = match h.op_type {
                op::CREATE => OpResult::Create {
                    path: r.read_string()?,
                },
                // Java's MultiResponse knows no other create type.
                op::CREATE2 => OpResult::Create2 {
                    path: r.read_string()?,
                    stat: Stat::read(r)?,
                },
                op::DELETE | op::DELETE_CONTAINER => OpResult::Delete,
                op::SET_DATA => OpResult::SetData {
                    stat: Stat::read(r)?,
                },
                op::CHECK => OpResult::Check,
                op::GET_CHILDREN => OpResult::GetChildren {
                    children: r.read_string_vec()?,
                },
                op::GET_DATA => OpResult::GetData {
                    data: r.read_opt_buffer()?,
                    stat: Stat::read(r)?,
                },
                op::ERROR => OpResult::Error { err: r.read_i32()? },
                keeper_op::CHECK_NOT_EXISTS => OpResult::CheckNotExists,
                keeper_op::CREATE_IF_NOT_EXISTS => OpResult::CreateIfNotExists {
                    path: r.read_string()?,
                },
                keeper_op::REMOVE_RECURSIVE => OpResult::RemoveRecursive,
                op::EXISTS => OpResult::Exists {
                    stat: Stat::read(r)?,
                },
                op::GET_CHILDREN2 => OpResult::List {
                    children: r.read_string_vec()?,
                    stat: Stat::read(r)?,
                },
                keeper_op::FILTERED_LIST_WITH_STATS_AND_DATA => {
                    OpResult::ListWithStats(FilteredListWithStatsResponse::read(r)?)
                }
                other => {
                    return Err(JuteError::Unknown {
                        what: "multi result",
                        value: other,
                    })
                }
            };
            results.push(res);
        }
        Ok(MultiResponse { results })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Acl;

    #[test]
    fn multi_request_round_trips() {
        let m = MultiRequest {
            ops: vec![
                MultiOp::Check(CheckVersionRequest {
                    path: "/a".into(),
                    version: 2,
                }),
                MultiOp::Create {
                    op_type: op::CREATE,
                    req: CreateRequest {
                        path: "/b".into(),
                        data: Some(Bytes::from_static(b"x")),
                        acl: Acl::open_unsafe(),
                        flags: 0,
                    },
                },
                MultiOp::Delete(DeleteRequest {
                    path: "/c".into(),
                    version: -1,
                }),
                MultiOp::CheckNotExists(CheckVersionRequest {
                    path: "/d".into(),
                    version: -1,
                }),
                MultiOp::CheckStat(CheckStatRequest {
                    path: "/d".into(),
                    version: 1,
                    stat: Stat::default(),
                }),
                MultiOp::RemoveRecursive(RemoveRecursiveRequest {
                    path: "/e".into(),
                    limit: 10,
                }),
                MultiOp::TryRemove(DeleteRequest {
                    path: "/f".into(),
                    version: 3,
                }),
            ],
        };
        assert_eq!(MultiRequest::from_bytes(&m.to_bytes()).unwrap(), m);
    }

    #[test]
    fn multi_creates_take_their_type_from_the_flags_as_in_java() {
        let create = |op_type, flags| MultiOp::Create {
            op_type,
            req: CreateRequest {
                path: "/c".into(),
                data: None,
                acl: Acl::open_unsafe(),
                flags,
            },
        };
        let sent = MultiRequest {
            ops: vec![
                create(op::CREATE2, create_mode::PERSISTENT),
                create(op::CREATE, create_mode::CONTAINER),
                create(op::CREATE_CONTAINER, create_mode::EPHEMERAL),
            ],
        };
        let got: Vec<i32> = MultiRequest::from_bytes(&sent.to_bytes())
            .unwrap()
            .ops
            .iter()
            .map(MultiOp::op_type)
            .collect();
        assert_eq!(got, vec![op::CREATE, op::CREATE_CONTAINER, op::CREATE]);
    }

    #[test]
    fn multi_response_round_trips() {
        let m = MultiResponse {
            results: vec![
                OpResult::Error { err: 0 },
                OpResult::Error { err: -101 },
                OpResult::Create2 {
                    path: "/x".into(),
                    stat: Stat::default(),
                },
                OpResult::Delete,
                OpResult::Check,
                OpResult::GetData {
                    data: None,
                    stat: Stat::default(),
                },
                OpResult::GetData {
                    data: Some(Bytes::new()),
                    stat: Stat::default(),
                },
                OpResult::CheckNotExists,
                OpResult::CreateIfNotExists { path: "/k".into() },
                OpResult::RemoveRecursive,
                OpResult::Exists {
                    stat: Stat::default(),
                },
                OpResult::List {
                    children: vec!["c".into()],
                    stat: Stat::default(),
                },
            ],
        };
        assert_eq!(MultiResponse::from_bytes(&m.to_bytes()).unwrap(), m);
    }
}
