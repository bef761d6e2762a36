//! The `QuorumPacket` record as it travels on the quorum port (the record
//! type and its field encoder are zab-core's [`QuorumPacketRecord`]).
//!
//! ZooKeeper writes each packet with `BinaryOutputArchive.writeRecord`
//! straight onto the socket (`Learner.writePacket`, `LearnerHandler`), with
//! no outer length prefix, so the decoder walks the record itself:
//!
//! ```text
//! QuorumPacket := int(type) long(zxid) buffer(data) vector(authinfo)
//! buffer       := int(len) byte{len}          ; len = -1: null
//! vector       := int(count) Id{count}        ; count = -1: null
//! Id           := ustring(scheme) ustring(id)
//! ustring      := int(len) utf8{len}          ; len = -1: null, read as ""
//!                                             ; vector count -1 (null) reads as empty
//! ```
//!
//! Every length is checked before anything is reserved: the whole encoded
//! packet may not exceed `max_packet_len` (ZooKeeper's `jute.maxbuffer` plus
//! `jute.maxbuffer.extrasize`, 2 * 0xfffff by default) and the authinfo
//! vector may not hold more than `max_auth_entries` ids. Any other negative
//! length is an error. The packet types and payloads are `zab-core`'s.
//!
//! One thing on the quorum port is not a packet: right after a SNAP packet the leader
//! writes its database as Apache ZooKeeper serializes it, unframed, and the signature
//! (`zab_core::zkdb`):
//!
//! ```text
//! snap_sync := QuorumPacket(type SNAP) db ustring("BenWasHere") QuorumPacket*
//! ```
//!
//! The codec carries it as a second SNAP record whose data is the database: the encoder
//! writes the data of the record after a SNAP raw, then the signature; the decoder, after a
//! SNAP, finds the database's end with `zkdb::DbScanner` (each path, data or ACL row
//! capped like a packet; the whole database grows only with the bytes that arrive) and
//! hands it over the same way, the signature checked and stripped.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use zab_core::jute::Record;
use zab_core::records::Id;
use zab_core::wire::packet_type::SNAP;
use zab_core::zkdb::{self, DbScanner};
use zab_core::ServerId;

use crate::error::NetError;

pub use zab_core::wire::packet_type::{FOLLOWERINFO, OBSERVERINFO};
pub use zab_core::wire::QuorumPacketRecord;

/// Default cap: `jute.maxbuffer` (0xfffff) + `jute.maxbuffer.extrasize` (the same).
pub const DEFAULT_MAX_PACKET_LEN: usize = 2 * 0xfffff;
/// Default cap on authinfo entries (ZooKeeper has none; a session adds one per `addauth`).
pub const DEFAULT_MAX_AUTH_ENTRIES: usize = 1024;

/// The learner's sid from a FOLLOWERINFO / OBSERVERINFO packet:
/// `LearnerInfo := long(sid) int(protocolVersion) long(configVersion)`,
/// of which ZooKeeper reads as much as is there (`LearnerHandler.run`).
/// `None` when the data is null or shorter than 8 bytes; ZooKeeper then
/// makes up a negative id, which is the driver's business.
pub fn learner_sid(p: &QuorumPacketRecord) -> Option<ServerId> {
    let d = p.data.as_ref()?;
    let b: [u8; 8] = d.get(..8)?.try_into().ok()?;
    Some(ServerId(i64::from_be_bytes(b) as u64))
}

fn encoded_len(p: &QuorumPacketRecord) -> usize {
    let mut n = 4 + 8 + 4 + p.data.as_ref().map_or(0, |d| d.len()) + 4;
    for id in &p.authinfo {
        n += 4 + id.scheme.len() + 4 + id.id.len();
    }
    n
}

