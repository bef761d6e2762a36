//! Routing: every [`Event`] to the handler of the current role and phase.
//!
//! Owns [`Peer::step`]: which handler an event reaches while LOOKING, LEADING or
//! LEARNING, which quorum packets a leader and a learner accept, and what follows an
//! election's decision. The handlers are the phases' ([`crate::election`],
//! [`crate::discovery`], [`crate::sync`], [`crate::broadcast`]); nothing here changes
//! state beyond the bookkeeping of the event itself (tick, durable point, epochs, a
//! learner's dropped connection) or decides more than where a packet goes (a learner's
//! forwarded packets, a leader's replies).

use crate::election::{notification_of, Vote};
use crate::peer::{Action, Event, Peer};
use crate::role::{HandlerPhase, LeaderPhase, LearnerPhase, Role};
use crate::wire::{Notification, QuorumPacket, ServerState};
use crate::ServerId;

impl Peer {
    /// Feeds one event; returns the actions to execute, in order.
    pub fn step(&mut self, ev: Event) -> Vec<Action> {
        let mut out = Vec::new();
        self.step_into(ev, &mut out);
        out
    }

    /// Like [`Peer::step`], appending to `out` (reuses its allocation).
    pub fn step_into(&mut self, ev: Event, out: &mut Vec<Action>) {
        std::mem::swap(&mut self.out, out);
        self.dispatch(ev);
        std::mem::swap(&mut self.out, out);
    }

    fn dispatch(&mut self, ev: Event) {
        self.route(ev);
        if self.reelect {
            self.become_looking();
        } else if let Some(to) = self.switch_to.take() {
            self.hand_over_to(to);
        }
        // An election decided while handling the event (a lone voter that needs no
        // finalize wait decides as the round starts): the role it decides begins now,
        // after the handler, which left the old role as its last act. So election code
        // never calls into discovery.
        if let Some(v) = self.decided.take() {
            self.on_elected(v);
        }
    }

    fn route(&mut self, ev: Event) {
        match ev {
            Event::Start => {
                if self
                    .pending_config
                    .as_ref()
                    .is_some_and(|p| p.zxid <= self.log.committed)
                {
                    let p = self.pending_config.take().expect("pending");
                    self.activate(p);
                }
                self.become_looking()
            }
            Event::Tick => {
                self.tick += 1;
                if self.prefer.is_some_and(|(_, until)| self.tick >= until) {
                    self.prefer = None;
                }
                match self.role {
                    Role::Looking if self.yield_until.is_some_and(|t| self.tick >= t) => {
                        // No one took over in time: stand again as any peer.
                        self.yield_until = None;
                        self.become_looking();
                    }
                    Role::Looking => self.run_election(|e, ctx, out| e.on_tick(ctx, out)),
                    Role::Leading(_) => {
                        self.on_leader_tick();
                        self.check_handover();
                    }
                    Role::Learning(_) => self.on_learner_tick(),
                }
            }
            Event::Notification { from, n } => self.on_notification(from, n),
            Event::Received { from, msg } => match self.role {
                Role::Looking => {}
                Role::Leading(_) => self.on_leader_received(from, msg),
                Role::Learning(ref l) => {
                    if l.leader == from {
                        self.on_learner_received(msg);
                    }
                }
            },
            Event::Disconnected { peer } => match &mut self.role {
                Role::Looking => {}
                Role::Leading(l) => {
                    l.handlers.remove(&peer);
                }
                Role::Learning(l) => {
                    if l.leader == peer {
                        self.become_looking();
                    }
                }
            },
            Event::Persisted { upto } => {
                self.log.on_persisted(upto);
                match &self.role {
                    Role::Looking => {}
                    Role::Leading(l) => match l.phase {
                        LeaderPhase::Discovery => {}
                        // Our own NEWLEADER ACK counts once our log is durable.
                        LeaderPhase::Synchronization => self.maybe_establish(),
                        LeaderPhase::Broadcast => self.try_commit(),
                    },
                    Role::Learning(l) => match l.phase {
                        LearnerPhase::AwaitNewLeaderAck => self.try_ack_new_leader(),
                        LearnerPhase::AwaitUpToDate | LearnerPhase::Broadcast => self.send_acks(),
                        _ => {}
                    },
                }
            }
            Event::AcceptedEpochSaved(e) => {
                self.accepted_epoch = self.accepted_epoch.max(e);
                match self.role {
                    Role::Looking => {}
                    Role::Leading(_) => self.on_leader_accepted_epoch_saved(e),
                    Role::Learning(_) => self.on_learner_accepted_epoch_saved(e),
                }
            }
            Event::CurrentEpochSaved(e) => {
                self.current_epoch = self.current_epoch.max(e);
                match self.role {
                    Role::Looking => {}
                    Role::Leading(_) => self.on_leader_current_epoch_saved(e),
                    Role::Learning(_) => self.on_learner_current_epoch_saved(e),
                }
            }
            Event::Propose(data) => self.on_propose(data),
            Event::Forward(msg) => {
                if let Role::Learning(l) = &self.role {
                    self.out.push(Action::Send { to: l.leader, msg });
                }
            }
            Event::Reply { to, msg } => {
                if let Role::Leading(l) = &self.role {
                    if l.handlers.contains_key(&to) {
                        self.out.push(Action::Send { to, msg });
                    }
                }
            }
            Event::SyncRequest { learner } => self.on_sync_request(learner),
            Event::YieldLeadership { yield_ticks } => self.on_yield_leadership(yield_ticks),
            Event::RequestLeadership => self.on_rqld(),
        }
    }

