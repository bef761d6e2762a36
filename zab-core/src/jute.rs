//! The jute encoding that ZooKeeper uses for every record on the wire and on disk.
//!
//! ```text
//! int     := i32 big-endian
//! long    := i64 big-endian
//! boolean := u8 (0 or 1)
//! buffer  := int(len) byte{len}      ; len = -1 means null
//! ustring := int(len) utf8{len}      ; len = -1 means null
//! vector  := int(count) item{count}  ; count = -1 means null
//! ```
//!
//! Decoding never trusts a length from the wire: a length or count larger than
//! what is left in the input is an error before anything is allocated.
//!
//! A record that is a plain sequence of fields is declared once with
//! [`record!`](crate::jute::record), naming each field's codec from [`field`];
//! the struct, its writer and its reader then cannot disagree on the order.

/// The buffer trait records write to (re-exported for [`record!`]'s expansions).
pub use bytes::BufMut;
use bytes::Bytes;

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JuteError {
    #[error("record ends early: wanted {wanted} bytes at offset {offset}, {left} left")]
    UnexpectedEof {
        offset: usize,
        wanted: usize,
        left: usize,
    },
    #[error("length {len} at offset {offset} is larger than the {left} bytes left")]
    LengthTooLarge {
        offset: usize,
        len: i64,
        left: usize,
    },
    #[error("negative length {len} at offset {offset}")]
    NegativeLength { offset: usize, len: i32 },
    #[error("string at offset {offset} is not utf-8")]
    InvalidUtf8 { offset: usize },
    #[error("unknown {what} {value}")]
    Unknown { what: &'static str, value: i32 },
}

/// A jute record: a value with a fixed field order.
pub trait Record: Sized {
    fn write<B: BufMut>(&self, out: &mut B);
    fn read(r: &mut JuteReader<'_>) -> Result<Self, JuteError>;

    /// Encode into a fresh buffer.
    fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(64);
        self.write(&mut v);
        v
    }

    /// Decode a whole buffer; trailing bytes are allowed, as ZooKeeper allows them.
    fn from_bytes(b: &[u8]) -> Result<Self, JuteError> {
        Self::read(&mut JuteReader::new(b))
    }
}

/// A cursor over an encoded record.
#[derive(Debug, Clone)]
pub struct JuteReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> JuteReader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        JuteReader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Pass over `n` bytes, as reading them would (the same error if fewer are left).
    pub fn skip(&mut self, n: usize) -> Result<(), JuteError> {
        self.take(n).map(drop)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], JuteError> {
        if self.remaining() < n {
            return Err(JuteError::UnexpectedEof {
                offset: self.pos,
                wanted: n,
                left: self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn read_i32(&mut self) -> Result<i32, JuteError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn read_i64(&mut self) -> Result<i64, JuteError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    pub fn read_bool(&mut self) -> Result<bool, JuteError> {
        Ok(self.take(1)?[0] != 0)
    }

    /// One byte as it is.
    pub fn read_u8(&mut self) -> Result<u8, JuteError> {
        Ok(self.take(1)?[0])
    }

    /// A length prefix: `None` for -1 (null), an error for other negatives or
    /// for a length that the input cannot hold.
    fn read_len(&mut self, min_item: usize) -> Result<Option<usize>, JuteError> {
        let offset = self.pos;
        let len = self.read_i32()?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 {
            return Err(JuteError::NegativeLength { offset, len });
        }
        let need = (len as usize).saturating_mul(min_item.max(1));
        if need > self.remaining() {
            return Err(JuteError::LengthTooLarge {
                offset,
                len: len as i64,
                left: self.remaining(),
            });
        }
        Ok(Some(len as usize))
    }

    /// A buffer as a borrowed slice; null reads as empty.
    pub fn read_buffer_slice(&mut self) -> Result<&'a [u8], JuteError> {
        match self.read_len(1)? {
            None => Ok(&[]),
            Some(n) => self.take(n),
        }
    }

    /// A buffer as a borrowed slice, distinguishing null (`None`) from empty.
    pub fn read_opt_buffer_slice(&mut self) -> Result<Option<&'a [u8]>, JuteError> {
        match self.read_len(1)? {
            None => Ok(None),
            Some(n) => self.take(n).map(Some),
        }
    }

    /// A buffer, distinguishing null (`None`) from empty.
    pub fn read_opt_buffer(&mut self) -> Result<Option<Bytes>, JuteError> {
        match self.read_len(1)? {
            None => Ok(None),
            Some(n) => Ok(Some(Bytes::copy_from_slice(self.take(n)?))),
        }
    }

    /// A buffer; null reads as empty.
    pub fn read_buffer(&mut self) -> Result<Bytes, JuteError> {
        Ok(self.read_opt_buffer()?.unwrap_or_default())
    }

    /// A string, distinguishing null (`None`) from empty.
    pub fn read_opt_string(&mut self) -> Result<Option<String>, JuteError> {
        let offset = self.pos;
        match self.read_len(1)? {
            None => Ok(None),
            Some(n) => {
                let b = self.take(n)?;
                std::str::from_utf8(b)
                    .map(|s| Some(s.to_owned()))
                    .map_err(|_| JuteError::InvalidUtf8 { offset })
            }
        }
    }

    /// A string; null reads as empty.
    pub fn read_string(&mut self) -> Result<String, JuteError> {
        Ok(self.read_opt_string()?.unwrap_or_default())
    }

    /// A vector whose items are at least `min_item` bytes each on the wire
    /// (used to reject impossible counts before reading); null reads as empty.
    pub fn read_vec<T>(
        &mut self,
        min_item: usize,
        mut item: impl FnMut(&mut Self) -> Result<T, JuteError>,
    ) -> Result<Vec<T>, JuteError> {
        match self.read_len(min_item)? {
            None => Ok(Vec::new()),
            Some(n) => {
                // Bounded by the input size checked in read_len.
                let mut v = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    v.push(item(self)?);
                }
                Ok(v)
            }
        }
    }

    pub fn read_string_vec(&mut self) -> Result<Vec<String>, JuteError> {
        self.read_vec(4, |r| r.read_string())
    }

    pub fn read_record<T: Record>(&mut self) -> Result<T, JuteError> {
        T::read(self)
    }
}

pub fn write_i32<B: BufMut>(out: &mut B, v: i32) {
    out.put_i32(v);
}

pub fn write_i64<B: BufMut>(out: &mut B, v: i64) {
    out.put_i64(v);
}

pub fn write_bool<B: BufMut>(out: &mut B, v: bool) {
    out.put_u8(v as u8);
}

pub fn write_buffer<B: BufMut>(out: &mut B, v: &[u8]) {
    out.put_i32(v.len() as i32);
    out.put_slice(v);
}

/// A buffer that may be null (written as length -1).
pub fn write_opt_buffer<B: BufMut>(out: &mut B, v: Option<&[u8]>) {
    match v {
        None => out.put_i32(-1),
        Some(v) => write_buffer(out, v),
    }
}

pub fn write_string<B: BufMut>(out: &mut B, v: &str) {
    write_buffer(out, v.as_bytes());
}

pub fn write_opt_string<B: BufMut>(out: &mut B, v: Option<&str>) {
    write_opt_buffer(out, v.map(str::as_bytes));
}

pub fn write_vec<B: BufMut, T>(out: &mut B, v: &[T], mut item: impl FnMut(&mut B, &T)) {
    out.put_i32(v.len() as i32);
    for x in v {
        item(out, x);
    }
}

pub fn write_string_vec<B: BufMut, S: AsRef<str>>(out: &mut B, v: &[S]) {
    write_vec(out, v, |o, s| write_string(o, s.as_ref()));
}

/// Field codecs for [`record!`]: one module per jute type, each with a `write`
/// and a `read`, named as the grammars at the top of each file name them.
pub mod field {
    use bytes::{BufMut, Bytes};

    use super::{JuteError, JuteReader, Record};
    use crate::{ServerId, Zxid};

    /// `int`: i32 big-endian.
    pub mod int {
        use super::*;
        pub fn write<B: BufMut>(o: &mut B, v: &i32) {
            super::super::write_i32(o, *v)
        }
        pub fn read(r: &mut JuteReader<'_>) -> Result<i32, JuteError> {
            r.read_i32()
        }
    }

    /// `long`: i64 big-endian.
    pub mod long {
        use super::*;
        pub fn write<B: BufMut>(o: &mut B, v: &i64) {
            super::super::write_i64(o, *v)
        }
        pub fn read(r: &mut JuteReader<'_>) -> Result<i64, JuteError> {
            r.read_i64()
        }
    }

    /// `boolean`: one byte.
    pub mod boolean {
        use super::*;
        pub fn write<B: BufMut>(o: &mut B, v: &bool) {
            super::super::write_bool(o, *v)
        }
        pub fn read(r: &mut JuteReader<'_>) -> Result<bool, JuteError> {
            r.read_bool()
        }
    }

    /// An optional `boolean` that may only end a record: absent when the
    /// input ends before it (the `readOnly` byte of the connect handshake,
    /// which clients before 3.4 neither send nor expect).
    pub mod trailing_boolean {
        use super::*;
        pub fn write<B: BufMut>(o: &mut B, v: &Option<bool>) {
            if let Some(b) = v {
                super::super::write_bool(o, *b);
            }
        }
        pub fn read(r: &mut JuteReader<'_>) -> Result<Option<bool>, JuteError> {
            if r.is_empty() {
                Ok(None)
            } else {
                r.read_bool().map(Some)
            }
        }
    }

    /// `byte`: one unsigned byte (ClickHouse Keeper's list filter).
    pub mod byte {
        use super::*;
        pub fn write<B: BufMut>(o: &mut B, v: &u8) {
            o.put_u8(*v)
        }
        pub fn read(r: &mut JuteReader<'_>) -> Result<u8, JuteError> {
            r.read_u8()
        }
    }

    /// An `int` read as unsigned (ClickHouse Keeper's node limits are `uint32`).
    pub mod uint {
        use super::*;
        pub fn write<B: BufMut>(o: &mut B, v: &u32) {
            super::super::write_i32(o, *v as i32)
        }
        pub fn read(r: &mut JuteReader<'_>) -> Result<u32, JuteError> {
            Ok(r.read_i32()? as u32)
        }
    }

    /// `ustring`; null reads as empty.
    pub mod ustring {
        use super::*;
        pub fn write<B: BufMut>(o: &mut B, v: &str) {
            super::super::write_string(o, v)
        }
        pub fn read(r: &mut JuteReader<'_>) -> Result<String, JuteError> {
            r.read_string()
        }
    }

    /// `ustring` that may be null (`None`).
    pub mod opt_ustring {
        use super::*;
        pub fn write<B: BufMut>(o: &mut B, v: &Option<String>) {
            super::super::write_opt_string(o, v.as_deref())
        }
        pub fn read(r: &mut JuteReader<'_>) -> Result<Option<String>, JuteError> {
            r.read_opt_string()
        }
    }

    /// `buffer`; null reads as empty.
    pub mod buffer {
        use super::*;
        pub fn write<B: BufMut>(o: &mut B, v: &[u8]) {
            super::super::write_buffer(o, v)
        }
        pub fn read(r: &mut JuteReader<'_>) -> Result<Bytes, JuteError> {
            r.read_buffer()
        }
    }

    /// `buffer` that may be null (`None`, length -1).
    pub mod opt_buffer {
        use super::*;
        pub fn write<B: BufMut>(o: &mut B, v: &Option<Bytes>) {
            super::super::write_opt_buffer(o, v.as_deref())
        }
        pub fn read(r: &mut JuteReader<'_>) -> Result<Option<Bytes>, JuteError> {
            r.read_opt_buffer()
        }
    }

    /// `vector<ustring>`; null reads as empty.
    pub mod ustrings {
        use super::*;
        pub fn write<B: BufMut>(o: &mut B, v: &[String]) {
            super::super::write_string_vec(o, v)
        }
        pub fn read(r: &mut JuteReader<'_>) -> Result<Vec<String>, JuteError> {
            r.read_string_vec()
        }
    }

    /// `vector<record>`, written `vector(min_item)`: `min_item` is the
    /// smallest encoding of one item, so that a count the input cannot hold
    /// is refused before anything is allocated. Null reads as empty.
    pub mod vector {
        use super::*;
        pub fn write<B: BufMut, T: Record>(o: &mut B, v: &[T]) {
            super::super::write_vec(o, v, |o, x| x.write(o))
        }
        pub fn read<T: Record>(
            r: &mut JuteReader<'_>,
            min_item: usize,
        ) -> Result<Vec<T>, JuteError> {
            r.read_vec(min_item, T::read)
        }
    }

    /// A nested record, written in place.
    pub mod record {
        use super::*;
        pub fn write<B: BufMut, T: Record>(o: &mut B, v: &T) {
            v.write(o)
        }
        pub fn read<T: Record>(r: &mut JuteReader<'_>) -> Result<T, JuteError> {
            T::read(r)
        }
    }

    /// A zxid: a `long`.
    pub mod zxid {
        use super::*;
        pub fn write<B: BufMut>(o: &mut B, v: &Zxid) {
            super::super::write_i64(o, v.0)
        }
        pub fn read(r: &mut JuteReader<'_>) -> Result<Zxid, JuteError> {
            Ok(Zxid(r.read_i64()?))
        }
    }

    /// A server id: a `long` (ZooKeeper's sids are Java longs; ours are `u64`).
    pub mod sid {
        use super::*;
        pub fn write<B: BufMut>(o: &mut B, v: &ServerId) {
            super::super::write_i64(o, v.0 as i64)
        }
        pub fn read(r: &mut JuteReader<'_>) -> Result<ServerId, JuteError> {
            Ok(ServerId(r.read_i64()? as u64))
        }
    }
}

/// Declares jute records that are plain sequences of fields: each struct with
/// public fields and its [`Record`] impl, which writes and reads the fields in
/// the order given, each with the [`field`] codec named after `=` (with its
/// argument, if it takes one: `vector(ACL_MIN_SIZE)`).
///
/// Every record derives `Clone, Debug, PartialEq, Eq, Default`; attributes
/// before the name (docs, more derives) are kept.
///
/// ```
/// # use zab_core::jute::{record, Record};
/// record! {
///     /// `Id := ustring(scheme) ustring(id)`
///     #[derive(Hash)]
///     Id { scheme: String = ustring, id: String = ustring }
/// }
/// let id = Id { scheme: "world".into(), id: "anyone".into() };
/// assert_eq!(Id::from_bytes(&id.to_bytes()).unwrap(), id);
/// ```
///
/// Records that are not a field sequence (multi's header-terminated lists, a
/// transaction's body chosen by its header) keep a hand-written impl built
/// from records declared here.
#[macro_export]
#[doc(hidden)]
macro_rules! __jute_record {
    ($(
        $(#[$m:meta])*
        $name:ident {
            $( $(#[$fm:meta])* $field:ident : $ty:ty = $codec:ident $(($arg:expr))? ),* $(,)?
        }
    )*) => {$(
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Eq, Default)]
        pub struct $name {
            $( $(#[$fm])* pub $field: $ty, )*
        }

        impl $crate::jute::Record for $name {
            fn write<B: $crate::jute::BufMut>(&self, out: &mut B) {
                $( $crate::jute::field::$codec::write(out, &self.$field); )*
            }
            fn read(
                r: &mut $crate::jute::JuteReader<'_>,
            ) -> ::core::result::Result<Self, $crate::jute::JuteError> {
                Ok($name {
                    $( $field: $crate::jute::field::$codec::read(r $(, $arg)?)?, )*
                })
            }
        }
    )*};
}

#[doc(inline)]
pub use crate::__jute_record as record;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn null_buffer_and_string_read_as_none() {
        let b = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        let mut r = JuteReader::new(&b);
        assert_eq!(r.read_opt_buffer().unwrap(), None);
        assert_eq!(r.read_opt_string().unwrap(), None);
        assert!(r.is_empty());
    }

    #[test]
    fn length_larger_than_input_is_refused_before_allocating() {
        let b = [0x7f, 0xff, 0xff, 0xff, 1, 2, 3];
        let err = JuteReader::new(&b).read_buffer().unwrap_err();
        assert!(matches!(err, JuteError::LengthTooLarge { offset: 0, .. }));
        let err = JuteReader::new(&b).read_string_vec().unwrap_err();
        assert!(matches!(err, JuteError::LengthTooLarge { .. }));
    }

    #[test]
    fn negative_length_other_than_null_is_an_error() {
        let b = (-2i32).to_be_bytes();
        assert!(matches!(
            JuteReader::new(&b).read_buffer(),
            Err(JuteError::NegativeLength { len: -2, .. })
        ));
    }

    proptest! {
        #[test]
        fn primitives_round_trip(a: i32, b: i64, c: bool, d: Vec<u8>, e in ".*", f: Vec<String>) {
            let mut out = Vec::new();
            write_i32(&mut out, a);
            write_i64(&mut out, b);
            write_bool(&mut out, c);
            write_buffer(&mut out, &d);
            write_string(&mut out, &e);
            write_string_vec(&mut out, &f);
            let mut r = JuteReader::new(&out);
            prop_assert_eq!(r.read_i32().unwrap(), a);
            prop_assert_eq!(r.read_i64().unwrap(), b);
            prop_assert_eq!(r.read_bool().unwrap(), c);
            prop_assert_eq!(&r.read_buffer().unwrap()[..], &d[..]);
            prop_assert_eq!(r.read_string().unwrap(), e);
            prop_assert_eq!(r.read_string_vec().unwrap(), f);
            prop_assert!(r.is_empty());
        }

        #[test]
        fn arbitrary_bytes_never_panic(b: Vec<u8>) {
            let mut r = JuteReader::new(&b);
            let _ = r.read_string_vec();
            let mut r = JuteReader::new(&b);
            let _ = r.read_buffer();
        }
    }
}
