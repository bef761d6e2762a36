//! Differential tests with kazoo: the same script runs against Apache ZooKeeper 3.8 and against
//! our server; the normalised JSON lines must be equal field by field.

use zk_tests::{diff, run_python, start_pair, Options};

fn differential(script: &str) {
    let (apache, ours) = start_pair(&Options::default());
    let reference = std::thread::scope(|s| {
        let r = s.spawn(|| run_python(script, &apache));
        let o = run_python(script, &ours);
        (r.join().unwrap(), o)
    });
    let (a, o) = reference;
    let a = diff::normalise(&a);
    let o = diff::normalise(&o);
    diff::assert_same(script, &a, &o);
}

#[test]
fn kazoo_node_operations_match_apache() {
    differential("ops.py");
}

#[test]
fn kazoo_watches_match_apache() {
    differential("watches.py");
}
