//! Byte layouts of the quorum and election channels, as Apache ZooKeeper 3.8 writes them.
//!
//! Owns pure encoders and decoders; the socket side (a 4-byte big-endian length before
//! each election message, bare back-to-back records on the quorum port, the snapshot
//! stream that follows a SNAP packet) belongs to `zab-net` and the driver; see
//! docs/net.md. Every layout is documented with its origin in docs/protocol.md.
//!
//! ```text
//! ; quorum channel (leader <-> learner): jute records back to back, no outer length
//! QuorumPacket   := int(type) long(zxid) buffer(data) vector<Id>(authinfo)
//! Id             := ustring(scheme) ustring(id)
//! authinfo       := -1 (null) from ZooKeeper except in REQUEST; we write count 0
//! FOLLOWERINFO   := type=11 zxid=(acceptedEpoch << 32) data=LearnerInfo
//! OBSERVERINFO   := type=16 zxid=(acceptedEpoch << 32) data=LearnerInfo
//! LearnerInfo    := long(serverid) int(protocolVersion=0x10000) long(configVersion)
//! LEADERINFO     := type=17 zxid=(newEpoch << 32) data=int(protocolVersion=0x10000)
//! ACKEPOCH       := type=18 zxid=lastLoggedZxid data=int(currentEpoch | -1)
//! DIFF|TRUNC|SNAP:= type=13|14|15 zxid data=null        ; SNAP: the database follows (zkdb.rs)
//! NEWLEADER      := type=10 zxid=(newEpoch << 32) data=config bytes
//! UPTODATE       := type=12 zxid=leader's commit point (ZooKeeper writes -1) data=null
//! PROPOSAL|INFORM:= type=2|8 zxid data=serialized Txn (crate::txn)
//! ACK|COMMIT     := type=3|4 zxid data=null
//! PING           := type=5 zxid data=null                ; leader -> learner
//!                 | type=5 zxid data={long(sessionId) int(timeout)}*   ; learner's answer (opaque here)
//! REQUEST        := type=1 zxid=-1 data=long(sessionId) int(cxid) int(type) request-bytes
//!                   authinfo=the session's ids
//! REVALIDATE     := type=6 zxid=-1 data=long(sessionId) int(timeout)  ; learner -> leader
//!                 | type=6 zxid=-1 data=long(sessionId) boolean(valid) ; the leader's answer
//! SYNC           := type=7 zxid data=null   ; answer to a learner's sync(); ZooKeeper zxid=0
//! COMMITANDACTIVATE := type=9 zxid data=long(designatedLeader)        ; reconfig, not acted on
//! INFORMANDACTIVATE := type=19 zxid data=long(designatedLeader) Txn   ; reconfig, not acted on
//!
//! ; zk-rs only (docs/decisions/0002-zab-deviations.md, rqld); Apache reads its own
//! ; payloads by position and ignores what follows them, and never sees the two new types
//! FOLLOWERINFO/OBSERVERINFO of ours := LearnerInfo int(0x7a6b7273 "zkrs")
//! LEADERINFO of ours := int(protocolVersion=0x10000) int(0x7a6b7273 "zkrs")
//! RQLD           := type=0x7a6b0001 zxid=lastLoggedZxid data=null  ; learner -> a leader of ours
//! HANDOVER       := type=0x7a6b0002 zxid=-1 data=long(requester) int(outcome) int(ticks)
//!                   ; leader -> learners of ours; outcome 0 prefer requester, 1 plain yield,
//!                   ; 2 requester not up to date, 3 requester refused
//!
//! ; election channel (QuorumCnxManager)
//! InitialMessage := long(protocolVersion = -65536 | -65535) long(sid) int(len) utf8{len}
//!                   ; "host:port", or "host:port|host:port|..." for -65535
//!                 | long(sid >= 0)                       ; before 3.4.6, no address
//! Notification   := int(state) long(leader) long(zxid) long(electionEpoch)
//!                   long(peerEpoch) int(version=2) int(len) config{len}  ; 44 + len bytes
//!                 | int(state) long(leader) long(zxid) long(electionEpoch)
//!                   long(peerEpoch) int(version=1)                      ; 40 bytes
//!                 | int(state) long(leader) long(zxid) long(electionEpoch) ; 28 bytes, version 0
//! state          := 0 LOOKING | 1 FOLLOWING | 2 LEADING | 3 OBSERVING
//! ```
//!
//! Decoders never allocate from a length read off the wire before checking that the
//! input holds that many bytes.

