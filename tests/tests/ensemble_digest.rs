//! Apache's tree digest across implementations (issue 15, `digest_mismatches_count`):
//! an Apache ZooKeeper 3.8 leader attaches to each proposal the digest of the tree
//! after it, and our learners compare theirs; our leader attaches the same digest,
//! and Apache's learners compare theirs. A workload with every kind of transaction
//! (ephemeral, sequential, container and TTL nodes and the leader's deleteContainer,
//! setData, setACL, delete, multis that pass and fail, error transactions, a
//! closeSession that deletes ephemerals) runs through our client; then every server's
//! mntr must report `digest_mismatches_count` 0, and our learner's log must show that
//! it compared digests (the line it logs on its first comparison): a learner that
//! skipped the comparison, or a leader that attached nothing, fails it.
//!
//! And our follower restarted from its own snapshot, whose Apache digest comes from
//! the file's trailer rather than from every node (issue 17), against an Apache leader.

use std::time::Duration;

use bytes::Bytes;
use zab_core::proto::{create_mode, CreateRequest, DeleteRequest, MultiOp, SetDataRequest};
use zab_core::records::{perms, Acl, Id};
use zk_cli::client::Client;
use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::{wait_until, Kind};

const COMPARED: &str = "digest check: transaction";

fn open() -> Vec<Acl> {
    Acl::open_unsafe()
}

fn create(path: &str, data: &'static [u8]) -> MultiOp {
    MultiOp::Create {
        op_type: zab_core::proto::op::CREATE,
        req: CreateRequest {
            path: path.into(),
            data: Some(Bytes::from_static(data)),
            acl: open(),
            flags: create_mode::PERSISTENT,
        },
    }
}

/// Every kind of transaction, through `hosts`; a second session, through `other`,
/// owns ephemerals and closes.
async fn workload(hosts: &str, other: &str) {
    let (c, _events) = Client::connect(hosts).await.expect("connect");
    let (e, _events2) = Client::connect(other)
        .await
        .expect("connect the second session");
    let acl = open();
    c.create("/dg", b"top", &acl, create_mode::PERSISTENT, 0)
        .await
        .unwrap();
    for _ in 0..3 {
        c.create(
            "/dg/seq-",
            b"s",
            &acl,
            create_mode::PERSISTENT_SEQUENTIAL,
            0,
        )
        .await
        .unwrap();
    }
    e.create("/dg/eph", b"e", &acl, create_mode::EPHEMERAL, 0)
        .await
        .unwrap();
    e.create("/dg/eseq-", b"", &acl, create_mode::EPHEMERAL_SEQUENTIAL, 0)
        .await
        .unwrap();
    c.create("/dg/box", b"", &acl, create_mode::CONTAINER, 0)
        .await
        .unwrap();
    c.create("/dg/box/in", b"i", &acl, create_mode::PERSISTENT, 0)
        .await
        .unwrap();
    c.create("/dg/ttl", b"t", &acl, create_mode::PERSISTENT_WITH_TTL, 1)
        .await
        .unwrap();
    c.set_data("/dg", b"top2", -1).await.unwrap();
    c.set_data("/dg/eph", b"", -1).await.unwrap();
    let no_admin = [Acl {
        perms: perms::ALL & !perms::ADMIN,
        id: Id::new("world", "anyone"),
    }];
    c.set_acl("/dg/seq-0000000000", &no_admin, -1)
        .await
        .unwrap();
    c.delete("/dg/seq-0000000001", -1).await.unwrap();
    // The container empties: the leader's check deletes it (deleteContainer), and the
    // TTL node once its millisecond has passed.
    c.delete("/dg/box/in", -1).await.unwrap();
    c.multi(vec![
        create("/dg/m", b"m"),
        MultiOp::SetData(SetDataRequest {
            path: "/dg/m".into(),
            data: Some(Bytes::from_static(b"mm")),
            version: 0,
        }),
        MultiOp::Delete(DeleteRequest {
            path: "/dg/seq-0000000002".into(),
            version: -1,
        }),
    ])
    .await
    .unwrap();
    // A multi that fails at its second op, and error transactions.
    assert!(c
        .multi(vec![
            create("/dg/n", b"n"),
            MultiOp::Delete(DeleteRequest {
                path: "/dg/missing".into(),
                version: -1,
            }),
        ])
        .await
        .is_err());
    assert!(c
        .create("/dg", b"again", &acl, create_mode::PERSISTENT, 0)
        .await
        .is_err());
    assert!(c.delete("/dg/missing", -1).await.is_err());
    assert!(c.set_data("/dg", b"x", 99).await.is_err());
    // closeSession deletes the second session's ephemerals.
    e.close().await.unwrap();
    for path in ["/dg/box", "/dg/ttl"] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while c.exists(path, false).await.unwrap().is_some() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path} was not removed by the leader's container check"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(c.exists("/dg/eph", false).await.unwrap().is_none());
    for i in 0..50 {
        c.create(
            &format!("/dg/end{i}"),
            b"e",
            &acl,
            create_mode::PERSISTENT,
            0,
        )
        .await
        .unwrap();
    }
    c.close().await.unwrap();
}

