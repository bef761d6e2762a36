//! What every scenario shares: running a script once per seed on a quiet
//! ensemble, and the small waits and checks the scripts are written with.

use std::ops::Range;

use zab_core::peer::{Action, Event};
use zab_core::reconfig::{reconfig_txn, split_activate};
use zab_core::sim::{reported, Record, Sim, SimOptions, STEPS_PER_TICK};
use zab_core::{QuorumPacket, ServerId, ServerState, Zxid};

pub const SEEDS: Range<u64> = 0..32;

/// Runs `script` once per seed on a quiet ensemble of stopped servers: `voters`, then
/// `observers` numbered after them.
pub fn scenario(name: &str, voters: u64, observers: u64, script: impl Fn(&mut Sim)) {
    for seed in SEEDS {
        let mut opts = SimOptions::new(voters, observers);
        opts.propose = 0;
        // Epoch files may be durable before earlier log writes: the core must not care.
        opts.disk_reorder = 300;
        let mut sim = Sim::new(seed, opts);
        sim.replay = format!("cargo test -p zab-core --test scenarios {name} -- --exact");
        reported(&mut sim, &script);
    }
}

/// [`scenario`] with `spares` more servers outside the initial view (numbered after the
/// observers), running as non-voting followers until a reconfig names them.
pub fn scenario_with_spares(name: &str, voters: u64, spares: u64, script: impl Fn(&mut Sim)) {
    scenario_shaped(name, voters, 0, spares, script);
}

/// [`scenario`] with `voters`, then `observers`, then `spares` (see [`scenario_with_spares`]).
pub fn scenario_shaped(
    name: &str,
    voters: u64,
    observers: u64,
    spares: u64,
    script: impl Fn(&mut Sim),
) {
    for seed in SEEDS {
        let mut opts = SimOptions::new(voters, observers);
        opts.propose = 0;
        opts.disk_reorder = 300;
        opts.spares = spares;
        let mut sim = Sim::new(seed, opts);
        sim.replay = format!("cargo test -p zab-core --test scenarios {name} -- --exact");
        reported(&mut sim, &script);
    }
}

// ---- helpers ----

/// Waits until every running server is in broadcast under one leader; returns it.
pub fn settle(sim: &mut Sim) -> u64 {
    if !sim.run_until(200, |s| s.settled()) {
        sim.fail("no stable leader within 200 ticks");
    }
    sim.leader().expect("settled")
}

/// Proposes `n` transactions at the leader and waits until every running server applied
/// them and has them on disk.
pub fn commit(sim: &mut Sim, n: usize) -> Vec<Zxid> {
    let l = sim.leader().expect("an established leader");
    let zs: Vec<Zxid> = (0..n)
        .map(|_| sim.propose_at(l).expect("the leader takes proposals"))
        .collect();
    let alive: Vec<u64> = sim
        .nodes
        .iter()
        .filter(|n| n.alive())
        .map(|n| n.sid.0)
        .collect();
    wait_applied(sim, &alive, *zs.last().expect("n > 0"));
    zs
}

/// Waits until `z` is applied and durable on every server of `sids`, so that what a
/// later crash keeps is known.
pub fn wait_applied(sim: &mut Sim, sids: &[u64], z: Zxid) {
    let sids = sids.to_vec();
    let done = sim.run_until(100, |s| {
        sids.iter().all(|x| {
            let n = s.node(*x);
            n.committed().last().is_some_and(|e| e.0 >= z) && n.is_durable(z)
        })
    });
    if !done {
        sim.fail(&format!(
            "{z} not applied and durable on {sids:?} within 100 ticks"
        ));
    }
}

/// Runs `ticks`, calling `check` after every step; a complaint fails the run.
pub fn run_checking(sim: &mut Sim, ticks: u64, mut check: impl FnMut(&Sim) -> Option<String>) {
    for _ in 0..ticks * STEPS_PER_TICK {
        sim.step();
        if let Some(why) = check(sim) {
            sim.fail(&why);
        }
    }
}

pub fn role(sim: &Sim, sid: u64) -> (ServerState, Option<u64>) {
    let p = sim.peer(sid).expect("running");
    (p.state(), p.leader().map(|l| l.0))
}

pub fn state(sim: &Sim, sid: u64) -> ServerState {
    sim.peer(sid).expect("running").state()
}

pub fn is_ack_of_newleader(a: &Action) -> bool {
    matches!(a, Action::Send { msg: QuorumPacket::Ack { zxid }, .. } if zxid.counter() == 0)
}

pub fn received(
    sid: u64,
    f: impl Fn(&QuorumPacket) -> bool,
) -> impl FnMut(ServerId, &Event) -> bool {
    move |s, ev| s.0 == sid && matches!(ev, Event::Received { msg, .. } if f(msg))
}

pub fn sends(
    sid: u64,
    f: impl Fn(&QuorumPacket) -> bool + 'static,
) -> impl FnMut(ServerId, &Action) -> bool {
    move |s, a| s.0 == sid && matches!(a, Action::Send { msg, .. } if f(msg))
}

