//! The peer: one ZooKeeper server's protocol state as a pure state machine.
//!
//! Owns [`Peer`]: the configuration, the epochs, the in-memory window of the
//! transaction log (kept by `crate::log`), the election (`crate::election`), the vote,
//! the role and its state (`crate::role`), and the helpers every phase uses: leaving a
//! role for election (`become_looking`), reporting status, committing. It performs no
//! I/O: the driver feeds [`Event`]s to [`Peer::step`] and executes the returned
//! [`Action`]s, under the contract written at the top of `driver.rs` (re-exported here).
//! Routing events to handlers is `dispatch.rs`'s; the handlers live in one module per
//! phase: [`crate::election`], [`crate::discovery`], [`crate::sync`], [`crate::broadcast`].

use std::collections::VecDeque;

use bytes::Bytes;

use crate::election::{Election, ElectionCtx, Vote};
use crate::log::Log;
use crate::role::{HandlerPhase, LeaderState, LearnerState, Role};
use crate::wire::ServerState;
use crate::{Epoch, ServerId, Zxid};

pub use crate::driver::{Action, Config, Event, PeerStatus, PersistentState, RqldAnswer, ZabPhase};

/// One ZooKeeper server's protocol state.
#[derive(Debug)]
pub struct Peer {
    pub(crate) cfg: Config,
    pub(crate) participant: bool,
    pub(crate) tick: u64,
    pub(crate) accepted_epoch: Epoch,
    pub(crate) current_epoch: Epoch,
    pub(crate) log: Log,
    pub(crate) election: Election,
    pub(crate) vote: Vote,
    pub(crate) role: Role,
    /// What the election decided during the current event; `dispatch` acts on it.
    pub(crate) decided: Option<Vote>,
    /// A reconfig logged and not yet committed (Apache's last seen verifier).
    pub(crate) pending_config: Option<crate::reconfig::Pending>,
    /// The leader a COMMITANDACTIVATE being handled designates.
    pub(crate) designated: Option<ServerId>,
    /// An activation asks for a new election; `dispatch` starts it after the handler.
    pub(crate) reelect: bool,
    /// A handover in place: the designated leader this peer leads as (itself) or
    /// follows next, without an election; `dispatch` switches after the handler
    /// (Apache's `reconfigFlag` with the vote `updateVote` set).
    pub(crate) switch_to: Option<ServerId>,
    /// After a leadership yield: the tick until which this peer does not back itself.
    pub(crate) yield_until: Option<u64>,
    /// After a leader's HANDOVER (`rqld`): the server this peer prefers among equally
    /// up-to-date candidates, until the tick given.
    pub(crate) prefer: Option<(ServerId, u64)>,
    pub(crate) out: Vec<Action>,
}

impl Peer {
    pub fn new(cfg: Config, st: PersistentState) -> Peer {
        let mut entries: VecDeque<(Zxid, Bytes)> =
            st.recent.into_iter().filter(|e| e.0 > st.base).collect();
        entries.make_contiguous().sort_by_key(|e| e.0);
        let last = entries.back().map(|e| e.0).unwrap_or(st.base);
        let committed = st.last_committed.max(st.base).min(last);
        let participant = cfg.quorum.is_voter(cfg.my_id);
        let window = cfg.log_window.max(1);
        // A reconfig in the log newer than the view we start with: pending again (it
        // was in memory only), activated at Start if it is known committed.
        let pending_config = entries
            .iter()
            .rev()
            .filter(|e| e.0 .0 > cfg.config_version)
            .find_map(|(z, d)| crate::reconfig::pending_of(*z, d));
        Peer {
            participant,
            tick: 0,
            accepted_epoch: st.accepted_epoch,
            current_epoch: st.current_epoch,
            log: Log {
                base: st.base,
                entries,
                durable: last,
                committed,
                window,
            },
            election: Election::new(),
            vote: Vote {
                leader: cfg.my_id,
                zxid: last,
                election_epoch: 0,
                peer_epoch: st.current_epoch,
                state: ServerState::Looking,
            },
            role: Role::Looking,
            decided: None,
            pending_config,
            designated: None,
            reelect: false,
            switch_to: None,
            yield_until: None,
            prefer: None,
            out: Vec::new(),
            cfg,
        }
    }

