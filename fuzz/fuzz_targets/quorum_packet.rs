//! The quorum port: bare `QuorumPacket` records back to back, arriving in
//! chunks, cut by zab-net's incremental `QuorumPacketCodec` and interpreted by
//! zab-core's `QuorumPacket::from_record`; a PROPOSAL's or INFORM's payload is
//! decoded as the `Txn` it carries.
//!
//! Asserts: the incremental codec and zab-core's whole-buffer jute decoder agree
//! on the first packet; every decoded record and packet re-encodes to bytes
//! that decode to the same value, and the re-encoded stream decodes to the same
//! records; memory stays linear in the input and within the packet cap. After a SNAP the
//! codec reads the serialized database raw (zab-core's `zkdb`) and hands it over as a
//! second SNAP record; the re-encoded stream goes through fresh codecs, since a codec
//! knows where it is in a SNAP.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};
use zab_core::jute::{JuteReader, Record};
use zab_core::txn::Txn;
use zab_core::wire::{QuorumPacket, QuorumPacketRecord};
use zab_net::QuorumPacketCodec;

const CAP: usize = 64 << 10;
const MAX_AUTH: usize = 16;

fn check_packet(rec: &QuorumPacketRecord) {
    let Ok(p) = QuorumPacket::from_record(rec.clone()) else {
        return;
    };
    assert_eq!(QuorumPacket::from_record(p.to_record()).as_ref(), Ok(&p));
    assert_eq!(QuorumPacket::decode(&p.encode()).as_ref(), Ok(&p));
    if let QuorumPacket::Proposal { data, .. } | QuorumPacket::Inform { data, .. } = &p {
        zk_fuzz::round_trip::<Txn>("Txn in a proposal", data);
    }
}

fuzz_target!(|data: &[u8]| {
    let (chunk, wire) = zk_fuzz::chunking(data);
    let ((), stats) = zk_fuzz::measure(|| {
        let mut codec = QuorumPacketCodec::new(CAP, MAX_AUTH);
        let mut got = Vec::new();
        zk_fuzz::feed(
            wire,
            chunk,
            |b| codec.decode(b),
            |rec| {
                check_packet(&rec);
                got.push(rec);
            },
        );

        // zab-core's decoder reads the same first packet, and the codec finds
        // every first packet zab-core reads that is within the caps.
        let mut r = JuteReader::new(wire);
        let whole = QuorumPacketRecord::read(&mut r);
        match (got.first(), &whole) {
            (Some(first), _) => assert_eq!(whole.as_ref(), Ok(first)),
            (None, Ok(rec)) => assert!(
                r.position() > CAP || rec.authinfo.len() > MAX_AUTH,
                "zab-core decodes {rec:?}, the codec does not"
            ),
            (None, Err(_)) => {}
        }

        let mut again = BytesMut::new();
        let mut encoder = QuorumPacketCodec::new(CAP, MAX_AUTH);
        for rec in &got {
            encoder.encode(rec.clone(), &mut again).expect("re-encode");
        }
        let mut back = Vec::new();
        let mut decoder = QuorumPacketCodec::new(CAP, MAX_AUTH);
        let err = zk_fuzz::feed(
            &again,
            usize::MAX,
            |b| decoder.decode(b),
            |rec| back.push(rec),
        );
        assert!(err.is_none(), "re-encoded stream fails: {err:?}");
        assert_eq!(back, got);
    });
    zk_fuzz::assert_bounded("quorum packets", stats, wire.len(), 2 * CAP, 32);
});