pub fn in_history(sim: &Sim, z: Zxid) -> bool {
    sim.history.iter().any(|e| e.0 == z)
}

// ---- reconfig ----

/// The text of a view with `voters` and `observers` as a reconfig proposed at `z` carries
/// it (addresses do not matter to the simulator; the version does: a looking peer adopts
/// a newer view from a notification by it).
pub fn view_text(voters: &[u64], observers: &[u64], z: Zxid) -> String {
    let mut t = String::new();
    for v in voters {
        t.push_str(&format!(
            "server.{v}=127.0.0.1:{}:{}:participant\n",
            10 + v,
            20 + v
        ));
    }
    for v in observers {
        t.push_str(&format!(
            "server.{v}=127.0.0.1:{}:{}:observer\n",
            10 + v,
            20 + v
        ));
    }
    t.push_str(&format!("version={:x}", z.0));
    t
}

/// Proposes the reconfig at the leader; `None` if it was not taken (not leading).
pub fn propose_view(sim: &mut Sim, leader: u64, voters: &[u64], observers: &[u64]) -> Option<Zxid> {
    let p = sim.peer(leader)?;
    let before = p.last_zxid();
    let epoch = p.epoch()?;
    let next = if before.epoch() == epoch {
        before.next()
    } else {
        Zxid::new(epoch, 1)
    };
    sim.feed(
        ServerId(leader),
        Event::Propose(reconfig_txn(&view_text(voters, observers, next))),
    );
    let after = sim.peer(leader)?.last_zxid();
    assert!(
        after <= before || after == next,
        "proposed at {after}, not {next}"
    );
    (after > before).then_some(after)
}

/// The designated leader of the first COMMITANDACTIVATE `from` sent for `z`.
pub fn designated_in(sim: &Sim, from: u64, z: Zxid) -> Option<u64> {
    sim.recorded().iter().find_map(|r| match r {
        Record::Did {
            sid,
            action:
                Action::Send {
                    msg: QuorumPacket::CommitAndActivate { zxid, data },
                    ..
                },
            ..
        } if sid.0 == from && *zxid == z => split_activate(data).map(|(d, _)| d.0),
        _ => None,
    })
}

/// Servers that went through LOOKING in what was recorded.
pub fn went_looking(sim: &Sim) -> Vec<u64> {
    went_looking_in(sim.recorded())
}

/// Servers that went through LOOKING in `records` (a part of what was recorded).
pub fn went_looking_in(records: &[Record]) -> Vec<u64> {
    let mut v: Vec<u64> = records
        .iter()
        .filter_map(|r| match r {
            Record::Did {
                sid,
                action: Action::StateChanged(st),
                ..
            } if st.state == ServerState::Looking => Some(sid.0),
            _ => None,
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Waits until every running server runs the view of version `z` with `voters`, is in
/// broadcast under one leader that is one of them, and a new proposal commits everywhere.
pub fn ends_in_view(sim: &mut Sim, z: Zxid, voters: &[u64], within: u64) -> u64 {
    let want: Vec<ServerId> = voters.iter().copied().map(ServerId).collect();
    let ok = sim.run_until(within, |s| {
        s.settled()
            && s.nodes.iter().filter(|n| n.alive()).all(|n| {
                let p = n.peer.as_ref().expect("alive");
                p.config_version() == z.0 && p.voting_members() == want
            })
    });
    if !ok {
        let views: Vec<String> = sim
            .nodes
            .iter()
            .filter_map(|n| n.peer.as_ref())
            .map(|p| {
                format!(
                    "{}: {:?} of {:?}, view {:x} {:?}",
                    p.id(),
                    p.state(),
                    p.leader(),
                    p.config_version(),
                    p.voting_members()
                )
            })
            .collect();
        sim.fail(&format!(
            "not settled in view {z} of {voters:?} within {within} ticks: {views:?}"
        ));
    }
    let l = sim.leader().expect("settled");
    if !voters.contains(&l) {
        sim.fail(&format!("{l} leads without a vote"));
    }
    commit(sim, 2);
    l
}

/// Waits until every running server runs the view of version `z`.
pub fn wait_view(sim: &mut Sim, z: Zxid, voters: &[u64]) {
    let want: Vec<ServerId> = voters.iter().copied().map(ServerId).collect();
    let ok = sim.run_until(200, |s| {
        s.nodes.iter().filter(|n| n.alive()).all(|n| {
            let p = n.peer.as_ref().expect("alive");
            p.config_version() == z.0 && p.voting_members() == want
        })
    });
    if !ok {
        let views: Vec<String> = sim
            .nodes
            .iter()
            .filter_map(|n| n.peer.as_ref())
            .map(|p| {
                format!(
                    "{}: {:x} {:?}",
                    p.id(),
                    p.config_version(),
                    p.voting_members()
                )
            })
            .collect();
        sim.fail(&format!(
            "not every server runs view {z} of {voters:?}: {views:?}"
        ));
    }
}
