"""kazoo with SASL GSSAPI (Kerberos, through puresasl and pykerberos), one JSON line per
step; run by tests/tests/kerberos.rs against Apache ZooKeeper and against our server in
the same throwaway realm, and the lines compared. The client's ticket is in the
credential cache KRB5CCNAME names (the test runs kinit first).

  sasl_gssapi.py --hosts 127.0.0.1:PORT --principal alice@ZK.TEST --node /k
"""

import argparse
import json
import logging

from kazoo.client import KazooClient
from kazoo.security import ACL, Id

logging.basicConfig(level=logging.CRITICAL)


class Seen(logging.Handler):
    """kazoo's own warnings, kept: "AUTH_FAILED closing" is how it reports a failed exchange."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


SEEN = Seen()
_kazoo_log = logging.getLogger("kazoo")
_kazoo_log.setLevel(logging.WARNING)
_kazoo_log.addHandler(SEEN)
_kazoo_log.propagate = False


def emit(**kw):
    print(json.dumps(kw, sort_keys=True), flush=True)


def outcome(f, *a, **kw):
    try:
        r = f(*a, **kw)
        return {"ok": convert(r)}
    except Exception as e:  # the class is the answer compared
        return {"err": type(e).__name__}


def convert(r):
    if isinstance(r, (list, tuple)):
        return [convert(x) for x in r]
    if isinstance(r, bytes):
        return r.decode("utf-8", "replace")
    if isinstance(r, ACL):
        return "%s:%s:%d" % (r.id.scheme, r.id.id, r.perms)
    if hasattr(r, "czxid"):
        return "stat"
    return r


def client(hosts, principal=None):
    opts = None
    if principal is not None:
        opts = {"mechanism": "GSSAPI", "service": "zookeeper", "principal": principal}
    return KazooClient(hosts=hosts, sasl_options=opts, timeout=10,
                       connection_retry={"max_tries": 0}, command_retry={"max_tries": 0})


def start(name, zk):
    try:
        zk.start(timeout=15)
        emit(step="connect " + name, ok=zk.connected)
        return True
    except Exception as e:
        failed = [m for m in SEEN.messages if "AUTH_FAILED" in m]
        emit(step="connect " + name, err=type(e).__name__, auth_failed=bool(failed))
        return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", required=True)
    p.add_argument("--principal", required=True)
    p.add_argument("--node", default="/k")
    a = p.parse_args()
    node = a.node

    zk = client(a.hosts, a.principal)
    if start(a.principal, zk):
        # The `auth` scheme stands for the session's authenticated ids: the ACL Apache
        # stores shows the sasl id the principal was mapped to.
        emit(step="create with auth ACL",
             **outcome(zk.create, node, b"kdata", acl=[ACL(31, Id("auth", ""))]))
        emit(step="getAcl", **outcome(lambda: zk.get_acls(node)[0]))
        emit(step="get", **outcome(lambda: zk.get(node)[0]))
        zk.stop()
        zk.close()

    anon = client(a.hosts)
    if start("anonymous", anon):
        emit(step="anonymous get", **outcome(lambda: anon.get(node)[0]))
        emit(step="anonymous getAcl", **outcome(lambda: anon.get_acls(node)[0]))
        anon.stop()
        anon.close()


if __name__ == "__main__":
    main()
