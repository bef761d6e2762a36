//! ClickHouse Keeper's extension operations (op codes 500-507), as
//! ClickHouse's client (`src/Common/ZooKeeper/ZooKeeperCommon.cpp`,
//! `ZooKeeperConstants.h`) writes and reads them. Apache ZooKeeper's clients
//! never send these codes; a server that knows them answers Apache's clients
//! exactly as before.
//!
//! ```text
//! ; operation (op code)                 request                      -> response body
//! filteredList (500)                    FilteredListRequest          -> GetChildren2Response
//! checkNotExists (501)                  CheckVersionRequest          -> none
//! createIfNotExists (502)               CreateRequest                -> CreateResponse
//! removeRecursive (503)                 RemoveRecursiveRequest       -> none
//! checkStat (504)                       CheckStatRequest             -> none
//! tryRemove (505)                       DeleteRequest                -> none
//! filteredListWithStatsAndData (506)    FilteredListWithStatsRequest -> FilteredListWithStatsResponse
//! listRecursive (507)                   ListRecursiveRequest         -> ListRecursiveResponse
//!
//! FilteredListRequest          := ustring(path) boolean(watch) byte(listType)
//! listType                     := 0 (all) | 1 (persistent only) | 2 (ephemeral only)
//! FilteredListWithStatsRequest := ustring(path) boolean(watch) byte(listType)
//!                                 boolean(withStat) boolean(withData)
//! RemoveRecursiveRequest       := ustring(path) int(removeNodesLimit)     ; unsigned
//! CheckStatRequest             := ustring(path) int(version) Stat        ; -1 fields match anything
//! ListRecursiveRequest         := ustring(path) int(childrenNodesLimit)  ; unsigned
//! FilteredListWithStatsResponse := vector<ustring>(children) Stat
//!                                 vector<Stat>(stats) vector<buffer>(data)
//! ListRecursiveResponse        := vector<ustring>(paths)                 ; full paths, breadth first
//! ```
//!
//! Inside `multi` (see [`multi`](super::multi)) a write multi may carry
//! checkNotExists, createIfNotExists, removeRecursive, checkStat and
//! tryRemove; their results' headers carry the extension's code for
//! checkNotExists (501), createIfNotExists (502, body: the path) and
//! removeRecursive (503), and Apache's codes for tryRemove (delete, 2) and
//! checkStat (check, 13), as Keeper's response records name themselves.
//! A multiRead may carry filteredList (result type 12) and
//! filteredListWithStatsAndData (result type 506, its response body).
//!
//! Discovery: Keeper's client reads `/keeper/feature_flags` (a bit set:
//! flag `n` is bit `7 - n % 8` of byte `n / 8`), and when that node is
//! missing `/keeper/api_version` (a decimal number). [`feature`] holds the
//! flags' numbers and names.

use bytes::{BufMut, Bytes};

use crate::jute::{self, record, JuteError, JuteReader, Record};
use crate::records::Stat;

/// The op codes, as ClickHouse numbers them.
pub mod keeper_op {
    pub const FILTERED_LIST: i32 = 500;
    pub const CHECK_NOT_EXISTS: i32 = 501;
    pub const CREATE_IF_NOT_EXISTS: i32 = 502;
    pub const REMOVE_RECURSIVE: i32 = 503;
    pub const CHECK_STAT: i32 = 504;
    pub const TRY_REMOVE: i32 = 505;
    pub const FILTERED_LIST_WITH_STATS_AND_DATA: i32 = 506;
    pub const LIST_RECURSIVE: i32 = 507;

    pub const ALL: [i32; 8] = [
        FILTERED_LIST,
        CHECK_NOT_EXISTS,
        CREATE_IF_NOT_EXISTS,
        REMOVE_RECURSIVE,
        CHECK_STAT,
        TRY_REMOVE,
        FILTERED_LIST_WITH_STATS_AND_DATA,
        LIST_RECURSIVE,
    ];

    /// Keeper's name of an extension op (its `OpNum` spelling).
    pub fn name(code: i32) -> Option<&'static str> {
        Some(match code {
            FILTERED_LIST => "FilteredList",
            CHECK_NOT_EXISTS => "CheckNotExists",
            CREATE_IF_NOT_EXISTS => "CreateIfNotExists",
            REMOVE_RECURSIVE => "RemoveRecursive",
            CHECK_STAT => "CheckStat",
            TRY_REMOVE => "TryRemove",
            FILTERED_LIST_WITH_STATS_AND_DATA => "FilteredListWithStatsAndData",
            LIST_RECURSIVE => "ListRecursive",
            _ => return None,
        })
    }
}

