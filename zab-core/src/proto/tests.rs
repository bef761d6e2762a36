//! Property tests over every record of [`proto`](super): decoders never
//! panic on any bytes, and each record reads back what it writes.

use super::*;
use crate::jute::Record;
use crate::records::Acl;
use bytes::Bytes;
use proptest::prelude::*;

/// decode(encode(x)) == x for one record.
fn round_trips<R: Record + PartialEq + std::fmt::Debug>(x: R) -> Result<(), TestCaseError> {
    prop_assert_eq!(R::from_bytes(&x.to_bytes()), Ok(x));
    Ok(())
}

/// Every decoder of this module, on the same bytes.
fn decode_with_every_record(b: &[u8]) {
    macro_rules! all {
        ($($t:ty),*) => { $( let _ = <$t>::from_bytes(b); )* };
    }
    all!(
        ConnectRequest,
        ConnectResponse,
        RequestHeader,
        ReplyHeader,
        MultiHeader,
        WatcherEvent,
        CreateRequest,
        CreateTtlRequest,
        DeleteRequest,
        PathWatchRequest,
        PathRequest,
        SetDataRequest,
        SetAclRequest,
        CheckVersionRequest,
        ReconfigRequest,
        WatchesRequest,
        AuthPacket,
        SetWatches,
        SetWatches2,
        AddWatchRequest,
        SaslRequest,
        CreateResponse,
        Create2Response,
        StatResponse,
        GetDataResponse,
        GetAclResponse,
        ChildrenResponse,
        GetChildren2Response,
        PathResponse,
        IntResponse,
        ClientInfo,
        WhoAmIResponse,
        MultiRequest,
        MultiResponse
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_any_decoder(b: Vec<u8>) {
        decode_with_every_record(&b);
    }

    /// Bytes that start like a real record reach deeper than random ones.
    #[test]
    fn mutated_records_never_panic_any_decoder(
        m in arb::multi_request(),
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<proptest::sample::Index>(),
    ) {
        let mut b = m.to_bytes();
        for (i, v) in flips {
            let at = i.index(b.len());
            b[at] = v;
        }
        b.truncate(cut.index(b.len() + 1));
        decode_with_every_record(&b);
    }

    #[test]
    fn handshake_records_round_trip(c in arb::connect_request(), r in arb::connect_response()) {
        round_trips(c)?;
        round_trips(r)?;
    }

    #[test]
    fn headers_and_events_round_trip(
        xid: i32, op_type: i32, zxid: i64, err: i32, done: bool, path in arb::string(),
    ) {
        round_trips(RequestHeader { xid, op_type })?;
        round_trips(ReplyHeader { xid, zxid, err })?;
        round_trips(MultiHeader { op_type, done, err })?;
        round_trips(WatcherEvent { event_type: op_type, state: err, path })?;
    }

    #[test]
    fn request_records_round_trip(
        create in arb::create_request(),
        ttl in arb::create_ttl_request(),
        path in arb::string(),
        version: i32,
        watch: bool,
        data in arb::opt_bytes(),
        acl in arb::acls(),
        reconfig in proptest::collection::vec(proptest::option::of(arb::string()), 3),
        config_id: i64,
        auth in (any::<i32>(), arb::string(), arb::bytes()),
        watches in proptest::collection::vec(arb::strings(), 5),
    ) {
        round_trips(create)?;
        round_trips(ttl)?;
        round_trips(DeleteRequest { path: path.clone(), version })?;
        round_trips(PathWatchRequest { path: path.clone(), watch })?;
        round_trips(PathRequest { path: path.clone() })?;
        round_trips(SetDataRequest { path: path.clone(), data, version })?;
        round_trips(SetAclRequest { path: path.clone(), acl, version })?;
        round_trips(CheckVersionRequest { path: path.clone(), version })?;
        round_trips(ReconfigRequest {
            joining_servers: reconfig[0].clone(),
            leaving_servers: reconfig[1].clone(),
            new_members: reconfig[2].clone(),
            cur_config_id: config_id,
        })?;
        round_trips(WatchesRequest { path: path.clone(), watcher_type: version })?;
        round_trips(AuthPacket { auth_type: auth.0, scheme: auth.1, auth: auth.2.clone() })?;
        round_trips(SetWatches {
            relative_zxid: config_id,
            data_watches: watches[0].clone(),
            exist_watches: watches[1].clone(),
            child_watches: watches[2].clone(),
        })?;
        round_trips(SetWatches2 {
            relative_zxid: config_id,
            data_watches: watches[0].clone(),
            exist_watches: watches[1].clone(),
            child_watches: watches[2].clone(),
            persistent_watches: watches[3].clone(),
            persistent_recursive_watches: watches[4].clone(),
        })?;
        round_trips(AddWatchRequest { path, mode: version })?;
        round_trips(SaslRequest { token: auth.2 })?;
    }

    #[test]
    fn response_records_round_trip(
        path in arb::string(),
        stat in arb::stat(),
        data in arb::opt_bytes(),
        acl in arb::acls(),
        children in arb::strings(),
        value: i32,
        infos in proptest::collection::vec((arb::string(), arb::string()), 0..3),
    ) {
        round_trips(CreateResponse { path: path.clone() })?;
        round_trips(Create2Response { path: path.clone(), stat })?;
        round_trips(StatResponse { stat })?;
        round_trips(GetDataResponse { data, stat })?;
        round_trips(GetAclResponse { acl, stat })?;
        round_trips(ChildrenResponse { children: children.clone() })?;
        round_trips(GetChildren2Response { children, stat })?;
        round_trips(PathResponse { path })?;
        round_trips(IntResponse { value })?;
        round_trips(WhoAmIResponse {
            client_info: infos
                .into_iter()
                .map(|(auth_scheme, user)| ClientInfo { auth_scheme, user })
                .collect(),
        })?;
    }

    #[test]
    fn multi_records_round_trip(m in arb::multi_request(), r in arb::multi_response()) {
        round_trips(m)?;
        round_trips(r)?;
    }

    #[test]
    fn create_request_round_trips(path in "/[a-z]{1,10}", data: Vec<u8>, flags in 0..7i32) {
        let c = CreateRequest { path, data: Some(Bytes::from(data)), acl: Acl::open_unsafe(), flags };
        prop_assert_eq!(CreateRequest::from_bytes(&c.to_bytes()).unwrap(), c);
    }
}