    fn on_notification(&mut self, from: ServerId, n: Notification) {
        if let Role::Looking = self.role {
            // A view newer than ours (a reconfig we missed while down): adopt it and
            // start the election again under it, as Apache's WorkerReceiver does.
            let newer = self.cfg.reconfig_enabled
                && crate::reconfig::parse_config(&n.config)
                    .is_some_and(|(_, v)| v > self.cfg.config_version);
            if newer {
                self.adopt_config(&n.config);
                self.become_looking();
                return;
            }
            self.run_election(|e, ctx, out| e.on_notification(ctx, from, &n, out));
            return;
        }
        // WorkerReceiver while settled: tell a looking peer (or any non-voter) who leads.
        if n.state == ServerState::Looking || !self.cfg.quorum.is_voter(from) {
            let n = notification_of(&self.vote, &self.cfg.config_data);
            self.out.push(Action::SendNotification { to: from, n });
        }
    }

    /// The election decided `v`: lead, follow or observe.
    fn on_elected(&mut self, v: Vote) {
        self.vote = v;
        match v.state {
            ServerState::Leading => self.become_leading(),
            ServerState::Following | ServerState::Observing => self.become_learner(v.leader),
            ServerState::Looking => unreachable!("an election decides a settled state"),
        }
    }

    fn on_leader_received(&mut self, from: ServerId, msg: QuorumPacket) {
        let tick = self.tick;
        let sync_limit = self.cfg.sync_limit_ticks;
        let known = match self.leader_mut().handlers.get_mut(&from) {
            Some(h) => {
                h.last_heard = tick;
                // As Apache's LearnerHandler, whose loop after the NEWLEADER ACK moves
                // `tickOfNextAckDeadline` on with every packet: the ACK itself (which
                // arrives while syncing) leaves the initial deadline in place.
                if h.phase >= HandlerPhase::Synced {
                    h.ack_deadline = tick + sync_limit;
                }
                true
            }
            None => false,
        };
        match msg {
            QuorumPacket::FollowerInfo {
                accepted_epoch,
                zk_rs,
                ..
            } => self.on_follower_info(from, accepted_epoch, false, zk_rs),
            QuorumPacket::ObserverInfo {
                accepted_epoch,
                zk_rs,
                ..
            } => self.on_follower_info(from, accepted_epoch, true, zk_rs),
            QuorumPacket::AckEpoch {
                last_zxid,
                current_epoch,
            } => self.on_ack_epoch(from, last_zxid, current_epoch),
            QuorumPacket::Ack { zxid } if matches!(&self.role, Role::Leading(l) if l.is_new_leader_ack(from, zxid)) => {
                self.on_new_leader_ack(from)
            }
            QuorumPacket::Ack { zxid } => {
                self.on_ack(from, zxid);
                self.check_handover();
            }
            // For the request pipeline, from connected learners only; a PING matters to
            // it only when it carries session touches.
            QuorumPacket::Request { .. } | QuorumPacket::Revalidate { .. } if known => {
                self.out.push(Action::Deliver { from, msg });
            }
            QuorumPacket::Ping { ref data, .. } if known && !data.is_empty() => {
                self.out.push(Action::Deliver { from, msg });
            }
            QuorumPacket::RequestLeadership { .. } if known => self.on_request_leadership(from),
            _ => {}
        }
    }

    fn on_learner_received(&mut self, msg: QuorumPacket) {
        let tick = self.tick;
        self.learner_mut().last_heard = tick;
        match msg {
            QuorumPacket::LeaderInfo { epoch, zk_rs, .. } => self.on_leader_info(epoch, zk_rs),
            QuorumPacket::Diff { zxid } => self.on_diff(zxid),
            QuorumPacket::Trunc { zxid } => self.on_trunc(zxid),
            QuorumPacket::Snap { zxid } => self.on_snap(zxid),
            QuorumPacket::Proposal { zxid, data } => self.on_proposal(zxid, data),
            QuorumPacket::Commit { zxid } => self.on_commit(zxid),
            QuorumPacket::Inform { zxid, data } => self.on_inform(zxid, data),
            QuorumPacket::NewLeader { zxid, config } => self.on_new_leader(zxid, config),
            QuorumPacket::CommitAndActivate { zxid, data } => {
                self.designated = crate::reconfig::split_activate(&data).map(|(d, _)| d);
                self.on_commit(zxid);
                self.designated = None;
            }
            QuorumPacket::InformAndActivate { zxid, data } => {
                if let Some((d, txn)) = crate::reconfig::split_activate(&data) {
                    let txn = bytes::Bytes::copy_from_slice(txn);
                    self.designated = Some(d);
                    self.on_inform(zxid, txn);
                    self.designated = None;
                }
            }
            QuorumPacket::UpToDate { zxid } => self.on_up_to_date(zxid),
            QuorumPacket::HandOver {
                requester,
                outcome,
                ticks,
            } => self.on_hand_over(requester, outcome, ticks),
            QuorumPacket::Ping { zxid, .. } => self.on_ping(zxid),
            QuorumPacket::Sync { .. } | QuorumPacket::Revalidate { .. } => {
                let from = self.learner_mut().leader;
                self.out.push(Action::Deliver { from, msg });
            }
            _ => {}
        }
    }
}