/// The filter of a filtered list (Keeper's `ListRequestType`).
pub mod list_type {
    pub const ALL: u8 = 0;
    pub const PERSISTENT_ONLY: u8 = 1;
    pub const EPHEMERAL_ONLY: u8 = 2;
}

/// Keeper's feature flags (`KeeperFeatureFlag`): numbers may not change.
pub mod feature {
    pub const FILTERED_LIST: usize = 0;
    pub const MULTI_READ: usize = 1;
    pub const CHECK_NOT_EXISTS: usize = 2;
    pub const CREATE_IF_NOT_EXISTS: usize = 3;
    pub const REMOVE_RECURSIVE: usize = 4;
    pub const MULTI_WATCHES: usize = 5;
    pub const CHECK_STAT: usize = 6;
    pub const PERSISTENT_WATCHES: usize = 7;
    pub const CREATE_WITH_STATS: usize = 8;
    pub const TRY_REMOVE: usize = 9;
    pub const LIST_WITH_STAT_AND_DATA: usize = 10;

    /// Every flag Keeper defines, by number, with the name `ftfl` prints (lower case).
    pub const NAMES: [&str; 11] = [
        "filtered_list",
        "multi_read",
        "check_not_exists",
        "create_if_not_exists",
        "remove_recursive",
        "multi_watches",
        "check_stat",
        "persistent_watches",
        "create_with_stats",
        "try_remove",
        "list_with_stat_and_data",
    ];

    /// The flags as `/keeper/feature_flags` carries them: flag `n` is bit
    /// `7 - n % 8` of byte `n / 8`.
    pub fn encode(flags: &[usize]) -> Vec<u8> {
        let mut out = vec![0u8; (NAMES.len() - 1) / 8 + 1];
        for &f in flags {
            if out.len() <= f / 8 {
                out.resize(f / 8 + 1, 0);
            }
            out[f / 8] |= 1 << (7 - f % 8);
        }
        out
    }

    /// Whether `bytes` (a `/keeper/feature_flags` value) has flag `f` set.
    pub fn is_set(bytes: &[u8], f: usize) -> bool {
        bytes
            .get(f / 8)
            .is_some_and(|b| b & (1 << (7 - f % 8)) != 0)
    }
}

/// Keeper's API version (`KeeperApiVersion`) that `/keeper/api_version`
/// carries: WITH_CHECK_NOT_EXISTS, the last one defined.
pub const API_VERSION: u8 = 3;
/// What Keeper's `apiv` four-letter word answers: WITH_MULTI_READ (Keeper's
/// `ApiVersionCommand` names that constant, not the node's).
pub const APIV_WORD: u8 = 2;

/// Keeper's system paths (`KeeperConstants.h`).
pub const KEEPER_SYSTEM_PATH: &str = "/keeper";
pub const API_VERSION_PATH: &str = "/keeper/api_version";
pub const FEATURE_FLAGS_PATH: &str = "/keeper/feature_flags";

record! {
    FilteredListRequest { path: String = ustring, watch: bool = boolean, list_type: u8 = byte }

    FilteredListWithStatsRequest {
        path: String = ustring,
        watch: bool = boolean,
        list_type: u8 = byte,
        with_stat: bool = boolean,
        with_data: bool = boolean,
    }

    RemoveRecursiveRequest { path: String = ustring, limit: u32 = uint }

    CheckStatRequest { path: String = ustring, version: i32 = int, stat: Stat = record }

    ListRecursiveRequest { path: String = ustring, limit: u32 = uint }

    ListRecursiveResponse { paths: Vec<String> = ustrings }
}

/// The smallest encoding of a Stat: 68 bytes.
const STAT_SIZE: usize = 68;

/// FilteredListWithStatsAndData's answer: the children (filtered), the
/// listed node's Stat, and per child its Stat and data when asked for
/// (empty vectors otherwise).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FilteredListWithStatsResponse {
    pub children: Vec<String>,
    pub stat: Stat,
    pub stats: Vec<Stat>,
    pub data: Vec<Bytes>,
}

