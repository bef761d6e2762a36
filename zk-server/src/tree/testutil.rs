//! Transactions for the tree's unit tests.

use bytes::Bytes;
use zab_core::records::Acl;
use zab_core::txn::{CreateTxn, Txn, TxnBody, TxnHeader};
use zab_core::Zxid;

pub(super) fn txn(zxid: i64, t: i32, body: TxnBody) -> Txn {
    Txn {
        header: TxnHeader {
            client_id: 5,
            cxid: 1,
            zxid: Zxid(zxid),
            time: 1000 + zxid,
            txn_type: t,
        },
        body,
        digest: None,
    }
}

pub(super) fn create(path: &str, cv: i32, eph: bool) -> TxnBody {
    TxnBody::Create(CreateTxn {
        path: path.into(),
        data: Some(Bytes::from_static(b"d")),
        acl: Acl::open_unsafe(),
        ephemeral: eph,
        parent_cversion: cv,
    })
}
