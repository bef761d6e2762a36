//! CI does not time benchmarks; it checks that `floor` (`benches/floor/floor.c`: the
//! kernel's least CPU per request for a server over loopback TCP) still builds with gcc
//! against Debian's liburing-dev and that both of its server loops answer every request,
//! one at a time and in batches, wherever the two threads are placed.

use std::path::Path;
use std::process::Command;

/// The figures of floor's one line: round trip, server and client CPU per request.
fn run(bin: &Path, args: &[&str]) -> (String, [f64; 3]) {
    let out = Command::new(bin).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "floor {args:?} failed ({}): {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let figure = |after: &str| -> f64 {
        let rest = &stdout[stdout
            .find(after)
            .unwrap_or_else(|| panic!("{after}: {stdout}"))
            + after.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    let figures = [
        figure("round trip "),
        figure("server CPU "),
        figure("client CPU "),
    ];
    (stdout, figures)
}

#[test]
fn floor_builds_and_both_loops_answer_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let bin = zk_benches::smoke::build_c("floor/floor.c", dir.path(), &["uring", "pthread"]);
    // `apart` pins the two threads to two CPUs: only where there are two.
    let two = std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
    let placements: &[&str] = if two {
        &["free", "same", "apart"]
    } else {
        &["free", "same"]
    };
    for (mode, cpus) in ["epoll", "uring"]
        .into_iter()
        .flat_map(|m| placements.iter().map(move |c| (m, *c)))
    {
        for batch in ["1", "4"] {
            let (line, [round_trip, server, client]) = run(
                &bin,
                &[
                    "--mode",
                    mode,
                    "--cpus",
                    cpus,
                    "--batch",
                    batch,
                    "--requests",
                    "2002",
                ],
            );
            // The requests are rounded down to whole batches; the program fails if the
            // server answered any other number.
            let requests = if batch == "1" { 2002 } else { 2000 };
            assert!(
                line.starts_with(&format!(
                    "mode {mode} cpus {cpus} batch {batch} requests {requests} size 100:"
                )),
                "{line}"
            );
            assert!(round_trip > 0.0 && server > 0.0 && client > 0.0, "{line}");
        }
    }
    // Bad arguments are refused with the usage line.
    let out = Command::new(&bin)
        .args(["--cpus", "some"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: floor"));
}
