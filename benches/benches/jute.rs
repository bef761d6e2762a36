//! Jute encode / decode of what every request touches: the client protocol's records
//! (`zab_core::proto`, with `zab_core::records`' Stat and ACL), the transactions of the
//! log and of PROPOSALs (`zab_core::txn`), and the PROPOSAL packet around one.
//!
//! `cargo bench -p zk-benches --bench jute`; `cargo test -p zk-benches --bench jute`
//! runs each case once, as CI's `cargo test --workspace` does (`test = true` in Cargo.toml).
//! Throughput is in bytes of the encoded record.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use zab_core::jute::{JuteReader, Record};
use zab_core::proto::{
    ChildrenResponse, CreateRequest, GetDataResponse, ReplyHeader, RequestHeader,
};
use zab_core::records::{op, read_acls, write_acls, Acl, Id, Stat};
use zab_core::txn::{CreateTxn, SetDataTxn, SubTxn, Txn, TxnBody, TxnDigest, TxnHeader};
use zab_core::{QuorumPacket, Zxid};

type Encode = Box<dyn Fn(&mut Vec<u8>)>;
type Decode = Box<dyn Fn(&[u8])>;

/// One case: how to encode it into a reused buffer, and how to decode those bytes.
struct Case {
    name: &'static str,
    encode: Encode,
    decode: Decode,
}

fn case<T: Record + 'static>(name: &'static str, value: T) -> Case {
    Case {
        name,
        encode: Box::new(move |out| black_box(&value).write(out)),
        decode: Box::new(|b| {
            black_box(T::from_bytes(b).expect("decodes"));
        }),
    }
}

fn stat() -> Stat {
    Stat {
        czxid: 0x1_0000_0001,
        mzxid: 0x1_0000_0042,
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_500,
        version: 3,
        cversion: 10,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 1024,
        num_children: 10,
        pzxid: 0x1_0000_0040,
    }
}

fn acls() -> Vec<Acl> {
    vec![
        Acl {
            perms: 31,
            id: Id::new("world", "anyone"),
        },
        Acl {
            perms: 1,
            id: Id::new("digest", "reader:2ZsOr0EvXY0bJ1Xr1DWAjeeNhRU="),
        },
        Acl {
            perms: 31,
            id: Id::new("ip", "10.0.0.0/8"),
        },
    ]
}

fn header(txn_type: i32, counter: u32) -> TxnHeader {
    TxnHeader {
        client_id: 0x10_0000_1234,
        cxid: 42,
        zxid: Zxid(0x4_0000_0000 | counter as i64),
        time: 1_700_000_000_123,
        txn_type,
    }
}

fn create_txn(data_len: usize) -> Txn {
    Txn {
        header: header(op::CREATE, 1),
        body: TxnBody::Create(CreateTxn {
            path: "/app/config/node-0000000042".into(),
            data: Some(Bytes::from(vec![7u8; data_len])),
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_cversion: 42,
        }),
        digest: Some(TxnDigest {
            version: 2,
            tree_digest: 0x0123_4567_89ab_cdef,
        }),
    }
}

fn multi_txn(ops: usize) -> Txn {
    let sub = (0..ops)
        .map(|i| SubTxn {
            txn_type: op::SET_DATA,
            body: TxnBody::SetData(SetDataTxn {
                path: format!("/app/items/item-{i:04}"),
                data: Some(Bytes::from(vec![1u8; 64])),
                version: i as i32,
            }),
        })
        .collect();
    Txn {
        header: header(op::MULTI, 2),
        body: TxnBody::Multi(sub),
        digest: None,
    }
}

/// `ACL` vectors have no record of their own: encode and decode them as the records do.
struct AclList(Vec<Acl>);

impl Record for AclList {
    fn write<B: bytes::BufMut>(&self, out: &mut B) {
        write_acls(out, &self.0)
    }
    fn read(r: &mut JuteReader<'_>) -> Result<Self, zab_core::jute::JuteError> {
        Ok(AclList(read_acls(r)?))
    }
}

/// A request header and its body, as they follow each other in a client frame.
struct Framed<H, B>(H, B);

impl<H: Record, B: Record> Record for Framed<H, B> {
    fn write<O: bytes::BufMut>(&self, out: &mut O) {
        self.0.write(out);
        self.1.write(out);
    }
    fn read(r: &mut JuteReader<'_>) -> Result<Self, zab_core::jute::JuteError> {
        Ok(Framed(H::read(r)?, B::read(r)?))
    }
}

fn cases() -> Vec<Case> {
    let proposal = QuorumPacket::Proposal {
        zxid: Zxid(0x4_0000_0001),
        data: Bytes::from(create_txn(100).to_bytes()),
    };
    vec![
        case("stat", stat()),
        case("acl_list_3", AclList(acls())),
        case(
            "create_request_100b",
            Framed(
                RequestHeader {
                    xid: 17,
                    op_type: op::CREATE,
                },
                CreateRequest {
                    path: "/app/config/node-".into(),
                    data: Some(Bytes::from(vec![7u8; 100])),
                    acl: Acl::open_unsafe(),
                    flags: 2,
                },
            ),
        ),
        case(
            "get_data_response_1k",
            Framed(
                ReplyHeader {
                    xid: 17,
                    zxid: 0x4_0000_0042,
                    err: 0,
                },
                GetDataResponse {
                    data: Some(Bytes::from(vec![7u8; 1024])),
                    stat: stat(),
                },
            ),
        ),
        case(
            "children_response_100",
            ChildrenResponse {
                children: (0..100).map(|i| format!("node-{i:010}")).collect(),
            },
        ),
        case("txn_create_100b", create_txn(100)),
        case("txn_multi_10_set_data", multi_txn(10)),
        Case {
            name: "proposal_packet_create_100b",
            encode: Box::new(move |out| black_box(&proposal).to_record().write(out)),
            decode: Box::new(|b| {
                black_box(QuorumPacket::decode(b).expect("decodes"));
            }),
        },
    ]
}

fn jute(c: &mut Criterion) {
    let mut g = c.benchmark_group("jute");
    g.sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for k in cases() {
        let mut bytes = Vec::new();
        (k.encode)(&mut bytes);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        let mut out = Vec::with_capacity(bytes.len());
        g.bench_function(BenchmarkId::new("encode", k.name), |b| {
            b.iter(|| {
                out.clear();
                (k.encode)(&mut out);
            })
        });
        g.bench_function(BenchmarkId::new("decode", k.name), |b| {
            b.iter(|| (k.decode)(black_box(&bytes)))
        });
    }
    g.finish();
}

criterion_group!(benches, jute);
criterion_main!(benches);