/// Incremental decoder and encoder of zab-core's [`QuorumPacketRecord`] with
/// caps. The encoder is zab-core's `Record::write` (an empty authinfo goes
/// out as count 0, where ZooKeeper writes -1 for null; ZooKeeper reads both);
/// a null authinfo is decoded as empty.
#[derive(Debug, Clone)]
pub struct QuorumPacketCodec {
    max_packet_len: usize,
    max_auth_entries: usize,
    /// Decoder: a SNAP was read; the serialized database comes next (its zxid, how far
    /// the scan got).
    snap_body: Option<(i64, DbScanner)>,
    /// Encoder: a SNAP was written; the next record's data goes out raw.
    snap_body_next: bool,
}

impl Default for QuorumPacketCodec {
    fn default() -> Self {
        QuorumPacketCodec::new(DEFAULT_MAX_PACKET_LEN, DEFAULT_MAX_AUTH_ENTRIES)
    }
}

/// Where the scan of a partial packet stopped.
enum Scan {
    /// The whole packet is there and is this long.
    Complete(usize),
    /// At least this many bytes are needed in total (a lower bound).
    Need(usize),
}

impl QuorumPacketCodec {
    pub fn new(max_packet_len: usize, max_auth_entries: usize) -> QuorumPacketCodec {
        QuorumPacketCodec {
            max_packet_len,
            max_auth_entries,
            snap_body: None,
            snap_body_next: false,
        }
    }

    /// Checks a length-prefixed field starting at `pos`; returns where it ends.
    fn field(
        &self,
        src: &[u8],
        pos: usize,
        name: &'static str,
    ) -> Result<Result<usize, usize>, NetError> {
        if src.len() < pos + 4 {
            return Ok(Err(pos + 4));
        }
        let len = i32::from_be_bytes(src[pos..pos + 4].try_into().expect("4 bytes"));
        if len == -1 {
            return Ok(Ok(pos + 4));
        }
        if len < 0 {
            return Err(NetError::NegativeLength {
                field: name,
                len: len as i64,
            });
        }
        let end = pos + 4 + len as usize;
        self.within_cap(end, name)?;
        Ok(if src.len() < end { Err(end) } else { Ok(end) })
    }

    fn within_cap(&self, end: usize, name: &'static str) -> Result<(), NetError> {
        if end > self.max_packet_len {
            return Err(NetError::TooLarge {
                field: name,
                len: end as u64,
                max: self.max_packet_len,
            });
        }
        Ok(())
    }

    /// Walks the lengths without copying anything.
    fn scan(&self, src: &[u8]) -> Result<Scan, NetError> {
        let mut pos = 12;
        pos = match self.field(src, pos, "data")? {
            Ok(end) => end,
            Err(need) => return Ok(Scan::Need(need)),
        };
        if src.len() < pos + 4 {
            return Ok(Scan::Need(pos + 4));
        }
        let count = i32::from_be_bytes(src[pos..pos + 4].try_into().expect("4 bytes"));
        pos += 4;
        self.within_cap(pos, "packet")?;
        if count == -1 {
            return Ok(Scan::Complete(pos));
        }
        if count < 0 {
            return Err(NetError::NegativeLength {
                field: "authinfo",
                len: count as i64,
            });
        }
        if count as usize > self.max_auth_entries {
            return Err(NetError::TooLarge {
                field: "authinfo",
                len: count as u64,
                max: self.max_auth_entries,
            });
        }
        for _ in 0..count {
            for name in ["scheme", "id"] {
                pos = match self.field(src, pos, name)? {
                    Ok(end) => end,
                    Err(need) => return Ok(Scan::Need(need)),
                };
            }
        }
        Ok(Scan::Complete(pos))
    }
}

