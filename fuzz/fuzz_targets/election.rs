//! The election port: an initial message (zab-net's `InitialMessageCodec`),
//! then length-prefixed frames (`LengthCodec`, empty frames refused as
//! ZooKeeper does), each a FastLeaderElection notification
//! (`Notification::decode`, every version). The raw input is also decoded
//! directly as a notification and as zab-core's `InitialMessage`.
//!
//! Asserts: the codec and zab-core agree on the initial message; initial
//! messages and notifications re-encode to bytes that decode to the same
//! value; frames never exceed the cap; memory stays linear in the input.
#![no_main]

use std::cell::Cell;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;
use zab_core::wire::{InitialMessage, Notification};
use zab_net::{InitialMessageCodec, LengthCodec};

const CAP: usize = 64 << 10;

enum Item {
    Initial(InitialMessage),
    Frame(bytes::Bytes),
}

fn check_notification(b: &[u8]) {
    if let Ok(n) = Notification::decode(b) {
        assert_eq!(Notification::decode(&n.encode()).as_ref(), Ok(&n));
    }
}

fuzz_target!(|data: &[u8]| {
    let (chunk, wire) = zk_fuzz::chunking(data);
    let ((), stats) = zk_fuzz::measure(|| {
        check_notification(wire);
        if let Ok(m) = InitialMessage::decode(wire) {
            assert_eq!(InitialMessage::decode(&m.encode()).as_ref(), Ok(&m));
        }

        let handshake_done = Cell::new(false);
        let mut frames = LengthCodec::new(CAP).reject_empty();
        zk_fuzz::feed(
            wire,
            chunk,
            |b| {
                if handshake_done.get() {
                    frames.decode(b).map(|f| f.map(Item::Frame))
                } else {
                    InitialMessageCodec.decode(b).map(|m| m.map(Item::Initial))
                }
            },
            |item| match item {
                Item::Initial(m) => {
                    handshake_done.set(true);
                    assert_eq!(InitialMessage::decode(wire).as_ref(), Ok(&m));
                    let mut again = BytesMut::from(&m.encode()[..]);
                    assert_eq!(InitialMessageCodec.decode(&mut again).ok(), Some(Some(m)));
                    assert!(again.is_empty());
                }
                Item::Frame(f) => {
                    assert!(!f.is_empty() && f.len() <= CAP);
                    check_notification(&f);
                }
            },
        );
    });
    zk_fuzz::assert_bounded("election", stats, wire.len(), CAP, 32);
});