use bytes::{BufMut, Bytes};

use crate::jute::{self, record, JuteError, JuteReader, Record};
use crate::records::Id;
use crate::{Epoch, ServerId, Zxid};

/// ZooKeeper's packet type numbers (`Leader.java`).
pub mod packet_type {
    pub const REQUEST: i32 = 1;
    pub const PROPOSAL: i32 = 2;
    pub const ACK: i32 = 3;
    pub const COMMIT: i32 = 4;
    pub const PING: i32 = 5;
    pub const REVALIDATE: i32 = 6;
    pub const SYNC: i32 = 7;
    pub const INFORM: i32 = 8;
    pub const COMMITANDACTIVATE: i32 = 9;
    pub const NEWLEADER: i32 = 10;
    pub const FOLLOWERINFO: i32 = 11;
    pub const UPTODATE: i32 = 12;
    pub const DIFF: i32 = 13;
    pub const TRUNC: i32 = 14;
    pub const SNAP: i32 = 15;
    pub const OBSERVERINFO: i32 = 16;
    pub const LEADERINFO: i32 = 17;
    pub const ACKEPOCH: i32 = 18;
    pub const INFORMANDACTIVATE: i32 = 19;
    /// zk-rs only: a learner asks its leader (one of ours) for leadership (`rqld`).
    pub const ZKRS_RQLD: i32 = 0x7a6b_0001;
    /// zk-rs only: the leader's answer to `rqld`, to learners of ours.
    pub const ZKRS_HANDOVER: i32 = 0x7a6b_0002;
}

/// The word a zk-rs server appends to LEADERINFO's and LearnerInfo's payload ("zkrs"):
/// the other end is ours and understands [`packet_type::ZKRS_RQLD`] / `ZKRS_HANDOVER`.
pub const ZK_RS_MARK: i32 = 0x7a6b_7273;

/// What a leader answers to `rqld` (HANDOVER's outcome).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandOverOutcome {
    /// Every peer told prefers the requester among equally up-to-date candidates for
    /// the ticks given; the leader yields.
    Preferred = 0,
    /// Some voter is not ours (knows no preference): the leader yields as `ydld` does.
    PlainYield = 1,
    /// The requester did not catch up with the leader within syncLimit.
    NotUpToDate = 2,
    /// The requester is not a synced voter, or the leader is handing over already.
    Refused = 3,
}

impl HandOverOutcome {
    fn from_i32(v: i32) -> Option<HandOverOutcome> {
        Some(match v {
            0 => HandOverOutcome::Preferred,
            1 => HandOverOutcome::PlainYield,
            2 => HandOverOutcome::NotUpToDate,
            3 => HandOverOutcome::Refused,
            _ => return None,
        })
    }
}

/// The quorum protocol version learners and leaders announce (`0x10000`).
pub const PROTOCOL_VERSION: i32 = 0x10000;
/// Election connection protocol versions (`QuorumCnxManager`).
pub const ELECTION_PROTOCOL_V1: i64 = -65536;
pub const ELECTION_PROTOCOL_V2: i64 = -65535;
/// The notification version we send.
pub const NOTIFICATION_VERSION: i32 = 2;
/// Longest address string accepted in an initial message.
pub const MAX_INITIAL_ADDRESS_LEN: usize = 4096;

/// Why a packet or an election message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error(transparent)]
    Jute(#[from] JuteError),
    #[error("unknown quorum packet type {0}")]
    UnknownPacketType(i32),
    #[error("unknown hand-over outcome {0}")]
    UnknownOutcome(i32),
    #[error("unknown server state {0}")]
    UnknownState(i32),
    #[error("election message of {len} bytes is shorter than {min}")]
    ShortNotification { len: usize, min: usize },
    #[error("unknown election protocol version {0}")]
    UnknownProtocolVersion(i64),
    #[error("initial message address of {len} bytes is longer than {max}")]
    AddressTooLong { len: usize, max: usize },
}

record! {
    /// The jute record `QuorumPacket`, field for field.
    QuorumPacketRecord {
        packet_type: i32 = int,
        zxid: i64 = long,
        data: Option<Bytes> = opt_buffer,
        // An Id is two strings: at least 8 bytes each on the wire.
        authinfo: Vec<Id> = vector(8),
    }

