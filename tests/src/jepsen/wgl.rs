//! A linearizability checker: Wing & Gong's search with Lowe's memoisation (the "WGL"
//! algorithm, as in Lowe, "Testing for linearizability", 2016, and Porcupine).
//!
//! The history of one object (one register) is a set of operations, each with the time it was
//! invoked and the time it returned. An operation whose outcome is unknown (a timeout, a lost
//! connection) has no return: it may have taken effect at any point after its invocation, or
//! never. The history is linearizable if the operations can be put in one order that respects
//! real time (an operation that returned before another was invoked comes first) and in which
//! the sequential model accepts every operation with its observed result.
//!
//! The search walks the entries (invocations and returns) in time order. At an invocation it
//! tries to linearize that operation next: if the model accepts it, the operation is taken out
//! and the search goes on from the start; if later some operation's return is reached before
//! it was linearized, the last choice is undone. States already explored (which operations are
//! linearized, and the model state) are remembered and never explored twice.

use std::collections::HashSet;
use std::hash::Hash;

/// A sequential specification.
pub trait Model {
    type State: Clone + Eq + Hash;
    type Op;
    fn init(&self) -> Self::State;
    /// The state after `op` if the model allows `op` with its observed result in `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;
}

/// One operation of a history.
#[derive(Clone, Debug)]
pub struct Operation<O> {
    pub op: O,
    /// Invocation time (any monotonic unit).
    pub call: u64,
    /// Return time; `None` when the outcome is unknown.
    pub ret: Option<u64>,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    op: usize,
    is_call: bool,
    /// Index of the matching entry (call <-> return).
    other: usize,
    prev: usize,
    next: usize,
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order exists; the longest prefix of operations that could be linearized.
    NotLinearizable {
        linearized: usize,
    },
    /// The search gave up after `steps` steps (the history is too concurrent to decide).
    Unknown {
        steps: u64,
    },
}