/// Servers 3 and 2 elect 3 (the higher id); 1 joins as a follower and 4 as an observer
/// (INFORM carries the digest as PROPOSAL does). The workload goes through follower 1
/// and leader 3; every server must end at the same zxid with no mismatch, and our
/// servers in `compared_by` must have compared digests.
fn digests_agree(spec: Spec, compared_by: &[u64]) {
    let spec = spec
        .ticks(500, 20, 10)
        .java_prop("zookeeper.extendedTypesEnabled", "true")
        .java_prop("znode.container.checkIntervalMs", "200");
    let mut ens = Ensemble::new(spec);
    ens.start(3);
    ens.start(2);
    let leader = ens.wait_serving(&[2, 3], Duration::from_secs(60));
    assert_eq!(leader, 3, "{}", ens.logs(&[2, 3]));
    ens.start(1);
    ens.start(4);
    ens.wait_mode(1, "follower", Duration::from_secs(60));
    ens.wait_mode(4, "observer", Duration::from_secs(60));
    let (through_1, through_3) = (ens.member(1).hosts(), ens.member(3).hosts());
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(workload(&through_1, &through_3));
    let last = ens.zxid(3).expect("the leader's zxid");
    // The workload's 75 transactions, its two sessions' and the leader's two
    // deleteContainers among them.
    assert!(last & 0xffff_ffff >= 75, "the leader is at 0x{last:x}");
    assert!(
        wait_until(Duration::from_secs(30), || [1, 2, 4]
            .iter()
            .all(|&id| ens.zxid(id).is_some_and(|z| z >= last))),
        "the learners did not reach 0x{last:x}"
    );
    for id in [1, 2, 3, 4] {
        assert_eq!(
            ens.mntr_number(id, "digest_mismatches_count"),
            0,
            "server {id}:\n{}",
            ens.log(id)
        );
    }
    for &id in compared_by {
        assert!(
            ens.log(id).contains(COMPARED),
            "server {id} compared no digest:\n{}",
            ens.log(id)
        );
    }
}

#[test]
fn our_learners_compare_an_apache_leaders_digests() {
    let mut spec = Spec::new(3, 1)
        .member_kind(1, Kind::Ours)
        .member_kind(2, Kind::Ours)
        .member_kind(4, Kind::Ours);
    spec.kind = Kind::Apache;
    digests_agree(spec, &[1, 2, 4]);
}

#[test]
fn apache_learners_compare_our_leaders_digests() {
    // Our follower 2 shows that our leader attached digests; Apache's follower 1 and
    // observer 4 that they are the ones Apache computes.
    digests_agree(
        Spec::new(3, 1)
            .member_kind(1, Kind::Apache)
            .member_kind(4, Kind::Apache),
        &[2, 3],
    );
}