    /// `LearnerInfo`, the payload of FOLLOWERINFO and OBSERVERINFO.
    #[derive(Copy)]
    LearnerInfo {
        sid: ServerId = sid,
        protocol_version: i32 = int,
        config_version: i64 = long,
    }
}

/// A quorum packet with its payload decoded, named as ZooKeeper names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuorumPacket {
    /// A client write forwarded by a learner (opaque request bytes).
    Request {
        data: Bytes,
        authinfo: Vec<Id>,
    },
    Proposal {
        zxid: Zxid,
        data: Bytes,
    },
    Ack {
        zxid: Zxid,
    },
    Commit {
        zxid: Zxid,
    },
    Ping {
        zxid: Zxid,
        data: Bytes,
    },
    Revalidate {
        data: Bytes,
    },
    Sync {
        zxid: Zxid,
    },
    Inform {
        zxid: Zxid,
        data: Bytes,
    },
    CommitAndActivate {
        zxid: Zxid,
        data: Bytes,
    },
    NewLeader {
        zxid: Zxid,
        config: Bytes,
    },
    /// `zk_rs`: the learner is ours (its payload ends with [`ZK_RS_MARK`]).
    FollowerInfo {
        accepted_epoch: Epoch,
        info: LearnerInfo,
        zk_rs: bool,
    },
    /// `zxid` is the leader's commit point; ZooKeeper leaders send -1.
    UpToDate {
        zxid: Zxid,
    },
    Diff {
        zxid: Zxid,
    },
    Trunc {
        zxid: Zxid,
    },
    Snap {
        zxid: Zxid,
    },
    ObserverInfo {
        accepted_epoch: Epoch,
        info: LearnerInfo,
        zk_rs: bool,
    },
    /// `zk_rs`: the leader is ours (its payload ends with [`ZK_RS_MARK`]).
    LeaderInfo {
        epoch: Epoch,
        protocol_version: i32,
        zk_rs: bool,
    },
    /// `current_epoch` is -1 when a ZooKeeper learner had already accepted the epoch.
    AckEpoch {
        last_zxid: Zxid,
        current_epoch: i64,
    },
    InformAndActivate {
        zxid: Zxid,
        data: Bytes,
    },
    /// zk-rs only: `rqld`, a learner asks for leadership; `last_zxid` is its last logged.
    RequestLeadership {
        last_zxid: Zxid,
    },
    /// zk-rs only: the leader's answer to `rqld` from `requester`; with `Preferred`, every
    /// learner of ours prefers `requester` among equals for `ticks`.
    HandOver {
        requester: ServerId,
        outcome: HandOverOutcome,
        ticks: u32,
    },
}

/// A payload with [`ZK_RS_MARK`] appended when `zk_rs`.
fn marked(mut b: Vec<u8>, zk_rs: bool) -> Option<Bytes> {
    if zk_rs {
        b.put_i32(ZK_RS_MARK);
    }
    Some(Bytes::from(b))
}

/// Whether the payload continues with [`ZK_RS_MARK`] after its first `at` bytes.
fn has_mark(data: &Option<Bytes>, at: usize) -> bool {
    data.as_deref()
        .and_then(|d| d.get(at..at + 4))
        .is_some_and(|m| m == ZK_RS_MARK.to_be_bytes())
}

fn int_payload(v: i32) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(&v.to_be_bytes()))
}

fn read_int_payload(data: &Option<Bytes>) -> Result<i32, WireError> {
    let d = data.as_deref().unwrap_or(&[]);
    Ok(JuteReader::new(d).read_i32()?)
}

