#!/usr/bin/env bash
# Footprint and restart of zk-server next to Apache ZooKeeper 3.8, same tree, same machine,
# same run: 1M znodes (100-byte values, 17-byte paths) in a snapshot plus 100k logged
# setData transactions. See benches/src/bin/footprint.rs for what is measured and how, and
# docs/performance.md for the figures.
#
#   benches/footprint.sh [--znodes N] [--txns M] [--java-heap 2g]
#
# Needs the Debian packages zookeeper (for /usr/share/java/zookeeper.jar) and a JDK (jcmd).
# Uses about 1 GB of temporary disk under $TMPDIR and 2-3 GB of memory.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -p zk-benches --bin footprint -p zk-server --bin zk-server
exec "$target/release/footprint" --apache --server "$target/release/zk-server" "$@"
