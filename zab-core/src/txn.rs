//! Transactions as ZooKeeper serializes them: the same bytes travel in a
//! PROPOSAL and lie in the transaction log.
//!
//! ```text
//! txn                := TxnHeader body [TxnDigest]
//! TxnHeader          := long(clientId) int(cxid) long(zxid) long(time) int(type)
//! body               := by TxnHeader.type:
//!   create, create2  -> CreateTxn          := ustring(path) buffer(data) vector<ACL> boolean(ephemeral) int(parentCVersion)
//!   createContainer  -> CreateContainerTxn := ustring(path) buffer(data) vector<ACL> int(parentCVersion)
//!   createTTL        -> CreateTTLTxn       := ustring(path) buffer(data) vector<ACL> int(parentCVersion) long(ttl)
//!   delete, deleteContainer -> DeleteTxn   := ustring(path)
//!   setData, reconfig -> SetDataTxn        := ustring(path) buffer(data) int(version)
//!   setACL           -> SetACLTxn          := ustring(path) vector<ACL> int(version)
//!   check            -> CheckVersionTxn    := ustring(path) int(version)
//!   createSession    -> CreateSessionTxn   := int(timeOut)
//!   closeSession     -> CloseSessionTxn    := vector<ustring>(paths2Delete)   ; may be absent
//!   error            -> ErrorTxn           := int(err)
//!   multi            -> MultiTxn           := vector<Txn>,  Txn := int(type) buffer(body)
//! TxnDigest          := int(version) long(treeDigest)
//! ```
//!
//! `buffer(data)` may be null (length -1): a node created or set with null
//! data keeps null, which a client reads back as null, apart from empty data
//! (Apache ZooKeeper's `DataNode` keeps the `byte[]` reference as it came).

use bytes::{BufMut, Bytes};

use crate::jute::{self, record, JuteError, JuteReader, Record};
use crate::records::{op, Acl, ACL_MIN_SIZE};
use crate::Zxid;

record! {
    /// What every transaction starts with; `txn_type` chooses the body.
    #[derive(Copy)]
    TxnHeader {
        client_id: i64 = long,
        cxid: i32 = int,
        zxid: Zxid = zxid,
        time: i64 = long,
        txn_type: i32 = int,
    }

    /// ZooKeeper's digest of the data tree after a transaction.
    #[derive(Copy)]
    TxnDigest { version: i32 = int, tree_digest: i64 = long }

    CreateTxn {
        path: String = ustring,
        data: Option<Bytes> = opt_buffer,
        acl: Vec<Acl> = vector(ACL_MIN_SIZE),
        ephemeral: bool = boolean,
        parent_cversion: i32 = int,
    }

    CreateContainerTxn {
        path: String = ustring,
        data: Option<Bytes> = opt_buffer,
        acl: Vec<Acl> = vector(ACL_MIN_SIZE),
        parent_cversion: i32 = int,
    }

    CreateTtlTxn {
        path: String = ustring,
        data: Option<Bytes> = opt_buffer,
        acl: Vec<Acl> = vector(ACL_MIN_SIZE),
        parent_cversion: i32 = int,
        ttl: i64 = long,
    }

    SetDataTxn {
        path: String = ustring,
        data: Option<Bytes> = opt_buffer,
        version: i32 = int,
    }

    SetAclTxn {
        path: String = ustring,
        acl: Vec<Acl> = vector(ACL_MIN_SIZE),
        version: i32 = int,
    }
}

/// The body of a transaction; which one is decided by the header's type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnBody {
    Create(CreateTxn),
    CreateContainer(CreateContainerTxn),
    CreateTtl(CreateTtlTxn),
    Delete { path: String },
    SetData(SetDataTxn),
    SetAcl(SetAclTxn),
    CheckVersion { path: String, version: i32 },
    CreateSession { timeout_ms: i32 },
    CloseSession { paths_to_delete: Vec<String> },
    Error { err: i32 },
    Multi(Vec<SubTxn>),
}

/// One operation inside a multi transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubTxn {
    pub txn_type: i32,
    pub body: TxnBody,
}

