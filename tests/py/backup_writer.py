"""kazoo's side of the backup tests (tests/tests/admin_backup.rs).

write:   creates /backup/n<start..max> (six digits) one after another and prints "ok <i>" once each
         create is acknowledged, until --stop names an existing file (at most --max).
         With --retry a create that lost its connection is sent again until answered
         (NodeExists then means the first one was applied).
check:   prints "child <name>" for every child of /backup (after a sync, so that the
         server has applied what the leader committed before).
rootacl: authenticates as digest --user and sets the root's ACL to that user's ALL.
"""

import argparse
import os
import sys
import time

from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionLoss, NodeExistsError, SessionExpiredError
from kazoo.security import make_digest_acl


def create_retrying(zk, path, data, deadline):
    sent = False
    while True:
        try:
            zk.create(path, data)
            return
        except NodeExistsError:
            if sent:
                return
            raise
        except (ConnectionLoss, SessionExpiredError):
            sent = True
            if time.time() > deadline:
                raise
            time.sleep(0.05)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["write", "check", "rootacl"])
    p.add_argument("--hosts", required=True)
    p.add_argument("--stop")
    p.add_argument("--max", type=int, default=20000)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--user", default="root:pw")
    p.add_argument("--retry", action="store_true")
    a = p.parse_args()
    zk = KazooClient(hosts=a.hosts, timeout=10.0)
    zk.start(timeout=30)
    if a.mode == "write":
        zk.ensure_path("/backup")
        deadline = time.time() + 120
        i = a.start
        while i < a.max and time.time() < deadline:
            if a.stop and os.path.exists(a.stop):
                break
            path = "/backup/n%06d" % i
            if a.retry:
                create_retrying(zk, path, b"v%d" % i, deadline)
            else:
                zk.create(path, b"v%d" % i)
            print("ok %d" % i, flush=True)
            i += 1
    elif a.mode == "check":
        zk.sync("/backup")
        for c in sorted(zk.get_children("/backup")):
            print("child %s" % c)
    elif a.mode == "rootacl":
        user, pw = a.user.split(":", 1)
        zk.add_auth("digest", a.user)
        zk.set_acls("/", [make_digest_acl(user, pw, all=True)])
        print("done", flush=True)
    zk.stop()
    zk.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
