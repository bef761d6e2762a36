//! One client-protocol body for one op code: the first input byte picks the op
//! code (every one ZooKeeper defines and a few it does not), the rest is the
//! body. Decodes it as the server does (`Op::parse`), as the reply a client
//! decodes for that op, and as the transaction body the log holds for it.
//!
//! Asserts: whatever decodes re-encodes to bytes that decode to the same
//! value; memory stays linear in the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zab_core::jute::JuteReader;
use zab_core::proto::*;
use zab_core::txn::TxnBody;
use zk_fuzz::round_trip;

fn replies(op_type: i32, b: &[u8]) {
    match op_type {
        op::CREATE => drop(round_trip::<CreateResponse>("CreateResponse", b)),
        op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => {
            drop(round_trip::<Create2Response>("Create2Response", b))
        }
        op::EXISTS | op::SET_DATA | op::SET_ACL => {
            drop(round_trip::<StatResponse>("StatResponse", b))
        }
        op::GET_DATA => drop(round_trip::<GetDataResponse>("GetDataResponse", b)),
        op::GET_ACL => drop(round_trip::<GetAclResponse>("GetAclResponse", b)),
        op::GET_CHILDREN | op::GET_EPHEMERALS => {
            drop(round_trip::<ChildrenResponse>("ChildrenResponse", b))
        }
        op::GET_CHILDREN2 => drop(round_trip::<GetChildren2Response>(
            "GetChildren2Response",
            b,
        )),
        op::SYNC => drop(round_trip::<PathResponse>("PathResponse", b)),
        op::GET_ALL_CHILDREN_NUMBER => drop(round_trip::<IntResponse>("IntResponse", b)),
        op::WHO_AM_I => drop(round_trip::<WhoAmIResponse>("WhoAmIResponse", b)),
        op::MULTI | op::MULTI_READ => drop(round_trip::<MultiResponse>("MultiResponse", b)),
        op::NOTIFICATION => {
            drop(round_trip::<ReplyHeader>("ReplyHeader", b));
            drop(round_trip::<WatcherEvent>("WatcherEvent", b));
        }
        op::CREATE_SESSION => drop(round_trip::<ConnectResponse>("ConnectResponse", b)),
        op::CLOSE_SESSION => drop(round_trip::<ConnectRequest>("ConnectRequest", b)),
        op::ERROR => drop(round_trip::<MultiHeader>("MultiHeader", b)),
        keeper_op::FILTERED_LIST => drop(round_trip::<GetChildren2Response>(
            "GetChildren2Response",
            b,
        )),
        keeper_op::CREATE_IF_NOT_EXISTS => drop(round_trip::<CreateResponse>("CreateResponse", b)),
        keeper_op::FILTERED_LIST_WITH_STATS_AND_DATA => drop(round_trip::<
            FilteredListWithStatsResponse,
        >(
            "FilteredListWithStatsResponse", b
        )),
        keeper_op::LIST_RECURSIVE => drop(round_trip::<ListRecursiveResponse>(
            "ListRecursiveResponse",
            b,
        )),
        _ => {}
    }
}

fn txn_body(op_type: i32, b: &[u8]) {
    let Ok(body) = TxnBody::read(op_type, &mut JuteReader::new(b)) else {
        return;
    };
    let mut out = Vec::new();
    body.write(&mut out);
    let again = TxnBody::read(op_type, &mut JuteReader::new(&out));
    assert_eq!(again.as_ref(), Ok(&body), "txn body {op_type} round trip");
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let op_type = zk_fuzz::OP_CODES[pick as usize % zk_fuzz::OP_CODES.len()];
    let ((), stats) = zk_fuzz::measure(|| {
        if let Ok(o) = Op::parse(op_type, body) {
            let again = Op::parse(op_type, &zk_fuzz::encode_op(op_type, &o));
            assert_eq!(again.as_ref(), Ok(&o), "op {op_type} round trip");
        }
        replies(op_type, body);
        txn_body(op_type, body);
    });
    zk_fuzz::assert_bounded("client op", stats, body.len(), 0, 32);
});
