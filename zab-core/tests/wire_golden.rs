//! Golden bytes of quorum packets, transactions and election notifications, as Apache
//! ZooKeeper 3.8.0 writes them.
//!
//! The hex strings were printed by `tests/golden/Golden.java`, which builds each message
//! with ZooKeeper's own classes (`QuorumPacket`, `LearnerInfo`, `TxnHeader`, `CreateTxn`,
//! `TxnDigest`, `Util.marshallTxnEntry`, `FastLeaderElection.buildMsg`) exactly as
//! `Learner`, `LearnerHandler` and `Leader` do; the command to rerun it is at its top.
//!
//! One documented difference (docs/protocol.md): ZooKeeper writes a null authinfo as
//! count -1, we write an empty one as count 0 (ZooKeeper reads both). [`same_but_authinfo`]
//! checks everything else byte for byte.

use bytes::Bytes;
use zab_core::jute::Record;
use zab_core::records::{op, Acl, Id};
use zab_core::txn::{CreateTxn, Txn, TxnBody, TxnDigest, TxnHeader};
use zab_core::wire::{LearnerInfo, PROTOCOL_VERSION};
use zab_core::{Epoch, Notification, QuorumPacket, ServerId, ServerState, Zxid};

fn hex(s: &str) -> Vec<u8> {
    assert_eq!(s.len() & 1, 0, "whole bytes");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// `ours` equals ZooKeeper's `theirs` except that its trailing authinfo count is 0 where
/// ZooKeeper's is -1 (null); and ZooKeeper's bytes decode to `p`.
fn same_but_authinfo(p: &QuorumPacket, theirs: &[u8]) {
    let ours = p.encode();
    let n = theirs.len();
    assert_eq!(ours.len(), n);
    assert_eq!(ours[..n - 4], theirs[..n - 4], "{p:?}");
    assert_eq!(ours[n - 4..], [0, 0, 0, 0]);
    assert_eq!(theirs[n - 4..], [0xff, 0xff, 0xff, 0xff]);
    assert_eq!(&QuorumPacket::decode(theirs).expect("decodes"), p);
}

const FOLLOWERINFO: &str =
    "0000000b0000000300000000000000140000000000000002000100000000000100000000ffffffff";
const ACKEPOCH: &str = "0000001200000002000000050000000400000002ffffffff";
const ACKEPOCH_ACCEPTED: &str = "00000012000000020000000500000004ffffffffffffffff";
const NEWLEADER: &str = concat!(
    "0000000a00000004000000000000003a",
    "7365727665722e313d3132372e302e302e313a323838383a333838383a7061727469636970616e740a",
    "76657273696f6e3d313030303030303030",
    "ffffffff"
);
const TXN: &str = concat!(
    "0000001000001234",     // clientId
    "00000007",             // cxid
    "0000000400000001",     // zxid
    "0000018bcfe5687b",     // time
    "00000001",             // type: create
    "000000042f617070",     // path "/app"
    "0000000568656c6c6f",   // data "hello"
    "00000001",             // one ACL
    "0000001f",             // perms ALL
    "00000005776f726c64",   // "world"
    "00000006616e796f6e65", // "anyone"
    "00",                   // ephemeral false
    "00000001",             // parentCVersion
    "00000002",             // digest version
    "0123456789abcdef"      // treeDigest
);
const SYNC: &str = "000000070000000000000000ffffffffffffffff";
const UPTODATE: &str = "0000000cffffffffffffffffffffffffffffffff";
const REQUEST_EMPTY_AUTH: &str = "00000001ffffffffffffffff00000002010200000000";
const NOTIFICATION_V1: &str =
    "00000001000000000000000300000001000000020000000000000007000000000000000100000001";
const NOTIFICATION_V2: &str =
    "0000000000000000000000030000000100000002000000000000000700000000000000010000000200000003763d31";

#[test]
fn followerinfo_with_learnerinfo() {
    let p = QuorumPacket::FollowerInfo {
        accepted_epoch: Epoch(3),
        info: LearnerInfo {
            sid: ServerId(2),
            protocol_version: PROTOCOL_VERSION,
            config_version: 0x1_0000_0000,
        },
        zk_rs: false,
    };
    same_but_authinfo(&p, &hex(FOLLOWERINFO));
}

#[test]
fn ackepoch_with_current_epoch_and_with_minus_one() {
    let p = QuorumPacket::AckEpoch {
        last_zxid: Zxid(0x2_0000_0005),
        current_epoch: 2,
    };
    same_but_authinfo(&p, &hex(ACKEPOCH));
    // A ZooKeeper learner that had accepted the epoch already sends -1.
    let p = QuorumPacket::AckEpoch {
        last_zxid: Zxid(0x2_0000_0005),
        current_epoch: -1,
    };
    same_but_authinfo(&p, &hex(ACKEPOCH_ACCEPTED));
}

#[test]
fn newleader_with_the_quorum_verifier_text() {
    let p = QuorumPacket::NewLeader {
        zxid: Zxid::new(Epoch(4), 0),
        config: Bytes::from_static(b"server.1=127.0.0.1:2888:3888:participant\nversion=100000000"),
    };
    same_but_authinfo(&p, &hex(NEWLEADER));
}

fn create_txn() -> Txn {
    Txn {
        header: TxnHeader {
            client_id: 0x10_0000_1234,
            cxid: 7,
            zxid: Zxid(0x4_0000_0001),
            time: 1_700_000_000_123,
            txn_type: op::CREATE,
        },
        body: TxnBody::Create(CreateTxn {
            path: "/app".into(),
            data: Some(Bytes::from_static(b"hello")),
            acl: vec![Acl {
                perms: 31,
                id: Id::new("world", "anyone"),
            }],
            ephemeral: false,
            parent_cversion: 1,
        }),
        digest: Some(TxnDigest {
            version: 2,
            tree_digest: 0x0123_4567_89ab_cdef,
        }),
    }
}

#[test]
fn txn_is_header_record_and_digest() {
    let txn = create_txn();
    assert_eq!(txn.to_bytes(), hex(TXN));
    assert_eq!(Txn::from_bytes(&hex(TXN)).expect("decodes"), txn);
}

#[test]
fn proposal_carrying_a_txn() {
    // type 2, zxid, data of 0x5d bytes: the txn above, null authinfo.
    let mut theirs = hex("0000000200000004000000010000005d");
    theirs.extend(hex(TXN));
    theirs.extend(hex("ffffffff"));
    let p = QuorumPacket::Proposal {
        zxid: Zxid(0x4_0000_0001),
        data: Bytes::from(create_txn().to_bytes()),
    };
    same_but_authinfo(&p, &theirs);
    let QuorumPacket::Proposal { data, .. } = QuorumPacket::decode(&theirs).expect("decodes")
    else {
        panic!("a PROPOSAL");
    };
    assert_eq!(Txn::from_bytes(&data).expect("a txn"), create_txn());
}

#[test]
fn zookeeper_sync_and_uptodate_decode() {
    // Leader.sendSync writes zxid 0 (we write the zxid the sync waited for).
    assert_eq!(
        QuorumPacket::decode(&hex(SYNC)).expect("decodes"),
        QuorumPacket::Sync { zxid: Zxid(0) }
    );
    // LearnerHandler writes UPTODATE with zxid -1 (we write our commit point).
    assert_eq!(
        QuorumPacket::decode(&hex(UPTODATE)).expect("decodes"),
        QuorumPacket::UpToDate { zxid: Zxid(-1) }
    );
}

#[test]
fn request_with_an_empty_authinfo_list_is_byte_identical() {
    // A learner's REQUEST carries the session's (possibly empty, never null) auth list.
    let p = QuorumPacket::Request {
        data: Bytes::from_static(&[1, 2]),
        authinfo: vec![],
    };
    assert_eq!(p.encode(), hex(REQUEST_EMPTY_AUTH));
    assert_eq!(
        QuorumPacket::decode(&hex(REQUEST_EMPTY_AUTH)).expect("decodes"),
        p
    );
}

#[test]
fn notification_version_1_is_40_bytes_without_config() {
    let b = hex(NOTIFICATION_V1);
    assert_eq!(b.len(), 40);
    let n = Notification::decode(&b).expect("decodes");
    assert_eq!(
        n,
        Notification {
            state: ServerState::Following,
            leader: ServerId(3),
            zxid: Zxid(0x1_0000_0002),
            election_epoch: 7,
            peer_epoch: Epoch(1),
            version: 1,
            config: Bytes::new(),
        }
    );
    // We would send the same vote as version 2: the same 40 bytes, then the config.
    let v2 = Notification { version: 2, ..n }.encode();
    assert_eq!(v2[..36], b[..36]);
    assert_eq!(v2[36..], [0, 0, 0, 2, 0, 0, 0, 0]);
}

#[test]
fn notification_version_2_is_byte_identical() {
    let n = Notification {
        state: ServerState::Looking,
        leader: ServerId(3),
        zxid: Zxid(0x1_0000_0002),
        election_epoch: 7,
        peer_epoch: Epoch(1),
        version: 2,
        config: Bytes::from_static(b"v=1"),
    };
    assert_eq!(n.encode(), hex(NOTIFICATION_V2));
    assert_eq!(
        Notification::decode(&hex(NOTIFICATION_V2)).expect("decodes"),
        n
    );
}