impl QuorumPacket {
    /// ZooKeeper's type number of this packet.
    pub fn packet_type(&self) -> i32 {
        use packet_type::*;
        match self {
            QuorumPacket::Request { .. } => REQUEST,
            QuorumPacket::Proposal { .. } => PROPOSAL,
            QuorumPacket::Ack { .. } => ACK,
            QuorumPacket::Commit { .. } => COMMIT,
            QuorumPacket::Ping { .. } => PING,
            QuorumPacket::Revalidate { .. } => REVALIDATE,
            QuorumPacket::Sync { .. } => SYNC,
            QuorumPacket::Inform { .. } => INFORM,
            QuorumPacket::CommitAndActivate { .. } => COMMITANDACTIVATE,
            QuorumPacket::NewLeader { .. } => NEWLEADER,
            QuorumPacket::FollowerInfo { .. } => FOLLOWERINFO,
            QuorumPacket::UpToDate { .. } => UPTODATE,
            QuorumPacket::Diff { .. } => DIFF,
            QuorumPacket::Trunc { .. } => TRUNC,
            QuorumPacket::Snap { .. } => SNAP,
            QuorumPacket::ObserverInfo { .. } => OBSERVERINFO,
            QuorumPacket::LeaderInfo { .. } => LEADERINFO,
            QuorumPacket::AckEpoch { .. } => ACKEPOCH,
            QuorumPacket::InformAndActivate { .. } => INFORMANDACTIVATE,
            QuorumPacket::RequestLeadership { .. } => ZKRS_RQLD,
            QuorumPacket::HandOver { .. } => ZKRS_HANDOVER,
        }
    }

    /// [`QuorumPacket::to_record`] of a packet no longer needed: a forwarded request's
    /// authentication ids move into the record instead of being copied.
    pub fn into_record(self) -> QuorumPacketRecord {
        match self {
            QuorumPacket::Request { data, authinfo } => QuorumPacketRecord {
                packet_type: packet_type::REQUEST,
                zxid: -1,
                data: Some(data),
                authinfo,
            },
            other => other.to_record(),
        }
    }

    /// The jute record this packet travels as.
    pub fn to_record(&self) -> QuorumPacketRecord {
        let (zxid, data, authinfo) = match self {
            QuorumPacket::Request { data, authinfo } => (-1, Some(data.clone()), authinfo.clone()),
            QuorumPacket::Proposal { zxid, data }
            | QuorumPacket::Ping { zxid, data }
            | QuorumPacket::Inform { zxid, data }
            | QuorumPacket::CommitAndActivate { zxid, data }
            | QuorumPacket::InformAndActivate { zxid, data }
            | QuorumPacket::NewLeader { zxid, config: data } => {
                (zxid.0, Some(data.clone()), vec![])
            }
            QuorumPacket::Ack { zxid }
            | QuorumPacket::Commit { zxid }
            | QuorumPacket::Sync { zxid }
            | QuorumPacket::UpToDate { zxid }
            | QuorumPacket::Diff { zxid }
            | QuorumPacket::Trunc { zxid }
            | QuorumPacket::Snap { zxid } => (zxid.0, None, vec![]),
            QuorumPacket::Revalidate { data } => (-1, Some(data.clone()), vec![]),
            QuorumPacket::FollowerInfo {
                accepted_epoch,
                info,
                zk_rs,
            }
            | QuorumPacket::ObserverInfo {
                accepted_epoch,
                info,
                zk_rs,
            } => (
                Zxid::new(*accepted_epoch, 0).0,
                marked(info.to_bytes(), *zk_rs),
                vec![],
            ),
            QuorumPacket::LeaderInfo {
                epoch,
                protocol_version,
                zk_rs,
            } => (
                Zxid::new(*epoch, 0).0,
                marked(protocol_version.to_be_bytes().to_vec(), *zk_rs),
                vec![],
            ),
            QuorumPacket::RequestLeadership { last_zxid } => (last_zxid.0, None, vec![]),
            QuorumPacket::HandOver {
                requester,
                outcome,
                ticks,
            } => {
                let mut b = Vec::with_capacity(16);
                b.put_i64(requester.0 as i64);
                b.put_i32(*outcome as i32);
                b.put_i32(*ticks as i32);
                (-1, Some(Bytes::from(b)), vec![])
            }
            QuorumPacket::AckEpoch {
                last_zxid,
                current_epoch,
            } => (last_zxid.0, int_payload(*current_epoch as i32), vec![]),
        };
        QuorumPacketRecord {
            packet_type: self.packet_type(),
            zxid,
            data,
            authinfo,
        }
    }

