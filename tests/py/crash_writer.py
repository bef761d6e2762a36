"""Crash-recovery client (kazoo), run by tests/tests/crash_recovery.rs.

write:  create /<root>/n<i> (data "<i>") for i = 0, 1, ... with up to --window creates in
        flight, and print one JSON line per acknowledged create: {"ack": i, "czxid": z}.
        Stops after --count acknowledgements, or at the first failure (the server was
        killed), printing {"stopped": reason}. Every line is flushed as it is printed, so
        the caller knows what was acknowledged at any moment.
verify: read back every acknowledged create listed in --acked (a file of the "ack" lines),
        check data and czxid, then create /<root>/after and print
        {"verified": n, "max_czxid": z, "after_czxid": z2}.
"""

import argparse
import json
import os
import sys
from collections import deque

from kazoo.client import KazooClient


def emit(**kw):
    sys.stdout.write(json.dumps(kw, sort_keys=True) + "\n")
    sys.stdout.flush()


def connect(hosts):
    # No retries: after a kill -9 the writer must stop, not wait for a restart.
    zk = KazooClient(hosts=hosts, timeout=10.0, connection_retry=None, command_retry=None)
    zk.start(timeout=30)
    return zk


def write(args):
    zk = connect(args.hosts)
    zk.ensure_path(args.root)
    pending = deque()
    sent = acked = 0
    reason = "count reached"
    while acked < args.count:
        while len(pending) < args.window and sent < args.count:
            path = "%s/n%08d" % (args.root, sent)
            pending.append((sent, zk.create_async(path, str(sent).encode(), include_data=True)))
            sent += 1
        i, result = pending.popleft()
        try:
            _, stat = result.get(timeout=20)
        except Exception as e:  # the server went away: stop at once
            reason = "%s: %s" % (type(e).__name__, e)
            break
        emit(ack=i, czxid=stat.czxid)
        acked += 1
    emit(stopped=reason)
    # kazoo's stop() would wait for a reconnect that never comes.
    os._exit(0)


def verify(args):
    acked = []
    with open(args.acked) as f:
        for line in f:
            line = json.loads(line)
            if "ack" in line:
                acked.append(line)
    zk = connect(args.hosts)
    max_czxid = 0
    for a in acked:
        path = "%s/n%08d" % (args.root, a["ack"])
        data, stat = zk.get(path)
        if data != str(a["ack"]).encode() or stat.czxid != a["czxid"]:
            emit(mismatch=path, data=data.decode(), czxid=stat.czxid, expected=a)
            sys.exit(1)
        max_czxid = max(max_czxid, stat.czxid)
    _, stat = zk.create(args.root + "/after", b"after", include_data=True)
    emit(verified=len(acked), max_czxid=max_czxid, after_czxid=stat.czxid,
         children=len(zk.get_children(args.root)))
    zk.stop()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["write", "verify"])
    p.add_argument("--hosts", required=True)
    p.add_argument("--root", default="/crash")
    p.add_argument("--count", type=int, default=1000000)
    p.add_argument("--window", type=int, default=32)
    p.add_argument("--acked")
    args = p.parse_args()
    write(args) if args.mode == "write" else verify(args)


if __name__ == "__main__":
    main()