impl TxnBody {
    pub fn write<B: BufMut>(&self, out: &mut B) {
        match self {
            TxnBody::Create(t) => t.write(out),
            TxnBody::CreateContainer(t) => t.write(out),
            TxnBody::CreateTtl(t) => t.write(out),
            TxnBody::Delete { path } => jute::write_string(out, path),
            TxnBody::SetData(t) => t.write(out),
            TxnBody::SetAcl(t) => t.write(out),
            TxnBody::CheckVersion { path, version } => {
                jute::write_string(out, path);
                out.put_i32(*version);
            }
            TxnBody::CreateSession { timeout_ms } => out.put_i32(*timeout_ms),
            TxnBody::CloseSession { paths_to_delete } => {
                jute::write_string_vec(out, paths_to_delete)
            }
            TxnBody::Error { err } => out.put_i32(*err),
            TxnBody::Multi(subs) => {
                out.put_i32(subs.len() as i32);
                for s in subs {
                    out.put_i32(s.txn_type);
                    let mut inner = Vec::new();
                    s.body.write(&mut inner);
                    jute::write_buffer(out, &inner);
                }
            }
        }
    }

    pub fn read(txn_type: i32, r: &mut JuteReader<'_>) -> Result<TxnBody, JuteError> {
        Ok(match txn_type {
            op::CREATE | op::CREATE2 => TxnBody::Create(CreateTxn::read(r)?),
            op::CREATE_CONTAINER => TxnBody::CreateContainer(CreateContainerTxn::read(r)?),
            op::CREATE_TTL => TxnBody::CreateTtl(CreateTtlTxn::read(r)?),
            op::DELETE | op::DELETE_CONTAINER => TxnBody::Delete {
                path: r.read_string()?,
            },
            op::SET_DATA | op::RECONFIG => TxnBody::SetData(SetDataTxn::read(r)?),
            op::SET_ACL => TxnBody::SetAcl(SetAclTxn::read(r)?),
            op::CHECK => TxnBody::CheckVersion {
                path: r.read_string()?,
                version: r.read_i32()?,
            },
            op::CREATE_SESSION => TxnBody::CreateSession {
                timeout_ms: r.read_i32()?,
            },
            op::CLOSE_SESSION => TxnBody::CloseSession {
                // Servers before 3.6 wrote no body for closeSession.
                paths_to_delete: if r.is_empty() {
                    Vec::new()
                } else {
                    r.read_string_vec()?
                },
            },
            op::ERROR => TxnBody::Error { err: r.read_i32()? },
            op::MULTI => {
                let subs = r.read_vec(8, |r| {
                    let txn_type = r.read_i32()?;
                    // ZooKeeper's DataTree refuses a multi inside a multi. Reading
                    // one would recurse once per 12 input bytes: a crafted record
                    // of a megabyte overflows the stack.
                    if txn_type == op::MULTI {
                        return Err(JuteError::Unknown {
                            what: "transaction type inside multi",
                            value: txn_type,
                        });
                    }
                    let inner = r.read_buffer_slice()?;
                    let body = TxnBody::read(txn_type, &mut JuteReader::new(inner))?;
                    Ok(SubTxn { txn_type, body })
                })?;
                TxnBody::Multi(subs)
            }
            other => {
                return Err(JuteError::Unknown {
                    what: "transaction type",
                    value: other,
                })
            }
        })
    }
}

/// A whole transaction: header, body and the optional tree digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Txn {
    pub header: TxnHeader,
    pub body: TxnBody,
    pub digest: Option<TxnDigest>,
}

impl Txn {
    pub fn zxid(&self) -> Zxid {
        self.header.zxid
    }
}

