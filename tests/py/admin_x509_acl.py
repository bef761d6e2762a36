"""Sets the root znode's ACL to ALL for one x509 identity (tests/tests/admin_https.rs).

Authenticates as the test servers' digest super user (super:secret) over the plain
client port, then grants `x509:<DN>` every permission on "/" and nothing to anyone
else; prints the ACL read back.
"""
import argparse
import sys

from kazoo.client import KazooClient
from kazoo.security import ACL, Id, Permissions


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", required=True)
    p.add_argument("--dn", required=True)
    a = p.parse_args()
    zk = KazooClient(hosts=a.hosts, timeout=20, auth_data=[("digest", "super:secret")])
    zk.start(timeout=30)
    zk.set_acls("/", [ACL(Permissions.ALL, Id("x509", a.dn))])
    acls, _ = zk.get_acls("/")
    for acl in acls:
        print("%s:%s %d" % (acl.id.scheme, acl.id.id, acl.perms), flush=True)
    zk.stop()
    zk.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