    /// Interprets a decoded record.
    pub fn from_record(r: QuorumPacketRecord) -> Result<QuorumPacket, WireError> {
        use packet_type::*;
        let zxid = Zxid(r.zxid);
        if r.packet_type == REQUEST {
            // Moved, not cloned: a forwarded write's auth ids are two strings each.
            return Ok(QuorumPacket::Request {
                data: r.data.unwrap_or_default(),
                authinfo: r.authinfo,
            });
        }
        let data = || r.data.clone().unwrap_or_default();
        Ok(match r.packet_type {
            PROPOSAL => QuorumPacket::Proposal { zxid, data: data() },
            ACK => QuorumPacket::Ack { zxid },
            COMMIT => QuorumPacket::Commit { zxid },
            PING => QuorumPacket::Ping { zxid, data: data() },
            REVALIDATE => QuorumPacket::Revalidate { data: data() },
            SYNC => QuorumPacket::Sync { zxid },
            INFORM => QuorumPacket::Inform { zxid, data: data() },
            COMMITANDACTIVATE => QuorumPacket::CommitAndActivate { zxid, data: data() },
            NEWLEADER => QuorumPacket::NewLeader {
                zxid,
                config: data(),
            },
            FOLLOWERINFO | OBSERVERINFO => {
                let info = LearnerInfo::from_bytes(r.data.as_deref().unwrap_or(&[]))?;
                let accepted_epoch = zxid.epoch();
                // LearnerInfo is 20 bytes: sid, protocol version, config version.
                let zk_rs = has_mark(&r.data, 20);
                if r.packet_type == FOLLOWERINFO {
                    QuorumPacket::FollowerInfo {
                        accepted_epoch,
                        info,
                        zk_rs,
                    }
                } else {
                    QuorumPacket::ObserverInfo {
                        accepted_epoch,
                        info,
                        zk_rs,
                    }
                }
            }
            UPTODATE => QuorumPacket::UpToDate { zxid },
            DIFF => QuorumPacket::Diff { zxid },
            TRUNC => QuorumPacket::Trunc { zxid },
            SNAP => QuorumPacket::Snap { zxid },
            LEADERINFO => QuorumPacket::LeaderInfo {
                epoch: zxid.epoch(),
                protocol_version: read_int_payload(&r.data)?,
                zk_rs: has_mark(&r.data, 4),
            },
            ACKEPOCH => QuorumPacket::AckEpoch {
                last_zxid: zxid,
                current_epoch: read_int_payload(&r.data)? as i64,
            },
            INFORMANDACTIVATE => QuorumPacket::InformAndActivate { zxid, data: data() },
            ZKRS_RQLD => QuorumPacket::RequestLeadership { last_zxid: zxid },
            ZKRS_HANDOVER => {
                let d = data();
                let mut rd = JuteReader::new(&d);
                let requester = ServerId(rd.read_i64()? as u64);
                let code = rd.read_i32()?;
                let outcome =
                    HandOverOutcome::from_i32(code).ok_or(WireError::UnknownOutcome(code))?;
                QuorumPacket::HandOver {
                    requester,
                    outcome,
                    ticks: rd.read_i32()?.max(0) as u32,
                }
            }
            t => return Err(WireError::UnknownPacketType(t)),
        })
    }

    /// Encodes the packet (without the frame length).
    pub fn encode(&self) -> Vec<u8> {
        self.to_record().to_bytes()
    }

    /// Decodes one packet (without the frame length).
    pub fn decode(b: &[u8]) -> Result<QuorumPacket, WireError> {
        QuorumPacket::from_record(QuorumPacketRecord::from_bytes(b)?)
    }
}

/// A peer's state as carried in notifications (`QuorumPeer.ServerState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerState {
    Looking = 0,
    Following = 1,
    Leading = 2,
    Observing = 3,
}

impl ServerState {
    pub fn from_i32(v: i32) -> Result<ServerState, WireError> {
        Ok(match v {
            0 => ServerState::Looking,
            1 => ServerState::Following,
            2 => ServerState::Leading,
            3 => ServerState::Observing,
            x => return Err(WireError::UnknownState(x)),
        })
    }
}

/// A FastLeaderElection notification: the sender's vote and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub state: ServerState,
    /// The proposed leader; `i64::MIN` as u64 for an observer's non-vote.
    pub leader: ServerId,
    pub zxid: Zxid,
    pub election_epoch: u64,
    pub peer_epoch: Epoch,
    pub version: i32,
    pub config: Bytes,
}

