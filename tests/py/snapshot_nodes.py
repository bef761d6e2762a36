"""Nodes for the Apache snapshot golden test (tests/tests/apache_snapshot.rs), run by kazoo.

Creates /g with data, children with other ACLs, an ephemeral of a session kept open and a
sequential node, then enough further creates that a server with a small snapCount takes a
snapshot while the ephemeral's session is open. Waits (bounded) for a snapshot file in
--snap-dir named with a zxid at or after the ephemeral's, closes the session, and prints
one JSON line: {"ephemeral_owner": id, "ephemeral_czxid": z, "last_zxid": z2}.
"""

import argparse
import json
import os
import sys
import time

from kazoo.client import KazooClient
from kazoo.security import make_digest_acl, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE


def snapshots(d):
    out = []
    for f in os.listdir(d):
        if f.startswith("snapshot."):
            try:
                out.append(int(f.split(".", 1)[1], 16))
            except ValueError:
                pass
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", required=True)
    p.add_argument("--snap-dir", required=True)
    a = p.parse_args()
    zk = KazooClient(hosts=a.hosts, timeout=10.0)
    zk.start(timeout=30)
    zk.create("/g", b"golden data")
    zk.create("/g/empty", b"")
    zk.create("/g/ro", b"read only", acl=READ_ACL_UNSAFE)
    zk.create("/g/digest", b"\x00\x01\x02", acl=[make_digest_acl("u", "p", all=True)] + list(OPEN_ACL_UNSAFE))
    zk.create("/g/deep/er/est", b"x" * 300, makepath=True)
    zk.create("/g/seq-", b"s", sequence=True)
    zk.set("/g", b"golden data v2")
    zk.create("/g/eph", b"mine", ephemeral=True)
    eph = zk.exists("/g/eph")
    last = 0
    for i in range(6):
        zk.create("/g/n%d" % i, str(i).encode())
        last = zk.exists("/g/n%d" % i).czxid
    deadline = time.time() + 30
    while max(snapshots(a.snap_dir) or [0]) < eph.czxid:
        if time.time() > deadline:
            sys.exit("no snapshot at or after the ephemeral's zxid")
        zk.create("/g/more-", b"", sequence=True)
        time.sleep(0.05)
    sys.stdout.write(json.dumps({
        "ephemeral_owner": eph.ephemeralOwner,
        "ephemeral_czxid": eph.czxid,
        "last_zxid": last,
    }) + "\n")
    zk.stop()
    zk.close()


if __name__ == "__main__":
    main()