/// Creates, sets and deletes under `/after`, through `hosts`.
async fn more_writes(hosts: &str) {
    let (c, _events) = Client::connect(hosts).await.expect("connect");
    let acl = open();
    c.create("/after", b"a", &acl, create_mode::PERSISTENT, 0)
        .await
        .unwrap();
    for i in 0..20 {
        let path = format!("/after/n{i}");
        c.create(&path, b"v", &acl, create_mode::PERSISTENT, 0)
            .await
            .unwrap();
        c.set_data(&path, format!("set {i}").as_bytes(), 0)
            .await
            .unwrap();
        if i % 3 == 0 {
            c.delete(&path, 1).await.unwrap();
        }
    }
    c.set_data("/dg", b"after the restart", -1).await.unwrap();
    c.close().await.unwrap();
}

/// Our follower restarted from its own snapshot (version 3: Apache's digest taken from
/// the file, not computed per node) and its log, brought up to date by DIFF, compares
/// an Apache leader's digests of the writes after it without a mismatch: Apache, which
/// computes its digest over its whole tree, is the oracle for the one our follower
/// started from its snapshot's trailer.
#[test]
fn our_follower_restarted_from_its_snapshot_matches_an_apache_leaders_digests() {
    let mut spec = Spec::new(3, 0)
        .member_kind(1, Kind::Ours)
        .member_kind(2, Kind::Ours)
        .extra("snapCount", "20")
        .ticks(500, 20, 10)
        .java_prop("zookeeper.extendedTypesEnabled", "true")
        .java_prop("znode.container.checkIntervalMs", "200");
    spec.kind = Kind::Apache;
    let mut ens = Ensemble::new(spec);
    ens.start(3);
    ens.start(2);
    let leader = ens.wait_serving(&[2, 3], Duration::from_secs(60));
    assert_eq!(leader, 3, "{}", ens.logs(&[2, 3]));
    ens.start(1);
    ens.wait_mode(1, "follower", Duration::from_secs(60));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(workload(&ens.member(1).hosts(), &ens.member(3).hosts()));
    let last = ens.zxid(3).expect("the leader's zxid");
    assert!(
        wait_until(Duration::from_secs(30), || ens
            .zxid(2)
            .is_some_and(|z| z >= last)),
        "follower 2 did not reach 0x{last:x}"
    );
    let snapshots = |ens: &Ensemble| -> Vec<std::path::PathBuf> {
        let dir = ens.member(2).data_dir().join("version-2");
        let mut s: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("snapshot.") && !n.ends_with(".tmp"))
            })
            .collect();
        s.sort();
        s
    };
    assert!(
        wait_until(Duration::from_secs(30), || !snapshots(&ens).is_empty()),
        "follower 2 wrote no snapshot with snapCount=20"
    );
    for s in snapshots(&ens) {
        let b = std::fs::read(&s).unwrap();
        assert_eq!(
            &b[4..8],
            &3u32.to_be_bytes(),
            "{} is not version 3",
            s.display()
        );
    }

    ens.kill(2);
    let before = ens.log(2).len();
    ens.start(2);
    ens.wait_mode(2, "follower", Duration::from_secs(60));
    rt.block_on(more_writes(&ens.member(2).hosts()));
    // At least the leader's zxid now: a session the workload left open may expire on
    // the leader's clock meanwhile, and its closeSession takes every server past it.
    let last = ens.zxid(3).expect("the leader's zxid");
    assert!(
        wait_until(Duration::from_secs(30), || [1, 2]
            .iter()
            .all(|&id| ens.zxid(id).is_some_and(|z| z >= last))),
        "the followers did not reach 0x{last:x}: {:?}\n{}",
        [1, 2, 3].map(|id| ens.zxid(id)),
        ens.logs(&[1, 2, 3])
    );
    let after = ens.log(2)[before..].to_owned();
    assert!(
        after.contains("loaded snapshot")
            && after.contains("by DIFF")
            && !after.contains("by SNAP"),
        "follower 2 did not restart from its snapshot and a DIFF:\n{after}"
    );
    assert!(
        after.contains(COMPARED),
        "follower 2 compared no digest after its restart:\n{after}"
    );
    for id in [1, 2, 3] {
        assert_eq!(
            ens.mntr_number(id, "digest_mismatches_count"),
            0,
            "server {id}:\n{}",
            ens.log(id)
        );
    }
}