/// Reads fields the scan has already checked.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn i32(&mut self) -> i32 {
        let v = i32::from_be_bytes(self.0[..4].try_into().expect("scanned"));
        self.0 = &self.0[4..];
        v
    }
    fn i64(&mut self) -> i64 {
        let v = i64::from_be_bytes(self.0[..8].try_into().expect("scanned"));
        self.0 = &self.0[8..];
        v
    }
    fn bytes(&mut self) -> Option<&[u8]> {
        let len = self.i32();
        if len < 0 {
            return None;
        }
        let (b, rest) = self.0.split_at(len as usize);
        self.0 = rest;
        Some(b)
    }
    fn string(&mut self, field: &'static str) -> Result<String, NetError> {
        match self.bytes() {
            None => Ok(String::new()),
            Some(b) => std::str::from_utf8(b)
                .map(str::to_owned)
                .map_err(|_| NetError::InvalidUtf8 { field }),
        }
    }
}

impl Decoder for QuorumPacketCodec {
    type Item = QuorumPacketRecord;
    type Error = NetError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<QuorumPacketRecord>, NetError> {
        if let Some((zxid, scanner)) = self.snap_body.as_mut() {
            let zxid = *zxid;
            let Some((db_len, total)) = scanner.scan(src).map_err(NetError::Snapshot)? else {
                return Ok(None);
            };
            self.snap_body = None;
            let mut whole = src.split_to(total).freeze();
            whole.truncate(db_len);
            return Ok(Some(QuorumPacketRecord {
                packet_type: SNAP,
                zxid,
                data: Some(whole),
                authinfo: Vec::new(),
            }));
        }
        let total = match self.scan(src)? {
            Scan::Complete(n) => n,
            Scan::Need(n) => {
                // `n` has been checked against the cap, or is a small header.
                if n > src.len() {
                    src.reserve(n - src.len());
                }
                return Ok(None);
            }
        };
        let mut r = Reader(&src[..total]);
        let packet_type = r.i32();
        let zxid = r.i64();
        let data_range = r
            .bytes()
            .map(|d| (d.as_ptr() as usize - src.as_ptr() as usize, d.len()));
        let count = r.i32();
        let mut authinfo = Vec::new();
        for _ in 0..count.max(0) {
            authinfo.push(Id {
                scheme: r.string("scheme")?,
                id: r.string("id")?,
            });
        }
        let mut whole = src.split_to(total).freeze();
        let data = data_range.map(|(start, len)| whole.split_off(start).split_to(len));
        if packet_type == SNAP {
            self.snap_body = Some((zxid, DbScanner::new(self.max_packet_len)));
        }
        Ok(Some(QuorumPacketRecord {
            packet_type,
            zxid,
            data,
            authinfo,
        }))
    }
}

impl Encoder<QuorumPacketRecord> for QuorumPacketCodec {
    type Error = NetError;