// Hand-written: the body's layout is chosen by the header's type, and the
// digest is there only when 12 more bytes are.
impl Record for Txn {
    fn write<B: BufMut>(&self, out: &mut B) {
        self.header.write(out);
        self.body.write(out);
        if let Some(d) = self.digest {
            d.write(out);
        }
    }
    fn read(r: &mut JuteReader<'_>) -> Result<Self, JuteError> {
        let header = TxnHeader::read(r)?;
        let body = TxnBody::read(header.txn_type, r)?;
        let digest = if r.remaining() >= 12 {
            Some(TxnDigest::read(r)?)
        } else {
            None
        };
        Ok(Txn {
            header,
            body,
            digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Acl, Id};
    use proptest::prelude::*;

    fn header(t: i32) -> TxnHeader {
        TxnHeader {
            client_id: 0x1234,
            cxid: 7,
            zxid: Zxid(0x1_0000_0003),
            time: 1_700_000_000_000,
            txn_type: t,
        }
    }

    #[test]
    fn every_body_round_trips() {
        let bodies = vec![
            (
                op::CREATE2,
                TxnBody::Create(CreateTxn {
                    path: "/a".into(),
                    data: Some(bytes::Bytes::from_static(b"x")),
                    acl: Acl::open_unsafe(),
                    ephemeral: true,
                    parent_cversion: 3,
                }),
            ),
            (
                op::CREATE_CONTAINER,
                TxnBody::CreateContainer(CreateContainerTxn {
                    path: "/c".into(),
                    data: None,
                    acl: Acl::open_unsafe(),
                    parent_cversion: 4,
                }),
            ),
            (
                op::SET_DATA,
                TxnBody::SetData(SetDataTxn {
                    path: "/a".into(),
                    data: Some(bytes::Bytes::new()),
                    version: 2,
                }),
            ),
            (
                op::SET_DATA,
                TxnBody::SetData(SetDataTxn {
                    path: "/a".into(),
                    data: None,
                    version: 3,
                }),
            ),
            (op::DELETE, TxnBody::Delete { path: "/a".into() }),
            (op::ERROR, TxnBody::Error { err: -101 }),
            (
                op::CREATE_SESSION,
                TxnBody::CreateSession { timeout_ms: 30000 },
            ),
            (
                op::MULTI,
                TxnBody::Multi(vec![
                    SubTxn {
                        txn_type: op::CHECK,
                        body: TxnBody::CheckVersion {
                            path: "/q".into(),
                            version: 1,
                        },
                    },
                    SubTxn {
                        txn_type: op::DELETE,
                        body: TxnBody::Delete { path: "/q".into() },
                    },
                ]),
            ),
        ];
        for (t, body) in bodies {
            for digest in [
                None,
                Some(TxnDigest {
                    version: 2,
                    tree_digest: 99,
                }),
            ] {
                let txn = Txn {
                    header: header(t),
                    body: body.clone(),
                    digest,
                };
                assert_eq!(Txn::from_bytes(&txn.to_bytes()).unwrap(), txn);
            }
        }
    }

    /// Null data is written as length -1, as ZooKeeper's jute writes a null
    /// `byte[]`; empty data as length 0.
    #[test]
    fn null_data_is_length_minus_one_and_empty_is_zero() {
        let body = |data| {
            let mut out = Vec::new();
            TxnBody::SetData(SetDataTxn {
                path: "/a".into(),
                data,
                version: 0,
            })
            .write(&mut out);
            out
        };
        assert_eq!(&body(None)[6..10], &[0xff; 4]);
        assert_eq!(&body(Some(bytes::Bytes::new()))[6..10], &[0; 4]);
    }

    /// Found with the `log_record` fuzz target: a multi nested 100 000 deep
    /// (1.2 MB, within a log record's and a PROPOSAL's size limits) overflowed
    /// the stack of the recursive decoder.
    #[test]
    fn fuzz_nested_multi_txn_overflows_the_stack() {
        // Level k: count 1, type multi, and a buffer holding level k - 1;
        // level 0 is an empty multi (count 0).
        const DEPTH: i32 = 100_000;
        let mut b = header(op::MULTI).to_bytes();
        for level in (1..=DEPTH).rev() {
            b.put_i32(1);
            b.put_i32(op::MULTI);
            b.put_i32(12 * (level - 1) + 4);
        }
        b.put_i32(0);
        assert!(matches!(
            Txn::from_bytes(&b),
            Err(JuteError::Unknown {
                value: op::MULTI,
                ..
            })
        ));
    }

    #[test]
    fn close_session_without_body_reads_as_empty() {
        let h = header(op::CLOSE_SESSION);
        let b = h.to_bytes();
        let t = Txn::from_bytes(&b).unwrap();
        assert_eq!(
            t.body,
            TxnBody::CloseSession {
                paths_to_delete: vec![]
            }
        );
    }

    fn arb_acls() -> impl Strategy<Value = Vec<Acl>> {
        proptest::collection::vec(
            (any::<i32>(), "\\PC{0,8}", "\\PC{0,8}").prop_map(|(perms, s, i)| Acl {
                perms,
                id: Id::new(&s, &i),
            }),
            0..3,
        )
    }

    /// Data, null (`None`) now and then.
    fn arb_data() -> impl Strategy<Value = Option<bytes::Bytes>> {
        proptest::option::of(
            proptest::collection::vec(any::<u8>(), 0..32).prop_map(bytes::Bytes::from),
        )
    }

    /// A body of every kind but multi, with a type number that reads it back.
    fn arb_simple_body() -> impl Strategy<Value = (i32, TxnBody)> {
        let path = "/\\PC{0,12}";
        prop_oneof![
            (
                prop_oneof![Just(op::CREATE), Just(op::CREATE2)],
                path,
                arb_data(),
                arb_acls(),
                any::<bool>(),
                any::<i32>()
            )
                .prop_map(|(t, path, data, acl, ephemeral, parent_cversion)| (
                    t,
                    TxnBody::Create(CreateTxn {
                        path,
                        data,
                        acl,
                        ephemeral,
                        parent_cversion
                    })
                )),
            (path, arb_data(), arb_acls(), any::<i32>()).prop_map(
                |(path, data, acl, parent_cversion)| (
                    op::CREATE_CONTAINER,
                    TxnBody::CreateContainer(CreateContainerTxn {
                        path,
                        data,
                        acl,
                        parent_cversion
                    })
                )
            ),
            (path, arb_data(), arb_acls(), any::<i32>(), any::<i64>()).prop_map(
                |(path, data, acl, parent_cversion, ttl)| (
                    op::CREATE_TTL,
                    TxnBody::CreateTtl(CreateTtlTxn {
                        path,
                        data,
                        acl,
                        parent_cversion,
                        ttl
                    })
                )
            ),
            (
                prop_oneof![Just(op::DELETE), Just(op::DELETE_CONTAINER)],
                path
            )
                .prop_map(|(t, path)| (t, TxnBody::Delete { path })),
            (
                prop_oneof![Just(op::SET_DATA), Just(op::RECONFIG)],
                path,
                arb_data(),
                any::<i32>()
            )
                .prop_map(|(t, path, data, version)| (
                    t,
                    TxnBody::SetData(SetDataTxn {
                        path,
                        data,
                        version
                    })
                )),
            (path, arb_acls(), any::<i32>()).prop_map(|(path, acl, version)| (
                op::SET_ACL,
                TxnBody::SetAcl(SetAclTxn { path, acl, version })
            )),
            (path, any::<i32>())
                .prop_map(|(path, version)| (op::CHECK, TxnBody::CheckVersion { path, version })),
            any::<i32>()
                .prop_map(|timeout_ms| (op::CREATE_SESSION, TxnBody::CreateSession { timeout_ms })),
            proptest::collection::vec(path, 0..3).prop_map(|paths_to_delete| (
                op::CLOSE_SESSION,
                TxnBody::CloseSession { paths_to_delete }
            )),
            any::<i32>().prop_map(|err| (op::ERROR, TxnBody::Error { err })),
        ]
    }

    fn arb_body() -> impl Strategy<Value = (i32, TxnBody)> {
        prop_oneof![
            3 => arb_simple_body(),
            1 => proptest::collection::vec(arb_simple_body(), 0..4).prop_map(|subs| (
                op::MULTI,
                TxnBody::Multi(
                    subs.into_iter()
                        .map(|(txn_type, body)| SubTxn { txn_type, body })
                        .collect()
                )
            )),
        ]
    }

    proptest! {
        #[test]
        fn txns_of_every_type_round_trip(
            (txn_type, body) in arb_body(),
            client_id: i64,
            cxid: i32,
            zxid: i64,
            time: i64,
            digest in proptest::option::of((any::<i32>(), any::<i64>())),
        ) {
            let txn = Txn {
                header: TxnHeader { client_id, cxid, zxid: Zxid(zxid), time, txn_type },
                body,
                digest: digest.map(|(version, tree_digest)| TxnDigest { version, tree_digest }),
            };
            prop_assert_eq!(Txn::from_bytes(&txn.to_bytes()), Ok(txn));
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_txn_decoder(
            b in proptest::collection::vec(any::<u8>(), 0..200),
            txn_type in prop_oneof![Just(op::MULTI), Just(op::CREATE), any::<i32>()],
        ) {
            let _ = Txn::from_bytes(&b);
            let _ = TxnBody::read(txn_type, &mut JuteReader::new(&b));
        }
    }
}