impl Notification {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(44 + self.config.len());
        out.put_i32(self.state as i32);
        out.put_i64(self.leader.0 as i64);
        out.put_i64(self.zxid.0);
        out.put_i64(self.election_epoch as i64);
        out.put_i64(self.peer_epoch.0 as i64);
        out.put_i32(self.version);
        jute::write_buffer(&mut out, &self.config);
        out
    }

    /// Decodes a notification body of any version ZooKeeper 3.8 accepts.
    pub fn decode(b: &[u8]) -> Result<Notification, WireError> {
        if b.len() < 28 {
            return Err(WireError::ShortNotification {
                len: b.len(),
                min: 28,
            });
        }
        let mut r = JuteReader::new(b);
        let state = ServerState::from_i32(r.read_i32()?)?;
        let leader = ServerId(r.read_i64()? as u64);
        let zxid = Zxid(r.read_i64()?);
        let election_epoch = r.read_i64()? as u64;
        let mut n = Notification {
            state,
            leader,
            zxid,
            election_epoch,
            peer_epoch: zxid.epoch(),
            version: 0,
            config: Bytes::new(),
        };
        if r.remaining() >= 8 {
            n.peer_epoch = Epoch(r.read_i64()? as u64);
            n.version = 1;
        }
        if r.remaining() >= 4 {
            n.version = r.read_i32()?;
            if n.version > 1 {
                n.config = r.read_buffer()?;
            }
        }
        Ok(n)
    }
}

/// The first message on an election connection (`QuorumCnxManager.InitialMessage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialMessage {
    /// `ELECTION_PROTOCOL_V1`/`V2`, or `None` for the pre-3.4.6 form (sid only).
    pub protocol_version: Option<i64>,
    pub sid: ServerId,
    /// `host:port` strings; several only with protocol version 2.
    pub addresses: Vec<String>,
}

