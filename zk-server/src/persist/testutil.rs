//! Transactions for the persistence tests.

use zab_core::txn::{Txn, TxnBody, TxnHeader};
use zab_core::Zxid;

pub(super) fn txn(zxid: i64, t: i32, body: TxnBody) -> Txn {
    Txn {
        header: TxnHeader {
            client_id: 7,
            cxid: 0,
            zxid: Zxid(zxid),
            time: 1000 + zxid,
            txn_type: t,
        },
        body,
        digest: None,
    }
}
