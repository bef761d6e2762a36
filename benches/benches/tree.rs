//! The data tree alone: what one committed transaction or one read costs in
//! `zk_server::tree::DataTree`, on a tree of 100,000 znodes (17-byte paths,
//! 100-byte values, as in the footprint figures).
//!
//! - `get_data`: look a path up and read its data and Stat (every read);
//! - `set_data`: apply a setData transaction (digest, data size, watches);
//! - `create_delete`: apply a create and then a delete of a sibling of the
//!   100,000 (index insert and removal, the parent's Stat both times);
//! - `get_children_100`: list a node's 100 children;
//! - `multi_10_set_data`: apply a multi of 10 setData.
//!
//! `cargo bench -p zk-benches --bench tree`; `cargo test --workspace` runs each
//! case once (the bench is declared with `test = true`).

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zab_core::records::{op, Acl};
use zab_core::txn::{CreateTxn, SetDataTxn, SubTxn, Txn, TxnBody, TxnHeader};
use zab_core::Zxid;
use zk_server::tree::DataTree;

const NODES: usize = 100_000;

/// A tree with `/k/<14 digits>` x NODES and `/c/<n>` x 100, and the next zxid.
struct Fixture {
    tree: DataTree,
    zxid: i64,
    triggers: Vec<zk_server::tree::Trigger>,
}

impl Fixture {
    fn new() -> Fixture {
        let mut f = Fixture {
            tree: DataTree::new(false),
            zxid: 0,
            triggers: Vec::new(),
        };
        f.apply(op::CREATE, create("/k".into()));
        f.apply(op::CREATE, create("/c".into()));
        for i in 0..NODES {
            f.apply(op::CREATE, create(key(i)));
        }
        for i in 0..100 {
            f.apply(op::CREATE, create(format!("/c/{i}")));
        }
        f
    }

    fn apply(&mut self, t: i32, body: TxnBody) {
        self.zxid += 1;
        let txn = Txn {
            header: TxnHeader {
                client_id: 1,
                cxid: 0,
                zxid: Zxid(self.zxid),
                time: 1_700_000_000_000 + self.zxid,
                txn_type: t,
            },
            body,
            digest: None,
        };
        let rc = self.tree.apply(&txn, &mut self.triggers);
        assert_eq!(rc.err, 0, "{t} at zxid {}", self.zxid);
        self.triggers.clear();
    }
}

fn key(i: usize) -> String {
    format!("/k/{i:014}")
}

fn create(path: String) -> TxnBody {
    TxnBody::Create(CreateTxn {
        path,
        data: Some(Bytes::from(vec![b'v'; 100])),
        acl: Acl::open_unsafe(),
        ephemeral: false,
        parent_cversion: -1,
    })
}

fn set_data(i: usize) -> TxnBody {
    TxnBody::SetData(SetDataTxn {
        path: key(i),
        data: Some(Bytes::from(vec![b'w'; 100])),
        version: -1,
    })
}

/// A spread of keys: consecutive calls touch unrelated parts of the tree.
fn spread(n: usize) -> usize {
    n.wrapping_mul(48_271) % NODES
}

fn tree(c: &mut Criterion) {
    let mut f = Fixture::new();
    let nodes = f.tree.node_count();
    let mut g = c.benchmark_group("tree_100k");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));

    let paths: Vec<String> = (0..4096).map(|n| key(spread(n))).collect();
    let mut n = 0usize;
    g.bench_function("get_data", |b| {
        b.iter(|| {
            n = (n + 1) % paths.len();
            let node = f.tree.get(&paths[n]).expect("present");
            black_box((node.data().len(), node.stat().mzxid))
        })
    });

    let mut n = 0usize;
    g.bench_function("set_data", |b| {
        b.iter(|| {
            n += 1;
            f.apply(op::SET_DATA, set_data(spread(n)));
        })
    });

    g.bench_function("create_delete", |b| {
        b.iter(|| {
            f.apply(op::CREATE, create("/k/new".into()));
            f.apply(
                op::DELETE,
                TxnBody::Delete {
                    path: "/k/new".into(),
                },
            );
        })
    });

    g.bench_function("get_children_100", |b| {
        b.iter(|| {
            let c = f.tree.get("/c").expect("present");
            black_box(c.children().count())
        })
    });

    let mut n = 0usize;
    g.throughput(Throughput::Elements(10));
    g.bench_function("multi_10_set_data", |b| {
        b.iter(|| {
            let ops = (0..10)
                .map(|k| {
                    n += 1;
                    SubTxn {
                        txn_type: op::SET_DATA,
                        body: set_data(spread(n + k)),
                    }
                })
                .collect();
            f.apply(op::MULTI, TxnBody::Multi(ops));
        })
    });
    g.finish();
    // Every create was deleted again.
    assert_eq!(f.tree.node_count(), nodes);
}

criterion_group!(benches, tree);
criterion_main!(benches);
