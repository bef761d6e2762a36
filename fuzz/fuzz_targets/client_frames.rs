//! The client port as a peer sees it: bytes arrive in chunks, the frame codec
//! cuts them into a four-letter word or frames, the first frame is a
//! ConnectRequest and every later one a request header and an operation body
//! (`zk_server::net::serve_connection`'s path, without the socket).
//!
//! Asserts: the frames decoded, re-framed, are exactly the bytes consumed; no
//! frame exceeds the cap; every decoded ConnectRequest and operation re-encodes
//! to bytes that decode to the same value; memory stays linear in the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;
use zab_core::jute::{JuteReader, Record};
use zab_core::proto::{ConnectRequest, Op, RequestHeader};
use zk_server::config::ALL_FOUR_LETTER_WORDS;
use zk_server::net::{ClientCodec, Inbound};

const CAP: usize = 64 << 10;

fn check_request(frame: &[u8]) {
    let mut r = JuteReader::new(frame);
    let Ok(hdr) = RequestHeader::read(&mut r) else {
        return;
    };
    let body = &frame[8..];
    if let Ok(op) = Op::parse(hdr.op_type, body) {
        let again = Op::parse(hdr.op_type, &zk_fuzz::encode_op(hdr.op_type, &op));
        assert_eq!(again.as_ref(), Ok(&op), "op {} round trip", hdr.op_type);
    }
}

fuzz_target!(|data: &[u8]| {
    let (chunk, wire) = zk_fuzz::chunking(data);
    let ((), stats) = zk_fuzz::measure(|| {
        let mut codec = ClientCodec::new(CAP);
        let mut consumed: Vec<u8> = Vec::new();
        let mut first = true;
        zk_fuzz::feed(
            wire,
            chunk,
            |b| codec.decode(b),
            |inbound| {
                match inbound {
                    Inbound::FourLetter(w) => {
                        assert!(first, "a four-letter word after the first frame");
                        assert!(ALL_FOUR_LETTER_WORDS.contains(&w.as_str()));
                        consumed.extend_from_slice(w.as_bytes());
                    }
                    Inbound::Frame(f) => {
                        assert!(f.len() <= CAP);
                        consumed.extend_from_slice(&(f.len() as i32).to_be_bytes());
                        consumed.extend_from_slice(&f);
                        if first {
                            zk_fuzz::round_trip::<ConnectRequest>("ConnectRequest", &f);
                        } else {
                            check_request(&f);
                        }
                    }
                }
                first = false;
            },
        );
        assert!(wire.starts_with(&consumed), "frames are not what was sent");
    });
    zk_fuzz::assert_bounded("client frames", stats, wire.len(), CAP, 32);
});