    pub(crate) fn run_election(
        &mut self,
        f: impl FnOnce(&mut Election, &ElectionCtx<'_>, &mut Vec<Action>) -> Option<Vote>,
    ) {
        let pending = self.pending_config.as_ref().map(|p| &*p.quorum);
        let ctx = ElectionCtx {
            my_id: self.cfg.my_id,
            participant: self.participant,
            observer: self.cfg.quorum.is_observer(self.cfg.my_id),
            last_zxid: self.log.last(),
            current_epoch: self.current_epoch,
            quorum: &*self.cfg.quorum,
            pending,
            pending_zxid: self.pending_config.as_ref().map(|p| p.zxid),
            config: &self.cfg.config_data,
            finalize_wait_ticks: self.cfg.finalize_wait_ticks,
            min_notification_ticks: self.cfg.min_notification_ticks,
            max_notification_ticks: self.cfg.max_notification_ticks,
            yielding: self.yield_until.is_some(),
            preferred: self.prefer.map(|(s, _)| s),
        };
        if let Some(v) = f(&mut self.election, &ctx, &mut self.out) {
            self.decided = Some(v);
            self.yield_until = None;
            self.prefer = None;
        }
    }

    pub(crate) fn leader_mut(&mut self) -> &mut LeaderState {
        match &mut self.role {
            Role::Leading(l) => l,
            _ => unreachable!("not leading"),
        }
    }

    pub(crate) fn learner_mut(&mut self) -> &mut LearnerState {
        match &mut self.role {
            Role::Learning(l) => l,
            _ => unreachable!("not learning"),
        }
    }

    /// Back to election: drop the role and everything it was waiting for (ZOOKEEPER-4712:
    /// nothing that arrives for the old role is logged or acknowledged afterwards).
    /// Whether this server learns as an observer: one of the view's observers. A
    /// server outside the view (removed by a reconfig) follows without a vote, as
    /// Apache's keeps its learner type.
    pub(crate) fn observes(&self) -> bool {
        self.cfg.quorum.is_observer(self.cfg.my_id)
    }

    pub(crate) fn become_looking(&mut self) {
        self.reelect = false;
        self.switch_to = None;
        self.role = Role::Looking;
        self.vote.state = ServerState::Looking;
        self.status(
            ServerState::Looking,
            ZabPhase::Election,
            None,
            self.current_epoch,
        );
        self.run_election(|e, ctx, out| e.start(ctx, out));
    }

    pub(crate) fn status(
        &mut self,
        state: ServerState,
        phase: ZabPhase,
        leader: Option<ServerId>,
        epoch: Epoch,
    ) {
        self.out.push(Action::StateChanged(PeerStatus {
            state,
            phase,
            leader,
            epoch,
        }));
    }

    /// Marks everything up to `upto` committed and tells the driver.
    pub(crate) fn commit_to(&mut self, upto: Zxid) {
        let upto = upto.min(self.log.last());
        if upto > self.log.committed {
            self.log.committed = upto;
            self.out.push(Action::Commit { upto });
            self.log.trim();
            if self.pending_config.as_ref().is_some_and(|p| p.zxid <= upto) {
                let p = self.pending_config.take().expect("pending");
                self.activate(p);
            }
        }
    }

    /// Remember a logged reconfig proposal (a no-op for any other transaction, and for a
    /// reconfig no newer than the view in force). A view in force of a later version was
    /// made by a later reconfig, so this one is either committed and superseded in that
    /// history or off it (the sync truncates it); pending, it made the election want a
    /// quorum of a stale view. Apache's election counts its last seen view only when it
    /// is newer than the one in force (`termPredicate`) (reconfig seed 8336346).
    pub(crate) fn note_proposal(&mut self, zxid: Zxid, data: &[u8]) {
        if zxid.0 <= self.cfg.config_version {
            return;
        }
        if let Some(p) = crate::reconfig::pending_of(zxid, data) {
            self.pending_config = Some(p);
        }
    }

    /// `QuorumPeer.processReconfig`: the committed configuration becomes the view.
    ///
    /// The handover in place: a learner told of a designated leader other than its own
    /// goes straight to it (leads, if it is this server) without an election; a leader
    /// that designated another keeps leading, commits nothing more, and follows the
    /// designated one once its learners have left (`on_leader_tick`); a new leader
    /// finishing a previous leader's reconfig that leaves it out designates one too
    /// (`maybe_establish`). Without a designated leader, a leader that no longer votes
    /// goes back to election. A learner whose kind changed (an observer promoted to
    /// voter, or a voter made an observer) reconnects to its leader as the new kind.
    pub(crate) fn activate(&mut self, p: crate::reconfig::Pending) {
        let version = p.zxid.0;
        if !self.cfg.reconfig_enabled || version <= self.cfg.config_version {
            return;
        }
        let me = self.cfg.my_id;
        self.cfg.quorum = p.quorum;
        self.cfg.config_data = p.data.clone();
        self.cfg.config_version = version;
        self.participant = self.cfg.quorum.is_voter(me);
        self.out.push(Action::Activate {
            config: p.data,
            version,
        });
        let designated = self.designated.take();
        let tick = self.tick;
        let sync_limit = self.cfg.sync_limit_ticks;
        match &mut self.role {
            Role::Looking => {}
            Role::Leading(l) => match designated {
                Some(d) if d != me => l.handover = Some((d, tick + sync_limit)),
                _ => self.reelect |= !self.participant,
            },
            Role::Learning(l) => match designated {
                Some(d) if d != l.leader => self.switch_to = Some(d),
                // Promoted to voter or made an observer: reconnect to the same leader as
                // the new kind (FOLLOWERINFO / OBSERVERINFO) without an election. Apache's
                // learner re-elects here and finds the same leader; the end is the same.
                _ if l.observer != self.cfg.quorum.is_observer(me) => {
                    self.switch_to = Some(l.leader)
                }
                _ => {}
            },
        }
    }

    /// The handover in place (Apache's `updateServerState` after `updateVote`): lead if
    /// `to` is this server, else follow or observe it, with no election. The vote names
    /// `to` with our current epoch, the same on every server that was in broadcast under
    /// the old leader, so a peer that is still looking joins through their notifications.
    pub(crate) fn hand_over_to(&mut self, to: ServerId) {
        let me = self.cfg.my_id;
        self.vote = Vote {
            leader: to,
            zxid: self.log.last(),
            election_epoch: self.vote.election_epoch,
            peer_epoch: self.current_epoch,
            state: if to == me {
                ServerState::Leading
            } else if self.observes() {
                ServerState::Observing
            } else {
                ServerState::Following
            },
        };
        if to == me {
            self.become_leading();
        } else {
            self.become_learner(to);
        }
    }

    /// A membership from NEWLEADER: adopted when newer than ours (a learner that
    /// missed the reconfig's commit).
    pub(crate) fn adopt_config(&mut self, data: &Bytes) {
        let Some((quorum, version)) = crate::reconfig::parse_config(data) else {
            return;
        };
        if version <= self.cfg.config_version {
            return;
        }
        if self
            .pending_config
            .as_ref()
            .is_some_and(|p| p.zxid.0 <= version)
        {
            self.pending_config = None;
        }
        self.activate(crate::reconfig::Pending {
            zxid: Zxid(version),
            quorum,
            data: data.clone(),
        });
    }

    // ---- read-only views for drivers and tests ----

    pub fn id(&self) -> ServerId {
        self.cfg.my_id
    }
    pub fn state(&self) -> ServerState {
        match &self.role {
            Role::Looking => ServerState::Looking,
            Role::Leading(_) => ServerState::Leading,
            Role::Learning(l) if l.observer => ServerState::Observing,
            Role::Learning(_) => ServerState::Following,
        }
    }
    /// The leader this peer follows or is, once elected.
    pub fn leader(&self) -> Option<ServerId> {
        match &self.role {
            Role::Looking => None,
            Role::Leading(_) => Some(self.cfg.my_id),
            Role::Learning(l) => Some(l.leader),
        }
    }
    /// An established leader in broadcast, not handing over: `Propose` is honoured.
    pub fn can_propose(&self) -> bool {
        matches!(&self.role, Role::Leading(l) if l.is_broadcasting() && l.handover.is_none())
    }
    /// In the broadcast phase, as leader or learner.
    pub fn is_broadcasting(&self) -> bool {
        match &self.role {
            Role::Looking => false,
            Role::Leading(l) => l.is_broadcasting(),
            Role::Learning(l) => l.is_broadcasting(),
        }
    }
    pub fn last_zxid(&self) -> Zxid {
        self.log.last()
    }
    pub fn last_committed(&self) -> Zxid {
        self.log.committed
    }
    pub fn accepted_epoch(&self) -> Epoch {
        self.accepted_epoch
    }
    pub fn current_epoch(&self) -> Epoch {
        self.current_epoch
    }
    pub fn vote(&self) -> Vote {
        self.vote
    }
    /// The version of the view in force (the zxid of the reconfig that made it).
    pub fn config_version(&self) -> i64 {
        self.cfg.config_version
    }
    /// The voters of the view in force.
    pub fn voting_members(&self) -> Vec<ServerId> {
        self.cfg.quorum.voting_members().to_vec()
    }
    /// The observers of the view in force.
    pub fn observer_members(&self) -> Vec<ServerId> {
        self.cfg.quorum.observers().to_vec()
    }
    /// The zxid of a reconfig logged and not yet known committed (Apache's last seen
    /// verifier newer than the one in force): a leader takes no other reconfig meanwhile.
    pub fn pending_reconfig(&self) -> Option<Zxid> {
        self.pending_config.as_ref().map(|p| p.zxid)
    }
    /// The pending reconfig's zxid and its voters and observers, for diagnosis.
    pub fn pending_view(&self) -> Option<(Zxid, Vec<u64>, Vec<u64>)> {
        self.pending_config.as_ref().map(|p| {
            (
                p.zxid,
                p.quorum.voting_members().iter().map(|s| s.0).collect(),
                p.quorum.observers().iter().map(|s| s.0).collect(),
            )
        })
    }
    pub fn logical_clock(&self) -> u64 {
        self.election.logical_clock
    }
    /// A leader's learners, for monitoring (`mntr`'s zk_learners, zk_synced_followers,
    /// zk_pending_syncs): empty unless leading.
    pub fn learners(&self) -> LearnerSummary {
        let mut s = LearnerSummary::default();
        if let Role::Leading(l) = &self.role {
            let voters = self.cfg.quorum.voting_members();
            for (sid, h) in &l.handlers {
                let synced = matches!(h.phase, HandlerPhase::Synced | HandlerPhase::UpToDate);
                if h.observer {
                    s.observers += 1;
                } else {
                    s.followers += 1;
                    s.synced_followers += synced as usize;
                    // Apache's getNonVotingFollowers: a follower outside the voters.
                    s.synced_non_voting_followers += (synced && !voters.contains(sid)) as usize;
                }
            }
            s.pending_syncs = l.pending_syncs.len();
        }
        s
    }
    /// Leader: whether learner `sid` acknowledged NEWLEADER (is past its
    /// synchronisation); `None` when it is not a learner of this leader.
    pub fn learner_synced(&self, sid: ServerId) -> Option<bool> {
        match &self.role {
            Role::Leading(l) => l
                .handlers
                .get(&sid)
                .map(|h| h.phase >= HandlerPhase::Synced),
            _ => None,
        }
    }
    /// Leader: the followers that acknowledged its NEWLEADER (its synced
    /// participants), by id; a reconfig needs a quorum of the new voters among them.
    pub fn synced_follower_ids(&self) -> Vec<ServerId> {
        self.synced_followers().collect()
    }
    /// [`Peer::synced_follower_ids`] without collecting them (a driver compares them
    /// after every event).
    pub fn synced_followers(&self) -> impl Iterator<Item = ServerId> + '_ {
        let handlers = match &self.role {
            Role::Leading(l) => Some(&l.handlers),
            _ => None,
        };
        handlers
            .into_iter()
            .flatten()
            .filter(|(_, h)| !h.observer && h.phase >= HandlerPhase::Synced)
            .map(|(sid, _)| *sid)
    }
    /// Leader: the observers connected to it, by id.
    pub fn observer_ids(&self) -> Vec<ServerId> {
        let mut v: Vec<ServerId> = match &self.role {
            Role::Leading(l) => l
                .handlers
                .iter()
                .filter(|(_, h)| h.observer)
                .map(|(sid, _)| *sid)
                .collect(),
            _ => Vec::new(),
        };
        v.sort();
        v
    }
    /// The epoch being established or led (leader) or followed (learner).
    pub fn epoch(&self) -> Option<Epoch> {
        match &self.role {
            Role::Looking => None,
            Role::Leading(l) => l.epoch,
            Role::Learning(l) => l.new_epoch,
        }
    }
}

/// What a leader knows of its learners, for monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LearnerSummary {
    pub followers: usize,
    pub synced_followers: usize,
    /// Synced followers that are not voters of the view in force (`mntr`'s
    /// zk_synced_non_voting_followers).
    pub synced_non_voting_followers: usize,
    pub observers: usize,
    pub pending_syncs: usize,
}