// Hand-written: a vector of buffers has no field codec of its own.
impl Record for FilteredListWithStatsResponse {
    fn write<B: BufMut>(&self, out: &mut B) {
        jute::write_string_vec(out, &self.children);
        self.stat.write(out);
        jute::write_vec(out, &self.stats, |o, s| s.write(o));
        jute::write_vec(out, &self.data, |o, d| jute::write_buffer(o, d));
    }
    fn read(r: &mut JuteReader<'_>) -> Result<Self, JuteError> {
        Ok(FilteredListWithStatsResponse {
            children: r.read_string_vec()?,
            stat: Stat::read(r)?,
            stats: r.read_vec(STAT_SIZE, Stat::read)?,
            data: r.read_vec(4, |r| r.read_buffer())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_flags_encode_as_keeper_reads_them() {
        // FILTERED_LIST is the top bit of the first byte; TRY_REMOVE bit 6 of the second.
        assert_eq!(feature::encode(&[feature::FILTERED_LIST]), vec![0x80, 0]);
        assert_eq!(feature::encode(&[feature::TRY_REMOVE]), vec![0, 0x40]);
        let b = feature::encode(&[feature::REMOVE_RECURSIVE, feature::LIST_WITH_STAT_AND_DATA]);
        assert!(feature::is_set(&b, feature::REMOVE_RECURSIVE));
        assert!(feature::is_set(&b, feature::LIST_WITH_STAT_AND_DATA));
        assert!(!feature::is_set(&b, feature::MULTI_WATCHES));
        assert!(!feature::is_set(&b, 40));
    }

    #[test]
    fn records_round_trip() {
        let r = FilteredListWithStatsResponse {
            children: vec!["a".into(), "b".into()],
            stat: Stat::default(),
            stats: vec![Stat::default(); 2],
            data: vec![Bytes::from_static(b"x"), Bytes::new()],
        };
        assert_eq!(
            FilteredListWithStatsResponse::from_bytes(&r.to_bytes()).unwrap(),
            r
        );
        let l = RemoveRecursiveRequest {
            path: "/a".into(),
            limit: u32::MAX,
        };
        let b = l.to_bytes();
        assert_eq!(&b[b.len() - 4..], &[0xff; 4]);
        assert_eq!(RemoveRecursiveRequest::from_bytes(&b).unwrap(), l);
        let f = FilteredListRequest {
            path: "/".into(),
            watch: true,
            list_type: list_type::EPHEMERAL_ONLY,
        };
        assert_eq!(f.to_bytes(), vec![0, 0, 0, 1, b'/', 1, 2]);
    }

    /// The bytes ClickHouse's client writes and reads for 506 and 507, field
    /// by field (`ZooKeeperCommon.cpp`: path as int32 length + bytes, bools
    /// and the list type as one byte, the limit as uint32; the response
    /// vectors as int32 count + items, Stats as 11 big-endian fields).
    #[test]
    fn list_with_stats_and_list_recursive_bytes() {
        let req = FilteredListWithStatsRequest {
            path: "/a".into(),
            watch: true,
            list_type: list_type::PERSISTENT_ONLY,
            with_stat: false,
            with_data: true,
        };
        assert_eq!(req.to_bytes(), vec![0, 0, 0, 2, b'/', b'a', 1, 1, 0, 1]);
        let stat = Stat {
            czxid: 1,
            data_length: 2,
            ..Stat::default()
        };
        let resp = FilteredListWithStatsResponse {
            children: vec!["x".into()],
            stat,
            stats: vec![],
            data: vec![Bytes::from_static(b"hi")],
        };
        let mut want = vec![0, 0, 0, 1, 0, 0, 0, 1, b'x'];
        want.extend_from_slice(&stat.to_bytes());
        want.extend_from_slice(&[0, 0, 0, 0]); // stats: none
        want.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2, b'h', b'i']);
        assert_eq!(resp.to_bytes(), want);
        assert_eq!(stat.to_bytes().len(), STAT_SIZE);
        assert_eq!(&stat.to_bytes()[..8], &[0, 0, 0, 0, 0, 0, 0, 1]);

        let l = ListRecursiveRequest {
            path: "/".into(),
            limit: 0x0102_0304,
        };
        assert_eq!(l.to_bytes(), vec![0, 0, 0, 1, b'/', 1, 2, 3, 4]);
        let r = ListRecursiveResponse {
            paths: vec!["/a".into(), "/a/b".into()],
        };
        assert_eq!(
            r.to_bytes(),
            vec![0, 0, 0, 2, 0, 0, 0, 2, b'/', b'a', 0, 0, 0, 4, b'/', b'a', b'/', b'b']
        );
    }
}