/// Checks one object's history against `model`. `max_steps` bounds the search.
pub fn check<M: Model>(model: &M, ops: &[Operation<M::Op>], max_steps: u64) -> Verdict {
    let n = ops.len();
    if n == 0 {
        return Verdict::Linearizable;
    }
    // Entries sorted by time; a return at the same time as a call comes after it. Unknown
    // outcomes return after everything.
    let end = ops
        .iter()
        .map(|o| o.ret.unwrap_or(o.call).max(o.call))
        .max()
        .unwrap_or(0)
        + 1;
    let mut order: Vec<(u64, u8, usize)> = Vec::with_capacity(2 * n);
    for (i, o) in ops.iter().enumerate() {
        order.push((o.call, 0, i));
        order.push((o.ret.unwrap_or(end).max(o.call), 1, i));
    }
    order.sort();
    // A doubly linked list with a head sentinel at index 2n.
    let head = 2 * n;
    let mut e: Vec<Entry> = Vec::with_capacity(2 * n + 1);
    let mut call_at = vec![0usize; n];
    let mut ret_at = vec![0usize; n];
    for (k, (_, kind, i)) in order.iter().enumerate() {
        if *kind == 0 {
            call_at[*i] = k;
        } else {
            ret_at[*i] = k;
        }
        e.push(Entry {
            op: *i,
            is_call: *kind == 0,
            other: 0,
            prev: if k == 0 { head } else { k - 1 },
            next: k + 1,
        });
    }
    for i in 0..n {
        e[call_at[i]].other = ret_at[i];
        e[ret_at[i]].other = call_at[i];
    }
    let last = 2 * n - 1;
    e[last].next = usize::MAX;
    e.push(Entry {
        op: usize::MAX,
        is_call: false,
        other: 0,
        prev: usize::MAX,
        next: 0,
    });
    let unknown: Vec<bool> = ops.iter().map(|o| o.ret.is_none()).collect();
    let lift = |e: &mut Vec<Entry>, c: usize| {
        let r = e[c].other;
        let (cp, cn) = (e[c].prev, e[c].next);
        e[cp].next = cn;
        if cn != usize::MAX {
            e[cn].prev = cp;
        }
        let (rp, rn) = (e[r].prev, e[r].next);
        e[rp].next = rn;
        if rn != usize::MAX {
            e[rn].prev = rp;
        }
    };
    let unlift = |e: &mut Vec<Entry>, c: usize| {
        let r = e[c].other;
        let (rp, rn) = (e[r].prev, e[r].next);
        e[rp].next = r;
        if rn != usize::MAX {
            e[rn].prev = r;
        }
        let (cp, cn) = (e[c].prev, e[c].next);
        e[cp].next = c;
        if cn != usize::MAX {
            e[cn].prev = c;
        }
    };

    let words = n.div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, M::State)> = HashSet::new();
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut state = model.init();
    let mut best = 0usize;
    let mut steps = 0u64;
    let mut cur = e[head].next;
    loop {
        steps += 1;
        if steps > max_steps {
            return Verdict::Unknown { steps };
        }
        // Done when only operations with unknown outcomes remain.
        let mut all_unknown = true;
        let mut k = e[head].next;
        while k != usize::MAX {
            if !unknown[e[k].op] {
                all_unknown = false;
                break;
            }
            k = e[k].next;
        }
        if all_unknown {
            return Verdict::Linearizable;
        }
        if cur == usize::MAX {
            // Ran past the end without returns to block: only unknown calls were skipped.
            return Verdict::Linearizable;
        }
        let en = e[cur];
        if en.is_call {
            let i = en.op;
            let mut lin = linearized.clone();
            lin[i / 64] |= 1 << (i % 64);
            let advanced = match model.step(&state, &ops[i].op) {
                Some(next) if cache.insert((lin.clone(), next.clone())) => {
                    stack.push((cur, state.clone()));
                    state = next;
                    linearized = lin;
                    lift(&mut e, cur);
                    best = best.max(stack.len());
                    cur = e[head].next;
                    true
                }
                _ => false,
            };
            if !advanced {
                cur = en.next;
            }
        } else {
            // A return whose operation is not linearized yet: undo the last choice.
            let Some((c, s)) = stack.pop() else {
                return Verdict::NotLinearizable { linearized: best };
            };
            let i = e[c].op;
            linearized[i / 64] &= !(1 << (i % 64));
            state = s;
            unlift(&mut e, c);
            cur = e[c].next;
        }
    }
}

/// ZooKeeper's versioned register: a znode's data and version. A read returns both; a write
/// is `setData(expected_version)`, which succeeds only if the version matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterOp {
    Read {
        value: i64,
        version: i32,
    },
    /// A write that succeeded: the version was `expected`, becomes `expected + 1`.
    Write {
        expected: i32,
        value: i64,
    },
    /// A write refused with BadVersion: the version was not `expected`.
    WriteRefused {
        expected: i32,
    },
    /// A write whose outcome is unknown: if linearized it took effect.
    WriteUnknown {
        expected: i32,
        value: i64,
    },
}

pub struct Register {
    pub initial: (i64, i32),
}

