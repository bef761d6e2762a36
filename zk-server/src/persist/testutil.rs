//! Transactions and data directories for the persistence tests.

use bytes::Bytes;
use zab_core::records::{op, Acl};
use zab_core::txn::{CreateTxn, Txn, TxnBody, TxnHeader};
use zab_core::Zxid;

use crate::config::Config;

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

/// A persistent create of `path` with data `d<zxid>`.
pub(super) fn create_txn(zxid: i64, path: &str) -> Txn {
    txn(
        zxid,
        op::CREATE,
        TxnBody::Create(CreateTxn {
            path: path.into(),
            data: Some(Bytes::from(format!("d{zxid}"))),
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_cversion: -1,
        }),
    )
}

/// A data directory and its config; removed when dropped.
pub(super) struct Dir {
    pub _tmp: tempfile::TempDir,
    pub cfg: Config,
}
