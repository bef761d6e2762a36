#!/usr/bin/env bash
# Ours against Apache ZooKeeper 3.8 as Apache's own C client sees them: builds `cload`
# (benches/cload/cload.c, on Debian's libzookeeper-mt-dev) next to zk-compare, then runs
# zk-compare with it on 3-server ensembles of both systems (127.0.0.1, forceSync=yes, one
# disk, one system at a time, taking turns): set and the 90/10 mix with the sessions spread
# over the three servers, get with every session on one follower. Each row reports
# ops/s, p99 and the servers' CPU time per request (utime + stime of the three server
# processes over the measured window, divided by the requests answered).
#
#   benches/cload.sh                  # 2 rounds of 5 s after 2 s of warm-up (~6 min)
#   ROUNDS=3 DURATION=10 benches/cload.sh --systems ours
#   benches/cload.sh --build-only     # what CI's smoke test needs is built by the test itself
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TARGET="${CARGO_TARGET_DIR:-target}"
cargo build --release -p zk-server -p zk-benches
gcc -O2 -Wall -o "$TARGET/release/cload" benches/cload/cload.c -lzookeeper_mt -lpthread
if [ "${1:-}" = "--build-only" ]; then
  exit 0
fi
OUT="$TARGET/cload-compare"
common=(--generator cload --topologies ensemble --rounds "${ROUNDS:-2}"
  --duration "${DURATION:-5}" --warmup "${WARMUP:-2}"
  --sessions "${SESSIONS:-4}" --outstanding "${OUTSTANDING:-32}")
"$TARGET/release/zk-compare" "${common[@]}" --workloads set,mixed --dir "$OUT/spread" "$@"
"$TARGET/release/zk-compare" "${common[@]}" --workloads get --target follower --dir "$OUT/follower" "$@"