impl InitialMessage {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self.protocol_version {
            None => out.put_i64(self.sid.0 as i64),
            Some(v) => {
                out.put_i64(v);
                out.put_i64(self.sid.0 as i64);
                jute::write_string(&mut out, &self.addresses.join("|"));
            }
        }
        out
    }

    pub fn decode(b: &[u8]) -> Result<InitialMessage, WireError> {
        let mut r = JuteReader::new(b);
        let first = r.read_i64()?;
        if first >= 0 {
            return Ok(InitialMessage {
                protocol_version: None,
                sid: ServerId(first as u64),
                addresses: vec![],
            });
        }
        if first != ELECTION_PROTOCOL_V1 && first != ELECTION_PROTOCOL_V2 {
            return Err(WireError::UnknownProtocolVersion(first));
        }
        let sid = ServerId(r.read_i64()? as u64);
        let mut peek = r.clone();
        let len = peek.read_i32()?;
        if len as i64 > MAX_INITIAL_ADDRESS_LEN as i64 {
            return Err(WireError::AddressTooLong {
                len: len as usize,
                max: MAX_INITIAL_ADDRESS_LEN,
            });
        }
        let s = r.read_string()?;
        let addresses = if s.is_empty() {
            vec![]
        } else {
            s.split('|').map(str::to_owned).collect()
        };
        Ok(InitialMessage {
            protocol_version: Some(first),
            sid,
            addresses,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn leaderinfo_layout_matches_zookeeper() {
        let p = QuorumPacket::LeaderInfo {
            epoch: Epoch(5),
            protocol_version: PROTOCOL_VERSION,
            zk_rs: false,
        };
        let b = p.encode();
        let mut want = vec![0, 0, 0, 17, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0];
        // An empty authinfo; ZooKeeper writes -1 (null) here and reads both.
        want.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(b, want);
        assert_eq!(QuorumPacket::decode(&b).unwrap(), p);
    }

    /// Ours appends "zkrs" after the 4 bytes Apache's `Learner.registerWithLeader` reads
    /// (`ByteBuffer.wrap(data).getInt()`), so an Apache learner sees the same version.
    #[test]
    fn our_leaderinfo_carries_the_mark_after_apache_s_int() {
        let p = QuorumPacket::LeaderInfo {
            epoch: Epoch(5),
            protocol_version: PROTOCOL_VERSION,
            zk_rs: true,
        };
        let b = p.encode();
        assert_eq!(
            &b[12..24],
            &[0, 0, 0, 8, 0, 1, 0, 0, b'z', b'k', b'r', b's']
        );
        assert_eq!(QuorumPacket::decode(&b).unwrap(), p);
    }

    /// Apache's `LearnerHandler` reads sid, version and config version by position from
    /// the first 20 bytes; the mark follows them.
    #[test]
    fn our_learnerinfo_carries_the_mark_after_its_20_bytes() {
        let info = LearnerInfo {
            sid: ServerId(2),
            protocol_version: PROTOCOL_VERSION,
            config_version: 7,
        };
        let p = QuorumPacket::FollowerInfo {
            accepted_epoch: Epoch(1),
            info,
            zk_rs: true,
        };
        let b = p.encode();
        assert_eq!(&b[12..16], &[0, 0, 0, 24]);
        assert_eq!(&b[16..36], &info.to_bytes()[..]);
        assert_eq!(&b[36..40], b"zkrs");
        assert_eq!(QuorumPacket::decode(&b).unwrap(), p);
    }

    #[test]
    fn notification_v2_layout_is_44_bytes_plus_config() {
        let n = Notification {
            state: ServerState::Looking,
            leader: ServerId(3),
            zxid: Zxid(0x1_0000_0002),
            election_epoch: 7,
            peer_epoch: Epoch(1),
            version: NOTIFICATION_VERSION,
            config: Bytes::from_static(b"v=1"),
        };
        let b = n.encode();
        assert_eq!(b.len(), 44 + 3);
        assert_eq!(&b[36..40], &[0, 0, 0, 2]);
        assert_eq!(Notification::decode(&b).unwrap(), n);
        // a version-0 sender: 28 bytes, peer epoch taken from the zxid
        let old = Notification::decode(&b[..28]).unwrap();
        assert_eq!(old.peer_epoch, Epoch(1));
        assert_eq!(old.version, 0);
    }

    #[test]
    fn initial_message_refuses_huge_address() {
        let mut b = Vec::new();
        b.put_i64(ELECTION_PROTOCOL_V1);
        b.put_i64(1);
        b.put_i32(i32::MAX);
        assert!(InitialMessage::decode(&b).is_err());
    }

    fn arb_zxid() -> impl Strategy<Value = Zxid> {
        any::<i64>().prop_map(Zxid)
    }
    fn arb_bytes() -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from)
    }
    fn arb_info() -> impl Strategy<Value = LearnerInfo> {
        (any::<u64>(), any::<i32>(), any::<i64>()).prop_map(|(s, p, c)| LearnerInfo {
            sid: ServerId(s),
            protocol_version: p,
            config_version: c,
        })
    }
    fn arb_epoch32() -> impl Strategy<Value = Epoch> {
        any::<u32>().prop_map(|e| Epoch(e as u64))
    }

    fn arb_packet() -> impl Strategy<Value = QuorumPacket> {
        prop_oneof![
            (
                arb_bytes(),
                proptest::collection::vec(("[a-z]{0,5}", "[a-z]{0,5}"), 0..3)
            )
                .prop_map(|(data, ids)| {
                    QuorumPacket::Request {
                        data,
                        authinfo: ids.into_iter().map(|(s, i)| Id::new(&s, &i)).collect(),
                    }
                }),
            (arb_zxid(), arb_bytes())
                .prop_map(|(zxid, data)| QuorumPacket::Proposal { zxid, data }),
            arb_zxid().prop_map(|zxid| QuorumPacket::Ack { zxid }),
            arb_zxid().prop_map(|zxid| QuorumPacket::Commit { zxid }),
            (arb_zxid(), arb_bytes()).prop_map(|(zxid, data)| QuorumPacket::Ping { zxid, data }),
            arb_bytes().prop_map(|data| QuorumPacket::Revalidate { data }),
            arb_zxid().prop_map(|zxid| QuorumPacket::Sync { zxid }),
            (arb_zxid(), arb_bytes()).prop_map(|(zxid, data)| QuorumPacket::Inform { zxid, data }),
            (arb_zxid(), arb_bytes())
                .prop_map(|(zxid, data)| QuorumPacket::CommitAndActivate { zxid, data }),
            (arb_zxid(), arb_bytes())
                .prop_map(|(zxid, config)| QuorumPacket::NewLeader { zxid, config }),
            (arb_epoch32(), arb_info(), any::<bool>()).prop_map(|(accepted_epoch, info, zk_rs)| {
                QuorumPacket::FollowerInfo {
                    accepted_epoch,
                    info,
                    zk_rs,
                }
            }),
            (arb_epoch32(), arb_info(), any::<bool>()).prop_map(|(accepted_epoch, info, zk_rs)| {
                QuorumPacket::ObserverInfo {
                    accepted_epoch,
                    info,
                    zk_rs,
                }
            }),
            arb_zxid().prop_map(|zxid| QuorumPacket::UpToDate { zxid }),
            arb_zxid().prop_map(|zxid| QuorumPacket::Diff { zxid }),
            arb_zxid().prop_map(|zxid| QuorumPacket::Trunc { zxid }),
            arb_zxid().prop_map(|zxid| QuorumPacket::Snap { zxid }),
            (arb_epoch32(), any::<i32>(), any::<bool>()).prop_map(
                |(epoch, protocol_version, zk_rs)| {
                    QuorumPacket::LeaderInfo {
                        epoch,
                        protocol_version,
                        zk_rs,
                    }
                }
            ),
            arb_zxid().prop_map(|last_zxid| QuorumPacket::RequestLeadership { last_zxid }),
            (any::<u64>(), 0i32..4, 0u32..=i32::MAX as u32).prop_map(|(r, o, ticks)| {
                QuorumPacket::HandOver {
                    requester: ServerId(r),
                    outcome: HandOverOutcome::from_i32(o).unwrap(),
                    ticks,
                }
            }),
            (arb_zxid(), any::<i32>()).prop_map(|(last_zxid, e)| QuorumPacket::AckEpoch {
                last_zxid,
                current_epoch: e as i64
            }),
            (arb_zxid(), arb_bytes())
                .prop_map(|(zxid, data)| QuorumPacket::InformAndActivate { zxid, data }),
        ]
    }

    proptest! {
        #[test]
        fn quorum_packets_round_trip(p in arb_packet()) {
            prop_assert_eq!(QuorumPacket::decode(&p.encode()).unwrap(), p);
        }

        #[test]
        fn into_record_is_to_record(p in arb_packet()) {
            prop_assert_eq!(p.clone().into_record(), p.to_record());
        }

        #[test]
        fn notifications_round_trip(state in 0i32..4, leader: u64, zxid: i64, ee: u64, pe: u64, config in arb_bytes()) {
            let n = Notification {
                state: ServerState::from_i32(state).unwrap(),
                leader: ServerId(leader),
                zxid: Zxid(zxid),
                election_epoch: ee,
                peer_epoch: Epoch(pe),
                version: NOTIFICATION_VERSION,
                config,
            };
            prop_assert_eq!(Notification::decode(&n.encode()).unwrap(), n);
        }

        /// Version 0 (28 bytes: no peer epoch, taken from the zxid), version 1
        /// (40 bytes: no config) and version 2 and later (a config buffer), as
        /// ZooKeeper 3.8 senders of each kind write them; and a decoded
        /// notification of any version encodes back to itself.
        #[test]
        fn notifications_of_every_version_round_trip(
            state in 0i32..4, leader: u64, zxid: i64, ee: u64, pe: u64,
            version in prop_oneof![Just(0), Just(1), 2i32..=i32::MAX],
            config in arb_bytes(),
        ) {
            let full = Notification {
                state: ServerState::from_i32(state).unwrap(),
                leader: ServerId(leader),
                zxid: Zxid(zxid),
                election_epoch: ee,
                peer_epoch: Epoch(pe),
                version,
                config: if version > 1 { config } else { Bytes::new() },
            };
            let b = full.encode();
            let (bytes, want) = match version {
                0 => (&b[..28], Notification { peer_epoch: Zxid(zxid).epoch(), ..full }),
                1 => (&b[..40], full),
                _ => (&b[..], full),
            };
            let got = Notification::decode(bytes).unwrap();
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(Notification::decode(&got.encode()).unwrap(), want);
        }

        #[test]
        fn initial_messages_round_trip(v2: bool, sid in 0u64..i64::MAX as u64, addrs in proptest::collection::vec("[a-z0-9.]{1,10}:[0-9]{1,5}", 0..3)) {
            let m = InitialMessage {
                protocol_version: Some(if v2 { ELECTION_PROTOCOL_V2 } else { ELECTION_PROTOCOL_V1 }),
                sid: ServerId(sid),
                addresses: addrs,
            };
            prop_assert_eq!(InitialMessage::decode(&m.encode()).unwrap(), m);
        }

        #[test]
        fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = QuorumPacket::decode(&b);
            let _ = Notification::decode(&b);
            let _ = InitialMessage::decode(&b);
        }
    }
}
