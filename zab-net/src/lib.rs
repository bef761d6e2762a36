//! zab-net: the sockets of a quorum peer.
//!
//! This crate owns the two server-to-server ports of a ZooKeeper ensemble and
//! the framing that travels on them:
//!
//! * [`frame`]: 4-byte big-endian length-prefixed frames with a cap
//!   (election messages after the handshake).
//! * [`handshake`]: the initial message a server sends on the election port.
//! * [`quorum_packet`]: zab-core's jute `QuorumPacket` record as it travels on
//!   the quorum port, decoded incrementally with caps (it has no outer length).
//! * [`election`]: [`ElectionNet`], the election port with ZooKeeper 3.8's
//!   `QuorumCnxManager` connection rules (one connection per pair, kept by
//!   the larger sid; a send queue of one message per peer).
//! * [`quorum_auth`]: quorum SASL, the exchange of `QuorumAuthPacket`s that
//!   opens election and quorum connections when `quorum.auth.enableSasl` is
//!   set; the mechanism is the caller's, behind [`QuorumSasl`].
//! * [`stream`]: the bytes under a connection, plain or wrapped by the
//!   caller's quorum TLS ([`QuorumTls`], `sslQuorum`), and when they are wrapped.
//! * [`quorum`]: the leader-side listener and the learner-side connector of
//!   the quorum port, each connection a [`PeerConn`] with a bounded outbound
//!   queue and a read timeout the driver sets.
//!
//! It leaves the meaning of messages to `zab-core` (votes, packet types and
//! their payloads) and the choice of when to send, connect or time out to the
//! driver in `zk-server`. See `docs/net.md`.

pub mod conn;
pub mod election;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod quorum;
pub mod quorum_auth;
pub mod quorum_packet;
pub mod stream;

pub use conn::{try_recv_many, PeerConn, PeerSender};
pub use election::{ConnInfo, ElectionConfig, ElectionNet};
pub use error::NetError;
pub use frame::LengthCodec;
pub use handshake::{InitialMessage, InitialMessageCodec};
pub use quorum::{
    connect_to_leader, LeaderConnectConfig, LearnerConn, QuorumConfig, QuorumListener,
};
pub use quorum_auth::{QuorumAuth, QuorumSasl, SaslClientExchange, SaslServerExchange, ServerStep};
pub use quorum_packet::{learner_sid, QuorumPacketCodec, QuorumPacketRecord};
pub use stream::{PeerStream, QuorumTls, TlsFuture};