    fn encode(&mut self, p: QuorumPacketRecord, dst: &mut BytesMut) -> Result<(), NetError> {
        if std::mem::take(&mut self.snap_body_next) {
            // The serialized database after a SNAP: raw, then the signature.
            let db = p.data.unwrap_or_default();
            dst.reserve(db.len() + 4 + zkdb::SIGNATURE.len());
            dst.extend_from_slice(&db);
            zkdb::write_signature(dst);
            return Ok(());
        }
        self.snap_body_next = p.packet_type == SNAP;
        let n = encoded_len(&p);
        self.within_cap(n, "packet")?;
        if p.authinfo.len() > self.max_auth_entries {
            return Err(NetError::TooLarge {
                field: "authinfo",
                len: p.authinfo.len() as u64,
                max: self.max_auth_entries,
            });
        }
        dst.reserve(n);
        p.write(dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, Bytes};
    use proptest::prelude::*;

    fn pkt(packet_type: i32, zxid: i64, data: Option<Bytes>) -> QuorumPacketRecord {
        QuorumPacketRecord {
            packet_type,
            zxid,
            data,
            authinfo: vec![],
        }
    }

    fn encode(p: &QuorumPacketRecord) -> BytesMut {
        let mut b = BytesMut::new();
        QuorumPacketCodec::default()
            .encode(p.clone(), &mut b)
            .unwrap();
        b
    }

    /// SNAP, the serialized database unframed, "BenWasHere", then packets again: what
    /// Apache's `LearnerHandler` writes. Decoded at every split of the input, encoded back
    /// to the same bytes.
    #[test]
    fn snap_is_followed_by_the_raw_database_and_the_signature() {
        use zab_core::zkdb;
        let mut db = Vec::new();
        zkdb::write_sessions(&mut db, &[(7, 3000)]);
        zkdb::write_acl_count(&mut db, 0);
        zkdb::write_node(&mut db, "/", None, -1, &Default::default());
        zkdb::write_end(&mut db);
        let snap = pkt(SNAP, 0x1_0000_0005, None);
        let body = pkt(SNAP, 0x1_0000_0005, Some(Bytes::from(db.clone())));
        let next = pkt(10, 0x2_0000_0000, Some(Bytes::from_static(b"cfg")));
        let mut c = QuorumPacketCodec::default();
        let mut wire = BytesMut::new();
        for p in [&snap, &body, &next] {
            c.encode(p.clone(), &mut wire).unwrap();
        }
        let mut want = encode(&snap).to_vec();
        want.extend_from_slice(&db);
        want.extend_from_slice(&10i32.to_be_bytes());
        want.extend_from_slice(b"BenWasHere");
        want.extend_from_slice(&encode(&next));
        assert_eq!(&wire[..], &want[..]);
        for cut in 0..want.len() {
            let mut d = QuorumPacketCodec::default();
            let mut buf = BytesMut::from(&want[..cut]);
            let mut got = Vec::new();
            while let Some(p) = d.decode(&mut buf).unwrap() {
                got.push(p);
            }
            buf.extend_from_slice(&want[cut..]);
            while let Some(p) = d.decode(&mut buf).unwrap() {
                got.push(p);
            }
            assert_eq!(
                got,
                vec![snap.clone(), body.clone(), next.clone()],
                "cut {cut}"
            );
        }
        let mut bad = want.clone();
        let sig = encode(&snap).len() + db.len() + 4;
        bad[sig] = b'X';
        let mut d = QuorumPacketCodec::default();
        let mut buf = BytesMut::from(&bad[..]);
        assert!(d.decode(&mut buf).unwrap().is_some());
        assert!(matches!(d.decode(&mut buf), Err(NetError::Snapshot(_))));
    }

    #[test]
    fn ping_layout_matches_jute() {
        let p = pkt(5, 0x1_0000_0002, None);
        let b = encode(&p);
        let mut want = Vec::new();
        want.extend_from_slice(&5i32.to_be_bytes());
        want.extend_from_slice(&0x1_0000_0002i64.to_be_bytes());
        want.extend_from_slice(&(-1i32).to_be_bytes());
        want.extend_from_slice(&0i32.to_be_bytes());
        assert_eq!(&b[..], &want[..]);
        assert_eq!(encoded_len(&p), want.len());
        // ZooKeeper's own null authinfo (-1) reads as empty.
        let mut zk = BytesMut::from(&want[..]);
        zk[16..20].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(
            QuorumPacketCodec::default()
                .decode(&mut zk)
                .unwrap()
                .unwrap(),
            p
        );
    }

    #[test]
    fn request_with_authinfo_round_trips_in_every_split() {
        let p = QuorumPacketRecord {
            packet_type: 1,
            zxid: -1,
            data: Some(Bytes::from_static(b"payload")),
            authinfo: vec![Id::new("digest", "u:p"), Id::new("ip", "")],
        };
        assert_eq!(&encode(&p)[..], &p.to_bytes()[..]);
        let wire = encode(&p);
        for cut in 0..wire.len() {
            let mut c = QuorumPacketCodec::default();
            let mut buf = BytesMut::from(&wire[..cut]);
            assert!(c.decode(&mut buf).unwrap().is_none(), "cut {cut}");
            buf.extend_from_slice(&wire[cut..]);
            assert_eq!(c.decode(&mut buf).unwrap().unwrap(), p);
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn learner_sid_reads_the_first_long() {
        let mut d = Vec::new();
        d.extend_from_slice(&3i64.to_be_bytes());
        d.extend_from_slice(&0x10000i32.to_be_bytes());
        let p = pkt(FOLLOWERINFO, 0, Some(Bytes::from(d)));
        assert_eq!(learner_sid(&p), Some(ServerId(3)));
        assert_eq!(learner_sid(&pkt(FOLLOWERINFO, 0, None)), None);
    }

    #[test]
    fn oversized_data_is_rejected_before_it_arrives() {
        let mut c = QuorumPacketCodec::new(1024, 4);
        let mut buf = BytesMut::new();
        buf.put_i32(2);
        buf.put_i64(0);
        buf.put_i32(i32::MAX);
        assert!(matches!(
            c.decode(&mut buf),
            Err(NetError::TooLarge { field: "data", .. })
        ));
        assert!(buf.capacity() < 4096);
    }

    #[test]
    fn bad_lengths_are_errors() {
        let mut c = QuorumPacketCodec::new(1024, 4);
        let head = || {
            let mut b = BytesMut::new();
            b.put_i32(2);
            b.put_i64(0);
            b
        };
        let mut b = head();
        b.put_i32(-2);
        assert!(matches!(
            c.decode(&mut b),
            Err(NetError::NegativeLength { .. })
        ));
        let mut b = head();
        b.put_i32(-1);
        b.put_i32(5);
        assert!(matches!(
            c.decode(&mut b),
            Err(NetError::TooLarge {
                field: "authinfo",
                ..
            })
        ));
        let mut b = head();
        b.put_i32(-1);
        b.put_i32(-7);
        assert!(matches!(
            c.decode(&mut b),
            Err(NetError::NegativeLength { .. })
        ));
        let mut b = head();
        b.put_i32(-1);
        b.put_i32(1);
        b.put_i32(2);
        b.put_slice(&[0xff, 0xfe]);
        b.put_i32(0);
        assert!(matches!(
            c.decode(&mut b),
            Err(NetError::InvalidUtf8 { .. })
        ));
    }

    #[test]
    fn null_strings_in_authinfo_read_as_empty() {
        let mut b = BytesMut::new();
        b.put_i32(1);
        b.put_i64(0);
        b.put_i32(-1);
        b.put_i32(1);
        b.put_i32(-1);
        b.put_i32(-1);
        let p = QuorumPacketCodec::default()
            .decode(&mut b)
            .unwrap()
            .unwrap();
        assert_eq!(p.authinfo, vec![Id::new("", "")]);
    }

    fn arb_packet() -> impl Strategy<Value = QuorumPacketRecord> {
        let id = ("[a-z]{0,8}", "\\PC{0,8}").prop_map(|(s, i)| Id::new(&s, &i));
        (
            any::<i32>(),
            any::<i64>(),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..128)),
            proptest::collection::vec(id, 0..4),
        )
            .prop_map(|(packet_type, zxid, data, authinfo)| QuorumPacketRecord {
                packet_type,
                zxid,
                data: data.map(Bytes::from),
                authinfo,
            })
    }

    proptest! {
        #[test]
        fn packets_round_trip_back_to_back(ps in proptest::collection::vec(arb_packet(), 0..6), cut in 0usize..2000) {
            let mut c = QuorumPacketCodec::default();
            let mut wire = BytesMut::new();
            for p in &ps {
                c.encode(p.clone(), &mut wire).unwrap();
            }
            let cut = cut.min(wire.len());
            let mut buf = BytesMut::from(&wire[..cut]);
            let mut got = Vec::new();
            while let Some(p) = c.decode(&mut buf).unwrap() {
                got.push(p);
            }
            buf.extend_from_slice(&wire[cut..]);
            while let Some(p) = c.decode(&mut buf).unwrap() {
                got.push(p);
            }
            prop_assert_eq!(got, ps);
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut c = QuorumPacketCodec::new(128, 2);
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = c.decode(&mut buf) {}
            prop_assert!(buf.capacity() <= 4096);
        }
    }
}
