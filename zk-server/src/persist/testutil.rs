//! Transactions and data directories for the persistence tests.

use std::path::Path;

use bytes::Bytes;
use zab_core::records::{op, Acl};
use zab_core::txn::{CreateTxn, SetDataTxn, Txn, TxnBody, TxnHeader};
use zab_core::Zxid;

use crate::config::Config;
use crate::tree::DataTree;

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

/// A deterministic mix of creates (some ephemeral), sets and deletes.
pub(super) fn workload(tree: &DataTree, zxid: i64, seed: &mut u64) -> Txn {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let k = (*seed >> 33) % 40;
    let path = format!("/k{k}");
    let child = format!("/k{k}/c");
    match (*seed >> 20) % 4 {
        0 | 1 if tree.get(&path).is_none() => txn(
            zxid,
            op::CREATE,
            TxnBody::Create(CreateTxn {
                path,
                // Some null data, so that snapshots and replay carry null.
                data: (!k.is_multiple_of(7)).then(|| Bytes::from(format!("v{zxid}"))),
                acl: if k.is_multiple_of(3) {
                    Acl::read_unsafe()
                } else {
                    Acl::open_unsafe()
                },
                ephemeral: k.is_multiple_of(5),
                parent_cversion: tree.get("/").unwrap().persisted().cversion + 1,
            }),
        ),
        0 if tree.get(&child).is_none()
            && tree
                .get(&path)
                .is_some_and(|n| n.persisted().ephemeral_owner == 0) =>
        {
            txn(
                zxid,
                op::CREATE,
                TxnBody::Create(CreateTxn {
                    path: child,
                    data: Some(Bytes::new()),
                    acl: Acl::open_unsafe(),
                    ephemeral: false,
                    parent_cversion: tree.get(&path).unwrap().persisted().cversion + 1,
                }),
            )
        }
        2 if tree.get(&path).is_some() => txn(
            zxid,
            op::SET_DATA,
            TxnBody::SetData(SetDataTxn {
                path: path.clone(),
                data: (zxid % 5 != 0).then(|| Bytes::from(format!("s{zxid}"))),
                version: tree.get(&path).unwrap().persisted().version + 1,
            }),
        ),
        _ if tree.get(&child).is_some() => txn(zxid, op::DELETE, TxnBody::Delete { path: child }),
        _ if tree.get(&path).is_some() => txn(zxid, op::DELETE, TxnBody::Delete { path }),
        _ => txn(zxid, op::ERROR, TxnBody::Error { err: -101 }),
    }
}

/// Rewrite a snapshot file of version 3 as version 2 wrote it: the same
/// entries, the trailer without `apache_digest`, the crc recomputed.
pub(super) fn downgrade_snapshot_to_v2(file: &Path) {
    let mut b = std::fs::read(file).unwrap();
    assert_eq!(&b[4..8], &3u32.to_be_bytes(), "a version 3 snapshot");
    b[4..8].copy_from_slice(&2u32.to_be_bytes());
    // crc:u32 last, apache_digest:u64 before it.
    let n = b.len();
    b.drain(n - 12..);
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_be_bytes());
    std::fs::write(file, &b).unwrap();
}

/// Apache's digest of `tree` computed node by node, as a check of the one it keeps.
pub(super) fn apache_digest_walked(tree: &DataTree) -> u64 {
    tree.iter().fold(0u64, |sum, (p, n)| {
        sum.wrapping_add(zab_storage::apache_snapshot::apache_node_digest(
            &p,
            n.data(),
            &n.persisted(),
        ))
    })
}
