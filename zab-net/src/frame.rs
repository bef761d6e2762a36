//! Length-prefixed frames: the framing of election messages after the
//! handshake (ZooKeeper's `QuorumCnxManager` `SendWorker.send` /
//! `RecvWorker.run`).
//!
//! ```text
//! frame := int(len) byte{len}    ; int is i32 big-endian, 0 <= len <= cap
//! ```
//!
//! A negative length or one above the cap is an error; the connection that
//! sent it is closed. Nothing is allocated for a frame before its length has
//! been checked against the cap.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::error::NetError;

/// ZooKeeper's `QuorumCnxManager.PACKETMAXSIZE`: the largest election message.
pub const ELECTION_MAX_FRAME_LEN: usize = 512 * 1024;

/// A codec for `int(len) byte{len}` frames, capped at `max_frame_len`.
#[derive(Debug, Clone)]
pub struct LengthCodec {
    max_frame_len: usize,
    allow_empty: bool,
}

impl LengthCodec {
    /// Frames of `0..=max_frame_len` bytes. `max_frame_len` must fit an i32.
    pub fn new(max_frame_len: usize) -> LengthCodec {
        assert!(
            max_frame_len <= i32::MAX as usize,
            "frame cap {max_frame_len} does not fit a jute int"
        );
        LengthCodec {
            max_frame_len,
            allow_empty: true,
        }
    }

    /// Reject zero-length frames, as ZooKeeper's election `RecvWorker` does
    /// (`length <= 0` closes the connection).
    pub fn reject_empty(mut self) -> LengthCodec {
        self.allow_empty = false;
        self
    }

    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    fn check(&self, len: i64) -> Result<usize, NetError> {
        if len < 0 {
            return Err(NetError::NegativeLength {
                field: "frame",
                len,
            });
        }
        if len == 0 && !self.allow_empty {
            return Err(NetError::EmptyFrame);
        }
        if len as u64 > self.max_frame_len as u64 {
            return Err(NetError::TooLarge {
                field: "frame",
                len: len as u64,
                max: self.max_frame_len,
            });
        }
        Ok(len as usize)
    }
}

impl Decoder for LengthCodec {
    type Item = Bytes;
    type Error = NetError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, NetError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let raw = i32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        let len = self.check(raw as i64)?;
        if src.len() < 4 + len {
            // Bounded by the cap checked above.
            src.reserve(4 + len - src.len());
            return Ok(None);
        }
        src.advance(4);
        Ok(Some(src.split_to(len).freeze()))
    }
}

impl Encoder<Bytes> for LengthCodec {
    type Error = NetError;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), NetError> {
        let len = self.check(item.len() as i64)?;
        dst.reserve(4 + len);
        dst.put_i32(len as i32);
        dst.put_slice(&item);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(codec: &mut LengthCodec, bytes: &[u8]) -> Result<Vec<Bytes>, NetError> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(f) = codec.decode(&mut buf)? {
            out.push(f);
        }
        Ok(out)
    }

    #[test]
    fn incomplete_header_and_body_are_not_errors() {
        let mut c = LengthCodec::new(16);
        let mut buf = BytesMut::from(&[0u8, 0, 0][..]);
        assert!(c.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&[3, b'a', b'b']);
        assert!(c.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(b"c");
        assert_eq!(
            c.decode(&mut buf).unwrap().unwrap(),
            Bytes::from_static(b"abc")
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn negative_length_is_an_error() {
        let mut c = LengthCodec::new(16);
        let err = decode_all(&mut c, &(-1i32).to_be_bytes()).unwrap_err();
        assert!(matches!(err, NetError::NegativeLength { len: -1, .. }));
    }

    #[test]
    fn oversized_length_is_an_error_without_allocating() {
        let mut c = LengthCodec::new(16);
        let mut buf = BytesMut::from(&(i32::MAX).to_be_bytes()[..]);
        let err = c.decode(&mut buf).unwrap_err();
        assert!(matches!(err, NetError::TooLarge { max: 16, .. }));
        assert!(buf.capacity() < 1024);
    }

    #[test]
    fn frame_at_the_cap_is_accepted_one_above_is_not() {
        let mut c = LengthCodec::new(4);
        let mut ok = vec![0, 0, 0, 4];
        ok.extend_from_slice(b"abcd");
        assert_eq!(decode_all(&mut c, &ok).unwrap().len(), 1);
        let mut dst = BytesMut::new();
        assert!(c.encode(Bytes::from_static(b"abcde"), &mut dst).is_err());
    }

    #[test]
    fn empty_frames_follow_the_setting() {
        let mut c = LengthCodec::new(4);
        assert_eq!(
            decode_all(&mut c, &[0, 0, 0, 0]).unwrap(),
            vec![Bytes::new()]
        );
        let mut c = LengthCodec::new(4).reject_empty();
        assert!(matches!(
            decode_all(&mut c, &[0, 0, 0, 0]),
            Err(NetError::EmptyFrame)
        ));
    }

    proptest! {
        #[test]
        fn frames_round_trip_in_any_split(
            frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8),
            cut in 0usize..1000,
        ) {
            let mut c = LengthCodec::new(64);
            let mut wire = BytesMut::new();
            for f in &frames {
                c.encode(Bytes::from(f.clone()), &mut wire).unwrap();
            }
            let cut = cut.min(wire.len());
            let mut buf = BytesMut::from(&wire[..cut]);
            let mut got = Vec::new();
            while let Some(f) = c.decode(&mut buf).unwrap() {
                got.push(f.to_vec());
            }
            buf.extend_from_slice(&wire[cut..]);
            while let Some(f) = c.decode(&mut buf).unwrap() {
                got.push(f.to_vec());
            }
            prop_assert_eq!(got, frames);
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut c = LengthCodec::new(32);
            let _ = decode_all(&mut c, &bytes);
        }
    }
}