impl Model for Register {
    type State = (i64, i32);
    type Op = RegisterOp;
    fn init(&self) -> (i64, i32) {
        self.initial
    }
    fn step(&self, s: &(i64, i32), op: &RegisterOp) -> Option<(i64, i32)> {
        match op {
            RegisterOp::Read { value, version } => (*s == (*value, *version)).then_some(*s),
            RegisterOp::Write { expected, value }
            | RegisterOp::WriteUnknown { expected, value } => {
                (s.1 == *expected).then_some((*value, expected + 1))
            }
            RegisterOp::WriteRefused { expected } => (s.1 != *expected).then_some(*s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(op: RegisterOp, call: u64, ret: Option<u64>) -> Operation<RegisterOp> {
        Operation { op, call, ret }
    }

    fn read(value: i64, version: i32, call: u64, ret: Option<u64>) -> Operation<RegisterOp> {
        op(RegisterOp::Read { value, version }, call, ret)
    }

    fn write(expected: i32, value: i64, call: u64, ret: Option<u64>) -> Operation<RegisterOp> {
        op(RegisterOp::Write { expected, value }, call, ret)
    }

    fn unknown(expected: i32, value: i64, call: u64, ret: Option<u64>) -> Operation<RegisterOp> {
        op(RegisterOp::WriteUnknown { expected, value }, call, ret)
    }

    fn refused(expected: i32, call: u64, ret: Option<u64>) -> Operation<RegisterOp> {
        op(RegisterOp::WriteRefused { expected }, call, ret)
    }

    const M: Register = Register { initial: (0, 0) };

    #[test]
    fn sequential_history_is_linearizable() {
        let h = vec![
            write(0, 5, 0, Some(1)),
            read(5, 1, 2, Some(3)),
            refused(0, 4, Some(5)),
            write(1, 7, 6, Some(7)),
            read(7, 2, 8, Some(9)),
        ];
        assert_eq!(check(&M, &h, 1_000_000), Verdict::Linearizable);
    }

    #[test]
    fn stale_read_after_a_write_returned_is_not_linearizable() {
        let h = vec![write(0, 5, 0, Some(1)), read(0, 0, 2, Some(3))];
        assert!(matches!(
            check(&M, &h, 1_000_000),
            Verdict::NotLinearizable { .. }
        ));
    }

    #[test]
    fn concurrent_operations_may_take_either_order() {
        // The read overlaps the write, so it may see the old or the new value.
        let h = vec![
            write(0, 5, 0, Some(10)),
            read(0, 0, 1, Some(2)),
            read(5, 1, 3, Some(4)),
        ];
        assert_eq!(check(&M, &h, 1_000_000), Verdict::Linearizable);
        // But not new then old, once the second read started after the first returned.
        let h = vec![
            write(0, 5, 0, Some(10)),
            read(5, 1, 1, Some(2)),
            read(0, 0, 3, Some(4)),
        ];
        assert!(matches!(
            check(&M, &h, 1_000_000),
            Verdict::NotLinearizable { .. }
        ));
    }

    #[test]
    fn unknown_writes_may_or_may_not_take_effect() {
        let took = vec![unknown(0, 9, 0, None), read(9, 1, 5, Some(6))];
        assert_eq!(check(&M, &took, 1_000_000), Verdict::Linearizable);
        let not = vec![
            unknown(0, 9, 0, None),
            read(0, 0, 5, Some(6)),
            write(0, 3, 7, Some(8)),
        ];
        assert_eq!(check(&M, &not, 1_000_000), Verdict::Linearizable);
        // A value nobody wrote is never linearizable.
        let bad = vec![unknown(0, 9, 0, None), read(4, 1, 5, Some(6))];
        assert!(matches!(
            check(&M, &bad, 1_000_000),
            Verdict::NotLinearizable { .. }
        ));
    }

    #[test]
    fn lost_acknowledged_write_is_caught() {
        // Two acknowledged writes in sequence, then a read of the first: the second was lost.
        let h = vec![
            write(0, 1, 0, Some(1)),
            write(1, 2, 2, Some(3)),
            read(1, 1, 4, Some(5)),
        ];
        assert!(matches!(
            check(&M, &h, 1_000_000),
            Verdict::NotLinearizable { .. }
        ));
    }

    #[test]
    fn many_concurrent_clients_finish() {
        // 8 clients each write once concurrently (all expect version 0; one wins), then
        // everybody reads the winner.
        let mut h = Vec::new();
        for c in 0..8u64 {
            h.push(if c == 3 {
                write(0, c as i64, c, Some(100 + c))
            } else {
                refused(0, c, Some(100 + c))
            });
        }
        for c in 0..8u64 {
            h.push(read(3, 1, 200 + c, Some(300)));
        }
        assert_eq!(check(&M, &h, 10_000_000), Verdict::Linearizable);
    }
}
