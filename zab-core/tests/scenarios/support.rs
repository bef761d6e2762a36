//! What every scenario shares: running a script once per seed on a quiet
//! ensemble, and the small waits and checks the scripts are written with.

use std::ops::Range;

use zab_core::peer::{Action, Event};
use zab_core::sim::{reported, Sim, SimOptions, STEPS_PER_TICK};
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
    for seed in SEEDS {
        let mut opts = SimOptions::new(voters, 0);
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
