//! What a run remembers: the trace printed with a failure and the [`Record`] of a script.
//!
//! Owns the last `TRACE_LEN` events, actions and notes (kept unformatted until a run
//! fails; `ZAB_TRACE_LEN` in the environment keeps more, to read a whole replay), the
//! recording kept by [`Sim::record`], and how a failure is reported.

use std::fmt;

use super::Sim;
use crate::peer::{Action, Event};
use crate::wire::QuorumPacket;
use crate::ServerId;

/// How many recent events, actions and notes a failure prints.
pub(super) const TRACE_LEN: usize = 400;

/// [`TRACE_LEN`], or `ZAB_TRACE_LEN` from the environment: a replay read whole wants
/// every step since the start, a soak wants the default.
pub(super) fn trace_len() -> usize {
    std::env::var("ZAB_TRACE_LEN")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(TRACE_LEN)
}

/// One line of the trace, kept unformatted: formatting every event costs more than running it.
#[derive(Debug)]
pub(super) enum TraceEntry {
    Note(String),
    Event(u64, ServerId, Event),
    Action(ServerId, Action),
}

impl fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceEntry::Note(s) => f.write_str(s),
            TraceEntry::Event(now, sid, ev) => write!(f, "{now} {sid} <- {}", short_event(ev)),
            TraceEntry::Action(sid, a) => write!(f, "    {sid} -> {}", short_action(a)),
        }
    }
}

/// An event fed to a peer or an action it returned, kept by [`Sim::record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Fed {
        at: u64,
        sid: ServerId,
        ev: Event,
    },
    Did {
        at: u64,
        sid: ServerId,
        action: Action,
    },
}

impl Record {
    pub fn sid(&self) -> ServerId {
        match self {
            Record::Fed { sid, .. } | Record::Did { sid, .. } => *sid,
        }
    }
    /// The action, if `sid` did it.
    pub fn action_of(&self, of: u64) -> Option<&Action> {
        match self {
            Record::Did { sid, action, .. } if sid.0 == of => Some(action),
            _ => None,
        }
    }
    /// The event, if it was fed to `sid`.
    pub fn event_of(&self, of: u64) -> Option<&Event> {
        match self {
            Record::Fed { sid, ev, .. } if sid.0 == of => Some(ev),
            _ => None,
        }
    }
    /// The packet, if `sid` sent it to `to`.
    pub fn sent(&self, sid: u64, to: u64) -> Option<&QuorumPacket> {
        match self.action_of(sid)? {
            Action::Send { to: t, msg } if t.0 == to => Some(msg),
            _ => None,
        }
    }
    /// The packet, if `sid` received it.
    pub fn received(&self, sid: u64) -> Option<&QuorumPacket> {
        match self.event_of(sid)? {
            Event::Received { msg, .. } => Some(msg),
            _ => None,
        }
    }
}

impl Sim {
    pub(super) fn note(&mut self, s: String) {
        self.remember(TraceEntry::Note(s));
    }

    pub(super) fn remember(&mut self, t: TraceEntry) {
        if self.trace.len() >= self.trace_len {
            self.trace.pop_front();
        }
        self.trace.push_back(t);
    }

    /// The last events, actions and notes, one a line, oldest first.
    pub fn trace(&self) -> String {
        let mut s = String::new();
        for t in &self.trace {
            s.push_str(&t.to_string());
            s.push('\n');
        }
        s
    }

    /// Each server at this point, one a line: its role, epochs, log, and the view in force
    /// and the pending one (what a stall is read from).
    pub fn servers(&self) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            let Some(p) = n.peer.as_ref() else {
                s.push_str(&format!("server {}: down\n", n.sid));
                continue;
            };
            let v = p.vote();
            s.push_str(&format!(
                "server {}: {:?} leader {:?} epoch {:?} accepted {} current {} last {} \
                 committed {} round {} vote ({} {} pe {}) view {:x} voters {:?} observers {:?} \
                 pending {:?}\n",
                n.sid,
                p.state(),
                p.leader().map(|l| l.0),
                p.epoch().map(|e| e.0),
                p.accepted_epoch().0,
                p.current_epoch().0,
                p.last_zxid(),
                p.last_committed(),
                p.logical_clock(),
                v.leader.0 as i64,
                v.zxid,
                v.peer_epoch.0 as i64,
                p.config_version(),
                p.voting_members().iter().map(|x| x.0).collect::<Vec<_>>(),
                p.observer_members().iter().map(|x| x.0).collect::<Vec<_>>(),
                p.pending_view(),
            ));
        }
        s
    }

    /// Fails the run with its seed, the way to replay it, the last events and each
    /// server's state.
    pub fn fail(&self, why: &str) -> ! {
        let s = self.trace();
        panic!(
            "{s}\n{}\nINVARIANT VIOLATED at step {} (seed {}): {why}\nreplay: {}",
            self.servers(),
            self.now,
            self.seed,
            self.replay
        );
    }
}

fn short_event(e: &Event) -> String {
    match e {
        Event::Notification { from, n } => format!(
            "notification from {from}: {:?} leader {} zxid {} ee {} pe {}",
            n.state, n.leader.0 as i64, n.zxid, n.election_epoch, n.peer_epoch
        ),
        Event::Received { from, msg } => format!("from {from}: {}", short_packet(msg)),
        other => format!("{other:?}"),
    }
}

pub(super) fn short_action(a: &Action) -> String {
    match a {
        Action::SendNotification { to, n } => format!(
            "notify {to}: {:?} leader {} zxid {} ee {} pe {}",
            n.state, n.leader.0 as i64, n.zxid, n.election_epoch, n.peer_epoch
        ),
        Action::Send { to, msg } => format!("send {to}: {}", short_packet(msg)),
        Action::Append(v) => format!("append {:?}", v.iter().map(|e| e.0).collect::<Vec<_>>()),
        other => format!("{other:?}"),
    }
}

fn short_packet(p: &QuorumPacket) -> String {
    match p {
        QuorumPacket::Proposal { zxid, .. } => format!("PROPOSAL {zxid}"),
        QuorumPacket::Inform { zxid, .. } => format!("INFORM {zxid}"),
        QuorumPacket::NewLeader { zxid, .. } => format!("NEWLEADER {zxid}"),
        QuorumPacket::Ping { zxid, .. } => format!("PING {zxid}"),
        other => format!("{other:?}"),
    }
}
